use serde_json::json;

use super::*;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn strings(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

#[test]
fn dns1123_subdomain() {
    for ok in [
        "a",
        "ab",
        "a-b",
        "0",
        "a.b",
        "1.2.3",
        "example.com",
        &"a".repeat(253),
    ] {
        assert!(is_dns1123_subdomain(ok).is_empty(), "{ok:?}");
    }
    for bad in [
        "", "A", "a_b", "-a", "a-", ".a", "a.", "a..b", "a.-b", "a b", "é",
    ] {
        assert_eq!(is_dns1123_subdomain(bad), [SUBDOMAIN_MSG], "{bad:?}");
    }
    // Too long but well formed: only the length message.
    assert_eq!(
        is_dns1123_subdomain(&"a".repeat(254)),
        ["must be no more than 253 characters"]
    );
    assert_eq!(
        is_dns1123_subdomain(&format!("{}-", "a".repeat(253))),
        ["must be no more than 253 characters", SUBDOMAIN_MSG]
    );
}

#[test]
fn dns1123_and_dns1035_labels() {
    for ok in ["a", "0", "a-0", "123-abc", &"a".repeat(63)] {
        assert!(is_dns1123_label(ok).is_empty(), "{ok:?}");
    }
    assert_eq!(is_dns1123_label("a.b"), ["must not contain dots"]);
    for bad in ["", "A", "-a", "a-", "a_b"] {
        assert_eq!(is_dns1123_label(bad), [LABEL_MSG], "{bad:?}");
    }
    assert_eq!(
        is_dns1123_label(&"a".repeat(64)),
        ["must be no more than 63 characters"]
    );

    for ok in ["a", "a-0", "abc-123"] {
        assert!(is_dns1035_label(ok).is_empty(), "{ok:?}");
    }
    for bad in ["", "0a", "-a", "a-", "a.b", "A"] {
        assert_eq!(is_dns1035_label(bad), [DNS1035_MSG], "{bad:?}");
    }
}

#[test]
fn qualified_names() {
    for ok in [
        "a",
        "A",
        "MyName",
        "my.name",
        "123-abc",
        "a_b",
        "example.com/MyName",
        "k8s.io/a",
    ] {
        assert!(is_qualified_name(ok).is_empty(), "{ok:?}");
    }
    let long = "a".repeat(64);
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("", vec!["name part must be non-empty".into(), NAME_PART_MSG.into()]),
        ("x/", vec!["name part must be non-empty".into(), NAME_PART_MSG.into()]),
        ("/x", vec!["prefix part must be non-empty".into()]),
        ("Example.com/x", vec![format!("prefix part {SUBDOMAIN_MSG}")]),
        ("-a", vec![NAME_PART_MSG.into()]),
        ("a-", vec![NAME_PART_MSG.into()]),
        ("a b", vec![NAME_PART_MSG.into()]),
        (&long, vec!["name part must be no more than 63 characters".into()]),
        (
            "a/b/c",
            vec!["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into()],
        ),
    ];
    for (name, want) in cases {
        assert_eq!(is_qualified_name(name), want, "{name:?}");
    }
}

#[test]
fn label_values() {
    for ok in [
        "",
        "a",
        "MyValue",
        "my_value",
        "12345",
        "a.b-c_d",
        &"a".repeat(63),
    ] {
        assert!(is_valid_label_value(ok).is_empty(), "{ok:?}");
    }
    for bad in ["-a", "a-", "_", "a b", "a/b"] {
        assert_eq!(is_valid_label_value(bad), [LABEL_VALUE_MSG], "{bad:?}");
    }
    assert_eq!(
        is_valid_label_value(&"a".repeat(64)),
        ["must be no more than 63 characters"]
    );
}

#[test]
fn path_segment_names() {
    assert_eq!(is_valid_path_segment_name("."), ["may not be '.'"]);
    assert_eq!(is_valid_path_segment_name(".."), ["may not be '..'"]);
    assert_eq!(
        is_valid_path_segment_name("a/b%c"),
        ["may not contain '/'", "may not contain '%'"]
    );
    assert!(is_valid_path_segment_name("...").is_empty());
    assert!(is_valid_path_segment_name("Any:Thing").is_empty());
    // A prefix may be `.`; random characters follow it.
    assert!(NameRule::PathSegment.validate(".", true).is_empty());
    assert_eq!(
        NameRule::PathSegment.validate("a/", true),
        ["may not contain '/'"]
    );
}

#[test]
fn generate_name_prefix_may_end_in_dash() {
    assert!(NameRule::Dns1123Subdomain.validate("web-", true).is_empty());
    assert!(NameRule::Dns1123Label.validate("a-", true).is_empty());
    assert!(NameRule::Dns1035Label.validate("web-", true).is_empty());
    assert_eq!(
        NameRule::Dns1123Subdomain.validate("web-", false),
        [SUBDOMAIN_MSG]
    );
    assert_eq!(
        NameRule::Dns1123Subdomain.validate("Web-", true),
        [SUBDOMAIN_MSG]
    );
    // Upstream masks the last two bytes, so a bad byte before the dash passes.
    assert_eq!(mask_trailing_dash("ab_-"), "aba");
    assert_eq!(mask_trailing_dash("-"), "-");
}

#[test]
fn object_meta_create() {
    let sub = NameRule::Dns1123Subdomain;
    let cases: Vec<(Value, bool, Vec<String>)> = vec![
        (json!({"name": "ok", "namespace": "ns"}), true, vec![]),
        (json!({"name": "ok"}), false, vec![]),
        (
            json!({}),
            false,
            vec!["metadata.name: Required value: name or generateName is required".into()],
        ),
        (
            json!({"generateName": "web-"}),
            true,
            vec![
                "metadata.name: Required value: name or generateName is required".into(),
                "metadata.namespace: Required value".into(),
            ],
        ),
        (
            json!({"name": "x", "namespace": "ns"}),
            false,
            vec!["metadata.namespace: Forbidden: not allowed on this type".into()],
        ),
        (
            json!({"name": "x", "namespace": "Bad.ns"}),
            true,
            vec!["metadata.namespace: Invalid value: \"Bad.ns\": ".to_string() + LABEL_MSG],
        ),
        (
            json!({"name": "Web", "generateName": "Web-"}),
            false,
            vec![
                format!("metadata.generateName: Invalid value: \"Web-\": {SUBDOMAIN_MSG}"),
                format!("metadata.name: Invalid value: \"Web\": {SUBDOMAIN_MSG}"),
            ],
        ),
        (
            json!({"name": "x", "generation": -1}),
            false,
            vec!["metadata.generation: Invalid value: -1: must be greater than or equal to 0".into()],
        ),
        (
            json!({"name": "x", "labels": {"app": "-x", "a b": "ok"}}),
            false,
            vec![
                format!("metadata.labels: Invalid value: \"-x\": {LABEL_VALUE_MSG}"),
                format!("metadata.labels: Invalid value: \"a b\": {NAME_PART_MSG}"),
            ],
        ),
        (
            // Annotation keys are checked lowercased.
            json!({"name": "x", "annotations": {"Example.COM/Key": "v", "a b": "v"}}),
            false,
            vec![format!("metadata.annotations: Invalid value: \"a b\": {NAME_PART_MSG}")],
        ),
        (
            json!({"name": "x", "ownerReferences": [{}]}),
            false,
            vec![
                "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty".into(),
                "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty".into(),
                "metadata.ownerReferences.name: Invalid value: \"\": name must not be empty".into(),
                "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty".into(),
            ],
        ),
        (
            json!({"name": "x", "ownerReferences": [{"apiVersion": "apps/", "kind": "K", "name": "n", "uid": "u"}]}),
            false,
            vec!["metadata.ownerReferences.apiVersion: Invalid value: \"apps/\": version must not be empty".into()],
        ),
        (
            json!({"name": "x", "finalizers": ["orphan", "foregroundDeletion", "a/b/c"]}),
            false,
            vec![
                "metadata.finalizers: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into(),
                "metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\", \"a/b/c\"}: finalizer orphan and foregroundDeletion cannot be both set".into(),
            ],
        ),
        (
            json!({"name": "x", "managedFields": [{"operation": "Patch", "fieldsType": "FieldsV2", "manager": "m"}]}),
            false,
            vec![
                "metadata.managedFields[0].operation: Invalid value: \"Patch\": must be `Apply` or `Update`".into(),
                "metadata.managedFields[0].fieldsType: Invalid value: \"FieldsV2\": must be `FieldsV1`".into(),
            ],
        ),
    ];
    for (meta, namespaced, want) in cases {
        let got = strings(&validate_object_meta(&meta, namespaced, sub, "metadata"));
        assert_eq!(got, want, "{meta}");
    }
}

#[test]
fn annotations_total_size_is_limited() {
    let mut m = Map::new();
    m.insert(
        "k".into(),
        Value::String("v".repeat(TOTAL_ANNOTATION_SIZE_LIMIT_B - 1)),
    );
    assert!(validate_annotations(&m, "metadata.annotations").is_empty());
    m.insert(
        "k".into(),
        Value::String("v".repeat(TOTAL_ANNOTATION_SIZE_LIMIT_B)),
    );
    let errs = validate_annotations(&m, "metadata.annotations");
    assert_eq!(
        strings(&errs),
        ["metadata.annotations: Too long: may not be more than 262144 bytes"]
    );
    assert_eq!(errs[0].kind, FieldErrorKind::TooLong);
}

#[test]
fn only_one_controller_owner() {
    let refs = [
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1", "controller": true}),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "2", "controller": true}),
        json!({"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "3"}),
    ];
    let errs = validate_owner_references(&refs, "metadata.ownerReferences");
    let details: Vec<(&str, &str)> = errs
        .iter()
        .map(|e| (e.field.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(
        details,
        [
            (
                "metadata.ownerReferences",
                "Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/a and ReplicaSet/b"
            ),
            (
                "metadata.ownerReferences",
                "/v1, Kind=Event is disallowed from being an owner"
            ),
        ]
    );
}

#[test]
fn field_manager_must_be_printable_and_short() {
    let errs = validate_field_manager("m\u{7}", "fieldManager");
    assert_eq!(errs[0].detail, "invalid character U+0007 (at position 1)");
    let errs = validate_field_manager(&"m".repeat(129), "fieldManager");
    assert_eq!(
        strings(&errs),
        ["fieldManager: Too long: may not be more than 128 bytes"]
    );
    assert!(validate_field_manager("kubectl-client-side-apply é", "fieldManager").is_empty());
}

#[test]
fn object_meta_update() {
    let old = json!({
        "name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "5",
        "generation": 2, "creationTimestamp": "2024-01-01T00:00:00Z",
    });
    let same = json!({
        "name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "5",
        "generation": 2, "creationTimestamp": "2024-01-01T00:00:00+00:00",
    });
    assert!(validate_object_meta_update(&same, &old, "metadata").is_empty());

    let changed = json!({
        "name": "b", "namespace": "other", "uid": "u2", "generation": 1,
        "creationTimestamp": "2024-01-02T00:00:00Z", "deletionGracePeriodSeconds": 30,
        "labels": {"x": "-"},
    });
    assert_eq!(
        strings(&validate_object_meta_update(&changed, &old, "metadata")),
        [
            "metadata.resourceVersion: Invalid value: \"\": must be specified for an update".to_string(),
            "metadata.generation: Invalid value: 1: must not be decremented".to_string(),
            "metadata.name: Invalid value: \"b\": field is immutable".to_string(),
            "metadata.namespace: Invalid value: \"other\": field is immutable".to_string(),
            "metadata.uid: Invalid value: \"u2\": field is immutable".to_string(),
            "metadata.creationTimestamp: Invalid value: 2024-01-02 00:00:00 +0000 UTC: field is immutable".to_string(),
            "metadata.deletionGracePeriodSeconds: Invalid value: 30: field is immutable".to_string(),
            format!("metadata.labels: Invalid value: \"-\": {LABEL_VALUE_MSG}"),
        ]
    );
}

#[test]
fn deleting_object_may_not_gain_finalizers() {
    let old = json!({
        "name": "a", "resourceVersion": "5", "deletionTimestamp": "2024-01-01T00:00:00Z",
        "deletionGracePeriodSeconds": 0, "finalizers": ["a/x"],
    });
    let mut new = old.clone();
    new["finalizers"] = json!(["a/x", "b/y", "a/z"]);
    assert_eq!(
        strings(&validate_object_meta_update(&new, &old, "metadata")),
        [
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"a/z\", \"b/y\"}"
        ]
    );
    new["finalizers"] = json!([]);
    assert!(validate_object_meta_update(&new, &old, "metadata").is_empty());
    new.as_object_mut().map(|m| m.remove("deletionTimestamp"));
    assert_eq!(
        strings(&validate_object_meta_update(&new, &old, "metadata")),
        ["metadata.deletionTimestamp: Invalid value: \"null\": field is immutable"]
    );
}
