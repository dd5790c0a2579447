//! The EndpointSlice mirroring controller (upstream
//! `pkg/controller/endpointslicemirroring`): for a Service without a selector,
//! whose `Endpoints` object is written by someone else (a user, an operator),
//! it mirrors every subset of that object into EndpointSlices so that
//! consumers of slices (the service proxy, DNS) see the same backends.
//!
//! What it does not own: Endpoints of Services with a selector (the endpoints
//! controller writes those, and the EndpointSlice controller writes their
//! slices), and the `endpoints.kubernetes.io/over-capacity` annotation (the
//! endpoints controller sets it on the Endpoints it truncates; here it is
//! merely copied along with the other annotations).
//!
//! The mirrored slices carry a ControllerRef to the Endpoints object, as
//! upstream's, so the garbage collector removes them when the Endpoints go.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{EndpointAddress, EndpointSubset, Endpoints, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};

use crate::controller_utils::new_controller_ref;
use crate::endpointslice::{MANAGED_BY, SERVICE_NAME, service_of};
use crate::events::{EventType, Recorder};
use crate::informer::{Informer, Informers};
use crate::{ApiContext, Error, Result};

/// The `managed-by` value of mirrored slices.
pub const CONTROLLER_NAME: &str = "endpointslicemirroring-controller.k8s.io";
/// Endpoints labelled `endpointslice.kubernetes.io/skip-mirror=true` are not mirrored.
pub const SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
/// Endpoints used as leader-election locks carry this annotation and are not mirrored.
const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";
/// Annotations of the Endpoints that are not copied to the slices.
const NOT_MIRRORED_ANNOTATIONS: [&str; 2] = [
    crate::endpoints::LAST_CHANGE,
    "kubectl.kubernetes.io/last-applied-configuration",
];
/// Upstream's `--mirroring-max-endpoints-per-subset` default: one slice per
/// subset and address type, so a subset mirrors at most this many addresses.
pub const MAX_ENDPOINTS_PER_SUBSET: usize = 1000;
const COMPONENT: &str = "endpoint-slice-mirroring-controller";

/// Whether an Endpoints object is mirrored at all (upstream `shouldMirror`);
/// whether its Service allows it is checked separately.
pub fn should_mirror(ep: &Endpoints) -> bool {
    ep.labels().get(SKIP_MIRROR).map(String::as_str) != Some("true")
        && !ep.annotations().contains_key(LEADER_ANNOTATION)
}

/// The address type of a slice and the canonical form of an IP, as upstream
/// parses it (`ParseIPSloppy`: IPv4 octets with leading zeros are decimal;
/// an IPv4-mapped IPv6 address is IPv4). `None` for an invalid IP.
fn parse_ip(ip: &str) -> Option<(&'static str, String)> {
    let parsed = ip.parse::<IpAddr>().ok().or_else(|| {
        let octets: Vec<u8> = ip
            .split('.')
            .map(|o| {
                if o.is_empty() || o.len() > 3 || !o.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                o.parse::<u8>().ok()
            })
            .collect::<Option<_>>()?;
        <[u8; 4]>::try_from(octets).ok().map(IpAddr::from)
    })?;
    match parsed {
        IpAddr::V4(v4) => Some(("IPv4", v4.to_string())),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Some(("IPv4", v4.to_string())),
            None => Some(("IPv6", v6.to_string())),
        },
    }
}

/// One slice the Endpoints should be mirrored into.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredSlice {
    pub address_type: &'static str,
    pub ports: Vec<EndpointPort>,
    pub endpoints: Vec<Endpoint>,
}

/// The desired slices of an Endpoints object and what was left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mirror {
    /// Keyed by address type and port set; a key with no endpoints means
    /// "no slice here" (its existing slices are deleted).
    pub slices: BTreeMap<SliceKey, DesiredSlice>,
    /// Addresses that are not IPs.
    pub invalid: usize,
    /// Valid addresses beyond [`MAX_ENDPOINTS_PER_SUBSET`] in their subset.
    pub over_capacity: usize,
}

/// Groups slices: address type plus the port set in a canonical order
/// (upstream `addrTypePortMapKey`; subsets with the same ports share slices).
pub type SliceKey = (String, Vec<(String, i32, String, String)>);

fn slice_key(address_type: &str, ports: &[EndpointPort]) -> SliceKey {
    let mut canonical: Vec<_> = ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port.unwrap_or_default(),
                p.protocol.clone().unwrap_or_default(),
                p.app_protocol.clone().unwrap_or_default(),
            )
        })
        .collect();
    canonical.sort();
    (address_type.to_string(), canonical)
}

fn subset_ports(subset: &EndpointSubset) -> Vec<EndpointPort> {
    subset
        .ports
        .iter()
        .flatten()
        .map(|p| EndpointPort {
            name: Some(p.name.clone().unwrap_or_default()),
            port: Some(p.port),
            protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
            app_protocol: p.app_protocol.clone(),
        })
        .collect()
}

fn to_endpoint(address: &EndpointAddress, ip: String, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![ip],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            ..Default::default()
        }),
        hostname: address.hostname.clone().filter(|h| !h.is_empty()),
        node_name: address.node_name.clone(),
        target_ref: address.target_ref.clone(),
        ..Default::default()
    }
}

/// The identity of an endpoint in a set (upstream hashes the endpoint without
/// its conditions): the same address listed twice is mirrored once, the
/// later listing winning.
fn endpoint_identity(e: &Endpoint) -> (Vec<String>, Option<String>, Option<String>, String) {
    let target = e
        .target_ref
        .as_ref()
        .map(|r| {
            format!(
                "{}/{}/{}",
                r.kind.as_deref().unwrap_or(""),
                r.namespace.as_deref().unwrap_or(""),
                r.name.as_deref().unwrap_or("")
            )
        })
        .unwrap_or_default();
    (
        e.addresses.clone(),
        e.hostname.clone(),
        e.node_name.clone(),
        target,
    )
}

/// Maps an Endpoints object onto the slices that mirror it (upstream
/// `reconcile`'s desired-state pass): each subset's ready addresses then its
/// not-ready ones, at most [`MAX_ENDPOINTS_PER_SUBSET`] valid ones per subset,
/// grouped by address type and port set.
pub fn mirror(ep: &Endpoints) -> Mirror {
    let mut out = Mirror::default();
    for subset in ep.subsets.iter().flatten() {
        let ports = subset_ports(subset);
        // Both address types get a (possibly empty) group, so slices of a type
        // the subset no longer has are deleted.
        for address_type in ["IPv4", "IPv6"] {
            out.slices
                .entry(slice_key(address_type, &ports))
                .or_insert_with(|| DesiredSlice {
                    address_type,
                    ports: ports.clone(),
                    endpoints: Vec::new(),
                })
                .ports = ports.clone();
        }
        let addresses = subset.addresses.iter().flatten().map(|a| (a, true)).chain(
            subset
                .not_ready_addresses
                .iter()
                .flatten()
                .map(|a| (a, false)),
        );
        let total = subset.addresses.as_ref().map_or(0, Vec::len)
            + subset.not_ready_addresses.as_ref().map_or(0, Vec::len);
        let mut added = 0;
        let mut invalid = 0;
        for (address, ready) in addresses {
            if added >= MAX_ENDPOINTS_PER_SUBSET {
                break;
            }
            let Some((address_type, ip)) = parse_ip(&address.ip) else {
                invalid += 1;
                continue;
            };
            added += 1;
            let endpoint = to_endpoint(address, ip, ready);
            let slice = out
                .slices
                .entry(slice_key(address_type, &ports))
                .or_insert_with(|| DesiredSlice {
                    address_type,
                    ports: ports.clone(),
                    endpoints: Vec::new(),
                });
            let id = endpoint_identity(&endpoint);
            match slice
                .endpoints
                .iter_mut()
                .find(|e| endpoint_identity(e) == id)
            {
                Some(existing) => *existing = endpoint,
                None => slice.endpoints.push(endpoint),
            }
        }
        out.invalid += invalid;
        out.over_capacity += total - added - invalid;
    }
    out
}

/// Labels of a mirrored slice: the Endpoints' labels, with the Service name
/// and this controller as manager.
pub fn slice_labels(ep: &Endpoints) -> BTreeMap<String, String> {
    let mut labels = ep.labels().clone();
    labels.insert(SERVICE_NAME.into(), ep.name_any());
    labels.insert(MANAGED_BY.into(), CONTROLLER_NAME.into());
    labels
}

/// Annotations of a mirrored slice: the Endpoints' own, except the trigger
/// time and kubectl's last-applied configuration.
pub fn slice_annotations(ep: &Endpoints) -> BTreeMap<String, String> {
    let mut annotations = ep.annotations().clone();
    for key in NOT_MIRRORED_ANNOTATIONS {
        annotations.remove(key);
    }
    annotations
}

/// What to do with the slices of one Endpoints object.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub create: Vec<EndpointSlice>,
    pub update: Vec<EndpointSlice>,
    pub delete: Vec<String>,
}

fn existing_key(slice: &EndpointSlice) -> SliceKey {
    slice_key(
        &slice.address_type,
        slice.ports.as_deref().unwrap_or_default(),
    )
}

/// Compares the desired slices with the existing ones (upstream
/// `reconcileByPortMapping` + `recycleSlices`): per group the first existing
/// slice is kept (rewritten when its endpoints, labels or annotations
/// differ) and the others deleted; groups without endpoints lose their
/// slices; a slice to create reuses the name of one of the same address type
/// that would be deleted.
pub fn plan(ep: &Endpoints, desired: &Mirror, existing: &[EndpointSlice]) -> Plan {
    let labels = slice_labels(ep);
    let annotations = slice_annotations(ep);
    let mut by_key: BTreeMap<SliceKey, Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in existing {
        by_key.entry(existing_key(slice)).or_default().push(slice);
    }
    let mut out = Plan::default();
    let mut deleted: Vec<(String, &str)> = Vec::new();
    for (key, want) in &desired.slices {
        let current = by_key.remove(key).unwrap_or_default();
        if want.endpoints.is_empty() {
            deleted.extend(current.iter().map(|s| (s.name_any(), type_of(s))));
            continue;
        }
        let mut current = current.into_iter();
        let first = current.next();
        deleted.extend(current.map(|s| (s.name_any(), type_of(s))));
        let slice = new_slice(ep, want, &labels, &annotations, first.map(|s| s.name_any()));
        match first {
            Some(cur) if unchanged(cur, &slice) => {}
            Some(_) => out.update.push(slice),
            None => out.create.push(slice),
        }
    }
    for rest in by_key.into_values() {
        deleted.extend(rest.iter().map(|s| (s.name_any(), type_of(s))));
    }
    // Recycle: a create and a delete of the same address type become an update.
    let mut create = Vec::new();
    for mut slice in std::mem::take(&mut out.create) {
        match deleted
            .iter()
            .position(|(_, t)| *t == slice.address_type.as_str())
        {
            Some(i) => {
                let (name, _) = deleted.remove(i);
                slice.metadata.generate_name = None;
                slice.metadata.name = Some(name);
                out.update.push(slice);
            }
            None => create.push(slice),
        }
    }
    out.create = create;
    out.delete = deleted.into_iter().map(|(name, _)| name).collect();
    out
}

fn type_of(slice: &EndpointSlice) -> &str {
    slice.address_type.as_str()
}

fn new_slice(
    ep: &Endpoints,
    want: &DesiredSlice,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    name: Option<String>,
) -> EndpointSlice {
    let owner = new_controller_ref(
        "v1",
        "Endpoints",
        &ep.name_any(),
        &ep.uid().unwrap_or_default(),
    );
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: name.is_none().then(|| format!("{}-", ep.name_any())),
            name,
            namespace: ep.namespace(),
            labels: Some(labels.clone()),
            annotations: (!annotations.is_empty()).then(|| annotations.clone()),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        address_type: want.address_type.into(),
        endpoints: want.endpoints.clone(),
        ports: Some(want.ports.clone()),
    }
}

/// Whether an existing slice already mirrors what `want` holds: the same
/// endpoints in any order, labels and annotations.
fn unchanged(current: &EndpointSlice, want: &EndpointSlice) -> bool {
    let sorted = |s: &EndpointSlice| {
        let mut e: Vec<String> = s
            .endpoints
            .iter()
            .map(|e| serde_json::to_string(e).unwrap_or_default())
            .collect();
        e.sort();
        e
    };
    let empty = BTreeMap::new();
    sorted(current) == sorted(want)
        && current.labels() == want.labels()
        && current.metadata.annotations.as_ref().unwrap_or(&empty)
            == want.metadata.annotations.as_ref().unwrap_or(&empty)
}

struct Ctx {
    client: Client,
    services: Informer<Service>,
    slices: Informer<EndpointSlice>,
    recorder: Recorder,
}

fn is_mirrored(slice: &EndpointSlice) -> bool {
    slice.labels().get(MANAGED_BY).map(String::as_str) == Some(CONTROLLER_NAME)
}

/// Runs the mirroring controller until its watches fail.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let services = informers.of::<Service>();
    let slices = informers.of::<EndpointSlice>();
    let endpoints = informers.of::<Endpoints>();
    services.synced().await;
    slices.synced().await;
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), COMPONENT),
        client,
        services: services.clone(),
        slices: slices.clone(),
    });
    Controller::for_shared_stream(endpoints.subscribe(), endpoints.store())
        // The Endpoints of a Service share its name: a Service that appears,
        // goes, or gains or loses its selector re-syncs them.
        .watches_shared_stream(services.subscribe(), |svc: Arc<Service>| {
            Some(ObjectRef::new(&svc.name_any()).within(&svc.namespace()?))
        })
        // A mirrored slice changed or deleted by someone else is put back.
        .watches_shared_stream(slices.subscribe(), |slice: Arc<EndpointSlice>| {
            is_mirrored(&slice).then(|| service_of(&slice)).flatten()
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

fn error_policy(ep: Arc<Endpoints>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(endpoints = %ep.name_any(), error = %crate::error_chain(e), "endpointslice mirroring failed");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(ep: Arc<Endpoints>, ctx: Arc<Ctx>) -> Result<Action> {
    let ns = ep.namespace().unwrap_or_default();
    let name = ep.name_any();
    let svc = ctx.services.get(&ns, &name);
    // Upstream mirrors only for an existing Service whose selector is unset
    // (an empty selector `{}` is set, and the endpoints controllers own it).
    let mirrored = should_mirror(&ep)
        && svc.is_some_and(|s| s.spec.as_ref().is_none_or(|sp| sp.selector.is_none()));
    if !mirrored {
        return delete_mirrored(&ctx, &ns, &name).await;
    }
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ns);
    // Listed from the API rather than the store: a slice created by the
    // previous sync must be seen, or it would be created twice.
    let lp = ListParams::default().labels(&format!(
        "{SERVICE_NAME}={name},{MANAGED_BY}={CONTROLLER_NAME}"
    ));
    let mut existing = api
        .list(&lp)
        .await
        .ctx(|| format!("list mirrored endpointslices of {ns}/{name}"))?
        .items;
    existing.sort_by_key(|s| s.name_any());
    let desired = mirror(&ep);
    let todo = plan(&ep, &desired, &existing);
    if todo == Plan::default() {
        return Ok(Action::await_change());
    }
    // Reported when the mirror changes rather than on every sync, so that
    // the sync our own slice writes trigger does not repeat them.
    if desired.invalid > 0 {
        ctx.recorder
            .record(
                &*ep,
                EventType::Warning,
                "InvalidIPAddress",
                format!(
                    "Skipped {} invalid IP addresses when mirroring to EndpointSlices",
                    desired.invalid
                ),
            )
            .await;
    }
    if desired.over_capacity > 0 {
        ctx.recorder
            .record(
                &*ep,
                EventType::Warning,
                "TooManyAddressesToMirror",
                format!(
                    "A max of {MAX_ENDPOINTS_PER_SUBSET} addresses can be mirrored to EndpointSlices per Endpoints subset. {} addresses were skipped",
                    desired.over_capacity + desired.invalid
                ),
            )
            .await;
    }
    // Upstream: no new slices for Endpoints being deleted.
    if ep.metadata.deletion_timestamp.is_none() {
        for slice in &todo.create {
            match api.create(&PostParams::default(), slice).await {
                Ok(_) => {}
                // The namespace is terminating: creates keep failing, drop it.
                Err(kube::Error::Api(s)) if s.code == 403 || s.code == 404 => {
                    return Ok(Action::await_change());
                }
                Err(e) => {
                    return Err(e).ctx(|| format!("create endpointslice mirroring {ns}/{name}"));
                }
            }
        }
    }
    for slice in &todo.update {
        let slice_name = slice.name_any();
        // A replace without resourceVersion: the mirror is the source of truth
        // for its own slices, whatever was written there meanwhile.
        match api
            .replace(&slice_name, &PostParams::default(), slice)
            .await
        {
            Ok(_) => {}
            Err(e) if crate::is_conflict(&e) || crate::is_not_found(&e) => {
                return Ok(Action::requeue(Duration::from_millis(100)));
            }
            Err(e) => return Err(e).ctx(|| format!("update endpointslice {ns}/{slice_name}")),
        }
    }
    delete_slices(&api, &ns, &todo.delete).await?;
    Ok(Action::await_change())
}

/// Deletes the slices mirrored for `ns/name` (the Endpoints are not to be
/// mirrored, or their Service is gone or has a selector).
async fn delete_mirrored(ctx: &Ctx, ns: &str, name: &str) -> Result<Action> {
    // The store suffices here: a slice it has not seen yet triggers another
    // sync when its event arrives.
    let names: Vec<String> = ctx
        .slices
        .in_namespace(ns)
        .iter()
        .filter(|s| {
            is_mirrored(s) && s.labels().get(SERVICE_NAME).map(String::as_str) == Some(name)
        })
        .map(|s| s.name_any())
        .collect();
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), ns);
    delete_slices(&api, ns, &names).await?;
    Ok(Action::await_change())
}

async fn delete_slices(api: &Api<EndpointSlice>, ns: &str, names: &[String]) -> Result<()> {
    for slice_name in names {
        match api.delete(slice_name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if crate::is_not_found(&e) => {}
            Err(e) => return Err(e).ctx(|| format!("delete endpointslice {ns}/{slice_name}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn endpoints(v: serde_json::Value) -> Endpoints {
        serde_json::from_value(v).expect("valid endpoints")
    }

    fn ips(s: &DesiredSlice) -> Vec<(String, bool)> {
        s.endpoints
            .iter()
            .map(|e| {
                (
                    e.addresses[0].clone(),
                    e.conditions.as_ref().and_then(|c| c.ready) == Some(true),
                )
            })
            .collect()
    }

    fn non_empty(m: &Mirror) -> Vec<&DesiredSlice> {
        m.slices
            .values()
            .filter(|s| !s.endpoints.is_empty())
            .collect()
    }

    fn base() -> serde_json::Value {
        json!({
            "metadata": {"name": "ext", "namespace": "ns", "uid": "ep-uid",
                         "labels": {"team": "a"},
                         "annotations": {"note": "x",
                                         "endpoints.kubernetes.io/last-change-trigger-time": "t",
                                         "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "subsets": [{
                "addresses": [{"ip": "10.1.0.1", "hostname": "h1", "nodeName": "n1"}, {"ip": "10.1.0.2"}],
                "notReadyAddresses": [{"ip": "10.1.0.3"}],
                "ports": [{"name": "http", "port": 80}],
            }],
        })
    }

    #[test]
    fn subsets_map_to_slices_with_ready_conditions_and_ports() {
        let ep = endpoints(base());
        let m = mirror(&ep);
        let slices = non_empty(&m);
        assert_eq!(slices.len(), 1);
        let s = slices[0];
        assert_eq!(s.address_type, "IPv4");
        assert_eq!(
            ips(s),
            [
                ("10.1.0.1".to_string(), true),
                ("10.1.0.2".to_string(), true),
                ("10.1.0.3".to_string(), false)
            ]
        );
        assert_eq!(s.endpoints[0].hostname.as_deref(), Some("h1"));
        assert_eq!(s.endpoints[0].node_name.as_deref(), Some("n1"));
        assert_eq!(s.ports[0].name.as_deref(), Some("http"));
        assert_eq!(s.ports[0].protocol.as_deref(), Some("TCP"));
        assert_eq!(s.ports[0].port, Some(80));
        assert_eq!((m.invalid, m.over_capacity), (0, 0));
    }

    #[test]
    fn labels_and_annotations_are_copied_except_trigger_time_and_last_applied() {
        let ep = endpoints(base());
        let labels = slice_labels(&ep);
        assert_eq!(labels.get("team").map(String::as_str), Some("a"));
        assert_eq!(labels.get(SERVICE_NAME).map(String::as_str), Some("ext"));
        assert_eq!(
            labels.get(MANAGED_BY).map(String::as_str),
            Some(CONTROLLER_NAME)
        );
        let annotations = slice_annotations(&ep);
        assert_eq!(annotations.keys().collect::<Vec<_>>(), ["note"]);
    }

    #[test]
    fn mixed_families_split_by_address_type_and_invalid_ips_are_skipped() {
        let ep = endpoints(json!({
            "metadata": {"name": "ext", "namespace": "ns"},
            "subsets": [{
                "addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}, {"ip": "not-an-ip"},
                              {"ip": "::ffff:10.0.0.9"}, {"ip": "010.000.000.002"}],
                "ports": [{"port": 53, "protocol": "UDP"}],
            }],
        }));
        let m = mirror(&ep);
        let slices = non_empty(&m);
        assert_eq!(slices.len(), 2);
        let v4 = slices
            .iter()
            .find(|s| s.address_type == "IPv4")
            .expect("v4");
        let v6 = slices
            .iter()
            .find(|s| s.address_type == "IPv6")
            .expect("v6");
        let v4_ips: Vec<_> = ips(v4).into_iter().map(|(ip, _)| ip).collect();
        assert_eq!(v4_ips, ["10.0.0.1", "10.0.0.9", "10.0.0.2"]);
        assert_eq!(ips(v6), [("fd00::1".to_string(), true)]);
        assert_eq!(m.invalid, 1);
        assert_eq!(m.over_capacity, 0);
    }

    #[test]
    fn at_most_1000_addresses_per_subset_are_mirrored() {
        let addresses: Vec<_> = (0..1200)
            .map(|i| json!({"ip": format!("10.2.{}.{}", i / 250, i % 250 + 1)}))
            .collect();
        let ep = endpoints(json!({
            "metadata": {"name": "big", "namespace": "ns"},
            "subsets": [
                {"addresses": addresses, "ports": [{"port": 80}]},
                {"addresses": [{"ip": "10.9.0.1"}], "ports": [{"port": 81}]},
            ],
        }));
        let m = mirror(&ep);
        let sizes: Vec<usize> = non_empty(&m).iter().map(|s| s.endpoints.len()).collect();
        assert_eq!(sizes, [1000, 1]);
        assert_eq!(m.over_capacity, 200);
    }

    #[test]
    fn subsets_with_the_same_ports_share_a_slice_and_duplicates_collapse() {
        let ep = endpoints(json!({
            "metadata": {"name": "ext", "namespace": "ns"},
            "subsets": [
                {"addresses": [{"ip": "10.0.0.1"}], "ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}]},
                {"notReadyAddresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                 "ports": [{"name": "b", "port": 2}, {"name": "a", "port": 1}]},
            ],
        }));
        let m = mirror(&ep);
        let slices = non_empty(&m);
        assert_eq!(slices.len(), 1);
        assert_eq!(
            ips(slices[0]),
            [
                ("10.0.0.1".to_string(), false),
                ("10.0.0.2".to_string(), false)
            ]
        );
    }

    #[test]
    fn skip_mirror_label_and_leader_annotation_stop_mirroring() {
        assert!(should_mirror(&endpoints(base())));
        let mut skip = base();
        skip["metadata"]["labels"][SKIP_MIRROR] = json!("true");
        assert!(!should_mirror(&endpoints(skip)));
        let mut leader = base();
        leader["metadata"]["annotations"][LEADER_ANNOTATION] = json!("{}");
        assert!(!should_mirror(&endpoints(leader)));
    }

    fn existing(name: &str, ep: &Endpoints, want: &DesiredSlice) -> EndpointSlice {
        let mut s = new_slice(
            ep,
            want,
            &slice_labels(ep),
            &slice_annotations(ep),
            Some(name.into()),
        );
        s.metadata.resource_version = Some("7".into());
        s
    }

    #[test]
    fn plan_creates_then_keeps_then_updates_and_deletes() {
        let ep = endpoints(base());
        let m = mirror(&ep);
        let p = plan(&ep, &m, &[]);
        assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (1, 0, 0));
        let created = &p.create[0];
        assert_eq!(created.metadata.generate_name.as_deref(), Some("ext-"));
        let owner = &created.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("Endpoints", "ext")
        );

        // In sync: nothing to do, whatever the order of the endpoints.
        let want = non_empty(&m)[0].clone();
        let mut current = existing("ext-abc", &ep, &want);
        current.endpoints.reverse();
        assert_eq!(plan(&ep, &m, &[current.clone()]), Plan::default());

        // An address changes: the slice is rewritten in place; a duplicate goes.
        let mut changed = base();
        changed["subsets"][0]["addresses"][1]["ip"] = json!("10.1.0.9");
        let changed = endpoints(changed);
        let dup = existing("ext-dup", &ep, &want);
        let p = plan(&changed, &mirror(&changed), &[current.clone(), dup]);
        assert_eq!(p.create, []);
        assert_eq!(p.update.len(), 1);
        assert_eq!(p.update[0].metadata.name.as_deref(), Some("ext-abc"));
        assert_eq!(p.delete, ["ext-dup"]);

        // A label change alone rewrites the slice.
        let mut relabelled = base();
        relabelled["metadata"]["labels"]["team"] = json!("b");
        let relabelled = endpoints(relabelled);
        let p = plan(&relabelled, &mirror(&relabelled), &[current.clone()]);
        assert_eq!(p.update.len(), 1);

        // No addresses left: the slice is deleted.
        let mut emptied = base();
        emptied["subsets"] = json!([]);
        let emptied = endpoints(emptied);
        let p = plan(&emptied, &mirror(&emptied), &[current]);
        assert_eq!((p.create.len(), p.update.len()), (0, 0));
        assert_eq!(p.delete, ["ext-abc"]);
    }

    #[test]
    fn a_port_change_recycles_the_old_slice() {
        let ep = endpoints(base());
        let m = mirror(&ep);
        let current = existing("ext-abc", &ep, non_empty(&m)[0]);
        let mut moved = base();
        moved["subsets"][0]["ports"][0]["port"] = json!(8080);
        let moved = endpoints(moved);
        let p = plan(&moved, &mirror(&moved), &[current]);
        assert_eq!((p.create.len(), p.delete.len()), (0, 0));
        assert_eq!(p.update.len(), 1);
        assert_eq!(p.update[0].metadata.name.as_deref(), Some("ext-abc"));
        assert_eq!(p.update[0].metadata.generate_name, None);
        assert_eq!(
            p.update[0].ports.as_ref().expect("ports")[0].port,
            Some(8080)
        );
    }
}
