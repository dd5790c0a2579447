//! ControllerRevisions of a workload, after upstream's
//! `pkg/controller/history`: hash revision data, name and build revisions,
//! claim (adopt and release) the revisions of an owner, create one with
//! collision detection, renumber, and truncate old history.
//!
//! Generic over the owner (only its reference and selector are used) so that
//! the DaemonSet and StatefulSet controllers can share it; what a revision's
//! data holds and which label carries its hash is the caller's choice.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::controller_utils as cu;
use crate::controller_utils::safe_encode;
use crate::{ApiContext, Result};

/// `history.ControllerRevisionHashLabel`, the hash label of StatefulSet
/// revisions (DaemonSets use `controller-revision-hash`).
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// The owner of revisions: what goes into the ControllerRef, and the
/// selector that decides which orphans it adopts.
#[derive(Clone, Debug)]
pub struct Owner<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub selector: &'a LabelSelector,
}

/// FNV-32a.
fn fnv32a(data: &[u8], mut h: u32) -> u32 {
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(16_777_619);
    }
    h
}

/// `HashControllerRevision`: FNV-32a of the data's JSON, then of the
/// collision count (little endian), printed in decimal and safe-encoded.
pub fn hash_data(data: &Value, collision_count: Option<i32>) -> String {
    let bytes = serde_json::to_vec(data).unwrap_or_default();
    let mut h = fnv32a(&bytes, 2_166_136_261);
    if let Some(c) = collision_count {
        h = fnv32a(&(c as u32).to_le_bytes(), h);
    }
    safe_encode(&h.to_string())
}

/// `ControllerRevisionName`: `<prefix>-<hash>`, the prefix cut to 223
/// characters so the name stays a valid object name.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let prefix: String = prefix.chars().take(223).collect();
    format!("{prefix}-{hash}")
}

/// JSON with every object's keys sorted, as Go's encoding of a map prints
/// it: revisions written here compare equal, byte for byte, with what
/// kubectl computes from the owner.
pub fn sorted_json(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, Value> =
                m.iter().map(|(k, v)| (k, sorted_json(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted_json).collect()),
        other => other.clone(),
    }
}

/// `NewControllerRevision`: a revision of `owner` with a ControllerRef.
pub fn new_revision(
    owner: &Owner,
    name: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    data: Value,
    revision: i64,
) -> ControllerRevision {
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(owner.namespace.to_string()),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![cu::new_controller_ref(
                owner.api_version,
                owner.kind,
                owner.name,
                owner.uid,
            )]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision,
    }
}

/// Whether a revision holds `data` (`EqualRevision` by content).
pub fn has_data(rev: &ControllerRevision, data: &Value) -> bool {
    rev.data.as_ref().is_some_and(|d| &d.0 == data)
}

/// The highest revision number (0 for none).
pub fn max_revision<'a>(revs: impl IntoIterator<Item = &'a ControllerRevision>) -> i64 {
    revs.into_iter().map(|r| r.revision).max().unwrap_or(0)
}

/// `SortControllerRevisions`: by revision, then creation time, then name.
pub fn sort_by_revision(revs: &mut [ControllerRevision]) {
    revs.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| {
                let t =
                    |r: &ControllerRevision| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
                t(a).cmp(&t(b))
            })
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
}

/// How a create ended.
#[derive(Debug)]
pub enum Created {
    /// Written now.
    New(ControllerRevision),
    /// A revision of that name exists already (returned, read fresh): the
    /// caller checks whether it is the same (a stale cache) or a hash
    /// collision.
    Exists(ControllerRevision),
}

/// Writes revisions of one namespace.
pub struct History {
    api: Api<ControllerRevision>,
    namespace: String,
}

impl History {
    /// Revisions in `namespace`.
    pub fn new(client: Client, namespace: &str) -> History {
        History {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
        }
    }

    /// `ClaimControllerRevisions`: the revisions `owner` controls among
    /// `cached` (of its namespace), adopting matching orphans and releasing
    /// owned ones that stopped matching. `can_adopt` is asked once, before
    /// the first adoption (upstream re-reads the owner to be sure it is not
    /// being deleted).
    pub async fn claim(
        &self,
        owner: &Owner<'_>,
        cached: impl IntoIterator<Item = Arc<ControllerRevision>>,
        can_adopt: impl AsyncFnOnce() -> Result<bool>,
    ) -> Result<Vec<ControllerRevision>> {
        let mut can_adopt = Some(can_adopt);
        let mut adopt_ok = None;
        let mut out = Vec::new();
        for rev in cached {
            if rev.namespace().as_deref() != Some(owner.namespace) {
                continue;
            }
            let matches = !cu::selector_is_empty(owner.selector)
                && cu::selector_matches(owner.selector, rev.labels());
            match cu::controller_ref(rev.metadata.owner_references.as_ref()) {
                Some(r) if r.uid == owner.uid => {
                    if matches {
                        out.push((*rev).clone());
                    } else {
                        self.set_owners(&rev, |refs| refs.retain(|r| r.uid != owner.uid))
                            .await?;
                    }
                }
                Some(_) => {}
                None if matches => {
                    if adopt_ok.is_none() {
                        let check = can_adopt.take();
                        adopt_ok = Some(match check {
                            Some(f) => f().await?,
                            None => false,
                        });
                    }
                    if adopt_ok != Some(true) {
                        continue;
                    }
                    let controller_ref = cu::new_controller_ref(
                        owner.api_version,
                        owner.kind,
                        owner.name,
                        owner.uid,
                    );
                    if let Some(adopted) = self
                        .set_owners(&rev, |refs| refs.push(controller_ref))
                        .await?
                    {
                        out.push(adopted);
                    }
                }
                None => {}
            }
        }
        Ok(out)
    }

    /// Rewrites the owner references of the revision we saw (uid and
    /// resourceVersion preconditions); None if it changed or went away.
    async fn set_owners(
        &self,
        rev: &ControllerRevision,
        edit: impl FnOnce(&mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>),
    ) -> Result<Option<ControllerRevision>> {
        let mut refs = rev.metadata.owner_references.clone().unwrap_or_default();
        edit(&mut refs);
        let patch = json!({"metadata": {
            "ownerReferences": refs,
            "uid": rev.uid(),
            "resourceVersion": rev.resource_version(),
        }});
        match self
            .api
            .patch(
                &rev.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(r) => Ok(Some(r)),
            Err(e) if crate::is_not_found(&e) || crate::is_conflict(&e) => Ok(None),
            Err(e) => Err(e).ctx(|| {
                format!(
                    "update the owners of controller revision {}/{}",
                    self.namespace,
                    rev.name_any()
                )
            }),
        }
    }

    /// Creates `rev`; on a name clash returns the existing one.
    pub async fn create(&self, rev: &ControllerRevision) -> Result<Created> {
        let name = rev.name_any();
        match self.api.create(&PostParams::default(), rev).await {
            Ok(r) => Ok(Created::New(r)),
            Err(e) if crate::is_already_exists(&e) => {
                let existing = self
                    .api
                    .get(&name)
                    .await
                    .ctx(|| format!("get controller revision {}/{name}", self.namespace))?;
                Ok(Created::Exists(existing))
            }
            Err(e) => {
                Err(e).ctx(|| format!("create controller revision {}/{name}", self.namespace))
            }
        }
    }

    /// Gives a revision a new number (an old template came back).
    pub async fn set_revision(
        &self,
        rev: &ControllerRevision,
        revision: i64,
    ) -> Result<ControllerRevision> {
        self.api
            .patch(
                &rev.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&json!({"revision": revision})),
            )
            .await
            .ctx(|| {
                format!(
                    "renumber controller revision {}/{}",
                    self.namespace,
                    rev.name_any()
                )
            })
    }

    /// Sets a label on a revision.
    pub async fn set_label(
        &self,
        rev: &ControllerRevision,
        key: &str,
        value: &str,
    ) -> Result<ControllerRevision> {
        self.api
            .patch(
                &rev.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&json!({"metadata": {"labels": {key: value}}})),
            )
            .await
            .ctx(|| {
                format!(
                    "label controller revision {}/{}",
                    self.namespace,
                    rev.name_any()
                )
            })
    }

    /// Deletes a revision (gone already is fine).
    pub async fn delete(&self, rev: &ControllerRevision) -> Result<()> {
        match self
            .api
            .delete(&rev.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if crate::is_not_found(&e) => Ok(()),
            Err(e) => Err(e).ctx(|| {
                format!(
                    "delete controller revision {}/{}",
                    self.namespace,
                    rev.name_any()
                )
            }),
        }
    }

    /// Keeps at most `limit` of the `old` revisions, deleting the lowest
    /// numbers first and never one that `in_use` still needs.
    pub async fn truncate(
        &self,
        old: &[ControllerRevision],
        limit: usize,
        in_use: impl Fn(&ControllerRevision) -> bool,
    ) -> Result<()> {
        for rev in revisions_to_truncate(old, limit, in_use) {
            self.delete(rev).await?;
        }
        Ok(())
    }
}

/// Which of `old` to delete to keep `limit`: lowest revision first, skipping
/// those in use (`cleanupHistory`).
pub fn revisions_to_truncate(
    old: &[ControllerRevision],
    limit: usize,
    in_use: impl Fn(&ControllerRevision) -> bool,
) -> Vec<&ControllerRevision> {
    let mut excess = old.len().saturating_sub(limit);
    let mut sorted: Vec<&ControllerRevision> = old.iter().collect();
    sorted.sort_by_key(|r| r.revision);
    let mut out = Vec::new();
    for rev in sorted {
        if excess == 0 {
            break;
        }
        if in_use(rev) {
            continue;
        }
        out.push(rev);
        excess -= 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(name: &str, revision: i64, hash: &str) -> ControllerRevision {
        ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some([("h".to_string(), hash.to_string())].into()),
                ..Default::default()
            },
            data: None,
            revision,
        }
    }

    #[test]
    fn hash_depends_on_data_and_collision_count() {
        let a = json!({"spec": {"template": {"x": 1}}});
        let b = json!({"spec": {"template": {"x": 2}}});
        assert_eq!(hash_data(&a, None), hash_data(&a, None));
        assert_ne!(hash_data(&a, None), hash_data(&b, None));
        assert_ne!(hash_data(&a, None), hash_data(&a, Some(1)));
        assert!(
            hash_data(&a, Some(3))
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
        );
    }

    #[test]
    fn names_keep_within_limits() {
        assert_eq!(revision_name("web", "abc"), "web-abc");
        let long = "x".repeat(300);
        assert_eq!(revision_name(&long, "h").len(), 225);
    }

    #[test]
    fn sorted_json_orders_keys_like_go() {
        let v: Value = serde_json::from_str(r#"{"b":{"z":1,"a":[{"y":1,"$patch":2}]},"a":0}"#)
            .unwrap_or(Value::Null);
        assert_eq!(
            serde_json::to_string(&sorted_json(&v)).unwrap_or_default(),
            r#"{"a":0,"b":{"a":[{"$patch":2,"y":1}],"z":1}}"#
        );
    }

    #[test]
    fn truncation_keeps_the_newest_and_those_in_use() {
        let old = [rev("r3", 3, "c"), rev("r1", 1, "a"), rev("r2", 2, "b")];
        let names = |v: Vec<&ControllerRevision>| -> Vec<String> {
            v.iter().map(|r| r.name_any()).collect()
        };
        assert_eq!(
            names(revisions_to_truncate(&old, 1, |_| false)),
            ["r1", "r2"]
        );
        assert_eq!(
            names(revisions_to_truncate(&old, 1, |r| r.labels().get("h") == Some(&"a".to_string()))),
            ["r2", "r3"]
        );
        assert!(revisions_to_truncate(&old, 3, |_| false).is_empty());
        assert_eq!(
            names(revisions_to_truncate(&old, 0, |_| false)),
            ["r1", "r2", "r3"]
        );
        let mut sorted = old.to_vec();
        sort_by_revision(&mut sorted);
        assert_eq!(max_revision(&sorted), 3);
        assert_eq!(sorted[0].name_any(), "r1");
    }
}
