//! The upstream 9-pod model (namespaces x, y, z × pods a, b, c; 81 ordered pairs × ports 80
//! and 81: the `upstream-9-pods` fixture scenario, planned by the real loader and planner)
//! through the runner on the simulated cluster, with a latency model: an exec costs a 150 ms
//! round trip, a blocked probe costs its 1 s timeout, at most 8 execs run at once. Time is
//! virtual (tokio's paused clock), so the modeled wall time is exact and the benchmark itself
//! is fast.
//!
//! Prints, for the scenario's four steps (no policy; deny ingress to x; allow x's ingress from y
//! on port 81; deny removed), the exec calls and modeled wall time of:
//! - one exec per source pod per round (the runner's strategy; batches expecting a timeout start
//!   first, so quick ones fill the slots they leave);
//! - one exec per cell, probes only;
//! - one exec per cell as the upstream suite runs it: before each test, `waitForHTTPServers`
//!   probes every cell once expecting it allowed (on a cluster without policies, so one exec
//!   per cell and no timeouts), then the test's probes;
//!
//! then the per-cell figures with upstream's 3 probe workers instead of 8 exec slots, and lets
//! criterion time the runner's own CPU cost.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use netpol_harness::cluster::sim::{Faults, Latency, SimCluster};
use netpol_harness::runner::outcome::{ScenarioOutcome, StepVerdict};
use netpol_harness::runner::plan::ScenarioPlan;
use netpol_harness::runner::{Batching, RunOptions, Runner};
use netpol_harness::scenario::load_dir;

/// The step whose cells are all expected allowed: what `waitForHTTPServers` probes.
const SERVER_CHECK_STEP: &str = "no-policy";

fn plan() -> ScenarioPlan {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios/upstream-9-pods");
    let loaded = load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    ScenarioPlan::new(&loaded, Vec::new()).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs the plan (only the steps `only`, if given) on a fresh simulated cluster with at most
/// `slots` execs at once; returns the outcome and the modeled time.
fn run(
    plan: &ScenarioPlan,
    batching: Batching,
    delay: Duration,
    slots: usize,
    only: Option<&BTreeSet<String>>,
) -> (ScenarioOutcome, Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let sim = Arc::new(SimCluster::new(
            "bench",
            Faults {
                propagation_delay: delay,
                latency: Some(Latency {
                    exec_round_trip: Duration::from_millis(150),
                    max_concurrent_execs: slots,
                }),
                ..Faults::default()
            },
        ));
        let options = RunOptions {
            batching,
            probe_timeout: Duration::from_secs(1),
            max_parallel_execs: slots,
            ..RunOptions::default()
        };
        let runner = Runner::new(sim, options);
        let started = tokio::time::Instant::now();
        let outcome = runner.run_scenario(plan, only).await;
        (outcome, started.elapsed())
    })
}

fn execs(outcome: &ScenarioOutcome) -> usize {
    outcome.steps.iter().map(|s| s.execs + s.detect_execs).sum()
}

fn assert_passed(outcome: &ScenarioOutcome) {
    for step in &outcome.steps {
        assert_eq!(
            step.verdict,
            StepVerdict::Pass,
            "{}: {}",
            step.name,
            step.reason
        );
    }
}

/// The upstream suite's server check before one test: every cell probed once, one exec each,
/// on a cluster without policies. Returns its execs and modeled time.
fn server_check(plan: &ScenarioPlan, slots: usize) -> (usize, Duration) {
    let only = BTreeSet::from([SERVER_CHECK_STEP.to_string()]);
    let (outcome, _) = run(plan, Batching::PerCell, Duration::ZERO, slots, Some(&only));
    assert_passed(&outcome);
    let step = &outcome.steps[0];
    assert_eq!(step.rounds, 1, "servers are up: one round");
    (step.execs, step.duration)
}

/// Execs and modeled time of one exec per cell as upstream runs it: a server check before each
/// of the scenario's tests (its steps), then the probes.
fn upstream(plan: &ScenarioPlan, delay: Duration, slots: usize) -> (usize, Duration) {
    let (per_cell, per_cell_time) = run(plan, Batching::PerCell, delay, slots, None);
    assert_passed(&per_cell);
    let (check_execs, check_time) = server_check(plan, slots);
    let tests = plan.steps.len();
    (
        execs(&per_cell) + tests * check_execs,
        per_cell_time + check_time * tests as u32,
    )
}

fn report(plan: &ScenarioPlan, delay: Duration) {
    let (batched, batched_time) = run(plan, Batching::PerSource, delay, 8, None);
    let (per_cell, per_cell_time) = run(plan, Batching::PerCell, delay, 8, None);
    assert_passed(&batched);
    assert_passed(&per_cell);
    let (check_execs, check_time) = server_check(plan, 8);
    let (upstream_execs, upstream_time) = upstream(plan, delay, 8);
    let cells: usize = plan.steps.iter().map(|s| s.planned.probes.len()).sum();
    println!(
        "\n9-pod model, {} steps, {cells} cells, propagation delay {:.1}s (exec 150 ms, blocked probe 1 s, 8 execs at once)",
        plan.steps.len(),
        delay.as_secs_f64()
    );
    println!("  {:<58} {:>6} {:>13}", "strategy", "execs", "modeled time");
    let steps = |outcome: &ScenarioOutcome| {
        outcome
            .steps
            .iter()
            .map(|s| format!("{}:{}r/{}x", s.name, s.rounds, s.execs))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "  {:<58} {:>6} {:>12.2}s   [{}]",
        "one exec per source pod (the runner)",
        execs(&batched),
        batched_time.as_secs_f64(),
        steps(&batched)
    );
    println!(
        "  {:<58} {:>6} {:>12.2}s   [{}]",
        "one exec per cell (probes only)",
        execs(&per_cell),
        per_cell_time.as_secs_f64(),
        steps(&per_cell)
    );
    println!(
        "  {:<58} {:>6} {:>12.2}s   [{} × server check: {check_execs}x, {:.2}s]",
        "one exec per cell as upstream runs it (server check + probes)",
        upstream_execs,
        upstream_time.as_secs_f64(),
        plan.steps.len(),
        check_time.as_secs_f64()
    );
    for (name, execs_other, time_other) in [
        (
            "per cell (probes only) ÷ per source",
            execs(&per_cell),
            per_cell_time,
        ),
        (
            "per cell as upstream runs it ÷ per source",
            upstream_execs,
            upstream_time,
        ),
    ] {
        println!(
            "  {name:<58} {:>5.1}× {:>12.1}×",
            execs_other as f64 / execs(&batched) as f64,
            time_other.as_secs_f64() / batched_time.as_secs_f64()
        );
    }
    // For context only: the upstream suite runs 3 probe workers, not 8.
    let (_, per_cell_3) = run(plan, Batching::PerCell, delay, 3, None);
    let (_, upstream_3) = upstream(plan, delay, 3);
    println!(
        "  with upstream's 3 workers: per cell (probes only) {:.2}s ({:.1}× the runner's time), as upstream runs it {:.2}s ({:.1}×)",
        per_cell_3.as_secs_f64(),
        per_cell_3.as_secs_f64() / batched_time.as_secs_f64(),
        upstream_3.as_secs_f64(),
        upstream_3.as_secs_f64() / batched_time.as_secs_f64()
    );
}

fn bench(c: &mut Criterion) {
    let plan = plan();
    report(&plan, Duration::ZERO);
    report(&plan, Duration::from_secs(2));
    c.bench_function(
        "runner: 9-pod model, 4 steps, one exec per source pod",
        |b| b.iter(|| run(&plan, Batching::PerSource, Duration::ZERO, 8, None)),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
