//! A run's probed cells summed up by where they went: by locality (same-node, cross-node,
//! neither), how many, how many wrong, and in which steps the wrong ones are — a CNI whose
//! inter-node path is broken fails the cross-node cells only, and this says so at a glance —
//! and on a dual-stack cluster by address family.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::cluster::{Family, Locality};
use crate::escape;
use crate::runner::outcome::ScenarioOutcome;

/// Cells of one locality: how many, how many wrong, and the wrong ones per step.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    cells: usize,
    wrong: usize,
    wrong_by_step: BTreeMap<String, usize>,
}

/// Lines for the run summary: the cells per locality with their wrong ones, then the wrong
/// cells of each locality grouped by step. Empty when no cell is pod to pod (no locality known).
pub fn render(outcomes: &[ScenarioOutcome]) -> String {
    // Keyed so that same-node and cross-node come first, cells without a locality last.
    let mut tallies: BTreeMap<(bool, Option<Locality>), Tally> = BTreeMap::new();
    for s in outcomes {
        for step in &s.steps {
            for cell in &step.cells {
                let key = (cell.locality.is_none(), cell.locality);
                let tally = tallies.entry(key).or_default();
                tally.cells += 1;
                if !cell.matched || cell.flapped {
                    tally.wrong += 1;
                    *tally
                        .wrong_by_step
                        .entry(format!("{}::{}", s.name, step.name))
                        .or_default() += 1;
                }
            }
        }
    }
    if tallies.keys().all(|(none, _)| *none) {
        return String::new();
    }
    let name = |(_, l): &(bool, Option<Locality>)| l.map_or("not pod to pod", Locality::name);
    let counts: Vec<String> = tallies
        .iter()
        .map(|(l, t)| format!("{} {} ({} wrong)", name(l), t.cells, t.wrong))
        .collect();
    let mut out = format!("cells by locality: {}\n", counts.join(", "));
    for (l, t) in tallies.iter().filter(|(_, t)| t.wrong > 0) {
        let steps: Vec<String> = t
            .wrong_by_step
            .iter()
            .map(|(step, n)| format!("{} ({n})", escape::terminal(step)))
            .collect();
        let _ = writeln!(out, "  wrong {}: {}", name(l), steps.join(", "));
    }
    out
}

/// A line for the run summary on a dual-stack run: the cells per address family with their
/// wrong ones (`cells by family: ipv4 N (k wrong), ipv6 M (j wrong)`). Empty when no cell went
/// over IPv6.
pub fn render_families(outcomes: &[ScenarioOutcome]) -> String {
    let mut tallies: BTreeMap<Family, (usize, usize)> = BTreeMap::new();
    for cell in outcomes
        .iter()
        .flat_map(|s| &s.steps)
        .flat_map(|s| &s.cells)
    {
        if let Some(family) = cell.family {
            let (cells, wrong) = tallies.entry(family).or_default();
            *cells += 1;
            if !cell.matched || cell.flapped {
                *wrong += 1;
            }
        }
    }
    if !tallies.contains_key(&Family::Ipv6) {
        return String::new();
    }
    let counts: Vec<String> = tallies
        .iter()
        .map(|(f, (cells, wrong))| format!("{f} {cells} ({wrong} wrong)"))
        .collect();
    format!("cells by family: {}\n", counts.join(", "))
}
