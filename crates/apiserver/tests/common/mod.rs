//! What the in-process API server tests share: a server on a temporary
//! store, a loopback client and one-line requests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use skiff_apiserver::encoding::Body;
use skiff_apiserver::pki::UserInfo;
use skiff_apiserver::server::Loopback;
use tower_service::Service;

/// A server on a SQLite store in `dir`, listening on a free local port.
pub async fn start(dir: &std::path::Path) -> skiff_apiserver::Running {
    let store = skiff_store::SqliteStore::open_default(dir.join("state.db")).expect("store opens");
    let config = skiff_apiserver::Config {
        tls_dir: dir.join("tls"),
        listen: "127.0.0.1:0".parse().expect("address"),
        tls_sans: Vec::new(),
        service_cidr: "10.43.0.0/16".parse().expect("cidr"),
    };
    skiff_apiserver::server::start(config, Arc::new(store))
        .await
        .expect("server starts")
}

/// An authenticated loopback client whose user agent is `agent`.
pub fn loopback(running: &skiff_apiserver::Running, agent: &'static str) -> Loopback {
    running.loopback(
        UserInfo {
            name: "test".into(),
            groups: vec!["system:authenticated".into()],
        },
        agent,
    )
}

pub async fn call(
    lb: &mut Loopback,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> Response<Body> {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default()));
    lb.call(req.body(body).expect("request"))
        .await
        .expect("infallible")
}

pub async fn json_of(resp: Response<Body>) -> Value {
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    serde_json::from_slice(&bytes).expect("JSON body")
}

/// Reads watch events from `body` until `n` have arrived (30 s at most for
/// each frame).
pub async fn watch_events(body: &mut Body, n: usize) -> Vec<Value> {
    let mut buf = Vec::new();
    let mut events = Vec::new();
    while events.len() < n {
        let frame = tokio::time::timeout(Duration::from_secs(30), body.frame())
            .await
            .expect("watch delivers in time")
            .expect("watch still open")
            .expect("frame");
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            events.push(serde_json::from_slice(&line).expect("watch event JSON"));
        }
    }
    events
}
