//! The compatibility matrix's tests: building, Markdown, HTML, JSON.

use super::text::issue_label;
use super::*;
use crate::escape;
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
        duration_ms: None,
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
    assert!(html.contains(
        "<td class=\"cell fail\" title=\"x/a → y/b: allowed, expected denied | &lt;b&gt;\">❌</td>"
    ));
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
            duration_ms: None,
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

#[test]
fn each_lane_shows_its_runs_wall_time_not_its_scenarios_summed() {
    // Two scenarios that ran side by side (10 min and 2 min 5 s) in a run of 12 min 5 s: the
    // lane shows the run's own time, never the scenarios' sum.
    let timed = |cni: &str, run: Option<u64>, scenarios: &[Option<u64>]| {
        let mut r = RunResults::new(cni);
        for (i, &d) in scenarios.iter().enumerate() {
            r.scenarios.push(ScenarioResult {
                name: format!("s{i}"),
                title: "t".into(),
                steps: vec![step("a", StepStatus::Pass, None, None)],
                duration_ms: d,
            });
        }
        r.duration_ms = run;
        r
    };
    let m = matrix(&[
        timed("calico", Some(725_400), &[Some(600_000), Some(125_400)]),
        timed("cilium", Some(41_600), &[Some(600_000)]),
        // A file from before run times were recorded.
        timed("antrea", None, &[Some(1_000)]),
        timed("huge", Some(u64::MAX), &[]),
    ])
    .expect(&["flannel"]);
    assert_eq!(
        m.run_ms,
        [Some(725_400), Some(41_600), None, Some(u64::MAX), None]
    );
    let md = m.to_markdown();
    assert!(
        md.contains("| ⏱ run time (sweep, scenarios, cleanup) | 12 min 05 s | 42 s | — | 307445734561825 min 51 s | — |"),
        "{md}"
    );
    assert!(m.to_html().contains("12 min 05 s"));
    // And it survives the JSON the matrix command writes.
    let json = serde_json::to_string(&m).unwrap();
    let back: CompatMatrix = serde_json::from_str(&json).unwrap();
    assert_eq!(back.run_ms, m.run_ms);
}
