//! The simulated runtime of `skiff sim`: sandboxes that only hold an IP from
//! the node's pod CIDR, and containers that start at once and then do what the
//! pod's `sim.skiff.dev/*` annotations say:
//!
//! | annotation | meaning |
//! |---|---|
//! | `sim.skiff.dev/ready-after: 2s` | Ready that long after the start |
//! | `sim.skiff.dev/fail-readiness: "true"` | never Ready |
//! | `sim.skiff.dev/exit-after: 1s` | containers exit that long after the start |
//! | `sim.skiff.dev/exit-code: "3"` | with this code (default 0) |
//! | `sim.skiff.dev/exit-after-by-index: "0=500ms"` | for a pod of an Indexed Job whose completion index (`batch.kubernetes.io/job-completion-index`) is listed: `exit-after` |
//! | `sim.skiff.dev/exit-code-by-index: "1=3,4=7"` | likewise `exit-code` |
//!
//! The `-by-index` forms let one Job template make some indexes fail or
//! finish early; a listed index takes its value over the plain annotation.
//!
//! Owns: the annotations' meaning ([`Behavior`]), simulated container
//! lifetimes and their exits. Does not own: restarts and status (the pod worker).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::jiff::Timestamp;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;

use super::{
    ContainerConfig, Error, Exit, Result, Runtime, SIMULATED_STOP, Sandbox, SandboxConfig, Started,
};
use crate::ipam::PodIps;
use crate::pod_worker::Readiness;

/// Not Ready until this long after the container started (`2s`, `500ms`, `1m`).
pub const READY_AFTER: &str = "sim.skiff.dev/ready-after";
/// The container exits this long after it started.
pub const EXIT_AFTER: &str = "sim.skiff.dev/exit-after";
/// Exit code of a container that exits (default 0).
pub const EXIT_CODE: &str = "sim.skiff.dev/exit-code";
/// `"true"`: the readiness check never passes.
pub const FAIL_READINESS: &str = "sim.skiff.dev/fail-readiness";
/// `index=duration,...`: `exit-after` for the pods of the listed indexes.
pub const EXIT_AFTER_BY_INDEX: &str = "sim.skiff.dev/exit-after-by-index";
/// `index=code,...`: the exit code for a pod of an Indexed Job whose
/// completion index is listed, so one template makes only some indexes fail.
pub const EXIT_CODE_BY_INDEX: &str = "sim.skiff.dev/exit-code-by-index";
/// The completion index the Job controller gives each pod of an Indexed Job.
const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// What a simulated pod's containers do, from its annotations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Behavior {
    pub ready_after: Option<Duration>,
    pub exit_after: Option<Duration>,
    pub exit_code: i32,
    pub fail_readiness: bool,
}

impl Behavior {
    /// Reads the annotations. A value that does not parse is reported and
    /// ignored, as kubelet ignores what it does not understand.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> (Behavior, Vec<String>) {
        let mut warnings = Vec::new();
        let index = annotations.get(COMPLETION_INDEX).map(|i| i.trim());
        // The value for this pod's index from a `-by-index` table, if listed.
        let mut by_index = |key: &str| -> Option<String> {
            let table = annotations.get(key)?;
            match entry_for_index(table, index?) {
                Ok(v) => v.map(str::to_string),
                Err(bad) => {
                    warnings.push(format!("annotation {key}: invalid entry {bad:?}"));
                    None
                }
            }
        };
        let exit_after_for_index = by_index(EXIT_AFTER_BY_INDEX);
        let exit_code_for_index = by_index(EXIT_CODE_BY_INDEX);
        let mut duration = |key: &str| {
            let v = match (key, &exit_after_for_index) {
                (EXIT_AFTER, Some(v)) => v,
                _ => annotations.get(key)?,
            };
            match parse_duration(v) {
                Some(d) => Some(d),
                None => {
                    warnings.push(format!("annotation {key}: invalid duration {v:?}"));
                    None
                }
            }
        };
        let ready_after = duration(READY_AFTER);
        let exit_after = duration(EXIT_AFTER);
        let exit_code = match exit_code_for_index.as_ref().or(annotations.get(EXIT_CODE)) {
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                warnings.push(format!("annotation {EXIT_CODE}: invalid exit code {v:?}"));
                0
            }),
            None => 0,
        };
        let fail_readiness = annotations
            .get(FAIL_READINESS)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        (
            Behavior {
                ready_after,
                exit_after,
                exit_code,
                fail_readiness,
            },
            warnings,
        )
    }

    /// The simulated readiness probe.
    pub fn readiness(&self) -> Readiness {
        match (self.fail_readiness, self.ready_after) {
            (true, _) => Readiness::Never,
            (false, Some(d)) => Readiness::After(d),
            (false, None) => Readiness::Immediate,
        }
    }
}

/// The value `table` (`index=value,...`) gives `index`, if listed; an
/// entry without `=` is the error. The value itself is checked by the
/// caller, as for the plain annotation.
fn entry_for_index<'a>(table: &'a str, index: &str) -> Result<Option<&'a str>, String> {
    let mut found = None;
    for entry in table.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.split_once('=') {
            Some((i, v)) if found.is_none() && i.trim() == index => found = Some(v.trim()),
            Some(_) => {}
            None => return Err(entry.to_string()),
        }
    }
    Ok(found)
}

/// A Go-style duration of one or more `<number><unit>` parts, units `ms`,
/// `s`, `m`, `h` (`1m30s`, `1.5s`, `250ms`); a bare number means seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest.get(..num_end)?.parse().ok()?;
        rest = rest.get(num_end..)?;
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match rest.get(..unit_end)? {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = rest.get(unit_end..)?;
        total += Duration::try_from_secs_f64(value * scale).ok()?;
    }
    Some(total)
}

struct SandboxEntry {
    pod_uid: String,
    ip: IpAddr,
    behavior: Behavior,
    containers: Vec<String>,
}

struct ContainerEntry {
    sandbox: String,
    timer: Option<AbortHandle>,
}

#[derive(Default)]
struct State {
    sandboxes: HashMap<String, SandboxEntry>,
    containers: HashMap<String, ContainerEntry>,
}

struct Inner {
    node: String,
    ips: Mutex<PodIps>,
    state: Mutex<State>,
    exits: UnboundedSender<Exit>,
    seq: AtomicU64,
}

/// The simulated runtime of one node.
#[derive(Clone)]
pub struct SimulatedRuntime {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another task panicked mid-update of plain
    // data; the maps stay usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SimulatedRuntime {
    /// A runtime for `node` giving pod IPs from `ips`; exits go to `exits`.
    pub fn new(node: &str, ips: PodIps, exits: UnboundedSender<Exit>) -> SimulatedRuntime {
        SimulatedRuntime {
            inner: Arc::new(Inner {
                node: node.to_string(),
                ips: Mutex::new(ips),
                state: Mutex::new(State::default()),
                exits,
                seq: AtomicU64::new(0),
            }),
        }
    }

    fn next_id(&self) -> String {
        // Unique in this process; like containerd's 64-hex ids, shorter.
        let n = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        let node_hash = self.inner.node.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        format!("{node_hash:016x}{n:08x}")
    }

    /// Number of sandboxes held (for tests and metrics).
    pub fn sandboxes(&self) -> usize {
        lock(&self.inner.state).sandboxes.len()
    }
}

#[async_trait]
impl Runtime for SimulatedRuntime {
    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<Sandbox> {
        let wanted = match config.previous_ip {
            Some(IpAddr::V4(ip)) => Some(ip),
            _ => None,
        };
        let ip = {
            let mut ips = lock(&self.inner.ips);
            ips.allocate(wanted).ok_or_else(|| Error::NoFreeIp {
                cidr: ips.cidr().to_string(),
            })?
        };
        let (behavior, _) = Behavior::from_annotations(&config.annotations);
        let id = self.next_id();
        lock(&self.inner.state).sandboxes.insert(
            id.clone(),
            SandboxEntry {
                pod_uid: config.pod_uid.clone(),
                ip: IpAddr::V4(ip),
                behavior,
                containers: Vec::new(),
            },
        );
        Ok(Sandbox {
            id,
            ip: IpAddr::V4(ip),
        })
    }

    async fn start_container(
        &self,
        sandbox_id: &str,
        _config: &ContainerConfig,
    ) -> Result<Started> {
        let id = format!("sim://{}", self.next_id());
        let started_at = Timestamp::now();
        let mut state = lock(&self.inner.state);
        let sandbox =
            state
                .sandboxes
                .get_mut(sandbox_id)
                .ok_or_else(|| Error::SandboxNotFound {
                    id: sandbox_id.to_string(),
                })?;
        sandbox.containers.push(id.clone());
        let timer = sandbox.behavior.exit_after.map(|after| {
            let inner = Arc::clone(&self.inner);
            let pod_uid = sandbox.pod_uid.clone();
            let exit_code = sandbox.behavior.exit_code;
            let container_id = id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let gone = lock(&inner.state)
                    .containers
                    .remove(&container_id)
                    .is_none();
                if !gone {
                    let _ = inner.exits.send(Exit {
                        pod_uid,
                        container_id,
                        exit_code,
                        finished_at: Timestamp::now(),
                    });
                }
            })
            .abort_handle()
        });
        state.containers.insert(
            id.clone(),
            ContainerEntry {
                sandbox: sandbox_id.to_string(),
                timer,
            },
        );
        Ok(Started { id, started_at })
    }

    async fn stop_container(&self, container_id: &str, grace: Duration) -> Result<Exit> {
        let entry = lock(&self.inner.state).containers.remove(container_id);
        let Some(entry) = entry else {
            return Err(Error::ContainerNotFound {
                id: container_id.to_string(),
            });
        };
        if let Some(t) = &entry.timer {
            t.abort();
        }
        let pod_uid = lock(&self.inner.state)
            .sandboxes
            .get(&entry.sandbox)
            .map(|s| s.pod_uid.clone())
            .unwrap_or_default();
        tokio::time::sleep(grace.min(SIMULATED_STOP)).await;
        // The simulated process handles SIGTERM and exits cleanly.
        Ok(Exit {
            pod_uid,
            container_id: container_id.to_string(),
            exit_code: 0,
            finished_at: Timestamp::now(),
        })
    }

    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<()> {
        let mut state = lock(&self.inner.state);
        let Some(sandbox) = state.sandboxes.remove(sandbox_id) else {
            return Err(Error::SandboxNotFound {
                id: sandbox_id.to_string(),
            });
        };
        for c in &sandbox.containers {
            if let Some(entry) = state.containers.remove(c)
                && let Some(t) = entry.timer
            {
                t.abort();
            }
        }
        drop(state);
        if let IpAddr::V4(ip) = sandbox.ip {
            lock(&self.inner.ips).release(ip);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ms = Duration::from_millis;
        for (s, want) in [
            ("2s", Some(ms(2000))),
            ("250ms", Some(ms(250))),
            ("1m30s", Some(ms(90_000))),
            ("1.5s", Some(ms(1500))),
            ("3", Some(ms(3000))),
            ("", None),
            ("5x", None),
            ("s", None),
        ] {
            assert_eq!(parse_duration(s), want, "{s:?}");
        }
    }

    #[test]
    fn behavior_from_annotations() {
        let ann = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let (b, w) = Behavior::from_annotations(&ann(&[
            (EXIT_AFTER, "3s"),
            (EXIT_CODE, "1"),
            (READY_AFTER, "2s"),
        ]));
        assert!(w.is_empty());
        assert_eq!(b.exit_after, Some(Duration::from_secs(3)));
        assert_eq!(b.exit_code, 1);
        assert_eq!(b.readiness(), Readiness::After(Duration::from_secs(2)));
        let (b, w) =
            Behavior::from_annotations(&ann(&[(FAIL_READINESS, "true"), (EXIT_CODE, "x")]));
        assert_eq!(b.readiness(), Readiness::Never);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn exit_code_by_completion_index() {
        let ann = |index: &str, table: &str| {
            [
                (EXIT_CODE.to_string(), "0".to_string()),
                (EXIT_CODE_BY_INDEX.to_string(), table.to_string()),
                (COMPLETION_INDEX.to_string(), index.to_string()),
            ]
            .into_iter()
            .collect::<BTreeMap<_, _>>()
        };
        let code = |index: &str, table: &str| Behavior::from_annotations(&ann(index, table));
        assert_eq!(code("1", "1=3, 4=7").0.exit_code, 3);
        assert_eq!(code("4", "1=3,4=7").0.exit_code, 7);
        // Unlisted indexes keep `exit-code`.
        let (b, w) = code("2", "1=3,4=7");
        assert_eq!((b.exit_code, w.len()), (0, 0));
        // A bad entry or value is reported and ignored.
        let (b, w) = code("1", "1");
        assert_eq!((b.exit_code, w.len()), (0, 1));
        let (b, w) = code("1", "1=x");
        assert_eq!((b.exit_code, w.len()), (0, 1));
        // Pods without an index (not an Indexed Job) are untouched.
        let mut plain = ann("1", "1=3");
        plain.remove(COMPLETION_INDEX);
        assert_eq!(Behavior::from_annotations(&plain).0.exit_code, 0);
        // Exit times by index, over `exit-after`.
        let mut timed = ann("0", "");
        timed.insert(EXIT_AFTER.into(), "2m".into());
        timed.insert(EXIT_AFTER_BY_INDEX.into(), "0=500ms".into());
        let (b, w) = Behavior::from_annotations(&timed);
        assert_eq!(
            (b.exit_after, w.len()),
            (Some(Duration::from_millis(500)), 0)
        );
        timed.insert(COMPLETION_INDEX.into(), "1".into());
        assert_eq!(
            Behavior::from_annotations(&timed).0.exit_after,
            Some(Duration::from_secs(120))
        );
    }

    #[tokio::test]
    async fn exits_and_stops() -> Result<()> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let cidr = "10.42.0.0/24".parse().map_err(|_| Error::NoFreeIp {
            cidr: String::new(),
        })?;
        let rt = SimulatedRuntime::new("n", PodIps::new(cidr), tx);
        let config = SandboxConfig {
            pod_uid: "u1".into(),
            annotations: [
                (EXIT_AFTER.to_string(), "10ms".to_string()),
                (EXIT_CODE.to_string(), "3".to_string()),
            ]
            .into(),
            ..Default::default()
        };
        let sb = rt.run_pod_sandbox(&config).await?;
        assert_eq!(sb.ip.to_string(), "10.42.0.2");
        let c = rt
            .start_container(&sb.id, &ContainerConfig::default())
            .await?;
        let exit = rx
            .recv()
            .await
            .ok_or(Error::ContainerNotFound { id: c.id.clone() })?;
        assert_eq!((exit.pod_uid.as_str(), exit.exit_code), ("u1", 3));
        assert_eq!(exit.container_id, c.id);
        // A stopped container does not exit again later.
        let c2 = rt
            .start_container(&sb.id, &ContainerConfig::default())
            .await?;
        let stop = rt.stop_container(&c2.id, Duration::from_secs(30)).await?;
        assert_eq!(stop.exit_code, 0);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(rx.try_recv().is_err());
        rt.remove_pod_sandbox(&sb.id).await?;
        assert_eq!(rt.sandboxes(), 0);
        Ok(())
    }
}
