//! The endpoints controller (upstream `pkg/controller/endpoint`): one
//! `Endpoints` object per Service with a selector, listing the IPs of the
//! selected pods, ready ones under `addresses` and the rest under
//! `notReadyAddresses`, grouped by their resolved ports.
//!
//! Also owns what the EndpointSlice controller shares with it: which pods
//! back a Service, their readiness, and the resolution of named target ports.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
    ServicePort,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};

use crate::controller_utils::is_pod_ready;
use crate::informer::{Informer, Informers};
use crate::{ApiContext, Error, Result};

/// Upstream caps an Endpoints object at 1000 addresses and marks it.
const MAX_ADDRESSES: usize = 1000;
const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
pub(crate) const LAST_CHANGE: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// One port of a Service resolved against one pod.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ResolvedPort {
    pub name: String,
    pub protocol: String,
    pub port: i32,
}

/// A pod that backs a Service.
#[derive(Clone, Debug)]
pub(crate) struct Backend {
    pub pod: Arc<Pod>,
    pub ip: String,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    pub ports: Vec<ResolvedPort>,
}

/// Resolves a Service port's `targetPort` for a pod: a number as is, a name
/// through the pod's container ports (`podutil.FindPort`). `None` when the
/// name is not found in the pod.
pub(crate) fn resolve_port(pod: &Pod, sp: &ServicePort) -> Option<ResolvedPort> {
    let protocol = sp.protocol.clone().unwrap_or_else(|| "TCP".into());
    let port = match &sp.target_port {
        None => sp.port,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(name)) => {
            let spec = pod.spec.as_ref()?;
            spec.containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)?
        }
    };
    Some(ResolvedPort {
        name: sp.name.clone().unwrap_or_default(),
        protocol,
        port,
    })
}

/// The pods behind a Service, as both endpoint controllers see them: pods with
/// an IP that have not finished. `include_terminating` keeps pods being
/// deleted (the EndpointSlice controller reports them as terminating).
pub(crate) fn backends(
    svc: &Service,
    pods: &[Arc<Pod>],
    include_terminating: bool,
) -> Vec<Backend> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    let mut out = Vec::new();
    for pod in pods {
        let ip = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .unwrap_or_default();
        if ip.is_empty() {
            continue;
        }
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("");
        if phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        let terminating = pod.metadata.deletion_timestamp.is_some();
        if terminating && !include_terminating && !publish_not_ready {
            continue;
        }
        let pod_ready = is_pod_ready(pod);
        let ports = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|sp| resolve_port(pod, sp))
            .collect();
        out.push(Backend {
            pod: pod.clone(),
            ip,
            ready: publish_not_ready || (pod_ready && !terminating),
            serving: publish_not_ready || pod_ready,
            terminating,
            ports,
        });
    }
    out.sort_by(|a, b| {
        a.ip.cmp(&b.ip)
            .then_with(|| a.pod.name_any().cmp(&b.pod.name_any()))
    });
    out
}

/// The pods a Service selects, from the shared pod store.
pub(crate) fn selected_pods(svc: &Service, pods: &Informer<Pod>) -> Option<Vec<Arc<Pod>>> {
    let selector = svc.spec.as_ref()?.selector.as_ref()?;
    if selector.is_empty() {
        return None;
    }
    let ns = svc.namespace().unwrap_or_default();
    Some(
        pods.in_namespace(&ns)
            .into_iter()
            .filter(|p| {
                let labels = p.labels();
                selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .collect(),
    )
}

/// The Services of a pod's namespace that select it: what a pod change wakes.
pub(crate) fn services_of(pod: &Pod, services: &Informer<Service>) -> Vec<ObjectRef<Service>> {
    let ns = pod.namespace().unwrap_or_default();
    let labels = pod.labels();
    services
        .in_namespace(&ns)
        .into_iter()
        .filter(|s| {
            s.spec
                .as_ref()
                .and_then(|sp| sp.selector.as_ref())
                .is_some_and(|sel| {
                    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
                })
        })
        .map(|s| ObjectRef::from_obj(&*s))
        .collect()
}

pub(crate) fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.namespace(),
        name: Some(pod.name_any()),
        uid: pod.uid(),
        ..Default::default()
    }
}

/// Subsets as the endpoints controller builds them: addresses grouped by
/// their port lists, ready and not ready apart, sorted for stable output.
pub(crate) fn subsets(backends: &[Backend]) -> (Vec<EndpointSubset>, bool) {
    let mut groups: BTreeMap<Vec<ResolvedPort>, (Vec<EndpointAddress>, Vec<EndpointAddress>)> =
        BTreeMap::new();
    let truncated = backends.len() > MAX_ADDRESSES;
    for b in backends.iter().take(MAX_ADDRESSES) {
        let address = EndpointAddress {
            ip: b.ip.clone(),
            node_name: b.pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(pod_reference(&b.pod)),
            ..Default::default()
        };
        let mut ports = b.ports.clone();
        ports.sort();
        let entry = groups.entry(ports).or_default();
        if b.ready {
            entry.0.push(address)
        } else {
            entry.1.push(address)
        }
    }
    let subsets = groups
        .into_iter()
        .map(|(ports, (ready, not_ready))| EndpointSubset {
            addresses: (!ready.is_empty()).then_some(ready),
            not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
            ports: (!ports.is_empty()).then(|| {
                ports
                    .into_iter()
                    .map(|p| EndpointPort {
                        name: (!p.name.is_empty()).then_some(p.name),
                        port: p.port,
                        protocol: Some(p.protocol),
                        ..Default::default()
                    })
                    .collect()
            }),
        })
        .collect();
    (subsets, truncated)
}

struct Ctx {
    client: Client,
    pods: Informer<Pod>,
}

/// A controller of Services woken by the pods they select, and the store of
/// all pods it keeps: what both endpoint controllers are built on.
pub(crate) async fn service_controller(
    informers: &Informers,
) -> (Controller<Service>, Informer<Pod>) {
    let pods = informers.of::<Pod>();
    let services = informers.of::<Service>();
    // Every Service looks empty before the first list of pods.
    pods.synced().await;
    let for_pods = services.clone();
    let controller = Controller::for_shared_stream(services.subscribe(), services.store())
        .watches_shared_stream(pods.subscribe(), move |pod: Arc<Pod>| {
            services_of(&pod, &for_pods)
        });
    (controller, pods)
}

/// Runs the endpoints controller until its watches fail.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let (controller, pods) = service_controller(&informers).await;
    let ctx = Arc::new(Ctx { client, pods });
    controller
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

fn error_policy(svc: Arc<Service>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(service = %svc.name_any(), error = %crate::error_chain(e), "endpoints sync failed");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(svc: Arc<Service>, ctx: Arc<Ctx>) -> Result<Action> {
    let Some(pods) = selected_pods(&svc, &ctx.pods) else {
        // Without a selector the Endpoints are the user's (mirroring is the
        // EndpointSlice mirroring controller's job).
        return Ok(Action::await_change());
    };
    if svc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let (subsets, truncated) = subsets(&backends(&svc, &pods, false));
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &ns);
    let current = api
        .get_opt(&name)
        .await
        .ctx(|| format!("get endpoints {ns}/{name}"))?;
    let mut labels: BTreeMap<String, String> = svc.labels().clone();
    let headless = svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None");
    if headless {
        labels.insert("service.kubernetes.io/headless".into(), String::new());
    }
    let mut annotations = current
        .as_ref()
        .map(|e| e.annotations().clone())
        .unwrap_or_default();
    if truncated {
        annotations.insert(OVER_CAPACITY.into(), "truncated".into());
    } else {
        annotations.remove(OVER_CAPACITY);
    }
    let wanted_subsets = (!subsets.is_empty()).then_some(subsets);
    if let Some(cur) = &current
        && cur.subsets == wanted_subsets
        && cur.labels() == &labels
        && cur.annotations().get(OVER_CAPACITY) == annotations.get(OVER_CAPACITY)
    {
        return Ok(Action::await_change());
    }
    annotations.insert(
        LAST_CHANGE.into(),
        skiff_core::meta::format_time(time_now()),
    );
    let mut ep = current.clone().unwrap_or_else(|| Endpoints {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        ..Default::default()
    });
    ep.metadata.labels = Some(labels);
    ep.metadata.annotations = Some(annotations);
    ep.subsets = wanted_subsets;
    let result = if current.is_some() {
        api.replace(&name, &PostParams::default(), &ep).await
    } else {
        api.create(&PostParams::default(), &ep).await
    };
    match result {
        Ok(_) => Ok(Action::await_change()),
        // Changed or created meanwhile: the next event syncs again.
        Err(e) if crate::is_conflict(&e) => Ok(Action::requeue(Duration::from_millis(100))),
        Err(kube::Error::Api(s)) if s.code == 403 || s.code == 404 => Ok(Action::await_change()),
        Err(e) => Err(e).ctx(|| format!("write endpoints {ns}/{name}")),
    }
}

pub(crate) fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
