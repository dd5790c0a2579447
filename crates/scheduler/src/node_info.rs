//! A node with the pods on it and their aggregate (`framework.NodeInfo`).
//!
//! Owns: the node's labels, taints, allocatable, images, and the requested
//! resources, host ports and affinity counts of the pods assigned or assumed
//! on it, kept up to date as pods are added and removed. Does not own: which
//! pods exist (the cache) or the rules (the plugins).

use std::collections::{HashMap, VecDeque};
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
    /// The last pod changes, for caches that catch up by them.
    changes: PodChanges,
}

/// Pod changes of a node kept for [`NodeInfo::changes_since`].
const KEPT_CHANGES: usize = 4;

/// The last [`KEPT_CHANGES`] pod additions and removals of a node, each with
/// the generation it produced.
#[derive(Debug, Clone, Default)]
struct PodChanges {
    /// The generation before the oldest change kept.
    base: u64,
    entries: VecDeque<(u64, PodChange)>,
}

/// What a counting cache needs of a pod that came or went: not the pod, so
/// the log never keeps a replaced pod (an assumed one, an older version)
/// alive; that was ~50 MiB at 5,000 nodes.
#[derive(Debug, Clone)]
pub struct PodChange {
    pub namespace: String,
    pub labels: Labels,
    pub terminating: bool,
    /// Added (true) or removed.
    pub added: bool,
}

impl PodChange {
    fn of(pod: &PodInfo, added: bool) -> PodChange {
        PodChange {
            namespace: pod.namespace.clone(),
            labels: pod.labels.clone(),
            terminating: pod.terminating,
            added,
        }
    }
}

impl PodChanges {
    fn restart(&mut self, generation: u64) {
        self.base = generation;
        self.entries.clear();
    }

    fn push(&mut self, generation: u64, pod: &PodInfo, added: bool) {
        if self.entries.len() == KEPT_CHANGES
            && let Some((oldest, _)) = self.entries.pop_front()
        {
            self.base = oldest;
        }
        self.entries
            .push_back((generation, PodChange::of(pod, added)));
    }
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
            changes: PodChanges::default(),
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
        // Labels may have changed: a cache keyed by the node's domain must
        // start over, so no pod change leads here.
        self.changes.restart(self.generation);
    }

    /// The pods added and removed since this node was at `generation`,
    /// oldest first; None when `generation` is not one of this node's kept
    /// generations (another node's, an older one, or one before a change of
    /// the node object), so the caller recounts.
    pub fn changes_since(&self, generation: u64) -> Option<impl Iterator<Item = &PodChange>> {
        let entries = &self.changes.entries;
        let from = if generation == self.changes.base {
            0
        } else {
            entries.iter().position(|(g, _)| *g == generation)? + 1
        };
        Some(entries.range(from..).map(|(_, change)| change))
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
        self.generation = next_generation();
        self.changes.push(self.generation, &pod, true);
        self.pods.push(pod);
    }

    /// Removes a pod by UID; returns it when it was there.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.uid == uid)?;
        let pod = self.pods.swap_remove(i);
        self.generation = next_generation();
        self.changes.push(self.generation, &pod, false);
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

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    fn names(info: &NodeInfo, since: u64) -> Option<Vec<String>> {
        info.changes_since(since).map(|c| {
            c.map(|c| {
                let name = c.labels.get("name").map(String::as_str).unwrap_or("?");
                format!("{}{name}", if c.added { "+" } else { "-" })
            })
            .collect()
        })
    }

    #[test]
    fn changes_since_a_generation_are_the_pods_added_and_removed_after_it() {
        let mut info = node_info(node("n", &[], &[]), vec![]);
        let start = info.generation;
        assert_eq!(names(&info, start), Some(vec![]));
        info.add_pod(Arc::new(PodInfo::new(labeled_pod("a", &[("name", "a")]))));
        let after_a = info.generation;
        info.add_pod(Arc::new(PodInfo::new(labeled_pod("b", &[("name", "b")]))));
        let uid = info.pods[0].uid.clone();
        info.remove_pod(&uid);
        assert_eq!(
            names(&info, start),
            Some(vec!["+a".into(), "+b".into(), "-a".into()])
        );
        assert_eq!(names(&info, after_a), Some(vec!["+b".into(), "-a".into()]));
        assert_eq!(names(&info, info.generation), Some(vec![]));
        // Another node's generation, or none at all, is not this node's.
        let other = node_info(node("m", &[], &[]), vec![]);
        assert_eq!(names(&info, other.generation), None);
        assert_eq!(names(&info, 0), None);
        // Only the last few changes are kept.
        for i in 0..KEPT_CHANGES {
            info.add_pod(Arc::new(PodInfo::new(labeled_pod(&format!("c{i}"), &[]))));
        }
        assert_eq!(names(&info, start), None);
        assert_eq!(names(&info, after_a), None);
        // A change of the node object starts over.
        let before = info.generation;
        info.set_node(Arc::new(node("n", &[], &[("zone", "z")])));
        assert_eq!(names(&info, before), None);
        assert_eq!(names(&info, info.generation), Some(vec![]));
    }
}
