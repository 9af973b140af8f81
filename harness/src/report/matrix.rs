//! The compatibility matrix: one row per scenario step, one column per CNI run, rendered as
//! markdown (for a GitHub job summary), a standalone HTML page, or JSON.
//!
//! This file builds the matrix from the runs' results and sums it up (totals, latency, tags,
//! failures); `markdown` and `html` render it, sharing the texts of `text`.

mod html;
mod markdown;
mod text;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::latency::Spread;
use super::results::{RunResults, StepMeasures, StepStatus};

/// Rows scenario/step × columns CNI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatMatrix {
    /// Column headers, one per results file (the CNI name; made unique if repeated).
    pub cnis: Vec<String>,
    /// CNIs that were expected but sent no results (their column has no cells).
    pub missing: Vec<String>,
    /// One row per step, scenarios in the order first seen, steps in order.
    pub rows: Vec<MatrixRow>,
    /// Per column, the run's wall time in milliseconds, as its `results.json` recorded it
    /// (`up` not included); `None` where it did not.
    #[serde(default)]
    pub run_ms: Vec<Option<u64>>,
}

/// One scenario step across every CNI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixRow {
    /// The scenario's id.
    pub scenario: String,
    /// The scenario's title.
    pub scenario_title: String,
    /// The step's id.
    pub step: String,
    /// One cell per column of [`CompatMatrix::cnis`]; `None` where that run has no such step.
    pub cells: Vec<Option<CompatCell>>,
}

/// One step's outcome on one CNI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatCell {
    /// What happened.
    pub status: StepStatus,
    /// Why, if the run said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The upstream issue, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_url: Option<String>,
    /// What the step measured there (latency, tags), as the run recorded it.
    #[serde(flatten)]
    pub measures: StepMeasures,
}

/// One column's enforcement latency over its steps (those that converged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnLatency {
    /// Last action applied → every cell matched.
    pub converged: Option<Spread>,
    /// Last action applied → confirmed.
    pub confirmed: Option<Spread>,
}

/// One tag's steps on one CNI: how many, how many passed, and their latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TagCell {
    /// Steps carrying the tag with a result on this CNI.
    pub steps: usize,
    /// Of those, how many passed.
    pub passed: usize,
    /// Their enforcement latency (to every cell matched).
    pub converged: Option<Spread>,
}

/// Builds the matrix from several runs, one column per run, in the order given. Linear in the
/// number of steps read: rows are found through an index, and each scenario's rows are kept
/// together by building them per scenario (no insertion in the middle).
pub fn matrix(results: &[RunResults]) -> CompatMatrix {
    let mut cnis: Vec<String> = Vec::with_capacity(results.len());
    let mut taken: HashSet<String> = HashSet::new();
    let mut occurrences: HashMap<&str, usize> = HashMap::new();
    for run in results {
        let occurrence = occurrences.entry(run.cni.as_str()).or_insert(0);
        *occurrence += 1;
        let mut header = match &run.cluster {
            _ if *occurrence == 1 => run.cni.clone(),
            Some(cluster) => format!("{} ({cluster})", run.cni),
            None => format!("{} #{occurrence}", run.cni),
        };
        while taken.contains(&header) {
            header.push('\'');
        }
        taken.insert(header.clone());
        cnis.push(header);
    }

    // Scenarios in the order first seen; within one, steps in the order first seen (a step
    // only a later run has goes after the steps already there).
    let mut scenarios: Vec<Vec<MatrixRow>> = Vec::new();
    let mut scenario_index: HashMap<&str, usize> = HashMap::new();
    let mut row_index: HashMap<(&str, &str), (usize, usize)> = HashMap::new();
    for (column, run) in results.iter().enumerate() {
        for scenario in &run.scenarios {
            let s = *scenario_index
                .entry(scenario.name.as_str())
                .or_insert_with(|| {
                    scenarios.push(Vec::new());
                    scenarios.len() - 1
                });
            for step in &scenario.steps {
                let (s, r) = *row_index
                    .entry((scenario.name.as_str(), step.name.as_str()))
                    .or_insert_with(|| {
                        scenarios[s].push(MatrixRow {
                            scenario: scenario.name.clone(),
                            scenario_title: scenario.title.clone(),
                            step: step.name.clone(),
                            cells: vec![None; results.len()],
                        });
                        (s, scenarios[s].len() - 1)
                    });
                scenarios[s][r].cells[column] = Some(CompatCell {
                    status: step.status,
                    reason: step.reason.clone(),
                    issue_url: step.issue_url.clone(),
                    measures: step.measures.clone(),
                });
            }
        }
    }
    let run_ms = results.iter().map(|run| run.duration_ms).collect();
    CompatMatrix {
        cnis,
        missing: Vec::new(),
        rows: scenarios.into_iter().flatten().collect(),
        run_ms,
    }
}

impl CompatMatrix {
    /// Adds an empty column for every CNI in `expected` that sent no results, and lists it in
    /// [`CompatMatrix::missing`], so a nightly job that died before writing results still shows.
    pub fn expect<S: AsRef<str>>(mut self, expected: &[S]) -> Self {
        for cni in expected.iter().map(AsRef::as_ref) {
            let present = self
                .cnis
                .iter()
                .any(|c| c == cni || c.starts_with(&format!("{cni} ")));
            if !present {
                self.cnis.push(cni.to_string());
                self.missing.push(cni.to_string());
                self.run_ms.push(None);
                for row in &mut self.rows {
                    row.cells.push(None);
                }
            }
        }
        self
    }

    /// How many steps in column `column` ended with `status`.
    pub fn count(&self, column: usize, status: StepStatus) -> usize {
        self.rows
            .iter()
            .filter(|r| {
                r.cells
                    .get(column)
                    .and_then(Option::as_ref)
                    .map(|c| c.status)
                    == Some(status)
            })
            .count()
    }

    /// For every column, how many steps ended with each status (in [`StepStatus::ALL`] order),
    /// in one pass over the cells.
    pub fn totals(&self) -> Vec<[usize; StepStatus::ALL.len()]> {
        let mut totals = vec![[0; StepStatus::ALL.len()]; self.cnis.len()];
        for row in &self.rows {
            for (column, cell) in row.cells.iter().enumerate() {
                if let (Some(cell), Some(total)) = (cell, totals.get_mut(column)) {
                    total[StepStatus::ALL
                        .iter()
                        .position(|s| *s == cell.status)
                        .unwrap_or(0)] += 1;
                }
            }
        }
        totals
    }

    /// For every column, the enforcement latency's median and p95 over its steps.
    pub fn latency(&self) -> Vec<ColumnLatency> {
        (0..self.cnis.len())
            .map(|column| {
                let cells = || {
                    self.rows
                        .iter()
                        .filter_map(move |r| r.cells.get(column).and_then(Option::as_ref))
                };
                ColumnLatency {
                    converged: Spread::of(cells().filter_map(|c| c.measures.converged_ms)),
                    confirmed: Spread::of(cells().filter_map(|c| c.measures.confirmed_ms)),
                }
            })
            .collect()
    }

    /// Per tag (sorted), per column: the steps carrying it, how many passed, their latency.
    /// Empty when no step has tags (only generated suites do).
    pub fn tags(&self) -> Vec<(String, Vec<TagCell>)> {
        let mut tags: std::collections::BTreeMap<&str, Vec<(usize, &CompatCell)>> =
            std::collections::BTreeMap::new();
        for row in &self.rows {
            for (column, cell) in row.cells.iter().enumerate() {
                if let Some(cell) = cell {
                    for tag in &cell.measures.tags {
                        tags.entry(tag).or_default().push((column, cell));
                    }
                }
            }
        }
        tags.into_iter()
            .map(|(tag, cells)| {
                let columns = (0..self.cnis.len())
                    .map(|column| {
                        let mine: Vec<&CompatCell> = cells
                            .iter()
                            .filter(|(c, _)| *c == column)
                            .map(|(_, cell)| *cell)
                            .collect();
                        TagCell {
                            steps: mine.len(),
                            passed: mine.iter().filter(|c| c.status == StepStatus::Pass).count(),
                            converged: Spread::of(
                                mine.iter().filter_map(|c| c.measures.converged_ms),
                            ),
                        }
                    })
                    .collect();
                (tag.to_string(), columns)
            })
            .collect()
    }

    /// Cells that failed, as (column, row) pairs, in row order.
    pub(super) fn failures(&self) -> Vec<(usize, &MatrixRow, &CompatCell)> {
        let mut out = Vec::new();
        for row in &self.rows {
            for (column, cell) in row.cells.iter().enumerate() {
                if let Some(cell) = cell
                    && cell.status == StepStatus::Fail
                {
                    out.push((column, row, cell));
                }
            }
        }
        out
    }

    /// The matrix as pretty JSON (statuses in kebab-case).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self).map(|mut s| {
            s.push('\n');
            s
        })
    }
}

#[cfg(test)]
mod tests;
