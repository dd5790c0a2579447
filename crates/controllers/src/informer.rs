//! Shared informers (client-go's `SharedInformerFactory`): one watch, one
//! cache and one event fan-out per kind for every controller of the
//! controller manager, instead of a reflector per controller.
//!
//! Why: with a reflector each, ten controllers keep ten copies of every pod
//! and decode every pod event ten times; and a controller that looked its
//! pods up by scanning the whole store did O(pods) work per sync. Here each
//! kind is listed and watched once, kept once (without `managedFields`, which
//! no controller reads and which is often the bulk of an object), and indexed
//! by namespace and by controller UID so a sync touches only its own objects
//! (upstream's `controllerUIDIndex` in the ReplicaSet controller).
//!
//! Subscribers get every object the watch touches (applied or deleted) on
//! an unbounded channel of shared pointers, so a slow subscriber never loses
//! an event nor holds up the others; a new subscriber first gets every object
//! already cached, as a client-go event handler added late does.
//!
//! What this does not own: the controllers' own work queues (kube-runtime's
//! `Controller`), and the scheduler, which keeps its own cache.

use std::any::{Any, TypeId};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use futures::{Stream, StreamExt};
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use skiff_core::lean::WithoutManagedFields;
use tokio::sync::mpsc;

use crate::controller_utils::{Cached, controller_ref};

/// The informers of one controller-manager term: every kind asked for is
/// watched from the first request until this (and every clone) is dropped.
#[derive(Clone)]
pub struct Informers {
    inner: Arc<Factory>,
}

struct Factory {
    client: Client,
    started: Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for Factory {
    fn drop(&mut self) {
        for t in self.tasks.get_mut().map(std::mem::take).unwrap_or_default() {
            t.abort();
        }
    }
}

impl Informers {
    /// Informers that list and watch through `client`.
    pub fn new(client: Client) -> Self {
        Self {
            inner: Arc::new(Factory {
                client,
                started: Mutex::new(HashMap::new()),
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The client the informers watch with (what controllers write with).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The informer of every `K` in the cluster, started on first use.
    pub fn of<K: Cached>(&self) -> Informer<K> {
        let mut started = lock(&self.inner.started);
        if let Some(found) = started
            .get(&TypeId::of::<K>())
            .and_then(|b| b.downcast_ref::<Informer<K>>())
        {
            return found.clone();
        }
        let writer = Writer::<K>::default();
        let informer = Informer {
            shared: Arc::new(Shared {
                store: writer.as_reader(),
                index: RwLock::new(Index::default()),
                subscribers: Mutex::new(Vec::new()),
                synced: tokio::sync::watch::channel(false).0,
            }),
        };
        let task = tokio::spawn(feed(
            Api::all(self.inner.client.clone()),
            writer,
            informer.shared.clone(),
        ));
        lock(&self.inner.tasks).push(task.abort_handle());
        started.insert(TypeId::of::<K>(), Box::new(informer.clone()));
        informer
    }
}

/// The shared cache and event fan-out of one kind.
pub struct Informer<K: Cached> {
    shared: Arc<Shared<K>>,
}

impl<K: Cached> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<K: Cached> {
    store: Store<K>,
    index: RwLock<Index<K>>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Arc<K>>>>,
    /// Set once the first list is in the store and the indexes.
    synced: tokio::sync::watch::Sender<bool>,
}

/// Secondary indexes over the store: keys only, the objects stay in the
/// store (one copy).
struct Index<K: Cached> {
    by_namespace: HashMap<String, HashSet<ObjectRef<K>>>,
    /// Controller UID, or [`orphan_key`] of the namespace for objects with no
    /// controller.
    by_controller: HashMap<String, HashSet<ObjectRef<K>>>,
}

impl<K: Cached> Default for Index<K> {
    fn default() -> Self {
        Self {
            by_namespace: HashMap::new(),
            by_controller: HashMap::new(),
        }
    }
}

/// The controller index key of objects without a controller in `ns`; a UID
/// never contains `/`.
fn orphan_key(ns: &str) -> String {
    format!("orphan/{ns}")
}

/// The store key of `obj`, without the resourceVersion and UID that
/// `ObjectRef::from_obj` would copy into every index entry.
fn key_of<K: Cached>(obj: &K) -> ObjectRef<K> {
    let key = ObjectRef::new(&obj.name_any());
    match obj.namespace() {
        Some(ns) => key.within(&ns),
        None => key,
    }
}

fn index_keys<K: Cached>(obj: &K) -> (String, String) {
    let ns = obj.namespace().unwrap_or_default();
    let ctrl = match controller_ref(obj.meta().owner_references.as_ref()) {
        Some(r) => r.uid.clone(),
        None => orphan_key(&ns),
    };
    (ns, ctrl)
}

impl<K: Cached> Index<K> {
    fn insert(&mut self, obj: &K) {
        let key = key_of(obj);
        let (ns, ctrl) = index_keys(obj);
        self.by_namespace.entry(ns).or_default().insert(key.clone());
        self.by_controller.entry(ctrl).or_default().insert(key);
    }

    fn remove(&mut self, obj: &K) {
        let key = key_of(obj);
        let (ns, ctrl) = index_keys(obj);
        remove_from(&mut self.by_namespace, &ns, &key);
        remove_from(&mut self.by_controller, &ctrl, &key);
    }
}

fn remove_from<K: Cached>(
    map: &mut HashMap<String, HashSet<ObjectRef<K>>>,
    at: &str,
    key: &ObjectRef<K>,
) {
    if let Some(set) = map.get_mut(at) {
        set.remove(key);
        if set.is_empty() {
            map.remove(at);
        }
    }
}

impl<K: Cached> Informer<K> {
    /// The cache, as kube-runtime's `Controller` wants it.
    pub fn store(&self) -> Store<K> {
        self.shared.store.clone()
    }

    /// Waits until the first list is in the cache (a controller acting on
    /// an empty cache would, e.g., create pods that already exist).
    pub async fn synced(&self) {
        let mut rx = self.shared.synced.subscribe();
        // An error means the informers are shutting down: nothing to wait for.
        let _ = rx.wait_for(|synced| *synced).await;
    }

    /// Every object the watch touches from now on (applied or deleted; a
    /// deleted one with its last state), after every object already cached.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut subs = lock(&self.shared.subscribers);
        // Under the subscribers lock, so no event falls between the replay
        // and the live stream (one may come twice, which is harmless).
        // Before the first list the store is empty, and the list's end
        // tells every object anyway.
        for obj in self.shared.store.state() {
            let _ = tx.send(obj);
        }
        subs.push(tx);
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|o| (o, rx)) })
    }

    /// The cached object `name` in `ns` (`""` for cluster-scoped kinds).
    pub fn get(&self, ns: &str, name: &str) -> Option<Arc<K>> {
        let key = ObjectRef::new(name);
        let key = if ns.is_empty() { key } else { key.within(ns) };
        self.shared.store.get(&key)
    }

    /// Every cached object.
    pub fn state(&self) -> Vec<Arc<K>> {
        self.shared.store.state()
    }

    /// Every cached object in namespace `ns`.
    pub fn in_namespace(&self, ns: &str) -> Vec<Arc<K>> {
        self.lookup(|i| i.by_namespace.get(ns))
    }

    /// Every cached object whose controller has UID `uid`.
    pub fn controlled_by(&self, uid: &str) -> Vec<Arc<K>> {
        self.lookup(|i| i.by_controller.get(uid))
    }

    /// Every cached object in `ns` without a controller (a candidate for
    /// adoption).
    pub fn orphans_in(&self, ns: &str) -> Vec<Arc<K>> {
        let key = orphan_key(ns);
        self.lookup(|i| i.by_controller.get(&key))
    }

    fn lookup(
        &self,
        pick: impl FnOnce(&Index<K>) -> Option<&HashSet<ObjectRef<K>>>,
    ) -> Vec<Arc<K>> {
        let index = self.shared.index.read().unwrap_or_else(|e| e.into_inner());
        pick(&index)
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| self.shared.store.get(k))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl<K: Cached> Shared<K> {
    fn dispatch(&self, objs: impl IntoIterator<Item = Arc<K>>) {
        let mut subs = lock(&self.subscribers);
        for obj in objs {
            subs.retain(|tx| tx.send(obj.clone()).is_ok());
        }
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, Index<K>> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Lists and watches `api` forever (with back-off on errors), keeping the
/// store and indexes and telling subscribers.
/// Objects are decoded without `managedFields` (no controller reads them).
async fn feed<K: Cached>(
    api: Api<WithoutManagedFields<K>>,
    mut writer: Writer<K>,
    shared: Arc<Shared<K>>,
) {
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(e) => unwrap_event(e),
            Err(e) => {
                tracing::debug!(kind = %K::kind(&()), error = %e, "informer watch error; retrying");
                continue;
            }
        };
        match &event {
            watcher::Event::Apply(obj) => {
                let key = key_of(obj);
                let old = shared.store.get(&key);
                writer.apply_watcher_event(&event);
                {
                    let mut index = shared.write_index();
                    if let Some(old) = &old {
                        index.remove(old);
                    }
                    index.insert(obj);
                }
                shared.dispatch(shared.store.get(&key));
            }
            watcher::Event::Delete(obj) => {
                writer.apply_watcher_event(&event);
                shared.write_index().remove(obj);
                shared.dispatch([Arc::new(obj.clone())]);
            }
            watcher::Event::Init | watcher::Event::InitApply(_) => {
                writer.apply_watcher_event(&event);
            }
            watcher::Event::InitDone => {
                // A relist: what vanished while the watch was down is told
                // as deleted, everything else as touched.
                let before = shared.store.state();
                writer.apply_watcher_event(&event);
                let now = shared.store.state();
                let live: HashSet<ObjectRef<K>> = now.iter().map(|o| key_of(o.as_ref())).collect();
                let gone: Vec<Arc<K>> = before
                    .into_iter()
                    .filter(|o| !live.contains(&key_of(o.as_ref())))
                    .collect();
                {
                    let mut index = shared.write_index();
                    *index = Index::default();
                    for obj in &now {
                        index.insert(obj);
                    }
                }
                shared.dispatch(gone.into_iter().chain(now));
                // After the dispatch: a subscriber that waited for the sync
                // gets the list once, from its replay.
                shared.synced.send_replace(true);
            }
        }
    }
}

fn unwrap_event<K>(ev: watcher::Event<WithoutManagedFields<K>>) -> watcher::Event<K> {
    use watcher::Event::*;
    match ev {
        Apply(o) => Apply(o.0),
        InitApply(o) => InitApply(o.0),
        Delete(o) => Delete(o.0),
        Init => Init,
        InitDone => InitDone,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
