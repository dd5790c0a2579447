//! A pod with what the scheduler needs precomputed (`framework.PodInfo`):
//! parsed requests, host ports, compiled node and pod affinity terms, images.
//!
//! Built once when a pod enters the queue or the cache, so that filtering
//! against thousands of nodes does no parsing. Does not own: the rules that
//! use these fields (the plugins).

use k8s_openapi::api::core::v1::{
    NodeSelector, Pod, PodAffinityTerm, PreferredSchedulingTerm, Toleration,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::resource::PodResources;
use crate::selector::{Labels, Op, Requirement, Selector};

/// A host port a container asks for (`HostPortInfo` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

/// The wildcard host IP.
pub const DEFAULT_BIND_ALL_HOST_IP: &str = "0.0.0.0";

impl HostPort {
    /// `HostPortInfo.CheckConflict`: same protocol and port, and the same IP
    /// or either side on 0.0.0.0.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip
                || self.ip == DEFAULT_BIND_ALL_HOST_IP
                || other.ip == DEFAULT_BIND_ALL_HOST_IP)
    }
}

/// A compiled `PodAffinityTerm` (`framework.AffinityTerm`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinityTerm {
    /// Namespaces named by the term, or the pod's own when the term names none
    /// and has no namespace selector.
    pub namespaces: Vec<String>,
    /// Selects namespaces by their labels; nothing when nil.
    pub namespace_selector: Selector,
    pub selector: Selector,
    pub topology_key: String,
}

impl AffinityTerm {
    fn new(pod_namespace: &str, term: &PodAffinityTerm) -> AffinityTerm {
        let mut namespaces = term.namespaces.clone().unwrap_or_default();
        let namespace_selector = Selector::from_label_selector(term.namespace_selector.as_ref());
        if namespaces.is_empty() && term.namespace_selector.is_none() {
            namespaces.push(pod_namespace.to_string());
        }
        AffinityTerm {
            namespaces,
            namespace_selector,
            selector: Selector::from_label_selector(term.label_selector.as_ref()),
            topology_key: term.topology_key.clone(),
        }
    }

    /// `AffinityTerm.Matches`: the pod is in one of the term's namespaces and
    /// its labels match the selector. `namespace_labels` are the labels of the
    /// pod's namespace.
    pub fn matches(&self, pod: &PodInfo, namespace_labels: Option<&Labels>) -> bool {
        let in_namespace = self.namespaces.contains(&pod.namespace)
            || (!self.namespace_selector.nothing
                && match namespace_labels {
                    Some(l) => self.namespace_selector.matches(l),
                    None => self.namespace_selector.is_everything(),
                });
        in_namespace && self.selector.matches(&pod.labels)
    }
}

/// A compiled `NodeSelectorTerm`: label expressions and `metadata.name` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTerm {
    pub labels: Selector,
    pub fields: Vec<Requirement>,
}

impl NodeTerm {
    fn new(term: &k8s_openapi::api::core::v1::NodeSelectorTerm) -> NodeTerm {
        let exprs = term.match_expressions.as_deref().unwrap_or_default();
        let fields = term.match_fields.as_deref().unwrap_or_default();
        // nodeaffinity: a term with neither expressions nor fields matches nothing.
        if exprs.is_empty() && fields.is_empty() {
            return NodeTerm {
                labels: Selector::nothing(),
                fields: Vec::new(),
            };
        }
        let mut field_reqs = Vec::new();
        let mut labels = Selector::from_node_requirements(exprs);
        for f in fields {
            let op = match f.operator.as_str() {
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                // Only In and NotIn are valid for fields; anything else (or a
                // field other than metadata.name) matches nothing.
                _ => {
                    labels = Selector::nothing();
                    continue;
                }
            };
            if f.key != "metadata.name" {
                labels = Selector::nothing();
                continue;
            }
            field_reqs.push(Requirement {
                key: f.key.clone(),
                op,
                values: f.values.clone().unwrap_or_default(),
            });
        }
        NodeTerm {
            labels,
            fields: field_reqs,
        }
    }

    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.labels.matches(labels)
            && self.fields.iter().all(|f| {
                let hit = f.values.iter().any(|v| v == node_name);
                if f.op == Op::In { hit } else { !hit }
            })
    }
}

/// `RequiredDuringSchedulingIgnoredDuringExecution` node affinity: terms ORed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredNodeAffinity {
    pub terms: Vec<NodeTerm>,
}

impl RequiredNodeAffinity {
    fn new(sel: &NodeSelector) -> RequiredNodeAffinity {
        RequiredNodeAffinity {
            terms: sel.node_selector_terms.iter().map(NodeTerm::new).collect(),
        }
    }

    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.terms.iter().any(|t| t.matches(node_name, labels))
    }
}

/// A volume that only one pod per node may use (`VolumeRestrictions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskVolume {
    GcePd {
        name: String,
        read_only: bool,
    },
    AwsEbs {
        volume_id: String,
    },
    Rbd {
        monitors: Vec<String>,
        pool: String,
        image: String,
        read_only: bool,
    },
    Iscsi {
        iqn: String,
        read_only: bool,
    },
}

impl DiskVolume {
    /// `isVolumeConflict`: GCE PDs conflict unless both are read-only; EBS
    /// volumes always; RBD images on a shared monitor unless both read-only;
    /// iSCSI by IQN unless both read-only.
    pub fn conflicts(&self, other: &DiskVolume) -> bool {
        match (self, other) {
            (
                DiskVolume::GcePd {
                    name: a,
                    read_only: ra,
                },
                DiskVolume::GcePd {
                    name: b,
                    read_only: rb,
                },
            ) => a == b && !(*ra && *rb),
            (DiskVolume::AwsEbs { volume_id: a }, DiskVolume::AwsEbs { volume_id: b }) => a == b,
            (
                DiskVolume::Rbd {
                    monitors: ma,
                    pool: pa,
                    image: ia,
                    read_only: ra,
                },
                DiskVolume::Rbd {
                    monitors: mb,
                    pool: pb,
                    image: ib,
                    read_only: rb,
                },
            ) => ma.iter().any(|m| mb.contains(m)) && pa == pb && ia == ib && !(*ra && *rb),
            (
                DiskVolume::Iscsi {
                    iqn: a,
                    read_only: ra,
                },
                DiskVolume::Iscsi {
                    iqn: b,
                    read_only: rb,
                },
            ) => a == b && !(*ra && *rb),
            _ => false,
        }
    }
}

/// A pod and its precomputed scheduling data.
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// The pod as the watch delivered it while it waits to be scheduled (the
    /// plugins read its spec, the recorder its status); `None` once it is
    /// bound: the cache then counts it from the fields below only, and a
    /// cache of every pod in the cluster holds no copy of its spec.
    pub pod: Option<Box<Pod>>,
    /// `metadata.resourceVersion`, for events about the pod.
    pub resource_version: String,
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    /// `spec.priority`, 0 when unset (PriorityClass admission fills it).
    pub priority: i32,
    pub resources: PodResources,
    pub host_ports: Vec<HostPort>,
    pub tolerations: Vec<Toleration>,
    /// `spec.nodeSelector` as a selector; `None` when empty.
    pub node_selector: Option<Selector>,
    pub required_node_affinity: Option<RequiredNodeAffinity>,
    pub preferred_node_affinity: Vec<(i32, NodeTerm)>,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<(i32, AffinityTerm)>,
    pub preferred_anti_affinity: Vec<(i32, AffinityTerm)>,
    /// Container images, normalized (`:latest` added when untagged).
    pub images: Vec<String>,
    pub disk_volumes: Vec<DiskVolume>,
    /// `spec.nodeName` ("" when unassigned).
    pub node_name: String,
    pub scheduler_name: String,
    /// `status.nominatedNodeName` ("" when none).
    pub nominated_node_name: String,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
    /// `spec.preemptionPolicy: Never`.
    pub preemption_never: bool,
    /// When the pod started, for preemption's tie-break (`status.startTime`,
    /// else creation).
    pub start_time: Option<Time>,
}

pub fn normalize_image_name(name: &str) -> String {
    // ImageLocality: an image without a tag or digest means :latest.
    let last = name.rsplit('/').next().unwrap_or(name);
    if name.contains('@') || last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

impl PodInfo {
    pub fn new(pod: Pod) -> PodInfo {
        let meta = &pod.metadata;
        let uid = meta.uid.clone().unwrap_or_default();
        let namespace = meta.namespace.clone().unwrap_or_default();
        let name = meta.name.clone().unwrap_or_default();
        let labels = meta.labels.clone().unwrap_or_default();
        let terminating = meta.deletion_timestamp.is_some();
        let start_time = pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.clone())
            .or_else(|| meta.creation_timestamp.clone());
        let nominated_node_name = pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.clone())
            .unwrap_or_default();
        let default_spec = Default::default();
        let spec = pod.spec.as_ref().unwrap_or(&default_spec);
        let resources = PodResources::of(spec);
        let mut host_ports = Vec::new();
        let sidecars = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"));
        for c in spec.containers.iter().chain(sidecars) {
            for p in c.ports.iter().flatten() {
                if let Some(port) = p.host_port.filter(|p| *p > 0) {
                    host_ports.push(HostPort {
                        ip: p
                            .host_ip
                            .clone()
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| DEFAULT_BIND_ALL_HOST_IP.to_string()),
                        protocol: p
                            .protocol
                            .clone()
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| "TCP".to_string()),
                        port,
                    });
                }
            }
        }
        let node_selector = spec
            .node_selector
            .as_ref()
            .filter(|m| !m.is_empty())
            .map(Selector::from_map);
        let affinity = spec.affinity.as_ref();
        let node_affinity = affinity.and_then(|a| a.node_affinity.as_ref());
        let required_node_affinity = node_affinity
            .and_then(|n| {
                n.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(RequiredNodeAffinity::new);
        let preferred_node_affinity = node_affinity
            .and_then(|n| {
                n.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|terms: &Vec<PreferredSchedulingTerm>| {
                terms
                    .iter()
                    .filter(|t| t.weight != 0)
                    .map(|t| (t.weight, NodeTerm::new(&t.preference)))
                    .collect()
            })
            .unwrap_or_default();
        let required = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|t| AffinityTerm::new(&namespace, t))
                .collect()
        };
        let preferred = |terms: Option<&Vec<WeightedPodAffinityTerm>>| -> Vec<(i32, AffinityTerm)> {
            terms
                .into_iter()
                .flatten()
                .map(|t| {
                    (
                        t.weight,
                        AffinityTerm::new(&namespace, &t.pod_affinity_term),
                    )
                })
                .collect()
        };
        let pod_affinity = affinity.and_then(|a| a.pod_affinity.as_ref());
        let pod_anti_affinity = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let required_affinity = required(pod_affinity.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let required_anti_affinity = required(pod_anti_affinity.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let preferred_affinity = preferred(pod_affinity.and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let preferred_anti_affinity = preferred(pod_anti_affinity.and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let images = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .filter_map(|c| c.image.as_deref())
            .map(normalize_image_name)
            .collect();
        let mut disk_volumes = Vec::new();
        for v in spec.volumes.iter().flatten() {
            if let Some(pd) = &v.gce_persistent_disk {
                disk_volumes.push(DiskVolume::GcePd {
                    name: pd.pd_name.clone(),
                    read_only: pd.read_only.unwrap_or(false),
                });
            }
            if let Some(ebs) = &v.aws_elastic_block_store {
                disk_volumes.push(DiskVolume::AwsEbs {
                    volume_id: ebs.volume_id.clone(),
                });
            }
            if let Some(rbd) = &v.rbd {
                disk_volumes.push(DiskVolume::Rbd {
                    monitors: rbd.monitors.clone(),
                    pool: rbd.pool.clone().unwrap_or_else(|| "rbd".to_string()),
                    image: rbd.image.clone(),
                    read_only: rbd.read_only.unwrap_or(false),
                });
            }
            if let Some(iscsi) = &v.iscsi {
                disk_volumes.push(DiskVolume::Iscsi {
                    iqn: iscsi.iqn.clone(),
                    read_only: iscsi.read_only.unwrap_or(false),
                });
            }
        }
        let spec_priority = spec.priority.unwrap_or(0);
        let tolerations = spec.tolerations.clone().unwrap_or_default();
        let scheduler_name = spec
            .scheduler_name
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| crate::config::DEFAULT_SCHEDULER_NAME.to_string());
        let preemption_never = spec.preemption_policy.as_deref() == Some("Never");
        let node_name = spec.node_name.clone().unwrap_or_default();
        let resource_version = meta.resource_version.clone().unwrap_or_default();
        let pod = node_name.is_empty().then(|| Box::new(pod));
        PodInfo {
            resource_version,
            uid,
            labels,
            priority: spec_priority,
            resources,
            host_ports,
            tolerations,
            node_selector,
            required_node_affinity,
            preferred_node_affinity,
            required_affinity,
            required_anti_affinity,
            preferred_affinity,
            preferred_anti_affinity,
            images,
            disk_volumes,
            node_name,
            scheduler_name,
            nominated_node_name,
            terminating,
            preemption_never,
            start_time,
            namespace,
            name,
            pod,
        }
    }

    /// Whether the pod has pod affinity or anti-affinity of any kind.
    pub fn has_affinity(&self) -> bool {
        !self.required_affinity.is_empty()
            || !self.required_anti_affinity.is_empty()
            || !self.preferred_affinity.is_empty()
            || !self.preferred_anti_affinity.is_empty()
    }

    /// `namespace/name`, for messages and logs.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The spec of a pod still to schedule; `None` once it is bound (the
    /// cache keeps only what the fields above say about a bound pod).
    pub fn spec(&self) -> Option<&k8s_openapi::api::core::v1::PodSpec> {
        self.pod.as_ref().and_then(|p| p.spec.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_normalize_to_latest() {
        for (input, want) in [
            ("nginx", "nginx:latest"),
            ("nginx:1.25", "nginx:1.25"),
            ("registry:5000/app", "registry:5000/app:latest"),
            ("registry:5000/app:v1", "registry:5000/app:v1"),
            ("app@sha256:abc", "app@sha256:abc"),
        ] {
            assert_eq!(normalize_image_name(input), want, "{input}");
        }
    }

    #[test]
    fn host_port_conflicts() {
        let hp = |ip: &str, proto: &str, port| HostPort {
            ip: ip.into(),
            protocol: proto.into(),
            port,
        };
        assert!(hp("0.0.0.0", "TCP", 80).conflicts(&hp("10.0.0.1", "TCP", 80)));
        assert!(hp("10.0.0.1", "TCP", 80).conflicts(&hp("10.0.0.1", "TCP", 80)));
        assert!(!hp("10.0.0.1", "TCP", 80).conflicts(&hp("10.0.0.2", "TCP", 80)));
        assert!(!hp("0.0.0.0", "TCP", 80).conflicts(&hp("0.0.0.0", "UDP", 80)));
        assert!(!hp("0.0.0.0", "TCP", 80).conflicts(&hp("0.0.0.0", "TCP", 81)));
    }
}
