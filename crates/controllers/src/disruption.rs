//! The disruption controller (upstream `pkg/controller/disruption`): keeps
//! the status of every PodDisruptionBudget — `currentHealthy`,
//! `desiredHealthy`, `expectedPods`, `disruptionsAllowed`,
//! `observedGeneration`, `disruptedPods` and the `DisruptionAllowed`
//! condition — from the pods its selector matches and, for percentages and
//! `maxUnavailable`, from the scale of the pods' controllers
//! (Deployment, ReplicaSet, StatefulSet, ReplicationController, or any kind
//! with a `scale` subresource), as upstream's `getExpectedScale`.
//!
//! Owns: the PDB status. Does not own: the eviction decision, which the
//! API server's `pods/eviction` takes against this status.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::{
    PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};

use crate::controller_utils as cu;
use crate::events::{EventType, Recorder};
use crate::informer::{Informer, Informers};
use crate::{ApiContext, Error, Result};

/// Upstream `DeletionTimeout`: an eviction approved by the API server is
/// expected to delete its pod within this time; until then the pod is not
/// counted as healthy.
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(2 * 60);

/// Condition type and reasons of `policy/v1`.
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
pub const SUFFICIENT_PODS: &str = "SufficientPods";
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
pub const SYNC_FAILED: &str = "SyncFailed";

struct Ctx {
    client: Client,
    pods: Informer<Pod>,
    replica_sets: Informer<ReplicaSet>,
    deployments: Informer<Deployment>,
    stateful_sets: Informer<StatefulSet>,
    rcs: Informer<ReplicationController>,
    recorder: Recorder,
}

/// Runs the controller until its watches fail.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let pdbs = informers.of::<PodDisruptionBudget>();
    let pods = informers.of::<Pod>();
    let rss = informers.of::<ReplicaSet>();
    let deploys = informers.of::<Deployment>();
    let stss = informers.of::<StatefulSet>();
    let rcs = informers.of::<ReplicationController>();
    pods.synced().await;
    rss.synced().await;
    deploys.synced().await;
    stss.synced().await;
    rcs.synced().await;
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), "controllermanager"),
        client,
        pods: pods.clone(),
        replica_sets: rss.clone(),
        deployments: deploys.clone(),
        stateful_sets: stss.clone(),
        rcs: rcs.clone(),
    });
    let by_pod = pdbs.clone();
    let by_ns = pdbs.clone();
    let in_namespace = move |ns: Option<String>| -> Vec<ObjectRef<PodDisruptionBudget>> {
        by_ns
            .in_namespace(ns.as_deref().unwrap_or_default())
            .iter()
            .map(|p| ObjectRef::from_obj(p.as_ref()))
            .collect()
    };
    let (ns1, ns2, ns3, ns4) = (
        in_namespace.clone(),
        in_namespace.clone(),
        in_namespace.clone(),
        in_namespace,
    );
    Controller::for_shared_stream(pdbs.subscribe(), pdbs.store())
        .watches_shared_stream(pods.subscribe(), move |pod: Arc<Pod>| {
            pdbs_of_pod(&pod, &by_pod)
        })
        // A controller's scale is the denominator of percentages: any change
        // of one concerns the budgets of its namespace.
        .watches_shared_stream(
            rss.subscribe(),
            move |o: Arc<ReplicaSet>| ns1(o.namespace()),
        )
        .watches_shared_stream(deploys.subscribe(), move |o: Arc<Deployment>| {
            ns2(o.namespace())
        })
        .watches_shared_stream(stss.subscribe(), move |o: Arc<StatefulSet>| {
            ns3(o.namespace())
        })
        .watches_shared_stream(rcs.subscribe(), move |o: Arc<ReplicationController>| {
            ns4(o.namespace())
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// The budgets whose selector matches the pod (`getPdbForPod`; upstream
/// warns when there are several and syncs the first, we sync them all).
fn pdbs_of_pod(
    pod: &Pod,
    pdbs: &Informer<PodDisruptionBudget>,
) -> Vec<ObjectRef<PodDisruptionBudget>> {
    pdbs.in_namespace(&pod.namespace().unwrap_or_default())
        .iter()
        .filter(|p| selects(p, pod))
        .map(|p| ObjectRef::from_obj(p.as_ref()))
        .collect()
}

/// `LabelSelectorAsSelector` as the controller uses it: no selector
/// matches nothing, an empty one every pod of the namespace.
fn selects(pdb: &PodDisruptionBudget, pod: &Pod) -> bool {
    pdb.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|sel| cu::selector_matches(sel, pod.labels()))
}

fn error_policy(pdb: Arc<PodDisruptionBudget>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(pdb = %pdb.name_any(), error = %crate::error_chain(e), "disruption sync failed");
    Action::requeue(Duration::from_secs(1))
}

/// Why a sync could not compute the status.
enum SyncError {
    /// Reported in the `SyncFailed` condition (upstream's `failSafe`).
    Failed(String),
    /// A write lost a race (the eviction subresource writes the status
    /// too): retried without `failSafe`, as upstream.
    Conflict(kube::Error),
    /// Any other API error.
    Api(Error),
}

async fn reconcile(pdb: Arc<PodDisruptionBudget>, ctx: Arc<Ctx>) -> Result<Action> {
    match try_sync(&pdb, &ctx).await {
        Ok(Some(recheck)) => {
            let wait = recheck.duration_since(Timestamp::now());
            let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
            Ok(Action::requeue(wait + Duration::from_millis(100)))
        }
        Ok(None) => Ok(Action::await_change()),
        Err(SyncError::Conflict(e)) => Err(e).ctx(|| format!("update the status of {}", key(&pdb))),
        Err(SyncError::Api(e)) => Err(e),
        Err(SyncError::Failed(message)) => {
            tracing::warn!(pdb = %key(&pdb), %message, "failed to sync the disruption budget");
            let status = fail_safe_status(pdb.status.as_ref(), &message, Timestamp::now());
            write_status(&ctx.client, &pdb, status)
                .await
                .ctx(|| format!("update the status of {}", key(&pdb)))?;
            Ok(Action::await_change())
        }
    }
}

fn key(pdb: &PodDisruptionBudget) -> String {
    cu::key(&pdb.namespace().unwrap_or_default(), &pdb.name_any())
}

/// `trySync`: computes and writes the status; returns when to look again
/// (the first approved eviction that would time out).
async fn try_sync(pdb: &PodDisruptionBudget, ctx: &Ctx) -> Result<Option<Timestamp>, SyncError> {
    let pods: Vec<Arc<Pod>> = ctx
        .pods
        .in_namespace(&pdb.namespace().unwrap_or_default())
        .into_iter()
        .filter(|p| selects(pdb, p))
        .collect();
    if pods.is_empty() {
        ctx.recorder
            .record(
                pdb,
                EventType::Normal,
                "NoPods",
                "No matching pods found".into(),
            )
            .await;
    }
    let spec = pdb.spec.clone().unwrap_or_default();
    let scale = if needs_scale(&spec) {
        match expected_scale(ctx, &pods).await {
            Ok(s) => Some(s),
            Err(SyncError::Failed(m)) => {
                ctx.recorder
                    .record(
                        pdb,
                        EventType::Warning,
                        "CalculateExpectedPodCountFailed",
                        format!("Failed to calculate the number of expected pods: {m}"),
                    )
                    .await;
                return Err(SyncError::Failed(m));
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let (expected, desired) =
        match expected_and_desired(&spec, pods.len() as i32, scale.as_ref().map(|s| s.0)) {
            Ok(v) => v,
            Err(m) => {
                ctx.recorder
                    .record(
                        pdb,
                        EventType::Warning,
                        "CalculateExpectedPodCountFailed",
                        format!("Failed to calculate the number of expected pods: {m}"),
                    )
                    .await;
                return Err(SyncError::Failed(m));
            }
        };
    if scale.as_ref().is_some_and(|s| !s.1.is_empty()) {
        ctx.recorder
            .record(
                pdb,
                EventType::Warning,
                "UnmanagedPods",
                format!(
                    "Pods selected by this PodDisruptionBudget (selector: {}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.",
                    selector_string(&spec)
                ),
            )
            .await;
    }
    let now = Timestamp::now();
    let pod_refs: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
    let previous = pdb
        .status
        .as_ref()
        .and_then(|s| s.disrupted_pods.clone())
        .unwrap_or_default();
    let built = build_disrupted_pod_map(&pod_refs, &previous, now);
    for name in &built.expired {
        if let Some(pod) = pods.iter().find(|p| p.name_any() == *name) {
            ctx.recorder
                .record(
                    pod.as_ref(),
                    EventType::Warning,
                    "NotDeleted",
                    format!(
                        "Pod was expected by PDB {}/{} to be deleted but it wasn't",
                        pdb.namespace().unwrap_or_default(),
                        pdb.name_any()
                    ),
                )
                .await;
        }
    }
    let healthy = count_healthy_pods(&pod_refs, &built.disrupted, now);
    let generation = pdb.metadata.generation.unwrap_or(0);
    if let Some(status) = new_status(
        pdb.status.as_ref(),
        generation,
        Counts {
            current_healthy: healthy,
            desired_healthy: desired,
            expected_pods: expected,
        },
        built.disrupted,
        now,
    ) {
        match write_status(&ctx.client, pdb, status).await {
            Ok(()) => {}
            Err(e) if crate::is_conflict(&e) => return Err(SyncError::Conflict(e)),
            Err(e) if crate::is_not_found(&e) => return Ok(None),
            Err(e) => {
                return Err(SyncError::Api(Error::Api {
                    action: format!("update the status of {}", key(pdb)),
                    source: e,
                }));
            }
        }
    }
    Ok(built.recheck)
}

fn selector_string(spec: &PodDisruptionBudgetSpec) -> String {
    serde_json::to_string(&spec.selector).unwrap_or_default()
}

/// PUT of the status, with the resourceVersion read: a budget changed by
/// an eviction since is a conflict, and the sync is retried on fresh data.
async fn write_status(
    client: &Client,
    pdb: &PodDisruptionBudget,
    status: PodDisruptionBudgetStatus,
) -> std::result::Result<(), kube::Error> {
    let ns = pdb.namespace().unwrap_or_default();
    let api: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &ns);
    let mut new = pdb.clone();
    new.status = Some(status);
    new.metadata.managed_fields = None;
    api.replace_status(&pdb.name_any(), &PostParams::default(), &new)
        .await?;
    Ok(())
}

/// Whether the budget needs the controllers' scale: `maxUnavailable`, or a
/// percentage `minAvailable`.
pub fn needs_scale(spec: &PodDisruptionBudgetSpec) -> bool {
    spec.max_unavailable.is_some() || matches!(spec.min_available, Some(IntOrString::String(_)))
}

/// `getExpectedPodCount`: `(expectedPods, desiredHealthy)` from the spec,
/// the number of matching pods and the controllers' total scale (given
/// when [`needs_scale`]).
pub fn expected_and_desired(
    spec: &PodDisruptionBudgetSpec,
    pod_count: i32,
    scale: Option<i32>,
) -> Result<(i32, i32), String> {
    if let Some(max_unavailable) = &spec.max_unavailable {
        let expected = scale.unwrap_or(0);
        let max = cu::scaled_value(max_unavailable, expected, true)?;
        return Ok((expected, (expected - max).max(0)));
    }
    match &spec.min_available {
        Some(IntOrString::Int(n)) => Ok((pod_count, *n)),
        Some(v @ IntOrString::String(_)) => {
            let expected = scale.unwrap_or(0);
            Ok((expected, cu::scaled_value(v, expected, true)?))
        }
        None => Ok((0, 0)),
    }
}

/// The controller of a pod as the finders see it: kind, group, name, uid.
fn controller_of(pod: &Pod) -> Option<&OwnerReference> {
    cu::controller_ref(pod.metadata.owner_references.as_ref())
}

fn group_of(api_version: &str) -> &str {
    api_version
        .split_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default()
}

/// `getExpectedScale`: the sum of the scale of every controller of the
/// pods (each counted once), and the names of pods with no controller.
async fn expected_scale(ctx: &Ctx, pods: &[Arc<Pod>]) -> Result<(i32, Vec<String>), SyncError> {
    let mut scales: HashMap<String, i32> = HashMap::new();
    let mut unmanaged = Vec::new();
    for pod in pods {
        let Some(r) = controller_of(pod) else {
            unmanaged.push(pod.name_any());
            continue;
        };
        if scales.contains_key(&r.uid) {
            continue;
        }
        let ns = pod.namespace().unwrap_or_default();
        match find_scale(ctx, r, &ns).await? {
            Some((uid, scale)) => {
                scales.insert(uid, scale);
            }
            None => {
                return Err(SyncError::Failed(format!(
                    "found no controllers for pod {:?}",
                    pod.name_any()
                )));
            }
        }
    }
    Ok((scales.values().sum(), unmanaged))
}

/// The finders of upstream, in its order: ReplicationController,
/// Deployment (through its ReplicaSet), ReplicaSet without a Deployment,
/// StatefulSet, then any kind with a `scale` subresource.
async fn find_scale(
    ctx: &Ctx,
    r: &OwnerReference,
    ns: &str,
) -> Result<Option<(String, i32)>, SyncError> {
    let group = group_of(&r.api_version);
    let apps = matches!(group, "apps" | "extensions");
    match (r.kind.as_str(), group) {
        ("ReplicationController", "") => {
            let rc = ctx.rcs.get(ns, &r.name);
            Ok(rc
                .filter(|rc| rc.uid().as_deref() == Some(r.uid.as_str()))
                .map(|rc| {
                    let replicas = rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    (r.uid.clone(), replicas)
                }))
        }
        ("ReplicaSet", _) if apps => {
            let Some(rs) = ctx
                .replica_sets
                .get(ns, &r.name)
                .filter(|rs| rs.uid().as_deref() == Some(r.uid.as_str()))
            else {
                return Ok(None);
            };
            match cu::controller_ref(rs.metadata.owner_references.as_ref()) {
                Some(d) if d.kind == "Deployment" => {
                    if !matches!(group_of(&d.api_version), "apps" | "extensions") {
                        return Ok(None);
                    }
                    let deployment = ctx
                        .deployments
                        .get(ns, &d.name)
                        .filter(|dep| dep.uid().as_deref() == Some(d.uid.as_str()));
                    Ok(deployment.map(|dep| {
                        let replicas = dep.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                        (d.uid.clone(), replicas)
                    }))
                }
                _ => {
                    let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    Ok(Some((r.uid.clone(), replicas)))
                }
            }
        }
        ("StatefulSet", _) if apps => {
            let sts = ctx.stateful_sets.get(ns, &r.name);
            Ok(sts
                .filter(|s| s.uid().as_deref() == Some(r.uid.as_str()))
                .map(|s| {
                    let replicas = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    (r.uid.clone(), replicas)
                }))
        }
        _ => scale_subresource(ctx, r, ns).await,
    }
}

/// `getScaleController`: the `scale` subresource of the owner's kind.
async fn scale_subresource(
    ctx: &Ctx,
    r: &OwnerReference,
    ns: &str,
) -> Result<Option<(String, i32)>, SyncError> {
    let gvk = match kube::api::GroupVersionKind::try_from(&kube::core::TypeMeta {
        api_version: r.api_version.clone(),
        kind: r.kind.clone(),
    }) {
        Ok(g) => g,
        Err(e) => return Err(SyncError::Failed(e.to_string())),
    };
    let (resource, caps) = kube::discovery::pinned_kind(&ctx.client, &gvk)
        .await
        .map_err(|e| SyncError::Failed(e.to_string()))?;
    let gr = if resource.group.is_empty() {
        resource.plural.clone()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    };
    if !caps.subresources.iter().any(|(s, _)| s.plural == "scale") {
        return Err(SyncError::Failed(format!(
            "{gr} does not implement the scale subresource"
        )));
    }
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), ns, &resource);
    match api.get_scale(&r.name).await {
        Ok(scale) => {
            if scale.metadata.uid.as_deref() != Some(r.uid.as_str()) {
                return Ok(None);
            }
            let replicas = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
            Ok(Some((r.uid.clone(), replicas)))
        }
        Err(e) if crate::is_not_found(&e) => Ok(None),
        Err(e) => Err(SyncError::Failed(e.to_string())),
    }
}

/// What [`build_disrupted_pod_map`] found.
#[derive(Debug, PartialEq)]
pub struct DisruptedPods {
    /// Approved evictions still expected to delete their pod.
    pub disrupted: BTreeMap<String, Time>,
    /// When the first of them times out.
    pub recheck: Option<Timestamp>,
    /// Pods whose approved eviction timed out without a deletion.
    pub expired: Vec<String>,
}

/// `buildDisruptedPodMap`: keeps the approved evictions whose pod exists,
/// is not being deleted yet, and was approved less than
/// [`DELETION_TIMEOUT`] ago.
pub fn build_disrupted_pod_map(
    pods: &[&Pod],
    previous: &BTreeMap<String, Time>,
    now: Timestamp,
) -> DisruptedPods {
    let mut out = DisruptedPods {
        disrupted: BTreeMap::new(),
        recheck: None,
        expired: Vec::new(),
    };
    let timeout = SignedDuration::try_from(DELETION_TIMEOUT).unwrap_or(SignedDuration::ZERO);
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.name_any();
        let Some(at) = previous.get(&name) else {
            continue;
        };
        let expected_deletion = at.0.checked_add(timeout).unwrap_or(at.0);
        if expected_deletion < now {
            out.expired.push(name);
        } else {
            if out.recheck.is_none_or(|r| expected_deletion < r) {
                out.recheck = Some(expected_deletion);
            }
            out.disrupted.insert(name, at.clone());
        }
    }
    out
}

/// `countHealthyPods`: ready pods that are neither being deleted nor
/// approved for eviction.
pub fn count_healthy_pods(
    pods: &[&Pod],
    disrupted: &BTreeMap<String, Time>,
    now: Timestamp,
) -> i32 {
    let timeout = SignedDuration::try_from(DELETION_TIMEOUT).unwrap_or(SignedDuration::ZERO);
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            disrupted
                .get(&p.name_any())
                .is_none_or(|at| at.0.checked_add(timeout).unwrap_or(at.0) <= now)
        })
        .filter(|p| cu::is_pod_ready(p))
        .count() as i32
}

/// The numbers of a status.
#[derive(Clone, Copy, Debug)]
pub struct Counts {
    pub current_healthy: i32,
    pub desired_healthy: i32,
    pub expected_pods: i32,
}

/// `meta.SetStatusCondition`.
fn set_condition(conditions: &mut Vec<Condition>, mut cond: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == cond.type_) {
        Some(existing) => {
            if existing.status == cond.status {
                cond.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = cond;
        }
        None => conditions.push(cond),
    }
}

/// `pdbhelper.UpdateDisruptionAllowedCondition`.
fn update_disruption_allowed_condition(status: &mut PodDisruptionBudgetStatus, now: Timestamp) {
    let (value, reason) = if status.disruptions_allowed > 0 {
        ("True", SUFFICIENT_PODS)
    } else {
        ("False", INSUFFICIENT_PODS)
    };
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    set_condition(
        conditions,
        Condition {
            type_: DISRUPTION_ALLOWED.into(),
            status: value.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: status.observed_generation,
            last_transition_time: Time(now),
        },
    );
}

/// `pdbhelper.ConditionsAreUpToDate`.
fn conditions_up_to_date(status: &PodDisruptionBudgetStatus, generation: i64) -> bool {
    let Some(c) = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == DISRUPTION_ALLOWED)
    else {
        return false;
    };
    if status.observed_generation != Some(generation) {
        return false;
    }
    if status.disruptions_allowed > 0 {
        c.status == "True" && c.reason == SUFFICIENT_PODS
    } else {
        c.status == "False" && c.reason == INSUFFICIENT_PODS
    }
}

/// `updatePdbStatus`: the new status, or None when the current one is
/// right. Disruptions are allowed only when some pods are expected (a
/// budget that matches nothing yet is safe when its pods appear).
pub fn new_status(
    old: Option<&PodDisruptionBudgetStatus>,
    generation: i64,
    counts: Counts,
    disrupted: BTreeMap<String, Time>,
    now: Timestamp,
) -> Option<PodDisruptionBudgetStatus> {
    let mut allowed = counts.current_healthy - counts.desired_healthy;
    if counts.expected_pods <= 0 || allowed <= 0 {
        allowed = 0;
    }
    let empty = PodDisruptionBudgetStatus::default();
    let old = old.unwrap_or(&empty);
    let old_disrupted = old.disrupted_pods.clone().unwrap_or_default();
    if old.current_healthy == counts.current_healthy
        && old.desired_healthy == counts.desired_healthy
        && old.expected_pods == counts.expected_pods
        && old.disruptions_allowed == allowed
        && old_disrupted == disrupted
        && old.observed_generation == Some(generation)
        && conditions_up_to_date(old, generation)
    {
        return None;
    }
    let mut status = PodDisruptionBudgetStatus {
        current_healthy: counts.current_healthy,
        desired_healthy: counts.desired_healthy,
        expected_pods: counts.expected_pods,
        disruptions_allowed: allowed,
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        observed_generation: Some(generation),
        conditions: old.conditions.clone(),
    };
    update_disruption_allowed_condition(&mut status, now);
    Some(status)
}

/// `failSafe`: no disruption allowed, and why in a `SyncFailed` condition.
pub fn fail_safe_status(
    old: Option<&PodDisruptionBudgetStatus>,
    message: &str,
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let mut status = old.cloned().unwrap_or_default();
    status.disruptions_allowed = 0;
    let observed = status.observed_generation;
    set_condition(
        status.conditions.get_or_insert_with(Vec::new),
        Condition {
            type_: DISRUPTION_ALLOWED.into(),
            status: "False".into(),
            reason: SYNC_FAILED.into(),
            message: message.into(),
            observed_generation: observed,
            last_transition_time: Time(now),
        },
    );
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or_default()
    }

    fn pod(name: &str, ready: bool, deleting: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                deletion_timestamp: deleting.then(|| Time(ts(1))),
                ..Default::default()
            },
            spec: None,
            status: Some(PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    fn spec(min: Option<IntOrString>, max: Option<IntOrString>) -> PodDisruptionBudgetSpec {
        PodDisruptionBudgetSpec {
            min_available: min,
            max_unavailable: max,
            ..Default::default()
        }
    }

    #[test]
    fn expected_and_desired_by_spec_kind() {
        // An int minAvailable counts the matching pods, no scale needed.
        let s = spec(Some(IntOrString::Int(2)), None);
        assert!(!needs_scale(&s));
        assert_eq!(expected_and_desired(&s, 5, None), Ok((5, 2)));
        // A percentage minAvailable is of the controllers' scale.
        let s = spec(Some(IntOrString::String("50%".into())), None);
        assert!(needs_scale(&s));
        assert_eq!(expected_and_desired(&s, 2, Some(5)), Ok((5, 3)));
        // maxUnavailable, int and percent; never below zero.
        let s = spec(None, Some(IntOrString::Int(1)));
        assert_eq!(expected_and_desired(&s, 3, Some(3)), Ok((3, 2)));
        let s = spec(None, Some(IntOrString::String("30%".into())));
        assert_eq!(expected_and_desired(&s, 10, Some(10)), Ok((10, 7)));
        let s = spec(None, Some(IntOrString::Int(5)));
        assert_eq!(expected_and_desired(&s, 3, Some(3)), Ok((3, 0)));
        // Neither: nothing desired.
        assert_eq!(expected_and_desired(&spec(None, None), 3, None), Ok((0, 0)));
    }

    #[test]
    fn healthy_pods_exclude_deleting_and_recently_evicted() {
        let now = ts(1_000);
        let a = pod("a", true, false);
        let b = pod("b", true, true);
        let c = pod("c", false, false);
        let d = pod("d", true, false);
        let e = pod("e", true, false);
        let previous: BTreeMap<String, Time> = [
            ("d".to_string(), Time(ts(990))),
            // Approved long ago and still here: counted again, and reported.
            ("e".to_string(), Time(ts(100))),
            // Gone: dropped.
            ("z".to_string(), Time(ts(990))),
        ]
        .into();
        let pods = [&a, &b, &c, &d, &e];
        let built = build_disrupted_pod_map(&pods, &previous, now);
        assert_eq!(
            built.disrupted.keys().collect::<Vec<_>>(),
            vec![&"d".to_string()]
        );
        assert_eq!(built.expired, vec!["e".to_string()]);
        assert_eq!(built.recheck, Some(ts(990 + 120)));
        assert_eq!(count_healthy_pods(&pods, &built.disrupted, now), 2);
    }

    #[test]
    fn status_and_condition() {
        let now = ts(50);
        let counts = |c, d, e| Counts {
            current_healthy: c,
            desired_healthy: d,
            expected_pods: e,
        };
        let s = new_status(None, 1, counts(3, 2, 3), BTreeMap::new(), now).expect("new");
        assert_eq!(s.disruptions_allowed, 1);
        assert_eq!(s.observed_generation, Some(1));
        let c = &s.conditions.as_ref().expect("conditions")[0];
        assert_eq!(
            (c.type_.as_str(), c.status.as_str(), c.reason.as_str()),
            ("DisruptionAllowed", "True", "SufficientPods")
        );
        // Unchanged: nothing to write.
        assert!(new_status(Some(&s), 1, counts(3, 2, 3), BTreeMap::new(), ts(60)).is_none());
        // A new generation must be observed.
        assert!(new_status(Some(&s), 2, counts(3, 2, 3), BTreeMap::new(), ts(60)).is_some());
        // Budget exhausted: InsufficientPods, transition time moves.
        let t = new_status(Some(&s), 1, counts(2, 2, 3), BTreeMap::new(), ts(70)).expect("changed");
        let c = &t.conditions.as_ref().expect("conditions")[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "InsufficientPods")
        );
        assert_eq!(c.last_transition_time, Time(ts(70)));
        // No expected pods: never any disruption.
        let z = new_status(None, 1, counts(3, 0, 0), BTreeMap::new(), now).expect("new");
        assert_eq!(z.disruptions_allowed, 0);
    }

    #[test]
    fn fail_safe_allows_nothing() {
        let now = ts(5);
        let ok = new_status(
            None,
            1,
            Counts {
                current_healthy: 3,
                desired_healthy: 1,
                expected_pods: 3,
            },
            BTreeMap::new(),
            now,
        )
        .expect("new");
        let failed = fail_safe_status(Some(&ok), "found no controllers for pod \"x\"", ts(9));
        assert_eq!(failed.disruptions_allowed, 0);
        assert_eq!(failed.current_healthy, 3);
        let c = &failed.conditions.as_ref().expect("conditions")[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
            ("False", "SyncFailed", "found no controllers for pod \"x\"")
        );
        assert_eq!(c.last_transition_time, Time(ts(9)));
    }
}
