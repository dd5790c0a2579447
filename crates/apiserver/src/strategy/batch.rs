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
    // SetDefaults_Job: with failures limited per index the global limit
    // must not stop the Job first.
    let backoff_limit = if spec
        .get("backoffLimitPerIndex")
        .is_some_and(|v| !v.is_null())
    {
        json!(i32::MAX)
    } else {
        json!(6)
    };
    default_at(spec, &["backoffLimit"], backoff_limit);
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
    errs.extend(validate_indexed_limits(spec, path));
    if let Some(policy) = spec.get("podFailurePolicy").filter(|v| !v.is_null()) {
        errs.extend(validate_pod_failure_policy_actions(
            spec,
            policy,
            &format!("{path}.podFailurePolicy"),
        ));
    }
    if let Some(policy) = spec.get("successPolicy").filter(|v| !v.is_null()) {
        let p = format!("{path}.successPolicy");
        if str_at(spec, &["completionMode"]) != "Indexed" {
            errs.push(FieldError::invalid(
                p,
                policy,
                "requires indexed completion mode",
            ));
        } else {
            errs.extend(validate_success_policy(spec, policy, &p));
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

/// Upstream `maxParallelismForIndexedJob`.
const MAX_PARALLELISM_INDEXED: i64 = 100_000;
/// Upstream `maxFailedIndexesForIndexedJob`.
const MAX_FAILED_INDEXES: i64 = 100_000;
/// Upstream `completionsSoftLimit`: above it, a limit per index needs
/// `maxFailedIndexes` and smaller bounds, to keep the status small.
const COMPLETIONS_SOFT_LIMIT: i64 = 100_000;
/// Upstream `parallelismLimitForHighCompletions`.
const PARALLELISM_LIMIT_HIGH_COMPLETIONS: i64 = 10_000;
/// Upstream `maxFailedIndexesLimitForHighCompletions`.
const MAX_FAILED_INDEXES_HIGH_COMPLETIONS: i64 = 10_000;
/// Upstream `maxPodFailurePolicyRules`.
const MAX_POD_FAILURE_POLICY_RULES: usize = 20;
/// Upstream `maxSuccessPolicyRule`.
const MAX_SUCCESS_POLICY_RULES: usize = 20;
/// Upstream `maxJobSuccessPolicySucceededIndexesLimit`.
const MAX_SUCCEEDED_INDEXES_LEN: usize = 64 * 1024;

fn int_at(spec: &Value, field: &str) -> Option<i64> {
    spec.get(field).and_then(Value::as_i64)
}

/// The completion-mode part of `validateJobSpec`: `backoffLimitPerIndex`
/// and `maxFailedIndexes` (Indexed Jobs only, with their bounds), and what
/// Indexed mode itself requires.
fn validate_indexed_limits(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let per_index = int_at(spec, "backoffLimitPerIndex");
    let max_failed = int_at(spec, "maxFailedIndexes");
    let completions = int_at(spec, "completions");
    let parallelism = int_at(spec, "parallelism");
    let nonnegative = "must be greater than or equal to 0";
    if let Some(n) = per_index.filter(|n| *n < 0) {
        errs.push(FieldError::invalid(
            format!("{path}.backoffLimitPerIndex"),
            &json!(n),
            nonnegative,
        ));
    }
    if let Some(n) = max_failed {
        if n < 0 {
            errs.push(FieldError::invalid(
                format!("{path}.maxFailedIndexes"),
                &json!(n),
                nonnegative,
            ));
        }
        if per_index.is_none() {
            errs.push(FieldError::required(
                format!("{path}.backoffLimitPerIndex"),
                "when maxFailedIndexes is specified",
            ));
        }
    }
    let mode = spec.get("completionMode").and_then(Value::as_str);
    match mode {
        None | Some("NonIndexed") => {
            for (field, v) in [
                ("backoffLimitPerIndex", per_index),
                ("maxFailedIndexes", max_failed),
            ] {
                if let Some(n) = v {
                    errs.push(FieldError::invalid(
                        format!("{path}.{field}"),
                        &json!(n),
                        "requires indexed completion mode",
                    ));
                }
            }
        }
        Some("Indexed") => {
            if completions.is_none() {
                errs.push(FieldError::required(
                    format!("{path}.completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(p) = parallelism.filter(|p| *p > MAX_PARALLELISM_INDEXED) {
                errs.push(FieldError::invalid(
                    format!("{path}.parallelism"),
                    &json!(p),
                    format!(
                        "must be less than or equal to {MAX_PARALLELISM_INDEXED} when completion mode is Indexed"
                    ),
                ));
            }
            if let (Some(c), Some(m)) = (completions, max_failed)
                && m > c
            {
                errs.push(FieldError::invalid(
                    format!("{path}.maxFailedIndexes"),
                    &json!(m),
                    "must be less than or equal to completions",
                ));
            }
            if let Some(m) = max_failed.filter(|m| *m > MAX_FAILED_INDEXES) {
                errs.push(FieldError::invalid(
                    format!("{path}.maxFailedIndexes"),
                    &json!(m),
                    format!("must be less than or equal to {MAX_FAILED_INDEXES}"),
                ));
            }
            if completions.is_some_and(|c| c > COMPLETIONS_SOFT_LIMIT) && per_index.is_some() {
                if max_failed.is_none() {
                    errs.push(FieldError::required(
                        format!("{path}.maxFailedIndexes"),
                        format!(
                            "must be specified when completions is above {COMPLETIONS_SOFT_LIMIT}"
                        ),
                    ));
                }
                let high = format!(
                    "when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index"
                );
                if let Some(p) = parallelism.filter(|p| *p > PARALLELISM_LIMIT_HIGH_COMPLETIONS) {
                    errs.push(FieldError::invalid(
                        format!("{path}.parallelism"),
                        &json!(p),
                        format!("must be less than or equal to {PARALLELISM_LIMIT_HIGH_COMPLETIONS} {high}"),
                    ));
                }
                if let Some(m) = max_failed.filter(|m| *m > MAX_FAILED_INDEXES_HIGH_COMPLETIONS) {
                    errs.push(FieldError::invalid(
                        format!("{path}.maxFailedIndexes"),
                        &json!(m),
                        format!("must be less than or equal to {MAX_FAILED_INDEXES_HIGH_COMPLETIONS} {high}"),
                    ));
                }
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            format!("{path}.completionMode"),
            &json!(other),
            &["NonIndexed", "Indexed"],
        )),
    }
    errs
}

/// The action part of `validatePodFailurePolicyRule`: a known action, and
/// `FailIndex` only with a limit per index.
fn validate_pod_failure_policy_actions(
    spec: &Value,
    policy: &Value,
    path: &str,
) -> Vec<FieldError> {
    const ACTIONS: [&str; 4] = ["Count", "FailIndex", "FailJob", "Ignore"];
    let mut errs = Vec::new();
    let rules_path = format!("{path}.rules");
    let rules = policy
        .get("rules")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if rules.len() > MAX_POD_FAILURE_POLICY_RULES {
        errs.push(FieldError::too_many(
            rules_path.clone(),
            rules.len(),
            MAX_POD_FAILURE_POLICY_RULES,
        ));
    }
    let per_index = spec
        .get("backoffLimitPerIndex")
        .is_some_and(|v| !v.is_null());
    for (i, rule) in rules.iter().enumerate() {
        let action_path = format!("{rules_path}[{i}].action");
        match rule
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "" => errs.push(FieldError::required(
                action_path,
                // Go's %q of a string slice.
                format!(
                    "valid values: [{}]",
                    ACTIONS.map(|a| format!("{a:?}")).join(" ")
                ),
            )),
            "FailIndex" if !per_index => errs.push(FieldError::invalid(
                action_path,
                &json!("FailIndex"),
                "requires the backoffLimitPerIndex to be set",
            )),
            a if ACTIONS.contains(&a) => {}
            a => errs.push(FieldError::not_supported(action_path, &json!(a), &ACTIONS)),
        }
    }
    errs
}

/// `validateSuccessPolicy` (the Job is Indexed).
fn validate_success_policy(spec: &Value, policy: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rules_path = format!("{path}.rules");
    let rules = policy
        .get("rules")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if rules.is_empty() {
        errs.push(FieldError::required(
            rules_path.clone(),
            "at least one rules must be specified when the successPolicy is specified",
        ));
    }
    if rules.len() > MAX_SUCCESS_POLICY_RULES {
        errs.push(FieldError::too_many(
            rules_path.clone(),
            rules.len(),
            MAX_SUCCESS_POLICY_RULES,
        ));
    }
    // Without completions (already an error for Indexed Jobs) there is
    // nothing to check the indexes against.
    let completions = int_at(spec, "completions");
    for (i, rule) in rules.iter().enumerate() {
        let rule_path = format!("{rules_path}[{i}]");
        let indexes = rule.get("succeededIndexes").and_then(Value::as_str);
        let count = rule.get("succeededCount").and_then(Value::as_i64);
        if indexes.is_none() && count.is_none() {
            errs.push(FieldError::required(
                rule_path.clone(),
                "at least one of succeededCount or succeededIndexes must be specified",
            ));
        }
        let mut total = 0;
        if let Some(ix) = indexes {
            let p = format!("{rule_path}.succeededIndexes");
            if ix.len() > MAX_SUCCEEDED_INDEXES_LEN {
                errs.push(FieldError::too_long(p.clone(), MAX_SUCCEEDED_INDEXES_LEN));
            }
            if let Some(c) = completions {
                match validate_indexes_format(ix, c) {
                    Ok(n) => total = n,
                    Err(e) => errs.push(FieldError::invalid(
                        p,
                        &json!(ix),
                        format!("error parsing succeededIndexes: {e}"),
                    )),
                }
            }
        }
        if let Some(n) = count {
            let p = format!("{rule_path}.succeededCount");
            if n < 0 {
                errs.push(FieldError::invalid(
                    p.clone(),
                    &json!(n),
                    "must be greater than or equal to 0",
                ));
            }
            if let Some(c) = completions.filter(|c| n > *c) {
                errs.push(FieldError::invalid(
                    p.clone(),
                    &json!(n),
                    format!(
                        "must be less than or equal to {c} (the number of specified completions)"
                    ),
                ));
            }
            if indexes.is_some() && n > total {
                errs.push(FieldError::invalid(
                    p,
                    &json!(n),
                    format!(
                        "must be less than or equal to {total} (the number of indexes in the specified succeededIndexes field)"
                    ),
                ));
            }
        }
    }
    errs
}

/// The index lists of `validateJobStatus`, checked as upstream's status
/// strategy does: only what the update changes.
fn validate_index_status(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let completed = new
        .pointer("/status/completedIndexes")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let old_completed = old
        .pointer("/status/completedIndexes")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let failed = new.pointer("/status/failedIndexes").and_then(Value::as_str);
    let old_failed = old.pointer("/status/failedIndexes").and_then(Value::as_str);
    let completed_changed = completed != old_completed;
    let failed_changed = failed != old_failed;
    let spec = new.get("spec").unwrap_or(&Value::Null);
    let completions = int_at(spec, "completions");
    let per_index = spec
        .get("backoffLimitPerIndex")
        .is_some_and(|v| !v.is_null());
    let indexed = str_at(spec, &["completionMode"]) == "Indexed";
    if completed_changed
        && let Some(c) = completions
        && let Err(e) = validate_indexes_format(completed, c)
    {
        errs.push(FieldError::invalid(
            "status.completedIndexes",
            &json!(completed),
            format!("error parsing completedIndexes: {e}"),
        ));
    }
    if failed_changed
        && per_index
        && let (Some(c), Some(f)) = (completions, failed)
        && let Err(e) = validate_indexes_format(f, c)
    {
        errs.push(FieldError::invalid(
            "status.failedIndexes",
            &json!(f),
            format!("error parsing failedIndexes: {e}"),
        ));
    }
    if completed_changed && !completed.is_empty() && !indexed {
        errs.push(FieldError::invalid(
            "status.completedIndexes",
            &json!(completed),
            "cannot set non-empty completedIndexes when non-indexed completion mode",
        ));
    }
    if failed_changed
        && !per_index
        && let Some(f) = failed
    {
        errs.push(FieldError::invalid(
            "status.failedIndexes",
            &json!(f),
            "cannot set non-null failedIndexes when backoffLimitPerIndex is null",
        ));
    }
    if (failed_changed || completed_changed)
        && let (Some(c), Some(f)) = (completions, failed)
        && let Some(at) = first_overlap(completed, f, c)
    {
        errs.push(FieldError::invalid(
            "status.failedIndexes",
            &json!(f),
            format!("failedIndexes and completedIndexes overlap at index: {at}"),
        ));
    }
    errs
}

/// `validateFailedIndexesNotOverlapCompleted`: the lowest index in both
/// lists; intervals that do not parse are skipped (their format is
/// reported on its own).
fn first_overlap(completed: &str, failed: &str, completions: i64) -> Option<i64> {
    let parse = |s: &str| -> Vec<(i64, i64)> {
        s.split(',')
            .filter(|p| !p.is_empty())
            .filter_map(|p| parse_index_interval(p, completions).ok())
            .collect()
    };
    let (c, f) = (parse(completed), parse(failed));
    let (mut i, mut j) = (0, 0);
    while let (Some(&(c_lo, c_hi)), Some(&(f_lo, f_hi))) = (c.get(i), f.get(j)) {
        if c_lo <= f_hi && f_lo <= c_hi {
            return Some(c_lo.max(f_lo));
        }
        if c_lo <= f_lo {
            i += 1;
        } else {
            j += 1;
        }
    }
    None
}

/// `validateIndexesFormat`: strictly increasing intervals `a` or `a-b`
/// (a < b) of indexes below `completions`, comma separated; returns how
/// many indexes they hold.
pub fn validate_indexes_format(s: &str, completions: i64) -> Result<i64, String> {
    if s.is_empty() {
        return Ok(0);
    }
    let mut last: Option<i64> = None;
    let mut total = 0i64;
    for interval in s.split(',') {
        let (x, y) = parse_index_interval(interval, completions)?;
        if let Some(l) = last.filter(|l| *l >= x) {
            return Err(format!("non-increasing order, previous: {l}, current: {x}"));
        }
        total += y - x + 1;
        last = Some(y);
    }
    Ok(total)
}

/// `parseIndexInterval`.
fn parse_index_interval(interval: &str, completions: i64) -> Result<(i64, i64), String> {
    let limits: Vec<&str> = interval.split('-').collect();
    if limits.len() > 2 {
        return Err(format!(
            "the fragment {interval:?} violates the requirement that an index interval can have at most two parts separated by '-'"
        ));
    }
    let parse = |s: &str| -> Result<i64, String> {
        let n = s
            .parse::<i64>()
            .map_err(|_| format!("cannot convert string to integer for index: {s:?}"))?;
        if n >= completions {
            return Err(format!("too large index: {s:?}"));
        }
        Ok(n)
    };
    let x = parse(limits[0])?;
    match limits.get(1) {
        None => Ok((x, x)),
        Some(b) => {
            let y = parse(b)?;
            if x >= y {
                return Err(format!("non-increasing order, previous: {x}, current: {y}"));
            }
            Ok((x, y))
        }
    }
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
        // ValidateJobSpecUpdate: these are fixed once the Job exists.
        for field in [
            "selector",
            "template",
            "completionMode",
            "podFailurePolicy",
            "backoffLimitPerIndex",
            "successPolicy",
        ] {
            let p = format!("/spec/{field}");
            if new.pointer(&p) != old.pointer(&p) && field != "template" {
                errs.push(FieldError::invalid(
                    format!("spec.{field}"),
                    new.pointer(&p).unwrap_or(&Value::Null),
                    "field is immutable",
                ));
            }
        }
        // The main endpoint keeps the stored status, so a changed status
        // comes through /status.
        if new.get("status") != old.get("status") {
            errs.extend(validate_index_status(new, old));
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

    fn job_spec(extra: Value) -> Value {
        let mut spec = json!({
            "parallelism": 1,
            "completions": 4,
            "completionMode": "Indexed",
            "template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox"}]}},
        });
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                s.insert(k.clone(), v.clone());
            }
        }
        spec
    }

    fn job_errors(extra: Value) -> Vec<String> {
        validate_job_spec(&job_spec(extra), "spec")
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn backoff_limit_defaults_to_max_with_a_limit_per_index() {
        let mut spec = json!({"backoffLimitPerIndex": 1, "completions": 2, "template": {}});
        default_job_spec(&mut spec);
        assert_eq!(spec["backoffLimit"], json!(2147483647));
        let mut spec = json!({"completions": 2, "template": {}});
        default_job_spec(&mut spec);
        assert_eq!(spec["backoffLimit"], json!(6));
        let mut spec = json!({"backoffLimitPerIndex": 1, "backoffLimit": 3, "template": {}});
        default_job_spec(&mut spec);
        assert_eq!(spec["backoffLimit"], json!(3));
    }

    #[test]
    fn limits_per_index_are_validated_as_upstream() {
        assert!(job_errors(json!({"backoffLimitPerIndex": 1, "maxFailedIndexes": 4})).is_empty());
        assert_eq!(
            job_errors(json!({"backoffLimitPerIndex": -1, "maxFailedIndexes": 5})),
            [
                "spec.backoffLimitPerIndex: Invalid value: -1: must be greater than or equal to 0",
                "spec.maxFailedIndexes: Invalid value: 5: must be less than or equal to completions",
            ]
        );
        assert_eq!(
            job_errors(json!({"maxFailedIndexes": 1})),
            ["spec.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified"]
        );
        assert_eq!(
            job_errors(json!({"completionMode": "NonIndexed", "backoffLimitPerIndex": 1})),
            ["spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode"]
        );
        assert_eq!(
            job_errors(
                json!({"completions": 200000, "parallelism": 20000, "backoffLimitPerIndex": 1})
            ),
            [
                "spec.maxFailedIndexes: Required value: must be specified when completions is above 100000",
                "spec.parallelism: Invalid value: 20000: must be less than or equal to 10000 when completions are above 100000 and used with backoff limit per index",
            ]
        );
        assert_eq!(
            job_errors(json!({"podFailurePolicy": {"rules": [
                {"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [1]}},
                {"action": "Restart", "onExitCodes": {"operator": "In", "values": [2]}},
            ]}})),
            [
                "spec.podFailurePolicy.rules[0].action: Invalid value: \"FailIndex\": requires the backoffLimitPerIndex to be set",
                "spec.podFailurePolicy.rules[1].action: Unsupported value: \"Restart\": supported values: \"Count\", \"FailIndex\", \"FailJob\", \"Ignore\"",
            ]
        );
    }

    #[test]
    fn success_policies_are_validated_as_upstream() {
        let rules = |r: Value| json!({"successPolicy": {"rules": r}});
        assert!(
            job_errors(rules(
                json!([{"succeededIndexes": "0,2-3", "succeededCount": 2}])
            ))
            .is_empty()
        );
        assert_eq!(
            job_errors(rules(json!([]))),
            [
                "spec.successPolicy.rules: Required value: at least one rules must be specified when the successPolicy is specified"
            ]
        );
        assert_eq!(
            job_errors(rules(json!([{}]))),
            [
                "spec.successPolicy.rules[0]: Required value: at least one of succeededCount or succeededIndexes must be specified"
            ]
        );
        assert_eq!(
            job_errors(rules(
                json!([{"succeededIndexes": "1,3-2"}, {"succeededCount": 5}])
            )),
            [
                "spec.successPolicy.rules[0].succeededIndexes: Invalid value: \"1,3-2\": error parsing succeededIndexes: non-increasing order, previous: 3, current: 2",
                "spec.successPolicy.rules[1].succeededCount: Invalid value: 5: must be less than or equal to 4 (the number of specified completions)",
            ]
        );
        assert_eq!(
            job_errors(rules(
                json!([{"succeededIndexes": "0-1", "succeededCount": 3}])
            )),
            [
                "spec.successPolicy.rules[0].succeededCount: Invalid value: 3: must be less than or equal to 2 (the number of indexes in the specified succeededIndexes field)"
            ]
        );
        let many: Vec<Value> = (0..21).map(|_| json!({"succeededCount": 1})).collect();
        assert_eq!(
            job_errors(rules(json!(many))),
            ["spec.successPolicy.rules: Too many: 21: must have at most 20 items"]
        );
        let non_indexed = job_errors(json!({"completionMode": "NonIndexed",
            "successPolicy": {"rules": [{"succeededCount": 1}]}}));
        assert_eq!(non_indexed.len(), 1);
        assert!(non_indexed[0].ends_with(": requires indexed completion mode"));
    }

    #[test]
    fn index_lists_in_status_updates_are_validated() {
        let job = |spec: Value, status: Value| json!({"spec": spec, "status": status});
        let per_index =
            json!({"completions": 6, "completionMode": "Indexed", "backoffLimitPerIndex": 1});
        let old = job(per_index.clone(), json!({}));
        let errs = |new: &Value, old: &Value| -> Vec<String> {
            validate_index_status(new, old)
                .iter()
                .map(|e| e.to_string())
                .collect()
        };
        let ok = job(
            per_index.clone(),
            json!({"completedIndexes": "0,1", "failedIndexes": "2-4"}),
        );
        assert!(errs(&ok, &old).is_empty());
        let overlap = job(
            per_index.clone(),
            json!({"completedIndexes": "0-2", "failedIndexes": "2-4"}),
        );
        assert_eq!(
            errs(&overlap, &old),
            [
                "status.failedIndexes: Invalid value: \"2-4\": failedIndexes and completedIndexes overlap at index: 2"
            ]
        );
        let bad = job(per_index.clone(), json!({"failedIndexes": "7"}));
        assert_eq!(
            errs(&bad, &old),
            [
                "status.failedIndexes: Invalid value: \"7\": error parsing failedIndexes: too large index: \"7\""
            ]
        );
        // An unchanged list is not checked again.
        assert!(errs(&bad, &bad).is_empty());
        let plain = json!({"completions": 6, "completionMode": "NonIndexed"});
        let wrong = job(
            plain.clone(),
            json!({"completedIndexes": "0", "failedIndexes": ""}),
        );
        assert_eq!(
            errs(&wrong, &job(plain, json!({}))),
            [
                "status.completedIndexes: Invalid value: \"0\": cannot set non-empty completedIndexes when non-indexed completion mode",
                "status.failedIndexes: Invalid value: \"\": cannot set non-null failedIndexes when backoffLimitPerIndex is null",
            ]
        );
    }

    #[test]
    fn index_lists_parse_as_upstream() {
        assert_eq!(validate_indexes_format("", 3), Ok(0));
        assert_eq!(validate_indexes_format("0,2-4,7", 8), Ok(5));
        for (s, want) in [
            (
                "1-2-3",
                "the fragment \"1-2-3\" violates the requirement that an index interval can have at most two parts separated by '-'",
            ),
            ("1,x", "cannot convert string to integer for index: \"x\""),
            ("1,,2", "cannot convert string to integer for index: \"\""),
            ("8", "too large index: \"8\""),
            ("2,1", "non-increasing order, previous: 2, current: 1"),
            ("3-3", "non-increasing order, previous: 3, current: 3"),
        ] {
            assert_eq!(validate_indexes_format(s, 8), Err(want.to_string()), "{s}");
        }
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
