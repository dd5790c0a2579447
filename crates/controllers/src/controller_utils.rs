//! Helpers shared by the workload controllers, after upstream's
//! `pkg/controller/controller_utils.go` and `pkg/api/v1/pod`: label selectors,
//! ControllerRefs, pod readiness and availability, the ranking of pods to
//! delete, and the expectations that keep a controller from acting twice on
//! a stale cache.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};

use crate::{ApiContext, Result};

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

/// Adds `owner_ref` to an orphan pod (`ClaimPods` adoption). False when the
/// pod changed or went away meanwhile (the next sync sees the new state).
pub async fn adopt_pod(client: &Client, pod: &Pod, owner_ref: OwnerReference) -> Result<bool> {
    let mut refs: Vec<OwnerReference> = pod.metadata.owner_references.clone().unwrap_or_default();
    refs.push(owner_ref);
    patch_pod_owner_refs(client, pod, refs).await
}

/// Removes the ControllerRef of the owner `uid` from a pod that no longer
/// matches its selector (release).
pub async fn release_pod(client: &Client, pod: &Pod, uid: &str) -> Result<bool> {
    let refs: Vec<OwnerReference> = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .filter(|r| r.uid != uid)
        .cloned()
        .collect();
    patch_pod_owner_refs(client, pod, refs).await
}

async fn patch_pod_owner_refs(
    client: &Client,
    pod: &Pod,
    refs: Vec<OwnerReference>,
) -> Result<bool> {
    let ns = pod.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    // The uid and resourceVersion make the patch apply only to the pod we saw.
    let patch = serde_json::json!({"metadata": {
        "ownerReferences": refs,
        "uid": pod.uid(),
        "resourceVersion": pod.resource_version(),
    }});
    match api
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if crate::is_not_found(&e) || crate::is_conflict(&e) => Ok(false),
        Err(e) => Err(e).ctx(|| format!("update the owners of pod {ns}/{}", pod.name_any())),
    }
}

/// `namespace/name` of an object.
pub fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelectorRequirement, ObjectMeta, Time,
    };

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
