//! Table-style tests of the StatefulSet decisions and identity rules.

use std::collections::HashMap;

use k8s_openapi::api::apps::v1::{
    ControllerRevision, RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetOrdinals,
    StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec, StatefulSetStatus,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaim, Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde_json::json;

use super::super::identity as id;
use super::*;
use crate::controller_utils as cu;

const NOW: i64 = 1_000_000;

fn now() -> Timestamp {
    Timestamp::from_second(NOW).unwrap_or_default()
}

fn set(replicas: i32) -> StatefulSet {
    StatefulSet {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("ns".into()),
            uid: Some("set-uid".into()),
            ..Default::default()
        },
        spec: Some(StatefulSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some([("app".to_string(), "web".to_string())].into()),
                match_expressions: None,
            },
            service_name: Some("web".into()),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some([("app".to_string(), "web".to_string())].into()),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "c".into(),
                        image: Some("img:1".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateStatefulSetStrategy {
                    partition: Some(0),
                    max_unavailable: None,
                }),
            }),
            ..Default::default()
        }),
        status: None,
    }
}

fn parallel(mut s: StatefulSet) -> StatefulSet {
    if let Some(spec) = s.spec.as_mut() {
        spec.pod_management_policy = Some("Parallel".into());
    }
    s
}

fn with_claims(mut s: StatefulSet, when_deleted: &str, when_scaled: &str) -> StatefulSet {
    if let Some(spec) = s.spec.as_mut() {
        spec.volume_claim_templates = Some(vec![PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some("www".into()),
                ..Default::default()
            },
            ..Default::default()
        }]);
        spec.persistent_volume_claim_retention_policy =
            Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some(when_deleted.into()),
                when_scaled: Some(when_scaled.into()),
            });
    }
    s
}

/// A member pod as the controller built it, in `phase`, ready or not, at
/// `revision`.
fn member(s: &StatefulSet, ordinal: i32, phase: &str, ready: bool, revision: &str) -> Pod {
    let template = s
        .spec
        .as_ref()
        .map(|x| x.template.clone())
        .unwrap_or_default();
    let mut p = id::new_pod(s, &template, ordinal, revision);
    p.metadata.uid = Some(format!("pod-uid-{ordinal}"));
    p.status = Some(PodStatus {
        phase: Some(phase.into()),
        conditions: Some(vec![PodCondition {
            type_: "Ready".into(),
            status: if ready { "True" } else { "False" }.into(),
            last_transition_time: Some(Time(Timestamp::from_second(NOW - 100).unwrap_or_default())),
            ..Default::default()
        }]),
        ..Default::default()
    });
    p
}

fn ready(s: &StatefulSet, ordinal: i32) -> Pod {
    member(s, ordinal, "Running", true, "rev-1")
}

fn run(s: &StatefulSet, pods: &[Pod], update_revision: &str) -> Plan {
    run_with_claims(s, pods, update_revision, &HashMap::new())
}

fn run_with_claims(
    s: &StatefulSet,
    pods: &[Pod],
    update_revision: &str,
    claims: &HashMap<String, PersistentVolumeClaim>,
) -> Plan {
    let refs: Vec<&Pod> = pods.iter().collect();
    plan(
        s,
        &refs,
        &Inputs {
            claim: |n: &str| claims.get(n),
            update_revision,
            now: now(),
        },
    )
}

fn steps(p: &Plan) -> Vec<Step> {
    p.steps().cloned().collect()
}

fn pod(name: &str) -> String {
    name.to_string()
}

#[test]
fn ordinals_parse_like_upstream_regex() {
    assert_eq!(id::parent_and_ordinal("web-0"), Some(("web", 0)));
    assert_eq!(id::parent_and_ordinal("my-web-12"), Some(("my-web", 12)));
    assert_eq!(id::parent_and_ordinal("web-"), None);
    assert_eq!(id::parent_and_ordinal("web"), None);
    assert_eq!(id::parent_and_ordinal("web-1a"), None);
    // The ordinal must fit in 32 bits.
    assert_eq!(id::parent_and_ordinal("web-99999999999"), None);
    assert_eq!(id::claim_name("www", "web", 3), "www-web-3");
}

#[test]
fn new_pod_has_identity_storage_and_revision() {
    let s = with_claims(set(3), "Retain", "Retain");
    let template = s
        .spec
        .as_ref()
        .map(|x| x.template.clone())
        .unwrap_or_default();
    let p = id::new_pod(&s, &template, 2, "web-abc");
    assert_eq!(p.metadata.name.as_deref(), Some("web-2"));
    let labels = p.labels();
    assert_eq!(
        labels.get(id::POD_NAME_LABEL).map(String::as_str),
        Some("web-2")
    );
    assert_eq!(
        labels.get(id::POD_INDEX_LABEL).map(String::as_str),
        Some("2")
    );
    assert_eq!(
        labels.get(id::REVISION_LABEL).map(String::as_str),
        Some("web-abc")
    );
    assert_eq!(labels.get("app").map(String::as_str), Some("web"));
    let spec = p.spec.clone().unwrap_or_default();
    assert_eq!(spec.hostname.as_deref(), Some("web-2"));
    assert_eq!(spec.subdomain.as_deref(), Some("web"));
    let vols = spec.volumes.unwrap_or_default();
    assert_eq!(vols[0].name, "www");
    assert_eq!(
        vols[0]
            .persistent_volume_claim
            .as_ref()
            .map(|c| c.claim_name.as_str()),
        Some("www-web-2")
    );
    let owner = id::set_controller_ref(&s);
    assert_eq!(p.metadata.owner_references, Some(vec![owner]));
    assert!(id::identity_matches(&s, &p));
    assert!(id::storage_matches(&s, &p));
    // Claims carry the selector's labels.
    let claims = id::claims_for(&s, 2);
    assert_eq!(claims[0].1.metadata.name.as_deref(), Some("www-web-2"));
    assert_eq!(
        claims[0].1.labels().get("app").map(String::as_str),
        Some("web")
    );
}

#[test]
fn ordered_ready_creates_one_pod_at_a_time() {
    let s = set(3);
    assert_eq!(
        steps(&run(&s, &[], "rev-1")),
        [Step::CreatePod { ordinal: 0 }]
    );
    // web-0 running but not ready: wait.
    let p0 = member(&s, 0, "Running", false, "rev-1");
    assert_eq!(steps(&run(&s, &[p0], "rev-1")), []);
    // web-0 ready: create web-1.
    assert_eq!(
        steps(&run(&s, &[ready(&s, 0)], "rev-1")),
        [Step::CreatePod { ordinal: 1 }]
    );
    // A gap is filled before anything above it.
    assert_eq!(
        steps(&run(&s, &[ready(&s, 0), ready(&s, 2)], "rev-1")),
        [Step::CreatePod { ordinal: 1 }]
    );
}

#[test]
fn ordered_ready_waits_for_min_ready_seconds() {
    let mut s = set(2);
    if let Some(spec) = s.spec.as_mut() {
        spec.min_ready_seconds = Some(1000);
    }
    // Ready for 100 s only: not available, so web-1 waits.
    assert_eq!(steps(&run(&s, &[ready(&s, 0)], "rev-1")), []);
}

#[test]
fn parallel_creates_all_missing_pods_at_once() {
    let s = parallel(set(3));
    let p1 = member(&s, 1, "Pending", false, "rev-1");
    assert_eq!(
        steps(&run(&s, &[p1], "rev-1")),
        [
            Step::CreatePod { ordinal: 0 },
            Step::CreatePod { ordinal: 2 }
        ]
    );
    assert!(run(&s, &[], "rev-1").parallel);
}

#[test]
fn start_ordinal_shifts_names() {
    let mut s = set(2);
    if let Some(spec) = s.spec.as_mut() {
        spec.ordinals = Some(StatefulSetOrdinals { start: Some(5) });
    }
    assert_eq!(
        steps(&run(&s, &[], "rev-1")),
        [Step::CreatePod { ordinal: 5 }]
    );
    // web-0 is outside 5..=6: condemned.
    let p0 = ready(&s, 0);
    let got = steps(&run(&s, &[p0, ready(&s, 5), ready(&s, 6)], "rev-1"));
    assert_eq!(got, [Step::DeleteCondemned { pod: pod("web-0") }]);
}

#[test]
fn failed_and_succeeded_pods_are_deleted_to_be_recreated() {
    let s = set(2);
    let failed = member(&s, 0, "Failed", false, "rev-1");
    assert_eq!(
        steps(&run(&s, &[failed, ready(&s, 1)], "rev-1")),
        [Step::DeleteTerminated { pod: pod("web-0") }]
    );
    let done = member(&s, 1, "Succeeded", false, "rev-1");
    assert_eq!(
        steps(&run(&s, &[ready(&s, 0), done], "rev-1")),
        [Step::DeleteTerminated { pod: pod("web-1") }]
    );
}

#[test]
fn ordered_scale_down_removes_highest_ordinal_one_at_a_time() {
    let s = set(1);
    let pods = [ready(&s, 0), ready(&s, 1), ready(&s, 2)];
    assert_eq!(
        steps(&run(&s, &pods, "rev-1")),
        [Step::DeleteCondemned { pod: pod("web-2") }]
    );
    // web-2 terminating: wait before web-1.
    let mut terminating = ready(&s, 2);
    terminating.metadata.deletion_timestamp = Some(Time(now()));
    assert_eq!(
        steps(&run(
            &s,
            &[ready(&s, 0), ready(&s, 1), terminating],
            "rev-1"
        )),
        []
    );
    // An unhealthy condemned pod that is not the first unhealthy one blocks.
    let sick = member(&s, 1, "Running", false, "rev-1");
    let unready_0 = member(&s, 0, "Running", false, "rev-1");
    assert_eq!(
        steps(&run(&s, &[unready_0, sick, ready(&s, 2)], "rev-1")),
        []
    );
    // The first unhealthy pod may always go.
    let sick = member(&s, 2, "Running", false, "rev-1");
    assert_eq!(
        steps(&run(&s, &[ready(&s, 0), ready(&s, 1), sick], "rev-1")),
        [Step::DeleteCondemned { pod: pod("web-2") }]
    );
}

#[test]
fn parallel_scale_down_removes_all_condemned() {
    let s = parallel(set(1));
    let got = steps(&run(
        &s,
        &[ready(&s, 0), ready(&s, 1), ready(&s, 2)],
        "rev-1",
    ));
    assert_eq!(
        got,
        [
            Step::DeleteCondemned { pod: pod("web-2") },
            Step::DeleteCondemned { pod: pod("web-1") }
        ]
    );
}

#[test]
fn rolling_update_goes_from_highest_ordinal_to_partition() {
    let s = set(3);
    let pods = [ready(&s, 0), ready(&s, 1), ready(&s, 2)];
    assert_eq!(
        steps(&run(&s, &pods, "rev-2")),
        [Step::DeleteForUpdate { pod: pod("web-2") }]
    );
    // web-2 updated but not ready yet: wait.
    let p2 = member(&s, 2, "Running", false, "rev-2");
    assert_eq!(
        steps(&run(&s, &[ready(&s, 0), ready(&s, 1), p2], "rev-2")),
        []
    );
    // web-2 updated and ready: web-1 next.
    let p2 = member(&s, 2, "Running", true, "rev-2");
    assert_eq!(
        steps(&run(&s, &[ready(&s, 0), ready(&s, 1), p2], "rev-2")),
        [Step::DeleteForUpdate { pod: pod("web-1") }]
    );
    // Partition 2: web-0 and web-1 stay at the old revision.
    let mut part = set(3);
    if let Some(ru) = part
        .spec
        .as_mut()
        .and_then(|x| x.update_strategy.as_mut())
        .and_then(|u| u.rolling_update.as_mut())
    {
        ru.partition = Some(2);
    }
    let p2 = member(&part, 2, "Running", true, "rev-2");
    assert_eq!(
        steps(&run(
            &part,
            &[ready(&part, 0), ready(&part, 1), p2],
            "rev-2"
        )),
        []
    );
}

#[test]
fn on_delete_never_deletes_for_update() {
    let mut s = set(2);
    if let Some(spec) = s.spec.as_mut() {
        spec.update_strategy = Some(StatefulSetUpdateStrategy {
            type_: Some("OnDelete".into()),
            rolling_update: None,
        });
    }
    assert_eq!(steps(&run(&s, &[ready(&s, 0), ready(&s, 1)], "rev-2")), []);
}

#[test]
fn a_set_being_deleted_is_left_alone() {
    let mut s = set(3);
    s.metadata.deletion_timestamp = Some(Time(now()));
    assert_eq!(run(&s, &[], "rev-1"), Plan::default());
}

#[test]
fn new_pods_below_the_partition_use_the_current_revision() {
    let mut s = set(3);
    assert!(!new_pod_at_current_revision(&s, 0));
    if let Some(ru) = s
        .spec
        .as_mut()
        .and_then(|x| x.update_strategy.as_mut())
        .and_then(|u| u.rolling_update.as_mut())
    {
        ru.partition = Some(2);
    }
    assert!(new_pod_at_current_revision(&s, 1));
    assert!(!new_pod_at_current_revision(&s, 2));
    // RollingUpdate without rollingUpdate: the first currentReplicas.
    if let Some(spec) = s.spec.as_mut() {
        spec.update_strategy = Some(StatefulSetUpdateStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: None,
        });
    }
    s.status = Some(StatefulSetStatus {
        current_replicas: Some(2),
        ..Default::default()
    });
    assert!(new_pod_at_current_revision(&s, 1));
    assert!(!new_pod_at_current_revision(&s, 2));
}

fn rev(name: &str, revision: i64, image: &str) -> ControllerRevision {
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(RawExtension(
            json!({"spec": {"template": {"image": image}}}),
        )),
        revision,
    }
}

#[test]
fn update_revision_is_latest_renumbered_or_new() {
    let sorted = [rev("a", 1, "v1"), rev("b", 2, "v2")];
    assert_eq!(
        choose_update_revision(&sorted, &rev("x", 3, "v2")),
        UpdateRevision::Latest
    );
    // Rolling back to v1 renumbers revision a.
    assert_eq!(
        choose_update_revision(&sorted, &rev("x", 3, "v1")),
        UpdateRevision::Renumber(0)
    );
    assert_eq!(
        choose_update_revision(&sorted, &rev("x", 3, "v3")),
        UpdateRevision::Create
    );
    assert_eq!(
        choose_update_revision(&[], &rev("x", 1, "v1")),
        UpdateRevision::Create
    );
}

#[test]
fn counts_and_completion() {
    let s = set(2);
    let mut terminating = member(&s, 1, "Running", true, "rev-2");
    terminating.metadata.deletion_timestamp = Some(Time(now()));
    let p0 = ready(&s, 0);
    let c = count(&[&p0, &terminating], 0, "rev-1", "rev-2", now());
    assert_eq!(
        c,
        Counts {
            replicas: 2,
            ready: 2,
            available: 2,
            current: 1,
            updated: 0
        }
    );
    assert_eq!(
        complete_rolling_update(&s, &c, "rev-1", "rev-2"),
        ("rev-1".to_string(), 1)
    );
    let p1 = member(&s, 1, "Running", true, "rev-2");
    let p0 = member(&s, 0, "Running", true, "rev-2");
    let c = count(&[&p0, &p1], 0, "rev-1", "rev-2", now());
    assert_eq!(
        complete_rolling_update(&s, &c, "rev-1", "rev-2"),
        ("rev-2".to_string(), 2)
    );
}

fn claim(owners: Vec<OwnerReference>) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("www-web-0".into()),
            namespace: Some("ns".into()),
            owner_references: (!owners.is_empty()).then_some(owners),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn retention_policy_owner_references() {
    let set_ref = cu::new_controller_ref("apps/v1", "StatefulSet", "web", "set-uid");
    let pod_ref =
        |o: i32| cu::new_controller_ref("v1", "Pod", &format!("web-{o}"), &format!("pod-uid-{o}"));

    // Retain/Retain: no owners.
    let s = with_claims(set(1), "Retain", "Retain");
    let p0 = ready(&s, 0);
    assert!(id::claim_owner_up_to_date(&s, &claim(vec![]), &p0));
    assert!(!id::claim_owner_up_to_date(
        &s,
        &claim(vec![set_ref.clone()]),
        &p0
    ));
    assert_eq!(
        id::claim_owner_refs(&s, &claim(vec![set_ref.clone()]), &p0),
        []
    );

    // whenDeleted Delete: owned by the set.
    let s = with_claims(set(1), "Delete", "Retain");
    assert!(!id::claim_owner_up_to_date(&s, &claim(vec![]), &p0));
    assert_eq!(
        id::claim_owner_refs(&s, &claim(vec![]), &p0),
        std::slice::from_ref(&set_ref)
    );
    assert!(id::claim_owner_up_to_date(
        &s,
        &claim(vec![set_ref.clone()]),
        &p0
    ));

    // whenScaled Delete: the pod owns its claim once scaled away.
    let s = with_claims(set(1), "Retain", "Delete");
    let mut p1 = ready(&s, 1);
    p1.metadata.uid = Some("pod-uid-1".into());
    let mut c1 = claim(vec![]);
    c1.metadata.name = Some("www-web-1".into());
    assert!(id::claim_owner_up_to_date(&s, &claim(vec![]), &p0));
    assert!(!id::claim_owner_up_to_date(&s, &c1, &p1));
    assert_eq!(id::claim_owner_refs(&s, &c1, &p1), [pod_ref(1)]);

    // Delete/Delete: the set until scaled away, then the pod.
    let s = with_claims(set(1), "Delete", "Delete");
    assert_eq!(
        id::claim_owner_refs(&s, &claim(vec![]), &p0),
        std::slice::from_ref(&set_ref)
    );
    let c1_set = {
        let mut c = c1.clone();
        c.metadata.owner_references = Some(vec![set_ref.clone()]);
        c
    };
    assert!(!id::claim_owner_up_to_date(&s, &c1_set, &p1));
    assert_eq!(id::claim_owner_refs(&s, &c1_set, &p1), [pod_ref(1)]);

    // Another controller of the claim: ours are scrubbed, none added.
    let other = cu::new_controller_ref("v1", "Other", "x", "other-uid");
    let c = claim(vec![other.clone(), set_ref.clone()]);
    assert!(!id::claim_owner_up_to_date(&s, &c, &p0));
    assert_eq!(id::claim_owner_refs(&s, &c, &p0), [other]);

    // A claim of an earlier pod of the same name blocks the new pod.
    let mut stale_ref = pod_ref(0);
    stale_ref.uid = "old-uid".into();
    let stale = claim(vec![stale_ref]);
    assert!(id::claim_is_stale(&s, &stale, &p0));
    let claims: HashMap<String, PersistentVolumeClaim> = [("www-web-0".to_string(), stale)].into();
    assert_eq!(steps(&run_with_claims(&s, &[], "rev-1", &claims)), []);
}

#[test]
fn pending_pods_get_missing_claims_and_wrong_identity_is_repaired() {
    let s = with_claims(set(2), "Retain", "Retain");
    let pending = member(&s, 0, "Pending", false, "rev-1");
    assert_eq!(
        steps(&run(&s, &[pending], "rev-1")),
        [Step::EnsureClaims {
            ordinal: 0,
            pod: pod("web-0")
        }]
    );
    let mut relabelled = ready(&s, 0);
    relabelled
        .metadata
        .labels
        .get_or_insert_default()
        .remove(id::POD_NAME_LABEL);
    let claims: HashMap<String, PersistentVolumeClaim> =
        [("www-web-0".to_string(), claim(vec![]))].into();
    assert_eq!(
        steps(&run_with_claims(
            &s,
            &[relabelled, ready(&s, 1)],
            "rev-1",
            &claims
        ))[0],
        Step::UpdatePod { pod: pod("web-0") }
    );
}

#[test]
fn parallel_creation_is_bounded_per_sync() {
    let s = parallel(set(i32::MAX));
    let p = run(&s, &[], "rev-1");
    assert_eq!(p.steps().count(), MAX_CREATES_PER_SYNC);
    assert_eq!(
        p.steps().last(),
        Some(&Step::CreatePod {
            ordinal: MAX_CREATES_PER_SYNC as i32 - 1
        })
    );
}
