//! Rows of workload kinds: pods and the controllers that own them, plus the
//! policies that act on them (PodDisruptionBudget, HorizontalPodAutoscaler).

use std::collections::HashMap;

use serde_json::Value;
use time::OffsetDateTime;

use super::{
    Clock, bool_ptr, container_cells, format_label_selector, format_labels, int_at, list_at, name,
    parse_time, quantity_ptr, selector_string, str_at,
};

/// kubelet's `NodeUnreachablePodReason`, set on pods of a lost node.
const NODE_LOST: &str = "NodeLost";

/// The latest of two optional instants (`None` is Go's zero time).
fn later(
    current: Option<OffsetDateTime>,
    candidate: Option<OffsetDateTime>,
) -> Option<OffsetDateTime> {
    match (current, candidate) {
        (Some(a), Some(b)) if b > a => Some(b),
        (None, b) => b,
        (a, _) => a,
    }
}

fn has_condition(conditions: &Value, type_: &str, status: &str) -> bool {
    list_at(conditions)
        .iter()
        .any(|c| str_at(&c["type"]) == type_ && str_at(&c["status"]) == status)
}

/// READY, STATUS and RESTARTS follow upstream's `printPod`: init containers are
/// looked at first (the first one not done names the status), then app
/// containers from last to first, then deletion.
pub(super) fn pod(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    let status = &o["status"];
    let phase = str_at(&status["phase"]);
    let mut reason = match str_at(&status["reason"]) {
        "" => phase.to_owned(),
        r => r.to_owned(),
    };
    if list_at(&status["conditions"])
        .iter()
        .any(|c| str_at(&c["type"]) == "PodScheduled" && str_at(&c["reason"]) == "SchedulingGated")
    {
        reason = "SchedulingGated".to_owned();
    }

    let init_containers = list_at(&spec["initContainers"]);
    // Sidecars (restartPolicy Always) count as containers of the pod.
    let restartable: HashMap<&str, bool> = init_containers
        .iter()
        .map(|c| (str_at(&c["name"]), str_at(&c["restartPolicy"]) == "Always"))
        .collect();
    let total = list_at(&spec["containers"]).len() + restartable.values().filter(|r| **r).count();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart = None;
    let mut last_sidecar_restart = None;

    let mut initializing = false;
    for (i, cs) in list_at(&status["initContainerStatuses"]).iter().enumerate() {
        let count = int_at(&cs["restartCount"]);
        let finished = last_termination(cs);
        restarts += count;
        last_restart = later(last_restart, finished);
        let is_sidecar = restartable
            .get(str_at(&cs["name"]))
            .copied()
            .unwrap_or(false);
        if is_sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }
        let terminated = &cs["state"]["terminated"];
        let waiting_reason = str_at(&cs["state"]["waiting"]["reason"]);
        if !terminated.is_null() && int_at(&terminated["exitCode"]) == 0 {
            continue;
        }
        if is_sidecar && cs["started"].as_bool() == Some(true) {
            if cs["ready"].as_bool() == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = if !terminated.is_null() {
            match str_at(&terminated["reason"]) {
                "" => match int_at(&terminated["signal"]) {
                    0 => format!("Init:ExitCode:{}", int_at(&terminated["exitCode"])),
                    signal => format!("Init:Signal:{signal}"),
                },
                r => format!("Init:{r}"),
            }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_containers.len())
        };
        initializing = true;
        break;
    }

    if !initializing || initialized_condition_true(&status["conditions"]) {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for cs in list_at(&status["containerStatuses"]).iter().rev() {
            restarts += int_at(&cs["restartCount"]);
            last_restart = later(last_restart, last_termination(cs));
            let waiting = &cs["state"]["waiting"];
            let terminated = &cs["state"]["terminated"];
            if !waiting.is_null() && !str_at(&waiting["reason"]).is_empty() {
                reason = str_at(&waiting["reason"]).to_owned();
            } else if !terminated.is_null() {
                reason = match str_at(&terminated["reason"]) {
                    "" => match int_at(&terminated["signal"]) {
                        0 => format!("ExitCode:{}", int_at(&terminated["exitCode"])),
                        signal => format!("Signal:{signal}"),
                    },
                    r => r.to_owned(),
                };
            } else if cs["ready"].as_bool() == Some(true) && !cs["state"]["running"].is_null() {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last container completed but another still runs is not done.
        if reason == "Completed" && has_running {
            reason = if has_condition(&status["conditions"], "Ready", "True") {
                "Running".to_owned()
            } else {
                "NotReady".to_owned()
            };
        }
    }

    let deleting = !o["metadata"]["deletionTimestamp"].is_null();
    if deleting && str_at(&status["reason"]) == NODE_LOST {
        reason = "Unknown".to_owned();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_owned();
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", clock.since_time(t)),
        _ => restarts.to_string(),
    };

    let gates = list_at(&spec["readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let conditions = list_at(&status["conditions"]);
        let passing = gates
            .iter()
            .filter(|gate| {
                let wanted = str_at(&gate["conditionType"]);
                conditions
                    .iter()
                    .find(|c| str_at(&c["type"]) == wanted)
                    .is_some_and(|c| str_at(&c["status"]) == "True")
            })
            .count();
        format!("{passing}/{}", gates.len())
    };

    vec![
        name(o),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts_cell.into(),
        clock.age(o),
        super::or(&status["podIPs"][0]["ip"], "<none>").into(),
        super::or(&spec["nodeName"], "<none>").into(),
        super::or(&status["nominatedNodeName"], "<none>").into(),
        readiness_gates.into(),
    ]
}

/// When the container last terminated, if it ever restarted.
fn last_termination(cs: &Value) -> Option<OffsetDateTime> {
    let terminated = &cs["lastState"]["terminated"];
    if terminated.is_null() {
        return None;
    }
    parse_time(&terminated["finishedAt"])
}

fn initialized_condition_true(conditions: &Value) -> bool {
    list_at(conditions)
        .iter()
        .find(|c| str_at(&c["type"]) == "Initialized")
        .is_some_and(|c| str_at(&c["status"]) == "True")
}

pub(super) fn pod_template(o: &Value, _: &Clock) -> Vec<Value> {
    let template = &o["template"];
    let (names, images) = container_cells(&template["spec"]);
    vec![
        name(o),
        names,
        images,
        format_labels(&template["metadata"]["labels"]).into(),
    ]
}

pub(super) fn replication_controller(o: &Value, clock: &Clock) -> Vec<Value> {
    let (names, images) = container_cells(&o["spec"]["template"]["spec"]);
    vec![
        name(o),
        int_at(&o["spec"]["replicas"]).into(),
        int_at(&o["status"]["replicas"]).into(),
        int_at(&o["status"]["readyReplicas"]).into(),
        clock.age(o),
        names,
        images,
        format_labels(&o["spec"]["selector"]).into(),
    ]
}

pub(super) fn replica_set(o: &Value, clock: &Clock) -> Vec<Value> {
    let (names, images) = container_cells(&o["spec"]["template"]["spec"]);
    vec![
        name(o),
        int_at(&o["spec"]["replicas"]).into(),
        int_at(&o["status"]["replicas"]).into(),
        int_at(&o["status"]["readyReplicas"]).into(),
        clock.age(o),
        names,
        images,
        format_label_selector(&o["spec"]["selector"]).into(),
    ]
}

pub(super) fn deployment(o: &Value, clock: &Clock) -> Vec<Value> {
    let (names, images) = container_cells(&o["spec"]["template"]["spec"]);
    // Unlike the other controllers, an empty selector prints as "" here.
    let selector =
        selector_string(&o["spec"]["selector"]).unwrap_or_else(|()| "<invalid>".to_owned());
    vec![
        name(o),
        format!(
            "{}/{}",
            int_at(&o["status"]["readyReplicas"]),
            int_at(&o["spec"]["replicas"])
        )
        .into(),
        int_at(&o["status"]["updatedReplicas"]).into(),
        int_at(&o["status"]["availableReplicas"]).into(),
        clock.age(o),
        names,
        images,
        selector.into(),
    ]
}

pub(super) fn stateful_set(o: &Value, clock: &Clock) -> Vec<Value> {
    let (names, images) = container_cells(&o["spec"]["template"]["spec"]);
    vec![
        name(o),
        format!(
            "{}/{}",
            int_at(&o["status"]["readyReplicas"]),
            int_at(&o["spec"]["replicas"])
        )
        .into(),
        clock.age(o),
        names,
        images,
    ]
}

pub(super) fn daemon_set(o: &Value, clock: &Clock) -> Vec<Value> {
    let status = &o["status"];
    let (names, images) = container_cells(&o["spec"]["template"]["spec"]);
    vec![
        name(o),
        int_at(&status["desiredNumberScheduled"]).into(),
        int_at(&status["currentNumberScheduled"]).into(),
        int_at(&status["numberReady"]).into(),
        int_at(&status["updatedNumberScheduled"]).into(),
        int_at(&status["numberAvailable"]).into(),
        format_labels(&o["spec"]["template"]["spec"]["nodeSelector"]).into(),
        clock.age(o),
        names,
        images,
        format_label_selector(&o["spec"]["selector"]).into(),
    ]
}

/// Status of the first condition of a type; upstream's `hasJobCondition`.
fn job_condition(conditions: &Value, type_: &str) -> bool {
    list_at(conditions)
        .iter()
        .find(|c| str_at(&c["type"]) == type_)
        .is_some_and(|c| str_at(&c["status"]) == "True")
}

pub(super) fn job(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    let status = &o["status"];
    let succeeded = int_at(&status["succeeded"]);
    let completions = match spec["completions"].as_i64() {
        Some(want) => format!("{succeeded}/{want}"),
        None => match int_at(&spec["parallelism"]) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        parse_time(&status["startTime"]),
        parse_time(&status["completionTime"]),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => clock.since_time(start),
        (Some(start), Some(end)) => super::human_duration_nanos((end - start).whole_nanoseconds()),
    };
    let conditions = &status["conditions"];
    let state = if job_condition(conditions, "Complete") {
        "Complete"
    } else if job_condition(conditions, "Failed") {
        "Failed"
    } else if !o["metadata"]["deletionTimestamp"].is_null() {
        "Terminating"
    } else if job_condition(conditions, "Suspended") {
        "Suspended"
    } else if job_condition(conditions, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = container_cells(&spec["template"]["spec"]);
    vec![
        name(o),
        state.into(),
        completions.into(),
        duration.into(),
        clock.age(o),
        names,
        images,
        format_label_selector(&spec["selector"]).into(),
    ]
}

pub(super) fn cron_job(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    let last_schedule = match &o["status"]["lastScheduleTime"] {
        Value::Null => "<none>".to_owned(),
        t => clock.since(t),
    };
    let job_spec = &spec["jobTemplate"]["spec"];
    let (names, images) = container_cells(&job_spec["template"]["spec"]);
    vec![
        name(o),
        str_at(&spec["schedule"]).into(),
        spec["timeZone"].as_str().unwrap_or("<none>").into(),
        bool_ptr(&spec["suspend"]).into(),
        (list_at(&o["status"]["active"]).len() as i64).into(),
        last_schedule.into(),
        clock.age(o),
        names,
        images,
        format_label_selector(&job_spec["selector"]).into(),
    ]
}

pub(super) fn controller_revision(o: &Value, clock: &Clock) -> Vec<Value> {
    let controller = list_at(&o["metadata"]["ownerReferences"])
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true));
    let controller = match controller {
        None => "<none>".to_owned(),
        Some(r) => {
            // schema.ParseGroupVersion: "v1" is the core group, "g/v" names group g.
            let group = str_at(&r["apiVersion"])
                .rsplit_once('/')
                .map_or("", |(g, _)| g);
            let kind = str_at(&r["kind"]);
            let group_kind = match (group, kind) {
                ("", "") => String::new(),
                ("", k) => k.to_owned(),
                (g, k) => format!("{k}.{g}"),
            };
            let name = str_at(&r["name"]);
            if group_kind.is_empty() {
                name.to_owned()
            } else {
                format!("{}/{name}", group_kind.to_lowercase())
            }
        }
    };
    vec![
        name(o),
        controller.into(),
        int_at(&o["revision"]).into(),
        clock.age(o),
    ]
}

/// `intstr.IntOrString.String()`, or N/A when unset.
fn int_or_string(v: &Value) -> String {
    match v {
        Value::Null => "N/A".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) fn pod_disruption_budget(o: &Value, clock: &Clock) -> Vec<Value> {
    vec![
        name(o),
        int_or_string(&o["spec"]["minAvailable"]).into(),
        int_or_string(&o["spec"]["maxUnavailable"]).into(),
        int_at(&o["status"]["disruptionsAllowed"]).into(),
        clock.age(o),
    ]
}

pub(super) fn horizontal_pod_autoscaler(o: &Value, clock: &Clock) -> Vec<Value> {
    let spec = &o["spec"];
    let target = &spec["scaleTargetRef"];
    let min_pods = match spec["minReplicas"].as_i64() {
        Some(n) => n.to_string(),
        None => "<unset>".to_owned(),
    };
    vec![
        name(o),
        format!("{}/{}", str_at(&target["kind"]), str_at(&target["name"])).into(),
        hpa_targets(o).into(),
        min_pods.into(),
        int_at(&spec["maxReplicas"]).into(),
        int_at(&o["status"]["currentReplicas"]).into(),
        clock.age(o),
    ]
}

/// Upstream's `formatHPAMetrics` over autoscaling/v2 metrics; an autoscaling/v1
/// object is read through its CPU utilization fields, as the v1 conversion does.
fn hpa_targets(o: &Value) -> String {
    let (specs, statuses) = if o["spec"]["metrics"].is_null()
        && !o["spec"]["targetCPUUtilizationPercentage"].is_null()
    {
        let spec = serde_json::json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": o["spec"]["targetCPUUtilizationPercentage"]}}}]);
        let status = match &o["status"]["currentCPUUtilizationPercentage"] {
            Value::Null => serde_json::json!([]),
            current => serde_json::json!([{"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": current}}}]),
        };
        (spec, status)
    } else {
        (
            o["spec"]["metrics"].clone(),
            o["status"]["currentMetrics"].clone(),
        )
    };
    let specs = list_at(&specs);
    let statuses = list_at(&statuses);
    if specs.is_empty() {
        return "<none>".to_owned();
    }
    let percent = |v: &Value| v.as_i64().map(|n| format!("{n}%"));
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let status = statuses.get(i).unwrap_or(&Value::Null);
            let metric = |field: &str| -> (&Value, &Value) { (&spec[field], &status[field]) };
            match str_at(&spec["type"]) {
                kind @ ("External" | "Object") => {
                    let (spec, status) = metric(if kind == "External" {
                        "external"
                    } else {
                        "object"
                    });
                    let target = &spec["target"];
                    if !target["averageValue"].is_null() {
                        let current = match &status["current"]["averageValue"] {
                            v if !status.is_null() && !v.is_null() => quantity_ptr(v),
                            _ => "<unknown>".to_owned(),
                        };
                        format!("{current}/{} (avg)", quantity_ptr(&target["averageValue"]))
                    } else {
                        let current = if status.is_null() {
                            "<unknown>".to_owned()
                        } else {
                            quantity_ptr(&status["current"]["value"])
                        };
                        format!("{current}/{}", quantity_ptr(&target["value"]))
                    }
                }
                "Pods" => {
                    let (spec, status) = metric("pods");
                    let current = if status.is_null() {
                        "<unknown>".to_owned()
                    } else {
                        quantity_ptr(&status["current"]["averageValue"])
                    };
                    format!(
                        "{current}/{}",
                        quantity_ptr(&spec["target"]["averageValue"])
                    )
                }
                kind @ ("Resource" | "ContainerResource") => {
                    let (spec, status) = metric(if kind == "Resource" {
                        "resource"
                    } else {
                        "containerResource"
                    });
                    let resource = str_at(&spec["name"]);
                    let target = &spec["target"];
                    if !target["averageValue"].is_null() {
                        let current = if status.is_null() {
                            "<unknown>".to_owned()
                        } else {
                            quantity_ptr(&status["current"]["averageValue"])
                        };
                        format!(
                            "{resource}: {current}/{}",
                            quantity_ptr(&target["averageValue"])
                        )
                    } else {
                        let current = percent(&status["current"]["averageUtilization"])
                            .unwrap_or_else(|| "<unknown>".to_owned());
                        let target = percent(&target["averageUtilization"])
                            .unwrap_or_else(|| "<auto>".to_owned());
                        format!("{resource}: {current}/{target}")
                    }
                }
                _ => "<unknown type>".to_owned(),
            }
        })
        .collect();
    const MAX: usize = 2;
    if list.len() > MAX {
        format!("{} + {} more...", list[..MAX].join(", "), list.len() - MAX)
    } else {
        list.join(", ")
    }
}
