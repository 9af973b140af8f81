//! The Calico selector language: parsing, evaluation, canonical printing, and conversion from
//! Kubernetes `LabelSelector`s.
//!
//! Calico policies pick endpoints with expressions such as
//! `app == 'web' && !has(quarantine) || role in {'db', 'cache'}`. This module follows
//! libcalico-go's tokenizer and parser (`lib/selector`) closely, including its quirks, so that the
//! oracle accepts and rejects the same selectors Calico does:
//!
//! - only space and tab count as whitespace (a newline is an error);
//! - `has(`, `all(` and `global(` are single tokens, so no whitespace may come before the `(`
//!   (`has (a)` reads as the label `has` followed by `(`, an error);
//! - the two-word operators may also be written as one word: `notin`, `startswith`, `endswith`;
//! - an operator word must end at a word boundary (`a inx {}` is an error);
//! - a run of `!` collapses to its parity (`!!has(a)` is `has(a)`);
//! - a set literal may end with a comma (`a in {'x',}`);
//! - strings have no escapes: `'…'` may contain `"` and `"…"` may contain `'`;
//! - labels are at most [`MAX_LABEL_LEN`] characters of `[A-Za-z0-9_./-]`.
//!
//! Unlike Calico, parentheses may nest at most [`MAX_NESTING`] deep, so that hostile input returns
//! an error instead of exhausting the stack.
//!
//! One job per file: the lexer (`lex`), the parser (`parse`), canonical printing (`print`), and
//! the conversion from Kubernetes `LabelSelector`s with their validation (`label_selector`).

use std::collections::BTreeSet;

use crate::model::Labels;

mod label_selector;
mod lex;
mod parse;
mod print;

pub use label_selector::LabelSelectorError;

/// The longest label name a selector may mention, in characters (as in Calico).
pub const MAX_LABEL_LEN: usize = 512;

/// How deeply parentheses may nest in a selector before parsing fails.
pub const MAX_NESTING: usize = 100;

/// A parsed Calico selector.
///
/// With the label absent, the negative operators (`!=`, `not in`) are true and the positive ones
/// (`==`, `in`, `contains`, `starts with`, `ends with`) are false, as in Calico.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// `all()`, also the meaning of the empty selector: matches every label set.
    ///
    /// Where the selector is a `namespaceSelector`, what "all" ranges over is up to the caller.
    All,
    /// `global()`: matches every label set.
    ///
    /// In Calico it is meant for a rule's `namespaceSelector`, where it selects non-namespaced
    /// resources (host endpoints, global network sets); callers give it that meaning.
    Global,
    /// `has(key)`: the label is present, whatever its value.
    Has(String),
    /// `key == 'value'`: the label is present with exactly this value.
    Equals(String, String),
    /// `key != 'value'`: the label is absent or has another value.
    NotEquals(String, String),
    /// `key in {'a', 'b'}`: the label is present with one of these values (never, for `{}`).
    In(String, BTreeSet<String>),
    /// `key not in {'a', 'b'}`: the label is absent or has none of these values.
    NotIn(String, BTreeSet<String>),
    /// `key contains 'sub'`: the label is present and its value contains the substring.
    Contains(String, String),
    /// `key starts with 'pre'`: the label is present and its value starts with the prefix.
    StartsWith(String, String),
    /// `key ends with 'suf'`: the label is present and its value ends with the suffix.
    EndsWith(String, String),
    /// `!sel`: the inner selector does not match.
    Not(Box<Selector>),
    /// `a && b && …`: every operand matches (true when there are none).
    And(Vec<Selector>),
    /// `a || b || …`: some operand matches (false when there are none).
    Or(Vec<Selector>),
}

/// Why a string is not a valid selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid selector `{selector}` at position {position}: {message}")]
pub struct SelectorError {
    /// The selector as given.
    pub selector: String,
    /// Where the problem is: a 0-based offset in characters (not bytes).
    pub position: usize,
    /// What was wrong, and usually what was expected instead.
    pub message: String,
}

impl Selector {
    /// Whether the selector matches an endpoint with these labels (or, prefixed by the caller,
    /// its namespace's).
    ///
    /// ```
    /// use netpol_harness::model::Labels;
    /// use netpol_harness::policy::Selector;
    ///
    /// let web: Labels = [("app".to_string(), "web".to_string())].into();
    /// let sel = Selector::parse("app in {'web', 'api'} && tier != 'db'").unwrap();
    /// assert!(sel.matches(&web)); // `!=` holds when the label is absent
    /// assert!(!Selector::parse("tier in {'db'}").unwrap().matches(&web)); // `in` does not
    /// assert!(!Selector::parse("app starts with 'api'").unwrap().matches(&web));
    /// assert!(Selector::parse("all()").unwrap().matches(&Labels::new()));
    /// ```
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = |key: &String| labels.get(key).map(String::as_str);
        match self {
            Selector::All | Selector::Global => true,
            Selector::Has(k) => labels.contains_key(k),
            Selector::Equals(k, v) => value(k) == Some(v.as_str()),
            Selector::NotEquals(k, v) => value(k) != Some(v.as_str()),
            Selector::In(k, set) => value(k).is_some_and(|have| set.contains(have)),
            Selector::NotIn(k, set) => !value(k).is_some_and(|have| set.contains(have)),
            Selector::Contains(k, v) => value(k).is_some_and(|have| have.contains(v.as_str())),
            Selector::StartsWith(k, v) => value(k).is_some_and(|have| have.starts_with(v.as_str())),
            Selector::EndsWith(k, v) => value(k).is_some_and(|have| have.ends_with(v.as_str())),
            Selector::Not(inner) => !inner.matches(labels),
            Selector::And(operands) => operands.iter().all(|s| s.matches(labels)),
            Selector::Or(operands) => operands.iter().any(|s| s.matches(labels)),
        }
    }
    /// Rewrites every label key through `f` (used to prefix namespace labels as Calico does with `pcns.`). All/Global unchanged.
    pub fn map_keys(&self, f: &dyn Fn(&str) -> String) -> Selector {
        match self {
            Selector::All => Selector::All,
            Selector::Global => Selector::Global,
            Selector::Has(k) => Selector::Has(f(k)),
            Selector::Equals(k, v) => Selector::Equals(f(k), v.clone()),
            Selector::NotEquals(k, v) => Selector::NotEquals(f(k), v.clone()),
            Selector::In(k, set) => Selector::In(f(k), set.clone()),
            Selector::NotIn(k, set) => Selector::NotIn(f(k), set.clone()),
            Selector::Contains(k, v) => Selector::Contains(f(k), v.clone()),
            Selector::StartsWith(k, v) => Selector::StartsWith(f(k), v.clone()),
            Selector::EndsWith(k, v) => Selector::EndsWith(f(k), v.clone()),
            Selector::Not(inner) => Selector::Not(Box::new(inner.map_keys(f))),
            Selector::And(operands) => {
                Selector::And(operands.iter().map(|s| s.map_keys(f)).collect())
            }
            Selector::Or(operands) => {
                Selector::Or(operands.iter().map(|s| s.map_keys(f)).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests;
