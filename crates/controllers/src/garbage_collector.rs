//! The garbage collector (upstream `pkg/controller/garbagecollector`): a graph
//! of ownerReferences over every deletable kind, fed by metadata-only watches.
//!
//! - Background: a dependent whose owners are all gone (verified with a live
//!   GET, as `attemptToDeleteItem` does) is deleted.
//! - Foreground: an owner with the `foregroundDeletion` finalizer keeps it
//!   until no dependent with `blockOwnerDeletion` remains; its dependents are
//!   deleted first.
//! - Orphan: an owner with the `orphan` finalizer has its dependents'
//!   ownerReferences to it removed, then the finalizer.
//!
//! It does not own the deletion of namespace content (the namespace
//! controller does).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams, Preconditions, PropagationPolicy};
use kube::core::{DynamicObject, ObjectMeta, PartialObjectMeta};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc;

use crate::events::{EventType, Recorder};
use crate::informer::Informers;
use crate::{ApiContext, Error, Result, discovery};

const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";
/// Upstream resyncs discovery every 30 s to watch new kinds.
const DISCOVERY_PERIOD: Duration = Duration::from_secs(30);
const WORKERS: usize = 8;
/// Kinds the collector never watches, as upstream's `DefaultIgnoredResources`:
/// Events (both APIs serve the same objects) are the most written kind, and
/// nothing owns them or is owned by them in practice.
const IGNORED: [(&str, &str); 2] = [("", "events"), ("events.k8s.io", "events")];

/// Whether the collector leaves the resource of `group` and `plural` alone.
fn ignored(group: &str, plural: &str) -> bool {
    IGNORED.contains(&(group, plural))
}

/// A node of the ownership graph: one per object of every watched kind,
/// so it keeps only what the collector reads.
#[derive(Clone, Debug)]
struct Node {
    /// Shared by every node of the kind: a copy of the discovery entry
    /// (five names and the verbs) per object cost ~0.5 KiB per pod.
    resource: Arc<discovery::Resource>,
    namespace: Option<String>,
    name: String,
    owners: Vec<OwnerReference>,
    being_deleted: bool,
    finalizers: Vec<String>,
}

impl Node {
    fn deleting_dependents(&self) -> bool {
        self.being_deleted && self.finalizers.iter().any(|f| f == FOREGROUND)
    }
    fn orphaning(&self) -> bool {
        self.being_deleted && self.finalizers.iter().any(|f| f == ORPHAN)
    }
}

#[derive(Default)]
struct Graph {
    nodes: HashMap<String, Node>,
    /// owner uid → dependent uids (the owner may be absent: a virtual node).
    dependents: HashMap<String, HashSet<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Work {
    AttemptToDelete(String),
    AttemptToOrphan(String),
}

struct Gc {
    client: Client,
    graph: Mutex<Graph>,
    /// (apiVersion, kind) → resource, for owner lookups.
    kinds: Mutex<HashMap<(String, String), discovery::Resource>>,
    queue: mpsc::UnboundedSender<Work>,
    pending: Mutex<HashSet<Work>>,
    recorder: Recorder,
}

/// Runs the garbage collector until it fails.
pub async fn run(informers: Informers) -> Result<()> {
    // The collector watches every kind as metadata only, through its own
    // watches: the typed informers do not cover arbitrary kinds.
    let client = informers.client().clone();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let gc = Arc::new(Gc {
        recorder: Recorder::new(client.clone(), "garbage-collector-controller"),
        client,
        graph: Mutex::default(),
        kinds: Mutex::default(),
        queue: tx,
        pending: Mutex::default(),
    });
    let monitors = tokio::spawn(monitor_resources(gc.clone()));
    let _guard = AbortOnDrop(monitors);
    let sem = Arc::new(tokio::sync::Semaphore::new(WORKERS));
    while let Some(work) = rx.recv().await {
        let Ok(permit) = sem.clone().acquire_owned().await else {
            break;
        };
        let gc = gc.clone();
        tokio::spawn(async move {
            gc.lock_pending().remove(&work);
            if let Err(e) = gc.process(&work).await {
                tracing::debug!(?work, error = %crate::error_chain(&e), "garbage collection failed; retrying");
                let gc2 = gc.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    gc2.enqueue(work);
                });
            }
            drop(permit);
        });
    }
    Ok(())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts a metadata watch for every deletable resource, and for new ones
/// as discovery finds them.
async fn monitor_resources(gc: Arc<Gc>) {
    let mut watched: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        match discovery::preferred_resources(&gc.client).await {
            Ok(found) => {
                let mut kinds = HashMap::new();
                for r in found.resources {
                    kinds.insert((r.api.api_version.clone(), r.api.kind.clone()), r.clone());
                    if !r.supports(&["list", "watch", "delete", "get"])
                        || ignored(&r.api.group, &r.api.plural)
                    {
                        continue;
                    }
                    let key = format!("{}/{}", r.api.api_version, r.api.plural);
                    if watched.contains_key(&key) {
                        continue;
                    }
                    watched.insert(key, tokio::spawn(watch_resource(gc.clone(), Arc::new(r))));
                }
                // Owner references may name any served version of a kind.
                let mut all = gc.lock_kinds();
                all.extend(kinds);
            }
            Err(e) => tracing::warn!(error = %e, "garbage collector discovery failed"),
        }
        tokio::time::sleep(DISCOVERY_PERIOD).await;
    }
}

async fn watch_resource(gc: Arc<Gc>, r: Arc<discovery::Resource>) {
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(gc.client.clone(), &r.api);
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut seen: HashSet<String> = HashSet::new();
    let mut relist: Option<HashSet<String>> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init) => relist = Some(HashSet::new()),
            Ok(watcher::Event::InitApply(obj)) => {
                if let Some(uid) = obj.metadata.uid.clone() {
                    if let Some(r) = relist.as_mut() {
                        r.insert(uid.clone());
                    }
                    seen.insert(uid);
                }
                gc.observe(&r, &obj.metadata);
            }
            Ok(watcher::Event::InitDone) => {
                // Objects that disappeared while the watch was down.
                if let Some(now) = relist.take() {
                    for uid in seen.difference(&now) {
                        gc.observe_deleted(uid);
                    }
                    seen = now;
                }
            }
            Ok(watcher::Event::Apply(obj)) => {
                if let Some(uid) = obj.metadata.uid.clone() {
                    seen.insert(uid);
                }
                gc.observe(&r, &obj.metadata);
            }
            Ok(watcher::Event::Delete(obj)) => {
                if let Some(uid) = obj.metadata.uid.as_deref() {
                    seen.remove(uid);
                    gc.observe_deleted(uid);
                }
            }
            Err(e) => {
                // The API may stop serving the kind; discovery restarts nothing,
                // the back-off keeps retrying.
                tracing::debug!(resource = %r.api.plural, error = %e, "garbage collector watch error");
            }
        }
    }
}

impl Gc {
    fn lock_graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_kinds(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String), discovery::Resource>> {
        self.kinds.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashSet<Work>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enqueue(&self, work: Work) {
        if self.lock_pending().insert(work.clone()) {
            let _ = self.queue.send(work);
        }
    }

    /// `processGraphChanges` for an added or updated object.
    fn observe(&self, r: &Arc<discovery::Resource>, meta: &ObjectMeta) {
        let Some(uid) = meta.uid.clone() else { return };
        let node = Node {
            resource: r.clone(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            owners: meta.owner_references.clone().unwrap_or_default(),
            being_deleted: meta.deletion_timestamp.is_some(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
        };
        let mut work = Vec::new();
        {
            let mut g = self.lock_graph();
            let old = g.nodes.get(&uid).cloned();
            let old_owners: Vec<OwnerReference> =
                old.as_ref().map(|o| o.owners.clone()).unwrap_or_default();
            for o in &old_owners {
                if !node.owners.iter().any(|n| n.uid == o.uid)
                    && let Some(set) = g.dependents.get_mut(&o.uid)
                {
                    set.remove(&uid);
                }
                // A removed or unblocked reference may unblock a foreground owner.
                let still_blocking = node
                    .owners
                    .iter()
                    .any(|n| n.uid == o.uid && n.block_owner_deletion == Some(true));
                if !still_blocking && g.nodes.get(&o.uid).is_some_and(Node::deleting_dependents) {
                    work.push(Work::AttemptToDelete(o.uid.clone()));
                }
            }
            for o in &node.owners {
                g.dependents
                    .entry(o.uid.clone())
                    .or_default()
                    .insert(uid.clone());
                let owner_known = g.nodes.get(&o.uid);
                let new_ref = !old_owners.iter().any(|x| x.uid == o.uid);
                match owner_known {
                    // An owner we have not seen: verify it (dangling reference?).
                    None => work.push(Work::AttemptToDelete(uid.clone())),
                    Some(owner) => {
                        if new_ref && owner.resource.namespaced && owner.namespace != node.namespace
                        {
                            work.push(Work::AttemptToDelete(uid.clone()));
                        }
                        if owner.deleting_dependents() {
                            work.push(Work::AttemptToDelete(uid.clone()));
                        }
                    }
                }
            }
            if node.orphaning() {
                work.push(Work::AttemptToOrphan(uid.clone()));
            }
            if node.deleting_dependents() {
                work.push(Work::AttemptToDelete(uid.clone()));
                for d in g.dependents.get(&uid).into_iter().flatten() {
                    work.push(Work::AttemptToDelete(d.clone()));
                }
            }
            g.nodes.insert(uid, node);
        }
        for w in work {
            self.enqueue(w);
        }
    }

    /// `processGraphChanges` for a deleted object.
    fn observe_deleted(&self, uid: &str) {
        let mut work = Vec::new();
        {
            let mut g = self.lock_graph();
            let Some(node) = g.nodes.remove(uid) else {
                return;
            };
            for o in &node.owners {
                if let Some(set) = g.dependents.get_mut(&o.uid) {
                    set.remove(uid);
                    if set.is_empty() {
                        g.dependents.remove(&o.uid);
                    }
                }
                if g.nodes.get(&o.uid).is_some_and(Node::deleting_dependents) {
                    work.push(Work::AttemptToDelete(o.uid.clone()));
                }
            }
            for d in g.dependents.get(uid).into_iter().flatten() {
                work.push(Work::AttemptToDelete(d.clone()));
            }
        }
        for w in work {
            self.enqueue(w);
        }
    }

    async fn process(&self, work: &Work) -> Result<()> {
        match work {
            Work::AttemptToDelete(uid) => self.attempt_to_delete(uid).await,
            Work::AttemptToOrphan(uid) => self.attempt_to_orphan(uid).await,
        }
    }

    fn api_for(&self, r: &discovery::Resource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) if r.namespaced => Api::namespaced_with(self.client.clone(), ns, &r.api),
            _ => Api::all_with(self.client.clone(), &r.api),
        }
    }

    /// The live object behind a node, if it still has that uid.
    async fn live(&self, node: &Node, uid: &str) -> Result<Option<DynamicObject>> {
        let api = self.api_for(&node.resource, node.namespace.as_deref());
        let obj = api
            .get_opt(&node.name)
            .await
            .ctx(|| format!("get {} {}", node.resource.api.plural, node.name))?;
        Ok(obj.filter(|o| o.metadata.uid.as_deref() == Some(uid)))
    }

    /// `attemptToDeleteItem`.
    async fn attempt_to_delete(&self, uid: &str) -> Result<()> {
        let Some(node) = self.lock_graph().nodes.get(uid).cloned() else {
            return Ok(());
        };
        if node.being_deleted && !node.deleting_dependents() {
            return Ok(());
        }
        let Some(live) = self.live(&node, uid).await? else {
            return Ok(());
        };
        let being_deleted = live.metadata.deletion_timestamp.is_some();
        let finalizers = live.metadata.finalizers.clone().unwrap_or_default();
        if being_deleted && finalizers.iter().any(|f| f == FOREGROUND) {
            return self.process_deleting_dependents(&node, uid).await;
        }
        if being_deleted {
            return Ok(());
        }
        let owners = live.metadata.owner_references.clone().unwrap_or_default();
        if owners.is_empty() {
            return Ok(());
        }
        let mut solid = Vec::new();
        let mut dangling = Vec::new();
        let mut waiting = Vec::new();
        for o in &owners {
            match self.classify_owner(&node, o).await? {
                OwnerState::Solid => solid.push(o.clone()),
                OwnerState::Dangling => dangling.push(o.clone()),
                OwnerState::Waiting => waiting.push(o.clone()),
                OwnerState::Unknown => solid.push(o.clone()),
            }
        }
        if !solid.is_empty() {
            if dangling.is_empty() && waiting.is_empty() {
                return Ok(());
            }
            // Keep the object; drop its references to owners that are gone
            // or being deleted in the foreground.
            let gone: HashSet<String> = dangling
                .iter()
                .chain(waiting.iter())
                .map(|o| o.uid.clone())
                .collect();
            return self.remove_owner_refs(&node, uid, &gone).await;
        }
        let has_dependents = self
            .lock_graph()
            .dependents
            .get(uid)
            .is_some_and(|d| !d.is_empty());
        let policy = if !waiting.is_empty() && has_dependents {
            PropagationPolicy::Foreground
        } else if finalizers.iter().any(|f| f == ORPHAN) {
            PropagationPolicy::Orphan
        } else if finalizers.iter().any(|f| f == FOREGROUND) {
            PropagationPolicy::Foreground
        } else {
            PropagationPolicy::Background
        };
        let dp = DeleteParams {
            propagation_policy: Some(policy),
            preconditions: Some(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..Default::default()
        };
        let api = self.api_for(&node.resource, node.namespace.as_deref());
        match api.delete(&node.name, &dp).await {
            Ok(_) => Ok(()),
            Err(e) if crate::is_not_found(&e) || crate::is_conflict(&e) => Ok(()),
            Err(e) => Err(e).ctx(|| format!("delete {} {}", node.resource.api.plural, node.name)),
        }
    }

    async fn classify_owner(&self, node: &Node, o: &OwnerReference) -> Result<OwnerState> {
        let kind = self
            .lock_kinds()
            .get(&(o.api_version.clone(), o.kind.clone()))
            .cloned();
        let Some(kind) = kind else {
            // Unknown kind (not served yet): leave the reference alone.
            return Ok(OwnerState::Unknown);
        };
        if kind.namespaced {
            let invalid = match node.namespace.as_deref() {
                None => true,
                Some(ns) => {
                    let g = self.lock_graph();
                    g.nodes
                        .get(&o.uid)
                        .is_some_and(|owner| owner.namespace.as_deref() != Some(ns))
                }
            };
            if invalid {
                // A namespaced owner can only own objects of its namespace.
                self.report_invalid_namespace(node, o).await;
                if node.namespace.is_none() {
                    return Ok(OwnerState::Dangling);
                }
            }
        }
        let ns = if kind.namespaced {
            node.namespace.as_deref()
        } else {
            None
        };
        let api = self.api_for(&kind, ns);
        let owner = api
            .get_metadata_opt(&o.name)
            .await
            .ctx(|| format!("get owner {} {}", kind.api.plural, o.name))?;
        Ok(match owner {
            None => OwnerState::Dangling,
            Some(owner) if owner.metadata.uid.as_deref() != Some(o.uid.as_str()) => {
                OwnerState::Dangling
            }
            Some(owner)
                if owner.metadata.deletion_timestamp.is_some()
                    && owner
                        .metadata
                        .finalizers
                        .iter()
                        .flatten()
                        .any(|f| f == FOREGROUND) =>
            {
                OwnerState::Waiting
            }
            Some(_) => OwnerState::Solid,
        })
    }

    async fn report_invalid_namespace(&self, node: &Node, o: &OwnerReference) {
        let involved = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some(node.resource.api.api_version.clone()),
            kind: Some(node.resource.api.kind.clone()),
            name: Some(node.name.clone()),
            namespace: node.namespace.clone(),
            ..Default::default()
        };
        let msg = format!(
            "ownerRef [{}/{}, namespace: {}, name: {}, uid: {}] does not exist in namespace {:?}",
            o.api_version,
            o.kind,
            node.namespace.clone().unwrap_or_default(),
            o.name,
            o.uid,
            node.namespace.clone().unwrap_or_default()
        );
        self.recorder
            .record_ref(
                involved,
                EventType::Warning,
                "OwnerRefInvalidNamespace",
                msg,
            )
            .await;
    }

    /// `processDeletingDependents`: remove the foreground finalizer once no
    /// blocking dependent remains, else make sure the dependents are deleted.
    async fn process_deleting_dependents(&self, node: &Node, uid: &str) -> Result<()> {
        let blocking: Vec<String> = {
            let g = self.lock_graph();
            g.dependents
                .get(uid)
                .into_iter()
                .flatten()
                .filter(|d| {
                    g.nodes.get(*d).is_some_and(|dn| {
                        dn.owners
                            .iter()
                            .any(|o| o.uid == uid && o.block_owner_deletion == Some(true))
                    })
                })
                .cloned()
                .collect()
        };
        if blocking.is_empty() {
            return self.remove_finalizer(node, uid, FOREGROUND).await;
        }
        for d in blocking {
            let deleting = self
                .lock_graph()
                .nodes
                .get(&d)
                .is_some_and(|n| n.being_deleted && !n.deleting_dependents());
            if !deleting {
                self.enqueue(Work::AttemptToDelete(d));
            }
        }
        Ok(())
    }

    /// `attemptToOrphan`: drop the owner from its dependents, then the finalizer.
    async fn attempt_to_orphan(&self, uid: &str) -> Result<()> {
        let Some(node) = self.lock_graph().nodes.get(uid).cloned() else {
            return Ok(());
        };
        let dependents: Vec<(String, Node)> = {
            let g = self.lock_graph();
            g.dependents
                .get(uid)
                .into_iter()
                .flatten()
                .filter_map(|d| g.nodes.get(d).map(|n| (d.clone(), n.clone())))
                .collect()
        };
        let owner: HashSet<String> = [uid.to_string()].into();
        for (duid, dnode) in dependents {
            self.remove_owner_refs(&dnode, &duid, &owner).await?;
        }
        self.remove_finalizer(&node, uid, ORPHAN).await
    }

    /// Read-modify-write of a live object, retried on conflicts.
    async fn update_live(
        &self,
        node: &Node,
        uid: &str,
        change: impl Fn(&mut DynamicObject) -> bool,
    ) -> Result<()> {
        let api = self.api_for(&node.resource, node.namespace.as_deref());
        for _ in 0..5 {
            let Some(mut obj) = self.live(node, uid).await? else {
                return Ok(());
            };
            if !change(&mut obj) {
                return Ok(());
            }
            match api.replace(&node.name, &PostParams::default(), &obj).await {
                Ok(_) => return Ok(()),
                Err(e) if crate::is_not_found(&e) => return Ok(()),
                Err(e) if crate::is_conflict(&e) => continue,
                Err(e) => {
                    return Err(e)
                        .ctx(|| format!("update {} {}", node.resource.api.plural, node.name));
                }
            }
        }
        Err(Error::Invalid(format!(
            "too many conflicts updating {} {}",
            node.resource.api.plural, node.name
        )))
    }

    async fn remove_owner_refs(
        &self,
        node: &Node,
        uid: &str,
        owners: &HashSet<String>,
    ) -> Result<()> {
        self.update_live(node, uid, |obj| {
            let Some(refs) = obj.metadata.owner_references.as_mut() else {
                return false;
            };
            let before = refs.len();
            refs.retain(|r| !owners.contains(&r.uid));
            refs.len() != before
        })
        .await
    }

    async fn remove_finalizer(&self, node: &Node, uid: &str, finalizer: &str) -> Result<()> {
        self.update_live(node, uid, |obj| {
            let Some(f) = obj.metadata.finalizers.as_mut() else {
                return false;
            };
            let before = f.len();
            f.retain(|x| x != finalizer);
            f.len() != before
        })
        .await
    }
}

enum OwnerState {
    Solid,
    Dangling,
    Waiting,
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::discovery::ApiResource;

    #[test]
    fn events_of_both_apis_are_ignored() {
        assert!(ignored("", "events"));
        assert!(ignored("events.k8s.io", "events"));
        assert!(!ignored("", "pods"));
        assert!(!ignored("apps", "replicasets"));
        // Only the two Event APIs: another group's `events` is watched.
        assert!(!ignored("example.com", "events"));
    }

    #[test]
    fn foreground_and_orphan_states() {
        let node = Node {
            resource: Arc::new(discovery::Resource {
                api: ApiResource {
                    group: "apps".into(),
                    version: "v1".into(),
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    plural: "deployments".into(),
                },
                namespaced: true,
                verbs: vec![],
            }),
            namespace: Some("default".into()),
            name: "web".into(),
            owners: vec![],
            being_deleted: true,
            finalizers: vec![FOREGROUND.into()],
        };
        assert!(node.deleting_dependents());
        assert!(!node.orphaning());
        let live = Node {
            being_deleted: false,
            ..node
        };
        assert!(!live.deleting_dependents());
    }
}
