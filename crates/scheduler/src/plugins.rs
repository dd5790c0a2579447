//! The in-tree plugins skiff implements, one module each, named after
//! upstream's `pkg/scheduler/framework/plugins/<name>`.

pub mod balanced_allocation;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod taint_toleration;
pub mod volume_restrictions;

/// `names.DefaultPreemption`.
pub const DEFAULT_PREEMPTION: &str = "DefaultPreemption";
