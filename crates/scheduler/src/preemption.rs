//! DefaultPreemption (`framework/plugins/defaultpreemption` and
//! `framework/preemption`): when no node fits a pod, find a node where
//! evicting lower-priority pods makes it fit, with as little harm as
//! possible, and nominate the pod to it.
//!
//! On each node where preemption may help (not rejected as unresolvable),
//! all lower-priority pods are removed in a simulation; if the pod then fits,
//! victims are reprieved while it still fits: first those whose eviction
//! would violate a PodDisruptionBudget, then the others, each group highest
//! priority first (`filterPodsWithPDBViolation`). Among candidates the node
//! chosen has (upstream's `pickOneNodeForPreemption` order) the fewest PDB
//! violations, the lowest highest victim priority, the lowest sum of victim
//! priorities, the fewest victims, then the latest start of its
//! highest-priority victims. PDBs are a preference, not a guarantee: a node
//! whose only way to fit the pod violates a budget is still a candidate, as
//! upstream. Does not own: the API calls that delete victims and set
//! `nominatedNodeName` (the scheduler loop), the PDB status (the disruption
//! controller computes `disruptionsAllowed`).

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use rand::Rng;

use crate::cache::Snapshot;
use crate::framework::{Code, CycleState, Framework, Status};
use crate::pod_info::PodInfo;
use crate::schedule_one::{Diagnosis, FitError, Nominations, filter_with_nominated};
use crate::selector::Selector;

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
    /// How many victims' eviction violates a PodDisruptionBudget.
    pub num_pdb_violations: usize,
}

/// What preemption reads of a PodDisruptionBudget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdb {
    pub namespace: String,
    pub selector: Selector,
    /// `status.disruptionsAllowed`.
    pub disruptions_allowed: i32,
    /// `status.disruptedPods`: names of pods whose eviction the API server
    /// already approved; they no longer count against the budget.
    pub disrupted_pods: HashSet<String>,
}

impl Pdb {
    pub fn new(pdb: &PodDisruptionBudget) -> Pdb {
        let status = pdb.status.as_ref();
        Pdb {
            namespace: pdb.metadata.namespace.clone().unwrap_or_default(),
            selector: Selector::from_label_selector(
                pdb.spec.as_ref().and_then(|s| s.selector.as_ref()),
            ),
            disruptions_allowed: status.map_or(0, |s| s.disruptions_allowed),
            disrupted_pods: status
                .and_then(|s| s.disrupted_pods.as_ref())
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// Whether the budget covers `pod`. Upstream's preemption treats a nil
    /// or empty selector as matching nothing (unlike the disruption
    /// controller, for which `{}` selects every pod of the namespace).
    fn covers(&self, pod: &PodInfo) -> bool {
        self.namespace == pod.namespace
            && !self.selector.nothing
            && !self.selector.requirements.is_empty()
            && self.selector.matches(&pod.labels)
    }
}

/// `filterPodsWithPDBViolation`: splits `pods` (in the order given) into
/// those whose eviction would violate a budget and the others. Each pod
/// spends one disruption of every budget covering it, so with a budget
/// allowing one disruption the first covered pod is fine and the second
/// violates it. Pods the budget already lists as disrupted spend nothing.
pub fn split_by_pdb_violation<'a>(
    pods: &[Arc<PodInfo>],
    pdbs: impl IntoIterator<Item = &'a Pdb>,
) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let pdbs: Vec<&Pdb> = pdbs.into_iter().collect();
    let mut allowed: Vec<i64> = pdbs
        .iter()
        .map(|p| i64::from(p.disruptions_allowed))
        .collect();
    let mut violating = Vec::new();
    let mut non_violating = Vec::new();
    for pod in pods {
        let mut violated = false;
        // A pod without labels matches no selector that is not empty.
        if !pod.labels.is_empty() {
            for (i, pdb) in pdbs.iter().enumerate() {
                if !pdb.covers(pod) || pdb.disrupted_pods.contains(&pod.name) {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(pod.clone());
        } else {
            non_violating.push(pod.clone());
        }
    }
    (violating, non_violating)
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

/// `SelectVictimsOnNode`: the victims (highest priority first) and how
/// many of them violate a PodDisruptionBudget.
fn select_victims(
    fw: &Framework,
    state: &CycleState,
    pod: &PodInfo,
    node_index: usize,
    snapshot: &Snapshot,
    nominations: &dyn Nominations,
) -> Result<(Vec<Arc<PodInfo>>, usize), Status> {
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
    // Budgets are spent in importance order, so the most important pods
    // are the ones that keep their budget.
    potential.sort_by(|a, b| more_important(a, b));
    let (violating, non_violating) = split_by_pdb_violation(&potential, snapshot.pdbs.values());
    let mut victims = Vec::new();
    let mut num_violating = 0;
    // Reprieve the violating pods first: keeping them costs no budget.
    for (v, violates) in violating
        .iter()
        .map(|v| (v, true))
        .chain(non_violating.iter().map(|v| (v, false)))
    {
        node.add_pod(v.clone());
        fw.run_add_pod(&mut state, pod, v, &node, snapshot);
        if !filter_with_nominated(fw, &state, pod, &node, snapshot, nominations).is_success() {
            node.remove_pod(&v.uid);
            fw.run_remove_pod(&mut state, pod, v, &node, snapshot);
            victims.push(v.clone());
            if violates {
                num_violating += 1;
            }
        }
    }
    if !violating.is_empty() && !non_violating.is_empty() {
        victims.sort_by(|a, b| more_important(a, b));
    }
    Ok((victims, num_violating))
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
        (
            c.num_pdb_violations,
            highest,
            sum,
            c.victims.len(),
            std::cmp::Reverse(earliest),
        )
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
    let mut non_violating = 0;
    for k in 0..potential.len() {
        let i = potential[(offset + k) % potential.len()];
        match select_victims(fw, state, pod, i, snapshot, nominations) {
            Ok((victims, num_pdb_violations)) => {
                candidates.push(Candidate {
                    node: snapshot.nodes[i].name.clone(),
                    victims,
                    num_pdb_violations,
                });
                if num_pdb_violations == 0 {
                    non_violating += 1;
                }
                // DryRunPreemption: enough candidates, and at least one that
                // violates no budget (else keep looking for one).
                if non_violating > 0 && candidates.len() >= want {
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

    fn labeled(mut p: Pod, labels: &[(&str, &str)]) -> Pod {
        p.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        p
    }

    fn pdb(namespace: &str, selector: Option<&[(&str, &str)]>, allowed: i32) -> Pdb {
        let selector = selector.map(|labels| {
            let map = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Selector::from_map(&map)
        });
        Pdb {
            namespace: namespace.into(),
            selector: selector.unwrap_or_else(Selector::nothing),
            disruptions_allowed: allowed,
            disrupted_pods: HashSet::new(),
        }
    }

    fn infos(pods: Vec<Pod>) -> Vec<Arc<PodInfo>> {
        pods.into_iter()
            .map(|p| Arc::new(PodInfo::new(p)))
            .collect()
    }

    fn names(pods: &[Arc<PodInfo>]) -> Vec<&str> {
        pods.iter().map(|p| p.name.as_str()).collect()
    }

    fn with_pdbs(mut snapshot: Snapshot, pdbs: Vec<Pdb>) -> Snapshot {
        for (i, p) in pdbs.into_iter().enumerate() {
            snapshot
                .pdbs
                .insert((p.namespace.clone(), format!("pdb-{i}")), p);
        }
        snapshot
    }

    #[test]
    fn pdb_violation_split() {
        let web = |n: &str| labeled(pod(n, &[&[]]), &[("app", "web")]);
        struct Case {
            name: &'static str,
            pods: Vec<Pod>,
            pdbs: Vec<Pdb>,
            violating: Vec<&'static str>,
        }
        let mut not_web = pdb("default", Some(&[]), 0);
        not_web
            .selector
            .requirements
            .push(crate::selector::Requirement {
                key: "app".into(),
                op: crate::selector::Op::NotIn,
                values: vec!["web".into()],
            });
        let mut disrupted = pdb("default", Some(&[("app", "web")]), 0);
        disrupted.disrupted_pods.insert("w1".into());
        let cases = vec![
            Case {
                name: "one disruption allowed: the first pod spends it",
                pods: vec![web("w1"), web("w2"), web("w3")],
                pdbs: vec![pdb("default", Some(&[("app", "web")]), 1)],
                violating: vec!["w2", "w3"],
            },
            Case {
                name: "no budget covers the pods",
                pods: vec![web("w1"), labeled(pod("db", &[&[]]), &[("app", "db")])],
                pdbs: vec![pdb("default", Some(&[("app", "db")]), 1)],
                violating: vec![],
            },
            Case {
                name: "a budget of another namespace",
                pods: vec![web("w1")],
                pdbs: vec![pdb("other", Some(&[("app", "web")]), 0)],
                violating: vec![],
            },
            Case {
                name: "nil and empty selectors match nothing",
                pods: vec![web("w1")],
                pdbs: vec![pdb("default", None, 0), pdb("default", Some(&[]), 0)],
                violating: vec![],
            },
            Case {
                // `app notin (web)` would select it, but upstream skips
                // unlabeled pods before looking at any budget.
                name: "a pod without labels",
                pods: vec![pod("bare", &[&[]])],
                pdbs: vec![not_web],
                violating: vec![],
            },
            Case {
                name: "already disrupted pods spend no budget",
                pods: vec![web("w1"), web("w2")],
                pdbs: vec![disrupted],
                violating: vec!["w2"],
            },
            Case {
                name: "any exhausted budget makes a violation",
                pods: vec![labeled(pod("w1", &[&[]]), &[("app", "web"), ("tier", "a")])],
                pdbs: vec![
                    pdb("default", Some(&[("app", "web")]), 5),
                    pdb("default", Some(&[("tier", "a")]), 0),
                ],
                violating: vec!["w1"],
            },
        ];
        for c in cases {
            let pods = infos(c.pods);
            let (violating, non_violating) = split_by_pdb_violation(&pods, &c.pdbs);
            assert_eq!(names(&violating), c.violating, "{}", c.name);
            assert_eq!(
                violating.len() + non_violating.len(),
                pods.len(),
                "{}",
                c.name
            );
        }
    }

    #[test]
    fn prefers_the_node_without_pdb_violations() {
        // Without budgets n1 wins: its victim has the lower priority.
        let nodes = || {
            Snapshot::from_nodes(vec![
                node_info(
                    node("n1", alloc(), &[]),
                    vec![labeled(
                        prio(pod("guarded", &[&[("cpu", "4")]]), 1),
                        &[("app", "guarded")],
                    )],
                ),
                node_info(
                    node("n2", alloc(), &[]),
                    vec![labeled(
                        prio(pod("free", &[&[("cpu", "4")]]), 10),
                        &[("app", "free")],
                    )],
                ),
            ])
        };
        let preemptor = || prio(pod("p", &[&[("cpu", "2")]]), 100);
        let chosen = |snapshot: &Snapshot| match run(snapshot, preemptor()) {
            Outcome::Preempt(c) => (
                c.node.clone(),
                names(&c.victims).join(","),
                c.num_pdb_violations,
            ),
            Outcome::Failed(m) => panic!("{m}"),
        };
        assert_eq!(chosen(&nodes()), ("n1".into(), "guarded".into(), 0));
        let guarded = with_pdbs(
            nodes(),
            vec![pdb("default", Some(&[("app", "guarded")]), 0)],
        );
        assert_eq!(chosen(&guarded), ("n2".into(), "free".into(), 0));
        // A budget that still allows a disruption is no reason to move.
        let allowing = with_pdbs(
            nodes(),
            vec![pdb("default", Some(&[("app", "guarded")]), 1)],
        );
        assert_eq!(chosen(&allowing), ("n1".into(), "guarded".into(), 0));
    }

    #[test]
    fn violates_a_pdb_when_nothing_else_helps() {
        let snapshot = with_pdbs(
            Snapshot::from_nodes(vec![node_info(
                node("n1", alloc(), &[]),
                vec![labeled(
                    prio(pod("guarded", &[&[("cpu", "4")]]), 1),
                    &[("app", "guarded")],
                )],
            )]),
            vec![pdb("default", Some(&[("app", "guarded")]), 0)],
        );
        match run(&snapshot, prio(pod("p", &[&[("cpu", "2")]]), 100)) {
            Outcome::Preempt(c) => {
                assert_eq!(names(&c.victims), vec!["guarded"]);
                assert_eq!(c.num_pdb_violations, 1);
            }
            Outcome::Failed(m) => panic!("{m}"),
        }
    }

    #[test]
    fn reprieves_pdb_protected_victims_first() {
        // Room for one of the two 2-CPU pods besides the preemptor. By
        // priority alone "high" stays and "guarded" goes; the budget on
        // "guarded" makes it the one reprieved.
        let nodes = || {
            Snapshot::from_nodes(vec![node_info(
                node("n1", alloc(), &[]),
                vec![
                    labeled(
                        prio(pod("guarded", &[&[("cpu", "2")]]), 1),
                        &[("app", "guarded")],
                    ),
                    prio(pod("high", &[&[("cpu", "2")]]), 50),
                ],
            )])
        };
        let victims =
            |snapshot: &Snapshot| match run(snapshot, prio(pod("p", &[&[("cpu", "2")]]), 100)) {
                Outcome::Preempt(c) => (names(&c.victims).join(","), c.num_pdb_violations),
                Outcome::Failed(m) => panic!("{m}"),
            };
        assert_eq!(victims(&nodes()), ("guarded".into(), 0));
        let guarded = with_pdbs(
            nodes(),
            vec![pdb("default", Some(&[("app", "guarded")]), 0)],
        );
        assert_eq!(victims(&guarded), ("high".into(), 0));
    }
}
