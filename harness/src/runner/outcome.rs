//! What a run found: per cell, per step, per scenario.

use std::time::Duration;

use serde::{Serialize, Serializer};

use super::probe::Outcome;
use crate::scenario::format::Expectation;

fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

fn opt_secs<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => secs(d, s),
        None => s.serialize_none(),
    }
}

/// Whether an observation is what was expected: `Allowed` is any connection (any HTTP status
/// included), `Blocked` a timeout, `Status(n)` exactly that HTTP status.
pub fn matches(expected: Expectation, observed: &Outcome) -> bool {
    match (expected, observed) {
        (Expectation::Allowed, Outcome::Allowed | Outcome::HttpStatus(_)) => true,
        (Expectation::Blocked, Outcome::Blocked) => true,
        (Expectation::Status(s), Outcome::HttpStatus(o)) => s == *o,
        _ => false,
    }
}

/// Whether an observation is a connection made.
pub fn connected(observed: &Outcome) -> bool {
    matches!(observed, Outcome::Allowed | Outcome::HttpStatus(_))
}

/// One probe's result: one source pod (or the harness, from outside) to one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// Every observation, in order.
    pub history: Vec<Outcome>,
    /// Why it is expected so (the oracle's explanation), when known.
    pub why: Option<String>,
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
            (Expectation::Blocked, o) if connected(o) => {
                "the connection was made although a policy should drop it: that policy is not enforced"
            }
            (Expectation::Allowed | Expectation::Status(_), Outcome::Blocked) => {
                "the connection was dropped although policy allows it: over-enforcement (or a server that does not answer)"
            }
            (_, Outcome::Refused) => {
                "the destination answered with a refusal: the packet got through but nothing serves that port (check the scenario's port and the server)"
            }
            (Expectation::Status(_), Outcome::HttpStatus(_)) => {
                "a different HTTP status: the request got through, but the backend (or the ingress controller's route to it) answered otherwise"
            }
            (_, Outcome::DnsFailure(_)) => "the name did not resolve",
            _ => "",
        };
        let mut text = format!(
            "{} → {} ({} {}): expected {expected}, observed {}",
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

/// The verdict on a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
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
}

/// What one step found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepOutcome {
    /// The step's name.
    pub name: String,
    /// The verdict.
    pub verdict: StepVerdict,
    /// The verdict in words.
    pub reason: String,
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
    /// How long until every cell first matched, if it did.
    #[serde(serialize_with = "opt_secs")]
    pub converged_after: Option<Duration>,
    /// How long the step took (actions, probing).
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
}

impl StepOutcome {
    /// A step that could not be run.
    pub fn error(name: &str, reason: String) -> StepOutcome {
        StepOutcome {
            name: name.to_string(),
            verdict: StepVerdict::Error,
            reason,
            cells: Vec::new(),
            rounds: 0,
            execs: 0,
            detect_execs: 0,
            confirmed: false,
            converged_after: None,
            duration: Duration::ZERO,
        }
    }

    /// Whether the step passed.
    pub fn passed(&self) -> bool {
        self.verdict == StepVerdict::Pass
    }
}

/// What one scenario found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioOutcome {
    /// The scenario's name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// Its steps (those run).
    pub steps: Vec<StepOutcome>,
    /// What could not be cleaned up.
    pub cleanup_errors: Vec<String>,
    /// How long it took.
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
}

impl ScenarioOutcome {
    /// Whether every step passed and cleanup succeeded.
    pub fn passed(&self) -> bool {
        self.steps.iter().all(StepOutcome::passed) && self.cleanup_errors.is_empty()
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
        assert!(matches(Expectation::Allowed, &Outcome::HttpStatus(503)));
        assert!(matches(Expectation::Allowed, &Outcome::Allowed));
        assert!(!matches(Expectation::Allowed, &Outcome::Refused));
        assert!(!matches(Expectation::Blocked, &Outcome::Refused));
        assert!(!matches(Expectation::Blocked, &Outcome::Error("x".into())));
        assert!(matches(Expectation::Status(503), &Outcome::HttpStatus(503)));
        assert!(!matches(
            Expectation::Status(200),
            &Outcome::HttpStatus(503)
        ));
        assert!(!matches(Expectation::Status(200), &Outcome::Allowed));
    }
}
