//! `metav1.Status` errors with kube-apiserver's codes, reasons and messages.
//!
//! One constructor per reason (as `k8s.io/apimachinery/pkg/api/errors`), used by
//! every handler so that a client sees the same Status it would get upstream.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A group and resource, as in error messages (`deployments.apps`, `pods`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupResource<'a> {
    pub group: &'a str,
    pub resource: &'a str,
}

impl std::fmt::Display for GroupResource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            f.write_str(self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// One reason behind an error, with the field it concerns (`details.causes[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    #[serde(rename = "reason", skip_serializing_if = "String::is_empty", default)]
    pub reason: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub field: String,
}

/// A field error of validation, as `field.Error` upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The cause type: `FieldValueInvalid`, `FieldValueRequired`, ...
    pub kind: FieldErrorKind,
    /// The field path, `metadata.name`, `spec.containers[0].image`.
    pub field: String,
    /// The offending value rendered as upstream does (quoted string, number),
    /// absent for kinds that do not show one.
    pub value: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    Invalid,
    Required,
    Forbidden,
    Duplicate,
    NotFound,
    NotSupported,
    TooLong,
    TooMany,
}

impl FieldErrorKind {
    fn cause_type(self) -> &'static str {
        match self {
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::NotFound => "FieldValueNotFound",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
        }
    }

    fn title(self) -> &'static str {
        match self {
            FieldErrorKind::Invalid => "Invalid value",
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::NotFound => "Not found",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::TooMany => "Too many",
        }
    }
}

impl FieldError {
    pub fn invalid(field: impl Into<String>, value: &Value, detail: impl Into<String>) -> Self {
        Self {
            kind: FieldErrorKind::Invalid,
            field: field.into(),
            value: Some(render_value(value)),
            detail: detail.into(),
        }
    }

    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind: FieldErrorKind::Required,
            field: field.into(),
            value: None,
            detail: detail.into(),
        }
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind: FieldErrorKind::Forbidden,
            field: field.into(),
            value: None,
            detail: detail.into(),
        }
    }

    pub fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        Self {
            kind: FieldErrorKind::Duplicate,
            field: field.into(),
            value: Some(render_value(value)),
            detail: String::new(),
        }
    }

    /// `field.NotFound`: a reference to something that does not exist.
    pub fn not_found(field: impl Into<String>, value: &Value) -> Self {
        Self {
            kind: FieldErrorKind::NotFound,
            field: field.into(),
            value: Some(render_value(value)),
            detail: String::new(),
        }
    }

    /// `supported` is rendered as upstream: `supported values: "A", "B"`.
    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Self {
            kind: FieldErrorKind::NotSupported,
            field: field.into(),
            value: Some(render_value(value)),
            detail: if list.is_empty() {
                String::new()
            } else {
                format!("supported values: {}", list.join(", "))
            },
        }
    }

    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self {
            kind: FieldErrorKind::TooLong,
            field: field.into(),
            value: None,
            detail: format!("may not be more than {max} bytes"),
        }
    }

    /// `field.TooMany`: a list longer than `max` (`actual` items).
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        let items = if max == 1 { "item" } else { "items" };
        Self {
            kind: FieldErrorKind::TooMany,
            field: field.into(),
            value: Some(actual.to_string()),
            detail: format!("must have at most {max} {items}"),
        }
    }

    /// The message without the field, as in a cause (`Invalid value: "X": detail`).
    pub fn body(&self) -> String {
        let mut s = self.kind.title().to_string();
        if let Some(v) = &self.value {
            s.push_str(": ");
            s.push_str(v);
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Renders a value as `field.Error` does: strings quoted, others as JSON.
fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "\"null\"".to_string(),
        other => other.to_string(),
    }
}

/// A `metav1.Status` failure: what every API error becomes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// Boxed: errors travel in every `Result`, and most have small details.
    pub details: Option<Box<Value>>,
    /// Seconds a client should wait before retrying (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.reason, self.code, self.message)
    }
}

impl std::error::Error for Status {}

pub type Result<T, E = Status> = std::result::Result<T, E>;

fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = serde_json::Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    if !kind.is_empty() {
        d.insert("kind".into(), json!(kind));
    }
    Value::Object(d)
}

impl Status {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// `pods "x" not found`
    pub fn not_found(gr: GroupResource<'_>, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{gr} {name:?} not found")).with_details(details(
            name,
            gr.group,
            gr.resource,
        ))
    }

    /// A path that names no resource: upstream answers `the server could not find
    /// the requested resource`.
    pub fn not_found_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    /// `pods "x" already exists`
    pub fn already_exists(gr: GroupResource<'_>, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{gr} {name:?} already exists"),
        )
        .with_details(details(name, gr.group, gr.resource))
    }

    /// `Operation cannot be fulfilled on pods "x": <why>`
    pub fn conflict(gr: GroupResource<'_>, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {gr} {name:?}: {why}"),
        )
        .with_details(details(name, gr.group, gr.resource))
    }

    /// The optimistic-concurrency conflict of an update with a stale resourceVersion.
    pub fn conflict_modified(gr: GroupResource<'_>, name: &str) -> Self {
        Self::conflict(
            gr,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `ConfigMap "x" is invalid: <errors>`; `qualified_kind` is `Kind` or `Kind.group`.
    ///
    /// The message lists each distinct error once (`ErrorList.ToAggregate`
    /// drops repeats); the causes keep them all, as upstream's do.
    pub fn invalid(qualified_kind: &str, group: &str, name: &str, errors: &[FieldError]) -> Self {
        let mut messages: Vec<String> = Vec::with_capacity(errors.len());
        for e in errors {
            let m = e.to_string();
            if !messages.contains(&m) {
                messages.push(m);
            }
        }
        let joined = match messages.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let kind = qualified_kind.split('.').next().unwrap_or(qualified_kind);
        let causes: Vec<Cause> = errors
            .iter()
            .map(|e| Cause {
                reason: e.kind.cause_type().to_string(),
                message: e.body(),
                field: e.field.clone(),
            })
            .collect();
        let mut d = details(name, group, kind);
        if let Value::Object(m) = &mut d {
            m.insert(
                "causes".into(),
                serde_json::to_value(causes).unwrap_or(Value::Null),
            );
        }
        Self::new(
            422,
            "Invalid",
            format!("{qualified_kind} {name:?} is invalid: {joined}"),
        )
        .with_details(d)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// `pods "x" is forbidden: <why>` (without a name: `pods is forbidden: <why>`).
    pub fn forbidden(gr: GroupResource<'_>, name: &str, why: &str) -> Self {
        let message = if name.is_empty() {
            format!("{gr} is forbidden: {why}")
        } else {
            format!("{gr} {name:?} is forbidden: {why}")
        };
        Self::new(403, "Forbidden", message).with_details(details(name, gr.group, gr.resource))
    }

    /// `<verb> is not supported on resources of kind "<resource>"`
    pub fn method_not_supported(gr: GroupResource<'_>, action: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!(
                "{action} is not supported on resources of kind {:?}",
                gr.to_string()
            ),
        )
        .with_details(details("", gr.group, gr.resource))
    }

    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf, application/cbor (got {content_type})"
            ),
        )
    }

    /// `too old resource version: 5 (120)`, reason `Expired` with code 410.
    pub fn expired(requested: i64, oldest: i64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// 410 Gone with a message of the caller's choosing (continue tokens).
    pub fn gone_expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn request_entity_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut s = Self::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        );
        s.retry_after = Some(retry_after);
        s.details = Some(Box::new(json!({"retryAfterSeconds": retry_after})));
        s
    }

    /// 429 with the caller's message, as upstream's `NewTooManyRequests`
    /// (the eviction subresource's "would violate the disruption budget").
    /// A `retry_after` of 0 sends no `Retry-After` header, as upstream.
    pub fn too_many_requests_message(message: impl Into<String>, retry_after: u64) -> Self {
        let mut s = Self::new(429, "TooManyRequests", message);
        if retry_after > 0 {
            s.retry_after = Some(retry_after);
            s.details = Some(Box::new(json!({"retryAfterSeconds": retry_after})));
        } else {
            s.details = Some(Box::new(json!({})));
        }
        s
    }

    /// A failure with a code and message but no reason (upstream's
    /// `StatusReasonUnknown`), as a REST handler that returns a failed
    /// `metav1.Status` object instead of an error.
    pub fn failure(code: u16, message: impl Into<String>) -> Self {
        Self::new(code, "", message)
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
        .with_details(json!({"causes": [{"message": message.to_string()}]}))
    }

    /// 422 with reason `Invalid` and a bare message, as upstream's
    /// `NewGenericServerResponse(422, ...)` for patches that cannot apply.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(504, "Timeout", message)
    }

    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    /// Adds a cause to `details.causes`.
    pub fn with_cause(mut self, cause: Cause) -> Self {
        let d = self.details.get_or_insert_with(|| Box::new(json!({})));
        if let Value::Object(m) = d.as_mut() {
            let causes = m.entry("causes").or_insert_with(|| json!([]));
            if let Value::Array(a) = causes {
                a.push(serde_json::to_value(cause).unwrap_or(Value::Null));
            }
        }
        self
    }

    /// The wire form: a `v1.Status` object.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), json!("Status"));
        m.insert("apiVersion".into(), json!("v1"));
        m.insert("metadata".into(), json!({}));
        m.insert("status".into(), json!("Failure"));
        m.insert("message".into(), json!(self.message));
        // An empty reason (upstream's StatusReasonUnknown) is left out, as Go's omitempty does.
        if !self.reason.is_empty() {
            m.insert("reason".into(), json!(self.reason));
        }
        if let Some(d) = &self.details {
            m.insert("details".into(), (**d).clone());
        }
        m.insert("code".into(), json!(self.code));
        Value::Object(m)
    }

    /// A `Success` Status, as delete of some kinds returns.
    pub fn success_json(details: Value) -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_group() {
        let s = Status::not_found(
            GroupResource {
                group: "apps",
                resource: "deployments",
            },
            "web",
        );
        assert_eq!(s.code, 404);
        assert_eq!(s.message, r#"deployments.apps "web" not found"#);
        assert_eq!(
            s.to_json()["details"],
            json!({"name": "web", "group": "apps", "kind": "deployments"})
        );
    }

    #[test]
    fn invalid_joins_many_errors_in_brackets() {
        let errs = vec![
            FieldError::required("metadata.name", "name or generateName is required"),
            FieldError::invalid("data", &json!("x"), "bad"),
        ];
        let s = Status::invalid("ConfigMap", "", "", &errs);
        assert_eq!(
            s.message,
            r#"ConfigMap "" is invalid: [metadata.name: Required value: name or generateName is required, data: Invalid value: "x": bad]"#
        );
        assert_eq!(
            s.to_json()["details"]["causes"][1]["reason"],
            "FieldValueInvalid"
        );
    }

    #[test]
    fn invalid_message_lists_a_repeated_error_once() {
        let repeated = FieldError::invalid("reason", &json!("B"), "field is immutable");
        let errs = vec![
            repeated.clone(),
            FieldError::invalid("type", &json!("Normal"), "field is immutable"),
            repeated,
        ];
        let s = Status::invalid("Event.events.k8s.io", "events.k8s.io", "e", &errs);
        assert_eq!(
            s.message,
            r#"Event.events.k8s.io "e" is invalid: [reason: Invalid value: "B": field is immutable, type: Invalid value: "Normal": field is immutable]"#
        );
        let causes = &s.to_json()["details"]["causes"];
        assert_eq!(causes.as_array().map(Vec::len), Some(3));
    }
}
