//! `skiff sim`: flags and wiring of the simulated nodes (crate `skiff-agent`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use skiff_agent::sim::{self, SimConfig};

/// Flags of `skiff sim`.
#[derive(Args)]
pub struct SimArgs {
    /// Kubeconfig of the cluster the nodes join
    #[arg(long, env = "KUBECONFIG", value_name = "PATH")]
    kubeconfig: PathBuf,
    /// Number of simulated nodes
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Node names are <prefix><index>
    #[arg(long, default_value = "sim-", value_name = "PREFIX")]
    name_prefix: String,
    /// CPU capacity of each node
    #[arg(long, default_value = "32", value_name = "QUANTITY")]
    cpu: String,
    /// Memory capacity of each node
    #[arg(long, default_value = "256Gi", value_name = "QUANTITY")]
    memory: String,
    /// Pod capacity of each node
    #[arg(long, default_value_t = 110)]
    pods: u32,
    /// Extra node labels: key=value,...
    #[arg(long, default_value = "", value_name = "LABELS")]
    labels: String,
    /// Node taints: key[=value]:Effect,...
    #[arg(long, default_value = "", value_name = "TAINTS")]
    taints: String,
    /// Spread topology.kubernetes.io/zone over this many zones (0: no zone label)
    #[arg(long, default_value_t = 3)]
    zones: usize,
    /// Range the per-node pod CIDRs are cut from [default: 10.42.0.0/16 for up
    /// to 256 nodes, else 10.128.0.0/9]
    #[arg(long, value_name = "CIDR")]
    pod_cidr: Option<String>,
    /// Prefix length of each node's pod CIDR
    #[arg(long, default_value_t = 24, value_name = "BITS")]
    node_cidr_mask_size: u8,
    /// API writes in flight at once (pod statuses; leases)
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

pub async fn run(args: SimArgs) -> Result<()> {
    let config = SimConfig {
        nodes: args.nodes,
        name_prefix: args.name_prefix,
        cpu: Quantity(args.cpu),
        memory: Quantity(args.memory),
        pods: args.pods,
        labels: sim::parse_labels(&args.labels)?,
        taints: sim::parse_taints(&args.taints)?,
        zones: args.zones,
        pod_cidr: args
            .pod_cidr
            .as_deref()
            .map(str::parse)
            .transpose()
            .context("invalid --pod-cidr")?,
        node_cidr_mask_size: args.node_cidr_mask_size,
        concurrency: args.concurrency,
    };
    let path = &args.kubeconfig;
    let kubeconfig = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("failed to read kubeconfig {}", path.display()))?;
    let client_config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .with_context(|| format!("failed to load kubeconfig {}", path.display()))?;
    let client = kube::Client::try_from(client_config).context("failed to build the API client")?;
    let nodes = config.nodes;
    sim::run(client, config, crate::wait_for_signal(), |registered| {
        tracing::info!(nodes = registered.len(), "simulated nodes are ready");
        println!("skiff sim: {nodes} nodes ready");
    })
    .await
    .context("skiff sim failed")?;
    Ok(())
}
