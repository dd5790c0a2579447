//! NodeAffinity: `spec.nodeSelector` and required node affinity decide which
//! nodes a pod may use (Filter); preferred node affinity terms add their
//! weights to the nodes they match (Score, normalized to the highest).

use crate::cache::Snapshot;
use crate::framework::{
    CycleState, FilterPlugin, MAX_NODE_SCORE, ScorePlugin, Status, default_normalize_score,
};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NAME: &str = "NodeAffinity";
/// `ErrReasonPod`.
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";

pub struct NodeAffinity;

/// Whether the node satisfies the pod's nodeSelector and required node
/// affinity (`GetRequiredNodeAffinity(pod).Match(node)`).
pub fn required_matches(pod: &PodInfo, node: &NodeInfo) -> bool {
    pod.node_selector
        .as_ref()
        .is_none_or(|s| s.matches(&node.labels))
        && pod
            .required_node_affinity
            .as_ref()
            .is_none_or(|a| a.matches(&node.name, &node.labels))
}

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, _state: &mut CycleState, pod: &PodInfo, _s: &Snapshot) -> Status {
        if pod.node_selector.is_none() && pod.required_node_affinity.is_none() {
            Status::skip()
        } else {
            Status::success()
        }
    }

    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if required_matches(pod, node) {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON_POD)
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_score(
        &self,
        _state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _s: &Snapshot,
    ) -> Status {
        if pod.preferred_node_affinity.is_empty() {
            Status::skip()
        } else {
            Status::success()
        }
    }

    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        pod.preferred_node_affinity
            .iter()
            .filter(|(_, term)| term.matches(&node.name, &node.labels))
            .map(|(w, _)| i64::from(*w))
            .sum()
    }

    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [i64]) {
        default_normalize_score(MAX_NODE_SCORE, false, scores);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::node_info::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::{
        Affinity, NodeAffinity as ApiNodeAffinity, NodeSelector, NodeSelectorRequirement,
        NodeSelectorTerm, Pod, PreferredSchedulingTerm,
    };

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn with_required(terms: Vec<NodeSelectorTerm>) -> Pod {
        let mut p = pod("p", &[&[]]);
        p.spec.get_or_insert_default().affinity = Some(Affinity {
            node_affinity: Some(ApiNodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: terms,
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
        p
    }

    fn term(exprs: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: Some(exprs),
            match_fields: None,
        }
    }

    #[test]
    fn filter() {
        let with_selector = |pairs: &[(&str, &str)]| {
            let mut p = pod("p", &[&[]]);
            p.spec.get_or_insert_default().node_selector = Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
            p
        };
        let field_term = |op: &str, names: &[&str]| NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![req("metadata.name", op, names)]),
        };
        type Labels<'a> = &'a [(&'a str, &'a str)];
        let cases: Vec<(&str, Pod, Labels, bool)> = vec![
            ("no selector", pod("p", &[&[]]), &[], true),
            (
                "nodeSelector missing label",
                with_selector(&[("foo", "bar")]),
                &[],
                false,
            ),
            (
                "nodeSelector matches",
                with_selector(&[("foo", "bar")]),
                &[("foo", "bar")],
                true,
            ),
            (
                "nodeSelector other value",
                with_selector(&[("foo", "bar")]),
                &[("foo", "baz")],
                false,
            ),
            (
                "In matches",
                with_required(vec![term(vec![req("foo", "In", &["bar", "value2"])])]),
                &[("foo", "bar")],
                true,
            ),
            (
                "Gt matches",
                with_required(vec![term(vec![req("kernel-version", "Gt", &["0204"])])]),
                &[("kernel-version", "0206")],
                true,
            ),
            (
                "NotIn rejects",
                with_required(vec![term(vec![req("mem-type", "NotIn", &["DDR", "DDR2"])])]),
                &[("mem-type", "DDR")],
                false,
            ),
            (
                "DoesNotExist matches without the label",
                with_required(vec![term(vec![req("GPU", "DoesNotExist", &[])])]),
                &[("foo", "bar")],
                true,
            ),
            (
                "terms are ORed",
                with_required(vec![
                    term(vec![req("foo", "In", &["nope"])]),
                    term(vec![req("diffkey", "In", &["wrong", "value2"])]),
                ]),
                &[("diffkey", "value2")],
                true,
            ),
            (
                "expressions in a term are ANDed",
                with_required(vec![term(vec![
                    req("foo", "Exists", &[]),
                    req("foo", "In", &["value1", "value2"]),
                ])]),
                &[("foo", "bar")],
                false,
            ),
            (
                "empty terms match nothing",
                with_required(vec![]),
                &[("foo", "bar")],
                false,
            ),
            (
                "an empty term matches nothing",
                with_required(vec![NodeSelectorTerm::default()]),
                &[("foo", "bar")],
                false,
            ),
            (
                "matchFields by name",
                with_required(vec![field_term("In", &["n"])]),
                &[],
                true,
            ),
            (
                "matchFields other name",
                with_required(vec![field_term("In", &["m"])]),
                &[],
                false,
            ),
            (
                "nodeSelector and affinity both required",
                {
                    let mut p = with_required(vec![term(vec![req("foo", "Exists", &[])])]);
                    p.spec.get_or_insert_default().node_selector =
                        Some([("zone".to_string(), "a".to_string())].into());
                    p
                },
                &[("foo", "bar")],
                false,
            ),
        ];
        for (name, p, labels, fits) in cases {
            let p = PodInfo::new(p);
            let n = node_info(node("n", &[], labels), vec![]);
            let got = NodeAffinity.filter(&CycleState::default(), &p, &n);
            let want = if fits {
                Code::Success
            } else {
                Code::UnschedulableAndUnresolvable
            };
            assert_eq!(got.code, want, "{name}");
            if !fits {
                assert_eq!(got.message(), ERR_REASON_POD);
            }
        }
    }

    #[test]
    fn score_sums_matching_preferred_weights() {
        let mut p = pod("p", &[&[]]);
        p.spec.get_or_insert_default().affinity = Some(Affinity {
            node_affinity: Some(ApiNodeAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    PreferredSchedulingTerm {
                        weight: 2,
                        preference: term(vec![req("foo", "In", &["bar"])]),
                    },
                    PreferredSchedulingTerm {
                        weight: 4,
                        preference: term(vec![req("key", "In", &["value"])]),
                    },
                    PreferredSchedulingTerm {
                        weight: 5,
                        preference: term(vec![
                            req("foo", "In", &["bar"]),
                            req("az", "In", &["az1"]),
                        ]),
                    },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        });
        let p = PodInfo::new(p);
        let nodes = [
            node_info(node("n1", &[], &[("foo", "bar")]), vec![]),
            node_info(node("n2", &[], &[("key", "value")]), vec![]),
            node_info(
                node(
                    "n3",
                    &[],
                    &[("foo", "bar"), ("key", "value"), ("az", "az1")],
                ),
                vec![],
            ),
            node_info(node("n4", &[], &[]), vec![]),
        ];
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        let mut state = CycleState::default();
        assert!(
            NodeAffinity
                .pre_score(&mut state, &p, &refs, &Snapshot::default())
                .is_success()
        );
        let mut scores: Vec<i64> = refs
            .iter()
            .map(|n| NodeAffinity.score(&state, &p, n))
            .collect();
        assert_eq!(scores, vec![2, 4, 11, 0]);
        NodeAffinity.normalize(&state, &p, &mut scores);
        assert_eq!(scores, vec![18, 36, 100, 0]);
    }
}
