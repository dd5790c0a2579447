//! ControllerRevision history, after upstream's `pkg/controller/history`:
//! the snapshots of a workload's template that the StatefulSet and DaemonSet
//! controllers keep to roll forward and back.
//!
//! Owns: hashing revision data (`controller.kubernetes.io/hash`), naming,
//! building, sorting and comparing revisions, choosing which to truncate,
//! and the API calls that create, renumber, adopt, release and delete them.
//! Does not own: what goes into a revision (each controller builds its data,
//! usually with [`template_patch`]) or when to roll.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::apps::v1::ControllerRevision;
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

/// FNV-1 (not 1a: upstream hashes revisions with `fnv.New32`).
fn fnv1_32(data: &[u8], mut h: u32) -> u32 {
    for b in data {
        h = h.wrapping_mul(16_777_619);
        h ^= u32::from(*b);
    }
    h
}

const FNV32_OFFSET: u32 = 2_166_136_261;

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
    let mut h = fnv1_32(&go_json(data), FNV32_OFFSET);
    if let Some(c) = collision_count {
        h = fnv1_32(c.to_string().as_bytes(), h);
    }
    cu::safe_encode(&h.to_string())
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
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(&owner.name, &hash)),
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
    fn data(r: &ControllerRevision) -> Option<&Value> {
        r.data.as_ref().map(|d| &d.0)
    }
    data(a) == data(b)
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

/// Which revisions of `sorted` to delete to keep at most `limit` that are
/// not live (`truncateHistory`): the oldest non-live ones. A negative limit
/// keeps everything.
pub fn revisions_to_truncate<'a>(
    sorted: &'a [ControllerRevision],
    live: &HashSet<&str>,
    limit: i32,
) -> Vec<&'a ControllerRevision> {
    let history: Vec<&ControllerRevision> = sorted
        .iter()
        .filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or_default()))
        .collect();
    let Ok(limit) = usize::try_from(limit) else {
        return Vec::new();
    };
    if history.len() <= limit {
        return Vec::new();
    }
    history[..history.len() - limit].to_vec()
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
            clone.metadata.name = Some(name.clone());
            match self.api(&ns).create(&PostParams::default(), &clone).await {
                Ok(created) => return Ok(created),
                Err(e) if crate::is_already_exists(&e) => {
                    let existing = self
                        .api(&ns)
                        .get(&name)
                        .await
                        .ctx(|| format!("get controller revision {ns}/{name}"))?;
                    if existing.data.as_ref().map(|d| &d.0) == Some(&data) {
                        return Ok(existing);
                    }
                    *collision_count = collision_count.saturating_add(1);
                }
                Err(e) => {
                    return Err(e).ctx(|| format!("create controller revision {ns}/{name}"));
                }
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
    fn fnv1_matches_reference_vectors() {
        // Published FNV-1 32-bit test vectors.
        assert_eq!(fnv1_32(b"", FNV32_OFFSET), 0x811c_9dc5);
        assert_eq!(fnv1_32(b"a", FNV32_OFFSET), 0x050c_5d7e);
        assert_eq!(fnv1_32(b"foobar", FNV32_OFFSET), 0x31f0_b262);
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
        let by_hand = fnv1_32(b"0", fnv1_32(bytes, FNV32_OFFSET));
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
        // Live revisions never go; the oldest of the rest do.
        let live: HashSet<&str> = ["a", "d"].into();
        let gone: Vec<_> = revisions_to_truncate(&revs, &live, 1)
            .iter()
            .map(|r| r.name_any())
            .collect();
        assert_eq!(gone, ["b"]);
        assert!(revisions_to_truncate(&revs, &live, 2).is_empty());
        assert!(revisions_to_truncate(&revs, &HashSet::new(), -1).is_empty());
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
