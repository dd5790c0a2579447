//! Starting a `skiff server` child on 127.0.0.1 with a temporary data dir,
//! timing its cold start, and the TLS identities a client needs to talk to it.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tempfile::TempDir;

use crate::client::{Conn, Transport};
use crate::process::{Guard, free_port};

/// How long a server may take to become ready before the run fails.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How often readiness is polled: finer than the figure being measured.
const POLL: Duration = Duration::from_millis(2);

/// A running `skiff server`. Field order matters: the process is killed
/// before its data dir is removed.
pub struct Server {
    pub process: Guard,
    pub addr: SocketAddr,
    /// Admin client: trusts the cluster CA, presents the admin certificate.
    pub admin: Transport,
    dir: TempDir,
}

impl Server {
    /// The server's data dir (a temp dir removed with it), with its
    /// `kubeconfig.yaml` and `skiff.log`.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The admin kubeconfig the server writes into its data dir.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig.yaml")
    }
}

fn spawn(
    bin: &Path,
    data_dir: &Path,
    port: u16,
    extra: &[&str],
) -> Result<(Guard, std::process::ChildStdout)> {
    let log = std::fs::File::create(data_dir.join("skiff.log"))
        .context("failed to create the server log")?;
    let mut child = Command::new(bin)
        .args([
            "server",
            "--disable-agent",
            "--bind-address",
            "127.0.0.1",
            "--https-listen-port",
        ])
        .arg(port.to_string())
        .arg("--data-dir")
        .arg(data_dir)
        // The machine's /etc/skiff/config.yaml must not change what is measured.
        .args(["--config", "/dev/null"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("failed to start {}", bin.display()))?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    Ok((Guard::new(child, "skiff server"), stdout))
}

fn tls_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("server").join("tls")
}

fn read_pem(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))
}

fn roots(ca_pem: &[u8]) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    let mut found = false;
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(cert.context("bad CA certificate PEM")?)
            .context("bad CA certificate")?;
        found = true;
    }
    if !found {
        bail!("no certificate in the CA file");
    }
    Ok(roots)
}

fn builder() -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>> {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("no TLS protocol version in common with ring")
}

/// A client that trusts the CA in `data_dir` and presents no certificate:
/// enough for `/readyz`.
fn anonymous(data_dir: &Path) -> Result<Transport> {
    let ca = read_pem(&tls_dir(data_dir).join("ca.crt"))?;
    let mut config = builder()?
        .with_root_certificates(roots(&ca)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Transport::Tls(Arc::new(config)))
}

/// The admin client of the cluster in `data_dir`.
fn admin(data_dir: &Path) -> Result<Transport> {
    let dir = tls_dir(data_dir);
    let ca = read_pem(&dir.join("ca.crt"))?;
    let cert_pem = read_pem(&dir.join("admin.crt"))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("bad admin certificate PEM")?;
    let key = PrivateKeyDer::from_pem_slice(&read_pem(&dir.join("admin.key"))?)
        .context("bad admin key PEM")?;
    let mut config = builder()?
        .with_root_certificates(roots(&ca)?)
        .with_client_auth_cert(chain, key)
        .context("the admin certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Transport::Tls(Arc::new(config)))
}

/// Whether `/readyz` answers 200 right now.
async fn ready_once(addr: SocketAddr, data_dir: &Path) -> Result<bool> {
    // The CA is created by the server at start, so it is read on every try.
    let transport = anonymous(data_dir)?;
    let mut conn = Conn::connect(addr, &transport).await?;
    let (status, _) = conn.call(Method::GET, "/readyz", Bytes::new()).await?;
    Ok(status == StatusCode::OK)
}

async fn wait_ready(process: &mut Guard, addr: SocketAddr, data_dir: &Path) -> Result<()> {
    let start = Instant::now();
    loop {
        if let Ok(true) = ready_once(addr, data_dir).await {
            return Ok(());
        }
        process.check_running()?;
        if start.elapsed() > START_LIMIT {
            bail!("skiff server was not ready after {START_LIMIT:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Time from spawn to the first 200 from `/readyz` of a server with a fresh
/// data dir. The port is chosen beforehand so polling can start at once.
pub async fn cold_start(bin: &Path) -> Result<Duration> {
    let dir = tempfile::Builder::new()
        .prefix("skiff-bench-")
        .tempdir()
        .context("failed to create a temp dir")?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
    let start = Instant::now();
    let (mut process, _stdout) = spawn(bin, dir.path(), addr.port(), &[])?;
    wait_ready(&mut process, addr, dir.path())
        .await
        .with_context(|| format!("server log: {}", log_tail(dir.path())))?;
    let elapsed = start.elapsed();
    drop(process);
    Ok(elapsed)
}

/// Starts a server on port 0 (with `extra` flags), learns its address from
/// the line it prints when listening, and waits for `/readyz`.
pub async fn start(bin: &Path, extra: &[&str]) -> Result<Server> {
    let dir = tempfile::Builder::new()
        .prefix("skiff-bench-")
        .tempdir()
        .context("failed to create a temp dir")?;
    let (mut process, stdout) = spawn(bin, dir.path(), 0, extra)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    // Keeps draining stdout after the line so the child never blocks on it.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("skiff server listening on https://")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let hostport = match tokio::time::timeout(START_LIMIT, rx).await {
        Ok(Ok(hostport)) => hostport,
        _ => {
            process.check_running()?;
            bail!(
                "skiff server printed no address in {START_LIMIT:?}; log: {}",
                log_tail(dir.path())
            );
        }
    };
    let addr: SocketAddr = hostport
        .parse()
        .with_context(|| format!("unexpected listen address {hostport:?}"))?;
    wait_ready(&mut process, addr, dir.path()).await?;
    let admin = admin(dir.path())?;
    Ok(Server {
        process,
        addr,
        admin,
        dir,
    })
}

fn log_tail(data_dir: &Path) -> String {
    let text = std::fs::read_to_string(data_dir.join("skiff.log")).unwrap_or_default();
    let start = text.len().saturating_sub(2000);
    text.get(start..).unwrap_or_default().to_owned()
}
