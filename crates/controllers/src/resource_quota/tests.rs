use k8s_openapi::api::core::v1::{Pod, ResourceQuota};
use serde_json::json;

use super::*;

fn now() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().expect("valid timestamp")
}

fn pod(cpu: Option<&str>, phase: &str, deadline: Option<i64>) -> Pod {
    let resources = match cpu {
        Some(c) => json!({"requests": {"cpu": c}, "limits": {"cpu": c}}),
        None => json!({}),
    };
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"activeDeadlineSeconds": deadline,
            "containers": [{"name": "c", "image": "x", "resources": resources}]},
        "status": {"phase": phase}
    }))
    .expect("valid pod")
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Resource name and printed quantity.
type Pairs = Vec<(&'static str, &'static str)>;

fn printed(u: &Usage) -> Vec<(String, String)> {
    u.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
}

fn scope(name: &str) -> ScopedResourceSelectorRequirement {
    ScopedResourceSelectorRequirement {
        scope_name: name.into(),
        operator: "Exists".into(),
        values: None,
    }
}

#[test]
fn usage_of_pods_by_scope() {
    let pods = [
        pod(Some("1"), "Running", None),
        pod(Some("500m"), "Pending", Some(30)),
        pod(None, "Running", None),
        pod(Some("2"), "Succeeded", None),
        pod(Some("2"), "Failed", Some(30)),
    ];
    let tracked = strings(&["pods", "requests.cpu", "count/pods"]);
    let cases: Vec<(&str, Vec<ScopedResourceSelectorRequirement>, Pairs)> = vec![
        (
            "no scope: terminal pods are counted as objects only",
            vec![],
            vec![
                ("count/pods", "5"),
                ("pods", "3"),
                ("requests.cpu", "1500m"),
            ],
        ),
        (
            "Terminating",
            vec![scope("Terminating")],
            vec![("count/pods", "2"), ("pods", "1"), ("requests.cpu", "500m")],
        ),
        (
            "NotTerminating and NotBestEffort",
            vec![scope("NotTerminating"), scope("NotBestEffort")],
            vec![("count/pods", "2"), ("pods", "1"), ("requests.cpu", "1")],
        ),
        (
            "BestEffort: nothing requested, every tracked resource still zero",
            vec![scope("BestEffort")],
            vec![("count/pods", "1"), ("pods", "1"), ("requests.cpu", "0")],
        ),
    ];
    for (name, selectors, want) in cases {
        let got = usage_of(
            pods.iter().map(Object::Pod),
            &Evaluator::Pods,
            &tracked,
            &selectors,
            now(),
        )
        .expect("scopes evaluate");
        // The controller keeps only what the quota limits.
        let got = quota::mask(&got, &tracked);
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(printed(&got), want, "{name}");
    }
}

#[test]
fn new_used_keeps_what_was_not_recalculated_and_drops_the_rest() {
    let previous: Usage = [
        ("count/widgets.example.com", "3"),
        ("pods", "7"),
        ("secrets", "2"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), quota::Amount::parse(v).expect("valid")))
    .collect();
    let calculated: Usage = [("pods".to_string(), quota::Amount::from_int(2))].into();
    let hard = strings(&["count/widgets.example.com", "pods"]);
    assert_eq!(
        printed(&new_used(&previous, &calculated, &hard)),
        vec![
            ("count/widgets.example.com".to_string(), "3".to_string()),
            ("pods".to_string(), "2".to_string())
        ]
    );
}

#[test]
fn quotas_needing_a_sync() {
    let q =
        |v: serde_json::Value| -> ResourceQuota { serde_json::from_value(v).expect("valid quota") };
    let cases = [
        (
            "new quota",
            q(json!({"spec": {"hard": {"pods": "2"}}})),
            true,
        ),
        (
            "synced",
            q(json!({"spec": {"hard": {"pods": "2"}},
                "status": {"hard": {"pods": "2"}, "used": {"pods": "1"}}})),
            false,
        ),
        (
            "same limit written differently",
            q(json!({"spec": {"hard": {"cpu": "1"}},
                "status": {"hard": {"cpu": "1000m"}, "used": {"cpu": "0"}}})),
            false,
        ),
        (
            "spec changed",
            q(json!({"spec": {"hard": {"pods": "3"}},
                "status": {"hard": {"pods": "2"}, "used": {"pods": "1"}}})),
            true,
        ),
        (
            "usage missing",
            q(json!({"spec": {"hard": {"pods": "2", "secrets": "1"}},
                "status": {"hard": {"pods": "2", "secrets": "1"}, "used": {"pods": "1"}}})),
            true,
        ),
    ];
    for (name, quota, want) in cases {
        assert_eq!(needs_sync(&quota), want, "{name}");
    }
}

#[test]
fn kinds_tracked_by_hard_limits() {
    let names = strings(&[
        "requests.cpu",
        "count/configmaps",
        "secrets",
        "count/deployments.apps",
        "services.nodeports",
        "count/widgets.example.com",
    ]);
    assert_eq!(
        tracked_kinds(&names).into_iter().collect::<Vec<_>>(),
        vec![
            Kind::Pods,
            Kind::Services,
            Kind::ConfigMaps,
            Kind::Secrets,
            Kind::Deployments
        ]
    );
}
