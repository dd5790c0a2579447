//! The static registry of every built-in resource that kube-apiserver v1.33
//! serves by default: group, version, resource, kind, scope, verbs, short
//! names, categories, subresources, and where upstream keeps the objects in etcd.
//!
//! Owns: the data, and lookups over it. Does not own: discovery documents,
//! strategies, or storage (the API server builds those from this table).
//!
//! Sources (kubernetes/kubernetes):
//! - verbs, short names, categories, singular names, subresources:
//!   `api/discovery/aggregated_v2.json` and `api/discovery/api__v1.json`
//!   (generated from a running kube-apiserver), cross-checked against the
//!   `ShortNames()`/`Categories()` methods in `pkg/registry/**/storage/storage.go`;
//! - which group versions are on by default: `pkg/controlplane/instance.go`
//!   (`stableAPIGroupVersionsEnabledByDefault`, `betaAPIGroupVersionsDisabledByDefault`):
//!   no beta or alpha version is served by default in v1.33, so
//!   `resource.k8s.io`, `storagemigration.k8s.io`, `internal.apiserver.k8s.io`,
//!   `coordination.k8s.io/v1beta1` and the like are absent;
//! - `pods/resize`: `pkg/registry/core/rest/storage_core.go`, served when the
//!   `InPlacePodVerticalScaling` feature gate is on (beta, on by default in v1.33);
//! - etcd key prefixes and storage versions: `test/integration/etcd/data.go`;
//! - group order: `api/discovery/apis.json` (the aggregator's group priorities).

/// A subresource of a [`ResourceInfo`], e.g. `pods/status` or `deployments/scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubresourceInfo {
    /// Name after the slash: `status`, `scale`, `log`, ...
    pub name: &'static str,
    /// Kind sent and returned, e.g. `Pod`, `Scale`, `PodExecOptions`.
    pub kind: &'static str,
    /// Group of `kind` (`autoscaling` for `Scale`, `policy` for `Eviction`).
    pub group: &'static str,
    /// Version of `kind`.
    pub version: &'static str,
    /// Verbs exactly as discovery lists them.
    pub verbs: &'static [&'static str],
}

impl SubresourceInfo {
    /// `apiVersion` of the subresource's kind: `v1` or `autoscaling/v1`.
    pub fn api_version(&self) -> String {
        api_version(self.group, self.version)
    }

    /// Whether discovery names the kind's group and version explicitly:
    /// kube-apiserver does so only when they differ from the parent's.
    pub fn is_other_group_version(&self, parent: &ResourceInfo) -> bool {
        self.group != parent.group || self.version != parent.version
    }
}

/// Where objects of a resource live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Never stored: reviews, `bindings` (writes the pod) and
    /// `componentstatuses` (probed on each request).
    Virtual,
    /// Stored under `prefix` (`<prefix>/<namespace>/<name>` or `<prefix>/<name>`),
    /// encoded as `group`/`version`.
    Etcd {
        /// Upstream's etcd key prefix, without a trailing slash.
        prefix: &'static str,
        /// Group of the encoding version.
        group: &'static str,
        /// Encoding version.
        version: &'static str,
    },
}

/// A built-in resource at one group version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group; `""` for core.
    pub group: &'static str,
    /// Version within the group.
    pub version: &'static str,
    /// Plural resource name, as in the URL.
    pub resource: &'static str,
    /// `singularName` in discovery.
    pub singular: &'static str,
    /// Kind of the objects.
    pub kind: &'static str,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Verbs exactly as discovery lists them (sorted).
    pub verbs: &'static [&'static str],
    /// Short names, in discovery order.
    pub short_names: &'static [&'static str],
    /// Categories (`all`, `api-extensions`).
    pub categories: &'static [&'static str],
    /// Subresources, sorted by name as in discovery.
    pub subresources: &'static [SubresourceInfo],
    /// Where the objects live.
    pub storage: Storage,
}

impl ResourceInfo {
    /// `apiVersion` of the kind: `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        api_version(self.group, self.version)
    }

    /// Kind of the list: `PodList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// `Namespaced` or `Cluster`, as aggregated discovery writes the scope.
    pub fn scope(&self) -> &'static str {
        if self.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }
    }

    /// Whether discovery lists `verb` for the resource itself.
    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// Whether the resource has a `status` subresource. For such kinds the main
    /// endpoint does not write status (each kind's strategy says how exactly).
    pub fn has_status(&self) -> bool {
        self.subresource("status").is_some()
    }

    /// The subresource called `name`.
    pub fn subresource(&self, name: &str) -> Option<&'static SubresourceInfo> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// Whether `create` is the only verb: reviews and `bindings`.
    pub fn is_create_only(&self) -> bool {
        self.verbs == CREATE
    }

    /// Whether objects of the resource are stored at all.
    pub fn is_stored(&self) -> bool {
        matches!(self.storage, Storage::Etcd { .. })
    }

    /// Upstream's etcd key prefix (`/registry/pods`, `/registry/minions`,
    /// `/registry/services/specs`), or `None` for a virtual resource.
    pub fn storage_prefix(&self) -> Option<&'static str> {
        match self.storage {
            Storage::Etcd { prefix, .. } => Some(prefix),
            Storage::Virtual => None,
        }
    }

    /// Group and version objects are encoded as when stored: the same for
    /// every version that shares the storage (`autoscaling/v2` for both
    /// HorizontalPodAutoscaler versions, core `v1` for `events.k8s.io` events).
    pub fn storage_version(&self) -> Option<(&'static str, &'static str)> {
        match self.storage {
            Storage::Etcd { group, version, .. } => Some((group, version)),
            Storage::Virtual => None,
        }
    }

    /// Every resource whose objects are the same objects as this one's (same
    /// etcd prefix), this one included: all served versions, and for events
    /// both `v1` and `events.k8s.io/v1`.
    pub fn sharing_storage(&self) -> impl Iterator<Item = &'static ResourceInfo> + use<> {
        let prefix = self.storage_prefix();
        let own = (self.group, self.version, self.resource);
        RESOURCES.iter().filter(move |r| match prefix {
            Some(p) => r.storage_prefix() == Some(p),
            None => (r.group, r.version, r.resource) == own,
        })
    }
}

/// An API group and the versions served by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupInfo {
    /// Group name; `""` for core (served under `/api`).
    pub name: &'static str,
    /// Versions in discovery order, preferred first.
    pub versions: &'static [&'static str],
}

impl GroupInfo {
    /// The preferred version.
    pub fn preferred_version(&self) -> &'static str {
        self.versions[0]
    }
}

/// Groups in upstream discovery order, core first.
pub fn groups() -> &'static [GroupInfo] {
    GROUPS
}

/// The group called `name`.
pub fn group(name: &str) -> Option<&'static GroupInfo> {
    GROUPS.iter().find(|g| g.name == name)
}

/// Every built-in resource, grouped by group version in [`groups`] order and
/// sorted by resource name within a group version, as discovery lists them.
pub fn resources() -> &'static [ResourceInfo] {
    RESOURCES
}

/// The resources of one group version, in discovery order.
pub fn resources_in(group: &str, version: &str) -> impl Iterator<Item = &'static ResourceInfo> {
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

/// The resource `resource` (plural) of `group`/`version`.
pub fn lookup(group: &str, version: &str, resource: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.resource == resource && r.version == version && r.group == group)
}

/// The resource whose objects are of kind `kind` in `group`/`version`.
pub fn lookup_kind(group: &str, version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.version == version && r.group == group)
}

/// `resource` of `group` at every version served, preferred first. HPAs at
/// `autoscaling/v2` and `autoscaling/v1` are the same objects.
pub fn all_versions_of(group: &str, resource: &str) -> impl Iterator<Item = &'static ResourceInfo> {
    let versions = self::group(group).map_or(&[][..], |g| g.versions);
    versions
        .iter()
        .filter_map(move |v| lookup(group, v, resource))
}

/// Resolves a name as kubectl does over built-in resources: a plural, a
/// singular or a short name, at the group's preferred version, searching
/// groups in discovery order (so `ev` is core `events`).
pub fn resolve_name(name: &str) -> Option<&'static ResourceInfo> {
    let preferred =
        |r: &&ResourceInfo| group(r.group).is_some_and(|g| g.preferred_version() == r.version);
    let mut candidates = RESOURCES.iter().filter(preferred);
    candidates
        .clone()
        .find(|r| r.resource == name || r.singular == name)
        .or_else(|| candidates.find(|r| r.short_names.contains(&name)))
}

/// Members of a category (`all`, `api-extensions`) at their preferred versions.
pub fn category(name: &str) -> impl Iterator<Item = &'static ResourceInfo> {
    RESOURCES.iter().filter(move |r| {
        r.categories.contains(&name)
            && group(r.group).is_some_and(|g| g.preferred_version() == r.version)
    })
}

/// Upstream's etcd key prefix for a custom resource: `/registry/<group>/<resource>`.
pub fn custom_resource_storage_prefix(group: &str, resource: &str) -> String {
    format!("/registry/{group}/{resource}")
}

fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

// ---------------------------------------------------------------------------
// Data.

const CRUD: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Namespaces are deleted one by one (the namespace controller empties each).
const CRUD_NO_DELETECOLLECTION: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
const CREATE: &[&str] = &["create"];
const GET_LIST: &[&str] = &["get", "list"];
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];
const CREATE_GET: &[&str] = &["create", "get"];
const PROXY: &[&str] = &["create", "delete", "get", "patch", "update"];

const ALL: &[&str] = &["all"];
const API_EXTENSIONS: &[&str] = &["api-extensions"];

const fn sub(
    name: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> SubresourceInfo {
    SubresourceInfo {
        name,
        kind,
        group,
        version,
        verbs,
    }
}

const fn status(group: &'static str, version: &'static str, kind: &'static str) -> SubresourceInfo {
    sub("status", group, version, kind, GET_PATCH_UPDATE)
}

/// `<resource>/scale`, always `autoscaling/v1` Scale.
const SCALE: SubresourceInfo = sub("scale", "autoscaling", "v1", "Scale", GET_PATCH_UPDATE);

const fn etcd(prefix: &'static str, group: &'static str, version: &'static str) -> Storage {
    Storage::Etcd {
        prefix,
        group,
        version,
    }
}

/// One entry of the table; fields in the order of [`ResourceInfo`].
macro_rules! r {
    ($g:expr, $v:expr, $res:expr, $sing:expr, $kind:expr, $ns:expr, $verbs:expr,
     $short:expr, $cat:expr, $subs:expr, $storage:expr $(,)?) => {
        ResourceInfo {
            group: $g,
            version: $v,
            resource: $res,
            singular: $sing,
            kind: $kind,
            namespaced: $ns,
            verbs: $verbs,
            short_names: $short,
            categories: $cat,
            subresources: $subs,
            storage: $storage,
        }
    };
}

const NS: bool = true;
const CLUSTER: bool = false;
const NONE: &[&str] = &[];
const NO_SUBS: &[SubresourceInfo] = &[];

static GROUPS: &[GroupInfo] = &[
    GroupInfo {
        name: "",
        versions: &["v1"],
    },
    GroupInfo {
        name: "apiregistration.k8s.io",
        versions: &["v1"],
    },
    GroupInfo {
        name: "apps",
        versions: &["v1"],
    },
    GroupInfo {
        name: "events.k8s.io",
        versions: &["v1"],
    },
    GroupInfo {
        name: "authentication.k8s.io",
        versions: &["v1"],
    },
    GroupInfo {
        name: "authorization.k8s.io",
        versions: &["v1"],
    },
    GroupInfo {
        name: "autoscaling",
        versions: &["v2", "v1"],
    },
    GroupInfo {
        name: "batch",
        versions: &["v1"],
    },
    GroupInfo {
        name: "certificates.k8s.io",
        versions: &["v1"],
    },
    GroupInfo {
        name: "networking.k8s.io",
        versions: &["v1"],
    },
    GroupInfo {
        name: "policy",
        versions: &["v1"],
    },
    GroupInfo {
        name: "rbac.authorization.k8s.io",
        versions: &["v1"],
    },
    GroupInfo {
        name: "storage.k8s.io",
        versions: &["v1"],
    },
    GroupInfo {
        name: "admissionregistration.k8s.io",
        versions: &["v1"],
    },
    GroupInfo {
        name: "apiextensions.k8s.io",
        versions: &["v1"],
    },
    GroupInfo {
        name: "scheduling.k8s.io",
        versions: &["v1"],
    },
    GroupInfo {
        name: "coordination.k8s.io",
        versions: &["v1"],
    },
    GroupInfo {
        name: "node.k8s.io",
        versions: &["v1"],
    },
    GroupInfo {
        name: "discovery.k8s.io",
        versions: &["v1"],
    },
    GroupInfo {
        name: "flowcontrol.apiserver.k8s.io",
        versions: &["v1"],
    },
];

const HPA_STORAGE: Storage = etcd("/registry/horizontalpodautoscalers", "autoscaling", "v2");

#[rustfmt::skip]
static RESOURCES: &[ResourceInfo] = &[
    // --- core v1
    r!("", "v1", "bindings", "binding", "Binding", NS, CREATE, NONE, NONE, NO_SUBS, Storage::Virtual),
    r!("", "v1", "componentstatuses", "componentstatus", "ComponentStatus", CLUSTER, GET_LIST, &["cs"], NONE, NO_SUBS, Storage::Virtual),
    r!("", "v1", "configmaps", "configmap", "ConfigMap", NS, CRUD, &["cm"], NONE, NO_SUBS, etcd("/registry/configmaps", "", "v1")),
    r!("", "v1", "endpoints", "endpoints", "Endpoints", NS, CRUD, &["ep"], NONE, NO_SUBS, etcd("/registry/services/endpoints", "", "v1")),
    r!("", "v1", "events", "event", "Event", NS, CRUD, &["ev"], NONE, NO_SUBS, etcd("/registry/events", "", "v1")),
    r!("", "v1", "limitranges", "limitrange", "LimitRange", NS, CRUD, &["limits"], NONE, NO_SUBS, etcd("/registry/limitranges", "", "v1")),
    r!("", "v1", "namespaces", "namespace", "Namespace", CLUSTER, CRUD_NO_DELETECOLLECTION, &["ns"], NONE,
        &[sub("finalize", "", "v1", "Namespace", &["update"]), status("", "v1", "Namespace")],
        etcd("/registry/namespaces", "", "v1")),
    r!("", "v1", "nodes", "node", "Node", CLUSTER, CRUD, &["no"], NONE,
        &[sub("proxy", "", "v1", "NodeProxyOptions", PROXY), status("", "v1", "Node")],
        etcd("/registry/minions", "", "v1")),
    r!("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", NS, CRUD, &["pvc"], NONE,
        &[status("", "v1", "PersistentVolumeClaim")],
        etcd("/registry/persistentvolumeclaims", "", "v1")),
    r!("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", CLUSTER, CRUD, &["pv"], NONE,
        &[status("", "v1", "PersistentVolume")],
        etcd("/registry/persistentvolumes", "", "v1")),
    r!("", "v1", "pods", "pod", "Pod", NS, CRUD, &["po"], ALL,
        &[
            sub("attach", "", "v1", "PodAttachOptions", CREATE_GET),
            sub("binding", "", "v1", "Binding", CREATE),
            sub("ephemeralcontainers", "", "v1", "Pod", GET_PATCH_UPDATE),
            sub("eviction", "policy", "v1", "Eviction", CREATE),
            sub("exec", "", "v1", "PodExecOptions", CREATE_GET),
            sub("log", "", "v1", "Pod", &["get"]),
            sub("portforward", "", "v1", "PodPortForwardOptions", CREATE_GET),
            sub("proxy", "", "v1", "PodProxyOptions", PROXY),
            sub("resize", "", "v1", "Pod", GET_PATCH_UPDATE),
            status("", "v1", "Pod"),
        ],
        etcd("/registry/pods", "", "v1")),
    r!("", "v1", "podtemplates", "podtemplate", "PodTemplate", NS, CRUD, NONE, NONE, NO_SUBS, etcd("/registry/podtemplates", "", "v1")),
    r!("", "v1", "replicationcontrollers", "replicationcontroller", "ReplicationController", NS, CRUD, &["rc"], ALL,
        &[SCALE, status("", "v1", "ReplicationController")],
        etcd("/registry/controllers", "", "v1")),
    r!("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", NS, CRUD, &["quota"], NONE,
        &[status("", "v1", "ResourceQuota")],
        etcd("/registry/resourcequotas", "", "v1")),
    r!("", "v1", "secrets", "secret", "Secret", NS, CRUD, NONE, NONE, NO_SUBS, etcd("/registry/secrets", "", "v1")),
    r!("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", NS, CRUD, &["sa"], NONE,
        &[sub("token", "authentication.k8s.io", "v1", "TokenRequest", CREATE)],
        etcd("/registry/serviceaccounts", "", "v1")),
    r!("", "v1", "services", "service", "Service", NS, CRUD, &["svc"], ALL,
        &[sub("proxy", "", "v1", "ServiceProxyOptions", PROXY), status("", "v1", "Service")],
        etcd("/registry/services/specs", "", "v1")),
    // --- apiregistration.k8s.io/v1
    r!("apiregistration.k8s.io", "v1", "apiservices", "apiservice", "APIService", CLUSTER, CRUD, NONE, API_EXTENSIONS,
        &[status("apiregistration.k8s.io", "v1", "APIService")],
        etcd("/registry/apiregistration.k8s.io/apiservices", "apiregistration.k8s.io", "v1")),
    // --- apps/v1
    r!("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", NS, CRUD, NONE, NONE, NO_SUBS,
        etcd("/registry/controllerrevisions", "apps", "v1")),
    r!("apps", "v1", "daemonsets", "daemonset", "DaemonSet", NS, CRUD, &["ds"], ALL,
        &[status("apps", "v1", "DaemonSet")],
        etcd("/registry/daemonsets", "apps", "v1")),
    r!("apps", "v1", "deployments", "deployment", "Deployment", NS, CRUD, &["deploy"], ALL,
        &[SCALE, status("apps", "v1", "Deployment")],
        etcd("/registry/deployments", "apps", "v1")),
    r!("apps", "v1", "replicasets", "replicaset", "ReplicaSet", NS, CRUD, &["rs"], ALL,
        &[SCALE, status("apps", "v1", "ReplicaSet")],
        etcd("/registry/replicasets", "apps", "v1")),
    r!("apps", "v1", "statefulsets", "statefulset", "StatefulSet", NS, CRUD, &["sts"], ALL,
        &[SCALE, status("apps", "v1", "StatefulSet")],
        etcd("/registry/statefulsets", "apps", "v1")),
    // --- events.k8s.io/v1: the same objects as core v1 events, stored as those.
    r!("events.k8s.io", "v1", "events", "event", "Event", NS, CRUD, &["ev"], NONE, NO_SUBS,
        etcd("/registry/events", "", "v1")),
    // --- authentication.k8s.io/v1
    r!("authentication.k8s.io", "v1", "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview", CLUSTER, CREATE, NONE, NONE, NO_SUBS, Storage::Virtual),
    r!("authentication.k8s.io", "v1", "tokenreviews", "tokenreview", "TokenReview", CLUSTER, CREATE, NONE, NONE, NO_SUBS, Storage::Virtual),
    // --- authorization.k8s.io/v1
    r!("authorization.k8s.io", "v1", "localsubjectaccessreviews", "localsubjectaccessreview", "LocalSubjectAccessReview", NS, CREATE, NONE, NONE, NO_SUBS, Storage::Virtual),
    r!("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview", "SelfSubjectAccessReview", CLUSTER, CREATE, NONE, NONE, NO_SUBS, Storage::Virtual),
    r!("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "selfsubjectrulesreview", "SelfSubjectRulesReview", CLUSTER, CREATE, NONE, NONE, NO_SUBS, Storage::Virtual),
    r!("authorization.k8s.io", "v1", "subjectaccessreviews", "subjectaccessreview", "SubjectAccessReview", CLUSTER, CREATE, NONE, NONE, NO_SUBS, Storage::Virtual),
    // --- autoscaling/v2, autoscaling/v1: one storage, encoded as v2.
    r!("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", NS, CRUD, &["hpa"], ALL,
        &[status("autoscaling", "v2", "HorizontalPodAutoscaler")],
        HPA_STORAGE),
    r!("autoscaling", "v1", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", NS, CRUD, &["hpa"], ALL,
        &[status("autoscaling", "v1", "HorizontalPodAutoscaler")],
        HPA_STORAGE),
    // --- batch/v1
    r!("batch", "v1", "cronjobs", "cronjob", "CronJob", NS, CRUD, &["cj"], ALL,
        &[status("batch", "v1", "CronJob")],
        etcd("/registry/cronjobs", "batch", "v1")),
    r!("batch", "v1", "jobs", "job", "Job", NS, CRUD, NONE, ALL,
        &[status("batch", "v1", "Job")],
        etcd("/registry/jobs", "batch", "v1")),
    // --- certificates.k8s.io/v1
    r!("certificates.k8s.io", "v1", "certificatesigningrequests", "certificatesigningrequest", "CertificateSigningRequest", CLUSTER, CRUD, &["csr"], NONE,
        &[
            sub("approval", "certificates.k8s.io", "v1", "CertificateSigningRequest", GET_PATCH_UPDATE),
            status("certificates.k8s.io", "v1", "CertificateSigningRequest"),
        ],
        etcd("/registry/certificatesigningrequests", "certificates.k8s.io", "v1")),
    // --- networking.k8s.io/v1 (ipaddresses and servicecidrs: GA in v1.33)
    r!("networking.k8s.io", "v1", "ingressclasses", "ingressclass", "IngressClass", CLUSTER, CRUD, NONE, NONE, NO_SUBS,
        etcd("/registry/ingressclasses", "networking.k8s.io", "v1")),
    r!("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", NS, CRUD, &["ing"], NONE,
        &[status("networking.k8s.io", "v1", "Ingress")],
        etcd("/registry/ingress", "networking.k8s.io", "v1")),
    r!("networking.k8s.io", "v1", "ipaddresses", "ipaddress", "IPAddress", CLUSTER, CRUD, &["ip"], NONE, NO_SUBS,
        etcd("/registry/ipaddresses", "networking.k8s.io", "v1")),
    r!("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", NS, CRUD, &["netpol"], NONE, NO_SUBS,
        etcd("/registry/networkpolicies", "networking.k8s.io", "v1")),
    r!("networking.k8s.io", "v1", "servicecidrs", "servicecidr", "ServiceCIDR", CLUSTER, CRUD, NONE, NONE,
        &[status("networking.k8s.io", "v1", "ServiceCIDR")],
        etcd("/registry/servicecidrs", "networking.k8s.io", "v1")),
    // --- policy/v1
    r!("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", NS, CRUD, &["pdb"], NONE,
        &[status("policy", "v1", "PodDisruptionBudget")],
        etcd("/registry/poddisruptionbudgets", "policy", "v1")),
    // --- rbac.authorization.k8s.io/v1
    r!("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", CLUSTER, CRUD, NONE, NONE, NO_SUBS,
        etcd("/registry/clusterrolebindings", "rbac.authorization.k8s.io", "v1")),
    r!("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", CLUSTER, CRUD, NONE, NONE, NO_SUBS,
        etcd("/registry/clusterroles", "rbac.authorization.k8s.io", "v1")),
    r!("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", NS, CRUD, NONE, NONE, NO_SUBS,
        etcd("/registry/rolebindings", "rbac.authorization.k8s.io", "v1")),
    r!("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", NS, CRUD, NONE, NONE, NO_SUBS,
        etcd("/registry/roles", "rbac.authorization.k8s.io", "v1")),
    // --- storage.k8s.io/v1
    r!("storage.k8s.io", "v1", "csidrivers", "csidriver", "CSIDriver", CLUSTER, CRUD, NONE, NONE, NO_SUBS,
        etcd("/registry/csidrivers", "storage.k8s.io", "v1")),
    r!("storage.k8s.io", "v1", "csinodes", "csinode", "CSINode", CLUSTER, CRUD, NONE, NONE, NO_SUBS,
        etcd("/registry/csinodes", "storage.k8s.io", "v1")),
    r!("storage.k8s.io", "v1", "csistoragecapacities", "csistoragecapacity", "CSIStorageCapacity", NS, CRUD, NONE, NONE, NO_SUBS,
        etcd("/registry/csistoragecapacities", "storage.k8s.io", "v1")),
    r!("storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", CLUSTER, CRUD, &["sc"], NONE, NO_SUBS,
        etcd("/registry/storageclasses", "storage.k8s.io", "v1")),
    r!("storage.k8s.io", "v1", "volumeattachments", "volumeattachment", "VolumeAttachment", CLUSTER, CRUD, NONE, NONE,
        &[status("storage.k8s.io", "v1", "VolumeAttachment")],
        etcd("/registry/volumeattachments", "storage.k8s.io", "v1")),
    // --- admissionregistration.k8s.io/v1
    r!("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "mutatingwebhookconfiguration", "MutatingWebhookConfiguration", CLUSTER, CRUD, NONE, API_EXTENSIONS, NO_SUBS,
        etcd("/registry/mutatingwebhookconfigurations", "admissionregistration.k8s.io", "v1")),
    r!("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "validatingadmissionpolicy", "ValidatingAdmissionPolicy", CLUSTER, CRUD, NONE, API_EXTENSIONS,
        &[status("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy")],
        etcd("/registry/validatingadmissionpolicies", "admissionregistration.k8s.io", "v1")),
    r!("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", "validatingadmissionpolicybinding", "ValidatingAdmissionPolicyBinding", CLUSTER, CRUD, NONE, API_EXTENSIONS, NO_SUBS,
        etcd("/registry/validatingadmissionpolicybindings", "admissionregistration.k8s.io", "v1")),
    r!("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "validatingwebhookconfiguration", "ValidatingWebhookConfiguration", CLUSTER, CRUD, NONE, API_EXTENSIONS, NO_SUBS,
        etcd("/registry/validatingwebhookconfigurations", "admissionregistration.k8s.io", "v1")),
    // --- apiextensions.k8s.io/v1. Upstream still encodes CRDs as v1beta1 in
    // etcd (a version no longer served); skiff stores the served v1 form.
    r!("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition", "CustomResourceDefinition", CLUSTER, CRUD, &["crd", "crds"], API_EXTENSIONS,
        &[status("apiextensions.k8s.io", "v1", "CustomResourceDefinition")],
        etcd("/registry/apiextensions.k8s.io/customresourcedefinitions", "apiextensions.k8s.io", "v1")),
    // --- scheduling.k8s.io/v1
    r!("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", CLUSTER, CRUD, &["pc"], NONE, NO_SUBS,
        etcd("/registry/priorityclasses", "scheduling.k8s.io", "v1")),
    // --- coordination.k8s.io/v1
    r!("coordination.k8s.io", "v1", "leases", "lease", "Lease", NS, CRUD, NONE, NONE, NO_SUBS,
        etcd("/registry/leases", "coordination.k8s.io", "v1")),
    // --- node.k8s.io/v1
    r!("node.k8s.io", "v1", "runtimeclasses", "runtimeclass", "RuntimeClass", CLUSTER, CRUD, NONE, NONE, NO_SUBS,
        etcd("/registry/runtimeclasses", "node.k8s.io", "v1")),
    // --- discovery.k8s.io/v1
    r!("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", NS, CRUD, NONE, NONE, NO_SUBS,
        etcd("/registry/endpointslices", "discovery.k8s.io", "v1")),
    // --- flowcontrol.apiserver.k8s.io/v1
    r!("flowcontrol.apiserver.k8s.io", "v1", "flowschemas", "flowschema", "FlowSchema", CLUSTER, CRUD, NONE, NONE,
        &[status("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema")],
        etcd("/registry/flowschemas", "flowcontrol.apiserver.k8s.io", "v1")),
    r!("flowcontrol.apiserver.k8s.io", "v1", "prioritylevelconfigurations", "prioritylevelconfiguration", "PriorityLevelConfiguration", CLUSTER, CRUD, NONE, NONE,
        &[status("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration")],
        etcd("/registry/prioritylevelconfigurations", "flowcontrol.apiserver.k8s.io", "v1")),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashSet};

    #[test]
    fn short_names_resolve_to_upstream_resources() {
        let cases = [
            ("po", "", "pods"),
            ("svc", "", "services"),
            ("deploy", "apps", "deployments"),
            ("rs", "apps", "replicasets"),
            ("sts", "apps", "statefulsets"),
            ("ds", "apps", "daemonsets"),
            ("cm", "", "configmaps"),
            ("ns", "", "namespaces"),
            ("no", "", "nodes"),
            ("sa", "", "serviceaccounts"),
            ("ing", "networking.k8s.io", "ingresses"),
            ("pvc", "", "persistentvolumeclaims"),
            ("pv", "", "persistentvolumes"),
            ("ep", "", "endpoints"),
            ("ev", "", "events"),
            ("cj", "batch", "cronjobs"),
            ("hpa", "autoscaling", "horizontalpodautoscalers"),
            ("pdb", "policy", "poddisruptionbudgets"),
            ("sc", "storage.k8s.io", "storageclasses"),
            ("pc", "scheduling.k8s.io", "priorityclasses"),
            ("crd", "apiextensions.k8s.io", "customresourcedefinitions"),
            ("crds", "apiextensions.k8s.io", "customresourcedefinitions"),
            ("netpol", "networking.k8s.io", "networkpolicies"),
            ("quota", "", "resourcequotas"),
            ("limits", "", "limitranges"),
            ("rc", "", "replicationcontrollers"),
            ("cs", "", "componentstatuses"),
            ("csr", "certificates.k8s.io", "certificatesigningrequests"),
            ("ip", "networking.k8s.io", "ipaddresses"),
        ];
        for (short, group, resource) in cases {
            let r = resolve_name(short).unwrap_or_else(|| panic!("{short} does not resolve"));
            assert_eq!((r.group, r.resource), (group, resource), "{short}");
        }
        // hpa resolves at the preferred version.
        assert_eq!(resolve_name("hpa").map(|r| r.version), Some("v2"));
        // Plurals and singulars resolve too.
        assert_eq!(
            resolve_name("deployment").map(|r| r.resource),
            Some("deployments")
        );
        assert_eq!(resolve_name("leases").map(|r| r.kind), Some("Lease"));
        assert!(resolve_name("nosuchthing").is_none());
    }

    #[test]
    fn every_short_name_is_unique_except_events() {
        let mut seen = HashSet::new();
        for r in resources()
            .iter()
            .filter(|r| r.version == group(r.group).map_or("", |g| g.preferred_version()))
        {
            for s in r.short_names {
                // `ev` names both core and events.k8s.io events, as upstream.
                if *s != "ev" {
                    assert!(seen.insert(*s), "short name {s} used twice");
                }
            }
        }
    }

    #[test]
    fn category_all_has_exactly_upstream_members() {
        let all: BTreeSet<_> = category("all").map(|r| (r.group, r.resource)).collect();
        let expected: BTreeSet<_> = [
            ("", "pods"),
            ("", "replicationcontrollers"),
            ("", "services"),
            ("apps", "daemonsets"),
            ("apps", "deployments"),
            ("apps", "replicasets"),
            ("apps", "statefulsets"),
            ("autoscaling", "horizontalpodautoscalers"),
            ("batch", "cronjobs"),
            ("batch", "jobs"),
        ]
        .into_iter()
        .collect();
        assert_eq!(all, expected);
        // hpa appears once, at its preferred version.
        assert_eq!(category("all").count(), expected.len());
    }

    #[test]
    fn category_api_extensions_has_exactly_upstream_members() {
        let ext: BTreeSet<_> = category("api-extensions").map(|r| r.resource).collect();
        let expected: BTreeSet<_> = [
            "apiservices",
            "customresourcedefinitions",
            "mutatingwebhookconfigurations",
            "validatingadmissionpolicies",
            "validatingadmissionpolicybindings",
            "validatingwebhookconfigurations",
        ]
        .into_iter()
        .collect();
        assert_eq!(ext, expected);
    }

    #[test]
    fn group_version_resources_are_unique() {
        let mut seen = HashSet::new();
        for r in resources() {
            assert!(
                seen.insert((r.group, r.version, r.resource)),
                "{}/{} twice",
                r.api_version(),
                r.resource
            );
        }
        assert_eq!(resources().len(), 61);
    }

    #[test]
    fn kinds_are_unique_per_group_version() {
        let mut seen = HashSet::new();
        for r in resources() {
            assert!(
                seen.insert((r.group, r.version, r.kind)),
                "{} {} twice",
                r.api_version(),
                r.kind
            );
            assert_eq!(lookup_kind(r.group, r.version, r.kind), Some(r));
            assert_eq!(lookup(r.group, r.version, r.resource), Some(r));
        }
    }

    #[test]
    fn groups_and_resources_agree_and_keep_discovery_order() {
        let mut order = Vec::new();
        for g in groups() {
            for v in g.versions {
                let names: Vec<_> = resources_in(g.name, v).map(|r| r.resource).collect();
                assert!(!names.is_empty(), "{}/{v} serves nothing", g.name);
                let mut sorted = names.clone();
                sorted.sort_unstable();
                assert_eq!(names, sorted, "{}/{v} not in discovery order", g.name);
                order.push((g.name, *v));
            }
        }
        // The table itself follows groups() order.
        let mut table_order: Vec<(&str, &str)> = Vec::new();
        for r in resources() {
            if table_order.last() != Some(&(r.group, r.version)) {
                table_order.push((r.group, r.version));
            }
        }
        assert_eq!(table_order, order);
        assert_eq!(groups()[0].name, "");
        assert_eq!(
            group("autoscaling").map(|g| g.versions),
            Some(&["v2", "v1"][..])
        );
    }

    #[test]
    fn subresources_are_well_formed() {
        for r in resources() {
            let mut names = HashSet::new();
            for s in r.subresources {
                assert!(names.insert(s.name), "{}/{} twice", r.resource, s.name);
                assert!(
                    group(s.group).is_some_and(|g| g.versions.contains(&s.version)),
                    "{}/{}: {} is not served",
                    r.resource,
                    s.name,
                    s.api_version()
                );
                if s.name == "status" {
                    assert_eq!((s.group, s.version, s.kind), (r.group, r.version, r.kind));
                    assert_eq!(s.verbs, GET_PATCH_UPDATE);
                }
                if !s.is_other_group_version(r) {
                    continue;
                }
                // A kind from another group version is a served, listable kind
                // there, or one of the known request-only kinds.
                assert!(
                    matches!(s.kind, "Scale" | "Eviction" | "TokenRequest"),
                    "{}/{}: unexpected {}",
                    r.resource,
                    s.name,
                    s.kind
                );
            }
            let sorted: Vec<_> = {
                let mut v: Vec<_> = r.subresources.iter().map(|s| s.name).collect();
                v.sort_unstable();
                v
            };
            let actual: Vec<_> = r.subresources.iter().map(|s| s.name).collect();
            assert_eq!(actual, sorted, "{} subresources not sorted", r.resource);
        }
    }

    #[test]
    fn well_known_facts() {
        let pods = lookup("", "v1", "pods").expect("pods");
        assert_eq!(pods.verbs, CRUD);
        assert!(pods.has_status());
        let exec = pods.subresource("exec").expect("pods/exec");
        assert_eq!(
            (exec.kind, exec.verbs),
            ("PodExecOptions", &["create", "get"][..])
        );
        let eviction = pods.subresource("eviction").expect("pods/eviction");
        assert_eq!(eviction.api_version(), "policy/v1");
        assert!(eviction.is_other_group_version(pods));
        assert!(
            !pods
                .subresource("binding")
                .expect("pods/binding")
                .is_other_group_version(pods)
        );
        assert_eq!(pods.subresource("log").map(|s| s.verbs), Some(&["get"][..]));
        assert_eq!(pods.subresource("resize").map(|s| s.kind), Some("Pod"));

        let ns = lookup("", "v1", "namespaces").expect("namespaces");
        assert!(!ns.has_verb("deletecollection"));
        assert_eq!(
            ns.subresource("finalize").map(|s| s.verbs),
            Some(&["update"][..])
        );

        let deploy = lookup("apps", "v1", "deployments").expect("deployments");
        assert_eq!(deploy.api_version(), "apps/v1");
        assert_eq!(deploy.list_kind(), "DeploymentList");
        let scale = deploy.subresource("scale").expect("deployments/scale");
        assert_eq!(
            (scale.group, scale.version, scale.kind),
            ("autoscaling", "v1", "Scale")
        );

        let sa = lookup("", "v1", "serviceaccounts").expect("serviceaccounts");
        assert_eq!(
            sa.subresource("token").map(|s| s.api_version()).as_deref(),
            Some("authentication.k8s.io/v1")
        );

        assert_eq!(
            lookup("", "v1", "componentstatuses").map(|r| r.verbs),
            Some(GET_LIST)
        );
        assert_eq!(lookup("", "v1", "bindings").map(|r| r.verbs), Some(CREATE));
        assert_eq!(
            lookup("", "v1", "endpoints").map(|r| r.singular),
            Some("endpoints")
        );
        assert_eq!(
            lookup("", "v1", "configmaps").map(|r| r.scope()),
            Some("Namespaced")
        );
        assert!(lookup("", "v1", "configmaps").is_some_and(|r| !r.has_status()));
        assert!(lookup("resource.k8s.io", "v1beta1", "resourceclaims").is_none());
    }

    #[test]
    fn create_only_resources_are_virtual() {
        let create_only: BTreeSet<_> = resources()
            .iter()
            .filter(|r| r.is_create_only())
            .map(|r| r.resource)
            .collect();
        let expected: BTreeSet<_> = [
            "bindings",
            "localsubjectaccessreviews",
            "selfsubjectaccessreviews",
            "selfsubjectreviews",
            "selfsubjectrulesreviews",
            "subjectaccessreviews",
            "tokenreviews",
        ]
        .into_iter()
        .collect();
        assert_eq!(create_only, expected);
        for r in resources() {
            // Stored exactly when the resource can be listed.
            assert_eq!(r.is_stored(), r.has_verb("watch"), "{}", r.resource);
            assert!(!(r.is_create_only() && r.is_stored()), "{}", r.resource);
        }
        assert!(lookup("", "v1", "componentstatuses").is_some_and(|r| !r.is_stored()));
    }

    #[test]
    fn storage_matches_upstream_key_layout() {
        let cases = [
            ("", "v1", "pods", "/registry/pods"),
            ("", "v1", "nodes", "/registry/minions"),
            ("", "v1", "services", "/registry/services/specs"),
            ("", "v1", "endpoints", "/registry/services/endpoints"),
            ("", "v1", "replicationcontrollers", "/registry/controllers"),
            ("apps", "v1", "deployments", "/registry/deployments"),
            ("networking.k8s.io", "v1", "ingresses", "/registry/ingress"),
            (
                "autoscaling",
                "v1",
                "horizontalpodautoscalers",
                "/registry/horizontalpodautoscalers",
            ),
            ("events.k8s.io", "v1", "events", "/registry/events"),
            (
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "/registry/apiextensions.k8s.io/customresourcedefinitions",
            ),
            (
                "apiregistration.k8s.io",
                "v1",
                "apiservices",
                "/registry/apiregistration.k8s.io/apiservices",
            ),
        ];
        for (g, v, res, prefix) in cases {
            assert_eq!(
                lookup(g, v, res).and_then(|r| r.storage_prefix()),
                Some(prefix),
                "{g}/{v} {res}"
            );
        }
        assert_eq!(
            custom_resource_storage_prefix("cr.bar.com", "foos"),
            "/registry/cr.bar.com/foos"
        );
    }

    #[test]
    fn shared_storage_has_one_storage_version_and_one_kind() {
        let mut prefixes: Vec<&str> = resources()
            .iter()
            .filter_map(|r| r.storage_prefix())
            .collect();
        prefixes.sort_unstable();
        prefixes.dedup();
        for prefix in prefixes {
            let peers: Vec<_> = resources()
                .iter()
                .filter(|r| r.storage_prefix() == Some(prefix))
                .collect();
            let first = peers[0];
            for p in &peers {
                assert_eq!(p.storage_version(), first.storage_version(), "{prefix}");
                assert_eq!(
                    (p.kind, p.namespaced),
                    (first.kind, first.namespaced),
                    "{prefix}"
                );
                assert_eq!(p.sharing_storage().count(), peers.len());
                // The storage version is a served version of the same kind.
                let (g, v) = p.storage_version().expect("stored");
                assert!(
                    lookup_kind(g, v, p.kind).is_some(),
                    "{prefix} stored as unserved {g}/{v}"
                );
            }
            if peers.len() > 1 {
                let names: BTreeSet<_> = peers
                    .iter()
                    .map(|p| (p.group, p.version, p.resource))
                    .collect();
                assert!(
                    names
                        == [("", "v1", "events"), ("events.k8s.io", "v1", "events")]
                            .into_iter()
                            .collect()
                        || names
                            == [
                                ("autoscaling", "v1", "horizontalpodautoscalers"),
                                ("autoscaling", "v2", "horizontalpodautoscalers")
                            ]
                            .into_iter()
                            .collect(),
                    "{prefix} shared by {names:?}"
                );
            }
        }
    }

    #[test]
    fn hpa_versions_are_the_same_objects() {
        let versions: Vec<_> = all_versions_of("autoscaling", "horizontalpodautoscalers")
            .map(|r| r.version)
            .collect();
        assert_eq!(versions, ["v2", "v1"]);
        for r in all_versions_of("autoscaling", "horizontalpodautoscalers") {
            assert_eq!(r.storage_version(), Some(("autoscaling", "v2")));
        }
        assert_eq!(all_versions_of("apps", "deployments").count(), 1);
        assert_eq!(all_versions_of("nosuch", "things").count(), 0);
        let pods = lookup("", "v1", "pods").expect("pods");
        assert_eq!(pods.sharing_storage().collect::<Vec<_>>(), [pods]);
        let review = lookup("authentication.k8s.io", "v1", "tokenreviews").expect("tokenreviews");
        assert_eq!(review.sharing_storage().collect::<Vec<_>>(), [review]);
    }
}
