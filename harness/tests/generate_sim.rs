//! Generated suites on the simulated cluster (`SimCluster`), as `tests/run_sim.rs` runs the
//! tutorials: a budgeted sample passes on a conforming dataplane; with a fault exactly the cells
//! it affects fail (egress ignored, named ports ignored, one flaky pod); with policies applied
//! late every step still passes and its latency shows the delay; on a dataplane enforcing nothing
//! every case fails (nothing passes vacuously).
//! The full set is for the nightly (see README: `generate --max`).

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use netpol_harness::cluster::sim::{Enforcement, Faults, Flaky, SimCluster};
use netpol_harness::generate::{self, Case, Options, writer};
use netpol_harness::oracle::{Packet, Peer};
use netpol_harness::runner::outcome::StepVerdict;
use netpol_harness::runner::plan::plans;
use netpol_harness::runner::{RunEvent, RunOptions, Runner};
use netpol_harness::scenario::format::Expectation;
use netpol_harness::scenario::plan::Resolution;
use netpol_harness::scenario::{LoadedScenario, load, plan};

/// A cell: scenario, step, from, to, kind and port.
type Cell = (String, String, String, String, String, Option<u16>);

/// Per suite: the first two ingress-only cases, two with egress and two with named ports.
fn sample() -> Vec<Case> {
    let all = generate::cases(&Options::default()).unwrap();
    let mut chosen: Vec<Case> = Vec::new();
    for suite in generate::SUITES {
        let of_suite: Vec<&Case> = all.iter().filter(|c| c.suite == suite).collect();
        let picks: [&dyn Fn(&Case) -> bool; 3] = [
            &|c| !c.tags.contains("egress"),
            &|c| c.tags.contains("egress"),
            &|c| c.tags.contains("named-port"),
        ];
        for pick in picks {
            for c in of_suite.iter().filter(|c| pick(c)).take(2) {
                if !chosen
                    .iter()
                    .any(|x| x.suite == c.suite && x.name == c.name)
                {
                    chosen.push((*c).clone());
                }
            }
        }
    }
    chosen
}

fn loaded(dir: &std::path::Path) -> Vec<LoadedScenario> {
    let cases = sample();
    let scenarios = generate::render(&cases).unwrap();
    writer::write(dir, &scenarios).unwrap();
    scenarios
        .iter()
        .map(|s| load(dir, &s.name).unwrap())
        .collect()
}

/// Runs the scenarios on a simulated dataplane enforcing as `enforcement`: every step's verdict
/// and every cell that did not match.
async fn run(
    scenarios: &[LoadedScenario],
    enforcement: Enforcement,
) -> (Vec<(String, StepVerdict)>, BTreeSet<Cell>) {
    let (verdicts, wrong, _) = run_with(
        scenarios,
        Faults {
            enforcement,
            ..Faults::default()
        },
    )
    .await;
    (verdicts, wrong)
}

/// Each step's enforcement latency: converged, confirmed.
type Latencies = Vec<(String, Option<Duration>, Option<Duration>)>;

/// Runs the scenarios on a simulated cluster with `faults`: every step's verdict, every cell
/// that did not match (or flapped), and every step's latency.
async fn run_with(
    scenarios: &[LoadedScenario],
    faults: Faults,
) -> (Vec<(String, StepVerdict)>, BTreeSet<Cell>, Latencies) {
    let plans = plans(scenarios, None).await.unwrap();
    let sim = Arc::new(SimCluster::new("generated", faults));
    let runner = Runner::new(
        sim.clone(),
        RunOptions {
            deadline: Duration::from_secs(3),
            ..RunOptions::default()
        },
    );
    let mut verdicts = Vec::new();
    let mut wrong = BTreeSet::new();
    let mut latencies = Vec::new();
    runner
        .run(&plans, |event| {
            if let RunEvent::StepFinished { plan, outcome, .. } = event {
                let step = format!("{}/{}", plan.name, outcome.name);
                latencies.push((
                    step.clone(),
                    outcome.converged_after,
                    outcome.confirmed_after,
                ));
                verdicts.push((step, outcome.verdict));
                for c in outcome.cells.iter().filter(|c| !c.matched || c.flapped) {
                    wrong.insert((
                        plan.name.clone(),
                        outcome.name.clone(),
                        c.from.clone(),
                        c.to.clone(),
                        c.kind.clone(),
                        c.port,
                    ));
                }
            }
            ControlFlow::Continue(())
        })
        .await;
    assert!(sim.owned_objects().is_empty(), "{:?}", sim.owned_objects());
    (verdicts, wrong, latencies)
}

/// The cells a dataplane ignoring egress gets wrong: expected blocked, yet ingress allows.
fn egress_only_blocked(scenarios: &[LoadedScenario]) -> BTreeSet<Cell> {
    let mut out = BTreeSet::new();
    for s in scenarios {
        let planned = plan(s).unwrap();
        for step in &planned.steps {
            let oracle = step.model.oracle();
            for p in &step.probes {
                let Resolution::Endpoint {
                    endpoint,
                    port,
                    protocol,
                } = &p.resolution
                else {
                    panic!("{}: not an endpoint", p.origin)
                };
                let id = |k: &str| step.model.cluster.endpoint(k).unwrap();
                let packet = Packet {
                    from: Peer::Endpoint(id(&p.probe.from)),
                    to: Peer::Endpoint(id(endpoint)),
                    protocol: *protocol,
                    port: *port,
                };
                if p.expected == Expectation::Blocked && oracle.verdict(&packet).ingress.allowed {
                    let kind = serde_json::to_value(p.probe.kind).unwrap();
                    out.insert((
                        s.scenario.name.clone(),
                        step.name.clone(),
                        p.probe.from.clone(),
                        p.probe.to.clone(),
                        kind.as_str().unwrap().to_string(),
                        p.probe.port,
                    ));
                }
            }
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn a_sample_passes_when_conforming_and_fails_exactly_where_faulty() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = loaded(dir.path());
    let steps: usize = scenarios.iter().map(|s| s.scenario.steps.len()).sum();
    assert!(steps >= 20, "{steps} steps sampled");

    let (verdicts, wrong) = run(&scenarios, Enforcement::Full).await;
    assert_eq!(verdicts.len(), steps);
    assert!(
        verdicts.iter().all(|(_, v)| *v == StepVerdict::Pass),
        "{verdicts:?}"
    );
    assert!(wrong.is_empty(), "{wrong:?}");

    // Egress ignored: exactly the cells only egress blocks fail, and there are some.
    let (_, wrong) = run(&scenarios, Enforcement::IgnoresEgress).await;
    let expected = egress_only_blocked(&scenarios);
    assert!(!expected.is_empty());
    assert_eq!(wrong, expected);

    // Named ports ignored: only cases about named ports fail, and some do.
    let named: BTreeSet<(String, String)> = sample()
        .iter()
        .filter(|c| c.tags.contains("named-port"))
        .map(|c| (format!("gen-{}", c.suite), c.name.clone()))
        .collect();
    let (_, wrong) = run(&scenarios, Enforcement::IgnoresNamedPorts).await;
    assert!(!wrong.is_empty());
    for cell in &wrong {
        let step = cell.1.trim_end_matches("-before").to_string();
        assert!(named.contains(&(cell.0.clone(), step)), "{cell:?}");
    }

    // Nothing enforced: every case's own step fails (each expects something blocked).
    let (verdicts, _) = run(&scenarios, Enforcement::None).await;
    for (step, verdict) in verdicts.iter().filter(|(s, _)| !s.ends_with("-before")) {
        assert_ne!(*verdict, StepVerdict::Pass, "{step}");
    }
}

/// A policy applied late (every change reaches the dataplane 2 s after it is made): every step
/// still passes, by polling, and the latency of each step that changes what is observed is at
/// least the delay; one flaky pod: only cells from that pod fail (or flap), and some do.
#[tokio::test(start_paused = true)]
async fn late_policies_are_measured_and_a_flaky_pod_fails_only_its_own_cells() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = loaded(dir.path());
    let delay = Duration::from_secs(2);
    let (verdicts, wrong, latencies) = run_with(
        &scenarios,
        Faults {
            propagation_delay: delay,
            ..Faults::default()
        },
    )
    .await;
    assert!(
        verdicts.iter().all(|(_, v)| *v == StepVerdict::Pass),
        "{verdicts:?}"
    );
    assert!(wrong.is_empty(), "{wrong:?}");
    // Every step converged and was confirmed; a case's own step (it applies policies that
    // block something its "-before" step allowed) waited for the delay.
    assert!(latencies.iter().all(|(_, a, b)| a.is_some() && b.is_some()));
    let delayed: Vec<_> = latencies
        .iter()
        .filter(|(step, _, _)| !step.ends_with("-before"))
        .collect();
    assert!(!delayed.is_empty());
    for (step, converged, confirmed) in delayed {
        let (converged, confirmed) = (converged.unwrap(), confirmed.unwrap());
        assert!(converged >= delay, "{step}: converged after {converged:?}");
        assert!(confirmed >= converged, "{step}");
    }

    let (_, wrong, _) = run_with(
        &scenarios,
        Faults {
            flaky_source: Some((
                "x/a".to_string(),
                Flaky {
                    seed: 11,
                    per_mille: 250,
                },
            )),
            ..Faults::default()
        },
    )
    .await;
    assert!(!wrong.is_empty());
    for cell in &wrong {
        assert_eq!(cell.2, "x/a", "{cell:?}");
    }
}
