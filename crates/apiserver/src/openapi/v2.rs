//! `/openapi/v2`: the Swagger 2.0 document of every group version, derived
//! from the v3 documents, as JSON or as the gnostic `openapi_v2.Document`
//! protobuf message that kubectl asks for.
//!
//! kubectl reads it (client-go `DiscoveryClient.OpenAPISchema`, protobuf
//! only) where v3 does not answer: client-side validation of `kind: List`
//! documents and of kinds the v3 documents lack (`--validate=strict`),
//! `kubectl explain --output=plaintext-openapiv2`, and as a fallback of the
//! strategic merge patch of `kubectl apply`. A 404 there would make those
//! fail with "failed to download openapi", where kube-apiserver succeeds.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::schemas::REF_PREFIX;

const DEFINITIONS: &str = "#/definitions/";

/// The v2 document of the v3 documents `v3` (one per group version), as
/// JSON or protobuf. Each v3 document is converted and encoded on its own and
/// dropped, so only one document's tree is in memory at a time.
pub(super) fn encode(
    v3: impl IntoIterator<Item = Value>,
    version: &str,
    protobuf: bool,
) -> Vec<u8> {
    let mut paths: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut definitions: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let encode_one = |v: &Value, pb_fn: fn(&mut Pb, &Value)| {
        if protobuf {
            let mut pb = Pb::default();
            pb_fn(&mut pb, v);
            pb.0
        } else {
            serde_json::to_vec(v).unwrap_or_default()
        }
    };
    for mut doc in v3 {
        if let Some(Value::Object(p)) = doc.get_mut("paths").map(Value::take) {
            for (path, item) in p {
                paths.insert(path, encode_one(&path_item(item), path_item_pb));
            }
        }
        if let Some(Value::Object(s)) = doc.pointer_mut("/components/schemas").map(Value::take) {
            for (name, schema) in s {
                if let std::collections::btree_map::Entry::Vacant(e) = definitions.entry(name) {
                    e.insert(encode_one(&schema_v2(schema), schema_pb));
                }
            }
        }
    }
    if protobuf {
        assemble_protobuf(&paths, &definitions, version)
    } else {
        assemble_json(&paths, &definitions, version)
    }
}

fn assemble_protobuf(
    paths: &BTreeMap<String, Vec<u8>>,
    definitions: &BTreeMap<String, Vec<u8>>,
    version: &str,
) -> Vec<u8> {
    let mut pb = Pb::default();
    pb.string(1, "2.0");
    pb.message(2, |m| {
        m.string(1, "Kubernetes");
        m.string(2, version);
    });
    pb.message(8, |m| {
        for (path, item) in paths {
            m.message(2, |named| {
                named.string(1, path);
                named.raw_message(2, item);
            });
        }
    });
    pb.message(9, |m| {
        for (name, schema) in definitions {
            m.message(1, |named| {
                named.string(1, name);
                named.raw_message(2, schema);
            });
        }
    });
    pb.0
}

fn assemble_json(
    paths: &BTreeMap<String, Vec<u8>>,
    definitions: &BTreeMap<String, Vec<u8>>,
    version: &str,
) -> Vec<u8> {
    fn object(out: &mut Vec<u8>, entries: &BTreeMap<String, Vec<u8>>) {
        out.push(b'{');
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(Value::String(key.clone()).to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(value);
        }
        out.push(b'}');
    }
    let mut out = b"{\"definitions\":".to_vec();
    object(&mut out, definitions);
    out.extend_from_slice(
        format!(
            ",\"info\":{},\"paths\":",
            json!({ "title": "Kubernetes", "version": version })
        )
        .as_bytes(),
    );
    object(&mut out, paths);
    let rest = json!({
        "security": [{ "BearerToken": [] }],
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey",
            },
        },
        "swagger": "2.0",
    });
    let rest = rest.to_string();
    out.push(b',');
    out.extend_from_slice(&rest.as_bytes()[1..]);
    out
}

/// A v3 schema in v2 form: `#/definitions/` references, and a property that
/// refers to a definition as `$ref` with siblings rather than `allOf`.
fn schema_v2(schema: Value) -> Value {
    match schema {
        Value::Object(mut obj) => {
            // IntOrString and Quantity: several types in v3, a string in v2.
            if !obj.contains_key("type") && obj.remove("oneOf").is_some() {
                obj.insert("type".into(), "string".into());
            }
            if let Some(Value::Array(all_of)) = obj.get("allOf")
                && all_of.len() == 1
                && let Some(r) = all_of[0].get("$ref").cloned()
            {
                obj.remove("allOf");
                obj.insert("$ref".into(), r);
            }
            obj.into_iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        let r = r
                            .strip_prefix(REF_PREFIX)
                            .map_or(r.clone(), |n| format!("{DEFINITIONS}{n}"));
                        (k, Value::String(r))
                    }
                    // Extension values are data, not schemas.
                    (name, v) if name.starts_with("x-") => (k, v),
                    ("properties", Value::Object(props)) => (
                        k,
                        Value::Object(props.into_iter().map(|(n, s)| (n, schema_v2(s))).collect()),
                    ),
                    (_, v @ (Value::Object(_) | Value::Array(_))) => (k, schema_v2(v)),
                    (_, v) => (k, v),
                })
                .collect()
        }
        Value::Array(items) => Value::Array(items.into_iter().map(schema_v2).collect()),
        other => other,
    }
}

fn path_item(item: Value) -> Value {
    let Value::Object(item) = item else {
        return item;
    };
    item.into_iter()
        .map(|(k, v)| {
            let v = if k == "parameters" {
                parameters(v)
            } else {
                operation(v)
            };
            (k, v)
        })
        .collect()
}

/// A v3 parameter list in v2 form: the type inline instead of a `schema`.
fn parameters(params: Value) -> Value {
    let Value::Array(params) = params else {
        return params;
    };
    params
        .into_iter()
        .map(|p| {
            let Value::Object(mut p) = p else { return p };
            if let Some(Value::Object(schema)) = p.remove("schema") {
                for (k, v) in schema {
                    p.insert(k, v);
                }
            }
            Value::Object(p)
        })
        .collect()
}

fn operation(op: Value) -> Value {
    let Value::Object(op) = op else { return op };
    let mut out = Map::new();
    let mut params = match op.get("parameters") {
        Some(p) => parameters(p.clone()),
        None => json!([]),
    };
    let mut consumes = Vec::new();
    if let Some(body) = op.get("requestBody") {
        let content = body.get("content").and_then(Value::as_object);
        let schema = content
            .and_then(|c| c.values().next())
            .and_then(|m| m.get("schema"))
            .cloned();
        consumes = content
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        if let (Some(schema), Some(list)) = (schema, params.as_array_mut()) {
            list.insert(0, json!({ "in": "body", "name": "body", "required": true, "schema": schema_v2(schema) }));
        }
    }
    let mut produces = Vec::new();
    let mut responses = Map::new();
    if let Some(Value::Object(rs)) = op.get("responses") {
        for (code, r) in rs {
            let mut resp = Map::new();
            resp.insert(
                "description".into(),
                r.get("description").cloned().unwrap_or_default(),
            );
            if let Some(content) = r.get("content").and_then(Value::as_object) {
                for media in content.keys() {
                    if !produces.contains(media) {
                        produces.push(media.clone());
                    }
                }
                if let Some(schema) = content.values().next().and_then(|m| m.get("schema")) {
                    resp.insert("schema".into(), schema_v2(schema.clone()));
                }
            }
            responses.insert(code.clone(), Value::Object(resp));
        }
    }
    for (k, v) in op {
        match k.as_str() {
            "requestBody" | "responses" | "parameters" => {}
            _ => {
                out.insert(k, v);
            }
        }
    }
    if !consumes.is_empty() {
        out.insert("consumes".into(), json!(consumes));
    }
    if params.as_array().is_some_and(|p| !p.is_empty()) {
        out.insert("parameters".into(), params);
    }
    out.insert("produces".into(), json!(produces));
    out.insert("responses".into(), Value::Object(responses));
    out.insert("schemes".into(), json!(["https"]));
    Value::Object(out)
}

// Protobuf encoding of the gnostic `openapi.v2.Document` message and its
// parts (`openapiv2/OpenAPIv2.proto` in google/gnostic-models), for the
// fields these documents use.

fn path_item_pb(pb: &mut Pb, item: &Value) {
    for (method, field) in [
        ("get", 2),
        ("put", 3),
        ("post", 4),
        ("delete", 5),
        ("options", 6),
        ("head", 7),
        ("patch", 8),
    ] {
        if let Some(op) = item.get(method) {
            pb.message(field, |o| operation_pb(o, op));
        }
    }
    for p in item
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        pb.message(9, |m| parameter_pb(m, p));
    }
}

fn operation_pb(pb: &mut Pb, op: &Value) {
    for t in strings(&op["tags"]) {
        pb.string(1, t);
    }
    pb.string(3, str_at(op, "description"));
    pb.string(5, str_at(op, "operationId"));
    for p in strings(&op["produces"]) {
        pb.string(6, p);
    }
    for c in strings(&op["consumes"]) {
        pb.string(7, c);
    }
    for p in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        pb.message(8, |m| parameter_pb(m, p));
    }
    pb.message(9, |rs| {
        for (code, r) in entries(&op["responses"]) {
            rs.message(1, |named| {
                named.string(1, code);
                named.message(2, |value| {
                    value.message(1, |resp| {
                        resp.string(1, str_at(r, "description"));
                        if let Some(schema) = r.get("schema") {
                            resp.message(2, |item| item.message(1, |s| schema_pb(s, schema)));
                        }
                    })
                });
            });
        }
    });
    for s in strings(&op["schemes"]) {
        pb.string(10, s);
    }
    extensions_pb(pb, 13, op);
}

/// `ParametersItem` { `Parameter` { body | non-body { query | path } } }.
fn parameter_pb(pb: &mut Pb, p: &Value) {
    pb.message(1, |param| match str_at(p, "in") {
        "body" => param.message(1, |b| {
            b.string(1, str_at(p, "description"));
            b.string(2, str_at(p, "name"));
            b.string(3, "body");
            b.bool(4, p["required"].as_bool().unwrap_or(false));
            if let Some(schema) = p.get("schema") {
                b.message(5, |s| schema_pb(s, schema));
            }
        }),
        "path" => param.message(2, |nb| {
            nb.message(4, |s| {
                s.bool(1, true);
                s.string(2, "path");
                s.string(3, str_at(p, "description"));
                s.string(4, str_at(p, "name"));
                s.string(5, str_at(p, "type"));
                s.bool(19, p["uniqueItems"].as_bool().unwrap_or(false));
            })
        }),
        _ => param.message(2, |nb| {
            nb.message(3, |s| {
                s.bool(1, p["required"].as_bool().unwrap_or(false));
                s.string(2, "query");
                s.string(3, str_at(p, "description"));
                s.string(4, str_at(p, "name"));
                s.string(6, str_at(p, "type"));
                s.bool(20, p["uniqueItems"].as_bool().unwrap_or(false));
            })
        }),
    });
}

fn schema_pb(pb: &mut Pb, s: &Value) {
    pb.string(1, str_at(s, "$ref"));
    pb.string(2, str_at(s, "format"));
    pb.string(3, str_at(s, "title"));
    pb.string(4, str_at(s, "description"));
    if let Some(d) = s.get("default") {
        pb.message(5, |a| any_pb(a, d));
    }
    for (key, field) in [("maximum", 7), ("minimum", 9)] {
        if let Some(x) = s[key].as_f64() {
            pb.double(field, x);
        }
    }
    for (key, field) in [
        ("maxLength", 11),
        ("minLength", 12),
        ("maxItems", 14),
        ("minItems", 15),
    ] {
        if let Some(x) = s[key].as_i64() {
            pb.int64(field, x);
        }
    }
    pb.string(13, str_at(s, "pattern"));
    pb.bool(16, s["uniqueItems"].as_bool().unwrap_or(false));
    for r in strings(&s["required"]) {
        pb.string(19, r);
    }
    for e in s
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        pb.message(20, |a| any_pb(a, e));
    }
    match s.get("additionalProperties") {
        Some(Value::Bool(b)) => pb.message(21, |a| a.bool(2, *b)),
        Some(schema @ Value::Object(_)) => {
            pb.message(21, |a| a.message(1, |sub| schema_pb(sub, schema)))
        }
        _ => {}
    }
    match s.get("type") {
        Some(Value::String(t)) => pb.message(22, |ty| ty.string(1, t)),
        Some(Value::Array(ts)) => pb.message(22, |ty| {
            for t in ts.iter().filter_map(Value::as_str) {
                ty.string(1, t);
            }
        }),
        _ => {}
    }
    if let Some(items) = s.get("items") {
        pb.message(23, |i| match items {
            Value::Array(list) => {
                for item in list {
                    i.message(1, |sub| schema_pb(sub, item));
                }
            }
            item => i.message(1, |sub| schema_pb(sub, item)),
        });
    }
    for sub in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        pb.message(24, |m| schema_pb(m, sub));
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        pb.message(25, |p| {
            for (name, schema) in props {
                p.message(1, |named| {
                    named.string(1, name);
                    named.message(2, |sub| schema_pb(sub, schema));
                });
            }
        });
    }
    pb.bool(27, s["readOnly"].as_bool().unwrap_or(false));
    extensions_pb(pb, 31, s);
}

/// `repeated NamedAny vendor_extension` for the `x-` keys of `obj`.
fn extensions_pb(pb: &mut Pb, field: u32, obj: &Value) {
    for (k, v) in entries(obj).filter(|(k, _)| k.starts_with("x-")) {
        pb.message(field, |named| {
            named.string(1, k);
            named.message(2, |a| any_pb(a, v));
        });
    }
}

/// gnostic `Any`: the value as YAML text; JSON is YAML, and is what clients
/// (`yaml.Unmarshal` in client-go and kube-openapi) read back.
fn any_pb(pb: &mut Pb, v: &Value) {
    pb.string(2, &v.to_string());
}

fn entries(v: &Value) -> impl Iterator<Item = (&String, &Value)> {
    v.as_object().into_iter().flatten()
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A protobuf message being written (proto3: default values are omitted,
/// sub-messages are always written).
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.key(field, 2);
            self.varint(s.len() as u64);
            self.0.extend_from_slice(s.as_bytes());
        }
    }

    fn bool(&mut self, field: u32, b: bool) {
        if b {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn int64(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.key(field, 0);
            self.varint(v as u64);
        }
    }

    fn double(&mut self, field: u32, v: f64) {
        if v != 0.0 {
            self.key(field, 1);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// A sub-message already encoded.
    fn raw_message(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn message(&mut self, field: u32, f: impl FnOnce(&mut Pb)) {
        let mut inner = Pb::default();
        f(&mut inner);
        self.key(field, 2);
        self.varint(inner.0.len() as u64);
        self.0.extend_from_slice(&inner.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_strings_encode_as_protobuf() {
        let mut pb = Pb::default();
        pb.string(1, "2.0");
        pb.varint(300);
        assert_eq!(pb.0, [0x0a, 3, b'2', b'.', b'0', 0xac, 0x02]);
    }

    #[test]
    fn all_of_references_become_definition_refs() {
        let v3 = json!({
            "properties": {
                "spec": { "allOf": [{ "$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec" }], "description": "d" },
                "items": { "type": "array", "items": { "allOf": [{ "$ref": "#/components/schemas/X" }] } },
            },
            "x-kubernetes-group-version-kind": [{ "group": "apps", "kind": "Deployment", "version": "v1" }],
        });
        let v2 = schema_v2(v3);
        assert_eq!(
            v2["properties"]["spec"],
            json!({ "$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec", "description": "d" })
        );
        assert_eq!(
            v2["properties"]["items"]["items"],
            json!({ "$ref": "#/definitions/X" })
        );
        assert_eq!(
            v2["x-kubernetes-group-version-kind"][0]["kind"],
            "Deployment"
        );
    }
}
