//! The node lifecycle controller (upstream `pkg/controller/nodelifecycle`):
//! watches Nodes and their Leases in `kube-node-lease` and
//!
//! - sets the `Ready`, `MemoryPressure`, `DiskPressure` and `PIDPressure`
//!   conditions of a node that has renewed neither its Lease nor its status
//!   for the grace period to `Unknown` (`NodeStatusUnknown`, "Kubelet
//!   stopped posting node status."), and of a node that never posted a
//!   status for the startup grace period (`NodeStatusNeverUpdated`);
//! - marks the pods of a node it just found unreachable `Ready=False`
//!   (upstream's `MarkPodsNotReady`);
//! - keeps the `NoSchedule` taints that mirror node conditions
//!   (`node.kubernetes.io/not-ready`, `unreachable`, `memory-pressure`,
//!   `disk-pressure`, `pid-pressure`, `network-unavailable`) and
//!   `spec.unschedulable` (`node.kubernetes.io/unschedulable`);
//! - adds the `NoExecute` taint `node.kubernetes.io/unreachable` (Ready
//!   Unknown) or `not-ready` (Ready False), rate limited per zone and
//!   stopped in "master disruption mode" (every zone fully disrupted), and
//!   removes it when the node is Ready again. The taint eviction controller
//!   ([`crate::taint_eviction`]) then deletes the pods that do not tolerate it.
//!
//! Configuration: `SKIFF_NODE_MONITOR_GRACE_PERIOD` (a duration such as
//! `50s`, `500ms`, `2m`, or plain seconds) overrides kube-controller-manager's
//! `--node-monitor-grace-period`, 50 s by default since v1.32; tests use a few
//! seconds, above the 10 s lease renewal of skiff's nodes (kubelet's
//! quarter of the 40 s lease duration) or healthy nodes flap. The other
//! settings are upstream's defaults.
//!
//! Owns: node conditions written on the kubelet's behalf, the taints above,
//! and pod readiness on lost nodes. Does not own: pod deletion.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, ObjectReference, Pod, PodCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::controller_utils as cu;
use crate::events::{EventType, Recorder};
use crate::informer::{Informer, Informers};
use crate::{ApiContext, Result};

/// The environment variable that sets the node monitor grace period.
pub const GRACE_PERIOD_ENV: &str = "SKIFF_NODE_MONITOR_GRACE_PERIOD";
/// `--node-monitor-grace-period` (50 s since Kubernetes v1.32).
pub const NODE_MONITOR_GRACE_PERIOD: Duration = Duration::from_secs(50);
/// `--node-startup-grace-period`.
pub const NODE_STARTUP_GRACE_PERIOD: Duration = Duration::from_secs(60);
/// `--node-monitor-period`.
pub const NODE_MONITOR_PERIOD: Duration = Duration::from_secs(5);
/// `--node-eviction-rate`: nodes tainted `NoExecute` per second and zone.
pub const NODE_EVICTION_RATE: f64 = 0.1;
/// `--secondary-node-eviction-rate`, for partially disrupted large zones.
pub const SECONDARY_NODE_EVICTION_RATE: f64 = 0.01;
/// `--large-cluster-size-threshold`: smaller zones stop tainting when
/// partially disrupted.
pub const LARGE_CLUSTER_SIZE_THRESHOLD: usize = 50;
/// `--unhealthy-zone-threshold`.
pub const UNHEALTHY_ZONE_THRESHOLD: f64 = 0.55;

/// Namespace of node Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// Label that keeps a node out of the zone disruption computation.
pub const EXCLUDE_DISRUPTION_LABEL: &str = "node.kubernetes.io/exclude-disruption";

pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";

/// `nodeConditionToTaintKeyStatusMap`: which condition status gives which
/// `NoSchedule` taint.
const CONDITION_TAINTS: [(&str, &str, &str); 6] = [
    ("Ready", "False", TAINT_NOT_READY),
    ("Ready", "Unknown", TAINT_UNREACHABLE),
    ("MemoryPressure", "True", TAINT_MEMORY_PRESSURE),
    ("DiskPressure", "True", TAINT_DISK_PRESSURE),
    ("NetworkUnavailable", "True", TAINT_NETWORK_UNAVAILABLE),
    ("PIDPressure", "True", TAINT_PID_PRESSURE),
];

/// The conditions the controller sets to Unknown for a silent node.
const MONITORED_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Timing of the controller.
#[derive(Clone, Debug)]
pub struct Config {
    pub monitor_period: Duration,
    pub grace_period: Duration,
    pub startup_grace_period: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            monitor_period: NODE_MONITOR_PERIOD,
            grace_period: NODE_MONITOR_GRACE_PERIOD,
            startup_grace_period: NODE_STARTUP_GRACE_PERIOD,
        }
    }
}

impl Config {
    /// Upstream's defaults, with the grace period from [`GRACE_PERIOD_ENV`].
    pub fn from_env() -> Config {
        let mut c = Config::default();
        if let Ok(v) = std::env::var(GRACE_PERIOD_ENV) {
            match parse_duration(&v) {
                Some(d) if !d.is_zero() => c.grace_period = d,
                _ => tracing::warn!(value = %v, "ignoring an invalid {GRACE_PERIOD_ENV}"),
            }
        }
        c
    }
}

/// Parses `500ms`, `50s`, `2m`, `1h` or plain seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// What the controller remembers of a node between passes
/// (`nodeHealthData`): when it last heard from it and what it saw.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeHealth {
    /// Last time the node's Ready heartbeat or Lease moved, by our clock.
    pub probe: Timestamp,
    pub ready_transition: Timestamp,
    /// The Ready condition seen last.
    pub saved_ready: Option<NodeCondition>,
    /// The Lease's `renewTime` seen last.
    pub lease_renew: Option<Timestamp>,
}

/// The outcome of [`check_health`].
#[derive(Clone, Debug)]
pub struct HealthCheck {
    pub health: NodeHealth,
    /// The Ready condition as the node had it.
    pub observed_ready: NodeCondition,
    /// The Ready condition after this check (None: the node has none).
    pub current_ready: Option<NodeCondition>,
    /// The conditions to write, when the check changed the Ready condition.
    pub new_conditions: Option<Vec<NodeCondition>>,
}

fn condition<'a>(conds: &'a [NodeCondition], type_: &str) -> Option<&'a NodeCondition> {
    conds.iter().find(|c| c.type_ == type_)
}

fn node_conditions(node: &Node) -> Vec<NodeCondition> {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
}

/// `tryUpdateNodeHealth` without the write: advances what we know of the
/// node and, when nothing was heard for the grace period, turns its
/// monitored conditions Unknown.
pub fn check_health(
    prev: Option<&NodeHealth>,
    node: &Node,
    lease_renew: Option<Timestamp>,
    now: Timestamp,
    cfg: &Config,
) -> HealthCheck {
    let created = node
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(now);
    let mut conds = node_conditions(node);
    let current = condition(&conds, "Ready").cloned();
    let (observed, grace) = match &current {
        Some(c) => (c.clone(), cfg.grace_period),
        None => (
            NodeCondition {
                type_: "Ready".into(),
                status: "Unknown".into(),
                last_heartbeat_time: Some(Time(created)),
                last_transition_time: Some(Time(created)),
                ..Default::default()
            },
            cfg.startup_grace_period,
        ),
    };
    let fresh = |probe| NodeHealth {
        probe,
        ready_transition: probe,
        saved_ready: current.clone(),
        lease_renew: prev.and_then(|p| p.lease_renew),
    };
    let mut health = match prev {
        None if current.is_none() => NodeHealth {
            probe: created,
            ready_transition: created,
            saved_ready: None,
            lease_renew: None,
        },
        None => fresh(now),
        Some(p) => match (&p.saved_ready, &current) {
            (None, None) => p.clone(),
            // First Ready condition seen, or it vanished: start counting now.
            (None, Some(_)) | (Some(_), None) => fresh(now),
            (Some(saved), Some(cur)) if saved.last_heartbeat_time != cur.last_heartbeat_time => {
                NodeHealth {
                    probe: now,
                    ready_transition: if saved.last_transition_time != cur.last_transition_time {
                        now
                    } else {
                        p.ready_transition
                    },
                    saved_ready: current.clone(),
                    lease_renew: p.lease_renew,
                }
            }
            _ => p.clone(),
        },
    };
    // A renewed Lease is a heartbeat too.
    if let Some(renew) = lease_renew
        && health.lease_renew.is_none_or(|saved| saved < renew)
    {
        health.lease_renew = Some(renew);
        health.probe = now;
    }
    if now > add(health.probe, grace) {
        for type_ in MONITORED_CONDITIONS {
            match conds.iter_mut().find(|c| c.type_ == type_) {
                None => conds.push(NodeCondition {
                    type_: type_.into(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: Some(Time(created)),
                    last_transition_time: Some(Time(now)),
                }),
                Some(c) if c.status != "Unknown" => {
                    c.status = "Unknown".into();
                    c.reason = Some("NodeStatusUnknown".into());
                    c.message = Some("Kubelet stopped posting node status.".into());
                    c.last_transition_time = Some(Time(now));
                }
                Some(_) => {}
            }
        }
        let updated = condition(&conds, "Ready").cloned();
        if updated.as_ref() != Some(&observed) {
            health.ready_transition = now;
            health.saved_ready = updated.clone();
            return HealthCheck {
                health,
                observed_ready: observed,
                current_ready: updated,
                new_conditions: Some(conds),
            };
        }
    }
    HealthCheck {
        health,
        observed_ready: observed,
        current_ready: current,
        new_conditions: None,
    }
}

/// Health of a zone (`ComputeZoneState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneState {
    Initial,
    Normal,
    FullDisruption,
    PartialDisruption,
}

/// The state of a zone from the Ready conditions of its nodes.
pub fn zone_state(ready: &[Option<NodeCondition>]) -> ZoneState {
    let ready_nodes = ready
        .iter()
        .filter(|c| c.as_ref().is_some_and(|c| c.status == "True"))
        .count();
    let not_ready = ready.len() - ready_nodes;
    if ready_nodes == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2
        && not_ready as f64 / (not_ready + ready_nodes) as f64 >= UNHEALTHY_ZONE_THRESHOLD
    {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    }
}

/// `nodetopology.GetZoneKey`: region and zone labels (GA, else beta).
pub fn zone_key(node: &Node) -> String {
    let labels = node.labels();
    let get = |ga: &str, beta: &str| {
        labels
            .get(ga)
            .or_else(|| labels.get(beta))
            .cloned()
            .unwrap_or_default()
    };
    let region = get(
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/region",
    );
    let zone = get(
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/zone",
    );
    if region.is_empty() && zone.is_empty() {
        return String::new();
    }
    format!("{region}:\x00:{zone}")
}

/// What changed in the cluster-wide disruption mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeChange {
    None,
    /// Every zone is fully disrupted: stop tainting, untaint every node.
    EnterMaster,
    /// Some node is Ready again: restart every node's grace period.
    ExitMaster,
}

/// Zone states and the eviction rate of each zone (`handleDisruption`).
#[derive(Default, Debug)]
pub struct Zones {
    states: HashMap<String, ZoneState>,
    master: bool,
}

impl Zones {
    /// Updates the zone states from the Ready conditions by zone.
    pub fn update(&mut self, by_zone: &HashMap<String, Vec<Option<NodeCondition>>>) -> ModeChange {
        let mut new_states = HashMap::new();
        let mut all_are_fully = true;
        for (zone, conds) in by_zone {
            let s = zone_state(conds);
            if s != ZoneState::FullDisruption {
                all_are_fully = false;
            }
            new_states.insert(zone.clone(), s);
            self.states
                .entry(zone.clone())
                .or_insert(ZoneState::Initial);
        }
        self.states.retain(|z, _| by_zone.contains_key(z));
        let all_were_fully = self
            .states
            .values()
            .all(|s| *s == ZoneState::FullDisruption);
        if all_are_fully && all_were_fully {
            return ModeChange::None;
        }
        if all_are_fully {
            for s in self.states.values_mut() {
                *s = ZoneState::FullDisruption;
            }
            self.master = true;
            return ModeChange::EnterMaster;
        }
        self.states = new_states;
        if all_were_fully && self.master {
            self.master = false;
            return ModeChange::ExitMaster;
        }
        self.master = false;
        ModeChange::None
    }

    /// Nodes per second a zone may get a `NoExecute` taint (`setLimiterInZone`).
    pub fn qps(&self, zone: &str, zone_size: usize) -> f64 {
        if self.master {
            return 0.0;
        }
        match self.states.get(zone) {
            Some(ZoneState::PartialDisruption) => {
                if zone_size > LARGE_CLUSTER_SIZE_THRESHOLD {
                    SECONDARY_NODE_EVICTION_RATE
                } else {
                    0.0
                }
            }
            _ => NODE_EVICTION_RATE,
        }
    }
}

fn taint(key: &str, effect: &str, now: Timestamp) -> Taint {
    Taint {
        key: key.into(),
        effect: effect.into(),
        value: None,
        time_added: Some(Time(now)),
    }
}

/// Whether a `NoSchedule` taint is one the controller manages.
fn managed_no_schedule(t: &Taint) -> bool {
    t.effect == "NoSchedule"
        && (t.key == TAINT_UNSCHEDULABLE || CONDITION_TAINTS.iter().any(|(_, _, k)| *k == t.key))
}

/// `doNoScheduleTaintingPass`: the node's taints with the managed
/// `NoSchedule` ones matching its conditions and `spec.unschedulable`.
pub fn reconcile_no_schedule(
    node: &Node,
    conditions: &[NodeCondition],
    now: Timestamp,
) -> Vec<Taint> {
    let mut want: Vec<&str> = CONDITION_TAINTS
        .iter()
        .filter(|(type_, status, _)| {
            condition(conditions, type_).is_some_and(|c| c.status == *status)
        })
        .map(|(_, _, key)| *key)
        .collect();
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        want.push(TAINT_UNSCHEDULABLE);
    }
    let current = taints_of(node);
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| !managed_no_schedule(t) || want.contains(&t.key.as_str()))
        .cloned()
        .collect();
    for key in want {
        if !out.iter().any(|t| t.key == key && t.effect == "NoSchedule") {
            out.push(taint(key, "NoSchedule", now));
        }
    }
    out
}

fn taints_of(node: &Node) -> Vec<Taint> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
}

fn has(taints: &[Taint], key: &str, effect: &str) -> bool {
    taints.iter().any(|t| t.key == key && t.effect == effect)
}

/// What the `NoExecute` taints of a node need (`processTaintBaseEviction`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoExecute {
    /// Nothing to do.
    Keep,
    /// Replace the opposite taint right away (no rate limit).
    Swap {
        add: &'static str,
        remove: &'static str,
    },
    /// Add the taint when the zone's rate limit allows.
    Add {
        add: &'static str,
        remove: &'static str,
    },
    /// The node is Ready: remove both.
    RemoveAll,
}

/// The `NoExecute` action for a node with Ready status `ready` and `taints`.
pub fn no_execute_action(ready: &str, taints: &[Taint]) -> NoExecute {
    let (want, opposite) = match ready {
        "False" => (TAINT_NOT_READY, TAINT_UNREACHABLE),
        "Unknown" => (TAINT_UNREACHABLE, TAINT_NOT_READY),
        _ => {
            return if has(taints, TAINT_NOT_READY, "NoExecute")
                || has(taints, TAINT_UNREACHABLE, "NoExecute")
            {
                NoExecute::RemoveAll
            } else {
                NoExecute::Keep
            };
        }
    };
    if has(taints, want, "NoExecute") && !has(taints, opposite, "NoExecute") {
        NoExecute::Keep
    } else if has(taints, opposite, "NoExecute") {
        NoExecute::Swap {
            add: want,
            remove: opposite,
        }
    } else {
        NoExecute::Add {
            add: want,
            remove: opposite,
        }
    }
}

/// The taints after adding `add` and removing `remove` (both `NoExecute`).
pub fn swap_no_execute(
    taints: &[Taint],
    add: Option<&str>,
    remove: &[&str],
    now: Timestamp,
) -> Vec<Taint> {
    let mut out: Vec<Taint> = taints
        .iter()
        .filter(|t| !(t.effect == "NoExecute" && remove.contains(&t.key.as_str())))
        .cloned()
        .collect();
    if let Some(key) = add
        && !has(&out, key, "NoExecute")
    {
        out.push(taint(key, "NoExecute", now));
    }
    out
}

/// `MarkPodsNotReady` for one pod: its conditions with Ready False, or
/// None when it is not ready already (or has no Ready condition).
pub fn pod_not_ready(pod: &Pod, now: Timestamp) -> Option<Vec<PodCondition>> {
    let mut status = pod.status.clone()?;
    let ready = status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?
        .clone();
    let cond = PodCondition {
        status: "False".into(),
        ..ready
    };
    if !cu::update_pod_condition(&mut status, cond, now) {
        return None;
    }
    status.conditions
}

struct State {
    client: Client,
    cfg: Config,
    recorder: Recorder,
    nodes: Informer<Node>,
    leases: Informer<Lease>,
    pods: Informer<Pod>,
    health: HashMap<String, NodeHealth>,
    zones: Zones,
    /// Next time each zone may taint a node `NoExecute`.
    zone_next: HashMap<String, Timestamp>,
    /// Nodes whose pods could not all be marked not ready.
    retry_pods: HashSet<String>,
}

/// Runs the controller until its watches fail.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let nodes = informers.of::<Node>();
    let leases = informers.of::<Lease>();
    let pods = informers.of::<Pod>();
    nodes.synced().await;
    leases.synced().await;
    pods.synced().await;
    let state = State {
        recorder: Recorder::new(client.clone(), "node-controller"),
        client,
        cfg: Config::from_env(),
        nodes,
        leases,
        pods,
        health: HashMap::new(),
        zones: Zones::default(),
        zone_next: HashMap::new(),
        retry_pods: HashSet::new(),
    };
    monitor(state).await
}

async fn monitor(mut state: State) -> Result<()> {
    tracing::info!(grace_period = ?state.cfg.grace_period, "node lifecycle controller started");
    let mut tick = tokio::time::interval(state.cfg.monitor_period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        monitor_node_health(&mut state).await;
    }
}

/// One pass of `monitorNodeHealth` with the tainting passes.
async fn monitor_node_health(state: &mut State) {
    let now = Timestamp::now();
    // The informer's shared copies: a pass looks at every node every
    // monitor period, and a deep copy of 5,000 nodes each time was most of
    // this controller's CPU. A node is copied only when written.
    let mut nodes: Vec<Arc<Node>> = state.nodes.state();
    nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    {
        let names: HashSet<&str> = nodes
            .iter()
            .filter_map(|n| n.metadata.name.as_deref())
            .collect();
        state.health.retain(|n, _| names.contains(n.as_str()));
        state.retry_pods.retain(|n| names.contains(n.as_str()));
    }

    let mut by_zone: HashMap<String, Vec<Option<NodeCondition>>> = HashMap::new();
    let mut checked: Vec<(Arc<Node>, Option<NodeCondition>)> = Vec::new();
    for mut node in nodes {
        let name = node.name_any();
        let lease = state
            .leases
            .get(LEASE_NAMESPACE, &name)
            .and_then(|l| l.spec.as_ref()?.renew_time.as_ref().map(|t| t.0));
        let hc = check_health(state.health.get(&name), &node, lease, now, &state.cfg);
        if let Some(conditions) = &hc.new_conditions {
            match write_conditions(&state.client, &node, conditions).await {
                Ok(updated) => node = Arc::new(updated),
                Err(e) => {
                    // Stale copy or API trouble: the next pass tries again.
                    tracing::debug!(node = %name, error = %crate::error_chain(&e), "failed to update node health");
                    continue;
                }
            }
        }
        state.health.insert(name.clone(), hc.health.clone());
        if !node.labels().contains_key(EXCLUDE_DISRUPTION_LABEL) {
            by_zone
                .entry(zone_key(&node))
                .or_default()
                .push(hc.current_ready.clone());
        }
        if let Some(current) = &hc.current_ready {
            let lost = current.status != "True" && hc.observed_ready.status == "True";
            if lost {
                state
                    .recorder
                    .record_ref(
                        node_ref(&node),
                        EventType::Normal,
                        "NodeNotReady",
                        format!("Node {name} status is now: NodeNotReady"),
                    )
                    .await;
            }
            let retry = state.retry_pods.contains(&name) && hc.observed_ready.status != "True";
            if lost || retry {
                if mark_pods_not_ready(state, &name, now).await {
                    state.retry_pods.remove(&name);
                } else {
                    state.retry_pods.insert(name.clone());
                }
            }
        }
        checked.push((node, hc.current_ready));
    }

    let change = state.zones.update(&by_zone);
    match change {
        ModeChange::EnterMaster => {
            tracing::info!("all nodes are not ready: entering master disruption mode");
        }
        ModeChange::ExitMaster => {
            tracing::info!("some nodes are ready: leaving master disruption mode");
            for h in state.health.values_mut() {
                h.probe = now;
                h.ready_transition = now;
            }
        }
        ModeChange::None => {}
    }
    let zone_sizes: HashMap<String, usize> =
        by_zone.iter().map(|(z, v)| (z.clone(), v.len())).collect();
    for (node, ready) in checked {
        let conditions = node_conditions(&node);
        let mut taints = reconcile_no_schedule(&node, &conditions, now);
        if let Some(ready) = &ready {
            if change == ModeChange::EnterMaster {
                taints = swap_no_execute(&taints, None, &[TAINT_NOT_READY, TAINT_UNREACHABLE], now);
            } else {
                match no_execute_action(&ready.status, &taints) {
                    NoExecute::Keep => {}
                    NoExecute::RemoveAll => {
                        taints = swap_no_execute(
                            &taints,
                            None,
                            &[TAINT_NOT_READY, TAINT_UNREACHABLE],
                            now,
                        )
                    }
                    NoExecute::Swap { add, remove } => {
                        taints = swap_no_execute(&taints, Some(add), &[remove], now)
                    }
                    NoExecute::Add { add, remove } => {
                        let zone = zone_key(&node);
                        let size = zone_sizes.get(&zone).copied().unwrap_or(0);
                        let qps = state.zones.qps(&zone, size);
                        let allowed =
                            qps > 0.0 && state.zone_next.get(&zone).is_none_or(|next| *next <= now);
                        if allowed {
                            state.zone_next.insert(zone, add_secs(now, 1.0 / qps));
                            taints = swap_no_execute(&taints, Some(add), &[remove], now);
                        }
                    }
                }
            }
        }
        if !same_taints(&taints, &taints_of(&node))
            && let Err(e) = write_taints(&state.client, &node, &taints).await
        {
            tracing::debug!(node = %node.name_any(), error = %crate::error_chain(&e), "failed to update node taints");
        }
    }
}

fn add_secs(t: Timestamp, secs: f64) -> Timestamp {
    add(t, Duration::from_secs_f64(secs.clamp(0.0, 1e9)))
}

/// Same taints by key, value and effect (`timeAdded` aside).
fn same_taints(a: &[Taint], b: &[Taint]) -> bool {
    let key = |t: &Taint| (t.key.clone(), t.value.clone(), t.effect.clone());
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| key(x) == key(y))
}

/// Upstream `RecordNodeStatusChange` names the node by name in `uid` too.
fn node_ref(node: &Node) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Node".into()),
        name: Some(node.name_any()),
        uid: Some(node.name_any()),
        ..Default::default()
    }
}

/// Writes the node's conditions, conditional on the version we read.
async fn write_conditions(
    client: &Client,
    node: &Node,
    conditions: &[NodeCondition],
) -> Result<Node> {
    let api: Api<Node> = Api::all(client.clone());
    let patch = json!({
        "metadata": {"resourceVersion": node.resource_version()},
        "status": {"conditions": conditions},
    });
    api.patch_status(
        &node.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .ctx(|| format!("update the status of node {}", node.name_any()))
}

/// Writes the node's taints, conditional on the version we read.
async fn write_taints(client: &Client, node: &Node, taints: &[Taint]) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let value = if taints.is_empty() {
        serde_json::Value::Null
    } else {
        json!(taints)
    };
    let patch = json!({
        "metadata": {"resourceVersion": node.resource_version()},
        "spec": {"taints": value},
    });
    api.patch(
        &node.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .ctx(|| format!("update the taints of node {}", node.name_any()))?;
    Ok(())
}

/// `MarkPodsNotReady`: true when every pod of the node was handled.
async fn mark_pods_not_ready(state: &State, node: &str, now: Timestamp) -> bool {
    let mut ok = true;
    let pods: Vec<_> = state
        .pods
        .state()
        .into_iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .collect();
    for pod in pods {
        let Some(conditions) = pod_not_ready(&pod, now) else {
            continue;
        };
        let ns = pod.namespace().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(state.client.clone(), &ns);
        let patch = json!({
            "metadata": {"resourceVersion": pod.resource_version()},
            "status": {"conditions": conditions},
        });
        match api
            .patch_status(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {
                state
                    .recorder
                    .record(
                        pod.as_ref(),
                        EventType::Warning,
                        "NodeNotReady",
                        "Node is not ready".into(),
                    )
                    .await;
            }
            Err(e) if crate::is_not_found(&e) => {}
            Err(e) => {
                tracing::debug!(pod = %cu::key(&ns, &pod.name_any()), error = %e, "failed to mark pod not ready");
                ok = false;
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeSpec, NodeStatus, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or_default()
    }

    fn cond(type_: &str, status: &str, heartbeat: i64) -> NodeCondition {
        NodeCondition {
            type_: type_.into(),
            status: status.into(),
            reason: Some("KubeletReady".into()),
            message: Some("kubelet is posting ready status".into()),
            last_heartbeat_time: Some(Time(ts(heartbeat))),
            last_transition_time: Some(Time(ts(0))),
        }
    }

    fn node(conds: Vec<NodeCondition>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("n1".into()),
                creation_timestamp: Some(Time(ts(0))),
                ..Default::default()
            },
            spec: Some(NodeSpec::default()),
            status: Some(NodeStatus {
                conditions: Some(conds),
                ..Default::default()
            }),
        }
    }

    fn healthy(heartbeat: i64) -> Node {
        node(vec![
            cond("MemoryPressure", "False", heartbeat),
            cond("DiskPressure", "False", heartbeat),
            cond("PIDPressure", "False", heartbeat),
            cond("Ready", "True", heartbeat),
        ])
    }

    fn cfg() -> Config {
        Config {
            monitor_period: Duration::from_secs(5),
            grace_period: Duration::from_secs(50),
            startup_grace_period: Duration::from_secs(60),
        }
    }

    #[test]
    fn silent_node_turns_unknown_after_the_grace_period() {
        let n = healthy(100);
        let first = check_health(None, &n, Some(ts(100)), ts(100), &cfg());
        assert!(first.new_conditions.is_none());
        // Within the grace period: nothing.
        let h = check_health(Some(&first.health), &n, Some(ts(100)), ts(149), &cfg());
        assert!(h.new_conditions.is_none());
        // Past it: every monitored condition is Unknown.
        let h = check_health(Some(&h.health), &n, Some(ts(100)), ts(151), &cfg());
        let conds = h.new_conditions.expect("status update");
        for type_ in MONITORED_CONDITIONS {
            let c = condition(&conds, type_).expect("condition");
            assert_eq!(c.status, "Unknown", "{type_}");
            assert_eq!(c.reason.as_deref(), Some("NodeStatusUnknown"));
            assert_eq!(
                c.message.as_deref(),
                Some("Kubelet stopped posting node status.")
            );
            assert_eq!(c.last_transition_time, Some(Time(ts(151))));
            // The heartbeat stays the kubelet's last.
            assert_eq!(c.last_heartbeat_time, Some(Time(ts(100))));
        }
        assert_eq!(h.observed_ready.status, "True");
        assert_eq!(
            h.current_ready.map(|c| c.status),
            Some("Unknown".to_string())
        );
    }

    #[test]
    fn a_renewed_lease_keeps_the_node_healthy() {
        let n = healthy(100);
        let first = check_health(None, &n, Some(ts(100)), ts(100), &cfg());
        let h = check_health(Some(&first.health), &n, Some(ts(140)), ts(140), &cfg());
        let h = check_health(Some(&h.health), &n, Some(ts(140)), ts(185), &cfg());
        assert!(h.new_conditions.is_none());
        let h = check_health(Some(&h.health), &n, Some(ts(140)), ts(191), &cfg());
        assert!(h.new_conditions.is_some());
    }

    #[test]
    fn a_node_that_never_posted_status_gets_the_startup_grace_period() {
        let n = node(Vec::new());
        let h = check_health(None, &n, None, ts(59), &cfg());
        assert!(h.new_conditions.is_none());
        let h = check_health(Some(&h.health), &n, None, ts(61), &cfg());
        let conds = h.new_conditions.expect("update");
        let ready = condition(&conds, "Ready").expect("ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_deref()),
            ("Unknown", Some("NodeStatusNeverUpdated"))
        );
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet never posted node status.")
        );
    }

    #[test]
    fn no_schedule_taints_follow_conditions_and_unschedulable() {
        let mut n = node(vec![
            cond("Ready", "Unknown", 1),
            cond("DiskPressure", "True", 1),
        ]);
        let user = Taint {
            key: "dedicated".into(),
            effect: "NoSchedule".into(),
            value: Some("gpu".into()),
            time_added: None,
        };
        n.spec = Some(NodeSpec {
            unschedulable: Some(true),
            taints: Some(vec![
                user.clone(),
                taint(TAINT_NOT_READY, "NoSchedule", ts(1)),
            ]),
            ..Default::default()
        });
        let conds = node_conditions(&n);
        let out = reconcile_no_schedule(&n, &conds, ts(5));
        let keys: Vec<_> = out
            .iter()
            .map(|t| (t.key.as_str(), t.effect.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("dedicated", "NoSchedule"),
                (TAINT_UNREACHABLE, "NoSchedule"),
                (TAINT_DISK_PRESSURE, "NoSchedule"),
                (TAINT_UNSCHEDULABLE, "NoSchedule"),
            ]
        );
        assert!(
            out.iter()
                .skip(1)
                .all(|t| t.time_added == Some(Time(ts(5))))
        );
    }

    #[test]
    fn no_execute_taints_mirror_the_ready_condition() {
        let none: Vec<Taint> = Vec::new();
        assert_eq!(
            no_execute_action("Unknown", &none),
            NoExecute::Add {
                add: TAINT_UNREACHABLE,
                remove: TAINT_NOT_READY
            }
        );
        let not_ready = vec![taint(TAINT_NOT_READY, "NoExecute", ts(1))];
        assert_eq!(
            no_execute_action("Unknown", &not_ready),
            NoExecute::Swap {
                add: TAINT_UNREACHABLE,
                remove: TAINT_NOT_READY
            }
        );
        assert_eq!(no_execute_action("False", &not_ready), NoExecute::Keep);
        assert_eq!(no_execute_action("True", &not_ready), NoExecute::RemoveAll);
        assert_eq!(no_execute_action("True", &none), NoExecute::Keep);
        let swapped = swap_no_execute(
            &not_ready,
            Some(TAINT_UNREACHABLE),
            &[TAINT_NOT_READY],
            ts(9),
        );
        assert_eq!(swapped.len(), 1);
        assert_eq!(swapped[0].key, TAINT_UNREACHABLE);
        assert_eq!(swapped[0].time_added, Some(Time(ts(9))));
    }

    #[test]
    fn zone_states_and_master_disruption_mode() {
        let r = |s: &str| Some(cond("Ready", s, 1));
        assert_eq!(zone_state(&[r("True"), r("Unknown")]), ZoneState::Normal);
        assert_eq!(zone_state(&[r("Unknown"), None]), ZoneState::FullDisruption);
        assert_eq!(
            zone_state(&[r("False"), r("False"), r("False"), r("True")]),
            ZoneState::PartialDisruption
        );
        assert_eq!(
            zone_state(&[r("False"), r("False"), r("True")]),
            ZoneState::Normal
        );

        let mut zones = Zones::default();
        let z = |a: &str, b: &str| -> HashMap<String, Vec<Option<NodeCondition>>> {
            [("a".to_string(), vec![r(a)]), ("b".to_string(), vec![r(b)])].into()
        };
        assert_eq!(zones.update(&z("True", "True")), ModeChange::None);
        // One zone down: still tainting at the normal rate.
        assert_eq!(zones.update(&z("Unknown", "True")), ModeChange::None);
        assert_eq!(zones.qps("a", 1), NODE_EVICTION_RATE);
        // Every zone down: stop.
        assert_eq!(
            zones.update(&z("Unknown", "Unknown")),
            ModeChange::EnterMaster
        );
        assert_eq!(zones.qps("a", 1), 0.0);
        assert_eq!(zones.update(&z("Unknown", "Unknown")), ModeChange::None);
        assert_eq!(zones.qps("b", 1), 0.0);
        assert_eq!(zones.update(&z("True", "Unknown")), ModeChange::ExitMaster);
        assert_eq!(zones.qps("b", 1), NODE_EVICTION_RATE);
    }

    #[test]
    fn small_partially_disrupted_zones_stop_tainting() {
        let r = |s: &str| Some(cond("Ready", s, 1));
        let mut zones = Zones::default();
        let mut by_zone: HashMap<String, Vec<Option<NodeCondition>>> = HashMap::new();
        by_zone.insert(
            "a".into(),
            vec![r("False"), r("False"), r("False"), r("True")],
        );
        by_zone.insert("b".into(), vec![r("True")]);
        zones.update(&by_zone);
        assert_eq!(zones.qps("a", 4), 0.0);
        assert_eq!(zones.qps("a", 51), SECONDARY_NODE_EVICTION_RATE);
    }

    #[test]
    fn zone_keys() {
        let mut n = healthy(1);
        assert_eq!(zone_key(&n), "");
        n.metadata.labels = Some(
            [
                ("topology.kubernetes.io/region".to_string(), "r".to_string()),
                ("topology.kubernetes.io/zone".to_string(), "z".to_string()),
            ]
            .into(),
        );
        assert_eq!(zone_key(&n), "r:\x00:z");
    }

    #[test]
    fn pods_are_marked_not_ready_once() {
        let ready = PodCondition {
            type_: "Ready".into(),
            status: "True".into(),
            last_transition_time: Some(Time(ts(1))),
            ..Default::default()
        };
        let mut pod = Pod {
            status: Some(PodStatus {
                conditions: Some(vec![ready]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let conds = pod_not_ready(&pod, ts(7)).expect("changed");
        assert_eq!(conds[0].status, "False");
        assert_eq!(conds[0].last_transition_time, Some(Time(ts(7))));
        pod.status = Some(PodStatus {
            conditions: Some(conds),
            ..Default::default()
        });
        assert!(pod_not_ready(&pod, ts(8)).is_none());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("50s"), Some(Duration::from_secs(50)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("5d"), None);
    }
}
