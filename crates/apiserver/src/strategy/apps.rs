//! Strategies of apps/v1 kinds.

use serde_json::{Value, json};
use skiff_core::labels::{self, Selector};
use skiff_core::status::FieldError;

use super::core_v1::{default_pod_spec, validate_pod_spec};
use super::{Strategy, default_at};

/// Validation shared by workloads with a selector and a pod template
/// (`ValidateDeploymentSpec`, `ValidateReplicaSetSpec`, ...).
pub(crate) fn validate_workload(obj: &Value, template_path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
        && r < 0
    {
        errs.push(FieldError::invalid(
            "spec.replicas",
            &json!(r),
            "must be greater than or equal to 0",
        ));
    }
    let Some(selector) = obj.pointer("/spec/selector") else {
        errs.push(FieldError::required("spec.selector", ""));
        return errs;
    };
    let invalid = labels::validate_label_selector(
        selector,
        labels::ValidationOptions::default(),
        "spec.selector",
    );
    if !invalid.is_empty() {
        errs.extend(invalid);
        return errs;
    }
    let Ok(selector) = Selector::from_label_selector_json(selector) else {
        errs.push(FieldError::invalid(
            "spec.selector",
            selector,
            "invalid label selector",
        ));
        return errs;
    };
    if selector.is_empty() {
        errs.push(FieldError::invalid(
            "spec.selector",
            &json!(null),
            "empty selector is invalid for deployment",
        ));
    }
    let pointer = format!("/{}", template_path.replace('.', "/"));
    let template = obj.pointer(&pointer).unwrap_or(&Value::Null);
    let labels = template
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if !selector.is_empty() && !selector.matches(&labels) {
        errs.push(FieldError::invalid(
            format!("{template_path}.metadata.labels"),
            &Value::Object(labels),
            "`selector` does not match template `labels`",
        ));
    }
    match template.get("spec") {
        Some(spec) => errs.extend(validate_pod_spec(spec, &format!("{template_path}.spec"))),
        None => errs.push(FieldError::required(
            format!("{template_path}.spec.containers"),
            "",
        )),
    }
    errs
}

/// The selector of apps/v1 workloads is immutable.
fn validate_selector_immutable(new: &Value, old: &Value) -> Vec<FieldError> {
    let n = new.pointer("/spec/selector");
    if n != old.pointer("/spec/selector") {
        return vec![FieldError::invalid(
            "spec.selector",
            n.unwrap_or(&Value::Null),
            "field is immutable",
        )];
    }
    Vec::new()
}

fn default_template(obj: &mut Value) {
    if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
        default_pod_spec(spec, false);
    }
}

pub struct Deployment;

impl Strategy for Deployment {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        default_at(obj, &["spec", "replicas"], json!(1));
        default_at(obj, &["spec", "strategy", "type"], json!("RollingUpdate"));
        if obj.pointer("/spec/strategy/type") == Some(&json!("RollingUpdate")) {
            default_at(
                obj,
                &["spec", "strategy", "rollingUpdate", "maxUnavailable"],
                json!("25%"),
            );
            default_at(
                obj,
                &["spec", "strategy", "rollingUpdate", "maxSurge"],
                json!("25%"),
            );
        }
        default_at(obj, &["spec", "revisionHistoryLimit"], json!(10));
        default_at(obj, &["spec", "progressDeadlineSeconds"], json!(600));
        default_template(obj);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_workload(obj, "spec.template");
        errs.extend(validate_deployment_spec(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_selector_immutable(new, old)
    }
}

/// `ValidateNonnegativeField`.
fn nonnegative(errs: &mut Vec<FieldError>, obj: &Value, pointer: &str, field: &str) {
    if let Some(v) = obj.pointer(pointer).and_then(Value::as_i64)
        && v < 0
    {
        errs.push(FieldError::invalid(
            field,
            &json!(v),
            "must be greater than or equal to 0",
        ));
    }
}

/// An int-or-percent as (value, is a percent); None when it is neither
/// (`getIntOrPercentValue` over a valid value).
fn int_or_percent(v: &Value) -> Option<(i64, bool)> {
    match v {
        Value::Number(n) => n.as_i64().map(|n| (n, false)),
        Value::String(s) => {
            let digits = s.strip_suffix('%')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok().map(|n| (n, true))
        }
        _ => None,
    }
}

/// `ValidatePositiveIntOrPercent`.
fn positive_int_or_percent(errs: &mut Vec<FieldError>, v: &Value, field: &str) {
    match v {
        Value::String(_) if int_or_percent(v).is_none() => errs.push(FieldError::invalid(
            field,
            v,
            "a valid percent string must be a numeric string followed by an ending '%' \
             (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        )),
        Value::String(_) => {}
        Value::Number(n) if n.as_i64().is_some_and(|n| n < 0) => errs.push(FieldError::invalid(
            field,
            v,
            "must be greater than or equal to 0",
        )),
        Value::Number(_) => {}
        _ => errs.push(FieldError::invalid(
            field,
            v,
            "must be an integer or percentage (e.g '5%')",
        )),
    }
}

/// The Deployment-only parts of `ValidateDeploymentSpec`: the strategy
/// (`ValidateDeploymentStrategy`, `ValidateRollingUpdateDeployment`),
/// minReadySeconds, revisionHistoryLimit and progressDeadlineSeconds.
fn validate_deployment_spec(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let strategy = obj.pointer("/spec/strategy").unwrap_or(&Value::Null);
    let rolling = strategy.get("rollingUpdate").filter(|v| !v.is_null());
    match strategy.get("type").and_then(Value::as_str) {
        Some("Recreate") => {
            if rolling.is_some() {
                errs.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        Some("RollingUpdate") => match rolling {
            None => errs.push(FieldError::required(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let field = "spec.strategy.rollingUpdate";
                let unavailable = ru.get("maxUnavailable").unwrap_or(&Value::Null);
                let surge = ru.get("maxSurge").unwrap_or(&Value::Null);
                positive_int_or_percent(&mut errs, unavailable, &format!("{field}.maxUnavailable"));
                positive_int_or_percent(&mut errs, surge, &format!("{field}.maxSurge"));
                let value = |v: &Value| int_or_percent(v).map_or(0, |(n, _)| n);
                if value(unavailable) == 0 && value(surge) == 0 {
                    errs.push(FieldError::invalid(
                        format!("{field}.maxUnavailable"),
                        unavailable,
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                if let Some((n, true)) = int_or_percent(unavailable)
                    && n > 100
                {
                    errs.push(FieldError::invalid(
                        format!("{field}.maxUnavailable"),
                        unavailable,
                        "must not be greater than 100%",
                    ));
                }
            }
        },
        _ => errs.push(FieldError::not_supported(
            "spec.strategy",
            strategy,
            &["Recreate", "RollingUpdate"],
        )),
    }
    nonnegative(
        &mut errs,
        obj,
        "/spec/minReadySeconds",
        "spec.minReadySeconds",
    );
    nonnegative(
        &mut errs,
        obj,
        "/spec/revisionHistoryLimit",
        "spec.revisionHistoryLimit",
    );
    if let Some(deadline) = obj
        .pointer("/spec/progressDeadlineSeconds")
        .and_then(Value::as_i64)
    {
        nonnegative(
            &mut errs,
            obj,
            "/spec/progressDeadlineSeconds",
            "spec.progressDeadlineSeconds",
        );
        let min_ready = obj
            .pointer("/spec/minReadySeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if deadline <= min_ready {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                &json!(deadline),
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

pub struct ReplicaSet;

impl Strategy for ReplicaSet {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        default_at(obj, &["spec", "replicas"], json!(1));
        default_template(obj);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_workload(obj, "spec.template")
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_selector_immutable(new, old)
    }

    fn field_attrs(&self, obj: &Value, out: &mut Vec<(&'static str, String)>) {
        let n = obj
            .pointer("/status/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        out.push(("status.replicas", n.to_string()));
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["status.replicas"]
    }
}

pub struct StatefulSet;

impl Strategy for StatefulSet {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        default_at(obj, &["spec", "replicas"], json!(1));
        default_at(obj, &["spec", "podManagementPolicy"], json!("OrderedReady"));
        default_at(
            obj,
            &["spec", "updateStrategy", "type"],
            json!("RollingUpdate"),
        );
        if obj.pointer("/spec/updateStrategy/type") == Some(&json!("RollingUpdate")) {
            default_at(
                obj,
                &["spec", "updateStrategy", "rollingUpdate", "partition"],
                json!(0),
            );
        }
        default_at(obj, &["spec", "revisionHistoryLimit"], json!(10));
        default_at(
            obj,
            &["spec", "persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
        );
        default_template(obj);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_workload(obj, "spec.template")
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_selector_immutable(new, old)
    }
}

pub struct DaemonSet;

impl Strategy for DaemonSet {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        default_at(
            obj,
            &["spec", "updateStrategy", "type"],
            json!("RollingUpdate"),
        );
        if obj.pointer("/spec/updateStrategy/type") == Some(&json!("RollingUpdate")) {
            default_at(
                obj,
                &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"],
                json!(1),
            );
            default_at(
                obj,
                &["spec", "updateStrategy", "rollingUpdate", "maxSurge"],
                json!(0),
            );
        }
        default_at(obj, &["spec", "revisionHistoryLimit"], json!(10));
        default_template(obj);
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        // daemonSetStrategy.PrepareForCreate: templateGeneration starts at 1
        // unless the client set a higher one.
        let given = template_generation(obj).filter(|g| *g >= 1).unwrap_or(1);
        set_template_generation(obj, given);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // daemonSetStrategy.PrepareForUpdate: clients cannot set it; it moves
        // with every template change (the controller labels pods with it).
        let mut generation = template_generation(old).unwrap_or(1);
        if new.pointer("/spec/template") != old.pointer("/spec/template") {
            generation += 1;
        }
        set_template_generation(new, generation);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_workload(obj, "spec.template");
        // ValidateDaemonSetSpec: daemon pods always restart.
        let policy = obj
            .pointer("/spec/template/spec/restartPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Always");
        if policy != "Always" {
            errs.push(FieldError::not_supported(
                "spec.template.spec.restartPolicy",
                &json!(policy),
                &["Always"],
            ));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_selector_immutable(new, old)
    }
}

/// apps/v1 keeps the internal `spec.templateGeneration` in this annotation.
const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

fn template_generation(obj: &Value) -> Option<i64> {
    obj.pointer("/metadata/annotations")?
        .get(TEMPLATE_GENERATION_ANNOTATION)?
        .as_str()?
        .parse()
        .ok()
}

fn set_template_generation(obj: &mut Value, generation: i64) {
    default_at(obj, &["metadata", "annotations"], json!({}));
    if let Some(a) = obj
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.insert(
            TEMPLATE_GENERATION_ANNOTATION.into(),
            json!(generation.to_string()),
        );
    }
}

#[cfg(test)]
mod daemon_set_tests {
    use super::*;

    fn ds(image: &str, annotation: Option<&str>) -> Value {
        let mut v = json!({
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "c", "image": image}]}
                }
            }
        });
        if let Some(a) = annotation {
            v["metadata"]["annotations"] = json!({TEMPLATE_GENERATION_ANNOTATION: a});
        }
        v
    }

    #[test]
    fn template_generation_starts_at_one_and_follows_template_changes() {
        let mut created = ds("a", None);
        DaemonSet.prepare_for_create(&mut created);
        assert_eq!(template_generation(&created), Some(1));
        let mut given = ds("a", Some("4"));
        DaemonSet.prepare_for_create(&mut given);
        assert_eq!(template_generation(&given), Some(4));

        // A client's value is ignored on update; the old one carries over.
        let mut same = ds("a", Some("9"));
        DaemonSet.prepare_for_update(&mut same, &created);
        assert_eq!(template_generation(&same), Some(1));
        let mut changed = ds("b", None);
        DaemonSet.prepare_for_update(&mut changed, &created);
        assert_eq!(template_generation(&changed), Some(2));
    }

    #[test]
    fn daemon_pods_must_restart_always() {
        let mut v = ds("a", None);
        v["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        DaemonSet.default(&mut v);
        let errs = DaemonSet.validate(&v);
        assert!(
            errs.iter()
                .any(|e| e.field == "spec.template.spec.restartPolicy"),
            "{:?}",
            errs.iter().map(FieldError::body).collect::<Vec<_>>()
        );
    }
}

#[cfg(test)]
mod deployment_tests {
    use super::*;

    fn deployment(spec: Value) -> Value {
        let mut v = json!({
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}
                }
            }
        });
        if let (Some(s), Some(extra)) = (v["spec"].as_object_mut(), spec.as_object()) {
            for (k, x) in extra {
                s.insert(k.clone(), x.clone());
            }
        }
        Deployment.default(&mut v);
        v
    }

    fn errors(spec: Value) -> Vec<String> {
        Deployment
            .validate(&deployment(spec))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn strategy_and_deadline_rules() {
        assert!(errors(json!({})).is_empty(), "{:?}", errors(json!({})));
        let rolling = |surge: Value, unavailable: Value| {
            json!({"strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}})
        };
        let cases = [
            (
                rolling(json!(0), json!(0)),
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0",
            ),
            (
                rolling(json!("0%"), json!("0%")),
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": may not be 0 when `maxSurge` is 0",
            ),
            (
                rolling(json!(1), json!("150%")),
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%",
            ),
            (
                rolling(json!(-1), json!(1)),
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or equal to 0",
            ),
            (
                rolling(json!("x"), json!(1)),
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"x\": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
            ),
            (
                json!({"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}}),
                "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
            ),
            (
                json!({"progressDeadlineSeconds": 5, "minReadySeconds": 5}),
                "spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds",
            ),
            (
                json!({"revisionHistoryLimit": -1}),
                "spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
            ),
        ];
        for (spec, want) in cases {
            let got = errors(spec.clone());
            assert!(got.iter().any(|e| e == want), "{spec}: {got:?}");
        }
        // One zero is fine.
        assert!(errors(rolling(json!(0), json!(1))).is_empty());
        assert!(errors(json!({"strategy": {"type": "Recreate"}})).is_empty());
        let bad_type = errors(json!({"strategy": {"type": "BlueGreen"}}));
        assert!(
            bad_type
                .iter()
                .any(|e| e.starts_with("spec.strategy: Unsupported value")
                    && e.ends_with("supported values: \"Recreate\", \"RollingUpdate\"")),
            "{bad_type:?}"
        );
    }
}
