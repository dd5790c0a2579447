//! The shape of the generated protobuf tables ([`super::table`]): messages,
//! fields and the Go JSON facts the decoder needs about each field.

/// A protobuf scalar type.
#[allow(
    dead_code,
    reason = "the whole protobuf scalar set; Kubernetes messages use only some"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scalar {
    Str,
    Bytes,
    I32,
    I64,
    U32,
    U64,
    S32,
    S64,
    Bool,
    F64,
    F32,
    Fx32,
    Fx64,
    Sfx32,
    Sfx64,
}

/// The type of a field: a scalar, a message (index into `MESSAGES`) or a map.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ty {
    Scalar(Scalar),
    Message(u16),
    Map(Scalar, &'static Ty),
}

/// Messages whose Go type has its own JSON encoding (a `MarshalJSON`), or is a
/// Go slice that protobuf wraps in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Special {
    None,
    /// `metav1.Time`: RFC 3339, whole seconds, `null` when zero.
    Time,
    /// `metav1.MicroTime`: RFC 3339 with microseconds, `null` when zero.
    MicroTime,
    /// `metav1.Duration`: nanoseconds on the wire, Go's `Duration.String()` in JSON.
    Duration,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `runtime.RawExtension`: embedded JSON (or an embedded protobuf object).
    RawExtension,
    /// `metav1.FieldsV1`: embedded JSON, `null` when unset.
    RawJson,
    /// apiextensions `JSON`: embedded JSON, `null` when empty.
    Json,
    /// apiextensions `JSONSchemaPropsOrArray`.
    SchemaOrArray,
    /// apiextensions `JSONSchemaPropsOrBool`.
    SchemaOrBool,
    /// apiextensions `JSONSchemaPropsOrStringArray`.
    SchemaOrStringArray,
    /// A Go `[]T` wrapped as `message { repeated T items = 1; }` (`ExtraValue`, `Verbs`).
    List,
}

/// A message: its full protobuf name and its fields in Go struct order (the
/// order Go's encoding/json writes them).
#[derive(Debug)]
pub(super) struct Message {
    pub name: &'static str,
    pub special: Special,
    pub fields: &'static [Field],
}

/// `repeated` on the wire (a Go slice).
pub(super) const REP: u8 = 1;
/// `omitempty` in the Go JSON tag.
pub(super) const OMIT: u8 = 2;
/// The Go field is a pointer: absent means `nil`, present means set even if zero.
pub(super) const PTR: u8 = 4;
/// `json:",inline"`: the message's fields are written into the parent object.
pub(super) const INLINE: u8 = 8;
/// `json:"-"`: not written to JSON (only in messages with a `Special` encoding).
pub(super) const SKIP: u8 = 16;

/// One field of a message.
#[derive(Debug)]
pub(super) struct Field {
    pub number: u32,
    pub json: &'static str,
    pub ty: Ty,
    flags: u8,
}

impl Field {
    pub(super) const fn new(number: u32, json: &'static str, ty: Ty, flags: u8) -> Field {
        Field {
            number,
            json,
            ty,
            flags,
        }
    }

    pub(super) fn repeated(&self) -> bool {
        self.flags & REP != 0
    }

    pub(super) fn omitempty(&self) -> bool {
        self.flags & OMIT != 0
    }

    pub(super) fn pointer(&self) -> bool {
        self.flags & PTR != 0
    }

    pub(super) fn inline(&self) -> bool {
        self.flags & INLINE != 0
    }

    pub(super) fn skipped(&self) -> bool {
        self.flags & SKIP != 0
    }
}

/// A kind that can be the top-level object of a protobuf body.
#[derive(Debug)]
pub(super) struct Kind {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub message: u16,
}

pub(super) const fn s(scalar: Scalar) -> Ty {
    Ty::Scalar(scalar)
}

pub(super) const fn m(index: u16) -> Ty {
    Ty::Message(index)
}
