//! The revisioned key-value store behind the API server, with etcd v3 semantics.
//!
//! Owns: the [`Store`] trait (what the API server needs from etcd: revisions,
//! compare-and-swap on mod revision, ranges, watches with history, compaction) and
//! its embedded SQLite backend. Does not own: object encoding, key layout or any
//! Kubernetes rule; values are opaque bytes.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

pub mod sqlite;

pub use sqlite::{SqliteOptions, SqliteStore, Synchronous, WriterStats};

/// A key with its value and revisions, as etcd's `mvccpb.KeyValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created this incarnation of the key.
    pub create_revision: i64,
    /// Revision of the last write to the key.
    pub mod_revision: i64,
    /// Number of writes since this incarnation was created (1 on create).
    pub version: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Put,
    Delete,
}

/// One change, as delivered by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    /// For `Put`, the new key value. For `Delete`, the key with `mod_revision` set
    /// to the delete's revision and `value` empty.
    pub kv: KeyValue,
    /// The key value before this change (none for a create).
    pub prev: Option<KeyValue>,
}

impl Event {
    /// The revision at which this change happened.
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision
    }
}

/// The answer to a range read.
#[derive(Debug, Clone, Default)]
pub struct RangeResult {
    /// Keys in ascending byte order.
    pub kvs: Vec<KeyValue>,
    /// True when `limit` cut the result short.
    pub more: bool,
    /// The revision the range was read at.
    pub revision: i64,
}

/// What a range reads.
#[derive(Debug, Clone, Default)]
pub struct RangeRequest {
    /// Keys that start with this prefix.
    pub prefix: String,
    /// Start at this key (inclusive) instead of at `prefix`; must start with `prefix`.
    pub start: Option<String>,
    /// Read at this revision; `None` is the latest.
    pub revision: Option<i64>,
    /// At most this many keys; 0 is no limit.
    pub limit: usize,
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("key {key} already exists")]
    AlreadyExists { key: String },
    #[error("key {key} not found")]
    NotFound { key: String },
    /// The compare-and-swap failed: the key was modified (or deleted) since the
    /// caller read it. `current` is what is there now.
    #[error("key {key} was modified concurrently")]
    Conflict {
        key: String,
        current: Option<Box<KeyValue>>,
    },
    #[error("required revision {requested} has been compacted (compacted up to {compacted})")]
    Compacted { requested: i64, compacted: i64 },
    #[error("required revision {requested} is a future revision (current {current})")]
    FutureRevision { requested: i64, current: i64 },
    #[error("store is closed")]
    Closed,
    #[error("sqlite failed while {context}")]
    Sqlite {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// A write batch failed in SQLite and was rolled back: none of its writes
    /// happened. Every request of the batch gets this error.
    #[error("write batch failed while {context}")]
    Batch {
        context: &'static str,
        #[source]
        source: Arc<rusqlite::Error>,
    },
    /// A bug or broken invariant inside the store (e.g. a read task panicked).
    #[error("internal store error: {context}")]
    Internal { context: String },
    #[error("failed to {context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A stream of watch events in revision order. An `Err` ends the stream (e.g. the
/// watcher fell behind the history window and its next revision was compacted).
pub type WatchStream = BoxStream<'static, Result<Event>>;

/// What the API server needs from etcd.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The latest revision: that of the last write (1 in a store that never had
    /// one, as in etcd).
    async fn current_revision(&self) -> Result<i64>;

    /// The oldest revision still readable; reads and watches below it fail with
    /// [`Error::Compacted`].
    async fn compacted_revision(&self) -> Result<i64>;

    /// One key at the latest revision or at `revision`.
    async fn get(&self, key: &str, revision: Option<i64>) -> Result<Option<KeyValue>>;

    /// Keys under a prefix, in key order.
    async fn range(&self, req: RangeRequest) -> Result<RangeResult>;

    /// Number of keys under a prefix at the latest revision.
    async fn count(&self, prefix: &str) -> Result<i64>;

    /// Create a key; fails with [`Error::AlreadyExists`] if it exists.
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue>;

    /// Replace a key's value if its mod revision is still `expected_mod_revision`;
    /// otherwise [`Error::Conflict`] (or [`Error::NotFound`] if it is gone).
    async fn update(&self, key: &str, value: Bytes, expected_mod_revision: i64)
    -> Result<KeyValue>;

    /// Delete a key, if `expected_mod_revision` is given only when it still matches.
    /// Returns the deleted key value and the revision of the delete.
    async fn delete(
        &self,
        key: &str,
        expected_mod_revision: Option<i64>,
    ) -> Result<(KeyValue, i64)>;

    /// Watch keys under `prefix` for changes after revision `after` (events with
    /// revision > after), replaying history first, then live, without gap or
    /// duplicate. [`Error::Compacted`] when `after` is below the compacted
    /// revision. A watcher that falls behind the history window while reading
    /// slowly gets [`Error::Compacted`] as its last item and must re-list.
    async fn watch(&self, prefix: &str, after: i64) -> Result<WatchStream>;

    /// Drop history older than `revision`: afterwards reads at revisions below it
    /// and watches from before it fail with [`Error::Compacted`]. Compacting to a
    /// revision at or below the compacted one does nothing;
    /// [`Error::FutureRevision`] when it is above the current one. The SQLite
    /// backend also compacts on its own (see `SqliteOptions`).
    async fn compact(&self, revision: i64) -> Result<()>;
}

/// A shared handle to any backend.
pub type DynStore = Arc<dyn Store>;
