//! `skiff-bench rollout`: the whole control plane under a Deployment at
//! scale. A full `skiff server` (API server, controllers, scheduler) and
//! `skiff sim` nodes, whose pods run and turn Ready at once, as kwok's do.
//!
//! A Deployment of 1 replica is scaled to N (default 1000) and timed until
//! every replica is Ready and available (`scale_up_s`); then its template
//! changes and the rolling update with the default strategy (25% surge,
//! 25% unavailable) is timed until `kubectl rollout status` would report
//! success (`rollout_s`). The server's RSS is read at the end.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::Conn;
use crate::process::Guard;
use crate::report::{Align, Figures, cell, table};
use crate::skiff;

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
const NAME: &str = "bench-rollout";
/// Upper bound of any one phase.
const PHASE_LIMIT: Duration = Duration::from_secs(300);
/// How long the sim may take to register its nodes.
const SIM_START_LIMIT: Duration = Duration::from_secs(120);
/// How often the Deployment's status is read: well below the figures.
const POLL: Duration = Duration::from_millis(50);

pub struct Options {
    pub skiff_bin: PathBuf,
    /// Simulated nodes.
    pub nodes: usize,
    /// Replicas scaled to.
    pub replicas: usize,
}

/// The Deployment: one container, no resource requests (the sim's nodes
/// have room for all), a template revision in an annotation.
fn deployment(replicas: usize, revision: u32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": NAME, "namespace": "default", "labels": { "app": NAME } },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": NAME } },
            "template": {
                "metadata": {
                    "labels": { "app": NAME },
                    "annotations": { "bench.skiff.dev/revision": revision.to_string() },
                },
                "spec": { "containers": [{ "name": "app", "image": "registry.example.com/bench/app:v1" }] },
            },
        },
    })
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// Where a rollout stands, judged from the Deployment as `kubectl rollout
/// status` judges it: `Ok(true)` when done, `Ok(false)` while it goes on,
/// an error when the Deployment reports its progress deadline exceeded.
pub fn rollout_done(deployment: &Value) -> Result<bool> {
    let status = &deployment["status"];
    let generation = int(&deployment["metadata"]["generation"]);
    if int(&status["observedGeneration"]) < generation {
        return Ok(false);
    }
    if let Some(conditions) = status["conditions"].as_array()
        && conditions
            .iter()
            .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded")
    {
        bail!("deployment {NAME} exceeded its progress deadline");
    }
    let wanted = int(&deployment["spec"]["replicas"]);
    let updated = int(&status["updatedReplicas"]);
    Ok(updated >= wanted
        && int(&status["replicas"]) <= updated
        && int(&status["availableReplicas"]) >= updated)
}

/// Done as [`rollout_done`] and every replica Ready too.
fn all_ready(deployment: &Value) -> Result<bool> {
    let wanted = int(&deployment["spec"]["replicas"]);
    Ok(rollout_done(deployment)? && int(&deployment["status"]["readyReplicas"]) >= wanted)
}

/// The status counters, for progress lines and errors.
fn progress(deployment: &Value) -> String {
    let s = &deployment["status"];
    format!(
        "replicas {}, updated {}, ready {}, available {}",
        int(&s["replicas"]),
        int(&s["updatedReplicas"]),
        int(&s["readyReplicas"]),
        int(&s["availableReplicas"])
    )
}

/// Each ReplicaSet of the Deployment as `spec/ready`, for progress lines:
/// where a rollout stalls shows there.
async fn replica_sets(conn: &mut Conn) -> Result<String> {
    let body = conn
        .expect(
            Method::GET,
            &format!("/apis/apps/v1/namespaces/default/replicasets?labelSelector=app%3D{NAME}"),
            Bytes::new(),
            StatusCode::OK,
        )
        .await?;
    let list: Value = serde_json::from_slice(&body).context("bad replica set list")?;
    let mut sets: Vec<(String, String)> = list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|rs| {
            (
                rs["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                format!(
                    "rs {}/{} ready",
                    int(&rs["spec"]["replicas"]),
                    int(&rs["status"]["readyReplicas"])
                ),
            )
        })
        .collect();
    sets.sort();
    Ok(sets
        .into_iter()
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(", "))
}

/// Reads the Deployment until `done` says so; the time from `since`.
async fn wait(
    conn: &mut Conn,
    what: &str,
    since: Instant,
    done: impl Fn(&Value) -> Result<bool>,
) -> Result<Duration> {
    let mut last_report = Instant::now();
    loop {
        let body = conn
            .expect(
                Method::GET,
                &format!("{DEPLOYMENTS}/{NAME}"),
                Bytes::new(),
                StatusCode::OK,
            )
            .await?;
        let d: Value = serde_json::from_slice(&body).context("bad deployment")?;
        if done(&d)? {
            return Ok(since.elapsed());
        }
        if since.elapsed() > PHASE_LIMIT {
            bail!("{what} not done after {PHASE_LIMIT:?}: {}", progress(&d));
        }
        if last_report.elapsed() > Duration::from_secs(2) {
            eprintln!("  {what}: {}; {}", progress(&d), replica_sets(conn).await?);
            last_report = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Starts `skiff sim` against the server and waits for its nodes.
fn start_sim(opts: &Options, server: &skiff::Server) -> Result<Guard> {
    let log = std::fs::File::create(server.data_dir().join("sim.log"))
        .context("failed to create the sim log")?;
    let mut child = Command::new(&opts.skiff_bin)
        .arg("sim")
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .args(["--nodes", &opts.nodes.to_string()])
        .env("SKIFF_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("failed to start {} sim", opts.skiff_bin.display()))?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let mut guard = Guard::new(child, "skiff sim");
    let (tx, rx) = std::sync::mpsc::channel();
    // Keeps draining stdout after the line so the child never blocks on it.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("skiff sim: ") && line.ends_with(" nodes ready") {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(SIM_START_LIMIT).is_err() {
        guard.check_running()?;
        bail!("skiff sim did not report its nodes ready within {SIM_START_LIMIT:?}");
    }
    Ok(guard)
}

pub async fn run(opts: &Options) -> Result<Figures> {
    let mut figures = Figures::default();
    figures.set_text("benchmark", "rollout");
    figures.set_count("nodes", opts.nodes);
    figures.set_count("replicas", opts.replicas);

    eprintln!("skiff: {}", opts.skiff_bin.display());
    let server = skiff::start(&opts.skiff_bin, &[])
        .await
        .context("failed to start skiff")?;
    let sim = start_sim(opts, &server)?;
    eprintln!("  {} simulated nodes ready", opts.nodes);
    let mut conn = Conn::connect(server.addr, &server.admin).await?;
    let start = Instant::now();
    conn.expect(
        Method::POST,
        DEPLOYMENTS,
        Bytes::from(deployment(1, 1).to_string()),
        StatusCode::CREATED,
    )
    .await
    .context("failed to create the Deployment")?;
    let first = wait(&mut conn, "1 replica", start, all_ready).await?;
    figures.set("first_replica_s", first.as_secs_f64());
    eprintln!("  1 replica ready in {:.2} s", first.as_secs_f64());

    let merge = "application/merge-patch+json";
    let start = Instant::now();
    conn.expect_as(
        Method::PATCH,
        &format!("{DEPLOYMENTS}/{NAME}"),
        merge,
        Bytes::from(json!({ "spec": { "replicas": opts.replicas } }).to_string()),
        StatusCode::OK,
    )
    .await
    .context("failed to scale the Deployment")?;
    let scale_up = wait(&mut conn, "scale up", start, all_ready).await?;
    figures.set("scale_up_s", scale_up.as_secs_f64());
    figures.set(
        "scale_up_pods_per_s",
        opts.replicas as f64 / scale_up.as_secs_f64(),
    );
    eprintln!(
        "  {} replicas ready in {:.2} s",
        opts.replicas,
        scale_up.as_secs_f64()
    );

    let start = Instant::now();
    let template = &deployment(opts.replicas, 2)["spec"]["template"];
    conn.expect_as(
        Method::PATCH,
        &format!("{DEPLOYMENTS}/{NAME}"),
        merge,
        Bytes::from(json!({ "spec": { "template": template } }).to_string()),
        StatusCode::OK,
    )
    .await
    .context("failed to change the template")?;
    let rollout = wait(&mut conn, "rollout", start, rollout_done).await?;
    figures.set("rollout_s", rollout.as_secs_f64());
    eprintln!("  rolled out in {:.2} s", rollout.as_secs_f64());

    figures.set("server_rss_mib", server.process.rss_mib()?);
    figures.set("sim_rss_mib", sim.rss_mib()?);
    // CPU used over the whole run: against the wall time it shows whether
    // the processes were starved (a shared machine) or waiting on each other.
    figures.set("server_cpu_s", server.process.cpu_s()?);
    figures.set("sim_cpu_s", sim.cpu_s()?);
    Ok(figures)
}

/// The table for people; the JSON line is [`Figures::json`].
pub fn render(figures: &Figures) -> String {
    let replicas = figures.get("replicas").unwrap_or(0.0);
    let rows = vec![
        vec![
            "create, 1 replica Ready".to_owned(),
            cell(figures.get("first_replica_s")),
        ],
        vec![
            format!("scale 1 -> {replicas:.0}, all Ready"),
            cell(figures.get("scale_up_s")),
        ],
        vec![
            "rolling update (25% surge, 25% unavailable)".to_owned(),
            cell(figures.get("rollout_s")),
        ],
        vec![
            "server RSS after (MiB)".to_owned(),
            cell(figures.get("server_rss_mib")),
        ],
        vec![
            "sim RSS after (MiB)".to_owned(),
            cell(figures.get("sim_rss_mib")),
        ],
        vec![
            "server CPU over the run (s)".to_owned(),
            cell(figures.get("server_cpu_s")),
        ],
        vec![
            "sim CPU over the run (s)".to_owned(),
            cell(figures.get("sim_cpu_s")),
        ],
    ];
    table(&[("phase", Align::Left), ("s or MiB", Align::Right)], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(generation: i64, replicas: i64, status: Value) -> Value {
        json!({"metadata": {"generation": generation}, "spec": {"replicas": replicas}, "status": status})
    }

    #[test]
    fn rollout_is_done_as_kubectl_rollout_status_says() {
        let full = json!({"observedGeneration": 2, "replicas": 10, "updatedReplicas": 10,
                          "availableReplicas": 10, "readyReplicas": 10});
        assert!(rollout_done(&d(2, 10, full.clone())).expect("ok"));
        // The controller has not seen the change yet.
        assert!(!rollout_done(&d(3, 10, full.clone())).expect("ok"));
        // Old replicas still around.
        let mut old = full.clone();
        old["replicas"] = json!(12);
        assert!(!rollout_done(&d(2, 10, old)).expect("ok"));
        // New ones not all available.
        let mut waiting = full.clone();
        waiting["availableReplicas"] = json!(9);
        assert!(!rollout_done(&d(2, 10, waiting)).expect("ok"));
        let mut stuck = full;
        stuck["conditions"] = json!([{"type": "Progressing", "status": "False",
                                      "reason": "ProgressDeadlineExceeded"}]);
        assert!(rollout_done(&d(2, 10, stuck)).is_err());
    }

    #[test]
    fn scale_up_waits_for_readiness_too() {
        let status = json!({"observedGeneration": 1, "replicas": 5, "updatedReplicas": 5,
                            "availableReplicas": 5, "readyReplicas": 4});
        assert!(!all_ready(&d(1, 5, status)).expect("ok"));
    }

    #[test]
    fn revisions_differ_only_in_the_template_annotation() {
        let a = deployment(1000, 1);
        let b = deployment(1000, 2);
        assert_ne!(a["spec"]["template"], b["spec"]["template"]);
        assert_eq!(a["spec"]["selector"], b["spec"]["selector"]);
    }
}
