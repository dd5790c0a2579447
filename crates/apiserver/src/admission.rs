//! Admission of writes beyond namespace lifecycle: the mutating and
//! validating plugins of kube-apiserver's default chain that skiff has so far
//! (LimitRanger, ServiceAccount's defaulting, Priority,
//! DefaultTolerationSeconds; ResourceQuota in [`resource_quota`]). The
//! mutating phase ([`admit_create`]) runs after defaulting and field
//! tracking (what a plugin sets is not owned by the creator) and before
//! validation, the validating phase ([`validate_create`],
//! [`validate_update`]) after the object's own validation and before the
//! store write, as upstream.

use serde_json::{Value, json};
use skiff_core::Status;
use skiff_core::status::{FieldError, GroupResource};

use crate::rest::{Ctx, Result};
use crate::strategy::{default_at, str_at};

pub mod limit_ranger;

pub mod resource_quota;

/// PriorityClasses every cluster has (created at first start).
pub const SYSTEM_PRIORITY_CLASSES: [(&str, i64, &str); 2] = [
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

/// The highest value a user-defined PriorityClass may have.
const HIGHEST_USER_PRIORITY: i64 = 1_000_000_000;

pub async fn admit_create(ctx: &Ctx<'_>, name: &str, obj: &mut Value) -> Result<()> {
    match (ctx.info.group, ctx.info.resource) {
        ("", "pods") => {
            // Upstream's order: LimitRanger, ServiceAccount, Priority,
            // DefaultTolerationSeconds.
            if limit_ranger::default_pod(ctx, name, obj).await? {
                // Upstream derives the QoS class after mutating admission;
                // skiff prepared the pod before, so it is derived again.
                ctx.strategy.prepare_for_create(obj);
            }
            if let Some(spec) = obj.get_mut("spec") {
                default_service_account(spec);
            }
            admit_pod_priority(ctx, name, obj).await?;
            if let Some(spec) = obj.get_mut("spec") {
                add_default_tolerations(spec);
            }
            Ok(())
        }
        ("scheduling.k8s.io", "priorityclasses") => validate_priority_class(obj),
        _ => Ok(()),
    }
}

/// The ServiceAccount plugin's defaulting: a pod without a service account
/// runs as `default` (`serviceAccount` is the deprecated mirror). Tokens are
/// not mounted: skiff has no TokenRequest yet.
fn default_service_account(spec: &mut Value) {
    default_at(spec, &["serviceAccountName"], json!("default"));
    let sa = str_at(spec, &["serviceAccountName"]).to_string();
    default_at(spec, &["serviceAccount"], json!(sa));
}

/// DefaultTolerationSeconds admission: tolerate not-ready and unreachable nodes
/// for 300 s unless the pod already tolerates them.
fn add_default_tolerations(spec: &mut Value) {
    let tolerations = spec
        .as_object_mut()
        .map(|m| m.entry("tolerations").or_insert_with(|| json!([])));
    let Some(Value::Array(list)) = tolerations else {
        return;
    };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let tolerated = list.iter().any(|t| {
            let effect = str_at(t, &["effect"]);
            (effect.is_empty() || effect == "NoExecute")
                && (str_at(t, &["key"]) == key
                    || (str_at(t, &["key"]).is_empty() && str_at(t, &["operator"]) == "Exists"))
        });
        if !tolerated {
            list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
}

/// The validating admission of a create, after the object is valid, in
/// upstream's order: LimitRanger's checks, then ResourceQuota, last because
/// it charges the quota.
pub async fn validate_create(ctx: &Ctx<'_>, name: &str, obj: &Value, dry_run: bool) -> Result<()> {
    limit_ranger::validate(ctx, name, obj, None).await?;
    resource_quota::admit(ctx, name, obj, None, dry_run).await
}

/// The validating admission of an update (`new` replacing `old`), after
/// the new object is valid; the same order as [`validate_create`].
/// LimitRanger leaves subresource writes alone, as upstream.
pub async fn validate_update(
    ctx: &Ctx<'_>,
    name: &str,
    new: &Value,
    old: &Value,
    dry_run: bool,
) -> Result<()> {
    if ctx.req.subresource.is_empty() {
        limit_ranger::validate(ctx, name, new, Some(old)).await?;
    }
    resource_quota::admit(ctx, name, new, Some(old), dry_run).await
}

/// The Priority plugin: `priorityClassName` (or the global default class)
/// decides `spec.priority` and `spec.preemptionPolicy`.
async fn admit_pod_priority(ctx: &Ctx<'_>, name: &str, pod: &mut Value) -> Result<()> {
    let gr = GroupResource {
        group: "",
        resource: "pods",
    };
    let class_name = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let class = if class_name.is_empty() {
        global_default(ctx).await?
    } else {
        let key = format!("/registry/priorityclasses/{class_name}");
        let kv = ctx
            .server
            .store
            .get(&key, None)
            .await
            .map_err(Status::internal)?;
        match kv {
            Some(kv) => Some(serde_json::from_slice::<Value>(&kv.value).map_err(Status::internal)?),
            None => {
                return Err(Status::forbidden(
                    gr,
                    name,
                    &format!("no PriorityClass with name {class_name} was found"),
                ));
            }
        }
    };
    let (priority, policy, resolved_name) = match &class {
        Some(c) => (
            c.get("value").and_then(Value::as_i64).unwrap_or(0),
            c.get("preemptionPolicy")
                .and_then(Value::as_str)
                .unwrap_or("PreemptLowerPriority")
                .to_string(),
            skiff_core::meta::name(c).to_string(),
        ),
        None => (0, "PreemptLowerPriority".to_string(), String::new()),
    };
    if let Some(given) = pod.pointer("/spec/priority").and_then(Value::as_i64)
        && given != priority
    {
        return Err(Status::forbidden(
            gr,
            name,
            &format!(
                "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
            ),
        ));
    }
    if let Some(given) = pod
        .pointer("/spec/preemptionPolicy")
        .and_then(Value::as_str)
        && given != policy
    {
        return Err(Status::forbidden(
            gr,
            name,
            &format!(
                "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"
            ),
        ));
    }
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("priority".into(), json!(priority));
        spec.insert("preemptionPolicy".into(), json!(policy));
        if !resolved_name.is_empty() {
            spec.insert("priorityClassName".into(), json!(resolved_name));
        }
    }
    Ok(())
}

/// The PriorityClass marked `globalDefault`, if any.
async fn global_default(ctx: &Ctx<'_>) -> Result<Option<Value>> {
    let Some(info) = skiff_core::registry::lookup("scheduling.k8s.io", "v1", "priorityclasses")
    else {
        return Ok(None);
    };
    let Some(cache) = ctx.server.cache.resource(info) else {
        return Ok(None);
    };
    let snapshot = cache.snapshot(&cache.prefix, 0).await;
    Ok(snapshot
        .items
        .iter()
        .map(|e| e.value())
        .find(|c| c.get("globalDefault").and_then(Value::as_bool) == Some(true)))
}

/// PriorityClass rules of the registry: user classes stay below system ones.
fn validate_priority_class(pc: &mut Value) -> Result<()> {
    let name = skiff_core::meta::name(pc).to_string();
    let value = pc.get("value").and_then(Value::as_i64).unwrap_or(0);
    if !name.starts_with("system-") && value > HIGHEST_USER_PRIORITY {
        return Err(Status::invalid(
            "PriorityClass.scheduling.k8s.io",
            "scheduling.k8s.io",
            &name,
            &[FieldError::invalid(
                "value",
                &json!(value),
                format!(
                    "maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"
                ),
            )],
        ));
    }
    if let Some(m) = pc.as_object_mut() {
        m.entry("preemptionPolicy")
            .or_insert(json!("PreemptLowerPriority"));
    }
    Ok(())
}
