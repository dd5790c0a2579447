//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`) request bodies,
//! decoded into the JSON kube-apiserver would serve for the same object.
//!
//! Owns: the envelope (`k8s\0` + `runtime.Unknown`, apimachinery
//! `pkg/runtime/serializer/protobuf/protobuf.go`), the wire format, and the
//! conversion of every built-in message to JSON the way Go's encoding/json
//! writes the decoded Go struct (`omitempty`, pointers, `,inline`, and the
//! custom `MarshalJSON` of `metav1.Time`, `resource.Quantity`,
//! `intstr.IntOrString`, ...). The message tables are generated from upstream's
//! `generated.proto` and Go types by `protobuf/gen/gen_tables.py`.
//!
//! Does not own: encoding protobuf (skiff answers in JSON, which every client
//! accepts), custom resources (they have no protobuf encoding upstream either),
//! or checking the decoded object (the API server's decode and validation do).

mod schema;
mod table;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use schema::{Field, Message, Scalar, Special, Ty};

/// The prefix of every Kubernetes protobuf body.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// How deep messages may nest (JSONSchemaProps is recursive; embedded objects
/// in RawExtensions count too). Keeps hostile input from exhausting the stack.
const MAX_DEPTH: usize = 100;

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    BadMagic,
    #[error("empty body")]
    EmptyBody,
    #[error("truncated varint at byte {offset} of {message}")]
    TruncatedVarint {
        message: &'static str,
        offset: usize,
    },
    #[error("varint longer than 64 bits at byte {offset} of {message}")]
    VarintOverflow {
        message: &'static str,
        offset: usize,
    },
    #[error("field {field} of {message} needs {needed} bytes but only {left} are left")]
    Truncated {
        message: &'static str,
        field: u32,
        needed: u64,
        left: usize,
    },
    #[error("illegal tag {tag} (wire type {wire}) in {message}")]
    IllegalTag {
        message: &'static str,
        tag: u64,
        wire: u8,
    },
    #[error("wrong wire type {wire} for field {field} ({name}) of {message}")]
    WireType {
        message: &'static str,
        field: u32,
        name: &'static str,
        wire: u8,
    },
    #[error("Object 'Kind' is missing in the protobuf envelope")]
    MissingKind,
    #[error("Object 'apiVersion' is missing in the protobuf envelope")]
    MissingVersion,
    #[error("no kind \"{kind}\" is registered for version \"{api_version}\"")]
    UnknownKind { api_version: String, kind: String },
    #[error("invalid timestamp {seconds}s{nanos}ns in {message}")]
    Timestamp {
        message: &'static str,
        seconds: i64,
        nanos: i64,
    },
    #[error("impossible IntOrString type {0}")]
    IntOrStringType(i64),
    #[error("non-finite number in field {field} of {message}")]
    NonFinite { message: &'static str, field: u32 },
    #[error("invalid embedded JSON in {message}")]
    EmbeddedJson {
        message: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("failed to decode the object embedded in {message}")]
    Embedded {
        message: &'static str,
        #[source]
        source: Box<Error>,
    },
    #[error("messages nest deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Decodes a Kubernetes protobuf body (`k8s\0` + `runtime.Unknown`) into the
/// JSON object of its kind, with `kind` and `apiVersion` set from the envelope.
pub fn decode(body: &[u8]) -> Result<Value> {
    decode_at(body, 0)
}

fn decode_at(body: &[u8], depth: usize) -> Result<Value> {
    // Upstream's messages (runtime/serializer/protobuf Serializer.Decode).
    let rest = body.strip_prefix(MAGIC).ok_or(Error::BadMagic)?;
    if rest.is_empty() {
        return Err(Error::EmptyBody);
    }
    let envelope = Envelope::parse(rest)?;
    if envelope.kind.is_empty() {
        return Err(Error::MissingKind);
    }
    if envelope.api_version.is_empty() {
        return Err(Error::MissingVersion);
    }
    let index =
        lookup(&envelope.api_version, &envelope.kind).ok_or_else(|| Error::UnknownKind {
            api_version: envelope.api_version.clone(),
            kind: envelope.kind.clone(),
        })?;
    let value = message_json(index, envelope.raw, depth + 1)?;
    // Go writes the inline TypeMeta first: kind, then apiVersion.
    let mut object = Map::new();
    object.insert("kind".into(), Value::String(envelope.kind));
    object.insert("apiVersion".into(), Value::String(envelope.api_version));
    if let Value::Object(fields) = value {
        object.extend(fields);
    }
    Ok(Value::Object(object))
}

/// `runtime.Unknown`: typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2,
/// contentEncoding = 3, contentType = 4. The last two are ignored, as upstream
/// does when the raw bytes are protobuf.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
}

impl<'a> Envelope<'a> {
    fn parse(buf: &'a [u8]) -> Result<Envelope<'a>> {
        const UNKNOWN: &str = "runtime.Unknown";
        const TYPE_META: &str = "runtime.TypeMeta";
        let mut envelope = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
        };
        let mut reader = Reader::new(buf, UNKNOWN);
        while let Some((number, value)) = reader.next()? {
            match (number, value) {
                (1, Wire::Len(type_meta)) => {
                    let mut inner = Reader::new(type_meta, TYPE_META);
                    while let Some((number, value)) = inner.next()? {
                        match (number, value) {
                            (1, Wire::Len(s)) => envelope.api_version = string(s),
                            (2, Wire::Len(s)) => envelope.kind = string(s),
                            (1, other) => return Err(other.wrong(TYPE_META, 1, "apiVersion")),
                            (2, other) => return Err(other.wrong(TYPE_META, 2, "kind")),
                            _ => {}
                        }
                    }
                }
                (2, Wire::Len(raw)) => envelope.raw = raw,
                (1, other) => return Err(other.wrong(UNKNOWN, 1, "typeMeta")),
                (2, other) => return Err(other.wrong(UNKNOWN, 2, "raw")),
                _ => {}
            }
        }
        Ok(envelope)
    }
}

/// The message of a kind. The `metav1` option kinds are registered in every
/// group version upstream (`metav1.AddToGroupVersion`), so they are found
/// whatever the apiVersion.
fn lookup(api_version: &str, kind: &str) -> Option<u16> {
    let find = |api_version: &str| {
        table::KINDS
            .binary_search_by(|k| (k.api_version, k.kind).cmp(&(api_version, kind)))
            .ok()
            .map(|i| table::KINDS[i].message)
    };
    find(api_version).or_else(|| {
        const META_KINDS: &[&str] = &[
            "CreateOptions",
            "DeleteOptions",
            "GetOptions",
            "ListOptions",
            "PatchOptions",
            "Status",
            "UpdateOptions",
            "WatchEvent",
        ];
        META_KINDS
            .contains(&kind)
            .then(|| find("meta.k8s.io/v1"))
            .flatten()
    })
}

/// One field value as it is on the wire.
#[derive(Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

impl Wire<'_> {
    fn wire_type(&self) -> u8 {
        match self {
            Wire::Varint(_) => 0,
            Wire::Fixed64(_) => 1,
            Wire::Len(_) => 2,
            Wire::Fixed32(_) => 5,
        }
    }

    fn wrong(&self, message: &'static str, field: u32, name: &'static str) -> Error {
        Error::WireType {
            message,
            field,
            name,
            wire: self.wire_type(),
        }
    }
}

/// Reads the fields of one message.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], message: &'static str) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            message,
        }
    }

    fn varint(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(Error::TruncatedVarint {
                    message: self.message,
                    offset: start,
                });
            };
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err(Error::VarintOverflow {
                    message: self.message,
                    offset: start,
                });
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::VarintOverflow {
            message: self.message,
            offset: start,
        })
    }

    fn take(&mut self, field: u32, len: u64) -> Result<&'a [u8]> {
        let left = self.buf.len() - self.pos;
        match usize::try_from(len) {
            Ok(n) if n <= left => {
                let bytes = &self.buf[self.pos..self.pos + n];
                self.pos += n;
                Ok(bytes)
            }
            _ => Err(Error::Truncated {
                message: self.message,
                field,
                needed: len,
                left,
            }),
        }
    }

    /// The next field, or `None` at the end of the message.
    fn next(&mut self) -> Result<Option<(u32, Wire<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let wire = (tag & 7) as u8;
        let number = match u32::try_from(tag >> 3) {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(Error::IllegalTag {
                    message: self.message,
                    tag: tag >> 3,
                    wire,
                });
            }
        };
        let value = match wire {
            0 => Wire::Varint(self.varint()?),
            1 => {
                let b = self.take(number, 8)?;
                Wire::Fixed64(u64::from_le_bytes([
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                ]))
            }
            2 => {
                let len = self.varint()?;
                Wire::Len(self.take(number, len)?)
            }
            5 => {
                let b = self.take(number, 4)?;
                Wire::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            // Groups (3, 4) are not used by any Kubernetes message.
            _ => {
                return Err(Error::IllegalTag {
                    message: self.message,
                    tag: tag >> 3,
                    wire,
                });
            }
        };
        Ok(Some((number, value)))
    }
}

/// What the wire said about one field of the table, before conversion.
#[derive(Default)]
enum Slot<'a> {
    #[default]
    Absent,
    Scalar(Value),
    /// A singular message: every occurrence, merged the protobuf way when decoded.
    Message(Vec<&'a [u8]>),
    List(Vec<Value>),
    /// Map entries; encoding/json sorts them by key.
    Map(Vec<(String, Value)>),
}

/// Converts one message to the JSON its Go type marshals to.
fn message_json(index: u16, buf: &[u8], depth: usize) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(Error::TooDeep);
    }
    let message = &table::MESSAGES[usize::from(index)];
    let name = message.name;
    match message.special {
        Special::None => struct_json(message, collect(message, buf, depth)?, depth),
        // Time and MicroTime unmarshal an empty message as the zero time.
        Special::Time | Special::MicroTime if buf.is_empty() => Ok(Value::Null),
        Special::Time => {
            let fields = Fields::read(message, buf, depth)?;
            let seconds = fields.int(1);
            // Go keeps only whole seconds (metav1.Time.Unmarshal).
            if seconds == GO_ZERO_UNIX {
                return Ok(Value::Null);
            }
            rfc3339(name, seconds, 0, false)
        }
        Special::MicroTime => {
            let fields = Fields::read(message, buf, depth)?;
            let seconds = fields.int(1);
            let nanos = fields.int(2) / 1000 * 1000;
            if seconds == GO_ZERO_UNIX && nanos == 0 {
                return Ok(Value::Null);
            }
            rfc3339(name, seconds, nanos, true)
        }
        Special::Duration => Ok(Value::String(go_duration(
            Fields::read(message, buf, depth)?.int(1),
        ))),
        Special::Quantity => Ok(match Fields::read(message, buf, depth)?.take(1) {
            Slot::Scalar(s @ Value::String(_)) => s,
            // The zero Quantity marshals as "0".
            _ => Value::String("0".into()),
        }),
        Special::IntOrString => {
            let mut fields = Fields::read(message, buf, depth)?;
            match fields.int(1) {
                0 => Ok(Value::from(fields.int(2))),
                1 => Ok(match fields.take(3) {
                    Slot::Scalar(s) => s,
                    _ => Value::String(String::new()),
                }),
                other => Err(Error::IntOrStringType(other)),
            }
        }
        Special::RawExtension | Special::RawJson | Special::Json => {
            match raw_bytes(message, buf)? {
                Some(raw) => embedded_json(message, raw, depth),
                // RawExtension and FieldsV1 with a nil Raw marshal as null.
                None => Ok(Value::Null),
            }
        }
        // JSONSchemaPropsOrArray: the array when non-empty, else the schema.
        // JSONSchemaPropsOrStringArray: the same with a string array.
        Special::SchemaOrArray | Special::SchemaOrStringArray => {
            let mut fields = Fields::read(message, buf, depth)?;
            match fields.take(2) {
                Slot::List(items) if !items.is_empty() => Ok(Value::Array(items)),
                _ => fields.message_or_null(1, depth),
            }
        }
        // JSONSchemaPropsOrBool: the schema when set, else the boolean.
        Special::SchemaOrBool => {
            let mut fields = Fields::read(message, buf, depth)?;
            match fields.message_or_null(2, depth)? {
                Value::Null => Ok(Value::Bool(matches!(
                    fields.take(1),
                    Slot::Scalar(Value::Bool(true))
                ))),
                schema => Ok(schema),
            }
        }
        Special::List => Ok(match Fields::read(message, buf, depth)?.take(1) {
            Slot::List(items) => Value::Array(items),
            // A nil Go slice.
            _ => Value::Null,
        }),
    }
}

/// The decoded fields of a message with a hand-written JSON encoding.
struct Fields<'a> {
    message: &'static Message,
    slots: Vec<Slot<'a>>,
}

impl<'a> Fields<'a> {
    fn read(message: &'static Message, buf: &'a [u8], depth: usize) -> Result<Fields<'a>> {
        Ok(Fields {
            message,
            slots: collect(message, buf, depth)?,
        })
    }

    fn position(&self, number: u32) -> Option<usize> {
        self.message.fields.iter().position(|f| f.number == number)
    }

    /// Moves a field's slot out; `Absent` if unset or not in the table.
    fn take(&mut self, number: u32) -> Slot<'a> {
        self.position(number)
            .and_then(|i| self.slots.get_mut(i))
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn int(&self, number: u32) -> i64 {
        match self.position(number).and_then(|i| self.slots.get(i)) {
            Some(Slot::Scalar(v)) => v.as_i64().unwrap_or(0),
            _ => 0,
        }
    }

    /// A pointer-to-message field: the message, or `null` when nil.
    fn message_or_null(&mut self, number: u32, depth: usize) -> Result<Value> {
        let message = self.message;
        let Some(field) = message.fields.iter().find(|f| f.number == number) else {
            return Ok(Value::Null);
        };
        match self.take(number) {
            Slot::Message(parts) => sub_message(message, field, &parts, depth),
            _ => Ok(Value::Null),
        }
    }
}

/// Seconds since the Unix epoch of Go's zero `time.Time` (January 1, year 1).
const GO_ZERO_UNIX: i64 = -62_135_596_800;

/// Reads every field of a message into one slot per table field. Unknown fields
/// are skipped, as gogo-protobuf's generated Unmarshal does.
fn collect<'a>(message: &'static Message, buf: &'a [u8], depth: usize) -> Result<Vec<Slot<'a>>> {
    let mut slots: Vec<Slot<'a>> = message.fields.iter().map(|_| Slot::Absent).collect();
    let mut reader = Reader::new(buf, message.name);
    while let Some((number, wire)) = reader.next()? {
        let Some(i) = message.fields.iter().position(|f| f.number == number) else {
            continue;
        };
        let field = &message.fields[i];
        match field.ty {
            Ty::Scalar(scalar) if field.repeated() => {
                if !matches!(slots[i], Slot::List(_)) {
                    slots[i] = Slot::List(Vec::new());
                }
                let Slot::List(items) = &mut slots[i] else {
                    continue;
                };
                match (scalar, wire) {
                    // Packed repeated numbers.
                    (s, Wire::Len(packed)) if !matches!(s, Scalar::Str | Scalar::Bytes) => {
                        let mut inner = Reader::new(packed, message.name);
                        while inner.pos < packed.len() {
                            let wire = match fixed_width(s) {
                                Some(8) => {
                                    let b = inner.take(number, 8)?;
                                    Wire::Fixed64(u64::from_le_bytes([
                                        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                                    ]))
                                }
                                Some(_) => {
                                    let b = inner.take(number, 4)?;
                                    Wire::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                                }
                                None => Wire::Varint(inner.varint()?),
                            };
                            items.push(scalar_json(message, field, s, wire)?);
                        }
                    }
                    (s, wire) => items.push(scalar_json(message, field, s, wire)?),
                }
            }
            Ty::Scalar(scalar) => {
                slots[i] = Slot::Scalar(scalar_json(message, field, scalar, wire)?)
            }
            Ty::Message(_) => {
                let Wire::Len(bytes) = wire else {
                    return Err(wire.wrong(message.name, number, field.json));
                };
                if field.repeated() {
                    let value = sub_message(message, field, &[bytes], depth)?;
                    match &mut slots[i] {
                        Slot::List(items) => items.push(value),
                        slot => *slot = Slot::List(vec![value]),
                    }
                } else {
                    match &mut slots[i] {
                        Slot::Message(parts) => parts.push(bytes),
                        slot => *slot = Slot::Message(vec![bytes]),
                    }
                }
            }
            Ty::Map(key, value) => {
                let Wire::Len(entry) = wire else {
                    return Err(wire.wrong(message.name, number, field.json));
                };
                let (k, v) = map_entry(message, field, key, value, entry, depth)?;
                match &mut slots[i] {
                    Slot::Map(entries) => entries.push((k, v)),
                    slot => *slot = Slot::Map(vec![(k, v)]),
                }
            }
        }
    }
    Ok(slots)
}

fn fixed_width(scalar: Scalar) -> Option<usize> {
    match scalar {
        Scalar::F64 | Scalar::Fx64 | Scalar::Sfx64 => Some(8),
        Scalar::F32 | Scalar::Fx32 | Scalar::Sfx32 => Some(4),
        _ => None,
    }
}

/// Decodes a sub-message from all its occurrences. Protobuf merges repeated
/// occurrences of a singular message, which is the same as decoding their
/// concatenation.
fn sub_message(
    parent: &'static Message,
    field: &Field,
    parts: &[&[u8]],
    depth: usize,
) -> Result<Value> {
    let Ty::Message(index) = field.ty else {
        return Err(Error::IllegalTag {
            message: parent.name,
            tag: u64::from(field.number),
            wire: 2,
        });
    };
    match parts {
        [one] => message_json(index, one, depth + 1),
        many => message_json(index, &many.concat(), depth + 1),
    }
}

/// One `map<K, V>` entry: key = 1, value = 2. A missing key or value is the
/// zero value, as in Go.
fn map_entry(
    message: &'static Message,
    field: &Field,
    key: Scalar,
    value: &Ty,
    entry: &[u8],
    depth: usize,
) -> Result<(String, Value)> {
    let mut k = None;
    let mut v = None;
    let mut parts = Vec::new();
    let mut reader = Reader::new(entry, message.name);
    while let Some((number, wire)) = reader.next()? {
        match number {
            1 => k = Some(scalar_json(message, field, key, wire)?),
            2 => match value {
                Ty::Scalar(s) => v = Some(scalar_json(message, field, *s, wire)?),
                Ty::Message(_) => match wire {
                    Wire::Len(bytes) => parts.push(bytes),
                    other => return Err(other.wrong(message.name, field.number, field.json)),
                },
                Ty::Map(..) => {}
            },
            _ => {}
        }
    }
    let key = match k.unwrap_or_else(|| zero_scalar(key)) {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let value = match (value, v) {
        (_, Some(v)) => v,
        (Ty::Scalar(s), None) => zero_scalar(*s),
        (Ty::Message(index), None) => message_json(*index, &parts.concat(), depth + 1)?,
        (Ty::Map(..), None) => Value::Null,
    };
    Ok((key, value))
}

/// A scalar's JSON as Go writes it: numbers, strings, base64 for bytes.
fn scalar_json(
    message: &'static Message,
    field: &Field,
    scalar: Scalar,
    wire: Wire<'_>,
) -> Result<Value> {
    let wrong = || wire.wrong(message.name, field.number, field.json);
    Ok(match (scalar, wire) {
        (Scalar::Str, Wire::Len(b)) => Value::String(string(b)),
        (Scalar::Bytes, Wire::Len(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        // int32 is sign-extended to 64 bits on the wire; Go truncates.
        (Scalar::I32, Wire::Varint(v)) => Value::from(v as i32),
        (Scalar::I64, Wire::Varint(v)) => Value::from(v as i64),
        (Scalar::U32, Wire::Varint(v)) => Value::from(v as u32),
        (Scalar::U64, Wire::Varint(v)) => Value::from(v),
        (Scalar::S32, Wire::Varint(v)) => Value::from(((v >> 1) as i64 ^ -((v & 1) as i64)) as i32),
        (Scalar::S64, Wire::Varint(v)) => Value::from((v >> 1) as i64 ^ -((v & 1) as i64)),
        (Scalar::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
        (Scalar::F64, Wire::Fixed64(v)) => float(message, field, f64::from_bits(v))?,
        (Scalar::F32, Wire::Fixed32(v)) => float(message, field, f64::from(f32::from_bits(v)))?,
        (Scalar::Fx64, Wire::Fixed64(v)) => Value::from(v),
        (Scalar::Sfx64, Wire::Fixed64(v)) => Value::from(v as i64),
        (Scalar::Fx32, Wire::Fixed32(v)) => Value::from(v),
        (Scalar::Sfx32, Wire::Fixed32(v)) => Value::from(v as i32),
        _ => return Err(wrong()),
    })
}

/// Go writes integral floats without a fraction (`10`, not `10.0`).
fn float(message: &'static Message, field: &Field, f: f64) -> Result<Value> {
    if !f.is_finite() {
        return Err(Error::NonFinite {
            message: message.name,
            field: field.number,
        });
    }
    // Exact in an i64, and below 1e21 where Go switches to exponents.
    if f.fract() == 0.0 && f.abs() < 1e18 {
        return Ok(Value::from(f as i64));
    }
    Ok(Number::from_f64(f).map_or(Value::Null, Value::Number))
}

fn zero_scalar(scalar: Scalar) -> Value {
    match scalar {
        Scalar::Str | Scalar::Bytes => Value::String(String::new()),
        Scalar::Bool => Value::Bool(false),
        _ => Value::from(0),
    }
}

/// Protobuf strings from Go are not checked for UTF-8; encoding/json replaces
/// invalid bytes with U+FFFD.
fn string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Field 1 (`raw`) of the raw-bytes messages; the last occurrence wins, as in
/// gogo-protobuf.
fn raw_bytes<'a>(message: &'static Message, buf: &'a [u8]) -> Result<Option<&'a [u8]>> {
    let mut raw = None;
    let mut reader = Reader::new(buf, message.name);
    while let Some((number, wire)) = reader.next()? {
        match (number, wire) {
            (1, Wire::Len(bytes)) => raw = Some(bytes),
            (1, other) => return Err(other.wrong(message.name, 1, "raw")),
            _ => {}
        }
    }
    Ok(raw)
}

/// Embedded raw bytes: JSON (what clients send), or a nested protobuf object
/// (`k8s\0`...) in a RawExtension.
fn embedded_json(message: &'static Message, raw: &[u8], depth: usize) -> Result<Value> {
    if message.special == Special::Json && raw.is_empty() {
        return Ok(Value::Null);
    }
    if message.special == Special::RawExtension && raw.starts_with(MAGIC) {
        return decode_at(raw, depth + 1).map_err(|source| Error::Embedded {
            message: message.name,
            source: Box::new(source),
        });
    }
    serde_json::from_slice(raw).map_err(|source| Error::EmbeddedJson {
        message: message.name,
        source,
    })
}

/// A plain Go struct: fields in order, with encoding/json's rules for
/// `omitempty`, pointers, nil slices and maps, and `,inline`.
fn struct_json(message: &'static Message, slots: Vec<Slot<'_>>, depth: usize) -> Result<Value> {
    let mut object = Map::new();
    for (field, slot) in message.fields.iter().zip(slots) {
        if field.skipped() {
            continue;
        }
        let value = match slot {
            Slot::Absent => match field.ty {
                _ if field.pointer() => Value::Null,
                // nil slices, maps and []byte.
                _ if field.repeated() => Value::Null,
                Ty::Map(..) | Ty::Scalar(Scalar::Bytes) => Value::Null,
                Ty::Scalar(s) => zero_scalar(s),
                // A non-pointer struct is its zero value.
                Ty::Message(index) => message_json(index, &[], depth + 1)?,
            },
            Slot::Scalar(v) => v,
            Slot::Message(parts) => sub_message(message, field, &parts, depth)?,
            Slot::List(items) => Value::Array(items),
            Slot::Map(mut entries) => {
                // Sorted by key, later duplicates winning.
                entries.reverse();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                entries.dedup_by(|a, b| a.0 == b.0);
                Value::Object(entries.into_iter().collect())
            }
        };
        if field.omitempty() && is_empty(field, &value) {
            continue;
        }
        if field.inline() {
            if let Value::Object(inner) = value {
                object.extend(inner);
            }
            continue;
        }
        object.insert(field.json.to_owned(), value);
    }
    Ok(Value::Object(object))
}

/// encoding/json's `omitempty`: false, 0, "", nil pointers, and empty slices,
/// maps and strings. Structs are never empty, even when they marshal to `null`
/// (a zero `metav1.Time`) or `"0"` (a zero Quantity).
fn is_empty(field: &Field, value: &Value) -> bool {
    if field.pointer() {
        return value.is_null();
    }
    let slice_like = field.repeated()
        || matches!(field.ty, Ty::Map(..) | Ty::Scalar(_))
        || matches!(field.ty, Ty::Message(i) if table::MESSAGES[usize::from(i)].special == Special::List);
    if !slice_like {
        return false;
    }
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// `metav1.Time` / `MicroTime` JSON: RFC 3339 in UTC, with microseconds for
/// MicroTime.
fn rfc3339(message: &'static str, seconds: i64, nanos: i64, micro: bool) -> Result<Value> {
    let bad = || Error::Timestamp {
        message,
        seconds,
        nanos,
    };
    let whole = seconds
        .checked_add(nanos.div_euclid(1_000_000_000))
        .ok_or_else(bad)?;
    let t = time::OffsetDateTime::from_unix_timestamp(whole).map_err(|_| bad())?;
    if !(0..=9999).contains(&t.year()) {
        return Err(bad());
    }
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if micro {
        s.push_str(&format!(".{:06}", nanos.rem_euclid(1_000_000_000) / 1000));
    }
    s.push('Z');
    Ok(Value::String(s))
}

/// Go's `time.Duration.String()`: "1h0m0s", "1.5s", "300ms", "0s".
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    // The integer part of u / 10^prec and its fraction without trailing zeros.
    let split = |v: u64, prec: u32| {
        let unit = 10u64.pow(prec);
        let digits = format!("{:0width$}", v % unit, width = prec as usize);
        let digits = digits.trim_end_matches('0');
        let dot = if digits.is_empty() { "" } else { "." };
        (v / unit, format!("{dot}{digits}"))
    };
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0..1_000 => (0, "ns"),
            1_000..1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (int, fraction) = split(u, prec);
        return format!("{sign}{int}{fraction}{unit}");
    }
    let (total_secs, fraction) = split(u, 9);
    let (secs, total_mins) = (total_secs % 60, total_secs / 60);
    let (mins, hours) = (total_mins % 60, total_mins / 60);
    if hours > 0 {
        format!("{sign}{hours}h{mins}m{secs}{fraction}s")
    } else if mins > 0 {
        format!("{sign}{mins}m{secs}{fraction}s")
    } else {
        format!("{sign}{secs}{fraction}s")
    }
}
