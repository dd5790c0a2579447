//! Resource vectors as the scheduler counts them (`framework.Resource`), and a
//! pod's effective requests (`resourcehelper.PodRequests`).
//!
//! Owns: milli-CPU, memory, ephemeral storage, pod count and scalar
//! (extended, hugepages) resources as integers; summing containers, taking the
//! max with init containers (sidecars counted alongside), adding pod overhead;
//! the non-zero defaults used for scoring. Does not own: quantity parsing
//! (`skiff_core::quantity`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
use skiff_core::quantity::Quantity;

/// CPU assumed for a container without a CPU request, when scoring
/// (`schedutil.DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory assumed for a container without a memory request, when scoring
/// (`schedutil.DefaultMemoryRequest`, 200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
pub const PODS: &str = "pods";

/// A resource vector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub allowed_pod_number: i64,
    /// Extended and hugepages resources, sorted by name.
    pub scalar: Vec<(String, i64)>,
}

/// `schedutil.IsScalarResourceName`: extended resources (a domain-prefixed
/// name outside `kubernetes.io/`, or a prefixed native one), hugepages and
/// attachable volumes. Unknown unprefixed names are ignored, as upstream.
pub fn is_scalar_resource_name(name: &str) -> bool {
    name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || (name.contains('/') && !name.starts_with("requests."))
}

fn parse(q: &ApiQuantity) -> Option<Quantity> {
    Quantity::parse(&q.0).ok()
}

impl Resource {
    /// Builds from a `ResourceList`.
    pub fn from_list(list: &BTreeMap<String, ApiQuantity>) -> Resource {
        let mut r = Resource::default();
        r.add_list(list);
        r
    }

    /// Adds a `ResourceList` (`Resource.Add`). Unparseable quantities count 0:
    /// the API server validated them.
    pub fn add_list(&mut self, list: &BTreeMap<String, ApiQuantity>) {
        for (name, q) in list {
            let Some(q) = parse(q) else { continue };
            match name.as_str() {
                CPU => self.milli_cpu += q.milli_value(),
                MEMORY => self.memory += q.value(),
                EPHEMERAL_STORAGE => self.ephemeral_storage += q.value(),
                PODS => self.allowed_pod_number += q.value(),
                n if is_scalar_resource_name(n) => self.add_scalar(n, q.value()),
                _ => {}
            }
        }
    }

    /// Takes the max per dimension with another vector.
    pub fn set_max(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.allowed_pod_number = self.allowed_pod_number.max(other.allowed_pod_number);
        for (name, v) in &other.scalar {
            let cur = self.scalar_value(name);
            if *v > cur {
                self.set_scalar(name, *v);
            }
        }
    }

    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.allowed_pod_number += other.allowed_pod_number;
        for (name, v) in &other.scalar {
            self.add_scalar(name, *v);
        }
    }

    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.allowed_pod_number -= other.allowed_pod_number;
        for (name, v) in &other.scalar {
            self.add_scalar(name, -*v);
        }
    }

    /// The amount of a scalar resource (0 when absent).
    pub fn scalar_value(&self, name: &str) -> i64 {
        self.scalar
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }

    pub fn add_scalar(&mut self, name: &str, v: i64) {
        match self.scalar.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => self.scalar[i].1 += v,
            Err(i) => self.scalar.insert(i, (name.to_string(), v)),
        }
    }

    fn set_scalar(&mut self, name: &str, v: i64) {
        match self.scalar.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => self.scalar[i].1 = v,
            Err(i) => self.scalar.insert(i, (name.to_string(), v)),
        }
    }

    /// The amount of any named resource.
    pub fn get(&self, name: &str) -> i64 {
        match name {
            CPU => self.milli_cpu,
            MEMORY => self.memory,
            EPHEMERAL_STORAGE => self.ephemeral_storage,
            PODS => self.allowed_pod_number,
            n => self.scalar_value(n),
        }
    }

    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.iter().all(|(_, v)| *v == 0)
    }
}

/// What a pod asks for: the requests that count against allocatable and the
/// CPU and memory used for scoring, with defaults for missing requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodResources {
    pub requests: Resource,
    pub non_zero_milli_cpu: i64,
    pub non_zero_memory: i64,
}

fn container_requests(c: &Container, non_zero: bool) -> Resource {
    let mut r = c
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .map(Resource::from_list)
        .unwrap_or_default();
    if non_zero {
        let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        if !requests.is_some_and(|r| r.contains_key(CPU)) {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !requests.is_some_and(|r| r.contains_key(MEMORY)) {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

/// `resourcehelper.PodRequests`: the sum of the containers, the max with
/// every init container (a restartable init container, a sidecar, keeps
/// running and so adds to the containers and to the init containers after
/// it), plus the pod overhead.
fn pod_requests(spec: &PodSpec, non_zero: bool) -> Resource {
    let mut reqs = Resource::default();
    for c in &spec.containers {
        reqs.add(&container_requests(c, non_zero));
    }
    let mut restartable = Resource::default();
    let mut init_max = Resource::default();
    for c in spec.init_containers.iter().flatten() {
        let mut r = container_requests(c, non_zero);
        if c.restart_policy.as_deref() == Some("Always") {
            reqs.add(&r);
            restartable.add(&r);
            r = restartable.clone();
        } else {
            r.add(&restartable);
        }
        init_max.set_max(&r);
    }
    reqs.set_max(&init_max);
    if let Some(overhead) = &spec.overhead {
        reqs.add_list(overhead);
    }
    reqs
}

impl PodResources {
    pub fn of(spec: &PodSpec) -> PodResources {
        let requests = pod_requests(spec, false);
        let non_zero = pod_requests(spec, true);
        PodResources {
            requests,
            non_zero_milli_cpu: non_zero.milli_cpu,
            non_zero_memory: non_zero.memory,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;

    fn container(reqs: &[(&str, &str)], restart_always: bool) -> Container {
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: Some(
                    reqs.iter()
                        .map(|(k, v)| (k.to_string(), ApiQuantity(v.to_string())))
                        .collect(),
                ),
                ..Default::default()
            }),
            restart_policy: restart_always.then(|| "Always".to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn pod_requests_rules() {
        struct Case {
            name: &'static str,
            containers: Vec<Container>,
            init: Vec<Container>,
            overhead: Option<Vec<(&'static str, &'static str)>>,
            want_cpu: i64,
            want_mem: i64,
            want_non_zero_cpu: i64,
        }
        let cases = vec![
            Case {
                name: "containers add up",
                containers: vec![
                    container(&[("cpu", "2")], false),
                    container(&[("cpu", "1")], false),
                ],
                init: vec![],
                overhead: None,
                want_cpu: 3000,
                want_mem: 0,
                want_non_zero_cpu: 3000,
            },
            Case {
                name: "init containers take the max (upstream's example)",
                containers: vec![
                    container(&[("cpu", "2"), ("memory", "1G")], false),
                    container(&[("cpu", "1"), ("memory", "1G")], false),
                ],
                init: vec![
                    container(&[("cpu", "2"), ("memory", "1G")], false),
                    container(&[("cpu", "2"), ("memory", "3G")], false),
                ],
                overhead: None,
                want_cpu: 3000,
                want_mem: 3_000_000_000,
                want_non_zero_cpu: 3000,
            },
            Case {
                name: "sidecar adds to containers and to later init containers",
                containers: vec![container(&[("cpu", "1")], false)],
                init: vec![
                    container(&[("cpu", "500m")], true),
                    container(&[("cpu", "2")], false),
                ],
                overhead: None,
                want_cpu: 2500,
                want_mem: 0,
                want_non_zero_cpu: 2500,
            },
            Case {
                name: "overhead is added",
                containers: vec![container(&[("cpu", "100m")], false)],
                init: vec![],
                overhead: Some(vec![("cpu", "250m"), ("memory", "120Mi")]),
                want_cpu: 350,
                want_mem: 120 << 20,
                want_non_zero_cpu: 350,
            },
            Case {
                name: "no requests: zero, non-zero defaults for scoring",
                containers: vec![Container::default()],
                init: vec![],
                overhead: None,
                want_cpu: 0,
                want_mem: 0,
                want_non_zero_cpu: DEFAULT_MILLI_CPU_REQUEST,
            },
        ];
        for c in cases {
            let spec = PodSpec {
                containers: c.containers,
                init_containers: Some(c.init),
                overhead: c.overhead.map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.to_string(), ApiQuantity(v.to_string())))
                        .collect()
                }),
                ..Default::default()
            };
            let r = PodResources::of(&spec);
            assert_eq!(r.requests.milli_cpu, c.want_cpu, "{}: cpu", c.name);
            assert_eq!(r.requests.memory, c.want_mem, "{}: memory", c.name);
            assert_eq!(
                r.non_zero_milli_cpu, c.want_non_zero_cpu,
                "{}: non-zero cpu",
                c.name
            );
        }
    }

    #[test]
    fn extended_resources_are_scalars() {
        let r = Resource::from_list(
            &[
                ("example.com/gpu", "2"),
                ("hugepages-2Mi", "4Mi"),
                ("unknown", "5"),
                ("pods", "110"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), ApiQuantity(v.to_string())))
            .collect(),
        );
        assert_eq!(r.scalar_value("example.com/gpu"), 2);
        assert_eq!(r.scalar_value("hugepages-2Mi"), 4 << 20);
        assert_eq!(r.scalar_value("unknown"), 0);
        assert_eq!(r.allowed_pod_number, 110);
    }
}
