//! The compatibility matrix as Markdown, for a GitHub job summary.

use std::fmt::Write as _;

use super::text::{issue_label, latency_rows, legend, tag_cell};
use super::{CompatCell, CompatMatrix};
use crate::escape;
use crate::report::cell_totals::cell_rows;
use crate::report::results::StepStatus;

impl CompatMatrix {
    /// Markdown for a GitHub job summary: legend, totals per CNI, the matrix, then the failures
    /// with their reasons.
    pub fn to_markdown(&self) -> String {
        let mut md = String::from("## Network policy compatibility matrix\n\n");
        md.push_str(&legend(|s| s.to_string(), "`—`"));
        md.push_str("\n\n");
        if !self.missing.is_empty() {
            let _ = writeln!(
                md,
                "> **No results from: {}.** The job stopped before writing `results.json`; see its logs.\n",
                escape::markdown(&self.missing.join(", "))
            );
        }

        // Totals: statuses down, CNIs across.
        md.push_str("| |");
        for cni in &self.cnis {
            let _ = write!(md, " {} |", escape::markdown(cni));
        }
        md.push_str("\n| --- |");
        md.push_str(&" :-: |".repeat(self.cnis.len()));
        md.push('\n');
        let totals = self.totals();
        for (i, status) in StepStatus::ALL.iter().enumerate() {
            let _ = write!(md, "| {} {} |", status.symbol(), status.label());
            for total in &totals {
                let _ = write!(md, " {} |", total[i]);
            }
            md.push('\n');
        }
        let cells = cell_rows(&self.cells());
        for (label, row) in latency_rows(&self.latency(), &self.run_ms)
            .into_iter()
            .chain(cells)
        {
            let _ = write!(md, "| {label} |");
            for cell in row {
                let _ = write!(md, " {cell} |");
            }
            md.push('\n');
        }
        md.push('\n');
        let tags = self.tags();
        if !tags.is_empty() {
            md.push_str("Generated cases per tag (passed / steps, enforcement latency median · p95):\n\n| Tag |");
            for cni in &self.cnis {
                let _ = write!(md, " {} |", escape::markdown(cni));
            }
            md.push_str("\n| --- |");
            md.push_str(&" :-: |".repeat(self.cnis.len()));
            md.push('\n');
            for (tag, cells) in &tags {
                let _ = write!(md, "| {} |", escape::markdown(tag));
                for cell in cells {
                    let _ = write!(md, " {} |", tag_cell(cell));
                }
                md.push('\n');
            }
            md.push('\n');
        }

        md.push_str("| Scenario | Step |");
        for cni in &self.cnis {
            let _ = write!(md, " {} |", escape::markdown(cni));
        }
        md.push_str("\n| --- | --- |");
        md.push_str(&" :-: |".repeat(self.cnis.len()));
        md.push('\n');
        let mut previous: Option<&str> = None;
        for row in &self.rows {
            let scenario = if previous == Some(row.scenario.as_str()) {
                String::new()
            } else {
                format!(
                    "**{}** ({})",
                    escape::markdown(&row.scenario_title),
                    escape::markdown(&row.scenario)
                )
            };
            previous = Some(&row.scenario);
            let _ = write!(md, "| {scenario} | {} |", escape::markdown(&row.step));
            for cell in &row.cells {
                let _ = write!(md, " {} |", md_cell(cell.as_ref()));
            }
            md.push('\n');
        }

        let failures = self.failures();
        if !failures.is_empty() {
            md.push_str("\n### Failures\n\n");
            for (column, row, cell) in failures {
                let _ = writeln!(
                    md,
                    "- ❌ **{}** {}/{}: {}",
                    escape::markdown(&self.cnis[column]),
                    escape::markdown(&row.scenario),
                    escape::markdown(&row.step),
                    escape::markdown(cell.reason.as_deref().unwrap_or("no reason recorded"))
                );
            }
        }
        md
    }
}

fn md_cell(cell: Option<&CompatCell>) -> String {
    let Some(cell) = cell else {
        return "—".to_string();
    };
    let symbol = cell.status.symbol();
    match (cell.status, cell.issue_url.as_deref().and_then(escape::url)) {
        (StepStatus::KnownDeviation | StepStatus::NotApplicable, Some(url)) => {
            format!("{symbol} [{}]({url})", escape::markdown(&issue_label(url)))
        }
        _ => symbol.to_string(),
    }
}
