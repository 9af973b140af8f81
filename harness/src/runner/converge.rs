//! Converging a step: probe rounds until every cell is as expected (or the deadline passes),
//! a confirming pass, and the verdict.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::events::{Events, RunEvent};
use super::outcome::{CellOutcome, StepOutcome, Unasserted, connected, matches};
use super::plan::StepPlan;
use super::resolve::ProbeOrigin;
use super::scenario::ScenarioCtx;
use super::{MatrixScope, Runner};
use crate::cluster::{ClusterOps, Family, Locality};
use crate::probe::{DenyStyle, Outcome, ProbeKind, ProbeSpec};
use crate::provision::cni::Applicability;
use crate::scenario::format::Expectation;

/// A destination port as the runner tells whether it was shown served: the destination as the
/// scenario names it, the port, and the transport (`tcp` for TCP and HTTP, `udp` for UDP and
/// DNS, `sctp`, `icmp`), and the address family probed (`None` for a name).
pub(super) type ServedKey = (String, Option<u16>, &'static str, Option<Family>);

/// What this scenario's probes have shown of destination ports so far.
#[derive(Debug, Clone, Default)]
pub(super) struct Served {
    /// Ports some probe connected to.
    shown: HashSet<ServedKey>,
    /// Ports the baseline round (before any policy) did not connect to.
    closed: HashSet<ServedKey>,
}

impl Served {
    /// Whether some probe of this run connected to `key`.
    pub(super) fn contains(&self, key: &ServedKey) -> bool {
        self.shown.contains(key)
    }

    /// Records that a probe connected to `key`.
    pub(super) fn insert(&mut self, key: ServedKey) {
        self.shown.insert(key);
    }

    /// Records that the baseline round, before any policy, did not connect to `key`.
    pub(super) fn close(&mut self, key: ServedKey) {
        self.closed.insert(key);
    }

    /// Whether the baseline found `key` not served and no probe has connected to it since.
    pub(super) fn closed(&self, key: &ServedKey) -> bool {
        self.closed.contains(key) && !self.shown.contains(key)
    }
}

/// One probe being converged.
#[derive(Debug, Clone)]
pub(super) struct ProbeCell {
    pub(super) from: String,
    pub(super) to: String,
    pub(super) source: ProbeOrigin,
    pub(super) source_name: String,
    pub(super) target: String,
    pub(super) spec: ProbeSpec,
    pub(super) expected: Expectation,
    pub(super) why: Option<String>,
    /// Same-node or cross-node, when both ends are pods.
    pub(super) locality: Option<Locality>,
    pub(super) history: Vec<(Outcome, String)>,
    /// A cell of the whole matrix that no claim probes (its expectation is the oracle's).
    pub(super) derived: bool,
    /// Why the cell is reported but never asserted, when that is known before probing.
    pub(super) unasserted: Option<Unasserted>,
}

impl ProbeCell {
    /// The destination port this cell probes.
    pub(super) fn served_key(&self) -> ServedKey {
        let transport = match self.spec.kind {
            ProbeKind::Tcp | ProbeKind::Http { .. } => "tcp",
            ProbeKind::Udp | ProbeKind::Dns { .. } => "udp",
            ProbeKind::Sctp => "sctp",
            ProbeKind::Icmp => "icmp",
        };
        // The family too: a server listening on IPv4 alone refuses over IPv6.
        (
            self.to.clone(),
            self.spec.target_port(),
            transport,
            Family::of(&self.spec.host),
        )
    }

    /// Whether the last observation connected, showing the destination port served.
    pub(super) fn showed_served(&self) -> bool {
        self.history.last().is_some_and(|(o, _)| connected(o))
    }

    pub(super) fn matches_last(&self, served: &Served) -> bool {
        let Some((observed, _)) = self.history.last() else {
            return false;
        };
        self.unasserted(observed, served).is_some()
            || matches(self.expected, observed, served.contains(&self.served_key()))
    }

    /// Why the cell is not asserted after observing `observed`, if it is not: known before
    /// probing (self-traffic, an uncertain oracle, a capability the CNI lacks), or, for a
    /// derived cell, a destination port not shown served — one the baseline found closed, or
    /// that refused and that no probe of this run connected to (a closed port refuses too).
    fn unasserted(&self, observed: &Outcome, served: &Served) -> Option<Unasserted> {
        if let Some(u) = &self.unasserted {
            return Some(u.clone());
        }
        let key = self.served_key();
        let rejected = observed.deny_style() == Some(DenyStyle::Reject);
        (self.derived && (served.closed(&key) || (rejected && !served.contains(&key))))
            .then_some(Unasserted::PortNotServed)
    }

    pub(super) fn probeable(&self) -> bool {
        !matches!(self.source, ProbeOrigin::Unresolved)
            && !matches!(self.unasserted, Some(Unasserted::NotApplicable(_)))
    }

    fn kind_name(&self) -> String {
        match &self.spec.kind {
            ProbeKind::Http { method, path } => format!("http {method} {path}"),
            ProbeKind::Dns { name } => format!("dns {name}"),
            kind => kind.name().to_string(),
        }
    }

    fn outcome(&self, served: &Served) -> CellOutcome {
        let port_served = served.contains(&self.served_key());
        let history: Vec<Outcome> = self.history.iter().map(|(o, _)| o.clone()).collect();
        let never = match &self.unasserted {
            Some(u @ Unasserted::NotApplicable(_)) => format!("not probed: {u}"),
            _ => "never probed".to_string(),
        };
        let (observed, detail) = self
            .history
            .last()
            .cloned()
            .unwrap_or((Outcome::Error(never), String::new()));
        let unasserted = self.unasserted(&observed, served);
        // A cell that is not asserted has nothing to match: it neither fails nor flaps.
        let matching = |o: &Outcome| unasserted.is_some() || matches(self.expected, o, port_served);
        let first_match = history.iter().position(matching);
        let flapped = first_match.is_some_and(|i| history[i..].iter().any(|o| !matching(o)));
        CellOutcome {
            from: self.from.clone(),
            to: self.to.clone(),
            source: self.source_name.clone(),
            target: self.target.clone(),
            kind: self.kind_name(),
            port: self.spec.port,
            expected: self.expected,
            matched: matching(&observed),
            observed,
            port_served,
            detail,
            flapped,
            history,
            why: self.why.clone(),
            derived: self.derived,
            unasserted,
            locality: self.locality,
            family: Family::of(&self.spec.host),
        }
    }
}

impl<C: ClusterOps> Runner<C> {
    /// Probes a step until it converges (or the deadline passes), confirms, and judges.
    pub(super) async fn probe_step(
        &self,
        ctx: &ScenarioCtx<'_>,
        step: &StepPlan,
        events: &Events<'_>,
    ) -> StepOutcome {
        // The step's actions have just been applied: enforcement latency counts from here.
        let started = Instant::now();
        let detect_before = ctx.detect_execs.load(Ordering::Relaxed);
        let mut cells = self.resolve_cells(ctx, step).await;
        let probeable: Vec<usize> = (0..cells.len()).filter(|&i| cells[i].probeable()).collect();
        let (mut rounds, mut execs) = (0, 0);
        let mut converged_after = None;
        let mut pending = probeable.clone();
        while !pending.is_empty() {
            execs += self.probe_round(ctx, &mut cells, &pending).await;
            rounds += 1;
            let probed = pending.len();
            let served = ctx.note_served(&cells, &pending);
            pending.retain(|&i| !cells[i].matches_last(&served));
            let _ = events.emit(RunEvent::RoundFinished {
                plan: ctx.plan,
                step,
                round: rounds,
                probed,
                differing: pending.len(),
            });
            if pending.is_empty() {
                converged_after = Some(started.elapsed());
                break;
            }
            // Durations compared, never added to an Instant: any deadline is safe.
            let next_round = started.elapsed().saturating_add(self.options.poll_interval);
            if next_round > self.options.deadline {
                break;
            }
            tokio::time::sleep(self.options.poll_interval).await;
        }
        let confirmed = converged_after.is_some() && rounds > 1;
        // Without re-probing, the first pass matched everything: it is its own confirmation.
        let mut confirmed_after = converged_after.filter(|_| !confirmed);
        if confirmed {
            execs += self.probe_round(ctx, &mut cells, &probeable).await;
            rounds += 1;
        }
        let served = ctx.note_served(&cells, &probeable);
        if confirmed && probeable.iter().all(|&i| cells[i].matches_last(&served)) {
            confirmed_after = Some(started.elapsed());
        }
        let outcomes: Vec<CellOutcome> = cells.iter().map(|c| c.outcome(&served)).collect();
        let (verdict, reason) = super::judge(&outcomes);
        let mut deny_styles: BTreeMap<DenyStyle, usize> = BTreeMap::new();
        for cell in outcomes
            .iter()
            .filter(|c| c.matched && c.asserted() && c.expected == Expectation::Blocked)
        {
            if let Some(style) = cell.observed.deny_style() {
                *deny_styles.entry(style).or_default() += 1;
            }
        }
        StepOutcome {
            name: step.name().to_string(),
            applicability: Applicability::Applicable,
            verdict,
            reason,
            tags: step.tags.clone(),
            cells: outcomes,
            rounds,
            execs,
            detect_execs: ctx.detect_execs.load(Ordering::Relaxed) - detect_before,
            confirmed,
            converged_after,
            confirmed_after,
            duration: started.elapsed(),
            deny_styles,
            declared_deny_style: None,
            full_matrix: self.options.matrix == MatrixScope::Full,
        }
    }
}
