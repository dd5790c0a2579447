//! Helpers shared by the workload controllers, after upstream's
//! `pkg/controller/controller_utils.go` and `pkg/api/v1/pod`: label selectors,
//! ControllerRefs, pod readiness and availability, the ranking of pods to
//! delete, and the expectations that keep a controller from acting twice on
//! a stale cache. The caches themselves are the shared informers
//! (`crate::informer`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::{ApiContext, Result as CtlResult};

/// What a reflector can cache: a kind known at compile time that can be
/// decoded and shared between tasks.
pub trait Cached:
    Resource<DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> Cached for K where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// Upstream `ExpectationsTimeout`: stale expectations are ignored after this.
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Whether `labels` match `selector` (`metav1.LabelSelectorAsSelector`).
/// `None` matches nothing, an empty selector matches everything.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    if let Some(ml) = &selector.match_labels {
        for (k, v) in ml {
            if labels.get(k) != Some(v) {
                return false;
            }
        }
    }
    for req in selector.match_expressions.iter().flatten() {
        let values = req.values.clone().unwrap_or_default();
        let got = labels.get(&req.key);
        let ok = match req.operator.as_str() {
            "In" => got.is_some_and(|v| values.contains(v)),
            "NotIn" => got.is_none_or(|v| !values.contains(v)),
            "Exists" => got.is_some(),
            "DoesNotExist" => got.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Whether a selector selects nothing in practice (no requirements): upstream
/// refuses to act on an empty selector for workload controllers.
pub fn selector_is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|m| m.is_empty())
}

/// The ControllerRef among `refs` (the one with `controller: true`).
pub fn controller_ref(refs: Option<&Vec<OwnerReference>>) -> Option<&OwnerReference> {
    refs?.iter().find(|r| r.controller == Some(true))
}

/// A ControllerRef for an owner, with `blockOwnerDeletion` as upstream sets it.
pub fn new_controller_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// `rand.SafeEncodeString`: maps each character onto consonants and digits
/// that cannot spell words (used to render hashes in object names).
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.chars()
        .map(|c| ALPHANUMS[(c as usize) % ALPHANUMS.len()] as char)
        .collect()
}

/// FNV-1a, 32 bits, continuing from `h` (start with [`FNV32_OFFSET`]).
pub fn fnv1a_32(data: &[u8], mut h: u32) -> u32 {
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(FNV32_PRIME);
    }
    h
}

/// FNV-1 (multiply, then xor), 32 bits, continuing from `h`.
pub fn fnv1_32(data: &[u8], mut h: u32) -> u32 {
    for b in data {
        h = h.wrapping_mul(FNV32_PRIME);
        h ^= u32::from(*b);
    }
    h
}

/// The FNV 32-bit offset basis.
pub const FNV32_OFFSET: u32 = 2_166_136_261;
const FNV32_PRIME: u32 = 16_777_619;

/// `controller.ComputeHash`: FNV-1a of the printed template, then of the
/// collision count (little endian), printed in decimal and safe-encoded: the
/// `pod-template-hash` of ReplicaSets and the `controller-revision-hash` of
/// DaemonSet revisions. The printed form is the template's JSON (upstream
/// prints the Go struct, which no other implementation can reproduce; the
/// hash only needs to be stable).
pub fn compute_hash(
    template: &k8s_openapi::api::core::v1::PodTemplateSpec,
    collision_count: Option<i32>,
) -> String {
    let printed = serde_json::to_vec(template).unwrap_or_default();
    let mut h = fnv1a_32(&printed, FNV32_OFFSET);
    if let Some(c) = collision_count {
        h = fnv1a_32(&(c as u32).to_le_bytes(), h);
    }
    safe_encode(&h.to_string())
}

/// `intstr.GetScaledValueFromIntOrPercent`: an int as is, `N%` of `total`
/// rounded up or down; any other string is an error.
pub fn scaled_value(
    v: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString,
    total: i32,
    round_up: bool,
) -> Result<i32, String> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match v {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let Some(num) = s.strip_suffix('%') else {
                return Err(
                    "invalid value for IntOrString: invalid type: string is not a percentage"
                        .into(),
                );
            };
            let pct: i64 = num
                .parse()
                .map_err(|e| format!("invalid value for IntOrString: invalid value {s:?}: {e}"))?;
            let product = pct * i64::from(total);
            // Floor, or ceil, of pct * total / 100 for either sign.
            let floor = product.div_euclid(100);
            let scaled = floor + i64::from(round_up && product.rem_euclid(100) != 0);
            i32::try_from(scaled).map_err(|e| format!("invalid value for IntOrString: {e}"))
        }
    }
}

/// What the ownership helpers need of a namespaced kind.
pub trait Owned:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> Owned for K where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
{
}

/// Adds `controller_ref` to an orphan (`ClaimObject` adoption). Returns
/// false when the object changed or vanished since it was read.
pub async fn adopt<K: Owned>(
    client: &Client,
    obj: &K,
    controller_ref: OwnerReference,
) -> CtlResult<bool> {
    let mut refs: Vec<OwnerReference> = obj.meta().owner_references.clone().unwrap_or_default();
    refs.push(controller_ref);
    patch_owner_refs(client, obj, refs, None).await
}

/// Removes the reference to the owner `uid` from an object that stopped
/// matching (release). Returns false when the object changed or vanished.
pub async fn release<K: Owned>(client: &Client, obj: &K, uid: &str) -> CtlResult<bool> {
    let refs: Vec<OwnerReference> = obj
        .meta()
        .owner_references
        .iter()
        .flatten()
        .filter(|r| r.uid != uid)
        .cloned()
        .collect();
    patch_owner_refs(client, obj, refs, None).await
}

/// Replaces the ownerReferences of the object as it was read, adding
/// `finalizer` when given (the Job controller adopts pods with its tracking
/// finalizer). The uid and resourceVersion make the patch apply only to the
/// object that was seen; false when it changed or is gone.
pub async fn patch_owner_refs<K: Owned>(
    client: &Client,
    obj: &K,
    refs: Vec<OwnerReference>,
    finalizer: Option<&str>,
) -> CtlResult<bool> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), &ns);
    let mut patch = json!({"metadata": {
        "ownerReferences": refs,
        "uid": obj.uid(),
        "resourceVersion": obj.resource_version(),
    }});
    if let Some(f) = finalizer {
        let mut finalizers = obj.finalizers().to_vec();
        if !finalizers.iter().any(|x| x == f) {
            finalizers.push(f.to_string());
        }
        patch["metadata"]["finalizers"] = json!(finalizers);
    }
    match api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if crate::is_not_found(&e) || crate::is_conflict(&e) => Ok(false),
        Err(e) => Err(e).ctx(|| {
            format!(
                "update the owners of {} {ns}/{}",
                K::kind(&()).to_lowercase(),
                obj.name_any()
            )
        }),
    }
}

/// The pod's Ready condition, if any.
fn ready_condition(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// `podutil.IsPodReady`.
pub fn is_pod_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// When the pod last became ready, if it is ready.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let c = ready_condition(pod)?;
    if c.status != "True" {
        return None;
    }
    c.last_transition_time.as_ref().map(|t| t.0)
}

/// `podutil.IsPodAvailable`: ready for at least `min_ready_seconds`.
pub fn is_pod_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if !is_pod_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    match ready_since(pod) {
        Some(t) => t.as_second() + i64::from(min_ready_seconds) <= now.as_second(),
        None => false,
    }
}

/// `controller.IsPodActive`: not terminated and not being deleted.
pub fn is_pod_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded" | "Failed")) && pod.metadata.deletion_timestamp.is_none()
}

/// Whether the pod is terminating (deletion requested, not yet terminated).
pub fn is_pod_terminating(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_some() && !matches!(phase, Some("Succeeded" | "Failed"))
}

fn phase_rank(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    }
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0))
        .unwrap_or(0)
}

/// Upstream's LogarithmicScaleDown: timestamps compare by the power-of-two
/// bucket of their age, so pods of similar age count as equal.
fn log_bucket(t: Timestamp, now: Timestamp) -> i64 {
    let age = (now.as_second() - t.as_second()).max(0);
    if age == 0 {
        return 0;
    }
    i64::from(63 - age.leading_zeros() as i32) + 1
}

/// `ActivePodsWithRanks.Less`: the order in which pods are deleted on scale
/// down; the pods that compare less go first. `rank` is the number of
/// related pods on the same node (more means delete first).
pub fn compare_for_deletion(a: (&Pod, usize), b: (&Pod, usize), now: Timestamp) -> Ordering {
    let (pa, ra) = a;
    let (pb, rb) = b;
    let node = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    // 1. Unassigned < assigned.
    let o = node(pa).cmp(&node(pb));
    if o != Ordering::Equal {
        return o;
    }
    // 2. Pending < Unknown < Running.
    let o = phase_rank(pa).cmp(&phase_rank(pb));
    if o != Ordering::Equal {
        return o;
    }
    // 3. Not ready < ready.
    let o = is_pod_ready(pa).cmp(&is_pod_ready(pb));
    if o != Ordering::Equal {
        return o;
    }
    // 4. More related pods on the same node first.
    let o = rb.cmp(&ra);
    if o != Ordering::Equal {
        return o;
    }
    // 5. Ready for less time < ready for more time.
    if is_pod_ready(pa) && is_pod_ready(pb) {
        let ba = ready_since(pa).map(|t| log_bucket(t, now)).unwrap_or(0);
        let bb = ready_since(pb).map(|t| log_bucket(t, now)).unwrap_or(0);
        let o = ba.cmp(&bb);
        if o != Ordering::Equal {
            return o;
        }
    }
    // 6. Higher restart counts first.
    let o = restarts(pb).cmp(&restarts(pa));
    if o != Ordering::Equal {
        return o;
    }
    // 7. Empty creation time < newer < older.
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    match (created(pa), created(pb)) {
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => log_bucket(x, now).cmp(&log_bucket(y, now)),
        (None, None) => Ordering::Equal,
    }
}

/// `getPodsToDelete`: the `diff` pods of `filtered` to delete first, ranked by
/// how many of `related` run on the same node.
pub fn pods_to_delete<'a>(
    filtered: &[&'a Pod],
    related: &[&Pod],
    diff: usize,
    now: Timestamp,
) -> Vec<&'a Pod> {
    if diff >= filtered.len() {
        return filtered.to_vec();
    }
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    for p in related {
        if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_deref())
            && is_pod_active(p)
        {
            *per_node.entry(n).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&Pod, usize)> = filtered
        .iter()
        .map(|p| {
            let rank = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .and_then(|n| per_node.get(n).copied())
                .unwrap_or(0);
            (*p, rank)
        })
        .collect();
    ranked.sort_by(|a, b| compare_for_deletion(*a, *b, now));
    ranked.into_iter().take(diff).map(|(p, _)| p).collect()
}

/// Expectations by object key (`namespace/name`), after upstream's
/// `ControllerExpectations` but by pod name: a sync waits until every pod it
/// created was seen by the informer and every pod it deleted is gone from it.
#[derive(Default)]
pub struct Expectations {
    inner: Mutex<HashMap<String, Pending>>,
}

struct Pending {
    adds: HashSet<String>,
    /// Creates whose names are not known yet (in flight).
    unnamed_adds: usize,
    dels: HashSet<String>,
    since: Instant,
}

impl Expectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Expects creations and deletions for `key`.
    pub fn expect(&self, key: &str, creations: usize, deletions: &[String]) {
        let mut m = self.lock();
        let e = m.entry(key.to_string()).or_insert_with(|| Pending {
            adds: HashSet::new(),
            unnamed_adds: 0,
            dels: HashSet::new(),
            since: Instant::now(),
        });
        e.since = Instant::now();
        e.unnamed_adds += creations;
        e.dels.extend(deletions.iter().cloned());
    }

    /// A create succeeded under `name`: now wait to observe it.
    pub fn created(&self, key: &str, name: &str) {
        if let Some(e) = self.lock().get_mut(key) {
            e.unnamed_adds = e.unnamed_adds.saturating_sub(1);
            e.adds.insert(name.to_string());
        }
    }

    /// A create or delete failed: it will never be observed.
    pub fn lower(&self, key: &str, creation: bool, name: Option<&str>) {
        if let Some(e) = self.lock().get_mut(key) {
            if creation {
                e.unnamed_adds = e.unnamed_adds.saturating_sub(1);
            }
            if let Some(n) = name {
                e.dels.remove(n);
            }
        }
    }

    /// The informer saw the pod `name` (namespaced key prefix `ns/`).
    pub fn observe(&self, namespace: &str, name: &str) {
        let prefix = format!("{namespace}/");
        for (k, e) in self.lock().iter_mut() {
            if k.starts_with(&prefix) {
                e.adds.remove(name);
            }
        }
    }

    /// Whether `key` may sync: everything expected happened (`present`
    /// tells whether a created pod is in the cache — the watch may deliver
    /// it before the create call returns — and `gone` whether a deleted pod
    /// has left it) or the expectations expired.
    pub fn satisfied(
        &self,
        key: &str,
        present: impl Fn(&str) -> bool,
        gone: impl Fn(&str) -> bool,
    ) -> bool {
        let mut m = self.lock();
        let Some(e) = m.get_mut(key) else {
            return true;
        };
        e.adds.retain(|n| !present(n));
        e.dels.retain(|n| !gone(n));
        if (e.adds.is_empty() && e.unnamed_adds == 0 && e.dels.is_empty())
            || e.since.elapsed() > EXPECTATIONS_TIMEOUT
        {
            m.remove(key);
            return true;
        }
        false
    }

    /// Forgets `key` (the object was deleted).
    pub fn delete(&self, key: &str) {
        self.lock().remove(key);
    }
}

/// Upstream's slow start: creates in batches of 1, 2, 4, … up to `count`,
/// stopping at the first batch with an error. Returns how many were attempted
/// and succeeded, and the first error.
pub async fn slow_start_batch<F, Fut, E>(count: usize, mut create: F) -> (usize, Option<E>)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    let mut remaining = count;
    let mut done = 0;
    let mut batch = 1usize;
    while remaining > 0 {
        let n = batch.min(remaining);
        let results = futures::future::join_all((0..n).map(|_| create())).await;
        let mut first_err = None;
        for r in results {
            match r {
                Ok(()) => done += 1,
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        if first_err.is_some() {
            return (done, first_err);
        }
        remaining -= n;
        batch *= 2;
    }
    (done, None)
}

/// `podutil.UpdatePodCondition`: sets `cond` in the status, replacing the
/// condition of its type. `lastTransitionTime` moves to `now` only when the
/// status changes, and `lastProbeTime` is kept. Returns whether anything a
/// reader would see changed (status, reason or message).
pub fn update_pod_condition(
    status: &mut k8s_openapi::api::core::v1::PodStatus,
    mut cond: k8s_openapi::api::core::v1::PodCondition,
    now: Timestamp,
) -> bool {
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now);
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    match conditions.iter_mut().find(|c| c.type_ == cond.type_) {
        Some(existing) => {
            let same_status = existing.status == cond.status;
            cond.last_transition_time = if same_status {
                existing.last_transition_time.clone()
            } else {
                Some(now)
            };
            cond.last_probe_time = existing.last_probe_time.clone();
            let changed =
                !same_status || existing.reason != cond.reason || existing.message != cond.message;
            *existing = cond;
            changed
        }
        None => {
            cond.last_transition_time = Some(now);
            conditions.push(cond);
            true
        }
    }
}

/// `namespace/name` of an object.
pub fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The message of an API error as upstream's controllers put it in events:
/// the Status message for an API error, the error's text otherwise.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// Creates one pod for the controller `owner` (sync key `key`), as the
/// workload controllers' pod control does: a success is expected in the
/// informer and recorded as `SuccessfulCreate`; a failure lowers the
/// expectations (the pod will never be observed) and is recorded as
/// `FailedCreate` before it is returned.
pub async fn create_owned_pod<K: Resource<DynamicType = ()>>(
    api: &Api<Pod>,
    pod: &Pod,
    owner: &K,
    key: &str,
    expectations: &Expectations,
    recorder: &crate::events::Recorder,
) -> std::result::Result<(), kube::Error> {
    use crate::events::EventType;
    match api.create(&kube::api::PostParams::default(), pod).await {
        Ok(created) => {
            let name = created.name_any();
            expectations.created(key, &name);
            recorder
                .record(
                    owner,
                    EventType::Normal,
                    "SuccessfulCreate",
                    format!("Created pod: {name}"),
                )
                .await;
            Ok(())
        }
        Err(e) => {
            expectations.lower(key, true, None);
            recorder
                .record(
                    owner,
                    EventType::Warning,
                    "FailedCreate",
                    format!("Error creating: {}", api_message(&e)),
                )
                .await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelectorRequirement, ObjectMeta, Time,
    };
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    #[test]
    fn fnv_variants_match_reference_vectors() {
        // Published FNV-1 and FNV-1a 32-bit test vectors.
        assert_eq!(fnv1_32(b"", FNV32_OFFSET), 0x811c_9dc5);
        assert_eq!(fnv1_32(b"a", FNV32_OFFSET), 0x050c_5d7e);
        assert_eq!(fnv1_32(b"foobar", FNV32_OFFSET), 0x31f0_b262);
        assert_eq!(fnv1a_32(b"a", FNV32_OFFSET), 0xe40c_292c);
        assert_eq!(fnv1a_32(b"foobar", FNV32_OFFSET), 0xbf9c_f968);
    }

    #[test]
    fn scaled_values_round_as_asked_and_reject_non_percentages() {
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(scaled_value(&pct("50%"), 3, true), Ok(2));
        assert_eq!(scaled_value(&pct("50%"), 3, false), Ok(1));
        assert_eq!(scaled_value(&pct("33%"), 3, true), Ok(1));
        assert_eq!(scaled_value(&pct("34%"), 3, true), Ok(2));
        assert_eq!(scaled_value(&pct("25%"), 10, false), Ok(2));
        assert_eq!(scaled_value(&pct("0%"), 7, true), Ok(0));
        assert_eq!(scaled_value(&IntOrString::Int(4), 2, false), Ok(4));
        assert!(scaled_value(&pct("5"), 10, true).is_err());
        assert!(scaled_value(&pct("x%"), 10, true).is_err());
    }

    #[test]
    fn safe_encode_maps_digits_like_upstream() {
        // rand.SafeEncodeString: '0' is 48, 48 % 27 = 21 → '4'; '6' is 54 → 'b'.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn hash_changes_with_template_and_collision_count() {
        let t: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}
        }))
        .unwrap_or_default();
        let h = compute_hash(&t, None);
        assert_eq!(h, compute_hash(&t, None));
        assert_ne!(h, compute_hash(&t, Some(1)));
        let mut t2 = t.clone();
        if let Some(s) = t2.spec.as_mut() {
            s.containers[0].image = Some("nginx:2".into());
        }
        assert_ne!(h, compute_hash(&t2, None));
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }

    fn pod(name: &str, node: Option<&str>, phase: &str, ready: bool, created: i64) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(Time(Timestamp::from_second(created).unwrap_or_default())),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: node.map(String::from),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    last_transition_time: Some(Time(
                        Timestamp::from_second(created).unwrap_or_default(),
                    )),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn deletion_ranking_follows_upstream_order() {
        let now = Timestamp::from_second(1_000_000).unwrap_or_default();
        let unassigned = pod("unassigned", None, "Pending", false, 10);
        let pending = pod("pending", Some("n1"), "Pending", false, 10);
        let unknown = pod("unknown", Some("n1"), "Unknown", false, 10);
        let running_not_ready = pod("running-not-ready", Some("n2"), "Running", false, 10);
        let old_ready = pod("old-ready", Some("n3"), "Running", true, 10);
        let new_ready = pod("new-ready", Some("n4"), "Running", true, 999_990);
        let all = [
            &old_ready,
            &new_ready,
            &running_not_ready,
            &unknown,
            &pending,
            &unassigned,
        ];
        let picked = pods_to_delete(&all, &all, 5, now);
        let names: Vec<_> = picked
            .iter()
            .map(|p| p.metadata.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            [
                "unassigned",
                "pending",
                "unknown",
                "running-not-ready",
                "new-ready"
            ]
        );
    }

    #[test]
    fn more_pods_on_the_node_go_first() {
        let now = Timestamp::from_second(1_000).unwrap_or_default();
        let a = pod("a", Some("crowded"), "Running", true, 10);
        let b = pod("b", Some("crowded"), "Running", true, 10);
        let c = pod("c", Some("alone"), "Running", true, 10);
        let picked = pods_to_delete(&[&c, &a], &[&a, &b, &c], 1, now);
        assert_eq!(picked[0].metadata.name.as_deref(), Some("a"));
    }

    #[test]
    fn selector_requirements() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let sel = |op: &str, vals: &[&str]| LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "app".into(),
                operator: op.into(),
                values: Some(vals.iter().map(|s| s.to_string()).collect()),
            }]),
        };
        assert!(selector_matches(&sel("In", &["web", "db"]), &labels));
        assert!(!selector_matches(&sel("NotIn", &["web"]), &labels));
        assert!(selector_matches(&sel("Exists", &[]), &labels));
        assert!(!selector_matches(&sel("DoesNotExist", &[]), &labels));
        assert!(selector_matches(&LabelSelector::default(), &labels));
    }

    #[test]
    fn pod_condition_transition_time_moves_only_with_the_status() {
        let t = |s| Timestamp::from_second(s).unwrap_or_default();
        let mut status = PodStatus::default();
        let ready = |v: &str| PodCondition {
            type_: "Ready".into(),
            status: v.into(),
            ..Default::default()
        };
        assert!(update_pod_condition(&mut status, ready("True"), t(1)));
        assert!(!update_pod_condition(&mut status, ready("True"), t(2)));
        let get = |s: &PodStatus| s.conditions.as_ref().map(|c| c[0].clone());
        assert_eq!(
            get(&status).and_then(|c| c.last_transition_time),
            Some(Time(t(1)))
        );
        assert!(update_pod_condition(&mut status, ready("False"), t(3)));
        let c = get(&status).unwrap_or_default();
        assert_eq!(
            (c.status.as_str(), c.last_transition_time),
            ("False", Some(Time(t(3))))
        );
    }

    #[test]
    fn expectations_wait_for_observation() {
        let e = Expectations::default();
        e.expect("ns/rs", 2, &["old".to_string()]);
        e.created("ns/rs", "p1");
        e.created("ns/rs", "p2");
        assert!(!e.satisfied("ns/rs", |_| false, |_| false));
        e.observe("ns", "p1");
        // The watch may deliver a pod before its create call returns.
        assert!(!e.satisfied("ns/rs", |n| n == "p2", |_| false));
        assert!(e.satisfied("ns/rs", |_| false, |_| true));
    }

    #[tokio::test]
    async fn slow_start_batches_double() {
        let sizes = std::sync::Arc::new(Mutex::new(0usize));
        let (done, err) = slow_start_batch(7, || {
            let s = sizes.clone();
            async move {
                *s.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                Ok::<(), ()>(())
            }
        })
        .await;
        assert_eq!((done, err), (7, None));
        let (done, err) = slow_start_batch(7, || async { Err::<(), _>("quota") }).await;
        assert_eq!((done, err), (0, Some("quota")));
    }
}
