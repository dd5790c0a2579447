//! HorizontalPodAutoscaler validation (`pkg/apis/autoscaling/validation`), on
//! the stored `autoscaling/v2` object: its field names are upstream's
//! internal ones, so the paths match kube-apiserver's for a v2 and a v1
//! request alike (a v1 `targetCPUUtilizationPercentage` is reported at
//! `spec.metrics[0].resource.target.averageUtilization`, where its
//! conversion puts it).
//!
//! Does not own: `metadata` (the generic store's) and defaults
//! (`super::HorizontalPodAutoscaler::default`, which runs first).

use serde_json::Value;
use skiff_core::quantity::Quantity;
use skiff_core::status::{FieldError, FieldErrorKind};
use skiff_core::validation;

/// Upstream's bound on a scaling policy's period.
const MAX_PERIOD_SECONDS: i64 = 1800;
/// Upstream's bound on a stabilization window.
const MAX_STABILIZATION_WINDOW_SECONDS: i64 = 3600;

/// The metric source types, sorted as upstream lists them.
const METRIC_SOURCE_TYPES: [&str; 5] = [
    "ContainerResource",
    "External",
    "Object",
    "Pods",
    "Resource",
];
const SELECT_POLICIES: [&str; 3] = ["Disabled", "Max", "Min"];
const POLICY_TYPES: [&str; 2] = ["Percent", "Pods"];

/// The lowest `minReplicas` allowed: 0 only with the HPAScaleToZero feature
/// gate, or on an update of an object that already has 0 (upstream's
/// `ValidateHorizontalPodAutoscalerUpdate`).
pub fn min_replicas_lower_bound(scale_to_zero: bool, old: Option<&Value>) -> i64 {
    let old_has_zero = old
        .and_then(|o| o.pointer("/spec/minReplicas"))
        .and_then(Value::as_i64)
        == Some(0);
    if scale_to_zero || old_has_zero { 0 } else { 1 }
}

/// `validateHorizontalPodAutoscalerSpec` of `spec`, at `spec`.
pub fn validate_spec(spec: &Value, min_replicas_lower_bound: i64) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let min_replicas = spec.get("minReplicas").and_then(Value::as_i64);
    let max_replicas = int(&spec["maxReplicas"]);
    if let Some(min) = min_replicas
        && min < min_replicas_lower_bound
    {
        errs.push(FieldError::invalid(
            "spec.minReplicas",
            &Value::from(min),
            format!("must be greater than or equal to {min_replicas_lower_bound}"),
        ));
    }
    if max_replicas < 1 {
        errs.push(FieldError::invalid(
            "spec.maxReplicas",
            &Value::from(max_replicas),
            "must be greater than 0",
        ));
    }
    if let Some(min) = min_replicas
        && max_replicas < min
    {
        errs.push(FieldError::invalid(
            "spec.maxReplicas",
            &Value::from(max_replicas),
            "must be greater than or equal to `minReplicas`",
        ));
    }
    errs.extend(validate_cross_version_object_reference(
        &spec["scaleTargetRef"],
        "spec.scaleTargetRef",
    ));
    errs.extend(validate_metrics(&spec["metrics"], min_replicas));
    let behavior = &spec["behavior"];
    if behavior.is_object() {
        for direction in ["scaleUp", "scaleDown"] {
            errs.extend(validate_scaling_rules(
                &behavior[direction],
                &format!("spec.behavior.{direction}"),
            ));
        }
    }
    errs
}

/// An integer field; absent is Go's zero.
fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn string<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `ValidateCrossVersionObjectReference`: kind and name required, each usable
/// as a URL path segment.
fn validate_cross_version_object_reference(r: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in ["kind", "name"] {
        let value = string(r, field);
        let field_path = format!("{path}.{field}");
        if value.is_empty() {
            errs.push(FieldError::required(field_path, ""));
        } else {
            for msg in validation::is_valid_path_segment_name(value) {
                errs.push(FieldError::invalid(
                    field_path.clone(),
                    &Value::String(value.to_string()),
                    msg,
                ));
            }
        }
    }
    errs
}

fn validate_metrics(metrics: &Value, min_replicas: Option<i64>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let metrics = metrics.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut has_object_or_external = false;
    for (i, metric) in metrics.iter().enumerate() {
        errs.extend(validate_metric_spec(metric, &format!("spec.metrics[{i}]")));
        has_object_or_external |= matches!(string(metric, "type"), "Object" | "External");
    }
    // Scaling to zero stops the pods that Resource and Pods metrics read, so
    // only a metric from elsewhere can bring the target back.
    if min_replicas == Some(0) && !has_object_or_external {
        errs.push(FieldError::forbidden(
            "spec.metrics",
            "must specify at least one Object or External metric to support scaling to zero replicas",
        ));
    }
    errs
}

/// The source fields of a metric, in the order upstream checks them, with
/// the type each belongs to.
const SOURCES: [(&str, &str); 5] = [
    ("object", "Object"),
    ("external", "External"),
    ("pods", "Pods"),
    ("resource", "Resource"),
    ("containerResource", "ContainerResource"),
];

/// `validateMetricSpec`: a known type, its source set and valid, no other
/// source set.
fn validate_metric_spec(metric: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let type_ = string(metric, "type");
    let type_value = Value::String(type_.to_string());
    if type_.is_empty() {
        errs.push(FieldError::required(
            format!("{path}.type"),
            "must specify a metric source type",
        ));
    }
    if !METRIC_SOURCE_TYPES.contains(&type_) {
        errs.push(FieldError::not_supported(
            format!("{path}.type"),
            &type_value,
            &METRIC_SOURCE_TYPES,
        ));
    }
    // Only the first source present is looked into, as upstream does.
    let present: Vec<&str> = SOURCES
        .iter()
        .map(|(field, _)| *field)
        .filter(|field| metric.get(*field).is_some_and(|v| !v.is_null()))
        .collect();
    if let Some(first) = present.first() {
        let source = &metric[*first];
        let source_path = format!("{path}.{first}");
        errs.extend(match *first {
            "object" => validate_object_source(source, &source_path),
            "external" => validate_external_source(source, &source_path),
            "pods" => validate_pods_source(source, &source_path),
            "resource" => validate_resource_source(source, &source_path),
            _ => validate_container_resource_source(source, &source_path),
        });
    }
    let expected = SOURCES
        .iter()
        .find(|(_, t)| *t == type_)
        .map(|(field, _)| *field);
    match expected {
        Some(field) if !present.contains(&field) => errs.push(FieldError::required(
            format!("{path}.{field}"),
            "must populate information for the given metric source",
        )),
        Some(_) => {}
        // Upstream's switch reports an unknown type a second time.
        None => errs.push(FieldError::not_supported(
            format!("{path}.type"),
            &type_value,
            &METRIC_SOURCE_TYPES,
        )),
    }
    if present.len() != 1 {
        // Upstream walks a set here (random order); sorted is stable.
        let mut others: Vec<&str> = present
            .iter()
            .copied()
            .filter(|f| Some(*f) != expected)
            .collect();
        others.sort_unstable();
        for field in others {
            errs.push(FieldError::forbidden(
                format!("{path}.{field}"),
                "must populate the given metric source only",
            ));
        }
    }
    errs
}

fn validate_object_source(src: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = validate_cross_version_object_reference(
        &src["describedObject"],
        &format!("{path}.describedObject"),
    );
    errs.extend(validate_metric_identifier(
        &src["metric"],
        &format!("{path}.metric"),
    ));
    let target = &src["target"];
    errs.extend(validate_metric_target(target, &format!("{path}.target")));
    if is_unset(&target["value"]) && is_unset(&target["averageValue"]) {
        errs.push(FieldError::required(
            format!("{path}.target.averageValue"),
            "must set either a target value or averageValue",
        ));
    }
    errs
}

fn validate_external_source(src: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = validate_metric_identifier(&src["metric"], &format!("{path}.metric"));
    let target = &src["target"];
    errs.extend(validate_metric_target(target, &format!("{path}.target")));
    let (value, average) = (
        is_unset(&target["value"]),
        is_unset(&target["averageValue"]),
    );
    if value && average {
        errs.push(FieldError::required(
            format!("{path}.target.averageValue"),
            "must set either a target value for metric or a per-pod target",
        ));
    }
    if !value && !average {
        errs.push(FieldError::forbidden(
            format!("{path}.target.value"),
            "may not set both a target value for metric and a per-pod target",
        ));
    }
    errs
}

fn validate_pods_source(src: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = validate_metric_identifier(&src["metric"], &format!("{path}.metric"));
    let target = &src["target"];
    errs.extend(validate_metric_target(target, &format!("{path}.target")));
    if is_unset(&target["averageValue"]) {
        errs.push(FieldError::required(
            format!("{path}.target.averageValue"),
            "must specify a positive target averageValue",
        ));
    }
    errs
}

fn validate_resource_source(src: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if string(src, "name").is_empty() {
        errs.push(FieldError::required(
            format!("{path}.name"),
            "must specify a resource name",
        ));
    }
    errs.extend(validate_utilization_or_value(&src["target"], path));
    errs
}

fn validate_container_resource_source(src: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = string(src, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            format!("{path}.name"),
            "must specify a resource name",
        ));
    } else {
        errs.extend(validate_container_resource_name(
            name,
            &format!("{path}.name"),
        ));
    }
    let container = string(src, "container");
    if container.is_empty() {
        errs.push(FieldError::required(
            format!("{path}.container"),
            "must specify a container",
        ));
    } else {
        for msg in validation::is_dns1123_label(container) {
            errs.push(FieldError::invalid(
                format!("{path}.container"),
                &Value::String(container.to_string()),
                msg,
            ));
        }
    }
    errs.extend(validate_utilization_or_value(&src["target"], path));
    errs
}

/// The target of a Resource or ContainerResource metric: a utilization or an
/// average value, not both.
fn validate_utilization_or_value(target: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = validate_metric_target(target, &format!("{path}.target"));
    let (utilization, average) = (
        is_unset(&target["averageUtilization"]),
        is_unset(&target["averageValue"]),
    );
    if utilization && average {
        errs.push(FieldError::required(
            format!("{path}.target.averageUtilization"),
            "must set either a target raw value or a target utilization",
        ));
    }
    if !utilization && !average {
        errs.push(FieldError::forbidden(
            format!("{path}.target.averageValue"),
            "may not set both a target raw value and a target utilization",
        ));
    }
    errs
}

fn is_unset(v: &Value) -> bool {
    v.is_null()
}

/// `validateMetricTarget`: a known target type, positive quantities, a
/// utilization of at least 1%.
fn validate_metric_target(target: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let type_ = string(target, "type");
    if type_.is_empty() {
        errs.push(FieldError::required(
            format!("{path}.type"),
            "must specify a metric target type",
        ));
    }
    if !matches!(type_, "Utilization" | "Value" | "AverageValue") {
        errs.push(FieldError::invalid(
            format!("{path}.type"),
            &Value::String(type_.to_string()),
            "must be either Utilization, Value, or AverageValue",
        ));
    }
    for field in ["value", "averageValue"] {
        let v = &target[field];
        if !is_unset(v) && quantity_sign(v) != 1 {
            errs.push(invalid_quantity(
                &format!("{path}.{field}"),
                v,
                "must be positive",
            ));
        }
    }
    if let Some(u) = target.get("averageUtilization").and_then(Value::as_i64)
        && u < 1
    {
        errs.push(FieldError::invalid(
            format!("{path}.averageUtilization"),
            &Value::from(u),
            "must be greater than 0",
        ));
    }
    errs
}

/// The sign of a serialized quantity (a string or a JSON number); one that
/// does not parse was refused when the body was decoded, and counts as not
/// positive here.
fn quantity_sign(v: &Value) -> i8 {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return 0,
    };
    Quantity::parse(&text).map(|q| q.sign()).unwrap_or(0)
}

/// An Invalid error for a quantity. Upstream prints the Go struct of the
/// parsed `resource.Quantity`; skiff shows the quantity as written.
fn invalid_quantity(path: &str, v: &Value, detail: &str) -> FieldError {
    let shown = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    FieldError {
        kind: FieldErrorKind::Invalid,
        field: path.to_string(),
        value: Some(shown),
        detail: detail.to_string(),
    }
}

/// `validateMetricIdentifier`: a name usable as a URL path segment.
fn validate_metric_identifier(id: &Value, path: &str) -> Vec<FieldError> {
    let name = string(id, "name");
    let name_path = format!("{path}.name");
    if name.is_empty() {
        return vec![FieldError::required(
            name_path,
            "must specify a metric name",
        )];
    }
    validation::is_valid_path_segment_name(name)
        .into_iter()
        .map(|msg| FieldError::invalid(name_path.clone(), &Value::String(name.to_string()), msg))
        .collect()
}

/// `ValidateContainerResourceName` of core/v1: a qualified name; without a
/// domain, a standard resource a container can request; with one, a
/// `kubernetes.io` resource or an extended resource.
fn validate_container_resource_name(name: &str, path: &str) -> Vec<FieldError> {
    let shown = Value::String(name.to_string());
    let invalid = |msg: String| FieldError::invalid(path, &shown, msg);
    let errs: Vec<FieldError> = validation::is_qualified_name(name)
        .into_iter()
        .map(invalid)
        .collect();
    if !errs.is_empty() {
        return errs;
    }
    if !name.contains('/') {
        if !validation::is_standard_resource_name(name) {
            return vec![invalid(
                "must be a standard resource type or fully qualified".into(),
            )];
        }
        if !validation::is_standard_container_resource_name(name) {
            return vec![invalid("must be a standard resource for containers".into())];
        }
        return Vec::new();
    }
    let native = name.contains("kubernetes.io/");
    // An extended resource: not native, not a quota name, and still a
    // qualified name once quota's `requests.` prefix is put in front.
    let extended = !native
        && !name.starts_with("requests.")
        && validation::is_qualified_name(&format!("requests.{name}")).is_empty();
    if !native && !extended {
        return vec![invalid("doesn't have a resource type".into())];
    }
    Vec::new()
}

/// `validateScalingRules` of `behavior.scaleUp` or `behavior.scaleDown`.
fn validate_scaling_rules(rules: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !rules.is_object() {
        return errs;
    }
    if let Some(window) = rules
        .get("stabilizationWindowSeconds")
        .and_then(Value::as_i64)
    {
        let window_path = format!("{path}.stabilizationWindowSeconds");
        if window < 0 {
            errs.push(FieldError::invalid(
                window_path.clone(),
                &Value::from(window),
                "must be greater than or equal to zero",
            ));
        }
        if window > MAX_STABILIZATION_WINDOW_SECONDS {
            errs.push(FieldError::invalid(
                window_path,
                &Value::from(window),
                format!("must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"),
            ));
        }
    }
    if let Some(select) = rules.get("selectPolicy").and_then(Value::as_str)
        && !SELECT_POLICIES.contains(&select)
    {
        errs.push(FieldError::not_supported(
            format!("{path}.selectPolicy"),
            &Value::String(select.to_string()),
            &SELECT_POLICIES,
        ));
    }
    let policies = rules["policies"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if policies.is_empty() {
        errs.push(FieldError::required(
            format!("{path}.policies"),
            "must specify at least one Policy",
        ));
    }
    for (i, policy) in policies.iter().enumerate() {
        errs.extend(validate_scaling_policy(
            policy,
            &format!("{path}.policies[{i}]"),
        ));
    }
    errs
}

fn validate_scaling_policy(policy: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let type_ = string(policy, "type");
    if !POLICY_TYPES.contains(&type_) {
        errs.push(FieldError::not_supported(
            format!("{path}.type"),
            &Value::String(type_.to_string()),
            &POLICY_TYPES,
        ));
    }
    let value = int(&policy["value"]);
    if value <= 0 {
        errs.push(FieldError::invalid(
            format!("{path}.value"),
            &Value::from(value),
            "must be greater than zero",
        ));
    }
    let period = int(&policy["periodSeconds"]);
    if period <= 0 {
        errs.push(FieldError::invalid(
            format!("{path}.periodSeconds"),
            &Value::from(period),
            "must be greater than zero",
        ));
    }
    if period > MAX_PERIOD_SECONDS {
        errs.push(FieldError::invalid(
            format!("{path}.periodSeconds"),
            &Value::from(period),
            format!("must be less than or equal to {MAX_PERIOD_SECONDS}"),
        ));
    }
    errs
}

#[cfg(test)]
mod tests;
