//! The verdict on a step's cells: only asserted cells count (claims, and derived cells whose
//! oracle prediction is certain, on a port shown served, between two pods); the rest are
//! reported. The reason keeps claims and derived cells apart.

use super::outcome::{CellOutcome, StepVerdict, connected, port_not_served};
use crate::probe::Outcome;
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
                "policy not enforced: all {} probes expected to be blocked were allowed ({wrong} of {total} probes wrong){split}",
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
    let mut reason = format!("{wrong} of {total} probes wrong");
    if !parts.is_empty() {
        reason.push_str(&format!(" ({})", parts.join(", ")));
    }
    if flapped > 0 {
        reason.push_str(&format!("; {flapped} flapped"));
    }
    reason.push_str(&split);
    (StepVerdict::Fail, reason)
}

/// ` [claims: 1 of 4 wrong; derived (oracle): 0 of 12 wrong, 3 reported, not asserted]` when
/// the step has derived cells (or cells not asserted); empty otherwise, so that a run of the
/// claims alone reads as before.
fn split(cells: &[CellOutcome]) -> String {
    let unasserted = cells.iter().filter(|c| !c.asserted()).count();
    if !cells.iter().any(|c| c.derived) && unasserted == 0 {
        return String::new();
    }
    let part = |derived: bool| {
        let mine = cells
            .iter()
            .filter(|c| c.derived == derived && c.asserted());
        let (total, failed) = mine.fold((0, 0), |(t, f), c| (t + 1, f + usize::from(c.failed())));
        format!("{failed} of {total} wrong")
    };
    let mut text = format!(
        " [claims: {}; derived (oracle): {}",
        part(false),
        part(true)
    );
    if unasserted > 0 {
        text.push_str(&format!(", {unasserted} reported, not asserted"));
    }
    text.push(']');
    text
}
