//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes only pods
//! that tolerate the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use k8s_openapi::api::core::v1::Taint;

use super::taint_toleration::tolerates;
use crate::framework::{CycleState, FilterPlugin, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NAME: &str = "NodeUnschedulable";
/// `ErrReasonUnschedulable`.
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// The taint a cordoned node carries (`v1.TaintNodeUnschedulable`).
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

pub struct NodeUnschedulable;

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if !node.unschedulable {
            return Status::success();
        }
        let taint = Taint {
            key: TAINT_NODE_UNSCHEDULABLE.into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        if pod.tolerations.iter().any(|t| tolerates(t, &taint)) {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON_UNSCHEDULABLE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::node_info::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::Toleration;

    #[test]
    fn filter() {
        let toleration = Toleration {
            key: Some(TAINT_NODE_UNSCHEDULABLE.into()),
            operator: Some("Exists".into()),
            effect: Some("NoSchedule".into()),
            ..Default::default()
        };
        let cases = [
            ("schedulable node", false, None, Code::Success),
            (
                "cordoned node",
                true,
                None,
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "cordoned node, tolerated",
                true,
                Some(toleration.clone()),
                Code::Success,
            ),
            (
                "schedulable node, tolerated",
                false,
                Some(toleration),
                Code::Success,
            ),
        ];
        for (name, cordoned, toleration, want) in cases {
            let mut n = node("n", &[], &[]);
            n.spec.get_or_insert_default().unschedulable = Some(cordoned);
            let mut p = pod("p", &[&[]]);
            p.spec.get_or_insert_default().tolerations = toleration.map(|t| vec![t]);
            let got = NodeUnschedulable.filter(
                &CycleState::default(),
                &PodInfo::new(p),
                &node_info(n, vec![]),
            );
            assert_eq!(got.code, want, "{name}");
            if want != Code::Success {
                assert_eq!(got.message(), ERR_REASON_UNSCHEDULABLE);
            }
        }
    }
}
