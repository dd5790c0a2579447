//! The update pipeline started from a cached copy of the object gives what
//! the pipeline started from the store gives, also when the copy is stale.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use skiff_core::meta;

use super::*;
use crate::request::Query;

/// A started server over a fresh SQLite store; the directory lives as long
/// as the server.
struct TestServer {
    running: crate::Running,
    _dir: tempfile::TempDir,
}

async fn start() -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        skiff_store::SqliteStore::open_default(dir.path().join("state.db")).expect("store opens");
    let config = crate::Config {
        tls_dir: dir.path().join("tls"),
        listen: "127.0.0.1:0".parse().expect("address"),
        tls_sans: Vec::new(),
        service_cidr: "10.43.0.0/16".parse().expect("cidr"),
    };
    let running = crate::server::start(config, Arc::new(store))
        .await
        .expect("server starts");
    TestServer { running, _dir: dir }
}

/// What one request to a configmap carries besides the server.
struct Request {
    info: RequestInfo,
    user: crate::pki::UserInfo,
    query: Query,
    warnings: Mutex<Vec<String>>,
    duplicates: Mutex<Vec<String>>,
}

fn test_user() -> crate::pki::UserInfo {
    crate::pki::UserInfo {
        name: "test".into(),
        groups: vec!["system:masters".into(), "system:authenticated".into()],
    }
}

fn request(verb: &str, name: &str, query: &str) -> Request {
    Request {
        info: RequestInfo {
            is_resource: true,
            verb: verb.into(),
            prefix: "api".into(),
            version: "v1".into(),
            namespace: "default".into(),
            resource: "configmaps".into(),
            name: name.into(),
            ..RequestInfo::default()
        },
        user: test_user(),
        query: Query::parse(Some(query)),
        warnings: Mutex::new(Vec::new()),
        duplicates: Mutex::new(Vec::new()),
    }
}

fn ctx<'a>(server: &'a Arc<ApiServer>, r: &'a Request) -> Ctx<'a> {
    let info = skiff_core::registry::lookup("", "v1", "configmaps").expect("configmaps");
    Ctx {
        server,
        info,
        strategy: strategy::for_resource(info),
        req: &r.info,
        user: &r.user,
        query: &r.query,
        accept: Accept::Json,
        pretty: false,
        warnings: &r.warnings,
        user_agent: "test/v0",
        duplicates: &r.duplicates,
        omit_managed_fields: false,
    }
}

/// A main-part update of the ConfigMap `a`, not dry run, from `start`.
async fn update_a(
    c: &Ctx<'_>,
    key: &str,
    transform: impl FnMut(&Value) -> Result<Value>,
    start: Option<(Value, i64)>,
) -> Result<(Value, bool)> {
    update_from(c, key, "a", Part::Main, false, transform, start).await
}

fn merge(patch: Value) -> impl FnMut(&Value) -> Result<Value> {
    move |current| {
        let mut doc = current.clone();
        json_patch::merge(&mut doc, &patch);
        Ok(doc)
    }
}

fn rv(obj: &Value) -> i64 {
    meta::resource_version(obj)
        .parse()
        .expect("a numeric resourceVersion")
}

/// Creates configmap `a` with `data`, then changes it to `later`: returns
/// the server and the stored form of the first state with its revision,
/// which is then stale.
async fn stale_copy(data: Value, later: Value) -> (TestServer, (Value, i64)) {
    let t = start().await;
    let server = &t.running.server;
    let r = request("create", "", "");
    let created = create_object(
        &ctx(server, &r),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "a", "namespace": "default"}, "data": data}),
        false,
        false,
    )
    .await
    .expect("created");
    let r = request("patch", "a", "");
    let c = ctx(server, &r);
    let key = c.key("default", "a");
    let first = wait_cached(&c, &key, rv(&created)).await;
    let (changed, _) = update_object(&c, "a", Part::Main, false, merge(json!({"data": later})))
        .await
        .expect("changed");
    assert!(rv(&changed) > first.1);
    wait_cached(&c, &key, rv(&changed)).await;
    (t, first)
}

/// The cache's copy of `key` once it has reached `revision`.
async fn wait_cached(ctx: &Ctx<'_>, key: &str, revision: i64) -> (Value, i64) {
    for _ in 0..500 {
        if let Some((obj, rev)) = cached_current(ctx, key).await
            && rev >= revision
        {
            return (obj, rev);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the cache did not reach revision {revision} of {key}");
}

#[tokio::test]
async fn the_cached_copy_is_the_stored_object() {
    let t = start().await;
    let server = &t.running.server;
    let r = request("create", "", "");
    let created = create_object(
        &ctx(server, &r),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "a", "namespace": "default", "labels": {"x": "y"}},
               "data": {"k": "v"}, "binaryData": {"b": "AAE="}}),
        false,
        false,
    )
    .await
    .expect("created");
    let r = request("get", "a", "");
    let c = ctx(server, &r);
    let key = c.key("default", "a");
    let (cached, rev) = wait_cached(&c, &key, rv(&created)).await;
    let kv = read_current(&c, &key, "a").await.expect("stored");
    assert_eq!(rev, kv.mod_revision);
    let stored = decode_stored(&kv).expect("JSON");
    assert_eq!(cached, stored);
    // The same fields in the same order: what is written back from the
    // cached copy keeps the stored layout (kind and apiVersion aside, which
    // every response puts in front).
    let order = |v: &Value| -> Vec<String> {
        let mut keys: Vec<String> = v
            .as_object()
            .expect("object")
            .keys()
            .filter(|k| *k != "kind" && *k != "apiVersion")
            .cloned()
            .collect();
        keys.extend(v["metadata"].as_object().expect("metadata").keys().cloned());
        keys
    };
    assert_eq!(order(&cached), order(&stored));
}

#[tokio::test]
async fn an_update_from_a_stale_copy_lands_on_the_current_object() {
    let (t, stale) = stale_copy(json!({"a": "1"}), json!({"a": "2"})).await;
    let server = &t.running.server;
    let r = request("patch", "a", "");
    let c = ctx(server, &r);
    let key = c.key("default", "a");
    let before = read_current(&c, &key, "a").await.expect("stored");
    let (obj, _) = update_a(&c, &key, merge(json!({"data": {"b": "3"}})), Some(stale))
        .await
        .expect("updated after re-reading");
    assert_eq!(obj["data"], json!({"a": "2", "b": "3"}));
    assert!(rv(&obj) > before.mod_revision);
    let stored = decode_stored(&read_current(&c, &key, "a").await.expect("stored")).expect("JSON");
    assert_eq!(stored["data"], json!({"a": "2", "b": "3"}));
}

#[tokio::test]
async fn a_stale_copy_does_not_fail_a_current_resource_version() {
    let (t, stale) = stale_copy(json!({"a": "1"}), json!({"a": "2"})).await;
    let server = &t.running.server;
    let r = request("update", "a", "");
    let c = ctx(server, &r);
    let key = c.key("default", "a");
    let current = read_current(&c, &key, "a")
        .await
        .expect("stored")
        .mod_revision;
    let (obj, _) = update_a(
        &c,
        &key,
        merge(json!({"metadata": {"resourceVersion": current.to_string()}, "data": {"a": "4"}})),
        Some(stale),
    )
    .await
    .expect("the current resourceVersion is no conflict");
    assert_eq!(obj["data"], json!({"a": "4"}));
}

#[tokio::test]
async fn a_stale_resource_version_conflicts_whatever_the_copy() {
    let (t, stale) = stale_copy(json!({"a": "1"}), json!({"a": "2"})).await;
    let server = &t.running.server;
    let r = request("update", "a", "");
    let c = ctx(server, &r);
    let key = c.key("default", "a");
    let old_rv = stale.1.to_string();
    let fresh = cached_current(&c, &key).await;
    assert!(fresh.as_ref().is_some_and(|(_, rev)| *rev > stale.1));
    // From the stale copy (which agrees with the client) and from a current one.
    for start in [Some(stale), fresh] {
        let err = update_a(
            &c,
            &key,
            merge(json!({"metadata": {"resourceVersion": old_rv}, "data": {"a": "5"}})),
            start,
        )
        .await
        .expect_err("a stale resourceVersion conflicts");
        assert_eq!((err.code, err.reason), (409, "Conflict"));
    }
    let stored = decode_stored(&read_current(&c, &key, "a").await.expect("stored")).expect("JSON");
    assert_eq!(stored["data"], json!({"a": "2"}));
}

#[tokio::test]
async fn a_no_op_on_a_stale_copy_is_redone_from_the_store() {
    // The write repeats the stale state: from the copy it changes nothing,
    // from the store it changes `a` back.
    let (t, stale) = stale_copy(json!({"a": "1"}), json!({"a": "2"})).await;
    let server = &t.running.server;
    let r = request("patch", "a", "");
    let c = ctx(server, &r);
    let key = c.key("default", "a");
    let before = read_current(&c, &key, "a")
        .await
        .expect("stored")
        .mod_revision;
    let (obj, _) = update_a(&c, &key, merge(json!({"data": {"a": "1"}})), Some(stale))
        .await
        .expect("updated");
    assert_eq!(obj["data"], json!({"a": "1"}));
    assert!(rv(&obj) > before, "written, not answered from the copy");
}

#[tokio::test]
async fn an_error_on_a_current_copy_is_the_answer() {
    let (t, _) = stale_copy(json!({"a": "1"}), json!({"a": "2"})).await;
    let server = &t.running.server;
    let r = request("patch", "a", "");
    let c = ctx(server, &r);
    let key = c.key("default", "a");
    let fresh = cached_current(&c, &key).await;
    let mut calls = 0;
    let err = update_a(
        &c,
        &key,
        |_: &Value| {
            calls += 1;
            Err(Status::bad_request("refused"))
        },
        fresh,
    )
    .await
    .expect_err("the transform refuses");
    assert_eq!(err.message, "refused");
    assert_eq!(
        calls, 1,
        "a store read at the same revision confirms the error"
    );
}

/// What a status write stored before `with_status_of`: a copy of the old
/// object with the new status set in it.
fn with_status_by_copy(old: &Value, new: &Value) -> Value {
    let mut merged = old.clone();
    match new.get("status") {
        Some(s) => merged["status"] = s.clone(),
        None => {
            if let Some(m) = merged.as_object_mut() {
                m.remove("status");
            }
        }
    }
    merged
}

#[test]
fn a_status_write_keeps_the_old_object_but_its_status() {
    let olds = [
        json!({"kind": "Pod", "metadata": {"name": "a"}, "spec": {"x": 1}, "status": {"phase": "Pending"}}),
        json!({"kind": "Pod", "metadata": {"name": "a"}, "status": {"phase": "Pending"}, "spec": {"x": 1}}),
        json!({"kind": "Pod", "metadata": {"name": "a"}, "spec": {"x": 1}}),
    ];
    let news = [
        json!({"metadata": {"name": "b"}, "spec": {"x": 2}, "status": {"phase": "Running"}}),
        json!({"status": null}),
        json!({"spec": {"x": 3}}),
    ];
    for old in &olds {
        for new in &news {
            let want = with_status_by_copy(old, new);
            let got = with_status_of(old, new.clone());
            // Equal, and in the same order.
            assert_eq!(
                serde_json::to_string(&got).expect("encodes"),
                serde_json::to_string(&want).expect("encodes"),
                "old {old}, new {new}"
            );
        }
    }
}

/// A request to the pod `p` in `default` (`subresource` empty for the
/// pod itself).
fn pod_request(verb: &str, subresource: &str, duplicates: Vec<String>) -> Request {
    Request {
        info: RequestInfo {
            is_resource: true,
            verb: verb.into(),
            prefix: "api".into(),
            version: "v1".into(),
            namespace: "default".into(),
            resource: "pods".into(),
            subresource: subresource.into(),
            name: "p".into(),
            ..RequestInfo::default()
        },
        user: test_user(),
        query: Query::parse(None),
        warnings: Mutex::new(Vec::new()),
        duplicates: Mutex::new(duplicates),
    }
}

fn pod_ctx<'a>(server: &'a Arc<ApiServer>, r: &'a Request) -> Ctx<'a> {
    let info = skiff_core::registry::lookup("", "v1", "pods").expect("pods");
    Ctx {
        info,
        strategy: strategy::for_resource(info),
        user_agent: "skiff-sim/v0",
        ..ctx(server, r)
    }
}

/// An outcome to compare: the object with its managedFields times blanked
/// (two writes may fall in two seconds), or the error.
fn comparable(outcome: Result<(Value, bool)>) -> std::result::Result<String, (u16, String)> {
    match outcome {
        Ok((mut obj, _)) => {
            if let Some(Value::Array(entries)) = obj.pointer_mut("/metadata/managedFields") {
                for e in entries {
                    e["time"] = json!("");
                }
            }
            Ok(serde_json::to_string(&obj).expect("encodes"))
        }
        Err(e) => Err((e.code, e.message)),
    }
}

/// A status write whose patch changes only the status decodes only the
/// status through the Pod type; what it stores, answers and warns is what
/// the whole object's round trip gives, on a real pod: created, bound (the
/// binding leaves `spec.nodeName` out of the type's field order), then
/// status-patched again and again, also with unknown fields, wrong types
/// and a null status.
#[tokio::test]
async fn a_status_only_write_stores_what_the_whole_round_trip_stores() {
    let t = start().await;
    let server = &t.running.server;
    let r = pod_request("create", "", Vec::new());
    create_object(
        &pod_ctx(server, &r),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "p", "namespace": "default", "labels": {"app": "a"}},
               "spec": {"containers": [{"name": "c", "image": "i",
                                        "resources": {"requests": {"cpu": "100m"}}}]}}),
        false,
        false,
    )
    .await
    .expect("created");
    let r = pod_request("create", "binding", Vec::new());
    crate::subresource::bind(
        &pod_ctx(server, &r),
        "p",
        &json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                "target": {"kind": "Node", "name": "n1"}}),
    )
    .await
    .expect("bound");

    let running = |ready: &str, ip: &str| {
        json!({"status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": ready, "lastProbeTime": null, "lastTransitionTime": "2026-11-22T10:00:01Z"},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T10:00:00Z"}],
            "podIP": ip, "podIPs": [{"ip": ip}], "startTime": "2026-11-22T10:00:01Z",
            "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": ready == "True",
                                   "restartCount": 0, "state": {"running": {"startedAt": "2026-11-22T10:00:01Z"}}}]}})
    };
    let patches = [
        running("True", "10.42.0.2"),
        running("False", "10.42.0.2"),
        json!({"status": {"bogus": 1, "phase": "Running"}}),
        json!({"status": {"podIPs": [{"ip": "10.42.0.3", "extra": true}]}}),
        json!({"status": {"startTime": 5}}),
        json!({"status": {"containerStatuses": "none"}}),
        running("True", "10.42.0.4"),
        json!({"status": null}),
        running("True", "10.42.0.5"),
    ];
    for (i, patch) in patches.iter().enumerate() {
        // The shortcut's premise: the merge patch leaves all but the status
        // as the transform got it.
        let r = pod_request("patch", "status", Vec::new());
        let c = pod_ctx(server, &r);
        let key = c.key("default", "p");
        let current = read_current(&c, &key, "p").await.expect("stored");
        let mut seen = decode_stored(&current).expect("JSON");
        meta::set_meta(
            &mut seen,
            "resourceVersion",
            json!(current.mod_revision.to_string()),
        );
        let mut patched = seen.clone();
        json_patch::merge(&mut patched, patch);
        assert!(changes_only_status(&seen, &patched), "patch {i}");

        // Dry runs through the shortcut and through the whole round trip
        // (a repeated-field path that names nothing turns the shortcut off).
        let fast_r = pod_request("patch", "status", Vec::new());
        let fast = patch_status(server, &fast_r, true, patch).await;
        let whole_r = pod_request("patch", "status", vec!["-".into()]);
        let whole = patch_status(server, &whole_r, true, patch).await;
        assert_eq!(comparable(fast), comparable(whole), "patch {i}");
        assert_eq!(
            *fast_r.warnings.lock().expect("warnings"),
            *whole_r.warnings.lock().expect("warnings"),
            "patch {i}"
        );

        // Then for real: the next patch starts from what this one stored.
        let r = pod_request("patch", "status", Vec::new());
        let _ = patch_status(server, &r, false, patch).await;
    }
}

/// A merge patch of pod `p`'s status through `update_object`.
async fn patch_status(
    server: &Arc<ApiServer>,
    r: &Request,
    dry_run: bool,
    patch: &Value,
) -> Result<(Value, bool)> {
    update_object(
        &pod_ctx(server, r),
        "p",
        Part::Status,
        dry_run,
        merge(patch.clone()),
    )
    .await
}

#[test]
fn the_order_check_ignores_the_status_and_sees_every_level() {
    let old = json!({"kind": "Pod", "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}},
                     "spec": {"containers": [{"name": "c", "image": "i"}]}, "status": {"phase": "Pending"}});
    // Status changed and moved: still in order.
    let new = json!({"kind": "Pod", "status": {"podIP": "10.0.0.1", "phase": "Running"},
                     "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}},
                     "spec": {"containers": [{"name": "c", "image": "i"}]}});
    assert!(same_order_but_status(&old, &new));
    // Equal, but a nested map in another order.
    let labels = json!({"kind": "Pod", "metadata": {"name": "p", "labels": {"b": "2", "a": "1"}},
                        "spec": {"containers": [{"name": "c", "image": "i"}]}});
    assert!(!same_order_but_status(&old, &labels));
    let in_list = json!({"kind": "Pod", "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}},
                         "spec": {"containers": [{"image": "i", "name": "c"}]}});
    assert!(!same_order_but_status(&old, &in_list));
    let top = json!({"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}, "kind": "Pod",
                     "spec": {"containers": [{"name": "c", "image": "i"}]}});
    assert!(!same_order_but_status(&old, &top));
}
