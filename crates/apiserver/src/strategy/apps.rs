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
        validate_workload(obj, "spec.template")
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_selector_immutable(new, old)
    }
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
