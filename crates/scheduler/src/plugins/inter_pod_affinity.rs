//! InterPodAffinity: required pod affinity and anti-affinity of the incoming
//! pod, and required anti-affinity of the pods already running, over any
//! topology key (Filter); preferred terms of both sides, and existing pods'
//! required affinity with `hardPodAffinityWeight`, as scores (Score).
//!
//! PreFilter counts, per (topology key, value), the existing pods that match
//! each side's terms, so Filter is a few map lookups per node. The counts are
//! kept right by AddPod/RemovePod when preemption simulates evictions.

use std::collections::HashMap;

use crate::cache::Snapshot;
use crate::framework::{CycleState, FilterPlugin, MAX_NODE_SCORE, ScorePlugin, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::{AffinityTerm, PodInfo};
use crate::selector::Labels;

pub const NAME: &str = "InterPodAffinity";
/// `ErrReasonExistingAntiAffinityRulesNotMatch`.
pub const ERR_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
/// `ErrReasonAffinityRulesNotMatch`.
pub const ERR_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// `ErrReasonAntiAffinityRulesNotMatch`.
pub const ERR_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";

/// Default `hardPodAffinityWeight`.
pub const DEFAULT_HARD_POD_AFFINITY_WEIGHT: i64 = 1;

pub struct InterPodAffinity {
    pub hard_pod_affinity_weight: i64,
    pub ignore_preferred_terms_of_existing_pods: bool,
}

impl Default for InterPodAffinity {
    fn default() -> Self {
        InterPodAffinity {
            hard_pod_affinity_weight: DEFAULT_HARD_POD_AFFINITY_WEIGHT,
            ignore_preferred_terms_of_existing_pods: false,
        }
    }
}

/// Matching pods per topology key, then per value of that key. Nested
/// rather than keyed by (key, value) so that Filter looks a node's labels up
/// without building a key, and checks the existing pods' anti-affinity by
/// the few topology keys in use rather than by every (key, value) pair: with
/// one anti-affinity pod per node, the pairs are as many as the nodes
/// (upstream likewise loops over the node's labels, not over the pairs).
#[derive(Clone, Default)]
struct TopologyCounts {
    by_key: HashMap<String, HashMap<String, i64>>,
}

impl TopologyCounts {
    fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The count of (key, value).
    fn get(&self, key: &str, value: &str) -> i64 {
        self.by_key
            .get(key)
            .and_then(|values| values.get(value))
            .copied()
            .unwrap_or(0)
    }

    /// Whether any (key, value) with a positive count is a label of `node`.
    fn any_positive_on(&self, node: &NodeInfo) -> bool {
        self.by_key.iter().any(|(key, values)| {
            node.labels
                .get(key)
                .and_then(|v| values.get(v))
                .is_some_and(|n| *n > 0)
        })
    }
}

#[derive(Clone, Default)]
struct PreFilterState {
    /// Existing pods whose required anti-affinity matches the incoming pod.
    existing_anti_affinity: TopologyCounts,
    /// Existing pods matching all of the incoming pod's affinity terms.
    affinity: TopologyCounts,
    /// Existing pods matching one of the incoming pod's anti-affinity terms.
    anti_affinity: TopologyCounts,
}

/// Adds `delta` to (key, the node's value of key); a node without the key
/// counts nowhere. Zero counts are dropped, so emptiness means "no pods".
fn add(counts: &mut TopologyCounts, key: &str, node: &NodeInfo, delta: i64) {
    let Some(v) = node.labels.get(key) else {
        return;
    };
    let values = match counts.by_key.get_mut(key) {
        Some(values) => values,
        None => counts.by_key.entry(key.to_string()).or_default(),
    };
    let n = match values.get_mut(v) {
        Some(n) => n,
        None => values.entry(v.clone()).or_default(),
    };
    *n += delta;
    if *n == 0 {
        values.remove(v);
        if values.is_empty() {
            counts.by_key.remove(key);
        }
    }
}

fn matches_all(terms: &[AffinityTerm], pod: &PodInfo, ns: Option<&Labels>) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, ns))
}

impl InterPodAffinity {
    /// Updates the counts for one existing pod on `node` (`updateWithPod`).
    fn update_with_pod(
        st: &mut PreFilterState,
        incoming: &PodInfo,
        existing: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
        delta: i64,
    ) {
        let incoming_ns = snapshot.namespace_labels(&incoming.namespace);
        for t in &existing.required_anti_affinity {
            if t.matches(incoming, incoming_ns) {
                add(&mut st.existing_anti_affinity, &t.topology_key, node, delta);
            }
        }
        let existing_ns = snapshot.namespace_labels(&existing.namespace);
        if matches_all(&incoming.required_affinity, existing, existing_ns) {
            for t in &incoming.required_affinity {
                add(&mut st.affinity, &t.topology_key, node, delta);
            }
        }
        for t in &incoming.required_anti_affinity {
            if t.matches(existing, existing_ns) {
                add(&mut st.anti_affinity, &t.topology_key, node, delta);
            }
        }
    }
}

impl FilterPlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status {
        let has_terms = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        if !has_terms && snapshot.pods_with_required_anti_affinity == 0 {
            return Status::skip();
        }
        let mut st = PreFilterState::default();
        let pod_ns = snapshot.namespace_labels(&pod.namespace);
        for node in &snapshot.nodes {
            if node.pods_with_required_anti_affinity > 0 {
                for existing in &node.pods {
                    for t in &existing.required_anti_affinity {
                        if t.matches(pod, pod_ns) {
                            add(&mut st.existing_anti_affinity, &t.topology_key, node, 1);
                        }
                    }
                }
            }
            if !has_terms {
                continue;
            }
            for existing in &node.pods {
                let ns = snapshot.namespace_labels(&existing.namespace);
                if matches_all(&pod.required_affinity, existing, ns) {
                    for t in &pod.required_affinity {
                        add(&mut st.affinity, &t.topology_key, node, 1);
                    }
                }
                for t in &pod.required_anti_affinity {
                    if t.matches(existing, ns) {
                        add(&mut st.anti_affinity, &t.topology_key, node, 1);
                    }
                }
            }
        }
        // The pod's own namespace labels decide if it matches its own terms.
        let self_match = matches_all(&pod.required_affinity, pod, pod_ns);
        state.write(st);
        state.write(SelfMatch(self_match));
        Status::success()
    }

    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(st) = state.read::<PreFilterState>() else {
            return Status::new(
                crate::framework::Code::Error,
                "InterPodAffinity PreFilter state missing",
            );
        };
        // satisfyPodAffinity
        if !pod.required_affinity.is_empty() {
            let mut pods_exist = true;
            for t in &pod.required_affinity {
                let Some(v) = node.labels.get(&t.topology_key) else {
                    return Status::unresolvable(ERR_AFFINITY);
                };
                if st.affinity.get(&t.topology_key, v) <= 0 {
                    pods_exist = false;
                }
            }
            // The first pod of a group whose affinity selects itself may go
            // anywhere that has the topology keys.
            let first_of_group =
                st.affinity.is_empty() && state.read::<SelfMatch>().is_some_and(|s| s.0);
            if !pods_exist && !first_of_group {
                return Status::unresolvable(ERR_AFFINITY);
            }
        }
        // satisfyPodAntiAffinity
        for t in &pod.required_anti_affinity {
            if let Some(v) = node.labels.get(&t.topology_key)
                && st.anti_affinity.get(&t.topology_key, v) > 0
            {
                return Status::unschedulable(ERR_ANTI_AFFINITY);
            }
        }
        // satisfyExistingPodsAntiAffinity
        if st.existing_anti_affinity.any_positive_on(node) {
            return Status::unschedulable(ERR_EXISTING_ANTI_AFFINITY);
        }
        Status::success()
    }

    fn add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        added: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) {
        if let Some(st) = state.read_mut::<PreFilterState>() {
            Self::update_with_pod(st, pod, added, node, snapshot, 1);
        }
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) {
        if let Some(st) = state.read_mut::<PreFilterState>() {
            Self::update_with_pod(st, pod, removed, node, snapshot, -1);
        }
    }
}

#[derive(Clone)]
struct SelfMatch(bool);

#[derive(Clone, Default)]
struct PreScoreState {
    /// topology key → value → score.
    topology_score: HashMap<String, HashMap<String, i64>>,
}

impl PreScoreState {
    fn process_term(
        &mut self,
        term: &AffinityTerm,
        weight: i64,
        pod: &PodInfo,
        ns: Option<&Labels>,
        node: &NodeInfo,
    ) {
        if term.matches(pod, ns)
            && let Some(v) = node.labels.get(&term.topology_key)
        {
            *self
                .topology_score
                .entry(term.topology_key.clone())
                .or_default()
                .entry(v.clone())
                .or_default() += weight;
        }
    }
}

impl ScorePlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        if nodes.is_empty() {
            return Status::skip();
        }
        let has_constraints =
            !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        if !has_constraints
            && (self.ignore_preferred_terms_of_existing_pods || snapshot.pods_with_affinity == 0)
        {
            return Status::skip();
        }
        let mut st = PreScoreState::default();
        let pod_ns = snapshot.namespace_labels(&pod.namespace);
        for node in &snapshot.nodes {
            if node.labels.is_empty() || (!has_constraints && node.pods_with_affinity == 0) {
                continue;
            }
            for existing in &node.pods {
                if !has_constraints && !existing.has_affinity() {
                    continue;
                }
                let ex_ns = snapshot.namespace_labels(&existing.namespace);
                for (w, t) in &pod.preferred_affinity {
                    st.process_term(t, i64::from(*w), existing, ex_ns, node);
                }
                for (w, t) in &pod.preferred_anti_affinity {
                    st.process_term(t, -i64::from(*w), existing, ex_ns, node);
                }
                if self.hard_pod_affinity_weight > 0 {
                    for t in &existing.required_affinity {
                        st.process_term(t, self.hard_pod_affinity_weight, pod, pod_ns, node);
                    }
                }
                for (w, t) in &existing.preferred_affinity {
                    st.process_term(t, i64::from(*w), pod, pod_ns, node);
                }
                for (w, t) in &existing.preferred_anti_affinity {
                    st.process_term(t, -i64::from(*w), pod, pod_ns, node);
                }
            }
        }
        if st.topology_score.is_empty() {
            return Status::skip();
        }
        state.write(st);
        Status::success()
    }

    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(st) = state.read::<PreScoreState>() else {
            return 0;
        };
        st.topology_score
            .iter()
            .filter_map(|(k, values)| node.labels.get(k).and_then(|v| values.get(v)))
            .sum()
    }

    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [i64]) {
        let (Some(min), Some(max)) = (scores.iter().copied().min(), scores.iter().copied().max())
        else {
            return;
        };
        let diff = max - min;
        for s in scores.iter_mut() {
            *s = if diff > 0 {
                (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64
            } else {
                0
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::node_info::testing::{labeled_pod, node, node_info};
    use k8s_openapi::api::core::v1::{
        Affinity, Pod, PodAffinity, PodAffinityTerm, PodAntiAffinity, WeightedPodAffinityTerm,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    fn term(key: &str, op: &str, values: &[&str], topology: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: key.into(),
                    operator: op.into(),
                    values: Some(values.iter().map(|s| s.to_string()).collect()),
                }]),
                match_labels: None,
            }),
            topology_key: topology.into(),
            ..Default::default()
        }
    }

    fn with_affinity(
        mut p: Pod,
        affinity: Vec<PodAffinityTerm>,
        anti: Vec<PodAffinityTerm>,
    ) -> Pod {
        p.spec.get_or_insert_default().affinity = Some(Affinity {
            pod_affinity: (!affinity.is_empty()).then(|| PodAffinity {
                required_during_scheduling_ignored_during_execution: Some(affinity),
                ..Default::default()
            }),
            pod_anti_affinity: (!anti.is_empty()).then(|| PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(anti),
                ..Default::default()
            }),
            ..Default::default()
        });
        p
    }

    fn run(pod: Pod, nodes: Vec<NodeInfo>) -> Vec<Status> {
        let snapshot = Snapshot::from_nodes(nodes);
        let pod = PodInfo::new(pod);
        let plugin = InterPodAffinity::default();
        let mut state = CycleState::default();
        let pre = plugin.pre_filter(&mut state, &pod, &snapshot);
        snapshot
            .nodes
            .iter()
            .map(|n| {
                if pre.code == Code::Skip {
                    Status::success()
                } else {
                    plugin.filter(&state, &pod, n)
                }
            })
            .collect()
    }

    fn codes(statuses: &[Status]) -> Vec<Code> {
        statuses.iter().map(|s| s.code).collect()
    }

    #[test]
    fn filter() {
        let zone = "topology.kubernetes.io/zone";
        let host = "kubernetes.io/hostname";
        let security_s1 = || labeled_pod("existing", &[("security", "S1")]);
        struct Case {
            name: &'static str,
            pod: Pod,
            nodes: Vec<NodeInfo>,
            want: Vec<Code>,
            message: &'static str,
        }
        let cases = vec![
            Case {
                name: "no affinity, nothing running",
                pod: labeled_pod("p", &[]),
                nodes: vec![node_info(node("n1", &[], &[]), vec![])],
                want: vec![Code::Success],
                message: "",
            },
            Case {
                name: "affinity satisfied by a pod in the same zone",
                pod: with_affinity(
                    labeled_pod("p", &[]),
                    vec![term("security", "In", &["S1"], zone)],
                    vec![],
                ),
                nodes: vec![
                    node_info(node("n1", &[], &[(zone, "z1")]), vec![]),
                    node_info(node("n2", &[], &[(zone, "z1")]), vec![security_s1()]),
                    node_info(node("n3", &[], &[(zone, "z2")]), vec![]),
                ],
                want: vec![
                    Code::Success,
                    Code::Success,
                    Code::UnschedulableAndUnresolvable,
                ],
                message: ERR_AFFINITY,
            },
            Case {
                name: "affinity with no matching pod and not matching itself",
                pod: with_affinity(
                    labeled_pod("p", &[]),
                    vec![term("security", "In", &["S1"], host)],
                    vec![],
                ),
                nodes: vec![node_info(node("n1", &[], &[]), vec![])],
                want: vec![Code::UnschedulableAndUnresolvable],
                message: ERR_AFFINITY,
            },
            Case {
                name: "first pod of a self-affine group may go anywhere",
                pod: with_affinity(
                    labeled_pod("p", &[("security", "S1")]),
                    vec![term("security", "In", &["S1"], host)],
                    vec![],
                ),
                nodes: vec![
                    node_info(node("n1", &[], &[]), vec![]),
                    node_info(node("n2", &[], &[]), vec![]),
                ],
                want: vec![Code::Success, Code::Success],
                message: "",
            },
            Case {
                name: "affinity needs the topology label on the node",
                pod: with_affinity(
                    labeled_pod("p", &[("security", "S1")]),
                    vec![term("security", "In", &["S1"], "rack")],
                    vec![],
                ),
                nodes: vec![node_info(node("n1", &[], &[]), vec![])],
                want: vec![Code::UnschedulableAndUnresolvable],
                message: ERR_AFFINITY,
            },
            Case {
                name: "anti-affinity keeps apart by hostname",
                pod: with_affinity(
                    labeled_pod("p", &[]),
                    vec![],
                    vec![term("security", "In", &["S1"], host)],
                ),
                nodes: vec![
                    node_info(node("n1", &[], &[]), vec![security_s1()]),
                    node_info(node("n2", &[], &[]), vec![]),
                ],
                want: vec![Code::Unschedulable, Code::Success],
                message: ERR_ANTI_AFFINITY,
            },
            Case {
                name: "anti-affinity by zone",
                pod: with_affinity(
                    labeled_pod("p", &[]),
                    vec![],
                    vec![term("security", "Exists", &[], zone)],
                ),
                nodes: vec![
                    node_info(node("n1", &[], &[(zone, "z1")]), vec![security_s1()]),
                    node_info(node("n2", &[], &[(zone, "z1")]), vec![]),
                    node_info(node("n3", &[], &[(zone, "z2")]), vec![]),
                ],
                want: vec![Code::Unschedulable, Code::Unschedulable, Code::Success],
                message: ERR_ANTI_AFFINITY,
            },
            Case {
                name: "existing pod's anti-affinity rejects the incoming pod",
                pod: labeled_pod("p", &[("app", "web")]),
                nodes: vec![
                    node_info(
                        node("n1", &[], &[(zone, "z1")]),
                        vec![with_affinity(
                            labeled_pod("e", &[]),
                            vec![],
                            vec![term("app", "In", &["web"], zone)],
                        )],
                    ),
                    node_info(node("n2", &[], &[(zone, "z1")]), vec![]),
                    node_info(node("n3", &[], &[(zone, "z2")]), vec![]),
                ],
                want: vec![Code::Unschedulable, Code::Unschedulable, Code::Success],
                message: ERR_EXISTING_ANTI_AFFINITY,
            },
            Case {
                name: "existing pod's anti-affinity in another namespace does not apply",
                pod: {
                    let mut p = labeled_pod("p", &[("app", "web")]);
                    p.metadata.namespace = Some("other".into());
                    p
                },
                nodes: vec![node_info(
                    node("n1", &[], &[]),
                    vec![with_affinity(
                        labeled_pod("e", &[]),
                        vec![],
                        vec![term("app", "In", &["web"], host)],
                    )],
                )],
                want: vec![Code::Success],
                message: "",
            },
        ];
        for c in cases {
            let got = run(c.pod, c.nodes);
            assert_eq!(codes(&got), c.want, "{}", c.name);
            for s in got.iter().filter(|s| !s.is_success()) {
                assert_eq!(s.message(), c.message, "{}", c.name);
            }
        }
    }

    #[test]
    fn score_prefers_nodes_near_matching_pods() {
        let zone = "topology.kubernetes.io/zone";
        let mut p = labeled_pod("p", &[]);
        p.spec.get_or_insert_default().affinity = Some(Affinity {
            pod_affinity: Some(PodAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    WeightedPodAffinityTerm {
                        weight: 5,
                        pod_affinity_term: term("app", "In", &["redis"], zone),
                    },
                ]),
                ..Default::default()
            }),
            pod_anti_affinity: Some(PodAntiAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    WeightedPodAffinityTerm {
                        weight: 5,
                        pod_affinity_term: term("app", "In", &["batch"], zone),
                    },
                ]),
                ..Default::default()
            }),
            node_affinity: None,
        });
        let nodes = vec![
            node_info(
                node("n1", &[], &[(zone, "z1")]),
                vec![labeled_pod("r", &[("app", "redis")])],
            ),
            node_info(node("n2", &[], &[(zone, "z1")]), vec![]),
            node_info(node("n3", &[], &[(zone, "z2")]), vec![]),
            node_info(
                node("n4", &[], &[(zone, "z3")]),
                vec![labeled_pod("b", &[("app", "batch")])],
            ),
        ];
        let snapshot = Snapshot::from_nodes(nodes);
        let pod = PodInfo::new(p);
        let refs: Vec<&NodeInfo> = snapshot.nodes.iter().collect();
        let plugin = InterPodAffinity::default();
        let mut state = CycleState::default();
        assert!(
            plugin
                .pre_score(&mut state, &pod, &refs, &snapshot)
                .is_success()
        );
        let mut scores: Vec<i64> = refs.iter().map(|n| plugin.score(&state, &pod, n)).collect();
        assert_eq!(scores, vec![5, 5, 0, -5]);
        plugin.normalize(&state, &pod, &mut scores);
        assert_eq!(scores, vec![100, 100, 50, 0]);
    }

    #[test]
    fn existing_required_affinity_counts_with_hard_weight() {
        let host = "kubernetes.io/hostname";
        let existing = with_affinity(
            labeled_pod("e", &[]),
            vec![term("app", "In", &["web"], host)],
            vec![],
        );
        let snapshot = Snapshot::from_nodes(vec![
            node_info(node("n1", &[], &[]), vec![existing]),
            node_info(node("n2", &[], &[]), vec![]),
        ]);
        let pod = PodInfo::new(labeled_pod("p", &[("app", "web")]));
        let refs: Vec<&NodeInfo> = snapshot.nodes.iter().collect();
        let plugin = InterPodAffinity::default();
        let mut state = CycleState::default();
        assert!(
            plugin
                .pre_score(&mut state, &pod, &refs, &snapshot)
                .is_success()
        );
        let scores: Vec<i64> = refs.iter().map(|n| plugin.score(&state, &pod, n)).collect();
        assert_eq!(scores, vec![DEFAULT_HARD_POD_AFFINITY_WEIGHT, 0]);
    }
}
