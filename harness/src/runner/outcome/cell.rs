//! One cell's result: whether an observation is what was expected (a rejection only on a port
//! shown served), why a cell may be reported without being asserted, and the cell's outcome.

use std::fmt;

use crate::capability::Capability;
use crate::cluster::{Family, Locality};
use crate::oracle::Uncertainty;
use crate::probe::{DenyStyle, Outcome};
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

/// Why the oracle cannot decide a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undecided {
    /// The manifests leave it open (over IPv4, or over IPv6 alone).
    Oracle(Uncertainty),
    /// Through a Service over IPv6: its backend pods get different verdicts on their IPv6
    /// addresses (an address peer covering some of them), and which one a connection lands on
    /// is the proxy's choice.
    BackendsDiffer,
    /// Over IPv6 the step's model has no pod to judge: the probed address, the source pod or
    /// every backend has no IPv6 address in it (a pod that changed since the step was read).
    NotModelled,
}

impl Undecided {
    /// How cells are labelled: the oracle's label (`unknown (DNS)`, `either`),
    /// `backends differ over IPv6`, or `no IPv6 model of the pods`.
    pub fn label(self) -> &'static str {
        match self {
            Undecided::Oracle(u) => u.label(),
            Undecided::BackendsDiffer => "backends differ over IPv6",
            Undecided::NotModelled => "no IPv6 model of the pods",
        }
    }
}

/// Why a cell is reported but never asserted (it neither passes nor fails its step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unasserted {
    /// A pod to its own address: loopback is undefined upstream.
    SelfTraffic,
    /// The oracle cannot decide it.
    Uncertain(Undecided),
    /// A derived cell's destination port was not shown served: the baseline round found it
    /// closed, or it refused and no probe of this run connected to it.
    PortNotServed,
    /// The CNI lacks a capability the cell needs (SCTP): not probed.
    NotApplicable(Capability),
}

impl fmt::Display for Unasserted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unasserted::SelfTraffic => f.write_str("self-traffic (loopback is undefined upstream)"),
            Unasserted::Uncertain(u) => write!(f, "the oracle cannot decide it: {}", u.label()),
            Unasserted::PortNotServed => f.write_str("port not served"),
            Unasserted::NotApplicable(c) => write!(f, "the CNI lacks {}", c.name()),
        }
    }
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
    /// Whether the final observation is the expected one (always, for a cell not asserted).
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
    /// A cell of the whole matrix no claim probes: its expectation is the oracle's, and a
    /// wrong one is the CNI's failure, not the tutorial's erratum.
    pub derived: bool,
    /// Why the cell is reported but not asserted, if it is not.
    pub unasserted: Option<Unasserted>,
}

impl CellOutcome {
    /// Whether the cell counts for its step's verdict.
    pub fn asserted(&self) -> bool {
        self.unasserted.is_none()
    }

    /// Whether the cell fails its step: asserted, and wrong or flapping.
    pub fn failed(&self) -> bool {
        self.asserted() && (!self.matched || self.flapped)
    }

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
        if self.derived {
            text.push_str(" (derived from the oracle, not claimed by the tutorial)");
        }
        if let Some(why) = &self.why {
            text.push_str(&format!("\n      why expected: {why}"));
        }
        text
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
