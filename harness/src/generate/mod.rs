//! Generated suites: ordinary scenarios, written on a fixed topology ([`topology`]: namespaces x,
//! y, z × pods a, b, c serving 80 and 81 on TCP, UDP and SCTP), one step per case. Each case
//! applies its policies, probes the whole matrix (every ordered pair but a pod to itself, on every
//! port and protocol served; ICMP too for cases about ICMP) with the oracle's predictions as
//! expectations, and the next step removes them.
//!
//! - [`netpol`]: Kubernetes NetworkPolicy cases; [`cluster`]: ClusterNetworkPolicy;
//!   [`calico`]: Calico; [`precedence`]: the three APIs on one pod; [`random`]: reproducible random cases beyond
//!   the systematic ones (`--seed`).
//! - [`writer`]: the cases as scenario folders, expectations from the oracle.
//!
//! Never asserted, because the behaviour is implementation-defined: a pod's traffic to itself
//! (the diagonal is `-`), cells the oracle calls uncertain (equal ClusterNetworkPolicy
//! priorities), DNS. A case whose matrix has no expected-blocked or no expected-allowed cell
//! proves nothing on some dataplane, so it is not generated.

pub mod calico;
pub mod cluster;
pub mod netpol;
pub mod precedence;
pub mod random;
pub mod topology;
pub mod writer;

use std::collections::BTreeSet;

use crate::capability::Capability;

pub use writer::{GeneratedScenario, render};

/// The tag every case of an API carries, and the suite (scenario) it is written to.
pub const SUITES: [&str; 4] = [netpol::TAG, cluster::TAG, calico::TAG, precedence::TAG];

/// How many random cases `--seed` adds per API.
pub const RANDOM_PER_API: usize = 40;

/// One generated case: the policies of one step and what they exercise.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Short name (`[a-z0-9-]+`), unique in its suite.
    pub name: String,
    /// The suite (scenario) it belongs to: one of [`SUITES`], or `random-<suite>`.
    pub suite: String,
    /// What it exercises (the suite's API tag among them).
    pub tags: BTreeSet<String>,
    /// One sentence for the step's narration.
    pub narration: String,
    /// The policies, as YAML documents (each a complete object).
    pub policies: Vec<String>,
    /// Labels set while the policies are in force (in a step after the one applying them), and
    /// removed by the next case.
    pub labels: Vec<LabelChange>,
    /// Capabilities the case needs besides the suite's (named ports, port ranges, SCTP, …).
    pub requires: BTreeSet<Capability>,
    /// Whether the matrix also probes ICMP.
    pub icmp: bool,
}

impl Case {
    /// A case with no policies yet.
    pub fn new(suite: &str, name: impl Into<String>, narration: impl Into<String>) -> Case {
        Case {
            name: name.into(),
            suite: suite.to_string(),
            tags: BTreeSet::from([suite.to_string()]),
            narration: narration.into(),
            policies: Vec::new(),
            labels: Vec::new(),
            requires: BTreeSet::new(),
            icmp: false,
        }
    }

    /// Adds tags.
    pub fn tag(mut self, tags: &[&str]) -> Case {
        self.tags.extend(tags.iter().map(|t| t.to_string()));
        self
    }

    /// Adds a policy document.
    pub fn policy(mut self, yaml: String) -> Case {
        self.policies.push(yaml);
        self
    }

    /// Adds requirements.
    pub fn require(mut self, caps: &[Capability]) -> Case {
        self.requires.extend(caps.iter().copied());
        self
    }
}

/// A label set on a namespace or a pod while a case's policies are in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelChange {
    /// The namespace (`x`) or the pod (`x/a`).
    pub target: String,
    /// The label key (never `pod`, which the topology sets).
    pub key: String,
    /// The value.
    pub value: String,
}

/// What to generate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Keep only cases carrying one of these tags (all when empty).
    pub tags: Vec<String>,
    /// At most this many cases, taken in turn from each suite so a budget covers every API.
    pub max: Option<usize>,
    /// Add [`RANDOM_PER_API`] random cases per API, reproducibly from this seed.
    pub seed: Option<u64>,
}

/// Why nothing can be generated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GenerateError {
    /// A `--tags` value no case carries.
    #[error("unknown tag `{tag}` (known tags: {known})")]
    UnknownTag {
        /// The tag.
        tag: String,
        /// Every tag some case carries.
        known: String,
    },
    /// A generated case the oracle or the scenario loader refuses (a bug in the generator).
    #[error("generated case {case}: {message}")]
    Invalid {
        /// `suite/case`.
        case: String,
        /// What is wrong.
        message: String,
    },
    /// A folder to be replaced was not written by `generate` (or is a symlink): left alone.
    #[error(
        "{path} exists and was not written by `netpol-harness generate` (its scenario.yaml does not start with the generator's header); refusing to replace it. Pick another --out or remove it"
    )]
    NotGenerated {
        /// The folder.
        path: String,
    },
    /// Writing the files failed.
    #[error("writing {path}: {message}")]
    Write {
        /// The file or folder.
        path: String,
        /// The I/O error.
        message: String,
    },
}

/// Every systematic case, then (with a seed) the random ones, before filtering.
pub fn all_cases(seed: Option<u64>) -> Vec<Case> {
    let mut cases = netpol::cases();
    cases.extend(cluster::cases());
    cases.extend(calico::cases());
    cases.extend(precedence::cases());
    if let Some(seed) = seed {
        cases.extend(random::cases(seed, RANDOM_PER_API));
    }
    cases
}

/// The cases `options` select: tag filter, then the budget taken in turn from each suite.
pub fn cases(options: &Options) -> Result<Vec<Case>, GenerateError> {
    let all = all_cases(options.seed);
    let known: BTreeSet<&str> = all
        .iter()
        .flat_map(|c| c.tags.iter().map(String::as_str))
        .collect();
    if let Some(tag) = options.tags.iter().find(|t| !known.contains(t.as_str())) {
        return Err(GenerateError::UnknownTag {
            tag: tag.clone(),
            known: known.into_iter().collect::<Vec<_>>().join(", "),
        });
    }
    let selected: Vec<Case> = all
        .into_iter()
        .filter(|c| options.tags.is_empty() || options.tags.iter().any(|t| c.tags.contains(t)))
        .collect();
    Ok(match options.max {
        Some(max) if max < selected.len() => budget(selected, max),
        _ => selected,
    })
}

/// `max` cases taken round-robin over the suites (in the order they first appear), each suite's
/// cases in order; the result keeps the original order.
fn budget(cases: Vec<Case>, max: usize) -> Vec<Case> {
    let mut suites: Vec<&str> = Vec::new();
    for c in &cases {
        if !suites.contains(&c.suite.as_str()) {
            suites.push(&c.suite);
        }
    }
    let per_suite: Vec<Vec<usize>> = suites
        .iter()
        .map(|s| {
            cases
                .iter()
                .enumerate()
                .filter(|(_, c)| c.suite == *s)
                .map(|(i, _)| i)
                .collect()
        })
        .collect();
    let mut chosen = BTreeSet::new();
    let mut round = 0;
    while chosen.len() < max {
        for list in &per_suite {
            if chosen.len() < max
                && let Some(&i) = list.get(round)
            {
                chosen.insert(i);
            }
        }
        round += 1;
    }
    cases
        .into_iter()
        .enumerate()
        .filter(|(i, _)| chosen.contains(i))
        .map(|(_, c)| c)
        .collect()
}

/// YAML for a selector's `matchLabels` / `matchExpressions` pieces, shared by the builders.
pub(crate) mod yaml {
    /// `{matchLabels: {k: v}}`.
    pub fn labels(k: &str, v: &str) -> String {
        format!("{{matchLabels: {{{k}: {v}}}}}")
    }

    /// `{matchLabels: {kubernetes.io/metadata.name: ns}}`.
    pub fn ns(name: &str) -> String {
        labels("kubernetes.io/metadata.name", name)
    }

    /// `{matchExpressions: [{key: k, operator: op, values: [..]}]}` (no values for Exists).
    pub fn expr(k: &str, op: &str, values: &[&str]) -> String {
        if values.is_empty() {
            format!("{{matchExpressions: [{{key: {k}, operator: {op}}}]}}")
        } else {
            format!(
                "{{matchExpressions: [{{key: {k}, operator: {op}, values: [{}]}}]}}",
                values.join(", ")
            )
        }
    }
}

/// What `generate` prints: per scenario the cases and probes, then per tag the cases carrying it.
pub fn summary(scenarios: &[GeneratedScenario]) -> String {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut tags: BTreeMap<&str, usize> = BTreeMap::new();
    for s in scenarios {
        let _ = writeln!(
            out,
            "{:<28} {:>4} cases {:>7} probes{}",
            s.name,
            s.cases.len(),
            s.probes,
            if s.vacuous.is_empty() {
                String::new()
            } else {
                format!(" ({} vacuous left out)", s.vacuous.len())
            }
        );
        for (_, case_tags) in &s.cases {
            for t in case_tags {
                *tags.entry(t).or_default() += 1;
            }
        }
    }
    out.push_str("cases per tag:\n");
    for (tag, n) in tags {
        let _ = writeln!(out, "  {tag:<28} {n:>4}");
    }
    out
}
