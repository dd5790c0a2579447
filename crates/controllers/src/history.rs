//! ControllerRevision history, after upstream's `pkg/controller/history`:
//! the snapshots of a workload's template that the StatefulSet and DaemonSet
//! controllers keep to roll forward and back.
//!
//! Owns: hashing revision data (`controller.kubernetes.io/hash`), naming,
//! building, sorting and comparing revisions, the template data both
//! controllers store, choosing which to truncate, and the API calls that
//! create, renumber, relabel, claim (adopt, release) and delete them.
//! Does not own: which label carries a controller's hash (StatefulSets use
//! [`CONTROLLER_REVISION_HASH_LABEL`], DaemonSets `controller-revision-hash`
//! with `controller::ComputeHash`, see [`cu::compute_hash`]), or when to roll.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::controller_utils as cu;
use crate::{ApiContext, Result};

/// Label carrying the hash of a revision's data.
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// Upstream `ControllerRevisionName`: `<prefix>-<hash>`, the prefix cut to
/// 223 bytes so the name stays within 253.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let mut cut = prefix.len().min(223);
    // Names are ASCII; the boundary check only guards against a panic.
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{hash}", &prefix[..cut])
}

/// Renders JSON as Go's `encoding/json` does for the decoded map upstream
/// hashes: object keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped.
/// The revision data a Go controller stores, and therefore its hash, is
/// these bytes.
pub fn go_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_go_json(v, &mut out);
    out
}

fn write_go_json(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_go_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_go_json(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_go_string(k, out);
                out.push(b':');
                write_go_json(&map[k], out);
            }
            out.push(b'}');
        }
    }
}

fn write_go_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Upstream `HashControllerRevision`: FNV-1 over the rendered data, then over
/// the decimal collision count when there is one, printed in decimal and
/// safe-encoded.
pub fn hash_revision(data: &Value, collision_count: Option<i32>) -> String {
    // FNV-1, not 1a: upstream hashes revisions with `fnv.New32`.
    let mut h = cu::fnv1_32(&go_json(data), cu::FNV32_OFFSET);
    if let Some(c) = collision_count {
        h = cu::fnv1_32(c.to_string().as_bytes(), h);
    }
    cu::safe_encode(&h.to_string())
}

/// JSON with every object's keys sorted, as Go prints the map it stores as
/// revision data: what is written equals, byte for byte, what kubectl
/// computes from the owner.
pub fn sorted_json(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted_json(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted_json).collect()),
        other => other.clone(),
    }
}

/// Upstream `getPatch` of the StatefulSet and DaemonSet controllers: the
/// revision data, a strategic merge patch that puts `template` back in
/// place ([`template_patch`]), keys sorted, the template's
/// `metadata.creationTimestamp` printed (null) as Go prints it.
pub fn template_data(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut t {
        let meta = m.entry("metadata").or_insert_with(|| json!({}));
        if let Value::Object(meta) = meta {
            meta.entry("creationTimestamp").or_insert(Value::Null);
        }
    }
    sorted_json(&template_patch(&t))
}

/// The data both workload controllers store: a strategic merge patch that
/// puts `template` back in place (`{"spec":{"template":{…,"$patch":"replace"}}}`).
pub fn template_patch(template: &Value) -> Value {
    let mut t = template.clone();
    if let Value::Object(m) = &mut t {
        m.insert("$patch".into(), json!("replace"));
    }
    json!({ "spec": { "template": t } })
}

/// The template stored in data built by [`template_patch`].
pub fn template_of(revision: &ControllerRevision) -> Option<Value> {
    let mut t = revision
        .data
        .as_ref()?
        .0
        .get("spec")?
        .get("template")?
        .clone();
    if let Value::Object(m) = &mut t {
        m.remove("$patch");
    }
    Some(t)
}

/// Upstream `NewControllerRevision`: a revision of `owner` (its
/// ControllerRef), labelled with the template's labels and the hash,
/// named `<owner>-<hash>`.
pub fn new_revision(
    owner: &OwnerReference,
    namespace: &str,
    template_labels: &BTreeMap<String, String>,
    data: Value,
    revision: i64,
    collision_count: Option<i32>,
) -> ControllerRevision {
    let hash = hash_revision(&data, collision_count);
    let mut labels = template_labels.clone();
    labels.insert(CONTROLLER_REVISION_HASH_LABEL.into(), hash.clone());
    build(
        owner,
        namespace,
        revision_name(&owner.name, &hash),
        labels,
        data,
        revision,
    )
}

/// A revision of `owner` (its ControllerRef) named `name`.
pub fn build(
    owner: &OwnerReference,
    namespace: &str,
    name: String,
    labels: BTreeMap<String, String>,
    data: Value,
    revision: i64,
) -> ControllerRevision {
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace.into()),
            labels: Some(labels),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision,
    }
}

/// Upstream `SortControllerRevisions`: by revision number, then creation
/// time, then name.
pub fn sort_revisions(revisions: &mut [ControllerRevision]) {
    revisions.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| {
                let t =
                    |r: &ControllerRevision| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
                t(a).cmp(&t(b))
            })
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// Upstream `EqualRevision`: same data. (Upstream first compares the hash
/// labels as decimal numbers, which safe-encoded hashes never are.)
pub fn equal_revision(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    a.data.as_ref().map(|d| &d.0) == b.data.as_ref().map(|d| &d.0)
}

/// Whether a revision holds `data` (what [`equal_revision`] compares).
pub fn has_data(revision: &ControllerRevision, data: &Value) -> bool {
    revision.data.as_ref().is_some_and(|d| &d.0 == data)
}

/// Upstream `FindEqualRevisions`: the revisions equal to `needle`, in order.
pub fn find_equal<'a>(
    revisions: &'a [ControllerRevision],
    needle: &ControllerRevision,
) -> Vec<&'a ControllerRevision> {
    revisions
        .iter()
        .filter(|r| equal_revision(r, needle))
        .collect()
}

/// Upstream `nextRevision`: one more than the highest of sorted revisions.
pub fn next_revision(sorted: &[ControllerRevision]) -> i64 {
    sorted.last().map_or(1, |r| r.revision + 1)
}

/// Which revisions to delete when `excess` must go: the oldest ones (in
/// [`sort_revisions`] order) that `is_live` does not keep, at most `excess`.
/// How many are in excess is the controller's rule: the StatefulSet counts
/// only revisions no pod runs (`truncateHistory`), the DaemonSet all of its
/// old ones (`cleanupHistory`).
pub fn revisions_to_truncate(
    revisions: &[ControllerRevision],
    excess: usize,
    is_live: impl Fn(&ControllerRevision) -> bool,
) -> Vec<&ControllerRevision> {
    let mut sorted: Vec<ControllerRevision> = revisions.to_vec();
    sort_revisions(&mut sorted);
    let order = |r: &ControllerRevision| {
        sorted
            .iter()
            .position(|s| s.metadata.name == r.metadata.name)
    };
    let mut candidates: Vec<&ControllerRevision> =
        revisions.iter().filter(|r| !is_live(r)).collect();
    candidates.sort_by_key(|r| order(r));
    candidates.truncate(excess);
    candidates
}

/// Upstream `ListControllerRevisions` over a cache: the revisions in
/// `namespace` that match `selector` and are controlled by `owner_uid` or
/// by nobody (orphans, which the caller may adopt).
pub fn owned_or_orphaned<'a>(
    all: impl IntoIterator<Item = &'a ControllerRevision>,
    namespace: &str,
    selector: &LabelSelector,
    owner_uid: &str,
) -> Vec<ControllerRevision> {
    all.into_iter()
        .filter(|r| r.metadata.namespace.as_deref() == Some(namespace))
        .filter(|r| cu::selector_matches(selector, r.labels()))
        .filter(|r| {
            cu::controller_ref(r.metadata.owner_references.as_ref())
                .is_none_or(|c| c.uid == owner_uid)
        })
        .cloned()
        .collect()
}

/// How [`History::create_or_get`] ended.
#[derive(Debug)]
pub enum Created {
    /// Written now.
    New(ControllerRevision),
    /// A revision of that name exists already (read fresh).
    Exists(ControllerRevision),
}

/// API calls on ControllerRevisions.
#[derive(Clone)]
pub struct History {
    client: Client,
}

impl History {
    /// History through `client`.
    pub fn new(client: Client) -> History {
        History { client }
    }

    fn api(&self, ns: &str) -> Api<ControllerRevision> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Creates `revision`; on a name clash reads and returns the revision
    /// that holds the name, for the caller to tell a stale cache (same data)
    /// from a hash collision.
    pub async fn create_or_get(&self, revision: &ControllerRevision) -> Result<Created> {
        let ns = revision.namespace().unwrap_or_default();
        let name = revision.name_any();
        match self.api(&ns).create(&PostParams::default(), revision).await {
            Ok(created) => Ok(Created::New(created)),
            Err(e) if crate::is_already_exists(&e) => {
                let existing = self
                    .api(&ns)
                    .get(&name)
                    .await
                    .ctx(|| format!("get controller revision {ns}/{name}"))?;
                Ok(Created::Exists(existing))
            }
            Err(e) => Err(e).ctx(|| format!("create controller revision {ns}/{name}")),
        }
    }

    /// Upstream `CreateControllerRevision`: creates `revision` under the name
    /// its data and `collision_count` hash to; when another revision holds
    /// that name with different data, bumps `collision_count` and tries the
    /// next name. An existing revision with the same data is returned as is.
    pub async fn create(
        &self,
        parent_name: &str,
        revision: &ControllerRevision,
        collision_count: &mut i32,
    ) -> Result<ControllerRevision> {
        let ns = revision.metadata.namespace.clone().unwrap_or_default();
        let data = revision
            .data
            .as_ref()
            .map(|d| d.0.clone())
            .unwrap_or(Value::Null);
        let mut clone = revision.clone();
        // Bounded so that a misbehaving server cannot keep us looping.
        for _ in 0..100 {
            let hash = hash_revision(&data, Some(*collision_count));
            let name = revision_name(parent_name, &hash);
            clone.metadata.name = Some(name);
            match self.create_or_get(&clone).await? {
                Created::New(created) => return Ok(created),
                Created::Exists(existing) if has_data(&existing, &data) => return Ok(existing),
                Created::Exists(_) => *collision_count = collision_count.saturating_add(1),
            }
        }
        Err(crate::Error::Invalid(format!(
            "gave up creating a controller revision of {ns}/{parent_name} after 100 name collisions"
        )))
    }

    /// Upstream `UpdateControllerRevision`: renumbers a revision (a
    /// rollback to it makes it the newest).
    pub async fn update_revision(
        &self,
        revision: &ControllerRevision,
        new_revision: i64,
    ) -> Result<ControllerRevision> {
        if revision.revision == new_revision {
            return Ok(revision.clone());
        }
        let ns = revision.namespace().unwrap_or_default();
        let name = revision.name_any();
        self.api(&ns)
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "revision": new_revision })),
            )
            .await
            .ctx(|| format!("update the revision number of controller revision {ns}/{name}"))
    }

    /// Sets a label on a revision.
    pub async fn set_label(
        &self,
        revision: &ControllerRevision,
        key: &str,
        value: &str,
    ) -> Result<ControllerRevision> {
        let ns = revision.namespace().unwrap_or_default();
        let name = revision.name_any();
        self.api(&ns)
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"metadata": {"labels": {key: value}}})),
            )
            .await
            .ctx(|| format!("label controller revision {ns}/{name}"))
    }

    /// Upstream `ClaimControllerRevisions`: the revisions of `namespace` the
    /// owner (`controller_ref`, with its `selector`) controls among `cached`,
    /// adopting matching orphans and releasing owned ones that stopped
    /// matching. `can_adopt` is asked once, before the first adoption
    /// (upstream re-reads the owner to be sure it is not being deleted).
    pub async fn claim(
        &self,
        controller_ref: &OwnerReference,
        namespace: &str,
        selector: &LabelSelector,
        cached: impl IntoIterator<Item = Arc<ControllerRevision>>,
        can_adopt: impl AsyncFnOnce() -> Result<bool>,
    ) -> Result<Vec<ControllerRevision>> {
        let mut can_adopt = Some(can_adopt);
        let mut adopt_ok = None;
        let mut out = Vec::new();
        for rev in cached {
            if rev.namespace().as_deref() != Some(namespace) {
                continue;
            }
            let matches =
                !cu::selector_is_empty(selector) && cu::selector_matches(selector, rev.labels());
            match cu::controller_ref(rev.metadata.owner_references.as_ref()) {
                Some(r) if r.uid == controller_ref.uid => {
                    if matches {
                        out.push((*rev).clone());
                    } else {
                        self.release(&controller_ref.uid, &rev).await?;
                    }
                }
                Some(_) => {}
                None if matches => {
                    if adopt_ok.is_none() {
                        adopt_ok = Some(match can_adopt.take() {
                            Some(f) => f().await?,
                            None => false,
                        });
                    }
                    if adopt_ok == Some(true) && self.adopt(controller_ref.clone(), &rev).await? {
                        let mut adopted = (*rev).clone();
                        adopted
                            .metadata
                            .owner_references
                            .get_or_insert_with(Vec::new)
                            .push(controller_ref.clone());
                        out.push(adopted);
                    }
                }
                None => {}
            }
        }
        Ok(out)
    }

    /// Deletes a revision; one already gone is fine.
    pub async fn delete(&self, revision: &ControllerRevision) -> Result<()> {
        let ns = revision.namespace().unwrap_or_default();
        let name = revision.name_any();
        match self.api(&ns).delete(&name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) if crate::is_not_found(&e) => Ok(()),
            Err(e) => Err(e).ctx(|| format!("delete controller revision {ns}/{name}")),
        }
    }

    /// Upstream `AdoptControllerRevision`: adds `controller_ref` to an
    /// orphaned revision. Returns false when it changed or vanished meanwhile.
    pub async fn adopt(
        &self,
        controller_ref: OwnerReference,
        revision: &ControllerRevision,
    ) -> Result<bool> {
        if let Some(owner) = cu::controller_ref(revision.metadata.owner_references.as_ref()) {
            return Err(crate::Error::Invalid(format!(
                "attempt to adopt controller revision {} owned by {} {}",
                revision.name_any(),
                owner.kind,
                owner.name
            )));
        }
        cu::adopt(&self.client, revision, controller_ref).await
    }

    /// Upstream `ReleaseControllerRevision`: drops the owner `owner_uid`
    /// from a revision. Returns false when it changed or vanished meanwhile.
    pub async fn release(&self, owner_uid: &str, revision: &ControllerRevision) -> Result<bool> {
        cu::release(&self.client, revision, owner_uid).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn rev(name: &str, revision: i64, data: Value) -> ControllerRevision {
        ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                creation_timestamp: Some(Time(Timestamp::from_second(100).unwrap_or_default())),
                ..Default::default()
            },
            data: Some(RawExtension(data)),
            revision,
        }
    }

    #[test]
    fn go_json_sorts_keys_and_escapes_like_encoding_json() {
        let v = json!({"b": 1, "a": {"z": "<&>", "y": [true, null, 2.5]}, "$patch": "replace"});
        assert_eq!(
            String::from_utf8_lossy(&go_json(&v)),
            r#"{"$patch":"replace","a":{"y":[true,null,2.5],"z":"\u003c\u0026\u003e"},"b":1}"#
        );
        assert_eq!(
            String::from_utf8_lossy(&go_json(&json!("a\"b\\c\nd\u{1}"))),
            r#""a\"b\\c\nd\u0001""#
        );
    }

    #[test]
    fn hash_depends_on_data_and_collision_count() {
        let data = template_patch(&json!({"metadata": {"labels": {"app": "web"}}}));
        let h = hash_revision(&data, Some(0));
        assert_eq!(h, hash_revision(&data, Some(0)));
        assert_ne!(h, hash_revision(&data, Some(1)));
        assert_ne!(h, hash_revision(&data, None));
        // Key order of the input does not matter: Go sorts map keys.
        let reordered: Value = serde_json::from_str(
            r#"{"spec":{"template":{"metadata":{"labels":{"app":"web"}},"$patch":"replace"}}}"#,
        )
        .unwrap_or_default();
        assert_eq!(h, hash_revision(&reordered, Some(0)));
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        // The hash of data hashed by hand: FNV-1 of the bytes, then of "0".
        let bytes =
            br#"{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"web"}}}}}"#;
        let by_hand = cu::fnv1_32(b"0", cu::fnv1_32(bytes, cu::FNV32_OFFSET));
        assert_eq!(h, cu::safe_encode(&by_hand.to_string()));
    }

    #[test]
    fn new_revision_is_named_and_labelled_by_its_hash() {
        let owner = cu::new_controller_ref("apps/v1", "StatefulSet", "web", "uid-1");
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let data = template_patch(&json!({"spec": {"containers": []}}));
        let r = new_revision(&owner, "ns", &labels, data.clone(), 3, Some(0));
        let hash = hash_revision(&data, Some(0));
        assert_eq!(
            r.metadata.name.as_deref(),
            Some(format!("web-{hash}").as_str())
        );
        assert_eq!(r.labels().get(CONTROLLER_REVISION_HASH_LABEL), Some(&hash));
        assert_eq!(r.labels().get("app").map(String::as_str), Some("web"));
        assert_eq!(r.revision, 3);
        assert_eq!(template_of(&r), Some(json!({"spec": {"containers": []}})));
        assert_eq!(revision_name(&"x".repeat(300), "h").len(), 225);
    }

    #[test]
    fn sorting_finding_and_truncating() {
        let mut revs = vec![
            rev("c", 3, json!(3)),
            rev("a", 1, json!(1)),
            rev("b", 2, json!(2)),
            rev("d", 4, json!(1)),
        ];
        sort_revisions(&mut revs);
        let names: Vec<_> = revs.iter().map(|r| r.name_any()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert_eq!(next_revision(&revs), 5);
        assert_eq!(next_revision(&[]), 1);
        let eq: Vec<_> = find_equal(&revs, &rev("x", 9, json!(1)))
            .iter()
            .map(|r| r.name_any())
            .collect();
        assert_eq!(eq, ["a", "d"]);
        // Live revisions never go; the oldest of the rest do, however the
        // input is ordered.
        let live = |r: &ControllerRevision| ["a", "d"].contains(&r.name_any().as_str());
        let names = |v: Vec<&ControllerRevision>| -> Vec<String> {
            v.iter().map(|r| r.name_any()).collect()
        };
        assert_eq!(names(revisions_to_truncate(&revs, 1, live)), ["b"]);
        assert_eq!(names(revisions_to_truncate(&revs, 5, live)), ["b", "c"]);
        assert!(revisions_to_truncate(&revs, 0, |_| false).is_empty());
        revs.reverse();
        assert_eq!(
            names(revisions_to_truncate(&revs, 3, |_| false)),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn template_data_is_a_replacing_patch_with_sorted_keys() {
        let t: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "agent"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}
        }))
        .unwrap_or_default();
        let data = template_data(&t);
        assert_eq!(
            serde_json::to_string(&data).unwrap_or_default(),
            r#"{"spec":{"template":{"$patch":"replace","metadata":{"creationTimestamp":null,"labels":{"app":"agent"}},"spec":{"containers":[{"image":"busybox","name":"c"}]}}}}"#
        );
        let mut r = rev("x", 1, data.clone());
        assert!(has_data(&r, &data));
        r.data = None;
        assert!(!has_data(&r, &data));
    }

    #[test]
    fn listing_keeps_owned_and_orphaned_matches() {
        let selector = LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            match_expressions: None,
        };
        let labelled = |name: &str, owner: Option<&str>| {
            let mut r = rev(name, 1, json!(null));
            r.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
            r.metadata.owner_references =
                owner.map(|uid| vec![cu::new_controller_ref("apps/v1", "StatefulSet", "x", uid)]);
            r
        };
        let all = [
            labelled("mine", Some("me")),
            labelled("orphan", None),
            labelled("theirs", Some("other")),
            rev("unlabelled", 1, json!(null)),
        ];
        let names: Vec<_> = owned_or_orphaned(&all, "ns", &selector, "me")
            .iter()
            .map(|r| r.name_any())
            .collect();
        assert_eq!(names, ["mine", "orphan"]);
    }
}
