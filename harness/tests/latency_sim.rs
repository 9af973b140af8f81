//! Enforcement latency on the simulated cluster: with a policy propagation delay injected, the
//! latency the runner reports for each step brackets it; without one it is one probe round; a
//! policy applied later than the deadline fails exactly the cells it changes and reports no
//! latency. Time is virtual (tokio's paused clock), so the figures are exact and the tests fast.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use netpol_harness::cluster::sim::{Faults, Latency, SimCluster};
use netpol_harness::runner::outcome::{ScenarioOutcome, StepVerdict};
use netpol_harness::runner::plan::ScenarioPlan;
use netpol_harness::runner::{RunOptions, Runner};
use netpol_harness::scenario::load_dir;

const ROUND_TRIP: Duration = Duration::from_millis(150);
const TIMEOUT: Duration = Duration::from_secs(1);

/// The upstream 9-pod model: no policy; deny ingress to x; allow x's ingress from y on 81;
/// the deny removed (which changes nothing observable: the allow policy still isolates x).
fn plan() -> ScenarioPlan {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios/upstream-9-pods");
    ScenarioPlan::new(&load_dir(&dir).unwrap(), Vec::new()).unwrap()
}

async fn run(delay: Duration, deadline: Duration) -> ScenarioOutcome {
    let sim = Arc::new(SimCluster::new(
        "latency",
        Faults {
            propagation_delay: delay,
            latency: Some(Latency {
                exec_round_trip: ROUND_TRIP,
                max_concurrent_execs: 64,
            }),
            ..Faults::default()
        },
    ));
    let runner = Runner::new(
        sim.clone(),
        RunOptions {
            deadline,
            probe_timeout: TIMEOUT,
            ..RunOptions::default()
        },
    );
    let outcome = runner.run_scenario(&plan(), None).await;
    assert!(sim.owned_objects().is_empty());
    outcome
}

#[tokio::test(start_paused = true)]
async fn latency_brackets_the_injected_propagation_delay() {
    let poll = RunOptions::default().poll_interval;
    let round = ROUND_TRIP + TIMEOUT;
    for delay in [Duration::from_secs(2), Duration::from_millis(3700)] {
        let outcome = run(delay, Duration::from_secs(30)).await;
        for step in &outcome.steps {
            assert_eq!(
                step.verdict,
                StepVerdict::Pass,
                "{}: {}",
                step.name,
                step.reason
            );
            let converged = step.converged_after.unwrap();
            let confirmed = step.confirmed_after.unwrap();
            let changes = matches!(step.name.as_str(), "deny-ingress-x" | "allow-y-on-81");
            if changes {
                // Not before the policy reached the dataplane; at most a round that started
                // just before it did, a poll interval and one more round after.
                assert!(
                    converged >= delay && converged <= delay + round + poll + round,
                    "{} with delay {delay:?}: converged after {converged:?}",
                    step.name
                );
                assert!(step.confirmed && confirmed >= converged + ROUND_TRIP);
                assert!(confirmed <= converged + round, "{confirmed:?}");
            } else {
                // Nothing observable changes: the first round matches, whatever the delay.
                assert!(
                    converged < delay && converged <= round,
                    "{}: {converged:?}",
                    step.name
                );
                assert_eq!((step.rounds, converged), (1, confirmed));
            }
            let result = step.result().measures;
            assert_eq!(result.converged_ms, Some(converged.as_millis() as u64));
            assert_eq!(result.confirmed_ms, Some(confirmed.as_millis() as u64));
        }
        // The scenario's wall time, which the CNI matrix sums per lane, covers every step's
        // wait for the dataplane: at least the delay for each step that changes something.
        let total = outcome.result().duration_ms.unwrap();
        assert_eq!(total, outcome.duration.as_millis() as u64);
        let steps: u128 = outcome.steps.iter().map(|s| s.duration.as_millis()).sum();
        assert!(
            u128::from(total) >= steps && u128::from(total) >= 2 * delay.as_millis(),
            "{total} ms for steps of {steps} ms with delay {delay:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_delay_latency_is_one_probe_round() {
    let outcome = run(Duration::ZERO, Duration::from_secs(30)).await;
    for step in &outcome.steps {
        assert_eq!(step.verdict, StepVerdict::Pass, "{}", step.reason);
        let converged = step.converged_after.unwrap();
        // One round, every source at once: the exec, plus the probe timeout when something is
        // expected blocked (agnhost's image names its tool: no detection exec).
        let blocked = step.name != "no-policy";
        let expected = ROUND_TRIP + if blocked { TIMEOUT } else { Duration::ZERO };
        assert_eq!(converged, expected, "{}", step.name);
        assert_eq!(step.confirmed_after, Some(converged));
    }
}

#[tokio::test(start_paused = true)]
async fn a_policy_applied_after_the_deadline_fails_exactly_its_cells_without_latency() {
    // The deny reaches the dataplane after 6 s, the runner gives up after 3 s.
    let outcome = run(Duration::from_secs(6), Duration::from_secs(3)).await;
    let step = outcome.step("deny-ingress-x").unwrap();
    assert_eq!(step.verdict, StepVerdict::NotEnforced, "{}", step.reason);
    assert_eq!((step.converged_after, step.confirmed_after), (None, None));
    let wrong: Vec<(&str, &str)> = step
        .cells
        .iter()
        .filter(|c| !c.matched)
        .map(|c| (c.from.as_str(), c.to.as_str()))
        .collect();
    // Every cell into x (9 sources × 3 pods × 2 ports), and nothing else.
    assert_eq!(wrong.len(), 54);
    assert!(wrong.iter().all(|(_, to)| to.starts_with("x/")));
    let measures = step.result().measures;
    assert_eq!((measures.converged_ms, measures.confirmed_ms), (None, None));
}
