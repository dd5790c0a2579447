use serde_json::json;

use super::*;

/// A valid spec after defaulting, as stored.
fn spec() -> Value {
    json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 5,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 80}}}],
    })
}

/// `spec()` with top-level fields replaced (`null` removes one).
fn spec_with(changes: Value) -> Value {
    let mut s = spec();
    if let (Some(s), Some(changes)) = (s.as_object_mut(), changes.as_object()) {
        for (k, v) in changes {
            if v.is_null() {
                s.remove(k);
            } else {
                s.insert(k.clone(), v.clone());
            }
        }
    }
    s
}

/// `spec()` with one metric.
fn metric(m: Value) -> Value {
    spec_with(json!({ "metrics": [m] }))
}

/// `spec()` with a behavior.
fn behavior(b: Value) -> Value {
    spec_with(json!({ "behavior": b }))
}

fn check(cases: Vec<(&str, Value, Vec<&str>)>) {
    for (what, spec, want) in cases {
        let got: Vec<String> = validate_spec(&spec, 1)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn replicas_and_target() {
    check(vec![
        ("valid", spec(), vec![]),
        (
            "minReplicas unset",
            spec_with(json!({"minReplicas": null})),
            vec![],
        ),
        (
            "minReplicas 0 without the gate",
            spec_with(json!({"minReplicas": 0})),
            vec![
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
                "spec.metrics: Forbidden: must specify at least one Object or External metric to support scaling to zero replicas",
            ],
        ),
        (
            "maxReplicas 0",
            spec_with(json!({"maxReplicas": 0})),
            vec![
                "spec.maxReplicas: Invalid value: 0: must be greater than 0",
                "spec.maxReplicas: Invalid value: 0: must be greater than or equal to `minReplicas`",
            ],
        ),
        (
            "maxReplicas unset",
            spec_with(json!({"maxReplicas": null, "minReplicas": null})),
            vec!["spec.maxReplicas: Invalid value: 0: must be greater than 0"],
        ),
        (
            "maxReplicas below minReplicas",
            spec_with(json!({"minReplicas": 4, "maxReplicas": 3})),
            vec![
                "spec.maxReplicas: Invalid value: 3: must be greater than or equal to `minReplicas`",
            ],
        ),
        (
            "maxReplicas equal to minReplicas",
            spec_with(json!({"minReplicas": 3, "maxReplicas": 3})),
            vec![],
        ),
        (
            "scaleTargetRef kind and name required",
            spec_with(json!({"scaleTargetRef": {"apiVersion": "apps/v1"}})),
            vec![
                "spec.scaleTargetRef.kind: Required value",
                "spec.scaleTargetRef.name: Required value",
            ],
        ),
        (
            "scaleTargetRef name a path segment",
            spec_with(json!({"scaleTargetRef": {"kind": "..", "name": "a/b%"}})),
            vec![
                "spec.scaleTargetRef.kind: Invalid value: \"..\": may not be '..'",
                "spec.scaleTargetRef.name: Invalid value: \"a/b%\": may not contain '/'",
                "spec.scaleTargetRef.name: Invalid value: \"a/b%\": may not contain '%'",
            ],
        ),
    ]);
}

#[test]
fn scale_to_zero_bound() {
    let zero = spec_with(json!({"minReplicas": 0, "metrics": [{"type": "External",
        "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "10"}}}]}));
    // The gate on, or an old object already at zero, allows 0 (with an
    // Object or External metric).
    assert_eq!(min_replicas_lower_bound(true, None), 0);
    assert_eq!(min_replicas_lower_bound(false, None), 1);
    let old_zero = json!({"spec": {"minReplicas": 0}});
    let old_one = json!({"spec": {"minReplicas": 1}});
    assert_eq!(min_replicas_lower_bound(false, Some(&old_zero)), 0);
    assert_eq!(min_replicas_lower_bound(false, Some(&old_one)), 1);
    assert!(validate_spec(&zero, 0).is_empty());
    assert_eq!(
        validate_spec(&zero, 1)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec!["spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"]
    );
}

#[test]
fn metric_sources() {
    check(vec![
        (
            "type required",
            metric(
                json!({"resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}),
            ),
            vec![
                "spec.metrics[0].type: Required value: must specify a metric source type",
                "spec.metrics[0].type: Unsupported value: \"\": supported values: \"ContainerResource\", \"External\", \"Object\", \"Pods\", \"Resource\"",
                "spec.metrics[0].type: Unsupported value: \"\": supported values: \"ContainerResource\", \"External\", \"Object\", \"Pods\", \"Resource\"",
            ],
        ),
        (
            "source of the type missing",
            metric(json!({"type": "Pods"})),
            vec![
                "spec.metrics[0].pods: Required value: must populate information for the given metric source",
            ],
        ),
        (
            "another source set",
            metric(json!({"type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1"}}})),
            vec!["spec.metrics[0].pods: Forbidden: must populate the given metric source only"],
        ),
        (
            "resource: name and target required",
            metric(json!({"type": "Resource", "resource": {"target": {}}})),
            vec![
                "spec.metrics[0].resource.name: Required value: must specify a resource name",
                "spec.metrics[0].resource.target.type: Required value: must specify a metric target type",
                "spec.metrics[0].resource.target.type: Invalid value: \"\": must be either Utilization, Value, or AverageValue",
                "spec.metrics[0].resource.target.averageUtilization: Required value: must set either a target raw value or a target utilization",
            ],
        ),
        (
            "resource: utilization and value both set",
            metric(json!({"type": "Resource", "resource": {"name": "memory",
                "target": {"type": "Utilization", "averageUtilization": 0, "averageValue": "0"}}})),
            vec![
                "spec.metrics[0].resource.target.averageValue: Invalid value: 0: must be positive",
                "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
                "spec.metrics[0].resource.target.averageValue: Forbidden: may not set both a target raw value and a target utilization",
            ],
        ),
        (
            "pods: metric name and average value",
            metric(
                json!({"type": "Pods", "pods": {"metric": {}, "target": {"type": "AverageValue"}}}),
            ),
            vec![
                "spec.metrics[0].pods.metric.name: Required value: must specify a metric name",
                "spec.metrics[0].pods.target.averageValue: Required value: must specify a positive target averageValue",
            ],
        ),
        (
            "pods: negative average value",
            metric(json!({"type": "Pods", "pods": {"metric": {"name": "qps"},
                "target": {"type": "AverageValue", "averageValue": "-100m"}}})),
            vec![
                "spec.metrics[0].pods.target.averageValue: Invalid value: -100m: must be positive",
            ],
        ),
        (
            "object: described object and a value",
            metric(
                json!({"type": "Object", "object": {"metric": {"name": "hits/s"},
                "target": {"type": "Utilization", "averageUtilization": 50}}}),
            ),
            vec![
                "spec.metrics[0].object.describedObject.kind: Required value",
                "spec.metrics[0].object.describedObject.name: Required value",
                "spec.metrics[0].object.metric.name: Invalid value: \"hits/s\": may not contain '/'",
                "spec.metrics[0].object.target.averageValue: Required value: must set either a target value or averageValue",
            ],
        ),
        (
            "external: value and average value both set",
            metric(
                json!({"type": "External", "external": {"metric": {"name": "queue"},
                "target": {"type": "Value", "value": "1", "averageValue": "2"}}}),
            ),
            vec![
                "spec.metrics[0].external.target.value: Forbidden: may not set both a target value for metric and a per-pod target",
            ],
        ),
        (
            "external: no value",
            metric(
                json!({"type": "External", "external": {"metric": {"name": "queue"},
                "target": {"type": "Value", "value": 0}}}),
            ),
            vec!["spec.metrics[0].external.target.value: Invalid value: 0: must be positive"],
        ),
        (
            "container resource: valid",
            metric(
                json!({"type": "ContainerResource", "containerResource": {"name": "cpu",
                "container": "app", "target": {"type": "Utilization", "averageUtilization": 60}}}),
            ),
            vec![],
        ),
        (
            "container resource: names",
            metric(
                json!({"type": "ContainerResource", "containerResource": {"name": "pods",
                "container": "App", "target": {"type": "AverageValue", "averageValue": "1"}}}),
            ),
            vec![
                "spec.metrics[0].containerResource.name: Invalid value: \"pods\": must be a standard resource for containers",
                "spec.metrics[0].containerResource.container: Invalid value: \"App\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            ],
        ),
        (
            "container resource: unknown and extended names",
            spec_with(json!({"metrics": [
                {"type": "ContainerResource", "containerResource": {"name": "gpu", "container": "app",
                    "target": {"type": "AverageValue", "averageValue": "1"}}},
                {"type": "ContainerResource", "containerResource": {"name": "example.com/gpu", "container": "app",
                    "target": {"type": "AverageValue", "averageValue": "1"}}},
                {"type": "ContainerResource", "containerResource": {"name": "requests.example.com/gpu", "container": "app",
                    "target": {"type": "AverageValue", "averageValue": "1"}}},
            ]})),
            vec![
                "spec.metrics[0].containerResource.name: Invalid value: \"gpu\": must be a standard resource type or fully qualified",
                "spec.metrics[2].containerResource.name: Invalid value: \"requests.example.com/gpu\": doesn't have a resource type",
            ],
        ),
        (
            "unknown type",
            metric(json!({"type": "Custom"})),
            vec![
                "spec.metrics[0].type: Unsupported value: \"Custom\": supported values: \"ContainerResource\", \"External\", \"Object\", \"Pods\", \"Resource\"",
                "spec.metrics[0].type: Unsupported value: \"Custom\": supported values: \"ContainerResource\", \"External\", \"Object\", \"Pods\", \"Resource\"",
            ],
        ),
    ]);
}

#[test]
fn behavior_rules() {
    let rules = |r: Value| {
        let mut full = json!({"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]});
        if let (Some(full), Some(r)) = (full.as_object_mut(), r.as_object()) {
            for (k, v) in r {
                full.insert(k.clone(), v.clone());
            }
        }
        full
    };
    check(vec![
        (
            "valid",
            behavior(json!({"scaleUp": rules(json!({})), "scaleDown": rules(json!({}))})),
            vec![],
        ),
        (
            "stabilization window bounds",
            behavior(json!({
                "scaleUp": rules(json!({"stabilizationWindowSeconds": -1})),
                "scaleDown": rules(json!({"stabilizationWindowSeconds": 3601})),
            })),
            vec![
                "spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: -1: must be greater than or equal to zero",
                "spec.behavior.scaleDown.stabilizationWindowSeconds: Invalid value: 3601: must be less than or equal to 3600",
            ],
        ),
        (
            "window of an hour is allowed",
            behavior(json!({"scaleDown": rules(json!({"stabilizationWindowSeconds": 3600}))})),
            vec![],
        ),
        (
            "select policy",
            behavior(json!({"scaleUp": rules(json!({"selectPolicy": "Avg"}))})),
            vec![
                "spec.behavior.scaleUp.selectPolicy: Unsupported value: \"Avg\": supported values: \"Disabled\", \"Max\", \"Min\"",
            ],
        ),
        (
            "policies required",
            behavior(json!({"scaleDown": rules(json!({"policies": []}))})),
            vec![
                "spec.behavior.scaleDown.policies: Required value: must specify at least one Policy",
            ],
        ),
        (
            "policy type, value and period",
            behavior(json!({"scaleUp": rules(json!({"policies": [
                {"type": "Pods", "value": 1, "periodSeconds": 1800},
                {"type": "Replicas", "value": 0, "periodSeconds": 0},
                {"type": "Percent", "value": -5, "periodSeconds": 1801},
            ]}))})),
            vec![
                "spec.behavior.scaleUp.policies[1].type: Unsupported value: \"Replicas\": supported values: \"Percent\", \"Pods\"",
                "spec.behavior.scaleUp.policies[1].value: Invalid value: 0: must be greater than zero",
                "spec.behavior.scaleUp.policies[1].periodSeconds: Invalid value: 0: must be greater than zero",
                "spec.behavior.scaleUp.policies[2].value: Invalid value: -5: must be greater than zero",
                "spec.behavior.scaleUp.policies[2].periodSeconds: Invalid value: 1801: must be less than or equal to 1800",
            ],
        ),
    ]);
}

#[test]
fn v1_cpu_target_reported_where_conversion_puts_it() {
    // `targetCPUUtilizationPercentage: 0` through autoscaling/v1, converted to
    // the stored form.
    let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3,
            "targetCPUUtilizationPercentage": 0}});
    let info = skiff_core::registry::lookup("autoscaling", "v1", "horizontalpodautoscalers")
        .expect("autoscaling/v1 HPAs are served");
    let stored = skiff_core::conversion::to_storage(info, v1).expect("converts");
    let got: Vec<String> = validate_spec(&stored["spec"], 1)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        vec![
            "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"
        ]
    );
}
