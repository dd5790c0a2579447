//! Core `v1` Event <-> `events.k8s.io/v1` Event: the same object under other
//! field names (`pkg/apis/events/v1/conversion.go`: `involvedObject` is
//! `regarding`, `message` is `note`, `source` is `deprecatedSource`, the
//! timestamps and count are `deprecated*`, `reportingComponent` is
//! `reportingController`).

use serde_json::{Map, Value};

/// Core field name and `events.k8s.io/v1` field name, in the order
/// `events.k8s.io/v1` declares its fields.
const EVENTS_ORDER: [(&str, &str); 14] = [
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
    ("action", "action"),
    ("reason", "reason"),
    ("involvedObject", "regarding"),
    ("related", "related"),
    ("message", "note"),
    ("type", "type"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// The same pairs in the order core `v1` declares its fields.
const CORE_ORDER: [(&str, &str); 14] = [
    ("involvedObject", "regarding"),
    ("reason", "reason"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("action", "action"),
    ("related", "related"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
];

/// `events.k8s.io/v1` field labels and the core labels they select by
/// (upstream's `AddFieldLabelConversionsForEvent`). `source` is kept although
/// the new API has no such field, as upstream keeps it.
pub(super) const FIELD_LABELS: &[(&str, &str)] = &[
    ("metadata.name", "metadata.name"),
    ("metadata.namespace", "metadata.namespace"),
    ("reason", "reason"),
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    (
        "regarding.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reportingController", "reportingComponent"),
    ("source", "source"),
    ("type", "type"),
];

/// A stored core Event as `events.k8s.io/v1`.
pub(super) fn core_to_events(obj: Value) -> Value {
    rename(obj, "events.k8s.io/v1", &EVENTS_ORDER, |(core, new)| {
        (core, new)
    })
}

/// An `events.k8s.io/v1` Event as core `v1`.
pub(super) fn events_to_core(obj: Value) -> Value {
    let mut out = rename(obj, "v1", &CORE_ORDER, |(core, new)| (new, core));
    // Core's involvedObject is a required struct: an event about nothing still
    // carries an empty reference, as Go's zero value encodes.
    if let Some(m) = out.as_object_mut()
        && !m.contains_key("involvedObject")
    {
        m.insert("involvedObject".into(), Value::Object(Map::new()));
    }
    out
}

/// Moves each field `from` to `to` for every pair (as `pick` orients it), in
/// the pairs' order after `metadata`; fields of neither kind are dropped, as a
/// typed conversion drops them.
fn rename(
    obj: Value,
    api_version: &str,
    pairs: &[(&'static str, &'static str)],
    pick: impl Fn((&'static str, &'static str)) -> (&'static str, &'static str),
) -> Value {
    let Value::Object(mut src) = obj else {
        return obj;
    };
    let mut out = Map::new();
    if let Some(kind) = src.remove("kind") {
        out.insert("kind".into(), kind);
    }
    if src.remove("apiVersion").is_some() {
        out.insert("apiVersion".into(), Value::String(api_version.into()));
    }
    if let Some(meta) = src.remove("metadata") {
        out.insert("metadata".into(), meta);
    }
    for pair in pairs {
        let (from, to) = pick(*pair);
        if let Some(v) = src.remove(from) {
            out.insert(to.into(), v);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn core_event() -> Value {
        json!({
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {"name": "web.1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web",
                "uid": "u1", "apiVersion": "v1", "resourceVersion": "5", "fieldPath": "spec.containers{c}"},
            "reason": "Started",
            "message": "Started container c",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2025-01-01T00:00:00Z",
            "lastTimestamp": "2025-01-01T00:01:00Z",
            "count": 3,
            "type": "Normal",
            "eventTime": "2025-01-01T00:00:00.000001Z",
            "series": {"count": 2, "lastObservedTime": "2025-01-01T00:01:00.000002Z"},
            "action": "Starting",
            "related": {"kind": "Node", "name": "node-1"},
            "reportingComponent": "kubelet",
            "reportingInstance": "node-1",
        })
    }

    #[test]
    fn core_event_reads_as_events_k8s_io() {
        let e = core_to_events(core_event());
        assert_eq!(
            e,
            json!({
                "kind": "Event",
                "apiVersion": "events.k8s.io/v1",
                "metadata": {"name": "web.1", "namespace": "default"},
                "eventTime": "2025-01-01T00:00:00.000001Z",
                "series": {"count": 2, "lastObservedTime": "2025-01-01T00:01:00.000002Z"},
                "reportingController": "kubelet",
                "reportingInstance": "node-1",
                "action": "Starting",
                "reason": "Started",
                "regarding": {"kind": "Pod", "namespace": "default", "name": "web",
                    "uid": "u1", "apiVersion": "v1", "resourceVersion": "5", "fieldPath": "spec.containers{c}"},
                "related": {"kind": "Node", "name": "node-1"},
                "note": "Started container c",
                "type": "Normal",
                "deprecatedSource": {"component": "kubelet", "host": "node-1"},
                "deprecatedFirstTimestamp": "2025-01-01T00:00:00Z",
                "deprecatedLastTimestamp": "2025-01-01T00:01:00Z",
                "deprecatedCount": 3,
            })
        );
        // Field order is the declared order of the new type.
        let keys: Vec<_> = e
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(keys[..4], ["kind", "apiVersion", "metadata", "eventTime"]);
    }

    #[test]
    fn round_trips_both_ways() {
        let cases = [
            core_event(),
            json!({"kind": "Event", "apiVersion": "v1", "metadata": {"name": "a"},
                "involvedObject": {}, "message": "m"}),
            json!({"kind": "Event", "apiVersion": "v1", "metadata": {"name": "b"},
                "involvedObject": {"kind": "Node", "name": "n"}, "reportingComponent": "c",
                "eventTime": "2025-01-01T00:00:00.000000Z"}),
        ];
        for core in cases {
            let there = core_to_events(core.clone());
            assert_eq!(there["apiVersion"], "events.k8s.io/v1");
            assert_eq!(events_to_core(there), core);
        }
        let new = json!({"kind": "Event", "apiVersion": "events.k8s.io/v1",
            "metadata": {"name": "c"}, "eventTime": "2025-01-01T00:00:00.000000Z",
            "reportingController": "ctl", "reportingInstance": "ctl-1", "action": "Scale",
            "reason": "Scaled", "regarding": {"kind": "Deployment", "name": "d"},
            "note": "scaled to 3", "type": "Normal"});
        assert_eq!(core_to_events(events_to_core(new.clone())), new);
    }

    #[test]
    fn event_without_regarding_gets_an_empty_involved_object() {
        let core = events_to_core(json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "x"}, "note": "hi"}));
        assert_eq!(core["involvedObject"], json!({}));
        assert_eq!(core["message"], "hi");
        assert_eq!(core["apiVersion"], "v1");
    }

    #[test]
    fn every_new_field_label_maps_to_a_core_label() {
        let core_labels = [
            "metadata.name",
            "metadata.namespace",
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
        ];
        for (new, core) in FIELD_LABELS {
            assert!(core_labels.contains(core), "{new} -> {core}");
        }
        assert!(
            !FIELD_LABELS
                .iter()
                .any(|(n, _)| n.starts_with("involvedObject"))
        );
    }
}
