//! Completion indexes of Indexed Jobs (upstream `indexed_job_utils.go`): the
//! index a pod carries, the compressed interval form of
//! `status.completedIndexes` and `status.failedIndexes` ("1,3-5"), which
//! indexes still need a pod, which active pods are surplus because their
//! index is repeated or invalid, and, for `backoffLimitPerIndex`, the
//! failures counted per index (carried from each failed pod to its
//! replacement in annotations) and which indexes failed for good.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use super::failure::{self, Action};
use crate::controller_utils as cu;

/// Annotation (and label) carrying a pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// Failures of the pod's index before this pod that count towards
/// `backoffLimitPerIndex`.
pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";
/// Failures of the pod's index before this pod that the pod failure policy
/// ignored; absent means zero.
pub const INDEX_IGNORED_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-ignored-failure-count";
/// Upstream `names.MaxGeneratedNameLength` (63 minus the 5 random characters).
const MAX_GENERATED_NAME_LENGTH: usize = 58;

/// The pod's completion index, if it carries a valid one.
pub fn completion_index(pod: &Pod) -> Option<usize> {
    let v = pod.metadata.annotations.as_ref()?.get(COMPLETION_INDEX)?;
    // Go's strconv.Atoi accepts a sign; a negative index is invalid anyway.
    v.parse::<usize>().ok()
}

/// Sorted, non-overlapping, non-adjacent closed intervals of indexes
/// (upstream `orderedIntervals`). Kept as intervals, never expanded, so a
/// Job of many completions costs no more than its number of intervals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intervals(Vec<(usize, usize)>);

impl Intervals {
    /// Parses `status.completedIndexes` or `status.failedIndexes`, dropping
    /// what does not parse and indexes at or beyond `completions` (upstream
    /// `parseIndexesFromString`).
    pub fn parse(s: &str, completions: usize) -> Intervals {
        let mut parts = Vec::new();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (a.parse::<usize>(), b.parse::<usize>()),
                None => (part.parse::<usize>(), part.parse::<usize>()),
            };
            let (Ok(lo), Ok(hi)) = (lo, hi) else {
                continue;
            };
            let hi = hi.min(completions.saturating_sub(1));
            if lo >= completions || lo > hi {
                continue;
            }
            parts.push((lo, hi));
        }
        // The stored form is sorted; a hand-edited one may not be.
        parts.sort_unstable();
        Intervals::normalized(parts)
    }

    /// Merges sorted intervals that overlap or touch.
    fn normalized(sorted: impl IntoIterator<Item = (usize, usize)>) -> Intervals {
        let mut out: Vec<(usize, usize)> = Vec::new();
        for (lo, hi) in sorted {
            match out.last_mut() {
                Some((_, last)) if lo <= last.saturating_add(1) => *last = (*last).max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Intervals(out)
    }

    /// These intervals plus `more` indexes (upstream `withOrderedIndexes`).
    pub fn with(&self, more: impl IntoIterator<Item = usize>) -> Intervals {
        let mut extra: Vec<usize> = more.into_iter().collect();
        extra.sort_unstable();
        extra.dedup();
        self.merge(&Intervals::normalized(extra.into_iter().map(|i| (i, i))))
    }

    /// The union of both (upstream `merge`).
    pub fn merge(&self, other: &Intervals) -> Intervals {
        let mut all: Vec<(usize, usize)> = self.0.iter().chain(other.0.iter()).copied().collect();
        all.sort_unstable();
        Intervals::normalized(all)
    }

    /// The closed intervals, in order.
    pub fn intervals(&self) -> &[(usize, usize)] {
        &self.0
    }

    /// Every index, in order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().flat_map(|(a, b)| *a..=*b)
    }

    /// How many indexes.
    pub fn total(&self) -> usize {
        self.0.iter().map(|(a, b)| b - a + 1).sum()
    }

    /// Whether there is no index.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ix` is in.
    pub fn has(&self, ix: usize) -> bool {
        // The first interval that ends at or after `ix` is the only candidate.
        let pos = self.0.partition_point(|(_, hi)| *hi < ix);
        self.0.get(pos).is_some_and(|(lo, _)| *lo <= ix)
    }

    /// How many indexes both hold.
    pub fn overlap(&self, other: &Intervals) -> usize {
        let (mut i, mut j, mut n) = (0, 0, 0);
        while let (Some(&(a_lo, a_hi)), Some(&(b_lo, b_hi))) = (self.0.get(i), other.0.get(j)) {
            let (lo, hi) = (a_lo.max(b_lo), a_hi.min(b_hi));
            if lo <= hi {
                n += hi - lo + 1;
            }
            // Step past whichever interval ends first (both when equal).
            if a_hi <= b_hi {
                i += 1;
            }
            if b_hi <= a_hi {
                j += 1;
            }
        }
        n
    }
}

impl fmt::Display for Intervals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, (a, b)) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else if a + 1 == *b {
                // Upstream writes two adjacent indexes as a list, not a range.
                write!(f, "{a},{b}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

/// `firstPendingIndexes`: the lowest `count` indexes below `completions`
/// that are not `done` (succeeded or failed) and have no pod in `busy`
/// (active pods, and terminating ones when only failed pods are replaced).
pub fn first_pending(
    done: &Intervals,
    busy: &[&Pod],
    count: usize,
    completions: usize,
) -> Vec<usize> {
    let taken = done.with(busy.iter().filter_map(|p| completion_index(p)));
    let mut out = Vec::with_capacity(count.min(completions));
    let mut candidate = 0usize;
    // Walk the gaps between the taken intervals: bounded by their number
    // and `count`, not by `completions`.
    for &(lo, hi) in taken.intervals() {
        while candidate < lo && candidate < completions && out.len() < count {
            out.push(candidate);
            candidate += 1;
        }
        if out.len() >= count || candidate >= completions {
            return out;
        }
        candidate = candidate.max(hi + 1);
    }
    while candidate < completions && out.len() < count {
        out.push(candidate);
        candidate += 1;
    }
    out
}

/// A failure-count annotation of the pod (`parseIndexFailureCountAnnotation`):
/// zero when absent, not a number, negative or beyond int32, since users can
/// edit pod annotations.
fn count_annotation(pod: &Pod, key: &str) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|n| (0..=i64::from(i32::MAX)).contains(n))
        .map_or(0, |n| n as i32)
}

/// Failures of the pod's index before it that count (`getIndexFailureCount`).
pub fn index_failure_count(pod: &Pod) -> i32 {
    count_annotation(pod, INDEX_FAILURE_COUNT)
}

/// Every failure of the pod's index before it, ignored ones included
/// (`getIndexAbsoluteFailureCount`).
pub fn index_absolute_failure_count(pod: &Pod) -> i32 {
    count_annotation(pod, INDEX_FAILURE_COUNT)
        .saturating_add(count_annotation(pod, INDEX_IGNORED_FAILURE_COUNT))
}

/// `getNewIndexFailureCounts`: the (counted, ignored) failure counts of a
/// pod that replaces `replaced` (none: the index's first pod). The replaced
/// pod's own failure adds to one of them, as the pod failure policy says.
pub fn new_index_failure_counts(job: &Job, replaced: Option<&Pod>) -> (i32, i32) {
    let Some(p) = replaced else {
        return (0, 0);
    };
    let counted = count_annotation(p, INDEX_FAILURE_COUNT);
    let ignored = count_annotation(p, INDEX_IGNORED_FAILURE_COUNT);
    let policy = job
        .spec
        .as_ref()
        .and_then(|s| s.pod_failure_policy.as_ref());
    if failure::match_policy(policy, p).counts {
        (counted.saturating_add(1), ignored)
    } else {
        (counted, ignored.saturating_add(1))
    }
}

/// `isIndexFailed`: the pod's failure fails its index, because a `FailIndex`
/// rule matched or because its index already had `backoffLimitPerIndex`
/// counted failures before it.
pub fn is_index_failed(job: &Job, pod: &Pod, backoff_limit_per_index: i32) -> bool {
    if !failure::is_pod_failed(pod, job) {
        return false;
    }
    let policy = job
        .spec
        .as_ref()
        .and_then(|s| s.pod_failure_policy.as_ref());
    let verdict = failure::match_policy(policy, pod);
    if verdict.action == Some(Action::FailIndex) {
        return true;
    }
    verdict.counts && index_failure_count(pod) >= backoff_limit_per_index
}

/// `calculateFailedIndexes`: the indexes in `status.failedIndexes` plus
/// those whose not yet counted pods (still holding the tracking finalizer)
/// failed them.
pub fn failed_indexes(
    job: &Job,
    previous: Option<&str>,
    pods: &[&Pod],
    completions: usize,
    backoff_limit_per_index: i32,
) -> Intervals {
    let prev = Intervals::parse(previous.unwrap_or_default(), completions);
    let newly = pods
        .iter()
        .filter(|p| super::has_tracking_finalizer(p))
        .filter_map(|p| {
            completion_index(p)
                .filter(|ix| *ix < completions)
                .map(|ix| (ix, p))
        })
        .filter(|(_, p)| is_index_failed(job, p, backoff_limit_per_index))
        .map(|(ix, _)| ix);
    prev.with(newly)
}

/// `getPodsWithDelayedDeletionPerIndex`: for each index still to be retried
/// (not succeeded, not failed, no active pod), its latest failed pod. That
/// pod keeps its tracking finalizer (and so exists) until its replacement
/// is created, because the replacement's failure counts are read from it.
/// `valid` are the pods that hold the finalizer and are not yet counted.
pub fn delayed_deletion_per_index<'a>(
    job: &Job,
    valid: &[&'a Pod],
    active: &[&Pod],
    succeeded: &Intervals,
    failed: &Intervals,
    completions: usize,
) -> BTreeMap<usize, &'a Pod> {
    let active_indexes: std::collections::BTreeSet<usize> =
        active.iter().filter_map(|p| completion_index(p)).collect();
    let mut out: BTreeMap<usize, &'a Pod> = BTreeMap::new();
    for p in valid.iter().copied() {
        if !failure::is_pod_failed(p, job) {
            continue;
        }
        let Some(ix) = completion_index(p).filter(|ix| *ix < completions) else {
            continue;
        };
        if succeeded.has(ix) || failed.has(ix) || active_indexes.contains(&ix) {
            continue;
        }
        match out.get(&ix) {
            // The later failure, by count and then by time, is the one the
            // replacement continues from.
            Some(last)
                if !(index_absolute_failure_count(last) <= index_absolute_failure_count(p)
                    && failure::finished_time(p) >= failure::finished_time(last)) => {}
            _ => {
                out.insert(ix, p);
            }
        }
    }
    out
}

/// `podGenerateNameWithIndex`: `<job>-<index>-`, the job name cut so that
/// the generated name stays within 63 characters.
pub fn generate_name(job: &str, index: usize) -> String {
    let suffix = format!("-{index}-");
    let prefix = format!("{job}{suffix}");
    if prefix.len() <= MAX_GENERATED_NAME_LENGTH {
        return prefix;
    }
    let keep = MAX_GENERATED_NAME_LENGTH - suffix.len();
    let cut = (0..=keep)
        .rev()
        .find(|i| job.is_char_boundary(*i))
        .unwrap_or(0);
    format!("{}{suffix}", &job[..cut])
}

/// `appendDuplicatedIndexPodsForRemoval`: active pods to delete because
/// their index is missing, out of range or held by a better pod; returns
/// (to remove, to keep).
pub fn surplus_pods<'a>(
    pods: &[&'a Pod],
    completions: usize,
    now: Timestamp,
) -> (Vec<&'a Pod>, Vec<&'a Pod>) {
    let mut rm = Vec::new();
    let mut by_index: std::collections::BTreeMap<usize, Vec<&'a Pod>> = Default::default();
    for p in pods {
        match completion_index(p) {
            Some(ix) if ix < completions => by_index.entry(ix).or_default().push(p),
            _ => rm.push(*p),
        }
    }
    let mut keep = Vec::new();
    for (_, mut group) in by_index {
        // Keep the most advanced pod (last in deletion order).
        group.sort_by(|a, b| cu::compare_for_deletion((a, 0), (b, 0), now));
        if let Some(best) = group.pop() {
            keep.push(best);
        }
        rm.extend(group);
    }
    (rm, keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(name: &str, index: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                annotations: index.map(|i| [(COMPLETION_INDEX.to_string(), i.to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn intervals_print_in_compressed_form() {
        let cases: [(&[usize], &str); 6] = [
            (&[], ""),
            (&[0], "0"),
            (&[1, 3, 4, 5], "1,3-5"),
            (&[0, 1], "0,1"),
            (&[0, 1, 2, 7, 8, 10], "0-2,7,8,10"),
            (&[5, 1, 3, 4, 3], "1,3-5"),
        ];
        for (set, want) in cases {
            assert_eq!(
                Intervals::default().with(set.iter().copied()).to_string(),
                want
            );
        }
    }

    #[test]
    fn intervals_parse_and_clip_to_completions() {
        let i = Intervals::parse("1,3-5,7-9", 8);
        assert_eq!(i.to_string(), "1,3-5,7");
        assert_eq!(i.total(), 5);
        assert!(i.has(4) && !i.has(2));
        assert_eq!(Intervals::parse("x,2,a-b", 3).to_string(), "2");
        assert_eq!(Intervals::parse("", 3).total(), 0);
    }

    #[test]
    fn pending_indexes_skip_succeeded_and_active() {
        let succeeded = Intervals::parse("0,2", 6);
        let a = pod("a", Some("1"));
        let b = pod("b", Some("4"));
        assert_eq!(first_pending(&succeeded, &[&a, &b], 5, 6), [3, 5]);
        assert_eq!(first_pending(&succeeded, &[&a], 1, 6), [3]);
    }

    #[test]
    fn intervals_merge_count_and_overlap_without_expanding() {
        let a = Intervals::parse("0-4,10-20", 1_000_000_000);
        let b = Intervals::parse("3-11,500000000-999999999", 1_000_000_000);
        let m = a.merge(&b);
        assert_eq!(m.to_string(), "0-20,500000000-999999999");
        assert_eq!(m.total(), 21 + 500_000_000);
        assert!(m.has(999_999_999) && m.has(0) && !m.has(21));
        // 3,4 and 10,11 are in both.
        assert_eq!(a.overlap(&b), 4);
        assert_eq!(b.overlap(&a), 4);
        assert_eq!(a.overlap(&Intervals::default()), 0);
        // Unsorted or overlapping input is normalized.
        assert_eq!(Intervals::parse("5,1-3,2-4", 10).to_string(), "1-5");
    }

    #[test]
    fn pending_indexes_skip_failed_ones_too() {
        let done = Intervals::parse("0", 6).merge(&Intervals::parse("2-3", 6));
        let a = pod("a", Some("1"));
        assert_eq!(first_pending(&done, &[&a], 10, 6), [4, 5]);
        assert_eq!(first_pending(&done, &[], 1, 6), [1]);
        assert!(first_pending(&Intervals::parse("0-5", 6), &[], 3, 6).is_empty());
        // Many completions: only `count` indexes are walked.
        let big = Intervals::parse("0-999999", 2_000_000_000);
        assert_eq!(
            first_pending(&big, &[], 2, 2_000_000_000),
            [1_000_000, 1_000_001]
        );
    }

    fn failed(uid: &str, index: &str, counts: Option<(&str, Option<&str>)>, finished: &str) -> Pod {
        let mut annotations = serde_json::json!({COMPLETION_INDEX: index});
        if let Some((counted, ignored)) = counts {
            annotations[INDEX_FAILURE_COUNT] = counted.into();
            if let Some(i) = ignored {
                annotations[INDEX_IGNORED_FAILURE_COUNT] = i.into();
            }
        }
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": uid, "uid": uid, "annotations": annotations,
                "finalizers": [super::super::TRACKING_FINALIZER]},
            "status": {"phase": "Failed", "containerStatuses": [{
                "name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 3, "finishedAt": finished}},
            }]},
        }))
        .unwrap_or_else(|e| panic!("bad pod: {e}"))
    }

    fn job(spec: serde_json::Value) -> Job {
        let mut spec = spec;
        spec["template"] = serde_json::json!({"spec": {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": "i"}]}});
        spec["completionMode"] = "Indexed".into();
        serde_json::from_value(serde_json::json!({"spec": spec}))
            .unwrap_or_else(|e| panic!("bad job: {e}"))
    }

    #[test]
    fn failure_counts_pass_from_a_failed_pod_to_its_replacement() {
        let j = job(serde_json::json!({"completions": 3, "backoffLimitPerIndex": 2}));
        let t = "2024-01-01T00:00:00Z";
        assert_eq!(new_index_failure_counts(&j, None), (0, 0));
        let first = failed("a", "1", Some(("0", None)), t);
        assert_eq!(new_index_failure_counts(&j, Some(&first)), (1, 0));
        let later = failed("b", "1", Some(("1", Some("2"))), t);
        assert_eq!(new_index_failure_counts(&j, Some(&later)), (2, 2));
        assert_eq!(index_absolute_failure_count(&later), 3);
        // Garbage written by a user counts as zero.
        for bad in ["-1", "x", "4294967296"] {
            assert_eq!(
                index_failure_count(&failed("c", "1", Some((bad, None)), t)),
                0
            );
        }
        // Ignored by the pod failure policy: the ignored count grows.
        let ignoring = job(
            serde_json::json!({"completions": 3, "backoffLimitPerIndex": 2,
            "podFailurePolicy": {"rules": [{"action": "Ignore",
                "onExitCodes": {"operator": "In", "values": [3]}}]}}),
        );
        assert_eq!(new_index_failure_counts(&ignoring, Some(&later)), (1, 3));
        assert!(!is_index_failed(
            &ignoring,
            &failed("d", "1", Some(("5", None)), t),
            2
        ));
    }

    #[test]
    fn an_index_fails_past_its_limit_or_by_fail_index() {
        let j = job(serde_json::json!({"completions": 4, "backoffLimitPerIndex": 1}));
        let t = "2024-01-01T00:00:00Z";
        let first = failed("a", "1", Some(("0", None)), t);
        let second = failed("b", "2", Some(("1", None)), t);
        assert!(!is_index_failed(&j, &first, 1));
        assert!(is_index_failed(&j, &second, 1));
        // Limit 0: the first failure fails the index.
        assert!(is_index_failed(&j, &first, 0));
        let got = failed_indexes(&j, Some("3"), &[&first, &second], 4, 1);
        assert_eq!(got.to_string(), "2,3");
        // A pod already counted (no finalizer) adds nothing new.
        let mut counted = second.clone();
        counted.metadata.finalizers = None;
        assert_eq!(failed_indexes(&j, None, &[&counted], 4, 1).to_string(), "");
        let fail_index = job(
            serde_json::json!({"completions": 4, "backoffLimitPerIndex": 5,
            "podFailurePolicy": {"rules": [{"action": "FailIndex",
                "onExitCodes": {"operator": "In", "values": [3]}}]}}),
        );
        assert!(is_index_failed(&fail_index, &first, 5));
    }

    #[test]
    fn the_latest_failed_pod_of_a_waiting_index_is_kept() {
        let j = job(serde_json::json!({"completions": 4, "backoffLimitPerIndex": 3}));
        let older = failed("old", "0", Some(("0", None)), "2024-01-01T00:00:00Z");
        let newer = failed("new", "0", Some(("1", None)), "2024-01-01T00:01:00Z");
        let other = failed("other", "1", None, "2024-01-01T00:00:00Z");
        let done = failed("done", "2", None, "2024-01-01T00:00:00Z");
        let lost = failed("lost", "3", None, "2024-01-01T00:00:00Z");
        let running = pod("run", Some("1"));
        let kept = delayed_deletion_per_index(
            &j,
            &[&newer, &older, &other, &done, &lost],
            &[&running],
            &Intervals::parse("2", 4),
            &Intervals::parse("3", 4),
            4,
        );
        let names: Vec<(usize, &str)> = kept
            .iter()
            .map(|(ix, p)| (*ix, p.metadata.name.as_deref().unwrap_or_default()))
            .collect();
        // Index 1 has a running pod, 2 succeeded, 3 failed: nothing to keep.
        assert_eq!(names, [(0, "new")]);
    }

    #[test]
    fn generated_names_fit() {
        assert_eq!(generate_name("pi", 3), "pi-3-");
        let long = "a".repeat(70);
        let name = generate_name(&long, 12);
        assert_eq!(name.len(), 58);
        assert!(name.ends_with("a-12-"));
    }

    #[test]
    fn surplus_pods_repeat_or_lack_an_index() {
        let a = pod("a", Some("0"));
        let b = pod("b", Some("0"));
        let c = pod("c", None);
        let d = pod("d", Some("9"));
        let e = pod("e", Some("1"));
        let (rm, keep) = surplus_pods(&[&a, &b, &c, &d, &e], 3, Timestamp::now());
        assert_eq!(rm.len(), 3);
        assert_eq!(keep.len(), 2);
        assert!(rm.iter().any(|p| p.metadata.name.as_deref() == Some("c")));
        assert!(rm.iter().any(|p| p.metadata.name.as_deref() == Some("d")));
    }
}
