//! The texts both renderings of the matrix share: the legend, the latency rows, a tag's cell,
//! an issue link's label.

use super::{ColumnLatency, TagCell};
use crate::report::latency::{Spread, seconds};
use crate::report::results::StepStatus;

/// The totals table's time rows: label, then one cell per column (`—` without data): the
/// enforcement latency (median · p95 over steps), and the lane's run time (`run_ms`, per column).
pub(super) fn latency_rows(
    latency: &[ColumnLatency],
    run_ms: &[Option<u64>],
) -> [(&'static str, Vec<String>); 3] {
    let cell = |s: Option<Spread>| {
        s.map_or("—".to_string(), |s| {
            format!("{} · {}", seconds(s.median_ms), seconds(s.p95_ms))
        })
    };
    let run = (0..latency.len())
        .map(|c| {
            run_ms
                .get(c)
                .copied()
                .flatten()
                .map_or("—".to_string(), minutes)
        })
        .collect();
    [
        (
            "⏱ enforced (median · p95)",
            latency.iter().map(|l| cell(l.converged)).collect(),
        ),
        (
            "⏱ confirmed (median · p95)",
            latency.iter().map(|l| cell(l.confirmed)).collect(),
        ),
        ("⏱ run time (sweep, scenarios, cleanup)", run),
    ]
}

/// A lane's run time, to the second: `42 s`, `12 min 05 s`.
fn minutes(ms: u64) -> String {
    let s = ms.saturating_add(500) / 1000;
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

/// A tag's cell: `passed/steps`, with the latency when known; `—` without steps.
pub(super) fn tag_cell(cell: &TagCell) -> String {
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
pub(super) fn legend(escape: impl Fn(&str) -> String, none: &str) -> String {
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
pub(super) fn issue_label(url: &str) -> String {
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
