//! Name and object metadata validation, as kube-apiserver does it.
//!
//! Owns the string checks of `k8s.io/apimachinery/pkg/util/validation` (DNS
//! names, qualified names, label values), the path-segment name rule
//! (`api/validation/path`), and the `ObjectMeta` checks of
//! `api/validation/objectmeta.go` and `apis/meta/v1/validation` (labels,
//! annotations, owner references, finalizers, managed fields, immutable fields
//! on update). Messages and field paths are upstream's, word for word (v1.33).
//!
//! Does not own: decoding (a label value that is not a string is the decoder's
//! 400, not a validation error; such entries are skipped here), defaulting,
//! name generation from `generateName` (done before validation, so a missing
//! `metadata.name` is always an error here, as upstream), or per-kind rules.

use serde_json::{Map, Value};

use crate::status::{FieldError, FieldErrorKind};

/// `field is immutable`
pub const FIELD_IMMUTABLE_ERROR_MSG: &str = "field is immutable";

/// The total size of all annotation keys and values: 256 KiB.
pub const TOTAL_ANNOTATION_SIZE_LIMIT_B: usize = 256 * (1 << 10);

/// `must be greater than or equal to 0`
pub const IS_NEGATIVE_ERROR_MSG: &str = "must be greater than or equal to 0";

pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
pub const DNS1035_LABEL_MAX_LENGTH: usize = 63;
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
const FIELD_MANAGER_MAX_LENGTH: usize = 128;
const MAX_SUBRESOURCE_NAME_LENGTH: usize = 256;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// `must be no more than N characters`
pub fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// `must be non-empty`
pub fn empty_error() -> String {
    "must be non-empty".to_string()
}

/// Upstream's explanation of a failed pattern:
/// `<msg> (e.g. 'a' or 'b', regex used for validation is '<fmt>')`.
pub fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let examples: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!(
        "{msg} (e.g. {}regex used for validation is '{fmt}')",
        // Upstream appends " or " after "', ", hence the double space.
        examples.join(" or ")
    )
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            is_lower_alnum(first)
                && is_lower_alnum(last)
                && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// Labels joined by single dots.
fn matches_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(matches_dns1123_label)
}

/// `[a-z]([-a-z0-9]*[a-z0-9])?`
fn matches_dns1035_label(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            first.is_ascii_lowercase()
                && is_lower_alnum(last)
                && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn matches_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Resource names known without a domain (core's `standardResources`).
const STANDARD_RESOURCES: [&str; 20] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
    "storage",
    "requests.storage",
];

/// `IsStandardResourceName`: a resource the system knows, huge pages (and
/// their quota form) included.
pub fn is_standard_resource_name(name: &str) -> bool {
    STANDARD_RESOURCES.contains(&name)
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
}

/// `IsStandardContainerResourceName`: what a container may request.
pub fn is_standard_container_resource_name(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-")
}

/// A DNS label (RFC 1123): namespaces, and names of kinds that use it.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            // A valid subdomain but not a label: length was checked, so dots.
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// A DNS subdomain (RFC 1123): the name rule of most kinds.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// A DNS label (RFC 1035): must start with a letter (Service names).
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1035_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1035_LABEL_MAX_LENGTH));
    }
    if !matches_dns1035_label(value) {
        errs.push(regex_error(
            DNS1035_LABEL_ERR_MSG,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// A qualified name: an optional DNS subdomain prefix and `/`, then a name of
/// at most 63 characters. Label keys, annotation keys and finalizers use it.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push(format!("prefix part {}", empty_error()));
            } else {
                errs.extend(
                    is_dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_ERR_MSG,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push(format!("name part {}", empty_error()));
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errs.push(format!(
            "name part {}",
            max_len_error(QUALIFIED_NAME_MAX_LENGTH)
        ));
    }
    if !matches_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// A label value: empty, or a qualified name part of at most 63 characters.
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !matches_qualified_name_part(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// A name that only has to be usable as one URL path segment.
pub fn is_valid_path_segment_name(name: &str) -> Vec<String> {
    for illegal in [".", ".."] {
        if name == illegal {
            return vec![format!("may not be '{illegal}'")];
        }
    }
    is_valid_path_segment_prefix(name)
}

/// The prefix (`generateName`) form of [`is_valid_path_segment_name`].
pub fn is_valid_path_segment_prefix(name: &str) -> Vec<String> {
    ["/", "%"]
        .into_iter()
        .filter(|illegal| name.contains(illegal))
        .map(|illegal| format!("may not contain '{illegal}'"))
        .collect()
}

/// The rule a kind's `metadata.name` follows (`ValidateNameFunc` upstream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    Dns1123Subdomain,
    Dns1123Label,
    Dns1035Label,
    PathSegment,
}

impl NameRule {
    /// Validates a name, or with `prefix` a `generateName` prefix (which may end
    /// in `-`, since random characters follow it).
    pub fn validate(self, name: &str, prefix: bool) -> Vec<String> {
        match self {
            NameRule::PathSegment if prefix => is_valid_path_segment_prefix(name),
            NameRule::PathSegment => is_valid_path_segment_name(name),
            NameRule::Dns1123Subdomain => is_dns1123_subdomain(&masked(name, prefix)),
            NameRule::Dns1123Label => is_dns1123_label(&masked(name, prefix)),
            NameRule::Dns1035Label => is_dns1035_label(&masked(name, prefix)),
        }
    }
}

fn masked(name: &str, prefix: bool) -> String {
    if prefix {
        mask_trailing_dash(name)
    } else {
        name.to_string()
    }
}

/// Upstream's `maskTrailingDash`: a prefix ending in `-` is checked with its
/// last two bytes replaced by `a`. (Upstream drops the byte before the dash
/// too; kept for identical verdicts.)
pub fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1 && name.ends_with('-') {
        let cut = name.len() - 2;
        // Cutting inside a multi-byte character cannot yield a valid name
        // either way; fall back to dropping the whole character.
        let head = name.get(..cut).unwrap_or_else(|| {
            let mut end = cut;
            while !name.is_char_boundary(end) {
                end -= 1;
            }
            &name[..end]
        });
        format!("{head}a")
    } else {
        name.to_string()
    }
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// `field.TooLong` of v1.33: `Too long: may not be more than N bytes`.
///
/// `FieldError::too_long` in `status` words it as a later release does not
/// (`must have at most`), so build the error here with upstream's text.
fn too_long(field: String, max: usize) -> FieldError {
    FieldError {
        kind: FieldErrorKind::TooLong,
        field,
        value: None,
        detail: format!("may not be more than {max} bytes"),
    }
}

/// An Invalid error whose value is rendered by the caller (Go `%#v` forms).
fn invalid_rendered(field: String, rendered: String, detail: String) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Invalid,
        field,
        value: Some(rendered),
        detail,
    }
}

/// Go's `%#v` of a `[]string`: `[]string{"a", "b"}`.
pub(crate) fn go_string_slice(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

fn str_field<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

fn int_field(obj: &Value, key: &str) -> i64 {
    obj.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn string_list(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Errors for one label key (`ValidateLabelName`).
pub fn validate_label_name(name: &str, field_path: &str) -> Vec<FieldError> {
    is_qualified_name(name)
        .into_iter()
        .map(|m| FieldError::invalid(field_path, &Value::String(name.to_string()), m))
        .collect()
}

/// `metadata.labels`: keys are qualified names, values label values; all
/// errors are reported at the map's path, as upstream.
pub fn validate_labels(labels: &Map<String, Value>, field_path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in labels {
        errs.extend(validate_label_name(k, field_path));
        if let Some(v) = v.as_str() {
            for m in is_valid_label_value(v) {
                errs.push(FieldError::invalid(
                    field_path,
                    &Value::String(v.to_string()),
                    m,
                ));
            }
        }
    }
    errs
}

/// `metadata.annotations`: keys are qualified names once lowercased; keys and
/// values together at most 256 KiB.
pub fn validate_annotations(annotations: &Map<String, Value>, field_path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (k, v) in annotations {
        for m in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(
                field_path,
                &Value::String(k.clone()),
                m,
            ));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B {
        errs.push(too_long(
            field_path.to_string(),
            TOTAL_ANNOTATION_SIZE_LIMIT_B,
        ));
    }
    errs
}

/// Splits `apiVersion` as `schema.ParseGroupVersion`; `None` when malformed.
fn parse_group_version(api_version: &str) -> Option<(&str, &str)> {
    if api_version.is_empty() || api_version == "/" {
        return Some(("", ""));
    }
    match api_version.matches('/').count() {
        0 => Some(("", api_version)),
        1 => api_version.split_once('/'),
        _ => None,
    }
}

fn validate_owner_reference(owner: &Value, field_path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let api_version = str_field(owner, "apiVersion");
    let kind = str_field(owner, "kind");
    let (group, version) = parse_group_version(api_version).unwrap_or(("", ""));
    if version.is_empty() {
        errs.push(FieldError::invalid(
            child(field_path, "apiVersion"),
            &Value::String(api_version.to_string()),
            "version must not be empty",
        ));
    }
    if kind.is_empty() {
        errs.push(FieldError::invalid(
            child(field_path, "kind"),
            &Value::String(String::new()),
            "kind must not be empty",
        ));
    }
    for (key, what) in [("name", "name"), ("uid", "uid")] {
        let v = str_field(owner, key);
        if v.is_empty() {
            errs.push(FieldError::invalid(
                child(field_path, key),
                &Value::String(String::new()),
                format!("{what} must not be empty"),
            ));
        }
    }
    // kube-apiserver: BannedOwners, events may not own anything.
    if group.is_empty() && version == "v1" && kind == "Event" {
        // Upstream renders the whole reference with Go's %#v; JSON here.
        errs.push(invalid_rendered(
            field_path.to_string(),
            owner.to_string(),
            format!("{group}/{version}, Kind={kind} is disallowed from being an owner"),
        ));
    }
    errs
}

/// `metadata.ownerReferences`: required fields of each reference (reported
/// without an index, as upstream) and at most one controller.
pub fn validate_owner_references(refs: &[Value], field_path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    for r in refs {
        errs.extend(validate_owner_reference(r, field_path));
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{}/{}", str_field(r, "kind"), str_field(r, "name"));
            match &first_controller {
                Some(first) => errs.push(invalid_rendered(
                    field_path.to_string(),
                    // Upstream renders the list with Go's %#v; JSON here.
                    Value::Array(refs.to_vec()).to_string(),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

/// `metadata.finalizers`: qualified names, and not both `orphan` and
/// `foregroundDeletion`.
pub fn validate_finalizers(finalizers: &[&str], field_path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for f in finalizers {
        for m in is_qualified_name(f) {
            errs.push(FieldError::invalid(
                field_path,
                &Value::String(f.to_string()),
                m,
            ));
        }
    }
    if finalizers.contains(&"orphan") && finalizers.contains(&"foregroundDeletion") {
        errs.push(invalid_rendered(
            field_path.to_string(),
            go_string_slice(finalizers),
            "finalizer orphan and foregroundDeletion cannot be both set".to_string(),
        ));
    }
    errs
}

/// A deleting object may drop finalizers but not gain any.
pub fn validate_no_new_finalizers(new: &[&str], old: &[&str], field_path: &str) -> Vec<FieldError> {
    let mut extra: Vec<&str> = new.iter().copied().filter(|f| !old.contains(f)).collect();
    extra.sort_unstable();
    extra.dedup();
    if extra.is_empty() {
        return Vec::new();
    }
    vec![FieldError::forbidden(
        field_path,
        format!(
            "no new finalizers can be added if the object is being deleted, found new finalizers {}",
            go_string_slice(&extra)
        ),
    )]
}

/// `must be greater than or equal to 0`
pub fn validate_nonnegative_field(value: i64, field_path: &str) -> Vec<FieldError> {
    if value < 0 {
        vec![FieldError::invalid(
            field_path,
            &Value::from(value),
            IS_NEGATIVE_ERROR_MSG,
        )]
    } else {
        Vec::new()
    }
}

/// Go's `unicode.IsPrint`, near enough: graphic characters and ASCII space.
fn is_print(c: char) -> bool {
    c == ' '
        || !(c.is_control()
            || c.is_whitespace()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}'))
}

/// A field manager name: at most 128 bytes, printable characters only.
pub fn validate_field_manager(manager: &str, field_path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if manager.len() > FIELD_MANAGER_MAX_LENGTH {
        errs.push(too_long(field_path.to_string(), FIELD_MANAGER_MAX_LENGTH));
    }
    for (i, c) in manager.char_indices() {
        if !is_print(c) {
            errs.push(FieldError::invalid(
                field_path,
                &Value::String(manager.to_string()),
                format!("invalid character U+{:04X} (at position {i})", c as u32),
            ));
        }
    }
    errs
}

/// `metadata.managedFields`: operation, fieldsType, manager, subresource.
pub fn validate_managed_fields(entries: &[Value], field_path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let p = index(field_path, i);
        let operation = str_field(e, "operation");
        if operation != "Apply" && operation != "Update" {
            errs.push(FieldError::invalid(
                child(&p, "operation"),
                &Value::String(operation.to_string()),
                "must be `Apply` or `Update`",
            ));
        }
        let fields_type = str_field(e, "fieldsType");
        if !fields_type.is_empty() && fields_type != "FieldsV1" {
            errs.push(FieldError::invalid(
                child(&p, "fieldsType"),
                &Value::String(fields_type.to_string()),
                "must be `FieldsV1`",
            ));
        }
        errs.extend(validate_field_manager(
            str_field(e, "manager"),
            &child(&p, "manager"),
        ));
        if str_field(e, "subresource").len() > MAX_SUBRESOURCE_NAME_LENGTH {
            errs.push(too_long(
                child(&p, "subresource"),
                MAX_SUBRESOURCE_NAME_LENGTH,
            ));
        }
    }
    errs
}

fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

fn map_field<'a>(meta: &'a Value, key: &str) -> &'a Map<String, Value> {
    meta.get(key)
        .and_then(Value::as_object)
        .unwrap_or_else(|| empty_map())
}

fn array_field<'a>(meta: &'a Value, key: &str) -> &'a [Value] {
    meta.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `ValidateObjectMeta`: the checks every kind's create runs on `metadata`.
///
/// `meta` is the `metadata` object; `field_path` is usually `metadata`.
pub fn validate_object_meta(
    meta: &Value,
    namespaced: bool,
    name_rule: NameRule,
    field_path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let generate_name = str_field(meta, "generateName");
    if !generate_name.is_empty() {
        for m in name_rule.validate(generate_name, true) {
            errs.push(FieldError::invalid(
                child(field_path, "generateName"),
                &Value::String(generate_name.to_string()),
                m,
            ));
        }
    }
    let name = str_field(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            child(field_path, "name"),
            "name or generateName is required",
        ));
    } else {
        for m in name_rule.validate(name, false) {
            errs.push(FieldError::invalid(
                child(field_path, "name"),
                &Value::String(name.to_string()),
                m,
            ));
        }
    }
    let namespace = str_field(meta, "namespace");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(child(field_path, "namespace"), ""));
        } else {
            for m in NameRule::Dns1123Label.validate(namespace, false) {
                errs.push(FieldError::invalid(
                    child(field_path, "namespace"),
                    &Value::String(namespace.to_string()),
                    m,
                ));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            child(field_path, "namespace"),
            "not allowed on this type",
        ));
    }
    errs.extend(common_meta_checks(meta, field_path, true));
    errs
}

/// Labels, annotations, owner references, (finalizers,) managed fields: shared
/// by create and update. Update does not re-check finalizer names upstream.
fn common_meta_checks(meta: &Value, field_path: &str, create: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if create {
        errs.extend(validate_nonnegative_field(
            int_field(meta, "generation"),
            &child(field_path, "generation"),
        ));
    }
    errs.extend(validate_labels(
        map_field(meta, "labels"),
        &child(field_path, "labels"),
    ));
    errs.extend(validate_annotations(
        map_field(meta, "annotations"),
        &child(field_path, "annotations"),
    ));
    errs.extend(validate_owner_references(
        array_field(meta, "ownerReferences"),
        &child(field_path, "ownerReferences"),
    ));
    if create {
        errs.extend(validate_finalizers(
            &string_list(meta.get("finalizers")),
            &child(field_path, "finalizers"),
        ));
    }
    errs.extend(validate_managed_fields(
        array_field(meta, "managedFields"),
        &child(field_path, "managedFields"),
    ));
    errs
}

/// Go's `time.Time.String()` of a UTC instant, as metav1.Time prints in an
/// Invalid value; the zero time when absent.
fn render_time(v: Option<&Value>) -> String {
    let Some(s) = v.and_then(Value::as_str) else {
        return "0001-01-01 00:00:00 +0000 UTC".to_string();
    };
    match time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000 UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
        Err(_) => s.to_string(),
    }
}

fn same_time(a: Option<&Value>, b: Option<&Value>) -> bool {
    let parse = |v: Option<&Value>| {
        v.and_then(Value::as_str).map(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(|t| t.unix_timestamp())
                .map_err(|_| s.to_string())
        })
    };
    parse(a) == parse(b)
}

/// `field is immutable` when `new != old`; `value` is what to show.
fn immutable(field_path: String, changed: bool, value: String) -> Option<FieldError> {
    changed.then(|| invalid_rendered(field_path, value, FIELD_IMMUTABLE_ERROR_MSG.to_string()))
}

/// An Invalid `field is immutable` error when `new` differs from `old`.
pub fn validate_immutable_field(new: &Value, old: &Value, field_path: &str) -> Vec<FieldError> {
    if new == old {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            field_path,
            new,
            FIELD_IMMUTABLE_ERROR_MSG,
        )]
    }
}

/// `ValidateObjectMetaUpdate`: what an update may not do to `metadata`.
///
/// Immutable: name, namespace, uid, creationTimestamp, deletionTimestamp,
/// deletionGracePeriodSeconds (generateName is not checked upstream).
/// resourceVersion must be set, generation may not go down, and a deleting
/// object may not gain finalizers. Run it after the server copied the system
/// fields the client may omit (uid, creationTimestamp) from the old object.
pub fn validate_object_meta_update(new: &Value, old: &Value, field_path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let deleting = old.get("deletionTimestamp").is_some_and(|v| !v.is_null());
    if deleting {
        errs.extend(validate_no_new_finalizers(
            &string_list(new.get("finalizers")),
            &string_list(old.get("finalizers")),
            &child(field_path, "finalizers"),
        ));
    }
    if str_field(new, "resourceVersion").is_empty() {
        errs.push(FieldError::invalid(
            child(field_path, "resourceVersion"),
            &Value::String(String::new()),
            "must be specified for an update",
        ));
    }
    let (new_gen, old_gen) = (int_field(new, "generation"), int_field(old, "generation"));
    if new_gen < old_gen {
        errs.push(FieldError::invalid(
            child(field_path, "generation"),
            &Value::from(new_gen),
            "must not be decremented",
        ));
    }
    for key in ["name", "namespace", "uid"] {
        let (n, o) = (str_field(new, key), str_field(old, key));
        errs.extend(immutable(child(field_path, key), n != o, format!("{n:?}")));
    }
    for key in ["creationTimestamp", "deletionTimestamp"] {
        let (n, o) = (
            new.get(key).filter(|v| !v.is_null()),
            old.get(key).filter(|v| !v.is_null()),
        );
        // Go renders a nil pointer as the string "null", quoted.
        let shown = if key == "deletionTimestamp" && n.is_none() {
            "\"null\"".to_string()
        } else {
            render_time(n)
        };
        errs.extend(immutable(child(field_path, key), !same_time(n, o), shown));
    }
    let grace = |m: &Value| m.get("deletionGracePeriodSeconds").and_then(Value::as_i64);
    let (n, o) = (grace(new), grace(old));
    errs.extend(immutable(
        child(field_path, "deletionGracePeriodSeconds"),
        n != o,
        n.map_or_else(|| "\"null\"".to_string(), |v| v.to_string()),
    ));
    errs.extend(common_meta_checks(new, field_path, false));
    errs
}

#[cfg(test)]
mod tests;

/// `IsConfigMapKey`: keys of ConfigMap and Secret data.
pub fn is_config_map_key(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > 253 {
        errs.push(max_len_error(253));
    }
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        errs.push(regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "[-._a-zA-Z0-9]+",
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if key == "." {
        errs.push("must not be '.'".to_string());
    } else if key == ".." {
        errs.push("must not be '..'".to_string());
    } else if key.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}
