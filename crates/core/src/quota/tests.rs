//! Upstream's quota cases (resources_test.go, pods_test.go, services_test.go,
//! admission_test.go), in table form.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, ResourceQuota, Service};
use serde_json::json;

use super::*;

fn now() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().expect("valid timestamp")
}

fn pod(v: serde_json::Value) -> Pod {
    serde_json::from_value(v).expect("valid pod")
}

fn usage(pairs: &[(&str, &str)]) -> Usage {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Amount::parse(v).expect("valid quantity")))
        .collect()
}

/// Resource name and printed quantity.
type Pairs = Vec<(&'static str, &'static str)>;

fn printed(u: &Usage) -> Vec<(String, String)> {
    u.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
}

fn quota(name: &str, hard: &[(&str, &str)], used: Option<&[(&str, &str)]>) -> ResourceQuota {
    let hard: serde_json::Map<String, serde_json::Value> = hard
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut status = json!({ "hard": hard });
    if let Some(used) = used {
        let used: serde_json::Map<String, serde_json::Value> = used
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        status["used"] = json!(used);
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"hard": hard},
        "status": status,
    }))
    .expect("valid quota")
}

fn container(
    name: &str,
    requests: serde_json::Value,
    limits: serde_json::Value,
) -> serde_json::Value {
    json!({"name": name, "image": "busybox", "resources": {"requests": requests, "limits": limits}})
}

#[test]
fn canonical_printing_like_upstream() {
    let cases: &[(&str, &str)] = &[
        ("0", "0"),
        ("1", "1"),
        ("1000", "1k"),
        ("1500m", "1500m"),
        ("1.5", "1500m"),
        ("2000m", "2"),
        ("100Mi", "100Mi"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("512Ki", "512Ki"),
        ("1Ki", "1Ki"),
        ("129M", "129M"),
        ("1e3", "1e3"),
        ("12345", "12345"),
        ("-100m", "-100m"),
    ];
    for (input, want) in cases {
        let a = Amount::parse(input).expect("valid quantity");
        assert_eq!(a.to_string(), *want, "{input}");
    }
}

#[test]
fn binary_under_1024_prints_decimal() {
    // 1Ki - 1000m is not whole; 0.5Ki is 512: both below 1024 print decimal.
    let a = Amount::parse("1Ki")
        .expect("valid")
        .minus(&Amount::parse("1").expect("valid"));
    assert_eq!(a.to_string(), "1023");
    assert_eq!(Amount::parse("0.5Ki").expect("valid").to_string(), "512");
}

#[test]
fn resource_list_arithmetic() {
    let a = usage(&[("cpu", "100m"), ("memory", "1Gi")]);
    let b = usage(&[("cpu", "900m"), ("pods", "1")]);
    assert_eq!(
        printed(&add(&a, &b)),
        vec![
            ("cpu".into(), "1".into()),
            ("memory".into(), "1Gi".into()),
            ("pods".into(), "1".into())
        ]
    );
    // Floored at zero, with every key of either side.
    assert_eq!(
        printed(&subtract_non_negative(&a, &b)),
        vec![
            ("cpu".into(), "0".into()),
            ("memory".into(), "1Gi".into()),
            ("pods".into(), "0".into())
        ]
    );
    let names = vec!["cpu".to_string(), "missing".to_string()];
    assert_eq!(
        printed(&mask(&a, &names)),
        vec![("cpu".into(), "100m".into())]
    );
    let hard = usage(&[("cpu", "500m")]);
    assert!(exceeded(&a, &hard).is_empty());
    assert_eq!(exceeded(&b, &hard), vec!["cpu".to_string()]);
    assert!(equals(&usage(&[("cpu", "1")]), &usage(&[("cpu", "1000m")])));
    assert!(!equals(
        &usage(&[("cpu", "1")]),
        &usage(&[("cpu", "1"), ("pods", "0")])
    ));
    assert_eq!(pretty_print(&add(&a, &b)), "cpu=1,memory=1Gi,pods=1");
}

#[test]
fn pod_usage_cases() {
    let cases: Vec<(&str, serde_json::Value, Pairs)> = vec![
        (
            "requests and limits",
            json!({"spec": {"containers": [
                container("a", json!({"cpu": "1", "memory": "1Gi"}), json!({"cpu": "2", "memory": "2Gi"}))
            ]}}),
            vec![
                ("count/pods", "1"),
                ("cpu", "1"),
                ("limits.cpu", "2"),
                ("limits.memory", "2Gi"),
                ("memory", "1Gi"),
                ("pods", "1"),
                ("requests.cpu", "1"),
                ("requests.memory", "1Gi"),
            ],
        ),
        (
            "containers sum, init container max",
            json!({"spec": {
            "initContainers": [container("init", json!({"cpu": "3"}), json!({}))],
            "containers": [
                container("a", json!({"cpu": "1"}), json!({})),
                container("b", json!({"cpu": "500m"}), json!({}))
            ]}}),
            vec![
                ("count/pods", "1"),
                ("cpu", "3"),
                ("pods", "1"),
                ("requests.cpu", "3"),
            ],
        ),
        (
            "sidecar runs alongside the containers",
            json!({"spec": {
                "initContainers": [{"name": "side", "image": "x", "restartPolicy": "Always",
                    "resources": {"requests": {"cpu": "1"}}}],
                "containers": [container("a", json!({"cpu": "1"}), json!({}))]}}),
            vec![
                ("count/pods", "1"),
                ("cpu", "2"),
                ("pods", "1"),
                ("requests.cpu", "2"),
            ],
        ),
        (
            "overhead added to requests, and to limits set",
            json!({"spec": {"overhead": {"cpu": "250m", "memory": "10Mi"},
                "containers": [container("a", json!({"cpu": "1"}), json!({"cpu": "2"}))]}}),
            vec![
                ("count/pods", "1"),
                ("cpu", "1250m"),
                ("limits.cpu", "2250m"),
                ("memory", "10Mi"),
                ("pods", "1"),
                ("requests.cpu", "1250m"),
                ("requests.memory", "10Mi"),
            ],
        ),
        (
            "extended resources and hugepages",
            json!({"spec": {"containers": [container("a",
                json!({"example.com/gpu": "2", "hugepages-2Mi": "4Mi"}),
                json!({"example.com/gpu": "2", "hugepages-2Mi": "4Mi"}))]}}),
            vec![
                ("count/pods", "1"),
                ("hugepages-2Mi", "4Mi"),
                ("pods", "1"),
                ("requests.example.com/gpu", "2"),
                ("requests.hugepages-2Mi", "4Mi"),
            ],
        ),
        (
            "terminal pod counts only as an object",
            json!({"spec": {"containers": [container("a", json!({"cpu": "1"}), json!({}))]},
                "status": {"phase": "Succeeded"}}),
            vec![("count/pods", "1")],
        ),
        (
            "deleted past its grace counts only as an object",
            json!({"metadata": {"deletionTimestamp": "2025-12-31T23:59:00Z", "deletionGracePeriodSeconds": 30},
                "spec": {"containers": [container("a", json!({"cpu": "1"}), json!({}))]}}),
            vec![("count/pods", "1")],
        ),
        (
            "deleted within its grace still counts",
            json!({"metadata": {"deletionTimestamp": "2025-12-31T23:59:50Z", "deletionGracePeriodSeconds": 30},
                "spec": {"containers": [container("a", json!({"cpu": "1"}), json!({}))]}}),
            vec![
                ("count/pods", "1"),
                ("cpu", "1"),
                ("pods", "1"),
                ("requests.cpu", "1"),
            ],
        ),
    ];
    for (name, p, want) in cases {
        let got = pod_usage(&pod(p), now());
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(printed(&got), want, "{name}");
    }
}

#[test]
fn pod_scopes() {
    let best_effort = pod(json!({"spec": {"containers": [{"name": "a", "image": "x"}]}}));
    let burstable = pod(
        json!({"spec": {"activeDeadlineSeconds": 10, "priorityClassName": "high",
        "containers": [container("a", json!({"cpu": "1"}), json!({}))]}}),
    );
    let sel = |scope: &str, op: &str, values: &[&str]| ScopedResourceSelectorRequirement {
        scope_name: scope.into(),
        operator: op.into(),
        values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
    };
    let cases = [
        (sel("BestEffort", "Exists", &[]), true, false),
        (sel("NotBestEffort", "Exists", &[]), false, true),
        (sel("Terminating", "Exists", &[]), false, true),
        (sel("NotTerminating", "Exists", &[]), true, false),
        (sel("PriorityClass", "Exists", &[]), false, true),
        (sel("PriorityClass", "DoesNotExist", &[]), true, false),
        (sel("PriorityClass", "In", &["high", "low"]), false, true),
        (sel("PriorityClass", "NotIn", &["high"]), true, false),
        (
            sel("CrossNamespacePodAffinity", "Exists", &[]),
            false,
            false,
        ),
    ];
    let ev = Evaluator::Pods;
    for (s, want_be, want_b) in cases {
        assert_eq!(
            ev.matches_scope(&s, Object::Pod(&best_effort)),
            Ok(want_be),
            "{} {} on best effort",
            s.scope_name,
            s.operator
        );
        assert_eq!(
            ev.matches_scope(&s, Object::Pod(&burstable)),
            Ok(want_b),
            "{} {} on burstable",
            s.scope_name,
            s.operator
        );
    }
    // Scopes never match other kinds.
    let svc = Service::default();
    assert_eq!(
        Evaluator::Services.matches_scope(&sel("BestEffort", "Exists", &[]), Object::Service(&svc)),
        Ok(false)
    );
}

#[test]
fn service_and_claim_usage() {
    let svc = |t: &str, extra: serde_json::Value| -> Service {
        let mut spec =
            json!({"type": t, "ports": [{"port": 80}, {"port": 443, "nodePort": 30443}]});
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        serde_json::from_value(json!({"spec": spec})).expect("valid service")
    };
    let cases = [
        ("ClusterIP", json!({}), "0", "0"),
        ("NodePort", json!({}), "2", "0"),
        ("LoadBalancer", json!({}), "2", "1"),
        (
            "LoadBalancer",
            json!({"allocateLoadBalancerNodePorts": false}),
            "1",
            "1",
        ),
    ];
    for (t, extra, node_ports, lbs) in cases {
        let u = service_usage(&svc(t, extra));
        assert_eq!(u["services"].to_string(), "1", "{t}");
        assert_eq!(u["count/services"].to_string(), "1", "{t}");
        assert_eq!(u["services.nodeports"].to_string(), node_ports, "{t}");
        assert_eq!(u["services.loadbalancers"].to_string(), lbs, "{t}");
    }
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
        "spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"allocatedResources": {"storage": "2Gi"}}
    }))
    .expect("valid claim");
    assert_eq!(
        printed(&pvc_usage(&pvc)),
        vec![
            ("count/persistentvolumeclaims".into(), "1".into()),
            (
                "fast.storageclass.storage.k8s.io/persistentvolumeclaims".into(),
                "1".into()
            ),
            (
                "fast.storageclass.storage.k8s.io/requests.storage".into(),
                "2Gi".into()
            ),
            ("persistentvolumeclaims".into(), "1".into()),
            ("requests.storage".into(), "2Gi".into()),
        ]
    );
}

#[test]
fn evaluators_and_matching_resources() {
    let names: Vec<String> = [
        "pods",
        "requests.cpu",
        "requests.example.com/gpu",
        "requests.hugepages-1Gi",
        "services",
        "count/configmaps",
        "configmaps",
        "count/deployments.apps",
        "gold.storageclass.storage.k8s.io/requests.storage",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "",
            "pods",
            &[
                "pods",
                "requests.cpu",
                "requests.example.com/gpu",
                "requests.hugepages-1Gi",
            ],
        ),
        ("", "services", &["services"]),
        ("", "configmaps", &["count/configmaps", "configmaps"]),
        ("apps", "deployments", &["count/deployments.apps"]),
        (
            "",
            "persistentvolumeclaims",
            &["gold.storageclass.storage.k8s.io/requests.storage"],
        ),
    ];
    for (group, resource, want) in cases {
        let ev = Evaluator::for_resource(group, resource).expect("an evaluator");
        assert_eq!(ev.matching_resources(&names), want, "{group}/{resource}");
    }
    assert_eq!(Evaluator::for_resource("", "events"), None);
    let count = Evaluator::for_resource("", "configmaps").expect("an evaluator");
    assert!(count.handles(Operation::Create, ""));
    assert!(!count.handles(Operation::Update, ""));
    assert!(Evaluator::Services.handles(Operation::Update, ""));
    assert!(!Evaluator::Pods.handles(Operation::Update, ""));
}

fn nginx(requests: serde_json::Value, limits: serde_json::Value) -> Pod {
    pod(json!({"metadata": {"name": "p", "namespace": "ns"},
        "spec": {"containers": [container("nginx", requests, limits)]}}))
}

#[test]
fn admission_decisions() {
    let two_cpu = || nginx(json!({"cpu": "2"}), json!({"cpu": "2"}));
    let one_cpu = || nginx(json!({"cpu": "1"}), json!({}));
    let cases: Vec<(&str, ResourceQuota, Pod, Result<Pairs, &str>)> = vec![
        (
            "fits: used goes up",
            quota(
                "compute",
                &[("pods", "2"), ("requests.cpu", "2")],
                Some(&[("pods", "0"), ("requests.cpu", "0")]),
            ),
            one_cpu(),
            Ok(vec![("pods", "1"), ("requests.cpu", "1")]),
        ),
        (
            "exceeds requests.cpu",
            quota(
                "compute",
                &[("requests.cpu", "2")],
                Some(&[("requests.cpu", "1")]),
            ),
            two_cpu(),
            Err(
                "exceeded quota: compute, requested: requests.cpu=2, used: requests.cpu=1, limited: requests.cpu=2",
            ),
        ),
        (
            "exceeds pods",
            quota(
                "compute",
                &[("pods", "2"), ("requests.cpu", "10")],
                Some(&[("pods", "2"), ("requests.cpu", "2")]),
            ),
            one_cpu(),
            Err("exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2"),
        ),
        (
            "must specify limits",
            quota(
                "compute",
                &[("limits.cpu", "4")],
                Some(&[("limits.cpu", "0")]),
            ),
            one_cpu(),
            Err("failed quota: compute: must specify limits.cpu for: nginx"),
        ),
        (
            "status unknown",
            quota(
                "compute",
                &[("pods", "4"), ("requests.cpu", "4")],
                Some(&[("pods", "0")]),
            ),
            one_cpu(),
            Err("status unknown for quota: compute, resources: pods,requests.cpu"),
        ),
        (
            "quota tracking nothing of pods",
            quota(
                "objects",
                &[("configmaps", "1")],
                Some(&[("configmaps", "1")]),
            ),
            one_cpu(),
            Ok(vec![]),
        ),
    ];
    for (name, q, p, want) in cases {
        let got = check_request(
            std::slice::from_ref(&q),
            &Evaluator::Pods,
            Object::Pod(&p),
            None,
            false,
            now(),
        );
        match want {
            Ok(used) => {
                let got = got.unwrap_or_else(|e| panic!("{name}: denied: {}", e.0));
                let want = if used.is_empty() {
                    None
                } else {
                    Some(usage(&used))
                };
                match (&got[0], &want) {
                    (Some(g), Some(w)) => assert!(equals(g, w), "{name}: {g:?}"),
                    (None, None) => {}
                    (g, w) => panic!("{name}: got {g:?}, want {w:?}"),
                }
            }
            Err(msg) => assert_eq!(got, Err(Denied(msg.to_string())), "{name}"),
        }
    }
}

#[test]
fn quota_without_status_covers_nothing() {
    // Upstream matches quotas on status.hard: a quota the controller has
    // not synced yet limits nothing.
    let q: ResourceQuota = serde_json::from_value(json!({
        "metadata": {"name": "fresh"}, "spec": {"hard": {"pods": "0"}}
    }))
    .expect("valid quota");
    let p = nginx(json!({}), json!({}));
    let got = check_request(&[q], &Evaluator::Pods, Object::Pod(&p), None, false, now());
    assert_eq!(got, Ok(vec![None]));
}

#[test]
fn service_update_charges_the_difference() {
    let q = quota(
        "svc",
        &[("services.loadbalancers", "1"), ("services", "5")],
        Some(&[("services.loadbalancers", "1"), ("services", "1")]),
    );
    let cluster_ip: Service =
        serde_json::from_value(json!({"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}))
            .expect("valid");
    let lb: Service =
        serde_json::from_value(json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}))
            .expect("valid");
    let got = check_request(
        std::slice::from_ref(&q),
        &Evaluator::Services,
        Object::Service(&lb),
        Some(Object::Service(&cluster_ip)),
        false,
        now(),
    );
    assert_eq!(
        got,
        Err(Denied(
            "exceeded quota: svc, requested: services.loadbalancers=1, used: services.loadbalancers=1, limited: services.loadbalancers=1".into()
        ))
    );
    // The other way round frees nothing at admission and charges nothing.
    let got = check_request(
        std::slice::from_ref(&q),
        &Evaluator::Services,
        Object::Service(&cluster_ip),
        Some(Object::Service(&lb)),
        false,
        now(),
    );
    assert_eq!(got, Ok(vec![None]));
}

#[test]
fn object_count_with_legacy_name() {
    let q = quota(
        "objects",
        &[("count/configmaps", "1")],
        Some(&[("count/configmaps", "1")]),
    );
    let ev = Evaluator::for_resource("", "configmaps").expect("an evaluator");
    let got = check_request(&[q], &ev, Object::Other, None, false, now());
    assert_eq!(
        got,
        Err(Denied(
            "exceeded quota: objects, requested: count/configmaps=1, used: count/configmaps=1, limited: count/configmaps=1".into()
        ))
    );
}
