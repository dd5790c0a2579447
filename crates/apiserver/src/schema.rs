//! The typed schema of every built-in kind, from the k8s-openapi types: objects
//! are decoded into their Go-equivalent types and encoded back, which drops
//! unknown fields and rejects wrongly typed ones as kube-apiserver's decoder
//! does, and reports the unknown fields for `fieldValidation`.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use skiff_core::Status;

/// What a decode found.
pub struct Normalized {
    pub object: Value,
    /// What strict decoding reports, in document order: `unknown field
    /// "spec.foo"` for fields the schema does not know, `duplicate field
    /// "spec.paused"` for known fields the body repeated.
    pub strict_errors: Vec<String>,
}

fn roundtrip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    // Deserialized from the borrowed value: no copy of the object first.
    let typed = T::deserialize(v).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

type Roundtrip = fn(&Value) -> Result<Value, String>;

macro_rules! kinds {
    ($( ($group:literal, $version:literal, $kind:literal) => $ty:ty ),* $(,)?) => {
        fn roundtrip_for(group: &str, version: &str, kind: &str) -> Option<Roundtrip> {
            match (group, version, kind) {
                $( ($group, $version, $kind) => Some(roundtrip::<$ty>), )*
                _ => None,
            }
        }
    };
}

use k8s_openapi::api as a;
kinds! {
    ("", "v1", "Binding") => a::core::v1::Binding,
    ("", "v1", "ComponentStatus") => a::core::v1::ComponentStatus,
    ("", "v1", "ConfigMap") => a::core::v1::ConfigMap,
    ("", "v1", "Endpoints") => a::core::v1::Endpoints,
    ("", "v1", "Event") => a::core::v1::Event,
    ("", "v1", "LimitRange") => a::core::v1::LimitRange,
    ("", "v1", "Namespace") => a::core::v1::Namespace,
    ("", "v1", "Node") => a::core::v1::Node,
    ("", "v1", "PersistentVolumeClaim") => a::core::v1::PersistentVolumeClaim,
    ("", "v1", "PersistentVolume") => a::core::v1::PersistentVolume,
    ("", "v1", "Pod") => a::core::v1::Pod,
    ("", "v1", "PodTemplate") => a::core::v1::PodTemplate,
    ("", "v1", "ReplicationController") => a::core::v1::ReplicationController,
    ("", "v1", "ResourceQuota") => a::core::v1::ResourceQuota,
    ("", "v1", "Secret") => a::core::v1::Secret,
    ("", "v1", "ServiceAccount") => a::core::v1::ServiceAccount,
    ("", "v1", "Service") => a::core::v1::Service,
    ("apiregistration.k8s.io", "v1", "APIService") => k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService,
    ("apps", "v1", "ControllerRevision") => a::apps::v1::ControllerRevision,
    ("apps", "v1", "DaemonSet") => a::apps::v1::DaemonSet,
    ("apps", "v1", "Deployment") => a::apps::v1::Deployment,
    ("apps", "v1", "ReplicaSet") => a::apps::v1::ReplicaSet,
    ("apps", "v1", "StatefulSet") => a::apps::v1::StatefulSet,
    ("events.k8s.io", "v1", "Event") => a::events::v1::Event,
    ("authentication.k8s.io", "v1", "SelfSubjectReview") => a::authentication::v1::SelfSubjectReview,
    ("authentication.k8s.io", "v1", "TokenReview") => a::authentication::v1::TokenReview,
    ("authentication.k8s.io", "v1", "TokenRequest") => a::authentication::v1::TokenRequest,
    ("authorization.k8s.io", "v1", "LocalSubjectAccessReview") => a::authorization::v1::LocalSubjectAccessReview,
    ("authorization.k8s.io", "v1", "SelfSubjectAccessReview") => a::authorization::v1::SelfSubjectAccessReview,
    ("authorization.k8s.io", "v1", "SelfSubjectRulesReview") => a::authorization::v1::SelfSubjectRulesReview,
    ("authorization.k8s.io", "v1", "SubjectAccessReview") => a::authorization::v1::SubjectAccessReview,
    ("autoscaling", "v2", "HorizontalPodAutoscaler") => a::autoscaling::v2::HorizontalPodAutoscaler,
    ("autoscaling", "v1", "HorizontalPodAutoscaler") => a::autoscaling::v1::HorizontalPodAutoscaler,
    ("autoscaling", "v1", "Scale") => a::autoscaling::v1::Scale,
    ("batch", "v1", "CronJob") => a::batch::v1::CronJob,
    ("batch", "v1", "Job") => a::batch::v1::Job,
    ("certificates.k8s.io", "v1", "CertificateSigningRequest") => a::certificates::v1::CertificateSigningRequest,
    ("networking.k8s.io", "v1", "IngressClass") => a::networking::v1::IngressClass,
    ("networking.k8s.io", "v1", "Ingress") => a::networking::v1::Ingress,
    ("networking.k8s.io", "v1", "IPAddress") => a::networking::v1::IPAddress,
    ("networking.k8s.io", "v1", "NetworkPolicy") => a::networking::v1::NetworkPolicy,
    ("networking.k8s.io", "v1", "ServiceCIDR") => a::networking::v1::ServiceCIDR,
    ("policy", "v1", "PodDisruptionBudget") => a::policy::v1::PodDisruptionBudget,
    ("policy", "v1", "Eviction") => a::policy::v1::Eviction,
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding") => a::rbac::v1::ClusterRoleBinding,
    ("rbac.authorization.k8s.io", "v1", "ClusterRole") => a::rbac::v1::ClusterRole,
    ("rbac.authorization.k8s.io", "v1", "RoleBinding") => a::rbac::v1::RoleBinding,
    ("rbac.authorization.k8s.io", "v1", "Role") => a::rbac::v1::Role,
    ("storage.k8s.io", "v1", "CSIDriver") => a::storage::v1::CSIDriver,
    ("storage.k8s.io", "v1", "CSINode") => a::storage::v1::CSINode,
    ("storage.k8s.io", "v1", "CSIStorageCapacity") => a::storage::v1::CSIStorageCapacity,
    ("storage.k8s.io", "v1", "StorageClass") => a::storage::v1::StorageClass,
    ("storage.k8s.io", "v1", "VolumeAttachment") => a::storage::v1::VolumeAttachment,
    ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration") => a::admissionregistration::v1::MutatingWebhookConfiguration,
    ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy") => a::admissionregistration::v1::ValidatingAdmissionPolicy,
    ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding") => a::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
    ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration") => a::admissionregistration::v1::ValidatingWebhookConfiguration,
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition") => k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    ("scheduling.k8s.io", "v1", "PriorityClass") => a::scheduling::v1::PriorityClass,
    ("coordination.k8s.io", "v1", "Lease") => a::coordination::v1::Lease,
    ("node.k8s.io", "v1", "RuntimeClass") => a::node::v1::RuntimeClass,
    ("discovery.k8s.io", "v1", "EndpointSlice") => a::discovery::v1::EndpointSlice,
    ("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema") => a::flowcontrol::v1::FlowSchema,
    ("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration") => a::flowcontrol::v1::PriorityLevelConfiguration,
}

/// Decodes an object of a built-in kind through its type. Kinds without a type
/// pass unchanged.
///
/// `duplicates` are the paths of fields the body repeated; those inside an
/// unknown field are not reported again, as upstream's decoder skips them.
pub fn normalize(
    group: &str,
    version: &str,
    kind: &str,
    obj: Value,
    duplicates: &[String],
) -> Result<Normalized, Status> {
    let Some(rt) = roundtrip_for(group, version, kind) else {
        return Ok(Normalized {
            strict_errors: duplicates
                .iter()
                .map(|d| format!("duplicate field {d:?}"))
                .collect(),
            object: obj,
        });
    };
    let typed = rt(&obj).map_err(|e| {
        let gv = skiff_core::meta::api_version(group, version);
        Status::bad_request(format!(
            "{kind} in version {:?} cannot be handled as a {kind}: {e}",
            gv_version(&gv)
        ))
    })?;
    let mut strict_errors = Vec::new();
    let mut walk = StrictWalk {
        duplicates,
        path: String::new(),
        out: &mut strict_errors,
    };
    walk.visit(&obj, &typed);
    Ok(Normalized {
        object: typed,
        strict_errors,
    })
}

fn gv_version(gv: &str) -> &str {
    gv.rsplit('/').next().unwrap_or(gv)
}

/// Walks the input beside its typed form in document order, reporting fields
/// present (and not null) in the input but absent from the typed form, and
/// known fields that the body repeated.
struct StrictWalk<'a> {
    duplicates: &'a [String],
    path: String,
    out: &'a mut Vec<String>,
}

impl StrictWalk<'_> {
    fn visit(&mut self, input: &Value, typed: &Value) {
        match (input, typed) {
            (Value::Object(i), Value::Object(t)) => {
                for (k, v) in i {
                    let len = self.path.len();
                    if !self.path.is_empty() {
                        self.path.push('.');
                    }
                    self.path.push_str(k);
                    match t.get(k) {
                        _ if v.is_null() => {}
                        Some(tv) => {
                            if self.duplicates.contains(&self.path) {
                                self.out.push(format!("duplicate field {:?}", self.path));
                            }
                            self.visit(v, tv);
                        }
                        None => self.out.push(format!("unknown field {:?}", self.path)),
                    }
                    self.path.truncate(len);
                }
            }
            (Value::Array(i), Value::Array(t)) => {
                for (n, (iv, tv)) in i.iter().zip(t).enumerate() {
                    let len = self.path.len();
                    self.path.push_str(&format!("[{n}]"));
                    self.visit(iv, tv);
                    self.path.truncate(len);
                }
            }
            _ => {}
        }
    }
}

/// How the request wants unknown fields handled (`fieldValidation`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(v: Option<&str>) -> Result<FieldValidation, Status> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(Status::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
            ))),
        }
    }
}

/// Applies the request's field validation to what a decode found: an error
/// under Strict, warnings under Warn.
pub fn check_unknown(
    mode: FieldValidation,
    kind: &str,
    version: &str,
    strict_errors: &[String],
    warnings: &mut Vec<String>,
) -> Result<(), Status> {
    if strict_errors.is_empty() || mode == FieldValidation::Ignore {
        return Ok(());
    }
    let list = strict_errors.to_vec();
    if mode == FieldValidation::Strict {
        return Err(Status::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
            list.join(", ")
        )));
    }
    warnings.extend(list);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_found_and_dropped() {
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "a", "bogus": 1},
            "spec": {"foo": true, "selector": {"matchLabels": {"a": "b"}},
                     "template": {"spec": {"containers": [{"name": "c", "image": "i", "bar": 2}]}}},
        });
        let n = normalize("apps", "v1", "Deployment", obj, &[]).expect("decodes");
        assert_eq!(
            n.strict_errors,
            [
                "unknown field \"metadata.bogus\"",
                "unknown field \"spec.foo\"",
                "unknown field \"spec.template.spec.containers[0].bar\""
            ]
        );
        assert!(n.object["spec"].get("foo").is_none());
        assert_eq!(n.object["spec"]["selector"]["matchLabels"]["a"], "b");
    }

    #[test]
    fn duplicates_of_known_fields_are_reported_in_document_order() {
        let body = br#"{"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "a", "name": "b"},
            "spec": {"unknown1": 1, "unknownDupe": 1, "unknownDupe": 2,
                     "paused": true, "paused": false,
                     "selector": {"matchLabels": {"a": "b"}}}}"#;
        let d = skiff_core::decode::json(body).expect("decodes");
        let n = normalize("apps", "v1", "Deployment", d.value, &d.duplicates).expect("decodes");
        assert_eq!(
            n.strict_errors,
            [
                "duplicate field \"metadata.name\"",
                "unknown field \"spec.unknown1\"",
                "unknown field \"spec.unknownDupe\"",
                "duplicate field \"spec.paused\"",
            ]
        );
        assert_eq!(n.object["spec"]["paused"], false);
        assert_eq!(n.object["metadata"]["name"], "b");
    }

    #[test]
    fn wrong_types_are_bad_requests() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}, "spec": {"replicas": "three"}});
        let err = normalize("apps", "v1", "Deployment", obj, &[])
            .err()
            .expect("rejected");
        assert_eq!(err.code, 400);
        assert!(
            err.message
                .starts_with("Deployment in version \"v1\" cannot be handled as a Deployment: "),
            "{}",
            err.message
        );
    }

    #[test]
    fn strict_names_every_unknown_field() {
        let mut w = Vec::new();
        let err = check_unknown(
            FieldValidation::Strict,
            "Pod",
            "v1",
            &[
                "unknown field \"spec.a\"".into(),
                "duplicate field \"spec.b\"".into(),
            ],
            &mut w,
        )
        .expect_err("strict fails");
        assert_eq!(
            err.message,
            "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.a\", duplicate field \"spec.b\""
        );
        check_unknown(
            FieldValidation::Warn,
            "Pod",
            "v1",
            &["unknown field \"spec.a\"".into()],
            &mut w,
        )
        .expect("warn passes");
        assert_eq!(w, ["unknown field \"spec.a\""]);
    }
}
