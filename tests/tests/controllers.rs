//! End-to-end tests of the controllers: namespace deletion, garbage
//! collection, service accounts, ReplicaSets, Deployments and endpoints,
//! against a real `skiff server` with no node agent (the tests mark pods
//! running and ready themselves, as a kubelet would).

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use skiff_tests::Server;
use skiff_tests::pods::{controlled_pods, template_image};

const KUBECTL: &str = "1.33";

/// Polls `f` until it returns `Some`, for at most `timeout`.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create_ns(client: &Client, name: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    api.create(&PostParams::default(), &ns).await?;
    Ok(())
}

fn replicaset(name: &str, app: &str, replicas: i32) -> Result<ReplicaSet> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}
            }
        }
    }))?)
}

fn deployment(name: &str, app: &str, replicas: i32, image: &str) -> Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "c", "image": image, "ports": [{"name": "http", "containerPort": 8080}]}]}
            }
        }
    }))?)
}

/// What a kubelet would report for a started pod: Running, Ready, an IP.
async fn mark_ready(client: &Client, ns: &str, name: &str, ip: &str) -> Result<()> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let now = "2026-01-01T00:00:00Z";
    let status = json!({"status": {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
        ],
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_namespace_gets_a_default_serviceaccount() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    create_ns(&client, "team-a").await?;
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), "team-a");
    wait_for(
        "default serviceaccount",
        Duration::from_secs(20),
        || async { Ok(api.get_opt("default").await?) },
    )
    .await?;
    api.delete("default", &DeleteParams::default()).await?;
    wait_for(
        "recreated serviceaccount",
        Duration::from_secs(20),
        || async { Ok(api.get_opt("default").await?) },
    )
    .await?;
    let default_ns: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    wait_for("default/default", Duration::from_secs(20), || async {
        Ok(default_ns.get_opt("default").await?)
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_namespace_empties_and_removes_it() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    create_ns(&client, "doomed").await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    for i in 0..3 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("cm-{i}")}}))?;
        cms.create(&PostParams::default(), &cm).await?;
    }
    let rs: Api<ReplicaSet> = Api::namespaced(client.clone(), "doomed");
    rs.create(&PostParams::default(), &replicaset("web", "web", 2)?)
        .await?;
    server.kubectl_ok(KUBECTL, &["delete", "namespace", "doomed", "--timeout=60s"])?;
    let nss: Api<Namespace> = Api::all(client.clone());
    assert!(nss.get_opt("doomed").await?.is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_waits_for_finalizers_and_reports_conditions() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    create_ns(&client, "held").await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "held");
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )?;
    cms.create(&PostParams::default(), &cm).await?;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.delete("held", &DeleteParams::default()).await?;
    let ns = wait_for("content conditions", Duration::from_secs(30), || async {
        let ns = nss.get("held").await?;
        let conds = ns
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let remaining = conds
            .iter()
            .any(|c| c.type_ == "NamespaceFinalizersRemaining" && c.status == "True");
        Ok(remaining.then_some(ns))
    })
    .await?;
    let conds = ns.status.and_then(|s| s.conditions).unwrap_or_default();
    let get = |t: &str| conds.iter().find(|c| c.type_ == t).cloned();
    let content = get("NamespaceContentRemaining").expect("content condition");
    assert_eq!(content.reason.as_deref(), Some("SomeResourcesRemain"));
    assert_eq!(
        content.message.as_deref(),
        Some("Some resources are remaining: configmaps. has 1 resource instances")
    );
    let fin = get("NamespaceFinalizersRemaining").expect("finalizers condition");
    assert_eq!(
        fin.message.as_deref(),
        Some(
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        )
    );
    assert_eq!(
        get("NamespaceDeletionDiscoveryFailure").and_then(|c| c.reason),
        Some("ResourcesDiscovered".into())
    );
    // Releasing the finalizer lets the namespace go.
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    wait_for("namespace removal", Duration::from_secs(30), || async {
        Ok(nss.get_opt("held").await?.is_none().then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicaset_creates_pods_and_replaces_a_released_one() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs = api
        .create(&PostParams::default(), &replicaset("web", "web", 3)?)
        .await?;
    let uid = rs.uid().unwrap_or_default();
    let pods = wait_for("3 pods", Duration::from_secs(30), || async {
        let pods = controlled_pods(&client, "default", &uid).await?;
        Ok((pods.len() == 3).then_some(pods))
    })
    .await?;
    for p in &pods {
        assert!(p.name_any().starts_with("web-"));
    }
    // Relabelling a pod releases it and a replacement appears.
    let released = pods[0].name_any();
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    pod_api
        .patch(
            &released,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {"app": "debug"}}})),
        )
        .await?;
    wait_for("replacement", Duration::from_secs(30), || async {
        let owned = controlled_pods(&client, "default", &uid).await?;
        let p = pod_api.get(&released).await?;
        let free = p.owner_references().is_empty();
        Ok(
            (owned.len() == 3 && free && !owned.iter().any(|o| o.name_any() == released))
                .then_some(()),
        )
    })
    .await?;
    // Status reports what the pods report.
    for p in controlled_pods(&client, "default", &uid).await? {
        mark_ready(&client, "default", &p.name_any(), "10.42.0.9").await?;
    }
    wait_for("ready status", Duration::from_secs(30), || async {
        let rs = api.get("web").await?;
        let s = rs.status.unwrap_or_default();
        Ok((s.replicas == 3
            && s.ready_replicas == Some(3)
            && s.available_replicas == Some(3)
            && s.fully_labeled_replicas == Some(3)
            && s.observed_generation == rs.metadata.generation)
            .then_some(()))
    })
    .await?;
    // Scale down to 1.
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 1}})),
    )
    .await?;
    wait_for("scale down", Duration::from_secs(30), || async {
        let owned = controlled_pods(&client, "default", &uid).await?;
        Ok((owned.len() == 1).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_cascades_and_orphan_keeps_dependents() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let a = api
        .create(
            &PostParams::default(),
            &replicaset("cascade", "cascade", 2)?,
        )
        .await?;
    let b = api
        .create(&PostParams::default(), &replicaset("orphan", "orphan", 2)?)
        .await?;
    for uid in [a.uid(), b.uid()] {
        let uid = uid.unwrap_or_default();
        wait_for("pods", Duration::from_secs(30), || async {
            Ok((controlled_pods(&client, "default", &uid).await?.len() == 2).then_some(()))
        })
        .await?;
    }
    server.kubectl_ok(KUBECTL, &["delete", "rs", "cascade"])?;
    wait_for("cascaded pods gone", Duration::from_secs(30), || async {
        let left = pod_api
            .list(&ListParams::default().labels("app=cascade"))
            .await?;
        Ok(left.items.is_empty().then_some(()))
    })
    .await?;
    server.kubectl_ok(KUBECTL, &["delete", "rs", "orphan", "--cascade=orphan"])?;
    wait_for("orphan gone", Duration::from_secs(30), || async {
        Ok(api.get_opt("orphan").await?.is_none().then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let kept = pod_api
        .list(&ListParams::default().labels("app=orphan"))
        .await?;
    assert_eq!(kept.items.len(), 2, "orphaned pods stay");
    for p in &kept.items {
        assert!(
            p.owner_references().is_empty(),
            "{:?}",
            p.owner_references()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_delete_removes_dependents_first() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    // A pod with a finalizer holds the owner in foreground deletion.
    let rs = api
        .create(&PostParams::default(), &replicaset("fg", "fg", 2)?)
        .await?;
    let uid = rs.uid().unwrap_or_default();
    let pods = wait_for("pods", Duration::from_secs(30), || async {
        let p = controlled_pods(&client, "default", &uid).await?;
        Ok((p.len() == 2).then_some(p))
    })
    .await?;
    let held = pods[0].name_any();
    pod_api
        .patch(
            &held,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"finalizers": ["example.com/hold"]}})),
        )
        .await?;
    api.delete("fg", &DeleteParams::foreground()).await?;
    // The owner stays, with the foregroundDeletion finalizer, while the held
    // dependent remains.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let owner = api.get("fg").await?;
    assert!(owner.finalizers().iter().any(|f| f == "foregroundDeletion"));
    let held_pod = pod_api.get(&held).await?;
    assert!(held_pod.metadata.deletion_timestamp.is_some());
    pod_api
        .patch(
            &held,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
        )
        .await?;
    wait_for("owner gone", Duration::from_secs(30), || async {
        Ok(api.get_opt("fg").await?.is_none().then_some(()))
    })
    .await?;
    let left = pod_api
        .list(&ListParams::default().labels("app=fg"))
        .await?;
    assert!(left.items.is_empty(), "dependents went first");
    Ok(())
}

/// ReplicaSets controlled by the deployment with `uid`.
async fn owned_rs(client: &Client, uid: &str) -> Result<Vec<ReplicaSet>> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|r| r.owner_references().iter().any(|o| o.uid == uid))
        .collect())
}

/// Marks every pod of the deployment's ReplicaSets ready.
async fn ready_all(client: &Client, uid: &str) -> Result<()> {
    for rs in owned_rs(client, uid).await? {
        for p in controlled_pods(client, "default", &rs.uid().unwrap_or_default()).await? {
            let ready = p
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .is_some_and(|ph| ph == "Running");
            if !ready {
                mark_ready(client, "default", &p.name_any(), "10.42.0.7").await?;
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_rolls_out_undoes_and_cascades() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = api
        .create(
            &PostParams::default(),
            &deployment("web", "web", 3, "busybox:1")?,
        )
        .await?;
    let uid = d.uid().unwrap_or_default();
    let first = wait_for("rs with 3 pods", Duration::from_secs(30), || async {
        let rss = owned_rs(&client, &uid).await?;
        if rss.len() != 1 {
            return Ok(None);
        }
        let rs = rss[0].clone();
        let pods = controlled_pods(&client, "default", &rs.uid().unwrap_or_default()).await?;
        Ok((pods.len() == 3).then_some(rs))
    })
    .await?;
    let hash = first
        .labels()
        .get("pod-template-hash")
        .cloned()
        .unwrap_or_default();
    assert_eq!(first.name_any(), format!("web-{hash}"));
    assert_eq!(
        first
            .annotations()
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(
        first
            .annotations()
            .get("deployment.kubernetes.io/desired-replicas")
            .map(String::as_str),
        Some("3")
    );
    assert_eq!(
        first
            .annotations()
            .get("deployment.kubernetes.io/max-replicas")
            .map(String::as_str),
        Some("4")
    );
    ready_all(&client, &uid).await?;
    wait_for("available", Duration::from_secs(30), || async {
        let d = api.get("web").await?;
        Ok((d.status.and_then(|s| s.available_replicas) == Some(3)).then_some(()))
    })
    .await?;

    // A template change rolls with maxSurge 1, maxUnavailable 0.
    server.kubectl_ok(KUBECTL, &["set", "image", "deployment/web", "c=busybox:2"])?;
    let max_total = std::cell::Cell::new(0);
    wait_for("rollout", Duration::from_secs(60), || async {
        let rss = owned_rs(&client, &uid).await?;
        let total: i32 = rss
            .iter()
            .map(|r| r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0))
            .sum();
        max_total.set(max_total.get().max(total));
        ready_all(&client, &uid).await?;
        let new = rss.iter().find(|r| template_image(r) == "busybox:2");
        let old_zero = rss
            .iter()
            .filter(|r| template_image(r) == "busybox:1")
            .all(|r| r.spec.as_ref().and_then(|s| s.replicas) == Some(0));
        Ok(
            (new.is_some_and(|n| n.status.as_ref().and_then(|s| s.available_replicas) == Some(3))
                && old_zero)
                .then_some(()),
        )
    })
    .await?;
    let max_total = max_total.get();
    assert!(
        max_total <= 4,
        "maxSurge 1 allows at most 4 replicas, saw {max_total}"
    );
    let rss = owned_rs(&client, &uid).await?;
    let second = rss
        .iter()
        .find(|r| template_image(r) == "busybox:2")
        .cloned()
        .expect("new rs");
    assert_eq!(
        second
            .annotations()
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("2")
    );

    // kubectl rollout undo restores the previous template.
    server.kubectl_ok(KUBECTL, &["rollout", "undo", "deployment/web"])?;
    wait_for("undo", Duration::from_secs(60), || async {
        ready_all(&client, &uid).await?;
        let rss = owned_rs(&client, &uid).await?;
        let back = rss.iter().find(|r| r.uid() == first.uid());
        Ok(back
            .filter(|r| {
                r.annotations()
                    .get("deployment.kubernetes.io/revision")
                    .map(String::as_str)
                    == Some("3")
            })
            .filter(|r| r.spec.as_ref().and_then(|s| s.replicas) == Some(3))
            .map(|_| ()))
    })
    .await?;
    let d = api.get("web").await?;
    let image = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers[0].image.clone());
    assert_eq!(image.as_deref(), Some("busybox:1"));

    // kubectl delete deploy cascades to ReplicaSets and pods.
    server.kubectl_ok(KUBECTL, &["delete", "deployment", "web"])?;
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    wait_for("cascade", Duration::from_secs(30), || async {
        let rss = owned_rs(&client, &uid).await?;
        let pods = pod_api
            .list(&ListParams::default().labels("app=web"))
            .await?;
        Ok((rss.is_empty() && pods.items.is_empty()).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_get_endpointslices_and_endpoints_of_ready_pods() -> Result<()> {
    use k8s_openapi::api::core::v1::{Endpoints, Service};
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let server = Server::start()?;
    let client = server.client().await?;
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let mut rs = replicaset("ep", "ep", 2)?;
    if let Some(spec) = rs
        .spec
        .as_mut()
        .and_then(|s| s.template.as_mut())
        .and_then(|t| t.spec.as_mut())
    {
        spec.containers[0].ports = Some(vec![serde_json::from_value(
            json!({"name": "http", "containerPort": 8080}),
        )?]);
    }
    let rs = rs_api.create(&PostParams::default(), &rs).await?;
    let uid = rs.uid().unwrap_or_default();
    let pods = wait_for("2 pods", Duration::from_secs(20), || async {
        let p = controlled_pods(&client, "default", &uid).await?;
        Ok((p.len() == 2).then_some(p))
    })
    .await?;
    let svc_api: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "ep"},
        "spec": {"selector": {"app": "ep"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]},
    }))?;
    svc_api.create(&PostParams::default(), &svc).await?;
    // Only the first pod is ready.
    let first = pods[0].name_any();
    mark_ready(&client, "default", &first, "10.42.0.7").await?;

    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let slice = wait_for(
        "a slice with the ready pod",
        Duration::from_secs(20),
        || async {
            let list = slices
                .list(&ListParams::default().labels("kubernetes.io/service-name=ep"))
                .await?;
            Ok(list.items.into_iter().find(|s| {
                s.endpoints.iter().any(|e| {
                    e.addresses == ["10.42.0.7"]
                        && e.conditions.as_ref().and_then(|c| c.ready) == Some(true)
                })
            }))
        },
    )
    .await?;
    assert_eq!(
        slice
            .labels()
            .get("endpointslice.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("endpointslice-controller.k8s.io")
    );
    let port = slice
        .ports
        .as_ref()
        .and_then(|p| p.first())
        .and_then(|p| p.port);
    assert_eq!(
        port,
        Some(8080),
        "the named target port resolved from the pod"
    );

    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let ep = wait_for("endpoints", Duration::from_secs(20), || async {
        Ok(eps
            .get_opt("ep")
            .await?
            .filter(|e| e.subsets.as_ref().is_some_and(|s| !s.is_empty())))
    })
    .await?;
    let subset = &ep.subsets.unwrap_or_default()[0];
    let ips: Vec<String> = subset
        .addresses
        .iter()
        .flatten()
        .map(|a| a.ip.clone())
        .collect();
    assert_eq!(ips, ["10.42.0.7"]);
    assert_eq!(
        subset
            .ports
            .as_ref()
            .and_then(|p| p.first())
            .map(|p| p.port),
        Some(8080)
    );

    // The pod going away takes its endpoint with it.
    Api::<Pod>::namespaced(client.clone(), "default")
        .delete(&first, &DeleteParams::default().grace_period(0))
        .await?;
    wait_for("the endpoint to go", Duration::from_secs(20), || async {
        let e = eps.get("ep").await?;
        let gone = e
            .subsets
            .iter()
            .flatten()
            .all(|s| s.addresses.iter().flatten().all(|a| a.ip != "10.42.0.7"));
        Ok(gone.then_some(()))
    })
    .await?;
    Ok(())
}

/// The EndpointSlices mirrored for a selector-less Service named `name`.
async fn mirrored_slices(
    client: &Client,
    name: &str,
) -> Result<Vec<k8s_openapi::api::discovery::v1::EndpointSlice>> {
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let lp = ListParams::default().labels(&format!(
        "kubernetes.io/service-name={name},endpointslice.kubernetes.io/managed-by=endpointslicemirroring-controller.k8s.io"
    ));
    Ok(slices.list(&lp).await?.items)
}

/// Addresses of a slice with their `ready` condition, sorted.
fn slice_addresses(slice: &k8s_openapi::api::discovery::v1::EndpointSlice) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = slice
        .endpoints
        .iter()
        .map(|e| {
            (
                e.addresses.join(","),
                e.conditions.as_ref().and_then(|c| c.ready) == Some(true),
            )
        })
        .collect();
    out.sort();
    out
}

fn user_endpoints(addresses: &[&str], not_ready: &[&str], port: i32, skip: bool) -> String {
    let list = |ips: &[&str]| {
        ips.iter()
            .map(|ip| format!("{{\"ip\": \"{ip}\"}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let skip_label = if skip {
        ", \"endpointslice.kubernetes.io/skip-mirror\": \"true\""
    } else {
        ""
    };
    format!(
        r#"{{"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {{"name": "ext", "labels": {{"team": "a"{skip_label}}}}},
            "subsets": [{{"addresses": [{}], "notReadyAddresses": [{}],
                          "ports": [{{"name": "http", "port": {port}, "protocol": "TCP"}}]}}]}}"#,
        list(addresses),
        list(not_ready)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectorless_service_endpoints_are_mirrored_into_endpointslices() -> Result<()> {
    use k8s_openapi::api::core::v1::{Endpoints, Service};
    let server = Server::start()?;
    let client = server.client().await?;
    let svc_api: Api<Service> = Api::namespaced(client.clone(), "default");
    let ep_api: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "ext"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }))?;
    svc_api.create(&PostParams::default(), &service).await?;
    let apply = |manifest: String| {
        let args = ["apply", "-f", "-"];
        skiff_tests::check(server.kubectl_with(KUBECTL, &args, Some(&manifest)), &args)
    };
    apply(user_endpoints(
        &["10.1.0.1", "10.1.0.2"],
        &["10.1.0.3"],
        8080,
        false,
    ))?;

    let timeout = Duration::from_secs(30);
    let slice = wait_for("the mirrored slice", timeout, || async {
        let s = mirrored_slices(&client, "ext").await?;
        Ok((s.len() == 1).then(|| s.into_iter().next()).flatten())
    })
    .await?;
    assert_eq!(slice.address_type, "IPv4");
    assert_eq!(
        slice_addresses(&slice),
        [
            ("10.1.0.1".to_string(), true),
            ("10.1.0.2".to_string(), true),
            ("10.1.0.3".to_string(), false)
        ]
    );
    let port = slice.ports.as_ref().and_then(|p| p.first()).cloned();
    assert_eq!(
        port.map(|p| (p.name, p.port, p.protocol)),
        Some((Some("http".into()), Some(8080), Some("TCP".into())))
    );
    assert_eq!(slice.labels().get("team").map(String::as_str), Some("a"));
    // kubectl's last-applied configuration stays on the Endpoints.
    assert!(
        !slice
            .annotations()
            .contains_key("kubectl.kubernetes.io/last-applied-configuration"),
        "{:?}",
        slice.annotations()
    );
    let ep = ep_api.get("ext").await?;
    let owner = slice
        .owner_references()
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the mirrored slice has no owner"))?;
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), Some(owner.uid)),
        ("Endpoints", "ext", ep.uid())
    );
    let slice_name = slice.name_any();
    for v in skiff_tests::KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["get", "endpointslice", &slice_name])?;
        let row: Vec<&str> = out
            .lines()
            .nth(1)
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(
            row.get(..4),
            Some(
                &[
                    slice_name.as_str(),
                    "IPv4",
                    "8080",
                    "10.1.0.1,10.1.0.2,10.1.0.3"
                ][..]
            ),
            "kubectl {v}: {out}"
        );
    }

    // A change of addresses and port rewrites the same slice.
    apply(user_endpoints(&["10.1.0.1", "10.1.0.9"], &[], 9090, false))?;
    wait_for("the slice to follow the change", timeout, || async {
        let s = mirrored_slices(&client, "ext").await?;
        let done = s.len() == 1
            && s[0].name_any() == slice_name
            && slice_addresses(&s[0])
                == [
                    ("10.1.0.1".to_string(), true),
                    ("10.1.0.9".to_string(), true),
                ]
            && s[0]
                .ports
                .as_ref()
                .and_then(|p| p.first())
                .and_then(|p| p.port)
                == Some(9090);
        Ok(done.then_some(()))
    })
    .await?;

    let gone = |what: &'static str| {
        let client = client.clone();
        async move {
            wait_for(what, timeout, || async {
                Ok(mirrored_slices(&client, "ext")
                    .await?
                    .is_empty()
                    .then_some(()))
            })
            .await
        }
    };
    let back = |what: &'static str| {
        let client = client.clone();
        async move {
            wait_for(what, timeout, || async {
                Ok((mirrored_slices(&client, "ext").await?.len() == 1).then_some(()))
            })
            .await
        }
    };
    // The skip-mirror label takes the slice away; without it, it comes back.
    apply(user_endpoints(&["10.1.0.1"], &[], 9090, true))?;
    gone("skip-mirror to remove the slice").await?;
    apply(user_endpoints(&["10.1.0.1"], &[], 9090, false))?;
    back("the slice without skip-mirror").await?;

    // No Service, no mirror.
    svc_api.delete("ext", &DeleteParams::default()).await?;
    gone("the Service deletion to remove the slice").await?;
    svc_api.create(&PostParams::default(), &service).await?;
    back("the slice with the Service back").await?;

    // The slices belong to the Endpoints: they go with them.
    ep_api.delete("ext", &DeleteParams::default()).await?;
    gone("the Endpoints deletion to remove the slice").await?;
    apply(user_endpoints(&["10.1.0.1"], &[], 9090, false))?;
    back("the slice with the Endpoints back").await?;

    // A selector hands the Service to the endpoints controllers.
    svc_api
        .patch(
            "ext",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"selector": {"app": "ext"}}})),
        )
        .await?;
    gone("the selector to remove the mirrored slice").await?;
    Ok(())
}
