//! The scheduling queue (`pkg/scheduler/backend/queue`): pending pods in
//! three places, as upstream's PriorityQueue.
//!
//! - *active*: ready to schedule, popped highest priority first, then oldest
//!   (the PrioritySort plugin);
//! - *backoff*: failed recently, waiting out 1 s × 2^(attempts−1), at most
//!   10 s (`podInitialBackoffSeconds`, `podMaxBackoffSeconds`);
//! - *unschedulable*: no node fits; they wait for a cluster event that may
//!   help (a node added or changed, a pod deleted, ...), then go to backoff
//!   or active, and are flushed anyway after 5 minutes.
//!
//! A pod that failed while a cluster event arrived during its cycle goes to
//! backoff rather than unschedulable, so that event is not missed (the
//! `moveRequestCycle` rule). The queue also holds the nominator: pods
//! nominated to a node by preemption, which later cycles count on that node.
//! Does not own: the cluster state (the cache).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::pod_info::PodInfo;

/// How long a pod may stay unschedulable before it is retried anyway
/// (`podMaxInUnschedulablePodsDuration`).
pub const MAX_UNSCHEDULABLE_DURATION: Duration = Duration::from_secs(5 * 60);

/// How often leftover unschedulable pods are checked.
const LEFTOVER_FLUSH_INTERVAL: Duration = Duration::from_secs(30);

/// A pod taken from the queue for one scheduling cycle.
#[derive(Debug, Clone)]
pub struct QueuedPod {
    pub info: Arc<PodInfo>,
    /// Scheduling attempts so far, this one included.
    pub attempts: u32,
    /// The cycle number this attempt runs in.
    pub cycle: u64,
}

/// Which kind of cluster change happened, to decide which unschedulable
/// pods it may help (a coarse form of upstream's queueing hints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterEvent {
    /// A node was added, or changed in a way that matters.
    NodeChange,
    /// An assigned pod was deleted (frees resources, ports, spreads...).
    AssignedPodDelete,
    /// An assigned pod was added or relabelled (affinity, spread).
    AssignedPodChange,
    /// Something else worth a retry of everything (namespace labels,
    /// services...).
    Other,
}

impl ClusterEvent {
    /// Whether the event can make a pod rejected by `plugins` fit.
    fn may_help(self, plugins: &[&'static str]) -> bool {
        use crate::plugins::*;
        if plugins.is_empty() {
            return true;
        }
        match self {
            ClusterEvent::NodeChange | ClusterEvent::Other => true,
            ClusterEvent::AssignedPodDelete => plugins.iter().any(|p| {
                [
                    node_resources_fit::NAME,
                    node_ports::NAME,
                    inter_pod_affinity::NAME,
                    pod_topology_spread::NAME,
                    volume_restrictions::NAME,
                    DEFAULT_PREEMPTION,
                ]
                .contains(p)
            }),
            ClusterEvent::AssignedPodChange => plugins
                .iter()
                .any(|p| [inter_pod_affinity::NAME, pod_topology_spread::NAME].contains(p)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Active,
    Backoff,
    Unschedulable,
    /// Popped, being scheduled (or bound).
    InFlight,
}

#[derive(Debug)]
struct Entry {
    info: Arc<PodInfo>,
    place: Place,
    attempts: u32,
    /// Bumped on every move so stale heap entries are skipped.
    generation: u64,
    /// When the pod (re-)entered active: the PrioritySort tie-break.
    timestamp: Instant,
    /// When the last attempt failed.
    failed_at: Option<Instant>,
    /// Plugins that rejected the last attempt.
    unschedulable_plugins: Vec<&'static str>,
    /// An update arrived while in flight (the pod must be looked at again).
    updated_in_flight: bool,
}

#[derive(Debug, PartialEq, Eq)]
struct ActiveKey {
    priority: i32,
    timestamp: Instant,
    seq: u64,
    generation: u64,
    uid: String,
}

impl Ord for ActiveKey {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap pops the greatest: higher priority, then earlier.
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.timestamp.cmp(&self.timestamp))
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for ActiveKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The scheduling queue.
#[derive(Debug)]
pub struct SchedulingQueue {
    entries: HashMap<String, Entry>,
    active: BinaryHeap<ActiveKey>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    /// UIDs in the unschedulable place, so events need not scan the queue.
    unschedulable: HashSet<String>,
    /// When leftover unschedulable pods were last looked at (every 30 s, as
    /// upstream's `flushUnschedulablePodsLeftover`).
    last_leftover_flush: Option<Instant>,
    seq: u64,
    scheduling_cycle: u64,
    move_request_cycle: u64,
    initial_backoff: Duration,
    max_backoff: Duration,
    /// node → pods nominated to it.
    nominated: HashMap<String, Vec<Arc<PodInfo>>>,
    /// pod → node it is nominated to.
    nominated_node: HashMap<String, String>,
}

impl SchedulingQueue {
    pub fn new(initial_backoff: Duration, max_backoff: Duration) -> SchedulingQueue {
        SchedulingQueue {
            entries: HashMap::new(),
            active: BinaryHeap::new(),
            backoff: BinaryHeap::new(),
            unschedulable: HashSet::new(),
            last_leftover_flush: None,
            seq: 0,
            scheduling_cycle: 0,
            move_request_cycle: 0,
            initial_backoff,
            max_backoff,
            nominated: HashMap::new(),
            nominated_node: HashMap::new(),
        }
    }

    /// Pods in the queue, in any place (in-flight ones included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, uid: &str) -> bool {
        self.entries.contains_key(uid)
    }

    fn push_active(&mut self, uid: &str, now: Instant) {
        let Some(e) = self.entries.get_mut(uid) else {
            return;
        };
        e.place = Place::Active;
        e.generation += 1;
        e.timestamp = now;
        self.seq += 1;
        self.active.push(ActiveKey {
            priority: e.info.priority,
            timestamp: now,
            seq: self.seq,
            generation: e.generation,
            uid: uid.to_string(),
        });
    }

    fn backoff_duration(&self, attempts: u32) -> Duration {
        let mut d = self.initial_backoff;
        for _ in 1..attempts {
            d = d.saturating_mul(2);
            if d > self.max_backoff {
                return self.max_backoff;
            }
        }
        d.min(self.max_backoff)
    }

    fn backoff_expiry(&self, e: &Entry) -> Option<Instant> {
        e.failed_at.map(|t| t + self.backoff_duration(e.attempts))
    }

    fn push_backoff_or_active(&mut self, uid: &str, now: Instant) {
        let Some(e) = self.entries.get(uid) else {
            return;
        };
        match self.backoff_expiry(e).filter(|exp| *exp > now) {
            Some(expiry) => {
                let Some(e) = self.entries.get_mut(uid) else {
                    return;
                };
                e.place = Place::Backoff;
                e.generation += 1;
                self.backoff
                    .push(Reverse((expiry, e.generation, uid.to_string())));
            }
            None => self.push_active(uid, now),
        }
    }

    /// A pending pod appeared or changed.
    pub fn add_or_update(&mut self, info: Arc<PodInfo>, now: Instant) {
        let uid = info.uid.clone();
        let Some(e) = self.entries.get_mut(&uid) else {
            self.update_nomination(&info);
            self.entries.insert(
                uid.clone(),
                Entry {
                    info,
                    place: Place::Active,
                    attempts: 0,
                    generation: 0,
                    timestamp: now,
                    failed_at: None,
                    unschedulable_plugins: Vec::new(),
                    updated_in_flight: false,
                },
            );
            self.push_active(&uid, now);
            return;
        };
        // Upstream `isPodUpdated`: only spec and metadata changes count, not
        // our own status writes.
        let changed = match (&e.info.pod, &info.pod) {
            (Some(old), Some(new)) => {
                old.spec != new.spec
                    || old.metadata.labels != new.metadata.labels
                    || old.metadata.annotations != new.metadata.annotations
            }
            _ => true,
        };
        let priority_changed = e.info.priority != info.priority;
        e.info = info.clone();
        let place = e.place;
        if place == Place::InFlight {
            e.updated_in_flight |= changed;
        }
        self.update_nomination(&info);
        match place {
            Place::Unschedulable if changed => self.push_backoff_or_active(&uid, now),
            Place::Active if priority_changed => self.push_active(&uid, now),
            _ => {}
        }
    }

    /// A pending pod was deleted, bound elsewhere, or became terminal.
    pub fn delete(&mut self, uid: &str) {
        self.entries.remove(uid);
        self.unschedulable.remove(uid);
        self.remove_nomination(uid);
    }

    /// The next pod to schedule, marked in flight.
    pub fn pop(&mut self) -> Option<QueuedPod> {
        while let Some(key) = self.active.pop() {
            let Some(e) = self.entries.get_mut(&key.uid) else {
                continue;
            };
            if e.place != Place::Active || e.generation != key.generation {
                continue;
            }
            e.place = Place::InFlight;
            e.attempts += 1;
            e.updated_in_flight = false;
            self.scheduling_cycle += 1;
            return Some(QueuedPod {
                info: e.info.clone(),
                attempts: e.attempts,
                cycle: self.scheduling_cycle,
            });
        }
        None
    }

    /// The popped pod was assumed and is being bound: it leaves the queue.
    pub fn done(&mut self, uid: &str) {
        self.entries.remove(uid);
    }

    /// The popped pod could not be scheduled (`AddUnschedulableIfNotPresent`).
    /// With no rejecting plugins (an error) it backs off.
    pub fn add_unschedulable(&mut self, qp: &QueuedPod, plugins: Vec<&'static str>, now: Instant) {
        let move_request_cycle = self.move_request_cycle;
        let Some(e) = self.entries.get_mut(&qp.info.uid) else {
            // Deleted while in flight.
            return;
        };
        e.failed_at = Some(now);
        let error = plugins.is_empty();
        e.unschedulable_plugins = plugins;
        let updated = std::mem::take(&mut e.updated_in_flight);
        if error || updated || move_request_cycle >= qp.cycle {
            self.push_backoff_or_active(&qp.info.uid, now);
        } else {
            e.place = Place::Unschedulable;
            e.generation += 1;
            self.unschedulable.insert(qp.info.uid.clone());
        }
    }

    /// A binding failed: the pod comes back (through backoff), as upstream's
    /// `handleBindingCycleError`.
    pub fn requeue_after_binding_error(&mut self, info: Arc<PodInfo>, attempts: u32, now: Instant) {
        let uid = info.uid.clone();
        self.entries.insert(
            uid.clone(),
            Entry {
                info,
                place: Place::Backoff,
                attempts,
                generation: 0,
                timestamp: now,
                failed_at: Some(now),
                unschedulable_plugins: Vec::new(),
                updated_in_flight: false,
            },
        );
        self.push_backoff_or_active(&uid, now);
    }

    /// A cluster event: unschedulable pods it may help move to backoff or
    /// active (`MoveAllToActiveOrBackoffQueue`).
    pub fn on_cluster_event(&mut self, event: ClusterEvent, now: Instant) {
        self.move_request_cycle = self.scheduling_cycle;
        if self.unschedulable.is_empty() {
            return;
        }
        let movable: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|uid| {
                self.entries
                    .get(*uid)
                    .is_some_and(|e| event.may_help(&e.unschedulable_plugins))
            })
            .cloned()
            .collect();
        for uid in movable {
            self.push_backoff_or_active(&uid, now);
        }
    }

    /// Moves pods whose backoff expired to active, and pods unschedulable
    /// for too long to backoff or active.
    pub fn flush(&mut self, now: Instant) {
        while let Some(Reverse((expiry, generation, uid))) = self.backoff.peek().cloned() {
            if expiry > now {
                break;
            }
            self.backoff.pop();
            if self
                .entries
                .get(&uid)
                .is_some_and(|e| e.place == Place::Backoff && e.generation == generation)
            {
                self.push_active(&uid, now);
            }
        }
        if self
            .last_leftover_flush
            .is_some_and(|t| now.saturating_duration_since(t) < LEFTOVER_FLUSH_INTERVAL)
        {
            return;
        }
        self.last_leftover_flush = Some(now);
        let stale: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|uid| {
                self.entries.get(*uid).is_some_and(|e| {
                    e.failed_at
                        .is_some_and(|t| now.duration_since(t) > MAX_UNSCHEDULABLE_DURATION)
                })
            })
            .cloned()
            .collect();
        for uid in stale {
            self.push_backoff_or_active(&uid, now);
        }
    }

    /// When the next backoff expires, if any.
    pub fn next_backoff_expiry(&self) -> Option<Instant> {
        self.backoff.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Whether a pod is ready to pop.
    pub fn has_active(&self) -> bool {
        !self.active.is_empty()
    }

    // --- nominator ---

    fn update_nomination(&mut self, info: &Arc<PodInfo>) {
        // The pod's status carries the nomination; keep ours in step.
        if info.nominated_node_name.is_empty() {
            // A nomination we made and the watch has not shown yet stays.
            if let Some(node) = self.nominated_node.get(&info.uid).cloned() {
                self.nominate(info.clone(), &node);
            }
            return;
        }
        self.nominate(info.clone(), &info.nominated_node_name.clone());
    }

    /// Records that `info` is nominated to `node` (preemption made room).
    pub fn nominate(&mut self, info: Arc<PodInfo>, node: &str) {
        self.remove_nomination(&info.uid);
        self.nominated_node
            .insert(info.uid.clone(), node.to_string());
        self.nominated
            .entry(node.to_string())
            .or_default()
            .push(info);
    }

    /// Drops a pod's nomination.
    pub fn remove_nomination(&mut self, uid: &str) {
        if let Some(node) = self.nominated_node.remove(uid)
            && let Some(list) = self.nominated.get_mut(&node)
        {
            list.retain(|p| p.uid != uid);
            if list.is_empty() {
                self.nominated.remove(&node);
            }
        }
    }

    /// Pods nominated to `node`.
    pub fn nominated_pods(&self, node: &str) -> &[Arc<PodInfo>] {
        self.nominated.get(node).map_or(&[], Vec::as_slice)
    }

    /// Whether any pod is nominated anywhere (fast path for filtering).
    pub fn has_nominations(&self) -> bool {
        !self.nominated.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::pod;

    fn info(name: &str, priority: i32) -> Arc<PodInfo> {
        let mut p = pod(name, &[&[]]);
        p.spec.get_or_insert_default().priority = Some(priority);
        Arc::new(PodInfo::new(p))
    }

    fn queue() -> SchedulingQueue {
        SchedulingQueue::new(Duration::from_secs(1), Duration::from_secs(10))
    }

    #[test]
    fn pops_by_priority_then_age() {
        let mut q = queue();
        let t = Instant::now();
        q.add_or_update(info("low", 0), t);
        q.add_or_update(info("old-high", 10), t + Duration::from_millis(1));
        q.add_or_update(info("new-high", 10), t + Duration::from_millis(2));
        let order: Vec<String> = std::iter::from_fn(|| q.pop())
            .map(|p| p.info.name.clone())
            .collect();
        assert_eq!(order, vec!["old-high", "new-high", "low"]);
    }

    #[test]
    fn backoff_doubles_up_to_the_max() {
        let q = queue();
        let got: Vec<u64> = (1..=6).map(|a| q.backoff_duration(a).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn unschedulable_waits_for_an_event_then_backs_off() {
        let mut q = queue();
        let t = Instant::now();
        q.add_or_update(info("p", 0), t);
        let qp = q.pop().unwrap_or_else(|| panic!("no pod"));
        q.add_unschedulable(&qp, vec![crate::plugins::node_resources_fit::NAME], t);
        q.flush(t + Duration::from_secs(60));
        assert!(q.pop().is_none(), "no event: stays unschedulable");
        // An event that cannot help (pod relabelled) leaves it.
        q.on_cluster_event(ClusterEvent::AssignedPodChange, t + Duration::from_secs(60));
        assert!(q.pop().is_none());
        // A pod deletion frees resources: backoff expired long ago → active.
        q.on_cluster_event(ClusterEvent::AssignedPodDelete, t + Duration::from_secs(60));
        assert!(q.pop().is_some());
    }

    #[test]
    fn event_during_the_cycle_sends_to_backoff() {
        let mut q = queue();
        let t = Instant::now();
        q.add_or_update(info("p", 0), t);
        let qp = q.pop().unwrap_or_else(|| panic!("no pod"));
        q.on_cluster_event(ClusterEvent::NodeChange, t);
        q.add_unschedulable(&qp, vec![crate::plugins::node_resources_fit::NAME], t);
        assert!(q.pop().is_none(), "in backoff for 1 s");
        assert_eq!(q.next_backoff_expiry(), Some(t + Duration::from_secs(1)));
        q.flush(t + Duration::from_secs(1));
        assert!(q.pop().is_some());
    }

    #[test]
    fn leftover_unschedulable_pods_are_flushed() {
        let mut q = queue();
        let t = Instant::now();
        q.add_or_update(info("p", 0), t);
        let qp = q.pop().unwrap_or_else(|| panic!("no pod"));
        q.add_unschedulable(&qp, vec!["NodeAffinity"], t);
        q.flush(t + MAX_UNSCHEDULABLE_DURATION + Duration::from_secs(1));
        assert!(q.pop().is_some());
    }

    #[test]
    fn deleted_pods_never_pop() {
        let mut q = queue();
        let t = Instant::now();
        q.add_or_update(info("p", 0), t);
        q.delete("uid-p");
        assert!(q.pop().is_none());
        assert!(q.is_empty());
    }

    #[test]
    fn spec_update_wakes_an_unschedulable_pod() {
        let mut q = queue();
        let t = Instant::now();
        q.add_or_update(info("p", 0), t);
        let qp = q.pop().unwrap_or_else(|| panic!("no pod"));
        q.add_unschedulable(&qp, vec!["NodeAffinity"], t);
        // Same spec (our own status write coming back): stays.
        q.add_or_update(info("p", 0), t + Duration::from_secs(20));
        assert!(q.pop().is_none());
        let mut changed = pod("p", &[&[]]);
        changed.metadata.labels = Some([("a".to_string(), "b".to_string())].into());
        q.add_or_update(Arc::new(PodInfo::new(changed)), t + Duration::from_secs(20));
        assert!(q.pop().is_some());
    }
}
