//! NodeName: a pod that names its node (`spec.nodeName`) fits only there.

use crate::framework::{CycleState, FilterPlugin, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NAME: &str = "NodeName";
/// `ErrReason`.
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

pub struct NodeName;

impl FilterPlugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if pod.node_name.is_empty() || pod.node_name == node.name {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::node_info::testing::{node, node_info, pod};

    #[test]
    fn filter() {
        for (name, wanted, want) in [
            ("no node name", "", Code::Success),
            ("same name", "foo", Code::Success),
            ("other name", "bar", Code::UnschedulableAndUnresolvable),
        ] {
            let mut p = pod("p", &[&[]]);
            p.spec.get_or_insert_default().node_name = Some(wanted.into());
            let got = NodeName.filter(
                &CycleState::default(),
                &PodInfo::new(p),
                &node_info(node("foo", &[], &[]), vec![]),
            );
            assert_eq!(got.code, want, "{name}");
        }
    }
}
