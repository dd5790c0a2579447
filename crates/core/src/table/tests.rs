//! Expected rows written from upstream's printing rules and tests
//! (`pkg/printers/internalversion/printers_test.go`), one table per kind.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use super::{cells, columns, human_duration, human_duration_nanos, row_conditions};

const NOW: OffsetDateTime = datetime!(2025-01-10 12:00:00 UTC);

/// An RFC 3339 timestamp `secs` seconds before [`NOW`].
fn ago(secs: i64) -> String {
    let t = NOW - time::Duration::seconds(secs);
    super::format_rfc3339_utc(t)
}

const DAY: i64 = 24 * 3600;

/// Metadata of an object named `name` created a day before [`NOW`].
fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(DAY)})
}

fn with_meta(name: &str, mut obj: Value) -> Value {
    obj["metadata"] = meta(name);
    obj
}

fn check(group: &str, resource: &str, cases: &[(&str, Value, Value)]) {
    for (what, obj, want) in cases {
        let got = Value::Array(cells(group, resource, obj, NOW));
        assert_eq!(&got, want, "{group}/{resource}: {what}");
    }
}

#[test]
fn human_duration_boundaries() {
    let cases: &[(u64, &str)] = &[
        (0, "0s"),
        (1, "1s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (8 * 3600 - 60, "7h59m"),
        (8 * 3600, "8h"),
        (47 * 3600 + 59 * 60, "47h"),
        (48 * 3600, "2d"),
        (50 * 3600, "2d2h"),
        (8 * 86400 - 3600, "7d23h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400 - 86400, "7y364d"),
        (8 * 365 * 86400, "8y"),
        (10 * 365 * 86400 + 5 * 86400, "10y"),
    ];
    for (secs, want) in cases {
        assert_eq!(human_duration(Duration::from_secs(*secs)), *want, "{secs}s");
    }
    // Sub-second precision is dropped, not rounded.
    assert_eq!(human_duration(Duration::from_millis(1999)), "1s");
}

#[test]
fn human_duration_tolerates_small_clock_skew_only() {
    assert_eq!(human_duration_nanos(-1_500_000_000), "0s");
    assert_eq!(human_duration_nanos(-1_999_999_999), "0s");
    assert_eq!(human_duration_nanos(-2_000_000_000), "<invalid>");
}

#[test]
fn age_of_unset_or_future_timestamp() {
    let no_timestamp = json!({"metadata": {"name": "x"}, "status": {"phase": "Active"}});
    let future = json!({"metadata": {"name": "x", "creationTimestamp": "2025-01-10T12:00:05Z"}});
    check(
        "",
        "namespaces",
        &[
            ("unset", no_timestamp, json!(["x", "Active", "<unknown>"])),
            ("future", future, json!(["x", "", "<invalid>"])),
        ],
    );
}

fn running(name: &str) -> Value {
    json!({"name": name, "ready": true, "restartCount": 0, "state": {"running": {"startedAt": ago(DAY)}}})
}

fn pod(spec: Value, status: Value) -> Value {
    json!({"metadata": meta("web"), "spec": spec, "status": status})
}

fn two_containers() -> Value {
    json!({"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}], "nodeName": "node-1"})
}

#[test]
fn pods() {
    let mut deleting = pod(
        two_containers(),
        json!({"phase": "Running", "containerStatuses": [running("a"), running("b")]}),
    );
    deleting["metadata"]["deletionTimestamp"] = json!(ago(5));
    let mut lost = pod(
        two_containers(),
        json!({"phase": "Running", "reason": "NodeLost"}),
    );
    let lost_not_deleted = lost.clone();
    lost["metadata"]["deletionTimestamp"] = json!(ago(5));
    let mut succeeded_deleting = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Succeeded", "containerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    );
    succeeded_deleting["metadata"]["deletionTimestamp"] = json!(ago(5));

    check(
        "",
        "pods",
        &[
            (
                "running and ready",
                pod(
                    two_containers(),
                    json!({"phase": "Running", "podIP": "10.42.0.5", "podIPs": [{"ip": "10.42.0.5"}],
                        "containerStatuses": [running("a"), running("b")]}),
                ),
                json!([
                    "web",
                    "2/2",
                    "Running",
                    "0",
                    "24h",
                    "10.42.0.5",
                    "node-1",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                "pending without status",
                pod(
                    json!({"containers": [{"name": "a"}]}),
                    json!({"phase": "Pending"}),
                ),
                json!([
                    "web", "0/1", "Pending", "0", "24h", "<none>", "<none>", "<none>", "<none>"
                ]),
            ),
            (
                "crash loop shows when the last restart was",
                pod(
                    json!({"containers": [{"name": "a"}]}),
                    json!({"phase": "Running", "containerStatuses": [{"name": "a", "restartCount": 3,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(300)}}}]}),
                ),
                json!([
                    "web",
                    "0/1",
                    "CrashLoopBackOff",
                    "3 (5m ago)",
                    "24h",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                "restarts without a termination time have no suffix",
                pod(
                    json!({"containers": [{"name": "a"}]}),
                    json!({"phase": "Running", "containerStatuses": [{"name": "a", "restartCount": 2,
                        "ready": true, "state": {"running": {}}}]}),
                ),
                json!([
                    "web", "1/1", "Running", "2", "24h", "<none>", "<none>", "<none>", "<none>"
                ]),
            ),
            (
                "second init container running",
                pod(
                    json!({"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]}),
                    json!({"phase": "Pending", "initContainerStatuses": [
                        {"name": "i1", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                        {"name": "i2", "state": {"running": {}}}]}),
                ),
                json!([
                    "web", "0/1", "Init:1/2", "0", "24h", "<none>", "<none>", "<none>", "<none>"
                ]),
            ),
            (
                "init container failed with a reason",
                pod(
                    json!({"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]}),
                    json!({"phase": "Pending", "initContainerStatuses": [{"name": "i1", "restartCount": 1,
                        "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
                ),
                json!([
                    "web",
                    "0/1",
                    "Init:Error",
                    "1",
                    "24h",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                "init container killed by a signal",
                pod(
                    json!({"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]}),
                    json!({"phase": "Pending", "initContainerStatuses": [{"name": "i1",
                        "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
                ),
                json!([
                    "web",
                    "0/1",
                    "Init:Signal:9",
                    "0",
                    "24h",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                "init container waiting on an image",
                pod(
                    json!({"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]}),
                    json!({"phase": "Pending", "initContainerStatuses": [{"name": "i1",
                        "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}),
                ),
                json!([
                    "web",
                    "0/1",
                    "Init:ImagePullBackOff",
                    "0",
                    "24h",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                "container exited without a reason",
                pod(
                    json!({"containers": [{"name": "a"}]}),
                    json!({"phase": "Failed", "containerStatuses": [{"name": "a",
                        "state": {"terminated": {"exitCode": 2}}}]}),
                ),
                json!([
                    "web",
                    "0/1",
                    "ExitCode:2",
                    "0",
                    "24h",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                "sidecar counts as a container",
                pod(
                    json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
                        "containers": [{"name": "app"}]}),
                    json!({"phase": "Running",
                        "conditions": [{"type": "Initialized", "status": "True"}],
                        "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true,
                            "restartCount": 1, "state": {"running": {}},
                            "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(30)}}}],
                        "containerStatuses": [running("app")]}),
                ),
                json!([
                    "web",
                    "2/2",
                    "Running",
                    "1 (30s ago)",
                    "24h",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                "completed container while another still runs",
                pod(
                    two_containers(),
                    json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                        "containerStatuses": [running("a"),
                            {"name": "b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                ),
                json!([
                    "web", "1/2", "Running", "0", "24h", "<none>", "node-1", "<none>", "<none>"
                ]),
            ),
            (
                "completed container, another runs, pod not ready",
                pod(
                    two_containers(),
                    json!({"phase": "Running", "containerStatuses": [running("a"),
                            {"name": "b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                ),
                json!([
                    "web", "1/2", "NotReady", "0", "24h", "<none>", "node-1", "<none>", "<none>"
                ]),
            ),
            (
                "scheduling gated",
                pod(
                    json!({"containers": [{"name": "a"}]}),
                    json!({"phase": "Pending", "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
                ),
                json!([
                    "web",
                    "0/1",
                    "SchedulingGated",
                    "0",
                    "24h",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                "readiness gates and nominated node",
                pod(
                    json!({"containers": [{"name": "a"}],
                        "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]}),
                    json!({"phase": "Pending", "nominatedNodeName": "node-2", "conditions": [
                        {"type": "example.com/lb", "status": "True"},
                        {"type": "example.com/dns", "status": "False"}]}),
                ),
                json!([
                    "web", "0/1", "Pending", "0", "24h", "<none>", "<none>", "node-2", "1/2"
                ]),
            ),
            (
                "terminating",
                deleting,
                json!([
                    "web",
                    "2/2",
                    "Terminating",
                    "0",
                    "24h",
                    "<none>",
                    "node-1",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                "node lost and deleted",
                lost,
                json!([
                    "web", "0/2", "Unknown", "0", "24h", "<none>", "node-1", "<none>", "<none>"
                ]),
            ),
            (
                "node lost",
                lost_not_deleted,
                json!([
                    "web", "0/2", "NodeLost", "0", "24h", "<none>", "node-1", "<none>", "<none>"
                ]),
            ),
            (
                "a finished pod being deleted keeps its status",
                succeeded_deleting,
                json!([
                    "web",
                    "0/1",
                    "Completed",
                    "0",
                    "24h",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
        ],
    );
}

#[test]
fn pod_row_conditions() {
    let done = json!({"status": {"phase": "Succeeded"}});
    assert_eq!(
        row_conditions("", "pods", &done),
        vec![
            json!({"type": "Completed", "status": "True", "reason": "Succeeded",
            "message": "The pod has completed successfully."})
        ]
    );
    assert!(row_conditions("", "pods", &json!({"status": {"phase": "Running"}})).is_empty());
    assert!(row_conditions("apps", "deployments", &done).is_empty());
}

#[test]
fn nodes() {
    let ready = with_meta(
        "node-1",
        json!({"spec": {"unschedulable": true}, "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "Hostname", "address": "node-1"}, {"type": "InternalIP", "address": "192.168.1.10"},
                {"type": "ExternalIP", "address": "203.0.113.7"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "containerd://1.7.24"}}}),
    );
    let mut ready = ready;
    ready["metadata"]["labels"] = json!({"node-role.kubernetes.io/control-plane": "",
        "node-role.kubernetes.io/": "", "kubernetes.io/role": "worker", "kubernetes.io/os": "linux"});
    let not_ready = with_meta(
        "node-2",
        json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
    );
    check(
        "",
        "nodes",
        &[
            (
                "ready, cordoned, with roles",
                ready,
                json!([
                    "node-1",
                    "Ready,SchedulingDisabled",
                    "control-plane,worker",
                    "24h",
                    "v1.33.0",
                    "192.168.1.10",
                    "203.0.113.7",
                    "Debian GNU/Linux 12 (bookworm)",
                    "6.1.0-18-amd64",
                    "containerd://1.7.24"
                ]),
            ),
            (
                "not ready",
                not_ready,
                json!([
                    "node-2",
                    "NotReady",
                    "<none>",
                    "24h",
                    "",
                    "<none>",
                    "<none>",
                    "<unknown>",
                    "<unknown>",
                    "<unknown>"
                ]),
            ),
            (
                "no conditions",
                with_meta("node-3", json!({})),
                json!([
                    "node-3",
                    "Unknown",
                    "<none>",
                    "24h",
                    "",
                    "<none>",
                    "<none>",
                    "<unknown>",
                    "<unknown>",
                    "<unknown>"
                ]),
            ),
        ],
    );
}

#[test]
fn namespaces() {
    check(
        "",
        "namespaces",
        &[(
            "active",
            with_meta("kube-system", json!({"status": {"phase": "Active"}})),
            json!(["kube-system", "Active", "24h"]),
        )],
    );
}

#[test]
fn services() {
    let svc =
        |spec: Value, status: Value| with_meta("web", json!({"spec": spec, "status": status}));
    check(
        "",
        "services",
        &[
            (
                "cluster IP",
                svc(
                    json!({"type": "ClusterIP", "clusterIP": "10.43.0.10", "clusterIPs": ["10.43.0.10"],
                        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                        "selector": {"k8s-app": "kube-dns", "app": "dns"}}),
                    json!({}),
                ),
                json!([
                    "web",
                    "ClusterIP",
                    "10.43.0.10",
                    "<none>",
                    "53/UDP,53/TCP",
                    "24h",
                    "app=dns,k8s-app=kube-dns"
                ]),
            ),
            (
                "node port with external IPs",
                svc(
                    json!({"type": "NodePort", "clusterIPs": ["10.43.0.20"], "externalIPs": ["1.2.3.4", "5.6.7.8"],
                        "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
                    json!({}),
                ),
                json!([
                    "web",
                    "NodePort",
                    "10.43.0.20",
                    "1.2.3.4,5.6.7.8",
                    "80:30080/TCP",
                    "24h",
                    "<none>"
                ]),
            ),
            (
                "load balancer pending",
                svc(
                    json!({"type": "LoadBalancer", "clusterIPs": ["10.43.0.30"]}),
                    json!({"loadBalancer": {}}),
                ),
                json!([
                    "web",
                    "LoadBalancer",
                    "10.43.0.30",
                    "<pending>",
                    "<none>",
                    "24h",
                    "<none>"
                ]),
            ),
            (
                "load balancer with ingress points, not clipped on the server",
                svc(
                    json!({"type": "LoadBalancer", "clusterIPs": ["10.43.0.30"], "externalIPs": ["9.9.9.9"]}),
                    json!({"loadBalancer": {"ingress": [{"ip": "192.168.100.200"}, {"hostname": "lb.example.com"},
                        {"ip": "192.168.100.200"}]}}),
                ),
                json!([
                    "web",
                    "LoadBalancer",
                    "10.43.0.30",
                    "192.168.100.200,lb.example.com,9.9.9.9",
                    "<none>",
                    "24h",
                    "<none>"
                ]),
            ),
            (
                "external name",
                svc(
                    json!({"type": "ExternalName", "externalName": "db.example.com"}),
                    json!({}),
                ),
                json!([
                    "web",
                    "ExternalName",
                    "<none>",
                    "db.example.com",
                    "<none>",
                    "24h",
                    "<none>"
                ]),
            ),
            (
                "headless",
                svc(
                    json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}),
                    json!({}),
                ),
                json!([
                    "web",
                    "ClusterIP",
                    "None",
                    "<none>",
                    "<none>",
                    "24h",
                    "<none>"
                ]),
            ),
        ],
    );
}

#[test]
fn endpoints() {
    let two_by_two = with_meta(
        "web",
        json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
            "ports": [{"port": 80}, {"port": 443}]}]}),
    );
    let headless = with_meta(
        "db",
        json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}]}),
    );
    let ipv6 = with_meta(
        "v6",
        json!({"subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]}),
    );
    check(
        "",
        "endpoints",
        &[
            (
                "more than three",
                two_by_two,
                json!([
                    "web",
                    "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...",
                    "24h"
                ]),
            ),
            (
                "no ports",
                headless,
                json!(["db", "10.0.0.1,fd00::1", "24h"]),
            ),
            ("ipv6", ipv6, json!(["v6", "[fd00::1]:80", "24h"])),
            (
                "empty",
                with_meta("none", json!({})),
                json!(["none", "<none>", "24h"]),
            ),
        ],
    );
}

#[test]
fn endpoint_slices() {
    let slice = with_meta(
        "web-abc",
        json!({"addressType": "IPv4", "ports": [{"port": 80}, {"name": "http"}, {}],
            "endpoints": [{"addresses": ["10.0.0.1", "10.0.0.2"]}, {"addresses": ["10.0.0.3", "10.0.0.4"]}]}),
    );
    check(
        "discovery.k8s.io",
        "endpointslices",
        &[
            (
                "ports and endpoints",
                slice,
                json!([
                    "web-abc",
                    "IPv4",
                    "80,http,*",
                    "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
                    "24h"
                ]),
            ),
            (
                "empty",
                with_meta("e", json!({"addressType": "IPv6"})),
                json!(["e", "IPv6", "<unset>", "<unset>", "24h"]),
            ),
        ],
    );
}

fn pod_template_spec() -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
        {"name": "nginx", "image": "nginx:1.25"}, {"name": "sidecar", "image": "busybox"}]}})
}

#[test]
fn deployments() {
    let deploy = |selector: Value| {
        with_meta(
            "web",
            json!({"spec": {"replicas": 3, "selector": selector, "template": pod_template_spec()},
                "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}),
        )
    };
    check(
        "apps",
        "deployments",
        &[
            (
                "match labels",
                deploy(json!({"matchLabels": {"app": "web"}})),
                json!([
                    "web",
                    "2/3",
                    3,
                    2,
                    "24h",
                    "nginx,sidecar",
                    "nginx:1.25,busybox",
                    "app=web"
                ]),
            ),
            (
                "expressions sorted by key",
                deploy(json!({"matchLabels": {"app": "web"}, "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["b", "a"]},
                    {"key": "env", "operator": "Exists"},
                    {"key": "zone", "operator": "DoesNotExist"},
                    {"key": "canary", "operator": "NotIn", "values": ["yes"]}]})),
                json!([
                    "web",
                    "2/3",
                    3,
                    2,
                    "24h",
                    "nginx,sidecar",
                    "nginx:1.25,busybox",
                    "app=web,canary notin (yes),env,tier in (a,b),!zone"
                ]),
            ),
            (
                "invalid selector",
                deploy(json!({"matchExpressions": [{"key": "x", "operator": "Gt"}]})),
                json!([
                    "web",
                    "2/3",
                    3,
                    2,
                    "24h",
                    "nginx,sidecar",
                    "nginx:1.25,busybox",
                    "<invalid>"
                ]),
            ),
            (
                "empty object",
                with_meta("bare", json!({})),
                json!(["bare", "0/0", 0, 0, "24h", "", "", ""]),
            ),
        ],
    );
}

#[test]
fn replica_sets_and_controllers() {
    let rs = with_meta(
        "web-5d4f",
        json!({"spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d4f"}},
            "template": pod_template_spec()}, "status": {"replicas": 2, "readyReplicas": 1}}),
    );
    check(
        "apps",
        "replicasets",
        &[
            (
                "typical",
                rs,
                json!([
                    "web-5d4f",
                    2,
                    2,
                    1,
                    "24h",
                    "nginx,sidecar",
                    "nginx:1.25,busybox",
                    "app=web,pod-template-hash=5d4f"
                ]),
            ),
            (
                "no selector",
                with_meta("x", json!({})),
                json!(["x", 0, 0, 0, "24h", "", "", "<none>"]),
            ),
        ],
    );
    let rc = with_meta(
        "old",
        json!({"spec": {"replicas": 1, "selector": {"app": "old"}, "template": pod_template_spec()},
            "status": {"replicas": 1, "readyReplicas": 1}}),
    );
    check(
        "",
        "replicationcontrollers",
        &[(
            "typical",
            rc,
            json!([
                "old",
                1,
                1,
                1,
                "24h",
                "nginx,sidecar",
                "nginx:1.25,busybox",
                "app=old"
            ]),
        )],
    );
}

#[test]
fn stateful_sets_and_daemon_sets() {
    let sts = with_meta(
        "db",
        json!({"spec": {"replicas": 3, "template": pod_template_spec()}, "status": {"readyReplicas": 1}}),
    );
    check(
        "apps",
        "statefulsets",
        &[(
            "typical",
            sts,
            json!(["db", "1/3", "24h", "nginx,sidecar", "nginx:1.25,busybox"]),
        )],
    );

    let mut template = pod_template_spec();
    template["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
    let ds = with_meta(
        "agent",
        json!({"spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                "updatedNumberScheduled": 3, "numberAvailable": 2}}),
    );
    check(
        "apps",
        "daemonsets",
        &[(
            "typical",
            ds,
            json!([
                "agent",
                3,
                3,
                2,
                3,
                2,
                "kubernetes.io/os=linux",
                "24h",
                "nginx,sidecar",
                "nginx:1.25,busybox",
                "app=agent"
            ]),
        )],
    );
}

#[test]
fn jobs() {
    let job = |spec: Value, status: Value| {
        let mut spec = spec;
        spec["template"] = json!({"spec": {"containers": [{"name": "pi", "image": "perl"}]}});
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}});
        with_meta("pi", json!({"spec": spec, "status": status}))
    };
    let wide = |cells: Value| {
        let mut cells = cells.as_array().cloned().unwrap_or_default();
        cells.extend([
            json!("pi"),
            json!("perl"),
            json!("batch.kubernetes.io/controller-uid=u1"),
        ]);
        Value::Array(cells)
    };
    let mut deleting = job(json!({"completions": 1}), json!({"startTime": ago(60)}));
    deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
    check(
        "batch",
        "jobs",
        &[
            (
                "complete",
                job(
                    json!({"completions": 1}),
                    json!({"succeeded": 1, "startTime": ago(100), "completionTime": ago(70),
                        "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                            {"type": "Complete", "status": "True"}]}),
                ),
                wide(json!(["pi", "Complete", "1/1", "30s", "24h"])),
            ),
            (
                "running, parallel without completions",
                job(json!({"parallelism": 3}), json!({"startTime": ago(90)})),
                wide(json!(["pi", "Running", "0/1 of 3", "90s", "24h"])),
            ),
            (
                "not started",
                job(json!({"completions": 5}), json!({})),
                wide(json!(["pi", "Running", "0/5", "", "24h"])),
            ),
            (
                "failed",
                job(
                    json!({}),
                    json!({"startTime": ago(600), "completionTime": ago(0),
                        "conditions": [{"type": "Failed", "status": "True"}]}),
                ),
                wide(json!(["pi", "Failed", "0/1", "10m", "24h"])),
            ),
            (
                "suspended",
                job(
                    json!({"completions": 1}),
                    json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
                ),
                wide(json!(["pi", "Suspended", "0/1", "", "24h"])),
            ),
            (
                "terminating",
                deleting,
                wide(json!(["pi", "Terminating", "0/1", "60s", "24h"])),
            ),
        ],
    );
}

#[test]
fn cron_jobs() {
    let cron = |spec: Value, status: Value| {
        let mut spec = spec;
        spec["schedule"] = json!("*/5 * * * *");
        spec["jobTemplate"] = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
        with_meta("tick", json!({"spec": spec, "status": status}))
    };
    check(
        "batch",
        "cronjobs",
        &[
            (
                "scheduled recently",
                cron(
                    json!({"suspend": false}),
                    json!({"active": [{"name": "tick-1"}], "lastScheduleTime": ago(120)}),
                ),
                json!([
                    "tick",
                    "*/5 * * * *",
                    "<none>",
                    "False",
                    1,
                    "2m",
                    "24h",
                    "c",
                    "busybox",
                    "<none>"
                ]),
            ),
            (
                "never scheduled, with a time zone",
                cron(json!({"timeZone": "Etc/UTC"}), json!({})),
                json!([
                    "tick",
                    "*/5 * * * *",
                    "Etc/UTC",
                    "<unset>",
                    0,
                    "<none>",
                    "24h",
                    "c",
                    "busybox",
                    "<none>"
                ]),
            ),
        ],
    );
}

#[test]
fn config_maps_secrets_service_accounts() {
    check(
        "",
        "configmaps",
        &[(
            "data and binary data",
            with_meta(
                "cfg",
                json!({"data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
            ),
            json!(["cfg", 3, "24h"]),
        )],
    );
    check(
        "",
        "secrets",
        &[
            (
                "opaque",
                with_meta("s", json!({"type": "Opaque", "data": {"k": "dg=="}})),
                json!(["s", "Opaque", 1, "24h"]),
            ),
            (
                "tls",
                with_meta(
                    "t",
                    json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
                ),
                json!(["t", "kubernetes.io/tls", 2, "24h"]),
            ),
        ],
    );
    check(
        "",
        "serviceaccounts",
        &[
            (
                "no secrets",
                with_meta("default", json!({})),
                json!(["default", 0, "24h"]),
            ),
            (
                "one secret",
                with_meta("ci", json!({"secrets": [{"name": "ci-token"}]})),
                json!(["ci", 1, "24h"]),
            ),
        ],
    );
}

#[test]
fn events() {
    let core = with_meta(
        "web.17a",
        json!({"involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{a}"},
            "reason": "Pulled", "message": "Successfully pulled image\n", "type": "Normal",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": ago(300), "lastTimestamp": ago(60), "count": 4}),
    );
    let new_api = with_meta(
        "web.17b",
        json!({"regarding": {"kind": "Pod", "name": "web"}, "reason": "Scheduled", "note": "assigned to node-1",
            "type": "Normal", "eventTime": "2025-01-10T11:59:30.123456Z",
            "reportingController": "default-scheduler", "reportingInstance": "default-scheduler-node-1"}),
    );
    let series = with_meta(
        "web.17c",
        json!({"involvedObject": {"kind": "Node"}, "reason": "Rebooted", "type": "Warning",
            "eventTime": "2025-01-10T11:50:00.000000Z", "reportingComponent": "kubelet",
            "series": {"count": 5, "lastObservedTime": "2025-01-10T11:59:50.000000Z"}}),
    );
    // What kube-apiserver stores for an events.k8s.io/v1 Event (the
    // scheduler's FailedScheduling): no `source`, the reporter in
    // `reportingComponent` and `reportingInstance`.
    let scheduler = with_meta(
        "web.17d",
        json!({"involvedObject": {"kind": "Pod", "name": "web"}, "reason": "FailedScheduling",
            "message": "0/1 nodes are available.", "type": "Warning", "action": "Scheduling",
            "eventTime": "2025-01-10T11:59:00.000000Z",
            "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-node-1"}),
    );
    // `reportingController` is not a core field: a core reader ignores it.
    let misnamed = with_meta(
        "web.17e",
        json!({"involvedObject": {"kind": "Pod", "name": "web"}, "reason": "X", "type": "Normal",
            "reportingController": "not-core"}),
    );
    let deprecated_source = with_meta(
        "web.17f",
        json!({"regarding": {"kind": "Pod", "name": "web"}, "reason": "Pulled", "note": "pulled",
            "type": "Normal", "eventTime": "2025-01-10T11:59:00.000000Z",
            "deprecatedSource": {"component": "kubelet"},
            "reportingController": "kubelet", "reportingInstance": "node-1",
            "deprecatedFirstTimestamp": ago(600), "deprecatedLastTimestamp": ago(120), "deprecatedCount": 3}),
    );
    check(
        "",
        "events",
        &[
            (
                "core event",
                core,
                json!([
                    "60s",
                    "Normal",
                    "Pulled",
                    "pod/web",
                    "spec.containers{a}",
                    "kubelet, node-1",
                    "Successfully pulled image",
                    "5m",
                    4,
                    "web.17a"
                ]),
            ),
            (
                "event with a series",
                series,
                json!([
                    "10s", "Warning", "Rebooted", "node", "", "kubelet", "", "10m", 5, "web.17c"
                ]),
            ),
            (
                "new-API event stored as core: the reporter is the source",
                scheduler,
                json!([
                    "60s",
                    "Warning",
                    "FailedScheduling",
                    "pod/web",
                    "",
                    "default-scheduler, default-scheduler-node-1",
                    "0/1 nodes are available.",
                    "60s",
                    1,
                    "web.17d"
                ]),
            ),
            (
                "no timestamps, no source",
                misnamed,
                json!([
                    "<unknown>",
                    "Normal",
                    "X",
                    "pod/web",
                    "",
                    "",
                    "",
                    "<unknown>",
                    1,
                    "web.17e"
                ]),
            ),
        ],
    );
    check(
        "events.k8s.io",
        "events",
        &[
            (
                "singleton of the new API",
                new_api,
                json!([
                    "29s",
                    "Normal",
                    "Scheduled",
                    "pod/web",
                    "",
                    "default-scheduler, default-scheduler-node-1",
                    "assigned to node-1",
                    "29s",
                    1,
                    "web.17b"
                ]),
            ),
            (
                "deprecated fields: source wins over the reporter, host falls back",
                deprecated_source,
                json!([
                    "2m",
                    "Normal",
                    "Pulled",
                    "pod/web",
                    "",
                    "kubelet, node-1",
                    "pulled",
                    "10m",
                    3,
                    "web.17f"
                ]),
            ),
        ],
    );
}

#[test]
fn ingresses() {
    let many_hosts = with_meta(
        "web",
        json!({"spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.com"]}],
            "rules": [{"host": "a.com"}, {"host": "b.com"}, {}, {"host": "c.com"}, {"host": "d.com"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.100"}]}}}),
    );
    check(
        "networking.k8s.io",
        "ingresses",
        &[
            (
                "many hosts",
                many_hosts,
                json!([
                    "web",
                    "nginx",
                    "a.com,b.com,c.com + 2 more...",
                    "10.0.0.100",
                    "80, 443",
                    "24h"
                ]),
            ),
            (
                "catch all",
                with_meta("all", json!({"spec": {}})),
                json!(["all", "<none>", "*", "", "80", "24h"]),
            ),
        ],
    );
    check(
        "networking.k8s.io",
        "ingressclasses",
        &[(
            "with parameters",
            with_meta(
                "nginx",
                json!({"spec": {"controller": "k8s.io/ingress-nginx",
                "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}}),
            ),
            json!([
                "nginx",
                "k8s.io/ingress-nginx",
                "IngressParameters.k8s.example.com/external-lb",
                "24h"
            ]),
        )],
    );
    check(
        "networking.k8s.io",
        "networkpolicies",
        &[
            (
                "all pods",
                with_meta("deny", json!({"spec": {"podSelector": {}}})),
                json!(["deny", "<none>", "24h"]),
            ),
            (
                "some pods",
                with_meta(
                    "web",
                    json!({"spec": {"podSelector": {"matchLabels": {"role": "db"}}}}),
                ),
                json!(["web", "role=db", "24h"]),
            ),
        ],
    );
}

#[test]
fn volumes() {
    let pv = with_meta(
        "pv-1",
        json!({"spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast", "volumeMode": "Filesystem",
            "claimRef": {"namespace": "default", "name": "data"}}, "status": {"phase": "Bound"}}),
    );
    check(
        "",
        "persistentvolumes",
        &[(
            "bound",
            pv,
            json!([
                "pv-1",
                "10Gi",
                "RWO,RWX",
                "Retain",
                "Bound",
                "default/data",
                "fast",
                "<unset>",
                "",
                "24h",
                "Filesystem"
            ]),
        )],
    );
    let bound = with_meta(
        "data",
        json!({"spec": {"volumeName": "pv-1", "storageClassName": "fast", "resources": {"requests": {"storage": "5Gi"}}},
            "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOncePod"]}}),
    );
    let mut pending = with_meta(
        "wait",
        json!({"spec": {"storageClassName": "fast"}, "status": {"phase": "Pending"}}),
    );
    pending["metadata"]["annotations"] =
        json!({"volume.beta.kubernetes.io/storage-class": "legacy"});
    pending["metadata"]["deletionTimestamp"] = json!(ago(1));
    check(
        "",
        "persistentvolumeclaims",
        &[
            (
                "bound",
                bound,
                json!([
                    "data", "Bound", "pv-1", "10Gi", "RWOP", "fast", "<unset>", "24h", "<unset>"
                ]),
            ),
            (
                "pending and deleted",
                pending,
                json!([
                    "wait",
                    "Terminating",
                    "",
                    "",
                    "",
                    "legacy",
                    "<unset>",
                    "24h",
                    "<unset>"
                ]),
            ),
        ],
    );
    let mut class = with_meta(
        "local-path",
        json!({"provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}),
    );
    class["metadata"]["annotations"] =
        json!({"storageclass.kubernetes.io/is-default-class": "true"});
    check(
        "storage.k8s.io",
        "storageclasses",
        &[(
            "default class",
            class,
            json!([
                "local-path (default)",
                "rancher.io/local-path",
                "Delete",
                "WaitForFirstConsumer",
                false,
                "24h"
            ]),
        )],
    );
    check(
        "storage.k8s.io",
        "csidrivers",
        &[(
            "defaults",
            with_meta("csi.example.com", json!({"spec": {}})),
            json!([
                "csi.example.com",
                true,
                false,
                false,
                "<unset>",
                false,
                "<none>",
                "24h"
            ]),
        )],
    );
    check(
        "storage.k8s.io",
        "volumeattachments",
        &[(
            "attached",
            with_meta(
                "va",
                json!({"spec": {"attacher": "csi.example.com", "nodeName": "node-1",
                "source": {"persistentVolumeName": "pv-1"}}, "status": {"attached": true}}),
            ),
            json!(["va", "csi.example.com", "pv-1", "node-1", true, "24h"]),
        )],
    );
}

#[test]
fn rbac() {
    let binding = with_meta(
        "read",
        json!({"roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [
            {"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}, {"kind": "User", "name": "bob"}]}),
    );
    check(
        "rbac.authorization.k8s.io",
        "rolebindings",
        &[(
            "mixed subjects",
            binding.clone(),
            json!([
                "read",
                "ClusterRole/view",
                "24h",
                "alice, bob",
                "devs",
                "tools/ci"
            ]),
        )],
    );
    check(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        &[(
            "mixed subjects",
            binding,
            json!([
                "read",
                "ClusterRole/view",
                "24h",
                "alice, bob",
                "devs",
                "tools/ci"
            ]),
        )],
    );
    // Roles have no printer upstream: the default convertor's NAME and CREATED AT.
    check(
        "rbac.authorization.k8s.io",
        "roles",
        &[
            (
                "default convertor",
                with_meta("admin", json!({})),
                json!(["admin", "2025-01-09T12:00:00Z"]),
            ),
            (
                "no timestamp",
                json!({"metadata": {"name": "x"}}),
                json!(["x", "0001-01-01T00:00:00Z"]),
            ),
            (
                "offset normalised to UTC",
                json!({"metadata": {"name": "y", "creationTimestamp": "2025-01-09T14:00:00.5+02:00"}}),
                json!(["y", "2025-01-09T12:00:00Z"]),
            ),
        ],
    );
}

#[test]
fn coordination_scheduling_and_policy() {
    check(
        "coordination.k8s.io",
        "leases",
        &[
            (
                "held",
                with_meta(
                    "kube-scheduler",
                    json!({"spec": {"holderIdentity": "node-1_abc"}}),
                ),
                json!(["kube-scheduler", "node-1_abc", "24h"]),
            ),
            (
                "free",
                with_meta("free", json!({"spec": {}})),
                json!(["free", "", "24h"]),
            ),
        ],
    );
    check(
        "scheduling.k8s.io",
        "priorityclasses",
        &[(
            "system",
            with_meta(
                "system-node-critical",
                json!({"value": 2000001000, "preemptionPolicy": "PreemptLowerPriority"}),
            ),
            json!([
                "system-node-critical",
                2000001000,
                false,
                "24h",
                "PreemptLowerPriority"
            ]),
        )],
    );
    check(
        "policy",
        "poddisruptionbudgets",
        &[
            (
                "min available",
                with_meta(
                    "pdb",
                    json!({"spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 1}}),
                ),
                json!(["pdb", "2", "N/A", 1, "24h"]),
            ),
            (
                "max unavailable percent",
                with_meta("pdb2", json!({"spec": {"maxUnavailable": "25%"}})),
                json!(["pdb2", "N/A", "25%", 0, "24h"]),
            ),
        ],
    );
    let hpa = with_meta(
        "web",
        json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 10,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}]},
            "status": {"currentReplicas": 3, "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45, "averageValue": "450m"}}}]}}),
    );
    let v1 = with_meta(
        "old",
        json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "old"}, "maxReplicas": 5,
            "targetCPUUtilizationPercentage": 50}, "status": {"currentReplicas": 1}}),
    );
    check(
        "autoscaling",
        "horizontalpodautoscalers",
        &[
            (
                "v2 metrics",
                hpa,
                json!([
                    "web",
                    "Deployment/web",
                    "cpu: 45%/80%, <unknown>/1k + 1 more...",
                    "1",
                    10,
                    3,
                    "24h"
                ]),
            ),
            (
                "v1 object",
                v1,
                json!([
                    "old",
                    "Deployment/old",
                    "cpu: <unknown>/50%",
                    "<unset>",
                    5,
                    1,
                    "24h"
                ]),
            ),
        ],
    );
}

#[test]
fn quotas_revisions_and_certificates() {
    let quota = with_meta(
        "q",
        json!({"status": {"hard": {"pods": "10", "limits.cpu": "4", "requests.memory": "1Gi", "limits.memory": "2Gi"},
            "used": {"pods": "3", "limits.cpu": "500m"}}}),
    );
    check(
        "",
        "resourcequotas",
        &[(
            "requests and limits",
            quota,
            json!([
                "q",
                "pods: 3/10, requests.memory: 0/1Gi",
                "limits.cpu: 500m/4, limits.memory: 0/2Gi",
                "24h"
            ]),
        )],
    );
    let mut revision = with_meta("web-7f9", json!({"revision": 2}));
    revision["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]);
    check(
        "apps",
        "controllerrevisions",
        &[
            (
                "owned",
                revision,
                json!(["web-7f9", "statefulset.apps/web", 2, "24h"]),
            ),
            (
                "orphan",
                with_meta("x", json!({"revision": 1})),
                json!(["x", "<none>", 1, "24h"]),
            ),
        ],
    );
    let csr = with_meta(
        "csr-1",
        json!({"spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "alice", "expirationSeconds": 86400},
            "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"}}),
    );
    check(
        "certificates.k8s.io",
        "certificatesigningrequests",
        &[
            (
                "approved and issued",
                csr,
                json!([
                    "csr-1",
                    "24h",
                    "kubernetes.io/kube-apiserver-client",
                    "alice",
                    "24h",
                    "Approved,Issued"
                ]),
            ),
            (
                "pending",
                with_meta("csr-2", json!({"spec": {}})),
                json!(["csr-2", "24h", "<none>", "", "<none>", "Pending"]),
            ),
        ],
    );
}

#[test]
fn admission_flow_control_and_aggregation() {
    check(
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        &[(
            "two webhooks",
            with_meta("m", json!({"webhooks": [{}, {}]})),
            json!(["m", 2, "24h"]),
        )],
    );
    check(
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
        &[
            (
                "named param without namespace",
                with_meta(
                    "b",
                    json!({"spec": {"policyName": "p", "paramRef": {"name": "cfg"}}}),
                ),
                json!(["b", "p", "*/cfg", "24h"]),
            ),
            (
                "param selector",
                with_meta(
                    "s",
                    json!({"spec": {"policyName": "p", "paramRef": {"selector": {"matchLabels": {"b": "2", "a": "1"},
                    "matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]}}}}),
                ),
                json!([
                    "s",
                    "p",
                    "&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:k,Operator:In,Values:[x y],},},}",
                    "24h"
                ]),
            ),
        ],
    );
    let fs = with_meta(
        "system-leader-election",
        json!({"spec": {"priorityLevelConfiguration": {"name": "leader-election"}, "matchingPrecedence": 100,
            "distinguisherMethod": {"type": "ByUser"}}, "status": {"conditions": [{"type": "Dangling", "status": "False"}]}}),
    );
    check(
        "flowcontrol.apiserver.k8s.io",
        "flowschemas",
        &[(
            "typical",
            fs,
            json!([
                "system-leader-election",
                "leader-election",
                100,
                "ByUser",
                "24h",
                "False"
            ]),
        )],
    );
    let limited = with_meta(
        "workload-low",
        json!({"spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 100,
            "limitResponse": {"type": "Queue", "queuing": {"queues": 128, "handSize": 6, "queueLengthLimit": 50}}}}}),
    );
    check(
        "flowcontrol.apiserver.k8s.io",
        "prioritylevelconfigurations",
        &[
            (
                "limited",
                limited,
                json!(["workload-low", "Limited", 100, 128, 6, 50, "24h"]),
            ),
            (
                "exempt",
                with_meta("exempt", json!({"spec": {"type": "Exempt"}})),
                json!([
                    "exempt", "Exempt", "<none>", "<none>", "<none>", "<none>", "24h"
                ]),
            ),
        ],
    );
    check(
        "apiregistration.k8s.io",
        "apiservices",
        &[
            (
                "local",
                with_meta(
                    "v1.apps",
                    json!({"spec": {}, "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local"}]}}),
                ),
                json!(["v1.apps", "Local", "True", "24h"]),
            ),
            (
                "unavailable service",
                with_meta(
                    "v1beta1.metrics.k8s.io",
                    json!({"spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
                    "status": {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}}),
                ),
                json!([
                    "v1beta1.metrics.k8s.io",
                    "kube-system/metrics-server",
                    "False (MissingEndpoints)",
                    "24h"
                ]),
            ),
        ],
    );
}

/// Every (group, resource) with an upstream printer.
const PRINTED: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "podtemplates"),
    ("", "replicationcontrollers"),
    ("", "services"),
    ("", "endpoints"),
    ("", "nodes"),
    ("", "events"),
    ("events.k8s.io", "events"),
    ("", "namespaces"),
    ("", "secrets"),
    ("", "serviceaccounts"),
    ("", "persistentvolumes"),
    ("", "persistentvolumeclaims"),
    ("", "componentstatuses"),
    ("", "configmaps"),
    ("", "resourcequotas"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "controllerrevisions"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("policy", "poddisruptionbudgets"),
    ("coordination.k8s.io", "leases"),
    ("coordination.k8s.io", "leasecandidates"),
    ("scheduling.k8s.io", "priorityclasses"),
    ("node.k8s.io", "runtimeclasses"),
    ("discovery.k8s.io", "endpointslices"),
    ("networking.k8s.io", "ingresses"),
    ("networking.k8s.io", "ingressclasses"),
    ("networking.k8s.io", "networkpolicies"),
    ("networking.k8s.io", "servicecidrs"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("certificates.k8s.io", "certificatesigningrequests"),
    ("certificates.k8s.io", "clustertrustbundles"),
    ("storage.k8s.io", "storageclasses"),
    ("storage.k8s.io", "volumeattributesclasses"),
    ("storage.k8s.io", "volumeattachments"),
    ("storage.k8s.io", "csidrivers"),
    ("storage.k8s.io", "csinodes"),
    ("storage.k8s.io", "csistoragecapacities"),
    (
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
    ),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicies"),
    (
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicybindings",
    ),
    ("flowcontrol.apiserver.k8s.io", "flowschemas"),
    (
        "flowcontrol.apiserver.k8s.io",
        "prioritylevelconfigurations",
    ),
    ("internal.apiserver.k8s.io", "storageversions"),
    ("storagemigration.k8s.io", "storageversionmigrations"),
    ("resource.k8s.io", "deviceclasses"),
    ("resource.k8s.io", "resourceclaims"),
    ("resource.k8s.io", "resourceclaimtemplates"),
    ("resource.k8s.io", "resourceslices"),
    ("apiregistration.k8s.io", "apiservices"),
];

#[test]
fn every_printer_fills_every_column_even_for_an_empty_object() {
    for (group, resource) in PRINTED {
        let n = cells(group, resource, &json!({}), NOW).len();
        assert_eq!(n, columns(group, resource).len(), "{group}/{resource}");
        assert_ne!(
            columns(group, resource),
            columns("", "limitranges"),
            "{group}/{resource} has a printer"
        );
    }
    // Upstream defines one column fewer than the cells it prints for IPAddresses.
    assert_eq!(
        cells("networking.k8s.io", "ipaddresses", &json!({}), NOW).len(),
        3
    );
    assert_eq!(columns("networking.k8s.io", "ipaddresses").len(), 2);
}

#[test]
fn column_definitions() {
    let names = |group: &str, resource: &str, priority: i32| -> Vec<&str> {
        columns(group, resource)
            .iter()
            .filter(|c| c.priority == priority)
            .map(|c| c.name)
            .collect()
    };
    assert_eq!(
        names("", "pods", 0),
        ["Name", "Ready", "Status", "Restarts", "Age"]
    );
    assert_eq!(
        names("", "pods", 1),
        ["IP", "Node", "Nominated Node", "Readiness Gates"]
    );
    assert_eq!(
        names("", "nodes", 0),
        ["Name", "Status", "Roles", "Age", "Version"]
    );
    assert_eq!(
        names("", "events", 0),
        ["Last Seen", "Type", "Reason", "Object", "Message"]
    );
    assert_eq!(
        names("batch", "jobs", 0),
        ["Name", "Status", "Completions", "Duration", "Age"]
    );
    assert_eq!(
        names("batch", "cronjobs", 0),
        [
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age"
        ]
    );

    let pod_name = &columns("", "pods")[0];
    assert_eq!((pod_name.type_, pod_name.format), ("string", "name"));
    assert!(
        pod_name
            .description
            .starts_with("Name must be unique within a namespace.")
    );
    assert_eq!(
        columns("", "pods")[3].type_,
        "string",
        "RESTARTS carries the last restart time"
    );

    for (group, resource) in [
        ("", "limitranges"),
        ("rbac.authorization.k8s.io", "clusterroles"),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
    ] {
        let cols = columns(group, resource);
        assert_eq!(
            cols.iter()
                .map(|c| (c.name, c.type_, c.format))
                .collect::<Vec<_>>(),
            [("Name", "string", "name"), ("Created At", "date", "")]
        );
        assert!(
            cols[1]
                .description
                .starts_with("CreationTimestamp is a timestamp")
        );
    }
    assert_eq!(
        columns("", "pods")[0].to_json(),
        json!({"name": "Name", "type": "string", "format": "name", "description": pod_name.description, "priority": 0})
    );
}
