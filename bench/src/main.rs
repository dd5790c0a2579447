//! `skiff-bench`: benchmarks of skiff against its peers. Each benchmark
//! prints a table for people on stdout and, last, one JSON line with every
//! figure; progress goes to stderr.

mod api;
mod apply;
mod client;
mod cluster;
mod density;
mod etcd;
mod process;
mod report;
mod rollout;
mod scheduling;
mod skiff;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "skiff-bench", about = "Benchmarks of skiff against its peers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// API server: create, get, update, list and watch of 1 KiB ConfigMaps over
    /// HTTPS, memory and cold start, beside etcd doing the same
    Api(ApiArgs),
    /// Writes of one Deployment of 10 containers: update, JSON merge patch,
    /// strategic merge patch (kubectl apply) and server-side apply
    Apply(ApplyArgs),
    /// The control plane at scale: a Deployment on `skiff sim` nodes scaled
    /// from 1 to 1000 replicas, then rolled to a new template
    Rollout(RolloutArgs),
    /// Scheduling throughput and latency: pods created in bulk on
    /// `skiff sim` nodes, watched until bound and Running
    Scheduling(SchedulingArgs),
    /// Density: ReplicaSets fill simulated nodes with pods; time to all
    /// Running, pod startup latency, LIST of all pods, memory
    Density(DensityArgs),
}

/// Which skiff is measured: shared by every benchmark.
#[derive(Args)]
struct SkiffArgs {
    /// The skiff binary [default: `skiff` next to this binary]
    #[arg(long, value_name = "PATH")]
    skiff_bin: Option<PathBuf>,
}

impl SkiffArgs {
    fn resolve(self) -> Result<PathBuf> {
        let skiff_bin = match self.skiff_bin {
            Some(path) => path,
            None => {
                let me = std::env::current_exe().context("failed to find this binary's path")?;
                let dir = me.parent().context("this binary has no parent directory")?;
                dir.join("skiff")
            }
        };
        if !skiff_bin.is_file() {
            anyhow::bail!(
                "no skiff binary at {} (build it: cargo build --release -p skiff, or pass --skiff-bin)",
                skiff_bin.display()
            );
        }
        Ok(skiff_bin)
    }
}

#[derive(Args)]
struct ApiArgs {
    #[command(flatten)]
    skiff: SkiffArgs,
    /// The etcd binary (Debian package etcd-server)
    #[arg(long, value_name = "PATH", default_value = "etcd")]
    etcd_bin: PathBuf,
    /// Measure skiff alone
    #[arg(long)]
    no_etcd: bool,
    /// Objects created and listed
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(10..=100_000))]
    objects: u64,
    /// Concurrent clients of the parallel runs
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(2..=256))]
    clients: u64,
    /// Fresh starts timed for the cold-start median
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=50))]
    cold_starts: u64,
}

#[derive(Args)]
struct ApplyArgs {
    #[command(flatten)]
    skiff: SkiffArgs,
    /// Writes per verb
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=100_000))]
    iterations: u64,
}

#[derive(Args)]
struct RolloutArgs {
    #[command(flatten)]
    skiff: SkiffArgs,
    /// Simulated nodes (`skiff sim --nodes`)
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=5_000))]
    nodes: u64,
    /// Replicas the Deployment is scaled to
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(2..=50_000))]
    replicas: u64,
}

#[derive(Args)]
struct SchedulingArgs {
    #[command(flatten)]
    skiff: SkiffArgs,
    /// An extra `skiff server` flag, e.g. --server-arg=--disable-controllers
    /// (repeatable)
    #[arg(long = "server-arg", value_name = "FLAG", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Simulated nodes
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=20_000))]
    nodes: u64,
    /// Pods created
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=500_000))]
    pods: u64,
    /// Pods created and bound before the measured phase (scheduler_perf's
    /// initPods), not counted in the figures
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=500_000))]
    init_pods: u64,
    /// Concurrent clients creating pods
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=256))]
    clients: u64,
    /// The nodes' and pods' shape, after scheduler_perf's test cases
    #[arg(long, value_enum, default_value_t = scheduling::Scenario::Basic)]
    scenario: scheduling::Scenario,
}

#[derive(Args)]
struct DensityArgs {
    #[command(flatten)]
    skiff: SkiffArgs,
    /// An extra `skiff server` flag, e.g. --server-arg=--disable-controllers
    /// (repeatable)
    #[arg(long = "server-arg", value_name = "FLAG", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Simulated nodes
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=20_000))]
    nodes: u64,
    /// Pods in all
    #[arg(long, default_value_t = 150_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pods: u64,
    /// Replicas per ReplicaSet
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    per_set: u64,
    /// Seconds to wait for every pod to run
    #[arg(long, default_value_t = 1800, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    timeout: u64,
    /// Pods created (and deleted again) per second after the fill
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    churn_rate: u64,
    /// Seconds of churn after the fill (0: none)
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3_600))]
    churn_secs: u64,
}

/// The table, then the JSON line last.
fn print(table: &str, json: &str) {
    println!("{table}");
    println!("{json}");
}

async fn api(args: ApiArgs) -> Result<()> {
    let opts = api::Options {
        skiff_bin: args.skiff.resolve()?,
        etcd_bin: (!args.no_etcd).then_some(args.etcd_bin),
        objects: args.objects as usize,
        clients: args.clients as usize,
        cold_starts: args.cold_starts as usize,
        list_runs: 5,
        watch_objects: 2_000,
    };
    let mut figures = api::run(&opts).await?;
    let (table, json) = report::render(&mut figures, opts.clients, opts.objects);
    print(&table, &json);
    Ok(())
}

async fn apply(args: ApplyArgs) -> Result<()> {
    let opts = apply::Options {
        skiff_bin: args.skiff.resolve()?,
        iterations: args.iterations as usize,
    };
    let figures = apply::run(&opts).await?;
    print(&apply::render(&figures), &figures.json());
    Ok(())
}

async fn rollout(args: RolloutArgs) -> Result<()> {
    let opts = rollout::Options {
        skiff_bin: args.skiff.resolve()?,
        nodes: args.nodes as usize,
        replicas: args.replicas as usize,
    };
    let figures = rollout::run(&opts).await?;
    print(&rollout::render(&figures), &figures.json());
    Ok(())
}

async fn scheduling(args: SchedulingArgs) -> Result<()> {
    let opts = scheduling::Options {
        skiff_bin: args.skiff.resolve()?,
        server_args: args.server_args,
        nodes: args.nodes as usize,
        init_pods: args.init_pods as usize,
        pods: args.pods as usize,
        clients: args.clients as usize,
        scenario: args.scenario,
    };
    let figures = scheduling::run(&opts).await?;
    print(&scheduling::render(&figures), &figures.json());
    Ok(())
}

async fn density(args: DensityArgs) -> Result<()> {
    let opts = density::Options {
        skiff_bin: args.skiff.resolve()?,
        server_args: args.server_args,
        nodes: args.nodes as usize,
        pods: args.pods as usize,
        per_set: args.per_set as usize,
        limit: std::time::Duration::from_secs(args.timeout),
        churn_rate: args.churn_rate as usize,
        churn_secs: args.churn_secs,
    };
    let figures = density::run(&opts).await?;
    print(&density::render(&figures), &figures.json());
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Api(args) => api(args).await,
            Command::Apply(args) => apply(args).await,
            Command::Rollout(args) => rollout(args).await,
            Command::Scheduling(args) => scheduling(args).await,
            Command::Density(args) => density(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
