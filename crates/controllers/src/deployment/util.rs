//! The pure decisions of the deployment controller (upstream
//! `pkg/controller/deployment/util/deployment_util.go` and the arithmetic of
//! `rolling.go`, `recreate.go`, `sync.go` and `progress.go`): fenceposts,
//! which ReplicaSet is new, how far to scale which ReplicaSet, revision
//! annotations, which old ReplicaSets to delete, and the status with its
//! `Available` and `Progressing` conditions. Nothing here does I/O, so every
//! rule is unit-tested without a server; `deployment.rs` does the writes.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetCondition,
};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::controller_utils as cu;

/// Label that ties a ReplicaSet and its pods to one template.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Revision annotation on Deployments and ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a ReplicaSet had before an undo made it current again.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// Replicas of the Deployment when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// Replicas plus maxSurge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// The legacy rollback request (extensions/v1beta1 `spec.rollbackTo`, kept
/// as an annotation since apps/v1): roll back to this revision, 0 for the
/// previous one.
pub const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
/// Event reason of a rollback done.
pub const ROLLBACK_DONE: &str = "DeploymentRollback";
/// Warning reason: the revision to roll back to does not exist.
pub const ROLLBACK_REVISION_NOT_FOUND: &str = "DeploymentRollbackRevisionNotFound";
/// Warning reason: the revision has the current template already.
pub const ROLLBACK_TEMPLATE_UNCHANGED: &str = "DeploymentRollbackTemplateUnchanged";
/// kubectl's `last-applied-configuration`, never copied to ReplicaSets.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Upstream caps the revision-history annotation at this many characters.
const MAX_REVISION_HISTORY_CHARS: usize = 2000;

/// Condition type: enough replicas are available (`Available`).
pub const AVAILABLE: &str = "Available";
/// Condition type: the rollout's progress (`Progressing`).
pub const PROGRESSING: &str = "Progressing";
/// Condition type copied from a ReplicaSet that cannot create pods.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";
/// Available=True reason (upstream `MinimumReplicasAvailable`).
pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
/// Available=False reason (upstream `MinimumReplicasUnavailable`).
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
/// Progressing reason: this sync created the new ReplicaSet.
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
/// Progressing reason: a new ReplicaSet existed before any condition.
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
/// Progressing reason: the rollout is complete.
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
/// Progressing reason: the rollout made progress.
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
/// Progressing=False reason (and Warning event) when creating fails.
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
/// Progressing=False reason: no progress within progressDeadlineSeconds.
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
/// Progressing=Unknown reason while paused.
pub const PAUSED: &str = "DeploymentPaused";
/// Progressing=Unknown reason right after a resume.
pub const RESUMED: &str = "DeploymentResumed";

/// `spec.replicas` (defaulted to 1 by the API server).
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `spec.replicas` of a ReplicaSet.
pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

/// `status.replicas` of a ReplicaSet (pods that exist).
pub fn rs_actual(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

/// `status.availableReplicas` of a ReplicaSet.
pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

fn rs_ready(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

/// `IsRollingUpdate`: anything but Recreate rolls.
pub fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        != Some("Recreate")
}

/// `ResolveFenceposts`: (maxSurge, maxUnavailable); surge rounds up,
/// unavailable down, and both zero means one unavailable.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    replicas: i32,
) -> (i32, i32) {
    // Validation admits only ints and percentages; anything else counts as 0.
    let scaled = |v: Option<&IntOrString>, round_up| {
        v.map_or(0, |v| cu::scaled_value(v, replicas, round_up).unwrap_or(0))
    };
    let surge = scaled(max_surge, true);
    let unavailable = scaled(max_unavailable, false);
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

/// (maxSurge, maxUnavailable) as written, with the API defaults of 25%.
fn fenceposts(d: &Deployment) -> (i32, i32) {
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let default = IntOrString::String("25%".into());
    resolve_fenceposts(
        Some(ru.and_then(|r| r.max_surge.as_ref()).unwrap_or(&default)),
        Some(
            ru.and_then(|r| r.max_unavailable.as_ref())
                .unwrap_or(&default),
        ),
        replicas(d),
    )
}

/// `MaxSurge`: 0 for Recreate.
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    fenceposts(d).0
}

/// `MaxUnavailable`: 0 for Recreate or no replicas, and never more than
/// the replicas.
pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling(d) || replicas(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas(d))
}

/// `NewRSNewReplicas` for RollingUpdate: grow the new ReplicaSet as far as
/// maxSurge allows, never past the Deployment's replicas.
pub fn new_rs_new_replicas(
    deployment_replicas: i32,
    max_surge: i32,
    all_replicas: i32,
    new_rs_replicas: i32,
) -> i32 {
    let max_total = deployment_replicas + max_surge;
    if all_replicas >= max_total {
        return new_rs_replicas;
    }
    let up = (max_total - all_replicas).min(deployment_replicas - new_rs_replicas);
    new_rs_replicas + up
}

fn created(rs: &ReplicaSet) -> Option<Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// `ReplicaSetsByCreationTimestamp`: older first, ties by name.
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(a)
        .cmp(&created(b))
        .then_with(|| a.name_any().cmp(&b.name_any()))
}

/// `ReplicaSetsByRevision`: lower revision first, ties by creation.
fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    revision(a)
        .cmp(&revision(b))
        .then_with(|| by_creation(a, b))
}

/// `deploymentutil.Revision`: 0 when absent or unparsable.
pub fn revision(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `MaxRevision` of some ReplicaSets.
pub fn max_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    rss.into_iter().map(revision).max().unwrap_or(0)
}

fn annotation_i32(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.annotations().get(key).and_then(|v| v.parse().ok())
}

/// The template with the pod-template-hash label removed (`EqualIgnoreHash`
/// compares templates so).
fn template_without_hash(t: &PodTemplateSpec) -> serde_json::Value {
    let mut t = t.clone();
    if let Some(m) = t.metadata.as_mut() {
        if let Some(labels) = m.labels.as_mut() {
            labels.remove(POD_TEMPLATE_HASH);
        }
        if m.labels.as_ref().is_some_and(BTreeMap::is_empty) {
            m.labels = None;
        }
        if m.annotations.as_ref().is_some_and(BTreeMap::is_empty) {
            m.annotations = None;
        }
    }
    serde_json::to_value(&t).unwrap_or(serde_json::Value::Null)
}

/// `EqualIgnoreHash`.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    template_without_hash(a) == template_without_hash(b)
}

/// `FindNewReplicaSet`: the oldest ReplicaSet whose template is the
/// Deployment's (an undo brings an old one back rather than a twin).
pub fn find_new_rs(d: &Deployment, rss: &[ReplicaSet]) -> Option<usize> {
    let template = &d.spec.as_ref()?.template;
    let mut order: Vec<usize> = (0..rss.len()).collect();
    order.sort_by(|&a, &b| by_creation(&rss[a], &rss[b]));
    order.into_iter().find(|&i| {
        rss[i]
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .is_some_and(|t| equal_ignore_hash(t, template))
    })
}

/// `isScalingEvent`: an active ReplicaSet was last scaled for another
/// Deployment size.
pub fn is_scaling_event(d: &Deployment, all: &[&ReplicaSet]) -> bool {
    all.iter()
        .filter(|rs| rs_replicas(rs) > 0)
        .filter_map(|rs| annotation_i32(rs, DESIRED_REPLICAS))
        .any(|desired| desired != replicas(d))
}

/// `FindActiveOrLatest`: the one active ReplicaSet, or with none active the
/// new one (else the newest old one); None when several are active.
pub fn find_active_or_latest<'a>(
    new: Option<&'a ReplicaSet>,
    old: &[&'a ReplicaSet],
) -> Option<&'a ReplicaSet> {
    let mut active = old
        .iter()
        .copied()
        .chain(new)
        .filter(|rs| rs_replicas(rs) > 0);
    match (active.next(), active.next()) {
        (Some(one), None) => Some(one),
        (Some(_), Some(_)) => None,
        (None, _) => new.or_else(|| old.iter().copied().max_by(|a, b| by_creation(a, b))),
    }
}

/// `IsSaturated`: the new ReplicaSet runs all replicas, all available.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else {
        return false;
    };
    let want = replicas(d);
    rs_replicas(rs) == want
        && annotation_i32(rs, DESIRED_REPLICAS) == Some(want)
        && rs_available(rs) == want
}

/// `getReplicaSetFraction`: how many replicas this ReplicaSet gains (or
/// loses) when the Deployment's size changes, in proportion to its share of
/// the size it was last scaled for.
fn replica_set_fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    let want = replicas(d);
    if want == 0 {
        return -rs_replicas(rs);
    }
    let max_now = want + max_surge(d);
    let before = match annotation_i32(rs, MAX_REPLICAS) {
        Some(v) if v != 0 => v,
        // No annotation (edited away, or created at size 0): fall back to
        // the Deployment's current size; getProportion keeps us in bounds.
        _ => d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0),
    };
    if before == 0 {
        return 0;
    }
    let size = f64::from(rs_replicas(rs)) * f64::from(max_now) / f64::from(before);
    // integer.RoundToInt32 rounds half away from zero, as f64::round does.
    size.round() as i32 - rs_replicas(rs)
}

/// `GetProportion`: the fraction, bounded by what is left to add or remove.
fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = replica_set_fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// The rolling part of upstream `scale()`: new sizes for the active
/// ReplicaSets when the Deployment is resized in the middle of a rollout,
/// as (index into `active`, size). Bigger ReplicaSets go first; between
/// equal sizes newer ones grow first and older ones shrink first; rounding
/// leftovers go to the first.
pub fn proportional_sizes(d: &Deployment, active: &[&ReplicaSet]) -> Vec<(usize, i32)> {
    let total: i32 = active.iter().map(|rs| rs_replicas(rs)).sum();
    let allowed = if replicas(d) > 0 {
        replicas(d) + max_surge(d)
    } else {
        0
    };
    let to_add = allowed - total;
    let mut order: Vec<usize> = (0..active.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (active[a], active[b]);
        rs_replicas(rb)
            .cmp(&rs_replicas(ra))
            .then_with(|| match to_add.cmp(&0) {
                Ordering::Greater => by_creation(rb, ra),
                Ordering::Less => by_creation(ra, rb),
                Ordering::Equal => Ordering::Equal,
            })
    });
    let mut added = 0;
    let mut sizes: Vec<(usize, i32)> = Vec::with_capacity(order.len());
    for &i in &order {
        let p = proportion(active[i], d, to_add, added);
        sizes.push((i, rs_replicas(active[i]) + p));
        added += p;
    }
    if to_add != 0
        && let Some((_, first)) = sizes.first_mut()
    {
        *first = (*first + to_add - added).max(0);
    }
    sizes
}

/// Whether a ReplicaSet's replica annotations differ from
/// (`desired`, `max`) (`ReplicasAnnotationsNeedUpdate`).
pub fn replica_annotations_stale(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    rs.annotations().get(DESIRED_REPLICAS) != Some(&desired.to_string())
        || rs.annotations().get(MAX_REPLICAS) != Some(&max.to_string())
}

/// Annotations a Deployment passes to its ReplicaSets: all but kubectl's
/// last-applied configuration and the controller's own bookkeeping.
fn copied_annotation(key: &str) -> bool {
    ![
        LAST_APPLIED,
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        ROLLBACK_TO,
    ]
    .contains(&key)
}

/// `getRollbackTo`: the revision the legacy annotation asks for; a value
/// that is not a number is ignored, as upstream ignores it.
pub fn rollback_to(d: &Deployment) -> Option<i64> {
    d.annotations().get(ROLLBACK_TO)?.parse().ok()
}

/// `LastRevision`: the second-highest revision, the one before the current.
pub fn last_revision(rss: &[&ReplicaSet]) -> i64 {
    let (mut max, mut second) = (0, 0);
    for rs in rss {
        let v = revision(rs);
        if v >= max {
            second = max;
            max = v;
        } else if v > second {
            second = v;
        }
    }
    second
}

/// `SetFromReplicaSetTemplate` + `SetDeploymentAnnotationsTo`: the
/// Deployment with `rs`'s template (without the hash label) and its
/// annotations replaced by `rs`'s, keeping only the Deployment's own
/// bookkeeping ones; the rollback request itself is cleared.
pub fn rolled_back(d: &Deployment, rs: &ReplicaSet) -> Deployment {
    let mut out = d.clone();
    if let (Some(spec), Some(template)) = (
        out.spec.as_mut(),
        rs.spec.as_ref().and_then(|s| s.template.as_ref()),
    ) {
        let mut template = template.clone();
        if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(POD_TEMPLATE_HASH);
        }
        spec.template = template;
    }
    let mut ann: BTreeMap<String, String> = d
        .annotations()
        .iter()
        .filter(|(k, _)| !copied_annotation(k) && k.as_str() != ROLLBACK_TO)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in rs.annotations() {
        if copied_annotation(k) {
            ann.insert(k.clone(), v.clone());
        }
    }
    out.metadata.annotations = Some(ann);
    out
}

/// `SetNewReplicaSetAnnotations`: the new ReplicaSet's annotations given the
/// next revision: the Deployment's annotations copied over, the revision
/// raised to `new_revision` when lower (keeping the earlier one in the
/// revision history, capped at 2000 characters), and for a ReplicaSet about
/// to be created the replica annotations. Returns None when nothing changes.
pub fn new_rs_annotations(
    d: &Deployment,
    current: &BTreeMap<String, String>,
    new_revision: i64,
    exists: bool,
) -> Option<BTreeMap<String, String>> {
    let mut ann = current.clone();
    for (k, v) in d.annotations() {
        if copied_annotation(k) && ann.get(k) != Some(v) {
            ann.insert(k.clone(), v.clone());
        }
    }
    let old = current.get(REVISION);
    let old_revision = match old {
        None => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n,
            // Upstream leaves a ReplicaSet with a garbled revision alone.
            Err(_) => return (ann != *current).then_some(ann),
        },
    };
    if old_revision < new_revision {
        ann.insert(REVISION.into(), new_revision.to_string());
        if let Some(old) = old {
            // An undo made this old ReplicaSet current again: remember the
            // revision it had, dropping the oldest entries past the cap.
            let history = current.get(REVISION_HISTORY).map(String::as_str);
            let mut entries: Vec<&str> = match history {
                Some(h) if !h.is_empty() => h.split(',').collect(),
                _ => Vec::new(),
            };
            let mut len = history.map_or(0, str::len) + old.len() + 1;
            while len > MAX_REVISION_HISTORY_CHARS && !entries.is_empty() {
                len -= entries.remove(0).len() + 1;
            }
            if len <= MAX_REVISION_HISTORY_CHARS {
                entries.push(old);
                ann.insert(REVISION_HISTORY.into(), entries.join(","));
            }
        }
    }
    if !exists {
        ann.insert(DESIRED_REPLICAS.into(), replicas(d).to_string());
        ann.insert(
            MAX_REPLICAS.into(),
            (replicas(d) + max_surge(d)).to_string(),
        );
    }
    (ann != *current).then_some(ann)
}

/// `cleanupDeployment`: names of old ReplicaSets to delete so that at most
/// `revisionHistoryLimit` remain, lowest revisions first; a ReplicaSet that
/// still has (or may still have) pods is kept even when over the limit.
pub fn cleanup_victims(d: &Deployment, old: &[&ReplicaSet]) -> Vec<String> {
    let Some(limit) = d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
        return Vec::new();
    };
    if limit == i32::MAX {
        return Vec::new();
    }
    let mut alive: Vec<&ReplicaSet> = old
        .iter()
        .copied()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .collect();
    let excess = alive.len() as i64 - i64::from(limit.max(0));
    if excess <= 0 {
        return Vec::new();
    }
    alive.sort_by(|a, b| by_revision(a, b));
    alive
        .iter()
        .take(excess as usize)
        .filter(|rs| {
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            rs_actual(rs) == 0
                && rs_replicas(rs) == 0
                && rs.metadata.generation.unwrap_or(0) <= observed
        })
        .map(|rs| rs.name_any())
        .collect()
}

/// `oldPodsRunning` for Recreate: old ReplicaSets still report pods, or a
/// pod of theirs is not terminal (Unknown counts as running).
pub fn old_pods_running<'a>(
    old: &[&ReplicaSet],
    old_pods: impl IntoIterator<Item = &'a Pod>,
) -> bool {
    if old.iter().map(|rs| rs_actual(rs)).sum::<i32>() > 0 {
        return true;
    }
    old_pods.into_iter().any(|p| {
        !matches!(
            p.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
    })
}

/// The current time at the resolution the API stores.
pub fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `NewDeploymentCondition`.
pub fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// `GetDeploymentCondition`.
pub fn get_condition<'a>(
    status: Option<&'a DeploymentStatus>,
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    status?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// `SetDeploymentCondition`: no change when status and reason are the same;
/// the transition time stays when only the reason changes.
pub fn set_condition(status: &mut DeploymentStatus, mut c: DeploymentCondition) {
    let conds = status.conditions.get_or_insert_with(Vec::new);
    if let Some(cur) = conds.iter().find(|x| x.type_ == c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
        if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time.clone();
        }
    }
    conds.retain(|x| x.type_ != c.type_);
    conds.push(c);
}

/// `RemoveDeploymentCondition`.
pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conds) = status.conditions.as_mut() {
        conds.retain(|x| x.type_ != type_);
    }
}

/// `HasProgressDeadline`: set and not "infinite".
pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .is_some_and(|p| p != i32::MAX)
}

fn deadline(d: &Deployment) -> i64 {
    i64::from(
        d.spec
            .as_ref()
            .and_then(|s| s.progress_deadline_seconds)
            .unwrap_or(0),
    )
}

/// `checkPausedConditions`: the Progressing condition to record when the
/// Deployment was paused or resumed, if any. A reported time-out stays.
pub fn paused_condition(d: &Deployment, now: Timestamp) -> Option<DeploymentCondition> {
    if !has_progress_deadline(d) {
        return None;
    }
    let cur = get_condition(d.status.as_ref(), PROGRESSING);
    let reason = cur.and_then(|c| c.reason.as_deref());
    if reason == Some(TIMED_OUT) {
        return None;
    }
    let paused = d.spec.as_ref().and_then(|s| s.paused) == Some(true);
    let was_paused = reason == Some(PAUSED);
    if paused && !was_paused {
        Some(condition(
            PROGRESSING,
            "Unknown",
            PAUSED,
            "Deployment is paused".into(),
            now,
        ))
    } else if !paused && was_paused {
        Some(condition(
            PROGRESSING,
            "Unknown",
            RESUMED,
            "Deployment is resumed".into(),
            now,
        ))
    } else {
        None
    }
}

fn non_zero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// `calculateStatus`: counts from the ReplicaSets and the `Available`
/// condition; other conditions are carried over from `d`.
pub fn calculate_status(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let available: i32 = all.iter().map(|rs| rs_available(rs)).sum();
    let total: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
    let old = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: non_zero(all.iter().map(|rs| rs_actual(rs)).sum()),
        updated_replicas: non_zero(new.map_or(0, rs_actual)),
        ready_replicas: non_zero(all.iter().map(|rs| rs_ready(rs)).sum()),
        available_replicas: non_zero(available),
        // Negative while scaling down with more available than desired.
        unavailable_replicas: non_zero((total - available).max(0)),
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
        terminating_replicas: None,
    };
    if available >= replicas(d) - max_unavailable(d) {
        set_condition(
            &mut status,
            condition(
                AVAILABLE,
                "True",
                MINIMUM_REPLICAS_AVAILABLE,
                "Deployment has minimum availability.".into(),
                now,
            ),
        );
    } else {
        set_condition(
            &mut status,
            condition(
                AVAILABLE,
                "False",
                MINIMUM_REPLICAS_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
                now,
            ),
        );
    }
    status
}

fn count(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// `DeploymentComplete`: every replica updated and available, and the
/// latest spec observed.
pub fn deployment_complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let want = replicas(d);
    count(s.updated_replicas) == want
        && count(s.replicas) == want
        && count(s.available_replicas) == want
        && s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// `DeploymentProgressing`: more updated, ready or available replicas, or
/// fewer old ones, than the recorded status says.
fn deployment_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = count(old.replicas) - count(old.updated_replicas);
    let new_old = count(new.replicas) - count(new.updated_replicas);
    count(new.updated_replicas) > count(old.updated_replicas)
        || new_old < old_old
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
}

fn last_update(c: &DeploymentCondition) -> Option<Timestamp> {
    c.last_update_time.as_ref().map(|t| t.0)
}

/// `DeploymentTimedOut`: no progress reported for progressDeadlineSeconds.
fn deployment_timed_out(d: &Deployment, s: &DeploymentStatus, now: Timestamp) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(c) = get_condition(Some(s), PROGRESSING) else {
        return false;
    };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => last_update(c).is_some_and(|t| t.as_second() + deadline(d) < now.as_second()),
    }
}

/// The `ReplicaFailure` condition of the new ReplicaSet, else of any.
fn replica_failure(all: &[&ReplicaSet], new: Option<&ReplicaSet>) -> Option<DeploymentCondition> {
    let failure = |rs: &ReplicaSet| -> Option<ReplicaSetCondition> {
        rs.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == REPLICA_FAILURE)
            .cloned()
    };
    let c = new
        .and_then(failure)
        .or_else(|| all.iter().find_map(|rs| failure(rs)))?;
    Some(DeploymentCondition {
        type_: c.type_,
        status: c.status,
        reason: c.reason,
        message: c.message,
        last_update_time: c.last_transition_time.clone(),
        last_transition_time: c.last_transition_time,
    })
}

/// `syncRolloutStatus` without the write: the status with the Progressing
/// condition advanced (complete, progressing, or timed out) and replica
/// failures carried over from the ReplicaSets.
pub fn rollout_status(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let mut s = calculate_status(d, all, new, now);
    if !has_progress_deadline(d) {
        remove_condition(&mut s, PROGRESSING);
    }
    let cur = get_condition(d.status.as_ref(), PROGRESSING);
    // A resync of a finished rollout estimates no progress.
    let finished = count(s.replicas) == count(s.updated_replicas)
        && cur.is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
    if has_progress_deadline(d) && !finished {
        let subject = |what: &str| match new {
            Some(rs) => format!("ReplicaSet \"{}\" {what}", rs.name_any()),
            None => format!("Deployment \"{}\" {what}", d.name_any()),
        };
        if deployment_complete(d, &s) {
            set_condition(
                &mut s,
                condition(
                    PROGRESSING,
                    "True",
                    NEW_RS_AVAILABLE,
                    subject("has successfully progressed."),
                    now,
                ),
            );
        } else if deployment_progressing(d, &s) {
            // Progress moves lastUpdateTime even with the same reason, and
            // keeps the transition time of a condition that was True.
            let mut c = condition(
                PROGRESSING,
                "True",
                RS_UPDATED,
                subject("is progressing."),
                now,
            );
            if let Some(cur) = cur {
                if cur.status == "True" {
                    c.last_transition_time = cur.last_transition_time.clone();
                }
                remove_condition(&mut s, PROGRESSING);
            }
            set_condition(&mut s, c);
        } else if deployment_timed_out(d, &s, now) {
            set_condition(
                &mut s,
                condition(
                    PROGRESSING,
                    "False",
                    TIMED_OUT,
                    subject("has timed out progressing."),
                    now,
                ),
            );
        }
    }
    match replica_failure(all, new) {
        Some(c) => set_condition(&mut s, c),
        None => remove_condition(&mut s, REPLICA_FAILURE),
    }
    s
}

/// `requeueStuckDeployment`: when to look again for a rollout that shows no
/// progress, so that a missed deadline is reported without another event.
pub fn requeue_stuck(d: &Deployment, s: &DeploymentStatus, now: Timestamp) -> Option<Duration> {
    let cur = get_condition(d.status.as_ref(), PROGRESSING)?;
    if !has_progress_deadline(d)
        || deployment_complete(d, s)
        || cur.reason.as_deref() == Some(TIMED_OUT)
    {
        return None;
    }
    let due = last_update(cur)?.as_second() + deadline(d);
    // The deadline passes strictly after `due`; look a little later.
    let left_ms = (due - now.as_second()) * 1000 + 100;
    Some(Duration::from_millis(left_ms.max(100) as u64))
}

/// Whether two statuses say the same (zero and absent counts are equal),
/// so that an unchanged status is not written again.
pub fn same_status(a: Option<&DeploymentStatus>, b: &DeploymentStatus) -> bool {
    let a = a.cloned().unwrap_or_default();
    let nums = |s: &DeploymentStatus| {
        (
            s.observed_generation.unwrap_or(0),
            count(s.replicas),
            count(s.updated_replicas),
            count(s.ready_replicas),
            count(s.available_replicas),
            count(s.unavailable_replicas),
            s.collision_count,
        )
    };
    nums(&a) == nums(b)
        && a.conditions.unwrap_or_default() == b.conditions.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests;
