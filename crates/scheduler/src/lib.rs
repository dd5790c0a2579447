//! The skiff scheduler: kube-scheduler's framework, queue, cache, default
//! plugins and preemption, run as a client of the Kubernetes API.
//!
//! Owns: deciding a node for every pending pod whose `schedulerName` is one
//! of its profiles, binding it through `pods/binding`, and reporting
//! failures (`PodScheduled=False`, `FailedScheduling` events) and preemption.
//! Does not own: the store (it watches and writes through `kube` only, as
//! every component but the API server), PriorityClass admission (the API
//! server resolves `priorityClassName` to `spec.priority`; the scheduler
//! reads `spec.priority`).
//!
//! Layout follows upstream `pkg/scheduler`: [`queue`], [`cache`],
//! [`framework`], [`plugins`], [`schedule_one`], [`preemption`], [`config`].

pub mod cache;
pub mod config;
pub mod framework;
pub mod node_info;
pub mod plugins;
pub mod pod_info;
pub mod preemption;
pub mod queue;
pub mod recorder;
pub mod resource;
pub mod schedule_one;
mod scheduler;
pub mod selector;

pub use config::Config;
pub use scheduler::{Error, Result, run};
