//! The skiff node agent: what kubelet does, as a client of the Kubernetes API.
//!
//! Owns: pod workers ([`pod_worker`]) over a container [`runtime`], node
//! registration, status and lease ([`node`]), pod status writes
//! ([`status_manager`]), pod IP ranges ([`ipam`]) and the many simulated nodes
//! of `skiff sim` ([`sim`]). Does not own: the store or anything of the API
//! server; it only talks to the API through `kube`.

pub mod ipam;
pub mod node;
pub mod pod_worker;
pub mod runtime;
pub mod sim;
pub mod status_manager;

/// Errors of the agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Sim(#[from] sim::Error),
    #[error(transparent)]
    Node(#[from] node::Error),
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
    #[error(transparent)]
    Ipam(#[from] ipam::Error),
}
