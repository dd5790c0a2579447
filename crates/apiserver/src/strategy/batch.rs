//! Strategies of batch/v1 kinds.

use serde_json::{Value, json};
use skiff_core::status::FieldError;

use super::core_v1::{default_pod_spec, validate_pod_spec};
use super::{Strategy, default_at, str_at};

fn default_job_spec(spec: &mut Value) {
    // SetDefaults_Job: both unset means one pod to completion.
    if spec.get("completions").is_none() && spec.get("parallelism").is_none() {
        spec["completions"] = json!(1);
        spec["parallelism"] = json!(1);
    }
    default_at(spec, &["parallelism"], json!(1));
    default_at(spec, &["backoffLimit"], json!(6));
    default_at(spec, &["completionMode"], json!("NonIndexed"));
    default_at(spec, &["suspend"], json!(false));
    let pod_replacement = if spec.get("podFailurePolicy").is_some() {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    default_at(spec, &["podReplacementPolicy"], json!(pod_replacement));
    if let Some(pod) = spec.pointer_mut("/template/spec") {
        default_pod_spec(pod, false);
    }
}

fn validate_job_spec(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
    ] {
        if let Some(n) = spec.get(field).and_then(Value::as_i64)
            && (n < 0 || (field == "activeDeadlineSeconds" && n == 0))
        {
            let msg = if field == "activeDeadlineSeconds" {
                "must be greater than 0"
            } else {
                "must be greater than or equal to 0"
            };
            errs.push(FieldError::invalid(
                format!("{path}.{field}"),
                &json!(n),
                msg,
            ));
        }
    }
    let restart = str_at(spec, &["template", "spec", "restartPolicy"]);
    if restart != "OnFailure" && restart != "Never" {
        errs.push(FieldError::not_supported(
            format!("{path}.template.spec.restartPolicy"),
            &json!(restart),
            &["OnFailure", "Never"],
        ));
    }
    match spec.pointer("/template/spec") {
        Some(pod) => errs.extend(validate_pod_spec(pod, &format!("{path}.template.spec"))),
        None => errs.push(FieldError::required(
            format!("{path}.template.spec.containers"),
            "",
        )),
    }
    errs
}

pub struct Job;

impl Strategy for Job {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        if let Some(spec) = obj.get_mut("spec") {
            default_job_spec(spec);
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        // The job strategy generates the selector from the uid unless the user
        // asked for manualSelector.
        if obj.pointer("/spec/manualSelector") == Some(&json!(true)) {
            return;
        }
        let uid = skiff_core::meta::uid(obj).to_string();
        let name = skiff_core::meta::name(obj).to_string();
        let Some(spec) = obj.get_mut("spec") else {
            return;
        };
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
        default_at(spec, &["template", "metadata", "labels"], json!({}));
        if let Some(labels) = spec
            .pointer_mut("/template/metadata/labels")
            .and_then(Value::as_object_mut)
        {
            for (k, v) in [
                ("batch.kubernetes.io/controller-uid", &uid),
                ("batch.kubernetes.io/job-name", &name),
                ("controller-uid", &uid),
                ("job-name", &name),
            ] {
                labels.insert(k.to_string(), json!(v));
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        match obj.get("spec") {
            Some(spec) => validate_job_spec(spec, "spec"),
            None => vec![FieldError::required("spec", "")],
        }
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        for field in ["selector", "template", "completionMode"] {
            let p = format!("/spec/{field}");
            if new.pointer(&p) != old.pointer(&p) && field != "template" {
                errs.push(FieldError::invalid(
                    format!("spec.{field}"),
                    new.pointer(&p).unwrap_or(&Value::Null),
                    "field is immutable",
                ));
            }
        }
        errs
    }

    fn field_attrs(&self, obj: &Value, out: &mut Vec<(&'static str, String)>) {
        let n = obj
            .pointer("/status/succeeded")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        out.push(("status.successful", n.to_string()));
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["status.successful"]
    }
}

pub struct CronJob;

impl Strategy for CronJob {
    fn name_rule(&self) -> skiff_core::validation::NameRule {
        skiff_core::validation::NameRule::Dns1123Subdomain
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        default_at(obj, &["spec", "concurrencyPolicy"], json!("Allow"));
        default_at(obj, &["spec", "suspend"], json!(false));
        default_at(obj, &["spec", "successfulJobsHistoryLimit"], json!(3));
        default_at(obj, &["spec", "failedJobsHistoryLimit"], json!(1));
        if let Some(spec) = obj.pointer_mut("/spec/jobTemplate/spec") {
            default_job_spec(spec);
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if str_at(obj, &["spec", "schedule"]).is_empty() {
            errs.push(FieldError::required("spec.schedule", ""));
        }
        match obj.pointer("/spec/jobTemplate/spec") {
            Some(spec) => errs.extend(validate_job_spec(spec, "spec.jobTemplate.spec")),
            None => errs.push(FieldError::required("spec.jobTemplate.spec", "")),
        }
        errs
    }
}
