//! Label selectors over typed objects, compiled once per pod or node so that
//! matching in the filter loop is allocation-free.
//!
//! Owns: `metav1.LabelSelector` (`matchLabels`, `matchExpressions` with In,
//! NotIn, Exists, DoesNotExist) and `v1.NodeSelectorRequirement` (adds Gt and
//! Lt). A nil `LabelSelector` selects nothing and an empty one everything, as
//! `metav1.LabelSelectorAsSelector`. Does not own: the query-string grammar
//! (that is `skiff_core::labels`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::NodeSelectorRequirement;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Labels of an object.
pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

/// One `key op values` requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    pub values: Vec<String>,
}

impl Requirement {
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.op {
            Op::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Op::NotIn => value.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::Gt | Op::Lt => {
                // nodeaffinity: Gt/Lt take exactly one integer value; a label
                // that is not an integer does not match.
                let (Some(v), [bound]) = (value, self.values.as_slice()) else {
                    return false;
                };
                let (Ok(v), Ok(bound)) = (v.parse::<i64>(), bound.parse::<i64>()) else {
                    return false;
                };
                if self.op == Op::Gt {
                    v > bound
                } else {
                    v < bound
                }
            }
        }
    }
}

/// A compiled selector: all requirements must match. `nothing` selects no
/// object at all (a nil selector, or one that failed to convert).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
    pub nothing: bool,
}

impl Selector {
    /// Selects every object.
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// Selects no object.
    pub fn nothing() -> Selector {
        Selector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// `metav1.LabelSelectorAsSelector`: nil selects nothing, `{}` everything,
    /// an unknown operator nothing (the API server validates operators, so
    /// that only guards against bad stored data).
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Selector {
        let Some(selector) = selector else {
            return Selector::nothing();
        };
        let mut requirements = Vec::new();
        for (k, v) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement {
                key: k.clone(),
                op: Op::In,
                values: vec![v.clone()],
            });
        }
        for expr in selector.match_expressions.iter().flatten() {
            let op = match expr.operator.as_str() {
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                _ => return Selector::nothing(),
            };
            requirements.push(Requirement {
                key: expr.key.clone(),
                op,
                values: expr.values.clone().unwrap_or_default(),
            });
        }
        Selector {
            requirements,
            nothing: false,
        }
    }

    /// Equality requirements from a plain map (`nodeSelector`, `matchLabels`).
    pub fn from_map(map: &BTreeMap<String, String>) -> Selector {
        Selector {
            requirements: map
                .iter()
                .map(|(k, v)| Requirement {
                    key: k.clone(),
                    op: Op::In,
                    values: vec![v.clone()],
                })
                .collect(),
            nothing: false,
        }
    }

    /// Node selector requirements (`matchExpressions` of a NodeSelectorTerm).
    /// An unknown operator makes the term match nothing.
    pub fn from_node_requirements(reqs: &[NodeSelectorRequirement]) -> Selector {
        let mut requirements = Vec::with_capacity(reqs.len());
        for r in reqs {
            let op = match r.operator.as_str() {
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                "Gt" => Op::Gt,
                "Lt" => Op::Lt,
                _ => return Selector::nothing(),
            };
            requirements.push(Requirement {
                key: r.key.clone(),
                op,
                values: r.values.clone().unwrap_or_default(),
            });
        }
        Selector {
            requirements,
            nothing: false,
        }
    }

    pub fn is_everything(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Adds `key In (value)`; used for `matchLabelKeys`.
    pub fn add_equals(&mut self, key: &str, value: &str) {
        self.requirements.push(Requirement {
            key: key.to_string(),
            op: Op::In,
            values: vec![value.to_string()],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selector_rules() {
        let expr = |key: &str, op: &str, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|s| s.to_string()).collect()),
        };
        let cases: Vec<(&str, Option<LabelSelector>, Labels, bool)> = vec![
            ("nil selects nothing", None, labels(&[("a", "b")]), false),
            (
                "empty selects everything",
                Some(LabelSelector::default()),
                labels(&[]),
                true,
            ),
            (
                "matchLabels",
                Some(LabelSelector {
                    match_labels: Some([("app".to_string(), "web".to_string())].into()),
                    ..Default::default()
                }),
                labels(&[("app", "web"), ("x", "y")]),
                true,
            ),
            (
                "matchLabels mismatch",
                Some(LabelSelector {
                    match_labels: Some([("app".to_string(), "web".to_string())].into()),
                    ..Default::default()
                }),
                labels(&[("app", "db")]),
                false,
            ),
            (
                "NotIn matches a missing key",
                Some(LabelSelector {
                    match_expressions: Some(vec![expr("app", "NotIn", &["db"])]),
                    ..Default::default()
                }),
                labels(&[]),
                true,
            ),
            (
                "DoesNotExist",
                Some(LabelSelector {
                    match_expressions: Some(vec![expr("app", "DoesNotExist", &[])]),
                    ..Default::default()
                }),
                labels(&[("app", "x")]),
                false,
            ),
            (
                "unknown operator selects nothing",
                Some(LabelSelector {
                    match_expressions: Some(vec![expr("app", "Gt", &["1"])]),
                    ..Default::default()
                }),
                labels(&[("app", "2")]),
                false,
            ),
        ];
        for (name, sel, l, want) in cases {
            assert_eq!(
                Selector::from_label_selector(sel.as_ref()).matches(&l),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn node_requirements_gt_lt() {
        let req = |op: &str, v: &str| NodeSelectorRequirement {
            key: "n".into(),
            operator: op.into(),
            values: Some(vec![v.into()]),
        };
        let l = labels(&[("n", "5")]);
        assert!(Selector::from_node_requirements(&[req("Gt", "4")]).matches(&l));
        assert!(!Selector::from_node_requirements(&[req("Gt", "5")]).matches(&l));
        assert!(Selector::from_node_requirements(&[req("Lt", "6")]).matches(&l));
        assert!(!Selector::from_node_requirements(&[req("Lt", "x")]).matches(&l));
        assert!(!Selector::from_node_requirements(&[req("Gt", "1")]).matches(&labels(&[])));
    }
}
