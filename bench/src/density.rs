//! `skiff-bench density`: fill a cluster of simulated nodes with pods made
//! by ReplicaSets (the Kubernetes density test's setup, with ReplicaSets in
//! place of ReplicationControllers) and report how long it takes, the pod
//! startup latency, a LIST of every pod, and memory.
//!
//! Pod startup latency is defined as the density test does: from the pod's
//! creation to a watch seeing it Running. The harness creates ReplicaSets,
//! not pods, so a pod's creation is read two ways: when the watch first
//! delivered the pod (fine-grained, on the harness's clock, a little after
//! the real creation), and `metadata.creationTimestamp` (upstream's
//! definition, one-second resolution, against the wall clock of the same
//! machine). The fill is a burst far above any steady rate, so the startup
//! latency the target is about is measured after it, in a churn phase:
//! standalone pods created at a steady rate (100/s by default) and deleted
//! again, on the full cluster.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::json;

use crate::cluster::{Cluster, PodWatch, pod_template};
use crate::report::{Align, Figures, cell, table};
use crate::stats::{Run, drive};

const NAMESPACE: &str = "default";
const CREATE_LIMIT: Duration = Duration::from_secs(600);
/// The memory target for the server with 150,000 pods.
pub const TARGET_PEAK_RSS_MIB: f64 = 4096.0;
/// The startup latency target on simulated nodes.
pub const TARGET_STARTUP_P99_MS: f64 = 500.0;
/// Clients creating ReplicaSets.
const CLIENTS: usize = 8;

pub struct Options {
    pub skiff_bin: PathBuf,
    /// Extra `skiff server` flags (e.g. `--disable-controllers`), to
    /// attribute costs.
    pub server_args: Vec<String>,
    pub nodes: usize,
    pub pods: usize,
    /// Replicas of each ReplicaSet (the last one takes the remainder).
    pub per_set: usize,
    /// How long to wait for every pod to run.
    pub limit: Duration,
    /// Pods created per second in the churn phase.
    pub churn_rate: usize,
    /// Length of the churn phase in seconds (0: none).
    pub churn_secs: u64,
}

/// Churn pods are deleted this long after their creation (when they run).
const CHURN_LIFETIME: Duration = Duration::from_secs(10);
/// Clients of the churn phase.
const CHURN_CLIENTS: usize = 16;

fn churn_pod(i: usize) -> Result<Bytes> {
    let template = pod_template(json!({"app": "churn"}));
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("churn-{i}"), "labels": {"app": "churn"}},
        "spec": template["spec"],
    });
    Ok(Bytes::from(
        serde_json::to_vec(&pod).context("failed to encode a pod")?,
    ))
}

/// The churn phase on the full cluster: `rate` pod creations per second for
/// `secs` seconds, each pod deleted again `CHURN_LIFETIME` after its
/// creation once it ran; returns the startup latencies (first seen ->
/// Running) of the churn pods.
async fn churn(
    cluster: &mut Cluster,
    watch: &PodWatch,
    rate: usize,
    secs: u64,
    limit: Duration,
) -> Result<Run> {
    let total = rate * secs as usize;
    let lag = (CHURN_LIFETIME.as_secs_f64() * rate as f64) as usize;
    let mut conns = Vec::with_capacity(CHURN_CLIENTS);
    for _ in 0..CHURN_CLIENTS {
        conns.push(cluster.conn().await?);
    }
    eprintln!("churn: {rate} pod creations/s for {secs} s, each deleted after ~{CHURN_LIFETIME:?}");
    let t0 = tokio::time::Instant::now();
    let path = format!("/api/v1/namespaces/{NAMESPACE}/pods");
    let w = watch.clone();
    drive(conns, total, limit, move |mut conn, i| {
        let path = path.clone();
        let watch = w.clone();
        async move {
            tokio::time::sleep_until(t0 + Duration::from_secs_f64(i as f64 / rate as f64)).await;
            conn.expect(Method::POST, &path, churn_pod(i)?, StatusCode::CREATED)
                .await?;
            if let Some(old) = i.checked_sub(lag) {
                let name = format!("churn-{old}");
                // A pod not yet running stays: its latency still counts.
                if watch.is_running(&name) {
                    conn.expect(
                        Method::DELETE,
                        &format!("{path}/{name}"),
                        Bytes::new(),
                        StatusCode::OK,
                    )
                    .await?;
                }
            }
            Ok(conn)
        }
    })
    .await
    .context("the churn phase failed")?;
    // Waits on a counter: walking (let alone copying) the map of every pod
    // of the fill and formatting `total` names each round would take CPU
    // from the server being measured.
    let deadline = Instant::now() + limit;
    while watch.running_in_group("churn") < total {
        cluster.check_running()?;
        if Instant::now() > deadline {
            bail!("churn pods did not all run within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = watch.snapshot();
    let mut startup = Vec::with_capacity(total);
    for i in 0..total {
        let name = format!("churn-{i}");
        let s = seen
            .get(&name)
            .with_context(|| format!("the watch never saw {name}"))?;
        if let (Some(added), Some(running)) = (s.added, s.running) {
            startup.push(running.saturating_duration_since(added));
        }
    }
    Ok(latencies(startup))
}

/// Replica counts of the sets making `pods` pods, `per_set` each.
fn set_sizes(pods: usize, per_set: usize) -> Vec<usize> {
    let per_set = per_set.max(1);
    let mut sizes = vec![per_set; pods / per_set];
    if !pods.is_multiple_of(per_set) {
        sizes.push(pods % per_set);
    }
    sizes
}

fn replica_set(i: usize, replicas: usize) -> Result<Bytes> {
    let name = format!("density-{i}");
    let rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(json!({"app": name})),
        },
    });
    Ok(Bytes::from(
        serde_json::to_vec(&rs).context("failed to encode a ReplicaSet")?,
    ))
}

/// Nearest-rank quantiles of latencies in milliseconds.
fn latencies(ms: Vec<Duration>) -> Run {
    Run::from_latencies(ms, Duration::from_secs(1))
}

pub async fn run(opts: &Options) -> Result<Figures> {
    let mut figures = Figures::default();
    figures.set_text("benchmark", "density");
    figures.set_count("nodes", opts.nodes);
    figures.set_count("pods", opts.pods);
    figures.set_count("pods_per_replicaset", opts.per_set);

    let mut cluster = Cluster::start(&opts.skiff_bin, opts.nodes, &opts.server_args, &[]).await?;
    figures.set("sim_ready_s", cluster.sim_ready.as_secs_f64());
    figures.set("server_rss_nodes_mib", cluster.server.process.rss_mib()?);
    let watch = PodWatch::start(&cluster, NAMESPACE).await?;

    let sizes = set_sizes(opts.pods, opts.per_set);
    let mut conns = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS.min(sizes.len()) {
        conns.push(cluster.conn().await?);
    }
    eprintln!(
        "creating {} ReplicaSets for {} pods on {} nodes",
        sizes.len(),
        opts.pods,
        opts.nodes
    );
    let start = Instant::now();
    let path = format!("/apis/apps/v1/namespaces/{NAMESPACE}/replicasets");
    let sets = sizes.clone();
    drive(conns, sizes.len(), CREATE_LIMIT, move |mut conn, i| {
        let path = path.clone();
        let replicas = sets[i];
        async move {
            conn.expect(
                Method::POST,
                &path,
                replica_set(i, replicas)?,
                StatusCode::CREATED,
            )
            .await?;
            Ok(conn)
        }
    })
    .await
    .context("creating the ReplicaSets failed")?;

    watch
        .wait_for(
            &mut cluster,
            "running",
            opts.pods,
            opts.limit,
            PodWatch::running,
        )
        .await?;
    let all_running = start.elapsed();
    let seen = watch.snapshot();
    let mut startup = Vec::with_capacity(opts.pods);
    let mut startup_upstream = Vec::with_capacity(opts.pods);
    let mut bind = Vec::with_capacity(opts.pods);
    for (name, s) in &seen {
        // A ReplicaSet may create a pod too many (a create that timed out
        // on its side but landed) and delete it again: not one to wait for.
        if s.deleted && s.running.is_none() {
            continue;
        }
        let (Some(added), Some(running)) = (s.added, s.running) else {
            bail!("pod {name} was not seen running");
        };
        startup.push(running.saturating_duration_since(added));
        if let Some(bound) = s.bound {
            bind.push(bound.saturating_duration_since(added));
        }
        if let (Some(created), Some(running_unix)) = (s.created_unix, s.running_unix) {
            let secs = (running_unix - created as f64).max(0.0);
            startup_upstream.push(Duration::from_secs_f64(secs));
        }
    }
    let startup = latencies(startup);
    let startup_upstream = latencies(startup_upstream);
    let bind = latencies(bind);
    figures.set_count("pods_seen", seen.len());
    figures.set("all_running_s", all_running.as_secs_f64());
    figures.set("pods_per_s", opts.pods as f64 / all_running.as_secs_f64());
    for q in [50, 90, 99] {
        let f = f64::from(q) / 100.0;
        figures.set(&format!("startup_p{q}_ms"), startup.ms(f));
        figures.set(&format!("startup_created_p{q}_ms"), startup_upstream.ms(f));
        figures.set(&format!("bind_p{q}_ms"), bind.ms(f));
    }
    figures.set("peak_rss_mib", cluster.server.process.peak_rss_mib()?);
    figures.set("rss_mib", cluster.server.process.rss_mib()?);
    figures.set("sim_peak_rss_mib", cluster.sim.peak_rss_mib()?);
    figures.set("server_cpu_s", cluster.server.process.cpu_seconds()?);
    figures.set("sim_cpu_s", cluster.sim.cpu_seconds()?);
    figures.set("sim_rss_mib", cluster.sim.rss_mib()?);

    // A LIST of every pod in the cluster, as `kubectl get pods -A` sends it.
    let mut conn = cluster.conn().await?;
    let t0 = Instant::now();
    let body = conn
        .expect(Method::GET, "/api/v1/pods", Bytes::new(), StatusCode::OK)
        .await?;
    figures.set("list_all_ms", t0.elapsed().as_secs_f64() * 1000.0);
    figures.set("list_all_mib", body.len() as f64 / (1024.0 * 1024.0));
    drop(body);
    figures.set(
        "peak_rss_after_list_mib",
        cluster.server.process.peak_rss_mib()?,
    );
    // Startup latency as the issue asks for it: on the full cluster, under
    // a steady churn (the fill above is a burst far above it).
    let churn_startup = if opts.churn_secs > 0 {
        let run = churn(
            &mut cluster,
            &watch,
            opts.churn_rate,
            opts.churn_secs,
            opts.limit,
        )
        .await?;
        figures.set_count("churn_rate", opts.churn_rate);
        for q in [50, 90, 99] {
            let f = f64::from(q) / 100.0;
            figures.set(&format!("churn_startup_p{q}_ms"), run.ms(f));
        }
        figures.set(
            "peak_rss_after_churn_mib",
            cluster.server.process.peak_rss_mib()?,
        );
        Some(run)
    } else {
        None
    };
    // The server's peak over the whole run: the fill, the LIST of every pod
    // and the churn all count against the memory target.
    let peak = cluster.server.process.peak_rss_mib()?;
    figures.set("peak_rss_run_mib", peak);
    let rss_met = peak <= TARGET_PEAK_RSS_MIB;
    let startup_met = churn_startup.as_ref().unwrap_or(&startup).p99() <= TARGET_STARTUP_P99_MS;
    figures.set_text("target_rss_met", if rss_met { "yes" } else { "no" });
    figures.set_text("target_startup_met", if startup_met { "yes" } else { "no" });
    Ok(figures)
}

pub fn render(f: &Figures) -> String {
    let row = |label: &str, key: &str| vec![label.to_owned(), cell(f.get(key))];
    let rows = vec![
        row("simulated nodes registered (s)", "sim_ready_s"),
        row(
            "first ReplicaSet create -> all pods Running (s)",
            "all_running_s",
        ),
        row("pods Running per s", "pods_per_s"),
        row("startup p50, first seen -> Running (ms)", "startup_p50_ms"),
        row("startup p90, first seen -> Running (ms)", "startup_p90_ms"),
        row("startup p99, first seen -> Running (ms)", "startup_p99_ms"),
        row(
            "startup p50, creationTimestamp -> Running (ms)",
            "startup_created_p50_ms",
        ),
        row(
            "startup p90, creationTimestamp -> Running (ms)",
            "startup_created_p90_ms",
        ),
        row(
            "startup p99, creationTimestamp -> Running (ms)",
            "startup_created_p99_ms",
        ),
        row("first seen -> bound p50 (ms)", "bind_p50_ms"),
        row("first seen -> bound p99 (ms)", "bind_p99_ms"),
        row(
            "server RSS with the nodes, before pods (MiB)",
            "server_rss_nodes_mib",
        ),
        row("server peak RSS until all Running (MiB)", "peak_rss_mib"),
        row("server RSS with all pods (MiB)", "rss_mib"),
        row("sim peak RSS (MiB)", "sim_peak_rss_mib"),
        row("server CPU time, the fill (s)", "server_cpu_s"),
        row("sim CPU time, the fill (s)", "sim_cpu_s"),
        row("sim RSS with all pods (MiB)", "sim_rss_mib"),
        row("LIST of all pods (ms)", "list_all_ms"),
        row("LIST of all pods, body (MiB)", "list_all_mib"),
        row(
            "server peak RSS after the LIST (MiB)",
            "peak_rss_after_list_mib",
        ),
        row("churn: pod creations per s", "churn_rate"),
        row(
            "churn startup p50, first seen -> Running (ms)",
            "churn_startup_p50_ms",
        ),
        row(
            "churn startup p90, first seen -> Running (ms)",
            "churn_startup_p90_ms",
        ),
        row(
            "churn startup p99, first seen -> Running (ms)",
            "churn_startup_p99_ms",
        ),
        row(
            "server peak RSS after the churn (MiB)",
            "peak_rss_after_churn_mib",
        ),
        row("server peak RSS, whole run (MiB)", "peak_rss_run_mib"),
    ];
    table(&[("density", Align::Left), ("value", Align::Right)], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_add_up_to_the_pods() {
        assert_eq!(set_sizes(900, 300), vec![300, 300, 300]);
        assert_eq!(set_sizes(1000, 300), vec![300, 300, 300, 100]);
        assert_eq!(set_sizes(10, 300), vec![10]);
        assert_eq!(set_sizes(0, 300), Vec::<usize>::new());
    }

    #[test]
    fn replica_sets_select_their_template() {
        let rs: serde_json::Value =
            serde_json::from_slice(&replica_set(3, 30).expect("a body")).expect("JSON");
        assert_eq!(rs["spec"]["replicas"], 30);
        assert_eq!(
            rs["spec"]["selector"]["matchLabels"]["app"],
            rs["spec"]["template"]["metadata"]["labels"]["app"]
        );
    }
}
