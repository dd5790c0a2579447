//! The decisions of one StatefulSet sync, after upstream's
//! `stateful_set_control.go`, as pure functions: which pods to create,
//! repair, delete or roll next (the [`Plan`]), which revision a new pod is
//! built at, which revision is the update revision, and the replica counts
//! of the status. The controller carries a plan out phase by phase.

use std::collections::HashMap;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::identity as id;
use crate::history;

/// Upstream's `MaxBatchSize`: the most pods Parallel management creates
/// in one sync.
pub const MAX_CREATES_PER_SYNC: usize = 500;

/// One action on the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Create the claims, then the pod, of a missing ordinal.
    CreatePod { ordinal: i32 },
    /// Create a pending pod's missing claims and set their owners.
    EnsureClaims { ordinal: i32, pod: String },
    /// Delete a Failed or Succeeded pod; the next sync recreates it.
    DeleteTerminated { pod: String },
    /// Restore a pod's identity labels and claim volumes, and its claims'
    /// owners.
    UpdatePod { pod: String },
    /// Set the owners of a scaled-away pod's claims per the retention policy.
    FixClaims { pod: String },
    /// Delete a pod beyond the ordinal range (scale down).
    DeleteCondemned { pod: String },
    /// Delete a pod at an old revision so that it is recreated at the
    /// update revision (RollingUpdate).
    DeleteForUpdate { pod: String },
}

/// The steps of one sync in phases: replicas, claims of condemned pods,
/// condemned pods, rolling update. A phase with a failed step ends the sync.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub phases: Vec<Vec<Step>>,
    /// Parallel pod management: the steps of a phase may run at once.
    pub parallel: bool,
}

impl Plan {
    /// Every step, in order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.phases.iter().flatten()
    }
}

/// What the planner needs besides the set and its pods.
pub struct Inputs<'a, C: Fn(&str) -> Option<&'a PersistentVolumeClaim>> {
    /// The claim named so, from the cache.
    pub claim: C,
    /// Name of the update revision.
    pub update_revision: &'a str,
    pub now: Timestamp,
}

/// Which claims of the member at `ordinal` are missing or stale, and
/// whether the owners of the present ones follow the retention policy.
fn claims_state<'a>(
    set: &StatefulSet,
    ordinal: i32,
    pod: &Pod,
    claim: &impl Fn(&str) -> Option<&'a PersistentVolumeClaim>,
) -> (bool, bool, bool) {
    let mut missing = false;
    let mut stale = false;
    let mut owners_ok = true;
    for (_, c) in id::claims_for(set, ordinal) {
        match claim(c.metadata.name.as_deref().unwrap_or_default()) {
            None => missing = true,
            Some(existing) => {
                stale |= id::claim_is_stale(set, existing, pod);
                owners_ok &= id::claim_owner_up_to_date(set, existing, pod);
            }
        }
    }
    (missing, stale, owners_ok)
}

/// `updateStatefulSet`: what to do next for `set` whose claimed pods are
/// `pods`. OrderedReady (monotonic) stops at the first pod that is not yet
/// Running, Ready and available, creates one pod at a time, and deletes one
/// condemned pod at a time from the highest ordinal; Parallel does all of
/// it at once. The rolling update, in either mode, replaces the
/// highest-ordinal pod not at the update revision down to the partition,
/// one at a time, waiting for each to be available again.
pub fn plan<'a, C: Fn(&str) -> Option<&'a PersistentVolumeClaim>>(
    set: &StatefulSet,
    pods: &[&Pod],
    inputs: &Inputs<'a, C>,
) -> Plan {
    let monotonic = !id::allows_burst(set);
    let min_ready = id::min_ready_seconds(set);
    let now = inputs.now;
    let start = id::start_ordinal(set);
    let count = id::replicas(set) as usize;
    // By index from the start ordinal; a map, not a slice of `replicas`
    // slots, so that a huge `spec.replicas` costs no memory up front.
    let mut present: HashMap<usize, &Pod> = HashMap::new();
    let mut condemned: Vec<&Pod> = Vec::new();
    for pod in pods {
        let Some(o) = id::ordinal(pod) else { continue };
        if id::in_ordinal_range(o, set) {
            present.insert((o - start) as usize, pod);
        } else {
            condemned.push(pod);
        }
    }
    let slot = |i: usize| present.get(&i).copied();
    condemned.sort_by_key(|p| std::cmp::Reverse(id::ordinal(p)));
    let mut out = Plan {
        phases: Vec::new(),
        parallel: !monotonic,
    };
    if set.metadata.deletion_timestamp.is_some() {
        return out;
    }

    // The first unavailable pod, in ordinal order (a missing one counts):
    // scale down may always remove it, even in order.
    let first_unavailable: Option<String> = (0..count)
        .find(|i| slot(*i).is_none_or(|p| id::is_unavailable(p, min_ready, now)))
        .map(|i| {
            slot(i)
                .map(|p| p.name_any())
                .unwrap_or_else(|| id::pod_name(&set.name_any(), start.saturating_add(i as i32)))
        })
        .or_else(|| {
            condemned
                .iter()
                .rev()
                .find(|p| id::is_unavailable(p, min_ready, now))
                .map(|p| p.name_any())
        });

    // Phase 1: the replicas in ordinal order (`processReplica`).
    let mut steps = Vec::new();
    let mut creates = 0;
    for i in 0..count {
        let ordinal = start.saturating_add(i as i32);
        // Parallel creates at most a batch per sync; the creations' events
        // bring the next sync.
        if creates == MAX_CREATES_PER_SYNC {
            break;
        }
        let Some(pod) = slot(i) else {
            let placeholder = Pod {
                metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                    name: Some(id::pod_name(&set.name_any(), ordinal)),
                    ..Default::default()
                },
                ..Default::default()
            };
            let (_, stale, _) = claims_state(set, ordinal, &placeholder, &inputs.claim);
            if !stale {
                steps.push(Step::CreatePod { ordinal });
                creates += 1;
            }
            if monotonic {
                out.phases.push(steps);
                return out;
            }
            continue;
        };
        if id::is_terminated(pod) {
            if !id::is_terminating(pod) {
                steps.push(Step::DeleteTerminated {
                    pod: pod.name_any(),
                });
            }
            if monotonic {
                out.phases.push(steps);
                return out;
            }
            continue;
        }
        let (missing, _, owners_ok) = claims_state(set, ordinal, pod, &inputs.claim);
        let ensure = id::is_pending(pod) && (missing || !owners_ok);
        if ensure {
            steps.push(Step::EnsureClaims {
                ordinal,
                pod: pod.name_any(),
            });
        }
        if monotonic
            && (id::is_terminating(pod)
                || !id::is_running_and_ready(pod)
                || !id::is_running_and_available(pod, min_ready, now))
        {
            out.phases.push(steps);
            return out;
        }
        // Claims being ensured get their owners set there.
        if !(id::identity_matches(set, pod) && id::storage_matches(set, pod))
            || (!owners_ok && !ensure)
        {
            steps.push(Step::UpdatePod {
                pod: pod.name_any(),
            });
        }
    }
    out.phases.push(steps);

    // Phase 2: the owners of condemned pods' claims.
    let fix: Vec<Step> = condemned
        .iter()
        .filter(|p| {
            let o = id::ordinal(p).unwrap_or(-1);
            !claims_state(set, o, p, &inputs.claim).2
        })
        .map(|p| Step::FixClaims { pod: p.name_any() })
        .collect();
    out.phases.push(fix);

    // Phase 3: condemned pods from the highest ordinal (`processCondemned`).
    let mut deletions = Vec::new();
    for pod in &condemned {
        if id::is_terminating(pod) {
            if monotonic {
                out.phases.push(deletions);
                return out;
            }
            continue;
        }
        let is_first = first_unavailable.as_deref() == Some(pod.name_any().as_str());
        if monotonic
            && !is_first
            && (!id::is_running_and_ready(pod)
                || !id::is_running_and_available(pod, min_ready, now))
        {
            out.phases.push(deletions);
            return out;
        }
        deletions.push(Step::DeleteCondemned {
            pod: pod.name_any(),
        });
        if monotonic {
            out.phases.push(deletions);
            return out;
        }
    }
    out.phases.push(deletions);

    // Phase 4: the rolling update, from the highest ordinal down to the
    // partition. (maxUnavailable is behind the MaxUnavailableStatefulSet
    // gate, alpha and off in 1.33: one pod at a time.)
    if id::is_on_delete(set) {
        return out;
    }
    let update_min = id::partition(set).unwrap_or(0).max(0) as usize;
    let mut update = Vec::new();
    for target in (update_min..count).rev() {
        let Some(pod) = slot(target) else { break };
        if id::pod_revision(pod) != inputs.update_revision && !id::is_terminating(pod) {
            update.push(Step::DeleteForUpdate {
                pod: pod.name_any(),
            });
            break;
        }
        if id::is_unavailable(pod, min_ready, now) {
            break;
        }
    }
    out.phases.push(update);
    out
}

/// `newVersionedStatefulSetPod`: whether a new pod at `ordinal` is built at
/// the current revision (below the partition, or, with RollingUpdate and no
/// `rollingUpdate`, among the first `currentReplicas`) rather than the
/// update revision. The grouping is upstream's `a && b || c`.
pub fn new_pod_at_current_revision(set: &StatefulSet, ordinal: i32) -> bool {
    let start = i64::from(id::start_ordinal(set));
    let ordinal = i64::from(ordinal);
    let rolling = !id::is_on_delete(set);
    let current_replicas = set
        .status
        .as_ref()
        .and_then(|s| s.current_replicas)
        .unwrap_or(0);
    match id::partition(set) {
        None => rolling && ordinal < start + i64::from(current_replicas),
        Some(p) => ordinal < start + i64::from(p),
    }
}

/// How `getStatefulSetRevisions` gets the update revision.
#[derive(Debug, PartialEq, Eq)]
pub enum UpdateRevision {
    /// The newest revision already holds the template.
    Latest,
    /// An older revision holds it (a rollback): renumber it to the next
    /// revision number.
    Renumber(usize),
    /// No revision holds it: create one.
    Create,
}

/// Chooses among `sorted` revisions for the `candidate` built from the set.
pub fn choose_update_revision(
    sorted: &[ControllerRevision],
    candidate: &ControllerRevision,
) -> UpdateRevision {
    let last_equal = sorted
        .iter()
        .rposition(|r| history::equal_revision(r, candidate));
    match last_equal {
        Some(i) if i + 1 == sorted.len() => UpdateRevision::Latest,
        Some(i) => UpdateRevision::Renumber(i),
        None => UpdateRevision::Create,
    }
}

/// The replica counts of the status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub replicas: i32,
    pub ready: i32,
    pub available: i32,
    pub current: i32,
    pub updated: i32,
}

/// `computeReplicaStatus` over the pods with an ordinal.
pub fn count(
    pods: &[&Pod],
    min_ready_seconds: i32,
    current_revision: &str,
    update_revision: &str,
    now: Timestamp,
) -> Counts {
    let mut c = Counts::default();
    for pod in pods.iter().filter(|p| id::ordinal(p).is_some()) {
        if id::is_created(pod) {
            c.replicas += 1;
        }
        if id::is_running_and_ready(pod) {
            c.ready += 1;
            if id::is_running_and_available(pod, min_ready_seconds, now) {
                c.available += 1;
            }
        }
        if id::is_created(pod) && !id::is_terminating(pod) {
            let rev = id::pod_revision(pod);
            if rev == current_revision {
                c.current += 1;
            }
            if rev == update_revision {
                c.updated += 1;
            }
        }
    }
    c
}

/// `completeRollingUpdate`: once every wanted replica is updated and ready,
/// the update revision becomes the current one. Returns the current
/// revision and current replica count to report.
pub fn complete_rolling_update(
    set: &StatefulSet,
    counts: &Counts,
    current_revision: &str,
    update_revision: &str,
) -> (String, i32) {
    let want = id::replicas(set);
    if !id::is_on_delete(set)
        && counts.updated == want
        && counts.ready == want
        && counts.replicas == want
    {
        (update_revision.to_string(), counts.updated)
    } else {
        (current_revision.to_string(), counts.current)
    }
}

#[cfg(test)]
mod tests;
