//! NodePorts: a pod's host ports must be free on the node.

use crate::framework::{CycleState, FilterPlugin, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NAME: &str = "NodePorts";
/// `ErrReason`.
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

pub struct NodePorts;

impl FilterPlugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(
        &self,
        _state: &mut CycleState,
        pod: &PodInfo,
        _s: &crate::cache::Snapshot,
    ) -> Status {
        if pod.host_ports.is_empty() {
            Status::skip()
        } else {
            Status::success()
        }
    }

    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let conflict = pod
            .host_ports
            .iter()
            .any(|want| node.used_ports.iter().any(|used| used.conflicts(want)));
        if conflict {
            Status::unschedulable(ERR_REASON)
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
    use k8s_openapi::api::core::v1::{ContainerPort, Pod};

    fn with_ports(name: &str, ports: &[(&str, &str, i32)]) -> Pod {
        let mut p = pod(name, &[&[]]);
        p.spec.get_or_insert_default().containers[0].ports = Some(
            ports
                .iter()
                .map(|(proto, ip, port)| ContainerPort {
                    container_port: 8080,
                    host_port: Some(*port),
                    host_ip: Some(ip.to_string()),
                    protocol: Some(proto.to_string()),
                    ..Default::default()
                })
                .collect(),
        );
        p
    }

    #[test]
    fn filter() {
        type Ports = &'static [(&'static str, &'static str, i32)];
        let cases: &[(&str, Ports, Ports, Code)] = &[
            ("nothing running", &[("TCP", "", 8080)], &[], Code::Success),
            (
                "other port",
                &[("UDP", "127.0.0.1", 8080)],
                &[("UDP", "127.0.0.1", 9090)],
                Code::Success,
            ),
            (
                "same port",
                &[("UDP", "127.0.0.1", 8080)],
                &[("UDP", "127.0.0.1", 8080)],
                Code::Unschedulable,
            ),
            (
                "other ip",
                &[("TCP", "127.0.0.2", 8080)],
                &[("TCP", "127.0.0.1", 8080)],
                Code::Success,
            ),
            (
                "other protocol",
                &[("TCP", "127.0.0.1", 8080)],
                &[("UDP", "127.0.0.1", 8080)],
                Code::Success,
            ),
            (
                "wildcard ip in use",
                &[("TCP", "127.0.0.1", 8001)],
                &[("TCP", "0.0.0.0", 8001)],
                Code::Unschedulable,
            ),
            (
                "wildcard ip wanted",
                &[("TCP", "0.0.0.0", 8001)],
                &[("TCP", "127.0.0.1", 8001)],
                Code::Unschedulable,
            ),
        ];
        for (name, wanted, used, want) in cases {
            let p = PodInfo::new(with_ports("p", wanted));
            let n = node_info(node("n", &[], &[]), vec![with_ports("existing", used)]);
            let mut state = CycleState::default();
            NodePorts.pre_filter(&mut state, &p, &crate::cache::Snapshot::default());
            let got = NodePorts.filter(&state, &p, &n);
            assert_eq!(got.code, *want, "{name}");
            if *want != Code::Success {
                assert_eq!(got.message(), ERR_REASON);
            }
        }
    }
}
