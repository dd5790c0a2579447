//! End-to-end tests of Events as kubectl shows and writes them: the server's
//! Table for `kubectl get events` (the scheduler's Events, written in the new
//! API's form, name their reporter in SOURCE) and the validation of each
//! Event API with its own rules and upstream's messages.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;
use skiff_tests::objects::create_ready_node;
use skiff_tests::{KUBECTL_VERSIONS, Server, eventually};

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
