//! PodTopologySpread: `topologySpreadConstraints` with `DoNotSchedule` keep
//! the count of matching pods per topology domain within `maxSkew` of the
//! least loaded domain (Filter); `ScheduleAnyway` constraints, or the system
//! default constraints (hostname, maxSkew 3; zone, maxSkew 5) for pods that
//! a Service, ReplicaSet, StatefulSet or ReplicationController selects, prefer
//! less loaded domains (Score).
//!
//! Node inclusion policies follow upstream's defaults: `nodeAffinityPolicy:
//! Honor` (only nodes the pod's node selector and affinity allow count) and
//! `nodeTaintsPolicy: Ignore`.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::TopologySpreadConstraint;
use serde::Deserialize;

use super::node_affinity::required_matches;
use super::taint_toleration::tolerates;
use crate::cache::Snapshot;
use crate::framework::{Code, CycleState, FilterPlugin, MAX_NODE_SCORE, ScorePlugin, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::selector::Selector;

pub const NAME: &str = "PodTopologySpread";
/// `ErrReasonConstraintsNotMatch`.
pub const ERR_CONSTRAINTS_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
/// `ErrReasonNodeLabelNotMatch`.
pub const ERR_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";

/// A default constraint of the plugin args (`defaultConstraints`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultConstraint {
    pub max_skew: i32,
    pub topology_key: String,
    pub when_unsatisfiable: String,
}

/// `PodTopologySpreadArgs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpreadArgs {
    /// `defaultingType: System` (the built-in defaults) or `List`.
    pub system_defaulted: bool,
    pub default_constraints: Vec<DefaultConstraint>,
}

impl Default for SpreadArgs {
    fn default() -> Self {
        SpreadArgs {
            system_defaulted: true,
            default_constraints: system_default_constraints(),
        }
    }
}

/// `systemDefaultConstraints`.
pub fn system_default_constraints() -> Vec<DefaultConstraint> {
    vec![
        DefaultConstraint {
            max_skew: 3,
            topology_key: LABEL_HOSTNAME.into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
        },
        DefaultConstraint {
            max_skew: 5,
            topology_key: LABEL_ZONE.into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
        },
    ]
}

pub struct PodTopologySpread {
    pub args: SpreadArgs,
    counts: CountCache,
}

impl PodTopologySpread {
    pub fn new(args: SpreadArgs) -> PodTopologySpread {
        PodTopologySpread {
            args,
            counts: CountCache::default(),
        }
    }
}

/// Matching-pod counts per (namespace and selector, node), valid while the
/// node's pods do not change ([`NodeInfo::pods_generation`]).
///
/// Why: upstream counts a node's matching pods afresh in every cycle, so each
/// pod costs O(pods in the cluster); with the default constraints every pod of
/// a ReplicaSet is such a pod. Between two cycles only the node that got the
/// last pod changed, so the other counts are reused.
#[derive(Debug, Default)]
struct CountCache {
    by_selector: std::sync::Mutex<HashMap<String, NodeCounts>>,
}

/// Node name → (pods generation, matching pods).
type NodeCounts = HashMap<String, (u64, i64)>;

/// Distinct selectors kept before the cache starts over (it only saves work).
const COUNT_CACHE_SELECTORS: usize = 4096;

impl CountCache {
    /// Runs `f` with the per-node counts of one namespace and selector,
    /// under one lock: a cycle looks at every node, so locking and hashing
    /// the selector key once per node would cost as much as the counts.
    fn with_node_counts<R>(&self, count_key: &str, f: impl FnOnce(&mut NodeCounts) -> R) -> R {
        let mut all = self.by_selector.lock().unwrap_or_else(|e| e.into_inner());
        if !all.contains_key(count_key) && all.len() >= COUNT_CACHE_SELECTORS {
            all.clear();
        }
        let per_node = match all.get_mut(count_key) {
            Some(per_node) => per_node,
            None => all.entry(count_key.to_string()).or_default(),
        };
        f(per_node)
    }

    fn count(&self, node: &NodeInfo, c: &Constraint, namespace: &str) -> i64 {
        self.with_node_counts(&c.count_key, |per_node| {
            count_cached(per_node, node, c, namespace)
        })
    }
}

/// A node's matching pods, from `per_node` while the node's pods are
/// unchanged.
fn count_cached(
    per_node: &mut NodeCounts,
    node: &NodeInfo,
    c: &Constraint,
    namespace: &str,
) -> i64 {
    if let Some(entry) = per_node.get_mut(&node.name) {
        if entry.0 != node.pods_generation {
            *entry = (
                node.pods_generation,
                count_matching(node, &c.selector, namespace),
            );
        }
        return entry.1;
    }
    let n = count_matching(node, &c.selector, namespace);
    per_node.insert(node.name.clone(), (node.pods_generation, n));
    n
}

/// Adds `n` to the count of `value`, allocating the key only for a new
/// domain (a cycle visits every node, and domains are few).
fn add_to_domain(counts: &mut HashMap<String, i64>, value: &str, n: i64) {
    match counts.get_mut(value) {
        Some(e) => *e += n,
        None => {
            counts.insert(value.to_string(), n);
        }
    }
}

/// A compiled constraint.
#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    topology_key: String,
    selector: Selector,
    min_domains: i64,
    honor_node_affinity: bool,
    honor_node_taints: bool,
    /// The namespace and selector, as the key of [`CountCache`].
    count_key: String,
}

fn count_key(namespace: &str, selector: &Selector) -> String {
    format!("{namespace}\0{selector:?}")
}

impl Constraint {
    /// `matchNodeInclusionPolicies`.
    fn includes(&self, pod: &PodInfo, node: &NodeInfo) -> bool {
        if self.honor_node_affinity && !required_matches(pod, node) {
            return false;
        }
        if self.honor_node_taints {
            let untolerated = node.taints.iter().any(|taint| {
                (taint.effect == "NoSchedule" || taint.effect == "NoExecute")
                    && !pod.tolerations.iter().any(|t| tolerates(t, taint))
            });
            if untolerated {
                return false;
            }
        }
        true
    }
}

fn has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    constraints
        .iter()
        .all(|c| node.labels.contains_key(&c.topology_key))
}

/// `countPodsMatchSelector`: pods of the namespace, not terminating, that
/// the selector matches.
fn count_matching(node: &NodeInfo, selector: &Selector, namespace: &str) -> i64 {
    node.pods
        .iter()
        .filter(|p| !p.terminating && p.namespace == namespace && selector.matches(&p.labels))
        .count() as i64
}

impl PodTopologySpread {
    /// The pod's constraints with the given `whenUnsatisfiable`, or the
    /// default constraints when the pod has none.
    fn constraints(&self, pod: &PodInfo, snapshot: &Snapshot, action: &str) -> Vec<Constraint> {
        let explicit: &[TopologySpreadConstraint] = pod
            .spec()
            .and_then(|s| s.topology_spread_constraints.as_deref())
            .unwrap_or_default();
        if !explicit.is_empty() {
            return explicit
                .iter()
                .filter(|c| c.when_unsatisfiable == action)
                .map(|c| {
                    let mut selector = Selector::from_label_selector(c.label_selector.as_ref());
                    for key in c.match_label_keys.iter().flatten() {
                        if let Some(v) = pod.labels.get(key) {
                            selector.add_equals(key, v);
                        }
                    }
                    Constraint {
                        max_skew: i64::from(c.max_skew),
                        topology_key: c.topology_key.clone(),
                        min_domains: i64::from(c.min_domains.unwrap_or(1)),
                        honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                        honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
                        count_key: count_key(&pod.namespace, &selector),
                        selector,
                    }
                })
                .collect();
        }
        let defaults: Vec<&DefaultConstraint> = self
            .args
            .default_constraints
            .iter()
            .filter(|c| c.when_unsatisfiable == action)
            .collect();
        if defaults.is_empty() {
            return Vec::new();
        }
        let selector = snapshot.owners.default_selector(pod);
        if selector.requirements.is_empty() {
            return Vec::new();
        }
        defaults
            .into_iter()
            .map(|c| Constraint {
                max_skew: i64::from(c.max_skew),
                topology_key: c.topology_key.clone(),
                count_key: count_key(&pod.namespace, &selector),
                selector: selector.clone(),
                min_domains: 1,
                honor_node_affinity: true,
                honor_node_taints: false,
            })
            .collect()
    }
}

#[derive(Clone)]
struct PreFilterState {
    constraints: Vec<Constraint>,
    /// Per constraint: topology value → matching pods.
    counts: Vec<HashMap<String, i64>>,
    /// Per constraint: the lowest count over its domains.
    min: Vec<i64>,
    /// Per constraint: 1 when its selector matches the incoming pod itself
    /// (the same for every node, so not worked out per node).
    self_match: Vec<i64>,
}

impl PreFilterState {
    fn recompute_min(&mut self, i: usize) {
        self.min[i] = self.counts[i].values().copied().min().unwrap_or(0);
    }

    /// `minMatchNum`: with fewer domains than `minDomains` the minimum is 0.
    fn min_match(&self, i: usize) -> i64 {
        if (self.counts[i].len() as i64) < self.constraints[i].min_domains {
            0
        } else {
            self.min[i]
        }
    }

    fn update(&mut self, pod: &PodInfo, changed: &PodInfo, node: &NodeInfo, delta: i64) {
        if changed.namespace != pod.namespace || !has_all_keys(node, &self.constraints) {
            return;
        }
        for i in 0..self.constraints.len() {
            let c = &self.constraints[i];
            if !c.selector.matches(&changed.labels) || !c.includes(pod, node) {
                continue;
            }
            let Some(v) = node.labels.get(&c.topology_key) else {
                continue;
            };
            *self.counts[i].entry(v.clone()).or_default() += delta;
            self.recompute_min(i);
        }
    }
}

impl FilterPlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status {
        let constraints = self.constraints(pod, snapshot, "DoNotSchedule");
        if constraints.is_empty() {
            return Status::skip();
        }
        let mut counts = vec![HashMap::<String, i64>::new(); constraints.len()];
        for (i, c) in constraints.iter().enumerate() {
            self.counts.with_node_counts(&c.count_key, |per_node| {
                for node in &snapshot.nodes {
                    if !has_all_keys(node, &constraints) || !c.includes(pod, node) {
                        continue;
                    }
                    let Some(v) = node.labels.get(&c.topology_key) else {
                        continue;
                    };
                    let n = count_cached(per_node, node, c, &pod.namespace);
                    add_to_domain(&mut counts[i], v, n);
                }
            });
        }
        let self_match = constraints
            .iter()
            .map(|c| i64::from(c.selector.matches(&pod.labels)))
            .collect();
        let mut st = PreFilterState {
            min: vec![0; constraints.len()],
            self_match,
            constraints,
            counts,
        };
        for i in 0..st.constraints.len() {
            st.recompute_min(i);
        }
        state.write(st);
        Status::success()
    }

    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(st) = state.read::<PreFilterState>() else {
            return Status::new(Code::Error, "PodTopologySpread PreFilter state missing");
        };
        for (i, c) in st.constraints.iter().enumerate() {
            let Some(value) = node.labels.get(&c.topology_key) else {
                return Status::unresolvable(ERR_NODE_LABEL_NOT_MATCH);
            };
            let matching = st.counts[i].get(value).copied().unwrap_or(0);
            let skew = matching + st.self_match[i] - st.min_match(i);
            if skew > c.max_skew {
                return Status::unschedulable(ERR_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }

    fn add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        added: &PodInfo,
        node: &NodeInfo,
        _s: &Snapshot,
    ) {
        if let Some(st) = state.read_mut::<PreFilterState>() {
            st.update(pod, added, node, 1);
        }
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &PodInfo,
        node: &NodeInfo,
        _s: &Snapshot,
    ) {
        if let Some(st) = state.read_mut::<PreFilterState>() {
            st.update(pod, removed, node, -1);
        }
    }
}

#[derive(Clone)]
struct PreScoreState {
    constraints: Vec<Constraint>,
    ignored: HashSet<String>,
    /// Per constraint (not hostname): topology value → matching pods.
    counts: Vec<HashMap<String, i64>>,
    weights: Vec<f64>,
}

/// Marks an ignored node's raw score for `normalize`.
const IGNORED: i64 = i64::MIN;

impl ScorePlugin for PodTopologySpread {
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
        if nodes.is_empty() || snapshot.nodes.is_empty() {
            return Status::skip();
        }
        let constraints = self.constraints(pod, snapshot, "ScheduleAnyway");
        if constraints.is_empty() {
            return Status::skip();
        }
        let has_explicit = pod
            .spec()
            .and_then(|s| s.topology_spread_constraints.as_ref())
            .is_some_and(|c| !c.is_empty());
        let require_all = has_explicit || !self.args.system_defaulted;
        let mut ignored = HashSet::new();
        let mut counts = vec![HashMap::<String, i64>::new(); constraints.len()];
        for node in nodes {
            if require_all && !has_all_keys(node, &constraints) {
                ignored.insert(node.name.clone());
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key == LABEL_HOSTNAME {
                    continue;
                }
                if let Some(v) = node.labels.get(&c.topology_key) {
                    counts[i].entry(v.clone()).or_insert(0);
                }
            }
        }
        let weights = constraints
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let size = if c.topology_key == LABEL_HOSTNAME {
                    nodes.len() - ignored.len()
                } else {
                    counts[i].len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        let any_domain_counts = constraints.iter().any(|c| c.topology_key != LABEL_HOSTNAME);
        if any_domain_counts {
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key == LABEL_HOSTNAME {
                    continue;
                }
                self.counts.with_node_counts(&c.count_key, |per_node| {
                    for node in &snapshot.nodes {
                        if require_all && !has_all_keys(node, &constraints) {
                            continue;
                        }
                        if !c.includes(pod, node) {
                            continue;
                        }
                        let Some(v) = node.labels.get(&c.topology_key) else {
                            continue;
                        };
                        if counts[i].contains_key(v) {
                            let n = count_cached(per_node, node, c, &pod.namespace);
                            add_to_domain(&mut counts[i], v, n);
                        }
                    }
                });
            }
        }
        state.write(PreScoreState {
            constraints,
            ignored,
            counts,
            weights,
        });
        Status::success()
    }

    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(st) = state.read::<PreScoreState>() else {
            return 0;
        };
        if st.ignored.contains(&node.name) {
            return IGNORED;
        }
        let mut score = 0.0;
        for (i, c) in st.constraints.iter().enumerate() {
            let Some(v) = node.labels.get(&c.topology_key) else {
                continue;
            };
            let count = if c.topology_key == LABEL_HOSTNAME {
                self.counts.count(node, c, &pod.namespace)
            } else {
                st.counts[i].get(v).copied().unwrap_or(0)
            };
            // scoreForCount
            score += count as f64 * st.weights[i] + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }

    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [i64]) {
        let counted = scores.iter().copied().filter(|s| *s != IGNORED);
        let min = counted.clone().min().unwrap_or(i64::MAX);
        let max = counted.max().unwrap_or(0).max(0);
        for s in scores.iter_mut() {
            *s = if *s == IGNORED {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *s) / max
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::{labeled_pod, node, node_info};
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn spread(mut p: Pod, constraints: &[(i32, &str, &str)]) -> Pod {
        p.spec.get_or_insert_default().topology_spread_constraints = Some(
            constraints
                .iter()
                .map(|(skew, key, when)| TopologySpreadConstraint {
                    max_skew: *skew,
                    topology_key: key.to_string(),
                    when_unsatisfiable: when.to_string(),
                    label_selector: Some(LabelSelector {
                        match_labels: Some([("foo".to_string(), "".to_string())].into()),
                        match_expressions: None,
                    }),
                    ..Default::default()
                })
                .collect(),
        );
        p
    }

    fn foo(name: &str) -> Pod {
        labeled_pod(name, &[("foo", "")])
    }

    fn run_filter(pod: Pod, nodes: Vec<NodeInfo>) -> Vec<Code> {
        let snapshot = Snapshot::from_nodes(nodes);
        let pod = PodInfo::new(pod);
        let plugin = PodTopologySpread::new(SpreadArgs::default());
        let mut state = CycleState::default();
        let pre = plugin.pre_filter(&mut state, &pod, &snapshot);
        snapshot
            .nodes
            .iter()
            .map(|n| {
                if pre.code == Code::Skip {
                    Code::Success
                } else {
                    plugin.filter(&state, &pod, n).code
                }
            })
            .collect()
    }

    fn zone_nodes(pods_per_node: &[usize]) -> Vec<NodeInfo> {
        // node-a, node-b in zone1; node-x, node-y in zone2 (upstream's layout).
        let names = ["node-a", "node-b", "node-x", "node-y"];
        let zones = ["zone1", "zone1", "zone2", "zone2"];
        names
            .iter()
            .zip(zones)
            .zip(pods_per_node)
            .map(|((name, zone), n)| {
                node_info(
                    node(name, &[], &[("zone", zone)]),
                    (0..*n).map(|i| foo(&format!("{name}-{i}"))).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn filter() {
        use Code::{Success as S, Unschedulable as U, UnschedulableAndUnresolvable as X};
        struct Case {
            name: &'static str,
            pod: Pod,
            nodes: Vec<NodeInfo>,
            want: Vec<Code>,
        }
        let cases = vec![
            Case {
                name: "no constraints",
                pod: foo("p"),
                nodes: zone_nodes(&[3, 0, 0, 0]),
                want: vec![S, S, S, S],
            },
            Case {
                name: "zone spread, maxSkew 1: zone1 has 3, zone2 has 1",
                pod: spread(foo("p"), &[(1, "zone", "DoNotSchedule")]),
                nodes: zone_nodes(&[2, 1, 1, 0]),
                want: vec![U, U, S, S],
            },
            Case {
                name: "hostname spread, maxSkew 1",
                pod: spread(foo("p"), &[(1, "kubernetes.io/hostname", "DoNotSchedule")]),
                nodes: zone_nodes(&[1, 1, 0, 1]),
                want: vec![U, U, S, U],
            },
            Case {
                name: "ScheduleAnyway does not filter",
                pod: spread(foo("p"), &[(1, "zone", "ScheduleAnyway")]),
                nodes: zone_nodes(&[5, 0, 0, 0]),
                want: vec![S, S, S, S],
            },
            Case {
                name: "node without the key is unresolvable",
                pod: spread(foo("p"), &[(1, "rack", "DoNotSchedule")]),
                nodes: zone_nodes(&[0, 0, 0, 0]),
                want: vec![X, X, X, X],
            },
            Case {
                name: "a pod that does not match its own selector adds nothing",
                pod: spread(
                    labeled_pod("p", &[("bar", "")]),
                    &[(1, "zone", "DoNotSchedule")],
                ),
                nodes: zone_nodes(&[1, 0, 0, 0]),
                want: vec![S, S, S, S],
            },
            Case {
                name: "two constraints must both hold",
                pod: spread(
                    foo("p"),
                    &[
                        (1, "zone", "DoNotSchedule"),
                        (1, "kubernetes.io/hostname", "DoNotSchedule"),
                    ],
                ),
                nodes: zone_nodes(&[1, 0, 1, 1]),
                want: vec![U, S, U, U],
            },
        ];
        for c in cases {
            assert_eq!(run_filter(c.pod, c.nodes), c.want, "{}", c.name);
        }
    }

    #[test]
    fn min_domains_counts_missing_domains_as_zero() {
        let mut p = spread(foo("p"), &[(1, "zone", "DoNotSchedule")]);
        if let Some(c) = p
            .spec
            .as_mut()
            .and_then(|s| s.topology_spread_constraints.as_mut())
        {
            c[0].min_domains = Some(3);
        }
        // zone1: 1 pod, zone2: 1 pod; with 2 < 3 domains the global min is 0.
        let got = run_filter(p, zone_nodes(&[1, 0, 1, 0]));
        assert_eq!(got, vec![Code::Unschedulable; 4]);
    }

    #[test]
    fn score_prefers_emptier_domains() {
        let pod = PodInfo::new(spread(foo("p"), &[(1, "zone", "ScheduleAnyway")]));
        let snapshot = Snapshot::from_nodes(zone_nodes(&[2, 1, 1, 0]));
        let refs: Vec<&NodeInfo> = snapshot.nodes.iter().collect();
        let plugin = PodTopologySpread::new(SpreadArgs::default());
        let mut state = CycleState::default();
        assert!(
            plugin
                .pre_score(&mut state, &pod, &refs, &snapshot)
                .is_success()
        );
        let mut scores: Vec<i64> = refs.iter().map(|n| plugin.score(&state, &pod, n)).collect();
        // weight ln(2+2): zone1 3 pods → round(3×1.386) = 4; zone2 1 pod → 1
        assert_eq!(scores, vec![4, 4, 1, 1]);
        plugin.normalize(&state, &pod, &mut scores);
        assert_eq!(scores, vec![25, 25, 100, 100]);
    }

    #[test]
    fn default_constraints_need_an_owner() {
        let pod = PodInfo::new(foo("p"));
        let mut snapshot = Snapshot::from_nodes(zone_nodes(&[1, 0, 0, 0]));
        let refs: Vec<&NodeInfo> = snapshot.nodes.iter().collect();
        let plugin = PodTopologySpread::new(SpreadArgs::default());
        let mut state = CycleState::default();
        assert_eq!(
            plugin.pre_score(&mut state, &pod, &refs, &snapshot).code,
            Code::Skip
        );
        drop(refs);
        snapshot
            .owners
            .services
            .entry("default".into())
            .or_default()
            .insert("svc".into(), [("foo".to_string(), "".to_string())].into());
        let refs: Vec<&NodeInfo> = snapshot.nodes.iter().collect();
        assert!(
            plugin
                .pre_score(&mut state, &pod, &refs, &snapshot)
                .is_success()
        );
        let mut scores: Vec<i64> = refs.iter().map(|n| plugin.score(&state, &pod, n)).collect();
        plugin.normalize(&state, &pod, &mut scores);
        // node-a already has a matching pod: it scores lowest.
        assert!(scores[0] < scores[1] && scores[1] == scores[2]);
    }

    #[test]
    fn cached_counts_follow_the_pods_of_the_node() {
        let plugin = PodTopologySpread::new(SpreadArgs::default());
        let pod = PodInfo::new(spread(
            foo("p"),
            &[(1, "kubernetes.io/hostname", "DoNotSchedule")],
        ));
        let snapshot = Snapshot::from_nodes(vec![]);
        let c = plugin
            .constraints(&pod, &snapshot, "DoNotSchedule")
            .remove(0);
        let mut info = node_info(node("node-a", &[], &[]), vec![foo("a1"), foo("a2")]);
        let ns = pod.namespace.clone();
        assert_eq!(plugin.counts.count(&info, &c, &ns), 2);
        // Cached: the same answer without the pods changing.
        assert_eq!(plugin.counts.count(&info, &c, &ns), 2);
        info.add_pod(std::sync::Arc::new(PodInfo::new(foo("a3"))));
        assert_eq!(plugin.counts.count(&info, &c, &ns), 3);
        let uid = info.pods[0].uid.clone();
        info.remove_pod(&uid);
        assert_eq!(plugin.counts.count(&info, &c, &ns), 2);
        // A pod the selector does not match changes nothing.
        info.add_pod(std::sync::Arc::new(PodInfo::new(labeled_pod(
            "b",
            &[("bar", "")],
        ))));
        assert_eq!(plugin.counts.count(&info, &c, &ns), 2);
    }
}
