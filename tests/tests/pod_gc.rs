//! End-to-end tests of the pod garbage collector (upstream
//! `pkg/controller/podgc`) against a real `skiff server`, with `skiff sim`
//! nodes where pods must run and finish, and the real kubectl.
//!
//! The server runs the collector every second (`SKIFF_POD_GC_PERIOD`)
//! instead of upstream's 20 s, and the orphan test shortens the 40 s node
//! quarantine (`SKIFF_POD_GC_QUARANTINE`), as upstream's integration tests
//! do; everything else is upstream's behaviour.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use skiff_tests::pods::{condition, phase};
use skiff_tests::{KUBECTL_VERSIONS, Server, Sim, wait_for};

const TIMEOUT: Duration = Duration::from_secs(60);
/// A finalizer of the test's, to keep deleted pods visible.
const HOLD: &str = "skiff.dev/pod-gc-test";

fn pod(name: &str, spec: Value, annotations: Value, finalizers: &[&str]) -> Result<Pod> {
    let mut spec = spec;
    spec["containers"] = json!([{"name": "app", "image": "busybox"}]);
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations, "finalizers": finalizers},
        "spec": spec,
    }))?)
}

fn terminating(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_some()
}

async fn set_phase(api: &Api<Pod>, name: &str, phase: &str) -> Result<()> {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": {"phase": phase}})),
    )
    .await
    .with_context(|| format!("set the phase of pod {name} to {phase}"))?;
    Ok(())
}

async fn remove_finalizers(api: &Api<Pod>, name: &str) -> Result<()> {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
    )
    .await
    .with_context(|| format!("remove the finalizers of pod {name}"))?;
    Ok(())
}

async fn wait_gone(api: &Api<Pod>, name: &str) -> Result<()> {
    wait_for(&format!("pod {name} gone"), TIMEOUT, || async {
        Ok(api.get_opt(name).await?.is_none().then_some(()))
    })
    .await
}

/// A node object with no kubelet behind it, with the Ready condition
/// `ready`.
async fn create_node(client: &kube::Client, name: &str, ready: &str) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    api.create(&PostParams::default(), &node)
        .await
        .with_context(|| format!("create node {name}"))?;
    let status = json!({"status": {"conditions": [{
        "type": "Ready", "status": ready, "reason": "Test",
        "lastHeartbeatTime": "2030-01-01T00:00:00Z",
        "lastTransitionTime": "2030-01-01T00:00:00Z",
    }]}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .with_context(|| format!("set the status of node {name}"))?;
    Ok(())
}

/// Pod names in the namespace, as kubectl of `version` lists them.
fn kubectl_pod_names(server: &Server, version: &str) -> Result<Vec<String>> {
    let out = server.kubectl_ok(version, &["get", "pods", "-o", "name"])?;
    let mut names: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("pod/"))
        .map(str::to_string)
        .collect();
    names.sort();
    Ok(names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_pods_beyond_the_threshold_go_oldest_first() -> Result<()> {
    let server = Server::start_with_env(&[
        ("SKIFF_TERMINATED_POD_GC_THRESHOLD", "2"),
        ("SKIFF_POD_GC_PERIOD", "1s"),
    ])?;
    let _sim = Sim::start(&server, &["--nodes", "1"])?;
    let pods: Api<Pod> = Api::namespaced(server.client().await?, "default");
    let finishing = |name: &str, code: &str| {
        pod(
            name,
            json!({"nodeName": "sim-0", "restartPolicy": "Never"}),
            json!({"sim.skiff.dev/exit-after": "1s", "sim.skiff.dev/exit-code": code}),
            &[],
        )
    };
    // Names sort against age, so only the creation time orders them right.
    for (name, code) in [("z-old-0", "0"), ("z-old-1", "1")] {
        pods.create(&PostParams::default(), &finishing(name, code)?)
            .await?;
    }
    // Runs for ever: not terminated, neither counted nor collected.
    let runner = pod(
        "runner",
        json!({"nodeName": "sim-0", "restartPolicy": "Never"}),
        json!({}),
        &[],
    )?;
    pods.create(&PostParams::default(), &runner).await?;
    for (name, want) in [("z-old-0", "Succeeded"), ("z-old-1", "Failed")] {
        wait_for(&format!("{name} {want}"), TIMEOUT, || async {
            Ok((phase(&pods.get(name).await?) == want).then_some(()))
        })
        .await?;
    }
    // Exactly at the threshold: several passes later both are still there.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for name in ["z-old-0", "z-old-1"] {
        let p = pods.get(name).await?;
        assert!(!terminating(&p), "{name} deleted at the threshold");
    }

    // Two more finish: the two oldest terminated pods go, whichever of the
    // new ones finishes first.
    for (name, code) in [("a-new-0", "0"), ("a-new-1", "1")] {
        pods.create(&PostParams::default(), &finishing(name, code)?)
            .await?;
    }
    wait_gone(&pods, "z-old-0").await?;
    wait_gone(&pods, "z-old-1").await?;
    for (name, want) in [("a-new-0", "Succeeded"), ("a-new-1", "Failed")] {
        wait_for(&format!("{name} {want}"), TIMEOUT, || async {
            Ok((phase(&pods.get(name).await?) == want).then_some(()))
        })
        .await?;
    }
    // Two passes more: the threshold holds, the running pod was never a
    // candidate.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for v in KUBECTL_VERSIONS {
        assert_eq!(
            kubectl_pod_names(&server, v)?,
            ["a-new-0", "a-new-1", "runner"],
            "kubectl {v}"
        );
    }
    let r = pods.get("runner").await?;
    assert_eq!(phase(&r), "Running");
    assert!(!terminating(&r));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_of_a_deleted_node_are_failed_and_force_deleted_after_the_quarantine() -> Result<()> {
    let quarantine = Duration::from_secs(5);
    let server = Server::start_with_env(&[
        ("SKIFF_POD_GC_PERIOD", "1s"),
        ("SKIFF_POD_GC_QUARANTINE", "5s"),
    ])?;
    let client = server.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let nodes: Api<Node> = Api::all(client.clone());
    create_node(&client, "lost", "True").await?;

    // Bound by spec.nodeName: one running, one finished; both held by a
    // finalizer so what the collector did stays visible.
    for (name, want) in [("running", "Running"), ("done", "Succeeded")] {
        let p = pod(name, json!({"nodeName": "lost"}), json!({}), &[HOLD])?;
        pods.create(&PostParams::default(), &p).await?;
        set_phase(&pods, name, want).await?;
    }
    // Bound through pods/binding, as the scheduler binds; a scheduler name
    // no profile has keeps skiff's scheduler away.
    let p = pod(
        "bound",
        json!({"schedulerName": "pod-gc-test"}),
        json!({}),
        &[],
    )?;
    pods.create(&PostParams::default(), &p).await?;
    let binding = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": "bound", "namespace": "default"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "lost"},
    });
    pods.create_subresource::<Value, Value>("binding", "bound", &PostParams::default(), &binding)
        .await
        .context("bind pod bound")?;
    let b = pods.get("bound").await?;
    assert_eq!(b.spec.and_then(|s| s.node_name).as_deref(), Some("lost"));

    // With the node there, nothing happens.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for name in ["running", "done", "bound"] {
        assert!(!terminating(&pods.get(name).await?), "{name}");
    }

    nodes
        .delete("lost", &DeleteParams::default())
        .await
        .context("delete node lost")?;
    let deleted_at = Instant::now();

    let p = wait_for("running marked failed and deleted", TIMEOUT, || async {
        let p = pods.get("running").await?;
        Ok(terminating(&p).then_some(p))
    })
    .await?;
    // Not before the node was missing for the quarantine.
    let waited = deleted_at.elapsed();
    if waited < quarantine {
        bail!("orphan collected after {waited:?}, before the {quarantine:?} quarantine");
    }
    assert_eq!(phase(&p), "Failed");
    let c = condition(&p, "DisruptionTarget").context("no DisruptionTarget condition")?;
    assert_eq!(c.status, "True");
    assert_eq!(c.reason.as_deref(), Some("DeletionByPodGC"));
    assert_eq!(c.message.as_deref(), Some("PodGC: node no longer exists"));
    // Force deletion: no grace period.
    assert_eq!(p.metadata.deletion_grace_period_seconds, Some(0));

    // A terminal orphan keeps its phase and gets no condition, and goes too.
    let d = wait_for("done deleted", TIMEOUT, || async {
        let p = pods.get("done").await?;
        Ok(terminating(&p).then_some(p))
    })
    .await?;
    assert_eq!(phase(&d), "Succeeded");
    assert!(condition(&d, "DisruptionTarget").is_none());
    assert_eq!(d.metadata.deletion_grace_period_seconds, Some(0));
    wait_gone(&pods, "bound").await?;

    // The finalizers are the only thing keeping them.
    for name in ["running", "done"] {
        remove_finalizers(&pods, name).await?;
        wait_gone(&pods, name).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unscheduled_terminating_pods_are_failed_and_force_deleted() -> Result<()> {
    // No nodes: the pods stay unscheduled.
    let server = Server::start_with_env(&[("SKIFF_POD_GC_PERIOD", "1s")])?;
    let pods: Api<Pod> = Api::namespaced(server.client().await?, "default");
    for v in KUBECTL_VERSIONS {
        let name = format!("pending-{}", v.replace('.', "-"));
        let p = pod(&name, json!({}), json!({}), &[HOLD])?;
        pods.create(&PostParams::default(), &p).await?;
        let waiting = pods.get(&name).await?;
        assert_eq!(phase(&waiting), "Pending");
        server.kubectl_ok(v, &["delete", "pod", &name, "--wait=false"])?;

        // The finalizer keeps it; the collector marks it Failed (no
        // condition: it was never disrupted, only never scheduled).
        let out = wait_for(&format!("{name} Failed"), TIMEOUT, || async {
            let out = server.kubectl_ok(
                v,
                &[
                    "get",
                    "pod",
                    &name,
                    "-o",
                    "jsonpath={.status.phase} {.metadata.deletionGracePeriodSeconds}",
                ],
            )?;
            Ok(out.starts_with("Failed").then_some(out))
        })
        .await?;
        assert_eq!(out.trim(), "Failed 0");
        let p = pods.get(&name).await?;
        assert!(terminating(&p));
        assert!(condition(&p, "DisruptionTarget").is_none());
        assert_eq!(p.spec.and_then(|s| s.node_name), None);

        server.kubectl_ok(
            v,
            &[
                "patch",
                "pod",
                &name,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ],
        )?;
        wait_gone(&pods, &name).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_pods_on_an_out_of_service_node_are_force_deleted() -> Result<()> {
    let server = Server::start_with_env(&[("SKIFF_POD_GC_PERIOD", "1s")])?;
    let client = server.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // A node that is down: not Ready, and no kubelet to finish its pods.
    create_node(&client, "down", "False").await?;
    // Tolerating everything keeps the taint eviction controller out of it.
    let spec = json!({
        "nodeName": "down",
        "tolerations": [{"operator": "Exists"}],
    });
    for (name, finalizers) in [("held", &[HOLD][..]), ("plain", &[][..])] {
        pods.create(
            &PostParams::default(),
            &pod(name, spec.clone(), json!({}), finalizers)?,
        )
        .await?;
        set_phase(&pods, name, "Running").await?;
        // A long grace period: nothing finishes the deletion by itself.
        pods.delete(name, &DeleteParams::default().grace_period(300))
            .await?;
    }
    // Terminating on a node not Ready, but not declared out of service:
    // the collector leaves them to the (absent) kubelet.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for name in ["held", "plain"] {
        let p = pods.get(name).await?;
        assert!(terminating(&p), "{name}");
        assert_eq!(phase(&p), "Running", "{name}");
        assert_eq!(p.metadata.deletion_grace_period_seconds, Some(300));
    }

    server.kubectl_ok(
        KUBECTL_VERSIONS[1],
        &[
            "taint",
            "node",
            "down",
            "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute",
        ],
    )?;
    wait_gone(&pods, "plain").await?;
    let p = wait_for("held marked failed", TIMEOUT, || async {
        let p = pods.get("held").await?;
        Ok((phase(&p) == "Failed").then_some(p))
    })
    .await?;
    // As upstream: phase Failed, but no DisruptionTarget condition for
    // this rule; deleted again with no grace period.
    assert!(condition(&p, "DisruptionTarget").is_none());
    wait_for("held force-deleted", TIMEOUT, || async {
        let p = pods.get("held").await?;
        Ok((p.metadata.deletion_grace_period_seconds == Some(0)).then_some(()))
    })
    .await?;
    remove_finalizers(&pods, "held").await?;
    wait_gone(&pods, "held").await?;
    Ok(())
}
