//! The DaemonSet's ControllerRevisions (upstream `update.go`): one revision
//! per template, the current one found by content and renumbered when an
//! old template comes back, collisions counted in `status.collisionCount`,
//! duplicates merged, and old ones trimmed to `revisionHistoryLimit`.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::history::{self, Created, History, Owner};
use super::plan::REVISION_HASH_LABEL;
use super::{Ctx, claim_pods, owner_is_current, pods_by_node};
use crate::deployment::compute_hash;
use crate::{ApiContext, Error, Result};

/// `getPatch`: the revision data, a strategic merge patch that puts the
/// template back (`kubectl rollout undo` applies it as is). Keys are sorted
/// and the template's `creationTimestamp` is null as Go prints it, so the
/// data equals what kubectl computes from the DaemonSet.
pub(super) fn revision_data(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(obj) = t.as_object_mut() {
        let meta = obj.entry("metadata").or_insert_with(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            m.insert("creationTimestamp".into(), Value::Null);
        }
        obj.insert("$patch".into(), json!("replace"));
    }
    history::sorted_json(&json!({"spec": {"template": t}}))
}

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
    let owner = Owner {
        api_version: "apps/v1",
        kind: "DaemonSet",
        namespace: &ns,
        name: &name,
        uid: &uid,
        selector: &spec.selector,
    };
    let revs = History::new(ctx.client.clone(), &ns);
    let claimed = revs
        .claim(&owner, ctx.revisions.state(), async || {
            owner_is_current(ctx, ds).await
        })
        .await?;
    let data = revision_data(&spec.template);
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
    let next = history::max_revision(&old) + 1;
    let cur = if current.is_empty() {
        match snapshot(ctx, ds, &revs, &owner, data, next).await? {
            Some(c) => c,
            None => return Ok(None),
        }
    } else {
        let cur = dedup_current(ctx, ds, &revs, current).await?;
        if cur.revision < next {
            revs.set_revision(&cur, next).await?
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
    owner: &Owner<'_>,
    data: Value,
    revision: i64,
) -> Result<Option<ControllerRevision>> {
    let Some(spec) = ds.spec.as_ref() else {
        return Ok(None);
    };
    let collision = ds.status.as_ref().and_then(|s| s.collision_count);
    let hash = compute_hash(&spec.template, collision);
    let mut labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.into(), hash.clone());
    let rev = history::new_revision(
        owner,
        history::revision_name(owner.name, &hash),
        labels,
        ds.annotations().clone(),
        data.clone(),
        revision,
    );
    let existing = match revs.create(&rev).await? {
        Created::New(r) => return Ok(Some(r)),
        Created::Exists(e) => e,
    };
    if history::has_data(&existing, &data) {
        return Ok(Some(existing));
    }
    // A different template under the same name: count the collision so the
    // next hash differs, unless our collisionCount was stale.
    let ns = owner.namespace;
    let api: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), ns);
    let fresh = api
        .get(owner.name)
        .await
        .ctx(|| format!("get daemon set {ns}/{}", owner.name))?;
    let fresh_count = fresh.status.as_ref().and_then(|s| s.collision_count);
    if fresh_count != collision {
        return Ok(None);
    }
    api.patch_status(
        owner.name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": {"collisionCount": collision.unwrap_or(0) + 1}})),
    )
    .await
    .ctx(|| {
        format!(
            "update the collision count of daemon set {ns}/{}",
            owner.name
        )
    })?;
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
    history::sort_by_revision(&mut current);
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
    let ns = ds.namespace().unwrap_or_default();
    History::new(ctx.client.clone(), &ns)
        .truncate(old, limit, |r| {
            r.labels()
                .get(REVISION_HASH_LABEL)
                .is_some_and(|h| live.contains(&h.as_str()))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_data_is_a_replacing_patch_with_sorted_keys() {
        let t: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "agent"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}
        }))
        .unwrap_or_default();
        let data = revision_data(&t);
        assert_eq!(
            serde_json::to_string(&data).unwrap_or_default(),
            r#"{"spec":{"template":{"$patch":"replace","metadata":{"creationTimestamp":null,"labels":{"app":"agent"}},"spec":{"containers":[{"image":"busybox","name":"c"}]}}}}"#
        );
    }
}
