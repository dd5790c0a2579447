//! Raw HTTP against a real `skiff server`: authentication, health, and the
//! `metav1.Status` answers kube-apiserver gives to bad input.

use std::process::Command;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use skiff_tests::Server;

/// A curl request with the admin certificate (or none); returns (code, body).
fn curl(
    server: &Server,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
    auth: bool,
) -> Result<(u16, String)> {
    let tls = server.dir.path().join("server").join("tls");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method])
        .arg("--cacert")
        .arg(tls.join("ca.crt"));
    if auth {
        cmd.arg("--cert")
            .arg(tls.join("admin.crt"))
            .arg("--key")
            .arg(tls.join("admin.key"));
    }
    let body_file = server
        .dir
        .path()
        .join(format!("body-{}", std::process::id()));
    if let Some((ct, data)) = body {
        std::fs::write(&body_file, data)?;
        cmd.args(["-H", &format!("Content-Type: {ct}")])
            .arg("--data-binary")
            .arg(format!("@{}", body_file.display()));
    }
    cmd.arg(format!("{}{}", server.url, path));
    let out = cmd.output().context("failed to run curl")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').context("no status line from curl")?;
    Ok((code.trim().parse()?, body.to_string()))
}

fn status_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

fn post(server: &Server, path: &str, obj: &Value) -> Result<(u16, Value)> {
    let (code, body) = curl(
        server,
        "POST",
        path,
        Some(("application/json", obj.to_string().as_bytes())),
        true,
    )?;
    Ok((code, status_of(&body)))
}

#[test]
fn unauthenticated_requests_get_401_except_health_and_version() -> Result<()> {
    let server = Server::start()?;
    for path in ["/api/v1/namespaces", "/metrics"] {
        let (code, body) = curl(&server, "GET", path, None, false)?;
        assert_eq!(code, 401, "{body}");
        assert_eq!(status_of(&body)["reason"], "Unauthorized");
    }
    for path in ["/healthz", "/livez", "/readyz"] {
        let (code, body) = curl(&server, "GET", path, None, false)?;
        assert_eq!((code, body.as_str()), (200, "ok"), "{path}");
    }
    let (code, body) = curl(&server, "GET", "/readyz?verbose", None, false)?;
    assert_eq!(code, 200);
    assert!(body.contains("readyz check passed"), "{body}");
    let (code, body) = curl(&server, "GET", "/version", None, false)?;
    assert_eq!(code, 200);
    let v = status_of(&body);
    assert_eq!(
        (v["major"].as_str(), v["minor"].as_str()),
        (Some("1"), Some("33"))
    );
    Ok(())
}

#[test]
fn bad_input_gets_upstreams_status() -> Result<()> {
    let server = Server::start()?;
    let cms = "/api/v1/namespaces/default/configmaps";

    // Malformed JSON and YAML.
    let (code, body) = curl(
        &server,
        "POST",
        cms,
        Some(("application/json", b"{\"kind\":")),
        true,
    )?;
    assert_eq!(
        (code, status_of(&body)["reason"].as_str()),
        (400, Some("BadRequest")),
        "{body}"
    );
    let (code, body) = curl(
        &server,
        "POST",
        cms,
        Some(("application/yaml", b"a: [b")),
        true,
    )?;
    assert_eq!(code, 400, "{body}");

    // Body of another kind.
    let (code, st) = post(
        &server,
        cms,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}),
    )?;
    assert_eq!(
        (code, st["reason"].as_str()),
        (400, Some("BadRequest")),
        "{st}"
    );
    let (code, st) = post(
        &server,
        cms,
        &json!({"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
    )?;
    assert_eq!(code, 400, "{st}");

    // Bad names.
    let long = "a".repeat(254);
    for name in ["Bad_Name", long.as_str(), "-x"] {
        let (code, st) = post(
            &server,
            cms,
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}),
        )?;
        assert_eq!(
            (code, st["reason"].as_str()),
            (422, Some("Invalid")),
            "{name}: {st}"
        );
        assert_eq!(st["details"]["causes"][0]["field"], "metadata.name", "{st}");
        assert!(
            st["message"].as_str().unwrap_or("").starts_with(&format!(
                "ConfigMap {name:?} is invalid: metadata.name: Invalid value"
            )),
            "{st}"
        );
    }
    let (code, st) = post(
        &server,
        cms,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
    )?;
    assert_eq!(code, 422, "{st}");
    assert_eq!(
        st["message"],
        "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required"
    );

    // Too large.
    let big = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"big\"}},\"data\":{{\"a\":\"{}\"}}}}",
        "x".repeat(3 * 1024 * 1024 + 10)
    );
    let (code, body) = curl(
        &server,
        "POST",
        cms,
        Some(("application/json", big.as_bytes())),
        true,
    )?;
    assert_eq!(
        (code, status_of(&body)["reason"].as_str()),
        (413, Some("RequestEntityTooLarge")),
        "{}",
        &body[..body.len().min(300)]
    );

    // Bad selectors, resource versions and continue tokens.
    for q in [
        "labelSelector=a%20in%20(",
        "fieldSelector=foo",
        "fieldSelector=spec.nope%3Dx",
        "resourceVersion=abc&resourceVersionMatch=Exact",
        "limit=1&continue=%25%25",
    ] {
        let (code, body) = curl(&server, "GET", &format!("{cms}?{q}"), None, true)?;
        assert_eq!(
            (code, status_of(&body)["reason"].as_str()),
            (400, Some("BadRequest")),
            "{q}: {body}"
        );
    }
    let (code, body) = curl(
        &server,
        "GET",
        "/api/v1/namespaces/default/pods?fieldSelector=spec.nope%3Dx",
        None,
        true,
    )?;
    assert_eq!(code, 400);
    assert_eq!(
        status_of(&body)["message"],
        "field label not supported: spec.nope"
    );

    // Unknown resources and verbs.
    let (code, body) = curl(
        &server,
        "GET",
        "/api/v1/namespaces/default/nothings",
        None,
        true,
    )?;
    assert_eq!(
        (code, status_of(&body)["reason"].as_str()),
        (404, Some("NotFound")),
        "{body}"
    );
    let (code, body) = curl(&server, "GET", "/apis/nope.example.com/v1", None, true)?;
    assert_eq!(code, 404, "{body}");
    let (code, body) = curl(&server, "DELETE", "/api/v1/namespaces", None, true)?;
    assert_eq!(
        (code, status_of(&body)["reason"].as_str()),
        (405, Some("MethodNotAllowed")),
        "{body}"
    );

    // Missing namespace and protected namespaces.
    let (code, st) = post(
        &server,
        "/api/v1/namespaces/nope/configmaps",
        &json!({"metadata": {"name": "a"}}),
    )?;
    assert_eq!(
        (code, st["message"].as_str()),
        (404, Some("namespaces \"nope\" not found")),
        "{st}"
    );
    let (code, body) = curl(&server, "DELETE", "/api/v1/namespaces/default", None, true)?;
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        status_of(&body)["message"],
        "namespaces \"default\" is forbidden: this namespace may not be deleted"
    );

    // Nothing was written by any of the above, and the server still serves.
    let (code, body) = curl(&server, "GET", cms, None, true)?;
    assert_eq!(code, 200);
    assert_eq!(status_of(&body)["items"], json!([]), "{body}");
    Ok(())
}

#[test]
fn optimistic_concurrency_and_create_conflicts() -> Result<()> {
    let server = Server::start()?;
    let cms = "/api/v1/namespaces/default/configmaps";
    let (code, created) = post(
        &server,
        cms,
        &json!({"metadata": {"name": "c"}, "data": {"a": "1"}}),
    )?;
    assert_eq!(code, 201, "{created}");
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let (code, st) = post(&server, cms, &json!({"metadata": {"name": "c"}}))?;
    assert_eq!(
        (code, st["reason"].as_str(), st["message"].as_str()),
        (
            409,
            Some("AlreadyExists"),
            Some("configmaps \"c\" already exists")
        )
    );

    let mut updated = created.clone();
    updated["data"]["a"] = json!("2");
    let (code, body) = curl(
        &server,
        "PUT",
        &format!("{cms}/c"),
        Some(("application/json", updated.to_string().as_bytes())),
        true,
    )?;
    assert_eq!(code, 200, "{body}");
    // The same resourceVersion again is now stale.
    updated["data"]["a"] = json!("3");
    let (code, body) = curl(
        &server,
        "PUT",
        &format!("{cms}/c"),
        Some(("application/json", updated.to_string().as_bytes())),
        true,
    )?;
    let st = status_of(&body);
    assert_eq!(
        (code, st["reason"].as_str()),
        (409, Some("Conflict")),
        "{body}"
    );
    assert_eq!(
        st["message"],
        "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(updated["metadata"]["resourceVersion"], json!(rv));

    // A JSON patch whose test fails changes nothing.
    let patch = br#"[{"op":"test","path":"/data/a","value":"nope"},{"op":"replace","path":"/data/a","value":"x"}]"#;
    let (code, body) = curl(
        &server,
        "PATCH",
        &format!("{cms}/c"),
        Some(("application/json-patch+json", patch)),
        true,
    )?;
    assert_eq!(code, 422, "{body}");
    let (_, body) = curl(&server, "GET", &format!("{cms}/c"), None, true)?;
    assert_eq!(status_of(&body)["data"]["a"], "2");
    Ok(())
}

#[test]
fn a_create_right_after_its_namespace_is_deleted_is_forbidden() -> Result<()> {
    // The namespace check of a create reads the watch cache; a namespace
    // deleted through this server is looked up in the store for a while, so
    // even a cache that has not seen the delete yet cannot admit the create.
    let server = Server::start()?;
    let (code, body) = post(
        &server,
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "gone"}}),
    )?;
    assert_eq!(code, 201, "{body}");
    let cms = "/api/v1/namespaces/gone/configmaps";
    let (code, body) = post(&server, cms, &json!({"metadata": {"name": "before"}}))?;
    assert_eq!(code, 201, "{body}");
    let (code, body) = curl(&server, "DELETE", "/api/v1/namespaces/gone", None, true)?;
    assert_eq!(code, 200, "{body}");
    let (code, st) = post(&server, cms, &json!({"metadata": {"name": "after"}}))?;
    assert_eq!(
        (code, st["reason"].as_str(), st["message"].as_str()),
        (
            403,
            Some("Forbidden"),
            Some(
                "configmaps \"after\" is forbidden: unable to create new content in namespace gone because it is being terminated"
            )
        ),
        "{st}"
    );
    assert_eq!(st["details"]["causes"][0]["reason"], "NamespaceTerminating");
    Ok(())
}

#[test]
fn pagination_with_limit_and_continue() -> Result<()> {
    let server = Server::start()?;
    let cms = "/api/v1/namespaces/default/configmaps";
    for i in 0..7 {
        let (code, st) = post(
            &server,
            cms,
            &json!({"metadata": {"name": format!("p{i}"), "labels": {"odd": (i % 2 == 1).to_string()}}}),
        )?;
        assert_eq!(code, 201, "{st}");
    }
    let mut names = Vec::new();
    let mut token = String::new();
    let mut first_rv = String::new();
    for _ in 0..10 {
        let q = if token.is_empty() {
            "limit=3".to_string()
        } else {
            format!("limit=3&continue={token}")
        };
        let (code, body) = curl(&server, "GET", &format!("{cms}?{q}"), None, true)?;
        assert_eq!(code, 200, "{body}");
        let list = status_of(&body);
        for item in list["items"].as_array().into_iter().flatten() {
            names.push(item["metadata"]["name"].as_str().unwrap_or("").to_string());
        }
        let rv = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if first_rv.is_empty() {
            first_rv = rv.clone();
            // A write between pages is not seen: every page is read at the first page's revision.
            post(&server, cms, &json!({"metadata": {"name": "p9-late"}}))?;
        }
        assert_eq!(rv, first_rv, "pages share one revision");
        token = list["metadata"]["continue"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(names, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);

    // A resourceVersion with a limit and no match is the legacy form of
    // Exact: the first page's revision, without the late write.
    let (code, body) = curl(
        &server,
        "GET",
        &format!("{cms}?resourceVersion={first_rv}&limit=100"),
        None,
        true,
    )?;
    assert_eq!(code, 200, "{body}");
    let list = status_of(&body);
    assert_eq!(list["metadata"]["resourceVersion"], first_rv.as_str());
    let at_first: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(at_first, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
    // An exact revision the store has not reached: etcd3's answer.
    let (code, body) = curl(
        &server,
        "GET",
        &format!("{cms}?resourceVersion=99999999&resourceVersionMatch=Exact&limit=1"),
        None,
        true,
    )?;
    assert_eq!(code, 504, "{body}");
    let st = status_of(&body);
    assert_eq!(st["reason"], "Timeout");
    assert!(
        st["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Too large resource version: 99999999, current: ")),
        "{st}"
    );

    // kubectl pages too.
    let out = server.kubectl_ok(
        "1.33",
        &[
            "get",
            "cm",
            "-n",
            "default",
            "--chunk-size=2",
            "-l",
            "odd=true",
            "-o",
            "name",
        ],
    )?;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["configmap/p1", "configmap/p3", "configmap/p5"]
    );
    Ok(())
}

/// Regression: a selector whose matches filled the limit exactly at the end of
/// a store page returned the page without a continue token.
#[test]
fn selector_list_continues_when_a_page_fills_exactly() -> Result<()> {
    let server = Server::start()?;
    let cms = "/api/v1/namespaces/default/configmaps";
    for i in 0..130 {
        let (code, st) = post(
            &server,
            cms,
            &json!({"metadata": {"name": format!("c{i:03}"), "labels": {"all": "yes"}}}),
        )?;
        assert_eq!(code, 201, "{st}");
    }
    let (code, body) = curl(
        &server,
        "GET",
        &format!("{cms}?limit=100&labelSelector=all%3Dyes"),
        None,
        true,
    )?;
    assert_eq!(code, 200);
    let list = status_of(&body);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(100));
    let token = list["metadata"]["continue"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        !token.is_empty(),
        "a continue token for the remaining 30: {}",
        list["metadata"]
    );
    let (_, body) = curl(
        &server,
        "GET",
        &format!("{cms}?limit=100&labelSelector=all%3Dyes&continue={token}"),
        None,
        true,
    )?;
    let rest = status_of(&body);
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(30));
    assert_eq!(rest["items"][0]["metadata"]["name"], "c100");
    Ok(())
}

#[test]
fn nodes_keep_status_on_create_and_stale_uids_conflict() -> Result<()> {
    let server = Server::start()?;
    let (code, node) = post(
        &server,
        "/api/v1/nodes",
        &json!({"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "4"}, "conditions": [{"type": "Ready", "status": "True"}]}}),
    )?;
    assert_eq!(code, 201, "{node}");
    assert_eq!(
        node["status"]["capacity"]["cpu"], "4",
        "kubelet registers nodes with their status"
    );

    // A pod's status written for an earlier pod of the same name is refused.
    let pods = "/api/v1/namespaces/default/pods";
    let (code, pod) = post(
        &server,
        pods,
        &json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
    )?;
    assert_eq!(code, 201, "{pod}");
    let mut stale = pod.clone();
    stale["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000000");
    stale["metadata"]
        .as_object_mut()
        .map(|m| m.remove("resourceVersion"));
    stale["status"]["phase"] = json!("Running");
    let (code, body) = curl(
        &server,
        "PUT",
        &format!("{pods}/p/status"),
        Some(("application/json", stale.to_string().as_bytes())),
        true,
    )?;
    assert_eq!(code, 409, "{body}");
    assert!(
        status_of(&body)["message"]
            .as_str()
            .unwrap_or("")
            .contains("Precondition failed: UID in precondition"),
        "{body}"
    );
    let (_, body) = curl(&server, "GET", &format!("{pods}/p"), None, true)?;
    assert_eq!(status_of(&body)["status"]["phase"], "Pending");
    Ok(())
}

/// Patches without a resourceVersion never fail with a conflict: a lost
/// compare-and-swap is retried on the newer object, as GuaranteedUpdate does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_without_resource_version_all_land() -> Result<()> {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, Patch, PatchParams, PostParams};

    let server = Server::start()?;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "hot"}}))?;
    api.create(&PostParams::default(), &cm).await?;
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let api = api.clone();
            tokio::spawn(async move {
                for i in 0..40 {
                    let patch = json!({"data": {format!("w{w}"): i.to_string()}});
                    api.patch("hot", &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .with_context(|| format!("writer {w} patch {i}"))?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for w in writers {
        w.await??;
    }
    let data = api.get("hot").await?.data.unwrap_or_default();
    for w in 0..6 {
        assert_eq!(data.get(&format!("w{w}")).map(String::as_str), Some("39"));
    }
    Ok(())
}

/// A repeated field keeps its last value; `fieldValidation` reports it in
/// upstream's words (a warning by default, a 400 under Strict).
#[test]
fn duplicate_fields_are_reported_by_field_validation() -> Result<()> {
    let server = Server::start()?;
    let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d","name":"d"},"data":{"a":"1","a":"2"}}"#;
    let cms = "/api/v1/namespaces/default/configmaps";
    let (code, text) = curl(
        &server,
        "POST",
        &format!("{cms}?fieldValidation=Strict"),
        Some(("application/json", body)),
        true,
    )?;
    let st = status_of(&text);
    assert_eq!(
        (code, st["reason"].as_str()),
        (400, Some("BadRequest")),
        "{text}"
    );
    assert_eq!(
        st["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: duplicate field \"metadata.name\", duplicate field \"data.a\""
    );
    let (code, text) = curl(&server, "POST", cms, Some(("application/json", body)), true)?;
    assert_eq!(code, 201, "{text}");
    assert_eq!(status_of(&text)["data"]["a"], "2");
    Ok(())
}

/// The review APIs: the decision comes from the server, whatever status the
/// client sent; malformed reviews get upstream's errors.
#[test]
fn access_reviews_answer_and_reject_as_upstream() -> Result<()> {
    let server = Server::start()?;
    let ssar = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let (code, review) = post(
        &server,
        ssar,
        &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "delete", "resource": "pods"}},
            "status": {"allowed": false, "reason": "forged"}}),
    )?;
    assert_eq!(code, 201, "{review}");
    assert_eq!(review["kind"], "SelfSubjectAccessReview");
    assert_eq!(review["status"], json!({"allowed": true}));
    assert_eq!(review["spec"]["resourceAttributes"]["verb"], "delete");

    let (code, st) = post(&server, ssar, &json!({"spec": {}}))?;
    assert_eq!(code, 422, "{st}");
    assert_eq!(
        st["message"],
        r#"SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified"#
    );

    let sar = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    let (code, st) = post(
        &server,
        sar,
        &json!({"spec": {"nonResourceAttributes": {"path": "/metrics", "verb": "get"}}}),
    )?;
    assert_eq!(code, 422, "{st}");
    assert_eq!(
        st["message"],
        r#"SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified"#
    );
    let (code, review) = post(
        &server,
        sar,
        &json!({"spec": {"user": "alice", "nonResourceAttributes": {"path": "/metrics", "verb": "get"}}}),
    )?;
    assert_eq!((code, &review["status"]), (201, &json!({"allowed": true})));

    let lsar = "/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews";
    let (code, st) = post(
        &server,
        lsar,
        &json!({"spec": {"user": "alice", "resourceAttributes": {"namespace": "other", "verb": "get", "resource": "pods"}}}),
    )?;
    assert_eq!(code, 422, "{st}");
    assert_eq!(
        st["message"],
        r#"LocalSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes.namespace: Invalid value: "other": must match metadata.namespace"#
    );
    let (code, review) = post(
        &server,
        lsar,
        &json!({"spec": {"user": "alice", "resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}}}),
    )?;
    assert_eq!(code, 201, "{review}");
    assert_eq!(review["metadata"]["namespace"], "default");

    let ssrr = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";
    let (code, st) = post(&server, ssrr, &json!({"spec": {}}))?;
    assert_eq!(
        (code, st["message"].as_str()),
        (400, Some("no namespace on request"))
    );
    Ok(())
}

/// `/metrics`: requests by verb, resource, scope and code with their
/// latencies, open watches and stored objects, in the Prometheus text form.
#[test]
fn metrics_count_requests_and_stored_objects() -> Result<()> {
    let server = Server::start()?;
    let cms = "/api/v1/namespaces/default/configmaps";
    for i in 0..3 {
        let (code, st) = post(
            &server,
            cms,
            &json!({"metadata": {"name": format!("m{i}")}}),
        )?;
        assert_eq!(code, 201, "{st}");
    }
    let (code, _) = post(&server, cms, &json!({"metadata": {"name": "m0"}}))?;
    assert_eq!(code, 409);
    let (code, text) = curl(&server, "GET", "/metrics", None, true)?;
    assert_eq!(code, 200, "{text}");
    let value = |series: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
    };
    let labels = r#"component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="POST",version="v1""#;
    assert_eq!(
        value(&format!(
            r#"apiserver_request_total{{code="201",{labels}}}"#
        )),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(&format!(
            r#"apiserver_request_total{{code="409",{labels}}}"#
        )),
        Some(1.0)
    );
    assert_eq!(
        value(&format!(
            r#"apiserver_request_duration_seconds_count{{{labels}}}"#
        )),
        Some(4.0)
    );
    assert_eq!(
        value(&format!(
            r#"apiserver_request_duration_seconds_bucket{{{labels},le="+Inf"}}"#
        )),
        Some(4.0)
    );
    assert!(text.contains("# TYPE apiserver_request_duration_seconds histogram"));
    assert_eq!(
        value(r#"apiserver_storage_objects{resource="configmaps"}"#).map(|n| n >= 3.0),
        Some(true),
        "{text}"
    );
    // The in-process controllers and scheduler keep watches open.
    assert!(
        text.lines()
            .any(|l| l.starts_with("apiserver_longrunning_requests{")
                && l.contains(r#"verb="WATCH""#)),
        "{text}"
    );
    assert!(value("process_resident_memory_bytes").is_some_and(|b| b > 0.0));
    Ok(())
}
