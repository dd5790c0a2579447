//! Event recording as kube-controller-manager's legacy event broadcaster does
//! it: a `core/v1` Event per occurrence, named `<object>.<hex nanoseconds>`,
//! with `source.component` set to the controller's name, after client-go's
//! correlator (spam filter, aggregation, counting; see [`correlator`]).
//! Failures to record are logged and otherwise ignored: an event is never
//! worth failing a sync.

mod correlator;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};

use correlator::{Correlator, Outcome};

/// `Normal` or `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// Records Events for one controller.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: &'static str,
    /// Shared by the clones, as client-go's broadcaster shares one
    /// correlator between the recorders it makes.
    correlator: Arc<Mutex<Correlator>>,
}

/// A reference to `obj` for `involvedObject`.
pub fn object_reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: Some(obj.name_any()),
        namespace: obj.namespace(),
        uid: obj.uid(),
        resource_version: obj.resource_version(),
        ..Default::default()
    }
}

impl Recorder {
    /// A recorder reporting as `component` (e.g. `deployment-controller`).
    pub fn new(client: Client, component: &'static str) -> Recorder {
        Recorder {
            client,
            component,
            correlator: Arc::default(),
        }
    }

    /// Records an event about `obj`.
    pub async fn record<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        message: String,
    ) {
        self.record_ref(object_reference(obj), type_, reason, message)
            .await
    }

    /// Records an event about the referenced object.
    pub async fn record_ref(
        &self,
        involved: ObjectReference,
        type_: EventType,
        reason: &str,
        message: String,
    ) {
        let namespace = involved
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into());
        let now = k8s_openapi::jiff::Timestamp::now();
        let name = format!(
            "{}.{:x}",
            involved.name.clone().unwrap_or_default(),
            now.as_nanosecond()
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: involved,
            reason: Some(reason.into()),
            message: Some(message),
            type_: Some(
                match type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: None::<MicroTime>,
            source: Some(EventSource {
                component: Some(self.component.into()),
                host: None,
            }),
            // client-go's recorder reports `source.component` and
            // `source.host` again, and controllers have no host: kubectl's
            // SOURCE column shows `replicaset-controller`, not the name twice.
            reporting_component: Some(self.component.into()),
            reporting_instance: Some(String::new()),
            ..Default::default()
        };
        let outcome = self.lock().correlate(event, Instant::now());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let (event, key) = match outcome {
            Outcome::Skip => return,
            Outcome::Create { event, key } => (event, key),
            Outcome::Update { event, name, key } => {
                // client-go patches count, lastTimestamp and message of the
                // existing Event; when it is gone (expired), it creates it anew
                // with the count.
                let patch = serde_json::json!({
                    "count": event.count,
                    "lastTimestamp": event.last_timestamp,
                    "message": event.message,
                });
                match api
                    .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
                    .await
                {
                    Ok(_) => return,
                    Err(e) if crate::is_not_found(&e) => (event, key),
                    Err(e) => {
                        tracing::debug!(error = %e, reason, "failed to update an event");
                        return;
                    }
                }
            }
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(created) => self.lock().created(key, &created),
            Err(e) => tracing::debug!(error = %e, reason, "failed to record an event"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Correlator> {
        self.correlator.lock().unwrap_or_else(|e| e.into_inner())
    }
}
