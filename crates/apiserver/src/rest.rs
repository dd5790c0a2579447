//! The generic REST store: create, get, list, watch, update, patch, delete and
//! deletecollection for every kind, over [`skiff_store::Store`], with a
//! [`Strategy`] per kind for what differs (kube-apiserver's
//! `registry/generic/registry/store.go`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Map, Value, json};
use skiff_core::registry::ResourceInfo;
use skiff_core::status::{FieldError, GroupResource};
use skiff_core::{Status, conversion, meta, validation};
use skiff_store::KeyValue;
use time::OffsetDateTime;

use crate::ApiServer;
use crate::encoding::{self, Accept, Body};
use crate::request::{Query, RequestInfo};
use crate::strategy::{self, Strategy};

pub(crate) mod list;
mod patch;
#[cfg(test)]
mod tests;
mod watch;

pub type Result<T, E = Status> = std::result::Result<T, E>;

/// Where a stored resource's keys live; virtual resources never reach storage,
/// so their prefix matches nothing.
pub fn storage_prefix(info: &ResourceInfo) -> &'static str {
    info.storage_prefix().unwrap_or("/registry/-virtual-")
}

/// Finalizers the API server itself understands.
pub const ORPHAN_FINALIZER: &str = "orphan";
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// Namespaces that cannot be deleted (NamespaceLifecycle admission).
const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// One resource request after routing.
pub struct Ctx<'a> {
    pub server: &'a Arc<ApiServer>,
    pub info: &'static ResourceInfo,
    pub strategy: &'static dyn Strategy,
    pub req: &'a RequestInfo,
    /// Who the request was authenticated as.
    pub user: &'a crate::pki::UserInfo,
    pub query: &'a Query,
    pub accept: Accept,
    pub pretty: bool,
    /// Warnings for the client (`Warning` headers).
    pub warnings: &'a std::sync::Mutex<Vec<String>>,
    /// The client's `User-Agent`, the default field manager.
    pub user_agent: &'a str,
    /// Fields the request body repeated, for `fieldValidation`.
    pub duplicates: &'a std::sync::Mutex<Vec<String>>,
    /// LIST and WATCH leave `metadata.managedFields` out: set only by the
    /// in-process loopback ([`crate::server::Loopback::omitting_managed_fields`]).
    pub omit_managed_fields: bool,
}

impl Ctx<'_> {
    /// The field manager of a write: `fieldManager`, else the user agent's
    /// first part (`kubectl/v1.33.0 (linux/amd64)` -> `kubectl`), as upstream.
    pub fn field_manager(&self) -> Result<String> {
        match self.query.get("fieldManager") {
            Some(m) if !m.is_empty() => {
                if m.chars().count() > 128 {
                    return Err(Status::invalid(
                        "PatchOptions.meta.k8s.io",
                        "meta.k8s.io",
                        "",
                        &[FieldError::too_long("fieldManager", 128)],
                    ));
                }
                Ok(m.to_string())
            }
            _ => Ok(self.user_agent.split('/').next().unwrap_or("").to_string()),
        }
    }

    /// Records the write in `metadata.managedFields` (an Update operation).
    /// `old` and `new` are in the storage version; the fields are those of
    /// the request's version, as upstream's field manager sees the object.
    fn track(&self, old: Option<&Value>, new: Value) -> Result<Value> {
        if !self.is_converted() {
            return self.track_as_is(old, new);
        }
        let old_req = old.map(|o| conversion::from_storage(self.info, o.clone()));
        let new_req = conversion::from_storage(self.info, new.clone());
        let tracked = self.track_as_is(old_req.as_ref(), new_req)?;
        let mut new = new;
        match tracked.pointer("/metadata/managedFields") {
            Some(mf) => meta::set_meta(&mut new, "managedFields", mf.clone()),
            None => {
                meta::remove_meta(&mut new, "managedFields");
            }
        }
        Ok(new)
    }

    fn track_as_is(&self, old: Option<&Value>, new: Value) -> Result<Value> {
        let manager = self.field_manager()?;
        let now = meta::format_time(now());
        let api_version = self.api_version();
        let sub = &self.req.subresource;
        let req = skiff_core::managed_fields::Request {
            group: self.info.group,
            kind: self.info.kind,
            api_version: &api_version,
            manager: &manager,
            subresource: (!sub.is_empty()).then_some(sub.as_str()),
            now: &now,
            reset_fields: None,
        };
        skiff_core::managed_fields::update_owned(&req, old, new)
            .map_err(|e| Status::internal(format!("failed to update managed fields: {e}")))
    }

    /// Decodes through the kind's schema and applies `fieldValidation`.
    pub(crate) fn normalize(&self, obj: Value) -> Result<Value> {
        let mode = crate::schema::FieldValidation::parse(self.query.get("fieldValidation"))?;
        let duplicates = self
            .duplicates
            .lock()
            .map_err(|_| Status::internal("duplicates lock poisoned"))?
            .clone();
        let n = crate::schema::normalize(
            self.info.group,
            self.info.version,
            self.info.kind,
            obj,
            &duplicates,
        )?;
        self.check_unknown(mode, &n.strict_errors)?;
        Ok(n.object)
    }

    /// Unknown and repeated fields as `fieldValidation` says: warnings, or
    /// the Strict error.
    fn check_unknown(
        &self,
        mode: crate::schema::FieldValidation,
        strict_errors: &[String],
    ) -> Result<()> {
        let mut warnings = self
            .warnings
            .lock()
            .map_err(|_| Status::internal("warnings lock poisoned"))?;
        crate::schema::check_unknown(
            mode,
            self.info.kind,
            self.info.version,
            strict_errors,
            &mut warnings,
        )
    }

    /// [`Self::normalize`] of a status write whose transform changed
    /// nothing but the status: only the status goes through the kind's
    /// type. What a status write stores of the rest is the old object's
    /// (`with_status_of`), which kube-apiserver holds decoded, so its
    /// members are known and well typed; decoding them again finds no
    /// error and no unknown field, and skipping it stores the same bytes.
    /// The metadata the write still reads (uid, resourceVersion, name and
    /// namespace preconditions) are strings the type keeps as they are.
    fn normalize_status(&self, mut obj: Value) -> Result<Value> {
        let mode = crate::schema::FieldValidation::parse(self.query.get("fieldValidation"))?;
        let repeated = !self
            .duplicates
            .lock()
            .map_err(|_| Status::internal("duplicates lock poisoned"))?
            .is_empty();
        // Fields the body repeated are reported where the whole object is
        // walked.
        let Some(fields) = obj.as_object_mut().filter(|_| !repeated) else {
            return self.normalize(obj);
        };
        let mut reduced = Map::with_capacity(3);
        for k in ["apiVersion", "kind"] {
            if let Some(v) = fields.get(k) {
                reduced.insert(k.into(), v.clone());
            }
        }
        if let Some(status) = fields.get_mut("status") {
            reduced.insert("status".into(), std::mem::take(status));
        }
        let n = crate::schema::normalize(
            self.info.group,
            self.info.version,
            self.info.kind,
            Value::Object(reduced),
            &[],
        )?;
        self.check_unknown(mode, &n.strict_errors)?;
        let status = match n.object {
            Value::Object(mut typed) => typed.shift_remove("status"),
            _ => None,
        };
        match status {
            Some(s) => fields.insert("status".into(), s),
            None => fields.shift_remove("status"),
        };
        Ok(obj)
    }

    pub fn gr(&self) -> GroupResource<'static> {
        GroupResource {
            group: self.info.group,
            resource: self.info.resource,
        }
    }

    /// `Kind` or `Kind.group`, as Invalid messages name it.
    fn qualified_kind(&self) -> String {
        if self.info.group.is_empty() {
            self.info.kind.to_string()
        } else {
            format!("{}.{}", self.info.kind, self.info.group)
        }
    }

    pub fn key(&self, namespace: &str, name: &str) -> String {
        if self.info.namespaced {
            format!("{}/{}/{}", storage_prefix(self.info), namespace, name)
        } else {
            format!("{}/{}", storage_prefix(self.info), name)
        }
    }

    /// The prefix of all keys a list or watch reads.
    pub fn list_prefix(&self) -> String {
        if self.info.namespaced && !self.req.namespace.is_empty() {
            format!("{}/{}/", storage_prefix(self.info), self.req.namespace)
        } else {
            format!("{}/", storage_prefix(self.info))
        }
    }

    pub(crate) fn api_version(&self) -> String {
        meta::api_version(self.info.group, self.info.version)
    }

    fn dry_run(&self) -> Result<bool> {
        match self.query.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(Status::bad_request(format!(
                "Invalid dry run value: {other:?}: dryRun values must be \"All\""
            ))),
        }
    }

    /// Whether this resource is stored in another version than the request's
    /// (`autoscaling/v1` HPAs, `events.k8s.io` events): every object then
    /// converts on the way in and out.
    pub fn is_converted(&self) -> bool {
        conversion::is_converted(self.info)
    }

    /// An object of the request's version (decoded, normalized) as the
    /// storage version, decoded through the storage version's schema so what
    /// is stored is what upstream would store.
    pub fn to_storage(&self, obj: Value) -> Result<Value> {
        if !self.is_converted() {
            return Ok(obj);
        }
        let converted = conversion::to_storage(self.info, obj)
            .map_err(|e| Status::bad_request(e.to_string()))?;
        let (group, version) = self.info.storage_version().unwrap_or(("", ""));
        Ok(crate::schema::normalize(group, version, self.info.kind, converted, &[])?.object)
    }

    /// A stored object (or list item) in the request's version.
    pub fn from_storage(&self, obj: Value) -> Value {
        if self.is_converted() {
            conversion::from_storage(self.info, obj)
        } else {
            obj
        }
    }

    /// An object as a response: in the request's version, typed, with its
    /// stored revision.
    pub fn output(&self, obj: Value, revision: i64) -> Value {
        let mut obj = self.from_storage(obj);
        self.set_type_meta(&mut obj);
        meta::set_meta(&mut obj, "resourceVersion", json!(revision.to_string()));
        obj
    }

    /// Like [`Self::set_type_meta`] where the object has its kind and
    /// apiVersion already, without moving the other fields.
    fn set_type_meta_in_place(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            if m.get("kind").and_then(Value::as_str) != Some(self.info.kind) {
                m.insert("kind".into(), json!(self.info.kind));
            }
            let api_version = self.api_version();
            if m.get("apiVersion").and_then(Value::as_str) != Some(api_version.as_str()) {
                m.insert("apiVersion".into(), json!(api_version));
            }
        }
    }

    pub(crate) fn set_type_meta(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            // kind and apiVersion lead the object, as upstream's encoder writes them.
            let rest: Map<String, Value> = std::mem::take(m)
                .into_iter()
                .filter(|(k, _)| k != "kind" && k != "apiVersion")
                .collect();
            m.insert("kind".into(), json!(self.info.kind));
            m.insert("apiVersion".into(), json!(self.api_version()));
            m.extend(rest);
        }
    }

    /// Encodes one object for the client: JSON, Table or metadata only.
    pub fn respond(&self, code: StatusCode, obj: &Value) -> Response<Body> {
        match self.accept {
            Accept::Table => {
                let table =
                    list::table_for(self, std::slice::from_ref(obj), meta::resource_version(obj));
                encoding::json(code, &table, self.pretty)
            }
            Accept::Metadata => encoding::json(code, &partial_metadata(obj), self.pretty),
            _ => encoding::json(code, obj, self.pretty),
        }
    }
}

/// `PartialObjectMetadata` of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Decodes a stored value.
fn decode_stored(kv: &KeyValue) -> Result<Value> {
    serde_json::from_slice(&kv.value)
        .map_err(|e| Status::internal(format!("stored object {} is not valid JSON: {e}", kv.key)))
}

pub(crate) fn store_err(ctx: &Ctx<'_>, name: &str, err: skiff_store::Error) -> Status {
    use skiff_store::Error as E;
    match err {
        E::AlreadyExists { .. } => Status::already_exists(ctx.gr(), name),
        E::NotFound { .. } => Status::not_found(ctx.gr(), name),
        E::Conflict { .. } => Status::conflict_modified(ctx.gr(), name),
        E::Compacted {
            requested,
            compacted,
        } => Status::expired(requested, compacted),
        E::FutureRevision { requested, current } => too_large_resource_version(requested, current),
        other => Status::internal(other),
    }
}

/// Reads the body into an object of this resource's kind: checks `kind` and
/// `apiVersion`, fills them when absent.
fn decode_body(ctx: &Ctx<'_>, content_type: &str, body: &[u8]) -> Result<Value> {
    let decoded = encoding::decode_noting_duplicates(content_type, body)?;
    *ctx.duplicates
        .lock()
        .map_err(|_| Status::internal("duplicates lock poisoned"))? = decoded.duplicates;
    let mut obj = decoded.value;
    check_type(ctx, &mut obj, ctx.info.kind, &ctx.api_version())?;
    Ok(obj)
}

fn check_type(ctx: &Ctx<'_>, obj: &mut Value, kind: &str, api_version: &str) -> Result<()> {
    let Some(map) = obj.as_object_mut() else {
        return Err(Status::bad_request(format!(
            "the body of the request is not a {kind} object"
        )));
    };
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {}
        Some(v) if v == api_version => {}
        Some(v) => {
            return Err(Status::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {}
        Some(k) if k == kind => {}
        Some(k) => {
            return Err(Status::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({kind}) for {}",
                ctx.gr()
            )));
        }
    }
    if !map.get("metadata").is_none_or(Value::is_object) {
        return Err(Status::bad_request(
            "metadata in the body of the request must be an object",
        ));
    }
    map.insert("kind".into(), json!(kind));
    map.insert("apiVersion".into(), json!(api_version));
    Ok(())
}

/// Checks the namespace of the request and of the object agree, and fills it.
pub(crate) fn check_namespace(ctx: &Ctx<'_>, obj: &mut Value) -> Result<()> {
    if !ctx.info.namespaced {
        return Ok(());
    }
    let in_obj = meta::namespace(obj).to_string();
    if in_obj.is_empty() {
        meta::set_meta(obj, "namespace", json!(ctx.req.namespace));
    } else if in_obj != ctx.req.namespace {
        return Err(Status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(())
}

/// Random suffix of `generateName`, from the alphabet upstream uses (no vowels,
/// no confusable digits).
fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// `metadata` and shared checks of a create, then the kind's rules.
fn validate_create(ctx: &Ctx<'_>, obj: &Value) -> Result<()> {
    let mut errs = ctx.strategy.validate(obj);
    errs.extend(ctx.strategy.validate_create(obj));
    let meta = obj.get("metadata").unwrap_or(&Value::Null);
    errs.extend(validation::validate_object_meta(
        meta,
        ctx.info.namespaced,
        ctx.strategy.name_rule(),
        "metadata",
    ));
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Status::invalid(
            &ctx.qualified_kind(),
            ctx.info.group,
            meta::name(obj),
            &errs,
        ))
    }
}

fn validate_update(ctx: &Ctx<'_>, new: &Value, old: &Value) -> Result<()> {
    let mut errs = ctx.strategy.validate(new);
    errs.extend(ctx.strategy.validate_update(new, old));
    let new_meta = new.get("metadata").unwrap_or(&Value::Null);
    let old_meta = old.get("metadata").unwrap_or(&Value::Null);
    errs.extend(validation::validate_object_meta(
        new_meta,
        ctx.info.namespaced,
        ctx.strategy.name_rule(),
        "metadata",
    ));
    errs.extend(validation::validate_object_meta_update(
        new_meta, old_meta, "metadata",
    ));
    dedup(&mut errs);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Status::invalid(
            &ctx.qualified_kind(),
            ctx.info.group,
            meta::name(new),
            &errs,
        ))
    }
}

/// `ValidatePodEphemeralContainersUpdate`: the new ephemeral containers are
/// valid, and those the pod had are neither removed nor changed.
fn validate_ephemeral_containers_update(ctx: &Ctx<'_>, new: &Value, old: &Value) -> Result<()> {
    let mut errs = crate::strategy::core_v1::validate_ephemeral_containers_update(new, old);
    let new_meta = new.get("metadata").unwrap_or(&Value::Null);
    let old_meta = old.get("metadata").unwrap_or(&Value::Null);
    errs.extend(validation::validate_object_meta_update(
        new_meta, old_meta, "metadata",
    ));
    dedup(&mut errs);
    if errs.is_empty() {
        return Ok(());
    }
    Err(Status::invalid(
        &ctx.qualified_kind(),
        ctx.info.group,
        meta::name(new),
        &errs,
    ))
}

fn dedup(errs: &mut Vec<FieldError>) {
    let mut seen = Vec::new();
    errs.retain(|e| {
        let s = e.to_string();
        if seen.contains(&s) {
            false
        } else {
            seen.push(s);
            true
        }
    });
}

/// NamespaceLifecycle admission: the namespace must exist and not be terminating.
async fn admit_namespace(ctx: &Ctx<'_>, name: &str) -> Result<()> {
    if !ctx.info.namespaced {
        return Ok(());
    }
    let ns = &ctx.req.namespace;
    let key = format!("/registry/namespaces/{ns}");
    // As upstream's plugin reads its namespace informer and looks a
    // namespace up live only when the informer does not have it, the watch
    // cache answers first, and the store when the namespace is new to it.
    let cached = if must_look_up_live(ns) {
        None
    } else {
        cached_namespace(ctx, &key).await
    };
    let nsobj = match cached {
        Some(obj) => obj,
        None => {
            let found = ctx
                .server
                .store
                .get(&key, None)
                .await
                .map_err(Status::internal)?;
            let Some(kv) = found else {
                return Err(Status::not_found(
                    GroupResource {
                        group: "",
                        resource: "namespaces",
                    },
                    ns,
                ));
            };
            decode_stored(&kv)?
        }
    };
    if nsobj.pointer("/status/phase") == Some(&json!("Terminating"))
        || nsobj.pointer("/metadata/deletionTimestamp").is_some()
    {
        return Err(Status::forbidden(
            ctx.gr(),
            name,
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        )
        .with_cause(skiff_core::status::Cause {
            reason: "NamespaceTerminating".into(),
            message: format!("namespace {ns} is being terminated"),
            field: "metadata.namespace".into(),
        }));
    }
    Ok(())
}

/// How long a namespace deleted through this server is looked up in the
/// store rather than the cache (upstream's `forceLiveLookupTTL`): a create
/// right after the delete must see it terminating, whatever the cache lags.
const FORCE_LIVE_LOOKUP: Duration = Duration::from_secs(30);

/// Namespaces deleted through this server lately, with when.
static RECENTLY_DELETED: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
> = std::sync::LazyLock::new(Default::default);

/// Notes a namespace delete for [`admit_namespace`].
fn force_live_lookup(namespace: &str) {
    let now = std::time::Instant::now();
    // A poisoned map only held instants; keep using it.
    let mut deleted = RECENTLY_DELETED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    deleted.retain(|_, at| now.duration_since(*at) < FORCE_LIVE_LOOKUP);
    deleted.insert(namespace.to_string(), now);
}

fn must_look_up_live(namespace: &str) -> bool {
    let deleted = RECENTLY_DELETED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    deleted
        .get(namespace)
        .is_some_and(|at| at.elapsed() < FORCE_LIVE_LOOKUP)
}

/// The watch cache's copy of a namespace.
async fn cached_namespace(ctx: &Ctx<'_>, key: &str) -> Option<Value> {
    let info = skiff_core::registry::lookup("", "v1", "namespaces")?;
    let entry = ctx.server.cache.resource(info)?.current(key).await?;
    serde_json::from_slice(&entry.item).ok()
}

/// The object without status and metadata: what generation tracks.
fn spec_part(obj: &Value) -> Map<String, Value> {
    obj.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "kind" | "apiVersion")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// POST: create.
pub async fn create(ctx: &Ctx<'_>, content_type: &str, body: &[u8]) -> Result<Response<Body>> {
    let mut obj = decode_body(ctx, content_type, body)?;
    check_namespace(ctx, &mut obj)?;
    let dry_run = ctx.dry_run()?;
    let created = create_object(ctx, obj, dry_run, false).await?;
    Ok(ctx.respond(StatusCode::CREATED, &created))
}

/// The create pipeline, shared with apply-creates: defaults, admission,
/// validation, store.
pub(crate) async fn create_object(
    ctx: &Ctx<'_>,
    obj: Value,
    dry_run: bool,
    managed: bool,
) -> Result<Value> {
    let mut obj = ctx.to_storage(ctx.normalize(obj)?)?;
    let generate_name = meta::meta_str(&obj, "generateName").to_string();
    if meta::name(&obj).is_empty() && !generate_name.is_empty() {
        // The prefix is validated with the name; a too-long prefix is cut as upstream.
        let prefix: String = generate_name.chars().take(63 - 5).collect();
        meta::set_meta(
            &mut obj,
            "name",
            json!(format!("{prefix}{}", random_suffix())),
        );
    }
    let name = meta::name(&obj).to_string();

    // System fields are the server's (rest.BeforeCreate, FillObjectMetaSystemFields).
    for f in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "resourceVersion",
        "selfLink",
    ] {
        meta::remove_meta(&mut obj, f);
    }
    meta::set_meta(&mut obj, "uid", json!(uuid::Uuid::new_v4().to_string()));
    meta::set_meta(
        &mut obj,
        "creationTimestamp",
        json!(meta::format_time(now())),
    );
    if ctx.info.has_status()
        && !ctx.strategy.keeps_status_on_create()
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    if ctx.strategy.tracks_generation() {
        meta::set_meta(&mut obj, "generation", json!(1));
    } else {
        meta::remove_meta(&mut obj, "generation");
    }
    ctx.strategy.default(&mut obj);
    // The creator owns what it sent and its defaults, not what admission and
    // the registry add after (upstream's create handler runs the field
    // manager before admission). An apply that creates has recorded its own
    // fields already.
    if !managed {
        obj = ctx.track(None, obj)?;
    }
    ctx.strategy.prepare_for_create(&mut obj);
    admit_namespace(ctx, &name).await?;
    crate::admission::admit_create(ctx, &name, &mut obj).await?;
    validate_create(ctx, &obj)?;
    crate::admission::validate_create(ctx, &name, &obj, dry_run).await?;
    if let Some(alloc) = crate::allocator::for_resource(ctx) {
        alloc.allocate(ctx, &mut obj).await?;
    }
    if dry_run {
        return Ok(ctx.output(obj, 0));
    }
    let key = ctx.key(meta::namespace(&obj), &name);
    let bytes = serde_json::to_vec(&obj).map_err(Status::internal)?;
    let kv = ctx
        .server
        .store
        .create(&key, Bytes::from(bytes))
        .await
        .map_err(|e| store_err(ctx, &name, e))?;
    Ok(ctx.output(obj, kv.mod_revision))
}

/// GET one object.
pub async fn get(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let (obj, rev) = read(ctx, &ctx.req.name).await?;
    let obj = ctx.output(obj, rev);
    Ok(ctx.respond(StatusCode::OK, &obj))
}

/// Reads the named object at the latest revision (a consistent read).
pub(crate) async fn read(ctx: &Ctx<'_>, name: &str) -> Result<(Value, i64)> {
    let key = ctx.key(&ctx.req.namespace, name);
    let revision = match ctx.query.get("resourceVersion") {
        None | Some("") | Some("0") => None,
        Some(rv) => {
            let n = parse_rv(rv)?;
            // GET at an exact revision is what upstream calls NotOlderThan for
            // gets; the latest state satisfies it once the store has seen n.
            let current = ctx
                .server
                .store
                .current_revision()
                .await
                .map_err(Status::internal)?;
            if n > current {
                return Err(store_err(
                    ctx,
                    name,
                    skiff_store::Error::FutureRevision {
                        requested: n,
                        current,
                    },
                ));
            }
            None
        }
    };
    let kv = ctx
        .server
        .store
        .get(&key, revision)
        .await
        .map_err(|e| store_err(ctx, name, e))?
        .ok_or_else(|| Status::not_found(ctx.gr(), name))?;
    Ok((decode_stored(&kv)?, kv.mod_revision))
}

pub(crate) fn parse_rv(rv: &str) -> Result<i64> {
    rv.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| Status::bad_request(format!("invalid resource version: {rv:?}")))
}

pub use list::list;
pub use watch::watch;

/// Which part of the object an update writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
    /// The server's own writes (binding, finalize): no strategy, no validation.
    Raw,
    /// Server-side apply: like Main, but the apply already recorded its fields.
    Apply,
    /// `pods/ephemeralcontainers`: only `spec.ephemeralContainers` changes.
    EphemeralContainers,
}

/// How often a write is retried after losing a compare-and-swap to another
/// writer. Upstream retries without bound; a bound keeps a pathological hot
/// object from pinning a request forever, and is far above what contention
/// on a real object reaches.
const UPDATE_ROUNDS: usize = 64;

/// The update pipeline (`GuaranteedUpdate`): read, transform, prepare, validate,
/// compare-and-swap; retried on a concurrent write unless the client named a
/// resourceVersion.
///
/// The first round starts from the watch cache's copy of the object rather
/// than a store read, as kube-apiserver's cacher hands `GuaranteedUpdate` its
/// `cachedExistingObject`: the cache lags the store by at most a moment, and
/// the compare-and-swap on the mod revision refuses a write computed from a
/// stale copy. What the store does not check (an error, a write that changes
/// nothing, a dry run) is only answered from the cached copy once a store
/// read shows it was current; otherwise the round is redone from the store.
pub(crate) async fn update_object<F>(
    ctx: &Ctx<'_>,
    name: &str,
    part: Part,
    dry_run: bool,
    transform: F,
) -> Result<(Value, bool)>
where
    F: FnMut(&Value) -> Result<Value>,
{
    let key = ctx.key(&ctx.req.namespace, name);
    // Converted resources are cached in their storage version like the
    // others, but rare; they take the store read.
    let cached = if ctx.is_converted() {
        None
    } else {
        cached_current(ctx, &key).await
    };
    update_from(ctx, &key, name, part, dry_run, transform, cached).await
}

/// [`update_object`] starting from `cached`, a copy of the object at a
/// revision that may be stale, or from a store read.
async fn update_from<F>(
    ctx: &Ctx<'_>,
    key: &str,
    name: &str,
    part: Part,
    dry_run: bool,
    mut transform: F,
    mut cached: Option<(Value, i64)>,
) -> Result<(Value, bool)>
where
    F: FnMut(&Value) -> Result<Value>,
{
    let warned = lock_len(ctx.warnings)?;
    // An outcome computed from the cached copy at this revision, not yet
    // known to hold.
    let mut unconfirmed: Option<(i64, Result<(Value, bool)>)> = None;
    for _ in 0..UPDATE_ROUNDS {
        let (old, revision, from_cache) = match cached.take() {
            Some((old, revision)) => (old, revision, true),
            None => {
                let current = read_current(ctx, key, name).await?;
                if let Some((revision, outcome)) = unconfirmed.take()
                    && revision == current.mod_revision
                {
                    return outcome;
                }
                (decode_stored(&current)?, current.mod_revision, false)
            }
        };
        // Warnings of an attempt that is redone would repeat.
        truncate(ctx.warnings, warned)?;
        let outcome =
            update_attempt(ctx, key, name, part, dry_run, &mut transform, old, revision).await;
        match outcome {
            Ok(Attempt::Written(done)) => return Ok(done),
            Ok(Attempt::Conflict) => {}
            Ok(Attempt::Unwritten(done)) if !from_cache => return Ok(done),
            Err(e) if !from_cache => return Err(e),
            Ok(Attempt::Unwritten(done)) => unconfirmed = Some((revision, Ok(done))),
            Err(e) => unconfirmed = Some((revision, Err(e))),
        }
    }
    Err(Status::conflict_modified(ctx.gr(), name))
}

/// How one round of [`update_object`] ended.
enum Attempt {
    /// Stored (or deleted): the compare-and-swap proved the object current.
    Written((Value, bool)),
    /// Answered without a store write (nothing changed, or a dry run).
    Unwritten((Value, bool)),
    /// Another writer came first: the next round starts from the store.
    Conflict,
}

fn lock_len(m: &std::sync::Mutex<Vec<String>>) -> Result<usize> {
    Ok(m.lock()
        .map_err(|_| Status::internal("warnings lock poisoned"))?
        .len())
}

fn truncate(m: &std::sync::Mutex<Vec<String>>, len: usize) -> Result<()> {
    m.lock()
        .map_err(|_| Status::internal("warnings lock poisoned"))?
        .truncate(len);
    Ok(())
}

/// The watch cache's copy of `key` in its stored form, with its revision;
/// None when the cache does not have it (yet), and the store answers.
async fn cached_current(ctx: &Ctx<'_>, key: &str) -> Option<(Value, i64)> {
    let entry = ctx.server.cache.resource(ctx.info)?.current(key).await?;
    let obj = stored_from_item(ctx.info, &entry.item)?;
    Some((obj, entry.revision))
}

/// The stored form of a cached list item: `kind` and `apiVersion` of the
/// storage version in front, the item's fields in their order, without the
/// `resourceVersion` the cache added.
fn stored_from_item(info: &ResourceInfo, item: &[u8]) -> Option<Value> {
    let Ok(Value::Object(mut item)) = serde_json::from_slice::<Value>(item) else {
        return None;
    };
    if let Some(Value::Object(m)) = item.get_mut("metadata") {
        m.shift_remove("resourceVersion");
    }
    let (group, version) = info.storage_version()?;
    let mut obj = Map::with_capacity(item.len() + 2);
    obj.insert("kind".into(), json!(info.kind));
    obj.insert(
        "apiVersion".into(),
        json!(meta::api_version(group, version)),
    );
    obj.extend(item);
    Some(Value::Object(obj))
}

/// One round of [`update_object`] from `old`, the object at `revision`.
#[allow(clippy::too_many_arguments)]
async fn update_attempt<F>(
    ctx: &Ctx<'_>,
    key: &str,
    name: &str,
    part: Part,
    dry_run: bool,
    transform: &mut F,
    mut old: Value,
    revision: i64,
) -> Result<Attempt>
where
    F: FnMut(&Value) -> Result<Value>,
{
    let mut status_only = false;
    let mut new = if ctx.is_converted() {
        transform(&ctx.output(old.clone(), revision))?
    } else {
        // The transform sees what a GET returns (`ctx.output`): the same
        // object with its kind, apiVersion and resourceVersion. Set on `old`
        // for the call and taken off again rather than on a copy.
        ctx.set_type_meta_in_place(&mut old);
        meta::set_meta(&mut old, "resourceVersion", json!(revision.to_string()));
        let new = transform(&old);
        status_only =
            part == Part::Status && new.as_ref().is_ok_and(|new| changes_only_status(&old, new));
        if let Some(Value::Object(m)) = old.get_mut("metadata") {
            m.shift_remove("resourceVersion");
        }
        new?
    };
    check_type(ctx, &mut new, ctx.info.kind, &ctx.api_version())?;
    if status_only {
        new = ctx.normalize_status(new)?;
    } else if part != Part::Raw {
        new = ctx.normalize(new)?;
    }
    // The transform (a patch, a PUT body) worked in the request's version;
    // the rest of the pipeline works in the storage version, as upstream's
    // works on the internal type.
    let mut new = ctx.to_storage(new)?;
    check_namespace(ctx, &mut new)?;

    // A uid in the new object is a precondition too: a write meant for an
    // earlier object of the same name must not land on this one.
    let new_uid = meta::uid(&new);
    if part != Part::Raw && !new_uid.is_empty() && new_uid != meta::uid(&old) {
        return Err(Status::conflict(
            ctx.gr(),
            name,
            &format!(
                "Precondition failed: UID in precondition: {new_uid}, UID in object meta: {}",
                meta::uid(&old)
            ),
        ));
    }
    // A resourceVersion in the new object is a precondition.
    let rv = meta::resource_version(&new);
    if !rv.is_empty() && rv != revision.to_string() {
        return Err(Status::conflict_modified(ctx.gr(), name));
    }
    let new_name = meta::name(&new);
    if new_name.is_empty() {
        meta::set_meta(&mut new, "name", json!(name));
    } else if new_name != name {
        return Err(Status::bad_request(format!(
            "the name of the object ({new_name}) does not match the name on the URL ({name})"
        )));
    }
    let mut new = prepare_update(ctx, new, &old, part, status_only);
    if part != Part::Raw {
        // Validation sees the revision being replaced, as upstream's does.
        meta::set_meta(&mut new, "resourceVersion", json!(revision.to_string()));
        let checked = if part == Part::EphemeralContainers {
            validate_ephemeral_containers_update(ctx, &new, &old)
        } else {
            validate_update(ctx, &new, &old)
        };
        meta::remove_meta(&mut new, "resourceVersion");
        checked?;
    }
    if matches!(part, Part::Main | Part::Apply | Part::Status) {
        crate::admission::validate_update(ctx, name, &new, &old, dry_run).await?;
    }
    if let Some(alloc) = crate::allocator::for_resource(ctx) {
        alloc.keep_on_update(&mut new, &old);
    }
    if matches!(part, Part::Main | Part::Status | Part::EphemeralContainers) {
        new = ctx.track(Some(&old), new)?;
    }
    // A write that changes nothing is not written (no new revision).
    if new == old {
        return Ok(Attempt::Unwritten((ctx.output(old, revision), false)));
    }
    if dry_run {
        return Ok(Attempt::Unwritten((ctx.output(new, revision), false)));
    }
    if should_delete_during_update(&new, &old) {
        return match ctx.server.store.delete(key, Some(revision)).await {
            Ok((_, rev)) => Ok(Attempt::Written((ctx.output(new, rev), true))),
            // Retried: the next round re-reads and re-applies the
            // transform, and a client-named resourceVersion then fails
            // the precondition above.
            Err(skiff_store::Error::Conflict { .. }) => Ok(Attempt::Conflict),
            Err(e) => Err(store_err(ctx, name, e)),
        };
    }
    let bytes = serde_json::to_vec(&new).map_err(Status::internal)?;
    match ctx
        .server
        .store
        .update(key, Bytes::from(bytes), revision)
        .await
    {
        Ok(kv) => Ok(Attempt::Written((ctx.output(new, kv.mod_revision), false))),
        Err(skiff_store::Error::Conflict { .. }) => Ok(Attempt::Conflict),
        Err(e) => Err(store_err(ctx, name, e)),
    }
}

/// The stored key value of an object at the latest revision, or NotFound.
async fn read_current(ctx: &Ctx<'_>, key: &str, name: &str) -> Result<KeyValue> {
    ctx.server
        .store
        .get(key, None)
        .await
        .map_err(Status::internal)?
        .ok_or_else(|| Status::not_found(ctx.gr(), name))
}

/// rest.BeforeUpdate plus the status/main split of kinds with a status subresource.
/// `status_only`: `new` is known to differ from `old` in its status alone.
fn prepare_update(ctx: &Ctx<'_>, new: Value, old: &Value, part: Part, status_only: bool) -> Value {
    let mut new = match part {
        // Already what ResetObjectMetaForStatus makes of it when the other
        // members also come in `old`'s order (a merge patch keeps it; a PUT
        // body or a whole-object normalization may not, and the stored bytes
        // must not depend on that). Rebuilding it from `old` would deep-copy
        // every other member for nothing.
        Part::Status if status_only => {
            let mut new = new;
            meta::remove_meta(&mut new, "resourceVersion");
            if same_order_but_status(old, &new) {
                new
            } else {
                with_status_of(old, new)
            }
        }
        // ResetObjectMetaForStatus: only status changes through /status.
        Part::Status => with_status_of(old, new),
        // dropNonEphemeralContainerUpdates: the stored pod with the new
        // ephemeral containers (defaulted) and nothing else of the request.
        Part::EphemeralContainers => {
            let mut pod = old.clone();
            let containers = new.pointer("/spec/ephemeralContainers").cloned();
            if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
                match containers {
                    Some(c) => {
                        spec.insert("ephemeralContainers".into(), c);
                    }
                    None => {
                        spec.shift_remove("ephemeralContainers");
                    }
                }
            }
            ctx.strategy.default(&mut pod);
            pod
        }
        Part::Raw => new,
        Part::Main | Part::Apply => {
            let mut new = new;
            if ctx.info.has_status() {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            ctx.strategy.default(&mut new);
            ctx.strategy.prepare_for_update(&mut new, old);
            new
        }
    };
    // System fields an update cannot change.
    for f in [
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old.pointer(&format!("/metadata/{f}")) {
            Some(v) => meta::set_meta(&mut new, f, v.clone()),
            None => {
                meta::remove_meta(&mut new, f);
            }
        }
    }
    if meta::uid(&new).is_empty() {
        meta::set_meta(&mut new, "uid", json!(meta::uid(old)));
    }
    meta::remove_meta(&mut new, "resourceVersion");
    meta::remove_meta(&mut new, "selfLink");
    if ctx.strategy.tracks_generation()
        && matches!(part, Part::Main | Part::Apply)
        && spec_part(&new) != spec_part(old)
    {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta::set_meta(&mut new, "generation", json!(g + 1));
    }
    new
}

/// Whether `new`, a transform's result from `old`, holds the members of
/// `old` but `status` unchanged (and no others).
fn changes_only_status(old: &Value, new: &Value) -> bool {
    let (Value::Object(old), Value::Object(new)) = (old, new) else {
        return false;
    };
    let others = |m: &Map<String, Value>| m.keys().filter(|k| *k != "status").count();
    others(old) == others(new)
        && old
            .iter()
            .filter(|(k, _)| *k != "status")
            .all(|(k, v)| new.get(k) == Some(v))
}

/// Whether the members of `a` and `b` but the top-level `status`, known to
/// be equal, also come in the same order at every level.
fn same_order_but_status(a: &Value, b: &Value) -> bool {
    fn same_order(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ka, va), (kb, vb))| ka == kb && same_order(va, vb))
            }
            (Value::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(va, vb)| same_order(va, vb))
            }
            _ => true,
        }
    }
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        return false;
    };
    let mut a = a.iter().filter(|(k, _)| *k != "status");
    let mut b = b.iter().filter(|(k, _)| *k != "status");
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some((ka, va)), Some((kb, vb))) if ka == kb && same_order(va, vb) => {}
            _ => return false,
        }
    }
}

/// `old` with the status of `new` (ResetObjectMetaForStatus): what a
/// status write stores. Built from the fields of `old` but its status, so the
/// old status, replaced anyway, is not copied.
fn with_status_of(old: &Value, mut new: Value) -> Value {
    let status = new.as_object_mut().and_then(|m| m.shift_remove("status"));
    match (old, status) {
        (Value::Object(fields), Some(mut status)) => {
            let mut merged = Map::with_capacity(fields.len() + 1);
            for (k, v) in fields {
                if k == "status" {
                    merged.insert(k.clone(), std::mem::take(&mut status));
                    // Moved: later keys cannot be `status` again.
                } else {
                    merged.insert(k.clone(), v.clone());
                }
            }
            if !fields.contains_key("status") {
                merged.insert("status".into(), status);
            }
            Value::Object(merged)
        }
        // No status in the write (or no object stored): the old one goes.
        (_, _) => {
            let mut merged = old.clone();
            if let Some(m) = merged.as_object_mut() {
                m.remove("status");
            }
            merged
        }
    }
}

/// The update removed the last finalizer of an object pending deletion.
fn should_delete_during_update(new: &Value, old: &Value) -> bool {
    !meta::finalizers(old).is_empty()
        && meta::finalizers(new).is_empty()
        && old.pointer("/metadata/deletionTimestamp").is_some()
        && old
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
}

/// PUT: update (the main endpoint or `/status`).
pub async fn update(
    ctx: &Ctx<'_>,
    part: Part,
    content_type: &str,
    body: &[u8],
) -> Result<Response<Body>> {
    let body_obj = decode_body(ctx, content_type, body)?;
    let dry_run = ctx.dry_run()?;
    let name = ctx.req.name.clone();
    let (obj, _) = update_object(ctx, &name, part, dry_run, |_| Ok(body_obj.clone())).await?;
    Ok(ctx.respond(StatusCode::OK, &obj))
}

pub use patch::patch;

/// DELETE options from the query and an optional `DeleteOptions` body.
#[derive(Default)]
pub(crate) struct DeleteOptions {
    grace_period: Option<i64>,
    propagation: Option<String>,
    precondition_uid: Option<String>,
    precondition_rv: Option<String>,
    dry_run: bool,
}

pub(crate) fn delete_options(ctx: &Ctx<'_>, body: &[u8]) -> Result<DeleteOptions> {
    let mut o = DeleteOptions {
        dry_run: ctx.dry_run()?,
        ..Default::default()
    };
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v = encoding::decode("application/json", body)?;
        if let Some(g) = v.get("gracePeriodSeconds").and_then(Value::as_i64) {
            o.grace_period = Some(g);
        }
        if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
            o.propagation = Some(p.to_string());
        }
        if let Some(orphan) = v.get("orphanDependents").and_then(Value::as_bool) {
            o.propagation = Some(if orphan { "Orphan" } else { "Background" }.into());
        }
        o.precondition_uid = v
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.precondition_rv = v
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        if v.get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == "All"))
        {
            o.dry_run = true;
        }
    }
    if let Some(g) = ctx.query.get("gracePeriodSeconds") {
        o.grace_period = Some(
            g.parse()
                .map_err(|_| Status::bad_request(format!("invalid gracePeriodSeconds: {g:?}")))?,
        );
    }
    if let Some(p) = ctx.query.get("propagationPolicy") {
        o.propagation = Some(p.to_string());
    }
    if let Some(orphan) = ctx.query.get("orphanDependents") {
        o.propagation = Some(
            if orphan == "true" {
                "Orphan"
            } else {
                "Background"
            }
            .into(),
        );
    }
    if let Some(p) = &o.propagation
        && !["Orphan", "Background", "Foreground"].contains(&p.as_str())
    {
        return Err(Status::invalid(
            "DeleteOptions",
            "",
            "",
            &[FieldError::not_supported(
                "propagationPolicy",
                &json!(p),
                &["Foreground", "Background", "Orphan", "nil"],
            )],
        ));
    }
    Ok(o)
}

/// DELETE one object.
pub async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> Result<Response<Body>> {
    let opts = delete_options(ctx, body)?;
    let name = ctx.req.name.clone();
    if ctx.info.resource == "namespaces"
        && ctx.info.group.is_empty()
        && IMMORTAL_NAMESPACES.contains(&name.as_str())
    {
        return Err(Status::forbidden(
            ctx.gr(),
            &name,
            "this namespace may not be deleted",
        ));
    }
    let (obj, deleted) = delete_object(ctx, &name, &opts).await?;
    if !deleted || ctx.strategy.return_deleted_object() {
        return Ok(ctx.respond(StatusCode::OK, &obj));
    }
    let details = json!({
        "name": name,
        "group": ctx.info.group,
        "kind": ctx.info.resource,
        "uid": meta::uid(&obj),
    });
    Ok(encoding::json(
        StatusCode::OK,
        &Status::success_json(details),
        ctx.pretty,
    ))
}

/// Deletes or marks for deletion. Returns the object and whether it is gone.
pub(crate) async fn delete_object(
    ctx: &Ctx<'_>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<(Value, bool)> {
    let key = ctx.key(&ctx.req.namespace, name);
    if ctx.info.group.is_empty() && ctx.info.resource == "namespaces" && !opts.dry_run {
        force_live_lookup(name);
    }
    for _ in 0..UPDATE_ROUNDS {
        let current = read_current(ctx, &key, name).await?;
        let obj = decode_stored(&current)?;
        if let Some(uid) = &opts.precondition_uid
            && uid != meta::uid(&obj)
        {
            return Err(Status::conflict(
                ctx.gr(),
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta::uid(&obj)
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && *rv != current.mod_revision.to_string()
        {
            return Err(Status::conflict(
                ctx.gr(),
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    current.mod_revision
                ),
            ));
        }
        let mut marked = obj.clone();
        let pending = mark_for_deletion(ctx, &mut marked, opts);
        if pending {
            if marked == obj || opts.dry_run {
                return Ok((ctx.output(marked, current.mod_revision), false));
            }
            let bytes = serde_json::to_vec(&marked).map_err(Status::internal)?;
            match ctx
                .server
                .store
                .update(&key, Bytes::from(bytes), current.mod_revision)
                .await
            {
                Ok(kv) => return Ok((ctx.output(marked, kv.mod_revision), false)),
                Err(skiff_store::Error::Conflict { .. }) => continue,
                Err(e) => return Err(store_err(ctx, name, e)),
            }
        }
        if opts.dry_run {
            return Ok((ctx.output(obj, current.mod_revision), true));
        }
        match ctx
            .server
            .store
            .delete(&key, Some(current.mod_revision))
            .await
        {
            Ok((_, rev)) => return Ok((ctx.output(obj, rev), true)),
            Err(skiff_store::Error::Conflict { .. }) => continue,
            Err(e) => return Err(store_err(ctx, name, e)),
        }
    }
    Err(Status::conflict_modified(ctx.gr(), name))
}

/// Applies graceful deletion and propagation finalizers. True when the object
/// must stay (pending deletion) rather than be removed now.
fn mark_for_deletion(ctx: &Ctx<'_>, obj: &mut Value, opts: &DeleteOptions) -> bool {
    let is_namespace = ctx.info.group.is_empty() && ctx.info.resource == "namespaces";
    let is_pod = ctx.info.group.is_empty() && ctx.info.resource == "pods";
    match opts.propagation.as_deref() {
        Some("Orphan") => {
            meta::add_finalizer(obj, ORPHAN_FINALIZER);
            meta::remove_finalizer(obj, FOREGROUND_FINALIZER);
        }
        Some("Foreground") => {
            meta::add_finalizer(obj, FOREGROUND_FINALIZER);
            meta::remove_finalizer(obj, ORPHAN_FINALIZER);
        }
        Some(_) => {
            meta::remove_finalizer(obj, ORPHAN_FINALIZER);
            meta::remove_finalizer(obj, FOREGROUND_FINALIZER);
        }
        None => {}
    }
    // Pods: graceful deletion (podStrategy.CheckGracefulDelete).
    let mut grace = 0;
    if is_pod {
        let scheduled = !strategy::str_at(obj, &["spec", "nodeName"]).is_empty();
        let phase = strategy::str_at(obj, &["status", "phase"]);
        let finished = phase == "Succeeded" || phase == "Failed";
        grace = opts.grace_period.unwrap_or_else(|| {
            obj.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(30)
        });
        if !scheduled || finished {
            grace = 0;
        }
        grace = grace.max(0);
    }
    let has_finalizers = !meta::finalizers(obj).is_empty()
        || (is_namespace
            && obj
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty()));
    if !has_finalizers && grace == 0 {
        return false;
    }
    let now = now();
    let existing = obj
        .pointer("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .map(str::to_string);
    let existing_grace = obj
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64);
    // A second delete may only shorten the grace period.
    if existing.is_none() || existing_grace.is_some_and(|g| grace < g) {
        let when = now + time::Duration::seconds(grace);
        meta::set_meta(obj, "deletionTimestamp", json!(meta::format_time(when)));
        meta::set_meta(obj, "deletionGracePeriodSeconds", json!(grace));
    }
    if is_namespace {
        obj["status"]["phase"] = json!("Terminating");
    }
    if is_pod && grace == 0 && !has_finalizers {
        return false;
    }
    true
}

/// DELETE a collection: every matching object, one by one, as upstream.
pub async fn delete_collection(ctx: &Ctx<'_>, body: &[u8]) -> Result<Response<Body>> {
    let opts = delete_options(ctx, body)?;
    let selected = list::select(ctx).await?;
    let mut items = Vec::new();
    for entry in selected.items {
        let name = entry.name.clone();
        let inner_req = RequestInfo {
            namespace: entry.namespace.clone(),
            name: name.clone(),
            ..ctx.req.clone()
        };
        let inner = Ctx {
            req: &inner_req,
            ..*ctx
        };
        match delete_object(&inner, &name, &opts).await {
            Ok((obj, _)) => items.push(obj),
            Err(s) if s.code == 404 => {}
            Err(s) => return Err(s),
        }
    }
    let list = json!({
        "kind": format!("{}List", ctx.info.kind),
        "apiVersion": ctx.api_version(),
        "metadata": {},
        "items": items,
    });
    Ok(encoding::json(StatusCode::OK, &list, ctx.pretty))
}

/// Entries as list items.
/// Waits for the cache to reach the store's current revision: a consistent read.
pub(crate) async fn wait_fresh(ctx: &Ctx<'_>, revision: Option<i64>) -> Result<i64> {
    let target = match revision {
        Some(r) => r,
        None => ctx
            .server
            .store
            .current_revision()
            .await
            .map_err(Status::internal)?,
    };
    if !ctx
        .server
        .cache
        .wait_for(target, Duration::from_secs(3))
        .await
    {
        return Err(too_large_resource_version(
            target,
            ctx.server.cache.revision(),
        ));
    }
    Ok(target.max(ctx.server.cache.revision()))
}

/// A read asked for a revision newer than the server has (upstream's
/// `NewTooLargeResourceVersionError`).
pub(crate) fn too_large_resource_version(requested: i64, current: i64) -> Status {
    Status::timeout(format!(
        "Too large resource version: {requested}, current: {current}"
    ))
    .with_cause(skiff_core::status::Cause {
        reason: "ResourceVersionTooLarge".into(),
        message: "Too large resource version".into(),
        field: String::new(),
    })
}
