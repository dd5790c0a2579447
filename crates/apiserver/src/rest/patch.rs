//! PATCH: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic
//! merge patch, applied inside the update pipeline so a patch is retried on a
//! concurrent write as upstream's patcher does.

use http::{Response, StatusCode};
use serde_json::Value;
use skiff_core::status::FieldError;
use skiff_core::{Status, meta};

use super::{Ctx, Part, Result, update_object};
use crate::encoding::Body;

/// The patch formats kube-apiserver accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

fn patch_type(content_type: &str) -> Result<PatchType> {
    match content_type.split(';').next().unwrap_or("").trim() {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        "application/apply-patch+yaml" => Ok(PatchType::Apply),
        other => Err(Status::unsupported_media_type(other)),
    }
}

pub async fn patch(
    ctx: &Ctx<'_>,
    part: Part,
    content_type: &str,
    body: &[u8],
) -> Result<Response<Body>> {
    let ty = patch_type(content_type)?;
    if ty != PatchType::Apply && ctx.query.get("force").is_some() {
        return Err(Status::invalid(
            "PatchOptions.meta.k8s.io",
            "meta.k8s.io",
            "",
            &[FieldError::forbidden(
                "force",
                "may not be specified for non-apply patch",
            )],
        ));
    }
    let dry_run = ctx.dry_run()?;
    let name = ctx.req.name.clone();
    match ty {
        PatchType::Apply => apply(ctx, part, dry_run, &name, body).await,
        PatchType::Json => {
            let patch: json_patch::Patch =
                serde_json::from_slice(body).map_err(|e| Status::bad_request(e.to_string()))?;
            let (obj, _) = update_object(ctx, &name, part, dry_run, |current| {
                let mut doc = current.clone();
                json_patch::patch(&mut doc, &patch)
                    .map_err(|e| Status::unprocessable(e.to_string()))?;
                Ok(doc)
            })
            .await?;
            Ok(ctx.respond(StatusCode::OK, &obj))
        }
        PatchType::Merge => {
            let patch: Value =
                serde_json::from_slice(body).map_err(|e| Status::bad_request(e.to_string()))?;
            if !patch.is_object() {
                return Err(Status::bad_request("merge patch must be a JSON object"));
            }
            let (obj, _) = update_object(ctx, &name, part, dry_run, |current| {
                let mut doc = current.clone();
                json_patch::merge(&mut doc, &patch);
                Ok(doc)
            })
            .await?;
            Ok(ctx.respond(StatusCode::OK, &obj))
        }
        PatchType::Strategic => {
            let patch: Value =
                serde_json::from_slice(body).map_err(|e| Status::bad_request(e.to_string()))?;
            if !patch.is_object() {
                return Err(Status::bad_request(
                    "strategic merge patch must be a JSON object",
                ));
            }
            let (group, kind) = (ctx.info.group, ctx.info.kind);
            let (obj, _) = update_object(ctx, &name, part, dry_run, |current| {
                skiff_core::strategic_merge::apply(group, kind, current, &patch)
                    .map_err(|e| e.to_status())
            })
            .await?;
            Ok(ctx.respond(StatusCode::OK, &obj))
        }
    }
}

/// Server-side apply (`application/apply-patch+yaml`): merges the applied
/// configuration by the schema's list and map types, tracks ownership in
/// `managedFields`, and creates the object when it does not exist.
async fn apply(
    ctx: &Ctx<'_>,
    part: Part,
    dry_run: bool,
    name: &str,
    body: &[u8],
) -> Result<Response<Body>> {
    if ctx.query.get("fieldManager").is_none_or(str::is_empty) {
        return Err(Status::invalid(
            "PatchOptions.meta.k8s.io",
            "meta.k8s.io",
            "",
            &[FieldError::required(
                "fieldManager",
                "is required for apply patch",
            )],
        ));
    }
    let manager = ctx.field_manager()?;
    let force = ctx.query.flag("force");
    let mut config = crate::encoding::decode("application/yaml", body)?;
    if !config.is_object() {
        return Err(Status::bad_request(
            "the body of an apply patch must be an object",
        ));
    }
    let in_body = meta::name(&config).to_string();
    if in_body.is_empty() {
        meta::set_meta(&mut config, "name", serde_json::json!(name));
    } else if in_body != name {
        return Err(Status::bad_request(format!(
            "the name of the object ({in_body}) does not match the name on the URL ({name})"
        )));
    }
    if ctx.info.namespaced {
        let ns = meta::namespace(&config).to_string();
        if ns.is_empty() {
            meta::set_meta(
                &mut config,
                "namespace",
                serde_json::json!(ctx.req.namespace),
            );
        } else if ns != ctx.req.namespace {
            return Err(Status::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    let now = meta::format_time(time::OffsetDateTime::now_utc());
    let api_version = meta::api_version(ctx.info.group, ctx.info.version);
    let sub = &ctx.req.subresource;
    let req = skiff_core::managed_fields::Request {
        group: ctx.info.group,
        kind: ctx.info.kind,
        api_version: &api_version,
        manager: &manager,
        subresource: (!sub.is_empty()).then_some(sub.as_str()),
        now: &now,
        reset_fields: None,
    };
    // An apply to a subresource changes only what the subresource holds.
    let apply_part = match part {
        Part::Status | Part::EphemeralContainers => part,
        _ => Part::Apply,
    };
    let updated = update_object(ctx, name, apply_part, dry_run, |live| {
        skiff_core::managed_fields::apply_request(&req, Some(live), &config, force)
            .map_err(|e| e.to_status())
    })
    .await;
    match updated {
        Ok((obj, _)) => Ok(ctx.respond(StatusCode::OK, &obj)),
        Err(s) if s.code == 404 && part == Part::Main => {
            let created = skiff_core::managed_fields::apply_request(&req, None, &config, force)
                .map_err(|e| e.to_status())?;
            let obj = super::create_object(ctx, created, dry_run, true).await?;
            Ok(ctx.respond(StatusCode::CREATED, &obj))
        }
        Err(s) => Err(s),
    }
}
