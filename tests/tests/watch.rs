//! kube-rs watchers against a real `skiff server`: every event in order, and a
//! resumed watch after a server restart without a relist.

use std::time::Duration;

use anyhow::Result;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use skiff_tests::Server;

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "data": {"v": value},
    }))
    .expect("valid ConfigMap")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_sees_every_event_in_order() -> Result<()> {
    let server = Server::start()?;
    let client = server.client().await?;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch_api = api.clone();
    let task = tokio::spawn(async move {
        let mut stream = watcher(watch_api, watcher::Config::default()).boxed();
        while let Ok(Some(ev)) = stream.try_next().await {
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    // Wait for the initial list to finish.
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await? {
            Some(watcher::Event::InitDone) => break,
            Some(_) => {}
            None => anyhow::bail!("watch ended"),
        }
    }
    for i in 0..20 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), "0"))
            .await?;
    }
    for i in 0..20 {
        api.replace(&format!("c{i}"), &PostParams::default(), &{
            let mut c = api.get(&format!("c{i}")).await?;
            c.data = Some([("v".to_string(), "1".to_string())].into());
            c
        })
        .await?;
    }
    for i in 0..20 {
        api.delete(&format!("c{i}"), &DeleteParams::default())
            .await?;
    }
    let mut seen = Vec::new();
    let mut last_rv = 0u64;
    while seen.len() < 60 {
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await?;
        let (kind, obj) = match ev {
            Some(watcher::Event::Apply(o)) => ("apply", o),
            Some(watcher::Event::Delete(o)) => ("delete", o),
            Some(other) => anyhow::bail!("unexpected event {other:?}"),
            None => anyhow::bail!("watch ended"),
        };
        let rv: u64 = obj
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default()
            .parse()?;
        assert!(rv > last_rv, "revisions increase: {rv} after {last_rv}");
        last_rv = rv;
        let v = obj
            .data
            .as_ref()
            .and_then(|d| d.get("v"))
            .cloned()
            .unwrap_or_default();
        seen.push((kind, obj.metadata.name.clone().unwrap_or_default(), v));
    }
    let expected: Vec<(&str, String, String)> = (0..20)
        .map(|i| ("apply", format!("c{i}"), "0".to_string()))
        .chain((0..20).map(|i| ("apply", format!("c{i}"), "1".to_string())))
        .chain((0..20).map(|i| ("delete", format!("c{i}"), "1".to_string())))
        .collect();
    assert_eq!(seen, expected);
    task.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_after_restart_without_relist() -> Result<()> {
    let mut server = Server::start()?;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");
    api.create(&PostParams::default(), &cm("before", "0"))
        .await?;
    let list = api.list(&Default::default()).await?;
    let rv = list.metadata.resource_version.clone().unwrap_or_default();

    // Changes made while no one watches, then a restart.
    api.create(&PostParams::default(), &cm("during", "0"))
        .await?;
    server.restart()?;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");
    api.create(&PostParams::default(), &cm("after", "0"))
        .await?;

    // A watch from the old resourceVersion gets exactly what happened since.
    let mut stream = api.watch(&Default::default(), &rv).await?.boxed();
    let mut names = Vec::new();
    while names.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await?? {
            Some(kube::api::WatchEvent::Added(o)) => {
                names.push(o.metadata.name.unwrap_or_default())
            }
            Some(kube::api::WatchEvent::Bookmark(_)) => {}
            other => anyhow::bail!("unexpected {other:?}"),
        }
    }
    assert_eq!(names, ["during", "after"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_leaving_a_selection_is_deleted_from_the_watch() -> Result<()> {
    use kube::api::{Patch, PatchParams, WatchEvent, WatchParams};
    let server = Server::start()?;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");
    let mut c = cm("sel", "0");
    c.metadata.labels = Some([("tier".to_string(), "a".to_string())].into());
    let created = api.create(&PostParams::default(), &c).await?;
    let rv = created
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    let mut stream = api
        .watch(&WatchParams::default().labels("tier=a"), &rv)
        .await?
        .boxed();
    let patched = api
        .patch(
            "sel",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {"tier": "b"}}})),
        )
        .await?;
    match tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await?? {
        Some(WatchEvent::Deleted(o)) => {
            assert_eq!(
                o.metadata.resource_version, patched.metadata.resource_version,
                "the event's revision"
            );
            assert_eq!(
                o.metadata
                    .labels
                    .and_then(|l| l.get("tier").cloned())
                    .as_deref(),
                Some("a"),
                "the last state in the selection"
            );
        }
        other => anyhow::bail!("expected DELETED, got {other:?}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_list_sends_initial_events_then_a_bookmark() -> Result<()> {
    use kube::api::{WatchEvent, WatchParams};
    let server = Server::start()?;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");
    for i in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("s{i}"), "0"))
            .await?;
    }
    let wp = WatchParams::streaming_lists();
    let mut stream = api.watch(&wp, "").await?.boxed();
    let mut added = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await?? {
            Some(WatchEvent::Added(o)) => added.push(o.metadata.name.unwrap_or_default()),
            Some(WatchEvent::Bookmark(b)) => {
                assert_eq!(
                    b.metadata
                        .annotations
                        .get("k8s.io/initial-events-end")
                        .map(String::as_str),
                    Some("true")
                );
                break;
            }
            other => anyhow::bail!("unexpected {other:?}"),
        }
    }
    assert_eq!(added, ["s0", "s1", "s2"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_resumes_after_restart_without_relisting() -> Result<()> {
    use kube::runtime::WatchStreamExt;
    let mut server = Server::start()?;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");
    api.create(&PostParams::default(), &cm("r0", "0")).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn({
        let api = api.clone();
        async move {
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(ev) = stream.next().await {
                if let Ok(ev) = ev
                    && tx.send(ev).is_err()
                {
                    break;
                }
            }
        }
    });
    let mut inits = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await? {
            Some(watcher::Event::Init) => inits += 1,
            Some(watcher::Event::InitDone) => break,
            Some(_) => {}
            None => anyhow::bail!("watch ended"),
        }
    }
    server.restart()?;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");
    for i in 1..=3 {
        api.create(&PostParams::default(), &cm(&format!("r{i}"), "0"))
            .await?;
    }
    let mut names = Vec::new();
    while names.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await? {
            Some(watcher::Event::Apply(o)) => names.push(o.metadata.name.unwrap_or_default()),
            Some(watcher::Event::Init) => inits += 1,
            Some(_) => {}
            None => anyhow::bail!("watch ended"),
        }
    }
    assert_eq!(names, ["r1", "r2", "r3"]);
    assert_eq!(
        inits, 1,
        "the watch resumed from its resourceVersion; no second list"
    );
    task.abort();
    Ok(())
}

/// The in-process controllers and scheduler ask the server to leave
/// `managedFields` out of their lists and watches; clients over the network
/// (kube-rs, kubectl) still get them in lists and watches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_lists_and_watches_keep_managed_fields() -> Result<()> {
    use kube::api::{ListParams, Patch, PatchParams, WatchEvent, WatchParams};
    let server = Server::start()?;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");
    let created = api.create(&PostParams::default(), &cm("mf", "0")).await?;
    let rv = created
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();

    let listed = api.list(&ListParams::default()).await?;
    let item = listed
        .items
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("mf"))
        .ok_or_else(|| anyhow::anyhow!("mf is listed"))?;
    assert!(
        item.metadata
            .managed_fields
            .as_ref()
            .is_some_and(|m| !m.is_empty()),
        "a network list keeps managedFields: {item:?}"
    );

    let mut stream = api
        .watch(&WatchParams::default().fields("metadata.name=mf"), &rv)
        .await?
        .boxed();
    api.patch(
        "mf",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"v": "1"}})),
    )
    .await?;
    match tokio::time::timeout(Duration::from_secs(30), stream.try_next()).await?? {
        Some(WatchEvent::Modified(o)) => assert!(
            o.metadata
                .managed_fields
                .as_ref()
                .is_some_and(|m| !m.is_empty()),
            "a network watch keeps managedFields: {o:?}"
        ),
        other => anyhow::bail!("expected MODIFIED, got {other:?}"),
    }

    for version in skiff_tests::KUBECTL_VERSIONS {
        let out = server.kubectl_ok(
            version,
            &["get", "configmaps", "-o", "json", "--show-managed-fields"],
        )?;
        let list: serde_json::Value = serde_json::from_str(&out)?;
        let managers: Vec<&str> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["metadata"]["name"] == "mf")
            .flat_map(|i| {
                i["metadata"]["managedFields"]
                    .as_array()
                    .into_iter()
                    .flatten()
            })
            .filter_map(|e| e["manager"].as_str())
            .collect();
        assert!(
            !managers.is_empty(),
            "kubectl {version} lists managedFields: {out}"
        );
    }
    Ok(())
}
