//! Objects every cluster has from its first start: the four system namespaces
//! and the `kubernetes` Service in `default` (kube-apiserver's bootstrap
//! controller), written once when missing.

use bytes::Bytes;
use serde_json::{Value, json};
use skiff_core::meta;

use crate::{ApiServer, Error, Result};

pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

fn base_meta(name: &str) -> Value {
    json!({
        "name": name,
        "uid": uuid::Uuid::new_v4().to_string(),
        "creationTimestamp": meta::format_time(time::OffsetDateTime::now_utc()),
    })
}

async fn create_if_missing(server: &ApiServer, key: &str, obj: Value) -> Result<()> {
    if server.store.get(key, None).await?.is_some() {
        return Ok(());
    }
    let bytes = serde_json::to_vec(&obj).map_err(|e| Error::Bootstrap {
        what: key.to_string(),
        status: skiff_core::Status::internal(e),
    })?;
    match server.store.create(key, Bytes::from(bytes)).await {
        // Another server of an HA pair got there first.
        Ok(_) | Err(skiff_store::Error::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub async fn run(server: &ApiServer) -> Result<()> {
    for ns in SYSTEM_NAMESPACES {
        let mut md = base_meta(ns);
        md["labels"] = json!({"kubernetes.io/metadata.name": ns});
        let obj = json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": md,
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        create_if_missing(server, &format!("/registry/namespaces/{ns}"), obj).await?;
    }
    let ip = server.services.api_service_ip().to_string();
    let mut md = base_meta("kubernetes");
    md["namespace"] = json!("default");
    md["labels"] = json!({"component": "apiserver", "provider": "kubernetes"});
    let svc = json!({
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": md,
        "spec": {
            "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": 6443}],
            "clusterIP": ip,
            "clusterIPs": [ip],
            "type": "ClusterIP",
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {}},
    });
    create_if_missing(server, "/registry/services/specs/default/kubernetes", svc).await?;
    for (name, value, description) in crate::admission::SYSTEM_PRIORITY_CLASSES {
        let pc = json!({
            "kind": "PriorityClass",
            "apiVersion": "scheduling.k8s.io/v1",
            "metadata": base_meta(name),
            "value": value,
            "description": description,
            "preemptionPolicy": "PreemptLowerPriority",
        });
        create_if_missing(server, &format!("/registry/priorityclasses/{name}"), pc).await?;
    }
    Ok(())
}
