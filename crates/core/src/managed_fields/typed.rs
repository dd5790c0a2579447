//! Schema-driven walks of objects, as structured-merge-diff's `typed`
//! package: the field set of an object (`ToFieldSet`), the comparison of two
//! objects (`Compare`), the apply merge (`Merge`), the removal of items
//! (`RemoveItems`) and `EnsureNamedFieldsAreMembers`.
//!
//! The schema is the strategic-merge table of the built-in types, read the way
//! kube-openapi's `schemaconv` reads the OpenAPI: `x-kubernetes-list-type`,
//! else a `merge` patch strategy makes a list associative on its merge key (a
//! set when it has none), else the list is atomic; structs and maps are
//! granular unless `x-kubernetes-map-type: atomic`. Fields the table does not
//! know (custom resources, free-form values) are "deduced" as upstream does
//! without a schema: maps granular, lists atomic.

use serde_json::{Map, Value};

use super::fieldpath::{FieldSet, PathElement, path_string, values_equal};
use crate::strategic_merge::schema::{
    self, Elem, ListType, Shape, Strategy, TypeDef, field_default, field_map_type,
    struct_is_atomic, type_at,
};

/// How a list relates its items.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ListRel {
    Atomic,
    /// Associative without keys: items are scalars, named by value.
    Set,
    /// Associative, items named by these key fields.
    Map(&'static [&'static str]),
}

/// The schema of one value.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Node {
    Struct {
        ty: &'static TypeDef,
        atomic: bool,
    },
    Map {
        elem: Elem,
        atomic: bool,
    },
    List {
        elem: Elem,
        rel: ListRel,
    },
    /// A scalar, or a value owned whole.
    Leaf,
    /// No schema: maps granular, lists atomic.
    Deduced,
}

impl Node {
    /// The schema of a built-in kind, or `Deduced` for kinds the table does
    /// not know.
    pub(crate) fn root(group: &str, api_version: &str, kind: &str) -> Node {
        let version = api_version.rsplit('/').next().unwrap_or(api_version);
        match schema::root_at(group, version, kind).or_else(|| schema::root(group, kind)) {
            Some(ty) => Node::Struct { ty, atomic: false },
            None => Node::Deduced,
        }
    }

    fn of_elem(elem: Elem) -> Node {
        match elem {
            Elem::Obj(i) => {
                let ty = type_at(i);
                Node::Struct {
                    ty,
                    atomic: struct_is_atomic(ty),
                }
            }
            Elem::Scalar => Node::Leaf,
            Elem::Opaque => Node::Deduced,
        }
    }

    /// The schema of the child `pe`.
    pub(crate) fn child(self, pe: &PathElement) -> Node {
        match pe {
            PathElement::Field(name) => self.field(name),
            _ => self.item(),
        }
    }

    /// The schema of the field or map entry `name` (the child
    /// `PathElement::Field(name)`, without building the element).
    fn field(self, name: &str) -> Node {
        match self {
            Node::Struct { ty, .. } => field_node(ty, name),
            Node::Map { elem, .. } => Node::of_elem(elem),
            Node::List { elem, .. } => Node::of_elem(elem),
            Node::Deduced => Node::Deduced,
            Node::Leaf => Node::Leaf,
        }
    }

    /// The schema of a list item (any child that is not a field).
    fn item(self) -> Node {
        match self {
            Node::List { elem, .. } => Node::of_elem(elem),
            _ => Node::Leaf,
        }
    }

    fn is_atomic(self) -> bool {
        match self {
            Node::Struct { atomic, .. } | Node::Map { atomic, .. } => atomic,
            Node::List { rel, .. } => matches!(rel, ListRel::Atomic),
            Node::Leaf => true,
            Node::Deduced => false,
        }
    }

    /// The shape a value takes under this schema; a value of the wrong shape
    /// is handled as a leaf. Without a schema a list is atomic (upstream's
    /// deduced type), so it is owned whole like a leaf: indexing its items
    /// would reject every non-empty one.
    fn shape_of(self, v: &Value) -> Kind {
        match (self, v) {
            (Node::Struct { .. } | Node::Map { .. } | Node::Deduced, Value::Object(_)) => Kind::Map,
            (Node::List { .. }, Value::Array(_)) => Kind::List,
            (Node::Struct { .. } | Node::Map { .. } | Node::Deduced, Value::Null) => Kind::Map,
            (Node::List { .. }, Value::Null) => Kind::List,
            _ => Kind::Leaf,
        }
    }

    /// Lists with `Deduced` schema are atomic; others per their relation.
    fn list_rel(self) -> ListRel {
        match self {
            Node::List { rel, .. } => rel,
            _ => ListRel::Atomic,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Leaf,
    List,
    Map,
}

fn field_node(ty: &'static TypeDef, name: &str) -> Node {
    let Some(field) = ty.field(name) else {
        return Node::Deduced;
    };
    match field.shape {
        Shape::Object(i) => {
            let t = type_at(i);
            Node::Struct {
                ty: t,
                atomic: field_map_type(ty, name).unwrap_or_else(|| struct_is_atomic(t)),
            }
        }
        Shape::Map(elem) => Node::Map {
            elem,
            atomic: field_map_type(ty, name) == Some(true),
        },
        Shape::List(elem) => {
            let rel = match field.list_type {
                Some(ListType::Atomic) => ListRel::Atomic,
                Some(ListType::Set) => ListRel::Set,
                Some(ListType::ListMap) => ListRel::Map(field.list_map_keys),
                None => match field.strategy {
                    Strategy::Merge | Strategy::MergeRetainKeys if field.merge_key.is_empty() => {
                        ListRel::Set
                    }
                    Strategy::Merge | Strategy::MergeRetainKeys => {
                        ListRel::Map(std::slice::from_ref(&field.merge_key))
                    }
                    _ => ListRel::Atomic,
                },
            };
            Node::List { elem, rel }
        }
    }
}

/// The path element naming a list item, or why it has none (upstream's
/// `listItemToPathElement`).
fn item_element(node: Node, rel: ListRel, item: &Value) -> Result<PathElement, String> {
    match rel {
        ListRel::Atomic => Err("invalid indexing of non-associative list".into()),
        ListRel::Set => match item {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".into())
            }
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            Value::Null => {
                Err("associative list without keys has an element that's an explicit null".into())
            }
            v => Ok(PathElement::Value(v.clone())),
        },
        ListRel::Map(keys) => {
            let m = match item {
                Value::Null => {
                    return Err("associative list with keys may not have a null element".into());
                }
                Value::Object(m) => m,
                _ => return Err("associative list with keys may not have non-map elements".into()),
            };
            let elem_ty = match node {
                Node::List {
                    elem: Elem::Obj(i), ..
                } => Some(type_at(i)),
                _ => None,
            };
            let mut fields: Vec<(String, Value)> = Vec::new();
            for key in keys {
                if let Some(v) = m.get(*key) {
                    fields.push(((*key).to_string(), v.clone()));
                } else if let Some(d) = elem_ty
                    .and_then(|t| field_default(t, key))
                    .and_then(|d| serde_json::from_str::<Value>(d).ok())
                {
                    fields.push(((*key).to_string(), d));
                }
            }
            if !keys.is_empty() && fields.is_empty() {
                let quoted: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
                return Err(format!(
                    "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
                    quoted.join(" ")
                ));
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
    }
}

fn with(path: &[PathElement], pe: PathElement) -> Vec<PathElement> {
    let mut p = path.to_vec();
    p.push(pe);
    p
}

/// Why a value does not fit the schema, as upstream's `ValidationErrors`.
fn validation_message(errors: &[String]) -> String {
    if errors.len() == 1 {
        errors[0].clone()
    } else {
        let mut lines = vec!["errors:".to_string()];
        lines.extend(errors.iter().map(|e| format!("  {e}")));
        lines.join("\n")
    }
}

/// Checks what the walks below need of a value: list items that can be named
/// and are unique where the list is associative. Returns upstream's message.
pub(crate) fn validate(node: Node, v: &Value) -> Result<(), String> {
    let mut errors = Vec::new();
    validate_at(node, v, &mut Vec::new(), &mut errors, Skip::Nothing);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(validation_message(&errors))
    }
}

/// What a walk leaves out as if the object did not hold it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    Nothing,
    /// `metadata.managedFields`: the walks of a write see the objects without
    /// it, and skipping it spares a copy of the stored object per write.
    ManagedFields,
}

impl Skip {
    /// Whether the field `k` of the map at `path` is left out.
    fn skips(self, path: &[PathElement], k: &str) -> bool {
        self == Skip::ManagedFields
            && k == "managedFields"
            && matches!(path, [PathElement::Field(f)] if f == "metadata")
    }

    /// Whether `m` (at `path`) holds nothing once the skipped field is out.
    fn is_empty(self, path: &[PathElement], m: &Map<String, Value>) -> bool {
        match m.len() {
            0 => true,
            1 => m.keys().all(|k| self.skips(path, k)),
            _ => false,
        }
    }
}

fn validate_at(
    node: Node,
    v: &Value,
    path: &mut Vec<PathElement>,
    errors: &mut Vec<String>,
    skip: Skip,
) {
    match (node.shape_of(v), v) {
        (Kind::Map, Value::Object(m)) if !node.is_atomic() => {
            for (k, child) in m {
                if skip.skips(path, k) {
                    continue;
                }
                let pe = PathElement::Field(k.clone());
                let child_node = node.child(&pe);
                path.push(pe);
                validate_at(child_node, child, path, errors, skip);
                path.pop();
            }
        }
        (Kind::List, Value::Array(items)) if !node.is_atomic() => {
            let rel = node.list_rel();
            let mut seen = std::collections::BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                match item_element(node, rel, item) {
                    Err(e) => errors.push(format!("{}: element {i}: {e}", path_string(path))),
                    Ok(pe) => {
                        if !seen.insert(pe.clone()) {
                            errors.push(format!(
                                "{}: duplicate entries for key {pe}",
                                path_string(path)
                            ));
                            continue;
                        }
                        let child_node = node.child(&pe);
                        path.push(pe);
                        validate_at(child_node, item, path, errors, skip);
                        path.pop();
                    }
                }
            }
        }
        _ => {}
    }
}

/// Whether [`validate`] accepts `v` (with `skip_managed_fields`, leaving out
/// a `managedFields` member of `v`): the same rules without the paths and
/// messages, for values a comparison found unchanged.
fn is_valid(node: Node, v: &Value, skip_managed_fields: bool) -> bool {
    match (node.shape_of(v), v) {
        (Kind::Map, Value::Object(m)) if !node.is_atomic() => m.iter().all(|(k, child)| {
            (skip_managed_fields && k == "managedFields") || is_valid(node.field(k), child, false)
        }),
        (Kind::List, Value::Array(items)) if !node.is_atomic() => {
            let rel = node.list_rel();
            let mut seen: Vec<PathElement> = Vec::with_capacity(items.len());
            for item in items {
                let Ok(pe) = item_element(node, rel, item) else {
                    return false;
                };
                if seen.contains(&pe) || !is_valid(node.item(), item, false) {
                    return false;
                }
                seen.push(pe);
            }
            true
        }
        _ => true,
    }
}

/// The fields an object sets (upstream's `ToFieldSet`).
pub(crate) fn to_field_set(node: Node, v: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    field_set_at(node, v, &mut Vec::new(), &mut set);
    set
}

fn field_set_at(node: Node, v: &Value, path: &mut Vec<PathElement>, set: &mut FieldSet) {
    match (node.shape_of(v), v) {
        (Kind::Map, _) | (Kind::List, _) if node.is_atomic() => set.insert(path),
        (Kind::Map, Value::Object(m)) => {
            let declared = matches!(node, Node::Struct { .. });
            for (k, child) in m {
                let pe = PathElement::Field(k.clone());
                let child_node = node.child(&pe);
                path.push(pe);
                field_set_at(child_node, child, path, set);
                let empty = match child {
                    Value::Null => true,
                    Value::Object(c) => c.is_empty(),
                    _ => false,
                };
                if empty || !declared {
                    set.insert(path);
                }
                path.pop();
            }
        }
        (Kind::List, Value::Array(items)) => {
            let rel = node.list_rel();
            if matches!(rel, ListRel::Atomic) {
                set.insert(path);
                return;
            }
            let pes: Vec<Option<PathElement>> = items
                .iter()
                .map(|item| item_element(node, rel, item).ok())
                .collect();
            let mut seen = std::collections::BTreeSet::new();
            let mut duplicates = std::collections::BTreeSet::new();
            for pe in pes.iter().flatten() {
                if !seen.insert(pe.clone()) && duplicates.insert(pe.clone()) {
                    set.insert(&with(path, pe.clone()));
                }
            }
            for (item, pe) in items.iter().zip(pes) {
                let Some(pe) = pe else { continue };
                if duplicates.contains(&pe) {
                    continue;
                }
                let child_node = node.child(&pe);
                path.push(pe);
                field_set_at(child_node, item, path, set);
                set.insert(path);
                path.pop();
            }
        }
        // Null maps and lists own nothing by themselves; their parent adds them.
        (Kind::Map | Kind::List, _) => {}
        (Kind::Leaf, _) => set.insert(path),
    }
}

/// What changed from `lhs` to `rhs` (upstream's `Comparison`).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Comparison {
    pub(crate) removed: FieldSet,
    pub(crate) modified: FieldSet,
    pub(crate) added: FieldSet,
}

impl Comparison {
    pub(crate) fn exclude(&mut self, ignored: &FieldSet) {
        self.removed = self.removed.recursive_difference(ignored);
        self.modified = self.modified.recursive_difference(ignored);
        self.added = self.added.recursive_difference(ignored);
    }
}

pub(crate) fn compare(node: Node, lhs: &Value, rhs: &Value) -> Comparison {
    let mut w = CompareWalk {
        c: Comparison::default(),
        skip: Skip::Nothing,
        check: false,
        invalid: false,
        skip_unchanged: true,
    };
    w.at(node, Some(lhs), Some(rhs), &mut Vec::new());
    w.c
}

/// [`compare`] or [`compare_valid`] walking every value, also those it
/// finds unchanged: what the shortcut over unchanged values must equal.
#[cfg(test)]
pub(crate) fn compare_exhaustive(
    node: Node,
    lhs: &Value,
    rhs: &Value,
    skip: Skip,
    check: bool,
) -> Option<Comparison> {
    let mut w = CompareWalk {
        c: Comparison::default(),
        skip,
        check,
        invalid: false,
        skip_unchanged: false,
    };
    w.at(node, Some(lhs), Some(rhs), &mut Vec::new());
    (!w.invalid).then_some(w.c)
}

/// [`compare`] and [`validate`] of both sides in one walk: `None` when either
/// side does not fit the schema (where `validate` fails). `skip` leaves a
/// field out of both sides as if they did not hold it.
pub(crate) fn compare_valid(
    node: Node,
    lhs: &Value,
    rhs: &Value,
    skip: Skip,
) -> Option<Comparison> {
    let mut w = CompareWalk {
        c: Comparison::default(),
        skip,
        check: true,
        invalid: false,
        skip_unchanged: true,
    };
    w.at(node, Some(lhs), Some(rhs), &mut Vec::new());
    (!w.invalid).then_some(w.c)
}

/// One comparison. With `check`, it also finds what [`validate`] would
/// reject on either side and then stops (`invalid`): where the comparison
/// does not go below a value that validation would (two values of different
/// shapes), it validates them.
struct CompareWalk {
    c: Comparison,
    skip: Skip,
    check: bool,
    invalid: bool,
    /// Whether values found equal are only checked against the schema
    /// rather than walked (always, but in the tests of that shortcut).
    skip_unchanged: bool,
}

impl CompareWalk {
    /// Records what changed at `path` and below.
    fn at(
        &mut self,
        node: Node,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        path: &mut Vec<PathElement>,
    ) {
        if self.invalid {
            return;
        }
        let kind = match (lhs, rhs) {
            (Some(l), Some(r)) => {
                let (a, b) = (node.shape_of(l), node.shape_of(r));
                if a == b {
                    a
                } else {
                    if self.check {
                        let mut errors = Vec::new();
                        validate_at(node, l, path, &mut errors, self.skip);
                        validate_at(node, r, path, &mut errors, self.skip);
                        if !errors.is_empty() {
                            self.invalid = true;
                            return;
                        }
                    }
                    Kind::Leaf
                }
            }
            (Some(v), None) | (None, Some(v)) => node.shape_of(v),
            (None, None) => return,
        };
        let leaf = match kind {
            Kind::Leaf => true,
            Kind::List => {
                let (l, r) = (as_list(lhs), as_list(rhs));
                let rel = node.list_rel();
                if matches!(rel, ListRel::Atomic) {
                    // Validation indexes the items of a list it does not see
                    // as atomic (a deduced one), and no item of it has a name.
                    if self.check && !node.is_atomic() && !(l.is_empty() && r.is_empty()) {
                        self.invalid = true;
                        return;
                    }
                    true
                } else if l.is_empty() && r.is_empty() {
                    true
                } else {
                    self.list_items(node, rel, l, r, path);
                    false
                }
            }
            Kind::Map => {
                let (l, r) = (as_map(lhs), as_map(rhs));
                let l_empty = l.is_none_or(|m| self.skip.is_empty(path, m));
                let r_empty = r.is_none_or(|m| self.skip.is_empty(path, m));
                if node.is_atomic() || (l_empty && r_empty) {
                    true
                } else {
                    for (k, lv) in l.into_iter().flatten() {
                        if self.skip.skips(path, k) {
                            continue;
                        }
                        let child = node.field(k);
                        let rv = r.and_then(|r| r.get(k));
                        if let Some(rv) = rv
                            && self.unchanged(child, lv, rv, path.is_empty() && k == "metadata")
                        {
                            if self.invalid {
                                return;
                            }
                            continue;
                        }
                        path.push(PathElement::Field(k.clone()));
                        self.at(child, Some(lv), rv, path);
                        path.pop();
                    }
                    for (k, rv) in r.into_iter().flatten() {
                        if l.is_some_and(|l| l.contains_key(k)) || self.skip.skips(path, k) {
                            continue;
                        }
                        let child = node.field(k);
                        path.push(PathElement::Field(k.clone()));
                        self.at(child, None, Some(rv), path);
                        path.pop();
                    }
                    false
                }
            }
        };
        if self.invalid {
            return;
        }
        let c = &mut self.c;
        if leaf {
            match (lhs, rhs) {
                (None, _) => c.added.insert(path),
                (_, None) => c.removed.insert(path),
                (Some(l), Some(r)) if !self.skip.leaf_equal(path, l, r) => c.modified.insert(path),
                _ => {}
            }
        } else if lhs.is_none() {
            c.added.insert(path);
        } else if rhs.is_none() {
            c.removed.insert(path);
        }
    }

    fn list_items(
        &mut self,
        node: Node,
        rel: ListRel,
        lhs: &[Value],
        rhs: &[Value],
        path: &mut Vec<PathElement>,
    ) {
        let (Some(l), Some(r)) = (
            self.index_items(node, rel, lhs),
            self.index_items(node, rel, rhs),
        ) else {
            self.invalid = true;
            return;
        };
        let mut all: Vec<&PathElement> = l.iter().map(|(pe, _)| pe).collect();
        for (pe, _) in &r {
            if !l.iter().any(|(p, _)| p == pe) {
                all.push(pe);
            }
        }
        fn find<'v, 'a>(
            v: &'v [(PathElement, Vec<&'a Value>)],
            pe: &PathElement,
        ) -> &'v [&'a Value] {
            v.iter()
                .find(|(p, _)| p == pe)
                .map_or(&[], |(_, vs)| vs.as_slice())
        }
        for pe in all {
            let ll = find(&l, pe);
            let rl = find(&r, pe);
            let child = node.child(pe);
            if let ([lv], [rv]) = (ll, rl)
                && self.unchanged(child, lv, rv, false)
            {
                if self.invalid {
                    return;
                }
                continue;
            }
            path.push(pe.clone());
            match (ll.len(), rl.len()) {
                (a, b) if a <= 1 && b <= 1 => {
                    self.at(child, ll.first().copied(), rl.first().copied(), path);
                }
                (a, b) if a >= 2 && b >= 2 => {
                    let same =
                        ll.len() == rl.len() && ll.iter().zip(rl).all(|(x, y)| values_equal(x, y));
                    if !same {
                        self.c.modified.insert(path);
                    }
                }
                (a, _) if a >= 2 => {
                    if let Some(r0) = rl.first().copied() {
                        self.at(child, None, Some(r0), path);
                    }
                    self.c.removed.insert(path);
                }
                _ => {
                    if let Some(l0) = ll.first().copied() {
                        self.at(child, Some(l0), None, path);
                    }
                    self.c.added.insert(path);
                }
            }
            path.pop();
            if self.invalid {
                return;
            }
        }
    }

    /// Whether `lhs` and `rhs` are equal, in which case the comparison below
    /// them records nothing and only their fit to the schema counts (marked
    /// in `invalid`): checked without building the paths the walk would.
    /// `metadata` tells that the values are the object's metadata, where the
    /// skipped field lives.
    fn unchanged(&mut self, node: Node, lhs: &Value, rhs: &Value, metadata: bool) -> bool {
        if !self.skip_unchanged || !values_equal(lhs, rhs) {
            return false;
        }
        if self.check && !is_valid(node, lhs, metadata && self.skip == Skip::ManagedFields) {
            self.invalid = true;
        }
        true
    }

    /// Items of a list grouped by their path element, in first-seen order;
    /// with `check`, `None` for a list validation rejects (an item without a
    /// name, or two items of one name).
    fn index_items<'a>(
        &self,
        node: Node,
        rel: ListRel,
        items: &'a [Value],
    ) -> Option<Vec<(PathElement, Vec<&'a Value>)>> {
        let mut out: Vec<(PathElement, Vec<&'a Value>)> = Vec::new();
        for item in items {
            let Ok(pe) = item_element(node, rel, item) else {
                if self.check {
                    return None;
                }
                continue;
            };
            match out.iter_mut().find(|(p, _)| *p == pe) {
                Some((_, vs)) => {
                    if self.check {
                        return None;
                    }
                    vs.push(item);
                }
                None => out.push((pe, vec![item])),
            }
        }
        Some(out)
    }
}

impl Skip {
    /// Leaf equality with the skipped field left out of both sides.
    fn leaf_equal(self, path: &[PathElement], l: &Value, r: &Value) -> bool {
        match (l, r) {
            (Value::Object(x), Value::Object(y))
                if self == Skip::ManagedFields
                    && matches!(path, [PathElement::Field(f)] if f == "metadata") =>
            {
                let kept =
                    |m: &Map<String, Value>| m.keys().filter(|k| !self.skips(path, k)).count();
                kept(x) == kept(y)
                    && x.iter()
                        .filter(|(k, _)| !self.skips(path, k))
                        .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
            }
            _ => values_equal(l, r),
        }
    }
}

fn as_list(v: Option<&Value>) -> &[Value] {
    match v {
        Some(Value::Array(a)) => a,
        _ => &[],
    }
}

fn as_map(v: Option<&Value>) -> Option<&Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// Merges an applied configuration into the live object: the config wins on
/// leaves, associative lists merge by key, atomic values are replaced
/// (upstream's `Merge` with `ruleKeepRHS`).
pub(crate) fn merge(node: Node, lhs: &Value, rhs: &Value) -> Value {
    merge_at(node, Some(lhs), Some(rhs)).unwrap_or_else(|| Value::Object(Map::new()))
}

fn merge_at(node: Node, lhs: Option<&Value>, rhs: Option<&Value>) -> Option<Value> {
    let keep_rhs = || rhs.or(lhs).cloned();
    let kind = match (lhs, rhs) {
        (Some(l), Some(r)) => {
            let (a, b) = (node.shape_of(l), node.shape_of(r));
            if a == b { a } else { Kind::Leaf }
        }
        (Some(v), None) | (None, Some(v)) => node.shape_of(v),
        (None, None) => return None,
    };
    match kind {
        Kind::Leaf => keep_rhs(),
        Kind::List => {
            let (l, r) = (as_list(lhs), as_list(rhs));
            let rel = node.list_rel();
            if matches!(rel, ListRel::Atomic) || (l.is_empty() && r.is_empty()) {
                return keep_rhs();
            }
            let out = merge_list_items(node, rel, l, r);
            (!out.is_empty()).then_some(Value::Array(out))
        }
        Kind::Map => {
            let (l, r) = (as_map(lhs), as_map(rhs));
            let l_empty = l.is_none_or(Map::is_empty);
            let r_empty = r.is_none_or(Map::is_empty);
            if node.is_atomic() || (l_empty && r_empty) {
                return keep_rhs();
            }
            let mut out = Map::new();
            for (k, lv) in l.into_iter().flatten() {
                let child = node.child(&PathElement::Field(k.clone()));
                if let Some(v) = merge_at(child, Some(lv), r.and_then(|r| r.get(k))) {
                    out.insert(k.clone(), v);
                }
            }
            for (k, rv) in r.into_iter().flatten() {
                if l.is_some_and(|l| l.contains_key(k)) {
                    continue;
                }
                let child = node.child(&PathElement::Field(k.clone()));
                if let Some(v) = merge_at(child, None, Some(rv)) {
                    out.insert(k.clone(), v);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
    }
}

/// Merges two associative lists, keeping the live order and placing new items
/// of the config after the shared item that precedes them in the config (the
/// order upstream's merging walker produces).
fn merge_list_items(node: Node, rel: ListRel, lhs: &[Value], rhs: &[Value]) -> Vec<Value> {
    // Path elements in list order (with the item each stands for) and the
    // item of each element; a duplicated live element stands for null.
    let index = |items: &[Value], dup_null: bool| {
        let mut pes: Vec<(PathElement, Value)> = Vec::new();
        let mut observed: Vec<(PathElement, Value)> = Vec::new();
        for item in items {
            let Ok(pe) = item_element(node, rel, item) else {
                continue;
            };
            match observed.iter_mut().find(|(p, _)| *p == pe) {
                Some((_, v)) => {
                    if dup_null {
                        *v = Value::Null;
                    } else {
                        continue;
                    }
                }
                None => observed.push((pe.clone(), item.clone())),
            }
            pes.push((pe, item.clone()));
        }
        (pes, observed)
    };
    let (rhs_items, observed_rhs) = index(rhs, false);
    let (lhs_items, observed_lhs) = index(lhs, true);
    let rhs_pes: Vec<&PathElement> = rhs_items.iter().map(|(p, _)| p).collect();
    let lhs_pes: Vec<&PathElement> = lhs_items.iter().map(|(p, _)| p).collect();
    let get = |obs: &[(PathElement, Value)], pe: &PathElement| -> Option<Value> {
        obs.iter().find(|(p, _)| p == pe).map(|(_, v)| v.clone())
    };
    let has = |obs: &[(PathElement, Value)], pe: &PathElement| obs.iter().any(|(p, _)| p == pe);

    let mut shared: std::collections::VecDeque<&PathElement> = rhs_pes
        .iter()
        .copied()
        .filter(|pe| has(&observed_lhs, pe))
        .collect();
    let mut next_shared = shared.pop_front();
    let mut merged_rhs: Vec<PathElement> = Vec::new();
    let mut out = Vec::new();
    let (mut li, mut ri) = (0, 0);
    let item = |pe: &PathElement, l: Option<Value>, r: Option<Value>| {
        merge_at(node.child(pe), l.as_ref(), r.as_ref())
    };
    while li < lhs_pes.len() || ri < rhs_pes.len() {
        if li < lhs_pes.len() && ri < rhs_pes.len() {
            let pe = lhs_pes[li];
            if pe == rhs_pes[ri] {
                merged_rhs.push(pe.clone());
                if let Some(v) = item(pe, get(&observed_lhs, pe), get(&observed_rhs, pe)) {
                    out.push(v);
                }
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if has(&observed_rhs, pe) && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < lhs_pes.len() {
            let pe = lhs_pes[li];
            if !has(&observed_rhs, pe) {
                if let Some(v) = item(pe, Some(lhs_items[li].1.clone()), None) {
                    out.push(v);
                }
                li += 1;
                continue;
            } else if merged_rhs.contains(pe) {
                li += 1;
            }
        }
        if ri < rhs_pes.len() {
            let pe = rhs_pes[ri];
            merged_rhs.push(pe.clone());
            if let Some(v) = item(pe, get(&observed_lhs, pe), get(&observed_rhs, pe)) {
                out.push(v);
            }
            ri += 1;
            if next_shared.is_some_and(|n| n == pe) {
                next_shared = shared.pop_front();
            }
        }
    }
    out
}

/// Removes the given paths from a value (upstream's `RemoveItems`). Maps and
/// lists left empty by the removal are dropped.
pub(crate) fn remove_items(node: Node, v: &Value, to_remove: &FieldSet) -> Value {
    remove_at(node, v, to_remove).unwrap_or_else(|| Value::Object(Map::new()))
}

fn remove_at(node: Node, v: &Value, to_remove: &FieldSet) -> Option<Value> {
    match (node.shape_of(v), v) {
        (Kind::List, Value::Array(items)) => {
            let rel = node.list_rel();
            if items.is_empty() || matches!(rel, ListRel::Atomic) {
                return None;
            }
            let mut out = Vec::new();
            for item in items {
                let Ok(pe) = item_element(node, rel, item) else {
                    out.push(item.clone());
                    continue;
                };
                if to_remove.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                match to_remove.with_prefix(&pe) {
                    Some(sub) if !sub.is_empty() => {
                        if let Some(kept) = remove_at(node.child(&pe), item, sub) {
                            out.push(kept);
                        }
                    }
                    _ => out.push(item.clone()),
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        (Kind::Map, Value::Object(m)) => {
            if m.is_empty() || node.is_atomic() {
                return None;
            }
            let mut out = Map::new();
            for (k, child) in m {
                let pe = PathElement::Field(k.clone());
                if to_remove.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                match to_remove.with_prefix(&pe) {
                    Some(sub) if !sub.is_empty() => {
                        if let Some(kept) = remove_at(node.child(&pe), child, sub) {
                            out.insert(k.clone(), kept);
                        }
                    }
                    _ => {
                        out.insert(k.clone(), child.clone());
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        _ => Some(v.clone()),
    }
}

/// Adds to a set, as members, the struct fields that it only has children
/// of (upstream's `EnsureNamedFieldsAreMembers`): owning `.spec.replicas`
/// then also means owning `.spec`, but owning `.metadata.labels.a` does not
/// mean owning the label map's entries.
pub(crate) fn ensure_named_fields_are_members(node: Node, set: &FieldSet) -> FieldSet {
    let mut out = FieldSet::new();
    for m in set.members() {
        out.add_member(m.clone());
    }
    for (pe, child) in set.children() {
        if matches!(node, Node::Struct { .. }) && matches!(pe, PathElement::Field(_)) {
            out.add_member(pe.clone());
        }
        out.set_child(
            pe.clone(),
            ensure_named_fields_are_members(node.child(pe), child),
        );
    }
    out
}
