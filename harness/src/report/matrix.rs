//! The compatibility matrix: one row per scenario step, one column per CNI run, rendered as
//! markdown (for a GitHub job summary), a standalone HTML page, or JSON.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::cell_totals::cell_rows;
use super::latency::{Spread, seconds};
use super::results::{RunResults, StepMeasures, StepStatus};
use crate::escape;

/// Rows scenario/step × columns CNI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatMatrix {
    /// Column headers, one per results file (the CNI name; made unique if repeated).
    pub cnis: Vec<String>,
    /// CNIs that were expected but sent no results (their column has no cells).
    pub missing: Vec<String>,
    /// One row per step, scenarios in the order first seen, steps in order.
    pub rows: Vec<MatrixRow>,
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
    CompatMatrix {
        cnis,
        missing: Vec::new(),
        rows: scenarios.into_iter().flatten().collect(),
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
    fn failures(&self) -> Vec<(usize, &MatrixRow, &CompatCell)> {
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
        for (label, row) in latency_rows(&self.latency()).into_iter().chain(cells) {
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

    /// A standalone HTML page (no external resources); every text from the results is escaped.
    pub fn to_html(&self) -> String {
        let mut h = String::from(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>Network policy compatibility matrix</title>\n<style>\n\
             body { font-family: system-ui, sans-serif; margin: 2rem; }\n\
             table { border-collapse: collapse; margin-bottom: 1.5rem; }\n\
             th, td { border: 1px solid #ccc; padding: .3rem .6rem; }\n\
             td.cell { text-align: center; }\n\
             .pass { background: #e6f4ea; } .fail { background: #fce8e6; }\n\
             .known-deviation { background: #fef7e0; } .not-enforced { background: #eceff1; }\n\
             .missing { color: #b00020; }\n\
             </style>\n</head>\n<body>\n<h1>Network policy compatibility matrix</h1>\n",
        );
        let _ = writeln!(h, "<p>{}</p>", legend(escape::html, "—"));
        if !self.missing.is_empty() {
            let _ = writeln!(
                h,
                "<p class=\"missing\"><strong>No results from: {}.</strong> The job stopped before writing results.json; see its logs.</p>",
                escape::html(&self.missing.join(", "))
            );
        }

        h.push_str("<table class=\"totals\">\n<tr><th></th>");
        for cni in &self.cnis {
            let _ = write!(h, "<th>{}</th>", escape::html(cni));
        }
        h.push_str("</tr>\n");
        let totals = self.totals();
        for (i, status) in StepStatus::ALL.iter().enumerate() {
            let _ = write!(
                h,
                "<tr><th>{} {}</th>",
                status.symbol(),
                escape::html(status.label())
            );
            for total in &totals {
                let _ = write!(h, "<td class=\"cell\">{}</td>", total[i]);
            }
            h.push_str("</tr>\n");
        }
        let cells = cell_rows(&self.cells());
        for (label, row) in latency_rows(&self.latency()).into_iter().chain(cells) {
            let _ = write!(h, "<tr><th>{}</th>", escape::html(label));
            for cell in row {
                let _ = write!(h, "<td class=\"cell\">{}</td>", escape::html(&cell));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
        let tags = self.tags();
        if !tags.is_empty() {
            h.push_str("<h2>Generated cases per tag</h2>\n<p>passed / steps, enforcement latency median · p95</p>\n<table class=\"tags\">\n<tr><th>Tag</th>");
            for cni in &self.cnis {
                let _ = write!(h, "<th>{}</th>", escape::html(cni));
            }
            h.push_str("</tr>\n");
            for (tag, cells) in &tags {
                let _ = write!(h, "<tr><th>{}</th>", escape::html(tag));
                for cell in cells {
                    let _ = write!(
                        h,
                        "<td class=\"cell\">{}</td>",
                        escape::html(&tag_cell(cell))
                    );
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</table>\n");
        }

        h.push_str("<table class=\"matrix\">\n<thead><tr><th>Scenario</th><th>Step</th>");
        for cni in &self.cnis {
            let _ = write!(h, "<th>{}</th>", escape::html(cni));
        }
        h.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            let _ = write!(
                h,
                "<tr><td title=\"{}\">{}</td><td>{}</td>",
                escape::html(&row.scenario),
                escape::html(&row.scenario_title),
                escape::html(&row.step)
            );
            for cell in &row.cells {
                h.push_str(&html_cell(cell.as_ref()));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody>\n</table>\n");

        let failures = self.failures();
        if !failures.is_empty() {
            h.push_str("<h2>Failures</h2>\n<ul>\n");
            for (column, row, cell) in failures {
                let _ = writeln!(
                    h,
                    "<li>❌ <strong>{}</strong> {}/{}: {}</li>",
                    escape::html(&self.cnis[column]),
                    escape::html(&row.scenario),
                    escape::html(&row.step),
                    escape::html(cell.reason.as_deref().unwrap_or("no reason recorded"))
                );
            }
            h.push_str("</ul>\n");
        }
        h.push_str("</body>\n</html>\n");
        h
    }

    /// The matrix as pretty JSON (statuses in kebab-case).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self).map(|mut s| {
            s.push('\n');
            s
        })
    }
}

/// The totals table's latency rows: label, then one cell per column (`—` without data).
fn latency_rows(latency: &[ColumnLatency]) -> [(&'static str, Vec<String>); 2] {
    let cell = |s: Option<Spread>| {
        s.map_or("—".to_string(), |s| {
            format!("{} · {}", seconds(s.median_ms), seconds(s.p95_ms))
        })
    };
    [
        (
            "⏱ enforced (median · p95)",
            latency.iter().map(|l| cell(l.converged)).collect(),
        ),
        (
            "⏱ confirmed (median · p95)",
            latency.iter().map(|l| cell(l.confirmed)).collect(),
        ),
    ]
}

/// A tag's cell: `passed/steps`, with the latency when known; `—` without steps.
fn tag_cell(cell: &TagCell) -> String {
    if cell.steps == 0 {
        return "—".to_string();
    }
    match cell.converged {
        Some(s) => format!(
            "{}/{} · {} · {}",
            cell.passed,
            cell.steps,
            seconds(s.median_ms),
            seconds(s.p95_ms)
        ),
        None => format!("{}/{}", cell.passed, cell.steps),
    }
}

/// The legend line, with labels passed through `escape`.
fn legend(escape: impl Fn(&str) -> String, none: &str) -> String {
    let mut parts: Vec<String> = StepStatus::ALL
        .iter()
        .map(|s| {
            let extra = match s {
                StepStatus::KnownDeviation => " (linked to its upstream issue)",
                StepStatus::NotEnforced => " (the CNI enforces no NetworkPolicy)",
                _ => "",
            };
            format!("{} {}{}", s.symbol(), escape(s.label()), escape(extra))
        })
        .collect();
    parts.push(format!("{none} {}", escape("no result")));
    format!("Legend: {}", parts.join(" · "))
}

/// `repo#N` for a GitHub issue or pull-request URL, else `issue`.
fn issue_label(url: &str) -> String {
    let parts: Vec<&str> = url
        .trim_start_matches("https://github.com/")
        .split('/')
        .collect();
    match parts.as_slice() {
        [_, repo, "issues" | "pull", n, ..]
            if url.starts_with("https://github.com/") && n.chars().all(|c| c.is_ascii_digit()) =>
        {
            format!("{repo}#{n}")
        }
        _ => "issue".to_string(),
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

fn html_cell(cell: Option<&CompatCell>) -> String {
    let Some(cell) = cell else {
        return "<td class=\"cell none\">—</td>".to_string();
    };
    let title = match &cell.reason {
        Some(reason) => format!(" title=\"{}\"", escape::html(reason)),
        None => String::new(),
    };
    let link = match (cell.status, cell.issue_url.as_deref().and_then(escape::url)) {
        (StepStatus::KnownDeviation | StepStatus::NotApplicable, Some(url)) => format!(
            " <a href=\"{}\">{}</a>",
            escape::html(url),
            escape::html(&issue_label(url))
        ),
        _ => String::new(),
    };
    format!(
        "<td class=\"cell {}\"{title}>{}{link}</td>",
        cell.status.name(),
        cell.status.symbol()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::results::{ScenarioResult, StepMeasures, StepResult};

    fn step(name: &str, status: StepStatus, reason: Option<&str>, url: Option<&str>) -> StepResult {
        StepResult {
            name: name.into(),
            status,
            reason: reason.map(String::from),
            issue_url: url.map(String::from),
            deny_style: None,
            note: None,
            measures: Default::default(),
        }
    }

    fn run(cni: &str, steps: Vec<StepResult>) -> RunResults {
        let mut r = RunResults::new(cni);
        r.scenarios.push(ScenarioResult {
            name: "demo".into(),
            title: "Policy <demo> & friends".into(),
            steps,
        });
        r
    }

    /// Every status on at least one of four CNIs, plus a step only one CNI ran.
    fn sample() -> Vec<RunResults> {
        use StepStatus::*;
        let sctp = "https://github.com/cilium/cilium/issues/5719";
        vec![
            run(
                "calico",
                vec![
                    step("deny-all", Pass, None, None),
                    step("allow-sctp", Pass, None, None),
                    step("global-policy", Pass, None, None),
                ],
            ),
            run(
                "cilium",
                vec![
                    step("deny-all", Pass, None, None),
                    step(
                        "allow-sctp",
                        KnownDeviation,
                        Some("SCTP is not matched"),
                        Some(sctp),
                    ),
                    step(
                        "global-policy",
                        NotApplicable,
                        Some("needs calico-crds"),
                        None,
                    ),
                ],
            ),
            run(
                "kindnet",
                vec![
                    step(
                        "deny-all",
                        Fail,
                        Some("x/a → y/b: allowed, expected denied | <b>"),
                        None,
                    ),
                    step("allow-sctp", Pass, None, None),
                    step(
                        "global-policy",
                        NotApplicable,
                        None,
                        Some("javascript:alert(1)"),
                    ),
                ],
            ),
            run(
                "flannel",
                vec![
                    step("deny-all", NotEnforced, None, None),
                    step("allow-sctp", NotEnforced, None, None),
                    step("flannel-only", Pass, None, None),
                ],
            ),
        ]
    }

    #[test]
    fn rows_are_the_union_of_steps_in_scenario_order() {
        let m = matrix(&sample());
        assert_eq!(m.cnis, ["calico", "cilium", "kindnet", "flannel"]);
        let steps: Vec<&str> = m.rows.iter().map(|r| r.step.as_str()).collect();
        assert_eq!(
            steps,
            ["deny-all", "allow-sctp", "global-policy", "flannel-only"]
        );
        let global = &m.rows[2];
        assert_eq!(global.cells[3], None, "flannel never ran global-policy");
        assert_eq!(m.rows[3].cells[..3], [None, None, None]);
        assert_eq!(m.count(1, StepStatus::NotApplicable), 1);
        assert_eq!(m.count(3, StepStatus::NotEnforced), 2);
        assert_eq!(m.count(9, StepStatus::Pass), 0);
    }

    #[test]
    fn markdown_has_a_cell_per_status_the_legend_and_the_failures() {
        let md = matrix(&sample()).to_markdown();
        let line = |step: &str| {
            md.lines()
                .find(|l| l.contains(&format!("| {step} |")))
                .unwrap_or_else(|| panic!("no row {step} in\n{md}"))
                .to_string()
        };
        assert_eq!(
            line("deny-all"),
            "| **Policy &lt;demo&gt; &amp; friends** (demo) | deny-all | ✅ | ✅ | ❌ | 🚫 |"
        );
        assert_eq!(
            line("allow-sctp"),
            "|  | allow-sctp | ✅ | ⚠️ [cilium#5719](https://github.com/cilium/cilium/issues/5719) | ✅ | 🚫 |"
        );
        // An unsafe link is dropped, not rendered.
        assert_eq!(
            line("global-policy"),
            "|  | global-policy | ✅ | ➖ | ➖ | — |"
        );
        assert_eq!(line("flannel-only"), "|  | flannel-only | — | — | — | ✅ |");
        assert!(md.contains("| Scenario | Step | calico | cilium | kindnet | flannel |\n| --- | --- | :-: | :-: | :-: | :-: |"));
        assert!(md.contains(
            "Legend: ✅ pass · ❌ fail · ➖ not applicable · ⚠️ known deviation (linked to its upstream issue) · 🚫 not enforced (the CNI enforces no NetworkPolicy) · `—` no result"
        ));
        assert!(md.contains("| ✅ pass | 3 | 1 | 1 | 1 |"), "{md}");
        assert!(md.contains("| ❌ fail | 0 | 0 | 1 | 0 |"), "{md}");
        // The pipe in the reason cannot break the list item into a table, nor the tag into HTML.
        assert!(
            md.contains(
                "- ❌ **kindnet** demo/deny-all: x/a → y/b: allowed, expected denied \\| &lt;b&gt;"
            ),
            "{md}"
        );
        assert!(!md.contains("javascript:"));
        assert!(!md.contains("No results from"));
    }

    #[test]
    fn expected_cnis_without_results_get_an_empty_column_and_a_warning() {
        let m = matrix(&sample()[..2]).expect(&["calico", "cilium", "antrea"]);
        assert_eq!(m.cnis, ["calico", "cilium", "antrea"]);
        assert_eq!(m.missing, ["antrea"]);
        assert!(
            m.rows
                .iter()
                .all(|r| r.cells.len() == 3 && r.cells[2].is_none())
        );
        let md = m.to_markdown();
        assert!(md.contains("**No results from: antrea.**"), "{md}");
        assert!(md.contains("| deny-all | ✅ | ✅ | — |"), "{md}");
        assert!(m.to_html().contains("No results from: antrea."));
        // Nothing at all is still a valid (empty) report.
        let empty = matrix(&[]).expect(&["flannel"]);
        assert!(
            empty
                .to_markdown()
                .contains("| Scenario | Step | flannel |")
        );
    }

    #[test]
    fn repeated_cnis_get_distinct_columns() {
        let mut a = run("calico", vec![step("s", StepStatus::Pass, None, None)]);
        let mut b = a.clone();
        let c = a.clone();
        a.cluster = Some("one".into());
        b.cluster = Some("two".into());
        let m = matrix(&[a, b, c]);
        assert_eq!(m.cnis, ["calico", "calico (two)", "calico #3"]);
        assert_eq!(m.expect(&["calico"]).missing, Vec::<String>::new());
    }

    #[test]
    fn html_is_a_standalone_page_with_everything_escaped() {
        let html = matrix(&sample()).to_html();
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(html.trim_end().ends_with("</html>"));
        assert!(!html.contains("src=") && !html.contains("<link"));
        assert!(html.contains("<td title=\"demo\">Policy &lt;demo&gt; &amp; friends</td>"));
        assert!(!html.contains("<demo>") && !html.contains("<b>"));
        assert!(html.contains(
            "<td class=\"cell known-deviation\" title=\"SCTP is not matched\">⚠️ <a href=\"https://github.com/cilium/cilium/issues/5719\">cilium#5719</a></td>"
        ));
        assert!(html.contains("<td class=\"cell fail\" title=\"x/a → y/b: allowed, expected denied | &lt;b&gt;\">❌</td>"));
        assert!(html.contains("<td class=\"cell not-enforced\">🚫</td>"));
        assert!(html.contains("<td class=\"cell none\">—</td>"));
        assert!(!html.contains("javascript:"));
        assert!(html.contains("<li>❌ <strong>kindnet</strong> demo/deny-all:"));
    }

    #[test]
    fn json_round_trips_with_kebab_case_statuses() {
        let m = matrix(&sample()).expect(&["antrea"]);
        let json = m.to_json().unwrap();
        assert!(json.contains("\"status\": \"known-deviation\""));
        assert!(json.contains("\"status\": \"not-enforced\""));
        assert!(json.contains("\"missing\": [\n    \"antrea\"\n  ]"));
        let back: CompatMatrix = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn large_inputs_stay_linear() {
        use StepStatus::*;
        // One run of 80,000 steps (the old row lookup was quadratic in them) ...
        let mut big = RunResults::new("calico");
        for s in 0..400 {
            big.scenarios.push(ScenarioResult {
                name: format!("s{s}"),
                title: "t".into(),
                steps: (0..200)
                    .map(|i| step(&format!("step-{i}"), Pass, None, None))
                    .collect(),
            });
        }
        // ... and 4,000 runs of 20 steps, one in forty adding a step of its own to the scenario,
        // which the old code inserted in the middle of the rows.
        let many: Vec<RunResults> = (0..4_000)
            .map(|r| {
                let mut steps: Vec<StepResult> = (0..20)
                    .map(|i| step(&format!("step-{i}"), Fail, None, None))
                    .collect();
                if r % 40 == 0 {
                    steps.push(step(&format!("only-{r}"), Pass, None, None));
                }
                run(&format!("cni{r}"), steps)
            })
            .collect();
        let started = std::time::Instant::now();
        let m = matrix(std::slice::from_ref(&big));
        assert_eq!(m.rows.len(), 80_000);
        assert_eq!(m.rows[79_999].step, "step-199");
        let md = m.to_markdown();
        assert_eq!(md.matches("| ✅ |").count(), 80_000);
        let m = matrix(&many);
        assert_eq!(m.rows.len(), 20 + 100);
        assert_eq!(m.rows[20].step, "only-0");
        assert_eq!(m.rows[119].step, "only-3960");
        assert_eq!(m.totals()[3_960], [1, 20, 0, 0, 0]);
        assert_eq!(m.count(3_999, Fail), 20);
        let _ = m.to_html();
        // Seconds at most even in a loaded debug build; the quadratic version took minutes.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn latency_per_lane_and_results_per_tag() {
        use StepStatus::*;
        let timed = |name: &str, status, ms: Option<u64>, tags: &[&str]| StepResult {
            measures: StepMeasures {
                tags: tags.iter().map(|t| t.to_string()).collect(),
                converged_ms: ms,
                confirmed_ms: ms.map(|m| m + 1000),
                claims: None,
                derived: None,
                cells: Vec::new(),
            },
            ..step(name, status, None, None)
        };
        let calico = run(
            "calico",
            (1..=20)
                .map(|i| timed(&format!("s{i}"), Pass, Some(i * 100), &["egress"]))
                .collect(),
        );
        let cilium = run(
            "cilium",
            vec![
                timed("s1", Pass, Some(2000), &["egress", "named-port"]),
                timed("s2", Fail, None, &["named-port <x>"]),
            ],
        );
        let m = matrix(&[calico, cilium, run("flannel", vec![])]);
        let latency = m.latency();
        let calico = latency[0].converged.unwrap();
        assert_eq!(
            (calico.median_ms, calico.p95_ms, calico.steps),
            (1000, 1900, 20)
        );
        assert_eq!(latency[0].confirmed.unwrap().p95_ms, 2900);
        assert_eq!(
            latency[1].converged.unwrap().steps,
            1,
            "a failed step that never matched has none"
        );
        assert_eq!(latency[2].converged, None);
        let tags = m.tags();
        let names: Vec<&str> = tags.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(names, ["egress", "named-port", "named-port <x>"]);
        assert_eq!((tags[0].1[0].steps, tags[0].1[0].passed), (20, 20));
        assert_eq!((tags[2].1[1].steps, tags[2].1[1].passed), (1, 0));
        let md = m.to_markdown();
        assert!(
            md.contains("| ⏱ enforced (median · p95) | 1.00 s · 1.90 s | 2.00 s · 2.00 s | — |"),
            "{md}"
        );
        assert!(
            md.contains("| egress | 20/20 · 1.00 s · 1.90 s | 1/1 · 2.00 s · 2.00 s | — |"),
            "{md}"
        );
        assert!(
            md.contains("| named-port &lt;x&gt; | — | 0/1 | — |"),
            "{md}"
        );
        let html = m.to_html();
        assert!(html.contains("<tr><th>named-port &lt;x&gt;</th>"), "{html}");
        // Without tags, no per-tag table.
        assert!(!matrix(&sample()).to_markdown().contains("per tag"));
    }

    #[test]
    fn issue_labels() {
        assert_eq!(
            issue_label("https://github.com/cilium/cilium/issues/9209"),
            "cilium#9209"
        );
        assert_eq!(
            issue_label("https://github.com/kubernetes-sigs/kind/pull/3612"),
            "kind#3612"
        );
        assert_eq!(issue_label("https://example.com/bug/1"), "issue");
        assert_eq!(issue_label("https://github.com/o/r/issues/abc"), "issue");
        assert_eq!(escape::url("https://x.y/a(b)"), None);
        assert_eq!(escape::url("ftp://x.y/"), None);
    }
}
