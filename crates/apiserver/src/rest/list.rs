//! LIST: from the watch cache, or from the store for paginated and exact reads
//! and for resources without a cache (Events), with label and field selectors
//! and upstream's continue tokens.

use std::sync::Arc;

use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use http::{Response, StatusCode};
use serde_json::{Value, json};
use skiff_core::{Status, fields, labels, table};
use skiff_store::RangeRequest;

use super::{Ctx, Result, parse_rv, wait_fresh};
use crate::cache::{Entry, Source};
use crate::encoding::{self, Accept, Body};
use crate::strategy::Strategy;

/// Selectors of a list or watch request.
pub(crate) struct Filter {
    pub labels: labels::Selector,
    pub fields: fields::Selector,
}

impl Filter {
    pub fn parse(ctx: &Ctx<'_>) -> Result<Filter> {
        let labels = labels::Selector::parse(ctx.query.get("labelSelector").unwrap_or(""))
            .map_err(|e| Status::bad_request(e.to_string()))?;
        let fields = fields::Selector::parse(ctx.query.get("fieldSelector").unwrap_or(""))
            .map_err(|e| Status::bad_request(e.to_string()))?;
        // A version stored as another names some fields differently: check
        // the request's labels, then select by the storage version's.
        if let Some(mapping) = skiff_core::conversion::field_labels(ctx.info) {
            let allowed: Vec<&str> = mapping.iter().map(|(label, _)| *label).collect();
            fields
                .check_supported(&allowed)
                .map_err(|e| Status::bad_request(e.to_string()))?;
            let fields = fields
                .transform(|label, value| {
                    let stored = mapping
                        .iter()
                        .find(|(l, _)| *l == label)
                        .map_or(label, |(_, s)| *s);
                    Ok((stored.to_string(), value.to_string()))
                })
                .map_err(|e| Status::bad_request(e.to_string()))?;
            return Ok(Filter { labels, fields });
        }
        let allowed = ctx.strategy.field_labels();
        let checked = if allowed.is_empty() {
            fields.check_default_fields()
        } else {
            let mut all = vec!["metadata.name", "metadata.namespace"];
            all.extend_from_slice(allowed);
            fields.check_supported(&all)
        };
        checked.map_err(|e| Status::bad_request(e.to_string()))?;
        Ok(Filter { labels, fields })
    }

    pub fn matches(&self, e: &Entry) -> bool {
        (self.labels.is_empty()
            || self
                .labels
                .matches_with(|k| e.labels.get(k).map(String::as_str)))
            && (self.fields.is_empty() || self.fields.matches(|f: &str| e.field(f)))
    }
}

/// The selected objects at one revision.
pub(crate) struct Selected {
    pub revision: i64,
    pub items: Vec<Arc<Entry>>,
    pub continue_token: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: i64,
    start: String,
}

fn encode_continue(rv: i64, start: &str) -> String {
    let t = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: start.to_string(),
    };
    base64::engine::general_purpose::URL_SAFE.encode(serde_json::to_vec(&t).unwrap_or_default())
}

fn decode_continue(token: &str) -> Result<ContinueToken> {
    let bad = || {
        Status::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token))
        .map_err(|_| Status::bad_request("continue key is not valid: illegal base64 data"))?;
    let t: ContinueToken = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if t.v != "meta.k8s.io/v1" || t.rv <= 0 {
        return Err(bad());
    }
    Ok(t)
}

/// Selects objects as the list semantics of the request say.
pub(crate) async fn select(ctx: &Ctx<'_>) -> Result<Selected> {
    let filter = Filter::parse(ctx)?;
    let limit: usize = match ctx.query.get("limit") {
        None | Some("") => 0,
        Some(l) => l
            .parse::<i64>()
            .map(|n| n.max(0) as usize)
            .map_err(|_| Status::bad_request(format!("invalid limit: {l:?}")))?,
    };
    let cont = ctx.query.get("continue").filter(|c| !c.is_empty());
    let rv = ctx.query.get("resourceVersion").filter(|r| !r.is_empty());
    let rv_match = ctx
        .query
        .get("resourceVersionMatch")
        .filter(|r| !r.is_empty());
    if let Some(m) = rv_match {
        if m != "NotOlderThan" && m != "Exact" {
            return Err(Status::bad_request(format!(
                "resourceVersionMatch: Unsupported value: {m:?}: supported values: \"Exact\", \"NotOlderThan\""
            )));
        }
        if rv.is_none() {
            return Err(Status::bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
    }
    if cont.is_some() && rv.is_some_and(|r| r != "0") {
        return Err(Status::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    let prefix = ctx.list_prefix();
    let cache = match ctx.server.cache.source(ctx.info) {
        Some(Source::Cache(cache)) => cache,
        Some(Source::Store(strategy)) => {
            let cont = cont.map(decode_continue).transpose()?;
            let read = store_read(rv, rv_match, limit, cont)?;
            let start = read.start.map(|s| format!("{prefix}{s}"));
            let selected =
                select_from_store(ctx, strategy, &filter, &prefix, read.revision, start, limit)
                    .await?;
            // etcd3's validateMinimumResourceVersion: the latest revision must
            // be at least the one asked for, at once (nothing to wait for).
            if let Some(at_least) = read.at_least
                && at_least > selected.revision
            {
                return Err(super::too_large_resource_version(
                    at_least,
                    selected.revision,
                ));
            }
            return Ok(selected);
        }
        None => return Err(Status::internal(format!("no cache for {}", ctx.gr()))),
    };

    // Served from the store: pages, continuations and exact revisions. A
    // `resourceVersion` other than 0 with a limit and no match is the legacy
    // form of `Exact` (the cacher's `ShouldDelegateList`).
    let legacy_exact = rv_match.is_none() && limit > 0 && rv.is_some_and(|r| r != "0");
    let exact = rv_match == Some("Exact") || legacy_exact;
    if cont.is_some() || exact || (limit > 0 && rv.is_none_or(|r| r != "0")) {
        let (revision, start) = match cont {
            Some(token) => {
                let t = decode_continue(token)?;
                (Some(t.rv), Some(format!("{prefix}{}", t.start)))
            }
            None if exact => (Some(parse_rv(rv.unwrap_or("0"))?), None),
            None => (None, None),
        };
        let strategy = cache.strategy();
        return select_from_store(ctx, strategy, &filter, &prefix, revision, start, limit).await;
    }

    // Served from the cache: consistent unless the client accepts any state.
    let revision = match rv {
        Some("0") => ctx.server.cache.revision(),
        Some(r) => wait_fresh(ctx, Some(parse_rv(r)?)).await?,
        None => wait_fresh(ctx, None).await?,
    };
    let snapshot = cache.snapshot(&prefix, revision).await;
    let items = snapshot
        .items
        .into_iter()
        .filter(|e| filter.matches(e))
        .collect();
    Ok(Selected {
        revision,
        items,
        continue_token: None,
    })
}

/// How a LIST of a resource without a watch cache reads the store.
#[derive(Debug, PartialEq, Eq)]
struct StoreRead {
    /// The revision to read at; `None` is the latest.
    revision: Option<i64>,
    /// Where to start, after the list prefix (a continue token's key).
    start: Option<String>,
    /// The revision the latest state must have reached.
    at_least: Option<i64>,
}

/// The read of a LIST served by the store, as etcd3's `ValidateListOptions`
/// decides it from the request (already checked by [`select`]): a
/// continuation reads at its token's revision; `Exact`, and a legacy
/// `resourceVersion` with a limit, read at that revision; anything else reads
/// the latest state, which must not be older than the `resourceVersion`.
fn store_read(
    rv: Option<&str>,
    rv_match: Option<&str>,
    limit: usize,
    cont: Option<ContinueToken>,
) -> Result<StoreRead> {
    if let Some(t) = cont {
        return Ok(StoreRead {
            revision: Some(t.rv),
            start: Some(t.start),
            at_least: None,
        });
    }
    let latest = StoreRead {
        revision: None,
        start: None,
        at_least: None,
    };
    let Some(rv) = rv else {
        return Ok(latest);
    };
    let n = parse_rv(rv)?;
    let at = |revision| StoreRead {
        revision: Some(revision),
        start: None,
        at_least: None,
    };
    Ok(match rv_match {
        Some("Exact") => at(n),
        None if limit > 0 && n > 0 => at(n),
        _ => StoreRead {
            at_least: Some(n),
            ..latest
        },
    })
}

/// Selects from the store at `revision` (the latest if `None`), from `start`
/// on, at most `limit` items (0: all); `strategy` is the stored resource's.
async fn select_from_store(
    ctx: &Ctx<'_>,
    strategy: &'static dyn Strategy,
    filter: &Filter,
    prefix: &str,
    revision: Option<i64>,
    mut start: Option<String>,
    limit: usize,
) -> Result<Selected> {
    let store = &ctx.server.store;
    let mut revision = revision;
    let mut items = Vec::new();
    let filtering = !filter.labels.is_empty() || !filter.fields.is_empty();
    // The last key examined, across pages: a continue token resumes after it.
    let mut last_key: Option<String> = None;
    loop {
        // With a selector, read ahead in larger pages and filter, as upstream does.
        let page_limit = if limit == 0 {
            0
        } else if filtering {
            limit.max(100)
        } else {
            limit + 1
        };
        let page = store
            .range(RangeRequest {
                prefix: prefix.to_string(),
                start: start.clone(),
                revision,
                limit: page_limit,
            })
            .await
            .map_err(|e| match e {
                skiff_store::Error::Compacted { .. } if start.is_some() => Status::gone_expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ),
                other => super::store_err(ctx, "", other),
            })?;
        revision = Some(page.revision);
        for kv in &page.kvs {
            if limit > 0 && items.len() == limit {
                // One more item exists after a full page: continue from it.
                let token_start = last_key
                    .as_deref()
                    .map(|k: &str| k.strip_prefix(prefix).unwrap_or(k).to_string() + "\0");
                return Ok(Selected {
                    revision: page.revision,
                    items,
                    continue_token: token_start.map(|s| encode_continue(page.revision, &s)),
                });
            }
            last_key = Some(kv.key.clone());
            if let Some(e) = Entry::build(strategy, &kv.key, &kv.value, kv.mod_revision)
                && filter.matches(&e)
            {
                items.push(Arc::new(e));
            }
        }
        if !page.more {
            return Ok(Selected {
                revision: page.revision,
                items,
                continue_token: None,
            });
        }
        match &last_key {
            Some(k) => start = Some(format!("{k}\0")),
            None => {
                return Ok(Selected {
                    revision: page.revision,
                    items,
                    continue_token: None,
                });
            }
        }
    }
}

/// GET a collection.
pub async fn list(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let selected = select(ctx).await?;
    let rv = selected.revision.to_string();
    // The cache holds the storage version; only converted resources pay for
    // decoding every item.
    let values = || -> Vec<Value> {
        selected
            .items
            .iter()
            .map(|e| {
                let mut obj = e.value();
                if ctx.omit_managed_fields {
                    skiff_core::meta::remove_meta(&mut obj, "managedFields");
                }
                ctx.from_storage(obj)
            })
            .collect()
    };
    if ctx.accept == Accept::Table {
        let objs = values();
        let mut table = table_for(ctx, &objs, &rv);
        if let Some(t) = &selected.continue_token {
            table["metadata"]["continue"] = json!(t);
        }
        return Ok(encoding::json(StatusCode::OK, &table, ctx.pretty));
    }
    if ctx.accept == Accept::Metadata && !ctx.is_converted() && !ctx.pretty {
        // The cached metadata bytes, as the watch sends them.
        let mut md = serde_json::Map::new();
        md.insert("resourceVersion".into(), json!(rv));
        if let Some(t) = &selected.continue_token {
            md.insert("continue".into(), json!(t));
        }
        let head = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": md});
        return splice_list(
            &head,
            selected.items,
            ItemForm::Metadata,
            ctx.omit_managed_fields,
        );
    }
    if ctx.accept == Accept::Metadata {
        let items: Vec<Value> = values().iter().map(super::partial_metadata).collect();
        let mut md = json!({"resourceVersion": rv});
        if let Some(t) = &selected.continue_token {
            md["continue"] = json!(t);
        }
        let list = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": md, "items": items});
        return Ok(encoding::json(StatusCode::OK, &list, ctx.pretty));
    }
    let mut md = serde_json::Map::new();
    md.insert("resourceVersion".into(), json!(rv));
    if let Some(t) = &selected.continue_token {
        md.insert("continue".into(), json!(t));
    }
    let head = json!({
        "kind": format!("{}List", ctx.info.kind),
        "apiVersion": ctx.api_version(),
        "metadata": md,
    });
    if ctx.pretty || ctx.is_converted() {
        let items = values();
        let mut list = head;
        list["items"] = json!(items);
        return Ok(encoding::json(StatusCode::OK, &list, ctx.pretty));
    }
    // Items are already encoded: splice them instead of re-encoding.
    splice_list(
        &head,
        selected.items,
        ItemForm::Object,
        ctx.omit_managed_fields,
    )
}

/// What of each cached entry a spliced list holds.
#[derive(Clone, Copy)]
enum ItemForm {
    /// The object.
    Object,
    /// Its `PartialObjectMetadata`.
    Metadata,
}

impl ItemForm {
    fn parts(self, e: &Entry, omit_managed_fields: bool) -> [&[u8]; 4] {
        match self {
            ItemForm::Object => {
                let (head, tail) = e.item_parts(omit_managed_fields);
                [head, tail, b"", b""]
            }
            ItemForm::Metadata => {
                let (head, tail) = e.metadata_parts(omit_managed_fields);
                [super::watch::PARTIAL_METADATA_PREFIX, head, tail, b"}"]
            }
        }
    }
}

/// Lists whose body is larger than this are sent in chunks of about this
/// size as they are encoded, not built whole first (kube-apiserver 1.33
/// streams JSON lists too): the LIST of 150,000 pods is half a GiB, which
/// the allocator kept after the response.
const LIST_CHUNK: usize = 1 << 20;

/// A list response of `head` (the list without items) and the cached
/// entries spliced in as they are encoded.
fn splice_list(
    head: &Value,
    items: Vec<Arc<Entry>>,
    form: ItemForm,
    omit_managed_fields: bool,
) -> Result<Response<Body>> {
    let head = serde_json::to_vec(head).map_err(Status::internal)?;
    let size: usize = head.len()
        + items
            .iter()
            .map(|e| {
                let parts = form.parts(e, omit_managed_fields);
                parts.iter().map(|p| p.len()).sum::<usize>() + 1
            })
            .sum::<usize>()
        + 16;
    let mut chunks = ListChunks {
        head: Some(head),
        items: items.into_iter(),
        form,
        omit_managed_fields,
        first: true,
        done: false,
        chunk: size.min(LIST_CHUNK),
    };
    if size <= LIST_CHUNK {
        let body = chunks.next().unwrap_or_default();
        return Ok(encoding::raw_json(StatusCode::OK, body));
    }
    let stream = futures::stream::iter(chunks.map(|b| Ok(http_body::Frame::data(b))));
    let body = http_body_util::BodyExt::boxed_unsync(http_body_util::StreamBody::new(stream));
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// The body of a spliced list, about [`LIST_CHUNK`] bytes at a time.
struct ListChunks {
    head: Option<Vec<u8>>,
    items: std::vec::IntoIter<Arc<Entry>>,
    form: ItemForm,
    omit_managed_fields: bool,
    first: bool,
    done: bool,
    chunk: usize,
}

impl Iterator for ListChunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let mut out = BytesMut::with_capacity(self.chunk + 64 * 1024);
        if let Some(head) = self.head.take() {
            // The head without its closing brace, then the items.
            out.put_slice(&head[..head.len().saturating_sub(1)]);
            out.put_slice(b",\"items\":[");
        }
        while out.len() < self.chunk {
            let Some(e) = self.items.next() else {
                out.put_slice(b"]}");
                self.done = true;
                break;
            };
            if !self.first {
                out.put_u8(b',');
            }
            self.first = false;
            for part in self.form.parts(&e, self.omit_managed_fields) {
                out.put_slice(part);
            }
        }
        Some(out.freeze())
    }
}

/// A `meta.k8s.io/v1` Table of objects.
pub(crate) fn table_for(ctx: &Ctx<'_>, objs: &[Value], rv: &str) -> Value {
    let now = time::OffsetDateTime::now_utc();
    // Upstream prints the internal object, whatever the version asked: cells
    // of a converted resource come from its storage version, which holds all
    // of it (every HPA metric, not only v1's CPU target).
    let group = printer_group(ctx.info);
    let columns = column_definitions(group, ctx.info.resource);
    let include = ctx.query.get("includeObject").unwrap_or("Metadata");
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| {
            let cells = if ctx.is_converted() {
                let stored = ctx.to_storage(o.clone()).unwrap_or_else(|_| o.clone());
                table::cells(group, ctx.info.resource, &stored, now)
            } else {
                table::cells(group, ctx.info.resource, o, now)
            };
            let mut row = json!({"cells": cells});
            match include {
                "None" => {}
                "Object" => {
                    let mut full = o.clone();
                    ctx.set_type_meta(&mut full);
                    row["object"] = full;
                }
                _ => row["object"] = super::partial_metadata(o),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// The group whose printer renders rows of `info`: its storage version's.
pub(crate) fn printer_group(info: &skiff_core::registry::ResourceInfo) -> &'static str {
    info.storage_version()
        .map_or(info.group, |(group, _)| group)
}

/// `columnDefinitions` of a Table of this resource.
pub(crate) fn column_definitions(group: &str, resource: &str) -> Vec<Value> {
    table::columns(group, resource)
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.type_,
                "format": c.format,
                "description": c.description,
                "priority": c.priority,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(revision: Option<i64>, start: Option<&str>, at_least: Option<i64>) -> StoreRead {
        StoreRead {
            revision,
            start: start.map(str::to_string),
            at_least,
        }
    }

    /// etcd3's `ValidateListOptions` and `validateMinimumResourceVersion`, as
    /// a table: (resourceVersion, resourceVersionMatch, limit) → the read.
    #[test]
    fn uncached_lists_read_the_store_as_etcd3_does() {
        let cases: [(Option<&str>, Option<&str>, usize, StoreRead); 10] = [
            // Consistent: the latest state, nothing to wait for.
            (None, None, 0, read(None, None, None)),
            (None, None, 500, read(None, None, None)),
            // Any state: the latest too.
            (Some("0"), None, 0, read(None, None, Some(0))),
            (Some("0"), None, 500, read(None, None, Some(0))),
            // Legacy not-older-than: the latest, checked against the revision...
            (Some("42"), None, 0, read(None, None, Some(42))),
            // ...but with a limit, exactly that revision.
            (Some("42"), None, 500, read(Some(42), None, None)),
            (
                Some("42"),
                Some("NotOlderThan"),
                0,
                read(None, None, Some(42)),
            ),
            (
                Some("42"),
                Some("NotOlderThan"),
                500,
                read(None, None, Some(42)),
            ),
            (Some("42"), Some("Exact"), 0, read(Some(42), None, None)),
            (Some("42"), Some("Exact"), 500, read(Some(42), None, None)),
        ];
        for (rv, rv_match, limit, want) in cases {
            let got = store_read(rv, rv_match, limit, None).expect("a valid request");
            assert_eq!(got, want, "rv {rv:?} match {rv_match:?} limit {limit}");
        }
    }

    #[test]
    fn an_uncached_continuation_reads_at_its_tokens_revision() {
        let token = decode_continue(&encode_continue(17, "default/b\0")).expect("a valid token");
        let got = store_read(Some("0"), None, 2, Some(token)).expect("a valid request");
        assert_eq!(got, read(Some(17), Some("default/b\0"), None));
    }

    #[test]
    fn an_uncached_list_rejects_a_bad_resource_version() {
        let err = store_read(Some("x"), None, 0, None).expect_err("not a revision");
        assert_eq!(err.code, 400);
    }
}
