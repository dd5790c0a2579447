//! The per-pod state machine of the node agent, as kubelet's pod worker plus
//! the parts of `kuberuntime_manager.go` (`SyncPod`, `doBackOff`) and
//! `kubelet_pods.go` (`generateAPIPodStatus`, `getPhase`) that decide what a pod
//! does next and what its status says.
//!
//! Owns: sandbox and container lifecycle decisions, restarts by `restartPolicy`
//! with kubelet's crash-loop back-off, graceful termination, and the API status
//! (phase, conditions, container statuses). Does not own: I/O. The worker is
//! sans-I/O: [`PodWorker::sync`] returns [`Action`]s for the driver to carry out
//! on a [`Runtime`](crate::runtime::Runtime), and the driver feeds the outcomes
//! back as [`Event`]s. Time is always passed in, so tests use a fake clock.

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

#[cfg(test)]
mod tests;

/// kubelet's crash-loop back-off: 10 s, doubling, at most 5 min
/// (`pkg/kubelet/kubelet.go`: `backOffPeriod`, `MaxContainerBackOff`).
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(10);
/// The back-off ceiling.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long a failed sandbox start waits before the next attempt.
const SANDBOX_RETRY: Duration = Duration::from_secs(1);

/// `spec.restartPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    fn parse(s: Option<&str>) -> RestartPolicy {
        match s {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        }
    }

    fn restarts(self, exit_code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit_code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// When a started container passes readiness. Without a readiness probe
/// kubelet reports a running container ready at once; a probe (or the
/// simulated prober's annotations) delays or prevents it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Immediate,
    After(Duration),
    Never,
}

/// What the worker needs to know about one container of the spec.
#[derive(Clone, Debug)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
}

/// What the worker needs to know about the pod: a small copy of its spec.
#[derive(Clone, Debug)]
pub struct PodSpec {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub restart_policy: RestartPolicy,
    pub containers: Vec<ContainerSpec>,
    /// Init containers; sidecars (`restartPolicy: Always`) are flagged.
    pub init_containers: Vec<(ContainerSpec, bool)>,
    pub readiness: Readiness,
}

impl PodSpec {
    /// Reads the fields the worker uses from a Pod.
    pub fn from_pod(pod: &Pod, readiness: Readiness) -> PodSpec {
        let spec = pod.spec.as_ref();
        let container = |c: &k8s_openapi::api::core::v1::Container| ContainerSpec {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
        };
        PodSpec {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            restart_policy: RestartPolicy::parse(spec.and_then(|s| s.restart_policy.as_deref())),
            containers: spec
                .map(|s| s.containers.iter().map(container).collect())
                .unwrap_or_default(),
            init_containers: spec
                .and_then(|s| s.init_containers.as_ref())
                .map(|ics| {
                    ics.iter()
                        .map(|c| (container(c), c.restart_policy.as_deref() == Some("Always")))
                        .collect()
                })
                .unwrap_or_default(),
            readiness,
        }
    }

    /// `name_namespace(uid)`, kubelet's `format.Pod`.
    fn display(&self) -> String {
        format!("{}_{}({})", self.name, self.namespace, self.uid)
    }
}

/// Something the driver must do on the runtime (or the API) for this pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create the sandbox (network namespace and IP).
    RunSandbox,
    /// Start container `index` of the spec; `attempt` counts restarts.
    StartContainer { index: usize, attempt: u32 },
    /// Stop a running container within `grace`.
    StopContainer {
        index: usize,
        container_id: String,
        grace: Duration,
    },
    /// Tear the sandbox down (the pod is finished; its IP is free again).
    RemoveSandbox { sandbox_id: String },
    /// Everything is stopped: delete the pod object with grace 0 after the
    /// final status is written (kubelet's status manager).
    DeletePod,
}

/// An outcome reported back to the worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    SandboxReady {
        sandbox_id: String,
        ip: IpAddr,
    },
    SandboxFailed {
        message: String,
    },
    ContainerStarted {
        index: usize,
        container_id: String,
        started_at: Timestamp,
    },
    ContainerStartFailed {
        index: usize,
        message: String,
    },
    /// A container ended, on its own or because it was stopped.
    ContainerExited {
        container_id: String,
        exit_code: i32,
        finished_at: Timestamp,
    },
    /// The pod got a `deletionTimestamp`.
    DeletionRequested {
        grace: Duration,
    },
}

/// A finished container run, as `lastState.terminated` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Termination {
    container_id: String,
    exit_code: i32,
    reason: String,
    message: Option<String>,
    started_at: Option<Timestamp>,
    finished_at: Timestamp,
}

impl Termination {
    fn to_api(&self) -> ContainerStateTerminated {
        ContainerStateTerminated {
            container_id: (!self.container_id.is_empty()).then(|| self.container_id.clone()),
            exit_code: self.exit_code,
            reason: Some(self.reason.clone()),
            message: self.message.clone(),
            started_at: self.started_at.map(Time),
            finished_at: Some(Time(self.finished_at)),
            signal: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Run {
    /// Not created yet (`ContainerCreating`).
    Created,
    /// A start is in flight.
    Starting,
    Running {
        id: String,
        started_at: Timestamp,
    },
    /// A stop is in flight.
    Stopping {
        id: String,
        started_at: Timestamp,
    },
    Exited(Termination),
}

/// kubelet's `flowcontrol.Backoff` entry for one container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Backoff {
    period: Duration,
    last_update: Timestamp,
}

impl Backoff {
    /// `hasExpired`: the entry is forgotten after twice the ceiling.
    fn expired(&self, event: Timestamp) -> bool {
        event.duration_since(self.last_update) > signed(MAX_BACKOFF * 2)
    }
}

#[derive(Clone, Debug)]
struct Container {
    run: Run,
    restart_count: u32,
    last: Option<Termination>,
    backoff: Option<Backoff>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Sandbox {
    None,
    Starting,
    Failed { retry_at: Timestamp },
    Ready { id: String },
    Removing,
    Removed,
}

/// The state of one pod on this node.
#[derive(Debug)]
pub struct PodWorker {
    spec: PodSpec,
    host_ip: String,
    sandbox: Sandbox,
    pod_ip: Option<IpAddr>,
    containers: Vec<Container>,
    start_time: Option<Timestamp>,
    sandbox_time: Option<Timestamp>,
    terminating: Option<Duration>,
    /// The phase already reported was terminal: kubelet never leaves it.
    terminal_phase: Option<&'static str>,
    delete_issued: bool,
    /// Found already terminal: its status in the API is final and kept.
    adopted_terminal: bool,
    /// (type, status, lastTransitionTime) of each condition last reported.
    transitions: Vec<(&'static str, bool, Timestamp)>,
}

impl PodWorker {
    /// A worker for a pod this node just learned about. `status` is what the
    /// API holds: a pod already terminal is not run again, and a known IP and
    /// start time are kept (as after a kubelet restart).
    pub fn new(spec: PodSpec, host_ip: String, status: Option<&PodStatus>) -> PodWorker {
        let containers = spec
            .containers
            .iter()
            .map(|_| Container {
                run: Run::Created,
                restart_count: 0,
                last: None,
                backoff: None,
            })
            .collect();
        let terminal_phase = match status.and_then(|s| s.phase.as_deref()) {
            Some("Succeeded") => Some("Succeeded"),
            Some("Failed") => Some("Failed"),
            _ => None,
        };
        let pod_ip = status
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse().ok());
        PodWorker {
            spec,
            host_ip,
            sandbox: if terminal_phase.is_some() {
                Sandbox::Removed
            } else {
                Sandbox::None
            },
            pod_ip,
            containers,
            start_time: status.and_then(|s| s.start_time.as_ref()).map(|t| t.0),
            sandbox_time: None,
            terminating: None,
            terminal_phase,
            delete_issued: false,
            adopted_terminal: terminal_phase.is_some(),
            transitions: Vec::new(),
        }
    }

    /// The pod this worker runs.
    pub fn spec(&self) -> &PodSpec {
        &self.spec
    }

    /// The pod IP, once the sandbox has one.
    pub fn pod_ip(&self) -> Option<IpAddr> {
        self.pod_ip
    }

    /// The sandbox to tear down when the pod object disappears.
    pub fn sandbox_id(&self) -> Option<&str> {
        match &self.sandbox {
            Sandbox::Ready { id } => Some(id),
            _ => None,
        }
    }

    /// Running containers (id, index), to stop when the pod object disappears.
    pub fn running_containers(&self) -> Vec<(usize, String)> {
        self.containers
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match &c.run {
                Run::Running { id, .. } | Run::Stopping { id, .. } => Some((i, id.clone())),
                _ => None,
            })
            .collect()
    }

    /// Whether this worker's status should be written: not for a pod that
    /// was already finished when the worker was created.
    pub fn publishes_status(&self) -> bool {
        !self.adopted_terminal
    }

    /// Whether a sandbox or container start is in flight: the status is
    /// about to change again, so a driver may wait before writing it.
    pub fn busy(&self) -> bool {
        matches!(self.sandbox, Sandbox::Starting)
            || self
                .containers
                .iter()
                .any(|c| matches!(c.run, Run::Starting))
    }

    /// Whether a deletion is under way.
    pub fn is_terminating(&self) -> bool {
        self.terminating.is_some()
    }

    /// Applies an outcome or a request.
    pub fn handle(&mut self, now: Timestamp, event: Event) {
        match event {
            Event::SandboxReady { sandbox_id, ip } => {
                self.sandbox = Sandbox::Ready { id: sandbox_id };
                self.pod_ip = Some(ip);
                self.sandbox_time = Some(now);
            }
            Event::SandboxFailed { .. } => {
                self.sandbox = Sandbox::Failed {
                    retry_at: now + SANDBOX_RETRY,
                };
            }
            Event::ContainerStarted {
                index,
                container_id,
                started_at,
            } => {
                if let Some(c) = self.containers.get_mut(index) {
                    c.run = Run::Running {
                        id: container_id,
                        started_at,
                    };
                }
            }
            Event::ContainerStartFailed { index, message } => {
                if let Some(c) = self.containers.get_mut(index) {
                    // kubelet reports a failed start as a terminated run.
                    c.run = Run::Exited(Termination {
                        container_id: String::new(),
                        exit_code: 128,
                        reason: "StartError".into(),
                        message: Some(message),
                        started_at: None,
                        finished_at: now,
                    });
                }
            }
            Event::ContainerExited {
                container_id,
                exit_code,
                finished_at,
            } => {
                for c in &mut self.containers {
                    let started_at = match &c.run {
                        Run::Running { id, started_at } | Run::Stopping { id, started_at }
                            if *id == container_id =>
                        {
                            *started_at
                        }
                        _ => continue,
                    };
                    c.run = Run::Exited(Termination {
                        container_id,
                        exit_code,
                        reason: if exit_code == 0 { "Completed" } else { "Error" }.into(),
                        message: None,
                        started_at: Some(started_at),
                        finished_at,
                    });
                    break;
                }
            }
            Event::DeletionRequested { grace } => {
                // A second delete may only shorten the grace period.
                self.terminating = Some(match self.terminating {
                    Some(g) => g.min(grace),
                    None => grace,
                });
            }
        }
    }

    /// What to do now. Actions are marked in flight, so calling `sync` again
    /// before their outcomes arrive returns nothing new.
    pub fn sync(&mut self, now: Timestamp) -> Vec<Action> {
        if self.start_time.is_none() {
            self.start_time = Some(now);
        }
        let mut actions = Vec::new();
        if let Some(grace) = self.terminating {
            self.sync_terminating(grace, &mut actions);
            return actions;
        }
        if self.terminal_phase.is_some() {
            self.remove_sandbox(&mut actions);
            return actions;
        }
        match &self.sandbox {
            Sandbox::None => {
                self.sandbox = Sandbox::Starting;
                actions.push(Action::RunSandbox);
                return actions;
            }
            Sandbox::Failed { retry_at } if *retry_at <= now => {
                self.sandbox = Sandbox::Starting;
                actions.push(Action::RunSandbox);
                return actions;
            }
            Sandbox::Ready { .. } => {}
            _ => return actions,
        }
        let policy = self.spec.restart_policy;
        for (index, c) in self.containers.iter_mut().enumerate() {
            match &c.run {
                Run::Created => {
                    c.run = Run::Starting;
                    actions.push(Action::StartContainer { index, attempt: 0 });
                }
                Run::Exited(t) if policy.restarts(t.exit_code) => {
                    // kuberuntime's doBackOff, over the finish time of the last run.
                    let finished = t.finished_at;
                    if let Some(b) = &c.backoff
                        && !b.expired(finished)
                        && now.duration_since(finished) < signed(b.period)
                    {
                        continue;
                    }
                    c.backoff = Some(match c.backoff {
                        Some(b) if !b.expired(finished) => Backoff {
                            period: (b.period * 2).min(MAX_BACKOFF),
                            last_update: now,
                        },
                        _ => Backoff {
                            period: INITIAL_BACKOFF,
                            last_update: now,
                        },
                    });
                    if let Run::Exited(t) = std::mem::replace(&mut c.run, Run::Starting) {
                        c.last = Some(t);
                    }
                    c.restart_count += 1;
                    actions.push(Action::StartContainer {
                        index,
                        attempt: c.restart_count,
                    });
                }
                _ => {}
            }
        }
        // A pod that reached a terminal phase gives its sandbox back.
        if let Some(phase) = self.terminal(false) {
            self.terminal_phase = Some(phase);
            self.remove_sandbox(&mut actions);
        }
        actions
    }

    fn sync_terminating(&mut self, grace: Duration, actions: &mut Vec<Action>) {
        if matches!(self.sandbox, Sandbox::Starting) {
            return;
        }
        let mut busy = false;
        for (index, c) in self.containers.iter_mut().enumerate() {
            match &c.run {
                Run::Running { id, started_at } => {
                    actions.push(Action::StopContainer {
                        index,
                        container_id: id.clone(),
                        grace,
                    });
                    c.run = Run::Stopping {
                        id: id.clone(),
                        started_at: *started_at,
                    };
                    busy = true;
                }
                Run::Starting | Run::Stopping { .. } => busy = true,
                Run::Created | Run::Exited(_) => {}
            }
        }
        if busy {
            return;
        }
        // podIsTerminal: everything stopped, so the phase becomes final.
        if self.terminal_phase.is_none() {
            self.terminal_phase = self.terminal(true);
        }
        self.remove_sandbox(actions);
        if !self.delete_issued {
            self.delete_issued = true;
            actions.push(Action::DeletePod);
        }
    }

    fn remove_sandbox(&mut self, actions: &mut Vec<Action>) {
        if let Sandbox::Ready { id } = &self.sandbox {
            actions.push(Action::RemoveSandbox {
                sandbox_id: id.clone(),
            });
            self.sandbox = Sandbox::Removing;
        }
    }

    /// Records that the sandbox is gone.
    pub fn sandbox_removed(&mut self) {
        self.sandbox = Sandbox::Removed;
    }

    /// When `sync` next has something to do without any event: a back-off
    /// ends, a container turns ready, a sandbox start is retried.
    pub fn next_wakeup(&self, now: Timestamp) -> Option<Timestamp> {
        let mut next: Option<Timestamp> = None;
        let mut consider = |t: Timestamp| {
            if t > now {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if let Sandbox::Failed { retry_at } = self.sandbox {
            consider(retry_at);
        }
        if self.terminating.is_some() || self.terminal_phase.is_some() {
            return next;
        }
        for c in &self.containers {
            match &c.run {
                Run::Exited(t) if self.spec.restart_policy.restarts(t.exit_code) => {
                    if let Some(b) = &c.backoff
                        && !b.expired(t.finished_at)
                    {
                        consider(t.finished_at + b.period);
                    }
                }
                Run::Running { started_at, .. } => {
                    if let Readiness::After(d) = self.spec.readiness {
                        consider(*started_at + d);
                    }
                }
                _ => {}
            }
        }
        next
    }

    /// The terminal phase when every container has stopped and none will be
    /// restarted (kubelet's `getPhase` with `podIsTerminal`), else None.
    fn terminal(&self, pod_is_terminal: bool) -> Option<&'static str> {
        let mut succeeded = true;
        for c in &self.containers {
            match &c.run {
                Run::Exited(t) => {
                    if !pod_is_terminal && self.spec.restart_policy.restarts(t.exit_code) {
                        return None;
                    }
                    succeeded &= t.exit_code == 0;
                }
                Run::Created if pod_is_terminal => {
                    // Never started: kubelet counts it as not succeeded
                    // unless an earlier run of it exited 0.
                    succeeded &= c.last.as_ref().is_some_and(|t| t.exit_code == 0);
                }
                _ => return None,
            }
        }
        if self.containers.is_empty() {
            return None;
        }
        Some(if succeeded { "Succeeded" } else { "Failed" })
    }

    /// kubelet's `getPhase` over the current container states.
    fn phase(&self) -> &'static str {
        if let Some(p) = self.terminal_phase {
            return p;
        }
        let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
        for c in &self.containers {
            match &c.run {
                Run::Running { .. } | Run::Stopping { .. } => running += 1,
                Run::Exited(t) => {
                    stopped += 1;
                    if t.exit_code == 0 {
                        succeeded += 1;
                    }
                }
                Run::Created | Run::Starting => {
                    if c.last.is_some() {
                        stopped += 1;
                    } else {
                        waiting += 1;
                    }
                }
            }
        }
        if waiting > 0 {
            "Pending"
        } else if running > 0 {
            "Running"
        } else if stopped > 0 {
            match self.spec.restart_policy {
                RestartPolicy::Always => "Running",
                _ if stopped == succeeded => "Succeeded",
                RestartPolicy::Never => "Failed",
                RestartPolicy::OnFailure => "Running",
            }
        } else {
            "Pending"
        }
    }

    fn container_ready(&self, c: &Container, now: Timestamp) -> bool {
        match &c.run {
            Run::Running { started_at, .. } => match self.spec.readiness {
                Readiness::Immediate => true,
                Readiness::After(d) => now >= *started_at + d,
                Readiness::Never => false,
            },
            _ => false,
        }
    }

    fn container_status(
        &self,
        spec: &ContainerSpec,
        c: &Container,
        now: Timestamp,
    ) -> ContainerStatus {
        let (state, container_id) = match &c.run {
            Run::Created | Run::Starting => (
                ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some("ContainerCreating".into()),
                        message: None,
                    }),
                    ..Default::default()
                },
                None,
            ),
            Run::Running { id, started_at } | Run::Stopping { id, started_at } => (
                ContainerState {
                    running: Some(ContainerStateRunning {
                        started_at: Some(Time(*started_at)),
                    }),
                    ..Default::default()
                },
                Some(id.clone()),
            ),
            Run::Exited(t) => {
                let restarting = self.terminating.is_none()
                    && self.terminal_phase.is_none()
                    && self.spec.restart_policy.restarts(t.exit_code);
                let state = match &c.backoff {
                    Some(b) if restarting => ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some("CrashLoopBackOff".into()),
                            message: Some(format!(
                                "back-off {} restarting failed container={} pod={}",
                                go_duration(b.period),
                                spec.name,
                                self.spec.display()
                            )),
                        }),
                        ..Default::default()
                    },
                    _ => ContainerState {
                        terminated: Some(t.to_api()),
                        ..Default::default()
                    },
                };
                (
                    state,
                    Some(t.container_id.clone()).filter(|s| !s.is_empty()),
                )
            }
        };
        // In back-off the exited run is the last state; otherwise the previous one.
        let last = match (&c.run, &state.waiting) {
            (Run::Exited(t), Some(_)) => Some(t),
            _ => c.last.as_ref(),
        };
        ContainerStatus {
            name: spec.name.clone(),
            image: spec.image.clone(),
            image_id: spec.image.clone(),
            container_id,
            ready: self.container_ready(c, now),
            started: Some(matches!(c.run, Run::Running { .. } | Run::Stopping { .. })),
            restart_count: i32::try_from(c.restart_count).unwrap_or(i32::MAX),
            state: Some(state),
            last_state: Some(ContainerState {
                terminated: last.map(Termination::to_api),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn condition(
        &mut self,
        now: Timestamp,
        type_: &'static str,
        status: bool,
        reason: Option<&str>,
        message: Option<String>,
    ) -> PodCondition {
        let since = match self.transitions.iter_mut().find(|(t, _, _)| *t == type_) {
            Some((_, s, at)) if *s == status => *at,
            Some(entry) => {
                *entry = (type_, status, now);
                now
            }
            None => {
                self.transitions.push((type_, status, now));
                now
            }
        };
        PodCondition {
            type_: type_.into(),
            status: if status { "True" } else { "False" }.into(),
            reason: reason.map(str::to_string),
            message,
            last_transition_time: Some(Time(since)),
            last_probe_time: None,
            observed_generation: None,
        }
    }

    /// The API status of the pod now (kubelet's `generateAPIPodStatus`).
    pub fn status(&mut self, now: Timestamp) -> PodStatus {
        let phase = self.phase();
        let statuses: Vec<ContainerStatus> = self
            .spec
            .containers
            .iter()
            .zip(&self.containers)
            .map(|(s, c)| self.container_status(s, c, now))
            .collect();
        let sandbox_up = matches!(self.sandbox, Sandbox::Ready { .. });
        let init_statuses: Vec<ContainerStatus> = self
            .spec
            .init_containers
            .iter()
            .map(|(s, sidecar)| init_status(s, *sidecar, sandbox_up, self.sandbox_time))
            .collect();
        let initialized = sandbox_up || self.sandbox_time.is_some();

        let unready: Vec<&str> = statuses
            .iter()
            .filter(|s| !s.ready)
            .map(|s| s.name.as_str())
            .collect();
        let completed = phase == "Succeeded";
        let (ready, reason, message) = if completed {
            (false, Some("PodCompleted"), None)
        } else if unready.is_empty() {
            (true, None, None)
        } else {
            (
                false,
                Some("ContainersNotReady"),
                Some(format!(
                    "containers with unready status: [{}]",
                    unready.join(" ")
                )),
            )
        };
        let conditions = vec![
            self.condition(now, "PodReadyToStartContainers", sandbox_up, None, None),
            self.condition(
                now,
                "Initialized",
                initialized,
                (!initialized).then_some("ContainersNotInitialized"),
                None,
            ),
            self.condition(now, "Ready", ready, reason, message.clone()),
            self.condition(now, "ContainersReady", ready, reason, message),
            self.condition(now, "PodScheduled", true, None, None),
        ];
        let pod_ip = self.pod_ip.map(|ip| ip.to_string());
        PodStatus {
            phase: Some(phase.into()),
            conditions: Some(conditions),
            host_ip: Some(self.host_ip.clone()),
            host_ips: Some(vec![HostIP {
                ip: self.host_ip.clone(),
            }]),
            pod_ips: pod_ip.clone().map(|ip| vec![PodIP { ip }]),
            pod_ip,
            start_time: self.start_time.map(Time),
            container_statuses: Some(statuses),
            init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
            ..Default::default()
        }
    }
}

/// Init containers of a simulated pod complete as soon as the sandbox is up;
/// sidecars keep running.
fn init_status(
    spec: &ContainerSpec,
    sidecar: bool,
    sandbox_up: bool,
    at: Option<Timestamp>,
) -> ContainerStatus {
    let state = match (at, sidecar && sandbox_up) {
        (Some(at), true) => ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(Time(at)),
            }),
            ..Default::default()
        },
        (Some(at), false) => ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 0,
                reason: Some("Completed".into()),
                started_at: Some(Time(at)),
                finished_at: Some(Time(at)),
                ..Default::default()
            }),
            ..Default::default()
        },
        (None, _) => ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("PodInitializing".into()),
                message: None,
            }),
            ..Default::default()
        },
    };
    let running = state.running.is_some();
    ContainerStatus {
        name: spec.name.clone(),
        image: spec.image.clone(),
        image_id: spec.image.clone(),
        ready: running || state.terminated.is_some(),
        started: Some(running),
        restart_count: 0,
        state: Some(state),
        last_state: Some(ContainerState::default()),
        ..Default::default()
    }
}

fn signed(d: Duration) -> k8s_openapi::jiff::SignedDuration {
    k8s_openapi::jiff::SignedDuration::try_from(d).unwrap_or(k8s_openapi::jiff::SignedDuration::MAX)
}

/// Go's `time.Duration.String()` for whole seconds and minutes: `10s`, `1m20s`, `5m0s`.
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 3600, secs / 60 % 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}
