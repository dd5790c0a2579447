//! Completion indexes of Indexed Jobs (upstream `indexed_job_utils.go`): the
//! index a pod carries, the compressed interval form of
//! `status.completedIndexes` ("1,3-5"), which indexes still need a pod, and
//! which active pods are surplus because their index is repeated or invalid.

use std::collections::BTreeSet;
use std::fmt;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use crate::controller_utils as cu;

/// Annotation (and label) carrying a pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// Upstream `names.MaxGeneratedNameLength` (63 minus the 5 random characters).
const MAX_GENERATED_NAME_LENGTH: usize = 58;

/// The pod's completion index, if it carries a valid one.
pub fn completion_index(pod: &Pod) -> Option<usize> {
    let v = pod.metadata.annotations.as_ref()?.get(COMPLETION_INDEX)?;
    // Go's strconv.Atoi accepts a sign; a negative index is invalid anyway.
    v.parse::<usize>().ok()
}

/// Sorted, non-overlapping, non-adjacent closed intervals of indexes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intervals(Vec<(usize, usize)>);

impl Intervals {
    /// Parses `status.completedIndexes`, dropping what does not parse and
    /// indexes at or beyond `completions` (upstream `parseIndexesFromString`).
    pub fn parse(s: &str, completions: usize) -> Intervals {
        let mut set = BTreeSet::new();
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
            set.extend(lo..=hi);
        }
        Intervals::from_sorted(set)
    }

    fn from_sorted(set: impl IntoIterator<Item = usize>) -> Intervals {
        let mut out: Vec<(usize, usize)> = Vec::new();
        for i in set {
            match out.last_mut() {
                Some((_, hi)) if *hi + 1 == i => *hi = i,
                Some((_, hi)) if *hi >= i => {}
                _ => out.push((i, i)),
            }
        }
        Intervals(out)
    }

    /// These intervals plus `more` indexes.
    pub fn with(&self, more: impl IntoIterator<Item = usize>) -> Intervals {
        let mut set: BTreeSet<usize> = self.iter().collect();
        set.extend(more);
        Intervals::from_sorted(set)
    }

    /// Every index, in order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().flat_map(|(a, b)| *a..=*b)
    }

    /// How many indexes.
    pub fn total(&self) -> usize {
        self.0.iter().map(|(a, b)| b - a + 1).sum()
    }

    /// Whether `ix` is in.
    pub fn has(&self, ix: usize) -> bool {
        self.0.iter().any(|(a, b)| (*a..=*b).contains(&ix))
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
/// that neither succeeded nor have an active pod.
pub fn first_pending(
    succeeded: &Intervals,
    active: &[&Pod],
    count: usize,
    completions: usize,
) -> Vec<usize> {
    let taken: BTreeSet<usize> = active.iter().filter_map(|p| completion_index(p)).collect();
    (0..completions)
        .filter(|i| !succeeded.has(*i) && !taken.contains(i))
        .take(count)
        .collect()
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
