//! Behaviours of upstream's field manager and structured-merge-diff, in our
//! own words.

use serde_json::{Value, json};

use super::*;

const T0: &str = "2025-01-01T00:00:00Z";
const T1: &str = "2025-01-01T00:01:00Z";
const T2: &str = "2025-01-01T00:02:00Z";

/// The fields a real v1.33 cluster records for `kubectl create deployment
/// nginx --image=nginx` (manager `kubectl-create`), as the Server-Side Apply
/// documentation shows them.
fn kubectl_create_fields() -> Value {
    json!({
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:progressDeadlineSeconds": {},
            "f:replicas": {},
            "f:revisionHistoryLimit": {},
            "f:selector": {},
            "f:strategy": {
                "f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
                "f:type": {}
            },
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        "k:{\"name\":\"nginx\"}": {
                            ".": {},
                            "f:image": {},
                            "f:imagePullPolicy": {},
                            "f:name": {},
                            "f:resources": {},
                            "f:terminationMessagePath": {},
                            "f:terminationMessagePolicy": {}
                        }
                    },
                    "f:dnsPolicy": {},
                    "f:restartPolicy": {},
                    "f:schedulerName": {},
                    "f:securityContext": {},
                    "f:terminationGracePeriodSeconds": {}
                }
            }
        }
    })
}

/// The Deployment that command stores (after defaulting).
fn created_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "nginx",
            "namespace": "default",
            "labels": {"app": "nginx"}
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {
                    "containers": [{
                        "name": "nginx",
                        "image": "nginx",
                        "imagePullPolicy": "Always",
                        "resources": {},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"
                    }],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30
                }
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600
        }
    })
}

fn entries(obj: &Value) -> Vec<Value> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn entry<'a>(obj: &'a Value, manager: &str) -> Option<&'a Value> {
    obj.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager)
}

/// Marks the object as stored (a uid), as the API server does after create.
fn stored(mut obj: Value) -> Value {
    obj["metadata"]["uid"] = json!("6a1b5c1e-0000-4000-8000-000000000001");
    obj
}

/// The Deployment as stored after `kubectl create`: one Update entry of
/// `kubectl-create` at [`T0`].
fn kubectl_created() -> Value {
    stored(kubectl_create())
}

/// What `kubectl create` of the Deployment returns from field management
/// (before the store gives it a uid).
fn kubectl_create() -> Value {
    update(
        "apps",
        "Deployment",
        "apps/v1",
        "kubectl-create",
        None,
        &created_deployment(),
        T0,
    )
    .unwrap()
}

fn apply_deploy(
    manager: &str,
    live: Option<&Value>,
    config: &Value,
    force: bool,
) -> Result<Value, ApplyError> {
    apply(
        "apps",
        "Deployment",
        "apps/v1",
        manager,
        live,
        config,
        force,
        T1,
    )
}

fn deploy_config(replicas: i64, extra_spec: Value) -> Value {
    let mut c = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}
            }
        }
    });
    if let (Value::Object(spec), Value::Object(extra)) = (&mut c["spec"], extra_spec) {
        spec.extend(extra);
    }
    c
}

#[test]
fn fields_v1_round_trips_upstream_example_in_upstream_order() {
    let fields = kubectl_create_fields();
    let set = FieldSet::from_fields_v1(&fields).unwrap();
    let back = set.to_fields_v1();
    assert_eq!(
        serde_json::to_string(&back).unwrap(),
        serde_json::to_string(&fields).unwrap()
    );
    assert!(set.has(&[
        PathElement::Field("spec".into()),
        PathElement::Field("replicas".into())
    ]));
    // `.` marks the labels map itself as owned; `f:spec` only has children.
    assert!(set.has(&[
        PathElement::Field("metadata".into()),
        PathElement::Field("labels".into())
    ]));
    assert!(!set.has(&[PathElement::Field("spec".into())]));
}

#[test]
fn fields_v1_element_kinds_and_errors() {
    let cases: &[(&str, Option<&str>)] = &[
        ("f:name", Some(".name")),
        (
            r#"k:{"port":80,"protocol":"TCP"}"#,
            Some("[port=80,protocol=\"TCP\"]"),
        ),
        (
            r#"v:"example.com/finalizer""#,
            Some("[=\"example.com/finalizer\"]"),
        ),
        ("i:3", Some("[3]")),
    ];
    for (key, printed) in cases {
        let pe = PathElement::from_fields_v1_key(key).unwrap().unwrap();
        assert_eq!(pe.to_fields_v1_key(), *key);
        assert_eq!(Some(pe.to_string().as_str()), *printed);
    }
    // Key fields come out sorted whatever order they came in.
    let pe = PathElement::from_fields_v1_key(r#"k:{"protocol":"TCP","port":80}"#)
        .unwrap()
        .unwrap();
    assert_eq!(pe.to_fields_v1_key(), r#"k:{"port":80,"protocol":"TCP"}"#);
    // Unknown element types are dropped, as upstream does.
    assert_eq!(PathElement::from_fields_v1_key("z:what").unwrap(), None);
    for bad in ["f", "fx", "k:[1]", "i:x", "v:{"] {
        assert!(PathElement::from_fields_v1_key(bad).is_err(), "{bad}");
    }
    assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
    assert!(FieldSet::from_fields_v1(&json!([])).is_err());
    assert!(FieldSet::from_fields_v1(&json!({})).unwrap().is_empty());
}

#[test]
fn set_operations() {
    let p = |s: &[&str]| -> Vec<PathElement> {
        s.iter().map(|f| PathElement::Field((*f).into())).collect()
    };
    let a = FieldSet::from_paths([p(&["spec", "a"]).as_slice(), p(&["spec", "b"]).as_slice()]);
    let b = FieldSet::from_paths([p(&["spec", "b"]).as_slice(), p(&["spec", "c"]).as_slice()]);
    assert_eq!(a.union(&b).paths().len(), 3);
    assert_eq!(a.intersection(&b).paths(), vec![p(&["spec", "b"])]);
    assert_eq!(a.difference(&b).paths(), vec![p(&["spec", "a"])]);
    assert!(a.difference(&a).is_empty());
    // A member does not take away the paths below it, except recursively.
    let spec = FieldSet::from_paths([p(&["spec"]).as_slice()]);
    assert_eq!(a.difference(&spec), a);
    assert!(a.recursive_difference(&spec).is_empty());
}

#[test]
fn create_records_every_field_for_the_creator() {
    let obj = kubectl_create();
    let e = entries(&obj);
    assert_eq!(e.len(), 1);
    assert_eq!(
        e[0],
        json!({
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": kubectl_create_fields()
        })
    );
    // Nothing else of the object changed.
    let mut without = obj.clone();
    without["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    assert_eq!(without, created_deployment());
}

#[test]
fn an_update_moves_changed_fields_to_the_writer() {
    let created = kubectl_created();
    let mut new = created.clone();
    new["spec"]["replicas"] = json!(3);
    let updated = update(
        "apps",
        "Deployment",
        "apps/v1",
        "kubectl-scale",
        Some(&created),
        &new,
        T1,
    )
    .unwrap();
    let scale = entry(&updated, "kubectl-scale").unwrap();
    assert_eq!(scale["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
    assert_eq!(scale["time"], T1);
    let create = entry(&updated, "kubectl-create").unwrap();
    assert!(create["fieldsV1"]["f:spec"].get("f:replicas").is_none());
    assert_eq!(create["time"], T0);
    // Entries sorted by time: the creator first.
    assert_eq!(entries(&updated)[0]["manager"], "kubectl-create");

    // A write that changes nothing leaves the entries as they were.
    let again = update(
        "apps",
        "Deployment",
        "apps/v1",
        "other",
        Some(&stored(updated.clone())),
        &updated,
        T2,
    )
    .unwrap();
    assert_eq!(entries(&again), entries(&updated));
}

#[test]
fn request_managed_fields_reset_replace_or_are_ignored() {
    let created = kubectl_created();
    let live_entries = entries(&created);
    let cases: Vec<(&str, Value, Option<usize>)> = vec![
        // `[]` clears them, and an untracked object stays untracked.
        ("empty list resets", json!([]), None),
        ("one empty entry resets", json!([{}]), None),
        // Garbage falls back to the stored entries.
        (
            "bad operation",
            json!([{"manager": "x", "operation": "Bogus", "apiVersion": "v1", "fieldsType": "FieldsV1"}]),
            Some(1),
        ),
        ("not a list", json!("garbage"), Some(1)),
        (
            "bad fieldsV1",
            json!([{"manager": "x", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": {"q": {}}}]),
            Some(1),
        ),
    ];
    for (name, m, expect) in cases {
        let mut new = created.clone();
        new["metadata"]["managedFields"] = m;
        let out = update(
            "apps",
            "Deployment",
            "apps/v1",
            "editor",
            Some(&created),
            &new,
            T1,
        )
        .unwrap();
        match expect {
            None => assert!(out["metadata"].get("managedFields").is_none(), "{name}"),
            Some(n) => {
                assert_eq!(entries(&out).len(), n, "{name}");
                assert_eq!(entries(&out), live_entries, "{name}");
            }
        }
    }
    // A valid list in the request replaces the stored one.
    let mut new = created.clone();
    new["metadata"]["managedFields"] = json!([{
        "manager": "someone", "operation": "Update", "apiVersion": "apps/v1",
        "time": T0, "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}
    }]);
    let out = update(
        "apps",
        "Deployment",
        "apps/v1",
        "editor",
        Some(&created),
        &new,
        T1,
    )
    .unwrap();
    assert_eq!(entries(&out).len(), 1);
    assert_eq!(entries(&out)[0]["manager"], "someone");
}

#[test]
fn untracked_objects_stay_untracked_on_update() {
    let live = stored(created_deployment());
    let mut new = live.clone();
    new["spec"]["replicas"] = json!(5);
    let out = update("apps", "Deployment", "apps/v1", "m", Some(&live), &new, T1).unwrap();
    assert!(out["metadata"].get("managedFields").is_none());
}

#[test]
fn subresource_writes_record_the_subresource() {
    let created = kubectl_created();
    let mut new = created.clone();
    new["status"] = json!({"replicas": 1, "readyReplicas": 1});
    // A status write cannot replace managedFields through the body.
    new["metadata"]["managedFields"] = json!([]);
    let req = Request {
        group: "apps",
        kind: "Deployment",
        api_version: "apps/v1",
        manager: "kube-controller-manager",
        subresource: Some("status"),
        now: T1,
        reset_fields: None,
    };
    let out = update_request(&req, Some(&created), &new).unwrap();
    let e = entry(&out, "kube-controller-manager").unwrap();
    assert_eq!(e["subresource"], "status");
    assert_eq!(
        e["fieldsV1"],
        json!({"f:status": {".": {}, "f:readyReplicas": {}, "f:replicas": {}}})
    );
    assert!(entry(&out, "kubectl-create").is_some());
}

#[test]
fn update_managers_are_capped_into_ancient_changes() {
    let mut obj = stored(update("", "ConfigMap", "v1", "creator", None, &json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k0": "v"}
    }), "2025-01-01T00:00:00Z").unwrap());
    for i in 1..=11 {
        let mut new = obj.clone();
        new["data"][format!("k{i}")] = json!("v");
        let now = format!("2025-01-01T00:{i:02}:00Z");
        obj = stored(
            update(
                "",
                "ConfigMap",
                "v1",
                &format!("m{i}"),
                Some(&obj),
                &new,
                &now,
            )
            .unwrap(),
        );
    }
    let e = entries(&obj);
    assert_eq!(e.len(), 10);
    let ancient = entry(&obj, "ancient-changes").unwrap();
    // The three oldest (creator, m1, m2) were merged; the bucket keeps the newest time.
    assert_eq!(
        ancient["fieldsV1"],
        json!({"f:data": {".": {}, "f:k0": {}, "f:k1": {}, "f:k2": {}}})
    );
    assert_eq!(ancient["time"], "2025-01-01T00:02:00Z");
    assert!(entry(&obj, "creator").is_none());
    assert!(entry(&obj, "m3").is_some());
}

#[test]
fn apply_creates_and_removes_fields_it_stops_applying() {
    let config = deploy_config(2, json!({"minReadySeconds": 5}));
    let created = stored(apply_deploy("a", None, &config, false).unwrap());
    assert_eq!(created["spec"]["minReadySeconds"], 5);
    let a = entry(&created, "a").unwrap();
    assert_eq!(a["operation"], "Apply");
    assert_eq!(a["apiVersion"], "apps/v1");
    assert_eq!(
        a["fieldsV1"],
        json!({
            "f:spec": {
                "f:minReadySeconds": {},
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}
                }
            }
        })
    );
    let reapplied = apply_deploy("a", Some(&created), &deploy_config(2, json!({})), false).unwrap();
    assert!(reapplied["spec"].get("minReadySeconds").is_none());
    assert!(
        entry(&reapplied, "a").unwrap()["fieldsV1"]["f:spec"]
            .get("f:minReadySeconds")
            .is_none()
    );
}

#[test]
fn apply_conflicts_with_a_field_another_manager_changed() {
    let created = stored(apply_deploy("a", None, &deploy_config(1, json!({})), false).unwrap());
    let mut edited = created.clone();
    edited["spec"]["replicas"] = json!(3);
    let edited = stored(
        update(
            "apps",
            "Deployment",
            "apps/v1",
            "kubectl-client-side-apply",
            Some(&created),
            &edited,
            T2,
        )
        .unwrap(),
    );

    let err = apply_deploy("a", Some(&edited), &deploy_config(2, json!({})), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
    );
    let status = err.to_status().to_json();
    assert_eq!(status["code"], 409);
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["details"]["causes"],
        json!([{
            "reason": "FieldManagerConflict",
            "message": "conflict with \"kubectl-client-side-apply\" using apps/v1",
            "field": ".spec.replicas"
        }])
    );
    // Applying the value the other manager set is no conflict: both own it.
    let same = apply_deploy("a", Some(&edited), &deploy_config(3, json!({})), false).unwrap();
    assert!(entry(&same, "kubectl-client-side-apply").is_some());

    // Force takes the field.
    let forced = apply_deploy("a", Some(&edited), &deploy_config(2, json!({})), true).unwrap();
    assert_eq!(forced["spec"]["replicas"], 2);
    assert!(entry(&forced, "kubectl-client-side-apply").is_none());
    assert!(
        entry(&forced, "a").unwrap()["fieldsV1"]["f:spec"]
            .get("f:replicas")
            .is_some()
    );
}

#[test]
fn conflicts_with_several_managers_are_grouped() {
    let created = stored(
        apply_deploy(
            "a",
            None,
            &deploy_config(1, json!({"minReadySeconds": 1})),
            false,
        )
        .unwrap(),
    );
    let err = apply_deploy(
        "b",
        Some(&created),
        &deploy_config(2, json!({"minReadySeconds": 2})),
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.minReadySeconds\n- .spec.replicas"
    );
    let ApplyError::Conflicts(c) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(c[0].manager.describe(), "\"a\"");
}

#[test]
fn a_field_two_appliers_share_stays_when_one_lets_go() {
    let created = stored(
        apply_deploy(
            "a",
            None,
            &deploy_config(1, json!({"minReadySeconds": 7})),
            false,
        )
        .unwrap(),
    );
    let shared = stored(
        apply_deploy(
            "b",
            Some(&created),
            &deploy_config(1, json!({"minReadySeconds": 7})),
            false,
        )
        .unwrap(),
    );
    let a_dropped = apply_deploy("a", Some(&shared), &deploy_config(1, json!({})), false).unwrap();
    assert_eq!(a_dropped["spec"]["minReadySeconds"], 7);
    assert!(
        entry(&a_dropped, "b").unwrap()["fieldsV1"]["f:spec"]
            .get("f:minReadySeconds")
            .is_some()
    );
}

#[test]
fn containers_merge_by_name_and_one_applier_removes_its_own() {
    let pod = |containers: Value| {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"x": "1"}},
            "spec": {"containers": containers}
        })
    };
    let apply_pod = |m: &str, live: Option<&Value>, c: &Value| {
        apply("", "Pod", "v1", m, live, c, false, T1).map(stored)
    };
    let live = apply_pod("a", None, &pod(json!([{"name": "app", "image": "app:1"}]))).unwrap();
    let live = apply_pod(
        "b",
        Some(&live),
        &pod(json!([{"name": "sidecar", "image": "side:1", "ports": [{"containerPort": 80}]}])),
    )
    .unwrap();
    let names: Vec<&Value> = live["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["name"])
        .collect();
    assert_eq!(names, [&json!("app"), &json!("sidecar")]);
    // The port key takes its protocol from the schema's default.
    let b = entry(&live, "b").unwrap();
    assert!(
        b["fieldsV1"]["f:spec"]["f:containers"]["k:{\"name\":\"sidecar\"}"]["f:ports"]
            .get("k:{\"containerPort\":80,\"protocol\":\"TCP\"}")
            .is_some()
    );
    // Labels are a granular map: both appliers own `x`.
    assert!(b["fieldsV1"]["f:metadata"]["f:labels"].get("f:x").is_some());

    // b stops applying its container: it goes; a's stays.
    let live = apply_pod(
        "b",
        Some(&live),
        &pod(json!([{"name": "app", "image": "app:1"}])),
    )
    .unwrap();
    let names: Vec<&Value> = live["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["name"])
        .collect();
    assert_eq!(names, [&json!("app")]);
    assert_eq!(live["metadata"]["labels"], json!({"x": "1"}));
}

#[test]
fn finalizers_are_a_set_and_selectors_are_atomic() {
    let cm = |finalizers: Value, selector: Value| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "finalizers": finalizers},
            "spec": {"selector": selector}
        })
    };
    let live = stored(
        apply_deploy(
            "a",
            None,
            &cm(json!(["x/a"]), json!({"matchLabels": {"a": "1", "b": "2"}})),
            false,
        )
        .unwrap(),
    );
    let live = stored(
        apply_deploy(
            "b",
            Some(&live),
            &cm(json!(["x/b"]), json!({"matchLabels": {"a": "1", "b": "2"}})),
            false,
        )
        .unwrap(),
    );
    assert_eq!(live["metadata"]["finalizers"], json!(["x/a", "x/b"]));
    let b = entry(&live, "b").unwrap();
    assert_eq!(
        b["fieldsV1"]["f:metadata"]["f:finalizers"],
        json!({"v:\"x/b\"": {}})
    );
    assert_eq!(b["fieldsV1"]["f:spec"]["f:selector"], json!({}));

    // An atomic value is replaced whole, and conflicts as one field.
    let err = apply_deploy(
        "b",
        Some(&live),
        &cm(json!(["x/b"]), json!({"matchLabels": {"a": "1"}})),
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "a": .spec.selector"#
    );
    let forced = apply_deploy(
        "b",
        Some(&live),
        &cm(json!(["x/b"]), json!({"matchLabels": {"a": "1"}})),
        true,
    )
    .unwrap();
    assert_eq!(
        forced["spec"]["selector"],
        json!({"matchLabels": {"a": "1"}})
    );
}

#[test]
fn first_apply_conflicts_with_what_the_object_held_before() {
    // Created by an update without managed fields tracking: the first apply
    // gives the existing fields to `before-first-apply`.
    let live = stored(created_deployment());
    let err = apply_deploy("a", Some(&live), &deploy_config(4, json!({})), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas"#
    );
}

#[test]
fn kubectl_takes_over_fields_of_its_client_side_apply() {
    let last = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{},"name":"nginx","namespace":"default"},"spec":{"replicas":1}}
"#;
    let mut live = created_deployment();
    live["metadata"]["annotations"] = json!({LAST_APPLIED: last});
    let live = stored(
        update(
            "apps",
            "Deployment",
            "apps/v1",
            "kubectl-client-side-apply",
            None,
            &live,
            T0,
        )
        .unwrap(),
    );
    let mut config = deploy_config(2, json!({}));
    config["metadata"]["annotations"] = json!({"note": "<ssa>"});

    // Another manager may not take the field...
    assert!(apply_deploy("someone", Some(&live), &config, false).is_err());
    // ...kubectl may, since its last client-side apply set it.
    let out = apply_deploy("kubectl", Some(&live), &config, false).unwrap();
    assert_eq!(out["spec"]["replicas"], 2);
    let annotation = out["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .unwrap();
    assert!(annotation.starts_with(r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"note":"\u003cssa\u003e"},"name":"nginx""#), "{annotation}");
    assert!(annotation.ends_with("}\n"));
}

#[test]
fn apply_rejects_malformed_requests() {
    let mut with_mf = deploy_config(1, json!({}));
    with_mf["metadata"]["managedFields"] = json!([]);
    let wrong_kind = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}});
    let no_name = deploy_config(
        1,
        json!({"template": {"spec": {"containers": [{"image": "x"}]}}}),
    );
    let cases: Vec<(Value, &str, u16)> = vec![
        (with_mf, "metadata.managedFields must be nil", 400),
        (wrong_kind, "invalid object type: /v1, Kind=Pod", 400),
        (
            no_name,
            "failed to create typed patch object (default/nginx; apps/v1, Kind=Deployment): .spec.template.spec.containers: element 0: associative list with keys has an element that omits all key fields [\"name\"] (and doesn't have default values for any key fields)",
            500,
        ),
    ];
    for (config, message, code) in cases {
        let err = apply_deploy("a", None, &config, false).unwrap_err();
        assert_eq!(err.to_string(), message);
        assert_eq!(err.to_status().code, code);
    }
}

#[test]
fn garbage_never_panics() {
    let shapes = [
        json!(null),
        json!(1),
        json!("s"),
        json!([]),
        json!({}),
        json!({"metadata": 5}),
        json!({"metadata": {"managedFields": {"a": 1}}}),
        json!({"spec": {"template": {"spec": {"containers": [1, null, {"name": 3}, {"name": 3}]}}}}),
        json!({"spec": {"selector": [1, 2]}, "metadata": {"finalizers": [{}, [], null, "a", "a"]}}),
        json!({"metadata": {"managedFields": [{"manager": 1}, {"operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"k:{": {}}}]}}),
    ];
    for old in &shapes {
        for new in &shapes {
            let _ = update("apps", "Deployment", "apps/v1", "m", Some(old), new, T0);
            let _ = update("", "Unknown", "x/v1", "m", Some(old), new, T0);
            let _ = apply(
                "apps",
                "Deployment",
                "apps/v1",
                "m",
                Some(old),
                new,
                false,
                T0,
            );
            let _ = fields_of("apps", "Deployment", new);
        }
    }
}

fn push_container(deployment: &mut Value, container: Value) {
    if let Some(list) = deployment["spec"]["template"]["spec"]["containers"].as_array_mut() {
        list.push(container);
    }
}

/// Objects of many shapes, valid and not, for the fast paths' equivalence.
fn shapes_for_equivalence() -> Vec<Value> {
    let created = kubectl_create();
    let mut scaled = stored(created.clone());
    scaled["spec"]["replicas"] = json!(3);
    scaled["metadata"]["labels"]["tier"] = json!("web");
    let mut two_containers = scaled.clone();
    push_container(
        &mut two_containers,
        json!({"name": "sidecar", "image": "busybox"}),
    );
    let mut duplicate_containers = scaled.clone();
    push_container(
        &mut duplicate_containers,
        json!({"name": "nginx", "image": "other"}),
    );
    let mut nameless_container = scaled.clone();
    push_container(&mut nameless_container, json!({"image": "x"}));
    let mut strategy_as_string = scaled.clone();
    strategy_as_string["spec"]["strategy"] = json!("Recreate");
    let mut unknown_list = scaled.clone();
    unknown_list["spec"]["extra"] = json!([1, 2]);
    let mut unknown_empty_list = scaled.clone();
    unknown_empty_list["spec"]["extra"] = json!([]);
    let mut finalizers = scaled.clone();
    finalizers["metadata"]["finalizers"] = json!(["a", "b"]);
    let mut duplicate_finalizers = scaled.clone();
    duplicate_finalizers["metadata"]["finalizers"] = json!(["a", "a"]);
    let mut only_managed = scaled.clone();
    only_managed["metadata"] = json!({"managedFields": created["metadata"]["managedFields"]});
    let mut with_status = scaled.clone();
    with_status["status"] =
        json!({"replicas": 3, "conditions": [{"type": "Available", "status": "True"}]});
    vec![
        created,
        scaled,
        two_containers,
        duplicate_containers,
        nameless_container,
        strategy_as_string,
        unknown_list,
        unknown_empty_list,
        finalizers,
        duplicate_finalizers,
        only_managed,
        with_status,
        json!({"metadata": {}}),
        json!({"metadata": null}),
        json!({}),
        json!({"metadata": {"managedFields": []}, "spec": null}),
    ]
}

/// The one walk of a write equals validating and comparing copies without
/// `managedFields`, as the walks did before.
#[test]
fn compare_valid_equals_validate_then_compare_of_stripped_copies() {
    let shapes = shapes_for_equivalence();
    for node in [
        Node::root("apps", "apps/v1", "Deployment"),
        Node::root("", "v1", "Unknown"),
    ] {
        for lhs in &shapes {
            for rhs in &shapes {
                let (mut l, mut r) = (lhs.clone(), rhs.clone());
                strip_managed_fields(&mut l);
                strip_managed_fields(&mut r);
                let general = (typed::validate(node, &l).is_ok()
                    && typed::validate(node, &r).is_ok())
                .then(|| typed::compare(node, &l, &r));
                let fast = typed::compare_valid(node, lhs, rhs, typed::Skip::ManagedFields);
                assert_eq!(fast, general, "{lhs} -> {rhs}");
            }
        }
    }
}

/// An entry written back from its stored form is byte for byte what
/// encoding its set gives; a stored form that is not (another key order, a
/// needless `"."`) is encoded again.
#[test]
fn stored_fields_v1_is_reused_only_when_it_is_the_encoding() {
    let canonical = kubectl_create_fields();
    let set = FieldSet::from_fields_v1(&canonical).unwrap();
    assert!(set.is_fields_v1_of(&canonical));
    assert_eq!(
        serde_json::to_string(&set.to_fields_v1()).unwrap(),
        serde_json::to_string(&canonical).unwrap()
    );
    let not_canonical = [
        // Keys out of order.
        json!({"f:spec": {"f:replicas": {}}, "f:metadata": {"f:labels": {}}}),
        // A "." without children.
        json!({"f:spec": {".": {}}}),
        // "." after a child.
        json!({"f:spec": {"f:replicas": {}, ".": {}}}),
        // A key with spaces that decodes to the same element.
        json!({"f:spec": {"f:containers": {"k:{\"name\": \"c\"}": {}}}}),
        // An unknown element kind (dropped when decoded).
        json!({"f:spec": {}, "x:y": {}}),
        // A leaf that is not an empty object.
        json!({"f:spec": {"f:replicas": {".": {}}}}),
    ];
    for raw in &not_canonical {
        let set = FieldSet::from_fields_v1(raw).unwrap();
        assert!(!set.is_fields_v1_of(raw), "{raw}");
    }
    // Through a whole write: a stored entry in another order comes back in
    // upstream's order, as before.
    let mut live = stored(created_deployment());
    live["metadata"]["managedFields"] = json!([{
        "manager": "kubectl-create",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:replicas": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}}
    }]);
    let mut new = live.clone();
    new["metadata"]["labels"]["tier"] = json!("web");
    let out = update("apps", "Deployment", "apps/v1", "m", Some(&live), &new, T1).unwrap();
    let creator = entry(&out, "kubectl-create").unwrap();
    assert_eq!(
        serde_json::to_string(&creator["fieldsV1"]).unwrap(),
        r#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:replicas":{}}}"#
    );
}

/// Writing the managers back with their stored encodings gives the same
/// bytes as encoding every set, over a run of writes.
#[test]
fn reused_encodings_give_the_bytes_of_a_fresh_encoding() {
    let mut obj = kubectl_created();
    let status = Request {
        group: "apps",
        kind: "Deployment",
        api_version: "apps/v1",
        manager: "kube-controller-manager",
        subresource: Some("status"),
        now: T1,
        reset_fields: None,
    };
    for i in 0..4 {
        let mut new = obj.clone();
        new["status"] = json!({"replicas": i, "readyReplicas": i});
        if i % 2 == 1 {
            new["spec"]["replicas"] = json!(i + 1);
            obj = update(
                "apps",
                "Deployment",
                "apps/v1",
                "scaler",
                Some(&obj),
                &new,
                T2,
            )
            .unwrap();
        } else {
            obj = update_request(&status, Some(&obj), &new).unwrap();
        }
        let stored_mf = obj["metadata"]["managedFields"].clone();
        let mut fresh = decode(&stored_mf).unwrap();
        for e in fresh.values_mut() {
            e.raw = None;
        }
        assert_eq!(
            serde_json::to_string(&encode(fresh)).unwrap(),
            serde_json::to_string(&Some(stored_mf)).unwrap()
        );
    }
    assert!(entry(&obj, "scaler").is_some());
    assert!(entry(&obj, "kube-controller-manager").is_some());
}

/// A small deterministic generator (a linear congruential one): the
/// equivalence tests below draw many sets from it, the same every run.
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }

    /// A set of up to `max` paths of one to four elements of every kind.
    fn set(&mut self, max: usize) -> FieldSet {
        let pool = [
            PathElement::Field("a".into()),
            PathElement::Field("b".into()),
            PathElement::Field("spec".into()),
            PathElement::Key(vec![("name".into(), json!("c"))]),
            PathElement::Key(vec![
                ("name".into(), json!("d")),
                ("port".into(), json!(80)),
            ]),
            PathElement::Value(json!("x")),
            PathElement::Value(json!(1)),
            PathElement::Index(0),
            PathElement::Index(10),
        ];
        let mut set = FieldSet::new();
        for _ in 0..self.below(max + 1) {
            let len = 1 + self.below(4);
            let path: Vec<PathElement> = (0..len)
                .map(|_| pool[self.below(pool.len())].clone())
                .collect();
            set.insert(&path);
        }
        set
    }
}

/// The in-place set operations a write uses give what the copying ones
/// give, and say rightly whether they changed anything.
#[test]
fn in_place_set_operations_equal_the_copying_ones() {
    let mut draw = Draw(7);
    for _ in 0..2000 {
        let (a, b) = (draw.set(8), draw.set(8));
        let mut u = a.clone();
        let added = u.union_with(&b);
        assert_eq!(u, a.union(&b));
        assert_eq!(added, u != a);
        assert_eq!(a.clone().merge(b.clone()), a.union(&b));
        let mut d = a.clone();
        let removed = d.subtract(&b);
        assert_eq!(d, a.difference(&b));
        assert_eq!(removed, d != a);
        assert_eq!(a.is_disjoint(&b), a.intersection(&b).is_empty());
    }
}

/// The check that keeps a stored `fieldsV1` undecoded accepts only what
/// decodes to a set encoding to the same bytes, and accepts every encoding.
#[test]
fn canonical_check_accepts_exactly_encodings() {
    let decodes_to_itself = |v: &Value| {
        FieldSet::from_fields_v1(v).is_ok_and(|s| {
            s.is_fields_v1_of(v)
                && serde_json::to_string(&s.to_fields_v1()).unwrap()
                    == serde_json::to_string(v).unwrap()
        })
    };
    let mut draw = Draw(11);
    for _ in 0..2000 {
        let encoded = draw.set(10).to_fields_v1();
        assert!(fieldpath::is_canonical_fields_v1(&encoded), "{encoded}");
        assert!(decodes_to_itself(&encoded));
    }
    let others = [
        kubectl_create_fields(),
        json!({}),
        json!({"f:spec": {"f:replicas": {}}, "f:metadata": {"f:labels": {}}}),
        json!({"f:spec": {".": {}}}),
        json!({"f:spec": {"f:replicas": {}, ".": {}}}),
        json!({"f:spec": {"f:containers": {"k:{\"name\": \"c\"}": {}}}}),
        json!({"f:spec": {}, "x:y": {}}),
        json!({"f:spec": {"f:replicas": {".": {}}}}),
        json!({".": {}, "f:a": {}}),
        json!({"f:a": {".": {"f:b": {}}, "f:c": {}}}),
        json!({"f:a": 1}),
        json!({"f:a": {"f:b": []}}),
        json!({"i:01": {}}),
        json!({"i:10": {}, "i:9": {}}),
        json!({"i:9": {}, "i:10": {}}),
        json!({"k:{\"a\":1}": {}, "f:b": {}}),
        json!({"v:1": {}, "v:1.0": {}}),
        json!({"v:\"a<b\"": {}}),
        json!({"v:\"a\\u003cb\"": {}}),
        json!({"k:{\"b\":1,\"a\":2}": {}}),
        json!({"f": {}}),
        json!({"f:a": {"f:a": {"f:a": {".": {}, "f:x": {}}}}}),
        json!([]),
        json!(null),
    ];
    for v in &others {
        if fieldpath::is_canonical_fields_v1(v) {
            assert!(decodes_to_itself(v), "{v}");
        }
    }
    assert!(fieldpath::is_canonical_fields_v1(&kubectl_create_fields()));
}

/// An entry read in its stored form intersects and contains a set exactly
/// where its decoded set does.
#[test]
fn stored_forms_intersect_and_contain_as_their_sets() {
    let mut draw = Draw(13);
    for i in 0..2000 {
        let (a, b) = (draw.set(10), draw.set(6));
        // Every other `b` is drawn from `a`, so that containment occurs.
        let b = if i % 2 == 0 {
            a.intersection(&b).union(&draw.set(1))
        } else {
            b
        };
        assert_eq!(
            fieldpath::fields_v1_contains(&a.to_fields_v1(), &b),
            a.union(&b) == a,
            "{} and {}",
            a.to_fields_v1(),
            b.to_fields_v1()
        );
        assert_eq!(
            fieldpath::fields_v1_intersects(&a.to_fields_v1(), &b),
            !a.intersection(&b).is_empty(),
            "{} and {}",
            a.to_fields_v1(),
            b.to_fields_v1()
        );
    }
}

/// Removing paths from a stored form in place gives the encoding of the
/// difference, byte for byte, and says rightly whether it removed any.
#[test]
fn stored_forms_lose_paths_as_their_sets() {
    let mut draw = Draw(17);
    for i in 0..2000 {
        let (a, b) = (draw.set(10), draw.set(6));
        let b = if i % 2 == 0 {
            a.intersection(&b).union(&draw.set(2))
        } else {
            b
        };
        let mut raw = a.to_fields_v1();
        let removed = fieldpath::fields_v1_subtract(&mut raw, &b);
        let want = a.difference(&b);
        assert_eq!(
            serde_json::to_string(&raw).unwrap(),
            serde_json::to_string(&want.to_fields_v1()).unwrap(),
            "{} minus {}",
            a.to_fields_v1(),
            b.to_fields_v1()
        );
        assert_eq!(removed, want != a);
    }
}

/// A pod as the API server stores it after create (defaults, admission).
fn stored_pod() -> Value {
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": "p", "namespace": "default",
            "uid": "0d3c5f8e-6a55-4bd4-9a2b-6e0f0b7e9c11",
            "creationTimestamp": "2026-11-22T10:00:00Z",
            "labels": {"app": "bench"},
            "finalizers": ["a/b"]
        },
        "spec": {
            "volumes": [{"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}], "defaultMode": 420}}],
            "containers": [{
                "name": "c", "image": "i",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "env": [{"name": "A", "value": "1"}],
                "volumeMounts": [{"name": "v", "mountPath": "/v"}]
            }],
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "restartPolicy": "Always"
        },
        "status": {"phase": "Pending", "qosClass": "BestEffort"}
    })
}

/// One write of [`lazy_decoding_writes_what_eager_decoding_writes`].
enum Write {
    /// An update by `manager` (through `subresource`) that changes `f`.
    Update(&'static str, Option<&'static str>, fn(&mut Value)),
    /// An apply by `manager` of `config`, forced or not.
    Apply(&'static str, Value, bool),
}

/// The update path that decodes a manager's fields only when the write
/// needs them, and lets a writer that regains what it would give up keep
/// its fields, stores what the general path gives, over runs of writes by
/// several managers: creates, main and status updates, applies with
/// conflicts and taken-over fields, removed fields, keyed list items, sets,
/// a stored entry in a non-canonical form and a garbled one.
#[test]
fn lazy_decoding_writes_what_eager_decoding_writes() {
    let pod_config = |image: &str| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
               "spec": {"containers": [{"name": "c", "image": image}]}})
    };
    let running = |p: &mut Value| {
        p["spec"]["nodeName"] = json!("n1");
        p["status"] = json!({"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
            "podIPs": [{"ip": "10.0.0.1"}], "qosClass": "BestEffort"});
    };
    let not_ready = |p: &mut Value| p["status"]["conditions"][0]["status"] = json!("False");
    let label = |p: &mut Value| p["metadata"]["labels"]["tier"] = json!("web");
    let unlabel = |p: &mut Value| {
        if let Some(l) = p["metadata"]["labels"].as_object_mut() {
            l.remove("app");
        }
    };
    let image = |p: &mut Value| p["spec"]["containers"][0]["image"] = json!("j");
    let env = |p: &mut Value| {
        p["spec"]["containers"][0]["env"] =
            json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]);
    };
    let finalizer = |p: &mut Value| p["metadata"]["finalizers"] = json!(["a/b", "c/d"]);
    let drop_status = |p: &mut Value| p["status"] = json!({"phase": "Succeeded"});
    let image_again = |p: &mut Value| p["spec"]["containers"][0]["image"] = json!("l");
    let generation = |p: &mut Value| {
        p["metadata"]["generation"] = json!(7);
        p["spec"]["containers"][0]["image"] = json!("m");
    };
    let unenv = |p: &mut Value| {
        if let Some(c) = p["spec"]["containers"][0].as_object_mut() {
            c.remove("env");
        }
    };
    let writes = vec![
        Write::Update("kubelet", Some("status"), running),
        Write::Update("kubelet", Some("status"), not_ready),
        Write::Update("kubelet", Some("status"), not_ready),
        Write::Update("labeler", None, label),
        Write::Update("other", None, unlabel),
        Write::Apply("applier", pod_config("i"), false),
        Write::Update("editor", None, image),
        Write::Apply("applier", pod_config("k"), false),
        Write::Apply("applier", pod_config("k"), true),
        Write::Update("editor", None, env),
        Write::Update("editor", None, image_again),
        Write::Update("editor", None, generation),
        Write::Update("editor", None, unenv),
        Write::Update("finalizer", None, finalizer),
        Write::Update("controller", Some("status"), drop_status),
        Write::Update("kubelet", Some("status"), running),
    ];
    let request = |manager: &'static str, subresource: Option<&'static str>, now| Request {
        group: "",
        kind: "Pod",
        api_version: "v1",
        manager,
        subresource,
        now,
        reset_fields: None,
    };
    let starts = {
        let created = update_request(&request("creator", None, T0), None, &stored_pod()).unwrap();
        let mut reordered = stored(created.clone());
        reordered["metadata"]["managedFields"][0]["fieldsV1"] = json!({"f:spec": {"f:restartPolicy": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}});
        let mut garbled = stored(created.clone());
        garbled["metadata"]["managedFields"][0]["fieldsV1"] = json!({"f:spec": 1});
        // The editor owns metadata nobody gains: a write that changes it
        // takes it away from the editor, who does not regain it.
        let mut owns_stripped = stored(created.clone());
        if let Some(entries) = owns_stripped["metadata"]["managedFields"].as_array_mut() {
            entries.push(
                json!({"manager": "editor", "operation": "Update", "apiVersion": "v1",
                "time": T0, "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:generation": {}}}}),
            );
        }
        vec![stored(created), reordered, garbled, owns_stripped]
    };
    for start in starts {
        let mut obj = start;
        for (i, write) in writes.iter().enumerate() {
            let now = if i % 2 == 0 { T1 } else { T2 };
            let next = match write {
                Write::Update(manager, subresource, change) => {
                    let mut new = obj.clone();
                    change(&mut new);
                    let req = request(manager, *subresource, now);
                    let lazy = update_decoding(&req, Some(&obj), new.clone(), Path::Fast);
                    let eager = update_decoding(&req, Some(&obj), new, Path::General);
                    let text = |r: &Result<Value>| {
                        r.as_ref()
                            .map(|v| serde_json::to_string(v).unwrap())
                            .map_err(ToString::to_string)
                    };
                    assert_eq!(text(&lazy), text(&eager), "write {i}");
                    lazy.unwrap()
                }
                Write::Apply(manager, config, force) => {
                    match apply_request(&request(manager, None, now), Some(&obj), config, *force) {
                        Ok(out) => out,
                        Err(ApplyError::Conflicts(_)) => continue,
                        Err(e) => panic!("write {i}: {e}"),
                    }
                }
            };
            obj = stored(next);
        }
    }
}

/// The comparison that only checks values it finds unchanged records and
/// rejects what walking every value does, with and without the check and
/// the skipped `managedFields`, over objects of many shapes.
#[test]
fn skipping_unchanged_values_equals_walking_them() {
    let mut shapes = shapes_for_equivalence();
    let pod = stored_pod();
    let mut running = pod.clone();
    running["status"] =
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
    let mut dup_env = running.clone();
    dup_env["spec"]["containers"][0]["env"] = json!([{"name": "A"}, {"name": "A"}]);
    let mut managed = running.clone();
    managed["metadata"]["managedFields"] = json!([{"manager": "m"}]);
    shapes.extend([pod, running, dup_env, managed]);
    for node in [
        Node::root("apps", "apps/v1", "Deployment"),
        Node::root("", "v1", "Pod"),
        Node::root("", "v1", "Unknown"),
    ] {
        for lhs in &shapes {
            for rhs in &shapes {
                for skip in [typed::Skip::Nothing, typed::Skip::ManagedFields] {
                    let walked = typed::compare_exhaustive(node, lhs, rhs, skip, true);
                    assert_eq!(
                        typed::compare_valid(node, lhs, rhs, skip),
                        walked,
                        "{lhs} -> {rhs}"
                    );
                }
                assert_eq!(
                    Some(typed::compare(node, lhs, rhs)),
                    typed::compare_exhaustive(node, lhs, rhs, typed::Skip::Nothing, false),
                    "{lhs} -> {rhs}"
                );
            }
        }
    }
}

/// Without a schema (a kind the tables do not know) lists are atomic, as
/// upstream's deduced type has them: applying one owns it whole, and another
/// applier's different list conflicts with it.
#[test]
fn lists_without_a_schema_are_applied_whole() {
    let widget = |manager_value: Value| {
        json!({
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": "default"},
            "spec": {"ports": manager_value, "rules": [{"host": "a"}, {"host": "a"}]},
        })
    };
    let apply_widget = |manager: &str, live: Option<&Value>, config: &Value, force: bool| {
        apply(
            "example.com",
            "Widget",
            "example.com/v1",
            manager,
            live,
            config,
            force,
            T1,
        )
    };
    let live = apply_widget("a", None, &widget(json!([1, 2])), false).expect("a list applies");
    assert_eq!(
        entry(&live, "a").expect("a's entry")["fieldsV1"],
        json!({"f:spec": {".": {}, "f:ports": {}, "f:rules": {}}})
    );
    // The same list: shared. A different one: a conflict on the whole list.
    let shared = apply_widget("b", Some(&live), &widget(json!([1, 2])), false)
        .expect("the same list is shared");
    assert!(entry(&shared, "b").is_some());
    match apply_widget("b", Some(&live), &widget(json!([3])), false) {
        Err(ApplyError::Conflicts(c)) => {
            let fields: Vec<&str> = c.iter().map(|c| c.field.as_str()).collect();
            assert_eq!(fields, [".spec.ports"]);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let forced = apply_widget("b", Some(&live), &widget(json!([3])), true).expect("force takes it");
    assert_eq!(forced["spec"]["ports"], json!([3]));
}
