//! `skiff`: a Kubernetes-compatible cluster in one binary. This crate is only
//! the command line, the configuration file and the wiring of the components.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

/// mimalloc instead of glibc's malloc: the server allocates and frees a
/// great many small buffers per request and watch event, from many threads;
/// with glibc a quarter of the server's CPU went to malloc/free and arena
/// locks, and freed memory stayed fragmented (BENCHMARKS.md). Built with
/// `no_thp`: transparent huge pages under its arenas made the idle server's
/// anonymous memory 25 MiB instead of 8.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod sim;

#[derive(Parser)]
#[command(
    name = "skiff",
    version,
    about = "A Kubernetes-compatible cluster in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server, store, scheduler and controllers (a node agent once it exists).
    Server(ServerArgs),
    /// Run simulated nodes (no containers) against a cluster, like kwok.
    Sim(sim::SimArgs),
}

/// Flags of `skiff server`; names follow k3s. Each may also be set in the
/// config file under the same name; a flag on the command line wins.
#[derive(Args, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ServerArgs {
    /// Config file with the same keys as the flags
    #[arg(long, short = 'c', env = "SKIFF_CONFIG_FILE", value_name = "PATH")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Folder for state: database, certificates, kubeconfig [default: /var/lib/skiff]
    #[arg(long, short = 'd', value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// HTTPS port of the API server [default: 6443]
    #[arg(long, value_name = "PORT")]
    https_listen_port: Option<u16>,
    /// Address the API server listens on [default: 0.0.0.0]
    #[arg(long, value_name = "IP")]
    bind_address: Option<IpAddr>,
    /// Extra hostname or IP in the serving certificate (repeatable)
    #[arg(long, value_name = "NAME")]
    #[serde(default)]
    tls_san: Vec<String>,
    /// Also write the admin kubeconfig here
    #[arg(long, short = 'o', value_name = "PATH")]
    write_kubeconfig: Option<PathBuf>,
    /// Do not run a node agent on this machine (accepted as k3s does; the
    /// container agent is not built yet, so no server runs one)
    #[arg(long)]
    #[serde(default)]
    disable_agent: bool,
    /// Do not run the controllers (kube-controller-manager) in this server
    #[arg(long)]
    #[serde(default)]
    disable_controllers: bool,
    /// Do not run the scheduler in this server
    #[arg(long)]
    #[serde(default)]
    disable_scheduler: bool,
    /// KubeSchedulerConfiguration file (profiles, plugin weights, percentageOfNodesToScore)
    #[arg(long, value_name = "PATH")]
    scheduler_config: Option<PathBuf>,
    /// Pod network range [default: 10.42.0.0/16]
    #[arg(long, value_name = "CIDR")]
    cluster_cidr: Option<String>,
    /// Service cluster IP range [default: 10.43.0.0/16]
    #[arg(long, value_name = "CIDR")]
    service_cidr: Option<String>,
    /// Cluster DNS service IP [default: 10.43.0.10]
    #[arg(long, value_name = "IP")]
    cluster_dns: Option<IpAddr>,
    /// Cluster domain [default: cluster.local]
    #[arg(long, value_name = "DOMAIN")]
    cluster_domain: Option<String>,
    /// External datastore (etcd URL); the embedded SQLite store when unset
    #[arg(long, value_name = "URL")]
    datastore_endpoint: Option<String>,
    /// Shared secret agents join with
    #[arg(long, short = 't', env = "SKIFF_TOKEN", value_name = "TOKEN")]
    token: Option<String>,
}

const DEFAULT_CONFIG: &str = "/etc/skiff/config.yaml";

impl ServerArgs {
    /// Fills what the command line left unset from the config file.
    fn merge(mut self, file: ServerArgs) -> ServerArgs {
        self.data_dir = self.data_dir.or(file.data_dir);
        self.https_listen_port = self.https_listen_port.or(file.https_listen_port);
        self.bind_address = self.bind_address.or(file.bind_address);
        if self.tls_san.is_empty() {
            self.tls_san = file.tls_san;
        }
        self.write_kubeconfig = self.write_kubeconfig.or(file.write_kubeconfig);
        self.disable_agent |= file.disable_agent;
        self.disable_controllers |= file.disable_controllers;
        self.disable_scheduler |= file.disable_scheduler;
        self.scheduler_config = self.scheduler_config.or(file.scheduler_config);
        self.cluster_cidr = self.cluster_cidr.or(file.cluster_cidr);
        self.service_cidr = self.service_cidr.or(file.service_cidr);
        self.cluster_dns = self.cluster_dns.or(file.cluster_dns);
        self.cluster_domain = self.cluster_domain.or(file.cluster_domain);
        self.datastore_endpoint = self.datastore_endpoint.or(file.datastore_endpoint);
        self.token = self.token.or(file.token);
        self
    }
}

fn load_config(explicit: Option<&Path>) -> Result<ServerArgs> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if Path::new(DEFAULT_CONFIG).exists() => PathBuf::from(DEFAULT_CONFIG),
        None => return Ok(ServerArgs::default()),
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("failed to read config file {}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(ServerArgs::default());
    }
    serde_yaml::from_str(&text)
        .with_context(|| format!("failed to parse config file {}", path.display()))
}

async fn server(args: ServerArgs) -> Result<()> {
    let file = load_config(args.config.as_deref())?;
    let args = args.merge(file);
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("/var/lib/skiff"));
    let port = args.https_listen_port.unwrap_or(6443);
    let bind = args.bind_address.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let service_cidr: skiff_apiserver::allocator::Cidr = args
        .service_cidr
        .as_deref()
        .unwrap_or("10.43.0.0/16")
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))
        .context("invalid --service-cidr")?;
    if let Some(endpoint) = &args.datastore_endpoint {
        bail!(
            "--datastore-endpoint {endpoint}: only the embedded SQLite store is available in this build (the etcd backend is not implemented yet)"
        );
    }

    let db_dir = data_dir.join("server").join("db");
    std::fs::create_dir_all(&db_dir)
        .with_context(|| format!("failed to create {}", db_dir.display()))?;
    let store = skiff_store::SqliteStore::open_default(db_dir.join("state.db"))
        .with_context(|| format!("failed to open the store in {}", db_dir.display()))?;
    let store: skiff_store::DynStore = Arc::new(store);

    let config = skiff_apiserver::Config {
        tls_dir: data_dir.join("server").join("tls"),
        listen: SocketAddr::new(bind, port),
        tls_sans: args.tls_san.clone(),
        service_cidr,
    };
    let running = skiff_apiserver::server::start(config, store)
        .await
        .context("failed to start the API server")?;

    let host = if bind.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        bind
    };
    let url = match host {
        IpAddr::V6(ip) => format!("https://[{ip}]:{}", running.addr.port()),
        IpAddr::V4(ip) => format!("https://{ip}:{}", running.addr.port()),
    };
    let kubeconfig = skiff_apiserver::pki::kubeconfig_yaml(&url, &running.server.pki, "default");
    let mut paths = vec![data_dir.join("kubeconfig.yaml")];
    paths.extend(args.write_kubeconfig.clone());
    for path in &paths {
        skiff_apiserver::pki::write_kubeconfig(path, &kubeconfig)
            .with_context(|| format!("failed to write kubeconfig {}", path.display()))?;
    }
    if !args.disable_controllers {
        // The controllers' informers drop managedFields (as
        // kube-controller-manager's do), so the server need not send them.
        let loopback = running
            .loopback(
                component_user("system:kube-controller-manager"),
                "kube-controller-manager/v1.33.0 (linux/amd64) skiff",
            )
            .omitting_managed_fields();
        supervise(
            &running.server,
            "controller-manager",
            skiff_controllers::run(kube::Client::new(loopback, "default")),
        );
    }
    if !args.disable_scheduler {
        let scheduler_config = match &args.scheduler_config {
            Some(path) => skiff_scheduler::Config::from_file(path)
                .with_context(|| format!("invalid --scheduler-config {}", path.display()))?,
            None => skiff_scheduler::Config::default(),
        };
        // The scheduler drops managedFields of everything it watches.
        let loopback = running
            .loopback(
                component_user("system:kube-scheduler"),
                "kube-scheduler/v1.33.0 (linux/amd64) skiff",
            )
            .omitting_managed_fields();
        let client = kube::Client::new(loopback, "default");
        supervise(&running.server, "scheduler", async move {
            if let Err(e) =
                skiff_scheduler::run(client, scheduler_config, std::future::pending()).await
            {
                tracing::error!(error = %e, "the scheduler stopped");
            }
        });
    }
    tracing::info!(address = %running.addr, kubeconfig = %paths[0].display(), "skiff server is ready");
    println!("skiff server listening on {url}");
    println!(
        "kubeconfig: {}",
        paths
            .last()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );

    wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown();
    Ok(())
}

/// Runs an in-process component, reporting it healthy while it runs and
/// unhealthy once it stops or panics (`kubectl get componentstatuses`).
fn supervise(
    server: &std::sync::Arc<skiff_apiserver::ApiServer>,
    name: &'static str,
    component: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use skiff_apiserver::health::ComponentHealth;
    server.components.report(name, ComponentHealth::Healthy);
    let task = tokio::spawn(component);
    let server = server.clone();
    tokio::spawn(async move {
        let why = match task.await {
            Ok(()) => format!("{name} stopped"),
            Err(e) if e.is_panic() => format!("{name} panicked"),
            Err(_) => format!("{name} was cancelled"),
        };
        server
            .components
            .report(name, ComponentHealth::Unhealthy(why));
    });
}

/// The identity of an in-process component, named as upstream names it.
fn component_user(name: &str) -> skiff_apiserver::pki::UserInfo {
    skiff_apiserver::pki::UserInfo {
        name: name.to_string(),
        groups: vec!["system:authenticated".to_string()],
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // The simulated nodes run on one thread: their work is small JSON
    // requests and timers, and on a multi-threaded runtime waking tasks across
    // threads cost a quarter of the sim's CPU (futex and context switches) that
    // the API server next to it needs.
    let mut builder = match cli.command {
        Command::Server(_) => tokio::runtime::Builder::new_multi_thread(),
        Command::Sim(_) => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Server(args) => server(args).await,
            Command::Sim(args) => sim::run(args).await,
        }
    });
    // Open watches and blocking store reads must not hold the exit: every
    // acknowledged write is already durable.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
