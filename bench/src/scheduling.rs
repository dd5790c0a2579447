//! `skiff-bench scheduling`: end-to-end scheduling throughput and latency
//! on simulated nodes, like scheduler_perf's SchedulingBasic but through
//! the whole cluster: a default `skiff server` (API server, controllers,
//! scheduler), `skiff sim --nodes N`, and pods created in bulk by
//! concurrent clients.
//!
//! Every time is taken on the harness's clock: a pod's create is when its
//! POST was sent; bound and Running are when a watch of the pods first
//! delivered it with `spec.nodeName` set and with `status.phase: Running`.
//! So the latencies include the watch's delivery, as a user's informer
//! would see them.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::json;

use crate::cluster::{Cluster, PodWatch, pod_template};
use crate::report::{Align, Figures, cell, table};
use crate::stats::{Run, drive};

const NAMESPACE: &str = "default";
/// Upper bound of creating the pods, and of waiting for them.
const CREATE_LIMIT: Duration = Duration::from_secs(900);
const WAIT_LIMIT: Duration = Duration::from_secs(900);
/// The target: ten times kube-scheduler's 270 pods/s CI floor.
pub const TARGET_PODS_PER_S: f64 = 2700.0;

pub struct Options {
    pub skiff_bin: PathBuf,
    /// Extra `skiff server` flags (e.g. `--disable-controllers`), to
    /// attribute costs.
    pub server_args: Vec<String>,
    pub nodes: usize,
    pub pods: usize,
    pub clients: usize,
}

fn pod_name(i: usize) -> String {
    format!("sched-{i}")
}

/// The body of pod `i`.
fn pod_body(i: usize) -> Result<Bytes> {
    let mut pod = pod_template(json!({"app": "sched"}));
    pod["metadata"]["name"] = json!(pod_name(i));
    Ok(Bytes::from(
        serde_json::to_vec(&pod).context("failed to encode a pod")?,
    ))
}

pub async fn run(opts: &Options) -> Result<Figures> {
    let mut figures = Figures::default();
    figures.set_text("benchmark", "scheduling");
    figures.set_count("nodes", opts.nodes);
    figures.set_count("pods", opts.pods);
    figures.set_count("clients", opts.clients);

    let mut cluster = Cluster::start(&opts.skiff_bin, opts.nodes, &opts.server_args).await?;
    figures.set("sim_ready_s", cluster.sim_ready.as_secs_f64());
    figures.set("server_rss_nodes_mib", cluster.server.process.rss_mib()?);
    let watch = PodWatch::start(&cluster, NAMESPACE).await?;

    // Send times as nanoseconds after `base`, set before each POST.
    let base = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..opts.pods).map(|_| AtomicU64::new(0)).collect());
    let mut conns = Vec::with_capacity(opts.clients);
    for _ in 0..opts.clients {
        conns.push(cluster.conn().await?);
    }
    eprintln!("creating {} pods with {} clients", opts.pods, opts.clients);
    let path = format!("/api/v1/namespaces/{NAMESPACE}/pods");
    let sent_by_op = sent.clone();
    let create = drive(conns, opts.pods, CREATE_LIMIT, move |mut conn, i| {
        let path = path.clone();
        let sent = sent_by_op.clone();
        async move {
            let body = pod_body(i)?;
            sent[i].store(base.elapsed().as_nanos() as u64, Ordering::Relaxed);
            conn.expect(Method::POST, &path, body, StatusCode::CREATED)
                .await?;
            Ok(conn)
        }
    })
    .await
    .context("creating the pods failed")?;
    figures.set("creates_per_s", create.per_s());
    figures.set("create_p99_ms", create.p99());

    watch
        .wait_for(
            &mut cluster,
            "bound",
            opts.pods,
            WAIT_LIMIT,
            PodWatch::bound,
        )
        .await?;
    watch
        .wait_for(
            &mut cluster,
            "running",
            opts.pods,
            WAIT_LIMIT,
            PodWatch::running,
        )
        .await?;
    let seen = watch.snapshot();

    let at = |nanos: u64| base + Duration::from_nanos(nanos);
    let mut bind = Vec::with_capacity(opts.pods);
    let mut startup = Vec::with_capacity(opts.pods);
    let mut first_create: Option<Instant> = None;
    let mut last_bound: Option<Instant> = None;
    let mut last_running: Option<Instant> = None;
    for (i, sent) in sent.iter().enumerate() {
        let created = at(sent.load(Ordering::Relaxed));
        let s = seen
            .get(&pod_name(i))
            .with_context(|| format!("the watch never saw pod {}", pod_name(i)))?;
        let (Some(bound), Some(running)) = (s.bound, s.running) else {
            bail!("pod {} was not seen bound and running", pod_name(i));
        };
        bind.push(bound.saturating_duration_since(created));
        startup.push(running.saturating_duration_since(created));
        first_create = Some(first_create.map_or(created, |t| t.min(created)));
        last_bound = Some(last_bound.map_or(bound, |t| t.max(bound)));
        last_running = Some(last_running.map_or(running, |t| t.max(running)));
    }
    let (Some(first), Some(last_bound), Some(last_running)) =
        (first_create, last_bound, last_running)
    else {
        bail!("no pods were measured");
    };
    let to_bound = last_bound.saturating_duration_since(first);
    let bind = Run::from_latencies(bind, to_bound);
    let startup = Run::from_latencies(startup, last_running.saturating_duration_since(first));
    figures.set("pods_per_s", bind.per_s());
    figures.set("all_bound_s", to_bound.as_secs_f64());
    figures.set("bind_p50_ms", bind.p50());
    figures.set("bind_p90_ms", bind.ms(0.90));
    figures.set("bind_p99_ms", bind.p99());
    figures.set(
        "all_running_s",
        last_running.saturating_duration_since(first).as_secs_f64(),
    );
    figures.set("startup_p50_ms", startup.p50());
    figures.set("startup_p90_ms", startup.ms(0.90));
    figures.set("startup_p99_ms", startup.p99());
    figures.set("peak_rss_mib", cluster.server.process.peak_rss_mib()?);
    figures.set("rss_mib", cluster.server.process.rss_mib()?);
    figures.set("sim_peak_rss_mib", cluster.sim.peak_rss_mib()?);
    figures.set("server_cpu_s", cluster.server.process.cpu_seconds()?);
    figures.set("sim_cpu_s", cluster.sim.cpu_seconds()?);
    let met = bind.per_s() >= TARGET_PODS_PER_S;
    figures.set_text("target_pods_per_s_met", if met { "yes" } else { "no" });
    Ok(figures)
}

pub fn render(f: &Figures) -> String {
    let row = |label: &str, key: &str| vec![label.to_owned(), cell(f.get(key))];
    let rows = vec![
        row("simulated nodes registered (s)", "sim_ready_s"),
        row("pods created per s", "creates_per_s"),
        row("create p99 (ms)", "create_p99_ms"),
        row(
            "pods bound per s (first create -> last bound)",
            "pods_per_s",
        ),
        row("first create -> last bound (s)", "all_bound_s"),
        row("create -> bound p50 (ms)", "bind_p50_ms"),
        row("create -> bound p90 (ms)", "bind_p90_ms"),
        row("create -> bound p99 (ms)", "bind_p99_ms"),
        row("first create -> last Running (s)", "all_running_s"),
        row("create -> Running p50 (ms)", "startup_p50_ms"),
        row("create -> Running p90 (ms)", "startup_p90_ms"),
        row("create -> Running p99 (ms)", "startup_p99_ms"),
        row(
            "server RSS with the nodes, before pods (MiB)",
            "server_rss_nodes_mib",
        ),
        row("server peak RSS (MiB)", "peak_rss_mib"),
        row("server RSS at the end (MiB)", "rss_mib"),
        row("sim peak RSS (MiB)", "sim_peak_rss_mib"),
        row("server CPU time, whole run (s)", "server_cpu_s"),
        row("sim CPU time, whole run (s)", "sim_cpu_s"),
    ];
    table(
        &[("scheduling", Align::Left), ("value", Align::Right)],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_have_requests_and_distinct_names() {
        let a: serde_json::Value =
            serde_json::from_slice(&pod_body(1).expect("a body")).expect("JSON");
        let b: serde_json::Value =
            serde_json::from_slice(&pod_body(2).expect("a body")).expect("JSON");
        assert_ne!(a["metadata"]["name"], b["metadata"]["name"]);
        let requests = &a["spec"]["containers"][0]["resources"]["requests"];
        assert_eq!(requests["cpu"], "100m");
        assert_eq!(requests["memory"], "128Mi");
    }
}
