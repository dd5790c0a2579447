//! The `components.schemas` of the OpenAPI v3 documents: one JSON schema per
//! definition (`io.k8s.api.apps.v1.Deployment`, ...), with descriptions, types
//! and required fields from the `k8s-openapi` crate (its `schemars` impls are
//! generated from upstream's definitions) and the Kubernetes extensions that
//! crate leaves out, added here from skiff's own tables:
//! `x-kubernetes-group-version-kind` (from the registry),
//! `x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`,
//! `x-kubernetes-list-type` and `x-kubernetes-list-map-keys` (from the
//! strategic-merge-patch table in `skiff_core::strategic_merge`),
//! `x-kubernetes-map-type` and `x-kubernetes-unions` (small tables below).
//!
//! Does not own: paths and operations (`paths.rs`), serving (`openapi.rs`).

use std::collections::BTreeMap;

use k8s_openapi::Resource;
use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};
use skiff_core::strategic_merge;

use k8s_openapi::api::{
    admissionregistration, apps, authentication, authorization, autoscaling, batch, certificates,
    coordination, core, discovery, events, flowcontrol, networking, node, policy, rbac, scheduling,
    storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration;

/// Prefix of a reference to another definition in a v3 document.
pub(super) const REF_PREFIX: &str = "#/components/schemas/";

/// A `group`/`version`/`kind` as the `x-kubernetes-group-version-kind`
/// extension spells it (keys sorted, as upstream marshals them).
pub(super) fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({ "group": group, "kind": kind, "version": version })
}

/// `{"$ref": ...}` to definition `name`.
pub(super) fn reference(name: &str) -> Value {
    json!({ "$ref": format!("{REF_PREFIX}{name}") })
}

macro_rules! kinds {
    ($($ty:ty),* $(,)?) => {
        /// Adds the schema of the built-in kind `group`/`version`/`kind` (and
        /// of every type it uses) to `generator`; returns its definition name,
        /// or `None` for kinds without a schema (connect options).
        fn add_kind(generator: &mut SchemaGenerator, group: &str, version: &str, kind: &str) -> Option<String> {
            $(
                if <$ty as Resource>::GROUP == group
                    && <$ty as Resource>::VERSION == version
                    && <$ty as Resource>::KIND == kind
                {
                    generator.subschema_for::<$ty>();
                    return Some(<$ty as JsonSchema>::schema_name().into_owned());
                }
            )*
            None
        }
    };
}

// Every kind of `skiff_core::registry` and of its subresources
// (a test checks that none is missing).
kinds![
    core::v1::Binding,
    core::v1::ComponentStatus,
    core::v1::ConfigMap,
    core::v1::Endpoints,
    core::v1::Event,
    core::v1::LimitRange,
    core::v1::Namespace,
    core::v1::Node,
    core::v1::PersistentVolumeClaim,
    core::v1::PersistentVolume,
    core::v1::Pod,
    core::v1::PodTemplate,
    core::v1::ReplicationController,
    core::v1::ResourceQuota,
    core::v1::Secret,
    core::v1::ServiceAccount,
    core::v1::Service,
    apiregistration::v1::APIService,
    apps::v1::ControllerRevision,
    apps::v1::DaemonSet,
    apps::v1::Deployment,
    apps::v1::ReplicaSet,
    apps::v1::StatefulSet,
    events::v1::Event,
    authentication::v1::SelfSubjectReview,
    authentication::v1::TokenReview,
    authentication::v1::TokenRequest,
    authorization::v1::LocalSubjectAccessReview,
    authorization::v1::SelfSubjectAccessReview,
    authorization::v1::SelfSubjectRulesReview,
    authorization::v1::SubjectAccessReview,
    autoscaling::v1::HorizontalPodAutoscaler,
    autoscaling::v1::Scale,
    autoscaling::v2::HorizontalPodAutoscaler,
    batch::v1::CronJob,
    batch::v1::Job,
    certificates::v1::CertificateSigningRequest,
    networking::v1::IngressClass,
    networking::v1::Ingress,
    networking::v1::IPAddress,
    networking::v1::NetworkPolicy,
    networking::v1::ServiceCIDR,
    policy::v1::Eviction,
    policy::v1::PodDisruptionBudget,
    rbac::v1::ClusterRoleBinding,
    rbac::v1::ClusterRole,
    rbac::v1::RoleBinding,
    rbac::v1::Role,
    storage::v1::CSIDriver,
    storage::v1::CSINode,
    storage::v1::CSIStorageCapacity,
    storage::v1::StorageClass,
    storage::v1::VolumeAttachment,
    admissionregistration::v1::MutatingWebhookConfiguration,
    admissionregistration::v1::ValidatingAdmissionPolicy,
    admissionregistration::v1::ValidatingAdmissionPolicyBinding,
    admissionregistration::v1::ValidatingWebhookConfiguration,
    apiextensions::v1::CustomResourceDefinition,
    scheduling::v1::PriorityClass,
    coordination::v1::Lease,
    node::v1::RuntimeClass,
    discovery::v1::EndpointSlice,
    flowcontrol::v1::FlowSchema,
    flowcontrol::v1::PriorityLevelConfiguration,
];

/// Definitions every group version's operations use.
pub(super) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(super) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(super) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(super) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub(super) const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// A discriminated union (`x-kubernetes-unions`): definition,
/// discriminator, and (field, discriminator value) pairs.
type Union = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const UNIONS: &[Union] = &[
    (
        "io.k8s.api.core.v1.AppArmorProfile",
        "type",
        &[("localhostProfile", "LocalhostProfile")],
    ),
    (
        "io.k8s.api.core.v1.SeccompProfile",
        "type",
        &[("localhostProfile", "LocalhostProfile")],
    ),
    (
        "io.k8s.api.flowcontrol.v1.LimitResponse",
        "type",
        &[("queuing", "Queuing")],
    ),
    (
        "io.k8s.api.flowcontrol.v1.PriorityLevelConfigurationSpec",
        "type",
        &[("exempt", "Exempt"), ("limited", "Limited")],
    ),
    (
        "io.k8s.api.flowcontrol.v1.Subject",
        "kind",
        &[
            ("group", "Group"),
            ("serviceAccount", "ServiceAccount"),
            ("user", "User"),
        ],
    ),
];

/// Collects the definitions one document needs.
pub(super) struct Components {
    generator: SchemaGenerator,
    /// `x-kubernetes-group-version-kind` of each definition that has one.
    gvks: BTreeMap<String, Vec<Value>>,
    /// Definitions written here rather than generated (lists).
    own: BTreeMap<String, Value>,
}

impl Components {
    pub(super) fn new() -> Components {
        let mut generator = SchemaSettings::openapi3().into_generator();
        generator.subschema_for::<meta::v1::DeleteOptions>();
        generator.subschema_for::<meta::v1::Status>();
        generator.subschema_for::<meta::v1::Patch>();
        generator.subschema_for::<meta::v1::APIResourceList>();
        generator.subschema_for::<meta::v1::ListMeta>();
        generator.subschema_for::<meta::v1::WatchEvent<k8s_openapi::apimachinery::pkg::runtime::RawExtension>>();
        let mut gvks = BTreeMap::new();
        gvks.insert(STATUS.to_string(), vec![gvk("", "v1", "Status")]);
        Components {
            generator,
            gvks,
            own: BTreeMap::new(),
        }
    }

    /// Adds kind `group`/`version`/`kind`; returns its definition name.
    pub(super) fn kind(&mut self, group: &str, version: &str, kind: &str) -> Option<String> {
        let name = add_kind(&mut self.generator, group, version, kind)?;
        let entry = self.gvks.entry(name.clone()).or_default();
        let own = gvk(group, version, kind);
        if !entry.contains(&own) {
            entry.push(own);
        }
        Some(name)
    }

    /// Adds `<Kind>List` for the kind defined as `item`; returns its name.
    pub(super) fn list(&mut self, item: &str, group: &str, version: &str, kind: &str) -> String {
        let name = format!("{item}List");
        let list_kind = format!("{kind}List");
        self.gvks
            .insert(name.clone(), vec![gvk(group, version, &list_kind)]);
        self.own
            .entry(name.clone())
            .or_insert_with(|| list_schema(item, kind));
        name
    }

    /// Marks `name` (DeleteOptions, WatchEvent) as used by `group`/`version`.
    pub(super) fn shared(&mut self, name: &str, group: &str, version: &str, kind: &str) {
        let entry = self.gvks.entry(name.to_string()).or_default();
        let own = gvk(group, version, kind);
        if !entry.contains(&own) {
            entry.push(own);
        }
    }

    /// Every definition, sorted by name, with the Kubernetes extensions.
    pub(super) fn finish(mut self) -> Map<String, Value> {
        let mut all: BTreeMap<String, Value> =
            self.generator.take_definitions(true).into_iter().collect();
        all.append(&mut self.own);
        all.into_iter()
            .map(|(name, mut schema)| {
                decorate(&name, &mut schema, self.gvks.get(&name));
                (name, schema)
            })
            .collect()
    }
}

fn list_schema(item: &str, kind: &str) -> Value {
    let mut items_ref = Map::new();
    items_ref.insert("allOf".into(), json!([reference(item)]));
    json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string",
            },
            "items": {
                "description": format!("The {kind} objects of the list."),
                "items": items_ref,
                "type": "array",
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string",
            },
            "metadata": {
                "allOf": [reference(LIST_META)],
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            },
        },
        "required": ["items"],
        "type": "object",
    })
}

/// Brings one generated definition to upstream's shape and adds the
/// extensions `k8s-openapi` does not carry.
fn decorate(name: &str, schema: &mut Value, gvks: Option<&Vec<Value>>) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    match name {
        // As upstream's v3 (`OpenAPIV3OneOfTypes` of the Go types); v2
        // turns `oneOf` back into `type: string`. `k8s-openapi` has bare
        // `x-kubernetes-int-or-string` schemas for both.
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            obj.remove("x-kubernetes-int-or-string");
            obj.insert("format".into(), "int-or-string".into());
            obj.insert(
                "oneOf".into(),
                json!([{ "type": "integer" }, { "type": "string" }]),
            );
        }
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            obj.remove("x-kubernetes-int-or-string");
            obj.insert(
                "oneOf".into(),
                json!([{ "type": "string" }, { "type": "number" }]),
            );
        }
        _ => {}
    }
    if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
        for (field, prop) in props.iter_mut() {
            let Some(prop) = prop.as_object_mut() else {
                continue;
            };
            if let Some(meta) = strategic_merge::patch_meta_of_type(name, &[field.as_str()]) {
                if let Some(s) = meta.strategy.as_str() {
                    prop.insert("x-kubernetes-patch-strategy".into(), s.into());
                }
                if let Some(k) = meta.merge_key {
                    prop.insert("x-kubernetes-patch-merge-key".into(), k.into());
                }
                if let Some(t) = meta.list_type {
                    prop.insert("x-kubernetes-list-type".into(), t.as_str().into());
                }
                if !meta.list_map_keys.is_empty() {
                    prop.insert(
                        "x-kubernetes-list-map-keys".into(),
                        json!(meta.list_map_keys),
                    );
                }
            }
            if let Some(atomic) =
                skiff_core::strategic_merge::schema::property_map_type(name, field)
            {
                let t = if atomic { "atomic" } else { "granular" };
                prop.insert("x-kubernetes-map-type".into(), t.into());
            }
        }
    }
    if skiff_core::strategic_merge::schema::type_is_atomic(name) {
        obj.insert("x-kubernetes-map-type".into(), "atomic".into());
    }
    if let Some((_, discriminator, fields)) = UNIONS.iter().find(|(d, _, _)| *d == name) {
        let fields: Map<String, Value> = fields
            .iter()
            .map(|(f, v)| ((*f).to_string(), (*v).into()))
            .collect();
        obj.insert(
            "x-kubernetes-unions".into(),
            json!([{ "discriminator": discriminator, "fields-to-discriminateBy": fields }]),
        );
    }
    if let Some(gvks) = gvks {
        // `k8s-openapi` marks `metadata` of every kind required (it is not an
        // `Option` there); upstream never does.
        if let Some(required) = obj.get_mut("required").and_then(Value::as_array_mut) {
            required.retain(|f| f != "metadata");
            if required.is_empty() {
                obj.remove("required");
            }
        }
        obj.insert(
            "x-kubernetes-group-version-kind".into(),
            Value::Array(gvks.clone()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_core::registry;

    #[test]
    fn every_registry_kind_has_a_schema() {
        let mut generator = SchemaSettings::openapi3().into_generator();
        for r in registry::resources() {
            assert!(
                add_kind(&mut generator, r.group, r.version, r.kind).is_some(),
                "{}/{} {}",
                r.group,
                r.version,
                r.kind
            );
            for s in r.subresources {
                let options = s.kind.ends_with("Options");
                assert_eq!(
                    add_kind(&mut generator, s.group, s.version, s.kind).is_some(),
                    !options,
                    "{} {}",
                    r.resource,
                    s.name
                );
            }
        }
    }
}
