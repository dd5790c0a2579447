//! The review APIs clients ask who they are and what they may do with:
//! `SelfSubjectReview` (`kubectl auth whoami`), `SelfSubjectAccessReview`
//! (`kubectl auth can-i`), `SelfSubjectRulesReview` (`kubectl auth can-i
//! --list`), `SubjectAccessReview` and `LocalSubjectAccessReview`.
//!
//! Every answer comes from `authorize` and `rules_for`, the one place that
//! says what skiff allows, so the reviews never disagree with what the
//! server does. Skiff has no authorizer yet: every authenticated user may do
//! everything (kube-apiserver's `AlwaysAllow` mode), and the reviews say so.

use http::{Response, StatusCode};
use serde_json::{Map, Value, json};
use skiff_core::Status;
use skiff_core::status::FieldError;

use crate::encoding::{self, Body};
use crate::pki::UserInfo;
use crate::rest::{Ctx, Result};

/// Whether `user` (in `groups`) may do what `attributes` (a review's
/// `resourceAttributes` or `nonResourceAttributes`) say, and why. Every
/// request reaches here authenticated and is allowed: skiff runs no
/// authorizer yet (`AlwaysAllow`), which is what the server enforces, so
/// reviews answer the same. An authorizer with rules decides here.
fn authorize(_user: &str, _groups: &[String], _attributes: &Value) -> (bool, &'static str) {
    (true, "")
}

/// The rules `user` has in `namespace`, as `AlwaysAllow`'s `RulesFor`:
/// everything, complete.
fn rules_for(_user: &UserInfo, _namespace: &str) -> Value {
    json!({
        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "incomplete": false,
    })
}

/// `create` of one of the review resources, by the request's user.
pub async fn create(ctx: &Ctx<'_>, content_type: &str, body: &[u8]) -> Result<Response<Body>> {
    let user = ctx.user;
    let decoded = encoding::decode(content_type, body)?;
    let mut review = ctx.normalize(decoded)?;
    // A local review is in the request's namespace, as any namespaced create.
    crate::rest::check_namespace(ctx, &mut review)?;
    let reviewed = match (ctx.info.group, ctx.info.resource) {
        ("authentication.k8s.io", "selfsubjectreviews") => self_subject_review(user),
        ("authorization.k8s.io", "selfsubjectrulesreviews") => {
            let namespace = review
                .pointer("/spec/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            if namespace.is_empty() {
                return Err(Status::bad_request("no namespace on request"));
            }
            // Upstream answers with a new object: the status only.
            json!({"metadata": {"creationTimestamp": null}, "spec": {}, "status": rules_for(user, namespace)})
        }
        ("authorization.k8s.io", "selfsubjectaccessreviews") => {
            let errors = validate_spec(&review, false);
            check(ctx, errors, empty_metadata(&review, false))?;
            decide(&mut review, &user.name, &user.groups);
            review
        }
        ("authorization.k8s.io", "subjectaccessreviews") => {
            let errors = validate_spec(&review, true);
            check(ctx, errors, empty_metadata(&review, false))?;
            let (name, groups) = subject(&review);
            decide(&mut review, &name, &groups);
            review
        }
        ("authorization.k8s.io", "localsubjectaccessreviews") => {
            let namespace = ctx.req.namespace.as_str();
            let own = skiff_core::meta::namespace(&review).to_string();
            let mut errors = validate_spec(&review, true);
            if let Some(attributes) = review.pointer("/spec/resourceAttributes") {
                let asked = attributes
                    .get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if asked != own {
                    errors.push(FieldError::invalid(
                        "spec.resourceAttributes.namespace",
                        &json!(asked),
                        "must match metadata.namespace",
                    ));
                }
            }
            if let Some(attributes) = review.pointer("/spec/nonResourceAttributes") {
                errors.push(FieldError::invalid(
                    "spec.nonResourceAttributes",
                    attributes,
                    "disallowed on this kind of request",
                ));
            }
            check(ctx, errors, empty_metadata(&review, true))?;
            if own != namespace {
                return Err(Status::bad_request(format!(
                    "spec.resourceAttributes.namespace must match namespace: {namespace}"
                )));
            }
            let (name, groups) = subject(&review);
            decide(&mut review, &name, &groups);
            review
        }
        (_, _) => return Err(Status::method_not_supported(ctx.gr(), "create")),
    };
    let mut out = reviewed;
    if let Some(m) = out.as_object_mut() {
        // kind and apiVersion lead, as upstream's encoder writes them.
        let rest = std::mem::take(m);
        m.insert("kind".into(), json!(ctx.info.kind));
        m.insert("apiVersion".into(), json!(ctx.api_version()));
        m.extend(
            rest.into_iter()
                .filter(|(k, _)| k != "kind" && k != "apiVersion"),
        );
        let meta = m
            .entry("metadata")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(meta) = meta {
            meta.entry("creationTimestamp").or_insert(Value::Null);
        }
    }
    Ok(ctx.respond(StatusCode::CREATED, &out))
}

/// `SelfSubjectReview`: the user the request was authenticated as.
fn self_subject_review(user: &UserInfo) -> Value {
    let now = skiff_core::meta::format_time(time::OffsetDateTime::now_utc());
    json!({
        "metadata": {"creationTimestamp": now},
        "status": {"userInfo": {"username": user.name, "groups": user.groups}},
    })
}

/// The user and groups a (Local)SubjectAccessReview asks about.
fn subject(review: &Value) -> (String, Vec<String>) {
    let user = review
        .pointer("/spec/user")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let groups = review
        .pointer("/spec/groups")
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    (user, groups)
}

/// Sets the review's status from [`authorize`]; whatever status the client
/// sent is not taken into account.
fn decide(review: &mut Value, user: &str, groups: &[String]) {
    let attributes = review
        .pointer("/spec/resourceAttributes")
        .or_else(|| review.pointer("/spec/nonResourceAttributes"))
        .cloned()
        .unwrap_or(Value::Null);
    let (allowed, reason) = authorize(user, groups, &attributes);
    let mut status = Map::new();
    status.insert("allowed".into(), json!(allowed));
    if !reason.is_empty() {
        status.insert("reason".into(), json!(reason));
    }
    if let Some(m) = review.as_object_mut() {
        m.insert("status".into(), Value::Object(status));
    }
}

/// `ValidateSubjectAccessReviewSpec` and its self form: exactly one kind of
/// attributes, and a subject unless it is the caller.
fn validate_spec(review: &Value, needs_subject: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let resource = review.pointer("/spec/resourceAttributes");
    let non_resource = review.pointer("/spec/nonResourceAttributes");
    match (resource, non_resource) {
        (Some(_), Some(n)) => errors.push(FieldError::invalid(
            "spec.nonResourceAttributes",
            n,
            "cannot be specified in combination with resourceAttributes",
        )),
        (None, None) => errors.push(FieldError::invalid(
            "spec.resourceAttributes",
            &Value::Null,
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        _ => {}
    }
    if needs_subject {
        let (user, groups) = subject(review);
        if user.is_empty() && groups.is_empty() {
            errors.push(FieldError::invalid(
                "spec.user",
                &json!(user),
                "at least one of user or group must be specified",
            ));
        }
    }
    errors
}

/// The review's metadata must be empty (but for its namespace, for a local
/// review): a review is not an object anyone stores.
fn empty_metadata(review: &Value, namespaced: bool) -> Option<FieldError> {
    let meta = review.get("metadata").and_then(Value::as_object)?;
    let set = meta
        .iter()
        .any(|(k, v)| !(v.is_null() || (namespaced && k == "namespace") || is_empty(v)));
    let detail = if namespaced {
        "must be empty except for namespace"
    } else {
        "must be empty"
    };
    set.then(|| FieldError::invalid("metadata", &Value::Object(meta.clone()), detail))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// 422 with every error, as `NewInvalid(Kind, "", errs)`.
fn check(ctx: &Ctx<'_>, mut errors: Vec<FieldError>, meta: Option<FieldError>) -> Result<()> {
    errors.extend(meta);
    if errors.is_empty() {
        return Ok(());
    }
    Err(Status::invalid(
        &format!("{}.{}", ctx.info.kind, ctx.info.group),
        ctx.info.group,
        "",
        &errors,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_asks_about_exactly_one_kind_of_attributes() {
        let both = json!({"spec": {"resourceAttributes": {"verb": "get"}, "nonResourceAttributes": {"path": "/x", "verb": "get"}}});
        let errors: Vec<String> = validate_spec(&both, false)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            [
                r#"spec.nonResourceAttributes: Invalid value: {"path":"/x","verb":"get"}: cannot be specified in combination with resourceAttributes"#
            ]
        );
        let neither = json!({"spec": {}});
        let errors: Vec<String> = validate_spec(&neither, true)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            [
                r#"spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified"#,
                r#"spec.user: Invalid value: "": at least one of user or group must be specified"#,
            ]
        );
        let one = json!({"spec": {"groups": ["g"], "nonResourceAttributes": {"path": "/x", "verb": "get"}}});
        assert!(validate_spec(&one, true).is_empty());
    }

    #[test]
    fn review_metadata_must_be_empty() {
        let kubectl = json!({"metadata": {"creationTimestamp": null}});
        assert!(empty_metadata(&kubectl, false).is_none());
        let named = json!({"metadata": {"name": "x"}});
        assert_eq!(
            empty_metadata(&named, false).map(|e| e.to_string()),
            Some(r#"metadata: Invalid value: {"name":"x"}: must be empty"#.to_string())
        );
        let local = json!({"metadata": {"namespace": "ns"}});
        assert!(empty_metadata(&local, true).is_none());
        assert!(empty_metadata(&local, false).is_some());
    }

    #[test]
    fn the_decision_replaces_what_the_client_sent() {
        let mut review = json!({"spec": {"resourceAttributes": {"verb": "create", "resource": "pods"}},
            "status": {"allowed": false, "reason": "forged"}});
        decide(&mut review, "alice", &[]);
        assert_eq!(review["status"], json!({"allowed": true}));
    }
}
