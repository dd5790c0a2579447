//! Subresources served by the API server itself: `status`, `scale`,
//! `pods/ephemeralcontainers`,
//! `pods/binding` (and the `bindings` resource), `namespaces/finalize`,
//! `pods/eviction` (in [`crate::eviction`]).
//! Streaming subresources (log, exec, attach, port-forward, proxy) belong to the
//! node agent and are proxied once it exists.

use http::{Method, Response, StatusCode};
use serde_json::{Value, json};
use skiff_core::status::{FieldError, GroupResource};
use skiff_core::{Status, labels, meta};

use crate::encoding::{self, Body};
use crate::rest::{self, Ctx, Part};

pub async fn dispatch(
    ctx: &Ctx<'_>,
    method: &Method,
    content_type: &str,
    body: &[u8],
) -> rest::Result<Response<Body>> {
    let sub = ctx.req.subresource.as_str();
    let Some(info) = ctx.info.subresource(sub) else {
        return Err(Status::not_found_path());
    };
    let verb = ctx.req.verb.as_str();
    if !info.verbs.contains(&verb) {
        return Err(Status::method_not_supported(
            GroupResource {
                group: ctx.info.group,
                resource: &format!("{}/{}", ctx.info.resource, sub),
            },
            verb,
        ));
    }
    if ctx.info.namespaced && ctx.req.namespace.is_empty() {
        return Err(Status::not_found_path());
    }
    match (sub, method) {
        ("status", &Method::GET) => rest::get(ctx).await,
        ("status", &Method::PUT) => rest::update(ctx, Part::Status, content_type, body).await,
        ("status", &Method::PATCH) => rest::patch(ctx, Part::Status, content_type, body).await,
        ("ephemeralcontainers", &Method::GET) => rest::get(ctx).await,
        ("ephemeralcontainers", &Method::PUT) => {
            rest::update(ctx, Part::EphemeralContainers, content_type, body).await
        }
        ("ephemeralcontainers", &Method::PATCH) => {
            rest::patch(ctx, Part::EphemeralContainers, content_type, body).await
        }
        ("scale", _) => scale(ctx, method, content_type, body).await,
        ("binding", &Method::POST) => {
            let binding = encoding::decode(content_type, body)?;
            bind(ctx, &ctx.req.name, &binding).await
        }
        ("finalize", &Method::PUT) => finalize(ctx, content_type, body).await,
        ("eviction", &Method::POST) => crate::eviction::evict(ctx, content_type, body).await,
        _ => Err(Status::not_found_path()),
    }
}

/// Resources without storage.
pub async fn virtual_resource(
    ctx: &Ctx<'_>,
    content_type: &str,
    body: &[u8],
) -> rest::Result<Response<Body>> {
    match (ctx.info.group, ctx.info.resource, ctx.req.verb.as_str()) {
        ("", "bindings", "create") => {
            let binding = encoding::decode(content_type, body)?;
            let name = meta::name(&binding).to_string();
            let pods = skiff_core::registry::lookup("", "v1", "pods")
                .ok_or_else(|| Status::internal("pods are not registered"))?;
            let pod_ctx = Ctx {
                info: pods,
                strategy: crate::strategy::for_resource(pods),
                ..*ctx
            };
            bind(&pod_ctx, &name, &binding).await
        }
        ("authentication.k8s.io" | "authorization.k8s.io", _, "create") => {
            crate::access_review::create(ctx, content_type, body).await
        }
        ("", "componentstatuses", "get" | "list") => crate::health::component_statuses(ctx).await,
        (_, _, verb) => Err(Status::method_not_supported(ctx.gr(), verb)),
    }
}

/// `pods/binding`: assigns a pod to a node, once (the registry's `assignPod`).
pub(crate) async fn bind(
    ctx: &Ctx<'_>,
    name: &str,
    binding: &Value,
) -> rest::Result<Response<Body>> {
    let target = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if target.is_empty() {
        return Err(Status::invalid(
            "Binding",
            "",
            name,
            &[FieldError::required("target.name", "")],
        ));
    }
    let gr = GroupResource {
        group: "",
        resource: "pods/binding",
    };
    rest::update_object(ctx, name, Part::Raw, false, |current| {
        let mut pod = current.clone();
        if current.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(Status::conflict(
                gr.clone(),
                name,
                &format!("pod {name} is being deleted, cannot be assigned to a host"),
            ));
        }
        let assigned = current
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !assigned.is_empty() {
            return Err(Status::conflict(
                gr.clone(),
                name,
                &format!("pod {name} is already assigned to node {assigned:?}"),
            ));
        }
        pod["spec"]["nodeName"] = json!(target);
        let conditions = pod["status"]
            .as_object_mut()
            .map(|s| s.entry("conditions").or_insert_with(|| json!([])));
        if let Some(Value::Array(conds)) = conditions {
            conds.retain(|c| c.get("type") != Some(&json!("PodScheduled")));
            conds.push(json!({
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": null,
                "lastTransitionTime": meta::format_time(time::OffsetDateTime::now_utc()),
            }));
        }
        Ok(pod)
    })
    .await?;
    let ok = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok(encoding::json(StatusCode::CREATED, &ok, ctx.pretty))
}

/// The autoscaling/v1 Scale of a workload.
fn to_scale(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or(Value::Null);
    // ReplicationControllers have a plain map selector; the others a LabelSelector.
    let selector_json =
        if selector.get("matchLabels").is_some() || selector.get("matchExpressions").is_some() {
            selector
        } else {
            json!({"matchLabels": selector})
        };
    let selector_str = labels::Selector::from_label_selector_json(&selector_json)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let md = obj.get("metadata").cloned().unwrap_or(json!({}));
    let mut scale_md = serde_json::Map::new();
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = md.get(f) {
            scale_md.insert(f.into(), v.clone());
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_md,
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector_str,
        },
    })
}

async fn scale(
    ctx: &Ctx<'_>,
    method: &Method,
    content_type: &str,
    body: &[u8],
) -> rest::Result<Response<Body>> {
    let name = ctx.req.name.clone();
    if method == Method::GET {
        let (obj, rev) = rest::read(ctx, &name).await?;
        let obj = ctx.output(obj, rev);
        return Ok(encoding::json(StatusCode::OK, &to_scale(&obj), ctx.pretty));
    }
    let patch_ty = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let input = encoding::decode(content_type, body)?;
    let (obj, _) = rest::update_object(ctx, &name, Part::Main, false, |current| {
        let mut scale = to_scale(current);
        match *method {
            Method::PUT => scale = input.clone(),
            _ => match patch_ty.as_str() {
                "application/json-patch+json" => {
                    let p: json_patch::Patch = serde_json::from_value(input.clone())
                        .map_err(|e| Status::bad_request(e.to_string()))?;
                    json_patch::patch(&mut scale, &p)
                        .map_err(|e| Status::unprocessable(e.to_string()))?;
                }
                _ => json_patch::merge(&mut scale, &input),
            },
        }
        let replicas = scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if replicas < 0 {
            return Err(Status::invalid(
                "Scale.autoscaling",
                "autoscaling",
                &name,
                &[FieldError::invalid(
                    "spec.replicas",
                    &json!(replicas),
                    "must be greater than or equal to 0",
                )],
            ));
        }
        let mut obj = current.clone();
        obj["spec"]["replicas"] = json!(replicas);
        // A resourceVersion in the Scale is a precondition on the workload.
        let rv = meta::resource_version(&scale).to_string();
        meta::set_meta(&mut obj, "resourceVersion", json!(rv));
        Ok(obj)
    })
    .await?;
    Ok(encoding::json(StatusCode::OK, &to_scale(&obj), ctx.pretty))
}

/// `namespaces/finalize`: sets `spec.finalizers`; a terminating namespace with
/// none left is removed.
async fn finalize(ctx: &Ctx<'_>, content_type: &str, body: &[u8]) -> rest::Result<Response<Body>> {
    let input = encoding::decode(content_type, body)?;
    let name = ctx.req.name.clone();
    let finalizers = input
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or(json!([]));
    let (obj, _) = rest::update_object(ctx, &name, Part::Raw, false, |current| {
        let mut ns = current.clone();
        ns["spec"]["finalizers"] = finalizers.clone();
        Ok(ns)
    })
    .await?;
    let done = obj.pointer("/metadata/deletionTimestamp").is_some()
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        && meta::finalizers(&obj).is_empty();
    if done {
        let key = ctx.key("", &name);
        let rv = meta::resource_version(&obj).parse::<i64>().ok();
        match ctx.server.store.delete(&key, rv).await {
            Ok(_) | Err(skiff_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(rest::store_err(ctx, &name, e)),
        }
    }
    Ok(encoding::json(StatusCode::OK, &obj, ctx.pretty))
}
