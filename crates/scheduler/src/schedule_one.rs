//! One scheduling decision (`pkg/scheduler/schedule_one.go`, the pure part):
//! PreFilter, Filter over enough nodes, Score, pick the best node, and the
//! FitError with upstream's message when no node fits.
//!
//! As upstream, filtering starts where the previous cycle stopped and stops
//! once `numFeasibleNodesToFind` nodes fit (`percentageOfNodesToScore`,
//! adaptive by default: 50% − nodes/125, at least 5%, at least 100 nodes);
//! a pod's nominated node is tried first; pods nominated to a node with
//! priority at least the pod's count there. Ties between the best scores are
//! broken at random. Does not own: side effects (binding, status, events) or
//! the cache and queue.

use std::collections::HashMap;
use std::sync::Arc;

use rand::Rng;

use crate::cache::Snapshot;
use crate::framework::{Code, CycleState, Framework, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

/// Below this many nodes, all are scored (`minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never goes below this
/// (`minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// `ErrNoNodesAvailable`.
pub const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// `numFeasibleNodesToFind`.
pub fn num_feasible_nodes_to_find(percentage: u32, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let mut pct = percentage as usize;
    if pct == 0 {
        pct = 50usize.saturating_sub(num_all_nodes / 125);
        if pct < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND {
            pct = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND;
        }
    }
    let n = num_all_nodes * pct.min(100) / 100;
    n.max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Why no node fits (`framework.Diagnosis`).
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    /// Status of each rejected node, by node name.
    pub node_statuses: HashMap<String, Status>,
    /// Plugins that rejected some node.
    pub unschedulable_plugins: Vec<&'static str>,
    /// Set when a PreFilter plugin rejected the pod for every node.
    pub pre_filter_msg: String,
    /// Set by preemption when it could not help.
    pub post_filter_msg: String,
}

/// No node fits the pod (`framework.FitError`).
#[derive(Debug, Clone)]
pub struct FitError {
    pub num_all_nodes: usize,
    pub diagnosis: Diagnosis,
    /// Reasons for nodes absent from `node_statuses` (preemption's
    /// "Preemption is not helpful for scheduling").
    pub absent_nodes_reason: Option<String>,
}

impl FitError {
    /// `FitError.Error()`: `0/N nodes are available: <prefilter msg>.` or a
    /// sorted histogram of the node reasons, then the PostFilter message.
    pub fn message(&self) -> String {
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        let d = &self.diagnosis;
        if !d.pre_filter_msg.is_empty() {
            msg.push_str(&format!(" {}.", d.pre_filter_msg));
        } else {
            let mut reasons: HashMap<&str, usize> = HashMap::new();
            for s in d.node_statuses.values() {
                for r in &s.reasons {
                    *reasons.entry(r.as_ref()).or_default() += 1;
                }
            }
            if let Some(r) = &self.absent_nodes_reason {
                let absent = self.num_all_nodes.saturating_sub(d.node_statuses.len());
                if absent > 0 {
                    *reasons.entry(r.as_str()).or_default() += absent;
                }
            }
            let mut parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
            parts.sort();
            if !parts.is_empty() {
                msg.push_str(&format!(" {}.", parts.join(", ")));
            }
        }
        if !d.post_filter_msg.is_empty() {
            msg.push_str(&format!(" {}", d.post_filter_msg));
        }
        msg
    }
}

/// Why a pod was not scheduled.
#[derive(Debug, Clone)]
pub enum ScheduleError {
    /// The cluster has no nodes.
    NoNodes,
    /// No node fits.
    Fit(Box<FitError>),
    /// A plugin failed.
    Internal(String),
}

impl ScheduleError {
    pub fn message(&self) -> String {
        match self {
            ScheduleError::NoNodes => NO_NODES_AVAILABLE.to_string(),
            ScheduleError::Fit(f) => f.message(),
            ScheduleError::Internal(m) => m.clone(),
        }
    }
}

/// The chosen node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleResult {
    pub node: String,
    pub evaluated_nodes: usize,
    pub feasible_nodes: usize,
}

/// Pods nominated to nodes, as the filters must count them.
pub trait Nominations {
    fn nominated_pods(&self, node: &str) -> &[Arc<PodInfo>];
    fn has_nominations(&self) -> bool;
}

impl Nominations for crate::queue::SchedulingQueue {
    fn nominated_pods(&self, node: &str) -> &[Arc<PodInfo>] {
        crate::queue::SchedulingQueue::nominated_pods(self, node)
    }
    fn has_nominations(&self) -> bool {
        crate::queue::SchedulingQueue::has_nominations(self)
    }
}

/// No nominations (tests, simulations).
pub struct NoNominations;

impl Nominations for NoNominations {
    fn nominated_pods(&self, _node: &str) -> &[Arc<PodInfo>] {
        &[]
    }
    fn has_nominations(&self) -> bool {
        false
    }
}

/// `RunFilterPluginsWithNominatedPods`: with pods of equal or higher priority
/// nominated to the node counted as running there, then without them (both
/// must pass: a nominated pod may not come).
pub fn filter_with_nominated(
    fw: &Framework,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    snapshot: &Snapshot,
    nominations: &dyn Nominations,
) -> Status {
    if nominations.has_nominations() {
        let extra: Vec<&Arc<PodInfo>> = nominations
            .nominated_pods(&node.name)
            .iter()
            .filter(|p| p.uid != pod.uid && p.priority >= pod.priority)
            .collect();
        if !extra.is_empty() {
            let mut node_with = node.clone();
            let mut state_with = state.clone();
            for p in extra {
                let mut assumed = (**p).clone();
                assumed.node_name = node.name.clone();
                let assumed = Arc::new(assumed);
                node_with.add_pod(assumed.clone());
                fw.run_add_pod(&mut state_with, pod, &assumed, &node_with, snapshot);
            }
            let s = fw.run_filter(&state_with, pod, &node_with);
            if !s.is_success() {
                return s;
            }
        }
    }
    fw.run_filter(state, pod, node)
}

/// The part of the scheduler that carries over between cycles.
#[derive(Debug, Default)]
pub struct Algorithm {
    next_start_node_index: usize,
}

impl Algorithm {
    /// Finds the best node for `pod`. Returns the cycle state too, for
    /// preemption.
    pub fn schedule(
        &mut self,
        fw: &Framework,
        snapshot: &Snapshot,
        nominations: &dyn Nominations,
        pod: &PodInfo,
        global_percentage: u32,
        rng: &mut impl Rng,
    ) -> (Result<ScheduleResult, ScheduleError>, CycleState) {
        let mut state = CycleState::default();
        let n = snapshot.nodes.len();
        if n == 0 {
            return (Err(ScheduleError::NoNodes), state);
        }
        let pre = fw.run_pre_filter(&mut state, pod, snapshot);
        if !pre.is_success() {
            if pre.code == Code::Error {
                return (Err(ScheduleError::Internal(pre.message())), state);
            }
            let diagnosis = Diagnosis {
                node_statuses: HashMap::new(),
                unschedulable_plugins: vec![pre.plugin],
                pre_filter_msg: pre.message(),
                post_filter_msg: String::new(),
            };
            return (
                Err(ScheduleError::Fit(Box::new(FitError {
                    num_all_nodes: n,
                    diagnosis,
                    absent_nodes_reason: None,
                }))),
                state,
            );
        }
        // evaluateNominatedNode: a pod that preempted tries its node first.
        if !pod.nominated_node_name.is_empty()
            && let Some(node) = snapshot.node(&pod.nominated_node_name)
            && filter_with_nominated(fw, &state, pod, node, snapshot, nominations).is_success()
        {
            return (
                Ok(ScheduleResult {
                    node: node.name.clone(),
                    evaluated_nodes: 1,
                    feasible_nodes: 1,
                }),
                state,
            );
        }
        let percentage = fw.percentage_of_nodes_to_score.unwrap_or(global_percentage);
        let want = num_feasible_nodes_to_find(percentage, n);
        let mut feasible: Vec<usize> = Vec::with_capacity(want.min(n));
        let mut diagnosis = Diagnosis::default();
        let start = self.next_start_node_index % n;
        let mut processed = 0;
        for k in 0..n {
            let i = (start + k) % n;
            let node = &snapshot.nodes[i];
            processed += 1;
            let s = filter_with_nominated(fw, &state, pod, node, snapshot, nominations);
            match s.code {
                Code::Success => {
                    feasible.push(i);
                    if feasible.len() >= want {
                        break;
                    }
                }
                Code::Error => {
                    return (Err(ScheduleError::Internal(s.message())), state);
                }
                _ => {
                    if !diagnosis.unschedulable_plugins.contains(&s.plugin) {
                        diagnosis.unschedulable_plugins.push(s.plugin);
                    }
                    diagnosis.node_statuses.insert(node.name.clone(), s);
                }
            }
        }
        self.next_start_node_index = (start + processed) % n;
        if feasible.is_empty() {
            return (
                Err(ScheduleError::Fit(Box::new(FitError {
                    num_all_nodes: n,
                    diagnosis,
                    absent_nodes_reason: None,
                }))),
                state,
            );
        }
        if feasible.len() == 1 {
            let node = snapshot.nodes[feasible[0]].name.clone();
            return (
                Ok(ScheduleResult {
                    node,
                    evaluated_nodes: processed,
                    feasible_nodes: 1,
                }),
                state,
            );
        }
        let nodes: Vec<&NodeInfo> = feasible.iter().map(|i| &snapshot.nodes[*i]).collect();
        let scores = fw.run_score(&mut state, pod, &nodes, snapshot);
        let best = select_host(&scores, rng);
        (
            Ok(ScheduleResult {
                node: nodes[best].name.clone(),
                evaluated_nodes: processed,
                feasible_nodes: nodes.len(),
            }),
            state,
        )
    }
}

/// `selectHost`: the index of a highest score, ties broken uniformly at
/// random (reservoir sampling).
pub fn select_host(scores: &[i64], rng: &mut impl Rng) -> usize {
    let mut best = 0;
    let mut ties = 0u32;
    for (i, s) in scores.iter().enumerate() {
        if *s > scores[best] {
            best = i;
            ties = 1;
        } else if *s == scores[best] {
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                best = i;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::node_info::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::Taint;

    #[test]
    fn feasible_nodes_to_find() {
        for (pct, nodes, want) in [
            (0, 10, 10),
            (0, 99, 99),
            (0, 100, 100),
            (0, 1000, 420), // 50 - 8 = 42%
            (0, 5000, 500), // 50 - 40 = 10%
            (0, 6000, 300), // 50 - 48 = 2% → 5%
            (0, 1500, 570), // 38%
            (30, 1000, 300),
            (100, 5000, 5000),
            (1, 1000, 100), // at least 100
        ] {
            assert_eq!(
                num_feasible_nodes_to_find(pct, nodes),
                want,
                "{pct}% of {nodes}"
            );
        }
    }

    #[test]
    fn fit_error_message_has_upstream_shape() {
        let mut d = Diagnosis::default();
        for i in 0..3 {
            d.node_statuses
                .insert(format!("a{i}"), Status::unschedulable("Insufficient cpu"));
        }
        for i in 0..2 {
            d.node_statuses.insert(
                format!("b{i}"),
                Status::unresolvable("node(s) had untolerated taint {dedicated: db}"),
            );
        }
        d.post_filter_msg =
            "preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
                .into();
        let e = FitError {
            num_all_nodes: 5,
            diagnosis: d,
            absent_nodes_reason: None,
        };
        assert_eq!(
            e.message(),
            "0/5 nodes are available: 2 node(s) had untolerated taint {dedicated: db}, 3 Insufficient cpu. preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn schedules_to_the_best_node_and_explains_failures() {
        let fw = &Config::default().profiles[0];
        let mut tainted = node(
            "tainted",
            &[("cpu", "8"), ("memory", "8Gi"), ("pods", "110")],
            &[],
        );
        tainted.spec.get_or_insert_default().taints = Some(vec![Taint {
            key: "dedicated".into(),
            value: Some("db".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        }]);
        let snapshot = Snapshot::from_nodes(vec![
            node_info(
                node(
                    "small",
                    &[("cpu", "1"), ("memory", "1Gi"), ("pods", "110")],
                    &[],
                ),
                vec![],
            ),
            node_info(
                node(
                    "busy",
                    &[("cpu", "4"), ("memory", "4Gi"), ("pods", "110")],
                    &[],
                ),
                vec![pod("e", &[&[("cpu", "3")]])],
            ),
            node_info(
                node(
                    "free",
                    &[("cpu", "4"), ("memory", "4Gi"), ("pods", "110")],
                    &[],
                ),
                vec![],
            ),
            node_info(tainted, vec![]),
        ]);
        let mut algo = Algorithm::default();
        let mut rng = rand::rng();
        let p = PodInfo::new(pod("p", &[&[("cpu", "500m")]]));
        let (res, _) = algo.schedule(fw, &snapshot, &NoNominations, &p, 0, &mut rng);
        assert_eq!(
            res.map(|r| r.node).ok().as_deref(),
            Some("free"),
            "least allocated wins"
        );

        let big = PodInfo::new(pod("big", &[&[("cpu", "2")]]));
        let (res, _) = algo.schedule(fw, &snapshot, &NoNominations, &big, 0, &mut rng);
        assert_eq!(res.map(|r| r.node).ok().as_deref(), Some("free"));

        let huge = PodInfo::new(pod("huge", &[&[("cpu", "5")]]));
        let (res, _) = algo.schedule(fw, &snapshot, &NoNominations, &huge, 0, &mut rng);
        match res {
            Err(ScheduleError::Fit(f)) => assert_eq!(
                f.message(),
                "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 3 Insufficient cpu."
            ),
            other => panic!("want a fit error, got {other:?}"),
        }
        let (res, _) = algo.schedule(fw, &Snapshot::default(), &NoNominations, &p, 0, &mut rng);
        assert_eq!(
            res.map_err(|e| e.message()),
            Err(NO_NODES_AVAILABLE.to_string())
        );
    }

    #[test]
    fn select_host_picks_a_max() {
        let mut rng = rand::rng();
        for _ in 0..20 {
            let i = select_host(&[1, 5, 3, 5], &mut rng);
            assert!(i == 1 || i == 3);
        }
        assert_eq!(select_host(&[7], &mut rng), 0);
    }
}
