//! Rows of the API groups around the workloads: networking, RBAC,
//! certificates, storage, admission, flow control, dynamic resources and the
//! aggregator's APIServices.

use serde_json::Value;

use super::{
    Clock, format_label_selector, human_duration, int_at, list_at, list_with_more, name, or,
    quantity, str_at,
};

pub(super) fn name_and_age(o: &Value, clock: &Clock) -> Vec<Value> {
    vec![name(o), clock.age(o)]
}

/// Upstream's `formatHosts`: up to three hosts, `*` when no rule names one.
fn ingress_hosts(rules: &[Value]) -> String {
    const MAX: usize = 3;
    let mut hosts = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
        }
        let host = str_at(&rule["host"]);
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        return "*".to_owned();
    }
    let joined = hosts.join(",");
    if more {
        format!("{joined} + {} more...", rules.len() - MAX)
    } else {
        joined
    }
}

pub(super) fn ingress(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    let ports = if list_at(&spec["tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(o),
        spec["ingressClassName"].as_str().unwrap_or("<none>").into(),
        ingress_hosts(list_at(&spec["rules"])).into(),
        super::cluster::load_balancer_ingress(&o["status"]["loadBalancer"]).into(),
        ports.into(),
        clock.age(o),
    ]
}

pub(super) fn ingress_class(o: &Value, clock: &Clock) -> Vec<Value> {
    let parameters = match &o["spec"]["parameters"] {
        Value::Null => "<none>".to_owned(),
        p => {
            let kind = match p["apiGroup"].as_str() {
                Some(group) => format!("{}.{group}", str_at(&p["kind"])),
                None => str_at(&p["kind"]).to_owned(),
            };
            format!("{kind}/{}", str_at(&p["name"]))
        }
    };
    vec![
        name(o),
        str_at(&o["spec"]["controller"]).into(),
        parameters.into(),
        clock.age(o),
    ]
}

pub(super) fn network_policy(o: &Value, clock: &Clock) -> Vec<Value> {
    vec![
        name(o),
        format_label_selector(&o["spec"]["podSelector"]).into(),
        clock.age(o),
    ]
}

pub(super) fn service_cidr(o: &Value, clock: &Clock) -> Vec<Value> {
    let cidrs: Vec<&str> = list_at(&o["spec"]["cidrs"]).iter().map(str_at).collect();
    vec![name(o), cidrs.join(",").into(), clock.age(o)]
}

/// Only two columns are defined upstream, yet three cells are printed; the
/// extra AGE cell is kept so rows match kube-apiserver's byte for byte.
pub(super) fn ip_address(o: &Value, clock: &Clock) -> Vec<Value> {
    let parent = match &o["spec"]["parentRef"] {
        Value::Null => "<none>".to_owned(),
        r => {
            let resource = str_at(&r["resource"]);
            let mut parent = match str_at(&r["group"]) {
                "" => resource.to_lowercase(),
                group => format!("{resource}.{group}").to_lowercase(),
            };
            if let Some(ns) = r["namespace"].as_str().filter(|ns| !ns.is_empty()) {
                parent = format!("{parent}/{ns}");
            }
            format!("{parent}/{}", str_at(&r["name"]))
        }
    };
    vec![name(o), parent.into(), clock.age(o)]
}

/// RoleBindings and ClusterRoleBindings: `Kind/name` of the role, then the
/// subjects by kind (service accounts as `namespace/name`).
pub(super) fn role_binding(o: &Value, clock: &Clock) -> Vec<Value> {
    let role = format!(
        "{}/{}",
        str_at(&o["roleRef"]["kind"]),
        str_at(&o["roleRef"]["name"])
    );
    let (mut users, mut groups, mut service_accounts) = (Vec::new(), Vec::new(), Vec::new());
    for subject in list_at(&o["subjects"]) {
        let subject_name = str_at(&subject["name"]);
        match str_at(&subject["kind"]) {
            "ServiceAccount" => {
                service_accounts.push(format!("{}/{subject_name}", str_at(&subject["namespace"])));
            }
            "User" => users.push(subject_name.to_owned()),
            "Group" => groups.push(subject_name.to_owned()),
            _ => {}
        }
    }
    vec![
        name(o),
        role.into(),
        clock.age(o),
        users.join(", ").into(),
        groups.join(", ").into(),
        service_accounts.join(", ").into(),
    ]
}

pub(super) fn certificate_signing_request(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    let requested = match spec["expirationSeconds"].as_u64() {
        Some(seconds) => human_duration(std::time::Duration::from_secs(seconds)),
        None => "<none>".to_owned(),
    };
    let has = |type_: &str| {
        list_at(&o["status"]["conditions"])
            .iter()
            .any(|c| str_at(&c["type"]) == type_)
    };
    // Denied wins over Approved; Failed and Issued are added to either.
    let mut condition = if has("Denied") {
        "Denied".to_owned()
    } else if has("Approved") {
        "Approved".to_owned()
    } else {
        "Pending".to_owned()
    };
    if has("Failed") {
        condition.push_str(",Failed");
    }
    if !str_at(&o["status"]["certificate"]).is_empty() {
        condition.push_str(",Issued");
    }
    vec![
        name(o),
        clock.age(o),
        or(&spec["signerName"], "<none>").into(),
        str_at(&spec["username"]).into(),
        requested.into(),
        condition.into(),
    ]
}

pub(super) fn cluster_trust_bundle(o: &Value, _: &Clock) -> Vec<Value> {
    vec![name(o), or(&o["spec"]["signerName"], "<none>").into()]
}

fn annotation_is_true(o: &Value, key: &str) -> bool {
    str_at(&o["metadata"]["annotations"][key]) == "true"
}

pub(super) fn storage_class(o: &Value, clock: &Clock) -> Vec<Value> {
    let mut class_name = str_at(&o["metadata"]["name"]).to_owned();
    if annotation_is_true(o, "storageclass.kubernetes.io/is-default-class")
        || annotation_is_true(o, "storageclass.beta.kubernetes.io/is-default-class")
    {
        class_name.push_str(" (default)");
    }
    vec![
        class_name.into(),
        str_at(&o["provisioner"]).into(),
        o["reclaimPolicy"].as_str().unwrap_or("Delete").into(),
        o["volumeBindingMode"]
            .as_str()
            .unwrap_or("Immediate")
            .into(),
        o["allowVolumeExpansion"].as_bool().unwrap_or(false).into(),
        clock.age(o),
    ]
}

pub(super) fn volume_attributes_class(o: &Value, clock: &Clock) -> Vec<Value> {
    let mut class_name = str_at(&o["metadata"]["name"]).to_owned();
    if annotation_is_true(
        o,
        "volumeattributesclass.alpha.kubernetes.io/is-default-class",
    ) {
        class_name.push_str(" (default)");
    }
    vec![
        class_name.into(),
        str_at(&o["driverName"]).into(),
        clock.age(o),
    ]
}

pub(super) fn volume_attachment(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    vec![
        name(o),
        str_at(&spec["attacher"]).into(),
        str_at(&spec["source"]["persistentVolumeName"]).into(),
        str_at(&spec["nodeName"]).into(),
        o["status"]["attached"].as_bool().unwrap_or(false).into(),
        clock.age(o),
    ]
}

pub(super) fn csi_driver(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    let modes: Vec<&str> = list_at(&spec["volumeLifecycleModes"])
        .iter()
        .map(str_at)
        .collect();
    let modes = if modes.is_empty() {
        "<none>".to_owned()
    } else {
        modes.join(",")
    };
    let token_requests = match spec["tokenRequests"].as_array() {
        Some(requests) => requests
            .iter()
            .map(|t| str_at(&t["audience"]))
            .collect::<Vec<_>>()
            .join(","),
        None => "<unset>".to_owned(),
    };
    vec![
        name(o),
        spec["attachRequired"].as_bool().unwrap_or(true).into(),
        spec["podInfoOnMount"].as_bool().unwrap_or(false).into(),
        spec["storageCapacity"].as_bool().unwrap_or(false).into(),
        token_requests.into(),
        spec["requiresRepublish"].as_bool().unwrap_or(false).into(),
        modes.into(),
        clock.age(o),
    ]
}

pub(super) fn csi_node(o: &Value, clock: &Clock) -> Vec<Value> {
    vec![
        name(o),
        (list_at(&o["spec"]["drivers"]).len() as i64).into(),
        clock.age(o),
    ]
}

pub(super) fn csi_storage_capacity(o: &Value, _: &Clock) -> Vec<Value> {
    let capacity = if o["capacity"].is_null() {
        "<unset>".to_owned()
    } else {
        quantity(&o["capacity"])
    };
    vec![
        name(o),
        str_at(&o["storageClassName"]).into(),
        capacity.into(),
    ]
}

pub(super) fn webhook_configuration(o: &Value, clock: &Clock) -> Vec<Value> {
    vec![
        name(o),
        (list_at(&o["webhooks"]).len() as i64).into(),
        clock.age(o),
    ]
}

fn param_kind(spec: &Value) -> String {
    match &spec["paramKind"] {
        Value::Null => "<unset>".to_owned(),
        p => format!("{}/{}", str_at(&p["apiVersion"]), str_at(&p["kind"])),
    }
}

pub(super) fn validating_admission_policy(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    vec![
        name(o),
        (list_at(&spec["validations"]).len() as i64).into(),
        param_kind(spec).into(),
        clock.age(o),
    ]
}

pub(super) fn mutating_admission_policy(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    vec![
        name(o),
        (list_at(&spec["mutations"]).len() as i64).into(),
        param_kind(spec).into(),
        clock.age(o),
    ]
}

pub(super) fn admission_policy_binding(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    let param = &spec["paramRef"];
    let param_name = match (str_at(&param["name"]), str_at(&param["namespace"])) {
        _ if param.is_null() => "<unset>".to_owned(),
        ("", _) if !param["selector"].is_null() => go_label_selector_struct(&param["selector"]),
        ("", _) => "<unset>".to_owned(),
        // Cluster-scoped or not cannot be told here, so upstream writes `*/name`.
        (param_name, "") => format!("*/{param_name}"),
        (param_name, ns) => format!("{ns}/{param_name}"),
    };
    vec![
        name(o),
        str_at(&spec["policyName"]).into(),
        param_name.into(),
        clock.age(o),
    ]
}

/// The generated Go `String()` of a `*metav1.LabelSelector`, which upstream
/// prints for a binding's parameter selector.
fn go_label_selector_struct(sel: &Value) -> String {
    let mut labels: Vec<(&String, &Value)> = sel["matchLabels"]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    labels.sort_by(|a, b| a.0.cmp(b.0));
    let labels: String = labels
        .iter()
        .map(|(k, v)| format!("{k}: {},", str_at(v)))
        .collect();
    let exprs: String = list_at(&sel["matchExpressions"])
        .iter()
        .map(|e| {
            let values: Vec<&str> = list_at(&e["values"]).iter().map(str_at).collect();
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                str_at(&e["key"]),
                str_at(&e["operator"]),
                values.join(" ")
            )
        })
        .collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )
}

pub(super) fn flow_schema(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    let distinguisher = match &spec["distinguisherMethod"] {
        Value::Null => "<none>".to_owned(),
        d => str_at(&d["type"]).to_owned(),
    };
    let dangling = list_at(&o["status"]["conditions"])
        .iter()
        .find(|c| str_at(&c["type"]) == "Dangling")
        .map_or("?", |c| str_at(&c["status"]));
    vec![
        name(o),
        str_at(&spec["priorityLevelConfiguration"]["name"]).into(),
        int_at(&spec["matchingPrecedence"]).into(),
        distinguisher.into(),
        clock.age(o),
        dangling.into(),
    ]
}

pub(super) fn priority_level_configuration(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    let none = || Value::from("<none>");
    let (mut shares, mut queues, mut hand_size, mut queue_length) =
        (none(), none(), none(), none());
    let limited = &spec["limited"];
    if !limited.is_null() {
        shares = int_at(&limited["nominalConcurrencyShares"]).into();
        let queuing = &limited["limitResponse"]["queuing"];
        if !queuing.is_null() {
            queues = int_at(&queuing["queues"]).into();
            hand_size = int_at(&queuing["handSize"]).into();
            queue_length = int_at(&queuing["queueLengthLimit"]).into();
        }
    }
    vec![
        name(o),
        str_at(&spec["type"]).into(),
        shares,
        queues,
        hand_size,
        queue_length,
        clock.age(o),
    ]
}

pub(super) fn storage_version(o: &Value, clock: &Clock) -> Vec<Value> {
    let status = &o["status"];
    let versions: Vec<String> = list_at(&status["storageVersions"])
        .iter()
        .map(|v| {
            format!(
                "{}={}",
                str_at(&v["apiServerID"]),
                str_at(&v["encodingVersion"])
            )
        })
        .collect();
    vec![
        name(o),
        status["commonEncodingVersion"]
            .as_str()
            .unwrap_or("<unset>")
            .into(),
        list_with_more(&versions, 3).into(),
        clock.age(o),
    ]
}

pub(super) fn storage_version_migration(o: &Value, _: &Clock) -> Vec<Value> {
    let r = &o["spec"]["resource"];
    let gvr = format!(
        "{}.{}.{}",
        str_at(&r["resource"]),
        str_at(&r["version"]),
        str_at(&r["group"])
    );
    vec![name(o), gvr.into()]
}

pub(super) fn resource_claim(o: &Value, clock: &Clock) -> Vec<Value> {
    let deleted = !o["metadata"]["deletionTimestamp"].is_null();
    let mut states = Vec::new();
    if deleted {
        states.push("deleted");
    }
    if o["status"]["allocation"].is_null() {
        if !deleted {
            states.push("pending");
        }
    } else {
        states.push("allocated");
        if !list_at(&o["status"]["reservedFor"]).is_empty() {
            states.push("reserved");
        }
    }
    vec![name(o), states.join(",").into(), clock.age(o)]
}

pub(super) fn resource_slice(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    vec![
        name(o),
        str_at(&spec["nodeName"]).into(),
        str_at(&spec["driver"]).into(),
        str_at(&spec["pool"]["name"]).into(),
        clock.age(o),
    ]
}

/// kube-aggregator's table: the backing service (`Local` when served in
/// process) and the Available condition, with its reason when not True.
pub(super) fn api_service(o: &Value, clock: &Clock) -> Vec<Value> {
    let service = match &o["spec"]["service"] {
        Value::Null => "Local".to_owned(),
        s => format!("{}/{}", str_at(&s["namespace"]), str_at(&s["name"])),
    };
    let available = list_at(&o["status"]["conditions"])
        .iter()
        .find(|c| str_at(&c["type"]) == "Available");
    let available = match available {
        None => "Unknown".to_owned(),
        Some(c) => match (str_at(&c["status"]), str_at(&c["reason"])) {
            ("True", _) => "True".to_owned(),
            (status, "") => status.to_owned(),
            (status, reason) => format!("{status} ({reason})"),
        },
    };
    vec![name(o), service.into(), available.into(), clock.age(o)]
}
