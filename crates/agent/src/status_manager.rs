//! Writes pod statuses to the API, as kubelet's status manager: the latest
//! status of each pod wins (older unsent ones are dropped), at most one write
//! per pod is in flight, a bounded number of writes overall, and a pod whose
//! deletion the worker finished is deleted with grace 0 after its final status.
//!
//! Owns: ordering, coalescing and retry of `pods/{name}/status` writes and the
//! final delete. Does not own: what the status says (the pod worker).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinSet;

/// Delay before a failed write is tried again.
const RETRY: Duration = Duration::from_millis(500);

#[derive(Default)]
struct Pending {
    namespace: String,
    name: String,
    status: Option<PodStatus>,
    delete: bool,
}

#[derive(Default)]
struct State {
    pending: HashMap<String, Pending>,
    in_flight: HashSet<String>,
    /// Queued again while in flight: requeue when the write ends.
    deferred: HashSet<String>,
}

struct Inner {
    client: Client,
    state: Mutex<State>,
    queue: UnboundedSender<String>,
}

/// Handle to the status writers.
#[derive(Clone)]
pub struct StatusManager {
    inner: Arc<Inner>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl StatusManager {
    /// Starts `concurrency` writers in `tasks`.
    pub fn start(client: Client, concurrency: usize, tasks: &mut JoinSet<()>) -> StatusManager {
        let (tx, rx) = unbounded_channel();
        let inner = Arc::new(Inner {
            client,
            state: Mutex::new(State::default()),
            queue: tx,
        });
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..concurrency.max(1) {
            tasks.spawn(writer(Arc::clone(&inner), Arc::clone(&rx)));
        }
        StatusManager { inner }
    }

    fn update(&self, uid: &str, namespace: &str, name: &str, f: impl FnOnce(&mut Pending)) {
        let mut state = lock(&self.inner.state);
        let fresh = !state.pending.contains_key(uid);
        let entry = state
            .pending
            .entry(uid.to_string())
            .or_insert_with(|| Pending {
                namespace: namespace.to_string(),
                name: name.to_string(),
                ..Default::default()
            });
        f(entry);
        if fresh {
            let _ = self.inner.queue.send(uid.to_string());
        }
    }

    /// Queues `status` for the pod, replacing any unsent one.
    pub fn set_status(&self, uid: &str, namespace: &str, name: &str, status: PodStatus) {
        self.update(uid, namespace, name, |p| p.status = Some(status));
    }

    /// Queues the final delete of the pod, after any queued status.
    pub fn delete(&self, uid: &str, namespace: &str, name: &str) {
        self.update(uid, namespace, name, |p| p.delete = true);
    }

    /// Drops whatever is queued for a pod that is gone.
    pub fn forget(&self, uid: &str) {
        lock(&self.inner.state).pending.remove(uid);
    }

    /// Writes queued or in flight.
    pub fn backlog(&self) -> usize {
        let state = lock(&self.inner.state);
        state.pending.len() + state.in_flight.len()
    }
}

async fn writer(inner: Arc<Inner>, rx: Arc<tokio::sync::Mutex<UnboundedReceiver<String>>>) {
    loop {
        let Some(uid) = rx.lock().await.recv().await else {
            return;
        };
        let job = {
            let mut state = lock(&inner.state);
            if state.in_flight.contains(&uid) {
                state.deferred.insert(uid);
                continue;
            }
            match state.pending.remove(&uid) {
                Some(job) => {
                    state.in_flight.insert(uid.clone());
                    job
                }
                None => continue,
            }
        };
        let failed = write(&inner.client, &uid, &job).await;
        let mut state = lock(&inner.state);
        state.in_flight.remove(&uid);
        let mut requeue = state.deferred.remove(&uid) && state.pending.contains_key(&uid);
        if failed {
            // Keep the newer status if one came meanwhile; keep the delete.
            let entry = state.pending.entry(uid.clone()).or_default();
            if entry.status.is_none() {
                entry.status = job.status;
            }
            entry.delete |= job.delete;
            entry.namespace = job.namespace;
            entry.name = job.name;
            drop(state);
            let queue = inner.queue.clone();
            tokio::spawn(async move {
                tokio::time::sleep(RETRY).await;
                let _ = queue.send(uid);
            });
            continue;
        }
        requeue |= state.pending.contains_key(&uid);
        drop(state);
        if requeue {
            let _ = inner.queue.send(uid);
        }
    }
}

/// PATCHes a pod's status without decoding the Pod the server answers
/// with (nothing here reads it; with managedFields it was the largest part
/// of the sim's CPU per pod after the watch).
async fn patch_status(
    client: &Client,
    job: &Pending,
    patch: &serde_json::Value,
) -> kube::Result<()> {
    let url = format!("/api/v1/namespaces/{}/pods", job.namespace);
    let req = kube::core::Request::new(url)
        .patch_subresource(
            "status",
            &job.name,
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .map_err(kube::Error::BuildRequest)?;
    client.request_text(req).await.map(drop)
}

/// One write; true when it should be retried.
async fn write(client: &Client, uid: &str, job: &Pending) -> bool {
    let api: Api<Pod> = Api::namespaced(client.clone(), &job.namespace);
    if let Some(status) = &job.status {
        // The uid in the patch makes it fail on a pod recreated under the same name.
        let patch = json!({"metadata": {"uid": uid}, "status": status});
        match patch_status(client, job, &patch).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if matches!(s.code, 404 | 409 | 422) => {
                tracing::debug!(pod = %job.name, namespace = %job.namespace, code = s.code, "pod status not written: {}", s.message);
                return false;
            }
            Err(e) => {
                tracing::warn!(pod = %job.name, namespace = %job.namespace, "failed to write pod status: {e}");
                return true;
            }
        }
    }
    if job.delete {
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(&job.name, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if matches!(s.code, 404 | 409) => {}
            Err(e) => {
                tracing::warn!(pod = %job.name, namespace = %job.namespace, "failed to delete pod: {e}");
                return true;
            }
        }
    }
    false
}
