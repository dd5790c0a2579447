//! The container runtime as a pod worker needs it: a sandbox per pod (its
//! network namespace and IP) and containers in it that start, stop and exit.
//!
//! Owns: the [`Runtime`] trait and the types that cross it. Shaped after CRI
//! `runtime.v1` (`RunPodSandbox`, `CreateContainer`+`StartContainer`,
//! `StopContainer`, `StopPodSandbox`+`RemovePodSandbox`, and the
//! `GetContainerEvents` stream for exits), so a containerd implementation fits
//! behind it. Does not own: decisions (restart, back-off, status) — those are
//! the pod worker's. Implementations: [`simulated`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::jiff::Timestamp;

pub mod simulated;

/// Errors of a runtime call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no free pod IP in {cidr}")]
    NoFreeIp { cidr: String },
    #[error("sandbox {id} not found")]
    SandboxNotFound { id: String },
    #[error("container {id} not found")]
    ContainerNotFound { id: String },
}

/// Result of a runtime call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a sandbox is created from (CRI `PodSandboxConfig`, reduced).
#[derive(Clone, Debug, Default)]
pub struct SandboxConfig {
    pub pod_uid: String,
    pub namespace: String,
    pub name: String,
    pub annotations: BTreeMap<String, String>,
    /// The IP the pod had before (after an agent restart), kept when free.
    pub previous_ip: Option<IpAddr>,
}

/// A running sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sandbox {
    pub id: String,
    pub ip: IpAddr,
}

/// What a container is created from (CRI `ContainerConfig`, reduced).
#[derive(Clone, Debug, Default)]
pub struct ContainerConfig {
    pub name: String,
    pub image: String,
    pub attempt: u32,
}

/// A started container. `id` is in the `<runtime>://<id>` form the API shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    pub id: String,
    pub started_at: Timestamp,
}

/// A container that ended, on its own or stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    pub pod_uid: String,
    pub container_id: String,
    pub exit_code: i32,
    pub finished_at: Timestamp,
}

/// A container runtime. Containers that exit on their own are reported on
/// the exit channel an implementation is built with (CRI's
/// `GetContainerEvents`), not through these calls.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// Creates the pod's sandbox and gives it an IP.
    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<Sandbox>;
    /// Creates and starts a container in a sandbox.
    async fn start_container(&self, sandbox_id: &str, config: &ContainerConfig) -> Result<Started>;
    /// Stops a container: a polite signal, then a kill after `grace`.
    async fn stop_container(&self, container_id: &str, grace: Duration) -> Result<Exit>;
    /// Stops and removes a sandbox and whatever still runs in it; frees its IP.
    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<()>;
}

/// Time to stop a simulated container: a real process gets SIGTERM and is
/// gone quickly; waiting the whole grace period would only slow tests.
pub const SIMULATED_STOP: Duration = Duration::from_millis(100);
