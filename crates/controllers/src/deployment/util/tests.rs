use super::*;
use k8s_openapi::api::apps::v1::ReplicaSetStatus;
use serde_json::json;

fn ts(sec: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + sec).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A Deployment of `replicas` with RollingUpdate fenceposts and optional
/// extra spec fields.
fn deployment(
    replicas: i32,
    surge: serde_json::Value,
    unavailable: serde_json::Value,
) -> Deployment {
    deployment_with(replicas, surge, unavailable, json!({}))
}

fn deployment_with(
    replicas: i32,
    surge: serde_json::Value,
    unavailable: serde_json::Value,
    extra: serde_json::Value,
) -> Deployment {
    let mut v = json!({
        "metadata": {"name": "web", "namespace": "default", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
            "progressDeadlineSeconds": 600,
            "revisionHistoryLimit": 10,
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}},
        },
    });
    if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
        for (k, x) in extra {
            spec.insert(k.clone(), x.clone());
        }
    }
    serde_json::from_value(v).expect("valid deployment")
}

/// A ReplicaSet `name` of `replicas` (all existing, `available` of them
/// available), created at `created` seconds, with annotations.
fn rs(name: &str, replicas: i32, available: i32, created: i64, ann: &[(&str, &str)]) -> ReplicaSet {
    let mut r: ReplicaSet = serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": format!("uid-{name}"),
            "creationTimestamp": Time(ts(created)),
            "annotations": ann.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        },
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
    }))
    .expect("valid replica set");
    r.status = Some(ReplicaSetStatus {
        replicas,
        available_replicas: Some(available),
        ready_replicas: Some(available),
        ..Default::default()
    });
    r
}

fn with_template(mut r: ReplicaSet, image: &str, hash: &str) -> ReplicaSet {
    if let Some(s) = r.spec.as_mut() {
        s.template = Some(
            serde_json::from_value(json!({
                "metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH: hash}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            }))
            .expect("valid template"),
        );
    }
    r
}

#[test]
fn fenceposts_round_surge_up_and_unavailable_down() {
    let pct = |s: &str| IntOrString::String(s.into());
    let int = IntOrString::Int;
    let cases = [
        (Some(pct("25%")), Some(pct("25%")), 10, (3, 2)),
        (Some(pct("25%")), Some(pct("25%")), 1, (1, 0)),
        (Some(int(0)), Some(int(0)), 5, (0, 1)),
        (Some(int(1)), Some(int(0)), 3, (1, 0)),
        (Some(pct("0%")), Some(pct("50%")), 3, (0, 1)),
        (Some(pct("30%")), Some(pct("30%")), 10, (3, 3)),
        (Some(int(3)), Some(int(2)), 10, (3, 2)),
    ];
    for (surge, unavailable, replicas, want) in cases {
        assert_eq!(
            resolve_fenceposts(surge.as_ref(), unavailable.as_ref(), replicas),
            want,
            "{surge:?}/{unavailable:?} of {replicas}"
        );
    }
}

#[test]
fn max_unavailable_is_capped_and_zero_for_recreate() {
    assert_eq!(max_unavailable(&deployment(2, json!(0), json!(5))), 2);
    assert_eq!(max_unavailable(&deployment(0, json!(1), json!(1))), 0);
    let recreate = deployment_with(
        3,
        json!(1),
        json!(1),
        json!({"strategy": {"type": "Recreate"}}),
    );
    assert_eq!(max_unavailable(&recreate), 0);
    assert_eq!(max_surge(&recreate), 0);
    assert_eq!(max_surge(&deployment(10, json!("25%"), json!("25%"))), 3);
}

#[test]
fn new_replica_set_grows_within_surge() {
    // 3 replicas, maxSurge 1: the new RS may add one while the old has 3.
    assert_eq!(new_rs_new_replicas(3, 1, 3, 0), 1);
    assert_eq!(new_rs_new_replicas(3, 1, 4, 1), 1);
    assert_eq!(new_rs_new_replicas(3, 1, 3, 1), 2);
    assert_eq!(new_rs_new_replicas(3, 1, 0, 0), 3);
    // Never past the Deployment's replicas even with surge room left.
    assert_eq!(new_rs_new_replicas(3, 3, 3, 2), 3);
}

#[test]
fn proportional_scaling_follows_the_documented_example() {
    // kubernetes.io: replicas 10, maxSurge 3, maxUnavailable 2; a rollout
    // to a broken image stalls at old 8 / new 5; scaling to 15 adds 3 to
    // the old and 2 to the new ReplicaSet.
    let d = deployment(15, json!(3), json!(2));
    let ann = [(DESIRED_REPLICAS, "10"), (MAX_REPLICAS, "13")];
    let old = rs("web-old", 8, 8, 0, &ann);
    let new = rs("web-new", 5, 0, 10, &ann);
    let sizes = proportional_sizes(&d, &[&new, &old]);
    assert_eq!(sizes, vec![(1, 11), (0, 7)]);
}

#[test]
fn proportional_scaling_down_and_ties() {
    // Down from 15 (+3 surge = 18) to 5 (+3 = 8): old 11, new 7 shrink
    // in proportion; the leftover goes to the biggest.
    let d = deployment(5, json!(3), json!(2));
    let ann = [(DESIRED_REPLICAS, "15"), (MAX_REPLICAS, "18")];
    let old = rs("web-old", 11, 11, 0, &ann);
    let new = rs("web-new", 7, 0, 10, &ann);
    let sizes = proportional_sizes(&d, &[&old, &new]);
    // 11*8/18 = 4.9 -> 5 (-6); 7*8/18 = 3.1 -> 3 (-4); total -10.
    assert_eq!(sizes, vec![(0, 5), (1, 3)]);
    // Equal sizes growing: the newer one first, and it takes the leftover.
    let d = deployment(5, json!(1), json!(0));
    let ann = [(DESIRED_REPLICAS, "3"), (MAX_REPLICAS, "4")];
    let a = rs("web-a", 2, 2, 0, &ann);
    let b = rs("web-b", 2, 0, 0, &ann);
    // 2*6/4 = 3 each: +1 each, to_add 2.
    assert_eq!(proportional_sizes(&d, &[&a, &b]), vec![(1, 3), (0, 3)]);
    // Equal sizes shrinking: the older one first.
    let d = deployment(1, json!(1), json!(0));
    assert_eq!(proportional_sizes(&d, &[&b, &a]), vec![(1, 1), (0, 1)]);
    // To zero: everything goes.
    let d = deployment(0, json!(1), json!(0));
    assert_eq!(proportional_sizes(&d, &[&a, &b]), vec![(0, 0), (1, 0)]);
}

#[test]
fn proportion_without_annotation_uses_status_replicas() {
    let mut d = deployment(6, json!(0), json!(1));
    d.status = Some(DeploymentStatus {
        replicas: Some(4),
        ..Default::default()
    });
    let a = rs("web-a", 2, 2, 0, &[]);
    let b = rs("web-b", 2, 2, 1, &[]);
    // 2*6/4 = 3 each.
    assert_eq!(proportional_sizes(&d, &[&a, &b]), vec![(1, 3), (0, 3)]);
}

#[test]
fn scaling_event_and_active_or_latest() {
    let d = deployment(5, json!(1), json!(0));
    let a = rs("web-a", 3, 3, 0, &[(DESIRED_REPLICAS, "3")]);
    let idle = rs("web-b", 0, 0, 1, &[(DESIRED_REPLICAS, "3")]);
    assert!(is_scaling_event(&d, &[&a]));
    // Idle ReplicaSets and ones without the annotation do not count.
    assert!(!is_scaling_event(&d, &[&idle, &rs("web-c", 3, 3, 2, &[])]));
    assert!(!is_scaling_event(
        &deployment(3, json!(1), json!(0)),
        &[&a, &idle]
    ));

    let b = rs("web-b", 2, 2, 1, &[]);
    assert_eq!(
        find_active_or_latest(None, &[&a]).map(|r| r.name_any()),
        Some("web-a".into())
    );
    assert!(find_active_or_latest(Some(&b), &[&a]).is_none());
    let z1 = rs("web-z1", 0, 0, 1, &[]);
    let z2 = rs("web-z2", 0, 0, 2, &[]);
    assert_eq!(
        find_active_or_latest(None, &[&z1, &z2]).map(|r| r.name_any()),
        Some("web-z2".into())
    );
    assert_eq!(
        find_active_or_latest(Some(&z1), &[&z2]).map(|r| r.name_any()),
        Some("web-z1".into())
    );
}

#[test]
fn saturated_needs_size_annotation_and_availability() {
    let d = deployment(3, json!(1), json!(0));
    assert!(is_saturated(
        &d,
        Some(&rs("n", 3, 3, 0, &[(DESIRED_REPLICAS, "3")]))
    ));
    assert!(!is_saturated(
        &d,
        Some(&rs("n", 3, 2, 0, &[(DESIRED_REPLICAS, "3")]))
    ));
    assert!(!is_saturated(
        &d,
        Some(&rs("n", 3, 3, 0, &[(DESIRED_REPLICAS, "2")]))
    ));
    assert!(!is_saturated(&d, None));
}

#[test]
fn new_replica_set_finds_oldest_twin_ignoring_the_hash() {
    let d = deployment(3, json!(1), json!(0));
    let rss = vec![
        with_template(rs("web-b", 0, 0, 5, &[]), "busybox:1", "bbb"),
        with_template(rs("web-c", 0, 0, 9, &[]), "busybox:2", "ccc"),
        with_template(rs("web-a", 0, 0, 1, &[]), "busybox:1", "aaa"),
    ];
    assert_eq!(find_new_rs(&d, &rss), Some(2));
    assert_eq!(find_new_rs(&d, &rss[..2]), Some(0));
    assert_eq!(find_new_rs(&d, &rss[1..2]), None);
}

#[test]
fn annotations_of_a_new_replica_set() {
    let mut d = deployment(4, json!(1), json!(0));
    d.metadata.annotations = Some(BTreeMap::from([
        ("kubernetes.io/change-cause".to_string(), "v2".to_string()),
        (LAST_APPLIED.to_string(), "{}".to_string()),
        (REVISION.to_string(), "7".to_string()),
    ]));
    let ann = new_rs_annotations(&d, &BTreeMap::new(), 3, false).expect("changed");
    assert_eq!(
        ann,
        BTreeMap::from([
            ("kubernetes.io/change-cause".to_string(), "v2".to_string()),
            (REVISION.to_string(), "3".to_string()),
            (DESIRED_REPLICAS.to_string(), "4".to_string()),
            (MAX_REPLICAS.to_string(), "5".to_string()),
        ])
    );
    // An existing new ReplicaSet already up to date: nothing to write.
    assert_eq!(new_rs_annotations(&d, &ann, 3, true), None);
    // A lower revision in the cache never lowers it.
    assert_eq!(new_rs_annotations(&d, &ann, 2, true), None);
}

#[test]
fn undo_keeps_the_revision_history() {
    let d = deployment(3, json!(1), json!(0));
    let current = BTreeMap::from([(REVISION.to_string(), "1".to_string())]);
    let ann = new_rs_annotations(&d, &current, 3, true).expect("changed");
    assert_eq!(ann.get(REVISION).map(String::as_str), Some("3"));
    assert_eq!(ann.get(REVISION_HISTORY).map(String::as_str), Some("1"));
    let ann = new_rs_annotations(&d, &ann, 5, true).expect("changed");
    assert_eq!(ann.get(REVISION_HISTORY).map(String::as_str), Some("1,3"));
    // Past 2000 characters the oldest entries go.
    let long: Vec<String> = (0..500).map(|i| format!("{}", 1000 + i)).collect();
    let current = BTreeMap::from([
        (REVISION.to_string(), "2000".to_string()),
        (REVISION_HISTORY.to_string(), long.join(",")),
    ]);
    let ann = new_rs_annotations(&d, &current, 2001, true).expect("changed");
    let history = ann.get(REVISION_HISTORY).cloned().unwrap_or_default();
    assert!(history.len() <= 2000, "{}", history.len());
    assert!(history.ends_with(",2000"));
    assert!(!history.starts_with("1000,"));
}

#[test]
fn cleanup_deletes_lowest_revisions_past_the_limit_but_never_busy_ones() {
    let d = deployment_with(3, json!(1), json!(0), json!({"revisionHistoryLimit": 1}));
    let r1 = rs("web-1", 0, 0, 1, &[(REVISION, "1")]);
    let r2 = rs("web-2", 2, 2, 2, &[(REVISION, "2")]);
    let r3 = rs("web-3", 0, 0, 3, &[(REVISION, "3")]);
    // Three old, limit one: the two lowest revisions are candidates, and
    // web-2 still has pods.
    assert_eq!(
        cleanup_victims(&d, &[&r3, &r2, &r1]),
        vec!["web-1".to_string()]
    );
    assert!(cleanup_victims(&d, &[&r3]).is_empty());
    let zero = deployment_with(3, json!(1), json!(0), json!({"revisionHistoryLimit": 0}));
    assert_eq!(
        cleanup_victims(&zero, &[&r3, &r1]),
        vec!["web-1".to_string(), "web-3".to_string()]
    );
    // A ReplicaSet whose controller has not seen its last change stays.
    let mut unobserved = rs("web-4", 0, 0, 4, &[(REVISION, "4")]);
    unobserved.metadata.generation = Some(2);
    assert!(cleanup_victims(&zero, &[&unobserved]).is_empty());
}

#[test]
fn recreate_waits_for_old_pods() {
    let gone = rs("web-1", 0, 0, 1, &[]);
    let pod = |phase: &str| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "status": {"phase": phase}}))
            .expect("pod")
    };
    assert!(!old_pods_running(&[&gone], []));
    assert!(old_pods_running(&[&gone], [&pod("Running")]));
    assert!(old_pods_running(&[&gone], [&pod("Unknown")]));
    assert!(!old_pods_running(
        &[&gone],
        [&pod("Succeeded"), &pod("Failed")]
    ));
    // Reported replicas count even before the pods are seen.
    assert!(old_pods_running(&[&rs("web-1", 1, 1, 1, &[])], []));
}

fn progressing(s: &DeploymentStatus) -> (String, String) {
    let c = get_condition(Some(s), PROGRESSING).expect("Progressing");
    (c.status.clone(), c.reason.clone().unwrap_or_default())
}

#[test]
fn rollout_progresses_times_out_and_completes() {
    let mut d = deployment_with(3, json!(1), json!(0), json!({"progressDeadlineSeconds": 5}));
    let old = rs("web-1", 3, 3, 0, &[]);
    let mut new = rs("web-2", 1, 0, 1, &[]);
    // Just created: NewReplicaSetCreated at t=0, then the new pod appears.
    let mut st = DeploymentStatus {
        observed_generation: Some(1),
        replicas: Some(3),
        available_replicas: Some(3),
        ready_replicas: Some(3),
        ..Default::default()
    };
    set_condition(
        &mut st,
        condition(PROGRESSING, "True", NEW_RS_CREATED, "Created".into(), ts(0)),
    );
    d.status = Some(st);
    let s = rollout_status(&d, &[&old, &new], Some(&new), ts(1));
    assert_eq!(progressing(&s), ("True".into(), RS_UPDATED.into()));
    assert_eq!(s.updated_replicas, Some(1));
    assert_eq!(s.unavailable_replicas, Some(1));
    let c = get_condition(Some(&s), PROGRESSING).expect("cond");
    assert_eq!(c.last_update_time, Some(Time(ts(1))));
    assert_eq!(c.last_transition_time, Some(Time(ts(0))));
    assert_eq!(
        c.message.as_deref(),
        Some("ReplicaSet \"web-2\" is progressing.")
    );
    d.status = Some(s.clone());
    // No progress: not timed out at the deadline, only after it.
    assert_eq!(
        progressing(&rollout_status(&d, &[&old, &new], Some(&new), ts(6))).1,
        RS_UPDATED
    );
    assert_eq!(
        requeue_stuck(&d, &s, ts(3)),
        Some(Duration::from_millis(3100))
    );
    let s = rollout_status(&d, &[&old, &new], Some(&new), ts(7));
    assert_eq!(progressing(&s), ("False".into(), TIMED_OUT.into()));
    assert_eq!(
        get_condition(Some(&s), PROGRESSING)
            .and_then(|c| c.message.clone())
            .as_deref(),
        Some("ReplicaSet \"web-2\" has timed out progressing.")
    );
    d.status = Some(s.clone());
    assert_eq!(requeue_stuck(&d, &s, ts(8)), None);
    // Progress after the time-out: progressing again, a new transition.
    new = rs("web-2", 3, 3, 1, &[]);
    let gone = rs("web-1", 0, 0, 0, &[]);
    let s = rollout_status(&d, &[&gone, &new], Some(&new), ts(20));
    assert_eq!(progressing(&s), ("True".into(), NEW_RS_AVAILABLE.into()));
    let c = get_condition(Some(&s), PROGRESSING).expect("cond");
    assert_eq!(c.last_transition_time, Some(Time(ts(20))));
    assert_eq!(
        get_condition(Some(&s), AVAILABLE).map(|c| c.status.as_str()),
        Some("True")
    );
    // A finished rollout estimates nothing more.
    d.status = Some(s.clone());
    let again = rollout_status(&d, &[&gone, &new], Some(&new), ts(900));
    assert!(same_status(Some(&s), &again));
}

#[test]
fn available_condition_follows_max_unavailable() {
    let d = deployment(4, json!(1), json!(1));
    let s = calculate_status(&d, &[&rs("a", 4, 3, 0, &[])], None, ts(0));
    assert_eq!(
        get_condition(Some(&s), AVAILABLE)
            .and_then(|c| c.reason.clone())
            .as_deref(),
        Some(MINIMUM_REPLICAS_AVAILABLE)
    );
    let s = calculate_status(&d, &[&rs("a", 4, 2, 0, &[])], None, ts(0));
    let c = get_condition(Some(&s), AVAILABLE).expect("Available");
    assert_eq!(c.status, "False");
    assert_eq!(c.reason.as_deref(), Some(MINIMUM_REPLICAS_UNAVAILABLE));
    assert_eq!(s.unavailable_replicas, Some(2));
    // More available than wanted while scaling down: no negative count.
    let s = calculate_status(&d, &[&rs("a", 2, 4, 0, &[])], None, ts(0));
    assert_eq!(s.unavailable_replicas, None);
}

#[test]
fn pause_and_resume_conditions() {
    let mut d = deployment_with(3, json!(1), json!(0), json!({"paused": true}));
    let c = paused_condition(&d, ts(0)).expect("paused");
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref()),
        ("Unknown", Some(PAUSED))
    );
    let mut st = DeploymentStatus::default();
    set_condition(&mut st, c);
    d.status = Some(st.clone());
    assert!(paused_condition(&d, ts(1)).is_none());
    if let Some(s) = d.spec.as_mut() {
        s.paused = Some(false);
    }
    let c = paused_condition(&d, ts(2)).expect("resumed");
    assert_eq!(c.reason.as_deref(), Some(RESUMED));
    // A reported time-out is not overwritten by pausing.
    let mut st = DeploymentStatus::default();
    set_condition(
        &mut st,
        condition(PROGRESSING, "False", TIMED_OUT, "x".into(), ts(0)),
    );
    d.status = Some(st);
    if let Some(s) = d.spec.as_mut() {
        s.paused = Some(true);
    }
    assert!(paused_condition(&d, ts(3)).is_none());
}

#[test]
fn conditions_keep_transition_time_within_a_status() {
    let mut st = DeploymentStatus::default();
    set_condition(
        &mut st,
        condition(PROGRESSING, "True", NEW_RS_CREATED, "a".into(), ts(0)),
    );
    set_condition(
        &mut st,
        condition(PROGRESSING, "True", RS_UPDATED, "b".into(), ts(5)),
    );
    let c = get_condition(Some(&st), PROGRESSING).expect("cond");
    assert_eq!(c.last_transition_time, Some(Time(ts(0))));
    assert_eq!(c.last_update_time, Some(Time(ts(5))));
    // Same status and reason: nothing moves.
    set_condition(
        &mut st,
        condition(PROGRESSING, "True", RS_UPDATED, "c".into(), ts(9)),
    );
    let c = get_condition(Some(&st), PROGRESSING).expect("cond");
    assert_eq!(c.message.as_deref(), Some("b"));
}

#[test]
fn legacy_rollback_request() {
    let mut d = deployment(3, json!(1), json!(0));
    assert_eq!(rollback_to(&d), None);
    d.metadata.annotations = Some(BTreeMap::from([
        (ROLLBACK_TO.to_string(), "0".to_string()),
        (REVISION.to_string(), "3".to_string()),
        ("team".to_string(), "a".to_string()),
    ]));
    assert_eq!(rollback_to(&d), Some(0));
    let r1 = rs("web-1", 0, 0, 1, &[(REVISION, "1")]);
    let r2 = with_template(
        rs(
            "web-2",
            0,
            0,
            2,
            &[(REVISION, "2"), ("owner", "b"), (DESIRED_REPLICAS, "3")],
        ),
        "busybox:2",
        "h2",
    );
    let r3 = rs("web-3", 3, 3, 3, &[(REVISION, "3")]);
    assert_eq!(last_revision(&[&r1, &r3, &r2]), 2);
    assert_eq!(last_revision(&[&r3]), 0);
    let back = rolled_back(&d, &r2);
    let template = back
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    assert!(equal_ignore_hash(
        &template,
        r2.spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .expect("t")
    ));
    let labels = template.metadata.and_then(|m| m.labels).unwrap_or_default();
    assert!(!labels.contains_key(POD_TEMPLATE_HASH));
    // The ReplicaSet's annotations replace the Deployment's, but the
    // Deployment keeps its revision and loses the request.
    assert_eq!(
        back.metadata.annotations,
        Some(BTreeMap::from([
            (REVISION.to_string(), "3".to_string()),
            ("owner".to_string(), "b".to_string()),
        ]))
    );
    d.metadata.annotations = Some(BTreeMap::from([(ROLLBACK_TO.to_string(), "x".to_string())]));
    assert_eq!(rollback_to(&d), None);
}
