//! The CronJob controller (upstream `pkg/controller/cronjob`, the v2
//! controller): creates a Job named `<cronjob>-<minutes since the epoch>` for
//! the most recent unmet schedule time (in `spec.timeZone`, else the
//! controller's local zone), honours `startingDeadlineSeconds`,
//! `concurrencyPolicy` and `suspend`, keeps `status.active`,
//! `lastScheduleTime` and `lastSuccessfulTime`, prunes finished Jobs beyond
//! the history limits, and requeues each CronJob for its next schedule time
//! instead of polling.
//!
//! Owns: Jobs created from CronJobs and the CronJob status. Does not own: the
//! Jobs' pods (the Job controller), schedule parsing (`skiff_core::cron`).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::jiff::tz::TimeZone;
use kube::api::{Api, DeleteParams, PostParams, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use skiff_core::cron::{self, Schedule};

use crate::controller_utils as cu;
use crate::events::{EventType, Recorder};
use crate::informer::{Informer, Informers};
use crate::{ApiContext, Error, Result};

/// Annotation with the schedule time a Job was created for (RFC 3339, in the
/// CronJob's time zone).
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// Upstream `nextScheduleDelta`: wake a little after the schedule time.
const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);
/// More missed start times than this are reported as too many.
const MANY_MISSED: i64 = 100;

struct Ctx {
    client: Client,
    jobs: Informer<Job>,
    recorder: Recorder,
    /// The zone of schedules without `timeZone` (kube-controller-manager's).
    local: TimeZone,
}

/// Runs the controller until its watches fail.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let jobs = informers.of::<Job>();
    let cronjobs = informers.of::<CronJob>();
    jobs.synced().await;
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), "cronjob-controller"),
        client,
        jobs: jobs.clone(),
        local: TimeZone::system(),
    });
    Controller::for_shared_stream(cronjobs.subscribe(), cronjobs.store())
        .watches_shared_stream(jobs.subscribe(), |job: Arc<Job>| {
            let ns = job.namespace().unwrap_or_default();
            cu::controller_ref(job.metadata.owner_references.as_ref())
                .filter(|r| r.kind == "CronJob")
                .map(|r| ObjectRef::new(&r.name).within(&ns))
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

fn error_policy(cj: Arc<CronJob>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(cronjob = %cj.name_any(), error = %crate::error_chain(e), "sync failed");
    if let Error::Api { source, .. } = e
        && crate::is_conflict(source)
    {
        return Action::requeue(Duration::from_millis(100));
    }
    Action::requeue(Duration::from_secs(5))
}

/// Whether more start times were missed than are worth reporting one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missed {
    None,
    Few,
    Many,
}

/// What a CronJob's schedule says at `now` (upstream
/// `mostRecentScheduleTime`): the time scheduling counts from (the last
/// schedule time or the creation, moved up to the starting deadline when
/// `include_deadline`), the most recent schedule time not after `now` if one
/// was missed since, and how many were missed. The error is for schedules
/// that never fire or fire more than once a second.
pub fn most_recent_schedule_time(
    created: Timestamp,
    last_schedule: Option<Timestamp>,
    starting_deadline: Option<i64>,
    now: Timestamp,
    schedule: &Schedule,
    local: &TimeZone,
    include_deadline: bool,
) -> Result<(Timestamp, Option<Timestamp>, Missed), String> {
    let mut earliest = last_schedule.unwrap_or(created);
    if include_deadline && let Some(d) = starting_deadline {
        let limit = Timestamp::from_second(now.as_second() - d).unwrap_or(now);
        if limit > earliest {
            earliest = limit;
        }
    }
    let too_close = || "time difference between two schedules is less than 1 second".to_string();
    let Some(t1) = schedule.next(earliest, local) else {
        return Err(too_close());
    };
    if now < t1 {
        return Ok((earliest, None, Missed::None));
    }
    let Some(t2) = schedule.next(t1, local) else {
        return Err(too_close());
    };
    if now < t2 {
        return Ok((earliest, Some(t1), Missed::None));
    }
    // Estimate how many intervals fit since t1, then let the schedule find
    // the exact most recent time from a little before that point.
    let between = ((t2.as_millisecond() - t1.as_millisecond()) as f64 / 1000.0).round() as i64;
    if between < 1 {
        return Err(too_close());
    }
    let elapsed = (now.as_millisecond() - t1.as_millisecond()) / 1000;
    let missed = elapsed / between + 1;
    let start = Timestamp::from_second(t1.as_second() + (missed - 2) * between).unwrap_or(t1);
    let mut most_recent = None;
    let mut t = schedule.next(start, local);
    while let Some(x) = t.filter(|x| *x <= now) {
        most_recent = Some(x);
        t = schedule.next(x, local);
    }
    let kind = if missed > MANY_MISSED {
        Missed::Many
    } else {
        Missed::Few
    };
    Ok((earliest, most_recent, kind))
}

/// `nextScheduleTimeDuration`: how long until just after the next schedule
/// time, counted from the most recent one.
pub fn next_schedule_in(
    created: Timestamp,
    last_schedule: Option<Timestamp>,
    now: Timestamp,
    schedule: &Schedule,
    local: &TimeZone,
) -> Option<Duration> {
    let from = match most_recent_schedule_time(
        created,
        last_schedule,
        None,
        now,
        schedule,
        local,
        false,
    ) {
        Err(_) => now,
        Ok((_, Some(recent), _)) => recent,
        Ok((earliest, None, _)) => earliest,
    };
    let next = schedule.next(from, local)?;
    let ms = next.as_millisecond() - now.as_millisecond();
    Some(Duration::from_millis(ms.max(0) as u64) + NEXT_SCHEDULE_DELTA)
}

/// `getJobName`: one name per schedule time, so a time is never run twice.
pub fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

/// Go's `time.RFC3339` in `tz`: `Z` for a zero offset.
pub fn rfc3339_in(t: Timestamp, tz: &TimeZone) -> String {
    let z = t.to_zoned(tz.clone());
    if z.offset().seconds() == 0 {
        z.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// `getJobFromTemplate2`: the Job for one schedule time.
pub fn job_from_template(cj: &CronJob, scheduled: Timestamp, tz: &TimeZone) -> Job {
    let template = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.into(), rfc3339_in(scheduled, tz));
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(&cj.name_any(), scheduled)),
            namespace: cj.namespace(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![cu::new_controller_ref(
                "batch/v1",
                "CronJob",
                &cj.name_any(),
                &cj.uid().unwrap_or_default(),
            )]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Whether the Job finished, and how (`Complete` or `Failed`).
pub fn finished_status(job: &Job) -> Option<&str> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.as_str())
}

/// The finished Jobs beyond `limit`, oldest start time first (jobs that
/// never started sort last; names break ties), as `removeOldestJobs`.
pub fn jobs_to_prune(mut finished: Vec<&Job>, limit: i32) -> Vec<&Job> {
    let extra = finished.len() as i64 - i64::from(limit);
    if extra <= 0 {
        return Vec::new();
    }
    let start = |j: &Job| {
        j.status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0)
    };
    finished.sort_by(|a, b| match (start(a), start(b)) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        _ => a.name_any().cmp(&b.name_any()),
    });
    finished.truncate(extra as usize);
    finished
}

/// A `kube` error with what was being done.
fn api_err(source: kube::Error, action: impl FnOnce() -> String) -> Error {
    Error::Api {
        action: action(),
        source,
    }
}

fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: Some(job.name_any()),
        namespace: job.namespace(),
        uid: job.uid(),
        resource_version: job.resource_version(),
        ..Default::default()
    }
}

fn active_list(cj: &mut CronJob) -> &mut Vec<ObjectReference> {
    cj.status
        .get_or_insert_with(Default::default)
        .active
        .get_or_insert_with(Vec::new)
}

fn in_active_list(cj: &CronJob, uid: &str) -> bool {
    cj.status
        .as_ref()
        .and_then(|s| s.active.as_ref())
        .is_some_and(|a| a.iter().any(|r| r.uid.as_deref() == Some(uid)))
}

fn remove_from_active_list(cj: &mut CronJob, uid: &str) {
    active_list(cj).retain(|r| r.uid.as_deref() != Some(uid));
}

async fn reconcile(shared: Arc<CronJob>, ctx: Arc<Ctx>) -> Result<Action> {
    let ns = shared.namespace().unwrap_or_default();
    let name = shared.name_any();
    let children: Vec<Arc<Job>> = ctx
        .jobs
        .in_namespace(&ns)
        .into_iter()
        .filter(|j| {
            cu::controller_ref(j.metadata.owner_references.as_ref())
                .is_some_and(|r| r.kind == "CronJob" && r.name == name)
        })
        .collect();
    let mut cj = (*shared).clone();
    let cleaned = cleanup_finished_jobs(&ctx, &mut cj, &children).await;
    let (requeue, synced, err) = match sync(&ctx, &mut cj, &children).await {
        Ok((r, u)) => (r, u, None),
        Err((u, e)) => (None, u, Some(e)),
    };
    if cleaned || synced {
        // Go omits an empty active list.
        if let Some(s) = cj.status.as_mut()
            && s.active.as_ref().is_some_and(Vec::is_empty)
        {
            s.active = None;
        }
        Api::<CronJob>::namespaced(ctx.client.clone(), &ns)
            .replace_status(&name, &PostParams::default(), &cj)
            .await
            .ctx(|| format!("update the status of cronjob {ns}/{name}"))?;
    }
    if let Some(d) = requeue {
        return Ok(Action::requeue(d));
    }
    match err {
        Some(e) => Err(e),
        None => Ok(Action::await_change()),
    }
}

/// `cleanupFinishedJobs`: deletes the oldest finished Jobs beyond the
/// history limits; true when the status changed.
async fn cleanup_finished_jobs(ctx: &Ctx, cj: &mut CronJob, jobs: &[Arc<Job>]) -> bool {
    let spec = cj.spec.clone().unwrap_or_default();
    let mut changed = false;
    for (want, limit) in [
        ("Complete", spec.successful_jobs_history_limit),
        ("Failed", spec.failed_jobs_history_limit),
    ] {
        let Some(limit) = limit else { continue };
        let finished: Vec<&Job> = jobs
            .iter()
            .map(|j| j.as_ref())
            .filter(|j| finished_status(j) == Some(want))
            .collect();
        for job in jobs_to_prune(finished, limit) {
            changed |= delete_job(ctx, cj, job).await;
        }
    }
    changed
}

/// `deleteJob`: deletes a Job (its pods follow in the background) and drops
/// it from the active list.
async fn delete_job(ctx: &Ctx, cj: &mut CronJob, job: &Job) -> bool {
    let ns = job.namespace().unwrap_or_default();
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    match Api::<Job>::namespaced(ctx.client.clone(), &ns)
        .delete(&job.name_any(), &params)
        .await
    {
        Ok(_) => {}
        Err(e) if crate::is_not_found(&e) => {}
        Err(e) => {
            ctx.recorder
                .record(
                    &*cj,
                    EventType::Warning,
                    "FailedDelete",
                    format!("Deleted job: {e}"),
                )
                .await;
            return false;
        }
    }
    remove_from_active_list(cj, &job.uid().unwrap_or_default());
    ctx.recorder
        .record(
            &*cj,
            EventType::Normal,
            "SuccessfulDelete",
            format!("Deleted job {}", job.name_any()),
        )
        .await;
    true
}

type SyncResult = std::result::Result<(Option<Duration>, bool), (bool, Error)>;

/// `syncCronJob`: reconciles the active list with the Jobs, then starts the
/// Job of the most recent unmet schedule time if policy allows. Returns when
/// to look again and whether the status changed.
async fn sync(ctx: &Ctx, cj: &mut CronJob, jobs: &[Arc<Job>]) -> SyncResult {
    let now = Timestamp::now();
    let mut changed = false;
    let ns = cj.namespace().unwrap_or_default();
    let job_api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    for j in jobs {
        let uid = j.uid().unwrap_or_default();
        let found = in_active_list(cj, &uid);
        let finished = finished_status(j);
        if !found && finished.is_none() {
            // Maybe our status write is newer than the cache: read it.
            let fresh = Api::<CronJob>::namespaced(ctx.client.clone(), &ns)
                .get(&cj.name_any())
                .await
                .ctx(|| format!("get cronjob {ns}/{}", cj.name_any()))
                .map_err(|e| (changed, e))?;
            if in_active_list(&fresh, &uid) {
                *cj = fresh;
                continue;
            }
            ctx.recorder
                .record(
                    &*cj,
                    EventType::Warning,
                    "UnexpectedJob",
                    format!(
                        "Saw a job that the controller did not create or forgot: {}",
                        j.name_any()
                    ),
                )
                .await;
        } else if found && let Some(how) = finished {
            remove_from_active_list(cj, &uid);
            ctx.recorder
                .record(
                    &*cj,
                    EventType::Normal,
                    "SawCompletedJob",
                    format!("Saw completed job: {}, status: {how}", j.name_any()),
                )
                .await;
            changed = true;
        } else if finished == Some("Complete") {
            let done = j.status.as_ref().and_then(|s| s.completion_time.clone());
            let status = cj.status.get_or_insert_with(Default::default);
            if let Some(done) = done
                && status
                    .last_successful_time
                    .as_ref()
                    .is_none_or(|t| done.0 > t.0)
            {
                status.last_successful_time = Some(done);
                changed = true;
            }
        }
    }
    // Drop references to Jobs that are gone (asking the API, not the cache).
    let active: Vec<ObjectReference> = cj
        .status
        .as_ref()
        .and_then(|s| s.active.clone())
        .unwrap_or_default();
    for r in active {
        if jobs.iter().any(|j| j.uid() == r.uid) {
            continue;
        }
        let name = r.name.clone().unwrap_or_default();
        match job_api.get_opt(&name).await {
            Ok(None) => {
                ctx.recorder
                    .record(
                        &*cj,
                        EventType::Normal,
                        "MissingJob",
                        format!("Active job went missing: {name}"),
                    )
                    .await;
                remove_from_active_list(cj, r.uid.as_deref().unwrap_or_default());
                changed = true;
            }
            Ok(Some(_)) => {}
            Err(e) => {
                return Err((changed, api_err(e, || format!("get job {ns}/{name}"))));
            }
        }
    }
    if cj.metadata.deletion_timestamp.is_some() {
        return Ok((None, changed));
    }
    let spec = cj.spec.clone().unwrap_or_default();
    let mut tz = ctx.local.clone();
    if let Some(zone) = &spec.time_zone {
        match cron::load_location(zone) {
            Ok(loaded) => tz = loaded.unwrap_or_else(|| ctx.local.clone()),
            Err(e) => {
                ctx.recorder
                    .record(
                        &*cj,
                        EventType::Warning,
                        "UnknownTimeZone",
                        format!("invalid timeZone: {zone:?}: {e}"),
                    )
                    .await;
                return Ok((None, changed));
            }
        }
    }
    if spec.suspend == Some(true) {
        return Ok((None, changed));
    }
    if spec.schedule.contains("TZ") {
        ctx.recorder
            .record(
                &*cj,
                EventType::Warning,
                "UnsupportedSchedule",
                format!(
                    "CRON_TZ or TZ used in schedule {:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
                    spec.schedule
                ),
            )
            .await;
    }
    let schedule = match cron::parse_standard(&spec.schedule) {
        Ok(s) => s,
        Err(e) => {
            ctx.recorder
                .record(
                    &*cj,
                    EventType::Warning,
                    "UnparseableSchedule",
                    format!("unparseable schedule: {:?} : {e}", spec.schedule),
                )
                .await;
            return Ok((None, changed));
        }
    };
    // `timeZone` is the zone the schedule runs in (a `TZ=` prefix wins).
    let created = cj
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(now);
    let last = cj
        .status
        .as_ref()
        .and_then(|s| s.last_schedule_time.as_ref())
        .map(|t| t.0);
    let next_in = |last: Option<Timestamp>| next_schedule_in(created, last, now, &schedule, &tz);
    let scheduled = match most_recent_schedule_time(
        created,
        last,
        spec.starting_deadline_seconds,
        now,
        &schedule,
        &tz,
        true,
    ) {
        Err(e) => {
            ctx.recorder
                .record(
                    &*cj,
                    EventType::Warning,
                    "InvalidSchedule",
                    format!("invalid schedule: {} : {e}", spec.schedule),
                )
                .await;
            return Ok((None, changed));
        }
        Ok((_, None, _)) => return Ok((next_in(last), changed)),
        Ok((_, Some(t), missed)) => {
            if missed == Missed::Many {
                ctx.recorder
                    .record(
                        &*cj,
                        EventType::Warning,
                        "TooManyMissedTimes",
                        "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew".into(),
                    )
                    .await;
            }
            t
        }
    };
    if let Some(d) = spec.starting_deadline_seconds
        && scheduled.as_second() + d < now.as_second()
    {
        let when = scheduled
            .to_zoned(TimeZone::UTC)
            .strftime("%a, %d %b %Y %H:%M:%S %z")
            .to_string();
        ctx.recorder
            .record(
                &*cj,
                EventType::Warning,
                "MissSchedule",
                format!("Missed scheduled time to start a job: {when}"),
            )
            .await;
        return Ok((next_in(last), changed));
    }
    let name = job_name(&cj.name_any(), scheduled);
    let already = cj
        .status
        .as_ref()
        .and_then(|s| s.active.as_ref())
        .is_some_and(|a| a.iter().any(|r| r.name.as_deref() == Some(name.as_str())))
        || last == Some(scheduled);
    if already {
        return Ok((next_in(last), changed));
    }
    let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
    let active_now = cj
        .status
        .as_ref()
        .and_then(|s| s.active.as_ref())
        .map_or(0, Vec::len);
    if policy == "Forbid" && active_now > 0 {
        ctx.recorder
            .record(
                &*cj,
                EventType::Normal,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid".into(),
            )
            .await;
        return Ok((next_in(last), changed));
    }
    if policy == "Replace" {
        let active: Vec<ObjectReference> = cj
            .status
            .as_ref()
            .and_then(|s| s.active.clone())
            .unwrap_or_default();
        for r in active {
            let jname = r.name.clone().unwrap_or_default();
            let job = match job_api.get(&jname).await {
                Ok(j) => j,
                Err(e) => {
                    ctx.recorder
                        .record(
                            &*cj,
                            EventType::Warning,
                            "FailedGet",
                            format!("Get job: {e}"),
                        )
                        .await;
                    let e = api_err(e, || format!("get job {ns}/{jname}"));
                    return Err((changed, e));
                }
            };
            if !delete_job(ctx, cj, &job).await {
                return Err((
                    changed,
                    Error::Invalid(format!("could not replace job {ns}/{jname}")),
                ));
            }
            changed = true;
        }
    }
    // The Job's time zone for the annotation: `timeZone`, else UTC (Go's
    // `LoadLocation("")`).
    let stamp_tz = match &spec.time_zone {
        Some(_) => tz.clone(),
        None => TimeZone::UTC,
    };
    let request = job_from_template(cj, scheduled, &stamp_tz);
    let created_job = match job_api.create(&PostParams::default(), &request).await {
        Ok(j) => {
            ctx.recorder
                .record(
                    &*cj,
                    EventType::Normal,
                    "SuccessfulCreate",
                    format!("Created job {}", j.name_any()),
                )
                .await;
            j
        }
        Err(e) if crate::is_already_exists(&e) => {
            // Created earlier but the status write was lost: adopt it into
            // the active list if it is ours.
            let existing = job_api
                .get(&name)
                .await
                .ctx(|| format!("get job {ns}/{name}"))
                .map_err(|e| (changed, e))?;
            let ours = cu::controller_ref(existing.metadata.owner_references.as_ref())
                .is_some_and(|r| Some(&r.uid) == cj.metadata.uid.as_ref());
            if !ours || in_active_list(cj, &existing.uid().unwrap_or_default()) {
                return Ok((None, changed));
            }
            existing
        }
        Err(e) => {
            let msg = match &e {
                kube::Error::Api(s) => s.message.clone(),
                other => other.to_string(),
            };
            ctx.recorder
                .record(
                    &*cj,
                    EventType::Warning,
                    "FailedCreate",
                    format!("Error creating job: {msg}"),
                )
                .await;
            let e = api_err(e, || format!("create job {ns}/{name}"));
            return Err((changed, e));
        }
    };
    active_list(cj).push(job_ref(&created_job));
    cj.status
        .get_or_insert_with(Default::default)
        .last_schedule_time = Some(Time(scheduled));
    Ok((next_in(Some(scheduled)), true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn sched(s: &str) -> Schedule {
        cron::parse_standard(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn most_recent_time_is_the_last_one_not_after_now() {
        let s = sched("*/5 * * * *");
        let utc = TimeZone::UTC;
        let created = ts("2024-01-01T00:00:30Z");
        // Nothing due yet.
        let r = most_recent_schedule_time(
            created,
            None,
            None,
            ts("2024-01-01T00:04:00Z"),
            &s,
            &utc,
            true,
        );
        assert_eq!(r, Ok((created, None, Missed::None)));
        // Exactly one due.
        let r = most_recent_schedule_time(
            created,
            None,
            None,
            ts("2024-01-01T00:06:00Z"),
            &s,
            &utc,
            true,
        );
        assert_eq!(
            r,
            Ok((created, Some(ts("2024-01-01T00:05:00Z")), Missed::None))
        );
        // Several missed: the latest one runs.
        let r = most_recent_schedule_time(
            created,
            None,
            None,
            ts("2024-01-01T00:31:00Z"),
            &s,
            &utc,
            true,
        );
        assert_eq!(
            r,
            Ok((created, Some(ts("2024-01-01T00:30:00Z")), Missed::Few))
        );
        // The last schedule time counts instead of the creation.
        let last = Some(ts("2024-01-01T00:30:00Z"));
        let r = most_recent_schedule_time(
            created,
            last,
            None,
            ts("2024-01-01T00:31:00Z"),
            &s,
            &utc,
            true,
        );
        assert_eq!(r, Ok((ts("2024-01-01T00:30:00Z"), None, Missed::None)));
    }

    #[test]
    fn too_many_missed_start_times_are_flagged() {
        let s = sched("* * * * *");
        let created = ts("2024-01-01T00:00:00Z");
        let now = ts("2024-01-01T03:00:30Z");
        let r = most_recent_schedule_time(created, None, None, now, &s, &TimeZone::UTC, true);
        assert_eq!(
            r,
            Ok((created, Some(ts("2024-01-01T03:00:00Z")), Missed::Many))
        );
        // A starting deadline bounds how far back counting starts.
        let r = most_recent_schedule_time(created, None, Some(200), now, &s, &TimeZone::UTC, true);
        let (earliest, recent, missed) = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(earliest, ts("2024-01-01T02:57:10Z"));
        assert_eq!(recent, Some(ts("2024-01-01T03:00:00Z")));
        assert_eq!(missed, Missed::Few);
    }

    #[test]
    fn impossible_schedules_are_errors() {
        let s = sched("0 0 30 2 *");
        let now = ts("2024-01-01T00:00:00Z");
        let r = most_recent_schedule_time(now, None, None, now, &s, &TimeZone::UTC, true);
        assert!(r.is_err());
    }

    #[test]
    fn requeue_lands_just_after_the_next_time() {
        let s = sched("*/1 * * * *");
        let created = ts("2024-01-01T00:00:10Z");
        let now = ts("2024-01-01T00:00:20Z");
        let d = next_schedule_in(created, None, now, &s, &TimeZone::UTC);
        assert_eq!(d, Some(Duration::from_millis(40_100)));
        // With a run at 00:01 recorded, the next is 00:02.
        let now = ts("2024-01-01T00:01:00.5Z");
        let d = next_schedule_in(
            created,
            Some(ts("2024-01-01T00:01:00Z")),
            now,
            &s,
            &TimeZone::UTC,
        );
        assert_eq!(d, Some(Duration::from_millis(59_600)));
    }

    #[test]
    fn schedules_follow_the_time_zone_across_dst() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap_or_else(|e| panic!("{e}"));
        let s = sched("0 9 * * *");
        // 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer.
        let created = ts("2024-03-30T12:00:00Z");
        let r = most_recent_schedule_time(
            created,
            None,
            None,
            ts("2024-03-31T07:30:00Z"),
            &s,
            &berlin,
            true,
        );
        assert_eq!(
            r,
            Ok((created, Some(ts("2024-03-31T07:00:00Z")), Missed::None))
        );
    }

    #[test]
    fn job_names_and_annotations() {
        let t = ts("2024-01-01T10:05:00Z");
        assert_eq!(
            job_name("hello", t),
            format!("hello-{}", t.as_second() / 60)
        );
        let cj: CronJob = serde_json::from_value(json!({
            "metadata": {"name": "hello", "namespace": "ns", "uid": "u1"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {
                "metadata": {"labels": {"a": "b"}, "annotations": {"x": "y"}},
                "spec": {"template": {"spec": {"containers": []}}},
            }},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let ny = TimeZone::get("America/New_York").unwrap_or_else(|e| panic!("{e}"));
        let job = job_from_template(&cj, t, &ny);
        let ann = job.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(
            ann.get(SCHEDULED_TIMESTAMP).map(String::as_str),
            Some("2024-01-01T05:05:00-05:00")
        );
        assert_eq!(ann.get("x").map(String::as_str), Some("y"));
        let owner = &job.metadata.owner_references.unwrap_or_default()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("CronJob", "u1", Some(true))
        );
        assert_eq!(rfc3339_in(t, &TimeZone::UTC), "2024-01-01T10:05:00Z");
    }

    #[test]
    fn oldest_finished_jobs_are_pruned_first() {
        let job = |name: &str, start: Option<&str>| -> Job {
            serde_json::from_value(json!({
                "metadata": {"name": name},
                "status": {"startTime": start},
            }))
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let a = job("a", Some("2024-01-01T00:03:00Z"));
        let b = job("b", Some("2024-01-01T00:01:00Z"));
        let c = job("c", None);
        let d = job("d", Some("2024-01-01T00:02:00Z"));
        let names = |v: Vec<&Job>| v.iter().map(|j| j.name_any()).collect::<Vec<_>>();
        assert_eq!(names(jobs_to_prune(vec![&a, &b, &c, &d], 2)), ["b", "d"]);
        assert_eq!(names(jobs_to_prune(vec![&a, &b], 3)), Vec::<String>::new());
        assert_eq!(names(jobs_to_prune(vec![&a, &c], 0)), ["a", "c"]);
    }
}
