//! `skiff sim`: many simulated nodes in one process, like kwok. Each node is
//! registered and kept alive (Lease, status heartbeats) as kubelet does, and
//! the pods bound to it are run by pod workers over the
//! [simulated runtime](crate::runtime::simulated).
//!
//! Owns: the many-nodes driver — one watch of all pods filtered by
//! `spec.nodeName`, one timer heap for all pod workers, bounded concurrency
//! for every API write. Does not own: pod semantics (the pod worker), node
//! objects (the `node` module). Talks only to the Kubernetes API.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod, PodStatus, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::watcher;

use kube::{Api, Client};
use rand::Rng;
use skiff_core::lean::WithoutManagedFields;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinSet;

use crate::ipam::{Cidr, PodIps};
use crate::node::{self, LeaseKeeper, NodeConfig, RegisteredNode};
use crate::pod_worker::{Action, Event, PodSpec, PodWorker};
use crate::runtime::simulated::{Behavior, SimulatedRuntime};
use crate::runtime::{self, ContainerConfig, Exit, Runtime, SandboxConfig};
use crate::status_manager::StatusManager;

/// Pod range for up to 256 nodes, the cluster CIDR of DESIGN.md.
pub const DEFAULT_POD_CIDR: &str = "10.42.0.0/16";
/// Pod range for more than 256 nodes: 32,768 blocks of /24, clear of the
/// 10.42.0.0/16 cluster and 10.43.0.0/16 service ranges.
pub const LARGE_POD_CIDR: &str = "10.128.0.0/9";
/// Node addresses (`InternalIP`): node `i` gets 172.16.0.0 + i + 1.
const NODE_IP_BASE: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 0);
/// Label every simulated node carries.
pub const SIMULATED_LABEL: &str = "sim.skiff.dev/node";

/// Errors of `skiff sim`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid --{flag} {value:?}: {reason}")]
    Flag {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error(transparent)]
    Cidr(#[from] crate::ipam::Error),
    #[error(transparent)]
    Node(#[from] node::Error),
    #[error("{0} nodes could not be registered; first error: {1}")]
    Registration(usize, #[source] node::Error),
}

/// Result of `skiff sim`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What `skiff sim` simulates.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Number of nodes.
    pub nodes: usize,
    /// Node names are `<prefix><index>`.
    pub name_prefix: String,
    pub cpu: Quantity,
    pub memory: Quantity,
    pub pods: u32,
    /// Extra labels of every node.
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// `topology.kubernetes.io/zone` cycles over this many zones (0: none).
    pub zones: usize,
    /// Range the per-node pod CIDRs are cut from; by node count when None.
    pub pod_cidr: Option<Cidr>,
    /// Prefix length of each node's block (kube-controller-manager's `--node-cidr-mask-size`).
    pub node_cidr_mask_size: u8,
    /// Writes to the API in flight at once, per kind (pod status, leases).
    pub concurrency: usize,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            nodes: 1,
            name_prefix: "sim-".into(),
            cpu: Quantity("32".into()),
            memory: Quantity("256Gi".into()),
            pods: 110,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            zones: 3,
            pod_cidr: None,
            node_cidr_mask_size: 24,
            concurrency: 32,
        }
    }
}

/// Parses `k=v,k2=v2` labels, validated as the API would.
pub fn parse_labels(s: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let bad = |reason: String| Error::Flag {
            flag: "labels",
            value: item.to_string(),
            reason,
        };
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| bad("want key=value".into()))?;
        let mut errs = skiff_core::validation::is_qualified_name(k);
        errs.extend(skiff_core::validation::is_valid_label_value(v));
        if !errs.is_empty() {
            return Err(bad(errs.join("; ")));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// Parses `key[=value]:Effect,…` taints (kubectl taint's syntax).
pub fn parse_taints(s: &str) -> Result<Vec<Taint>> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let bad = |reason: String| Error::Flag {
            flag: "taints",
            value: item.to_string(),
            reason,
        };
        let (kv, effect) = item
            .rsplit_once(':')
            .ok_or_else(|| bad("want key=value:Effect".into()))?;
        if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            return Err(bad(format!(
                "effect {effect:?} is not NoSchedule, PreferNoSchedule or NoExecute"
            )));
        }
        let (k, v) = match kv.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (kv, None),
        };
        let mut errs = skiff_core::validation::is_qualified_name(k);
        if let Some(v) = v {
            errs.extend(skiff_core::validation::is_valid_label_value(v));
        }
        if !errs.is_empty() {
            return Err(bad(errs.join("; ")));
        }
        out.push(Taint {
            key: k.to_string(),
            value: v.map(str::to_string),
            effect: effect.to_string(),
            time_added: None,
        });
    }
    Ok(out)
}

/// `zone-a`, `zone-b`, … `zone-z`, then `zone-26`, …
fn zone_name(i: usize) -> String {
    match u8::try_from(i).ok().filter(|i| *i < 26) {
        Some(i) => format!("zone-{}", char::from(b'a' + i)),
        None => format!("zone-{i}"),
    }
}

impl SimConfig {
    /// The pod range in effect.
    pub fn effective_pod_cidr(&self) -> Result<Cidr> {
        let cidr = match self.pod_cidr {
            Some(c) => c,
            None => {
                let default = if self.nodes <= 256 {
                    DEFAULT_POD_CIDR
                } else {
                    LARGE_POD_CIDR
                };
                default.parse()?
            }
        };
        cidr.check_fits(self.node_cidr_mask_size, self.nodes as u64)?;
        Ok(cidr)
    }

    /// The config of node `index`.
    pub fn node(&self, index: usize, cidr: Cidr) -> Result<NodeConfig> {
        let name = format!("{}{index}", self.name_prefix);
        let mut labels = self.labels.clone();
        for (k, v) in [
            ("kubernetes.io/hostname", name.as_str()),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("beta.kubernetes.io/arch", "amd64"),
            (SIMULATED_LABEL, "true"),
        ] {
            labels.insert(k.into(), v.into());
        }
        if self.zones > 0 {
            labels.insert(
                "topology.kubernetes.io/zone".into(),
                zone_name(index % self.zones),
            );
        }
        let pod_cidr = cidr
            .block(self.node_cidr_mask_size, index as u64)
            .ok_or_else(|| Error::Flag {
                flag: "pod-cidr",
                value: cidr.to_string(),
                reason: format!("no block {index} of /{}", self.node_cidr_mask_size),
            })?;
        let internal_ip = Ipv4Addr::from(
            u32::from(NODE_IP_BASE).wrapping_add(u32::try_from(index + 1).unwrap_or(u32::MAX)),
        );
        let capacity = [
            ("cpu", self.cpu.clone()),
            ("memory", self.memory.clone()),
            ("pods", Quantity(self.pods.to_string())),
            ("ephemeral-storage", Quantity("100Gi".into())),
            ("hugepages-1Gi", Quantity("0".into())),
            ("hugepages-2Mi", Quantity("0".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Ok(NodeConfig {
            name,
            labels,
            taints: self.taints.clone(),
            capacity,
            pod_cidr,
            internal_ip,
            runtime_version: format!("sim://{}", env!("CARGO_PKG_VERSION")),
        })
    }
}

/// Runs the simulated nodes until `shutdown` completes. `on_ready` is called
/// once every node is registered with a lease.
pub async fn run(
    client: Client,
    config: SimConfig,
    shutdown: impl Future<Output = ()>,
    on_ready: impl FnOnce(&[RegisteredNode]),
) -> Result<()> {
    let cidr = config.effective_pod_cidr()?;
    let configs = (0..config.nodes)
        .map(|i| config.node(i, cidr))
        .collect::<Result<Vec<_>>>()?;

    // Register every node, a bounded number at a time, with a first lease.
    let nodes_api: Api<Node> = Api::all(client.clone());
    let started = std::time::Instant::now();
    let results: Vec<_> = futures::stream::iter(configs)
        .map(|c| {
            let nodes_api = nodes_api.clone();
            let client = client.clone();
            async move {
                let mut attempt = 0;
                loop {
                    let res = async {
                        let n = node::register(&nodes_api, c.clone()).await?;
                        let mut lease = LeaseKeeper::new(client.clone(), &n);
                        lease.renew().await?;
                        Ok::<_, node::Error>((n, lease))
                    }
                    .await;
                    match res {
                        Err(e) if attempt < 5 => {
                            attempt += 1;
                            tracing::warn!("{e}; retrying: {:?}", std::error::Error::source(&e));
                            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                        }
                        other => return other,
                    }
                }
            }
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect()
        .await;
    let mut nodes = Vec::new();
    let mut failed = Vec::new();
    for r in results {
        match r {
            Ok(n) => nodes.push(n),
            Err(e) => failed.push(e),
        }
    }
    let failures = failed.len();
    if let Some(first) = failed.into_iter().next() {
        return Err(Error::Registration(failures, first));
    }
    nodes.sort_by(|a, b| a.0.config.name.cmp(&b.0.config.name));
    tracing::info!(
        nodes = nodes.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "simulated nodes registered"
    );

    let mut tasks = JoinSet::new();
    let writes = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let registered: Vec<RegisteredNode> = nodes.iter().map(|(n, _)| n.clone()).collect();
    for (n, lease) in nodes {
        tasks.spawn(keep_node(nodes_api.clone(), n, lease, Arc::clone(&writes)));
    }
    on_ready(&registered);

    let status = StatusManager::start(client.clone(), config.concurrency, &mut tasks);
    let (exits_tx, exits_rx) = unbounded_channel();
    let (results_tx, results_rx) = unbounded_channel();
    let mut pods = PodManager {
        nodes: registered
            .iter()
            .map(|n| {
                let rt = SimulatedRuntime::new(
                    &n.config.name,
                    PodIps::new(n.pod_cidr),
                    exits_tx.clone(),
                );
                (
                    n.config.name.clone(),
                    NodeRuntime {
                        runtime: Arc::new(rt),
                        host_ip: n.config.internal_ip.to_string(),
                    },
                )
            })
            .collect(),
        workers: HashMap::new(),
        timers: BinaryHeap::new(),
        results: results_tx,
        status,
        relisting: None,
    };
    tokio::select! {
        () = shutdown => {}
        () = pods.run(client, exits_rx, results_rx) => {}
    }
    tasks.abort_all();
    Ok(())
}

/// Renews a node's lease every 10 s (with kubelet's 4 % jitter) and posts
/// its status every 5 min, or at once after a pause longer than the lease
/// (the node controller will have marked it NotReady meanwhile).
async fn keep_node(
    nodes: Api<Node>,
    node: RegisteredNode,
    mut lease: LeaseKeeper,
    writes: Arc<Semaphore>,
) {
    let registered_at = Timestamp::now();
    let jitter = |base: Duration| {
        let f: f64 = rand::rng().random_range(0.0..0.04);
        base + base.mul_f64(f)
    };
    // Spread the nodes over the interval.
    let first = node::LEASE_RENEW_INTERVAL.mul_f64(rand::rng().random_range(0.0..1.0));
    tokio::time::sleep(first).await;
    let mut last_renew = tokio::time::Instant::now();
    let mut last_status = tokio::time::Instant::now();
    loop {
        let Ok(permit) = writes.acquire().await else {
            return;
        };
        let now = tokio::time::Instant::now();
        // A wall-clock gap (SIGSTOP, suspend) shows up in the tokio clock too.
        let lost = now.duration_since(last_renew) > node::LEASE_DURATION;
        match lease.renew().await {
            Ok(()) => last_renew = now,
            Err(e) => tracing::warn!("{e}: {:?}", std::error::Error::source(&e)),
        }
        if lost || now.duration_since(last_status) >= node::STATUS_REPORT_INTERVAL {
            match node::report_status(&nodes, &node.config, registered_at).await {
                Ok(()) => last_status = now,
                Err(e) => tracing::warn!("{e}: {:?}", std::error::Error::source(&e)),
            }
        }
        drop(permit);
        tokio::time::sleep(jitter(node::LEASE_RENEW_INTERVAL)).await;
    }
}

struct NodeRuntime {
    runtime: Arc<SimulatedRuntime>,
    host_ip: String,
}

struct Entry {
    worker: PodWorker,
    node: String,
    annotations: BTreeMap<String, String>,
    previous_ip: Option<IpAddr>,
    wake: Option<Timestamp>,
    /// Hash of the status last queued: 150,000 full copies would cost more
    /// memory than the workers themselves.
    published: Option<u64>,
}

fn status_hash(status: &PodStatus) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(status).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// What a runtime call came back with.
enum Outcome {
    Event(Event),
    SandboxRemoved,
}

/// All pod workers of all simulated nodes, driven from one task.
struct PodManager {
    nodes: HashMap<String, NodeRuntime>,
    workers: HashMap<String, Entry>,
    timers: BinaryHeap<Reverse<(Timestamp, String)>>,
    results: UnboundedSender<(String, Outcome)>,
    status: StatusManager,
    /// uids seen since the watch (re)started listing.
    relisting: Option<HashSet<String>>,
}

impl PodManager {
    async fn run(
        &mut self,
        client: Client,
        mut exits: UnboundedReceiver<Exit>,
        mut results: UnboundedReceiver<(String, Outcome)>,
    ) {
        // One watch for all nodes; unscheduled pods are filtered by the server.
        let pods: Api<WithoutManagedFields<Pod>> = Api::all(client);
        let config = watcher::Config::default().fields("spec.nodeName!=");
        let mut stream = watcher(pods, config).boxed();
        loop {
            let next_timer = self.timers.peek().map(|Reverse((t, _))| *t);
            let sleep = async {
                match next_timer {
                    Some(t) => {
                        let wait = Timestamp::now().duration_until(t);
                        let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
                        tokio::time::sleep(wait).await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = stream.try_next() => match ev {
                    Ok(Some(ev)) => self.on_watch(ev),
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!("pod watch failed: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
                Some(exit) = exits.recv() => {
                    let uid = exit.pod_uid.clone();
                    self.handle(&uid, Event::ContainerExited {
                        container_id: exit.container_id,
                        exit_code: exit.exit_code,
                        finished_at: exit.finished_at,
                    });
                }
                Some((uid, outcome)) = results.recv() => match outcome {
                    Outcome::Event(ev) => self.handle(&uid, ev),
                    Outcome::SandboxRemoved => {
                        if let Some(e) = self.workers.get_mut(&uid) {
                            e.worker.sandbox_removed();
                        }
                    }
                },
                () = sleep => self.fire_timers(),
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = Timestamp::now();
        while let Some(Reverse((t, _))) = self.timers.peek() {
            if *t > now {
                break;
            }
            let Some(Reverse((t, uid))) = self.timers.pop() else {
                break;
            };
            if let Some(e) = self.workers.get_mut(&uid)
                && e.wake == Some(t)
            {
                e.wake = None;
                self.drive(&uid);
            }
        }
    }

    fn on_watch(&mut self, ev: watcher::Event<WithoutManagedFields<Pod>>) {
        use watcher::Event as E;
        let ev = match ev {
            E::Apply(p) => E::Apply(p.0),
            E::Delete(p) => E::Delete(p.0),
            E::Init => E::Init,
            E::InitApply(p) => E::InitApply(p.0),
            E::InitDone => E::InitDone,
        };
        match ev {
            watcher::Event::Init => self.relisting = Some(HashSet::new()),
            watcher::Event::InitApply(pod) => {
                if let (Some(seen), Some(uid)) = (&mut self.relisting, &pod.metadata.uid) {
                    seen.insert(uid.clone());
                }
                self.on_pod(pod);
            }
            watcher::Event::InitDone => {
                if let Some(seen) = self.relisting.take() {
                    let gone: Vec<String> = self
                        .workers
                        .keys()
                        .filter(|uid| !seen.contains(*uid))
                        .cloned()
                        .collect();
                    for uid in gone {
                        self.remove(&uid);
                    }
                }
            }
            watcher::Event::Apply(pod) => self.on_pod(pod),
            watcher::Event::Delete(pod) => {
                if let Some(uid) = &pod.metadata.uid {
                    self.remove(uid);
                }
            }
        }
    }

    fn on_pod(&mut self, pod: Pod) {
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        let deleting = pod.metadata.deletion_timestamp.is_some().then(|| {
            Duration::from_secs(
                pod.metadata
                    .deletion_grace_period_seconds
                    .and_then(|g| u64::try_from(g).ok())
                    .unwrap_or(0),
            )
        });
        if let Some(entry) = self.workers.get_mut(&uid) {
            if let Some(grace) = deleting {
                entry
                    .worker
                    .handle(Timestamp::now(), Event::DeletionRequested { grace });
                self.drive(&uid);
            }
            return;
        }
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let Some(rt) = self.nodes.get(&node) else {
            return;
        };
        let annotations = pod.metadata.annotations.clone().unwrap_or_default();
        let (behavior, warnings) = Behavior::from_annotations(&annotations);
        for w in warnings {
            tracing::warn!(pod = ?pod.metadata.name, "{w}");
        }
        let spec = PodSpec::from_pod(&pod, behavior.readiness());
        let mut worker = PodWorker::new(spec, rt.host_ip.clone(), pod.status.as_ref());
        let previous_ip = worker.pod_ip();
        if let Some(grace) = deleting {
            worker.handle(Timestamp::now(), Event::DeletionRequested { grace });
        }
        self.workers.insert(
            uid.clone(),
            Entry {
                worker,
                node,
                annotations,
                previous_ip,
                wake: None,
                published: pod.status.as_ref().map(status_hash),
            },
        );
        self.drive(&uid);
    }

    /// The pod object is gone: stop what still runs and free its IP.
    fn remove(&mut self, uid: &str) {
        let Some(entry) = self.workers.remove(uid) else {
            return;
        };
        self.status.forget(uid);
        let Some(rt) = self.nodes.get(&entry.node) else {
            return;
        };
        let running = entry.worker.running_containers();
        let sandbox = entry.worker.sandbox_id().map(str::to_string);
        if running.is_empty() && sandbox.is_none() {
            return;
        }
        let runtime = Arc::clone(&rt.runtime);
        tokio::spawn(async move {
            for (_, id) in running {
                let _ = runtime.stop_container(&id, Duration::ZERO).await;
            }
            if let Some(id) = sandbox {
                let _ = runtime.remove_pod_sandbox(&id).await;
            }
        });
    }

    fn handle(&mut self, uid: &str, ev: Event) {
        if let Some(e) = self.workers.get_mut(uid) {
            e.worker.handle(Timestamp::now(), ev);
            self.drive(uid);
        }
    }

    /// Runs the worker's sync, starts its actions, writes its status when it
    /// changed and arms its timer.
    fn drive(&mut self, uid: &str) {
        let Some(entry) = self.workers.get_mut(uid) else {
            return;
        };
        let Some(rt) = self.nodes.get(&entry.node) else {
            return;
        };
        let now = Timestamp::now();
        let actions = entry.worker.sync(now);
        // The simulated runtime answers at once: skip the transient
        // ContainerCreating status and write the settled one.
        if entry.worker.publishes_status() && !entry.worker.busy() {
            let status = entry.worker.status(now);
            let hash = status_hash(&status);
            if entry.published != Some(hash) {
                let spec = entry.worker.spec();
                self.status
                    .set_status(uid, &spec.namespace, &spec.name, status);
                entry.published = Some(hash);
            }
        }
        for action in actions {
            let runtime = Arc::clone(&rt.runtime);
            let results = self.results.clone();
            let uid = uid.to_string();
            let spec = entry.worker.spec();
            match action {
                Action::RunSandbox => {
                    let config = SandboxConfig {
                        pod_uid: uid.clone(),
                        namespace: spec.namespace.clone(),
                        name: spec.name.clone(),
                        annotations: entry.annotations.clone(),
                        previous_ip: entry.previous_ip,
                    };
                    tokio::spawn(async move {
                        let ev = match runtime.run_pod_sandbox(&config).await {
                            Ok(sb) => Event::SandboxReady {
                                sandbox_id: sb.id,
                                ip: sb.ip,
                            },
                            Err(e) => {
                                tracing::warn!(pod = %config.name, "failed to create sandbox: {e}");
                                Event::SandboxFailed {
                                    message: e.to_string(),
                                }
                            }
                        };
                        let _ = results.send((uid, Outcome::Event(ev)));
                    });
                }
                Action::StartContainer { index, attempt } => {
                    let sandbox = entry.worker.sandbox_id().unwrap_or_default().to_string();
                    let c = spec.containers.get(index);
                    let config = ContainerConfig {
                        name: c.map(|c| c.name.clone()).unwrap_or_default(),
                        image: c.map(|c| c.image.clone()).unwrap_or_default(),
                        attempt,
                    };
                    tokio::spawn(async move {
                        let ev = match runtime.start_container(&sandbox, &config).await {
                            Ok(s) => Event::ContainerStarted {
                                index,
                                container_id: s.id,
                                started_at: s.started_at,
                            },
                            Err(e) => Event::ContainerStartFailed {
                                index,
                                message: e.to_string(),
                            },
                        };
                        let _ = results.send((uid, Outcome::Event(ev)));
                    });
                }
                Action::StopContainer {
                    container_id,
                    grace,
                    ..
                } => {
                    tokio::spawn(async move {
                        match runtime.stop_container(&container_id, grace).await {
                            Ok(exit) => {
                                let ev = Event::ContainerExited {
                                    container_id: exit.container_id,
                                    exit_code: exit.exit_code,
                                    finished_at: exit.finished_at,
                                };
                                let _ = results.send((uid, Outcome::Event(ev)));
                            }
                            // It exited on its own; the exit is on its way.
                            Err(runtime::Error::ContainerNotFound { .. }) => {}
                            Err(e) => tracing::warn!("failed to stop container: {e}"),
                        }
                    });
                }
                Action::RemoveSandbox { sandbox_id } => {
                    tokio::spawn(async move {
                        let _ = runtime.remove_pod_sandbox(&sandbox_id).await;
                        let _ = results.send((uid, Outcome::SandboxRemoved));
                    });
                }
                Action::DeletePod => {
                    self.status.delete(&uid, &spec.namespace, &spec.name);
                }
            }
        }
        let wake = entry.worker.next_wakeup(now);
        if wake != entry.wake {
            entry.wake = wake;
            if let Some(t) = wake {
                self.timers.push(Reverse((t, uid.to_string())));
            }
        }
    }
}
