//! Events without the watch cache, as kube-apiserver serves them (watch cache
//! size 0): LIST and WATCH of both Event APIs read the store, with the same
//! selectors, pages, start revisions and errors a cached resource has, and
//! the store's compaction answered with 410 Gone. In process, so the test can
//! compact the store itself.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use skiff_apiserver::server::Loopback;
use tower_service::Service;

const EVENTS: &str = "/api/v1/namespaces/default/events";
const NEW_EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

mod common;

use common::{call, json_of, start, watch_events};

fn loopback(running: &skiff_apiserver::Running) -> Loopback {
    common::loopback(running, "uncached-events-test/v0")
}

/// GETs `uri`, expecting `status`; the body as JSON.
async fn get(lb: &mut Loopback, uri: &str, status: StatusCode) -> Value {
    let resp = call(lb, "GET", uri, None).await;
    let code = resp.status();
    let body = json_of(resp).await;
    assert_eq!(code, status, "GET {uri}: {body}");
    body
}

/// A core Event about pod `pod`, as the legacy recorder writes it.
fn event(name: &str, pod: &str, reason: &str, type_: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": "default", "uid": format!("uid-{pod}")},
        "reason": reason,
        "type": type_,
        "message": format!("{reason} {pod}"),
        "source": {"component": "kubelet"},
        "count": 1,
    })
}

/// Creates an Event; its resourceVersion.
async fn create(lb: &mut Loopback, ev: Value) -> i64 {
    let resp = call(lb, "POST", EVENTS, Some(ev)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    rv_of(&json_of(resp).await["metadata"])
}

/// Sets an Event's `type` with a merge patch (core Events may change).
async fn set_type(lb: &mut Loopback, name: &str, type_: &str) {
    let resp = lb
        .call(
            Request::patch(format!("{EVENTS}/{name}"))
                .header("content-type", "application/merge-patch+json")
                .body(Full::new(Bytes::from(json!({"type": type_}).to_string())))
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK, "patch {name}");
}

fn rv_of(metadata: &Value) -> i64 {
    metadata["resourceVersion"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("a resourceVersion in {metadata}"))
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect()
}

/// `(type, name)` of watch events.
fn summary(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("").to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

fn pair(t: &str, n: &str) -> (String, String) {
    (t.to_string(), n.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_lists_are_read_from_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(dir.path()).await;
    let mut lb = loopback(&running);
    let events = skiff_core::registry::lookup("", "v1", "events").expect("built in");
    assert!(
        running.server.cache.resource(events).is_none(),
        "events have no watch cache"
    );

    create(&mut lb, event("a.1", "a", "Scheduled", "Normal")).await;
    create(&mut lb, event("b.1", "b", "Scheduled", "Normal")).await;
    let last = create(&mut lb, event("b.2", "b", "BackOff", "Warning")).await;

    // A consistent list sees every write at once.
    let list = get(&mut lb, EVENTS, StatusCode::OK).await;
    assert_eq!(names(&list), ["a.1", "b.1", "b.2"]);
    assert!(rv_of(&list["metadata"]) >= last);

    // Field selectors of the Event strategy, alone and together.
    for (selector, want) in [
        ("involvedObject.name=b", &["b.1", "b.2"][..]),
        ("involvedObject.uid=uid-a", &["a.1"]),
        ("reason=Scheduled", &["a.1", "b.1"]),
        ("type=Warning", &["b.2"]),
        (
            "source=kubelet,involvedObject.name=b,type!=Warning",
            &["b.1"],
        ),
    ] {
        let uri = format!("{EVENTS}?fieldSelector={selector}");
        assert_eq!(
            names(&get(&mut lb, &uri, StatusCode::OK).await),
            want,
            "{selector}"
        );
    }
    // events.k8s.io selects by its own field names, on the same objects.
    let uri = format!("{NEW_EVENTS}?fieldSelector=regarding.name=b,reason=BackOff");
    assert_eq!(names(&get(&mut lb, &uri, StatusCode::OK).await), ["b.2"]);

    // Pages: limit and continue, at the first page's revision.
    let page1 = get(&mut lb, &format!("{EVENTS}?limit=2"), StatusCode::OK).await;
    assert_eq!(names(&page1), ["a.1", "b.1"]);
    let token = page1["metadata"]["continue"]
        .as_str()
        .expect("a continue token")
        .to_string();
    create(&mut lb, event("c.1", "c", "Scheduled", "Normal")).await;
    let page2 = get(
        &mut lb,
        &format!("{EVENTS}?limit=2&continue={token}"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        names(&page2),
        ["b.2"],
        "the page is read at page 1's revision"
    );
    assert!(page2["metadata"]["continue"].is_null());
    assert_eq!(
        page2["metadata"]["resourceVersion"],
        page1["metadata"]["resourceVersion"]
    );

    // Any state, not older than, exact.
    assert_eq!(
        names(
            &get(
                &mut lb,
                &format!("{EVENTS}?resourceVersion=0"),
                StatusCode::OK
            )
            .await
        )
        .len(),
        4
    );
    let exact = get(
        &mut lb,
        &format!("{EVENTS}?resourceVersion={last}&resourceVersionMatch=Exact"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(&exact), ["a.1", "b.1", "b.2"]);
    assert_eq!(rv_of(&exact["metadata"]), last);
    let future = rv_of(&list["metadata"]) + 1_000;
    let too_new = get(
        &mut lb,
        &format!("{EVENTS}?resourceVersion={future}&resourceVersionMatch=NotOlderThan"),
        StatusCode::GATEWAY_TIMEOUT,
    )
    .await;
    assert_eq!(too_new["reason"], "Timeout", "{too_new}");
    assert_eq!(
        too_new["details"]["causes"][0]["reason"], "ResourceVersionTooLarge",
        "{too_new}"
    );

    // Metadata-only lists and Tables are built from the store's items too.
    let resp = lb
        .call(
            Request::get(EVENTS)
                .header(
                    "accept",
                    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
                )
                .body(Full::new(Bytes::new()))
                .expect("request"),
        )
        .await
        .expect("infallible");
    let md = json_of(resp).await;
    assert_eq!(md["kind"], "PartialObjectMetadataList", "{md}");
    assert_eq!(names(&md).len(), 4);
    let resp = lb
        .call(
            Request::get(format!("{EVENTS}?fieldSelector=involvedObject.name=c"))
                .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
                .body(Full::new(Bytes::new()))
                .expect("request"),
        )
        .await
        .expect("infallible");
    let table = json_of(resp).await;
    assert_eq!(table["kind"], "Table", "{table}");
    assert_eq!(table["rows"].as_array().map(Vec::len), Some(1), "{table}");

    // Deleting a collection (the namespace controller's way) finds them all.
    let resp = call(&mut lb, "DELETE", EVENTS, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(names(&get(&mut lb, EVENTS, StatusCode::OK).await).is_empty());
    running.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_watches_follow_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(dir.path()).await;
    let mut lb = loopback(&running);
    create(&mut lb, event("a.1", "a", "Scheduled", "Normal")).await;
    let list = get(&mut lb, EVENTS, StatusCode::OK).await;
    let listed = rv_of(&list["metadata"]);

    // From the list's revision, with a selector: an Event created after the
    // watch started, one that enters the selection and one that leaves it.
    let watch = call(
        &mut lb,
        "GET",
        &format!("{EVENTS}?watch=true&resourceVersion={listed}&fieldSelector=type=Warning"),
        None,
    )
    .await;
    assert_eq!(watch.status(), StatusCode::OK);
    let mut from_list = watch.into_body();
    // Without a revision: the current state first, then changes.
    let watch = call(&mut lb, "GET", &format!("{EVENTS}?watch=true"), None).await;
    let mut from_now = watch.into_body();
    assert_eq!(
        summary(&watch_events(&mut from_now, 1).await),
        [pair("ADDED", "a.1")]
    );

    create(&mut lb, event("b.1", "b", "BackOff", "Warning")).await;
    set_type(&mut lb, "b.1", "Normal").await;
    set_type(&mut lb, "a.1", "Warning").await;
    let resp = call(&mut lb, "DELETE", &format!("{EVENTS}/a.1"), None).await;
    assert_eq!(resp.status(), StatusCode::OK);

    let seen = watch_events(&mut from_list, 4).await;
    assert_eq!(
        summary(&seen),
        [
            pair("ADDED", "b.1"),
            pair("DELETED", "b.1"),
            pair("ADDED", "a.1"),
            pair("DELETED", "a.1")
        ],
        "b.1 entered the selection and left it, then a.1: {seen:?}"
    );
    let seen = watch_events(&mut from_now, 4).await;
    assert_eq!(
        summary(&seen),
        [
            pair("ADDED", "b.1"),
            pair("MODIFIED", "b.1"),
            pair("MODIFIED", "a.1"),
            pair("DELETED", "a.1")
        ],
        "{seen:?}"
    );
    // Each event carries its own revision; a deleted object the delete's.
    let revs: Vec<i64> = seen
        .iter()
        .map(|e| rv_of(&e["object"]["metadata"]))
        .collect();
    assert!(revs.windows(2).all(|w| w[0] < w[1]), "{revs:?}");
    assert_eq!(seen[3]["object"]["kind"], "Event");
    assert_eq!(seen[3]["object"]["type"], "Warning", "the last state");

    // Through events.k8s.io, from a revision: the same changes, converted.
    let watch = call(
        &mut lb,
        "GET",
        &format!("{NEW_EVENTS}?watch=true&resourceVersion={listed}"),
        None,
    )
    .await;
    let mut new_api = watch.into_body();
    let seen = watch_events(&mut new_api, 4).await;
    assert_eq!(seen[0]["object"]["apiVersion"], "events.k8s.io/v1");
    assert_eq!(seen[0]["object"]["regarding"]["name"], "b", "{seen:?}");
    running.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_list_of_events_ends_with_a_bookmark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(dir.path()).await;
    let mut lb = loopback(&running);
    for i in 0..3 {
        create(&mut lb, event(&format!("e{i}"), "a", "Scheduled", "Normal")).await;
    }
    let watch = call(
        &mut lb,
        "GET",
        &format!(
            "{EVENTS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
        ),
        None,
    )
    .await;
    assert_eq!(watch.status(), StatusCode::OK);
    let mut body = watch.into_body();
    let seen = watch_events(&mut body, 4).await;
    assert_eq!(
        summary(&seen[..3]),
        [
            pair("ADDED", "e0"),
            pair("ADDED", "e1"),
            pair("ADDED", "e2")
        ]
    );
    assert_eq!(seen[3]["type"], "BOOKMARK");
    assert_eq!(
        seen[3]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let listed = rv_of(&seen[3]["object"]["metadata"]);
    assert!(listed >= rv_of(&seen[2]["object"]["metadata"]));

    // sendInitialEvents=false: changes only.
    let watch = call(
        &mut lb,
        "GET",
        &format!(
            "{EVENTS}?watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
        ),
        None,
    )
    .await;
    let mut changes = watch.into_body();
    create(&mut lb, event("e3", "a", "Scheduled", "Normal")).await;
    assert_eq!(
        summary(&watch_events(&mut changes, 1).await),
        [pair("ADDED", "e3")]
    );
    running.shutdown();
}

/// A revision the store compacted: 410 Gone for a watch (in the stream, as
/// etcd's watch error), an exact list and an old continue token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_event_revisions_are_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start(dir.path()).await;
    let mut lb = loopback(&running);
    let first = create(&mut lb, event("a.1", "a", "Scheduled", "Normal")).await;
    create(&mut lb, event("b.1", "b", "Scheduled", "Normal")).await;
    create(&mut lb, event("c.1", "c", "Scheduled", "Normal")).await;
    let page1 = get(&mut lb, &format!("{EVENTS}?limit=1"), StatusCode::OK).await;
    let token = page1["metadata"]["continue"]
        .as_str()
        .expect("a continue token")
        .to_string();
    // Writes after the token, then history up to the latest dropped.
    create(&mut lb, event("d.1", "d", "Scheduled", "Normal")).await;
    let latest = create(&mut lb, event("e.1", "e", "Scheduled", "Normal")).await;
    running
        .server
        .store
        .compact(latest)
        .await
        .expect("the store compacts");

    let watch = call(
        &mut lb,
        "GET",
        &format!("{EVENTS}?watch=true&resourceVersion={first}"),
        None,
    )
    .await;
    assert_eq!(watch.status(), StatusCode::OK);
    let mut body = watch.into_body();
    let seen = watch_events(&mut body, 1).await;
    assert_eq!(seen[0]["type"], "ERROR", "{seen:?}");
    assert_eq!(seen[0]["object"]["code"], 410, "{seen:?}");
    assert_eq!(seen[0]["object"]["reason"], "Expired", "{seen:?}");

    let gone = get(
        &mut lb,
        &format!("{EVENTS}?resourceVersion={first}&resourceVersionMatch=Exact"),
        StatusCode::GONE,
    )
    .await;
    assert_eq!(gone["reason"], "Expired", "{gone}");
    let gone = get(
        &mut lb,
        &format!("{EVENTS}?limit=1&continue={token}"),
        StatusCode::GONE,
    )
    .await;
    assert!(
        gone["message"]
            .as_str()
            .is_some_and(|m| m.contains("continue parameter is too old")),
        "{gone}"
    );

    // From the compacted revision on, a watch starts as usual.
    let watch = call(
        &mut lb,
        "GET",
        &format!("{EVENTS}?watch=true&resourceVersion={latest}"),
        None,
    )
    .await;
    let mut body = watch.into_body();
    create(&mut lb, event("f.1", "f", "Scheduled", "Normal")).await;
    assert_eq!(
        summary(&watch_events(&mut body, 1).await),
        [pair("ADDED", "f.1")]
    );
    running.shutdown();
}
