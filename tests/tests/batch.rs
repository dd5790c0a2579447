//! End-to-end tests of the batch/v1 controllers (Job, CronJob, TTL after
//! finished) against a real `skiff server` with `skiff sim` nodes: the pods'
//! `sim.skiff.dev/exit-after` and `exit-code` annotations make them succeed or
//! fail, and the real kubectl reads and waits on the results.

use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use skiff_tests::{KUBECTL_VERSIONS, Server, Sim, wait_for};

const KUBECTL: &str = "1.33";

/// A server with two simulated nodes and a client.
async fn cluster() -> Result<(Server, Sim, Client)> {
    let server = Server::start()?;
    let sim = Sim::start(&server, &["--nodes", "2"])?;
    let client = server.client().await?;
    Ok((server, sim, client))
}

/// A Job whose pods exit after `exit_after` with `exit_code`.
fn job(name: &str, spec: Value, exit_after: &str, exit_code: i32) -> Result<Job> {
    let mut spec = spec;
    spec["template"] = json!({
        "metadata": {"annotations": {
            "sim.skiff.dev/exit-after": exit_after,
            "sim.skiff.dev/exit-code": exit_code.to_string(),
        }},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox"}],
        },
    });
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name}, "spec": spec}),
    )?)
}

fn conditions(job: &Job) -> Vec<(String, String, String)> {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c.type_.clone(),
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn has_condition(job: &Job, type_: &str) -> bool {
    conditions(job)
        .iter()
        .any(|(t, s, _)| t == type_ && s == "True")
}

async fn job_pods(client: &Client, job: &str) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let lp = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    Ok(pods.list(&lp).await?.items)
}

async fn event_reasons(client: &Client, name: &str) -> Result<Vec<String>> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    Ok(events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .filter_map(|e| e.reason)
        .collect())
}

async fn wait_job(
    client: &Client,
    name: &str,
    what: &str,
    done: impl Fn(&Job) -> bool,
) -> Result<Job> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    wait_for(what, Duration::from_secs(60), || async {
        let j = jobs.get(name).await?;
        Ok(done(&j).then_some(j))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn job_with_completions_completes_and_kubectl_waits() -> Result<()> {
    let (server, _sim, client) = cluster().await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let j = job(
        "three",
        json!({"completions": 3, "parallelism": 2}),
        "1s",
        0,
    )?;
    jobs.create(&Default::default(), &j).await?;
    server.kubectl_ok(
        KUBECTL,
        &[
            "wait",
            "--for=condition=complete",
            "job/three",
            "--timeout=60s",
        ],
    )?;
    let done = jobs.get("three").await?;
    let status = done.status.clone().context("no status")?;
    assert_eq!(status.succeeded, Some(3));
    assert_eq!(status.active, None);
    assert!(status.completion_time.is_some() && status.start_time.is_some());
    assert!(
        status
            .uncounted_terminated_pods
            .is_some_and(|u| u.succeeded.is_none() && u.failed.is_none())
    );
    let conds = conditions(&done);
    assert!(
        conds.contains(&(
            "SuccessCriteriaMet".into(),
            "True".into(),
            "CompletionsReached".into()
        )) && conds.contains(&(
            "Complete".into(),
            "True".into(),
            "CompletionsReached".into()
        )),
        "conditions: {conds:?}"
    );
    // Never more pods than completions needed, none left with a finalizer.
    let pods = job_pods(&client, "three").await?;
    assert_eq!(
        pods.len(),
        3,
        "pods: {:?}",
        pods.iter().map(|p| p.name_any()).collect::<Vec<_>>()
    );
    for p in &pods {
        assert!(p.name_any().starts_with("three-"));
        assert!(
            !p.finalizers()
                .iter()
                .any(|f| f == "batch.kubernetes.io/job-tracking"),
            "{} keeps its tracking finalizer",
            p.name_any()
        );
        let labels = p.labels();
        assert_eq!(labels.get("job-name").map(String::as_str), Some("three"));
        assert_eq!(labels.get("controller-uid"), done.uid().as_ref());
    }
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["get", "job", "three"])?;
        let row: Vec<&str> = out
            .lines()
            .nth(1)
            .context("no row")?
            .split_whitespace()
            .collect();
        assert_eq!(
            &row[..3],
            ["three", "Complete", "3/3"],
            "kubectl {v}: {out}"
        );
    }
    // Upstream records the Completed event after the status write that
    // `kubectl wait` sees, so it may come a moment later.
    let reasons = wait_for("the Completed event", Duration::from_secs(30), || async {
        let r = event_reasons(&client, "three").await?;
        Ok(r.iter().any(|r| r == "Completed").then_some(r))
    })
    .await?;
    // Exactly one pod per completion: none created beyond need, so none
    // deleted either.
    assert!(
        reasons.iter().filter(|r| *r == "SuccessfulCreate").count() == 3
            && !reasons.iter().any(|r| r == "SuccessfulDelete"),
        "{reasons:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_job_hits_its_backoff_limit() -> Result<()> {
    let (server, _sim, client) = cluster().await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(
        &Default::default(),
        &job("fails", json!({"backoffLimit": 1}), "500ms", 3)?,
    )
    .await?;
    // Two failures (the second after the 10 s back-off) exceed the limit of 1.
    server.kubectl_ok(
        KUBECTL,
        &[
            "wait",
            "--for=condition=failed",
            "job/fails",
            "--timeout=60s",
        ],
    )?;
    let done = jobs.get("fails").await?;
    let conds = conditions(&done);
    assert!(
        conds.contains(&(
            "FailureTarget".into(),
            "True".into(),
            "BackoffLimitExceeded".into()
        )) && conds.contains(&(
            "Failed".into(),
            "True".into(),
            "BackoffLimitExceeded".into()
        )),
        "conditions: {conds:?}"
    );
    let status = done.status.clone().context("no status")?;
    assert_eq!(status.failed, Some(2));
    assert_eq!(status.succeeded, None);
    assert_eq!(job_pods(&client, "fails").await?.len(), 2);
    let out = server.kubectl_ok(KUBECTL, &["get", "job", "fails"])?;
    assert!(out.contains("Failed"), "{out}");
    let reasons = event_reasons(&client, "fails").await?;
    assert!(
        reasons.iter().any(|r| r == "BackoffLimitExceeded"),
        "{reasons:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn pod_failure_policy_fails_the_job_at_once() -> Result<()> {
    let (_server, _sim, client) = cluster().await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let spec = json!({"backoffLimit": 6, "podFailurePolicy": {"rules": [
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
    ]}});
    jobs.create(&Default::default(), &job("fatal", spec, "500ms", 42)?)
        .await?;
    let done = wait_job(&client, "fatal", "the job to fail", |j| {
        has_condition(j, "Failed")
    })
    .await?;
    let failed = conditions(&done)
        .into_iter()
        .find(|(t, _, _)| t == "Failed")
        .context("no Failed condition")?;
    assert_eq!(failed.2, "PodFailurePolicy");
    assert_eq!(job_pods(&client, "fatal").await?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn indexed_job_reports_completed_indexes() -> Result<()> {
    let (server, _sim, client) = cluster().await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let spec = json!({"completions": 4, "parallelism": 2, "completionMode": "Indexed"});
    jobs.create(&Default::default(), &job("idx", spec, "1s", 0)?)
        .await?;
    server.kubectl_ok(
        KUBECTL,
        &[
            "wait",
            "--for=condition=complete",
            "job/idx",
            "--timeout=60s",
        ],
    )?;
    let done = jobs.get("idx").await?;
    let status = done.status.clone().context("no status")?;
    assert_eq!(status.completed_indexes.as_deref(), Some("0-3"));
    assert_eq!(status.succeeded, Some(4));
    let pods = job_pods(&client, "idx").await?;
    let mut seen: Vec<String> = pods
        .iter()
        .map(|p| {
            let ix = p
                .annotations()
                .get("batch.kubernetes.io/job-completion-index")
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                p.labels().get("batch.kubernetes.io/job-completion-index"),
                Some(&ix)
            );
            let spec = p.spec.as_ref();
            assert_eq!(
                spec.and_then(|s| s.hostname.clone()),
                Some(format!("idx-{ix}"))
            );
            let env = spec
                .and_then(|s| s.containers[0].env.clone())
                .unwrap_or_default();
            assert!(env.iter().any(|e| e.name == "JOB_COMPLETION_INDEX"));
            assert!(p.name_any().starts_with(&format!("idx-{ix}-")));
            ix
        })
        .collect();
    seen.sort();
    assert_eq!(seen, ["0", "1", "2", "3"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn suspended_job_deletes_its_pods_and_resumes() -> Result<()> {
    let (_server, _sim, client) = cluster().await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let spec = json!({"completions": 2, "parallelism": 2});
    jobs.create(&Default::default(), &job("pause", spec, "15s", 0)?)
        .await?;
    wait_job(&client, "pause", "two active pods", |j| {
        j.status.as_ref().and_then(|s| s.active) == Some(2)
    })
    .await?;
    let patch = |suspend: bool| json!({"spec": {"suspend": suspend}});
    jobs.patch(
        "pause",
        &PatchParams::default(),
        &Patch::Merge(&patch(true)),
    )
    .await?;
    let suspended = wait_job(&client, "pause", "the job to be suspended", |j| {
        has_condition(j, "Suspended") && j.status.as_ref().and_then(|s| s.active).is_none()
    })
    .await?;
    assert!(conditions(&suspended).contains(&(
        "Suspended".into(),
        "True".into(),
        "JobSuspended".into()
    )));
    wait_for(
        "the pods to be deleted",
        Duration::from_secs(30),
        || async { Ok(job_pods(&client, "pause").await?.is_empty().then_some(())) },
    )
    .await?;
    jobs.patch(
        "pause",
        &PatchParams::default(),
        &Patch::Merge(&patch(false)),
    )
    .await?;
    let done = wait_job(&client, "pause", "the resumed job to complete", |j| {
        has_condition(j, "Complete")
    })
    .await?;
    assert!(conditions(&done).contains(&("Suspended".into(), "False".into(), "JobResumed".into())));
    let reasons = event_reasons(&client, "pause").await?;
    assert!(reasons.iter().any(|r| r == "Suspended") && reasons.iter().any(|r| r == "Resumed"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn ttl_after_finished_deletes_the_job_and_its_pods() -> Result<()> {
    let (_server, _sim, client) = cluster().await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(
        &Default::default(),
        &job("short", json!({"ttlSecondsAfterFinished": 3}), "500ms", 0)?,
    )
    .await?;
    let done = wait_job(&client, "short", "the job to complete", |j| {
        has_condition(j, "Complete")
    })
    .await?;
    let finished = done
        .status
        .as_ref()
        .and_then(|s| s.completion_time.clone())
        .context("no completion time")?;
    wait_for("the job to be deleted", Duration::from_secs(60), || async {
        Ok(jobs.get_opt("short").await?.is_none().then_some(()))
    })
    .await?;
    // Not before its time to live.
    let gone_after = k8s_openapi::jiff::Timestamp::now().as_second() - finished.0.as_second();
    assert!(gone_after >= 3, "deleted {gone_after}s after finishing");
    wait_for(
        "the pods to be collected",
        Duration::from_secs(30),
        || async { Ok(job_pods(&client, "short").await?.is_empty().then_some(())) },
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_create_job_and_invalid_schedules() -> Result<()> {
    let (server, _sim, client) = cluster().await?;
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl(
            v,
            &[
                "create",
                "cronjob",
                "bad",
                "--image=busybox",
                "--schedule=61 * * * *",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("end of range (61) above maximum (59): 61"),
            "kubectl {v}: {stderr}"
        );
        let out = server.kubectl(
            v,
            &[
                "create",
                "cronjob",
                "bad",
                "--image=busybox",
                "--schedule=TZ=UTC 0 * * * *",
            ],
        );
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("use timeZone field instead"));
    }
    server.kubectl_ok(KUBECTL, &["create", "job", "plain", "--image=busybox"])?;
    // `kubectl create job` pods run forever in the sim: it is enough that
    // the controller started one.
    wait_for("a pod of job plain", Duration::from_secs(30), || async {
        Ok((!job_pods(&client, "plain").await?.is_empty()).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn cronjob_runs_on_schedule_and_prunes_history() -> Result<()> {
    let (server, _sim, client) = cluster().await?;
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let cj: CronJob = serde_json::from_value(json!({
        "metadata": {"name": "tick"},
        "spec": {
            "schedule": "*/1 * * * *",
            "successfulJobsHistoryLimit": 1,
            "jobTemplate": {"spec": {"template": {
                "metadata": {"annotations": {"sim.skiff.dev/exit-after": "500ms"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
            }}},
        },
    }))?;
    cronjobs.create(&Default::default(), &cj).await?;
    // Jobs made by hand from the CronJob count for its history.
    server.kubectl_ok(
        KUBECTL,
        &["create", "job", "manual-1", "--from=cronjob/tick"],
    )?;
    wait_job(&client, "manual-1", "manual-1 to complete", |j| {
        has_condition(j, "Complete")
    })
    .await?;
    server.kubectl_ok(
        KUBECTL,
        &["create", "job", "manual-2", "--from=cronjob/tick"],
    )?;
    wait_job(&client, "manual-2", "manual-2 to complete", |j| {
        has_condition(j, "Complete")
    })
    .await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    wait_for(
        "the oldest finished job to be pruned",
        Duration::from_secs(30),
        || async { Ok(jobs.get_opt("manual-1").await?.is_none().then_some(())) },
    )
    .await?;
    let with_success = wait_for("lastSuccessfulTime", Duration::from_secs(30), || async {
        let c = cronjobs.get("tick").await?;
        Ok(c.status
            .as_ref()
            .and_then(|s| s.last_successful_time.clone())
            .map(|_| c))
    })
    .await?;
    assert!(with_success.status.is_some());

    // The next minute boundary starts a job named after its minute.
    let scheduled = wait_for("a scheduled job", Duration::from_secs(75), || async {
        let list = jobs.list(&ListParams::default()).await?;
        Ok(list.items.into_iter().find(|j| {
            j.annotations()
                .contains_key("batch.kubernetes.io/cronjob-scheduled-timestamp")
        }))
    })
    .await?;
    let stamp = scheduled
        .annotations()
        .get("batch.kubernetes.io/cronjob-scheduled-timestamp")
        .cloned()
        .unwrap_or_default();
    let at: k8s_openapi::jiff::Timestamp = stamp
        .parse()
        .with_context(|| format!("bad timestamp {stamp}"))?;
    assert_eq!(at.as_second() % 60, 0);
    assert_eq!(
        scheduled.name_any(),
        format!("tick-{}", at.as_second() / 60)
    );
    let owner = scheduled
        .owner_references()
        .first()
        .cloned()
        .context("no owner")?;
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("CronJob", Some(true))
    );
    let c = wait_for("lastScheduleTime", Duration::from_secs(30), || async {
        let c = cronjobs.get("tick").await?;
        Ok(c.status
            .as_ref()
            .and_then(|s| s.last_schedule_time.clone())
            .filter(|t| t.0 == at)
            .map(|_| c.clone()))
    })
    .await?;
    assert!(c.status.is_some());
    // Once it completed, the history limit of 1 keeps only it.
    let name = scheduled.name_any();
    wait_for(
        "history pruned to the scheduled job",
        Duration::from_secs(30),
        || async { Ok(jobs.get_opt("manual-2").await?.is_none().then_some(())) },
    )
    .await?;
    assert!(jobs.get_opt(&name).await?.is_some());
    let out = server.kubectl_ok(KUBECTL, &["get", "cronjob", "tick"])?;
    assert!(out.contains("*/1 * * * *"), "{out}");
    let reasons = event_reasons(&client, "tick").await?;
    for want in ["SuccessfulCreate", "SawCompletedJob", "SuccessfulDelete"] {
        assert!(
            reasons.iter().any(|r| r == want),
            "no {want} in {reasons:?}"
        );
    }
    Ok(())
}

/// An Indexed Job of `completions` whose pods exit after `exit_after`,
/// with per-index overrides of the sim (`exit-after-by-index`,
/// `exit-code-by-index`, both `index=value,...`).
fn indexed_job(
    name: &str,
    spec: Value,
    exit_after: &str,
    exit_after_by_index: &str,
    exit_code_by_index: &str,
) -> Result<Job> {
    let mut spec = spec;
    spec["completionMode"] = json!("Indexed");
    spec["template"] = json!({
        "metadata": {"annotations": {
            "sim.skiff.dev/exit-after": exit_after,
            "sim.skiff.dev/exit-code": "0",
            "sim.skiff.dev/exit-after-by-index": exit_after_by_index,
            "sim.skiff.dev/exit-code-by-index": exit_code_by_index,
        }},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox"}],
        },
    });
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name}, "spec": spec}),
    )?)
}

fn pods_of_index<'a>(pods: &'a [Pod], index: &str) -> Vec<&'a Pod> {
    pods.iter()
        .filter(|p| {
            p.annotations()
                .get("batch.kubernetes.io/job-completion-index")
                .map(String::as_str)
                == Some(index)
        })
        .collect()
}

fn failure_count(p: &Pod) -> Option<&str> {
    p.annotations()
        .get("batch.kubernetes.io/job-index-failure-count")
        .map(String::as_str)
}

#[tokio::test(flavor = "multi_thread")]
async fn backoff_limit_per_index_fails_only_the_failing_indexes() -> Result<()> {
    let (server, _sim, client) = cluster().await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    // Index 1 always exits 3 (counted, limit 1: two tries); index 2 exits
    // 42, which the policy turns into an immediate index failure.
    let spec = json!({
        "completions": 4,
        "parallelism": 4,
        "backoffLimitPerIndex": 1,
        "podFailurePolicy": {"rules": [
            {"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [42]}},
        ]},
    });
    jobs.create(
        &Default::default(),
        &indexed_job("perindex", spec, "500ms", "", "1=3,2=42")?,
    )
    .await?;
    let created = jobs.get("perindex").await?;
    // Defaulted as upstream: the global limit steps aside.
    assert_eq!(
        created.spec.as_ref().and_then(|s| s.backoff_limit),
        Some(i32::MAX)
    );
    server.kubectl_ok(
        KUBECTL,
        &[
            "wait",
            "--for=condition=failed",
            "job/perindex",
            "--timeout=90s",
        ],
    )?;
    let done = jobs.get("perindex").await?;
    let conds = conditions(&done);
    assert!(
        conds.contains(&(
            "FailureTarget".into(),
            "True".into(),
            "FailedIndexes".into()
        )) && conds.contains(&("Failed".into(), "True".into(), "FailedIndexes".into())),
        "conditions: {conds:?}"
    );
    let status = done.status.clone().context("no status")?;
    assert_eq!(status.failed_indexes.as_deref(), Some("1,2"));
    assert_eq!(status.completed_indexes.as_deref(), Some("0,3"));
    assert_eq!(status.succeeded, Some(2));
    assert_eq!(status.failed, Some(3));
    let pods = job_pods(&client, "perindex").await?;
    // Index 1 was tried twice, the retry carrying the first failure.
    let mut tries: Vec<Option<&str>> = pods_of_index(&pods, "1")
        .into_iter()
        .map(failure_count)
        .collect();
    tries.sort();
    assert_eq!(tries, [Some("0"), Some("1")]);
    // FailIndex: one try only; succeeded indexes once each.
    for ix in ["0", "2", "3"] {
        assert_eq!(pods_of_index(&pods, ix).len(), 1, "index {ix}");
    }
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(
            v,
            &[
                "get",
                "job",
                "perindex",
                "-o",
                "jsonpath={.status.failedIndexes}",
            ],
        )?;
        assert_eq!(out.trim(), "1,2", "kubectl {v}");
    }
    let out = server.kubectl_ok(KUBECTL, &["get", "job", "perindex"])?;
    assert!(out.contains("Failed"), "{out}");
    let reasons = wait_for(
        "the FailedIndexes event",
        Duration::from_secs(30),
        || async {
            let r = event_reasons(&client, "perindex").await?;
            Ok(r.iter().any(|r| r == "FailedIndexes").then_some(r))
        },
    )
    .await?;
    assert!(
        !reasons.iter().any(|r| r == "SuccessfulDelete"),
        "{reasons:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn max_failed_indexes_exceeded_fails_the_job_at_once() -> Result<()> {
    let (_server, _sim, client) = cluster().await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    // Indexes 0 and 1 fail at once; 2 and 3 would run for two minutes.
    let spec = json!({
        "completions": 4,
        "parallelism": 4,
        "backoffLimitPerIndex": 0,
        "maxFailedIndexes": 1,
    });
    jobs.create(
        &Default::default(),
        &indexed_job("toomany", spec, "120s", "0=500ms,1=500ms", "0=1,1=1")?,
    )
    .await?;
    let started = std::time::Instant::now();
    let done = wait_job(&client, "toomany", "the job to fail", |j| {
        has_condition(j, "Failed")
    })
    .await?;
    assert!(
        started.elapsed() < Duration::from_secs(100),
        "the job waited for its running pods"
    );
    let failed = conditions(&done)
        .into_iter()
        .find(|(t, _, _)| t == "Failed")
        .context("no Failed condition")?;
    assert_eq!(failed.2, "MaxFailedIndexesExceeded");
    let status = done.status.clone().context("no status")?;
    assert_eq!(status.failed_indexes.as_deref(), Some("0,1"));
    assert_eq!(status.completed_indexes, None);
    assert_eq!(status.active, None);
    // The running pods of indexes 2 and 3 were terminated, and counted as
    // failures of the failed job.
    assert_eq!(status.failed, Some(4));
    let reasons = wait_for(
        "the MaxFailedIndexesExceeded event",
        Duration::from_secs(30),
        || async {
            let r = event_reasons(&client, "toomany").await?;
            Ok(r.iter()
                .any(|r| r == "MaxFailedIndexesExceeded")
                .then_some(r))
        },
    )
    .await?;
    assert_eq!(
        reasons.iter().filter(|r| *r == "SuccessfulDelete").count(),
        2,
        "{reasons:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn success_policy_completes_the_job_before_every_index_ran() -> Result<()> {
    let (server, _sim, client) = cluster().await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    // Indexes 0 and 1 (the "leaders") finish; the others would run on.
    let spec = json!({
        "completions": 5,
        "parallelism": 5,
        "successPolicy": {"rules": [{"succeededIndexes": "0,1"}]},
    });
    jobs.create(
        &Default::default(),
        &indexed_job("leaders", spec, "120s", "0=500ms,1=1s", "")?,
    )
    .await?;
    server.kubectl_ok(
        KUBECTL,
        &[
            "wait",
            "--for=condition=complete",
            "job/leaders",
            "--timeout=90s",
        ],
    )?;
    let done = jobs.get("leaders").await?;
    let status = done.status.clone().context("no status")?;
    let met = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "SuccessCriteriaMet")
        .context("no SuccessCriteriaMet")?;
    assert_eq!(
        (
            met.status.as_str(),
            met.reason.as_deref(),
            met.message.as_deref()
        ),
        (
            "True",
            Some("SuccessPolicy"),
            Some("Matched rules at index 0")
        )
    );
    assert!(conditions(&done).contains(&(
        "Complete".into(),
        "True".into(),
        "SuccessPolicy".into()
    )));
    assert_eq!(status.completed_indexes.as_deref(), Some("0,1"));
    assert_eq!(status.succeeded, Some(2));
    assert_eq!(status.active, None);
    assert!(status.completion_time.is_some());
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["get", "job", "leaders"])?;
        let row: Vec<&str> = out
            .lines()
            .nth(1)
            .context("no row")?
            .split_whitespace()
            .collect();
        assert_eq!(
            &row[..3],
            ["leaders", "Complete", "2/5"],
            "kubectl {v}: {out}"
        );
    }
    let reasons = wait_for("the Completed event", Duration::from_secs(30), || async {
        let r = event_reasons(&client, "leaders").await?;
        Ok(r.iter().any(|r| r == "Completed").then_some(r))
    })
    .await?;
    assert_eq!(
        reasons.iter().filter(|r| *r == "SuccessfulDelete").count(),
        3,
        "{reasons:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_per_index_and_success_policy_specs_are_rejected() -> Result<()> {
    let (server, _sim, client) = cluster().await?;
    let manifest = |spec: Value| -> Result<String> {
        let mut spec = spec;
        spec["template"] = json!({"spec": {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox"}]}});
        Ok(serde_json::to_string(&json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "bad"}, "spec": spec,
        }))?)
    };
    let cases = [
        (
            json!({"completions": 3, "completionMode": "Indexed",
                "successPolicy": {"rules": [{"succeededCount": 5}]}}),
            "The Job \"bad\" is invalid: spec.successPolicy.rules[0].succeededCount: Invalid value: 5: must be less than or equal to 3 (the number of specified completions)",
        ),
        (
            json!({"completions": 3, "completionMode": "Indexed",
                "successPolicy": {"rules": [{"succeededIndexes": "2,1"}]}}),
            "spec.successPolicy.rules[0].succeededIndexes: Invalid value: \"2,1\": error parsing succeededIndexes: non-increasing order, previous: 2, current: 1",
        ),
        (
            json!({"completions": 3, "completionMode": "Indexed", "maxFailedIndexes": 1}),
            "spec.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified",
        ),
        (
            json!({"completions": 3, "backoffLimitPerIndex": 1}),
            "spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode",
        ),
        (
            json!({"completions": 3, "completionMode": "Indexed",
                "backoffLimitPerIndex": 1, "maxFailedIndexes": 4}),
            "spec.maxFailedIndexes: Invalid value: 4: must be less than or equal to completions",
        ),
    ];
    for (spec, want) in &cases {
        let body = manifest(spec.clone())?;
        for v in KUBECTL_VERSIONS {
            let out = server.kubectl_with(v, &["create", "-f", "-"], Some(&body));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "kubectl {v} accepted {spec}");
            assert!(stderr.contains(want), "kubectl {v}: {stderr}");
        }
    }
    // The status code is 422, as upstream.
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let bad: Job = serde_json::from_str(&manifest(cases[0].0.clone())?)?;
    match jobs.create(&Default::default(), &bad).await {
        Err(kube::Error::Api(e)) => assert_eq!((e.code, e.reason.as_str()), (422, "Invalid")),
        other => panic!("expected 422, got {other:?}"),
    }
    // Fixed once created.
    let ok: Job = serde_json::from_str(&manifest(json!({"completions": 3,
        "completionMode": "Indexed", "suspend": true, "backoffLimitPerIndex": 1}))?)?;
    jobs.create(&Default::default(), &ok).await?;
    let out = server.kubectl(
        KUBECTL,
        &[
            "patch",
            "job",
            "bad",
            "--type=merge",
            "-p",
            r#"{"spec":{"backoffLimitPerIndex":2}}"#,
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("spec.backoffLimitPerIndex: Invalid value: 2: field is immutable"),
        "{stderr}"
    );
    Ok(())
}
