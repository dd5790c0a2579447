//! The scheduler's writes to the API server besides binding: pod status
//! (`PodScheduled` condition, `nominatedNodeName`, victims'
//! `DisruptionTarget`), victim deletion, and Events (`Scheduled`,
//! `FailedScheduling`, `Preempted`) reported by `default-scheduler`.
//!
//! Events are aggregated as kube-scheduler's `events.k8s.io/v1` recorder
//! (client-go `tools/events`) does, so a pod that fails to schedule a
//! thousand times writes one Event, not a thousand: see [`EventCache`].
//! They are written in the form kube-apiserver stores such an Event in (the
//! core/v1 object: `involvedObject`, `message`, `eventTime`, `series`,
//! `reportingComponent`, no `count` or `firstTimestamp`), which is also what
//! `kubectl describe` and `kubectl get events` read.
//!
//! Writes go through a channel to a few concurrent workers, so the
//! scheduling loop never waits on them; a failed write is logged, as
//! upstream's status updater does (the next attempt writes again). Does not
//! own: deciding what to write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, EventSeries, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::mpsc;

use crate::pod_info::PodInfo;

/// The component name in events.
pub const COMPONENT: &str = "default-scheduler";

/// How many writes run at once.
const CONCURRENT_WRITES: usize = 8;

/// One write.
#[derive(Debug)]
pub enum Write {
    /// An Event about a pod (`regarding`), optionally naming a `related`
    /// pod, as `EventRecorder.Eventf(regarding, related, ...)`.
    Event {
        pod: Arc<PodInfo>,
        related: Option<Arc<PodInfo>>,
        type_: &'static str,
        reason: &'static str,
        action: &'static str,
        message: String,
    },
    /// `PodScheduled=False` with the reason and message; sets or clears
    /// `nominatedNodeName` when given.
    Unschedulable {
        pod: Arc<PodInfo>,
        reason: &'static str,
        message: String,
        nominated_node: Option<String>,
    },
    /// Clears a lower-priority pod's nomination.
    ClearNomination { pod: Arc<PodInfo> },
    /// Marks a victim `DisruptionTarget` and deletes it.
    Evict {
        victim: Arc<PodInfo>,
        preemptor: Arc<PodInfo>,
        node: String,
    },
}

/// client-go `tools/events`: a series that saw no new occurrence for this
/// long is finished (its final count written, then forgotten); a singleton
/// Event is forgotten this long after it happened.
pub const FINISH_TIME: Duration = Duration::from_secs(6 * 60);
/// client-go `tools/events`: how often the count of every open series is
/// written, so a long series stays visible while it lasts.
pub const REFRESH_TIME: Duration = Duration::from_secs(30 * 60);

/// What makes two Events the same occurrence repeated (client-go 1.33
/// `getKey`): type, action, reason and the objects, the `regarding` one with
/// its `resourceVersion`. The message is not part of it: a repeat keeps the
/// first message. (Reporting controller and instance are the same for every
/// Event of this recorder.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventKey {
    pub type_: &'static str,
    pub action: &'static str,
    pub reason: &'static str,
    pub regarding: ObjectRef,
    pub related: Option<ObjectRef>,
}

/// The fields of an `ObjectReference` to a pod.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
}

impl ObjectRef {
    pub fn pod(pod: &PodInfo) -> ObjectRef {
        ObjectRef {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            uid: pod.uid.clone(),
            resource_version: pod.resource_version.clone(),
        }
    }

    fn object_reference(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(self.name.clone()),
            namespace: Some(self.namespace.clone()),
            uid: Some(self.uid.clone()),
            resource_version: Some(self.resource_version.clone()).filter(|v| !v.is_empty()),
            ..Default::default()
        }
    }
}

/// `EventSeries`: how often the occurrence was seen and when last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Series {
    pub count: i32,
    pub last_observed: Timestamp,
}

/// One Event as remembered between occurrences: enough to write it again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cached {
    name: String,
    message: String,
    event_time: Timestamp,
    series: Option<Series>,
}

/// An Event to write: created when it has no series, else its series
/// patched (and created when the patch finds it gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: EventKey,
    pub name: String,
    pub message: String,
    pub event_time: Timestamp,
    pub series: Option<Series>,
}

/// The aggregation of client-go's `events.k8s.io/v1` broadcaster, as pure
/// bookkeeping (the caller passes the time and writes what comes back).
///
/// The first occurrence of a key is created as an Event. The second gives
/// that Event `series.count: 2`. Further occurrences only count in memory;
/// the count reaches the API server when the series is refreshed (every
/// [`REFRESH_TIME`]) or finished (no occurrence for [`FINISH_TIME`]).
#[derive(Debug, Default)]
pub struct EventCache {
    events: HashMap<EventKey, Cached>,
}

impl EventCache {
    /// `recordToSink`: records one occurrence; returns what to write, if
    /// anything.
    pub fn observe(&mut self, key: EventKey, message: String, now: Timestamp) -> Option<Record> {
        if let Some(cached) = self.events.get_mut(&key) {
            let first_repeat = cached.series.is_none();
            let series = cached.series.get_or_insert(Series {
                count: 1,
                last_observed: now,
            });
            series.count += 1;
            series.last_observed = now;
            return first_repeat.then(|| record(&key, cached));
        }
        let cached = Cached {
            // record.EventRecorder and events.EventRecorder name events
            // <object>.<unix nanos in hex>.
            name: format!("{}.{:x}", key.regarding.name, now.as_nanosecond()),
            message,
            event_time: now,
            series: None,
        };
        let out = record(&key, &cached);
        self.events.insert(key, cached);
        Some(out)
    }

    /// `finishSeries`: series idle for [`FINISH_TIME`] are returned for a
    /// last write of their count and forgotten; singletons that old are
    /// forgotten.
    pub fn finish(&mut self, now: Timestamp) -> Vec<Record> {
        let cutoff = now - SignedDuration::try_from(FINISH_TIME).unwrap_or(SignedDuration::ZERO);
        let mut out = Vec::new();
        self.events.retain(|key, cached| {
            let last = cached.series.map_or(cached.event_time, |s| s.last_observed);
            if last >= cutoff {
                return true;
            }
            if cached.series.is_some() {
                out.push(record(key, cached));
            }
            false
        });
        out
    }

    /// `refreshExistingEventSeries`: every open series, to write its count.
    pub fn refresh(&self) -> Vec<Record> {
        self.events
            .iter()
            .filter(|(_, c)| c.series.is_some())
            .map(|(k, c)| record(k, c))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

fn record(key: &EventKey, cached: &Cached) -> Record {
    Record {
        key: key.clone(),
        name: cached.name.clone(),
        message: cached.message.clone(),
        event_time: cached.event_time,
        series: cached.series,
    }
}

impl Record {
    /// The Event as kube-apiserver stores one written through
    /// `events.k8s.io/v1` (its core/v1 form).
    pub fn to_event(&self, instance: &str) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.key.regarding.namespace.clone()),
                ..Default::default()
            },
            involved_object: self.key.regarding.object_reference(),
            related: self.key.related.as_ref().map(ObjectRef::object_reference),
            reason: Some(self.key.reason.into()),
            message: Some(self.message.clone()),
            type_: Some(self.key.type_.into()),
            action: Some(self.key.action.into()),
            reporting_component: Some(COMPONENT.into()),
            reporting_instance: Some(instance.to_string()),
            event_time: Some(MicroTime(self.event_time)),
            series: self.series.map(series_of),
            ..Default::default()
        }
    }
}

fn series_of(s: Series) -> EventSeries {
    EventSeries {
        count: Some(s.count),
        last_observed_time: Some(MicroTime(s.last_observed)),
    }
}

/// Sends writes to the workers.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Job>,
    events: Arc<Mutex<EventCache>>,
}

/// What the workers do.
enum Job {
    Write(Write),
    // Boxed: a Record is four times the size of a Write.
    Event(Box<Record>),
}

impl Recorder {
    /// Starts the workers and the series timers; they stop when every
    /// `Recorder` is dropped.
    pub fn start(client: Client) -> Recorder {
        let (tx, rx) = mpsc::unbounded_channel::<Job>();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "skiff".to_string());
        let instance: Arc<str> = format!("{COMPONENT}-{host}").into();
        let events = Arc::new(Mutex::new(EventCache::default()));
        let recorder = Recorder {
            tx: tx.clone(),
            events: events.clone(),
        };
        // The workers hold no sender, so the channel closes (and they stop)
        // with the last Recorder.
        let worker_events = events.clone();
        tokio::spawn(async move {
            tokio_stream_from(rx)
                .for_each_concurrent(CONCURRENT_WRITES, |job| {
                    let client = client.clone();
                    let instance = instance.clone();
                    let events = worker_events.clone();
                    async move {
                        match job {
                            Job::Write(w) => perform(client, &instance, &events, w).await,
                            Job::Event(r) => write_event(client, &instance, *r).await,
                        }
                    }
                })
                .await;
        });
        // The timers hold only a weak link, so dropping the last Recorder
        // still ends everything.
        let weak_tx = tx.downgrade();
        let weak_events = Arc::downgrade(&events);
        tokio::spawn(async move {
            let mut finish = tokio::time::interval(FINISH_TIME);
            let mut refresh = tokio::time::interval(REFRESH_TIME);
            // Both fire at once at the start; nothing is due then.
            finish.tick().await;
            refresh.tick().await;
            loop {
                let finishing = tokio::select! {
                    _ = finish.tick() => true,
                    _ = refresh.tick() => false,
                };
                let (Some(tx), Some(events)) = (weak_tx.upgrade(), weak_events.upgrade()) else {
                    return;
                };
                let due = {
                    let mut cache = events.lock().unwrap_or_else(|e| e.into_inner());
                    if finishing {
                        cache.finish(Timestamp::now())
                    } else {
                        cache.refresh()
                    }
                };
                for r in due {
                    let _ = tx.send(Job::Event(Box::new(r)));
                }
            }
        });
        recorder
    }

    pub fn send(&self, w: Write) {
        let job = match w {
            Write::Event {
                pod,
                related,
                type_,
                reason,
                action,
                message,
            } => {
                let key = EventKey {
                    type_,
                    action,
                    reason,
                    regarding: ObjectRef::pod(&pod),
                    related: related.as_deref().map(ObjectRef::pod),
                };
                match observe(&self.events, key, message) {
                    Some(r) => Job::Event(Box::new(r)),
                    None => return,
                }
            }
            w => Job::Write(w),
        };
        // The workers outlive the scheduling loop; a send fails only at shutdown.
        let _ = self.tx.send(job);
    }
}

fn observe(events: &Mutex<EventCache>, key: EventKey, message: String) -> Option<Record> {
    // A poisoned lock only means another thread panicked while counting;
    // the counts are still usable.
    let mut cache = events.lock().unwrap_or_else(|e| e.into_inner());
    cache.observe(key, message, Timestamp::now())
}

/// `recordEvent`: patches the series of an Event already written (creating
/// it if it is gone), else creates it.
async fn write_event(client: Client, instance: &str, r: Record) {
    let api: Api<Event> = Api::namespaced(client, &r.key.regarding.namespace);
    if let Some(series) = r.series {
        let patch = json!({ "series": series_of(series) });
        match api
            .patch(&r.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return,
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                tracing::debug!(event = %r.name, error = %e, "failed to update event series");
                return;
            }
        }
    }
    if let Err(e) = create_event(api.into_client(), &r.to_event(instance)).await {
        tracing::debug!(event = %r.name, error = %e, "failed to write event");
    }
}

/// POSTs an Event without decoding the Event the server answers with:
/// nothing reads it, and one Event goes out per bound pod.
async fn create_event(client: Client, event: &Event) -> kube::Result<()> {
    let namespace = event.metadata.namespace.as_deref().unwrap_or_default();
    let body = serde_json::to_vec(event).map_err(kube::Error::SerdeError)?;
    let req = kube::core::Request::new(format!("/api/v1/namespaces/{namespace}/events"))
        .create(&PostParams::default(), body)
        .map_err(kube::Error::BuildRequest)?;
    client.request_text(req).await.map(drop)
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

async fn perform(client: Client, instance: &str, events: &Mutex<EventCache>, w: Write) {
    match w {
        // Events are aggregated in `Recorder::send` and never reach here.
        Write::Event { .. } => {}
        Write::Unschedulable {
            pod,
            reason,
            message,
            nominated_node,
        } => {
            let current = pod
                .pod
                .as_ref()
                .and_then(|p| p.status.as_ref())
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
            let same_condition = current.is_some_and(|c| {
                c.status == "False"
                    && c.reason.as_deref() == Some(reason)
                    && c.message.as_deref() == Some(message.as_str())
            });
            let same_nomination = nominated_node
                .as_ref()
                .is_none_or(|n| *n == pod.nominated_node_name);
            if same_condition && same_nomination {
                return;
            }
            // Keep lastTransitionTime when the status does not change.
            let transition = match current {
                Some(c) if c.status == "False" => {
                    c.last_transition_time.clone().unwrap_or_else(now)
                }
                _ => now(),
            };
            let mut status = json!({
                "conditions": [{
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": reason,
                    "message": message,
                    "lastProbeTime": null,
                    "lastTransitionTime": transition,
                }]
            });
            if let Some(node) = nominated_node {
                status["nominatedNodeName"] = if node.is_empty() {
                    json!(null)
                } else {
                    json!(node)
                };
            }
            let api: Api<Pod> = Api::namespaced(client, &pod.namespace);
            let patch = json!({ "status": status });
            if let Err(e) = api
                .patch_status(&pod.name, &PatchParams::default(), &Patch::Strategic(patch))
                .await
            {
                tracing::debug!(pod = %pod.key(), error = %e, "failed to update pod status");
            }
        }
        Write::ClearNomination { pod } => {
            let api: Api<Pod> = Api::namespaced(client, &pod.namespace);
            let patch = json!({ "status": { "nominatedNodeName": null } });
            if let Err(e) = api
                .patch_status(&pod.name, &PatchParams::default(), &Patch::Merge(patch))
                .await
            {
                tracing::debug!(pod = %pod.key(), error = %e, "failed to clear nominatedNodeName");
            }
        }
        Write::Evict {
            victim,
            preemptor,
            node,
        } => {
            let api: Api<Pod> = Api::namespaced(client.clone(), &victim.namespace);
            let patch = json!({ "status": { "conditions": [{
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "PreemptionByScheduler",
                "message": format!("{}: preempting to accommodate a higher priority pod", preemptor.scheduler_name),
                "lastTransitionTime": now(),
            }]}});
            if let Err(e) = api
                .patch_status(
                    &victim.name,
                    &PatchParams::default(),
                    &Patch::Strategic(patch),
                )
                .await
            {
                tracing::debug!(pod = %victim.key(), error = %e, "failed to mark preemption victim");
            }
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: Some(victim.uid.clone()),
                    resource_version: None,
                }),
                ..Default::default()
            };
            match api.delete(&victim.name, &dp).await {
                Ok(_) => {
                    let key = EventKey {
                        type_: "Normal",
                        action: "Preempting",
                        reason: "Preempted",
                        regarding: ObjectRef::pod(&victim),
                        related: Some(ObjectRef::pod(&preemptor)),
                    };
                    let message = format!("Preempted by pod {} on node {node}", preemptor.uid);
                    if let Some(r) = observe(events, key, message) {
                        write_event(client, instance, r).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(pod = %victim.key(), error = %e, "failed to delete preemption victim");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, rv: &str) -> EventKey {
        EventKey {
            type_: "Warning",
            action: "Scheduling",
            reason: "FailedScheduling",
            regarding: ObjectRef {
                namespace: "default".into(),
                name: name.into(),
                uid: format!("uid-{name}"),
                resource_version: rv.into(),
            },
            related: None,
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn repeats_become_one_series() {
        let mut cache = EventCache::default();
        let first = cache
            .observe(key("p", "7"), "0/3 nodes are available".into(), at(0))
            .expect("the first occurrence is written");
        assert_eq!(first.series, None);
        assert_eq!(first.name, format!("p.{:x}", at(0).as_nanosecond()));
        // The second gives the same Event a series of 2.
        let second = cache
            .observe(key("p", "7"), "another message".into(), at(1))
            .expect("the first repeat is written");
        assert_eq!(second.name, first.name);
        assert_eq!(second.message, "0/3 nodes are available");
        assert_eq!(
            second.series,
            Some(Series {
                count: 2,
                last_observed: at(1)
            })
        );
        // Then the count only grows in memory.
        for i in 2..1000 {
            assert_eq!(cache.observe(key("p", "7"), "m".into(), at(i)), None);
        }
        assert_eq!(cache.len(), 1);
        let refreshed = cache.refresh();
        assert_eq!(refreshed.len(), 1);
        assert_eq!(
            refreshed[0].series,
            Some(Series {
                count: 1000,
                last_observed: at(999)
            })
        );
        // Still going: nothing to finish yet.
        assert!(cache.finish(at(999 + 60)).is_empty());
        assert_eq!(cache.len(), 1);
        // Idle for longer than FINISH_TIME: the final count, then forgotten.
        let finished = cache.finish(at(999 + 361));
        assert_eq!(finished.len(), 1);
        assert_eq!(finished[0].series.map(|s| s.count), Some(1000));
        assert!(cache.is_empty());
        // A later occurrence starts a new Event.
        let again = cache
            .observe(key("p", "7"), "m".into(), at(2000))
            .expect("a new Event");
        assert_ne!(again.name, first.name);
        assert_eq!(again.series, None);
    }

    #[test]
    fn different_objects_or_reasons_are_different_events() {
        let mut cache = EventCache::default();
        assert!(cache.observe(key("p", "7"), "m".into(), at(0)).is_some());
        // Another resourceVersion of the pod (its status changed).
        let other_rv = cache.observe(key("p", "8"), "m".into(), at(1));
        assert_eq!(other_rv.and_then(|r| r.series), None);
        assert!(cache.observe(key("q", "7"), "m".into(), at(2)).is_some());
        let mut scheduled = key("p", "8");
        scheduled.type_ = "Normal";
        scheduled.reason = "Scheduled";
        scheduled.action = "Binding";
        assert!(cache.observe(scheduled, "m".into(), at(3)).is_some());
        let mut related = key("p", "8");
        related.related = Some(key("preemptor", "1").regarding);
        assert!(cache.observe(related, "m".into(), at(4)).is_some());
        assert_eq!(cache.len(), 5);
        assert!(cache.refresh().is_empty(), "no series yet");
    }

    #[test]
    fn singletons_are_forgotten_without_a_write() {
        let mut cache = EventCache::default();
        cache.observe(key("p", "1"), "m".into(), at(0));
        cache.observe(key("q", "1"), "m".into(), at(300));
        assert!(cache.finish(at(361)).is_empty());
        assert_eq!(cache.len(), 1, "only the older singleton is forgotten");
    }

    #[test]
    fn stored_form_of_an_events_k8s_io_event() {
        let mut cache = EventCache::default();
        let mut k = key("victim", "5");
        k.related = Some(key("preemptor", "9").regarding);
        let r = cache
            .observe(k.clone(), "Preempted by pod uid-preemptor".into(), at(0))
            .expect("written");
        let e = serde_json::to_value(r.to_event("default-scheduler-host"))
            .expect("an Event serializes");
        assert_eq!(e["involvedObject"]["name"], "victim");
        assert_eq!(e["involvedObject"]["resourceVersion"], "5");
        assert_eq!(e["related"]["name"], "preemptor");
        assert_eq!(e["message"], "Preempted by pod uid-preemptor");
        assert_eq!(e["reportingComponent"], "default-scheduler");
        assert_eq!(e["reportingInstance"], "default-scheduler-host");
        assert!(e["eventTime"].is_string());
        // The deprecated fields stay empty, as when written through events.k8s.io/v1.
        assert!(e.get("count").is_none() && e.get("firstTimestamp").is_none());
        assert!(e.get("series").is_none());
        let r = cache
            .observe(k, "m".into(), at(5))
            .expect("the first repeat");
        let e = serde_json::to_value(r.to_event("i")).expect("an Event serializes");
        assert_eq!(e["series"]["count"], 2);
        assert!(e["series"]["lastObservedTime"].is_string());
    }
}
