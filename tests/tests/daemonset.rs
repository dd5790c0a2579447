//! End-to-end tests of the DaemonSet controller: a real `skiff server` (with
//! its scheduler) and `skiff sim` nodes that run the pods, driven with the
//! real kubectl. Covers one pod per node, deleted and failed pods, node
//! selectors and taints, new nodes, rolling updates within maxUnavailable
//! and with maxSurge, OnDelete, the rollout commands and revision history.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use skiff_tests::pods::{controlled_pods, first_image, is_ready, node_of};
use skiff_tests::{KUBECTL_VERSIONS, Server, Sim, wait_for};

const KUBECTL: &str = "1.33";
const TIMEOUT: Duration = Duration::from_secs(60);

/// A DaemonSet manifest; `extra` is merged into `spec`, `pod_spec` into the
/// template's spec.
fn manifest(
    name: &str,
    image: &str,
    extra: serde_json::Value,
    pod_spec: serde_json::Value,
) -> String {
    let mut spec = json!({
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    if let (Some(s), Some(e)) = (
        spec.pointer_mut("/template/spec")
            .and_then(|v| v.as_object_mut()),
        pod_spec.as_object(),
    ) {
        s.extend(e.clone());
    }
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name}, "spec": spec})
        .to_string()
}

fn apply(server: &Server, manifest: &str) -> Result<()> {
    let args = ["apply", "-f", "-"];
    skiff_tests::check(server.kubectl_with(KUBECTL, &args, Some(manifest)), &args)?;
    Ok(())
}

/// The live (not terminating) pods the DaemonSet `name` controls.
async fn ds_pods(client: &Client, name: &str) -> Result<Vec<Pod>> {
    let ds: DaemonSet = Api::default_namespaced(client.clone()).get(name).await?;
    controlled_pods(
        client,
        client.default_namespace(),
        &ds.uid().unwrap_or_default(),
    )
    .await
}

/// Nodes of the DaemonSet's ready pods, sorted.
async fn ready_nodes(client: &Client, name: &str) -> Result<Vec<String>> {
    let mut nodes: Vec<String> = ds_pods(client, name)
        .await?
        .iter()
        .filter(|p| is_ready(p))
        .map(node_of)
        .collect();
    nodes.sort();
    Ok(nodes)
}

/// Waits until exactly `nodes` run a ready pod of the DaemonSet and its
/// status says so for the current generation.
async fn wait_placed(client: &Client, name: &str, nodes: &[&str]) -> Result<()> {
    let api: Api<DaemonSet> = Api::default_namespaced(client.clone());
    let want: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
    let n = nodes.len() as i32;
    wait_for(
        &format!("daemon set {name} on {nodes:?}"),
        TIMEOUT,
        || async {
            let placed = ready_nodes(client, name).await?;
            let all = ds_pods(client, name).await?;
            let ds = api.get(name).await?;
            let s = ds.status.clone().unwrap_or_default();
            let done = placed == want
                && all.len() == nodes.len()
                && s.desired_number_scheduled == n
                && s.current_number_scheduled == n
                && s.number_ready == n
                && s.number_available.unwrap_or(0) == n
                && s.updated_number_scheduled.unwrap_or(0) == n
                && s.number_misscheduled == 0
                && s.observed_generation == ds.metadata.generation;
            Ok(done.then_some(()))
        },
    )
    .await
}

/// Revisions the DaemonSet `uid` owns, by revision number.
async fn revisions(client: &Client, uid: &str) -> Result<Vec<ControllerRevision>> {
    let api: Api<ControllerRevision> = Api::default_namespaced(client.clone());
    let mut revs: Vec<ControllerRevision> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|r| r.owner_references().iter().any(|o| o.uid == uid))
        .collect();
    revs.sort_by_key(|r| r.revision);
    Ok(revs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_runs_one_ready_pod_per_node_replaces_lost_ones_and_follows_new_nodes()
-> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "3"])?;
    let client = server.client().await?;
    apply(&server, &manifest("agent", "busybox", json!({}), json!({})))?;
    wait_placed(&client, "agent", &["sim-0", "sim-1", "sim-2"]).await?;

    let ds: DaemonSet = Api::default_namespaced(client.clone()).get("agent").await?;
    let uid = ds.uid().unwrap_or_default();
    let revs = revisions(&client, &uid).await?;
    assert_eq!(revs.len(), 1, "{revs:?}");
    let hash = revs[0]
        .labels()
        .get("controller-revision-hash")
        .cloned()
        .context("revision without a hash label")?;
    assert_eq!(revs[0].name_any(), format!("agent-{hash}"));
    assert_eq!(revs[0].revision, 1);
    assert_eq!(
        ds.annotations()
            .get("deprecated.daemonset.template.generation")
            .map(String::as_str),
        Some("1")
    );
    let pods = ds_pods(&client, "agent").await?;
    for p in &pods {
        let labels = p.labels();
        assert_eq!(labels.get("controller-revision-hash"), Some(&hash), "{p:?}");
        assert_eq!(
            labels.get("pod-template-generation").map(String::as_str),
            Some("1")
        );
        // The scheduler bound the pod to the node its affinity names.
        let spec = p.spec.clone().unwrap_or_default();
        let pinned = spec
            .affinity
            .and_then(|a| a.node_affinity)
            .and_then(|n| n.required_during_scheduling_ignored_during_execution)
            .and_then(|r| r.node_selector_terms.into_iter().next())
            .and_then(|t| t.match_fields)
            .and_then(|f| f.into_iter().next())
            .context("pod without node affinity")?;
        assert_eq!(pinned.key, "metadata.name");
        assert_eq!(pinned.values, Some(vec![node_of(p)]));
        let tolerates = |key: &str| {
            spec.tolerations
                .iter()
                .flatten()
                .any(|t| t.key.as_deref() == Some(key))
        };
        assert!(tolerates("node.kubernetes.io/not-ready"));
        assert!(tolerates("node.kubernetes.io/unschedulable"));
    }

    // kubectl shows the counts as upstream's printer columns.
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["get", "ds"])?;
        let header: Vec<&str> = out
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(
            header,
            [
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE",
                "SELECTOR",
                "AGE"
            ],
            "kubectl {v}: {out}"
        );
        let row: Vec<&str> = out
            .lines()
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(
            &row[..7],
            ["agent", "3", "3", "3", "3", "3", "<none>"],
            "kubectl {v}: {out}"
        );
    }

    // Events as upstream: one SuccessfulCreate per pod.
    let events: Api<Event> = Api::default_namespaced(client.clone());
    let created: Vec<String> = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some("DaemonSet")
                && e.reason.as_deref() == Some("SuccessfulCreate")
        })
        .filter_map(|e| e.message)
        .collect();
    for p in &pods {
        let msg = format!("Created pod: {}", p.name_any());
        assert!(created.contains(&msg), "{msg} not in {created:?}");
    }

    // A deleted daemon pod comes back on the same node.
    let victim = pods
        .iter()
        .find(|p| node_of(p) == "sim-1")
        .context("no pod on sim-1")?;
    let pod_api: Api<Pod> = Api::default_namespaced(client.clone());
    pod_api
        .delete(&victim.name_any(), &DeleteParams::default())
        .await?;
    let victim_name = victim.name_any();
    wait_for("replacement on sim-1", TIMEOUT, || async {
        let pods = ds_pods(&client, "agent").await?;
        Ok(pods
            .iter()
            .any(|p| node_of(p) == "sim-1" && p.name_any() != victim_name && is_ready(p))
            .then_some(()))
    })
    .await?;

    // A failed daemon pod is reported, deleted and replaced (as when
    // kubelet rejects or evicts it).
    let failed = pods
        .iter()
        .find(|p| node_of(p) == "sim-2")
        .context("no pod on sim-2")?
        .name_any();
    pod_api
        .patch_status(
            &failed,
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"phase": "Failed"}})),
        )
        .await?;
    wait_for(
        "replacement of the failed pod on sim-2",
        TIMEOUT,
        || async {
            let pods = ds_pods(&client, "agent").await?;
            Ok(pods
                .iter()
                .any(|p| node_of(p) == "sim-2" && p.name_any() != failed && is_ready(p))
                .then_some(()))
        },
    )
    .await?;
    let warned: Vec<String> = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("FailedDaemonPod"))
        .filter_map(|e| e.message)
        .collect();
    assert_eq!(
        warned,
        [format!(
            "Found failed daemon pod default/{failed} on node sim-2, will try to kill it"
        )]
    );

    // A node that joins gets its pod.
    let _more = Sim::start(&server, &["--nodes", "1", "--name-prefix", "extra-"])?;
    wait_placed(&client, "agent", &["extra-0", "sim-0", "sim-1", "sim-2"]).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_selectors_and_taints_decide_where_daemon_pods_run() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "3"])?;
    let client = server.client().await?;
    server.kubectl_ok(KUBECTL, &["label", "node", "sim-0", "role=edge"])?;
    server.kubectl_ok(
        KUBECTL,
        &["taint", "node", "sim-1", "dedicated=infra:NoSchedule"],
    )?;

    apply(
        &server,
        &manifest(
            "edge",
            "busybox",
            json!({}),
            json!({"nodeSelector": {"role": "edge"}}),
        ),
    )?;
    apply(&server, &manifest("plain", "busybox", json!({}), json!({})))?;
    apply(
        &server,
        &manifest(
            "tolerant",
            "busybox",
            json!({}),
            json!({"tolerations": [{"key": "dedicated", "operator": "Exists"}]}),
        ),
    )?;
    wait_placed(&client, "edge", &["sim-0"]).await?;
    wait_placed(&client, "plain", &["sim-0", "sim-2"]).await?;
    wait_placed(&client, "tolerant", &["sim-0", "sim-1", "sim-2"]).await?;

    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["get", "ds", "edge", "--no-headers"])?;
        let row: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(
            &row[..7],
            ["edge", "1", "1", "1", "1", "1", "role=edge"],
            "kubectl {v}: {out}"
        );
    }

    // The selector follows node labels both ways.
    server.kubectl_ok(KUBECTL, &["label", "node", "sim-2", "role=edge"])?;
    wait_placed(&client, "edge", &["sim-0", "sim-2"]).await?;
    server.kubectl_ok(KUBECTL, &["label", "node", "sim-0", "role-"])?;
    wait_placed(&client, "edge", &["sim-2"]).await?;

    // A NoSchedule taint keeps running pods; NoExecute evicts untolerated ones.
    server.kubectl_ok(
        KUBECTL,
        &["taint", "node", "sim-2", "maintenance=now:NoSchedule"],
    )?;
    // The node no longer counts as desired, and the pod on it as
    // misscheduled; yet it keeps running.
    let ds_api: Api<DaemonSet> = Api::default_namespaced(client.clone());
    wait_for("plain misscheduled on sim-2", TIMEOUT, || async {
        let s = ds_api.get("plain").await?.status.unwrap_or_default();
        Ok((s.desired_number_scheduled == 1 && s.number_misscheduled == 1).then_some(()))
    })
    .await?;
    let plain = ready_nodes(&client, "plain").await?;
    assert_eq!(plain, ["sim-0", "sim-2"], "NoSchedule must not evict");
    server.kubectl_ok(
        KUBECTL,
        &["taint", "node", "sim-2", "maintenance=now:NoExecute"],
    )?;
    wait_placed(&client, "plain", &["sim-0"]).await?;
    let deleted = wait_for("SuccessfulDelete event", TIMEOUT, || async {
        let events: Api<Event> = Api::default_namespaced(client.clone());
        Ok(events
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .find(|e| {
                e.involved_object.name.as_deref() == Some("plain")
                    && e.reason.as_deref() == Some("SuccessfulDelete")
            }))
    })
    .await?;
    assert!(
        deleted
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("Deleted pod: plain-")),
        "{deleted:?}"
    );
    // The tolerant DaemonSet does not tolerate `maintenance`.
    wait_placed(&client, "tolerant", &["sim-0", "sim-1"]).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_change_rolls_out_within_max_unavailable_and_rolls_back() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "3"])?;
    let client = server.client().await?;
    let strategy = json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}});
    let web = |image: &str| {
        let mut m: serde_json::Value =
            serde_json::from_str(&manifest("web", image, strategy.clone(), json!({})))
                .unwrap_or_default();
        // New pods take a while to become ready, so the rollout is observable.
        m["spec"]["template"]["metadata"]["annotations"] =
            json!({"sim.skiff.dev/ready-after": "1s"});
        m.to_string()
    };
    apply(&server, &web("busybox:1"))?;
    wait_placed(&client, "web", &["sim-0", "sim-1", "sim-2"]).await?;
    let ds_api: Api<DaemonSet> = Api::default_namespaced(client.clone());
    let uid = ds_api.get("web").await?.uid().unwrap_or_default();

    // Watch availability during the rollout: never more than one node
    // without a ready pod.
    let stop = Arc::new(AtomicBool::new(false));
    let worst = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (stop, worst, client) = (stop.clone(), worst.clone(), client.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(nodes) = ready_nodes(&client, "web").await {
                    let mut distinct = nodes.clone();
                    distinct.dedup();
                    worst.fetch_max(3usize.saturating_sub(distinct.len()), Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    server.kubectl_ok(KUBECTL, &["set", "image", "daemonset/web", "c=busybox:2"])?;
    let out = server.kubectl_ok(
        KUBECTL,
        &["rollout", "status", "daemonset/web", "--timeout=120s"],
    )?;
    stop.store(true, Ordering::Relaxed);
    watcher.await?;
    assert!(
        out.contains("daemon set \"web\" successfully rolled out"),
        "{out}"
    );
    // At least one node was seen between its old and new pod (the watch
    // works), and never more than maxUnavailable at once.
    let worst = worst.load(Ordering::Relaxed);
    assert!(
        worst == 1,
        "{worst} nodes were without a ready pod at once (want exactly 1)"
    );
    wait_placed(&client, "web", &["sim-0", "sim-1", "sim-2"]).await?;
    let pods = ds_pods(&client, "web").await?;
    assert!(
        pods.iter().all(|p| first_image(p) == "busybox:2"),
        "{pods:?}"
    );
    assert!(pods.iter().all(|p| {
        p.labels()
            .get("pod-template-generation")
            .map(String::as_str)
            == Some("2")
    }));
    let revs = revisions(&client, &uid).await?;
    assert_eq!(
        revs.iter().map(|r| r.revision).collect::<Vec<_>>(),
        [1, 2],
        "{revs:?}"
    );
    let updated_events = {
        let events: Api<Event> = Api::default_namespaced(client.clone());
        events
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| {
                e.involved_object.name.as_deref() == Some("web")
                    && e.reason.as_deref() == Some("SuccessfulDelete")
            })
            .count()
    };
    assert_eq!(updated_events, 3, "one delete per replaced pod");

    // rollout history and undo, with both kubectl versions.
    for v in KUBECTL_VERSIONS {
        let history = server.kubectl_ok(v, &["rollout", "history", "daemonset/web"])?;
        let numbers: Vec<&str> = history
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
            .collect();
        assert!(numbers.len() >= 2, "kubectl {v}: {history}");
    }
    let one = server.kubectl_ok(
        "1.32",
        &["rollout", "history", "daemonset/web", "--revision=1"],
    )?;
    assert!(one.contains("busybox:1"), "{one}");
    let undo = server.kubectl_ok("1.32", &["rollout", "undo", "daemonset/web"])?;
    assert!(undo.contains("rolled back"), "{undo}");
    server.kubectl_ok(
        KUBECTL,
        &["rollout", "status", "daemonset/web", "--timeout=120s"],
    )?;
    wait_placed(&client, "web", &["sim-0", "sim-1", "sim-2"]).await?;
    let pods = ds_pods(&client, "web").await?;
    assert!(
        pods.iter().all(|p| first_image(p) == "busybox:1"),
        "{pods:?}"
    );
    // The first template came back as revision 3: renumbered, not copied.
    let revs = revisions(&client, &uid).await?;
    let by_number: BTreeMap<i64, String> =
        revs.iter().map(|r| (r.revision, r.name_any())).collect();
    assert_eq!(
        by_number.keys().copied().collect::<Vec<_>>(),
        [2, 3],
        "{revs:?}"
    );
    let history = server.kubectl_ok(KUBECTL, &["rollout", "history", "daemonset/web"])?;
    assert!(
        history.contains('3') && !history.lines().any(|l| l.starts_with("1 ")),
        "{history}"
    );

    // revisionHistoryLimit trims old revisions once no pod runs them.
    server.kubectl_ok(
        KUBECTL,
        &[
            "patch",
            "daemonset/web",
            "--type=merge",
            "-p",
            r#"{"spec":{"revisionHistoryLimit":1,"template":{"spec":{"containers":[{"name":"c","image":"busybox:3"}]}}}}"#,
        ],
    )?;
    server.kubectl_ok(
        KUBECTL,
        &["rollout", "status", "daemonset/web", "--timeout=120s"],
    )?;
    wait_for("history trimmed to one old revision", TIMEOUT, || async {
        let revs = revisions(&client, &uid).await?;
        let numbers: Vec<i64> = revs.iter().map(|r| r.revision).collect();
        Ok((numbers == [3, 4]).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_delete_strategy_updates_only_deleted_pods() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "2"])?;
    let client = server.client().await?;
    let on_delete = json!({"updateStrategy": {"type": "OnDelete"}});
    apply(
        &server,
        &manifest("od", "busybox:1", on_delete.clone(), json!({})),
    )?;
    wait_placed(&client, "od", &["sim-0", "sim-1"]).await?;
    apply(&server, &manifest("od", "busybox:2", on_delete, json!({})))?;
    let ds_api: Api<DaemonSet> = Api::default_namespaced(client.clone());
    wait_for("status of the new generation", TIMEOUT, || async {
        let ds = ds_api.get("od").await?;
        let s = ds.status.unwrap_or_default();
        Ok((s.observed_generation == ds.metadata.generation
            && s.updated_number_scheduled == Some(0)
            && s.number_ready == 2)
            .then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pods = ds_pods(&client, "od").await?;
    assert!(
        pods.iter().all(|p| first_image(p) == "busybox:1"),
        "{pods:?}"
    );

    let on_sim0 = pods
        .iter()
        .find(|p| node_of(p) == "sim-0")
        .context("no pod on sim-0")?;
    let pod_api: Api<Pod> = Api::default_namespaced(client.clone());
    pod_api
        .delete(&on_sim0.name_any(), &DeleteParams::default())
        .await?;
    wait_for("updated pod on sim-0", TIMEOUT, || async {
        let pods = ds_pods(&client, "od").await?;
        let mut images: Vec<(String, String)> = pods
            .iter()
            .filter(|p| is_ready(p))
            .map(|p| (node_of(p), first_image(p)))
            .collect();
        images.sort();
        Ok((images
            == [
                ("sim-0".to_string(), "busybox:2".to_string()),
                ("sim-1".to_string(), "busybox:1".to_string()),
            ])
        .then_some(()))
    })
    .await?;
    // The status catches up with the pods.
    wait_for("one updated pod in the status", TIMEOUT, || async {
        let s = ds_api.get("od").await?.status.unwrap_or_default();
        Ok((s.updated_number_scheduled == Some(1) && s.number_ready == 2).then_some(()))
    })
    .await?;
    // rollout status refuses strategies other than RollingUpdate, as upstream.
    let out = server.kubectl(KUBECTL, &["rollout", "status", "daemonset/od"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only available for RollingUpdate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_surge_starts_new_pods_before_stopping_old_ones() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "3"])?;
    let client = server.client().await?;
    let strategy = json!({"updateStrategy": {"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}});
    let surge = |image: &str| {
        let mut m: serde_json::Value =
            serde_json::from_str(&manifest("surge", image, strategy.clone(), json!({})))
                .unwrap_or_default();
        m["spec"]["template"]["metadata"]["annotations"] =
            json!({"sim.skiff.dev/ready-after": "1s"});
        m.to_string()
    };
    apply(&server, &surge("busybox:1"))?;
    wait_placed(&client, "surge", &["sim-0", "sim-1", "sim-2"]).await?;

    // During the rollout every node keeps a ready pod, and a node runs an
    // old and a new pod side by side while the new one starts.
    let stop = Arc::new(AtomicBool::new(false));
    let fewest_ready = Arc::new(AtomicUsize::new(usize::MAX));
    let most_per_node = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (stop, fewest_ready, most_per_node, client) = (
            stop.clone(),
            fewest_ready.clone(),
            most_per_node.clone(),
            client.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(pods) = ds_pods(&client, "surge").await {
                    let mut per_node: BTreeMap<String, (usize, bool)> = BTreeMap::new();
                    for p in &pods {
                        let e = per_node.entry(node_of(p)).or_default();
                        e.0 += 1;
                        e.1 |= is_ready(p);
                    }
                    let ready = per_node.values().filter(|(_, r)| *r).count();
                    fewest_ready.fetch_min(ready, Ordering::Relaxed);
                    let most = per_node.values().map(|(n, _)| *n).max().unwrap_or(0);
                    most_per_node.fetch_max(most, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    server.kubectl_ok(KUBECTL, &["set", "image", "daemonset/surge", "c=busybox:2"])?;
    let out = server.kubectl_ok(
        KUBECTL,
        &["rollout", "status", "daemonset/surge", "--timeout=120s"],
    )?;
    wait_placed(&client, "surge", &["sim-0", "sim-1", "sim-2"]).await?;
    stop.store(true, Ordering::Relaxed);
    watcher.await?;
    assert!(
        out.contains("daemon set \"surge\" successfully rolled out"),
        "{out}"
    );
    assert_eq!(
        fewest_ready.load(Ordering::Relaxed),
        3,
        "a node lost its ready pod"
    );
    assert_eq!(
        most_per_node.load(Ordering::Relaxed),
        2,
        "old and new pod never ran side by side"
    );
    let pods = ds_pods(&client, "surge").await?;
    assert!(
        pods.iter().all(|p| first_image(p) == "busybox:2"),
        "{pods:?}"
    );
    Ok(())
}
