//! `skiff sim` against a real `skiff server`: simulated nodes register Ready
//! and keep their leases, and pods bound to them run as kubelet would run
//! them, following the `sim.skiff.dev/*` annotations. No scheduler: the pods
//! name their node.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use skiff_tests::pods::{condition_status, is_ready, phase};
use skiff_tests::{KUBECTL_VERSIONS, Server, Sim};

fn pod(name: &str, node: &str, restart_policy: &str, annotations: &[(&str, &str)]) -> Result<Pod> {
    let annotations: serde_json::Map<String, serde_json::Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    Ok(serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "nodeName": node,
            "restartPolicy": restart_policy,
            "containers": [{"name": "app", "image": "busybox"}],
        },
    }))?)
}

/// Polls the pod until `done` holds; returns it.
async fn wait_pod(
    api: &Api<Pod>,
    name: &str,
    timeout: Duration,
    what: &str,
    done: impl Fn(&Pod) -> bool,
) -> Result<Pod> {
    let deadline = Instant::now() + timeout;
    loop {
        let p = api.get(name).await?;
        if done(&p) {
            return Ok(p);
        }
        if Instant::now() > deadline {
            bail!(
                "pod {name} not {what} within {timeout:?}: {}",
                serde_json::to_string_pretty(&p.status)?
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn container(p: &Pod) -> Option<&k8s_openapi::api::core::v1::ContainerStatus> {
    p.status.as_ref()?.container_statuses.as_ref()?.first()
}

fn in_cidr(ip: &str, cidr: &str) -> Result<bool> {
    let ip: Ipv4Addr = ip.parse()?;
    let (base, bits) = cidr.split_once('/').context("cidr")?;
    let base: Ipv4Addr = base.parse()?;
    let bits: u32 = bits.parse()?;
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    Ok(u32::from(ip) & mask == u32::from(base) & mask)
}

fn renew_time(l: &Lease) -> Option<String> {
    l.spec
        .as_ref()?
        .renew_time
        .as_ref()
        .map(|t| t.0.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_register_ready_with_labels_zones_and_leases() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(
        &server,
        &[
            "--nodes",
            "4",
            "--zones",
            "2",
            "--labels",
            "team=infra,tier=sim",
            "--taints",
            "dedicated=sim:NoSchedule",
            "--cpu",
            "16",
            "--memory",
            "64Gi",
        ],
    )?;
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["get", "nodes", "--no-headers"])?;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        for (i, line) in lines.iter().enumerate() {
            let cols: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(cols[0], format!("sim-{i}"), "{out}");
            assert_eq!(cols[1], "Ready", "{out}");
            assert_eq!(cols.last().copied(), Some("v1.33.0"), "{out}");
        }
        let wide = server.kubectl_ok(v, &["get", "nodes", "-o", "wide"])?;
        assert!(
            wide.contains("INTERNAL-IP") && wide.contains("172.16.0.1"),
            "{wide}"
        );
        assert!(wide.contains("sim://"), "container runtime column: {wide}");
        let zones = server.kubectl_ok(
            v,
            &[
                "get",
                "nodes",
                "-l",
                "topology.kubernetes.io/zone=zone-b",
                "-o",
                "name",
            ],
        )?;
        assert_eq!(zones.trim(), "node/sim-1\nnode/sim-3", "{zones}");
    }

    let client = server.client().await?;
    let nodes: Api<Node> = Api::all(client.clone());
    let mut cidrs = Vec::new();
    for i in 0..4 {
        let n = nodes.get(&format!("sim-{i}")).await?;
        let labels = n.metadata.labels.clone().unwrap_or_default();
        for (k, want) in [
            ("kubernetes.io/hostname", format!("sim-{i}")),
            ("kubernetes.io/os", "linux".into()),
            ("kubernetes.io/arch", "amd64".into()),
            ("team", "infra".into()),
            ("tier", "sim".into()),
        ] {
            assert_eq!(labels.get(k), Some(&want), "label {k} of sim-{i}");
        }
        let spec = n.spec.clone().context("spec")?;
        let taints = spec.taints.clone().unwrap_or_default();
        assert_eq!(taints.len(), 1);
        assert_eq!(
            (
                taints[0].key.as_str(),
                taints[0].value.as_deref(),
                taints[0].effect.as_str()
            ),
            ("dedicated", Some("sim"), "NoSchedule")
        );
        let cidr = spec.pod_cidr.clone().context("podCIDR")?;
        assert_eq!(spec.pod_cidrs, Some(vec![cidr.clone()]));
        assert_eq!(cidr, format!("10.42.{i}.0/24"));
        cidrs.push(cidr);
        let status = n.status.context("status")?;
        let cap = status.capacity.clone().unwrap_or_default();
        assert_eq!(cap.get("cpu").map(|q| q.0.as_str()), Some("16"));
        assert_eq!(cap.get("memory").map(|q| q.0.as_str()), Some("64Gi"));
        assert_eq!(cap.get("pods").map(|q| q.0.as_str()), Some("110"));
        assert!(status.allocatable.is_some());
        let conds = status.conditions.unwrap_or_default();
        for (t, s) in [
            ("Ready", "True"),
            ("MemoryPressure", "False"),
            ("DiskPressure", "False"),
            ("PIDPressure", "False"),
        ] {
            assert!(
                conds.iter().any(|c| c.type_ == t && c.status == s),
                "{t}={s} on sim-{i}"
            );
        }
        let addresses = status.addresses.unwrap_or_default();
        assert!(addresses.iter().any(|a| a.type_ == "InternalIP"));
        assert!(
            addresses
                .iter()
                .any(|a| a.type_ == "Hostname" && a.address == format!("sim-{i}"))
        );
    }

    // Leases in kube-node-lease, owned by their nodes, renewed every ~10 s.
    let leases: Api<Lease> = Api::namespaced(client, "kube-node-lease");
    let first = leases.get("sim-0").await?;
    let spec = first.spec.clone().context("lease spec")?;
    assert_eq!(spec.holder_identity.as_deref(), Some("sim-0"));
    assert_eq!(spec.lease_duration_seconds, Some(40));
    let owner = first.metadata.owner_references.clone().unwrap_or_default();
    assert_eq!(
        owner.first().map(|o| (o.kind.as_str(), o.name.as_str())),
        Some(("Node", "sim-0"))
    );
    let before = renew_time(&first);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = renew_time(&leases.get("sim-0").await?);
        if now > before {
            break;
        }
        if Instant::now() > deadline {
            bail!("lease sim-0 not renewed within 20 s (renewTime {before:?})");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_on_a_sim_node_runs_ready_with_an_ip_of_the_node() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "2"])?;
    let client = server.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = Instant::now();
    pods.create(&PostParams::default(), &pod("web", "sim-1", "Always", &[])?)
        .await?;
    let p = wait_pod(
        &pods,
        "web",
        Duration::from_secs(10),
        "Running and Ready",
        |p| phase(p) == "Running" && is_ready(p),
    )
    .await?;
    let startup = created.elapsed();
    assert!(
        startup < Duration::from_secs(3),
        "pod startup took {startup:?}"
    );
    let status = p.status.clone().context("status")?;
    let ip = status.pod_ip.clone().context("podIP")?;
    assert!(in_cidr(&ip, "10.42.1.0/24")?, "pod IP {ip} in sim-1's CIDR");
    assert_eq!(
        status
            .pod_ips
            .map(|ips| ips.into_iter().map(|i| i.ip).collect::<Vec<_>>()),
        Some(vec![ip.clone()])
    );
    assert_eq!(status.host_ip.as_deref(), Some("172.16.0.2"));
    assert!(status.start_time.is_some());
    for t in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
        assert_eq!(condition_status(&p, t), Some("True"), "{t}");
    }
    let c = container(&p).context("container status")?;
    assert!(c.ready && c.started == Some(true) && c.restart_count == 0);
    assert!(c.state.as_ref().and_then(|s| s.running.as_ref()).is_some());
    assert!(c.container_id.is_some());

    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["get", "pod", "web", "-o", "wide", "--no-headers"])?;
        let cols: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(&cols[..3], &["web", "1/1", "Running"], "{out}");
        assert!(out.contains(&ip) && out.contains("sim-1"), "{out}");
    }

    // A second pod on the same node gets another IP of its block.
    pods.create(
        &PostParams::default(),
        &pod("web2", "sim-1", "Always", &[])?,
    )
    .await?;
    let p2 = wait_pod(&pods, "web2", Duration::from_secs(10), "Running", |p| {
        is_ready(p)
    })
    .await?;
    let ip2 = p2.status.and_then(|s| s.pod_ip).context("podIP")?;
    assert_ne!(ip, ip2);
    assert!(in_cidr(&ip2, "10.42.1.0/24")?);

    // A pod bound to a node that is not simulated is left alone.
    pods.create(
        &PostParams::default(),
        &pod("elsewhere", "real-node", "Always", &[])?,
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(phase(&pods.get("elsewhere").await?), "Pending");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotations_delay_or_fail_readiness() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "1"])?;
    let pods: Api<Pod> = Api::namespaced(server.client().await?, "default");
    let created = Instant::now();
    pods.create(
        &PostParams::default(),
        &pod(
            "slow",
            "sim-0",
            "Always",
            &[("sim.skiff.dev/ready-after", "2s")],
        )?,
    )
    .await?;
    pods.create(
        &PostParams::default(),
        &pod(
            "never",
            "sim-0",
            "Always",
            &[("sim.skiff.dev/fail-readiness", "true")],
        )?,
    )
    .await?;
    let p = wait_pod(&pods, "slow", Duration::from_secs(5), "Running", |p| {
        phase(p) == "Running"
    })
    .await?;
    // Observed Running within the ready-after delay: not Ready yet.
    if created.elapsed() < Duration::from_millis(1800) {
        assert!(!is_ready(&p), "Ready before ready-after passed");
    }
    wait_pod(&pods, "slow", Duration::from_secs(10), "Ready", is_ready).await?;
    assert!(
        created.elapsed() >= Duration::from_secs(2),
        "not Ready before 2 s"
    );

    let p = pods.get("never").await?;
    assert_eq!(phase(&p), "Running");
    assert!(!is_ready(&p));
    assert_eq!(condition_status(&p, "ContainersReady"), Some("False"));
    assert_eq!(container(&p).map(|c| c.ready), Some(false));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_after_finishes_pods_by_restart_policy() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "1"])?;
    let pods: Api<Pod> = Api::namespaced(server.client().await?, "default");
    for (name, policy, code) in [
        ("ok", "Never", "0"),
        ("bad", "Never", "1"),
        ("retry-ok", "OnFailure", "0"),
        ("crash", "Always", "1"),
    ] {
        let ann = [
            ("sim.skiff.dev/exit-after", "1s"),
            ("sim.skiff.dev/exit-code", code),
        ];
        pods.create(&PostParams::default(), &pod(name, "sim-0", policy, &ann)?)
            .await?;
    }
    let terminated = |p: &Pod| {
        container(p)
            .and_then(|c| c.state.as_ref())
            .and_then(|s| s.terminated.as_ref())
            .map(|t| (t.exit_code, t.reason.clone().unwrap_or_default()))
    };
    let p = wait_pod(&pods, "ok", Duration::from_secs(10), "Succeeded", |p| {
        phase(p) == "Succeeded"
    })
    .await?;
    assert_eq!(terminated(&p), Some((0, "Completed".into())));
    assert_eq!(condition_status(&p, "Ready"), Some("False"));
    let p = wait_pod(&pods, "bad", Duration::from_secs(10), "Failed", |p| {
        phase(p) == "Failed"
    })
    .await?;
    assert_eq!(terminated(&p), Some((1, "Error".into())));
    assert_eq!(container(&p).map(|c| c.restart_count), Some(0));
    wait_pod(
        &pods,
        "retry-ok",
        Duration::from_secs(10),
        "Succeeded",
        |p| phase(p) == "Succeeded",
    )
    .await?;

    // restartPolicy Always: restarted at once after the first exit, then
    // kept in CrashLoopBackOff for 10 s after the second.
    let p = wait_pod(
        &pods,
        "crash",
        Duration::from_secs(15),
        "in CrashLoopBackOff",
        |p| {
            container(p)
                .and_then(|c| c.state.as_ref())
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                == Some("CrashLoopBackOff")
        },
    )
    .await?;
    assert_eq!(phase(&p), "Running");
    let c = container(&p).context("container")?;
    assert_eq!(c.restart_count, 1);
    let message = c
        .state
        .as_ref()
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.message.clone())
        .unwrap_or_default();
    assert!(
        message.starts_with("back-off 10s restarting failed container=app pod=crash_default("),
        "{message}"
    );
    let last = c
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .context("lastState.terminated")?;
    assert_eq!(last.exit_code, 1);
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["get", "pods", "--no-headers"])?;
        assert!(
            out.lines()
                .any(|l| l.starts_with("crash ") && l.contains("CrashLoopBackOff")),
            "{out}"
        );
        assert!(
            out.lines()
                .any(|l| l.starts_with("ok ") && l.contains("Completed")),
            "{out}"
        );
        assert!(
            out.lines()
                .any(|l| l.starts_with("bad ") && l.contains("Error")),
            "{out}"
        );
    }
    // After the back-off, the container runs again: restartCount 2.
    wait_pod(
        &pods,
        "crash",
        Duration::from_secs(15),
        "restarted twice",
        |p| container(p).map(|c| c.restart_count) == Some(2),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_pod_completes_gracefully() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "1"])?;
    let pods: Api<Pod> = Api::namespaced(server.client().await?, "default");
    for name in ["a", "b"] {
        pods.create(&PostParams::default(), &pod(name, "sim-0", "Always", &[])?)
            .await?;
        wait_pod(&pods, name, Duration::from_secs(10), "Ready", is_ready).await?;
    }
    // kubectl waits for the pod to be gone; the default grace is 30 s, the
    // simulated containers stop at once.
    let started = Instant::now();
    server.kubectl_ok("1.33", &["delete", "pod", "a"])?;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "delete took {:?}",
        started.elapsed()
    );
    assert!(pods.get_opt("a").await?.is_none());

    // A delete through the API: the pod turns terminal, then disappears.
    pods.delete("b", &DeleteParams::default()).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while pods.get_opt("b").await?.is_some() {
        if Instant::now() > deadline {
            bail!("pod b not deleted within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The freed IP is handed out again later, the node keeps running pods.
    pods.create(&PostParams::default(), &pod("c", "sim-0", "Always", &[])?)
        .await?;
    wait_pod(&pods, "c", Duration::from_secs(10), "Ready", is_ready).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_sim_stops_lease_renewal() -> Result<()> {
    let server = Server::start()?;
    let mut sim = Sim::start(&server, &["--nodes", "2"])?;
    let leases: Api<Lease> = Api::namespaced(server.client().await?, "kube-node-lease");
    let renewed = |l: &Lease| renew_time(l);

    // SIGSTOP: no renewal while stopped; renewal resumes after SIGCONT.
    sim.signal("STOP")?;
    // A renewal sent just before the stop may still land: give it time
    // (the server is slow when many tests run at once).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let frozen = renewed(&leases.get("sim-0").await?);
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        renewed(&leases.get("sim-0").await?),
        frozen,
        "renewed while stopped"
    );
    sim.signal("CONT")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while renewed(&leases.get("sim-0").await?) <= frozen {
        if Instant::now() > deadline {
            bail!("lease not renewed after SIGCONT");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Killed: the lease stays as last written.
    sim.kill();
    let last = renewed(&leases.get("sim-1").await?);
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(renewed(&leases.get("sim-1").await?), last);
    Ok(())
}

/// Scale check, run by hand (not in CI):
/// `SIM_NODES=1000 SIM_PODS=5000 cargo nextest run -p skiff-tests -E 'binary(sim)' --run-ignored only`.
/// Prints registration time, pod startup latency (create sent → Ready
/// observed through a watch), time to all Running, and the sim's RSS.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "scale check, run by hand"]
async fn scale_check() -> Result<()> {
    use futures::{StreamExt, TryStreamExt};
    use kube::runtime::watcher;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (nodes, total) = (env("SIM_NODES", 1000), env("SIM_PODS", 5000));
    let server = Server::start()?;
    let started = Instant::now();
    let sim = Sim::start(&server, &["--nodes", &nodes.to_string()])?;
    let registration = started.elapsed();
    let client = server.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let watch_api = pods.clone();
    let watch = tokio::spawn(async move {
        let mut stream = watcher(watch_api, watcher::Config::default()).boxed();
        while let Ok(Some(ev)) = stream.try_next().await {
            if let watcher::Event::Apply(p) | watcher::Event::InitApply(p) = ev
                && phase(&p) == "Running"
                && is_ready(&p)
                && tx
                    .send((p.metadata.name.unwrap_or_default(), Instant::now()))
                    .is_err()
            {
                return;
            }
        }
    });
    let t0 = Instant::now();
    let creates = futures::stream::iter(0..total)
        .map(|i| {
            let pods = pods.clone();
            let sent = Arc::clone(&sent);
            async move {
                let name = format!("p{i}");
                let p = pod(&name, &format!("sim-{}", i % nodes), "Always", &[])?;
                sent.lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .insert(name, Instant::now());
                pods.create(&PostParams::default(), &p).await?;
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>();
    let mut latencies = Vec::with_capacity(total);
    let mut seen = std::collections::HashSet::new();
    let collect = async {
        while seen.len() < total {
            let Some((name, at)) = rx.recv().await else {
                break;
            };
            if seen.insert(name.clone()) {
                let sent_at = sent.lock().ok().and_then(|m| m.get(&name).copied());
                if let Some(s) = sent_at {
                    latencies.push(at.duration_since(s));
                }
            }
        }
    };
    let (created, ()) = tokio::join!(creates, async {
        let _ = tokio::time::timeout(Duration::from_secs(600), collect).await;
    });
    created?;
    let all_running = t0.elapsed();
    watch.abort();
    latencies.sort();
    let pct = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
    };
    let rss = std::fs::read_to_string(format!("/proc/{}/status", sim.pid))?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .map(str::to_string)
        .unwrap_or_default();
    println!(
        "scale: nodes={nodes} pods={total} registration={registration:?} all_running={all_running:?} ready={} p50={:?} p99={:?} max={:?} sim {rss}",
        latencies.len(),
        pct(0.5),
        pct(0.99),
        latencies.last()
    );
    assert_eq!(latencies.len(), total, "every pod Running and Ready");
    Ok(())
}
