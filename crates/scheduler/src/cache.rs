//! The scheduler cache (`pkg/scheduler/backend/cache`): nodes with their
//! assigned and assumed pods, fed by the watch streams, read by the plugins
//! through [`Snapshot`].
//!
//! A pod is *assumed* on a node the moment the scheduler picks it, before the
//! binding reaches the API server, so the next decision already counts its
//! requests; the watch event of the bound pod then confirms it, and a failed
//! binding forgets it. The scheduling loop owns the cache (no lock): watch
//! events and binding results are applied between scheduling cycles, so a
//! cycle sees a consistent snapshot as upstream's `UpdateSnapshot` gives.
//! Does not own: pending pods (the queue).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::preemption::Pdb;
use crate::selector::{Labels, Selector};

/// Objects whose selectors give a pod's default topology spread selector
/// (`helper.DefaultSelector`): Services, ReplicationControllers,
/// ReplicaSets and StatefulSets.
#[derive(Debug, Default)]
pub struct Owners {
    /// namespace → service name → `spec.selector`.
    pub services: HashMap<String, BTreeMap<String, Labels>>,
    /// (namespace, name) → `spec.selector` of a ReplicationController.
    pub replication_controllers: HashMap<(String, String), Labels>,
    /// (namespace, name) → `spec.selector` of a ReplicaSet.
    pub replica_sets: HashMap<(String, String), Selector>,
    /// (namespace, name) → `spec.selector` of a StatefulSet.
    pub stateful_sets: HashMap<(String, String), Selector>,
}

impl Owners {
    /// `helper.DefaultSelector`: the merged selectors of the services that
    /// select the pod, plus its controller's (RC, RS or StatefulSet). Empty
    /// when nothing selects the pod.
    pub fn default_selector(&self, pod: &PodInfo) -> Selector {
        let mut merged = Labels::new();
        if let Some(services) = self.services.get(&pod.namespace) {
            for sel in services.values() {
                // A service without a selector selects nothing.
                if !sel.is_empty() && sel.iter().all(|(k, v)| pod.labels.get(k) == Some(v)) {
                    merged.extend(sel.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        let owner = pod
            .pod
            .iter()
            .flat_map(|p| p.metadata.owner_references.iter().flatten())
            .find(|o| o.controller == Some(true));
        let mut selector = Selector::from_map(&merged);
        if let Some(owner) = owner {
            let key = (pod.namespace.clone(), owner.name.clone());
            let group = owner.api_version.split('/').next().unwrap_or("");
            match (group, owner.kind.as_str()) {
                ("v1", "ReplicationController") => {
                    if let Some(sel) = self.replication_controllers.get(&key) {
                        merged.extend(sel.iter().map(|(k, v)| (k.clone(), v.clone())));
                        selector = Selector::from_map(&merged);
                    }
                }
                ("apps", "ReplicaSet") => {
                    if let Some(sel) = self.replica_sets.get(&key).filter(|s| !s.nothing) {
                        selector
                            .requirements
                            .extend(sel.requirements.iter().cloned());
                    }
                }
                ("apps", "StatefulSet") => {
                    if let Some(sel) = self.stateful_sets.get(&key).filter(|s| !s.nothing) {
                        selector
                            .requirements
                            .extend(sel.requirements.iter().cloned());
                    }
                }
                _ => {}
            }
        }
        selector
    }
}

/// What the plugins see of the cluster during one cycle.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The nodes, each with its pods.
    pub nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    /// Namespace labels, for affinity terms with a namespace selector.
    pub namespaces: HashMap<String, Labels>,
    /// How many nodes have each image (ImageLocality's spread factor).
    pub image_nodes: HashMap<String, usize>,
    /// Pods with any pod affinity, over all nodes.
    pub pods_with_affinity: usize,
    /// Pods with required anti-affinity, over all nodes.
    pub pods_with_required_anti_affinity: usize,
    pub owners: Owners,
    /// PodDisruptionBudgets by namespace and name, for preemption.
    pub pdbs: HashMap<(String, String), Pdb>,
}

impl Snapshot {
    /// A snapshot of the given nodes (for tests and simulations).
    pub fn from_nodes(nodes: Vec<NodeInfo>) -> Snapshot {
        let mut s = Snapshot::default();
        for n in nodes {
            s.pods_with_affinity += n.pods_with_affinity;
            s.pods_with_required_anti_affinity += n.pods_with_required_anti_affinity;
            for image in n.images.keys() {
                *s.image_nodes.entry(image.clone()).or_default() += 1;
            }
            s.index.insert(n.name.clone(), s.nodes.len());
            s.nodes.push(n);
        }
        s
    }

    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.node_index(name).map(|i| &self.nodes[i])
    }

    pub fn namespace_labels(&self, namespace: &str) -> Option<&Labels> {
        self.namespaces.get(namespace)
    }
}

#[derive(Debug)]
struct PodState {
    node: String,
    assumed: bool,
    info: Arc<PodInfo>,
}

/// What a node event changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeChange {
    Added,
    /// Updated; `relevant` when labels, taints, allocatable or images changed.
    Updated {
        relevant: bool,
    },
}

/// The scheduler cache.
#[derive(Debug, Default)]
pub struct Cache {
    pub snapshot: Snapshot,
    pods: HashMap<String, PodState>,
    /// Pods bound to nodes the cache has not seen (yet).
    orphans: HashMap<String, Vec<Arc<PodInfo>>>,
}

impl Cache {
    pub fn num_nodes(&self) -> usize {
        self.snapshot.nodes.len()
    }

    pub fn add_or_update_node(&mut self, node: Node) -> NodeChange {
        let name = node.metadata.name.clone().unwrap_or_default();
        let node = Arc::new(node);
        if let Some(i) = self.snapshot.node_index(&name) {
            let relevant = NodeInfo::scheduling_differs(&self.snapshot.nodes[i].node, &node);
            if relevant {
                self.untrack_images(i);
                self.snapshot.nodes[i].set_node(node);
                self.track_images(i);
            } else {
                self.snapshot.nodes[i].node = node;
            }
            return NodeChange::Updated { relevant };
        }
        let mut info = NodeInfo::new(node);
        for pod in self.orphans.remove(&name).unwrap_or_default() {
            info.add_pod(pod);
        }
        let i = self.snapshot.nodes.len();
        self.snapshot.pods_with_affinity += info.pods_with_affinity;
        self.snapshot.pods_with_required_anti_affinity += info.pods_with_required_anti_affinity;
        self.snapshot.index.insert(name, i);
        self.snapshot.nodes.push(info);
        self.track_images(i);
        NodeChange::Added
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(i) = self.snapshot.node_index(name) else {
            return;
        };
        self.untrack_images(i);
        let info = self.snapshot.nodes.swap_remove(i);
        self.snapshot.index.remove(name);
        if i < self.snapshot.nodes.len() {
            let moved = self.snapshot.nodes[i].name.clone();
            self.snapshot.index.insert(moved, i);
        }
        self.snapshot.pods_with_affinity -= info.pods_with_affinity;
        self.snapshot.pods_with_required_anti_affinity -= info.pods_with_required_anti_affinity;
        // Pods stay known until their own deletion arrives (upstream keeps
        // a node entry without its Node object for them).
        if !info.pods.is_empty() {
            self.orphans.insert(info.name.clone(), info.pods);
        }
    }

    fn track_images(&mut self, i: usize) {
        for image in self.snapshot.nodes[i].images.keys() {
            *self.snapshot.image_nodes.entry(image.clone()).or_default() += 1;
        }
    }

    fn untrack_images(&mut self, i: usize) {
        for image in self.snapshot.nodes[i].images.keys() {
            if let Some(n) = self.snapshot.image_nodes.get_mut(image) {
                *n -= 1;
                if *n == 0 {
                    self.snapshot.image_nodes.remove(image);
                }
            }
        }
    }

    fn place(&mut self, info: Arc<PodInfo>) {
        match self.snapshot.node_index(&info.node_name) {
            Some(i) => {
                if info.has_affinity() {
                    self.snapshot.pods_with_affinity += 1;
                }
                if !info.required_anti_affinity.is_empty() {
                    self.snapshot.pods_with_required_anti_affinity += 1;
                }
                self.snapshot.nodes[i].add_pod(info);
            }
            None => self
                .orphans
                .entry(info.node_name.clone())
                .or_default()
                .push(info),
        }
    }

    fn unplace(&mut self, node: &str, uid: &str) {
        match self.snapshot.node_index(node) {
            Some(i) => {
                if let Some(p) = self.snapshot.nodes[i].remove_pod(uid) {
                    if p.has_affinity() {
                        self.snapshot.pods_with_affinity -= 1;
                    }
                    if !p.required_anti_affinity.is_empty() {
                        self.snapshot.pods_with_required_anti_affinity -= 1;
                    }
                }
            }
            None => {
                if let Some(list) = self.orphans.get_mut(node) {
                    list.retain(|p| p.uid != uid);
                    if list.is_empty() {
                        self.orphans.remove(node);
                    }
                }
            }
        }
    }

    /// A pod the API says is bound (`spec.nodeName` set): adds it, replaces
    /// the previous version, or confirms an assumed pod.
    pub fn add_or_update_pod(&mut self, info: Arc<PodInfo>) {
        if let Some(old) = self.pods.remove(&info.uid) {
            self.unplace(&old.node, &old.info.uid);
        }
        self.pods.insert(
            info.uid.clone(),
            PodState {
                node: info.node_name.clone(),
                assumed: false,
                info: info.clone(),
            },
        );
        self.place(info);
    }

    /// Removes a pod (deleted, or terminal).
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let old = self.pods.remove(uid)?;
        self.unplace(&old.node, uid);
        Some(old.info)
    }

    /// Counts a pod on `node` before its binding is confirmed.
    pub fn assume(&mut self, pod: &PodInfo, node: &str) {
        let mut assumed = pod.clone();
        assumed.node_name = node.to_string();
        if let Some(spec) = assumed.pod.as_mut().and_then(|p| p.spec.as_mut()) {
            spec.node_name = Some(node.to_string());
        }
        let info = Arc::new(assumed);
        if let Some(old) = self.pods.remove(&info.uid) {
            self.unplace(&old.node, &old.info.uid);
        }
        self.pods.insert(
            info.uid.clone(),
            PodState {
                node: node.to_string(),
                assumed: true,
                info: info.clone(),
            },
        );
        self.place(info);
    }

    /// Drops an assumed pod whose binding failed.
    pub fn forget(&mut self, uid: &str) {
        if self.pods.get(uid).is_some_and(|p| p.assumed) {
            self.remove_pod(uid);
        }
    }

    /// Whether the pod is assumed (bound by us, not yet confirmed).
    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|p| p.assumed)
    }

    /// Whether the pod is known as assigned or assumed.
    pub fn contains_pod(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    pub fn pod(&self, uid: &str) -> Option<&Arc<PodInfo>> {
        self.pods.get(uid).map(|p| &p.info)
    }

    /// UIDs of every known pod (for relist reconciliation).
    pub fn pod_uids(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }

    /// Names of every node (for relist reconciliation).
    pub fn node_names(&self) -> Vec<String> {
        self.snapshot.nodes.iter().map(|n| n.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::{node, pod};

    #[test]
    fn assume_counts_requests_and_forget_undoes() {
        let mut cache = Cache::default();
        cache.add_or_update_node(node("n1", &[("cpu", "4"), ("pods", "10")], &[]));
        let p = PodInfo::new(pod("p", &[&[("cpu", "1")]]));
        cache.assume(&p, "n1");
        assert_eq!(cache.snapshot.nodes[0].requested.milli_cpu, 1000);
        assert!(cache.is_assumed(&p.uid));
        // The watch confirms the binding.
        let mut bound = pod("p", &[&[("cpu", "1")]]);
        if let Some(s) = bound.spec.as_mut() {
            s.node_name = Some("n1".into());
        }
        cache.add_or_update_pod(Arc::new(PodInfo::new(bound)));
        assert!(!cache.is_assumed(&p.uid));
        assert_eq!(cache.snapshot.nodes[0].requested.milli_cpu, 1000);
        assert_eq!(cache.snapshot.nodes[0].pods.len(), 1);
        // Forget only drops assumed pods.
        cache.forget(&p.uid);
        assert_eq!(cache.snapshot.nodes[0].pods.len(), 1);
        cache.remove_pod(&p.uid);
        assert_eq!(cache.snapshot.nodes[0].requested.milli_cpu, 0);

        let q = PodInfo::new(pod("q", &[&[("cpu", "2")]]));
        cache.assume(&q, "n1");
        cache.forget(&q.uid);
        assert_eq!(cache.snapshot.nodes[0].requested.milli_cpu, 0);
    }

    #[test]
    fn pods_on_unknown_nodes_wait_for_the_node() {
        let mut cache = Cache::default();
        let mut p = pod("p", &[&[("cpu", "1")]]);
        if let Some(s) = p.spec.as_mut() {
            s.node_name = Some("later".into());
        }
        cache.add_or_update_pod(Arc::new(PodInfo::new(p)));
        cache.add_or_update_node(node("later", &[("cpu", "4")], &[]));
        assert_eq!(cache.snapshot.nodes[0].requested.milli_cpu, 1000);
        cache.add_or_update_node(node("other", &[("cpu", "4")], &[]));
        cache.remove_node("later");
        assert_eq!(cache.snapshot.node_index("other"), Some(0));
        cache.add_or_update_node(node("later", &[("cpu", "4")], &[]));
        assert_eq!(cache.snapshot.node("later").map(|n| n.pods.len()), Some(1));
    }
}
