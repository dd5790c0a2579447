//! The TTL-after-finished controller (upstream
//! `pkg/controller/ttlafterfinished`): deletes a finished Job
//! `spec.ttlSecondsAfterFinished` seconds after its `Complete` or `Failed`
//! condition became true, with foreground propagation so its pods go first,
//! requeueing each Job for the moment its time runs out.
//!
//! Owns: deleting finished Jobs. Does not own: finishing them (`job`).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Preconditions, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::{Client, ResourceExt};

use crate::informer::Informers;
use crate::{ApiContext, Error, Result};

struct Ctx {
    client: Client,
}

/// Runs the controller until its watch fails.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let jobs = informers.of::<Job>();
    Controller::for_shared_stream(jobs.subscribe(), jobs.store())
        .run(reconcile, error_policy, Arc::new(Ctx { client }))
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

fn error_policy(job: Arc<Job>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(job = %job.name_any(), error = %crate::error_chain(e), "ttl cleanup failed");
    Action::requeue(Duration::from_secs(5))
}

/// `jobFinishTime`: when the `Complete` or `Failed` condition became true,
/// `None` for a job still running.
pub fn finish_time(job: &Job) -> Option<Result<Timestamp, String>> {
    let c = job
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")?;
    Some(c.last_transition_time.as_ref().map(|t| t.0).ok_or_else(|| {
        format!(
            "unable to find the time when the Job {}/{} finished",
            job.namespace().unwrap_or_default(),
            job.name_any()
        )
    }))
}

/// `timeLeft`: `None` when the Job needs no cleanup (no TTL or not
/// finished), else how long it still lives (zero: delete now).
pub fn time_left(job: &Job, now: Timestamp) -> Option<Result<Duration, String>> {
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    let finished = match finish_time(job)? {
        Ok(t) => t,
        Err(e) => return Some(Err(e)),
    };
    if finished > now {
        tracing::info!(job = %job.name_any(), "job finished in the future (clock skew?); cleanup deferred");
    }
    let expire_ms = finished.as_millisecond() + i64::from(ttl) * 1000;
    let left = expire_ms - now.as_millisecond();
    Some(Ok(Duration::from_millis(left.max(0) as u64)))
}

async fn reconcile(job: Arc<Job>, ctx: Arc<Ctx>) -> Result<Action> {
    if job.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    match time_left(&job, Timestamp::now()) {
        None => return Ok(Action::await_change()),
        Some(Err(e)) => return Err(Error::Invalid(e)),
        Some(Ok(d)) if !d.is_zero() => return Ok(Action::requeue(d)),
        Some(Ok(_)) => {}
    }
    // The cache may be stale (the TTL changed, the job was recreated): check
    // the stored Job before deleting it.
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(fresh) = api
        .get_opt(&name)
        .await
        .ctx(|| format!("get job {ns}/{name}"))?
    else {
        return Ok(Action::await_change());
    };
    match time_left(&fresh, Timestamp::now()) {
        None => return Ok(Action::await_change()),
        Some(Err(e)) => return Err(Error::Invalid(e)),
        Some(Ok(d)) if !d.is_zero() => return Ok(Action::requeue(d)),
        Some(Ok(_)) => {}
    }
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        preconditions: Some(Preconditions {
            uid: fresh.uid(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => Ok(Action::await_change()),
        Err(e) if crate::is_not_found(&e) => Ok(Action::await_change()),
        Err(e) => Err(e).ctx(|| format!("delete job {ns}/{name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(ttl: Option<i32>, finished: Option<&str>) -> Job {
        let conditions = finished
            .map(|t| json!([{"type": "Complete", "status": "True", "lastTransitionTime": t}]));
        serde_json::from_value(json!({
            "metadata": {"name": "j", "namespace": "ns"},
            "spec": {"template": {}, "ttlSecondsAfterFinished": ttl},
            "status": {"conditions": conditions},
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn only_finished_jobs_with_a_ttl_expire() {
        let now = ts("2024-01-01T00:00:10Z");
        assert_eq!(
            time_left(&job(None, Some("2024-01-01T00:00:00Z")), now),
            None
        );
        assert_eq!(time_left(&job(Some(5), None), now), None);
        assert_eq!(
            time_left(&job(Some(30), Some("2024-01-01T00:00:00Z")), now),
            Some(Ok(Duration::from_secs(20)))
        );
        assert_eq!(
            time_left(&job(Some(5), Some("2024-01-01T00:00:00Z")), now),
            Some(Ok(Duration::ZERO))
        );
        assert_eq!(
            time_left(&job(Some(0), Some("2024-01-01T00:00:10Z")), now),
            Some(Ok(Duration::ZERO))
        );
    }
}
