//! Table conversion: what kube-apiserver answers to
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.
//!
//! Owns the column definitions and the cells of one row for every built-in
//! resource, with the output of kube-apiserver 1.33 (`pkg/printers/internalversion`
//! for most kinds, the default convertor of `k8s.io/apiserver` — NAME and
//! CREATED AT — for kinds without a printer, kube-aggregator's own table for
//! APIServices). Upstream prints on the server with `Wide: true`, so cells always
//! include the priority-1 columns; kubectl hides those unless `-o wide`.
//!
//! Does not own: the Table envelope (`kind`, `metadata`, `rows[].object`),
//! `includeObject` handling, or the printer columns of custom resources.

mod apis;
mod cluster;
mod columns;
mod workloads;

#[cfg(test)]
mod tests;

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One entry of a Table's `columnDefinitions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Human-readable column name, as kubectl prints it (upper-cased there).
    pub name: &'static str,
    /// OpenAPI type of the cells: `string`, `integer`, `boolean`, `date`, ...
    pub type_: &'static str,
    /// OpenAPI format; `name` marks the column holding the object name.
    pub format: &'static str,
    /// What the column shows, as upstream documents it.
    pub description: &'static str,
    /// 0 for the default view; 1 for columns only shown with `-o wide`.
    pub priority: i32,
}

impl Column {
    /// The column as it appears in a `meta.k8s.io/v1` Table's `columnDefinitions`.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// Renders the cells of one object, given the current time.
type Printer = fn(&Value, &Clock) -> Vec<Value>;

/// The printer of a resource and its columns; `None` for kinds that upstream
/// serves with the default convertor.
fn printer(group: &str, resource: &str) -> Option<(&'static [Column], Printer)> {
    use columns as c;
    let found: (&'static [Column], Printer) = match (group, resource) {
        ("", "pods") => (c::POD, workloads::pod),
        ("", "podtemplates") => (c::POD_TEMPLATE, workloads::pod_template),
        ("", "replicationcontrollers") => {
            (c::REPLICATION_CONTROLLER, workloads::replication_controller)
        }
        ("", "services") => (c::SERVICE, cluster::service),
        ("", "endpoints") => (c::ENDPOINTS, cluster::endpoints),
        ("", "nodes") => (c::NODE, cluster::node),
        ("", "events") => (c::EVENT, cluster::core_event),
        ("events.k8s.io", "events") => (c::EVENT, cluster::events_k8s_io_event),
        ("", "namespaces") => (c::NAMESPACE, cluster::namespace),
        ("", "secrets") => (c::SECRET, cluster::secret),
        ("", "serviceaccounts") => (c::SERVICE_ACCOUNT, cluster::service_account),
        ("", "persistentvolumes") => (c::PERSISTENT_VOLUME, cluster::persistent_volume),
        ("", "persistentvolumeclaims") => {
            (c::PERSISTENT_VOLUME_CLAIM, cluster::persistent_volume_claim)
        }
        ("", "componentstatuses") => (c::COMPONENT_STATUS, cluster::component_status),
        ("", "configmaps") => (c::CONFIG_MAP, cluster::config_map),
        ("", "resourcequotas") => (c::RESOURCE_QUOTA, cluster::resource_quota),
        ("apps", "deployments") => (c::DEPLOYMENT, workloads::deployment),
        ("apps", "replicasets") => (c::REPLICA_SET, workloads::replica_set),
        ("apps", "statefulsets") => (c::STATEFUL_SET, workloads::stateful_set),
        ("apps", "daemonsets") => (c::DAEMON_SET, workloads::daemon_set),
        ("apps", "controllerrevisions") => (c::CONTROLLER_REVISION, workloads::controller_revision),
        ("batch", "jobs") => (c::JOB, workloads::job),
        ("batch", "cronjobs") => (c::CRON_JOB, workloads::cron_job),
        ("autoscaling", "horizontalpodautoscalers") => (
            c::HORIZONTAL_POD_AUTOSCALER,
            workloads::horizontal_pod_autoscaler,
        ),
        ("policy", "poddisruptionbudgets") => {
            (c::POD_DISRUPTION_BUDGET, workloads::pod_disruption_budget)
        }
        ("coordination.k8s.io", "leases") => (c::LEASE, cluster::lease),
        ("coordination.k8s.io", "leasecandidates") => {
            (c::LEASE_CANDIDATE, cluster::lease_candidate)
        }
        ("scheduling.k8s.io", "priorityclasses") => (c::PRIORITY_CLASS, cluster::priority_class),
        ("node.k8s.io", "runtimeclasses") => (c::RUNTIME_CLASS, cluster::runtime_class),
        ("discovery.k8s.io", "endpointslices") => (c::ENDPOINT_SLICE, cluster::endpoint_slice),
        ("networking.k8s.io", "ingresses") => (c::INGRESS, apis::ingress),
        ("networking.k8s.io", "ingressclasses") => (c::INGRESS_CLASS, apis::ingress_class),
        ("networking.k8s.io", "networkpolicies") => (c::NETWORK_POLICY, apis::network_policy),
        ("networking.k8s.io", "servicecidrs") => (c::SERVICE_CIDR, apis::service_cidr),
        ("networking.k8s.io", "ipaddresses") => (c::IP_ADDRESS, apis::ip_address),
        ("rbac.authorization.k8s.io", "rolebindings") => (c::ROLE_BINDING, apis::role_binding),
        ("rbac.authorization.k8s.io", "clusterrolebindings") => {
            (c::CLUSTER_ROLE_BINDING, apis::role_binding)
        }
        ("certificates.k8s.io", "certificatesigningrequests") => (
            c::CERTIFICATE_SIGNING_REQUEST,
            apis::certificate_signing_request,
        ),
        ("certificates.k8s.io", "clustertrustbundles") => {
            (c::CLUSTER_TRUST_BUNDLE, apis::cluster_trust_bundle)
        }
        ("storage.k8s.io", "storageclasses") => (c::STORAGE_CLASS, apis::storage_class),
        ("storage.k8s.io", "volumeattributesclasses") => {
            (c::VOLUME_ATTRIBUTES_CLASS, apis::volume_attributes_class)
        }
        ("storage.k8s.io", "volumeattachments") => (c::VOLUME_ATTACHMENT, apis::volume_attachment),
        ("storage.k8s.io", "csidrivers") => (c::CSI_DRIVER, apis::csi_driver),
        ("storage.k8s.io", "csinodes") => (c::CSI_NODE, apis::csi_node),
        ("storage.k8s.io", "csistoragecapacities") => {
            (c::CSI_STORAGE_CAPACITY, apis::csi_storage_capacity)
        }
        (
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations" | "validatingwebhookconfigurations",
        ) => (c::WEBHOOK_CONFIGURATION, apis::webhook_configuration),
        ("admissionregistration.k8s.io", "validatingadmissionpolicies") => (
            c::VALIDATING_ADMISSION_POLICY,
            apis::validating_admission_policy,
        ),
        ("admissionregistration.k8s.io", "mutatingadmissionpolicies") => (
            c::MUTATING_ADMISSION_POLICY,
            apis::mutating_admission_policy,
        ),
        (
            "admissionregistration.k8s.io",
            "validatingadmissionpolicybindings" | "mutatingadmissionpolicybindings",
        ) => (c::ADMISSION_POLICY_BINDING, apis::admission_policy_binding),
        ("flowcontrol.apiserver.k8s.io", "flowschemas") => (c::FLOW_SCHEMA, apis::flow_schema),
        ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations") => (
            c::PRIORITY_LEVEL_CONFIGURATION,
            apis::priority_level_configuration,
        ),
        ("internal.apiserver.k8s.io", "storageversions") => {
            (c::STORAGE_VERSION, apis::storage_version)
        }
        ("storagemigration.k8s.io", "storageversionmigrations") => (
            c::STORAGE_VERSION_MIGRATION,
            apis::storage_version_migration,
        ),
        ("resource.k8s.io", "deviceclasses") => (c::DEVICE_CLASS, apis::name_and_age),
        ("resource.k8s.io", "resourceclaims") => (c::RESOURCE_CLAIM, apis::resource_claim),
        ("resource.k8s.io", "resourceclaimtemplates") => {
            (c::RESOURCE_CLAIM_TEMPLATE, apis::name_and_age)
        }
        ("resource.k8s.io", "resourceslices") => (c::RESOURCE_SLICE, apis::resource_slice),
        ("apiregistration.k8s.io", "apiservices") => (c::API_SERVICE, apis::api_service),
        _ => return None,
    };
    Some(found)
}

/// Columns of the Table for a resource (`group` is `""` for the core group).
///
/// Kinds without an upstream printer (roles, clusterroles, limitranges,
/// customresourcedefinitions, ...) get the default convertor's `Name` and
/// `Created At` columns.
pub fn columns(group: &str, resource: &str) -> &'static [Column] {
    printer(group, resource).map_or(columns::DEFAULT, |(columns, _)| columns)
}

/// Cells of one row, in the order of [`columns`], as kube-apiserver renders them
/// for `obj` at time `now`.
pub fn cells(group: &str, resource: &str, obj: &Value, now: OffsetDateTime) -> Vec<Value> {
    let clock = Clock { now };
    match printer(group, resource) {
        Some((_, print)) => print(obj, &clock),
        None => default_cells(obj),
    }
}

/// Row `conditions` upstream attaches: pods that succeeded or failed carry a
/// `Completed` condition (kubectl uses it to tell finished pods apart).
pub fn row_conditions(group: &str, resource: &str, obj: &Value) -> Vec<Value> {
    if (group, resource) != ("", "pods") {
        return Vec::new();
    }
    let (reason, message) = match str_at(&obj["status"]["phase"]) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return Vec::new(),
    };
    vec![json!({"type": "Completed", "status": "True", "reason": reason, "message": message})]
}

/// k8s.io/apiserver's default convertor: the name and the creation time in
/// RFC 3339 (UTC, whole seconds; Go's zero time when unset).
fn default_cells(obj: &Value) -> Vec<Value> {
    let created = parse_time(&obj["metadata"]["creationTimestamp"])
        .map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), format_rfc3339_utc);
    vec![name(obj), Value::String(created)]
}

fn format_rfc3339_utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Upstream's `duration.HumanDuration`: a short, approximate rendering with two
/// or three significant figures ("45s", "3m20s", "5h", "2d3h", "3y120d", "10y").
pub fn human_duration(d: Duration) -> String {
    human_duration_nanos(i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

/// `HumanDuration` over a signed span in nanoseconds: up to one second in the
/// future counts as "0s" (clock skew); further is `<invalid>`.
fn human_duration_nanos(nanos: i128) -> String {
    const SEC: i128 = 1_000_000_000;
    // Go truncates toward zero when converting seconds to int.
    let seconds = nanos / SEC;
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            dy => format!("{}y{dy}d", hours / 24 / 365),
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The time printers measure ages against.
struct Clock {
    now: OffsetDateTime,
}

impl Clock {
    /// Upstream's `translateTimestampSince`: `<unknown>` for an unset
    /// timestamp, else the human duration from it to now.
    fn since(&self, timestamp: &Value) -> String {
        match parse_time(timestamp) {
            Some(t) => self.since_time(t),
            None => "<unknown>".to_owned(),
        }
    }

    fn since_time(&self, t: OffsetDateTime) -> String {
        human_duration_nanos((self.now - t).whole_nanoseconds())
    }

    /// The AGE cell of any object.
    fn age(&self, obj: &Value) -> Value {
        Value::String(self.since(&obj["metadata"]["creationTimestamp"]))
    }
}

/// A set RFC 3339 timestamp (`metav1.Time` or `metav1.MicroTime`); `None` when
/// unset, empty or unreadable, which upstream treats as the zero time.
fn parse_time(v: &Value) -> Option<OffsetDateTime> {
    let s = v.as_str().filter(|s| !s.is_empty())?;
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// A string field, `""` when absent (Go's zero value).
fn str_at(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// An integer field, 0 when absent.
fn int_at(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// A list field, empty when absent.
fn list_at(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// Number of entries of a map field, 0 when absent.
fn map_len(v: &Value) -> usize {
    v.as_object().map_or(0, serde_json::Map::len)
}

/// The NAME cell.
fn name(obj: &Value) -> Value {
    Value::String(str_at(&obj["metadata"]["name"]).to_owned())
}

/// A string cell, or `fallback` when the field is absent or empty.
fn or(v: &Value, fallback: &str) -> String {
    match str_at(v) {
        "" => fallback.to_owned(),
        s => s.to_owned(),
    }
}

/// `resource.Quantity.String()` of a field: the canonical text stored in JSON,
/// `"0"` for an absent (zero) quantity.
fn quantity(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "0".to_owned(),
    }
}

/// `String()` of a `*resource.Quantity`: like [`quantity`] but `<nil>` when unset.
fn quantity_ptr(v: &Value) -> String {
    if v.is_null() {
        "<nil>".to_owned()
    } else {
        quantity(v)
    }
}

/// Upstream's `printBoolPtr`.
fn bool_ptr(v: &Value) -> &'static str {
    match v.as_bool() {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    }
}

/// `labels.FormatLabels`: `k=v` sorted and comma-joined, `<none>` when empty.
fn format_labels(map: &Value) -> String {
    let mut pairs: Vec<String> = map
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", str_at(v)))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_owned()
    } else {
        pairs.join(",")
    }
}

/// `metav1.LabelSelectorAsSelector(sel).String()`: requirements sorted by key;
/// `""` for an absent or empty selector; `Err` where upstream fails to build one.
fn selector_string(sel: &Value) -> Result<String, ()> {
    if sel.is_null() {
        return Ok(String::new());
    }
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(labels) = sel["matchLabels"].as_object() {
        for (k, v) in labels {
            reqs.push((k.clone(), format!("{k}={}", str_at(v))));
        }
    }
    for expr in list_at(&sel["matchExpressions"]) {
        let key = str_at(&expr["key"]);
        let mut values: Vec<&str> = list_at(&expr["values"]).iter().map(str_at).collect();
        values.sort_unstable();
        let text = match (str_at(&expr["operator"]), values.is_empty()) {
            ("In", false) => format!("{key} in ({})", values.join(",")),
            ("NotIn", false) => format!("{key} notin ({})", values.join(",")),
            ("Exists", true) => key.to_owned(),
            ("DoesNotExist", true) => format!("!{key}"),
            _ => return Err(()),
        };
        reqs.push((key.to_owned(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(","))
}

/// `metav1.FormatLabelSelector`: `<none>` when it selects everything or
/// nothing, `<error>` when invalid.
fn format_label_selector(sel: &Value) -> String {
    match selector_string(sel) {
        Ok(s) if s.is_empty() => "<none>".to_owned(),
        Ok(s) => s,
        Err(()) => "<error>".to_owned(),
    }
}

/// Upstream's `layoutContainerCells`: container names and images, each comma-joined.
fn container_cells(pod_spec: &Value) -> (Value, Value) {
    let containers = list_at(&pod_spec["containers"]);
    let names: Vec<&str> = containers.iter().map(|c| str_at(&c["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(&c["image"])).collect();
    (
        Value::String(names.join(",")),
        Value::String(images.join(",")),
    )
}

/// Upstream's `listWithMoreString`: the first `max` items, then "+ N more...";
/// `<unset>` for an empty list.
fn list_with_more(items: &[String], max: usize) -> String {
    if items.len() > max {
        return format!("{} + {} more...", items[..max].join(","), items.len() - max);
    }
    if items.is_empty() {
        "<unset>".to_owned()
    } else {
        items.join(",")
    }
}
