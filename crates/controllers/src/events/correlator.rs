//! client-go's `EventCorrelator` (`tools/record/events_cache.go`), which
//! every kube-controller-manager recorder runs before it writes an Event:
//!
//! - spam filter: a source may write 25 events about one object at once,
//!   then one more per 5 minutes (a token bucket per source and object);
//! - aggregation: when one source reports the same reason about one object
//!   with 10 different messages within 10 minutes, the next ones become a
//!   single event "(combined from similar events): <message>";
//! - deduplication: an event seen before (same object, reason and message,
//!   or the same aggregate) bumps `count` of the existing Event instead of
//!   writing a new one.
//!
//! Without it a ReplicaSet of 300 replicas wrote 300 `SuccessfulCreate`
//! Events, each kept by the API server's watch cache and the garbage
//! collector's graph for an hour: as much memory per pod as a quarter of
//! the pod itself. Pure logic: the caller does the API writes.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Event;

/// Entries each cache keeps (`maxLruCacheEntries`).
const CACHE_ENTRIES: usize = 4096;
/// Distinct messages that make a group aggregate (`defaultAggregateMaxEvents`).
const AGGREGATE_MAX_EVENTS: usize = 10;
/// A group older than this starts over (`defaultAggregateIntervalInSeconds`).
const AGGREGATE_INTERVAL: Duration = Duration::from_secs(600);
/// Events a source may write about an object at once (`defaultSpamBurst`).
const SPAM_BURST: f64 = 25.0;
/// Then one event per this long (`defaultSpamQPS`, 1/300).
const SPAM_REFILL: Duration = Duration::from_secs(300);
/// The message prefix of an aggregate event (`EventAggregatorByReasonMessageFunc`).
pub const AGGREGATE_PREFIX: &str = "(combined from similar events): ";

/// What to write for one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Rate-limited: write nothing.
    Skip,
    /// Create `event` (count 1), then [`Correlator::created`] with its key.
    Create { event: Event, key: String },
    /// The event occurred before as the Event named `name`: set its count,
    /// last timestamp and message (a strategic merge patch upstream).
    Update {
        event: Event,
        name: String,
        key: String,
    },
}

/// A small least-recently-used map (groupcache's `lru.Cache` upstream).
struct Lru<V> {
    entries: HashMap<String, (u64, V)>,
    tick: u64,
}

impl<V> Lru<V> {
    fn new() -> Self {
        Self {
            entries: HashMap::new(),
            tick: 0,
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(key).map(|(t, v)| {
            *t = tick;
            v
        })
    }

    /// The value of `key`, made with `make` when absent.
    fn get_or_insert_with(&mut self, key: String, make: impl FnOnce() -> V) -> &mut V {
        if !self.entries.contains_key(&key) && self.entries.len() >= CACHE_ENTRIES {
            // Evict the least recently used eighth at once, so a full cache
            // does not scan itself on every insert.
            let mut ticks: Vec<u64> = self.entries.values().map(|(t, _)| *t).collect();
            let cut = CACHE_ENTRIES / 8;
            ticks.select_nth_unstable(cut);
            let oldest_kept = ticks[cut];
            self.entries.retain(|_, (t, _)| *t >= oldest_kept);
        }
        self.tick += 1;
        let tick = self.tick;
        let (t, v) = self.entries.entry(key).or_insert_with(|| (tick, make()));
        *t = tick;
        v
    }

    fn insert(&mut self, key: String, value: V) {
        if let Some(slot) = self.get_mut(&key) {
            *slot = value;
            return;
        }
        self.get_or_insert_with(key, || value);
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Group {
    messages: HashSet<String>,
    last: Instant,
}

struct Observed {
    count: i32,
    name: String,
}

/// The correlator of one recorder (one controller).
pub struct Correlator {
    spam: Lru<Bucket>,
    groups: Lru<Group>,
    seen: Lru<Observed>,
}

impl Default for Correlator {
    fn default() -> Self {
        Self {
            spam: Lru::new(),
            groups: Lru::new(),
            seen: Lru::new(),
        }
    }
}

fn str_of(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// Source and involved object (`getSpamKey`).
fn spam_key(e: &Event) -> String {
    let o = &e.involved_object;
    let source = e.source.as_ref();
    [
        source.and_then(|s| s.component.as_deref()).unwrap_or(""),
        source.and_then(|s| s.host.as_deref()).unwrap_or(""),
        str_of(&o.kind),
        str_of(&o.namespace),
        str_of(&o.name),
        str_of(&o.uid),
        str_of(&o.api_version),
    ]
    .join("\u{0}")
}

/// The spam key plus type, reason and reporter (`EventAggregatorByReasonFunc`).
fn aggregate_key(e: &Event) -> String {
    [
        spam_key(e).as_str(),
        str_of(&e.type_),
        str_of(&e.reason),
        str_of(&e.reporting_component),
        str_of(&e.reporting_instance),
    ]
    .join("\u{0}")
}

/// Everything that makes an event the same occurrence (`getEventKey`).
fn event_key(e: &Event) -> String {
    let o = &e.involved_object;
    [
        spam_key(e).as_str(),
        str_of(&o.field_path),
        str_of(&e.type_),
        str_of(&e.reason),
        str_of(&e.message),
    ]
    .join("\u{0}")
}

impl Correlator {
    /// Decides what to write for `event` (a fresh Event with count 1, a
    /// name, and first and last timestamps), at `now`.
    pub fn correlate(&mut self, mut event: Event, now: Instant) -> Outcome {
        if !self.allow(&event, now) {
            return Outcome::Skip;
        }
        let key = self.aggregate(&mut event, now);
        match self.seen.get_mut(&key) {
            Some(seen) => {
                seen.count += 1;
                event.count = Some(seen.count);
                let name = seen.name.clone();
                event.metadata.name = Some(name.clone());
                Outcome::Update { event, name, key }
            }
            None => Outcome::Create { event, key },
        }
    }

    /// Remembers the Event written for `key` (as created, or updated after
    /// its previous one had gone), so later occurrences update it.
    pub fn created(&mut self, key: String, event: &Event) {
        self.seen.insert(
            key,
            Observed {
                count: event.count.unwrap_or(1),
                name: event.metadata.name.clone().unwrap_or_default(),
            },
        );
    }

    /// The spam filter's token bucket (`EventSourceObjectSpamFilter.Filter`).
    fn allow(&mut self, event: &Event, now: Instant) -> bool {
        let rate = 1.0 / SPAM_REFILL.as_secs_f64();
        let bucket = self.spam.get_or_insert_with(spam_key(event), || Bucket {
            tokens: SPAM_BURST,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(SPAM_BURST);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// `EventAggregator.EventAggregate`: the key the event is deduplicated
    /// by; turns `event` into the aggregate event once its group has seen
    /// enough different messages.
    fn aggregate(&mut self, event: &mut Event, now: Instant) -> String {
        let group_key = aggregate_key(event);
        let message = str_of(&event.message).to_string();
        let fresh = |group: &Group| now.saturating_duration_since(group.last) <= AGGREGATE_INTERVAL;
        let distinct = match self.groups.get_mut(&group_key).filter(|g| fresh(g)) {
            Some(group) => {
                group.messages.insert(message);
                group.last = now;
                let n = group.messages.len();
                if n >= AGGREGATE_MAX_EVENTS {
                    // Upstream drops one message so the set stops growing.
                    if let Some(any) = group.messages.iter().next().cloned() {
                        group.messages.remove(&any);
                    }
                }
                n
            }
            None => {
                self.groups.insert(
                    group_key.clone(),
                    Group {
                        messages: HashSet::from([message]),
                        last: now,
                    },
                );
                1
            }
        };
        if distinct < AGGREGATE_MAX_EVENTS {
            return event_key(event);
        }
        event.message = Some(format!("{AGGREGATE_PREFIX}{}", str_of(&event.message)));
        group_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EventSource, ObjectReference};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn event(object: &str, reason: &str, message: &str) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{object}.{message}")),
                namespace: Some("default".into()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: Some("ReplicaSet".into()),
                namespace: Some("default".into()),
                name: Some(object.into()),
                uid: Some(format!("uid-{object}")),
                api_version: Some("apps/v1".into()),
                ..Default::default()
            },
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some("Normal".into()),
            count: Some(1),
            source: Some(EventSource {
                component: Some("replicaset-controller".into()),
                host: None,
            }),
            reporting_component: Some("replicaset-controller".into()),
            reporting_instance: Some(String::new()),
            ..Default::default()
        }
    }

    /// Feeds the events through the correlator as the recorder does and
    /// returns what was written: (name, count, message) per write.
    fn run(c: &mut Correlator, events: Vec<Event>, now: Instant) -> Vec<(String, i32, String)> {
        let mut writes = Vec::new();
        for e in events {
            match c.correlate(e, now) {
                Outcome::Skip => {}
                Outcome::Create { event, key } => {
                    c.created(key, &event);
                    writes.push((
                        event.metadata.name.clone().unwrap_or_default(),
                        event.count.unwrap_or(0),
                        event.message.clone().unwrap_or_default(),
                    ));
                }
                Outcome::Update { event, name, .. } => writes.push((
                    name,
                    event.count.unwrap_or(0),
                    event.message.clone().unwrap_or_default(),
                )),
            }
        }
        writes
    }

    #[test]
    fn similar_events_aggregate_after_ten_messages_and_spam_stops_at_25() {
        let mut c = Correlator::default();
        let now = Instant::now();
        let events = (0..300)
            .map(|i| event("web", "SuccessfulCreate", &format!("Created pod: web-{i}")))
            .collect();
        let writes = run(&mut c, events, now);
        // 25 pass the spam filter: nine events of their own, then the
        // aggregate, created once and counted up 15 more times.
        assert_eq!(writes.len(), 25);
        let distinct: HashSet<&str> = writes.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(distinct.len(), 10);
        assert!(
            writes[..9]
                .iter()
                .all(|w| w.1 == 1 && !w.2.starts_with('('))
        );
        let (name, count, message) = &writes[24];
        assert_eq!(name, &writes[9].0);
        assert_eq!(*count, 16);
        assert_eq!(message, &format!("{AGGREGATE_PREFIX}Created pod: web-24"));
    }

    #[test]
    fn the_same_event_counts_up_one_event() {
        let mut c = Correlator::default();
        let now = Instant::now();
        let events = (0..3)
            .map(|_| event("web", "FailedCreate", "quota exceeded"))
            .collect();
        let writes = run(&mut c, events, now);
        assert_eq!(
            writes
                .iter()
                .map(|w| (w.0.as_str(), w.1))
                .collect::<Vec<_>>(),
            vec![
                ("web.quota exceeded", 1),
                ("web.quota exceeded", 2),
                ("web.quota exceeded", 3)
            ]
        );
    }

    #[test]
    fn spam_budget_is_per_object_and_refills() {
        let mut c = Correlator::default();
        let t0 = Instant::now();
        let burst = |obj: &str, n: usize| -> Vec<Event> {
            (0..n)
                .map(|i| event(obj, &format!("Reason{i}"), "m"))
                .collect()
        };
        assert_eq!(run(&mut c, burst("a", 30), t0).len(), 25);
        // Another object has its own budget.
        assert_eq!(run(&mut c, burst("b", 3), t0).len(), 3);
        // One more event per five minutes.
        assert_eq!(run(&mut c, burst("a", 3), t0 + SPAM_REFILL).len(), 1);
    }

    #[test]
    fn aggregation_starts_over_after_ten_minutes() {
        let mut c = Correlator::default();
        let t0 = Instant::now();
        let batch = |from: usize| -> Vec<Event> {
            (from..from + 9)
                .map(|i| event("web", "SuccessfulCreate", &format!("Created pod: web-{i}")))
                .collect()
        };
        run(&mut c, batch(0), t0);
        // Within the interval the tenth message aggregates; after it, a
        // group starts afresh (and the spam budget has refilled enough).
        let later = t0 + AGGREGATE_INTERVAL + Duration::from_secs(1);
        let writes = run(&mut c, batch(9).into_iter().take(1).collect(), later);
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].2, "Created pod: web-9");
    }
}
