//! The decisions of the DaemonSet controller as pure functions: which nodes
//! need a daemon pod and which pods go (`podsShouldBeOnNode`), which old pods
//! a rolling update replaces (`rollingUpdate`), and the status counts
//! (`updateDaemonSetStatus`). The caller gathers pods per node and acts on
//! the result; nothing here does I/O.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSetUpdateStrategy;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

use super::eligibility::Placement;
use crate::controller_utils as cu;

/// Pod label with the hash of the template the pod was made from.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";
/// Pod label with the DaemonSet's template generation (kept for pods made
/// before revision hashes existed).
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// What identifies the current template and when a pod counts as available.
#[derive(Clone, Copy, Debug)]
pub struct Current<'a> {
    /// Hash of the current revision (`controller-revision-hash`).
    pub hash: &'a str,
    /// The DaemonSet's template generation, when known.
    pub template_generation: Option<i64>,
    pub min_ready_seconds: i32,
    pub now: Timestamp,
}

impl Current<'_> {
    /// `IsPodUpdated`: the pod carries the current hash, or the current
    /// template generation.
    pub fn is_updated(&self, pod: &Pod) -> bool {
        let labels = pod.metadata.labels.as_ref();
        let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
        let hash_matches = !self.hash.is_empty() && label(REVISION_HASH_LABEL) == Some(self.hash);
        let generation_matches = self
            .template_generation
            .is_some_and(|g| label(TEMPLATE_GENERATION_LABEL) == Some(g.to_string().as_str()));
        hash_matches || generation_matches
    }

    fn is_available(&self, pod: &Pod) -> bool {
        cu::is_pod_available(pod, self.min_ready_seconds, self.now)
    }
}

fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn bound(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

/// `podByCreationTimestampAndPhase`: bound pods first, then oldest first,
/// then by name.
pub fn oldest_first(a: &&Pod, b: &&Pod) -> Ordering {
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    bound(b)
        .cmp(&bound(a))
        .then_with(|| created(a).cmp(&created(b)))
        .then_with(|| name(a).cmp(&name(b)))
}

/// What the manage loop does for the nodes it looked at.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ManagePlan {
    /// Nodes that need a daemon pod.
    pub create_on: Vec<String>,
    /// Pods to delete.
    pub delete: Vec<String>,
    /// Failed pods to delete, as (node, pod): the caller applies the
    /// per-node back-off and reports them.
    pub failed: Vec<(String, String)>,
}

/// `podsShouldBeOnNode` for one node, added to `plan`. `pods` are the
/// DaemonSet's pods on the node; `surge` whether the update strategy allows
/// two pods per node.
pub fn plan_node(
    node: &str,
    placement: Placement,
    pods: Option<&Vec<&Pod>>,
    surge: bool,
    current: &Current,
    plan: &mut ManagePlan,
) {
    let exists = pods.is_some_and(|p| !p.is_empty());
    if placement.should_run && !exists {
        plan.create_on.push(node.to_string());
        return;
    }
    let pods = pods.map(Vec::as_slice).unwrap_or_default();
    if !placement.should_continue_running {
        // The node no longer takes the pod: delete every one there.
        plan.delete.extend(
            pods.iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .map(|p| name(p)),
        );
        return;
    }
    let mut running: Vec<&Pod> = Vec::new();
    for pod in pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        match phase(pod) {
            // Kubelet may keep rejecting the pod: the caller backs off.
            "Failed" => plan.failed.push((node.to_string(), name(pod))),
            "Succeeded" => plan.delete.push(name(pod)),
            _ => running.push(pod),
        }
    }
    running.sort_by(oldest_first);
    if !surge {
        // One pod per node: the oldest stays.
        plan.delete.extend(running.iter().skip(1).map(|p| name(p)));
        return;
    }
    if running.len() <= 1 {
        if running.is_empty() && placement.should_run {
            plan.create_on.push(node.to_string());
        }
        return;
    }
    // Surging: keep the oldest updated pod and the oldest old pod, and the
    // old one only while it is ready and the new one is not yet available.
    let mut oldest_new: Option<&Pod> = None;
    let mut oldest_old: Option<&Pod> = None;
    for pod in running {
        let slot = if current.is_updated(pod) {
            &mut oldest_new
        } else {
            &mut oldest_old
        };
        if slot.is_none() {
            *slot = Some(pod);
        } else {
            plan.delete.push(name(pod));
        }
    }
    if let (Some(new), Some(old)) = (oldest_new, oldest_old)
        && (!cu::is_pod_ready(old) || current.is_available(new))
    {
        plan.delete.push(name(old));
    }
}

/// `findUpdatedPodsOnNode`: the one updated and the one old pod among the
/// node's live pods; None when there are several of either (the manage loop
/// prunes them first).
fn updated_and_old<'a>(
    pods: &[&'a Pod],
    current: &Current,
) -> Option<(Option<&'a Pod>, Option<&'a Pod>)> {
    let mut new = None;
    let mut old = None;
    for pod in pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        let slot = if current.is_updated(pod) {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(*pod);
    }
    Some((new, old))
}

/// `UnavailableCount` and `SurgeCount` (percentages of the desired number
/// of nodes, rounded up), with upstream's fallback to one unavailable when
/// both are zero.
pub fn fenceposts(strategy: Option<&DaemonSetUpdateStrategy>, desired: usize) -> (usize, usize) {
    let rolling = strategy
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate");
    if !rolling {
        return (0, 0);
    }
    let ru = strategy.and_then(|s| s.rolling_update.as_ref());
    let total = i32::try_from(desired).unwrap_or(i32::MAX);
    let count = |v: Option<&IntOrString>| {
        v.map_or(0, |v| cu::scaled_value(v, total, true).unwrap_or(0))
            .max(0) as usize
    };
    let surge = count(ru.and_then(|r| r.max_surge.as_ref()));
    let unavailable = count(ru.and_then(|r| r.max_unavailable.as_ref()));
    if desired > 0 && surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

/// What one rolling-update step does: old pods to delete and nodes to
/// create a new pod on (surge only).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UpdatePlan {
    pub delete: Vec<String>,
    pub create_on: Vec<String>,
}

/// `rollingUpdate`. `node_pods` has an entry (maybe empty) for every node
/// that should run the pod and for every node with pods; `should_run` tells
/// the former; `desired` counts them.
pub fn rolling_update(
    node_pods: &BTreeMap<String, Vec<&Pod>>,
    should_run: impl Fn(&str) -> bool,
    desired: usize,
    max_surge: usize,
    max_unavailable: usize,
    current: &Current,
) -> UpdatePlan {
    if max_surge == 0 {
        return replace_within_unavailability(node_pods, max_unavailable, current);
    }
    let mut plan = UpdatePlan::default();
    let mut not_wanted: Vec<String> = Vec::new();
    let mut candidates: Vec<String> = Vec::new();
    let mut allowed: Vec<String> = Vec::new();
    let mut surging = 0usize;
    let mut available = 0usize;
    for (node, pods) in node_pods {
        let Some((new, old)) = updated_and_old(pods, current) else {
            // Excess pods: the manage loop prunes them; count as surging.
            surging += 1;
            continue;
        };
        if let Some(p) = old.or(new)
            && current.is_available(p)
        {
            available += 1;
        }
        match (new, old) {
            (_, None) => {}
            (None, Some(old)) => {
                if !current.is_available(old) {
                    if !should_run(node) {
                        plan.delete.push(name(old));
                    } else {
                        // An unavailable old pod is replaced at once.
                        allowed.push(node.clone());
                    }
                } else if !should_run(node) {
                    not_wanted.push(name(old));
                } else if surging < max_surge {
                    candidates.push(node.clone());
                }
            }
            (Some(new), Some(old)) => {
                if current.is_available(new) {
                    plan.delete.push(name(old));
                } else {
                    surging += 1;
                }
            }
        }
    }
    // Surging promises full availability: pods on nodes that no longer
    // take the DaemonSet go only as pods elsewhere become available.
    let deletable = available.saturating_sub(desired).min(not_wanted.len());
    plan.delete.extend(not_wanted.into_iter().take(deletable));
    let room = max_surge.saturating_sub(surging).min(candidates.len());
    plan.create_on = allowed;
    plan.create_on.extend(candidates.into_iter().take(room));
    plan
}

/// The `maxSurge == 0` half of `rollingUpdate`: delete old pods as long as
/// at most `max_unavailable` nodes are without an available pod; the manage
/// loop then creates the new ones.
fn replace_within_unavailability(
    node_pods: &BTreeMap<String, Vec<&Pod>>,
    max_unavailable: usize,
    current: &Current,
) -> UpdatePlan {
    let mut unavailable = 0usize;
    let mut replace: Vec<String> = Vec::new();
    let mut candidates: Vec<String> = Vec::new();
    for pods in node_pods.values() {
        let Some((new, old)) = updated_and_old(pods, current) else {
            unavailable += 1;
            continue;
        };
        match (new, old) {
            // Missing or doubled: the manage loop acts; unavailable meanwhile.
            (None, None) | (Some(_), Some(_)) => unavailable += 1,
            (Some(new), None) => {
                if !current.is_available(new) {
                    unavailable += 1;
                }
            }
            (None, Some(old)) => {
                if !current.is_available(old) {
                    // Already down: replacing it costs no availability.
                    replace.push(name(old));
                    unavailable += 1;
                } else if unavailable < max_unavailable {
                    candidates.push(name(old));
                }
            }
        }
    }
    let room = max_unavailable
        .saturating_sub(unavailable)
        .min(candidates.len());
    replace.extend(candidates.into_iter().take(room));
    UpdatePlan {
        delete: replace,
        create_on: Vec::new(),
    }
}

/// The counts of a DaemonSet's status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub desired_number_scheduled: i32,
    pub current_number_scheduled: i32,
    pub number_misscheduled: i32,
    pub number_ready: i32,
    pub updated_number_scheduled: i32,
    pub number_available: i32,
    pub number_unavailable: i32,
}

/// `updateDaemonSetStatus`'s counting: per node that should run the pod,
/// the oldest daemon pod there decides ready, available and updated; pods
/// on other nodes are misscheduled.
pub fn count_status<'a>(
    nodes: impl IntoIterator<Item = (&'a str, Placement)>,
    node_pods: &BTreeMap<String, Vec<&Pod>>,
    current: &Current,
) -> Counts {
    let mut c = Counts::default();
    for (node, placement) in nodes {
        let mut pods: Vec<&Pod> = node_pods.get(node).cloned().unwrap_or_default();
        if !placement.should_run {
            if !pods.is_empty() {
                c.number_misscheduled += 1;
            }
            continue;
        }
        c.desired_number_scheduled += 1;
        pods.sort_by(oldest_first);
        let Some(pod) = pods.first() else {
            continue;
        };
        c.current_number_scheduled += 1;
        if cu::is_pod_ready(pod) {
            c.number_ready += 1;
            if current.is_available(pod) {
                c.number_available += 1;
            }
        }
        if current.is_updated(pod) {
            c.updated_number_scheduled += 1;
        }
    }
    c.number_unavailable = c.desired_number_scheduled - c.number_available;
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::RollingUpdateDaemonSet;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    const NOW: i64 = 1_000_000;

    fn ts(s: i64) -> Time {
        Time(Timestamp::from_second(s).unwrap_or_default())
    }

    /// A pod on `node` made from template `hash`, ready since `ready_at`.
    fn pod(name: &str, node: &str, hash: &str, ready_at: Option<i64>, created: i64) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(ts(created)),
                labels: Some([(REVISION_HASH_LABEL.to_string(), hash.to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some(node.into()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready_at.is_some() { "True" } else { "False" }.into(),
                    last_transition_time: ready_at.map(ts),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    fn with_phase(mut p: Pod, phase: &str) -> Pod {
        if let Some(s) = p.status.as_mut() {
            s.phase = Some(phase.into());
        }
        p
    }

    fn current(min_ready: i32) -> Current<'static> {
        Current {
            hash: "new",
            template_generation: Some(2),
            min_ready_seconds: min_ready,
            now: Timestamp::from_second(NOW).unwrap_or_default(),
        }
    }

    const RUN: Placement = Placement {
        should_run: true,
        should_continue_running: true,
    };
    const KEEP: Placement = Placement {
        should_run: false,
        should_continue_running: true,
    };
    const EVICT: Placement = Placement {
        should_run: false,
        should_continue_running: false,
    };

    fn by_node<'a>(pods: &'a [Pod], nodes: &[&str]) -> BTreeMap<String, Vec<&'a Pod>> {
        let mut m: BTreeMap<String, Vec<&Pod>> =
            nodes.iter().map(|n| (n.to_string(), Vec::new())).collect();
        for p in pods {
            let n = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default();
            m.entry(n).or_default().push(p);
        }
        m
    }

    #[test]
    fn updated_by_hash_or_template_generation() {
        let c = current(0);
        assert!(c.is_updated(&pod("a", "n", "new", None, 1)));
        assert!(!c.is_updated(&pod("a", "n", "old", None, 1)));
        let mut by_generation = pod("a", "n", "old", None, 1);
        if let Some(l) = by_generation.metadata.labels.as_mut() {
            l.insert(TEMPLATE_GENERATION_LABEL.into(), "2".into());
        }
        assert!(c.is_updated(&by_generation));
    }

    #[test]
    fn manage_creates_prunes_and_evicts() {
        let c = current(0);
        let pods = [
            pod("keep-old", "dup", "old", Some(1), 10),
            pod("dup-newer", "dup", "old", Some(1), 20),
            with_phase(pod("failed", "failing", "new", None, 10), "Failed"),
            with_phase(pod("done", "finished", "new", None, 10), "Succeeded"),
            pod("tainted", "noschedule", "new", Some(1), 10),
            pod("evicted", "noexecute", "new", Some(1), 10),
        ];
        let m = by_node(&pods, &["empty"]);
        let mut plan = ManagePlan::default();
        for (node, placement) in [
            ("empty", RUN),
            ("dup", RUN),
            ("failing", RUN),
            ("finished", RUN),
            ("noschedule", KEEP),
            ("noexecute", EVICT),
        ] {
            plan_node(node, placement, m.get(node), false, &c, &mut plan);
        }
        assert_eq!(plan.create_on, ["empty"]);
        assert_eq!(plan.delete, ["dup-newer", "done", "evicted"]);
        assert_eq!(plan.failed, [("failing".to_string(), "failed".to_string())]);
    }

    #[test]
    fn manage_with_surge_keeps_old_pod_until_new_is_available() {
        let c = current(0);
        let old_ready = pod("old", "n", "old", Some(1), 10);
        let new_not_ready = pod("new", "n", "new", None, 20);
        let new_ready = pod("new", "n", "new", Some(NOW - 1), 20);
        let old_not_ready = pod("old", "n", "old", None, 10);
        let run = |pods: Vec<&Pod>| {
            let mut plan = ManagePlan::default();
            plan_node("n", RUN, Some(&pods), true, &c, &mut plan);
            plan.delete
        };
        assert!(run(vec![&old_ready, &new_not_ready]).is_empty());
        assert_eq!(run(vec![&old_ready, &new_ready]), ["old"]);
        assert_eq!(run(vec![&old_not_ready, &new_not_ready]), ["old"]);
        // Without surge the newer one goes.
        let mut plan = ManagePlan::default();
        plan_node(
            "n",
            RUN,
            Some(&vec![&old_ready, &new_not_ready]),
            false,
            &c,
            &mut plan,
        );
        assert_eq!(plan.delete, ["new"]);
    }

    fn strategy(
        surge: Option<IntOrString>,
        unavailable: Option<IntOrString>,
    ) -> DaemonSetUpdateStrategy {
        DaemonSetUpdateStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDaemonSet {
                max_surge: surge,
                max_unavailable: unavailable,
            }),
        }
    }

    #[test]
    fn fenceposts_round_up_and_default_to_one_unavailable() {
        let pct = |s: &str| Some(IntOrString::String(s.into()));
        let int = |i| Some(IntOrString::Int(i));
        assert_eq!(fenceposts(Some(&strategy(int(0), int(1))), 3), (0, 1));
        assert_eq!(fenceposts(Some(&strategy(int(0), pct("30%"))), 10), (0, 3));
        assert_eq!(fenceposts(Some(&strategy(int(0), pct("10%"))), 3), (0, 1));
        assert_eq!(fenceposts(Some(&strategy(pct("50%"), int(0))), 3), (2, 0));
        assert_eq!(fenceposts(Some(&strategy(int(0), int(0))), 3), (0, 1));
        assert_eq!(fenceposts(Some(&strategy(int(0), int(0))), 0), (0, 0));
        let on_delete = DaemonSetUpdateStrategy {
            type_: Some("OnDelete".into()),
            rolling_update: None,
        };
        assert_eq!(fenceposts(Some(&on_delete), 3), (0, 0));
    }

    #[test]
    fn max_unavailable_bounds_replacements() {
        let c = current(0);
        let pods = [
            pod("a", "n1", "old", Some(1), 1),
            pod("b", "n2", "old", Some(1), 1),
            pod("c", "n3", "old", Some(1), 1),
        ];
        let m = by_node(&pods, &[]);
        let plan = rolling_update(&m, |_| true, 3, 0, 1, &c);
        assert_eq!(plan.delete, ["a"]);
        assert!(plan.create_on.is_empty());
        let plan = rolling_update(&m, |_| true, 3, 0, 2, &c);
        assert_eq!(plan.delete, ["a", "b"]);

        // A new pod not yet available uses up the budget.
        let pods = [
            pod("a2", "n1", "new", None, 5),
            pod("b", "n2", "old", Some(1), 1),
            pod("c", "n3", "old", Some(1), 1),
        ];
        let m = by_node(&pods, &[]);
        assert!(rolling_update(&m, |_| true, 3, 0, 1, &c).delete.is_empty());
        // A node waiting for its pod counts as unavailable too.
        let m = by_node(&pods[1..], &["n1"]);
        assert!(rolling_update(&m, |_| true, 3, 0, 1, &c).delete.is_empty());

        // An unavailable old pod is replaced whatever the budget.
        let pods = [
            pod("a2", "n1", "new", None, 5),
            pod("b", "n2", "old", None, 1),
            pod("c", "n3", "old", Some(1), 1),
        ];
        let m = by_node(&pods, &[]);
        assert_eq!(rolling_update(&m, |_| true, 3, 0, 1, &c).delete, ["b"]);
    }

    #[test]
    fn min_ready_seconds_delays_availability() {
        let c = current(30);
        let pods = [
            pod("a2", "n1", "new", Some(NOW - 10), 5),
            pod("b", "n2", "old", Some(1), 1),
        ];
        let m = by_node(&pods, &[]);
        assert!(rolling_update(&m, |_| true, 2, 0, 1, &c).delete.is_empty());
        let c = current(5);
        assert_eq!(rolling_update(&m, |_| true, 2, 0, 1, &c).delete, ["b"]);
    }

    #[test]
    fn max_surge_creates_before_deleting() {
        let c = current(0);
        let pods = [
            pod("a", "n1", "old", Some(1), 1),
            pod("b", "n2", "old", Some(1), 1),
            pod("c", "n3", "old", Some(1), 1),
        ];
        let m = by_node(&pods, &[]);
        let plan = rolling_update(&m, |_| true, 3, 1, 0, &c);
        assert_eq!(plan.create_on, ["n1"]);
        assert!(plan.delete.is_empty());

        // n1 surged and its new pod is not available: no more surge room.
        let pods = [
            pod("a", "n1", "old", Some(1), 1),
            pod("a2", "n1", "new", None, 5),
            pod("b", "n2", "old", Some(1), 1),
        ];
        let m = by_node(&pods, &[]);
        assert_eq!(
            rolling_update(&m, |_| true, 2, 1, 0, &c),
            UpdatePlan::default()
        );

        // Once available, the old pod goes and the next node surges.
        let pods = [
            pod("a", "n1", "old", Some(1), 1),
            pod("a2", "n1", "new", Some(NOW - 1), 5),
            pod("b", "n2", "old", Some(1), 1),
        ];
        let m = by_node(&pods, &[]);
        let plan = rolling_update(&m, |_| true, 2, 1, 0, &c);
        assert_eq!(plan.delete, ["a"]);
        assert_eq!(plan.create_on, ["n2"]);

        // An unavailable old pod gets its replacement beyond maxSurge.
        let pods = [
            pod("a", "n1", "old", None, 1),
            pod("b", "n2", "old", None, 1),
        ];
        let m = by_node(&pods, &[]);
        assert_eq!(
            rolling_update(&m, |_| true, 2, 1, 0, &c).create_on,
            ["n1", "n2"]
        );
    }

    #[test]
    fn surge_removes_pods_of_unwanted_nodes_only_when_others_are_available() {
        let c = current(0);
        // n1 stopped matching; n2 is the new home without an available pod yet.
        let pods = [
            pod("a", "n1", "old", Some(1), 1),
            pod("b2", "n2", "new", None, 5),
        ];
        let m = by_node(&pods, &[]);
        let wanted = |n: &str| n == "n2";
        assert!(rolling_update(&m, wanted, 1, 1, 0, &c).delete.is_empty());
        let pods = [
            pod("a", "n1", "old", Some(1), 1),
            pod("b2", "n2", "new", Some(NOW - 1), 5),
        ];
        let m = by_node(&pods, &[]);
        assert_eq!(rolling_update(&m, wanted, 1, 1, 0, &c).delete, ["a"]);
    }

    #[test]
    fn status_counts_follow_the_oldest_pod_per_node() {
        let c = current(10);
        let pods = [
            pod("ready-new", "n1", "new", Some(NOW - 100), 1),
            pod("ready-old-young", "n2", "old", Some(NOW - 1), 1),
            pod("not-ready", "n3", "new", None, 1),
            pod("stray", "elsewhere", "new", Some(1), 1),
            // The older of two pods on n4 decides: it is old and ready.
            pod("n4-old", "n4", "old", Some(1), 1),
            pod("n4-new", "n4", "new", None, 50),
        ];
        let m = by_node(&pods, &[]);
        let nodes = [
            ("n1", RUN),
            ("n2", RUN),
            ("n3", RUN),
            ("n4", RUN),
            ("n5", RUN),
            ("elsewhere", KEEP),
        ];
        let counts = count_status(nodes, &m, &c);
        assert_eq!(
            counts,
            Counts {
                desired_number_scheduled: 5,
                current_number_scheduled: 4,
                number_misscheduled: 1,
                number_ready: 3,
                updated_number_scheduled: 2,
                number_available: 2,
                number_unavailable: 3,
            }
        );
    }
}
