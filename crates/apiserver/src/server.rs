//! The HTTPS front: TLS with optional client certificates, HTTP/1.1 and
//! HTTP/2, authentication, the in-flight limit, and routing of every path to
//! discovery, health or the REST handlers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::FutureExt;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use skiff_core::Status;
use skiff_core::registry::{self, ResourceInfo};
use skiff_store::DynStore;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::encoding::{self, Accept, Body};
use crate::pki::{self, UserInfo};
use crate::request::{Query, RequestInfo};
use crate::rest::{self, Ctx, Part};
use crate::{ApiServer, Config, Error, Result, bootstrap, cache, discovery, strategy, subresource};

/// kube-apiserver's default `--max-requests-inflight` plus
/// `--max-mutating-requests-inflight`; watches do not count.
const MAX_IN_FLIGHT: usize = 600;

/// A started API server.
pub struct Running {
    pub addr: SocketAddr,
    pub server: Arc<ApiServer>,
    limit: Arc<Semaphore>,
    accept: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting connections.
    pub fn shutdown(&self) {
        self.accept.abort();
    }

    /// An in-process transport for a component of this process, acting as
    /// `user` and sending `user_agent` (from which upstream derives the field
    /// manager of its writes): see [`Loopback`].
    pub fn loopback(&self, user: UserInfo, user_agent: &'static str) -> Loopback {
        Loopback {
            server: self.server.clone(),
            user: Arc::new(user),
            user_agent: HeaderValue::from_static(user_agent),
            limit: self.limit.clone(),
            options: LoopbackOptions::default(),
        }
    }
}

/// What an in-process component asks of the server beyond what a network
/// client can: carried in the request's extensions, which only the
/// [`Loopback`] sets (hyper never puts a value of this type there).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct LoopbackOptions {
    omit_managed_fields: bool,
}

/// The API server as a `tower` service, for controllers, the scheduler and
/// the agent running in the same process (kube-apiserver's loopback client).
/// Requests take the same path as over the network (authorization, admission,
/// the in-flight limit), minus TCP, TLS and HTTP framing: each network client
/// holds a TLS connection per watch, and the in-process components keep
/// dozens of watches open.
#[derive(Clone)]
pub struct Loopback {
    server: Arc<ApiServer>,
    user: Arc<UserInfo>,
    user_agent: HeaderValue,
    limit: Arc<Semaphore>,
    options: LoopbackOptions,
}

impl Loopback {
    /// LIST and WATCH responses leave `metadata.managedFields` out, as
    /// KEP-2211 proposed for kube-apiserver: a component that drops them on
    /// receipt (kube-controller-manager's informers, kube-scheduler's pod
    /// informer) then neither receives nor decodes them, about a third of a
    /// pod's bytes. GET and write responses keep them.
    pub fn omitting_managed_fields(mut self) -> Loopback {
        self.options.omit_managed_fields = true;
        self
    }
}

impl<B> tower_service::Service<Request<B>> for Loopback
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<Body>, Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if !req.headers().contains_key(header::USER_AGENT) {
            req.headers_mut()
                .insert(header::USER_AGENT, self.user_agent.clone());
        }
        req.extensions_mut().insert(self.options);
        let server = self.server.clone();
        let user = Some(self.user.clone());
        let limit = self.limit.clone();
        Box::pin(async move { Ok(serve(server, user, limit, req).await) })
    }
}

/// Starts the API server over `store`: TLS identities, watch cache, system
/// objects, then the listener.
pub async fn start(config: Config, store: DynStore) -> Result<Running> {
    let services = crate::allocator::ServiceAllocator::new(config.service_cidr);
    let sans = pki::Sans::new(
        &config.tls_sans,
        std::net::IpAddr::V4(services.api_service_ip()),
    );
    let pki = pki::load_or_create(&config.tls_dir, &sans)?;
    let tls = pki::server_config(&pki)?;

    let stored = stored_resources();
    let cache = cache::Cache::start(store.clone(), &stored).await?;
    let server = Arc::new(ApiServer {
        store,
        cache,
        discovery: discovery::Discovery::build(),
        services,
        pki,
        ready: std::sync::atomic::AtomicBool::new(false),
        components: crate::health::Components::default(),
        metrics: Arc::default(),
        limit_ranges: Default::default(),
    });
    bootstrap::run(&server).await?;

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Listen {
        addr: config.listen,
        source,
    })?;
    let acceptor = TlsAcceptor::from(tls);
    let limit = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let accept_limit = limit.clone();
    let srv = server.clone();
    let accept = tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let srv = srv.clone();
            let limit = accept_limit.clone();
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
                    .await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
                let user = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| pki::user_from_client_cert(c.as_ref()))
                    .map(Arc::new);
                let service = hyper::service::service_fn(move |req| {
                    let srv = srv.clone();
                    let user = user.clone();
                    let limit = limit.clone();
                    async move { Ok::<_, Infallible>(serve(srv, user, limit, req).await) }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                if let Err(e) = builder
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .await
                {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
    });
    server.ready.store(true, Ordering::SeqCst);
    Ok(Running {
        addr,
        server,
        limit,
        accept,
    })
}

/// Resources with storage, one per storage location (versions and groups that
/// share storage are served from the same cache).
fn stored_resources() -> Vec<&'static ResourceInfo> {
    let mut seen = std::collections::HashSet::new();
    registry::resources()
        .iter()
        .filter(|r| r.storage_prefix().is_some_and(|p| seen.insert(p)))
        .collect()
}

/// One request, with panics turned into 500s so a bug never drops a connection.
pub(crate) async fn serve<B>(
    server: Arc<ApiServer>,
    user: Option<Arc<UserInfo>>,
    limit: Arc<Semaphore>,
    req: Request<B>,
) -> Response<Body>
where
    B: http_body::Body<Data = bytes::Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let result = std::panic::AssertUnwindSafe(route(server, user, limit, req))
        .catch_unwind()
        .await;
    let resp = match result {
        Ok(Ok(resp)) => resp,
        Ok(Err(status)) => encoding::status(&status),
        Err(_) => {
            tracing::error!(%method, %path, "request handler panicked");
            encoding::status(&Status::internal("request handler panicked"))
        }
    };
    tracing::debug!(%method, %path, code = resp.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
    resp
}

async fn route<B>(
    server: Arc<ApiServer>,
    user: Option<Arc<UserInfo>>,
    limit: Arc<Semaphore>,
    req: Request<B>,
) -> rest::Result<Response<Body>>
where
    B: http_body::Body<Data = bytes::Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = std::time::Instant::now();
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query());
    let pretty = query.flag("pretty");
    let accept = Accept::parse(req.headers().get(header::ACCEPT));

    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "healthz" | "livez" | "readyz" => {
            return Ok(crate::health::endpoint(&server, &path, &query).await);
        }
        "version" if path.trim_end_matches('/') == "/version" => {
            return Ok(encoding::json(
                StatusCode::OK,
                &discovery::version_info(),
                pretty,
            ));
        }
        _ => {}
    }
    let Some(user) = user else {
        return Err(Status::unauthorized());
    };
    if path == "/metrics" {
        return Ok(crate::metrics::serve(&server).await);
    }
    if first == "openapi" {
        return crate::openapi::serve(&server, &path, &query, req.headers()).await;
    }

    let info = RequestInfo::parse(req.method(), &path, &query);
    if !info.is_resource {
        return non_resource(&server, &info, accept, pretty);
    }
    if accept == Accept::Unsupported {
        return Err(Status::not_acceptable(
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        ));
    }

    // Watches are long-running and do not count against the in-flight limit.
    let _permit = if info.verb == "watch" {
        None
    } else {
        match limit.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => return Err(Status::too_many_requests(1)),
        }
    };

    let Some(resource) = registry::lookup(&info.group, &info.version, &info.resource) else {
        return Err(Status::not_found_path());
    };
    let strategy = strategy::for_resource(resource);
    let warnings = std::sync::Mutex::new(
        deprecation_warning(resource)
            .map(|w| vec![w.to_string()])
            .unwrap_or_default(),
    );
    let duplicates = std::sync::Mutex::new(Vec::new());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let ctx = Ctx {
        server: &server,
        info: resource,
        strategy,
        req: &info,
        user: &user,
        query: &query,
        accept,
        pretty,
        warnings: &warnings,
        duplicates: &duplicates,
        user_agent: &user_agent,
        omit_managed_fields: req
            .extensions()
            .get::<LoopbackOptions>()
            .is_some_and(|o| o.omit_managed_fields),
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let method = req.method().clone();
    let body = if matches!(
        method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        encoding::read_body(req.into_body()).await?
    } else {
        bytes::Bytes::new()
    };
    let result = dispatch(&ctx, &method, &content_type, &body).await;
    let warnings = warnings.into_inner().unwrap_or_default();
    let result = result.map(|mut resp| {
        for w in warnings {
            // RFC 7234 warning: code 299, agent "-", the text quoted.
            let quoted = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
            if let Ok(v) = HeaderValue::from_str(&quoted) {
                resp.headers_mut().append(header::WARNING, v);
            }
        }
        resp
    });
    let labels = crate::metrics::RequestLabels::of(
        &info,
        content_type.starts_with("application/apply-patch"),
        query.get("dryRun").is_some_and(|d| !d.is_empty()),
    );
    match result {
        Ok(resp) if info.verb == "watch" => Ok(server.metrics.track_watch(labels, started, resp)),
        Ok(resp) => {
            server
                .metrics
                .record(labels, resp.status().as_u16(), started.elapsed());
            Ok(resp)
        }
        Err(status) => {
            server
                .metrics
                .record(labels, status.code, started.elapsed());
            Err(status)
        }
    }
}

/// The warning every request to a deprecated API gets, as upstream's
/// handlers add it from the type's deprecation release.
fn deprecation_warning(info: &ResourceInfo) -> Option<&'static str> {
    match (info.group, info.version, info.resource) {
        ("", "v1", "componentstatuses") => Some("v1 ComponentStatus is deprecated in v1.19+"),
        ("", "v1", "endpoints") => {
            Some("v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice")
        }
        _ => None,
    }
}

/// Discovery and other paths that name no resource.
fn non_resource(
    server: &ApiServer,
    info: &RequestInfo,
    accept: Accept,
    pretty: bool,
) -> rest::Result<Response<Body>> {
    let parts: Vec<&str> = info.parts.iter().map(String::as_str).collect();
    let d = &server.discovery;
    let doc: Option<&Value> = match parts.as_slice() {
        ["api"] => {
            if let Accept::Discovery { v2 } = accept {
                return Ok(aggregated(&d.aggregated_api, v2, pretty));
            }
            Some(&d.api)
        }
        ["apis"] => {
            if let Accept::Discovery { v2 } = accept {
                return Ok(aggregated(&d.aggregated_apis, v2, pretty));
            }
            Some(&d.apis)
        }
        ["api", version] => d.group_version("", version),
        ["apis", group] => d.group(group),
        ["apis", group, version] => d.group_version(group, version),
        _ => None,
    };
    match doc {
        Some(v) => Ok(encoding::json(StatusCode::OK, v, pretty)),
        None => Err(Status::not_found_path()),
    }
}

fn aggregated(doc: &Value, v2: bool, pretty: bool) -> Response<Body> {
    let mut doc = doc.clone();
    let version = if v2 { "v2" } else { "v2beta1" };
    doc["apiVersion"] = Value::String(format!("apidiscovery.k8s.io/{version}"));
    let mut resp = encoding::json(StatusCode::OK, &doc, pretty);
    let ct = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    if let Ok(v) = HeaderValue::from_str(&ct) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

async fn dispatch(
    ctx: &Ctx<'_>,
    method: &Method,
    content_type: &str,
    body: &[u8],
) -> rest::Result<Response<Body>> {
    let info = ctx.info;
    let req = ctx.req;
    let verb = req.verb.as_str();
    if !req.subresource.is_empty() {
        return subresource::dispatch(ctx, method, content_type, body).await;
    }
    if info.storage_prefix().is_none() {
        // Virtual resources (reviews, bindings) are handled as subresources or
        // not at all yet.
        return subresource::virtual_resource(ctx, content_type, body).await;
    }
    // A namespaced object is addressed inside its namespace.
    if info.namespaced && req.namespace.is_empty() && !matches!(verb, "list" | "watch") {
        return Err(Status::not_found_path());
    }
    if !info.namespaced && !req.namespace.is_empty() {
        return Err(Status::not_found_path());
    }
    let supported = info.verbs.contains(&verb);
    if !supported {
        return Err(Status::method_not_supported(ctx.gr(), verb));
    }
    match verb {
        "create" => rest::create(ctx, content_type, body).await,
        "get" => rest::get(ctx).await,
        "list" => rest::list(ctx).await,
        "watch" => rest::watch(ctx).await,
        "update" => rest::update(ctx, Part::Main, content_type, body).await,
        "patch" => rest::patch(ctx, Part::Main, content_type, body).await,
        "delete" => rest::delete(ctx, body).await,
        "deletecollection" => rest::delete_collection(ctx, body).await,
        _ => Err(Status::method_not_supported(ctx.gr(), verb)),
    }
}
