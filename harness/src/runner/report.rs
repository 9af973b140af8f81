//! A run's results for people (truth tables: expected, observed, diff, with each wrong cell
//! explained) and for machines (JSON, JUnit XML).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use super::outcome::{CellOutcome, ScenarioOutcome, StepOutcome, StepVerdict, connected};
use super::probe::Outcome;
use crate::report::truth_table::abbreviate;
use crate::scenario::format::Expectation;

/// Everything `--report DIR` writes to `results.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport<'a> {
    /// The harness's version.
    pub harness_version: &'static str,
    /// The run's id (the `netpol-harness/run` label value).
    pub run_id: String,
    /// The CNI under test, as the user named it.
    pub cni: Option<String>,
    /// The kubeconfig context.
    pub context: String,
    /// The API server's version.
    pub server_version: Option<String>,
    /// Every scenario's outcome.
    pub scenarios: &'a [ScenarioOutcome],
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be written.
    #[error("writing {path}: {message}")]
    Write {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
    /// The report could not be serialized.
    #[error("serializing the report: {0}")]
    Serialize(String),
}

fn verdict_word(v: StepVerdict) -> &'static str {
    match v {
        StepVerdict::Pass => "PASS",
        StepVerdict::Fail => "FAIL",
        StepVerdict::NotEnforced => "NOT ENFORCED",
        StepVerdict::Error => "ERROR",
    }
}

fn expected_mark(e: Expectation) -> String {
    match e {
        Expectation::Allowed => ".".into(),
        Expectation::Blocked => "X".into(),
        Expectation::Status(s) => s.to_string(),
    }
}

fn observed_mark(o: &Outcome) -> String {
    match o {
        Outcome::Allowed => ".".into(),
        Outcome::Blocked => "X".into(),
        Outcome::Refused => "R".into(),
        Outcome::HttpStatus(s) => s.to_string(),
        Outcome::DnsFailure(_) => "D".into(),
        Outcome::Error(_) => "E".into(),
    }
}

fn diff_mark(c: &CellOutcome) -> String {
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

/// One table: rows `from`, columns `to`, `-` where nothing was probed.
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
    let mut marks: BTreeMap<(usize, usize), String> = BTreeMap::new();
    for c in cells {
        let key = (
            rows.iter().position(|r| *r == c.from).expect("listed"),
            cols.iter().position(|t| *t == c.to).expect("listed"),
        );
        let m = mark(c);
        // With several replicas in one cell, a wrong one shows.
        let entry = marks.entry(key).or_insert_with(|| m.clone());
        if *entry == "." {
            *entry = m;
        }
    }
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
        let _ = write!(out, "    {:<name_width$} ", abbreviate(row, name_width));
        for c in 0..cols.len() {
            let m = marks.get(&(r, c)).map_or("-", String::as_str);
            let _ = write!(out, "{m:>width$} ");
        }
        out.push('\n');
    }
    out
}

/// A step's tables and explanations.
pub fn render_step(scenario: &str, step: &StepOutcome) -> String {
    let mut out = format!(
        "{scenario}::{} — {}: {}\n",
        step.name,
        verdict_word(step.verdict),
        step.reason
    );
    if step.verdict == StepVerdict::Error {
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
            .map(|d| format!(", converged after {:.1}s", d.as_secs_f64()))
            .unwrap_or_else(|| ", did not converge".into()),
        if step.confirmed { ", confirmed" } else { "" }
    );
    let mut groups: BTreeMap<(String, Option<u16>), Vec<&CellOutcome>> = BTreeMap::new();
    for c in &step.cells {
        groups.entry((c.kind.clone(), c.port)).or_default().push(c);
    }
    for ((kind, port), cells) in &groups {
        let title = match port {
            Some(p) => format!("{kind} port {p}"),
            None => kind.clone(),
        };
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
                .map(|(i, c)| format!("{} {c}", i + 1))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            out,
            "   expected:\n{}",
            table(cells, |c| expected_mark(c.expected))
        );
        let _ = writeln!(
            out,
            "   observed:\n{}",
            table(cells, |c| observed_mark(&c.observed))
        );
        let _ = writeln!(out, "   diff:\n{}", table(cells, diff_mark));
    }
    let wrong: Vec<&CellOutcome> = step
        .cells
        .iter()
        .filter(|c| !c.matched || c.flapped)
        .collect();
    if !wrong.is_empty() {
        let _ = writeln!(out, "  wrong cells:");
        for c in wrong {
            let _ = writeln!(out, "    {}", c.explanation());
        }
    }
    if step.verdict == StepVerdict::NotEnforced {
        let allowed = step
            .cells
            .iter()
            .filter(|c| c.expected == Expectation::Blocked && connected(&c.observed))
            .count();
        let _ = writeln!(
            out,
            "  not enforced: none of the {allowed} connections that policy should drop was dropped. Is the CNI enforcing network policy at all (kindnet before v0.24, flannel, a kernel without the needed modules)?"
        );
    }
    out.push_str(
        "  legend: . allowed, X blocked, R refused, E probe error, D DNS failure, NNN HTTP status; diff: . as expected, ! wrong, ~ flapped, - not probed\n",
    );
    out
}

/// One line per step and the totals.
pub fn render_summary(outcomes: &[ScenarioOutcome]) -> String {
    let mut out = String::from("summary:\n");
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for s in outcomes {
        for step in &s.steps {
            *counts.entry(verdict_word(step.verdict)).or_default() += 1;
            let _ = writeln!(
                out,
                "  {:<12} {}::{} — {}",
                verdict_word(step.verdict),
                s.name,
                step.name,
                step.reason
            );
        }
        for e in &s.cleanup_errors {
            let _ = writeln!(out, "  {:<12} {} cleanup — {e}", "CLEANUP", s.name);
        }
    }
    let _ = writeln!(
        out,
        "steps: {} pass, {} fail, {} not enforced, {} error",
        counts.get("PASS").unwrap_or(&0),
        counts.get("FAIL").unwrap_or(&0),
        counts.get("NOT ENFORCED").unwrap_or(&0),
        counts.get("ERROR").unwrap_or(&0)
    );
    out
}

/// The JUnit XML of a run: one suite per scenario, one test case per step (`scenario::step`).
pub fn junit(report: &RunReport<'_>) -> Result<String, ReportError> {
    let mut junit = Report::new("netpol-harness");
    for s in report.scenarios {
        let mut suite = TestSuite::new(s.name.as_str());
        suite.set_time(s.duration);
        for step in &s.steps {
            let status = match step.verdict {
                StepVerdict::Pass => TestCaseStatus::success(),
                verdict => {
                    let kind = if verdict == StepVerdict::Error {
                        NonSuccessKind::Error
                    } else {
                        NonSuccessKind::Failure
                    };
                    let mut status = TestCaseStatus::non_success(kind);
                    status.set_message(format!("{}: {}", verdict_word(verdict), step.reason));
                    status.set_description(render_step(&s.name, step));
                    status
                }
            };
            let mut case = TestCase::new(format!("{}::{}", s.name, step.name), status);
            case.set_classname(s.name.as_str());
            case.set_time(step.duration);
            suite.add_test_case(case);
        }
        if !s.cleanup_errors.is_empty() {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message("cleanup failed");
            status.set_description(s.cleanup_errors.join("\n"));
            let mut case = TestCase::new(format!("{}::cleanup", s.name), status);
            case.set_classname(s.name.as_str());
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    junit
        .to_string()
        .map_err(|e| ReportError::Serialize(e.to_string()))
}

/// Writes `DIR/results.json` and `DIR/junit.xml`.
pub fn write(dir: &Path, report: &RunReport<'_>) -> Result<(), ReportError> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(&path, text))
            .map_err(|e| ReportError::Write {
                path: path.display().to_string(),
                message: e.to_string(),
            })
    };
    let json =
        serde_json::to_string_pretty(report).map_err(|e| ReportError::Serialize(e.to_string()))?;
    write("results.json", json + "\n")?;
    write("junit.xml", junit(report)?)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn step(name: &str, verdict: StepVerdict, observed: Outcome) -> StepOutcome {
        let expected = Expectation::Blocked;
        StepOutcome {
            name: name.into(),
            verdict,
            reason: "reason".into(),
            cells: vec![CellOutcome {
                from: "x/a".into(),
                to: "x/b".into(),
                source: "x/a".into(),
                target: "x/b 10.244.0.3:80".into(),
                kind: "tcp".into(),
                port: Some(80),
                expected,
                matched: super::super::outcome::matches(expected, &observed),
                observed: observed.clone(),
                detail: "3 ms".into(),
                flapped: false,
                history: vec![observed],
                why: Some("oracle: blocked; ingress to x/b: denied".into()),
            }],
            rounds: 1,
            execs: 1,
            detect_execs: 0,
            confirmed: false,
            converged_after: Some(Duration::from_millis(150)),
            duration: Duration::from_millis(1500),
        }
    }

    #[test]
    fn writes_json_and_junit_with_one_case_per_step() {
        let scenarios = vec![ScenarioOutcome {
            name: "s".into(),
            title: "S".into(),
            steps: vec![
                step("good", StepVerdict::Pass, Outcome::Blocked),
                step("bad", StepVerdict::NotEnforced, Outcome::Allowed),
            ],
            cleanup_errors: vec!["namespace x: forbidden".into()],
            duration: Duration::from_secs(3),
        }];
        let report = RunReport {
            harness_version: "0.1.0",
            run_id: "r1".into(),
            cni: Some("calico".into()),
            context: "kind-calico".into(),
            server_version: Some("v1.33.1".into()),
            scenarios: &scenarios,
        };
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &report).unwrap();
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("results.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json["cni"], "calico");
        assert_eq!(json["scenarios"][0]["steps"][1]["verdict"], "not-enforced");
        assert_eq!(
            json["scenarios"][0]["steps"][1]["cells"][0]["observed"]["outcome"],
            "allowed"
        );
        assert_eq!(json["scenarios"][0]["steps"][0]["duration"], 1.5);
        let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
        assert!(xml.contains("name=\"s::good\""), "{xml}");
        assert!(xml.contains("name=\"s::bad\""), "{xml}");
        assert!(
            xml.contains("<failure message=\"NOT ENFORCED: reason\""),
            "{xml}"
        );
        assert!(xml.contains("name=\"s::cleanup\""), "{xml}");
        assert!(xml.contains("<error message=\"cleanup failed\""), "{xml}");
    }

    #[test]
    fn tables_show_expected_observed_and_the_diff_with_explanations() {
        let text = render_step(
            "s",
            &step("bad", StepVerdict::NotEnforced, Outcome::Allowed),
        );
        assert!(
            text.starts_with("s::bad — NOT ENFORCED: reason\n"),
            "{text}"
        );
        assert!(text.contains("tcp port 80  (columns: 1 x/b)"), "{text}");
        let tables: Vec<&str> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("x/a") && !l.contains('→'))
            .collect();
        assert_eq!(tables.len(), 3, "{text}");
        assert!(
            tables[0].trim_end().ends_with('X'),
            "expected: {}",
            tables[0]
        );
        assert!(
            tables[1].trim_end().ends_with('.'),
            "observed: {}",
            tables[1]
        );
        assert!(tables[2].trim_end().ends_with('!'), "diff: {}", tables[2]);
        assert!(
            text.contains(
                "x/a → x/b 10.244.0.3:80 (tcp 80): expected blocked, observed allowed [3 ms]"
            ),
            "{text}"
        );
        assert!(text.contains("why expected: oracle: blocked"), "{text}");
        assert!(
            text.contains("not enforced: none of the 1 connections"),
            "{text}"
        );
        let summary = render_summary(&[ScenarioOutcome {
            name: "s".into(),
            title: "S".into(),
            steps: vec![step("bad", StepVerdict::NotEnforced, Outcome::Allowed)],
            cleanup_errors: vec![],
            duration: Duration::ZERO,
        }]);
        assert!(
            summary.contains("NOT ENFORCED s::bad — reason"),
            "{summary}"
        );
        assert!(
            summary.contains("steps: 0 pass, 0 fail, 1 not enforced, 0 error"),
            "{summary}"
        );
    }
}
