//! The embedded SQLite backend of [`crate::Store`].
//!
//! Owns: the on-disk schema, the single writer thread with group commit, the pool
//! of read connections, watch replay from history plus the live broadcast, and
//! automatic compaction and WAL checkpointing. Does not own: anything about the
//! meaning of keys or values.
//!
//! Layout on disk (one SQLite file in WAL mode, schema version 2):
//! - `current`: every live key with its create revision, mod revision and
//!   version, but not its value: that is the `history` row at the mod revision,
//!   which compaction never removes (it keeps each key's newest row). With the
//!   value stored once, a write dirties three pages (history leaf, `current`
//!   leaf, history index leaf) where it dirtied four;
//! - `history`: one row per revision (put or delete), for watch replay and reads at
//!   older revisions; `prev_rev` points at the row the change replaced;
//! - `meta`: the schema version, the current revision, the compacted revision and
//!   how far the physical sweep of a compaction got.
//!
//! Version 1 files (the value also in `current`) are migrated at open.
//!
//! Threads: one writer thread owns the only write connection and drains a channel
//! of requests, applying everything pending in one transaction with one commit
//! (group commit); a maintenance thread checkpoints the WAL and triggers
//! compaction; reads run on tokio's blocking pool with connections from a small
//! pool, so they never wait for the writer (WAL readers see a snapshot).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use tokio::sync::{Semaphore, broadcast, oneshot};

use crate::{
    Error, Event, EventType, KeyValue, RangeRequest, RangeResult, Result, Store, WatchStream,
};

/// How hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// `synchronous=FULL`: every commit (one per batch) fsyncs the WAL. An
    /// acknowledged write survives kill -9 and power loss. The default.
    Full,
    /// `synchronous=NORMAL`: commits reach the OS page cache but are fsynced only
    /// at checkpoints. An acknowledged write survives kill -9 of the process (the
    /// kernel still holds the WAL pages) but not a power loss or kernel crash.
    Normal,
}

/// Tuning of a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Automatic compaction keeps at least this many revisions of history.
    pub min_history_revisions: i64,
    /// Automatic compaction keeps at least this much time of history.
    pub min_history_age: Duration,
    /// How often automatic compaction looks for history to drop; `None` disables
    /// it (explicit [`Store::compact`] still works).
    pub compaction_interval: Option<Duration>,
    /// How often the WAL is checkpointed into the main database file.
    pub checkpoint_interval: Duration,
    /// Number of read connections (concurrent reads).
    pub read_connections: usize,
    /// Most write requests applied in one transaction.
    pub max_batch: usize,
    /// Write batches buffered for watchers; a watcher further behind than this
    /// re-reads what it missed from history. The channel keeps every slot's
    /// batch (each event's new and previous value) until the slot is reused,
    /// also after every watcher read it, so this many batches stay in memory.
    pub watch_buffer: usize,
    /// Durability of a commit; see [`Synchronous`].
    pub synchronous: Synchronous,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            min_history_revisions: 10_000,
            min_history_age: Duration::from_secs(5 * 60),
            compaction_interval: Some(Duration::from_secs(30)),
            // Often enough that the WAL stays under the writer's automatic
            // checkpoint (10,000 pages) at thousands of writes/s: past it, the
            // writer copies the pages itself inside a commit, holding up its
            // batch for milliseconds. A checkpoint with nothing to copy is
            // cheap (no I/O).
            checkpoint_interval: Duration::from_millis(100),
            read_connections: 4,
            max_batch: 1024,
            // The watch cache reads each batch as it comes; a deeper buffer
            // only held up to 1024 batches of values for nobody.
            watch_buffer: 64,
            synchronous: Synchronous::Full,
        }
    }
}

/// Counters of the writer, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed (each one fsync with [`Synchronous::Full`]).
    pub batches: u64,
    /// Write requests (create, update, delete) applied, successful or not.
    pub writes: u64,
}

/// The store in one SQLite file. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    commands: mpsc::Sender<Command>,
    reads: Arc<ReadPool>,
    live: broadcast::Sender<Batch>,
    shared: Arc<Shared>,
    // Dropping this ends the maintenance thread, which holds a command sender;
    // once both are gone the writer thread ends too.
    _shutdown: mpsc::Sender<()>,
}

/// State the writer publishes to everybody else.
struct Shared {
    current: AtomicI64,
    compacted: AtomicI64,
    batches: AtomicU64,
    writes: AtomicU64,
}

/// The events of one committed transaction, in revision order.
type Batch = Arc<[Event]>;

enum Op {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: i64,
    },
    Delete {
        key: String,
        expected: Option<i64>,
    },
}

enum Command {
    Write {
        op: Op,
        reply: oneshot::Sender<Result<Event>>,
    },
    Compact {
        revision: i64,
        reply: oneshot::Sender<Result<()>>,
    },
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field(
                "current",
                &self.inner.shared.current.load(Ordering::Acquire),
            )
            .finish_non_exhaustive()
    }
}

fn sqlite(context: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    move |source| Error::Sqlite { context, source }
}

/// The layout version this code reads and writes, recorded in `meta` as
/// `schema`. Files without it are version 1 (the value stored in both
/// `current` and `history`) and are migrated at open.
const SCHEMA_VERSION: i64 = 2;

const META: &str = "
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
";

/// The tables of a new store, after `META`.
const SCHEMA_V2: &str = "
CREATE TABLE current (
    key        TEXT PRIMARY KEY,
    create_rev INTEGER NOT NULL,
    mod_rev    INTEGER NOT NULL,
    version    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE history (
    rev        INTEGER PRIMARY KEY,
    key        TEXT NOT NULL,
    deleted    INTEGER NOT NULL,
    create_rev INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    value      BLOB NOT NULL,
    prev_rev   INTEGER
);
CREATE INDEX history_key_rev ON history (key, rev);
-- etcd: an empty store is at revision 1, so the first write is revision 2.
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 1);
INSERT OR IGNORE INTO meta (name, value) VALUES ('compacted', 0);
INSERT OR IGNORE INTO meta (name, value) VALUES ('swept', 0);
";

/// Version 1 to 2: `current` loses its copy of the value; reads take it from
/// the history row at the key's mod revision. Version 1 already kept that row
/// for every live key (the sweep never removes a key's newest row, and a live
/// key's newest row is the put at its mod revision); should one be missing
/// anyway, it is rebuilt from `current` first, so no value is lost.
const MIGRATE_V1_TO_V2: &str = "
INSERT INTO history (rev, key, deleted, create_rev, version, value, prev_rev)
    SELECT c.mod_rev, c.key, 0, c.create_rev, c.version, c.value, NULL FROM current AS c
    WHERE NOT EXISTS (SELECT 1 FROM history AS h WHERE h.rev = c.mod_rev);
CREATE TABLE current_v2 (
    key        TEXT PRIMARY KEY,
    create_rev INTEGER NOT NULL,
    mod_rev    INTEGER NOT NULL,
    version    INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO current_v2 (key, create_rev, mod_rev, version)
    SELECT key, create_rev, mod_rev, version FROM current;
DROP TABLE current;
ALTER TABLE current_v2 RENAME TO current;
";

/// Bring the schema to [`SCHEMA_VERSION`] inside the open transaction: create
/// it in a new file, migrate an older layout in place, refuse a newer one.
fn prepare_schema(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch(META)
        .map_err(sqlite("creating the meta table"))?;
    let version: Option<i64> = tx
        .query_row("SELECT value FROM meta WHERE name = 'schema'", [], |row| {
            row.get(0)
        })
        .optional()
        .map_err(sqlite("reading the schema version"))?;
    let has_current: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'current')",
            [],
            |row| row.get(0),
        )
        .map_err(sqlite("looking for the current table"))?;
    match version {
        Some(SCHEMA_VERSION) => return Ok(()),
        Some(other) => {
            return Err(Error::Internal {
                context: format!(
                    "the store file has schema version {other}; this skiff reads version {SCHEMA_VERSION}"
                ),
            });
        }
        None if has_current => {
            tracing::info!("migrating the store from schema version 1 to {SCHEMA_VERSION}");
            tx.execute_batch(MIGRATE_V1_TO_V2)
                .map_err(sqlite("migrating the schema from version 1"))?;
        }
        None => tx
            .execute_batch(SCHEMA_V2)
            .map_err(sqlite("creating the schema"))?,
    }
    tx.execute(
        "INSERT OR REPLACE INTO meta (name, value) VALUES ('schema', ?1)",
        [SCHEMA_VERSION],
    )
    .map_err(sqlite("recording the schema version"))?;
    Ok(())
}

impl SqliteStore {
    /// Open (or create) the store in the SQLite file at `path`; its directory must
    /// exist. Starts the writer and maintenance threads; they end when the last
    /// clone of the store is dropped.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut conn = open_connection(&path, false)?;
        // Durability: WAL + FULL fsyncs the WAL on every commit, and there is one
        // commit per batch, so the cost is one fsync per group of writes (as etcd's
        // batched backend commit). NORMAL would skip that fsync and still survive
        // kill -9 (the kernel owns the written WAL pages once write(2) returns),
        // but not power loss; it is an option for who accepts that.
        let sync = match options.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            // The maintenance thread checkpoints in the background; the large
            // auto-checkpoint threshold is only a safety net if it falls behind,
            // so the writer rarely pays for a checkpoint inside a commit.
            "PRAGMA synchronous = {sync}; PRAGMA wal_autocheckpoint = 10000;"
        ))
        .map_err(sqlite("configuring the write connection"))?;
        conn.set_prepared_statement_cache_capacity(32);
        {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite("starting the schema transaction"))?;
            prepare_schema(&tx)?;
            tx.commit().map_err(sqlite("committing the schema"))?;
        }
        let current = read_meta(&conn, "revision")?;
        let compacted = read_meta(&conn, "compacted")?;
        let swept = read_meta(&conn, "swept")?;

        let shared = Arc::new(Shared {
            current: AtomicI64::new(current),
            compacted: AtomicI64::new(compacted),
            batches: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        });
        let (live, _) = broadcast::channel(options.watch_buffer.max(1));
        let (commands, receiver) = mpsc::channel();
        let writer = Writer {
            conn,
            receiver,
            live: live.clone(),
            shared: shared.clone(),
            max_batch: options.max_batch.max(1),
            // A compaction interrupted by a restart finishes its sweep now.
            sweep: (swept < compacted).then(|| Sweep {
                target: compacted,
                after: 0,
                waiting: Vec::new(),
            }),
        };
        spawn_thread("skiff-store-writer", move || writer.run())?;

        let (shutdown, shutdown_rx) = mpsc::channel();
        let maintenance = Maintenance {
            path: path.clone(),
            conn: None,
            shutdown: shutdown_rx,
            commands: commands.clone(),
            shared: shared.clone(),
            samples: VecDeque::new(),
            requested: compacted,
            options: options.clone(),
        };
        spawn_thread("skiff-store-maintenance", move || maintenance.run())?;

        let size = options.read_connections.max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.clone(),
                commands,
                reads: Arc::new(ReadPool {
                    path,
                    idle: Mutex::new(Vec::with_capacity(size)),
                    permits: Semaphore::new(size),
                    size,
                }),
                live,
                shared,
                _shutdown: shutdown,
            }),
        })
    }

    /// [`open`](Self::open) with [`SqliteOptions::default`].
    pub fn open_default(path: impl AsRef<Path>) -> Result<Self> {
        Self::open(path, SqliteOptions::default())
    }

    /// The SQLite file behind the store.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Counters of the writer since open.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.inner.shared.batches.load(Ordering::Relaxed),
            writes: self.inner.shared.writes.load(Ordering::Relaxed),
        }
    }

    async fn write(&self, op: Op) -> Result<Event> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Write { op, reply })
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }
}

fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map(drop)
        .map_err(|source| Error::Io {
            context: format!("spawn thread {name}"),
            source,
        })
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(sqlite("opening the database"))?;
    // Readers in WAL mode never wait for the writer; the timeout covers the rare
    // exclusive moments (WAL recovery after a crash, WAL restart).
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(sqlite("setting the busy timeout"))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sqlite("enabling WAL mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Internal {
            context: format!("{} does not support WAL mode (got {mode})", path.display()),
        });
    }
    if read_only {
        // Read connections are opened read-write (a WAL reader needs the -shm
        // file writable anyway) but must never write.
        conn.execute_batch("PRAGMA query_only = ON")
            .map_err(sqlite("configuring a read connection"))?;
    }
    Ok(conn)
}

fn meta(conn: &Connection, name: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT value FROM meta WHERE name = ?1")?
        .query_row([name], |row| row.get(0))
}

fn read_meta(conn: &Connection, name: &str) -> Result<i64> {
    meta(conn, name).map_err(sqlite("reading store metadata"))
}

/// The smallest string greater than every string that starts with `prefix`, or
/// `None` when there is none (empty prefix, or only `char::MAX`). Key order is
/// byte order (SQLite's BINARY collation on UTF-8), which is code point order, so
/// bumping the last code point bounds the prefix.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A key range `[start, end)`.
struct KeyRange {
    start: String,
    end: Option<String>,
}

impl KeyRange {
    fn prefix(prefix: &str) -> Self {
        Self {
            start: prefix.to_owned(),
            end: prefix_end(prefix),
        }
    }
}

// ---------------------------------------------------------------------------
// Writer

struct Writer {
    conn: Connection,
    receiver: mpsc::Receiver<Command>,
    live: broadcast::Sender<Batch>,
    shared: Arc<Shared>,
    max_batch: usize,
    sweep: Option<Sweep>,
}

/// A compaction whose rows are still being deleted, a chunk at a time so writes
/// are not held up behind one long transaction.
struct Sweep {
    target: i64,
    /// Rows with revisions up to this one have been swept.
    after: i64,
    waiting: Vec<oneshot::Sender<Result<()>>>,
}

const SWEEP_CHUNK: i64 = 2000;

/// What a request will be answered once its batch is committed (or not).
enum Pending {
    Write(oneshot::Sender<Result<Event>>, Result<Event>),
    Compact(oneshot::Sender<Result<()>>, Result<()>),
}

impl Writer {
    fn run(mut self) {
        loop {
            // With a sweep under way, only look for writes; otherwise sleep until
            // one arrives. Exit when every sender is gone (the store was dropped).
            let first = if self.sweep.is_some() {
                match self.receiver.try_recv() {
                    Ok(command) => Some(command),
                    Err(mpsc::TryRecvError::Empty) => None,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            } else {
                match self.receiver.recv() {
                    Ok(command) => Some(command),
                    Err(mpsc::RecvError) => return,
                }
            };
            if let Some(first) = first {
                let mut batch = vec![first];
                self.drain_into(&mut batch);
                self.apply(batch);
            }
            if self.sweep.is_some() {
                self.sweep_chunk();
            }
        }
    }

    /// Move what is pending in the channel into `batch`, up to the batch limit.
    fn drain_into(&self, batch: &mut Vec<Command>) {
        while batch.len() < self.max_batch {
            match self.receiver.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
    }

    /// Apply a batch in one transaction and answer every request.
    fn apply(&mut self, batch: Vec<Command>) {
        let writes = batch
            .iter()
            .filter(|c| matches!(c, Command::Write { .. }))
            .count() as u64;
        let mut pending = Vec::with_capacity(batch.len());
        let mut events = Vec::with_capacity(batch.len());
        let mut compacted_to = None;
        let mut commands = batch.into_iter();
        let outcome =
            self.apply_in_transaction(&mut commands, &mut pending, &mut events, &mut compacted_to);
        self.shared.writes.fetch_add(writes, Ordering::Relaxed);
        match outcome {
            Ok(revision) => {
                self.shared.batches.fetch_add(1, Ordering::Relaxed);
                self.shared.current.store(revision, Ordering::Release);
                if let Some(target) = compacted_to {
                    self.shared.compacted.store(target, Ordering::Release);
                    match &mut self.sweep {
                        Some(sweep) => {
                            // Rows already swept were judged against the old
                            // target; the new one may free more of them.
                            sweep.target = target;
                            sweep.after = 0;
                        }
                        None => {
                            self.sweep = Some(Sweep {
                                target,
                                after: 0,
                                waiting: Vec::new(),
                            })
                        }
                    }
                }
                if !events.is_empty() {
                    // An error only means that nobody is watching.
                    let _ = self.live.send(events.into());
                }
                for p in pending {
                    match p {
                        Pending::Write(reply, result) => {
                            let _ = reply.send(result);
                        }
                        // Answer a compaction once its rows are gone.
                        Pending::Compact(reply, Ok(())) if compacted_to.is_some() => {
                            if let Some(sweep) = &mut self.sweep {
                                sweep.waiting.push(reply);
                            }
                        }
                        Pending::Compact(reply, result) => {
                            let _ = reply.send(result);
                        }
                    }
                }
            }
            Err((context, source)) => {
                // The transaction rolled back (dropping it does): nothing in the
                // batch happened, including outcomes decided against its
                // uncommitted state, so every request gets the failure.
                tracing::error!(error = %source, "store write batch failed while {context}");
                for command in commands {
                    pending.push(match command {
                        Command::Write { reply, .. } => Pending::Write(reply, Err(Error::Closed)),
                        Command::Compact { reply, .. } => {
                            Pending::Compact(reply, Err(Error::Closed))
                        }
                    });
                }
                let source = Arc::new(source);
                let failure = || Error::Batch {
                    context,
                    source: source.clone(),
                };
                for p in pending {
                    match p {
                        Pending::Write(reply, _) => {
                            let _ = reply.send(Err(failure()));
                        }
                        Pending::Compact(reply, _) => {
                            let _ = reply.send(Err(failure()));
                        }
                    }
                }
            }
        }
    }

    /// The transaction of [`apply`](Self::apply); returns the new revision. On an
    /// SQLite failure the commands not reached yet stay in `commands`.
    fn apply_in_transaction(
        &mut self,
        commands: &mut std::vec::IntoIter<Command>,
        pending: &mut Vec<Pending>,
        events: &mut Vec<Event>,
        compacted_to: &mut Option<i64>,
    ) -> Result<i64, (&'static str, rusqlite::Error)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| ("starting a write transaction", e))?;
        // Read the revision in the transaction rather than trusting memory: it is
        // cheap, and stays right even if another process wrote the file.
        let base = meta(&tx, "revision").map_err(|e| ("reading the revision", e))?;
        let mut compacted =
            meta(&tx, "compacted").map_err(|e| ("reading the compacted revision", e))?;
        let mut revision = base;
        for command in commands.by_ref() {
            match command {
                Command::Write { op, reply } => match apply_op(&tx, op, revision + 1) {
                    Ok(result) => {
                        if let Ok(event) = &result {
                            revision += 1;
                            events.push(event.clone());
                        }
                        pending.push(Pending::Write(reply, result));
                    }
                    Err(e) => {
                        pending.push(Pending::Write(reply, Err(Error::Closed)));
                        return Err(("applying a write", e));
                    }
                },
                Command::Compact {
                    revision: target,
                    reply,
                } => {
                    let result = if target > revision {
                        Err(Error::FutureRevision {
                            requested: target,
                            current: revision,
                        })
                    } else if target <= compacted {
                        // Already there: compacting is idempotent.
                        Ok(())
                    } else {
                        if let Err(e) = tx
                            .prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'compacted'")
                            .and_then(|mut stmt| stmt.execute([target]))
                        {
                            pending.push(Pending::Compact(reply, Err(Error::Closed)));
                            return Err(("recording the compacted revision", e));
                        }
                        compacted = target;
                        *compacted_to = Some(target);
                        Ok(())
                    };
                    pending.push(Pending::Compact(reply, result));
                }
            }
        }
        if revision != base {
            tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'revision'")
                .and_then(|mut stmt| stmt.execute([revision]))
                .map_err(|e| ("recording the revision", e))?;
        }
        tx.commit().map_err(|e| ("committing a write batch", e))?;
        Ok(revision)
    }

    /// Delete one chunk of compacted history rows: for each key, every row at or
    /// below the target except the newest one, and tombstones (a deleted key
    /// needs no row to read as absent). The newest row per key stays so reads at
    /// revisions >= target, and the `prev` of later events, still work.
    fn sweep_chunk(&mut self) {
        let Some(sweep) = self.sweep.as_mut() else {
            return;
        };
        let target = sweep.target;
        let after = sweep.after;
        let result = (|| -> rusqlite::Result<Option<i64>> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let upto: Option<i64> = tx
                .prepare_cached(
                    "SELECT rev FROM history WHERE rev > ?1 AND rev <= ?2 \
                     ORDER BY rev LIMIT 1 OFFSET ?3",
                )?
                .query_row(params![after, target, SWEEP_CHUNK - 1], |row| row.get(0))
                .optional()?;
            let upto_or_target = upto.unwrap_or(target);
            tx.prepare_cached(
                "DELETE FROM history WHERE rev > ?1 AND rev <= ?2 AND (deleted = 1 OR EXISTS \
                 (SELECT 1 FROM history AS newer WHERE newer.key = history.key \
                  AND newer.rev > history.rev AND newer.rev <= ?3))",
            )?
            .execute(params![after, upto_or_target, target])?;
            if upto.is_none() {
                tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'swept'")?
                    .execute([target])?;
            }
            tx.commit()?;
            Ok(upto)
        })();
        match result {
            Ok(Some(upto)) => sweep.after = upto,
            Ok(None) => {
                if let Some(done) = self.sweep.take() {
                    for reply in done.waiting {
                        let _ = reply.send(Ok(()));
                    }
                }
            }
            Err(source) => {
                // Reads are already correct (the compacted revision is recorded);
                // the rows stay until the next compaction or restart sweeps them.
                tracing::error!(error = %source, "compaction sweep failed");
                if let Some(done) = self.sweep.take() {
                    let source = Arc::new(source);
                    for reply in done.waiting {
                        let _ = reply.send(Err(Error::Batch {
                            context: "sweeping compacted history",
                            source: source.clone(),
                        }));
                    }
                }
            }
        }
    }
}

/// Apply one write at `revision` inside the batch transaction. The outer error is
/// an SQLite failure (fails the batch), the inner one the request's own outcome.
fn apply_op(tx: &Transaction<'_>, op: Op, revision: i64) -> rusqlite::Result<Result<Event>> {
    let key = match &op {
        Op::Create { key, .. } | Op::Update { key, .. } | Op::Delete { key, .. } => key.as_str(),
    };
    let existing = tx
        // The value as a scalar subquery, not a join: SQLite re-prepares a join
        // with `key = ?1` on every new binding (19% of the process's CPU in a
        // profile of the benchmark). A missing value row reads as NULL, which
        // fails the row's decoding rather than hiding the key.
        .prepare_cached(
            "SELECT create_rev, mod_rev, version, \
             (SELECT h.value FROM history AS h WHERE h.rev = current.mod_rev) \
             FROM current WHERE key = ?1",
        )?
        .query_row([key], |row| {
            Ok(KeyValue {
                key: key.to_owned(),
                create_revision: row.get(0)?,
                mod_revision: row.get(1)?,
                version: row.get(2)?,
                value: Bytes::from(row.get::<_, Vec<u8>>(3)?),
            })
        })
        .optional()?;
    let event = match op {
        Op::Create { key, value } => {
            if existing.is_some() {
                return Ok(Err(Error::AlreadyExists { key }));
            }
            tx.prepare_cached(
                "INSERT INTO current (key, create_rev, mod_rev, version) VALUES (?1, ?2, ?2, 1)",
            )?
            .execute(params![key, revision])?;
            Event {
                kind: EventType::Put,
                kv: KeyValue {
                    key,
                    value,
                    create_revision: revision,
                    mod_revision: revision,
                    version: 1,
                },
                prev: None,
            }
        }
        Op::Update {
            key,
            value,
            expected,
        } => {
            let Some(prev) = existing else {
                return Ok(Err(Error::NotFound { key }));
            };
            if prev.mod_revision != expected {
                return Ok(Err(Error::Conflict {
                    key,
                    current: Some(Box::new(prev)),
                }));
            }
            tx.prepare_cached("UPDATE current SET mod_rev = ?2, version = ?3 WHERE key = ?1")?
                .execute(params![key, revision, prev.version + 1])?;
            Event {
                kind: EventType::Put,
                kv: KeyValue {
                    key,
                    value,
                    create_revision: prev.create_revision,
                    mod_revision: revision,
                    version: prev.version + 1,
                },
                prev: Some(prev),
            }
        }
        Op::Delete { key, expected } => {
            let Some(prev) = existing else {
                return Ok(Err(Error::NotFound { key }));
            };
            if expected.is_some_and(|e| e != prev.mod_revision) {
                return Ok(Err(Error::Conflict {
                    key,
                    current: Some(Box::new(prev)),
                }));
            }
            tx.prepare_cached("DELETE FROM current WHERE key = ?1")?
                .execute([&key])?;
            Event {
                kind: EventType::Delete,
                // etcd: a delete event's key value has only the key and the
                // revision of the delete.
                kv: KeyValue {
                    key,
                    value: Bytes::new(),
                    create_revision: 0,
                    mod_revision: revision,
                    version: 0,
                },
                prev: Some(prev),
            }
        }
    };
    tx.prepare_cached(
        "INSERT INTO history (rev, key, deleted, create_rev, version, value, prev_rev) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        revision,
        event.kv.key,
        event.kind == EventType::Delete,
        event.kv.create_revision,
        event.kv.version,
        &event.kv.value[..],
        event.prev.as_ref().map(|p| p.mod_revision),
    ])?;
    Ok(Ok(event))
}

// ---------------------------------------------------------------------------
// Maintenance: checkpoints and automatic compaction

struct Maintenance {
    path: PathBuf,
    conn: Option<Connection>,
    shutdown: mpsc::Receiver<()>,
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    /// (when, current revision then), oldest first, for the age rule.
    samples: VecDeque<(Instant, i64)>,
    /// The highest compaction already asked of the writer.
    requested: i64,
    options: SqliteOptions,
}

impl Maintenance {
    fn run(mut self) {
        let tick = match self.options.compaction_interval {
            Some(interval) => interval.min(self.options.checkpoint_interval),
            None => self.options.checkpoint_interval,
        }
        .max(Duration::from_millis(10));
        let mut next_checkpoint = Instant::now() + self.options.checkpoint_interval;
        let mut next_compaction = self.options.compaction_interval.map(|i| Instant::now() + i);
        self.sample();
        loop {
            match self.shutdown.recv_timeout(tick) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // The store was dropped.
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            let now = Instant::now();
            if now >= next_checkpoint {
                self.checkpoint();
                next_checkpoint = now + self.options.checkpoint_interval;
            }
            if let (Some(at), Some(interval)) = (next_compaction, self.options.compaction_interval)
                && now >= at
            {
                self.sample();
                self.compact();
                next_compaction = Some(now + interval);
            }
        }
    }

    fn sample(&mut self) {
        let now = Instant::now();
        self.samples
            .push_back((now, self.shared.current.load(Ordering::Acquire)));
        // Keep only the newest sample old enough for the age rule, and younger ones.
        while self.samples.len() >= 2 && self.samples[1].0 + self.options.min_history_age <= now {
            self.samples.pop_front();
        }
    }

    /// The revision automatic compaction may compact to now: history of at least
    /// `min_history_revisions` revisions and `min_history_age` stays.
    fn target(&self) -> Option<i64> {
        let (at, old_enough) = *self.samples.front()?;
        if at + self.options.min_history_age > Instant::now() {
            return None;
        }
        let current = self.shared.current.load(Ordering::Acquire);
        Some(old_enough.min(current - self.options.min_history_revisions))
    }

    fn compact(&mut self) {
        let Some(target) = self.target() else {
            return;
        };
        if target <= self.requested || target <= self.shared.compacted.load(Ordering::Acquire) {
            return;
        }
        // Fire and forget: the writer logs a failure; the next round tries again.
        let (reply, _) = oneshot::channel();
        if self
            .commands
            .send(Command::Compact {
                revision: target,
                reply,
            })
            .is_ok()
        {
            tracing::debug!(revision = target, "compacting store history");
            self.requested = target;
        }
    }

    fn checkpoint(&mut self) {
        if self.conn.is_none() {
            match open_connection(&self.path, false) {
                Ok(conn) => self.conn = Some(conn),
                Err(error) => {
                    tracing::warn!(%error, "cannot open a connection to checkpoint the WAL");
                    return;
                }
            }
        }
        let Some(conn) = &self.conn else { return };
        // PASSIVE copies what it can without waiting for or blocking the writer or
        // readers; the writer restarts the WAL from the start once it is all copied.
        if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(%error, "WAL checkpoint failed");
        }
    }
}

// ---------------------------------------------------------------------------
// Reads

struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    size: usize,
}

/// What a read transaction sees of the store's metadata.
struct Snapshot {
    current: i64,
    compacted: i64,
}

impl ReadPool {
    /// Run `f` in one read transaction on a pooled connection, on tokio's
    /// blocking pool so the async workers never wait on the disk.
    async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, Snapshot) -> Result<T> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|_| Error::Closed)?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let taken = pool
                .idle
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .pop();
            let mut conn = match taken {
                Some(conn) => conn,
                None => open_connection(&pool.path, true)?,
            };
            let result = (|| {
                let tx = conn
                    .transaction()
                    .map_err(sqlite("starting a read transaction"))?;
                let snapshot = Snapshot {
                    current: read_meta(&tx, "revision")?,
                    compacted: read_meta(&tx, "compacted")?,
                };
                f(&tx, snapshot)
            })();
            let mut idle = pool
                .idle
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if idle.len() < pool.size {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|error| Error::Internal {
            context: format!("read task failed: {error}"),
        })?
    }
}

fn check_revision(requested: i64, snapshot: &Snapshot) -> Result<()> {
    if requested < snapshot.compacted {
        return Err(Error::Compacted {
            requested,
            compacted: snapshot.compacted,
        });
    }
    if requested > snapshot.current {
        return Err(Error::FutureRevision {
            requested,
            current: snapshot.current,
        });
    }
    Ok(())
}

fn row_kv(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: row.get(0)?,
        create_revision: row.get(1)?,
        mod_revision: row.get(2)?,
        version: row.get(3)?,
        value: Bytes::from(row.get::<_, Vec<u8>>(4)?),
    })
}

/// One key at the latest revision, its value from the history row at its mod
/// revision (a scalar subquery: see [`apply_op`]).
const GET_LATEST: &str = "SELECT key, create_rev, mod_rev, version, \
     (SELECT h.value FROM history AS h WHERE h.rev = current.mod_rev) \
     FROM current WHERE key = ?1";

fn get_at(
    tx: &Transaction<'_>,
    key: &str,
    revision: Option<i64>,
    snap: &Snapshot,
) -> Result<Option<KeyValue>> {
    match revision {
        Some(r) if r != snap.current => {
            check_revision(r, snap)?;
            // The key's newest row at the revision; a tombstone means absent.
            let row = tx
                .prepare_cached(
                    "SELECT key, create_rev, rev, version, value, deleted FROM history \
                     WHERE key = ?1 AND rev <= ?2 ORDER BY rev DESC LIMIT 1",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(params![key, r], |row| {
                        Ok((row_kv(row)?, row.get::<_, bool>(5)?))
                    })
                    .optional()
                })
                .map_err(sqlite("reading a key at a revision"))?;
            Ok(row.and_then(|(kv, deleted)| (!deleted).then_some(kv)))
        }
        _ => tx
            .prepare_cached(GET_LATEST)
            .and_then(|mut stmt| stmt.query_row([key], row_kv).optional())
            .map_err(sqlite("reading a key")),
    }
}

fn range_at(tx: &Transaction<'_>, req: &RangeRequest, snap: &Snapshot) -> Result<RangeResult> {
    let mut keys = KeyRange::prefix(&req.prefix);
    if let Some(start) = &req.start
        && *start > keys.start
    {
        keys.start = start.clone();
    }
    let revision = req.revision.unwrap_or(snap.current);
    check_revision(revision, snap)?;
    let latest = revision == snap.current;
    // At the latest revision, `current` is walked in key order (CROSS JOIN
    // keeps it the outer loop; a LEFT JOIN, which would fail on a missing
    // value row rather than skip the key, made SQLite re-prepare the statement
    // on every new binding) and each value fetched from its history row by
    // revision. At an older revision, SQLite's bare columns next to max() come
    // from the row holding the max, so the inner query yields each key's
    // newest row at the revision; the index on (key, rev) streams it in key
    // order. Rows come in key order as they are read, so the limit is applied
    // by reading no further rather than with `LIMIT ?`: SQLite re-prepares a
    // statement each time a LIMIT parameter is bound.
    let sql = range_sql(latest, keys.end.is_some());
    let mut stmt = tx
        .prepare_cached(sql)
        .map_err(sqlite("preparing a range"))?;
    let rows = if latest {
        stmt.query_map(params![keys.start, keys.end], row_kv)
    } else {
        stmt.query_map(params![keys.start, keys.end, revision], row_kv)
    }
    .map_err(sqlite("reading a range"))?;
    let mut kvs = Vec::new();
    let mut more = false;
    for row in rows {
        if req.limit != 0 && kvs.len() == req.limit {
            // One row past the limit: there is more.
            more = true;
            break;
        }
        kvs.push(row.map_err(sqlite("reading a range"))?);
    }
    Ok(RangeResult {
        kvs,
        more,
        revision,
    })
}

/// The statement of a range read: at the latest revision or an older one,
/// with an end key (`?2`) or to the end of the key space.
fn range_sql(latest: bool, bounded: bool) -> &'static str {
    match (latest, bounded) {
        (true, true) => {
            "SELECT c.key, c.create_rev, c.mod_rev, c.version, h.value \
             FROM current AS c CROSS JOIN history AS h ON h.rev = c.mod_rev \
             WHERE c.key >= ?1 AND c.key < ?2 ORDER BY c.key"
        }
        (true, false) => {
            "SELECT c.key, c.create_rev, c.mod_rev, c.version, h.value \
             FROM current AS c CROSS JOIN history AS h ON h.rev = c.mod_rev \
             WHERE c.key >= ?1 AND ?2 IS NULL ORDER BY c.key"
        }
        (false, true) => {
            "SELECT key, create_rev, rev, version, value FROM ( \
               SELECT key, create_rev, max(rev) AS rev, version, value, deleted FROM history \
               WHERE key >= ?1 AND key < ?2 AND rev <= ?3 GROUP BY key) \
             WHERE deleted = 0 ORDER BY key"
        }
        (false, false) => {
            "SELECT key, create_rev, rev, version, value FROM ( \
               SELECT key, create_rev, max(rev) AS rev, version, value, deleted FROM history \
               WHERE key >= ?1 AND ?2 IS NULL AND rev <= ?3 GROUP BY key) \
             WHERE deleted = 0 ORDER BY key"
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn current_revision(&self) -> Result<i64> {
        Ok(self.inner.shared.current.load(Ordering::Acquire))
    }

    async fn compacted_revision(&self) -> Result<i64> {
        Ok(self.inner.shared.compacted.load(Ordering::Acquire))
    }

    async fn get(&self, key: &str, revision: Option<i64>) -> Result<Option<KeyValue>> {
        let key = key.to_owned();
        self.inner
            .reads
            .read(move |tx, snap| get_at(tx, &key, revision, &snap))
            .await
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResult> {
        self.inner
            .reads
            .read(move |tx, snap| range_at(tx, &req, &snap))
            .await
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let keys = KeyRange::prefix(prefix);
        self.inner
            .reads
            .read(move |tx, _| {
                let sql = if keys.end.is_some() {
                    "SELECT count(*) FROM current WHERE key >= ?1 AND key < ?2"
                } else {
                    "SELECT count(*) FROM current WHERE key >= ?1 AND ?2 IS NULL"
                };
                tx.prepare_cached(sql)
                    .and_then(|mut stmt| {
                        stmt.query_row(params![keys.start, keys.end], |row| row.get(0))
                    })
                    .map_err(sqlite("counting keys"))
            })
            .await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        let event = self
            .write(Op::Create {
                key: key.to_owned(),
                value,
            })
            .await?;
        Ok(event.kv)
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: i64,
    ) -> Result<KeyValue> {
        let event = self
            .write(Op::Update {
                key: key.to_owned(),
                value,
                expected: expected_mod_revision,
            })
            .await?;
        Ok(event.kv)
    }

    async fn delete(
        &self,
        key: &str,
        expected_mod_revision: Option<i64>,
    ) -> Result<(KeyValue, i64)> {
        let event = self
            .write(Op::Delete {
                key: key.to_owned(),
                expected: expected_mod_revision,
            })
            .await?;
        let revision = event.revision();
        let prev = event.prev.ok_or_else(|| Error::Internal {
            context: format!(
                "delete of {} at {revision} has no previous value",
                event.kv.key
            ),
        })?;
        Ok((prev, revision))
    }

    async fn watch(&self, prefix: &str, after: i64) -> Result<WatchStream> {
        // Subscribe before reading history: every batch committed after the
        // history snapshot is then in the channel; overlap is dropped by revision.
        let live = self.inner.live.subscribe();
        let mut watcher = Watcher {
            reads: self.inner.reads.clone(),
            keys: Arc::new(KeyRange::prefix(prefix)),
            prefix: prefix.to_owned(),
            cursor: after,
            replay: Some(None),
            buffer: VecDeque::new(),
            live,
            done: false,
        };
        // The first page is read now so a compacted start fails the call itself.
        watcher.replay_page().await?;
        Ok(Box::pin(futures::stream::unfold(watcher, Watcher::next)))
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Compact { revision, reply })
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }
}

// ---------------------------------------------------------------------------
// Watch

/// Events read from history per query while replaying.
const REPLAY_PAGE: i64 = 512;

struct Watcher {
    reads: Arc<ReadPool>,
    keys: Arc<KeyRange>,
    prefix: String,
    /// Every revision up to this one has been delivered or skipped.
    cursor: i64,
    /// Replaying from history: `Some(upto)`, where `upto` is the revision to
    /// replay to, fixed by the first page (`None` until then).
    replay: Option<Option<i64>>,
    buffer: VecDeque<Event>,
    live: broadcast::Receiver<Batch>,
    done: bool,
}

impl Watcher {
    async fn next(mut self) -> Option<(Result<Event>, Self)> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.buffer.pop_front() {
                return Some((Ok(event), self));
            }
            let step = if self.replay.is_some() {
                self.replay_page().await
            } else {
                self.receive().await
            };
            if let Err(error) = step {
                self.done = true;
                return Some((Err(error), self));
            }
        }
    }

    async fn receive(&mut self) -> Result<()> {
        match self.live.recv().await {
            Ok(batch) => {
                for event in batch.iter() {
                    if event.revision() > self.cursor && event.kv.key.starts_with(&self.prefix) {
                        self.buffer.push_back(event.clone());
                    }
                }
                if let Some(last) = batch.last() {
                    self.cursor = self.cursor.max(last.revision());
                }
                Ok(())
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                // The channel dropped batches this watcher had not read: fetch
                // them from history, then carry on with what the channel kept.
                tracing::debug!(
                    missed,
                    cursor = self.cursor,
                    "watcher lagged; replaying history"
                );
                self.replay = Some(None);
                Ok(())
            }
            Err(broadcast::error::RecvError::Closed) => Err(Error::Closed),
        }
    }

    /// Read the next page of history after the cursor into the buffer.
    async fn replay_page(&mut self) -> Result<()> {
        let cursor = self.cursor;
        let upto = self.replay.flatten();
        let keys = self.keys.clone();
        let (events, upto) = self
            .reads
            .read(move |tx, snap| {
                if cursor < snap.compacted {
                    return Err(Error::Compacted {
                        requested: cursor + 1,
                        compacted: snap.compacted,
                    });
                }
                let upto = upto.unwrap_or(snap.current);
                let sql = if keys.end.is_some() {
                    "SELECT h.rev, h.key, h.deleted, h.create_rev, h.version, h.value, \
                            p.rev, p.create_rev, p.version, p.value \
                     FROM history AS h LEFT JOIN history AS p ON p.rev = h.prev_rev \
                     WHERE h.rev > ?1 AND h.rev <= ?2 AND h.key >= ?3 AND h.key < ?4 \
                     ORDER BY h.rev LIMIT ?5"
                } else {
                    "SELECT h.rev, h.key, h.deleted, h.create_rev, h.version, h.value, \
                            p.rev, p.create_rev, p.version, p.value \
                     FROM history AS h LEFT JOIN history AS p ON p.rev = h.prev_rev \
                     WHERE h.rev > ?1 AND h.rev <= ?2 AND h.key >= ?3 AND ?4 IS NULL \
                     ORDER BY h.rev LIMIT ?5"
                };
                let mut stmt = tx
                    .prepare_cached(sql)
                    .map_err(sqlite("preparing a watch replay"))?;
                let rows = stmt
                    .query_map(
                        params![cursor, upto, keys.start, keys.end, REPLAY_PAGE],
                        history_event,
                    )
                    .map_err(sqlite("replaying history"))?;
                let mut events = Vec::new();
                for row in rows {
                    events.push(row.map_err(sqlite("replaying history"))?);
                }
                Ok((events, upto))
            })
            .await?;
        let full = events.len() as i64 >= REPLAY_PAGE;
        match events.last() {
            Some(last) if full => {
                self.cursor = last.revision();
                self.replay = Some(Some(upto));
            }
            _ => {
                self.cursor = self.cursor.max(upto);
                self.replay = None;
            }
        }
        self.buffer.extend(events);
        Ok(())
    }
}

fn history_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let key: String = row.get(1)?;
    let deleted: bool = row.get(2)?;
    let prev = match row.get::<_, Option<i64>>(6)? {
        Some(mod_revision) => Some(KeyValue {
            key: key.clone(),
            create_revision: row.get(7)?,
            mod_revision,
            version: row.get(8)?,
            value: Bytes::from(row.get::<_, Vec<u8>>(9)?),
        }),
        None => None,
    };
    Ok(Event {
        kind: if deleted {
            EventType::Delete
        } else {
            EventType::Put
        },
        kv: KeyValue {
            key,
            create_revision: row.get(3)?,
            mod_revision: row.get(0)?,
            version: row.get(4)?,
            value: Bytes::from(row.get::<_, Vec<u8>>(5)?),
        },
        prev,
    })
}

#[cfg(test)]
mod tests;
