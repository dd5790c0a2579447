//! Crash consistency: every write the store acknowledged survives kill -9 of the
//! process, and the revision counter stays monotonic across the crash.
//!
//! The test binary re-executes itself as the writer: `crash_writer_child` does
//! nothing unless the parent set `CHILD_DB`, in which case it writes keys until
//! killed and prints each acknowledged one.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use bytes::Bytes;
use skiff_store::{SqliteStore, Store};

const CHILD_DB: &str = "SKIFF_STORE_CRASH_CHILD_DB";
const CHILD_PREFIX: &str = "SKIFF_STORE_CRASH_CHILD_PREFIX";
const WRITERS: usize = 8;

#[test]
fn crash_writer_child() {
    let (Ok(db), Ok(prefix)) = (std::env::var(CHILD_DB), std::env::var(CHILD_PREFIX)) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let store = SqliteStore::open_default(&db).expect("open store");
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let store = store.clone();
            let prefix = prefix.clone();
            // Concurrent writers so the kill lands with batches in flight.
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("{prefix}/{writer}/{i}");
                    let value = format!("value of {key}");
                    let created = store
                        .create(&key, Bytes::from(value.clone()))
                        .await
                        .expect("create");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {} {key} {value}", created.mod_revision).expect("stdout");
                    out.flush().expect("stdout");
                }
            }));
        }
        for task in tasks {
            task.await.expect("writer");
        }
    });
}

/// Run the writer child until it acknowledged `acks` writes, SIGKILL it and
/// return every write it acknowledged (key -> (revision, value)).
fn write_until_killed(db: &Path, prefix: &str, acks: usize) -> BTreeMap<String, (i64, String)> {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([
            "crash_writer_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, db)
        .env(CHILD_PREFIX, prefix)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn writer child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut acked = BTreeMap::new();
    let parse = |line: String, acked: &mut BTreeMap<String, (i64, String)>| {
        let Some(rest) = line.strip_prefix("ACK ") else {
            return;
        };
        let mut parts = rest.splitn(3, ' ');
        let (Some(rev), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            // A line cut by the kill was never fully acknowledged to us.
            return;
        };
        if value != format!("value of {key}") {
            return;
        }
        let rev: i64 = rev.parse().expect("revision");
        acked.insert(key.to_owned(), (rev, value.to_owned()));
    };
    while acked.len() < acks {
        let line = lines
            .next()
            .expect("child exited before enough writes")
            .expect("read child stdout");
        parse(line, &mut acked);
    }
    child.kill().expect("kill child");
    child.wait().expect("reap child");
    // Acknowledgements already in the pipe count too: the child saw them succeed.
    for line in lines.map_while(Result::ok) {
        parse(line, &mut acked);
    }
    acked
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store.db");
    let mut all = BTreeMap::new();
    for round in 0..2 {
        let acked = write_until_killed(&db, &format!("/round{round}"), 400);
        assert!(acked.len() >= 400);
        all.extend(acked);

        let store = SqliteStore::open_default(&db).expect("reopen after kill");
        let newest = all.values().map(|(rev, _)| *rev).max().unwrap_or(1);
        let current = store.current_revision().await.expect("revision");
        assert!(
            current >= newest,
            "current revision {current} < acknowledged {newest}"
        );
        for (key, (rev, value)) in &all {
            let kv = store
                .get(key, None)
                .await
                .expect("get")
                .unwrap_or_else(|| panic!("acknowledged key {key} lost"));
            assert_eq!(kv.value, value.as_bytes(), "value of {key}");
            assert_eq!(kv.mod_revision, *rev, "revision of {key}");
        }
        // After the crash the counter moves on; no revision is handed out twice.
        let next = store
            .create(&format!("/after{round}"), Bytes::from_static(b"x"))
            .await
            .expect("write after restart");
        assert_eq!(next.mod_revision, current + 1);
    }
}
