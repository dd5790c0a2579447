//! The DaemonSet controller (upstream `pkg/controller/daemon`): one pod per
//! node that the template's node selector, required node affinity and
//! tolerations admit, pinned to its node by a `metadata.name` node-affinity
//! term for the scheduler to bind. Pods on nodes that stopped matching are
//! deleted, failed pods are replaced with a per-node back-off, templates roll
//! out with `RollingUpdate` (maxUnavailable / maxSurge) or wait for
//! `OnDelete`, every template is kept as a ControllerRevision (trimmed to
//! `revisionHistoryLimit`), and the status counts nodes.
//!
//! The decisions are pure functions in `eligibility` and `plan`, the
//! ControllerRevision bookkeeping is in `revisions` (over the generic
//! [`crate::history`], shared with the StatefulSet controller); this module
//! gathers the cache and talks to the API.

mod eligibility;
mod plan;
mod revisions;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, future};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::controller_utils::{self as cu, Expectations};
use crate::events::{EventType, Recorder};
use crate::informer::{Informer, Informers};
use crate::{ApiContext, Error, Result};

use eligibility::Placement;
use plan::{Current, REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL};

/// Upstream's `BurstReplicas` for DaemonSets: at most this many creations
/// or deletions per sync.
pub const BURST_REPLICAS: usize = 250;
/// Where apps/v1 keeps the DaemonSet's template generation (set by the API
/// server, bumped on every template change).
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";
/// Back-off of failed pod replacement: from 1 s doubling to 15 min.
const FAILED_POD_BACKOFF_INITIAL: Duration = Duration::from_secs(1);
const FAILED_POD_BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);

/// `flowcontrol.Backoff` keyed by DaemonSet and node: how long to wait
/// before deleting the next failed pod there.
#[derive(Default)]
struct FailedPodBackoff {
    entries: Mutex<HashMap<String, (Duration, Instant)>>,
}

impl FailedPodBackoff {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Duration, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `IsInBackOffSinceUpdate`: the remaining wait, if any.
    fn remaining(&self, key: &str, now: Instant) -> Option<Duration> {
        let m = self.lock();
        let (delay, since) = m.get(key)?;
        let elapsed = now.saturating_duration_since(*since);
        (elapsed < *delay).then(|| *delay - elapsed)
    }

    /// `Next`: doubles the delay, starting over after a long quiet time.
    fn next(&self, key: &str, now: Instant) {
        let mut m = self.lock();
        let delay = match m.get(key) {
            Some((d, since))
                if now.saturating_duration_since(*since) <= 2 * FAILED_POD_BACKOFF_MAX =>
            {
                (*d * 2).min(FAILED_POD_BACKOFF_MAX)
            }
            _ => FAILED_POD_BACKOFF_INITIAL,
        };
        m.insert(key.to_string(), (delay, now));
    }
}

struct Ctx {
    client: Client,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    revisions: Informer<ControllerRevision>,
    expectations: Expectations,
    backoff: FailedPodBackoff,
    recorder: Recorder,
}

/// Runs the DaemonSet controller until its watches fail.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let pods = informers.of::<Pod>();
    let revisions = informers.of::<ControllerRevision>();
    let nodes = informers.of::<Node>();
    let daemonsets = informers.of::<DaemonSet>();
    // A first sync on half-filled caches would take missing nodes for gone.
    pods.synced().await;
    revisions.synced().await;
    nodes.synced().await;
    let node_changes = node_trigger(nodes.subscribe(), nodes.clone());
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), "daemonset-controller"),
        client,
        pods: pods.clone(),
        nodes,
        revisions: revisions.clone(),
        expectations: Expectations::default(),
        backoff: FailedPodBackoff::default(),
    });
    let for_pods = (daemonsets.clone(), ctx.clone());
    let for_revisions = daemonsets.clone();
    Controller::for_shared_stream(daemonsets.subscribe(), daemonsets.store())
        .watches_shared_stream(pods.subscribe(), move |pod: Arc<Pod>| {
            let ns = pod.namespace().unwrap_or_default();
            for_pods.1.expectations.observe(&ns, &pod.name_any());
            owners(&pod.metadata, &for_pods.0)
        })
        .watches_shared_stream(
            revisions.subscribe(),
            move |rev: Arc<ControllerRevision>| owners(&rev.metadata, &for_revisions),
        )
        // Node changes can change every DaemonSet's set of nodes.
        .reconcile_all_on(node_changes)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| future::ready(()))
        .await;
    Ok(())
}

/// What of a node decides placement: a change elsewhere (status heartbeats)
/// is not worth a sync of every DaemonSet.
fn node_fingerprint(node: &Node) -> Value {
    json!([
        node.metadata.labels,
        node.spec.as_ref().map(|s| (&s.taints, s.unschedulable)),
    ])
}

/// A tick for every node added, deleted, or changed in what decides
/// placement (upstream's `shouldIgnoreNodeUpdate` filter).
fn node_trigger(
    touched: impl futures::Stream<Item = Arc<Node>> + Send + 'static,
    nodes: Informer<Node>,
) -> impl futures::Stream<Item = ()> + Send + 'static {
    let mut seen: HashMap<String, Value> = HashMap::new();
    touched.filter_map(move |n| {
        let name = n.name_any();
        // A touched node no longer cached was deleted.
        let tick = if nodes.get("", &name).is_none() {
            seen.remove(&name).is_some()
        } else {
            let fp = node_fingerprint(&n);
            seen.insert(name, fp.clone()) != Some(fp)
        };
        future::ready(tick.then_some(()))
    })
}

/// The DaemonSets an object's event concerns: its controller, or for an
/// orphan every DaemonSet of its namespace whose selector matches.
fn owners(meta: &ObjectMeta, daemonsets: &Informer<DaemonSet>) -> Vec<ObjectRef<DaemonSet>> {
    let ns = meta.namespace.clone().unwrap_or_default();
    if let Some(r) = cu::controller_ref(meta.owner_references.as_ref()) {
        if r.kind == "DaemonSet" && r.api_version == "apps/v1" {
            return vec![ObjectRef::new(&r.name).within(&ns)];
        }
        return vec![];
    }
    let empty = BTreeMap::new();
    let labels = meta.labels.as_ref().unwrap_or(&empty);
    daemonsets
        .in_namespace(&ns)
        .iter()
        .filter(|d| {
            d.spec.as_ref().is_some_and(|s| {
                !cu::selector_is_empty(&s.selector) && cu::selector_matches(&s.selector, labels)
            })
        })
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

fn error_policy(ds: Arc<DaemonSet>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(daemonset = %ds.name_any(), error = %crate::error_chain(e), "daemon set sync failed");
    Action::requeue(Duration::from_secs(5))
}

/// The template generation the API server stamped on the DaemonSet.
fn template_generation(ds: &DaemonSet) -> Option<i64> {
    ds.annotations()
        .get(TEMPLATE_GENERATION_ANNOTATION)
        .and_then(|v| v.parse().ok())
}

/// Whether the update strategy lets a node run an old and a new pod at once
/// (`AllowsSurge`: maxSurge scaled against one node, so any percentage
/// above zero counts).
fn allows_surge(ds: &DaemonSet) -> bool {
    plan::fenceposts(ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()), 1).0 > 0
}

async fn reconcile(ds: Arc<DaemonSet>, ctx: Arc<Ctx>) -> Result<Action> {
    let ns = ds.namespace().unwrap_or_default();
    let name = ds.name_any();
    let key = cu::key(&ns, &name);
    let Some(spec) = ds.spec.as_ref() else {
        return Ok(Action::await_change());
    };
    if ds.metadata.deletion_timestamp.is_some() {
        // The garbage collector removes the pods; nothing to keep up.
        ctx.expectations.delete(&key);
        return Ok(Action::await_change());
    }
    if cu::selector_is_empty(&spec.selector) {
        ctx.recorder
            .record(
                ds.as_ref(),
                EventType::Warning,
                "SelectingAll",
                "This daemon set is selecting all pods. A non-empty selector is required.".into(),
            )
            .await;
        return Ok(Action::await_change());
    }
    let mut nodes: Vec<Arc<Node>> = ctx.nodes.state();
    nodes.sort_by_key(|n| n.name_any());
    let pod_spec = spec.template.spec.clone().unwrap_or_default();
    let placements: Vec<(String, Placement)> = nodes
        .iter()
        .map(|n| (n.name_any(), eligibility::node_should_run(&pod_spec, n)))
        .collect();

    let pods = claim_pods(&ctx, &ds).await?;
    let Some((hash, old_revisions)) = revisions::construct_history(&ctx, &ds).await? else {
        // A hash collision bumped collisionCount: sync again with it.
        return Ok(Action::requeue(Duration::from_millis(200)));
    };
    let tgen = template_generation(&ds);
    let current = Current {
        hash: &hash,
        template_generation: tgen,
        min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
        now: Timestamp::now(),
    };
    let node_pods = pods_by_node(&pods, false);
    let present = |p: &str| ctx.pods.get(&ns, p).is_some();
    let gone = |p: &str| {
        ctx.pods
            .get(&ns, p)
            .is_none_or(|pod| pod.metadata.deletion_timestamp.is_some())
    };
    let mut requeue: Option<Duration> = None;
    let mut synced = false;
    if ctx.expectations.satisfied(&key, present, gone) {
        synced = true;
        requeue = manage(&ctx, &ds, &placements, &node_pods, &current).await?;
        // Nothing created or deleted: the rolling update may go a step.
        if ctx.expectations.satisfied(&key, present, gone) && is_rolling(&ds) {
            let wanted: Vec<&str> = placements
                .iter()
                .filter(|(_, p)| p.should_run)
                .map(|(n, _)| n.as_str())
                .collect();
            let mut with_desired = node_pods.clone();
            for n in &wanted {
                with_desired.entry(n.to_string()).or_default();
            }
            let (surge, unavailable) =
                plan::fenceposts(spec.update_strategy.as_ref(), wanted.len());
            let step = plan::rolling_update(
                &with_desired,
                |n| wanted.contains(&n),
                wanted.len(),
                surge,
                unavailable,
                &current,
            );
            sync_nodes(&ctx, &ds, step.delete, step.create_on, &hash).await?;
        }
        revisions::cleanup_history(&ctx, &ds, &old_revisions, &pods).await?;
    }
    let counts = plan::count_status(
        placements.iter().map(|(n, p)| (n.as_str(), *p)),
        &node_pods,
        &current,
    );
    update_status(&ctx, &ds, counts, synced).await?;
    // Availability after minReadySeconds comes with no event: look again.
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    if min_ready > 0 && counts.number_ready != counts.number_available {
        let d = Duration::from_secs(min_ready as u64);
        requeue = Some(requeue.map_or(d, |r| r.min(d)));
    }
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

fn is_rolling(ds: &DaemonSet) -> bool {
    ds.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

/// `getNodesToDaemonPods`: the DaemonSet's pods by the node they are bound
/// or pinned to; terminal pods that are being deleted are left out unless
/// `include_deleted_terminal`.
fn pods_by_node(pods: &[Arc<Pod>], include_deleted_terminal: bool) -> BTreeMap<String, Vec<&Pod>> {
    let mut m: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for pod in pods {
        let terminal = matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        );
        if !include_deleted_terminal && terminal && pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(node) = pod.spec.as_ref().and_then(eligibility::target_node) else {
            continue;
        };
        m.entry(node).or_default().push(pod.as_ref());
    }
    m
}

/// `getDaemonPods`: the pods the DaemonSet controls, adopting matching
/// orphans and releasing owned pods that stopped matching.
async fn claim_pods(ctx: &Ctx, ds: &DaemonSet) -> Result<Vec<Arc<Pod>>> {
    let ns = ds.namespace().unwrap_or_default();
    let uid = ds.uid().unwrap_or_default();
    let Some(selector) = ds.spec.as_ref().map(|s| &s.selector) else {
        return Ok(Vec::new());
    };
    let mut owned = Vec::new();
    let mut can_adopt: Option<bool> = None;
    let mut candidates = ctx.pods.controlled_by(&uid);
    candidates.extend(ctx.pods.orphans_in(&ns));
    for pod in candidates {
        let matches = cu::selector_matches(selector, pod.labels());
        match cu::controller_ref(pod.metadata.owner_references.as_ref()) {
            Some(r) if r.uid == uid => {
                if matches {
                    owned.push(pod);
                } else {
                    cu::release(&ctx.client, pod.as_ref(), &uid).await?;
                }
            }
            Some(_) => {}
            None if matches && pod.metadata.deletion_timestamp.is_none() => {
                if can_adopt.is_none() {
                    can_adopt = Some(owner_is_current(ctx, ds).await?);
                }
                if can_adopt == Some(true)
                    && cu::adopt(&ctx.client, pod.as_ref(), controller_ref(ds)).await?
                {
                    owned.push(pod);
                }
            }
            None => {}
        }
    }
    Ok(owned)
}

fn controller_ref(
    ds: &DaemonSet,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
    cu::new_controller_ref(
        "apps/v1",
        "DaemonSet",
        &ds.name_any(),
        &ds.uid().unwrap_or_default(),
    )
}

/// Upstream `RecheckDeletionTimestamp`: adopt only if the DaemonSet, read
/// fresh, is still the same object and not being deleted.
async fn owner_is_current(ctx: &Ctx, ds: &DaemonSet) -> Result<bool> {
    let ns = ds.namespace().unwrap_or_default();
    let api: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &ns);
    let fresh = api
        .get_opt(&ds.name_any())
        .await
        .ctx(|| format!("get daemon set {ns}/{}", ds.name_any()))?;
    Ok(fresh.is_some_and(|f| f.uid() == ds.uid() && f.metadata.deletion_timestamp.is_none()))
}

/// `manage`: creates the missing daemon pods and deletes those that must
/// go. Returns when to look again for failed pods held back by back-off.
async fn manage(
    ctx: &Ctx,
    ds: &DaemonSet,
    placements: &[(String, Placement)],
    node_pods: &BTreeMap<String, Vec<&Pod>>,
    current: &Current<'_>,
) -> Result<Option<Duration>> {
    let surge = allows_surge(ds);
    let mut step = plan::ManagePlan::default();
    for (node, placement) in placements {
        plan::plan_node(
            node,
            *placement,
            node_pods.get(node),
            surge,
            current,
            &mut step,
        );
    }
    // Pods pinned to nodes that no longer exist are never bound or cleaned
    // up by anyone else (`getUnscheduledPodsWithoutNode`).
    for (node, pods) in node_pods {
        if placements.iter().any(|(n, _)| n == node) {
            continue;
        }
        step.delete.extend(
            pods.iter()
                .filter(|p| {
                    p.spec
                        .as_ref()
                        .and_then(|s| s.node_name.as_deref())
                        .is_none_or(str::is_empty)
                })
                .map(|p| p.name_any()),
        );
    }
    let mut retry: Option<Duration> = None;
    let uid = ds.uid().unwrap_or_default();
    let ns = ds.namespace().unwrap_or_default();
    for (node, pod) in &step.failed {
        let backoff_key = format!("{uid}/{node}");
        let now = Instant::now();
        if let Some(wait) = ctx.backoff.remaining(&backoff_key, now) {
            retry = Some(retry.map_or(wait, |r| r.min(wait)));
            continue;
        }
        ctx.backoff.next(&backoff_key, now);
        ctx.recorder
            .record(
                ds,
                EventType::Warning,
                "FailedDaemonPod",
                format!("Found failed daemon pod {ns}/{pod} on node {node}, will try to kill it"),
            )
            .await;
        step.delete.push(pod.clone());
    }
    sync_nodes(ctx, ds, step.delete, step.create_on, current.hash).await?;
    Ok(retry)
}

/// `CreatePodTemplate` + `GetPodFromTemplate`: a daemon pod for `node`
/// with the default tolerations, the revision labels, the ControllerRef,
/// and the node-name affinity the scheduler binds by.
fn new_pod(ds: &DaemonSet, node: &str, hash: &str) -> Pod {
    let template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    if let Some(g) = template_generation(ds) {
        labels.insert(TEMPLATE_GENERATION_LABEL.into(), g.to_string());
    }
    if !hash.is_empty() {
        labels.insert(REVISION_HASH_LABEL.into(), hash.into());
    }
    let mut spec = template.spec.unwrap_or_default();
    eligibility::add_daemon_tolerations(&mut spec);
    spec.affinity = Some(eligibility::pin_to_node(spec.affinity.take(), node));
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", ds.name_any())),
            namespace: ds.namespace(),
            labels: Some(labels),
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![controller_ref(ds)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// `syncNodes`: deletes `delete` and creates a pod on each of `create_on`
/// (at most [`BURST_REPLICAS`] of each, creations in slow-start batches),
/// under expectations so the next sync waits to see the results.
async fn sync_nodes(
    ctx: &Ctx,
    ds: &DaemonSet,
    mut delete: Vec<String>,
    mut create_on: Vec<String>,
    hash: &str,
) -> Result<()> {
    if delete.is_empty() && create_on.is_empty() {
        return Ok(());
    }
    create_on.truncate(BURST_REPLICAS);
    delete.truncate(BURST_REPLICAS);
    let ns = ds.namespace().unwrap_or_default();
    let key = cu::key(&ns, &ds.name_any());
    ctx.expectations.expect(&key, create_on.len(), &delete);
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let next = AtomicUsize::new(0);
    let (_, create_err) = cu::slow_start_batch(create_on.len(), || {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let node = create_on.get(i).cloned().unwrap_or_default();
        let pod = new_pod(ds, &node, hash);
        let api = api.clone();
        let key = key.clone();
        async move {
            cu::create_owned_pod(&api, &pod, ds, &key, &ctx.expectations, &ctx.recorder)
                .await
                .map_err(|e| Error::Api {
                    action: format!("create a daemon pod on node {node} for {key}"),
                    source: e,
                })
        }
    })
    .await;
    // Creations skipped after a failed batch will never be observed.
    for _ in next.load(Ordering::Relaxed)..create_on.len() {
        ctx.expectations.lower(&key, true, None);
    }
    let results = future::join_all(delete.iter().map(|name| {
        let api = api.clone();
        async move { (name, api.delete(name, &DeleteParams::default()).await) }
    }))
    .await;
    let mut delete_err = None;
    for (name, r) in results {
        match r {
            Ok(_) => {
                ctx.recorder
                    .record(
                        ds,
                        EventType::Normal,
                        "SuccessfulDelete",
                        format!("Deleted pod: {name}"),
                    )
                    .await
            }
            Err(e) if crate::is_not_found(&e) => {
                ctx.expectations.lower(&key, false, Some(name));
            }
            Err(e) => {
                ctx.expectations.lower(&key, false, Some(name));
                ctx.recorder
                    .record(
                        ds,
                        EventType::Warning,
                        "FailedDelete",
                        format!("Error deleting: {}", cu::api_message(&e)),
                    )
                    .await;
                delete_err.get_or_insert(Error::Api {
                    action: format!("delete daemon pod {ns}/{name}"),
                    source: e,
                });
            }
        }
    }
    match create_err.or(delete_err) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `storeDaemonSetStatus`: writes the counts (and `observedGeneration` once
/// a full sync ran) unless nothing changed.
async fn update_status(ctx: &Ctx, ds: &DaemonSet, c: plan::Counts, synced: bool) -> Result<()> {
    let old = ds.status.clone().unwrap_or_default();
    let generation = ds.metadata.generation.unwrap_or(0);
    let observed = if synced {
        generation
    } else {
        old.observed_generation.unwrap_or(0)
    };
    let same = old.desired_number_scheduled == c.desired_number_scheduled
        && old.current_number_scheduled == c.current_number_scheduled
        && old.number_misscheduled == c.number_misscheduled
        && old.number_ready == c.number_ready
        && old.updated_number_scheduled.unwrap_or(0) == c.updated_number_scheduled
        && old.number_available.unwrap_or(0) == c.number_available
        && old.number_unavailable.unwrap_or(0) == c.number_unavailable
        && old.observed_generation.unwrap_or(0) >= generation;
    if same {
        return Ok(());
    }
    let status = json!({
        "desiredNumberScheduled": c.desired_number_scheduled,
        "currentNumberScheduled": c.current_number_scheduled,
        "numberMisscheduled": c.number_misscheduled,
        "numberReady": c.number_ready,
        "updatedNumberScheduled": c.updated_number_scheduled,
        "numberAvailable": c.number_available,
        "numberUnavailable": c.number_unavailable,
        "observedGeneration": observed,
    });
    let ns = ds.namespace().unwrap_or_default();
    let api: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &ns);
    match api
        .patch_status(
            &ds.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": status})),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if crate::is_not_found(&e) => Ok(()),
        Err(e) => Err(e).ctx(|| format!("update the status of daemon set {ns}/{}", ds.name_any())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_pods_are_pinned_labelled_and_tolerate_node_conditions() {
        let ds: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "kube-system", "uid": "u1",
                "annotations": {TEMPLATE_GENERATION_ANNOTATION: "3"}},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}
                }
            }
        }))
        .unwrap_or_default();
        let pod = new_pod(&ds, "node-1", "h1");
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("agent-"));
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get(REVISION_HASH_LABEL).map(String::as_str),
            Some("h1")
        );
        assert_eq!(
            labels.get(TEMPLATE_GENERATION_LABEL).map(String::as_str),
            Some("3")
        );
        assert_eq!(labels.get("app").map(String::as_str), Some("agent"));
        let spec = pod.spec.clone().unwrap_or_default();
        assert_eq!(eligibility::target_node(&spec).as_deref(), Some("node-1"));
        assert_eq!(spec.tolerations.map(|t| t.len()), Some(6));
        let owner = cu::controller_ref(pod.metadata.owner_references.as_ref()).cloned();
        assert_eq!(
            owner.map(|o| (o.kind, o.uid)),
            Some(("DaemonSet".into(), "u1".into()))
        );
    }

    #[test]
    fn failed_pod_backoff_doubles_per_node() {
        let b = FailedPodBackoff::default();
        let t0 = Instant::now();
        assert_eq!(b.remaining("ds/n1", t0), None);
        b.next("ds/n1", t0);
        assert_eq!(b.remaining("ds/n1", t0), Some(Duration::from_secs(1)));
        assert_eq!(b.remaining("ds/n2", t0), None);
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(b.remaining("ds/n1", t1), None);
        b.next("ds/n1", t1);
        assert_eq!(b.remaining("ds/n1", t1), Some(Duration::from_secs(2)));
    }
}
