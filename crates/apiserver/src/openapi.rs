//! OpenAPI documents of the built-in API, served as kube-apiserver serves
//! them (kube-openapi `pkg/handler3` and `pkg/handler`):
//!
//! - `/openapi/v3`: the index, `{"paths": {"apis/apps/v1": {"serverRelativeURL":
//!   "/openapi/v3/apis/apps/v1?hash=<SHA-512>"}, ...}}`;
//! - `/openapi/v3/api/v1`, `/openapi/v3/apis/<group>/<version>`: one
//!   OpenAPI 3.0 document per group version, JSON only; with `?hash=` they are
//!   immutable (`Cache-Control: public, immutable`), a stale hash redirects
//!   to the current one;
//! - `/openapi/v2`: one Swagger 2.0 document of everything, JSON or protobuf.
//!
//! kubectl needs them: `--validate=strict` (the default) asks the v3 document
//! of the kind's group version whether PATCH takes `fieldValidation`
//! (cli-runtime `query_param_verifier_v3.go`) and if so leaves validation to
//! the server; `kubectl apply` builds its strategic merge patch from the v3
//! schemas (kubectl `cmd/apply/patcher.go`); `kubectl explain` renders them.
//!
//! The documents are large (megabytes) and rarely asked for, so nothing is
//! built at start. The first request for the index builds every document
//! once to hash it and keeps only the hashes; a document is rebuilt from the
//! same deterministic input on each request for it.
//!
//! Does not own: routing and authentication (`server.rs`), the schemas'
//! source (`k8s-openapi`) or patch metadata (`skiff_core::strategic_merge`).

mod paths;
mod schemas;
mod v2;

use std::sync::OnceLock;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use serde_json::{Map, Value, json};
use skiff_core::Status;
use skiff_core::registry;

use crate::ApiServer;
use crate::discovery::GIT_VERSION;
use crate::encoding::{self, Body};
use crate::request::Query;
use crate::rest;

const JSON: &str = "application/json";
/// kube-openapi's protobuf media types (the `@` one is what client-go sends).
const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
const V2_PROTOBUF_DEPRECATED: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// One group version's document, by its path in the index.
#[derive(Debug, Clone)]
struct Entry {
    /// `api/v1`, `apis/apps/v1`.
    path: String,
    group: &'static str,
    version: &'static str,
    /// Uppercase hex SHA-512 of the JSON document (upstream's ETag).
    hash: String,
}

/// What the index needs, built once on first use.
struct Index {
    entries: Vec<Entry>,
    json: Bytes,
    etag: String,
    built: SystemTime,
}

static INDEX: OnceLock<Index> = OnceLock::new();

/// Every group version served, in discovery order.
fn group_versions() -> impl Iterator<Item = (&'static str, &'static str)> {
    registry::groups()
        .iter()
        .flat_map(|g| g.versions.iter().map(move |v| (g.name, *v)))
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The OpenAPI v3 document of `group`/`version`, or `None` when the registry
/// serves nothing there.
pub fn v3_document(group: &'static str, version: &'static str) -> Option<Value> {
    registry::resources_in(group, version).next()?;
    let mut components = schemas::Components::new();
    let mut paths = paths::Paths::new(group, version);
    paths.api_resources();
    for r in registry::resources_in(group, version) {
        paths.resource(r, &mut components);
    }
    Some(json!({
        "components": {
            "schemas": components.finish(),
            "securitySchemes": {
                "BearerToken": {
                    "description": "Bearer Token authentication",
                    "in": "header",
                    "name": "authorization",
                    "type": "apiKey",
                },
            },
        },
        "info": { "title": "Kubernetes", "version": GIT_VERSION },
        "openapi": "3.0.0",
        "paths": paths.finish(),
        "security": [{ "BearerToken": [] }],
    }))
}

/// The JSON bytes of a v3 document, as served and hashed.
fn v3_bytes(group: &'static str, version: &'static str) -> Option<Bytes> {
    let doc = v3_document(group, version)?;
    serde_json::to_vec(&doc).ok().map(Bytes::from)
}

/// The v2 document of every group version, as JSON or protobuf.
pub fn v2_bytes(protobuf: bool) -> Vec<u8> {
    v2::encode(
        group_versions().filter_map(|(g, v)| v3_document(g, v)),
        GIT_VERSION,
        protobuf,
    )
}

fn etag_of(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA512, bytes).as_ref())
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02X}")).collect()
}

/// Feeds serialized JSON straight into the hash, so a document's bytes are
/// never held just to hash them.
struct Hasher(ring::digest::Context);

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The ETag of a v3 document: SHA-512 of its JSON as served.
fn v3_hash(group: &'static str, version: &'static str) -> Option<String> {
    let doc = v3_document(group, version)?;
    let mut hasher = Hasher(ring::digest::Context::new(&ring::digest::SHA512));
    serde_json::to_writer(&mut hasher, &doc).ok()?;
    Some(hex(hasher.0.finish().as_ref()))
}

fn build_index() -> Index {
    let mut entries = Vec::new();
    let mut paths = Map::new();
    for (group, version) in group_versions() {
        let Some(hash) = v3_hash(group, version) else {
            continue;
        };
        let path = gv_path(group, version);
        paths.insert(
            path.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}") }),
        );
        entries.push(Entry {
            path,
            group,
            version,
            hash,
        });
    }
    let json = Bytes::from(json!({ "paths": paths }).to_string());
    let etag = etag_of(&json);
    Index {
        entries,
        json,
        etag,
        built: SystemTime::now(),
    }
}

async fn index() -> rest::Result<&'static Index> {
    if let Some(i) = INDEX.get() {
        return Ok(i);
    }
    tokio::task::spawn_blocking(|| INDEX.get_or_init(build_index))
        .await
        .map_err(|e| Status::internal(format!("building the OpenAPI index failed: {e}")))
}

/// Serves `/openapi/...` (the caller has authenticated the request).
pub async fn serve(
    _server: &ApiServer,
    path: &str,
    query: &Query,
    headers: &HeaderMap,
) -> rest::Result<Response<Body>> {
    let rest = path
        .trim_start_matches('/')
        .trim_start_matches("openapi")
        .trim_matches('/');
    match rest {
        "v3" => {
            let index = index().await?;
            Ok(respond(
                index.json.clone(),
                JSON,
                &index.etag,
                index.built,
                headers,
            ))
        }
        "v2" => serve_v2(headers).await,
        _ => match rest.strip_prefix("v3/") {
            Some(gv) => serve_v3(gv, query, headers).await,
            None => Err(Status::not_found_path()),
        },
    }
}

async fn serve_v3(gv: &str, query: &Query, headers: &HeaderMap) -> rest::Result<Response<Body>> {
    let index = index().await?;
    let Some(entry) = index.entries.iter().find(|e| e.path == gv).cloned() else {
        return Err(Status::not_found_path());
    };
    // Only JSON: clients that take nothing else (protobuf) get 406, as from
    // kube-apiserver for a type it does not know.
    if accepts(headers, &[JSON]).is_none() {
        return Ok(not_acceptable());
    }
    let hash = query.get("hash").filter(|h| !h.is_empty());
    if let Some(h) = hash
        && h != entry.hash
    {
        let mut resp = Response::new(encoding::full(Bytes::new()));
        *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
        let location = format!("/openapi/v3/{}?hash={}", entry.path, entry.hash);
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(resp);
    }
    let (group, version) = (entry.group, entry.version);
    let bytes = if if_none_match(headers, &entry.hash) {
        Bytes::new()
    } else {
        tokio::task::spawn_blocking(move || v3_bytes(group, version))
            .await
            .map_err(|e| Status::internal(format!("building the OpenAPI document failed: {e}")))?
            .ok_or_else(Status::not_found_path)?
    };
    let mut resp = respond(bytes, JSON, &entry.hash, index.built, headers);
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    if hash.is_some() {
        let h = resp.headers_mut();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, immutable"),
        );
        let in_a_year = SystemTime::now() + std::time::Duration::from_secs(365 * 24 * 3600);
        if let Ok(v) = HeaderValue::from_str(&http_date(in_a_year)) {
            h.insert(header::EXPIRES, v);
        }
    }
    Ok(resp)
}

async fn serve_v2(headers: &HeaderMap) -> rest::Result<Response<Body>> {
    let Some(media) = accepts(headers, &[JSON, V2_PROTOBUF_DEPRECATED, V2_PROTOBUF]) else {
        return Ok(not_acceptable());
    };
    let protobuf = media != JSON;
    let (bytes, etag) = tokio::task::spawn_blocking(move || {
        let bytes = v2_bytes(protobuf);
        // kube-openapi tags both encodings with the JSON's hash; building the
        // other encoding just for that would double the work, so each one
        // carries its own (responses vary by Accept anyway).
        let etag = etag_of(&bytes);
        (Bytes::from(bytes), etag)
    })
    .await
    .map_err(|e| Status::internal(format!("building the OpenAPI v2 document failed: {e}")))?;
    let content_type = if protobuf { V2_PROTOBUF } else { JSON };
    let built = INDEX.get().map_or_else(SystemTime::now, |i| i.built);
    let mut resp = respond(bytes, content_type, &etag, built, headers);
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    Ok(resp)
}

/// 200 with the body, or 304 when the client has this ETag already
/// (`http.ServeContent`).
fn respond(
    bytes: Bytes,
    content_type: &str,
    etag: &str,
    modified: SystemTime,
    headers: &HeaderMap,
) -> Response<Body> {
    let not_modified = if_none_match(headers, etag);
    let mut resp = Response::new(encoding::full(if not_modified {
        Bytes::new()
    } else {
        bytes
    }));
    if not_modified {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    resp
}

fn not_acceptable() -> Response<Body> {
    let mut resp = Response::new(encoding::full(Bytes::new()));
    *resp.status_mut() = StatusCode::NOT_ACCEPTABLE;
    resp
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == etag || t == "*")
}

/// The first of `offered` that the `Accept` header takes, clauses by
/// descending quality as goautoneg orders them; no header takes anything.
fn accepts(headers: &HeaderMap, offered: &[&'static str]) -> Option<&'static str> {
    let header = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let header = if header.trim().is_empty() {
        "*/*".to_string()
    } else {
        header
    };
    let mut clauses: Vec<(f32, String)> = header
        .split(',')
        .filter_map(|clause| {
            let mut parts = clause.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0 && !media.is_empty()).then_some((q, media))
        })
        .collect();
    clauses.sort_by(|a, b| b.0.total_cmp(&a.0));
    clauses.iter().find_map(|(_, media)| {
        let (ty, sub) = media.split_once('/').unwrap_or((media.as_str(), "*"));
        offered.iter().copied().find(|o| {
            let (oty, osub) = o.split_once('/').unwrap_or((o, ""));
            (ty == "*" || ty == oty) && (sub == "*" || sub == osub)
        })
    })
}

/// An HTTP date (`Mon, 02 Jan 2006 15:04:05 GMT`).
fn http_date(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(group: &'static str, version: &'static str) -> Value {
        v3_document(group, version).unwrap_or_else(|| panic!("no document for {group}/{version}"))
    }

    #[test]
    fn index_lists_every_group_version_of_the_registry() {
        let index = build_index();
        let parsed: Value = serde_json::from_slice(&index.json).unwrap_or_default();
        let paths = parsed["paths"].as_object().cloned().unwrap_or_default();
        for g in registry::groups() {
            for v in g.versions {
                let key = gv_path(g.name, v);
                let url = paths[&key]["serverRelativeURL"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    url.starts_with(&format!("/openapi/v3/{key}?hash=")),
                    "{key}: {url}"
                );
                assert_eq!(
                    url.len() - url.find("hash=").unwrap_or(0) - 5,
                    128,
                    "{key}: SHA-512 hex"
                );
            }
        }
        assert_eq!(paths.len(), group_versions().count());
    }

    #[test]
    fn hashes_are_stable() {
        let a = v3_bytes("apps", "v1").unwrap_or_default();
        let b = v3_bytes("apps", "v1").unwrap_or_default();
        assert_eq!(etag_of(&a), etag_of(&b));
        assert_eq!(v3_hash("apps", "v1"), Some(etag_of(&a)));
        assert_ne!(
            etag_of(&a),
            etag_of(&v3_bytes("", "v1").unwrap_or_default())
        );
    }

    /// What cli-runtime's `supportsQueryParamV3` and kubectl's
    /// `gvkSupportsPatchOpenAPIV3` look for, for every kind with PATCH.
    #[test]
    fn every_patchable_kind_supports_field_validation_and_strategic_merge() {
        for r in registry::resources() {
            let d = doc(r.group, r.version);
            let want = schemas::gvk(r.group, r.version, r.kind);
            let patches: Vec<&Value> = d["paths"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(_, item)| item.get("patch"))
                .filter(|op| op["x-kubernetes-group-version-kind"] == want)
                .collect();
            assert_eq!(
                !patches.is_empty(),
                r.has_verb("patch"),
                "{} {}",
                r.api_version(),
                r.kind
            );
            for op in patches {
                let names: Vec<&str> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                assert!(
                    names.contains(&"fieldValidation"),
                    "{} {}",
                    r.api_version(),
                    r.kind
                );
                assert!(
                    op["requestBody"]["content"]
                        .get("application/strategic-merge-patch+json")
                        .is_some()
                );
            }
            // The kind's schema carries its GVK (apply looks it up by that).
            let schemas = d["components"]["schemas"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            assert!(
                schemas
                    .values()
                    .any(|s| s["x-kubernetes-group-version-kind"]
                        .as_array()
                        .is_some_and(|l| l.contains(&want))),
                "{} {} has no schema",
                r.api_version(),
                r.kind
            );
        }
    }

    #[test]
    fn apps_v1_has_the_deployment_schema_and_its_patch_operation() {
        let d = doc("apps", "v1");
        let deployment = &d["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deployment["x-kubernetes-group-version-kind"],
            json!([{ "group": "apps", "kind": "Deployment", "version": "v1" }])
        );
        assert!(
            deployment.get("required").is_none(),
            "metadata is not required upstream"
        );
        assert_eq!(
            deployment["properties"]["spec"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
        );
        let op = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-action"], "patch");
        assert_eq!(op["operationId"], "patchAppsV1NamespacedDeployment");
        let names: Vec<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(
            names,
            ["dryRun", "fieldManager", "fieldValidation", "force"]
        );
        let media: Vec<&String> = op["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(media.len(), 4);

        let pod_spec = &d["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"];
        let containers = &pod_spec["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(containers["x-kubernetes-list-type"], "map");
        assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
        assert_eq!(
            pod_spec["properties"]["nodeSelector"]["x-kubernetes-map-type"],
            "atomic"
        );
        let selector =
            &d["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"];
        assert_eq!(selector["x-kubernetes-map-type"], "atomic");
        let int_or_string =
            &d["components"]["schemas"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
        assert_eq!(int_or_string["format"], "int-or-string");
        assert!(
            int_or_string.get("type").is_none(),
            "explain shows <IntOrString>"
        );
        assert!(
            d["paths"]
                .get("/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}")
                .is_some()
        );
        assert!(
            d["paths"]
                .get("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale")
                .is_some()
        );
        assert!(
            d["components"]["schemas"]
                .get("io.k8s.api.apps.v1.DeploymentList")
                .is_some()
        );
    }

    #[test]
    fn every_reference_resolves() {
        for (g, v) in group_versions() {
            let d = doc(g, v);
            let schemas = d["components"]["schemas"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let text = d.to_string();
            for part in text.split("\"$ref\":\"").skip(1) {
                let target = part.split('"').next().unwrap_or_default();
                let name = target.strip_prefix(schemas::REF_PREFIX).unwrap_or(target);
                assert!(schemas.contains_key(name), "{g}/{v}: dangling {target}");
            }
            assert!(
                !text.contains("\"nullable\":true"),
                "{g}/{v}: nullable is not upstream's"
            );
        }
    }

    #[test]
    fn accept_negotiation_follows_quality() {
        let mut h = HeaderMap::new();
        assert_eq!(accepts(&h, &[JSON]), Some(JSON));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static(V2_PROTOBUF_DEPRECATED),
        );
        assert_eq!(accepts(&h, &[JSON]), None);
        assert_eq!(
            accepts(&h, &[JSON, V2_PROTOBUF_DEPRECATED, V2_PROTOBUF]),
            Some(V2_PROTOBUF_DEPRECATED)
        );
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/yaml, application/json;q=0.5"),
        );
        assert_eq!(accepts(&h, &[JSON]), Some(JSON));
    }

    #[test]
    fn v2_has_definitions_and_patch_paths() {
        let d: Value = serde_json::from_slice(&v2_bytes(false)).unwrap_or_default();
        assert_eq!(d["swagger"], "2.0");
        let deployment = &d["definitions"]["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deployment["properties"]["spec"]["$ref"],
            "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
        );
        let op = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert!(
            op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert_eq!(op["parameters"][0]["in"], "body");
        assert_eq!(d["info"]["version"], GIT_VERSION);
        let int_or_string = &d["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
        assert_eq!(
            (&int_or_string["type"], &int_or_string["format"]),
            (&json!("string"), &json!("int-or-string"))
        );
        assert!(d["securityDefinitions"]["BearerToken"].is_object());
        assert!(v2_bytes(true).starts_with(&[0x0a, 3, b'2', b'.', b'0']));
    }
}
