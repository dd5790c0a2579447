//! Field management and server-side apply: `metadata.managedFields` as
//! kube-apiserver keeps it (k8s.io/apimachinery `pkg/util/managedfields`
//! over sigs.k8s.io/structured-merge-diff).
//!
//! Owns: field sets and their `FieldsV1` encoding ([`FieldSet`]), the fields
//! an object sets ([`fields_of`]), the bookkeeping of a non-apply write
//! ([`update`]: changed fields move to the writer, `before-first-apply`, the
//! cap of ten update managers with `ancient-changes`, a request's own
//! `managedFields`), and server-side apply ([`apply`]: the merge, pruning of
//! fields an applier stopped applying, conflicts and `force`, and kubectl's
//! move from client-side apply through `last-applied-configuration`).
//!
//! Does not own: decoding, defaulting, validation or storage of the object
//! (the API server runs defaulting and validation on what [`apply`]
//! returns), conversion between versions (every manager's fields are read
//! as if in the request's version), and the strategies' reset fields (passed
//! in through [`Request::reset_fields`]).
//!
//! The chain of upstream's `NewDefaultFieldManager` is kept, outermost first:
//! version check, last-applied updater, last-applied manager, skip non-applied
//! (`before-first-apply`), cap managers, manager identity, time stamping
//! (`current-operation`), strip of metadata, structured merge.

mod fieldpath;
mod typed;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod tests;

use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use crate::Status;
use crate::status::Cause;

pub use fieldpath::{FieldSet, PathElement, path_string};
use typed::Node;

/// Errors of field management.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A `FieldsV1` key that is not a path element.
    #[error("invalid managed fields key {key:?}: {why}")]
    FieldsV1 { key: String, why: String },
    /// A `managedFields` entry that cannot be decoded.
    #[error("{why}")]
    ManagedFields { why: String },
    /// The object handed in is not a JSON object.
    #[error("the {what} object is not a JSON object")]
    NotAnObject { what: &'static str },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Who owns the field.
    pub manager: ManagerId,
    /// The field as upstream prints it: `.spec.replicas`,
    /// `.spec.containers[name="c"].image`.
    pub field: String,
}

/// Why a server-side apply failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// Fields of the configuration are owned by other managers with other
    /// values; answered with 409 (see [`ApplyError::to_status`]).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The request is malformed (wrong kind, `managedFields` set): 400.
    #[error("{0}")]
    BadRequest(String),
    /// The configuration does not fit the schema (an associative list item
    /// without its key, duplicate keys): upstream answers 500.
    #[error("{0}")]
    Invalid(String),
    /// The live object's `managedFields` cannot be decoded: 500.
    #[error("failed to decode managed fields: {0}")]
    Decode(#[source] Error),
}

impl ApplyError {
    /// The `metav1.Status` kube-apiserver answers with. For conflicts:
    /// 409 `Conflict`, upstream's message and one `FieldManagerConflict`
    /// cause per field (upstream names no object in the details).
    pub fn to_status(&self) -> Status {
        match self {
            ApplyError::Conflicts(conflicts) => {
                let mut status = Status {
                    code: 409,
                    reason: "Conflict",
                    message: conflict_message(conflicts),
                    details: Some(Box::new(json!({}))),
                    retry_after: None,
                };
                for c in conflicts {
                    status = status.with_cause(Cause {
                        reason: "FieldManagerConflict".into(),
                        message: format!("conflict with {}", c.manager.describe()),
                        field: c.field.clone(),
                    });
                }
                status
            }
            ApplyError::BadRequest(m) => Status::bad_request(m.clone()),
            ApplyError::Invalid(m) => Status::internal(m),
            ApplyError::Decode(_) => Status::internal(self),
        }
    }
}

/// Upstream's `getConflictMessage`.
fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager.describe(),
            c.field
        );
    }
    let mut by_manager: BTreeMap<&ManagerId, Vec<&str>> = BTreeMap::new();
    for c in conflicts {
        by_manager.entry(&c.manager).or_default().push(&c.field);
    }
    let mut lines = Vec::new();
    for (manager, fields) in by_manager {
        lines.push(format!("conflicts with {}:", manager.describe()));
        lines.extend(fields.into_iter().map(|f| format!("- {f}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// `Apply` or `Update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who owns a set of fields: upstream's manager identifier (the manager
/// name, the operation, for updates the API version, and the subresource).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ManagerId {
    manager: String,
    operation: Operation,
    /// Empty for appliers: an applier stays one manager across versions.
    api_version: String,
    /// Empty for the main resource.
    subresource: String,
    /// The identifier upstream keys managers by, built once: every lookup in
    /// the managers' map compares it, and building it there dominated the
    /// cost of a write.
    key: String,
}

impl ManagerId {
    fn new(manager: &str, operation: Operation, api_version: &str, subresource: &str) -> Self {
        let api_version = if operation == Operation::Apply {
            ""
        } else {
            api_version
        };
        ManagerId {
            manager: manager.to_string(),
            operation,
            api_version: api_version.to_string(),
            subresource: subresource.to_string(),
            key: Self::key_of(manager, operation, api_version, subresource),
        }
    }

    /// The manager's name (empty when the entry named none).
    pub fn manager(&self) -> &str {
        &self.manager
    }

    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// Empty for appliers.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// Empty for the main resource.
    pub fn subresource(&self) -> &str {
        &self.subresource
    }

    /// The identifier upstream keys managers by (JSON of the entry without
    /// fields and time); managers sort by it.
    fn key_of(manager: &str, operation: Operation, api_version: &str, subresource: &str) -> String {
        let mut out = String::from("{");
        if !manager.is_empty() {
            out.push_str("\"manager\":");
            fieldpath::go_json_string(&mut out, manager);
            out.push(',');
        }
        out.push_str("\"operation\":\"");
        out.push_str(operation.as_str());
        out.push('"');
        if !api_version.is_empty() {
            out.push_str(",\"apiVersion\":");
            fieldpath::go_json_string(&mut out, api_version);
        }
        if !subresource.is_empty() {
            out.push_str(",\"subresource\":");
            fieldpath::go_json_string(&mut out, subresource);
        }
        out.push('}');
        out
    }

    /// How conflicts name the manager: `"m"`, `"m" with subresource "status"`,
    /// `"m" using apps/v1` (upstream's `printManager`).
    pub fn describe(&self) -> String {
        let mut s = fieldpath::go_quote(&self.manager);
        if !self.subresource.is_empty() {
            s = format!(
                "{s} with subresource {}",
                fieldpath::go_quote(&self.subresource)
            );
        }
        if self.operation == Operation::Update {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }

    /// The stand-in upstream's time stamping uses for the writer of an
    /// update (`current-operation`): no decoded entry has an update without
    /// an API version.
    fn current_operation() -> ManagerId {
        ManagerId::new("", Operation::Update, "", "")
    }
}

impl PartialOrd for ManagerId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ManagerId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

/// The fields one manager owns.
#[derive(Debug, Clone)]
struct Entry {
    /// The set; for an entry read from storage, decoded from `raw` only
    /// when a write needs it: most writes leave most managers' fields
    /// alone, and decoding them was much of a write's cost.
    set: OnceCell<FieldSet>,
    api_version: String,
    applied: bool,
    time: Option<String>,
    /// The stored `fieldsV1` this set was decoded from, when it is exactly
    /// what encoding the set gives: the entry is then written back as it
    /// was instead of being encoded again. Cleared when the set changes.
    /// Always present while `set` is not decoded.
    raw: Option<Value>,
}

impl Entry {
    fn new(set: FieldSet, api_version: &str, applied: bool, time: Option<String>) -> Entry {
        Entry {
            set: OnceCell::from(set),
            api_version: api_version.to_string(),
            applied,
            time,
            raw: None,
        }
    }

    /// The fields.
    fn set(&self) -> &FieldSet {
        self.set.get_or_init(|| self.decode_raw())
    }

    /// The set of the stored form (only a stored form that decodes is kept
    /// undecoded).
    fn decode_raw(&self) -> FieldSet {
        self.raw
            .as_ref()
            .and_then(|raw| FieldSet::from_fields_v1(raw).ok())
            .unwrap_or_default()
    }

    /// Changes the set in place with `change`, which tells whether it
    /// changed anything: the stored encoding goes only then.
    fn modify(&mut self, change: impl FnOnce(&mut FieldSet) -> bool) {
        let mut set = match self.set.take() {
            Some(set) => set,
            None => self.decode_raw(),
        };
        if change(&mut set) {
            self.raw = None;
        }
        self.set = OnceCell::from(set);
    }

    /// Adds `other`'s fields; an entry not decoded yet that has them all
    /// stays so.
    fn union_with(&mut self, other: &FieldSet) {
        if let (None, Some(raw)) = (self.set.get(), &self.raw)
            && fieldpath::fields_v1_contains(raw, other)
        {
            return;
        }
        self.modify(|set| set.union_with(other));
    }

    /// Removes `other`'s fields; an entry not decoded yet has them removed
    /// from its stored form, which stays its set's encoding.
    fn subtract(&mut self, other: &FieldSet) {
        if let (None, Some(raw)) = (self.set.get(), &mut self.raw) {
            fieldpath::fields_v1_subtract(raw, other);
        } else if !self.is_disjoint(other) {
            self.modify(|set| set.subtract(other));
        }
    }

    /// Whether the entry owns none of `other`'s fields; an entry not
    /// decoded yet is read in its stored form, which stays undecoded.
    fn is_disjoint(&self, other: &FieldSet) -> bool {
        match (self.set.get(), &self.raw) {
            (None, Some(raw)) => !fieldpath::fields_v1_intersects(raw, other),
            _ => self.set().is_disjoint(other),
        }
    }

    fn is_empty(&self) -> bool {
        match (self.set.get(), &self.raw) {
            // The encoding of an empty set is `{}`.
            (None, Some(raw)) => raw.as_object().is_none_or(Map::is_empty),
            _ => self.set().is_empty(),
        }
    }

    /// The `fieldsV1` of the set.
    fn into_fields_v1(self) -> Value {
        match self.raw {
            Some(raw) => raw,
            None => self.set().to_fields_v1(),
        }
    }
}

type Managed = BTreeMap<ManagerId, Entry>;

/// What a write is: the kind, the version of the request, who writes, and
/// where.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// API group of the kind (`""` for the core group).
    pub group: &'a str,
    pub kind: &'a str,
    /// `apiVersion` of the request (`apps/v1`, `v1`).
    pub api_version: &'a str,
    /// The `fieldManager` (or the user agent's first part); empty means
    /// `unknown`.
    pub manager: &'a str,
    /// `status`, `scale`, ... for writes through a subresource.
    pub subresource: Option<&'a str>,
    /// The time of the write, RFC 3339 (`2025-01-02T03:04:05Z`).
    pub now: &'a str,
    /// Fields the strategy resets on this endpoint (a main resource's
    /// `status`, a status subresource's `spec`): nobody gains them here.
    pub reset_fields: Option<&'a FieldSet>,
}

impl Request<'_> {
    fn node(&self) -> Node {
        Node::root(self.group, self.api_version, self.kind)
    }

    fn subresource(&self) -> &str {
        self.subresource.unwrap_or("")
    }

    fn manager_name(&self) -> &str {
        if self.manager.is_empty() {
            "unknown"
        } else {
            self.manager
        }
    }
}

/// The fields `obj` sets, with the schema of `group`/`kind` at the object's
/// own `apiVersion` (upstream's `ToFieldSet`): every leaf, every associative
/// list item (`k:{...}`/`v:...`) and every map entry, atomic values as one
/// field. It includes `apiVersion`, `kind` and `metadata.name`; an applier's
/// managed fields are this set without them.
pub fn fields_of(group: &str, kind: &str, obj: &Value) -> FieldSet {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    typed::to_field_set(Node::root(group, api_version, kind), obj)
}

/// Updates `metadata.managedFields` for a create, update or non-apply patch
/// of the main resource: see [`update_request`].
pub fn update(
    group: &str,
    kind: &str,
    version: &str,
    manager: &str,
    old: Option<&Value>,
    new: &Value,
    now: &str,
) -> Result<Value> {
    let req = Request {
        group,
        kind,
        api_version: version,
        manager,
        subresource: None,
        now,
        reset_fields: None,
    };
    update_request(&req, old, new)
}

/// Updates `metadata.managedFields` of `new` for a write that is not an
/// apply (`old` is None on create): the fields that changed from `old` now
/// belong to the writer's `Update` entry and to nobody else. Returns `new`
/// with its `managedFields` set (or removed when nobody owns anything).
///
/// As upstream: the request's own `managedFields` replace the stored ones
/// when they decode to a non-empty list (`[]` clears them; garbage is
/// ignored); a subresource write always starts from the stored ones; an
/// existing object that has no managed fields stays untracked.
pub fn update_request(req: &Request<'_>, old: Option<&Value>, new: &Value) -> Result<Value> {
    update_owned(req, old, new.clone())
}

/// [`update_request`] on an object the caller hands over, which spares a
/// copy of it: the API server's write path.
pub fn update_owned(req: &Request<'_>, old: Option<&Value>, new: Value) -> Result<Value> {
    update_decoding(req, old, new, Path::Fast)
}

fn update_decoding(
    req: &Request<'_>,
    old: Option<&Value>,
    mut new: Value,
    mode: Path,
) -> Result<Value> {
    let Value::Object(_) = new else {
        return Err(Error::NotAnObject { what: "new" });
    };
    let node = req.node();
    let stored = old.and_then(|o| managed_fields_of(o));
    let requested = take_managed_fields(&mut new).filter(|m| !m.is_null());
    // The stored managers. A request that carries the stored managed
    // fields (a write of what was read, a status write) hands its equal
    // copy over to decode, which spares copying them.
    let live_managed = |requested: Option<Value>| -> Managed {
        let decoded = match (stored, requested) {
            (None, _) => return Managed::new(),
            (Some(m), Some(r)) if r == *m => decode_owned(r, mode),
            (Some(m), _) => decode_taking(m, None, mode),
        };
        decoded.unwrap_or_default()
    };
    let mut managed = if req.subresource.is_some() {
        live_managed(requested)
    } else {
        match requested {
            Some(m) if is_reset(&m) => Managed::new(),
            // The common case of a write of what was read: decoded once, and
            // from the stored form (which decodes alike when it is equal).
            Some(m) if stored == Some(&m) => live_managed(Some(m)),
            Some(m) => match decode_owned(m, mode) {
                Ok(d) if !d.is_empty() => d,
                _ => live_managed(None),
            },
            None => live_managed(None),
        }
    };

    // Skip non-applied: an existing object nobody tracks stays untracked.
    let exists = old.is_some_and(|o| {
        o.pointer("/metadata/uid")
            .and_then(Value::as_str)
            .is_some_and(|u| !u.is_empty())
    });
    if managed.is_empty() && exists {
        return Ok(new);
    }

    let empty;
    let live = match old {
        Some(o) => o,
        None => {
            empty = empty_object(node);
            &empty
        }
    };
    // The live object's managedFields are no field of it: the walk leaves
    // them out rather than comparing a copy without them.
    let Some(cmp) = typed::compare_valid(node, live, &new, typed::Skip::ManagedFields) else {
        // Upstream's UpdateNoErrors: keep the stored managed fields.
        if let Some(m) = stored {
            set_managed_fields(&mut new, Some(m.clone()));
        }
        return Ok(new);
    };
    let id = ManagerId::new(
        req.manager_name(),
        Operation::Update,
        req.api_version,
        req.subresource(),
    );
    update_managed(req, cmp, &mut managed, &id, mode);
    cap_update_managers(&mut managed, MAX_UPDATE_MANAGERS);
    set_managed_fields(&mut new, encode(managed));
    Ok(new)
}

/// Server-side apply of `config` over `live` (None: the object does not exist
/// yet) by `manager` on the main resource: see [`apply_request`].
#[allow(clippy::too_many_arguments)]
pub fn apply(
    group: &str,
    kind: &str,
    version: &str,
    manager: &str,
    live: Option<&Value>,
    config: &Value,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    let req = Request {
        group,
        kind,
        api_version: version,
        manager,
        subresource: None,
        now,
        reset_fields: None,
    };
    apply_request(&req, live, config, force)
}

/// Server-side apply: merges `config` into `live` by the schema, removes
/// what this applier applied last time and no longer applies (unless another
/// manager owns it), records the applier's `Apply` entry, and fails with the
/// conflicts on fields other managers own with other values unless `force`.
/// Returns the new object with its `managedFields`; the caller defaults and
/// validates it.
pub fn apply_request(
    req: &Request<'_>,
    live: Option<&Value>,
    config: &Value,
    force: bool,
) -> Result<Value, ApplyError> {
    // Version check: the configuration must be of the endpoint's kind.
    let config_version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let config_kind = config.get("kind").and_then(Value::as_str).unwrap_or("");
    if config_version != req.api_version || config_kind != req.kind {
        return Err(ApplyError::BadRequest(format!(
            "invalid object type: {}",
            gvk_string(config_version, config_kind)
        )));
    }
    let Value::Object(_) = config else {
        return Err(ApplyError::BadRequest(
            "the applied configuration is not an object".into(),
        ));
    };
    let node = req.node();
    let live_obj = match live {
        Some(l @ Value::Object(_)) => l.clone(),
        Some(_) => {
            return Err(ApplyError::Decode(Error::NotAnObject { what: "live" }));
        }
        // An apply that creates merges into nothing (the empty Go object's
        // zero values are the defaulting's business).
        None => Value::Object(Map::new()),
    };
    let managed = match managed_fields_of(&live_obj) {
        Some(m) => decode(m).map_err(ApplyError::Decode)?,
        None => Managed::new(),
    };

    let result = apply_tracked(req, node, &live_obj, config, managed.clone(), force);
    let (mut out, managed) = match (result, req.manager == KUBECTL) {
        (Err(ApplyError::Conflicts(conflicts)), true) => {
            // Last-applied manager: kubectl moving from client-side apply may
            // take the fields its last client-side apply set.
            match allowed_from_last_applied(node, req.api_version, &live_obj) {
                Some(allowed) => {
                    let rest: Vec<Conflict> = conflicts
                        .into_iter()
                        .filter(|c| !allowed.contains(&c.field))
                        .collect();
                    if !rest.is_empty() {
                        return Err(ApplyError::Conflicts(rest));
                    }
                    apply_tracked(req, node, &live_obj, config, managed, true)?
                }
                None => return Err(ApplyError::Conflicts(conflicts)),
            }
        }
        (result, _) => result?,
    };
    // Last-applied updater: kubectl's server-side apply keeps the
    // client-side annotation in step when the object has one.
    if req.manager == KUBECTL && has_last_applied(&out) {
        set_last_applied(&mut out, &build_last_applied(config));
    }
    set_managed_fields(&mut out, encode(managed));
    Ok(out)
}

const KUBECTL: &str = "kubectl";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const MAX_UPDATE_MANAGERS: usize = 10;
/// apimachinery's `TotalAnnotationSizeLimitB`.
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Skip non-applied, then the apply itself: returns the new object (without
/// managed fields) and the managers.
fn apply_tracked(
    req: &Request<'_>,
    node: Node,
    live: &Value,
    config: &Value,
    mut managed: Managed,
    force: bool,
) -> Result<(Value, Managed), ApplyError> {
    let mut live = live.clone();
    strip_managed_fields(&mut live);
    if managed.is_empty() {
        // What the object holds before its first apply belongs to
        // `before-first-apply`, so the applier conflicts with it.
        let id = ManagerId::new(
            BEFORE_FIRST_APPLY,
            Operation::Update,
            req.api_version,
            req.subresource(),
        );
        if typed::validate(node, &live).is_ok() {
            let cmp = typed::compare(node, &empty_object(node), &live);
            update_managed(req, cmp, &mut managed, &id, Path::General);
            cap_update_managers(&mut managed, MAX_UPDATE_MANAGERS);
        }
    }
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApplyError::BadRequest(
            "metadata.managedFields must be nil".into(),
        ));
    }
    typed::validate(node, config).map_err(|why| {
        ApplyError::Invalid(format!(
            "failed to create typed patch object ({}): {why}",
            object_gvknn(config)
        ))
    })?;
    typed::validate(node, &live).map_err(|why| {
        ApplyError::Invalid(format!(
            "failed to create typed live object ({}): {why}",
            object_gvknn(&live)
        ))
    })?;

    let id = ManagerId::new(req.manager_name(), Operation::Apply, "", req.subresource());
    let merged = typed::merge(node, &live, config);
    let mut set = typed::to_field_set(node, config);
    if let Some(reset) = req.reset_fields {
        set = set.recursive_difference(reset);
    }
    let last = managed.get(&id).map(|e| e.set().clone());
    let time = managed.get(&id).and_then(|e| e.time.clone());
    managed.insert(id.clone(), Entry::new(set, req.api_version, true, time));
    let new = match &last {
        Some(last) if !last.is_empty() => prune(node, &merged, &managed, last),
        _ => merged,
    };
    let cmp = typed::compare(node, &live, &new);
    update_owners(req, cmp, &mut managed, &id, None, force).map_err(ApplyError::Conflicts)?;
    strip_meta(&mut managed, &id);
    if !fieldpath::values_equal(&live, &new)
        && let Some(e) = managed.get_mut(&id)
    {
        e.time = Some(req.now.to_string());
    }
    Ok((new, managed))
}

const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Removes from `merged` what the applier owned last time and nobody owns
/// now (upstream's `prune` with its add-backs).
fn prune(node: Node, merged: &Value, managed: &Managed, last: &FieldSet) -> Value {
    let ensure = |s: &FieldSet| typed::ensure_named_fields_are_members(node, s);
    let last = ensure(last);
    let pruned = typed::remove_items(node, merged, &last);
    let owned = managed
        .values()
        .fold(FieldSet::new(), |acc, e| acc.union(e.set()));
    let merged_set = ensure(&typed::to_field_set(node, merged));
    let pruned_set = ensure(&typed::to_field_set(node, &pruned));
    let pruned = typed::remove_items(
        node,
        merged,
        &merged_set.difference(&pruned_set.union(&ensure(&owned))),
    );
    let pruned_set = ensure(&typed::to_field_set(node, &pruned));
    typed::remove_items(
        node,
        merged,
        &merged_set.difference(&pruned_set).intersection(&last),
    )
}

/// structured-merge-diff's `Updater.update`: fields that changed from `live`
/// to `new` leave every manager but `workflow`; without `force`, fields that
/// were modified or added under another manager are conflicts.
/// Returns the fields that changed (modified or added).
fn update_owners(
    req: &Request<'_>,
    mut cmp: typed::Comparison,
    managed: &mut Managed,
    workflow: &ManagerId,
    writer: Option<&ManagerId>,
    force: bool,
) -> std::result::Result<FieldSet, Vec<Conflict>> {
    if let Some(reset) = req.reset_fields {
        cmp.exclude(reset);
    }
    let typed::Comparison {
        removed,
        modified,
        added,
    } = cmp;
    let changed = modified.merge(added);
    // The writer of an update (`workflow` stands in for it here) regains
    // every changed field but the stripped metadata (`update_managed`):
    // when no such field changed, what it would give up it regains, so it
    // keeps its fields as they are.
    let keeps = writer.filter(|_| changed.is_disjoint(&STRIPPED));
    let mut conflicts: Vec<(ManagerId, FieldSet)> = Vec::new();
    let mut losers: Vec<ManagerId> = Vec::new();
    for (id, entry) in managed.iter() {
        if id == workflow || Some(id) == keeps || entry.is_disjoint(&changed) {
            continue;
        }
        // Forced, the others only lose the changed fields they own, which
        // needs no intersection (an undecoded entry stays so).
        if force {
            losers.push(id.clone());
            continue;
        }
        let c = entry.set().intersection(&changed);
        if !c.is_empty() {
            conflicts.push((id.clone(), c));
        }
    }
    if !force && !conflicts.is_empty() {
        return Err(conflicts
            .into_iter()
            .flat_map(|(id, set)| {
                set.paths().into_iter().map(move |p| Conflict {
                    manager: id.clone(),
                    field: path_string(&p),
                })
            })
            .collect());
    }
    // Unforced, any conflict failed above: only the forced lose fields.
    for id in losers {
        if let Some(e) = managed.get_mut(&id) {
            e.subtract(&changed);
        }
    }
    if !removed.is_empty() {
        for (id, e) in managed.iter_mut() {
            if id != workflow {
                e.subtract(&removed);
            }
        }
    }
    managed.retain(|_, e| !e.is_empty());
    Ok(changed)
}

/// An update by `id`: upstream's time stamping over the structured merge.
/// The writer gains what changed (without the metadata nobody owns) and its
/// entry is stamped only if it gained something.
fn update_managed(
    req: &Request<'_>,
    cmp: typed::Comparison,
    managed: &mut Managed,
    id: &ManagerId,
    path: Path,
) {
    let current = ManagerId::current_operation();
    let writer = (path == Path::Fast).then_some(id);
    let Ok(mut set) = update_owners(req, cmp, managed, &current, writer, true) else {
        return;
    };
    if let Some(reset) = req.reset_fields {
        set = set.recursive_difference(reset);
    }
    managed.insert(
        current.clone(),
        Entry::new(set, req.api_version, false, None),
    );
    strip_meta(managed, &current);
    if let Some(gained) = managed.remove(&current) {
        let time = Some(req.now.to_string());
        let entry = match managed.remove(id) {
            // A writer that gains nothing new keeps its stored encoding.
            Some(mut prev) => {
                prev.union_with(gained.set());
                Entry {
                    api_version: req.api_version.to_string(),
                    applied: false,
                    time,
                    ..prev
                }
            }
            None => Entry {
                api_version: req.api_version.to_string(),
                applied: false,
                time,
                ..gained
            },
        };
        managed.insert(id.clone(), entry);
    }
}

/// Fields nobody manages: type and object metadata kube-apiserver sets.
fn strip_meta(managed: &mut Managed, id: &ManagerId) {
    let Some(entry) = managed.get_mut(id) else {
        return;
    };
    entry.subtract(&STRIPPED);
    if entry.is_empty() {
        managed.remove(id);
    }
}

/// What [`strip_meta`] takes away, built once.
static STRIPPED: LazyLock<FieldSet> = LazyLock::new(|| {
    const TOP: [&str; 3] = ["apiVersion", "kind", "metadata"];
    const META: [&str; 9] = [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ];
    let mut strip = FieldSet::new();
    for f in TOP {
        strip.insert(&[PathElement::Field(f.into())]);
    }
    for f in META {
        strip.insert(&[
            PathElement::Field("metadata".into()),
            PathElement::Field(f.into()),
        ]);
    }
    strip
});

/// Keeps at most `max` update entries by merging the oldest into one
/// `ancient-changes` entry per API version (upstream's `capManagersManager`).
fn cap_update_managers(managed: &mut Managed, max: usize) {
    let mut updaters: Vec<ManagerId> = managed
        .iter()
        .filter(|(_, e)| !e.applied)
        .map(|(id, _)| id.clone())
        .collect();
    if updaters.len() <= max {
        return;
    }
    let seconds = |id: &ManagerId| {
        managed
            .get(id)
            .and_then(|e| e.time.as_deref())
            .map_or(0, unix_seconds)
    };
    updaters.sort_by(|a, b| seconds(a).cmp(&seconds(b)).then_with(|| a.cmp(b)));
    let mut first_of_version: BTreeMap<String, ManagerId> = BTreeMap::new();
    let mut length = updaters.len();
    for id in updaters {
        if length <= max {
            break;
        }
        let Some(entry) = managed.get(&id).cloned() else {
            continue;
        };
        let bucket = ManagerId::new(ANCIENT_CHANGES, Operation::Update, &entry.api_version, "");
        match first_of_version.get(&entry.api_version) {
            Some(first) => {
                if !managed.contains_key(&bucket)
                    && let Some(f) = managed.remove(first)
                {
                    managed.insert(bucket.clone(), f);
                }
                let bucket_set = managed
                    .get(&bucket)
                    .map(|b| b.set().clone())
                    .unwrap_or_default();
                managed.remove(&id);
                managed.insert(
                    bucket,
                    Entry::new(
                        entry.set().union(&bucket_set),
                        &entry.api_version,
                        false,
                        entry.time.clone(),
                    ),
                );
                length -= 1;
            }
            None => {
                first_of_version.insert(entry.api_version.clone(), id);
            }
        }
    }
}

const ANCIENT_CHANGES: &str = "ancient-changes";

fn unix_seconds(t: &str) -> i64 {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .map_or(0, |t| t.unix_timestamp())
}

fn managed_fields_of(obj: &Value) -> Option<&Value> {
    obj.pointer("/metadata/managedFields")
        .filter(|v| !v.is_null())
}

/// A non-nil empty list, or one empty entry, resets the managed fields.
fn is_reset(m: &Value) -> bool {
    match m {
        Value::Array(a) => {
            a.is_empty() || (a.len() == 1 && a[0].as_object().is_some_and(Map::is_empty))
        }
        _ => false,
    }
}

/// Decodes `metadata.managedFields` (upstream's `DecodeManagedFields`).
fn decode(m: &Value) -> Result<Managed> {
    decode_taking(m, None, Path::General)
}

/// How an update goes about its bookkeeping.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    /// Every manager's fields decoded, and every manager that owned a
    /// changed field giving it up, the writer too (who then regains it):
    /// upstream's steps one by one.
    General,
    /// The API server's update path: a stored form that is exactly its
    /// set's encoding is decoded only when the write needs the set (the
    /// entry stays as stored otherwise), and a writer that regains all it
    /// would give up keeps its fields (and stored form). The tests hold it
    /// to [`Path::General`]'s results.
    Fast,
}

/// [`decode`] of a value the caller hands over: the entries' `fieldsV1`
/// are moved into the managers rather than copied.
fn decode_owned(mut m: Value, mode: Path) -> Result<Managed> {
    let mut taken: Vec<Option<Value>> = match &mut m {
        Value::Array(entries) => entries
            .iter_mut()
            .map(|e| e.as_object_mut().and_then(|o| o.remove("fieldsV1")))
            .collect(),
        _ => Vec::new(),
    };
    decode_taking(&m, Some(&mut taken), mode)
}

/// [`decode`], reading each entry's `fieldsV1` from `taken` (by index)
/// when given, else from the entry.
fn decode_taking(
    m: &Value,
    mut taken: Option<&mut Vec<Option<Value>>>,
    mode: Path,
) -> Result<Managed> {
    let bad = |why: String| Error::ManagedFields { why };
    let Value::Array(entries) = m else {
        return Err(bad("managedFields must be a list".into()));
    };
    let mut out = Managed::new();
    for (i, e) in entries.iter().enumerate() {
        let Value::Object(e) = e else {
            return Err(bad(format!("managed fields entry {i} is not an object")));
        };
        let text = |k: &str| -> Result<&str> {
            match e.get(k) {
                None | Some(Value::Null) => Ok(""),
                Some(Value::String(s)) => Ok(s),
                Some(_) => Err(bad(format!(
                    "managed fields entry {i}: {k} must be a string"
                ))),
            }
        };
        let operation = match text("operation")? {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return Err(bad("operation must be `Apply` or `Update`".into())),
        };
        let api_version = text("apiVersion")?;
        if api_version.is_empty() {
            return Err(bad("apiVersion must not be empty".into()));
        }
        match text("fieldsType")? {
            "FieldsV1" => {}
            "" => {
                return Err(bad(format!(
                    "missing fieldsType in managed fields entry {i}"
                )));
            }
            other => {
                return Err(bad(format!(
                    "invalid fieldsType {other:?} in managed fields entry {i}"
                )));
            }
        }
        let fields_v1 = match taken.as_deref_mut() {
            Some(t) => t.get_mut(i).and_then(Option::take).map(Cow::Owned),
            None => e.get("fieldsV1").map(Cow::Borrowed),
        };
        let (set, raw) = match fields_v1 {
            None | Some(Cow::Borrowed(Value::Null)) | Some(Cow::Owned(Value::Null)) => {
                (Some(FieldSet::new()), None)
            }
            // Kept in its stored form, decoded when a write needs it.
            Some(f) if mode == Path::Fast && fieldpath::is_canonical_fields_v1(&f) => {
                (None, Some(f.into_owned()))
            }
            Some(f) => {
                let set = FieldSet::from_fields_v1(&f).map_err(|err| {
                    bad(format!(
                        "error decoding versioned set from entry {i}: {err}"
                    ))
                })?;
                let raw = set.is_fields_v1_of(&f).then(|| f.into_owned());
                (Some(set), raw)
            }
        };
        let time = text("time")?;
        let id = ManagerId::new(
            text("manager")?,
            operation,
            api_version,
            text("subresource")?,
        );
        let time = (!time.is_empty()).then(|| time.to_string());
        let mut entry = Entry::new(
            FieldSet::new(),
            api_version,
            operation == Operation::Apply,
            time,
        );
        entry.set = set.map(OnceCell::from).unwrap_or_default();
        entry.raw = raw;
        out.insert(id, entry);
    }
    Ok(out)
}

/// Encodes the managers as `metadata.managedFields`, sorted as upstream
/// (operation, time, manager, API version, subresource); None when empty.
fn encode(managed: Managed) -> Option<Value> {
    if managed.is_empty() {
        return None;
    }
    let op = |id: &ManagerId, e: &Entry| {
        if e.applied {
            Operation::Apply.as_str()
        } else {
            id.operation.as_str()
        }
    };
    // The time of each entry is parsed once, not in every comparison.
    let mut entries: Vec<(i64, ManagerId, Entry)> = managed
        .into_iter()
        .map(|(id, e)| (e.time.as_deref().map_or(0, unix_seconds), id, e))
        .collect();
    entries.sort_by(|(s, a, x), (t, b, y)| {
        op(a, x)
            .cmp(op(b, y))
            .then_with(|| s.cmp(t))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| x.api_version.cmp(&y.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    let list = entries
        .into_iter()
        .map(|(_, id, e)| {
            let mut m = Map::new();
            if !id.manager.is_empty() {
                m.insert("manager".into(), json!(id.manager));
            }
            let op = if e.applied {
                Operation::Apply
            } else {
                id.operation
            };
            m.insert("operation".into(), json!(op.as_str()));
            m.insert("apiVersion".into(), json!(e.api_version));
            if let Some(t) = &e.time {
                m.insert("time".into(), json!(t));
            }
            m.insert("fieldsType".into(), json!("FieldsV1"));
            m.insert("fieldsV1".into(), e.into_fields_v1());
            if !id.subresource.is_empty() {
                m.insert("subresource".into(), json!(id.subresource));
            }
            Value::Object(m)
        })
        .collect();
    Some(Value::Array(list))
}

fn strip_managed_fields(obj: &mut Value) {
    take_managed_fields(obj);
}

/// Removes `metadata.managedFields` and returns it.
fn take_managed_fields(obj: &mut Value) -> Option<Value> {
    match obj.get_mut("metadata") {
        Some(Value::Object(meta)) => meta.remove("managedFields"),
        _ => None,
    }
}

/// Sets (or, with None, removes) `metadata.managedFields`, last in
/// `metadata` as `ObjectMeta` orders it.
fn set_managed_fields(obj: &mut Value, m: Option<Value>) {
    let Value::Object(root) = obj else {
        return;
    };
    match m {
        Some(m) => {
            let meta = root
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(meta) = meta {
                meta.remove("managedFields");
                meta.insert("managedFields".into(), m);
            }
        }
        None => {
            if let Some(Value::Object(meta)) = root.get_mut("metadata") {
                meta.remove("managedFields");
            }
        }
    }
}

/// The object a create starts from: kube-apiserver compares a new object
/// with an empty Go struct, in which struct-valued fields (metadata, spec,
/// status, a pod template, a strategy) are present and a required list of
/// containers is null. Presence decides whether the writer owns the node
/// itself (`".": {}`) or only what is in it. The Go types are not in the
/// table, so the fields that are plain structs are named here.
fn empty_object(node: Node) -> Value {
    const STRUCT_FIELDS: [&str; 7] = [
        "metadata",
        "spec",
        "status",
        "template",
        "strategy",
        "updateStrategy",
        "jobTemplate",
    ];
    fn build(node: Node, depth: usize) -> Value {
        let mut m = Map::new();
        if let Node::Struct { ty, .. } = node
            && depth < 8
        {
            for f in STRUCT_FIELDS {
                let pe = PathElement::Field(f.into());
                if let Some(field) = ty.field(f)
                    && matches!(
                        field.shape,
                        crate::strategic_merge::schema::Shape::Object(_)
                    )
                {
                    m.insert(f.into(), build(node.child(&pe), depth + 1));
                }
            }
            if ty.name == "io.k8s.api.core.v1.PodSpec" {
                m.insert("containers".into(), Value::Null);
            }
        }
        Value::Object(m)
    }
    build(node, 0)
}

/// `group/version, Kind=kind` as Go prints a GroupVersionKind.
fn gvk_string(api_version: &str, kind: &str) -> String {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    format!("{group}/{version}, Kind={kind}")
}

/// `namespace/name; group/version, Kind=kind` (upstream's `objectGVKNN`).
fn object_gvknn(obj: &Value) -> String {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    format!(
        "{}/{}; {}",
        s("/metadata/namespace"),
        s("/metadata/name"),
        gvk_string(s("/apiVersion"), s("/kind"))
    )
}

fn last_applied(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn has_last_applied(obj: &Value) -> bool {
    last_applied(obj).is_some()
}

/// The fields kubectl's last client-side apply set and that still hold the
/// values it set: conflicts on them do not stop kubectl's first server-side
/// apply (upstream's `allowedConflictsFromLastApplied`). Field strings.
fn allowed_from_last_applied(node: Node, api_version: &str, live: &Value) -> Option<Vec<String>> {
    let text = last_applied(live)?;
    let last: Value = serde_json::from_str(text).ok()?;
    if !last.is_object() || last.get("apiVersion").and_then(Value::as_str) != Some(api_version) {
        return None;
    }
    typed::validate(node, &last).ok()?;
    let mut live = live.clone();
    strip_managed_fields(&mut live);
    let set = typed::to_field_set(node, &last);
    let cmp = typed::compare(node, &last, &live);
    let allowed = set
        .difference(&cmp.modified)
        .difference(&cmp.added)
        .difference(&cmp.removed);
    Some(allowed.paths().iter().map(|p| path_string(p)).collect())
}

/// The configuration as the annotation holds it: JSON with sorted keys and a
/// newline, without the annotation itself (upstream's `buildLastApplied`).
fn build_last_applied(config: &Value) -> String {
    let mut c = config.clone();
    if let Some(Value::Object(a)) = c.pointer_mut("/metadata/annotations") {
        a.remove(LAST_APPLIED);
    }
    let mut out = String::new();
    fieldpath::go_json(&mut out, &c, true);
    out.push('\n');
    out
}

/// Sets the annotation unless the annotations would grow past their limit
/// (upstream's `SetLastApplied`).
fn set_last_applied(obj: &mut Value, value: &str) {
    let Some(Value::Object(meta)) = obj.get_mut("metadata") else {
        return;
    };
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(a) = annotations else {
        return;
    };
    let others: usize = a
        .iter()
        .filter(|(k, _)| *k != LAST_APPLIED)
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if others + LAST_APPLIED.len() + value.len() > TOTAL_ANNOTATION_SIZE_LIMIT {
        a.remove(LAST_APPLIED);
    } else {
        a.insert(LAST_APPLIED.into(), json!(value));
    }
}
