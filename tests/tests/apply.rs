//! `kubectl apply` fidelity with the real kubectl 1.32 and 1.33: client-side
//! apply changes exactly what the file changed, dry runs write nothing,
//! explain, kustomize and prune work.

use anyhow::Result;
use serde_json::Value;
use skiff_tests::{KUBECTL_VERSIONS, Server};

fn deployment(name: &str, containers: &str, labels: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{{labels}}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
{containers}"#
    )
}

const TWO: &str = r#"      - name: app
        image: app:1
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
        ports:
        - containerPort: 8080
      - name: sidecar
        image: side:1
"#;

fn get_json(server: &Server, v: &str, args: &[&str]) -> Result<Value> {
    Ok(serde_json::from_str(&server.kubectl_ok(v, args)?)?)
}

fn apply(server: &Server, v: &str, name: &str, yaml: &str) -> Result<String> {
    let path = server.dir.path().join(format!("{name}.yaml"));
    std::fs::write(&path, yaml)?;
    server.kubectl_ok(v, &["apply", "-f", &path.to_string_lossy()])
}

#[test]
fn client_side_apply_changes_exactly_what_the_file_changed() -> Result<()> {
    let server = Server::start()?;
    for v in KUBECTL_VERSIONS {
        let name = format!("d{}", &v[2..]);
        // The file leaves replicas to others (kubectl scale, an autoscaler).
        let no_replicas = |y: String| y.replace("  replicas: 1\n", "");
        apply(
            &server,
            v,
            &name,
            &no_replicas(deployment(&name, TWO, "team: a, tier: web")),
        )?;
        // Someone else scales it and adds an annotation.
        server.kubectl_ok(v, &["scale", "deploy", &name, "--replicas=3"])?;
        server.kubectl_ok(v, &["annotate", "deploy", &name, "owner=ops"])?;

        // New image for one container, env B removed, label tier removed,
        // containers reordered, a port added.
        let changed = r#"      - name: sidecar
        image: side:1
      - name: app
        image: app:2
        env:
        - {name: A, value: "1"}
        ports:
        - containerPort: 8080
        - containerPort: 9090
"#;
        let out = apply(
            &server,
            v,
            &name,
            &no_replicas(deployment(&name, changed, "team: a")),
        )?;
        assert!(out.contains("configured"), "{out}");
        let d = get_json(&server, v, &["get", "deploy", &name, "-o", "json"])?;
        let cs = &d["spec"]["template"]["spec"]["containers"];
        let names: Vec<&str> = cs
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["sidecar", "app"], "order follows the file: {cs}");
        let app = &cs[1];
        assert_eq!(app["image"], "app:2");
        assert_eq!(app["env"], serde_json::json!([{"name": "A", "value": "1"}]));
        let ports: Vec<i64> = app["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["containerPort"].as_i64())
            .collect();
        assert_eq!(ports, [8080, 9090]);
        assert_eq!(cs[0]["image"], "side:1");
        assert_eq!(d["metadata"]["labels"], serde_json::json!({"team": "a"}));
        // What others set survives.
        assert_eq!(
            d["spec"]["replicas"], 3,
            "kubectl scale's replicas survive an apply that does not change them"
        );
        assert_eq!(d["metadata"]["annotations"]["owner"], "ops");
        // Defaults survive too.
        assert_eq!(app["terminationMessagePath"], "/dev/termination-log");

        // Applying the same file again changes nothing.
        let out = apply(
            &server,
            v,
            &name,
            &no_replicas(deployment(&name, changed, "team: a")),
        )?;
        assert!(out.contains("unchanged"), "{out}");
    }
    Ok(())
}

#[test]
fn server_dry_run_and_diff_write_nothing() -> Result<()> {
    let server = Server::start()?;
    for v in KUBECTL_VERSIONS {
        let name = format!("dry{}", &v[2..]);
        let yaml = deployment(&name, TWO, "team: a");
        let path = server.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, &yaml)?;
        let p = path.to_string_lossy().to_string();
        let out = server.kubectl_ok(v, &["apply", "--dry-run=server", "-f", &p])?;
        assert!(out.contains("created (server dry run)"), "{out}");
        let missing = server.kubectl(v, &["get", "deploy", &name]);
        assert!(!missing.status.success(), "a dry run creates nothing");

        server.kubectl_ok(v, &["apply", "-f", &p])?;
        let before = get_json(&server, v, &["get", "deploy", &name, "-o", "json"])?;
        std::fs::write(&path, yaml.replace("replicas: 1", "replicas: 4"))?;
        let diff = server.kubectl(v, &["diff", "-f", &p]);
        // kubectl diff exits 1 when there are differences.
        assert_eq!(
            diff.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&diff.stderr)
        );
        let text = String::from_utf8_lossy(&diff.stdout);
        assert!(
            text.contains("-  replicas: 1") && text.contains("+  replicas: 4"),
            "{text}"
        );
        let out = server.kubectl_ok(v, &["apply", "--dry-run=server", "-f", &p])?;
        assert!(out.contains("configured (server dry run)"), "{out}");
        let after = get_json(&server, v, &["get", "deploy", &name, "-o", "json"])?;
        // The deployment controller writes status meanwhile; the spec (and so
        // the generation) must be untouched by the dry run.
        assert_eq!(
            before["metadata"]["generation"],
            after["metadata"]["generation"]
        );
        assert_eq!(before["spec"], after["spec"]);
        assert_eq!(after["spec"]["replicas"], 1);
    }
    Ok(())
}

#[test]
fn strict_validation_rejects_unknown_fields() -> Result<()> {
    let server = Server::start()?;
    let yaml = deployment("strict", TWO, "team: a")
        .replace("  replicas: 1\n", "  replicas: 1\n  foo: bar\n");
    let path = server.dir.path().join("strict.yaml");
    std::fs::write(&path, yaml)?;
    let p = path.to_string_lossy().to_string();
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl(v, &["apply", "-f", &p]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(r#"strict decoding error: unknown field "spec.foo""#),
            "kubectl {v}: {err}"
        );
        let out = server.kubectl(v, &["create", "--validate=warn", "-f", &p]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains(r#"unknown field "spec.foo""#));
        server.kubectl_ok(v, &["delete", "deploy", "strict"])?;
        let out = server.kubectl(v, &["create", "--validate=false", "-f", &p]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        server.kubectl_ok(v, &["delete", "deploy", "strict"])?;
    }
    Ok(())
}

#[test]
fn explain_describes_fields() -> Result<()> {
    let server = Server::start()?;
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["explain", "pods.spec.containers"])?;
        assert!(out.contains("KIND:") && out.contains("Pod"), "{out}");
        assert!(out.contains("FIELD: containers <[]Container>"), "{out}");
        assert!(out.contains("image\t<string>"), "{out}");
        let out = server.kubectl_ok(v, &["explain", "deployment.spec", "--recursive"])?;
        assert!(
            out.contains("strategy\t<DeploymentStrategy>")
                && out.contains("maxSurge\t<IntOrString>"),
            "{out}"
        );
    }
    Ok(())
}

#[test]
fn kustomize_and_prune() -> Result<()> {
    let server = Server::start()?;
    let dir = server.dir.path().join("kust");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("kustomization.yaml"),
        "namePrefix: k-\ncommonLabels: {set: one}\nresources: [cm.yaml]\nconfigMapGenerator:\n- name: gen\n  literals: [x=1]\n",
    )?;
    std::fs::write(
        dir.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n",
    )?;
    let d = dir.to_string_lossy().to_string();
    let out = server.kubectl_ok("1.33", &["apply", "-k", &d])?;
    assert!(out.contains("configmap/k-a created"), "{out}");
    let names = server.kubectl_ok("1.33", &["get", "cm", "-l", "set=one", "-o", "name"])?;
    assert!(
        names.contains("configmap/k-a") && names.contains("configmap/k-gen-"),
        "{names}"
    );

    // Prune: apply a set without k-a; objects of the set that are gone are deleted.
    std::fs::write(
        dir.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {k: v}\n",
    )?;
    let out = server.kubectl_ok("1.33", &["apply", "-k", &d, "--prune", "-l", "set=one"])?;
    assert!(
        out.contains("configmap/k-b created") && out.contains("configmap/k-a pruned"),
        "{out}"
    );
    let names = server.kubectl_ok("1.33", &["get", "cm", "-l", "set=one", "-o", "name"])?;
    assert!(
        !names.contains("configmap/k-a\n") && names.contains("configmap/k-b"),
        "{names}"
    );
    Ok(())
}

#[test]
fn server_side_apply_tracks_owners_and_reports_conflicts() -> Result<()> {
    let server = Server::start()?;
    for v in KUBECTL_VERSIONS {
        let name = format!("ssa{}", &v[2..]);
        let yaml = deployment(&name, TWO, "team: a");
        let path = server.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, &yaml)?;
        let p = path.to_string_lossy().to_string();
        let out = server.kubectl_ok(v, &["apply", "--server-side", "-f", &p])?;
        assert!(out.contains("serverside-applied"), "{out}");
        let d = get_json(
            &server,
            v,
            &[
                "get",
                "deploy",
                &name,
                "-o",
                "json",
                "--show-managed-fields",
            ],
        )?;
        let mf = &d["metadata"]["managedFields"];
        let apply_entry = mf
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["operation"] == "Apply");
        let entry = apply_entry.ok_or_else(|| anyhow::anyhow!("no Apply entry in {mf}"))?;
        assert_eq!(entry["manager"], "kubectl");
        assert_eq!(
            entry["fieldsV1"]["f:spec"]["f:replicas"],
            serde_json::json!({})
        );
        assert!(entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"].is_object(), "{entry}");

        // Another manager changes an applied field: the next apply conflicts.
        server.kubectl_ok(v, &["scale", "deploy", &name, "--replicas=5"])?;
        let out = server.kubectl(v, &["apply", "--server-side", "-f", &p]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Apply failed with 1 conflict: conflict with")
                && err.contains(".spec.replicas"),
            "{err}"
        );
        let d = get_json(&server, v, &["get", "deploy", &name, "-o", "json"])?;
        assert_eq!(
            d["spec"]["replicas"], 5,
            "a conflicting apply writes nothing"
        );

        // --force-conflicts takes the field back.
        server.kubectl_ok(
            v,
            &["apply", "--server-side", "--force-conflicts", "-f", &p],
        )?;
        let d = get_json(&server, v, &["get", "deploy", &name, "-o", "json"])?;
        assert_eq!(d["spec"]["replicas"], 1);

        // A field the applier stops applying is removed.
        std::fs::write(
            &path,
            yaml.replace("        - {name: B, value: \"2\"}\n", ""),
        )?;
        server.kubectl_ok(v, &["apply", "--server-side", "-f", &p])?;
        let d = get_json(&server, v, &["get", "deploy", &name, "-o", "json"])?;
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["env"],
            serde_json::json!([{"name": "A", "value": "1"}])
        );
    }
    Ok(())
}

#[test]
fn client_side_apply_upgrades_to_server_side() -> Result<()> {
    let server = Server::start()?;
    let v = "1.33";
    let yaml = deployment("up", TWO, "team: a");
    let path = server.dir.path().join("up.yaml");
    std::fs::write(&path, &yaml)?;
    let p = path.to_string_lossy().to_string();
    server.kubectl_ok(v, &["apply", "-f", &p])?;
    // The same file applied server-side takes over what client-side apply set.
    let out = server.kubectl_ok(v, &["apply", "--server-side", "-f", &p])?;
    assert!(out.contains("serverside-applied"), "{out}");
    // Then removing a label server-side removes it: ownership moved to the applier.
    std::fs::write(&path, yaml.replace("labels: {team: a}", "labels: {}"))?;
    server.kubectl_ok(v, &["apply", "--server-side", "-f", &p])?;
    let d = get_json(&server, v, &["get", "deploy", "up", "-o", "json"])?;
    assert!(
        d["metadata"]["labels"].get("team").is_none(),
        "{}",
        d["metadata"]
    );
    Ok(())
}
