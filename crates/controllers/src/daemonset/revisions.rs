//! The DaemonSet's ControllerRevisions (upstream `update.go`): one revision
//! per template, the current one found by content and renumbered when an
//! old template comes back, collisions counted in `status.collisionCount`,
//! duplicates merged, and old ones trimmed to `revisionHistoryLimit`.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::plan::REVISION_HASH_LABEL;
use super::{Ctx, claim_pods, owner_is_current, pods_by_node};
use crate::controller_utils as cu;
use crate::history::{self, Created, History};
use crate::{ApiContext, Error, Result};

/// `constructHistory`: the current revision's hash (creating or renumbering
/// the revision as needed) and the old revisions. None after a hash
/// collision (collisionCount was bumped; sync again).
pub(super) async fn construct_history(
    ctx: &Ctx,
    ds: &DaemonSet,
) -> Result<Option<(String, Vec<ControllerRevision>)>> {
    let ns = ds.namespace().unwrap_or_default();
    let name = ds.name_any();
    let uid = ds.uid().unwrap_or_default();
    let Some(spec) = ds.spec.as_ref() else {
        return Ok(None);
    };
    let owner = cu::new_controller_ref("apps/v1", "DaemonSet", &name, &uid);
    let revs = History::new(ctx.client.clone());
    let claimed = revs
        .claim(
            &owner,
            &ns,
            &spec.selector,
            ctx.revisions.in_namespace(&ns),
            async || owner_is_current(ctx, ds).await,
        )
        .await?;
    let data = history::template_data(&spec.template);
    let mut current: Vec<ControllerRevision> = Vec::new();
    let mut old: Vec<ControllerRevision> = Vec::new();
    for mut rev in claimed {
        // Revisions from before the hash label get their name as the hash.
        if !rev.labels().contains_key(REVISION_HASH_LABEL) {
            let value = rev.name_any();
            rev = revs.set_label(&rev, REVISION_HASH_LABEL, &value).await?;
        }
        if history::has_data(&rev, &data) {
            current.push(rev);
        } else {
            old.push(rev);
        }
    }
    history::sort_revisions(&mut old);
    let next = history::next_revision(&old);
    let cur = if current.is_empty() {
        match snapshot(ctx, ds, &revs, &owner, data, next).await? {
            Some(c) => c,
            None => return Ok(None),
        }
    } else {
        let cur = dedup_current(ctx, ds, &revs, current).await?;
        if cur.revision < next {
            revs.update_revision(&cur, next).await?
        } else {
            cur
        }
    };
    let hash = cur
        .labels()
        .get(REVISION_HASH_LABEL)
        .cloned()
        .unwrap_or_else(|| cur.name_any());
    Ok(Some((hash, old)))
}

/// `snapshot`: writes the current template as revision `revision`, named
/// `<daemonset>-<template hash>`. On a clash with a different revision of
/// that name, bumps `status.collisionCount` and returns None.
async fn snapshot(
    ctx: &Ctx,
    ds: &DaemonSet,
    revs: &History,
    owner: &OwnerReference,
    data: Value,
    revision: i64,
) -> Result<Option<ControllerRevision>> {
    let Some(spec) = ds.spec.as_ref() else {
        return Ok(None);
    };
    let collision = ds.status.as_ref().and_then(|s| s.collision_count);
    let hash = cu::compute_hash(&spec.template, collision);
    let mut labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.into(), hash.clone());
    let ns = ds.namespace().unwrap_or_default();
    let mut rev = history::build(
        owner,
        &ns,
        history::revision_name(&owner.name, &hash),
        labels,
        data.clone(),
        revision,
    );
    if !ds.annotations().is_empty() {
        rev.metadata.annotations = Some(ds.annotations().clone());
    }
    let existing = match revs.create_or_get(&rev).await? {
        Created::New(r) => return Ok(Some(r)),
        Created::Exists(e) => e,
    };
    if history::has_data(&existing, &data) {
        return Ok(Some(existing));
    }
    // A different template under the same name: count the collision so the
    // next hash differs, unless our collisionCount was stale.
    let name = &owner.name;
    let api: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &ns);
    let fresh = api
        .get(name)
        .await
        .ctx(|| format!("get daemon set {ns}/{name}"))?;
    let fresh_count = fresh.status.as_ref().and_then(|s| s.collision_count);
    if fresh_count != collision {
        return Ok(None);
    }
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": {"collisionCount": collision.unwrap_or(0) + 1}})),
    )
    .await
    .ctx(|| format!("update the collision count of daemon set {ns}/{name}"))?;
    Ok(None)
}

/// `dedupCurHistories`: of several revisions with the current template,
/// keeps the highest; pods labelled with a duplicate's hash are relabelled
/// to the kept one before the duplicate is deleted.
async fn dedup_current(
    ctx: &Ctx,
    ds: &DaemonSet,
    revs: &History,
    mut current: Vec<ControllerRevision>,
) -> Result<ControllerRevision> {
    history::sort_revisions(&mut current);
    let Some(keep) = current.pop() else {
        return Err(Error::Invalid(format!(
            "no current revision of daemon set {}",
            ds.name_any()
        )));
    };
    if current.is_empty() {
        return Ok(keep);
    }
    let keep_hash = keep
        .labels()
        .get(REVISION_HASH_LABEL)
        .cloned()
        .unwrap_or_default();
    let ns = ds.namespace().unwrap_or_default();
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let pods = claim_pods(ctx, ds).await?;
    for dup in &current {
        let dup_hash = dup.labels().get(REVISION_HASH_LABEL);
        for pod in pods
            .iter()
            .filter(|p| dup_hash.is_some() && p.labels().get(REVISION_HASH_LABEL) == dup_hash)
        {
            let patch = json!({"metadata": {"labels": {REVISION_HASH_LABEL: keep_hash}}});
            match pod_api
                .patch(
                    &pod.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if crate::is_not_found(&e) => {}
                Err(e) => {
                    return Err(e).ctx(|| format!("relabel pod {ns}/{}", pod.name_any()));
                }
            }
        }
        revs.delete(dup).await?;
    }
    Ok(keep)
}

/// `cleanupHistory`: trims old revisions to `revisionHistoryLimit`, keeping
/// those a live pod still runs.
pub(super) async fn cleanup_history(
    ctx: &Ctx,
    ds: &DaemonSet,
    old: &[ControllerRevision],
    pods: &[Arc<Pod>],
) -> Result<()> {
    let limit = ds
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10)
        .max(0) as usize;
    if old.len() <= limit {
        return Ok(());
    }
    let live: Vec<&str> = pods_by_node(pods, true)
        .values()
        .flatten()
        .filter_map(|p| p.labels().get(REVISION_HASH_LABEL).map(String::as_str))
        .collect();
    // Upstream counts every old revision against the limit, live or not,
    // and then spares the live ones.
    let is_live = |r: &ControllerRevision| {
        r.labels()
            .get(REVISION_HASH_LABEL)
            .is_some_and(|h| live.contains(&h.as_str()))
    };
    let revs = History::new(ctx.client.clone());
    for r in history::revisions_to_truncate(old, old.len() - limit, is_live) {
        revs.delete(r).await?;
    }
    Ok(())
}
