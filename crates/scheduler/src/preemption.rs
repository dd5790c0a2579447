//! DefaultPreemption (`framework/plugins/defaultpreemption` and
//! `framework/preemption`): when no node fits a pod, find a node where
//! evicting lower-priority pods makes it fit, with as little harm as
//! possible, and nominate the pod to it.
//!
//! On each node where preemption may help (not rejected as unresolvable),
//! all lower-priority pods are removed in a simulation; if the pod then fits,
//! victims are reprieved highest priority first while it still fits. Among
//! candidates the node chosen has (upstream's order) the lowest highest
//! victim priority, the lowest sum of victim priorities, the fewest victims,
//! then the latest start of its highest-priority victims. PodDisruption-
//! Budgets are not considered (skiff serves no PDBs yet). Does not own: the
//! API calls that delete victims and set `nominatedNodeName` (the scheduler
//! loop).

use std::sync::Arc;

use rand::Rng;

use crate::cache::Snapshot;
use crate::framework::{Code, CycleState, Framework, Status};
use crate::pod_info::PodInfo;
use crate::schedule_one::{Diagnosis, FitError, Nominations, filter_with_nominated};

/// `ErrReasonNoVictims`-style per-node reason.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// Reason for nodes where eviction cannot help.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";

/// `DefaultPreemptionArgs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreemptionArgs {
    pub min_candidate_nodes_percentage: i64,
    pub min_candidate_nodes_absolute: i64,
}

impl Default for PreemptionArgs {
    fn default() -> Self {
        PreemptionArgs {
            min_candidate_nodes_percentage: 10,
            min_candidate_nodes_absolute: 100,
        }
    }
}

/// A node and the pods to evict there.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub node: String,
    /// Highest priority first.
    pub victims: Vec<Arc<PodInfo>>,
}

/// What preemption decided.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Evict `victims` on `node` and nominate the pod there.
    Preempt(Candidate),
    /// Preemption cannot help; the message goes after "preemption: ".
    Failed(String),
}

/// `MoreImportantPod`: higher priority, then the one that started earlier.
fn more_important(a: &PodInfo, b: &PodInfo) -> std::cmp::Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| start_key(a).cmp(&start_key(b)))
}

fn start_key(p: &PodInfo) -> i64 {
    p.start_time.as_ref().map_or(i64::MAX, |t| t.0.as_second())
}

/// `PodEligibleToPreemptOthers`.
fn eligible(pod: &PodInfo, snapshot: &Snapshot, diagnosis: &Diagnosis) -> Result<(), String> {
    if pod.preemption_never {
        return Err("not eligible due to preemptionPolicy=Never.".into());
    }
    let nominated = &pod.nominated_node_name;
    if !nominated.is_empty() {
        // A pod that already preempted waits for its victims to leave.
        let unresolvable = diagnosis
            .node_statuses
            .get(nominated)
            .is_some_and(|s| s.code == Code::UnschedulableAndUnresolvable);
        if !unresolvable
            && let Some(node) = snapshot.node(nominated)
            && node
                .pods
                .iter()
                .any(|p| p.terminating && p.priority < pod.priority)
        {
            return Err("not eligible due to a terminating pod on the nominated node.".into());
        }
    }
    Ok(())
}

/// `calculateNumCandidates`.
fn num_candidates(args: &PreemptionArgs, num_nodes: usize) -> usize {
    let mut n = (num_nodes as i64 * args.min_candidate_nodes_percentage / 100) as usize;
    if n < args.min_candidate_nodes_absolute as usize {
        n = args.min_candidate_nodes_absolute as usize;
    }
    n.min(num_nodes)
}

/// `SelectVictimsOnNode`.
fn select_victims(
    fw: &Framework,
    state: &CycleState,
    pod: &PodInfo,
    node_index: usize,
    snapshot: &Snapshot,
    nominations: &dyn Nominations,
) -> Result<Vec<Arc<PodInfo>>, Status> {
    let mut node = snapshot.nodes[node_index].clone();
    let mut state = state.clone();
    let mut potential: Vec<Arc<PodInfo>> = node
        .pods
        .iter()
        .filter(|p| p.priority < pod.priority)
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    for v in &potential {
        node.remove_pod(&v.uid);
        fw.run_remove_pod(&mut state, pod, v, &node, snapshot);
    }
    let s = filter_with_nominated(fw, &state, pod, &node, snapshot, nominations);
    if !s.is_success() {
        return Err(s);
    }
    potential.sort_by(|a, b| more_important(a, b));
    let mut victims = Vec::new();
    for v in potential {
        node.add_pod(v.clone());
        fw.run_add_pod(&mut state, pod, &v, &node, snapshot);
        if !filter_with_nominated(fw, &state, pod, &node, snapshot, nominations).is_success() {
            node.remove_pod(&v.uid);
            fw.run_remove_pod(&mut state, pod, &v, &node, snapshot);
            victims.push(v);
        }
    }
    Ok(victims)
}

/// `pickOneNodeForPreemption`.
fn pick(candidates: Vec<Candidate>) -> Option<Candidate> {
    let key = |c: &Candidate| {
        let highest = c.victims.first().map_or(i32::MIN, |v| v.priority);
        // Upstream shifts priorities by MaxInt32+1 so the sum compares right.
        let sum: i64 = c
            .victims
            .iter()
            .map(|v| i64::from(v.priority) + i64::from(i32::MAX) + 1)
            .sum();
        // Earliest start among the highest-priority victims; later is better.
        let earliest = c
            .victims
            .iter()
            .filter(|v| v.priority == highest)
            .map(|v| start_key(v))
            .min()
            .unwrap_or(i64::MAX);
        (highest, sum, c.victims.len(), std::cmp::Reverse(earliest))
    };
    candidates.into_iter().min_by_key(key)
}

/// Runs preemption for `pod`, which no node fits.
#[allow(clippy::too_many_arguments)]
pub fn preempt(
    fw: &Framework,
    args: &PreemptionArgs,
    state: &CycleState,
    pod: &PodInfo,
    snapshot: &Snapshot,
    nominations: &dyn Nominations,
    diagnosis: &Diagnosis,
    rng: &mut impl Rng,
) -> Outcome {
    if let Err(msg) = eligible(pod, snapshot, diagnosis) {
        return Outcome::Failed(msg);
    }
    let n = snapshot.nodes.len();
    let potential: Vec<usize> = (0..n)
        .filter(|i| {
            let name = &snapshot.nodes[*i].name;
            diagnosis
                .node_statuses
                .get(name)
                .is_none_or(|s| s.code != Code::UnschedulableAndUnresolvable)
        })
        .collect();
    let mut fit = FitError {
        num_all_nodes: n,
        diagnosis: Diagnosis::default(),
        absent_nodes_reason: Some(NOT_HELPFUL.to_string()),
    };
    if potential.is_empty() {
        return Outcome::Failed(fit.message());
    }
    let want = num_candidates(args, potential.len());
    let offset = rng.random_range(0..potential.len());
    let mut candidates = Vec::new();
    for k in 0..potential.len() {
        let i = potential[(offset + k) % potential.len()];
        match select_victims(fw, state, pod, i, snapshot, nominations) {
            Ok(victims) => {
                candidates.push(Candidate {
                    node: snapshot.nodes[i].name.clone(),
                    victims,
                });
                if candidates.len() >= want {
                    break;
                }
            }
            Err(status) => {
                fit.diagnosis
                    .node_statuses
                    .insert(snapshot.nodes[i].name.clone(), status);
            }
        }
    }
    match pick(candidates) {
        Some(c) => Outcome::Preempt(c),
        None => Outcome::Failed(fit.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::node_info::testing::{node, node_info, pod};
    use crate::schedule_one::{Algorithm, NoNominations, ScheduleError};
    use k8s_openapi::api::core::v1::Pod;

    fn prio(mut p: Pod, priority: i32) -> Pod {
        p.spec.get_or_insert_default().priority = Some(priority);
        p
    }

    fn run(snapshot: &Snapshot, p: Pod) -> Outcome {
        let fw = &Config::default().profiles[0];
        let pod = PodInfo::new(p);
        let mut rng = rand::rng();
        let (res, state) =
            Algorithm::default().schedule(fw, snapshot, &NoNominations, &pod, 0, &mut rng);
        let Err(ScheduleError::Fit(f)) = res else {
            panic!("the pod should not fit: {res:?}");
        };
        preempt(
            fw,
            &PreemptionArgs::default(),
            &state,
            &pod,
            snapshot,
            &NoNominations,
            &f.diagnosis,
            &mut rng,
        )
    }

    fn alloc() -> &'static [(&'static str, &'static str)] {
        &[("cpu", "4"), ("memory", "4Gi"), ("pods", "110")]
    }

    #[test]
    fn evicts_the_fewest_lowest_priority_pods() {
        let snapshot = Snapshot::from_nodes(vec![
            // Two medium-priority pods would have to go here.
            node_info(
                node("n1", alloc(), &[]),
                vec![
                    prio(pod("m1", &[&[("cpu", "2")]]), 50),
                    prio(pod("m2", &[&[("cpu", "2")]]), 50),
                ],
            ),
            // One low and one high priority pod: only the low one goes.
            node_info(
                node("n2", alloc(), &[]),
                vec![
                    prio(pod("low", &[&[("cpu", "2")]]), 1),
                    prio(pod("high", &[&[("cpu", "2")]]), 1000),
                ],
            ),
        ]);
        match run(&snapshot, prio(pod("p", &[&[("cpu", "2")]]), 100)) {
            Outcome::Preempt(c) => {
                assert_eq!(c.node, "n2");
                let names: Vec<&str> = c.victims.iter().map(|v| v.name.as_str()).collect();
                assert_eq!(names, vec!["low"]);
            }
            Outcome::Failed(m) => panic!("{m}"),
        }
    }

    #[test]
    fn reprieves_victims_that_need_not_go() {
        let snapshot = Snapshot::from_nodes(vec![node_info(
            node("n1", alloc(), &[]),
            vec![
                prio(pod("a", &[&[("cpu", "1")]]), 10),
                prio(pod("b", &[&[("cpu", "1")]]), 5),
                prio(pod("c", &[&[("cpu", "2")]]), 1),
            ],
        )]);
        match run(&snapshot, prio(pod("p", &[&[("cpu", "2")]]), 100)) {
            Outcome::Preempt(c) => {
                let names: Vec<&str> = c.victims.iter().map(|v| v.name.as_str()).collect();
                // Reprieve a (10), then b (5); c (1) must go.
                assert_eq!(names, vec!["c"]);
            }
            Outcome::Failed(m) => panic!("{m}"),
        }
    }

    #[test]
    fn explains_when_it_cannot_help() {
        let snapshot = Snapshot::from_nodes(vec![
            node_info(
                node("n1", alloc(), &[]),
                vec![prio(pod("h", &[&[("cpu", "4")]]), 1000)],
            ),
            node_info(node("n2", &[("cpu", "1"), ("pods", "110")], &[]), vec![]),
        ]);
        match run(&snapshot, prio(pod("p", &[&[("cpu", "2")]]), 100)) {
            Outcome::Failed(m) => assert_eq!(
                m,
                "0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
            ),
            Outcome::Preempt(c) => panic!("unexpected {c:?}"),
        }
        let mut never = prio(pod("p", &[&[("cpu", "2")]]), 2000);
        never.spec.get_or_insert_default().preemption_policy = Some("Never".into());
        match run(&snapshot, never) {
            Outcome::Failed(m) => assert_eq!(m, "not eligible due to preemptionPolicy=Never."),
            Outcome::Preempt(c) => panic!("unexpected {c:?}"),
        }
    }
}
