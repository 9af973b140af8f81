//! Real topologies on the simulated cluster: the generated topology's pods land on the workers
//! their slot names (a and c in slot 1, b in slot 2), every pod-to-pod cell records same-node or
//! cross-node, results.json carries it per cell, and the run summary groups the wrong cells by
//! locality — so a dataplane whose inter-node path drops everything fails exactly the
//! cross-node cells. On one unlabelled worker the same suite schedules and every cell is
//! same-node.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use netpol_harness::cluster::Locality;
use netpol_harness::cluster::sim::{Faults, SimCluster, SimNode};
use netpol_harness::generate::{self, Options, topology, writer};
use netpol_harness::report::run::{render_summary, results};
use netpol_harness::runner::outcome::{CellOutcome, StepVerdict};
use netpol_harness::runner::plan::plans;
use netpol_harness::runner::{RunOptions, RunOutcome, Runner};
use netpol_harness::scenario::format::Expectation;
use netpol_harness::scenario::{LoadedScenario, default_root, load};

/// The first generated NetworkPolicy case (its own step, and the step before it).
fn generated(dir: &std::path::Path) -> Vec<LoadedScenario> {
    let cases = generate::cases(&Options {
        max: Some(1),
        ..Options::default()
    })
    .unwrap();
    let scenarios = generate::render(&cases).unwrap();
    writer::write(dir, &scenarios).unwrap();
    scenarios
        .iter()
        .map(|s| load(dir, &s.name).unwrap())
        .collect()
}

async fn run(scenarios: &[LoadedScenario], sim: SimCluster) -> RunOutcome {
    let plans = plans(scenarios, None).await.unwrap();
    let sim = Arc::new(sim);
    let runner = Runner::new(
        sim.clone(),
        RunOptions {
            deadline: Duration::from_secs(3),
            ..RunOptions::default()
        },
    );
    let outcome = runner.run(&plans, |_| ControlFlow::Continue(())).await;
    assert!(sim.owned_objects().is_empty(), "{:?}", sim.owned_objects());
    outcome
}

fn cells(outcome: &RunOutcome) -> Vec<&CellOutcome> {
    outcome.cells().collect()
}

/// The pod name (`a`) of a source or target as the runner records it (`x/a`, `x/a 10.…:80`).
fn pod(name: &str) -> &str {
    name.split(' ').next().unwrap().rsplit('/').next().unwrap()
}

#[tokio::test(start_paused = true)]
async fn generated_pods_are_placed_by_slot_and_every_cell_records_its_locality() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = generated(dir.path());
    let outcome = run(&scenarios, SimCluster::new("topo", Faults::default())).await;
    let all = cells(&outcome);
    assert!(all.len() >= 81, "{} cells", all.len());
    let mut counts: BTreeMap<Locality, usize> = BTreeMap::new();
    for c in &all {
        let expected = if topology::slot(pod(&c.source)) == topology::slot(pod(&c.target)) {
            Locality::SameNode
        } else {
            Locality::CrossNode
        };
        assert_eq!(c.locality, Some(expected), "{} → {}", c.source, c.target);
        *counts.entry(expected).or_default() += 1;
    }
    assert!(counts[&Locality::CrossNode] > 0 && counts[&Locality::SameNode] > 0);
    for s in &outcome.scenarios {
        for step in &s.steps {
            assert_eq!(
                step.verdict,
                StepVerdict::Pass,
                "{}: {}",
                step.name,
                step.reason
            );
        }
    }

    // results.json records the locality per cell; the summary counts them, nothing wrong.
    let json =
        serde_json::to_value(results("sim", None, &outcome.scenarios, outcome.duration)).unwrap();
    let recorded: Vec<&serde_json::Value> = json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["steps"].as_array().unwrap())
        .flat_map(|s| s["cells"].as_array().unwrap())
        .collect();
    assert_eq!(recorded.len(), all.len());
    let cross = recorded
        .iter()
        .filter(|c| c["locality"] == "cross-node")
        .count();
    assert_eq!(cross, counts[&Locality::CrossNode]);
    let summary = render_summary(&outcome.scenarios);
    assert!(
        summary.contains(&format!(
            "cells by locality: same-node {} (0 wrong), cross-node {} (0 wrong)",
            counts[&Locality::SameNode],
            counts[&Locality::CrossNode]
        )),
        "{summary}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_broken_inter_node_path_fails_exactly_the_cross_node_cells_and_the_summary_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = generated(dir.path());
    let faults = Faults {
        drops_cross_node: true,
        ..Faults::default()
    };
    let outcome = run(&scenarios, SimCluster::new("topo", faults)).await;
    let all = cells(&outcome);
    let wrong: Vec<&&CellOutcome> = all.iter().filter(|c| !c.matched).collect();
    let expected_wrong: Vec<&&CellOutcome> = all
        .iter()
        .filter(|c| c.locality == Some(Locality::CrossNode) && c.expected != Expectation::Blocked)
        .collect();
    assert!(!expected_wrong.is_empty());
    assert_eq!(wrong, expected_wrong);
    let summary = render_summary(&outcome.scenarios);
    let line = summary
        .lines()
        .find(|l| l.starts_with("cells by locality:"))
        .unwrap_or_else(|| panic!("{summary}"));
    let same = all
        .iter()
        .filter(|c| c.locality == Some(Locality::SameNode))
        .count();
    let cross = all.len() - same;
    assert_eq!(
        line,
        format!(
            "cells by locality: same-node {same} (0 wrong), cross-node {cross} ({} wrong)",
            wrong.len()
        )
    );
    let grouped = summary
        .lines()
        .find(|l| l.trim_start().starts_with("wrong cross-node:"))
        .unwrap_or_else(|| panic!("{summary}"));
    let failing: Vec<String> = outcome
        .scenarios
        .iter()
        .flat_map(|s| s.steps.iter().map(move |st| (s, st)))
        .filter(|(_, st)| st.cells.iter().any(|c| !c.matched))
        .map(|(s, st)| {
            let n = st.cells.iter().filter(|c| !c.matched).count();
            format!("{}::{} ({n})", s.name, st.name)
        })
        .collect();
    assert!(!failing.is_empty());
    assert_eq!(
        grouped,
        format!("  wrong cross-node: {}", failing.join(", "))
    );
    assert!(!summary.contains("wrong same-node:"), "{summary}");
    // The wrong cells' explanations name their locality.
    assert!(
        wrong
            .iter()
            .all(|c| c.explanation().contains(", cross-node)"))
    );
}

#[tokio::test(start_paused = true)]
async fn on_one_unlabelled_worker_the_generated_pods_schedule_and_every_cell_is_same_node() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = generated(dir.path());
    let sim = SimCluster::new("topo", Faults::default())
        .with_nodes(vec![SimNode::new("kind-worker", &[])]);
    let outcome = run(&scenarios, sim).await;
    let all = cells(&outcome);
    assert!(!all.is_empty());
    assert!(all.iter().all(|c| c.locality == Some(Locality::SameNode)));
    assert!(
        outcome
            .scenarios
            .iter()
            .flat_map(|s| &s.steps)
            .all(|s| s.verdict == StepVerdict::Pass)
    );
}

#[tokio::test(start_paused = true)]
async fn tutorial_pods_record_where_they_landed() {
    let scenarios = vec![load(&default_root(), "nginx-busybox-default").unwrap()];
    let outcome = run(&scenarios, SimCluster::new("topo", Faults::default())).await;
    let all = cells(&outcome);
    // Pod-to-pod cells know their locality; cells to a Service address do not.
    for c in &all {
        let to_pod = !c.target.starts_with("svc:") && !c.target.starts_with("dns:");
        assert_eq!(c.locality.is_some(), to_pod, "{} → {}", c.source, c.target);
    }
    assert!(all.iter().any(|c| c.locality.is_some()));
}
