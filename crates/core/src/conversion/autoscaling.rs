//! `autoscaling/v1` <-> `autoscaling/v2` HorizontalPodAutoscalers, with the
//! rules of upstream's `pkg/apis/autoscaling/v1/conversion.go`.
//!
//! v1 has one metric, a CPU utilization target. Everything else v2 can say
//! travels in annotations of the v1 object, encoded as upstream encodes them
//! so that objects move between skiff and kube-apiserver unchanged:
//! - the metrics other than a CPU utilization target, in the old v1 metric
//!   format (`targetAverageUtilization`, `metricName`, ...);
//! - every current metric, in the old v1 status format;
//! - the conditions;
//! - the behavior, as upstream's *internal* Go type marshals it (Go field
//!   names, `{"ScaleUp":{"StabilizationWindowSeconds":0,...}}`), and read
//!   back matching names case-insensitively as `encoding/json` does.

use serde_json::{Map, Value, json};

use super::{Error, Result, go_json};

/// `autoscaling.MetricSpecsAnnotation`.
pub const METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
/// `autoscaling.MetricStatusesAnnotation`.
pub const CURRENT_METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
/// `autoscaling.HorizontalPodAutoscalerConditionsAnnotation`.
pub const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
/// `autoscaling.BehaviorSpecsAnnotation`.
pub const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";
/// `autoscaling.DefaultCPUUtilization`: the target of a v1 object that names none.
pub const DEFAULT_CPU_UTILIZATION: i64 = 80;

/// Annotations that only carry v2 data through v1; a conversion drops any it
/// did not produce itself (`DropRoundTripHorizontalPodAutoscalerAnnotations`).
const ROUND_TRIP: [&str; 4] = [
    METRICS_ANNOTATION,
    CURRENT_METRICS_ANNOTATION,
    CONDITIONS_ANNOTATION,
    BEHAVIOR_ANNOTATION,
];

/// Removes the round-trip annotations from a stored-version object: they only
/// exist in v1 form, and upstream's v2 conversion drops any a v2 client sends.
pub fn drop_round_trip_annotations(obj: &mut Value) {
    let mut meta = obj.get_mut("metadata").map(Value::take);
    set_round_trip_annotations(&mut meta, Vec::new());
    if let (Some(m), Some(slot)) = (meta, obj.as_object_mut()) {
        slot.insert("metadata".into(), m);
    }
}

/// The zero `resource.Quantity`, as Go encodes a non-pointer quantity never set.
const ZERO: &str = "0";

/// A stored `autoscaling/v2` object as `autoscaling/v1`.
pub(super) fn v2_to_v1(obj: Value) -> Value {
    let Value::Object(mut src) = obj else {
        return obj;
    };
    let spec = src.remove("spec").unwrap_or(Value::Null);
    let status = src.remove("status").unwrap_or(Value::Null);
    let mut meta = src.remove("metadata");

    let metrics = list(&spec, "metrics");
    let other: Vec<Value> = metrics
        .iter()
        .filter(|m| !is_cpu_utilization_target(m))
        .map(metric_spec_to_v1)
        .collect();
    let current: Vec<Value> = list(&status, "currentMetrics")
        .iter()
        .map(metric_status_to_v1)
        .collect();
    let conditions: Vec<Value> = list(&status, "conditions").iter().map(condition).collect();
    let mut added = Vec::new();
    if !other.is_empty() {
        added.push((METRICS_ANNOTATION, go_json(&Value::Array(other))));
    }
    if !current.is_empty() {
        added.push((CURRENT_METRICS_ANNOTATION, go_json(&Value::Array(current))));
    }
    if !conditions.is_empty() {
        added.push((CONDITIONS_ANNOTATION, go_json(&Value::Array(conditions))));
    }
    if let Some(b) = field(&spec, "behavior") {
        added.push((BEHAVIOR_ANNOTATION, go_json(&behavior_to_internal(b))));
    }
    set_round_trip_annotations(&mut meta, added);

    let mut out_spec = Map::new();
    out_spec.insert(
        "scaleTargetRef".into(),
        cross_version_ref(field(&spec, "scaleTargetRef")),
    );
    put(&mut out_spec, "minReplicas", field(&spec, "minReplicas"));
    out_spec.insert(
        "maxReplicas".into(),
        int_or_zero(field(&spec, "maxReplicas")),
    );
    // The first CPU resource metric decides, whether or not it is a
    // utilization target.
    if let Some(cpu) = metrics.iter().find(|m| is_cpu_resource(m, "resource")) {
        put(
            &mut out_spec,
            "targetCPUUtilizationPercentage",
            cpu.pointer("/resource/target/averageUtilization"),
        );
    }

    let mut out_status = Map::new();
    put(
        &mut out_status,
        "observedGeneration",
        field(&status, "observedGeneration"),
    );
    put(
        &mut out_status,
        "lastScaleTime",
        field(&status, "lastScaleTime"),
    );
    out_status.insert(
        "currentReplicas".into(),
        int_or_zero(field(&status, "currentReplicas")),
    );
    out_status.insert(
        "desiredReplicas".into(),
        int_or_zero(field(&status, "desiredReplicas")),
    );
    // Every CPU resource status overwrites: the last one wins, as upstream.
    let cpu_current = list(&status, "currentMetrics")
        .iter()
        .rev()
        .filter(|m| is_cpu_resource(m, "resource"))
        .filter_map(|m| m.pointer("/resource/current/averageUtilization"))
        .find(|v| !v.is_null())
        .cloned();
    put(
        &mut out_status,
        "currentCPUUtilizationPercentage",
        cpu_current.as_ref(),
    );

    assemble(src, "autoscaling/v1", meta, out_spec, out_status)
}

/// An `autoscaling/v1` object as `autoscaling/v2`. Fails when a round-trip
/// annotation of metrics, current metrics or conditions does not decode, as
/// upstream's conversion does; an undecodable behavior is ignored, as upstream.
pub(super) fn v1_to_v2(obj: Value) -> Result<Value> {
    let Value::Object(mut src) = obj else {
        return Ok(obj);
    };
    let spec = src.remove("spec").unwrap_or(Value::Null);
    let status = src.remove("status").unwrap_or(Value::Null);
    let mut meta = src.remove("metadata");
    let annotations = meta
        .as_ref()
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    set_round_trip_annotations(&mut meta, Vec::new());
    let annotation = |name: &str| annotations.get(name).and_then(Value::as_str);

    let mut metrics = Vec::new();
    if let Some(target) = field(&spec, "targetCPUUtilizationPercentage") {
        metrics.push(cpu_utilization_metric(target.clone()));
    }
    if let Some(enc) = annotation(METRICS_ANNOTATION) {
        let others = decode_list(METRICS_ANNOTATION, enc)?;
        // Upstream puts the annotated metrics first and the CPU target last.
        let mut all: Vec<Value> = others.iter().map(metric_spec_to_v2).collect();
        all.append(&mut metrics);
        metrics = all;
    }
    // v1 always scaled on CPU when told nothing; v2 says so explicitly.
    if metrics.is_empty() {
        metrics.push(cpu_utilization_metric(json!(DEFAULT_CPU_UTILIZATION)));
    }
    let behavior = annotation(BEHAVIOR_ANNOTATION).and_then(behavior_from_internal);

    let mut current = Vec::new();
    if let Some(u) = field(&status, "currentCPUUtilizationPercentage") {
        current.push(json!({
            "type": "Resource",
            "resource": {"name": "cpu", "current": {"averageUtilization": u}},
        }));
    }
    if let Some(enc) = annotation(CURRENT_METRICS_ANNOTATION) {
        // The annotation has more than the one CPU value: it wins.
        current = decode_list(CURRENT_METRICS_ANNOTATION, enc)?
            .iter()
            .map(metric_status_to_v2)
            .collect();
    }
    let conditions = match annotation(CONDITIONS_ANNOTATION) {
        Some(enc) => decode_list(CONDITIONS_ANNOTATION, enc)?
            .iter()
            .map(condition)
            .collect(),
        None => Vec::new(),
    };

    let mut out_spec = Map::new();
    out_spec.insert(
        "scaleTargetRef".into(),
        cross_version_ref(field(&spec, "scaleTargetRef")),
    );
    put(&mut out_spec, "minReplicas", field(&spec, "minReplicas"));
    out_spec.insert(
        "maxReplicas".into(),
        int_or_zero(field(&spec, "maxReplicas")),
    );
    out_spec.insert("metrics".into(), Value::Array(metrics));
    if let Some(b) = behavior {
        out_spec.insert("behavior".into(), b);
    }

    let mut out_status = Map::new();
    put(
        &mut out_status,
        "observedGeneration",
        field(&status, "observedGeneration"),
    );
    put(
        &mut out_status,
        "lastScaleTime",
        field(&status, "lastScaleTime"),
    );
    // v2's currentReplicas is omitempty; desiredReplicas is not.
    if let Some(n) = field(&status, "currentReplicas").filter(|n| n.as_i64() != Some(0)) {
        out_status.insert("currentReplicas".into(), n.clone());
    }
    out_status.insert(
        "desiredReplicas".into(),
        int_or_zero(field(&status, "desiredReplicas")),
    );
    if !current.is_empty() {
        out_status.insert("currentMetrics".into(), Value::Array(current));
    }
    if !conditions.is_empty() {
        out_status.insert("conditions".into(), Value::Array(conditions));
    }

    Ok(assemble(src, "autoscaling/v2", meta, out_spec, out_status))
}

/// The object in declared field order: type meta, metadata, spec, status.
fn assemble(
    mut rest: Map<String, Value>,
    api_version: &str,
    meta: Option<Value>,
    spec: Map<String, Value>,
    status: Map<String, Value>,
) -> Value {
    let mut out = Map::new();
    if let Some(kind) = rest.remove("kind") {
        out.insert("kind".into(), kind);
    }
    if rest.remove("apiVersion").is_some() {
        out.insert("apiVersion".into(), json!(api_version));
    }
    if let Some(m) = meta {
        out.insert("metadata".into(), m);
    }
    out.insert("spec".into(), Value::Object(spec));
    out.insert("status".into(), Value::Object(status));
    Value::Object(out)
}

/// Replaces the round-trip annotations with `added`; an annotation map left
/// empty is dropped, as Go's omitempty drops it.
fn set_round_trip_annotations(meta: &mut Option<Value>, added: Vec<(&str, String)>) {
    let has_any = meta
        .as_ref()
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
        .is_some_and(|a| ROUND_TRIP.iter().any(|k| a.contains_key(*k)));
    if !has_any && added.is_empty() {
        return;
    }
    let meta = meta.get_or_insert_with(|| Value::Object(Map::new()));
    let Some(m) = meta.as_object_mut() else {
        return;
    };
    let mut annotations = m
        .remove("annotations")
        .and_then(|a| match a {
            Value::Object(a) => Some(a),
            _ => None,
        })
        .unwrap_or_default();
    annotations.retain(|k, _| !ROUND_TRIP.contains(&k.as_str()));
    for (k, v) in added {
        annotations.insert(k.into(), Value::String(v));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
}

fn decode_list(annotation: &'static str, enc: &str) -> Result<Vec<Value>> {
    let invalid = |message: String| Error::Annotation {
        annotation,
        message,
    };
    match serde_json::from_str::<Value>(enc).map_err(|e| invalid(e.to_string()))? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Object(_) => Ok(i),
                // A null element decodes to the zero value, as in Go.
                Value::Null => Ok(Value::Object(Map::new())),
                other => Err(invalid(format!("expected an object, found {other}"))),
            })
            .collect(),
        other => Err(invalid(format!("expected a list, found {other}"))),
    }
}

/// A v2 CPU resource metric with a utilization target: the one metric v1 has
/// a field for.
fn is_cpu_utilization_target(m: &Value) -> bool {
    is_cpu_resource(m, "resource")
        && m.pointer("/resource/target/averageUtilization")
            .is_some_and(|v| !v.is_null())
}

fn is_cpu_resource(m: &Value, source: &str) -> bool {
    m.get("type").and_then(Value::as_str) == Some("Resource")
        && m.get(source)
            .and_then(|r| r.get("name"))
            .and_then(Value::as_str)
            == Some("cpu")
}

fn cpu_utilization_metric(target: Value) -> Value {
    json!({
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}},
    })
}

// ---------------------------------------------------------------------------
// Metrics: v2's `metric`/`target`/`current` against the old flat v1 fields.

/// A v2 `MetricSpec` in the v1 annotation format.
fn metric_spec_to_v1(m: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), string_or_empty(field(m, "type")));
    if let Some(o) = field(m, "object") {
        let mut v = Map::new();
        v.insert(
            "target".into(),
            cross_version_ref(field(o, "describedObject")),
        );
        v.insert(
            "metricName".into(),
            string_or_empty(at(o, &["metric", "name"])),
        );
        v.insert("targetValue".into(), quantity(at(o, &["target", "value"])));
        put(&mut v, "selector", at(o, &["metric", "selector"]));
        put(&mut v, "averageValue", at(o, &["target", "averageValue"]));
        out.insert("object".into(), Value::Object(v));
    }
    if let Some(p) = field(m, "pods") {
        let mut v = Map::new();
        v.insert(
            "metricName".into(),
            string_or_empty(at(p, &["metric", "name"])),
        );
        v.insert(
            "targetAverageValue".into(),
            quantity(at(p, &["target", "averageValue"])),
        );
        put(&mut v, "selector", at(p, &["metric", "selector"]));
        out.insert("pods".into(), Value::Object(v));
    }
    for source in ["resource", "containerResource"] {
        if let Some(r) = field(m, source) {
            let mut v = Map::new();
            v.insert("name".into(), string_or_empty(field(r, "name")));
            put(
                &mut v,
                "targetAverageUtilization",
                at(r, &["target", "averageUtilization"]),
            );
            put(
                &mut v,
                "targetAverageValue",
                at(r, &["target", "averageValue"]),
            );
            if source == "containerResource" {
                v.insert("container".into(), string_or_empty(field(r, "container")));
            }
            out.insert(source.into(), Value::Object(v));
        }
    }
    if let Some(e) = field(m, "external") {
        let mut v = Map::new();
        v.insert(
            "metricName".into(),
            string_or_empty(at(e, &["metric", "name"])),
        );
        put(&mut v, "metricSelector", at(e, &["metric", "selector"]));
        put(&mut v, "targetValue", at(e, &["target", "value"]));
        put(
            &mut v,
            "targetAverageValue",
            at(e, &["target", "averageValue"]),
        );
        out.insert("external".into(), Value::Object(v));
    }
    Value::Object(out)
}

/// A `MetricSpec` of the v1 annotation as v2.
fn metric_spec_to_v2(m: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), string_or_empty(field(m, "type")));
    if let Some(o) = field(m, "object") {
        let average = field(o, "averageValue");
        let mut target = Map::new();
        target.insert(
            "type".into(),
            json!(if average.is_none() {
                "Value"
            } else {
                "AverageValue"
            }),
        );
        target.insert("value".into(), quantity(field(o, "targetValue")));
        put(&mut target, "averageValue", average);
        out.insert(
            "object".into(),
            json!({
                "describedObject": cross_version_ref(field(o, "target")),
                "target": target,
                "metric": metric_identifier(field(o, "metricName"), field(o, "selector")),
            }),
        );
    }
    if let Some(p) = field(m, "pods") {
        out.insert(
            "pods".into(),
            json!({
                "metric": metric_identifier(field(p, "metricName"), field(p, "selector")),
                "target": {"type": "AverageValue", "averageValue": quantity(field(p, "targetAverageValue"))},
            }),
        );
    }
    for source in ["resource", "containerResource"] {
        if let Some(r) = field(m, source) {
            let utilization = field(r, "targetAverageUtilization");
            let mut target = Map::new();
            target.insert(
                "type".into(),
                json!(if utilization.is_none() {
                    "AverageValue"
                } else {
                    "Utilization"
                }),
            );
            put(&mut target, "averageValue", field(r, "targetAverageValue"));
            put(&mut target, "averageUtilization", utilization);
            let mut v = Map::new();
            v.insert("name".into(), string_or_empty(field(r, "name")));
            v.insert("target".into(), Value::Object(target));
            if source == "containerResource" {
                v.insert("container".into(), string_or_empty(field(r, "container")));
            }
            out.insert(source.into(), Value::Object(v));
        }
    }
    if let Some(e) = field(m, "external") {
        let value = field(e, "targetValue");
        let mut target = Map::new();
        target.insert(
            "type".into(),
            json!(if value.is_none() {
                "AverageValue"
            } else {
                "Value"
            }),
        );
        put(&mut target, "value", value);
        put(&mut target, "averageValue", field(e, "targetAverageValue"));
        out.insert(
            "external".into(),
            json!({
                "metric": metric_identifier(field(e, "metricName"), field(e, "metricSelector")),
                "target": target,
            }),
        );
    }
    Value::Object(out)
}

/// A v2 `MetricStatus` in the v1 annotation format.
fn metric_status_to_v1(m: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), string_or_empty(field(m, "type")));
    if let Some(o) = field(m, "object") {
        let mut v = Map::new();
        v.insert(
            "target".into(),
            cross_version_ref(field(o, "describedObject")),
        );
        v.insert(
            "metricName".into(),
            string_or_empty(at(o, &["metric", "name"])),
        );
        v.insert(
            "currentValue".into(),
            quantity(at(o, &["current", "value"])),
        );
        put(&mut v, "selector", at(o, &["metric", "selector"]));
        put(&mut v, "averageValue", at(o, &["current", "averageValue"]));
        out.insert("object".into(), Value::Object(v));
    }
    if let Some(p) = field(m, "pods") {
        let mut v = Map::new();
        v.insert(
            "metricName".into(),
            string_or_empty(at(p, &["metric", "name"])),
        );
        v.insert(
            "currentAverageValue".into(),
            quantity(at(p, &["current", "averageValue"])),
        );
        put(&mut v, "selector", at(p, &["metric", "selector"]));
        out.insert("pods".into(), Value::Object(v));
    }
    for source in ["resource", "containerResource"] {
        if let Some(r) = field(m, source) {
            let mut v = Map::new();
            v.insert("name".into(), string_or_empty(field(r, "name")));
            put(
                &mut v,
                "currentAverageUtilization",
                at(r, &["current", "averageUtilization"]),
            );
            v.insert(
                "currentAverageValue".into(),
                quantity(at(r, &["current", "averageValue"])),
            );
            if source == "containerResource" {
                v.insert("container".into(), string_or_empty(field(r, "container")));
            }
            out.insert(source.into(), Value::Object(v));
        }
    }
    if let Some(e) = field(m, "external") {
        let mut v = Map::new();
        v.insert(
            "metricName".into(),
            string_or_empty(at(e, &["metric", "name"])),
        );
        put(&mut v, "metricSelector", at(e, &["metric", "selector"]));
        v.insert(
            "currentValue".into(),
            quantity(at(e, &["current", "value"])),
        );
        put(
            &mut v,
            "currentAverageValue",
            at(e, &["current", "averageValue"]),
        );
        out.insert("external".into(), Value::Object(v));
    }
    Value::Object(out)
}

/// A `MetricStatus` of the v1 annotation as v2.
fn metric_status_to_v2(m: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), string_or_empty(field(m, "type")));
    if let Some(o) = field(m, "object") {
        let mut current = Map::new();
        current.insert("value".into(), quantity(field(o, "currentValue")));
        put(&mut current, "averageValue", field(o, "averageValue"));
        out.insert(
            "object".into(),
            json!({
                "metric": metric_identifier(field(o, "metricName"), field(o, "selector")),
                "current": current,
                "describedObject": cross_version_ref(field(o, "target")),
            }),
        );
    }
    if let Some(p) = field(m, "pods") {
        out.insert(
            "pods".into(),
            json!({
                "metric": metric_identifier(field(p, "metricName"), field(p, "selector")),
                "current": {"averageValue": quantity(field(p, "currentAverageValue"))},
            }),
        );
    }
    for source in ["resource", "containerResource"] {
        if let Some(r) = field(m, source) {
            let mut current = Map::new();
            current.insert(
                "averageValue".into(),
                quantity(field(r, "currentAverageValue")),
            );
            put(
                &mut current,
                "averageUtilization",
                field(r, "currentAverageUtilization"),
            );
            let mut v = Map::new();
            v.insert("name".into(), string_or_empty(field(r, "name")));
            v.insert("current".into(), Value::Object(current));
            if source == "containerResource" {
                v.insert("container".into(), string_or_empty(field(r, "container")));
            }
            out.insert(source.into(), Value::Object(v));
        }
    }
    if let Some(e) = field(m, "external") {
        let mut current = Map::new();
        current.insert("value".into(), quantity(field(e, "currentValue")));
        put(
            &mut current,
            "averageValue",
            field(e, "currentAverageValue"),
        );
        out.insert(
            "external".into(),
            json!({
                "metric": metric_identifier(field(e, "metricName"), field(e, "metricSelector")),
                "current": current,
            }),
        );
    }
    Value::Object(out)
}

fn metric_identifier(name: Option<&Value>, selector: Option<&Value>) -> Value {
    let mut v = Map::new();
    v.insert("name".into(), string_or_empty(name));
    put(&mut v, "selector", selector);
    Value::Object(v)
}

fn cross_version_ref(r: Option<&Value>) -> Value {
    let r = r.unwrap_or(&Value::Null);
    let mut v = Map::new();
    v.insert("kind".into(), string_or_empty(field(r, "kind")));
    v.insert("name".into(), string_or_empty(field(r, "name")));
    if let Some(a) = field(r, "apiVersion").filter(|a| a.as_str() != Some("")) {
        v.insert("apiVersion".into(), a.clone());
    }
    Value::Object(v)
}

/// A condition: the same fields in both versions; empty reason and message
/// are omitted as Go's omitempty omits them.
fn condition(c: &Value) -> Value {
    let mut v = Map::new();
    v.insert("type".into(), string_or_empty(field(c, "type")));
    v.insert("status".into(), string_or_empty(field(c, "status")));
    put(&mut v, "lastTransitionTime", field(c, "lastTransitionTime"));
    for k in ["reason", "message"] {
        if let Some(s) = field(c, k).filter(|s| s.as_str() != Some("")) {
            v.insert(k.into(), s.clone());
        }
    }
    Value::Object(v)
}

// ---------------------------------------------------------------------------
// Behavior: upstream marshals its internal type, which has no JSON tags.

fn behavior_to_internal(b: &Value) -> Value {
    let rules = |r: Option<&Value>| match r {
        None => Value::Null,
        Some(r) => {
            let policies = match field(r, "policies").and_then(Value::as_array) {
                None => Value::Null,
                Some(ps) => ps
                    .iter()
                    .map(|p| {
                        json!({
                            "Type": string_or_empty(field(p, "type")),
                            "Value": int_or_zero(field(p, "value")),
                            "PeriodSeconds": int_or_zero(field(p, "periodSeconds")),
                        })
                    })
                    .collect(),
            };
            json!({
                "StabilizationWindowSeconds": field(r, "stabilizationWindowSeconds"),
                "SelectPolicy": field(r, "selectPolicy"),
                "Policies": policies,
                "Tolerance": field(r, "tolerance"),
            })
        }
    };
    json!({
        "ScaleUp": rules(field(b, "scaleUp")),
        "ScaleDown": rules(field(b, "scaleDown")),
    })
}

/// The behavior of the annotation, or `None` when it does not decode or says
/// nothing: upstream only takes "valid data" from it.
fn behavior_from_internal(enc: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(enc).ok()?;
    let v = v.as_object()?;
    let rules = |name: &str| -> Option<Option<Value>> {
        let r = match get_ci(v, name) {
            None | Some(Value::Null) => return Some(None),
            Some(Value::Object(r)) => r,
            Some(_) => return None,
        };
        let mut out = Map::new();
        match get_ci(r, "StabilizationWindowSeconds") {
            None | Some(Value::Null) => {}
            Some(n) if n.is_i64() => {
                out.insert("stabilizationWindowSeconds".into(), n.clone());
            }
            Some(_) => return None,
        }
        match get_ci(r, "SelectPolicy") {
            None | Some(Value::Null) => {}
            Some(s @ Value::String(_)) => {
                out.insert("selectPolicy".into(), s.clone());
            }
            Some(_) => return None,
        }
        match get_ci(r, "Policies") {
            None | Some(Value::Null) => {}
            Some(Value::Array(ps)) => {
                let mut policies = Vec::new();
                for p in ps {
                    let p = match p {
                        Value::Object(p) => p,
                        Value::Null => &Map::new(),
                        _ => return None,
                    };
                    let typ = match get_ci(p, "Type") {
                        None | Some(Value::Null) => json!(""),
                        Some(s @ Value::String(_)) => s.clone(),
                        Some(_) => return None,
                    };
                    let int = |k: &str| match get_ci(p, k) {
                        None | Some(Value::Null) => Some(json!(0)),
                        Some(n) if n.is_i64() => Some(n.clone()),
                        Some(_) => None,
                    };
                    policies.push(json!({
                        "type": typ,
                        "value": int("Value")?,
                        "periodSeconds": int("PeriodSeconds")?,
                    }));
                }
                out.insert("policies".into(), Value::Array(policies));
            }
            Some(_) => return None,
        }
        match get_ci(r, "Tolerance") {
            None | Some(Value::Null) => {}
            Some(q @ (Value::String(_) | Value::Number(_))) => {
                out.insert("tolerance".into(), q.clone());
            }
            Some(_) => return None,
        }
        Some(Some(Value::Object(out)))
    };
    let up = rules("ScaleUp")?;
    let down = rules("ScaleDown")?;
    if up.is_none() && down.is_none() {
        return None;
    }
    let mut out = Map::new();
    if let Some(up) = up {
        out.insert("scaleUp".into(), up);
    }
    if let Some(down) = down {
        out.insert("scaleDown".into(), down);
    }
    Some(Value::Object(out))
}

/// A key as `encoding/json` finds it: the exact name first, then any case.
fn get_ci<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

// ---------------------------------------------------------------------------
// Small JSON helpers: absent and null are the same (Go's nil).

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| field(v, k))
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    field(v, key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn put(m: &mut Map<String, Value>, key: &str, v: Option<&Value>) {
    if let Some(v) = v.filter(|v| !v.is_null()) {
        m.insert(key.into(), v.clone());
    }
}

fn string_or_empty(v: Option<&Value>) -> Value {
    v.cloned().unwrap_or_else(|| json!(""))
}

fn int_or_zero(v: Option<&Value>) -> Value {
    v.cloned().unwrap_or_else(|| json!(0))
}

fn quantity(v: Option<&Value>) -> Value {
    v.cloned().unwrap_or_else(|| json!(ZERO))
}

#[cfg(test)]
mod tests;
