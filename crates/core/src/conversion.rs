//! Conversion between the served versions of a resource and the one version
//! its objects are stored in, as kube-apiserver's scheme converts through the
//! internal type.
//!
//! Two resources are served in more than one version over one storage in
//! v1.33: HorizontalPodAutoscalers (`autoscaling/v1` and `autoscaling/v2`,
//! stored as `autoscaling/v2`) and Events (core `v1` and `events.k8s.io/v1`,
//! stored as core `v1`). Each pair converts directly, with upstream's rules
//! (`pkg/apis/autoscaling/v1/conversion.go`, `pkg/apis/events/v1/conversion.go`).
//!
//! Owns: the conversions as pure functions over JSON objects, and the field
//! label mapping of `events.k8s.io` field selectors. Does not own: which
//! version a resource is stored in (the [`registry`](crate::registry) says),
//! or when the API server converts.

use serde_json::Value;

use crate::registry::ResourceInfo;

mod autoscaling;
mod events;

pub use autoscaling::{
    BEHAVIOR_ANNOTATION, CONDITIONS_ANNOTATION, CURRENT_METRICS_ANNOTATION,
    DEFAULT_CPU_UTILIZATION, METRICS_ANNOTATION, drop_round_trip_annotations,
};

/// Why an object in a served version cannot be converted to storage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A round-trip annotation of an `autoscaling/v1` object does not hold
    /// what upstream writes there.
    #[error("invalid value of annotation {annotation}: {message}")]
    Annotation {
        annotation: &'static str,
        message: String,
    },
    /// No conversion is known between the two versions of the kind.
    #[error("no conversion from {from} to {to} for {kind}")]
    Unsupported {
        kind: &'static str,
        from: String,
        to: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether objects of `info` are stored in another version than `info`'s own,
/// so that every read and write of `info` converts.
pub fn is_converted(info: &ResourceInfo) -> bool {
    info.storage_version()
        .is_some_and(|(g, v)| (g, v) != (info.group, info.version))
}

/// A stored object (in the storage version) as `info`'s version. Reading never
/// fails: whatever the storage version holds has a place in the other version
/// (annotations where there is no field).
pub fn from_storage(info: &ResourceInfo, obj: Value) -> Value {
    match (info.group, info.version, info.kind) {
        ("autoscaling", "v1", "HorizontalPodAutoscaler") => autoscaling::v2_to_v1(obj),
        ("events.k8s.io", "v1", "Event") => events::core_to_events(obj),
        _ => obj,
    }
}

/// An object in `info`'s version as the storage version.
pub fn to_storage(info: &ResourceInfo, obj: Value) -> Result<Value> {
    match (info.group, info.version, info.kind) {
        ("autoscaling", "v1", "HorizontalPodAutoscaler") => autoscaling::v1_to_v2(obj),
        ("events.k8s.io", "v1", "Event") => Ok(events::events_to_core(obj)),
        _ if !is_converted(info) => Ok(obj),
        _ => {
            let (g, v) = info.storage_version().unwrap_or(("", ""));
            Err(Error::Unsupported {
                kind: info.kind,
                from: crate::meta::api_version(info.group, info.version),
                to: crate::meta::api_version(g, v),
            })
        }
    }
}

/// The field labels a field selector on `info` may name, each with the label
/// of the storage version it means, when they differ from the storage
/// version's own labels (`events.k8s.io` events: `regarding.name` is
/// `involvedObject.name`).
pub fn field_labels(info: &ResourceInfo) -> Option<&'static [(&'static str, &'static str)]> {
    match (info.group, info.version, info.kind) {
        ("events.k8s.io", "v1", "Event") => Some(events::FIELD_LABELS),
        _ => None,
    }
}

/// Encodes as Go's `encoding/json` does, which is how upstream writes the
/// round-trip annotations: compact, with `<`, `>`, `&`, U+2028 and U+2029
/// escaped. Those characters can only occur inside strings of compact JSON,
/// so replacing them everywhere is exact.
fn go_json(v: &Value) -> String {
    let s = v.to_string();
    if !s.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry;
    use serde_json::json;

    #[test]
    fn only_shared_storage_versions_convert() {
        let converted: Vec<_> = registry::resources()
            .iter()
            .filter(|r| is_converted(r))
            .map(|r| r.api_version() + " " + r.resource)
            .collect();
        assert_eq!(
            converted,
            [
                "events.k8s.io/v1 events",
                "autoscaling/v1 horizontalpodautoscalers"
            ]
        );
        // Every converted resource has a conversion both ways.
        for r in registry::resources().iter().filter(|r| is_converted(r)) {
            let obj = json!({"metadata": {"name": "x"}});
            assert!(to_storage(r, obj).is_ok(), "{}", r.resource);
        }
    }

    #[test]
    fn unconverted_resources_pass_through() {
        let pods = registry::lookup("", "v1", "pods").expect("pods");
        let obj = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"x": 1}});
        assert_eq!(from_storage(pods, obj.clone()), obj);
        assert_eq!(to_storage(pods, obj.clone()).ok(), Some(obj));
        assert!(field_labels(pods).is_none());
    }

    #[test]
    fn go_json_escapes_html_characters() {
        let v = json!([{"message": "a<b>&c\u{2028}"}]);
        assert_eq!(
            go_json(&v),
            r#"[{"message":"a\u003cb\u003e\u0026c\u2028"}]"#
        );
        assert_eq!(go_json(&json!({"a": 1})), r#"{"a":1}"#);
    }
}
