//! Decoding request bodies into JSON values while noting duplicate fields.
//!
//! Plain `serde_json` keeps the last of two equal keys silently, and
//! `serde_yaml` refuses them outright; kube-apiserver does neither: it keeps
//! the last value and, under `fieldValidation=Strict` or `Warn`, reports
//! `duplicate field "spec.paused"` for each repeated key.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A decoded body and the paths of the fields that appeared more than once
/// in one object, in the order they were met (`spec.containers[0].image`).
#[derive(Debug, Default, PartialEq)]
pub struct Decoded {
    pub value: Value,
    pub duplicates: Vec<String>,
}

/// Decodes JSON; the last of repeated keys wins, as in Go.
pub fn json(body: &[u8]) -> Result<Decoded, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let decoded = decode(&mut de)?;
    de.end()?;
    Ok(decoded)
}

/// Decodes one YAML document; non-string keys become strings as
/// `sigs.k8s.io/yaml` makes them, and the last of repeated keys wins.
pub fn yaml(body: &[u8]) -> Result<Decoded, serde_yaml::Error> {
    decode(serde_yaml::Deserializer::from_slice(body))
}

fn decode<'de, D: Deserializer<'de>>(de: D) -> Result<Decoded, D::Error> {
    let mut path = Vec::new();
    let mut duplicates = Vec::new();
    let value = ValueSeed {
        path: &mut path,
        duplicates: &mut duplicates,
    }
    .deserialize(de)?;
    Ok(Decoded { value, duplicates })
}

enum Segment {
    Key(String),
    Index(usize),
}

/// `a.b[0].c`, the form kube-apiserver's strict decoder reports.
fn render(path: &[Segment]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

struct ValueSeed<'a> {
    path: &'a mut Vec<Segment>,
    duplicates: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // NaN and infinities (YAML's .nan, .inf) have no JSON form.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        self.deserialize(de)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        loop {
            self.path.push(Segment::Index(items.len()));
            let next = seq.next_element_seed(ValueSeed {
                path: self.path,
                duplicates: self.duplicates,
            });
            self.path.pop();
            match next? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key_seed(KeySeed)? {
            self.path.push(Segment::Key(key));
            let value = access.next_value_seed(ValueSeed {
                path: self.path,
                duplicates: self.duplicates,
            });
            let repeated = matches!(self.path.last(), Some(Segment::Key(k)) if map.contains_key(k));
            if repeated && value.is_ok() {
                self.duplicates.push(render(self.path));
            }
            if let Some(Segment::Key(key)) = self.path.pop() {
                map.insert(key, value?);
            }
        }
        Ok(Value::Object(map))
    }
}

/// A map key: JSON's are strings; YAML's may be numbers or booleans, which
/// become their text.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<String, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map key")
    }

    fn visit_str<E>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_string<E>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_bool<E>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_unit<E>(self) -> Result<String, E> {
        Ok("null".to_string())
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(de::Error::custom("a map cannot be a map key"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(de::Error::custom("a list cannot be a map key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_keeps_the_last_value_and_names_each_duplicate() {
        let d = json(
            br#"{"metadata":{"name":"a","name":"b"},
                "spec":{"paused":true,"paused":false,
                        "containers":[{"image":"x"},{"image":"y","image":"z"}]}}"#,
        )
        .expect("decodes");
        assert_eq!(d.value["metadata"]["name"], "b");
        assert_eq!(d.value["spec"]["paused"], false);
        assert_eq!(d.value["spec"]["containers"][1]["image"], "z");
        assert_eq!(
            d.duplicates,
            ["metadata.name", "spec.paused", "spec.containers[1].image"]
        );
        // The first occurrence keeps its place in the order of the keys.
        let keys: Vec<_> = d.value["spec"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["paused", "containers"]);
    }

    #[test]
    fn json_without_duplicates_equals_serde_json() {
        let body = br#"{"a":[1,-2,3.5,"s",null,true,{"b":{}}],"c":18446744073709551615}"#;
        let d = json(body).expect("decodes");
        let plain: Value = serde_json::from_slice(body).expect("decodes");
        assert_eq!(d.value, plain);
        assert!(d.duplicates.is_empty());
    }

    #[test]
    fn json_syntax_errors_and_trailing_garbage_fail() {
        assert!(json(b"{").is_err());
        assert!(json(b"{} x").is_err());
        assert!(json(b"").is_err());
    }

    #[test]
    fn yaml_stringifies_keys_and_allows_duplicates() {
        let d = yaml(b"data:\n  1: one\n  true: yes\n  k: a\n  k: b\nlist:\n- 1\n- x\n")
            .expect("decodes");
        assert_eq!(
            d.value,
            json!({"data": {"1": "one", "true": "yes", "k": "b"}, "list": [1, "x"]})
        );
        assert_eq!(d.duplicates, ["data.k"]);
    }
}
