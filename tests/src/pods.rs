//! What the end-to-end tests read off pods: their node, phase, conditions,
//! image, and the pods a controller owns.

use anyhow::Result;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, PodCondition};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

/// The node the pod is bound to, "" while it is not.
pub fn node_of(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

/// `status.phase`, or "" before the first status.
pub fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// The pod condition of type `type_`.
pub fn condition<'a>(p: &'a Pod, type_: &str) -> Option<&'a PodCondition> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// The status ("True", "False", "Unknown") of the condition of type `type_`.
pub fn condition_status<'a>(p: &'a Pod, type_: &str) -> Option<&'a str> {
    condition(p, type_).map(|c| c.status.as_str())
}

/// `Ready=True`.
pub fn is_ready(p: &Pod) -> bool {
    condition(p, "Ready").is_some_and(|c| c.status == "True")
}

/// Succeeded or Failed.
pub fn is_terminal(p: &Pod) -> bool {
    matches!(phase(p), "Succeeded" | "Failed")
}

/// The image of the first container.
pub fn first_image(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// The image of the first container of a ReplicaSet's pod template.
pub fn template_image(rs: &ReplicaSet) -> String {
    rs.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// The live (not terminating) pods in `ns` whose controller is the object
/// with `uid`.
pub async fn controlled_pods(client: &Client, ns: &str, uid: &str) -> Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && p.owner_references()
                    .iter()
                    .any(|r| r.uid == uid && r.controller == Some(true))
        })
        .collect())
}
