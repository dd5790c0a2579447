//! ImageLocality: prefers nodes that already have the pod's images, by their
//! size scaled by how many nodes have them (so an image everywhere counts
//! little), between 23 MB and 1000 MB per container.

use crate::cache::Snapshot;
use crate::framework::{CycleState, MAX_NODE_SCORE, ScorePlugin, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NAME: &str = "ImageLocality";

const MB: i64 = 1024 * 1024;
/// Below this the score is 0 (`minThreshold`).
pub const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container, above this the score is the maximum (`maxContainerThreshold`).
pub const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

pub struct ImageLocality;

#[derive(Clone)]
struct PreScoreState {
    total_nodes: usize,
    /// image → number of nodes that have it.
    spread: Vec<(String, usize)>,
}

impl ScorePlugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        // No node reports images: nothing to prefer.
        if snapshot.image_nodes.is_empty() || pod.images.is_empty() {
            return Status::skip();
        }
        let spread = pod
            .images
            .iter()
            .map(|i| (i.clone(), snapshot.image_nodes.get(i).copied().unwrap_or(0)))
            .collect();
        state.write(PreScoreState {
            total_nodes: snapshot.nodes.len(),
            spread,
        });
        Status::success()
    }

    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(st) = state.read::<PreScoreState>() else {
            return 0;
        };
        let mut sum: i64 = 0;
        for (image, num_nodes) in &st.spread {
            if let Some(size) = node.images.get(image) {
                // scaledImageScore
                let spread = *num_nodes as f64 / st.total_nodes.max(1) as f64;
                sum += (*size as f64 * spread) as i64;
            }
        }
        let max = MAX_CONTAINER_THRESHOLD * pod.images.len() as i64;
        let sum = sum.clamp(MIN_THRESHOLD, max.max(MIN_THRESHOLD));
        if max <= MIN_THRESHOLD {
            return 0;
        }
        MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::ContainerImage;

    fn node_with_images(name: &str, images: &[(&str, i64)]) -> NodeInfo {
        let mut n = node(name, &[], &[]);
        n.status.get_or_insert_default().images = Some(
            images
                .iter()
                .map(|(i, size)| ContainerImage {
                    names: Some(vec![i.to_string()]),
                    size_bytes: Some(*size),
                })
                .collect(),
        );
        node_info(n, vec![])
    }

    #[test]
    fn scores() {
        // upstream: "two images spread on two nodes, prefer the larger image one"
        let nodes = vec![
            node_with_images("n1", &[("gcr.io/40", 40 * MB), ("gcr.io/300", 300 * MB)]),
            node_with_images("n2", &[("gcr.io/250", 250 * MB), ("gcr.io/10", 10 * MB)]),
        ];
        let snapshot = Snapshot::from_nodes(nodes);
        let mut p = pod("p", &[&[], &[]]);
        let spec = p.spec.get_or_insert_default();
        spec.containers[0].image = Some("gcr.io/40".into());
        spec.containers[1].image = Some("gcr.io/250".into());
        let p = PodInfo::new(p);
        let refs: Vec<&NodeInfo> = snapshot.nodes.iter().collect();
        let mut state = CycleState::default();
        assert!(
            ImageLocality
                .pre_score(&mut state, &p, &refs, &snapshot)
                .is_success()
        );
        let scores: Vec<i64> = refs
            .iter()
            .map(|n| ImageLocality.score(&state, &p, n))
            .collect();
        // n1: 40MB × 1/2 = 20MB < 23MB → 0; n2: 250MB × 1/2 = 125MB → (125-23)*100/(2000-23)
        assert_eq!(scores, vec![0, (125 - 23) * 100 / (2000 - 23)]);
    }

    #[test]
    fn skipped_when_no_node_reports_images() {
        let snapshot = Snapshot::from_nodes(vec![node_with_images("n1", &[])]);
        let mut p = pod("p", &[&[]]);
        p.spec.get_or_insert_default().containers[0].image = Some("nginx".into());
        let mut state = CycleState::default();
        let got = ImageLocality.pre_score(&mut state, &PodInfo::new(p), &[], &snapshot);
        assert_eq!(got.code, crate::framework::Code::Skip);
    }
}
