//! Strategies of core/v1 kinds.

use serde_json::{Value, json};
use skiff_core::status::FieldError;
use skiff_core::validation::{self, NameRule};

use super::{Strategy, default_at, str_at};

/// Pod-spec defaults of `SetDefaults_PodSpec` and `SetDefaults_Container`
/// (and `SetDefaults_Pod` for a pod's own spec). Used by pods and every pod
/// template. What the admission chain adds is in [`crate::admission`]: the
/// creator does not own it.
pub(crate) fn default_pod_spec(spec: &mut Value, pod: bool) {
    default_at(spec, &["dnsPolicy"], json!("ClusterFirst"));
    default_at(spec, &["restartPolicy"], json!("Always"));
    default_at(spec, &["terminationGracePeriodSeconds"], json!(30));
    default_at(spec, &["securityContext"], json!({}));
    default_at(spec, &["schedulerName"], json!("default-scheduler"));
    if pod {
        default_at(spec, &["enableServiceLinks"], json!(true));
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for c in cs {
                default_container(c);
            }
        }
    }
}

fn default_container(c: &mut Value) {
    default_at(
        c,
        &["terminationMessagePath"],
        json!("/dev/termination-log"),
    );
    default_at(c, &["terminationMessagePolicy"], json!("File"));
    default_at(c, &["resources"], json!({}));
    let image = str_at(c, &["image"]);
    // kubelet/defaults.go: Always for `:latest` or no tag, unless pinned by digest.
    let tag = image
        .rsplit_once('/')
        .map_or(image, |(_, last)| last)
        .split_once(':')
        .map(|(_, t)| t);
    let pull = if image.contains('@') || tag.is_some_and(|t| t != "latest") {
        "IfNotPresent"
    } else {
        "Always"
    };
    default_at(c, &["imagePullPolicy"], json!(pull));
    if let Some(Value::Array(ports)) = c.get_mut("ports") {
        for p in ports {
            default_at(p, &["protocol"], json!("TCP"));
        }
    }
    // Requests default to limits when only limits are given.
    let limits = c.pointer("/resources/limits").cloned();
    if let Some(Value::Object(limits)) = limits {
        for (k, v) in limits {
            default_at(c, &["resources", "requests", &k], v);
        }
    }
}

/// The QoS class of a pod from its containers' requests and limits.
fn qos_class(spec: &Value) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    let containers = ["initContainers", "containers"]
        .iter()
        .filter_map(|l| spec.get(*l).and_then(Value::as_array))
        .flatten();
    for c in containers {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        for res in ["cpu", "memory"] {
            let r = req.and_then(|m| m.get(res));
            let l = lim.and_then(|m| m.get(res));
            if r.is_some() || l.is_some() {
                any = true;
            }
            match (r, l) {
                (_, None) => guaranteed = false,
                (Some(r), Some(l)) if r != l => guaranteed = false,
                _ => {}
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Validation of a pod spec shared by pods and templates.
/// A container's name (a DNS label, unique among the pod's containers of
/// every kind: `seen`) and image, at `p`.
fn validate_container_identity<'a>(
    c: &'a Value,
    p: &str,
    seen: &mut std::collections::HashSet<&'a str>,
    errs: &mut Vec<FieldError>,
) {
    let name = str_at(c, &["name"]);
    if name.is_empty() {
        errs.push(FieldError::required(format!("{p}.name"), ""));
    } else {
        for msg in validation::is_dns1123_label(name) {
            errs.push(FieldError::invalid(format!("{p}.name"), &json!(name), msg));
        }
        if !seen.insert(name) {
            errs.push(FieldError::duplicate(format!("{p}.name"), &json!(name)));
        }
    }
    if str_at(c, &["image"]).trim().is_empty() {
        errs.push(FieldError::required(format!("{p}.image"), ""));
    }
}

pub(crate) fn validate_pod_spec(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let containers = spec.get("containers").and_then(Value::as_array);
    match containers {
        None => errs.push(FieldError::required(format!("{path}.containers"), "")),
        Some(cs) if cs.is_empty() => {
            errs.push(FieldError::required(format!("{path}.containers"), ""))
        }
        _ => {}
    }
    let mut seen = std::collections::HashSet::new();
    for list in ["initContainers", "containers"] {
        let Some(cs) = spec.get(list).and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in cs.iter().enumerate() {
            let p = format!("{path}.{list}[{i}]");
            validate_container_identity(c, &p, &mut seen, &mut errs);
            if let Some(ports) = c.get("ports").and_then(Value::as_array) {
                for (j, port) in ports.iter().enumerate() {
                    let n = port
                        .get("containerPort")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    if !(1..=65535).contains(&n) {
                        errs.push(FieldError::invalid(
                            format!("{p}.ports[{j}].containerPort"),
                            &json!(n),
                            "must be between 1 and 65535, inclusive",
                        ));
                    }
                }
            }
        }
    }
    let restart = str_at(spec, &["restartPolicy"]);
    if !restart.is_empty() && !["Always", "OnFailure", "Never"].contains(&restart) {
        errs.push(FieldError::not_supported(
            format!("{path}.restartPolicy"),
            &json!(restart),
            &["Always", "OnFailure", "Never"],
        ));
    }
    errs
}

/// `validateOnlyAddedTolerations`: a pod update may add tolerations and
/// change an existing one's `tolerationSeconds`, nothing else of it.
fn only_added_tolerations(new_spec: &Value, old_spec: &Value) -> Vec<FieldError> {
    let none = Vec::new();
    let list = |spec: &'_ Value| -> Vec<Value> {
        spec.get("tolerations")
            .and_then(Value::as_array)
            .unwrap_or(&none)
            .iter()
            .map(|t| {
                let mut t = t.clone();
                if let Some(m) = t.as_object_mut() {
                    m.remove("tolerationSeconds");
                }
                t
            })
            .collect()
    };
    let new = list(new_spec);
    if list(old_spec).iter().all(|old| new.contains(old)) {
        return Vec::new();
    }
    vec![FieldError::forbidden(
        "spec.tolerations",
        "existing toleration can not be modified except its tolerationSeconds",
    )]
}

/// Members of an ephemeral container that must stay unset: what a debugging
/// container may not rely on (upstream's allow list, inverted, in the
/// order of the container's fields).
const EPHEMERAL_FORBIDDEN: [&str; 8] = [
    "ports",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
];

/// The pod annotation of a static (mirror) pod.
const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// `ValidatePodEphemeralContainersUpdate`: the pod stays valid, each new
/// ephemeral container is named uniquely among all containers, targets a
/// container of the pod, and sets nothing a debugging container may not;
/// the ephemeral containers the pod had are neither removed nor changed.
pub(crate) fn validate_ephemeral_containers_update(new: &Value, old: &Value) -> Vec<FieldError> {
    if old
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(MIRROR_POD_ANNOTATION))
        .is_some()
    {
        return vec![FieldError::forbidden(
            "",
            "static pods do not support ephemeral containers",
        )];
    }
    let spec = new.get("spec").unwrap_or(&Value::Null);
    let mut errs = validate_pod_spec(spec, "spec");
    let mut names: std::collections::HashSet<&str> = ["containers", "initContainers"]
        .iter()
        .filter_map(|l| spec.get(*l).and_then(Value::as_array))
        .flatten()
        .map(|c| str_at(c, &["name"]))
        .collect();
    let targets = names.clone();
    let none = Vec::new();
    let ephemeral = spec
        .get("ephemeralContainers")
        .and_then(Value::as_array)
        .unwrap_or(&none);
    for (i, c) in ephemeral.iter().enumerate() {
        let p = format!("spec.ephemeralContainers[{i}]");
        validate_container_identity(c, &p, &mut names, &mut errs);
        let target = str_at(c, &["targetContainerName"]);
        if !target.is_empty() && !targets.contains(target) {
            errs.push(FieldError::not_found(
                format!("{p}.targetContainerName"),
                &json!(target),
            ));
        }
        for field in EPHEMERAL_FORBIDDEN {
            let set = match c.get(field) {
                None | Some(Value::Null) => false,
                Some(Value::Object(m)) => !m.is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                Some(Value::String(s)) => !s.is_empty(),
                Some(_) => true,
            };
            if set {
                errs.push(FieldError::forbidden(
                    format!("{p}.{field}"),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
    }
    // Existing ones may be neither removed nor changed (by name: a patch
    // need not keep their order).
    let old_ephemeral = old
        .pointer("/spec/ephemeralContainers")
        .and_then(Value::as_array)
        .unwrap_or(&none);
    for before in old_ephemeral {
        let name = str_at(before, &["name"]);
        match ephemeral.iter().find(|c| str_at(c, &["name"]) == name) {
            None => errs.push(FieldError::forbidden(
                "spec.ephemeralContainers",
                format!("existing ephemeral containers {name:?} may not be removed"),
            )),
            Some(after) if after != before => errs.push(FieldError::forbidden(
                "spec.ephemeralContainers",
                format!("existing ephemeral containers {name:?} may not be changed"),
            )),
            Some(_) => {}
        }
    }
    errs
}

pub struct Pod;

impl Strategy for Pod {
    fn return_deleted_object(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        if let Some(spec) = obj.get_mut("spec") {
            default_pod_spec(spec, true);
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        let qos = qos_class(obj.get("spec").unwrap_or(&Value::Null));
        obj["status"] = json!({"phase": "Pending", "qosClass": qos});
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        match obj.get("spec") {
            Some(spec) => validate_pod_spec(spec, "spec"),
            None => vec![FieldError::required("spec.containers", "")],
        }
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        // kube-apiserver lets only images, activeDeadlineSeconds, added
        // tolerations and terminationGracePeriodSeconds change.
        let (Some(new_spec), Some(old_spec)) = (new.get("spec"), old.get("spec")) else {
            return Vec::new();
        };
        let mut masked = old_spec.clone();
        for list in ["containers", "initContainers"] {
            if let (Some(Value::Array(m)), Some(Value::Array(n))) =
                (masked.get_mut(list), new_spec.get(list))
                && m.len() == n.len()
            {
                for (mc, nc) in m.iter_mut().zip(n) {
                    if let Some(img) = nc.get("image") {
                        mc["image"] = img.clone();
                    }
                }
            }
        }
        for field in [
            "activeDeadlineSeconds",
            "tolerations",
            "terminationGracePeriodSeconds",
        ] {
            match new_spec.get(field) {
                Some(v) => masked[field] = v.clone(),
                None => {
                    if let Some(m) = masked.as_object_mut() {
                        m.remove(field);
                    }
                }
            }
        }
        // The scheduler's binding sets nodeName through its own subresource.
        if let Some(n) = new_spec.get("nodeName")
            && old_spec.get("nodeName").is_none()
        {
            masked["nodeName"] = n.clone();
        }
        let mut errs = only_added_tolerations(new_spec, old_spec);
        if &masked != new_spec {
            errs.push(FieldError::forbidden(
                "spec",
                "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
            ));
        }
        errs
    }

    fn field_attrs(&self, obj: &Value, out: &mut Vec<(&'static str, String)>) {
        for (label, path) in [
            ("spec.nodeName", &["spec", "nodeName"][..]),
            ("spec.restartPolicy", &["spec", "restartPolicy"]),
            ("spec.schedulerName", &["spec", "schedulerName"]),
            ("spec.serviceAccountName", &["spec", "serviceAccountName"]),
            ("status.phase", &["status", "phase"]),
            ("status.podIP", &["status", "podIP"]),
            ("status.nominatedNodeName", &["status", "nominatedNodeName"]),
        ] {
            out.push((label, str_at(obj, path).to_string()));
        }
        let host_network = obj
            .pointer("/spec/hostNetwork")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        out.push(("spec.hostNetwork", host_network.to_string()));
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ]
    }
}

pub struct Service;

impl Strategy for Service {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1035Label
    }

    fn return_deleted_object(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let Some(spec) = obj.get_mut("spec") else {
            return;
        };
        default_at(spec, &["type"], json!("ClusterIP"));
        default_at(spec, &["sessionAffinity"], json!("None"));
        let ty = str_at(spec, &["type"]).to_string();
        if ty != "ExternalName" {
            default_at(spec, &["internalTrafficPolicy"], json!("Cluster"));
        }
        if ty == "NodePort" || ty == "LoadBalancer" {
            default_at(spec, &["externalTrafficPolicy"], json!("Cluster"));
        }
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for p in ports {
                default_at(p, &["protocol"], json!("TCP"));
                if let Some(port) = p.get("port").cloned() {
                    default_at(p, &["targetPort"], port);
                }
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let ty = str_at(spec, &["type"]);
        const TYPES: [&str; 4] = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
        if !TYPES.contains(&ty) {
            errs.push(FieldError::not_supported("spec.type", &json!(ty), &TYPES));
        }
        let headless = str_at(spec, &["clusterIP"]) == "None";
        let ports = spec.get("ports").and_then(Value::as_array);
        if ports.is_none_or(Vec::is_empty) && !headless && ty != "ExternalName" {
            errs.push(FieldError::required("spec.ports", ""));
        }
        for (i, p) in ports.into_iter().flatten().enumerate() {
            let n = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            if !(1..=65535).contains(&n) {
                errs.push(FieldError::invalid(
                    format!("spec.ports[{i}].port"),
                    &json!(n),
                    "must be between 1 and 65535, inclusive",
                ));
            }
            if ports.is_some_and(|ps| ps.len() > 1) && str_at(p, &["name"]).is_empty() {
                errs.push(FieldError::required(format!("spec.ports[{i}].name"), ""));
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let old_ip = str_at(old, &["spec", "clusterIP"]);
        let new_ip = str_at(new, &["spec", "clusterIP"]);
        let ty = str_at(new, &["spec", "type"]);
        if !old_ip.is_empty() && old_ip != new_ip && ty != "ExternalName" {
            return vec![FieldError::invalid(
                "spec.clusterIPs[0]",
                &json!(new_ip),
                "may not change once set",
            )];
        }
        Vec::new()
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // An update that leaves allocated values out keeps them (service REST's
        // patchAllocatedValues).
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if let Some(v) = old.pointer(&format!("/spec/{field}"))
                && let Some(spec) = new.get_mut("spec")
            {
                default_at(spec, &[field], v.clone());
            }
        }
    }

    fn field_attrs(&self, obj: &Value, out: &mut Vec<(&'static str, String)>) {
        out.push((
            "spec.clusterIP",
            str_at(obj, &["spec", "clusterIP"]).to_string(),
        ));
        out.push(("spec.type", str_at(obj, &["spec", "type"]).to_string()));
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["spec.clusterIP", "spec.type"]
    }
}

pub struct Namespace;

impl Strategy for Namespace {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Label
    }

    fn return_deleted_object(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        // Since 1.21 every namespace carries its name as an immutable label.
        let name = skiff_core::meta::name(obj).to_string();
        if !name.is_empty()
            && let Some(meta) = skiff_core::meta::metadata_mut(obj)
        {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["spec"] = json!({"finalizers": ["kubernetes"]});
        obj["status"] = json!({"phase": "Active"});
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // spec.finalizers change only through namespaces/finalize.
        new["spec"] = old.get("spec").cloned().unwrap_or(json!({}));
    }

    fn field_attrs(&self, obj: &Value, out: &mut Vec<(&'static str, String)>) {
        out.push((
            "status.phase",
            str_at(obj, &["status", "phase"]).to_string(),
        ));
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["status.phase"]
    }
}

pub struct Node;

impl Strategy for Node {
    fn return_deleted_object(&self) -> bool {
        true
    }

    fn keeps_status_on_create(&self) -> bool {
        true
    }

    fn field_attrs(&self, obj: &Value, out: &mut Vec<(&'static str, String)>) {
        let unschedulable = obj
            .pointer("/spec/unschedulable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        out.push(("spec.unschedulable", unschedulable.to_string()));
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["spec.unschedulable"]
    }
}

/// Keys of ConfigMap and Secret data: `IsConfigMapKey`.
fn validate_data_keys(obj: &Value, fields: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in fields {
        if let Some(map) = obj.get(*field).and_then(Value::as_object) {
            for key in map.keys() {
                for msg in validation::is_config_map_key(key) {
                    errs.push(FieldError::invalid(field.to_string(), &json!(key), msg));
                }
            }
        }
    }
    errs
}

pub struct Secret;

impl Strategy for Secret {
    fn default(&self, obj: &mut Value) {
        default_at(obj, &["type"], json!("Opaque"));
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_data_keys(obj, &["data", "stringData"])
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if new.get("type") != old.get("type") {
            errs.push(FieldError::invalid(
                "type",
                new.get("type").unwrap_or(&Value::Null),
                "field is immutable",
            ));
        }
        if old.get("immutable") == Some(&json!(true)) && new.get("data") != old.get("data") {
            errs.push(FieldError::forbidden(
                "data",
                "field is immutable when `immutable` is set",
            ));
        }
        errs
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        fold_string_data(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        fold_string_data(new);
    }

    fn field_attrs(&self, obj: &Value, out: &mut Vec<(&'static str, String)>) {
        out.push(("type", str_at(obj, &["type"]).to_string()));
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["type"]
    }
}

/// `stringData` is write-only: merged into `data` as base64 (the v1 conversion).
fn fold_string_data(obj: &mut Value) {
    use base64::Engine;
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let Some(Value::Object(string_data)) = map.remove("stringData") else {
        return;
    };
    let data = map.entry("data").or_insert_with(|| json!({}));
    if let Some(data) = data.as_object_mut() {
        for (k, v) in string_data {
            let s = v.as_str().unwrap_or("");
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(s)),
            );
        }
    }
}

pub struct ConfigMap;

impl Strategy for ConfigMap {
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_data_keys(obj, &["data", "binaryData"])
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        if old.get("immutable") == Some(&json!(true))
            && (new.get("data") != old.get("data")
                || new.get("binaryData") != old.get("binaryData"))
        {
            return vec![FieldError::forbidden(
                "data",
                "field is immutable when `immutable` is set",
            )];
        }
        Vec::new()
    }
}

pub struct ReplicationController;

impl Strategy for ReplicationController {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        default_at(obj, &["spec", "replicas"], json!(1));
        // An RC without a selector selects its template's labels.
        if obj.pointer("/spec/selector").is_none()
            && let Some(labels) = obj.pointer("/spec/template/metadata/labels").cloned()
        {
            obj["spec"]["selector"] = labels;
        }
        if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
            default_pod_spec(spec, false);
        }
    }
}

pub struct ServiceAccount;

impl Strategy for ServiceAccount {}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ephemeral: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "app", "image": "nginx"}],
            "ephemeralContainers": ephemeral,
        }})
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn ephemeral_containers_are_named_uniquely_and_target_the_pod() {
        let new = pod(json!([
            {"name": "app", "image": "busybox"},
            {"name": "dbg", "image": "busybox", "targetContainerName": "app", "resources": {}},
        ]));
        assert_eq!(
            messages(&validate_ephemeral_containers_update(&new, &pod(json!([])))),
            [r#"spec.ephemeralContainers[0].name: Duplicate value: "app""#]
        );
    }

    #[test]
    fn pod_updates_may_only_add_tolerations() {
        let with = |tolerations: Value| json!({"spec": {"containers": [{"name": "app", "image": "nginx"}], "tolerations": tolerations}});
        let old = with(
            json!([{"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]),
        );
        let added = with(json!([
            {"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60},
            {"key": "b", "operator": "Exists"},
        ]));
        assert!(Pod.validate_update(&added, &old).is_empty());
        let removed = with(json!([{"key": "b", "operator": "Exists"}]));
        assert_eq!(
            messages(&Pod.validate_update(&removed, &old)),
            [
                "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
            ]
        );
    }

    #[test]
    fn static_pods_take_no_ephemeral_containers() {
        let mut old = pod(json!([]));
        old["metadata"]["annotations"] = json!({MIRROR_POD_ANNOTATION: "x"});
        let new = pod(json!([{"name": "dbg", "image": "busybox"}]));
        assert_eq!(
            messages(&validate_ephemeral_containers_update(&new, &old)),
            [": Forbidden: static pods do not support ephemeral containers"]
        );
    }
}
