//! End-to-end tests of the StatefulSet controller: a real `skiff server`
//! with two `skiff sim` nodes (pods run and turn Ready, slowly where the
//! `sim.skiff.dev/ready-after` annotation says so), driven with the real
//! kubectl: ordered creation with claims, scale down from the highest
//! ordinal, orphaning and adoption, rolling updates in reverse order,
//! `kubectl rollout status/history/undo`, partitions, Parallel pod
//! management, replacement of deleted pods and the claim retention policy.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use skiff_tests::objects::events_with_reason;
use skiff_tests::{KUBECTL_VERSIONS, Server, Sim, wait_for};

const KUBECTL: &str = "1.33";
const WAIT: Duration = Duration::from_secs(90);

/// A StatefulSet `web` with a headless service name and one claim template.
fn statefulset_yaml(replicas: i32, image: &str, ready_after: &str, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: {replicas}
  selector:
    matchLabels:
      app: web
{extra_spec}  template:
    metadata:
      labels:
        app: web
      annotations:
        sim.skiff.dev/ready-after: "{ready_after}"
    spec:
      containers:
      - name: nginx
        image: {image}
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: ["ReadWriteOnce"]
      resources:
        requests:
          storage: 1Gi
"#
    )
}

fn apply(server: &Server, version: &str, yaml: &str) -> Result<String> {
    skiff_tests::check(
        server.kubectl_with(version, &["apply", "-f", "-"], Some(yaml)),
        &["apply", "-f", "-"],
    )
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn ready_since(p: &Pod) -> Option<Timestamp> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

fn created(p: &Pod) -> Timestamp {
    p.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or_default()
}

fn revision(p: &Pod) -> String {
    p.labels()
        .get("controller-revision-hash")
        .cloned()
        .unwrap_or_default()
}

fn image(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// The set's pods by name.
async fn pods(client: &Client) -> Result<BTreeMap<String, Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let list = api.list(&ListParams::default().labels("app=web")).await?;
    Ok(list.items.into_iter().map(|p| (p.name_any(), p)).collect())
}

/// Waits until exactly `names` run Ready and not terminating (at `image`
/// when given).
async fn wait_ready(
    client: &Client,
    names: &[&str],
    image_want: Option<&str>,
) -> Result<BTreeMap<String, Pod>> {
    wait_for(&format!("pods {names:?} ready"), WAIT, || async {
        let pods = pods(client).await?;
        let ok = pods.len() == names.len()
            && names.iter().all(|n| {
                pods.get(*n).is_some_and(|p| {
                    is_ready(p)
                        && p.metadata.deletion_timestamp.is_none()
                        && image_want.is_none_or(|i| image(p) == i)
                })
            });
        Ok(ok.then_some(pods))
    })
    .await
}

async fn statefulset(client: &Client) -> Result<StatefulSet> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    Ok(api.get("web").await?)
}

async fn claims(client: &Client) -> Result<BTreeMap<String, PersistentVolumeClaim>> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let list = api.list(&ListParams::default()).await?;
    Ok(list.items.into_iter().map(|c| (c.name_any(), c)).collect())
}

async fn revisions(client: &Client) -> Result<Vec<ControllerRevision>> {
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    let mut list = api.list(&ListParams::default()).await?.items;
    list.sort_by_key(|r| r.revision);
    Ok(list)
}

async fn event_messages(client: &Client, reason: &str) -> Result<Vec<String>> {
    Ok(events_with_reason(client, "default", reason)
        .await?
        .into_iter()
        .filter_map(|e| e.message)
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_pods_come_up_in_order_with_claims_and_scale_down_from_the_top() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "2"])?;
    let client = server.client().await?;
    apply(&server, KUBECTL, &statefulset_yaml(3, "nginx:1", "2s", ""))?;

    let up = wait_ready(&client, &["web-0", "web-1", "web-2"], None).await?;
    // OrderedReady: each pod is created only once its predecessor is Ready.
    for (prev, next) in [("web-0", "web-1"), ("web-1", "web-2")] {
        let (p, n) = (&up[prev], &up[next]);
        let ready = ready_since(p).context("no Ready time")?;
        assert!(
            created(n) >= ready && created(n) > created(p),
            "{next} (created {}) did not wait for {prev} (created {}, ready {ready})",
            created(n),
            created(p)
        );
    }
    // The status follows the pods.
    let set = wait_for("status of 3 ready replicas", WAIT, || async {
        let set = statefulset(&client).await?;
        let ready = set.status.as_ref().and_then(|s| s.ready_replicas);
        Ok((ready == Some(3)).then_some(set))
    })
    .await?;
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(
            v,
            &["rollout", "status", "statefulset/web", "--timeout=60s"],
        )?;
        assert!(out.contains("roll out complete"), "kubectl {v}: {out}");
        let out = server.kubectl_ok(v, &["get", "statefulset", "web", "--no-headers"])?;
        assert!(
            out.split_whitespace().nth(1) == Some("3/3"),
            "kubectl {v}: {out}"
        );
        let out = server.kubectl_ok(v, &["describe", "statefulset", "web"])?;
        assert!(
            out.contains("3 Running / 0 Waiting / 0 Succeeded / 0 Failed"),
            "kubectl {v}: {out}"
        );
        assert!(
            out.contains("create Pod web-2 in StatefulSet web successful"),
            "kubectl {v}: {out}"
        );
    }
    let status = set.status.clone().context("no status")?;
    assert_eq!(status.replicas, 3);
    assert_eq!(status.ready_replicas, Some(3));
    assert_eq!(status.current_replicas, Some(3));
    assert_eq!(status.updated_replicas, Some(3));
    assert_eq!(status.available_replicas, Some(3));
    assert_eq!(status.observed_generation, set.metadata.generation);
    let update_revision = status.update_revision.clone().unwrap_or_default();
    assert!(update_revision.starts_with("web-"), "{update_revision}");
    assert_eq!(
        status.current_revision.as_deref(),
        Some(update_revision.as_str())
    );

    // Identity: labels, hostname, subdomain, the claim mounted, the owner.
    let claims_now = claims(&client).await?;
    for (ordinal, name) in ["web-0", "web-1", "web-2"].iter().enumerate() {
        let p = &up[*name];
        let labels = p.labels();
        assert_eq!(
            labels
                .get("statefulset.kubernetes.io/pod-name")
                .map(String::as_str),
            Some(*name)
        );
        assert_eq!(
            labels.get("apps.kubernetes.io/pod-index"),
            Some(&ordinal.to_string())
        );
        assert_eq!(revision(p), update_revision);
        let spec = p.spec.clone().unwrap_or_default();
        assert_eq!(spec.hostname.as_deref(), Some(*name));
        assert_eq!(spec.subdomain.as_deref(), Some("web"));
        let claim = format!("www-{name}");
        let mounted = spec.volumes.unwrap_or_default().into_iter().any(|v| {
            v.name == "www"
                && v.persistent_volume_claim
                    .is_some_and(|c| c.claim_name == claim)
        });
        assert!(mounted, "{name} does not mount {claim}");
        let pvc = claims_now
            .get(&claim)
            .context(format!("no claim {claim}"))?;
        assert_eq!(pvc.labels().get("app").map(String::as_str), Some("web"));
        let owner = p
            .owner_references()
            .iter()
            .find(|r| r.controller == Some(true))
            .context("no controller")?;
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("StatefulSet", set.uid().unwrap_or_default().as_str())
        );
    }
    let created_events = event_messages(&client, "SuccessfulCreate").await?;
    for msg in [
        "create Pod web-0 in StatefulSet web successful",
        "create Claim www-web-0 Pod web-0 in StatefulSet web success",
    ] {
        assert!(
            created_events.iter().any(|m| m == msg),
            "no event {msg:?} in {created_events:?}"
        );
    }
    let revs = revisions(&client).await?;
    assert_eq!(revs.len(), 1);
    assert_eq!(revs[0].name_any(), update_revision);
    assert_eq!(
        revs[0].labels().get("controller.kubernetes.io/hash"),
        update_revision
            .strip_prefix("web-")
            .map(String::from)
            .as_ref()
    );

    // Scale down: web-2 goes first, and web-1 only once web-2 is gone.
    server.kubectl_ok(KUBECTL, &["scale", "statefulset/web", "--replicas=1"])?;
    wait_for("scale down to web-0", WAIT, || async {
        let pods = pods(&client).await?;
        let gone_or_going = |n: &str| {
            pods.get(n)
                .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
        };
        if gone_or_going("web-1") && pods.contains_key("web-2") {
            bail!("web-1 was deleted while web-2 still existed");
        }
        Ok((pods.len() == 1 && pods.contains_key("web-0")).then_some(()))
    })
    .await?;
    let deleted = event_messages(&client, "SuccessfulDelete").await?;
    assert!(
        deleted
            .iter()
            .any(|m| m == "delete Pod web-2 in StatefulSet web successful"),
        "{deleted:?}"
    );
    // whenScaled defaults to Retain: the claims stay for a later scale up.
    let claims_now = claims(&client).await?;
    for c in ["www-web-0", "www-web-1", "www-web-2"] {
        assert!(claims_now.contains_key(c), "claim {c} was deleted");
    }
    wait_for("status of 1 replica", WAIT, || async {
        let s = statefulset(&client).await?.status.unwrap_or_default();
        Ok((s.replicas == 1 && s.ready_replicas == Some(1)).then_some(()))
    })
    .await?;

    // Orphan the pod, then adopt it with a new set: same pod, new owner.
    let uid_before = pods(&client).await?["web-0"].uid();
    server.kubectl_ok(KUBECTL, &["delete", "statefulset/web", "--cascade=orphan"])?;
    wait_for("web-0 orphaned", WAIT, || async {
        let p = pods(&client).await?.remove("web-0");
        Ok(p.filter(|p| p.owner_references().is_empty()).map(|_| ()))
    })
    .await?;
    apply(&server, KUBECTL, &statefulset_yaml(1, "nginx:1", "2s", ""))?;
    let new_uid = statefulset(&client).await?.uid().unwrap_or_default();
    let adopted = wait_for("web-0 adopted", WAIT, || async {
        let p = pods(&client).await?.remove("web-0");
        Ok(p.filter(|p| p.owner_references().iter().any(|r| r.uid == new_uid)))
    })
    .await?;
    assert_eq!(
        adopted.uid(),
        uid_before,
        "web-0 was replaced instead of adopted"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_goes_in_reverse_order_undoes_and_respects_the_partition() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "2"])?;
    let client = server.client().await?;
    apply(
        &server,
        KUBECTL,
        &statefulset_yaml(3, "nginx:1", "1500ms", ""),
    )?;
    let v1 = wait_ready(&client, &["web-0", "web-1", "web-2"], Some("nginx:1")).await?;
    let rev1 = revision(&v1["web-0"]);

    // A template change rolls from web-2 down to web-0, one at a time.
    apply(
        &server,
        KUBECTL,
        &statefulset_yaml(3, "nginx:2", "1500ms", ""),
    )?;
    let out = server.kubectl_ok(
        KUBECTL,
        &["rollout", "status", "statefulset/web", "--timeout=120s"],
    )?;
    assert!(
        out.contains("partitioned roll out complete: 3 new pods have been updated"),
        "{out}"
    );
    let v2 = wait_ready(&client, &["web-0", "web-1", "web-2"], Some("nginx:2")).await?;
    assert!(
        created(&v2["web-2"]) < created(&v2["web-1"])
            && created(&v2["web-1"]) < created(&v2["web-0"]),
        "not replaced in reverse ordinal order: {:?}",
        v2.values()
            .map(|p| (p.name_any(), created(p)))
            .collect::<Vec<_>>()
    );
    for p in v2.values() {
        assert!(
            created(p) > created(&v1[&p.name_any()]),
            "{} was not replaced",
            p.name_any()
        );
    }
    let rev2 = revision(&v2["web-0"]);
    assert_ne!(rev1, rev2);
    let status = wait_for("current revision updated", WAIT, || async {
        let s = statefulset(&client).await?.status.unwrap_or_default();
        Ok((s.current_revision.as_deref() == Some(rev2.as_str())).then_some(s))
    })
    .await?;
    assert_eq!(status.update_revision.as_deref(), Some(rev2.as_str()));
    assert_eq!(status.updated_replicas, Some(3));
    for v in KUBECTL_VERSIONS {
        let history = server.kubectl_ok(v, &["rollout", "history", "statefulset/web"])?;
        let numbers: Vec<&str> = history
            .lines()
            .skip_while(|l| !l.starts_with("REVISION"))
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(numbers, ["1", "2"], "kubectl {v}: {history}");
        let first = server.kubectl_ok(
            v,
            &["rollout", "history", "statefulset/web", "--revision=1"],
        )?;
        assert!(first.contains("nginx:1"), "kubectl {v}: {first}");
    }

    // Undo: back to the first template, whose revision is renumbered 3.
    server.kubectl_ok(KUBECTL, &["rollout", "undo", "statefulset/web"])?;
    let out = server.kubectl_ok(
        "1.32",
        &["rollout", "status", "statefulset/web", "--timeout=120s"],
    )?;
    assert!(out.contains("roll out complete"), "{out}");
    let back = wait_ready(&client, &["web-0", "web-1", "web-2"], Some("nginx:1")).await?;
    assert!(back.values().all(|p| revision(p) == rev1));
    let revs = revisions(&client).await?;
    let numbered: Vec<(i64, String)> = revs.iter().map(|r| (r.revision, r.name_any())).collect();
    assert_eq!(numbered, [(2, rev2.clone()), (3, rev1.clone())]);

    // Partition 2: only web-2 moves to the new template.
    // revisionHistoryLimit 0: revisions no pod runs at and that are neither
    // current nor update go.
    let partitioned = "  revisionHistoryLimit: 0\n  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate:\n      partition: 2\n";
    apply(
        &server,
        KUBECTL,
        &statefulset_yaml(3, "nginx:3", "1500ms", partitioned),
    )?;
    let out = server.kubectl_ok(
        KUBECTL,
        &["rollout", "status", "statefulset/web", "--timeout=120s"],
    )?;
    assert!(
        out.contains("partitioned roll out complete: 1 new pods have been updated"),
        "{out}"
    );
    let after = wait_for("web-2 at nginx:3", WAIT, || async {
        let pods = pods(&client).await?;
        let done = pods
            .get("web-2")
            .is_some_and(|p| image(p) == "nginx:3" && is_ready(p));
        Ok(done.then_some(pods))
    })
    .await?;
    // Give a wrong controller time to go on below the partition.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = pods(&client).await?;
    for name in ["web-0", "web-1"] {
        assert_eq!(
            image(&later[name]),
            "nginx:1",
            "{name} crossed the partition"
        );
        assert_eq!(later[name].uid(), back[name].uid(), "{name} was replaced");
    }
    let rev3 = revision(&after["web-2"]);
    let status = wait_for("status of the partitioned rollout", WAIT, || async {
        let s = statefulset(&client).await?.status.unwrap_or_default();
        Ok((s.updated_replicas == Some(1) && s.ready_replicas == Some(3)).then_some(s))
    })
    .await?;
    assert_eq!(status.update_revision.as_deref(), Some(rev3.as_str()));
    assert_eq!(status.current_revision.as_deref(), Some(rev1.as_str()));
    assert_eq!(
        (status.updated_replicas, status.current_replicas),
        (Some(1), Some(2))
    );
    let kept = wait_for("history truncated", WAIT, || async {
        let names: Vec<String> = revisions(&client)
            .await?
            .iter()
            .map(|r| r.name_any())
            .collect();
        Ok((names.len() == 2).then_some(names))
    })
    .await?;
    assert_eq!(kept, [rev1, rev3]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_pods_start_together_deleted_pods_return_and_claims_follow_the_policy()
-> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "2"])?;
    let client = server.client().await?;
    let spec = "  podManagementPolicy: Parallel\n  persistentVolumeClaimRetentionPolicy:\n    whenDeleted: Delete\n    whenScaled: Delete\n";
    apply(
        &server,
        KUBECTL,
        &statefulset_yaml(3, "nginx:1", "3s", spec),
    )?;
    let up = wait_ready(&client, &["web-0", "web-1", "web-2"], None).await?;
    // Parallel: every pod was created before the first turned Ready.
    let first_ready = up
        .values()
        .filter_map(ready_since)
        .min()
        .context("no Ready time")?;
    for p in up.values() {
        assert!(
            created(p) < first_ready,
            "{} created after a pod was Ready",
            p.name_any()
        );
    }
    let set_uid = statefulset(&client).await?.uid().unwrap_or_default();
    // whenDeleted Delete: the set owns the claims of its running pods.
    wait_for("claims owned by the set", WAIT, || async {
        let claims = claims(&client).await?;
        let ok = ["www-web-0", "www-web-1", "www-web-2"].iter().all(|c| {
            claims
                .get(*c)
                .is_some_and(|c| c.owner_references().iter().any(|r| r.uid == set_uid))
        });
        Ok(ok.then_some(()))
    })
    .await?;

    // A deleted pod comes back under the same name, with the same claim.
    let old_uid = up["web-1"].uid();
    server.kubectl_ok(KUBECTL, &["delete", "pod", "web-1", "--wait=false"])?;
    let back = wait_for("web-1 recreated", WAIT, || async {
        let p = pods(&client).await?.remove("web-1");
        Ok(p.filter(|p| p.uid() != old_uid && is_ready(p)))
    })
    .await?;
    let mounted = back
        .spec
        .clone()
        .unwrap_or_default()
        .volumes
        .unwrap_or_default()
        .into_iter()
        .any(|v| {
            v.persistent_volume_claim
                .is_some_and(|c| c.claim_name == "www-web-1")
        });
    assert!(mounted, "web-1 lost its claim");

    // whenScaled Delete: claims of scaled-away pods go with their pods.
    server.kubectl_ok(KUBECTL, &["scale", "statefulset/web", "--replicas=1"])?;
    wait_for("claims of web-1 and web-2 deleted", WAIT, || async {
        let claims = claims(&client).await?;
        let pods = pods(&client).await?;
        let ok = pods.len() == 1
            && claims.contains_key("www-web-0")
            && !claims.contains_key("www-web-1")
            && !claims.contains_key("www-web-2");
        Ok(ok.then_some(()))
    })
    .await?;

    // whenDeleted Delete: deleting the set deletes the remaining claim.
    server.kubectl_ok(KUBECTL, &["delete", "statefulset/web"])?;
    wait_for("pods and claims gone", WAIT, || async {
        let ok = pods(&client).await?.is_empty() && claims(&client).await?.is_empty();
        Ok(ok.then_some(()))
    })
    .await?;
    Ok(())
}

/// What a kubelet reports: the pod in `phase`, Ready since now when running.
async fn set_phase(client: &Client, name: &str, phase: &str) -> Result<()> {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let now = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let ready = if phase == "Running" { "True" } else { "False" };
    let status = json!({"status": {
        "phase": phase,
        "conditions": [
            {"type": "Ready", "status": ready, "lastTransitionTime": now},
            {"type": "ContainersReady", "status": ready, "lastTransitionTime": now},
        ],
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

/// Waits for the pod `name`, not terminating and other than `not_uid`.
async fn wait_pod(client: &Client, name: &str, not_uid: Option<String>) -> Result<Pod> {
    wait_for(&format!("pod {name}"), WAIT, || {
        let not_uid = not_uid.clone();
        async move {
            let p = pods(client).await?.remove(name);
            Ok(p.filter(|p| p.uid() != not_uid && p.metadata.deletion_timestamp.is_none()))
        }
    })
    .await
}

/// No nodes here: the test plays kubelet and sets pod phases itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_ordinal_min_ready_seconds_failed_pods_and_on_delete() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    let spec =
        "  ordinals:\n    start: 3\n  minReadySeconds: 3\n  updateStrategy:\n    type: OnDelete\n";
    apply(
        &server,
        KUBECTL,
        &statefulset_yaml(2, "nginx:1", "0s", spec),
    )?;

    // Ordinals start at 3; web-4 waits until web-3 is available (Ready
    // for minReadySeconds), not merely Ready.
    let web3 = wait_pod(&client, "web-3", None).await?;
    set_phase(&client, "web-3", "Running").await?;
    let web4 = wait_pod(&client, "web-4", None).await?;
    let ready_at = pods(&client)
        .await?
        .get("web-3")
        .and_then(ready_since)
        .context("web-3 not Ready")?;
    let waited = created(&web4).as_second() - ready_at.as_second();
    assert!(
        waited >= 3,
        "web-4 created {waited} s after web-3 turned Ready"
    );
    assert!(!pods(&client).await?.contains_key("web-0"));
    set_phase(&client, "web-4", "Running").await?;
    wait_for("2 available replicas", WAIT, || async {
        let s = statefulset(&client).await?.status.unwrap_or_default();
        Ok((s.available_replicas == Some(2) && s.ready_replicas == Some(2)).then_some(()))
    })
    .await?;

    // A Failed pod is deleted and created again under its name.
    set_phase(&client, "web-4", "Failed").await?;
    let again = wait_pod(&client, "web-4", web4.uid()).await?;
    assert_eq!(revision(&again), revision(&web4));
    let deleted = event_messages(&client, "SuccessfulDelete").await?;
    assert!(
        deleted
            .iter()
            .any(|m| m == "delete Pod web-4 in StatefulSet web successful"),
        "{deleted:?}"
    );
    set_phase(&client, "web-4", "Running").await?;

    // OnDelete: a new template waits until the user deletes a pod.
    apply(
        &server,
        KUBECTL,
        &statefulset_yaml(2, "nginx:2", "0s", spec),
    )?;
    let status = wait_for("a new update revision", WAIT, || async {
        let s = statefulset(&client).await?.status.unwrap_or_default();
        let moved = s.update_revision.is_some() && s.update_revision != s.current_revision;
        Ok(moved.then_some(s))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let untouched = pods(&client).await?;
    assert_eq!(untouched["web-3"].uid(), web3.uid(), "web-3 was replaced");
    assert_eq!(untouched["web-4"].uid(), again.uid(), "web-4 was replaced");
    server.kubectl_ok(KUBECTL, &["delete", "pod", "web-3", "--wait=false"])?;
    let updated = wait_pod(&client, "web-3", web3.uid()).await?;
    assert_eq!(image(&updated), "nginx:2");
    assert_eq!(Some(revision(&updated)), status.update_revision);
    assert_eq!(image(&pods(&client).await?["web-4"]), "nginx:1");
    Ok(())
}
