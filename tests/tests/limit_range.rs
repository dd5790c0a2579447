//! End-to-end tests of the LimitRanger admission plugin and of LimitRange
//! objects, against a real `skiff server` driven by the real kubectl.

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use skiff_tests::{KUBECTL_VERSIONS, Server};

const KUBECTL: &str = "1.33";

const LIMIT_RANGE: &str = r#"
apiVersion: v1
kind: LimitRange
metadata:
  name: limits
  namespace: limited
spec:
  limits:
  - type: Container
    default:
      cpu: 500m
      memory: 256Mi
    defaultRequest:
      cpu: 250m
      memory: 128Mi
    max:
      cpu: "1"
      memory: 512Mi
    min:
      cpu: 100m
  - type: PersistentVolumeClaim
    min:
      storage: 1Gi
    max:
      storage: 2Gi
"#;

/// kubectl with `stdin`, returning (success, stdout, stderr).
fn kubectl_stdin(
    server: &Server,
    version: &str,
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    let out = server.kubectl_with(version, args, Some(stdin));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn get_json(server: &Server, args: &[&str]) -> Result<Value> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = server.kubectl_ok(KUBECTL, &all)?;
    serde_json::from_str(&out).context("kubectl printed no JSON")
}

fn claim(name: &str, size: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {name}
  namespace: limited
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: {size}
"#
    )
}

#[test]
fn limit_ranges_default_and_bound_pods_and_claims() -> Result<()> {
    let server = Server::start()?;
    server.kubectl_ok(KUBECTL, &["create", "namespace", "limited"])?;
    server.kubectl_ok(KUBECTL, &["create", "namespace", "open"])?;
    let (ok, _, err) = kubectl_stdin(&server, KUBECTL, &["create", "-f", "-"], LIMIT_RANGE);
    ensure!(ok, "creating the LimitRange failed: {err}");

    // A pod without resources gets the defaults and the annotation.
    server.kubectl_ok(
        KUBECTL,
        &[
            "run",
            "nginx",
            "--image=nginx",
            "--restart=Never",
            "-n",
            "limited",
        ],
    )?;
    let pod = get_json(&server, &["pod", "nginx", "-n", "limited"])?;
    let resources = &pod["spec"]["containers"][0]["resources"];
    ensure!(
        resources["requests"] == serde_json::json!({"cpu": "250m", "memory": "128Mi"}),
        "requests: {resources}"
    );
    ensure!(
        resources["limits"] == serde_json::json!({"cpu": "500m", "memory": "256Mi"}),
        "limits: {resources}"
    );
    ensure!(
        pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"]
            == "LimitRanger plugin set: cpu, memory request for container nginx; cpu, memory limit for container nginx",
        "annotations: {}",
        pod["metadata"]["annotations"]
    );
    // The QoS class follows the defaults, as upstream derives it after admission.
    ensure!(
        pod["status"]["qosClass"] == "Burstable",
        "status: {}",
        pod["status"]
    );

    // Another namespace has no LimitRange: nothing is added.
    server.kubectl_ok(
        KUBECTL,
        &[
            "run",
            "free",
            "--image=nginx",
            "--restart=Never",
            "-n",
            "open",
        ],
    )?;
    let free = get_json(&server, &["pod", "free", "-n", "open"])?;
    ensure!(
        free["metadata"]["annotations"]
            .get("kubernetes.io/limit-ranger")
            .is_none(),
        "unexpected annotation: {}",
        free["metadata"]
    );
    ensure!(
        free["spec"]["containers"][0]["resources"] == serde_json::json!({}),
        "unexpected resources: {}",
        free["spec"]["containers"][0]["resources"]
    );
    ensure!(free["status"]["qosClass"] == "BestEffort");

    // A pod over the max is refused with upstream's joined message.
    let big = r#"
apiVersion: v1
kind: Pod
metadata:
  name: big
  namespace: limited
spec:
  containers:
  - name: app
    image: nginx
    resources:
      limits:
        cpu: "2"
        memory: 1Gi
"#;
    for version in KUBECTL_VERSIONS {
        let (ok, _, err) = kubectl_stdin(&server, version, &["create", "-f", "-"], big);
        ensure!(!ok, "kubectl {version}: the pod over max was created");
        ensure!(
            err.trim()
                == r#"Error from server (Forbidden): error when creating "STDIN": pods "big" is forbidden: [maximum cpu usage per Container is 1, but limit is 2, maximum memory usage per Container is 512Mi, but limit is 1Gi]"#,
            "kubectl {version}: {err}"
        );
    }
    // Under the min, through the API as any client sees it.
    let small = big
        .replace("name: big", "name: small")
        .replace("cpu: \"2\"", "cpu: 50m")
        .replace("memory: 1Gi", "memory: 64Mi");
    let (ok, _, err) = kubectl_stdin(&server, KUBECTL, &["create", "-f", "-"], &small);
    ensure!(!ok, "the pod under min was created");
    ensure!(
        err.contains(r#"pods "small" is forbidden: minimum cpu usage per Container is 100m, but request is 50m"#),
        "{err}"
    );

    // Claims: over the max refused, within admitted, resized over refused.
    let (ok, _, err) = kubectl_stdin(
        &server,
        KUBECTL,
        &["create", "-f", "-"],
        &claim("huge", "5Gi"),
    );
    ensure!(!ok, "the claim over max was created");
    ensure!(
        err.trim()
            == r#"Error from server (Forbidden): error when creating "STDIN": persistentvolumeclaims "huge" is forbidden: maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi"#,
        "{err}"
    );
    let (ok, _, err) = kubectl_stdin(
        &server,
        KUBECTL,
        &["create", "-f", "-"],
        &claim("data", "1Gi"),
    );
    ensure!(ok, "the claim within bounds was refused: {err}");
    // Updates of a claim are checked too: with a tighter LimitRange added,
    // even a label change of the existing claim is refused (upstream checks
    // the whole claim on every update).
    let tight = r#"
apiVersion: v1
kind: LimitRange
metadata:
  name: tight
  namespace: limited
spec:
  limits:
  - type: PersistentVolumeClaim
    max:
      storage: 512Mi
"#;
    let (ok, _, err) = kubectl_stdin(&server, KUBECTL, &["create", "-f", "-"], tight);
    ensure!(ok, "creating the second LimitRange failed: {err}");
    let label = server.kubectl(
        KUBECTL,
        &["label", "pvc", "data", "-n", "limited", "tier=gold"],
    );
    let err = String::from_utf8_lossy(&label.stderr);
    ensure!(
        !label.status.success(),
        "the update of a claim over max went through"
    );
    ensure!(
        err.contains(r#"persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim is 512Mi, but request is 1Gi"#),
        "{err}"
    );

    // kubectl renders the LimitRange's table.
    let described = server.kubectl_ok(
        KUBECTL,
        &["describe", "limitrange", "limits", "-n", "limited"],
    )?;
    let rows: Vec<Vec<&str>> = described
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for want in [
        &["Name:", "limits"][..],
        &["Namespace:", "limited"],
        &[
            "Type",
            "Resource",
            "Min",
            "Max",
            "Default",
            "Request",
            "Default",
            "Limit",
            "Max",
            "Limit/Request",
            "Ratio",
        ],
        &["Container", "cpu", "100m", "1", "250m", "500m", "-"],
        &["Container", "memory", "-", "512Mi", "128Mi", "256Mi", "-"],
        &[
            "PersistentVolumeClaim",
            "storage",
            "1Gi",
            "2Gi",
            "-",
            "-",
            "-",
        ],
    ] {
        ensure!(
            rows.iter().any(|r| r.as_slice() == want),
            "no row {want:?} in:\n{described}"
        );
    }
    Ok(())
}

#[test]
fn limit_range_defaults_and_validation() -> Result<()> {
    let server = Server::start()?;
    server.kubectl_ok(KUBECTL, &["create", "namespace", "limited"])?;

    // Only a max: the default limit and request both come from it.
    let max_only = r#"
apiVersion: v1
kind: LimitRange
metadata:
  name: max-only
  namespace: limited
spec:
  limits:
  - type: Container
    max:
      memory: 1Gi
"#;
    let (ok, _, err) = kubectl_stdin(&server, KUBECTL, &["create", "-f", "-"], max_only);
    ensure!(ok, "{err}");
    let lr = get_json(&server, &["limitrange", "max-only", "-n", "limited"])?;
    let item = &lr["spec"]["limits"][0];
    ensure!(item["default"]["memory"] == "1Gi", "item: {item}");
    ensure!(item["defaultRequest"]["memory"] == "1Gi", "item: {item}");

    let pod = r#"
apiVersion: v1
kind: Pod
metadata:
  name: sized
  namespace: limited
spec:
  initContainers:
  - name: setup
    image: busybox
  containers:
  - name: app
    image: busybox
    resources:
      requests:
        memory: 256Mi
"#;
    let (ok, _, err) = kubectl_stdin(&server, KUBECTL, &["create", "-f", "-"], pod);
    ensure!(ok, "{err}");
    let pod = get_json(&server, &["pod", "sized", "-n", "limited"])?;
    ensure!(
        pod["spec"]["containers"][0]["resources"]
            == serde_json::json!({"requests": {"memory": "256Mi"}, "limits": {"memory": "1Gi"}}),
        "{}",
        pod["spec"]["containers"][0]
    );
    ensure!(
        pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"]
            == "LimitRanger plugin set: memory limit for container app; memory request for init container setup; memory limit for init container setup",
        "{}",
        pod["metadata"]
    );

    // An inconsistent LimitRange is invalid.
    let bad = r#"
apiVersion: v1
kind: LimitRange
metadata:
  name: bad
  namespace: limited
spec:
  limits:
  - type: Container
    min:
      cpu: "2"
    max:
      cpu: "1"
"#;
    let (ok, _, err) = kubectl_stdin(&server, KUBECTL, &["create", "-f", "-"], bad);
    ensure!(!ok, "the inconsistent LimitRange was created");
    ensure!(
        err.contains(r#"The LimitRange "bad" is invalid: "#)
            && err.contains(r#"spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1"#),
        "{err}"
    );
    Ok(())
}
