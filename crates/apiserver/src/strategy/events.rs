//! Events (`pkg/registry/core/event`, validation in
//! `pkg/apis/core/validation/events.go`): one stored object, the core `v1`
//! Event, served by two APIs whose rules differ.
//!
//! kube-apiserver validates an Event with the rules of the version the request
//! came in: every Event passes the legacy rules (namespaces agree; an Event
//! with an `eventTime` names its reporter, action and reason), and only a
//! write through `events.k8s.io/v1` gets the strict ones (`eventTime`
//! required, `type` Normal or Warning, the deprecated fields unset, the series
//! well formed, nothing but the series changed by an update). Field paths are
//! upstream's internal names (`message`, `involvedObject`, `count`), which are
//! the stored core names, except the reporter: `reportingController`, or
//! `reportingComponent` when the request came in as core `v1`.
//!
//! Does not own: `metadata` rules (the generic store's), conversion between
//! the two forms (`skiff_core::conversion`).

use serde_json::Value;
use skiff_core::meta;
use skiff_core::status::{FieldError, FieldErrorKind};
use skiff_core::validation::{self, FIELD_IMMUTABLE_ERROR_MSG, NameRule};
use time::OffsetDateTime;

use super::{Strategy, str_at};

/// Upstream's length limits of the new API's fields.
const REPORTING_INSTANCE_LENGTH_LIMIT: usize = 128;
const ACTION_LENGTH_LIMIT: usize = 128;
const REASON_LENGTH_LIMIT: usize = 128;
const NOTE_LENGTH_LIMIT: usize = 1024;

/// Which API a request wrote the Event through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventApi {
    /// Core `v1`: legacy rules only.
    Core,
    /// `events.k8s.io/v1`: legacy and strict rules.
    EventsV1,
}

/// The Event strategy for one of the two APIs.
pub struct Event {
    api: EventApi,
}

pub static CORE_EVENT: Event = Event {
    api: EventApi::Core,
};
pub static EVENTS_V1_EVENT: Event = Event {
    api: EventApi::EventsV1,
};

/// Field selector labels of the stored core Event, and where they read.
const EVENT_FIELDS: [(&str, &[&str]); 10] = [
    ("involvedObject.kind", &["involvedObject", "kind"]),
    ("involvedObject.namespace", &["involvedObject", "namespace"]),
    ("involvedObject.name", &["involvedObject", "name"]),
    ("involvedObject.uid", &["involvedObject", "uid"]),
    (
        "involvedObject.apiVersion",
        &["involvedObject", "apiVersion"],
    ),
    (
        "involvedObject.resourceVersion",
        &["involvedObject", "resourceVersion"],
    ),
    ("involvedObject.fieldPath", &["involvedObject", "fieldPath"]),
    ("reason", &["reason"]),
    ("reportingComponent", &["reportingComponent"]),
    ("type", &["type"]),
];

impl Strategy for Event {
    /// Core Events only pass the generic path-segment check of every name
    /// (the legacy rules have none); the new API validates `metadata` as a
    /// DNS subdomain (`ValidateObjectMeta(..., NameIsDNSSubdomain, ...)`).
    fn name_rule(&self) -> NameRule {
        match self.api {
            EventApi::Core => NameRule::PathSegment,
            EventApi::EventsV1 => NameRule::Dns1123Subdomain,
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_legacy(obj, self.api)
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match self.api {
            EventApi::Core => Vec::new(),
            EventApi::EventsV1 => validate_strict_create(obj),
        }
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        match self.api {
            EventApi::Core => Vec::new(),
            EventApi::EventsV1 => validate_strict_update(new, old),
        }
    }

    fn field_attrs(&self, obj: &Value, out: &mut Vec<(&'static str, String)>) {
        for (label, path) in EVENT_FIELDS {
            out.push((label, str_at(obj, path).to_string()));
        }
        out.push(("source", str_at(obj, &["source", "component"]).to_string()));
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ]
    }
}

/// The path upstream names the reporter by: the internal field, or core's
/// JSON name for a core request.
fn reporting_controller_path(api: EventApi) -> &'static str {
    match api {
        EventApi::Core => "reportingComponent",
        EventApi::EventsV1 => "reportingController",
    }
}

/// An Invalid error showing `""`, as upstream's length and "needs to be
/// unset" errors do whatever the value was.
fn invalid_empty(field: &str, detail: impl Into<String>) -> FieldError {
    FieldError::invalid(field, &Value::String(String::new()), detail)
}

/// `legacyValidateEvent`: the rules every Event passes, whatever the API.
pub fn validate_legacy(obj: &Value, api: EventApi) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let namespace = meta::namespace(obj);
    let involved_namespace = str_at(obj, &["involvedObject", "namespace"]);
    let mismatch = || {
        FieldError::invalid(
            "involvedObject.namespace",
            &Value::String(involved_namespace.to_string()),
            "does not match event.namespace",
        )
    };
    if is_zero_time(&obj["eventTime"]) {
        // An old-style Event: the namespaces agree, or an Event about a
        // cluster-scoped object sits in no namespace or "default" (old
        // clients wrote it there).
        let agree = if involved_namespace.is_empty() {
            namespace.is_empty() || namespace == "default"
        } else {
            namespace == involved_namespace
        };
        if !agree {
            errs.push(mismatch());
        }
    } else {
        if involved_namespace.is_empty() && namespace != "default" && namespace != "kube-system" {
            errs.push(mismatch());
        }
        let reporter_path = reporting_controller_path(api);
        let reporter = str_at(obj, &["reportingComponent"]);
        if reporter.is_empty() {
            errs.push(FieldError::required(reporter_path, ""));
        }
        for msg in validation::is_qualified_name(reporter) {
            errs.push(FieldError::invalid(
                reporter_path,
                &Value::String(reporter.to_string()),
                msg,
            ));
        }
        let instance = str_at(obj, &["reportingInstance"]);
        if instance.is_empty() {
            errs.push(FieldError::required("reportingInstance", ""));
        }
        if instance.len() > REPORTING_INSTANCE_LENGTH_LIMIT {
            errs.push(invalid_empty(
                "reportingInstance",
                format!("can have at most {REPORTING_INSTANCE_LENGTH_LIMIT} characters"),
            ));
        }
        for (field, limit) in [
            ("action", ACTION_LENGTH_LIMIT),
            ("reason", REASON_LENGTH_LIMIT),
        ] {
            let value = str_at(obj, &[field]);
            if value.is_empty() {
                errs.push(FieldError::required(field, ""));
            }
            if value.len() > limit {
                errs.push(invalid_empty(
                    field,
                    format!("can have at most {limit} characters"),
                ));
            }
        }
        if str_at(obj, &["message"]).len() > NOTE_LENGTH_LIMIT {
            errs.push(invalid_empty(
                "message",
                format!("can have at most {NOTE_LENGTH_LIMIT} characters"),
            ));
        }
    }
    for msg in validation::is_dns1123_subdomain(namespace) {
        errs.push(FieldError::invalid(
            "namespace",
            &Value::String(namespace.to_string()),
            msg,
        ));
    }
    errs
}

/// The strict rules of a create through `events.k8s.io/v1`
/// (`ValidateEventCreate` past the legacy rules; `metadata` is the generic
/// store's).
pub fn validate_strict_create(obj: &Value) -> Vec<FieldError> {
    let mut errs = validate_series(obj);
    if is_zero_time(&obj["eventTime"]) {
        errs.push(FieldError::required("eventTime", ""));
    }
    let type_ = str_at(obj, &["type"]);
    if type_ != "Normal" && type_ != "Warning" {
        errs.push(invalid_empty("type", format!("has invalid value: {type_}")));
    }
    for field in ["firstTimestamp", "lastTimestamp"] {
        if !is_zero_time(&obj[field]) {
            errs.push(invalid_empty(field, "needs to be unset"));
        }
    }
    if obj["count"].as_i64().unwrap_or(0) != 0 {
        errs.push(invalid_empty("count", "needs to be unset"));
    }
    if !str_at(obj, &["source", "component"]).is_empty()
        || !str_at(obj, &["source", "host"]).is_empty()
    {
        errs.push(invalid_empty("source", "needs to be unset"));
    }
    errs
}

/// `validateV1EventSeries`: a series has seen at least two occurrences and
/// says when the last one was.
fn validate_series(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let series = &obj["series"];
    if series.is_object() {
        if series["count"].as_i64().unwrap_or(0) < 2 {
            errs.push(invalid_empty("series.count", "should be at least 2"));
        }
        if is_zero_time(&series["lastObservedTime"]) {
            errs.push(FieldError::required("series.lastObservedTime", ""));
        }
    }
    errs
}

/// The strict rules of an update through `events.k8s.io/v1`
/// (`ValidateEventUpdate` past the legacy rules): only the series may
/// change, and a changed series must be well formed.
pub fn validate_strict_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !series_eq(&new["series"], &old["series"]) {
        errs.extend(validate_series(new));
    }
    let mut immutable = |field: &str, changed: bool, shown: String| {
        if changed {
            errs.push(FieldError {
                kind: FieldErrorKind::Invalid,
                field: field.to_string(),
                value: Some(shown),
                detail: FIELD_IMMUTABLE_ERROR_MSG.to_string(),
            });
        }
    };
    let string_field = |obj: &Value, f: &str| str_at(obj, &[f]).to_string();
    let involved = (&new["involvedObject"], &old["involvedObject"]);
    immutable(
        "involvedObject",
        !object_reference_eq(involved.0, involved.1),
        go_object_reference(involved.0),
    );
    let strings = |f: &str| (string_field(new, f), string_field(old, f));
    let (reason, old_reason) = strings("reason");
    immutable("reason", reason != old_reason, format!("{reason:?}"));
    let (message, old_message) = strings("message");
    immutable("message", message != old_message, format!("{message:?}"));
    let source = |obj: &Value| {
        (
            str_at(obj, &["source", "component"]).to_string(),
            str_at(obj, &["source", "host"]).to_string(),
        )
    };
    let (new_source, old_source) = (source(new), source(old));
    immutable(
        "source",
        new_source != old_source,
        format!(
            "core.EventSource{{Component:{:?}, Host:{:?}}}",
            new_source.0, new_source.1
        ),
    );
    for field in ["firstTimestamp", "lastTimestamp"] {
        let (n, o) = (time_at(&new[field]), time_at(&old[field]));
        immutable(field, n != o, go_time(n));
    }
    let count = |obj: &Value| obj["count"].as_i64().unwrap_or(0);
    immutable("count", count(new) != count(old), count(new).to_string());
    // Upstream checks the reason twice; the second error is a duplicate that
    // the message drops.
    immutable("reason", reason != old_reason, format!("{reason:?}"));
    let (type_, old_type) = strings("type");
    immutable("type", type_ != old_type, format!("{type_:?}"));
    // Changes below a microsecond are tolerated: clients truncate to
    // microseconds when they serialize (kubernetes#111928).
    let (event_time, old_event_time) = (time_at(&new["eventTime"]), time_at(&old["eventTime"]));
    immutable(
        "eventTime",
        truncate_micros(event_time) != truncate_micros(old_event_time),
        go_time(event_time),
    );
    let (action, old_action) = strings("action");
    immutable("action", action != old_action, format!("{action:?}"));
    let (related, old_related) = (&new["related"], &old["related"]);
    let related_changed = match (related.is_object(), old_related.is_object()) {
        (true, true) => !object_reference_eq(related, old_related),
        (a, b) => a != b,
    };
    immutable(
        "related",
        related_changed,
        if related.is_object() {
            go_object_reference(related)
        } else {
            "\"null\"".to_string()
        },
    );
    let (reporter, old_reporter) = strings("reportingComponent");
    immutable(
        "reportingController",
        reporter != old_reporter,
        format!("{reporter:?}"),
    );
    let (instance, old_instance) = strings("reportingInstance");
    immutable(
        "reportingInstance",
        instance != old_instance,
        format!("{instance:?}"),
    );
    errs
}

/// The fields of an `ObjectReference`, in declaration order.
const OBJECT_REFERENCE_FIELDS: [(&str, &str); 7] = [
    ("kind", "Kind"),
    ("namespace", "Namespace"),
    ("name", "Name"),
    ("uid", "UID"),
    ("apiVersion", "APIVersion"),
    ("resourceVersion", "ResourceVersion"),
    ("fieldPath", "FieldPath"),
];

/// Two references are equal when every field is (an absent field is `""`,
/// as in the typed object).
fn object_reference_eq(a: &Value, b: &Value) -> bool {
    OBJECT_REFERENCE_FIELDS
        .iter()
        .all(|(f, _)| str_at(a, &[f]) == str_at(b, &[f]))
}

/// Go's `%#v` of a `core.ObjectReference`, as upstream shows a changed one.
fn go_object_reference(r: &Value) -> String {
    let fields: Vec<String> = OBJECT_REFERENCE_FIELDS
        .iter()
        .map(|(json, go)| format!("{go}:{:?}", str_at(r, &[json])))
        .collect();
    format!("core.ObjectReference{{{}}}", fields.join(", "))
}

/// Series compare as typed values: absent and `null` are the same nil
/// pointer; a count or time that is absent is zero.
fn series_eq(a: &Value, b: &Value) -> bool {
    match (a.is_object(), b.is_object()) {
        (true, true) => {
            a["count"].as_i64().unwrap_or(0) == b["count"].as_i64().unwrap_or(0)
                && time_at(&a["lastObservedTime"]) == time_at(&b["lastObservedTime"])
        }
        (x, y) => x == y,
    }
}

/// A timestamp field; `None` is Go's zero time (absent, `null` or empty).
fn time_at(v: &Value) -> Option<OffsetDateTime> {
    v.as_str().and_then(meta::parse_time)
}

/// Whether a timestamp is unset. A value that does not parse was refused by
/// decoding already; here it counts as set.
fn is_zero_time(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) if s.is_empty() => true,
        Value::String(s) => meta::parse_time(s).is_some_and(|t| t == go_zero_time()),
        _ => false,
    }
}

/// Go's zero `time.Time`: 0001-01-01 00:00:00 UTC.
fn go_zero_time() -> OffsetDateTime {
    // Year 1 is inside `time`'s range; the fallback is never taken.
    time::Date::from_calendar_date(1, time::Month::January, 1)
        .map(|d| d.midnight().assume_utc())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn truncate_micros(t: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    t.and_then(|t| t.replace_nanosecond(t.nanosecond() / 1000 * 1000).ok())
}

/// Go's `time.Time.String()` in UTC (`2006-01-02 15:04:05.999999999 -0700
/// MST`), how upstream shows a changed `metav1.Time` or `MicroTime`; an unset
/// one is Go's zero time.
fn go_time(t: Option<OffsetDateTime>) -> String {
    let t = t
        .unwrap_or_else(go_zero_time)
        .to_offset(time::UtcOffset::UTC);
    let mut s = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.nanosecond() != 0 {
        let frac = format!("{:09}", t.nanosecond());
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

#[cfg(test)]
mod tests;
