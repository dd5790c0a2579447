//! Decoding API objects without their `metadata.managedFields`.
//!
//! In-process clients (the scheduler, the controller manager's informers)
//! never read field ownership, and for a pod or a node it is often the bulk
//! of the object: decoding it builds a JSON tree per manager only to drop it.
//! [`WithoutManagedFields`] decodes any object type, skipping that member's
//! bytes without building anything, so watches and lists can ask for
//! `Api<WithoutManagedFields<Pod>>` and get pods whose `managed_fields` is
//! `None`, as if they had been trimmed after a full decode.
//!
//! How: a deserializer adapter that, at the object's top level, wraps the
//! value of `metadata`; at that level it hides every `managedFields` entry
//! from the object's own visitor. Everything else passes through untouched.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_core::Resource;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

/// An object decoded without `metadata.managedFields`.
#[derive(Clone, Debug)]
pub struct WithoutManagedFields<K>(pub K);

impl<'de, K: Deserialize<'de>> Deserialize<'de> for WithoutManagedFields<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        K::deserialize(Hook {
            inner: d,
            level: Level::Object,
        })
        .map(WithoutManagedFields)
    }
}

impl<K: Resource> Resource for WithoutManagedFields<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }
    fn api_version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::api_version(dt)
    }
    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        self.0.meta()
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.0.meta_mut()
    }
}

/// Where in the object a hooked map is.
#[derive(Clone, Copy)]
enum Level {
    /// The object: its `metadata` member's value is hooked at `Metadata`.
    Object,
    /// The object's metadata: `managedFields` is skipped.
    Metadata,
}

/// A deserializer whose maps (and a map inside an option) are seen through
/// [`HookMap`] at `level`.
struct Hook<D> {
    inner: D,
    level: Level,
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
            self.inner.$method($($arg,)* visitor)
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Hook<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let level = self.level;
        self.inner.deserialize_any(HookVisitor {
            inner: visitor,
            level,
        })
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let level = self.level;
        self.inner.deserialize_map(HookVisitor {
            inner: visitor,
            level,
        })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let level = self.level;
        self.inner.deserialize_struct(
            name,
            fields,
            HookVisitor {
                inner: visitor,
                level,
            },
        )
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let level = self.level;
        self.inner.deserialize_option(HookVisitor {
            inner: visitor,
            level,
        })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }

    forward! {
        deserialize_bool(), deserialize_i8(), deserialize_i16(), deserialize_i32(),
        deserialize_i64(), deserialize_i128(), deserialize_u8(), deserialize_u16(),
        deserialize_u32(), deserialize_u64(), deserialize_u128(), deserialize_f32(),
        deserialize_f64(), deserialize_char(), deserialize_str(), deserialize_string(),
        deserialize_bytes(), deserialize_byte_buf(), deserialize_unit(),
        deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str),
        deserialize_seq(), deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        deserialize_identifier(), deserialize_ignored_any(),
    }
}

/// The object's visitor, shown maps through [`HookMap`].
struct HookVisitor<V> {
    inner: V,
    level: Level,
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.inner.$method(v)
        })*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for HookVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(HookMap {
            inner: map,
            level: self.level,
            metadata_next: false,
        })
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(Hook {
            inner: d,
            level: self.level,
        })
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(d)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_seq(seq)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(data)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        self.inner.visit_borrowed_str(v)
    }
    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        self.inner.visit_borrowed_bytes(v)
    }

    forward_visit! {
        visit_bool(bool), visit_i8(i8), visit_i16(i16), visit_i32(i32), visit_i64(i64),
        visit_i128(i128), visit_u8(u8), visit_u16(u16), visit_u32(u32), visit_u64(u64),
        visit_u128(u128), visit_f32(f32), visit_f64(f64), visit_char(char),
        visit_str(&str), visit_string(String), visit_bytes(&[u8]), visit_byte_buf(Vec<u8>),
    }
}

/// A map whose `metadata` value is hooked (object level) or whose
/// `managedFields` entries are skipped (metadata level).
struct HookMap<A> {
    inner: A,
    level: Level,
    /// The key just handed out was the object's `metadata`.
    metadata_next: bool,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for HookMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        loop {
            let Some(key) = self.inner.next_key_seed(KeySeed)? else {
                return Ok(None);
            };
            match self.level {
                Level::Metadata if key == "managedFields" => {
                    self.inner.next_value::<IgnoredAny>()?;
                }
                level => {
                    self.metadata_next = matches!(level, Level::Object) && key == "metadata";
                    let key = de::value::CowStrDeserializer::<A::Error>::new(key);
                    return seed.deserialize(key).map(Some);
                }
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        if std::mem::take(&mut self.metadata_next) {
            self.inner.next_value_seed(HookSeed(seed))
        } else {
            self.inner.next_value_seed(seed)
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// A map key, borrowed from the input when it can be (no allocation per
/// key of every decoded object).
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The seed of the object's `metadata`, deserialized at `Level::Metadata`.
struct HookSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for HookSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(Hook {
            inner: d,
            level: Level::Metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Node, Pod};
    use serde_json::json;

    use super::*;

    fn pod_json() -> serde_json::Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "p", "namespace": "default", "uid": "u-1", "resourceVersion": "42",
                "labels": {"app": "web"}, "annotations": {"a": "b"},
                "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}}}}}}],
                "creationTimestamp": "2026-11-22T10:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-0", "controller": true}]
            },
            "spec": {"nodeName": "sim-0", "containers": [{"name": "c", "image": "nginx",
                     "env": [{"name": "managedFields", "value": "x"}]}]},
            "status": {"phase": "Running", "podIP": "10.42.0.5"}
        })
    }

    fn trimmed(json: serde_json::Value) -> Pod {
        let mut full: Pod = serde_json::from_value(json).expect("decodes");
        full.metadata.managed_fields = None;
        full
    }

    #[test]
    fn decodes_the_object_but_its_managed_fields_from_bytes_and_values() {
        let json = pod_json();
        let bytes = serde_json::to_vec(&json).expect("encodes");
        let from_bytes: WithoutManagedFields<Pod> =
            serde_json::from_slice(&bytes).expect("decodes");
        assert_eq!(from_bytes.0, trimmed(json.clone()));
        let from_value: WithoutManagedFields<Pod> =
            serde_json::from_value(json.clone()).expect("decodes");
        assert_eq!(from_value.0, trimmed(json));
    }

    #[test]
    fn only_the_metadata_member_of_the_object_loses_it() {
        // A `managedFields` key elsewhere (a label, a ConfigMap-like data
        // key) is data and stays; an env var of that name too.
        let mut json = pod_json();
        json["metadata"]["labels"]["managedFields"] = json!("kept");
        let lean: WithoutManagedFields<Pod> =
            serde_json::from_value(json.clone()).expect("decodes");
        assert_eq!(lean.0, trimmed(json));
        assert_eq!(
            lean.0
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("managedFields"))
                .map(String::as_str),
            Some("kept")
        );
    }

    #[test]
    fn lists_watch_events_and_objects_without_metadata_decode() {
        let list = json!({"items": [pod_json(), pod_json()]});
        #[derive(Deserialize)]
        struct List {
            items: Vec<WithoutManagedFields<Pod>>,
        }
        let decoded: List = serde_json::from_value(list).expect("decodes");
        assert!(decoded.items.iter().all(|p| p.0 == trimmed(pod_json())));

        let event = json!({"type": "MODIFIED", "object": pod_json()});
        let decoded: kube_core::WatchEvent<WithoutManagedFields<Pod>> =
            serde_json::from_value(event).expect("decodes");
        match decoded {
            kube_core::WatchEvent::Modified(p) => assert_eq!(p.0, trimmed(pod_json())),
            other => panic!("unexpected event {other:?}"),
        }

        let bare: WithoutManagedFields<Node> =
            serde_json::from_value(json!({"apiVersion": "v1", "kind": "Node"})).expect("decodes");
        assert_eq!(bare.0.metadata, ObjectMeta::default());
        // Skipped unread: a managedFields a full decode refuses does not matter.
        let mut odd = pod_json();
        odd["metadata"]["managedFields"] = json!(5);
        assert!(serde_json::from_value::<Pod>(odd.clone()).is_err());
        let lean: WithoutManagedFields<Pod> = serde_json::from_value(odd).expect("decodes");
        assert_eq!(lean.0, trimmed(pod_json()));
        // Malformed metadata is still an error, not a silent default.
        assert!(
            serde_json::from_value::<WithoutManagedFields<Pod>>(json!({"metadata": {"name": 5}}))
                .is_err()
        );
    }

    #[test]
    fn speaks_for_the_wrapped_kind() {
        assert_eq!(WithoutManagedFields::<Pod>::kind(&()), "Pod");
        assert_eq!(WithoutManagedFields::<Pod>::plural(&()), "pods");
        assert_eq!(WithoutManagedFields::<Pod>::api_version(&()), "v1");
    }
}
