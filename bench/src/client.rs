//! HTTP/1.1 client connections for the benchmarks: plain TCP (etcd's JSON
//! gateway) or TLS with a client certificate (skiff).
//!
//! Built on hyper's connection API rather than a pooled client so that every
//! simulated client provably owns exactly one connection, as a separate
//! kubectl or controller process would.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// How often a request shed with 429 is sent again (client-go's limit).
const MAX_RETRIES: usize = 10;

/// How a connection reaches its server.
#[derive(Clone)]
pub enum Transport {
    Plain,
    Tls(Arc<rustls::ClientConfig>),
}

/// The media type of every request body except patches.
pub const JSON: &str = "application/json";

/// One HTTP/1.1 connection: requests on it are sequential.
pub struct Conn {
    send: SendRequest<Full<Bytes>>,
    authority: String,
}

impl Conn {
    pub async fn connect(addr: SocketAddr, transport: &Transport) -> Result<Conn> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("failed to connect to {addr}"))?;
        // Small request/response pairs: Nagle would add delayed-ACK stalls.
        tcp.set_nodelay(true).context("failed to set TCP_NODELAY")?;
        match transport {
            Transport::Plain => Conn::handshake(tcp, addr).await,
            Transport::Tls(config) => {
                let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .with_context(|| format!("TLS handshake with {addr} failed"))?;
                Conn::handshake(tls, addr).await
            }
        }
    }

    async fn handshake<S>(stream: S, addr: SocketAddr) -> Result<Conn>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("HTTP handshake with {addr} failed"))?;
        // Ends when the `SendRequest` half is dropped or the peer closes.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            send,
            authority: addr.to_string(),
        })
    }

    /// Sends a JSON request and returns the response with its body unread.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<Response<Incoming>> {
        self.send_as(method, path, JSON, body).await
    }

    /// Like [`Conn::send`] with a body of type `content_type` (a patch).
    pub async fn send_as(
        &mut self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<Response<Incoming>> {
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ACCEPT, "application/json")
            .body(Full::new(body))
            .with_context(|| format!("failed to build request {method} {path}"))?;
        self.send
            .ready()
            .await
            .with_context(|| format!("connection to {} closed", self.authority))?;
        self.send
            .send_request(request)
            .await
            .with_context(|| format!("{method} {path} failed"))
    }

    /// Sends a JSON request and reads the whole response body.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes)> {
        self.call_as(method, path, JSON, body).await
    }

    /// Like [`Conn::call`] with a body of type `content_type`.
    pub async fn call_as(
        &mut self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes)> {
        let mut attempts = 0;
        let response = loop {
            let response = self
                .send_as(method.clone(), path, content_type, body.clone())
                .await?;
            // An overloaded server sheds requests with 429 and Retry-After;
            // client-go waits that long and sends again, up to 10 times.
            if response.status() != StatusCode::TOO_MANY_REQUESTS || attempts == MAX_RETRIES {
                break response;
            }
            attempts += 1;
            let wait = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .unwrap_or(1);
            // Drain the body so the connection can carry the next request.
            let _ = response.into_body().collect().await;
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        };
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("failed to read the response to {method} {path}"))?
            .to_bytes();
        Ok((status, body))
    }

    /// Like [`Conn::call`], but any status other than `want` is an error
    /// carrying the start of the response body.
    pub async fn expect(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
        want: StatusCode,
    ) -> Result<Bytes> {
        self.expect_as(method, path, JSON, body, want).await
    }

    /// Like [`Conn::expect`] with a body of type `content_type`.
    pub async fn expect_as(
        &mut self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Bytes,
        want: StatusCode,
    ) -> Result<Bytes> {
        let (status, body) = self
            .call_as(method.clone(), path, content_type, body)
            .await?;
        if status != want {
            let text = String::from_utf8_lossy(&body[..body.len().min(400)]).into_owned();
            bail!("{method} {path}: expected {want}, got {status}: {text}");
        }
        Ok(body)
    }
}

/// A stream of concatenated or newline-delimited JSON documents in a
/// response body: a Kubernetes watch or an etcd gateway watch.
pub struct JsonStream {
    body: Incoming,
    buf: Vec<u8>,
}

impl JsonStream {
    pub fn new(body: Incoming) -> JsonStream {
        JsonStream {
            body,
            buf: Vec::new(),
        }
    }

    /// The next document, or `None` at the end of the body.
    pub async fn next<T: DeserializeOwned>(&mut self) -> Result<Option<T>> {
        loop {
            let mut docs = serde_json::Deserializer::from_slice(&self.buf).into_iter::<T>();
            match docs.next() {
                Some(Ok(doc)) => {
                    let used = docs.byte_offset();
                    self.buf.drain(..used);
                    return Ok(Some(doc));
                }
                Some(Err(e)) if e.is_eof() => {}
                None => {}
                Some(Err(e)) => return Err(e).context("malformed JSON document in a watch stream"),
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(frame) => {
                    let frame = frame.context("failed to read a watch stream")?;
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}
