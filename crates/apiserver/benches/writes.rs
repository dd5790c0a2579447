//! Times the API server's write path for what one pod of the scheduling
//! benchmark (`skiff-bench scheduling`) costs: the create, the binding, the
//! scheduler's `Scheduled` Event, the simulated kubelet's status patch, and a
//! node Lease renewal (PUT). Requests go through the in-process loopback
//! transport, so routing, authorization, admission, the REST pipeline, the
//! SQLite store and the watch cache all run; TCP, TLS and HTTP framing do
//! not. Reports process CPU time per request (robust against other load on
//! the machine) and wall time. Run it with:
//!
//! ```text
//! cargo bench -p skiff-apiserver --bench writes [-- <pods>]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails by panicking

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use skiff_apiserver::pki::UserInfo;
use skiff_apiserver::server::Loopback;
use tower_service::Service;

/// The allocator of the `skiff` binary: with glibc's, malloc and free were
/// half of a status patch here, a third of what they cost the real server.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Requests in flight at once, like the scheduler's binders and the sim's
/// status writers together.
const CONCURRENCY: usize = 16;

/// CPU time this process has used so far.
fn process_cpu() -> Duration {
    skiff_apiserver::metrics::process_cpu_time().expect("clock_gettime(CLOCK_PROCESS_CPUTIME_ID)")
}

async fn call(
    lb: &Loopback,
    method: &str,
    uri: String,
    content_type: &str,
    body: Value,
    expect: StatusCode,
) {
    let req = Request::builder()
        .method(method)
        .uri(&uri)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let resp = lb.clone().call(req).await.expect("infallible");
    let status = resp.status();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(
        status,
        expect,
        "{method} {uri}: {}",
        String::from_utf8_lossy(&body)
    );
}

/// Runs `make(i)` for every i with [`CONCURRENCY`] in flight; prints CPU and
/// wall time per request.
async fn phase<F, Fut>(name: &str, n: usize, make: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (cpu0, wall0) = (process_cpu(), Instant::now());
    futures::stream::iter(0..n)
        .map(make)
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let (cpu, wall) = (process_cpu() - cpu0, wall0.elapsed());
    println!(
        "{name:<8} {n:>6} requests  cpu {:>7.1} µs/req  wall {:>7.1} µs/req",
        cpu.as_secs_f64() * 1e6 / n as f64,
        wall.as_secs_f64() * 1e6 / n as f64,
    );
}

fn pod(i: usize) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("pod-{i:05}"), "labels": {"app": "sched"}},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "pause",
                "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            }],
        },
    })
}

/// The simulated kubelet's patch once the pod runs (`status_manager.rs`).
fn running_status(uid: &str, node: &str, i: usize) -> Value {
    let t = "2026-11-22T10:00:01Z";
    let cond = |ty: &str| json!({"type": ty, "status": "True", "lastProbeTime": null, "lastTransitionTime": t});
    json!({
        "metadata": {"uid": uid},
        "status": {
            "phase": "Running",
            "conditions": [cond("PodReadyToStartContainers"), cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
            "hostIP": "10.0.0.1",
            "hostIPs": [{"ip": "10.0.0.1"}],
            "podIP": format!("10.42.{}.{}", i / 250, i % 250 + 2),
            "podIPs": [{"ip": format!("10.42.{}.{}", i / 250, i % 250 + 2)}],
            "startTime": t,
            "containerStatuses": [{
                "name": "pause", "image": "registry.k8s.io/pause:3.10", "imageID": "registry.k8s.io/pause:3.10",
                "ready": true, "started": true, "restartCount": 0,
                "state": {"running": {"startedAt": t}}, "lastState": {},
                "containerID": format!("sim://{node}/{i}"),
            }],
        },
    })
}

fn event(i: usize, uid: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("pod-{i:05}.1880a1b2c3d4e5f6"), "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": format!("pod-{i:05}"), "uid": uid, "apiVersion": "v1", "resourceVersion": "12"},
        "reason": "Scheduled",
        "message": format!("Successfully assigned default/pod-{i:05} to sim-{}", i % 100),
        "type": "Normal",
        "action": "Binding",
        "reportingComponent": "default-scheduler",
        "reportingInstance": "default-scheduler-skiff",
        "eventTime": "2026-11-22T10:00:00.123456Z",
        "source": {},
        "firstTimestamp": null,
        "lastTimestamp": null,
    })
}

fn lease(i: usize, renew: &str, rv: Option<&str>) -> Value {
    let mut l = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": format!("sim-{i}"), "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": format!("sim-{i}"), "leaseDurationSeconds": 40, "renewTime": renew},
    });
    if let Some(rv) = rv {
        l["metadata"]["resourceVersion"] = json!(rv);
    }
    l
}

async fn get(lb: &Loopback, uri: &str) -> Value {
    let req = Request::builder()
        .method("GET")
        .uri(uri)
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = lb.clone().call(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK, "GET {uri}");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    serde_json::from_slice(&body).expect("JSON")
}

fn main() {
    let pods: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(pods));
}

async fn run(pods: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        skiff_store::SqliteStore::open_default(dir.path().join("state.db")).expect("store opens");
    let config = skiff_apiserver::Config {
        tls_dir: dir.path().join("tls"),
        listen: "127.0.0.1:0".parse().expect("address"),
        tls_sans: Vec::new(),
        service_cidr: "10.43.0.0/16".parse().expect("cidr"),
    };
    let running = skiff_apiserver::server::start(config, Arc::new(store))
        .await
        .expect("server starts");
    let user = |name: &str| UserInfo {
        name: name.into(),
        groups: vec!["system:masters".into(), "system:authenticated".into()],
    };
    let bench = running.loopback(user("bench"), "skiff-bench/v0");
    let scheduler = running.loopback(user("system:kube-scheduler"), "kube-scheduler/v1.33.0");
    let kubelet = running.loopback(user("system:node:sim"), "skiff-sim/v0");
    let nodes = pods.min(1000);
    // `default` and `kube-node-lease` are the server's own.
    let ns = "/api/v1/namespaces";

    phase("create", pods, |i| {
        call(
            &bench,
            "POST",
            format!("{ns}/default/pods"),
            "application/json",
            pod(i),
            StatusCode::CREATED,
        )
    })
    .await;
    let uids: Vec<String> = {
        let list = get(&bench, &format!("{ns}/default/pods")).await;
        let mut named: Vec<(String, String)> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| {
                (
                    p["metadata"]["name"].as_str().expect("name").to_string(),
                    p["metadata"]["uid"].as_str().expect("uid").to_string(),
                )
            })
            .collect();
        named.sort();
        named.into_iter().map(|(_, uid)| uid).collect()
    };
    assert_eq!(uids.len(), pods);
    phase("bind", pods, |i| {
        call(
            &scheduler,
            "POST",
            format!("{ns}/default/pods/pod-{i:05}/binding"),
            "application/json",
            json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": format!("pod-{i:05}")},
                   "target": {"kind": "Node", "name": format!("sim-{}", i % nodes)}}),
            StatusCode::CREATED,
        )
    })
    .await;
    phase("event", pods, |i| {
        call(
            &scheduler,
            "POST",
            format!("{ns}/default/events"),
            "application/json",
            event(i, &uids[i]),
            StatusCode::CREATED,
        )
    })
    .await;
    phase("status", pods, |i| {
        call(
            &kubelet,
            "PATCH",
            format!("{ns}/default/pods/pod-{i:05}/status"),
            "application/merge-patch+json",
            running_status(&uids[i], &format!("sim-{}", i % nodes), i),
            StatusCode::OK,
        )
    })
    .await;
    phase("lease+", nodes, |i| {
        call(
            &kubelet,
            "POST",
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases".to_string(),
            "application/json",
            lease(i, "2026-11-22T10:00:00.000000Z", None),
            StatusCode::CREATED,
        )
    })
    .await;
    let rvs: Vec<String> = {
        let list = get(
            &bench,
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
        )
        .await;
        let mut named: Vec<(String, String)> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|l| {
                let name = l["metadata"]["name"].as_str().expect("name");
                let n: usize = name
                    .trim_start_matches("sim-")
                    .parse()
                    .expect("a sim lease");
                (
                    format!("{n:06}"),
                    l["metadata"]["resourceVersion"]
                        .as_str()
                        .expect("rv")
                        .to_string(),
                )
            })
            .collect();
        named.sort();
        named.into_iter().map(|(_, rv)| rv).collect()
    };
    phase("lease", nodes, |i| {
        call(
            &kubelet,
            "PUT",
            format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/sim-{i}"),
            "application/json",
            lease(i, "2026-11-22T10:00:10.000000Z", Some(&rvs[i])),
            StatusCode::OK,
        )
    })
    .await;
    running.shutdown();
}
