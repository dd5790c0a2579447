//! `/metrics` in the Prometheus text format, with kube-apiserver's names and
//! labels for what dashboards and alerts read most: requests by verb,
//! resource, scope and code (`apiserver_request_total`), their latency
//! (`apiserver_request_duration_seconds`), open watches
//! (`apiserver_longrunning_requests`), stored objects per resource
//! (`apiserver_storage_objects`) and the process's own figures.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;

use crate::ApiServer;
use crate::encoding::{self, Body};
use crate::request::RequestInfo;

/// kube-apiserver's latency buckets, in seconds.
const BUCKETS: [f64; 23] = [
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
    10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

/// The labels of one kind of request, as upstream's `MonitorRequest` cleans
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestLabels {
    verb: &'static str,
    dry_run: bool,
    group: String,
    version: String,
    resource: String,
    subresource: String,
    scope: &'static str,
}

impl RequestLabels {
    /// The labels of a resource request; `apply` when the patch is a
    /// server-side apply.
    pub fn of(info: &RequestInfo, apply: bool, dry_run: bool) -> RequestLabels {
        let verb = match info.verb.as_str() {
            "create" => "POST",
            "update" => "PUT",
            "patch" if apply => "APPLY",
            "patch" => "PATCH",
            "get" => "GET",
            "list" => "LIST",
            "watch" => "WATCH",
            "delete" => "DELETE",
            "deletecollection" => "DELETECOLLECTION",
            _ => "other",
        };
        // Upstream's CleanScope: a named object (or a create) is a resource,
        // else a namespace's collection, else the cluster's.
        let scope = if !info.name.is_empty() || info.verb == "create" {
            "resource"
        } else if !info.namespace.is_empty() {
            "namespace"
        } else {
            "cluster"
        };
        RequestLabels {
            verb,
            dry_run,
            group: info.group.clone(),
            version: info.version.clone(),
            resource: info.resource.clone(),
            subresource: info.subresource.clone(),
            scope,
        }
    }

    /// Writes the labels with `extra` ones; `dry_run` only where the metric
    /// has it (the long-running gauge does not).
    fn write(&self, out: &mut String, extra: &[(&str, &str)], dry_run: bool) {
        let mut labels: Vec<(&str, &str)> = vec![
            ("component", "apiserver"),
            ("group", &self.group),
            ("resource", &self.resource),
            ("scope", self.scope),
            ("subresource", &self.subresource),
            ("verb", self.verb),
            ("version", &self.version),
        ];
        if dry_run {
            labels.push(("dry_run", if self.dry_run { "All" } else { "" }));
        }
        // Labels sort by name, but a bucket's bound goes last, as Prometheus
        // clients write it.
        labels.extend(extra.iter().filter(|(k, _)| *k != "le"));
        labels.sort_unstable();
        labels.extend(extra.iter().filter(|(k, _)| *k == "le"));
        write_labels(out, &labels);
    }
}

/// Counts and latencies of one kind of request.
#[derive(Debug, Default)]
struct RequestStats {
    codes: BTreeMap<u16, u64>,
    /// Requests at or under each of [`BUCKETS`] (not yet cumulative).
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    requests: Mutex<HashMap<RequestLabels, RequestStats>>,
    /// Open watches by their labels.
    long_running: Mutex<HashMap<RequestLabels, i64>>,
    started: SystemTime,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::default(),
            long_running: Mutex::default(),
            started: SystemTime::now(),
        }
    }
}

impl Metrics {
    /// Records one finished request.
    pub fn record(&self, labels: RequestLabels, code: u16, elapsed: Duration) {
        let Ok(mut requests) = self.requests.lock() else {
            return;
        };
        let stats = requests.entry(labels).or_default();
        *stats.codes.entry(code).or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            stats.buckets[i] += 1;
        }
        stats.sum += seconds;
        stats.count += 1;
    }

    /// Counts a watch as open until its body ends; then records it with
    /// the watch's whole duration, as upstream does for long-running
    /// requests.
    pub fn track_watch(
        self: &Arc<Self>,
        labels: RequestLabels,
        started: Instant,
        resp: Response<Body>,
    ) -> Response<Body> {
        if let Ok(mut open) = self.long_running.lock() {
            *open.entry(labels.clone()).or_default() += 1;
        }
        let code = resp.status().as_u16();
        let guard = WatchGuard {
            metrics: self.clone(),
            labels,
            code,
            started,
        };
        resp.map(|body| {
            Tracked {
                inner: body,
                _guard: guard,
            }
            .boxed_unsync()
        })
    }

    /// The text exposition.
    async fn render(&self, server: &ApiServer) -> String {
        let mut out = String::new();
        if let Ok(requests) = self.requests.lock() {
            let sorted: BTreeMap<&RequestLabels, &RequestStats> = requests.iter().collect();
            header_of(
                &mut out,
                "apiserver_request_total",
                "counter",
                "Requests served, by verb, dry run, group, version, resource, subresource, scope, component and HTTP code.",
            );
            for (labels, stats) in &sorted {
                for (code, n) in &stats.codes {
                    out.push_str("apiserver_request_total");
                    labels.write(&mut out, &[("code", &code.to_string())], true);
                    let _ = writeln!(out, " {n}");
                }
            }
            header_of(
                &mut out,
                "apiserver_request_duration_seconds",
                "histogram",
                "Time to answer requests in seconds (watches: until they end), by verb, dry run, group, version, resource, subresource, scope and component.",
            );
            for (labels, stats) in &sorted {
                let mut cumulative = 0;
                for (bound, n) in BUCKETS.iter().zip(stats.buckets) {
                    cumulative += n;
                    out.push_str("apiserver_request_duration_seconds_bucket");
                    labels.write(&mut out, &[("le", &format_float(*bound))], true);
                    let _ = writeln!(out, " {cumulative}");
                }
                out.push_str("apiserver_request_duration_seconds_bucket");
                labels.write(&mut out, &[("le", "+Inf")], true);
                let _ = writeln!(out, " {}", stats.count);
                out.push_str("apiserver_request_duration_seconds_sum");
                labels.write(&mut out, &[], true);
                let _ = writeln!(out, " {}", format_float(stats.sum));
                out.push_str("apiserver_request_duration_seconds_count");
                labels.write(&mut out, &[], true);
                let _ = writeln!(out, " {}", stats.count);
            }
        }
        if let Ok(open) = self.long_running.lock() {
            header_of(
                &mut out,
                "apiserver_longrunning_requests",
                "gauge",
                "Long-running requests (watches) open now, by verb, group, version, resource, subresource, scope and component.",
            );
            let sorted: BTreeMap<&RequestLabels, &i64> = open.iter().collect();
            for (labels, n) in sorted {
                out.push_str("apiserver_longrunning_requests");
                labels.write(&mut out, &[], false);
                let _ = writeln!(out, " {n}");
            }
        }
        self.render_storage(server, &mut out).await;
        self.render_process(&mut out);
        out
    }

    /// `apiserver_storage_objects`: objects stored per resource, counted now
    /// (-1 when the store fails to count, as upstream reports it).
    async fn render_storage(&self, server: &ApiServer, out: &mut String) {
        header_of(
            out,
            "apiserver_storage_objects",
            "gauge",
            "Objects stored per resource at the last count; -1 when counting failed.",
        );
        let mut seen = std::collections::BTreeSet::new();
        let mut counts = Vec::new();
        for info in skiff_core::registry::resources() {
            let Some(prefix) = info.storage_prefix() else {
                continue;
            };
            let name = if info.group.is_empty() {
                info.resource.to_string()
            } else {
                format!("{}.{}", info.resource, info.group)
            };
            // One count per stored resource, whatever versions serve it.
            if !seen.insert(prefix.to_string()) {
                continue;
            }
            let n = server
                .store
                .count(&format!("{prefix}/"))
                .await
                .unwrap_or(-1);
            counts.push((name, n));
        }
        counts.sort();
        for (name, n) in counts {
            out.push_str("apiserver_storage_objects");
            write_labels(out, &[("resource", &name)]);
            let _ = writeln!(out, " {n}");
        }
    }

    /// The standard `process_*` figures, from procfs.
    fn render_process(&self, out: &mut String) {
        let started = self
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let cpu = process_cpu_time().map(|d| d.as_secs_f64());
        // VmRSS and VmSize of /proc/self/status, in kB.
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kb = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map(|k| k * 1024.0)
        };
        let rss = kb("VmRSS:");
        let vsize = kb("VmSize:");
        let fds = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as f64)
            .ok();
        let gauges: [(&str, &str, &str, Option<f64>); 5] = [
            (
                "process_cpu_seconds_total",
                "counter",
                "User and system CPU time spent, in seconds.",
                cpu,
            ),
            (
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                rss,
            ),
            (
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                vsize,
            ),
            ("process_open_fds", "gauge", "Open file descriptors.", fds),
            (
                "process_start_time_seconds",
                "gauge",
                "When the process started, in seconds since the Unix epoch.",
                Some(started),
            ),
        ];
        for (name, kind, help, value) in gauges {
            if let Some(v) = value {
                header_of(out, name, kind, help);
                let _ = writeln!(out, "{name} {}", format_float(v));
            }
        }
    }
}

/// CPU time this process has used so far (all threads), or `None` if the
/// clock cannot be read.
pub fn process_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own and reads nothing else.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

fn header_of(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `{a="x",b="y"}` with the values escaped as the text format requires.
fn write_labels(out: &mut String, labels: &[(&str, &str)]) {
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let escaped = v
            .replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('"', "\\\"");
        let _ = write!(out, "{k}=\"{escaped}\"");
    }
    out.push('}');
}

/// Floats as Prometheus clients print them: integers without a fraction.
fn format_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// `GET /metrics`.
pub(crate) async fn serve(server: &ApiServer) -> Response<Body> {
    let text = server.metrics.render(server).await;
    let mut resp = Response::new(encoding::full(text));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Records a watch when its body is dropped (the watch ended).
struct WatchGuard {
    metrics: Arc<Metrics>,
    labels: RequestLabels,
    code: u16,
    started: Instant,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if let Ok(mut open) = self.metrics.long_running.lock()
            && let Some(n) = open.get_mut(&self.labels)
        {
            *n -= 1;
            if *n <= 0 {
                open.remove(&self.labels);
            }
        }
        self.metrics
            .record(self.labels.clone(), self.code, self.started.elapsed());
    }
}

/// A body that carries a [`WatchGuard`] until it is dropped.
struct Tracked {
    inner: Body,
    _guard: WatchGuard,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(verb: &str, namespace: &str, name: &str) -> RequestInfo {
        RequestInfo {
            is_resource: true,
            verb: verb.into(),
            version: "v1".into(),
            namespace: namespace.into(),
            resource: "pods".into(),
            name: name.into(),
            ..RequestInfo::default()
        }
    }

    #[test]
    fn verbs_and_scopes_are_cleaned_as_upstream() {
        let cases = [
            (info("create", "default", ""), false, "POST", "resource"),
            (info("list", "default", ""), false, "LIST", "namespace"),
            (info("list", "", ""), false, "LIST", "cluster"),
            (info("get", "default", "p"), false, "GET", "resource"),
            (info("patch", "default", "p"), true, "APPLY", "resource"),
            (info("patch", "default", "p"), false, "PATCH", "resource"),
            (info("watch", "", ""), false, "WATCH", "cluster"),
            (
                info("deletecollection", "default", ""),
                false,
                "DELETECOLLECTION",
                "namespace",
            ),
        ];
        for (info, apply, verb, scope) in cases {
            let labels = RequestLabels::of(&info, apply, false);
            assert_eq!((labels.verb, labels.scope), (verb, scope), "{info:?}");
        }
    }

    #[test]
    fn requests_render_as_counters_and_cumulative_histograms() {
        let metrics = Metrics::default();
        let labels = RequestLabels::of(&info("get", "default", "p"), false, false);
        metrics.record(labels.clone(), 200, Duration::from_millis(3));
        metrics.record(labels.clone(), 404, Duration::from_millis(30));
        let mut out = String::new();
        let requests = metrics.requests.lock().expect("lock");
        let stats = &requests[&labels];
        assert_eq!(stats.codes, BTreeMap::from([(200, 1), (404, 1)]));
        assert_eq!(stats.buckets[0], 1, "3 ms is under 5 ms");
        assert_eq!(stats.buckets[2], 1, "30 ms is under 50 ms");
        labels.write(&mut out, &[("code", "200")], true);
        assert_eq!(
            out,
            r#"{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="GET",version="v1"}"#
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        write_labels(&mut out, &[("a", "x\"y\\z\n")]);
        assert_eq!(out, r#"{a="x\"y\\z\n"}"#);
        assert_eq!(format_float(0.005), "0.005");
        assert_eq!(format_float(60.0), "60");
    }
}
