//! VolumeRestrictions: volumes that only one pod per node may mount (GCE PD
//! and RBD unless all read-only, AWS EBS, iSCSI unless all read-only) keep a
//! second user off the node. The ReadWriteOncePod access mode needs
//! PersistentVolumeClaims, which skiff does not serve yet.

use crate::cache::Snapshot;
use crate::framework::{CycleState, FilterPlugin, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NAME: &str = "VolumeRestrictions";
/// `ErrReasonDiskConflict`.
pub const ERR_REASON_DISK_CONFLICT: &str = "node(s) had no available disk";

pub struct VolumeRestrictions;

impl FilterPlugin for VolumeRestrictions {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, _state: &mut CycleState, pod: &PodInfo, _s: &Snapshot) -> Status {
        if pod.disk_volumes.is_empty() {
            Status::skip()
        } else {
            Status::success()
        }
    }

    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let conflict = pod.disk_volumes.iter().any(|v| {
            node.pods
                .iter()
                .any(|existing| existing.disk_volumes.iter().any(|e| e.conflicts(v)))
        });
        if conflict {
            Status::unschedulable(ERR_REASON_DISK_CONFLICT)
        } else {
            Status::success()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::node_info::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::{
        AWSElasticBlockStoreVolumeSource, GCEPersistentDiskVolumeSource, Pod, Volume,
    };

    fn gce(name: &str, pd: &str, read_only: bool) -> Pod {
        let mut p = pod(name, &[&[]]);
        p.spec.get_or_insert_default().volumes = Some(vec![Volume {
            name: "v".into(),
            gce_persistent_disk: Some(GCEPersistentDiskVolumeSource {
                pd_name: pd.into(),
                read_only: Some(read_only),
                ..Default::default()
            }),
            ..Default::default()
        }]);
        p
    }

    fn ebs(name: &str, id: &str) -> Pod {
        let mut p = pod(name, &[&[]]);
        p.spec.get_or_insert_default().volumes = Some(vec![Volume {
            name: "v".into(),
            aws_elastic_block_store: Some(AWSElasticBlockStoreVolumeSource {
                volume_id: id.into(),
                ..Default::default()
            }),
            ..Default::default()
        }]);
        p
    }

    #[test]
    fn filter() {
        let cases = vec![
            ("nothing", pod("p", &[&[]]), vec![], Code::Success),
            (
                "one gce state",
                gce("p", "foo", false),
                vec![gce("e", "foo", false)],
                Code::Unschedulable,
            ),
            (
                "different gce",
                gce("p", "foo", false),
                vec![gce("e", "bar", false)],
                Code::Success,
            ),
            (
                "both read-only gce",
                gce("p", "foo", true),
                vec![gce("e", "foo", true)],
                Code::Success,
            ),
            (
                "same ebs",
                ebs("p", "foo"),
                vec![ebs("e", "foo")],
                Code::Unschedulable,
            ),
            (
                "different ebs",
                ebs("p", "foo"),
                vec![ebs("e", "bar")],
                Code::Success,
            ),
        ];
        for (name, p, existing, want) in cases {
            let p = PodInfo::new(p);
            let n = node_info(node("n", &[], &[]), existing);
            let mut state = CycleState::default();
            let pre = VolumeRestrictions.pre_filter(&mut state, &p, &Snapshot::default());
            let got = if pre.code == Code::Skip {
                Status::success()
            } else {
                VolumeRestrictions.filter(&state, &p, &n)
            };
            assert_eq!(got.code, want, "{name}");
        }
    }
}
