//! End-to-end tests of Events as kubectl shows and writes them: the server's
//! Table for `kubectl get events` (the scheduler's Events, written in the new
//! API's form, name their reporter in SOURCE), the validation of each Event
//! API with its own rules and upstream's messages, and Events served from
//! the store rather than the watch cache (as kube-apiserver, whose watch
//! cache size for events is 0) to kubectl's get, watch, describe and events.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use skiff_tests::objects::create_ready_node;
use skiff_tests::{KUBECTL_VERSIONS, Server, Sim, eventually};

/// The cells of the first row matching `pick` of a kubectl table, by column
/// header. kubectl aligns columns, so each cell starts where its header
/// starts; cells may hold single spaces (`default-scheduler, host`).
fn table_row(out: &str, pick: impl Fn(&str) -> bool) -> Option<BTreeMap<String, String>> {
    let mut lines = out.lines();
    let header = lines.next()?;
    let mut starts = Vec::new();
    let mut prev_space = true;
    for (i, c) in header.char_indices() {
        // A header starts after two spaces or at the line start; single
        // spaces are inside a header ("LAST SEEN").
        if c != ' ' && prev_space && (i == 0 || header[..i].ends_with("  ")) {
            starts.push(i);
        }
        prev_space = c == ' ';
    }
    let row = lines.find(|l| pick(l))?;
    let mut cells = BTreeMap::new();
    for (n, start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(usize::MAX);
        let name = header[*start..end.min(header.len())].trim().to_string();
        let cell = row
            .get(*start..end.min(row.len()))
            .unwrap_or("")
            .trim()
            .to_string();
        cells.insert(name, cell);
    }
    Some(cells)
}

/// The header names of a kubectl table, in order.
fn headers(out: &str) -> Vec<String> {
    out.lines()
        .next()
        .unwrap_or("")
        .split("  ")
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_events_wide_shows_the_scheduler_as_source() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    create_ready_node(&client, "small", "1", &[], json!([])).await?;
    let pod = r#"
apiVersion: v1
kind: Pod
metadata:
  name: too-big
spec:
  containers:
  - name: c
    image: busybox
    resources:
      requests:
        cpu: "2"
"#;
    let args = ["apply", "-f", "-"];
    skiff_tests::check(server.kubectl_with("1.33", &args, Some(pod)), &args)?;
    // A controller's Event (the legacy recorder's form: `source.component`).
    server.kubectl_ok("1.33", &["create", "deployment", "web", "--image=busybox"])?;

    let failed = |line: &str| line.contains("FailedScheduling") && line.contains("pod/too-big");
    let scaled = |line: &str| line.contains("ScalingReplicaSet") && line.contains("deployment/web");
    let wide = ["get", "events", "-o", "wide"];
    assert!(
        eventually(Duration::from_secs(60), || {
            server
                .kubectl_ok("1.33", &wide)
                .is_ok_and(|out| out.lines().any(failed) && out.lines().any(scaled))
        }),
        "no FailedScheduling event for pod too-big or ScalingReplicaSet for web"
    );
    for v in KUBECTL_VERSIONS {
        // Wide: upstream's full column set, in upstream's order.
        let out = server.kubectl_ok(v, &wide)?;
        assert_eq!(
            headers(&out),
            [
                "LAST SEEN",
                "TYPE",
                "REASON",
                "OBJECT",
                "SUBOBJECT",
                "SOURCE",
                "MESSAGE",
                "FIRST SEEN",
                "COUNT",
                "NAME"
            ],
            "kubectl {v}:\n{out}"
        );
        let row = table_row(&out, failed).with_context(|| format!("kubectl {v}:\n{out}"))?;
        // The scheduler writes the new API's form: no `source`, its name in
        // reportingComponent and its instance in reportingInstance.
        let source = &row["SOURCE"];
        assert!(
            source.starts_with("default-scheduler, default-scheduler-"),
            "kubectl {v}: SOURCE {source:?} in\n{out}"
        );
        assert_eq!(row["TYPE"], "Warning", "kubectl {v}:\n{out}");
        assert_eq!(row["OBJECT"], "pod/too-big", "kubectl {v}:\n{out}");
        assert!(
            row["MESSAGE"].starts_with("0/1 nodes are available: 1 Insufficient cpu."),
            "kubectl {v}:\n{out}"
        );
        assert!(
            row["COUNT"].parse::<u32>().is_ok_and(|n| n >= 1),
            "kubectl {v}:\n{out}"
        );
        assert!(row["NAME"].starts_with("too-big."), "kubectl {v}:\n{out}");
        // kube-controller-manager's recorders have no host: the component
        // alone, as upstream shows it.
        let row = table_row(&out, scaled).with_context(|| format!("kubectl {v}:\n{out}"))?;
        assert_eq!(
            row["SOURCE"], "deployment-controller",
            "kubectl {v}:\n{out}"
        );

        // The same Event through events.k8s.io shows the same source.
        let out = server.kubectl_ok(v, &["get", "events.events.k8s.io", "-o", "wide"])?;
        let row = table_row(&out, failed).with_context(|| format!("kubectl {v}:\n{out}"))?;
        assert_eq!(row["SOURCE"], *source, "kubectl {v}:\n{out}");

        // Without -o wide, the priority-0 columns only.
        let out = server.kubectl_ok(v, &["get", "events"])?;
        assert_eq!(
            headers(&out),
            ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
            "kubectl {v}:\n{out}"
        );
    }
    Ok(())
}

const INVALID_NEW_EVENT: &str = r#"
apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: bad
regarding:
  kind: Pod
  name: web
  namespace: default
reason: Started
note: started
type: Info
deprecatedCount: 3
"#;

#[test]
fn events_k8s_io_events_get_the_strict_rules() -> Result<()> {
    let server = Server::start()?;
    let create = ["create", "-f", "-"];
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_with(v, &create, Some(INVALID_NEW_EVENT));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "kubectl {v} created an invalid Event"
        );
        // kubectl lists upstream's causes; the legacy rules pass (no
        // eventTime: an old-style event), the strict ones do not.
        assert!(
            stderr.contains(r#"The Event "bad" is invalid"#),
            "kubectl {v}: {stderr}"
        );
        for cause in [
            "eventTime: Required value",
            r#"type: Invalid value: "": has invalid value: Info"#,
            r#"count: Invalid value: "": needs to be unset"#,
        ] {
            assert!(stderr.contains(cause), "kubectl {v}: {cause} in {stderr}");
        }
    }

    // A new-style Event (with eventTime) must name its reporter.
    let no_reporter = r#"
apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: no-reporter
eventTime: "2025-01-01T00:00:00.000000Z"
regarding: {kind: Pod, name: web, namespace: default}
reason: Started
type: Normal
"#;
    let out = server.kubectl_with("1.33", &create, Some(no_reporter));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "created an Event with no reporter");
    for cause in [
        "reportingController: Required value",
        "reportingInstance: Required value",
        "action: Required value",
    ] {
        assert!(stderr.contains(cause), "{cause} in {stderr}");
    }

    // The same content through core v1 passes: old-style events keep the
    // legacy rules only.
    let core = r#"
apiVersion: v1
kind: Event
metadata:
  name: legacy
involvedObject: {kind: Pod, name: web, namespace: default}
reason: Started
message: started
type: Info
count: 3
"#;
    let args = ["create", "-f", "-"];
    skiff_tests::check(server.kubectl_with("1.33", &args, Some(core)), &args)?;
    // A core Event with an eventTime must name its reporter, by its core name.
    let core_new_style = r#"
apiVersion: v1
kind: Event
metadata:
  name: core-new-style
eventTime: "2025-01-01T00:00:00.000000Z"
involvedObject: {kind: Pod, name: web, namespace: default}
reportingInstance: x-1
action: Start
reason: Started
"#;
    let out = server.kubectl_with("1.33", &create, Some(core_new_style));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "created a core Event with no reporter"
    );
    assert!(
        stderr.contains("reportingComponent: Required value"),
        "{stderr}"
    );

    // Through events.k8s.io, only the series of an Event may change.
    let good = r#"
apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: good
eventTime: "2025-01-01T00:00:00.000000Z"
reportingController: example.com/ctl
reportingInstance: ctl-1
action: Start
reason: Started
regarding: {kind: Pod, name: web, namespace: default}
note: started
type: Normal
"#;
    skiff_tests::check(server.kubectl_with("1.33", &args, Some(good)), &args)?;
    let series = r#"{"series": {"count": 2, "lastObservedTime": "2025-01-01T00:01:00.000000Z"}}"#;
    server.kubectl_ok(
        "1.33",
        &[
            "patch",
            "events.v1.events.k8s.io",
            "good",
            "--type=merge",
            "-p",
            series,
        ],
    )?;
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl(
            v,
            &[
                "patch",
                "events.v1.events.k8s.io",
                "good",
                "--type=merge",
                "-p",
                r#"{"note": "changed", "series": {"count": 1}}"#,
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "kubectl {v} changed an Event's note");
        for cause in [
            r#"message: Invalid value: "changed": field is immutable"#,
            r#"series.count: Invalid value: "": should be at least 2"#,
        ] {
            assert!(stderr.contains(cause), "kubectl {v}: {cause} in {stderr}");
        }
    }
    // Through core v1 the same change is allowed, as upstream.
    server.kubectl_ok(
        "1.33",
        &[
            "patch",
            "events",
            "good",
            "--type=merge",
            "-p",
            r#"{"message": "changed"}"#,
        ],
    )?;
    let note = server.kubectl_ok(
        "1.33",
        &[
            "get",
            "events.v1.events.k8s.io",
            "good",
            "-o",
            "jsonpath={.note}",
        ],
    )?;
    if note != "changed" {
        bail!("note after a core update: {note:?}");
    }
    Ok(())
}

fn sim_pod(name: &str) -> Result<Pod> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }))?)
}

/// The `involvedObject.name` of each Event.
fn involved(events: &[Event]) -> BTreeSet<String> {
    events
        .iter()
        .filter_map(|e| e.involved_object.name.clone())
        .collect()
}

/// The scheduler's Events of pods on `skiff sim` nodes, served from the
/// store: a watch from a list's resourceVersion sees them as they are
/// written, a watch from an older revision replays them from the store's
/// history, and field-selected and paged lists find them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_events_are_watched_and_listed_from_the_store() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "2"])?;
    let client = server.client().await?;
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client, "default");

    let listed = events.list(&ListParams::default()).await?;
    let rv = listed.metadata.resource_version.unwrap_or_default();
    let scheduled = WatchParams::default().fields("reason=Scheduled");
    let mut watch = events.watch(&scheduled, &rv).await?.boxed();
    let names = ["web-0", "web-1", "web-2"];
    for name in names {
        pods.create(&PostParams::default(), &sim_pod(name)?).await?;
    }
    let mut seen = Vec::new();
    while involved(&seen).len() < names.len() {
        match tokio::time::timeout(Duration::from_secs(60), watch.try_next()).await?? {
            Some(WatchEvent::Added(e)) => seen.push(e),
            Some(WatchEvent::Bookmark(_)) => {}
            other => bail!("unexpected {other:?} after {seen:?}"),
        }
    }
    assert_eq!(involved(&seen), BTreeSet::from(names.map(String::from)));
    for e in &seen {
        assert_eq!(e.reason.as_deref(), Some("Scheduled"));
        let name = e.involved_object.name.as_deref().unwrap_or("");
        assert!(
            e.message.as_deref().is_some_and(
                |m| m.starts_with(&format!("Successfully assigned default/{name} to "))
            ),
            "{e:?}"
        );
    }

    // From the first Event's revision: the later ones, from history.
    let first = seen
        .iter()
        .filter_map(|e| e.metadata.resource_version.as_deref()?.parse::<i64>().ok())
        .min()
        .context("Events carry a resourceVersion")?;
    let mut replay = events.watch(&scheduled, &first.to_string()).await?.boxed();
    let mut later = Vec::new();
    while involved(&later).len() < names.len() - 1 {
        match tokio::time::timeout(Duration::from_secs(30), replay.try_next()).await?? {
            Some(WatchEvent::Added(e)) => later.push(e),
            Some(WatchEvent::Bookmark(_)) => {}
            other => bail!("unexpected {other:?} after {later:?}"),
        }
    }
    assert!(later.iter().all(|e| {
        e.metadata
            .resource_version
            .as_deref()
            .and_then(|r| r.parse::<i64>().ok())
            .is_some_and(|r| r > first)
    }));

    // A field-selected list: one pod's Events only.
    let one = events
        .list(&ListParams::default().fields("involvedObject.name=web-1,reason=Scheduled"))
        .await?;
    assert_eq!(involved(&one.items), BTreeSet::from(["web-1".to_string()]));
    assert_eq!(one.items.len(), 1, "{:?}", one.items);

    // Pages of one: every Event once, in name order, at one revision.
    let all = events.list(&ListParams::default()).await?;
    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(1);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = events.list(&lp).await?;
        assert!(page.items.len() <= 1);
        paged.extend(page.items.into_iter().filter_map(|e| e.metadata.name));
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    let listed: Vec<String> = all
        .items
        .into_iter()
        .filter_map(|e| e.metadata.name)
        .collect();
    assert_eq!(paged, listed);
    assert!(paged.len() >= names.len());
    Ok(())
}

/// kubectl 1.32 and 1.33 show the scheduler's Events, read from the store:
/// `get events`, `describe pod`'s Events section, `kubectl events --for`,
/// and `get events -w`, which lists then watches from the list's revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_shows_scheduling_events_from_the_store() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "1"])?;
    let client = server.client().await?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    pods.create(&PostParams::default(), &sim_pod("web")?)
        .await?;
    let assigned = "Successfully assigned default/web to ";
    assert!(
        eventually(Duration::from_secs(60), || {
            server
                .kubectl_ok("1.33", &["get", "events"])
                .is_ok_and(|out| out.contains(assigned))
        }),
        "no Scheduled event for pod web"
    );
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["get", "events"])?;
        let row = table_row(&out, |l| l.contains("Scheduled"))
            .with_context(|| format!("kubectl {v}:\n{out}"))?;
        assert_eq!(row["TYPE"], "Normal", "kubectl {v}:\n{out}");
        assert_eq!(row["OBJECT"], "pod/web", "kubectl {v}:\n{out}");
        assert!(row["MESSAGE"].starts_with(assigned), "kubectl {v}:\n{out}");

        let out = server.kubectl_ok(v, &["describe", "pod", "web"])?;
        let section = out
            .split_once("\nEvents:")
            .map(|(_, events)| events)
            .with_context(|| format!("kubectl {v}: no Events section:\n{out}"))?;
        let line = section
            .lines()
            .find(|l| l.contains("Scheduled"))
            .with_context(|| format!("kubectl {v}: no Scheduled event:\n{out}"))?;
        assert!(
            line.contains("Normal")
                && line.contains("default-scheduler")
                && line.contains(assigned),
            "kubectl {v}: {line}"
        );

        let out = server.kubectl_ok(v, &["events", "--for", "pod/web"])?;
        assert!(
            out.lines()
                .any(|l| l.contains("Scheduled") && l.contains(assigned)),
            "kubectl {v} events:\n{out}"
        );
    }

    // A watch: the list, then an Event written after the watch started.
    for v in KUBECTL_VERSIONS {
        let mut child = Command::new(skiff_tests::kubectl_bin(v))
            .arg("--kubeconfig")
            .arg(&server.kubeconfig)
            .args([
                "get",
                "events",
                "-w",
                "--field-selector",
                "reason=Scheduled",
            ])
            .env("KUBECACHEDIR", server.dir.path().join("kubecache"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("kubectl get events -w starts")?;
        let stdout = child.stdout.take().context("kubectl's stdout")?;
        let _child = KillOnDrop(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let wait_for_line = |pred: &dyn Fn(&str) -> bool| -> Result<String> {
            loop {
                let line = rx
                    .recv_timeout(Duration::from_secs(60))
                    .with_context(|| format!("kubectl {v} get events -w printed no such line"))?;
                if pred(&line) {
                    return Ok(line);
                }
            }
        };
        wait_for_line(&|l| l.contains("pod/web ") || l.ends_with("pod/web"))?;
        let name = format!("watched-{}", v.replace('.', "-"));
        pods.create(&PostParams::default(), &sim_pod(&name)?)
            .await?;
        let line = wait_for_line(&|l| l.contains(&format!("pod/{name}")))?;
        assert!(
            line.contains("Scheduled") && line.contains("Normal"),
            "kubectl {v}: {line}"
        );
    }
    Ok(())
}

/// A child process killed when the test is done with it, also on failure.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
