//! `spec.successPolicy` of Indexed Jobs (upstream `success_policy.go`): a
//! Job whose succeeded indexes meet one of the policy's rules has met its
//! success criteria, even before every index ran.
//!
//! Owns: matching rules against the succeeded indexes. Does not own: what
//! follows a match (the controller sets `SuccessCriteriaMet`, terminates the
//! remaining pods, then sets `Complete`).

use k8s_openapi::api::batch::v1::{SuccessPolicy, SuccessPolicyRule};

use super::indexes::Intervals;

/// `matchSuccessPolicy`: the message of the `SuccessCriteriaMet` condition
/// when a rule is met (the first one in order), else `None`.
pub fn matched(
    policy: Option<&SuccessPolicy>,
    completions: usize,
    succeeded: &Intervals,
) -> Option<String> {
    let policy = policy?;
    if succeeded.is_empty() {
        return None;
    }
    policy
        .rules
        .iter()
        .position(|rule| rule_met(rule, completions, succeeded))
        .map(|index| format!("Matched rules at index {index}"))
}

/// Whether one rule is met. With `succeededIndexes`, all of them succeeded,
/// or at least `succeededCount` of them; with only `succeededCount`, that
/// many indexes succeeded. A `succeededIndexes` that names no index below
/// `completions` never matches (upstream skips such a rule).
pub fn rule_met(rule: &SuccessPolicyRule, completions: usize, succeeded: &Intervals) -> bool {
    let count = rule.succeeded_count.map(|c| c.max(0) as usize);
    match &rule.succeeded_indexes {
        Some(s) => {
            let required = Intervals::parse(s, completions);
            if required.is_empty() {
                return false;
            }
            let have = required.overlap(succeeded);
            have == required.total() || count.is_some_and(|c| have >= c)
        }
        None => count.is_some_and(|c| succeeded.total() >= c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: serde_json::Value) -> SuccessPolicy {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("bad policy: {e}"))
    }

    #[test]
    fn succeeded_indexes_must_all_succeed() {
        let p = policy(json!({"rules": [{"succeededIndexes": "0,2-3"}]}));
        let ok = |s: &str| matched(Some(&p), 5, &Intervals::parse(s, 5));
        assert_eq!(ok("0,2"), None);
        assert_eq!(ok("0-1,3"), None);
        assert_eq!(ok("0,2-4").as_deref(), Some("Matched rules at index 0"));
    }

    #[test]
    fn succeeded_count_within_indexes_is_enough() {
        let p = policy(json!({"rules": [{"succeededIndexes": "1-4", "succeededCount": 2}]}));
        // Indexes 0 and 5 are outside the rule: they do not count.
        assert_eq!(matched(Some(&p), 6, &Intervals::parse("0,2,5", 6)), None);
        assert!(matched(Some(&p), 6, &Intervals::parse("0,2,4", 6)).is_some());
    }

    #[test]
    fn succeeded_count_alone_counts_every_index() {
        let p = policy(json!({"rules": [
            {"succeededIndexes": "9"},
            {"succeededCount": 3},
        ]}));
        assert_eq!(matched(Some(&p), 10, &Intervals::parse("0,1", 10)), None);
        assert_eq!(
            matched(Some(&p), 10, &Intervals::parse("0,1,7", 10)).as_deref(),
            Some("Matched rules at index 1")
        );
        // The first rule that matches names the message.
        assert_eq!(
            matched(Some(&p), 10, &Intervals::parse("0,1,9", 10)).as_deref(),
            Some("Matched rules at index 0")
        );
    }

    #[test]
    fn nothing_matches_without_policy_success_or_valid_indexes() {
        let p = policy(json!({"rules": [{"succeededCount": 0}]}));
        // A count of zero still needs one succeeded index (upstream returns
        // early on an empty list).
        assert_eq!(matched(Some(&p), 3, &Intervals::default()), None);
        assert!(matched(Some(&p), 3, &Intervals::parse("1", 3)).is_some());
        assert_eq!(matched(None, 3, &Intervals::parse("0-2", 3)), None);
        // Indexes beyond completions are dropped: the rule names nothing.
        let beyond = policy(json!({"rules": [{"succeededIndexes": "7-9"}]}));
        assert_eq!(matched(Some(&beyond), 3, &Intervals::parse("0-2", 3)), None);
    }
}
