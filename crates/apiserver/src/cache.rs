//! The watch cache: every stored object in memory, ready to serve LIST and WATCH,
//! as kube-apiserver's cacher.
//!
//! One store watch over `/registry/` feeds one [`ResourceCache`] per cached
//! resource. Each keeps the current objects in key order, already encoded with
//! their `resourceVersion`, and a window of recent events that watchers replay
//! from. Because every event of the store passes through, the cache's revision
//! follows the store's, so a consistent LIST waits for
//! `cache revision >= store revision` (etcd's progress notify, without asking).
//!
//! Events are not cached, as in kube-apiserver, whose `DefaultWatchCacheSizes`
//! gives both Event APIs a watch cache of size 0: one Event or more per pod,
//! read only by `kubectl get events`/`describe`, would otherwise be about a
//! quarter of the cache's memory and ingest work in a large cluster. Their
//! LIST and WATCH go to the store ([`Source::Store`]); the cache skips their
//! keys on load and on ingest.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use skiff_core::registry::ResourceInfo;
use skiff_store::{DynStore, EventType, KeyValue, RangeRequest};
use tokio::sync::{RwLock, broadcast, watch};

use crate::strategy::{self, Strategy};

mod item;

pub use item::Span;

/// Resources served without a watch cache: kube-apiserver's
/// `DefaultWatchCacheSizes` (`pkg/kubeapiserver/options`) sets size 0 for
/// these, so `StorageWithCacher` is not used and LIST and WATCH read etcd.
const UNCACHED: [(&str, &str); 2] = [("", "events"), ("events.k8s.io", "events")];

/// Whether `info`'s objects are kept out of the watch cache. Decided per
/// storage prefix: one resource of a prefix without a cache means none of
/// them has one (the two Event APIs store the same objects).
pub fn watch_cache_disabled(info: &ResourceInfo) -> bool {
    info.sharing_storage()
        .any(|r| UNCACHED.contains(&(r.group, r.resource)))
}

/// How many recent events each resource keeps for watchers to resume from.
const EVENT_WINDOW: usize = 10_000;
/// Live events a slow watcher may fall behind before it is resynced from the
/// window. The channel's slots are allocated up front (about 20 KiB), so this
/// stays small: a lagging watcher catches up from the window cheaply.
const BROADCAST_CAPACITY: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// One object as the cache holds it.
#[derive(Debug)]
pub struct Entry {
    pub key: String,
    pub namespace: String,
    pub name: String,
    pub revision: i64,
    /// The object without `kind`/`apiVersion`, as a list item (`{"metadata":..}`).
    pub item: Bytes,
    /// Labels, for label selectors.
    pub labels: Labels,
    /// Field selector attributes of the kind.
    pub fields: Vec<(&'static str, String)>,
    /// Where `metadata.managedFields` is in `item`, with a comma.
    pub managed_fields: Option<Span>,
    /// Where `metadata`'s value is in `item`.
    pub metadata: Span,
}

impl Entry {
    /// The entry of a stored object (or of a cached item, restamped) at
    /// `revision`, with the field attributes of `strategy`, the strategy of
    /// the stored resource. `None` for a value that is not a JSON object
    /// (never written by skiff; skipped rather than served broken).
    pub fn build(strategy: &dyn Strategy, key: &str, value: &[u8], revision: i64) -> Option<Entry> {
        let item = item::build(strategy, value, revision)?;
        Some(Entry {
            key: key.to_string(),
            namespace: item.namespace,
            name: item.name,
            revision,
            item: exact_bytes(item.bytes),
            labels: item.labels,
            fields: item.fields,
            managed_fields: item.managed_fields,
            metadata: item.metadata,
        })
    }

    pub fn field(&self, name: &str) -> Option<String> {
        match name {
            "metadata.name" => Some(self.name.clone()),
            "metadata.namespace" => Some(self.namespace.clone()),
            _ => self
                .fields
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone()),
        }
    }

    /// The object as JSON.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.item).unwrap_or(Value::Null)
    }

    /// The encoded item as two slices to join, the second empty unless
    /// `metadata.managedFields` is left out (KEP-2211's server-side omission,
    /// for in-process clients that drop them anyway): the cut is known from
    /// ingest, so leaving them out costs no decoding.
    pub fn item_parts(&self, omit_managed_fields: bool) -> (&[u8], &[u8]) {
        match self.managed_fields {
            Some(cut) if omit_managed_fields => (
                &self.item[..cut.start as usize],
                &self.item[cut.end as usize..],
            ),
            _ => (&self.item[..], &[]),
        }
    }

    /// The encoded `metadata` as two slices to join (see [`Self::item_parts`]).
    pub fn metadata_parts(&self, omit_managed_fields: bool) -> (&[u8], &[u8]) {
        let (start, end) = (self.metadata.start as usize, self.metadata.end as usize);
        match self.managed_fields {
            Some(cut) if omit_managed_fields => (
                &self.item[start..cut.start as usize],
                &self.item[cut.end as usize..end],
            ),
            _ => (&self.item[start..end], &[]),
        }
    }

    /// This entry's object restamped with another revision (deleted, or
    /// leaving a watcher's selection at that revision).
    pub fn with_revision(&self, strategy: &dyn Strategy, revision: i64) -> Option<Entry> {
        Entry::build(strategy, &self.key, &self.item, revision)
    }
}

/// An object's labels, sorted by key in one exact-size allocation: a
/// `BTreeMap` spends a whole node (~0.5 KiB) on the one or two labels most
/// objects have, and the cache holds one per object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(Box<[(String, String)]>);

impl Labels {
    /// The value of label `key`.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }
}

impl FromIterator<(String, String)> for Labels {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut pairs: Vec<(String, String)> = iter.into_iter().collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        // JSON object keys are unique, but keep the last value as a map would.
        pairs.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                std::mem::swap(&mut later.1, &mut earlier.1);
            }
            same
        });
        Labels(pairs.into_boxed_slice())
    }
}

/// A change to one object. For `Deleted`, `object` is the last state with the
/// delete's revision; `prev` is the state before the change.
#[derive(Debug)]
pub struct CacheEvent {
    pub kind: EventKind,
    pub revision: i64,
    pub object: Arc<Entry>,
    pub prev: Option<Arc<Entry>>,
}

struct State {
    objects: BTreeMap<String, Arc<Entry>>,
    events: VecDeque<Arc<CacheEvent>>,
    /// Events with revision > `window_start` are all in `events`.
    window_start: i64,
    /// Revision of the last event applied to this resource.
    last_revision: i64,
}

/// The cache of one stored resource.
pub struct ResourceCache {
    pub info: &'static ResourceInfo,
    pub prefix: String,
    strategy: &'static dyn Strategy,
    state: RwLock<State>,
    /// The live fan-out, made by the first watcher: most of the ~60 stored
    /// resources are never watched, and an idle server should not hold a
    /// channel's slots for each (BENCHMARKS.md, idle RSS).
    tx: OnceLock<broadcast::Sender<Arc<CacheEvent>>>,
}

/// What a cache snapshot returns for a list.
pub struct Snapshot {
    pub revision: i64,
    pub items: Vec<Arc<Entry>>,
}

impl ResourceCache {
    fn new(info: &'static ResourceInfo, start: i64) -> ResourceCache {
        ResourceCache {
            info,
            prefix: format!("{}/", crate::rest::storage_prefix(info)),
            strategy: strategy::for_resource(info),
            state: RwLock::new(State {
                objects: BTreeMap::new(),
                events: VecDeque::new(),
                window_start: start,
                last_revision: start,
            }),
            tx: OnceLock::new(),
        }
    }

    /// A live receiver of every later event. Callers hold the state lock
    /// (read), and [`Self::apply`] sends under the write lock, so no event
    /// falls between what the caller read and what the receiver gets, also
    /// for the subscription that creates the channel.
    fn live(&self) -> broadcast::Receiver<Arc<CacheEvent>> {
        self.tx
            .get_or_init(|| broadcast::channel(BROADCAST_CAPACITY).0)
            .subscribe()
    }

    /// Builds an entry from a stored value; `None` for a value that is not a JSON
    /// object (never written by skiff; skipped rather than served broken).
    pub fn entry(&self, key: &str, value: &[u8], revision: i64) -> Option<Entry> {
        Entry::build(self.strategy, key, value, revision)
    }

    /// The strategy of the cached resource.
    pub fn strategy(&self) -> &'static dyn Strategy {
        self.strategy
    }

    /// The current entry of `key` as the cache holds it, which may lag the
    /// store: what the write path starts an update from (kube-apiserver's
    /// `cachedExistingObject`), with the store's compare-and-swap catching a
    /// stale one.
    pub async fn current(&self, key: &str) -> Option<Arc<Entry>> {
        self.state.read().await.objects.get(key).cloned()
    }

    /// Objects under `key_prefix` (the resource prefix, or one namespace's).
    pub async fn snapshot(&self, key_prefix: &str, revision: i64) -> Snapshot {
        let st = self.state.read().await;
        let items = st
            .objects
            .range(key_prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(key_prefix))
            .map(|(_, e)| e.clone())
            .collect();
        Snapshot { revision, items }
    }

    /// The current objects under `key_prefix` and a live receiver of every later
    /// event, taken atomically, with the revision the snapshot is at.
    pub async fn snapshot_and_subscribe(
        &self,
        key_prefix: &str,
    ) -> (Vec<Arc<Entry>>, broadcast::Receiver<Arc<CacheEvent>>, i64) {
        let st = self.state.read().await;
        let rx = self.live();
        let items = st
            .objects
            .range(key_prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(key_prefix))
            .map(|(_, e)| e.clone())
            .collect();
        (items, rx, st.last_revision)
    }

    /// Subscribes to events after `after`: the replayed window part and a live
    /// receiver. `None` when `after` is older than the window.
    pub async fn subscribe(
        &self,
        after: i64,
    ) -> Option<(Vec<Arc<CacheEvent>>, broadcast::Receiver<Arc<CacheEvent>>)> {
        let st = self.state.read().await;
        if after < st.window_start {
            return None;
        }
        let rx = self.live();
        let replay = events_after(&st.events, after);
        Some((replay, rx))
    }

    /// Events after `after` still in the window, for a watcher that lagged.
    pub async fn replay(&self, after: i64) -> Option<Vec<Arc<CacheEvent>>> {
        let st = self.state.read().await;
        if after < st.window_start {
            return None;
        }
        Some(events_after(&st.events, after))
    }

    /// What the cache of this resource holds, for the memory log.
    async fn footprint(&self) -> Footprint {
        let st = self.state.read().await;
        let mut f = Footprint {
            objects: st.objects.len(),
            events: st.events.len(),
            ..Footprint::default()
        };
        for e in st.objects.values() {
            f.object_bytes += e.item.len();
        }
        // Entries only the window keeps alive (earlier states and deleted
        // objects), each counted once.
        let mut seen = std::collections::HashSet::new();
        for ev in &st.events {
            for e in std::iter::once(&ev.object).chain(ev.prev.as_ref()) {
                let current = st.objects.get(&e.key).is_some_and(|c| Arc::ptr_eq(c, e));
                if !current && seen.insert(Arc::as_ptr(e)) {
                    f.window_bytes += e.item.len();
                }
            }
        }
        f
    }

    /// The oldest revision a watch can start from.
    pub async fn window_start(&self) -> i64 {
        self.state.read().await.window_start
    }

    async fn apply(&self, kind: EventType, key: &str, value: &[u8], revision: i64) {
        let mut st = self.state.write().await;
        let prev = st.objects.get(key).cloned();
        let event = match kind {
            EventType::Put => {
                let Some(entry) = self.entry(key, value, revision) else {
                    tracing::warn!(key, "skipping a stored value that is not a JSON object");
                    return;
                };
                let entry = Arc::new(entry);
                st.objects.insert(key.to_string(), entry.clone());
                CacheEvent {
                    kind: if prev.is_some() {
                        EventKind::Modified
                    } else {
                        EventKind::Added
                    },
                    revision,
                    object: entry,
                    prev,
                }
            }
            EventType::Delete => {
                let Some(prev) = st.objects.remove(key) else {
                    return;
                };
                // kube-apiserver: a deleted object is delivered in its last state
                // with the revision of the delete.
                let Some(entry) = prev.with_revision(self.strategy, revision) else {
                    return;
                };
                CacheEvent {
                    kind: EventKind::Deleted,
                    revision,
                    object: Arc::new(entry),
                    prev: Some(prev),
                }
            }
        };
        let event = Arc::new(event);
        st.last_revision = revision;
        st.events.push_back(event.clone());
        while st.events.len() > EVENT_WINDOW {
            if let Some(old) = st.events.pop_front() {
                st.window_start = old.revision;
            }
        }
        // No channel or no receivers is fine: nobody watches this resource
        // right now.
        if let Some(tx) = self.tx.get() {
            let _ = tx.send(event);
        }
    }
}

fn events_after(events: &VecDeque<Arc<CacheEvent>>, after: i64) -> Vec<Arc<CacheEvent>> {
    let start = events.partition_point(|e| e.revision <= after);
    events.range(start..).cloned().collect()
}

/// `encoded` in an allocation of its own length. The encoder grows its buffer
/// by doubling, so the buffer is up to twice the object (a 4.1 KiB pod sits
/// in 8 KiB), and the cache keeps every object for its lifetime; shrinking
/// in place does not help either, as the allocator keeps a block that is
/// still at least half used.
fn exact_bytes(encoded: Vec<u8>) -> Bytes {
    if encoded.len() == encoded.capacity() {
        Bytes::from(encoded)
    } else {
        Bytes::copy_from_slice(&encoded)
    }
}

/// Encoded bytes a resource's cache holds.
#[derive(Debug, Default, Clone, Copy)]
struct Footprint {
    objects: usize,
    object_bytes: usize,
    events: usize,
    window_bytes: usize,
}

/// How often the cache logs what it holds (at debug level).
const FOOTPRINT_PERIOD: Duration = Duration::from_secs(30);

/// All resource caches, fed by one store watch.
pub struct Cache {
    by_prefix: HashMap<String, Arc<ResourceCache>>,
    /// The strategies of the stored resources without a cache, by prefix.
    uncached: HashMap<String, &'static dyn Strategy>,
    revision: watch::Sender<i64>,
}

/// Where LIST and WATCH of a stored resource are served from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// The watch cache.
    Cache(&'a Arc<ResourceCache>),
    /// The store, as kube-apiserver serves a resource whose watch cache is
    /// disabled; the stored resource's strategy builds the items.
    Store(&'static dyn Strategy),
}

impl Cache {
    /// Loads every stored object and starts following the store.
    pub async fn start(
        store: DynStore,
        resources: &[&'static ResourceInfo],
    ) -> skiff_store::Result<Arc<Cache>> {
        let start = store.current_revision().await?;
        let mut by_prefix = HashMap::new();
        let mut uncached = HashMap::new();
        for info in resources {
            if watch_cache_disabled(info) {
                uncached.insert(
                    format!("{}/", crate::rest::storage_prefix(info)),
                    strategy::for_resource(info),
                );
                continue;
            }
            let cache = Arc::new(ResourceCache::new(info, start));
            by_prefix.insert(cache.prefix.clone(), cache);
        }
        let (revision, _) = watch::channel(start);
        let cache = Arc::new(Cache {
            by_prefix,
            uncached,
            revision,
        });

        // Load each cached prefix in pages at one revision, so the state is one
        // consistent snapshot and uncached objects are never read.
        for rc in cache.by_prefix.values() {
            let mut next: Option<String> = None;
            loop {
                let page = store
                    .range(RangeRequest {
                        prefix: rc.prefix.clone(),
                        start: next.clone(),
                        revision: Some(start),
                        limit: 10_000,
                    })
                    .await?;
                let mut st = rc.state.write().await;
                for kv in &page.kvs {
                    // A key under a nested prefix belongs to that resource.
                    let owned = cache
                        .resource_for_key(&kv.key)
                        .is_some_and(|owner| Arc::ptr_eq(owner, rc));
                    if owned && let Some(entry) = rc.entry(&kv.key, &kv.value, kv.mod_revision) {
                        st.objects.insert(kv.key.clone(), Arc::new(entry));
                    }
                }
                drop(st);
                match (page.more, page.kvs.last()) {
                    (true, Some(last)) => next = Some(format!("{}\0", last.key)),
                    _ => break,
                }
            }
        }

        if tracing::enabled!(tracing::Level::DEBUG) {
            tokio::spawn(log_footprint(Arc::downgrade(&cache)));
        }

        let mut events = store.watch("/registry/", start).await?;
        let feeder = cache.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.next().await {
                match ev {
                    Ok(ev) => feeder.ingest(ev.kind, &ev.kv).await,
                    // The store shut down with the process: nothing left to serve.
                    Err(skiff_store::Error::Closed) => return,
                    Err(err) => {
                        // The store's own watch cannot fall behind its history in
                        // practice; if it does, serving stale data would be worse
                        // than stopping.
                        tracing::error!(error = %err, "watch cache lost the store watch; exiting");
                        std::process::exit(1);
                    }
                }
            }
        });
        Ok(cache)
    }

    async fn ingest(&self, kind: EventType, kv: &KeyValue) {
        if let Some(rc) = self.resource_for_key(&kv.key) {
            rc.apply(kind, &kv.key, &kv.value, kv.mod_revision).await;
        }
        self.revision.send_replace(kv.mod_revision);
    }

    /// The cache of the resource a key belongs to.
    fn resource_for_key(&self, key: &str) -> Option<&Arc<ResourceCache>> {
        // Keys are <prefix>/<name> or <prefix>/<namespace>/<name>.
        let (head, _) = key.rsplit_once('/')?;
        if let Some(rc) = self.by_prefix.get(&format!("{head}/"))
            && !rc.info.namespaced
        {
            return Some(rc);
        }
        let (head, _) = head.rsplit_once('/')?;
        self.by_prefix
            .get(&format!("{head}/"))
            .filter(|rc| rc.info.namespaced)
    }

    /// The cache of a resource; `None` for a resource without one (not
    /// stored, or its cache disabled), whose objects the store answers for.
    pub fn resource(&self, info: &ResourceInfo) -> Option<&Arc<ResourceCache>> {
        self.by_prefix
            .get(&format!("{}/", crate::rest::storage_prefix(info)))
    }

    /// Where LIST and WATCH of `info` are served from; `None` for a resource
    /// that is not stored.
    pub fn source(&self, info: &ResourceInfo) -> Option<Source<'_>> {
        let prefix = format!("{}/", crate::rest::storage_prefix(info));
        if let Some(rc) = self.by_prefix.get(&prefix) {
            return Some(Source::Cache(rc));
        }
        self.uncached.get(&prefix).map(|s| Source::Store(*s))
    }

    /// The newest revision the cache has seen.
    pub fn revision(&self) -> i64 {
        *self.revision.borrow()
    }

    /// Waits until the cache has seen `revision`; false on timeout.
    pub async fn wait_for(&self, revision: i64, timeout: Duration) -> bool {
        let mut rx = self.revision.subscribe();
        let wait = rx.wait_for(|r| *r >= revision);
        matches!(tokio::time::timeout(timeout, wait).await, Ok(Ok(_)))
    }
}

/// Logs, per resource with objects, the objects and events held and the
/// bytes of their encoded JSON, until the cache is dropped: what the memory
/// of a large cluster is spent on (BENCHMARKS.md, density).
async fn log_footprint(cache: std::sync::Weak<Cache>) {
    loop {
        tokio::time::sleep(FOOTPRINT_PERIOD).await;
        let Some(cache) = cache.upgrade() else { return };
        let mut total = Footprint::default();
        for rc in cache.by_prefix.values() {
            let f = rc.footprint().await;
            if f.objects == 0 && f.events == 0 {
                continue;
            }
            tracing::debug!(
                resource = rc.info.resource,
                objects = f.objects,
                object_bytes = f.object_bytes,
                events = f.events,
                window_only_bytes = f.window_bytes,
                "watch cache footprint"
            );
            total.objects += f.objects;
            total.object_bytes += f.object_bytes;
            total.events += f.events;
            total.window_bytes += f.window_bytes;
        }
        tracing::debug!(
            objects = total.objects,
            object_bytes = total.object_bytes,
            events = total.events,
            window_only_bytes = total.window_bytes,
            "watch cache footprint, all resources"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configmaps() -> ResourceCache {
        let info = skiff_core::registry::lookup("", "v1", "configmaps")
            .expect("configmaps are a built-in resource");
        ResourceCache::new(info, 1)
    }

    fn configmap(name: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"},
        }))
        .expect("a JSON literal encodes")
    }

    #[test]
    fn labels_are_looked_up_by_key() {
        let labels: Labels = [("b", "2"), ("a", "1"), ("c", "3"), ("a", "4")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            labels.get("a").map(String::as_str),
            Some("4"),
            "the last value wins"
        );
        assert_eq!(labels.get("b").map(String::as_str), Some("2"));
        assert_eq!(labels.get("c").map(String::as_str), Some("3"));
        assert_eq!(labels.get("d"), None);
        assert_eq!(Labels::default().get("a"), None);
    }

    #[tokio::test]
    async fn cached_objects_keep_their_labels_and_encoding() {
        let rc = configmaps();
        let value = serde_json::to_vec(&serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "default", "labels": {"app": "web", "tier": "db"}},
            "data": {"k": "v".repeat(3000)},
        }))
        .expect("a JSON literal encodes");
        let entry = rc
            .entry("/registry/configmaps/default/a", &value, 7)
            .expect("a JSON object is cached");
        assert_eq!(entry.labels.get("tier").map(String::as_str), Some("db"));
        let obj = entry.value();
        assert_eq!(obj["metadata"]["resourceVersion"], "7");
        assert_eq!(obj["data"]["k"].as_str().map(str::len), Some(3000));
        assert!(obj.get("kind").is_none(), "list items carry no kind");
    }

    #[tokio::test]
    async fn live_channel_is_made_by_the_first_watcher() {
        let rc = configmaps();
        rc.apply(
            EventType::Put,
            "/registry/configmaps/default/a",
            &configmap("a"),
            2,
        )
        .await;
        assert!(rc.tx.get().is_none(), "no watcher, no channel");

        let (items, mut rx, rev) = rc.snapshot_and_subscribe("/registry/configmaps/").await;
        assert_eq!((items.len(), rev), (1, 2));
        rc.apply(
            EventType::Put,
            "/registry/configmaps/default/b",
            &configmap("b"),
            3,
        )
        .await;
        let ev = rx
            .try_recv()
            .expect("the event after the snapshot is delivered");
        assert_eq!(
            (ev.kind, ev.revision, ev.object.name.as_str()),
            (EventKind::Added, 3, "b")
        );

        // A second watcher resuming from the window shares the channel.
        let (replay, mut rx2) = rc.subscribe(2).await.expect("revision 2 is in the window");
        assert_eq!(replay.len(), 1);
        rc.apply(EventType::Delete, "/registry/configmaps/default/a", &[], 4)
            .await;
        for rx in [&mut rx, &mut rx2] {
            let ev = rx.try_recv().expect("both watchers get the delete");
            assert_eq!((ev.kind, ev.revision), (EventKind::Deleted, 4));
        }
    }

    /// Events are served from the store: loading and following the store
    /// builds no entry and keeps no window for them, and the revision still
    /// follows every write.
    #[tokio::test]
    async fn events_are_left_out_of_the_cache() {
        let lookup = |group, resource| {
            skiff_core::registry::lookup(group, "v1", resource).expect("a built-in resource")
        };
        let (configmaps, events, new_events) = (
            lookup("", "configmaps"),
            lookup("", "events"),
            lookup("events.k8s.io", "events"),
        );
        assert!(watch_cache_disabled(events) && watch_cache_disabled(new_events));
        assert!(!watch_cache_disabled(configmaps));

        let dir = tempfile::tempdir().expect("a temp dir");
        let store: DynStore = Arc::new(
            skiff_store::SqliteStore::open_default(dir.path().join("state.db"))
                .expect("the store opens"),
        );
        let event = |name: &str| {
            bytes::Bytes::from(
                serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"name": name, "namespace": "default"},
                    "reason": "Scheduled",
                })
                .to_string(),
            )
        };
        store
            .create("/registry/events/default/e1", event("e1"))
            .await
            .expect("create");
        store
            .create(
                "/registry/configmaps/default/a",
                bytes::Bytes::from(configmap("a")),
            )
            .await
            .expect("create");

        let cache = Cache::start(store.clone(), &[configmaps, events, new_events])
            .await
            .expect("the cache starts");
        assert!(cache.resource(events).is_none());
        assert!(matches!(cache.source(events), Some(Source::Store(_))));
        assert!(matches!(cache.source(new_events), Some(Source::Store(_))));
        let Some(Source::Cache(rc)) = cache.source(configmaps) else {
            panic!("configmaps are cached");
        };
        assert_eq!(rc.snapshot(&rc.prefix, 0).await.items.len(), 1);

        let written = store
            .create("/registry/events/default/e2", event("e2"))
            .await
            .expect("create");
        assert!(
            cache
                .wait_for(written.mod_revision, Duration::from_secs(10))
                .await,
            "an Event's write moves the cache's revision"
        );
        for rc in cache.by_prefix.values() {
            let st = rc.state.read().await;
            let held = st
                .objects
                .keys()
                .chain(st.events.iter().map(|e| &e.object.key));
            for key in held {
                assert!(!key.starts_with("/registry/events/"), "{key} is cached");
            }
        }
    }
}
