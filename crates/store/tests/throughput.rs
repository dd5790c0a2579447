//! Rough write performance of the SQLite backend, printed rather than asserted
//! (machines differ): creates/s with 32 concurrent clients and one client's
//! create latency. Ignored by default; run with
//! `cargo test --release -p skiff-store --test throughput -- --ignored --nocapture`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use skiff_store::{DynStore, SqliteStore};

/// About the size of a small Kubernetes object as stored.
fn value() -> Bytes {
    Bytes::from(vec![b'x'; 1024])
}

fn open() -> (tempfile::TempDir, DynStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open_default(dir.path().join("store.db")).expect("open store");
    (dir, Arc::new(store))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark; prints numbers"]
async fn creates_per_second_with_32_clients() {
    let (_dir, store) = open();
    let per_client = 500;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_client {
                store
                    .create(&format!("/registry/configmaps/ns/{client}-{i}"), value())
                    .await
                    .expect("create");
            }
        }));
    }
    for task in tasks {
        task.await.expect("client");
    }
    let elapsed = started.elapsed();
    let total = 32 * per_client;
    println!(
        "{total} creates by 32 clients in {elapsed:?}: {:.0}/s",
        total as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark; prints numbers"]
async fn single_client_create_latency() {
    let (_dir, store) = open();
    let mut latencies: Vec<Duration> = Vec::new();
    for i in 0..2000 {
        let started = Instant::now();
        store
            .create(&format!("/registry/configmaps/ns/{i}"), value())
            .await
            .expect("create");
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "single client create: p50 {:?} p99 {:?} max {:?}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
