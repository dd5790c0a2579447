//! Unit tests of the Job controller's decisions.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::*;

fn job(spec: Value, status: Value) -> Job {
    let mut spec = spec;
    spec["template"] = json!({"metadata": {"labels": {"app": "x"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}});
    serde_json::from_value(json!({
        "metadata": {"name": "work", "namespace": "ns", "uid": "job-uid"},
        "spec": spec,
        "status": status,
    }))
    .unwrap_or_else(|e| panic!("bad job: {e}"))
}

fn pod(uid: &str, phase: &str, index: Option<usize>, finalizer: bool) -> Pod {
    let mut meta = json!({"name": format!("p-{uid}"), "namespace": "ns", "uid": uid});
    if finalizer {
        meta["finalizers"] = json!([TRACKING_FINALIZER]);
    }
    if let Some(ix) = index {
        meta["annotations"] = json!({COMPLETION_INDEX: ix.to_string()});
    }
    serde_json::from_value(json!({"metadata": meta, "status": {"phase": phase}}))
        .unwrap_or_else(|e| panic!("bad pod: {e}"))
}

fn set(v: &[&str]) -> HashSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn wanted_active_pods_never_exceed_what_is_left() {
    assert_eq!(want_active(Some(3), 2, 0, 0), 2);
    assert_eq!(want_active(Some(3), 2, 2, 1), 1);
    assert_eq!(want_active(Some(3), 2, 3, 0), 0);
    assert_eq!(want_active(Some(3), 5, 4, 0), 0);
    // No completions: parallelism until the first success, then no more.
    assert_eq!(want_active(None, 4, 0, 1), 4);
    assert_eq!(want_active(None, 4, 1, 2), 2);
}

#[test]
fn completion_needs_the_count_and_no_active_pod() {
    assert!(counts_complete(Some(3), 3, 0));
    assert!(!counts_complete(Some(3), 3, 1));
    assert!(!counts_complete(Some(3), 2, 0));
    assert!(counts_complete(None, 1, 0));
    assert!(!counts_complete(None, 0, 0));
}

#[test]
fn limits_fail_the_job_or_tell_when_to_look_again() {
    let now = Timestamp::from_second(1_000_000).unwrap_or_default();
    let j = job(json!({"backoffLimit": 2}), json!({}));
    assert_eq!(failure_by_limits(&j, 2, &[], now), (None, None));
    assert_eq!(
        failure_by_limits(&j, 3, &[], now).0.map(|f| f.0),
        Some(reason::BACKOFF_LIMIT_EXCEEDED)
    );
    let started = "1970-01-12T13:46:10Z"; // now - 30 s
    let j = job(
        json!({"activeDeadlineSeconds": 60}),
        json!({"startTime": started}),
    );
    assert_eq!(
        failure_by_limits(&j, 0, &[], now),
        (None, Some(Duration::from_secs(30)))
    );
    let j = job(
        json!({"activeDeadlineSeconds": 30}),
        json!({"startTime": started}),
    );
    assert_eq!(
        failure_by_limits(&j, 0, &[], now).0,
        Some((
            reason::DEADLINE_EXCEEDED,
            "Job was active longer than specified deadline"
        ))
    );
    // A suspended job's deadline does not run.
    let j = job(
        json!({"activeDeadlineSeconds": 30, "suspend": true}),
        json!({"startTime": started}),
    );
    assert_eq!(failure_by_limits(&j, 0, &[], now), (None, None));
}

#[test]
fn restarts_under_on_failure_count_against_the_limit() {
    let mut j = job(json!({"backoffLimit": 2}), json!({}));
    if let Some(s) = j.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
        s.restart_policy = Some("OnFailure".into());
    }
    let restarting: Pod = serde_json::from_value(json!({"status": {"phase": "Running",
        "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 2}]}}))
    .unwrap_or_else(|e| panic!("{e}"));
    let now = Timestamp::now();
    assert_eq!(
        failure_by_limits(&j, 0, &[&restarting], now).0.map(|f| f.0),
        Some(reason::BACKOFF_LIMIT_EXCEEDED)
    );
}

#[test]
fn conditions_are_never_added_as_false() {
    let now = Timestamp::now();
    let mut list = Vec::new();
    assert!(!ensure_condition(
        &mut list,
        "Suspended",
        "False",
        "JobResumed",
        "Job resumed",
        now
    ));
    assert!(list.is_empty());
    assert!(ensure_condition(
        &mut list,
        "Suspended",
        "True",
        "JobSuspended",
        "Job suspended",
        now
    ));
    assert!(!ensure_condition(
        &mut list,
        "Suspended",
        "True",
        "JobSuspended",
        "Job suspended",
        now
    ));
    assert!(ensure_condition(
        &mut list,
        "Suspended",
        "False",
        "JobResumed",
        "Job resumed",
        now
    ));
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].status, "False");
}

#[test]
fn uncounted_pods_move_into_counters_once_their_finalizer_is_gone() {
    let mut status: JobStatus = serde_json::from_value(json!({
        "succeeded": 1,
        "uncountedTerminatedPods": {"succeeded": ["a", "b"], "failed": ["c"]},
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    // b still has its finalizer: it stays uncounted.
    assert!(clean_uncounted(&mut status, &set(&["b"])));
    assert_eq!(status.succeeded, Some(2));
    assert_eq!(status.failed, Some(1));
    let u = status.uncounted_terminated_pods.clone().unwrap_or_default();
    assert_eq!(u.succeeded, Some(vec!["b".to_string()]));
    assert_eq!(u.failed, None);
    // Counted exactly once: a second pass changes nothing.
    assert!(!clean_uncounted(&mut status, &set(&["b"])));
    assert_eq!(status.succeeded, Some(2));
}

#[test]
fn tracking_records_finished_pods_once() {
    let j = job(json!({"completions": 3, "parallelism": 3}), json!({}));
    let done = pod("done", "Succeeded", None, true);
    let failed = pod("failed", "Failed", None, true);
    let running = pod("running", "Running", None, true);
    let counted = pod("counted", "Succeeded", None, false);
    let pending_rm = pod("pending-rm", "Succeeded", None, true);
    let already = pod("already", "Succeeded", None, true);
    let plan = plan_tracking(
        &j,
        &[&done, &failed, &running, &counted, &pending_rm, &already],
        &set(&["pending-rm"]),
        &set(&["already"]),
        &set(&[]),
        &Intervals::default(),
        None,
        &set(&[]),
    );
    assert_eq!(plan.new_uncounted_succeeded, ["done"]);
    assert_eq!(plan.new_uncounted_failed, ["failed"]);
    // The running pod keeps its finalizer; the uncounted one loses it now.
    assert_eq!(plan.remove_finalizer, ["done", "failed", "already"]);
    assert!(!plan.reached_max);
}

#[test]
fn a_failing_job_counts_its_unfinished_pods_as_failed() {
    let j = job(json!({"completions": 3}), json!({}));
    let running = pod("running", "Running", None, true);
    let failing = new_condition(
        "Failed",
        "True",
        "BackoffLimitExceeded",
        "m",
        Timestamp::now(),
    );
    let plan = plan_tracking(
        &j,
        &[&running],
        &set(&[]),
        &set(&[]),
        &set(&[]),
        &Intervals::default(),
        Some(&failing),
        &set(&[]),
    );
    assert_eq!(plan.new_uncounted_failed, ["running"]);
    assert_eq!(plan.remove_finalizer, ["running"]);
    // Success criteria met: the rest are released, not counted as failures.
    let success = new_condition("SuccessCriteriaMet", "True", "", "", Timestamp::now());
    let plan = plan_tracking(
        &j,
        &[&running],
        &set(&[]),
        &set(&[]),
        &set(&[]),
        &Intervals::default(),
        Some(&success),
        &set(&[]),
    );
    assert!(plan.new_uncounted_failed.is_empty());
    assert_eq!(plan.remove_finalizer, ["running"]);
}

#[test]
fn ignored_failures_are_not_counted() {
    let j = job(
        json!({"podFailurePolicy": {"rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]}}),
        json!({}),
    );
    let mut evicted = pod("evicted", "Failed", None, true);
    if let Some(s) = evicted.status.as_mut() {
        s.conditions = Some(vec![k8s_openapi::api::core::v1::PodCondition {
            type_: "DisruptionTarget".into(),
            status: "True".into(),
            ..Default::default()
        }]);
    }
    let plan = plan_tracking(
        &j,
        &[&evicted],
        &set(&[]),
        &set(&[]),
        &set(&[]),
        &Intervals::default(),
        None,
        &set(&[]),
    );
    assert!(plan.new_uncounted_failed.is_empty());
    assert_eq!(plan.remove_finalizer, ["evicted"]);
}

#[test]
fn indexed_jobs_record_new_indexes_in_order() {
    let j = job(
        json!({"completions": 4, "completionMode": "Indexed"}),
        json!({}),
    );
    let p3 = pod("p3", "Succeeded", Some(3), true);
    let p0 = pod("p0", "Succeeded", Some(0), true);
    let p1 = pod("p1", "Succeeded", Some(1), true);
    let out_of_range = pod("p9", "Succeeded", Some(9), true);
    let plan = plan_tracking(
        &j,
        &[&p3, &p0, &p1, &out_of_range],
        &set(&[]),
        &set(&[]),
        &set(&[]),
        &Intervals::parse("1", 4),
        None,
        &set(&[]),
    );
    // Index 1 was already counted; 9 is beyond completions.
    assert_eq!(plan.new_succeeded_indexes, [0, 3]);
    assert!(plan.new_uncounted_succeeded.is_empty());
}

#[test]
fn pods_from_the_template_carry_tracking_and_index() {
    let j = job(
        json!({"completions": 2, "completionMode": "Indexed"}),
        json!({}),
    );
    let p = pod_from_template(&j, Some(1));
    let meta = &p.metadata;
    assert_eq!(meta.generate_name.as_deref(), Some("work-1-"));
    assert_eq!(
        meta.finalizers.as_deref(),
        Some(&[TRACKING_FINALIZER.to_string()][..])
    );
    let ann = meta.annotations.clone().unwrap_or_default();
    assert_eq!(ann.get(COMPLETION_INDEX).map(String::as_str), Some("1"));
    let labels = meta.labels.clone().unwrap_or_default();
    assert_eq!(labels.get(COMPLETION_INDEX).map(String::as_str), Some("1"));
    assert_eq!(labels.get("app").map(String::as_str), Some("x"));
    let spec = p.spec.clone().unwrap_or_default();
    assert_eq!(spec.hostname.as_deref(), Some("work-1"));
    let env = spec.containers[0].env.clone().unwrap_or_default();
    assert_eq!(env[0].name, "JOB_COMPLETION_INDEX");
    let owner = &meta.owner_references.clone().unwrap_or_default()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Job", "job-uid")
    );
    let plain = pod_from_template(&job(json!({}), json!({})), None);
    assert_eq!(plain.metadata.generate_name.as_deref(), Some("work-"));
    assert!(plain.spec.and_then(|s| s.hostname).is_none());
}

#[test]
fn a_cached_job_older_than_our_last_status_write_is_stale() {
    assert!(is_older(Some("41"), Some(42)));
    assert!(!is_older(Some("42"), Some(42)));
    assert!(!is_older(Some("43"), Some(42)));
    // Nothing written yet, or versions that are not revisions: never stale.
    assert!(!is_older(Some("41"), None));
    assert!(!is_older(Some("opaque"), Some(42)));
    assert!(!is_older(None, Some(42)));
}

#[test]
fn failed_indexes_fail_the_job_at_the_end_or_past_the_maximum() {
    // Index 1 failed, 0 succeeded, 2 and 3 still to run.
    assert_eq!(failed_indexes_verdict(1, 1, 4, None), None);
    assert_eq!(
        failed_indexes_verdict(1, 3, 4, None).map(|v| v.0),
        Some(reason::FAILED_INDEXES)
    );
    // Nothing failed: no verdict, even once everything ran.
    assert_eq!(failed_indexes_verdict(0, 4, 4, Some(0)), None);
    // More failed indexes than allowed: at once.
    assert_eq!(failed_indexes_verdict(1, 0, 4, Some(1)), None);
    assert_eq!(
        failed_indexes_verdict(2, 0, 4, Some(1)),
        Some((
            reason::MAX_FAILED_INDEXES_EXCEEDED,
            "Job has exceeded the specified maximal number of failed indexes"
        ))
    );
}

#[test]
fn each_index_waits_out_its_own_back_off() {
    let failed_at = |ix: usize, count: &str, finished: &str| -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": format!("p{ix}"), "annotations": {
                    COMPLETION_INDEX: ix.to_string(),
                    indexes::INDEX_FAILURE_COUNT: count,
                }},
                "status": {"phase": "Failed", "containerStatuses": [{
                    "name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": 1, "finishedAt": finished}},
                }]},
            }))
            .unwrap_or_else(|e| panic!("bad pod: {e}")),
        )
    };
    let now: Timestamp = "2024-01-01T00:01:00Z".parse().unwrap_or_default();
    let mut delayed = BTreeMap::new();
    // Index 1: first failure 4 s ago, 6 s left of 10 s.
    delayed.insert(1, failed_at(1, "0", "2024-01-01T00:00:56Z"));
    // Index 2: third failure (40 s) 30 s ago, 10 s left.
    delayed.insert(2, failed_at(2, "2", "2024-01-01T00:00:30Z"));
    let (ready, wait) = indexes_ready_now(&[0, 1, 2], &delayed, now);
    assert_eq!((ready, wait), (vec![0], Duration::from_secs(6)));
    let (ready, wait) = indexes_ready_now(&[2], &delayed, now);
    assert_eq!((ready, wait), (vec![], Duration::from_secs(10)));
    let later: Timestamp = "2024-01-01T00:02:00Z".parse().unwrap_or_default();
    assert_eq!(
        indexes_ready_now(&[1, 2], &delayed, later),
        (vec![1, 2], Duration::ZERO)
    );
}

#[test]
fn new_pods_of_an_index_carry_its_failure_counts() {
    let j = job(
        json!({"completions": 3, "completionMode": "Indexed", "backoffLimitPerIndex": 1}),
        json!({}),
    );
    let mut p = pod_from_template(&j, Some(2));
    add_index_failure_counts(&mut p, 1, 0);
    let a = p.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        a.get(indexes::INDEX_FAILURE_COUNT).map(String::as_str),
        Some("1")
    );
    assert!(!a.contains_key(indexes::INDEX_IGNORED_FAILURE_COUNT));
    add_index_failure_counts(&mut p, 1, 2);
    let a = p.metadata.annotations.unwrap_or_default();
    assert_eq!(
        a.get(indexes::INDEX_IGNORED_FAILURE_COUNT)
            .map(String::as_str),
        Some("2")
    );
}

#[test]
fn a_failed_pod_awaiting_its_replacement_keeps_its_finalizer() {
    let j = job(
        json!({"completions": 2, "completionMode": "Indexed", "backoffLimitPerIndex": 1}),
        json!({}),
    );
    let waiting = pod("waiting", "Failed", Some(0), true);
    let replaced = pod("replaced", "Failed", Some(1), true);
    let plan = plan_tracking(
        &j,
        &[&waiting, &replaced],
        &set(&[]),
        &set(&[]),
        &set(&[]),
        &Intervals::default(),
        None,
        &set(&["waiting"]),
    );
    assert_eq!(plan.remove_finalizer, ["replaced"]);
    assert_eq!(plan.new_uncounted_failed, ["replaced"]);
    // Once the job is finishing, it goes too.
    let failing = new_condition("Failed", "True", "FailedIndexes", "m", Timestamp::now());
    let plan = plan_tracking(
        &j,
        &[&waiting],
        &set(&[]),
        &set(&[]),
        &set(&[]),
        &Intervals::default(),
        Some(&failing),
        &set(&["waiting"]),
    );
    assert_eq!(plan.remove_finalizer, ["waiting"]);
}
