//! ResourceQuota accounting, shared by the `ResourceQuota` admission plugin
//! of the API server and the resourcequota controller: what an object costs
//! (upstream `pkg/quota/v1/evaluator/core`: pods, services,
//! persistentvolumeclaims, and the generic object count of
//! `k8s.io/apiserver/pkg/quota/v1/generic`), resource-list arithmetic
//! (`k8s.io/apiserver/pkg/quota/v1/resources.go`) and the admission decision
//! itself (`CheckRequest` of the admission plugin's `controller.go`).
//!
//! Owns: the rules, as pure functions over typed objects. Does not own:
//! where quotas and objects come from (the API server's store and watch
//! cache, the controller's informers) nor writing quota status.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaim, Pod, ResourceQuota, ScopedResourceSelectorRequirement,
    Service,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
use k8s_openapi::jiff::Timestamp;

#[cfg(test)]
mod tests;

pub use crate::quantity::Amount;

/// The serialized form of an amount for the API.
fn to_quantity(a: &Amount) -> ApiQuantity {
    ApiQuantity(a.to_string())
}

/// A resource list (`corev1.ResourceList`) in quota arithmetic.
pub type Usage = BTreeMap<String, Amount>;

/// Reads an API resource list; an unparsable quantity (validation keeps
/// them out of stored objects) is an error naming the resource.
pub fn usage_from(list: Option<&BTreeMap<String, ApiQuantity>>) -> Result<Usage, String> {
    let mut out = Usage::new();
    for (name, q) in list.into_iter().flatten() {
        let a = Amount::parse(&q.0).map_err(|e| format!("invalid quantity {name}={}: {e}", q.0))?;
        out.insert(name.clone(), a);
    }
    Ok(out)
}

/// Writes a resource list for the API.
pub fn to_api(usage: &Usage) -> BTreeMap<String, ApiQuantity> {
    usage
        .iter()
        .map(|(k, v)| (k.clone(), to_quantity(v)))
        .collect()
}

/// `quota.Add`.
pub fn add(a: &Usage, b: &Usage) -> Usage {
    let mut out = a.clone();
    for (k, v) in b {
        let sum = match out.get(k) {
            Some(have) => have.plus(v),
            None => *v,
        };
        out.insert(k.clone(), sum);
    }
    out
}

/// `quota.SubtractWithNonNegativeResult`: `a - b` per resource, floored at
/// zero, with every resource of either side.
pub fn subtract_non_negative(a: &Usage, b: &Usage) -> Usage {
    let mut out = Usage::new();
    for (k, v) in a {
        let d = match b.get(k) {
            Some(o) => v.minus(o),
            None => *v,
        };
        out.insert(
            k.clone(),
            if d.is_positive() {
                d
            } else {
                Amount::from_int(0)
            },
        );
    }
    for k in b.keys() {
        out.entry(k.clone()).or_insert_with(|| Amount::from_int(0));
    }
    out
}

/// `quota.Mask`: only the resources in `names`.
pub fn mask<'a>(usage: &Usage, names: impl IntoIterator<Item = &'a String>) -> Usage {
    names
        .into_iter()
        .filter_map(|n| usage.get(n).map(|v| (n.clone(), *v)))
        .collect()
}

/// `quota.LessThanOrEqual`: the resources of `a` that `b` limits and `a`
/// exceeds (empty: allowed).
pub fn exceeded(a: &Usage, b: &Usage) -> Vec<String> {
    a.iter()
        .filter(|(k, v)| b.get(*k).is_some_and(|limit| *v > limit))
        .map(|(k, _)| k.clone())
        .collect()
}

/// `quota.Equals`: the same resources with the same values.
pub fn equals(a: &Usage, b: &Usage) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
}

/// `prettyPrint` of the admission plugin: `a=1,b=2` sorted by resource.
pub fn pretty_print(usage: &Usage) -> String {
    usage
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

// Resource names (`corev1.Resource*`).
pub const PODS: &str = "pods";
pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
pub const REQUESTS_CPU: &str = "requests.cpu";
pub const REQUESTS_MEMORY: &str = "requests.memory";
pub const REQUESTS_EPHEMERAL_STORAGE: &str = "requests.ephemeral-storage";
pub const LIMITS_CPU: &str = "limits.cpu";
pub const LIMITS_MEMORY: &str = "limits.memory";
pub const LIMITS_EPHEMERAL_STORAGE: &str = "limits.ephemeral-storage";
pub const SERVICES: &str = "services";
pub const SERVICES_NODE_PORTS: &str = "services.nodeports";
pub const SERVICES_LOAD_BALANCERS: &str = "services.loadbalancers";
pub const PERSISTENT_VOLUME_CLAIMS: &str = "persistentvolumeclaims";
pub const REQUESTS_STORAGE: &str = "requests.storage";
const REQUESTS_PREFIX: &str = "requests.";
const HUGEPAGES_PREFIX: &str = "hugepages-";
const REQUESTS_HUGEPAGES_PREFIX: &str = "requests.hugepages-";
/// `V1ResourceByStorageClass`: `<class>.storageclass.storage.k8s.io/<resource>`.
const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";
/// The beta annotation that named a claim's class before `storageClassName`.
const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

/// Resources that make a pod spell out its requests or limits (upstream
/// keeps this for backward compatibility only and adds nothing to it).
const VALIDATION_SET: [&str; 6] = [
    CPU,
    MEMORY,
    REQUESTS_CPU,
    REQUESTS_MEMORY,
    LIMITS_CPU,
    LIMITS_MEMORY,
];

const POD_RESOURCES: [&str; 11] = [
    "count/pods",
    CPU,
    MEMORY,
    EPHEMERAL_STORAGE,
    REQUESTS_CPU,
    REQUESTS_MEMORY,
    REQUESTS_EPHEMERAL_STORAGE,
    LIMITS_CPU,
    LIMITS_MEMORY,
    LIMITS_EPHEMERAL_STORAGE,
    PODS,
];

const SERVICE_RESOURCES: [&str; 4] = [
    "count/services",
    SERVICES,
    SERVICES_NODE_PORTS,
    SERVICES_LOAD_BALANCERS,
];

const PVC_RESOURCES: [&str; 3] = [
    "count/persistentvolumeclaims",
    PERSISTENT_VOLUME_CLAIMS,
    REQUESTS_STORAGE,
];

/// `ObjectCountQuotaResourceNameFor`: `count/<resource>[.<group>]`.
pub fn object_count_name(group: &str, resource: &str) -> String {
    if group.is_empty() {
        format!("count/{resource}")
    } else {
        format!("count/{resource}.{group}")
    }
}

/// The write being admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
}

/// An object being measured, as its evaluator reads it.
#[derive(Debug, Clone, Copy)]
pub enum Object<'a> {
    Pod(&'a Pod),
    Service(&'a Service),
    PersistentVolumeClaim(&'a PersistentVolumeClaim),
    /// Any other kind: only counted.
    Other,
}

/// How usage of one resource (group, resource) is measured (upstream's
/// `quota.Evaluator`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evaluator {
    Pods,
    Services,
    PersistentVolumeClaims,
    /// Counts objects: `count/<resource>.<group>`, plus the legacy name of
    /// the few kinds quota counted before `count/` existed.
    Count {
        names: Vec<String>,
    },
}

impl Evaluator {
    /// The evaluator of a resource; `None` for resources quota ignores
    /// (upstream's `DefaultIgnoredResources`: events).
    pub fn for_resource(group: &str, resource: &str) -> Option<Evaluator> {
        Some(match (group, resource) {
            ("", "events") => return None,
            ("", "pods") => Evaluator::Pods,
            ("", "services") => Evaluator::Services,
            ("", "persistentvolumeclaims") => Evaluator::PersistentVolumeClaims,
            _ => {
                let mut names = vec![object_count_name(group, resource)];
                // The legacy object count names (`legacyObjectCountAliases`).
                if group.is_empty()
                    && matches!(
                        resource,
                        "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas"
                    )
                {
                    names.push(resource.to_string());
                }
                Evaluator::Count { names }
            }
        })
    }

    /// Whether a write of `resource` in `group` can change usage, decided
    /// without building the evaluator: what [`Evaluator::handles`] says of
    /// the resource's evaluator, and false for ignored resources. The
    /// admission plugin asks this first on every write.
    pub fn charges(group: &str, resource: &str, op: Operation, subresource: &str) -> bool {
        match (group, resource) {
            ("", "events") => false,
            ("", "pods") => Evaluator::Pods.handles(op, subresource),
            ("", "services") => Evaluator::Services.handles(op, subresource),
            ("", "persistentvolumeclaims") => {
                Evaluator::PersistentVolumeClaims.handles(op, subresource)
            }
            _ => op == Operation::Create,
        }
    }

    /// Whether a write changes usage (`Handles`): every create, and the
    /// updates that can change what an object costs (a service's type, a
    /// claim's size). Pods are charged on update only through `resize`,
    /// which skiff does not serve.
    pub fn handles(&self, op: Operation, subresource: &str) -> bool {
        match self {
            Evaluator::Pods => subresource.is_empty() && op == Operation::Create,
            Evaluator::Services | Evaluator::PersistentVolumeClaims => true,
            Evaluator::Count { .. } => op == Operation::Create,
        }
    }

    /// `MatchingResources`: the names of `input` this evaluator measures.
    pub fn matching_resources<'a>(
        &self,
        input: impl IntoIterator<Item = &'a String>,
    ) -> Vec<String> {
        input
            .into_iter()
            .filter(|name| self.measures(name))
            .cloned()
            .collect()
    }

    fn measures(&self, name: &str) -> bool {
        match self {
            Evaluator::Pods => {
                POD_RESOURCES.contains(&name)
                    || name.starts_with(HUGEPAGES_PREFIX)
                    || name.starts_with(REQUESTS_HUGEPAGES_PREFIX)
                    || (name.starts_with(REQUESTS_PREFIX) && !is_native_resource(name))
            }
            Evaluator::Services => SERVICE_RESOURCES.contains(&name),
            Evaluator::PersistentVolumeClaims => {
                PVC_RESOURCES.contains(&name)
                    || name.split_once(STORAGE_CLASS_SUFFIX).is_some_and(|(_, r)| {
                        r == PERSISTENT_VOLUME_CLAIMS || r == REQUESTS_STORAGE
                    })
            }
            Evaluator::Count { names } => names.iter().any(|n| n == name),
        }
    }

    /// Whether `obj` is in the scope `selector` names (pods only; a scoped
    /// quota matches nothing else).
    pub fn matches_scope(
        &self,
        selector: &ScopedResourceSelectorRequirement,
        obj: Object<'_>,
    ) -> Result<bool, String> {
        match (self, obj) {
            (Evaluator::Pods, Object::Pod(pod)) => pod_matches_scope(selector, pod),
            _ => Ok(false),
        }
    }

    /// `Matches`: the quota limits something this evaluator measures, and
    /// `obj` is in every scope of the quota.
    pub fn matches(&self, quota: &ResourceQuota, obj: Object<'_>) -> Result<bool, String> {
        let hard = quota.status.as_ref().and_then(|s| s.hard.as_ref());
        if !hard.is_some_and(|h| h.keys().any(|n| self.measures(n))) {
            return Ok(false);
        }
        for selector in scope_selectors(quota) {
            if !self.matches_scope(&selector, obj)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `Constraints`: a pod must set, in every container, the cpu and
    /// memory requests and limits a covering quota tracks.
    pub fn constraints(&self, required: &[String], obj: Object<'_>) -> Result<(), String> {
        let (Evaluator::Pods, Object::Pod(pod)) = (self, obj) else {
            return Ok(());
        };
        let required: BTreeSet<&str> = required
            .iter()
            .map(String::as_str)
            .filter(|r| VALIDATION_SET.contains(r))
            .collect();
        if required.is_empty() {
            return Ok(());
        }
        let mut missing: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let spec = pod.spec.as_ref();
        let containers = spec
            .map(|s| s.containers.iter())
            .into_iter()
            .flatten()
            .chain(
                spec.and_then(|s| s.init_containers.as_ref())
                    .into_iter()
                    .flatten(),
            );
        for c in containers {
            let usage = container_usage_names(c);
            for r in &required {
                if !usage.contains(*r) {
                    missing.entry(r).or_default().insert(&c.name);
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let parts: Vec<String> = missing
            .iter()
            .map(|(r, names)| {
                format!(
                    "{r} for: {}",
                    names.iter().copied().collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        Err(format!("must specify {}", parts.join("; ")))
    }

    /// `Usage`: what `obj` costs. `now` decides whether a pod past its
    /// deletion grace still counts.
    pub fn usage(&self, obj: Object<'_>, now: Timestamp) -> Usage {
        match (self, obj) {
            (Evaluator::Pods, Object::Pod(pod)) => pod_usage(pod, now),
            (Evaluator::Services, Object::Service(svc)) => service_usage(svc),
            (Evaluator::PersistentVolumeClaims, Object::PersistentVolumeClaim(pvc)) => {
                pvc_usage(pvc)
            }
            (Evaluator::Count { names }, _) => names
                .iter()
                .map(|n| (n.clone(), Amount::from_int(1)))
                .collect(),
            // An object of another kind than the evaluator's costs nothing
            // it measures.
            _ => Usage::new(),
        }
    }
}

/// `IsNativeResource`: no domain, or a `kubernetes.io/` one.
fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// `IsExtendedResourceName` of a container's request.
fn is_extended_resource(name: &str) -> bool {
    !is_native_resource(name) && !name.starts_with(REQUESTS_PREFIX)
}

/// The scopes of a quota as selectors (`getScopeSelectorsFromQuota`).
pub fn scope_selectors(quota: &ResourceQuota) -> Vec<ScopedResourceSelectorRequirement> {
    let spec = quota.spec.as_ref();
    let mut out: Vec<ScopedResourceSelectorRequirement> = spec
        .and_then(|s| s.scopes.as_ref())
        .into_iter()
        .flatten()
        .map(|scope| ScopedResourceSelectorRequirement {
            scope_name: scope.clone(),
            operator: "Exists".into(),
            values: None,
        })
        .collect();
    if let Some(sel) = spec.and_then(|s| s.scope_selector.as_ref()) {
        out.extend(sel.match_expressions.iter().flatten().cloned());
    }
    out
}

/// `podMatchesScopeFunc`.
fn pod_matches_scope(sel: &ScopedResourceSelectorRequirement, pod: &Pod) -> Result<bool, String> {
    Ok(match sel.scope_name.as_str() {
        "Terminating" => is_terminating(pod),
        "NotTerminating" => !is_terminating(pod),
        "BestEffort" => is_best_effort(pod),
        "NotBestEffort" => !is_best_effort(pod),
        "PriorityClass" => {
            let class = pod
                .spec
                .as_ref()
                .and_then(|s| s.priority_class_name.as_deref())
                .filter(|c| !c.is_empty());
            let values = sel.values.as_deref().unwrap_or_default();
            // As a label selector over {PriorityClass: <class>}.
            match sel.operator.as_str() {
                "Exists" => class.is_some(),
                "DoesNotExist" => class.is_none(),
                "In" => class.is_some_and(|c| values.iter().any(|v| v == c)),
                "NotIn" => !class.is_some_and(|c| values.iter().any(|v| v == c)),
                op => return Err(format!("{op:?} is not a valid scope selector operator")),
            }
        }
        "CrossNamespacePodAffinity" => uses_cross_namespace_affinity(pod),
        _ => false,
    })
}

/// A pod with `activeDeadlineSeconds` is "terminating" for quota.
fn is_terminating(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .is_some_and(|d| d >= 0)
}

/// QoS class BestEffort: no cpu or memory request or limit anywhere.
fn is_best_effort(pod: &Pod) -> bool {
    if let Some(class) = pod.status.as_ref().and_then(|s| s.qos_class.as_deref())
        && !class.is_empty()
    {
        return class == "BestEffort";
    }
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    let sets_compute = |c: &Container| {
        let r = c.resources.as_ref();
        [
            r.and_then(|r| r.requests.as_ref()),
            r.and_then(|r| r.limits.as_ref()),
        ]
        .into_iter()
        .flatten()
        .flatten()
        .any(|(name, q)| {
            (name == CPU || name == MEMORY) && Amount::parse(&q.0).is_ok_and(|a| a.is_positive())
        })
    };
    !spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(sets_compute)
}

fn uses_cross_namespace_affinity(pod: &Pod) -> bool {
    let Some(aff) = pod.spec.as_ref().and_then(|s| s.affinity.as_ref()) else {
        return false;
    };
    let cross = |t: &k8s_openapi::api::core::v1::PodAffinityTerm| {
        t.namespaces.as_ref().is_some_and(|n| !n.is_empty()) || t.namespace_selector.is_some()
    };
    let pa = aff.pod_affinity.as_ref();
    let paa = aff.pod_anti_affinity.as_ref();
    pa.and_then(|a| {
        a.required_during_scheduling_ignored_during_execution
            .as_ref()
    })
    .into_iter()
    .chain(paa.and_then(|a| {
        a.required_during_scheduling_ignored_during_execution
            .as_ref()
    }))
    .flatten()
    .any(cross)
        || pa
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .chain(paa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            }))
            .flatten()
            .any(|w| cross(&w.pod_affinity_term))
}

/// `QuotaV1Pod`: terminal pods, and pods whose deletion grace has passed
/// (e.g. on a lost node), are not charged compute resources.
pub fn pod_is_charged(pod: &Pod, now: Timestamp) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return false;
    }
    if let (Some(deleted), Some(grace)) = (
        pod.metadata.deletion_timestamp.as_ref(),
        pod.metadata.deletion_grace_period_seconds,
    ) {
        let until = deleted.0.as_second().saturating_add(grace);
        if now.as_second() > until
            || (now.as_second() == until && now.subsec_nanosecond() > deleted.0.subsec_nanosecond())
        {
            return false;
        }
    }
    true
}

/// `PodUsageFunc`: `count/pods` always (it tracks every stored pod), the
/// compute resources only while the pod is charged.
pub fn pod_usage(pod: &Pod, now: Timestamp) -> Usage {
    let mut out = Usage::from([("count/pods".to_string(), Amount::from_int(1))]);
    if !pod_is_charged(pod, now) {
        return out;
    }
    let (requests, limits) = pod_requests_and_limits(pod);
    out = add(&out, &compute_usage(&requests, &limits));
    out
}

/// A container's requests and limits as usage.
fn container_lists(c: &Container) -> (Usage, Usage) {
    let r = c.resources.as_ref();
    // Unparsable quantities never pass validation; they count as absent.
    let read = |l: Option<&BTreeMap<String, ApiQuantity>>| usage_from(l).unwrap_or_default();
    (
        read(r.and_then(|r| r.requests.as_ref())),
        read(r.and_then(|r| r.limits.as_ref())),
    )
}

/// The names of what a container alone would be charged.
fn container_usage_names(c: &Container) -> BTreeSet<String> {
    let (requests, limits) = container_lists(c);
    compute_usage(&requests, &limits).into_keys().collect()
}

/// Per resource, the larger of the two (`maxResourceList`).
fn max_into(into: &mut Usage, other: &Usage) {
    for (k, v) in other {
        match into.get(k) {
            Some(have) if have >= v => {}
            _ => {
                into.insert(k.clone(), *v);
            }
        }
    }
}

/// `resourcehelper.PodRequests` and `PodLimits`: the containers' sum, or
/// the largest init container (with the sidecars started before it) when
/// that is more, plus the pod overhead (limits: only for limited resources).
fn pod_requests_and_limits(pod: &Pod) -> (Usage, Usage) {
    let mut requests = Usage::new();
    let mut limits = Usage::new();
    let Some(spec) = pod.spec.as_ref() else {
        return (requests, limits);
    };
    for c in &spec.containers {
        let (r, l) = container_lists(c);
        requests = add(&requests, &r);
        limits = add(&limits, &l);
    }
    let mut sidecar_requests = Usage::new();
    let mut sidecar_limits = Usage::new();
    let mut init_requests = Usage::new();
    let mut init_limits = Usage::new();
    for c in spec.init_containers.iter().flatten() {
        let (r, l) = container_lists(c);
        if c.restart_policy.as_deref() == Some("Always") {
            // A sidecar runs alongside everything after it.
            requests = add(&requests, &r);
            limits = add(&limits, &l);
            sidecar_requests = add(&sidecar_requests, &r);
            sidecar_limits = add(&sidecar_limits, &l);
            max_into(&mut init_requests, &sidecar_requests);
            max_into(&mut init_limits, &sidecar_limits);
        } else {
            max_into(&mut init_requests, &add(&r, &sidecar_requests));
            max_into(&mut init_limits, &add(&l, &sidecar_limits));
        }
    }
    max_into(&mut requests, &init_requests);
    max_into(&mut limits, &init_limits);
    if let Some(overhead) = spec.overhead.as_ref() {
        let overhead = usage_from(Some(overhead)).unwrap_or_default();
        requests = add(&requests, &overhead);
        for (k, v) in &overhead {
            if let Some(have) = limits.get(k) {
                let sum = have.plus(v);
                limits.insert(k.clone(), sum);
            }
        }
    }
    (requests, limits)
}

/// `podComputeUsageHelper`: the quota names of requests and limits.
fn compute_usage(requests: &Usage, limits: &Usage) -> Usage {
    let mut out = Usage::from([(PODS.to_string(), Amount::from_int(1))]);
    for (res, req_name) in [
        (CPU, REQUESTS_CPU),
        (MEMORY, REQUESTS_MEMORY),
        (EPHEMERAL_STORAGE, REQUESTS_EPHEMERAL_STORAGE),
    ] {
        if let Some(v) = requests.get(res) {
            out.insert(res.to_string(), *v);
            out.insert(req_name.to_string(), *v);
        }
    }
    for (res, lim_name) in [
        (CPU, LIMITS_CPU),
        (MEMORY, LIMITS_MEMORY),
        (EPHEMERAL_STORAGE, LIMITS_EPHEMERAL_STORAGE),
    ] {
        if let Some(v) = limits.get(res) {
            out.insert(lim_name.to_string(), *v);
        }
    }
    for (name, v) in requests {
        if name.starts_with(HUGEPAGES_PREFIX) {
            out.insert(name.clone(), *v);
            out.insert(format!("{REQUESTS_PREFIX}{name}"), *v);
        }
        // Extended resources can only be limited as `requests.<name>`:
        // they are never overcommitted.
        if is_extended_resource(name) {
            out.insert(format!("{REQUESTS_PREFIX}{name}"), *v);
        }
    }
    out
}

/// The services evaluator's `Usage`: node ports of NodePort and
/// LoadBalancer services, and the load balancers.
pub fn service_usage(svc: &Service) -> Usage {
    let spec = svc.spec.as_ref();
    let ports = spec.and_then(|s| s.ports.as_ref()).map_or(0, Vec::len) as i64;
    let mut out = Usage::from([
        ("count/services".to_string(), Amount::from_int(1)),
        (SERVICES.to_string(), Amount::from_int(1)),
        (SERVICES_LOAD_BALANCERS.to_string(), Amount::from_int(0)),
        (SERVICES_NODE_PORTS.to_string(), Amount::from_int(0)),
    ]);
    match spec.and_then(|s| s.type_.as_deref()) {
        Some("NodePort") => {
            out.insert(SERVICES_NODE_PORTS.into(), Amount::from_int(ports));
        }
        Some("LoadBalancer") => {
            // Without node port allocation only explicit node ports count:
            // the intent, as none are allocated yet.
            let node_ports =
                if spec.and_then(|s| s.allocate_load_balancer_node_ports) == Some(false) {
                    spec.and_then(|s| s.ports.as_ref())
                        .into_iter()
                        .flatten()
                        .filter(|p| p.node_port.is_some_and(|n| n != 0))
                        .count() as i64
                } else {
                    ports
                };
            out.insert(SERVICES_NODE_PORTS.into(), Amount::from_int(node_ports));
            out.insert(SERVICES_LOAD_BALANCERS.into(), Amount::from_int(1));
        }
        _ => {}
    }
    out
}

/// The claims evaluator's `Usage`: the claim, its storage request (or the
/// capacity allocated to it, when larger), also per storage class.
pub fn pvc_usage(pvc: &PersistentVolumeClaim) -> Usage {
    let mut out = Usage::from([
        (
            "count/persistentvolumeclaims".to_string(),
            Amount::from_int(1),
        ),
        (PERSISTENT_VOLUME_CLAIMS.to_string(), Amount::from_int(1)),
    ]);
    let class = pvc
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(BETA_STORAGE_CLASS_ANNOTATION))
        .cloned()
        .or_else(|| pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone()))
        .filter(|c| !c.is_empty());
    if let Some(class) = &class {
        out.insert(
            format!("{class}{STORAGE_CLASS_SUFFIX}{PERSISTENT_VOLUME_CLAIMS}"),
            Amount::from_int(1),
        );
    }
    let requested = pvc
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .and_then(|q| Amount::parse(&q.0).ok());
    let allocated = pvc
        .status
        .as_ref()
        .and_then(|s| s.allocated_resources.as_ref())
        .and_then(|r| r.get("storage"))
        .and_then(|q| Amount::parse(&q.0).ok());
    let storage = match (requested, allocated) {
        (Some(r), Some(a)) => Some(if a > r { a } else { r }),
        (r, a) => r.or(a),
    };
    if let Some(storage) = storage {
        out.insert(REQUESTS_STORAGE.into(), storage);
        if let Some(class) = &class {
            out.insert(
                format!("{class}{STORAGE_CLASS_SUFFIX}{REQUESTS_STORAGE}"),
                storage,
            );
        }
    }
    out
}

/// The hard limits and usage a quota's status holds.
fn status_lists(quota: &ResourceQuota) -> Result<(Usage, Usage), String> {
    let status = quota.status.as_ref();
    Ok((
        usage_from(status.and_then(|s| s.hard.as_ref()))?,
        usage_from(status.and_then(|s| s.used.as_ref()))?,
    ))
}

/// Why a write was refused by quota: the message after `is forbidden: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub String);

/// `CheckRequest`: whether `new` (replacing `old` on an update) fits every
/// quota of `quotas` that covers it. On success, the new `status.used` of
/// each quota the write charges (`None`: unchanged), in `quotas`' order.
/// `status_write`: a write of the status subresource, charged but never
/// refused.
pub fn check_request(
    quotas: &[ResourceQuota],
    evaluator: &Evaluator,
    new: Object<'_>,
    old: Option<Object<'_>>,
    status_write: bool,
    now: Timestamp,
) -> Result<Vec<Option<Usage>>, Denied> {
    let mut interesting = Vec::new();
    for (i, quota) in quotas.iter().enumerate() {
        let name = quota.metadata.name.as_deref().unwrap_or_default();
        if !evaluator.matches(quota, new).map_err(Denied)? {
            continue;
        }
        let (hard, used) = status_lists(quota).map_err(Denied)?;
        let restricted = evaluator.matching_resources(hard.keys());
        if let Err(e) = evaluator.constraints(&restricted, new) {
            return Err(Denied(format!("failed quota: {name}: {e}")));
        }
        // `hasUsageStats`: a quota whose usage of what it limits is not
        // known yet cannot admit anything it limits.
        if restricted.iter().any(|r| !used.contains_key(r)) {
            let mut names = restricted.clone();
            names.sort();
            return Err(Denied(format!(
                "status unknown for quota: {name}, resources: {}",
                names.join(",")
            )));
        }
        interesting.push((i, hard, used));
    }
    let mut out = vec![None; quotas.len()];
    if interesting.is_empty() {
        return Ok(out);
    }
    let input = evaluator.usage(new, now);
    let negative: Vec<&str> = input
        .iter()
        .filter(|(_, v)| v.is_negative())
        .map(|(k, _)| k.as_str())
        .collect();
    if !negative.is_empty() {
        return Err(Denied(format!(
            "quota usage is negative for resource(s): {}",
            negative.join(",")
        )));
    }
    for (i, hard, used) in interesting {
        let quota = &quotas[i];
        // An update is charged what it adds, against the quotas that
        // covered the old object too; a quota that did not cover it is
        // charged the whole new usage.
        let delta = match old {
            Some(old) if evaluator.matches(quota, old).map_err(Denied)? => {
                subtract_non_negative(&input, &evaluator.usage(old, now))
            }
            _ => input.clone(),
        };
        let delta: Usage = delta.into_iter().filter(|(_, v)| !v.is_zero()).collect();
        if delta.is_empty() {
            continue;
        }
        let requested = mask(&delta, hard.keys());
        let new_used = add(&used, &requested);
        if !status_write {
            let over = exceeded(&mask(&new_used, requested.keys()), &hard);
            if !over.is_empty() {
                return Err(Denied(format!(
                    "exceeded quota: {}, requested: {}, used: {}, limited: {}",
                    quota.metadata.name.as_deref().unwrap_or_default(),
                    pretty_print(&mask(&requested, &over)),
                    pretty_print(&mask(&used, &over)),
                    pretty_print(&mask(&hard, &over)),
                )));
            }
        }
        if !equals(&new_used, &used) {
            out[i] = Some(new_used);
        }
    }
    Ok(out)
}
