//! Table-driven tests: the cases of upstream's spec
//! (`docs/devel/strategic-merge-patch.md`) and `patch_test.go`, restated on
//! built-in kinds.

use serde_json::{Value, json};

use super::*;

struct Case {
    name: &'static str,
    group: &'static str,
    kind: &'static str,
    original: Value,
    patch: Value,
    /// The result, or the error message.
    want: Result<Value, &'static str>,
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}

fn case(name: &'static str, original: Value, patch: Value, want: Value) -> Case {
    Case {
        name,
        group: "",
        kind: "Pod",
        original,
        patch,
        want: Ok(want),
    }
}

fn of_kind(group: &'static str, kind: &'static str, c: Case) -> Case {
    Case { group, kind, ..c }
}

fn failing(name: &'static str, original: Value, patch: Value, message: &'static str) -> Case {
    Case {
        name,
        group: "",
        kind: "Pod",
        original,
        patch,
        want: Err(message),
    }
}

fn apply_cases() -> Vec<Case> {
    vec![
        case(
            "containers merge by name: one image changes in a two-container list",
            pod(
                json!({"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}),
            ),
            json!({"spec": {"containers": [{"name": "b", "image": "b:2"}]}}),
            pod(
                json!({"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}]}),
            ),
        ),
        case(
            "a container with a new name is added, ahead of the server's (no $setElementOrder)",
            pod(json!({"containers": [{"name": "a", "image": "a:1"}]})),
            json!({"spec": {"containers": [{"name": "b", "image": "b:1"}]}}),
            pod(
                json!({"containers": [{"name": "b", "image": "b:1"}, {"name": "a", "image": "a:1"}]}),
            ),
        ),
        case(
            "$patch: delete removes one env var by name",
            pod(json!({"containers": [{"name": "a", "env": [
                {"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]})),
            json!({"spec": {"containers": [{"name": "a", "env": [{"name": "X", "$patch": "delete"}]}]}}),
            pod(json!({"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]}]})),
        ),
        case(
            "ports merge by containerPort",
            pod(json!({"containers": [{"name": "a", "ports": [
                {"containerPort": 80, "name": "http"}, {"containerPort": 443}]}]})),
            json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}),
            pod(json!({"containers": [{"name": "a", "ports": [
                {"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 443}]}]})),
        ),
        case(
            "tolerations have no strategy: the list is replaced",
            pod(json!({"tolerations": [{"key": "a", "operator": "Exists"}]})),
            json!({"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}),
            pod(json!({"tolerations": [{"key": "b", "operator": "Exists"}]})),
        ),
        case(
            "volumes merge by name",
            pod(json!({"volumes": [{"name": "a", "emptyDir": {}}]})),
            json!({"spec": {"volumes": [{"name": "b", "configMap": {"name": "cm"}}]}}),
            pod(
                json!({"volumes": [{"name": "b", "configMap": {"name": "cm"}}, {"name": "a", "emptyDir": {}}]}),
            ),
        ),
        case(
            "$retainKeys on a volume clears the old source",
            pod(json!({"volumes": [{"name": "a", "emptyDir": {}}]})),
            json!({"spec": {"volumes": [{"name": "a", "$retainKeys": ["name", "hostPath"],
                "hostPath": {"path": "/x"}}]}}),
            pod(json!({"volumes": [{"name": "a", "hostPath": {"path": "/x"}}]})),
        ),
        of_kind(
            "apps",
            "Deployment",
            case(
                "$retainKeys on Deployment's strategy clears rollingUpdate",
                json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
                json!({"spec": {"strategy": {"type": "Recreate"}}}),
            ),
        ),
        case(
            "imagePullSecrets merge by name",
            pod(json!({"imagePullSecrets": [{"name": "a"}]})),
            json!({"spec": {"imagePullSecrets": [{"name": "a"}, {"name": "b"}]}}),
            pod(json!({"imagePullSecrets": [{"name": "a"}, {"name": "b"}]})),
        ),
        case(
            "ownerReferences merge by uid",
            json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "x", "kind": "ReplicaSet"}]}}),
            json!({"metadata": {"ownerReferences": [{"uid": "1", "controller": true}, {"uid": "2", "name": "y"}]}}),
            json!({"metadata": {"ownerReferences": [
                {"uid": "1", "name": "x", "kind": "ReplicaSet", "controller": true}, {"uid": "2", "name": "y"}]}}),
        ),
        case(
            "finalizers are a merging list of primitives: union",
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"finalizers": ["b", "c"]}}),
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
        ),
        case(
            "$deleteFromPrimitiveList/finalizers",
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
            json!({"metadata": {"finalizers": ["a", "c"]}}),
        ),
        case(
            "labels merge, null removes one",
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            json!({"metadata": {"labels": {"b": null, "c": "3"}}}),
            json!({"metadata": {"labels": {"a": "1", "c": "3"}}}),
        ),
        case(
            "null removes a field; a null for an absent field is ignored",
            pod(json!({"nodeName": "n", "hostname": "h"})),
            json!({"spec": {"nodeName": null, "subdomain": null}}),
            pod(json!({"hostname": "h"})),
        ),
        case(
            "$patch: replace on a map",
            pod(json!({"nodeSelector": {"a": "1", "b": "2"}})),
            json!({"spec": {"nodeSelector": {"$patch": "replace", "c": "3"}}}),
            pod(json!({"nodeSelector": {"c": "3"}})),
        ),
        case(
            "$patch: replace in a merging list",
            pod(json!({"containers": [{"name": "a", "image": "a:1"}, {"name": "b"}]})),
            json!({"spec": {"containers": [{"name": "c", "image": "c:1"}, {"$patch": "replace"}]}}),
            pod(json!({"containers": [{"name": "c", "image": "c:1"}]})),
        ),
        case(
            "$patch: delete on a map empties it",
            pod(json!({"securityContext": {"runAsUser": 1}, "hostname": "h"})),
            json!({"spec": {"securityContext": {"$patch": "delete"}}}),
            pod(json!({"securityContext": {}, "hostname": "h"})),
        ),
        of_kind(
            "policy",
            "PodDisruptionBudget",
            case(
                "replace strategy: a PodDisruptionBudget's selector is not merged",
                json!({"spec": {"selector": {"matchLabels": {"a": "1"}}}}),
                json!({"spec": {"selector": {"matchLabels": {"b": "2"}}}}),
                json!({"spec": {"selector": {"matchLabels": {"b": "2"}}}}),
            ),
        ),
        case(
            "new values lose their nulls and directives",
            pod(json!({})),
            json!({"spec": {"affinity": {"nodeAffinity": null, "podAffinity": {"$patch": "delete"}, "x": 1},
                "containers": [{"name": "a", "env": [{"name": "E", "$patch": "delete"}, {"name": "F"}]}]}}),
            pod(
                json!({"affinity": {"x": 1}, "containers": [{"name": "a", "env": [{"name": "F"}]}]}),
            ),
        ),
        of_kind(
            "example.com",
            "Widget",
            case(
                "a kind without metadata replaces lists and merges maps",
                json!({"spec": {"items": [1, 2], "m": {"a": 1}}}),
                json!({"spec": {"items": [3], "m": {"b": 2}}}),
                json!({"spec": {"items": [3], "m": {"a": 1, "b": 2}}}),
            ),
        ),
        // Ordering cases of patch_test.go ("... and preserve order"), on
        // containers (merge by name) and finalizers (merging primitives).
        case(
            "$setElementOrder: add an item in a list and preserve order",
            pod(
                json!({"containers": [{"name": "1", "other": "a"}, {"name": "2", "value": "2", "other": "b"}]}),
            ),
            json!({"spec": {"$setElementOrder/containers": [{"name": "3"}, {"name": "1"}, {"name": "2"}],
                "containers": [{"name": "3", "value": "3"}]}}),
            pod(
                json!({"containers": [{"name": "3", "value": "3"}, {"name": "1", "other": "a"},
                {"name": "2", "value": "2", "other": "b"}]}),
            ),
        ),
        case(
            "$setElementOrder: add and delete an item and preserve order",
            pod(
                json!({"containers": [{"name": "1", "other": "a"}, {"name": "2", "value": "2", "other": "b"},
                {"name": "3", "value": "3"}]}),
            ),
            json!({"spec": {"$setElementOrder/containers": [{"name": "4"}, {"name": "2"}, {"name": "1"}],
                "containers": [{"name": "4", "value": "4"}, {"name": "3", "$patch": "delete"}]}}),
            pod(
                json!({"containers": [{"name": "4", "value": "4"}, {"name": "2", "value": "2", "other": "b"},
                {"name": "1", "other": "a"}]}),
            ),
        ),
        case(
            "$setElementOrder alone reorders, server-only items keep their place",
            pod(
                json!({"containers": [{"name": "1", "other": "a"}, {"name": "2", "value": "2"}, {"name": "7"},
                {"name": "9"}, {"name": "8"}, {"name": "3", "value": "3"}, {"name": "4", "value": "4"}]}),
            ),
            json!({"spec": {"$setElementOrder/containers": [{"name": "2"}, {"name": "1"}, {"name": "4"}, {"name": "3"}]}}),
            pod(
                json!({"containers": [{"name": "2", "value": "2"}, {"name": "1", "other": "a"}, {"name": "7"},
                {"name": "9"}, {"name": "8"}, {"name": "4", "value": "4"}, {"name": "3", "value": "3"}]}),
            ),
        ),
        case(
            "$setElementOrder on primitives: add an item and preserve order",
            json!({"metadata": {"finalizers": ["1", "4", "2"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["3", "1", "2"], "finalizers": ["3"]}}),
            json!({"metadata": {"finalizers": ["3", "1", "4", "2"]}}),
        ),
        case(
            "$setElementOrder on primitives with a deletion",
            json!({"metadata": {"finalizers": ["1", "2", "3"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["2", "1"],
                "$deleteFromPrimitiveList/finalizers": ["3"]}}),
            json!({"metadata": {"finalizers": ["2", "1"]}}),
        ),
        // Errors, with upstream's messages.
        failing(
            "a merging-list element without its merge key",
            pod(json!({"containers": [{"name": "a"}]})),
            json!({"spec": {"containers": [{"image": "nginx"}]}}),
            "map: map[image:nginx] does not contain declared merge key: name",
        ),
        failing(
            "$patch: delete in a list without the merge key",
            pod(json!({"containers": [{"name": "a"}]})),
            json!({"spec": {"containers": [{"$patch": "delete", "image": "x"}]}}),
            "map: map[$patch:delete image:x] does not contain declared merge key: name",
        ),
        failing(
            "an unknown $patch value on a map",
            pod(json!({"securityContext": {"runAsUser": 1}})),
            json!({"spec": {"securityContext": {"$patch": "foo"}}}),
            "unknown patch type: foo in map: map[$patch:foo]",
        ),
        failing(
            "$patch: merge on a map is not a directive upstream knows there",
            pod(json!({"securityContext": {"runAsUser": 1}})),
            json!({"spec": {"securityContext": {"$patch": "merge", "runAsUser": 2}}}),
            "unknown patch type: merge in map: map[$patch:merge runAsUser:2]",
        ),
        failing(
            "$patch: merge in a list",
            pod(json!({"containers": [{"name": "a"}]})),
            json!({"spec": {"containers": [{"$patch": "merge"}]}}),
            "merging lists cannot yet be specified in the patch",
        ),
        failing(
            "an unknown $patch value in a list",
            pod(json!({"containers": [{"name": "a"}]})),
            json!({"spec": {"containers": [{"name": "a", "$patch": "foo"}]}}),
            "unknown patch type: foo in map: map[$patch:foo name:a]",
        ),
        failing(
            "mixed element types in a merging list",
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"finalizers": [1]}}),
            "list element types are not identical: [[a] [1]]",
        ),
        failing(
            "a list of lists",
            json!({"metadata": {"finalizers": [["a"]]}}),
            json!({"metadata": {"finalizers": [["b"]]}}),
            "lists of lists are not supported",
        ),
        failing(
            "a key missing from $retainKeys",
            pod(json!({"volumes": [{"name": "a", "emptyDir": {}}]})),
            json!({"spec": {"volumes": [{"name": "a", "$retainKeys": ["name"], "hostPath": {"path": "/x"}}]}}),
            "invalid patch format of retainKeys",
        ),
        failing(
            "$retainKeys that is not a list",
            pod(json!({})),
            json!({"spec": {"$retainKeys": "x"}}),
            "invalid patch format of retainKeys",
        ),
        failing(
            "a malformed $deleteFromPrimitiveList key",
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}),
            "invalid patch format of primitive list",
        ),
        failing(
            "a malformed $setElementOrder key",
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"$setElementOrderfinalizers": ["a"]}}),
            "invalid patch format of setElementOrder list",
        ),
        failing(
            "a patch list out of $setElementOrder's order",
            pod(json!({"containers": [{"name": "a"}, {"name": "b"}]})),
            json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                "containers": [{"name": "b", "image": "x"}, {"name": "a", "image": "y"}]}}),
            "The order in patch list:\n[map[image:x name:b] map[image:y name:a]]\n doesn't match $setElementOrder list:\n[map[name:a] map[name:b]]\n",
        ),
    ]
}

#[test]
fn apply_follows_upstream() {
    let mut failures = Vec::new();
    for c in apply_cases() {
        let got = apply(c.group, c.kind, &c.original, &c.patch).map_err(|e| e.to_string());
        let ok = match (&got, &c.want) {
            (Ok(g), Ok(w)) => g == w,
            (Err(g), Err(w)) => g == w,
            _ => false,
        };
        if !ok {
            failures.push(format!("{}:\n  got  {got:?}\n  want {:?}", c.name, c.want));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_patch_that_is_not_an_object_is_a_bad_request() {
    let err = apply("", "Pod", &json!({}), &json!([1])).expect_err("an array is no patch");
    assert_eq!(
        err.to_string(),
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
    assert_eq!(err.to_status().code, 400);
    assert_eq!(
        apply("", "Pod", &json!({"a": 1}), &Value::Null),
        Ok(json!({"a": 1}))
    );
}

#[test]
fn errors_map_to_upstream_status_codes() {
    let status = |e: Error| {
        let s = e.to_status();
        (s.code, s.reason)
    };
    assert_eq!(
        status(Error::BadPatchFormatForRetainKeys),
        (400, "BadRequest")
    );
    assert_eq!(
        status(Error::BadPatchFormatForPrimitiveList),
        (400, "BadRequest")
    );
    assert_eq!(
        status(Error::BadPatchFormatForSetElementOrderList),
        (400, "BadRequest")
    );
    assert_eq!(status(Error::NoListOfLists), (422, "Invalid"));
    assert_eq!(
        Error::NoListOfLists.to_status().message,
        "the server rejected our request due to an error in our request"
    );
    let no_key = Error::NoMergeKey {
        map: "map[image:x]".into(),
        key: "name".into(),
    };
    assert_eq!(status(no_key.clone()), (500, ""));
    assert_eq!(
        no_key.to_status().message,
        "map: map[image:x] does not contain declared merge key: name"
    );
}

/// Upstream's `patch_test.go` raw cases: original (last applied), modified,
/// current (live), the two-way and three-way patches kubectl computes, and
/// the result of applying the three-way patch to the live object.
struct DiffCase {
    name: &'static str,
    original: Value,
    modified: Value,
    current: Value,
    two_way: Value,
    three_way: Value,
    result: Value,
}

fn containers(items: Value) -> Value {
    json!({"spec": {"containers": items}})
}

fn diff_cases() -> Vec<DiffCase> {
    vec![
        DiffCase {
            name: "merge lists of scalars",
            original: json!({"metadata": {"finalizers": ["1", "2"]}}),
            modified: json!({"metadata": {"finalizers": ["1", "2", "3"]}}),
            current: json!({"metadata": {"finalizers": ["1", "2", "4"]}}),
            two_way: json!({"metadata": {"$setElementOrder/finalizers": ["1", "2", "3"], "finalizers": ["3"]}}),
            three_way: json!({"metadata": {"$setElementOrder/finalizers": ["1", "2", "3"], "finalizers": ["3"]}}),
            result: json!({"metadata": {"finalizers": ["1", "2", "3", "4"]}}),
        },
        DiffCase {
            name: "delete an item in a list of primitives and preserve order",
            original: json!({"metadata": {"finalizers": ["1", "2", "3"]}}),
            modified: json!({"metadata": {"finalizers": ["2", "1"]}}),
            current: json!({"metadata": {"finalizers": ["1", "2", "3"]}}),
            two_way: json!({"metadata": {"$setElementOrder/finalizers": ["2", "1"],
                "$deleteFromPrimitiveList/finalizers": ["3"]}}),
            three_way: json!({"metadata": {"$setElementOrder/finalizers": ["2", "1"],
                "$deleteFromPrimitiveList/finalizers": ["3"]}}),
            result: json!({"metadata": {"finalizers": ["2", "1"]}}),
        },
        DiffCase {
            name: "add multiple items in a list and preserve order",
            original: containers(json!([{"name": "1"}, {"name": "2", "value": "2"}])),
            modified: containers(json!([{"name": "1"}, {"name": "4", "value": "4"},
                {"name": "2", "value": "2"}, {"name": "3", "value": "3"}])),
            current: containers(
                json!([{"name": "1", "other": "a"}, {"name": "2", "value": "2", "other": "b"}]),
            ),
            two_way: json!({"spec": {"$setElementOrder/containers": [{"name": "1"}, {"name": "4"}, {"name": "2"}, {"name": "3"}],
                "containers": [{"name": "4", "value": "4"}, {"name": "3", "value": "3"}]}}),
            three_way: json!({"spec": {"$setElementOrder/containers": [{"name": "1"}, {"name": "4"}, {"name": "2"}, {"name": "3"}],
                "containers": [{"name": "4", "value": "4"}, {"name": "3", "value": "3"}]}}),
            result: containers(
                json!([{"name": "1", "other": "a"}, {"name": "4", "value": "4"},
                {"name": "2", "value": "2", "other": "b"}, {"name": "3", "value": "3"}]),
            ),
        },
        DiffCase {
            name: "change an item in a list and preserve order",
            original: containers(
                json!([{"name": "1"}, {"name": "3", "value": "3"}, {"name": "2", "value": "2"}]),
            ),
            modified: containers(
                json!([{"name": "2", "value": "2"}, {"name": "3", "value": "x"}, {"name": "1"}]),
            ),
            current: containers(
                json!([{"name": "1", "other": "a"}, {"name": "2", "value": "2", "other": "b"},
                {"name": "3", "value": "3"}]),
            ),
            two_way: json!({"spec": {"$setElementOrder/containers": [{"name": "2"}, {"name": "3"}, {"name": "1"}],
                "containers": [{"name": "3", "value": "x"}]}}),
            three_way: json!({"spec": {"$setElementOrder/containers": [{"name": "2"}, {"name": "3"}, {"name": "1"}],
                "containers": [{"name": "3", "value": "x"}]}}),
            result: containers(
                json!([{"name": "2", "value": "2", "other": "b"}, {"name": "3", "value": "x"},
                {"name": "1", "other": "a"}]),
            ),
        },
        DiffCase {
            name: "add and delete an item in a list and preserve order",
            original: containers(
                json!([{"name": "1"}, {"name": "3", "value": "3"}, {"name": "2", "value": "2"}]),
            ),
            modified: containers(
                json!([{"name": "4", "value": "4"}, {"name": "2", "value": "2"}, {"name": "1"}]),
            ),
            current: containers(
                json!([{"name": "1", "other": "a"}, {"name": "2", "value": "2", "other": "b"},
                {"name": "3", "value": "3"}]),
            ),
            two_way: json!({"spec": {"$setElementOrder/containers": [{"name": "4"}, {"name": "2"}, {"name": "1"}],
                "containers": [{"name": "4", "value": "4"}, {"name": "3", "$patch": "delete"}]}}),
            three_way: json!({"spec": {"$setElementOrder/containers": [{"name": "4"}, {"name": "2"}, {"name": "1"}],
                "containers": [{"name": "4", "value": "4"}, {"name": "3", "$patch": "delete"}]}}),
            result: containers(
                json!([{"name": "4", "value": "4"}, {"name": "2", "value": "2", "other": "b"},
                {"name": "1", "other": "a"}]),
            ),
        },
        DiffCase {
            name: "kubectl apply removes a label it had set and keeps the server's",
            original: json!({"metadata": {"labels": {"app": "a", "tier": "web"}}}),
            modified: json!({"metadata": {"labels": {"app": "a"}}}),
            current: json!({"metadata": {"labels": {"app": "a", "tier": "web", "added-by": "server"}}}),
            two_way: json!({"metadata": {"labels": {"tier": null}}}),
            three_way: json!({"metadata": {"labels": {"tier": null}}}),
            result: json!({"metadata": {"labels": {"app": "a", "added-by": "server"}}}),
        },
        DiffCase {
            name: "a volume's source changes: $retainKeys",
            original: json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
            modified: json!({"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x"}}]}}),
            current: json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
            two_way: json!({"spec": {"$setElementOrder/volumes": [{"name": "v"}], "volumes": [
                {"name": "v", "hostPath": {"path": "/x"}, "emptyDir": null, "$retainKeys": ["hostPath", "name"]}]}}),
            three_way: json!({"spec": {"$setElementOrder/volumes": [{"name": "v"}], "volumes": [
                {"name": "v", "hostPath": {"path": "/x"}, "emptyDir": null, "$retainKeys": ["hostPath", "name"]}]}}),
            result: json!({"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x"}}]}}),
        },
    ]
}

#[test]
fn kubectl_patches_follow_upstream() {
    let mut failures = Vec::new();
    for c in diff_cases() {
        let two = create_two_way_merge_patch("", "Pod", &c.original, &c.modified);
        if two.as_ref() != Ok(&c.two_way) {
            failures.push(format!(
                "{} (two-way):\n  got  {two:?}\n  want {}",
                c.name, c.two_way
            ));
        }
        let three = create_three_way_merge_patch("", "Pod", &c.original, &c.modified, &c.current);
        if three.as_ref() != Ok(&c.three_way) {
            failures.push(format!(
                "{} (three-way):\n  got  {three:?}\n  want {}",
                c.name, c.three_way
            ));
        }
        let result = apply("", "Pod", &c.current, &c.three_way);
        if result.as_ref() != Ok(&c.result) {
            failures.push(format!(
                "{} (result):\n  got  {result:?}\n  want {}",
                c.name, c.result
            ));
        }
        // The two-way patch turns the original into the modified object.
        let result = apply("", "Pod", &c.original, &c.two_way);
        if result.as_ref() != Ok(&c.modified) {
            failures.push(format!(
                "{} (two-way result):\n  got  {result:?}\n  want {}",
                c.name, c.modified
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} check(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn patch_meta_exposes_strategies_and_merge_keys() {
    let containers = patch_meta(
        "apps",
        "Deployment",
        &["spec", "template", "spec", "containers"],
    )
    .expect("containers have metadata");
    assert_eq!(containers.strategy, Strategy::Merge);
    assert_eq!(containers.merge_key, Some("name"));
    assert_eq!(containers.kind, FieldKind::List);
    assert_eq!(containers.type_name, Some("io.k8s.api.core.v1.Container"));
    assert_eq!(containers.list_type, Some(ListType::ListMap));

    let ports = patch_meta("", "Pod", &["spec", "containers", "ports"]).expect("ports");
    assert_eq!(ports.merge_key, Some("containerPort"));
    assert_eq!(ports.list_map_keys, &["containerPort", "protocol"]);

    let volumes = patch_meta("", "Pod", &["spec", "volumes"]).expect("volumes");
    assert_eq!(volumes.strategy.as_str(), Some("merge,retainKeys"));
    let tolerations = patch_meta("", "Pod", &["spec", "tolerations"]).expect("tolerations");
    assert_eq!(tolerations.strategy, Strategy::Plain);
    assert_eq!(tolerations.list_type, Some(ListType::Atomic));
    let owners = patch_meta("", "ConfigMap", &["metadata", "ownerReferences"]).expect("owners");
    assert_eq!(owners.merge_key, Some("uid"));
    let finalizers = patch_meta("", "Namespace", &["metadata", "finalizers"]).expect("finalizers");
    assert_eq!(
        (finalizers.strategy, finalizers.type_name),
        (Strategy::Merge, None)
    );
    let strategy = patch_meta("apps", "Deployment", &["spec", "strategy"]).expect("strategy");
    assert_eq!(strategy.strategy, Strategy::RetainKeys);
    assert_eq!(patch_meta("", "Pod", &["spec", "nodeName"]), None);
    assert_eq!(patch_meta("example.com", "Widget", &["spec"]), None);
    assert_eq!(
        patch_meta_of_type("io.k8s.api.core.v1.PodSpec", &["imagePullSecrets"])
            .and_then(|m| m.merge_key),
        Some("name")
    );
}

#[test]
fn every_registered_built_in_kind_has_patch_metadata() {
    let missing: Vec<String> = crate::registry::resources()
        .iter()
        .filter(|r| r.is_stored())
        .filter(|r| schema::root(r.group, r.kind).is_none())
        .map(|r| format!("{}/{}", r.group, r.kind))
        .collect();
    assert!(missing.is_empty(), "no patch metadata for {missing:?}");
}

#[test]
fn preferred_versions_come_first() {
    let hpa = schema::root("autoscaling", "HorizontalPodAutoscaler").map(|t| t.name);
    assert_eq!(
        hpa,
        Some("io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler")
    );
    assert!(known_kinds().any(|(g, v, k)| (g, v, k) == ("apps", "v1", "Deployment")));
}
