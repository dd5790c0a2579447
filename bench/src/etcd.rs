//! The peer: a single-member etcd on 127.0.0.1 with a temporary data dir,
//! driven through its gRPC-gateway (HTTP/JSON, `/v3/...`) so no gRPC stack
//! is needed. The gateway adds JSON and base64 work over native gRPC, which
//! slightly favours skiff in the comparison; BENCHMARKS.md says so.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use tempfile::TempDir;

use crate::client::{Conn, Transport};
use crate::process::{Guard, free_port};

const START_LIMIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(2);

/// A running etcd. The process is killed before its data dir is removed.
pub struct Etcd {
    pub process: Guard,
    pub addr: SocketAddr,
    _dir: TempDir,
}

/// The version `etcd --version` reports, e.g. `3.4.23`.
pub fn version(bin: &Path) -> Result<String> {
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .with_context(|| {
            format!(
                "failed to run {} --version (install etcd-server: scripts/install-deps)",
                bin.display()
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    Ok(first.trim_start_matches("etcd Version:").trim().to_owned())
}

/// Starts etcd and waits until `/health` reports healthy; returns it with
/// the time that took.
pub async fn start(bin: &Path) -> Result<(Etcd, Duration)> {
    let dir = tempfile::Builder::new()
        .prefix("skiff-bench-etcd-")
        .tempdir()
        .context("failed to create a temp dir")?;
    let client = free_port()?;
    let peer = free_port()?;
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let log = std::fs::File::create(dir.path().join("etcd.log"))
        .context("failed to create the etcd log")?;
    let start = Instant::now();
    let child = Command::new(bin)
        .args(["--name", "bench", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .args(["--initial-cluster", &format!("bench={peer_url}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("failed to start {}", bin.display()))?;
    let mut process = Guard::new(child, "etcd");
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, client));
    loop {
        if healthy(addr).await {
            break;
        }
        process.check_running()?;
        if start.elapsed() > START_LIMIT {
            let log = std::fs::read_to_string(dir.path().join("etcd.log")).unwrap_or_default();
            bail!("etcd was not healthy after {START_LIMIT:?}; log:\n{log}");
        }
        tokio::time::sleep(POLL).await;
    }
    let elapsed = start.elapsed();
    Ok((
        Etcd {
            process,
            addr,
            _dir: dir,
        },
        elapsed,
    ))
}

async fn healthy(addr: SocketAddr) -> bool {
    #[derive(Deserialize)]
    struct Health {
        health: String,
    }
    let Ok(mut conn) = Conn::connect(addr, &Transport::Plain).await else {
        return false;
    };
    match conn.call(Method::GET, "/health", Bytes::new()).await {
        Ok((StatusCode::OK, body)) => {
            serde_json::from_slice::<Health>(&body).is_ok_and(|h| h.health == "true")
        }
        _ => false,
    }
}

#[derive(Deserialize)]
struct Header {
    // int64 fields are strings in the gateway's JSON.
    revision: String,
}

#[derive(Deserialize)]
struct WithHeader {
    header: Header,
}

/// `key` plus one: the end of the range of every key under prefix `key`.
pub fn prefix_end(key: &str) -> Vec<u8> {
    let mut end = key.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// Puts `value` at `key`; returns the new mod revision.
pub async fn put(conn: &mut Conn, key: &str, value: &[u8]) -> Result<String> {
    let body = json!({ "key": B64.encode(key), "value": B64.encode(value) });
    let out = conn
        .expect(
            Method::POST,
            "/v3/kv/put",
            Bytes::from(body.to_string()),
            StatusCode::OK,
        )
        .await?;
    let out: WithHeader = serde_json::from_slice(&out).context("bad put response")?;
    Ok(out.header.revision)
}

/// Gets one key; fails if it is absent.
pub async fn get(conn: &mut Conn, key: &str) -> Result<()> {
    #[derive(Deserialize)]
    struct Range {
        #[serde(default)]
        kvs: Vec<serde::de::IgnoredAny>,
    }
    let body = json!({ "key": B64.encode(key) });
    let out = conn
        .expect(
            Method::POST,
            "/v3/kv/range",
            Bytes::from(body.to_string()),
            StatusCode::OK,
        )
        .await?;
    let out: Range = serde_json::from_slice(&out).context("bad range response")?;
    if out.kvs.len() != 1 {
        bail!("etcd has no key {key}");
    }
    Ok(())
}

/// Compare-and-swap on the mod revision, as kube-apiserver updates through
/// etcd (`GuaranteedUpdate`); returns the new mod revision.
pub async fn update(
    conn: &mut Conn,
    key: &str,
    value: &[u8],
    mod_revision: &str,
) -> Result<String> {
    #[derive(Deserialize)]
    struct Txn {
        header: Header,
        #[serde(default)]
        succeeded: bool,
    }
    let k = B64.encode(key);
    let body = json!({
        "compare": [{ "key": k, "target": "MOD", "result": "EQUAL", "mod_revision": mod_revision }],
        "success": [{ "request_put": { "key": k, "value": B64.encode(value) } }],
    });
    let out = conn
        .expect(
            Method::POST,
            "/v3/kv/txn",
            Bytes::from(body.to_string()),
            StatusCode::OK,
        )
        .await?;
    let out: Txn = serde_json::from_slice(&out).context("bad txn response")?;
    if !out.succeeded {
        bail!("etcd compare-and-swap of {key} at {mod_revision} failed");
    }
    Ok(out.header.revision)
}

/// Reads every key under `prefix` with values; returns the raw response.
pub async fn range_prefix(conn: &mut Conn, prefix: &str) -> Result<Bytes> {
    let body = json!({ "key": B64.encode(prefix), "range_end": B64.encode(prefix_end(prefix)) });
    conn.expect(
        Method::POST,
        "/v3/kv/range",
        Bytes::from(body.to_string()),
        StatusCode::OK,
    )
    .await
}

/// How many kvs a range response holds.
pub fn range_count(body: &[u8]) -> Result<usize> {
    #[derive(Deserialize)]
    struct Range {
        #[serde(default)]
        kvs: Vec<serde::de::IgnoredAny>,
    }
    let out: Range = serde_json::from_slice(body).context("bad range response")?;
    Ok(out.kvs.len())
}

/// Opens a watch of every key under `prefix` and waits for etcd to confirm
/// it was created.
pub async fn watch(conn: &mut Conn, prefix: &str) -> Result<crate::client::JsonStream> {
    let body = json!({ "create_request": { "key": B64.encode(prefix), "range_end": B64.encode(prefix_end(prefix)) } });
    let response = conn
        .send(Method::POST, "/v3/watch", Bytes::from(body.to_string()))
        .await?;
    if response.status() != StatusCode::OK {
        bail!("etcd watch answered {}", response.status());
    }
    let mut stream = crate::client::JsonStream::new(response.into_body());
    let first: Option<WatchMessage> = tokio::time::timeout(START_LIMIT, stream.next())
        .await
        .context("etcd did not confirm the watch")??;
    match first {
        Some(WatchMessage {
            result: Some(r), ..
        }) if r.created => Ok(stream),
        _ => bail!("etcd did not confirm the watch"),
    }
}

/// One message of the gateway's watch stream.
#[derive(Deserialize)]
pub struct WatchMessage {
    pub result: Option<WatchResult>,
    pub error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
pub struct WatchResult {
    #[serde(default)]
    pub created: bool,
    #[serde(default)]
    pub events: Vec<WatchEvent>,
}

#[derive(Deserialize)]
pub struct WatchEvent {
    pub kv: WatchKv,
}

#[derive(Deserialize)]
pub struct WatchKv {
    /// Base64.
    pub key: String,
}

impl WatchMessage {
    /// The keys of the events in this message.
    pub fn keys(self) -> Result<Vec<String>> {
        if let Some(error) = self.error {
            bail!("etcd watch failed: {error}");
        }
        let events = self.result.map(|r| r.events).unwrap_or_default();
        events
            .into_iter()
            .map(|e| {
                let key = B64
                    .decode(&e.kv.key)
                    .context("bad base64 key in a watch event")?;
                String::from_utf8(key).context("non-UTF-8 key in a watch event")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte() {
        assert_eq!(
            prefix_end("/registry/configmaps/default/"),
            b"/registry/configmaps/default0"
        );
    }
}
