use serde_json::json;

use super::*;

/// A valid Event as the new API writes it, in the stored core form.
fn new_api_event() -> Value {
    json!({
        "metadata": {"name": "web.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1", "apiVersion": "v1"},
        "reason": "FailedScheduling",
        "message": "0/1 nodes are available",
        "type": "Warning",
        "eventTime": "2025-01-10T11:59:30.123456Z",
        "action": "Scheduling",
        "reportingComponent": "default-scheduler",
        "reportingInstance": "default-scheduler-node-1",
    })
}

/// A valid Event as an old client writes it: no eventTime, a source, a count.
fn old_api_event() -> Value {
    json!({
        "metadata": {"name": "web.2", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web"},
        "reason": "Pulled",
        "message": "pulled",
        "type": "Normal",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2025-01-10T11:00:00Z",
        "lastTimestamp": "2025-01-10T11:01:00Z",
        "count": 2,
    })
}

/// `base` with `path` (a JSON pointer) set to `value`, or removed for `null`.
fn with(mut base: Value, changes: &[(&str, Value)]) -> Value {
    for (path, value) in changes {
        let (parent, key) = path.rsplit_once('/').unwrap_or(("", path));
        let Some(obj) = base.pointer_mut(parent).and_then(Value::as_object_mut) else {
            panic!("no object at {parent}");
        };
        if value.is_null() {
            obj.remove(key);
        } else {
            obj.insert(key.to_string(), value.clone());
        }
    }
    base
}

/// JSON pointers and the values to set there.
type Changes<'a> = Vec<(&'a str, Value)>;

fn strings(errs: Vec<FieldError>) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

const QUALIFIED_NAME_REGEX: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

#[test]
fn legacy_rules_on_both_apis() {
    let long = "x".repeat(129);
    let long_note = "n".repeat(1025);
    // Table: (what, event, api, expected errors).
    let cases: Vec<(&str, Value, EventApi, Vec<String>)> = vec![
        ("new-style event", new_api_event(), EventApi::EventsV1, vec![]),
        ("old-style event", old_api_event(), EventApi::Core, vec![]),
        (
            "old style: namespaces disagree",
            with(old_api_event(), &[("/involvedObject/namespace", json!("other"))]),
            EventApi::Core,
            vec![r#"involvedObject.namespace: Invalid value: "other": does not match event.namespace"#.into()],
        ),
        (
            "old style: cluster-scoped object, event in default",
            with(old_api_event(), &[("/involvedObject/namespace", Value::Null)]),
            EventApi::Core,
            vec![],
        ),
        (
            "old style: cluster-scoped object, event elsewhere",
            with(
                old_api_event(),
                &[
                    ("/involvedObject/namespace", Value::Null),
                    ("/metadata/namespace", json!("team")),
                ],
            ),
            EventApi::Core,
            vec![r#"involvedObject.namespace: Invalid value: "": does not match event.namespace"#.into()],
        ),
        (
            "new style: cluster-scoped object in kube-system",
            with(
                new_api_event(),
                &[
                    ("/involvedObject/namespace", Value::Null),
                    ("/metadata/namespace", json!("kube-system")),
                ],
            ),
            EventApi::EventsV1,
            vec![],
        ),
        (
            "new style: cluster-scoped object elsewhere",
            with(
                new_api_event(),
                &[
                    ("/involvedObject/namespace", Value::Null),
                    ("/metadata/namespace", json!("team")),
                ],
            ),
            EventApi::EventsV1,
            vec![r#"involvedObject.namespace: Invalid value: "": does not match event.namespace"#.into()],
        ),
        (
            "new style through events.k8s.io: reporter, instance, action, reason required",
            with(
                new_api_event(),
                &[
                    ("/reportingComponent", Value::Null),
                    ("/reportingInstance", Value::Null),
                    ("/action", Value::Null),
                    ("/reason", Value::Null),
                ],
            ),
            EventApi::EventsV1,
            vec![
                "reportingController: Required value".into(),
                r#"reportingController: Invalid value: "": name part must be non-empty"#.into(),
                format!(r#"reportingController: Invalid value: "": name part {QUALIFIED_NAME_REGEX}"#),
                "reportingInstance: Required value".into(),
                "action: Required value".into(),
                "reason: Required value".into(),
            ],
        ),
        (
            "new style through core v1: the reporter keeps its core name",
            with(new_api_event(), &[("/reportingComponent", Value::Null)]),
            EventApi::Core,
            vec![
                "reportingComponent: Required value".into(),
                r#"reportingComponent: Invalid value: "": name part must be non-empty"#.into(),
                format!(r#"reportingComponent: Invalid value: "": name part {QUALIFIED_NAME_REGEX}"#),
            ],
        ),
        (
            "reporter not a qualified name",
            with(new_api_event(), &[("/reportingComponent", json!("my controller"))]),
            EventApi::EventsV1,
            vec![format!(
                r#"reportingController: Invalid value: "my controller": name part {QUALIFIED_NAME_REGEX}"#
            )],
        ),
        (
            "length limits",
            with(
                new_api_event(),
                &[
                    ("/reportingInstance", json!(long)),
                    ("/action", json!(long)),
                    ("/reason", json!(long)),
                    ("/message", json!(long_note)),
                ],
            ),
            EventApi::EventsV1,
            vec![
                r#"reportingInstance: Invalid value: "": can have at most 128 characters"#.into(),
                r#"action: Invalid value: "": can have at most 128 characters"#.into(),
                r#"reason: Invalid value: "": can have at most 128 characters"#.into(),
                r#"message: Invalid value: "": can have at most 1024 characters"#.into(),
            ],
        ),
        (
            "limits are inclusive",
            with(
                new_api_event(),
                &[
                    ("/action", json!("a".repeat(128))),
                    ("/message", json!("m".repeat(1024))),
                ],
            ),
            EventApi::EventsV1,
            vec![],
        ),
        (
            "old-style events have no limits",
            with(old_api_event(), &[("/reason", json!(long)), ("/message", json!(long_note))]),
            EventApi::Core,
            vec![],
        ),
    ];
    for (what, event, api, want) in cases {
        assert_eq!(strings(validate_legacy(&event, api)), want, "{what}");
    }
}

#[test]
fn strict_create_rules() {
    // Table: (what, event, expected errors).
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("valid", new_api_event(), vec![]),
        (
            "valid series",
            with(
                new_api_event(),
                &[(
                    "/series",
                    json!({"count": 2, "lastObservedTime": "2025-01-10T12:00:00.000001Z"}),
                )],
            ),
            vec![],
        ),
        (
            "eventTime required",
            with(new_api_event(), &[("/eventTime", Value::Null)]),
            vec!["eventTime: Required value"],
        ),
        (
            "type Normal or Warning",
            with(new_api_event(), &[("/type", json!("Info"))]),
            vec![r#"type: Invalid value: "": has invalid value: Info"#],
        ),
        (
            "type required",
            with(new_api_event(), &[("/type", Value::Null)]),
            vec![r#"type: Invalid value: "": has invalid value: "#],
        ),
        (
            "deprecated fields unset",
            with(
                new_api_event(),
                &[
                    ("/firstTimestamp", json!("2025-01-10T11:00:00Z")),
                    ("/lastTimestamp", json!("2025-01-10T11:00:00Z")),
                    ("/count", json!(1)),
                    ("/source", json!({"host": "node-1"})),
                ],
            ),
            vec![
                r#"firstTimestamp: Invalid value: "": needs to be unset"#,
                r#"lastTimestamp: Invalid value: "": needs to be unset"#,
                r#"count: Invalid value: "": needs to be unset"#,
                r#"source: Invalid value: "": needs to be unset"#,
            ],
        ),
        (
            "empty deprecated fields are unset",
            with(
                new_api_event(),
                &[("/source", json!({})), ("/count", json!(0))],
            ),
            vec![],
        ),
        (
            "series of one, without a time",
            with(new_api_event(), &[("/series", json!({"count": 1}))]),
            vec![
                r#"series.count: Invalid value: "": should be at least 2"#,
                "series.lastObservedTime: Required value",
            ],
        ),
    ];
    for (what, event, want) in cases {
        assert_eq!(strings(validate_strict_create(&event)), want, "{what}");
    }
}

#[test]
fn strict_update_rules() {
    let old = new_api_event();
    // Table: (what, changes to the old event, expected errors).
    let cases: Vec<(&str, Changes, Vec<&str>)> = vec![
        ("nothing changed", vec![], vec![]),
        (
            "a series may start",
            vec![(
                "/series",
                json!({"count": 2, "lastObservedTime": "2025-01-10T12:00:00Z"}),
            )],
            vec![],
        ),
        (
            "a new series is validated",
            vec![(
                "/series",
                json!({"count": 1, "lastObservedTime": "2025-01-10T12:00:00Z"}),
            )],
            vec![r#"series.count: Invalid value: "": should be at least 2"#],
        ),
        (
            "sub-microsecond eventTime changes are tolerated",
            vec![("/eventTime", json!("2025-01-10T11:59:30.123456789Z"))],
            vec![],
        ),
        (
            "eventTime is immutable",
            vec![("/eventTime", json!("2025-01-10T11:59:31.5Z"))],
            vec!["eventTime: Invalid value: 2025-01-10 11:59:31.5 +0000 UTC: field is immutable"],
        ),
        (
            "the object and the reporter are immutable",
            vec![
                ("/involvedObject/name", json!("db")),
                ("/reportingComponent", json!("kubelet")),
                ("/reportingInstance", json!("node-2")),
            ],
            vec![
                r#"involvedObject: Invalid value: core.ObjectReference{Kind:"Pod", Namespace:"default", Name:"db", UID:"u1", APIVersion:"v1", ResourceVersion:"", FieldPath:""}: field is immutable"#,
                r#"reportingController: Invalid value: "kubelet": field is immutable"#,
                r#"reportingInstance: Invalid value: "node-2": field is immutable"#,
            ],
        ),
        (
            "reason (twice, as upstream), note, type and action are immutable",
            vec![
                ("/reason", json!("Scheduled")),
                ("/message", json!("ok")),
                ("/type", json!("Normal")),
                ("/action", json!("Binding")),
            ],
            vec![
                r#"reason: Invalid value: "Scheduled": field is immutable"#,
                r#"message: Invalid value: "ok": field is immutable"#,
                r#"reason: Invalid value: "Scheduled": field is immutable"#,
                r#"type: Invalid value: "Normal": field is immutable"#,
                r#"action: Invalid value: "Binding": field is immutable"#,
            ],
        ),
        (
            "deprecated fields are immutable",
            vec![
                ("/source", json!({"component": "kubelet"})),
                ("/firstTimestamp", json!("2025-01-10T11:00:00Z")),
                ("/count", json!(3)),
            ],
            vec![
                r#"source: Invalid value: core.EventSource{Component:"kubelet", Host:""}: field is immutable"#,
                "firstTimestamp: Invalid value: 2025-01-10 11:00:00 +0000 UTC: field is immutable",
                "count: Invalid value: 3: field is immutable",
            ],
        ),
        (
            "related may not appear",
            vec![("/related", json!({"kind": "Node", "name": "node-1"}))],
            vec![
                r#"related: Invalid value: core.ObjectReference{Kind:"Node", Namespace:"", Name:"node-1", UID:"", APIVersion:"", ResourceVersion:"", FieldPath:""}: field is immutable"#,
            ],
        ),
    ];
    for (what, changes, want) in cases {
        let new = with(old.clone(), &changes);
        assert_eq!(strings(validate_strict_update(&new, &old)), want, "{what}");
    }
    // Removing `related` shows the nil pointer.
    let old_related = with(old.clone(), &[("/related", json!({"kind": "Node"}))]);
    assert_eq!(
        strings(validate_strict_update(&old, &old_related)),
        vec![r#"related: Invalid value: "null": field is immutable"#]
    );
}

#[test]
fn each_api_gets_its_own_rules() {
    let no_time = with(new_api_event(), &[("/eventTime", Value::Null)]);
    // Core: an Event without eventTime is an old-style one; nothing to say.
    assert!(CORE_EVENT.validate(&no_time).is_empty());
    assert!(CORE_EVENT.validate_create(&no_time).is_empty());
    assert_eq!(
        strings(EVENTS_V1_EVENT.validate_create(&no_time)),
        vec!["eventTime: Required value"]
    );
    // Core updates may change anything the legacy rules allow.
    let changed = with(new_api_event(), &[("/message", json!("other"))]);
    assert!(
        CORE_EVENT
            .validate_update(&changed, &new_api_event())
            .is_empty()
    );
    assert_eq!(
        strings(EVENTS_V1_EVENT.validate_update(&changed, &new_api_event())),
        vec![r#"message: Invalid value: "other": field is immutable"#]
    );
    assert_eq!(CORE_EVENT.name_rule(), NameRule::PathSegment);
    assert_eq!(EVENTS_V1_EVENT.name_rule(), NameRule::Dns1123Subdomain);
}

#[test]
fn go_time_strings() {
    let cases = [
        (
            Some("2025-01-10T11:00:00Z"),
            "2025-01-10 11:00:00 +0000 UTC",
        ),
        (
            Some("2025-01-10T11:00:00.120000Z"),
            "2025-01-10 11:00:00.12 +0000 UTC",
        ),
        (
            Some("2025-01-10T13:00:00+02:00"),
            "2025-01-10 11:00:00 +0000 UTC",
        ),
        (None, "0001-01-01 00:00:00 +0000 UTC"),
    ];
    for (input, want) in cases {
        let t = input.and_then(meta::parse_time);
        assert_eq!(go_time(t), want, "{input:?}");
    }
}
