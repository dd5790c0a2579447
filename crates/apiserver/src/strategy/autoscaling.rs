//! HorizontalPodAutoscaler (`pkg/registry/autoscaling/horizontalpodautoscaler`),
//! on the stored `autoscaling/v2` object whichever version was asked.

use serde_json::{Value, json};
use skiff_core::conversion::{DEFAULT_CPU_UTILIZATION, drop_round_trip_annotations};
use skiff_core::status::FieldError;

use super::{Strategy, default_at};

mod validation;

/// The HPAScaleToZero feature gate: alpha and off by default in v1.33, and
/// skiff has no flag to turn it on.
const HPA_SCALE_TO_ZERO: bool = false;

pub struct HorizontalPodAutoscaler;

impl Strategy for HorizontalPodAutoscaler {
    fn tracks_generation(&self) -> bool {
        true
    }

    /// Create and update check the same spec rules, with a lower bound of
    /// `minReplicas` that depends on the old object; so both live in the
    /// create- and update-only hooks.
    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let bound = validation::min_replicas_lower_bound(HPA_SCALE_TO_ZERO, None);
        validation::validate_spec(&obj["spec"], bound)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let bound = validation::min_replicas_lower_bound(HPA_SCALE_TO_ZERO, Some(old));
        validation::validate_spec(&new["spec"], bound)
    }

    /// The v2 conversion drops the annotations that carry v2 data through v1:
    /// a v2 client cannot store them.
    fn prepare_for_create(&self, obj: &mut Value) {
        drop_round_trip_annotations(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        drop_round_trip_annotations(new);
    }

    /// `SetDefaults_HorizontalPodAutoscaler` of `autoscaling/v2`. Upstream
    /// applies it whenever it decodes the stored version, so objects written
    /// through v1 get it too.
    fn default(&self, obj: &mut Value) {
        default_at(obj, &["spec", "minReplicas"], json!(1));
        let no_metrics = obj
            .pointer("/spec/metrics")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if no_metrics && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert(
                "metrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]),
            );
        }
        if let Some(behavior) = obj
            .pointer_mut("/spec/behavior")
            .and_then(Value::as_object_mut)
        {
            for (direction, defaults) in [
                ("scaleUp", scale_up_rules()),
                ("scaleDown", scale_down_rules()),
            ] {
                let rules = behavior
                    .entry(direction)
                    .or_insert_with(|| Value::Object(Default::default()));
                if rules.is_null() {
                    *rules = Value::Object(Default::default());
                }
                fill_rules(rules, defaults);
            }
        }
    }
}

/// `GenerateHPAScaleUpRules`: at most 4 pods or 100% more every 15 s,
/// whichever is more, without stabilization.
fn scale_up_rules() -> Value {
    json!({
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ],
    })
}

/// `GenerateHPAScaleDownRules`: down to the minimum at once; the window stays
/// unset because the controller's flag decides it.
fn scale_down_rules() -> Value {
    json!({
        "selectPolicy": "Max",
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    })
}

/// `copyHPAScalingRules`: each unset field takes the default.
fn fill_rules(rules: &mut Value, defaults: Value) {
    let (Some(rules), Value::Object(defaults)) = (rules.as_object_mut(), defaults) else {
        return;
    };
    for (k, v) in defaults {
        let entry = rules.entry(k).or_insert(Value::Null);
        if entry.is_null() {
            *entry = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_as_autoscaling_v2() {
        // Table: (spec given, spec after defaulting).
        let cases = [
            (
                json!({"maxReplicas": 3}),
                json!({"maxReplicas": 3, "minReplicas": 1, "metrics": [{"type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}),
            ),
            (
                json!({"maxReplicas": 3, "minReplicas": 2, "metrics": [{"type": "Pods"}]}),
                json!({"maxReplicas": 3, "minReplicas": 2, "metrics": [{"type": "Pods"}]}),
            ),
            (
                json!({"maxReplicas": 3, "minReplicas": 2, "metrics": [{"type": "Pods"}],
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": null}}}),
                json!({"maxReplicas": 3, "minReplicas": 2, "metrics": [{"type": "Pods"}],
                "behavior": {
                    "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
                    "scaleUp": scale_up_rules(),
                }}),
            ),
        ];
        for (given, expected) in cases {
            let mut obj = json!({"spec": given});
            HorizontalPodAutoscaler.default(&mut obj);
            assert_eq!(obj["spec"], expected);
        }
    }
}
