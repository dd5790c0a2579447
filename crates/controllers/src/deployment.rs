//! The deployment controller (upstream `pkg/controller/deployment`): owns
//! ReplicaSets named `<deployment>-<pod-template-hash>`, rolls them with the
//! RollingUpdate or Recreate strategy, scales proportionally when resized in
//! the middle of a rollout, keeps `revisionHistoryLimit` old ReplicaSets, and
//! reports the `Available` and `Progressing` conditions (with
//! `ProgressDeadlineExceeded`), and honours the legacy rollback request
//! annotation (kubectl's `rollout undo` writes the old template itself).
//! The decisions live in [`util`] as pure functions; this module reads the
//! shared caches and writes through the API.

pub mod util;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::controller_utils as cu;
use crate::events::{EventType, Recorder};
use crate::informer::{Informer, Informers};
use crate::{ApiContext, Error, Result};
use util::{
    DESIRED_REPLICAS, MAX_REPLICAS, POD_TEMPLATE_HASH, REVISION, max_surge, replicas, rs_replicas,
};

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
            (!util::is_rolling(&d)).then(|| ObjectRef::from_obj(d.as_ref()))
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

/// A write lost a race with another writer: the watch event of that write
/// brings a fresh sync, this one only makes sure of it.
fn retry_soon() -> Action {
    Action::requeue(Duration::from_millis(200))
}

/// One sync of one Deployment: the object as read plus what this sync has
/// learnt (conditions set on the way, the revision annotation written).
struct DeploymentSync<'a> {
    ctx: &'a Ctx,
    /// The Deployment with the conditions this sync set so far.
    d: Deployment,
    /// The status as the API server has it, to write only on a change.
    stored: Option<DeploymentStatus>,
    ns: String,
}

/// The new ReplicaSet (if any) and the old ones, oldest first.
struct Sets {
    new: Option<ReplicaSet>,
    old: Vec<ReplicaSet>,
}

impl Sets {
    fn all(&self) -> Vec<&ReplicaSet> {
        self.old.iter().chain(self.new.as_ref()).collect()
    }

    fn old_refs(&self) -> Vec<&ReplicaSet> {
        self.old.iter().collect()
    }

    fn replace(&mut self, rs: ReplicaSet) {
        if let Some(n) = self.new.as_mut().filter(|n| n.uid() == rs.uid()) {
            *n = rs;
        } else if let Some(o) = self.old.iter_mut().find(|o| o.uid() == rs.uid()) {
            *o = rs;
        }
    }
}

async fn reconcile(d: Arc<Deployment>, ctx: Arc<Ctx>) -> Result<Action> {
    let ns = d.namespace().unwrap_or_default();
    let Some(spec) = d.spec.clone() else {
        return Ok(Action::await_change());
    };
    let mut sync = DeploymentSync {
        ctx: &ctx,
        stored: d.status.clone(),
        d: (*d).clone(),
        ns,
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
        let observed = d.status.as_ref().and_then(|s| s.observed_generation);
        if observed < d.metadata.generation {
            let mut status = d.status.clone().unwrap_or_default();
            status.observed_generation = d.metadata.generation;
            return sync.write_status(status, None).await;
        }
        return Ok(Action::await_change());
    }
    let Some(rs_list) = sync.claim_replica_sets().await? else {
        return Ok(retry_soon());
    };
    if d.metadata.deletion_timestamp.is_some() {
        // syncStatusOnly: a Deployment being deleted is only reported on.
        let sets = sync.sets(rs_list, false).await?;
        return sync.sync_status(&sets).await;
    }
    if let Some(c) = util::paused_condition(&sync.d, util::now()) {
        util::set_condition(sync.d.status.get_or_insert_with(Default::default), c);
    }
    let paused = spec.paused == Some(true);
    // Every claimed ReplicaSet is either the new one or an old one.
    let scaling = util::is_scaling_event(&sync.d, &rs_list.iter().collect::<Vec<_>>());
    if paused {
        return sync.sync_scale(rs_list).await;
    }
    if let Some(revision) = util::rollback_to(&sync.d) {
        return sync.rollback(rs_list, revision).await;
    }
    if scaling {
        return sync.sync_scale(rs_list).await;
    }
    if util::is_rolling(&sync.d) {
        sync.rollout_rolling(rs_list).await
    } else {
        sync.rollout_recreate(rs_list).await
    }
}

impl DeploymentSync<'_> {
    fn rs_api(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.ctx.client.clone(), &self.ns)
    }

    fn d_api(&self) -> Api<Deployment> {
        Api::namespaced(self.ctx.client.clone(), &self.ns)
    }

    fn name(&self) -> String {
        self.d.name_any()
    }

    /// `getReplicaSetsForDeployment`: ours by ControllerRef and still
    /// matching; matching orphans adopted; ours that stopped matching
    /// released. None when a write lost a race (sync again).
    async fn claim_replica_sets(&self) -> Result<Option<Vec<ReplicaSet>>> {
        let Some(spec) = self.d.spec.as_ref() else {
            return Ok(Some(Vec::new()));
        };
        let uid = self.d.uid().unwrap_or_default();
        let deleting = self.d.metadata.deletion_timestamp.is_some();
        let mut out = Vec::new();
        for rs in self.ctx.rs_store.in_namespace(&self.ns) {
            let matches = cu::selector_matches(&spec.selector, rs.labels());
            match cu::controller_ref(rs.metadata.owner_references.as_ref()) {
                Some(r) if r.uid == uid => {
                    if matches {
                        out.push((*rs).clone());
                    } else if !deleting && !cu::release(&self.ctx.client, rs.as_ref(), &uid).await?
                    {
                        return Ok(None);
                    }
                }
                Some(_) => {}
                None if matches && !deleting && rs.metadata.deletion_timestamp.is_none() => {
                    let owner = cu::new_controller_ref("apps/v1", "Deployment", &self.name(), &uid);
                    if !cu::adopt(&self.ctx.client, rs.as_ref(), owner).await? {
                        return Ok(None);
                    }
                    out.push((*rs).clone());
                }
                None => {}
            }
        }
        Ok(Some(out))
    }

    /// `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet (created when
    /// `create` and missing) with its revision and annotations brought up to
    /// date, the old ones, and the Deployment's revision annotation.
    async fn sets(&mut self, mut rs_list: Vec<ReplicaSet>, create: bool) -> Result<Sets> {
        rs_list.sort_by(util::by_creation);
        let new_idx = util::find_new_rs(&self.d, &rs_list);
        let new = new_idx.map(|i| rs_list.remove(i));
        let old = rs_list;
        let new = self.new_replica_set(new, &old, create).await?;
        Ok(Sets { new, old })
    }

    /// `getNewReplicaSet`.
    async fn new_replica_set(
        &mut self,
        existing: Option<ReplicaSet>,
        old: &[ReplicaSet],
        create: bool,
    ) -> Result<Option<ReplicaSet>> {
        let new_revision = util::max_revision(old) + 1;
        let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
        if let Some(rs) = existing {
            let annotations =
                util::new_rs_annotations(&self.d, rs.annotations(), new_revision, true);
            let rs_min_ready = rs.spec.as_ref().and_then(|s| s.min_ready_seconds);
            if annotations.is_some() || rs_min_ready.unwrap_or(0) != min_ready.unwrap_or(0) {
                let patch = json!({
                    "metadata": {
                        "annotations": annotations.unwrap_or_else(|| rs.annotations().clone()),
                        "resourceVersion": rs.resource_version(),
                    },
                    "spec": {"minReadySeconds": min_ready},
                });
                // Upstream returns right after this update; the revision of
                // the Deployment follows in the sync this update triggers.
                return match self
                    .rs_api()
                    .patch(
                        &rs.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                {
                    Ok(updated) => Ok(Some(updated)),
                    Err(e) if crate::is_conflict(&e) || crate::is_not_found(&e) => Ok(Some(rs)),
                    Err(e) => {
                        Err(e).ctx(|| format!("update replica set {}/{}", self.ns, rs.name_any()))
                    }
                };
            }
            let rev = util::revision(&rs);
            self.set_revision(rev).await?;
            if util::has_progress_deadline(&self.d)
                && util::get_condition(self.d.status.as_ref(), util::PROGRESSING).is_none()
            {
                let c = util::condition(
                    util::PROGRESSING,
                    "True",
                    util::FOUND_NEW_RS,
                    format!("Found new replica set \"{}\"", rs.name_any()),
                    util::now(),
                );
                util::set_condition(self.d.status.get_or_insert_with(Default::default), c);
            }
            return Ok(Some(rs));
        }
        if !create {
            return Ok(None);
        }
        self.create_new_rs(old, new_revision).await
    }

    /// Creates `<deployment>-<hash>`. On a name taken by another template
    /// bumps `status.collisionCount` (the next sync tries another hash) and
    /// returns None.
    async fn create_new_rs(&mut self, old: &[ReplicaSet], rev: i64) -> Result<Option<ReplicaSet>> {
        let Some(spec) = self.d.spec.clone() else {
            return Ok(None);
        };
        let collision = self.d.status.as_ref().and_then(|s| s.collision_count);
        let hash = cu::compute_hash(&spec.template, collision);
        let mut template = spec.template.clone();
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let total: i32 = old.iter().map(rs_replicas).sum();
        let initial = if util::is_rolling(&self.d) {
            util::new_rs_new_replicas(replicas(&self.d), max_surge(&self.d), total, 0)
        } else {
            replicas(&self.d)
        };
        let annotations = util::new_rs_annotations(&self.d, &BTreeMap::new(), rev, false);
        let name = format!("{}-{hash}", self.name());
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.ns.clone()),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                annotations,
                owner_references: Some(vec![cu::new_controller_ref(
                    "apps/v1",
                    "Deployment",
                    &self.name(),
                    &self.d.uid().unwrap_or_default(),
                )]),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(initial),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let created = match self.rs_api().create(&PostParams::default(), &rs).await {
            Ok(created) => created,
            Err(e) if crate::is_already_exists(&e) => {
                let existing = self
                    .rs_api()
                    .get(&name)
                    .await
                    .ctx(|| format!("get replica set {}/{name}", self.ns))?;
                let same = existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| util::equal_ignore_hash(t, &spec.template));
                let ours = cu::controller_ref(existing.metadata.owner_references.as_ref())
                    .is_some_and(|r| Some(&r.uid) == self.d.uid().as_ref());
                if same && ours {
                    // Created by an earlier sync that the cache has not
                    // shown yet.
                    self.set_revision(rev).await?;
                    return Ok(Some(existing));
                }
                let mut status = self.d.status.clone().unwrap_or_default();
                status.collision_count = Some(collision.unwrap_or(0) + 1);
                self.write_status(status, None).await?;
                return Ok(None);
            }
            Err(e) => {
                let msg = match &e {
                    kube::Error::Api(s) => s.message.clone(),
                    other => other.to_string(),
                };
                let msg = format!("Failed to create new replica set \"{name}\": {msg}");
                if util::has_progress_deadline(&self.d) {
                    let c = util::condition(
                        util::PROGRESSING,
                        "False",
                        util::FAILED_RS_CREATE,
                        msg.clone(),
                        util::now(),
                    );
                    let mut status = self.d.status.clone().unwrap_or_default();
                    util::set_condition(&mut status, c);
                    self.write_status(status, None).await?;
                }
                self.ctx
                    .recorder
                    .record(&self.d, EventType::Warning, util::FAILED_RS_CREATE, msg)
                    .await;
                return Err(e).ctx(|| format!("create replica set {}/{name}", self.ns));
            }
        };
        if initial > 0 {
            self.ctx
                .recorder
                .record(
                    &self.d,
                    EventType::Normal,
                    "ScalingReplicaSet",
                    format!("Scaled up replica set {name} from 0 to {initial}"),
                )
                .await;
        }
        self.set_revision(rev).await?;
        if util::has_progress_deadline(&self.d) {
            let c = util::condition(
                util::PROGRESSING,
                "True",
                util::NEW_RS_CREATED,
                format!("Created new replica set \"{name}\""),
                util::now(),
            );
            util::set_condition(self.d.status.get_or_insert_with(Default::default), c);
        }
        Ok(Some(created))
    }

    /// `SetDeploymentRevision`, written at once (kube-apiserver lets the
    /// status update carry it; skiff's status subresource takes status only).
    async fn set_revision(&mut self, rev: i64) -> Result<()> {
        let rev = rev.to_string();
        if self.d.annotations().get(REVISION) == Some(&rev) {
            return Ok(());
        }
        let patch = json!({"metadata": {"annotations": {REVISION: rev}}});
        let updated = self
            .d_api()
            .patch(&self.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .ctx(|| format!("set the revision of deployment {}/{}", self.ns, self.name()))?;
        // Later writes of this sync are preconditioned on this version.
        self.d.metadata.annotations = updated.metadata.annotations;
        self.d.metadata.resource_version = updated.metadata.resource_version;
        Ok(())
    }

    /// `scaleReplicaSet`: sets the size and the replica annotations, with
    /// upstream's `ScalingReplicaSet` event. Returns the updated ReplicaSet
    /// if it was written, None when unchanged; a lost race is an error-free
    /// None too (the sync that follows its event decides again).
    async fn scale(&self, rs: &ReplicaSet, to: i32) -> Result<Option<ReplicaSet>> {
        let desired = replicas(&self.d);
        let max = desired + max_surge(&self.d);
        let from = rs_replicas(rs);
        if from == to && !util::replica_annotations_stale(rs, desired, max) {
            return Ok(None);
        }
        let patch = json!({
            "metadata": {
                "annotations": {DESIRED_REPLICAS: desired.to_string(), MAX_REPLICAS: max.to_string()},
                "resourceVersion": rs.resource_version(),
            },
            "spec": {"replicas": to},
        });
        let updated = match self
            .rs_api()
            .patch(
                &rs.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(u) => u,
            Err(e) if crate::is_conflict(&e) || crate::is_not_found(&e) => return Ok(None),
            Err(e) => {
                return Err(e).ctx(|| format!("scale replica set {}/{}", self.ns, rs.name_any()));
            }
        };
        if from != to {
            let op = if to > from { "up" } else { "down" };
            self.ctx
                .recorder
                .record(
                    &self.d,
                    EventType::Normal,
                    "ScalingReplicaSet",
                    format!(
                        "Scaled {op} replica set {} from {from} to {to}",
                        rs.name_any()
                    ),
                )
                .await;
        }
        Ok(Some(updated))
    }

    /// `scaleReplicaSetAndRecordEvent`: a resize only; true when written.
    async fn resize(&self, sets: &mut Sets, rs: &ReplicaSet, to: i32) -> Result<bool> {
        if rs_replicas(rs) == to {
            return Ok(false);
        }
        match self.scale(rs, to).await? {
            Some(updated) => {
                sets.replace(updated);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// `sync`: a paused Deployment or a resize: scale, no rollout.
    async fn sync_scale(&mut self, rs_list: Vec<ReplicaSet>) -> Result<Action> {
        let mut sets = self.sets(rs_list, false).await?;
        self.scale_proportionally(&mut sets).await?;
        // No cleanup while a rollback may still need an old ReplicaSet.
        let paused = self.d.spec.as_ref().and_then(|s| s.paused) == Some(true);
        if paused && util::rollback_to(&self.d).is_none() {
            self.cleanup(&sets).await?;
        }
        self.sync_status(&sets).await
    }

    /// Upstream `scale()`: one active ReplicaSet takes the whole size; a
    /// saturated new one leaves the old ones at zero; otherwise a rolling
    /// Deployment spreads the change over the active ReplicaSets.
    async fn scale_proportionally(&self, sets: &mut Sets) -> Result<()> {
        let want = replicas(&self.d);
        let target = util::find_active_or_latest(sets.new.as_ref(), &sets.old_refs()).cloned();
        if let Some(rs) = target {
            if rs_replicas(&rs) != want {
                self.resize(sets, &rs, want).await?;
            }
            return Ok(());
        }
        if util::is_saturated(&self.d, sets.new.as_ref()) {
            let active: Vec<ReplicaSet> = sets
                .old
                .iter()
                .filter(|rs| rs_replicas(rs) > 0)
                .cloned()
                .collect();
            for rs in active {
                self.resize(sets, &rs, 0).await?;
            }
            return Ok(());
        }
        if !util::is_rolling(&self.d) {
            return Ok(());
        }
        let active: Vec<ReplicaSet> = sets
            .all()
            .into_iter()
            .filter(|rs| rs_replicas(rs) > 0)
            .cloned()
            .collect();
        let refs: Vec<&ReplicaSet> = active.iter().collect();
        for (i, size) in util::proportional_sizes(&self.d, &refs) {
            // Also stamps the new replica annotations where the size stays.
            if let Some(updated) = self.scale(&active[i], size).await? {
                sets.replace(updated);
            } else if rs_replicas(&active[i]) != size {
                // A lost race: stop, the next sync recomputes from fresh sizes.
                return Ok(());
            }
        }
        Ok(())
    }

    /// `rollback`: the legacy rollback request. Copies the template of the
    /// asked revision (0: the previous one) into the Deployment and clears
    /// the request; the rollout follows from that update.
    async fn rollback(&mut self, rs_list: Vec<ReplicaSet>, to: i64) -> Result<Action> {
        let sets = self.sets(rs_list, true).await?;
        let all = sets.all();
        let to = if to == 0 {
            util::last_revision(&all)
        } else {
            to
        };
        let target = (to != 0)
            .then(|| all.iter().find(|rs| util::revision(rs) == to))
            .flatten();
        let Some(rs) = target else {
            let msg = if to == 0 {
                "Unable to find last revision."
            } else {
                "Unable to find the revision to rollback to."
            };
            self.warn(util::ROLLBACK_REVISION_NOT_FOUND, msg.into())
                .await;
            return self.clear_rollback().await;
        };
        let current = self.d.spec.as_ref().map(|s| &s.template);
        let same = rs
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .zip(current)
            .is_some_and(|(a, b)| util::equal_ignore_hash(a, b));
        if same {
            let msg = format!(
                "The rollback revision contains the same template as current deployment \"{}\"",
                self.name()
            );
            self.warn(util::ROLLBACK_TEMPLATE_UNCHANGED, msg).await;
            return self.clear_rollback().await;
        }
        if !self
            .update_deployment(&util::rolled_back(&self.d, rs))
            .await?
        {
            return Ok(retry_soon());
        }
        self.ctx
            .recorder
            .record(
                &self.d,
                EventType::Normal,
                util::ROLLBACK_DONE,
                format!(
                    "Rolled back deployment \"{}\" to revision {to}",
                    self.name()
                ),
            )
            .await;
        Ok(Action::await_change())
    }

    /// Clears the legacy rollback request without rolling back.
    async fn clear_rollback(&self) -> Result<Action> {
        let mut cleared = self.d.clone();
        if let Some(a) = cleared.metadata.annotations.as_mut() {
            a.remove(util::ROLLBACK_TO);
        }
        Ok(if self.update_deployment(&cleared).await? {
            Action::await_change()
        } else {
            retry_soon()
        })
    }

    async fn warn(&self, reason: &str, message: String) {
        self.ctx
            .recorder
            .record(&self.d, EventType::Warning, reason, message)
            .await;
    }

    /// Writes the Deployment (spec and metadata) over the version this sync
    /// read; its watch event brings the next sync. False when it lost a race.
    async fn update_deployment(&self, d: &Deployment) -> Result<bool> {
        match self
            .d_api()
            .replace(&self.name(), &PostParams::default(), d)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if crate::is_conflict(&e) || crate::is_not_found(&e) => Ok(false),
            Err(e) => Err(e).ctx(|| format!("update deployment {}/{}", self.ns, self.name())),
        }
    }

    /// `rolloutRolling`.
    async fn rollout_rolling(&mut self, rs_list: Vec<ReplicaSet>) -> Result<Action> {
        let mut sets = self.sets(rs_list, true).await?;
        let Some(new) = sets.new.clone() else {
            return Ok(retry_soon());
        };
        if self.reconcile_new(&mut sets, &new).await? {
            return self.sync_rollout_status(&sets).await;
        }
        if self.reconcile_old(&mut sets).await? {
            return self.sync_rollout_status(&sets).await;
        }
        if let Some(status) = self.stored.as_ref()
            && util::deployment_complete(&self.d, status)
        {
            self.cleanup(&sets).await?;
        }
        self.sync_rollout_status(&sets).await
    }

    /// `reconcileNewReplicaSet`: grow the new ReplicaSet within maxSurge
    /// (shrink it if above the Deployment's size).
    async fn reconcile_new(&self, sets: &mut Sets, new: &ReplicaSet) -> Result<bool> {
        let want = replicas(&self.d);
        let current = rs_replicas(new);
        if current == want {
            return Ok(false);
        }
        if current > want {
            return self.resize(sets, new, want).await;
        }
        let total: i32 = sets.all().iter().map(|rs| rs_replicas(rs)).sum();
        let to = util::new_rs_new_replicas(want, max_surge(&self.d), total, current);
        self.resize(sets, new, to).await
    }

    /// `reconcileOldReplicaSets`: shrink old ReplicaSets as far as
    /// maxUnavailable allows, their unhealthy replicas first.
    async fn reconcile_old(&self, sets: &mut Sets) -> Result<bool> {
        let Some(new) = sets.new.clone() else {
            return Ok(false);
        };
        let old_count: i32 = sets.old.iter().map(rs_replicas).sum();
        if old_count == 0 {
            return Ok(false);
        }
        let all_count = old_count + rs_replicas(&new);
        let min_available = replicas(&self.d) - util::max_unavailable(&self.d);
        let new_unavailable = rs_replicas(&new) - util::rs_available(&new);
        let max_scaled_down = all_count - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        // Unhealthy replicas first: they would block the rollout and cost
        // no availability (kubernetes#16737).
        let mut cleaned = 0;
        let olds: Vec<ReplicaSet> = sets.old.clone();
        for rs in &olds {
            if cleaned >= max_scaled_down {
                break;
            }
            let unhealthy = rs_replicas(rs) - util::rs_available(rs);
            if rs_replicas(rs) == 0 || unhealthy <= 0 {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(unhealthy);
            if !self.resize(sets, rs, rs_replicas(rs) - down).await? {
                // A lost race: the sync that follows decides again.
                return Ok(cleaned > 0);
            }
            cleaned += down;
        }
        // Then available ones, as far as availability allows.
        let available: i32 = sets.all().iter().map(|rs| util::rs_available(rs)).sum();
        if available <= min_available {
            return Ok(cleaned > 0);
        }
        let total_down = available - min_available;
        let mut done = 0;
        let olds: Vec<ReplicaSet> = sets.old.clone();
        for rs in &olds {
            if done >= total_down {
                break;
            }
            if rs_replicas(rs) == 0 {
                continue;
            }
            let down = rs_replicas(rs).min(total_down - done);
            if !self.resize(sets, rs, rs_replicas(rs) - down).await? {
                break;
            }
            done += down;
        }
        Ok(cleaned + done > 0)
    }

    /// `rolloutRecreate`: all old ReplicaSets to zero, wait until their pods
    /// are gone, only then create (or grow) the new one.
    async fn rollout_recreate(&mut self, rs_list: Vec<ReplicaSet>) -> Result<Action> {
        let mut sets = self.sets(rs_list.clone(), false).await?;
        let mut scaled_down = false;
        let active: Vec<ReplicaSet> = sets
            .old
            .iter()
            .filter(|rs| rs_replicas(rs) > 0)
            .cloned()
            .collect();
        for rs in &active {
            scaled_down |= self.resize(&mut sets, rs, 0).await?;
        }
        if scaled_down {
            return self.sync_rollout_status(&sets).await;
        }
        let old_pods: Vec<Arc<Pod>> = sets
            .old
            .iter()
            .filter_map(|rs| rs.uid())
            .flat_map(|uid| self.ctx.pod_store.controlled_by(&uid))
            .collect();
        if util::old_pods_running(&sets.old_refs(), old_pods.iter().map(Arc::as_ref)) {
            return self.sync_rollout_status(&sets).await;
        }
        if sets.new.is_none() {
            sets = self.sets(rs_list, true).await?;
        }
        if let Some(new) = sets.new.clone() {
            self.resize(&mut sets, &new, replicas(&self.d)).await?;
        }
        if let Some(status) = self.stored.as_ref()
            && util::deployment_complete(&self.d, status)
        {
            self.cleanup(&sets).await?;
        }
        self.sync_rollout_status(&sets).await
    }

    /// `cleanupDeployment`: delete old ReplicaSets past revisionHistoryLimit.
    async fn cleanup(&self, sets: &Sets) -> Result<()> {
        for name in util::cleanup_victims(&self.d, &sets.old_refs()) {
            match self.rs_api().delete(&name, &Default::default()).await {
                Ok(_) => {}
                Err(e) if crate::is_not_found(&e) => {}
                Err(e) => {
                    return Err(e).ctx(|| format!("delete old replica set {}/{name}", self.ns));
                }
            }
        }
        Ok(())
    }

    /// `syncDeploymentStatus`: counts and `Available`; Progressing as it is.
    async fn sync_status(&self, sets: &Sets) -> Result<Action> {
        let status = util::calculate_status(&self.d, &sets.all(), sets.new.as_ref(), util::now());
        self.write_status(status, None).await
    }

    /// `syncRolloutStatus`: counts, `Available`, and the progress of the
    /// rollout against its deadline, with a requeue to notice the deadline.
    async fn sync_rollout_status(&self, sets: &Sets) -> Result<Action> {
        let now = util::now();
        let all = sets.all();
        let status = util::rollout_status(&self.d, &all, sets.new.as_ref(), now);
        let requeue = util::requeue_stuck(&self.d, &status, now);
        self.write_status(status, requeue).await
    }

    /// Writes the status if it differs from the stored one, preconditioned
    /// on the version this sync read.
    async fn write_status(
        &self,
        status: DeploymentStatus,
        requeue: Option<Duration>,
    ) -> Result<Action> {
        let action = requeue.map_or_else(Action::await_change, Action::requeue);
        if util::same_status(self.stored.as_ref(), &status) {
            return Ok(action);
        }
        let patch = json!({
            "metadata": {"resourceVersion": self.d.resource_version()},
            "status": status_patch(&status),
        });
        match self
            .d_api()
            .patch_status(&self.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(action),
            Err(e) if crate::is_not_found(&e) => Ok(Action::await_change()),
            Err(e) if crate::is_conflict(&e) => Ok(retry_soon()),
            Err(e) => Err(e).ctx(|| {
                format!(
                    "update the status of deployment {}/{}",
                    self.ns,
                    self.name()
                )
            }),
        }
    }
}

/// The status as a merge patch that also clears what became absent (a zero
/// count is omitted, as kube-apiserver's JSON omits it).
fn status_patch(status: &DeploymentStatus) -> Value {
    let mut patch = serde_json::to_value(status).unwrap_or_else(|_| json!({}));
    if let Some(obj) = patch.as_object_mut() {
        for key in [
            "observedGeneration",
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
            "terminatingReplicas",
            "collisionCount",
            "conditions",
        ] {
            obj.entry(key).or_insert(Value::Null);
        }
    }
    patch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patch_clears_counts_that_dropped_to_zero() {
        let status = DeploymentStatus {
            observed_generation: Some(3),
            replicas: Some(2),
            ..Default::default()
        };
        let patch = status_patch(&status);
        assert_eq!(patch["observedGeneration"], json!(3));
        assert_eq!(patch["replicas"], json!(2));
        // Absent in the status, so null in the merge patch: a stored 3
        // available replicas must not survive a drop to none.
        assert_eq!(patch["availableReplicas"], Value::Null);
        assert!(
            patch
                .as_object()
                .is_some_and(|o| o.contains_key("availableReplicas"))
        );
        assert!(
            patch
                .as_object()
                .is_some_and(|o| o.contains_key("conditions"))
        );
    }
}
