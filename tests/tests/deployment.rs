//! End-to-end tests of the deployment controller against a real `skiff
//! server` with `skiff sim` nodes (the scheduler binds the pods, the sim
//! runs them and reports them ready, or never ready with
//! `sim.skiff.dev/fail-readiness`) and the real kubectl: rolling updates
//! and their invariants (checked on every watch event), Recreate, progress
//! deadlines, `kubectl rollout status|history|undo|pause|resume|restart`,
//! proportional scaling in the middle of a rollout, revisionHistoryLimit and
//! minReadySeconds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::TryStreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use skiff_tests::objects::events_with_reason;
use skiff_tests::pods::{first_image, is_ready, is_terminal, template_image};
use skiff_tests::{KUBECTL_VERSIONS, Server, Sim, wait_for};

const KUBECTL: &str = "1.33";
const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const MAX: &str = "deployment.kubernetes.io/max-replicas";
const FAIL_READINESS: &str = "sim.skiff.dev/fail-readiness";
const READY_AFTER: &str = "sim.skiff.dev/ready-after";

/// A Deployment `web` of `replicas` running `image`, with `spec` fields
/// merged over the defaults and `annotations` on the pod template.
fn manifest(replicas: i32, image: &str, spec: Value, annotations: Value) -> String {
    let mut m = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": annotations},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    });
    if let (Some(s), Some(extra)) = (m["spec"].as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            s.insert(k.clone(), v.clone());
        }
    }
    m.to_string()
}

fn apply(server: &Server, manifest: &str) -> Result<String> {
    let args = ["apply", "-f", "-"];
    skiff_tests::check(server.kubectl_with(KUBECTL, &args, Some(manifest)), &args)
}

/// ReplicaSets controlled by the Deployment `web`, oldest revision first.
async fn replica_sets(client: &Client, d_uid: &str) -> Result<Vec<ReplicaSet>> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let mut rss: Vec<ReplicaSet> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|rs| {
            rs.owner_references()
                .iter()
                .any(|r| r.controller == Some(true) && r.uid == d_uid)
        })
        .collect();
    rss.sort_by_key(revision);
    Ok(rss)
}

fn revision(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn condition(d: &Deployment, type_: &str) -> Option<DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
}

fn reason(c: &Option<DeploymentCondition>) -> String {
    c.as_ref()
        .and_then(|c| c.reason.clone())
        .unwrap_or_default()
}

/// Waits until `kubectl rollout status` reports the Deployment rolled out
/// (it exits once done, failing on a missed progress deadline).
fn rolled_out(server: &Server, version: &str) -> Result<()> {
    let out = server.kubectl_ok(
        version,
        &["rollout", "status", "deployment/web", "--timeout=120s"],
    )?;
    if !out.contains("deployment \"web\" successfully rolled out") {
        bail!("unexpected rollout status output: {out}");
    }
    Ok(())
}

/// Waits until the Deployment's pods are exactly `n` live pods of `image`.
async fn pods_settle(client: &Client, image: &str, n: usize) -> Result<()> {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    wait_for(
        &format!("{n} pods of {image} and no others"),
        Duration::from_secs(60),
        || async {
            let pods = api.list(&ListParams::default().labels("app=web")).await?;
            Ok(
                (pods.items.len() == n && pods.items.iter().all(|p| first_image(p) == image))
                    .then_some(()),
            )
        },
    )
    .await
}

/// A watch of the objects labelled `app=web` that checks `check` against
/// the whole set after every event and keeps the first violation.
struct Watch {
    task: tokio::task::JoinHandle<()>,
    violation: Arc<Mutex<Option<String>>>,
    events: Arc<Mutex<usize>>,
}

impl Watch {
    /// Starts watching; returns once the initial list is in.
    async fn start<K>(
        api: Api<K>,
        check: impl Fn(&BTreeMap<String, K>) -> Option<String> + Send + 'static,
    ) -> Result<Watch>
    where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + k8s_openapi::serde::de::DeserializeOwned
            + Send
            + 'static,
    {
        let violation = Arc::new(Mutex::new(None));
        let events = Arc::new(Mutex::new(0));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = {
            let (violation, events) = (violation.clone(), events.clone());
            tokio::spawn(async move {
                let cfg = watcher::Config::default().labels("app=web");
                let mut stream = Box::pin(watcher(api, cfg));
                let mut objs: BTreeMap<String, K> = BTreeMap::new();
                let mut init: BTreeMap<String, K> = BTreeMap::new();
                let mut ready_tx = Some(ready_tx);
                while let Ok(Some(ev)) = stream.try_next().await {
                    match ev {
                        watcher::Event::Init => init.clear(),
                        watcher::Event::InitApply(o) => {
                            init.insert(o.name_any(), o);
                        }
                        watcher::Event::InitDone => {
                            objs = std::mem::take(&mut init);
                            if let Some(tx) = ready_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                        watcher::Event::Apply(o) => {
                            objs.insert(o.name_any(), o);
                        }
                        watcher::Event::Delete(o) => {
                            objs.remove(&o.name_any());
                        }
                    }
                    if ready_tx.is_some() {
                        continue;
                    }
                    if let Ok(mut n) = events.lock() {
                        *n += 1;
                    }
                    if let Some(v) = check(&objs)
                        && let Ok(mut slot) = violation.lock()
                        && slot.is_none()
                    {
                        *slot = Some(v);
                    }
                }
            })
        };
        tokio::time::timeout(Duration::from_secs(30), ready_rx)
            .await
            .context("the watch did not list within 30 s")?
            .context("the watch ended")?;
        Ok(Watch {
            task,
            violation,
            events,
        })
    }

    /// Stops the watch; fails with the first violation seen, else returns
    /// the number of events checked.
    fn finish(self) -> Result<usize> {
        self.task.abort();
        let events = self.events.lock().map(|n| *n).unwrap_or(0);
        if let Some(v) = self.violation.lock().ok().and_then(|v| v.clone()) {
            bail!("{v}");
        }
        Ok(events)
    }
}

/// maxUnavailable 0, maxSurge 1: at no watch event during the rollout are
/// fewer than the desired 3 pods ready (pods being deleted do not count),
/// and never more than 4 pods exist (surge).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_with_max_unavailable_zero_keeps_desired_ready() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "2"])?;
    let client = server.client().await?;
    let strategy = json!({"strategy": {"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}});
    // New pods take a second to become ready, so the rollout is gradual.
    let slow = json!({READY_AFTER: "1s"});
    apply(
        &server,
        &manifest(3, "busybox:1", strategy.clone(), slow.clone()),
    )?;
    rolled_out(&server, KUBECTL)?;
    pods_settle(&client, "busybox:1", 3).await?;

    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let worst = Arc::new(Mutex::new((usize::MAX, 0i32)));
    let pod_watch = {
        let worst = worst.clone();
        Watch::start(pod_api, move |pods| {
            let live: Vec<&Pod> = pods
                .values()
                .filter(|p| p.metadata.deletion_timestamp.is_none() && !is_terminal(p))
                .collect();
            let ready = live.iter().filter(|p| is_ready(p)).count();
            if let Ok(mut w) = worst.lock() {
                w.0 = w.0.min(ready);
            }
            (ready < 3).then(|| {
                format!(
                    "only {ready} ready pods: {:?}",
                    pods.values()
                        .map(|p| (
                            p.name_any(),
                            is_ready(p),
                            p.metadata.deletion_timestamp.is_some()
                        ))
                        .collect::<Vec<_>>()
                )
            })
        })
        .await?
    };
    // The surge bound holds for the ReplicaSets' sizes (their controllers
    // may briefly overlap a pod being created with one being deleted).
    let rs_watch = {
        let worst = worst.clone();
        Watch::start(rs_api, move |rss| {
            let total: i32 = rss.values().map(spec_replicas).sum();
            if let Ok(mut w) = worst.lock() {
                w.1 = w.1.max(total);
            }
            (total > 4).then(|| format!("{total} replicas exceed maxSurge 1"))
        })
        .await?
    };
    apply(&server, &manifest(3, "busybox:2", strategy, slow))?;
    rolled_out(&server, KUBECTL)?;
    pods_settle(&client, "busybox:2", 3).await?;
    let events = pod_watch.finish()?;
    rs_watch.finish()?;
    let (min_ready, max_total) = worst.lock().map(|w| *w).unwrap_or((0, 0));
    // The rollout was seen (pods came and went) and used its surge.
    assert!(
        events >= 12,
        "only {events} pod events seen during the rollout"
    );
    assert_eq!(min_ready, 3);
    assert_eq!(max_total, 4, "maxSurge 1 should have been used");

    let d: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let web = d.get("web").await?;
    let rss = replica_sets(&client, &web.uid().unwrap_or_default()).await?;
    let sizes: Vec<(String, i32, i64)> = rss
        .iter()
        .map(|rs| (template_image(rs), spec_replicas(rs), revision(rs)))
        .collect();
    assert_eq!(
        sizes,
        vec![("busybox:1".into(), 0, 1), ("busybox:2".into(), 3, 2)]
    );
    for rs in &rss {
        let hash = rs
            .labels()
            .get("pod-template-hash")
            .cloned()
            .unwrap_or_default();
        assert_eq!(rs.name_any(), format!("web-{hash}"));
        assert_eq!(rs.annotations().get(DESIRED).map(String::as_str), Some("3"));
        assert_eq!(rs.annotations().get(MAX).map(String::as_str), Some("4"));
    }
    assert_eq!(
        web.annotations().get(REVISION).map(String::as_str),
        Some("2")
    );
    let (old, new) = (rss[0].name_any(), rss[1].name_any());
    for v in KUBECTL_VERSIONS {
        rolled_out(&server, v)?;
        // kubectl describe finds the new ReplicaSet by template and shows
        // the conditions and upstream's scaling events.
        let out = server.kubectl_ok(v, &["describe", "deployment", "web"])?;
        let lines: Vec<String> = out
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let has = |want: &str| lines.iter().any(|l| l.contains(want));
        for want in [
            format!("NewReplicaSet: {new} (3/3 replicas created)"),
            "Available True MinimumReplicasAvailable".to_string(),
            "Progressing True NewReplicaSetAvailable".to_string(),
            format!("Scaled up replica set {new} from 0 to 1"),
            format!("Scaled down replica set {old} from 3 to 2"),
            "StrategyType: RollingUpdate".to_string(),
            "RollingUpdateStrategy: 0 max unavailable, 1 max surge".to_string(),
        ] {
            assert!(has(&want), "kubectl {v} describe lacks {want:?}:\n{out}");
        }
        // Depending on its version kubectl lists every old ReplicaSet (1.32
        // does) or only those with replicas.
        assert!(
            has("OldReplicaSets: <none>")
                || has(&format!("OldReplicaSets: {old} (0/0 replicas created)")),
            "kubectl {v} describe: {out}"
        );
    }
    Ok(())
}

/// New pods that never become ready: past progressDeadlineSeconds the
/// Deployment reports Progressing=False/ProgressDeadlineExceeded, `kubectl
/// rollout status` fails with upstream's message, and `kubectl rollout
/// undo` brings the old template back as a new revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_rollout_exceeds_its_deadline_and_undo_restores() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "2"])?;
    let client = server.client().await?;
    let spec = json!({"progressDeadlineSeconds": 5});
    apply(&server, &manifest(3, "busybox:1", spec.clone(), json!({})))?;
    rolled_out(&server, KUBECTL)?;
    let d: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let uid = d.get("web").await?.uid().unwrap_or_default();
    let first = replica_sets(&client, &uid).await?;
    assert_eq!(first.len(), 1);

    apply(
        &server,
        &manifest(
            3,
            "busybox:2",
            spec.clone(),
            json!({FAIL_READINESS: "true"}),
        ),
    )?;
    let web = wait_for(
        "ProgressDeadlineExceeded",
        Duration::from_secs(60),
        || async {
            let web = d.get("web").await?;
            let c = condition(&web, "Progressing");
            Ok((reason(&c) == "ProgressDeadlineExceeded").then_some(web))
        },
    )
    .await?;
    let rss = replica_sets(&client, &uid).await?;
    let [old, new] = rss.as_slice() else {
        bail!("want two replica sets, got {}", rss.len());
    };
    let c = condition(&web, "Progressing").context("Progressing")?;
    assert_eq!(c.status, "False");
    assert_eq!(
        c.message.as_deref(),
        Some(
            format!(
                "ReplicaSet \"{}\" has timed out progressing.",
                new.name_any()
            )
            .as_str()
        )
    );
    // The default 25% gives maxUnavailable 0 of 3: the old pods all stay,
    // one surge pod of the new template hangs unready.
    assert_eq!((spec_replicas(old), spec_replicas(new)), (3, 1));
    let available = condition(&web, "Available");
    assert_eq!(reason(&available), "MinimumReplicasAvailable");
    for v in KUBECTL_VERSIONS {
        let args = ["rollout", "status", "deployment/web", "--timeout=60s"];
        let out = server.kubectl(v, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "kubectl {v} rollout status succeeded"
        );
        assert!(
            stderr.contains("error: deployment \"web\" exceeded its progress deadline"),
            "kubectl {v}: {stderr}"
        );
    }

    let out = server.kubectl_ok(KUBECTL, &["rollout", "undo", "deployment/web"])?;
    assert!(out.contains("deployment.apps/web rolled back"), "{out}");
    rolled_out(&server, KUBECTL)?;
    pods_settle(&client, "busybox:1", 3).await?;
    let web = d.get("web").await?;
    let template = web
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let annotations = template
        .metadata
        .and_then(|m| m.annotations)
        .unwrap_or_default();
    assert!(!annotations.contains_key(FAIL_READINESS), "{annotations:?}");
    let rss = replica_sets(&client, &uid).await?;
    let back = rss
        .iter()
        .find(|rs| rs.uid() == first[0].uid())
        .context("the first replica set is gone")?;
    assert_eq!(revision(back), 3);
    assert_eq!(
        back.annotations().get(REVISION_HISTORY).map(String::as_str),
        Some("1")
    );
    assert_eq!(spec_replicas(back), 3);
    assert_eq!(
        web.annotations().get(REVISION).map(String::as_str),
        Some("3")
    );
    let c = condition(&web, "Progressing");
    assert_eq!(reason(&c), "NewReplicaSetAvailable");
    let failed = rss
        .iter()
        .find(|rs| template_image(rs) == "busybox:2")
        .context("bad rs")?;
    assert_eq!(spec_replicas(failed), 0);
    Ok(())
}

/// The rows of `kubectl rollout history`: (revision, change cause).
fn history_rows(out: &str) -> Vec<(String, String)> {
    out.lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let rev = parts.next()?.to_string();
            Some((rev, parts.collect::<Vec<_>>().join(" ")))
        })
        .collect()
}

/// `kubectl rollout history` (and `--revision`), `undo --to-revision`,
/// `pause` (template changes wait, Progressing says DeploymentPaused,
/// scaling still works), `resume` and `restart`, with kubectl 1.32 and 1.33.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_history_undo_pause_resume_restart() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "2"])?;
    let client = server.client().await?;
    let d: Api<Deployment> = Api::namespaced(client.clone(), "default");
    apply(&server, &manifest(2, "busybox:1", json!({}), json!({})))?;
    rolled_out(&server, KUBECTL)?;
    let uid = d.get("web").await?.uid().unwrap_or_default();
    server.kubectl_ok(KUBECTL, &["set", "image", "deployment/web", "c=busybox:2"])?;
    // A change cause set after the rollout started reaches its ReplicaSet.
    server.kubectl_ok(
        KUBECTL,
        &[
            "annotate",
            "deployment/web",
            "kubernetes.io/change-cause=image busybox:2",
        ],
    )?;
    rolled_out(&server, KUBECTL)?;
    wait_for(
        "change cause on revision 2",
        Duration::from_secs(30),
        || async {
            let rss = replica_sets(&client, &uid).await?;
            Ok(rss
                .iter()
                .any(|rs| {
                    revision(rs) == 2
                        && rs
                            .annotations()
                            .get("kubernetes.io/change-cause")
                            .map(String::as_str)
                            == Some("image busybox:2")
                })
                .then_some(()))
        },
    )
    .await?;
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["rollout", "history", "deployment/web"])?;
        assert!(out.starts_with("deployment.apps/web"), "{v}: {out}");
        assert_eq!(
            history_rows(&out),
            vec![
                ("1".into(), "<none>".into()),
                ("2".into(), "image busybox:2".into())
            ],
            "{v}: {out}"
        );
        let out =
            server.kubectl_ok(v, &["rollout", "history", "deployment/web", "--revision=1"])?;
        assert!(
            out.contains("deployment.apps/web with revision #1"),
            "{v}: {out}"
        );
        assert!(
            out.contains("busybox:1") && !out.contains("busybox:2"),
            "{v}: {out}"
        );
    }

    // Undo to revision 1: its ReplicaSet becomes revision 3.
    let out = server.kubectl_ok(
        KUBECTL,
        &["rollout", "undo", "deployment/web", "--to-revision=1"],
    )?;
    assert!(out.contains("deployment.apps/web rolled back"), "{out}");
    rolled_out(&server, KUBECTL)?;
    pods_settle(&client, "busybox:1", 2).await?;
    let out = server.kubectl_ok(KUBECTL, &["rollout", "history", "deployment/web"])?;
    let revs: Vec<String> = history_rows(&out).into_iter().map(|(r, _)| r).collect();
    assert_eq!(revs, vec!["2", "3"], "{out}");
    let rss = replica_sets(&client, &uid).await?;
    assert_eq!(rss.len(), 2);
    assert_eq!(template_image(&rss[1]), "busybox:1");
    assert_eq!(
        rss[1]
            .annotations()
            .get(REVISION_HISTORY)
            .map(String::as_str),
        Some("1")
    );

    // Pause: a template change is recorded but rolls nothing.
    let out = server.kubectl_ok(KUBECTL, &["rollout", "pause", "deployment/web"])?;
    assert!(out.contains("deployment.apps/web paused"), "{out}");
    wait_for("DeploymentPaused", Duration::from_secs(30), || async {
        let web = d.get("web").await?;
        let c = condition(&web, "Progressing");
        Ok(
            (reason(&c) == "DeploymentPaused" && c.is_some_and(|c| c.status == "Unknown"))
                .then_some(()),
        )
    })
    .await?;
    server.kubectl_ok(KUBECTL, &["set", "image", "deployment/web", "c=busybox:3"])?;
    let web = wait_for(
        "the paused change observed",
        Duration::from_secs(30),
        || async {
            let web = d.get("web").await?;
            let observed = web.status.as_ref().and_then(|s| s.observed_generation);
            Ok((observed == web.metadata.generation).then_some(web))
        },
    )
    .await?;
    let rss = replica_sets(&client, &uid).await?;
    assert_eq!(rss.len(), 2, "a paused deployment made a replica set");
    assert!(rss.iter().all(|rs| template_image(rs) != "busybox:3"));
    assert_eq!(reason(&condition(&web, "Progressing")), "DeploymentPaused");
    let out = server.kubectl(KUBECTL, &["rollout", "undo", "deployment/web"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("you cannot rollback a paused deployment"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Scaling still works while paused: the one active ReplicaSet (the
    // current template's is not made) takes the new size.
    server.kubectl_ok(KUBECTL, &["scale", "deployment/web", "--replicas=3"])?;
    let rss = wait_for("the paused scale", Duration::from_secs(30), || async {
        let rss = replica_sets(&client, &uid).await?;
        let scaled = rss.iter().any(|rs| {
            template_image(rs) == "busybox:1"
                && spec_replicas(rs) == 3
                && rs.annotations().get(DESIRED).map(String::as_str) == Some("3")
        });
        Ok(scaled.then_some(rss))
    })
    .await?;
    assert_eq!(rss.len(), 2, "a paused deployment made a replica set");
    pods_settle(&client, "busybox:1", 3).await?;

    // Resume: the change rolls out as revision 4.
    let out = server.kubectl_ok(KUBECTL, &["rollout", "resume", "deployment/web"])?;
    assert!(out.contains("deployment.apps/web resumed"), "{out}");
    rolled_out(&server, KUBECTL)?;
    pods_settle(&client, "busybox:3", 3).await?;
    let web = d.get("web").await?;
    assert_eq!(
        web.annotations().get(REVISION).map(String::as_str),
        Some("4")
    );

    // Restart: a new template annotation, a new ReplicaSet, revision 5.
    let out = server.kubectl_ok(KUBECTL, &["rollout", "restart", "deployment/web"])?;
    assert!(out.contains("deployment.apps/web restarted"), "{out}");
    rolled_out(&server, KUBECTL)?;
    let rss = wait_for("revision 5", Duration::from_secs(60), || async {
        let rss = replica_sets(&client, &uid).await?;
        Ok((rss.last().map(revision) == Some(5)).then_some(rss))
    })
    .await?;
    let newest = rss.last().context("no replica set")?;
    let restarted = newest
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .is_some_and(|a| a.contains_key("kubectl.kubernetes.io/restartedAt"));
    assert!(restarted, "the new template lacks restartedAt");
    assert_eq!(template_image(newest), "busybox:3");
    assert_eq!(spec_replicas(newest), 3);
    assert!(rss[..rss.len() - 1].iter().all(|rs| spec_replicas(rs) == 0));
    let web = d.get("web").await?;
    let c = condition(&web, "Progressing");
    assert_eq!(reason(&c), "NewReplicaSetAvailable");
    Ok(())
}

/// Upstream's documented example: 10 replicas, maxSurge 3, maxUnavailable
/// 2, a rollout stuck on pods that never become ready (old 8, new 5);
/// scaling to 15 adds 3 to the old and 2 to the new ReplicaSet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_during_a_rollout_is_proportional() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "3"])?;
    let client = server.client().await?;
    let d: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let spec = json!({"strategy": {"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}});
    apply(&server, &manifest(10, "busybox:1", spec.clone(), json!({})))?;
    rolled_out(&server, KUBECTL)?;
    let uid = d.get("web").await?.uid().unwrap_or_default();
    apply(
        &server,
        &manifest(10, "busybox:2", spec, json!({FAIL_READINESS: "true"})),
    )?;
    let sizes = |rss: &[ReplicaSet]| -> Vec<(String, i32)> {
        rss.iter()
            .map(|rs| (template_image(rs), spec_replicas(rs)))
            .collect()
    };
    // The rollout stalls with 13 replicas: 8 old (available), 5 new.
    wait_for("the stalled rollout", Duration::from_secs(60), || async {
        let rss = replica_sets(&client, &uid).await?;
        let created = rss
            .iter()
            .all(|rs| rs.status.as_ref().map(|s| s.replicas) == Some(spec_replicas(rs)));
        let want = vec![("busybox:1".to_string(), 8), ("busybox:2".to_string(), 5)];
        Ok((sizes(&rss) == want && created).then_some(()))
    })
    .await?;
    let out = server.kubectl_ok(KUBECTL, &["scale", "deployment/web", "--replicas=15"])?;
    assert!(out.contains("deployment.apps/web scaled"), "{out}");
    let rss = wait_for("proportional sizes", Duration::from_secs(60), || async {
        let web = d.get("web").await?;
        let observed = web.status.as_ref().and_then(|s| s.observed_generation);
        let rss = replica_sets(&client, &uid).await?;
        let stamped = rss
            .iter()
            .all(|rs| rs.annotations().get(DESIRED).map(String::as_str) == Some("15"));
        Ok((observed == web.metadata.generation && stamped).then_some(rss))
    })
    .await?;
    assert_eq!(
        sizes(&rss),
        vec![("busybox:1".to_string(), 11), ("busybox:2".to_string(), 7)]
    );
    for rs in &rss {
        assert_eq!(rs.annotations().get(MAX).map(String::as_str), Some("18"));
    }
    // The stalled rollout stays within maxSurge and maxUnavailable: the
    // pods of both settle at 11 + 7 with the old ones available.
    wait_for("18 pods", Duration::from_secs(60), || async {
        let web = d.get("web").await?;
        let st = web.status.unwrap_or_default();
        Ok((st.replicas == Some(18)
            && st.available_replicas == Some(11)
            && st.updated_replicas == Some(7))
        .then_some(()))
    })
    .await?;
    let rss = replica_sets(&client, &uid).await?;
    assert_eq!(
        sizes(&rss),
        vec![("busybox:1".to_string(), 11), ("busybox:2".to_string(), 7)]
    );
    Ok(())
}

/// Recreate: every old pod is gone before the first new pod exists,
/// checked on every pod event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_never_runs_old_and_new_pods_together() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "2"])?;
    let client = server.client().await?;
    let spec = json!({"strategy": {"type": "Recreate"}});
    apply(&server, &manifest(3, "busybox:1", spec.clone(), json!({})))?;
    rolled_out(&server, KUBECTL)?;
    pods_settle(&client, "busybox:1", 3).await?;
    let saw_new = Arc::new(Mutex::new(false));
    let watch = {
        let saw_new = saw_new.clone();
        let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
        Watch::start(pod_api, move |pods| {
            let old_running: Vec<String> = pods
                .values()
                .filter(|p| first_image(p) == "busybox:1" && !is_terminal(p))
                .map(|p| p.name_any())
                .collect();
            let new: Vec<String> = pods
                .values()
                .filter(|p| first_image(p) == "busybox:2")
                .map(|p| p.name_any())
                .collect();
            if !new.is_empty()
                && let Ok(mut s) = saw_new.lock()
            {
                *s = true;
            }
            (!new.is_empty() && !old_running.is_empty())
                .then(|| format!("new pods {new:?} while old pods {old_running:?} run"))
        })
        .await?
    };
    apply(&server, &manifest(3, "busybox:2", spec, json!({})))?;
    for v in KUBECTL_VERSIONS {
        rolled_out(&server, v)?;
    }
    pods_settle(&client, "busybox:2", 3).await?;
    watch.finish()?;
    assert!(
        saw_new.lock().map(|s| *s).unwrap_or(false),
        "no new pod seen"
    );
    let d: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let uid = d.get("web").await?.uid().unwrap_or_default();
    let rss = replica_sets(&client, &uid).await?;
    let sizes: Vec<(String, i32)> = rss
        .iter()
        .map(|rs| (template_image(rs), spec_replicas(rs)))
        .collect();
    assert_eq!(
        sizes,
        vec![("busybox:1".to_string(), 0), ("busybox:2".to_string(), 3)]
    );
    // Recreate has no surge.
    assert_eq!(rss[1].annotations().get(MAX).map(String::as_str), Some("3"));
    Ok(())
}

/// revisionHistoryLimit 1: after three rollouts only the current and the
/// latest old ReplicaSet remain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revision_history_limit_keeps_one_old_replica_set() -> Result<()> {
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "1"])?;
    let client = server.client().await?;
    let d: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let spec = json!({"revisionHistoryLimit": 1});
    for image in ["busybox:1", "busybox:2", "busybox:3", "busybox:4"] {
        apply(&server, &manifest(1, image, spec.clone(), json!({})))?;
        rolled_out(&server, KUBECTL)?;
    }
    let uid = d.get("web").await?.uid().unwrap_or_default();
    let rss = wait_for("one old replica set", Duration::from_secs(60), || async {
        let rss = replica_sets(&client, &uid).await?;
        Ok((rss.len() == 2).then_some(rss))
    })
    .await?;
    let kept: Vec<(String, i64, i32)> = rss
        .iter()
        .map(|rs| (template_image(rs), revision(rs), spec_replicas(rs)))
        .collect();
    assert_eq!(
        kept,
        vec![("busybox:3".into(), 3, 0), ("busybox:4".into(), 4, 1)]
    );
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["rollout", "history", "deployment/web"])?;
        let revs: Vec<String> = history_rows(&out).into_iter().map(|(r, _)| r).collect();
        assert_eq!(revs, vec!["3", "4"], "{v}: {out}");
    }
    Ok(())
}

/// (wall clock second, ready, available, reason of Available) of a status
/// seen by a watch.
type StatusSeen = (i64, i32, i32, String);

/// minReadySeconds: a pod counts as available only once ready that long.
/// Every status the watch sees is checked against the pods' ready times,
/// and Available is False until enough pods are available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_ready_seconds_delays_available_replicas() -> Result<()> {
    const MIN_READY: i64 = 8;
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "2"])?;
    let client = server.client().await?;
    let d: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let seen: Arc<Mutex<Vec<StatusSeen>>> = Arc::default();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let task = {
        let (seen, d) = (seen.clone(), d.clone());
        tokio::spawn(async move {
            let cfg = watcher::Config::default();
            let mut stream = Box::pin(watcher(d, cfg));
            let mut ready_tx = Some(ready_tx);
            while let Ok(Some(ev)) = stream.try_next().await {
                if let watcher::Event::InitDone = ev
                    && let Some(tx) = ready_tx.take()
                {
                    let _ = tx.send(());
                }
                let (watcher::Event::Apply(web) | watcher::Event::InitApply(web)) = ev else {
                    continue;
                };
                if web.name_any() != "web" {
                    continue;
                }
                let st = web.status.clone().unwrap_or_default();
                let now = k8s_openapi::jiff::Timestamp::now().as_second();
                let available = reason(&condition(&web, "Available"));
                if let Ok(mut s) = seen.lock() {
                    s.push((
                        now,
                        st.ready_replicas.unwrap_or(0),
                        st.available_replicas.unwrap_or(0),
                        available,
                    ));
                }
            }
        })
    };
    tokio::time::timeout(Duration::from_secs(30), ready_rx).await??;
    let started = Instant::now();
    apply(
        &server,
        &manifest(
            2,
            "busybox:1",
            json!({"minReadySeconds": MIN_READY}),
            json!({}),
        ),
    )?;
    wait_for("2 available", Duration::from_secs(60), || async {
        let st = d.get("web").await?.status.unwrap_or_default();
        Ok((st.available_replicas == Some(2)).then_some(()))
    })
    .await?;
    assert!(
        started.elapsed() >= Duration::from_secs(MIN_READY as u64 - 1),
        "available after {:?}",
        started.elapsed()
    );
    rolled_out(&server, KUBECTL)?;
    task.abort();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let ready_since: Vec<i64> = pods
        .list(&ListParams::default().labels("app=web"))
        .await?
        .items
        .iter()
        .filter_map(|p| {
            p.status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_ == "Ready" && c.status == "True")?
                .last_transition_time
                .as_ref()
                .map(|t| t.0.as_second())
        })
        .collect();
    assert_eq!(ready_since.len(), 2);
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let mut delayed = false;
    for (at, ready, available, cond) in &seen {
        // Second resolution on both clocks: one second of slack.
        let may = ready_since
            .iter()
            .filter(|t| **t + MIN_READY <= at + 1)
            .count() as i32;
        assert!(
            *available <= may,
            "{available} available at {at} with ready times {ready_since:?}: {seen:?}"
        );
        if *ready == 2 && *available < 2 {
            delayed = true;
            // maxUnavailable 25% of 2 is 0: not minimally available yet.
            assert_eq!(cond, "MinimumReplicasUnavailable", "{seen:?}");
        }
    }
    assert!(
        delayed,
        "never saw ready pods that were not yet available: {seen:?}"
    );
    let web = d.get("web").await?;
    let c = condition(&web, "Available").context("Available")?;
    assert_eq!(c.status, "True");
    assert_eq!(
        c.message.as_deref(),
        Some("Deployment has minimum availability.")
    );
    for v in KUBECTL_VERSIONS {
        let out = server.kubectl_ok(v, &["get", "deployment", "web", "--no-headers"])?;
        let cols: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(
            cols.get(..4),
            Some(&["web", "2/2", "2", "2"][..]),
            "{v}: {out}"
        );
    }
    // minReadySeconds is not part of the template: a change reaches the
    // current ReplicaSet without a new rollout.
    server.kubectl_ok(
        KUBECTL,
        &[
            "patch",
            "deployment/web",
            "-p",
            r#"{"spec":{"minReadySeconds":3}}"#,
        ],
    )?;
    let uid = web.uid().unwrap_or_default();
    let rss = wait_for(
        "minReadySeconds on the replica set",
        Duration::from_secs(30),
        || async {
            let rss = replica_sets(&client, &uid).await?;
            let updated = rss
                .iter()
                .all(|rs| rs.spec.as_ref().and_then(|s| s.min_ready_seconds) == Some(3));
            Ok(updated.then_some(rss))
        },
    )
    .await?;
    assert_eq!(
        rss.len(),
        1,
        "a minReadySeconds change made a new replica set"
    );
    assert_eq!(revision(&rss[0]), 1);
    Ok(())
}

/// Events of reason `reason` about the Deployment `web`: their messages.
async fn events(client: &Client, reason: &str) -> Result<Vec<String>> {
    Ok(events_with_reason(client, "default", reason)
        .await?
        .into_iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some("Deployment")
                && e.involved_object.name.as_deref() == Some("web")
        })
        .filter_map(|e| e.message)
        .collect())
}

/// The legacy `deprecated.deployment.rollback.to` annotation (what the
/// extensions/v1beta1 rollback subresource left behind): the controller
/// copies the revision's template back, clears the request and reports
/// it; an unknown revision is reported and only cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_rollback_annotation_rolls_back_and_is_cleared() -> Result<()> {
    const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
    let server = Server::start()?;
    let _sim = Sim::start(&server, &["--nodes", "1"])?;
    let client = server.client().await?;
    let d: Api<Deployment> = Api::namespaced(client.clone(), "default");
    apply(&server, &manifest(2, "busybox:1", json!({}), json!({})))?;
    rolled_out(&server, KUBECTL)?;
    server.kubectl_ok(KUBECTL, &["set", "image", "deployment/web", "c=busybox:2"])?;
    rolled_out(&server, KUBECTL)?;

    let image = |web: &Deployment| {
        web.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone())
            .unwrap_or_default()
    };
    let request = format!("{ROLLBACK_TO}=1");
    server.kubectl_ok(KUBECTL, &["annotate", "deployment/web", &request])?;
    let web = wait_for("the rollback", Duration::from_secs(30), || async {
        let web = d.get("web").await?;
        Ok((!web.annotations().contains_key(ROLLBACK_TO)).then_some(web))
    })
    .await?;
    assert_eq!(image(&web), "busybox:1");
    let labels = web
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    assert!(!labels.contains_key("pod-template-hash"), "{labels:?}");
    rolled_out(&server, KUBECTL)?;
    pods_settle(&client, "busybox:1", 2).await?;
    let uid = web.uid().unwrap_or_default();
    let rss = replica_sets(&client, &uid).await?;
    let revs: Vec<(String, i64)> = rss
        .iter()
        .map(|rs| (template_image(rs), revision(rs)))
        .collect();
    assert_eq!(revs, vec![("busybox:2".into(), 2), ("busybox:1".into(), 3)]);
    let done = wait_for(
        "the DeploymentRollback event",
        Duration::from_secs(30),
        || async {
            let ev = events(&client, "DeploymentRollback").await?;
            Ok((!ev.is_empty()).then_some(ev))
        },
    )
    .await?;
    assert_eq!(
        done,
        vec!["Rolled back deployment \"web\" to revision 1".to_string()]
    );

    // An unknown revision: reported, cleared, nothing rolls.
    let request = format!("{ROLLBACK_TO}=9");
    server.kubectl_ok(KUBECTL, &["annotate", "deployment/web", &request])?;
    let web = wait_for("the request cleared", Duration::from_secs(30), || async {
        let web = d.get("web").await?;
        Ok((!web.annotations().contains_key(ROLLBACK_TO)).then_some(web))
    })
    .await?;
    assert_eq!(image(&web), "busybox:1");
    let warned = wait_for("the not-found event", Duration::from_secs(30), || async {
        let ev = events(&client, "DeploymentRollbackRevisionNotFound").await?;
        Ok((!ev.is_empty()).then_some(ev))
    })
    .await?;
    assert_eq!(
        warned,
        vec!["Unable to find the revision to rollback to.".to_string()]
    );
    assert_eq!(replica_sets(&client, &uid).await?.len(), 2);
    Ok(())
}

/// kube-apiserver's Deployment strategy rules, as kubectl shows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_strategies_are_refused_with_upstreams_messages() -> Result<()> {
    let server = Server::start()?;
    let rolling = |surge: Value, unavailable: Value| {
        json!({"strategy": {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}})
    };
    let cases = [
        (
            rolling(json!(0), json!(0)),
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0",
        ),
        (
            rolling(json!(1), json!("101%")),
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"101%\": must not be greater than 100%",
        ),
        (
            json!({"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}}),
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
        ),
        (
            json!({"minReadySeconds": 10, "progressDeadlineSeconds": 10}),
            "spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds",
        ),
    ];
    for v in KUBECTL_VERSIONS {
        for (spec, want) in &cases {
            let args = ["apply", "-f", "-"];
            let body = manifest(1, "busybox:1", spec.clone(), json!({}));
            let out = server.kubectl_with(v, &args, Some(&body));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "kubectl {v} accepted {spec}");
            assert!(
                stderr.contains("The Deployment \"web\" is invalid") && stderr.contains(want),
                "kubectl {v}, {spec}: {stderr}"
            );
        }
    }
    Ok(())
}
