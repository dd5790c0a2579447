//! The resourcequota controller (upstream
//! `pkg/controller/resourcequota/resource_quota_controller.go`): keeps
//! `status.hard` (= `spec.hard`) and `status.used` of every ResourceQuota
//! current by recalculating the usage of its namespace from the shared
//! informers.
//!
//! A namespace is recalculated when one of its quotas needs it (a new
//! quota, a changed `spec.hard`, a tracked resource without usage), when an
//! object of a kind its quotas track changes or goes away (upstream's
//! replenishment: a deleted pod or one that finished frees quota), and
//! every [`RESYNC_PERIOD`] for every namespace with quotas (upstream's full
//! resync), which also catches pods whose deletion grace ran out.
//!
//! Informers are started only for the kinds some quota tracks, when the
//! first such quota shows up, as upstream's quota monitor watches only
//! what it can evaluate.
//!
//! Owns: recalculation and the status write. Does not own: charging
//! creates as they come (the API server's ResourceQuota admission writes
//! `status.used` itself) nor what an object costs ([`skiff_core::quota`]).

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, ReplicationController, ResourceQuota,
    ResourceQuotaStatus, ScopedResourceSelectorRequirement, Secret, Service,
};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use skiff_core::quota::{self, Evaluator, Object, Usage};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::controller_utils::Cached;
use crate::informer::{Informer, Informers};
use crate::{ApiContext, Result};

/// Upstream's `--resource-quota-sync-period` default: every quota is
/// recalculated this often whatever changed.
pub const RESYNC_PERIOD: Duration = Duration::from_secs(5 * 60);

/// How long a namespace whose sync failed waits before it is retried.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// A kind whose usage quotas can track.
trait Measured: Cached {
    /// (group, resource) of the kind.
    const RESOURCE: (&'static str, &'static str);

    /// The object as its evaluator reads it.
    fn object(&self) -> Object<'_> {
        Object::Other
    }
}

impl Measured for Pod {
    const RESOURCE: (&'static str, &'static str) = ("", "pods");
    fn object(&self) -> Object<'_> {
        Object::Pod(self)
    }
}

impl Measured for Service {
    const RESOURCE: (&'static str, &'static str) = ("", "services");
    fn object(&self) -> Object<'_> {
        Object::Service(self)
    }
}

impl Measured for PersistentVolumeClaim {
    const RESOURCE: (&'static str, &'static str) = ("", "persistentvolumeclaims");
    fn object(&self) -> Object<'_> {
        Object::PersistentVolumeClaim(self)
    }
}

macro_rules! counted {
    ($($kind:ty => ($group:literal, $resource:literal)),* $(,)?) => {
        $(impl Measured for $kind {
            const RESOURCE: (&'static str, &'static str) = ($group, $resource);
        })*
    };
}

counted! {
    ConfigMap => ("", "configmaps"),
    Secret => ("", "secrets"),
    ReplicationController => ("", "replicationcontrollers"),
    ResourceQuota => ("", "resourcequotas"),
    Deployment => ("apps", "deployments"),
    ReplicaSet => ("apps", "replicasets"),
    StatefulSet => ("apps", "statefulsets"),
    DaemonSet => ("apps", "daemonsets"),
    Job => ("batch", "jobs"),
    CronJob => ("batch", "cronjobs"),
}

/// The kinds the controller can measure. `count/<resource>.<group>` of
/// any other kind keeps the usage the status has (what admission charged):
/// upstream counts every resource discovery lists, through dynamic
/// informers skiff's typed shared informers do not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Pods,
    Services,
    PersistentVolumeClaims,
    ConfigMaps,
    Secrets,
    ReplicationControllers,
    ResourceQuotas,
    Deployments,
    ReplicaSets,
    StatefulSets,
    DaemonSets,
    Jobs,
    CronJobs,
}

impl Kind {
    const ALL: [Kind; 13] = [
        Kind::Pods,
        Kind::Services,
        Kind::PersistentVolumeClaims,
        Kind::ConfigMaps,
        Kind::Secrets,
        Kind::ReplicationControllers,
        Kind::ResourceQuotas,
        Kind::Deployments,
        Kind::ReplicaSets,
        Kind::StatefulSets,
        Kind::DaemonSets,
        Kind::Jobs,
        Kind::CronJobs,
    ];

    fn resource(self) -> (&'static str, &'static str) {
        match self {
            Kind::Pods => Pod::RESOURCE,
            Kind::Services => Service::RESOURCE,
            Kind::PersistentVolumeClaims => PersistentVolumeClaim::RESOURCE,
            Kind::ConfigMaps => ConfigMap::RESOURCE,
            Kind::Secrets => Secret::RESOURCE,
            Kind::ReplicationControllers => ReplicationController::RESOURCE,
            Kind::ResourceQuotas => ResourceQuota::RESOURCE,
            Kind::Deployments => Deployment::RESOURCE,
            Kind::ReplicaSets => ReplicaSet::RESOURCE,
            Kind::StatefulSets => StatefulSet::RESOURCE,
            Kind::DaemonSets => DaemonSet::RESOURCE,
            Kind::Jobs => Job::RESOURCE,
            Kind::CronJobs => CronJob::RESOURCE,
        }
    }

    fn evaluator(self) -> Option<Evaluator> {
        let (group, resource) = self.resource();
        Evaluator::for_resource(group, resource)
    }
}

/// The kinds whose objects the hard limits `names` track.
fn tracked_kinds<'a>(names: impl IntoIterator<Item = &'a String> + Clone) -> BTreeSet<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| {
            k.evaluator()
                .is_some_and(|ev| !ev.matching_resources(names.clone()).is_empty())
        })
        .collect()
}

/// Whether a quota's status must be recalculated now rather than at the
/// next resync (upstream's `addQuota`): its status does not show its spec
/// yet, or lacks the usage of something it limits. Usage changes alone
/// do not count: the admission plugin writes those, and recalculating on
/// each would cost a namespace scan per create.
pub fn needs_sync(q: &ResourceQuota) -> bool {
    let spec_hard = q.spec.as_ref().and_then(|s| s.hard.as_ref());
    let status = q.status.as_ref();
    let status_hard = status.and_then(|s| s.hard.as_ref());
    let used = status.and_then(|s| s.used.as_ref());
    let hard_differs = match (quota::usage_from(spec_hard), quota::usage_from(status_hard)) {
        (Ok(a), Ok(b)) => !quota::equals(&a, &b),
        _ => true,
    };
    hard_differs
        || status_hard.is_none()
        || spec_hard
            .into_iter()
            .flatten()
            .any(|(name, _)| !used.is_some_and(|u| u.contains_key(name)))
}

/// Runs the controller until the informers go away.
pub async fn run(informers: Informers) -> Result<()> {
    let quotas = informers.of::<ResourceQuota>();
    quotas.synced().await;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    // Forwarders of informer events and delayed retries; aborted with run.
    let mut tasks = JoinSet::new();
    {
        let quotas_events = quotas.subscribe();
        let tx = tx.clone();
        tasks.spawn(async move {
            let mut events = std::pin::pin!(quotas_events);
            while let Some(q) = events.next().await {
                if needs_sync(&q) {
                    let _ = tx.send(q.namespace().unwrap_or_default());
                }
            }
        });
    }
    let mut started: HashSet<Kind> = HashSet::new();
    let mut resync = tokio::time::interval(RESYNC_PERIOD);
    loop {
        let mut due = BTreeSet::new();
        tokio::select! {
            ns = rx.recv() => match ns {
                Some(ns) => { due.insert(ns); }
                None => return Ok(()),
            },
            // The first tick is immediate: a restarted controller
            // recalculates everything once.
            _ = resync.tick() => {
                due.extend(quotas.state().iter().filter_map(|q| q.namespace()));
            }
        }
        // Events come in bursts (a list replay, a rollout): one pass per
        // namespace for all that is queued.
        while let Ok(ns) = rx.try_recv() {
            due.insert(ns);
        }
        for ns in due {
            let in_ns = quotas.in_namespace(&ns);
            if in_ns.is_empty() {
                continue;
            }
            let kinds = tracked_kinds(
                in_ns
                    .iter()
                    .flat_map(|q| q.spec.as_ref().and_then(|s| s.hard.as_ref()))
                    .flat_map(|h| h.keys())
                    .collect::<Vec<_>>(),
            );
            for kind in kinds {
                if started.insert(kind) {
                    start(&informers, kind, &quotas, &tx, &mut tasks).await;
                }
            }
            for q in in_ns {
                if let Err(e) = sync_quota(&informers, &q).await {
                    tracing::warn!(
                        namespace = %ns,
                        quota = %q.name_any(),
                        error = %crate::error_chain(&e),
                        "failed to sync resource quota; retrying"
                    );
                    let tx = tx.clone();
                    let ns = ns.clone();
                    tasks.spawn(async move {
                        tokio::time::sleep(RETRY_DELAY).await;
                        let _ = tx.send(ns);
                    });
                }
            }
        }
        // Reap finished retry timers.
        while tasks.try_join_next().is_some() {}
    }
}

/// Starts the informer of `kind` and forwards its events as namespaces
/// to recalculate, once its first list is in.
async fn start(
    informers: &Informers,
    kind: Kind,
    quotas: &Informer<ResourceQuota>,
    tx: &mpsc::UnboundedSender<String>,
    tasks: &mut JoinSet<()>,
) {
    match kind {
        Kind::Pods => forward::<Pod>(informers, quotas, tx, tasks).await,
        Kind::Services => forward::<Service>(informers, quotas, tx, tasks).await,
        Kind::PersistentVolumeClaims => {
            forward::<PersistentVolumeClaim>(informers, quotas, tx, tasks).await
        }
        Kind::ConfigMaps => forward::<ConfigMap>(informers, quotas, tx, tasks).await,
        Kind::Secrets => forward::<Secret>(informers, quotas, tx, tasks).await,
        Kind::ReplicationControllers => {
            forward::<ReplicationController>(informers, quotas, tx, tasks).await
        }
        // The quota informer is running already; counting quotas needs no
        // forwarding beyond the quota events.
        Kind::ResourceQuotas => {}
        Kind::Deployments => forward::<Deployment>(informers, quotas, tx, tasks).await,
        Kind::ReplicaSets => forward::<ReplicaSet>(informers, quotas, tx, tasks).await,
        Kind::StatefulSets => forward::<StatefulSet>(informers, quotas, tx, tasks).await,
        Kind::DaemonSets => forward::<DaemonSet>(informers, quotas, tx, tasks).await,
        Kind::Jobs => forward::<Job>(informers, quotas, tx, tasks).await,
        Kind::CronJobs => forward::<CronJob>(informers, quotas, tx, tasks).await,
    }
}

async fn forward<K: Measured>(
    informers: &Informers,
    quotas: &Informer<ResourceQuota>,
    tx: &mpsc::UnboundedSender<String>,
    tasks: &mut JoinSet<()>,
) {
    let informer = informers.of::<K>();
    informer.synced().await;
    let events = informer.subscribe();
    let quotas = quotas.clone();
    let tx = tx.clone();
    tasks.spawn(async move {
        let mut events = std::pin::pin!(events);
        while let Some(obj) = events.next().await {
            let ns = obj.namespace().unwrap_or_default();
            // Objects of namespaces without quotas cost nothing more.
            if !quotas.in_namespace(&ns).is_empty() {
                let _ = tx.send(ns);
            }
        }
    });
}

/// Recalculates one quota and writes its status if it changed
/// (upstream's `syncResourceQuota`).
async fn sync_quota(informers: &Informers, q: &ResourceQuota) -> Result<()> {
    let ns = q.namespace().unwrap_or_default();
    let hard = q
        .spec
        .as_ref()
        .and_then(|s| s.hard.clone())
        .unwrap_or_default();
    let hard_usage = quota::usage_from(Some(&hard)).map_err(crate::Error::Invalid)?;
    let previous = quota::usage_from(q.status.as_ref().and_then(|s| s.used.as_ref()))
        .map_err(crate::Error::Invalid)?;
    let selectors = quota::scope_selectors(q);
    let names: Vec<String> = hard.keys().cloned().collect();
    let mut calculated = Usage::new();
    for kind in tracked_kinds(&names) {
        let Some(ev) = kind.evaluator() else { continue };
        let tracked = ev.matching_resources(&names);
        let stats = match kind {
            Kind::Pods => usage_stats::<Pod>(informers, &ns, &ev, &tracked, &selectors),
            Kind::Services => usage_stats::<Service>(informers, &ns, &ev, &tracked, &selectors),
            Kind::PersistentVolumeClaims => {
                usage_stats::<PersistentVolumeClaim>(informers, &ns, &ev, &tracked, &selectors)
            }
            Kind::ConfigMaps => usage_stats::<ConfigMap>(informers, &ns, &ev, &tracked, &selectors),
            Kind::Secrets => usage_stats::<Secret>(informers, &ns, &ev, &tracked, &selectors),
            Kind::ReplicationControllers => {
                usage_stats::<ReplicationController>(informers, &ns, &ev, &tracked, &selectors)
            }
            Kind::ResourceQuotas => {
                usage_stats::<ResourceQuota>(informers, &ns, &ev, &tracked, &selectors)
            }
            Kind::Deployments => {
                usage_stats::<Deployment>(informers, &ns, &ev, &tracked, &selectors)
            }
            Kind::ReplicaSets => {
                usage_stats::<ReplicaSet>(informers, &ns, &ev, &tracked, &selectors)
            }
            Kind::StatefulSets => {
                usage_stats::<StatefulSet>(informers, &ns, &ev, &tracked, &selectors)
            }
            Kind::DaemonSets => usage_stats::<DaemonSet>(informers, &ns, &ev, &tracked, &selectors),
            Kind::Jobs => usage_stats::<Job>(informers, &ns, &ev, &tracked, &selectors),
            Kind::CronJobs => usage_stats::<CronJob>(informers, &ns, &ev, &tracked, &selectors),
        }
        .map_err(crate::Error::Invalid)?;
        calculated = quota::add(&calculated, &stats);
    }
    let used = new_used(&previous, &calculated, &names);
    let status_hard = quota::usage_from(q.status.as_ref().and_then(|s| s.hard.as_ref()))
        .map_err(crate::Error::Invalid)?;
    let unchanged = q
        .status
        .as_ref()
        .is_some_and(|s| s.hard.is_some() && s.used.is_some())
        && quota::equals(&status_hard, &hard_usage)
        && quota::equals(&used, &previous);
    if unchanged {
        return Ok(());
    }
    let mut updated = q.clone();
    updated.status = Some(ResourceQuotaStatus {
        hard: Some(hard),
        used: Some(quota::to_api(&used)),
    });
    let name = q.name_any();
    Api::<ResourceQuota>::namespaced(informers.client().clone(), &ns)
        .replace_status(&name, &PostParams::default(), &updated)
        .await
        .ctx(|| format!("update the status of resource quota {ns}/{name}"))?;
    Ok(())
}

/// The usage to write: the recalculated values, the earlier observation
/// for what could not be recalculated, only for what the quota limits.
pub fn new_used(previous: &Usage, calculated: &Usage, hard_names: &[String]) -> Usage {
    let mut used = previous.clone();
    used.extend(calculated.iter().map(|(k, v)| (k.clone(), *v)));
    quota::mask(&used, hard_names)
}

/// `CalculateUsageStats`: the usage of the namespace's objects of `K` in
/// the quota's scopes, each of `tracked` at least zero.
fn usage_stats<K: Measured>(
    informers: &Informers,
    ns: &str,
    ev: &Evaluator,
    tracked: &[String],
    selectors: &[ScopedResourceSelectorRequirement],
) -> std::result::Result<Usage, String> {
    let objects = informers.of::<K>().in_namespace(ns);
    let now = Timestamp::now();
    usage_of(
        objects.iter().map(|o| o.object()),
        ev,
        tracked,
        selectors,
        now,
    )
}

/// The pure part of [`usage_stats`].
pub fn usage_of<'a>(
    objects: impl IntoIterator<Item = Object<'a>>,
    ev: &Evaluator,
    tracked: &[String],
    selectors: &[ScopedResourceSelectorRequirement],
    now: Timestamp,
) -> std::result::Result<Usage, String> {
    let mut used: Usage = tracked
        .iter()
        .map(|n| (n.clone(), quota::Amount::from_int(0)))
        .collect();
    'objects: for obj in objects {
        for sel in selectors {
            if !ev.matches_scope(sel, obj)? {
                continue 'objects;
            }
        }
        used = quota::add(&used, &ev.usage(obj, now));
    }
    Ok(used)
}

#[cfg(test)]
mod tests;
