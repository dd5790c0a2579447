//! The `paths` of a group version's OpenAPI v3 document: for every resource
//! of the registry the collection, object, watch and subresource paths with
//! their operations, in kube-apiserver's shape (`x-kubernetes-action`,
//! `x-kubernetes-group-version-kind`, the query parameters each verb takes,
//! the patch media types). kubectl relies on two of them: a PATCH operation
//! of the kind that lists `fieldValidation` (server-side field validation is
//! supported) and one whose request body accepts
//! `application/strategic-merge-patch+json` (client-side apply computes a
//! strategic merge patch from the document's schemas).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use skiff_core::registry::{ResourceInfo, SubresourceInfo};

use super::schemas::{self, Components, reference};

/// Media types of object responses (kube-apiserver also lists CBOR).
const OBJECT_MEDIA: &[&str] = &[
    "application/json",
    "application/vnd.kubernetes.protobuf",
    "application/yaml",
];
/// Media types of list and watch responses.
const STREAM_MEDIA: &[&str] = &[
    "application/json",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf",
    "application/vnd.kubernetes.protobuf;stream=watch",
    "application/yaml",
];
/// Request media types of PATCH on built-in kinds.
const PATCH_MEDIA: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// Paths of one group version, keyed and sorted by path.
pub(super) struct Paths {
    prefix: String,
    /// `AppsV1` in operation ids.
    id: String,
    /// `apps_v1` tag.
    tag: String,
    paths: BTreeMap<String, Map<String, Value>>,
}

/// How an operation is described.
struct Op<'a> {
    method: &'static str,
    action: &'static str,
    id: String,
    description: String,
    gvk: (&'a str, &'a str, &'a str),
    params: Vec<Value>,
    body: Option<Value>,
    responses: Value,
}

impl Paths {
    pub(super) fn new(group: &'static str, version: &'static str) -> Paths {
        let prefix = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let group_name = if group.is_empty() {
            "core"
        } else {
            group.trim_end_matches(".k8s.io")
        };
        let mut parts = group_name.split('.');
        let first = parts.next().unwrap_or_default().to_string();
        let rest: String = parts.map(capitalize).collect();
        let id = format!("{}{}{}", capitalize(&first), rest, capitalize(version));
        let tag = format!("{first}{rest}_{version}");
        Paths {
            prefix,
            id,
            tag,
            paths: BTreeMap::new(),
        }
    }

    /// `GET /apis/<group>/<version>/`: the group version's resources.
    pub(super) fn api_resources(&mut self) {
        let op = json!({
            "description": "get available resources",
            "operationId": format!("get{}APIResources", self.id),
            "responses": responses(&[("200", "OK")], schemas::API_RESOURCE_LIST, OBJECT_MEDIA),
            "tags": [self.tag],
        });
        let path = format!("{}/", self.prefix);
        self.paths.entry(path).or_default().insert("get".into(), op);
    }

    /// Every path of resource `r`.
    pub(super) fn resource(&mut self, r: &'static ResourceInfo, components: &mut Components) {
        let kind_schema = components.kind(r.group, r.version, r.kind);
        let Some(schema) = kind_schema else { return };
        let gvk = (r.group, r.version, r.kind);
        let ns = if r.namespaced { "Namespaced" } else { "" };
        let kind = r.kind;
        let (collection, item) = if r.namespaced {
            (
                format!("{}/namespaces/{{namespace}}/{}", self.prefix, r.resource),
                format!(
                    "{}/namespaces/{{namespace}}/{}/{{name}}",
                    self.prefix, r.resource
                ),
            )
        } else {
            (
                format!("{}/{}", self.prefix, r.resource),
                format!("{}/{}/{{name}}", self.prefix, r.resource),
            )
        };
        let mut collection_params = Vec::new();
        if r.namespaced {
            collection_params.push(namespace_param());
        }
        collection_params.push(pretty_param());
        let mut item_params = vec![name_param(kind)];
        item_params.extend(collection_params.iter().cloned());

        if r.has_verb("list") {
            let list = components.list(&schema, r.group, r.version, kind);
            self.op(
                &collection,
                Op {
                    method: "get",
                    action: "list",
                    id: format!("list{}{ns}{kind}", self.id),
                    description: format!("list or watch objects of kind {kind}"),
                    gvk,
                    params: list_params(),
                    body: None,
                    responses: responses(&[("200", "OK")], &list, STREAM_MEDIA),
                },
            );
            if r.namespaced {
                let all = format!("{}/{}", self.prefix, r.resource);
                self.op(
                    &all,
                    Op {
                        method: "get",
                        action: "list",
                        id: format!("list{}{kind}ForAllNamespaces", self.id),
                        description: format!("list or watch objects of kind {kind}"),
                        gvk,
                        params: vec![],
                        body: None,
                        responses: responses(&[("200", "OK")], &list, STREAM_MEDIA),
                    },
                );
                self.path_params(&all, watch_path_params());
            }
        }
        if r.has_verb("watch") {
            components.shared(schemas::WATCH_EVENT, r.group, r.version, "WatchEvent");
            let watch = format!(
                "{}/watch{}",
                self.prefix,
                collection.trim_start_matches(&self.prefix)
            );
            self.op(&watch, Op {
                method: "get",
                action: "watchlist",
                id: format!("watch{}{ns}{kind}List", self.id),
                description: format!(
                    "watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."
                ),
                gvk,
                params: vec![],
                body: None,
                responses: responses(&[("200", "OK")], schemas::WATCH_EVENT, STREAM_MEDIA),
            });
            let mut params = collection_params.clone();
            params.extend(
                watch_path_params()
                    .into_iter()
                    .filter(|p| p["name"] != "pretty"),
            );
            self.path_params(&watch, params);

            let watch_item = format!(
                "{}/watch{}",
                self.prefix,
                item.trim_start_matches(&self.prefix)
            );
            self.op(&watch_item, Op {
                method: "get",
                action: "watch",
                id: format!("watch{}{ns}{kind}", self.id),
                description: format!(
                    "watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."
                ),
                gvk,
                params: vec![],
                body: None,
                responses: responses(&[("200", "OK")], schemas::WATCH_EVENT, STREAM_MEDIA),
            });
            let mut params = item_params.clone();
            params.extend(
                watch_path_params()
                    .into_iter()
                    .filter(|p| p["name"] != "pretty"),
            );
            self.path_params(&watch_item, params);

            if r.namespaced {
                let all = format!("{}/watch/{}", self.prefix, r.resource);
                self.op(&all, Op {
                    method: "get",
                    action: "watchlist",
                    id: format!("watch{}{kind}ListForAllNamespaces", self.id),
                    description: format!(
                        "watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."
                    ),
                    gvk,
                    params: vec![],
                    body: None,
                    responses: responses(&[("200", "OK")], schemas::WATCH_EVENT, STREAM_MEDIA),
                });
                self.path_params(&all, watch_path_params());
            }
        }
        if r.has_verb("create") {
            self.op(
                &collection,
                Op {
                    method: "post",
                    action: "post",
                    id: format!("create{}{ns}{kind}", self.id),
                    description: format!("create a {kind}"),
                    gvk,
                    params: write_params(false),
                    body: Some(object_body(&schema)),
                    responses: responses(
                        &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
                        &schema,
                        OBJECT_MEDIA,
                    ),
                },
            );
        }
        if r.has_verb("deletecollection") {
            components.shared(schemas::DELETE_OPTIONS, r.group, r.version, "DeleteOptions");
            let mut params = delete_params();
            params.extend(
                list_params().into_iter().filter(|p| {
                    !matches!(p["name"].as_str(), Some("allowWatchBookmarks" | "watch"))
                }),
            );
            params.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            self.op(
                &collection,
                Op {
                    method: "delete",
                    action: "deletecollection",
                    id: format!("delete{}Collection{ns}{kind}", self.id),
                    description: format!("delete collection of {kind}"),
                    gvk,
                    params,
                    body: Some(object_body(schemas::DELETE_OPTIONS)),
                    responses: responses(&[("200", "OK")], schemas::STATUS, OBJECT_MEDIA),
                },
            );
        }
        if self.paths.contains_key(&collection) {
            self.path_params(&collection, collection_params.clone());
        }

        self.item_ops(&item, &schema, gvk, r.verbs, ns, "");
        if self.paths.contains_key(&item) {
            self.path_params(&item, item_params.clone());
        }

        for s in r.subresources {
            self.subresource(r, s, &item, &item_params, &schema, components);
        }
    }

    /// GET/PUT/PATCH/DELETE on one object (or a subresource that reads and
    /// writes the object, such as `status`).
    fn item_ops(
        &mut self,
        path: &str,
        schema: &str,
        gvk: (&str, &str, &str),
        verbs: &[&str],
        ns: &str,
        sub: &str,
    ) {
        let kind = gvk.2;
        let what = if sub.is_empty() {
            String::new()
        } else {
            format!("{} of ", sub.to_lowercase())
        };
        let suffix = capitalize(sub);
        if verbs.contains(&"get") {
            self.op(
                path,
                Op {
                    method: "get",
                    action: "get",
                    id: format!("read{}{ns}{kind}{suffix}", self.id),
                    description: format!("read {what}the specified {kind}"),
                    gvk,
                    params: vec![],
                    body: None,
                    responses: responses(&[("200", "OK")], schema, OBJECT_MEDIA),
                },
            );
        }
        if verbs.contains(&"update") {
            self.op(
                path,
                Op {
                    method: "put",
                    action: "put",
                    id: format!("replace{}{ns}{kind}{suffix}", self.id),
                    description: format!("replace {what}the specified {kind}"),
                    gvk,
                    params: write_params(false),
                    body: Some(object_body(schema)),
                    responses: responses(
                        &[("200", "OK"), ("201", "Created")],
                        schema,
                        OBJECT_MEDIA,
                    ),
                },
            );
        }
        if verbs.contains(&"patch") {
            let content: Map<String, Value> = PATCH_MEDIA
                .iter()
                .map(|m| {
                    (
                        (*m).to_string(),
                        json!({ "schema": reference(schemas::PATCH) }),
                    )
                })
                .collect();
            self.op(
                path,
                Op {
                    method: "patch",
                    action: "patch",
                    id: format!("patch{}{ns}{kind}{suffix}", self.id),
                    description: format!("partially update {what}the specified {kind}"),
                    gvk,
                    params: write_params(true),
                    body: Some(json!({ "content": content, "required": true })),
                    responses: responses(
                        &[("200", "OK"), ("201", "Created")],
                        schema,
                        OBJECT_MEDIA,
                    ),
                },
            );
        }
        if verbs.contains(&"delete") && sub.is_empty() {
            self.op(
                path,
                Op {
                    method: "delete",
                    action: "delete",
                    id: format!("delete{}{ns}{kind}", self.id),
                    description: format!("delete a {kind}"),
                    gvk,
                    params: delete_params(),
                    body: Some(object_body(schemas::DELETE_OPTIONS)),
                    responses: responses(
                        &[("200", "OK"), ("202", "Accepted")],
                        schemas::STATUS,
                        OBJECT_MEDIA,
                    ),
                },
            );
        }
    }

    fn subresource(
        &mut self,
        r: &'static ResourceInfo,
        s: &'static SubresourceInfo,
        item: &str,
        item_params: &[Value],
        schema: &str,
        components: &mut Components,
    ) {
        let path = format!("{item}/{}", s.name);
        let ns = if r.namespaced { "Namespaced" } else { "" };
        let kind = r.kind;
        let suffix = capitalize(s.name);
        let gvk = (s.group, s.version, s.kind);
        match s.name {
            "log" => {
                self.op(
                    &path,
                    Op {
                        method: "get",
                        action: "get",
                        id: format!("read{}{ns}{kind}Log", self.id),
                        description: format!("read log of the specified {kind}"),
                        gvk,
                        params: log_params(),
                        body: None,
                        responses: text_responses(),
                    },
                );
            }
            _ if s.kind.ends_with("Options") => {
                // Streaming and proxy subresources (exec, attach,
                // portforward, proxy): connect actions without bodies.
                let params = connect_params(s.name);
                for (verb, method) in [
                    ("get", "get"),
                    ("create", "post"),
                    ("update", "put"),
                    ("patch", "patch"),
                    ("delete", "delete"),
                ] {
                    if !s.verbs.contains(&verb) {
                        continue;
                    }
                    let m = capitalize(method);
                    self.op(
                        &path,
                        Op {
                            method,
                            action: "connect",
                            id: format!("connect{}{m}{ns}{kind}{suffix}", self.id),
                            description: format!(
                                "connect {method} requests to {} of {kind}",
                                s.name
                            ),
                            gvk,
                            params: params.clone(),
                            body: None,
                            responses: text_responses(),
                        },
                    );
                    if s.name == "proxy" {
                        let with_path = format!("{path}/{{path}}");
                        self.op(
                            &with_path,
                            Op {
                                method,
                                action: "connect",
                                id: format!("connect{}{m}{ns}{kind}{suffix}WithPath", self.id),
                                description: format!(
                                    "connect {method} requests to {} of {kind}",
                                    s.name
                                ),
                                gvk,
                                params: params.clone(),
                                body: None,
                                responses: text_responses(),
                            },
                        );
                    }
                }
                if s.name == "proxy" {
                    let mut with_path = item_params.to_vec();
                    with_path.insert(1, path_param("path", "path to the resource"));
                    with_path.retain(|p| p["name"] != "pretty");
                    self.path_params(&format!("{path}/{{path}}"), with_path);
                }
                let mut params = item_params.to_vec();
                params.retain(|p| p["name"] != "pretty");
                if self.paths.contains_key(&path) {
                    self.path_params(&path, params);
                }
                return;
            }
            _ if s.verbs == ["create"] => {
                // binding, eviction, token: POST a different kind.
                let Some(sub_schema) = components.kind(s.group, s.version, s.kind) else {
                    return;
                };
                self.op(
                    &path,
                    Op {
                        method: "post",
                        action: "post",
                        id: format!("create{}{ns}{kind}{suffix}", self.id),
                        description: format!("create {} of a {kind}", s.name),
                        gvk,
                        params: write_params(false),
                        body: Some(object_body(&sub_schema)),
                        responses: responses(
                            &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
                            &sub_schema,
                            OBJECT_MEDIA,
                        ),
                    },
                );
            }
            _ => {
                let sub_schema = if s.kind == r.kind && s.group == r.group {
                    Some(schema.to_string())
                } else {
                    components.kind(s.group, s.version, s.kind)
                };
                let Some(sub_schema) = sub_schema else { return };
                self.item_ops(&path, &sub_schema, gvk, s.verbs, ns, s.name);
            }
        }
        if self.paths.contains_key(&path) {
            self.path_params(&path, item_params.to_vec());
        }
    }

    fn op(&mut self, path: &str, op: Op<'_>) {
        let mut o = Map::new();
        o.insert("description".into(), op.description.into());
        o.insert("operationId".into(), op.id.into());
        if !op.params.is_empty() {
            o.insert("parameters".into(), Value::Array(op.params));
        }
        if let Some(body) = op.body {
            o.insert("requestBody".into(), body);
        }
        o.insert("responses".into(), op.responses);
        o.insert("tags".into(), json!([self.tag]));
        o.insert("x-kubernetes-action".into(), op.action.into());
        o.insert(
            "x-kubernetes-group-version-kind".into(),
            schemas::gvk(op.gvk.0, op.gvk.1, op.gvk.2),
        );
        self.paths
            .entry(path.to_string())
            .or_default()
            .insert(op.method.into(), Value::Object(o));
    }

    fn path_params(&mut self, path: &str, params: Vec<Value>) {
        self.paths
            .entry(path.to_string())
            .or_default()
            .insert("parameters".into(), Value::Array(params));
    }

    /// The `paths` object.
    pub(super) fn finish(self) -> Map<String, Value> {
        self.paths
            .into_iter()
            .map(|(k, v)| (k, Value::Object(v)))
            .collect()
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn content(schema: &str, media: &[&str]) -> Value {
    let map: Map<String, Value> = media
        .iter()
        .map(|m| ((*m).to_string(), json!({ "schema": reference(schema) })))
        .collect();
    Value::Object(map)
}

fn responses(codes: &[(&str, &str)], schema: &str, media: &[&str]) -> Value {
    let mut map = Map::new();
    for (code, description) in codes {
        map.insert(
            (*code).into(),
            json!({ "content": content(schema, media), "description": description }),
        );
    }
    map.insert("401".into(), json!({ "description": "Unauthorized" }));
    Value::Object(map)
}

fn text_responses() -> Value {
    json!({
        "200": { "content": { "*/*": { "schema": { "type": "string" } } }, "description": "OK" },
        "401": { "description": "Unauthorized" },
    })
}

fn object_body(schema: &str) -> Value {
    json!({ "content": { "*/*": { "schema": reference(schema) } }, "required": true })
}

fn query(name: &str, ty: &str, description: &str) -> Value {
    json!({ "description": description, "in": "query", "name": name, "schema": { "type": ty, "uniqueItems": true } })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "description": description, "in": "path", "name": name, "required": true, "schema": { "type": "string", "uniqueItems": true } })
}

fn name_param(kind: &str) -> Value {
    path_param("name", &format!("name of the {kind}"))
}

fn namespace_param() -> Value {
    path_param(
        "namespace",
        "object name and auth scope, such as for teams and projects",
    )
}

fn pretty_param() -> Value {
    query(
        "pretty",
        "string",
        "If 'true', then the output is pretty printed.",
    )
}

/// Query parameters of POST, PUT and (with `force`) PATCH.
fn write_params(patch: bool) -> Vec<Value> {
    let mut params = vec![
        query(
            "dryRun",
            "string",
            "When present, the request is processed and validated but nothing is persisted. Valid values: All (every stage runs as a dry run).",
        ),
        query(
            "fieldManager",
            "string",
            if patch {
                "Name of the actor or entity making the change: at most 128 printable characters. Required for apply patches (application/apply-patch+yaml), optional for the other patch types."
            } else {
                "Name of the actor or entity making the change: at most 128 printable characters."
            },
        ),
        query(
            "fieldValidation",
            "string",
            "How the server treats unknown and duplicate fields in the object of a POST, PUT or PATCH. Ignore: drop unknown fields silently and keep the last of duplicate fields. Warn (the default): the same, with a Warning header for each unknown or duplicate field. Strict: fail with a BadRequest error that lists every unknown and duplicate field.",
        ),
    ];
    if patch {
        params.push(query(
            "force",
            "boolean",
            "Force an apply patch: take over the fields that other field managers own. Must be unset for the other patch types.",
        ));
    }
    params
}

fn delete_params() -> Vec<Value> {
    vec![
        query(
            "dryRun",
            "string",
            "When present, the request is processed and validated but nothing is persisted. Valid values: All (every stage runs as a dry run).",
        ),
        query(
            "gracePeriodSeconds",
            "integer",
            "Seconds before the object is deleted; zero deletes immediately, unset uses the kind's default.",
        ),
        query(
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            "boolean",
            "Delete objects that cannot be read from storage (corrupt or undecryptable), skipping finalizers and admission. Dangerous: may break the cluster.",
        ),
        query(
            "orphanDependents",
            "boolean",
            "Deprecated: use propagationPolicy. Whether dependents are orphaned rather than garbage collected.",
        ),
        query(
            "propagationPolicy",
            "string",
            "Whether and how dependents are garbage collected: Orphan, Background or Foreground.",
        ),
    ]
}

fn list_params() -> Vec<Value> {
    vec![
        query(
            "allowWatchBookmarks",
            "boolean",
            "Ask for BOOKMARK watch events. Servers send them at their discretion; ignored unless this is a watch.",
        ),
        query(
            "continue",
            "string",
            "Token from a previous paged list response to get the next page with the same query. Expired tokens fail with 410 ResourceExpired. Not supported with watch.",
        ),
        query(
            "fieldSelector",
            "string",
            "Restrict the returned objects by their fields. Defaults to everything.",
        ),
        query(
            "labelSelector",
            "string",
            "Restrict the returned objects by their labels. Defaults to everything.",
        ),
        query(
            "limit",
            "integer",
            "Maximum number of objects to return; when more exist, the list metadata has a continue token. Not supported with watch.",
        ),
        query(
            "resourceVersion",
            "string",
            "Constrains which resource versions the request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions.",
        ),
        query(
            "resourceVersionMatch",
            "string",
            "How resourceVersion applies to a list: Exact or NotOlderThan. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions.",
        ),
        query(
            "sendInitialEvents",
            "boolean",
            "With watch=true, start the stream with synthetic ADDED events for the current objects, followed by a BOOKMARK annotated k8s.io/initial-events-end. Requires resourceVersionMatch=NotOlderThan.",
        ),
        query(
            "timeoutSeconds",
            "integer",
            "Timeout of the list or watch call, whatever the activity.",
        ),
        query(
            "watch",
            "boolean",
            "Watch for changes and return them as a stream of add, update and delete notifications.",
        ),
    ]
}

/// Parameters of the deprecated `/watch/` paths (path level).
fn watch_path_params() -> Vec<Value> {
    let mut params = list_params();
    params.push(pretty_param());
    params.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    params
}

fn log_params() -> Vec<Value> {
    vec![
        query(
            "container",
            "string",
            "The container to stream logs of. Defaults to the only container of the pod.",
        ),
        query(
            "follow",
            "boolean",
            "Follow the log stream. Defaults to false.",
        ),
        query(
            "insecureSkipTLSVerifyBackend",
            "boolean",
            "Do not verify the serving certificate of the kubelet the logs come from.",
        ),
        query(
            "limitBytes",
            "integer",
            "Stop after this many bytes of log output.",
        ),
        query(
            "previous",
            "boolean",
            "Return the logs of the previous, terminated container. Defaults to false.",
        ),
        query(
            "sinceSeconds",
            "integer",
            "Only logs newer than this many seconds. Exclusive with sinceTime.",
        ),
        query(
            "stream",
            "string",
            "Which stream to return: All, Stdout or Stderr. Defaults to All.",
        ),
        query(
            "tailLines",
            "integer",
            "Only this many lines from the end of the log.",
        ),
        query(
            "timestamps",
            "boolean",
            "Prefix every line with an RFC3339 timestamp. Defaults to false.",
        ),
    ]
}

fn connect_params(sub: &str) -> Vec<Value> {
    let stdio = || {
        vec![
            query(
                "container",
                "string",
                "The container to connect to. Defaults to the only container of the pod.",
            ),
            query(
                "stderr",
                "boolean",
                "Redirect the standard error stream. Defaults to true.",
            ),
            query(
                "stdin",
                "boolean",
                "Redirect the standard input stream. Defaults to false.",
            ),
            query(
                "stdout",
                "boolean",
                "Redirect the standard output stream. Defaults to true.",
            ),
            query("tty", "boolean", "Allocate a terminal. Defaults to false."),
        ]
    };
    match sub {
        "exec" => {
            let mut p = vec![query(
                "command",
                "string",
                "The command to run, one argument per parameter.",
            )];
            p.extend(stdio());
            p
        }
        "attach" => stdio(),
        "portforward" => vec![query("ports", "integer", "Ports of the pod to forward to.")],
        _ => vec![query("path", "string", "Path of the request to proxy.")],
    }
}
