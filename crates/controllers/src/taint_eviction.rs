//! The taint eviction controller (upstream `pkg/controller/tainteviction`,
//! the former "taint manager" of the node lifecycle controller): deletes
//! the pods bound to a node with a `NoExecute` taint they do not tolerate
//! right away, and those whose tolerations carry `tolerationSeconds` once
//! the shortest of them has passed since the controller saw the taint.
//! Before deleting, the pod gets the `DisruptionTarget` condition
//! (`DeletionByTaintManager`), as upstream since PodDisruptionConditions.
//!
//! The controller looks at every pod on a tainted node once a second
//! ([`TICK`]) rather than per event; eviction times are whole seconds, so
//! nothing is observably later than upstream's timed queue.
//!
//! Owns: the deletion of pods for `NoExecute` taints. Does not own: the
//! taints (the node lifecycle controller and users set them).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Node, ObjectReference, Pod, PodCondition, PodStatus, Taint, Toleration,
};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::controller_utils as cu;
use crate::events::{EventType, Recorder};
use crate::informer::{Informer, Informers};
use crate::{ApiContext, Result};

/// How often the pods on tainted nodes are looked at.
pub const TICK: Duration = Duration::from_secs(1);

/// Upstream's attempts at one deletion.
const DELETE_RETRIES: usize = 5;

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
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

/// `v1helper.GetMatchingTolerations`: for every taint the first toleration
/// that tolerates it, or None when some taint is not tolerated.
pub fn matching_tolerations<'a>(
    taints: &[Taint],
    tolerations: &'a [Toleration],
) -> Option<Vec<&'a Toleration>> {
    taints
        .iter()
        .map(|taint| tolerations.iter().find(|t| tolerates(t, taint)))
        .collect()
}

/// What should happen to a pod on a node with `NoExecute` taints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing (no taint, or tolerated forever): cancel a planned eviction.
    Keep,
    /// Delete now: a taint is not tolerated, or a toleration ran out.
    EvictNow,
    /// Delete after the shortest `tolerationSeconds` of the used tolerations.
    EvictAfter(Duration),
}

/// `processPodOnNode`'s decision for the node's `NoExecute` taints.
pub fn decide(no_execute: &[Taint], tolerations: &[Toleration]) -> Decision {
    if no_execute.is_empty() {
        return Decision::Keep;
    }
    let Some(used) = matching_tolerations(no_execute, tolerations) else {
        return Decision::EvictNow;
    };
    // getMinTolerationTime: no toleration at all is 0 (evict); a toleration
    // without seconds is forever; a non-positive one is now.
    if used.is_empty() {
        return Decision::EvictNow;
    }
    let mut min: Option<i64> = None;
    for t in used {
        if let Some(s) = t.toleration_seconds {
            if s <= 0 {
                return Decision::EvictNow;
            }
            min = Some(min.map_or(s, |m| m.min(s)));
        }
    }
    match min {
        None => Decision::Keep,
        Some(s) => Decision::EvictAfter(Duration::from_secs(s as u64)),
    }
}

/// A planned deletion: when it was planned and when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    pub created: Timestamp,
    pub fire_at: Timestamp,
}

/// What the timed queue holds for a pod after a decision at `now`, as
/// upstream's `processPodOnNode`: a planned deletion keeps its time once
/// made, unless the pod must go at once or may stay.
pub fn plan(previous: Option<Planned>, decision: Decision, now: Timestamp) -> Option<Planned> {
    match decision {
        Decision::Keep => None,
        Decision::EvictNow => Some(Planned {
            created: now,
            fire_at: now,
        }),
        Decision::EvictAfter(d) => {
            let d = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
            match previous {
                // Upstream keeps the earlier plan: `created + min` is before
                // `now + min` for any plan made before now.
                Some(p) if p.created < now => Some(p),
                Some(p) => Some(Planned {
                    created: p.created,
                    fire_at: now.checked_add(d).unwrap_or(now),
                }),
                None => Some(Planned {
                    created: now,
                    fire_at: now.checked_add(d).unwrap_or(now),
                }),
            }
        }
    }
}

/// The `NoExecute` taints of a node.
fn no_execute_taints(node: &Node) -> Vec<Taint> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoExecute")
        .cloned()
        .collect()
}

fn pod_ref(ns: &str, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(name.into()),
        namespace: Some(ns.into()),
        ..Default::default()
    }
}

/// Runs the controller until its watches fail.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let nodes = informers.of::<Node>();
    let pods = informers.of::<Pod>();
    nodes.synced().await;
    pods.synced().await;
    let recorder = Recorder::new(client.clone(), "taint-eviction-controller");
    evict_loop(client, nodes, pods, recorder).await
}

async fn evict_loop(
    client: Client,
    nodes: Informer<Node>,
    pods: Informer<Pod>,
    recorder: Recorder,
) -> Result<()> {
    // Planned deletions by pod uid, with the pod's namespace and name.
    let mut planned: HashMap<String, (String, String, Planned)> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Timestamp::now();
        let tainted: HashMap<String, Vec<Taint>> = nodes
            .state()
            .iter()
            .map(|n| (n.name_any(), no_execute_taints(n)))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        // The common case, no NoExecute taint anywhere and nothing planned,
        // costs one pass over the nodes, not one over every pod.
        if tainted.is_empty() && planned.is_empty() {
            continue;
        }
        let mut seen = HashSet::new();
        let mut due = Vec::new();
        for pod in pods.state() {
            if pod.metadata.deletion_timestamp.is_some() {
                // Already going: nothing left to plan.
                continue;
            }
            let node = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .unwrap_or("");
            let taints = tainted.get(node).map(Vec::as_slice).unwrap_or(&[]);
            let Some(uid) = pod.metadata.uid.as_deref() else {
                continue;
            };
            if taints.is_empty() && !planned.contains_key(uid) {
                continue;
            }
            let uid = uid.to_string();
            let tolerations = pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.as_deref())
                .unwrap_or(&[]);
            let ns = pod.namespace().unwrap_or_default();
            let name = pod.name_any();
            let previous = planned.get(&uid).map(|(_, _, p)| *p);
            match plan(previous, decide(taints, tolerations), now) {
                Some(p) => {
                    seen.insert(uid.clone());
                    if p.fire_at <= now {
                        due.push((uid.clone(), ns.clone(), name.clone()));
                    }
                    planned.insert(uid, (ns, name, p));
                }
                None => {
                    if previous.is_some() {
                        planned.remove(&uid);
                        recorder
                            .record_ref(
                                pod_ref(&ns, &name),
                                EventType::Normal,
                                "TaintManagerEviction",
                                format!("Cancelling deletion of Pod {ns}/{name}"),
                            )
                            .await;
                    }
                }
            }
        }
        // Pods that left (deleted, or being deleted) need no plan.
        planned.retain(|uid, _| seen.contains(uid));
        for (uid, ns, name) in due {
            planned.remove(&uid);
            recorder
                .record_ref(
                    pod_ref(&ns, &name),
                    EventType::Normal,
                    "TaintManagerEviction",
                    format!("Marking for deletion Pod {ns}/{name}"),
                )
                .await;
            let mut last = None;
            for _ in 0..DELETE_RETRIES {
                match add_condition_and_delete(&client, &ns, &name, &uid).await {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(e) => last = Some(e),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if let Some(e) = last {
                tracing::warn!(pod = %cu::key(&ns, &name), error = %crate::error_chain(&e), "taint eviction failed");
            }
        }
    }
}

/// Upstream's `addConditionAndDeletePod` for the taint manager.
async fn add_condition_and_delete(client: &Client, ns: &str, name: &str, uid: &str) -> Result<()> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let Some(pod) = api
        .get_opt(name)
        .await
        .ctx(|| format!("get pod {ns}/{name}"))?
    else {
        return Ok(());
    };
    if pod.uid().as_deref() != Some(uid) {
        return Ok(());
    }
    let mut status = pod.status.clone().unwrap_or_else(PodStatus::default);
    let changed = cu::update_pod_condition(
        &mut status,
        PodCondition {
            type_: "DisruptionTarget".into(),
            status: "True".into(),
            reason: Some("DeletionByTaintManager".into()),
            message: Some("Taint manager: deleting due to NoExecute taint".into()),
            ..Default::default()
        },
        Timestamp::now(),
    );
    if changed {
        let patch = json!({
            "metadata": {"uid": uid},
            "status": {"conditions": status.conditions},
        });
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if crate::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e).ctx(|| format!("mark pod {ns}/{name} as a disruption target")),
        }
    }
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if crate::is_not_found(&e) => Ok(()),
        Err(e) => Err(e).ctx(|| format!("delete pod {ns}/{name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            effect: effect.into(),
            ..Default::default()
        }
    }

    fn toleration(key: &str, op: &str, effect: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: (!key.is_empty()).then(|| key.into()),
            operator: Some(op.into()),
            effect: (!effect.is_empty()).then(|| effect.into()),
            toleration_seconds: seconds,
            value: None,
        }
    }

    const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
    const NOT_READY: &str = "node.kubernetes.io/not-ready";

    #[test]
    fn toleration_matching() {
        let t = taint(UNREACHABLE, "NoExecute");
        assert!(tolerates(
            &toleration(UNREACHABLE, "Exists", "NoExecute", None),
            &t
        ));
        assert!(tolerates(&toleration(UNREACHABLE, "Exists", "", None), &t));
        assert!(tolerates(&toleration("", "Exists", "", None), &t));
        assert!(!tolerates(
            &toleration(UNREACHABLE, "Exists", "NoSchedule", None),
            &t
        ));
        assert!(!tolerates(
            &toleration(NOT_READY, "Exists", "NoExecute", None),
            &t
        ));
        let mut valued = taint("dedicated", "NoExecute");
        valued.value = Some("gpu".into());
        let mut eq = toleration("dedicated", "Equal", "NoExecute", None);
        assert!(!tolerates(&eq, &valued));
        eq.value = Some("gpu".into());
        assert!(tolerates(&eq, &valued));
    }

    #[test]
    fn decisions() {
        let taints = [taint(UNREACHABLE, "NoExecute")];
        // The DefaultTolerationSeconds pair: evict after 300 s.
        let defaults = [
            toleration(NOT_READY, "Exists", "NoExecute", Some(300)),
            toleration(UNREACHABLE, "Exists", "NoExecute", Some(300)),
        ];
        assert_eq!(
            decide(&taints, &defaults),
            Decision::EvictAfter(Duration::from_secs(300))
        );
        assert_eq!(decide(&taints, &[]), Decision::EvictNow);
        assert_eq!(decide(&[], &[]), Decision::Keep);
        let forever = [toleration(UNREACHABLE, "Exists", "NoExecute", None)];
        assert_eq!(decide(&taints, &forever), Decision::Keep);
        let zero = [toleration(UNREACHABLE, "Exists", "NoExecute", Some(0))];
        assert_eq!(decide(&taints, &zero), Decision::EvictNow);
        // Two taints: the shortest toleration of the used ones wins; one
        // untolerated taint evicts now.
        let both = [taint(UNREACHABLE, "NoExecute"), taint("x", "NoExecute")];
        let tol = [
            toleration(UNREACHABLE, "Exists", "NoExecute", Some(60)),
            toleration("x", "Exists", "", Some(30)),
        ];
        assert_eq!(
            decide(&both, &tol),
            Decision::EvictAfter(Duration::from_secs(30))
        );
        assert_eq!(decide(&both, &tol[..1]), Decision::EvictNow);
    }

    #[test]
    fn a_plan_keeps_its_time() {
        let t = |s| Timestamp::from_second(s).unwrap_or_default();
        let first = plan(None, Decision::EvictAfter(Duration::from_secs(10)), t(100));
        assert_eq!(
            first,
            Some(Planned {
                created: t(100),
                fire_at: t(110)
            })
        );
        // Seen again later: the plan stands.
        assert_eq!(
            plan(first, Decision::EvictAfter(Duration::from_secs(10)), t(105)),
            first
        );
        // Tolerated again (taint gone): cancelled.
        assert_eq!(plan(first, Decision::Keep, t(106)), None);
        // Must go now.
        assert_eq!(
            plan(first, Decision::EvictNow, t(107)).map(|p| p.fire_at),
            Some(t(107))
        );
    }
}
