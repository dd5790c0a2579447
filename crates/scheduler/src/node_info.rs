//! A node with the pods on it and their aggregate (`framework.NodeInfo`).
//!
//! Owns: the node's labels, taints, allocatable, images, and the requested
//! resources, host ports and affinity counts of the pods assigned or assumed
//! on it, kept up to date as pods are added and removed. Does not own: which
//! pods exist (the cache) or the rules (the plugins).

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Taint};

use crate::pod_info::{HostPort, PodInfo, normalize_image_name};
use crate::resource::Resource;
use crate::selector::Labels;

/// One node and its pods.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub node: Arc<Node>,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
    pub allocatable: Resource,
    /// Sum of the pods' requests.
    pub requested: Resource,
    /// Sum of the pods' requests with the scoring defaults for missing CPU and
    /// memory requests (only CPU and memory are kept).
    pub non_zero_requested: Resource,
    pub pods: Vec<Arc<PodInfo>>,
    pub used_ports: Vec<HostPort>,
    /// Pods with any pod affinity or anti-affinity.
    pub pods_with_affinity: usize,
    /// Pods with required anti-affinity.
    pub pods_with_required_anti_affinity: usize,
    /// Images present on the node (normalized name → size in bytes).
    pub images: HashMap<String, i64>,
    /// Changes whenever the pods or the node object change, unique over
    /// every NodeInfo of the process: what plugins key per-node caches (of
    /// pod counts and topology domains) by.
    pub generation: u64,
}

/// Source of [`NodeInfo::generation`].
static NEXT_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_generation() -> u64 {
    NEXT_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl NodeInfo {
    pub fn new(node: Arc<Node>) -> NodeInfo {
        let mut info = NodeInfo {
            name: String::new(),
            node: node.clone(),
            labels: Labels::new(),
            taints: Vec::new(),
            unschedulable: false,
            allocatable: Resource::default(),
            requested: Resource::default(),
            non_zero_requested: Resource::default(),
            pods: Vec::new(),
            used_ports: Vec::new(),
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
            images: HashMap::new(),
            generation: next_generation(),
        };
        info.set_node(node);
        info
    }

    /// Replaces the node object, keeping the pods.
    pub fn set_node(&mut self, node: Arc<Node>) {
        self.name = node.metadata.name.clone().unwrap_or_default();
        self.labels = node.metadata.labels.clone().unwrap_or_default();
        let spec = node.spec.as_ref();
        self.taints = spec.and_then(|s| s.taints.clone()).unwrap_or_default();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        let status = node.status.as_ref();
        self.allocatable = status
            .and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()))
            .map(Resource::from_list)
            .unwrap_or_default();
        self.images.clear();
        for image in status.and_then(|s| s.images.as_ref()).into_iter().flatten() {
            let size = image.size_bytes.unwrap_or(0);
            for name in image.names.iter().flatten() {
                self.images.insert(normalize_image_name(name), size);
            }
        }
        self.node = node;
        self.generation = next_generation();
    }

    /// Whether a change of the node object can change a scheduling decision
    /// (not a heartbeat): labels, taints, unschedulable, allocatable, images.
    pub fn scheduling_differs(a: &Node, b: &Node) -> bool {
        let spec = |n: &Node| n.spec.as_ref().map(|s| (s.taints.clone(), s.unschedulable));
        let alloc = |n: &Node| {
            n.status
                .as_ref()
                .map(|s| (s.allocatable.clone(), s.capacity.clone()))
        };
        let images = |n: &Node| n.status.as_ref().map(|s| s.images.clone());
        a.metadata.labels != b.metadata.labels
            || spec(a) != spec(b)
            || alloc(a) != alloc(b)
            || images(a) != images(b)
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.resources.requests);
        self.non_zero_requested.milli_cpu += pod.resources.non_zero_milli_cpu;
        self.non_zero_requested.memory += pod.resources.non_zero_memory;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if pod.has_affinity() {
            self.pods_with_affinity += 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity += 1;
        }
        self.pods.push(pod);
        self.generation = next_generation();
    }

    /// Removes a pod by UID; returns it when it was there.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.uid == uid)?;
        let pod = self.pods.swap_remove(i);
        self.generation = next_generation();
        self.requested.sub(&pod.resources.requests);
        self.non_zero_requested.milli_cpu -= pod.resources.non_zero_milli_cpu;
        self.non_zero_requested.memory -= pod.resources.non_zero_memory;
        for port in &pod.host_ports {
            if let Some(j) = self.used_ports.iter().position(|p| p == port) {
                self.used_ports.swap_remove(j);
            }
        }
        if pod.has_affinity() {
            self.pods_with_affinity -= 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity -= 1;
        }
        Some(pod)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Builders for the plugins' table tests.
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, NodeSpec, NodeStatus, Pod, PodSpec, ResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn list(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, Quantity> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
            .collect()
    }

    /// A node with allocatable resources and labels.
    pub fn node(name: &str, alloc: &[(&str, &str)], labels: &[(&str, &str)]) -> Node {
        let mut all_labels: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all_labels
            .entry("kubernetes.io/hostname".into())
            .or_insert_with(|| name.to_string());
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(all_labels),
                ..Default::default()
            },
            spec: Some(NodeSpec::default()),
            status: Some(NodeStatus {
                allocatable: Some(list(alloc)),
                ..Default::default()
            }),
        }
    }

    /// A pod with one container per request list.
    pub fn pod(name: &str, containers: &[&[(&str, &str)]]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: containers
                    .iter()
                    .map(|reqs| Container {
                        name: "c".into(),
                        resources: Some(ResourceRequirements {
                            requests: Some(list(reqs)),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            status: None,
        }
    }

    /// A pod with labels and no requests.
    pub fn labeled_pod(name: &str, labels: &[(&str, &str)]) -> Pod {
        let mut p = pod(name, &[&[]]);
        p.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        p
    }

    /// A NodeInfo holding the given pods.
    pub fn node_info(node: Node, pods: Vec<Pod>) -> NodeInfo {
        let mut info = NodeInfo::new(Arc::new(node));
        for mut p in pods {
            if let Some(spec) = p.spec.as_mut() {
                spec.node_name = info.name.clone().into();
            }
            info.add_pod(Arc::new(PodInfo::new(p)));
        }
        info
    }
}
