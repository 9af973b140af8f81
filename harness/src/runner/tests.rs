//! The runner on the simulated cluster: convergence, confirmation, non-vacuity, flapping,
//! failures that must never pass, cleanup, and the exec budget.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::analysis::Analysis;
use crate::cluster::sim::{Call, Enforcement, Faults, Flaky, SimCluster, SimProbes};
use crate::manifest::parse_str;
use crate::oracle::ProbePort;
use crate::scenario::format::ProbeKind as FormatKind;
use plan::PlannedProbe;

const AGNHOST: &str = "registry.k8s.io/e2e-test-images/agnhost:2.66.1";

fn docs(yaml: &str) -> Vec<Document> {
    parse_str(Path::new("test.yaml"), yaml).unwrap()
}

/// Pods `ns/name` for every namespace × name, labelled `pod=<name>`, serving 80 and 81.
fn pods(namespaces: &[&str], names: &[&str], image: &str) -> Vec<Document> {
    let mut yaml = String::new();
    for ns in namespaces {
        for name in names {
            yaml.push_str(&format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{pod: {name}}}}}\n\
                 spec:\n  containers:\n  - name: cont\n    image: {image}\n    ports:\n    - {{containerPort: 80, name: serve-80-tcp}}\n    - {{containerPort: 81, name: serve-81-tcp}}\n"
            ));
        }
    }
    docs(&yaml)
}

fn deny_ingress(ns: &str) -> Vec<Document> {
    docs(&format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny-ingress, namespace: {ns}}}\nspec: {{podSelector: {{}}, policyTypes: [Ingress]}}\n"
    ))
}

fn deny_egress_of(ns: &str, pod: &str) -> Vec<Document> {
    docs(&format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny-egress-{pod}, namespace: {ns}}}\nspec: {{podSelector: {{matchLabels: {{pod: {pod}}}}}, policyTypes: [Egress]}}\n"
    ))
}

fn keys(namespaces: &[&str], names: &[&str]) -> Vec<String> {
    namespaces
        .iter()
        .flat_map(|ns| names.iter().map(move |n| format!("{ns}/{n}")))
        .collect()
}

/// Every pair of `endpoints` on `ports`, expected as the oracle predicts for `docs`.
fn matrix(all_docs: &[Document], endpoints: &[String], ports: &[u16]) -> Vec<PlannedProbe> {
    let analysis =
        Analysis::from_documents(all_docs, crate::model::DEFAULT_POD_CIDR.parse().unwrap())
            .unwrap();
    let oracle = analysis.oracle();
    let mut probes = Vec::new();
    for &port in ports {
        for from in endpoints {
            for to in endpoints {
                let packet = crate::oracle::Oracle::packet(
                    analysis.cluster.endpoint(from).unwrap(),
                    analysis.cluster.endpoint(to).unwrap(),
                    ProbePort {
                        port: Some(port),
                        protocol: crate::model::Protocol::Tcp,
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
                        kind: FormatKind::Tcp,
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

fn step(name: &str, actions: Vec<PlannedAction>, probes: Vec<PlannedProbe>) -> StepPlan {
    StepPlan {
        name: name.into(),
        narration: String::new(),
        actions,
        probes,
    }
}

fn scenario(
    name: &str,
    namespaces: &[&str],
    setup: Vec<Document>,
    steps: Vec<StepPlan>,
) -> ScenarioPlan {
    ScenarioPlan {
        name: name.into(),
        title: name.into(),
        namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
        setup,
        provided: Vec::new(),
        steps,
    }
}

fn options() -> RunOptions {
    RunOptions {
        deadline: Duration::from_secs(10),
        ..RunOptions::default()
    }
}

fn runner(sim: &Arc<SimCluster>, options: RunOptions) -> Runner<SimCluster, SimProbes> {
    Runner::new(sim.clone(), Arc::new(SimProbes), options)
}

/// The 2-namespace model (x, y × a, b) with a no-policy step and a deny-ingress-in-x step.
fn deny_scenario(deny: Vec<Document>) -> ScenarioPlan {
    let setup = pods(&["x", "y"], &["a", "b"], AGNHOST);
    let endpoints = keys(&["x", "y"], &["a", "b"]);
    let mut with_policy = setup.clone();
    with_policy.extend(deny.clone());
    scenario(
        "deny",
        &["x", "y"],
        setup.clone(),
        vec![
            step("no-policy", vec![], matrix(&setup, &endpoints, &[80])),
            step(
                "deny",
                vec![PlannedAction::Apply(deny)],
                matrix(&with_policy, &endpoints, &[80]),
            ),
        ],
    )
}

fn assert_cleaned_up(sim: &SimCluster) {
    assert!(
        sim.owned_objects().is_empty(),
        "left: {:?}",
        sim.owned_objects()
    );
    assert_eq!(sim.namespaces(), vec!["default", "kube-system"]);
}

#[tokio::test(start_paused = true)]
async fn converges_through_a_propagation_delay_then_confirms() {
    let sim = Arc::new(SimCluster::new(
        "r",
        Faults {
            propagation_delay: Duration::from_secs(3),
            ..Faults::default()
        },
    ));
    let outcome = runner(&sim, options())
        .run_scenario(&deny_scenario(deny_ingress("x")), None)
        .await;
    let [first, second] = &outcome.steps[..] else {
        panic!("{outcome:?}")
    };
    assert_eq!(first.verdict, StepVerdict::Pass, "{}", first.reason);
    assert_eq!((first.rounds, first.confirmed), (1, false));
    assert_eq!(second.verdict, StepVerdict::Pass, "{}", second.reason);
    assert!(second.confirmed);
    assert!(second.rounds >= 4, "rounds: {}", second.rounds);
    let converged = second.converged_after.unwrap();
    assert!(
        converged >= Duration::from_secs(3) && converged < Duration::from_secs(4),
        "converged after {converged:?}"
    );
    assert!(second.cells.iter().all(|c| !c.flapped));
    // The cells that were wrong before propagation saw allowed, then blocked.
    let to_x: Vec<_> = second
        .cells
        .iter()
        .filter(|c| c.to.starts_with("x/"))
        .collect();
    assert!(to_x.iter().all(|c| c.history.first() == Some(&Outcome::Allowed)
        && c.observed == Outcome::Blocked));
    assert!(outcome.passed());
    assert_cleaned_up(&sim);
}

#[tokio::test(start_paused = true)]
async fn a_cni_ignoring_egress_fails_exactly_the_egress_cells() {
    let sim = Arc::new(SimCluster::new(
        "r",
        Faults {
            enforcement: Enforcement::IgnoresEgress,
            ..Faults::default()
        },
    ));
    let mut policies = deny_egress_of("x", "a");
    policies.extend(deny_ingress("y"));
    let outcome = runner(&sim, options())
        .run_scenario(&deny_scenario(policies), None)
        .await;
    let step = outcome.step("deny").unwrap();
    assert_eq!(step.verdict, StepVerdict::Fail, "{}", step.reason);
    let wrong: BTreeSet<(String, String)> = step
        .cells
        .iter()
        .filter(|c| !c.matched)
        .map(|c| (c.from.clone(), c.to.clone()))
        .collect();
    // x/a may send nowhere; what only its egress policy blocks is wrong (to y/* ingress blocks).
    let expected: BTreeSet<(String, String)> = [("x/a", "x/a"), ("x/a", "x/b")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(wrong, expected);
    assert!(
        step.reason
            .starts_with("2 of 16 probes wrong (2 expected blocked but allowed)"),
        "{}",
        step.reason
    );
    let text = report::render_step("deny", step);
    assert!(text.contains("that policy is not enforced"), "{text}");
    assert_cleaned_up(&sim);
}

#[tokio::test(start_paused = true)]
async fn a_cni_that_enforces_nothing_is_reported_not_enforced() {
    let sim = Arc::new(SimCluster::new(
        "r",
        Faults {
            enforcement: Enforcement::None,
            ..Faults::default()
        },
    ));
    let outcome = runner(&sim, options())
        .run_scenario(&deny_scenario(deny_ingress("x")), None)
        .await;
    // Without policy everything is allowed and expected so: nothing to prove, a pass.
    assert_eq!(outcome.steps[0].verdict, StepVerdict::Pass);
    let step = outcome.step("deny").unwrap();
    assert_eq!(step.verdict, StepVerdict::NotEnforced);
    assert!(
        step.reason
            .starts_with("policy not enforced: all 8 probes expected to be blocked were allowed"),
        "{}",
        step.reason
    );
    // It polled to the deadline (the cells never matched) and did not confirm.
    assert!(!step.confirmed && step.converged_after.is_none());
    assert_cleaned_up(&sim);
}

#[tokio::test(start_paused = true)]
async fn named_ports_that_are_ignored_show_as_dropped_traffic() {
    let sim = Arc::new(SimCluster::new(
        "r",
        Faults {
            enforcement: Enforcement::IgnoresNamedPorts,
            ..Faults::default()
        },
    ));
    let mut policies = deny_ingress("x");
    policies.extend(docs(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-81, namespace: x}\n\
         spec: {podSelector: {}, ingress: [{ports: [{port: serve-81-tcp}]}]}\n",
    ));
    let setup = pods(&["x"], &["a", "b"], AGNHOST);
    let endpoints = keys(&["x"], &["a", "b"]);
    let mut all = setup.clone();
    all.extend(policies.clone());
    let plan = scenario(
        "named",
        &["x"],
        setup,
        vec![step(
            "allow-named",
            vec![PlannedAction::Apply(policies)],
            matrix(&all, &endpoints, &[80, 81]),
        )],
    );
    let outcome = runner(&sim, options()).run_scenario(&plan, None).await;
    let step = &outcome.steps[0];
    assert_eq!(step.verdict, StepVerdict::Fail);
    assert!(
        step.cells.iter().all(|c| c.matched == (c.port == Some(80))),
        "{:?}",
        step.cells
    );
    assert!(
        step.reason.contains("4 expected allowed but blocked"),
        "{}",
        step.reason
    );
}

#[tokio::test(start_paused = true)]
async fn flapping_cells_are_flagged_and_fail() {
    let sim = Arc::new(SimCluster::new(
        "r",
        Faults {
            propagation_delay: Duration::from_secs(2),
            flaky: Some(Flaky {
                seed: 7,
                per_mille: 150,
            }),
            ..Faults::default()
        },
    ));
    let outcome = runner(&sim, options())
        .run_scenario(&deny_scenario(deny_ingress("x")), None)
        .await;
    let step = outcome.step("deny").unwrap();
    let flapped: Vec<_> = step.cells.iter().filter(|c| c.flapped).collect();
    assert!(!flapped.is_empty(), "{step:#?}");
    assert_eq!(step.verdict, StepVerdict::Fail);
    assert!(step.reason.contains("flapped"), "{}", step.reason);
    assert!(
        flapped[0].explanation().contains("flapped: observed"),
        "{}",
        flapped[0].explanation()
    );
}

#[tokio::test(start_paused = true)]
async fn failing_execs_are_errors_never_passes() {
    let sim = Arc::new(SimCluster::new(
        "r",
        Faults {
            failing_execs: BTreeSet::from(["x/a".to_string()]),
            ..Faults::default()
        },
    ));
    let outcome = runner(&sim, options())
        .run_scenario(&deny_scenario(deny_ingress("x")), None)
        .await;
    for step in &outcome.steps {
        assert_eq!(step.verdict, StepVerdict::Fail, "{}", step.reason);
        for cell in &step.cells {
            if cell.from == "x/a" {
                assert!(
                    matches!(&cell.observed, Outcome::Error(m) if m.contains("connection reset")),
                    "{cell:?}"
                );
                assert!(!cell.matched);
            } else {
                assert!(cell.matched, "{cell:?}");
            }
        }
        assert!(
            step.reason.contains("4 could not be probed"),
            "{}",
            step.reason
        );
    }
    assert_cleaned_up(&sim);
}

#[tokio::test(start_paused = true)]
async fn a_transient_exec_failure_is_polled_away_and_confirmed() {
    let sim = Arc::new(SimCluster::new(
        "r",
        Faults {
            failing_first_execs: 2,
            ..Faults::default()
        },
    ));
    let outcome = runner(&sim, options())
        .run_scenario(&deny_scenario(deny_ingress("x")), None)
        .await;
    let first = &outcome.steps[0];
    assert_eq!(first.verdict, StepVerdict::Pass, "{}", first.reason);
    assert!(first.confirmed && first.rounds == 3, "{first:?}");
    assert!(outcome.passed());
}

#[tokio::test(start_paused = true)]
async fn a_pod_that_never_becomes_ready_fails_clearly_and_is_cleaned_up() {
    let sim = Arc::new(SimCluster::new(
        "r",
        Faults {
            never_ready: BTreeSet::from(["y/b".to_string()]),
            ..Faults::default()
        },
    ));
    let outcome = runner(&sim, options())
        .run_scenario(&deny_scenario(deny_ingress("x")), None)
        .await;
    assert_eq!(outcome.steps.len(), 2);
    for step in &outcome.steps {
        assert_eq!(step.verdict, StepVerdict::Error);
        assert_eq!(
            step.reason,
            format!(
                "setup failed: Pod y/b not ready after 180s: pod y/b: container cont: ImagePullBackOff: cannot pull image \"{AGNHOST}\": Back-off pulling image \"{AGNHOST}\""
            )
        );
    }
    assert!(!outcome.passed());
    assert_cleaned_up(&sim);
    let calls = sim.calls();
    assert!(calls.contains(&Call::DeleteNamespace("x".into())));
    assert!(calls.contains(&Call::DeleteNamespace("y".into())));
}

#[tokio::test(start_paused = true)]
async fn one_exec_per_source_pod_per_round() {
    let sim = Arc::new(SimCluster::new(
        "r",
        Faults {
            propagation_delay: Duration::from_secs(2),
            ..Faults::default()
        },
    ));
    let names = ["a", "b", "c"];
    let namespaces = ["x", "y", "z"];
    let setup = pods(&namespaces, &names, AGNHOST);
    let endpoints = keys(&namespaces, &names);
    let mut all = setup.clone();
    all.extend(deny_ingress("x"));
    let plan = scenario(
        "upstream",
        &namespaces,
        setup,
        vec![step(
            "deny-x",
            vec![PlannedAction::Apply(deny_ingress("x"))],
            matrix(&all, &endpoints, &[80, 81]),
        )],
    );
    let outcome = runner(&sim, options()).run_scenario(&plan, None).await;
    let step = &outcome.steps[0];
    assert_eq!(step.verdict, StepVerdict::Pass, "{}", step.reason);
    assert_eq!(step.cells.len(), 162);
    let execs: Vec<usize> = sim
        .calls()
        .iter()
        .filter_map(|c| match c {
            Call::Exec { probes, .. } => *probes,
            _ => None,
        })
        .collect();
    // Every source probes x, so every round (first, re-probes, confirmation) has 9 execs.
    assert_eq!(step.execs, execs.len());
    assert_eq!(sim.probe_execs(), execs.len());
    assert_eq!(step.execs, 9 * step.rounds);
    assert_eq!(step.detect_execs, 0, "agnhost images need no detection");
    // The first and the confirmation rounds carry all 18 probes of a source; re-probes only
    // the 6 that differed (its probes to x's three pods on two ports).
    assert!(execs[..9].iter().all(|&n| n == 18), "{execs:?}");
    assert!(
        execs[9..execs.len() - 9].iter().all(|&n| n == 6),
        "{execs:?}"
    );
    assert!(
        execs[execs.len() - 9..].iter().all(|&n| n == 18),
        "{execs:?}"
    );

    // The same step probed one exec per cell, as upstream does.
    let sim = Arc::new(SimCluster::new("r", Faults::default()));
    let per_cell = RunOptions {
        batching: Batching::PerCell,
        ..options()
    };
    let outcome = runner(&sim, per_cell).run_scenario(&plan, None).await;
    assert_eq!(outcome.steps[0].execs, 162);
}

#[tokio::test(start_paused = true)]
async fn pods_without_a_shell_are_probed_from_the_ephemeral_container() {
    let sim = Arc::new(SimCluster::new(
        "r",
        Faults {
            without_shell: BTreeSet::from(["x/a".to_string()]),
            ..Faults::default()
        },
    ));
    let setup = pods(&["x"], &["a", "b"], "gcr.io/distroless/static:nonroot");
    let endpoints = keys(&["x"], &["a", "b"]);
    let plan = scenario(
        "distroless",
        &["x"],
        setup.clone(),
        vec![step("no-policy", vec![], matrix(&setup, &endpoints, &[80]))],
    );
    let outcome = runner(&sim, options()).run_scenario(&plan, None).await;
    let step = &outcome.steps[0];
    assert_eq!(step.verdict, StepVerdict::Pass, "{}", step.reason);
    assert_eq!(step.detect_execs, 2, "one detection per source pod");
    let calls = sim.calls();
    let a = PodRef {
        namespace: "x".into(),
        name: "a".into(),
    };
    assert!(calls.contains(&Call::AddProbeContainer(a.clone())));
    assert!(calls.iter().any(
        |c| matches!(c, Call::Exec { pod, container, probes: Some(2) }
        if *pod == a && container == PROBE_CONTAINER)
    ));
    assert!(
        !calls
            .iter()
            .any(|c| matches!(c, Call::AddProbeContainer(p) if p.name == "b"))
    );
}

#[tokio::test(start_paused = true)]
async fn cleanup_deletes_only_what_the_scenario_applied_even_in_shared_namespaces() {
    let sim = Arc::new(SimCluster::new("r", Faults::default()));
    let setup = pods(&["x"], &["a"], AGNHOST);
    let shared = deny_ingress("default");
    let plan = scenario(
        "shared",
        &["x"],
        setup,
        vec![step("apply", vec![PlannedAction::Apply(shared)], vec![])],
    );
    assert!(plan.exclusive());
    let outcome = runner(&sim, options()).run_scenario(&plan, None).await;
    assert!(outcome.passed(), "{outcome:?}");
    assert_cleaned_up(&sim);
    let calls = sim.calls();
    // The pod in x goes with its namespace; the policy in default is deleted by itself.
    assert!(calls.contains(&Call::Delete(vec![
        "NetworkPolicy default/deny-ingress".into()
    ])));
    assert!(
        !calls
            .iter()
            .any(|c| matches!(c, Call::Delete(k) if k[0].starts_with("Pod")))
    );
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_scenario_is_cleaned_up_by_cleanup_pending() {
    let sim = Arc::new(SimCluster::new(
        "r",
        Faults {
            never_ready: BTreeSet::from(["x/a".to_string()]),
            ..Faults::default()
        },
    ));
    let runner = runner(&sim, options());
    let plan = deny_scenario(deny_ingress("x"));
    tokio::select! {
        _ = runner.run_scenario(&plan, None) => panic!("the scenario should still be waiting"),
        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
    }
    assert_eq!(sim.namespaces(), vec!["default", "kube-system", "x", "y"]);
    assert!(runner.cleanup_pending().await.is_empty());
    assert_cleaned_up(&sim);
    assert!(
        runner.cleanup_pending().await.is_empty(),
        "nothing left the second time"
    );
}

#[tokio::test(start_paused = true)]
async fn only_selected_steps_are_probed_but_earlier_actions_still_run() {
    let sim = Arc::new(SimCluster::new("r", Faults::default()));
    let mut plan = deny_scenario(deny_ingress("x"));
    plan.steps.push(step("unreached", vec![], vec![]));
    let only = BTreeSet::from(["deny".to_string()]);
    let outcome = runner(&sim, options())
        .run_scenario(&plan, Some(&only))
        .await;
    assert_eq!(outcome.steps.len(), 1);
    assert_eq!(outcome.steps[0].name, "deny");
    assert_eq!(
        outcome.steps[0].verdict,
        StepVerdict::Pass,
        "{}",
        outcome.steps[0].reason
    );
}

#[tokio::test]
async fn probes_from_outside_go_through_the_harness_http_client() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        for status in ["200 OK", "503 Service Unavailable"] {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            let response = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            s.write_all(response.as_bytes()).await.unwrap();
        }
    });
    let sim = Arc::new(SimCluster::new("r", Faults::default()));
    let outside = |expect: Expectation| PlannedProbe {
        probe: Probe {
            from: "outside".into(),
            to: "ingress:/echo".into(),
            port: None,
            kind: FormatKind::Http,
            method: Some("POST".into()),
            path: None,
            expect,
        },
        expected: expect,
        why: None,
    };
    let plan = scenario(
        "outside",
        &[],
        vec![],
        vec![step(
            "through-ingress",
            vec![],
            vec![
                outside(Expectation::Status(200)),
                outside(Expectation::Status(200)),
            ],
        )],
    );
    let options = RunOptions {
        outside_address: address,
        deadline: Duration::ZERO,
        ..options()
    };
    let outcome = runner(&sim, options).run_scenario(&plan, None).await;
    server.await.unwrap();
    let step = &outcome.steps[0];
    let observed: Vec<&Outcome> = step.cells.iter().map(|c| &c.observed).collect();
    assert_eq!(
        observed
            .iter()
            .filter(|o| ***o == Outcome::HttpStatus(503))
            .count(),
        1,
        "{observed:?}"
    );
    assert_eq!(step.verdict, StepVerdict::Fail);
    assert_eq!(step.execs, 0, "outside probes need no exec");
    assert!(step.cells[0].kind == "http POST /echo");
}

#[test]
fn judging_needs_every_cell_right_and_some_blocked_probe_blocked() {
    let cell = |expected: Expectation, observed: Outcome| CellOutcome {
        from: "x/a".into(),
        to: "x/b".into(),
        source: "x/a".into(),
        target: "x/b 10.244.0.3:80".into(),
        kind: "tcp".into(),
        port: Some(80),
        expected,
        matched: outcome::matches(expected, &observed),
        observed: observed.clone(),
        detail: String::new(),
        flapped: false,
        history: vec![observed],
        why: None,
    };
    use Expectation::{Allowed, Blocked};
    assert_eq!(judge(&[]).0, StepVerdict::Pass);
    assert_eq!(
        judge(&[
            cell(Allowed, Outcome::Allowed),
            cell(Blocked, Outcome::Blocked)
        ])
        .0,
        StepVerdict::Pass
    );
    assert_eq!(
        judge(&[
            cell(Allowed, Outcome::Allowed),
            cell(Blocked, Outcome::Allowed)
        ])
        .0,
        StepVerdict::NotEnforced
    );
    // One blocked probe blocked is enough to prove enforcement; the other is just wrong.
    assert_eq!(
        judge(&[
            cell(Blocked, Outcome::Blocked),
            cell(Blocked, Outcome::Allowed)
        ])
        .0,
        StepVerdict::Fail
    );
    // Errors are never a pass, nor "not enforced".
    assert_eq!(
        judge(&[cell(Blocked, Outcome::Error("exec".into()))]).0,
        StepVerdict::Fail
    );
}

#[test]
fn scenarios_touching_shared_or_cluster_scoped_objects_run_alone() {
    let own = scenario("own", &["x"], pods(&["x"], &["a"], AGNHOST), vec![]);
    assert!(!own.exclusive());
    let global = docs(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: deny}\nspec: {selector: all()}\n",
    );
    let mut calico = own.clone();
    calico
        .steps
        .push(step("g", vec![PlannedAction::Apply(global)], vec![]));
    assert!(calico.exclusive());
    let mut labels_default = own.clone();
    labels_default.steps.push(step(
        "l",
        vec![PlannedAction::LabelNamespace {
            namespace: "default".into(),
            set: Default::default(),
            remove: vec![],
        }],
        vec![],
    ));
    assert!(labels_default.exclusive());
}

#[tokio::test(start_paused = true)]
async fn scenarios_in_distinct_namespaces_run_together_and_all_report() {
    let sim = Arc::new(SimCluster::new("r", Faults::default()));
    let one = |name: &str, ns: &str| {
        let setup = pods(&[ns], &["a"], AGNHOST);
        let endpoints = keys(&[ns], &["a"]);
        scenario(
            name,
            &[ns],
            setup.clone(),
            vec![step("s", vec![], matrix(&setup, &endpoints, &[80]))],
        )
    };
    let plans = vec![one("p", "p"), one("q", "q"), one("p-again", "p")];
    let outcomes = runner(&sim, options()).run_all(&plans).await;
    let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["p", "q", "p-again"]);
    assert!(outcomes.iter().all(ScenarioOutcome::passed));
    assert_cleaned_up(&sim);
}

#[tokio::test(start_paused = true)]
async fn the_fixture_scenario_passes_on_a_conforming_cluster_with_one_or_all_replicas() {
    let loaded = plan::load_scenarios(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios"),
    )
    .unwrap();
    let (folder, scenario) = &loaded[0];
    let plan = plan::plan_scenario(folder, scenario, vec![]).unwrap();
    for all_replicas in [false, true] {
        let sim = Arc::new(SimCluster::new("r", Faults::default()));
        let options = RunOptions {
            all_replicas,
            ..options()
        };
        let outcome = runner(&sim, options).run_scenario(&plan, None).await;
        for step in &outcome.steps {
            assert_eq!(
                step.verdict,
                StepVerdict::Pass,
                "{}",
                report::render_step("two-pods", step)
            );
        }
        let deny = outcome.step("deny-ingress").unwrap();
        // client → server (each replica with all_replicas), client → the service, server → client
        // (from each replica).
        let expected_cells = if all_replicas { 2 + 1 + 2 } else { 3 };
        assert_eq!(deny.cells.len(), expected_cells);
        let svc = deny
            .cells
            .iter()
            .find(|c| c.to == "svc:np-fixture/server")
            .unwrap();
        assert!(
            svc.target.starts_with("svc:np-fixture/server 10.96."),
            "{}",
            svc.target
        );
        assert!(svc.target.ends_with(":8080"), "{}", svc.target);
        assert_cleaned_up(&sim);
    }
}

#[tokio::test(start_paused = true)]
async fn a_scenario_with_cluster_scoped_objects_never_overlaps_another() {
    let sim = Arc::new(SimCluster::new(
        "r",
        Faults {
            latency: Some(crate::cluster::sim::Latency {
                exec_round_trip: Duration::from_millis(150),
                max_concurrent_execs: 8,
            }),
            ..Faults::default()
        },
    ));
    let one = |name: &str, ns: &str, extra: Vec<Document>| {
        let setup = pods(&[ns], &["a"], AGNHOST);
        let endpoints = keys(&[ns], &["a"]);
        let probes = matrix(&setup, &endpoints, &[80]);
        scenario(
            name,
            &[ns],
            setup,
            vec![step(
                "s",
                extra
                    .into_iter()
                    .map(|d| PlannedAction::Apply(vec![d]))
                    .collect(),
                probes,
            )],
        )
    };
    let global = docs(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: log-all}\nspec: {selector: has(nothing)}\n",
    );
    let plans = vec![
        one("p", "p", vec![]),
        one("g", "g", global),
        one("q", "q", vec![]),
        one("r", "r", vec![]),
    ];
    assert!(plans[1].exclusive());
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let runner = runner(
        &sim,
        RunOptions {
            max_parallel_scenarios: 4,
            ..options()
        },
    )
    .with_progress(Arc::new(move |p: &Progress| match p {
        Progress::ScenarioStarted { scenario, .. } => {
            sink.lock().unwrap().push(format!("+{scenario}"))
        }
        Progress::ScenarioFinished { scenario, .. } => {
            sink.lock().unwrap().push(format!("-{scenario}"))
        }
        _ => {}
    }));
    let outcomes = runner.run_all(&plans).await;
    assert_eq!(outcomes.len(), 4);
    let events = events.lock().unwrap().clone();
    let start = events.iter().position(|e| e == "+g").unwrap();
    assert_eq!(events[start + 1], "-g", "{events:?}");
    // The others still run together: q and r (queued behind g) overlap.
    let at = |e: &str| events.iter().position(|x| x == e).unwrap();
    assert!(at("+r") < at("-q") && at("+q") < at("-r"), "{events:?}");
}
