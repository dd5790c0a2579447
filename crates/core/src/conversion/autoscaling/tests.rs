use super::*;
use serde_json::json;

fn v1(spec: Value, annotations: Option<Value>) -> Value {
    let mut meta = json!({"name": "web", "namespace": "default"});
    if let Some(a) = annotations {
        meta["annotations"] = a;
    }
    json!({
        "kind": "HorizontalPodAutoscaler",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": spec,
    })
}

fn v2(spec: Value, status: Value) -> Value {
    json!({
        "kind": "HorizontalPodAutoscaler",
        "apiVersion": "autoscaling/v2",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": spec,
        "status": status,
    })
}

fn target() -> Value {
    json!({"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"})
}

fn cpu(target: i64) -> Value {
    json!({"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": target}}})
}

fn memory() -> Value {
    json!({"type": "Resource", "resource": {"name": "memory",
        "target": {"type": "AverageValue", "averageValue": "500Mi"}}})
}

fn pods() -> Value {
    json!({"type": "Pods", "pods": {"metric": {"name": "qps", "selector": {"matchLabels": {"a": "b"}}},
        "target": {"type": "AverageValue", "averageValue": "10"}}})
}

fn object() -> Value {
    json!({"type": "Object", "object": {
        "describedObject": {"kind": "Ingress", "name": "main", "apiVersion": "networking.k8s.io/v1"},
        "target": {"type": "Value", "value": "2k"},
        "metric": {"name": "requests"}}})
}

fn external() -> Value {
    json!({"type": "External", "external": {"metric": {"name": "queue"},
        "target": {"type": "AverageValue", "averageValue": "30"}}})
}

fn container_resource() -> Value {
    json!({"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app",
        "target": {"type": "Utilization", "averageUtilization": 60}}})
}

fn annotations(obj: &Value) -> Map<String, Value> {
    obj.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn v1_cpu_target_is_a_v2_cpu_metric_and_back() {
    let cases = [
        // (v1 targetCPUUtilizationPercentage, the v2 metric target)
        (Some(50), 50),
        // No target: v2 spells out the implicit default.
        (None, DEFAULT_CPU_UTILIZATION),
    ];
    for (given, expected) in cases {
        let mut spec = json!({"scaleTargetRef": target(), "minReplicas": 1, "maxReplicas": 5});
        if let Some(t) = given {
            spec["targetCPUUtilizationPercentage"] = json!(t);
        }
        let stored = v1_to_v2(v1(spec, None)).expect("converts");
        assert_eq!(stored["apiVersion"], "autoscaling/v2");
        assert_eq!(stored["spec"]["metrics"], json!([cpu(expected)]));
        assert_eq!(stored["spec"]["maxReplicas"], 5);
        assert!(stored.pointer("/metadata/annotations").is_none());

        let back = v2_to_v1(stored);
        assert_eq!(back["apiVersion"], "autoscaling/v1");
        assert_eq!(back["spec"]["targetCPUUtilizationPercentage"], expected);
        assert_eq!(back["spec"]["scaleTargetRef"], target());
        assert!(back.pointer("/metadata/annotations").is_none(), "{back}");
        assert_eq!(
            back["status"],
            json!({"currentReplicas": 0, "desiredReplicas": 0})
        );
    }
}

#[test]
fn v2_only_data_round_trips_through_v1_annotations() {
    // Table: v2 objects whose every field must survive v2 -> v1 -> v2. The CPU
    // utilization metric comes last because v1 appends it after the others.
    let behavior = json!({
        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                         {"type": "Percent", "value": 100, "periodSeconds": 15}]},
        "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Min",
            "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}],
            "tolerance": "50m"},
    });
    let status = json!({
        "observedGeneration": 3,
        "lastScaleTime": "2025-01-01T00:00:00Z",
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageValue": "120m", "averageUtilization": 61}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "7"}}},
            {"type": "Object", "object": {"metric": {"name": "requests"},
                "current": {"value": "1k"},
                "describedObject": {"kind": "Ingress", "name": "main"}}},
            {"type": "External", "external": {"metric": {"name": "queue"},
                "current": {"value": "0", "averageValue": "12"}}},
        ],
        "conditions": [
            {"type": "AbleToScale", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z",
                "reason": "ReadyForNewScale", "message": "recommended size matches current size"},
            {"type": "ScalingActive", "status": "False", "lastTransitionTime": "2025-01-01T00:00:00Z",
                "reason": "FailedGetResourceMetric"},
        ],
    });
    let base = json!({"scaleTargetRef": target(), "minReplicas": 2, "maxReplicas": 10});
    let with = |metrics: Vec<Value>, behavior: Option<&Value>| {
        let mut s = base.clone();
        s["metrics"] = json!(metrics);
        if let Some(b) = behavior {
            s["behavior"] = b.clone();
        }
        s
    };
    let cases = [
        v2(
            with(vec![memory(), cpu(50)], None),
            json!({"desiredReplicas": 0}),
        ),
        v2(
            with(
                vec![pods(), object(), external(), container_resource(), cpu(70)],
                Some(&behavior),
            ),
            status.clone(),
        ),
        v2(with(vec![memory()], Some(&behavior)), status),
    ];
    for stored in cases {
        let old = v2_to_v1(stored.clone());
        let back = v1_to_v2(old.clone()).expect("converts back");
        assert_eq!(back, stored, "through {old:#}");
        // What was not a CPU utilization target is in the annotation.
        let others = stored["spec"]["metrics"].as_array().map_or(0, |m| {
            m.iter().filter(|m| !is_cpu_utilization_target(m)).count()
        });
        let annotated = annotations(&old)
            .get(METRICS_ANNOTATION)
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str::<Vec<Value>>(s).ok())
            .map_or(0, |v| v.len());
        assert_eq!(annotated, others);
    }
}

#[test]
fn annotations_are_encoded_as_upstream_writes_them() {
    let stored = v2(
        json!({
            "scaleTargetRef": target(),
            "maxReplicas": 3,
            "metrics": [cpu(50), memory(), pods()],
            "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]}},
        }),
        json!({
            "desiredReplicas": 1,
            "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": 20}}}],
            "conditions": [{"type": "ScalingLimited", "status": "True",
                "lastTransitionTime": "2025-01-01T00:00:00Z", "reason": "TooFewReplicas",
                "message": "the desired replica count is less than the minimum replica count"}],
        }),
    );
    let old = v2_to_v1(stored);
    let a = annotations(&old);
    let get = |k: &str| {
        a.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        get(METRICS_ANNOTATION),
        r#"[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"500Mi"}},{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"10","selector":{"matchLabels":{"a":"b"}}}}]"#
    );
    // A non-pointer quantity never set encodes as Go's zero quantity.
    assert_eq!(
        get(CURRENT_METRICS_ANNOTATION),
        r#"[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":20,"currentAverageValue":"0"}}]"#
    );
    assert_eq!(
        get(CONDITIONS_ANNOTATION),
        r#"[{"type":"ScalingLimited","status":"True","lastTransitionTime":"2025-01-01T00:00:00Z","reason":"TooFewReplicas","message":"the desired replica count is less than the minimum replica count"}]"#
    );
    assert_eq!(
        get(BEHAVIOR_ANNOTATION),
        r#"{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":[{"Type":"Pods","Value":4,"PeriodSeconds":15}],"Tolerance":null},"ScaleDown":null}"#
    );
    assert_eq!(old["spec"]["targetCPUUtilizationPercentage"], 50);
    assert_eq!(old["status"]["currentCPUUtilizationPercentage"], 20);
    // v1 field order: the type meta first, then metadata, spec, status.
    let keys: Vec<_> = old
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["kind", "apiVersion", "metadata", "spec", "status"]);
}

#[test]
fn a_v1_update_keeps_v2_only_metrics_and_changes_the_cpu_target() {
    let stored = v2(
        json!({"scaleTargetRef": target(), "maxReplicas": 3, "metrics": [memory(), cpu(50)]}),
        json!({"desiredReplicas": 0}),
    );
    let mut old = v2_to_v1(stored);
    old["spec"]["targetCPUUtilizationPercentage"] = json!(75);
    old["spec"]["maxReplicas"] = json!(6);
    let back = v1_to_v2(old).expect("converts");
    assert_eq!(back["spec"]["metrics"], json!([memory(), cpu(75)]));
    assert_eq!(back["spec"]["maxReplicas"], 6);
    // Dropping the target leaves the other metric alone, without a default.
    let mut old = v2_to_v1(back);
    if let Some(s) = old["spec"].as_object_mut() {
        s.remove("targetCPUUtilizationPercentage");
    }
    let back = v1_to_v2(old).expect("converts");
    assert_eq!(back["spec"]["metrics"], json!([memory()]));
}

#[test]
fn stale_round_trip_annotations_are_replaced() {
    let stale = json!({
        METRICS_ANNOTATION: "[]",
        BEHAVIOR_ANNOTATION: "{}",
        "keep": "me",
    });
    let mut stored = v2(
        json!({"scaleTargetRef": target(), "maxReplicas": 3, "metrics": [cpu(10)]}),
        json!({"desiredReplicas": 0}),
    );
    stored["metadata"]["annotations"] = stale.clone();
    let old = v2_to_v1(stored);
    assert_eq!(
        annotations(&old),
        json!({"keep": "me"})
            .as_object()
            .cloned()
            .unwrap_or_default()
    );
    // And v1 -> v2 consumes them.
    let back = v1_to_v2(v1(
        json!({"scaleTargetRef": target(), "maxReplicas": 3}),
        Some(
            json!({METRICS_ANNOTATION: go_json(&json!([{"type": "External",
            "external": {"metricName": "queue", "targetAverageValue": "30"}}])), "keep": "me"}),
        ),
    ))
    .expect("converts");
    assert_eq!(
        annotations(&back),
        json!({"keep": "me"})
            .as_object()
            .cloned()
            .unwrap_or_default()
    );
    // Only the annotated metric: no CPU default is added next to it.
    assert_eq!(back["spec"]["metrics"], json!([external()]));
}

#[test]
fn undecodable_annotations() {
    // Table: (annotation, value, whether the conversion fails). Upstream fails
    // on metrics, current metrics and conditions, and ignores a bad behavior.
    let cases = [
        (METRICS_ANNOTATION, "not json", true),
        (METRICS_ANNOTATION, "{\"type\":\"Pods\"}", true),
        (METRICS_ANNOTATION, "", true),
        (CURRENT_METRICS_ANNOTATION, "[1]", true),
        (CONDITIONS_ANNOTATION, "{", true),
        (METRICS_ANNOTATION, "null", false),
        (BEHAVIOR_ANNOTATION, "not json", false),
        (
            BEHAVIOR_ANNOTATION,
            "{\"ScaleUp\":{\"Policies\":\"x\"}}",
            false,
        ),
        (BEHAVIOR_ANNOTATION, "{}", false),
    ];
    for (name, value, fails) in cases {
        let obj = v1(
            json!({"scaleTargetRef": target(), "maxReplicas": 3}),
            Some(json!({name: value})),
        );
        let got = v1_to_v2(obj);
        assert_eq!(got.is_err(), fails, "{name}={value:?}: {got:?}");
        if let Ok(v) = got {
            assert!(v["spec"].get("behavior").is_none(), "{name}={value:?}");
            assert!(v.pointer("/metadata/annotations").is_none());
        }
    }
    let err = v1_to_v2(v1(
        json!({"scaleTargetRef": target(), "maxReplicas": 3}),
        Some(json!({METRICS_ANNOTATION: "x"})),
    ))
    .expect_err("fails");
    assert!(
        err.to_string()
            .starts_with("invalid value of annotation autoscaling.alpha.kubernetes.io/metrics: "),
        "{err}"
    );
}

#[test]
fn behavior_annotation_is_read_case_insensitively() {
    let enc = r#"{"scaleUp":{"stabilizationWindowSeconds":30,"policies":[{"type":"Pods","value":2,"periodseconds":60}]},"ScaleDown":null}"#;
    let back = v1_to_v2(v1(
        json!({"scaleTargetRef": target(), "maxReplicas": 3, "targetCPUUtilizationPercentage": 40}),
        Some(json!({BEHAVIOR_ANNOTATION: enc})),
    ))
    .expect("converts");
    assert_eq!(
        back["spec"]["behavior"],
        json!({"scaleUp": {"stabilizationWindowSeconds": 30,
            "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}})
    );
}

#[test]
fn round_trip_annotations_never_reach_storage() {
    let mut stored = v2(
        json!({"scaleTargetRef": target(), "maxReplicas": 3, "metrics": [cpu(10)]}),
        json!({"desiredReplicas": 0}),
    );
    stored["metadata"]["annotations"] = json!({CONDITIONS_ANNOTATION: "[]", "keep": "me"});
    drop_round_trip_annotations(&mut stored);
    assert_eq!(stored["metadata"]["annotations"], json!({"keep": "me"}));
    assert_eq!(stored["metadata"]["name"], "web");
    stored["metadata"]["annotations"] = json!({BEHAVIOR_ANNOTATION: "{}"});
    drop_round_trip_annotations(&mut stored);
    assert!(stored["metadata"].get("annotations").is_none());
    let mut bare = json!({"spec": {}});
    drop_round_trip_annotations(&mut bare);
    assert_eq!(bare, json!({"spec": {}}));
}
