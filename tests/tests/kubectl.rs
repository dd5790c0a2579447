//! The real kubectl (1.32 and 1.33) against a real `skiff server`: the
//! everyday commands a user runs, checked on what they print.

use std::time::Duration;

use anyhow::Result;
use skiff_tests::{KUBECTL_VERSIONS, Server, check, eventually};

const APP: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  selector: {app: web}
  ports:
  - port: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: demo
data:
  a: "1"
"#;

fn write_app(server: &Server) -> Result<String> {
    let path = server.dir.path().join("app.yaml");
    std::fs::write(&path, APP)?;
    Ok(path.to_string_lossy().to_string())
}

#[test]
fn get_namespaces_shows_the_system_namespaces() -> Result<()> {
    let server = Server::start()?;
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["get", "ns"])?;
        let names: Vec<&str> = out
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(
            names,
            ["default", "kube-node-lease", "kube-public", "kube-system"],
            "kubectl {v}:\n{out}"
        );
        assert!(out.starts_with("NAME"), "{out}");
        assert!(
            out.lines().nth(1).is_some_and(|l| l.contains("Active")),
            "{out}"
        );
    }
    Ok(())
}

#[test]
fn apply_multi_document_file_then_get_in_every_format() -> Result<()> {
    let server = Server::start()?;
    let file = write_app(&server)?;
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["apply", "-f", &file])?;
        assert!(out.contains("deployment.apps/web"), "kubectl {v}: {out}");
        assert!(out.contains("service/web"), "kubectl {v}: {out}");

        let json: serde_json::Value = serde_json::from_str(
            &server.kubectl_ok(v, &["get", "deploy", "web", "-n", "demo", "-o", "json"])?,
        )?;
        assert_eq!(json["spec"]["replicas"], 2);
        assert_eq!(json["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(
            json["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(json["metadata"]["generation"], 1);

        let yaml = server.kubectl_ok(v, &["get", "svc", "web", "-n", "demo", "-o", "yaml"])?;
        let svc: serde_yaml::Value = serde_yaml::from_str(&yaml)?;
        let ip = svc["spec"]["clusterIP"].as_str().unwrap_or("");
        assert!(
            ip.starts_with("10.43."),
            "cluster IP from the service range: {yaml}"
        );
        assert_eq!(
            svc["spec"]["ports"][0]["targetPort"],
            serde_yaml::Value::from(80)
        );

        let names = server.kubectl_ok(v, &["get", "deploy,svc,cm", "-n", "demo", "-o", "name"])?;
        assert!(
            names.contains("deployment.apps/web")
                && names.contains("service/web")
                && names.contains("configmap/cfg"),
            "{names}"
        );

        let jp = server.kubectl_ok(
            v,
            &["get", "cm", "cfg", "-n", "demo", "-o", "jsonpath={.data.a}"],
        )?;
        assert_eq!(jp, "1");

        let wide = server.kubectl_ok(v, &["get", "deploy", "-n", "demo", "-o", "wide"])?;
        let header = wide.lines().next().unwrap_or("");
        for col in [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR",
        ] {
            assert!(header.contains(col), "column {col} in {wide}");
        }
        assert!(
            wide.contains("nginx:1.25") && wide.contains("app=web"),
            "{wide}"
        );

        let all = server.kubectl_ok(v, &["get", "all", "-n", "demo"])?;
        assert!(
            all.contains("deployment.apps/web") && all.contains("service/web"),
            "{all}"
        );

        // A second apply of the same file changes nothing.
        let out = server.kubectl_ok(v, &["apply", "-f", &file])?;
        assert!(
            out.contains("deployment.apps/web unchanged"),
            "kubectl {v}: {out}"
        );
    }
    Ok(())
}

#[test]
fn label_annotate_scale_delete() -> Result<()> {
    let server = Server::start()?;
    let file = write_app(&server)?;
    server.kubectl_ok("1.33", &["apply", "-f", &file])?;
    for v in KUBECTL_VERSIONS {
        server.kubectl_ok(
            v,
            &[
                "label",
                "cm",
                "cfg",
                "-n",
                "demo",
                &format!("tier=t{}", &v[2..]),
            ],
        )?;
        let out = server.kubectl_ok(
            v,
            &[
                "get",
                "cm",
                "-n",
                "demo",
                "-l",
                &format!("tier=t{}", &v[2..]),
                "-o",
                "name",
            ],
        )?;
        assert_eq!(out.trim(), "configmap/cfg");
        server.kubectl_ok(v, &["label", "cm", "cfg", "-n", "demo", "tier-"])?;
        let out = server.kubectl_ok(v, &["get", "cm", "-n", "demo", "-l", "tier", "-o", "name"])?;
        assert_eq!(out.trim(), "", "label removed");

        server.kubectl_ok(
            v,
            &[
                "annotate",
                "cm",
                "cfg",
                "-n",
                "demo",
                "note=hello",
                "--overwrite",
            ],
        )?;
        let out = server.kubectl_ok(
            v,
            &[
                "get",
                "cm",
                "cfg",
                "-n",
                "demo",
                "-o",
                "jsonpath={.metadata.annotations.note}",
            ],
        )?;
        assert_eq!(out, "hello");

        server.kubectl_ok(v, &["scale", "deploy", "web", "-n", "demo", "--replicas=4"])?;
        let out = server.kubectl_ok(
            v,
            &[
                "get",
                "deploy",
                "web",
                "-n",
                "demo",
                "-o",
                "jsonpath={.spec.replicas} {.metadata.generation}",
            ],
        )?;
        let mut it = out.split(' ');
        assert_eq!(it.next(), Some("4"));
        assert!(
            it.next()
                .and_then(|g| g.parse::<i64>().ok())
                .is_some_and(|g| g >= 2),
            "generation bumps on spec change: {out}"
        );
        server.kubectl_ok(v, &["scale", "deploy", "web", "-n", "demo", "--replicas=2"])?;
    }
    let out = server.kubectl_ok("1.33", &["delete", "cm", "cfg", "-n", "demo"])?;
    assert!(out.contains("configmap \"cfg\" deleted"), "{out}");
    let out = server.kubectl("1.33", &["get", "cm", "cfg", "-n", "demo"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("configmaps \"cfg\" not found"));
    Ok(())
}

#[test]
fn create_namespace_configmap_and_secret() -> Result<()> {
    let server = Server::start()?;
    for v in KUBECTL_VERSIONS {
        let ns = format!("ns{}", &v[2..]);
        server.kubectl_ok(v, &["create", "namespace", &ns])?;
        server.kubectl_ok(
            v,
            &["create", "configmap", "c", "-n", &ns, "--from-literal=k=v"],
        )?;
        server.kubectl_ok(
            v,
            &[
                "create",
                "secret",
                "generic",
                "s",
                "-n",
                &ns,
                "--from-literal=pw=hunter2",
            ],
        )?;
        let out = server.kubectl_ok(
            v,
            &[
                "get",
                "secret",
                "s",
                "-n",
                &ns,
                "-o",
                "jsonpath={.type} {.data.pw}",
            ],
        )?;
        assert_eq!(out, "Opaque aHVudGVyMg==");
        let out = server.kubectl_ok(
            v,
            &["get", "cm", "c", "-n", &ns, "-o", "jsonpath={.data.k}"],
        )?;
        assert_eq!(out, "v");
    }
    Ok(())
}

#[test]
fn api_resources_and_versions() -> Result<()> {
    let server = Server::start()?;
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["api-resources"])?;
        for line in [
            ("pods", "po", "v1", "true", "Pod"),
            ("deployments", "deploy", "apps/v1", "true", "Deployment"),
            ("cronjobs", "cj", "batch/v1", "true", "CronJob"),
            ("namespaces", "ns", "v1", "false", "Namespace"),
            (
                "customresourcedefinitions",
                "crd,crds",
                "apiextensions.k8s.io/v1",
                "false",
                "CustomResourceDefinition",
            ),
        ] {
            let found = out.lines().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols == [line.0, line.1, line.2, line.3, line.4]
            });
            assert!(found, "kubectl {v}: {line:?} in\n{out}");
        }
        let out = server.kubectl_ok(v, &["api-versions"])?;
        for gv in [
            "v1",
            "apps/v1",
            "batch/v1",
            "autoscaling/v2",
            "networking.k8s.io/v1",
            "rbac.authorization.k8s.io/v1",
        ] {
            assert!(out.lines().any(|l| l == gv), "kubectl {v}: {gv} in\n{out}");
        }
    }
    Ok(())
}

#[test]
fn describe_shows_the_object() -> Result<()> {
    let server = Server::start()?;
    let file = write_app(&server)?;
    server.kubectl_ok("1.33", &["apply", "-f", &file])?;
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["describe", "deploy", "web", "-n", "demo"])?;
        assert!(out.contains("Name:") && out.contains("web"), "{out}");
        assert!(
            out.contains("StrategyType:") && out.contains("RollingUpdate"),
            "{out}"
        );
        let out = server.kubectl_ok(v, &["describe", "ns", "demo"])?;
        assert!(out.contains("Status:") && out.contains("Active"), "{out}");
    }
    Ok(())
}

#[test]
fn get_watch_prints_changes() -> Result<()> {
    let server = Server::start()?;
    for v in KUBECTL_VERSIONS {
        let mut child = std::process::Command::new(skiff_tests::kubectl_bin(v))
            .arg("--kubeconfig")
            .arg(&server.kubeconfig)
            .args(["get", "cm", "-n", "default", "-w", "--request-timeout=30s"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let name = format!("watched-{}", &v[2..]);
        std::thread::sleep(Duration::from_millis(500));
        server.kubectl_ok(v, &["create", "configmap", &name, "-n", "default"])?;
        let mut seen = Vec::new();
        let ok = eventually(Duration::from_secs(10), || {
            while let Ok(l) = rx.try_recv() {
                seen.push(l);
            }
            seen.iter().any(|l| l.starts_with(&name))
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(ok, "kubectl {v} get -w printed {seen:?}");
    }
    Ok(())
}

#[test]
fn edit_with_a_scripted_editor() -> Result<()> {
    let server = Server::start()?;
    let file = write_app(&server)?;
    server.kubectl_ok("1.33", &["apply", "-f", &file])?;
    let editor = server.dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/a: \"1\"/a: \"edited\"/' \"$1\"\n",
    )?;
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    for v in KUBECTL_VERSIONS {
        let out = std::process::Command::new(skiff_tests::kubectl_bin(v))
            .arg("--kubeconfig")
            .arg(&server.kubeconfig)
            .args(["edit", "cm", "cfg", "-n", "demo"])
            .env("KUBE_EDITOR", &editor)
            .output()?;
        check(out, &["edit"])?;
        let a = server.kubectl_ok(
            v,
            &["get", "cm", "cfg", "-n", "demo", "-o", "jsonpath={.data.a}"],
        )?;
        assert_eq!(a, "edited");
        server.kubectl_ok(
            v,
            &[
                "patch",
                "cm",
                "cfg",
                "-n",
                "demo",
                "--type=merge",
                "-p",
                r#"{"data":{"a":"1"}}"#,
            ],
        )?;
    }
    Ok(())
}

/// `kubectl auth` asks the review APIs; skiff allows every authenticated
/// user everything (no authorizer yet) and says so.
#[test]
fn auth_can_i_and_whoami() -> Result<()> {
    let server = Server::start()?;
    for v in KUBECTL_VERSIONS {
        let can = server.kubectl_ok(v, &["auth", "can-i", "create", "pods"])?;
        assert_eq!(can.trim(), "yes", "kubectl {v}");
        let can = server.kubectl_ok(v, &["auth", "can-i", "get", "/healthz"])?;
        assert_eq!(can.trim(), "yes", "kubectl {v}");
        let who = server.kubectl_ok(v, &["auth", "whoami"])?;
        let rows: Vec<Vec<&str>> = who
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows[0], ["ATTRIBUTE", "VALUE"], "{who}");
        assert_eq!(rows[1], ["Username", "system:admin"], "{who}");
        assert_eq!(
            rows[2],
            ["Groups", "[system:masters", "system:authenticated]"],
            "{who}"
        );
        let list = server.kubectl_ok(v, &["auth", "can-i", "--list"])?;
        let first: Vec<&str> = list
            .lines()
            .nth(1)
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        assert_eq!(first, ["*.*", "[]", "[]", "[*]"], "{list}");
    }
    Ok(())
}

/// `kubectl get componentstatuses`: upstream's columns, the store probed,
/// the in-process scheduler and controller manager as they report, and the
/// deprecation warning; Endpoints warn too since v1.33.
#[test]
fn component_statuses_and_deprecation_warnings() -> Result<()> {
    let server = Server::start()?;
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl(v, &["get", "componentstatuses"]);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let stdout = check(out, &["get", "componentstatuses"])?;
        let rows: Vec<Vec<&str>> = stdout
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows,
            [
                vec!["NAME", "STATUS", "MESSAGE", "ERROR"],
                vec!["scheduler", "Healthy", "ok"],
                vec!["controller-manager", "Healthy", "ok"],
                vec!["etcd-0", "Healthy", "ok"],
            ],
            "kubectl {v}"
        );
        assert!(
            stderr.contains("Warning: v1 ComponentStatus is deprecated in v1.19+"),
            "{stderr}"
        );
        let one = server.kubectl_ok(v, &["get", "cs", "etcd-0", "-o", "name"])?;
        assert_eq!(one.trim(), "componentstatus/etcd-0");
        let missing = server.kubectl(v, &["get", "cs", "nope"]);
        assert!(!missing.status.success());
        assert!(
            String::from_utf8_lossy(&missing.stderr)
                .contains(r#"componentstatuses "nope" not found"#),
            "{}",
            String::from_utf8_lossy(&missing.stderr)
        );
        let out = server.kubectl(v, &["get", "endpoints", "-n", "default"]);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        check(out, &["get", "endpoints"])?;
        assert!(
            stderr.contains(
                "Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"
            ),
            "{stderr}"
        );
    }
    Ok(())
}

/// `kubectl debug` adds an ephemeral container through
/// `pods/ephemeralcontainers`; existing ones may be neither changed nor
/// removed, and what a debugging container may not set is refused.
#[test]
fn debug_adds_ephemeral_containers() -> Result<()> {
    let server = Server::start()?;
    for (i, v) in KUBECTL_VERSIONS.iter().enumerate() {
        let pod = format!("p{i}");
        server.kubectl_ok(v, &["run", &pod, "--image=nginx:1.27"])?;
        let debug = [
            "debug",
            &pod,
            "--image=busybox",
            "-c",
            "dbg",
            "--profile=general",
            "--",
            "sleep",
            "1",
        ];
        server.kubectl_ok(v, &debug)?;
        let ec = server.kubectl_ok(
            v,
            &["get", "pod", &pod, "-o", "jsonpath={.spec.ephemeralContainers[*].name}/{.spec.ephemeralContainers[0].imagePullPolicy}"],
        )?;
        assert_eq!(ec, "dbg/Always", "kubectl {v}");
        let managers = server.kubectl_ok(
            v,
            &[
                "get",
                "pod",
                &pod,
                "--show-managed-fields",
                "-o",
                "jsonpath={range .metadata.managedFields[*]}{.manager}:{.subresource};{end}",
            ],
        )?;
        // kubectl names no field manager: its user agent's program is it.
        assert!(
            managers.contains(&format!("kubectl.{v}:ephemeralcontainers;")),
            "{managers}"
        );
        // The same name again changes it.
        let again = server.kubectl(v, &debug);
        assert!(!again.status.success());
        let stderr = String::from_utf8_lossy(&again.stderr);
        assert!(
            stderr.contains(r#"spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" may not be changed"#),
            "{stderr}"
        );
        let remove = server.kubectl(
            v,
            &[
                "patch",
                "pod",
                &pod,
                "--subresource",
                "ephemeralcontainers",
                "--type",
                "json",
                "-p",
                r#"[{"op":"remove","path":"/spec/ephemeralContainers/0"}]"#,
            ],
        );
        let stderr = String::from_utf8_lossy(&remove.stderr);
        assert!(
            stderr.contains(r#"existing ephemeral containers "dbg" may not be removed"#),
            "{stderr}"
        );
        let bad = server.kubectl(
            v,
            &["patch", "pod", &pod, "--subresource", "ephemeralcontainers",
              "-p", r#"{"spec":{"ephemeralContainers":[{"name":"e2","image":"busybox","ports":[{"containerPort":80}],"targetContainerName":"nope"}]}}"#],
        );
        let stderr = String::from_utf8_lossy(&bad.stderr);
        assert!(
            stderr.contains(r#".targetContainerName: Not found: "nope""#)
                && stderr.contains(".ports: Forbidden: cannot be set for an Ephemeral Container"),
            "{stderr}"
        );
        // A main-resource update cannot change them.
        let main = server.kubectl(
            v,
            &[
                "patch",
                "pod",
                &pod,
                "--type",
                "json",
                "-p",
                r#"[{"op":"remove","path":"/spec/ephemeralContainers"}]"#,
            ],
        );
        assert!(!main.status.success());
        assert!(
            String::from_utf8_lossy(&main.stderr).contains("pod updates may not change fields"),
            "{}",
            String::from_utf8_lossy(&main.stderr)
        );
    }
    Ok(())
}
