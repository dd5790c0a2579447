//! A cluster to schedule on: a `skiff server` with its controllers and
//! scheduler, `skiff sim` nodes joined to it, and a watch of the pods that
//! notes when the harness first saw each pod, saw it bound, and saw it
//! Running. Shared by `scheduling` and `density`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde::Deserialize;

use crate::client::{Conn, JsonStream};
use crate::process::Guard;
use crate::skiff::{self, Server};

/// How long registering the simulated nodes may take.
const SIM_START_LIMIT: Duration = Duration::from_secs(600);
/// How often progress is reported on stderr while waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// A server and its simulated nodes. Field order matters: the sim is
/// killed before the server, and both before the data dirs go.
pub struct Cluster {
    pub sim: Guard,
    pub server: Server,
    /// Time from starting `skiff sim` to all its nodes registered.
    pub sim_ready: Duration,
    _sim_dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts a default server (controllers and scheduler in-process, plus
    /// `server_args`) and `skiff sim --nodes <nodes>` (plus `sim_args`, e.g.
    /// `--taints`), and waits for the sim to report its nodes ready.
    pub async fn start(
        bin: &Path,
        nodes: usize,
        server_args: &[String],
        sim_args: &[String],
    ) -> Result<Cluster> {
        let args: Vec<&str> = server_args.iter().map(String::as_str).collect();
        let server = skiff::start(bin, &args).await?;
        let kubeconfig = server.kubeconfig();
        if !kubeconfig.is_file() {
            bail!("the server wrote no {}", kubeconfig.display());
        }
        let sim_dir = tempfile::Builder::new()
            .prefix("skiff-bench-sim-")
            .tempdir()
            .context("failed to create a temp dir")?;
        let log = std::fs::File::create(sim_dir.path().join("sim.log"))
            .context("failed to create the sim log")?;
        let start = Instant::now();
        let mut child = Command::new(bin)
            .arg("sim")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--nodes", &nodes.to_string()])
            .args(sim_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("failed to start {} sim", bin.display()))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let mut sim = Guard::new(child, "skiff sim");
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Keeps draining stdout so the child never blocks on it.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("skiff sim: ")
                    && line.ends_with(" nodes ready")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        eprintln!(
            "server pid {}, starting {nodes} simulated nodes",
            server.process.pid()
        );
        if tokio::time::timeout(SIM_START_LIMIT, rx).await.is_err() {
            sim.check_running()?;
            bail!(
                "skiff sim did not report {nodes} nodes ready in {SIM_START_LIMIT:?}; log: {}",
                tail(&sim_dir.path().join("sim.log"))
            );
        }
        let sim_ready = start.elapsed();
        eprintln!("{nodes} nodes ready after {:.1} s", sim_ready.as_secs_f64());
        Ok(Cluster {
            sim,
            server,
            sim_ready,
            _sim_dir: sim_dir,
        })
    }

    pub async fn conn(&self) -> Result<Conn> {
        Conn::connect(self.server.addr, &self.server.admin).await
    }

    /// Fails if the server or the sim died.
    pub fn check_running(&mut self) -> Result<()> {
        self.server.process.check_running()?;
        self.sim.check_running()
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(2000);
    text.get(start..).unwrap_or_default().to_owned()
}

/// What the harness saw of one pod, on its own clock.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// The first watch event of the pod.
    pub added: Option<Instant>,
    /// `metadata.creationTimestamp` (second resolution), as Unix seconds.
    pub created_unix: Option<i64>,
    /// The first event with `spec.nodeName` set.
    pub bound: Option<Instant>,
    /// The first event with `status.phase: Running`.
    pub running: Option<Instant>,
    /// Wall-clock time of `running`, as Unix seconds.
    pub running_unix: Option<f64>,
    /// A DELETED event was seen (a ReplicaSet removing a surplus pod, or
    /// churn).
    pub deleted: bool,
}

/// What the watch task saw, under one lock.
#[derive(Default)]
struct Observed {
    /// By pod name.
    seen: HashMap<String, Seen>,
    /// Pods seen Running, by group: the name up to its last `-`
    /// (`churn-17` is in `churn`), so a waiter can count a group's running
    /// pods without walking (or copying) every pod.
    running_by_group: HashMap<String, usize>,
}

/// The group of a pod name: up to its last `-`, or the whole name.
fn group_of(name: &str) -> &str {
    name.rsplit_once('-').map_or(name, |(group, _)| group)
}

/// Per-pod observations of a namespace's pods, filled by a watch task.
#[derive(Clone, Default)]
pub struct PodWatch {
    pods: Arc<Mutex<Observed>>,
    bound: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    /// Set when the watch task fails: the error.
    failed: Arc<Mutex<Option<String>>>,
    /// The watch task, to stop it when its pods are no longer of interest.
    task: Arc<Mutex<Option<tokio::task::AbortHandle>>>,
}

#[derive(Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    kind: String,
    object: LeanPod,
}

/// The fields of a pod the harness reads; serde skips the rest.
#[derive(Deserialize, Default)]
#[serde(default)]
struct LeanPod {
    metadata: LeanMeta,
    spec: LeanSpec,
    status: LeanStatus,
    /// `code` of an ERROR event's Status.
    code: Option<u16>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct LeanMeta {
    name: String,
    resource_version: String,
    creation_timestamp: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct LeanSpec {
    node_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LeanStatus {
    phase: Option<String>,
}

#[derive(Deserialize)]
struct LeanList {
    metadata: ListMeta,
    items: Vec<LeanPod>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListMeta {
    resource_version: String,
}

/// Parses RFC 3339 `YYYY-MM-DDTHH:MM:SSZ` (what the API server writes) to
/// Unix seconds.
fn parse_rfc3339_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !s.ends_with('Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl PodWatch {
    /// Lists the namespace's pods and watches them from the list's
    /// resourceVersion in a background task, resuming after a dropped
    /// watch and relisting after 410 Gone.
    pub async fn start(cluster: &Cluster, namespace: &str) -> Result<PodWatch> {
        let watch = PodWatch::default();
        let mut conn = cluster.conn().await?;
        let path = format!("/api/v1/namespaces/{namespace}/pods");
        let mut rv = watch.relist(&mut conn, &path).await?;
        let addr = cluster.server.addr;
        let transport = cluster.server.admin.clone();
        let w = watch.clone();
        let task = tokio::spawn(async move {
            let result: Result<()> = async {
                loop {
                    let mut conn = Conn::connect(addr, &transport).await?;
                    match w.follow(&mut conn, &path, &rv).await? {
                        Some(last) => rv = last,
                        None => rv = w.relist(&mut conn, &path).await?,
                    }
                }
            }
            .await;
            if let Err(e) = result {
                let mut failed = w.failed.lock().unwrap_or_else(|e| e.into_inner());
                *failed = Some(format!("{e:#}"));
            }
        });
        *watch.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
        Ok(watch)
    }

    /// Stops the watch task: its events would only cost the harness (and
    /// the server) CPU from now on.
    pub fn stop(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    /// Lists the pods, records them, and returns the list's resourceVersion.
    async fn relist(&self, conn: &mut Conn, path: &str) -> Result<String> {
        let body = conn
            .expect(Method::GET, path, Bytes::new(), StatusCode::OK)
            .await?;
        let list: LeanList = serde_json::from_slice(&body).context("bad pod list")?;
        let now = Instant::now();
        for pod in &list.items {
            self.observe(pod, now);
        }
        Ok(list.metadata.resource_version)
    }

    /// Follows a watch from `rv` until it ends. Returns the last
    /// resourceVersion seen to resume from, or `None` when the server
    /// answered 410 Gone (a relist is needed).
    async fn follow(&self, conn: &mut Conn, path: &str, rv: &str) -> Result<Option<String>> {
        let url = format!("{path}?watch=true&resourceVersion={rv}");
        let response = conn.send(Method::GET, &url, Bytes::new()).await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::GONE => return Ok(None),
            s => bail!("GET {url}: expected 200, got {s}"),
        }
        let mut stream = JsonStream::new(response.into_body());
        let mut last = rv.to_owned();
        loop {
            let event = match stream.next::<WatchEvent>().await {
                Ok(Some(event)) => event,
                // The server closed the watch (its timeout): resume.
                Ok(None) | Err(_) => return Ok(Some(last)),
            };
            if event.kind == "ERROR" {
                if event.object.code == Some(410) {
                    return Ok(None);
                }
                return Ok(Some(last));
            }
            if event.kind == "BOOKMARK" {
                last = event.object.metadata.resource_version;
                continue;
            }
            self.observe(&event.object, Instant::now());
            if event.kind == "DELETED" {
                self.mark_deleted(&event.object.metadata.name);
            }
            last = event.object.metadata.resource_version.clone();
        }
    }

    fn observe(&self, pod: &LeanPod, now: Instant) {
        let mut pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        let pods = &mut *pods;
        let seen = pods.seen.entry(pod.metadata.name.clone()).or_default();
        if seen.added.is_none() {
            seen.added = Some(now);
            seen.created_unix = pod
                .metadata
                .creation_timestamp
                .as_deref()
                .and_then(parse_rfc3339_utc);
        }
        if seen.bound.is_none() && pod.spec.node_name.as_deref().is_some_and(|n| !n.is_empty()) {
            seen.bound = Some(now);
            self.bound.fetch_add(1, Ordering::Relaxed);
        }
        if seen.running.is_none() && pod.status.phase.as_deref() == Some("Running") {
            seen.running = Some(now);
            seen.running_unix = Some(unix_now());
            self.running.fetch_add(1, Ordering::Relaxed);
            let group = group_of(&pod.metadata.name);
            match pods.running_by_group.get_mut(group) {
                Some(n) => *n += 1,
                None => {
                    pods.running_by_group.insert(group.to_owned(), 1);
                }
            }
        }
    }

    fn mark_deleted(&self, name: &str) {
        let mut pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(seen) = pods.seen.get_mut(name) {
            seen.deleted = true;
        }
    }

    pub fn bound(&self) -> usize {
        self.bound.load(Ordering::Relaxed)
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Whether pod `name` was seen Running.
    pub fn is_running(&self, name: &str) -> bool {
        self.pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .get(name)
            .is_some_and(|s| s.running.is_some())
    }

    /// How many pods of `group` (see [`group_of`]) were seen Running.
    pub fn running_in_group(&self, group: &str) -> usize {
        self.pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .running_by_group
            .get(group)
            .copied()
            .unwrap_or(0)
    }

    /// A copy of what was seen so far, by pod name.
    pub fn snapshot(&self) -> HashMap<String, Seen> {
        self.pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .clone()
    }

    fn check(&self) -> Result<()> {
        match &*self.failed.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => bail!("the pod watch failed: {e}"),
            None => Ok(()),
        }
    }

    /// Waits until `count()` reaches `want`, printing progress; fails after
    /// `limit` or when a process dies.
    pub async fn wait_for(
        &self,
        cluster: &mut Cluster,
        what: &str,
        want: usize,
        limit: Duration,
        count: impl Fn(&PodWatch) -> usize,
    ) -> Result<()> {
        let start = Instant::now();
        let mut report = start + PROGRESS_EVERY;
        loop {
            let n = count(self);
            if n >= want {
                return Ok(());
            }
            self.check()?;
            cluster.check_running()?;
            if start.elapsed() > limit {
                bail!("only {n} of {want} pods {what} after {limit:?}");
            }
            if Instant::now() >= report {
                eprintln!(
                    "  {n} of {want} pods {what} ({} bound, {} running)",
                    self.bound(),
                    self.running()
                );
                report += PROGRESS_EVERY;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A pod spec's requests: SchedulingBasic's plain pods.
pub const CPU_REQUEST: &str = "100m";
pub const MEMORY_REQUEST: &str = "128Mi";

/// The pod template both benchmarks create: one container, requests, no
/// grace period so that teardown is quick.
pub fn pod_template(labels: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "metadata": {"labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "pause",
                "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": CPU_REQUEST, "memory": MEMORY_REQUEST}},
            }],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_api_timestamps() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_utc("2026-11-22T05:40:59Z"),
            Some(1_795_326_059)
        );
        assert_eq!(parse_rfc3339_utc("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(parse_rfc3339_utc("not a time"), None);
    }

    #[test]
    fn lean_pod_reads_what_it_needs() {
        let event: WatchEvent = serde_json::from_str(
            r#"{"type":"MODIFIED","object":{"apiVersion":"v1","kind":"Pod",
            "metadata":{"name":"p","resourceVersion":"42","creationTimestamp":"1970-01-01T00:00:10Z","labels":{"a":"b"}},
            "spec":{"nodeName":"sim-1","containers":[{"name":"c","image":"i"}]},
            "status":{"phase":"Running","podIP":"10.0.0.1"}}}"#,
        )
        .expect("a pod watch event");
        assert_eq!(event.kind, "MODIFIED");
        let watch = PodWatch::default();
        watch.observe(&event.object, Instant::now());
        let seen = &watch.snapshot()["p"];
        assert!(seen.bound.is_some() && seen.running.is_some());
        assert_eq!(seen.created_unix, Some(10));
        assert_eq!((watch.bound(), watch.running()), (1, 1));
        // A repeat changes nothing.
        watch.observe(&event.object, Instant::now());
        assert_eq!((watch.bound(), watch.running()), (1, 1));
        assert_eq!(watch.running_in_group("p"), 1);
    }

    #[test]
    fn counts_running_pods_by_group() {
        assert_eq!(group_of("churn-17"), "churn");
        assert_eq!(group_of("density-3-x7k2p"), "density-3");
        assert_eq!(group_of("solo"), "solo");
        let watch = PodWatch::default();
        let pod = |name: &str, phase: &str| LeanPod {
            metadata: LeanMeta {
                name: name.into(),
                ..Default::default()
            },
            status: LeanStatus {
                phase: Some(phase.into()),
            },
            ..Default::default()
        };
        let now = Instant::now();
        watch.observe(&pod("churn-0", "Pending"), now);
        assert_eq!(watch.running_in_group("churn"), 0);
        watch.observe(&pod("churn-0", "Running"), now);
        watch.observe(&pod("churn-0", "Running"), now);
        watch.observe(&pod("churn-1", "Running"), now);
        watch.observe(&pod("sched-1", "Running"), now);
        assert_eq!(watch.running_in_group("churn"), 2);
        assert_eq!(watch.running_in_group("sched"), 1);
        assert_eq!(watch.running_in_group("init"), 0);
    }
}
