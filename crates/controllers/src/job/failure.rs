//! How a Job judges failed pods (upstream `pod_failure_policy.go` and
//! `backoff_utils.go`): which pods count as failed, what the pod failure
//! policy says about one, when a pod finished, and how long to wait before
//! replacing failed pods (10 s, doubling per consecutive failure, at most
//! 6 min).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, PodFailurePolicy};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::jiff::Timestamp;

/// Upstream `DefaultJobPodFailureBackOff`.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream `MaxJobPodFailureBackOff`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(360);

/// What a pod failure policy rule does with a matching pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    FailJob,
    Ignore,
    Count,
    FailIndex,
}

/// The outcome of matching a failed pod against the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Set when a `FailJob` rule matched: the Job's failure message.
    pub fail_job: Option<String>,
    /// Whether the failure counts towards `backoffLimit`.
    pub counts: bool,
    /// The matched rule's action.
    pub action: Option<Action>,
}

fn phase(p: &Pod) -> Option<&str> {
    p.status.as_ref()?.phase.as_deref()
}

/// `onlyReplaceFailedPods`: replacements wait for pods to be Failed.
pub fn only_replace_failed(job: &Job) -> bool {
    job.spec.as_ref().is_some_and(|s| {
        s.pod_replacement_policy.as_deref() == Some("Failed") || s.pod_failure_policy.is_some()
    })
}

/// `isPodFailed`: Failed, or (unless only failed pods are replaced) deleted
/// before succeeding, which counts orphans that never reach a phase.
pub fn is_pod_failed(pod: &Pod, job: &Job) -> bool {
    if phase(pod) == Some("Failed") {
        return true;
    }
    if only_replace_failed(job) {
        return false;
    }
    pod.metadata.deletion_timestamp.is_some() && phase(pod) != Some("Succeeded")
}

fn terminated_matching<'a>(
    statuses: Option<&'a Vec<ContainerStatus>>,
    req: &k8s_openapi::api::batch::v1::PodFailurePolicyOnExitCodesRequirement,
) -> Option<(&'a ContainerStatus, i32)> {
    statuses?.iter().find_map(|cs| {
        let code = cs.state.as_ref()?.terminated.as_ref()?.exit_code;
        if req.container_name.as_ref().is_some_and(|n| *n != cs.name) || code == 0 {
            return None;
        }
        let listed = req.values.contains(&code);
        let ok = match req.operator.as_str() {
            "In" => listed,
            "NotIn" => !listed,
            _ => false,
        };
        ok.then_some((cs, code))
    })
}

/// `matchPodFailurePolicy`: the first rule that matches the failed pod
/// decides; no match counts the failure.
pub fn match_policy(policy: Option<&PodFailurePolicy>, pod: &Pod) -> Verdict {
    let none = Verdict {
        fail_job: None,
        counts: true,
        action: None,
    };
    let Some(policy) = policy else {
        return none;
    };
    let status = pod.status.as_ref();
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    for (index, rule) in policy.rules.iter().enumerate() {
        let matched: Option<String> = if let Some(req) = &rule.on_exit_codes {
            let st = status.and_then(|s| {
                terminated_matching(s.container_statuses.as_ref(), req)
                    .or_else(|| terminated_matching(s.init_container_statuses.as_ref(), req))
            });
            st.map(|(cs, code)| {
                format!(
                    "Container {} for pod {ns}/{name} failed with exit code {code} matching {} rule at index {index}",
                    cs.name, rule.action
                )
            })
        } else if let Some(patterns) = &rule.on_pod_conditions {
            status
                .and_then(|s| s.conditions.as_ref())
                .and_then(|conds| {
                    conds.iter().find(|c| {
                        patterns.iter().any(|p| {
                            p.type_ == c.type_
                                && (if p.status.is_empty() {
                                    "True"
                                } else {
                                    p.status.as_str()
                                }) == c.status
                        })
                    })
                })
                .map(|c| {
                    format!(
                        "Pod {ns}/{name} has condition {} matching {} rule at index {index}",
                        c.type_, rule.action
                    )
                })
        } else {
            None
        };
        let Some(message) = matched else {
            continue;
        };
        return match rule.action.as_str() {
            "Ignore" => Verdict {
                fail_job: None,
                counts: false,
                action: Some(Action::Ignore),
            },
            "Count" => Verdict {
                fail_job: None,
                counts: true,
                action: Some(Action::Count),
            },
            "FailIndex" => Verdict {
                fail_job: None,
                counts: true,
                action: Some(Action::FailIndex),
            },
            "FailJob" => Verdict {
                fail_job: Some(message),
                counts: true,
                action: Some(Action::FailJob),
            },
            // An unknown action (a newer API) matches nothing, as upstream.
            _ => continue,
        };
    }
    none
}

/// `getFinishedTime`: when the last container finished, else when the pod
/// stopped being ready, else when it was deleted, else its creation.
pub fn finished_time(p: &Pod) -> Timestamp {
    let status = p.status.as_ref();
    let containers = status.and_then(|s| s.container_statuses.as_ref());
    if let Some(cs) = containers.filter(|c| !c.is_empty()) {
        let ends: Option<Vec<Timestamp>> = cs
            .iter()
            .map(|c| {
                c.state
                    .as_ref()?
                    .terminated
                    .as_ref()?
                    .finished_at
                    .as_ref()
                    .map(|t| t.0)
            })
            .collect();
        if let Some(latest) = ends.and_then(|e| e.into_iter().max()) {
            return latest;
        }
    }
    let not_ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready" && c.status == "False"))
        .and_then(|c| c.last_transition_time.as_ref());
    if let Some(t) = not_ready {
        return t.0;
    }
    if let Some(d) = &p.metadata.deletion_timestamp {
        let grace = p.metadata.deletion_grace_period_seconds.unwrap_or(0);
        return Timestamp::from_second(d.0.as_second() - grace).unwrap_or(d.0);
    }
    p.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or_default()
}

/// Failures since the last success, for the replacement delay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackoffRecord {
    pub failures_after_last_success: u32,
    pub last_failure: Option<Timestamp>,
}

impl BackoffRecord {
    /// `newBackoffRecord`: the record after the newly finished pods. A new
    /// success resets the count to the failures that finished after it.
    pub fn after(self, new_succeeded: &[&Pod], new_failed: &[&Pod]) -> BackoffRecord {
        let mut failed: Vec<Timestamp> = new_failed.iter().map(|p| finished_time(p)).collect();
        failed.sort();
        let last_success = new_succeeded.iter().map(|p| finished_time(p)).max();
        match last_success {
            None if failed.is_empty() => self,
            None => BackoffRecord {
                failures_after_last_success: self.failures_after_last_success + failed.len() as u32,
                last_failure: failed.last().copied(),
            },
            Some(success) => {
                let after: Vec<&Timestamp> = failed.iter().filter(|t| **t > success).collect();
                BackoffRecord {
                    failures_after_last_success: after.len() as u32,
                    last_failure: after.last().map(|t| **t),
                }
            }
        }
    }

    /// `getRemainingTime`: how long to wait before creating replacements.
    pub fn remaining(&self, now: Timestamp) -> Duration {
        let Some(last) = self.last_failure else {
            return Duration::ZERO;
        };
        let delay = backoff_delay(self.failures_after_last_success);
        let elapsed = now.as_millisecond() - last.as_millisecond();
        let elapsed = Duration::from_millis(elapsed.max(0) as u64);
        delay.saturating_sub(elapsed)
    }
}

/// `getRemainingTimePerIndex`: how long an index of a Job with
/// `backoffLimitPerIndex` waits before its next pod, from the latest failed
/// pod of the index (none: no failure yet). Every earlier failure of the
/// index, ignored ones too, lengthens the delay.
pub fn remaining_per_index(last_failed: Option<&Pod>, now: Timestamp) -> Duration {
    let Some(p) = last_failed else {
        return Duration::ZERO;
    };
    let failures = super::indexes::index_absolute_failure_count(p).max(0) as u32 + 1;
    let elapsed = now.as_millisecond() - finished_time(p).as_millisecond();
    let elapsed = Duration::from_millis(elapsed.max(0) as u64);
    backoff_delay(failures).saturating_sub(elapsed)
}

/// The delay after `failures` consecutive failures: 10 s, 20 s, 40 s … 6 min.
pub fn backoff_delay(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let mut d = DEFAULT_BACKOFF;
    for _ in 1..failures {
        d *= 2;
        if d >= MAX_BACKOFF {
            return MAX_BACKOFF;
        }
    }
    d
}

/// Backoff records by Job (namespace/name/uid), kept in memory as upstream.
#[derive(Default)]
pub struct BackoffStore(Mutex<HashMap<String, BackoffRecord>>);

impl BackoffStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BackoffRecord>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored record (empty when there is none).
    pub fn get(&self, key: &str) -> BackoffRecord {
        self.lock().get(key).copied().unwrap_or_default()
    }

    /// Stores the record of a sync whose status was written.
    pub fn set(&self, key: &str, record: BackoffRecord) {
        self.lock().insert(key.to_string(), record);
    }

    /// Forgets a finished or deleted Job.
    pub fn remove(&self, key: &str) {
        self.lock().remove(key);
    }
}

/// `pastBackoffLimitOnFailure`: with `restartPolicy: OnFailure` the
/// container restarts of running pods count against `backoffLimit`.
pub fn past_backoff_limit_on_failure(job: &Job, pods: &[&Pod]) -> bool {
    let spec = job.spec.as_ref();
    let restart = spec
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.restart_policy.as_deref());
    if restart != Some("OnFailure") {
        return false;
    }
    let limit = spec.and_then(|s| s.backoff_limit).unwrap_or(6);
    let restarts: i32 = pods
        .iter()
        .filter(|p| matches!(phase(p), Some("Running" | "Pending")))
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .map(|c| c.restart_count)
        .sum();
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("bad pod: {e}"))
    }

    fn failed_pod(code: i32, finished: &str) -> Pod {
        pod(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "status": {
                "phase": "Failed",
                "conditions": [{"type": "DisruptionTarget", "status": "True"}],
                "containerStatuses": [{
                    "name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": code, "finishedAt": finished}},
                }],
            },
        }))
    }

    fn policy(v: serde_json::Value) -> PodFailurePolicy {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("bad policy: {e}"))
    }

    #[test]
    fn pod_failure_policy_first_matching_rule_wins() {
        let p = policy(json!({"rules": [
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}},
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1]}},
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]}));
        let t = "2024-01-01T00:00:00Z";
        let v = match_policy(Some(&p), &failed_pod(3, t));
        assert_eq!((v.counts, v.action), (false, Some(Action::Ignore)));
        let v = match_policy(Some(&p), &failed_pod(42, t));
        assert_eq!(
            v.fail_job.as_deref(),
            Some(
                "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1"
            )
        );
        let v = match_policy(Some(&p), &failed_pod(7, t));
        assert_eq!((v.counts, v.action), (true, Some(Action::Count)));
        // Exit code 1 skips the exit-code rules; the pod condition matches.
        let v = match_policy(Some(&p), &failed_pod(1, t));
        assert_eq!((v.counts, v.action), (false, Some(Action::Ignore)));
        // No policy: every failure counts.
        assert!(match_policy(None, &failed_pod(1, t)).counts);
    }

    #[test]
    fn pod_condition_rules_name_the_condition() {
        let p = policy(json!({"rules": [
            {"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        ]}));
        let v = match_policy(Some(&p), &failed_pod(1, "2024-01-01T00:00:00Z"));
        assert_eq!(
            v.fail_job.as_deref(),
            Some("Pod ns/p has condition DisruptionTarget matching FailJob rule at index 0")
        );
    }

    #[test]
    fn backoff_doubles_up_to_six_minutes() {
        let secs: Vec<u64> = (0..8).map(|n| backoff_delay(n).as_secs()).collect();
        assert_eq!(secs, [0, 10, 20, 40, 80, 160, 320, 360]);
    }

    #[test]
    fn backoff_record_counts_failures_after_the_last_success() {
        let f1 = failed_pod(1, "2024-01-01T00:00:10Z");
        let f2 = failed_pod(1, "2024-01-01T00:00:30Z");
        let ok = pod(
            json!({"status": {"phase": "Succeeded", "containerStatuses": [{
                "name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "finishedAt": "2024-01-01T00:00:20Z"}},
            }]}}),
        );
        let r = BackoffRecord::default().after(&[], &[&f1, &f2]);
        assert_eq!(r.failures_after_last_success, 2);
        let r = BackoffRecord::default().after(&[&ok], &[&f1, &f2]);
        assert_eq!(r.failures_after_last_success, 1);
        let last: Timestamp = "2024-01-01T00:00:30Z".parse().unwrap_or_default();
        assert_eq!(r.last_failure, Some(last));
        // One failure: wait 10 s from its end.
        let now: Timestamp = "2024-01-01T00:00:34Z".parse().unwrap_or_default();
        assert_eq!(r.remaining(now), Duration::from_secs(6));
        let later: Timestamp = "2024-01-01T00:01:00Z".parse().unwrap_or_default();
        assert_eq!(r.remaining(later), Duration::ZERO);
        assert_eq!(
            BackoffRecord::default().after(&[&ok], &[]).last_failure,
            None
        );
    }

    #[test]
    fn deleted_pods_count_as_failed_unless_only_failed_pods_are_replaced() {
        let deleted = pod(
            json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"},
            "status": {"phase": "Running"}}),
        );
        let job: Job = serde_json::from_value(json!({"spec": {"template": {}}}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(is_pod_failed(&deleted, &job));
        let strict: Job = serde_json::from_value(
            json!({"spec": {"template": {}, "podReplacementPolicy": "Failed"}}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(!is_pod_failed(&deleted, &strict));
    }
}
