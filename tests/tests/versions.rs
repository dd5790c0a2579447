//! End-to-end tests of resources served in two versions over one storage:
//! HorizontalPodAutoscalers at `autoscaling/v1` and `autoscaling/v2`, Events
//! at core `v1` and `events.k8s.io/v1`. Whatever version writes an object,
//! every version reads it, converted, through get, list, watch, Table and
//! kubectl, as kube-apiserver serves them.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::autoscaling::{v1 as hpa_v1, v2 as hpa_v2};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::events::v1 as events;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};
use skiff_tests::{KUBECTL_VERSIONS, Server, eventually};

const NS: &str = "default";
const METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";

fn hpa_v1_object(name: &str, cpu: Option<i32>) -> Result<hpa_v1::HorizontalPodAutoscaler> {
    let mut spec = json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "maxReplicas": 4,
    });
    if let Some(c) = cpu {
        spec["targetCPUUtilizationPercentage"] = json!(c);
    }
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name}, "spec": spec}),
    )?)
}

fn metrics_json(hpa: &hpa_v2::HorizontalPodAutoscaler) -> Result<Value> {
    Ok(serde_json::to_value(
        hpa.spec.as_ref().and_then(|s| s.metrics.clone()),
    )?)
}

fn annotation(hpa: &hpa_v1::HorizontalPodAutoscaler, key: &str) -> Option<String> {
    hpa.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key).cloned())
}

fn cpu_target(hpa: &hpa_v1::HorizontalPodAutoscaler) -> Option<i32> {
    hpa.spec
        .as_ref()
        .and_then(|s| s.target_cpu_utilization_percentage)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpa_written_as_v1_reads_as_v2_and_back() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    let v1: Api<hpa_v1::HorizontalPodAutoscaler> = Api::namespaced(client.clone(), NS);
    let v2: Api<hpa_v2::HorizontalPodAutoscaler> = Api::namespaced(client.clone(), NS);

    // Created through v1: v2 shows the CPU target as a resource metric, and
    // the v2 defaults.
    let created = v1
        .create(&PostParams::default(), &hpa_v1_object("web", Some(50))?)
        .await?;
    let read = v2.get("web").await?;
    assert_eq!(
        metrics_json(&read)?,
        json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 50}}}])
    );
    assert_eq!(read.spec.as_ref().and_then(|s| s.min_replicas), Some(1));
    // One object: the same revision and uid through both versions.
    assert_eq!(
        read.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(read.metadata.uid, created.metadata.uid);

    // A v2-only metric and a behavior, written through v2.
    let patch = json!({"spec": {
        "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
    }});
    v2.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let old = v1.get("web").await?;
    assert_eq!(cpu_target(&old), Some(50));
    let metrics = annotation(&old, METRICS_ANNOTATION).context("metrics annotation")?;
    assert_eq!(
        metrics,
        r#"[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"500Mi"}}]"#
    );
    let behavior = annotation(&old, BEHAVIOR_ANNOTATION).context("behavior annotation")?;
    assert!(
        behavior.contains(r#""ScaleDown":{"StabilizationWindowSeconds":60,"SelectPolicy":"Max""#),
        "{behavior}"
    );

    // A v1 client updates what v1 has: the v2-only data survives.
    let mut changed = old.clone();
    if let Some(spec) = changed.spec.as_mut() {
        spec.target_cpu_utilization_percentage = Some(70);
        spec.max_replicas = 6;
    }
    v1.replace("web", &PostParams::default(), &changed).await?;
    let read = v2.get("web").await?;
    assert_eq!(
        metrics_json(&read)?,
        json!([
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}},
        ])
    );
    let spec = read.spec.as_ref().context("spec")?;
    assert_eq!(spec.max_replicas, 6);
    let down = spec
        .behavior
        .as_ref()
        .and_then(|b| b.scale_down.as_ref())
        .context("scaleDown kept")?;
    assert_eq!(down.stabilization_window_seconds, Some(60));
    // No round-trip annotation is ever stored.
    assert!(
        read.metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.keys().any(|k| k.starts_with("autoscaling.alpha"))),
        "{:?}",
        read.metadata.annotations
    );

    // A v1 patch applies to the v1 form and keeps the rest.
    v1.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minReplicas": 2}})),
    )
    .await?;
    let read = v2.get("web").await?;
    assert_eq!(read.spec.as_ref().and_then(|s| s.min_replicas), Some(2));
    assert_eq!(metrics_json(&read)?.as_array().map(Vec::len), Some(2));

    // Status written through v2 reads through v1 as its fields and annotations.
    let status = json!({"status": {
        "currentReplicas": 2, "desiredReplicas": 3,
        "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 91, "averageValue": "200m"}}}],
        "conditions": [{"type": "AbleToScale", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z", "reason": "SucceededRescale"}],
    }});
    v2.patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    let old = v1.get("web").await?;
    let st = old.status.as_ref().context("status")?;
    assert_eq!(st.current_cpu_utilization_percentage, Some(91));
    assert_eq!((st.current_replicas, st.desired_replicas), (2, 3));
    let conditions = annotation(&old, CONDITIONS_ANNOTATION).context("conditions")?;
    assert!(conditions.contains("SucceededRescale"), "{conditions}");

    // Lists of both versions hold the same object.
    let list = v1.list(&ListParams::default()).await?;
    assert_eq!(list.items.len(), 1);
    assert_eq!(cpu_target(&list.items[0]), Some(70));
    assert!(annotation(&list.items[0], METRICS_ANNOTATION).is_some());
    let list = v2.list(&ListParams::default()).await?;
    assert_eq!(
        metrics_json(&list.items[0])?.as_array().map(Vec::len),
        Some(2)
    );

    // Server-side apply works through both versions.
    let apply = json!({
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "applied"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 3, "targetCPUUtilizationPercentage": 40},
    });
    v1.patch(
        "applied",
        &PatchParams::apply("test-v1"),
        &Patch::Apply(&apply),
    )
    .await?;
    let apply = json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "applied"},
        "spec": {"maxReplicas": 5},
    });
    let read = v2
        .patch(
            "applied",
            &PatchParams::apply("test-v2").force(),
            &Patch::Apply(&apply),
        )
        .await?;
    assert_eq!(read.spec.as_ref().map(|s| s.max_replicas), Some(5));
    let managers: Vec<(String, String)> = read
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.api_version.unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        managers.contains(&("test-v1".into(), "autoscaling/v1".into()))
            && managers.contains(&("test-v2".into(), "autoscaling/v2".into())),
        "{managers:?}"
    );
    let old = v1.get("applied").await?;
    assert_eq!(cpu_target(&old), Some(40));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpa_v1_without_a_target_gets_the_default_and_bad_annotations_are_refused() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    let v1: Api<hpa_v1::HorizontalPodAutoscaler> = Api::namespaced(client.clone(), NS);
    let v2: Api<hpa_v2::HorizontalPodAutoscaler> = Api::namespaced(client.clone(), NS);

    let created = v1
        .create(&PostParams::default(), &hpa_v1_object("plain", None)?)
        .await?;
    // v1 always scaled on 80% CPU when told nothing; both versions now say so.
    assert_eq!(cpu_target(&created), Some(80));
    let read = v2.get("plain").await?;
    assert_eq!(
        metrics_json(&read)?,
        json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 80}}}])
    );

    // A metrics annotation that is not upstream's encoding cannot convert.
    let mut bad = hpa_v1_object("bad", Some(50))?;
    bad.metadata.annotations = Some([(METRICS_ANNOTATION.to_string(), "{oops".to_string())].into());
    match v1.create(&PostParams::default(), &bad).await {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 400, "{e:?}");
            assert!(e.message.contains(METRICS_ANNOTATION), "{}", e.message);
        }
        other => bail!("expected a 400, got {other:?}"),
    }

    // The annotations only mean something in v1: a v2 client cannot store one.
    let sneaky: hpa_v2::HorizontalPodAutoscaler = serde_json::from_value(json!({
        "metadata": {"name": "sneaky", "annotations": {METRICS_ANNOTATION: "[]", "keep": "me"}},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 2},
    }))?;
    let created = v2.create(&PostParams::default(), &sneaky).await?;
    let kept: Vec<String> = created
        .metadata
        .annotations
        .unwrap_or_default()
        .into_keys()
        .collect();
    assert_eq!(kept, ["keep"]);
    Ok(())
}

fn core_event(name: &str, involved: &str, reason: &str, kind: &str) -> Result<core::Event> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "namespace": NS, "name": involved, "apiVersion": "v1"},
        "reason": reason,
        "message": format!("{reason} happened"),
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2025-01-01T00:00:00Z",
        "lastTimestamp": "2025-01-01T00:01:00Z",
        "count": 2,
        "type": kind,
    }))?)
}

fn new_event(name: &str, regarding: &str) -> Result<events::Event> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "eventTime": "2025-01-01T00:00:00.000000Z",
        "reportingController": "example.com/scaler",
        "reportingInstance": "scaler-1",
        "action": "Scale",
        "reason": "Scaled",
        "regarding": {"kind": "Deployment", "namespace": NS, "name": regarding, "apiVersion": "apps/v1"},
        "note": "scaled up to 3",
        "type": "Normal",
    }))?)
}

fn names<T: kube::Resource>(items: &[T]) -> Vec<String> {
    let mut n: Vec<String> = items
        .iter()
        .map(|i| i.meta().name.clone().unwrap_or_default())
        .collect();
    n.sort();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_through_either_api_read_through_the_other() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    let old: Api<core::Event> = Api::namespaced(client.clone(), NS);
    let new: Api<events::Event> = Api::namespaced(client.clone(), NS);

    old.create(
        &PostParams::default(),
        &core_event("started", "web-1", "Started", "Normal")?,
    )
    .await?;
    let read = new.get("started").await?;
    let regarding = read.regarding.as_ref().context("regarding")?;
    assert_eq!(regarding.name.as_deref(), Some("web-1"));
    assert_eq!(read.note.as_deref(), Some("Started happened"));
    assert_eq!(read.deprecated_count, Some(2));
    assert_eq!(
        read.deprecated_source
            .as_ref()
            .and_then(|s| s.component.as_deref()),
        Some("kubelet")
    );
    assert!(read.deprecated_first_timestamp.is_some());

    new.create(&PostParams::default(), &new_event("scaled", "web")?)
        .await?;
    let read = old.get("scaled").await?;
    assert_eq!(read.involved_object.name.as_deref(), Some("web"));
    assert_eq!(read.involved_object.kind.as_deref(), Some("Deployment"));
    assert_eq!(read.message.as_deref(), Some("scaled up to 3"));
    assert_eq!(
        read.reporting_component.as_deref(),
        Some("example.com/scaler")
    );
    assert_eq!(read.reporting_instance.as_deref(), Some("scaler-1"));
    assert_eq!(read.action.as_deref(), Some("Scale"));
    assert!(read.event_time.is_some());

    old.create(
        &PostParams::default(),
        &core_event("failed", "web-2", "Failed", "Warning")?,
    )
    .await?;

    // Field selectors, each API with its own field names.
    let core_cases = [
        ("involvedObject.name=web-1", vec!["started"]),
        ("involvedObject.kind=Deployment", vec!["scaled"]),
        ("reason=Failed", vec!["failed"]),
        ("type=Warning", vec!["failed"]),
        ("source=kubelet", vec!["failed", "started"]),
        ("reportingComponent=example.com/scaler", vec!["scaled"]),
    ];
    for (selector, expected) in core_cases {
        let got = old.list(&ListParams::default().fields(selector)).await?;
        assert_eq!(names(&got.items), expected, "v1 {selector}");
    }
    let new_cases = [
        ("regarding.name=web-1", vec!["started"]),
        ("regarding.kind=Deployment", vec!["scaled"]),
        ("reason=Failed", vec!["failed"]),
        ("type=Normal", vec!["scaled", "started"]),
        ("reportingController=example.com/scaler", vec!["scaled"]),
        ("source=kubelet", vec!["failed", "started"]),
        ("metadata.name=scaled", vec!["scaled"]),
    ];
    for (selector, expected) in new_cases {
        let got = new.list(&ListParams::default().fields(selector)).await?;
        assert_eq!(names(&got.items), expected, "events.k8s.io {selector}");
    }
    // The core name is not a field of events.k8s.io events, as upstream.
    match new
        .list(&ListParams::default().fields("involvedObject.name=web-1"))
        .await
    {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 400);
            assert!(
                e.message
                    .contains("field label not supported: involvedObject.name"),
                "{}",
                e.message
            );
        }
        other => bail!("expected a 400, got {other:?}"),
    }

    // An update through events.k8s.io (a series) reads back through core.
    let patch = json!({"series": {"count": 4, "lastObservedTime": "2025-01-01T00:05:00.000000Z"}});
    new.patch("scaled", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let read = old.get("scaled").await?;
    assert_eq!(read.series.as_ref().and_then(|s| s.count), Some(4));
    // Server-side apply through events.k8s.io.
    let apply = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "applied"}, "eventTime": "2025-01-01T00:00:00.000000Z",
        "reportingController": "ctl", "reportingInstance": "ctl-0", "action": "Do",
        "reason": "Did", "regarding": {"kind": "Node", "name": "node-1"}, "type": "Normal"});
    new.patch(
        "applied",
        &PatchParams::apply("events-test"),
        &Patch::Apply(&apply),
    )
    .await?;
    assert_eq!(
        old.get("applied").await?.involved_object.name.as_deref(),
        Some("node-1")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_on_one_version_sees_writes_through_the_other() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    let v1: Api<hpa_v1::HorizontalPodAutoscaler> = Api::namespaced(client.clone(), NS);
    let v2: Api<hpa_v2::HorizontalPodAutoscaler> = Api::namespaced(client.clone(), NS);
    let old: Api<core::Event> = Api::namespaced(client.clone(), NS);
    let new: Api<events::Event> = Api::namespaced(client.clone(), NS);

    let rv = v2
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut hpas = v2.watch(&WatchParams::default(), &rv).await?.boxed();
    let mut old_hpas = v1.watch(&WatchParams::default(), &rv).await?.boxed();
    let mut news = new.watch(&WatchParams::default(), &rv).await?.boxed();

    v1.create(&PostParams::default(), &hpa_v1_object("watched", Some(33))?)
        .await?;
    old.create(
        &PostParams::default(),
        &core_event("seen", "web-1", "Pulled", "Normal")?,
    )
    .await?;
    v2.patch(
        "watched",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"maxReplicas": 9}})),
    )
    .await?;

    let next = Duration::from_secs(20);
    match tokio::time::timeout(next, hpas.try_next()).await?? {
        Some(WatchEvent::Added(h)) => {
            assert_eq!(h.metadata.name.as_deref(), Some("watched"));
            assert_eq!(
                metrics_json(&h)?,
                json!([{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 33}}}])
            );
        }
        other => bail!("v2 watch: unexpected {other:?}"),
    }
    match tokio::time::timeout(next, news.try_next()).await?? {
        Some(WatchEvent::Added(e)) => {
            assert_eq!(e.note.as_deref(), Some("Pulled happened"));
            assert_eq!(e.regarding.and_then(|r| r.name).as_deref(), Some("web-1"));
        }
        other => bail!("events.k8s.io watch: unexpected {other:?}"),
    }
    // The v1 watch sees the v1 creation and the v2 change, as v1.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(next, old_hpas.try_next()).await?? {
            Some(WatchEvent::Added(h) | WatchEvent::Modified(h)) => {
                seen.push((cpu_target(&h), h.spec.map(|s| s.max_replicas)));
            }
            other => bail!("v1 watch: unexpected {other:?}"),
        }
    }
    assert_eq!(seen, [(Some(33), Some(4)), (Some(33), Some(9))]);
    Ok(())
}

#[test]
fn kubectl_autoscale_get_and_describe_hpa() -> Result<()> {
    let server = Server::start()?;
    server.kubectl_ok(
        "1.33",
        &[
            "create",
            "deployment",
            "web",
            "--image=busybox",
            "--replicas=1",
        ],
    )?;
    for v in KUBECTL_VERSIONS {
        let name = format!("web-{}", v.replace('.', "-"));
        server.kubectl_ok(
            v,
            &[
                "autoscale",
                "deployment",
                "web",
                "--name",
                &name,
                "--min=1",
                "--max=3",
                "--cpu-percent=50",
            ],
        )?;
        // kubectl 1.32 writes autoscaling/v1, 1.33 autoscaling/v2: both
        // versions read the same target. (A short name drops the version in
        // kubectl, so the full resource name.)
        let cpu = server.kubectl_ok(
            v,
            &[
                "get",
                "horizontalpodautoscalers.v1.autoscaling",
                &name,
                "-o",
                "jsonpath={.apiVersion} {.spec.targetCPUUtilizationPercentage}",
            ],
        )?;
        assert_eq!(cpu, "autoscaling/v1 50", "kubectl {v}");
        let cpu = server.kubectl_ok(
            v,
            &[
                "get",
                "horizontalpodautoscalers.v2.autoscaling",
                &name,
                "-o",
                "jsonpath={.apiVersion} {.spec.metrics[0].resource.target.averageUtilization}",
            ],
        )?;
        assert_eq!(cpu, "autoscaling/v2 50", "kubectl {v}");
        let out = server.kubectl_ok(v, &["get", "hpa", &name])?;
        let row = out.lines().nth(1).unwrap_or_default().to_string();
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols.first(), Some(&name.as_str()), "kubectl {v}:\n{out}");
        assert_eq!(cols.get(1), Some(&"Deployment/web"), "kubectl {v}:\n{out}");
        assert!(row.contains("cpu: <unknown>/50%"), "kubectl {v}:\n{out}");
        let out = server.kubectl_ok(v, &["describe", "hpa", &name])?;
        for want in [
            "Reference:",
            "Deployment/web",
            "Min replicas:",
            "Max replicas:",
            "resource cpu on pods",
            "50%",
        ] {
            assert!(out.contains(want), "kubectl {v}: {want} in\n{out}");
        }
    }
    Ok(())
}

#[test]
fn kubectl_shows_events_written_through_events_k8s_io() -> Result<()> {
    let server = Server::start()?;
    let manifest = r#"
apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: web.scaled
  namespace: default
eventTime: "2025-01-01T00:00:00.000000Z"
reportingController: example.com/scaler
reportingInstance: scaler-1
action: Scale
reason: ScaledUp
regarding:
  apiVersion: apps/v1
  kind: Deployment
  name: web
  namespace: default
note: scaled web up to 3
type: Warning
"#;
    let file = server.dir.path().join("event.yaml");
    std::fs::write(&file, manifest)?;
    let path = file.to_string_lossy().to_string();
    server.kubectl_ok("1.33", &["create", "-f", &path])?;
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["get", "events"])?;
        let row = out
            .lines()
            .find(|l| l.contains("ScaledUp"))
            .with_context(|| format!("kubectl {v} get events:\n{out}"))?;
        for want in ["Warning", "deployment/web", "scaled web up to 3"] {
            assert!(row.contains(want), "kubectl {v}: {want} in {row}");
        }
        let out = server.kubectl_ok(v, &["events"])?;
        let row = out
            .lines()
            .find(|l| l.contains("ScaledUp"))
            .with_context(|| format!("kubectl {v} events:\n{out}"))?;
        for want in ["Warning", "Deployment/web", "scaled web up to 3"] {
            assert!(row.contains(want), "kubectl {v}: {want} in {row}");
        }
        let out = server.kubectl_ok(
            v,
            &[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=web",
                "-o",
                "name",
            ],
        )?;
        assert_eq!(out.trim(), "event/web.scaled", "kubectl {v}");
        let out = server.kubectl_ok(
            v,
            &[
                "get",
                "events.v1.events.k8s.io",
                "--field-selector",
                "regarding.name=web",
                "-o",
                "jsonpath={.items[*].note}",
            ],
        )?;
        assert_eq!(out, "scaled web up to 3", "kubectl {v}");
    }
    // An event of the core API reads as events.k8s.io through kubectl too.
    server.kubectl_ok(
        "1.33",
        &[
            "create",
            "deployment",
            "web",
            "--image=busybox",
            "--replicas=1",
        ],
    )?;
    assert!(
        eventually(Duration::from_secs(60), || {
            server
                .kubectl_ok(
                    "1.33",
                    &[
                        "get",
                        "events.events.k8s.io",
                        "--field-selector",
                        "regarding.kind=Deployment,reason=ScalingReplicaSet",
                        "-o",
                        "jsonpath={.items[*].reportingController}",
                    ],
                )
                .is_ok_and(|out| out.contains("deployment-controller"))
        }),
        "the deployment controller's core event never read as events.k8s.io"
    );
    Ok(())
}

/// Runs kubectl expecting a failure; returns what it printed on stderr.
fn kubectl_fails(server: &Server, v: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let out = server.kubectl_with(v, args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if out.status.success() {
        bail!(
            "kubectl {v} {} succeeded:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(stderr)
}

#[test]
fn invalid_autoscalers_get_upstreams_errors_through_both_versions() -> Result<()> {
    let server = Server::start()?;
    server.kubectl_ok("1.33", &["create", "deployment", "web", "--image=busybox"])?;
    for v in KUBECTL_VERSIONS {
        // kubectl autoscale checks min and max itself (and leaves a min of 0
        // out), but sends a CPU target of 0: kubectl 1.32 through
        // autoscaling/v1, 1.33 through v2. Both get the v2 path, as upstream
        // validates the internal object.
        let stderr = kubectl_fails(
            &server,
            v,
            &[
                "autoscale",
                "deployment",
                "web",
                "--max=3",
                "--cpu-percent=0",
            ],
            None,
        )?;
        assert!(
            stderr.contains(
                "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"
            ),
            "kubectl {v}: {stderr}"
        );
    }

    let v2 = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment}
  minReplicas: 5
  maxReplicas: 3
  metrics:
  - type: Pods
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleUp:
      stabilizationWindowSeconds: 4000
      selectPolicy: Avg
      policies:
      - {type: Replicas, value: 0, periodSeconds: 1801}
"#;
    let v1 = r#"
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 0
  maxReplicas: 0
"#;
    for v in KUBECTL_VERSIONS {
        let stderr = kubectl_fails(&server, v, &["apply", "-f", "-"], Some(v2))?;
        assert!(
            stderr.contains(r#"The HorizontalPodAutoscaler "web" is invalid"#),
            "kubectl {v}: {stderr}"
        );
        for cause in [
            "spec.maxReplicas: Invalid value: 3: must be greater than or equal to `minReplicas`",
            "spec.scaleTargetRef.name: Required value",
            "spec.metrics[0].pods: Required value: must populate information for the given metric source",
            "spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: 4000: must be less than or equal to 3600",
            r#"spec.behavior.scaleUp.selectPolicy: Unsupported value: "Avg": supported values: "Disabled", "Max", "Min""#,
            r#"spec.behavior.scaleUp.policies[0].type: Unsupported value: "Replicas": supported values: "Percent", "Pods""#,
            "spec.behavior.scaleUp.policies[0].value: Invalid value: 0: must be greater than zero",
            "spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 1801: must be less than or equal to 1800",
        ] {
            assert!(stderr.contains(cause), "kubectl {v}: {cause} in {stderr}");
        }
        let stderr = kubectl_fails(&server, v, &["apply", "-f", "-"], Some(v1))?;
        for cause in [
            // HPAScaleToZero is off: 0 is below the bound.
            "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
            "spec.maxReplicas: Invalid value: 0: must be greater than 0",
            // v1's implied CPU metric cannot wake a target scaled to zero.
            "spec.metrics: Forbidden: must specify at least one Object or External metric to support scaling to zero replicas",
        ] {
            assert!(stderr.contains(cause), "kubectl {v}: {cause} in {stderr}");
        }
    }

    // An update is checked too: a valid autoscaler cannot be made invalid.
    server.kubectl_ok(
        "1.33",
        &["autoscale", "deployment", "web", "--min=2", "--max=4"],
    )?;
    for v in KUBECTL_VERSIONS {
        let stderr = kubectl_fails(
            &server,
            v,
            &[
                "patch",
                "hpa",
                "web",
                "--type=merge",
                "-p",
                r#"{"spec": {"maxReplicas": 1}}"#,
            ],
            None,
        )?;
        assert!(
            stderr.contains(
                "spec.maxReplicas: Invalid value: 1: must be greater than or equal to `minReplicas`"
            ),
            "kubectl {v}: {stderr}"
        );
    }
    Ok(())
}
