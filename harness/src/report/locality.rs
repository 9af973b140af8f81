//! A run's probed cells summed up by where they went: by locality (same-node, cross-node,
//! neither), how many, how many wrong, and in which steps the wrong ones are — a CNI whose
//! inter-node path is broken fails the cross-node cells only, and this says so at a glance —
//! and on a dual-stack cluster by address family.
//!
//! "Wrong" counts the cells that fail the run ([`StepOutcome::fails_run`]); the failed cells of
//! a step that is a known deviation, or "not enforced" on a CNI that enforces nothing, are not
//! failures: they are counted apart, as excused.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::cluster::{Family, Locality};
use crate::escape;
use crate::runner::outcome::{CellOutcome, ScenarioOutcome, StepOutcome};

/// Cells of one group: how many, how many fail the run, how many failed but are excused, and
/// the wrong and excused ones per step.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    cells: usize,
    wrong: usize,
    excused: usize,
    wrong_by_step: BTreeMap<String, usize>,
    excused_by_step: BTreeMap<String, usize>,
}

impl Tally {
    /// Counts `cell` of `step` (named `name`), whose status makes its failed cells wrong or
    /// excused.
    fn add(&mut self, name: impl FnOnce() -> String, step: &Reading<'_>, cell: &CellOutcome) {
        self.cells += 1;
        if step.outcome.fails_run(step.status, cell) {
            self.wrong += 1;
            *self.wrong_by_step.entry(name()).or_default() += 1;
        } else if cell.failed() {
            self.excused += 1;
            *self.excused_by_step.entry(name()).or_default() += 1;
        }
    }

    /// `12 (1 wrong)`, or `12 (1 wrong, 3 excused)` when some failed cells are excused.
    fn counts(&self) -> String {
        if self.excused == 0 {
            format!("{} ({} wrong)", self.cells, self.wrong)
        } else {
            format!(
                "{} ({} wrong, {} excused)",
                self.cells, self.wrong, self.excused
            )
        }
    }
}

/// A step with its status, read once.
struct Reading<'a> {
    outcome: &'a StepOutcome,
    status: crate::report::results::StepStatus,
}

/// Every step of `outcomes`, named `scenario::step`, with its status.
fn steps(outcomes: &[ScenarioOutcome]) -> impl Iterator<Item = (String, Reading<'_>)> {
    outcomes.iter().flat_map(|s| {
        s.steps.iter().map(move |step| {
            (
                format!("{}::{}", s.name, step.name),
                Reading {
                    outcome: step,
                    status: step.status(),
                },
            )
        })
    })
}

/// The legend of the excused count, when there is one.
const EXCUSED: &str = "excused: failed cells a known deviation covers (its claims, and the derived cells it may explain) or of steps not enforced on a CNI that enforces no policy; not failures";

/// Lines for the run summary: the cells per locality with their wrong ones (those that fail the
/// run) and the excused ones apart, then the wrong cells of each locality grouped by step, then
/// the excused ones. Empty when no cell is pod to pod (no locality known).
pub fn render(outcomes: &[ScenarioOutcome]) -> String {
    // Keyed so that same-node and cross-node come first, cells without a locality last.
    let mut tallies: BTreeMap<(bool, Option<Locality>), Tally> = BTreeMap::new();
    for (name, step) in steps(outcomes) {
        for cell in &step.outcome.cells {
            let key = (cell.locality.is_none(), cell.locality);
            tallies
                .entry(key)
                .or_default()
                .add(|| name.clone(), &step, cell);
        }
    }
    if tallies.keys().all(|(none, _)| *none) {
        return String::new();
    }
    let name = |(_, l): &(bool, Option<Locality>)| l.map_or("not pod to pod", Locality::name);
    let counts: Vec<String> = tallies
        .iter()
        .map(|(l, t)| format!("{} {}", name(l), t.counts()))
        .collect();
    let mut out = format!("cells by locality: {}\n", counts.join(", "));
    let by_step = |steps: &BTreeMap<String, usize>| {
        steps
            .iter()
            .map(|(step, n)| format!("{} ({n})", escape::terminal(step)))
            .collect::<Vec<String>>()
            .join(", ")
    };
    for (l, t) in tallies.iter().filter(|(_, t)| t.wrong > 0) {
        let _ = writeln!(out, "  wrong {}: {}", name(l), by_step(&t.wrong_by_step));
    }
    for (l, t) in tallies.iter().filter(|(_, t)| t.excused > 0) {
        let _ = writeln!(
            out,
            "  excused {}: {}",
            name(l),
            by_step(&t.excused_by_step)
        );
    }
    out
}

/// A line for the run summary on a dual-stack run: the cells per address family with their
/// wrong ones, those that fail the run (`cells by family: ipv4 N (k wrong), ipv6 M (j wrong)`,
/// and `, e excused` where failed cells are excused). Empty when no cell went over IPv6.
pub fn render_families(outcomes: &[ScenarioOutcome]) -> String {
    let mut tallies: BTreeMap<Family, Tally> = BTreeMap::new();
    for (name, step) in steps(outcomes) {
        for cell in &step.outcome.cells {
            if let Some(family) = cell.family {
                tallies
                    .entry(family)
                    .or_default()
                    .add(|| name.clone(), &step, cell);
            }
        }
    }
    if !tallies.contains_key(&Family::Ipv6) {
        return String::new();
    }
    let counts: Vec<String> = tallies
        .iter()
        .map(|(f, t)| format!("{f} {}", t.counts()))
        .collect();
    format!("cells by family: {}\n", counts.join(", "))
}

/// What "excused" means, as a line for the run summary, when some cell of `outcomes` failed
/// without failing the run; empty otherwise.
pub fn render_excused(outcomes: &[ScenarioOutcome]) -> String {
    let excused = steps(outcomes).any(|(_, step)| {
        step.outcome
            .cells
            .iter()
            .any(|c| c.failed() && !step.outcome.fails_run(step.status, c))
    });
    if excused {
        format!("  ({EXCUSED})\n")
    } else {
        String::new()
    }
}
