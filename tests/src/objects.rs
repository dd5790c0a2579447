//! Objects the end-to-end tests make or look up through the API: nodes that
//! no agent runs, and Events by reason.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Event, Node};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// Creates a Ready node through the API (no agent runs it) with `cpu` CPUs,
/// 8Gi memory, 110 pods, the hostname label plus `labels`, and `taints`.
pub async fn create_ready_node(
    client: &kube::Client,
    name: &str,
    cpu: &str,
    labels: &[(&str, &str)],
    taints: Value,
) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let mut all_labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all_labels.insert("kubernetes.io/hostname".into(), name.into());
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": all_labels},
        "spec": {"taints": taints},
    }))?;
    api.create(&PostParams::default(), &node)
        .await
        .with_context(|| format!("create node {name}"))?;
    let resources =
        json!({"cpu": cpu, "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"});
    let status = json!({"status": {
        "capacity": resources,
        "allocatable": resources,
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "lastHeartbeatTime": "2030-01-01T00:00:00Z", "lastTransitionTime": "2030-01-01T00:00:00Z"}],
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .with_context(|| format!("set status of node {name}"))?;
    Ok(())
}

/// The core/v1 Events in `namespace` with `reason`.
pub async fn events_with_reason(
    client: &kube::Client,
    namespace: &str,
    reason: &str,
) -> Result<Vec<Event>> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    Ok(api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("list events in {namespace}"))?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect())
}
