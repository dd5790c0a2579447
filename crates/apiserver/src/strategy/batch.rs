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
        // ValidateCronJobCreate: job names add 11 characters (`-<minutes>`).
        let name = skiff_core::meta::name(obj);
        if name.len() > 52 {
            errs.push(FieldError::invalid(
                "metadata.name",
                &json!(name),
                "must be no more than 52 characters",
            ));
        }
        let schedule = str_at(obj, &["spec", "schedule"]);
        if schedule.is_empty() {
            errs.push(FieldError::required("spec.schedule", ""));
        } else {
            errs.extend(validate_schedule(schedule));
        }
        if let Some(tz) = obj.pointer("/spec/timeZone").and_then(Value::as_str) {
            errs.extend(validate_time_zone(tz));
        }
        match obj
            .pointer("/spec/concurrencyPolicy")
            .and_then(Value::as_str)
        {
            Some("Allow" | "Forbid" | "Replace") => {}
            Some(other) => errs.push(FieldError::not_supported(
                "spec.concurrencyPolicy",
                &json!(other),
                &["Allow", "Forbid", "Replace"],
            )),
            None => errs.push(FieldError::required("spec.concurrencyPolicy", "")),
        }
        for field in [
            "startingDeadlineSeconds",
            "successfulJobsHistoryLimit",
            "failedJobsHistoryLimit",
        ] {
            if let Some(n) = obj
                .pointer(&format!("/spec/{field}"))
                .and_then(Value::as_i64)
                && n < 0
            {
                errs.push(FieldError::invalid(
                    format!("spec.{field}"),
                    &json!(n),
                    "must be greater than or equal to 0",
                ));
            }
        }
        match obj.pointer("/spec/jobTemplate/spec") {
            Some(spec) => errs.extend(validate_job_spec(spec, "spec.jobTemplate.spec")),
            None => errs.push(FieldError::required("spec.jobTemplate.spec", "")),
        }
        errs
    }
}

/// `validateScheduleFormat` on create: the schedule parses as
/// `cron.ParseStandard` does, and carries no `TZ=`/`CRON_TZ=` prefix (the
/// `timeZone` field replaces it). Upstream keeps accepting a prefix on update
/// of an object that already had one; skiff never stored such objects.
fn validate_schedule(schedule: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Err(e) = skiff_core::cron::parse_standard(schedule) {
        errs.push(FieldError::invalid(
            "spec.schedule",
            &json!(schedule),
            e.to_string(),
        ));
    }
    if schedule.contains("TZ") {
        errs.push(FieldError::invalid(
            "spec.schedule",
            &json!(schedule),
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ));
    }
    errs
}

/// `validateTimeZone`: a non-empty IANA name that the time zone database
/// knows, never `Local`.
fn validate_time_zone(tz: &str) -> Vec<FieldError> {
    let field = "spec.timeZone";
    if tz.is_empty() {
        return vec![FieldError::invalid(
            field,
            &json!(tz),
            "timeZone must be nil or non-empty string",
        )];
    }
    if tz.eq_ignore_ascii_case("local") {
        return vec![FieldError::invalid(
            field,
            &json!(tz),
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        )];
    }
    if !valid_time_zone_characters(tz) {
        return vec![FieldError::invalid(field, &json!(tz), "unknown time zone")];
    }
    match skiff_core::cron::load_location(tz) {
        Ok(_) => Vec::new(),
        Err(e) => vec![FieldError::invalid(field, &json!(tz), e)],
    }
}

/// Upstream's `^[A-Za-z\.\-_0-9+]{1,14}([/][A-Za-z\.\-_0-9+]{1,14}){0,2}$`.
fn valid_time_zone_characters(tz: &str) -> bool {
    let parts: Vec<&str> = tz.split('/').collect();
    parts.len() <= 3
        && parts.iter().all(|p| {
            (1..=14).contains(&p.len())
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| e.body()).collect()
    }

    #[test]
    fn schedules_are_validated_as_upstream() {
        assert!(validate_schedule("*/5 * * * *").is_empty());
        assert!(validate_schedule("@hourly").is_empty());
        assert_eq!(
            details(&validate_schedule("61 * * * *")),
            ["Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61"]
        );
        assert_eq!(
            details(&validate_schedule("TZ=UTC * * * * *")),
            [
                "Invalid value: \"TZ=UTC * * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
            ]
        );
    }

    #[test]
    fn time_zones_are_validated_as_upstream() {
        assert!(validate_time_zone("Europe/Berlin").is_empty());
        assert!(validate_time_zone("America/Argentina/Buenos_Aires").is_empty());
        assert_eq!(
            details(&validate_time_zone("Mars/Olympus")),
            ["Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus"]
        );
        assert_eq!(validate_time_zone("Local").len(), 1);
        assert_eq!(validate_time_zone("").len(), 1);
        assert_eq!(
            details(&validate_time_zone("a/b/c/d")),
            ["Invalid value: \"a/b/c/d\": unknown time zone"]
        );
    }
}
