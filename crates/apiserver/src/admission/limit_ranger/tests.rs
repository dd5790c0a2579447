//! The pure rules of the LimitRanger plugin, with the cases of upstream's
//! `admission_test.go` retold.

use serde_json::{Value, json};

use super::*;

/// A LimitRange with the given items.
fn range(items: Value) -> Vec<LimitItem> {
    items_of(&json!({"spec": {"limits": items}}))
}

/// A container with requests and limits (`null` for none).
fn container(name: &str, requests: Value, limits: Value) -> Value {
    let mut resources = serde_json::Map::new();
    if !requests.is_null() {
        resources.insert("requests".into(), requests);
    }
    if !limits.is_null() {
        resources.insert("limits".into(), limits);
    }
    json!({"name": name, "image": "busybox", "resources": resources})
}

fn pod(containers: Vec<Value>, init: Vec<Value>) -> Value {
    json!({
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"containers": containers, "initContainers": init},
    })
}

fn cpu_mem(cpu: &str, mem: &str) -> Value {
    json!({"cpu": cpu, "memory": mem})
}

#[test]
fn defaults_fill_only_what_containers_leave_unset() {
    let items = range(json!([{
        "type": "Container",
        "default": {"cpu": "500m", "memory": "512Mi"},
        "defaultRequest": {"cpu": "250m", "memory": "256Mi"},
    }]));
    let mut p = pod(
        vec![
            container("nginx", Value::Null, Value::Null),
            container("sidecar", json!({"cpu": "100m"}), json!({"memory": "1Gi"})),
        ],
        vec![container("setup", Value::Null, Value::Null)],
    );
    assert!(apply_defaults(&mut p, &items));
    let c = &p["spec"]["containers"];
    assert_eq!(c[0]["resources"]["requests"], cpu_mem("250m", "256Mi"));
    assert_eq!(c[0]["resources"]["limits"], cpu_mem("500m", "512Mi"));
    assert_eq!(c[1]["resources"]["requests"], cpu_mem("100m", "256Mi"));
    assert_eq!(c[1]["resources"]["limits"], cpu_mem("500m", "1Gi"));
    assert_eq!(
        p["spec"]["initContainers"][0]["resources"]["limits"],
        cpu_mem("500m", "512Mi")
    );
    assert_eq!(
        p["metadata"]["annotations"][ANNOTATION],
        "LimitRanger plugin set: cpu, memory request for container nginx; \
         cpu, memory limit for container nginx; memory request for container sidecar; \
         cpu limit for container sidecar; cpu, memory request for init container setup; \
         cpu, memory limit for init container setup"
    );
}

#[test]
fn nothing_to_default_leaves_the_pod_alone() {
    let full = container("c", cpu_mem("1", "1Gi"), cpu_mem("1", "1Gi"));
    let cases: Vec<(&str, Value, Value)> = vec![
        ("no items", json!([]), pod(vec![full.clone()], vec![])),
        (
            "only bounds",
            json!([{"type": "Container", "max": {"cpu": "2"}}]),
            pod(vec![container("c", Value::Null, Value::Null)], vec![]),
        ),
        (
            "pod type defaults nothing",
            json!([{"type": "Pod", "max": {"cpu": "2"}}]),
            pod(vec![container("c", Value::Null, Value::Null)], vec![]),
        ),
        (
            "all set",
            json!([{"type": "Container", "default": {"cpu": "2"}, "defaultRequest": {"cpu": "1"}}]),
            pod(vec![full], vec![]),
        ),
    ];
    for (name, items, p) in cases {
        let mut changed = p.clone();
        assert!(!apply_defaults(&mut changed, &range(items)), "{name}");
        assert_eq!(changed, p, "{name}");
        assert!(changed["metadata"].get("annotations").is_none(), "{name}");
    }
}

#[test]
fn defaults_are_written_in_canonical_form() {
    let items = range(json!([{"type": "Container", "default": {"cpu": 1, "memory": "1024Mi"}}]));
    let mut p = pod(vec![container("c", Value::Null, Value::Null)], vec![]);
    assert!(apply_defaults(&mut p, &items));
    assert_eq!(
        p["spec"]["containers"][0]["resources"]["limits"],
        cpu_mem("1", "1Gi")
    );
    assert!(
        p["spec"]["containers"][0]["resources"]
            .get("requests")
            .is_none()
    );
}

/// (case, items, pod, the aggregated message or None).
fn pod_cases() -> Vec<(&'static str, Value, Value, Option<&'static str>)> {
    let container_bounds = json!([{
        "type": "Container",
        "min": {"cpu": "100m", "memory": "64Mi"},
        "max": {"cpu": "1", "memory": "1Gi"},
    }]);
    vec![
        (
            "container within min and max",
            container_bounds.clone(),
            pod(
                vec![container("c", cpu_mem("100m", "64Mi"), cpu_mem("1", "1Gi"))],
                vec![],
            ),
            None,
        ),
        (
            "limit over max",
            json!([{"type": "Container", "max": {"cpu": "1"}}]),
            pod(
                vec![container("c", json!({"cpu": "500m"}), json!({"cpu": "2"}))],
                vec![],
            ),
            Some("maximum cpu usage per Container is 1, but limit is 2"),
        ),
        (
            "no limit under a max",
            json!([{"type": "Container", "max": {"memory": "1Gi"}}]),
            pod(
                vec![container("c", json!({"memory": "10Mi"}), Value::Null)],
                vec![],
            ),
            Some("maximum memory usage per Container is 1Gi.  No limit is specified"),
        ),
        (
            "request over max with limit within",
            json!([{"type": "Container", "max": {"cpu": "1"}}]),
            pod(
                vec![container("c", json!({"cpu": "1500m"}), json!({"cpu": "1"}))],
                vec![],
            ),
            Some("maximum cpu usage per Container is 1, but request is 1500m"),
        ),
        (
            "no request under a min",
            json!([{"type": "Container", "min": {"cpu": "100m"}}]),
            pod(vec![container("c", Value::Null, Value::Null)], vec![]),
            Some("minimum cpu usage per Container is 100m.  No request is specified"),
        ),
        (
            "request under min",
            json!([{"type": "Container", "min": {"memory": "64Mi"}}]),
            pod(
                vec![container("c", json!({"memory": "32Mi"}), Value::Null)],
                vec![],
            ),
            Some("minimum memory usage per Container is 64Mi, but request is 32Mi"),
        ),
        (
            "init container over max",
            container_bounds.clone(),
            pod(
                vec![container("c", cpu_mem("100m", "64Mi"), cpu_mem("1", "1Gi"))],
                vec![container("i", cpu_mem("100m", "64Mi"), cpu_mem("1", "2Gi"))],
            ),
            Some("maximum memory usage per Container is 1Gi, but limit is 2Gi"),
        ),
        (
            "several failures are joined in brackets, duplicates once",
            container_bounds,
            pod(
                vec![
                    container("a", cpu_mem("50m", "64Mi"), cpu_mem("2", "1Gi")),
                    container("b", cpu_mem("100m", "64Mi"), cpu_mem("2", "1Gi")),
                ],
                vec![],
            ),
            Some(
                "[minimum cpu usage per Container is 100m, but request is 50m, \
                 maximum cpu usage per Container is 1, but limit is 2]",
            ),
        ),
        (
            "ratio within bound",
            json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}]),
            pod(
                vec![container("c", json!({"cpu": "500m"}), json!({"cpu": "1"}))],
                vec![],
            ),
            None,
        ),
        (
            "ratio over bound",
            json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}]),
            pod(
                vec![container("c", json!({"cpu": "250m"}), json!({"cpu": "1"}))],
                vec![],
            ),
            Some(
                "cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000",
            ),
        ),
        (
            "fractional ratio bound",
            json!([{"type": "Container", "maxLimitRequestRatio": {"memory": "1.5"}}]),
            pod(
                vec![container(
                    "c",
                    json!({"memory": "1Gi"}),
                    json!({"memory": "2Gi"}),
                )],
                vec![],
            ),
            Some(
                "memory max limit to request ratio per Container is 1500m, but provided ratio is 2.000000",
            ),
        ),
        (
            "ratio without request",
            json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}]),
            pod(
                vec![container("c", Value::Null, json!({"cpu": "1"}))],
                vec![],
            ),
            Some(
                "cpu max limit to request ratio per Container is 2, but no request is specified or request is 0",
            ),
        ),
        (
            "ratio without limit",
            json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}]),
            pod(
                vec![container("c", json!({"cpu": "1"}), Value::Null)],
                vec![],
            ),
            Some(
                "cpu max limit to request ratio per Container is 2, but no limit is specified or limit is 0",
            ),
        ),
        (
            "pod sum over max",
            json!([{"type": "Pod", "max": {"memory": "1Gi"}}]),
            pod(
                vec![
                    container("a", json!({"memory": "512Mi"}), json!({"memory": "768Mi"})),
                    container("b", json!({"memory": "256Mi"}), json!({"memory": "512Mi"})),
                ],
                vec![],
            ),
            Some("maximum memory usage per Pod is 1Gi, but limit is 1280Mi"),
        ),
        (
            "pod sum within max; an init container only counts alone",
            json!([{"type": "Pod", "max": {"cpu": "2"}}]),
            pod(
                vec![
                    container("a", json!({"cpu": "1"}), json!({"cpu": "1"})),
                    container("b", json!({"cpu": "1"}), json!({"cpu": "1"})),
                ],
                vec![container("i", json!({"cpu": "2"}), json!({"cpu": "2"}))],
            ),
            None,
        ),
        (
            "an init container larger than the containers sets the pod's need",
            json!([{"type": "Pod", "max": {"cpu": "2"}}]),
            pod(
                vec![container("a", json!({"cpu": "1"}), json!({"cpu": "1"}))],
                vec![container("i", json!({"cpu": "3"}), json!({"cpu": "3"}))],
            ),
            Some("maximum cpu usage per Pod is 2, but limit is 3"),
        ),
        (
            "sidecars add to the containers and to later init containers",
            json!([{"type": "Pod", "max": {"cpu": "2"}}]),
            pod(
                vec![container("a", json!({"cpu": "1"}), json!({"cpu": "1"}))],
                vec![{
                    let mut s = container("s", json!({"cpu": "1500m"}), json!({"cpu": "1500m"}));
                    s["restartPolicy"] = json!("Always");
                    s
                }],
            ),
            Some("maximum cpu usage per Pod is 2, but limit is 2500m"),
        ),
        (
            "pod min needs every container's request",
            json!([{"type": "Pod", "min": {"cpu": "1"}}]),
            pod(
                vec![
                    container("a", json!({"cpu": "500m"}), Value::Null),
                    container("b", json!({"cpu": "400m"}), Value::Null),
                ],
                vec![],
            ),
            Some("minimum cpu usage per Pod is 1, but request is 900m"),
        ),
        (
            "claim items do not apply to pods",
            json!([{"type": "PersistentVolumeClaim", "max": {"storage": "1Gi"}}]),
            pod(vec![container("c", Value::Null, Value::Null)], vec![]),
            None,
        ),
    ]
}

#[test]
fn pods_are_checked_against_container_and_pod_items() {
    for (name, items, p, want) in pod_cases() {
        let got = aggregate(&validate_pod(&p, &range(items)));
        assert_eq!(got.as_deref(), want, "{name}");
    }
}

#[test]
fn defaults_then_bounds_admit_an_empty_pod() {
    // A LimitRange as its defaulting leaves it: default limit from max,
    // default request from default.
    let items = range(json!([{
        "type": "Container",
        "max": {"cpu": "1"},
        "min": {"cpu": "100m"},
        "default": {"cpu": "1"},
        "defaultRequest": {"cpu": "1"},
    }]));
    let mut p = pod(vec![container("c", Value::Null, Value::Null)], vec![]);
    apply_defaults(&mut p, &items);
    assert_eq!(aggregate(&validate_pod(&p, &items)), None);
}

#[test]
fn claims_are_checked_against_their_requests() {
    let items = json!([{"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}}]);
    let claim = |requests: Value, limits: Value| json!({"spec": {"resources": {"requests": requests, "limits": limits}}});
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("within", claim(json!({"storage": "5Gi"}), json!({})), None),
        (
            "a limit over max does not count",
            claim(json!({"storage": "5Gi"}), json!({"storage": "50Gi"})),
            None,
        ),
        (
            "over max",
            claim(json!({"storage": "20Gi"}), json!({})),
            Some("maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"),
        ),
        (
            "under min",
            claim(json!({"storage": "512Mi"}), json!({})),
            Some("minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 512Mi"),
        ),
        (
            "no request",
            claim(json!({}), json!({})),
            Some(
                "[minimum storage usage per PersistentVolumeClaim is 1Gi.  No request is specified, \
                 maximum storage usage per PersistentVolumeClaim is 10Gi.  No request is specified]",
            ),
        ),
    ];
    for (name, c, want) in cases {
        let got = aggregate(&validate_claim(&c, &range(items.clone())));
        assert_eq!(got.as_deref(), want, "{name}");
    }
    let container_items = range(json!([{"type": "Container", "max": {"storage": "1Gi"}}]));
    assert!(
        validate_claim(
            &claim(json!({"storage": "5Gi"}), json!({})),
            &container_items
        )
        .is_empty()
    );
}

#[test]
fn aggregate_matches_upstream_joining() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(aggregate(&[]), None);
    assert_eq!(aggregate(&s(&["a"])).as_deref(), Some("a"));
    assert_eq!(aggregate(&s(&["a", "a"])).as_deref(), Some("a"));
    assert_eq!(aggregate(&s(&["a", "b", "a"])).as_deref(), Some("[a, b]"));
}

#[test]
fn live_lookups_expire_and_stay_bounded() {
    let live = LiveLookups::default();
    assert!(live.get("ns").is_none());
    live.put("ns", Arc::new(vec![json!({"metadata": {"name": "lr"}})]));
    assert_eq!(live.get("ns").map(|items| items.len()), Some(1));
    // An entry past its TTL is not used.
    if let Some(e) = live.entries.lock().expect("lock").get_mut("ns") {
        e.expiry = Instant::now() - Duration::from_secs(1);
    }
    assert!(live.get("ns").is_none());
    for i in 0..LIVE_CAPACITY + 10 {
        live.put(&format!("ns-{i}"), Arc::new(Vec::new()));
    }
    let held = live.entries.lock().expect("lock").len();
    assert_eq!(held, LIVE_CAPACITY);
    assert!(live.get(&format!("ns-{}", LIVE_CAPACITY + 9)).is_some());
}
