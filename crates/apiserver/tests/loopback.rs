//! The API server through its in-process loopback transport: the same REST
//! semantics as over HTTPS, and watches that never lose or repeat an event
//! when their reader stalls.

use std::collections::BTreeSet;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use skiff_apiserver::server::Loopback;
use tower_service::Service;

mod common;

use common::{call, json_of, start, watch_events};

fn loopback(running: &skiff_apiserver::Running) -> Loopback {
    common::loopback(running, "loopback-test/v0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_serves_rest_with_the_callers_user_agent_as_manager() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(dir.path()).await;
    let mut lb = loopback(&running);
    let cms = "/api/v1/namespaces/default/configmaps";
    let resp = call(
        &mut lb,
        "POST",
        cms,
        Some(json!({"metadata": {"name": "a"}, "data": {"k": "v"}})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created = json_of(resp).await;
    assert_eq!(
        created["metadata"]["managedFields"][0]["manager"],
        "loopback-test"
    );
    let resp = call(&mut lb, "GET", &format!("{cms}/missing"), None).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_of(resp).await["reason"], "NotFound");
    running.shutdown();
}

/// The reader stops while far more events go by than the per-watch queue and
/// the live channel hold: the watch catches up from the cache's window and
/// delivers each event once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_watch_catches_up_without_gaps_or_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(dir.path()).await;
    let mut lb = loopback(&running);
    let cms = "/api/v1/namespaces/default/configmaps";
    let list = json_of(call(&mut lb, "GET", cms, None).await).await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let watch = call(
        &mut lb,
        "GET",
        &format!("{cms}?watch=true&resourceVersion={rv}"),
        None,
    )
    .await;
    assert_eq!(watch.status(), StatusCode::OK);

    let total = 3_000;
    for i in 0..total {
        let resp = call(
            &mut lb,
            "POST",
            cms,
            Some(json!({"metadata": {"name": format!("c{i}")}})),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }

    let mut body = watch.into_body();
    let mut names = BTreeSet::new();
    let mut last = 0u64;
    for ev in watch_events(&mut body, total).await {
        assert_eq!(ev["type"], "ADDED", "{ev}");
        let obj = &ev["object"]["metadata"];
        let rev: u64 = obj["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .parse()
            .expect("revision");
        assert!(
            rev > last,
            "revision {rev} after {last}: repeated or out of order"
        );
        last = rev;
        let name = obj["name"].as_str().unwrap_or("").to_string();
        assert!(names.insert(name.clone()), "{name} delivered twice");
    }
    running.shutdown();
}

/// KEP-2211's server-side omission, for in-process components only: the
/// loopback that asks for it gets list and watch responses (every form)
/// without `metadata.managedFields`; any other client, network ones
/// included (they take the same path as a loopback that does not ask), gets
/// them, and so does a GET through the omitting loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_loopback_that_asks_gets_lists_and_watches_without_managed_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(dir.path()).await;
    let mut plain = loopback(&running);
    let mut omitting = loopback(&running).omitting_managed_fields();
    let cms = "/api/v1/namespaces/default/configmaps";
    let resp = call(
        &mut plain,
        "POST",
        cms,
        Some(json!({"metadata": {"name": "a", "labels": {"app": "web"}}, "data": {"k": "v"}})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);

    let has_mf = |obj: &Value| obj["metadata"].get("managedFields").is_some();
    let list = json_of(call(&mut plain, "GET", cms, None).await).await;
    assert!(has_mf(&list["items"][0]), "{list}");
    let list = json_of(call(&mut omitting, "GET", cms, None).await).await;
    assert!(!has_mf(&list["items"][0]), "{list}");
    assert_eq!(list["items"][0]["data"]["k"], "v");
    assert_eq!(list["items"][0]["metadata"]["labels"]["app"], "web");
    let pretty =
        json_of(call(&mut omitting, "GET", &format!("{cms}?pretty=true"), None).await).await;
    assert!(!has_mf(&pretty["items"][0]), "{pretty}");
    let get = json_of(call(&mut omitting, "GET", &format!("{cms}/a"), None).await).await;
    assert!(has_mf(&get), "a GET keeps them: {get}");
    // Metadata only, as the garbage collector lists and watches.
    let metadata_only = |lb: &mut Loopback, query: &'static str| {
        let mut lb = lb.clone();
        let req = Request::get(format!("{cms}{query}"))
            .header(
                "accept",
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
            )
            .body(Full::new(Bytes::new()))
            .expect("request");
        async move { lb.call(req).await.expect("infallible") }
    };
    let list = json_of(metadata_only(&mut plain, "").await).await;
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert!(has_mf(&list["items"][0]), "{list}");
    let list = json_of(metadata_only(&mut omitting, "").await).await;
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["items"][0]["kind"], "PartialObjectMetadata");
    assert_eq!(list["items"][0]["metadata"]["name"], "a");
    assert!(!has_mf(&list["items"][0]), "{list}");
    assert!(list["items"][0].get("data").is_none(), "{list}");
    let mut plain_meta = metadata_only(&mut plain, "?watch=true").await.into_body();
    let mut omitting_meta = metadata_only(&mut omitting, "?watch=true")
        .await
        .into_body();

    let watch = |lb: &mut Loopback| {
        let uri = format!("{cms}?watch=true&labelSelector=app%3Dweb");
        let mut lb = lb.clone();
        async move { call(&mut lb, "GET", &uri, None).await.into_body() }
    };
    let mut plain_watch = watch(&mut plain).await;
    let mut omitting_watch = watch(&mut omitting).await;
    let initial = watch_events(&mut plain_watch, 1).await;
    assert!(has_mf(&initial[0]["object"]), "{}", initial[0]);
    let initial = watch_events(&mut omitting_watch, 1).await;
    assert_eq!(initial[0]["type"], "ADDED");
    assert!(!has_mf(&initial[0]["object"]), "{}", initial[0]);

    let resp = call(
        &mut plain,
        "PUT",
        &format!("{cms}/a"),
        Some(json!({"metadata": {"name": "a", "labels": {"app": "web"}}, "data": {"k": "w"}})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = call(&mut plain, "DELETE", &format!("{cms}/a"), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let events = watch_events(&mut plain_watch, 2).await;
    assert!(events.iter().all(|e| has_mf(&e["object"])), "{events:?}");
    let events = watch_events(&mut omitting_watch, 2).await;
    assert_eq!(
        (events[0]["type"].as_str(), events[1]["type"].as_str()),
        (Some("MODIFIED"), Some("DELETED"))
    );
    assert_eq!(events[0]["object"]["kind"], "ConfigMap");
    assert_eq!(events[0]["object"]["data"]["k"], "w");
    assert!(events.iter().all(|e| !has_mf(&e["object"])), "{events:?}");
    let events = watch_events(&mut plain_meta, 3).await;
    assert!(events.iter().all(|e| has_mf(&e["object"])), "{events:?}");
    let events = watch_events(&mut omitting_meta, 3).await;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["ADDED", "MODIFIED", "DELETED"]);
    for e in &events {
        assert_eq!(e["object"]["kind"], "PartialObjectMetadata", "{e}");
        assert_eq!(e["object"]["metadata"]["name"], "a", "{e}");
        assert!(!has_mf(&e["object"]), "{e}");
    }
    running.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_larger_than_a_chunk_is_streamed_whole_and_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(dir.path()).await;
    let mut lb = loopback(&running);
    // 40 ConfigMaps of ~40 KB: about 1.6 MB of items, more than one chunk.
    let data = "x".repeat(40_000);
    for i in 0..40 {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i:02}")}, "data": {"blob": data}});
        let resp = call(
            &mut lb,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some(cm),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let resp = call(
        &mut lb,
        "GET",
        "/api/v1/namespaces/default/configmaps",
        None,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut frames = 0;
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("frame").into_data() {
            frames += 1;
            bytes.extend_from_slice(&data);
        }
    }
    assert!(frames > 1, "a 1.6 MB list comes in more than one chunk");
    let list: Value = serde_json::from_slice(&bytes).expect("the chunks join to one JSON list");
    assert_eq!(list["kind"], "ConfigMapList");
    assert!(list["metadata"]["resourceVersion"].as_str().is_some());
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    let want: Vec<String> = (0..40).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(names, want);
    assert!(
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["data"]["blob"] == data)
    );

    // A small list is still one piece.
    let resp = call(
        &mut lb,
        "GET",
        "/api/v1/namespaces/default/configmaps?limit=2",
        None,
    )
    .await;
    let list = json_of(resp).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    assert!(list["metadata"]["continue"].as_str().is_some());
}

/// The creator owns what it sent and its defaults; what admission adds
/// (ServiceAccount, Priority, DefaultTolerationSeconds) is nobody's, as
/// upstream runs the field manager before admission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_additions_are_not_owned_by_the_creator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(dir.path()).await;
    let mut lb = loopback(&running);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}});
    let resp = call(
        &mut lb,
        "POST",
        "/api/v1/namespaces/default/pods",
        Some(pod),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created = json_of(resp).await;
    let spec = &created["spec"];
    assert_eq!(spec["serviceAccountName"], "default");
    assert_eq!(spec["priority"], 0);
    assert_eq!(spec["tolerations"].as_array().map(Vec::len), Some(2));
    let owned = &created["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"];
    let fields: BTreeSet<&str> = owned
        .as_object()
        .expect("the creator owns spec fields")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "f:containers",
            "f:dnsPolicy",
            "f:enableServiceLinks",
            "f:restartPolicy",
            "f:schedulerName",
            "f:securityContext",
            "f:terminationGracePeriodSeconds",
        ])
    );
    running.shutdown();
}
