//! The `ResourceQuota` admission plugin (upstream
//! `plugin/pkg/admission/resourcequota` over
//! `k8s.io/apiserver/pkg/admission/plugin/resourcequota`): a write that
//! would take a namespace over a quota's `status.hard` is refused with 403,
//! and one that fits is charged to the quota's `status.used` before it is
//! stored, so that two quick creates cannot both take the last unit
//! whatever the resourcequota controller has seen.
//!
//! Owns: finding the quotas of the namespace, charging them with
//! compare-and-swap on the quota's revision (retried, as upstream retries
//! conflicting quota updates). The rules (what an object costs, which quota
//! covers it, the messages) are [`skiff_core::quota`]'s. Does not own:
//! giving usage back when objects go away or recalculating it (the
//! resourcequota controller does).

use std::collections::HashSet;
use std::sync::LazyLock;

use bytes::Bytes;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, ResourceQuota, Service};
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use skiff_core::Status;
use skiff_core::quota::{self, Evaluator, Object, Operation};
use skiff_store::{KeyValue, RangeRequest};

use crate::rest::{Ctx, Result};

/// How often charging is redone after losing a compare-and-swap on a quota
/// to another writer (the controller, another server). Upstream retries
/// three times within a batch; a client then sees a conflict.
const ROUNDS: usize = 8;

/// Admissions of one namespace are serialized (upstream batches them per
/// namespace in one worker) so that concurrent creates queue rather than
/// fail their compare-and-swap against each other. Striped: namespaces
/// that share a stripe only wait for each other when both have quotas.
static NAMESPACE_LOCKS: LazyLock<Vec<tokio::sync::Mutex<()>>> =
    LazyLock::new(|| (0..64).map(|_| tokio::sync::Mutex::new(())).collect());

fn namespace_lock(ns: &str) -> &'static tokio::sync::Mutex<()> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ns.hash(&mut h);
    &NAMESPACE_LOCKS[(h.finish() % NAMESPACE_LOCKS.len() as u64) as usize]
}

/// Checks and charges a write: `new` replacing `old` (`None`: a create).
pub async fn admit(
    ctx: &Ctx<'_>,
    name: &str,
    new: &Value,
    old: Option<&Value>,
    dry_run: bool,
) -> Result<()> {
    if !ctx.info.namespaced || ctx.req.namespace.is_empty() {
        return Ok(());
    }
    let op = if old.is_some() {
        Operation::Update
    } else {
        Operation::Create
    };
    if !Evaluator::charges(ctx.info.group, ctx.info.resource, op, &ctx.req.subresource) {
        return Ok(());
    }
    let ns = &ctx.req.namespace;
    let prefix = format!("/registry/resourcequotas/{ns}/");
    // The common case, a namespace without quotas, costs one look into
    // the watch cache. A quota created (or synced) a moment ago that the
    // cache has not seen yet is missed, as upstream's informer-backed
    // lister may miss it.
    let Some(cached) = cached_quotas(ctx, &prefix).await? else {
        return Ok(());
    };
    let Some(evaluator) = Evaluator::for_resource(ctx.info.group, ctx.info.resource) else {
        return Ok(());
    };
    // Quotas that limit nothing this evaluator measures (a pod created
    // where only configmaps are limited) need no store read nor lock. The
    // store decides for the rest: its `status.used` is the latest.
    if let Some(cached) = cached
        && !cached.iter().any(|q| {
            q.pointer("/status/hard")
                .and_then(Value::as_object)
                .is_some_and(|hard| !evaluator.matching_resources(hard.keys()).is_empty())
        })
    {
        return Ok(());
    }
    let new_obj = Typed::decode(&evaluator, new)?;
    let old_obj = old.map(|o| Typed::decode(&evaluator, o)).transpose()?;
    let status_write = ctx.req.subresource == "status";

    let _serialized = namespace_lock(ns).lock().await;
    let mut charged: HashSet<String> = HashSet::new();
    let mut last_conflict = String::new();
    for _ in 0..ROUNDS {
        let (kvs, quotas) = read_quotas(ctx, &prefix, &charged).await?;
        if quotas.is_empty() {
            return Ok(());
        }
        let decision = quota::check_request(
            &quotas,
            &evaluator,
            new_obj.as_object(),
            old_obj.as_ref().map(Typed::as_object),
            status_write,
            Timestamp::now(),
        );
        let new_used = decision.map_err(|d| Status::forbidden(ctx.gr(), name, &d.0))?;
        if dry_run {
            return Ok(());
        }
        let mut conflicted = false;
        for ((kv, q), used) in kvs.iter().zip(&quotas).zip(new_used) {
            let Some(used) = used else { continue };
            let quota_name = q.metadata.name.clone().unwrap_or_default();
            if write_used(ctx, kv, &used).await? {
                charged.insert(quota_name);
            } else {
                conflicted = true;
                last_conflict = quota_name;
            }
        }
        if !conflicted {
            return Ok(());
        }
    }
    // As upstream, the client sees the last quota update's conflict.
    Err(Status::conflict_modified(
        skiff_core::status::GroupResource {
            group: "",
            resource: "resourcequotas",
        },
        &last_conflict,
    ))
}

/// The namespace's quotas as the watch cache has them: `None` when it has
/// none; `Some(None)` when the resource has no cache and the store says
/// there are some.
async fn cached_quotas(ctx: &Ctx<'_>, prefix: &str) -> Result<Option<Option<Vec<Value>>>> {
    static QUOTAS: LazyLock<Option<&'static skiff_core::registry::ResourceInfo>> =
        LazyLock::new(|| skiff_core::registry::lookup("", "v1", "resourcequotas"));
    let cache = QUOTAS.and_then(|info| ctx.server.cache.resource(info));
    if let Some(cache) = cache {
        let items = cache.snapshot(prefix, 0).await.items;
        if items.is_empty() {
            return Ok(None);
        }
        return Ok(Some(Some(items.iter().map(|e| e.value()).collect())));
    }
    let n = ctx
        .server
        .store
        .count(prefix)
        .await
        .map_err(Status::internal)?;
    Ok((n > 0).then_some(None))
}

/// The namespace's quotas from the store (the latest `status.used`, which
/// this plugin itself may have just written), without those in `skip`.
async fn read_quotas(
    ctx: &Ctx<'_>,
    prefix: &str,
    skip: &HashSet<String>,
) -> Result<(Vec<KeyValue>, Vec<ResourceQuota>)> {
    let range = ctx
        .server
        .store
        .range(RangeRequest {
            prefix: prefix.to_string(),
            ..RangeRequest::default()
        })
        .await
        .map_err(Status::internal)?;
    let mut kvs = Vec::new();
    let mut quotas = Vec::new();
    for kv in range.kvs {
        let q: ResourceQuota = serde_json::from_slice(&kv.value).map_err(|e| {
            Status::internal(format!(
                "stored quota {} is not a ResourceQuota: {e}",
                kv.key
            ))
        })?;
        if skip.contains(q.metadata.name.as_deref().unwrap_or_default()) {
            continue;
        }
        kvs.push(kv);
        quotas.push(q);
    }
    Ok((kvs, quotas))
}

/// Writes `used` into the stored quota if it is still at the revision it
/// was read at; false when another writer came first.
async fn write_used(ctx: &Ctx<'_>, kv: &KeyValue, used: &quota::Usage) -> Result<bool> {
    let mut stored: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| Status::internal(format!("stored quota {} is not JSON: {e}", kv.key)))?;
    let used = serde_json::to_value(quota::to_api(used)).map_err(Status::internal)?;
    match stored.get_mut("status").and_then(Value::as_object_mut) {
        Some(status) => {
            status.insert("used".into(), used);
        }
        None => {
            if let Some(m) = stored.as_object_mut() {
                m.insert("status".into(), json!({ "used": used }));
            }
        }
    }
    let bytes = serde_json::to_vec(&stored).map_err(Status::internal)?;
    match ctx
        .server
        .store
        .update(&kv.key, Bytes::from(bytes), kv.mod_revision)
        .await
    {
        Ok(_) => Ok(true),
        Err(skiff_store::Error::Conflict { .. }) => Ok(false),
        // Deleted since it was read: nothing left to charge.
        Err(skiff_store::Error::NotFound { .. }) => Ok(true),
        Err(e) => Err(Status::internal(e)),
    }
}

/// The admitted object decoded as its evaluator reads it.
enum Typed {
    Pod(Box<Pod>),
    Service(Box<Service>),
    PersistentVolumeClaim(Box<PersistentVolumeClaim>),
    Other,
}

impl Typed {
    fn decode(evaluator: &Evaluator, obj: &Value) -> Result<Typed> {
        let bad = |e: serde_json::Error| {
            Status::bad_request(format!("unable to measure quota usage: {e}"))
        };
        Ok(match evaluator {
            Evaluator::Pods => Typed::Pod(Box::new(Pod::deserialize(obj).map_err(bad)?)),
            Evaluator::Services => {
                Typed::Service(Box::new(Service::deserialize(obj).map_err(bad)?))
            }
            Evaluator::PersistentVolumeClaims => Typed::PersistentVolumeClaim(Box::new(
                PersistentVolumeClaim::deserialize(obj).map_err(bad)?,
            )),
            Evaluator::Count { .. } => Typed::Other,
        })
    }

    fn as_object(&self) -> Object<'_> {
        match self {
            Typed::Pod(p) => Object::Pod(p),
            Typed::Service(s) => Object::Service(s),
            Typed::PersistentVolumeClaim(c) => Object::PersistentVolumeClaim(c),
            Typed::Other => Object::Other,
        }
    }
}
