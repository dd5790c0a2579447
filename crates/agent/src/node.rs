//! The node object of an agent: registration, status heartbeats and the node
//! Lease, as kubelet's `kubelet_node_status.go` and `nodelease` controller.
//!
//! Owns: what a Node looks like when this agent registers it (labels,
//! capacity, addresses, conditions, pod CIDR), the Lease in
//! `kube-node-lease`, and how both are kept fresh. Does not own: pods.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use crate::ipam::Cidr;

/// Namespace of node Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// kubelet's `--node-lease-duration` default (`nodeLeaseDurationSeconds: 40`).
pub const LEASE_DURATION: Duration = Duration::from_secs(40);
/// kubelet renews the lease every quarter of its duration
/// (`nodelease.NewController`: `renewIntervalFraction = 0.25`).
pub const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// kubelet's `nodeStatusReportFrequency` default: an unchanged status is
/// posted every 5 minutes; the lease is the heartbeat in between.
pub const STATUS_REPORT_INTERVAL: Duration = Duration::from_secs(300);
/// The kubelet version simulated nodes report.
pub const KUBELET_VERSION: &str = "v1.33.0";

/// Errors of node registration and upkeep.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to register node {node}")]
    Register {
        node: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to update the status of node {node}")]
    Status {
        node: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to renew the lease of node {node}")]
    Lease {
        node: String,
        #[source]
        source: kube::Error,
    },
}

/// Result of node operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a node is registered with.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// `cpu`, `memory`, `pods`, `ephemeral-storage`, …
    pub capacity: BTreeMap<String, Quantity>,
    pub pod_cidr: Cidr,
    pub internal_ip: Ipv4Addr,
    /// `containerRuntimeVersion` in `nodeInfo`.
    pub runtime_version: String,
}

/// A registered node: its config and the uid the API gave it.
#[derive(Clone, Debug)]
pub struct RegisteredNode {
    pub config: NodeConfig,
    pub uid: String,
    /// The pod CIDR in effect (an existing node keeps the one it has).
    pub pod_cidr: Cidr,
}

/// The Node object kubelet's `initialNode` would build.
pub fn node_object(config: &NodeConfig, now: Timestamp) -> Node {
    let cidr = config.pod_cidr.to_string();
    Node {
        metadata: ObjectMeta {
            name: Some(config.name.clone()),
            labels: Some(config.labels.clone()),
            annotations: Some(
                [
                    ("node.alpha.kubernetes.io/ttl", "0"),
                    (
                        "volumes.kubernetes.io/controller-managed-attach-detach",
                        "true",
                    ),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: Some(cidr.clone()),
            pod_cidrs: Some(vec![cidr]),
            taints: (!config.taints.is_empty()).then(|| config.taints.clone()),
            ..Default::default()
        }),
        status: Some(node_status(config, now, now)),
    }
}

/// The node status: all is well, heartbeat `now`.
pub fn node_status(config: &NodeConfig, now: Timestamp, since: Timestamp) -> NodeStatus {
    let condition = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(Time(since)),
    };
    // Simulated machines: ids derived from the name, stable across restarts.
    let id = format!(
        "{:032x}",
        fnv(config.name.as_bytes()) as u128 * 0x9e37_79b9_7f4a_7c15
    );
    NodeStatus {
        capacity: Some(config.capacity.clone()),
        allocatable: Some(config.capacity.clone()),
        conditions: Some(vec![
            condition(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            condition(
                "DiskPressure",
                "False",
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
            ),
            condition(
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            condition(
                "Ready",
                "True",
                "KubeletReady",
                "kubelet is posting ready status",
            ),
        ]),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: config.internal_ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: config.name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port: 10250 }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: config
                .labels
                .get("kubernetes.io/arch")
                .cloned()
                .unwrap_or_else(|| "amd64".into()),
            operating_system: config
                .labels
                .get("kubernetes.io/os")
                .cloned()
                .unwrap_or_else(|| "linux".into()),
            boot_id: id.clone(),
            machine_id: id.clone(),
            system_uuid: id,
            container_runtime_version: config.runtime_version.clone(),
            kernel_version: "simulated".into(),
            os_image: "skiff simulated node".into(),
            kubelet_version: KUBELET_VERSION.into(),
            kube_proxy_version: String::new(),
            swap: None,
        }),
        ..Default::default()
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Registers the node (kubelet's `registerWithAPIServer`): creates it, or
/// adopts an existing one of that name, then posts its status. An existing
/// node keeps its `spec.podCIDR` (immutable once set upstream).
pub async fn register(nodes: &Api<Node>, config: NodeConfig) -> Result<RegisteredNode> {
    let now = Timestamp::now();
    let wrap = |source| Error::Register {
        node: config.name.clone(),
        source,
    };
    let node = match nodes
        .create(&PostParams::default(), &node_object(&config, now))
        .await
    {
        Ok(n) => n,
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = nodes.get(&config.name).await.map_err(wrap)?;
            // Keep the labels we manage up to date, as kubelet's updateDefaultLabels.
            let patch = json!({"metadata": {"labels": config.labels}});
            nodes
                .patch(&config.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(wrap)?;
            existing
        }
        Err(e) => return Err(wrap(e)),
    };
    let pod_cidr = node
        .spec
        .as_ref()
        .and_then(|s| s.pod_cidr.as_deref())
        .and_then(|c| c.parse().ok())
        .unwrap_or(config.pod_cidr);
    let uid = node.metadata.uid.clone().unwrap_or_default();
    let registered = RegisteredNode {
        config: NodeConfig { pod_cidr, ..config },
        uid,
        pod_cidr,
    };
    // An API server may drop status on create (it is a subresource); post it.
    report_status(nodes, &registered.config, now).await?;
    Ok(registered)
}

/// Posts the node status with a fresh heartbeat (kubelet's `tryUpdateNodeStatus`).
pub async fn report_status(nodes: &Api<Node>, config: &NodeConfig, since: Timestamp) -> Result<()> {
    let status = node_status(config, Timestamp::now(), since);
    let patch = json!({ "status": status });
    nodes
        .patch_status(&config.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| Error::Status {
            node: config.name.clone(),
            source,
        })?;
    Ok(())
}

/// Keeps one node's Lease renewed (kubelet's `nodelease` controller): the
/// lease is updated from the last copy written, and read again only when
/// that copy is stale.
pub struct LeaseKeeper {
    api: Api<Lease>,
    client: kube::Client,
    node: String,
    node_uid: String,
    /// The last copy written, without managedFields (a PUT without them
    /// keeps the server's), with the resourceVersion the server gave it.
    current: Option<Lease>,
}

impl LeaseKeeper {
    pub fn new(client: kube::Client, node: &RegisteredNode) -> LeaseKeeper {
        LeaseKeeper {
            api: Api::namespaced(client.clone(), LEASE_NAMESPACE),
            client,
            node: node.config.name.clone(),
            node_uid: node.uid.clone(),
            current: None,
        }
    }

    fn fresh(&self, now: Timestamp) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(self.node.clone()),
                namespace: Some(LEASE_NAMESPACE.into()),
                owner_references: (!self.node_uid.is_empty()).then(|| {
                    vec![OwnerReference {
                        api_version: "v1".into(),
                        kind: "Node".into(),
                        name: self.node.clone(),
                        uid: self.node_uid.clone(),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            },
            spec: Some(self.spec(now)),
        }
    }

    fn spec(&self, now: Timestamp) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.node.clone()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            renew_time: Some(MicroTime(now)),
            ..Default::default()
        }
    }

    /// Renews (or creates) the lease with `renewTime = now`.
    pub async fn renew(&mut self) -> Result<()> {
        let wrap = |node: &str, source| Error::Lease {
            node: node.to_string(),
            source,
        };
        let now = Timestamp::now();
        if let Some(mut lease) = self.current.take() {
            lease.spec = Some(LeaseSpec {
                renew_time: Some(MicroTime(now)),
                ..lease.spec.unwrap_or_else(|| self.spec(now))
            });
            match self.replace_keeping(&lease).await {
                Ok(version) => {
                    lease.metadata.resource_version = Some(version);
                    self.current = Some(lease);
                    return Ok(());
                }
                // Someone else wrote it, or it is gone: read it again below.
                Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {}
                Err(e) => return Err(wrap(&self.node, e)),
            }
        }
        // Create first: at registration the lease usually does not exist yet.
        let lease = match self
            .api
            .create(&PostParams::default(), &self.fresh(now))
            .await
        {
            Ok(l) => l,
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let mut l = self
                    .api
                    .get(&self.node)
                    .await
                    .map_err(|e| wrap(&self.node, e))?;
                l.spec = Some(self.spec(now));
                self.api
                    .replace(&self.node, &PostParams::default(), &l)
                    .await
                    .map_err(|e| wrap(&self.node, e))?
            }
            Err(e) => return Err(wrap(&self.node, e)),
        };
        let mut lease = lease;
        lease.metadata.managed_fields = None;
        self.current = Some(lease);
        Ok(())
    }

    /// PUTs `lease` and returns the new resourceVersion, without decoding
    /// the whole Lease the server answers with: 5,000 simulated nodes renew
    /// 500 times a second, and the decode (managedFields included) was a
    /// tenth of the sim's CPU.
    async fn replace_keeping(&self, lease: &Lease) -> kube::Result<String> {
        let url = format!("/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases");
        let body = serde_json::to_vec(lease).map_err(kube::Error::SerdeError)?;
        let req = kube::core::Request::new(url)
            .replace(&self.node, &PostParams::default(), body)
            .map_err(kube::Error::BuildRequest)?;
        let text = self.client.request_text(req).await?;
        written_version(&text).map_err(kube::Error::SerdeError)
    }
}

/// `metadata.resourceVersion` of an object the server answered with.
pub fn written_version(body: &str) -> serde_json::Result<String> {
    #[derive(serde::Deserialize)]
    struct Written {
        metadata: WrittenMeta,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct WrittenMeta {
        resource_version: String,
    }
    let w: Written = serde_json::from_str(body)?;
    Ok(w.metadata.resource_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_version_reads_only_the_resource_version() {
        let body = r#"{"kind":"Lease","apiVersion":"coordination.k8s.io/v1","metadata":{"name":"sim-0","resourceVersion":"4711","managedFields":[{"manager":"skiff-sim"}]},"spec":{"holderIdentity":"sim-0"}}"#;
        assert_eq!(written_version(body).expect("version"), "4711");
        assert!(written_version(r#"{"metadata":{}}"#).is_err());
        assert!(written_version("not json").is_err());
    }

    #[test]
    fn node_object_as_kubelet_registers_it() {
        let config = NodeConfig {
            name: "sim-0".into(),
            labels: [("kubernetes.io/hostname".to_string(), "sim-0".to_string())].into(),
            taints: Vec::new(),
            capacity: [("cpu".to_string(), Quantity("32".into()))].into(),
            pod_cidr: "10.42.7.0/24".parse().expect("cidr"),
            internal_ip: Ipv4Addr::new(172, 16, 0, 8),
            runtime_version: "sim://0.1.0".into(),
        };
        let node = node_object(&config, Timestamp::UNIX_EPOCH);
        let spec = node.spec.expect("spec");
        assert_eq!(spec.pod_cidr.as_deref(), Some("10.42.7.0/24"));
        assert!(spec.taints.is_none());
        let status = node.status.expect("status");
        let ready = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready")
            .expect("Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_deref()),
            ("True", Some("KubeletReady"))
        );
        assert_eq!(status.capacity, status.allocatable);
        assert_eq!(
            status.node_info.map(|i| i.kubelet_version),
            Some(KUBELET_VERSION.into())
        );
    }
}
