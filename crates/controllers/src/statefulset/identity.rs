//! The identity of a StatefulSet's pods and claims, after upstream's
//! `stateful_set_utils.go`: ordinals parsed from names, the pod built for an
//! ordinal (name, labels, hostname, subdomain, claim volumes), the claims
//! built from `volumeClaimTemplates`, pod health as the controller sees it,
//! and the ownerReferences that `persistentVolumeClaimRetentionPolicy` puts
//! on claims. Pure functions only; the API calls live in the controller.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::controller_utils as cu;

/// Label with the pod's own name (a stable selector for one member).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// Label with the pod's ordinal (`PodIndexLabel`, on by default since 1.28).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// Label with the name of the ControllerRevision the pod was built from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// `getParentNameAndOrdinal`: splits `<parent>-<ordinal>` (the regex
/// `(.*)-([0-9]+)$`, the ordinal a 32-bit integer).
pub fn parent_and_ordinal(name: &str) -> Option<(&str, i32)> {
    let (parent, digits) = name.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, digits.parse().ok()?))
}

/// The pod's ordinal, if its name has one.
pub fn ordinal(pod: &Pod) -> Option<i32> {
    parent_and_ordinal(pod.metadata.name.as_deref()?).map(|(_, o)| o)
}

/// `getPodName`.
pub fn pod_name(set: &str, ordinal: i32) -> String {
    format!("{set}-{ordinal}")
}

/// `getPersistentVolumeClaimName`: `<claim>-<set>-<ordinal>`.
pub fn claim_name(claim: &str, set: &str, ordinal: i32) -> String {
    format!("{claim}-{set}-{ordinal}")
}

/// `spec.replicas` (default 1).
pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .max(0)
}

/// `getStartOrdinal`: `spec.ordinals.start`, default 0.
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.ordinals.as_ref())
        .and_then(|o| o.start)
        .unwrap_or(0)
}

/// `podInOrdinalRange`: whether the ordinal is one the set should run.
pub fn in_ordinal_range(ordinal: i32, set: &StatefulSet) -> bool {
    let start = start_ordinal(set);
    ordinal >= start && i64::from(ordinal) < i64::from(start) + i64::from(replicas(set))
}

/// `spec.minReadySeconds`.
pub fn min_ready_seconds(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// `allowsBurst`: `podManagementPolicy: Parallel`.
pub fn allows_burst(set: &StatefulSet) -> bool {
    set.spec
        .as_ref()
        .and_then(|s| s.pod_management_policy.as_deref())
        == Some("Parallel")
}

/// Whether `updateStrategy.type` is OnDelete (the default is RollingUpdate).
pub fn is_on_delete(set: &StatefulSet) -> bool {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        == Some("OnDelete")
}

/// `updateStrategy.rollingUpdate.partition`, when `rollingUpdate` is set.
pub fn partition(set: &StatefulSet) -> Option<i32> {
    let ru = set
        .spec
        .as_ref()?
        .update_strategy
        .as_ref()?
        .rolling_update
        .as_ref()?;
    Some(ru.partition.unwrap_or(0))
}

fn service_name(set: &StatefulSet) -> &str {
    set.spec
        .as_ref()
        .and_then(|s| s.service_name.as_deref())
        .unwrap_or_default()
}

fn claim_templates(set: &StatefulSet) -> &[PersistentVolumeClaim] {
    set.spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_deref())
        .unwrap_or_default()
}

/// `isMemberOf`: the pod's name says it belongs to the set.
pub fn is_member_of(set: &StatefulSet, pod: &Pod) -> bool {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    parent_and_ordinal(name).is_some_and(|(parent, _)| parent == set.name_any())
}

/// `identityMatches`: name, namespace and pod-name label fit the set.
pub fn identity_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let Some((parent, ordinal)) = parent_and_ordinal(name) else {
        return false;
    };
    parent == set.name_any()
        && name == pod_name(parent, ordinal)
        && pod.metadata.namespace == set.metadata.namespace
        && pod.labels().get(POD_NAME_LABEL).map(String::as_str) == Some(name)
}

/// `storageMatches`: every claim template is mounted from this pod's claim.
pub fn storage_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some(ordinal) = ordinal(pod) else {
        return false;
    };
    let volumes: &[Volume] = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or_default();
    claim_templates(set).iter().all(|t| {
        let template = t.metadata.name.as_deref().unwrap_or_default();
        let want = claim_name(template, &set.name_any(), ordinal);
        volumes.iter().any(|v| {
            v.name == template
                && v.persistent_volume_claim
                    .as_ref()
                    .is_some_and(|c| c.claim_name == want)
        })
    })
}

/// `getPersistentVolumeClaims`: the claims of the member with `ordinal`, as
/// (template name, claim), labelled with the selector's matchLabels.
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<(String, PersistentVolumeClaim)> {
    let match_labels = set
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    claim_templates(set)
        .iter()
        .map(|t| {
            let template = t.metadata.name.clone().unwrap_or_default();
            let mut claim = t.clone();
            claim.metadata.name = Some(claim_name(&template, &set.name_any(), ordinal));
            claim.metadata.namespace = set.metadata.namespace.clone();
            let mut labels = claim.metadata.labels.take().unwrap_or_default();
            labels.extend(match_labels.clone());
            claim.metadata.labels = Some(labels);
            claim.status = None;
            (template, claim)
        })
        .collect()
}

/// `updateStorage`: mounts the member's claims under the template names,
/// replacing pod volumes of the same name and keeping the others.
pub fn update_storage(set: &StatefulSet, pod: &mut Pod) {
    let Some(ordinal) = ordinal(pod) else {
        return;
    };
    let claims = claims_for(set, ordinal);
    let spec = pod.spec.get_or_insert_default();
    let current = spec.volumes.take().unwrap_or_default();
    let mut volumes: Vec<Volume> = claims
        .iter()
        .map(|(template, claim)| Volume {
            name: template.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.metadata.name.clone().unwrap_or_default(),
                read_only: None,
            }),
            ..Default::default()
        })
        .collect();
    volumes.extend(
        current
            .into_iter()
            .filter(|v| !claims.iter().any(|(t, _)| *t == v.name)),
    );
    spec.volumes = (!volumes.is_empty()).then_some(volumes);
}

/// `updateIdentity`: name, namespace, pod-name and pod-index labels.
pub fn update_identity(set: &StatefulSet, pod: &mut Pod) {
    let Some(ordinal) = ordinal(pod) else {
        return;
    };
    let name = pod_name(&set.name_any(), ordinal);
    pod.metadata.name = Some(name.clone());
    pod.metadata.namespace = set.metadata.namespace.clone();
    let labels = pod.metadata.labels.get_or_insert_default();
    labels.insert(POD_NAME_LABEL.into(), name);
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
}

/// `newVersionedStatefulSetPod`: the pod for `ordinal` from `template` (the
/// template of the revision it is built at), labelled with that revision.
/// Hostname and subdomain are set only here: they are immutable.
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, ordinal: i32, revision: &str) -> Pod {
    let meta = template.metadata.clone().unwrap_or_default();
    let name = pod_name(&set.name_any(), ordinal);
    let mut pod = Pod {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: set.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![set_controller_ref(set)]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    };
    update_identity(set, &mut pod);
    let spec = pod.spec.get_or_insert_default();
    spec.hostname = Some(name);
    let service = service_name(set);
    if !service.is_empty() {
        spec.subdomain = Some(service.into());
    }
    update_storage(set, &mut pod);
    pod.metadata
        .labels
        .get_or_insert_default()
        .insert(REVISION_LABEL.into(), revision.into());
    pod
}

/// The ControllerRef of the set.
pub fn set_controller_ref(set: &StatefulSet) -> OwnerReference {
    cu::new_controller_ref(
        "apps/v1",
        "StatefulSet",
        &set.name_any(),
        &set.uid().unwrap_or_default(),
    )
}

/// `getPodRevision`: the revision label, or "".
pub fn pod_revision(pod: &Pod) -> &str {
    pod.labels()
        .get(REVISION_LABEL)
        .map(String::as_str)
        .unwrap_or_default()
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// `isCreated`: the API server gave the pod a phase.
pub fn is_created(pod: &Pod) -> bool {
    !phase(pod).is_empty()
}

/// `isFailed` or `isSucceeded`: a terminated pod is replaced whatever its
/// exit code (an evicted pod may well have exited 0).
pub fn is_terminated(pod: &Pod) -> bool {
    matches!(phase(pod), "Failed" | "Succeeded")
}

/// `isPending`.
pub fn is_pending(pod: &Pod) -> bool {
    phase(pod) == "Pending"
}

/// `isTerminating`: deletion requested.
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// `isRunningAndReady`.
pub fn is_running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && cu::is_pod_ready(pod)
}

/// `isRunningAndAvailable` (upstream checks availability alone).
pub fn is_running_and_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    cu::is_pod_available(pod, min_ready_seconds, now)
}

/// `isUnavailable`: not healthy (running, ready, not terminating) or not
/// available for `minReadySeconds`.
pub fn is_unavailable(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    let healthy = is_running_and_ready(pod) && !is_terminating(pod);
    !healthy || !cu::is_pod_available(pod, min_ready_seconds, now)
}

/// `persistentVolumeClaimRetentionPolicy` as (whenDeleted is Delete,
/// whenScaled is Delete); anything but Delete retains.
pub fn retention(set: &StatefulSet) -> (bool, bool) {
    let p = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let delete = |v: Option<&String>| v.is_some_and(|v| v == "Delete");
    (
        delete(p.and_then(|p| p.when_deleted.as_ref())),
        delete(p.and_then(|p| p.when_scaled.as_ref())),
    )
}

/// An owner of a claim as the retention rules see it.
struct Owner<'a> {
    api_version: &'a str,
    kind: &'a str,
    name: String,
    uid: String,
}

impl Owner<'_> {
    fn set(set: &StatefulSet) -> Owner<'static> {
        Owner {
            api_version: "apps/v1",
            kind: "StatefulSet",
            name: set.name_any(),
            uid: set.uid().unwrap_or_default(),
        }
    }

    fn pod(pod: &Pod) -> Owner<'static> {
        Owner {
            api_version: "v1",
            kind: "Pod",
            name: pod.name_any(),
            uid: pod.uid().unwrap_or_default(),
        }
    }

    /// `matchesRef`: same kind and name, whatever the uid.
    fn matches(&self, r: &OwnerReference) -> bool {
        r.api_version == self.api_version && r.kind == self.kind && r.name == self.name
    }

    fn reference(&self) -> OwnerReference {
        cu::new_controller_ref(self.api_version, self.kind, &self.name, &self.uid)
    }
}

fn refs(claim: &PersistentVolumeClaim) -> &[OwnerReference] {
    claim
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
}

/// `hasOwnerRef`: by uid only.
fn has_owner_ref(claim: &PersistentVolumeClaim, owner: &Owner) -> bool {
    !owner.uid.is_empty() && refs(claim).iter().any(|r| r.uid == owner.uid)
}

/// `hasStaleOwnerRef`: a reference to the owner's kind and name but another
/// uid (a previous incarnation of the pod or set).
fn has_stale_owner_ref(claim: &PersistentVolumeClaim, owner: &Owner) -> bool {
    refs(claim)
        .iter()
        .find(|r| owner.matches(r))
        .is_some_and(|r| r.uid != owner.uid)
}

/// `hasUnexpectedController`: with a Delete policy, a controller of the
/// claim that is neither the set nor the pod (or a stale one of them).
fn has_unexpected_controller(claim: &PersistentVolumeClaim, set: &Owner, pod: &Owner) -> bool {
    for r in refs(claim) {
        if set.matches(r) {
            if r.uid != set.uid {
                return true;
            }
            continue;
        }
        if pod.matches(r) {
            if r.uid != pod.uid {
                return true;
            }
            continue;
        }
        if r.controller == Some(true) {
            return true;
        }
    }
    false
}

/// `PodClaimIsStale` for one claim: with whenScaled Delete, a claim still
/// owned by an earlier pod of the same name blocks the new pod until the
/// garbage collector removes it.
pub fn claim_is_stale(set: &StatefulSet, claim: &PersistentVolumeClaim, pod: &Pod) -> bool {
    let (_, when_scaled_delete) = retention(set);
    when_scaled_delete && has_stale_owner_ref(claim, &Owner::pod(pod))
}

/// `isClaimOwnerUpToDate`: whether the claim's owners follow the policy:
/// Retain/Retain no reference; whenDeleted Delete a reference to the set;
/// whenScaled Delete a reference to the pod once it is scaled away (and to
/// the set until then when both are Delete).
pub fn claim_owner_up_to_date(set: &StatefulSet, claim: &PersistentVolumeClaim, pod: &Pod) -> bool {
    let (s, p) = (Owner::set(set), Owner::pod(pod));
    // A claim managed by an earlier set or pod is left alone.
    if has_stale_owner_ref(claim, &s) || has_stale_owner_ref(claim, &p) {
        return true;
    }
    let (when_deleted, when_scaled) = retention(set);
    if (when_deleted || when_scaled) && has_unexpected_controller(claim, &s, &p) {
        return !(has_owner_ref(claim, &s) || has_owner_ref(claim, &p));
    }
    let non_controller = refs(claim).iter().any(|r| {
        ((!s.uid.is_empty() && r.uid == s.uid) || (!p.uid.is_empty() && r.uid == p.uid))
            && r.controller != Some(true)
    });
    if non_controller {
        return false;
    }
    let scaled_down = ordinal(pod).is_none_or(|o| !in_ordinal_range(o, set));
    let (want_set, want_pod) = match (when_scaled, when_deleted) {
        (false, false) => (false, false),
        (false, true) => (true, false),
        (true, false) => (false, scaled_down),
        (true, true) => (!scaled_down, scaled_down),
    };
    has_owner_ref(claim, &s) == want_set && has_owner_ref(claim, &p) == want_pod
}

/// `updateClaimOwnerRefForSetAndPod`: the claim's ownerReferences rewritten
/// to follow the policy (our references scrubbed, then the wanted ones added
/// as controller references).
pub fn claim_owner_refs(
    set: &StatefulSet,
    claim: &PersistentVolumeClaim,
    pod: &Pod,
) -> Vec<OwnerReference> {
    let (s, p) = (Owner::set(set), Owner::pod(pod));
    let (when_deleted, when_scaled) = retention(set);
    let unexpected = (when_deleted || when_scaled) && has_unexpected_controller(claim, &s, &p);
    let mut out: Vec<OwnerReference> = refs(claim)
        .iter()
        .filter(|r| !s.matches(r) && !p.matches(r))
        .cloned()
        .collect();
    if unexpected {
        return out;
    }
    let scaled_down = ordinal(pod).is_none_or(|o| !in_ordinal_range(o, set));
    let mut add = |o: &Owner| {
        if !o.uid.is_empty() && !out.iter().any(|r| r.uid == o.uid) {
            out.push(o.reference());
        }
    };
    match (when_scaled, when_deleted) {
        (false, false) => {}
        (false, true) => add(&s),
        (true, false) => {
            if scaled_down {
                add(&p)
            }
        }
        (true, true) => {
            if scaled_down {
                add(&p)
            } else {
                add(&s)
            }
        }
    }
    out
}

/// Labels of a pod template.
pub fn template_labels(t: &PodTemplateSpec) -> BTreeMap<String, String> {
    t.metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}
