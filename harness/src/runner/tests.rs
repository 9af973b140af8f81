//! The runner on the simulated cluster: convergence, confirmation, non-vacuity, flapping,
//! failures that must never pass, cleanup, the exec budget, CNI profiles — every plan built by
//! the real loader and planner from a scenario folder.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::outcome::{CellOutcome, ScenarioOutcome, StepOutcome, StepVerdict};
use super::plan::{PlannedAction, ScenarioPlan};
use super::*;
use crate::cluster::sim::{Call, Enforcement, Faults, Flaky, Latency, SimCluster};
use crate::cluster::{PROBE_CONTAINER, PodRef};
use crate::probe::Outcome;
use crate::report::results::StepStatus;
use crate::report::run::render_step;
use crate::scenario::format::Expectation;
use crate::scenario::load_dir;

const AGNHOST: &str = "registry.k8s.io/e2e-test-images/agnhost:2.66.1";

/// The runner's fixture scenarios.
fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios")
}

/// The real scenarios.
fn scenarios() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// The plan of the scenario in `dir`, as `run` makes it (no remote manifests).
fn plan_of(dir: &Path) -> ScenarioPlan {
    let loaded = load_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    ScenarioPlan::new(&loaded, Vec::new()).unwrap_or_else(|e| panic!("{e}"))
}

/// A scenario folder written for one test.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes scenario `name` (its `scenario.yaml` is a header naming `requires`,
    /// `namespaces` and `setup`, then `rest`) with its manifests `files`; returns its plan.
    fn scenario(
        &self,
        name: &str,
        requires: &str,
        namespaces: &[&str],
        files: &[(&str, String)],
        rest: &str,
    ) -> ScenarioPlan {
        let folder = self.dir.path().join(name);
        std::fs::create_dir_all(&folder).unwrap();
        for (file, text) in files {
            std::fs::write(folder.join(file), text).unwrap();
        }
        let setup = if files.iter().any(|(f, _)| *f == "setup.yaml") {
            "setup: [setup.yaml]\n"
        } else {
            ""
        };
        std::fs::write(
            folder.join("scenario.yaml"),
            format!(
                "name: {name}\ntitle: {name}\nsource: {{title: runner test, url: \"https://example.com/{name}\"}}\n\
                 requires: [{requires}]\nnamespaces: [{}]\n{setup}{rest}",
                namespaces.join(", ")
            ),
        )
        .unwrap();
        plan_of(&folder)
    }
}

/// Pods `ns/name` for every namespace × name, labelled `pod=<name>`, serving 80 and 81.
fn pods(namespaces: &[&str], names: &[&str], image: &str) -> String {
    let mut yaml = String::new();
    for ns in namespaces {
        for name in names {
            yaml.push_str(&format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{pod: {name}}}}}\n\
                 spec:\n  containers:\n  - name: cont\n    image: {image}\n    ports:\n    - {{containerPort: 80, name: serve-80-tcp}}\n    - {{containerPort: 81, name: serve-81-tcp}}\n"
            ));
        }
    }
    yaml
}

fn deny_ingress(ns: &str) -> String {
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny-ingress, namespace: {ns}}}\nspec: {{podSelector: {{}}, policyTypes: [Ingress]}}\n"
    )
}

fn deny_egress_of(ns: &str, pod: &str) -> String {
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny-egress-{pod}, namespace: {ns}}}\nspec: {{podSelector: {{matchLabels: {{pod: {pod}}}}}, policyTypes: [Egress]}}\n"
    )
}

fn keys(namespaces: &[&str], names: &[&str]) -> Vec<String> {
    namespaces
        .iter()
        .flat_map(|ns| names.iter().map(move |n| format!("{ns}/{n}")))
        .collect()
}

/// A TCP matrix over `endpoints` on `port`, `mark(from, to)` giving each cell's mark.
fn matrix(endpoints: &[String], port: u16, mark: impl Fn(&str, &str) -> &'static str) -> String {
    let list = endpoints.join(", ");
    let mut yaml = format!(
        "  - kind: tcp\n    port: {port}\n    from: [{list}]\n    to: [{list}]\n    expect: |\n"
    );
    for from in endpoints {
        let marks: Vec<&str> = endpoints.iter().map(|to| mark(from, to)).collect();
        yaml.push_str(&format!("      {}\n", marks.join(" ")));
    }
    yaml
}

fn open(_: &str, _: &str) -> &'static str {
    "."
}

/// The 2-namespace model (x, y × a, b) with a no-policy step and a step applying `policies`,
/// whose cells `blocked(from, to)` are expected blocked.
fn deny_scenario(
    fixture: &Fixture,
    requires: &str,
    policies: String,
    blocked: impl Fn(&str, &str) -> bool,
) -> ScenarioPlan {
    let endpoints = keys(&["x", "y"], &["a", "b"]);
    fixture.scenario(
        "deny",
        requires,
        &["x", "y"],
        &[
            ("setup.yaml", pods(&["x", "y"], &["a", "b"], AGNHOST)),
            ("policies.yaml", policies),
        ],
        &format!(
            "steps:\n- name: no-policy\n  matrices:\n{}- name: deny\n  actions:\n  - apply: [policies.yaml]\n  matrices:\n{}",
            matrix(&endpoints, 80, open),
            matrix(&endpoints, 80, |f, t| if blocked(f, t) { "X" } else { "." }),
        ),
    )
}

/// [`deny_scenario`] with ingress to x denied.
fn deny_x(fixture: &Fixture) -> ScenarioPlan {
    deny_scenario(fixture, "ingress", deny_ingress("x"), |_, to| {
        to.starts_with("x/")
    })
}

/// The claims only: these tests count the cells, rounds and execs the fixtures claim (the whole
/// matrix has its own tests, in `full_matrix`).
fn options() -> RunOptions {
    RunOptions {
        deadline: Duration::from_secs(10),
        matrix: MatrixScope::Claims,
        ..RunOptions::default()
    }
}

fn runner(sim: &Arc<SimCluster>, options: RunOptions) -> Runner<SimCluster> {
    Runner::new(sim.clone(), options)
}

fn sim(faults: Faults) -> Arc<SimCluster> {
    Arc::new(SimCluster::new("r", faults))
}

fn with_cni(name: &str) -> RunOptions {
    RunOptions {
        cni: Some(CniProfile::by_name(name).unwrap()),
        ..options()
    }
}

fn assert_cleaned_up(sim: &SimCluster) {
    assert!(
        sim.owned_objects().is_empty(),
        "left: {:?}",
        sim.owned_objects()
    );
    assert_eq!(sim.namespaces(), vec!["default", "kube-system"]);
}

#[test]
fn loads_and_plans_the_fixture_with_the_oracle_explaining_each_probe() {
    let plan = plan_of(&fixtures().join("two-pods"));
    assert_eq!(plan.name, "two-pods");
    assert_eq!(plan.setup.len(), 3);
    assert!(!plan.exclusive());
    let [no_policy, deny] = &plan.steps[..] else {
        panic!("two steps")
    };
    assert_eq!(no_policy.planned.probes.len(), 4);
    assert!(
        no_policy
            .planned
            .probes
            .iter()
            .all(|p| p.expected == Expectation::Allowed)
    );
    assert!(matches!(&deny.actions[..], [PlannedAction::Apply(d)] if d.len() == 1));
    assert_eq!(
        deny.planned.requires,
        [crate::capability::Capability::Ingress]
    );
    // Two single probes, then the matrix's one probed cell.
    assert_eq!(deny.planned.probes.len(), 3);
    for p in &deny.planned.probes {
        assert_eq!(p.predicted, Expectation::Blocked);
        assert!(p.reason.contains("default-deny-ingress"), "{}", p.reason);
    }
    assert_eq!(deny.planned.probes[2].probe.from, "np-fixture/server");
    assert_eq!(deny.planned.probes[2].probe.to, "np-fixture/client");
}

#[test]
fn a_scenario_the_oracle_disagrees_with_is_refused_with_the_command_that_shows_why() {
    let fixture = Fixture::new();
    let folder = fixture.dir.path().join("wrong");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("setup.yaml"),
        pods(&["x"], &["a", "b"], AGNHOST),
    )
    .unwrap();
    std::fs::write(folder.join("deny.yaml"), deny_ingress("x")).unwrap();
    std::fs::write(
        folder.join("scenario.yaml"),
        "name: wrong\ntitle: wrong\nsource: {title: t, url: \"https://example.com\"}\nrequires: [ingress]\nnamespaces: [x]\nsetup: [setup.yaml]\n\
         steps:\n- name: deny\n  actions:\n  - apply: [deny.yaml]\n  probes:\n  - {from: x/a, to: x/b, port: 80, kind: tcp, expect: allowed}\n  - {from: x/b, to: x/a, port: 80, kind: tcp, expect: blocked}\n",
    )
    .unwrap();
    let loaded = load_dir(&folder).unwrap();
    let err = ScenarioPlan::new(&loaded, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("scenario wrong is not run: its plan does not agree with the oracle:"),
        "{err}"
    );
    assert!(
        err.contains("steps[0].probes[0]: steps[0].probes[0]: x/a → x/b: the scenario expects allowed, the oracle predicts blocked"),
        "{err}"
    );
    assert!(
        err.contains("`netpol-harness validate wrong` shows why"),
        "{err}"
    );
}

/// A fetcher that must not be called, or serves one text.
struct FakeFetcher(Option<String>);

impl crate::cluster::remote::Fetcher for FakeFetcher {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, crate::cluster::remote::FetchError> {
        match &self.0 {
            Some(text) => Ok(text.clone().into_bytes()),
            None => panic!("{url} fetched"),
        }
    }
}

#[tokio::test]
async fn remote_manifests_are_fetched_pinned_and_unpinned_ones_refused() {
    let fixture = Fixture::new();
    let cache = crate::cluster::remote::ManifestCache::new(fixture.dir.path().join("cache"));
    let remote = "apiVersion: v1\nkind: Namespace\nmetadata: {name: projectcontour}\n".to_string();
    let pin = crate::cluster::remote::sha256_hex(remote.as_bytes());
    let write = |sha: &str| {
        let folder = fixture.dir.path().join("remote");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("setup.yaml"), pods(&["x"], &["a"], AGNHOST)).unwrap();
        std::fs::write(
            folder.join("scenario.yaml"),
            format!("name: remote\ntitle: t\nsource: {{title: t, url: \"https://example.com\"}}\nnamespaces: [x]\n\
                     remote:\n- {{url: \"https://example.com/contour.yaml\", sha256: {sha}}}\nsetup: [setup.yaml]\n\
                     steps:\n- name: s\n  probes:\n  - {{from: x/a, to: x/a, port: 80, kind: tcp, expect: allowed}}\n"),
        )
        .unwrap();
        load_dir(&folder).unwrap()
    };
    let unpinned = write("unpinned");
    let err = plan::remote_documents(&unpinned, &cache, &FakeFetcher(None))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "scenario remote: the remote manifest https://example.com/contour.yaml is not pinned (`sha256: unpinned`): it is not applied to a cluster until its SHA-256 is written in the scenario file (`netpol-harness validate remote` warns about it)"
    );
    let pinned = write(&pin);
    let docs = plan::remote_documents(&pinned, &cache, &FakeFetcher(Some(remote)))
        .await
        .unwrap();
    let plan = ScenarioPlan::new(&pinned, docs).unwrap();
    // The remote manifests come first, then the setup files.
    let kinds: Vec<&str> = plan.setup.iter().map(|d| d.kind()).collect();
    assert_eq!(kinds, ["Namespace", "Pod"]);
    assert!(plan.exclusive(), "a namespace the scenario does not own");
    // The cache serves it the second time.
    assert_eq!(
        plan::remote_documents(&pinned, &cache, &FakeFetcher(None))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn converges_through_a_propagation_delay_then_confirms() {
    let sim = sim(Faults {
        propagation_delay: Duration::from_secs(3),
        ..Faults::default()
    });
    let fixture = Fixture::new();
    let outcome = runner(&sim, options())
        .run_scenario(&deny_x(&fixture), None)
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
    // What the batch script's tool printed, as the probe parser read it.
    assert!(
        to_x.iter().all(|c| c.detail == "[agnhost exit 1] TIMEOUT"),
        "{:?}",
        to_x[0].detail
    );
    assert!(
        second.cells[0]
            .why
            .as_deref()
            .is_some_and(|w| w.contains("NetworkPolicy x/deny-ingress")),
        "{:?}",
        second.cells[0].why
    );
    assert!(outcome.passed());
    assert_cleaned_up(&sim);
}

#[tokio::test(start_paused = true)]
async fn a_cni_ignoring_egress_fails_exactly_the_egress_cells() {
    let sim = sim(Faults {
        enforcement: Enforcement::IgnoresEgress,
        ..Faults::default()
    });
    let fixture = Fixture::new();
    let policies = deny_egress_of("x", "a") + &deny_ingress("y");
    let plan = deny_scenario(&fixture, "ingress, egress", policies, |from, to| {
        from == "x/a" || to.starts_with("y/")
    });
    let outcome = runner(&sim, options()).run_scenario(&plan, None).await;
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
            .starts_with("2 of 16 probes ended wrong (2 expected blocked but allowed)"),
        "{}",
        step.reason
    );
    let text = render_step("deny", step);
    assert!(text.contains("that policy is not enforced"), "{text}");
    assert_cleaned_up(&sim);
}

#[tokio::test(start_paused = true)]
async fn a_cni_that_enforces_nothing_is_reported_not_enforced() {
    let sim = sim(Faults {
        enforcement: Enforcement::None,
        ..Faults::default()
    });
    let fixture = Fixture::new();
    let outcome = runner(&sim, options())
        .run_scenario(&deny_x(&fixture), None)
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
    // Without a CNI profile every step applies: not enforcing policy is a failure.
    assert_eq!(step.result().status, StepStatus::Fail);
    assert!(!outcome.ok());
    assert_cleaned_up(&sim);
}

#[tokio::test(start_paused = true)]
async fn named_ports_that_are_ignored_show_as_dropped_traffic() {
    let sim = sim(Faults {
        enforcement: Enforcement::IgnoresNamedPorts,
        ..Faults::default()
    });
    let fixture = Fixture::new();
    let policies = deny_ingress("x")
        + "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-81, namespace: x}\n\
           spec: {podSelector: {}, ingress: [{ports: [{port: serve-81-tcp}]}]}\n";
    let endpoints = keys(&["x"], &["a", "b"]);
    let plan = fixture.scenario(
        "named",
        "ingress, named-ports",
        &["x"],
        &[
            ("setup.yaml", pods(&["x"], &["a", "b"], AGNHOST)),
            ("policies.yaml", policies),
        ],
        &format!(
            "steps:\n- name: allow-named\n  actions:\n  - apply: [policies.yaml]\n  matrices:\n{}{}",
            matrix(&endpoints, 80, |_, _| "X"),
            matrix(&endpoints, 81, open)
        ),
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
    let sim = sim(Faults {
        propagation_delay: Duration::from_secs(2),
        flaky: Some(Flaky {
            seed: 7,
            per_mille: 150,
        }),
        ..Faults::default()
    });
    let fixture = Fixture::new();
    let outcome = runner(&sim, options())
        .run_scenario(&deny_x(&fixture), None)
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
    let sim = sim(Faults {
        failing_execs: BTreeSet::from(["x/a".to_string()]),
        ..Faults::default()
    });
    let fixture = Fixture::new();
    let outcome = runner(&sim, options())
        .run_scenario(&deny_x(&fixture), None)
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
    let sim = sim(Faults {
        failing_first_execs: 2,
        ..Faults::default()
    });
    let fixture = Fixture::new();
    let outcome = runner(&sim, options())
        .run_scenario(&deny_x(&fixture), None)
        .await;
    let first = &outcome.steps[0];
    assert_eq!(first.verdict, StepVerdict::Pass, "{}", first.reason);
    assert!(first.confirmed && first.rounds == 3, "{first:?}");
    assert!(outcome.passed());
}

#[tokio::test(start_paused = true)]
async fn a_pod_that_never_becomes_ready_fails_clearly_and_is_cleaned_up() {
    let sim = sim(Faults {
        never_ready: BTreeSet::from(["y/b".to_string()]),
        ..Faults::default()
    });
    let fixture = Fixture::new();
    let outcome = runner(&sim, options())
        .run_scenario(&deny_x(&fixture), None)
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
    let sim = sim(Faults {
        propagation_delay: Duration::from_secs(2),
        ..Faults::default()
    });
    let plan = plan_of(&fixtures().join("upstream-9-pods"));
    let only = BTreeSet::from(["deny-ingress-x".to_string()]);
    let outcome = runner(&sim, options())
        .run_scenario(&plan, Some(&only))
        .await;
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
    // Before the scenario's first policy, the baseline round probed each destination port
    // the steps expect blocked once (one exec per source it picked, at most one per pod).
    let baseline = execs.len() - step.execs;
    assert!((1..=9).contains(&baseline), "{baseline} baseline execs");
    let execs = &execs[baseline..];
    // Every source probes x, so every round (first, re-probes, confirmation) has 9 execs.
    assert_eq!(sim.probe_execs(), baseline + execs.len());
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
    let outcome = runner(&sim, per_cell)
        .run_scenario(&plan, Some(&only))
        .await;
    assert_eq!(outcome.steps[0].execs, 162);
}

#[tokio::test(start_paused = true)]
async fn batches_expecting_a_timeout_start_first_so_quick_ones_fill_the_slots() {
    // 9 sources, 8 exec slots, one source whose batch times out (x/a may send nowhere).
    let fixture = Fixture::new();
    let endpoints = keys(&["x", "y", "z"], &["a", "b", "c"]);
    let plan = fixture.scenario(
        "one-slow",
        "egress",
        &["x", "y", "z"],
        &[
            (
                "setup.yaml",
                pods(&["x", "y", "z"], &["a", "b", "c"], AGNHOST),
            ),
            ("deny.yaml", deny_egress_of("x", "a")),
        ],
        &format!(
            "steps:\n- name: deny\n  actions:\n  - apply: [deny.yaml]\n  matrices:\n{}",
            matrix(&endpoints, 80, |from, _| if from == "x/a" {
                "X"
            } else {
                "."
            })
        ),
    );
    let sim = sim(Faults {
        latency: Some(Latency {
            exec_round_trip: Duration::from_millis(150),
            max_concurrent_execs: 8,
        }),
        ..Faults::default()
    });
    let outcome = runner(&sim, options()).run_scenario(&plan, None).await;
    let step = &outcome.steps[0];
    assert_eq!(step.verdict, StepVerdict::Pass, "{}", step.reason);
    assert_eq!((step.rounds, step.execs), (1, 9));
    // The slow batch (150 ms + 1 s) starts at once and the ninth quick one takes the slot the
    // first quick one leaves: 1.15 s in all, not 0.15 s + 1.15 s.
    let probing = step.duration;
    assert!(
        probing >= Duration::from_millis(1150) && probing < Duration::from_millis(1200),
        "{probing:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn pods_without_a_shell_are_probed_from_the_ephemeral_container() {
    let sim = sim(Faults {
        without_shell: BTreeSet::from(["x/a".to_string()]),
        ..Faults::default()
    });
    let fixture = Fixture::new();
    let endpoints = keys(&["x"], &["a", "b"]);
    let plan = fixture.scenario(
        "distroless",
        "",
        &["x"],
        &[(
            "setup.yaml",
            pods(&["x"], &["a", "b"], "gcr.io/distroless/static:nonroot"),
        )],
        &format!(
            "steps:\n- name: no-policy\n  matrices:\n{}",
            matrix(&endpoints, 80, open)
        ),
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
    let sim = sim(Faults::default());
    let fixture = Fixture::new();
    let plan = fixture.scenario(
        "shared",
        "ingress",
        &["x"],
        &[
            ("setup.yaml", pods(&["x"], &["a"], AGNHOST)),
            ("shared.yaml", deny_ingress("default")),
        ],
        "steps:\n- name: apply\n  nothingBlocked: the policy isolates namespace default, which nothing probes\n  actions:\n  - apply: [shared.yaml]\n  probes:\n  - {from: x/a, to: x/a, port: 80, kind: tcp, expect: allowed}\n",
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
    let sim = sim(Faults {
        never_ready: BTreeSet::from(["x/a".to_string()]),
        ..Faults::default()
    });
    let runner = runner(&sim, options());
    let fixture = Fixture::new();
    let plan = deny_x(&fixture);
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

/// Ctrl-C while a scenario is being cleaned up (deletions are slow): what that cleanup had not
/// deleted yet is still deleted by `cleanup_pending`, not leaked.
#[tokio::test(start_paused = true)]
async fn a_cleanup_interrupted_part_way_is_finished_by_cleanup_pending() {
    let sim = sim(Faults {
        delete_latency: Duration::from_secs(10),
        ..Faults::default()
    });
    let runner = runner(&sim, options());
    let fixture = Fixture::new();
    let plan = fixture.scenario(
        "shared",
        "ingress",
        &["x"],
        &[
            ("setup.yaml", pods(&["x"], &["a"], AGNHOST)),
            ("shared.yaml", deny_ingress("default")),
        ],
        "steps:\n- name: apply\n  nothingBlocked: the policy isolates namespace default, which nothing probes\n  actions:\n  - apply: [shared.yaml]\n  probes:\n  - {from: x/a, to: x/a, port: 80, kind: tcp, expect: allowed}\n",
    );
    let finished = std::sync::atomic::AtomicBool::new(false);
    let plans = [plan];
    let run = runner.run(&plans, |event| {
        if matches!(event, RunEvent::StepFinished { .. }) {
            finished.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        ControlFlow::Continue(())
    });
    let mut run = Box::pin(run);
    // Drive the scenario until its step has finished: the cleanup starts right after.
    while !finished.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::select! {
            _ = &mut run => panic!("the cleanup takes 20 s; it cannot have finished"),
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
    // Interrupted 5 s into the cleanup: the policy in default is being deleted, namespace x is
    // not yet.
    assert!(
        tokio::time::timeout(Duration::from_secs(5), &mut run)
            .await
            .is_err()
    );
    drop(run);
    assert!(runner.cleanup_pending().await.is_empty());
    assert_cleaned_up(&sim);
}

/// Ctrl-C (here a timer standing in for it) while a scenario waits for its pods: the run ends
/// interrupted (exit 130), says so before cleaning up, and leaves nothing behind.
#[tokio::test(start_paused = true)]
async fn an_interrupted_run_deletes_what_it_created_and_exits_130() {
    let sim = sim(Faults {
        never_ready: BTreeSet::from(["x/a".to_string()]),
        ..Faults::default()
    });
    let runner =
        runner(&sim, options()).interrupt_on(|| tokio::time::sleep(Duration::from_secs(5)));
    let fixture = Fixture::new();
    let plans = [deny_x(&fixture)];
    let mut seen = Vec::new();
    let outcome = runner
        .run(&plans, |event| {
            seen.push(match event {
                RunEvent::ScenarioStarted { .. } => "started",
                RunEvent::Interrupted => {
                    // Told before the cleanup: the namespaces are still there.
                    assert!(sim.namespaces().contains(&"x".to_string()));
                    "interrupted"
                }
                RunEvent::RunFinished { .. } => "finished",
                RunEvent::NamespaceGone { .. } => "gone",
                _ => "other",
            });
            ControlFlow::Continue(())
        })
        .await;
    assert!(
        matches!(&outcome.end, RunEnd::Interrupted { cleanup_errors } if cleanup_errors.is_empty()),
        "{:?}",
        outcome.end
    );
    assert!(outcome.scenarios.is_empty());
    assert_eq!(
        outcome.exit_code(),
        std::process::ExitCode::from(crate::exit_codes::INTERRUPTED)
    );
    assert_eq!(seen.first(), Some(&"started"));
    // The deleted namespaces x and y are awaited after the cleanup, before the end.
    assert_eq!(
        seen[seen.len() - 4..],
        ["interrupted", "gone", "gone", "finished"]
    );
    assert_cleaned_up(&sim);
}

/// The callback breaks after the first step: that scenario stops there and is cleaned up, and
/// the scenario queued behind it never starts.
#[tokio::test(start_paused = true)]
async fn a_break_from_the_callback_stops_the_run_at_the_next_step_boundary() {
    let sim = sim(Faults::default());
    let runner = runner(
        &sim,
        RunOptions {
            max_parallel_scenarios: 1,
            ..options()
        },
    );
    let (first, second) = (Fixture::new(), Fixture::new());
    let plans = [deny_x(&first), deny_x(&second)];
    let mut started = 0;
    let mut last = None;
    let outcome = runner
        .run(&plans, |event| match event {
            RunEvent::ScenarioStarted { .. } => {
                started += 1;
                ControlFlow::Continue(())
            }
            RunEvent::StepFinished { .. } => ControlFlow::Break(()),
            RunEvent::RunFinished { outcome } => {
                last = Some(outcome.scenarios.len());
                ControlFlow::Continue(())
            }
            _ => ControlFlow::Continue(()),
        })
        .await;
    assert!(matches!(outcome.end, RunEnd::Stopped), "{:?}", outcome.end);
    assert_eq!(started, 1);
    assert_eq!(last, Some(1), "RunFinished comes last, with the outcome");
    assert_eq!(outcome.scenarios.len(), 1);
    let steps: Vec<&str> = outcome.scenarios[0]
        .steps
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(steps, ["no-policy"]);
    assert_eq!(outcome.exit_code(), std::process::ExitCode::SUCCESS);
    assert_cleaned_up(&sim);
    // The deny step never ran: its policy was never applied.
    assert!(
        !sim.calls().iter().any(
            |c| matches!(c, Call::Apply(k) if k.iter().any(|k| k.starts_with("NetworkPolicy")))
        )
    );
}

#[tokio::test(start_paused = true)]
async fn only_selected_steps_are_probed_but_earlier_actions_still_run() {
    let sim = sim(Faults::default());
    let fixture = Fixture::new();
    let endpoints = keys(&["x", "y"], &["a", "b"]);
    let plan = fixture.scenario(
        "deny",
        "ingress",
        &["x", "y"],
        &[
            ("setup.yaml", pods(&["x", "y"], &["a", "b"], AGNHOST)),
            ("policies.yaml", deny_ingress("x")),
        ],
        &format!(
            "steps:\n- name: no-policy\n  matrices:\n{}- name: deny\n  actions:\n  - apply: [policies.yaml]\n  matrices:\n{}\
             - name: unreached\n  actions:\n  - delete: [policies.yaml]\n  matrices:\n{}",
            matrix(&endpoints, 80, open),
            matrix(&endpoints, 80, |_, to| if to.starts_with("x/") { "X" } else { "." }),
            matrix(&endpoints, 80, open),
        ),
    );
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
    // The step after the last selected one never ran: the policy was not deleted by it.
    assert!(
        !sim.calls()
            .iter()
            .any(|c| matches!(c, Call::Delete(k) if k[0].starts_with("NetworkPolicy")))
    );
}

#[tokio::test]
async fn probes_from_outside_go_through_the_harness_http_client() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut requests = Vec::new();
        for status in ["200 OK", "503 Service Unavailable"] {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            requests.push(String::from_utf8_lossy(&buf[..n]).to_string());
            let response = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            s.write_all(response.as_bytes()).await.unwrap();
        }
        requests
    });
    let sim = sim(Faults::default());
    let fixture = Fixture::new();
    let web = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: echo, namespace: web, labels: {app: echo}}\n\
               spec: {containers: [{name: c, image: hashicorp/http-echo, ports: [{containerPort: 5678}]}]}\n\
               ---\napiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: web}\n\
               spec: {selector: {app: echo}, ports: [{port: 80, targetPort: 5678}]}\n\
               ---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: echo, namespace: web}\n\
               spec: {rules: [{http: {paths: [{path: /echo, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]}}]}\n";
    let plan = fixture.scenario(
        "outside",
        "ingress-controller",
        &["web"],
        &[("setup.yaml", web.to_string())],
        "provides:\n- {namespace: projectcontour, name: envoy, labels: {app: envoy}, ports: [{name: http, port: 8080}]}\n\
         steps:\n- name: through-ingress\n  probes:\n\
         \x20 - {from: outside, to: \"ingress:/echo\", kind: http, method: POST, expect: {status: 200}}\n\
         \x20 - {from: outside, to: \"ingress:/echo\", kind: http, method: POST, expect: {status: 200}}\n",
    );
    let options = RunOptions {
        outside_address: address,
        deadline: Duration::ZERO,
        ..options()
    };
    let outcome = runner(&sim, options).run_scenario(&plan, None).await;
    let requests = server.await.unwrap();
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
    assert!(
        requests[0].starts_with("POST /echo HTTP/1.1") && requests[0].contains("host: localhost"),
        "{requests:?}"
    );
}

/// A stand-in for Envoy whose upstream is dropped: it answers every request with 503, but only
/// after Contour's 2-s connect timeout, as Envoy does.
async fn slow_envoy() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                tokio::time::sleep(super::ENVOY_CONNECT_TIMEOUT).await;
                let _ = s
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    address
}

#[tokio::test]
async fn envoys_503_after_its_2s_connect_timeout_is_seen_as_503_not_as_blocked() {
    let address = slow_envoy().await;
    let sim = sim(Faults::default());
    let fixture = Fixture::new();
    let web = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: echo, namespace: web, labels: {app: echo}}\n\
               spec: {containers: [{name: c, image: hashicorp/http-echo, ports: [{containerPort: 5678}]}]}\n\
               ---\napiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: web}\n\
               spec: {selector: {app: echo}, ports: [{port: 80, targetPort: 5678}]}\n\
               ---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: echo, namespace: web}\n\
               spec: {rules: [{http: {paths: [{path: /echo, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]}}]}\n\
               ---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: web}\n\
               spec: {podSelector: {}, policyTypes: [Ingress]}\n";
    let plan = fixture.scenario(
        "envoy",
        "ingress, ingress-controller",
        &["web"],
        &[("setup.yaml", web.to_string())],
        "provides:\n- {namespace: projectcontour, name: envoy, labels: {app: envoy}, ports: [{name: http, port: 8080}]}\n\
         steps:\n- name: upstream-denied\n  probes:\n\
         \x20 - {from: outside, to: \"ingress:/echo\", kind: http, expect: {status: 503}}\n",
    );
    // The run's timeout is the 1-s default: HTTP through the ingress controller waits longer.
    let options = RunOptions {
        outside_address: address,
        deadline: Duration::ZERO,
        probe_timeout: Duration::from_secs(1),
        ..options()
    };
    let started = std::time::Instant::now();
    let outcome = runner(&sim, options.clone())
        .run_scenario(&plan, None)
        .await;
    let step = &outcome.steps[0];
    assert_eq!(
        step.cells[0].observed,
        Outcome::HttpStatus(503),
        "{}",
        step.reason
    );
    assert_eq!(step.verdict, StepVerdict::Pass, "{}", step.reason);
    assert!(started.elapsed() >= super::ENVOY_CONNECT_TIMEOUT);

    // A probe's own `timeout:` wins: half a second is too short to see Envoy's answer.
    let plan = fixture.scenario(
        "envoy-short",
        "ingress, ingress-controller",
        &["web"],
        &[("setup.yaml", web.to_string())],
        "provides:\n- {namespace: projectcontour, name: envoy, labels: {app: envoy}, ports: [{name: http, port: 8080}]}\n\
         steps:\n- name: upstream-denied\n  probes:\n\
         \x20 - {from: outside, to: \"ingress:/echo\", kind: http, expect: {status: 503}, timeout: 0.5}\n",
    );
    let outcome = runner(&sim, options).run_scenario(&plan, None).await;
    assert_eq!(outcome.steps[0].cells[0].observed, Outcome::Blocked);
}

#[test]
fn probe_timeouts_fit_what_they_measure() {
    use crate::scenario::format::ScenarioProbeKind::*;
    let second = Duration::from_secs(1);
    assert_eq!(
        super::probe_timeout(second, Http, true, None),
        super::INGRESS_HTTP_TIMEOUT
    );
    assert!(super::INGRESS_HTTP_TIMEOUT > super::ENVOY_CONNECT_TIMEOUT);
    assert_eq!(
        super::probe_timeout(second, Http, false, None),
        super::POD_HTTP_TIMEOUT
    );
    assert_eq!(super::probe_timeout(second, Tcp, false, None), second);
    assert_eq!(super::probe_timeout(second, Dns, false, None), second);
    // A longer run-wide timeout is kept; an explicit one is taken as written.
    let ten = Duration::from_secs(10);
    assert_eq!(super::probe_timeout(ten, Http, true, None), ten);
    assert_eq!(
        super::probe_timeout(ten, Http, true, Some(0.5)),
        Duration::from_millis(500)
    );
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
        matched: outcome::matches(expected, &observed, false),
        observed: observed.clone(),
        detail: String::new(),
        flapped: false,
        port_served: false,
        history: vec![observed],
        why: None,
        derived: false,
        unasserted: None,
        locality: None,
        family: None,
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
    let fixture = Fixture::new();
    let probe = "  probes:\n  - {from: x/a, to: x/a, port: 80, kind: tcp, expect: allowed}\n";
    let setup = ("setup.yaml", pods(&["x"], &["a"], AGNHOST));
    let own = fixture.scenario(
        "own",
        "",
        &["x"],
        std::slice::from_ref(&setup),
        &format!("steps:\n- name: s\n{probe}"),
    );
    assert!(!own.exclusive());
    let global = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: log}\nspec: {selector: has(nothing), types: [Ingress]}\n";
    let calico = fixture.scenario(
        "calico",
        "ingress, calico-crds",
        &["x"],
        &[setup.clone(), ("global.yaml", global.to_string())],
        &format!(
            "steps:\n- name: g\n  nothingBlocked: it selects nothing\n  actions:\n  - apply: [global.yaml]\n{probe}"
        ),
    );
    assert!(calico.exclusive());
    let labels_default = fixture.scenario(
        "labels-default",
        "",
        &["x"],
        &[setup],
        &format!("steps:\n- name: l\n  actions:\n  - label: {{namespace: default, set: {{team: a}}}}\n{probe}"),
    );
    assert!(labels_default.exclusive());
}

#[tokio::test(start_paused = true)]
async fn scenarios_in_distinct_namespaces_run_together_and_all_report() {
    let sim = sim(Faults::default());
    let fixture = Fixture::new();
    let one = |name: &str, ns: &str| {
        fixture.scenario(
            name,
            "",
            &[ns],
            &[("setup.yaml", pods(&[ns], &["a"], AGNHOST))],
            &format!(
                "steps:\n- name: s\n  matrices:\n{}",
                matrix(&keys(&[ns], &["a"]), 80, open)
            ),
        )
    };
    let plans = vec![one("p", "p"), one("q", "q"), one("p-again", "p")];
    let outcomes = runner(&sim, options())
        .run(&plans, |_| ControlFlow::Continue(()))
        .await
        .scenarios;
    let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["p", "q", "p-again"]);
    assert!(outcomes.iter().all(ScenarioOutcome::passed));
    assert_cleaned_up(&sim);
}

#[tokio::test(start_paused = true)]
async fn the_fixture_scenario_passes_on_a_conforming_cluster_with_one_or_all_replicas() {
    let plan = plan_of(&fixtures().join("two-pods"));
    for all_replicas in [false, true] {
        let sim = sim(Faults::default());
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
                render_step("two-pods", step)
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
    let sim = sim(Faults {
        latency: Some(Latency {
            exec_round_trip: Duration::from_millis(150),
            max_concurrent_execs: 8,
        }),
        ..Faults::default()
    });
    let fixture = Fixture::new();
    let global = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: log-all}\nspec: {selector: has(nothing), types: [Ingress]}\n";
    let one = |name: &str, ns: &str, global_policy: bool| {
        let mut files = vec![("setup.yaml", pods(&[ns], &["a"], AGNHOST))];
        let mut step = "- name: s\n".to_string();
        let mut requires = "";
        if global_policy {
            files.push(("global.yaml", global.to_string()));
            step.push_str(
                "  nothingBlocked: it selects nothing\n  actions:\n  - apply: [global.yaml]\n",
            );
            requires = "ingress, calico-crds";
        }
        fixture.scenario(
            name,
            requires,
            &[ns],
            &files,
            &format!(
                "steps:\n{step}  matrices:\n{}",
                matrix(&keys(&[ns], &["a"]), 80, open)
            ),
        )
    };
    let plans = vec![
        one("p", "p", false),
        one("g", "g", true),
        one("q", "q", false),
        one("r", "r", false),
    ];
    assert!(plans[1].exclusive());
    let mut events = Vec::new();
    let runner = runner(
        &sim,
        RunOptions {
            max_parallel_scenarios: 4,
            ..options()
        },
    );
    let outcomes = runner
        .run(&plans, |event| {
            match event {
                RunEvent::ScenarioStarted { plan, .. } => events.push(format!("+{}", plan.name)),
                RunEvent::ScenarioFinished { outcome } => events.push(format!("-{}", outcome.name)),
                _ => {}
            }
            ControlFlow::Continue(())
        })
        .await
        .scenarios;
    assert_eq!(outcomes.len(), 4);
    let start = events.iter().position(|e| e == "+g").unwrap();
    assert_eq!(events[start + 1], "-g", "{events:?}");
    // The others still run together: q and r (queued behind g) overlap.
    let at = |e: &str| events.iter().position(|x| x == e).unwrap();
    assert!(at("+r") < at("-q") && at("+q") < at("-r"), "{events:?}");
}

#[tokio::test(start_paused = true)]
async fn the_tutorial_scenarios_pass_on_a_conforming_cluster() {
    // Every scenario but the one whose steps go through Contour from outside the cluster.
    for name in [
        "calico-about-network-policy",
        "calico-zero-trust",
        "http-echo-busybox",
        "nginx-busybox-default",
    ] {
        let plan = plan_of(&scenarios().join(name));
        let sim = sim(Faults::default());
        let outcome = runner(&sim, options()).run_scenario(&plan, None).await;
        assert_eq!(outcome.steps.len(), plan.steps.len());
        for (step, planned) in outcome.steps.iter().zip(&plan.steps) {
            assert_eq!(
                step.verdict,
                StepVerdict::Pass,
                "{}",
                render_step(name, step)
            );
            assert!(step.cells.len() >= planned.planned.probes.len() && step.execs > 0);
        }
        assert!(outcome.ok(), "{name}");
        assert_cleaned_up(&sim);
    }
}

#[tokio::test(start_paused = true)]
async fn dns_lookups_ask_kube_dns_and_http_posts_go_through_the_real_batch() {
    let plan = plan_of(&scenarios().join("calico-zero-trust"));
    let sim = sim(Faults::default());
    let only = BTreeSet::from(["default-open".to_string(), "default-deny".to_string()]);
    let outcome = runner(&sim, options())
        .run_scenario(&plan, Some(&only))
        .await;
    let open_step = outcome.step("default-open").unwrap();
    let dns = open_step
        .cells
        .iter()
        .find(|c| c.kind.starts_with("dns "))
        .unwrap();
    assert_eq!(dns.kind, "dns nginx.shams.svc.cluster.local");
    assert_eq!(
        dns.target,
        "dns:nginx.shams.svc.cluster.local via kube-system/kube-dns 10.96.0.10"
    );
    assert!(
        dns.detail.starts_with("[nslookup exit 0] Server:"),
        "{}",
        dns.detail
    );
    let denied = outcome.step("default-deny").unwrap();
    let dns = denied
        .cells
        .iter()
        .find(|c| c.kind.starts_with("dns "))
        .unwrap();
    assert_eq!(dns.observed, Outcome::Blocked);
    assert!(
        dns.detail.contains("no servers could be reached"),
        "{}",
        dns.detail
    );
    let icmp = denied.cells.iter().find(|c| c.kind == "icmp").unwrap();
    assert_eq!((icmp.port, &icmp.observed), (None, &Outcome::Blocked));
}

#[tokio::test(start_paused = true)]
async fn not_applicable_steps_run_their_actions_but_skip_their_probes() {
    // calico-zero-trust on a CNI without the internet would skip its -internet steps; model it
    // with a profile that lacks it.
    let plan = plan_of(&scenarios().join("calico-zero-trust"));
    let mut calico = CniProfile::by_name("calico").unwrap();
    calico
        .enforces
        .remove(&crate::capability::Capability::Internet);
    let sim = sim(Faults::default());
    let options = RunOptions {
        cni: Some(calico),
        ..options()
    };
    let outcome = runner(&sim, options).run_scenario(&plan, None).await;
    let internet: Vec<&StepOutcome> = outcome
        .steps
        .iter()
        .filter(|s| s.name.ends_with("-internet"))
        .collect();
    assert_eq!(internet.len(), 3);
    for step in &internet {
        assert_eq!(step.verdict, StepVerdict::NotApplicable);
        assert!(step.cells.is_empty() && step.execs == 0);
        let result = step.result();
        assert_eq!(result.status, StepStatus::NotApplicable);
        assert_eq!(result.reason.as_deref(), Some("needs internet"));
    }
    // The steps after them saw their actions (the later steps pass only if they ran).
    for step in outcome
        .steps
        .iter()
        .filter(|s| !s.name.ends_with("-internet"))
    {
        assert_eq!(step.verdict, StepVerdict::Pass, "{}", step.reason);
    }
    assert!(outcome.ok());
    assert_cleaned_up(&sim);
}

#[tokio::test(start_paused = true)]
async fn a_scenario_none_of_whose_steps_applies_touches_nothing() {
    let plan = plan_of(&scenarios().join("calico-zero-trust"));
    let sim = sim(Faults::default());
    let outcome = runner(&sim, with_cni("cilium"))
        .run_scenario(&plan, None)
        .await;
    assert_eq!(outcome.steps.len(), plan.steps.len());
    for step in &outcome.steps {
        let result = step.result();
        assert_eq!(result.status, StepStatus::NotApplicable, "{}", step.name);
        assert_eq!(result.reason.as_deref(), Some("needs calico-crds"));
    }
    assert!(outcome.ok());
    assert!(sim.calls().is_empty(), "{:?}", sim.calls());
}

#[tokio::test(start_paused = true)]
async fn on_a_cni_that_enforces_nothing_policy_steps_are_not_enforced_and_a_pass_is_flagged() {
    let fixture = Fixture::new();
    let plan = deny_x(&fixture);
    // flannel, as a CNI that enforces nothing does: every step with blocked probes is "not
    // enforced", which is what the profile expects.
    let sim_none = sim(Faults {
        enforcement: Enforcement::None,
        ..Faults::default()
    });
    let outcome = runner(&sim_none, with_cni("flannel"))
        .run_scenario(&plan, None)
        .await;
    let statuses: Vec<StepStatus> = outcome.steps.iter().map(|s| s.result().status).collect();
    assert_eq!(statuses, [StepStatus::Pass, StepStatus::NotEnforced]);
    assert!(outcome.ok(), "expected on flannel");
    assert_eq!(outcome.steps[0].warning(), None, "nothing to block there");
    // The same profile on a cluster that does enforce: a surprising pass, kept, with a warning.
    let sim_full = sim(Faults::default());
    let outcome = runner(&sim_full, with_cni("flannel"))
        .run_scenario(&plan, None)
        .await;
    let deny = outcome.step("deny").unwrap();
    let result = deny.result();
    assert_eq!(result.status, StepStatus::Pass);
    assert!(
        result
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("passed although the CNI enforces no NetworkPolicy")),
        "{result:?}"
    );
    assert!(deny.warning().is_some());
}

#[tokio::test(start_paused = true)]
async fn a_failure_on_a_known_deviation_is_that_deviation_and_a_pass_stays_a_pass() {
    let fixture = Fixture::new();
    let plan = deny_x(&fixture);
    let mut kindnet = CniProfile::by_name("kindnet").unwrap();
    kindnet
        .known_deviations
        .push(crate::provision::cni::KnownDeviation {
            matches: crate::provision::cni::DeviationMatch::Step("deny/deny"),
            summary: "ingress isolation lags",
            issue_url: "https://github.com/kubernetes-sigs/kind/issues/0",
        });
    let options = RunOptions {
        cni: Some(kindnet),
        ..options()
    };
    let failing = sim(Faults {
        enforcement: Enforcement::None,
        ..Faults::default()
    });
    let outcome = runner(&failing, options.clone())
        .run_scenario(&plan, None)
        .await;
    let result = outcome.step("deny").unwrap().result();
    assert_eq!(result.status, StepStatus::KnownDeviation);
    assert_eq!(
        result.issue_url.as_deref(),
        Some("https://github.com/kubernetes-sigs/kind/issues/0")
    );
    assert!(
        result
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("ingress isolation lags: policy not enforced")),
        "{result:?}"
    );
    assert!(outcome.ok());
    let passing = sim(Faults::default());
    let outcome = runner(&passing, options).run_scenario(&plan, None).await;
    assert_eq!(
        outcome.step("deny").unwrap().result().status,
        StepStatus::Pass
    );
}

/// A scenario whose only step applies a deny-all ingress policy in x and expects x/a → x/b
/// blocked on TCP 80 (which x/b serves) and 82 (which it does not).
fn deny_first(fixture: &Fixture) -> ScenarioPlan {
    fixture.scenario(
        "deny-first",
        "ingress",
        &["x"],
        &[
            ("setup.yaml", pods(&["x"], &["a", "b"], AGNHOST)),
            ("policies.yaml", deny_ingress("x")),
        ],
        "steps:\n- name: deny\n  actions:\n  - apply: [policies.yaml]\n  probes:\n\
         \x20 - {from: x/a, to: x/b, port: 80, kind: tcp, expect: blocked}\n\
         \x20 - {from: x/a, to: x/b, port: 82, kind: tcp, expect: blocked}\n",
    )
}

#[tokio::test(start_paused = true)]
async fn a_rejection_passes_on_a_port_the_baseline_showed_served_and_nowhere_else() {
    let fixture = Fixture::new();
    let plan = deny_first(&fixture);
    let sim = sim(Faults {
        deny_style: crate::probe::DenyStyle::Reject,
        ..Faults::default()
    });
    let outcome = runner(&sim, options()).run_scenario(&plan, None).await;
    let step = &outcome.steps[0];
    let cell = |port: u16| {
        step.cells
            .iter()
            .find(|c| c.port == Some(port))
            .expect("the cell")
    };
    // The baseline round, before the policy, connected to 80 and was refused on 82.
    assert_eq!(cell(80).observed, Outcome::Refused);
    assert!(
        cell(80).port_served && cell(80).matched,
        "{cell:?}",
        cell = cell(80)
    );
    assert_eq!(cell(82).observed, Outcome::Refused);
    assert!(!cell(82).port_served && !cell(82).matched);
    assert!(
        cell(82).explanation().contains("port not served"),
        "{}",
        cell(82).explanation()
    );
    assert_eq!(step.verdict, StepVerdict::Fail);
    assert!(step.reason.contains("(port not served)"), "{}", step.reason);
    let result = step.result();
    assert_eq!(result.status, StepStatus::Fail);
    assert_eq!(result.deny_style.as_deref(), Some("reject"));
    // The baseline probed each destination port once, before the step's own round.
    let probe_execs = sim
        .calls()
        .iter()
        .filter(|c| {
            matches!(
                c,
                Call::Exec {
                    probes: Some(_),
                    ..
                }
            )
        })
        .count();
    assert!(probe_execs >= 2, "{probe_execs}");
    assert_cleaned_up(&sim);

    // Dropped, the same probes pass with no baseline needed: a closed port never times out.
    let sim = self::sim(Faults::default());
    let outcome = runner(&sim, options()).run_scenario(&plan, None).await;
    assert!(
        outcome.passed(),
        "{}",
        render_step(&plan.name, &outcome.steps[0])
    );
    assert_eq!(
        outcome.steps[0].result().deny_style.as_deref(),
        Some("drop")
    );
}

#[tokio::test(start_paused = true)]
async fn an_allowed_probe_shows_a_port_served_and_a_style_other_than_declared_is_a_note() {
    let fixture = Fixture::new();
    // deny_x: a no-policy step (everything allowed: every port shown served), then the policy.
    let plan = deny_x(&fixture);
    let sim = sim(Faults {
        deny_style: crate::probe::DenyStyle::Reject,
        ..Faults::default()
    });
    // Calico declares drop; this simulated CNI rejects.
    let outcome = runner(&sim, with_cni("calico"))
        .run_scenario(&plan, None)
        .await;
    let deny = outcome.step("deny").unwrap();
    assert!(deny.passed(), "{}", render_step(&plan.name, deny));
    assert!(deny.cells.iter().any(|c| c.observed == Outcome::Refused));
    let result = deny.result();
    assert_eq!(result.status, StepStatus::Pass);
    assert_eq!(result.deny_style.as_deref(), Some("reject"));
    let note = result.note.expect("a note");
    assert!(
        note.contains("saw reject") && note.contains("declares drop"),
        "{note}"
    );
    // Drop as declared: no note.
    let sim = self::sim(Faults::default());
    let outcome = runner(&sim, with_cni("calico"))
        .run_scenario(&plan, None)
        .await;
    let result = outcome.step("deny").unwrap().result();
    assert_eq!((result.status, result.note), (StepStatus::Pass, None));
}

/// A run killed mid-scenario (its future dropped, as a SIGKILL or a CI timeout leaves it: no
/// cleanup) leaves its namespaces and policies; the next run sweeps them before anything else,
/// says so, runs on a clean cluster, and at its end waits for the namespaces it deleted.
#[tokio::test(start_paused = true)]
async fn what_a_killed_run_left_is_swept_by_the_next_run() {
    let fixture = Fixture::new();
    let plan = deny_x(&fixture);
    let sim = sim(Faults {
        latency: Some(Latency {
            exec_round_trip: Duration::from_millis(150),
            max_concurrent_execs: 8,
        }),
        ..Faults::default()
    });
    // Killed while probing its first step: setup done, nothing cleaned up.
    let killed = runner(&sim, options());
    let cut =
        tokio::time::timeout(Duration::from_millis(100), killed.run_scenario(&plan, None)).await;
    assert!(cut.is_err(), "the run was to be cut short");
    drop(killed);
    assert!(
        sim.namespaces().contains(&"x".to_string()),
        "{:?}",
        sim.namespaces()
    );
    assert!(!sim.owned_objects().is_empty());

    sim.begin_run("r2");
    let next = runner(
        &sim,
        RunOptions {
            sweep_for_run: Some("r2".into()),
            ..options()
        },
    );
    let mut events = Vec::new();
    let outcome = next
        .run(std::slice::from_ref(&plan), |event| {
            match event {
                RunEvent::Swept { leftovers } => {
                    events.push(format!("swept {}", leftovers.len()));
                }
                RunEvent::ScenarioStarted { .. } => events.push("started".into()),
                RunEvent::NamespaceGone { name, .. } => events.push(format!("gone {name}")),
                _ => {}
            }
            ControlFlow::Continue(())
        })
        .await;
    assert!(outcome.ok(), "{:?}", outcome.end);
    let swept: Vec<String> = outcome
        .swept
        .iter()
        .filter(|o| o.is_namespace())
        .map(|o| o.name.clone())
        .collect();
    assert_eq!(swept, ["x", "y"]);
    assert!(outcome.swept.iter().all(|o| o.run.as_deref() == Some("r")));
    // The sweep came first, the wait for the deleted namespaces last.
    assert!(events[0].starts_with("swept "), "{events:?}");
    assert_eq!(events[1], "started");
    assert_eq!(&events[events.len() - 2..], ["gone x", "gone y"]);
    assert!(outcome.still_terminating.is_empty());
    assert!(
        matches!(sim.calls().iter().find(|c| matches!(c, Call::Sweep(_))), Some(Call::Sweep(s)) if !s.is_empty())
    );
    assert_cleaned_up(&sim);
}

/// A run never deletes a CustomResourceDefinition, not even one its scenario applied: deleting it
/// would delete every object of that kind on the cluster.
#[tokio::test(start_paused = true)]
async fn cleanup_leaves_crds_the_scenario_applied() {
    let fixture = Fixture::new();
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: things.example.com}\n\
               spec: {group: example.com, names: {kind: Thing, plural: things}, scope: Namespaced, versions: []}\n";
    let plan = fixture.scenario(
        "with-crd",
        "",
        &["x"],
        &[
            ("setup.yaml", pods(&["x"], &["a"], AGNHOST)),
            ("crd.yaml", crd.to_string()),
        ],
        "steps:\n- name: s\n  actions:\n  - apply: [crd.yaml]\n  probes:\n  - {from: x/a, to: x/a, port: 80, kind: tcp, expect: allowed}\n",
    );
    let sim = sim(Faults::default());
    let outcome = runner(&sim, options()).run_scenario(&plan, None).await;
    assert!(outcome.passed(), "{:?}", outcome.steps);
    assert_eq!(
        sim.owned_objects(),
        ["CustomResourceDefinition things.example.com"]
    );
    assert!(
        !sim.calls()
            .iter()
            .any(|c| matches!(c, Call::Delete(d) if d.iter().any(|k| k.starts_with("CustomResourceDefinition"))))
    );
}

mod dual_stack;
mod full_matrix;
