//! The pod worker against a fake runtime and a fake clock.

use super::*;

fn t0() -> Timestamp {
    Timestamp::from_second(1_700_000_000).expect("valid time")
}

/// A fake driver: carries out every action at once, at the fake time.
struct Harness {
    worker: PodWorker,
    now: Timestamp,
    ids: u32,
    deleted: bool,
    stops: Vec<Duration>,
}

impl Harness {
    fn new(policy: RestartPolicy, readiness: Readiness, containers: usize) -> Harness {
        let spec = PodSpec {
            uid: "uid-1".into(),
            namespace: "default".into(),
            name: "p".into(),
            restart_policy: policy,
            containers: (0..containers)
                .map(|i| ContainerSpec {
                    name: format!("c{i}"),
                    image: "busybox".into(),
                })
                .collect(),
            init_containers: Vec::new(),
            readiness,
        };
        let mut h = Harness {
            worker: PodWorker::new(spec, "172.16.0.1".into(), None),
            now: t0(),
            ids: 0,
            deleted: false,
            stops: Vec::new(),
        };
        h.settle();
        h
    }

    fn settle(&mut self) {
        loop {
            let actions = self.worker.sync(self.now);
            if actions.is_empty() {
                return;
            }
            for a in actions {
                let ev = match a {
                    Action::RunSandbox => Event::SandboxReady {
                        sandbox_id: "sb".into(),
                        ip: IpAddr::from([10, 42, 0, 2]),
                    },
                    Action::StartContainer { index, .. } => {
                        self.ids += 1;
                        Event::ContainerStarted {
                            index,
                            container_id: format!("sim://{}", self.ids),
                            started_at: self.now,
                        }
                    }
                    Action::StopContainer {
                        container_id,
                        grace,
                        ..
                    } => {
                        self.stops.push(grace);
                        Event::ContainerExited {
                            container_id,
                            exit_code: 0,
                            finished_at: self.now,
                        }
                    }
                    Action::RemoveSandbox { .. } => {
                        self.worker.sandbox_removed();
                        continue;
                    }
                    Action::DeletePod => {
                        self.deleted = true;
                        continue;
                    }
                };
                self.worker.handle(self.now, ev);
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.settle();
    }

    /// Container 0 exits with `code` now.
    fn exit(&mut self, code: i32) {
        let (_, id) = self.worker.running_containers()[0].clone();
        self.worker.handle(
            self.now,
            Event::ContainerExited {
                container_id: id,
                exit_code: code,
                finished_at: self.now,
            },
        );
        self.settle();
    }

    fn status(&mut self) -> PodStatus {
        self.worker.status(self.now)
    }

    fn container(&mut self) -> ContainerStatus {
        self.status().container_statuses.expect("statuses")[0].clone()
    }

    fn phase(&mut self) -> String {
        self.status().phase.unwrap_or_default()
    }

    fn condition(&mut self, type_: &str) -> PodCondition {
        self.status()
            .conditions
            .expect("conditions")
            .into_iter()
            .find(|c| c.type_ == type_)
            .expect("condition")
    }
}

fn waiting_reason(c: &ContainerStatus) -> Option<String> {
    c.state.as_ref()?.waiting.as_ref()?.reason.clone()
}

fn terminated(c: &ContainerStatus) -> Option<(i32, String)> {
    let t = c.state.as_ref()?.terminated.as_ref()?;
    Some((t.exit_code, t.reason.clone().unwrap_or_default()))
}

#[test]
fn starts_running_and_ready_with_conditions() {
    let mut h = Harness::new(RestartPolicy::Always, Readiness::Immediate, 2);
    let s = h.status();
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(s.pod_ip.as_deref(), Some("10.42.0.2"));
    assert_eq!(s.host_ip.as_deref(), Some("172.16.0.1"));
    assert_eq!(s.start_time, Some(Time(t0())));
    for c in s.container_statuses.iter().flatten() {
        assert!(c.ready && c.started == Some(true));
        assert!(c.state.as_ref().and_then(|s| s.running.as_ref()).is_some());
        assert!(
            c.container_id
                .as_deref()
                .is_some_and(|id| id.starts_with("sim://"))
        );
    }
    let types: Vec<(String, String)> = s
        .conditions
        .iter()
        .flatten()
        .map(|c| (c.type_.clone(), c.status.clone()))
        .collect();
    for want in [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ] {
        assert!(
            types.contains(&(want.to_string(), "True".to_string())),
            "{want} in {types:?}"
        );
    }
    assert_eq!(h.worker.next_wakeup(h.now), None);
}

#[test]
fn exit_by_restart_policy() {
    use RestartPolicy::*;
    // policy, exit code -> phase, restartCount, waiting reason, terminated
    // (exit code, reason): after the first exit, then after the second.
    struct Case {
        policy: RestartPolicy,
        code: i32,
        first: (
            &'static str,
            i32,
            Option<&'static str>,
            Option<(i32, &'static str)>,
        ),
        second: Option<(&'static str, i32, Option<&'static str>)>,
    }
    let cases = [
        // kubelet restarts at once after the first exit, then backs off.
        Case {
            policy: Always,
            code: 0,
            first: ("Running", 1, None, None),
            second: Some(("Running", 1, Some("CrashLoopBackOff"))),
        },
        Case {
            policy: Always,
            code: 1,
            first: ("Running", 1, None, None),
            second: Some(("Running", 1, Some("CrashLoopBackOff"))),
        },
        Case {
            policy: OnFailure,
            code: 0,
            first: ("Succeeded", 0, None, Some((0, "Completed"))),
            second: None,
        },
        Case {
            policy: OnFailure,
            code: 1,
            first: ("Running", 1, None, None),
            second: Some(("Running", 1, Some("CrashLoopBackOff"))),
        },
        Case {
            policy: OnFailure,
            code: 137,
            first: ("Running", 1, None, None),
            second: Some(("Running", 1, Some("CrashLoopBackOff"))),
        },
        Case {
            policy: Never,
            code: 0,
            first: ("Succeeded", 0, None, Some((0, "Completed"))),
            second: None,
        },
        Case {
            policy: Never,
            code: 1,
            first: ("Failed", 0, None, Some((1, "Error"))),
            second: None,
        },
        Case {
            policy: Never,
            code: 2,
            first: ("Failed", 0, None, Some((2, "Error"))),
            second: None,
        },
    ];
    for case in cases {
        let name = format!("{:?} exit {}", case.policy, case.code);
        let mut h = Harness::new(case.policy, Readiness::Immediate, 1);
        h.advance(Duration::from_secs(3));
        h.exit(case.code);
        let c = h.container();
        let (phase, restarts, waiting, term) = case.first;
        assert_eq!(h.phase(), phase, "{name}: phase");
        assert_eq!(c.restart_count, restarts, "{name}: restartCount");
        assert_eq!(waiting_reason(&c).as_deref(), waiting, "{name}: waiting");
        assert_eq!(
            terminated(&c),
            term.map(|(c, r)| (c, r.to_string())),
            "{name}: terminated"
        );
        if restarts > 0 {
            // The run that ended is the last state.
            let last = c.last_state.and_then(|s| s.terminated).expect("lastState");
            assert_eq!(last.exit_code, case.code, "{name}: lastState");
        }
        if term.is_some() {
            assert_eq!(h.condition("Ready").status, "False", "{name}");
            if phase == "Succeeded" {
                assert_eq!(h.condition("Ready").reason.as_deref(), Some("PodCompleted"));
            }
            assert_eq!(h.worker.next_wakeup(h.now), None, "{name}: no more wakeups");
        }
        if let Some((phase, restarts, waiting)) = case.second {
            h.advance(Duration::from_secs(3));
            h.exit(case.code);
            let c = h.container();
            assert_eq!(h.phase(), phase, "{name}: second phase");
            assert_eq!(c.restart_count, restarts, "{name}: second restartCount");
            assert_eq!(
                waiting_reason(&c).as_deref(),
                waiting,
                "{name}: second waiting"
            );
            assert!(!c.ready);
            assert_eq!(
                h.condition("ContainersReady").reason.as_deref(),
                Some("ContainersNotReady")
            );
        }
    }
}

#[test]
fn crash_loop_back_off_doubles_to_five_minutes() {
    let mut h = Harness::new(RestartPolicy::Always, Readiness::Immediate, 1);
    h.advance(Duration::from_secs(1));
    h.exit(1); // first exit: restarted at once
    assert_eq!(h.container().restart_count, 1);
    let mut restarts = 1;
    for want in [10, 20, 40, 80, 160, 300, 300] {
        h.advance(Duration::from_secs(1));
        h.exit(1);
        let c = h.container();
        assert_eq!(waiting_reason(&c).as_deref(), Some("CrashLoopBackOff"));
        let message = c
            .state
            .and_then(|s| s.waiting)
            .and_then(|w| w.message)
            .unwrap_or_default();
        let want_text = if want < 60 {
            format!("back-off {want}s restarting failed container=c0 pod=p_default(uid-1)")
        } else {
            format!(
                "back-off {}m{}s restarting failed container=c0 pod=p_default(uid-1)",
                want / 60,
                want % 60
            )
        };
        assert_eq!(message, want_text);
        assert_eq!(c.restart_count, restarts);
        assert_eq!(
            h.worker.next_wakeup(h.now),
            Some(h.now + Duration::from_secs(want)),
            "wakes when the back-off ends"
        );
        // Still waiting just before the back-off ends.
        h.advance(Duration::from_secs(want - 1));
        assert_eq!(
            waiting_reason(&h.container()).as_deref(),
            Some("CrashLoopBackOff")
        );
        h.advance(Duration::from_secs(1));
        restarts += 1;
        let c = h.container();
        assert_eq!(c.restart_count, restarts, "restarted after {want}s");
        assert!(c.state.and_then(|s| s.running).is_some());
    }
}

#[test]
fn back_off_resets_after_ten_minutes_of_running() {
    let mut h = Harness::new(RestartPolicy::Always, Readiness::Immediate, 1);
    h.exit(1);
    h.advance(Duration::from_secs(1));
    h.exit(1);
    assert_eq!(
        waiting_reason(&h.container()).as_deref(),
        Some("CrashLoopBackOff")
    );
    h.advance(Duration::from_secs(10));
    // Runs fine for longer than twice the ceiling: the next crash restarts at once.
    h.advance(Duration::from_secs(601));
    h.exit(1);
    let c = h.container();
    assert_eq!(waiting_reason(&c), None);
    assert_eq!(c.restart_count, 3);
}

#[test]
fn ready_after_delays_readiness() {
    let mut h = Harness::new(
        RestartPolicy::Always,
        Readiness::After(Duration::from_secs(2)),
        1,
    );
    assert_eq!(h.phase(), "Running");
    assert!(!h.container().ready);
    let ready = h.condition("Ready");
    assert_eq!(ready.status, "False");
    assert_eq!(
        ready.message.as_deref(),
        Some("containers with unready status: [c0]")
    );
    assert_eq!(
        h.worker.next_wakeup(h.now),
        Some(t0() + Duration::from_secs(2))
    );
    h.advance(Duration::from_millis(1999));
    assert!(!h.container().ready);
    h.advance(Duration::from_millis(1));
    assert!(h.container().ready);
    let ready = h.condition("Ready");
    assert_eq!(ready.status, "True");
    assert_eq!(
        ready.last_transition_time,
        Some(Time(t0() + Duration::from_secs(2)))
    );
    assert_eq!(h.worker.next_wakeup(h.now), None);
}

#[test]
fn never_ready() {
    let mut h = Harness::new(RestartPolicy::Always, Readiness::Never, 1);
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.phase(), "Running");
    assert_eq!(h.condition("Ready").status, "False");
    assert_eq!(h.worker.next_wakeup(h.now), None);
}

#[test]
fn graceful_deletion_stops_then_deletes() {
    let mut h = Harness::new(RestartPolicy::Always, Readiness::Immediate, 2);
    h.worker.handle(
        h.now,
        Event::DeletionRequested {
            grace: Duration::from_secs(30),
        },
    );
    assert!(h.worker.is_terminating());
    h.settle();
    assert_eq!(h.stops, vec![Duration::from_secs(30); 2]);
    assert!(h.deleted, "deleted once every container stopped");
    assert_eq!(
        h.phase(),
        "Succeeded",
        "kubelet makes a deleted pod terminal"
    );
    for c in h.status().container_statuses.iter().flatten() {
        assert_eq!(terminated(c), Some((0, "Completed".into())));
    }
    // Nothing is restarted while terminating.
    h.advance(Duration::from_secs(60));
    assert_eq!(h.container().restart_count, 0);
}

#[test]
fn deletion_in_back_off_deletes_at_once() {
    let mut h = Harness::new(RestartPolicy::Always, Readiness::Immediate, 1);
    h.exit(1);
    h.exit(1);
    assert_eq!(
        waiting_reason(&h.container()).as_deref(),
        Some("CrashLoopBackOff")
    );
    h.worker.handle(
        h.now,
        Event::DeletionRequested {
            grace: Duration::from_secs(30),
        },
    );
    h.settle();
    assert!(h.stops.is_empty());
    assert!(h.deleted);
    assert_eq!(h.phase(), "Failed");
}

#[test]
fn adopted_terminal_pod_is_left_alone() {
    let spec = PodSpec {
        uid: "u".into(),
        namespace: "default".into(),
        name: "done".into(),
        restart_policy: RestartPolicy::Never,
        containers: vec![ContainerSpec {
            name: "c".into(),
            image: "i".into(),
        }],
        init_containers: Vec::new(),
        readiness: Readiness::Immediate,
    };
    let status = PodStatus {
        phase: Some("Succeeded".into()),
        ..Default::default()
    };
    let mut w = PodWorker::new(spec, "h".into(), Some(&status));
    assert!(!w.publishes_status());
    assert!(w.sync(t0()).is_empty());
    w.handle(
        t0(),
        Event::DeletionRequested {
            grace: Duration::ZERO,
        },
    );
    assert_eq!(w.sync(t0()), vec![Action::DeletePod]);
}

#[test]
fn go_durations() {
    assert_eq!(go_duration(Duration::from_secs(10)), "10s");
    assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
    assert_eq!(go_duration(Duration::from_secs(160)), "2m40s");
}
