//! API machinery of skiff, with no I/O: what every component shares about the
//! Kubernetes API.
//!
//! Owns: the registry of built-in kinds ([`registry`]), `metav1.Status` errors
//! ([`status`]), label and field selectors ([`labels`], [`fields`]), validation
//! helpers ([`validation`]), object metadata helpers ([`meta`]), Table
//! conversion ([`table`]) and ResourceQuota accounting ([`quota`]). Does not
//! own: storage, HTTP, or any controller logic.

pub mod conversion;
pub mod cron;
pub mod decode;
pub mod fields;
pub mod labels;
pub mod lean;
pub mod managed_fields;
pub mod meta;
pub mod protobuf;
pub mod quantity;
pub mod quota;
pub mod registry;
pub mod status;
pub mod strategic_merge;
pub mod table;
pub mod validation;

pub use status::Status;
