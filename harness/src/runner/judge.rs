//! The verdict on a step's cells: only asserted cells count (claims, and derived cells whose
//! oracle prediction is certain, on a port shown served, between two pods); the rest are
//! reported. The reason keeps claims and derived cells apart.

use super::outcome::{CellOutcome, StepVerdict, connected, port_not_served};
use crate::probe::Outcome;
use crate::report::results::CellCounts;
use crate::scenario::format::Expectation;

/// The verdict on a step's cells, and why.
pub fn judge(cells: &[CellOutcome]) -> (StepVerdict, String) {
    if cells.is_empty() {
        return (StepVerdict::Pass, "no probes in this step".into());
    }
    let split = split(cells);
    let asserted: Vec<&CellOutcome> = cells.iter().filter(|c| c.asserted()).collect();
    let total = asserted.len();
    let wrong = asserted.iter().filter(|c| !c.matched).count();
    let blocked: Vec<&&CellOutcome> = asserted
        .iter()
        .filter(|c| c.expected == Expectation::Blocked)
        .collect();
    if !blocked.is_empty() && blocked.iter().all(|c| connected(&c.observed)) {
        return (
            StepVerdict::NotEnforced,
            format!(
                "policy not enforced: all {} probes expected to be blocked were allowed ({wrong} of {total} probes ended wrong){split}",
                blocked.len()
            ),
        );
    }
    let count = |f: &dyn Fn(&CellOutcome) -> bool| asserted.iter().filter(|c| f(c)).count();
    let errors = count(&|c| matches!(c.observed, Outcome::Error(_)));
    let flapped = count(&|c| c.flapped);
    let not_served =
        count(&|c| !c.matched && port_not_served(c.expected, &c.observed, c.port_served));
    if wrong == 0 && flapped == 0 {
        return (
            StepVerdict::Pass,
            format!("all {total} probes as expected{split}"),
        );
    }
    let mut parts = Vec::new();
    let allowed =
        count(&|c| !c.matched && c.expected == Expectation::Blocked && connected(&c.observed));
    let dropped = count(&|c| {
        !c.matched && c.expected != Expectation::Blocked && c.observed == Outcome::Blocked
    });
    if allowed > 0 {
        parts.push(format!("{allowed} expected blocked but allowed"));
    }
    if dropped > 0 {
        parts.push(format!("{dropped} expected allowed but blocked"));
    }
    if not_served > 0 {
        parts.push(format!(
            "{not_served} expected blocked but refused on a port this run never showed served (port not served)"
        ));
    }
    if errors > 0 {
        parts.push(format!("{errors} could not be probed"));
    }
    let other = wrong - allowed - dropped - not_served - errors;
    if other > 0 {
        parts.push(format!("{other} other mismatches"));
    }
    let mut reason = format!("{wrong} of {total} probes ended wrong");
    if !parts.is_empty() {
        reason.push_str(&format!(" ({})", parts.join(", ")));
    }
    if flapped > 0 {
        reason.push_str(&format!("; {flapped} flapped"));
    }
    reason.push_str(&split);
    (StepVerdict::Fail, reason)
}

/// ` [claims: 1 of 4 asserted failed, 4 reported; derived (oracle): 0 of 12 asserted failed,
/// 15 reported]` when the step has derived cells (or cells not asserted): each kind counted as
/// `results.json`, JUnit and the CNI matrix count it ([`CellCounts`]); empty otherwise, so that
/// a run of the claims alone reads as before.
fn split(cells: &[CellOutcome]) -> String {
    if !cells.iter().any(|c| c.derived || !c.asserted()) {
        return String::new();
    }
    format!(
        " [claims: {}; derived (oracle): {}]",
        counts(cells, false),
        counts(cells, true)
    )
}

/// How many claimed (or derived) cells of `cells` are reported, failed, and not asserted.
pub(super) fn counts(cells: &[CellOutcome], derived: bool) -> CellCounts {
    let mine = || cells.iter().filter(move |c| c.derived == derived);
    CellCounts {
        cells: mine().count(),
        failed: mine().filter(|c| c.failed()).count(),
        unasserted: mine().filter(|c| !c.asserted()).count(),
    }
}
