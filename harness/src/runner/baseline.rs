//! The baseline round: before the actions of a scenario's first step that applies a policy, one
//! probe of each destination port that the scenario's steps expect blocked (and, with `--matrix
//! full`, of each port of the whole matrix), while nothing denies it yet. A port that answers then is *shown served*, so that a later refusal of it (TCP RST,
//! ICMP unreachable) can be read as a policy rejecting it; a refusal of a port never shown
//! served is "port not served", never a pass ([`super::outcome::matches`]). A port that does not
//! connect then is *closed*: a derived cell of it is reported as "port not served", never
//! asserted (a declared port nothing listens on must not fail the CNI).

use std::collections::HashSet;

use super::Runner;
use super::converge::ProbeCell;
use super::plan::{PlannedAction, StepPlan};
use super::scenario::ScenarioCtx;
use crate::cluster::ClusterOps;
use crate::probe::DenyStyle;
use crate::scenario::derive::Derived;
use crate::scenario::format::Expectation;
use crate::scenario::state::is_policy;

/// Whether a step's actions apply a policy of any kind.
pub(super) fn applies_policy(step: &StepPlan) -> bool {
    step.actions
        .iter()
        .any(|a| matches!(a, PlannedAction::Apply(docs) if docs.iter().any(is_policy)))
}

impl<C: ClusterOps> Runner<C> {
    /// Probes, once, each destination port that the steps from `first` on expect blocked (and
    /// each port of their derived cells, from another pod) and that is not yet shown served,
    /// from the first source each is probed from; a connection marks it served, anything else
    /// but a probe error marks it closed. Destinations that do not exist yet (created by a later
    /// step) are left out: only an allowed probe of them can show them served. Returns the probe
    /// execs made.
    pub(super) async fn baseline(&self, ctx: &ScenarioCtx<'_>, first: usize) -> usize {
        let served = ctx.served();
        let mut chosen = HashSet::new();
        let mut chosen_derived = HashSet::new();
        let mut cells: Vec<ProbeCell> = Vec::new();
        for step in &ctx.plan.steps[first..] {
            let mut trimmed = step.clone();
            trimmed.planned.probes.retain(|p| {
                p.expected == Expectation::Blocked
                    && chosen.insert((p.probe.to.clone(), p.probe.port, p.probe.kind))
            });
            // Every port of the whole matrix once (with `--matrix full`), from another pod.
            trimmed.derived.retain(|d| {
                !d.same_endpoint()
                    && matches!(d.derived, Derived::Expect(_))
                    && chosen_derived.insert((d.to.clone(), d.port, d.protocol))
            });
            if trimmed.planned.probes.is_empty() && trimmed.derived.is_empty() {
                continue;
            }
            for cell in self.resolve_cells(ctx, &trimmed).await {
                if cell.probeable()
                    && cell.unasserted.is_none()
                    && !served.contains(&cell.served_key())
                    && !cells.iter().any(|c| c.served_key() == cell.served_key())
                {
                    cells.push(cell);
                }
            }
        }
        if cells.is_empty() {
            return 0;
        }
        let all: Vec<usize> = (0..cells.len()).collect();
        let execs = self.probe_round(ctx, &mut cells, &all).await;
        let served = ctx.note_served(&cells, &all);
        let (shown, not): (Vec<&ProbeCell>, Vec<&ProbeCell>) =
            cells.iter().partition(|c| served.contains(&c.served_key()));
        // What was refused before any policy is not served: a derived cell of it is reported,
        // never asserted. Only a refusal says so: a timeout is a drop (a path not working yet,
        // a broken cross-node route), which must stay visible, and a probe error proves
        // nothing either way.
        ctx.note_closed(
            not.iter()
                .filter(|c| {
                    c.history
                        .last()
                        .is_some_and(|(o, _)| o.deny_style() == Some(DenyStyle::Reject))
                })
                .map(|c| c.served_key()),
        );
        tracing::info!(
            scenario = %ctx.plan.name,
            shown = shown.len(),
            not_shown = not.len(),
            "baseline round before the first policy"
        );
        for cell in not {
            if let Some((outcome, _)) = cell.history.last() {
                tracing::info!(
                    "baseline: {} → {} did not connect before any policy ({outcome})",
                    cell.source_name,
                    cell.target
                );
            }
        }
        execs
    }
}
