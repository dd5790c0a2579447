//! The EndpointSlice controller (upstream `pkg/controller/endpointslice`): for
//! every Service with a selector, EndpointSlices of at most 100 endpoints with
//! ready/serving/terminating conditions, labelled with the Service's name and
//! this controller as manager, owned by the Service (so they go with it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};

use crate::controller_utils::new_controller_ref;
use crate::endpoints::{
    Backend, ResolvedPort, backends, pod_reference, selected_pods, service_controller,
};
use crate::informer::{Informer, Informers};
use crate::{ApiContext, Error, Result};

/// Upstream's `--max-endpoints-per-slice` default.
const MAX_ENDPOINTS_PER_SLICE: usize = 100;
pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";

struct Ctx {
    client: Client,
    pods: Informer<Pod>,
}

/// Runs the EndpointSlice controller until its watches fail.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let (controller, pods) = service_controller(&informers).await;
    let slices = informers.of::<EndpointSlice>();
    let ctx = Arc::new(Ctx { client, pods });
    controller
        // A slice of ours edited or deleted by someone else is put back.
        .watches_shared_stream(slices.subscribe(), |slice: Arc<EndpointSlice>| {
            let ours = slice.labels().get(MANAGED_BY).map(String::as_str) == Some(CONTROLLER_NAME);
            ours.then(|| service_of(&slice)).flatten()
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// The object named after the Service a slice belongs to (its
/// `kubernetes.io/service-name` label): the Service, or its Endpoints.
pub(crate) fn service_of<K>(slice: &EndpointSlice) -> Option<ObjectRef<K>>
where
    K: kube::Resource<DynamicType = ()>,
{
    let svc = slice.labels().get(SERVICE_NAME)?;
    Some(ObjectRef::new(svc).within(&slice.namespace()?))
}

fn error_policy(svc: Arc<Service>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(service = %svc.name_any(), error = %crate::error_chain(e), "endpointslice sync failed");
    Action::requeue(Duration::from_secs(5))
}

/// The slices a Service should have: endpoints grouped by port list, each
/// group cut into slices of at most [`MAX_ENDPOINTS_PER_SLICE`].
fn desired(backends: &[Backend]) -> Vec<(Vec<ResolvedPort>, Vec<Endpoint>)> {
    let mut groups: BTreeMap<Vec<ResolvedPort>, Vec<Endpoint>> = BTreeMap::new();
    for b in backends {
        let mut ports = b.ports.clone();
        ports.sort();
        groups.entry(ports).or_default().push(Endpoint {
            addresses: vec![b.ip.clone()],
            conditions: Some(EndpointConditions {
                ready: Some(b.ready),
                serving: Some(b.serving),
                terminating: Some(b.terminating),
            }),
            node_name: b.pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(pod_reference(&b.pod)),
            ..Default::default()
        });
    }
    let mut out = Vec::new();
    for (ports, endpoints) in groups {
        for chunk in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE) {
            out.push((ports.clone(), chunk.to_vec()));
        }
    }
    // A selecting Service with no endpoints still has one (empty) slice.
    if out.is_empty() {
        out.push((Vec::new(), Vec::new()));
    }
    out
}

fn slice_ports(ports: &[ResolvedPort]) -> Vec<EndpointPort> {
    ports
        .iter()
        .map(|p| EndpointPort {
            name: Some(p.name.clone()),
            port: Some(p.port),
            protocol: Some(p.protocol.clone()),
            ..Default::default()
        })
        .collect()
}

async fn reconcile(svc: Arc<Service>, ctx: Arc<Ctx>) -> Result<Action> {
    let Some(pods) = selected_pods(&svc, &ctx.pods) else {
        return Ok(Action::await_change());
    };
    if svc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let uid = svc.uid().unwrap_or_default();
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ns);
    let lp = ListParams::default().labels(&format!(
        "{SERVICE_NAME}={name},{MANAGED_BY}={CONTROLLER_NAME}"
    ));
    let mut existing = api
        .list(&lp)
        .await
        .ctx(|| format!("list endpointslices of {ns}/{name}"))?
        .items;
    existing.sort_by_key(|s| s.name_any());

    let mut labels: BTreeMap<String, String> = svc.labels().clone();
    labels.insert(SERVICE_NAME.into(), name.clone());
    labels.insert(MANAGED_BY.into(), CONTROLLER_NAME.into());
    if svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
        labels.insert("service.kubernetes.io/headless".into(), String::new());
    }
    let owner = new_controller_ref("v1", "Service", &name, &uid);
    let want = desired(&backends(&svc, &pods, true));

    let mut slots = existing.into_iter();
    for (ports, endpoints) in want {
        let ports = slice_ports(&ports);
        match slots.next() {
            Some(mut slice) => {
                if slice.endpoints == endpoints
                    && slice.ports.as_ref().unwrap_or(&Vec::new()) == &ports
                    && slice.labels() == &labels
                {
                    continue;
                }
                slice.endpoints = endpoints;
                slice.ports = Some(ports);
                slice.metadata.labels = Some(labels.clone());
                let slice_name = slice.name_any();
                match api
                    .replace(&slice_name, &PostParams::default(), &slice)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if crate::is_conflict(&e) || crate::is_not_found(&e) => {
                        return Ok(Action::requeue(Duration::from_millis(100)));
                    }
                    Err(e) => {
                        return Err(e).ctx(|| format!("update endpointslice {ns}/{slice_name}"));
                    }
                }
            }
            None => {
                let slice = EndpointSlice {
                    metadata: ObjectMeta {
                        generate_name: Some(format!("{name}-")),
                        namespace: Some(ns.clone()),
                        labels: Some(labels.clone()),
                        owner_references: Some(vec![owner.clone()]),
                        ..Default::default()
                    },
                    address_type: "IPv4".into(),
                    endpoints,
                    ports: Some(ports),
                };
                match api.create(&PostParams::default(), &slice).await {
                    Ok(_) => {}
                    // The namespace is going away: nothing to do.
                    Err(kube::Error::Api(s)) if s.code == 403 || s.code == 404 => {
                        return Ok(Action::await_change());
                    }
                    Err(e) => {
                        return Err(e).ctx(|| format!("create endpointslice for {ns}/{name}"));
                    }
                }
            }
        }
    }
    // Slices beyond what is needed go.
    for extra in slots {
        let slice_name = extra.name_any();
        match api.delete(&slice_name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if crate::is_not_found(&e) => {}
            Err(e) => return Err(e).ctx(|| format!("delete endpointslice {ns}/{slice_name}")),
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ip: &str, ready: bool, port_name: &str, port: i32) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "labels": {"app": "a"}},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i", "ports": [{"name": port_name, "containerPort": port}]}]},
                "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
            }))
            .expect("valid pod"),
        )
    }

    fn service(target: serde_json::Value, publish_not_ready: bool) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "svc", "namespace": "ns", "uid": "svc-uid"},
            "spec": {"selector": {"app": "a"}, "publishNotReadyAddresses": publish_not_ready,
                     "ports": [{"name": "http", "port": 80, "targetPort": target, "protocol": "TCP"}]},
        }))
        .expect("valid service")
    }

    #[test]
    fn named_target_ports_resolve_per_pod_and_group_slices() {
        let pods = vec![
            pod("a", "10.0.0.1", true, "web", 8080),
            pod("b", "10.0.0.2", false, "web", 9090),
        ];
        let want = desired(&backends(&service(json!("web"), false), &pods, true));
        assert_eq!(want.len(), 2, "two port sets, two slices");
        assert_eq!(want[0].0[0].port, 8080);
        assert_eq!(want[1].0[0].port, 9090);
        let b = &want[1].1[0];
        assert_eq!(b.conditions.as_ref().and_then(|c| c.ready), Some(false));
    }

    #[test]
    fn slices_hold_at_most_100_endpoints() {
        let pods: Vec<Arc<Pod>> = (0..250)
            .map(|i| {
                pod(
                    &format!("p{i}"),
                    &format!("10.0.{}.{}", i / 200, i % 200 + 1),
                    true,
                    "web",
                    80,
                )
            })
            .collect();
        let want = desired(&backends(&service(json!(80), false), &pods, true));
        let sizes: Vec<usize> = want.iter().map(|(_, e)| e.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
    }

    #[test]
    fn publish_not_ready_addresses_makes_everything_ready() {
        let pods = vec![pod("a", "10.0.0.1", false, "web", 80)];
        let want = desired(&backends(&service(json!(80), true), &pods, true));
        assert_eq!(
            want[0].1[0].conditions.as_ref().and_then(|c| c.ready),
            Some(true)
        );
    }

    #[test]
    fn legacy_endpoints_split_ready_and_not_ready() {
        let pods = vec![
            pod("a", "10.0.0.1", true, "web", 80),
            pod("b", "10.0.0.2", false, "web", 80),
        ];
        let (subsets, truncated) =
            crate::endpoints::subsets(&backends(&service(json!(80), false), &pods, false));
        assert!(!truncated);
        assert_eq!(subsets.len(), 1);
        let ready: Vec<&str> = subsets[0]
            .addresses
            .iter()
            .flatten()
            .map(|a| a.ip.as_str())
            .collect();
        let not_ready: Vec<&str> = subsets[0]
            .not_ready_addresses
            .iter()
            .flatten()
            .map(|a| a.ip.as_str())
            .collect();
        assert_eq!((ready, not_ready), (vec!["10.0.0.1"], vec!["10.0.0.2"]));
    }
}
