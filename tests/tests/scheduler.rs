//! The scheduler inside a real `skiff server`: Node objects created through
//! the API (no agents) or `skiff sim` nodes, pods bound by the rules a user
//! relies on, unschedulable pods reported as kube-scheduler reports them
//! (events aggregated into a series), and preemption that respects
//! PodDisruptionBudgets.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use skiff_tests::objects::{create_ready_node, events_with_reason};
use skiff_tests::{KUBECTL_VERSIONS, Server, Sim};

const WAIT: Duration = Duration::from_secs(30);

/// Creates a Ready node with allocatable resources, labels and taints.
/// A pod with one container and optional CPU request, plus extra spec.
fn pod(name: &str, labels: Value, cpu: Option<&str>, extra_spec: Value) -> Result<Pod> {
    let mut spec = json!({
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "c", "image": "busybox"}],
    });
    if let Some(cpu) = cpu {
        spec["containers"][0]["resources"] = json!({"requests": {"cpu": cpu}});
    }
    if let (Some(s), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        for (k, v) in extra {
            s.insert(k.clone(), v.clone());
        }
    }
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }))?)
}

async fn create(api: &Api<Pod>, p: Pod) -> Result<()> {
    let name = p.metadata.name.clone().unwrap_or_default();
    api.create(&PostParams::default(), &p)
        .await
        .with_context(|| format!("create pod {name}"))?;
    Ok(())
}

fn node_of(p: &Pod) -> Option<String> {
    p.spec.as_ref().and_then(|s| s.node_name.clone())
}

/// Waits until every named pod is bound; returns pod → node.
async fn wait_bound(api: &Api<Pod>, names: &[&str]) -> Result<BTreeMap<String, String>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut out = BTreeMap::new();
        for n in names {
            if let Some(node) = api.get_opt(n).await?.as_ref().and_then(node_of) {
                out.insert(n.to_string(), node);
            }
        }
        if out.len() == names.len() {
            return Ok(out);
        }
        if Instant::now() > deadline {
            bail!("pods not bound in time: bound {out:?} of {names:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for `PodScheduled=False` with reason Unschedulable; returns its message.
async fn wait_unschedulable(api: &Api<Pod>, name: &str) -> Result<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let p = api.get(name).await?;
        if let Some(node) = node_of(&p) {
            bail!("pod {name} was bound to {node}, want Pending");
        }
        let cond = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled").cloned());
        if let Some(c) = cond
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
        {
            return Ok(c.message.unwrap_or_default());
        }
        if Instant::now() > deadline {
            bail!(
                "pod {name} has no PodScheduled=False condition: {:?}",
                p.status
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for an event about `pod` with `reason`; returns its message.
async fn wait_event(client: &kube::Client, ns: &str, pod: &str, reason: &str) -> Result<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + WAIT;
    loop {
        let events = api.list(&ListParams::default()).await?;
        if let Some(e) = events.items.into_iter().find(|e| {
            e.involved_object.name.as_deref() == Some(pod) && e.reason.as_deref() == Some(reason)
        }) {
            return Ok(e);
        }
        if Instant::now() > deadline {
            bail!("no {reason} event for pod {pod}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_by_resources_selector_and_taints_and_reports_unschedulable() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    create_ready_node(&client, "n1", "2", &[("disk", "ssd")], json!([])).await?;
    create_ready_node(&client, "n2", "2", &[], json!([])).await?;
    create_ready_node(
        &client,
        "n3",
        "8",
        &[],
        json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
    )
    .await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    // Four 1-CPU pods fill n1 and n2 (n3's taint keeps them off it).
    for i in 0..4 {
        create(
            &pods,
            pod(&format!("cpu-{i}"), json!({}), Some("1"), json!({}))?,
        )
        .await?;
    }
    // nodeSelector picks n1; a toleration opens n3 to a pod only n3 can hold.
    create(
        &pods,
        pod(
            "ssd",
            json!({}),
            None,
            json!({"nodeSelector": {"disk": "ssd"}}),
        )?,
    )
    .await?;
    create(
        &pods,
        pod(
            "db",
            json!({}),
            Some("4"),
            json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]}),
        )?,
    )
    .await?;
    let bound = wait_bound(&pods, &["cpu-0", "cpu-1", "cpu-2", "cpu-3", "ssd", "db"]).await?;
    let on = |node: &str| {
        (0..4)
            .filter(|i| bound[&format!("cpu-{i}")] == node)
            .count()
    };
    assert_eq!((on("n1"), on("n2"), on("n3")), (2, 2, 0), "{bound:?}");
    assert_eq!(bound["ssd"], "n1");
    assert_eq!(bound["db"], "n3");
    let scheduled = wait_event(&client, "default", "ssd", "Scheduled").await?;
    assert_eq!(
        scheduled.message.as_deref(),
        Some("Successfully assigned default/ssd to n1")
    );
    assert_eq!(scheduled.type_.as_deref(), Some("Normal"));
    assert_eq!(
        scheduled.reporting_component.as_deref(),
        Some("default-scheduler")
    );

    // A pod that no node fits stays Pending with upstream's condition and event.
    create(&pods, pod("too-big", json!({}), Some("2"), json!({}))?).await?;
    let want = "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 Insufficient cpu. \
                preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.";
    assert_eq!(wait_unschedulable(&pods, "too-big").await?, want);
    let failed = wait_event(&client, "default", "too-big", "FailedScheduling").await?;
    assert_eq!(failed.message.as_deref(), Some(want));
    assert_eq!(failed.type_.as_deref(), Some("Warning"));

    // It does not block the queue.
    create(&pods, pod("small", json!({}), None, json!({}))?).await?;
    wait_bound(&pods, &["small"]).await?;

    // Another scheduler's pods are left alone.
    create(
        &pods,
        pod(
            "other",
            json!({}),
            None,
            json!({"schedulerName": "other-scheduler"}),
        )?,
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let other = pods.get("other").await?;
    assert_eq!(node_of(&other), None);
    assert!(
        other
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .is_empty()
    );

    // Freeing room (deleting a pod on n1) lets the pending pod in.
    pods.delete("cpu-0", &Default::default()).await?;
    pods.delete("cpu-1", &Default::default()).await?;
    pods.delete("cpu-2", &Default::default()).await?;
    pods.delete("cpu-3", &Default::default()).await?;
    wait_bound(&pods, &["too-big"]).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anti_affinity_preferred_affinity_and_topology_spread() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    for (node, zone) in [("a", "zone-a"), ("b", "zone-b"), ("c", "zone-c")] {
        create_ready_node(
            &client,
            node,
            "4",
            &[("topology.kubernetes.io/zone", zone)],
            json!([]),
        )
        .await?;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    // Required anti-affinity: one web pod per node, the fourth Pending.
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
    ]}}});
    for i in 0..4 {
        create(
            &pods,
            pod(
                &format!("web-{i}"),
                json!({"app": "web"}),
                None,
                anti.clone(),
            )?,
        )
        .await?;
    }
    let deadline = Instant::now() + WAIT;
    let (bound, pending) = loop {
        let list = pods.list(&ListParams::default().labels("app=web")).await?;
        let bound: Vec<String> = list.items.iter().filter_map(node_of).collect();
        let pending: Vec<String> = list
            .items
            .iter()
            .filter(|p| node_of(p).is_none())
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        if bound.len() == 3 || Instant::now() > deadline {
            break (bound, pending);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut nodes = bound.clone();
    nodes.sort();
    assert_eq!(nodes, vec!["a", "b", "c"], "one web pod per node");
    assert_eq!(pending.len(), 1, "{pending:?}");
    let want = "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. \
                preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.";
    assert_eq!(wait_unschedulable(&pods, &pending[0]).await?, want);
    let failed = wait_event(&client, "default", &pending[0], "FailedScheduling").await?;
    assert_eq!(failed.message.as_deref(), Some(want));

    // Preferred affinity: next to the redis pod.
    create(
        &pods,
        pod("redis", json!({"app": "redis"}), None, json!({}))?,
    )
    .await?;
    let redis_node = wait_bound(&pods, &["redis"]).await?["redis"].clone();
    let prefer = json!({"affinity": {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "redis"}}, "topologyKey": "kubernetes.io/hostname"}}
    ]}}});
    for i in 0..3 {
        create(
            &pods,
            pod(&format!("cache-{i}"), json!({}), None, prefer.clone())?,
        )
        .await?;
    }
    let caches = wait_bound(&pods, &["cache-0", "cache-1", "cache-2"]).await?;
    for (name, node) in &caches {
        assert_eq!(node, &redis_node, "{name} should run next to redis");
    }

    // Topology spread over three zones: two per zone.
    let spread = json!({"topologySpreadConstraints": [{
        "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "spread"}}
    }]});
    let names: Vec<String> = (0..6).map(|i| format!("spread-{i}")).collect();
    for n in &names {
        create(
            &pods,
            pod(n, json!({"app": "spread"}), None, spread.clone())?,
        )
        .await?;
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let placed = wait_bound(&pods, &refs).await?;
    for node in ["a", "b", "c"] {
        assert_eq!(
            placed.values().filter(|n| *n == node).count(),
            2,
            "{placed:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preempts_a_lower_priority_pod() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    create_ready_node(&client, "only", "2", &[], json!([])).await?;
    let classes: Api<PriorityClass> = Api::all(client.clone());
    classes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "high"}, "value": 1000}))?,
        )
        .await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&pods, pod("low", json!({}), Some("2"), json!({}))?).await?;
    wait_bound(&pods, &["low"]).await?;
    // PriorityClass admission may not resolve the class yet: give the
    // priority the class has.
    create(
        &pods,
        pod(
            "high",
            json!({}),
            Some("2"),
            json!({"priorityClassName": "high", "priority": 1000}),
        )?,
    )
    .await?;
    let bound = wait_bound(&pods, &["high"]).await?;
    assert_eq!(bound["high"], "only");
    assert!(
        pods.get_opt("low").await?.is_none(),
        "the low-priority pod was evicted"
    );
    let preempted = wait_event(&client, "default", "low", "Preempted").await?;
    let high_uid = pods.get("high").await?.metadata.uid.unwrap_or_default();
    assert_eq!(
        preempted.message.as_deref(),
        Some(format!("Preempted by pod {high_uid} on node only").as_str())
    );
    Ok(())
}

async fn create_priority_class(client: &kube::Client, name: &str, value: i32) -> Result<()> {
    let classes: Api<PriorityClass> = Api::all(client.clone());
    classes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}, "value": value}))?,
        )
        .await
        .with_context(|| format!("create priority class {name}"))?;
    Ok(())
}

/// Spec of a pod of a PriorityClass, optionally pinned to a node.
fn prioritized(class: &str, value: i32, node: Option<&str>) -> Value {
    // The class's value is given too, as the admission plugin would set it.
    let mut spec = json!({"priorityClassName": class, "priority": value});
    if let Some(node) = node {
        spec["nodeSelector"] = json!({"kubernetes.io/hostname": node});
    }
    spec
}

/// Waits until `check` accepts the pod list; returns the last list.
async fn wait_pods(api: &Api<Pod>, what: &str, check: impl Fn(&[Pod]) -> bool) -> Result<Vec<Pod>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pods = api.list(&ListParams::default()).await?.items;
        if check(&pods) {
            return Ok(pods);
        }
        if Instant::now() > deadline {
            let state: Vec<(Option<String>, Option<String>)> = pods
                .iter()
                .map(|p| (p.metadata.name.clone(), node_of(p)))
                .collect();
            bail!("timed out waiting for {what}: {state:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn running(pods: &[Pod], name: &str) -> bool {
    pods.iter().any(|p| {
        p.metadata.name.as_deref() == Some(name)
            && p.metadata.deletion_timestamp.is_none()
            && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_spares_pods_protected_by_a_disruption_budget() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "2", "--cpu", "2", "--zones", "0"])?;
    let client = server.client().await?;
    create_priority_class(&client, "lowest", 1).await?;
    create_priority_class(&client, "low", 100).await?;
    create_priority_class(&client, "high", 1000).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    // Each node is full. By priority alone the scheduler would evict
    // "guarded" (priority 1) rather than "free" (priority 100).
    create(
        &pods,
        pod(
            "guarded",
            json!({"app": "guarded"}),
            Some("2"),
            prioritized("lowest", 1, Some("sim-0")),
        )?,
    )
    .await?;
    create(
        &pods,
        pod(
            "free",
            json!({"app": "free"}),
            Some("2"),
            prioritized("low", 100, Some("sim-1")),
        )?,
    )
    .await?;
    wait_pods(&pods, "guarded and free Running", |p| {
        running(p, "guarded") && running(p, "free")
    })
    .await?;

    // The budget allows no disruption of "guarded": the disruption
    // controller must have counted it healthy first.
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    pdbs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "guarded"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}},
        }))?,
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = pdbs.get("guarded").await?.status;
        if let Some(s) = &status
            && s.current_healthy == 1
            && s.desired_healthy == 1
            && s.disruptions_allowed == 0
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the PDB status was not computed: {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    create(
        &pods,
        pod(
            "preemptor",
            json!({}),
            Some("2"),
            prioritized("high", 1000, None),
        )?,
    )
    .await?;
    let placed = wait_bound(&pods, &["preemptor"]).await?;
    assert_eq!(
        placed["preemptor"], "sim-1",
        "preempted on the unguarded node"
    );
    let left = pods.list(&ListParams::default()).await?.items;
    assert!(
        running(&left, "guarded"),
        "the guarded pod keeps running: {:?}",
        left.iter().map(|p| &p.metadata.name).collect::<Vec<_>>()
    );
    assert!(
        !left
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some("free")
                && p.metadata.deletion_timestamp.is_none()),
        "the free pod was preempted"
    );
    let preempted = wait_event(&client, "default", "free", "Preempted").await?;
    let preemptor_uid = pods
        .get("preemptor")
        .await?
        .metadata
        .uid
        .unwrap_or_default();
    assert_eq!(
        preempted.message.as_deref(),
        Some(format!("Preempted by pod {preemptor_uid} on node sim-1").as_str())
    );
    assert_eq!(
        preempted.related.and_then(|r| r.name).as_deref(),
        Some("preemptor")
    );
    Ok(())
}

/// FailedScheduling events of a pod.
async fn failed_scheduling(client: &kube::Client, pod: &str) -> Result<Vec<Event>> {
    let mut events = events_with_reason(client, "default", "FailedScheduling").await?;
    events.retain(|e| e.involved_object.name.as_deref() == Some(pod));
    Ok(events)
}

/// Changes a label of node `small`, which sends every unschedulable pod
/// back to the queue, and gives the scheduler a moment.
async fn retry(nodes: &Api<Node>, touch: &mut u32) -> Result<()> {
    *touch += 1;
    let patch = json!({"metadata": {"labels": {"touched": touch.to_string()}}});
    nodes
        .patch("small", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_scheduling_failures_become_one_event_series() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    create_ready_node(&client, "small", "1", &[], json!([])).await?;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&pods, pod("big", json!({}), Some("2"), json!({}))?).await?;
    wait_unschedulable(&pods, "big").await?;

    // Every node change retries the pod (after its back-off of 1 s, 2 s,
    // 4 s, ...). The first repeat of the same failure turns the Event into
    // a series of 2.
    let mut touch = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let series = loop {
        retry(&nodes, &mut touch).await?;
        let events = failed_scheduling(&client, "big").await?;
        if let Some(e) = events.iter().find(|e| e.series.is_some()) {
            break e.clone();
        }
        if Instant::now() > deadline {
            bail!("no event series after repeated failures: {events:?}");
        }
    };
    assert_eq!(series.series.as_ref().and_then(|s| s.count), Some(2));
    assert!(series.event_time.is_some());
    assert_eq!(
        series.reporting_component.as_deref(),
        Some("default-scheduler")
    );

    // More failures (at least two more back-off periods) add no Event.
    let more = Instant::now() + Duration::from_secs(15);
    while Instant::now() < more {
        retry(&nodes, &mut touch).await?;
    }
    let events = failed_scheduling(&client, "big").await?;
    // The first failure's Event names the pod before its PodScheduled
    // condition was written; later ones the pod after (upstream keys
    // events by the object's resourceVersion too).
    assert!(
        events.len() <= 2,
        "repeated failures wrote {} events: {events:?}",
        events.len()
    );
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["describe", "pod", "big"])?;
        let line = out
            .lines()
            .find(|l| l.contains("FailedScheduling") && l.contains("(x2 over"))
            .with_context(|| format!("kubectl {v} describe shows no series:\n{out}"))?;
        assert!(line.contains("default-scheduler"), "{line}");
        assert!(
            line.contains("0/1 nodes are available: 1 Insufficient cpu."),
            "{line}"
        );
    }
    Ok(())
}

/// The spreading case: a 300-replica ReplicaSet on 100 simulated
/// nodes in 3 zones lands on every node, a few pods each, because of
/// LeastAllocated and the default (ScheduleAnyway) spread constraints over
/// hostnames and zones. A scheduler that packed or piled pods would leave
/// nodes empty and others far above the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_replica_set_spreads_over_100_nodes() -> Result<()> {
    use k8s_openapi::api::apps::v1::ReplicaSet;

    const NODES: usize = 100;
    const REPLICAS: usize = 300;
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "100", "--zones", "3"])?;
    let client = server.client().await?;
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "wide"},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": "wide"}},
            "template": {
                "metadata": {"labels": {"app": "wide"}},
                "spec": {"containers": [{
                    "name": "c",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }]},
            },
        },
    }))?;
    sets.create(&PostParams::default(), &rs).await?;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let listed = ListParams::default().labels("app=wide");
    let deadline = Instant::now() + Duration::from_secs(180);
    let bound = loop {
        let items = pods.list(&listed).await?.items;
        let bound: Vec<String> = items.iter().filter_map(node_of).collect();
        if bound.len() == REPLICAS {
            break bound;
        }
        if Instant::now() > deadline {
            bail!(
                "{} of {REPLICAS} pods bound in time ({} exist)",
                bound.len(),
                items.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for node in &bound {
        *per_node.entry(node.clone()).or_default() += 1;
    }
    let nodes: Api<Node> = Api::all(client.clone());
    let mut per_zone: BTreeMap<String, usize> = BTreeMap::new();
    for node in nodes.list(&ListParams::default()).await?.items {
        let name = node.metadata.name.clone().unwrap_or_default();
        let zone = node
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("topology.kubernetes.io/zone").cloned())
            .context("sim nodes carry a zone label")?;
        *per_zone.entry(zone).or_default() += per_node.get(&name).copied().unwrap_or(0);
    }
    let most = per_node.values().copied().max().unwrap_or(0);
    assert_eq!(
        per_node.len(),
        NODES,
        "every node gets pods; per node: {per_node:?}"
    );
    // The default hostname constraint allows a skew of 3 (ScheduleAnyway, so
    // a score, not a rule): 3 per node on average, never far above.
    assert!(most <= 6, "a node got {most} pods; per node: {per_node:?}");
    // 34/33/33 nodes: about 102/99/99 pods per zone.
    let (lo, hi) = (
        per_zone.values().copied().min().unwrap_or(0),
        per_zone.values().copied().max().unwrap_or(0),
    );
    assert!(
        per_zone.len() == 3 && hi - lo <= 10,
        "zones unbalanced: {per_zone:?}"
    );
    Ok(())
}
