//! Field sets of server-side apply and their `FieldsV1` encoding, as
//! structured-merge-diff's `fieldpath` package: path elements (`f:`, `k:`,
//! `v:`, `i:`), their order, a set of paths as a tree of members and
//! children, and the human form of a path (`.spec.containers[name="c"]`).
//!
//! Does not own: what an object's field set is (that needs the schema, see
//! `typed.rs`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::Error;

/// One step of a path into an object.
#[derive(Clone, Debug)]
pub enum PathElement {
    /// A field of a struct or a key of a map (`f:name`).
    Field(String),
    /// An item of an associative list, by its key fields sorted by name
    /// (`k:{"name":"c"}`).
    Key(Vec<(String, Value)>),
    /// An item of a set, by its value (`v:"x"`).
    Value(Value),
    /// An item of a list by position (`i:0`).
    Index(i64),
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The `FieldsV1` key of this element: `f:`, `k:`, `v:` or `i:` and its
    /// content, JSON written as Go's `encoding/json` writes it.
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(name) => {
                let mut out = String::with_capacity(name.len() + 2);
                out.push_str("f:");
                out.push_str(name);
                out
            }
            PathElement::Key(fields) => {
                let mut out = String::from("k:{");
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    go_json_string(&mut out, name);
                    out.push(':');
                    go_json(&mut out, value, false);
                }
                out.push('}');
                out
            }
            PathElement::Value(v) => {
                let mut out = String::from("v:");
                go_json(&mut out, v, false);
                out
            }
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `FieldsV1` key. `Ok(None)` for an element type this version
    /// does not know (upstream drops those rather than fail).
    pub fn from_fields_v1_key(s: &str) -> Result<Option<PathElement>, Error> {
        let bad = |why: String| Error::FieldsV1 {
            key: s.to_string(),
            why,
        };
        let bytes = s.as_bytes();
        if bytes.len() < 2 {
            return Err(bad("key must be 2 characters long".into()));
        }
        if bytes[1] != b':' {
            return Err(bad(format!("missing colon: {s}")));
        }
        let rest = &s[2..];
        Ok(Some(match bytes[0] {
            b'f' => PathElement::Field(rest.to_string()),
            b'v' => PathElement::Value(serde_json::from_str(rest).map_err(|e| bad(e.to_string()))?),
            b'k' => {
                let map: Map<String, Value> =
                    serde_json::from_str(rest).map_err(|e| bad(e.to_string()))?;
                let mut fields: Vec<(String, Value)> = map.into_iter().collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                PathElement::Key(fields)
            }
            b'i' => PathElement::Index(
                rest.parse()
                    .map_err(|e: std::num::ParseIntError| bad(e.to_string()))?,
            ),
            _ => return Ok(None),
        }))
    }
}

/// How upstream prints a path element: `.name`, `[k=v,k2=v2]`, `[=v]`, `[0]`.
impl std::fmt::Display for PathElement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value_to_string(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_to_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// structured-merge-diff's order: fields, then keys, then values, then
/// indices.
impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => compare_field_lists(a, b),
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

/// A path: how upstream prints it, e.g. `.spec.containers[name="c"].image`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

fn compare_field_lists(a: &[(String, Value)], b: &[(String, Value)]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let c = x.0.cmp(&y.0).then_with(|| compare_values(&x.1, &y.1));
        if c != Ordering::Equal {
            return c;
        }
    }
    a.len().cmp(&b.len())
}

/// structured-merge-diff's total order of values: numbers (compared as
/// numbers), strings, booleans, lists, maps, null.
pub(crate) fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) if !x.is_f64() && !y.is_f64() => i.cmp(&j),
            _ => {
                let (f, g) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                f.partial_cmp(&g).unwrap_or(Ordering::Equal)
            }
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let c = compare_values(p, q);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<_> = x.iter().collect();
            let mut ys: Vec<_> = y.iter().collect();
            xs.sort_by(|p, q| p.0.cmp(q.0));
            ys.sort_by(|p, q| p.0.cmp(q.0));
            for (p, q) in xs.iter().zip(&ys) {
                let c = p.0.cmp(q.0).then_with(|| compare_values(p.1, q.1));
                if c != Ordering::Equal {
                    return c;
                }
            }
            xs.len().cmp(&ys.len())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Equality of values as structured-merge-diff sees it (`1` equals `1.0`).
pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        // Keys are looked up only where the two maps' orders differ: two
        // versions of one object mostly hold their members in one order.
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|((k, v), (yk, yv))| {
                    if k == yk {
                        values_equal(v, yv)
                    } else {
                        y.get(k).is_some_and(|w| values_equal(v, w))
                    }
                })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| values_equal(v, w))
        }
        _ => compare_values(a, b) == Ordering::Equal,
    }
}

/// structured-merge-diff's `value.ToString`: strings quoted as Go's `%q`.
fn value_to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => go_quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_to_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", value_to_string(v)))
            .collect(),
    }
}

/// Go's `strconv.Quote` for the characters that occur in practice.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes `v` as Go's `encoding/json` does: HTML-safe escapes (`<`, `>`,
/// `&` as `\u003c`...), and, with `sort_keys`, object keys in byte order (a Go
/// map); without, in the value's own order.
pub(crate) fn go_json(out: &mut String, v: &Value, sort_keys: bool) {
    match v {
        Value::String(s) => go_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(out, item, sort_keys);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            let mut entries: Vec<_> = m.iter().collect();
            if sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(out, k);
                out.push(':');
                go_json(out, item, sort_keys);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

pub(crate) fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A set of field paths: structured-merge-diff's `fieldpath.Set`. A path is a
/// member when the set holds it itself; children hold the longer paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// A set of the given paths.
    pub fn from_paths<'a>(paths: impl IntoIterator<Item = &'a [PathElement]>) -> FieldSet {
        let mut s = FieldSet::new();
        for p in paths {
            s.insert(p);
        }
        s
    }

    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds a path (the empty path is no field, and is ignored as upstream).
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            // Looked up before inserting: cloning the element for every
            // path through an existing child was most of a create's cost.
            [first, rest @ ..] => match self.children.get_mut(first) {
                Some(child) => child.insert(rest),
                None => {
                    let mut child = FieldSet::new();
                    child.insert(rest);
                    self.children.insert(first.clone(), child);
                }
            },
        }
    }

    /// Whether the set holds `path` itself.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// The paths under `pe`, without it.
    pub fn with_prefix(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    pub(crate) fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    pub(crate) fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    pub(crate) fn add_member(&mut self, pe: PathElement) {
        self.members.insert(pe);
    }

    pub(crate) fn set_child(&mut self, pe: PathElement, child: FieldSet) {
        if child.is_empty() {
            self.children.remove(&pe);
        } else {
            self.children.insert(pe, child);
        }
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    /// Paths in either set, from two sets the caller hands over: the
    /// larger one is kept when the other is empty (a create's changes are
    /// all additions).
    pub fn merge(mut self, other: FieldSet) -> FieldSet {
        if self.is_empty() {
            return other;
        }
        self.union_with(&other);
        self
    }

    /// Adds the paths of `other`, copying only what `self` lacks; whether
    /// it added any.
    pub fn union_with(&mut self, other: &FieldSet) -> bool {
        let mut changed = false;
        for m in &other.members {
            if !self.members.contains(m) {
                self.members.insert(m.clone());
                changed = true;
            }
        }
        for (pe, child) in &other.children {
            if child.is_empty() {
                continue;
            }
            match self.children.get_mut(pe) {
                Some(mine) => changed |= mine.union_with(child),
                None => {
                    self.children.insert(pe.clone(), child.clone());
                    changed = true;
                }
            }
        }
        changed
    }

    /// Whether no path is in both sets.
    pub fn is_disjoint(&self, other: &FieldSet) -> bool {
        self.members.is_disjoint(&other.members)
            && self.children.iter().all(|(pe, child)| {
                other
                    .children
                    .get(pe)
                    .is_none_or(|theirs| child.is_disjoint(theirs))
            })
    }

    /// Removes the paths of `other` in place (what [`FieldSet::difference`]
    /// returns); whether anything was removed.
    pub fn subtract(&mut self, other: &FieldSet) -> bool {
        let mut changed = false;
        for m in &other.members {
            changed |= self.members.remove(m);
        }
        for (pe, theirs) in &other.children {
            if let Some(mine) = self.children.get_mut(pe)
                && mine.subtract(theirs)
            {
                changed = true;
                if mine.is_empty() {
                    self.children.remove(pe);
                }
            }
        }
        changed
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.intersection(&other.members).cloned().collect();
        for (pe, child) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                out.set_child(pe.clone(), child.intersection(theirs));
            }
        }
        out
    }

    /// Paths of `self` not in `other` (upstream's `Difference`: a member of
    /// `other` does not take away the paths below it).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.difference(&other.members).cloned().collect();
        for (pe, child) in &self.children {
            let rest = match other.children.get(pe) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            out.set_child(pe.clone(), rest);
        }
        out
    }

    /// Paths of `self` neither in `other` nor below a member of `other`
    /// (upstream's `RecursiveDifference`).
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.difference(&other.members).cloned().collect();
        for (pe, child) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            let rest = match other.children.get(pe) {
                Some(theirs) => child.recursive_difference(theirs),
                None => child.clone(),
            };
            out.set_child(pe.clone(), rest);
        }
        out
    }

    /// Every path, members before children at each level, in order (as
    /// upstream's `Iterate`).
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(p);
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The `FieldsV1` form: `{"f:spec":{"f:replicas":{}}}`, with `".": {}`
    /// where a path is both a member and has children.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.fields_v1_contents(false))
    }

    fn fields_v1_contents(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::with_capacity(
            usize::from(include_self) + self.members.len() + self.children.len(),
        );
        if include_self {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        // Members and children merged in path-element order, as upstream emits them.
        for (pe, member, child) in self.merged() {
            let v = match child {
                Some(c) => Value::Object(c.fields_v1_contents(member)),
                None => Value::Object(Map::new()),
            };
            out.insert(pe.to_fields_v1_key(), v);
        }
        out
    }

    /// Members and non-empty children in one path-element order: each
    /// element once, whether it is a member, and its children.
    fn merged(&self) -> impl Iterator<Item = (&PathElement, bool, Option<&FieldSet>)> {
        let mut members = self.members.iter().peekable();
        let mut children = self
            .children
            .iter()
            .filter(|(_, c)| !c.is_empty())
            .peekable();
        std::iter::from_fn(move || match (members.peek(), children.peek()) {
            (None, None) => None,
            (Some(_), None) => members.next().map(|m| (m, true, None)),
            (None, Some(_)) => children.next().map(|(pe, c)| (pe, false, Some(c))),
            (Some(m), Some((c, _))) => match (*m).cmp(c) {
                Ordering::Less => members.next().map(|m| (m, true, None)),
                Ordering::Greater => children.next().map(|(pe, c)| (pe, false, Some(c))),
                Ordering::Equal => {
                    members.next();
                    children.next().map(|(pe, c)| (pe, true, Some(c)))
                }
            },
        })
    }

    /// Whether `v` is exactly the `FieldsV1` form of this set, key order
    /// included (what [`FieldSet::to_fields_v1`] gives), without encoding
    /// the set: a stored entry that passes is written back as it was.
    pub fn is_fields_v1_of(&self, v: &Value) -> bool {
        match v {
            Value::Object(m) => self.is_fields_v1_contents(m, false),
            _ => false,
        }
    }

    fn is_fields_v1_contents(&self, m: &Map<String, Value>, include_self: bool) -> bool {
        let is_empty_object = |v: &Value| matches!(v, Value::Object(o) if o.is_empty());
        let mut entries = m.iter();
        if include_self {
            match entries.next() {
                Some((k, v)) if k == "." && is_empty_object(v) => {}
                _ => return false,
            }
        }
        // Members and non-empty children merged in path-element order, as
        // `fields_v1_contents` writes them.
        for (pe, member, child) in self.merged() {
            let Some((k, v)) = entries.next() else {
                return false;
            };
            let key_matches = match pe {
                PathElement::Field(name) => k.strip_prefix("f:") == Some(name.as_str()),
                other => *k == other.to_fields_v1_key(),
            };
            let value_matches = match (child, v) {
                (Some(c), Value::Object(cm)) => c.is_fields_v1_contents(cm, member),
                (Some(_), _) => false,
                (None, v) => is_empty_object(v),
            };
            if !key_matches || !value_matches {
                return false;
            }
        }
        entries.next().is_none()
    }

    /// Parses the `FieldsV1` form.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, Error> {
        let (set, _) = read_fields_v1(v)?;
        Ok(set.unwrap_or_default())
    }
}

/// Returns the children (None when there are none) and whether the node is a
/// member of its parent: as upstream's `readIterV1`.
fn read_fields_v1(v: &Value) -> Result<(Option<FieldSet>, bool), Error> {
    let Value::Object(m) = v else {
        return Err(Error::FieldsV1 {
            key: String::new(),
            why: format!("expected an object, got {v}"),
        });
    };
    let mut children: Option<FieldSet> = None;
    let mut is_member = false;
    for (key, sub) in m {
        if key == "." {
            is_member = true;
            continue;
        }
        let Some(pe) = PathElement::from_fields_v1_key(key)? else {
            continue;
        };
        let (grandchildren, child_is_member) = read_fields_v1(sub)?;
        if child_is_member {
            children
                .get_or_insert_with(FieldSet::new)
                .members
                .insert(pe.clone());
        }
        if let Some(g) = grandchildren {
            let c = children.get_or_insert_with(FieldSet::new);
            let merged = match c.children.get(&pe) {
                Some(old) => old.union(&g),
                None => g,
            };
            c.set_child(pe, merged);
        }
    }
    if children.is_none() {
        is_member = true;
    }
    Ok((children, is_member))
}

/// Whether `raw`, the `FieldsV1` encoding of some set (as
/// [`FieldSet::to_fields_v1`] writes it), has a path in common with `set`:
/// read in its encoded form, without decoding it into a set.
pub(crate) fn fields_v1_intersects(raw: &Value, set: &FieldSet) -> bool {
    match raw {
        Value::Object(m) => contents_intersect(m, set, &mut String::new()),
        _ => false,
    }
}

/// `pe`'s key in a fieldsV1 object, written into `key` (reused: these walks
/// look up one key per member of a set).
fn fields_v1_key_into(pe: &PathElement, key: &mut String) {
    key.clear();
    match pe {
        PathElement::Field(name) => {
            key.push_str("f:");
            key.push_str(name);
        }
        other => key.push_str(&other.to_fields_v1_key()),
    }
}

fn contents_intersect(m: &Map<String, Value>, set: &FieldSet, key: &mut String) -> bool {
    for (pe, member, child) in set.merged() {
        fields_v1_key_into(pe, key);
        let Some(Value::Object(sub)) = m.get(key.as_str()) else {
            continue;
        };
        // In the encoding, an element is a member when it is a leaf (`{}`)
        // or says so (`"."`); its other keys are its children.
        if member && (sub.is_empty() || sub.contains_key(".")) {
            return true;
        }
        if let Some(child) = child
            && contents_intersect(sub, child, key)
        {
            return true;
        }
    }
    false
}

/// Whether `v` decodes ([`FieldSet::from_fields_v1`]) to a set whose
/// encoding is `v` itself, byte for byte: such a stored form can stand for
/// its set undecoded. Checked without building the set; a `false` only
/// means the caller decodes it.
pub(crate) fn is_canonical_fields_v1(v: &Value) -> bool {
    match v {
        Value::Object(m) => canonical_contents(m, false),
        _ => false,
    }
}

/// The contents of one element: members and children in strictly
/// increasing element order, each key as the element encodes, leaves `{}`,
/// and with `nested` (an element's children rather than the top), a leading
/// `"."` only where children follow it.
fn canonical_contents(m: &Map<String, Value>, nested: bool) -> bool {
    let mut entries = m.iter().peekable();
    if let Some((k, v)) = entries.peek()
        && *k == "."
    {
        let is_empty_object = matches!(v, Value::Object(o) if o.is_empty());
        if !nested || !is_empty_object {
            return false;
        }
        entries.next();
        if entries.peek().is_none() {
            return false;
        }
    }
    // The previous element: fields compare by name (their encoding is the
    // name), the other kinds as elements.
    let mut prev_field: Option<&str> = None;
    let mut prev_other: Option<PathElement> = None;
    for (k, v) in entries {
        let Value::Object(sub) = v else {
            return false;
        };
        if let Some(name) = k.strip_prefix("f:") {
            if prev_other.is_some() || prev_field.is_some_and(|p| p >= name) {
                return false;
            }
            prev_field = Some(name);
        } else {
            let Ok(Some(pe)) = PathElement::from_fields_v1_key(k) else {
                return false;
            };
            if pe.to_fields_v1_key() != *k
                || prev_other
                    .as_ref()
                    .is_some_and(|p| p.cmp(&pe) != Ordering::Less)
            {
                return false;
            }
            prev_other = Some(pe);
        }
        if !sub.is_empty() && !canonical_contents(sub, true) {
            return false;
        }
    }
    true
}

/// Whether `raw`, the `FieldsV1` encoding of some set, holds every path of
/// `set`: read in its encoded form, without decoding it into a set.
pub(crate) fn fields_v1_contains(raw: &Value, set: &FieldSet) -> bool {
    match raw {
        Value::Object(m) => contents_contain(m, set, &mut String::new()),
        _ => set.is_empty(),
    }
}

fn contents_contain(m: &Map<String, Value>, set: &FieldSet, key: &mut String) -> bool {
    set.merged().all(|(pe, member, child)| {
        fields_v1_key_into(pe, key);
        let Some(Value::Object(sub)) = m.get(key.as_str()) else {
            return false;
        };
        (!member || sub.is_empty() || sub.contains_key("."))
            && child.is_none_or(|c| contents_contain(sub, c, key))
    })
}

/// Removes the paths of `set` from `raw`, the `FieldsV1` encoding of some
/// set, in place: `raw` becomes the encoding of the difference (what
/// [`FieldSet::subtract`] and encoding would give), without decoding it.
/// Whether anything was removed.
pub(crate) fn fields_v1_subtract(raw: &mut Value, set: &FieldSet) -> bool {
    match raw {
        Value::Object(m) => contents_subtract(m, set),
        _ => false,
    }
}

fn contents_subtract(m: &mut Map<String, Value>, set: &FieldSet) -> bool {
    let mut changed = false;
    for (pe, member, child) in set.merged() {
        let key = pe.to_fields_v1_key();
        let Some(Value::Object(sub)) = m.get_mut(&key) else {
            continue;
        };
        // An element is a member when it is a leaf (`{}`) or says so
        // (`"."`); its other keys are its children.
        let was_member = sub.is_empty() || sub.contains_key(".");
        if let Some(child) = child
            && contents_subtract(sub, child)
        {
            changed = true;
        }
        let is_member = was_member && !member;
        changed |= was_member && member;
        // Encoded again as `fields_v1_contents` would: `"."` first only
        // for a member with children, `{}` for a member alone, nothing for
        // an element that is neither.
        if sub.keys().any(|k| k != ".") {
            if !is_member {
                sub.shift_remove(".");
            }
        } else if is_member {
            sub.clear();
        } else {
            m.shift_remove(&key);
        }
    }
    changed
}
