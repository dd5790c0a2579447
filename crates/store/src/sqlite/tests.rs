//! Unit tests of the SQLite backend: each opens a store in a temp dir.

// In a test, a panic on an unexpected error is the failure report.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tempfile::TempDir;

use super::{GET_LATEST, SqliteOptions, SqliteStore, prefix_end, range_sql};
use crate::{DynStore, Error, Event, EventType, KeyValue, RangeRequest, Store, WatchStream};

fn options() -> SqliteOptions {
    SqliteOptions {
        // Tests compact explicitly unless they test automatic compaction.
        compaction_interval: None,
        ..SqliteOptions::default()
    }
}

fn open_with(options: SqliteOptions) -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("store.db"), options).expect("open store");
    (dir, store)
}

fn open() -> (TempDir, SqliteStore) {
    open_with(options())
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn kv(key: &str, value: &str, create: i64, modified: i64, version: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: b(value),
        create_revision: create,
        mod_revision: modified,
        version,
    }
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

async fn next_event(stream: &mut WatchStream) -> Event {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("watch event within 5s")
        .expect("stream not ended")
        .expect("event, not error")
}

#[test]
fn prefix_end_bounds_exactly_the_prefix() {
    let cases = [
        ("", None),
        ("/registry/pods/", Some("/registry/pods0")),
        ("a", Some("b")),
        ("\u{D7FF}", Some("\u{E000}")),
        ("a\u{10FFFF}", Some("b")),
        ("\u{10FFFF}", None),
    ];
    for (prefix, want) in cases {
        assert_eq!(prefix_end(prefix).as_deref(), want, "prefix {prefix:?}");
    }
}

#[tokio::test]
async fn empty_store_is_at_revision_one() {
    let (_dir, store) = open();
    assert_eq!(store.current_revision().await.unwrap(), 1);
    assert_eq!(store.compacted_revision().await.unwrap(), 0);
    let created = store.create("/a", b("1")).await.unwrap();
    assert_eq!(created, kv("/a", "1", 2, 2, 1));
    assert_eq!(store.current_revision().await.unwrap(), 2);
}

/// One write or read and what it must answer, applied in order to one store.
enum Step {
    Create(&'static str, &'static str),
    Update(&'static str, &'static str, i64),
    Delete(&'static str, Option<i64>),
    Get(&'static str, Option<i64>),
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Kv(KeyValue),
    Deleted(KeyValue, i64),
    Missing,
    AlreadyExists,
    NotFound,
    Conflict(Option<i64>),
    Compacted,
    Future,
}

fn outcome(result: crate::Result<Outcome>) -> Outcome {
    match result {
        Ok(o) => o,
        Err(Error::AlreadyExists { .. }) => Outcome::AlreadyExists,
        Err(Error::NotFound { .. }) => Outcome::NotFound,
        Err(Error::Conflict { current, .. }) => Outcome::Conflict(current.map(|c| c.mod_revision)),
        Err(Error::Compacted { .. }) => Outcome::Compacted,
        Err(Error::FutureRevision { .. }) => Outcome::Future,
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[tokio::test]
async fn writes_and_reads_follow_etcd_rules() {
    use Outcome::*;
    use Step::*;
    let table: Vec<(&str, Step, Outcome)> = vec![
        ("create", Create("/k", "v1"), Kv(kv("/k", "v1", 2, 2, 1))),
        ("create existing", Create("/k", "x"), AlreadyExists),
        ("update", Update("/k", "v2", 2), Kv(kv("/k", "v2", 2, 3, 2))),
        ("update stale", Update("/k", "v3", 2), Conflict(Some(3))),
        ("update missing", Update("/nope", "v", 1), NotFound),
        ("get latest", Get("/k", None), Kv(kv("/k", "v2", 2, 3, 2))),
        (
            "get at create",
            Get("/k", Some(2)),
            Kv(kv("/k", "v1", 2, 2, 1)),
        ),
        ("get before create", Get("/k", Some(1)), Missing),
        ("get future", Get("/k", Some(4)), Future),
        ("delete stale", Delete("/k", Some(2)), Conflict(Some(3))),
        (
            "delete",
            Delete("/k", Some(3)),
            Deleted(kv("/k", "v2", 2, 3, 2), 4),
        ),
        ("delete again", Delete("/k", None), NotFound),
        ("get deleted", Get("/k", None), Missing),
        ("get at delete", Get("/k", Some(4)), Missing),
        (
            "get before delete",
            Get("/k", Some(3)),
            Kv(kv("/k", "v2", 2, 3, 2)),
        ),
        // A new incarnation starts over at version 1.
        ("recreate", Create("/k", "n"), Kv(kv("/k", "n", 5, 5, 1))),
        (
            "delete unconditional",
            Delete("/k", None),
            Deleted(kv("/k", "n", 5, 5, 1), 6),
        ),
        (
            "get old incarnation",
            Get("/k", Some(3)),
            Kv(kv("/k", "v2", 2, 3, 2)),
        ),
    ];
    let (_dir, store) = open();
    for (name, step, want) in table {
        let got = outcome(match step {
            Create(k, v) => store.create(k, b(v)).await.map(Outcome::Kv),
            Update(k, v, rev) => store.update(k, b(v), rev).await.map(Outcome::Kv),
            Delete(k, rev) => store
                .delete(k, rev)
                .await
                .map(|(kv, rev)| Outcome::Deleted(kv, rev)),
            Get(k, rev) => store
                .get(k, rev)
                .await
                .map(|kv| kv.map_or(Outcome::Missing, Outcome::Kv)),
        });
        assert_eq!(got, want, "step {name}");
    }
    // Failed writes take no revision.
    assert_eq!(store.current_revision().await.unwrap(), 6);
}

#[tokio::test]
async fn range_honours_prefix_start_limit_and_revision() {
    let (_dir, store) = open();
    for key in ["/a/1", "/a/2", "/a/3", "/a0", "/b/1"] {
        store.create(key, b(key)).await.unwrap();
    }
    // Revisions: /a/1=2, /a/2=3, /a/3=4, /a0=5, /b/1=6.
    store.update("/a/2", b("new"), 3).await.unwrap(); // 7
    store.delete("/a/3", None).await.unwrap(); // 8

    let range =
        |prefix: &str, start: Option<&str>, limit: usize, revision: Option<i64>| RangeRequest {
            prefix: prefix.to_owned(),
            start: start.map(str::to_owned),
            revision,
            limit,
        };
    struct Case {
        name: &'static str,
        req: RangeRequest,
        keys: Vec<&'static str>,
        more: bool,
        revision: i64,
    }
    let cases = vec![
        Case {
            name: "prefix",
            req: range("/a/", None, 0, None),
            keys: vec!["/a/1", "/a/2"],
            more: false,
            revision: 8,
        },
        Case {
            name: "all",
            req: range("", None, 0, None),
            keys: vec!["/a/1", "/a/2", "/a0", "/b/1"],
            more: false,
            revision: 8,
        },
        Case {
            name: "limit",
            req: range("/", None, 2, None),
            keys: vec!["/a/1", "/a/2"],
            more: true,
            revision: 8,
        },
        Case {
            name: "limit exact",
            req: range("/a/", None, 2, None),
            keys: vec!["/a/1", "/a/2"],
            more: false,
            revision: 8,
        },
        Case {
            name: "start",
            req: range("/", Some("/a/2"), 2, None),
            keys: vec!["/a/2", "/a0"],
            more: true,
            revision: 8,
        },
        Case {
            name: "start last page",
            req: range("/", Some("/a0"), 2, None),
            keys: vec!["/a0", "/b/1"],
            more: false,
            revision: 8,
        },
        Case {
            name: "at revision",
            req: range("/a/", None, 0, Some(4)),
            keys: vec!["/a/1", "/a/2", "/a/3"],
            more: false,
            revision: 4,
        },
        Case {
            name: "at revision limit",
            req: range("/a/", None, 1, Some(7)),
            keys: vec!["/a/1"],
            more: true,
            revision: 7,
        },
        Case {
            name: "at revision start",
            req: range("/a/", Some("/a/2"), 0, Some(7)),
            keys: vec!["/a/2", "/a/3"],
            more: false,
            revision: 7,
        },
        Case {
            name: "at revision all",
            req: range("", None, 0, Some(3)),
            keys: vec!["/a/1", "/a/2"],
            more: false,
            revision: 3,
        },
        Case {
            name: "current revision given",
            req: range("/a/", None, 0, Some(8)),
            keys: vec!["/a/1", "/a/2"],
            more: false,
            revision: 8,
        },
    ];
    for case in cases {
        let got = store.range(case.req).await.unwrap();
        assert_eq!(keys(&got.kvs), case.keys, "case {}", case.name);
        assert_eq!(got.more, case.more, "case {}", case.name);
        assert_eq!(got.revision, case.revision, "case {}", case.name);
    }

    // Values and revisions at an old revision are those of that time.
    let old = store.range(range("/a/2", None, 0, Some(6))).await.unwrap();
    assert_eq!(old.kvs, vec![kv("/a/2", "/a/2", 3, 3, 1)]);
    let new = store.range(range("/a/2", None, 0, None)).await.unwrap();
    assert_eq!(new.kvs, vec![kv("/a/2", "new", 3, 7, 2)]);

    // Once the delete is history, reads at its revision come from `history`.
    store.create("/z", b("z")).await.unwrap(); // 9
    for (revision, want) in [(8, vec!["/a/1", "/a/2"]), (7, vec!["/a/1", "/a/2", "/a/3"])] {
        let got = store
            .range(range("/a/", None, 0, Some(revision)))
            .await
            .unwrap();
        assert_eq!(keys(&got.kvs), want, "at {revision}");
    }
    let all = store.range(range("", None, 2, Some(8))).await.unwrap();
    assert_eq!((keys(&all.kvs), all.more), (vec!["/a/1", "/a/2"], true));

    assert_eq!(store.count("/a/").await.unwrap(), 2);
    assert_eq!(store.count("").await.unwrap(), 5);
    assert!(matches!(
        store.range(range("/a/", None, 0, Some(10))).await,
        Err(Error::FutureRevision {
            requested: 10,
            current: 9
        })
    ));
}

#[tokio::test]
async fn compaction_drops_old_revisions_but_keeps_reads_at_or_after_it() {
    let (dir, store) = open();
    store.create("/k", b("v1")).await.unwrap(); // 2
    store.update("/k", b("v2"), 2).await.unwrap(); // 3
    store.create("/gone", b("x")).await.unwrap(); // 4
    store.delete("/gone", None).await.unwrap(); // 5
    store.create("/other", b("o")).await.unwrap(); // 6
    store.update("/k", b("v3"), 3).await.unwrap(); // 7

    assert!(matches!(
        store.compact(8).await,
        Err(Error::FutureRevision {
            requested: 8,
            current: 7
        })
    ));
    store.compact(6).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), 6);
    // Compacting to an older revision is a no-op.
    store.compact(3).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), 6);

    assert!(matches!(
        store.get("/k", Some(5)).await,
        Err(Error::Compacted {
            requested: 5,
            compacted: 6
        })
    ));
    let req = RangeRequest {
        prefix: "/".into(),
        revision: Some(5),
        ..Default::default()
    };
    assert!(matches!(
        store.range(req).await,
        Err(Error::Compacted { .. })
    ));

    // At the compacted revision every key reads as it was.
    assert_eq!(
        store.get("/k", Some(6)).await.unwrap(),
        Some(kv("/k", "v2", 2, 3, 2))
    );
    assert_eq!(store.get("/gone", Some(6)).await.unwrap(), None);
    let at = store
        .range(RangeRequest {
            prefix: "/".into(),
            revision: Some(6),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(keys(&at.kvs), vec!["/k", "/other"]);

    // Physically: /k@2 and the whole of /gone are gone; /k@3 (the newest /k at 6),
    // /other@6 and /k@7 remain.
    let conn = rusqlite::Connection::open(dir.path().join("store.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT rev FROM history ORDER BY rev")
        .unwrap();
    let revs: Vec<i64> = stmt
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(revs, vec![3, 6, 7]);

    // The next update's watch event still finds the value it replaced.
    let mut watch = store.watch("/k", 7).await.unwrap();
    store.update("/k", b("v4"), 7).await.unwrap();
    let event = next_event(&mut watch).await;
    assert_eq!(event.prev, Some(kv("/k", "v3", 2, 7, 3)));
}

#[tokio::test]
async fn watch_replays_history_then_goes_live_without_gap_or_duplicate() {
    let (_dir, store) = open();
    for i in 0..20 {
        store.create(&format!("/w/{i:02}"), b("h")).await.unwrap();
    }
    // Writes keep coming while the watch starts and replays.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 20..200 {
                store.create(&format!("/w/{i:03}"), b("l")).await.unwrap();
            }
        })
    };
    let after = 5;
    let mut watch = store.watch("/w/", after).await.unwrap();
    let mut expected = after + 1;
    while expected <= 201 {
        let event = next_event(&mut watch).await;
        assert_eq!(event.revision(), expected, "events in order, none missing");
        assert_eq!(event.kind, EventType::Put);
        expected += 1;
    }
    writer.await.unwrap();
    // Nothing more until the next write.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), watch.next())
            .await
            .is_err()
    );
    store.delete("/w/00", None).await.unwrap();
    let deleted = next_event(&mut watch).await;
    assert_eq!(deleted.kind, EventType::Delete);
    assert_eq!(deleted.revision(), 202);
    assert_eq!(deleted.prev, Some(kv("/w/00", "h", 2, 2, 1)));
}

#[tokio::test]
async fn watch_filters_by_prefix_and_carries_prev() {
    let (_dir, store) = open();
    let mut watch = store.watch("/pods/", 1).await.unwrap();
    store.create("/pods/a", b("1")).await.unwrap(); // 2
    store.create("/pods0", b("x")).await.unwrap(); // 3, outside the prefix
    store.create("/nodes/a", b("x")).await.unwrap(); // 4
    store.update("/pods/a", b("2"), 2).await.unwrap(); // 5
    store.delete("/pods/a", Some(5)).await.unwrap(); // 6

    let live: Vec<Event> = vec![
        next_event(&mut watch).await,
        next_event(&mut watch).await,
        next_event(&mut watch).await,
    ];
    let want = vec![
        Event {
            kind: EventType::Put,
            kv: kv("/pods/a", "1", 2, 2, 1),
            prev: None,
        },
        Event {
            kind: EventType::Put,
            kv: kv("/pods/a", "2", 2, 5, 2),
            prev: Some(kv("/pods/a", "1", 2, 2, 1)),
        },
        Event {
            kind: EventType::Delete,
            kv: KeyValue {
                key: "/pods/a".into(),
                value: Bytes::new(),
                create_revision: 0,
                mod_revision: 6,
                version: 0,
            },
            prev: Some(kv("/pods/a", "2", 2, 5, 2)),
        },
    ];
    assert_eq!(live, want);

    // The same events replayed from history are identical.
    let mut replay = store.watch("/pods/", 1).await.unwrap();
    let replayed = vec![
        next_event(&mut replay).await,
        next_event(&mut replay).await,
        next_event(&mut replay).await,
    ];
    assert_eq!(replayed, want);
}

#[tokio::test]
async fn watch_from_compacted_revision_fails() {
    let (_dir, store) = open();
    for i in 0..5 {
        store.create(&format!("/c/{i}"), b("v")).await.unwrap();
    }
    store.compact(4).await.unwrap();
    assert!(matches!(
        store.watch("/c/", 2).await,
        Err(Error::Compacted {
            requested: 3,
            compacted: 4
        })
    ));
    // From the compacted revision itself, the rest of history is there.
    let mut watch = store.watch("/c/", 4).await.unwrap();
    assert_eq!(next_event(&mut watch).await.revision(), 5);
    assert_eq!(next_event(&mut watch).await.revision(), 6);
}

#[tokio::test]
async fn lagging_watcher_refills_from_history() {
    let (_dir, store) = open_with(SqliteOptions {
        watch_buffer: 2,
        ..options()
    });
    let mut watch = store.watch("/", 1).await.unwrap();
    // Each awaited write is its own batch, so the channel overflows many times.
    for i in 0..100 {
        store.create(&format!("/l/{i:03}"), b("v")).await.unwrap();
    }
    for rev in 2..=101 {
        assert_eq!(next_event(&mut watch).await.revision(), rev);
    }
}

#[tokio::test]
async fn lagging_watcher_past_compaction_ends_with_compacted() {
    let (_dir, store) = open_with(SqliteOptions {
        watch_buffer: 2,
        ..options()
    });
    let mut watch = store.watch("/", 1).await.unwrap();
    for i in 0..10 {
        store.create(&format!("/l/{i}"), b("v")).await.unwrap();
    }
    store.compact(11).await.unwrap();
    let item = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("item within 5s")
        .expect("an item");
    assert!(
        matches!(item, Err(Error::Compacted { compacted: 11, .. })),
        "{item:?}"
    );
    assert!(watch.next().await.is_none(), "an error ends the stream");
}

#[tokio::test]
async fn restart_keeps_revision_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let store = SqliteStore::open(&path, options()).unwrap();
        store.create("/a", b("1")).await.unwrap(); // 2
        store.create("/b", b("2")).await.unwrap(); // 3
        store.delete("/b", None).await.unwrap(); // 4
        store.compact(3).await.unwrap();
    }
    let store = SqliteStore::open(&path, options()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), 4);
    assert_eq!(store.compacted_revision().await.unwrap(), 3);
    assert_eq!(
        store.get("/a", None).await.unwrap(),
        Some(kv("/a", "1", 2, 2, 1))
    );
    assert_eq!(
        store.get("/b", Some(3)).await.unwrap(),
        Some(kv("/b", "2", 3, 3, 1))
    );
    assert_eq!(store.get("/b", None).await.unwrap(), None);
    // Revisions are never reused, not even that of the last delete.
    assert_eq!(store.create("/c", b("3")).await.unwrap().mod_revision, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_get_distinct_revisions_in_few_batches() {
    let (_dir, store) = open();
    let store: DynStore = Arc::new(store.clone());
    let before = store.current_revision().await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..50 {
                let created = store.create(&format!("/c/{t}/{i}"), b("v")).await.unwrap();
                revs.push(created.mod_revision);
            }
            revs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let revs = task.await.unwrap();
        // One client sees its own writes in increasing revision order.
        assert!(revs.windows(2).all(|w| w[0] < w[1]));
        all.extend(revs);
    }
    all.sort_unstable();
    let want: Vec<i64> = (before + 1..=before + 1600).collect();
    assert_eq!(all, want, "every revision used exactly once");
    assert_eq!(store.current_revision().await.unwrap(), before + 1600);
    assert_eq!(store.count("/c/").await.unwrap(), 1600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_batches_concurrent_writes_with_their_own_outcomes() {
    let (_dir, store) = open();
    let start = store.stats();
    // Many creates of the same key race: one wins, the rest fail on their own
    // without failing the batch they share.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let same = store.create("/same", b("v")).await;
            let own = store.create(&format!("/own/{i}"), b("v")).await;
            (
                same.is_ok(),
                matches!(same, Err(Error::AlreadyExists { .. })),
                own.is_ok(),
            )
        }));
    }
    let mut won = 0;
    for task in tasks {
        let (ok, exists, own) = task.await.unwrap();
        assert!(ok || exists);
        assert!(own);
        won += usize::from(ok);
    }
    assert_eq!(won, 1);
    let stats = store.stats();
    let writes = stats.writes - start.writes;
    let batches = stats.batches - start.batches;
    assert_eq!(writes, 400);
    assert!(batches < writes, "{batches} batches for {writes} writes");
}

#[tokio::test]
async fn automatic_compaction_keeps_the_history_window() {
    let (_dir, store) = open_with(SqliteOptions {
        min_history_revisions: 5,
        min_history_age: Duration::ZERO,
        compaction_interval: Some(Duration::from_millis(20)),
        ..SqliteOptions::default()
    });
    for i in 0..30 {
        store.create(&format!("/k/{i}"), b("v")).await.unwrap();
    }
    let current = store.current_revision().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let compacted = store.compacted_revision().await.unwrap();
        if compacted == current - 5 {
            break;
        }
        assert!(
            compacted < current - 5,
            "compacted {compacted} inside the window"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "no compaction to {}",
            current - 5
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The window is still readable, the revision before it is not.
    assert!(store.get("/k/0", Some(current - 5)).await.is_ok());
    assert!(matches!(
        store.get("/k/0", Some(current - 6)).await,
        Err(Error::Compacted { .. })
    ));
}

#[tokio::test]
async fn automatic_compaction_waits_for_the_history_age() {
    let (_dir, store) = open_with(SqliteOptions {
        min_history_revisions: 0,
        min_history_age: Duration::from_secs(3600),
        compaction_interval: Some(Duration::from_millis(10)),
        ..SqliteOptions::default()
    });
    for i in 0..10 {
        store.create(&format!("/k/{i}"), b("v")).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.compacted_revision().await.unwrap(), 0);
}

/// The schema of version 1 stores, which kept every live value twice (in
/// `current` and in `history`), as written before the value-once layout.
const SCHEMA_V1: &str = "
PRAGMA journal_mode = WAL;
CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE current (
    key TEXT PRIMARY KEY, create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL,
    version INTEGER NOT NULL, value BLOB NOT NULL
);
CREATE TABLE history (
    rev INTEGER PRIMARY KEY, key TEXT NOT NULL, deleted INTEGER NOT NULL,
    create_rev INTEGER NOT NULL, version INTEGER NOT NULL, value BLOB NOT NULL,
    prev_rev INTEGER
);
CREATE INDEX history_key_rev ON history (key, rev);
";

/// A version 1 file as the old writer left it (values are blobs): /a created at 2 and updated at
/// 3, /b created at 4 and deleted at 5, /c created at 6, history compacted to
/// 3 (the superseded row of /a at 2 swept away).
const DATA_V1: &str = "
INSERT INTO meta VALUES ('revision', 6), ('compacted', 3), ('swept', 3);
INSERT INTO history VALUES (3, '/a', 0, 2, 2, CAST('a2' AS BLOB), 2);
INSERT INTO history VALUES (4, '/b', 0, 4, 1, CAST('b1' AS BLOB), NULL);
INSERT INTO history VALUES (5, '/b', 1, 0, 0, X'', 4);
INSERT INTO history VALUES (6, '/c', 0, 6, 1, CAST('c1' AS BLOB), NULL);
INSERT INTO current VALUES ('/a', 2, 3, 2, CAST('a2' AS BLOB));
INSERT INTO current VALUES ('/c', 6, 6, 1, CAST('c1' AS BLOB));
";

fn schema_version(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT value FROM meta WHERE name = 'schema'", [], |row| {
        row.get(0)
    })
    .unwrap()
}

fn current_columns(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info('current')")
        .unwrap();
    stmt.query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[tokio::test]
async fn version_1_file_is_migrated_in_place_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        conn.execute_batch(DATA_V1).unwrap();
    }
    let store = SqliteStore::open(&path, options()).unwrap();
    assert_eq!(schema_version(&path), 2);
    assert_eq!(
        current_columns(&path),
        ["key", "create_rev", "mod_rev", "version"],
        "current no longer holds values"
    );
    assert_eq!(store.current_revision().await.unwrap(), 6);
    assert_eq!(store.compacted_revision().await.unwrap(), 3);

    // Latest revision: point reads, ranges and counts.
    assert_eq!(
        store.get("/a", None).await.unwrap(),
        Some(kv("/a", "a2", 2, 3, 2))
    );
    assert_eq!(store.get("/b", None).await.unwrap(), None);
    let latest = store
        .range(RangeRequest {
            prefix: "/".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        latest.kvs,
        [kv("/a", "a2", 2, 3, 2), kv("/c", "c1", 6, 6, 1)]
    );
    assert_eq!(store.count("/").await.unwrap(), 2);

    // Older revisions.
    assert_eq!(
        store.get("/b", Some(4)).await.unwrap(),
        Some(kv("/b", "b1", 4, 4, 1))
    );
    let at_4 = store
        .range(RangeRequest {
            prefix: "/".into(),
            revision: Some(4),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(at_4.kvs, [kv("/a", "a2", 2, 3, 2), kv("/b", "b1", 4, 4, 1)]);
    assert!(matches!(
        store.get("/a", Some(2)).await,
        Err(Error::Compacted { .. })
    ));

    // Watch from an old revision: history replays with previous values.
    let mut watch = store.watch("/", 3).await.unwrap();
    let created = next_event(&mut watch).await;
    assert_eq!(
        (created.kind, created.kv.clone()),
        (EventType::Put, kv("/b", "b1", 4, 4, 1))
    );
    assert_eq!(created.prev, None);
    let deleted = next_event(&mut watch).await;
    assert_eq!(deleted.kind, EventType::Delete);
    assert_eq!(deleted.revision(), 5);
    assert_eq!(deleted.prev, Some(kv("/b", "b1", 4, 4, 1)));
    assert_eq!(next_event(&mut watch).await.kv, kv("/c", "c1", 6, 6, 1));

    // The migrated store takes writes that see the old values as previous ones.
    let updated = store.update("/a", b("a3"), 3).await.unwrap();
    assert_eq!(updated, kv("/a", "a3", 2, 7, 3));
    let event = next_event(&mut watch).await;
    assert_eq!(event.prev, Some(kv("/a", "a2", 2, 3, 2)));
    assert!(matches!(
        store.create("/c", b("again")).await,
        Err(Error::AlreadyExists { .. })
    ));
    drop(watch);
    drop(store);

    // A second open finds version 2 and changes nothing.
    let store = SqliteStore::open(&path, options()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), 7);
    assert_eq!(
        store.get("/a", None).await.unwrap(),
        Some(kv("/a", "a3", 2, 7, 3))
    );
    assert_eq!(
        store.get("/a", Some(6)).await.unwrap(),
        Some(kv("/a", "a2", 2, 3, 2))
    );
}

#[tokio::test]
async fn migration_rebuilds_a_missing_value_row_from_current() {
    // Not something the old writer left behind, but a migration must not
    // lose a live value whatever the history holds.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        conn.execute_batch(
            "INSERT INTO meta VALUES ('revision', 4), ('compacted', 4), ('swept', 4);
             INSERT INTO current VALUES ('/x', 2, 4, 3, CAST('x3' AS BLOB));",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, options()).unwrap();
    assert_eq!(
        store.get("/x", None).await.unwrap(),
        Some(kv("/x", "x3", 2, 4, 3))
    );
    assert_eq!(
        store.get("/x", Some(4)).await.unwrap(),
        Some(kv("/x", "x3", 2, 4, 3))
    );
}

#[tokio::test]
async fn newer_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path, options()).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("UPDATE meta SET value = 3 WHERE name = 'schema'", [])
            .unwrap();
    }
    let error = SqliteStore::open(&path, options()).unwrap_err();
    assert!(
        error.to_string().contains("schema version 3"),
        "unexpected error: {error}"
    );
}

/// Every live key's value is the history row at its mod revision: the one
/// invariant the value-once layout rests on. Compaction must keep that row
/// however the key was written (updated, deleted and recreated, untouched).
#[tokio::test]
async fn compaction_keeps_the_value_row_of_every_live_key() {
    let (dir, store) = open();
    let path = dir.path().join("store.db");
    for i in 0..50 {
        let key = format!("/k/{i:02}");
        let mut rev = store
            .create(&key, b(&format!("{i}-0")))
            .await
            .unwrap()
            .mod_revision;
        // Some keys change a few times, some are deleted, some recreated.
        for v in 1..=(i % 4) {
            rev = store
                .update(&key, b(&format!("{i}-{v}")), rev)
                .await
                .unwrap()
                .mod_revision;
        }
        if i % 5 == 0 {
            store.delete(&key, Some(rev)).await.unwrap();
        }
        if i % 10 == 0 {
            store.create(&key, b(&format!("{i}-again"))).await.unwrap();
        }
    }
    let before = store
        .range(RangeRequest {
            prefix: "/k/".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // Compact everything: only the newest row of each live key may remain.
    let current = store.current_revision().await.unwrap();
    store.compact(current).await.unwrap();

    let conn = rusqlite::Connection::open(&path).unwrap();
    let orphans: i64 = conn
        .query_row(
            "SELECT count(*) FROM current AS c WHERE NOT EXISTS (SELECT 1 FROM history AS h \
             WHERE h.rev = c.mod_rev AND h.key = c.key AND h.deleted = 0)",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0, "live keys without their value row");
    let (history, live): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM history), (SELECT count(*) FROM current)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(history, live, "the sweep dropped everything else");
    assert_eq!(live, 45, "5 deleted keys stay deleted");

    let after = store
        .range(RangeRequest {
            prefix: "/k/".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(after.kvs, before.kvs);
    for kv in &before.kvs {
        assert_eq!(store.get(&kv.key, None).await.unwrap().as_ref(), Some(kv));
        assert_eq!(
            store.get(&kv.key, Some(current)).await.unwrap().as_ref(),
            Some(kv)
        );
    }
    // Writes after the sweep still find the previous value.
    let first = &before.kvs[0];
    let mut watch = store.watch("/k/", current).await.unwrap();
    store
        .update(&first.key, b("after"), first.mod_revision)
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await.prev.as_ref(), Some(first));
}

/// Regression: SQLite re-prepares a statement whenever a parameter it
/// planned with is bound again: a join with `key = ?1`, a `LIMIT ?`. The
/// read statements must not be shaped so (that cost a fifth of the CPU).
#[tokio::test]
async fn read_statements_are_not_re_prepared_per_call() {
    let (_dir, store) = open_with(SqliteOptions {
        read_connections: 1,
        ..options()
    });
    for i in 0..20 {
        store.create(&format!("/r/{i:02}"), b("v")).await.unwrap();
    }
    let older = store.current_revision().await.unwrap() - 5;
    for i in 0..20 {
        let key = format!("/r/{i:02}");
        assert!(store.get(&key, None).await.unwrap().is_some());
        for revision in [None, Some(older)] {
            for (prefix, limit) in [("/r/", i % 7), ("", i % 5)] {
                store
                    .range(RangeRequest {
                        prefix: prefix.into(),
                        start: Some(key.clone()),
                        revision,
                        limit,
                    })
                    .await
                    .unwrap();
            }
        }
    }
    let idle = store.inner.reads.idle.lock().unwrap();
    assert_eq!(idle.len(), 1, "the one read connection is back in the pool");
    let conn = &idle[0];
    let statements = [
        GET_LATEST,
        range_sql(true, true),
        range_sql(true, false),
        range_sql(false, true),
        range_sql(false, false),
    ];
    for sql in statements {
        let stmt = conn.prepare_cached(sql).unwrap();
        assert!(
            stmt.get_status(rusqlite::StatementStatus::Run) >= 20,
            "statement not used: {sql}"
        );
        assert_eq!(
            stmt.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "re-prepared: {sql}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_keep_each_writes_outcome_and_revision() {
    let (_dir, store) = open_with(options());
    let before = store.current_revision().await.unwrap();
    let start = store.stats();
    let mut tasks = Vec::new();
    for client in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revisions = Vec::new();
            for i in 0..20 {
                let key = format!("/l/{client}/{i}");
                let created = store.create(&key, b("v0")).await.unwrap();
                // A stale update fails alone, without failing its batch.
                let stale = store.update(&key, b("x"), created.mod_revision - 1).await;
                assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
                let updated = store
                    .update(&key, b("v1"), created.mod_revision)
                    .await
                    .unwrap();
                assert_eq!(updated.version, 2);
                revisions.extend([created.mod_revision, updated.mod_revision]);
            }
            revisions
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    let want: Vec<i64> = (before + 1..=before + 640).collect();
    assert_eq!(all, want, "every revision used exactly once");
    assert_eq!(store.count("/l/").await.unwrap(), 320);
    assert_eq!(
        store.get("/l/7/19", None).await.unwrap().map(|kv| kv.value),
        Some(b("v1"))
    );
    let stats = store.stats();
    assert_eq!(stats.writes - start.writes, 960);
    assert!(stats.batches - start.batches < 960);
}
