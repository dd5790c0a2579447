//! The pod garbage collector (upstream `pkg/controller/podgc`): every
//! [`GC_CHECK_PERIOD`] it looks at every pod and force-deletes (grace period
//! 0) the ones nobody else will ever clean up:
//!
//! - **terminated pods over the threshold**: when more pods are terminated
//!   (phase neither Pending, Running nor Unknown) than
//!   `--terminated-pod-gc-threshold`, the surplus goes, evicted pods first,
//!   then oldest by creation timestamp, then by name;
//! - **terminating pods on out-of-service nodes**: pods being deleted on a
//!   node that is not Ready and has the `node.kubernetes.io/out-of-service`
//!   taint (the node is known to be down, so no kubelet will finish them);
//! - **orphaned pods**: pods bound to a node that no longer exists. A node
//!   missing from the cache is quarantined for [`QUARANTINE_TIME`] first
//!   (it may just not be in the cache yet) and then looked up once more on
//!   the API server; only a 404 there makes its pods orphans. Orphans that
//!   are not terminal get the `DisruptionTarget` condition (reason
//!   `DeletionByPodGC`);
//! - **unscheduled terminating pods**: pods being deleted that were never
//!   bound to a node.
//!
//! Before deleting a pod that is not terminal, the collector sets its phase
//! to `Failed` (upstream's `markFailedAndDeletePod`): an orphaned pod would
//! otherwise stay Running forever, as no kubelet is left to finish it, and a
//! pod kept by a finalizer shows that it will never run.
//!
//! Configuration (environment of `skiff server`, as kube-controller-manager's
//! flags and constants):
//! - `SKIFF_TERMINATED_POD_GC_THRESHOLD`: `--terminated-pod-gc-threshold`,
//!   12500 by default; 0 disables the terminated-pod pass only.
//! - `SKIFF_POD_GC_PERIOD`: upstream's `gcCheckPeriod`, 20 s (a duration
//!   such as `1s`, `500ms`, or plain seconds; for tests).
//! - `SKIFF_POD_GC_QUARANTINE`: upstream's `quarantineTime`, 40 s (for
//!   tests; upstream's integration tests shorten it the same way).
//!
//! Owns: force deletion of the pods above. Does not own: graceful deletion
//! of pods on tainted nodes (`taint_eviction`), finalizers (the API server
//! keeps a pod until its finalizers are gone; the deletion here only sets
//! `deletionTimestamp` on such a pod).

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, PodCondition, PodStatus};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::controller_utils as cu;
use crate::informer::{Informer, Informers};
use crate::node_lifecycle::parse_duration;
use crate::{ApiContext, Error, Result};

/// The environment variable for `--terminated-pod-gc-threshold`.
pub const THRESHOLD_ENV: &str = "SKIFF_TERMINATED_POD_GC_THRESHOLD";
/// The environment variable for the period of the passes.
pub const PERIOD_ENV: &str = "SKIFF_POD_GC_PERIOD";
/// The environment variable for the quarantine of missing nodes.
pub const QUARANTINE_ENV: &str = "SKIFF_POD_GC_QUARANTINE";

/// `--terminated-pod-gc-threshold`'s default.
pub const TERMINATED_POD_GC_THRESHOLD: usize = 12500;
/// Upstream's `gcCheckPeriod`.
pub const GC_CHECK_PERIOD: Duration = Duration::from_secs(20);
/// Upstream's `quarantineTime`: how long a node missing from the cache is
/// given to show up before the API server is asked whether it is gone.
pub const QUARANTINE_TIME: Duration = Duration::from_secs(40);

/// `v1.TaintNodeOutOfService`.
pub const TAINT_OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";
/// Reason of the `DisruptionTarget` condition of orphaned pods.
pub const REASON_DELETION_BY_POD_GC: &str = "DeletionByPodGC";

/// Deletions in flight at once. Upstream starts one goroutine per pod and
/// leaves the pacing to the client's rate limiter; skiff's client has none,
/// so a bound keeps a large backlog from flooding the API server.
const CONCURRENCY: usize = 16;

/// Timing and threshold of the collector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Terminated pods kept; 0 disables the terminated-pod pass.
    pub threshold: usize,
    pub period: Duration,
    pub quarantine: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            threshold: TERMINATED_POD_GC_THRESHOLD,
            period: GC_CHECK_PERIOD,
            quarantine: QUARANTINE_TIME,
        }
    }
}

impl Config {
    /// Upstream's defaults with the overrides of the process environment.
    pub fn from_env() -> Config {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// Upstream's defaults with the overrides `lookup` finds; invalid
    /// values are logged and ignored.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Config {
        let mut c = Config::default();
        if let Some(v) = lookup(THRESHOLD_ENV) {
            // kube-controller-manager takes any int and treats <= 0 as off.
            match v.trim().parse::<i64>() {
                Ok(n) => c.threshold = usize::try_from(n).unwrap_or(0),
                Err(_) => tracing::warn!(value = %v, "ignoring an invalid {THRESHOLD_ENV}"),
            }
        }
        for (env, slot) in [
            (PERIOD_ENV, &mut c.period),
            (QUARANTINE_ENV, &mut c.quarantine),
        ] {
            if let Some(v) = lookup(env) {
                match parse_duration(&v) {
                    // A zero period would spin; a zero quarantine is allowed.
                    Some(d) if !(d.is_zero() && env == PERIOD_ENV) => *slot = d,
                    _ => tracing::warn!(value = %v, "ignoring an invalid {env}"),
                }
            }
        }
        c
    }
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

/// Upstream's `isPodTerminated`: any phase but Pending, Running and Unknown
/// (the API server gives every pod a phase, Pending, at creation).
pub fn is_terminated(pod: &Pod) -> bool {
    !matches!(phase(pod), "Pending" | "Running" | "Unknown")
}

/// The kubelet's `PodIsEvicted`: Failed with reason `Evicted`.
fn is_evicted(pod: &Pod) -> bool {
    phase(pod) == "Failed"
        && pod.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("Evicted")
}

/// Upstream's `byEvictionAndCreationTimestamp`: evicted pods first (they
/// are nobody's record of a finished run), then oldest, then by name.
pub fn gc_order(a: &Pod, b: &Pod) -> Ordering {
    is_evicted(b)
        .cmp(&is_evicted(a))
        // A missing timestamp is Go's zero time: the oldest.
        .then_with(|| {
            let t = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            t(a).cmp(&t(b))
        })
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// `gcTerminated`'s choice: the terminated pods beyond `threshold`, in
/// deletion order. Nothing when `threshold` is 0 (disabled).
pub fn terminated_over_threshold(pods: &[Arc<Pod>], threshold: usize) -> Vec<Arc<Pod>> {
    if threshold == 0 {
        return Vec::new();
    }
    let mut terminated: Vec<Arc<Pod>> = pods.iter().filter(|p| is_terminated(p)).cloned().collect();
    let excess = terminated.len().saturating_sub(threshold);
    if excess == 0 {
        return Vec::new();
    }
    // Sorting only when something goes, as upstream: the common case is
    // far below the threshold.
    terminated.sort_by(|a, b| gc_order(a, b));
    terminated.truncate(excess);
    terminated
}

/// `nodeutil.IsNodeReady`: the Ready condition is True.
pub fn is_node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// A node declared down by its operator: not Ready, with the out-of-service
/// taint (any effect or value, as upstream's `TaintKeyExists`).
pub fn is_out_of_service(node: &Node) -> bool {
    let tainted = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .any(|t| t.key == TAINT_OUT_OF_SERVICE);
    tainted && !is_node_ready(node)
}

/// `gcTerminating`'s choice: pods being deleted on a known node that is out
/// of service, in deletion order. Pods whose node is not in the cache are
/// left to the orphan pass.
pub fn terminating_on_out_of_service(
    pods: &[Arc<Pod>],
    node: impl Fn(&str) -> Option<Arc<Node>>,
) -> Vec<Arc<Pod>> {
    let mut out: Vec<Arc<Pod>> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
        .filter(|p| node(node_name(p)).is_some_and(|n| is_out_of_service(&n)))
        .cloned()
        .collect();
    out.sort_by(|a, b| gc_order(a, b));
    out
}

/// `gcUnscheduledTerminating`'s choice: pods being deleted that were never
/// bound to a node (no kubelet will ever confirm their end).
pub fn unscheduled_terminating(pods: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some() && node_name(p).is_empty())
        .cloned()
        .collect()
}

/// The names of nodes that pods are bound to but the cache does not know.
pub fn missing_nodes<'a>(
    pods: &'a [Arc<Pod>],
    known: &HashSet<String>,
) -> impl Iterator<Item = &'a str> {
    pods.iter()
        .map(|p| node_name(p))
        .filter(move |n| !n.is_empty() && !known.contains(*n))
}

/// Upstream's delaying `nodeQueue`: a node missing from the cache is due
/// for a check against the API server `quarantine` after it was first seen
/// missing; seeing it missing again does not push that back. A node taken
/// out is queued afresh the next time it is seen missing, so a lookup that
/// failed, or an orphan that is still there, is retried one quarantine
/// later.
#[derive(Debug, Default)]
pub struct Quarantine {
    due: HashMap<String, Instant>,
}

impl Quarantine {
    /// Queues `node` for a check at `now + quarantine`, unless it is queued.
    pub fn add(&mut self, node: &str, now: Instant, quarantine: Duration) {
        if !self.due.contains_key(node) {
            self.due.insert(node.to_string(), now + quarantine);
        }
    }

    /// Takes out the nodes whose quarantine is over at `now`, sorted.
    pub fn take_due(&mut self, now: Instant) -> Vec<String> {
        let mut due: Vec<String> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(n, _)| n.clone())
            .collect();
        for n in &due {
            self.due.remove(n);
        }
        due.sort();
        due
    }

    /// Nodes waiting.
    pub fn len(&self) -> usize {
        self.due.len()
    }

    /// Whether no node is waiting.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}

/// The `DisruptionTarget` condition of an orphaned pod.
pub fn orphan_condition() -> PodCondition {
    PodCondition {
        type_: "DisruptionTarget".into(),
        status: "True".into(),
        reason: Some(REASON_DELETION_BY_POD_GC.into()),
        message: Some("PodGC: node no longer exists".into()),
        ..Default::default()
    }
}

/// The status `markFailedAndDeletePodWithCondition` writes before the
/// deletion: phase Failed plus `condition`. None for a terminal pod, which
/// keeps its phase and gets no condition.
pub fn failed_status(
    pod: &Pod,
    condition: Option<PodCondition>,
    now: Timestamp,
) -> Option<PodStatus> {
    if matches!(phase(pod), "Succeeded" | "Failed") {
        return None;
    }
    let mut status = pod.status.clone().unwrap_or_default();
    status.phase = Some("Failed".into());
    if let Some(c) = condition {
        cu::update_pod_condition(&mut status, c, now);
    }
    Some(status)
}

/// Runs the collector until its task is aborted.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let pods = informers.of::<Pod>();
    let nodes = informers.of::<Node>();
    pods.synced().await;
    nodes.synced().await;
    let cfg = Config::from_env();
    tracing::info!(threshold = cfg.threshold, period = ?cfg.period, quarantine = ?cfg.quarantine, "pod garbage collector started");
    let mut gc = Collector {
        client,
        pods,
        nodes,
        cfg,
        quarantine: Quarantine::default(),
    };
    let mut tick = tokio::time::interval(gc.cfg.period);
    // wait.Until: the next pass starts one period after the last one ended.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        gc.pass().await;
    }
}

struct Collector {
    client: Client,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    cfg: Config,
    quarantine: Quarantine,
}

impl Collector {
    /// One `gc` pass over a snapshot of the caches, in upstream's order.
    async fn pass(&mut self) {
        // Upstream lists every pod from its lister each pass too: no index
        // answers "terminated" or "bound to a missing node".
        let pods = self.pods.state();
        // Pods force-deleted in this pass: one pod can match two rules
        // (a terminated pod being deleted without a node), once is enough.
        let mut done: HashSet<String> = HashSet::new();

        let terminated = terminated_over_threshold(&pods, self.cfg.threshold);
        if !terminated.is_empty() {
            tracing::info!(
                pods = terminated.len(),
                "garbage collecting terminated pods"
            );
        }
        self.delete_all(terminated, None, "terminated", &mut done)
            .await;

        let nodes = &self.nodes;
        let out_of_service = terminating_on_out_of_service(&pods, |n| nodes.get("", n));
        self.delete_all(
            out_of_service,
            None,
            "terminating on an out-of-service node",
            &mut done,
        )
        .await;

        let orphans = self.orphans(&pods).await;
        self.delete_all(orphans, Some(orphan_condition()), "orphaned", &mut done)
            .await;

        let unscheduled = unscheduled_terminating(&pods);
        self.delete_all(unscheduled, None, "unscheduled terminating", &mut done)
            .await;
    }

    /// `gcOrphaned`'s choice: quarantines the nodes the cache does not know
    /// and returns the pods of those that, after quarantine, the API server
    /// does not know either.
    async fn orphans(&mut self, pods: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
        let known: HashSet<String> = self.nodes.state().iter().map(|n| n.name_any()).collect();
        let now = Instant::now();
        for n in missing_nodes(pods, &known) {
            self.quarantine.add(n, now, self.cfg.quarantine);
        }
        let mut gone = HashSet::new();
        for n in self.quarantine.take_due(now) {
            // Back in the cache during the quarantine: not gone.
            if known.contains(&n) || self.nodes.get("", &n).is_some() {
                continue;
            }
            match self.node_exists(&n).await {
                Ok(false) => {
                    gone.insert(n);
                }
                Ok(true) => {}
                Err(e) => {
                    // Queued again by the next pass while it is still missing.
                    tracing::warn!(node = %n, error = %crate::error_chain(&e), "failed to check whether a node exists");
                }
            }
        }
        if gone.is_empty() {
            return Vec::new();
        }
        pods.iter()
            .filter(|p| gone.contains(node_name(p)))
            .inspect(|p| {
                tracing::info!(pod = %cu::key(&p.namespace().unwrap_or_default(), &p.name_any()), node = node_name(p), "found an orphaned pod assigned to a deleted node");
            })
            .cloned()
            .collect()
    }

    /// Asks the API server, not the cache (`checkIfNodeExists`).
    async fn node_exists(&self, name: &str) -> Result<bool> {
        let api: Api<Node> = Api::all(self.client.clone());
        let node = api.get_opt(name).await.ctx(|| format!("get node {name}"))?;
        Ok(node.is_some())
    }

    /// Marks failed and force-deletes each pod not handled yet this pass, a
    /// bounded number at a time. Failures are logged: the next pass sees
    /// the pod again.
    async fn delete_all(
        &self,
        pods: Vec<Arc<Pod>>,
        condition: Option<PodCondition>,
        why: &'static str,
        done: &mut HashSet<String>,
    ) {
        let todo: Vec<Arc<Pod>> = pods
            .into_iter()
            .filter(|p| {
                let uid = p.metadata.uid.clone().unwrap_or_default();
                done.insert(uid)
            })
            .collect();
        let client = &self.client;
        let condition = &condition;
        futures::stream::iter(todo)
            .for_each_concurrent(CONCURRENCY, |pod| async move {
                let key = cu::key(&pod.namespace().unwrap_or_default(), &pod.name_any());
                tracing::info!(pod = %key, reason = why, "force deleting pod");
                if let Err(e) = mark_failed_and_delete(client, &pod, condition.clone()).await {
                    tracing::warn!(pod = %key, reason = why, error = %crate::error_chain(&e), "pod garbage collection failed");
                }
            })
            .await;
    }
}

/// Upstream's `markFailedAndDeletePodWithCondition`: a pod that is not
/// terminal gets phase Failed (and `condition`) first, then the pod is
/// deleted with grace period 0. Both writes are bound to the pod's UID, so a
/// new pod of the same name is never touched; a pod already gone is done.
pub async fn mark_failed_and_delete(
    client: &Client,
    pod: &Pod,
    condition: Option<PodCondition>,
) -> Result<()> {
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let uid = pod
        .metadata
        .uid
        .clone()
        .ok_or_else(|| Error::Invalid(format!("pod {ns}/{name} has no uid")))?;
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let with_condition = condition.is_some();
    if let Some(status) = failed_status(pod, condition, Timestamp::now()) {
        let mut patch = json!({
            "metadata": {"uid": uid},
            "status": {"phase": status.phase},
        });
        // The whole list, so the patch is right whether or not the server
        // merges conditions by type.
        if with_condition {
            patch["status"]["conditions"] = json!(status.conditions);
        }
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if crate::is_not_found(&e) || crate::is_conflict(&e) => return Ok(()),
            Err(e) => return Err(e).ctx(|| format!("mark pod {ns}/{name} as failed")),
        }
    }
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => Ok(()),
        Err(e) if crate::is_not_found(&e) || crate::is_conflict(&e) => Ok(()),
        Err(e) => Err(e).ctx(|| format!("delete pod {ns}/{name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus, PodSpec, Taint};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or_default()
    }

    fn pod(name: &str, created: i64, phase: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                creation_timestamp: Some(Time(ts(created))),
                ..Default::default()
            },
            spec: Some(PodSpec::default()),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
        }
    }

    fn on(mut p: Pod, node: &str) -> Pod {
        if let Some(s) = p.spec.as_mut() {
            s.node_name = Some(node.into());
        }
        p
    }

    fn deleting(mut p: Pod) -> Pod {
        p.metadata.deletion_timestamp = Some(Time(ts(1000)));
        p
    }

    fn evicted(mut p: Pod) -> Pod {
        if let Some(s) = p.status.as_mut() {
            s.reason = Some("Evicted".into());
        }
        p
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<String> {
        pods.iter().map(|p| p.name_any()).collect()
    }

    fn arcs(pods: Vec<Pod>) -> Vec<Arc<Pod>> {
        pods.into_iter().map(Arc::new).collect()
    }

    fn node(name: &str, ready: &str, taints: &[&str]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                taints: Some(
                    taints
                        .iter()
                        .map(|k| Taint {
                            key: (*k).into(),
                            effect: "NoExecute".into(),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn terminated_means_any_phase_but_pending_running_unknown() {
        for (phase, terminated) in [
            ("Pending", false),
            ("Running", false),
            ("Unknown", false),
            ("Succeeded", true),
            ("Failed", true),
        ] {
            assert_eq!(is_terminated(&pod("p", 0, phase)), terminated, "{phase}");
        }
    }

    #[test]
    fn the_oldest_terminated_pods_beyond_the_threshold_go() {
        let pods = arcs(vec![
            pod("c", 30, "Succeeded"),
            pod("running", 1, "Running"),
            pod("a", 10, "Failed"),
            pod("pending", 2, "Pending"),
            pod("b", 20, "Succeeded"),
            pod("d", 40, "Failed"),
        ]);
        // Four terminated pods, threshold 2: the two oldest go, oldest first;
        // running and pending pods neither count nor go.
        assert_eq!(names(&terminated_over_threshold(&pods, 2)), ["a", "b"]);
        assert_eq!(names(&terminated_over_threshold(&pods, 3)), ["a"]);
        // At or under the threshold: nothing.
        assert!(terminated_over_threshold(&pods, 4).is_empty());
        assert!(terminated_over_threshold(&pods, 100).is_empty());
        // 0 disables the rule.
        assert!(terminated_over_threshold(&pods, 0).is_empty());
    }

    #[test]
    fn evicted_pods_go_first_and_names_break_ties() {
        let pods = arcs(vec![
            pod("old", 10, "Succeeded"),
            evicted(pod("young-evicted", 50, "Failed")),
            pod("same-b", 20, "Failed"),
            pod("same-a", 20, "Succeeded"),
            pod("newest", 60, "Succeeded"),
        ]);
        assert_eq!(
            names(&terminated_over_threshold(&pods, 1)),
            ["young-evicted", "old", "same-a", "same-b"]
        );
        // A reason of Evicted on a Succeeded pod is not an eviction.
        let pods = arcs(vec![
            pod("old", 10, "Succeeded"),
            evicted(pod("odd", 50, "Succeeded")),
            pod("new", 60, "Succeeded"),
        ]);
        assert_eq!(names(&terminated_over_threshold(&pods, 1)), ["old", "odd"]);
    }

    #[test]
    fn terminating_pods_on_out_of_service_nodes() {
        let nodes: HashMap<String, Arc<Node>> = [
            node("down", "False", &[TAINT_OUT_OF_SERVICE]),
            node("unknown", "Unknown", &[TAINT_OUT_OF_SERVICE]),
            node("ready", "True", &[TAINT_OUT_OF_SERVICE]),
            node("untainted", "False", &[]),
            node("other-taint", "False", &["node.kubernetes.io/unreachable"]),
        ]
        .into_iter()
        .map(|n| (n.name_any(), Arc::new(n)))
        .collect();
        let pods = arcs(vec![
            deleting(on(pod("down-2", 20, "Running"), "down")),
            deleting(on(pod("down-1", 10, "Running"), "down")),
            on(pod("down-alive", 5, "Running"), "down"),
            deleting(on(pod("unknown", 30, "Running"), "unknown")),
            deleting(on(pod("ready", 1, "Running"), "ready")),
            deleting(on(pod("untainted", 1, "Running"), "untainted")),
            deleting(on(pod("other", 1, "Running"), "other-taint")),
            deleting(on(pod("missing", 1, "Running"), "missing")),
            deleting(pod("unscheduled", 1, "Pending")),
        ]);
        let chosen = terminating_on_out_of_service(&pods, |n| nodes.get(n).cloned());
        // Only terminating pods on not-Ready nodes with the taint, oldest
        // first; a pod not being deleted stays.
        assert_eq!(names(&chosen), ["down-1", "down-2", "unknown"]);
    }

    #[test]
    fn unscheduled_terminating_pods() {
        let pods = arcs(vec![
            deleting(pod("gone", 1, "Pending")),
            pod("waiting", 1, "Pending"),
            deleting(on(pod("bound", 1, "Running"), "n")),
        ]);
        assert_eq!(names(&unscheduled_terminating(&pods)), ["gone"]);
    }

    #[test]
    fn missing_nodes_of_bound_pods() {
        let pods = arcs(vec![
            on(pod("a", 1, "Running"), "here"),
            on(pod("b", 1, "Running"), "gone"),
            pod("c", 1, "Pending"),
        ]);
        let known: HashSet<String> = ["here".to_string()].into();
        assert_eq!(missing_nodes(&pods, &known).collect::<Vec<_>>(), ["gone"]);
    }

    #[test]
    fn quarantine_counts_from_the_first_sighting() {
        let q_time = Duration::from_secs(40);
        let t0 = Instant::now();
        let mut q = Quarantine::default();
        q.add("gone", t0, q_time);
        // Seen again later: the first sighting still counts.
        q.add("gone", t0 + Duration::from_secs(20), q_time);
        q.add("later", t0 + Duration::from_secs(20), q_time);
        assert!(q.take_due(t0 + Duration::from_secs(39)).is_empty());
        assert_eq!(q.take_due(t0 + Duration::from_secs(40)), ["gone"]);
        // Taken out once; "later" still waits.
        assert!(q.take_due(t0 + Duration::from_secs(41)).is_empty());
        assert_eq!(q.len(), 1);
        assert_eq!(q.take_due(t0 + Duration::from_secs(60)), ["later"]);
        assert!(q.is_empty());
        // Missing again after the check: a fresh quarantine.
        q.add("gone", t0 + Duration::from_secs(60), q_time);
        assert!(q.take_due(t0 + Duration::from_secs(99)).is_empty());
        assert_eq!(q.take_due(t0 + Duration::from_secs(100)), ["gone"]);
    }

    #[test]
    fn a_pod_not_terminal_is_marked_failed_with_the_condition() {
        let mut p = pod("p", 1, "Running");
        if let Some(s) = p.status.as_mut() {
            s.conditions = Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            }]);
        }
        let status = failed_status(&p, Some(orphan_condition()), ts(500));
        let status = status.as_ref();
        assert_eq!(status.and_then(|s| s.phase.as_deref()), Some("Failed"));
        let conds = status
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        assert_eq!(conds.len(), 2, "the other conditions stay");
        let dt = conds.iter().find(|c| c.type_ == "DisruptionTarget");
        assert_eq!(dt.map(|c| c.status.as_str()), Some("True"));
        assert_eq!(
            dt.and_then(|c| c.reason.as_deref()),
            Some(REASON_DELETION_BY_POD_GC)
        );
        assert_eq!(
            dt.and_then(|c| c.last_transition_time.clone()),
            Some(Time(ts(500)))
        );
        // Without a condition (the other rules): only the phase.
        let status = failed_status(&pod("q", 1, "Pending"), None, ts(500));
        assert_eq!(
            status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Failed")
        );
        assert_eq!(status.and_then(|s| s.conditions), None);
    }

    #[test]
    fn a_terminal_pod_keeps_its_phase_and_gets_no_condition() {
        for phase in ["Succeeded", "Failed"] {
            assert_eq!(
                failed_status(&pod("p", 1, phase), Some(orphan_condition()), ts(500)),
                None
            );
        }
    }

    #[test]
    fn config_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Config::from_lookup(env(&[])), Config::default());
        assert_eq!(Config::default().threshold, 12500);
        assert_eq!(Config::default().period, Duration::from_secs(20));
        assert_eq!(Config::default().quarantine, Duration::from_secs(40));
        let c = Config::from_lookup(env(&[
            (THRESHOLD_ENV, "3"),
            (PERIOD_ENV, "500ms"),
            (QUARANTINE_ENV, "5s"),
        ]));
        assert_eq!(
            c,
            Config {
                threshold: 3,
                period: Duration::from_millis(500),
                quarantine: Duration::from_secs(5),
            }
        );
        // Negative disables as 0 does; junk and a zero period are ignored.
        let c = Config::from_lookup(env(&[
            (THRESHOLD_ENV, "-1"),
            (PERIOD_ENV, "0"),
            (QUARANTINE_ENV, "soon"),
        ]));
        assert_eq!(c.threshold, 0);
        assert_eq!(c.period, GC_CHECK_PERIOD);
        assert_eq!(c.quarantine, QUARANTINE_TIME);
        let c = Config::from_lookup(env(&[(THRESHOLD_ENV, "many")]));
        assert_eq!(c.threshold, TERMINATED_POD_GC_THRESHOLD);
    }
}
