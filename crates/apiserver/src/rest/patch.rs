//! PATCH: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic
//! merge patch, applied inside the update pipeline so a patch is retried on a
//! concurrent write as upstream's patcher does.

use http::{Response, StatusCode};
use serde_json::Value;
use skiff_core::Status;

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
    let dry_run = ctx.dry_run()?;
    let name = ctx.req.name.clone();
    match ty {
        PatchType::Apply => Err(Status::unsupported_media_type(
            "application/apply-patch+yaml",
        )),
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
