//! The list-item form of a stored object, built from the stored bytes without
//! decoding the object into a `serde_json::Value` and encoding it again.
//!
//! The store holds objects as compact JSON with `kind` and `apiVersion` and
//! without `metadata.resourceVersion`; the cache serves them without the
//! first two (a list item, prefixed again per response) and with the
//! revision as `resourceVersion`. Every write of every object passes through
//! here, so the object is only scanned: its members are copied as they are,
//! and only `metadata` (name, namespace, labels) and the scalars that field
//! selectors read are decoded. This also records where `metadata` and
//! `metadata.managedFields` sit in the result, so that a response without
//! the latter, or with the former only, is slices of the same bytes.
//!
//! The result is the object the `Value` round trip gave, compact, with the
//! members in stored order (the round trip's `Map::remove` of kind and
//! apiVersion moved the last members to the front): a `resourceVersion` that
//! was there keeps its place, one that was not comes last in `metadata`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::Labels;
use crate::strategy::Strategy;

/// A byte range of an encoded item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Option<Span> {
        Some(Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }
}

/// What the cache keeps of one stored object.
#[derive(Debug)]
pub(super) struct Item {
    /// `{"metadata":{..,"resourceVersion":".."},..}` without kind and apiVersion.
    pub bytes: Vec<u8>,
    pub name: String,
    pub namespace: String,
    pub labels: Labels,
    /// `metadata.managedFields` with the one comma that separates it from a
    /// neighbour: the bytes before and after join into valid JSON.
    pub managed_fields: Option<Span>,
    /// The value of `metadata`.
    pub metadata: Span,
    pub fields: Vec<(&'static str, String)>,
}

/// Builds the list item of the stored (or already cached) object `value` at
/// `revision`. `None` when `value` is not a JSON object with an object as
/// `metadata`.
pub(super) fn build(strategy: &dyn Strategy, value: &[u8], revision: i64) -> Option<Item> {
    let top: Members = serde_json::from_slice(value).ok()?;
    let meta_raw = top.get("metadata")?;
    let meta: Members = serde_json::from_str(meta_raw.get()).ok()?;
    if top.has_duplicates() || meta.has_duplicates() {
        // Never written by skiff. A map keeps one value per key (the last, in
        // the first one's place), so let `Value` settle them, then scan its
        // encoding, which has none.
        let mut obj: Value = serde_json::from_slice(value).ok()?;
        if let Some(m) = obj.as_object_mut() {
            m.remove("kind");
            m.remove("apiVersion");
        }
        return build(strategy, &serde_json::to_vec(&obj).ok()?, revision);
    }

    let mut bytes = Vec::with_capacity(value.len() + 24);
    let mut managed_fields = None;
    let mut metadata = None;
    bytes.push(b'{');
    let mut first = true;
    for (key, raw) in &top.0 {
        if key == "kind" || key == "apiVersion" {
            continue;
        }
        if !first {
            bytes.push(b',');
        }
        first = false;
        write_key(&mut bytes, key);
        if key == "metadata" {
            let start = bytes.len();
            managed_fields = write_metadata(&mut bytes, &meta, revision);
            metadata = Span::new(start, bytes.len());
        } else {
            bytes.extend_from_slice(raw.get().as_bytes());
        }
    }
    bytes.push(b'}');

    let text = |key: &str| {
        meta.get(key)
            .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
            .unwrap_or_default()
    };
    let labels = meta
        .get("labels")
        .and_then(|raw| serde_json::from_str::<LabelPairs>(raw.get()).ok())
        .map(|pairs| pairs.0.into_iter().collect())
        .unwrap_or_default();
    let mut fields = Vec::new();
    if !strategy.field_labels().is_empty() {
        strategy.field_attrs(&skeleton(&top), &mut fields);
        fields.shrink_to_fit();
    }
    Some(Item {
        bytes,
        name: text("name"),
        namespace: text("namespace"),
        labels,
        managed_fields,
        metadata: metadata?,
        fields,
    })
}

/// Writes `metadata` with `resourceVersion` set to `revision`; returns where
/// `managedFields` went.
fn write_metadata(out: &mut Vec<u8>, meta: &Members, revision: i64) -> Option<Span> {
    out.push(b'{');
    // (member start with its leading comma, key start, value end, index)
    let mut managed: Option<(usize, usize, usize, usize)> = None;
    let mut written = 0usize;
    let mut has_revision = false;
    for (key, raw) in &meta.0 {
        let start = out.len();
        if written > 0 {
            out.push(b',');
        }
        let key_start = out.len();
        write_key(out, key);
        if key == "resourceVersion" {
            write_revision(out, revision);
            has_revision = true;
        } else {
            out.extend_from_slice(raw.get().as_bytes());
        }
        if key == "managedFields" {
            managed = Some((start, key_start, out.len(), written));
        }
        written += 1;
    }
    if !has_revision {
        if written > 0 {
            out.push(b',');
        }
        write_key(out, "resourceVersion");
        write_revision(out, revision);
    }
    out.push(b'}');
    let (start, key_start, end, index) = managed?;
    // `resourceVersion` is always written, so `managedFields` has a neighbour.
    let (start, end) = if index > 0 {
        // `,"managedFields":[..]`: the comma before it goes with it.
        (start, end)
    } else {
        // First: the comma of the member after it goes with it.
        (key_start, end + 1)
    };
    Span::new(start, end)
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    // Encoding a `str` into a `Vec` cannot fail; keys are escaped as the
    // encoder of the `Value` round trip escaped them.
    let _ = serde_json::to_writer(&mut *out, key);
    out.push(b':');
}

fn write_revision(out: &mut Vec<u8>, revision: i64) {
    out.push(b'"');
    out.extend_from_slice(revision.to_string().as_bytes());
    out.push(b'"');
}

/// The object's scalars at depth one and two outside `metadata`: all that
/// field selectors read (`spec.nodeName`, `status.phase`, `type`,
/// `involvedObject.name`, ...), without decoding containers, conditions and
/// the like. See [`Strategy::field_attrs`].
fn skeleton(top: &Members) -> Value {
    let mut map = serde_json::Map::new();
    for (key, raw) in &top.0 {
        if matches!(key.as_ref(), "metadata" | "kind" | "apiVersion") {
            continue;
        }
        if let Ok(Shallow(Some(v))) = serde_json::from_str::<Shallow>(raw.get()) {
            map.insert(key.to_string(), v);
        }
    }
    Value::Object(map)
}

/// The members of a JSON object, in order, their values still encoded.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Members<'a> {
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    fn has_duplicates(&self) -> bool {
        let keys = &self.0;
        keys.iter()
            .enumerate()
            .any(|(i, (k, _))| keys[i + 1..].iter().any(|(other, _)| other == k))
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Key(key)) = map.next_key()? {
                    members.push((key, map.next_value()?));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

/// An object key, borrowed from the input unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// `metadata.labels` as pairs; a value that is not a string counts as empty,
/// as the `Value` lookup it replaces read it.
struct LabelPairs(Vec<(String, String)>);

impl<'de> Deserialize<'de> for LabelPairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = LabelPairs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of labels")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LabelPairs, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(key) = map.next_key::<String>()? {
                    let Shallow(value) = map.next_value::<Scalar>()?.0;
                    let value = match value {
                        Some(Value::String(s)) => s,
                        _ => String::new(),
                    };
                    pairs.push((key, value));
                }
                Ok(LabelPairs(pairs))
            }
        }
        d.deserialize_map(PairsVisitor)
    }
}

/// A JSON value reduced to its scalars down to one level of nesting: a
/// scalar as it is, an object with its scalar members only, `None` for an
/// array (consumed without decoding).
struct Shallow(Option<Value>);

/// A scalar, or `None` for an object or array (consumed without decoding).
struct Scalar(Shallow);

/// Visits one value; `nested` says whether an object keeps its scalars.
struct ShallowVisitor {
    nested: bool,
}

impl<'de> Visitor<'de> for ShallowVisitor {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if !self.nested {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(None);
        }
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if let Scalar(Shallow(Some(v))) = map.next_value()? {
                out.insert(key, v);
            }
        }
        Ok(Some(Value::Object(out)))
    }
}

impl<'de> Deserialize<'de> for Shallow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShallowVisitor { nested: true })
            .map(Shallow)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShallowVisitor { nested: false })
            .map(|v| Scalar(Shallow(v)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn strategy_of(group: &str, version: &str, resource: &str) -> &'static dyn Strategy {
        let info =
            skiff_core::registry::lookup(group, version, resource).expect("a built-in resource");
        crate::strategy::for_resource(info)
    }

    fn pods() -> &'static dyn Strategy {
        strategy_of("", "v1", "pods")
    }

    /// What the cache did before this module: decode into a `Value`, drop
    /// kind and apiVersion, set `resourceVersion`, encode. (That moved the
    /// last members into kind's and apiVersion's places: `Map::remove`
    /// swaps; the object is the same.)
    fn round_trip(strategy: &dyn Strategy, value: &[u8], revision: i64) -> (Vec<u8>, Item) {
        let mut obj: Value = serde_json::from_slice(value).expect("valid JSON");
        let map = obj.as_object_mut().expect("an object");
        map.remove("kind");
        map.remove("apiVersion");
        let meta = map
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .expect("metadata");
        meta.insert("resourceVersion".into(), json!(revision.to_string()));
        let s = |k: &str| {
            meta.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (name, namespace) = (s("name"), s("namespace"));
        let labels = meta
            .get("labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let mut fields = Vec::new();
        strategy.field_attrs(&obj, &mut fields);
        let bytes = serde_json::to_vec(&obj).expect("encodes");
        let item = Item {
            bytes: bytes.clone(),
            name,
            namespace,
            labels,
            managed_fields: None,
            metadata: Span { start: 0, end: 0 },
            fields,
        };
        (bytes, item)
    }

    fn stored(obj: Value) -> Vec<u8> {
        serde_json::to_vec(&obj).expect("a JSON literal encodes")
    }

    fn managed_fields() -> Value {
        json!([{
            "manager": "kubectl",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-11-22T10:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {}}
        }])
    }

    fn pod() -> Value {
        json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": "web-1",
                "namespace": "prod",
                "uid": "0b8e",
                "labels": {"app": "web", "tier": "front"},
                "annotations": {"note": "\"managedFields\":[1],", "managedFields": "x"},
                "managedFields": managed_fields(),
                "creationTimestamp": "2026-11-22T10:00:00Z"
            },
            "spec": {
                "nodeName": "node-7",
                "schedulerName": "default-scheduler",
                "restartPolicy": "Always",
                "hostNetwork": true,
                "containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}]}],
                "managedFields": [{"kept": "a spec field of this name is no metadata"}]
            },
            "status": {
                "phase": "Running",
                "podIP": "10.42.0.7",
                "conditions": [{"type": "Ready", "status": "True"}]
            }
        })
    }

    /// The trimmed item decodes to the object without `metadata.managedFields`.
    fn assert_trims(item: &Item) {
        let full: Value = serde_json::from_slice(&item.bytes).expect("the item is JSON");
        let cut = item.managed_fields.expect("managedFields were found");
        let mut trimmed = item.bytes[..cut.start as usize].to_vec();
        trimmed.extend_from_slice(&item.bytes[cut.end as usize..]);
        let trimmed: Value = serde_json::from_slice(&trimmed).unwrap_or_else(|e| {
            panic!(
                "the trimmed item is not JSON ({e}): {}",
                String::from_utf8_lossy(&trimmed)
            )
        });
        let mut expected = full.clone();
        assert!(
            skiff_core::meta::remove_meta(&mut expected, "managedFields").is_some(),
            "the full item has managedFields"
        );
        assert_eq!(trimmed, expected);

        // `metadata` alone, with and without managedFields.
        let (start, end) = (item.metadata.start as usize, item.metadata.end as usize);
        let meta: Value =
            serde_json::from_slice(&item.bytes[start..end]).expect("metadata is JSON");
        assert_eq!(meta, full["metadata"]);
        let mut meta = item.bytes[start..cut.start as usize].to_vec();
        meta.extend_from_slice(&item.bytes[cut.end as usize..end]);
        let meta: Value = serde_json::from_slice(&meta).expect("trimmed metadata is JSON");
        assert_eq!(meta, expected["metadata"]);
    }

    #[test]
    fn items_are_the_objects_of_the_value_round_trip_in_stored_order() {
        let cm = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "default", "labels": {"weird": 3}},
            "data": {"k\"ey": "caf\u{e9} \u{1F600} \\n", "tab": "a\tb"},
            "binaryData": {}
        });
        let with_rv = json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": "3", "name": "ns"},
            "status": {"phase": "Active"}
        });
        let empty_meta = json!({"kind": "ConfigMap", "metadata": {}, "data": {"a": "b"}});
        let cases = [
            (pods(), pod()),
            (strategy_of("", "v1", "configmaps"), cm),
            (strategy_of("", "v1", "namespaces"), with_rv),
            (strategy_of("", "v1", "configmaps"), empty_meta),
        ];
        for (strategy, obj) in cases {
            let value = stored(obj);
            let item = build(strategy, &value, 42).expect("an object is cached");
            let (bytes, reference) = round_trip(strategy, &value, 42);
            let parsed: Value = serde_json::from_slice(&item.bytes).expect("the item is JSON");
            let expected: Value = serde_json::from_slice(&bytes).expect("JSON");
            assert_eq!(parsed, expected);
            // Compact, members in stored order, resourceVersion last if new.
            let mut stored_order: Value = serde_json::from_slice(&value).expect("JSON");
            if let Some(m) = stored_order.as_object_mut() {
                m.shift_remove("kind");
                m.shift_remove("apiVersion");
            }
            skiff_core::meta::set_meta(&mut stored_order, "resourceVersion", json!("42"));
            assert_eq!(
                String::from_utf8_lossy(&item.bytes),
                stored_order.to_string()
            );
            assert_eq!(
                (&item.name, &item.namespace, &item.labels, &item.fields),
                (
                    &reference.name,
                    &reference.namespace,
                    &reference.labels,
                    &reference.fields
                )
            );
        }
    }

    #[test]
    fn a_cached_item_restamps_to_the_same_bytes() {
        let value = stored(pod());
        let first = build(pods(), &value, 5).expect("cached");
        let again = build(pods(), &first.bytes, 9).expect("restamped");
        let restamped = String::from_utf8_lossy(&first.bytes)
            .replace("\"resourceVersion\":\"5\"", "\"resourceVersion\":\"9\"");
        assert_eq!(String::from_utf8_lossy(&again.bytes), restamped);
        assert_eq!(again.managed_fields, first.managed_fields);
        assert_trims(&again);
    }

    #[test]
    fn managed_fields_are_cut_wherever_they_are() {
        let mf = managed_fields();
        let metas = [
            (
                "first",
                json!({"managedFields": mf, "name": "a", "namespace": "d"}),
            ),
            (
                "last",
                json!({"name": "a", "namespace": "d", "managedFields": mf}),
            ),
            ("alone", json!({"managedFields": mf})),
            (
                "before resourceVersion",
                json!({"name": "a", "managedFields": mf, "resourceVersion": "1"}),
            ),
            (
                "after resourceVersion",
                json!({"resourceVersion": "1", "managedFields": mf}),
            ),
            ("empty list", json!({"name": "a", "managedFields": []})),
            (
                "escaped neighbours",
                json!({"annotations": {"a": "\",\"managedFields\":[]"}, "managedFields": mf, "generateName": "x\\"}),
            ),
        ];
        for (case, meta) in metas {
            let value = stored(
                json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": meta, "data": {"x": "y"}}),
            );
            let item = build(strategy_of("", "v1", "configmaps"), &value, 8)
                .unwrap_or_else(|| panic!("{case}: cached"));
            assert_trims(&item);
            let trimmed: Value = {
                let cut = item.managed_fields.expect("found");
                let mut b = item.bytes[..cut.start as usize].to_vec();
                b.extend_from_slice(&item.bytes[cut.end as usize..]);
                serde_json::from_slice(&b).expect("JSON")
            };
            assert_eq!(trimmed["metadata"]["resourceVersion"], "8", "{case}");
            assert_eq!(trimmed["data"]["x"], "y", "{case}");
        }
    }

    #[test]
    fn no_managed_fields_no_cut() {
        let value = stored(json!({
            "kind": "ConfigMap",
            "metadata": {"name": "a", "annotations": {"managedFields": "[]"}},
            "managedFields": [],
            "data": {"managedFields": "x"}
        }));
        let item = build(strategy_of("", "v1", "configmaps"), &value, 2).expect("cached");
        assert_eq!(item.managed_fields, None);
    }

    #[test]
    fn whitespace_in_stored_bytes_is_kept_inside_values() {
        let value = br#" { "kind" : "ConfigMap" , "metadata" : { "name" : "a" , "managedFields" : [ {"manager": "m"} ] } , "data" : { "k" : "v" } } "#;
        let item = build(strategy_of("", "v1", "configmaps"), value, 4).expect("cached");
        assert_eq!(item.name, "a");
        assert_trims(&item);
        let obj: Value = serde_json::from_slice(&item.bytes).expect("JSON");
        assert_eq!(
            obj,
            json!({"metadata": {"name": "a", "managedFields": [{"manager": "m"}], "resourceVersion": "4"}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn duplicate_keys_resolve_as_a_map_does() {
        let value = br#"{"kind":"ConfigMap","metadata":{"name":"a","name":"b","managedFields":[]},"data":{},"data":{"k":"v"}}"#;
        let item = build(strategy_of("", "v1", "configmaps"), value, 3).expect("cached");
        assert_eq!(item.name, "b");
        let obj: Value = serde_json::from_slice(&item.bytes).expect("JSON");
        assert_eq!(
            obj,
            json!({"metadata": {"name": "b", "managedFields": [], "resourceVersion": "3"}, "data": {"k": "v"}})
        );
        assert_trims(&item);
    }

    #[test]
    fn values_that_are_not_objects_with_metadata_are_refused() {
        let cms = strategy_of("", "v1", "configmaps");
        for bad in [
            &b"[]"[..],
            b"\"x\"",
            b"{\"kind\":\"ConfigMap\"}",
            b"{\"metadata\":[]}",
            b"{\"metadata\":{}",
            b"{\"metadata\":{}} x",
        ] {
            assert!(
                build(cms, bad, 1).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// Field selectors read the same values from the skeleton as from the
    /// whole object, for every kind that has field selectors.
    #[test]
    fn field_attributes_come_from_the_skeleton() {
        let cases = [
            (("", "v1", "pods"), pod()),
            (
                ("", "v1", "events"),
                json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": "d", "uid": "u", "apiVersion": "v1", "resourceVersion": "3", "fieldPath": "spec"}, "reason": "Scheduled", "source": {"component": "sched", "host": "h"}, "type": "Normal", "reportingComponent": "r", "series": {"count": 2}}),
            ),
            (
                ("", "v1", "services"),
                json!({"metadata": {"name": "s"}, "spec": {"clusterIP": "10.43.0.9", "type": "NodePort", "ports": [{"port": 80}]}}),
            ),
            (
                ("", "v1", "nodes"),
                json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true, "taints": [{"key": "k"}]}}),
            ),
            (
                ("", "v1", "secrets"),
                json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls", "data": {"a": "Yg=="}}),
            ),
            (
                ("", "v1", "namespaces"),
                json!({"metadata": {"name": "n"}, "status": {"phase": "Terminating", "conditions": []}}),
            ),
            (
                ("apps", "v1", "replicasets"),
                json!({"metadata": {"name": "r"}, "status": {"replicas": 4}}),
            ),
            (
                ("batch", "v1", "jobs"),
                json!({"metadata": {"name": "j"}, "status": {"succeeded": 2}}),
            ),
        ];
        for ((group, version, resource), obj) in cases {
            let strategy = strategy_of(group, version, resource);
            assert!(
                !strategy.field_labels().is_empty(),
                "{resource} has field selectors"
            );
            let value = stored(obj);
            let item = build(strategy, &value, 1).expect("cached");
            let (_, reference) = round_trip(strategy, &value, 1);
            assert!(!item.fields.is_empty(), "{resource}");
            assert_eq!(item.fields, reference.fields, "{resource}");
        }
    }
}
