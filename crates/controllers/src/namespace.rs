//! The namespace controller (upstream `pkg/controller/namespace`): once a
//! namespace is being deleted and still carries the `kubernetes` finalizer,
//! delete everything in it, report progress in its conditions, and when
//! nothing is left remove the finalizer through `namespaces/{name}/finalize`
//! so the API server can remove the namespace.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use kube::runtime::controller::{Action, Controller};
use kube::{Client, ResourceExt};

use crate::discovery;
use crate::informer::Informers;
use crate::{ApiContext, Error, Result};

const FINALIZER: &str = "kubernetes";

struct Ctx {
    client: Client,
}

/// Runs the namespace controller until its watch fails.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let namespaces = informers.of::<Namespace>();
    Controller::for_shared_stream(namespaces.subscribe(), namespaces.store())
        .run(reconcile, error_policy, Arc::new(Ctx { client }))
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

fn error_policy(ns: Arc<Namespace>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(namespace = %ns.name_any(), error = %crate::error_chain(e), "namespace sync failed");
    Action::requeue(Duration::from_secs(5))
}

/// What one pass of content deletion found.
#[derive(Default)]
struct Outcome {
    discovery_failures: Vec<String>,
    deletion_failures: Vec<String>,
    /// resource → remaining count
    remaining: BTreeMap<String, usize>,
    /// finalizer → objects carrying it
    finalizers: BTreeMap<String, usize>,
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Ctx>) -> Result<Action> {
    if ns.metadata.deletion_timestamp.is_none() {
        return Ok(Action::await_change());
    }
    let finalizers = ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let outcome = delete_content(&ctx.client, &name).await?;
    update_conditions(&ctx.client, &ns, &outcome).await?;
    if !outcome.discovery_failures.is_empty()
        || !outcome.deletion_failures.is_empty()
        || !outcome.remaining.is_empty()
    {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    // Nothing left: drop our finalizer (upstream `finalizeNamespace`).
    let mut updated = (*ns).clone();
    if let Some(spec) = updated.spec.as_mut() {
        spec.finalizers = Some(finalizers.into_iter().filter(|f| f != FINALIZER).collect());
    }
    updated.metadata.managed_fields = None;
    let body = serde_json::to_vec(&updated).map_err(|e| Error::Invalid(e.to_string()))?;
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    match api
        .replace_subresource("finalize", &name, &PostParams::default(), &body)
        .await
    {
        Ok(_) => Ok(Action::await_change()),
        Err(e) if crate::is_not_found(&e) => Ok(Action::await_change()),
        Err(e) if crate::is_conflict(&e) => Ok(Action::requeue(Duration::from_millis(200))),
        Err(e) => Err(e).ctx(|| format!("finalize namespace {name}")),
    }
}

/// `namespacedResourcesDeleter.deleteAllContent`.
async fn delete_content(client: &Client, ns: &str) -> Result<Outcome> {
    let mut out = Outcome::default();
    let found = discovery::preferred_resources(client)
        .await
        .map_err(Error::Discovery)?;
    out.discovery_failures = found
        .failed
        .iter()
        .map(|(gv, e)| format!("{gv}: {e}"))
        .collect();
    for r in found
        .resources
        .iter()
        .filter(|r| r.namespaced && r.supports(&["list", "delete"]))
    {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &r.api);
        // Upstream prints a GroupResource: `configmaps.` for the core group.
        let gr = format!("{}.{}", r.api.plural, r.api.group);
        let dp = DeleteParams::background();
        if r.supports(&["deletecollection"])
            && let Err(e) = api.delete_collection(&dp, &ListParams::default()).await
            && !crate::is_not_found(&e)
        {
            out.deletion_failures.push(format!("{gr}: {e}"));
            continue;
        }
        let list = match api.list_metadata(&ListParams::default()).await {
            Ok(l) => l,
            Err(e) if crate::is_not_found(&e) => continue,
            Err(e) => {
                out.deletion_failures.push(format!("{gr}: {e}"));
                continue;
            }
        };
        if list.items.is_empty() {
            continue;
        }
        if !r.supports(&["deletecollection"]) {
            for item in &list.items {
                if item.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                if let Err(e) = api.delete(&item.name_any(), &dp).await
                    && !crate::is_not_found(&e)
                {
                    out.deletion_failures.push(format!("{gr}: {e}"));
                }
            }
        }
        out.remaining.insert(gr, list.items.len());
        for item in &list.items {
            for f in item.metadata.finalizers.iter().flatten() {
                *out.finalizers.entry(f.clone()).or_default() += 1;
            }
        }
    }
    Ok(out)
}

fn condition(type_: &str, failed: bool, reason: &str, message: String) -> NamespaceCondition {
    NamespaceCondition {
        type_: type_.into(),
        status: if failed { "True" } else { "False" }.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: None,
    }
}

/// The five deletion conditions, with upstream's reasons and messages.
fn conditions(o: &Outcome) -> Vec<NamespaceCondition> {
    let discovery = if o.discovery_failures.is_empty() {
        condition(
            "NamespaceDeletionDiscoveryFailure",
            false,
            "ResourcesDiscovered",
            "All resources successfully discovered".into(),
        )
    } else {
        condition(
            "NamespaceDeletionDiscoveryFailure",
            true,
            "DiscoveryFailed",
            format!(
                "Discovery failed for some groups, {} failing: {}",
                o.discovery_failures.len(),
                o.discovery_failures.join(", ")
            ),
        )
    };
    let parsing = condition(
        "NamespaceDeletionGroupVersionParsingFailure",
        false,
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed".into(),
    );
    let content = if o.deletion_failures.is_empty() {
        condition(
            "NamespaceDeletionContentFailure",
            false,
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization".into(),
        )
    } else {
        condition(
            "NamespaceDeletionContentFailure",
            true,
            "ContentDeletionFailed",
            format!(
                "Failed to delete all resource types, {} remaining: {}",
                o.deletion_failures.len(),
                o.deletion_failures.join(", ")
            ),
        )
    };
    let remaining = if o.remaining.is_empty() {
        condition(
            "NamespaceContentRemaining",
            false,
            "ContentRemoved",
            "All content successfully removed".into(),
        )
    } else {
        let parts: Vec<String> = o
            .remaining
            .iter()
            .map(|(r, n)| format!("{r} has {n} resource instances"))
            .collect();
        condition(
            "NamespaceContentRemaining",
            true,
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", parts.join(", ")),
        )
    };
    let finalizers = if o.finalizers.is_empty() {
        condition(
            "NamespaceFinalizersRemaining",
            false,
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished".into(),
        )
    } else {
        let parts: Vec<String> = o
            .finalizers
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        condition(
            "NamespaceFinalizersRemaining",
            true,
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                parts.join(", ")
            ),
        )
    };
    vec![discovery, parsing, content, remaining, finalizers]
}

async fn update_conditions(client: &Client, ns: &Namespace, o: &Outcome) -> Result<()> {
    let old = ns
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let mut changed = false;
    let mut new: Vec<NamespaceCondition> = Vec::new();
    for mut c in conditions(o) {
        match old.iter().find(|x| x.type_ == c.type_) {
            Some(prev) if prev.status == c.status => {
                c.last_transition_time = prev.last_transition_time.clone();
                if prev.reason != c.reason || prev.message != c.message {
                    changed = true;
                }
            }
            _ => {
                c.last_transition_time = Some(now.clone());
                changed = true;
            }
        }
        new.push(c);
    }
    // Keep conditions of other types.
    for c in old {
        if !new.iter().any(|x| x.type_ == c.type_) {
            new.push(c);
        }
    }
    if !changed {
        return Ok(());
    }
    let api: Api<Namespace> = Api::all(client.clone());
    let patch = serde_json::json!({"status": {"conditions": new}});
    match api
        .patch_status(
            &ns.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if crate::is_not_found(&e) => Ok(()),
        Err(e) => Err(e).ctx(|| format!("update the status of namespace {}", ns.name_any())),
    }
}
