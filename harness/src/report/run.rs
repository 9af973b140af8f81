//! A run's results for people (each step's truth tables: expected, observed, diff, with each
//! wrong cell explained, in `tables`; a summary with each step's status on the CNI under test)
//! and for machines
//! (`results.json` in the [`crate::report::results`] format that `netpol-harness matrix` reads,
//! and JUnit XML with each non-passing step's tables).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::escape;
use crate::report::latency::{Spread, seconds};
use crate::report::results::{CellCounts, RESULTS_FILE, ResultsError, RunResults, StepStatus};
use crate::runner::outcome::{ScenarioOutcome, StepVerdict};

mod tables;

pub use tables::render_step;

/// The file the JUnit XML is written to, next to `results.json`.
pub const JUNIT_FILE: &str = "junit.xml";

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `results.json` could not be written.
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// The JUnit XML could not be written.
    #[error("writing {path}: {message}")]
    Junit {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
}

fn status_word(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Pass => "PASS",
        StepStatus::Fail => "FAIL",
        StepStatus::NotApplicable => "N/A",
        StepStatus::KnownDeviation => "KNOWN DEVIATION",
        StepStatus::NotEnforced => "NOT ENFORCED",
    }
}

/// One line per step with its status on the CNI under test (the verdict's reason, the
/// enforcement latency), the cleanup failures, the totals per status, and the latency's median
/// and 95th percentile over the steps.
pub fn render_summary(outcomes: &[ScenarioOutcome]) -> String {
    let mut out = String::from("summary:\n");
    let mut counts: BTreeMap<StepStatus, usize> = BTreeMap::new();
    let (mut converged, mut confirmed) = (Vec::new(), Vec::new());
    for s in outcomes {
        for step in &s.steps {
            let result = step.result();
            *counts.entry(result.status).or_default() += 1;
            let m = &result.measures;
            converged.extend(m.converged_ms);
            confirmed.extend(m.confirmed_ms);
            let latency = match (m.converged_ms, m.confirmed_ms) {
                (Some(a), Some(b)) => {
                    format!(" [matched {}, confirmed {}]", seconds(a), seconds(b))
                }
                (Some(a), None) => format!(" [matched {}, not confirmed]", seconds(a)),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<12} {}::{} — {}{latency}",
                status_word(result.status),
                escape::terminal(&s.name),
                escape::terminal(&step.name),
                escape::terminal(result.reason.as_deref().unwrap_or(&step.reason))
            );
        }
        for e in &s.cleanup_errors {
            let _ = writeln!(
                out,
                "  {:<12} {} cleanup — {}",
                "CLEANUP",
                escape::terminal(&s.name),
                escape::terminal(&e.to_string())
            );
        }
    }
    let totals: Vec<String> = StepStatus::ALL
        .iter()
        .map(|s| format!("{} {}", counts.get(s).unwrap_or(&0), s.label()))
        .collect();
    let _ = writeln!(out, "steps: {}", totals.join(", "));
    if let Some(spread) = Spread::of(converged) {
        let _ = write!(
            out,
            "enforcement latency (last action applied → every cell matched): {spread}"
        );
        if let Some(c) = Spread::of(confirmed) {
            let _ = write!(out, "; → confirmed: {c}");
        }
        out.push('\n');
    }
    let localities = crate::report::locality::render(outcomes);
    let families = crate::report::locality::render_families(outcomes);
    if !localities.is_empty() || !families.is_empty() {
        out.push_str(&localities);
        out.push_str(&families);
        out.push_str(&crate::report::locality::render_excused(outcomes));
    }
    out
}

/// What `results.json` records of a run on `cni` (with `cluster`, the kind cluster's name)
/// whose scenarios ended as `outcomes`, in `duration` of wall time.
pub fn results(
    cni: &str,
    cluster: Option<String>,
    outcomes: &[ScenarioOutcome],
    duration: Duration,
) -> RunResults {
    RunResults {
        cluster,
        scenarios: outcomes.iter().map(ScenarioOutcome::result).collect(),
        duration_ms: Some(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)),
        ..RunResults::new(cni)
    }
}

/// The JUnit XML of a run: one suite per scenario, one test case per step (`scenario::step`):
/// a failure carries the step's tables; a step that was not applicable, a known deviation, or
/// not enforced on a CNI that enforces nothing is skipped, with why. Claims and derived cells
/// are counted apart in properties (`claims.cells` reported, `claims.asserted`,
/// `claims.failed`, `claims.unasserted`, `derived.…`), per step and summed per scenario.
pub fn junit(outcomes: &[ScenarioOutcome]) -> Result<String, quick_junit::SerializeError> {
    let mut junit = Report::new("netpol-harness");
    for s in outcomes {
        let x = |text: &str| escape::xml(text).into_owned();
        let mut suite = TestSuite::new(x(&s.name));
        suite.set_time(s.duration);
        // Claims and derived cells counted apart, per step and per scenario.
        let mut totals: BTreeMap<&str, CellCounts> = BTreeMap::new();
        for step in &s.steps {
            let result = step.result();
            let message = x(&format!(
                "{}: {}",
                status_word(result.status),
                result.reason.as_deref().unwrap_or(&step.reason)
            ));
            let status = match result.status {
                StepStatus::Pass => TestCaseStatus::success(),
                StepStatus::Fail => {
                    let kind = if step.verdict == StepVerdict::Error {
                        NonSuccessKind::Error
                    } else {
                        NonSuccessKind::Failure
                    };
                    let mut status = TestCaseStatus::non_success(kind);
                    status.set_message(message);
                    status.set_description(x(&render_step(&s.name, step)));
                    status
                }
                StepStatus::NotApplicable
                | StepStatus::KnownDeviation
                | StepStatus::NotEnforced => {
                    let mut status = TestCaseStatus::skipped();
                    match &result.issue_url {
                        Some(url) => status.set_message(format!("{message} ({})", x(url))),
                        None => status.set_message(message),
                    };
                    if step.verdict != StepVerdict::NotApplicable {
                        status.set_description(x(&render_step(&s.name, step)));
                    }
                    status
                }
            };
            let mut case = TestCase::new(x(&format!("{}::{}", s.name, step.name)), status);
            case.set_classname(x(&s.name));
            case.set_time(step.duration);
            let measures = step.measures();
            for (name, counts) in [("claims", measures.claims), ("derived", measures.derived)] {
                if let Some(c) = counts {
                    for property in count_properties(name, c) {
                        case.add_property(property);
                    }
                    *totals.entry(name).or_default() += c;
                }
            }
            suite.add_test_case(case);
        }
        if !s.cleanup_errors.is_empty() {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message("cleanup failed");
            let errors: Vec<String> = s.cleanup_errors.iter().map(ToString::to_string).collect();
            status.set_description(x(&errors.join("\n")));
            let mut case = TestCase::new(x(&format!("{}::cleanup", s.name)), status);
            case.set_classname(x(&s.name));
            suite.add_test_case(case);
        }
        for (name, c) in totals {
            for property in count_properties(name, c) {
                suite.add_property(property);
            }
        }
        junit.add_test_suite(suite);
    }
    junit.to_string()
}

/// The JUnit properties of one kind's counts, named as in `results.json`: `NAME.cells` (every
/// cell reported), `NAME.asserted`, `NAME.failed`, `NAME.unasserted`.
fn count_properties(name: &str, c: CellCounts) -> [Property; 4] {
    [
        ("cells", c.cells),
        ("asserted", c.asserted()),
        ("failed", c.failed),
        ("unasserted", c.unasserted),
    ]
    .map(|(what, n)| Property::new(format!("{name}.{what}"), n.to_string()))
}

/// Writes `DIR/results.json` (`results`) and `DIR/junit.xml` (from `outcomes`).
pub fn write(
    dir: &Path,
    results: &RunResults,
    outcomes: &[ScenarioOutcome],
) -> Result<(), ReportError> {
    results.write(&dir.join(RESULTS_FILE))?;
    let path = dir.join(JUNIT_FILE);
    let junit_error = |message: String| ReportError::Junit {
        path: path.display().to_string(),
        message,
    };
    let xml = junit(outcomes).map_err(|e| junit_error(e.to_string()))?;
    std::fs::write(&path, xml).map_err(|e| junit_error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cluster::{ClusterError, Family};
    use crate::probe::Outcome;
    use crate::provision::cni::Applicability;
    use crate::runner::outcome::{CellOutcome, StepOutcome, Unasserted};
    use crate::scenario::format::Expectation;

    /// Asserts that `text` is exactly the golden file `tests/fixtures/report/NAME`; with
    /// `NETPOL_BLESS=1`, writes `text` there instead (then review the diff).
    fn assert_golden(name: &str, text: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/report")
            .join(name);
        if std::env::var_os("NETPOL_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(&path, text).unwrap();
        }
        let golden = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; NETPOL_BLESS=1 writes it", path.display()));
        assert_eq!(
            text,
            golden,
            "{} differs (NETPOL_BLESS=1 rewrites it); rendered:\n{text}",
            path.display()
        );
    }

    fn step(
        name: &str,
        verdict: StepVerdict,
        observed: Outcome,
        applicability: Applicability,
    ) -> StepOutcome {
        let expected = Expectation::Blocked;
        StepOutcome {
            name: name.into(),
            applicability,
            verdict,
            reason: "reason".into(),
            tags: Vec::new(),
            cells: vec![CellOutcome {
                from: "x/a".into(),
                to: "x/b".into(),
                source: "x/a".into(),
                target: "x/b 10.244.0.3:80".into(),
                kind: "tcp".into(),
                port: Some(80),
                expected,
                matched: crate::runner::outcome::matches(expected, &observed, true),
                observed: observed.clone(),
                detail: "3 ms".into(),
                flapped: false,
                port_served: true,
                history: vec![observed],
                why: Some("ingress to x/b: denied".into()),
                derived: false,
                unasserted: None,
                locality: None,
                family: None,
            }],
            rounds: 1,
            execs: 1,
            detect_execs: 0,
            confirmed: false,
            converged_after: Some(Duration::from_millis(150)),
            confirmed_after: Some(Duration::from_millis(150)),
            duration: Duration::from_millis(1500),
            deny_styles: Default::default(),
            declared_deny_style: None,
            full_matrix: false,
        }
    }

    /// Names and reasons a hostile cluster or scenario could hold.
    const HOSTILE: &str = "x\u{fffe}\u{ffff}\u{0}\u{1b}[2J\n::error ::pwned</failure>&\"'";

    #[test]
    fn hostile_strings_leave_junit_well_formed_and_the_terminal_clean() {
        let mut bad = step(
            "wrong",
            StepVerdict::Fail,
            Outcome::Allowed,
            Applicability::Applicable,
        );
        bad.name = HOSTILE.into();
        bad.reason = HOSTILE.into();
        bad.cells[0].from = HOSTILE.into();
        bad.cells[0].to = HOSTILE.into();
        let scenarios = vec![ScenarioOutcome {
            name: HOSTILE.into(),
            title: HOSTILE.into(),
            steps: vec![bad],
            cleanup_errors: vec![ClusterError::Unsupported(HOSTILE.into())],
            duration: Duration::from_secs(3),
        }];
        let xml = junit(&scenarios).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .expect("one failure");
        let message = failure.attribute("message").unwrap();
        assert!(message.contains("</failure>&\"'"), "{message}");
        assert!(
            message.contains("\\u{fffe}\\u{ffff}\\u{0}\\u{1b}"),
            "{message}"
        );
        assert_eq!(
            doc.descendants()
                .filter(|n| n.has_tag_name("testcase"))
                .count(),
            2
        );
        for text in [
            render_step(HOSTILE, &scenarios[0].steps[0]),
            render_summary(&scenarios),
        ] {
            assert!(!text.contains('\u{1b}') && !text.contains('\0'), "{text}");
            assert!(
                text.lines().all(|l| !l.trim_start().starts_with("::")),
                "{text}"
            );
        }
    }

    #[test]
    fn claims_and_derived_cells_are_counted_apart_in_results_junit_and_tables() {
        let mut wrong = step(
            "wrong",
            StepVerdict::Fail,
            Outcome::Allowed,
            Applicability::Applicable,
        );
        wrong.full_matrix = true;
        let claim = wrong.cells[0].clone();
        let derived = CellOutcome {
            to: "x/c".into(),
            derived: true,
            ..claim.clone()
        };
        let own = CellOutcome {
            to: "x/a".into(),
            derived: true,
            matched: true,
            unasserted: Some(Unasserted::SelfTraffic),
            ..claim.clone()
        };
        wrong.cells = vec![
            CellOutcome {
                matched: true,
                observed: Outcome::Blocked,
                ..claim
            },
            derived,
            own,
        ];
        let m = wrong.measures();
        let counts = |cells, failed, unasserted| CellCounts {
            cells,
            failed,
            unasserted,
        };
        assert_eq!(m.claims, Some(counts(1, 0, 0)));
        assert_eq!(m.derived, Some(counts(2, 1, 1)));
        let scenarios = vec![ScenarioOutcome {
            name: "s".into(),
            title: "S".into(),
            steps: vec![wrong],
            cleanup_errors: Vec::new(),
            duration: Duration::from_secs(1),
        }];
        let json =
            serde_json::to_value(results("calico", None, &scenarios, Duration::ZERO)).unwrap();
        assert_eq!(
            json["scenarios"][0]["steps"][0]["derived"],
            serde_json::json!({"cells": 2, "asserted": 1, "failed": 1, "unasserted": 1})
        );
        let xml = junit(&scenarios).unwrap();
        for property in [
            r#"<property name="claims.cells" value="1"/>"#,
            r#"<property name="claims.failed" value="0"/>"#,
            r#"<property name="derived.cells" value="2"/>"#,
            r#"<property name="derived.asserted" value="1"/>"#,
            r#"<property name="claims.asserted" value="1"/>"#,
            r#"<property name="derived.failed" value="1"/>"#,
            r#"<property name="derived.unasserted" value="1"/>"#,
        ] {
            // Once for the step, once for the scenario's totals.
            assert_eq!(xml.matches(property).count(), 2, "{property} in {xml}");
        }
        // The tables tell the oracle's cells from the tutorial's, and self-traffic apart.
        let text = render_step("s", &scenarios[0].steps[0]);
        let rows: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert!(rows.contains(&vec!["x/a", "X", "X*", "X*"]), "{text}");
        assert!(rows.contains(&vec!["x/a", ".", "!", "s"]), "{text}");
        assert!(
            text.contains("derived: * the oracle's expectation"),
            "{text}"
        );
    }

    /// The rows of the table titled `title` (`tcp port 80`) in `text`: for each table
    /// (expected, observed, diff) the marks of row `from`.
    fn marks_of(text: &str, title: &str, from: &str) -> Vec<Vec<String>> {
        let heading = format!("  {title}  (columns");
        text.lines()
            .skip_while(|l| !l.starts_with(&heading))
            .skip(1)
            // The table's lines are indented further than the next heading.
            .take_while(|l| l.is_empty() || l.starts_with("   "))
            .filter_map(|l| {
                let words: Vec<String> = l.split_whitespace().map(String::from).collect();
                (words.first().map(String::as_str) == Some(from)).then(|| words[1..].to_vec())
            })
            .collect()
    }

    /// A derived cell of `step`'s first cell's pair, to `to` on `port`.
    fn derived_cell(step: &StepOutcome, port: u16) -> CellOutcome {
        CellOutcome {
            port: Some(port),
            derived: true,
            target: format!("x/b 10.244.0.3:{port}"),
            ..step.cells[0].clone()
        }
    }

    #[test]
    fn a_wrong_cell_shows_whatever_shares_its_table_cell_and_its_port_is_named() {
        let mut wrong = step(
            "wrong",
            StepVerdict::Fail,
            Outcome::Allowed,
            Applicability::Applicable,
        );
        wrong.full_matrix = true;
        // Two replicas of x/a to x/b on 80: the first refused on a port never shown served
        // (`n`, reported), the second allowed where the oracle expects blocked (`!`); a probe
        // error (`E`) and the wrong cell on 81. On 82 all is well.
        let not_served = CellOutcome {
            observed: Outcome::Refused,
            matched: true,
            unasserted: Some(Unasserted::PortNotServed),
            ..derived_cell(&wrong, 80)
        };
        let replica = CellOutcome {
            source: "x/a-2".into(),
            ..derived_cell(&wrong, 80)
        };
        let error = CellOutcome {
            observed: Outcome::Error("exec failed".into()),
            ..derived_cell(&wrong, 81)
        };
        let fine = CellOutcome {
            observed: Outcome::Blocked,
            matched: true,
            ..derived_cell(&wrong, 82)
        };
        wrong.cells = vec![not_served, replica, error, derived_cell(&wrong, 81), fine];
        let text = render_step("s", &wrong);
        let row = |t: &[&str]| t.iter().map(|m| vec![m.to_string()]).collect::<Vec<_>>();
        // Expected, observed and diff of the one cell shown: the wrong one, in every table.
        assert_eq!(
            marks_of(&text, "tcp port 80", "x/a"),
            row(&["X*", ".", "!"]),
            "{text}"
        );
        assert_eq!(
            marks_of(&text, "tcp port 81", "x/a"),
            row(&["X*", ".", "!"]),
            "{text}"
        );
        assert_eq!(
            marks_of(&text, "tcp port 82", "x/a"),
            row(&["X*", "X", "."]),
            "{text}"
        );
        // The list of wrong cells names each one's port.
        let list = &text[text.find("  wrong cells:").expect("listed")..];
        assert!(
            list.contains("x/a-2 → x/b 10.244.0.3:80 (tcp 80)"),
            "{list}"
        );
        assert!(list.contains("x/a → x/b 10.244.0.3:81 (tcp 81)"), "{list}");
        assert!(!list.contains("(tcp 82)"), "{list}");
        assert!(
            text.contains("  shared marks: where one row reaches one column through several pods"),
            "{text}"
        );
        // One cell per table cell: no such line.
        let single = step(
            "one",
            StepVerdict::Pass,
            Outcome::Blocked,
            Applicability::Applicable,
        );
        assert!(!render_step("s", &single).contains("shared marks"));
    }

    #[test]
    fn a_cell_the_cni_cannot_probe_reads_not_applicable_in_observed_and_diff() {
        let mut sctp = step(
            "sctp",
            StepVerdict::Pass,
            Outcome::Blocked,
            Applicability::Applicable,
        );
        sctp.full_matrix = true;
        sctp.cells = vec![CellOutcome {
            kind: "sctp".into(),
            observed: Outcome::Error("not probed: the CNI lacks sctp".into()),
            matched: true,
            unasserted: Some(Unasserted::NotApplicable(
                crate::capability::Capability::Sctp,
            )),
            ..derived_cell(&sctp, 9003)
        }];
        let text = render_step("s", &sctp);
        assert_eq!(
            marks_of(&text, "sctp port 9003", "x/a"),
            [["X*"], ["/"], ["/"]].map(|r| r.map(String::from).to_vec()),
            "{text}"
        );
        assert!(text.contains("/ not applicable on this CNI"), "{text}");
    }

    #[test]
    fn a_dual_stack_step_has_one_table_per_address_family() {
        let mut dual = step(
            "dual",
            StepVerdict::Fail,
            Outcome::Blocked,
            Applicability::Applicable,
        );
        let v4 = CellOutcome {
            matched: true,
            family: Some(Family::Ipv4),
            ..dual.cells[0].clone()
        };
        // Only IPv6 lets the connection through.
        let v6 = CellOutcome {
            target: "x/b [fd00::3]:80".into(),
            observed: Outcome::Allowed,
            matched: false,
            family: Some(Family::Ipv6),
            ..dual.cells[0].clone()
        };
        dual.cells = vec![v4, v6];
        let text = render_step("s", &dual);
        let row = |t: &[&str]| t.iter().map(|m| vec![m.to_string()]).collect::<Vec<_>>();
        assert_eq!(
            marks_of(&text, "tcp port 80 over ipv4", "x/a"),
            row(&["X", "X", "."]),
            "{text}"
        );
        assert_eq!(
            marks_of(&text, "tcp port 80 over ipv6", "x/a"),
            row(&["X", ".", "!"]),
            "{text}"
        );
        // A single-stack step keeps one table per port, titled as before.
        let single = step(
            "single",
            StepVerdict::Pass,
            Outcome::Blocked,
            Applicability::Applicable,
        );
        let text = render_step("s", &single);
        assert!(text.contains("  tcp port 80  (columns"), "{text}");
        assert!(!text.contains(" over ipv4"), "{text}");
    }

    /// A step on a known deviation whose claim failed, with a derived cell that failed or not.
    fn deviating(derived_fails: bool) -> StepOutcome {
        deviating_on(crate::capability::Capability::IpblockPodIp, derived_fails)
    }

    /// A step of a known deviation on `capability` whose claim (TCP 80) failed, and a derived
    /// TCP cell (81) that failed too if `derived_fails`.
    fn deviating_on(capability: crate::capability::Capability, derived_fails: bool) -> StepOutcome {
        let deviation = crate::provision::cni::KnownDeviation {
            matches: crate::provision::cni::DeviationMatch::Capability(capability),
            summary: if capability == crate::capability::Capability::Sctp {
                "SCTP is not matched"
            } else {
                "ipBlock never matches pod IPs"
            },
            issue_url: "https://github.com/cilium/cilium/issues/9209",
        };
        let mut s = step(
            "deviating",
            StepVerdict::Fail,
            Outcome::Allowed,
            Applicability::KnownDeviation(deviation),
        );
        s.full_matrix = true;
        s.cells[0].locality = Some(crate::cluster::Locality::CrossNode);
        let derived = CellOutcome {
            observed: if derived_fails {
                Outcome::Allowed
            } else {
                Outcome::Blocked
            },
            matched: !derived_fails,
            ..derived_cell(&s, 81)
        };
        s.cells.push(derived);
        s
    }

    #[test]
    fn a_known_deviation_covers_the_claims_and_only_the_derived_cells_it_may_explain() {
        let covered = deviating(false);
        let result = covered.result();
        assert_eq!(result.status, StepStatus::KnownDeviation);
        assert_eq!(
            result.issue_url.as_deref(),
            Some("https://github.com/cilium/cilium/issues/9209")
        );
        let text = render_step("s", &covered);
        assert!(
            text.contains("    covered by the known deviation (a claim): x/a → x/b 10.244.0.3:80 (tcp 80, cross-node)"),
            "{text}"
        );
        // ipBlock on pod IPs decides the step's policy: which derived cells it reaches the
        // oracle cannot tell, so a failed one is excused, and counted where a reader sees it.
        let excused = deviating(true).result();
        assert_eq!(excused.status, StepStatus::KnownDeviation, "{excused:?}");
        assert!(
            excused.reason.as_deref().is_some_and(|r| r.starts_with(
                "ipBlock never matches pod IPs (1 derived cell(s) differ too, excused: the deviation may explain them): "
            )),
            "{excused:?}"
        );
        // SCTP explains SCTP cells only: a TCP derived cell that fails fails the step.
        let uncovered = deviating_on(crate::capability::Capability::Sctp, true);
        let result = uncovered.result();
        assert_eq!(result.status, StepStatus::Fail, "{result:?}");
        assert_eq!(result.issue_url, None);
        assert!(
            result.reason.as_deref().is_some_and(|r| r.starts_with(
                "1 derived cell(s) wrong, which the known deviation (SCTP is not matched) does not cover; reason"
            )),
            "{result:?}"
        );
        assert_eq!(uncovered.status(), StepStatus::Fail);
        let text = render_step("s", &uncovered);
        assert!(
            text.contains("\n    x/a → x/b 10.244.0.3:81 (tcp 81, cross-node): expected blocked"),
            "{text}"
        );
        let outcomes = [ScenarioOutcome {
            name: "s".into(),
            title: "S".into(),
            steps: vec![uncovered],
            cleanup_errors: vec![],
            duration: Duration::ZERO,
        }];
        assert!(!outcomes[0].ok());
        let xml = junit(&outcomes).unwrap();
        assert!(
            xml.contains("<failure message=\"FAIL: 1 derived cell(s) wrong"),
            "{xml}"
        );
    }

    #[test]
    fn a_known_deviation_excuses_nothing_on_a_step_that_errored() {
        let mut errored = deviating(true);
        errored.verdict = StepVerdict::Error;
        assert_eq!(errored.result().status, StepStatus::Fail);
        assert!(
            errored
                .cells
                .iter()
                .all(|c| !errored.covered_by_deviation(c))
        );
        let failed = deviating(true);
        assert!(failed.cells.iter().all(|c| failed.covered_by_deviation(c)));
    }

    #[test]
    fn locality_and_family_lines_count_only_cells_that_fail_the_run() {
        // A cross-node claim of a known deviation, a cross-node cell of a step not enforced on
        // flannel, both over IPv6; one same-node cell over IPv4 that fails.
        let mut deviation = deviating(false);
        deviation.cells[0].family = Some(Family::Ipv6);
        let mut flannel = step(
            "flannel",
            StepVerdict::NotEnforced,
            Outcome::Allowed,
            Applicability::NotEnforced,
        );
        flannel.cells[0].locality = Some(crate::cluster::Locality::CrossNode);
        flannel.cells[0].family = Some(Family::Ipv6);
        let mut wrong = step(
            "wrong",
            StepVerdict::Fail,
            Outcome::Allowed,
            Applicability::Applicable,
        );
        wrong.cells[0].locality = Some(crate::cluster::Locality::SameNode);
        wrong.cells[0].family = Some(Family::Ipv4);
        let summary = render_summary(&[ScenarioOutcome {
            name: "s".into(),
            title: "S".into(),
            steps: vec![deviation, flannel, wrong],
            cleanup_errors: vec![],
            duration: Duration::ZERO,
        }]);
        assert!(
            summary.contains(
                "cells by locality: same-node 1 (1 wrong), cross-node 3 (0 wrong, 2 excused)\n"
            ),
            "{summary}"
        );
        assert!(
            summary.contains("  wrong same-node: s::wrong (1)\n"),
            "{summary}"
        );
        assert!(
            summary.contains("  excused cross-node: s::deviating (1), s::flannel (1)\n"),
            "{summary}"
        );
        assert!(!summary.contains("wrong cross-node"), "{summary}");
        assert!(
            summary.contains("cells by family: ipv4 1 (1 wrong), ipv6 2 (0 wrong, 2 excused)\n"),
            "{summary}"
        );
        assert_eq!(summary.matches("(excused: ").count(), 1, "{summary}");
    }

    #[test]
    fn writes_results_json_for_matrix_and_junit_with_one_case_per_step() {
        let scenarios = vec![ScenarioOutcome {
            name: "s".into(),
            title: "S".into(),
            steps: vec![
                step(
                    "good",
                    StepVerdict::Pass,
                    Outcome::Blocked,
                    Applicability::Applicable,
                ),
                step(
                    "bad",
                    StepVerdict::NotEnforced,
                    Outcome::Allowed,
                    Applicability::NotEnforced,
                ),
                step(
                    "wrong",
                    StepVerdict::Fail,
                    Outcome::Allowed,
                    Applicability::Applicable,
                ),
            ],
            cleanup_errors: vec![ClusterError::NotFound {
                what: "namespace x".into(),
            }],
            duration: Duration::from_secs(3),
        }];
        let results = results(
            "flannel",
            Some("netpol".into()),
            &scenarios,
            Duration::from_millis(1500),
        );
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &results, &scenarios).unwrap();
        let text = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["cni"], "flannel");
        assert_eq!(json["cluster"], "netpol");
        assert_eq!(json["harness_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            json["scenarios"][0]["steps"][0],
            serde_json::json!({"name": "good", "status": "pass", "converged_ms": 150, "confirmed_ms": 150,
                "cells": [{"source": "x/a", "target": "x/b 10.244.0.3:80", "probe": "tcp 80",
                    "expected": "blocked", "observed": "blocked", "matched": true}],
                "claims": {"cells": 1, "asserted": 1, "failed": 0}})
        );
        assert_eq!(json["scenarios"][0]["steps"][1]["status"], "not-enforced");
        assert_eq!(json["scenarios"][0]["steps"][2]["status"], "fail");
        assert_eq!(json["scenarios"][0]["steps"][2]["reason"], "reason");
        // Exactly the format `matrix` reads.
        assert_eq!(
            RunResults::read(&dir.path().join("results.json")).unwrap(),
            results
        );
        let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
        assert!(xml.contains("name=\"s::good\""), "{xml}");
        assert!(xml.contains("name=\"s::bad\""), "{xml}");
        assert!(
            xml.contains("<skipped message=\"NOT ENFORCED: reason\""),
            "{xml}"
        );
        assert!(xml.contains("<failure message=\"FAIL: reason\""), "{xml}");
        // The failure carries the step's tables: the observed cell is allowed.
        assert!(xml.contains("s::wrong — FAIL: reason"), "{xml}");
        assert!(xml.contains("time=\"1.500\""), "{xml}");
        assert!(xml.contains("name=\"s::cleanup\""), "{xml}");
        assert!(xml.contains("<error message=\"cleanup failed\""), "{xml}");
    }

    #[test]
    fn tables_show_expected_observed_and_the_diff_with_explanations() {
        let text = render_step(
            "s",
            &step(
                "bad",
                StepVerdict::NotEnforced,
                Outcome::Allowed,
                Applicability::NotEnforced,
            ),
        );
        // The heading with the verdict; one group `tcp port 80` with its column legend; the
        // expected (X), observed (.) and diff (!) tables of row x/a; the wrong cell explained
        // with why it was expected; the not-enforced hint; the legend.
        assert_golden("not-enforced-step.txt", &text);
        let summary = render_summary(&[ScenarioOutcome {
            name: "s".into(),
            title: "S".into(),
            steps: vec![step(
                "bad",
                StepVerdict::NotEnforced,
                Outcome::Allowed,
                Applicability::NotEnforced,
            )],
            cleanup_errors: vec![],
            duration: Duration::ZERO,
        }]);
        // The step's status on the CNI and its reason, then the totals per status.
        assert_golden("not-enforced-summary.txt", &summary);
    }

    #[test]
    fn not_applicable_steps_are_one_line_and_skipped_in_junit() {
        let missing = Applicability::NotApplicable {
            missing: vec![crate::capability::Capability::CalicoCrds],
            issue_url: None,
        };
        let na = StepOutcome::not_applicable("calico", missing);
        assert_eq!(
            render_step("s", &na),
            "s::calico — N/A: not applicable: needs calico-crds\n"
        );
        let outcomes = [ScenarioOutcome {
            name: "s".into(),
            title: "S".into(),
            steps: vec![na],
            cleanup_errors: vec![],
            duration: Duration::ZERO,
        }];
        let xml = junit(&outcomes).unwrap();
        assert!(
            xml.contains("<skipped message=\"N/A: needs calico-crds\""),
            "{xml}"
        );
        // The step as N/A with the missing capability, counted as not applicable.
        assert_golden("not-applicable-summary.txt", &render_summary(&outcomes));
    }
}
