//! The whole matrix (`--matrix full`) on the simulated cluster: derived cells beside the claims,
//! in the same batch per source; failures only a derived cell shows; self-traffic, ports not
//! served and cells the oracle cannot decide reported, never asserted.

use super::*;
use crate::runner::outcome::Unasserted;

fn full() -> RunOptions {
    RunOptions {
        matrix: MatrixScope::Full,
        ..options()
    }
}

/// The Exec calls of probe batches, as (pod, probes).
fn probe_execs(sim: &SimCluster) -> Vec<(PodRef, usize)> {
    sim.calls()
        .iter()
        .filter_map(|c| match c {
            Call::Exec {
                pod,
                probes: Some(n),
                ..
            } => Some((pod.clone(), *n)),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_tutorial_probes_the_whole_matrix_in_one_exec_per_source_per_round() {
    let plan = plan_of(&scenarios().join("nginx-busybox-default"));
    let claims_sim = sim(Faults::default());
    let claims = runner(&claims_sim, options())
        .run_scenario(&plan, None)
        .await;
    let full_sim = sim(Faults::default());
    let full = runner(&full_sim, full()).run_scenario(&plan, None).await;
    assert!(claims.passed() && full.passed());
    for (c, f) in claims.steps.iter().zip(&full.steps) {
        assert_eq!(f.verdict, StepVerdict::Pass, "{}", f.reason);
        // The claims are the same cells either way; the whole matrix adds derived ones.
        assert_eq!(f.counts(false), c.counts(false));
        assert!(c.cells.iter().all(|cell| !cell.derived));
        let derived = f.counts(true);
        assert!(
            derived.cells > 0 && f.cells.len() > c.cells.len(),
            "{derived}"
        );
        // nginx pods to themselves (ICMP, 80/TCP) and busyboxes to themselves (ICMP).
        let selves: Vec<&CellOutcome> = f
            .cells
            .iter()
            .filter(|cell| cell.unasserted == Some(Unasserted::SelfTraffic))
            .collect();
        assert_eq!(selves.len(), 6);
        assert!(
            selves
                .iter()
                .all(|s| s.derived && s.from == s.to && !s.failed())
        );
        // One round, one exec per source pod: the busyboxes' claims and derived cells share
        // their batch; the nginx pods, sources only of derived cells, get one each.
        assert_eq!((c.rounds, c.execs), (1, 2));
        assert_eq!((f.rounds, f.execs), (1, 4));
        let m = f.measures();
        assert_eq!(m.claims, Some(f.counts(false)));
        assert_eq!(m.derived, Some(derived));
        assert_eq!(c.measures().derived, None, "claims only: nothing derived");
    }
    let execs = probe_execs(&full_sim);
    let mut pods: Vec<&PodRef> = execs.iter().map(|(p, _)| p).collect();
    pods.sort();
    pods.dedup();
    assert_eq!(pods.len(), 4);
    // The baseline round, then one exec per source pod per step.
    assert!(execs.len() <= 4 + 4 * full.steps.len(), "{execs:?}");
    let busybox1 = &full.steps[1]
        .cells
        .iter()
        .find(|c| c.from == "default/busybox1" && c.derived)
        .unwrap()
        .source;
    let batches: Vec<usize> = execs
        .iter()
        .filter(|(p, _)| p.to_string() == *busybox1)
        .map(|(_, n)| *n)
        .collect();
    // busybox1 claims 3 ICMP + 2 HTTP cells and derives ICMP to itself and 80/TCP to both nginx.
    assert!(batches.ends_with(&[8, 8, 8]), "{batches:?}");
}

#[tokio::test(start_paused = true)]
async fn a_fault_only_an_unclaimed_cell_shows_fails_it_as_derived() {
    // Nothing stops frontend-nginx's traffic: the tutorial never probes from it.
    let faults = || Faults {
        unpoliced_sources: BTreeSet::from(["default/frontend-nginx".to_string()]),
        ..Faults::default()
    };
    let plan = plan_of(&scenarios().join("nginx-busybox-default"));
    let claims = runner(&sim(faults()), options())
        .run_scenario(&plan, None)
        .await;
    assert!(claims.ok(), "with the claims alone the fault is not seen");
    let full = runner(&sim(faults()), full())
        .run_scenario(&plan, None)
        .await;
    assert!(!full.ok());
    let step = full.step("default-deny-ingress").unwrap();
    assert_eq!(step.verdict, StepVerdict::Fail);
    let failed: BTreeSet<(String, String, String)> = step
        .cells
        .iter()
        .filter(|c| c.failed())
        .map(|c| (c.from.clone(), c.to.clone(), c.kind.clone()))
        .collect();
    let expected: BTreeSet<(String, String, String)> = [
        ("default/backend-nginx", "icmp"),
        ("default/backend-nginx", "tcp"),
        ("default/busybox1", "icmp"),
        ("default/busybox2", "icmp"),
    ]
    .into_iter()
    .map(|(to, kind)| ("default/frontend-nginx".into(), to.into(), kind.into()))
    .collect();
    assert_eq!(failed, expected);
    assert!(step.cells.iter().filter(|c| c.failed()).all(|c| c.derived));
    assert_eq!(step.counts(false).failed, 0);
    assert_eq!(step.counts(true).failed, 4);
    assert!(
        step.reason.contains(
            "[claims: 0 of 10 asserted failed, 10 reported; derived (oracle): 4 of 12 asserted failed, 18 reported]"
        ),
        "{}",
        step.reason
    );
    // One definition of the counts: the verdict's reason says what results.json records.
    let derived = step.result().measures.derived.unwrap();
    assert_eq!(
        (derived.cells, derived.asserted(), derived.failed),
        (18, 12, 4)
    );
    assert!(
        step.reason
            .contains(&format!("derived (oracle): {derived}]")),
        "{}",
        step.reason
    );
    // frontend-nginx reaching itself gets through too, yet self-traffic is never asserted.
    let own = step
        .cells
        .iter()
        .find(|c| c.from == "default/frontend-nginx" && c.to == c.from && c.kind == "tcp")
        .unwrap();
    assert_eq!(
        (own.expected, &own.observed),
        (Expectation::Blocked, &Outcome::Allowed)
    );
    assert!(!own.failed() && !own.asserted());
    let text = render_step("nginx-busybox-default", step);
    assert!(
        text.contains("(derived from the oracle, not claimed by the tutorial)"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_declared_port_nothing_serves_is_reported_not_asserted() {
    // x/b declares 81 but nothing listens there; the claims probe only 80.
    let sim = sim(Faults {
        closed_ports: BTreeSet::from([("x/b".to_string(), 81)]),
        ..Faults::default()
    });
    let fixture = Fixture::new();
    let outcome = runner(&sim, full())
        .run_scenario(&deny_x(&fixture), None)
        .await;
    assert!(outcome.passed(), "{:?}", outcome.steps[1].reason);
    for step in &outcome.steps {
        for cell in step.cells.iter().filter(|c| c.port == Some(81)) {
            assert!(cell.derived);
            let closed = cell.to == "x/b" && cell.from != "x/b";
            if closed {
                assert_eq!(cell.unasserted, Some(Unasserted::PortNotServed), "{cell:?}");
            } else if cell.from != cell.to {
                assert!(cell.asserted() && cell.matched, "{cell:?}");
            }
        }
    }
    // Before the first policy the baseline found it closed: in the deny step too, where the
    // oracle expects it blocked, it is not asserted.
    let deny = outcome.step("deny").unwrap();
    let cell = deny
        .cells
        .iter()
        .find(|c| c.from == "y/a" && c.to == "x/b" && c.port == Some(81))
        .unwrap();
    assert_eq!(cell.expected, Expectation::Blocked);
    assert_eq!(cell.unasserted, Some(Unasserted::PortNotServed));
    assert_eq!(deny.counts(true).unasserted, 3 + 4);
}

#[tokio::test(start_paused = true)]
async fn sctp_cells_are_not_applicable_on_a_cni_without_sctp() {
    let plan = plan_of(&scenarios().join("cluster-network-policy"));
    let only = BTreeSet::from(["baseline-deny".to_string()]);
    let sctp_cells = |options: RunOptions| {
        let plan = &plan;
        let only = &only;
        async move {
            let outcome = runner(&sim(Faults::default()), options)
                .run_scenario(plan, Some(only))
                .await;
            let step = outcome.steps.into_iter().next().unwrap();
            step.cells
                .into_iter()
                .filter(|c| c.kind == "sctp")
                .collect::<Vec<CellOutcome>>()
        }
    };
    // Cilium enforces ClusterNetworkPolicy but not SCTP: the step runs, its SCTP cells do not.
    let cilium = sctp_cells(RunOptions {
        matrix: MatrixScope::Full,
        ..with_cni("cilium")
    })
    .await;
    assert!(!cilium.is_empty());
    for cell in &cilium {
        assert!(cell.derived);
        assert_eq!(
            cell.unasserted,
            Some(Unasserted::NotApplicable(
                crate::capability::Capability::Sctp
            ))
        );
        assert!(cell.history.is_empty(), "not probed: {cell:?}");
    }
    // Without a CNI profile they are probed and asserted (but for self-traffic).
    let any = sctp_cells(full()).await;
    assert_eq!(any.len(), cilium.len());
    assert!(
        any.iter()
            .all(|c| !c.history.is_empty() && (c.asserted() || c.from == c.to))
    );
}

#[tokio::test(start_paused = true)]
async fn a_cell_the_oracle_cannot_decide_is_probed_and_reported_never_asserted() {
    let cnp = |name: &str, action: &str| {
        format!(
            "---\napiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: {name}}}\n\
             spec:\n  tier: Admin\n  priority: 7\n  subject: {{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: y}}}}}}\n  \
             ingress:\n  - {{name: {name}, action: {action}, from: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: x}}}}}}]}}\n"
        )
    };
    let fixture = Fixture::new();
    let plan = fixture.scenario(
        "tie",
        "ingress, cluster-network-policy",
        &["x", "y"],
        &[
            ("setup.yaml", pods(&["x"], &["a"], AGNHOST) + &pods(&["y"], &["b"], AGNHOST)),
            ("tie.yaml", cnp("one", "Accept") + &cnp("two", "Deny")),
        ],
        "steps:\n- name: tie\n  nothingBlocked: the tie between one and two is the implementation's\n  \
         actions:\n  - apply: [tie.yaml]\n  probes:\n  - {from: y/b, to: x/a, port: 80, kind: tcp, expect: allowed}\n",
    );
    let outcome = runner(&sim(Faults::default()), full())
        .run_scenario(&plan, None)
        .await;
    let step = &outcome.steps[0];
    assert_eq!(step.verdict, StepVerdict::Pass, "{}", step.reason);
    let open: Vec<&CellOutcome> = step
        .cells
        .iter()
        .filter(|c| matches!(c.unasserted, Some(Unasserted::Uncertain(_))))
        .collect();
    // x/a → y/b on 80 and 81: probed, shown `?*`, counted as not asserted.
    assert_eq!(open.len(), 2);
    assert!(open.iter().all(|c| c.from == "x/a" && c.to == "y/b"));
    assert!(open.iter().all(|c| !c.history.is_empty() && !c.failed()));
    assert!(render_step("tie", step).contains("?*"));
    // Self-traffic (4) and the two open cells are reported, not asserted.
    assert_eq!(step.counts(true).unasserted, 6);
}

#[tokio::test(start_paused = true)]
async fn a_port_dropped_before_any_policy_is_not_taken_for_closed() {
    // Everything to x/b's port 81 is dropped from the start (only derived cells probe it): the
    // baseline's timeouts are drops, not a closed port, so those cells stay asserted and fail.
    let sim = sim(Faults {
        dropped_ports: BTreeSet::from([("x/b".to_string(), 81)]),
        ..Faults::default()
    });
    let fixture = Fixture::new();
    let outcome = runner(&sim, full())
        .run_scenario(&deny_x(&fixture), None)
        .await;
    let to_81: Vec<&CellOutcome> = outcome
        .steps
        .iter()
        .flat_map(|s| &s.cells)
        .filter(|c| c.to == "x/b" && c.from != "x/b" && c.port == Some(81))
        .collect();
    assert!(!to_81.is_empty());
    assert!(
        to_81
            .iter()
            .all(|c| c.derived && c.unasserted != Some(Unasserted::PortNotServed)),
        "{to_81:?}"
    );
    assert!(
        to_81
            .iter()
            .any(|c| c.asserted() && !c.matched && c.expected == Expectation::Allowed),
        "no allowed cell to the dropped port failed: {to_81:?}"
    );
    assert!(!outcome.passed());
}

#[tokio::test(start_paused = true)]
async fn a_known_deviation_covers_what_it_may_explain_and_a_tcp_cell_an_sctp_one_cannot() {
    // A deviation declared for the step as a whole: it may explain every cell of the step, the
    // derived cells to x on 81 included; they are excused and counted in the reason.
    let fixture = Fixture::new();
    let plan = deny_x(&fixture);
    let deviating = |matches| {
        let mut kindnet = CniProfile::by_name("kindnet").unwrap();
        kindnet
            .known_deviations
            .push(crate::provision::cni::KnownDeviation {
                matches,
                summary: "ingress isolation lags",
                issue_url: "https://github.com/kubernetes-sigs/kind/issues/0",
            });
        kindnet
    };
    let with = |cni: CniProfile, matrix| RunOptions {
        cni: Some(cni),
        matrix,
        ..options()
    };
    let failing = || {
        sim(Faults {
            enforcement: Enforcement::None,
            ..Faults::default()
        })
    };
    let step = crate::provision::cni::DeviationMatch::Step("deny/deny");
    // The claims alone: the deviation.
    let claims = runner(
        &failing(),
        with(deviating(step.clone()), MatrixScope::Claims),
    )
    .run_scenario(&plan, None)
    .await;
    assert_eq!(
        claims.step("deny").unwrap().result().status,
        StepStatus::KnownDeviation
    );
    // The whole matrix: the derived cells get through too, excused and counted.
    let full = runner(&failing(), with(deviating(step), MatrixScope::Full))
        .run_scenario(&plan, None)
        .await;
    let deny = full.step("deny").unwrap();
    let derived_failed = deny
        .cells
        .iter()
        .filter(|c| c.derived && c.failed())
        .count();
    assert!(derived_failed > 0, "{:?}", deny.cells);
    let result = deny.result();
    assert_eq!(result.status, StepStatus::KnownDeviation, "{result:?}");
    assert!(
        result
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with(&format!(
                "ingress isolation lags ({derived_failed} derived cell(s) differ too, excused"
            ))),
        "{result:?}"
    );
    assert!(full.ok());
    assert!(
        deny.cells
            .iter()
            .filter(|c| c.failed())
            .all(|c| deny.covered_by_deviation(c))
    );
}
