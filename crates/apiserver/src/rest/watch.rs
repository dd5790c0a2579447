//! WATCH: a chunked stream of JSON events from the watch cache (or, for a
//! revision older than the cache's window, from the store's history), filtered
//! by the request's selectors, with bookmarks, initial events and timeouts as
//! kube-apiserver's cacher serves them. A resource without a watch cache
//! (Events) is watched on the store itself, as kube-apiserver's etcd3 watcher
//! serves it: its initial events are a paged read of the store, its changes
//! the store's watch of the prefix, which keeps no objects in memory.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use skiff_core::registry::ResourceInfo;
use skiff_core::{Status, conversion};
use tokio::sync::{broadcast, mpsc};

use super::list::Filter;
use super::{Ctx, Result, parse_rv, wait_fresh};
use crate::cache::{CacheEvent, Entry, EventKind, ResourceCache, Source};
use crate::encoding::{Accept, Body};
use crate::strategy::Strategy;

/// How often an idle watch gets a bookmark when it asked for them.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// Everything the stream task needs, owned.
struct Watcher {
    filter: Filter,
    tx: mpsc::Sender<Bytes>,
    kind: &'static str,
    api_version: String,
    /// `{"kind":"..","apiVersion":".."`, the start of every object sent.
    type_meta: String,
    accept: Accept,
    table_ctx: TableCtx,
    /// The resource of the request when its objects are stored in another
    /// version: each event's object converts before it is sent.
    converted: Option<&'static ResourceInfo>,
    /// The cached resource's strategy, to restamp an object leaving the selection.
    strategy: &'static dyn Strategy,
    /// Leave `metadata.managedFields` out (an in-process client asked).
    omit_managed_fields: bool,
    last_revision: i64,
}

/// What table rendering needs, owned so the task can outlive the request.
#[derive(Clone)]
struct TableCtx {
    group: &'static str,
    resource: &'static str,
    include: String,
}

impl Watcher {
    /// Sends one event; false when the client is gone.
    async fn send(&mut self, kind: &str, entry: &Entry, revision: i64) -> bool {
        self.last_revision = self.last_revision.max(revision);
        let bytes = match self.accept {
            Accept::Table => {
                // Cells come from the stored object (see `list::table_for`).
                let stored = self.value(entry);
                let table = match self.converted {
                    Some(info) => {
                        self.table(&stored, &conversion::from_storage(info, stored.clone()))
                    }
                    None => self.table(&stored, &stored),
                };
                encode_event(kind, &serde_json::to_vec(&table).unwrap_or_default())
            }
            Accept::Metadata if self.converted.is_none() => {
                // The garbage collector watches every resource this way:
                // the cached metadata bytes, not a decoded object.
                let (head, tail) = entry.metadata_parts(self.omit_managed_fields);
                frame_event(kind, &[PARTIAL_METADATA_PREFIX, head, tail, b"}"])
            }
            Accept::Metadata => {
                let obj = match self.converted {
                    Some(info) => conversion::from_storage(info, self.value(entry)),
                    None => self.value(entry),
                };
                let pm = super::partial_metadata(&obj);
                encode_event(kind, &serde_json::to_vec(&pm).unwrap_or_default())
            }
            _ if self.converted.is_some() => {
                let mut obj = serde_json::Map::new();
                obj.insert("kind".into(), json!(self.kind));
                obj.insert("apiVersion".into(), json!(self.api_version));
                if let (Some(info), Value::Object(rest)) = (self.converted, self.value(entry))
                    && let Value::Object(converted) =
                        conversion::from_storage(info, Value::Object(rest))
                {
                    obj.extend(converted);
                }
                encode_event(kind, &serde_json::to_vec(&obj).unwrap_or_default())
            }
            _ => {
                // `{"kind":..,"apiVersion":..,` + the encoded item without its `{`.
                let (head, tail) = entry.item_parts(self.omit_managed_fields);
                let comma: &[u8] = if head.len() + tail.len() > 2 {
                    b","
                } else {
                    b""
                };
                let body = head.get(1..).unwrap_or_default();
                frame_event(kind, &[self.type_meta.as_bytes(), comma, body, tail])
            }
        };
        self.tx.send(bytes).await.is_ok()
    }

    /// The object of an entry as JSON, as this watcher serves it.
    fn value(&self, entry: &Entry) -> Value {
        let mut obj = entry.value();
        if self.omit_managed_fields {
            skiff_core::meta::remove_meta(&mut obj, "managedFields");
        }
        obj
    }

    /// A Table of one object: cells from its stored form, the row's object
    /// in the request's version.
    fn table(&self, stored: &Value, obj: &Value) -> Value {
        let now = time::OffsetDateTime::now_utc();
        let cells =
            skiff_core::table::cells(self.table_ctx.group, self.table_ctx.resource, stored, now);
        let mut row = json!({"cells": cells});
        match self.table_ctx.include.as_str() {
            "None" => {}
            "Object" => {
                let mut full = obj.clone();
                if let Some(m) = full.as_object_mut() {
                    m.insert("kind".into(), json!(self.kind));
                    m.insert("apiVersion".into(), json!(self.api_version));
                }
                row["object"] = full;
            }
            _ => row["object"] = super::partial_metadata(obj),
        }
        let columns =
            super::list::column_definitions(self.table_ctx.group, self.table_ctx.resource);
        json!({
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": meta_rv(obj)},
            "columnDefinitions": columns,
            "rows": [row],
        })
    }

    async fn bookmark(&mut self, revision: i64, initial_end: bool) -> bool {
        let mut md = json!({"resourceVersion": revision.to_string()});
        if initial_end {
            md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.kind, "apiVersion": self.api_version, "metadata": md});
        let bytes = encode_event("BOOKMARK", &serde_json::to_vec(&obj).unwrap_or_default());
        self.tx.send(bytes).await.is_ok()
    }

    async fn error(&mut self, status: &Status) {
        let bytes = encode_event(
            "ERROR",
            &serde_json::to_vec(&status.to_json()).unwrap_or_default(),
        );
        let _ = self.tx.send(bytes).await;
    }

    /// Delivers one cache event as the selectors see it: an object entering the
    /// selection is ADDED, leaving it is DELETED (with the event's revision).
    async fn deliver(&mut self, ev: &CacheEvent) -> bool {
        if ev.revision <= self.last_revision {
            return true;
        }
        let cur = self.filter.matches(&ev.object);
        let prev = ev.prev.as_ref().is_some_and(|p| self.filter.matches(p));
        match ev.kind {
            EventKind::Added if cur => self.send("ADDED", &ev.object, ev.revision).await,
            EventKind::Deleted if cur || prev => {
                self.send("DELETED", &ev.object, ev.revision).await
            }
            EventKind::Modified => match (prev, cur) {
                (true, true) => self.send("MODIFIED", &ev.object, ev.revision).await,
                (false, true) => self.send("ADDED", &ev.object, ev.revision).await,
                (true, false) => {
                    let Some(gone) = ev
                        .prev
                        .as_ref()
                        .and_then(|p| p.with_revision(self.strategy, ev.revision))
                    else {
                        return true;
                    };
                    self.send("DELETED", &gone, ev.revision).await
                }
                (false, false) => {
                    self.last_revision = ev.revision;
                    true
                }
            },
            _ => {
                self.last_revision = ev.revision;
                true
            }
        }
    }
}

fn meta_rv(obj: &Value) -> String {
    skiff_core::meta::resource_version(obj).to_string()
}

/// How an object of `metadata` only begins (`rest::partial_metadata`).
pub(super) const PARTIAL_METADATA_PREFIX: &[u8] =
    br#"{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":"#;

/// A watch event line whose object is `parts` joined: one allocation, one
/// copy of each part.
fn frame_event(kind: &str, parts: &[&[u8]]) -> Bytes {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + kind.len() + 24);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    for part in parts {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

fn encode_event(kind: &str, object: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// Where a watch starts.
enum Start {
    /// Synthetic ADDED events for the current state, then changes.
    Initial { bookmark_after: bool },
    /// Changes after this revision.
    After(i64),
}

/// Where the client asked a watch to start, before the source resolves it.
#[derive(Debug, PartialEq, Eq)]
enum Requested {
    /// ADDED events for the state at `at`, then changes; with
    /// `sendInitialEvents=true`, a bookmark marks the end of the former.
    Initial { bookmark_after: bool, at: Freshness },
    /// Changes after this revision.
    After(i64),
    /// Changes from the current revision on.
    Now,
}

/// How recent the initial state of a watch must be.
#[derive(Debug, PartialEq, Eq)]
enum Freshness {
    /// Any state (`resourceVersion=0`).
    Any,
    /// The latest (no `resourceVersion`): a consistent read.
    Latest,
    /// At least this revision.
    AtLeast(i64),
}

/// The start the request's `sendInitialEvents` and `resourceVersion` ask
/// for: unset or `"0"` begins with the current state (legacy), as does
/// `sendInitialEvents=true` (a streaming list); `sendInitialEvents=false`
/// without a revision begins at the current one (etcd3 watcher's
/// `getStartWatchResourceVersion`).
fn requested_start(send_initial: Option<&str>, rv: Option<&str>) -> Result<Requested> {
    let freshness = |rv: Option<&str>| -> Result<Freshness> {
        Ok(match rv {
            None => Freshness::Latest,
            Some("0") => Freshness::Any,
            Some(r) => Freshness::AtLeast(parse_rv(r)?),
        })
    };
    Ok(match (send_initial, rv) {
        (Some("true"), rv) => Requested::Initial {
            bookmark_after: true,
            at: freshness(rv)?,
        },
        (Some(_), Some(r)) if r != "0" => Requested::After(parse_rv(r)?),
        (Some(_), _) => Requested::Now,
        (None, None | Some("0")) => Requested::Initial {
            bookmark_after: false,
            at: freshness(rv)?,
        },
        (None, Some(r)) => Requested::After(parse_rv(r)?),
    })
}

pub async fn watch(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let filter = super::list::Filter::parse(ctx)?;
    let rv = ctx.query.get("resourceVersion").filter(|r| !r.is_empty());
    let send_initial = ctx.query.get("sendInitialEvents");
    let bookmarks = ctx.query.flag("allowWatchBookmarks");
    if send_initial.is_some() {
        // ValidateListOptions with the WatchList feature on (beta, default on).
        let mut errs = Vec::new();
        if ctx.query.get("resourceVersionMatch") != Some("NotOlderThan") {
            errs.push(skiff_core::status::FieldError::forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !bookmarks {
            errs.push(skiff_core::status::FieldError::forbidden(
                "allowWatchBookmarks",
                "allowWatchBookmarks required when sendInitialEvents is set",
            ));
        }
        if !errs.is_empty() {
            return Err(Status::invalid(
                "ListOptions.meta.k8s.io",
                "meta.k8s.io",
                "",
                &errs,
            ));
        }
    }
    let requested = requested_start(send_initial, rv)?;
    let timeout = match ctx.query.get("timeoutSeconds") {
        Some(t) => Duration::from_secs(
            t.parse::<u64>()
                .map_err(|_| Status::bad_request(format!("invalid timeoutSeconds: {t:?}")))?,
        ),
        // kube-apiserver: a random time between minRequestTimeout (1800 s) and twice it.
        None => Duration::from_secs(1800 + rand::random::<u64>() % 1800),
    };
    let Some(source) = ctx.server.cache.source(ctx.info) else {
        return Err(Status::internal(format!("no cache for {}", ctx.gr())));
    };
    let strategy = match source {
        Source::Cache(cache) => cache.strategy(),
        Source::Store(strategy) => strategy,
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let api_version = skiff_core::meta::api_version(ctx.info.group, ctx.info.version);
    let mut watcher = Watcher {
        filter,
        tx,
        kind: ctx.info.kind,
        type_meta: format!(
            "{{\"kind\":\"{}\",\"apiVersion\":\"{api_version}\"",
            ctx.info.kind
        ),
        api_version,
        accept: ctx.accept,
        converted: ctx.is_converted().then_some(ctx.info),
        strategy,
        omit_managed_fields: ctx.omit_managed_fields,
        table_ctx: TableCtx {
            group: super::list::printer_group(ctx.info),
            resource: ctx.info.resource,
            include: ctx
                .query
                .get("includeObject")
                .unwrap_or("Metadata")
                .to_string(),
        },
        last_revision: 0,
    };
    let prefix = ctx.list_prefix();
    let store = ctx.server.store.clone();
    let run = match source {
        Source::Cache(cache) => {
            let cache = cache.clone();
            // The initial state must be consistent: wait for the cache to be fresh.
            let (start, initial_rev) = match requested {
                Requested::Initial { bookmark_after, at } => {
                    let rev = match at {
                        Freshness::Any => ctx.server.cache.revision(),
                        Freshness::Latest => wait_fresh(ctx, None).await?,
                        Freshness::AtLeast(r) => wait_fresh(ctx, Some(r)).await?,
                    };
                    (Start::Initial { bookmark_after }, Some(rev))
                }
                Requested::After(r) => {
                    // A revision the store has not reached yet waits, as upstream.
                    if r > ctx.server.cache.revision() {
                        wait_fresh(ctx, Some(r)).await?;
                    }
                    (Start::After(r), None)
                }
                Requested::Now => (Start::After(wait_fresh(ctx, None).await?), None),
            };
            async move {
                run_watch(
                    &mut watcher,
                    &cache,
                    store,
                    &prefix,
                    start,
                    initial_rev,
                    bookmarks,
                )
                .await;
            }
            .boxed()
        }
        Source::Store(_) => {
            // etcd3's watcher: nothing to wait for but the store. A revision
            // it has not reached yet is simply watched from.
            let current = || async {
                ctx.server
                    .store
                    .current_revision()
                    .await
                    .map_err(|e| super::store_err(ctx, "", e))
            };
            let start = match requested {
                Requested::Initial { bookmark_after, at } => {
                    if let Freshness::AtLeast(r) = at {
                        let current = current().await?;
                        if r > current {
                            return Err(super::too_large_resource_version(r, current));
                        }
                    }
                    Start::Initial { bookmark_after }
                }
                Requested::After(r) => Start::After(r),
                Requested::Now => Start::After(current().await?),
            };
            async move {
                run_store_watch(&mut watcher, store, &prefix, start, bookmarks).await;
            }
            .boxed()
        }
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(timeout, run).await;
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
        .map(|b| Ok::<_, std::convert::Infallible>(Frame::data(b)));
    let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
    *resp.status_mut() = StatusCode::OK;
    let ct = if ctx.accept == Accept::Table {
        "application/json;as=Table;v=v1;g=meta.k8s.io"
    } else {
        "application/json"
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp.headers_mut().insert(
        header::TRANSFER_ENCODING,
        HeaderValue::from_static("chunked"),
    );
    Ok(resp)
}

async fn run_watch(
    w: &mut Watcher,
    cache: &Arc<ResourceCache>,
    store: skiff_store::DynStore,
    prefix: &str,
    start: Start,
    initial_rev: Option<i64>,
    bookmarks: bool,
) {
    let (replay, mut rx, mut last) = match start {
        Start::Initial { bookmark_after } => {
            let (items, rx, at) = cache.snapshot_and_subscribe(prefix).await;
            // The snapshot is at least as new as what the request waited for.
            let rev = at.max(initial_rev.unwrap_or(0));
            for e in &items {
                if w.filter.matches(e) && !w.send("ADDED", e, 0).await {
                    return;
                }
            }
            w.last_revision = rev;
            if bookmark_after && !w.bookmark(rev, true).await {
                return;
            }
            (Vec::new(), rx, rev)
        }
        Start::After(after) => match cache.subscribe(after).await {
            Some((replay, rx)) => {
                w.last_revision = after;
                (replay, rx, after)
            }
            None => {
                // Older than the cache's window: replay the store's history.
                w.last_revision = after;
                if !replay_from_store(w, cache, &store, prefix, after).await {
                    return;
                }
                let last = w.last_revision;
                match cache.subscribe(last).await {
                    Some((replay, rx)) => (replay, rx, last),
                    None => return,
                }
            }
        },
    };
    for ev in replay {
        if in_scope(&ev, prefix) && !w.deliver(&ev).await {
            return;
        }
        last = ev.revision;
    }
    let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
    ticker.tick().await;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                // After a catch-up from the window the channel still holds
                // events the watcher has already had.
                Ok(ev) if ev.revision <= last => {}
                Ok(ev) => {
                    if in_scope(&ev, prefix) && !w.deliver(&ev).await {
                        return;
                    }
                    last = ev.revision;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Fell behind the live channel: catch up from the window, or
                    // end with Expired so the client relists.
                    match cache.replay(last).await {
                        Some(events) => {
                            for ev in events {
                                if in_scope(&ev, prefix) && !w.deliver(&ev).await {
                                    return;
                                }
                                last = ev.revision;
                            }
                        }
                        None => {
                            w.error(&Status::expired(last, cache.window_start().await)).await;
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticker.tick() => {
                if bookmarks && !w.bookmark(w.last_revision.max(last), false).await {
                    return;
                }
            }
            _ = w.tx.closed() => return,
        }
    }
}

fn in_scope(ev: &CacheEvent, prefix: &str) -> bool {
    ev.object.key.starts_with(prefix)
}

/// Replays events after `after` from the store's history up to the cache's
/// window. False when the stream must end (compacted, or client gone).
async fn replay_from_store(
    w: &mut Watcher,
    cache: &Arc<ResourceCache>,
    store: &skiff_store::DynStore,
    prefix: &str,
    after: i64,
) -> bool {
    let window = cache.window_start().await;
    let mut events = match store.watch(prefix, after).await {
        Ok(s) => s,
        Err(skiff_store::Error::Compacted { compacted, .. }) => {
            w.error(&Status::expired(after, compacted)).await;
            return false;
        }
        Err(e) => {
            w.error(&Status::internal(e)).await;
            return false;
        }
    };
    while let Some(ev) = events.next().await {
        let Ok(ev) = ev else {
            w.error(&Status::expired(after, window)).await;
            return false;
        };
        let revision = ev.revision();
        if let Some(cev) = store_event(cache.strategy(), &ev)
            && !w.deliver(&cev).await
        {
            return false;
        }
        w.last_revision = revision;
        if revision >= window {
            return true;
        }
    }
    true
}

/// A store event as the cache records it: a delete carries the last state
/// restamped with the delete's revision, and the previous state lets the
/// selectors see an object enter or leave. `None` for a value that is not a
/// JSON object.
fn store_event(strategy: &dyn Strategy, ev: &skiff_store::Event) -> Option<CacheEvent> {
    let revision = ev.revision();
    let object = match ev.kind {
        skiff_store::EventType::Put => Entry::build(strategy, &ev.kv.key, &ev.kv.value, revision),
        skiff_store::EventType::Delete => ev
            .prev
            .as_ref()
            .and_then(|p| Entry::build(strategy, &p.key, &p.value, revision)),
    }?;
    let prev = ev
        .prev
        .as_ref()
        .and_then(|p| Entry::build(strategy, &p.key, &p.value, p.mod_revision));
    let kind = match ev.kind {
        skiff_store::EventType::Delete => EventKind::Deleted,
        _ if prev.is_some() => EventKind::Modified,
        _ => EventKind::Added,
    };
    Some(CacheEvent {
        kind,
        revision,
        object: Arc::new(object),
        prev: prev.map(Arc::new),
    })
}

/// Objects per store read of a watch's initial state (etcd3 watcher's
/// `defaultWatcherMaxLimit`).
const INITIAL_PAGE: usize = 500;

/// A watch of a resource without a watch cache, on the store: the initial
/// state read in pages at one revision, then the store's watch of the prefix
/// from that revision (or from the one asked), each change built into an
/// item only for this watcher and dropped once sent.
async fn run_store_watch(
    w: &mut Watcher,
    store: skiff_store::DynStore,
    prefix: &str,
    start: Start,
    bookmarks: bool,
) {
    let after = match start {
        Start::Initial { bookmark_after } => {
            let Some(rev) = send_initial_from_store(w, &store, prefix).await else {
                return;
            };
            w.last_revision = rev;
            if bookmark_after && !w.bookmark(rev, true).await {
                return;
            }
            rev
        }
        Start::After(after) => {
            w.last_revision = after;
            after
        }
    };
    let mut events = match store.watch(prefix, after).await {
        Ok(s) => s,
        Err(skiff_store::Error::Compacted { compacted, .. }) => {
            w.error(&Status::expired(after, compacted)).await;
            return;
        }
        Err(e) => {
            w.error(&Status::internal(e)).await;
            return;
        }
    };
    let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
    ticker.tick().await;
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => {
                    let revision = ev.revision();
                    if let Some(cev) = store_event(w.strategy, &ev)
                        && !w.deliver(&cev).await
                    {
                        return;
                    }
                    w.last_revision = w.last_revision.max(revision);
                }
                // Fell behind the store's history while the client read slowly:
                // end with Expired so the client relists.
                Some(Err(skiff_store::Error::Compacted { compacted, .. })) => {
                    w.error(&Status::expired(w.last_revision, compacted)).await;
                    return;
                }
                // The store shut down with the process.
                None | Some(Err(skiff_store::Error::Closed)) => return,
                Some(Err(e)) => {
                    w.error(&Status::internal(e)).await;
                    return;
                }
            },
            _ = ticker.tick() => {
                if bookmarks && !w.bookmark(w.last_revision, false).await {
                    return;
                }
            }
            _ = w.tx.closed() => return,
        }
    }
}

/// Sends the objects under `prefix` at the latest revision as ADDED, read in
/// pages at that one revision; the revision, or `None` when the stream must
/// end (an error was sent, or the client is gone).
async fn send_initial_from_store(
    w: &mut Watcher,
    store: &skiff_store::DynStore,
    prefix: &str,
) -> Option<i64> {
    let mut revision = None;
    let mut start: Option<String> = None;
    loop {
        let page = match store
            .range(skiff_store::RangeRequest {
                prefix: prefix.to_string(),
                start: start.take(),
                revision,
                limit: INITIAL_PAGE,
            })
            .await
        {
            Ok(page) => page,
            Err(skiff_store::Error::Compacted {
                requested,
                compacted,
            }) => {
                w.error(&Status::expired(requested, compacted)).await;
                return None;
            }
            Err(e) => {
                w.error(&Status::internal(e)).await;
                return None;
            }
        };
        revision = Some(page.revision);
        for kv in &page.kvs {
            if let Some(e) = Entry::build(w.strategy, &kv.key, &kv.value, kv.mod_revision)
                && w.filter.matches(&e)
                && !w.send("ADDED", &e, 0).await
            {
                return None;
            }
        }
        match page.kvs.last() {
            Some(last) if page.more => start = Some(format!("{}\0", last.key)),
            _ => return Some(page.revision),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_start_where_the_request_asks() {
        use Freshness::*;
        use Requested::*;
        let initial = |bookmark_after, at| Initial { bookmark_after, at };
        let cases = [
            // Legacy: unset and "0" begin with the current state.
            (None, None, initial(false, Latest)),
            (None, Some("0"), initial(false, Any)),
            (None, Some("42"), After(42)),
            // A streaming list: initial events, then the end bookmark.
            (Some("true"), None, initial(true, Latest)),
            (Some("true"), Some("0"), initial(true, Any)),
            (Some("true"), Some("42"), initial(true, AtLeast(42))),
            // sendInitialEvents=false: changes only, from now unless a
            // revision is given.
            (Some("false"), None, Now),
            (Some("false"), Some("0"), Now),
            (Some("false"), Some("42"), After(42)),
        ];
        for (send_initial, rv, want) in cases {
            let got = requested_start(send_initial, rv).expect("a valid request");
            assert_eq!(got, want, "sendInitialEvents {send_initial:?} rv {rv:?}");
        }
        let err = requested_start(None, Some("-1")).expect_err("not a revision");
        assert_eq!(err.code, 400);
    }

    fn kv(name: &str, value: Option<&str>, revision: i64) -> skiff_store::KeyValue {
        let body = value.map(|v| {
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": "default"},
                "reason": v,
            })
            .to_string()
        });
        skiff_store::KeyValue {
            key: format!("/registry/events/default/{name}"),
            value: body.map(Bytes::from).unwrap_or_default(),
            create_revision: 1,
            mod_revision: revision,
            version: 1,
        }
    }

    /// A store event becomes what the cache would have recorded, so that one
    /// `deliver` serves both sources.
    #[test]
    fn store_events_read_as_cache_events() {
        let strategy = crate::strategy::for_resource(
            skiff_core::registry::lookup("", "v1", "events").expect("events are built in"),
        );
        let created = skiff_store::Event {
            kind: skiff_store::EventType::Put,
            kv: kv("a", Some("Scheduled"), 5),
            prev: None,
        };
        let ev = store_event(strategy, &created).expect("an object");
        assert_eq!((ev.kind, ev.revision), (EventKind::Added, 5));
        assert_eq!(ev.object.field("reason").as_deref(), Some("Scheduled"));
        assert_eq!(ev.object.value()["metadata"]["resourceVersion"], "5");

        let modified = skiff_store::Event {
            kind: skiff_store::EventType::Put,
            kv: kv("a", Some("Pulled"), 6),
            prev: Some(kv("a", Some("Scheduled"), 5)),
        };
        let ev = store_event(strategy, &modified).expect("an object");
        assert_eq!(ev.kind, EventKind::Modified);
        let prev = ev.prev.as_ref().expect("the previous state");
        assert_eq!(prev.field("reason").as_deref(), Some("Scheduled"));

        // A delete carries the last state with the delete's revision.
        let deleted = skiff_store::Event {
            kind: skiff_store::EventType::Delete,
            kv: kv("a", None, 7),
            prev: Some(kv("a", Some("Pulled"), 6)),
        };
        let ev = store_event(strategy, &deleted).expect("an object");
        assert_eq!((ev.kind, ev.revision), (EventKind::Deleted, 7));
        assert_eq!(ev.object.field("reason").as_deref(), Some("Pulled"));
        assert_eq!(ev.object.value()["metadata"]["resourceVersion"], "7");

        // Bytes that are no object are skipped, not served broken.
        let broken = skiff_store::Event {
            kind: skiff_store::EventType::Put,
            kv: skiff_store::KeyValue {
                value: Bytes::from_static(b"[1]"),
                ..kv("b", None, 8)
            },
            prev: None,
        };
        assert!(store_event(strategy, &broken).is_none());
    }
}
