//! The shared informers against a real in-process API server: one cache per
//! kind, indexed by namespace and controller, telling every subscriber about
//! every change (deletions included), and replaying the cache to a late
//! subscriber.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use skiff_apiserver::pki::UserInfo;
use skiff_controllers::informer::Informers;

async fn start(dir: &std::path::Path) -> (skiff_apiserver::Running, Client) {
    let store = skiff_store::SqliteStore::open_default(dir.join("state.db")).expect("store opens");
    let config = skiff_apiserver::Config {
        tls_dir: dir.join("tls"),
        listen: "127.0.0.1:0".parse().expect("address"),
        tls_sans: Vec::new(),
        service_cidr: "10.43.0.0/16".parse().expect("cidr"),
    };
    let running = skiff_apiserver::server::start(config, Arc::new(store))
        .await
        .expect("server starts");
    let loopback = running.loopback(
        UserInfo {
            name: "system:admin".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        },
        "informer-test/v0",
    );
    (running, Client::new(loopback, "default"))
}

fn pod(name: &str, controller_uid: Option<&str>) -> Pod {
    let mut meta = json!({"name": name, "labels": {"app": "x"}});
    if let Some(uid) = controller_uid {
        meta["ownerReferences"] = json!([{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
            "uid": uid, "controller": true,
        }]);
    }
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }))
    .expect("pod")
}

fn names(pods: &[Arc<Pod>]) -> BTreeSet<String> {
    pods.iter().map(|p| p.name_any()).collect()
}

/// The next `n` pod names a subscription yields (fails after 10 s).
async fn next_names(stream: &mut (impl Stream<Item = Arc<Pod>> + Unpin), n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let pod = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream stays open");
        out.push(pod.name_any());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn informer_indexes_by_namespace_and_controller_and_follows_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_running, client) = start(dir.path()).await;
    let ns: Api<Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "other"}})).expect("namespace"),
    )
    .await
    .expect("namespace created");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let other: Api<Pod> = Api::namespaced(client.clone(), "other");
    for p in [
        pod("a1", Some("uid-a")),
        pod("a2", Some("uid-a")),
        pod("o1", None),
    ] {
        pods.create(&PostParams::default(), &p)
            .await
            .expect("pod created");
    }
    other
        .create(&PostParams::default(), &pod("o2", None))
        .await
        .expect("pod created");

    let informers = Informers::new(client.clone());
    let informer = informers.of::<Pod>();
    informer.synced().await;
    assert_eq!(
        names(&informer.controlled_by("uid-a")),
        ["a1", "a2"].map(String::from).into()
    );
    assert_eq!(
        names(&informer.orphans_in("default")),
        ["o1".to_string()].into()
    );
    assert_eq!(
        names(&informer.orphans_in("other")),
        ["o2".to_string()].into()
    );
    assert_eq!(names(&informer.in_namespace("default")).len(), 3);
    assert_eq!(informer.state().len(), 4);
    // No controller reads managedFields: the cache does not keep them.
    let cached = informer.get("default", "a1").expect("a1 cached");
    assert!(cached.metadata.managed_fields.is_none());
    // The same informer is handed out for the same kind.
    assert_eq!(informers.of::<Pod>().state().len(), 4);

    // A late subscriber first gets everything cached.
    let mut events = Box::pin(informer.subscribe());
    let mut replay = BTreeSet::new();
    while replay.len() < 4 {
        replay.extend(next_names(&mut events, 1).await);
    }
    assert_eq!(replay, ["a1", "a2", "o1", "o2"].map(String::from).into());

    // Releasing a pod moves it from its controller to the orphans.
    pods.patch(
        "a2",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"ownerReferences": null}})),
    )
    .await
    .expect("pod released");
    // The replay may repeat an object the first list also told: skip to the
    // release.
    loop {
        let pod = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("the release within 10 s")
            .expect("the stream stays open");
        if pod.name_any() == "a2" && pod.metadata.owner_references.is_none() {
            break;
        }
    }
    assert_eq!(
        names(&informer.controlled_by("uid-a")),
        ["a1".to_string()].into()
    );
    assert_eq!(
        names(&informer.orphans_in("default")),
        ["a2", "o1"].map(String::from).into()
    );

    // A deletion is told, with the object's last state, and leaves every index.
    pods.delete("a1", &DeleteParams::default().grace_period(0))
        .await
        .expect("pod deleted");
    // Events come in order, and every repeat of the first list came before
    // the release above: the next a1 is its deletion, told after the cache
    // dropped it.
    loop {
        let pod = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("the deletion within 10 s")
            .expect("the stream stays open");
        if pod.name_any() == "a1" {
            break;
        }
    }
    assert!(informer.get("default", "a1").is_none());
    assert!(informer.controlled_by("uid-a").is_empty());
    assert_eq!(
        names(&informer.in_namespace("default")),
        ["a2", "o1"].map(String::from).into()
    );
}
