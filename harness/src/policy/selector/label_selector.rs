//! Kubernetes `LabelSelector`s as selectors, validated as Kubernetes validates them.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::Selector;

/// Why a Kubernetes `LabelSelector` is invalid; each variant names the offending field, such as
/// `matchExpressions[1].operator` or `matchLabels.app`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelSelectorError {
    /// A label key is not a Kubernetes qualified name (`[prefix/]name`).
    #[error("{field}: invalid label key `{key}`: {reason}")]
    InvalidKey {
        /// The field holding the key.
        field: String,
        /// The key as given.
        key: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A label value is not a valid Kubernetes label value.
    #[error("{field}: invalid label value `{value}`: {reason}")]
    InvalidValue {
        /// The field holding the value.
        field: String,
        /// The value as given.
        value: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A `matchExpressions` operator other than In, NotIn, Exists and DoesNotExist.
    #[error("{field}: unknown operator `{operator}` (expected In, NotIn, Exists, DoesNotExist)")]
    UnknownOperator {
        /// The operator field.
        field: String,
        /// The operator as given.
        operator: String,
    },
    /// `In` or `NotIn` without values.
    #[error("{field}: must be non-empty for {operator}")]
    MissingValues {
        /// The values field.
        field: String,
        /// The operator that needs values.
        operator: String,
    },
    /// `Exists` or `DoesNotExist` with values.
    #[error("{field}: must be empty for {operator}")]
    UnexpectedValues {
        /// The values field.
        field: String,
        /// The operator that takes no values.
        operator: String,
    },
}

impl LabelSelectorError {
    /// The path of the offending field, relative to the `LabelSelector`.
    pub fn field(&self) -> &str {
        match self {
            LabelSelectorError::InvalidKey { field, .. }
            | LabelSelectorError::InvalidValue { field, .. }
            | LabelSelectorError::UnknownOperator { field, .. }
            | LabelSelectorError::MissingValues { field, .. }
            | LabelSelectorError::UnexpectedValues { field, .. } => field,
        }
    }
}

impl Selector {
    /// Converts a Kubernetes LabelSelector (matchLabels + matchExpressions
    /// In/NotIn/Exists/DoesNotExist) into the equivalent selector; `{}` (or all-empty) means All.
    ///
    /// The terms are ANDed, matchLabels (in key order) first: `k: v` becomes `k == 'v'`, `In`
    /// becomes `k in {…}`, `NotIn` becomes `k not in {…}` (true when the key is absent, as in
    /// Kubernetes), `Exists` becomes `has(k)` and `DoesNotExist` becomes `!has(k)`. A single term
    /// is returned bare, not wrapped in [`Selector::And`]. Keys and values are validated as
    /// Kubernetes validates them; the first problem found is returned.
    ///
    /// ```
    /// use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    ///     LabelSelector, LabelSelectorRequirement,
    /// };
    /// use netpol_harness::policy::Selector;
    ///
    /// let mut ls = LabelSelector {
    ///     match_labels: Some([("app".to_string(), "web".to_string())].into()),
    ///     match_expressions: Some(vec![LabelSelectorRequirement {
    ///         key: "env".into(),
    ///         operator: "NotIn".into(),
    ///         values: Some(vec!["prod".into()]),
    ///     }]),
    /// };
    /// let sel = Selector::from_label_selector(&ls).unwrap();
    /// assert_eq!(sel.to_string(), "app == 'web' && env not in {'prod'}");
    ///
    /// ls.match_expressions.as_mut().unwrap()[0].values = None;
    /// let err = Selector::from_label_selector(&ls).unwrap_err();
    /// assert_eq!(err.field(), "matchExpressions[0].values");
    /// ```
    pub fn from_label_selector(sel: &LabelSelector) -> Result<Selector, LabelSelectorError> {
        let mut terms = Vec::new();
        for (key, value) in sel.match_labels.iter().flatten() {
            let field = format!("matchLabels.{key}");
            check_key(&field, key)?;
            check_value(&field, value)?;
            terms.push(Selector::Equals(key.clone(), value.clone()));
        }
        for (i, req) in sel.match_expressions.iter().flatten().enumerate() {
            let field = format!("matchExpressions[{i}]");
            let values = req.values.as_deref().unwrap_or_default();
            let values_field = || format!("{field}.values");
            type Build = fn(String, BTreeSet<String>) -> Selector;
            let (takes_values, build): (bool, Build) = match req.operator.as_str() {
                "In" => (true, Selector::In),
                "NotIn" => (true, Selector::NotIn),
                "Exists" => (false, |key, _| Selector::Has(key)),
                "DoesNotExist" => (false, |key, _| Selector::Not(Box::new(Selector::Has(key)))),
                other => {
                    return Err(LabelSelectorError::UnknownOperator {
                        field: format!("{field}.operator"),
                        operator: other.to_string(),
                    });
                }
            };
            if takes_values && values.is_empty() {
                return Err(LabelSelectorError::MissingValues {
                    field: values_field(),
                    operator: req.operator.clone(),
                });
            }
            if !takes_values && !values.is_empty() {
                return Err(LabelSelectorError::UnexpectedValues {
                    field: values_field(),
                    operator: req.operator.clone(),
                });
            }
            check_key(&format!("{field}.key"), &req.key)?;
            for (j, value) in values.iter().enumerate() {
                check_value(&format!("{field}.values[{j}]"), value)?;
            }
            terms.push(build(req.key.clone(), values.iter().cloned().collect()));
        }
        Ok(if terms.len() > 1 {
            Selector::And(terms)
        } else {
            terms.pop().unwrap_or(Selector::All)
        })
    }
}

/// Checks a label key as Kubernetes does (a qualified name: optional DNS-subdomain prefix and
/// `/`, then a name of at most 63 characters).
fn check_key(field: &str, key: &str) -> Result<(), LabelSelectorError> {
    let problem = |reason: &str| LabelSelectorError::InvalidKey {
        field: field.to_string(),
        key: key.to_string(),
        reason: reason.to_string(),
    };
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty() {
                return Err(problem("prefix part must be non-empty"));
            }
            if prefix.len() > 253 {
                return Err(problem("prefix part must be no more than 253 characters"));
            }
            if !is_dns_subdomain(prefix) {
                return Err(problem(
                    "prefix part must be a lowercase DNS subdomain (e.g. `example.com`)",
                ));
            }
            name
        }
        None => key,
    };
    if name.is_empty() {
        return Err(problem("name part must be non-empty"));
    }
    if name.len() > 63 {
        return Err(problem("name part must be no more than 63 characters"));
    }
    if !is_label_name(name) {
        return Err(problem(
            "name part must consist of alphanumerics, `-`, `_` or `.`, and start and end with an alphanumeric",
        ));
    }
    Ok(())
}

/// Checks a label value as Kubernetes does (empty, or at most 63 characters of alphanumerics,
/// `-`, `_` and `.`, starting and ending with an alphanumeric).
fn check_value(field: &str, value: &str) -> Result<(), LabelSelectorError> {
    let reason = if value.len() > 63 {
        "must be no more than 63 characters"
    } else if !value.is_empty() && !is_label_name(value) {
        "must consist of alphanumerics, `-`, `_` or `.`, and start and end with an alphanumeric"
    } else {
        return Ok(());
    };
    Err(LabelSelectorError::InvalidValue {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    })
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_label_name(s: &str) -> bool {
    let alnum_ends = s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric());
    alnum_ends
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A lowercase RFC 1123 subdomain: dot-separated labels of `[a-z0-9-]`, each starting and ending
/// with an alphanumeric.
fn is_dns_subdomain(s: &str) -> bool {
    let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.split('.').all(|part| {
        part.starts_with(lower_alnum)
            && part.ends_with(lower_alnum)
            && part.chars().all(|c| lower_alnum(c) || c == '-')
    })
}
