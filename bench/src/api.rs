//! `skiff-bench api`: the API server's request path against etcd's.
//!
//! The same workload runs against a fresh `skiff server` and then against a
//! fresh single-member etcd, never both at once (they share two cores):
//! 1 KiB ConfigMaps created, read, updated (compare-and-swap on the
//! revision), listed and watched, each with 1 and N concurrent clients,
//! every client on its own HTTP/1.1 connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::client::{Conn, JsonStream, Transport};
use crate::etcd;
use crate::report::Figures;
use crate::skiff;
use crate::stats::{Run, drive, median_ms};

/// Size of the `data.value` of each ConfigMap.
pub const VALUE_BYTES: usize = 1024;
/// Upper bound of any one phase.
const PHASE_LIMIT: Duration = Duration::from_secs(180);
/// How long a watch may lag behind the last create before the run fails.
const WATCH_DRAIN_LIMIT: Duration = Duration::from_secs(30);
const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";
/// Where kube-apiserver keeps a ConfigMap in etcd; etcd gets the same keys.
const ETCD_PREFIX: &str = "/registry/configmaps/default/";

pub struct Options {
    pub skiff_bin: PathBuf,
    /// `None`: no etcd peer.
    pub etcd_bin: Option<PathBuf>,
    pub objects: usize,
    pub clients: usize,
    pub cold_starts: usize,
    pub list_runs: usize,
    pub watch_objects: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Skiff,
    Etcd,
}

/// One system under test and the state the workload keeps about it.
struct Target {
    kind: Kind,
    addr: SocketAddr,
    transport: Transport,
    /// The resourceVersion (skiff) or mod revision (etcd) of object `i`.
    revisions: Vec<Mutex<String>>,
    /// When the create of each watched object was sent.
    sent: Mutex<HashMap<String, Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking client task fails the run anyway; the data is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn name(i: usize) -> String {
    format!("bench-{i:05}")
}

/// A deterministic, incompressible-looking 1 KiB value, different per seed.
fn value(seed: u64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..VALUE_BYTES)
        .map(|_| {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

fn configmap(name: &str, resource_version: Option<&str>, seed: u64) -> Bytes {
    let mut metadata = json!({ "name": name, "namespace": "default" });
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = rv.into();
    }
    let object = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": { "value": value(seed) },
    });
    Bytes::from(object.to_string())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    resource_version: String,
}

#[derive(Deserialize)]
struct Object {
    metadata: Metadata,
}

#[derive(Deserialize)]
struct List {
    metadata: Metadata,
    items: Vec<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    kind: String,
    object: Object,
}

impl Target {
    fn new(kind: Kind, addr: SocketAddr, transport: Transport, objects: usize) -> Target {
        Target {
            kind,
            addr,
            transport,
            revisions: (0..objects).map(|_| Mutex::new(String::new())).collect(),
            sent: Mutex::new(HashMap::new()),
        }
    }

    async fn connect(&self, n: usize) -> Result<Vec<Conn>> {
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            conns.push(Conn::connect(self.addr, &self.transport).await?);
        }
        Ok(conns)
    }

    /// Creates `name`; returns its revision.
    async fn create(&self, conn: &mut Conn, name: &str, seed: u64) -> Result<String> {
        match self.kind {
            Kind::Skiff => {
                let body = conn
                    .expect(
                        Method::POST,
                        CONFIGMAPS,
                        configmap(name, None, seed),
                        StatusCode::CREATED,
                    )
                    .await?;
                let object: Object =
                    serde_json::from_slice(&body).context("bad create response")?;
                Ok(object.metadata.resource_version)
            }
            Kind::Etcd => {
                etcd::put(
                    conn,
                    &format!("{ETCD_PREFIX}{name}"),
                    &configmap(name, None, seed),
                )
                .await
            }
        }
    }

    async fn get(&self, conn: &mut Conn, name: &str) -> Result<()> {
        match self.kind {
            Kind::Skiff => {
                conn.expect(
                    Method::GET,
                    &format!("{CONFIGMAPS}/{name}"),
                    Bytes::new(),
                    StatusCode::OK,
                )
                .await?;
                Ok(())
            }
            Kind::Etcd => etcd::get(conn, &format!("{ETCD_PREFIX}{name}")).await,
        }
    }

    /// Replaces `name` if it is still at `revision`; returns the new one.
    async fn update(
        &self,
        conn: &mut Conn,
        name: &str,
        revision: &str,
        seed: u64,
    ) -> Result<String> {
        match self.kind {
            Kind::Skiff => {
                let body = conn
                    .expect(
                        Method::PUT,
                        &format!("{CONFIGMAPS}/{name}"),
                        configmap(name, Some(revision), seed),
                        StatusCode::OK,
                    )
                    .await?;
                let object: Object =
                    serde_json::from_slice(&body).context("bad update response")?;
                Ok(object.metadata.resource_version)
            }
            Kind::Etcd => {
                let key = format!("{ETCD_PREFIX}{name}");
                etcd::update(conn, &key, &configmap(name, None, seed), revision).await
            }
        }
    }

    /// Lists every object; returns the time until the whole body arrived,
    /// the count, and the list's resourceVersion (skiff only).
    async fn list(&self, conn: &mut Conn) -> Result<(Duration, usize, String)> {
        let start = Instant::now();
        match self.kind {
            Kind::Skiff => {
                let body = conn
                    .expect(Method::GET, CONFIGMAPS, Bytes::new(), StatusCode::OK)
                    .await?;
                let elapsed = start.elapsed();
                let list: List = serde_json::from_slice(&body).context("bad list response")?;
                Ok((elapsed, list.items.len(), list.metadata.resource_version))
            }
            Kind::Etcd => {
                let body = etcd::range_prefix(conn, ETCD_PREFIX).await?;
                let elapsed = start.elapsed();
                Ok((elapsed, etcd::range_count(&body)?, String::new()))
            }
        }
    }

    /// Opens a watch of the namespace's ConfigMaps from `revision` and
    /// forwards the name of every added object with the instant it arrived.
    async fn watch(
        &self,
        revision: &str,
    ) -> Result<mpsc::UnboundedReceiver<Result<(String, Instant)>>> {
        let mut conn = Conn::connect(self.addr, &self.transport).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        match self.kind {
            Kind::Skiff => {
                let path = format!("{CONFIGMAPS}?watch=true&resourceVersion={revision}");
                let response = tokio::time::timeout(
                    WATCH_DRAIN_LIMIT,
                    conn.send(Method::GET, &path, Bytes::new()),
                )
                .await
                .context("the watch request got no response headers")??;
                if response.status() != StatusCode::OK {
                    bail!("GET {path}: expected 200, got {}", response.status());
                }
                let mut stream = JsonStream::new(response.into_body());
                tokio::spawn(async move {
                    let _conn = conn;
                    loop {
                        let item = match stream.next::<WatchEvent>().await {
                            Ok(Some(event)) if event.kind == "ADDED" => {
                                Ok((event.object.metadata.name, Instant::now()))
                            }
                            Ok(Some(_)) => continue,
                            Ok(None) => Err(anyhow::anyhow!("the server ended the watch")),
                            Err(e) => Err(e),
                        };
                        let stop = item.is_err();
                        if tx.send(item).is_err() || stop {
                            return;
                        }
                    }
                });
            }
            Kind::Etcd => {
                let mut stream = etcd::watch(&mut conn, ETCD_PREFIX).await?;
                tokio::spawn(async move {
                    let _conn = conn;
                    loop {
                        let keys = match stream.next::<etcd::WatchMessage>().await {
                            Ok(Some(message)) => message.keys(),
                            Ok(None) => Err(anyhow::anyhow!("etcd ended the watch")),
                            Err(e) => Err(e),
                        };
                        let now = Instant::now();
                        match keys {
                            Ok(keys) => {
                                for key in keys {
                                    let name =
                                        key.strip_prefix(ETCD_PREFIX).unwrap_or(&key).to_owned();
                                    if tx.send(Ok((name, now))).is_err() {
                                        return;
                                    }
                                }
                            }
                            Err(e) => {
                                let _ = tx.send(Err(e));
                                return;
                            }
                        }
                    }
                });
            }
        }
        Ok(rx)
    }
}

/// What one target's run measured, under the target's key prefix.
struct Phases<'a> {
    target: Arc<Target>,
    figures: &'a mut Figures,
    /// "" for skiff, "etcd_" for etcd.
    prefix: &'static str,
    /// The verbs as the target calls them (create/put, list/range).
    create: &'static str,
    list: &'static str,
}

impl Phases<'_> {
    fn record(&mut self, verb: &str, clients: usize, run: &Run) {
        let p = self.prefix;
        self.figures
            .set(&format!("{p}{verb}_p50_ms_{clients}"), run.p50());
        self.figures
            .set(&format!("{p}{verb}_p99_ms_{clients}"), run.p99());
        self.figures
            .set(&format!("{p}{verb}s_per_s_{clients}"), run.per_s());
        eprintln!(
            "  {p}{verb} x{clients}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            run.per_s(),
            run.p50(),
            run.p99()
        );
    }

    async fn creates(&mut self, clients: usize, range: std::ops::Range<usize>) -> Result<()> {
        let conns = self.target.connect(clients).await?;
        let target = self.target.clone();
        let first = range.start;
        let run = drive(conns, range.len(), PHASE_LIMIT, move |mut conn, i| {
            let target = target.clone();
            async move {
                let i = first + i;
                let rv = target.create(&mut conn, &name(i), i as u64).await?;
                *lock(&target.revisions[i]) = rv;
                Ok(conn)
            }
        })
        .await
        .with_context(|| format!("{} with {clients} clients failed", self.create))?;
        self.record(self.create, clients, &run);
        Ok(())
    }

    async fn gets(&mut self, clients: usize, count: usize) -> Result<()> {
        let conns = self.target.connect(clients).await?;
        let target = self.target.clone();
        let objects = target.revisions.len();
        let run = drive(conns, count, PHASE_LIMIT, move |mut conn, i| {
            let target = target.clone();
            async move {
                // A stride co-prime with the count spreads reads over all keys.
                target.get(&mut conn, &name(i * 7919 % objects)).await?;
                Ok(conn)
            }
        })
        .await
        .with_context(|| format!("get with {clients} clients failed"))?;
        self.record("get", clients, &run);
        Ok(())
    }

    async fn updates(&mut self, clients: usize, count: usize, round: u64) -> Result<()> {
        let conns = self.target.connect(clients).await?;
        let target = self.target.clone();
        let run = drive(conns, count, PHASE_LIMIT, move |mut conn, i| {
            let target = target.clone();
            async move {
                let revision = lock(&target.revisions[i]).clone();
                let seed = (round << 32) | i as u64;
                let rv = target.update(&mut conn, &name(i), &revision, seed).await?;
                *lock(&target.revisions[i]) = rv;
                Ok(conn)
            }
        })
        .await
        .with_context(|| format!("update with {clients} clients failed"))?;
        self.record("update", clients, &run);
        Ok(())
    }

    /// Full lists, one after another; returns the last resourceVersion.
    async fn lists(&mut self, runs: usize, expect: usize) -> Result<String> {
        let mut conn = Conn::connect(self.target.addr, &self.target.transport).await?;
        let mut samples = Vec::with_capacity(runs);
        let mut revision = String::new();
        for _ in 0..runs {
            let (elapsed, count, rv) =
                tokio::time::timeout(PHASE_LIMIT, self.target.list(&mut conn))
                    .await
                    .context("list timed out")??;
            if count != expect {
                bail!("{} returned {count} objects, expected {expect}", self.list);
            }
            samples.push(elapsed);
            revision = rv;
        }
        let p = self.prefix;
        let median = median_ms(&samples);
        let max = samples
            .iter()
            .max()
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
        self.figures
            .set(&format!("{p}{}_10k_ms", self.list), median);
        self.figures
            .set(&format!("{p}{}_10k_max_ms", self.list), max);
        eprintln!(
            "  {p}{} of {expect}: median {median:.1} ms, max {max:.1} ms over {runs} runs",
            self.list
        );
        Ok(revision)
    }

    /// Creates `count` objects named `<tag>-N` with `clients` clients while
    /// `events` delivers the watch; records events/s and create→event latency.
    async fn watch(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<Result<(String, Instant)>>,
        clients: usize,
        count: usize,
        tag: &'static str,
    ) -> Result<()> {
        let conns = self.target.connect(clients).await?;
        let target = self.target.clone();
        let start = Instant::now();
        drive(conns, count, PHASE_LIMIT, move |mut conn, i| {
            let target = target.clone();
            async move {
                let name = format!("{tag}-{i:05}");
                lock(&target.sent).insert(name.clone(), Instant::now());
                target.create(&mut conn, &name, i as u64).await?;
                Ok(conn)
            }
        })
        .await
        .with_context(|| format!("creates for the watch with {clients} clients failed"))?;

        let deadline = tokio::time::Instant::now() + WATCH_DRAIN_LIMIT;
        let mut latencies = Vec::with_capacity(count);
        let mut last = start;
        while latencies.len() < count {
            let Ok(item) = tokio::time::timeout_at(deadline, events.recv()).await else {
                bail!(
                    "the watch delivered {} of {count} events in time",
                    latencies.len()
                );
            };
            let (name, at) = item.context("the watch ended")??;
            if !name.starts_with(tag) {
                continue;
            }
            let Some(sent) = lock(&self.target.sent).remove(&name) else {
                continue; // A repeat of an event already counted.
            };
            latencies.push(at.saturating_duration_since(sent));
            last = last.max(at);
        }
        let run = Run::from_latencies(latencies, last - start);
        let p = self.prefix;
        let suffix = if clients == 1 { "_1" } else { "" };
        self.figures
            .set(&format!("{p}watch_events_per_s{suffix}"), run.per_s());
        self.figures
            .set(&format!("{p}watch_p50_ms{suffix}"), run.p50());
        self.figures
            .set(&format!("{p}watch_p99_ms{suffix}"), run.p99());
        eprintln!(
            "  {p}watch, writers x{clients}: {:.0} events/s, create->event p50 {:.2} ms, p99 {:.2} ms",
            run.per_s(),
            run.p50(),
            run.p99()
        );
        Ok(())
    }

    /// The whole workload against one running target.
    async fn all(&mut self, opts: &Options, rss: impl Fn() -> Result<f64>) -> Result<()> {
        let n = opts.objects;
        let few = (n / 10).max(1);
        self.creates(1, 0..few).await?;
        self.creates(opts.clients, few..n).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss_10k = rss()?;
        self.figures
            .set(&format!("{}rss_10k_mib", self.prefix), rss_10k);
        eprintln!("  {}RSS with {n} objects: {rss_10k:.1} MiB", self.prefix);

        self.gets(1, 2 * few).await?;
        self.gets(opts.clients, 2 * n).await?;
        self.updates(1, few, 1).await?;
        self.updates(opts.clients, n, 2).await?;
        let revision = self.lists(opts.list_runs, n).await?;

        let mut events = self.target.watch(&revision).await?;
        self.watch(&mut events, 1, (opts.watch_objects / 4).max(1), "w1")
            .await?;
        self.watch(&mut events, opts.clients, opts.watch_objects, "wn")
            .await?;
        Ok(())
    }
}

async fn idle_rss(process: &crate::process::Guard) -> Result<f64> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    process.rss_mib()
}

pub async fn run(opts: &Options) -> Result<Figures> {
    let mut figures = Figures::default();
    figures.set_text("benchmark", "api");
    figures.set_count("objects", opts.objects);
    figures.set_count("clients", opts.clients);
    figures.set_count("value_bytes", VALUE_BYTES);

    eprintln!("skiff: {}", opts.skiff_bin.display());
    let mut samples = Vec::with_capacity(opts.cold_starts);
    for _ in 0..opts.cold_starts {
        samples.push(
            skiff::cold_start(&opts.skiff_bin)
                .await
                .context("skiff cold start failed")?,
        );
    }
    let ready = median_ms(&samples);
    figures.set("ready_ms", ready);
    eprintln!("  cold start to /readyz: median {ready:.1} ms of {samples:?}");

    {
        let server = skiff::start(&opts.skiff_bin, &[])
            .await
            .context("failed to start skiff")?;
        let idle = idle_rss(&server.process).await?;
        figures.set("idle_rss_mib", idle);
        eprintln!("  idle RSS: {idle:.1} MiB");
        let target = Arc::new(Target::new(
            Kind::Skiff,
            server.addr,
            server.admin.clone(),
            opts.objects,
        ));
        let mut phases = Phases {
            target,
            figures: &mut figures,
            prefix: "",
            create: "create",
            list: "list",
        };
        phases.all(opts, || server.process.rss_mib()).await?;
        // `server` drops here: skiff is gone before etcd starts.
    }

    let Some(etcd_bin) = &opts.etcd_bin else {
        return Ok(figures);
    };
    let version = etcd::version(etcd_bin)?;
    figures.set_text("etcd_version", &version);
    eprintln!("etcd: {} ({version})", etcd_bin.display());
    let mut samples = Vec::with_capacity(opts.cold_starts);
    for _ in 0..opts.cold_starts {
        let (_etcd, elapsed) = etcd::start(etcd_bin)
            .await
            .context("etcd cold start failed")?;
        samples.push(elapsed);
    }
    let ready = median_ms(&samples);
    figures.set("etcd_ready_ms", ready);
    eprintln!("  cold start to /health: median {ready:.1} ms");

    let (etcd, _) = etcd::start(etcd_bin)
        .await
        .context("failed to start etcd")?;
    let idle = idle_rss(&etcd.process).await?;
    figures.set("etcd_idle_rss_mib", idle);
    eprintln!("  idle RSS: {idle:.1} MiB");
    let target = Arc::new(Target::new(
        Kind::Etcd,
        etcd.addr,
        Transport::Plain,
        opts.objects,
    ));
    let mut phases = Phases {
        target,
        figures: &mut figures,
        prefix: "etcd_",
        create: "put",
        list: "range",
    };
    phases.all(opts, || etcd.process.rss_mib()).await?;
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configmap_is_about_one_kib_and_carries_the_resource_version() {
        let body = configmap("bench-00001", Some("42"), 7);
        assert!(
            (VALUE_BYTES..VALUE_BYTES + 200).contains(&body.len()),
            "{}",
            body.len()
        );
        let object: Object = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(object.metadata.name, "bench-00001");
        assert_eq!(object.metadata.resource_version, "42");
        assert_ne!(value(1), value(2));
    }
}
