//! What a run found: per cell, per step, per scenario; and how a step reads on the CNI it ran
//! on ([`StepOutcome::result`], the `results.json` entry).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::cluster::{ClusterError, Family, Locality};
use crate::probe::{DenyStyle, Outcome};
use crate::provision::cni::Applicability;
use crate::report::cells::CellRecord;
use crate::report::results::{ScenarioResult, StepMeasures, StepResult, StepStatus};
use crate::scenario::format::Expectation;

/// Whether an observation is what was expected: `Allowed` is any connection (any HTTP status
/// included), `Status(n)` exactly that HTTP status, and `Blocked` a drop (a timeout) or a
/// rejection (refused, unreachable) — a rejection only when `port_served`, that is when this run
/// showed the destination port served (a baseline round before the scenario's first policy, or
/// an allowed probe of it). Otherwise a refusal is what a closed port answers too: "port not
/// served", never a pass.
pub fn matches(expected: Expectation, observed: &Outcome, port_served: bool) -> bool {
    match (expected, observed) {
        (Expectation::Allowed, Outcome::Allowed | Outcome::HttpStatus(_)) => true,
        (Expectation::Blocked, Outcome::Blocked) => true,
        (Expectation::Blocked, Outcome::Refused | Outcome::Unreachable(_)) => port_served,
        (Expectation::Status(s), Outcome::HttpStatus(o)) => s == *o,
        _ => false,
    }
}

/// Whether a cell is an expected-blocked probe refused on a port this run never showed served.
pub fn port_not_served(expected: Expectation, observed: &Outcome, port_served: bool) -> bool {
    expected == Expectation::Blocked
        && observed.deny_style() == Some(DenyStyle::Reject)
        && !port_served
}

/// Whether an observation is a connection made.
pub fn connected(observed: &Outcome) -> bool {
    matches!(observed, Outcome::Allowed | Outcome::HttpStatus(_))
}

/// One probe's result: one source pod (or the harness, from outside) to one target.
#[derive(Debug, Clone, PartialEq)]
pub struct CellOutcome {
    /// The client as the scenario names it (`ns/name` or `outside`).
    pub from: String,
    /// The server as the scenario names it (`ns/name`, `svc:ns/name`, `dns:…`, …).
    pub to: String,
    /// The source pod actually used (`ns/pod`), or `outside`.
    pub source: String,
    /// The target actually probed (`ns/pod 10.244.0.5:80`, `svc:ns/s 10.96.3.4:80`, …).
    pub target: String,
    /// The probe kind (`tcp`, `http GET /`, …).
    pub kind: String,
    /// The port.
    pub port: Option<u16>,
    /// What was expected.
    pub expected: Expectation,
    /// What was finally observed.
    pub observed: Outcome,
    /// The probe's details for the final observation.
    pub detail: String,
    /// Whether the final observation is the expected one.
    pub matched: bool,
    /// Whether the cell changed after having matched (without anything being changed).
    pub flapped: bool,
    /// Whether this run showed the destination port served (see [`matches()`]).
    pub port_served: bool,
    /// Every observation, in order.
    pub history: Vec<Outcome>,
    /// Why it is expected so (the oracle's explanation), when known.
    pub why: Option<String>,
    /// Whether the source and destination pods ran on one node or two (`spec.nodeName`); `None`
    /// when the cell is not pod to pod (from outside, to a Service address, to the internet).
    pub locality: Option<Locality>,
    /// The address family of the probed address (`None` for a name).
    pub family: Option<Family>,
}

impl CellOutcome {
    /// A sentence explaining a wrong (or flapping) cell.
    pub fn explanation(&self) -> String {
        let expected = match self.expected {
            Expectation::Allowed => "allowed".to_string(),
            Expectation::Blocked => "blocked".to_string(),
            Expectation::Status(s) => format!("HTTP {s}"),
        };
        let hint = match (&self.expected, &self.observed) {
            (_, Outcome::Error(_)) => "the probe itself failed, so nothing is known about policy",
            (e, o) if port_not_served(*e, o, self.port_served) => {
                "port not served: the destination refused, but nothing in this run showed that port served (no baseline probe before the scenario's first policy, no allowed probe of it), so the refusal cannot be told from a closed port"
            }
            (Expectation::Blocked, o) if connected(o) => {
                "the connection was made although a policy should drop it: that policy is not enforced"
            }
            (Expectation::Allowed | Expectation::Status(_), Outcome::Blocked) => {
                "the connection was dropped although policy allows it: over-enforcement (or a server that does not answer)"
            }
            (_, Outcome::Refused | Outcome::Unreachable(_)) => {
                "the destination answered with a refusal: the packet got through but nothing serves that port (check the scenario's port and the server)"
            }
            (Expectation::Status(_), Outcome::HttpStatus(_)) => {
                "a different HTTP status: the request got through, but the backend (or the ingress controller's route to it) answered otherwise"
            }
            (_, Outcome::DnsFailure(_)) => "the name did not resolve",
            _ => "",
        };
        let locality = self.locality.map(|l| format!(", {l}")).unwrap_or_default();
        let mut text = format!(
            "{} → {} ({} {}{locality}): expected {expected}, observed {}",
            self.source,
            self.target,
            self.kind,
            self.port.map(|p| p.to_string()).unwrap_or_default(),
            self.observed
        );
        if !self.detail.is_empty() {
            text.push_str(&format!(" [{}]", self.detail));
        }
        if !hint.is_empty() {
            text.push_str(&format!("; {hint}"));
        }
        if self.flapped {
            let seen: Vec<String> = self.history.iter().map(|o| o.to_string()).collect();
            text.push_str(&format!(
                "; flapped: observed {} in turn without any change to the cluster",
                seen.join(" → ")
            ));
        } else if self.history.len() > 1 {
            text.push_str(&format!(" (same in all {} rounds)", self.history.len()));
        }
        if let Some(why) = &self.why {
            text.push_str(&format!("\n      why expected: {why}"));
        }
        text
    }
}

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
    /// - on a known deviation, a failure (or "not enforced") is the deviation, with its issue;
    /// - on a CNI that enforces no policy, "not enforced" is what is expected;
    /// - anything else that is not a pass (a wrong cell, policy not enforced where it should be,
    ///   a step that could not run) is a failure.
    pub fn result(&self) -> StepResult {
        let result = |status, reason: &str, issue_url: Option<&str>| StepResult {
            name: self.name.clone(),
            status,
            reason: (!reason.is_empty()).then(|| reason.to_string()),
            issue_url: issue_url.map(str::to_string),
            deny_style: self.deny_style_seen(),
            note: self.deny_style_note(),
            measures: self.measures(),
        };
        match (&self.applicability, self.verdict) {
            (Applicability::NotApplicable { missing, issue_url }, _) => {
                let names: Vec<&str> = missing.iter().map(|c| c.name()).collect();
                result(
                    StepStatus::NotApplicable,
                    &format!("needs {}", names.join(", ")),
                    *issue_url,
                )
            }
            (_, StepVerdict::Pass) => {
                result(StepStatus::Pass, &self.warning().unwrap_or_default(), None)
            }
            (Applicability::KnownDeviation(d), StepVerdict::Fail | StepVerdict::NotEnforced) => {
                result(
                    StepStatus::KnownDeviation,
                    &format!("{}: {}", d.summary, self.reason),
                    Some(d.issue_url),
                )
            }
            (Applicability::NotEnforced, StepVerdict::NotEnforced) => {
                result(StepStatus::NotEnforced, &self.reason, None)
            }
            _ => result(StepStatus::Fail, &self.reason, None),
        }
    }

    /// What `results.json` records beside the status: the tags, the enforcement latency (whole
    /// milliseconds), every probed cell with its locality.
    pub fn measures(&self) -> StepMeasures {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        StepMeasures {
            tags: self.tags.clone(),
            converged_ms: self.converged_after.map(ms),
            confirmed_ms: self.confirmed_after.map(ms),
            cells: self.cells.iter().map(CellRecord::from).collect(),
        }
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
        }
    }

    /// The step called `name`.
    pub fn step(&self, name: &str) -> Option<&StepOutcome> {
        self.steps.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_means_any_connection_and_status_means_exactly_that_status() {
        for served in [false, true] {
            assert!(matches(
                Expectation::Allowed,
                &Outcome::HttpStatus(503),
                served
            ));
            assert!(matches(Expectation::Allowed, &Outcome::Allowed, served));
            assert!(!matches(Expectation::Allowed, &Outcome::Refused, served));
            assert!(matches(Expectation::Blocked, &Outcome::Blocked, served));
            assert!(!matches(
                Expectation::Blocked,
                &Outcome::Error("x".into()),
                served
            ));
            assert!(!matches(Expectation::Blocked, &Outcome::Allowed, served));
            assert!(matches(
                Expectation::Status(503),
                &Outcome::HttpStatus(503),
                served
            ));
            assert!(!matches(
                Expectation::Status(200),
                &Outcome::HttpStatus(503),
                served
            ));
            assert!(!matches(
                Expectation::Status(200),
                &Outcome::Allowed,
                served
            ));
        }
    }

    #[test]
    fn a_rejection_is_blocked_only_on_a_port_shown_served() {
        let unreachable = Outcome::Unreachable("No route to host".into());
        for rejected in [Outcome::Refused, unreachable] {
            assert!(matches(Expectation::Blocked, &rejected, true));
            assert!(!matches(Expectation::Blocked, &rejected, false));
            assert!(port_not_served(Expectation::Blocked, &rejected, false));
            assert!(!port_not_served(Expectation::Blocked, &rejected, true));
            assert!(!port_not_served(Expectation::Allowed, &rejected, false));
        }
        assert!(!port_not_served(
            Expectation::Blocked,
            &Outcome::Blocked,
            false
        ));
    }
}
