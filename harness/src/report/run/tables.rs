//! One step's tables for people: expected, observed and diff per probe kind and port (per
//! address family on a dual-stack run), the wrong cells explained, the legend.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::cluster::Family;
use crate::escape;
use crate::probe::Outcome;
use crate::report::truth_table::abbreviate;
use crate::runner::outcome::{CellOutcome, StepOutcome, StepVerdict, Unasserted, connected};
use crate::scenario::format::Expectation;

fn verdict_word(v: StepVerdict) -> &'static str {
    match v {
        StepVerdict::Pass => "PASS",
        StepVerdict::Fail => "FAIL",
        StepVerdict::NotEnforced => "NOT ENFORCED",
        StepVerdict::Error => "ERROR",
        StepVerdict::NotApplicable => "N/A",
    }
}

/// The expected mark: the claim's, or the oracle's followed by `*` for a derived cell (`?*`
/// where the oracle cannot decide).
fn expected_mark(c: &CellOutcome) -> String {
    let mark = match (&c.unasserted, c.expected) {
        (Some(Unasserted::Uncertain(_)), _) => "?".into(),
        (_, Expectation::Allowed) => ".".into(),
        (_, Expectation::Blocked) => "X".into(),
        (_, Expectation::Status(s)) => s.to_string(),
    };
    if c.derived { format!("{mark}*") } else { mark }
}

/// The observed mark; `/` for a cell not probed because the CNI lacks what it needs (as in
/// the diff table and the legend).
fn observed_mark(c: &CellOutcome) -> String {
    if matches!(c.unasserted, Some(Unasserted::NotApplicable(_))) {
        return "/".into();
    }
    match &c.observed {
        Outcome::Allowed => ".".into(),
        Outcome::Blocked => "X".into(),
        Outcome::Refused => "R".into(),
        Outcome::Unreachable(_) => "U".into(),
        Outcome::HttpStatus(s) => s.to_string(),
        Outcome::DnsFailure(_) => "D".into(),
        Outcome::Error(_) => "E".into(),
    }
}

fn diff_mark(c: &CellOutcome) -> String {
    if let Some(why) = &c.unasserted {
        return match why {
            Unasserted::SelfTraffic => "s",
            Unasserted::Uncertain(_) => "?",
            Unasserted::PortNotServed => "n",
            Unasserted::NotApplicable(_) => "/",
        }
        .into();
    }
    if matches!(c.observed, Outcome::Error(_)) {
        "E".into()
    } else if !c.matched {
        "!".into()
    } else if c.flapped {
        "~".into()
    } else {
        ".".into()
    }
}

/// How much a cell's diff mark must show when several cells share one table cell (replicas
/// with `--all-replicas`, or the backends of a Service): a wrong cell first, then a probe
/// error, a flapping cell, then the cells not asserted, an expected one last.
fn severity(c: &CellOutcome) -> u8 {
    match diff_mark(c).as_str() {
        "!" => 7,
        "E" => 6,
        "~" => 5,
        "n" => 4,
        "?" => 3,
        "s" => 2,
        "/" => 1,
        _ => 0,
    }
}

/// One table: rows `from`, columns `to`, `-` where nothing was probed. Where several cells
/// share a table cell, the most severe one ([`severity`]) is shown, in every table alike, so a
/// wrong cell is never hidden behind another mark.
fn table(cells: &[&CellOutcome], mark: impl Fn(&CellOutcome) -> String) -> String {
    let mut rows: Vec<&str> = Vec::new();
    let mut cols: Vec<&str> = Vec::new();
    for c in cells {
        if !rows.contains(&c.from.as_str()) {
            rows.push(&c.from);
        }
        if !cols.contains(&c.to.as_str()) {
            cols.push(&c.to);
        }
    }
    let mut shown: BTreeMap<(usize, usize), &CellOutcome> = BTreeMap::new();
    for c in cells {
        let key = (
            rows.iter().position(|r| *r == c.from).expect("listed"),
            cols.iter().position(|t| *t == c.to).expect("listed"),
        );
        let entry = shown.entry(key).or_insert(c);
        if severity(c) > severity(entry) {
            *entry = c;
        }
    }
    let marks: BTreeMap<(usize, usize), String> =
        shown.into_iter().map(|(k, c)| (k, mark(c))).collect();
    let width = marks
        .values()
        .map(String::len)
        .chain([cols.len().to_string().len()])
        .max()
        .unwrap_or(1);
    let name_width = rows
        .iter()
        .map(|r| r.len())
        .max()
        .unwrap_or(0)
        .clamp("from \\ to".len(), 40);
    let mut out = String::new();
    let _ = write!(out, "    {:<name_width$} ", "from \\ to");
    for i in 0..cols.len() {
        let _ = write!(out, "{:>width$} ", i + 1);
    }
    out.push('\n');
    for (r, row) in rows.iter().enumerate() {
        let _ = write!(
            out,
            "    {:<name_width$} ",
            abbreviate(&escape::terminal(row), name_width)
        );
        for c in 0..cols.len() {
            let m = marks.get(&(r, c)).map_or("-", String::as_str);
            let _ = write!(out, "{m:>width$} ");
        }
        out.push('\n');
    }
    out
}

/// What a step's cells are drawn in tables by: probe kind, port, and on a dual-stack run the
/// address family.
type TableKey = (String, Option<u16>, Option<Family>);

/// A step's tables and explanations.
pub fn render_step(scenario: &str, step: &StepOutcome) -> String {
    let mut out = format!(
        "{}::{} — {}: {}\n",
        escape::terminal(scenario),
        escape::terminal(&step.name),
        verdict_word(step.verdict),
        escape::terminal(&step.reason)
    );
    if matches!(
        step.verdict,
        StepVerdict::Error | StepVerdict::NotApplicable
    ) {
        return out;
    }
    let _ = writeln!(
        out,
        "  {} rounds, {} probe execs{}, {:.1}s{}{}",
        step.rounds,
        step.execs,
        if step.detect_execs > 0 {
            format!(" (+{} to detect probe tools)", step.detect_execs)
        } else {
            String::new()
        },
        step.duration.as_secs_f64(),
        step.converged_after
            .map(|d| format!(", converged after {:.2}s", d.as_secs_f64()))
            .unwrap_or_else(|| ", did not converge".into()),
        match (step.confirmed, step.confirmed_after) {
            (true, Some(d)) => format!(", confirmed after {:.2}s", d.as_secs_f64()),
            (true, None) => ", not confirmed".to_string(),
            (false, _) => String::new(),
        }
    );
    if !step.deny_styles.is_empty() {
        let seen: Vec<String> = step
            .deny_styles
            .iter()
            .map(|(style, n)| format!("{style} ({n} probes)"))
            .collect();
        let _ = writeln!(out, "  denied traffic was stopped by: {}", seen.join(", "));
    }
    if let Some(note) = step.deny_style_note() {
        let _ = writeln!(out, "  note: {}", escape::terminal(&note));
    }
    // One table per probe kind and port; on a dual-stack run (any cell over IPv6), one per
    // address family too, so that a failure of one family shows as such.
    let dual_stack = step.cells.iter().any(|c| c.family == Some(Family::Ipv6));
    let mut groups: BTreeMap<TableKey, Vec<&CellOutcome>> = BTreeMap::new();
    for c in &step.cells {
        let family = c.family.filter(|_| dual_stack);
        groups
            .entry((c.kind.clone(), c.port, family))
            .or_default()
            .push(c);
    }
    for ((kind, port, family), cells) in &groups {
        let kind = escape::terminal(kind);
        let mut title = match port {
            Some(p) => format!("{kind} port {p}"),
            None => kind.into_owned(),
        };
        if let Some(family) = family {
            title.push_str(&format!(" over {family}"));
        }
        let mut cols: Vec<&str> = Vec::new();
        for c in cells {
            if !cols.contains(&c.to.as_str()) {
                cols.push(&c.to);
            }
        }
        let _ = writeln!(
            out,
            "  {title}  (columns: {})",
            cols.iter()
                .enumerate()
                .map(|(i, c)| format!("{} {}", i + 1, escape::terminal(c)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(out, "   expected:\n{}", table(cells, expected_mark));
        let _ = writeln!(out, "   observed:\n{}", table(cells, observed_mark));
        let _ = writeln!(out, "   diff:\n{}", table(cells, diff_mark));
    }
    let wrong: Vec<&CellOutcome> = step.cells.iter().filter(|c| c.failed()).collect();
    if !wrong.is_empty() {
        let _ = writeln!(out, "  wrong cells:");
        for c in wrong {
            let covered = match (step.covered_by_deviation(c), c.derived) {
                (true, false) => "covered by the known deviation (a claim): ",
                (true, true) => "covered by the known deviation (a derived cell it may explain): ",
                (false, _) => "",
            };
            let _ = writeln!(
                out,
                "    {covered}{}",
                escape::terminal_text(&c.explanation())
            );
        }
    }
    if step.verdict == StepVerdict::NotEnforced {
        let allowed = step
            .cells
            .iter()
            .filter(|c| {
                c.asserted() && c.expected == Expectation::Blocked && connected(&c.observed)
            })
            .count();
        let _ = writeln!(
            out,
            "  not enforced: none of the {allowed} connections that policy should drop was dropped. Is the CNI enforcing network policy at all (kindnet before v0.24, flannel, a kernel without the needed modules)?"
        );
    }
    out.push_str(
        "  legend: . allowed, X blocked (dropped: timed out), R refused, U unreachable (R and U: rejected; blocked only on a port shown served), E probe error, D DNS failure, NNN HTTP status; diff: . as expected, ! wrong, ~ flapped, - not probed\n",
    );
    let shared = groups.values().any(|cells| {
        let mut seen = std::collections::HashSet::new();
        cells.iter().any(|c| !seen.insert((&c.from, &c.to)))
    });
    if shared {
        out.push_str(
            "  shared marks: where one row reaches one column through several pods or addresses (replicas, a Service's backends), the most severe cell shows in every table (! wrong, then E, ~, n, ?, s, /); the wrong cells are listed above\n",
        );
    }
    if step.cells.iter().any(|c| c.derived || !c.asserted()) {
        out.push_str(
            "  derived: * the oracle's expectation for a cell the tutorial does not claim (? it cannot decide); not asserted, only reported: s self-traffic, n port not served, ? undecided by the oracle, / not applicable on this CNI\n",
        );
    }
    out
}
