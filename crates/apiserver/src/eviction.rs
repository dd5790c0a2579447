//! The `pods/eviction` subresource (policy/v1 `Eviction`), as upstream's
//! `pkg/registry/core/pod/storage/eviction.go`: a pod delete that first asks
//! the PodDisruptionBudget covering the pod. The budget's
//! `disruptionsAllowed` is decremented and the pod recorded in
//! `disruptedPods` in one compare-and-swap on the PDB's status; when the
//! budget allows nothing the answer is 429 with upstream's message and a
//! `DisruptionBudget` cause, so clients such as `kubectl drain` retry.
//!
//! Owns: the eviction decision and its writes. Does not own: computing
//! the budget (the disruption controller in `skiff-controllers` does that).

use http::{Response, StatusCode};
use serde_json::{Value, json};
use skiff_core::status::{Cause, GroupResource};
use skiff_core::{Status, labels, meta};

use crate::encoding::{self, Body};
use crate::request::RequestInfo;
use crate::rest::{self, Ctx, Part};

/// Upstream `MaxDisruptedPodSize`: evictions approved but not yet observed
/// by the disruption controller beyond which the API refuses more.
pub const MAX_DISRUPTED_POD_SIZE: usize = 2000;

/// Upstream `EvictionsRetry.Steps`: attempts when the pod or the budget
/// changes under the eviction.
const EVICTION_RETRIES: usize = 20;

/// The message of every 429 of the eviction subresource.
pub const VIOLATES_BUDGET: &str =
    "Cannot evict pod as it would violate the pod's disruption budget.";

/// The message of the 500 for pods covered by more than one budget.
pub const MULTIPLE_BUDGETS: &str = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";

/// `policyv1.DisruptionBudgetCause`.
const DISRUPTION_BUDGET_CAUSE: &str = "DisruptionBudget";

fn now_string() -> String {
    meta::format_time(time::OffsetDateTime::now_utc())
}

/// POST `pods/<name>/eviction`.
pub async fn evict(ctx: &Ctx<'_>, content_type: &str, body: &[u8]) -> rest::Result<Response<Body>> {
    let eviction = encoding::decode(content_type, body)?;
    check_eviction_type(&eviction)?;
    let name = ctx.req.name.clone();
    if meta::name(&eviction) != name {
        return Err(Status::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let ns = meta::namespace(&eviction);
    if !ns.is_empty() && ns != ctx.req.namespace {
        return Err(Status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let mut options = match eviction.get("deleteOptions") {
        Some(Value::Object(o)) => Value::Object(o.clone()),
        _ => json!({}),
    };
    // propagateDryRun: the request's dryRun applies to the deletion too.
    if ctx.query.get("dryRun") == Some("All") && options.get("dryRun").is_none() {
        options["dryRun"] = json!(["All"]);
    }
    let dry_run = options
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == "All"));
    let rv_unset = options
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
        .is_none();

    // Pods that cannot be disrupted further (not running, terminal, already
    // terminating) are deleted without asking any budget.
    let mut pod = Value::Null;
    let mut pod_rv = 0;
    let mut deleted = false;
    for attempt in 0..EVICTION_RETRIES {
        let (current, rv) = rest::read(ctx, &name).await?;
        pod = current;
        pod_rv = rv;
        if !can_ignore_pdb(&pod) {
            break;
        }
        let mut opts = options.clone();
        if should_enforce_resource_version(&pod) && rv_unset {
            // Not racing another PDB-affected writer (the pod becoming ready).
            opts["preconditions"]["resourceVersion"] = json!(rv.to_string());
        }
        match add_condition_and_delete(ctx, &name, &opts, dry_run).await {
            Ok(()) => {
                deleted = true;
                break;
            }
            Err(s) if s.code == 409 && rv_unset && attempt + 1 < EVICTION_RETRIES => continue,
            Err(s) => return Err(s),
        }
    }
    if deleted {
        return Ok(success(ctx));
    }

    let pdbs = budgets_for(ctx, &pod).await?;
    let mut update_deletion_options = false;
    let mut pdb_name = String::new();
    match pdbs.as_slice() {
        [] => {}
        [_, _, ..] => return Err(Status::failure(500, MULTIPLE_BUDGETS)),
        [pdb] => {
            pdb_name = meta::name(pdb).to_string();
            if !is_pod_ready(&pod) && unhealthy_pod_may_go(pdb) {
                // The pod does not count as healthy: deleting it takes nothing
                // from the budget, as long as it is not ready at deletion.
                update_deletion_options = true;
            } else {
                decrement_budget(ctx, &pdb_name, &name, dry_run).await?;
            }
        }
    }

    let mut opts = options.clone();
    if update_deletion_options {
        opts["preconditions"]["resourceVersion"] = json!(pod_rv.to_string());
    }
    match add_condition_and_delete(ctx, &name, &opts, dry_run).await {
        Ok(()) => Ok(success(ctx)),
        // The pod changed (perhaps became ready) since it was judged
        // unhealthy: the client retries as for an exhausted budget.
        Err(s) if s.code == 409 && update_deletion_options && rv_unset => {
            Err(still_processing(&pdb_name))
        }
        Err(s) => Err(s),
    }
}

/// The Status of a successful create of a Status-returning subresource.
fn success(ctx: &Ctx<'_>) -> Response<Body> {
    let ok = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    encoding::json(StatusCode::CREATED, &ok, ctx.pretty)
}

/// Accepts policy/v1 and policy/v1beta1 Evictions (upstream's
/// `AcceptsGroupVersion`), or a body without type information.
fn check_eviction_type(obj: &Value) -> rest::Result<()> {
    if !obj.is_object() {
        return Err(Status::bad_request(
            "the body of the request is not an Eviction object",
        ));
    }
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("" | "policy/v1" | "policy/v1beta1") => {}
        Some(v) => {
            return Err(Status::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version (policy/v1)"
            )));
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("" | "Eviction") => Ok(()),
        Some(k) => Err(Status::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind (Eviction) for pods/eviction"
        ))),
    }
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `canIgnorePDB`: terminal, pending and terminating pods disrupt nothing more.
pub fn can_ignore_pdb(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed" | "Pending")
        || pod.pointer("/metadata/deletionTimestamp").is_some()
}

/// `shouldEnforceResourceVersion`: a pending pod may become ready (and
/// count for a budget) while it is deleted; terminal ones cannot.
pub fn should_enforce_resource_version(pod: &Value) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed")
        && pod.pointer("/metadata/deletionTimestamp").is_none()
}

/// `podutil.IsPodReady`.
pub fn is_pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Whether a not-ready pod may be evicted without taking from `pdb`:
/// always with `unhealthyPodEvictionPolicy: AlwaysAllow`, and with the
/// default `IfHealthyBudget` while the budget has its healthy pods.
pub fn unhealthy_pod_may_go(pdb: &Value) -> bool {
    let policy = pdb
        .pointer("/spec/unhealthyPodEvictionPolicy")
        .and_then(Value::as_str)
        .unwrap_or("IfHealthyBudget");
    if policy == "AlwaysAllow" {
        return true;
    }
    let current = int_at(pdb, "/status/currentHealthy");
    let desired = int_at(pdb, "/status/desiredHealthy");
    current >= desired && desired > 0
}

fn int_at(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The budgets in the pod's namespace whose selector matches it. A budget
/// with an empty or invalid selector covers no pod here, as upstream.
pub fn matching_budgets<'a>(pdbs: &'a [Value], pod: &Value) -> Vec<&'a Value> {
    let ns = meta::namespace(pod);
    pdbs.iter()
        .filter(|pdb| meta::namespace(pdb) == ns)
        .filter(|pdb| {
            let selector = pdb.pointer("/spec/selector").unwrap_or(&Value::Null);
            match labels::Selector::from_label_selector_json(selector) {
                Ok(s) => !s.is_empty() && !s.is_nothing() && s.matches_object(pod),
                Err(_) => false,
            }
        })
        .collect()
}

/// Reads the pod's namespace's budgets from the store (a consistent read).
async fn budgets_for(ctx: &Ctx<'_>, pod: &Value) -> rest::Result<Vec<Value>> {
    let info = skiff_core::registry::lookup("policy", "v1", "poddisruptionbudgets")
        .ok_or_else(|| Status::internal("poddisruptionbudgets are not registered"))?;
    let prefix = format!("{}/{}/", rest::storage_prefix(info), meta::namespace(pod));
    let range = ctx
        .server
        .store
        .range(skiff_store::RangeRequest {
            prefix,
            ..Default::default()
        })
        .await
        .map_err(Status::internal)?;
    let mut all = Vec::with_capacity(range.kvs.len());
    for kv in &range.kvs {
        let v: Value = serde_json::from_slice(&kv.value).map_err(|e| {
            Status::internal(format!("stored object {} is not valid JSON: {e}", kv.key))
        })?;
        all.push(v);
    }
    Ok(matching_budgets(&all, pod).into_iter().cloned().collect())
}

/// `createTooManyRequestsError`: the budget's status is behind its spec or
/// the pod changed; retry in 10 s.
fn still_processing(pdb_name: &str) -> Status {
    Status::too_many_requests_message(VIOLATES_BUDGET, 10).with_cause(Cause {
        reason: DISRUPTION_BUDGET_CAUSE.into(),
        message: format!(
            "The disruption budget {pdb_name} is still being processed by the server."
        ),
        field: String::new(),
    })
}

/// `checkAndDecrement` on one read of the budget: the new budget with one
/// disruption fewer and `pod` recorded as disrupted at `now`, or the error
/// the client gets. A dry run checks without recording the pod.
pub fn check_and_decrement(
    pdb: &Value,
    pod: &str,
    now: &str,
    dry_run: bool,
) -> rest::Result<Value> {
    let name = meta::name(pdb);
    let generation = pdb
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if int_at(pdb, "/status/observedGeneration") < generation {
        return Err(still_processing(name));
    }
    let allowed = int_at(pdb, "/status/disruptionsAllowed");
    let gr = GroupResource {
        group: "policy",
        resource: "poddisruptionbudget",
    };
    if allowed < 0 {
        return Err(Status::forbidden(
            gr,
            name,
            "pdb disruptions allowed is negative",
        ));
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .map_or(0, |m| m.len());
    if disrupted > MAX_DISRUPTED_POD_SIZE {
        return Err(Status::forbidden(
            gr,
            name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(
            Status::too_many_requests_message(VIOLATES_BUDGET, 0).with_cause(Cause {
                reason: DISRUPTION_BUDGET_CAUSE.into(),
                message: format!(
                    "The disruption budget {name} needs {} healthy pods and has {} currently",
                    int_at(pdb, "/status/desiredHealthy"),
                    int_at(pdb, "/status/currentHealthy")
                ),
                field: String::new(),
            }),
        );
    }
    let mut new = pdb.clone();
    new["status"]["disruptionsAllowed"] = json!(allowed - 1);
    if allowed - 1 == 0 {
        let observed = int_at(pdb, "/status/observedGeneration");
        set_condition(
            &mut new["status"],
            json!({
                "type": "DisruptionAllowed",
                "status": "False",
                "reason": "InsufficientPods",
                "message": "",
                "observedGeneration": observed,
            }),
            now,
        );
    }
    if !dry_run {
        let status = &mut new["status"];
        if !status.get("disruptedPods").is_some_and(Value::is_object) {
            status["disruptedPods"] = json!({});
        }
        status["disruptedPods"][pod] = json!(now);
    }
    Ok(new)
}

/// `meta.SetStatusCondition`: replaces the condition of the same type,
/// keeping its `lastTransitionTime` unless the status changed.
fn set_condition(status: &mut Value, mut cond: Value, now: &str) {
    if !status.get("conditions").is_some_and(Value::is_array) {
        status["conditions"] = json!([]);
    }
    let Some(list) = status["conditions"].as_array_mut() else {
        return;
    };
    match list.iter_mut().find(|c| c["type"] == cond["type"]) {
        Some(existing) => {
            let time = if existing["status"] == cond["status"] {
                existing
                    .get("lastTransitionTime")
                    .cloned()
                    .unwrap_or_else(|| json!(now))
            } else {
                json!(now)
            };
            cond["lastTransitionTime"] = time;
            *existing = cond;
        }
        None => {
            cond["lastTransitionTime"] = json!(now);
            list.push(cond);
        }
    }
}

/// Takes one disruption from the budget in a compare-and-swap on its
/// status, re-read and re-checked when another writer got there first.
async fn decrement_budget(
    ctx: &Ctx<'_>,
    pdb_name: &str,
    pod: &str,
    dry_run: bool,
) -> rest::Result<()> {
    let info = skiff_core::registry::lookup("policy", "v1", "poddisruptionbudgets")
        .ok_or_else(|| Status::internal("poddisruptionbudgets are not registered"))?;
    let req = RequestInfo {
        resource: info.resource.to_string(),
        group: info.group.to_string(),
        version: info.version.to_string(),
        subresource: "status".into(),
        name: pdb_name.to_string(),
        verb: "update".into(),
        ..ctx.req.clone()
    };
    let pdb_ctx = Ctx {
        info,
        strategy: crate::strategy::for_resource(info),
        req: &req,
        ..*ctx
    };
    let now = now_string();
    if dry_run {
        let (pdb, _) = rest::read(&pdb_ctx, pdb_name).await?;
        check_and_decrement(&pdb, pod, &now, true)?;
        return Ok(());
    }
    rest::update_object(&pdb_ctx, pdb_name, Part::Status, false, |current| {
        check_and_decrement(current, pod, &now, false)
    })
    .await?;
    Ok(())
}

/// `podutil.UpdatePodCondition` on a pod's JSON status: sets the
/// condition, keeping `lastTransitionTime` when the status is unchanged.
/// Returns whether anything changed.
pub fn update_pod_condition(pod: &mut Value, cond: Value, now: &str) -> bool {
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    let status = &mut pod["status"];
    if !status.get("conditions").is_some_and(Value::is_array) {
        status["conditions"] = json!([]);
    }
    let Some(list) = status["conditions"].as_array_mut() else {
        return false;
    };
    let mut cond = cond;
    match list.iter_mut().find(|c| c["type"] == cond["type"]) {
        Some(existing) => {
            let same_status = existing["status"] == cond["status"];
            cond["lastTransitionTime"] = if same_status {
                existing
                    .get("lastTransitionTime")
                    .cloned()
                    .unwrap_or_else(|| json!(now))
            } else {
                json!(now)
            };
            cond["lastProbeTime"] = existing
                .get("lastProbeTime")
                .cloned()
                .unwrap_or(Value::Null);
            let changed = !same_status
                || existing.get("reason") != cond.get("reason")
                || existing.get("message") != cond.get("message");
            *existing = cond;
            changed
        }
        None => {
            cond["lastProbeTime"] = Value::Null;
            cond["lastTransitionTime"] = json!(now);
            list.push(cond);
            true
        }
    }
}

/// `addConditionAndDeletePod`: marks the pod with `DisruptionTarget` (in
/// the status, honouring the delete preconditions), then deletes it with
/// the eviction's options. A dry run only checks the deletion.
async fn add_condition_and_delete(
    ctx: &Ctx<'_>,
    name: &str,
    options: &Value,
    dry_run: bool,
) -> rest::Result<()> {
    let mut options = options.clone();
    if !dry_run {
        let status_req = RequestInfo {
            subresource: "status".into(),
            verb: "update".into(),
            ..ctx.req.clone()
        };
        let status_ctx = Ctx {
            req: &status_req,
            ..*ctx
        };
        let want_uid = options
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let want_rv = options
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let gr = GroupResource {
            group: "",
            resource: "pods",
        };
        let now = now_string();
        let (updated, _) = rest::update_object(&status_ctx, name, Part::Status, false, |current| {
            if let Some(uid) = &want_uid
                && uid != meta::uid(current)
            {
                return Err(Status::conflict(
                    gr.clone(),
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        meta::uid(current)
                    ),
                ));
            }
            if let Some(rv) = &want_rv
                && rv != meta::resource_version(current)
            {
                return Err(Status::conflict(
                    gr.clone(),
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        meta::resource_version(current)
                    ),
                ));
            }
            let mut pod = current.clone();
            update_pod_condition(
                &mut pod,
                json!({
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "EvictionByEvictionAPI",
                    "message": "Eviction API: evicting",
                }),
                &now,
            );
            Ok(pod)
        })
        .await?;
        if want_rv.is_some() {
            // We wrote the pod: the precondition moves to our write.
            options["preconditions"]["resourceVersion"] =
                json!(meta::resource_version(&updated).to_string());
        }
    }
    let bytes = serde_json::to_vec(&options).map_err(Status::internal)?;
    let opts = rest::delete_options(ctx, &bytes)?;
    rest::delete_object(ctx, name, &opts).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdb(allowed: i64, current: i64, desired: i64) -> Value {
        json!({
            "metadata": {"name": "web", "namespace": "default", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
            "status": {
                "observedGeneration": 1,
                "disruptionsAllowed": allowed,
                "currentHealthy": current,
                "desiredHealthy": desired,
                "expectedPods": current,
            },
        })
    }

    const NOW: &str = "2025-01-01T00:00:00Z";

    #[test]
    fn decrement_records_the_pod_and_flips_the_condition_at_zero() {
        let new = check_and_decrement(&pdb(1, 3, 2), "web-1", NOW, false).expect("allowed");
        assert_eq!(new["status"]["disruptionsAllowed"], 0);
        assert_eq!(new["status"]["disruptedPods"]["web-1"], NOW);
        assert_eq!(
            new["status"]["conditions"][0],
            json!({"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods",
                   "message": "", "observedGeneration": 1, "lastTransitionTime": NOW})
        );
        let new = check_and_decrement(&pdb(2, 3, 1), "web-1", NOW, false).expect("allowed");
        assert_eq!(new["status"]["disruptionsAllowed"], 1);
        assert!(new["status"].get("conditions").is_none());
    }

    #[test]
    fn dry_run_does_not_record_the_pod() {
        let new = check_and_decrement(&pdb(1, 3, 2), "web-1", NOW, true).expect("allowed");
        assert!(new["status"].get("disruptedPods").is_none());
    }

    #[test]
    fn exhausted_budget_is_429_with_the_budget_cause() {
        let err = check_and_decrement(&pdb(0, 2, 2), "web-1", NOW, false).expect_err("429");
        assert_eq!(err.code, 429);
        assert_eq!(err.reason, "TooManyRequests");
        assert_eq!(err.message, VIOLATES_BUDGET);
        assert_eq!(err.retry_after, None);
        let json = err.to_json();
        assert_eq!(
            json["details"]["causes"][0],
            json!({"reason": "DisruptionBudget", "message": "The disruption budget web needs 2 healthy pods and has 2 currently"})
        );
    }

    #[test]
    fn stale_budget_asks_to_retry_in_ten_seconds() {
        let mut p = pdb(5, 5, 0);
        p["metadata"]["generation"] = json!(2);
        let err = check_and_decrement(&p, "web-1", NOW, false).expect_err("stale");
        assert_eq!((err.code, err.retry_after), (429, Some(10)));
        assert_eq!(
            err.to_json()["details"]["causes"][0]["message"],
            "The disruption budget web is still being processed by the server."
        );
    }

    #[test]
    fn negative_budget_is_forbidden() {
        let err = check_and_decrement(&pdb(-1, 0, 1), "web-1", NOW, false).expect_err("403");
        assert_eq!(err.code, 403);
        assert_eq!(
            err.message,
            r#"poddisruptionbudget.policy "web" is forbidden: pdb disruptions allowed is negative"#
        );
    }

    #[test]
    fn pods_that_skip_the_budget() {
        let pod = |phase: &str, deleting: bool| {
            let mut p = json!({"metadata": {"name": "p"}, "status": {"phase": phase}});
            if deleting {
                p["metadata"]["deletionTimestamp"] = json!(NOW);
            }
            p
        };
        assert!(can_ignore_pdb(&pod("Pending", false)));
        assert!(can_ignore_pdb(&pod("Succeeded", false)));
        assert!(can_ignore_pdb(&pod("Failed", false)));
        assert!(can_ignore_pdb(&pod("Running", true)));
        assert!(!can_ignore_pdb(&pod("Running", false)));
        assert!(should_enforce_resource_version(&pod("Pending", false)));
        assert!(!should_enforce_resource_version(&pod("Failed", false)));
        assert!(!should_enforce_resource_version(&pod("Running", true)));
    }

    #[test]
    fn unhealthy_pod_eviction_policy() {
        // IfHealthyBudget: only while the budget has its healthy pods.
        assert!(unhealthy_pod_may_go(&pdb(0, 2, 2)));
        assert!(!unhealthy_pod_may_go(&pdb(0, 1, 2)));
        assert!(!unhealthy_pod_may_go(&pdb(0, 0, 0)));
        let mut always = pdb(0, 0, 2);
        always["spec"]["unhealthyPodEvictionPolicy"] = json!("AlwaysAllow");
        assert!(unhealthy_pod_may_go(&always));
    }

    #[test]
    fn empty_selectors_cover_no_pod() {
        let pod =
            json!({"metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"}}});
        let mut empty = pdb(1, 1, 1);
        empty["spec"]["selector"] = json!({});
        let mut other_ns = pdb(1, 1, 1);
        other_ns["metadata"]["namespace"] = json!("other");
        let mut other_app = pdb(1, 1, 1);
        other_app["spec"]["selector"] = json!({"matchLabels": {"app": "db"}});
        let all = [pdb(1, 1, 1), empty, other_ns, other_app];
        let found = matching_budgets(&all, &pod);
        assert_eq!(found.len(), 1);
        assert_eq!(meta::name(found[0]), "web");
    }

    #[test]
    fn pod_condition_keeps_transition_time_when_status_is_unchanged() {
        let mut pod = json!({"status": {"conditions": [
            {"type": "DisruptionTarget", "status": "True", "reason": "Old", "lastTransitionTime": "t0"}
        ]}});
        let cond = json!({"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI", "message": "m"});
        assert!(update_pod_condition(&mut pod, cond.clone(), NOW));
        assert_eq!(pod["status"]["conditions"][0]["lastTransitionTime"], "t0");
        assert!(!update_pod_condition(&mut pod, cond, NOW));
        let mut fresh = json!({"metadata": {}});
        assert!(update_pod_condition(
            &mut fresh,
            json!({"type": "DisruptionTarget", "status": "True"}),
            NOW
        ));
        assert_eq!(fresh["status"]["conditions"][0]["lastTransitionTime"], NOW);
    }
}
