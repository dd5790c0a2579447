//! Strategic merge patch (`application/strategic-merge-patch+json`), as
//! kube-apiserver applies it and as kubectl computes it.
//!
//! Owns: applying a patch to an object ([`apply`]), computing two-way and
//! three-way patches ([`create_two_way_merge_patch`],
//! [`create_three_way_merge_patch`]), and the patch metadata of the built-in
//! types ([`patch_meta`], generated from the upstream OpenAPI definitions).
//! Does not own: decoding the request body, defaulting or validating the
//! result, JSON patch or JSON merge patch.
//!
//! The behaviour follows upstream's `apimachinery/pkg/util/strategicpatch`
//! (`patch.go`) and the spec `docs/devel/strategic-merge-patch.md`: maps merge
//! recursively and `null` deletes a key; lists whose field has the `merge`
//! strategy merge element-wise by the merge key (lists of primitives become a
//! union); other lists are replaced; the directives `$patch`
//! (`replace`/`delete`), `$retainKeys`, `$deleteFromPrimitiveList/<field>` and
//! `$setElementOrder/<field>` do what upstream does, in the same order, with
//! the same error messages. Where Go iterates a map in random order we take
//! the patch's order. Kinds and fields without metadata (custom resources)
//! behave as in upstream for an unknown field: maps merge, lists are replaced.

mod diff;
mod gofmt;
mod order;
pub mod schema;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use crate::Status;
use schema::Schema;
pub use schema::{FieldKind, FieldMeta, ListType, Strategy};

pub use diff::{create_three_way_merge_patch, create_two_way_merge_patch};

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

/// Why a strategic merge patch could not be applied or computed. The
/// messages are upstream's, word for word (Go's `%v` rendering of values).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// `mergepatch.ErrBadJSONDoc`.
    #[error("invalid JSON document")]
    BadJsonDoc,
    /// The request body is JSON but not an object (kube-apiserver's decode
    /// into `map[string]interface{}` fails).
    #[error("json: cannot unmarshal {found} into Go value of type map[string]interface {{}}")]
    NotAnObject { found: &'static str },
    /// `mergepatch.ErrNoListOfLists`.
    #[error("lists of lists are not supported")]
    NoListOfLists,
    /// `mergepatch.ErrBadPatchFormatForPrimitiveList`.
    #[error("invalid patch format of primitive list")]
    BadPatchFormatForPrimitiveList,
    /// `mergepatch.ErrBadPatchFormatForRetainKeys`.
    #[error("invalid patch format of retainKeys")]
    BadPatchFormatForRetainKeys,
    /// `mergepatch.ErrBadPatchFormatForSetElementOrderList`.
    #[error("invalid patch format of setElementOrder list")]
    BadPatchFormatForSetElementOrderList,
    /// `mergepatch.ErrNoMergeKey`: a list element lacks the merge key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey { map: String, key: String },
    /// `mergepatch.ErrBadArgType`: a value of the wrong JSON type.
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType {
        expected: &'static str,
        actual: String,
    },
    /// `mergepatch.ErrBadPatchType`: a `$patch` value other than
    /// `replace`/`delete` on a map, or an unknown one in a list.
    #[error("unknown patch type: {directive} in map: {map}")]
    BadPatchType { directive: String, map: String },
    /// `$patch: merge` inside a list.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    /// A list with the merge strategy holds objects but has no merge key.
    #[error("cannot merge lists without merge key for {0}")]
    NoMergeKeyDeclared(&'static str),
    /// The elements of the lists being merged have different JSON types.
    #[error("list element types are not identical: {0}")]
    MixedListElementTypes(String),
    /// Both lists being ordered are empty.
    #[error("no elements in any of the given slices")]
    NoElements,
    /// A list being searched by merge key holds something else than objects.
    #[error("value for key {0} is not a map.")]
    ElementNotAMap(usize),
    /// The patch list's order contradicts its `$setElementOrder` list.
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    SetElementOrderMismatch { patch: String, order: String },
    /// Two patches being combined carry different `$retainKeys` lists.
    #[error(
        "{0} and {1} are not deep equal: this may happen when calculating the 3-way diff patch"
    )]
    RetainKeysNotEqual(String, String),
    /// `$patch` in an object being diffed is not a string.
    #[error("invalid value for special key: $patch")]
    BadDirectiveValue,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The `metav1.Status` kube-apiserver answers a PATCH with for this error
    /// (`handlers/patch.go`, `interpretStrategicMergePatchError`): the
    /// malformed-patch errors are 400 BadRequest, lists of lists 422 Invalid
    /// (with upstream's generic message), and every other error reaches the
    /// client unconverted: 500 with an empty reason and the bare message.
    pub fn to_status(&self) -> Status {
        match self {
            Error::BadJsonDoc
            | Error::NotAnObject { .. }
            | Error::BadPatchFormatForPrimitiveList
            | Error::BadPatchFormatForRetainKeys
            | Error::BadPatchFormatForSetElementOrderList => Status::bad_request(self.to_string()),
            Error::NoListOfLists => {
                // NewGenericServerResponse(422, ...) drops the server message.
                let mut s = Status::unprocessable(
                    "the server rejected our request due to an error in our request",
                );
                s.details = Some(Box::new(Value::Object(Map::new())));
                s
            }
            _ => Status {
                code: 500,
                reason: "",
                message: self.to_string(),
                details: None,
                retry_after: None,
            },
        }
    }
}

/// Options of upstream's `mergeMap`.
#[derive(Clone, Copy, Debug)]
struct MergeOptions {
    /// Apply `$deleteFromPrimitiveList` and `$retainKeys` (server side);
    /// otherwise keep them, as when two patches are combined.
    merge_parallel_list: bool,
    /// Drop `null`s instead of keeping them in the result.
    ignore_unmatched_nulls: bool,
}

const SERVER_SIDE: MergeOptions = MergeOptions {
    merge_parallel_list: true,
    ignore_unmatched_nulls: true,
};

/// Applies a strategic merge patch to `original`, an object of built-in
/// `kind` in `group` (`""` for the core group), at the kind's preferred
/// version. Unknown kinds get no metadata: their lists are replaced.
pub fn apply(group: &str, kind: &str, original: &Value, patch: &Value) -> Result<Value> {
    apply_with_schema(Schema::for_kind(group, kind), original, patch)
}

/// [`apply`] for a kind at a given version, whose metadata may differ from
/// the preferred version's (e.g. `autoscaling/v1` and `v2`).
pub fn apply_at_version(
    group: &str,
    version: &str,
    kind: &str,
    original: &Value,
    patch: &Value,
) -> Result<Value> {
    let schema = schema::root_at(group, version, kind)
        .or_else(|| schema::root(group, kind))
        .map_or(Schema::Unknown, Schema::Struct);
    apply_with_schema(schema, original, patch)
}

fn apply_with_schema(schema: Schema, original: &Value, patch: &Value) -> Result<Value> {
    let original = as_object(original)?;
    let patch = as_object(patch)?;
    merge_map(original, patch, schema, SERVER_SIDE).map(Value::Object)
}

/// A request body as kube-apiserver decodes it into a Go map: `null` is an
/// empty map, anything but an object is a decoding error.
fn as_object(v: &Value) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m.clone()),
        Value::Null => Ok(Map::new()),
        Value::Array(_) => Err(Error::NotAnObject { found: "array" }),
        Value::String(_) => Err(Error::NotAnObject { found: "string" }),
        Value::Number(_) => Err(Error::NotAnObject { found: "number" }),
        Value::Bool(_) => Err(Error::NotAnObject { found: "bool" }),
    }
}

/// The patch metadata of the field at `path` in a built-in kind, e.g.
/// `patch_meta("apps", "Deployment", &["spec", "template", "spec", "containers"])`.
/// List elements are stepped through implicitly; a map key is one segment.
pub fn patch_meta(group: &str, kind: &str, path: &[&str]) -> Option<FieldMeta> {
    schema::field_at(schema::root(group, kind)?, path)
}

/// Every built-in (group, version, kind) with patch metadata.
pub fn known_kinds() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    schema::roots()
}

/// The patch metadata of the field at `path` in the named definition (e.g.
/// `io.k8s.api.core.v1.PodSpec`).
pub fn patch_meta_of_type(type_name: &str, path: &[&str]) -> Option<FieldMeta> {
    schema::field_at(schema::type_named(type_name)?, path)
}

/// The JSON type of a value as Go's `reflect.TypeOf` tells them apart after
/// kube-apiserver's decoding (integers stay `int64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GoType {
    Nil,
    Bool,
    Int,
    Float,
    String,
    Slice,
    Map,
}

fn go_type(v: &Value) -> GoType {
    match v {
        Value::Null => GoType::Nil,
        Value::Bool(_) => GoType::Bool,
        Value::Number(n) if n.is_f64() => GoType::Float,
        Value::Number(_) => GoType::Int,
        Value::String(_) => GoType::String,
        Value::Array(_) => GoType::Slice,
        Value::Object(_) => GoType::Map,
    }
}

const GO_MAP: &str = "map[string]interface {}";
const GO_SLICE: &str = "[]interface {}";

fn bad_arg_type(expected: &'static str, actual: &Value) -> Error {
    Error::BadArgType {
        expected,
        actual: gofmt::type_name(actual).to_string(),
    }
}

fn no_merge_key(m: &Map<String, Value>, key: &str) -> Error {
    Error::NoMergeKey {
        map: gofmt::map(m),
        key: key.to_string(),
    }
}

fn bad_patch_type(directive: &Value, m: &Map<String, Value>) -> Error {
    Error::BadPatchType {
        directive: gofmt::percent_s(directive),
        map: gofmt::map(m),
    }
}

fn is_directive(v: &Value, directive: &str) -> bool {
    v.as_str() == Some(directive)
}

/// Upstream's `mergeMap`: merges `patch` into `original`.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Schema,
    opts: MergeOptions,
) -> Result<Map<String, Value>> {
    if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
        if is_directive(directive, REPLACE_DIRECTIVE) {
            // Not merged: the patch (without the marker) is the result.
            patch.shift_remove(DIRECTIVE_MARKER);
            return Ok(patch);
        }
        if is_directive(directive, DELETE_DIRECTIVE) {
            return Ok(Map::new());
        }
        return Err(bad_patch_type(directive, &patch));
    }

    apply_retain_keys_directive(&mut original, &mut patch, opts)?;
    merge_patch_into_original(&mut original, &mut patch, schema, opts)?;

    for (key, patch_v) in patch {
        let mut key = key;
        let mut is_delete_list = false;
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            if !opts.merge_parallel_list {
                // Combining patches: keep the deletion list for the server.
                original.insert(key, patch_v);
                continue;
            }
            key = extract_key(&key, DELETE_FROM_PRIMITIVE_LIST_PREFIX)?.to_string();
            is_delete_list = true;
        }

        if patch_v.is_null() {
            original.shift_remove(&key);
            if opts.ignore_unmatched_nulls {
                continue;
            }
        }

        let Some(original_v) = original.get_mut(&key) else {
            if !is_delete_list {
                insert_new_value(&mut original, key, patch_v, opts);
            }
            continue;
        };
        if go_type(original_v) != go_type(&patch_v) {
            if !is_delete_list {
                insert_new_value(&mut original, key, patch_v, opts);
            }
            continue;
        }
        match patch_v {
            Value::Object(patch_map) => {
                let meta = schema.lookup(&key);
                let Value::Object(original_map) = std::mem::take(original_v) else {
                    unreachable!("types compared equal above")
                };
                *original_v = Value::Object(if meta.strategy.base() == Strategy::Replace {
                    patch_map
                } else {
                    merge_map(original_map, patch_map, meta.schema, opts)?
                });
            }
            Value::Array(patch_list) => {
                let meta = schema.lookup(&key);
                let Value::Array(original_list) = std::mem::take(original_v) else {
                    unreachable!("types compared equal above")
                };
                *original_v = Value::Array(merge_slice_handler(
                    original_list,
                    patch_list,
                    meta,
                    is_delete_list,
                    opts,
                )?);
            }
            scalar => *original_v = scalar,
        }
    }
    Ok(original)
}

/// A patch value for a key the original lacks (or holds with another type):
/// taken as is, without its nulls (server side) and its directives.
fn insert_new_value(
    original: &mut Map<String, Value>,
    key: String,
    mut value: Value,
    opts: MergeOptions,
) {
    if opts.ignore_unmatched_nulls {
        discard_null_values(&mut value);
    }
    match remove_directives(value) {
        Some(v) => {
            original.insert(key, v);
        }
        None => {
            original.shift_remove(&key);
        }
    }
}

/// Upstream's `discardNullValuesFromPatch`.
fn discard_null_values(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_null_values);
        }
        Value::Array(a) => a.iter_mut().for_each(discard_null_values),
        _ => {}
    }
}

/// Upstream's `removeDirectives`: `None` when the value itself is a
/// directive (an object with `$patch`) and must be dropped.
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            let cleaned = m
                .into_iter()
                .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                .collect();
            Some(Value::Object(cleaned))
        }
        Value::Array(a) => Some(Value::Array(
            a.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// Upstream's `extractKey`: the field name after `<prefix>/`.
fn extract_key<'a>(s: &'a str, prefix: &str) -> Result<&'a str> {
    match s.split_once('/') {
        Some((head, tail)) if head == prefix => Ok(tail),
        _ => Err(if prefix == DELETE_FROM_PRIMITIVE_LIST_PREFIX {
            Error::BadPatchFormatForPrimitiveList
        } else {
            Error::BadPatchFormatForSetElementOrderList
        }),
    }
}

/// Upstream's `applyRetainKeysDirective`: clears the keys of `original` that
/// `$retainKeys` does not list, after checking the patch only sets listed keys.
fn apply_retain_keys_directive(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    opts: MergeOptions,
) -> Result<()> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    if !opts.merge_parallel_list {
        // Combining patches: both must agree, the result keeps the list.
        match original.get(RETAIN_KEYS_DIRECTIVE) {
            Some(existing) if *existing != retain => {
                return Err(Error::RetainKeysNotEqual(
                    gofmt::value(existing),
                    gofmt::value(&retain),
                ));
            }
            Some(_) => {}
            None => {
                original.insert(RETAIN_KEYS_DIRECTIVE.to_string(), retain);
            }
        }
        return Ok(());
    }
    let Value::Array(list) = retain else {
        return Err(Error::BadPatchFormatForRetainKeys);
    };
    let retained = |k: &str| list.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            || k.starts_with(SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !retained(k) {
            return Err(Error::BadPatchFormatForRetainKeys);
        }
    }
    original.retain(|k, _| retained(k));
    Ok(())
}

/// Upstream's `mergePatchIntoOriginal`: merges each list that has a
/// `$setElementOrder/<field>` directive and orders the result by it. The
/// precedence is `$setElementOrder`, then the patch's order, then the live
/// object's order.
fn merge_patch_into_original(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: Schema,
    opts: MergeOptions,
) -> Result<()> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    for key in keys {
        let Some(set_order) = patch.shift_remove(&key) else {
            continue;
        };
        if !opts.merge_parallel_list {
            match original.get(&key) {
                Some(existing) if *existing != set_order => {
                    return Err(Error::BadPatchFormatForSetElementOrderList);
                }
                Some(_) => {}
                None => {
                    original.insert(key.clone(), set_order.clone());
                }
            }
        }
        let Value::Array(set_order) = set_order else {
            return Err(bad_arg_type(GO_SLICE, &set_order));
        };
        let field = extract_key(&key, SET_ELEMENT_ORDER_PREFIX)?.to_string();
        let original_list = match original.get(&field) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(bad_arg_type(GO_SLICE, other)),
        };
        let patch_list = match patch.get(&field) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(bad_arg_type(GO_SLICE, other)),
        };
        let meta = schema.lookup(&field);
        let merge_key = meta.merge_key;
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or_default(),
            &set_order,
            merge_key,
        )?;

        let merged = match (&original_list, &patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => match remove_directives(Value::Array(p.clone())) {
                Some(Value::Array(a)) => a,
                _ => continue,
            },
            (Some(o), Some(p)) => merge_slice_handler(o.clone(), p.clone(), meta, false, opts)?,
            (None, None) => continue,
        };

        let (patch_items, server_only) = if merge_key.is_empty() {
            partition_primitives(merged, &set_order)
        } else {
            partition_maps(merged, &set_order, merge_key)?
        };
        let original_list = original_list.unwrap_or_default();
        let kind =
            slice_element_type(&[&original_list, patch_list.as_deref().unwrap_or_default()])?;
        let both = order::normalize_element_order(
            patch_items,
            server_only,
            &set_order,
            &original_list,
            merge_key,
            kind,
        )?;
        original.insert(field.clone(), Value::Array(both));
        patch.shift_remove(&field);
    }
    Ok(())
}

/// Upstream's `validatePatchWithSetOrderList`: the patch list's items (other
/// than deletions) must appear in `$setElementOrder` in the same order.
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    set_order: &[Value],
    merge_key: &str,
) -> Result<()> {
    if set_order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete: Vec<&Value> = if merge_key.is_empty() {
        patch_list.iter().collect()
    } else {
        let mut kept = Vec::new();
        for v in patch_list {
            let Value::Object(m) = v else {
                return Err(bad_arg_type(GO_MAP, v));
            };
            if !m
                .get(DIRECTIVE_MARKER)
                .is_some_and(|d| is_directive(d, DELETE_DIRECTIVE))
            {
                kept.push(v);
            }
        }
        kept
    };
    let (mut pi, mut si) = (0, 0);
    while pi < non_delete.len() && si < set_order.len() {
        if contains_directive_marker(non_delete[pi]) {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(non_delete[pi], &set_order[si], merge_key)? {
            pi += 1;
        }
        si += 1;
    }
    if pi < non_delete.len() && si >= set_order.len() {
        return Err(Error::SetElementOrderMismatch {
            patch: gofmt::list(patch_list),
            order: gofmt::list(set_order),
        });
    }
    Ok(())
}

fn contains_directive_marker(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.contains_key(DIRECTIVE_MARKER))
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let Value::Object(l) = left else {
        return Err(bad_arg_type(GO_MAP, left));
    };
    let Value::Object(r) = right else {
        return Err(bad_arg_type(GO_MAP, right));
    };
    let lv = l.get(merge_key).ok_or_else(|| no_merge_key(l, merge_key))?;
    let rv = r.get(merge_key).ok_or_else(|| no_merge_key(r, merge_key))?;
    Ok(lv == rv)
}

/// Upstream's `mergeSliceHandler`: merge-strategy lists (and deletion lists)
/// merge, every other list is replaced by the patch's, as is.
fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: schema::Lookup,
    is_delete_list: bool,
    opts: MergeOptions,
) -> Result<Vec<Value>> {
    if meta.strategy.base() == Strategy::Merge || is_delete_list {
        merge_slice(
            original,
            patch,
            meta.schema,
            meta.merge_key,
            opts,
            is_delete_list,
        )
    } else {
        Ok(patch)
    }
}

/// Upstream's `mergeSlice`.
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    merge_key: &str,
    opts: MergeOptions,
    is_delete_list: bool,
) -> Result<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = slice_element_type(&[&original, &patch])?;
    let (original, patch, merged) = if kind != GoType::Map {
        if opts.merge_parallel_list && is_delete_list {
            return Ok(original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect());
        }
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        (original, patch, dedup_scalars(both))
    } else {
        if merge_key.is_empty() {
            return Err(Error::NoMergeKeyDeclared(schema.go_kind()));
        }
        let (original, patch) = merge_slice_with_special_elements(original, patch, merge_key)?;
        let merged = merge_slice_without_special_elements(
            original.clone(),
            &patch,
            merge_key,
            schema,
            opts,
        )?;
        (original, patch, merged)
    };

    let (patch_items, server_only) = if merge_key.is_empty() {
        partition_primitives(merged, &patch)
    } else {
        partition_maps(merged, &patch, merge_key)?
    };
    order::normalize_element_order(patch_items, server_only, &patch, &original, merge_key, kind)
}

/// Upstream's `mergeSliceWithSpecialElements`: applies the `$patch` elements
/// of a list of maps. Returns the new original and the patch without them.
fn merge_slice_with_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for v in patch {
        let Value::Object(m) = &v else {
            return Err(bad_arg_type(GO_MAP, &v));
        };
        let Some(directive) = m.get(DIRECTIVE_MARKER) else {
            plain.push(v);
            continue;
        };
        if is_directive(directive, DELETE_DIRECTIVE) {
            let value = m.get(merge_key).ok_or_else(|| no_merge_key(m, merge_key))?;
            original = delete_matching_entries(original, merge_key, value)?;
        } else if is_directive(directive, REPLACE_DIRECTIVE) {
            // Keep going: the other `$patch` elements are dropped too.
            replace = true;
        } else if is_directive(directive, MERGE_DIRECTIVE) {
            return Err(Error::MergeDirectiveInList);
        } else {
            return Err(bad_patch_type(directive, m));
        }
    }
    if replace {
        Ok((plain, Vec::new()))
    } else {
        Ok((original, plain))
    }
}

fn delete_matching_entries(
    mut original: Vec<Value>,
    merge_key: &str,
    value: &Value,
) -> Result<Vec<Value>> {
    while let Some(i) = find_map_in_slice(&original, merge_key, value)? {
        original.remove(i);
    }
    Ok(original)
}

/// Upstream's `mergeSliceWithoutSpecialElements`: merges each patch element
/// into the original element with the same merge key, or appends it.
fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    schema: Schema,
    opts: MergeOptions,
) -> Result<Vec<Value>> {
    for v in patch {
        let Value::Object(m) = v else {
            return Err(bad_arg_type(GO_MAP, v));
        };
        let value = m.get(merge_key).ok_or_else(|| no_merge_key(m, merge_key))?;
        match find_map_in_slice(&original, merge_key, value)? {
            Some(i) => {
                let Value::Object(existing) = std::mem::take(&mut original[i]) else {
                    unreachable!("find_map_in_slice only matches maps")
                };
                original[i] = Value::Object(merge_map(existing, m.clone(), schema, opts)?);
            }
            None => original.push(v.clone()),
        }
    }
    Ok(original)
}

/// Upstream's `findMapInSliceBasedOnKeyValue`.
fn find_map_in_slice(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>> {
    for (i, v) in list.iter().enumerate() {
        let Value::Object(m) = v else {
            return Err(Error::ElementNotAMap(i));
        };
        if m.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Upstream's `sliceElementType`: the one Go type of all elements.
fn slice_element_type(slices: &[&[Value]]) -> Result<GoType> {
    let mut prev: Option<GoType> = None;
    for v in slices.iter().flat_map(|s| s.iter()) {
        let t = go_type(v);
        match prev {
            None => {
                if t == GoType::Slice {
                    return Err(Error::NoListOfLists);
                }
                prev = Some(t);
            }
            Some(p) if p != t => {
                let all: Vec<Value> = slices.iter().map(|s| Value::Array(s.to_vec())).collect();
                return Err(Error::MixedListElementTypes(gofmt::list(&all)));
            }
            Some(_) => {}
        }
    }
    prev.ok_or(Error::NoElements)
}

/// Upstream's `deduplicateScalars`, including the order it leaves: a
/// duplicate is overwritten by the last element.
fn dedup_scalars(mut s: Vec<Value>) -> Vec<Value> {
    let mut i = 0;
    while i + 1 < s.len() {
        let mut j = i + 1;
        while j < s.len() {
            if s[i] == s[j] {
                let last = s.len() - 1;
                s.swap(j, last);
                s.truncate(last);
            } else {
                j += 1;
            }
        }
        i += 1;
    }
    s
}

/// Upstream's `partitionPrimitivesByPresentInList`.
fn partition_primitives(list: Vec<Value>, by: &[Value]) -> (Vec<Value>, Vec<Value>) {
    list.into_iter().partition(|v| by.contains(v))
}

/// Upstream's `partitionMapsByPresentInList`.
fn partition_maps(
    list: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut inside = Vec::with_capacity(list.len());
    let mut outside = Vec::with_capacity(list.len());
    for v in list {
        let Value::Object(m) = &v else {
            return Err(bad_arg_type(GO_MAP, &v));
        };
        let value = m.get(merge_key).ok_or_else(|| no_merge_key(m, merge_key))?;
        if find_map_in_slice(by, merge_key, value)?.is_some() {
            inside.push(v);
        } else {
            outside.push(v);
        }
    }
    Ok((inside, outside))
}
