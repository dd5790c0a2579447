//! Measures the scheduling algorithm alone (no API server): N nodes, M pods,
//! each decision assumed in the cache as the scheduler does.
//!
//! `cargo run --release -p skiff-scheduler --example throughput -- 5000 20000`

use std::time::Instant;

use k8s_openapi::api::core::v1::{
    Container, Node, NodeSpec, NodeStatus, Pod, PodSpec, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rand::SeedableRng;
use skiff_scheduler::cache::Cache;
use skiff_scheduler::config::Config;
use skiff_scheduler::pod_info::PodInfo;
use skiff_scheduler::schedule_one::{Algorithm, NoNominations};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let nodes = args.first().copied().unwrap_or(5000);
    let pods = args.get(1).copied().unwrap_or(20000);
    let mut cache = Cache::default();
    for i in 0..nodes {
        let alloc = [("cpu", "32"), ("memory", "256Gi"), ("pods", "110")]
            .iter()
            .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
            .collect();
        cache.add_or_update_node(Node {
            metadata: ObjectMeta {
                name: Some(format!("node-{i}")),
                labels: Some(
                    [
                        ("kubernetes.io/hostname".to_string(), format!("node-{i}")),
                        (
                            "topology.kubernetes.io/zone".to_string(),
                            format!("zone-{}", i % 3),
                        ),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            spec: Some(NodeSpec::default()),
            status: Some(NodeStatus {
                allocatable: Some(alloc),
                ..Default::default()
            }),
        });
    }
    let config = Config::default();
    let fw = &config.profiles[0];
    let mut algo = Algorithm::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let infos: Vec<PodInfo> = (0..pods)
        .map(|i| {
            PodInfo::new(Pod {
                metadata: ObjectMeta {
                    name: Some(format!("pod-{i}")),
                    namespace: Some("default".into()),
                    uid: Some(format!("uid-{i}")),
                    labels: Some([("app".to_string(), "bench".to_string())].into()),
                    ..Default::default()
                },
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "c".into(),
                        image: Some("busybox".into()),
                        resources: Some(ResourceRequirements {
                            requests: Some(
                                [("cpu", "100m"), ("memory", "128Mi")]
                                    .iter()
                                    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                                    .collect(),
                            ),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                status: None,
            })
        })
        .collect();
    let start = Instant::now();
    let mut bound = 0;
    for p in &infos {
        let (res, _) = algo.schedule(fw, &cache.snapshot, &NoNominations, p, 0, &mut rng);
        if let Ok(r) = res {
            cache.assume(p, &r.node);
            bound += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"nodes\":{nodes},\"pods\":{pods},\"bound\":{bound},\"seconds\":{secs:.3},\"pods_per_second\":{:.0}}}",
        bound as f64 / secs
    );
}
