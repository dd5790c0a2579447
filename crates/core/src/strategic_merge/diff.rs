//! Computing strategic merge patches, as kubectl does (upstream's
//! `CreateTwoWayMergePatch` and `CreateThreeWayMergePatch` with `diffMaps`).

use serde_json::{Map, Value};

use super::schema::{Lookup, Schema};
use super::{
    DELETE_DIRECTIVE, DELETE_FROM_PRIMITIVE_LIST_PREFIX, DIRECTIVE_MARKER, Error, GO_MAP, GoType,
    MergeOptions, RETAIN_KEYS_DIRECTIVE, Result, SET_ELEMENT_ORDER_PREFIX, Strategy, bad_arg_type,
    dedup_scalars, gofmt, merge_key_value_equal, merge_map, no_merge_key, order,
    slice_element_type,
};

/// Upstream's `DiffOptions`.
#[derive(Clone, Copy, Debug, Default)]
struct DiffOptions {
    /// Emit `$setElementOrder/<field>` lists.
    set_element_order: bool,
    /// Leave out changes and additions.
    ignore_changes_and_additions: bool,
    /// Leave out deletions.
    ignore_deletions: bool,
    /// Emit `$retainKeys` (the map's field has the retainKeys strategy).
    build_retain_keys_directive: bool,
}

/// The patch that turns `original` into `modified` (kubectl's two-way
/// patch, e.g. for `kubectl edit`).
pub fn create_two_way_merge_patch(
    group: &str,
    kind: &str,
    original: &Value,
    modified: &Value,
) -> Result<Value> {
    let original = document(original)?;
    let modified = document(modified)?;
    let opts = DiffOptions {
        set_element_order: true,
        ..DiffOptions::default()
    };
    diff_maps(&original, &modified, Schema::for_kind(group, kind), opts).map(Value::Object)
}

/// The patch `kubectl apply` sends: the changes from `current` (the live
/// object) to `modified` (the new configuration) without deletions, plus the
/// deletions from `original` (the last applied configuration) to `modified`.
/// As kubectl's default `--overwrite=true`, conflicts with changes made to
/// the live object since are not reported.
pub fn create_three_way_merge_patch(
    group: &str,
    kind: &str,
    original: &Value,
    modified: &Value,
    current: &Value,
) -> Result<Value> {
    let schema = Schema::for_kind(group, kind);
    let original = document(original)?;
    let modified = document(modified)?;
    let current = document(current)?;
    let delta = diff_maps(
        &current,
        &modified,
        schema,
        DiffOptions {
            ignore_deletions: true,
            set_element_order: true,
            ..DiffOptions::default()
        },
    )?;
    let deletions = diff_maps(
        &original,
        &modified,
        schema,
        DiffOptions {
            set_element_order: true,
            ignore_changes_and_additions: true,
            ..DiffOptions::default()
        },
    )?;
    // Combining two patches: directives and nulls are kept for the server.
    let opts = MergeOptions {
        merge_parallel_list: false,
        ignore_unmatched_nulls: false,
    };
    merge_map(deletions, delta, schema, opts).map(Value::Object)
}

/// A document as kubectl decodes it: empty (`null`) is `{}`.
fn document(v: &Value) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m.clone()),
        Value::Null => Ok(Map::new()),
        _ => Err(Error::BadJsonDoc),
    }
}

/// Upstream's `diffMaps`: the (recursive) patch that turns `original` into
/// `modified`.
fn diff_maps(
    original: &Map<String, Value>,
    modified: &Map<String, Value>,
    schema: Schema,
    opts: DiffOptions,
) -> Result<Map<String, Value>> {
    let mut patch = Map::new();
    let mut retain_keys = Vec::new();
    for (key, modified_v) in modified {
        if opts.build_retain_keys_directive && !modified_v.is_null() {
            retain_keys.push(Value::String(key.clone()));
        }
        let Some(original_v) = original.get(key) else {
            if !opts.ignore_changes_and_additions {
                patch.insert(key.clone(), modified_v.clone());
            }
            continue;
        };
        if key == DIRECTIVE_MARKER {
            let (Value::String(o), Value::String(m)) = (original_v, modified_v) else {
                return Err(Error::BadDirectiveValue);
            };
            if o != m {
                patch.insert(key.clone(), modified_v.clone());
            }
            continue;
        }
        if super::go_type(original_v) != super::go_type(modified_v) {
            if !opts.ignore_changes_and_additions {
                patch.insert(key.clone(), modified_v.clone());
            }
            continue;
        }
        match (original_v, modified_v) {
            (Value::Object(o), Value::Object(m)) => {
                let meta = schema.lookup(key);
                let opts = DiffOptions {
                    build_retain_keys_directive: meta.strategy.retains_keys(),
                    ..opts
                };
                if meta.strategy.base() == Strategy::Replace {
                    if !opts.ignore_changes_and_additions {
                        patch.insert(key.clone(), modified_v.clone());
                    }
                } else {
                    let value = diff_maps(o, m, meta.schema, opts)?;
                    if !value.is_empty() {
                        patch.insert(key.clone(), Value::Object(value));
                    }
                }
            }
            (Value::Array(o), Value::Array(m)) => {
                handle_slice_diff(key, o, m, &mut patch, schema.lookup(key), opts)?;
            }
            _ => replace_if_not_equal(key, original_v, modified_v, &mut patch, opts),
        }
    }
    if !opts.ignore_deletions {
        for key in original.keys() {
            if !modified.contains_key(key) {
                patch.insert(key.clone(), Value::Null);
            }
        }
    }
    let has_additional_field = || {
        original
            .iter()
            .any(|(k, v)| !v.is_null() && !modified.contains_key(k))
    };
    if !retain_keys.is_empty() && (!patch.is_empty() || has_additional_field()) {
        patch.insert(
            RETAIN_KEYS_DIRECTIVE.to_string(),
            Value::Array(sort_scalars(retain_keys)),
        );
    }
    Ok(patch)
}

fn replace_if_not_equal(
    key: &str,
    original: &Value,
    modified: &Value,
    patch: &mut Map<String, Value>,
    opts: DiffOptions,
) {
    if !opts.ignore_changes_and_additions && original != modified {
        patch.insert(key.to_string(), modified.clone());
    }
}

/// Upstream's `handleSliceDiff`.
fn handle_slice_diff(
    key: &str,
    original: &[Value],
    modified: &[Value],
    patch: &mut Map<String, Value>,
    meta: Lookup,
    opts: DiffOptions,
) -> Result<()> {
    if meta.strategy.base() != Strategy::Merge {
        replace_if_not_equal(
            key,
            &Value::Array(original.to_vec()),
            &Value::Array(modified.to_vec()),
            patch,
            opts,
        );
        return Ok(());
    }
    let opts = DiffOptions {
        build_retain_keys_directive: meta.strategy.retains_keys(),
        ..opts
    };
    let (add, delete, set_order) =
        diff_lists(original, modified, meta.schema, meta.merge_key, opts)?;
    if !add.is_empty() {
        patch.insert(key.to_string(), Value::Array(add));
    }
    if !delete.is_empty() {
        patch.insert(
            format!("{DELETE_FROM_PRIMITIVE_LIST_PREFIX}/{key}"),
            Value::Array(delete),
        );
    }
    if !set_order.is_empty() {
        patch.insert(
            format!("{SET_ELEMENT_ORDER_PREFIX}/{key}"),
            Value::Array(set_order),
        );
    }
    Ok(())
}

type Lists = (Vec<Value>, Vec<Value>, Vec<Value>);

/// Upstream's `diffLists`: the patch list, the parallel deletion list (for
/// primitives) and the `$setElementOrder` list of a merge-strategy list.
fn diff_lists(
    original: &[Value],
    modified: &[Value],
    schema: Schema,
    merge_key: &str,
    opts: DiffOptions,
) -> Result<Lists> {
    if original.is_empty() {
        if modified.is_empty() || opts.ignore_changes_and_additions {
            return Ok((Vec::new(), Vec::new(), Vec::new()));
        }
        return Ok((modified.to_vec(), Vec::new(), Vec::new()));
    }
    let kind = slice_element_type(&[original, modified])?;
    if kind == GoType::Map {
        let (patch_list, deletions) =
            diff_lists_of_maps(original, modified, schema, merge_key, opts)?;
        let mut patch_list = order::normalize_slice_order(patch_list, modified, merge_key, kind)?;
        let order_same = is_order_same(original, modified, merge_key)?;
        // Deletions go last, in the patch list itself.
        patch_list.extend(deletions);
        let mut set_order = Vec::new();
        if opts.set_element_order
            && ((!opts.ignore_changes_and_additions && (!patch_list.is_empty() || !order_same))
                || (!opts.ignore_deletions && !patch_list.is_empty()))
        {
            set_order = modified
                .iter()
                .map(|v| {
                    let mut m = Map::new();
                    m.insert(
                        merge_key.to_string(),
                        v.get(merge_key).cloned().unwrap_or(Value::Null),
                    );
                    Value::Object(m)
                })
                .collect();
        }
        return Ok((patch_list, Vec::new(), set_order));
    }
    let (add, deletions) = diff_lists_of_scalars(original, modified, opts);
    let add = order::normalize_slice_order(add, modified, merge_key, kind)?;
    let mut set_order = Vec::new();
    if opts.set_element_order
        && ((!opts.ignore_deletions && !deletions.is_empty())
            || (!opts.ignore_changes_and_additions && original != modified))
    {
        set_order = modified.to_vec();
    }
    Ok((add, deletions, set_order))
}

fn is_order_same(original: &[Value], modified: &[Value], merge_key: &str) -> Result<bool> {
    if original.len() != modified.len() {
        return Ok(false);
    }
    for (o, m) in original.iter().zip(modified) {
        if !merge_key_value_equal(o, m, merge_key)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Go's `fmt.Sprintf("%v", v)`, by which upstream sorts and compares scalars
/// and merge keys.
fn sort_string(v: &Value) -> String {
    gofmt::value(v)
}

fn sort_scalars(mut list: Vec<Value>) -> Vec<Value> {
    list.sort_by_cached_key(sort_string);
    list
}

/// Upstream's `diffListsOfScalars`: additions and deletions, found by walking
/// both lists sorted.
fn diff_lists_of_scalars(
    original: &[Value],
    modified: &[Value],
    opts: DiffOptions,
) -> (Vec<Value>, Vec<Value>) {
    let original = sort_scalars(original.to_vec());
    let modified = sort_scalars(modified.to_vec());
    let (mut oi, mut mi) = (0, 0);
    let mut add = Vec::new();
    let mut delete = Vec::new();
    loop {
        let o = original.get(oi).map(|v| (v, sort_string(v)));
        let m = modified.get(mi).map(|v| (v, sort_string(v)));
        match (o, m) {
            (None, None) => break,
            (Some((_, os)), Some((_, ms))) if os == ms => {
                oi += 1;
                mi += 1;
            }
            (Some((ov, os)), m) if m.as_ref().is_none_or(|(_, ms)| os < *ms) => {
                if !opts.ignore_deletions {
                    delete.push(ov.clone());
                }
                oi += 1;
            }
            (_, Some((mv, _))) => {
                if !opts.ignore_changes_and_additions {
                    add.push(mv.clone());
                }
                mi += 1;
            }
            (Some(_), None) => unreachable!("handled by the deletion arm"),
        }
    }
    (add, dedup_scalars(delete))
}

/// Upstream's `diffListsOfMaps`: the patch elements (changed or added) and
/// the `$patch: delete` elements, found by walking both lists sorted by
/// merge key.
fn diff_lists_of_maps(
    original: &[Value],
    modified: &[Value],
    schema: Schema,
    merge_key: &str,
    opts: DiffOptions,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let original = sorted_by_merge_key(original, merge_key)?;
    let modified = sorted_by_merge_key(modified, merge_key)?;
    let mut patch = Vec::new();
    let mut deletions = Vec::new();
    let (mut oi, mut mi) = (0, 0);
    loop {
        let o = original.get(oi);
        let m = modified.get(mi);
        match (o, m) {
            (None, None) => break,
            (Some((om, _, os)), Some((mm, mv, ms))) if os == ms => {
                let mut value = diff_maps(om, mm, schema, opts)?;
                if !value.is_empty() {
                    value.insert(merge_key.to_string(), (*mv).clone());
                    patch.push(Value::Object(value));
                }
                oi += 1;
                mi += 1;
            }
            (o, Some((mm, _, ms))) if o.is_none_or(|(_, _, os)| os > ms) => {
                if !opts.ignore_changes_and_additions {
                    patch.push(Value::Object((*mm).clone()));
                }
                mi += 1;
            }
            (Some((_, ov, _)), _) => {
                if !opts.ignore_deletions {
                    let mut m = Map::new();
                    m.insert(merge_key.to_string(), (*ov).clone());
                    m.insert(
                        DIRECTIVE_MARKER.to_string(),
                        Value::String(DELETE_DIRECTIVE.into()),
                    );
                    deletions.push(Value::Object(m));
                }
                oi += 1;
            }
            (None, Some(_)) => unreachable!("handled by the addition arm"),
        }
    }
    Ok((patch, deletions))
}

/// A map of a list, its merge key's value and that value's `%v`.
type Keyed<'a> = (&'a Map<String, Value>, &'a Value, String);

/// The maps of a list with their merge key, sorted by its `%v`.
fn sorted_by_merge_key<'a>(list: &'a [Value], merge_key: &str) -> Result<Vec<Keyed<'a>>> {
    let mut out = Vec::with_capacity(list.len());
    for v in list {
        let Value::Object(m) = v else {
            return Err(bad_arg_type(GO_MAP, v));
        };
        let key = m.get(merge_key).ok_or_else(|| no_merge_key(m, merge_key))?;
        out.push((m, key, sort_string(key)));
    }
    out.sort_by(|a, b| a.2.cmp(&b.2));
    Ok(out)
}
