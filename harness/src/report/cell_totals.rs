//! The compatibility matrix's cell totals: per CNI column, the tutorial's claims and the
//! derived cells of the whole matrix (`run --matrix full`) summed apart, as the runs recorded
//! them in `results.json`.

use super::matrix::CompatMatrix;
use super::results::CellCounts;

/// One column's cells: claims and derived, each `None` when no step of the column recorded it
/// (results written before cells were counted, or a run with `--matrix claims`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColumnCells {
    /// The tutorial's claims probed.
    pub claims: Option<CellCounts>,
    /// The derived cells probed (the oracle's expectations).
    pub derived: Option<CellCounts>,
}

impl CompatMatrix {
    /// For every column, its claims and derived cells summed over its steps.
    pub fn cells(&self) -> Vec<ColumnCells> {
        let add = |total: &mut Option<CellCounts>, c: Option<CellCounts>| {
            if let Some(c) = c {
                *total.get_or_insert_with(CellCounts::default) += c;
            }
        };
        let mut columns = vec![ColumnCells::default(); self.cnis.len()];
        for row in &self.rows {
            for (cell, column) in row.cells.iter().zip(columns.iter_mut()) {
                if let Some(cell) = cell {
                    add(&mut column.claims, cell.measures.claims);
                    add(&mut column.derived, cell.measures.derived);
                }
            }
        }
        columns
    }
}

/// The totals table's cell rows: label, then one cell per column (`1 of 12 asserted failed,
/// 16 reported`, as [`CellCounts`] reads everywhere; `—` without data).
pub(super) fn cell_rows(columns: &[ColumnCells]) -> [(&'static str, Vec<String>); 2] {
    let cell = |c: Option<CellCounts>| c.map_or("—".to_string(), |c| c.to_string());
    [
        (
            "🗣 claims (failed of asserted, reported)",
            columns.iter().map(|c| cell(c.claims)).collect(),
        ),
        (
            "🧮 derived cells, oracle (failed of asserted, reported)",
            columns.iter().map(|c| cell(c.derived)).collect(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::matrix::matrix;
    use crate::report::results::{
        RunResults, ScenarioResult, StepMeasures, StepResult, StepStatus,
    };

    fn step(
        name: &str,
        claims: Option<(usize, usize)>,
        derived: Option<(usize, usize, usize)>,
    ) -> StepResult {
        StepResult {
            name: name.into(),
            status: StepStatus::Pass,
            reason: None,
            issue_url: None,
            deny_style: None,
            note: None,
            measures: StepMeasures {
                claims: claims.map(|(cells, failed)| CellCounts {
                    cells,
                    failed,
                    unasserted: 0,
                }),
                derived: derived.map(|(cells, failed, unasserted)| CellCounts {
                    cells,
                    failed,
                    unasserted,
                }),
                ..StepMeasures::default()
            },
        }
    }

    fn run(cni: &str, steps: Vec<StepResult>) -> RunResults {
        RunResults {
            scenarios: vec![ScenarioResult {
                name: "s".into(),
                title: "S".into(),
                steps,
                duration_ms: None,
            }],
            ..RunResults::new(cni)
        }
    }

    #[test]
    fn claims_and_derived_cells_are_summed_apart_per_cni() {
        let full = run(
            "calico",
            vec![
                step("a", Some((4, 1)), Some((12, 2, 3))),
                step("b", Some((2, 0)), Some((6, 0, 1))),
            ],
        );
        // Claims only, and an older file that counted nothing.
        let claims = run("cilium", vec![step("a", Some((4, 0)), None)]);
        let older = run("flannel", vec![step("a", None, None)]);
        let m = matrix(&[full, claims, older]);
        let cells = m.cells();
        let counts = |cells, failed, unasserted| {
            Some(CellCounts {
                cells,
                failed,
                unasserted,
            })
        };
        assert_eq!(cells[0].claims, counts(6, 1, 0));
        assert_eq!(cells[0].derived, counts(18, 2, 4));
        assert_eq!((cells[1].claims, cells[1].derived), (counts(4, 0, 0), None));
        assert_eq!(cells[2], ColumnCells::default());
        let md = m.to_markdown();
        assert!(
            md.contains("| 🗣 claims (failed of asserted, reported) | 1 of 6 asserted failed, 6 reported | 0 of 4 asserted failed, 4 reported | — |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| 🧮 derived cells, oracle (failed of asserted, reported) | 2 of 14 asserted failed, 18 reported | — | — |"
            ),
            "{md}"
        );
        let html = m.to_html();
        assert!(
            html.contains("<td class=\"cell\">2 of 14 asserted failed, 18 reported</td>"),
            "{html}"
        );
    }
}
