//! The LimitRange strategy: upstream's defaulting of `Container` items
//! (`SetDefaults_LimitRangeItem`) and `ValidateLimitRange`.
//!
//! Owns the object's own rules; what a LimitRange does to pods and claims is
//! the LimitRanger admission plugin's (`admission/limit_ranger.rs`).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use skiff_core::quantity::{Amount, Format, MAX_MILLI_VALUE, Quantity};
use skiff_core::status::FieldError;
use skiff_core::validation;

use super::Strategy;

pub struct LimitRange;

impl Strategy for LimitRange {
    fn default(&self, obj: &mut Value) {
        let Some(Value::Array(items)) = obj.pointer_mut("/spec/limits") else {
            return;
        };
        for item in items {
            default_item(item);
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_limit_range(obj)
    }
}

/// `SetDefaults_LimitRangeItem`: for containers, the default limit falls
/// back to the max, and the default request to the default limit, then to
/// the min.
fn default_item(item: &mut Value) {
    if item.get("type").and_then(Value::as_str) != Some("Container") {
        return;
    }
    let Some(item) = item.as_object_mut() else {
        return;
    };
    let list = |item: &Map<String, Value>, field: &str| -> Map<String, Value> {
        item.get(field)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (max, min) = (list(item, "max"), list(item, "min"));
    let mut default = list(item, "default");
    let mut default_request = list(item, "defaultRequest");
    for (k, v) in max {
        default.entry(k).or_insert(v);
    }
    for (k, v) in &default {
        default_request
            .entry(k.clone())
            .or_insert_with(|| v.clone());
    }
    for (k, v) in min {
        default_request.entry(k).or_insert(v);
    }
    // Empty lists are left out, as upstream's `omitempty` writes them.
    for (field, value) in [("default", default), ("defaultRequest", default_request)] {
        if !value.is_empty() {
            item.insert(field.into(), Value::Object(value));
        }
    }
}

/// The standard limit types (`IsStandardLimitRangeType`).
const LIMIT_TYPES: [&str; 3] = ["Pod", "Container", "PersistentVolumeClaim"];

/// `ValidateLimitRange` (metadata is checked by the generic store).
fn validate_limit_range(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(items) = obj.pointer("/spec/limits").and_then(Value::as_array) else {
        return errs;
    };
    let mut types = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("spec.limits[{i}]");
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        errs.extend(validate_type_name(kind, &format!("{path}.type")));
        if !types.insert(kind) {
            errs.push(FieldError::duplicate(format!("{path}.type"), &json!(kind)));
        }
        let container_like = kind == "Pod" || kind == "Container";
        let mut keys = BTreeSet::new();
        let mut read = |field: &str, errs: &mut Vec<FieldError>| {
            let mut out = std::collections::BTreeMap::new();
            let Some(list) = item.get(field).and_then(Value::as_object) else {
                return out;
            };
            for (k, v) in list {
                let at = format!("{path}.{field}[{k}]");
                errs.extend(validate_resource_name(k, container_like, &at));
                keys.insert(k.clone());
                match quantity(v) {
                    Ok(q) => {
                        out.insert(k.clone(), q);
                    }
                    Err(msg) => errs.push(FieldError::invalid(at, v, msg)),
                }
            }
            out
        };
        let max = read("max", &mut errs);
        let min = read("min", &mut errs);
        let (mut default, mut default_request) = Default::default();
        if kind == "Pod" {
            for field in ["default", "defaultRequest"] {
                if item
                    .get(field)
                    .and_then(Value::as_object)
                    .is_some_and(|m| !m.is_empty())
                {
                    errs.push(FieldError::forbidden(
                        format!("{path}.{field}"),
                        "may not be specified when `type` is 'Pod'",
                    ));
                }
            }
        } else {
            default = read("default", &mut errs);
            default_request = read("defaultRequest", &mut errs);
        }
        if kind == "PersistentVolumeClaim"
            && !min.contains_key("storage")
            && !max.contains_key("storage")
        {
            errs.push(FieldError::required(
                format!("{path}.limits"),
                "either minimum or maximum storage value is required, but neither was provided",
            ));
        }
        let ratios = read("maxLimitRequestRatio", &mut errs);
        for k in &keys {
            let at = |field: &str| format!("{path}.{field}[{k}]");
            let shown = |a: &Amount| json!(a.to_string());
            let (min, max) = (min.get(k), max.get(k));
            let (default, request, ratio) = (default.get(k), default_request.get(k), ratios.get(k));
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                errs.push(FieldError::invalid(
                    at("min"),
                    &shown(min),
                    format!("min value {min} is greater than max value {max}"),
                ));
            }
            if let (Some(request), Some(min)) = (request, min)
                && min > request
            {
                errs.push(FieldError::invalid(
                    at("defaultRequest"),
                    &shown(request),
                    format!("min value {min} is greater than default request value {request}"),
                ));
            }
            if let (Some(request), Some(max)) = (request, max)
                && request > max
            {
                errs.push(FieldError::invalid(
                    at("defaultRequest"),
                    &shown(request),
                    format!("default request value {request} is greater than max value {max}"),
                ));
            }
            if let (Some(request), Some(default)) = (request, default)
                && request > default
            {
                errs.push(FieldError::invalid(
                    at("defaultRequest"),
                    &shown(request),
                    format!(
                        "default request value {request} is greater than default limit value {default}"
                    ),
                ));
            }
            if let (Some(default), Some(min)) = (default, min)
                && min > default
            {
                errs.push(FieldError::invalid(
                    at("default"),
                    &shown(min),
                    format!("min value {min} is greater than default value {default}"),
                ));
            }
            if let (Some(default), Some(max)) = (default, max)
                && default > max
            {
                errs.push(FieldError::invalid(
                    at("default"),
                    &shown(max),
                    format!("default value {default} is greater than max value {max}"),
                ));
            }
            if let Some(ratio) = ratio
                && *ratio < Amount::from_milli(1000, Format::DecimalSI)
            {
                errs.push(FieldError::invalid(
                    at("maxLimitRequestRatio"),
                    &shown(ratio),
                    format!("ratio {ratio} is less than 1"),
                ));
            }
            if let (Some(ratio), Some(min), Some(max)) = (ratio, min, max) {
                let (mut allowed, mut low, mut high) =
                    (ratio.value() as f64, min.value(), max.value());
                if ratio.value() < MAX_MILLI_VALUE
                    && low < MAX_MILLI_VALUE
                    && high < MAX_MILLI_VALUE
                {
                    allowed = ratio.milli_value() as f64 / 1000.0;
                    low = min.milli_value();
                    high = max.milli_value();
                }
                let bound = high as f64 / low as f64;
                if allowed > bound {
                    errs.push(FieldError::invalid(
                        at("maxLimitRequestRatio"),
                        &shown(ratio),
                        format!("ratio {ratio} is greater than max/min = {bound:.6}"),
                    ));
                }
            }
            // Resources that cannot be overcommitted (extended resources,
            // huge pages) need the same default limit and request.
            if let (Some(default), Some(request)) = (default, request)
                && !overcommit_allowed(k)
                && default != request
            {
                errs.push(FieldError::invalid(
                    at("defaultRequest"),
                    &shown(request),
                    format!(
                        "default value {default} must equal to defaultRequest value {request} in {k}"
                    ),
                ));
            }
        }
    }
    errs
}

/// A quantity of a resource list, or why it is not one.
fn quantity(v: &Value) -> Result<Amount, String> {
    let parsed = match v {
        Value::String(s) => Quantity::parse(s),
        Value::Number(n) => Quantity::parse(&n.to_string()),
        _ => return Err("must be a quantity".to_string()),
    };
    parsed.map(|q| q.amount()).map_err(|e| e.to_string())
}

/// `validateLimitRangeTypeName`.
fn validate_type_name(kind: &str, path: &str) -> Vec<FieldError> {
    let errs: Vec<FieldError> = validation::is_qualified_name(kind)
        .into_iter()
        .map(|m| FieldError::invalid(path, &json!(kind), m))
        .collect();
    if !errs.is_empty() {
        return errs;
    }
    if !kind.contains('/') && !LIMIT_TYPES.contains(&kind) {
        return vec![FieldError::invalid(
            path,
            &json!(kind),
            "must be a standard limit type or fully qualified",
        )];
    }
    Vec::new()
}

/// `validateContainerResourceName` for Pod and Container items,
/// `validateResourceName` for the others.
fn validate_resource_name(name: &str, container: bool, path: &str) -> Vec<FieldError> {
    let invalid = |m: &str| FieldError::invalid(path, &json!(name), m);
    let mut errs: Vec<FieldError> = validation::is_qualified_name(name)
        .iter()
        .map(|m| invalid(m))
        .collect();
    if !errs.is_empty() {
        return errs;
    }
    let qualified = name.contains('/');
    if !qualified && !validation::is_standard_resource_name(name) {
        errs.push(invalid(
            "must be a standard resource type or fully qualified",
        ));
        return errs;
    }
    if container {
        if !qualified {
            if !validation::is_standard_container_resource_name(name) {
                errs.push(invalid("must be a standard resource for containers"));
            }
        } else if !native(name) && !extended(name) {
            errs.push(invalid("doesn't follow extended resource name standard"));
        }
    }
    errs
}

/// `IsNativeResource`: no domain, or a `kubernetes.io` one.
fn native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// `IsExtendedResourceName`.
fn extended(name: &str) -> bool {
    if native(name) || name.starts_with("requests.") {
        return false;
    }
    validation::is_qualified_name(&format!("requests.{name}")).is_empty()
}

/// `IsOvercommitAllowed`: native resources other than huge pages.
fn overcommit_allowed(name: &str) -> bool {
    native(name) && !name.starts_with("hugepages-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit_range(items: Value) -> Value {
        json!({"metadata": {"name": "lr", "namespace": "ns"}, "spec": {"limits": items}})
    }

    #[test]
    fn container_defaults_fall_back_to_max_then_default_then_min() {
        let mut lr = limit_range(json!([
            {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "min": {"cpu": "100m", "ephemeral-storage": "1Gi"}, "default": {"memory": "512Mi"}},
            {"type": "Pod", "max": {"cpu": "4"}},
        ]));
        LimitRange.default(&mut lr);
        let item = &lr["spec"]["limits"][0];
        assert_eq!(item["default"], json!({"memory": "512Mi", "cpu": "2"}));
        assert_eq!(
            item["defaultRequest"],
            json!({"memory": "512Mi", "cpu": "2", "ephemeral-storage": "1Gi"})
        );
        assert!(lr["spec"]["limits"][1].get("default").is_none());
        assert!(lr["spec"]["limits"][1].get("defaultRequest").is_none());
    }

    #[test]
    fn validation_follows_upstream() {
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            (
                "valid container and pod items",
                json!([
                    {"type": "Container", "max": {"cpu": "2"}, "min": {"cpu": "100m"}, "default": {"cpu": "1"}, "defaultRequest": {"cpu": "500m"}, "maxLimitRequestRatio": {"cpu": "10"}},
                    {"type": "Pod", "max": {"memory": "2Gi"}},
                    {"type": "PersistentVolumeClaim", "max": {"storage": "10Gi"}},
                ]),
                vec![],
            ),
            (
                "min over max",
                json!([{"type": "Container", "max": {"cpu": "1"}, "min": {"cpu": "2"}}]),
                vec![
                    r#"spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1"#,
                ],
            ),
            (
                "default request outside min and max and over the default",
                json!([{"type": "Container", "max": {"cpu": "1"}, "min": {"cpu": "500m"}, "default": {"cpu": "700m"}, "defaultRequest": {"cpu": "1500m"}}]),
                vec![
                    r#"spec.limits[0].defaultRequest[cpu]: Invalid value: "1500m": default request value 1500m is greater than max value 1"#,
                    r#"spec.limits[0].defaultRequest[cpu]: Invalid value: "1500m": default request value 1500m is greater than default limit value 700m"#,
                ],
            ),
            (
                "default outside min and max",
                json!([{"type": "Container", "max": {"memory": "1Gi"}, "default": {"memory": "2Gi"}, "defaultRequest": {"memory": "1Gi"}}]),
                vec![
                    r#"spec.limits[0].default[memory]: Invalid value: "1Gi": default value 2Gi is greater than max value 1Gi"#,
                ],
            ),
            (
                "defaults on a pod item",
                json!([{"type": "Pod", "default": {"cpu": "1"}}]),
                vec![
                    "spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'",
                ],
            ),
            (
                "claim item without storage bounds",
                json!([{"type": "PersistentVolumeClaim", "max": {"cpu": "1"}}]),
                vec![
                    "spec.limits[0].limits: Required value: either minimum or maximum storage value is required, but neither was provided",
                ],
            ),
            (
                "ratio under one",
                json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "500m"}}]),
                vec![
                    r#"spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: "500m": ratio 500m is less than 1"#,
                ],
            ),
            (
                "ratio over max/min",
                json!([{"type": "Container", "max": {"cpu": "2"}, "min": {"cpu": "1"}, "default": {"cpu": "2"}, "defaultRequest": {"cpu": "1"}, "maxLimitRequestRatio": {"cpu": "3"}}]),
                vec![
                    r#"spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: "3": ratio 3 is greater than max/min = 2.000000"#,
                ],
            ),
            (
                "duplicate and unknown types",
                json!([{"type": "Container"}, {"type": "Container"}, {"type": "Node"}]),
                vec![
                    r#"spec.limits[1].type: Duplicate value: "Container""#,
                    r#"spec.limits[2].type: Invalid value: "Node": must be a standard limit type or fully qualified"#,
                ],
            ),
            (
                "resource names",
                json!([{"type": "Container", "max": {"storage": "1Gi", "pods": "1", "example.com/gpu": "1"}}]),
                vec![
                    r#"spec.limits[0].max[storage]: Invalid value: "storage": must be a standard resource for containers"#,
                    r#"spec.limits[0].max[pods]: Invalid value: "pods": must be a standard resource for containers"#,
                ],
            ),
            (
                "extended resources need equal default and request",
                json!([{"type": "Container", "default": {"example.com/gpu": "2"}, "defaultRequest": {"example.com/gpu": "1"}}]),
                vec![
                    r#"spec.limits[0].defaultRequest[example.com/gpu]: Invalid value: "1": default value 2 must equal to defaultRequest value 1 in example.com/gpu"#,
                ],
            ),
            (
                "not a quantity",
                json!([{"type": "Container", "max": {"cpu": "lots"}}]),
                vec![
                    r#"spec.limits[0].max[cpu]: Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"#,
                ],
            ),
        ];
        for (name, items, want) in cases {
            let got: Vec<String> = validate_limit_range(&limit_range(items))
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }
}
