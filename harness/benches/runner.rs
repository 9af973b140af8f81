//! The runner against its physical limit, and against one exec per cell, on the simulated
//! cluster with a latency model: an exec costs a 150 ms round trip, a blocked probe its 1 s
//! timeout, and the cluster limits nothing (execs are long-running requests the API server does
//! not count in flight). Time is virtual (tokio's paused clock), so the modeled wall time is
//! exact and the benchmark itself is fast.
//!
//! Two scenarios, each planned by the real loader and planner, with and without a 2 s policy
//! propagation delay:
//! - the upstream 9-pod model (namespaces x, y, z × pods a, b, c; 81 ordered pairs × ports 80
//!   and 81: the `upstream-9-pods` fixture; steps: no policy, deny ingress to x, allow x's
//!   ingress from y on 81, deny removed);
//! - 90 sources: the same steps generated on 10 namespaces × 9 pods (8,100 ordered pairs × 2
//!   ports a step).
//!
//! For each, the runner's modeled time is printed beside the bound no runner can beat: per step,
//! one exec round trip plus, if any cell is expected blocked, one probe timeout; and where the
//! step changes what is observed and policy takes time to propagate, the delay plus one more
//! such pass (the confirmation). Then the upstream suite's way (one exec per cell, with its 3
//! probe workers; before each test `waitForHTTPServers` probes every cell once) for comparison,
//! the nightly's budgeted generated set (`run --generated all --max 60`) in the same model, and
//! criterion times the runner's own CPU cost.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use netpol_harness::cluster::sim::{Faults, Latency, SimCluster};
use netpol_harness::runner::outcome::{ScenarioOutcome, StepVerdict};
use netpol_harness::runner::plan::ScenarioPlan;
use netpol_harness::runner::{Batching, RunOptions, Runner};
use netpol_harness::scenario::format::Expectation;
use netpol_harness::scenario::load_dir;

const ROUND_TRIP: Duration = Duration::from_millis(150);
const TIMEOUT: Duration = Duration::from_secs(1);
/// The upstream suite's probe workers.
const UPSTREAM_WORKERS: usize = 3;
/// The step whose cells are all expected allowed: what `waitForHTTPServers` probes.
const SERVER_CHECK_STEP: &str = "no-policy";

fn load(dir: &Path) -> ScenarioPlan {
    let loaded = load_dir(dir).unwrap_or_else(|e| panic!("{e}"));
    ScenarioPlan::new(&loaded, Vec::new()).unwrap_or_else(|e| panic!("{e}"))
}

fn nine_pods() -> ScenarioPlan {
    load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios/upstream-9-pods"),
    )
}

/// The 9-pod model's steps on 10 namespaces (n0 … n9) × 9 pods (a … i), written to `dir`:
/// no policy; deny ingress to n0; allow n0's ingress from n1 on 81; the deny removed.
fn ninety_sources(dir: &Path) -> ScenarioPlan {
    let namespaces: Vec<String> = (0..10).map(|n| format!("n{n}")).collect();
    let pods = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    let endpoints: Vec<String> = namespaces
        .iter()
        .flat_map(|ns| pods.iter().map(move |p| format!("{ns}/{p}")))
        .collect();
    let mut manifests = String::new();
    for ns in &namespaces {
        for pod in pods {
            let _ = write!(
                manifests,
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}, namespace: {ns}, labels: {{pod: {pod}}}}}\nspec:\n  containers:\n  - name: cont\n    image: registry.k8s.io/e2e-test-images/agnhost:2.66.1\n    args: [porter]\n    env: [{{name: SERVE_PORT_80, value: foo}}, {{name: SERVE_PORT_81, value: foo}}]\n    ports: [{{containerPort: 80}}, {{containerPort: 81}}]\n"
            );
        }
    }
    std::fs::write(dir.join("pods.yaml"), manifests).unwrap();
    std::fs::write(
        dir.join("deny.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-ingress, namespace: n0}\nspec: {podSelector: {}, policyTypes: [Ingress]}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("allow.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-n1-on-81, namespace: n0}\nspec:\n  podSelector: {}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: n1}}}]\n    ports: [{port: 81}]\n",
    )
    .unwrap();
    let list = endpoints.join(", ");
    let matrix = |port: u16, mark: &dyn Fn(&str, &str) -> &'static str| {
        let mut m = format!(
            "  - kind: tcp\n    port: {port}\n    from: [{list}]\n    to: [{list}]\n    expect: |\n"
        );
        for from in &endpoints {
            let row: Vec<&str> = endpoints.iter().map(|to| mark(from, to)).collect();
            let _ = writeln!(m, "      {}", row.join(" "));
        }
        m
    };
    let open = |_: &str, _: &str| ".";
    let denied = |_: &str, to: &str| if to.starts_with("n0/") { "X" } else { "." };
    let allowed_81 = |from: &str, to: &str| {
        if to.starts_with("n0/") && !from.starts_with("n1/") {
            "X"
        } else {
            "."
        }
    };
    let mut yaml = format!(
        "name: ninety-sources\ntitle: 90 sources, the 9-pod model's steps\nsource: {{title: bench, url: \"https://github.com/kubernetes/kubernetes/tree/master/test/e2e/network/netpol\"}}\nrequires: [ingress]\nnamespaces: [{}]\nsetup: [pods.yaml]\nsteps:\n",
        namespaces.join(", ")
    );
    let _ = write!(
        yaml,
        "- name: no-policy\n  matrices:\n{}{}",
        matrix(80, &open),
        matrix(81, &open)
    );
    let _ = write!(
        yaml,
        "- name: deny-ingress-n0\n  actions:\n  - apply: [deny.yaml]\n  matrices:\n{}{}",
        matrix(80, &denied),
        matrix(81, &denied)
    );
    let _ = write!(
        yaml,
        "- name: allow-n1-on-81\n  actions:\n  - apply: [allow.yaml]\n  matrices:\n{}{}",
        matrix(80, &denied),
        matrix(81, &allowed_81)
    );
    let _ = write!(
        yaml,
        "- name: deny-removed\n  actions:\n  - delete: [deny.yaml]\n  matrices:\n{}{}",
        matrix(80, &denied),
        matrix(81, &allowed_81)
    );
    std::fs::write(dir.join("scenario.yaml"), yaml).unwrap();
    load(dir)
}

/// Runs the plan (only the steps `only`, if given) on a fresh simulated cluster; `workers`
/// limits the execs at once (`None`: the runner's default, every source at once). Returns the
/// outcome and the modeled time.
fn run(
    plan: &ScenarioPlan,
    batching: Batching,
    delay: Duration,
    workers: Option<usize>,
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
                    exec_round_trip: ROUND_TRIP,
                    max_concurrent_execs: usize::MAX,
                }),
                ..Faults::default()
            },
        ));
        let options = RunOptions {
            batching,
            probe_timeout: TIMEOUT,
            max_parallel_execs: workers,
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

/// The least time each step can take (see the module documentation).
fn bounds(plan: &ScenarioPlan, delay: Duration) -> Vec<Duration> {
    let mut previous: Option<Vec<Expectation>> = None;
    plan.steps
        .iter()
        .map(|step| {
            let expected: Vec<Expectation> =
                step.planned.probes.iter().map(|p| p.expected).collect();
            let before = previous
                .take()
                .unwrap_or_else(|| vec![Expectation::Allowed; expected.len()]);
            let changes = before != expected;
            let blocked = expected.contains(&Expectation::Blocked);
            previous = Some(expected);
            let pass = ROUND_TRIP + if blocked { TIMEOUT } else { Duration::ZERO };
            if changes && !delay.is_zero() {
                delay + pass + pass
            } else {
                pass
            }
        })
        .collect()
}

fn limit(name: &str, plan: &ScenarioPlan) {
    let sources = plan.steps[0]
        .planned
        .probes
        .iter()
        .map(|p| p.probe.from.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    let cells: usize = plan.steps.iter().map(|s| s.planned.probes.len()).sum();
    println!(
        "\n{name}: {sources} sources, {} steps, {cells} cells (exec 150 ms, blocked probe 1 s, no exec limit)",
        plan.steps.len()
    );
    println!(
        "  {:<22} {:>6} {:>12} {:>10} {:>7}   per step: modeled/bound",
        "propagation delay", "execs", "modeled time", "bound", "ratio"
    );
    for delay in [Duration::ZERO, Duration::from_secs(2)] {
        let (outcome, time) = run(plan, Batching::PerSource, delay, None, None);
        assert_passed(&outcome);
        let bounds = bounds(plan, delay);
        let bound: Duration = bounds.iter().sum();
        let steps: Vec<String> = outcome
            .steps
            .iter()
            .zip(&bounds)
            .map(|(s, b)| {
                format!(
                    "{} {:.2}/{:.2}s",
                    s.name,
                    s.duration.as_secs_f64(),
                    b.as_secs_f64()
                )
            })
            .collect();
        let ratio = time.as_secs_f64() / bound.as_secs_f64();
        println!(
            "  {:<22} {:>6} {:>11.2}s {:>9.2}s {:>6.2}×   {}",
            format!("{:.0} s", delay.as_secs_f64()),
            execs(&outcome),
            time.as_secs_f64(),
            bound.as_secs_f64(),
            ratio,
            steps.join(", ")
        );
        assert!(
            ratio <= 1.25,
            "{name}, delay {delay:?}: {ratio:.2}× the bound"
        );
    }
}

/// The upstream suite's server check before one test: every cell probed once, one exec each,
/// on a cluster without policies. Returns its execs and modeled time.
fn server_check(plan: &ScenarioPlan, workers: usize) -> (usize, Duration) {
    let only = BTreeSet::from([SERVER_CHECK_STEP.to_string()]);
    let (outcome, _) = run(
        plan,
        Batching::PerCell,
        Duration::ZERO,
        Some(workers),
        Some(&only),
    );
    assert_passed(&outcome);
    let step = &outcome.steps[0];
    assert_eq!(step.rounds, 1, "servers are up: one round");
    (step.execs, step.duration)
}

fn upstream(plan: &ScenarioPlan) {
    println!(
        "\nthe 9-pod model against one exec per cell with upstream's {UPSTREAM_WORKERS} probe workers"
    );
    println!(
        "  {:<62} {:>6} {:>12} {:>14}",
        "strategy", "execs", "modeled time", "with 2 s delay"
    );
    let mut rows: Vec<(&str, [(usize, Duration); 2])> = Vec::new();
    let mut per_source = [(0, Duration::ZERO); 2];
    let mut per_cell = per_source;
    let mut as_upstream = per_source;
    for (i, delay) in [Duration::ZERO, Duration::from_secs(2)]
        .into_iter()
        .enumerate()
    {
        let (batched, t) = run(plan, Batching::PerSource, delay, None, None);
        assert_passed(&batched);
        per_source[i] = (execs(&batched), t);
        let (cells, t) = run(plan, Batching::PerCell, delay, Some(UPSTREAM_WORKERS), None);
        assert_passed(&cells);
        per_cell[i] = (execs(&cells), t);
        let (check_execs, check_time) = server_check(plan, UPSTREAM_WORKERS);
        let tests = plan.steps.len();
        as_upstream[i] = (
            per_cell[i].0 + tests * check_execs,
            per_cell[i].1 + check_time * tests as u32,
        );
    }
    rows.push(("one exec per source pod per round (the runner)", per_source));
    rows.push(("one exec per cell, probes only", per_cell));
    rows.push((
        "one exec per cell as upstream runs it (server check + probes)",
        as_upstream,
    ));
    for (name, [(e0, t0), (e2, t2)]) in &rows {
        println!(
            "  {name:<62} {e0:>6} {:>11.2}s {:>7}x {:>5.2}s",
            t0.as_secs_f64(),
            e2,
            t2.as_secs_f64()
        );
    }
    println!(
        "  as upstream runs it ÷ the runner: {:.0}× the execs, {:.1}× the time ({:.1}× with the delay)",
        as_upstream[0].0 as f64 / per_source[0].0 as f64,
        as_upstream[0].1.as_secs_f64() / per_source[0].1.as_secs_f64(),
        as_upstream[1].1.as_secs_f64() / per_source[1].1.as_secs_f64()
    );
}

/// The generated cases a nightly lane runs after the tutorials (`ci/nightly-cni.sh`:
/// `--generated all --max 60`, seed 1 here), in the same latency model: the probing time a lane
/// needs for them at least (a real cluster adds applying and deleting policies and starting the
/// topology's pods).
fn budgeted(dir: &Path) {
    use netpol_harness::generate::{self, Options, writer};
    let cases = generate::cases(&Options {
        max: Some(60),
        seed: Some(1),
        ..Options::default()
    })
    .expect("cases");
    let scenarios = generate::render(&cases).expect("render");
    writer::write(dir, &scenarios).expect("write");
    let plans: Vec<ScenarioPlan> = scenarios.iter().map(|s| load(&dir.join(&s.name))).collect();
    let steps: usize = plans.iter().map(|p| p.steps.len()).sum();
    let probes: usize = plans
        .iter()
        .flat_map(|p| &p.steps)
        .map(|s| s.planned.probes.len())
        .sum();
    println!(
        "\nthe nightly's budgeted generated set: {} cases selected, {} suites, {steps} steps once rendered, {probes} planned probes",
        cases.len(),
        plans.len()
    );
    for delay in [Duration::ZERO, Duration::from_secs(2)] {
        let mut time = Duration::ZERO;
        let mut bound = Duration::ZERO;
        let mut execs_made = 0;
        for plan in &plans {
            let (outcome, t) = run(plan, Batching::PerSource, delay, None, None);
            assert_passed(&outcome);
            time += t;
            bound += bounds(plan, delay).iter().sum::<Duration>();
            execs_made += execs(&outcome);
        }
        println!(
            "  propagation delay {:.0} s: {execs_made} execs, modeled probing time {:.1} s (bound {:.1} s, {:.2}×)",
            delay.as_secs_f64(),
            time.as_secs_f64(),
            bound.as_secs_f64(),
            time.as_secs_f64() / bound.as_secs_f64()
        );
    }
}

fn bench(c: &mut Criterion) {
    let nine = nine_pods();
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("ninety-sources");
    std::fs::create_dir(&folder).expect("folder");
    let ninety = ninety_sources(&folder);
    limit("upstream 9-pod model", &nine);
    limit("90 sources (10 namespaces × 9 pods)", &ninety);
    upstream(&nine);
    let generated = dir.path().join("generated");
    std::fs::create_dir(&generated).expect("folder");
    budgeted(&generated);
    c.bench_function(
        "runner: 9-pod model, 4 steps, one exec per source pod",
        |b| b.iter(|| run(&nine, Batching::PerSource, Duration::ZERO, None, None)),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
