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
use crate::selector::{Labels, Selector};

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

/// Matching pods per topology domain over all nodes, per (namespace and
/// selector, topology key), kept up to date node by node.
///
/// Why: upstream counts every node's matching pods afresh in every cycle, so
/// each pod costs O(pods in the cluster); with the default constraints every
/// pod of a ReplicaSet is such a pod. Between two cycles only the nodes that
/// got or lost a pod change ([`NodeInfo::generation`]), so a cycle compares
/// one number per node and recounts only those, and the per-domain sums
/// follow. At 5,000 nodes the per-node hashing and label lookups of the
/// plain loop were a quarter of the server's CPU in a ReplicaSet fill.
#[derive(Debug, Default)]
struct CountCache {
    state: std::sync::Mutex<CountState>,
}

#[derive(Debug, Default)]
struct CountState {
    /// Topology key → its domains (label values) as small ids, shared by
    /// every selector so a hostname is stored once, not once per selector.
    domains: HashMap<String, DomainIds>,
    /// [`Constraint::count_key`] → counts.
    counts: HashMap<String, DomainCounts>,
}

#[derive(Debug, Default)]
struct DomainIds {
    ids: HashMap<String, u32>,
    /// By id.
    names: Vec<String>,
}

impl DomainIds {
    fn intern(&mut self, value: &str) -> u32 {
        if let Some(id) = self.ids.get(value) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(value.to_string(), id);
        self.names.push(value.to_string());
        id
    }
}

/// The index of `node` in `nodes` when it is one of its elements (the
/// filtered nodes a plugin gets are references into the snapshot): finds
/// the node's cached slot without hashing its name or reading its labels.
fn index_in(nodes: &[NodeInfo], node: &NodeInfo) -> Option<usize> {
    let size = std::mem::size_of::<NodeInfo>().max(1);
    let offset = (node as *const NodeInfo as usize).checked_sub(nodes.as_ptr() as usize)?;
    let i = offset / size;
    (i < nodes.len() && std::ptr::eq(&nodes[i], node)).then_some(i)
}

/// No domain: the node lacks the topology key (or another required key).
const NO_DOMAIN: u32 = u32::MAX;

#[derive(Debug, Default)]
struct DomainCounts {
    /// By node index in the snapshot: the node's generation when counted,
    /// its domain and its matching pods. A node that moved to another index
    /// has another generation, so it is recounted there.
    per_node: Vec<NodeCount>,
    /// By domain id: nodes in the domain and their matching pods.
    sums: Vec<(u32, i64)>,
}

#[derive(Debug, Clone, Copy)]
struct NodeCount {
    generation: u64,
    domain: u32,
    pods: i64,
}

impl DomainCounts {
    fn add(&mut self, slot: NodeCount, sign: i64) {
        if slot.domain == NO_DOMAIN {
            return;
        }
        let i = slot.domain as usize;
        if self.sums.len() <= i {
            self.sums.resize(i + 1, (0, 0));
        }
        let sum = &mut self.sums[i];
        sum.0 = if sign > 0 { sum.0 + 1 } else { sum.0 - 1 };
        sum.1 += sign * slot.pods;
    }

    /// Brings the counts up to `snapshot`'s nodes for the constraint `c`;
    /// nodes without every key of `required` belong to no domain.
    fn refresh(
        &mut self,
        ids: &mut DomainIds,
        snapshot: &Snapshot,
        c: &Constraint,
        namespace: &str,
        required: &[&str],
    ) {
        let nodes = &snapshot.nodes;
        while self.per_node.len() > nodes.len() {
            if let Some(slot) = self.per_node.pop() {
                self.add(slot, -1);
            }
        }
        let fresh = NodeCount {
            generation: 0,
            domain: NO_DOMAIN,
            pods: 0,
        };
        self.per_node.resize(nodes.len(), fresh);
        for (i, node) in nodes.iter().enumerate() {
            let old = self.per_node[i];
            if old.generation == node.generation {
                continue;
            }
            self.add(old, -1);
            let domain = match node.labels.get(&c.topology_key) {
                Some(v) if required.iter().all(|k| node.labels.contains_key(*k)) => ids.intern(v),
                _ => NO_DOMAIN,
            };
            let pods = if domain == NO_DOMAIN {
                0
            } else if let Some(changes) = node
                .changes_since(old.generation)
                .filter(|_| old.domain == domain)
            {
                // Usually a pod or two since the last count: matching them
                // beats matching every pod of the node again.
                old.pods
                    + changes
                        .filter(|p| {
                            counted(
                                &c.selector,
                                namespace,
                                &p.namespace,
                                &p.labels,
                                p.terminating,
                            )
                        })
                        .map(|p| if p.added { 1 } else { -1 })
                        .sum::<i64>()
            } else {
                count_matching(node, &c.selector, namespace)
            };
            let slot = NodeCount {
                generation: node.generation,
                domain,
                pods,
            };
            self.add(slot, 1);
            self.per_node[i] = slot;
        }
    }
}

/// Distinct constraints kept before the cache starts over (it only saves
/// work; each holds a few numbers per node).
const COUNT_CACHE_ENTRIES: usize = 4096;

/// Which nodes count for a constraint.
#[derive(Clone, Copy)]
enum Nodes<'a> {
    /// Every node with the keys.
    All,
    /// Only these (the nodes that passed the filters).
    Only(&'a [&'a NodeInfo]),
}

impl CountCache {
    /// Matching pods per domain of `c` over the nodes of `snapshot` that
    /// have every key of `required` and that `c` includes for `pod`
    /// (`matchNodeInclusionPolicies`); with [`Nodes::Only`], only the
    /// domains those nodes are in. Domains without matching pods count 0.
    fn domain_counts(
        &self,
        snapshot: &Snapshot,
        c: &Constraint,
        pod: &PodInfo,
        required: &[&str],
        only: Nodes<'_>,
    ) -> HashMap<String, i64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let CountState { domains, counts } = &mut *state;
        let key = if required.is_empty() {
            format!("{}\0{}", c.count_key, c.topology_key)
        } else {
            format!(
                "{}\0{}\0{}",
                c.count_key,
                c.topology_key,
                required.join("\0")
            )
        };
        if !counts.contains_key(&key) && counts.len() >= COUNT_CACHE_ENTRIES {
            counts.clear();
        }
        let ids = domains.entry(c.topology_key.clone()).or_default();
        let entry = counts.entry(key).or_default();
        entry.refresh(ids, snapshot, c, &pod.namespace, required);

        // The ids of the domains asked for.
        let mut seen = vec![false; ids.names.len()];
        let mut wanted: Vec<u32> = Vec::new();
        let mut want = |id: u32| {
            if let Some(s) = seen.get_mut(id as usize).filter(|s| !**s) {
                *s = true;
                wanted.push(id);
            }
        };
        match only {
            Nodes::Only(nodes) => {
                for node in nodes {
                    match index_in(&snapshot.nodes, node) {
                        Some(i) => want(entry.per_node[i].domain),
                        None => {
                            let has_keys = required.iter().all(|k| node.labels.contains_key(*k));
                            if let Some(id) = node
                                .labels
                                .get(&c.topology_key)
                                .and_then(|v| ids.ids.get(v))
                                .filter(|_| has_keys)
                            {
                                want(*id);
                            }
                        }
                    }
                }
            }
            Nodes::All => {
                for (id, sum) in entry.sums.iter().enumerate() {
                    if sum.0 > 0 {
                        want(id as u32);
                    }
                }
            }
        }
        if c.includes_all(pod) {
            return wanted
                .into_iter()
                .map(|id| {
                    let n = entry.sums.get(id as usize).map_or(0, |s| s.1);
                    (ids.names[id as usize].clone(), n)
                })
                .collect();
        }
        // The pod's node affinity or the taints leave some nodes out: sum the
        // included nodes' (cached) counts.
        let mut out = HashMap::new();
        for (node, slot) in snapshot.nodes.iter().zip(&entry.per_node) {
            if slot.domain == NO_DOMAIN || !seen[slot.domain as usize] {
                continue;
            }
            let v = &ids.names[slot.domain as usize];
            if c.includes(pod, node) {
                *out.entry(v.to_string()).or_insert(0) += slot.pods;
            }
        }
        out
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
    /// Whether [`Constraint::includes`] is true of every node for `pod`.
    fn includes_all(&self, pod: &PodInfo) -> bool {
        !self.honor_node_taints
            && (!self.honor_node_affinity
                || (pod.node_selector.is_none() && pod.required_node_affinity.is_none()))
    }

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
        .filter(|p| counted(selector, namespace, &p.namespace, &p.labels, p.terminating))
        .count() as i64
}

/// Whether a pod of `pod_namespace` with `labels` counts for `selector`
/// in `namespace`.
fn counted(
    selector: &Selector,
    namespace: &str,
    pod_namespace: &str,
    labels: &Labels,
    terminating: bool,
) -> bool {
    !terminating && pod_namespace == namespace && selector.matches(labels)
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
        let required: Vec<&str> = constraints
            .iter()
            .map(|c| c.topology_key.as_str())
            .collect();
        let counts = constraints
            .iter()
            .map(|c| {
                self.counts
                    .domain_counts(snapshot, c, pod, &required, Nodes::All)
            })
            .collect();
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
    /// Per constraint: topology value → matching pods.
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
        for node in nodes {
            if require_all && !has_all_keys(node, &constraints) {
                ignored.insert(node.name.clone());
            }
        }
        let required: Vec<&str> = if require_all {
            constraints
                .iter()
                .map(|c| c.topology_key.as_str())
                .collect()
        } else {
            Vec::new()
        };
        // Every domain of a node that passed the filters, with the matching
        // pods of that domain over all nodes.
        let counts: Vec<HashMap<String, i64>> = constraints
            .iter()
            .map(|c| {
                self.counts
                    .domain_counts(snapshot, c, pod, &required, Nodes::Only(nodes))
            })
            .collect();
        let weights = constraints
            .iter()
            .zip(&counts)
            .map(|(c, counts)| {
                let size = if c.topology_key == LABEL_HOSTNAME {
                    nodes.len() - ignored.len()
                } else {
                    counts.len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        state.write(PreScoreState {
            constraints,
            ignored,
            counts,
            weights,
        });
        Status::success()
    }

    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> i64 {
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
            let count = st.counts[i].get(v).copied().unwrap_or(0);
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
    use std::sync::Arc;

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
    fn cached_counts_follow_the_pods_and_labels_of_the_nodes() {
        let plugin = PodTopologySpread::new(SpreadArgs::default());
        let pod = PodInfo::new(spread(foo("p"), &[(1, "zone", "DoNotSchedule")]));
        let mut snapshot = Snapshot::from_nodes(zone_nodes(&[2, 1, 0, 0]));
        let c = plugin
            .constraints(&pod, &snapshot, "DoNotSchedule")
            .remove(0);
        // Each answer is checked against a cache that counts from scratch.
        let counts = |snapshot: &Snapshot| {
            let sorted = |m: HashMap<String, i64>| {
                let mut v: Vec<(String, i64)> = m.into_iter().collect();
                v.sort();
                v
            };
            let got = sorted(
                plugin
                    .counts
                    .domain_counts(snapshot, &c, &pod, &[], Nodes::All),
            );
            let fresh = PodTopologySpread::new(SpreadArgs::default());
            let want = sorted(
                fresh
                    .counts
                    .domain_counts(snapshot, &c, &pod, &[], Nodes::All),
            );
            assert_eq!(got, want, "incremental counts differ from a full count");
            got.into_iter()
                .map(|(d, n)| format!("{d}={n}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(counts(&snapshot), "zone1=3 zone2=0");
        assert_eq!(counts(&snapshot), "zone1=3 zone2=0");
        snapshot.nodes[2].add_pod(Arc::new(PodInfo::new(foo("x1"))));
        assert_eq!(counts(&snapshot), "zone1=3 zone2=1");
        let uid = snapshot.nodes[0].pods[0].uid.clone();
        snapshot.nodes[0].remove_pod(&uid);
        assert_eq!(counts(&snapshot), "zone1=2 zone2=1");
        // A pod the selector does not match changes nothing.
        snapshot.nodes[3].add_pod(Arc::new(PodInfo::new(labeled_pod("b", &[("bar", "")]))));
        assert_eq!(counts(&snapshot), "zone1=2 zone2=1");
        // More changes at once than a node keeps: counted from scratch.
        for i in 0..6 {
            snapshot.nodes[3].add_pod(Arc::new(PodInfo::new(foo(&format!("y{i}")))));
        }
        assert_eq!(counts(&snapshot), "zone1=2 zone2=7");
        // A pod turning terminating (replaced in the cache) stops counting.
        let uid = snapshot.nodes[3].pods[1].uid.clone();
        let mut gone = foo("y0");
        gone.metadata.uid = Some(uid.clone());
        gone.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        snapshot.nodes[3].remove_pod(&uid);
        snapshot.nodes[3].add_pod(Arc::new(PodInfo::new(gone)));
        assert_eq!(counts(&snapshot), "zone1=2 zone2=6");
        for i in 1..6 {
            let uid = snapshot.nodes[3]
                .pods
                .iter()
                .find(|p| p.name == format!("y{i}"))
                .map(|p| p.uid.clone())
                .expect("pod");
            snapshot.nodes[3].remove_pod(&uid);
        }
        assert_eq!(counts(&snapshot), "zone1=2 zone2=1");
        // node-b (one pod) moves to zone2.
        snapshot.nodes[1].set_node(Arc::new(node("node-b", &[], &[("zone", "zone2")])));
        assert_eq!(counts(&snapshot), "zone1=1 zone2=2");
        // node-a leaves; node-y takes its place in the list.
        snapshot.nodes.swap_remove(0);
        assert_eq!(counts(&snapshot), "zone2=2");
        // A node without the key is in no domain.
        snapshot
            .nodes
            .push(node_info(node("node-z", &[], &[]), vec![foo("z1")]));
        assert_eq!(counts(&snapshot), "zone2=2");
    }

    #[test]
    fn counts_honor_the_pods_node_affinity() {
        let plugin = PodTopologySpread::new(SpreadArgs::default());
        let mut p = spread(foo("p"), &[(1, "zone", "DoNotSchedule")]);
        p.spec.get_or_insert_default().node_selector =
            Some([("zone".to_string(), "zone2".to_string())].into());
        let pod = PodInfo::new(p);
        let snapshot = Snapshot::from_nodes(zone_nodes(&[2, 1, 1, 0]));
        let c = plugin
            .constraints(&pod, &snapshot, "DoNotSchedule")
            .remove(0);
        assert!(!c.includes_all(&pod));
        let got = plugin
            .counts
            .domain_counts(&snapshot, &c, &pod, &[], Nodes::All);
        // zone1's nodes are not eligible for the pod: they do not count.
        assert_eq!(got, [("zone2".to_string(), 1)].into());
        let only: Vec<&NodeInfo> = snapshot.nodes[2..].iter().collect();
        let got = plugin
            .counts
            .domain_counts(&snapshot, &c, &pod, &[], Nodes::Only(&only));
        assert_eq!(got, [("zone2".to_string(), 1)].into());
    }

    #[test]
    fn filtered_nodes_outside_the_snapshot_are_looked_up_by_label() {
        let plugin = PodTopologySpread::new(SpreadArgs::default());
        let pod = PodInfo::new(spread(foo("p"), &[(1, "zone", "ScheduleAnyway")]));
        let snapshot = Snapshot::from_nodes(zone_nodes(&[2, 1, 1, 0]));
        assert_eq!(index_in(&snapshot.nodes, &snapshot.nodes[3]), Some(3));
        let copy = snapshot.nodes[3].clone();
        assert_eq!(index_in(&snapshot.nodes, &copy), None);
        let c = plugin
            .constraints(&pod, &snapshot, "ScheduleAnyway")
            .remove(0);
        let only = [&copy];
        let got = plugin
            .counts
            .domain_counts(&snapshot, &c, &pod, &[], Nodes::Only(&only));
        assert_eq!(got, [("zone2".to_string(), 1)].into());
    }
}
