//! How a scenario step applies to a CNI profile: applicable, not applicable, not enforced, or a
//! known deviation.

use std::collections::BTreeSet;
use std::fmt;

use super::{CniProfile, DeviationMatch, KnownDeviation, is_network_policy_feature};
use crate::capability::Capability;

/// Whether a scenario step can run on a CNI, and how to read its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applicability {
    /// Run it; any mismatch is a failure.
    Applicable,
    /// Skip it: the cluster lacks something the step needs (an API, an ingress controller…).
    NotApplicable {
        /// The capabilities the step needs and the CNI lacks.
        missing: Vec<Capability>,
        /// An upstream issue tracking the missing support, if there is one.
        issue_url: Option<&'static str>,
    },
    /// Run it; a mismatch is expected and reported as a known deviation, not a failure.
    KnownDeviation(KnownDeviation),
    /// The CNI enforces no NetworkPolicy: policies apply but change nothing.
    NotEnforced,
}

impl fmt::Display for Applicability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Applicability::Applicable => f.write_str("applicable"),
            Applicability::NotApplicable { missing, issue_url } => {
                let names: Vec<&str> = missing.iter().map(|c| c.name()).collect();
                write!(f, "not applicable: needs {}", names.join(", "))?;
                if let Some(url) = issue_url {
                    write!(f, " ({url})")?;
                }
                Ok(())
            }
            Applicability::KnownDeviation(d) => {
                write!(f, "known deviation: {} ({})", d.summary, d.issue_url)
            }
            Applicability::NotEnforced => f.write_str("not enforced: the CNI enforces no policy"),
        }
    }
}

/// Decides how a step (`step_id` is `scenario/step`) that requires `requires` applies to `profile`.
///
/// In order: a missing capability that is not a NetworkPolicy feature (Calico CRDs,
/// AdminNetworkPolicy, ingress controller, internet) makes the step not applicable. A missing
/// NetworkPolicy feature makes it not enforced on a CNI that enforces no policy, a known deviation
/// if the profile lists one for it, and not applicable otherwise. Finally a deviation listed for
/// the step's id makes it a known deviation.
pub fn classify(profile: &CniProfile, step_id: &str, requires: &[Capability]) -> Applicability {
    let missing: BTreeSet<Capability> = requires
        .iter()
        .copied()
        .filter(|c| !profile.enforces.contains(c))
        .collect();
    let deviation_for = |c: Capability| {
        profile
            .known_deviations
            .iter()
            .find(|d| d.matches == DeviationMatch::Capability(c))
    };

    let unavailable: Vec<Capability> = missing
        .iter()
        .copied()
        .filter(|c| !is_network_policy_feature(*c))
        .collect();
    if !unavailable.is_empty() {
        let issue_url = unavailable
            .iter()
            .find_map(|c| deviation_for(*c))
            .map(|d| d.issue_url);
        return Applicability::NotApplicable {
            missing: unavailable,
            issue_url,
        };
    }
    if !missing.is_empty() {
        if !profile.enforces_policy {
            return Applicability::NotEnforced;
        }
        return match missing.iter().find_map(|c| deviation_for(*c)) {
            Some(d) => Applicability::KnownDeviation(d.clone()),
            None => Applicability::NotApplicable {
                missing: missing.into_iter().collect(),
                issue_url: None,
            },
        };
    }
    let by_step = profile.known_deviations.iter().find(|d| match d.matches {
        DeviationMatch::Step(pattern) => glob_match(pattern, step_id),
        DeviationMatch::Capability(_) => false,
    });
    match by_step {
        Some(d) => Applicability::KnownDeviation(d.clone()),
        None => Applicability::Applicable,
    }
}

/// Matches `text` against `pattern`, where `*` stands for any run of characters.
fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("*", "anything/at-all", true)]
    #[case("a/*", "a/b", true)]
    #[case("a/*", "b/a", false)]
    #[case("*/deny-*", "tut/deny-all", true)]
    #[case("*/deny-*", "tut/allow-all", false)]
    #[case("x*y*z", "xaaybbz", true)]
    #[case("x*y*z", "xaaz", false)]
    #[case("exact", "exact", true)]
    #[case("exact", "exact-not", false)]
    fn glob(#[case] pattern: &str, #[case] text: &str, #[case] expected: bool) {
        assert_eq!(glob_match(pattern, text), expected);
    }
}
