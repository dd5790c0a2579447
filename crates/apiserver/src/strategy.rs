//! Per-kind strategies: what differs between kinds in the generic REST store,
//! as `pkg/registry/<group>/<resource>/strategy.go` upstream.
//!
//! A kind with no special needs uses [`Default`]. Strategies work on JSON objects
//! and never touch the store.

use serde_json::Value;
use skiff_core::registry::ResourceInfo;
use skiff_core::status::FieldError;
use skiff_core::validation::NameRule;

mod apps;
mod autoscaling;
mod batch;
pub(crate) mod core_v1;
mod events;
mod limit_range;

/// What the generic store asks of a kind.
pub trait Strategy: Send + Sync {
    /// Name validation rule for `metadata.name`.
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    /// Whether `metadata.generation` is tracked (1 on create, bumped on spec change).
    fn tracks_generation(&self) -> bool {
        false
    }

    /// Whether a DELETE answers with the object (true) or a `Success` Status.
    fn return_deleted_object(&self) -> bool {
        false
    }

    /// Whether a create keeps the `status` it was given (nodes: kubelet
    /// registers with its status). Others start with a cleared status.
    fn keeps_status_on_create(&self) -> bool {
        false
    }

    /// Upstream's defaulting (`SetDefaults_*` of the v1 types).
    fn default(&self, _obj: &mut Value) {}

    /// Kind-specific preparation on create, after status is reset.
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// Kind-specific preparation on update (the main endpoint).
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}

    /// Kind-specific validation of an object, on create and on update.
    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    /// Rules only a create checks, after [`Strategy::validate`] (upstream's
    /// `Validate` where it differs from `ValidateUpdate`).
    fn validate_create(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    /// Kind-specific validation of an update (immutable fields).
    fn validate_update(&self, _new: &Value, _old: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    /// Field selector attributes besides `metadata.name` and `metadata.namespace`.
    ///
    /// The watch cache calls this with a reduced copy of the object (see
    /// `cache/item.rs`): only members outside `metadata` at the top level and
    /// one level below (`spec.nodeName`, `status.phase`), and only strings,
    /// numbers, booleans and nulls. A selector on anything deeper needs that
    /// copy extended first.
    fn field_attrs(&self, _obj: &Value, _out: &mut Vec<(&'static str, String)>) {}

    /// Field labels a field selector may use besides name and namespace.
    fn field_labels(&self) -> &'static [&'static str] {
        &[]
    }
}

/// The strategy of a kind with no special rules.
pub struct Default;

impl Strategy for Default {}

/// Strategy of kinds that only have `metadata.generation` to track.
pub struct Generational;

impl Strategy for Generational {
    fn tracks_generation(&self) -> bool {
        true
    }
}

/// The strategy for a resource. A strategy works on objects in the resource's
/// storage version (see `skiff_core::conversion`).
pub fn for_resource(info: &ResourceInfo) -> &'static dyn Strategy {
    match (info.group, info.resource) {
        ("", "pods") => &core_v1::Pod,
        ("", "services") => &core_v1::Service,
        ("", "namespaces") => &core_v1::Namespace,
        ("", "nodes") => &core_v1::Node,
        // Both event APIs run the pipeline on the stored core Event, each
        // with the rules of its own version.
        ("", "events") => &events::CORE_EVENT,
        ("events.k8s.io", "events") => &events::EVENTS_V1_EVENT,
        ("", "secrets") => &core_v1::Secret,
        ("", "configmaps") => &core_v1::ConfigMap,
        ("", "replicationcontrollers") => &core_v1::ReplicationController,
        ("", "serviceaccounts") => &core_v1::ServiceAccount,
        ("", "limitranges") => &limit_range::LimitRange,
        ("apps", "deployments") => &apps::Deployment,
        ("apps", "replicasets") => &apps::ReplicaSet,
        ("apps", "statefulsets") => &apps::StatefulSet,
        ("apps", "daemonsets") => &apps::DaemonSet,
        ("batch", "jobs") => &batch::Job,
        ("batch", "cronjobs") => &batch::CronJob,
        ("autoscaling", "horizontalpodautoscalers") => &autoscaling::HorizontalPodAutoscaler,
        ("networking.k8s.io", "ingresses" | "networkpolicies")
        | ("policy", "poddisruptionbudgets")
        | ("apiextensions.k8s.io", "customresourcedefinitions")
        | ("admissionregistration.k8s.io", "validatingadmissionpolicies")
        | ("flowcontrol.apiserver.k8s.io", "flowschemas" | "prioritylevelconfigurations") => {
            &Generational
        }
        _ => &Default,
    }
}

/// `obj[path...]` as a string ("" when absent or not a string).
pub(crate) fn str_at<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    let mut v = obj;
    for p in path {
        match v.get(p) {
            Some(x) => v = x,
            None => return "",
        }
    }
    v.as_str().unwrap_or("")
}

/// Sets `obj[path]` to `value` when absent, creating objects on the way.
pub(crate) fn default_at(obj: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut v = obj;
    for p in parents {
        let Some(map) = v.as_object_mut() else {
            return;
        };
        v = map
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
    if let Some(map) = v.as_object_mut()
        && map.get(*last).is_none_or(Value::is_null)
    {
        map.insert(last.to_string(), value);
    }
}
