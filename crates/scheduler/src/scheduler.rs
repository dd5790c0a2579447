//! The scheduling loop (`pkg/scheduler/scheduler.go`, `eventhandlers.go`,
//! the side-effect half of `schedule_one.go`).
//!
//! One task owns the cache and the queue. Watch streams (pods, nodes,
//! namespaces, PodDisruptionBudgets, and the owners that give default
//! spreading) and binding results arrive on one channel and are applied
//! between cycles; each cycle
//! pops a pod, runs the algorithm, assumes the pod on the chosen node and
//! hands the binding to a background task (up to `max_bindings_in_flight`
//! at once), so the next cycle starts immediately. Failures update the pod's
//! `PodScheduled` condition and write `FailedScheduling` through the
//! recorder, off the hot path.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Binding, Namespace, Node, ObjectReference, Pod, ReplicationController, Service,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use rand::SeedableRng;
use rand::rngs::StdRng;
use skiff_core::lean::WithoutManagedFields;
use tokio::sync::{Semaphore, mpsc};

use crate::cache::{Cache, NodeChange};
use crate::config::{Config, profiles_by_name};
use crate::framework::Framework;
use crate::pod_info::PodInfo;
use crate::preemption::{self, Outcome, Pdb};
use crate::queue::{ClusterEvent, QueuedPod, SchedulingQueue};
use crate::recorder::{Recorder, Write};
use crate::schedule_one::{Algorithm, ScheduleError};
use crate::selector::Selector;

/// A pseudo plugin name for "the cluster had no nodes": any node event
/// retries the pod.
const NO_NODES: &str = "NoNodes";

/// What arrives on the loop's channel.
// Each value is moved once from a watch into the loop; boxing would only
// add an allocation per event.
#[allow(clippy::large_enum_variant)]
enum Input {
    Pod(Event<Pod>),
    Node(Event<Node>),
    Namespace(Event<Namespace>),
    Service(Event<Service>),
    ReplicaSet(Event<ReplicaSet>),
    StatefulSet(Event<StatefulSet>),
    ReplicationController(Event<ReplicationController>),
    PodDisruptionBudget(Event<PodDisruptionBudget>),
    /// A binding finished.
    Bound {
        info: Arc<PodInfo>,
        attempts: u32,
        result: Result<(), BindFailure>,
    },
}

enum BindFailure {
    /// The pod is gone or already bound: the watch will say what happened.
    Gone,
    /// Worth another try.
    Retry(String),
}

/// How long the loop schedules pods back to back before it yields to the
/// runtime it shares with the API server and the controllers. A yield per
/// pod would cost a whole runtime tick (every other ready task, and the
/// I/O driver) per pod, and cap throughput at the tick rate on a busy server.
const YIELD_EVERY: Duration = Duration::from_millis(2);

/// Forwards a watch of every `K` into the loop's channel until the channel
/// closes. Objects are decoded without `managedFields`: the scheduler never
/// reads them and they are most of a pod's size (upstream's scheduler
/// informer trims them too, after decoding).
fn forward<K, F>(client: &Client, tx: mpsc::UnboundedSender<Input>, wrap: F)
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default,
    F: Fn(Event<K>) -> Input + Send + 'static,
{
    let client = client.clone();
    tokio::spawn(async move {
        let lean: Api<WithoutManagedFields<K>> = Api::all(client);
        let mut stream = watcher::watcher(lean, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(item) = stream.next().await {
            match item {
                Ok(ev) => {
                    if tx.send(wrap(unwrap_event(ev))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(kind = %K::kind(&Default::default()), error = %e, "scheduler watch failed; retrying")
                }
            }
        }
    });
}

/// The scheduler never reads field ownership; its watches decode objects
/// without it ([`WithoutManagedFields`]).
fn unwrap_event<K>(ev: Event<WithoutManagedFields<K>>) -> Event<K> {
    match ev {
        Event::Apply(o) => Event::Apply(o.0),
        Event::InitApply(o) => Event::InitApply(o.0),
        Event::Delete(o) => Event::Delete(o.0),
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
    }
}

/// Keys seen during a relist, to drop what disappeared meanwhile.
#[derive(Default)]
struct Relist {
    pods: Option<HashSet<String>>,
    nodes: Option<HashSet<String>>,
    pods_synced: bool,
    nodes_synced: bool,
}

pub(crate) struct Scheduler {
    client: Client,
    config: Config,
    profiles: HashMap<String, Arc<Framework>>,
    cache: Cache,
    queue: SchedulingQueue,
    algorithm: Algorithm,
    rng: StdRng,
    binds: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<Input>,
    recorder: Recorder,
    relist: Relist,
    /// Pending pods by UID as last seen, for queue bookkeeping of pods that
    /// are not in the queue (in flight or assumed).
    scheduled_total: u64,
}

impl Scheduler {
    fn handles(&self, pod: &PodInfo) -> bool {
        self.profiles.contains_key(&pod.scheduler_name)
    }

    fn on_pod(&mut self, pod: Pod, now: Instant) {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        let terminal = matches!(phase, Some("Succeeded") | Some("Failed"));
        let info = Arc::new(PodInfo::new(pod));
        if let Some(seen) = self.relist.pods.as_mut() {
            seen.insert(info.uid.clone());
        }
        if terminal {
            // Terminal pods hold no resources (upstream's informer excludes them).
            self.delete_pod(&info.uid, now);
            return;
        }
        if !info.node_name.is_empty() {
            self.queue.delete(&info.uid);
            let was_assumed = self.cache.is_assumed(&info.uid);
            let labels_changed = self
                .cache
                .pod(&info.uid)
                .is_some_and(|old| old.labels != info.labels);
            let known = self.cache.contains_pod(&info.uid);
            self.cache.add_or_update_pod(info);
            if !was_assumed && (!known || labels_changed) {
                self.queue
                    .on_cluster_event(ClusterEvent::AssignedPodChange, now);
            }
            return;
        }
        if self.cache.is_assumed(&info.uid) || !self.handles(&info) {
            return;
        }
        if info.terminating {
            self.queue.delete(&info.uid);
            return;
        }
        self.queue.add_or_update(info, now);
    }

    fn delete_pod(&mut self, uid: &str, now: Instant) {
        self.queue.delete(uid);
        if self.cache.remove_pod(uid).is_some() {
            self.queue
                .on_cluster_event(ClusterEvent::AssignedPodDelete, now);
        }
    }

    fn on_node(&mut self, node: Node, now: Instant) {
        let name = node.metadata.name.clone().unwrap_or_default();
        if let Some(seen) = self.relist.nodes.as_mut() {
            seen.insert(name);
        }
        match self.cache.add_or_update_node(node) {
            NodeChange::Added | NodeChange::Updated { relevant: true } => {
                self.queue.on_cluster_event(ClusterEvent::NodeChange, now)
            }
            NodeChange::Updated { relevant: false } => {}
        }
    }

    fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Pod(ev) => match ev {
                Event::Apply(p) | Event::InitApply(p) => self.on_pod(p, now),
                Event::Delete(p) => {
                    let uid = p.metadata.uid.clone().unwrap_or_default();
                    self.delete_pod(&uid, now);
                }
                Event::Init => self.relist.pods = Some(HashSet::new()),
                Event::InitDone => {
                    if let Some(seen) = self.relist.pods.take() {
                        for uid in self.cache.pod_uids() {
                            if !seen.contains(&uid) && !self.cache.is_assumed(&uid) {
                                self.delete_pod(&uid, now);
                            }
                        }
                    }
                    self.relist.pods_synced = true;
                }
            },
            Input::Node(ev) => match ev {
                Event::Apply(n) | Event::InitApply(n) => self.on_node(n, now),
                Event::Delete(n) => {
                    self.cache
                        .remove_node(n.metadata.name.as_deref().unwrap_or_default());
                }
                Event::Init => self.relist.nodes = Some(HashSet::new()),
                Event::InitDone => {
                    if let Some(seen) = self.relist.nodes.take() {
                        for name in self.cache.node_names() {
                            if !seen.contains(&name) {
                                self.cache.remove_node(&name);
                            }
                        }
                    }
                    self.relist.nodes_synced = true;
                }
            },
            Input::Namespace(ev) => {
                let changed =
                    apply_map(&mut self.cache.snapshot.namespaces, ev, |ns: &Namespace| {
                        let name = ns.metadata.name.clone().unwrap_or_default();
                        (name, ns.metadata.labels.clone().unwrap_or_default())
                    });
                if changed {
                    self.queue.on_cluster_event(ClusterEvent::Other, now);
                }
            }
            Input::Service(ev) => {
                let owners = &mut self.cache.snapshot.owners;
                let mut flat: HashMap<(String, String), BTreeMap<String, String>> = owners
                    .services
                    .iter()
                    .flat_map(|(ns, m)| {
                        m.iter()
                            .map(move |(n, s)| ((ns.clone(), n.clone()), s.clone()))
                    })
                    .collect();
                apply_map(&mut flat, ev, |s: &Service| {
                    (
                        key_of(&s.metadata),
                        s.spec
                            .as_ref()
                            .and_then(|s| s.selector.clone())
                            .unwrap_or_default(),
                    )
                });
                owners.services.clear();
                for ((ns, name), sel) in flat {
                    owners.services.entry(ns).or_default().insert(name, sel);
                }
            }
            Input::ReplicaSet(ev) => {
                apply_map(
                    &mut self.cache.snapshot.owners.replica_sets,
                    ev,
                    |rs: &ReplicaSet| {
                        let sel = rs.spec.as_ref().map(|s| &s.selector);
                        (key_of(&rs.metadata), Selector::from_label_selector(sel))
                    },
                );
            }
            Input::StatefulSet(ev) => {
                apply_map(
                    &mut self.cache.snapshot.owners.stateful_sets,
                    ev,
                    |ss: &StatefulSet| {
                        let sel = ss.spec.as_ref().map(|s| &s.selector);
                        (key_of(&ss.metadata), Selector::from_label_selector(sel))
                    },
                );
            }
            Input::ReplicationController(ev) => {
                apply_map(
                    &mut self.cache.snapshot.owners.replication_controllers,
                    ev,
                    |rc: &ReplicationController| {
                        (
                            key_of(&rc.metadata),
                            rc.spec
                                .as_ref()
                                .and_then(|s| s.selector.clone())
                                .unwrap_or_default(),
                        )
                    },
                );
            }
            Input::PodDisruptionBudget(ev) => {
                // Read only by preemption, which runs on every failure: no
                // pod needs a retry when a budget changes (upstream
                // registers no PDB event either).
                apply_map(
                    &mut self.cache.snapshot.pdbs,
                    ev,
                    |pdb: &PodDisruptionBudget| (key_of(&pdb.metadata), Pdb::new(pdb)),
                );
            }
            Input::Bound {
                info,
                attempts,
                result,
            } => match result {
                Ok(()) => {
                    self.scheduled_total += 1;
                }
                Err(BindFailure::Gone) => {
                    self.cache.forget(&info.uid);
                    self.queue
                        .on_cluster_event(ClusterEvent::AssignedPodDelete, now);
                }
                Err(BindFailure::Retry(message)) => {
                    tracing::info!(pod = %info.key(), error = %message, "binding failed; retrying");
                    self.cache.forget(&info.uid);
                    self.queue
                        .on_cluster_event(ClusterEvent::AssignedPodDelete, now);
                    self.queue
                        .requeue_after_binding_error(info.clone(), attempts, now);
                    self.recorder.send(Write::Event {
                        pod: info,
                        related: None,
                        type_: "Warning",
                        reason: "FailedScheduling",
                        action: "Scheduling",
                        message: format!("Binding rejected: {message}"),
                    });
                }
            },
        }
    }

    /// One scheduling cycle for the next pod, if any. Returns whether a pod
    /// was popped.
    async fn schedule_next(&mut self) -> bool {
        let Some(qp) = self.queue.pop() else {
            return false;
        };
        let pod = qp.info.clone();
        let Some(fw) = self.profiles.get(&pod.scheduler_name).cloned() else {
            self.queue.delete(&pod.uid);
            return true;
        };
        let (result, state) = self.algorithm.schedule(
            &fw,
            &self.cache.snapshot,
            &self.queue,
            &pod,
            self.config.percentage_of_nodes_to_score,
            &mut self.rng,
        );
        let now = Instant::now();
        match result {
            Ok(r) => {
                self.cache.assume(&pod, &r.node);
                self.queue.done(&pod.uid);
                self.queue.remove_nomination(&pod.uid);
                self.bind(qp, r.node).await;
            }
            Err(err) => self.on_failure(&fw, qp, err, &state, now),
        }
        true
    }

    fn on_failure(
        &mut self,
        fw: &Framework,
        qp: QueuedPod,
        err: ScheduleError,
        state: &crate::framework::CycleState,
        now: Instant,
    ) {
        let pod = qp.info.clone();
        let mut nominated: Option<String> = None;
        let (plugins, message, reason) = match err {
            ScheduleError::NoNodes => (vec![NO_NODES], err.message(), "Unschedulable"),
            ScheduleError::Internal(m) => (Vec::new(), m, "SchedulerError"),
            ScheduleError::Fit(mut fit) => {
                let mut plugins = fit.diagnosis.unschedulable_plugins.clone();
                if let Some(args) = &fw.preemption {
                    match preemption::preempt(
                        fw,
                        args,
                        state,
                        &pod,
                        &self.cache.snapshot,
                        &self.queue,
                        &fit.diagnosis,
                        &mut self.rng,
                    ) {
                        Outcome::Preempt(c) => {
                            nominated = Some(c.node.clone());
                            plugins.push(crate::plugins::DEFAULT_PREEMPTION);
                            self.prepare_candidate(&pod, &c);
                        }
                        Outcome::Failed(msg) => {
                            fit.diagnosis.post_filter_msg = format!("preemption: {msg}");
                            if !pod.nominated_node_name.is_empty() {
                                nominated = Some(String::new());
                                self.queue.remove_nomination(&pod.uid);
                            }
                        }
                    }
                }
                (plugins, fit.message(), "Unschedulable")
            }
        };
        tracing::debug!(pod = %pod.key(), %message, "unable to schedule pod");
        self.queue.add_unschedulable(&qp, plugins, now);
        self.recorder.send(Write::Event {
            pod: pod.clone(),
            related: None,
            type_: "Warning",
            reason: "FailedScheduling",
            action: "Scheduling",
            message: message.clone(),
        });
        self.recorder.send(Write::Unschedulable {
            pod,
            reason,
            message,
            nominated_node: nominated,
        });
    }

    /// `prepareCandidate`: evict the victims, clear lower-priority
    /// nominations on the node, and nominate the preemptor.
    fn prepare_candidate(&mut self, pod: &Arc<PodInfo>, c: &preemption::Candidate) {
        for v in &c.victims {
            self.recorder.send(Write::Evict {
                victim: v.clone(),
                preemptor: pod.clone(),
                node: c.node.clone(),
            });
        }
        let lower: Vec<Arc<PodInfo>> = self
            .queue
            .nominated_pods(&c.node)
            .iter()
            .filter(|p| p.priority < pod.priority && p.uid != pod.uid)
            .cloned()
            .collect();
        for p in lower {
            self.queue.remove_nomination(&p.uid);
            self.recorder.send(Write::ClearNomination { pod: p });
        }
        self.queue.nominate(pod.clone(), &c.node);
    }

    /// Sends the binding in the background (`bindingCycle`).
    async fn bind(&mut self, qp: QueuedPod, node: String) {
        let permit = match self.binds.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => return,
        };
        let client = self.client.clone();
        let tx = self.tx.clone();
        let recorder = self.recorder.clone();
        tokio::spawn(async move {
            let info = qp.info;
            let api: Api<Pod> = Api::namespaced(client, &info.namespace);
            let binding = Binding {
                metadata: ObjectMeta {
                    name: Some(info.name.clone()),
                    namespace: Some(info.namespace.clone()),
                    uid: Some(info.uid.clone()),
                    ..Default::default()
                },
                target: ObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Node".into()),
                    name: Some(node.clone()),
                    ..Default::default()
                },
            };
            let result = api
                .create_subresource::<Binding, serde_json::Value>(
                    "binding",
                    &info.name,
                    &PostParams::default(),
                    &binding,
                )
                .await;
            drop(permit);
            let result = match result {
                Ok(_) => {
                    recorder.send(Write::Event {
                        pod: info.clone(),
                        related: None,
                        type_: "Normal",
                        reason: "Scheduled",
                        action: "Binding",
                        message: format!(
                            "Successfully assigned {}/{} to {node}",
                            info.namespace, info.name
                        ),
                    });
                    Ok(())
                }
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {
                    Err(BindFailure::Gone)
                }
                Err(e) => Err(BindFailure::Retry(e.to_string())),
            };
            let _ = tx.send(Input::Bound {
                info,
                attempts: qp.attempts,
                result,
            });
        });
    }
}

fn key_of(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// Applies a watch event to a keyed map; a relist replaces the map.
/// Returns whether anything changed.
fn apply_map<K, Key, V>(
    map: &mut HashMap<Key, V>,
    ev: Event<K>,
    entry: impl Fn(&K) -> (Key, V),
) -> bool
where
    Key: std::hash::Hash + Eq,
    V: PartialEq,
{
    match ev {
        Event::Apply(o) | Event::InitApply(o) => {
            let (k, v) = entry(&o);
            map.insert(k, v).is_none_or(|old| {
                let (_, v) = entry(&o);
                old != v
            })
        }
        Event::Delete(o) => {
            let (k, _) = entry(&o);
            map.remove(&k).is_some()
        }
        // A relist re-applies everything; stale keys are rare enough (an
        // owner deleted during a watch gap) to keep until their delete.
        Event::Init | Event::InitDone => false,
    }
}

/// Errors of the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the scheduler's watch channel closed")]
    Closed,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs the scheduler until `shutdown` completes.
pub async fn run(
    client: Client,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Input>();
    forward(&client, tx.clone(), Input::Pod);
    forward(&client, tx.clone(), Input::Node);
    forward(&client, tx.clone(), Input::Namespace);
    forward(&client, tx.clone(), Input::Service);
    forward(&client, tx.clone(), Input::ReplicaSet);
    forward(&client, tx.clone(), Input::StatefulSet);
    forward(&client, tx.clone(), Input::ReplicationController);
    forward(&client, tx.clone(), Input::PodDisruptionBudget);
    let mut s = Scheduler {
        recorder: Recorder::start(client.clone()),
        binds: Arc::new(Semaphore::new(config.max_bindings_in_flight.max(1))),
        profiles: profiles_by_name(&config),
        queue: SchedulingQueue::new(config.pod_initial_backoff, config.pod_max_backoff),
        cache: Cache::default(),
        algorithm: Algorithm::default(),
        rng: StdRng::from_os_rng(),
        relist: Relist::default(),
        scheduled_total: 0,
        client,
        config,
        tx,
    };
    tokio::pin!(shutdown);
    let mut last_yield = Instant::now();
    loop {
        // Apply everything that arrived before deciding anything.
        while let Ok(input) = rx.try_recv() {
            s.handle(input, Instant::now());
        }
        let synced = s.relist.pods_synced && s.relist.nodes_synced;
        if synced {
            s.queue.flush(Instant::now());
            if s.schedule_next().await {
                // Let watches and bindings make progress now and then.
                if last_yield.elapsed() >= YIELD_EVERY {
                    tokio::task::yield_now().await;
                    last_yield = Instant::now();
                }
                continue;
            }
        }
        let wake = s
            .queue
            .next_backoff_expiry()
            .map(|t| t.max(Instant::now()))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(30));
        tokio::select! {
            input = rx.recv() => match input {
                Some(input) => s.handle(input, Instant::now()),
                None => return Err(Error::Closed),
            },
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = &mut shutdown => {
                tracing::info!(scheduled = s.scheduled_total, "scheduler stopped");
                return Ok(());
            }
        }
    }
}
