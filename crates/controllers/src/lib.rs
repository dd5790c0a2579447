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
pub mod job;
pub mod leader_election;
pub mod namespace;
pub mod node_lifecycle;
pub mod replicaset;
pub mod serviceaccount;
pub mod statefulset;
pub mod taint_eviction;
pub mod ttl_after_finished;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use kube::Client;

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
    start: fn(Client) -> ControllerFuture,
}

fn controllers() -> Vec<Spec> {
    vec![
        Spec {
            name: "namespace",
            start: |c| Box::pin(namespace::run(c)),
        },
        Spec {
            name: "garbage-collector",
            start: |c| Box::pin(garbage_collector::run(c)),
        },
        Spec {
            name: "serviceaccount",
            start: |c| Box::pin(serviceaccount::run(c)),
        },
        Spec {
            name: "replicaset",
            start: |c| Box::pin(replicaset::run(c, replicaset::Kind::ReplicaSet)),
        },
        Spec {
            name: "replicationcontroller",
            start: |c| Box::pin(replicaset::run(c, replicaset::Kind::ReplicationController)),
        },
        Spec {
            name: "deployment",
            start: |c| Box::pin(deployment::run(c)),
        },
        Spec {
            name: "job",
            start: |c| Box::pin(job::run(c)),
        },
        Spec {
            name: "cronjob",
            start: |c| Box::pin(cronjob::run(c)),
        },
        Spec {
            name: "ttl-after-finished",
            start: |c| Box::pin(ttl_after_finished::run(c)),
        },
        Spec {
            name: "statefulset",
            start: |c| Box::pin(statefulset::run(c)),
        },
        Spec {
            name: "daemonset",
            start: |c| Box::pin(daemonset::run(c)),
        },
        Spec {
            name: "endpointslice",
            start: |c| Box::pin(endpointslice::run(c)),
        },
        Spec {
            name: "endpoints",
            start: |c| Box::pin(endpoints::run(c)),
        },
        Spec {
            name: "endpointslice-mirroring",
            start: |c| Box::pin(endpointslice_mirroring::run(c)),
        },
        Spec {
            name: "disruption",
            start: |c| Box::pin(disruption::run(c)),
        },
        Spec {
            name: "node-lifecycle",
            start: |c| Box::pin(node_lifecycle::run(c)),
        },
        Spec {
            name: "taint-eviction-controller",
            start: |c| Box::pin(taint_eviction::run(c)),
        },
    ]
}

/// Runs one controller forever, restarting it with exponential back-off
/// (1 s to 60 s) when it returns an error or panics.
async fn supervise(spec: Spec, client: Client) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = tokio::time::Instant::now();
        let handle = tokio::spawn((spec.start)(client.clone()));
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
        let tasks: Vec<_> = controllers()
            .into_iter()
            .map(|spec| tokio::spawn(supervise(spec, client.clone())))
            .collect();
        lease.hold().await;
        tracing::warn!(%identity, "lost the leader lease; stopping the controllers");
        for t in tasks {
            t.abort();
        }
    }
}
