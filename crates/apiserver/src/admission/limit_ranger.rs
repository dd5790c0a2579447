//! The LimitRanger admission plugin (kube-apiserver's
//! `plugin/pkg/admission/limitranger`): the LimitRanges of a namespace give
//! containers default requests and limits, and bound what pods and
//! PersistentVolumeClaims may ask for.
//!
//! Owns: reading a namespace's LimitRanges (the watch cache, with upstream's
//! live lookup for a namespace the cache has none for), the mutating phase
//! (defaults and the `kubernetes.io/limit-ranger` annotation on pod creates)
//! and the validating phase (min, max and maxLimitRequestRatio of the types
//! `Container`, `Pod` and `PersistentVolumeClaim`), with upstream's messages.
//! Does not own: validation of the LimitRange objects themselves (their
//! strategy does).
//!
//! As upstream, pod updates are not checked (a pod's resources are immutable
//! but for in-place resize), subresources are skipped (so ephemeral
//! containers, added through one, are never defaulted), and updates of an
//! object that is being deleted pass.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use skiff_core::Status;
use skiff_core::quantity::{Amount, Format, MAX_MILLI_VALUE, Quantity};
use skiff_core::registry::ResourceInfo;
use skiff_store::RangeRequest;

use crate::rest::{Ctx, Result};

#[cfg(test)]
mod tests;

/// The annotation that lists what the plugin set on a pod.
pub const ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// How long a live lookup of a namespace's LimitRanges is trusted
/// (upstream's `liveTTL`).
const LIVE_TTL: Duration = Duration::from_secs(30);

/// How many namespaces' live lookups are kept (upstream's LRU size).
const LIVE_CAPACITY: usize = 10_000;

/// The live lookups of namespaces the watch cache had no LimitRange for.
///
/// Upstream reads its informer and, when the informer has nothing for the
/// namespace, lists the namespace live and remembers the answer for
/// [`LIVE_TTL`]: a LimitRange created a moment ago is then enforced even if
/// the cache has not caught up, and a namespace without LimitRanges (the
/// common case) costs one store read per [`LIVE_TTL`], not one per create.
#[derive(Default)]
pub struct LiveLookups {
    entries: Mutex<HashMap<String, LiveEntry>>,
}

struct LiveEntry {
    expiry: Instant,
    items: Arc<Vec<Value>>,
}

impl LiveLookups {
    fn get(&self, namespace: &str) -> Option<Arc<Vec<Value>>> {
        // A poisoned map only held lookups; keep using it.
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(namespace)
            .filter(|e| e.expiry > Instant::now())
            .map(|e| e.items.clone())
    }

    fn put(&self, namespace: &str, items: Arc<Vec<Value>>) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= LIVE_CAPACITY && !entries.contains_key(namespace) {
            entries.retain(|_, e| e.expiry > now);
            if entries.len() >= LIVE_CAPACITY
                && let Some(victim) = entries.keys().next().cloned()
            {
                entries.remove(&victim);
            }
        }
        entries.insert(
            namespace.to_string(),
            LiveEntry {
                expiry: now + LIVE_TTL,
                items,
            },
        );
    }
}

fn limit_ranges_info() -> Option<&'static ResourceInfo> {
    static INFO: OnceLock<Option<&'static ResourceInfo>> = OnceLock::new();
    *INFO.get_or_init(|| skiff_core::registry::lookup("", "v1", "limitranges"))
}

/// The LimitRanges of `namespace`: the watch cache's, or a live lookup's
/// when the cache has none (see [`LiveLookups`]).
async fn limit_ranges(ctx: &Ctx<'_>, namespace: &str, name: &str) -> Result<Arc<Vec<Value>>> {
    let info = limit_ranges_info()
        .ok_or_else(|| Status::internal("limitranges are not a registered resource"))?;
    let Some(cache) = ctx.server.cache.resource(info) else {
        return Err(Status::internal("limitranges have no watch cache"));
    };
    let prefix = format!("{}{namespace}/", cache.prefix);
    let snapshot = cache.snapshot(&prefix, 0).await;
    if !snapshot.items.is_empty() {
        return Ok(Arc::new(snapshot.items.iter().map(|e| e.value()).collect()));
    }
    let live = &ctx.server.limit_ranges;
    if let Some(items) = live.get(namespace) {
        return Ok(items);
    }
    let page = ctx
        .server
        .store
        .range(RangeRequest {
            prefix,
            start: None,
            revision: None,
            limit: 0,
        })
        .await
        .map_err(|e| {
            Status::forbidden(
                ctx.gr(),
                name,
                &format!("failed to list limit ranges in namespace {namespace}: {e}"),
            )
        })?;
    let items: Vec<Value> = page
        .kvs
        .iter()
        .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
        .collect();
    let items = Arc::new(items);
    live.put(namespace, items.clone());
    Ok(items)
}

/// The mutating phase on a pod create: each LimitRange of the namespace
/// fills in its container defaults. Returns whether the pod changed.
pub async fn default_pod(ctx: &Ctx<'_>, name: &str, pod: &mut Value) -> Result<bool> {
    if !ctx.req.subresource.is_empty() {
        return Ok(false);
    }
    let namespace = skiff_core::meta::namespace(pod).to_string();
    let ranges = limit_ranges(ctx, &namespace, name).await?;
    let mut changed = false;
    for range in ranges.iter() {
        changed |= apply_defaults(pod, &items_of(range));
    }
    Ok(changed)
}

/// The validating phase of a create or an update (`old` is the object
/// replaced): pods on create and claims on create and update must fit every
/// LimitRange of the namespace.
pub async fn validate(ctx: &Ctx<'_>, name: &str, obj: &Value, old: Option<&Value>) -> Result<()> {
    if !ctx.req.subresource.is_empty() {
        return Ok(());
    }
    let check: fn(&Value, &[LimitItem]) -> Vec<String> =
        match (ctx.info.group, ctx.info.resource, old) {
            ("", "pods", None) => validate_pod,
            ("", "persistentvolumeclaims", _) => validate_claim,
            _ => return Ok(()),
        };
    if old.is_some_and(|o| o.pointer("/metadata/deletionTimestamp").is_some()) {
        return Ok(());
    }
    let namespace = skiff_core::meta::namespace(obj).to_string();
    let ranges = limit_ranges(ctx, &namespace, name).await?;
    for range in ranges.iter() {
        if let Some(why) = aggregate(&check(obj, &items_of(range))) {
            return Err(Status::forbidden(ctx.gr(), name, &why));
        }
    }
    Ok(())
}

/// Resource name to amount, in name order.
pub(crate) type Resources = BTreeMap<String, Amount>;

/// One entry of a LimitRange's `spec.limits`.
#[derive(Debug, Default)]
pub(crate) struct LimitItem {
    pub kind: String,
    pub min: Resources,
    pub max: Resources,
    pub default: Resources,
    pub default_request: Resources,
    pub max_limit_request_ratio: Resources,
}

const CONTAINER: &str = "Container";
const POD: &str = "Pod";
const CLAIM: &str = "PersistentVolumeClaim";

/// The items of a LimitRange object.
pub(crate) fn items_of(limit_range: &Value) -> Vec<LimitItem> {
    let Some(limits) = limit_range
        .pointer("/spec/limits")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    limits
        .iter()
        .map(|item| LimitItem {
            kind: item
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            min: resources(item.get("min")),
            max: resources(item.get("max")),
            default: resources(item.get("default")),
            default_request: resources(item.get("defaultRequest")),
            max_limit_request_ratio: resources(item.get("maxLimitRequestRatio")),
        })
        .collect()
}

/// A quantity of a JSON resource list: upstream accepts strings and numbers.
pub(crate) fn amount(v: &Value) -> Option<Amount> {
    let q = match v {
        Value::String(s) => Quantity::parse(s).ok()?,
        Value::Number(n) => Quantity::parse(&n.to_string()).ok()?,
        _ => return None,
    };
    Some(q.amount())
}

/// A resource list; entries that are not quantities are left out (the
/// object's own validation is what rejects them).
pub(crate) fn resources(list: Option<&Value>) -> Resources {
    list.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), amount(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// `defaultContainerResourceRequirements`: (requests, limits) every container
/// gets where it sets none, from the `Container` items.
fn container_defaults(items: &[LimitItem]) -> (Resources, Resources) {
    let mut requests = Resources::new();
    let mut limits = Resources::new();
    for item in items.iter().filter(|i| i.kind == CONTAINER) {
        requests.extend(item.default_request.iter().map(|(k, v)| (k.clone(), *v)));
        limits.extend(item.default.iter().map(|(k, v)| (k.clone(), *v)));
    }
    (requests, limits)
}

/// `PodMutateLimitFunc`: sets the defaults of one LimitRange on the pod's
/// containers and init containers and records them in the annotation.
/// Returns whether the pod changed.
pub(crate) fn apply_defaults(pod: &mut Value, items: &[LimitItem]) -> bool {
    let (requests, limits) = container_defaults(items);
    if requests.is_empty() && limits.is_empty() {
        return false;
    }
    let mut notes = Vec::new();
    if let Some(spec) = pod.get_mut("spec") {
        for (list, what) in [
            ("containers", "container"),
            ("initContainers", "init container"),
        ] {
            let Some(Value::Array(containers)) = spec.get_mut(list) else {
                continue;
            };
            for c in containers {
                default_container(c, &requests, &limits, what, &mut notes);
            }
        }
    }
    if notes.is_empty() {
        return false;
    }
    let note = format!("LimitRanger plugin set: {}", notes.join("; "));
    let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut) else {
        return true;
    };
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    if let Some(a) = annotations.as_object_mut() {
        a.insert(ANNOTATION.into(), json!(note));
    }
    true
}

/// `mergeContainerResources`: fills what the container leaves unset and
/// notes it as `cpu, memory request for container nginx`.
fn default_container(
    c: &mut Value,
    requests: &Resources,
    limits: &Resources,
    what: &str,
    notes: &mut Vec<String>,
) {
    let name = c
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(container) = c.as_object_mut() else {
        return;
    };
    let resources = container
        .entry("resources")
        .or_insert_with(|| Value::Object(Map::new()));
    if !resources.is_object() {
        *resources = Value::Object(Map::new());
    }
    let Some(resources) = resources.as_object_mut() else {
        return;
    };
    // Limits first, as upstream merges them; the note lists requests first.
    let set_limits = fill(resources, "limits", limits);
    let set_requests = fill(resources, "requests", requests);
    if !set_requests.is_empty() {
        notes.push(format!(
            "{} request for {what} {name}",
            set_requests.join(", ")
        ));
    }
    if !set_limits.is_empty() {
        notes.push(format!("{} limit for {what} {name}", set_limits.join(", ")));
    }
}

/// Adds the `defaults` missing from `resources[field]`; returns the names
/// added, sorted.
fn fill(resources: &mut Map<String, Value>, field: &str, defaults: &Resources) -> Vec<String> {
    let missing: Vec<(&String, &Amount)> = {
        let present = resources.get(field).and_then(Value::as_object);
        defaults
            .iter()
            .filter(|(k, _)| present.is_none_or(|p| p.get(*k).is_none_or(Value::is_null)))
            .collect()
    };
    if missing.is_empty() {
        return Vec::new();
    }
    let list = resources
        .entry(field)
        .or_insert_with(|| Value::Object(Map::new()));
    if !list.is_object() {
        *list = Value::Object(Map::new());
    }
    let mut set = Vec::new();
    if let Some(list) = list.as_object_mut() {
        for (k, v) in missing {
            list.insert(k.clone(), json!(v.to_string()));
            set.push(k.clone());
        }
        // Upstream writes a resource list in name order.
        list.sort_keys();
    }
    set
}

/// `requestLimitEnforcedValues`: the three values at a common precision,
/// thousandths unless one of them is too large for that.
fn enforced_values(request: Amount, limit: Amount, enforced: Amount) -> (i64, i64, i64) {
    let (r, l, e) = (request.value(), limit.value(), enforced.value());
    if r <= MAX_MILLI_VALUE && l <= MAX_MILLI_VALUE && e <= MAX_MILLI_VALUE {
        (
            request.milli_value(),
            limit.milli_value(),
            enforced.milli_value(),
        )
    } else {
        (r, l, e)
    }
}

fn zero() -> Amount {
    Amount::zero(Format::DecimalSI)
}

/// `minConstraint`.
fn min_constraint(
    kind: &str,
    resource: &str,
    enforced: Amount,
    requests: &Resources,
    limits: &Resources,
) -> Option<String> {
    let req = requests.get(resource).copied();
    let lim = limits.get(resource).copied();
    let (r, l, e) = enforced_values(req.unwrap_or_else(zero), lim.unwrap_or_else(zero), enforced);
    let Some(req) = req else {
        return Some(format!(
            "minimum {resource} usage per {kind} is {enforced}.  No request is specified"
        ));
    };
    if r < e {
        return Some(format!(
            "minimum {resource} usage per {kind} is {enforced}, but request is {req}"
        ));
    }
    match lim {
        Some(lim) if l < e => Some(format!(
            "minimum {resource} usage per {kind} is {enforced}, but limit is {lim}"
        )),
        _ => None,
    }
}

/// `maxConstraint`.
fn max_constraint(
    kind: &str,
    resource: &str,
    enforced: Amount,
    requests: &Resources,
    limits: &Resources,
) -> Option<String> {
    let req = requests.get(resource).copied();
    let lim = limits.get(resource).copied();
    let (r, l, e) = enforced_values(req.unwrap_or_else(zero), lim.unwrap_or_else(zero), enforced);
    let Some(lim) = lim else {
        return Some(format!(
            "maximum {resource} usage per {kind} is {enforced}.  No limit is specified"
        ));
    };
    if l > e {
        return Some(format!(
            "maximum {resource} usage per {kind} is {enforced}, but limit is {lim}"
        ));
    }
    match req {
        Some(req) if r > e => Some(format!(
            "maximum {resource} usage per {kind} is {enforced}, but request is {req}"
        )),
        _ => None,
    }
}

/// `maxRequestConstraint`: the max of a type whose limits mean nothing
/// (claims), against the request alone.
fn max_request_constraint(
    kind: &str,
    resource: &str,
    enforced: Amount,
    requests: &Resources,
) -> Option<String> {
    let req = requests.get(resource).copied();
    let (r, _, e) = enforced_values(req.unwrap_or_else(zero), zero(), enforced);
    let Some(req) = req else {
        return Some(format!(
            "maximum {resource} usage per {kind} is {enforced}.  No request is specified"
        ));
    };
    (r > e)
        .then(|| format!("maximum {resource} usage per {kind} is {enforced}, but request is {req}"))
}

/// `limitRequestRatioConstraint`.
fn ratio_constraint(
    kind: &str,
    resource: &str,
    enforced: Amount,
    requests: &Resources,
    limits: &Resources,
) -> Option<String> {
    let req = requests.get(resource).copied();
    let lim = limits.get(resource).copied();
    let (r, l, _) = enforced_values(req.unwrap_or_else(zero), lim.unwrap_or_else(zero), enforced);
    if req.is_none() || r == 0 {
        return Some(format!(
            "{resource} max limit to request ratio per {kind} is {enforced}, but no request is specified or request is 0"
        ));
    }
    if lim.is_none() || l == 0 {
        return Some(format!(
            "{resource} max limit to request ratio per {kind} is {enforced}, but no limit is specified or limit is 0"
        ));
    }
    let shown = l as f64 / r as f64;
    let (observed, allowed) = if enforced.value() <= MAX_MILLI_VALUE {
        (shown * 1000.0, enforced.milli_value() as f64)
    } else {
        (shown, enforced.value() as f64)
    };
    (observed > allowed).then(|| {
        format!(
            "{resource} max limit to request ratio per {kind} is {enforced}, but provided ratio is {shown:.6}"
        )
    })
}

/// min, max and maxLimitRequestRatio of `item` against one set of requests
/// and limits.
fn check_bounds(
    item: &LimitItem,
    requests: &Resources,
    limits: &Resources,
    errs: &mut Vec<String>,
) {
    let kind = item.kind.as_str();
    for (k, v) in &item.min {
        errs.extend(min_constraint(kind, k, *v, requests, limits));
    }
    for (k, v) in &item.max {
        errs.extend(max_constraint(kind, k, *v, requests, limits));
    }
    for (k, v) in &item.max_limit_request_ratio {
        errs.extend(ratio_constraint(kind, k, *v, requests, limits));
    }
}

/// `PodValidateLimitFunc`: every container and init container against the
/// `Container` items, the pod's effective requests and limits against the
/// `Pod` items. Returns the messages of what does not fit.
pub(crate) fn validate_pod(pod: &Value, items: &[LimitItem]) -> Vec<String> {
    let mut errs = Vec::new();
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    for item in items {
        match item.kind.as_str() {
            CONTAINER => {
                for list in ["containers", "initContainers"] {
                    for c in containers(spec, list) {
                        let (requests, limits) = container_resources(c);
                        check_bounds(item, &requests, &limits, &mut errs);
                    }
                }
            }
            POD => {
                let requests = pod_total(spec, "requests");
                let limits = pod_total(spec, "limits");
                check_bounds(item, &requests, &limits, &mut errs);
            }
            _ => {}
        }
    }
    errs
}

/// `PersistentVolumeClaimValidateLimitFunc`: `spec.resources.requests`
/// against the min and max of the `PersistentVolumeClaim` items (a claim's
/// limits are not user input, and claims get no defaults).
pub(crate) fn validate_claim(claim: &Value, items: &[LimitItem]) -> Vec<String> {
    let mut errs = Vec::new();
    let requests = resources(claim.pointer("/spec/resources/requests"));
    for item in items.iter().filter(|i| i.kind == CLAIM) {
        for (k, v) in &item.min {
            errs.extend(min_constraint(CLAIM, k, *v, &requests, &Resources::new()));
        }
        for (k, v) in &item.max {
            errs.extend(max_request_constraint(CLAIM, k, *v, &requests));
        }
    }
    errs
}

fn containers<'a>(spec: &'a Value, list: &str) -> impl Iterator<Item = &'a Value> {
    spec.get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// (requests, limits) of a container.
fn container_resources(c: &Value) -> (Resources, Resources) {
    (
        resources(c.pointer("/resources/requests")),
        resources(c.pointer("/resources/limits")),
    )
}

/// The pod's effective `requests` or `limits` (`podRequests`/`podLimits`):
/// containers and sidecars (restartable init containers) add up; an init
/// container runs alone next to the sidecars started before it, so the pod
/// needs at least the largest such sum.
fn pod_total(spec: &Value, field: &str) -> Resources {
    let of = |c: &Value| resources(c.get("resources").and_then(|r| r.get(field)));
    let mut total = Resources::new();
    for c in containers(spec, "containers") {
        add_into(&mut total, &of(c));
    }
    let mut sidecars = Resources::new();
    let mut init_peak = Resources::new();
    for c in containers(spec, "initContainers") {
        let own = of(c);
        let running = if c.get("restartPolicy").and_then(Value::as_str) == Some("Always") {
            add_into(&mut total, &own);
            add_into(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut with_sidecars = Resources::new();
            add_into(&mut with_sidecars, &own);
            add_into(&mut with_sidecars, &sidecars);
            with_sidecars
        };
        max_into(&mut init_peak, &running);
    }
    max_into(&mut total, &init_peak);
    total
}

/// `addResourceList`.
fn add_into(list: &mut Resources, more: &Resources) {
    for (k, v) in more {
        list.entry(k.clone())
            .and_modify(|sum| sum.add(*v))
            .or_insert(*v);
    }
}

/// `maxResourceList`.
fn max_into(list: &mut Resources, other: &Resources) {
    for (k, v) in other {
        match list.get(k) {
            Some(cur) if v <= cur => {}
            _ => {
                list.insert(k.clone(), *v);
            }
        }
    }
}

/// `utilerrors.NewAggregate(errs).Error()`: one message as is, several
/// deduplicated, comma-joined and in brackets; `None` when all is well.
pub(crate) fn aggregate(errs: &[String]) -> Option<String> {
    let mut seen: Vec<&str> = Vec::new();
    for e in errs {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    match seen.as_slice() {
        [] => None,
        [one] => Some(one.to_string()),
        many => Some(format!("[{}]", many.join(", "))),
    }
}
