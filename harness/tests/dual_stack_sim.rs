//! Dual stack on the simulated cluster: every pod has an IPv4 and an IPv6 address, the runner
//! probes both, each cell records its family, and the expectation of an IPv6 cell is the
//! oracle's on the IPv6 addresses — so a case whose ipBlock is an IPv4 CIDR expects its IPv6
//! cells otherwise, and a conforming dual-stack dataplane passes it; derived cells of the whole
//! matrix are probed over both families as well. The simulated dataplane is the oracle, so the
//! last test writes each family's expectation by hand.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use netpol_harness::cluster::Family;
use netpol_harness::cluster::sim::{Faults, SimCluster};
use netpol_harness::generate::{self, Options, writer};
use netpol_harness::probe::Outcome;
use netpol_harness::report::run::{render_summary, results};
use netpol_harness::runner::outcome::{CellOutcome, StepVerdict};
use netpol_harness::runner::plan::plans;
use netpol_harness::runner::{MatrixScope, RunOptions, RunOutcome, Runner};
use netpol_harness::scenario::format::Expectation;
use netpol_harness::scenario::{LoadedScenario, default_root, load};

async fn run(scenarios: &[LoadedScenario], sim: SimCluster) -> RunOutcome {
    run_as(scenarios, sim, MatrixScope::Claims).await
}

async fn run_as(scenarios: &[LoadedScenario], sim: SimCluster, matrix: MatrixScope) -> RunOutcome {
    let plans = plans(scenarios, None).await.unwrap();
    let sim = Arc::new(sim);
    let runner = Runner::new(
        sim.clone(),
        RunOptions {
            deadline: Duration::from_secs(3),
            matrix,
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

fn all_pass(outcome: &RunOutcome) {
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
}

/// A cell without its address: source, target pod, probe kind and port.
fn twin_key(c: &CellOutcome) -> (String, String, String, Option<u16>) {
    let pod = c.target.split(' ').next().unwrap().to_string();
    (c.source.clone(), pod, c.kind.clone(), c.port)
}

#[tokio::test(start_paused = true)]
async fn ipblock_cases_expect_ipv6_cells_per_address_and_pass_on_a_dual_stack_dataplane() {
    let dir = tempfile::tempdir().unwrap();
    let cases = generate::cases(&Options {
        tags: vec!["ipblock".into()],
        ..Options::default()
    })
    .unwrap();
    assert!(!cases.is_empty());
    let scenarios = generate::render(&cases).unwrap();
    writer::write(dir.path(), &scenarios).unwrap();
    let loaded: Vec<LoadedScenario> = scenarios
        .iter()
        .map(|s| load(dir.path(), &s.name).unwrap())
        .collect();
    let outcome = run(
        &loaded,
        SimCluster::new("dual", Faults::default()).dual_stack(),
    )
    .await;
    all_pass(&outcome);

    let all = cells(&outcome);
    let by_family = |f| all.iter().filter(|c| c.family == Some(f)).count();
    // Every pod target is probed over both families: as many IPv6 cells as IPv4 ones.
    assert!(by_family(Family::Ipv6) > 0);
    assert_eq!(by_family(Family::Ipv6), by_family(Family::Ipv4));
    // Some IPv6 cells expect otherwise than their IPv4 twin (an IPv4 ipBlock never matches an
    // IPv6 packet), and say why.
    let mut differing: Vec<&CellOutcome> = Vec::new();
    for step in outcome.scenarios.iter().flat_map(|s| &s.steps) {
        let v4: BTreeMap<_, _> = step
            .cells
            .iter()
            .filter(|c| c.family == Some(Family::Ipv4))
            .map(|c| (twin_key(c), c.expected))
            .collect();
        differing.extend(
            step.cells
                .iter()
                .filter(|c| c.family == Some(Family::Ipv6) && v4[&twin_key(c)] != c.expected),
        );
    }
    assert!(!differing.is_empty());
    for c in &differing {
        let why = c.why.as_deref().unwrap();
        assert!(why.starts_with("over IPv6 (fd00:10:244::"), "{why}");
    }
    // results.json records the family per cell.
    let json =
        serde_json::to_value(results("sim", None, &outcome.scenarios, outcome.duration)).unwrap();
    let text = json.to_string();
    assert!(text.contains(r#""family":"ipv6""#) && text.contains(r#""family":"ipv4""#));
}

#[tokio::test(start_paused = true)]
async fn a_tutorial_on_a_dual_stack_cluster_probes_both_families_and_passes() {
    let scenarios = vec![load(&default_root(), "nginx-busybox-default").unwrap()];
    let outcome = run(
        &scenarios,
        SimCluster::new("dual", Faults::default()).dual_stack(),
    )
    .await;
    all_pass(&outcome);
    let all = cells(&outcome);
    let pod_targets: Vec<&&CellOutcome> = all.iter().filter(|c| c.locality.is_some()).collect();
    let v6 = pod_targets
        .iter()
        .filter(|c| c.family == Some(Family::Ipv6))
        .count();
    assert!(
        v6 > 0 && v6 * 2 == pod_targets.len(),
        "{v6} of {}",
        pod_targets.len()
    );
    // Single stack, the same scenario probes IPv4 only, and the summary has no family line.
    let outcome = run(&scenarios, SimCluster::new("single", Faults::default())).await;
    assert!(!render_summary(&outcome.scenarios).contains("cells by family"));
    assert!(
        cells(&outcome)
            .iter()
            .all(|c| c.family != Some(Family::Ipv6))
    );
}

/// With the whole matrix, derived cells are probed over both families too, and the IPv6 ones
/// expect what the oracle says over IPv6.
#[tokio::test(start_paused = true)]
async fn derived_cells_are_probed_over_both_families() {
    let scenarios = vec![
        load(&default_root(), "nginx-busybox-default").unwrap(),
        // Its `networks` peer is an IPv4 CIDR: over IPv6 some derived cells expect otherwise.
        load(&default_root(), "cluster-network-policy").unwrap(),
    ];
    let outcome = run_as(
        &scenarios,
        SimCluster::new("dual", Faults::default()).dual_stack(),
        MatrixScope::Full,
    )
    .await;
    all_pass(&outcome);
    let all = cells(&outcome);
    let derived = |f| {
        all.iter()
            .filter(|c| c.derived && c.family == Some(f))
            .count()
    };
    assert!(derived(Family::Ipv6) > 0);
    assert_eq!(derived(Family::Ipv6), derived(Family::Ipv4));
    // IPv6 addresses are bracketed before their port, claims and derived cells alike.
    for c in all
        .iter()
        .filter(|c| c.family == Some(Family::Ipv6) && c.port.is_some())
    {
        assert!(c.target.contains("]:"), "{}", c.target);
    }
    assert!(
        all.iter().any(|c| c.derived
            && c.family == Some(Family::Ipv6)
            && c.why.as_deref().is_some_and(|w| w.starts_with("over IPv6"))),
        "no derived IPv6 cell expects otherwise than its IPv4 twin"
    );
}

/// Writes scenario `name` into `root`: x/a and x/b, a step admitting ingress to x/b only from
/// the IPv4 pod CIDR, then one admitting it only from `::/0`.
fn ipblock_per_family(root: &std::path::Path) -> LoadedScenario {
    let folder = root.join("per-family");
    std::fs::create_dir_all(&folder).unwrap();
    let mut setup = String::new();
    for pod in ["a", "b"] {
        setup.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}, namespace: x, labels: {{pod: {pod}}}}}\n\
             spec: {{containers: [{{name: c, image: \"registry.k8s.io/e2e-test-images/agnhost:2.66.1\", ports: [{{containerPort: 80}}]}}]}}\n"
        ));
    }
    let policy = |cidr: &str| {
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: from-block, namespace: x}}\n\
             spec: {{podSelector: {{matchLabels: {{pod: b}}}}, policyTypes: [Ingress], ingress: [{{from: [{{ipBlock: {{cidr: \"{cidr}\"}}}}]}}]}}\n"
        )
    };
    std::fs::write(folder.join("setup.yaml"), setup).unwrap();
    std::fs::write(folder.join("v4.yaml"), policy("10.244.0.0/16")).unwrap();
    std::fs::write(folder.join("v6.yaml"), policy("::/0")).unwrap();
    std::fs::write(
        folder.join("scenario.yaml"),
        "name: per-family\ntitle: ipBlock per family\nsource: {title: dual-stack test, url: \"https://example.com/per-family\"}\n\
         requires: [ingress, ipblock-pod-ip]\nnamespaces: [x]\nsetup: [setup.yaml]\nsteps:\n\
         - name: ipv4-block\n  nothingBlocked: the IPv4 pod CIDR admits x/a\n  actions:\n  - apply: [v4.yaml]\n  \
           probes:\n  - {from: x/a, to: x/b, port: 80, kind: tcp, expect: allowed}\n\
         - name: ipv6-block\n  actions:\n  - apply: [v6.yaml]\n  \
           probes:\n  - {from: x/a, to: x/b, port: 80, kind: tcp, expect: blocked}\n",
    )
    .unwrap();
    load(root, "per-family").unwrap()
}

/// Expectations written by hand, not by the oracle: an IPv4 ipBlock admits the IPv4 cell and
/// blocks the IPv6 one; `::/0` admits the IPv6 cell and blocks the IPv4 one. Each cell is
/// expected, observed and matched so, per family.
#[tokio::test(start_paused = true)]
async fn an_ipblock_admits_only_its_own_family_cell_by_cell() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = vec![ipblock_per_family(dir.path())];
    let outcome = run(
        &scenarios,
        SimCluster::new("dual", Faults::default()).dual_stack(),
    )
    .await;
    let (v4, v6) = (Some(Family::Ipv4), Some(Family::Ipv6));
    let allowed = (Expectation::Allowed, Outcome::Allowed);
    let blocked = (Expectation::Blocked, Outcome::Blocked);
    type Cell = (Option<Family>, (Expectation, Outcome), bool);
    let per_step: Vec<(String, Vec<Cell>)> = outcome.scenarios[0]
        .steps
        .iter()
        .map(|s| {
            let cells = s
                .cells
                .iter()
                .map(|c| {
                    (
                        c.family,
                        (c.expected, c.observed.clone()),
                        c.matched && c.asserted(),
                    )
                })
                .collect();
            (s.name.clone(), cells)
        })
        .collect();
    assert_eq!(
        per_step,
        [
            (
                "ipv4-block".to_string(),
                vec![(v4, allowed.clone(), true), (v6, blocked.clone(), true)]
            ),
            (
                "ipv6-block".to_string(),
                vec![(v4, blocked, true), (v6, allowed, true)]
            ),
        ]
    );
    all_pass(&outcome);
}
