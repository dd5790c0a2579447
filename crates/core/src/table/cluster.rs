//! Rows of core-group kinds (and the few small kinds of other groups that
//! describe the cluster itself: leases, priority and runtime classes,
//! endpoint slices).

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    Clock, format_labels, int_at, list_at, list_with_more, map_len, name, or, parse_time, quantity,
    str_at,
};

const NODE_ROLE_PREFIX: &str = "node-role.kubernetes.io/";
const NODE_ROLE_LABEL: &str = "kubernetes.io/role";
/// PersistentVolume(Claim) annotation that wins over `spec.storageClassName`.
const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

pub(super) fn node(o: &Value, clock: &Clock) -> Vec<Value> {
    // The last Ready condition wins, as in upstream's condition map.
    let ready = list_at(&o["status"]["conditions"])
        .iter()
        .rev()
        .find(|c| str_at(&c["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(c) if str_at(&c["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if o["spec"]["unschedulable"].as_bool() == Some(true) {
        status.push("SchedulingDisabled");
    }

    let mut roles = BTreeSet::new();
    if let Some(labels) = o["metadata"]["labels"].as_object() {
        for (key, value) in labels {
            if let Some(role) = key.strip_prefix(NODE_ROLE_PREFIX) {
                if !role.is_empty() {
                    roles.insert(role);
                }
            } else if key == NODE_ROLE_LABEL && !str_at(value).is_empty() {
                roles.insert(str_at(value));
            }
        }
    }
    let roles = if roles.is_empty() {
        "<none>".to_owned()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    };

    let info = &o["status"]["nodeInfo"];
    let address = |type_: &str| {
        list_at(&o["status"]["addresses"])
            .iter()
            .find(|a| str_at(&a["type"]) == type_)
            .map_or_else(|| "<none>".to_owned(), |a| str_at(&a["address"]).to_owned())
    };
    vec![
        name(o),
        status.join(",").into(),
        roles.into(),
        clock.age(o),
        str_at(&info["kubeletVersion"]).into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        or(&info["osImage"], "<unknown>").into(),
        or(&info["kernelVersion"], "<unknown>").into(),
        or(&info["containerRuntimeVersion"], "<unknown>").into(),
    ]
}

pub(super) fn namespace(o: &Value, clock: &Clock) -> Vec<Value> {
    vec![name(o), str_at(&o["status"]["phase"]).into(), clock.age(o)]
}

/// Load-balancer ingress points: IP, else hostname; sorted and de-duplicated.
/// The server prints wide, so upstream's 16-character clipping never applies.
pub(super) fn load_balancer_ingress(status: &Value) -> String {
    let points: BTreeSet<&str> = list_at(&status["ingress"])
        .iter()
        .filter_map(|i| match (str_at(&i["ip"]), str_at(&i["hostname"])) {
            ("", "") => None,
            ("", host) => Some(host),
            (ip, _) => Some(ip),
        })
        .collect();
    points.into_iter().collect::<Vec<_>>().join(",")
}

pub(super) fn service(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    let external_ips: Vec<&str> = list_at(&spec["externalIPs"]).iter().map(str_at).collect();
    let type_ = str_at(&spec["type"]);
    let external = match type_ {
        "ClusterIP" | "NodePort" if external_ips.is_empty() => "<none>".to_owned(),
        "ClusterIP" | "NodePort" => external_ips.join(","),
        "LoadBalancer" => {
            let lb = load_balancer_ingress(&o["status"]["loadBalancer"]);
            match (lb.is_empty(), external_ips.is_empty()) {
                (true, true) => "<pending>".to_owned(),
                (false, true) => lb,
                (true, false) => external_ips.join(","),
                (false, false) => format!("{lb},{}", external_ips.join(",")),
            }
        }
        "ExternalName" => str_at(&spec["externalName"]).to_owned(),
        _ => "<unknown>".to_owned(),
    };
    let ports: Vec<String> = list_at(&spec["ports"])
        .iter()
        .map(|p| {
            let (port, protocol) = (int_at(&p["port"]), str_at(&p["protocol"]));
            match int_at(&p["nodePort"]) {
                node_port if node_port > 0 => format!("{port}:{node_port}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_owned()
    } else {
        ports.join(",")
    };
    vec![
        name(o),
        type_.into(),
        or(&spec["clusterIPs"][0], "<none>").into(),
        external.into(),
        ports.into(),
        clock.age(o),
        format_labels(&spec["selector"]).into(),
    ]
}

/// Upstream's `formatEndpoints`: up to three `ip:port` (or bare IPs for subsets
/// without ports), then "+ N more...".
fn format_endpoints(subsets: &[Value]) -> String {
    const MAX: usize = 3;
    if subsets.is_empty() {
        return "<none>".to_owned();
    }
    let mut list = Vec::new();
    let mut count = 0;
    for subset in subsets {
        let addresses = list_at(&subset["addresses"]);
        let ports = list_at(&subset["ports"]);
        if ports.is_empty() {
            count += addresses.len();
            list.extend(addresses.iter().map(|a| str_at(&a["ip"]).to_owned()));
            continue;
        }
        for port in ports {
            count += addresses.len();
            let port = int_at(&port["port"]);
            list.extend(
                addresses
                    .iter()
                    .map(|a| join_host_port(str_at(&a["ip"]), port)),
            );
        }
    }
    list.truncate(MAX);
    let joined = list.join(",");
    if count > MAX {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

/// Go's `net.JoinHostPort`: IPv6 hosts in brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub(super) fn endpoints(o: &Value, clock: &Clock) -> Vec<Value> {
    vec![
        name(o),
        format_endpoints(list_at(&o["subsets"])).into(),
        clock.age(o),
    ]
}

pub(super) fn endpoint_slice(o: &Value, clock: &Clock) -> Vec<Value> {
    let ports: Vec<String> = list_at(&o["ports"])
        .iter()
        .map(|p| match (&p["port"], &p["name"]) {
            (Value::Number(n), _) => n.to_string(),
            (_, Value::String(name)) => name.clone(),
            _ => "*".to_owned(),
        })
        .collect();
    let addresses: Vec<String> = list_at(&o["endpoints"])
        .iter()
        .flat_map(|e| {
            list_at(&e["addresses"])
                .iter()
                .map(|a| str_at(a).to_owned())
        })
        .collect();
    vec![
        name(o),
        str_at(&o["addressType"]).into(),
        list_with_more(&ports, 3).into(),
        list_with_more(&addresses, 3).into(),
        clock.age(o),
    ]
}

/// Where the fields of an Event live: `v1` core events and `events.k8s.io/v1`
/// name them differently; upstream prints both from the same internal type,
/// whose `ReportingController` is core's `reportingComponent`.
struct EventFields {
    involved_object: &'static str,
    message: &'static str,
    first_timestamp: &'static str,
    last_timestamp: &'static str,
    count: &'static str,
    source: &'static str,
    reporting_controller: &'static str,
}

const CORE_EVENT: EventFields = EventFields {
    involved_object: "involvedObject",
    message: "message",
    first_timestamp: "firstTimestamp",
    last_timestamp: "lastTimestamp",
    count: "count",
    source: "source",
    reporting_controller: "reportingComponent",
};

const EVENTS_K8S_IO_EVENT: EventFields = EventFields {
    involved_object: "regarding",
    message: "note",
    first_timestamp: "deprecatedFirstTimestamp",
    last_timestamp: "deprecatedLastTimestamp",
    count: "deprecatedCount",
    source: "deprecatedSource",
    reporting_controller: "reportingController",
};

pub(super) fn core_event(o: &Value, clock: &Clock) -> Vec<Value> {
    event(o, clock, &CORE_EVENT)
}

pub(super) fn events_k8s_io_event(o: &Value, clock: &Clock) -> Vec<Value> {
    event(o, clock, &EVENTS_K8S_IO_EVENT)
}

fn event(o: &Value, clock: &Clock, f: &EventFields) -> Vec<Value> {
    let first = match parse_time(&o[f.first_timestamp]) {
        Some(t) => clock.since_time(t),
        None => clock.since(&o["eventTime"]),
    };
    let mut last = match parse_time(&o[f.last_timestamp]) {
        Some(t) => clock.since_time(t),
        None => first.clone(),
    };
    let mut count = int_at(&o[f.count]);
    let series = &o["series"];
    if !series.is_null() {
        last = clock.since(&series["lastObservedTime"]);
        count = int_at(&series["count"]);
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let involved = &o[f.involved_object];
    let kind = str_at(&involved["kind"]).to_lowercase();
    let target = match str_at(&involved["name"]) {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let source = event_source(
        &o[f.source],
        str_at(&o[f.reporting_controller]),
        str_at(&o["reportingInstance"]),
    );
    vec![
        last.into(),
        str_at(&o["type"]).into(),
        str_at(&o["reason"]).into(),
        target.into(),
        str_at(&involved["fieldPath"]).into(),
        source.into(),
        str_at(&o[f.message]).trim().into(),
        first.into(),
        count.into(),
        name(o),
    ]
}

/// Upstream's `formatEventSource`: `source.component` (else the reporting
/// controller) and `source.host` (else the reporting instance), joined by
/// `, ` when there is an instance. Events of the new API (the scheduler's, a
/// kube-rs recorder's) have no `source` at all.
fn event_source(source: &Value, reporting_controller: &str, reporting_instance: &str) -> String {
    let component = match str_at(&source["component"]) {
        "" => reporting_controller,
        c => c,
    };
    let instance = match str_at(&source["host"]) {
        "" => reporting_instance,
        h => h,
    };
    if instance.is_empty() {
        component.to_owned()
    } else {
        format!("{component}, {instance}")
    }
}

pub(super) fn secret(o: &Value, clock: &Clock) -> Vec<Value> {
    vec![
        name(o),
        str_at(&o["type"]).into(),
        (map_len(&o["data"]) as i64).into(),
        clock.age(o),
    ]
}

pub(super) fn service_account(o: &Value, clock: &Clock) -> Vec<Value> {
    vec![
        name(o),
        (list_at(&o["secrets"]).len() as i64).into(),
        clock.age(o),
    ]
}

pub(super) fn config_map(o: &Value, clock: &Clock) -> Vec<Value> {
    let data = map_len(&o["data"]) + map_len(&o["binaryData"]);
    vec![name(o), (data as i64).into(), clock.age(o)]
}

/// Upstream's `GetAccessModesAsString`: always in the order RWO, ROX, RWX, RWOP.
fn access_modes(modes: &Value) -> String {
    let modes: Vec<&str> = list_at(modes).iter().map(str_at).collect();
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| modes.contains(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

fn phase_or_terminating(o: &Value) -> String {
    if o["metadata"]["deletionTimestamp"].is_null() {
        str_at(&o["status"]["phase"]).to_owned()
    } else {
        "Terminating".to_owned()
    }
}

pub(super) fn persistent_volume(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    let claim = match &spec["claimRef"] {
        Value::Null => String::new(),
        r => format!("{}/{}", str_at(&r["namespace"]), str_at(&r["name"])),
    };
    let class = match &o["metadata"]["annotations"][BETA_STORAGE_CLASS] {
        Value::String(class) => class.as_str(),
        _ => str_at(&spec["storageClassName"]),
    };
    vec![
        name(o),
        quantity(&spec["capacity"]["storage"]).into(),
        access_modes(&spec["accessModes"]).into(),
        str_at(&spec["persistentVolumeReclaimPolicy"]).into(),
        phase_or_terminating(o).into(),
        claim.into(),
        class.into(),
        spec["volumeAttributesClassName"]
            .as_str()
            .unwrap_or("<unset>")
            .into(),
        str_at(&o["status"]["reason"]).into(),
        clock.age(o),
        spec["volumeMode"].as_str().unwrap_or("<unset>").into(),
    ]
}

pub(super) fn persistent_volume_claim(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    let volume = str_at(&spec["volumeName"]);
    // Capacity and access modes are only shown once the claim is bound to a volume.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(&o["status"]["capacity"]["storage"]),
            access_modes(&o["status"]["accessModes"]),
        )
    };
    let class = match &o["metadata"]["annotations"][BETA_STORAGE_CLASS] {
        Value::String(class) => class.as_str(),
        _ => str_at(&spec["storageClassName"]),
    };
    vec![
        name(o),
        phase_or_terminating(o).into(),
        volume.into(),
        capacity.into(),
        modes.into(),
        class.into(),
        spec["volumeAttributesClassName"]
            .as_str()
            .unwrap_or("<unset>")
            .into(),
        clock.age(o),
        spec["volumeMode"].as_str().unwrap_or("<unset>").into(),
    ]
}

pub(super) fn component_status(o: &Value, _: &Clock) -> Vec<Value> {
    let healthy = list_at(&o["conditions"])
        .iter()
        .find(|c| str_at(&c["type"]) == "Healthy");
    let (status, message, error) = match healthy {
        None => ("Unknown", "", ""),
        Some(c) => (
            if str_at(&c["status"]) == "True" {
                "Healthy"
            } else {
                "Unhealthy"
            },
            str_at(&c["message"]),
            str_at(&c["error"]),
        ),
    };
    vec![name(o), status.into(), message.into(), error.into()]
}

pub(super) fn resource_quota(o: &Value, clock: &Clock) -> Vec<Value> {
    let hard = o["status"]["hard"].as_object();
    let mut resources: Vec<&String> = hard.map(|h| h.keys().collect()).unwrap_or_default();
    resources.sort();
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    for resource in resources {
        let used = quantity(&o["status"]["used"][resource.as_str()]);
        let hard = quantity(&o["status"]["hard"][resource.as_str()]);
        let entry = format!("{resource}: {used}/{hard}");
        let mut pieces = resource.split('.');
        if pieces.next() == Some("limits") && pieces.next().is_some() {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    vec![
        name(o),
        requests.join(", ").into(),
        limits.join(", ").into(),
        clock.age(o),
    ]
}

pub(super) fn lease(o: &Value, clock: &Clock) -> Vec<Value> {
    vec![
        name(o),
        str_at(&o["spec"]["holderIdentity"]).into(),
        clock.age(o),
    ]
}

pub(super) fn lease_candidate(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    vec![
        name(o),
        str_at(&spec["leaseName"]).into(),
        str_at(&spec["binaryVersion"]).into(),
        str_at(&spec["emulationVersion"]).into(),
        clock.age(o),
    ]
}

pub(super) fn priority_class(o: &Value, clock: &Clock) -> Vec<Value> {
    vec![
        name(o),
        int_at(&o["value"]).into(),
        o["globalDefault"].as_bool().unwrap_or(false).into(),
        clock.age(o),
        str_at(&o["preemptionPolicy"]).into(),
    ]
}

pub(super) fn runtime_class(o: &Value, clock: &Clock) -> Vec<Value> {
    vec![name(o), str_at(&o["handler"]).into(), clock.age(o)]
}
