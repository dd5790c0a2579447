//! TaintToleration: a node's NoSchedule and NoExecute taints keep out pods
//! that do not tolerate them (Filter); PreferNoSchedule taints a pod does not
//! tolerate lower the node's score (Score, reversed normalization).

use k8s_openapi::api::core::v1::{Taint, Toleration};

use crate::cache::Snapshot;
use crate::framework::{
    CycleState, FilterPlugin, MAX_NODE_SCORE, ScorePlugin, Status, default_normalize_score,
};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NAME: &str = "TaintToleration";

/// `Toleration.ToleratesTaint`: the effect matches (or is empty), the key
/// matches (an empty key with Exists matches every key), and the operator
/// (Exists, or Equal by default) accepts the value.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect = t.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

pub struct TaintToleration;

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let untolerated = node.taints.iter().find(|taint| {
            (taint.effect == "NoSchedule" || taint.effect == "NoExecute")
                && !pod.tolerations.iter().any(|t| tolerates(t, taint))
        });
        match untolerated {
            None => Status::success(),
            Some(taint) => Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint.key,
                taint.value.as_deref().unwrap_or("")
            )),
        }
    }
}

/// PreScore state: the pod's tolerations that can apply to PreferNoSchedule.
#[derive(Clone)]
struct PreScoreState {
    tolerations: Vec<Toleration>,
}

impl ScorePlugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _s: &Snapshot,
    ) -> Status {
        let tolerations = pod
            .tolerations
            .iter()
            .filter(|t| {
                matches!(
                    t.effect.as_deref(),
                    None | Some("") | Some("PreferNoSchedule")
                )
            })
            .cloned()
            .collect();
        state.write(PreScoreState { tolerations });
        Status::success()
    }

    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> i64 {
        let tolerations = state
            .read::<PreScoreState>()
            .map_or(&[][..], |s| s.tolerations.as_slice());
        node.taints
            .iter()
            .filter(|taint| taint.effect == "PreferNoSchedule")
            .filter(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
            .count() as i64
    }

    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [i64]) {
        default_normalize_score(MAX_NODE_SCORE, true, scores);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::node_info::testing::{node, node_info, pod};

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some(value.into()),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn toleration(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some(op.into()),
            value: Some(value.into()),
            effect: Some(effect.into()),
            toleration_seconds: None,
        }
    }

    fn run_filter(taints: Vec<Taint>, tolerations: Vec<Toleration>) -> Status {
        let mut n = node("n", &[], &[]);
        n.spec.get_or_insert_default().taints = Some(taints);
        let mut p = pod("p", &[&[]]);
        p.spec.get_or_insert_default().tolerations = Some(tolerations);
        TaintToleration.filter(
            &CycleState::default(),
            &PodInfo::new(p),
            &node_info(n, vec![]),
        )
    }

    #[test]
    fn filter() {
        let cases = vec![
            (
                "no tolerations, tainted node",
                vec![taint("dedicated", "user1", "NoSchedule")],
                vec![],
                Code::UnschedulableAndUnresolvable,
                "node(s) had untolerated taint {dedicated: user1}",
            ),
            (
                "equal toleration",
                vec![taint("dedicated", "user1", "NoSchedule")],
                vec![toleration("dedicated", "Equal", "user1", "NoSchedule")],
                Code::Success,
                "",
            ),
            (
                "value differs",
                vec![taint("dedicated", "user1", "NoSchedule")],
                vec![toleration("dedicated", "Equal", "user2", "NoSchedule")],
                Code::UnschedulableAndUnresolvable,
                "node(s) had untolerated taint {dedicated: user1}",
            ),
            (
                "exists toleration",
                vec![taint("foo", "bar", "NoSchedule")],
                vec![toleration("foo", "Exists", "", "NoSchedule")],
                Code::Success,
                "",
            ),
            (
                "empty key with Exists tolerates all",
                vec![taint("foo", "bar", "NoExecute")],
                vec![toleration("", "Exists", "", "")],
                Code::Success,
                "",
            ),
            (
                "effect differs",
                vec![taint("foo", "bar", "NoExecute")],
                vec![toleration("foo", "Equal", "bar", "NoSchedule")],
                Code::UnschedulableAndUnresolvable,
                "node(s) had untolerated taint {foo: bar}",
            ),
            (
                "PreferNoSchedule does not filter",
                vec![taint("foo", "bar", "PreferNoSchedule")],
                vec![],
                Code::Success,
                "",
            ),
            (
                "one of two tolerated",
                vec![taint("a", "1", "NoSchedule"), taint("b", "", "NoSchedule")],
                vec![toleration("a", "Equal", "1", "NoSchedule")],
                Code::UnschedulableAndUnresolvable,
                "node(s) had untolerated taint {b: }",
            ),
        ];
        for (name, taints, tolerations, want, msg) in cases {
            let got = run_filter(taints, tolerations);
            assert_eq!(got.code, want, "{name}");
            assert_eq!(got.message(), msg, "{name}");
        }
    }

    #[test]
    fn score_prefers_fewer_intolerable_taints() {
        // upstream: "the node with fewest intolerable taints gets the highest score"
        let nodes: Vec<NodeInfo> = [
            vec![],
            vec![taint("cpu-type", "arm64", "PreferNoSchedule")],
            vec![
                taint("cpu-type", "arm64", "PreferNoSchedule"),
                taint("disk-type", "ssd", "PreferNoSchedule"),
            ],
            vec![taint("foo", "bar", "PreferNoSchedule")],
        ]
        .into_iter()
        .enumerate()
        .map(|(i, taints)| {
            let mut n = node(&format!("n{i}"), &[], &[]);
            n.spec.get_or_insert_default().taints = Some(taints);
            node_info(n, vec![])
        })
        .collect();
        let mut p = pod("p", &[&[]]);
        p.spec.get_or_insert_default().tolerations =
            Some(vec![toleration("foo", "Equal", "bar", "PreferNoSchedule")]);
        let p = PodInfo::new(p);
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        let mut state = CycleState::default();
        TaintToleration.pre_score(&mut state, &p, &refs, &Snapshot::default());
        let mut scores: Vec<i64> = refs
            .iter()
            .map(|n| TaintToleration.score(&state, &p, n))
            .collect();
        TaintToleration.normalize(&state, &p, &mut scores);
        assert_eq!(scores, vec![100, 50, 0, 100]);
    }
}
