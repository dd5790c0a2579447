//! The scheduler's writes to the API server besides binding: pod status
//! (`PodScheduled` condition, `nominatedNodeName`, victims'
//! `DisruptionTarget`), victim deletion, and core/v1 Events
//! (`Scheduled`, `FailedScheduling`, `Preempted`) reported by
//! `default-scheduler`.
//!
//! Writes go through a channel to a few concurrent workers, so the
//! scheduling loop never waits on them; a failed write is logged, as
//! upstream's event recorder and status updater do (the next attempt
//! writes again). Does not own: deciding what to write.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
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
    /// An Event about a pod.
    Event {
        pod: Arc<PodInfo>,
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

/// Sends writes to the workers.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Write>,
}

impl Recorder {
    /// Starts the workers; they stop when every `Recorder` is dropped.
    pub fn start(client: Client) -> Recorder {
        let (tx, rx) = mpsc::unbounded_channel::<Write>();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "skiff".to_string());
        let instance: Arc<str> = format!("{COMPONENT}-{host}").into();
        tokio::spawn(async move {
            tokio_stream_from(rx)
                .for_each_concurrent(CONCURRENT_WRITES, |w| {
                    let client = client.clone();
                    let instance = instance.clone();
                    async move { perform(client, &instance, w).await }
                })
                .await;
        });
        Recorder { tx }
    }

    pub fn send(&self, w: Write) {
        // The workers outlive the scheduling loop; a send fails only at shutdown.
        let _ = self.tx.send(w);
    }
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

async fn perform(client: Client, instance: &str, w: Write) {
    match w {
        Write::Event {
            pod,
            type_,
            reason,
            action,
            message,
        } => {
            let t = now();
            let nanos = t.0.as_nanosecond();
            let event = Event {
                metadata: ObjectMeta {
                    // record.EventRecorder: <object>.<unix nanos in hex>
                    name: Some(format!("{}.{:x}", pod.name, nanos)),
                    namespace: Some(pod.namespace.clone()),
                    ..Default::default()
                },
                involved_object: ObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: Some(pod.name.clone()),
                    namespace: Some(pod.namespace.clone()),
                    uid: Some(pod.uid.clone()),
                    resource_version: pod.pod.metadata.resource_version.clone(),
                    ..Default::default()
                },
                reason: Some(reason.into()),
                message: Some(message),
                type_: Some(type_.into()),
                action: Some(action.into()),
                source: Some(EventSource {
                    component: Some(COMPONENT.into()),
                    host: None,
                }),
                reporting_component: Some(COMPONENT.into()),
                reporting_instance: Some(instance.to_string()),
                first_timestamp: Some(t.clone()),
                last_timestamp: Some(t.clone()),
                event_time: Some(MicroTime(t.0)),
                count: Some(1),
                ..Default::default()
            };
            let api: Api<Event> = Api::namespaced(client, &pod.namespace);
            if let Err(e) = api.create(&PostParams::default(), &event).await {
                tracing::debug!(pod = %pod.key(), error = %e, "failed to write event");
            }
        }
        Write::Unschedulable {
            pod,
            reason,
            message,
            nominated_node,
        } => {
            let current = pod
                .pod
                .status
                .as_ref()
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
                    Box::pin(perform(
                        client,
                        instance,
                        Write::Event {
                            pod: victim.clone(),
                            type_: "Normal",
                            reason: "Preempted",
                            action: "Preempting",
                            message: format!("Preempted by pod {} on node {node}", preemptor.uid),
                        },
                    ))
                    .await;
                }
                Err(e) => {
                    tracing::warn!(pod = %victim.key(), error = %e, "failed to delete preemption victim");
                }
            }
        }
    }
}
