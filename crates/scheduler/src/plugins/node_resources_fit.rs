//! NodeResourcesFit: the pod's requests (CPU, memory, ephemeral storage,
//! extended resources, and one pod slot) must fit in what the node has left
//! (Filter); nodes are scored by how much would stay free (LeastAllocated, the
//! default) or how full they would be (MostAllocated, bin packing).
//!
//! Scoring counts CPU and memory with the non-zero defaults (100m, 200Mi) for
//! containers without requests, as upstream, so empty pods still spread.

use serde::Deserialize;

use crate::cache::Snapshot;
use crate::framework::{CycleState, FilterPlugin, MAX_NODE_SCORE, ScorePlugin, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::resource::{CPU, EPHEMERAL_STORAGE, MEMORY};

pub const NAME: &str = "NodeResourcesFit";
/// `ErrReasonTooManyPods`... the reason string upstream reports.
pub const TOO_MANY_PODS: &str = "Too many pods";

/// A resource and its weight in scoring (`ResourceSpec`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpec {
    pub name: String,
    #[serde(default = "one")]
    pub weight: i64,
}

fn one() -> i64 {
    1
}

/// The default scored resources: cpu and memory, weight 1 each.
pub fn default_resources() -> Vec<ResourceSpec> {
    vec![
        ResourceSpec {
            name: CPU.into(),
            weight: 1,
        },
        ResourceSpec {
            name: MEMORY.into(),
            weight: 1,
        },
    ]
}

/// `ScoringStrategyType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum ScoringStrategyType {
    #[default]
    LeastAllocated,
    MostAllocated,
}

/// `NodeResourcesFitArgs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitArgs {
    pub ignored_resources: Vec<String>,
    pub ignored_resource_groups: Vec<String>,
    pub strategy: ScoringStrategyType,
    pub resources: Vec<ResourceSpec>,
}

impl Default for FitArgs {
    fn default() -> FitArgs {
        FitArgs {
            ignored_resources: Vec::new(),
            ignored_resource_groups: Vec::new(),
            strategy: ScoringStrategyType::LeastAllocated,
            resources: default_resources(),
        }
    }
}

pub struct NodeResourcesFit {
    pub args: FitArgs,
}

impl NodeResourcesFit {
    fn ignored(&self, name: &str) -> bool {
        self.args.ignored_resources.iter().any(|r| r == name)
            || name.split_once('/').is_some_and(|(group, _)| {
                self.args.ignored_resource_groups.iter().any(|g| g == group)
            })
    }
}

/// One resource that does not fit (`InsufficientResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insufficient {
    pub reason: String,
    /// The pod alone asks for more than the node's allocatable: no eviction
    /// can make room.
    pub unresolvable: bool,
}

/// `fitsRequest`: every resource that does not fit.
pub fn insufficient_resources(
    pod: &PodInfo,
    node: &NodeInfo,
    ignored: impl Fn(&str) -> bool,
) -> Vec<Insufficient> {
    let mut out = Vec::new();
    if node.pods.len() as i64 + 1 > node.allocatable.allowed_pod_number {
        out.push(Insufficient {
            reason: TOO_MANY_PODS.into(),
            unresolvable: false,
        });
    }
    let req = &pod.resources.requests;
    if req.is_zero() {
        return out;
    }
    let alloc = &node.allocatable;
    let used = &node.requested;
    let mut check = |name: &str, want: i64, used: i64, alloc: i64| {
        if want > 0 && alloc < want + used {
            out.push(Insufficient {
                reason: format!("Insufficient {name}"),
                unresolvable: want > alloc,
            });
        }
    };
    check(CPU, req.milli_cpu, used.milli_cpu, alloc.milli_cpu);
    check(MEMORY, req.memory, used.memory, alloc.memory);
    check(
        EPHEMERAL_STORAGE,
        req.ephemeral_storage,
        used.ephemeral_storage,
        alloc.ephemeral_storage,
    );
    for (name, want) in &req.scalar {
        if ignored(name) {
            continue;
        }
        check(
            name,
            *want,
            used.scalar_value(name),
            alloc.scalar_value(name),
        );
    }
    out
}

impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let insufficient = insufficient_resources(pod, node, |n| self.ignored(n));
        if insufficient.is_empty() {
            return Status::success();
        }
        let unresolvable = insufficient.iter().any(|i| i.unresolvable);
        Status {
            code: if unresolvable {
                crate::framework::Code::UnschedulableAndUnresolvable
            } else {
                crate::framework::Code::Unschedulable
            },
            reasons: insufficient.into_iter().map(|i| i.reason.into()).collect(),
            plugin: "",
        }
    }
}

/// Allocatable and requested-with-the-pod for one scored resource
/// (`calculateResourceAllocatableRequest`). `use_requested` counts the real
/// requests (BalancedAllocation) instead of the non-zero ones.
pub fn allocatable_and_requested(
    pod: &PodInfo,
    node: &NodeInfo,
    resource: &str,
    use_requested: bool,
) -> (i64, i64) {
    let req = &pod.resources.requests;
    match resource {
        CPU => {
            let (node_req, pod_req) = if use_requested {
                (node.requested.milli_cpu, req.milli_cpu)
            } else {
                (
                    node.non_zero_requested.milli_cpu,
                    pod.resources.non_zero_milli_cpu,
                )
            };
            (node.allocatable.milli_cpu, node_req + pod_req)
        }
        MEMORY => {
            let (node_req, pod_req) = if use_requested {
                (node.requested.memory, req.memory)
            } else {
                (
                    node.non_zero_requested.memory,
                    pod.resources.non_zero_memory,
                )
            };
            (node.allocatable.memory, node_req + pod_req)
        }
        EPHEMERAL_STORAGE => (
            node.allocatable.ephemeral_storage,
            node.requested.ephemeral_storage + req.ephemeral_storage,
        ),
        name => {
            let pod_req = req.scalar_value(name);
            // Extended resources the pod does not ask for are not scored.
            if pod_req == 0 {
                return (0, 0);
            }
            (
                node.allocatable.scalar_value(name),
                node.requested.scalar_value(name) + pod_req,
            )
        }
    }
}

fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

fn most_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    // Pods with no requests count the defaults and may exceed capacity.
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

/// The weighted resource score of one node for a strategy.
pub fn strategy_score(
    strategy: ScoringStrategyType,
    resources: &[ResourceSpec],
    pod: &PodInfo,
    node: &NodeInfo,
) -> i64 {
    let mut score = 0;
    let mut weights = 0;
    for r in resources {
        let (alloc, req) = allocatable_and_requested(pod, node, &r.name, false);
        if alloc == 0 {
            continue;
        }
        let s = match strategy {
            ScoringStrategyType::LeastAllocated => least_requested_score(req, alloc),
            ScoringStrategyType::MostAllocated => most_requested_score(req, alloc),
        };
        score += s * r.weight;
        weights += r.weight;
    }
    if weights == 0 { 0 } else { score / weights }
}

impl ScorePlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_score(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _s: &Snapshot,
    ) -> Status {
        Status::success()
    }

    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        strategy_score(self.args.strategy, &self.args.resources, pod, node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::node_info::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::{Container, Pod, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    type Reqs = &'static [(&'static str, &'static str)];

    fn plugin() -> NodeResourcesFit {
        NodeResourcesFit {
            args: FitArgs::default(),
        }
    }

    fn with_init(p: &mut Pod, reqs: Reqs) {
        p.spec.get_or_insert_default().init_containers = Some(vec![Container {
            name: "init".into(),
            resources: Some(ResourceRequirements {
                requests: Some(
                    reqs.iter()
                        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }]);
    }

    #[test]
    fn filter() {
        let alloc: Reqs = &[
            ("cpu", "10m"),
            ("memory", "20"),
            ("pods", "32"),
            ("example.com/foo", "5"),
        ];
        struct Case {
            name: &'static str,
            pod: Reqs,
            init: Option<Reqs>,
            existing: Reqs,
            want: Code,
            reasons: &'static [&'static str],
        }
        let cases = [
            Case {
                name: "no requests fit",
                pod: &[],
                init: None,
                existing: &[("cpu", "10m"), ("memory", "20")],
                want: Code::Success,
                reasons: &[],
            },
            Case {
                name: "fits",
                pod: &[("cpu", "1m"), ("memory", "1")],
                init: None,
                existing: &[("cpu", "5m"), ("memory", "5")],
                want: Code::Success,
                reasons: &[],
            },
            Case {
                name: "too much cpu",
                pod: &[("cpu", "1m"), ("memory", "1")],
                init: None,
                existing: &[("cpu", "10m"), ("memory", "20")],
                want: Code::Unschedulable,
                reasons: &["Insufficient cpu", "Insufficient memory"],
            },
            Case {
                name: "init container too big",
                pod: &[("cpu", "1m"), ("memory", "1")],
                init: Some(&[("cpu", "3m"), ("memory", "1")]),
                existing: &[("cpu", "8m"), ("memory", "19")],
                want: Code::Unschedulable,
                reasons: &["Insufficient cpu"],
            },
            Case {
                name: "init container fits",
                pod: &[("cpu", "1m"), ("memory", "1")],
                init: Some(&[("cpu", "1m"), ("memory", "1")]),
                existing: &[("cpu", "9m"), ("memory", "19")],
                want: Code::Success,
                reasons: &[],
            },
            Case {
                name: "more than the node has at all",
                pod: &[("cpu", "11m")],
                init: None,
                existing: &[],
                want: Code::UnschedulableAndUnresolvable,
                reasons: &["Insufficient cpu"],
            },
            Case {
                name: "extended resource fits",
                pod: &[("example.com/foo", "2")],
                init: None,
                existing: &[("example.com/foo", "3")],
                want: Code::Success,
                reasons: &[],
            },
            Case {
                name: "extended resource insufficient",
                pod: &[("example.com/foo", "3")],
                init: None,
                existing: &[("example.com/foo", "3")],
                want: Code::Unschedulable,
                reasons: &["Insufficient example.com/foo"],
            },
            Case {
                name: "extended resource missing on node",
                pod: &[("example.com/bar", "1")],
                init: None,
                existing: &[],
                want: Code::UnschedulableAndUnresolvable,
                reasons: &["Insufficient example.com/bar"],
            },
        ];
        for c in cases {
            let mut p = pod("p", &[c.pod]);
            if let Some(init) = c.init {
                with_init(&mut p, init);
            }
            let n = node_info(node("n", alloc, &[]), vec![pod("existing", &[c.existing])]);
            let got = plugin().filter(&CycleState::default(), &PodInfo::new(p), &n);
            assert_eq!(got.code, c.want, "{}", c.name);
            let reasons: Vec<&str> = got.reasons.iter().map(|r| r.as_ref()).collect();
            assert_eq!(reasons, c.reasons, "{}", c.name);
        }
    }

    #[test]
    fn too_many_pods() {
        let n = node_info(
            node("n", &[("cpu", "10"), ("pods", "1")], &[]),
            vec![pod("e", &[&[]])],
        );
        let got = plugin().filter(&CycleState::default(), &PodInfo::new(pod("p", &[&[]])), &n);
        assert_eq!(got.code, Code::Unschedulable);
        assert_eq!(got.message(), TOO_MANY_PODS);
    }

    #[test]
    fn ignored_extended_resources() {
        let p = NodeResourcesFit {
            args: FitArgs {
                ignored_resources: vec!["example.com/bar".into()],
                ignored_resource_groups: vec!["example.org".into()],
                ..FitArgs::default()
            },
        };
        let n = node_info(node("n", &[("pods", "10")], &[]), vec![]);
        let pi = PodInfo::new(pod(
            "p",
            &[&[("example.com/bar", "1"), ("example.org/baz", "1")]],
        ));
        assert!(p.filter(&CycleState::default(), &pi, &n).is_success());
    }

    #[test]
    fn least_and_most_allocated_scores() {
        // upstream's example: node 4000m/10000 memory; pod 3000m/5000 on an
        // empty node: least = ((4000-3000)*100/4000 + (10000-5000)*100/10000)/2
        let n1 = node_info(
            node(
                "n1",
                &[("cpu", "4"), ("memory", "10000"), ("pods", "10")],
                &[],
            ),
            vec![],
        );
        let n2 = node_info(
            node(
                "n2",
                &[("cpu", "6"), ("memory", "10000"), ("pods", "10")],
                &[],
            ),
            vec![],
        );
        let p = PodInfo::new(pod(
            "p",
            &[
                &[("cpu", "1"), ("memory", "2000")],
                &[("cpu", "2"), ("memory", "3000")],
            ],
        ));
        let least = plugin();
        assert_eq!(least.score(&CycleState::default(), &p, &n1), (25 + 50) / 2);
        assert_eq!(least.score(&CycleState::default(), &p, &n2), (50 + 50) / 2);
        let most = NodeResourcesFit {
            args: FitArgs {
                strategy: ScoringStrategyType::MostAllocated,
                ..FitArgs::default()
            },
        };
        assert_eq!(most.score(&CycleState::default(), &p, &n1), (75 + 50) / 2);
        assert_eq!(most.score(&CycleState::default(), &p, &n2), (50 + 50) / 2);
        // A pod without requests is scored with 100m / 200Mi.
        let empty = PodInfo::new(pod("e", &[&[]]));
        let n3 = node_info(
            node(
                "n3",
                &[("cpu", "1"), ("memory", "400Mi"), ("pods", "10")],
                &[],
            ),
            vec![],
        );
        assert_eq!(
            least.score(&CycleState::default(), &empty, &n3),
            (90 + 50) / 2
        );
    }
}
