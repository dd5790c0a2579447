//! ResourceQuota end to end: the API server's admission refuses what would
//! exceed a quota with upstream's messages as kubectl prints them, the
//! resourcequota controller keeps `status` current (`kubectl describe
//! quota`), and deletes give quota back.

use std::time::Duration;

use anyhow::{Result, bail};
use k8s_openapi::api::core::v1::{Pod, ResourceQuota};
use kube::api::{Api, PostParams};
use skiff_tests::{KUBECTL_VERSIONS, Server, Sim, eventually};

const TIMEOUT: Duration = Duration::from_secs(60);

fn pod_yaml(name: &str, cpu: Option<&str>) -> String {
    let resources = match cpu {
        Some(cpu) => format!("\n      resources:\n        requests:\n          cpu: {cpu}"),
        None => String::new(),
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n    - name: app\n      image: busybox{resources}\n"
    )
}

/// `kubectl create -f -` that must fail; returns what kubectl printed on stderr.
fn create_refused(server: &Server, yaml: &str) -> Result<String> {
    let out = server.kubectl_with("1.33", &["create", "-f", "-"], Some(yaml));
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if out.status.success() {
        bail!("create succeeded: {}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(stderr)
}

fn create(server: &Server, yaml: &str) -> Result<String> {
    skiff_tests::check(
        server.kubectl_with("1.33", &["create", "-f", "-"], Some(yaml)),
        &["create", "-f", "-"],
    )
}

/// `status.used.<resource>` of a quota, as kubectl reads it.
fn used(server: &Server, quota: &str, resource: &str) -> String {
    let path = format!(
        "jsonpath={{.status.used.{}}}",
        resource.replace('.', "\\.").replace('/', "\\/")
    );
    server
        .kubectl_ok("1.33", &["get", "quota", quota, "-o", &path])
        .unwrap_or_default()
}

fn wait_used(server: &Server, quota: &str, resource: &str, want: &str) -> Result<()> {
    let mut last = String::new();
    if !eventually(TIMEOUT, || {
        last = used(server, quota, resource);
        last == want
    }) {
        bail!("{quota}: used {resource} is {last:?}, want {want:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_refuses_pods_over_hard_and_deletes_free_it() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "2"])?;
    create(
        &server,
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: compute\nspec:\n  hard:\n    pods: \"2\"\n    requests.cpu: \"2\"\n",
    )?;
    // The controller fills in the status first.
    wait_used(&server, "compute", "pods", "0")?;
    wait_used(&server, "compute", "requests.cpu", "0")?;

    // A quota on requests.cpu needs every container to request cpu.
    let err = create_refused(&server, &pod_yaml("no-requests", None))?;
    assert_eq!(
        err,
        "Error from server (Forbidden): error when creating \"STDIN\": pods \"no-requests\" is forbidden: failed quota: compute: must specify requests.cpu for: app"
    );

    create(&server, &pod_yaml("p1", Some("1500m")))?;
    // Charged at admission, before the controller has seen the pod.
    assert_eq!(used(&server, "compute", "requests.cpu"), "1500m");
    let err = create_refused(&server, &pod_yaml("p2", Some("1")))?;
    assert_eq!(
        err,
        "Error from server (Forbidden): error when creating \"STDIN\": pods \"p2\" is forbidden: exceeded quota: compute, requested: requests.cpu=1, used: requests.cpu=1500m, limited: requests.cpu=2"
    );
    create(&server, &pod_yaml("p2", Some("500m")))?;
    let err = create_refused(&server, &pod_yaml("p3", Some("100m")))?;
    assert_eq!(
        err,
        "Error from server (Forbidden): error when creating \"STDIN\": pods \"p3\" is forbidden: exceeded quota: compute, requested: pods=1,requests.cpu=100m, used: pods=2,requests.cpu=2, limited: pods=2,requests.cpu=2"
    );

    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["describe", "quota", "compute"])?;
        let rows: Vec<Vec<&str>> = out
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        for want in [
            vec!["Resource", "Used", "Hard"],
            vec!["pods", "2", "2"],
            vec!["requests.cpu", "2", "2"],
        ] {
            assert!(rows.contains(&want), "kubectl {v}: no row {want:?}:\n{out}");
        }
    }

    // Deleting a running pod gives its share back (the controller's
    // recalculation), and the refused pod fits again.
    server.kubectl_ok("1.33", &["delete", "pod", "p1", "--wait=true"])?;
    wait_used(&server, "compute", "pods", "1")?;
    wait_used(&server, "compute", "requests.cpu", "500m")?;
    create(&server, &pod_yaml("p3", Some("1")))?;
    wait_used(&server, "compute", "requests.cpu", "1500m")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_quota_counts_configmaps_and_service_type_changes() -> Result<()> {
    let server = Server::start()?;
    server.kubectl_ok("1.33", &["create", "namespace", "team"])?;
    create(
        &server,
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: objects\n  namespace: team\nspec:\n  hard:\n    count/configmaps: \"3\"\n    services.loadbalancers: \"0\"\n",
    )?;
    let ns_used = |r: &str| -> String {
        let path = format!(
            "jsonpath={{.status.used.{}}}",
            r.replace('.', "\\.").replace('/', "\\/")
        );
        server
            .kubectl_ok(
                "1.33",
                &["-n", "team", "get", "quota", "objects", "-o", &path],
            )
            .unwrap_or_default()
    };
    // What is there already (a namespace may hold kube-root-ca.crt).
    let mut before = String::new();
    if !eventually(TIMEOUT, || {
        before = ns_used("count/configmaps");
        !before.is_empty()
    }) {
        bail!("the controller never filled in count/configmaps");
    }
    let before: u32 = before.parse()?;
    for i in before..3 {
        server.kubectl_ok(
            "1.33",
            &["-n", "team", "create", "configmap", &format!("cm-{i}")],
        )?;
    }
    assert_eq!(ns_used("count/configmaps"), "3");
    let out = server.kubectl(
        "1.33",
        &["-n", "team", "create", "configmap", "one-too-many"],
    );
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: failed to create configmap: configmaps \"one-too-many\" is forbidden: exceeded quota: objects, requested: count/configmaps=1, used: count/configmaps=3, limited: count/configmaps=3"
    );
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["-n", "team", "describe", "quota", "objects"])?;
        assert!(
            out.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["count/configmaps", "3", "3"]),
            "kubectl {v}:\n{out}"
        );
    }
    server.kubectl_ok("1.33", &["-n", "team", "delete", "configmap", "cm-2"])?;
    let mut last = String::new();
    if !eventually(TIMEOUT, || {
        last = ns_used("count/configmaps");
        last == "2"
    }) {
        bail!("count/configmaps stayed {last:?} after a delete");
    }
    server.kubectl_ok("1.33", &["-n", "team", "create", "configmap", "fits-again"])?;

    // A service may not become a load balancer past the quota.
    server.kubectl_ok(
        "1.33",
        &[
            "-n",
            "team",
            "create",
            "service",
            "clusterip",
            "web",
            "--tcp=80:80",
        ],
    )?;
    let out = server.kubectl(
        "1.33",
        &[
            "-n",
            "team",
            "patch",
            "service",
            "web",
            "-p",
            r#"{"spec":{"type":"LoadBalancer"}}"#,
        ],
    );
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error from server (Forbidden): services \"web\" is forbidden: exceeded quota: objects, requested: services.loadbalancers=1, used: services.loadbalancers=0, limited: services.loadbalancers=0"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_cannot_both_take_the_last_pod() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "default");
    quotas
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": "one-pod"},
                "spec": {"hard": {"pods": "1"}},
            }))?,
        )
        .await?;
    skiff_tests::wait_for("the quota's status", TIMEOUT, || {
        let quotas = quotas.clone();
        async move {
            let q = quotas.get("one-pod").await?;
            Ok(q.status
                .and_then(|s| s.used)
                .filter(|u| u.contains_key("pods"))
                .map(|_| ()))
        }
    })
    .await?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let creates = (0..6).map(|i| {
        let pods = pods.clone();
        async move {
            let pod: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("racer-{i}")},
                "spec": {"containers": [{"name": "app", "image": "busybox"}]},
            }))
            .expect("valid pod");
            pods.create(&PostParams::default(), &pod).await
        }
    });
    let results = futures::future::join_all(creates).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 1, "{results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        match r {
            kube::Error::Api(s) => {
                assert_eq!(s.code, 403, "{s:?}");
                assert!(
                    s.message.ends_with(
                        "is forbidden: exceeded quota: one-pod, requested: pods=1, used: pods=1, limited: pods=1"
                    ),
                    "{s:?}"
                );
            }
            other => bail!("unexpected error {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_quota_limits_only_pods_in_its_scope() -> Result<()> {
    let server = Server::start()?;
    create(
        &server,
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: best-effort\nspec:\n  hard:\n    pods: \"1\"\n  scopes: [\"BestEffort\"]\n",
    )?;
    wait_used(&server, "best-effort", "pods", "0")?;
    create(&server, &pod_yaml("be-1", None))?;
    let err = create_refused(&server, &pod_yaml("be-2", None))?;
    assert_eq!(
        err,
        "Error from server (Forbidden): error when creating \"STDIN\": pods \"be-2\" is forbidden: exceeded quota: best-effort, requested: pods=1, used: pods=1, limited: pods=1"
    );
    // A pod that requests cpu is not BestEffort: outside the quota.
    create(&server, &pod_yaml("burstable", Some("100m")))?;
    assert_eq!(used(&server, "best-effort", "pods"), "1");
    Ok(())
}
