//! The upstream 9-pod model (namespaces x, y, z × pods a, b, c; 81 ordered pairs × ports 80
//! and 81) through the runner on the simulated cluster, with a latency model: an exec costs a
//! 150 ms round trip, a blocked probe costs its 1 s timeout, at most 8 execs run at once.
//! Time is virtual (tokio's paused clock), so the modeled wall time is exact and the benchmark
//! itself is fast.
//!
//! Prints, for the same four steps (no policy; deny ingress to x; allow x's ingress from y on
//! port 81; deny removed), the exec calls and modeled wall time of one exec per source pod per
//! round (the runner's strategy) and of one exec per cell (the upstream suite's), then lets
//! criterion time the runner's own CPU cost.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use netpol_harness::analysis::Analysis;
use netpol_harness::cluster::sim::{Faults, Latency, SimCluster, SimProbes};
use netpol_harness::manifest::{Document, parse_str};
use netpol_harness::model::{DEFAULT_POD_CIDR, Protocol};
use netpol_harness::oracle::{Oracle, ProbePort};
use netpol_harness::runner::outcome::{ScenarioOutcome, StepVerdict};
use netpol_harness::runner::plan::{PlannedAction, PlannedProbe, ScenarioPlan, StepPlan};
use netpol_harness::runner::{Batching, RunOptions, Runner};
use netpol_harness::scenario::format::{Expectation, Probe, ProbeKind};

const NAMESPACES: [&str; 3] = ["x", "y", "z"];
const PODS: [&str; 3] = ["a", "b", "c"];
const PORTS: [u16; 2] = [80, 81];

fn docs(yaml: &str) -> Vec<Document> {
    parse_str(Path::new("bench.yaml"), yaml).expect("valid YAML")
}

fn pods() -> Vec<Document> {
    let mut yaml = String::new();
    for ns in NAMESPACES {
        for pod in PODS {
            yaml.push_str(&format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}, namespace: {ns}, labels: {{pod: {pod}}}}}\n\
                 spec:\n  containers:\n  - name: cont\n    image: registry.k8s.io/e2e-test-images/agnhost:2.66.1\n    ports:\n    - {{containerPort: 80, name: serve-80-tcp}}\n    - {{containerPort: 81, name: serve-81-tcp}}\n"
            ));
        }
    }
    docs(&yaml)
}

fn deny_x() -> Vec<Document> {
    docs(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: x}\nspec: {podSelector: {}, policyTypes: [Ingress]}\n",
    )
}

fn allow_y_81() -> Vec<Document> {
    docs(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-y-81, namespace: x}\n\
         spec:\n  podSelector: {}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}]\n    ports: [{port: 81}]\n",
    )
}

/// Every ordered pair on both ports, expected as the oracle predicts for `applied`.
fn matrix(applied: &[Document]) -> Vec<PlannedProbe> {
    let analysis =
        Analysis::from_documents(applied, DEFAULT_POD_CIDR.parse().expect("CIDR")).expect("model");
    let oracle = analysis.oracle();
    let keys: Vec<String> = NAMESPACES
        .iter()
        .flat_map(|ns| PODS.iter().map(move |p| format!("{ns}/{p}")))
        .collect();
    let mut probes = Vec::new();
    for port in PORTS {
        for from in &keys {
            for to in &keys {
                let packet = Oracle::packet(
                    analysis.cluster.endpoint(from).expect("endpoint"),
                    analysis.cluster.endpoint(to).expect("endpoint"),
                    ProbePort {
                        port: Some(port),
                        protocol: Protocol::Tcp,
                    },
                );
                let expected = if oracle.allowed(&packet) {
                    Expectation::Allowed
                } else {
                    Expectation::Blocked
                };
                probes.push(PlannedProbe {
                    probe: Probe {
                        from: from.clone(),
                        to: to.clone(),
                        port: Some(port),
                        kind: ProbeKind::Tcp,
                        method: None,
                        path: None,
                        expect: expected,
                    },
                    expected,
                    why: None,
                });
            }
        }
    }
    probes
}

fn plan() -> ScenarioPlan {
    let setup = pods();
    let mut denied = setup.clone();
    denied.extend(deny_x());
    let mut ports = denied.clone();
    ports.extend(allow_y_81());
    let mut removed = setup.clone();
    removed.extend(allow_y_81());
    let step = |name: &str, actions: Vec<PlannedAction>, applied: &[Document]| StepPlan {
        name: name.into(),
        narration: String::new(),
        actions,
        probes: matrix(applied),
    };
    ScenarioPlan {
        name: "upstream-9-pods".into(),
        title: "x, y, z × a, b, c on ports 80 and 81".into(),
        namespaces: NAMESPACES.iter().map(|s| s.to_string()).collect(),
        steps: vec![
            step("no-policy", vec![], &setup),
            step(
                "deny-ingress-x",
                vec![PlannedAction::Apply(deny_x())],
                &denied,
            ),
            step(
                "allow-y-on-81",
                vec![PlannedAction::Apply(allow_y_81())],
                &ports,
            ),
            step(
                "deny-removed",
                vec![PlannedAction::Delete(deny_x())],
                &removed,
            ),
        ],
        setup,
        provided: Vec::new(),
    }
}

/// Runs the plan on a fresh simulated cluster with at most 8 execs at once; returns the outcome
/// and the modeled time.
fn run(plan: &ScenarioPlan, batching: Batching, delay: Duration) -> (ScenarioOutcome, Duration) {
    run_with(plan, batching, delay, 8)
}

/// Runs the plan with at most `slots` execs at once.
fn run_with(
    plan: &ScenarioPlan,
    batching: Batching,
    delay: Duration,
    slots: usize,
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
        let runner = Runner::new(sim, Arc::new(SimProbes), options);
        let started = tokio::time::Instant::now();
        let outcome = runner.run_scenario(plan, None).await;
        (outcome, started.elapsed())
    })
}

fn execs(outcome: &ScenarioOutcome) -> usize {
    outcome.steps.iter().map(|s| s.execs + s.detect_execs).sum()
}

fn report(plan: &ScenarioPlan, delay: Duration) {
    let (batched, batched_time) = run(plan, Batching::PerSource, delay);
    let (per_cell, per_cell_time) = run(plan, Batching::PerCell, delay);
    for outcome in [&batched, &per_cell] {
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
    println!(
        "\n9-pod model, 4 steps × 162 cells, propagation delay {:.1}s (exec 150 ms, blocked probe 1 s, 8 execs at once)",
        delay.as_secs_f64()
    );
    println!("  {:<28} {:>7} {:>14}", "strategy", "execs", "modeled time");
    for (name, outcome, time) in [
        ("one exec per source pod", &batched, batched_time),
        ("one exec per cell (upstream)", &per_cell, per_cell_time),
    ] {
        let steps: Vec<String> = outcome
            .steps
            .iter()
            .map(|s| format!("{}:{}r/{}x", s.name, s.rounds, s.execs))
            .collect();
        println!(
            "  {name:<28} {:>7} {:>13.2}s   [{}]",
            execs(outcome),
            time.as_secs_f64(),
            steps.join(" ")
        );
    }
    println!(
        "  {:<28} {:>6.1}× {:>13.1}×",
        "per cell ÷ per source",
        execs(&per_cell) as f64 / execs(&batched) as f64,
        per_cell_time.as_secs_f64() / batched_time.as_secs_f64()
    );
    // For context only: the upstream suite runs 3 probe workers, not 8.
    let (_, upstream_time) = run_with(plan, Batching::PerCell, delay, 3);
    println!(
        "  (one exec per cell with upstream's 3 workers: {:.2}s, {:.1}× the runner's time)",
        upstream_time.as_secs_f64(),
        upstream_time.as_secs_f64() / batched_time.as_secs_f64()
    );
}

fn bench(c: &mut Criterion) {
    let plan = plan();
    report(&plan, Duration::ZERO);
    report(&plan, Duration::from_secs(2));
    c.bench_function(
        "runner: 9-pod model, 4 steps, one exec per source pod",
        |b| b.iter(|| run(&plan, Batching::PerSource, Duration::ZERO)),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
