//! What one acknowledged write costs the SQLite store: concurrent clients
//! create ~3 KB JSON values under distinct keys and update each twice (about
//! what a pod costs the store in the scheduling benchmark: create, binding,
//! status), with `Synchronous::Full` as the server runs it. Reports, per run
//! and as the median of the runs:
//!
//! - writes/s and the store's commits (fsynced batches) per write;
//! - CPU time per write of the whole process and of the writer thread alone;
//! - fsync and pwrite64 syscalls per write, counted by `perf stat` attached to
//!   this process during the measured phase (skipped if `perf` is missing or
//!   not permitted; `SKIFF_BENCH_PERF=0` skips it too);
//! - write latency p50/p99.
//!
//! Without `<clients>`, three scenarios run (see `main`). The maintenance
//! thread's checkpoint interval can be overridden with
//! `SKIFF_BENCH_CHECKPOINT_MS`.
//!
//! The store lives in a temporary directory under `$TMPDIR` (or the directory
//! in `SKIFF_BENCH_DIR`); it must be on a real disk, not tmpfs, so an fsync
//! costs what it costs. Run it with:
//!
//! ```text
//! cargo bench -p skiff-store --bench sqlite_writes [-- <seconds> <runs> [<clients> [<rate>]]]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails by panicking

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use skiff_store::{SqliteOptions, SqliteStore, Store};

/// Updates after each create: a pod's binding and its first status.
const UPDATES_PER_KEY: usize = 2;

/// CPU time this process has used so far.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own and reads nothing else.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time (user + system) of the store's writer thread so far, from
/// `/proc/self/task/*/stat` (clock-tick resolution, fine over seconds).
fn writer_cpu() -> Option<Duration> {
    // SAFETY: sysconf only reads a system constant.
    #[allow(unsafe_code)]
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim() != "skiff-store-wri" && comm.trim() != "skiff-store-writer" {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).ok()?;
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        return Some(Duration::from_secs_f64(
            (utime + stime) as f64 / ticks as f64,
        ));
    }
    None
}

/// A JSON value of about 3 KB that names its key and version, like a pod.
fn value(key: &str, version: usize) -> Bytes {
    let filler = "x".repeat(2900);
    Bytes::from(format!(
        r#"{{"metadata":{{"name":"{key}","version":{version}}},"spec":{{"filler":"{filler}"}}}}"#
    ))
}

/// `perf stat` attached to this process, counting syscalls until stopped.
struct SyscallCounter {
    child: Child,
}

const SYSCALLS: [&str; 4] = [
    "syscalls:sys_enter_fsync",
    "syscalls:sys_enter_fdatasync",
    "syscalls:sys_enter_pwrite64",
    "syscalls:sys_enter_pread64",
];

impl SyscallCounter {
    fn start() -> Option<Self> {
        if std::env::var("SKIFF_BENCH_PERF").is_ok_and(|v| v == "0") {
            return None;
        }
        let child = Command::new("perf")
            .args(["stat", "-x", ",", "-e", &SYSCALLS.join(","), "-p"])
            .arg(std::process::id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        // perf needs a moment to attach to every thread.
        std::thread::sleep(Duration::from_millis(500));
        Some(Self { child })
    }

    /// Stop counting; (fsync + fdatasync, pwrite64, pread64), or None if perf
    /// failed.
    fn stop(self) -> Option<(u64, u64, u64)> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().ok()?;
        let output = self.child.wait_with_output().ok()?;
        let text = String::from_utf8_lossy(&output.stderr);
        let count = |event: &str| -> Option<u64> {
            text.lines()
                .find(|line| line.contains(event))
                .and_then(|line| line.split(',').next())
                .and_then(|n| n.trim().parse().ok())
        };
        let syncs = count(SYSCALLS[0])? + count(SYSCALLS[1])?;
        Some((syncs, count(SYSCALLS[2])?, count(SYSCALLS[3])?))
    }
}

struct Run {
    writes: u64,
    writes_per_s: f64,
    commits_per_write: f64,
    cpu_us_per_write: f64,
    writer_cpu_us_per_write: Option<f64>,
    fsyncs_per_write: Option<f64>,
    pwrites_per_write: Option<f64>,
    preads_per_write: Option<f64>,
    p50_us: u64,
    p99_us: u64,
}

async fn run_once(seconds: u64, clients: usize, rate: u64) -> Run {
    let base = std::env::var("SKIFF_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let mut options = SqliteOptions::default();
    if let Some(interval) = std::env::var("SKIFF_BENCH_CHECKPOINT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        options.checkpoint_interval = Duration::from_millis(interval);
    }
    let store = SqliteStore::open(dir.path().join("store.db"), options).expect("open store");
    let store = Arc::new(store);

    // Warm up (page cache, statement caches, WAL file size) before measuring.
    for i in 0..200 {
        let key = format!("/registry/pods/warmup/{i}");
        store.create(&key, value(&key, 0)).await.expect("create");
    }

    let counter = SyscallCounter::start();
    let stats0 = store.stats();
    let (cpu0, writer0, wall0) = (process_cpu(), writer_cpu(), Instant::now());
    let deadline = wall0 + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for client in 0..clients {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::new();
            let mut record = |started: Instant| {
                latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            };
            // Paced: this client's share of `rate`, the clients' ticks spread
            // evenly over one period so writes arrive steadily, not in bursts.
            let mut pace = (rate > 0).then(|| {
                let period = Duration::from_secs_f64(clients as f64 / rate as f64);
                let offset = period.mul_f64(client as f64 / clients as f64);
                let mut interval =
                    tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                interval
            });
            let mut i = 0;
            while Instant::now() < deadline {
                let key = format!("/registry/pods/bench/{client}-{i}");
                if let Some(pace) = &mut pace {
                    pace.tick().await;
                }
                let started = Instant::now();
                let mut kv = store.create(&key, value(&key, 0)).await.expect("create");
                record(started);
                for version in 1..=UPDATES_PER_KEY {
                    if let Some(pace) = &mut pace {
                        pace.tick().await;
                    }
                    let started = Instant::now();
                    kv = store
                        .update(&key, value(&key, version), kv.mod_revision)
                        .await
                        .expect("update");
                    record(started);
                }
                i += 1;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    let wall = wall0.elapsed();
    let cpu = process_cpu() - cpu0;
    let writer = writer_cpu().zip(writer0).map(|(now, then)| now - then);
    let syscalls = counter.and_then(SyscallCounter::stop);
    let stats = store.stats();

    let writes = stats.writes - stats0.writes;
    assert_eq!(writes, latencies.len() as u64, "every write was timed");
    latencies.sort_unstable();
    let at = |q: f64| {
        u64::from(latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)])
    };
    let per_write = |x: f64| x / writes as f64;
    Run {
        writes,
        writes_per_s: writes as f64 / wall.as_secs_f64(),
        commits_per_write: per_write((stats.batches - stats0.batches) as f64),
        cpu_us_per_write: per_write(cpu.as_secs_f64() * 1e6),
        writer_cpu_us_per_write: writer.map(|w| per_write(w.as_secs_f64() * 1e6)),
        fsyncs_per_write: syscalls.map(|(s, _, _)| per_write(s as f64)),
        pwrites_per_write: syscalls.map(|(_, w, _)| per_write(w as f64)),
        preads_per_write: syscalls.map(|(_, _, r)| per_write(r as f64)),
        p50_us: at(0.5),
        p99_us: at(0.99),
    }
}

fn opt(x: Option<f64>, precision: usize) -> String {
    x.map_or_else(|| "-".to_owned(), |x| format!("{x:.precision$}"))
}

fn print(label: &str, r: &Run) {
    println!(
        "{label:>7}: {:>7} writes {:>7.0} writes/s  commits/write {:.3}  cpu {:>6.1} µs/write  writer cpu {:>6} µs/write  fsync/write {:>6}  pwrite64/write {:>6}  pread64/write {:>5}  latency p50 {} µs p99 {} µs",
        r.writes,
        r.writes_per_s,
        r.commits_per_write,
        r.cpu_us_per_write,
        opt(r.writer_cpu_us_per_write, 1),
        opt(r.fsyncs_per_write, 3),
        opt(r.pwrites_per_write, 2),
        opt(r.preads_per_write, 2),
        r.p50_us,
        r.p99_us,
    );
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn median_opt(xs: Vec<Option<f64>>) -> Option<f64> {
    xs.into_iter().collect::<Option<Vec<_>>>().map(median)
}

fn main() {
    // `cargo bench` passes `--bench`; positional numbers are ours.
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = args.first().copied().unwrap_or(5);
    let runs = args.get(1).copied().unwrap_or(3).max(1) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // (clients, rate): 32 clients writing back to back (throughput); 32
    // clients paced at the write rate the server's store saw in the
    // scheduling benchmark, where commits held only ~3 writes each; 4 clients
    // back to back (few closed-loop writers: nothing more arrives while their
    // batch waits).
    let scenarios = match (args.get(2), args.get(3)) {
        (Some(&clients), rate) => vec![(clients.max(1) as usize, rate.copied().unwrap_or(0))],
        (None, _) => vec![(32, 0), (32, 4400), (4, 0)],
    };
    for (clients, rate) in scenarios {
        let mode = match rate {
            0 => "back to back".to_owned(),
            rate => format!("paced at {rate} writes/s"),
        };
        println!("sqlite_writes: {clients} clients, {mode}, {seconds} s per run, {runs} runs");
        let results: Vec<Run> = (0..runs)
            .map(|i| {
                let run = runtime.block_on(run_once(seconds, clients, rate));
                print(&format!("run {}", i + 1), &run);
                run
            })
            .collect();
        print("median", &median_run(&results));
    }
}

fn median_run(results: &[Run]) -> Run {
    Run {
        writes: median(results.iter().map(|r| r.writes as f64).collect()) as u64,
        writes_per_s: median(results.iter().map(|r| r.writes_per_s).collect()),
        commits_per_write: median(results.iter().map(|r| r.commits_per_write).collect()),
        cpu_us_per_write: median(results.iter().map(|r| r.cpu_us_per_write).collect()),
        writer_cpu_us_per_write: median_opt(
            results.iter().map(|r| r.writer_cpu_us_per_write).collect(),
        ),
        fsyncs_per_write: median_opt(results.iter().map(|r| r.fsyncs_per_write).collect()),
        pwrites_per_write: median_opt(results.iter().map(|r| r.pwrites_per_write).collect()),
        preads_per_write: median_opt(results.iter().map(|r| r.preads_per_write).collect()),
        p50_us: median(results.iter().map(|r| r.p50_us as f64).collect()) as u64,
        p99_us: median(results.iter().map(|r| r.p99_us as f64).collect()) as u64,
    }
}
