//! The deployment controller (upstream `pkg/controller/deployment`): owns
//! ReplicaSets named `<deployment>-<pod-template-hash>`, rolls them with the
//! RollingUpdate or Recreate strategy, scales proportionally during a
//! rollout, keeps `revisionHistoryLimit` old ReplicaSets, and reports the
//! `Available` and `Progressing` conditions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::controller_utils as cu;
use crate::events::{EventType, Recorder};
use crate::informer::{Informer, Informers};
use crate::{ApiContext, Error, Result};

/// Label that ties a ReplicaSet and its pods to one template.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Revision annotation on Deployments and ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Replicas of the Deployment when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// Replicas plus maxSurge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";

/// `ResolveFenceposts`: (maxSurge, maxUnavailable); surge rounds up,
/// unavailable down, and both zero means one unavailable.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    replicas: i32,
) -> (i32, i32) {
    // Validation admits only ints and percentages; anything else counts as 0.
    let scaled = |v: Option<&IntOrString>, round_up| {
        v.map_or(0, |v| cu::scaled_value(v, replicas, round_up).unwrap_or(0))
    };
    let surge = scaled(max_surge, true);
    let unavailable = scaled(max_unavailable, false);
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        != Some("Recreate")
}

/// (maxSurge, maxUnavailable) of a Deployment (0/0 for Recreate).
fn fenceposts(d: &Deployment) -> (i32, i32) {
    if !is_rolling(d) {
        return (0, 0);
    }
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let default = IntOrString::String("25%".into());
    resolve_fenceposts(
        Some(ru.and_then(|r| r.max_surge.as_ref()).unwrap_or(&default)),
        Some(
            ru.and_then(|r| r.max_unavailable.as_ref())
                .unwrap_or(&default),
        ),
        replicas(d),
    )
}

/// `NewRSNewReplicas` for RollingUpdate.
pub fn new_rs_new_replicas(
    deployment_replicas: i32,
    max_surge: i32,
    all_replicas: i32,
    new_rs_replicas: i32,
) -> i32 {
    let max_total = deployment_replicas + max_surge;
    if all_replicas >= max_total {
        return new_rs_replicas;
    }
    let up = (max_total - all_replicas).min(deployment_replicas - new_rs_replicas);
    new_rs_replicas + up.max(0)
}

/// `getReplicaSetFraction` + `getProportion` for one ReplicaSet.
pub fn proportion(
    rs_replicas: i32,
    rs_max_replicas_annotation: Option<i32>,
    deployment_replicas: i32,
    deployment_status_replicas: i32,
    max_surge: i32,
    to_add: i32,
    added: i32,
) -> i32 {
    if rs_replicas == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = if deployment_replicas == 0 {
        -rs_replicas
    } else {
        let total = deployment_replicas + max_surge;
        let annotated = rs_max_replicas_annotation.unwrap_or(deployment_status_replicas);
        if annotated == 0 {
            0
        } else {
            let size = f64::from(rs_replicas) * f64::from(total) / f64::from(annotated);
            size.round() as i32 - rs_replicas
        }
    };
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

fn annotation_i32(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.annotations().get(key).and_then(|v| v.parse().ok())
}

fn revision(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The template with the pod-template-hash label removed, for comparison.
fn template_without_hash(t: &PodTemplateSpec) -> Value {
    let mut t = t.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    if let Some(m) = t.metadata.as_mut()
        && m.labels.as_ref().is_some_and(|l| l.is_empty())
    {
        m.labels = None;
    }
    serde_json::to_value(&t).unwrap_or(Value::Null)
}

struct Ctx {
    client: Client,
    rs_store: Informer<ReplicaSet>,
    pod_store: Informer<Pod>,
    recorder: Recorder,
}

/// Runs the deployment controller until its watches fail.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let rss = informers.of::<ReplicaSet>();
    let pods = informers.of::<Pod>();
    let ds = informers.of::<Deployment>();
    rss.synced().await;
    pods.synced().await;
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), "deployment-controller"),
        client,
        rs_store: rss.clone(),
        pod_store: pods.clone(),
    });
    let d_for_rs = ds.clone();
    let rs_for_pods = rss.clone();
    let d_for_pods = ds.clone();
    Controller::for_shared_stream(ds.subscribe(), ds.store())
        .watches_shared_stream(rss.subscribe(), move |rs: Arc<ReplicaSet>| {
            rs_owners(&rs, &d_for_rs)
        })
        .watches_shared_stream(pods.subscribe(), move |pod: Arc<Pod>| {
            // Only Recreate waits for old pods to go (upstream's pod handler
            // acts for Recreate deployments alone): such a pod event
            // concerns the deployment of its ReplicaSet.
            let ns = pod.namespace().unwrap_or_default();
            let r = cu::controller_ref(pod.metadata.owner_references.as_ref())?;
            if r.kind != "ReplicaSet" {
                return None;
            }
            let rs = rs_for_pods.get(&ns, &r.name)?;
            let owner = cu::controller_ref(rs.metadata.owner_references.as_ref())?;
            if owner.kind != "Deployment" {
                return None;
            }
            let d = d_for_pods.get(&ns, &owner.name)?;
            let recreate = d
                .spec
                .as_ref()
                .and_then(|s| s.strategy.as_ref())
                .and_then(|s| s.type_.as_deref())
                == Some("Recreate");
            recreate.then(|| ObjectRef::from_obj(d.as_ref()))
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// A ReplicaSet event concerns its controlling Deployment, or for an orphan
/// every Deployment whose selector matches it.
fn rs_owners(rs: &ReplicaSet, ds: &Informer<Deployment>) -> Vec<ObjectRef<Deployment>> {
    let ns = rs.namespace().unwrap_or_default();
    if let Some(r) = cu::controller_ref(rs.metadata.owner_references.as_ref()) {
        if r.kind == "Deployment" {
            return vec![ObjectRef::new(&r.name).within(&ns)];
        }
        return vec![];
    }
    ds.in_namespace(&ns)
        .iter()
        .filter(|d| {
            d.spec.as_ref().is_some_and(|s| {
                !cu::selector_is_empty(&s.selector)
                    && cu::selector_matches(&s.selector, rs.labels())
            })
        })
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

fn error_policy(d: Arc<Deployment>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(deployment = %d.name_any(), error = %crate::error_chain(e), "deployment sync failed");
    Action::requeue(Duration::from_secs(5))
}

fn now_str() -> String {
    Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Ctx {
    fn rs_api(&self, ns: &str) -> Api<ReplicaSet> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Scales a ReplicaSet and stamps the replica annotations
    /// (`scaleReplicaSet`), with upstream's `ScalingReplicaSet` event.
    async fn scale(&self, d: &Deployment, rs: &ReplicaSet, to: i32) -> Result<bool> {
        let (surge, _) = fenceposts(d);
        let desired = replicas(d).to_string();
        let max = (replicas(d) + surge).to_string();
        let from = rs_replicas(rs);
        let annotations_ok = rs.annotations().get(DESIRED_REPLICAS) == Some(&desired)
            && rs.annotations().get(MAX_REPLICAS) == Some(&max);
        if from == to && annotations_ok {
            return Ok(false);
        }
        let ns = rs.namespace().unwrap_or_default();
        let patch = json!({
            "metadata": {
                "annotations": {DESIRED_REPLICAS: desired, MAX_REPLICAS: max},
                "resourceVersion": rs.resource_version(),
            },
            "spec": {"replicas": to},
        });
        self.rs_api(&ns)
            .patch(
                &rs.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .ctx(|| format!("scale replica set {ns}/{}", rs.name_any()))?;
        if from != to {
            let op = if to > from { "up" } else { "down" };
            self.recorder
                .record(
                    d,
                    EventType::Normal,
                    "ScalingReplicaSet",
                    format!(
                        "Scaled {op} replica set {} to {to} from {from}",
                        rs.name_any()
                    ),
                )
                .await;
        }
        Ok(from != to)
    }
}

async fn reconcile(d: Arc<Deployment>, ctx: Arc<Ctx>) -> Result<Action> {
    let ns = d.namespace().unwrap_or_default();
    let Some(spec) = d.spec.clone() else {
        return Ok(Action::await_change());
    };
    if cu::selector_is_empty(&spec.selector) {
        ctx.recorder
            .record(
                d.as_ref(),
                EventType::Warning,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.".into(),
            )
            .await;
        return Ok(Action::await_change());
    }
    let uid = d.uid().unwrap_or_default();
    // Claim ReplicaSets: ours by ControllerRef; adopt matching orphans.
    let mut rs_list: Vec<ReplicaSet> = Vec::new();
    for rs in ctx.rs_store.in_namespace(&ns) {
        let matches = cu::selector_matches(&spec.selector, rs.labels());
        match cu::controller_ref(rs.metadata.owner_references.as_ref()) {
            Some(r) if r.uid == uid && matches => rs_list.push((*rs).clone()),
            Some(_) => {}
            None if matches && d.metadata.deletion_timestamp.is_none() => {
                let mut refs = rs.metadata.owner_references.clone().unwrap_or_default();
                refs.push(cu::new_controller_ref(
                    "apps/v1",
                    "Deployment",
                    &d.name_any(),
                    &uid,
                ));
                let patch = json!({"metadata": {"ownerReferences": refs, "uid": rs.uid()}});
                match ctx
                    .rs_api(&ns)
                    .patch(
                        &rs.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                {
                    Ok(adopted) => rs_list.push(adopted),
                    Err(e) if crate::is_not_found(&e) || crate::is_conflict(&e) => {}
                    Err(e) => {
                        return Err(e).ctx(|| format!("adopt replica set {ns}/{}", rs.name_any()));
                    }
                }
            }
            None => {}
        }
    }
    rs_list.sort_by(|a, b| {
        a.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
    if d.metadata.deletion_timestamp.is_some() {
        return sync_status(&ctx, &d, &rs_list, None, false).await;
    }
    let template = spec.template.clone();
    let want = template_without_hash(&template);
    let new_idx = rs_list.iter().position(|rs| {
        rs.spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .is_some_and(|t| template_without_hash(t) == want)
    });
    let paused = spec.paused == Some(true);
    let scaling = rs_list.iter().any(|rs| {
        rs_replicas(rs) > 0
            && annotation_i32(rs, DESIRED_REPLICAS).is_some_and(|v| v != replicas(&d))
    });
    let old: Vec<ReplicaSet> = rs_list
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != new_idx)
        .map(|(_, r)| r.clone())
        .collect();
    let mut new_rs = new_idx.map(|i| rs_list[i].clone());

    if paused || scaling {
        // `sync`: scale only, no rollout.
        if let Some(nrs) = &new_rs {
            ensure_revision(&ctx, &d, nrs, &old).await?;
        }
        scale_proportionally(&ctx, &d, new_rs.as_ref(), &old).await?;
        if paused && new_rs.is_some() {
            cleanup(&ctx, &d, &old).await?;
        }
        return sync_status(&ctx, &d, &rs_list, new_rs.as_ref(), paused).await;
    }

    // Create or adopt the new ReplicaSet (`getNewReplicaSet`).
    let created;
    match &new_rs {
        Some(nrs) => {
            ensure_revision(&ctx, &d, nrs, &old).await?;
            created = false;
        }
        None => {
            let Some(nrs) = create_new_rs(&ctx, &d, &old).await? else {
                return Ok(Action::requeue(Duration::from_millis(100)));
            };
            new_rs = Some(nrs);
            created = true;
        }
    }
    let Some(nrs) = new_rs.clone() else {
        return Ok(Action::await_change());
    };
    let all: Vec<ReplicaSet> = old.iter().cloned().chain([nrs.clone()]).collect();
    let mut changed = false;
    if is_rolling(&d) {
        let (surge, unavailable) = fenceposts(&d);
        // Scale up the new ReplicaSet.
        let total: i32 = all.iter().map(rs_replicas).sum();
        let target = new_rs_new_replicas(replicas(&d), surge, total, rs_replicas(&nrs));
        if target != rs_replicas(&nrs) {
            changed |= ctx.scale(&d, &nrs, target).await?;
        }
        if !changed {
            changed |= reconcile_old(&ctx, &d, &nrs, &old, unavailable).await?;
        }
    } else {
        // Recreate: old ReplicaSets to zero, wait for their pods, then scale up.
        for rs in old.iter().filter(|r| rs_replicas(r) > 0) {
            changed |= ctx.scale(&d, rs, 0).await?;
        }
        let old_uids: Vec<String> = old.iter().filter_map(|r| r.uid()).collect();
        let old_pods_left = old_uids.iter().any(|uid| {
            ctx.pod_store.controlled_by(uid).iter().any(|p| {
                !matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded" | "Failed")
                )
            })
        });
        if !changed && !old_pods_left && rs_replicas(&nrs) != replicas(&d) {
            changed |= ctx.scale(&d, &nrs, replicas(&d)).await?;
        }
    }
    let complete = !changed
        && rs_replicas(&nrs) == replicas(&d)
        && rs_available(&nrs) >= replicas(&d)
        && old.iter().all(|r| rs_replicas(r) == 0);
    if complete {
        cleanup(&ctx, &d, &old).await?;
    }
    let _ = created;
    sync_status(&ctx, &d, &rs_list_with(&rs_list, &nrs), Some(&nrs), false).await
}

fn rs_list_with(list: &[ReplicaSet], nrs: &ReplicaSet) -> Vec<ReplicaSet> {
    let mut v: Vec<ReplicaSet> = list
        .iter()
        .filter(|r| r.uid() != nrs.uid())
        .cloned()
        .collect();
    v.push(nrs.clone());
    v
}

/// `reconcileOldReplicaSets`: scale old ReplicaSets down as far as
/// maxUnavailable allows, unhealthy replicas first.
async fn reconcile_old(
    ctx: &Ctx,
    d: &Deployment,
    nrs: &ReplicaSet,
    old: &[ReplicaSet],
    max_unavailable: i32,
) -> Result<bool> {
    let old_count: i32 = old.iter().map(rs_replicas).sum();
    if old_count == 0 {
        return Ok(false);
    }
    let all_count = old_count + rs_replicas(nrs);
    let min_available = replicas(d) - max_unavailable;
    let new_unavailable = rs_replicas(nrs) - rs_available(nrs);
    let max_scaled_down = all_count - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Ok(false);
    }
    let mut changed = false;
    let mut cleaned = 0;
    let mut olds: Vec<ReplicaSet> = old.to_vec();
    for rs in olds.iter_mut() {
        if cleaned >= max_scaled_down || rs_replicas(rs) == 0 {
            continue;
        }
        let unhealthy = rs_replicas(rs) - rs_available(rs);
        if unhealthy <= 0 {
            continue;
        }
        let down = (max_scaled_down - cleaned).min(unhealthy);
        let to = rs_replicas(rs) - down;
        changed |= ctx.scale(d, rs, to).await?;
        if let Some(s) = rs.spec.as_mut() {
            s.replicas = Some(to);
        }
        cleaned += down;
    }
    // Then healthy ones, as far as availability allows.
    let available: i32 = olds.iter().map(rs_available).sum::<i32>() + rs_available(nrs);
    if available <= min_available {
        return Ok(changed);
    }
    let total_down = available - min_available;
    let mut done = 0;
    for rs in olds.iter() {
        if done >= total_down || rs_replicas(rs) == 0 {
            continue;
        }
        let down = rs_replicas(rs).min(total_down - done);
        changed |= ctx.scale(d, rs, rs_replicas(rs) - down).await?;
        done += down;
    }
    Ok(changed)
}

/// `scale`: proportional scaling when the Deployment's size changes.
async fn scale_proportionally(
    ctx: &Ctx,
    d: &Deployment,
    nrs: Option<&ReplicaSet>,
    old: &[ReplicaSet],
) -> Result<()> {
    let mut active: Vec<ReplicaSet> = old
        .iter()
        .chain(nrs)
        .filter(|r| rs_replicas(r) > 0)
        .cloned()
        .collect();
    if active.len() <= 1 {
        let target = active.pop().or_else(|| nrs.cloned());
        if let Some(rs) = target {
            ctx.scale(d, &rs, replicas(d)).await?;
        }
        return Ok(());
    }
    if !is_rolling(d) {
        return Ok(());
    }
    let (surge, _) = fenceposts(d);
    let total: i32 = active.iter().map(rs_replicas).sum();
    let allowed = if replicas(d) > 0 {
        replicas(d) + surge
    } else {
        0
    };
    let to_add = allowed - total;
    // Bigger first; ties newer first when growing, older first when shrinking.
    active.sort_by(|a, b| {
        let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
        rs_replicas(b)
            .cmp(&rs_replicas(a))
            .then_with(|| if to_add > 0 { tb.cmp(&ta) } else { ta.cmp(&tb) })
    });
    let status_replicas = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let mut added = 0;
    let mut sizes: Vec<i32> = Vec::new();
    for rs in &active {
        let p = proportion(
            rs_replicas(rs),
            annotation_i32(rs, MAX_REPLICAS),
            replicas(d),
            status_replicas,
            surge,
            to_add,
            added,
        );
        sizes.push(rs_replicas(rs) + p);
        added += p;
    }
    if let Some(first) = sizes.first_mut() {
        *first = (*first + to_add - added).max(0);
    }
    for (rs, size) in active.iter().zip(sizes) {
        ctx.scale(d, rs, size).await?;
    }
    Ok(())
}

fn max_revision(old: &[ReplicaSet]) -> i64 {
    old.iter().map(revision).max().unwrap_or(0)
}

/// Gives the new ReplicaSet the next revision (an undo brings an old one
/// back) and records it on the Deployment.
async fn ensure_revision(
    ctx: &Ctx,
    d: &Deployment,
    nrs: &ReplicaSet,
    old: &[ReplicaSet],
) -> Result<()> {
    let ns = d.namespace().unwrap_or_default();
    let max_old = max_revision(old);
    let current = revision(nrs);
    let rev = if current <= max_old {
        max_old + 1
    } else {
        current
    };
    if rev != current {
        let mut history: Vec<String> = nrs
            .annotations()
            .get(REVISION_HISTORY)
            .map(|h| h.split(',').map(String::from).collect())
            .unwrap_or_default();
        if current > 0 {
            history.push(current.to_string());
        }
        let mut ann = json!({REVISION: rev.to_string()});
        if !history.is_empty() {
            ann[REVISION_HISTORY] = json!(history.join(","));
        }
        ctx.rs_api(&ns)
            .patch(
                &nrs.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&json!({"metadata": {"annotations": ann}})),
            )
            .await
            .ctx(|| format!("set the revision of replica set {ns}/{}", nrs.name_any()))?;
    }
    set_deployment_revision(ctx, d, rev).await
}

async fn set_deployment_revision(ctx: &Ctx, d: &Deployment, rev: i64) -> Result<()> {
    if d.annotations().get(REVISION) == Some(&rev.to_string()) {
        return Ok(());
    }
    let ns = d.namespace().unwrap_or_default();
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    api.patch(
        &d.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"annotations": {REVISION: rev.to_string()}}})),
    )
    .await
    .ctx(|| format!("set the revision of deployment {ns}/{}", d.name_any()))?;
    Ok(())
}

/// Creates `<deployment>-<hash>`; on a name collision with a different
/// template bumps `status.collisionCount` and returns None.
async fn create_new_rs(
    ctx: &Ctx,
    d: &Deployment,
    old: &[ReplicaSet],
) -> Result<Option<ReplicaSet>> {
    let ns = d.namespace().unwrap_or_default();
    let Some(spec) = d.spec.as_ref() else {
        return Ok(None);
    };
    let collision = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = cu::compute_hash(&spec.template, collision);
    let mut template = spec.template.clone();
    let meta = template.metadata.get_or_insert_with(Default::default);
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH.into(), hash.clone());
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH.into(), hash.clone());
    let rev = max_revision(old) + 1;
    let (surge, _) = fenceposts(d);
    let total: i32 = old.iter().map(rs_replicas).sum();
    let initial = if is_rolling(d) {
        new_rs_new_replicas(replicas(d), surge, total, 0)
    } else if total == 0 {
        replicas(d)
    } else {
        0
    };
    let mut annotations: BTreeMap<String, String> = d
        .annotations()
        .iter()
        .filter(|(k, _)| {
            k.as_str() != REVISION
                && k.as_str() != "kubectl.kubernetes.io/last-applied-configuration"
                && k.as_str() != REVISION_HISTORY
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    annotations.insert(REVISION.into(), rev.to_string());
    annotations.insert(DESIRED_REPLICAS.into(), replicas(d).to_string());
    annotations.insert(MAX_REPLICAS.into(), (replicas(d) + surge).to_string());
    let name = format!("{}-{hash}", d.name_any());
    let rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
            annotations: Some(annotations),
            owner_references: Some(vec![cu::new_controller_ref(
                "apps/v1",
                "Deployment",
                &d.name_any(),
                &d.uid().unwrap_or_default(),
            )]),
            ..Default::default()
        },
        spec: Some(k8s_openapi::api::apps::v1::ReplicaSetSpec {
            replicas: Some(initial),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    };
    match ctx.rs_api(&ns).create(&PostParams::default(), &rs).await {
        Ok(created) => {
            if initial > 0 {
                ctx.recorder
                    .record(
                        d,
                        EventType::Normal,
                        "ScalingReplicaSet",
                        format!("Scaled up replica set {name} to {initial} from 0"),
                    )
                    .await;
            }
            set_deployment_revision(ctx, d, rev).await?;
            Ok(Some(created))
        }
        Err(e) if crate::is_already_exists(&e) => {
            let existing = ctx
                .rs_api(&ns)
                .get(&name)
                .await
                .ctx(|| format!("get replica set {ns}/{name}"))?;
            let same = existing
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| template_without_hash(t) == template_without_hash(&spec.template));
            let ours = cu::controller_ref(existing.metadata.owner_references.as_ref())
                .is_some_and(|r| Some(r.uid.clone()) == d.uid());
            if same && ours {
                return Ok(Some(existing));
            }
            // A hash collision: try the next name.
            let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
            let count = collision.unwrap_or(0) + 1;
            api.patch_status(
                &d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": {"collisionCount": count}})),
            )
            .await
            .ctx(|| {
                format!(
                    "update the collision count of deployment {ns}/{}",
                    d.name_any()
                )
            })?;
            Ok(None)
        }
        Err(e) => {
            let msg = match &e {
                kube::Error::Api(s) => s.message.clone(),
                other => other.to_string(),
            };
            ctx.recorder
                .record(
                    d,
                    EventType::Warning,
                    "FailedCreate",
                    format!("Failed to create new replica set \"{name}\": {msg}"),
                )
                .await;
            Err(e).ctx(|| format!("create replica set {ns}/{name}"))
        }
    }
}

/// `cleanupDeployment`: keep at most `revisionHistoryLimit` old, empty
/// ReplicaSets, deleting the oldest revisions first.
async fn cleanup(ctx: &Ctx, d: &Deployment, old: &[ReplicaSet]) -> Result<()> {
    let limit = d
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10)
        .max(0) as usize;
    let mut empty: Vec<&ReplicaSet> = old
        .iter()
        .filter(|r| {
            rs_replicas(r) == 0
                && r.status.as_ref().is_none_or(|s| s.replicas == 0)
                && r.metadata.deletion_timestamp.is_none()
        })
        .collect();
    if empty.len() <= limit {
        return Ok(());
    }
    empty.sort_by_key(|r| revision(r));
    let ns = d.namespace().unwrap_or_default();
    for rs in empty.iter().take(empty.len() - limit) {
        match ctx
            .rs_api(&ns)
            .delete(&rs.name_any(), &Default::default())
            .await
        {
            Ok(_) => {}
            Err(e) if crate::is_not_found(&e) => {}
            Err(e) => {
                return Err(e).ctx(|| format!("delete old replica set {ns}/{}", rs.name_any()));
            }
        }
    }
    Ok(())
}

fn find_condition<'a>(conds: &'a [Value], t: &str) -> Option<&'a Value> {
    conds
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
}

/// Sets a condition as `SetDeploymentCondition` does: the transition time
/// only moves when the status changes.
fn set_condition(
    conds: &mut Vec<Value>,
    t: &str,
    status: &str,
    reason: &str,
    message: String,
    bump_update: bool,
) {
    let now = now_str();
    let prev = find_condition(conds, t).cloned();
    if let Some(p) = &prev
        && p.get("status").and_then(Value::as_str) == Some(status)
        && p.get("reason").and_then(Value::as_str) == Some(reason)
        && !bump_update
    {
        return;
    }
    let transition = prev
        .as_ref()
        .filter(|p| p.get("status").and_then(Value::as_str) == Some(status))
        .and_then(|p| p.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now));
    conds.retain(|c| c.get("type").and_then(Value::as_str) != Some(t));
    conds.push(json!({
        "type": t,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": transition,
    }));
}

/// `syncRolloutStatus`: counts from the ReplicaSets, `Available` and
/// `Progressing` conditions, and a requeue to notice a missed deadline.
async fn sync_status(
    ctx: &Ctx,
    d: &Deployment,
    all: &[ReplicaSet],
    nrs: Option<&ReplicaSet>,
    paused: bool,
) -> Result<Action> {
    let ns = d.namespace().unwrap_or_default();
    let st = |f: fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> i32| -> i32 {
        all.iter().filter_map(|r| r.status.as_ref()).map(f).sum()
    };
    let total = st(|s| s.replicas);
    let ready = st(|s| s.ready_replicas.unwrap_or(0));
    let available = st(|s| s.available_replicas.unwrap_or(0));
    let updated = nrs
        .and_then(|r| r.status.as_ref())
        .map(|s| s.replicas)
        .unwrap_or(0);
    let want = replicas(d);
    let (_, max_unavailable) = fenceposts(d);
    let old_status = d.status.clone().unwrap_or_default();
    let mut conds: Vec<Value> = old_status
        .conditions
        .as_ref()
        .map(|c| {
            c.iter()
                .filter_map(|x| serde_json::to_value(x).ok())
                .collect()
        })
        .unwrap_or_default();
    if available >= want - max_unavailable {
        set_condition(
            &mut conds,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
            false,
        );
    } else {
        set_condition(
            &mut conds,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
            false,
        );
    }
    let deadline = d.spec.as_ref().and_then(|s| s.progress_deadline_seconds);
    let mut requeue = None;
    let generation = d.metadata.generation.unwrap_or(0);
    if paused {
        set_condition(
            &mut conds,
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused".into(),
            false,
        );
    } else if let (Some(deadline), Some(nrs)) = (deadline, nrs) {
        let name = nrs.name_any();
        let prev = find_condition(&conds, "Progressing").cloned();
        let prev_reason = prev
            .as_ref()
            .and_then(|p| p.get("reason").and_then(Value::as_str))
            .unwrap_or("");
        let complete = updated == want && available == want && total == want;
        let old_old = old_status.replicas.unwrap_or(0) - old_status.updated_replicas.unwrap_or(0);
        let progressing = updated > old_status.updated_replicas.unwrap_or(0)
            || (total - updated) < old_old
            || ready > old_status.ready_replicas.unwrap_or(0)
            || available > old_status.available_replicas.unwrap_or(0);
        if complete {
            set_condition(
                &mut conds,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{name}\" has successfully progressed."),
                false,
            );
        } else if prev_reason == "DeploymentPaused" || prev.is_none() {
            let (reason, msg) = if prev.is_none() {
                (
                    "NewReplicaSetCreated",
                    format!("Created new replica set \"{name}\""),
                )
            } else {
                ("DeploymentResumed", "Deployment is resumed".to_string())
            };
            set_condition(
                &mut conds,
                "Progressing",
                if prev.is_none() { "True" } else { "Unknown" },
                reason,
                msg,
                false,
            );
            requeue = Some(Duration::from_secs(deadline as u64));
        } else if progressing || prev_reason == "NewReplicaSetAvailable" && !complete {
            set_condition(
                &mut conds,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{name}\" is progressing."),
                true,
            );
            requeue = Some(Duration::from_secs(deadline as u64));
        } else if prev_reason != "ProgressDeadlineExceeded" {
            let last = prev
                .as_ref()
                .and_then(|p| p.get("lastUpdateTime").and_then(Value::as_str))
                .and_then(|t| t.parse::<Timestamp>().ok());
            let now = Timestamp::now();
            match last {
                Some(t) if t.as_second() + i64::from(deadline) <= now.as_second() => {
                    set_condition(
                        &mut conds,
                        "Progressing",
                        "False",
                        "ProgressDeadlineExceeded",
                        format!("ReplicaSet \"{name}\" has timed out progressing."),
                        false,
                    );
                }
                Some(t) => {
                    let left = t.as_second() + i64::from(deadline) - now.as_second();
                    requeue = Some(Duration::from_secs(left.max(1) as u64));
                }
                None => {}
            }
        }
    }
    let status = json!({
        "observedGeneration": generation,
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": (want - available).max(0),
        "conditions": conds,
        "collisionCount": old_status.collision_count,
    });
    let old_json = serde_json::to_value(&old_status).unwrap_or(Value::Null);
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let same = [
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
    ]
    .iter()
    .all(|k| num(&old_json, k) == num(&status, k))
        && old_json.get("conditions").cloned().unwrap_or(json!([])) == status["conditions"];
    if !same {
        let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
        match api
            .patch_status(
                &d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": status})),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if crate::is_not_found(&e) => {}
            Err(e) => {
                return Err(e)
                    .ctx(|| format!("update the status of deployment {ns}/{}", d.name_any()));
            }
        }
    }
    // minReadySeconds: look again when pods may have become available.
    let min_ready = d
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    if min_ready > 0 && ready > available {
        let r = Duration::from_secs(min_ready as u64);
        requeue = Some(requeue.map_or(r, |q| q.min(r)));
    }
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(
            resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 10),
            (3, 2)
        );
        assert_eq!(
            resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 1),
            (1, 0)
        );
        assert_eq!(
            resolve_fenceposts(Some(&IntOrString::Int(0)), Some(&IntOrString::Int(0)), 5),
            (0, 1)
        );
        assert_eq!(
            resolve_fenceposts(Some(&IntOrString::Int(1)), Some(&IntOrString::Int(0)), 3),
            (1, 0)
        );
        assert_eq!(
            resolve_fenceposts(Some(&pct("0%")), Some(&pct("50%")), 3),
            (0, 1)
        );
    }

    #[test]
    fn new_replica_set_grows_within_surge() {
        // 3 replicas, maxSurge 1: the new RS may add one while the old has 3.
        assert_eq!(new_rs_new_replicas(3, 1, 3, 0), 1);
        assert_eq!(new_rs_new_replicas(3, 1, 4, 1), 1);
        assert_eq!(new_rs_new_replicas(3, 1, 3, 1), 2);
        assert_eq!(new_rs_new_replicas(3, 1, 0, 0), 3);
    }

    #[test]
    fn proportional_scaling_splits_by_size() {
        // Deployment 10 → 15 (surge 3): old RS 8 and new RS 5 annotated max 13.
        let to_add = 15 + 3 - 13;
        let old = proportion(8, Some(13), 15, 13, 3, to_add, 0);
        let new = proportion(5, Some(13), 15, 13, 3, to_add, old);
        assert_eq!(old, 3);
        assert_eq!(new, 2);
        assert_eq!(old + new, to_add);
        // Scaling to zero removes everything.
        assert_eq!(proportion(4, Some(5), 0, 5, 0, -4, 0), -4);
    }
}
