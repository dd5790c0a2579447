//! The Job controller (upstream `pkg/controller/job`): runs pods from a Job's
//! template until `completions` of them succeed (NonIndexed) or every index
//! below `completions` succeeded (Indexed), at most `parallelism` at a time.
//!
//! Pods carry the `batch.kubernetes.io/job-tracking` finalizer: a finished pod
//! is first recorded in `status.uncountedTerminatedPods`, then its finalizer
//! is removed, then it moves into the `succeeded`/`failed` counters, so a pod
//! deleted right after finishing is still counted exactly once. Failures
//! count against `backoffLimit` (after the pod failure policy), replacements
//! wait out an exponential back-off, `activeDeadlineSeconds` and `suspend`
//! are honoured, and the terminal conditions follow v1.33: `FailureTarget` or
//! `SuccessCriteriaMet` first, `Failed` or `Complete` once no pod is left
//! terminating.
//!
//! Indexed Jobs may instead limit failures per index
//! (`backoffLimitPerIndex`, with `maxFailedIndexes` and the `FailIndex`
//! action of the pod failure policy): failed indexes go to
//! `status.failedIndexes`, each index waits out its own back-off, and the
//! Job fails once the other indexes finished (`FailedIndexes`) or at once
//! when too many indexes failed (`MaxFailedIndexesExceeded`). A
//! `successPolicy` ends an Indexed Job successfully as soon as one of its
//! rules is met.
//!
//! Owns: the Job's pods and status. Does not own: deleting finished Jobs
//! (`ttl_after_finished`), creating Jobs on a schedule (`cronjob`).

pub mod failure;
pub mod indexes;
pub mod success_policy;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use self::failure::{BackoffRecord, BackoffStore};
use self::indexes::{COMPLETION_INDEX, Intervals};
use crate::controller_utils::{self as cu, Expectations};
use crate::events::{EventType, Recorder};
use crate::informer::{Informer, Informers};
use crate::{ApiContext, Error, Result};

/// Finalizer that keeps a finished pod until the Job counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// Upstream `MaxUncountedPods`: finished pods recorded per status write.
const MAX_UNCOUNTED_PODS: usize = 500;
/// Upstream `MaxPodCreateDeletePerSync`.
const MAX_POD_CREATE_DELETE_PER_SYNC: usize = 500;
/// The value of `spec.managedBy` that means this controller.
const JOB_CONTROLLER_NAME: &str = "kubernetes.io/job-controller";

/// Reasons of terminal conditions, as upstream names them.
pub mod reason {
    pub const BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
    pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
    pub const POD_FAILURE_POLICY: &str = "PodFailurePolicy";
    pub const COMPLETIONS_REACHED: &str = "CompletionsReached";
    pub const FAILED_INDEXES: &str = "FailedIndexes";
    pub const MAX_FAILED_INDEXES_EXCEEDED: &str = "MaxFailedIndexesExceeded";
    pub const SUCCESS_POLICY: &str = "SuccessPolicy";
}

struct Ctx {
    client: Client,
    pods: Informer<Pod>,
    jobs: Informer<Job>,
    expectations: Expectations,
    finalizers: FinalizerExpectations,
    written: WrittenStatus,
    backoff: BackoffStore,
    recorder: Recorder,
    orphans: UnboundedSender<(String, String)>,
}

/// The resourceVersion of the last status this controller wrote, by Job key.
///
/// The Job cache can lag behind our own writes while the pod cache has
/// already caught up: a sync that sees a pod's tracking finalizer gone (so
/// no longer counts it from the pod) but a status from before the write that
/// counted it would undercount the succeeded pods and create a pod too many.
/// A sync waits until the cache shows at least what we wrote.
#[derive(Default)]
struct WrittenStatus(Mutex<HashMap<String, u64>>);

impl WrittenStatus {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, key: &str, written: &Job) {
        if let Some(rv) = written.resource_version().and_then(|v| v.parse().ok()) {
            self.lock().insert(key.to_string(), rv);
        }
    }

    fn cache_is_stale(&self, key: &str, cached: &Job) -> bool {
        is_older(
            cached.resource_version().as_deref(),
            self.lock().get(key).copied(),
        )
    }

    fn forget(&self, key: &str) {
        self.lock().remove(key);
    }
}

/// Whether a cached object predates a write we made (`written`). Resource
/// versions are opaque to clients in general; this API server's are the
/// store revision (etcd's), which orders writes. A version that is not a
/// number is never called stale.
pub fn is_older(cached: Option<&str>, written: Option<u64>) -> bool {
    match (cached.and_then(|v| v.parse::<u64>().ok()), written) {
        (Some(c), Some(w)) => c < w,
        _ => false,
    }
}

/// Pods whose finalizer removal was sent but not yet observed, by Job key
/// (upstream `uidTrackingExpectations`): they must not be counted twice.
#[derive(Default)]
struct FinalizerExpectations(Mutex<HashMap<String, HashSet<String>>>);

impl FinalizerExpectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expect(&self, key: &str, uids: impl IntoIterator<Item = String>) {
        self.lock().entry(key.to_string()).or_default().extend(uids);
    }

    fn observed(&self, key: &str, uid: &str) {
        if let Some(s) = self.lock().get_mut(key) {
            s.remove(uid);
        }
    }

    /// The pending uids of `key`, dropping those `done` says were observed.
    fn pending(&self, key: &str, done: impl Fn(&str) -> bool) -> HashSet<String> {
        let mut m = self.lock();
        let Some(s) = m.get_mut(key) else {
            return HashSet::new();
        };
        s.retain(|uid| !done(uid));
        s.clone()
    }

    fn forget(&self, key: &str) {
        self.lock().remove(key);
    }
}

fn job_key(job: &Job) -> String {
    format!(
        "{}/{}/{}",
        job.namespace().unwrap_or_default(),
        job.name_any(),
        job.uid().unwrap_or_default()
    )
}

/// Runs the controller until its watches fail.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let pods = informers.of::<Pod>();
    let jobs = informers.of::<Job>();
    pods.synced().await;
    let (orphans, orphan_rx) = unbounded_channel();
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), "job-controller"),
        client,
        pods: pods.clone(),
        jobs: jobs.clone(),
        expectations: Expectations::default(),
        finalizers: FinalizerExpectations::default(),
        written: WrittenStatus::default(),
        backoff: BackoffStore::default(),
        orphans,
    });
    let cleaner = tokio::spawn(clean_orphan_pods(ctx.clone(), orphan_rx));
    let _cleaner = AbortOnDrop(cleaner.abort_handle());
    let mapper_ctx = ctx.clone();
    Controller::for_shared_stream(jobs.subscribe(), jobs.store())
        .watches_shared_stream(pods.subscribe(), move |pod: Arc<Pod>| {
            pod_jobs(&pod, &mapper_ctx)
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.finalizers().iter().any(|f| f == TRACKING_FINALIZER)
}

fn is_job_ref(r: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference) -> bool {
    r.kind == "Job" && r.api_version == "batch/v1"
}

/// Which Jobs a pod event concerns (its controller, or for an orphan the
/// Jobs that could adopt it), and whether an orphaned or leftover pod needs
/// its tracking finalizer removed (upstream `enqueueOrphanPod`).
fn pod_jobs(pod: &Pod, ctx: &Ctx) -> Vec<ObjectRef<Job>> {
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    ctx.expectations.observe(&ns, &name);
    match cu::controller_ref(pod.metadata.owner_references.as_ref()) {
        Some(r) if is_job_ref(r) => {
            let job = ctx
                .jobs
                .get(&ns, &r.name)
                .filter(|j| j.uid().as_deref() == Some(r.uid.as_str()));
            if (!has_tracking_finalizer(pod) || pod.metadata.deletion_timestamp.is_some())
                && let Some(j) = &job
            {
                ctx.finalizers
                    .observed(&job_key(j), &pod.uid().unwrap_or_default());
            }
            if has_tracking_finalizer(pod) && job.as_ref().is_none_or(|j| is_finished(j)) {
                let _ = ctx.orphans.send((ns.clone(), name));
            }
            vec![ObjectRef::new(&r.name).within(&ns)]
        }
        Some(_) => vec![],
        None => {
            if has_tracking_finalizer(pod) {
                let _ = ctx.orphans.send((ns.clone(), name));
            }
            let labels = pod.labels();
            ctx.jobs
                .in_namespace(&ns)
                .iter()
                .filter(|j| !is_finished(j))
                .filter(|j| {
                    selector(j).is_some_and(|s| {
                        !cu::selector_is_empty(s) && cu::selector_matches(s, labels)
                    })
                })
                .map(|j| ObjectRef::from_obj(j.as_ref()))
                .collect()
        }
    }
}

/// `syncOrphanPod`: removes the tracking finalizer from pods whose Job is
/// gone, finished, or that have no Job at all.
async fn clean_orphan_pods(ctx: Arc<Ctx>, mut rx: UnboundedReceiver<(String, String)>) {
    ctx.jobs.synced().await;
    while let Some((ns, name)) = rx.recv().await {
        let Some(pod) = ctx.pods.get(&ns, &name) else {
            continue;
        };
        if !has_tracking_finalizer(&pod) {
            continue;
        }
        if let Some(r) = cu::controller_ref(pod.metadata.owner_references.as_ref()) {
            if !is_job_ref(r) {
                continue;
            }
            let cached = ctx.jobs.get(&ns, &r.name).map(|j| (*j).clone());
            // The cache may lag behind a Job created a moment ago: ask.
            let job = match cached {
                Some(j) => Some(j),
                None => match Api::<Job>::namespaced(ctx.client.clone(), &ns)
                    .get_opt(&r.name)
                    .await
                {
                    Ok(j) => j,
                    Err(e) => {
                        tracing::warn!(pod = %name, namespace = %ns, error = %e, "failed to read the job of a pod");
                        requeue_orphan(&ctx, ns, name);
                        continue;
                    }
                },
            };
            let job = job.filter(|j| j.uid().as_deref() == Some(r.uid.as_str()));
            if job.is_some_and(|j| !is_finished(&j)) {
                continue;
            }
        }
        if let Err(e) = remove_tracking_finalizer(&ctx.client, &pod).await {
            tracing::warn!(pod = %name, namespace = %ns, error = %crate::error_chain(&e), "failed to remove the job tracking finalizer");
            requeue_orphan(&ctx, ns, name);
        }
    }
}

fn requeue_orphan(ctx: &Arc<Ctx>, ns: String, name: String) {
    let tx = ctx.orphans.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = tx.send((ns, name));
    });
}

/// Removes the tracking finalizer, as upstream with a strategic merge patch
/// that deletes just that entry. A pod already gone counts as done.
async fn remove_tracking_finalizer(client: &Client, pod: &Pod) -> Result<()> {
    let ns = pod.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}});
    match api
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if crate::is_not_found(&e) => Ok(()),
        Err(e) => Err(e).ctx(|| {
            format!(
                "remove the tracking finalizer of pod {ns}/{}",
                pod.name_any()
            )
        }),
    }
}

fn error_policy(job: Arc<Job>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(job = %job.name_any(), error = %crate::error_chain(e), "sync failed");
    // A lost compare-and-swap on the status is retried at once.
    if let Error::Api { source, .. } = e
        && crate::is_conflict(source)
    {
        return Action::requeue(Duration::from_millis(100));
    }
    Action::requeue(Duration::from_secs(5))
}

fn selector(job: &Job) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector> {
    job.spec.as_ref()?.selector.as_ref()
}

fn condition<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn condition_true(job: &Job, type_: &str) -> bool {
    condition(job, type_).is_some_and(|c| c.status == "True")
}

/// `IsJobFinished`: `Complete` or `Failed` is true.
pub fn is_finished(job: &Job) -> bool {
    condition_true(job, "Complete") || condition_true(job, "Failed")
}

fn is_suspended(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.suspend) == Some(true)
}

fn is_indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

fn completions(job: &Job) -> Option<i32> {
    job.spec.as_ref()?.completions
}

/// `hasBackoffLimitPerIndex`: the per-index limit, when set (validation
/// allows it on Indexed Jobs only).
fn backoff_limit_per_index(job: &Job) -> Option<i32> {
    job.spec.as_ref()?.backoff_limit_per_index
}

fn phase(p: &Pod) -> Option<&str> {
    p.status.as_ref()?.phase.as_deref()
}

/// A condition as upstream's `newCondition` makes it.
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> JobCondition {
    JobCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()).filter(|r: &String| !r.is_empty()),
        message: Some(message.into()).filter(|m: &String| !m.is_empty()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// `ensureJobConditionStatus`: sets a condition, never adding one that is
/// False; true when the list changed.
pub fn ensure_condition(
    list: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    if let Some(c) = list.iter_mut().find(|c| c.type_ == type_) {
        let same = c.status == status
            && c.reason.as_deref().unwrap_or_default() == reason
            && c.message.as_deref().unwrap_or_default() == message;
        if same {
            return false;
        }
        *c = new_condition(type_, status, reason, message, now);
        return true;
    }
    if status != "False" {
        list.push(new_condition(type_, status, reason, message, now));
        return true;
    }
    false
}

/// How many pods should be active (`manageJob`'s `wantActive`).
pub fn want_active(completions: Option<i32>, parallelism: i32, succeeded: i32, active: i32) -> i32 {
    match completions {
        // Without completions, any success ends the job: let running pods
        // finish but start no more.
        None if succeeded > 0 => active,
        None => parallelism,
        Some(c) => (c - succeeded).min(parallelism).max(0),
    }
}

/// Whether the counters say the job succeeded.
pub fn counts_complete(completions: Option<i32>, succeeded: i32, active: i32) -> bool {
    match completions {
        None => succeeded > 0 && active == 0,
        Some(c) => succeeded >= c && active == 0,
    }
}

/// Why a running job must fail now, judged from its counters and clock
/// (`backoffLimit`, restarts under `OnFailure`, `activeDeadlineSeconds`),
/// or how long until the deadline when it runs on.
pub fn failure_by_limits(
    job: &Job,
    failed: i32,
    pods: &[&Pod],
    now: Timestamp,
) -> (Option<(&'static str, &'static str)>, Option<Duration>) {
    let spec = job.spec.as_ref();
    // The API server defaults backoffLimit (to MaxInt32 when failures are
    // limited per index); the same defaults apply should it be missing.
    let default_limit = if backoff_limit_per_index(job).is_some() {
        i32::MAX
    } else {
        6
    };
    let backoff_limit = spec.and_then(|s| s.backoff_limit).unwrap_or(default_limit);
    if failed > backoff_limit || failure::past_backoff_limit_on_failure(job, pods) {
        return (
            Some((
                reason::BACKOFF_LIMIT_EXCEEDED,
                "Job has reached the specified backoff limit",
            )),
            None,
        );
    }
    let deadline = spec.and_then(|s| s.active_deadline_seconds);
    let start = job
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0);
    if let (Some(deadline), Some(start), false) = (deadline, start, is_suspended(job)) {
        let elapsed_ms = now.as_millisecond() - start.as_millisecond();
        let allowed_ms = deadline.saturating_mul(1000);
        if elapsed_ms >= allowed_ms {
            return (
                Some((
                    reason::DEADLINE_EXCEEDED,
                    "Job was active longer than specified deadline",
                )),
                None,
            );
        }
        return (
            None,
            Some(Duration::from_millis((allowed_ms - elapsed_ms) as u64)),
        );
    }
    (None, None)
}

/// The uncounted uids as sets.
struct Uncounted {
    succeeded: HashSet<String>,
    failed: HashSet<String>,
}

impl Uncounted {
    fn of(status: &JobStatus) -> Uncounted {
        let u = status.uncounted_terminated_pods.as_ref();
        let set = |v: Option<&Vec<String>>| v.into_iter().flatten().cloned().collect();
        Uncounted {
            succeeded: set(u.and_then(|u| u.succeeded.as_ref())),
            failed: set(u.and_then(|u| u.failed.as_ref())),
        }
    }
}

/// `cleanUncountedPodsWithoutFinalizers`: uids whose pods lost their
/// finalizer move from the uncounted lists into the counters. True when the
/// status changed.
pub fn clean_uncounted(status: &mut JobStatus, with_finalizer: &HashSet<String>) -> bool {
    let u = status
        .uncounted_terminated_pods
        .get_or_insert_with(Default::default);
    let mut changed = false;
    let moved = |list: &mut Option<Vec<String>>| -> i32 {
        let before = list.as_ref().map_or(0, Vec::len);
        if let Some(l) = list.as_mut() {
            l.retain(|uid| with_finalizer.contains(uid));
        }
        let after = list.as_ref().map_or(0, Vec::len);
        if after == 0 {
            *list = None;
        }
        (before - after) as i32
    };
    let s = moved(&mut u.succeeded);
    let f = moved(&mut u.failed);
    if s > 0 {
        status.succeeded = Some(status.succeeded.unwrap_or(0) + s);
        changed = true;
    }
    if f > 0 {
        status.failed = Some(status.failed.unwrap_or(0) + f);
        changed = true;
    }
    changed
}

/// What one sync knows (upstream `syncJobCtx`).
struct SyncCtx {
    key: String,
    pods: Vec<Arc<Pod>>,
    active: Vec<Arc<Pod>>,
    ready: i32,
    terminating: i32,
    succeeded: i32,
    uncounted: Uncounted,
    expected_rm: HashSet<String>,
    finished: Option<JobCondition>,
    prev_succeeded_indexes: Intervals,
    succeeded_indexes: Intervals,
    /// With `backoffLimitPerIndex`: the failed indexes, recorded ones and new.
    failed_indexes: Option<Intervals>,
    /// With `backoffLimitPerIndex`: by index, the failed pod whose finalizer
    /// stays until its replacement exists.
    delayed: BTreeMap<usize, Arc<Pod>>,
    backoff: BackoffRecord,
    requeue: Option<Duration>,
}

fn min_requeue(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

async fn reconcile(shared: Arc<Job>, ctx: Arc<Ctx>) -> Result<Action> {
    let key = job_key(&shared);
    if is_finished(&shared) {
        ctx.backoff.remove(&key);
        ctx.finalizers.forget(&key);
        ctx.written.forget(&key);
        return Ok(Action::await_change());
    }
    if ctx.written.cache_is_stale(&key, &shared) {
        // The watch event of our own write re-syncs; the requeue is a
        // fallback should that event be missed.
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let spec = shared.spec.as_ref();
    if spec
        .and_then(|s| s.managed_by.as_deref())
        .is_some_and(|m| m != JOB_CONTROLLER_NAME)
    {
        return Ok(Action::await_change());
    }
    if !matches!(
        spec.and_then(|s| s.completion_mode.as_deref()),
        None | Some("NonIndexed" | "Indexed")
    ) {
        ctx.recorder
            .record(
                shared.as_ref(),
                EventType::Warning,
                "UnknownCompletionMode",
                "Skipped Job sync because completion mode is unknown".into(),
            )
            .await;
        return Ok(Action::await_change());
    }
    let mut job = (*shared).clone();
    let status = job.status.get_or_insert_with(Default::default);
    status
        .uncounted_terminated_pods
        .get_or_insert_with(Default::default);
    let ns = job.namespace().unwrap_or_default();
    let now = Timestamp::now();

    // Expectations first: a pod that enters the cache after this check only
    // defers the sync to its own event.
    let present = |n: &str| ctx.pods.get(&ns, n).is_some();
    let gone = |n: &str| {
        ctx.pods
            .get(&ns, n)
            .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
    };
    let satisfied = ctx.expectations.satisfied(&key, present, gone);
    let pods = claim_pods(&ctx, &job).await?;
    let by_uid: HashMap<String, &Arc<Pod>> = pods
        .iter()
        .map(|p| (p.uid().unwrap_or_default(), p))
        .collect();
    let expected_rm = ctx.finalizers.pending(&key, |uid| {
        by_uid.get(uid).is_none_or(|p| !has_tracking_finalizer(p))
    });
    let active: Vec<Arc<Pod>> = pods
        .iter()
        .filter(|p| cu::is_pod_active(p))
        .cloned()
        .collect();
    let ready = active.iter().filter(|p| cu::is_pod_ready(p)).count() as i32;
    let terminating = pods.iter().filter(|p| cu::is_pod_terminating(p)).count() as i32;
    let status = job.status.clone().unwrap_or_default();
    let uncounted = Uncounted::of(&status);
    let policy = job.spec.as_ref().and_then(|s| s.pod_failure_policy.clone());

    // Finished pods not yet recorded anywhere.
    let n_completions = completions(&job).unwrap_or(0).max(0) as usize;
    let fresh = |p: &&Arc<Pod>, uncounted: &HashSet<String>| {
        let uid = p.uid().unwrap_or_default();
        has_tracking_finalizer(p)
            && !uncounted.contains(&uid)
            && !expected_rm.contains(&uid)
            && (!is_indexed(&job)
                || indexes::completion_index(p).is_some_and(|i| i < n_completions))
    };
    let new_succeeded: Vec<&Pod> = pods
        .iter()
        .filter(|p| fresh(p, &uncounted.succeeded) && phase(p) == Some("Succeeded"))
        .map(|p| p.as_ref())
        .collect();
    let new_failed: Vec<&Pod> = pods
        .iter()
        .filter(|p| fresh(p, &uncounted.failed) && failure::is_pod_failed(p, &job))
        .map(|p| p.as_ref())
        .collect();
    let counted_failures = new_failed
        .iter()
        .filter(|p| failure::match_policy(policy.as_ref(), p).counts)
        .count() as i32;
    let mut sc = SyncCtx {
        key: key.clone(),
        succeeded: status.succeeded.unwrap_or(0)
            + new_succeeded.len() as i32
            + uncounted.succeeded.len() as i32,
        pods: pods.clone(),
        active,
        ready,
        terminating,
        uncounted,
        expected_rm: expected_rm.clone(),
        finished: None,
        prev_succeeded_indexes: Intervals::default(),
        succeeded_indexes: Intervals::default(),
        failed_indexes: None,
        delayed: BTreeMap::new(),
        backoff: ctx.backoff.get(&key).after(&new_succeeded, &new_failed),
        requeue: None,
    };
    let failed = status.failed.unwrap_or(0) + counted_failures + sc.uncounted.failed.len() as i32;

    if status.start_time.is_none() && !is_suspended(&job) {
        job.status.get_or_insert_with(Default::default).start_time = Some(Time(now));
    }

    // A success already decided stands; otherwise the pod failure policy,
    // then the limits.
    if let Some(c) = condition(&job, "SuccessCriteriaMet").filter(|c| c.status == "True") {
        sc.finished = Some(c.clone());
    } else if let Some(c) = condition(&job, "FailureTarget").filter(|c| c.status == "True") {
        let reason = c.reason.clone().unwrap_or_default();
        let message = c.message.clone().unwrap_or_default();
        sc.finished = Some(new_condition("Failed", "True", &reason, &message, now));
    } else if let Some(msg) = pods
        .iter()
        .filter(|p| failure::is_pod_failed(p, &job))
        .find_map(|p| failure::match_policy(policy.as_ref(), p).fail_job)
    {
        sc.finished = Some(new_condition(
            "FailureTarget",
            "True",
            reason::POD_FAILURE_POLICY,
            &msg,
            now,
        ));
    }
    if sc.finished.is_none() {
        let refs: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
        let (fail, deadline_in) = failure_by_limits(&job, failed, &refs, now);
        if let Some((reason, message)) = fail {
            sc.finished = Some(new_condition("FailureTarget", "True", reason, message, now));
        }
        sc.requeue = min_requeue(sc.requeue, deadline_in);
    }
    if is_indexed(&job) {
        let prev = Intervals::parse(
            status.completed_indexes.as_deref().unwrap_or_default(),
            n_completions,
        );
        let newly = pods
            .iter()
            .filter(|p| phase(p) == Some("Succeeded") && has_tracking_finalizer(p))
            .filter_map(|p| indexes::completion_index(p))
            .filter(|i| *i < n_completions);
        sc.succeeded_indexes = prev.with(newly);
        sc.prev_succeeded_indexes = prev;
        sc.succeeded = sc.succeeded_indexes.total() as i32;
        if let Some(limit) = backoff_limit_per_index(&job) {
            judge_failed_indexes(&job, &mut sc, &status, limit, n_completions, now);
        }
        if sc.finished.is_none() {
            let policy = job.spec.as_ref().and_then(|s| s.success_policy.as_ref());
            if let Some(msg) = success_policy::matched(policy, n_completions, &sc.succeeded_indexes)
            {
                sc.finished = Some(new_condition(
                    "SuccessCriteriaMet",
                    "True",
                    reason::SUCCESS_POLICY,
                    &msg,
                    now,
                ));
            }
        }
    }

    let mut active_count = sc.active.len() as i32;
    let mut manage_err = None;
    let mut suspend_changed = false;
    if sc.finished.is_some() {
        // The job failed or met its success criteria: stop what still runs.
        let (deleted_ready, deleted, err) = delete_active_pods(&ctx, &job, &sc.active).await;
        if deleted != active_count || !satisfied {
            // Pods may still hold finalizers or not be in the cache yet.
            sc.finished = None;
        }
        active_count -= deleted;
        sc.terminating += deleted;
        sc.ready -= deleted_ready;
        manage_err = err;
    } else {
        let mut managed = false;
        if satisfied && job.metadata.deletion_timestamp.is_none() {
            match manage_job(&ctx, &job, &mut sc).await {
                Ok(n) => active_count = n,
                Err(e) => {
                    active_count = sc.active.len() as i32;
                    manage_err = Some(e);
                }
            }
            managed = true;
        }
        if counts_complete(completions(&job), sc.succeeded, active_count) {
            sc.finished = Some(new_condition(
                "SuccessCriteriaMet",
                "True",
                reason::COMPLETIONS_REACHED,
                "Reached expected number of succeeded pods",
                now,
            ));
        } else if managed {
            let suspended = is_suspended(&job);
            let conditions = job
                .status
                .get_or_insert_with(Default::default)
                .conditions
                .get_or_insert_with(Vec::new);
            suspend_changed = if suspended {
                ensure_condition(
                    conditions,
                    "Suspended",
                    "True",
                    "JobSuspended",
                    "Job suspended",
                    now,
                )
            } else {
                ensure_condition(
                    conditions,
                    "Suspended",
                    "False",
                    "JobResumed",
                    "Job resumed",
                    now,
                )
            };
            if suspend_changed && suspended {
                ctx.recorder
                    .record(&job, EventType::Normal, "Suspended", "Job suspended".into())
                    .await;
            } else if suspend_changed {
                ctx.recorder
                    .record(&job, EventType::Normal, "Resumed", "Job resumed".into())
                    .await;
                // activeDeadlineSeconds counts continuous activity: restart it.
                job.status.get_or_insert_with(Default::default).start_time = Some(Time(now));
            }
        }
    }

    let st = job.status.get_or_insert_with(Default::default);
    let needs_update = suspend_changed
        || st.active.unwrap_or(0) != active_count
        || st.ready != Some(sc.ready)
        || st.terminating != Some(sc.terminating)
        || st.start_time != status.start_time;
    st.active = Some(active_count).filter(|n| *n != 0);
    st.ready = Some(sc.ready);
    st.terminating = Some(sc.terminating);
    track_and_remove_finalizers(&ctx, job, &mut sc, needs_update, now)
        .await
        .map_err(|e| match e {
            Error::Api { action, source } => Error::Api {
                action: format!("track the status of job {key}: {action}"),
                source,
            },
            other => other,
        })?;
    if let Some(e) = manage_err {
        return Err(e);
    }
    Ok(match sc.requeue {
        Some(d) => Action::requeue(d),
        None => Action::await_change(),
    })
}

/// The `backoffLimitPerIndex` part of `syncJob`: the failed indexes, the
/// failure they cause when nothing else failed the Job yet, and the failed
/// pods kept until their index has a replacement.
fn judge_failed_indexes(
    job: &Job,
    sc: &mut SyncCtx,
    status: &JobStatus,
    limit: i32,
    completions: usize,
    now: Timestamp,
) {
    let pods: Vec<&Pod> = sc.pods.iter().map(|p| p.as_ref()).collect();
    let failed = indexes::failed_indexes(
        job,
        status.failed_indexes.as_deref(),
        &pods,
        completions,
        limit,
    );
    if sc.finished.is_none() {
        let max = job.spec.as_ref().and_then(|s| s.max_failed_indexes);
        if let Some((reason, message)) = failed_indexes_verdict(
            failed.total(),
            sc.succeeded_indexes.total(),
            completions,
            max,
        ) {
            sc.finished = Some(new_condition("FailureTarget", "True", reason, message, now));
        }
    }
    // `getValidPodsWithFilter`: pods not yet counted, with a valid index.
    let valid: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| has_tracking_finalizer(p))
        .filter(|p| !p.uid().is_some_and(|u| sc.expected_rm.contains(&u)))
        .collect();
    let active: Vec<&Pod> = sc.active.iter().map(|p| p.as_ref()).collect();
    let delayed = indexes::delayed_deletion_per_index(
        job,
        &valid,
        &active,
        &sc.succeeded_indexes,
        &failed,
        completions,
    );
    let by_uid: HashMap<String, &Arc<Pod>> = sc
        .pods
        .iter()
        .map(|p| (p.uid().unwrap_or_default(), p))
        .collect();
    sc.delayed = delayed
        .into_iter()
        .filter_map(|(ix, p)| Some((ix, (*by_uid.get(&p.uid()?)?).clone())))
        .collect();
    sc.failed_indexes = Some(failed);
}

/// Whether failed indexes fail the Job: at once when more than
/// `maxFailedIndexes` failed, else once every index either succeeded or
/// failed and at least one failed.
pub fn failed_indexes_verdict(
    failed: usize,
    succeeded: usize,
    completions: usize,
    max_failed: Option<i32>,
) -> Option<(&'static str, &'static str)> {
    if max_failed.is_some_and(|m| failed > m.max(0) as usize) {
        return Some((
            reason::MAX_FAILED_INDEXES_EXCEEDED,
            "Job has exceeded the specified maximal number of failed indexes",
        ));
    }
    if failed > 0 && failed + succeeded >= completions {
        return Some((reason::FAILED_INDEXES, "Job has failed indexes"));
    }
    None
}

/// `getPodsForJob` with `ClaimPods`: the pods this Job controls, adopting
/// matching orphans (with the tracking finalizer) and releasing controlled
/// pods that stopped matching.
async fn claim_pods(ctx: &Ctx, job: &Job) -> Result<Vec<Arc<Pod>>> {
    let ns = job.namespace().unwrap_or_default();
    let uid = job.uid().unwrap_or_default();
    let sel = selector(job).filter(|s| !cu::selector_is_empty(s));
    let deleting = job.metadata.deletion_timestamp.is_some();
    let mut owned = Vec::new();
    let mut fresh_checked = false;
    let mut candidates = ctx.pods.controlled_by(&uid);
    candidates.extend(ctx.pods.orphans_in(&ns));
    for pod in candidates {
        let matches = sel.is_some_and(|s| cu::selector_matches(s, pod.labels()));
        match cu::controller_ref(pod.metadata.owner_references.as_ref()) {
            Some(r) if r.uid == uid => {
                if matches || deleting {
                    owned.push(pod);
                } else {
                    let refs = pod
                        .owner_references()
                        .iter()
                        .filter(|r| r.uid != uid)
                        .cloned()
                        .collect();
                    cu::patch_owner_refs(&ctx.client, pod.as_ref(), refs, None).await?;
                }
            }
            Some(_) => {}
            None if matches && !deleting && pod.metadata.deletion_timestamp.is_none() => {
                // Upstream `RecheckDeletionTimestamp`: adopt only for a Job
                // that, read fresh, is the same and not being deleted.
                if !fresh_checked {
                    let fresh = Api::<Job>::namespaced(ctx.client.clone(), &ns)
                        .get_opt(&job.name_any())
                        .await
                        .ctx(|| format!("get job {ns}/{}", job.name_any()))?;
                    if !fresh.is_some_and(|f| {
                        f.uid().as_deref() == Some(uid.as_str())
                            && f.metadata.deletion_timestamp.is_none()
                    }) {
                        return Ok(owned);
                    }
                    fresh_checked = true;
                }
                let mut refs = pod.owner_references().to_vec();
                refs.push(cu::new_controller_ref(
                    "batch/v1",
                    "Job",
                    &job.name_any(),
                    &uid,
                ));
                if cu::patch_owner_refs(&ctx.client, pod.as_ref(), refs, Some(TRACKING_FINALIZER))
                    .await?
                {
                    // Count it with the finalizer it now has.
                    let mut adopted = (*pod).clone();
                    let fins = adopted.metadata.finalizers.get_or_insert_with(Vec::new);
                    if !fins.iter().any(|f| f == TRACKING_FINALIZER) {
                        fins.push(TRACKING_FINALIZER.into());
                    }
                    owned.push(Arc::new(adopted));
                }
            }
            None => {}
        }
    }
    Ok(owned)
}

/// `deleteActivePods`: deletes the pods of a finishing job, keeping their
/// finalizers (the tracking step removes them after counting). Returns
/// (ready deleted, deleted, first error).
async fn delete_active_pods(ctx: &Ctx, job: &Job, pods: &[Arc<Pod>]) -> (i32, i32, Option<Error>) {
    let ns = job.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let results = futures::future::join_all(pods.iter().map(|p| {
        let api = api.clone();
        async move { (p, api.delete(&p.name_any(), &DeleteParams::default()).await) }
    }))
    .await;
    let (mut ready, mut deleted, mut err) = (0, 0, None);
    for (p, r) in results {
        match r {
            Ok(_) => {
                ctx.recorder
                    .record(
                        job,
                        EventType::Normal,
                        "SuccessfulDelete",
                        format!("Deleted pod: {}", p.name_any()),
                    )
                    .await;
            }
            Err(e) if crate::is_not_found(&e) => {}
            Err(e) => {
                let e = Err::<(), _>(e).ctx(|| format!("delete pod {ns}/{}", p.name_any()));
                err = err.or(e.err());
                continue;
            }
        }
        deleted += 1;
        if cu::is_pod_ready(p) {
            ready += 1;
        }
    }
    (ready, deleted, err)
}

/// `deleteJobPods`: removes surplus pods (finalizer first, so they are not
/// counted as failures) and expects their deletion.
async fn delete_job_pods(
    ctx: &Ctx,
    job: &Job,
    key: &str,
    pods: &[&Pod],
) -> (i32, i32, Option<Error>) {
    let ns = job.namespace().unwrap_or_default();
    let names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
    ctx.expectations.expect(key, 0, &names);
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let results = futures::future::join_all(pods.iter().map(|p| {
        let api = api.clone();
        let ns = ns.clone();
        async move {
            if has_tracking_finalizer(p) {
                remove_tracking_finalizer(&ctx.client, p).await?;
            }
            match api.delete(&p.name_any(), &DeleteParams::default()).await {
                Ok(_) => Ok(true),
                Err(e) if crate::is_not_found(&e) => Ok(false),
                Err(e) => Err(e).ctx(|| format!("delete pod {ns}/{}", p.name_any())),
            }
        }
    }))
    .await;
    let (mut ready, mut deleted, mut err) = (0, 0, None);
    for (p, r) in pods.iter().zip(results) {
        match r {
            Ok(was_there) => {
                if was_there {
                    ctx.recorder
                        .record(
                            job,
                            EventType::Normal,
                            "SuccessfulDelete",
                            format!("Deleted pod: {}", p.name_any()),
                        )
                        .await;
                }
                deleted += 1;
                if cu::is_pod_ready(p) {
                    ready += 1;
                }
            }
            Err(e) => {
                ctx.expectations.lower(key, false, Some(&p.name_any()));
                err = err.or(Some(e));
            }
        }
    }
    (ready, deleted, err)
}

/// `activePodsForRemoval`: surplus indexed pods first, then by upstream's
/// deletion ranking.
fn pods_for_removal<'a>(
    job: &Job,
    active: &[&'a Pod],
    at_least: usize,
    now: Timestamp,
) -> Vec<&'a Pod> {
    let (mut rm, left) = if is_indexed(job) {
        indexes::surplus_pods(active, completions(job).unwrap_or(0).max(0) as usize, now)
    } else {
        (Vec::new(), active.to_vec())
    };
    if rm.len() < at_least {
        rm.extend(cu::pods_to_delete(&left, &[], at_least - rm.len(), now));
    }
    rm
}

/// `manageJob`: deletes or creates pods towards the wanted number of active
/// pods; returns the active count after it.
async fn manage_job(ctx: &Ctx, job: &Job, sc: &mut SyncCtx) -> Result<i32> {
    let now = Timestamp::now();
    let active_refs: Vec<&Pod> = sc.active.iter().map(|p| p.as_ref()).collect();
    let mut active = active_refs.len() as i32;
    let parallelism = job.spec.as_ref().and_then(|s| s.parallelism).unwrap_or(1);
    if is_suspended(job) {
        let victims = pods_for_removal(job, &active_refs, active_refs.len(), now);
        let (ready, deleted, err) = delete_job_pods(ctx, job, &sc.key, &victims).await;
        sc.terminating += deleted;
        sc.ready -= ready;
        return match err {
            Some(e) => Err(e),
            None => Ok(active - deleted),
        };
    }
    let want = want_active(completions(job), parallelism, sc.succeeded, active);
    let mut victims = pods_for_removal(job, &active_refs, (active - want).max(0) as usize, now);
    victims.truncate(MAX_POD_CREATE_DELETE_PER_SYNC);
    if !victims.is_empty() {
        // Deletions and creations never mix in one sync; deletions first.
        let (ready, deleted, err) = delete_job_pods(ctx, job, &sc.key, &victims).await;
        sc.terminating += deleted;
        sc.ready -= ready;
        return match err {
            Some(e) => Err(e),
            None => Ok(active - deleted),
        };
    }
    let terminating = if failure::only_replace_failed(job) {
        sc.terminating
    } else {
        0
    };
    let diff = want - terminating - active;
    if diff <= 0 {
        return Ok(active);
    }
    // With a limit per index, each index waits out its own back-off below.
    let per_index = backoff_limit_per_index(job).is_some();
    if !per_index {
        let wait = sc.backoff.remaining(now);
        if !wait.is_zero() {
            sc.requeue = min_requeue(sc.requeue, Some(wait));
            return Ok(active);
        }
    }
    let mut diff = (diff as usize).min(MAX_POD_CREATE_DELETE_PER_SYNC);
    let mut pending_indexes = Vec::new();
    if is_indexed(job) {
        let n = completions(job).unwrap_or(0).max(0) as usize;
        let mut busy = active_refs.clone();
        if failure::only_replace_failed(job) {
            // A terminating pod still holds its index.
            busy.extend(
                sc.pods
                    .iter()
                    .filter(|p| cu::is_pod_terminating(p))
                    .map(|p| p.as_ref()),
            );
        }
        let done = match &sc.failed_indexes {
            Some(failed) => sc.succeeded_indexes.merge(failed),
            None => sc.succeeded_indexes.clone(),
        };
        pending_indexes = indexes::first_pending(&done, &busy, diff, n);
        if per_index {
            let (ready, wait) = indexes_ready_now(&pending_indexes, &sc.delayed, now);
            // Upstream relies on the events of the pods it creates to come
            // back for the indexes still waiting; a timer is surer.
            if !wait.is_zero() {
                sc.requeue = min_requeue(sc.requeue, Some(wait));
            }
            pending_indexes = ready;
        }
        diff = pending_indexes.len();
    }
    if diff == 0 {
        return Ok(active);
    }
    let ns = job.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    ctx.expectations.expect(&sc.key, diff, &[]);
    // Each new pod of an index continues the failure counts of the failed
    // pod it replaces.
    let mut next_index = pending_indexes
        .into_iter()
        .map(|ix| {
            let counts = per_index.then(|| {
                indexes::new_index_failure_counts(job, sc.delayed.get(&ix).map(|p| p.as_ref()))
            });
            (ix, counts)
        })
        .collect::<Vec<_>>()
        .into_iter();
    let key = sc.key.clone();
    let mut attempted = 0usize;
    let (created, err) = cu::slow_start_batch(diff, || {
        attempted += 1;
        let (index, counts) = match next_index.next() {
            Some((ix, counts)) => (Some(ix), counts),
            None => (None, None),
        };
        let mut pod = pod_from_template(job, index);
        if let Some((counted, ignored)) = counts {
            add_index_failure_counts(&mut pod, counted, ignored);
        }
        let api = api.clone();
        let key = key.clone();
        async move {
            cu::create_owned_pod(&api, &pod, job, &key, &ctx.expectations, &ctx.recorder).await
        }
    })
    .await;
    // Creations skipped after a failed batch will never be observed.
    for _ in attempted..diff {
        ctx.expectations.lower(&sc.key, true, None);
    }
    active += created as i32;
    match err {
        Some(e) => Err(e).ctx(|| format!("create pods of job {}", sc.key)),
        None => Ok(active),
    }
}

/// A pod from the Job's template: the tracking finalizer, a controller
/// reference, and for Indexed Jobs the completion index (annotation, label,
/// hostname, `JOB_COMPLETION_INDEX`).
pub fn pod_from_template(job: &Job, index: Option<usize>) -> Pod {
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut spec = template.spec;
    let mut labels = meta.labels.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    let mut finalizers = meta.finalizers.unwrap_or_default();
    if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
        finalizers.push(TRACKING_FINALIZER.into());
    }
    let name = job.name_any();
    let generate_name = match index {
        Some(ix) => {
            annotations.insert(COMPLETION_INDEX.into(), ix.to_string());
            labels.insert(COMPLETION_INDEX.into(), ix.to_string());
            if let Some(s) = spec.as_mut() {
                s.hostname = Some(format!("{name}-{ix}"));
                add_completion_index_env(s);
            }
            indexes::generate_name(&name, ix)
        }
        None => format!("{name}-"),
    };
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: job.namespace(),
            labels: Some(labels).filter(|l: &BTreeMap<_, _>| !l.is_empty()),
            annotations: Some(annotations).filter(|a: &BTreeMap<_, _>| !a.is_empty()),
            finalizers: Some(finalizers),
            owner_references: Some(vec![cu::new_controller_ref(
                "batch/v1",
                "Job",
                &name,
                &job.uid().unwrap_or_default(),
            )]),
            ..Default::default()
        },
        spec,
        status: None,
    }
}

/// `addIndexFailureCountAnnotation`: the failure counts a new pod of an
/// index starts from; the ignored count only when there is one.
pub fn add_index_failure_counts(pod: &mut Pod, counted: i32, ignored: i32) {
    let a = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    a.insert(indexes::INDEX_FAILURE_COUNT.into(), counted.to_string());
    if ignored > 0 {
        a.insert(
            indexes::INDEX_IGNORED_FAILURE_COUNT.into(),
            ignored.to_string(),
        );
    }
}

/// `getPodCreationInfoForIndependentIndexes`: the pending indexes whose
/// back-off is over, and the shortest wait among the others (zero when
/// none waits).
pub fn indexes_ready_now(
    pending: &[usize],
    delayed: &BTreeMap<usize, Arc<Pod>>,
    now: Timestamp,
) -> (Vec<usize>, Duration) {
    let mut ready = Vec::new();
    let mut wait: Option<Duration> = None;
    for ix in pending {
        let left = failure::remaining_per_index(delayed.get(ix).map(|p| p.as_ref()), now);
        if left.is_zero() {
            ready.push(*ix);
        } else {
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
    }
    (ready, wait.unwrap_or(Duration::ZERO))
}

/// `addCompletionIndexEnvVariables`.
fn add_completion_index_env(spec: &mut k8s_openapi::api::core::v1::PodSpec) {
    let var = EnvVar {
        name: "JOB_COMPLETION_INDEX".into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: format!("metadata.annotations['{COMPLETION_INDEX}']"),
            }),
            ..Default::default()
        }),
    };
    let containers = spec
        .init_containers
        .iter_mut()
        .flatten()
        .chain(spec.containers.iter_mut());
    for c in containers {
        let env = c.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.name == var.name) {
            env.push(var.clone());
        }
    }
}

/// What the tracking step decided, before any write.
#[derive(Debug, Default, PartialEq)]
pub struct TrackPlan {
    /// Pods (by uid) whose finalizer comes off in this sync.
    pub remove_finalizer: Vec<String>,
    pub new_uncounted_succeeded: Vec<String>,
    pub new_uncounted_failed: Vec<String>,
    pub new_succeeded_indexes: Vec<usize>,
    /// Stopped early to keep the status small; the job syncs again.
    pub reached_max: bool,
}

/// The pure part of `trackJobStatusAndRemoveFinalizers`: which finished (or,
/// for a finishing job, every) pod to record as uncounted and release.
/// `delayed` are failed pods (by uid) that keep their finalizer until their
/// index has a replacement (`backoffLimitPerIndex`).
#[allow(clippy::too_many_arguments)]
pub fn plan_tracking(
    job: &Job,
    pods: &[&Pod],
    expected_rm: &HashSet<String>,
    uncounted_succeeded: &HashSet<String>,
    uncounted_failed: &HashSet<String>,
    prev_succeeded_indexes: &Intervals,
    finished: Option<&JobCondition>,
    delayed: &HashSet<String>,
) -> TrackPlan {
    let mut plan = TrackPlan::default();
    let indexed = is_indexed(job);
    let n = completions(job).unwrap_or(0).max(0) as usize;
    let finishing = finished.is_some() || job.metadata.deletion_timestamp.is_some();
    let failing = finished.is_some_and(|c| c.type_ != "SuccessCriteriaMet");
    let policy = job
        .spec
        .as_ref()
        .and_then(|s| s.pod_failure_policy.as_ref());
    let mut sorted: Vec<&Pod> = pods.to_vec();
    if indexed {
        // Completed indexes are introduced in order.
        sorted.sort_by_key(|p| indexes::completion_index(p).unwrap_or(usize::MAX));
    }
    for pod in sorted {
        let uid = pod.uid().unwrap_or_default();
        if !has_tracking_finalizer(pod) || expected_rm.contains(&uid) {
            continue;
        }
        let failed = failure::is_pod_failed(pod, job);
        let succeeded = phase(pod) == Some("Succeeded");
        // `canRemoveFinalizer`.
        if !(finishing || succeeded || (failed && !delayed.contains(&uid))) {
            continue;
        }
        plan.remove_finalizer.push(uid.clone());
        if succeeded && !uncounted_failed.contains(&uid) {
            if indexed {
                if let Some(ix) = indexes::completion_index(pod).filter(|ix| *ix < n)
                    && !prev_succeeded_indexes.has(ix)
                {
                    plan.new_succeeded_indexes.push(ix);
                }
            } else if !uncounted_succeeded.contains(&uid) {
                plan.new_uncounted_succeeded.push(uid);
            }
        } else if (failed || failing) && !uncounted_failed.contains(&uid) {
            let valid_index = !indexed || indexes::completion_index(pod).is_some_and(|ix| ix < n);
            if valid_index && failure::match_policy(policy, pod).counts {
                plan.new_uncounted_failed.push(uid);
            }
        }
        let recorded = plan.new_succeeded_indexes.len()
            + uncounted_succeeded.len()
            + plan.new_uncounted_succeeded.len()
            + uncounted_failed.len()
            + plan.new_uncounted_failed.len();
        if recorded >= MAX_UNCOUNTED_PODS {
            plan.reached_max = true;
            break;
        }
    }
    plan
}

async fn write_status(ctx: &Ctx, job: &Job) -> Result<Job> {
    let ns = job.namespace().unwrap_or_default();
    let mut body = job.clone();
    if let Some(s) = body.status.as_mut() {
        // Go omits empty counters and lists.
        for n in [&mut s.succeeded, &mut s.failed] {
            if *n == Some(0) {
                *n = None;
            }
        }
        if let Some(u) = s.uncounted_terminated_pods.as_mut() {
            for l in [&mut u.succeeded, &mut u.failed] {
                if l.as_ref().is_some_and(Vec::is_empty) {
                    *l = None;
                }
            }
        }
        if s.conditions.as_ref().is_some_and(Vec::is_empty) {
            s.conditions = None;
        }
    }
    let written = Api::<Job>::namespaced(ctx.client.clone(), &ns)
        .replace_status(&job.name_any(), &PostParams::default(), &body)
        .await
        .ctx(|| format!("update the status of job {ns}/{}", job.name_any()))?;
    ctx.written.record(&job_key(&written), &written);
    Ok(written)
}

/// `trackJobStatusAndRemoveFinalizers` with `flushUncountedAndRemoveFinalizers`
/// and `enactJobFinished`: record finished pods as uncounted, remove their
/// finalizers, move them into the counters, then declare the job finished
/// when nothing is left uncounted or terminating.
async fn track_and_remove_finalizers(
    ctx: &Ctx,
    mut job: Job,
    sc: &mut SyncCtx,
    mut needs_flush: bool,
    now: Timestamp,
) -> Result<()> {
    let pods: Vec<&Pod> = sc.pods.iter().map(|p| p.as_ref()).collect();
    let mut with_finalizer: HashSet<String> = pods
        .iter()
        .filter(|p| has_tracking_finalizer(p))
        .filter_map(|p| p.uid())
        .filter(|u| !sc.expected_rm.contains(u))
        .collect();
    let status = job.status.get_or_insert_with(Default::default);
    needs_flush |= clean_uncounted(status, &with_finalizer);
    let plan = plan_tracking(
        &job,
        &pods,
        &sc.expected_rm,
        &sc.uncounted.succeeded,
        &sc.uncounted.failed,
        &sc.prev_succeeded_indexes,
        sc.finished.as_ref(),
        &sc.delayed.values().filter_map(|p| p.uid()).collect(),
    );
    let indexed = is_indexed(&job);
    let status = job.status.get_or_insert_with(Default::default);
    let u = status
        .uncounted_terminated_pods
        .get_or_insert_with(UncountedTerminatedPods::default);
    if !plan.new_uncounted_succeeded.is_empty() || !plan.new_uncounted_failed.is_empty() {
        needs_flush = true;
        u.succeeded
            .get_or_insert_with(Vec::new)
            .extend(plan.new_uncounted_succeeded.iter().cloned());
        u.failed
            .get_or_insert_with(Vec::new)
            .extend(plan.new_uncounted_failed.iter().cloned());
    }
    if indexed {
        sc.succeeded_indexes = sc
            .succeeded_indexes
            .with(plan.new_succeeded_indexes.iter().copied());
        let s = sc.succeeded_indexes.to_string();
        if status.completed_indexes.as_deref().unwrap_or_default() != s {
            needs_flush = true;
        }
        status.succeeded = Some(sc.succeeded_indexes.total() as i32);
        status.completed_indexes = Some(s).filter(|s| !s.is_empty());
        // With a limit per index the field is always written, "" when no
        // index failed; without one it stays unset.
        let failed = sc.failed_indexes.as_ref().map(Intervals::to_string);
        if status.failed_indexes != failed {
            status.failed_indexes = failed;
            needs_flush = true;
        }
    }
    // The interim condition goes out before any finalizer comes off, so the
    // decision survives a crash; the final one is written once the pods are
    // accounted for.
    if let Some(f) = sc.finished.clone() {
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        if f.type_ == "FailureTarget" {
            conditions.push(f.clone());
            needs_flush = true;
            sc.finished = Some(new_condition(
                "Failed",
                "True",
                f.reason.as_deref().unwrap_or_default(),
                f.message.as_deref().unwrap_or_default(),
                now,
            ));
        } else if f.type_ == "SuccessCriteriaMet" {
            if !conditions.iter().any(|c| c.type_ == "SuccessCriteriaMet") {
                conditions.push(f.clone());
                needs_flush = true;
            }
            sc.finished = Some(new_condition(
                "Complete",
                "True",
                f.reason.as_deref().unwrap_or_default(),
                f.message.as_deref().unwrap_or_default(),
                now,
            ));
        }
    }

    // 1. Flush the uncounted pods (and the interim condition).
    if needs_flush {
        job = write_status(ctx, &job).await?;
        ctx.backoff.set(&sc.key, sc.backoff);
        needs_flush = false;
    }
    // 2. Remove the finalizers of the pods now recorded.
    let mut rm_err = None;
    if !plan.remove_finalizer.is_empty() {
        ctx.finalizers
            .expect(&sc.key, plan.remove_finalizer.iter().cloned());
        let by_uid: HashMap<String, &Pod> = pods
            .iter()
            .map(|p| (p.uid().unwrap_or_default(), *p))
            .collect();
        let targets: Vec<&Pod> = plan
            .remove_finalizer
            .iter()
            .filter_map(|u| by_uid.get(u).copied())
            .collect();
        let results = futures::future::join_all(
            targets
                .iter()
                .map(|p| remove_tracking_finalizer(&ctx.client, p)),
        )
        .await;
        for (p, r) in targets.iter().zip(results) {
            let uid = p.uid().unwrap_or_default();
            match r {
                Ok(()) => {
                    with_finalizer.remove(&uid);
                }
                Err(e) => {
                    ctx.finalizers.observed(&sc.key, &uid);
                    rm_err = rm_err.or(Some(e));
                }
            }
        }
    }
    // 3. Count the pods that lost their finalizer.
    let status = job.status.get_or_insert_with(Default::default);
    if clean_uncounted(status, &with_finalizer) {
        needs_flush = true;
    }
    if let Some(e) = rm_err {
        if needs_flush {
            write_status(ctx, &job).await?;
        }
        return Err(e);
    }
    // 4. Finished?
    let finished = !plan.reached_max && enact_finished(&mut job, sc, now);
    if finished || needs_flush {
        let written = write_status(ctx, &job).await?;
        if finished {
            record_finished(ctx, &written, sc.finished.as_ref()).await;
        }
    }
    Ok(())
}

/// `enactJobFinished`: sets the terminal condition when no pod is left
/// uncounted or terminating.
fn enact_finished(job: &mut Job, sc: &SyncCtx, now: Timestamp) -> bool {
    let Some(f) = &sc.finished else {
        return false;
    };
    let status = job.status.get_or_insert_with(Default::default);
    let uncounted = status.uncounted_terminated_pods.as_ref().map_or(0, |u| {
        u.succeeded.as_ref().map_or(0, Vec::len) + u.failed.as_ref().map_or(0, Vec::len)
    });
    if uncounted > 0 || sc.terminating > 0 {
        return false;
    }
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    ensure_condition(
        conditions,
        &f.type_,
        &f.status,
        f.reason.as_deref().unwrap_or_default(),
        f.message.as_deref().unwrap_or_default(),
        now,
    );
    if f.type_ == "Complete" {
        status.completion_time = Some(Time(now));
    }
    true
}

/// `recordJobFinished`: the events of a finished job.
async fn record_finished(ctx: &Ctx, job: &Job, f: Option<&JobCondition>) {
    let Some(f) = f else {
        return;
    };
    if f.type_ == "Complete" {
        let succeeded = job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0);
        if completions(job).is_some_and(|c| succeeded > c) {
            ctx.recorder
                .record(
                    job,
                    EventType::Warning,
                    "TooManySucceededPods",
                    "Too many succeeded pods running after completion count reached".into(),
                )
                .await;
        }
        ctx.recorder
            .record(job, EventType::Normal, "Completed", "Job completed".into())
            .await;
    } else {
        ctx.recorder
            .record(
                job,
                EventType::Warning,
                f.reason.as_deref().unwrap_or_default(),
                f.message.clone().unwrap_or_default(),
            )
            .await;
    }
}

#[cfg(test)]
mod tests;
