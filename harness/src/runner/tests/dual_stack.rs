//! Dual stack on the simulated cluster, at the runner: a dual-stack Service probed on each of
//! its ClusterIPs, an IPv6 cell the oracle cannot decide reported and never asserted, and each
//! replica's IPv6 cell judged on that replica's own address. The expectations are written by
//! hand.

use super::*;
use crate::cluster::Family;
use crate::oracle::Uncertainty;
use crate::runner::outcome::{Unasserted, Undecided};

fn dual(faults: Faults) -> Arc<SimCluster> {
    Arc::new(SimCluster::new("r", faults).dual_stack())
}

fn full() -> RunOptions {
    RunOptions {
        matrix: MatrixScope::Full,
        ..options()
    }
}

fn family_of<'a>(cells: &[&'a CellOutcome], family: Family) -> Vec<&'a CellOutcome> {
    cells
        .iter()
        .copied()
        .filter(|c| c.family == Some(family))
        .collect()
}

/// A Service `x/NAME` in front of `x/b` (port 80), dual-stack when `policy` says so.
fn service(name: &str, policy: Option<&str>) -> String {
    let policy = policy.map_or(String::new(), |p| format!(", ipFamilyPolicy: {p}"));
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: x}}\n\
         spec: {{selector: {{pod: b}}, ports: [{{port: 80, targetPort: 80}}]{policy}}}\n"
    )
}

/// Ingress to x/b only from `cidr`.
fn ingress_from(cidr: &str) -> String {
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: from-block, namespace: x}}\n\
         spec: {{podSelector: {{matchLabels: {{pod: b}}}}, policyTypes: [Ingress], ingress: [{{from: [{{ipBlock: {{cidr: \"{cidr}\"}}}}]}}]}}\n"
    )
}

/// x/a probing x/b through the dual-stack Service `x/web` and the single-stack `x/plain`, with
/// no policy, then with ingress to x/b only from the IPv4 pod CIDR.
fn services_scenario(fixture: &Fixture) -> ScenarioPlan {
    let probes = "  probes:\n  - {from: x/a, to: svc:x/web, port: 80, kind: tcp, expect: allowed}\n  \
                  - {from: x/a, to: svc:x/plain, port: 80, kind: tcp, expect: allowed}\n";
    fixture.scenario(
        "svc",
        "ingress, ipblock-pod-ip",
        &["x"],
        &[
            (
                "setup.yaml",
                pods(&["x"], &["a", "b"], AGNHOST)
                    + &service("web", Some("PreferDualStack"))
                    + &service("plain", None),
            ),
            ("v4-only.yaml", ingress_from("10.244.0.0/16")),
        ],
        &format!(
            "steps:\n- name: open\n{probes}- name: v4-only\n  nothingBlocked: the IPv4 pod CIDR admits x/a\n  \
             actions:\n  - apply: [v4-only.yaml]\n{probes}"
        ),
    )
}

#[tokio::test(start_paused = true)]
async fn a_dual_stack_service_is_probed_on_each_cluster_ip_each_family_expected_on_its_own() {
    let fixture = Fixture::new();
    let plan = services_scenario(&fixture);
    let sim = dual(Faults::default());
    let outcome = runner(&sim, options()).run_scenario(&plan, None).await;
    assert!(
        outcome.passed(),
        "{}",
        render_step("v4-only", &outcome.steps[1])
    );
    for step in &outcome.steps {
        let web: Vec<&CellOutcome> = step.cells.iter().filter(|c| c.to == "svc:x/web").collect();
        let (v4, v6) = (family_of(&web, Family::Ipv4), family_of(&web, Family::Ipv6));
        assert_eq!((v4.len(), v6.len()), (1, 1), "{web:?}");
        assert!(
            v4[0].target.starts_with("svc:x/web 10.96."),
            "{}",
            v4[0].target
        );
        assert!(
            v6[0].target.starts_with("svc:x/web [fd00:10:96::"),
            "{}",
            v6[0].target
        );
        assert!(v6[0].target.ends_with("]:80"), "{}", v6[0].target);
        // A Service without `ipFamilyPolicy` is single-stack: one ClusterIP, IPv4.
        let plain: Vec<&CellOutcome> = step
            .cells
            .iter()
            .filter(|c| c.to == "svc:x/plain")
            .collect();
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].family, Some(Family::Ipv4));
        assert!(step.cells.iter().all(|c| c.matched && c.asserted()));
    }
    // With only the IPv4 pod CIDR admitted, the IPv6 ClusterIP's backend sees x/a's IPv6
    // address: blocked, while both IPv4 ClusterIPs stay allowed.
    let step = outcome.step("v4-only").unwrap();
    let expected: Vec<(&str, Option<Family>, Expectation, &Outcome)> = step
        .cells
        .iter()
        .map(|c| (c.to.as_str(), c.family, c.expected, &c.observed))
        .collect();
    assert_eq!(
        expected,
        [
            (
                "svc:x/web",
                Some(Family::Ipv4),
                Expectation::Allowed,
                &Outcome::Allowed
            ),
            (
                "svc:x/web",
                Some(Family::Ipv6),
                Expectation::Blocked,
                &Outcome::Blocked
            ),
            (
                "svc:x/plain",
                Some(Family::Ipv4),
                Expectation::Allowed,
                &Outcome::Allowed
            ),
        ]
    );
    let why = step.cells[1].why.as_deref().unwrap();
    assert!(why.starts_with("over IPv6 (fd00:10:244::"), "{why}");
    assert_cleaned_up(&sim);
}

#[tokio::test(start_paused = true)]
async fn a_fault_on_one_family_of_a_service_fails_exactly_that_cluster_ip() {
    let fixture = Fixture::new();
    let plan = services_scenario(&fixture);
    let sim = dual(Faults {
        dropped_service_family: Some(Family::Ipv6),
        ..Faults::default()
    });
    let outcome = runner(&sim, options()).run_scenario(&plan, None).await;
    let step = outcome.step("open").unwrap();
    assert_eq!(step.verdict, StepVerdict::Fail, "{}", step.reason);
    let failed: Vec<(&str, Option<Family>)> = step
        .cells
        .iter()
        .filter(|c| c.failed())
        .map(|c| (c.to.as_str(), c.family))
        .collect();
    assert_eq!(failed, [("svc:x/web", Some(Family::Ipv6))]);
    // Dropped where the step expects it blocked anyway: the second step passes.
    assert_eq!(outcome.steps[1].verdict, StepVerdict::Pass);
    assert_cleaned_up(&sim);
}

/// Two ClusterNetworkPolicies of x at one priority: one accepts egress to namespace y, one
/// denies egress to IPv6 addresses. Over IPv4 only the first matches (allowed, decided); over
/// IPv6 both do, and their order is the implementation's.
fn tie_over_ipv6(fixture: &Fixture) -> ScenarioPlan {
    let cnp = |name: &str, rule: &str| {
        format!(
            "---\napiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: {name}}}\n\
             spec:\n  tier: Admin\n  priority: 7\n  subject: {{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: x}}}}}}\n  \
             egress:\n  - {{name: {name}, {rule}}}\n"
        )
    };
    fixture.scenario(
        "tie6",
        "egress, cluster-network-policy",
        &["x", "y"],
        &[
            ("setup.yaml", pods(&["x"], &["a"], AGNHOST) + &pods(&["y"], &["b"], AGNHOST)),
            (
                "tie.yaml",
                cnp(
                    "to-y",
                    "action: Accept, to: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: y}}}]",
                ) + &cnp("no-ipv6", "action: Deny, to: [{networks: [\"fd00::/8\"]}]"),
            ),
        ],
        "steps:\n- name: tie\n  nothingBlocked: over IPv4 only to-y matches\n  \
         actions:\n  - apply: [tie.yaml]\n  probes:\n  - {from: x/a, to: y/b, port: 80, kind: tcp, expect: allowed}\n",
    )
}

#[tokio::test(start_paused = true)]
async fn an_ipv6_cell_the_oracle_cannot_decide_is_reported_never_asserted_claims_and_derived() {
    let fixture = Fixture::new();
    let plan = tie_over_ipv6(&fixture);
    let sim = dual(Faults::default());
    let outcome = runner(&sim, full()).run_scenario(&plan, None).await;
    let step = &outcome.steps[0];
    assert_eq!(step.verdict, StepVerdict::Pass, "{}", step.reason);
    let a_to_b: Vec<&CellOutcome> = step
        .cells
        .iter()
        .filter(|c| c.from == "x/a" && c.to == "y/b")
        .collect();
    // The claim (80) and the derived cell (81), each over both families.
    assert_eq!(a_to_b.len(), 4, "{a_to_b:?}");
    assert_eq!(
        (
            family_of(&a_to_b, Family::Ipv4).len(),
            family_of(&a_to_b, Family::Ipv6).len()
        ),
        (2, 2)
    );
    for c in family_of(&a_to_b, Family::Ipv4) {
        assert!(c.asserted() && c.matched, "{c:?}");
        assert_eq!(c.expected, Expectation::Allowed);
    }
    let v6 = family_of(&a_to_b, Family::Ipv6);
    assert_eq!(v6.iter().filter(|c| c.derived).count(), 1);
    for c in v6 {
        assert_eq!(
            c.unasserted,
            Some(Unasserted::Uncertain(Undecided::Oracle(
                Uncertainty::Either
            ))),
            "{c:?}"
        );
        assert!(!c.history.is_empty() && !c.failed());
        let why = c.why.as_deref().unwrap();
        assert!(
            why.starts_with("over IPv6 (fd00:10:244::")
                && why.contains("cannot decide it (either)"),
            "{why}"
        );
    }
    assert!(render_step("tie", step).contains('?'));
    assert_cleaned_up(&sim);
}

/// x/a may reach only `cidr` (egress); x/web has two replicas, behind the dual-stack Service
/// x/websvc.
fn replicas_scenario(fixture: &Fixture, cidr: &str) -> ScenarioPlan {
    let service = "---\napiVersion: v1\nkind: Service\nmetadata: {name: websvc, namespace: x}\n\
                   spec: {selector: {app: web}, ports: [{port: 80}], ipFamilyPolicy: RequireDualStack}\n";
    let web = format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: x}}\n\
         spec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    \
         spec: {{containers: [{{name: c, image: \"{AGNHOST}\", ports: [{{containerPort: 80}}]}}]}}\n"
    );
    let egress = format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: to-block, namespace: x}}\n\
         spec: {{podSelector: {{matchLabels: {{pod: a}}}}, policyTypes: [Egress], egress: [{{to: [{{ipBlock: {{cidr: \"{cidr}\"}}}}]}}]}}\n"
    );
    fixture.scenario(
        "replicas",
        "egress, ipblock-pod-ip",
        &["x"],
        &[
            ("setup.yaml", pods(&["x"], &["a"], AGNHOST) + &web + service),
            ("egress.yaml", egress),
        ],
        "steps:\n- name: block\n  actions:\n  - apply: [egress.yaml]\n  probes:\n  \
         - {from: x/a, to: x/web, port: 80, kind: tcp, expect: blocked}\n  \
         - {from: x/a, to: svc:x/websvc, port: 80, kind: tcp, expect: blocked}\n",
    )
}

#[tokio::test(start_paused = true)]
async fn each_replica_is_judged_over_ipv6_on_its_own_address() {
    let all = RunOptions {
        all_replicas: true,
        ..options()
    };
    // The simulator's addresses are deterministic: learn web-1's IPv6 address from a run whose
    // ipBlock covers nothing.
    let fixture = Fixture::new();
    let learn = runner(&dual(Faults::default()), all.clone())
        .run_scenario(&replicas_scenario(&fixture, "fd00:ffff::1/128"), None)
        .await;
    let target = learn.steps[0]
        .cells
        .iter()
        .find(|c| c.family == Some(Family::Ipv6) && c.target.starts_with("x/web-1 "))
        .map(|c| c.target.clone())
        .unwrap();
    let address = target
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(a, _)| a.to_string())
        .unwrap();

    // An ipBlock covering web-1's IPv6 address alone: exactly that cell expects allowed.
    let fixture = Fixture::new();
    let plan = replicas_scenario(&fixture, &format!("{address}/128"));
    let sim = dual(Faults::default());
    let outcome = runner(&sim, all).run_scenario(&plan, None).await;
    let step = &outcome.steps[0];
    assert_eq!(
        step.verdict,
        StepVerdict::Pass,
        "{}",
        render_step("block", step)
    );
    let mut cells: Vec<(String, Option<Family>, Expectation, Outcome)> = step
        .cells
        .iter()
        .filter(|c| c.to == "x/web")
        .map(|c| {
            let pod = c.target.split(' ').next().unwrap().to_string();
            (pod, c.family, c.expected, c.observed.clone())
        })
        .collect();
    cells.sort_by(|a, b| {
        (&a.0, a.1.map(|f| f == Family::Ipv6)).cmp(&(&b.0, b.1.map(|f| f == Family::Ipv6)))
    });
    let (v4, v6) = (Some(Family::Ipv4), Some(Family::Ipv6));
    let (allowed, blocked) = (Expectation::Allowed, Expectation::Blocked);
    assert_eq!(
        cells,
        [
            ("x/web-0".to_string(), v4, blocked, Outcome::Blocked),
            ("x/web-0".to_string(), v6, blocked, Outcome::Blocked),
            ("x/web-1".to_string(), v4, blocked, Outcome::Blocked),
            ("x/web-1".to_string(), v6, allowed, Outcome::Allowed),
        ]
    );
    let why = step
        .cells
        .iter()
        .find(|c| c.expected == allowed)
        .and_then(|c| c.why.as_deref())
        .unwrap();
    assert!(why.contains(&format!("→ {address})")), "{why}");
    // Through the Service, the connection lands on either replica: over IPv6 their verdicts
    // differ, so the cell is reported and not asserted; over IPv4 both block.
    let svc: Vec<&CellOutcome> = step
        .cells
        .iter()
        .filter(|c| c.to == "svc:x/websvc")
        .collect();
    let v4 = family_of(&svc, Family::Ipv4);
    assert!(
        v4.len() == 1 && v4[0].asserted() && v4[0].expected == blocked,
        "{v4:?}"
    );
    let v6 = family_of(&svc, Family::Ipv6);
    assert_eq!(v6.len(), 1);
    assert_eq!(
        v6[0].unasserted,
        Some(Unasserted::Uncertain(Undecided::BackendsDiffer))
    );
    let why = v6[0].why.as_deref().unwrap();
    assert!(
        why.starts_with("over IPv6 the Service's pods differ"),
        "{why}"
    );
    assert!(why.contains(&format!("{address} allowed")), "{why}");
    // Where the ipBlock covers neither, both families of the Service are blocked, asserted.
    let learned: Vec<&CellOutcome> = learn.steps[0]
        .cells
        .iter()
        .filter(|c| c.to == "svc:x/websvc")
        .collect();
    assert_eq!(learned.len(), 2);
    assert!(
        learned
            .iter()
            .all(|c| c.asserted() && c.expected == blocked && c.matched)
    );
    assert_cleaned_up(&sim);
}

#[tokio::test(start_paused = true)]
async fn a_headless_service_is_still_an_error_on_a_dual_stack_cluster() {
    let fixture = Fixture::new();
    let headless = "---\napiVersion: v1\nkind: Service\nmetadata: {name: h, namespace: x}\n\
                    spec: {clusterIP: None, selector: {pod: b}, ports: [{port: 80}], ipFamilyPolicy: PreferDualStack}\n";
    let plan = fixture.scenario(
        "headless",
        "ingress",
        &["x"],
        &[("setup.yaml", pods(&["x"], &["a", "b"], AGNHOST) + headless)],
        "steps:\n- name: s\n  probes:\n  - {from: x/a, to: svc:x/h, port: 80, kind: tcp, expect: allowed}\n",
    );
    let sim = dual(Faults::default());
    let outcome = runner(&sim, options()).run_scenario(&plan, None).await;
    let step = &outcome.steps[0];
    assert_eq!(step.verdict, StepVerdict::Fail);
    assert_eq!(step.cells.len(), 1);
    assert_eq!(
        step.cells[0].observed,
        Outcome::Error("Service x/h is headless (no ClusterIP)".into())
    );
    assert_cleaned_up(&sim);
}

/// On a Calico lane the derived cells expect what that Calico line does, and so do their IPv6
/// twins: an AdminNetworkPolicy allowing x → y on the named port of 81 allows every port on
/// Calico 3.31, so x/a → y/b on 80 is allowed there over both families — though as the API
/// reads it, y/b's IPv4-only ipBlock admits that cell over IPv4 alone. (The simulator enforces
/// the API as written, so only the expectations are checked here.)
#[tokio::test(start_paused = true)]
async fn ipv6_derived_cells_on_a_calico_lane_are_predicted_with_its_line() {
    let fixture = Fixture::new();
    let anp = "---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\n\
               metadata: {name: allow-81}\nspec:\n  priority: 10\n  \
               subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: y}}}\n  \
               ingress:\n  - {name: x-81, action: Allow, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: x}}}], ports: [{namedPort: serve-81-tcp}]}\n";
    let block = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: v4-only, namespace: y}\n\
                 spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{from: [{ipBlock: {cidr: 10.244.0.0/16}}]}]}\n";
    fixture.scenario(
        "lane6",
        "ingress, admin-network-policy, named-ports, ipblock-pod-ip",
        &["x", "y"],
        &[
            (
                "setup.yaml",
                pods(&["x"], &["a"], AGNHOST) + &pods(&["y"], &["b"], AGNHOST),
            ),
            ("policies.yaml", anp.to_string() + block),
        ],
        "steps:\n- name: s\n  nothingBlocked: the ANP and the IPv4 pod CIDR admit x/a\n  \
         actions:\n  - apply: [policies.yaml]\n  probes:\n  \
         - {from: x/a, to: y/b, port: 81, kind: tcp, expect: allowed}\n",
    );
    let loaded = load_dir(&fixture.dir.path().join("lane6")).unwrap();
    let lane = crate::provision::cni::CniProfile::by_name("calico-3.31").unwrap();
    let plan = plan::plans(&[loaded], Some(&lane)).await.unwrap().remove(0);
    let options = RunOptions {
        cni: Some(lane),
        ..full()
    };
    let outcome = runner(&dual(Faults::default()), options)
        .run_scenario(&plan, None)
        .await;
    let to_80: Vec<&CellOutcome> = outcome.steps[0]
        .cells
        .iter()
        .filter(|c| c.derived && c.from == "x/a" && c.to == "y/b" && c.port == Some(80))
        .collect();
    assert_eq!(to_80.len(), 2, "{to_80:?}");
    for c in to_80 {
        assert_eq!(c.expected, Expectation::Allowed, "{c:?}");
        assert!(
            !c.why.as_deref().unwrap().contains("unlike over IPv4"),
            "{:?}",
            c.why
        );
    }
}
