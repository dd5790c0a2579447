//! NodeResourcesBalancedAllocation: prefers nodes whose CPU and memory would
//! be used in equal fractions after placing the pod (score = (1 - standard
//! deviation of the fractions) × 100). Best-effort pods are not scored.

use super::node_resources_fit::{ResourceSpec, allocatable_and_requested, default_resources};
use crate::cache::Snapshot;
use crate::framework::{CycleState, MAX_NODE_SCORE, ScorePlugin, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NAME: &str = "NodeResourcesBalancedAllocation";

pub struct BalancedAllocation {
    pub resources: Vec<ResourceSpec>,
}

impl Default for BalancedAllocation {
    fn default() -> Self {
        BalancedAllocation {
            resources: default_resources(),
        }
    }
}

/// `balancedResourceScorer`.
pub fn balanced_score(fractions: &[f64]) -> i64 {
    let std = match fractions.len() {
        0 | 1 => 0.0,
        2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
        n => {
            let mean = fractions.iter().sum::<f64>() / n as f64;
            let var = fractions
                .iter()
                .map(|f| (f - mean) * (f - mean))
                .sum::<f64>()
                / n as f64;
            var.sqrt()
        }
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

impl ScorePlugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_score(
        &self,
        _state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _s: &Snapshot,
    ) -> Status {
        // A best-effort pod changes no balance.
        let r = &pod.resources.requests;
        if self.resources.iter().all(|spec| r.get(&spec.name) == 0) {
            Status::skip()
        } else {
            Status::success()
        }
    }

    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let mut fractions = Vec::with_capacity(self.resources.len());
        for r in &self.resources {
            let (alloc, req) = allocatable_and_requested(pod, node, &r.name, true);
            if alloc == 0 {
                continue;
            }
            fractions.push((req as f64 / alloc as f64).min(1.0));
        }
        balanced_score(&fractions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::{node, node_info, pod};

    #[test]
    fn scores() {
        struct Case {
            name: &'static str,
            pod: &'static [(&'static str, &'static str)],
            existing: &'static [(&'static str, &'static str)],
            want: i64,
        }
        // Node: 10000m CPU, 20000 memory.
        let cases = [
            // 3000/10000 cpu = 0.3, 5000/20000 mem = 0.25 → 1 - 0.025 = 0.975
            Case {
                name: "fractions close",
                pod: &[("cpu", "3"), ("memory", "5000")],
                existing: &[],
                want: 97,
            },
            // 6000/10000 = 0.6 and 5000/20000 = 0.25 → 1 - 0.175
            Case {
                name: "fractions apart",
                pod: &[("cpu", "3"), ("memory", "5000")],
                existing: &[("cpu", "3")],
                want: 82,
            },
            // Over capacity counts as 1.
            Case {
                name: "over capacity",
                pod: &[("cpu", "11"), ("memory", "20000")],
                existing: &[],
                want: 100,
            },
        ];
        for c in cases {
            let n = node_info(
                node(
                    "n",
                    &[("cpu", "10"), ("memory", "20000"), ("pods", "10")],
                    &[],
                ),
                vec![pod("e", &[c.existing])],
            );
            let p = PodInfo::new(pod("p", &[c.pod]));
            assert_eq!(
                BalancedAllocation::default().score(&CycleState::default(), &p, &n),
                c.want,
                "{}",
                c.name
            );
        }
        let best_effort = PodInfo::new(pod("b", &[&[]]));
        let mut state = CycleState::default();
        assert_eq!(
            BalancedAllocation::default()
                .pre_score(&mut state, &best_effort, &[], &Snapshot::default())
                .code,
            crate::framework::Code::Skip
        );
        assert_eq!(balanced_score(&[0.1, 0.4, 0.7]), 75);
    }
}
