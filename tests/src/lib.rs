//! Shared fixtures of the end-to-end tests: a real `skiff server` process on a
//! free port with its own data dir, the real kubectl at a chosen version, and
//! kube-rs clients. Every fixture cleans up on drop, also when a test fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub mod objects;
pub mod pods;

/// The kubectl versions the tests run against.
pub const KUBECTL_VERSIONS: [&str; 2] = ["1.32", "1.33"];

/// Path of the `skiff` binary under test: `$SKIFF_BIN`, or the one cargo built
/// next to this test executable.
pub fn skiff_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SKIFF_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test-exe> -> target/<profile>/skiff
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("skiff")
}

/// Path of a kubectl of a given minor version.
pub fn kubectl_bin(version: &str) -> PathBuf {
    let exact = PathBuf::from(format!("/usr/lib/google-cloud-sdk/bin/kubectl.{version}"));
    if exact.exists() {
        exact
    } else {
        PathBuf::from("kubectl")
    }
}

/// A running `skiff server`.
pub struct Server {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub url: String,
    pub kubeconfig: PathBuf,
    /// Extra environment of the server process (test knobs).
    env: Vec<(String, String)>,
}

impl Server {
    /// Starts a server on a free port of 127.0.0.1 with a fresh data dir.
    pub fn start() -> Result<Server> {
        Server::start_with_env(&[])
    }

    /// Starts a server with extra environment variables, e.g.
    /// `SKIFF_NODE_MONITOR_GRACE_PERIOD` for short node timeouts.
    pub fn start_with_env(env: &[(&str, &str)]) -> Result<Server> {
        let dir = tempfile::Builder::new().prefix("skiff-test-").tempdir()?;
        let mut server = Server {
            child: None,
            kubeconfig: dir.path().join("kubeconfig.yaml"),
            dir,
            port: 0,
            url: String::new(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        server.spawn(0)?;
        Ok(server)
    }

    fn spawn(&mut self, port: u16) -> Result<()> {
        let mut child = Command::new(skiff_bin())
            .args(["server", "--disable-agent", "--bind-address", "127.0.0.1"])
            .arg("--data-dir")
            .arg(self.dir.path())
            .arg("--https-listen-port")
            .arg(port.to_string())
            .env("SKIFF_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("failed to start {}", skiff_bin().display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        self.child = Some(child);
        // The server prints its URL once it serves.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("skiff server listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .context("skiff server did not report its address within 30 s")?;
        self.port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .context("bad URL")?;
        self.url = url;
        Ok(())
    }

    /// Kills the server with SIGKILL (no clean shutdown), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills and starts the server again on the same port and data dir.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let port = self.port;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn(port) {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() < deadline => {
                    eprintln!("restart retry: {e:#}");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs kubectl of `version` against this server.
    pub fn kubectl(&self, version: &str, args: &[&str]) -> Output {
        self.kubectl_with(version, args, None)
    }

    /// kubectl with standard input and extra environment.
    pub fn kubectl_with(&self, version: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(kubectl_bin(version));
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        // A private discovery cache per server: ports are reused across tests.
        cmd.env("KUBECACHEDIR", self.dir.path().join("kubecache"));
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut run = || -> std::io::Result<Output> {
            let mut child = cmd.spawn()?;
            if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
                use std::io::Write;
                pipe.write_all(input.as_bytes())?;
            }
            child.wait_with_output()
        };
        run().unwrap_or_else(|e| Output {
            status: std::os::unix::process::ExitStatusExt::from_raw(127 << 8),
            stdout: Vec::new(),
            stderr: format!("failed to run kubectl: {e}").into_bytes(),
        })
    }

    /// kubectl that must succeed; returns stdout.
    pub fn kubectl_ok(&self, version: &str, args: &[&str]) -> Result<String> {
        check(self.kubectl(version, args), args)
    }

    /// A kube-rs client with the admin credentials.
    pub async fn client(&self) -> Result<kube::Client> {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }
}

/// Turns a kubectl run into its stdout, or an error with everything it printed.
pub fn check(out: Output, args: &[&str]) -> Result<String> {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!(
            "kubectl {} failed ({}):\nstdout: {stdout}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

/// A running `skiff sim` joined to a [`Server`].
pub struct Sim {
    child: Option<Child>,
    /// Process id, for signals.
    pub pid: u32,
}

impl Sim {
    /// Starts `skiff sim --kubeconfig <server's> <args>` and waits until it
    /// reports its nodes registered.
    pub fn start(server: &Server, args: &[&str]) -> Result<Sim> {
        let mut child = Command::new(skiff_bin())
            .arg("sim")
            .arg("--kubeconfig")
            .arg(&server.kubeconfig)
            .args(args)
            .env("SKIFF_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("failed to start {} sim", skiff_bin().display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let pid = child.id();
        let sim = Sim {
            child: Some(child),
            pid,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("skiff sim: ") && line.ends_with(" nodes ready") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(60))
            .context("skiff sim did not report its nodes ready within 60 s")?;
        Ok(sim)
    }

    /// Sends a signal (`STOP`, `CONT`, `TERM`, …) with kill(1).
    pub fn signal(&self, name: &str) -> Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .status()?;
        if !status.success() {
            bail!("kill -{name} {} failed", self.pid);
        }
        Ok(())
    }

    /// Kills the sim with SIGKILL, as a lost machine.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // A stopped process must be resumed to die cleanly of SIGKILL's wait.
        if self.child.is_some() {
            let _ = self.signal("CONT");
        }
        self.kill();
    }
}

/// Polls `f` until it returns `Some`, for at most `timeout`; an error from
/// the last attempt is kept as the cause of the time-out.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    loop {
        match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() >= deadline {
            return Err(match last_err {
                Some(e) => e.context(format!("timed out waiting for {what}")),
                None => anyhow::anyhow!("timed out waiting for {what}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
