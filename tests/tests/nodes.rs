//! End-to-end tests of node lifecycle, taint eviction, PodDisruptionBudgets,
//! the `pods/eviction` subresource and `kubectl drain`/`cordon`/`uncordon`,
//! against a real `skiff server` with `skiff sim` nodes and the real kubectl.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use skiff_tests::pods::{condition, condition_status, is_ready};
use skiff_tests::{KUBECTL_VERSIONS, Server, Sim, wait_for};

const TIMEOUT: Duration = Duration::from_secs(90);

/// A POST with the admin certificate through curl; returns (code, body).
fn post(server: &Server, path: &str, body: &Value) -> Result<(u16, Value)> {
    let tls = server.dir.path().join("server").join("tls");
    let file = server.dir.path().join(format!(
        "body-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::write(&file, body.to_string())?;
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", "POST"])
        .arg("--cacert")
        .arg(tls.join("ca.crt"))
        .arg("--cert")
        .arg(tls.join("admin.crt"))
        .arg("--key")
        .arg(tls.join("admin.key"))
        .args(["-H", "Content-Type: application/json"])
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!("{}{}", server.url, path))
        .output()
        .context("failed to run curl")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').context("no status line from curl")?;
    Ok((
        code.trim().parse()?,
        serde_json::from_str(body).unwrap_or(Value::Null),
    ))
}

fn evict(server: &Server, ns: &str, pod: &str, query: &str) -> Result<(u16, Value)> {
    post(
        server,
        &format!("/api/v1/namespaces/{ns}/pods/{pod}/eviction{query}"),
        &json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod, "namespace": ns},
        }),
    )
}

fn node_condition(node: &Node, type_: &str) -> Option<(String, String, String)> {
    let c = node
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)?;
    Some((
        c.status.clone(),
        c.reason.clone().unwrap_or_default(),
        c.message.clone().unwrap_or_default(),
    ))
}

fn taint_keys(node: &Node) -> Vec<String> {
    let mut keys: Vec<String> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .map(|t| format!("{}:{}", t.key, t.effect))
        .collect();
    keys.sort();
    keys
}

/// A pod bound to `node`, with `tolerations` for the node taints.
fn pinned_pod(name: &str, node: &str, tolerations: Value) -> Result<Pod> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "c", "image": "busybox"}],
            "tolerations": tolerations,
        },
    }))?)
}

async fn wait_ready_pods(pods: &Api<Pod>, names: &[&str]) -> Result<()> {
    for name in names {
        wait_for(&format!("pod {name} ready"), TIMEOUT, || async {
            Ok(pods.get_opt(name).await?.filter(is_ready).map(|_| ()))
        })
        .await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_node_turns_unknown_is_tainted_and_its_pods_are_evicted() -> Result<()> {
    // A short grace period, still above the sim's 10 s lease renewal.
    let server = Server::start_with_env(&[("SKIFF_NODE_MONITOR_GRACE_PERIOD", "15s")])?;
    // One node stays: with every node lost, upstream stops tainting
    // ("master disruption mode").
    let _keep = Sim::start(&server, &["--nodes", "1", "--name-prefix", "keep-"])?;
    let lost_args = ["--nodes", "1", "--name-prefix", "lost-"];
    let mut lost = Sim::start(&server, &lost_args)?;
    let client = server.client().await?;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let unreachable = |seconds: Option<i64>| {
        let mut t = json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"});
        if let Some(s) = seconds {
            t["tolerationSeconds"] = json!(s);
        }
        t
    };
    let pp = PostParams::default();
    pods.create(
        &pp,
        &pinned_pod("short", "lost-0", json!([unreachable(Some(3))]))?,
    )
    .await?;
    pods.create(
        &pp,
        &pinned_pod("forever", "lost-0", json!([unreachable(None)]))?,
    )
    .await?;
    // DefaultTolerationSeconds gives this one 300 s: it outlives the test.
    pods.create(&pp, &pinned_pod("defaults", "lost-0", json!([]))?)
        .await?;
    // On the node that stays, for a taint of the user's below.
    pods.create(&pp, &pinned_pod("bystander", "keep-0", json!([]))?)
        .await?;
    wait_ready_pods(&pods, &["short", "forever", "defaults", "bystander"]).await?;
    let defaults = pods.get("defaults").await?;
    let tolerations = defaults
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        assert!(
            tolerations.iter().any(|t| t.key.as_deref() == Some(key)
                && t.effect.as_deref() == Some("NoExecute")
                && t.toleration_seconds == Some(300)),
            "DefaultTolerationSeconds for {key}: {tolerations:?}"
        );
    }

    lost.kill();
    let node = wait_for("lost-0 Unknown and tainted", TIMEOUT, || async {
        let n = nodes.get("lost-0").await?;
        let tainted = taint_keys(&n).contains(&"node.kubernetes.io/unreachable:NoExecute".into());
        let unknown = node_condition(&n, "Ready").is_some_and(|(s, _, _)| s == "Unknown");
        Ok((tainted && unknown).then_some(n))
    })
    .await?;
    assert_eq!(
        node_condition(&node, "Ready"),
        Some((
            "Unknown".into(),
            "NodeStatusUnknown".into(),
            "Kubelet stopped posting node status.".into()
        ))
    );
    for type_ in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        assert_eq!(
            node_condition(&node, type_).map(|c| c.0),
            Some("Unknown".into()),
            "{type_}"
        );
    }
    assert_eq!(
        taint_keys(&node),
        vec![
            "node.kubernetes.io/unreachable:NoExecute".to_string(),
            "node.kubernetes.io/unreachable:NoSchedule".to_string(),
        ]
    );
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    assert!(taints.iter().all(|t| t.time_added.is_some()), "{taints:?}");
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["get", "node", "lost-0", "--no-headers"])?;
        assert!(out.contains("NotReady"), "kubectl {v}: {out}");
    }
    // The healthy node is left alone.
    let keep = nodes.get("keep-0").await?;
    assert_eq!(
        node_condition(&keep, "Ready").map(|c| c.0),
        Some("True".into())
    );
    assert!(taint_keys(&keep).is_empty(), "{:?}", taint_keys(&keep));

    // Tolerated for 3 s: deleted, marked as a disruption target (it stays
    // terminating: no kubelet confirms it on a lost node).
    let pod = wait_for("short evicted", TIMEOUT, || async {
        Ok(pods
            .get_opt("short")
            .await?
            .filter(|p| p.metadata.deletion_timestamp.is_some()))
    })
    .await?;
    let target = condition(&pod, "DisruptionTarget").context("no DisruptionTarget condition")?;
    assert_eq!(
        (target.status.as_str(), target.reason.as_deref()),
        ("True", Some("DeletionByTaintManager"))
    );
    // Tolerated forever, or for 300 s: kept, but not ready any more.
    for name in ["forever", "defaults"] {
        let pod = pods.get(name).await?;
        assert!(
            pod.metadata.deletion_timestamp.is_none(),
            "{name} was deleted"
        );
        assert_eq!(condition_status(&pod, "Ready"), Some("False"), "{name}");
    }

    // The node comes back: Ready, and the taints go.
    let _back = Sim::start(&server, &lost_args)?;
    wait_for("lost-0 Ready and untainted", TIMEOUT, || async {
        let n = nodes.get("lost-0").await?;
        let ready = node_condition(&n, "Ready").is_some_and(|(s, _, _)| s == "True");
        Ok((ready && taint_keys(&n).is_empty()).then_some(()))
    })
    .await?;

    // A NoExecute taint of the user's that the pod does not tolerate at all
    // evicts it at once.
    server.kubectl_ok(
        "1.33",
        &["taint", "node", "keep-0", "maintenance=now:NoExecute"],
    )?;
    wait_for("bystander evicted", TIMEOUT, || async {
        Ok(pods
            .get_opt("bystander")
            .await?
            .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
            .then_some(()))
    })
    .await?;
    server.kubectl_ok("1.33", &["taint", "node", "keep-0", "maintenance-"])?;
    Ok(())
}

fn web_deployment(replicas: i32, extra_spec: Value) -> Result<Deployment> {
    let mut pod_spec = json!({"containers": [{"name": "web", "image": "busybox"}]});
    if let (Some(spec), Some(extra)) = (pod_spec.as_object_mut(), extra_spec.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec},
        },
    }))?)
}

fn pdb(name: &str, spec: Value) -> Result<PodDisruptionBudget> {
    let mut spec = spec;
    spec["selector"] = json!({"matchLabels": {"app": "web"}});
    Ok(serde_json::from_value(json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": spec,
    }))?)
}

async fn wait_deployment_ready(deploys: &Api<Deployment>, replicas: i32) -> Result<()> {
    wait_for("deployment web ready", TIMEOUT, || async {
        let d = deploys.get("web").await?;
        let s = d.status.unwrap_or_default();
        Ok((s.ready_replicas == Some(replicas)
            && s.replicas == Some(replicas)
            && s.updated_replicas == Some(replicas))
        .then_some(()))
    })
    .await
}

/// (currentHealthy, desiredHealthy, expectedPods, disruptionsAllowed,
/// observedGeneration, DisruptionAllowed status and reason).
type PdbNumbers = (i32, i32, i32, i32, i64, String, String);

fn numbers(p: &PodDisruptionBudget) -> Option<PdbNumbers> {
    let s = p.status.as_ref()?;
    let c = s
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "DisruptionAllowed")?;
    Some((
        s.current_healthy,
        s.desired_healthy,
        s.expected_pods,
        s.disruptions_allowed,
        s.observed_generation?,
        c.status.clone(),
        c.reason.clone(),
    ))
}

async fn wait_pdb(
    pdbs: &Api<PodDisruptionBudget>,
    name: &str,
    want: PdbNumbers,
) -> Result<PodDisruptionBudget> {
    let got = wait_for(&format!("pdb {name} status {want:?}"), TIMEOUT, || async {
        let p = pdbs.get(name).await?;
        Ok((numbers(&p).as_ref() == Some(&want)).then_some(p))
    })
    .await;
    if got.is_err() {
        let last = pdbs.get(name).await.ok().and_then(|p| p.status);
        return got.with_context(|| format!("last status: {last:?}"));
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdb_status_follows_a_deployment_and_eviction_respects_it() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "1"])?;
    let client = server.client().await?;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    deploys.create(&pp, &web_deployment(3, json!({}))?).await?;
    wait_deployment_ready(&deploys, 3).await?;
    pdbs.create(&pp, &pdb("web", json!({"minAvailable": 2}))?)
        .await?;
    let budget = wait_pdb(
        &pdbs,
        "web",
        (3, 2, 3, 1, 1, "True".into(), "SufficientPods".into()),
    )
    .await?;
    assert!(budget.status.and_then(|s| s.disrupted_pods).is_none());
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["get", "pdb", "web", "--no-headers"])?;
        let cols: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(
            cols.get(..4),
            Some(&["web", "2", "N/A", "1"][..]),
            "kubectl {v}: {out}"
        );
    }

    let running = |pods: Vec<Pod>| -> Vec<String> {
        let mut names: Vec<String> = pods
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .map(|p| p.name_any())
            .collect();
        names.sort();
        names
    };
    let names = running(
        pods.list(&ListParams::default().labels("app=web"))
            .await?
            .items,
    );
    assert_eq!(names.len(), 3);

    // A dry run is allowed but changes nothing.
    let (code, body) = evict(&server, "default", &names[0], "?dryRun=All")?;
    assert_eq!(code, 201, "{body}");
    assert!(
        pods.get(&names[0])
            .await?
            .metadata
            .deletion_timestamp
            .is_none()
    );
    assert_eq!(
        pdbs.get("web").await?.status.map(|s| s.disruptions_allowed),
        Some(1)
    );

    // Allowed: 201, the pod goes.
    let (code, body) = evict(&server, "default", &names[0], "")?;
    assert_eq!(code, 201, "{body}");
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
    );
    wait_for("evicted pod gone or terminating", TIMEOUT, || async {
        Ok(pods
            .get_opt(&names[0])
            .await?
            .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
            .then_some(()))
    })
    .await?;
    wait_deployment_ready(&deploys, 3).await?;
    wait_pdb(
        &pdbs,
        "web",
        (3, 2, 3, 1, 1, "True".into(), "SufficientPods".into()),
    )
    .await?;

    // Exhausted: 429 with upstream's body, and the pod stays.
    let patch = json!({"spec": {"minAvailable": 3}});
    pdbs.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    wait_pdb(
        &pdbs,
        "web",
        (3, 3, 3, 0, 2, "False".into(), "InsufficientPods".into()),
    )
    .await?;
    let victim = running(
        pods.list(&ListParams::default().labels("app=web"))
            .await?
            .items,
    )
    .into_iter()
    .next()
    .context("no pod")?;
    let (code, body) = evict(&server, "default", &victim, "")?;
    assert_eq!(code, 429, "{body}");
    assert_eq!(body["reason"], "TooManyRequests", "{body}");
    assert_eq!(
        body["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(
        body["details"]["causes"],
        json!([{"reason": "DisruptionBudget", "message": "The disruption budget web needs 3 healthy pods and has 3 currently"}])
    );
    assert!(
        pods.get(&victim)
            .await?
            .metadata
            .deletion_timestamp
            .is_none()
    );

    // maxUnavailable as a percentage of the Deployment's scale, rounded up.
    let patch = json!({"spec": {"minAvailable": null, "maxUnavailable": "50%"}});
    pdbs.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    wait_pdb(
        &pdbs,
        "web",
        (3, 1, 3, 2, 3, "True".into(), "SufficientPods".into()),
    )
    .await?;
    // The scale comes from the Deployment, not from the pods.
    let scale = json!({"spec": {"replicas": 5}});
    deploys
        .patch("web", &PatchParams::default(), &Patch::Merge(&scale))
        .await?;
    wait_deployment_ready(&deploys, 5).await?;
    wait_pdb(
        &pdbs,
        "web",
        (5, 2, 5, 3, 3, "True".into(), "SufficientPods".into()),
    )
    .await?;

    // Two budgets for one pod: 500 with upstream's message.
    pdbs.create(&pp, &pdb("web-too", json!({"maxUnavailable": 1}))?)
        .await?;
    let (code, body) = evict(&server, "default", &victim, "")?;
    assert_eq!(code, 500, "{body}");
    assert_eq!(
        body["message"],
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    );
    Ok(())
}

/// Drains sim-0 with kubectl `version`: both replicas of a Deployment with
/// an emptyDir sit there under a PDB that allows one disruption, next to a
/// bare pod; the drain evicts them all, retrying the second replica until
/// its replacement is ready on sim-1.
async fn drain_with(version: &str) -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "2"])?;
    let client: Client = server.client().await?;
    let nodes: Api<Node> = Api::all(client.clone());
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();

    // Cordon: the node gets spec.unschedulable and the unschedulable taint.
    let out = server.kubectl_ok(version, &["cordon", "sim-1"])?;
    assert!(out.contains("node/sim-1 cordoned"), "{out}");
    wait_for("sim-1 tainted unschedulable", TIMEOUT, || async {
        let n = nodes.get("sim-1").await?;
        Ok((taint_keys(&n) == ["node.kubernetes.io/unschedulable:NoSchedule"]).then_some(()))
    })
    .await?;
    let out = server.kubectl_ok(version, &["get", "node", "sim-1", "--no-headers"])?;
    assert!(out.contains("Ready,SchedulingDisabled"), "{out}");

    let empty_dir = json!({
        "volumes": [{"name": "scratch", "emptyDir": {}}],
        "terminationGracePeriodSeconds": 1,
    });
    deploys.create(&pp, &web_deployment(2, empty_dir)?).await?;
    pods.create(&pp, &pinned_pod("bare", "sim-0", json!([]))?)
        .await?;
    wait_deployment_ready(&deploys, 2).await?;
    wait_ready_pods(&pods, &["bare"]).await?;
    pdbs.create(&pp, &pdb("web", json!({"minAvailable": 1}))?)
        .await?;
    wait_pdb(
        &pdbs,
        "web",
        (2, 1, 2, 1, 1, "True".into(), "SufficientPods".into()),
    )
    .await?;
    let before: Vec<Pod> = pods
        .list(&ListParams::default().labels("app=web"))
        .await?
        .items;
    assert!(
        before
            .iter()
            .all(|p| { p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("sim-0") })
    );

    let out = server.kubectl_ok(version, &["uncordon", "sim-1"])?;
    assert!(out.contains("node/sim-1 uncordoned"), "{out}");
    wait_for("sim-1 untainted", TIMEOUT, || async {
        let n = nodes.get("sim-1").await?;
        let schedulable = n.spec.as_ref().and_then(|s| s.unschedulable) != Some(true);
        Ok((schedulable && taint_keys(&n).is_empty()).then_some(()))
    })
    .await?;

    let args = [
        "drain",
        "sim-0",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--force",
        "--timeout=120s",
    ];
    let drained = server.kubectl(version, &args);
    let stdout = String::from_utf8_lossy(&drained.stdout).to_string();
    let stderr = String::from_utf8_lossy(&drained.stderr).to_string();
    assert!(
        drained.status.success(),
        "kubectl drain failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("node/sim-0 cordoned"), "{stdout}");
    assert!(stdout.contains("pod/bare evicted"), "{stdout}");
    assert!(stdout.contains("node/sim-0 drained"), "{stdout}");
    // The budget held the second replica back until its replacement ran.
    assert!(
        stderr.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "no eviction was refused:\n{stdout}\n{stderr}"
    );
    for p in &before {
        assert!(
            stdout.contains(&format!("pod/{} evicted", p.name_any())),
            "{stdout}"
        );
    }

    // Nothing of ours runs on sim-0; the Deployment runs on sim-1.
    let left: Vec<String> = pods
        .list(&ListParams::default().fields("spec.nodeName=sim-0"))
        .await?
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert!(left.is_empty(), "pods left on sim-0: {left:?}");
    wait_deployment_ready(&deploys, 2).await?;
    let after = pods
        .list(&ListParams::default().labels("app=web"))
        .await?
        .items;
    assert!(
        after
            .iter()
            .all(|p| { p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("sim-1") })
    );
    let n = nodes.get("sim-0").await?;
    assert_eq!(n.spec.as_ref().and_then(|s| s.unschedulable), Some(true));
    wait_for("sim-0 tainted unschedulable", TIMEOUT, || async {
        let n = nodes.get("sim-0").await?;
        Ok((taint_keys(&n) == ["node.kubernetes.io/unschedulable:NoSchedule"]).then_some(()))
    })
    .await?;

    server.kubectl_ok(version, &["uncordon", "sim-0"])?;
    wait_for("sim-0 untainted", TIMEOUT, || async {
        let n = nodes.get("sim-0").await?;
        let schedulable = n.spec.as_ref().and_then(|s| s.unschedulable) != Some(true);
        Ok((schedulable && taint_keys(&n).is_empty()).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_32_drain_evicts_a_sim_nodes_pods_respecting_a_pdb() -> Result<()> {
    drain_with("1.32").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_33_drain_evicts_a_sim_nodes_pods_respecting_a_pdb() -> Result<()> {
    drain_with("1.33").await
}
