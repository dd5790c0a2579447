//! The Kubernetes API server of skiff.
//!
//! Owns: TLS and identities ([`pki`]), authentication, the HTTP front
//! ([`server`]: routing, content negotiation, errors as `metav1.Status`),
//! discovery ([`discovery`]), the watch cache ([`cache`]) and the generic REST
//! store ([`rest`]) over [`skiff_store::Store`] with per-kind strategies
//! ([`strategy`]). Does not own: the store backends (crate `skiff-store`) or API
//! machinery without I/O (crate `skiff-core`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use skiff_store::DynStore;

mod access_review;
mod admission;
pub mod allocator;
mod bootstrap;
pub mod cache;
pub mod discovery;
pub mod encoding;
mod eviction;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod pki;
pub mod request;
pub mod rest;
pub mod schema;
pub mod server;
pub mod strategy;
mod subresource;

pub use server::Running;

/// How the API server is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where TLS material lives (`<data-dir>/server/tls`).
    pub tls_dir: PathBuf,
    /// Address and port to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Extra subject alternative names of the serving certificate.
    pub tls_sans: Vec<String>,
    /// The Service cluster IP range.
    pub service_cidr: allocator::Cidr,
}

/// Errors of starting the API server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Pki(#[from] pki::Error),
    #[error("failed to read the store while starting")]
    Store(#[from] skiff_store::Error),
    #[error("failed to listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to create the system object {what}: {status}")]
    Bootstrap {
        what: String,
        status: skiff_core::Status,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shared state of a running API server.
pub struct ApiServer {
    pub store: DynStore,
    pub cache: Arc<cache::Cache>,
    pub discovery: discovery::Discovery,
    pub services: allocator::ServiceAllocator,
    pub pki: pki::Pki,
    /// Set once the server is ready (`/readyz`).
    pub ready: std::sync::atomic::AtomicBool,
    /// The health the in-process components report (`componentstatuses`).
    pub components: health::Components,
    /// What `/metrics` reports.
    pub metrics: Arc<metrics::Metrics>,
    /// The LimitRanger plugin's live lookups.
    pub(crate) limit_ranges: admission::limit_ranger::LiveLookups,
}
