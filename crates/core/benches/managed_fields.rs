//! Times `managed_fields::update_request` for the writes a pod sees in the
//! scheduling benchmark (`skiff-bench scheduling`): the create and the node
//! agent's status updates. A micro benchmark (whole-cluster figures are in
//! `skiff-bench`); run it with:
//!
//! ```text
//! cargo bench -p skiff-core --bench managed_fields
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails by panicking

use std::time::Instant;

use serde_json::{Value, json};
use skiff_core::managed_fields::{Request, update_request};

/// A pod of `bench/src/cluster.rs` `pod_template` as skiff stores it after
/// defaulting and admission.
fn created_pod() -> Value {
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": "bench-pod-00042",
            "namespace": "bench",
            "uid": "0d3c5f8e-6a55-4bd4-9a2b-6e0f0b7e9c11",
            "creationTimestamp": "2026-11-22T10:00:00Z",
            "labels": {"app": "bench", "bench.skiff.dev/run": "r1"}
        },
        "spec": {
            "volumes": [{
                "name": "kube-api-access-abcde",
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                    ],
                    "defaultMode": 420
                }
            }],
            "containers": [{
                "name": "pause",
                "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                "volumeMounts": [{"name": "kube-api-access-abcde", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent"
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 0,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ],
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority"
        },
        "status": {"phase": "Pending", "qosClass": "Burstable"}
    })
}

/// The pod once bound and running, as the simulated kubelet reports it.
fn running(mut pod: Value) -> Value {
    pod["spec"]["nodeName"] = json!("sim-0421");
    pod["status"] = json!({
        "phase": "Running",
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T10:00:01Z"},
            {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T10:00:01Z"},
            {"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T10:00:01Z"},
            {"type": "ContainersReady", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T10:00:01Z"},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T10:00:00Z"}
        ],
        "hostIP": "10.90.1.165",
        "hostIPs": [{"ip": "10.90.1.165"}],
        "podIP": "10.42.7.12",
        "podIPs": [{"ip": "10.42.7.12"}],
        "startTime": "2026-11-22T10:00:01Z",
        "containerStatuses": [{
            "name": "pause",
            "state": {"running": {"startedAt": "2026-11-22T10:00:01Z"}},
            "lastState": {},
            "ready": true,
            "restartCount": 0,
            "image": "registry.k8s.io/pause:3.10",
            "imageID": "sim://registry.k8s.io/pause:3.10",
            "containerID": "sim://0d3c5f8e",
            "started": true
        }],
        "qosClass": "Burstable"
    });
    pod
}

fn request<'a>(manager: &'a str, subresource: Option<&'a str>) -> Request<'a> {
    Request {
        group: "",
        kind: "Pod",
        api_version: "v1",
        manager,
        subresource,
        now: "2026-11-22T10:00:02Z",
        reset_fields: None,
    }
}

/// Prints the time per call of the fastest of ten batches: the machine is
/// shared, and the minimum is what the code costs without other load.
fn time(label: &str, rounds: u32, mut f: impl FnMut()) {
    // `cargo bench ... -- <words>` times only the writes whose label has
    // one of the words (for a profile of one of them).
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !only.is_empty() && !only.iter().any(|w| label.contains(w.as_str())) {
        return;
    }
    for _ in 0..rounds / 10 {
        f();
    }
    let batch = (rounds / 10).max(1);
    let per = (0..10)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                f();
            }
            start.elapsed() / batch
        })
        .min()
        .unwrap_or_default();
    println!("{label}: {per:?} per call (fastest of 10 batches)");
}

fn main() {
    let pod = created_pod();
    let create = request("skiff-bench", None);
    let status = request("skiff", Some("status"));
    let stored = update_request(&create, None, &pod).unwrap();
    let mut bound = stored.clone();
    bound["spec"]["nodeName"] = json!("sim-0421");
    let ran = {
        let mut r = running(stored.clone());
        r["metadata"]["managedFields"] = stored["metadata"]["managedFields"].clone();
        r
    };
    let after_status = update_request(&status, Some(&bound), &ran).unwrap();
    // A second status write (a readiness change) over two managers.
    let mut again = after_status.clone();
    again["status"]["conditions"][2]["status"] = json!("False");

    let rounds = 20_000;
    time("create", rounds, || {
        std::hint::black_box(update_request(&create, None, &pod).unwrap());
    });
    time("status (first)", rounds, || {
        std::hint::black_box(update_request(&status, Some(&bound), &ran).unwrap());
    });
    time("status (second)", rounds, || {
        std::hint::black_box(update_request(&status, Some(&after_status), &again).unwrap());
    });
}
