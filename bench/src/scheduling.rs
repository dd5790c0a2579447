//! `skiff-bench scheduling`: end-to-end scheduling throughput and latency
//! on simulated nodes, like scheduler_perf's test cases
//! (`test/integration/scheduler_perf/config/performance-config.yaml`) but
//! through the whole cluster: a default `skiff server` (API server,
//! controllers, scheduler), `skiff sim --nodes N`, and pods created in bulk
//! by concurrent clients.
//!
//! As scheduler_perf, a run has two phases: `--init-pods` pods are created
//! (in namespace `sched-0`) and waited for, unmeasured; then `--pods` pods
//! are created (in `sched-1`) and measured. `--scenario` picks the nodes'
//! and pods' shape: SchedulingBasic, TopologySpreading,
//! SchedulingPodAntiAffinity, or tainted nodes with tolerating pods.
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
use serde_json::{Value, json};

use crate::cluster::{Cluster, PodWatch, pod_template};
use crate::report::{Align, Figures, cell, table};
use crate::stats::{Run, drive};

/// Namespace of the unmeasured pods created first (scheduler_perf's
/// `createNamespaces` with prefix `sched`).
const INIT_NAMESPACE: &str = "sched-0";
/// Namespace of the measured pods.
const NAMESPACE: &str = "sched-1";
/// Upper bound of creating the pods, and of waiting for them.
const CREATE_LIMIT: Duration = Duration::from_secs(900);
const WAIT_LIMIT: Duration = Duration::from_secs(900);
/// The target: ten times kube-scheduler's 270 pods/s CI floor.
pub const TARGET_PODS_PER_S: f64 = 2700.0;

/// Label of the nodes in the `taints` scenario, which its pods require.
const POOL_LABEL: &str = "bench.skiff.dev/pool";
const POOL: &str = "sched";
/// The `taints` scenario's node taints (`skiff sim --taints`): one that
/// filters (NoSchedule) and one that scores (PreferNoSchedule).
const TAINTS: &str =
    "bench.skiff.dev/dedicated=sched:NoSchedule,bench.skiff.dev/spot=true:PreferNoSchedule";

/// Which scheduler_perf test case a run models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// SchedulingBasic: plain pods with requests.
    Basic,
    /// TopologySpreading: nodes in three zones; the measured pods carry a
    /// `DoNotSchedule` spread constraint over the zone with maxSkew 5; the
    /// init pods are plain.
    Spread,
    /// SchedulingPodAntiAffinity: every pod has required anti-affinity to
    /// the others on `kubernetes.io/hostname`, so at most one per node.
    AntiAffinity,
    /// Every node tainted (NoSchedule and PreferNoSchedule) and labelled;
    /// pods tolerate the taints and require the label by node affinity
    /// (SchedulingNodeAffinity's required term).
    Taints,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Basic => "basic",
            Scenario::Spread => "spread",
            Scenario::AntiAffinity => "anti-affinity",
            Scenario::Taints => "taints",
        }
    }

    /// Extra `skiff sim` flags for the scenario's nodes.
    pub fn sim_args(self) -> Vec<String> {
        let args: &[&str] = match self {
            // The sim's default already spreads nodes over three zones;
            // said here because the scenario depends on it.
            Scenario::Spread => &["--zones", "3"],
            Scenario::Taints => &["--taints", TAINTS, "--labels", "bench.skiff.dev/pool=sched"],
            Scenario::Basic | Scenario::AntiAffinity => &[],
        };
        args.iter().map(|a| a.to_string()).collect()
    }

    /// Fails when the run cannot finish: required anti-affinity on the
    /// hostname fits one pod per node.
    pub fn check(self, nodes: usize, init_pods: usize, pods: usize) -> Result<()> {
        if self == Scenario::AntiAffinity && init_pods + pods > nodes {
            bail!(
                "the anti-affinity scenario places at most one pod per node: \
                 --init-pods + --pods ({}) must not exceed --nodes ({nodes})",
                init_pods + pods
            );
        }
        Ok(())
    }

    /// The pod created in the unmeasured phase.
    fn init_pod(self, i: usize) -> Value {
        let pod = match self {
            // scheduler_perf's TopologySpreading fills the cluster with
            // default pods first.
            Scenario::Basic | Scenario::Spread => plain_pod(),
            Scenario::AntiAffinity => anti_affinity_pod(),
            Scenario::Taints => tolerating_pod(),
        };
        named(pod, &init_pod_name(i))
    }

    /// The pod created in the measured phase.
    fn measured_pod(self, i: usize) -> Value {
        let pod = match self {
            Scenario::Basic => plain_pod(),
            Scenario::Spread => spreading_pod(),
            Scenario::AntiAffinity => anti_affinity_pod(),
            Scenario::Taints => tolerating_pod(),
        };
        named(pod, &pod_name(i))
    }
}

fn plain_pod() -> Value {
    pod_template(json!({"app": "sched"}))
}

/// pod-with-topology-spreading.yaml's constraint.
fn spreading_pod() -> Value {
    let mut pod = pod_template(json!({"color": "blue"}));
    pod["spec"]["topologySpreadConstraints"] = json!([{
        "maxSkew": 5,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"color": "blue"}},
    }]);
    pod
}

/// pod-with-pod-anti-affinity.yaml's term: no two green pods of either
/// namespace on one node.
fn anti_affinity_pod() -> Value {
    let mut pod = pod_template(json!({"color": "green"}));
    pod["spec"]["affinity"] = json!({"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"color": "green"}},
            "topologyKey": "kubernetes.io/hostname",
            "namespaces": [INIT_NAMESPACE, NAMESPACE],
        }],
    }});
    pod
}

/// Tolerates both of [`TAINTS`] (one by value, one by `Exists`) and
/// requires the pool label.
fn tolerating_pod() -> Value {
    let mut pod = plain_pod();
    pod["spec"]["tolerations"] = json!([
        {"key": "bench.skiff.dev/dedicated", "operator": "Equal", "value": "sched", "effect": "NoSchedule"},
        {"key": "bench.skiff.dev/spot", "operator": "Exists"},
    ]);
    pod["spec"]["affinity"] = json!({"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
            "matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": [POOL]}],
        }]},
    }});
    pod
}

fn named(mut pod: Value, name: &str) -> Value {
    pod["metadata"]["name"] = json!(name);
    pod
}

pub struct Options {
    pub skiff_bin: PathBuf,
    /// Extra `skiff server` flags (e.g. `--disable-controllers`), to
    /// attribute costs.
    pub server_args: Vec<String>,
    pub nodes: usize,
    /// Pods created and bound before the measured phase (scheduler_perf's
    /// `initPods`); not counted in the figures.
    pub init_pods: usize,
    pub pods: usize,
    pub clients: usize,
    pub scenario: Scenario,
}

fn pod_name(i: usize) -> String {
    format!("sched-{i}")
}

fn init_pod_name(i: usize) -> String {
    format!("init-{i}")
}

fn encode(pod: &Value) -> Result<Bytes> {
    Ok(Bytes::from(
        serde_json::to_vec(pod).context("failed to encode a pod")?,
    ))
}

async fn create_namespace(cluster: &Cluster, name: &str) -> Result<()> {
    let mut conn = cluster.conn().await?;
    let body =
        encode(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))?;
    conn.expect(
        Method::POST,
        "/api/v1/namespaces",
        body,
        StatusCode::CREATED,
    )
    .await
    .with_context(|| format!("failed to create namespace {name}"))?;
    Ok(())
}

/// The unmeasured phase: creates the init pods and waits until they run,
/// so that their status writes are over before the measured phase.
async fn init_phase(cluster: &mut Cluster, opts: &Options) -> Result<()> {
    if opts.init_pods == 0 {
        return Ok(());
    }
    let watch = PodWatch::start(cluster, INIT_NAMESPACE).await?;
    let mut conns = Vec::with_capacity(opts.clients);
    for _ in 0..opts.clients {
        conns.push(cluster.conn().await?);
    }
    eprintln!("creating {} init pods", opts.init_pods);
    let path = format!("/api/v1/namespaces/{INIT_NAMESPACE}/pods");
    let scenario = opts.scenario;
    drive(conns, opts.init_pods, CREATE_LIMIT, move |mut conn, i| {
        let path = path.clone();
        async move {
            let body = encode(&scenario.init_pod(i))?;
            conn.expect(Method::POST, &path, body, StatusCode::CREATED)
                .await?;
            Ok(conn)
        }
    })
    .await
    .context("creating the init pods failed")?;
    watch
        .wait_for(
            cluster,
            "init running",
            opts.init_pods,
            WAIT_LIMIT,
            PodWatch::running,
        )
        .await?;
    watch.stop();
    Ok(())
}

pub async fn run(opts: &Options) -> Result<Figures> {
    opts.scenario.check(opts.nodes, opts.init_pods, opts.pods)?;
    let mut figures = Figures::default();
    figures.set_text("benchmark", "scheduling");
    figures.set_text("scenario", opts.scenario.name());
    figures.set_count("nodes", opts.nodes);
    figures.set_count("init_pods", opts.init_pods);
    figures.set_count("pods", opts.pods);
    figures.set_count("clients", opts.clients);

    let mut cluster = Cluster::start(
        &opts.skiff_bin,
        opts.nodes,
        &opts.server_args,
        &opts.scenario.sim_args(),
    )
    .await?;
    figures.set("sim_ready_s", cluster.sim_ready.as_secs_f64());
    figures.set("server_rss_nodes_mib", cluster.server.process.rss_mib()?);
    create_namespace(&cluster, INIT_NAMESPACE).await?;
    create_namespace(&cluster, NAMESPACE).await?;
    let init_start = Instant::now();
    init_phase(&mut cluster, opts).await?;
    figures.set("init_s", init_start.elapsed().as_secs_f64());
    let watch = PodWatch::start(&cluster, NAMESPACE).await?;

    // Send times as nanoseconds after `base`, set before each POST.
    let base = Instant::now();
    let cpu_before = cluster.server.process.cpu_seconds()?;
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..opts.pods).map(|_| AtomicU64::new(0)).collect());
    let mut conns = Vec::with_capacity(opts.clients);
    for _ in 0..opts.clients {
        conns.push(cluster.conn().await?);
    }
    eprintln!(
        "creating {} {} pods with {} clients",
        opts.pods,
        opts.scenario.name(),
        opts.clients
    );
    let path = format!("/api/v1/namespaces/{NAMESPACE}/pods");
    let sent_by_op = sent.clone();
    let scenario = opts.scenario;
    let create = drive(conns, opts.pods, CREATE_LIMIT, move |mut conn, i| {
        let path = path.clone();
        let sent = sent_by_op.clone();
        async move {
            let body = encode(&scenario.measured_pod(i))?;
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
    // The server's CPU for the measured pods' creation and scheduling
    // (their Running status writes mostly come after).
    let measured_cpu = cluster.server.process.cpu_seconds()? - cpu_before;
    figures.set("measured_server_cpu_s", measured_cpu);
    figures.set(
        "server_cpu_ms_per_pod",
        measured_cpu * 1000.0 / opts.pods.max(1) as f64,
    );
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
        row("init pods created and Running (s)", "init_s"),
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
        row(
            "server CPU, measured pods' create -> last bound (s)",
            "measured_server_cpu_s",
        ),
        row("server CPU per measured pod (ms)", "server_cpu_ms_per_pod"),
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

    const ALL: [Scenario; 4] = [
        Scenario::Basic,
        Scenario::Spread,
        Scenario::AntiAffinity,
        Scenario::Taints,
    ];

    fn requests(pod: &Value) -> &Value {
        &pod["spec"]["containers"][0]["resources"]["requests"]
    }

    #[test]
    fn pods_have_requests_and_distinct_names() {
        for scenario in ALL {
            let a = scenario.measured_pod(1);
            let b = scenario.measured_pod(2);
            let init = scenario.init_pod(1);
            assert_ne!(a["metadata"]["name"], b["metadata"]["name"]);
            assert_ne!(a["metadata"]["name"], init["metadata"]["name"]);
            for pod in [&a, &init] {
                assert_eq!(requests(pod)["cpu"], "100m", "{scenario:?}");
                assert_eq!(requests(pod)["memory"], "128Mi", "{scenario:?}");
                assert!(encode(pod).is_ok());
            }
        }
    }

    #[test]
    fn basic_pods_are_plain() {
        let pod = Scenario::Basic.measured_pod(0);
        assert!(pod["spec"]["affinity"].is_null());
        assert!(pod["spec"]["tolerations"].is_null());
        assert!(pod["spec"]["topologySpreadConstraints"].is_null());
        assert!(Scenario::Basic.sim_args().is_empty());
    }

    #[test]
    fn spread_pods_spread_over_zones_and_init_pods_do_not() {
        let pod = Scenario::Spread.measured_pod(0);
        let c = &pod["spec"]["topologySpreadConstraints"][0];
        assert_eq!(c["maxSkew"], 5);
        assert_eq!(c["topologyKey"], "topology.kubernetes.io/zone");
        assert_eq!(c["whenUnsatisfiable"], "DoNotSchedule");
        // The constraint counts the measured pods themselves.
        assert_eq!(
            c["labelSelector"]["matchLabels"]["color"],
            pod["metadata"]["labels"]["color"]
        );
        let init = Scenario::Spread.init_pod(0);
        assert!(init["spec"]["topologySpreadConstraints"].is_null());
        assert_eq!(Scenario::Spread.sim_args(), ["--zones", "3"]);
    }

    #[test]
    fn anti_affinity_pods_repel_each_other_across_both_namespaces() {
        for pod in [
            Scenario::AntiAffinity.init_pod(0),
            Scenario::AntiAffinity.measured_pod(0),
        ] {
            let term = &pod["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                [0];
            assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
            assert_eq!(
                term["labelSelector"]["matchLabels"]["color"],
                pod["metadata"]["labels"]["color"]
            );
            assert_eq!(term["namespaces"], json!([INIT_NAMESPACE, NAMESPACE]));
        }
        assert!(Scenario::AntiAffinity.check(100, 10, 90).is_ok());
        assert!(Scenario::AntiAffinity.check(100, 10, 91).is_err());
        assert!(Scenario::Basic.check(100, 1000, 10_000).is_ok());
    }

    #[test]
    fn taints_pods_tolerate_the_sims_taints_and_require_its_label() {
        let args = Scenario::Taints.sim_args();
        assert_eq!(args[0], "--taints");
        assert_eq!(args[2], "--labels");
        let label = args[3].split_once('=').expect("key=value");
        for pod in [
            Scenario::Taints.init_pod(0),
            Scenario::Taints.measured_pod(0),
        ] {
            let tolerations = pod["spec"]["tolerations"].as_array().expect("tolerations");
            // Every taint given to the sim is tolerated by one toleration.
            for taint in args[1].split(',') {
                let (kv, effect) = taint.rsplit_once(':').expect("key=value:Effect");
                let (key, value) = kv.split_once('=').expect("key=value");
                assert!(
                    tolerations.iter().any(|t| t["key"] == key
                        && (t["operator"] == "Exists"
                            || (t["operator"] == "Equal" && t["value"] == value))
                        && (t["effect"].is_null() || t["effect"] == effect)),
                    "{taint} is not tolerated"
                );
            }
            let expr = &pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchExpressions"][0];
            assert_eq!(expr["key"], label.0);
            assert_eq!(expr["operator"], "In");
            assert_eq!(expr["values"], json!([label.1]));
        }
    }
}
