//! The compatibility matrix as a standalone HTML page.

use std::fmt::Write as _;

use super::text::{issue_label, latency_rows, legend, tag_cell};
use super::{CompatCell, CompatMatrix};
use crate::escape;
use crate::report::cell_totals::cell_rows;
use crate::report::results::StepStatus;

impl CompatMatrix {
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
        for (label, row) in latency_rows(&self.latency(), &self.run_ms)
            .into_iter()
            .chain(cells)
        {
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
