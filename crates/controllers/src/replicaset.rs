//! The ReplicaSet and ReplicationController controllers (upstream
//! `pkg/controller/replicaset`, which also runs ReplicationControllers through
//! an adapter): keep `spec.replicas` active pods matching the selector, adopt
//! orphans and release pods that stopped matching (ControllerRef), create in
//! slow-start batches of at most `burstReplicas`, delete by upstream's
//! ranking, and report replica counts in the status.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::controller_utils::{self as cu, Expectations};
use crate::events::{EventType, Recorder};
use crate::informer::{Informer, Informers};
use crate::{ApiContext, Error, Result};

/// Upstream `BurstReplicas`: at most this many creations or deletions per sync.
pub const BURST_REPLICAS: usize = 500;

/// Which kind the controller runs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    ReplicaSet,
    ReplicationController,
}

/// What the controller needs of a ReplicaSet-like object.
pub trait Workload:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
    /// `spec.replicas` (default 1).
    fn replicas(&self) -> i32;
    /// `spec.minReadySeconds`.
    fn min_ready_seconds(&self) -> i32;
    /// The selector as a LabelSelector.
    fn selector(&self) -> Option<LabelSelector>;
    /// The pod template.
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// The status as JSON.
    fn status_json(&self) -> Value;
}

impl Workload for ReplicaSet {
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }
    fn selector(&self) -> Option<LabelSelector> {
        self.spec.as_ref().map(|s| s.selector.clone())
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn status_json(&self) -> Value {
        serde_json::to_value(&self.status).unwrap_or(Value::Null)
    }
}

impl Workload for ReplicationController {
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }
    fn selector(&self) -> Option<LabelSelector> {
        // An RC selects by equality; it defaults to the template's labels.
        let spec = self.spec.as_ref()?;
        let labels = spec
            .selector
            .clone()
            .or_else(|| spec.template.as_ref()?.metadata.as_ref()?.labels.clone())?;
        Some(LabelSelector {
            match_labels: Some(labels),
            match_expressions: None,
        })
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn status_json(&self) -> Value {
        serde_json::to_value(&self.status).unwrap_or(Value::Null)
    }
}

struct Ctx<K: Workload> {
    client: Client,
    pods: Informer<Pod>,
    expectations: Expectations,
    recorder: Recorder,
    _kind: std::marker::PhantomData<K>,
}

/// Runs the controller for `kind` until its watches fail.
pub async fn run(informers: Informers, kind: Kind) -> Result<()> {
    match kind {
        Kind::ReplicaSet => run_for::<ReplicaSet>(informers, "replicaset-controller").await,
        Kind::ReplicationController => {
            run_for::<ReplicationController>(informers, "replication-controller").await
        }
    }
}

async fn run_for<K: Workload>(informers: Informers, component: &'static str) -> Result<()> {
    let client = informers.client().clone();
    let pods = informers.of::<Pod>();
    let owners = informers.of::<K>();
    // Syncing against an empty pod cache would create every pod again.
    pods.synced().await;
    let ctx = Arc::new(Ctx::<K> {
        recorder: Recorder::new(client.clone(), component),
        client,
        pods: pods.clone(),
        expectations: Expectations::default(),
        _kind: std::marker::PhantomData,
    });
    let mapper_ctx = ctx.clone();
    let mapper_owners = owners.clone();
    Controller::for_shared_stream(owners.subscribe(), owners.store())
        .watches_shared_stream(pods.subscribe(), move |pod: Arc<Pod>| {
            pod_owners::<K>(&pod, &mapper_owners, &mapper_ctx.expectations)
        })
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// Which owners a pod event concerns: its controller, or for an orphan every
/// owner whose selector matches (a candidate for adoption).
fn pod_owners<K: Workload>(
    pod: &Pod,
    owners: &Informer<K>,
    expectations: &Expectations,
) -> Vec<ObjectRef<K>> {
    let ns = pod.namespace().unwrap_or_default();
    expectations.observe(&ns, &pod.name_any());
    if let Some(r) = cu::controller_ref(pod.metadata.owner_references.as_ref()) {
        if r.kind == K::kind(&()) && r.api_version == K::api_version(&()) {
            return vec![ObjectRef::new(&r.name).within(&ns)];
        }
        return vec![];
    }
    let labels = pod.labels();
    owners
        .in_namespace(&ns)
        .iter()
        .filter(|o| {
            o.selector()
                .is_some_and(|s| !cu::selector_is_empty(&s) && cu::selector_matches(&s, labels))
        })
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

/// How soon a sync that failed (an API error, or pods it could not create)
/// runs again.
const FAILED_SYNC_RETRY: Duration = Duration::from_secs(5);

fn error_policy<K: Workload>(obj: Arc<K>, e: &Error, _: Arc<Ctx<K>>) -> Action {
    tracing::warn!(name = %obj.name_any(), error = %crate::error_chain(e), "sync failed");
    Action::requeue(FAILED_SYNC_RETRY)
}

async fn reconcile<K: Workload>(obj: Arc<K>, ctx: Arc<Ctx<K>>) -> Result<Action> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let key = cu::key(&ns, &name);
    let Some(selector) = obj.selector().filter(|s| !cu::selector_is_empty(s)) else {
        ctx.recorder
            .record(
                obj.as_ref(),
                EventType::Warning,
                "InvalidSelector",
                "the selector is empty: it would select every pod".into(),
            )
            .await;
        return Ok(Action::await_change());
    };
    let deleting = obj.meta().deletion_timestamp.is_some();
    let uid = obj.uid().unwrap_or_default();
    // Ours and the namespace's orphans: pods of other controllers are never
    // touched (upstream's controllerUIDIndex).
    let mut all: Vec<Arc<Pod>> = ctx.pods.controlled_by(&uid);
    all.extend(ctx.pods.orphans_in(&ns));
    let mut owned: Vec<Arc<Pod>> = Vec::new();
    let mut fresh_owner_checked = false;
    for pod in all.iter().filter(|p| cu::is_pod_active(p)) {
        let matches = cu::selector_matches(&selector, pod.labels());
        match cu::controller_ref(pod.metadata.owner_references.as_ref()) {
            Some(r) if r.uid == uid => {
                if matches {
                    owned.push(pod.clone());
                } else if !deleting {
                    cu::release(&ctx.client, pod.as_ref(), &uid).await?;
                }
            }
            Some(_) => {}
            None => {
                if !matches || deleting {
                    continue;
                }
                // Upstream `RecheckDeletionTimestamp`: adopt only if the owner,
                // read fresh, is still the same and not being deleted.
                if !fresh_owner_checked {
                    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
                    let fresh = api
                        .get_opt(&name)
                        .await
                        .ctx(|| format!("get {} {key}", K::kind(&())))?;
                    let ok = fresh.is_some_and(|f| {
                        f.uid().as_deref() == Some(uid.as_str())
                            && f.meta().deletion_timestamp.is_none()
                    });
                    if !ok {
                        return Ok(Action::await_change());
                    }
                    fresh_owner_checked = true;
                }
                let controller_ref =
                    cu::new_controller_ref(&K::api_version(&()), &K::kind(&()), &name, &uid);
                if cu::adopt(&ctx.client, pod.as_ref(), controller_ref).await? {
                    owned.push(pod.clone());
                }
            }
        }
    }

    let gone = |pod_name: &str| {
        ctx.pods
            .get(&ns, pod_name)
            .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
    };
    let mut failure: Option<(&'static str, String)> = None;
    let present = |pod_name: &str| ctx.pods.get(&ns, pod_name).is_some();
    if ctx.expectations.satisfied(&key, present, gone) && !deleting {
        failure = manage_replicas(&ctx, obj.as_ref(), &key, &owned).await;
    }

    let now = Timestamp::now();
    let min_ready = obj.min_ready_seconds();
    let template_labels = obj
        .template()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let fully_labeled = owned
        .iter()
        .filter(|p| {
            let labels = p.labels();
            template_labels
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
        })
        .count();
    let ready = owned.iter().filter(|p| cu::is_pod_ready(p)).count();
    let available = owned
        .iter()
        .filter(|p| cu::is_pod_available(p, min_ready, now))
        .count();
    let terminating = all
        .iter()
        .filter(|p| {
            cu::is_pod_terminating(p)
                && cu::controller_ref(p.metadata.owner_references.as_ref())
                    .is_some_and(|r| r.uid == uid)
        })
        .count();
    let failed = failure.is_some();
    update_status(
        &ctx,
        obj.as_ref(),
        StatusCounts {
            replicas: owned.len(),
            fully_labeled,
            ready,
            available,
            terminating,
        },
        failure,
    )
    .await?;
    if failed {
        // Upstream returns the failed creates' error after the status
        // update, so the ReplicaSet comes back and tries again. Waiting for
        // a change instead waits forever once the ReplicaFailure condition
        // is already set: a status that does not change brings no event (a
        // 150,000-pod fill left one ReplicaSet at 0 after two 429s).
        return Ok(Action::requeue(FAILED_SYNC_RETRY));
    }
    if min_ready > 0 && ready != available {
        return Ok(Action::requeue(Duration::from_secs(min_ready as u64)));
    }
    Ok(Action::await_change())
}

struct StatusCounts {
    replicas: usize,
    fully_labeled: usize,
    ready: usize,
    available: usize,
    terminating: usize,
}

async fn update_status<K: Workload>(
    ctx: &Ctx<K>,
    obj: &K,
    counts: StatusCounts,
    failure: Option<(&'static str, String)>,
) -> Result<()> {
    let old = obj.status_json();
    let old_conditions: Vec<Value> = old
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut conditions: Vec<Value> = old_conditions
        .iter()
        .filter(|c| c.get("type").and_then(Value::as_str) != Some("ReplicaFailure"))
        .cloned()
        .collect();
    if let Some((reason, message)) = &failure {
        let prev = old_conditions
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some("ReplicaFailure"));
        let time = prev
            .and_then(|p| p.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
        conditions.push(json!({
            "type": "ReplicaFailure",
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": time,
        }));
    }
    let generation = obj.meta().generation.unwrap_or(0);
    let mut status = json!({
        "replicas": counts.replicas,
        "fullyLabeledReplicas": counts.fully_labeled,
        "readyReplicas": counts.ready,
        "availableReplicas": counts.available,
        "observedGeneration": generation,
    });
    if K::kind(&()) == "ReplicaSet" {
        status["terminatingReplicas"] = json!(counts.terminating);
    }
    status["conditions"] = Value::Array(conditions.clone());
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let same = [
        "replicas",
        "fullyLabeledReplicas",
        "readyReplicas",
        "availableReplicas",
        "observedGeneration",
    ]
    .iter()
    .all(|k| num(&old, k) == num(&status, k))
        && old_conditions == conditions;
    if same {
        return Ok(());
    }
    if status["terminatingReplicas"].is_null() {
        status
            .as_object_mut()
            .map(|m| m.remove("terminatingReplicas"));
    }
    if conditions.is_empty() {
        status["conditions"] = Value::Null;
    }
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    match api
        .patch_status(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&json!({ "status": status })),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if crate::is_not_found(&e) => Ok(()),
        Err(e) => Err(e).ctx(|| {
            format!(
                "update the status of {} {ns}/{}",
                K::kind(&()),
                obj.name_any()
            )
        }),
    }
}

/// A pod from the template, as upstream's `GetPodFromTemplate`.
fn pod_from_template<K: Workload>(owner: &K, template: &PodTemplateSpec) -> Pod {
    let meta = template.metadata.clone().unwrap_or_default();
    let prefix = format!("{}-", owner.name_any());
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(prefix),
            namespace: owner.namespace(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![cu::new_controller_ref(
                &K::api_version(&()),
                &K::kind(&()),
                &owner.name_any(),
                &owner.uid().unwrap_or_default(),
            )]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// `manageReplicas`: one round of creations or deletions. Returns the
/// failure to report in the `ReplicaFailure` condition, if any.
async fn manage_replicas<K: Workload>(
    ctx: &Ctx<K>,
    obj: &K,
    key: &str,
    owned: &[Arc<Pod>],
) -> Option<(&'static str, String)> {
    let ns = obj.namespace().unwrap_or_default();
    let want = obj.replicas().max(0) as usize;
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    if owned.len() < want {
        let n = (want - owned.len()).min(BURST_REPLICAS);
        let Some(template) = obj.template() else {
            ctx.recorder
                .record(
                    obj,
                    EventType::Warning,
                    "FailedCreate",
                    "Error creating: no pod template".into(),
                )
                .await;
            return Some(("FailedCreate", "no pod template".into()));
        };
        let pod = pod_from_template(obj, template);
        ctx.expectations.expect(key, n, &[]);
        let attempted = AtomicUsize::new(0);
        let (_, err) = cu::slow_start_batch(n, || {
            attempted.fetch_add(1, Ordering::Relaxed);
            let api = api.clone();
            let pod = pod.clone();
            async move {
                cu::create_owned_pod(&api, &pod, obj, key, &ctx.expectations, &ctx.recorder)
                    .await
                    .map_err(|e| cu::api_message(&e))
            }
        })
        .await;
        // Creations skipped after a failed batch will never be observed.
        let skipped = n.saturating_sub(attempted.load(Ordering::Relaxed));
        for _ in 0..skipped {
            ctx.expectations.lower(key, true, None);
        }
        return err.map(|m| ("FailedCreate", m));
    }
    if owned.len() > want {
        let n = (owned.len() - want).min(BURST_REPLICAS);
        let refs: Vec<&Pod> = owned.iter().map(|p| p.as_ref()).collect();
        let victims = cu::pods_to_delete(&refs, &refs, n, Timestamp::now());
        let names: Vec<String> = victims.iter().map(|p| p.name_any()).collect();
        ctx.expectations.expect(key, 0, &names);
        let results = futures::future::join_all(names.iter().map(|name| {
            let api = api.clone();
            async move { (name, api.delete(name, &DeleteParams::default()).await) }
        }))
        .await;
        let mut failure = None;
        for (name, r) in results {
            match r {
                Ok(_) => {
                    ctx.recorder
                        .record(
                            obj,
                            EventType::Normal,
                            "SuccessfulDelete",
                            format!("Deleted pod: {name}"),
                        )
                        .await
                }
                Err(e) if crate::is_not_found(&e) => {}
                Err(e) => {
                    ctx.expectations.lower(key, false, Some(name));
                    let msg = match &e {
                        kube::Error::Api(s) => s.message.clone(),
                        other => other.to_string(),
                    };
                    ctx.recorder
                        .record(
                            obj,
                            EventType::Warning,
                            "FailedDelete",
                            format!("Error deleting: {msg}"),
                        )
                        .await;
                    failure = Some(("FailedDelete", msg));
                }
            }
        }
        return failure;
    }
    None
}

/// Labels of a pod template (for tests and the deployment controller).
pub fn template_labels(t: &PodTemplateSpec) -> BTreeMap<String, String> {
    t.metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}
