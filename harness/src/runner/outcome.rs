//! What a run found: per cell, per step, per scenario; and how a step reads on the CNI it ran
//! on ([`StepOutcome::result`], the `results.json` entry). A cell's own outcome is in `cell`.

mod cell;

use std::collections::BTreeMap;
use std::time::Duration;

pub use cell::{CellOutcome, Unasserted, Undecided, connected, matches, port_not_served};

use crate::capability::Capability;
use crate::cluster::ClusterError;
use crate::probe::DenyStyle;
use crate::provision::cni::{Applicability, DeviationMatch};
use crate::report::cells::CellRecord;
use crate::report::results::{CellCounts, ScenarioResult, StepMeasures, StepResult, StepStatus};
use crate::scenario::format::Expectation;

/// The verdict on what a step observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepVerdict {
    /// Every probe observed what was expected, consistently.
    Pass,
    /// Some probe did not, or flapped, or could not be made.
    Fail,
    /// Every probe expected to be blocked was allowed: policy is not enforced at all, so the
    /// other matches prove nothing.
    NotEnforced,
    /// The step could not be run (its actions failed, or an earlier step's did).
    Error,
    /// The step's probes were not run: the CNI lacks a capability it requires (its actions
    /// were, for the steps after it).
    NotApplicable,
}

/// What one step found.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutcome {
    /// The step's name.
    pub name: String,
    /// How the step applies to the CNI under test ([`Applicability::Applicable`] without one).
    pub applicability: Applicability,
    /// The verdict.
    pub verdict: StepVerdict,
    /// The verdict in words.
    pub reason: String,
    /// What the step exercises (its scenario step's `tags`).
    pub tags: Vec<String>,
    /// Every probe's cell.
    pub cells: Vec<CellOutcome>,
    /// Probe rounds made (first, re-probes, confirmation).
    pub rounds: usize,
    /// Probe execs made (one per source pod per round).
    pub execs: usize,
    /// Execs made to find out which probe tool a pod has (once per pod per scenario).
    pub detect_execs: usize,
    /// Whether a confirmation pass was made (only after re-probing).
    pub confirmed: bool,
    /// Enforcement latency: from the step's last action applied to the end of the first probe
    /// round in which every cell matched, if one did. A step whose actions change nothing
    /// observable matches in its first round, whatever the propagation delay.
    pub converged_after: Option<Duration>,
    /// From the step's last action applied to the end of the confirmation pass, if every cell
    /// matched in it (the first round, when it matched everything, is its own confirmation).
    pub confirmed_after: Option<Duration>,
    /// How long the step took (actions, probing).
    pub duration: Duration,
    /// How the probes expected to be blocked were stopped, counted per style (matched cells
    /// only).
    pub deny_styles: BTreeMap<DenyStyle, usize>,
    /// The deny style the CNI profile declares, if it declares one.
    pub declared_deny_style: Option<DenyStyle>,
    /// Whether the whole matrix was probed (`--matrix full`), not only the claims.
    pub full_matrix: bool,
}

impl StepOutcome {
    /// A step that could not be run.
    pub fn error(name: &str, reason: String) -> StepOutcome {
        StepOutcome {
            name: name.to_string(),
            applicability: Applicability::Applicable,
            verdict: StepVerdict::Error,
            reason,
            tags: Vec::new(),
            cells: Vec::new(),
            rounds: 0,
            execs: 0,
            detect_execs: 0,
            confirmed: false,
            converged_after: None,
            confirmed_after: None,
            duration: Duration::ZERO,
            deny_styles: BTreeMap::new(),
            declared_deny_style: None,
            full_matrix: false,
        }
    }

    /// A step whose probes were not run because the CNI lacks what it requires.
    pub fn not_applicable(name: &str, applicability: Applicability) -> StepOutcome {
        StepOutcome {
            reason: applicability.to_string(),
            applicability,
            verdict: StepVerdict::NotApplicable,
            ..StepOutcome::error(name, String::new())
        }
    }

    /// Whether the step passed.
    pub fn passed(&self) -> bool {
        self.verdict == StepVerdict::Pass
    }

    /// Whether some probe of the step expects to be blocked.
    fn expects_blocking(&self) -> bool {
        self.cells
            .iter()
            .any(|c| c.expected == Expectation::Blocked)
    }

    /// The deny styles seen, as `results.json` records them: `drop`, `reject` or `drop+reject`
    /// (`None` when no expected-blocked probe was stopped).
    pub fn deny_style_seen(&self) -> Option<String> {
        let seen: Vec<&str> = self.deny_styles.keys().map(|s| s.name()).collect();
        (!seen.is_empty()).then(|| seen.join("+"))
    }

    /// A note when denied traffic was stopped otherwise than the profile declares (a note, not a
    /// failure: both styles block).
    pub fn deny_style_note(&self) -> Option<String> {
        let declared = self.declared_deny_style?;
        let other: Vec<String> = self
            .deny_styles
            .iter()
            .filter(|(style, _)| **style != declared)
            .map(|(style, n)| format!("{n} probe(s) saw {style}"))
            .collect();
        (!other.is_empty()).then(|| {
            format!(
                "denied traffic: {}, though the CNI profile declares {declared}",
                other.join(", ")
            )
        })
    }

    /// How the step reads on the CNI it ran on, as `results.json` records it:
    /// - not applicable: its probes were skipped, the missing capability (and issue) given;
    /// - a pass is a pass (on a CNI that enforces no policy too, see [`StepOutcome::warning`]);
    /// - on a known deviation, a failure (or "not enforced") of the claims is the deviation,
    ///   with its issue; a derived cell that failed is not covered (see
    ///   [`StepOutcome::covered_by_deviation`]) and fails the step;
    /// - on a CNI that enforces no policy, "not enforced" is what is expected;
    /// - anything else that is not a pass (a wrong cell, policy not enforced where it should be,
    ///   a step that could not run) is a failure.
    pub fn result(&self) -> StepResult {
        let (status, reason, issue_url) = self.reading();
        StepResult {
            name: self.name.clone(),
            status,
            reason: (!reason.is_empty()).then_some(reason),
            issue_url: issue_url.map(str::to_string),
            deny_style: self.deny_style_seen(),
            note: self.deny_style_note(),
            measures: self.measures(),
        }
    }

    /// The step's status on the CNI it ran on ([`StepOutcome::result`] without the measures).
    pub fn status(&self) -> StepStatus {
        self.reading().0
    }

    /// The status, its reason (empty when there is nothing to say) and its issue.
    fn reading(&self) -> (StepStatus, String, Option<&'static str>) {
        match (&self.applicability, self.verdict) {
            (Applicability::NotApplicable { missing, issue_url }, _) => {
                let names: Vec<&str> = missing.iter().map(|c| c.name()).collect();
                (
                    StepStatus::NotApplicable,
                    format!("needs {}", names.join(", ")),
                    *issue_url,
                )
            }
            (_, StepVerdict::Pass) => (StepStatus::Pass, self.warning().unwrap_or_default(), None),
            (Applicability::KnownDeviation(d), StepVerdict::Fail | StepVerdict::NotEnforced) => {
                let failed = |derived: bool| {
                    self.cells
                        .iter()
                        .filter(move |c| c.derived == derived && c.failed())
                };
                let uncovered = failed(true)
                    .filter(|c| !self.covered_by_deviation(c))
                    .count();
                let excused = failed(true).count() - uncovered;
                if uncovered == 0 {
                    let also = if excused > 0 {
                        format!(
                            " ({excused} derived cell(s) differ too, excused: the deviation may explain them)"
                        )
                    } else {
                        String::new()
                    };
                    (
                        StepStatus::KnownDeviation,
                        format!("{}{also}: {}", d.summary, self.reason),
                        Some(d.issue_url),
                    )
                } else {
                    (
                        StepStatus::Fail,
                        format!(
                            "{uncovered} derived cell(s) wrong, which the known deviation ({}) does not cover; {}",
                            d.summary, self.reason
                        ),
                        None,
                    )
                }
            }
            (Applicability::NotEnforced, StepVerdict::NotEnforced) => {
                (StepStatus::NotEnforced, self.reason.clone(), None)
            }
            _ => (StepStatus::Fail, self.reason.clone(), None),
        }
    }

    /// Whether a known deviation of the step covers `cell`. A deviation names a capability or
    /// a step (`provision::cni::DeviationMatch`), never cells. It covers the tutorial's claims;
    /// a derived cell only where the deviation may explain it: a protocol the CNI treats
    /// otherwise (SCTP) covers that protocol's cells alone, so a TCP cell of the step that fails
    /// still fails it; any other capability (ipBlock on pod IPs, an API not implemented) or a
    /// step named as a whole decides the step's policies, and which cells it reaches the oracle
    /// cannot tell, so its derived cells are excused too, counted in the reason.
    pub fn covered_by_deviation(&self, cell: &CellOutcome) -> bool {
        let Applicability::KnownDeviation(d) = &self.applicability else {
            return false;
        };
        // Only a step the deviation explains (it failed, or enforced nothing): a step that
        // could not be probed (an error) fails as anywhere else, and excuses nothing.
        if !matches!(self.verdict, StepVerdict::Fail | StepVerdict::NotEnforced) {
            return false;
        }
        !cell.derived
            || match d.matches {
                DeviationMatch::Capability(Capability::Sctp) => cell.kind == "sctp",
                DeviationMatch::Capability(_) | DeviationMatch::Step(_) => true,
            }
    }

    /// Whether `cell` fails the run: a failed cell of a step whose status ([`StepOutcome::status`],
    /// given as `status`) is a failure, unless the step's known deviation covers it. Failed cells
    /// of a known deviation or of a step "not enforced" on a CNI that enforces nothing are
    /// excused, not failures.
    pub fn fails_run(&self, status: StepStatus, cell: &CellOutcome) -> bool {
        status == StepStatus::Fail && cell.failed() && !self.covered_by_deviation(cell)
    }

    /// What `results.json` records beside the status: the tags, the enforcement latency (whole
    /// milliseconds), the claimed and derived cells counted apart, every probed cell with its
    /// locality.
    pub fn measures(&self) -> StepMeasures {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let probed = !matches!(
            self.verdict,
            StepVerdict::Error | StepVerdict::NotApplicable
        );
        StepMeasures {
            tags: self.tags.clone(),
            converged_ms: self.converged_after.map(ms),
            confirmed_ms: self.confirmed_after.map(ms),
            cells: self.cells.iter().map(CellRecord::from).collect(),
            claims: probed.then(|| self.counts(false)),
            derived: (probed && self.full_matrix).then(|| self.counts(true)),
        }
    }

    /// How many claimed (or derived) cells the step reported, failed, and did not assert (as
    /// the verdict's reason counts them).
    pub fn counts(&self, derived: bool) -> CellCounts {
        super::judge::counts(&self.cells, derived)
    }

    /// Why a pass is surprising: the CNI enforces no NetworkPolicy, yet the probes expected to
    /// be blocked were.
    pub fn warning(&self) -> Option<String> {
        (self.applicability == Applicability::NotEnforced
            && self.verdict == StepVerdict::Pass
            && self.expects_blocking())
        .then(|| {
            "passed although the CNI enforces no NetworkPolicy: something else blocked the probes expected to be blocked".to_string()
        })
    }
}

/// What one scenario found.
#[derive(Debug)]
pub struct ScenarioOutcome {
    /// The scenario's name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// Its steps (those run).
    pub steps: Vec<StepOutcome>,
    /// What could not be cleaned up.
    pub cleanup_errors: Vec<ClusterError>,
    /// How long it took.
    pub duration: Duration,
}

impl ScenarioOutcome {
    /// Whether every step passed and cleanup succeeded.
    pub fn passed(&self) -> bool {
        self.steps.iter().all(StepOutcome::passed) && self.cleanup_errors.is_empty()
    }

    /// Whether nothing failed on the CNI it ran on (see [`StepOutcome::result`]) and cleanup
    /// succeeded: every step passed, or was not applicable, a known deviation, or not enforced
    /// where nothing is.
    pub fn ok(&self) -> bool {
        self.cleanup_errors.is_empty()
            && self
                .steps
                .iter()
                .all(|s| s.result().status != StepStatus::Fail)
    }

    /// The scenario's entry in `results.json`.
    pub fn result(&self) -> ScenarioResult {
        ScenarioResult {
            name: self.name.clone(),
            title: self.title.clone(),
            steps: self.steps.iter().map(StepOutcome::result).collect(),
            duration_ms: Some(u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX)),
        }
    }

    /// The step called `name`.
    pub fn step(&self, name: &str) -> Option<&StepOutcome> {
        self.steps.iter().find(|s| s.name == name)
    }
}
