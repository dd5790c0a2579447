//! The StatefulSet controller (upstream `pkg/controller/statefulset`): pods
//! with stable names `<set>-<ordinal>`, hostnames and claims
//! `<claim>-<set>-<ordinal>` made from `volumeClaimTemplates`, created in
//! order (OrderedReady) or all at once (Parallel), rolled from the highest
//! ordinal down to the partition (RollingUpdate) or left for the user to
//! delete (OnDelete), with ControllerRevisions recording each template so a
//! rollout can be followed and undone.
//!
//! [`identity`] owns what a member pod and its claims look like, [`plan`]
//! what to do next; this module reads the caches, carries out a plan through
//! the API and reports the status. It does not delete claims: their
//! ownerReferences (per `persistentVolumeClaimRetentionPolicy`) let the
//! garbage collector do it.

pub mod identity;
pub mod plan;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use self::identity as id;
use self::plan::{Plan, Step, UpdateRevision};
use crate::controller_utils as cu;
use crate::events::{EventType, Recorder};
use crate::history::{self, History};
use crate::informer::{Informer, Informers};
use crate::{ApiContext, Error, Result};

struct Ctx {
    client: Client,
    pods: Informer<Pod>,
    claims: Informer<PersistentVolumeClaim>,
    revisions: Informer<ControllerRevision>,
    recorder: Recorder,
    history: History,
}

/// Runs the StatefulSet controller until its watches fail.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let pods = informers.of::<Pod>();
    let claims = informers.of::<PersistentVolumeClaim>();
    let revisions = informers.of::<ControllerRevision>();
    let sets = informers.of::<StatefulSet>();
    // Acting on a partial cache would recreate pods that exist.
    pods.synced().await;
    claims.synced().await;
    revisions.synced().await;
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), "statefulset-controller"),
        history: History::new(client.clone()),
        client,
        pods: pods.clone(),
        claims: claims.clone(),
        revisions: revisions.clone(),
    });
    let for_pods = sets.clone();
    let for_claims = sets.clone();
    Controller::for_shared_stream(sets.subscribe(), sets.store())
        .watches_shared_stream(pods.subscribe(), move |pod: Arc<Pod>| {
            owners_of(&for_pods, pod.namespace(), &pod.metadata)
        })
        .watches_shared_stream(
            revisions.subscribe(),
            move |rev: Arc<ControllerRevision>| {
                let ns = rev.namespace().unwrap_or_default();
                cu::controller_ref(rev.metadata.owner_references.as_ref())
                    .filter(|r| r.kind == "StatefulSet" && r.api_version == "apps/v1")
                    .map(|r| ObjectRef::new(&r.name).within(&ns))
            },
        )
        // A claim going away may unblock a pod whose stale claim held it.
        .watches_shared_stream(
            claims.subscribe(),
            move |claim: Arc<PersistentVolumeClaim>| {
                selecting_sets(&for_claims, claim.namespace(), claim.labels())
            },
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// The sets a pod event concerns: its controller, or for an orphan every
/// set whose selector matches (a candidate for adoption).
fn owners_of(
    sets: &Informer<StatefulSet>,
    namespace: Option<String>,
    meta: &kube::api::ObjectMeta,
) -> Vec<ObjectRef<StatefulSet>> {
    let ns = namespace.unwrap_or_default();
    if let Some(r) = cu::controller_ref(meta.owner_references.as_ref()) {
        if r.kind == "StatefulSet" && r.api_version == "apps/v1" {
            return vec![ObjectRef::new(&r.name).within(&ns)];
        }
        return vec![];
    }
    let empty = Default::default();
    selecting_sets(sets, Some(ns), meta.labels.as_ref().unwrap_or(&empty))
}

fn selecting_sets(
    sets: &Informer<StatefulSet>,
    namespace: Option<String>,
    labels: &std::collections::BTreeMap<String, String>,
) -> Vec<ObjectRef<StatefulSet>> {
    sets.in_namespace(namespace.as_deref().unwrap_or_default())
        .iter()
        .filter(|s| {
            s.spec.as_ref().is_some_and(|spec| {
                !cu::selector_is_empty(&spec.selector)
                    && cu::selector_matches(&spec.selector, labels)
            })
        })
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

fn error_policy(set: Arc<StatefulSet>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(statefulset = %set.name_any(), error = %crate::error_chain(e), "statefulset sync failed");
    Action::requeue(Duration::from_secs(5))
}

/// The message of an API error as upstream's events print it.
/// What carrying out a plan did.
#[derive(Default)]
struct Outcome {
    /// A pod was deleted for the rolling update (one fewer current replica).
    deleted_for_update: bool,
    /// A pod create met an existing pod the cache does not show yet.
    wait_for_cache: bool,
}

/// The set with its template replaced by the one stored in `revision`
/// (upstream `ApplyRevision`).
fn template_at(set: &StatefulSet, revision: &ControllerRevision) -> Result<PodTemplateSpec> {
    let fallback = set.spec.as_ref().map(|s| s.template.clone());
    match history::template_of(revision) {
        Some(t) => serde_json::from_value(t).map_err(|e| {
            Error::Invalid(format!(
                "controller revision {} holds an invalid pod template: {e}",
                revision.name_any()
            ))
        }),
        None => fallback.ok_or_else(|| Error::Invalid("statefulset has no spec".into())),
    }
}

/// Upstream `newRevision`: the set's template as a revision, with the set's
/// annotations.
fn new_set_revision(set: &StatefulSet, revision: i64, collision_count: i32) -> ControllerRevision {
    let template_labels = set
        .spec
        .as_ref()
        .map(|s| id::template_labels(&s.template))
        .unwrap_or_default();
    let mut cr = history::new_revision(
        &id::set_controller_ref(set),
        &set.namespace().unwrap_or_default(),
        &template_labels,
        set.spec
            .as_ref()
            .map_or(Value::Null, |s| history::template_data(&s.template)),
        revision,
        Some(collision_count),
    );
    if !set.annotations().is_empty() {
        cr.metadata.annotations = Some(set.annotations().clone());
    }
    cr
}

async fn reconcile(set: Arc<StatefulSet>, ctx: Arc<Ctx>) -> Result<Action> {
    let ns = set.namespace().unwrap_or_default();
    let uid = set.uid().unwrap_or_default();
    let Some(spec) = set.spec.as_ref() else {
        return Ok(Action::await_change());
    };
    let selector = spec.selector.clone();
    if cu::selector_is_empty(&selector) {
        ctx.recorder
            .record(
                set.as_ref(),
                EventType::Warning,
                "InvalidSelector",
                "the selector is empty: it would select every pod".into(),
            )
            .await;
        return Ok(Action::await_change());
    }
    let deleting = set.metadata.deletion_timestamp.is_some();

    let mut revisions = history::owned_or_orphaned(
        ctx.revisions.in_namespace(&ns).iter().map(|r| r.as_ref()),
        &ns,
        &selector,
        &uid,
    );
    let has_orphans = revisions
        .iter()
        .any(|r| cu::controller_ref(r.metadata.owner_references.as_ref()).is_none());
    let mut fresh_checked = false;
    if has_orphans && !deleting {
        if !still_the_same(&ctx, &set).await? {
            return Ok(Action::await_change());
        }
        fresh_checked = true;
        for r in revisions
            .iter()
            .filter(|r| cu::controller_ref(r.metadata.owner_references.as_ref()).is_none())
        {
            ctx.history.adopt(id::set_controller_ref(&set), r).await?;
        }
    }

    let pods = claim_pods(&ctx, &set, &selector, fresh_checked).await?;
    history::sort_revisions(&mut revisions);
    let (current, update, collision_count) = set_revisions(&ctx, &set, &mut revisions).await?;
    let current_name = current.name_any();
    let update_name = update.name_any();

    let pod_refs: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
    let claims: HashMap<String, Arc<PersistentVolumeClaim>> = ctx
        .claims
        .in_namespace(&ns)
        .into_iter()
        .map(|c| (c.name_any(), c))
        .collect();
    let now = Timestamp::now();
    let the_plan = plan::plan(
        &set,
        &pod_refs,
        &plan::Inputs {
            claim: |n: &str| claims.get(n).map(|c| c.as_ref()),
            update_revision: &update_name,
            now,
        },
    );
    let templates = Templates {
        current: template_at(&set, &current)?,
        update: template_at(&set, &update)?,
        current_name: &current_name,
        update_name: &update_name,
    };
    let mut outcome = Outcome::default();
    let result = execute(&ctx, &set, &the_plan, &templates, &claims, &mut outcome).await;

    let min_ready = id::min_ready_seconds(&set);
    let mut counts = plan::count(&pod_refs, min_ready, &current_name, &update_name, now);
    if outcome.deleted_for_update {
        counts.current -= 1;
    }
    update_status(
        &ctx,
        &set,
        &counts,
        &current_name,
        &update_name,
        collision_count,
    )
    .await?;

    // `truncateHistory`: live are the current and update revisions and
    // every revision a pod runs at.
    let mut live: HashSet<&str> = [current_name.as_str(), update_name.as_str()].into();
    live.extend(pod_refs.iter().map(|p| id::pod_revision(p)));
    let is_live =
        |r: &ControllerRevision| live.contains(r.metadata.name.as_deref().unwrap_or_default());
    // Only revisions no pod runs count against the limit; a negative limit
    // keeps them all.
    let historic = revisions.iter().filter(|r| !is_live(r)).count();
    let limit = spec.revision_history_limit.unwrap_or(10);
    let excess = usize::try_from(limit).map_or(0, |l| historic.saturating_sub(l));
    for r in history::revisions_to_truncate(&revisions, excess, is_live) {
        ctx.history.delete(r).await?;
    }
    result?;

    if outcome.wait_for_cache {
        // The pod's watch event normally comes first; this is the fallback
        // (and the retry when a foreign pod holds the name).
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    // Pods turn available with time, not with an event.
    if min_ready > 0 && counts.available != id::replicas(&set) {
        return Ok(Action::requeue(Duration::from_secs(min_ready as u64)));
    }
    Ok(Action::await_change())
}

/// Upstream `RecheckDeletionTimestamp`: the set, read fresh, is the one we
/// hold and is not being deleted (before adopting anything).
async fn still_the_same(ctx: &Ctx, set: &StatefulSet) -> Result<bool> {
    let ns = set.namespace().unwrap_or_default();
    let api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &ns);
    let fresh = api
        .get_opt(&set.name_any())
        .await
        .ctx(|| format!("get statefulset {ns}/{}", set.name_any()))?;
    Ok(fresh.is_some_and(|f| f.uid() == set.uid() && f.metadata.deletion_timestamp.is_none()))
}

/// `getPodsForStatefulSet`: the pods controlled by the set that match its
/// selector and name pattern; matching orphans are adopted, controlled pods
/// that stopped matching are released.
async fn claim_pods(
    ctx: &Ctx,
    set: &StatefulSet,
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    mut fresh_checked: bool,
) -> Result<Vec<Arc<Pod>>> {
    let ns = set.namespace().unwrap_or_default();
    let uid = set.uid().unwrap_or_default();
    let deleting = set.metadata.deletion_timestamp.is_some();
    let mut owned = Vec::new();
    let mut candidates = ctx.pods.controlled_by(&uid);
    candidates.extend(ctx.pods.orphans_in(&ns));
    for pod in candidates {
        let matches = cu::selector_matches(selector, pod.labels()) && id::is_member_of(set, &pod);
        match cu::controller_ref(pod.metadata.owner_references.as_ref()) {
            Some(r) if r.uid == uid => {
                if matches {
                    owned.push(pod);
                } else if !deleting {
                    cu::release(&ctx.client, pod.as_ref(), &uid).await?;
                }
            }
            Some(_) => {}
            None => {
                if !matches || deleting || pod.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                if !fresh_checked {
                    if !still_the_same(ctx, set).await? {
                        return Ok(owned);
                    }
                    fresh_checked = true;
                }
                if cu::adopt(&ctx.client, pod.as_ref(), id::set_controller_ref(set)).await? {
                    owned.push(pod);
                }
            }
        }
    }
    Ok(owned)
}

/// `getStatefulSetRevisions`: the current and update revisions and the
/// collision count, creating or renumbering the update revision as needed.
async fn set_revisions(
    ctx: &Ctx,
    set: &StatefulSet,
    sorted: &mut [ControllerRevision],
) -> Result<(ControllerRevision, ControllerRevision, i32)> {
    let status = set.status.as_ref();
    let mut collision_count = status.and_then(|s| s.collision_count).unwrap_or(0);
    let candidate = new_set_revision(set, history::next_revision(sorted), collision_count);
    let update = match plan::choose_update_revision(sorted, &candidate) {
        UpdateRevision::Latest => sorted.last().cloned().unwrap_or(candidate),
        UpdateRevision::Renumber(i) => {
            let renumbered = ctx
                .history
                .update_revision(&sorted[i], candidate.revision)
                .await?;
            sorted[i] = renumbered.clone();
            renumbered
        }
        UpdateRevision::Create => {
            ctx.history
                .create(&set.name_any(), &candidate, &mut collision_count)
                .await?
        }
    };
    let current_name = status.and_then(|s| s.current_revision.as_deref());
    let current = sorted
        .iter()
        .find(|r| current_name.is_some_and(|n| r.metadata.name.as_deref() == Some(n)))
        .cloned()
        .unwrap_or_else(|| update.clone());
    Ok((current, update, collision_count))
}

/// The templates new pods are built from.
struct Templates<'a> {
    current: PodTemplateSpec,
    update: PodTemplateSpec,
    current_name: &'a str,
    update_name: &'a str,
}

/// Carries out the plan phase by phase; a phase with a failure ends it.
async fn execute(
    ctx: &Ctx,
    set: &StatefulSet,
    the_plan: &Plan,
    templates: &Templates<'_>,
    claims: &HashMap<String, Arc<PersistentVolumeClaim>>,
    outcome: &mut Outcome,
) -> Result<()> {
    for phase in &the_plan.phases {
        if the_plan.parallel {
            let mut steps = phase.iter();
            let results = std::sync::Mutex::new(Vec::new());
            let (_, err) = cu::slow_start_batch(phase.len(), || {
                let step = steps.next();
                let results = &results;
                async move {
                    let Some(step) = step else { return Ok(()) };
                    let r = run_step(ctx, set, step, templates, claims).await;
                    let failed = r.is_err();
                    results.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                    if failed { Err(()) } else { Ok(()) }
                }
            })
            .await;
            for r in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
                merge(outcome, r?);
            }
            if err.is_some() {
                return Ok(());
            }
        } else {
            for step in phase {
                let r = run_step(ctx, set, step, templates, claims).await?;
                merge(outcome, r);
            }
        }
    }
    Ok(())
}

fn merge(outcome: &mut Outcome, step: Outcome) {
    outcome.deleted_for_update |= step.deleted_for_update;
    outcome.wait_for_cache |= step.wait_for_cache;
}

async fn run_step(
    ctx: &Ctx,
    set: &StatefulSet,
    step: &Step,
    templates: &Templates<'_>,
    claims: &HashMap<String, Arc<PersistentVolumeClaim>>,
) -> Result<Outcome> {
    let ns = set.namespace().unwrap_or_default();
    let cached = |name: &str| ctx.pods.get(&ns, name);
    match step {
        Step::CreatePod { ordinal } => create_pod(ctx, set, *ordinal, templates, claims).await,
        Step::EnsureClaims { ordinal, pod } => {
            if let Some(p) = cached(pod) {
                create_claims(ctx, set, *ordinal, &p, claims).await?;
                set_claim_owners(ctx, set, &p).await?;
            }
            Ok(Outcome::default())
        }
        Step::UpdatePod { pod } => {
            if let Some(p) = cached(pod) {
                update_pod(ctx, set, &p, claims).await?;
            }
            Ok(Outcome::default())
        }
        Step::FixClaims { pod } => {
            if let Some(p) = cached(pod) {
                set_claim_owners(ctx, set, &p).await?;
            }
            Ok(Outcome::default())
        }
        Step::DeleteTerminated { pod } | Step::DeleteCondemned { pod } => {
            delete_pod(ctx, set, pod).await?;
            Ok(Outcome::default())
        }
        Step::DeleteForUpdate { pod } => {
            delete_pod(ctx, set, pod).await?;
            Ok(Outcome {
                deleted_for_update: true,
                ..Default::default()
            })
        }
    }
}

/// `recordPodEvent`.
async fn pod_event(ctx: &Ctx, set: &StatefulSet, verb: &str, pod: &str, err: Option<&str>) {
    let set_name = set.name_any();
    let title = format!("{}{}", verb[..1].to_uppercase(), &verb[1..]);
    match err {
        None => {
            ctx.recorder
                .record(
                    set,
                    EventType::Normal,
                    &format!("Successful{title}"),
                    format!("{verb} Pod {pod} in StatefulSet {set_name} successful"),
                )
                .await
        }
        Some(e) => {
            ctx.recorder
                .record(
                    set,
                    EventType::Warning,
                    &format!("Failed{title}"),
                    format!("{verb} Pod {pod} in StatefulSet {set_name} failed error: {e}"),
                )
                .await
        }
    }
}

/// `createPersistentVolumeClaims`: the member's claims that the cache does
/// not hold, with upstream's claim events.
async fn create_claims(
    ctx: &Ctx,
    set: &StatefulSet,
    ordinal: i32,
    pod: &Pod,
    cache: &HashMap<String, Arc<PersistentVolumeClaim>>,
) -> Result<()> {
    let ns = set.namespace().unwrap_or_default();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
    let set_name = set.name_any();
    let pod_name = pod.name_any();
    let mut failures = Vec::new();
    for (_, claim) in id::claims_for(set, ordinal) {
        let claim_name = claim.name_any();
        if let Some(existing) = cache.get(&claim_name) {
            if existing.metadata.deletion_timestamp.is_some() {
                failures.push(format!("pvc {claim_name} is being deleted"));
            }
            continue;
        }
        match api.create(&PostParams::default(), &claim).await {
            Ok(_) => ctx
                .recorder
                .record(
                    set,
                    EventType::Normal,
                    "SuccessfulCreate",
                    format!(
                        "create Claim {claim_name} Pod {pod_name} in StatefulSet {set_name} success"
                    ),
                )
                .await,
            // The cache lags our own create of an earlier sync.
            Err(e) if crate::is_already_exists(&e) => {}
            Err(e) => {
                let msg = cu::api_message(&e);
                ctx.recorder
                    .record(
                        set,
                        EventType::Warning,
                        "FailedCreate",
                        format!("create Claim {claim_name} for Pod {pod_name} in StatefulSet {set_name} failed error: {msg}"),
                    )
                    .await;
                failures.push(format!("failed to create PVC {claim_name}: {msg}"));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(failures.join("; ")))
    }
}

/// `UpdatePodClaimForRetentionPolicy`: points the owners of the pod's
/// claims at the set or the pod as the retention policy says.
async fn set_claim_owners(ctx: &Ctx, set: &StatefulSet, pod: &Pod) -> Result<()> {
    let Some(ordinal) = id::ordinal(pod) else {
        return Ok(());
    };
    let ns = set.namespace().unwrap_or_default();
    for (_, claim) in id::claims_for(set, ordinal) {
        let Some(existing) = ctx.claims.get(&ns, &claim.name_any()) else {
            // Not created yet: a later sync sets its owners.
            continue;
        };
        if id::claim_owner_up_to_date(set, &existing, pod) {
            continue;
        }
        let refs = id::claim_owner_refs(set, &existing, pod);
        cu::patch_owner_refs(&ctx.client, existing.as_ref(), refs, None).await?;
    }
    Ok(())
}

/// `CreateStatefulPod`: the claims first, then the pod, then the claims'
/// owners (which may name the pod).
async fn create_pod(
    ctx: &Ctx,
    set: &StatefulSet,
    ordinal: i32,
    templates: &Templates<'_>,
    claims: &HashMap<String, Arc<PersistentVolumeClaim>>,
) -> Result<Outcome> {
    let (template, revision) = if plan::new_pod_at_current_revision(set, ordinal) {
        (&templates.current, templates.current_name)
    } else {
        (&templates.update, templates.update_name)
    };
    let pod = id::new_pod(set, template, ordinal, revision);
    let pod_name = pod.name_any();
    if let Err(e) = create_claims(ctx, set, ordinal, &pod, claims).await {
        pod_event(ctx, set, "create", &pod_name, Some(&e.to_string())).await;
        return Err(e);
    }
    let ns = set.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    match api.create(&PostParams::default(), &pod).await {
        Ok(created) => {
            pod_event(ctx, set, "create", &pod_name, None).await;
            set_claim_owners(ctx, set, &created).await?;
            Ok(Outcome::default())
        }
        // Our own create of an earlier sync that the cache does not show
        // yet: wait for it rather than fail.
        Err(e) if crate::is_already_exists(&e) => {
            tracing::debug!(pod = %pod_name, "pod exists but is not in the cache yet");
            Ok(Outcome {
                wait_for_cache: true,
                ..Default::default()
            })
        }
        Err(e) => {
            pod_event(ctx, set, "create", &pod_name, Some(&cu::api_message(&e))).await;
            Err(e).ctx(|| format!("create pod {ns}/{pod_name}"))
        }
    }
}

/// `DeleteStatefulPod`. A pod already gone is fine.
async fn delete_pod(ctx: &Ctx, set: &StatefulSet, pod: &str) -> Result<()> {
    let ns = set.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    match api.delete(pod, &DeleteParams::default()).await {
        Ok(_) => {
            pod_event(ctx, set, "delete", pod, None).await;
            Ok(())
        }
        Err(e) if crate::is_not_found(&e) => Ok(()),
        Err(e) => {
            pod_event(ctx, set, "delete", pod, Some(&cu::api_message(&e))).await;
            Err(e).ctx(|| format!("delete pod {ns}/{pod}"))
        }
    }
}

/// `UpdateStatefulPod`: restores the identity labels and claim volumes of
/// a pod, creating missing claims, and the owners of its claims.
async fn update_pod(
    ctx: &Ctx,
    set: &StatefulSet,
    pod: &Pod,
    claims: &HashMap<String, Arc<PersistentVolumeClaim>>,
) -> Result<()> {
    let mut updated = pod.clone();
    let mut dirty = false;
    if !id::identity_matches(set, &updated) {
        id::update_identity(set, &mut updated);
        dirty = true;
    }
    if !id::storage_matches(set, &updated) {
        id::update_storage(set, &mut updated);
        dirty = true;
        if let Some(o) = id::ordinal(&updated)
            && let Err(e) = create_claims(ctx, set, o, &updated, claims).await
        {
            pod_event(ctx, set, "update", &pod.name_any(), Some(&e.to_string())).await;
            return Err(e);
        }
    }
    if let Err(e) = set_claim_owners(ctx, set, &updated).await {
        pod_event(ctx, set, "update", &pod.name_any(), Some(&e.to_string())).await;
        return Err(e);
    }
    if !dirty {
        return Ok(());
    }
    let ns = set.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    // The resourceVersion we read makes a concurrent change a conflict,
    // retried by the next sync.
    match api
        .replace(&pod.name_any(), &PostParams::default(), &updated)
        .await
    {
        Ok(_) => {
            pod_event(ctx, set, "update", &pod.name_any(), None).await;
            Ok(())
        }
        Err(e) => {
            pod_event(
                ctx,
                set,
                "update",
                &pod.name_any(),
                Some(&cu::api_message(&e)),
            )
            .await;
            Err(e).ctx(|| format!("update pod {ns}/{}", pod.name_any()))
        }
    }
}

/// `updateStatefulSetStatus`: completes a finished rolling update and
/// writes the status when it differs (`inconsistentStatus`).
async fn update_status(
    ctx: &Ctx,
    set: &StatefulSet,
    counts: &plan::Counts,
    current_revision: &str,
    update_revision: &str,
    collision_count: i32,
) -> Result<()> {
    let (current_revision, current_replicas) =
        plan::complete_rolling_update(set, counts, current_revision, update_revision);
    let generation = set.metadata.generation.unwrap_or(0);
    let old = set.status.clone().unwrap_or_default();
    let same = old.observed_generation.unwrap_or(0) >= generation
        && old.replicas == counts.replicas
        && old.ready_replicas.unwrap_or(0) == counts.ready
        && old.current_replicas.unwrap_or(0) == current_replicas
        && old.updated_replicas.unwrap_or(0) == counts.updated
        && old.available_replicas.unwrap_or(0) == counts.available
        && old.current_revision.as_deref() == Some(current_revision.as_str())
        && old.update_revision.as_deref() == Some(update_revision)
        && old.collision_count.unwrap_or(0) == collision_count;
    if same {
        return Ok(());
    }
    let status = json!({
        "observedGeneration": generation,
        "replicas": counts.replicas,
        "readyReplicas": counts.ready,
        "currentReplicas": current_replicas,
        "updatedReplicas": counts.updated,
        "availableReplicas": counts.available,
        "currentRevision": current_revision,
        "updateRevision": update_revision,
        "collisionCount": collision_count,
    });
    let ns = set.namespace().unwrap_or_default();
    let api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &ns);
    match api
        .patch_status(
            &set.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&json!({ "status": status })),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if crate::is_not_found(&e) => Ok(()),
        Err(e) => {
            Err(e).ctx(|| format!("update the status of statefulset {ns}/{}", set.name_any()))
        }
    }
}
