//! Which nodes a DaemonSet's pod belongs on, after upstream's
//! `NodeShouldRunDaemonPod` (`pkg/controller/daemon/daemon_controller.go`) and
//! the tolerations every daemon pod gets (`pkg/controller/daemon/util`).
//!
//! Pure functions over the API types: the node's labels and name against the
//! template's `nodeSelector` and required node affinity, the node's taints
//! against the template's tolerations plus the defaults. Owns no I/O.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodSpec,
    Taint, Toleration,
};

/// `node.kubernetes.io/not-ready`.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// `node.kubernetes.io/unreachable`.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// `node.kubernetes.io/disk-pressure`.
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// `node.kubernetes.io/memory-pressure`.
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// `node.kubernetes.io/pid-pressure`.
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// `node.kubernetes.io/unschedulable`.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// `node.kubernetes.io/network-unavailable`.
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// The node field a daemon pod's affinity pins it with.
pub const NODE_NAME_FIELD: &str = "metadata.name";

/// Whether a daemon pod should run on a node, and whether one already there
/// may keep running (`NodeShouldRunDaemonPod`'s two results).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub should_run: bool,
    pub should_continue_running: bool,
}

fn exists_toleration(key: &str, effect: &str) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        value: None,
        toleration_seconds: None,
    }
}

/// `Toleration.MatchToleration`: the same key, operator, value and effect
/// (then one replaces the other).
fn same_toleration(a: &Toleration, b: &Toleration) -> bool {
    a.key == b.key && a.operator == b.operator && a.value == b.value && a.effect == b.effect
}

/// `AddOrUpdateTolerationInPodSpec`: a toleration that matches one of the
/// pod's replaces it; otherwise it is appended.
fn add_or_update_toleration(spec: &mut PodSpec, toleration: Toleration) {
    let list = spec.tolerations.get_or_insert_with(Vec::new);
    match list.iter_mut().find(|t| same_toleration(t, &toleration)) {
        Some(existing) => *existing = toleration,
        None => list.push(toleration),
    }
}

/// `AddOrUpdateDaemonPodTolerations`: daemon pods survive node conditions
/// that would evict or keep out other pods, so system daemons keep running
/// where they are needed most.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    // NoExecute without tolerationSeconds: never evicted for not-ready or
    // unreachable nodes.
    add_or_update_toleration(spec, exists_toleration(TAINT_NOT_READY, "NoExecute"));
    add_or_update_toleration(spec, exists_toleration(TAINT_UNREACHABLE, "NoExecute"));
    for key in [
        TAINT_DISK_PRESSURE,
        TAINT_MEMORY_PRESSURE,
        TAINT_PID_PRESSURE,
        TAINT_UNSCHEDULABLE,
    ] {
        add_or_update_toleration(spec, exists_toleration(key, "NoSchedule"));
    }
    // Host-network pods do not need the pod network: they may run where it
    // is not ready yet (a CNI daemon is the usual case).
    if spec.host_network == Some(true) {
        add_or_update_toleration(
            spec,
            exists_toleration(TAINT_NETWORK_UNAVAILABLE, "NoSchedule"),
        );
    }
}

/// `Toleration.ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect = t.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("") {
        "Exists" => true,
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// `FindMatchingUntoleratedTaint`: the first taint accepted by `filter` that
/// no toleration tolerates.
pub fn untolerated_taint<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| filter(t))
        .find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
}

/// One `NodeSelectorRequirement` against a value source (`labels.Requirement`
/// as `nodeaffinity` builds it). Unknown operators and bad numbers match
/// nothing, as upstream's parse errors do.
fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        op @ ("Gt" | "Lt") => {
            let (Some(v), [bound]) = (value, values) else {
                return false;
            };
            match (v.parse::<i64>(), bound.parse::<i64>()) {
                (Ok(v), Ok(b)) if op == "Gt" => v > b,
                (Ok(v), Ok(b)) => v < b,
                _ => false,
            }
        }
        _ => false,
    }
}

/// A `NodeSelectorTerm`: every expression on the labels and every field
/// requirement (only `metadata.name`) must hold; an empty term matches nothing.
fn term_matches(term: &NodeSelectorTerm, name: &str, labels: &BTreeMap<String, String>) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            r.key == NODE_NAME_FIELD
                && matches!(r.operator.as_str(), "In" | "NotIn")
                && requirement_matches(r, Some(name))
        })
}

/// `nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)`: the
/// `nodeSelector` labels and, if set, any of the required affinity terms.
pub fn matches_required_affinity(spec: &PodSpec, node: &Node) -> bool {
    let empty = BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    let name = node.metadata.name.as_deref().unwrap_or("");
    if let Some(sel) = &spec.node_selector
        && !sel.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        None => true,
        Some(ns) => ns
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, name, labels)),
    }
}

/// `NodeShouldRunDaemonPod` for the DaemonSet's pod template spec.
pub fn node_should_run(template: &PodSpec, node: &Node) -> Placement {
    let no = Placement {
        should_run: false,
        should_continue_running: false,
    };
    let name = node.metadata.name.as_deref().unwrap_or("");
    // A template naming a node runs only there.
    if let Some(n) = template.node_name.as_deref()
        && !n.is_empty()
        && n != name
    {
        return no;
    }
    // `NewPod`: the pod as it would be created, with the default tolerations.
    let mut spec = template.clone();
    add_daemon_tolerations(&mut spec);
    if !matches_required_affinity(&spec, node) {
        return no;
    }
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default();
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let fits = untolerated_taint(taints, tolerations, |t| {
        t.effect == "NoSchedule" || t.effect == "NoExecute"
    })
    .is_none();
    if fits {
        return Placement {
            should_run: true,
            should_continue_running: true,
        };
    }
    // A NoSchedule taint keeps new pods out but lets a running one stay;
    // only an untolerated NoExecute taint evicts it.
    let evicts = untolerated_taint(taints, tolerations, |t| t.effect == "NoExecute").is_some();
    Placement {
        should_run: false,
        should_continue_running: !evicts,
    }
}

/// `ReplaceDaemonSetPodNodeNameNodeAffinity`: pins the pod to `node` with a
/// required `metadata.name In [node]` term, replacing the required terms
/// (the node already satisfies them) and keeping everything else.
pub fn pin_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let required = NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![NodeSelectorRequirement {
                key: NODE_NAME_FIELD.into(),
                operator: "In".into(),
                values: Some(vec![node.into()]),
            }]),
        }],
    };
    let mut affinity = affinity.unwrap_or_default();
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(required);
    affinity
}

/// `GetTargetNodeName`: the node a daemon pod is bound to, or pinned to by
/// its affinity while it waits for the scheduler.
pub fn target_node(spec: &PodSpec) -> Option<String> {
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n.to_string());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    for term in terms {
        for f in term.match_fields.iter().flatten() {
            if f.key == NODE_NAME_FIELD
                && f.operator == "In"
                && let Some([one]) = f.values.as_deref()
            {
                return Some(one.clone());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NodeSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn node(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                taints: Some(
                    taints
                        .iter()
                        .map(|(k, e)| Taint {
                            key: k.to_string(),
                            value: Some("x".into()),
                            effect: e.to_string(),
                            time_added: None,
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn toleration(key: &str, op: &str, value: Option<&str>, effect: Option<&str>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some(op.into()),
            value: value.map(String::from),
            effect: effect.map(String::from),
            toleration_seconds: None,
        }
    }

    fn run(should_run: bool, should_continue_running: bool) -> Placement {
        Placement {
            should_run,
            should_continue_running,
        }
    }

    #[test]
    fn taints_and_tolerations_decide_placement() {
        let plain = PodSpec::default();
        let cases = [
            ("untainted", node("n", &[], &[]), &plain, run(true, true)),
            (
                "NoSchedule keeps new pods out, lets running ones stay",
                node("n", &[], &[("dedicated", "NoSchedule")]),
                &plain,
                run(false, true),
            ),
            (
                "NoExecute evicts",
                node("n", &[], &[("dedicated", "NoExecute")]),
                &plain,
                run(false, false),
            ),
            (
                "PreferNoSchedule is ignored",
                node("n", &[], &[("dedicated", "PreferNoSchedule")]),
                &plain,
                run(true, true),
            ),
            (
                "default toleration: not-ready NoExecute",
                node("n", &[], &[(TAINT_NOT_READY, "NoExecute")]),
                &plain,
                run(true, true),
            ),
            (
                "default toleration: unreachable NoExecute",
                node("n", &[], &[(TAINT_UNREACHABLE, "NoExecute")]),
                &plain,
                run(true, true),
            ),
            (
                "default toleration: unschedulable and pressures",
                node(
                    "n",
                    &[],
                    &[
                        (TAINT_UNSCHEDULABLE, "NoSchedule"),
                        (TAINT_DISK_PRESSURE, "NoSchedule"),
                        (TAINT_MEMORY_PRESSURE, "NoSchedule"),
                        (TAINT_PID_PRESSURE, "NoSchedule"),
                    ],
                ),
                &plain,
                run(true, true),
            ),
            (
                "network-unavailable only tolerated for host network",
                node("n", &[], &[(TAINT_NETWORK_UNAVAILABLE, "NoSchedule")]),
                &plain,
                run(false, true),
            ),
        ];
        for (what, n, spec, want) in cases {
            assert_eq!(node_should_run(spec, &n), want, "{what}");
        }
        let host_network = PodSpec {
            host_network: Some(true),
            ..Default::default()
        };
        let n = node("n", &[], &[(TAINT_NETWORK_UNAVAILABLE, "NoSchedule")]);
        assert_eq!(node_should_run(&host_network, &n), run(true, true));
    }

    #[test]
    fn template_tolerations_match_as_upstream() {
        let n = node("n", &[], &[("dedicated", "NoExecute")]);
        let with = |t: Toleration| PodSpec {
            tolerations: Some(vec![t]),
            ..Default::default()
        };
        let cases = [
            (toleration("dedicated", "Exists", None, None), true),
            (
                toleration("dedicated", "Equal", Some("x"), Some("NoExecute")),
                true,
            ),
            (toleration("dedicated", "Equal", Some("y"), None), false),
            (
                toleration("dedicated", "Exists", None, Some("NoSchedule")),
                false,
            ),
            (toleration("other", "Exists", None, None), false),
            // An empty key with Exists tolerates every taint.
            (toleration("", "Exists", None, None), true),
        ];
        for (t, want) in cases {
            let got = node_should_run(&with(t.clone()), &n).should_run;
            assert_eq!(got, want, "{t:?}");
        }
    }

    #[test]
    fn default_tolerations_replace_matching_ones_and_keep_others() {
        let mut spec = PodSpec {
            tolerations: Some(vec![
                Toleration {
                    toleration_seconds: Some(300),
                    ..exists_toleration(TAINT_NOT_READY, "NoExecute")
                },
                toleration("mine", "Exists", None, None),
            ]),
            ..Default::default()
        };
        add_daemon_tolerations(&mut spec);
        let ts = spec.tolerations.unwrap_or_default();
        assert_eq!(ts.len(), 7, "{ts:?}");
        assert_eq!(ts[0], exists_toleration(TAINT_NOT_READY, "NoExecute"));
        assert_eq!(ts[1].key.as_deref(), Some("mine"));
        assert!(
            !ts.iter()
                .any(|t| t.key.as_deref() == Some(TAINT_NETWORK_UNAVAILABLE))
        );
    }

    fn affinity_spec(terms: Vec<NodeSelectorTerm>) -> PodSpec {
        PodSpec {
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: terms,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn exprs(reqs: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: Some(reqs),
            match_fields: None,
        }
    }

    #[test]
    fn node_selector_and_required_affinity_limit_nodes() {
        let n = node("edge-1", &[("role", "edge"), ("cores", "8")], &[]);
        let selector = |k: &str, v: &str| PodSpec {
            node_selector: Some([(k.to_string(), v.to_string())].into()),
            ..Default::default()
        };
        assert!(node_should_run(&selector("role", "edge"), &n).should_run);
        assert_eq!(
            node_should_run(&selector("role", "core"), &n),
            run(false, false)
        );
        let cases = [
            ("In", exprs(vec![req("role", "In", &["edge", "x"])]), true),
            ("NotIn", exprs(vec![req("role", "NotIn", &["edge"])]), false),
            (
                "NotIn absent",
                exprs(vec![req("zone", "NotIn", &["a"])]),
                true,
            ),
            ("Exists", exprs(vec![req("role", "Exists", &[])]), true),
            (
                "DoesNotExist",
                exprs(vec![req("role", "DoesNotExist", &[])]),
                false,
            ),
            ("Gt", exprs(vec![req("cores", "Gt", &["4"])]), true),
            ("Lt", exprs(vec![req("cores", "Lt", &["4"])]), false),
            (
                "Gt not a number",
                exprs(vec![req("role", "Gt", &["4"])]),
                false,
            ),
            (
                "all expressions of a term",
                exprs(vec![
                    req("role", "In", &["edge"]),
                    req("cores", "In", &["2"]),
                ]),
                false,
            ),
            (
                "matchFields by name",
                NodeSelectorTerm {
                    match_expressions: None,
                    match_fields: Some(vec![req(NODE_NAME_FIELD, "In", &["edge-1"])]),
                },
                true,
            ),
            (
                "matchFields other field",
                NodeSelectorTerm {
                    match_expressions: None,
                    match_fields: Some(vec![req("spec.podCIDR", "In", &["edge-1"])]),
                },
                false,
            ),
            ("empty term", NodeSelectorTerm::default(), false),
        ];
        for (what, term, want) in cases {
            let got = node_should_run(&affinity_spec(vec![term]), &n);
            assert_eq!(got.should_run, want, "{what}");
            // Affinity decides both results: a pod on a node that stopped
            // matching is removed.
            assert_eq!(got.should_continue_running, want, "{what}");
        }
        // Terms are ORed.
        let either = affinity_spec(vec![
            exprs(vec![req("role", "In", &["core"])]),
            exprs(vec![req("role", "In", &["edge"])]),
        ]);
        assert!(node_should_run(&either, &n).should_run);
    }

    #[test]
    fn template_node_name_restricts_to_that_node() {
        let spec = PodSpec {
            node_name: Some("other".into()),
            ..Default::default()
        };
        assert_eq!(
            node_should_run(&spec, &node("n", &[], &[])),
            run(false, false)
        );
        assert!(node_should_run(&spec, &node("other", &[], &[])).should_run);
    }

    #[test]
    fn pinning_replaces_required_terms_and_is_read_back() {
        let spec = affinity_spec(vec![exprs(vec![req("role", "In", &["edge"])])]);
        let pinned = pin_to_node(spec.affinity.clone(), "edge-1");
        let pod_spec = PodSpec {
            affinity: Some(pinned),
            ..Default::default()
        };
        assert_eq!(target_node(&pod_spec).as_deref(), Some("edge-1"));
        let terms = &pod_spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| {
                n.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|r| r.node_selector_terms.clone())
            .unwrap_or_default();
        assert_eq!(terms.len(), 1);
        assert!(terms[0].match_expressions.is_none());
        let bound = PodSpec {
            node_name: Some("n2".into()),
            ..pod_spec
        };
        assert_eq!(target_node(&bound).as_deref(), Some("n2"));
        assert_eq!(target_node(&PodSpec::default()), None);
    }
}
