//! Field selectors: the `fieldSelector` query string.
//!
//! Owns parsing (grammar, escaping and error messages of
//! `k8s.io/apimachinery/pkg/fields`, v1.33), matching, the canonical string
//! form, and the per-kind check of field names (`Selector::transform`, with
//! upstream's `field label not supported` messages). Does not own which fields
//! a kind supports (the registry's strategies say) or the HTTP answer (400
//! BadRequest with this module's message).

use std::collections::BTreeMap;
use std::fmt;

/// Why a field selector was refused; `Display` is upstream's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A term without `=`, `==` or `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    Syntax { selector: String, term: String },
    /// A backslash not followed by `\`, `,` or `=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscape(String),
    /// A `,` or `=` in a value without a backslash. Upstream prints the
    /// character's code point in decimal (Go `%v` of a rune).
    #[error("invalid field selector: unescaped character in value: {}", u32::from(*.0))]
    UnescapedRune(char),
    /// A field the kind does not support (kinds with their own field list).
    #[error("field label not supported: {0}")]
    NotSupported(String),
    /// A field other than `metadata.name`/`metadata.namespace`, for kinds with
    /// no field list of their own (`DefaultMetaV1FieldSelectorConversion`).
    #[error("{0:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"")]
    NotKnown(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The operators of a field selector term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `=` or `==`.
    Equals,
    /// `!=`.
    NotEquals,
}

/// One `field=value` or `field!=value` term; `value` is unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub field: String,
    pub operator: Operator,
    pub value: String,
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape_value(&self.value))
    }
}

/// A field selector: terms that must all hold. Empty matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// `field=value` for one field.
    pub fn one_term_equal(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            requirements: vec![Requirement {
                field: field.into(),
                operator: Operator::Equals,
                value: value.into(),
            }],
        }
    }

    /// Parses the string form (`spec.nodeName=n1,status.phase!=Failed`), as
    /// `fields.ParseSelector`: terms are split on unescaped commas and kept in
    /// sorted order of their text; empty terms are skipped.
    pub fn parse(selector: &str) -> Result<Self> {
        let mut terms = split_terms(selector);
        terms.sort_unstable();
        let mut requirements = Vec::new();
        for term in terms {
            if term.is_empty() {
                continue;
            }
            let Some((field, operator, raw)) = split_term(term) else {
                return Err(Error::Syntax {
                    selector: selector.to_string(),
                    term: term.to_string(),
                });
            };
            let value = unescape_value(raw)?;
            // Upstream's identity transform drops a term with neither field
            // nor value (`=`).
            if field.is_empty() && value.is_empty() {
                continue;
            }
            requirements.push(Requirement {
                field: field.to_string(),
                operator,
                value,
            });
        }
        Ok(Self { requirements })
    }

    /// The terms, in order.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True when the selector matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object whose field values `get` returns matches; a field
    /// `get` does not know has the empty value, as upstream.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let actual = get(&r.field).unwrap_or_default();
            match r.operator {
                Operator::Equals => actual == r.value,
                Operator::NotEquals => actual != r.value,
            }
        })
    }

    /// [`Selector::matches`] against a map of field name to value.
    pub fn matches_map(&self, fields: &BTreeMap<String, String>) -> bool {
        self.matches(|f| fields.get(f).cloned())
    }

    /// The value `field` must equal, if some term pins it (`spec.nodeName=x`),
    /// so that a list can be answered from an index.
    pub fn requires_exact(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == Operator::Equals)
            .map(|r| r.value.as_str())
    }

    /// Rewrites each term's field and value (`Selector.Transform`): the API
    /// server's per-kind check and renaming of field labels (`spec.host` to
    /// `spec.nodeName` for pods). The first error wins; a term mapped to an
    /// empty field and value is dropped.
    pub fn transform(&self, f: impl Fn(&str, &str) -> Result<(String, String)>) -> Result<Self> {
        let mut requirements = Vec::with_capacity(self.requirements.len());
        for r in &self.requirements {
            let (field, value) = f(&r.field, &r.value)?;
            if field.is_empty() && value.is_empty() {
                continue;
            }
            requirements.push(Requirement {
                field,
                operator: r.operator,
                value,
            });
        }
        Ok(Self { requirements })
    }

    /// Checks every field against a kind's supported list, in term order:
    /// `field label not supported: <name>` for the first other one.
    pub fn check_supported(&self, supported: &[&str]) -> Result<()> {
        match self
            .requirements
            .iter()
            .find(|r| !supported.contains(&r.field.as_str()))
        {
            Some(r) => Err(Error::NotSupported(r.field.clone())),
            None => Ok(()),
        }
    }

    /// The check for kinds without a field list of their own: only
    /// `metadata.name` and `metadata.namespace`.
    pub fn check_default_fields(&self) -> Result<()> {
        match self
            .requirements
            .iter()
            .find(|r| r.field != "metadata.name" && r.field != "metadata.namespace")
        {
            Some(r) => Err(Error::NotKnown(r.field.clone())),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Selector {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// Escapes `\`, `,` and `=` in a value with a backslash (`EscapeValue`).
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Undoes [`escape_value`]; a lone `,` or `=`, or another escape, is an error
/// (`UnescapeValue`).
pub fn unescape_value(s: &str) -> Result<String> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(Error::InvalidEscape(format!("\\{c}")));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(Error::UnescapedRune(c)),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(Error::InvalidEscape("\\".to_string()));
    }
    Ok(out)
}

/// Splits on commas not preceded by an escaping backslash.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at its first operator. Escapes are not considered here, as
/// upstream: `a\=b=c` splits after `a\`.
fn split_term(term: &str) -> Option<(&str, Operator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, len, operator) in [
            ("!=", 2, Operator::NotEquals),
            ("==", 2, Operator::Equals),
            ("=", 1, Operator::Equals),
        ] {
            if rest.starts_with(op) {
                return Some((&term[..i], operator, &term[i + len..]));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
