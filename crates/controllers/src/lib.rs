//! skiff's controllers: the control loops of kube-controller-manager, written as
//! clients of the Kubernetes API through `kube` (reflectors, watchers and
//! `kube::runtime::Controller`). Nothing here touches the store.
//!
//! [`run`] takes the `kube-system/skiff-controller-manager` Lease and, while it
//! holds it, runs every controller as its own supervised task: a controller
//! that fails or panics is restarted with back-off and never stops the others.

pub mod controller_utils;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod discovery;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod endpointslice_mirroring;
pub mod events;
pub mod garbage_collector;
pub mod history;
pub mod informer;
pub mod job;
pub mod leader_election;
pub mod namespace;
pub mod node_lifecycle;
pub mod pod_gc;
pub mod replicaset;
pub mod resource_quota;
pub mod serviceaccount;
pub mod statefulset;
pub mod taint_eviction;
pub mod ttl_after_finished;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use kube::Client;

use crate::informer::Informers;

/// Errors of the controllers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the API server failed.
    #[error("failed to {action}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    /// API discovery failed.
    #[error("failed to discover the API resources")]
    Discovery(#[source] kube::Error),
    /// A watch stream ended with an error.
    #[error("watch of {resource} failed")]
    Watch {
        resource: String,
        #[source]
        source: kube::runtime::watcher::Error,
    },
    /// An object cannot be acted on (reported as a Warning Event too).
    #[error("{0}")]
    Invalid(String),
}

/// Result of the controllers.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches what was being done to a `kube` error.
pub(crate) trait ApiContext<T> {
    fn ctx(self, action: impl FnOnce() -> String) -> Result<T>;
}

impl<T> ApiContext<T> for std::result::Result<T, kube::Error> {
    fn ctx(self, action: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Api {
            action: action(),
            source,
        })
    }
}

/// True when the error is the API server's 404.
pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// True when the error is the API server's 409.
pub(crate) fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// True when the error is the API server's 409 AlreadyExists.
pub(crate) fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists")
}

type ControllerFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// One controller: a name and how to start it.
struct Spec {
    name: &'static str,
    start: fn(Informers) -> ControllerFuture,
}

fn controllers() -> Vec<Spec> {
    vec![
        Spec {
            name: "namespace",
            start: |i| Box::pin(namespace::run(i)),
        },
        Spec {
            name: "garbage-collector",
            start: |i| Box::pin(garbage_collector::run(i)),
        },
        Spec {
            name: "serviceaccount",
            start: |i| Box::pin(serviceaccount::run(i)),
        },
        Spec {
            name: "replicaset",
            start: |i| Box::pin(replicaset::run(i, replicaset::Kind::ReplicaSet)),
        },
        Spec {
            name: "replicationcontroller",
            start: |i| Box::pin(replicaset::run(i, replicaset::Kind::ReplicationController)),
        },
        Spec {
            name: "deployment",
            start: |i| Box::pin(deployment::run(i)),
        },
        Spec {
            name: "job",
            start: |i| Box::pin(job::run(i)),
        },
        Spec {
            name: "cronjob",
            start: |i| Box::pin(cronjob::run(i)),
        },
        Spec {
            name: "ttl-after-finished",
            start: |i| Box::pin(ttl_after_finished::run(i)),
        },
        Spec {
            name: "statefulset",
            start: |i| Box::pin(statefulset::run(i)),
        },
        Spec {
            name: "daemonset",
            start: |i| Box::pin(daemonset::run(i)),
        },
        Spec {
            name: "endpointslice",
            start: |i| Box::pin(endpointslice::run(i)),
        },
        Spec {
            name: "endpoints",
            start: |i| Box::pin(endpoints::run(i)),
        },
        Spec {
            name: "endpointslice-mirroring",
            start: |i| Box::pin(endpointslice_mirroring::run(i)),
        },
        Spec {
            name: "disruption",
            start: |i| Box::pin(disruption::run(i)),
        },
        Spec {
            name: "node-lifecycle",
            start: |i| Box::pin(node_lifecycle::run(i)),
        },
        Spec {
            name: "taint-eviction-controller",
            start: |i| Box::pin(taint_eviction::run(i)),
        },
        Spec {
            name: "pod-garbage-collector",
            start: |i| Box::pin(pod_gc::run(i)),
        },
        Spec {
            name: "resourcequota",
            start: |i| Box::pin(resource_quota::run(i)),
        },
    ]
}

/// Runs one controller forever, restarting it with exponential back-off
/// (1 s to 60 s) when it returns an error or panics.
async fn supervise(spec: Spec, informers: Informers) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = tokio::time::Instant::now();
        let handle = tokio::spawn((spec.start)(informers.clone()));
        // Aborting the supervisor (lost leadership) must stop the controller too.
        let _guard = AbortOnDrop(handle.abort_handle());
        let outcome = handle.await;
        match outcome {
            Ok(Ok(())) => tracing::warn!(controller = spec.name, "controller stopped; restarting"),
            Ok(Err(e)) => {
                tracing::error!(controller = spec.name, error = %error_chain(&e), "controller failed; restarting")
            }
            Err(e) => {
                tracing::error!(controller = spec.name, error = %e, "controller panicked; restarting")
            }
        }
        if started.elapsed() > Duration::from_secs(120) {
            backoff = Duration::from_secs(1);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The error with its sources, for logs.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

/// Runs the controller manager: waits for the leader Lease, then runs every
/// controller until leadership is lost (then tries to take it again).
pub async fn run(client: Client) {
    let identity = leader_election::identity();
    loop {
        let lease = leader_election::LeaderElector::new(client.clone(), identity.clone());
        lease.acquire().await;
        tracing::info!(%identity, "became the leader of the controller manager");
        // One cache per kind for every controller of this term; dropped
        // (its watches stopped) with the term.
        let informers = Informers::new(client.clone());
        let tasks: Vec<_> = controllers()
            .into_iter()
            .map(|spec| tokio::spawn(supervise(spec, informers.clone())))
            .collect();
        lease.hold().await;
        tracing::warn!(%identity, "lost the leader lease; stopping the controllers");
        for t in tasks {
            t.abort();
        }
        drop(informers);
    }
}
