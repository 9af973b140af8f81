//! The five tutorial scenarios and the ClusterNetworkPolicy scenario, validated against the oracle; errata proofs proven; the loader on
//! broken scenarios; `plan --output json` and `reproduce` through the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use netpol_harness::scenario::format::{Expectation, Proof};
use netpol_harness::scenario::plan::{self, PlannedStep};
use netpol_harness::scenario::{LoadedScenario, Validation, discover, load, load_dir, validate};

const SCENARIOS: [&str; 6] = [
    "calico-about-network-policy",
    "calico-zero-trust",
    "cluster-network-policy",
    "contour-default-deny",
    "http-echo-busybox",
    "nginx-busybox-default",
];

/// The scenarios that reproduce a tutorial (the others exercise an API and say so).
const TUTORIALS: [&str; 5] = [
    "calico-about-network-policy",
    "calico-zero-trust",
    "contour-default-deny",
    "http-echo-busybox",
    "nginx-busybox-default",
];

/// Scenarios whose documents are all Kubernetes kinds: fully checked today.
const KUBERNETES_ONLY: [&str; 3] = [
    "cluster-network-policy",
    "http-echo-busybox",
    "nginx-busybox-default",
];
/// Scenarios that apply projectcalico.org/v3 documents.
const CALICO: [&str; 3] = [
    "calico-about-network-policy",
    "calico-zero-trust",
    "contour-default-deny",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("scenarios")
}

fn loaded(name: &str) -> LoadedScenario {
    load(&root(), name).unwrap_or_else(|e| panic!("{name} does not load:\n{e}"))
}

/// Whether validation stopped at the oracle's refusal of Calico documents. Every other problem
/// must then be a consequence of it (a proof that needs a step that could not be planned).
fn step<'a>(v: &'a Validation, name: &str) -> &'a PlannedStep {
    v.steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("step {name} not planned"))
}

#[test]
fn the_five_tutorials_and_the_cnp_scenario_are_scenarios() {
    assert_eq!(discover(&root()).unwrap(), SCENARIOS);
}

#[test]
fn the_cnp_scenario_says_it_is_not_a_tutorial_and_needs_the_capability() {
    let l = loaded("cluster-network-policy");
    assert!(l.scenario.title.contains("not a tutorial"));
    assert!(l.scenario.source.title.contains("not a tutorial"));
    let names: Vec<String> = l.scenario.requires.iter().map(|c| c.to_string()).collect();
    assert!(
        names.contains(&"cluster-network-policy".to_string()),
        "{names:?}"
    );
    let text =
        std::fs::read_to_string(root().join("cluster-network-policy/scenario.yaml")).unwrap();
    assert!(text.starts_with("# Not a tutorial"));
}

#[test]
fn cluster_network_policies_need_the_cluster_network_policy_capability() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("broken");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("workloads.yaml"), WORKLOADS).unwrap();
    std::fs::write(
        folder.join("cnp.yaml"),
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: c}\nspec:\n  tier: Admin\n  priority: 1\n  subject: {namespaces: {}}\n  egress:\n  - {action: Deny, to: [{nodes: {}}]}\n",
    )
    .unwrap();
    std::fs::write(
        folder.join("scenario.yaml"),
        format!("{HEADER}steps:\n- name: s\n  actions:\n  - apply: [cnp.yaml]\n  probes:\n  - {{from: x/client, to: x/server, port: 80, kind: tcp, expect: blocked}}\n"),
    )
    .unwrap();
    let err = match load_dir(&folder) {
        Ok(_) => panic!("loads without the capabilities"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("missing `cluster-network-policy`"), "{err}");
    assert!(err.contains("missing `cnp-nodes`"), "{err}");
    assert!(err.contains("missing `egress`"), "{err}");
}

#[test]
fn every_scenario_loads_with_all_references_resolved() {
    for name in SCENARIOS {
        let l = loaded(name);
        assert_eq!(l.scenario.name, name);
        if TUTORIALS.contains(&name) {
            assert!(!l.scenario.errata.is_empty(), "{name} records its errata");
        }
        for (i, step) in l.scenario.steps.iter().enumerate() {
            assert!(
                !step.narration.is_empty(),
                "{name} step {i} tells the tutorial's words"
            );
        }
    }
}

#[test]
fn kubernetes_only_scenarios_validate_completely() {
    for name in KUBERNETES_ONLY {
        let l = loaded(name);
        let v = validate(&l);
        let problems: Vec<String> = v.problems.iter().map(|p| p.to_string()).collect();
        assert!(v.is_ok(), "{name}:\n{}", problems.join("\n"));
        assert_eq!(v.steps.len(), l.scenario.steps.len());
        assert!(v.steps.iter().all(|s| s.probes.iter().all(|p| p.agrees)));
    }
}

#[test]
fn calico_scenarios_validate_as_far_as_the_oracle_goes() {
    for name in CALICO {
        let l = loaded(name);
        let v = validate(&l);
        for s in &v.steps {
            for p in &s.probes {
                assert!(p.agrees, "{name} {}: {} ({})", s.name, p.origin, p.reason);
            }
        }
        let problems: Vec<String> = v.problems.iter().map(|p| p.to_string()).collect();
        assert!(v.is_ok(), "{name}:\n{}", problems.join("\n"));
        assert_eq!(v.steps.len(), l.scenario.steps.len());
    }
}

#[test]
fn every_erratum_proof_holds() {
    let mut file_proofs = 0;
    for name in SCENARIOS {
        let l = loaded(name);
        let v = validate(&l);
        for (i, erratum) in l.scenario.errata.iter().enumerate() {
            let Some(proof) = &erratum.proof else {
                continue;
            };
            let proven = v.proven.iter().find(|p| p.erratum == i);
            match proof {
                Proof::YamlDoesNotParse { .. } | Proof::RemovedApi { .. } => {
                    file_proofs += 1;
                    let p = proven.unwrap_or_else(|| panic!("{name} errata[{i}] not proven"));
                    assert!(!p.evidence.is_empty());
                }
                Proof::ClaimContradicted { .. } => {
                    assert!(proven.is_some(), "{name} errata[{i}] not proven");
                }
            }
        }
    }
    // contour: deny-all, contour, echoserver, echo-netpol (tabs), lorem-ipsum (removed API);
    // about-network-policy: both examples (indentation).
    assert_eq!(file_proofs, 7);
}

#[test]
fn yaml_proofs_show_the_parser_error_and_removed_api_proofs_the_api() {
    let v = validate(&loaded("contour-default-deny"));
    let evidence: Vec<&str> = v.proven.iter().map(|p| p.evidence.as_str()).collect();
    assert!(
        evidence
            .iter()
            .any(|e| e.contains("original/deny-all.yaml") && e.contains("tab")),
        "{evidence:?}"
    );
    assert!(
        evidence
            .iter()
            .any(|e| e.contains("extensions/v1beta1 Ingress") && e.contains("1.22")),
        "{evidence:?}"
    );
}

#[test]
fn contour_predictions_follow_the_tutorial() {
    let v = validate(&loaded("contour-default-deny"));
    let open = step(&v, "allow-all");
    let statuses: Vec<Expectation> = open
        .probes
        .iter()
        .filter(|p| p.probe.to.starts_with("ingress:"))
        .map(|p| p.predicted)
        .collect();
    assert_eq!(
        statuses,
        [Expectation::Status(200), Expectation::Status(200)]
    );
    let echo = &open.probes[0];
    assert!(
        echo.resolution
            .to_string()
            .contains("projectcontour/envoy:8080 → Ingress team-a/echoserver (/echo)"),
        "{}",
        echo.resolution
    );
    let labelled = step(&v, "namespaces-labelled");
    let echo = labelled
        .probes
        .iter()
        .find(|p| p.probe.to == "ingress:/echo")
        .unwrap();
    assert_eq!(echo.predicted, Expectation::Status(503));
    assert!(echo.reason.contains("global-deny-all"), "{}", echo.reason);
    // DNS passes the Kubernetes policy (order 1000) and is allowed by the
    // GlobalNetworkPolicy (order 2000).
    let dns = step(&v, "lorem-policy")
        .probes
        .iter()
        .find(|p| p.probe.kind == netpol_harness::scenario::format::ScenarioProbeKind::Dns)
        .unwrap();
    assert_eq!(dns.predicted, Expectation::Allowed);
    assert!(dns.reason.contains("global-deny-all"), "{}", dns.reason);
}

#[test]
fn zero_trust_and_about_network_policy_predictions() {
    let v = validate(&loaded("calico-zero-trust"));
    assert_eq!(step(&v, "default-open").probes.len(), 3);
    // Busybox may send, but default deny drops it at nginx's ingress.
    let p = &step(&v, "allow-busybox-egress").probes[1];
    assert_eq!(p.predicted, Expectation::Blocked);
    assert!(
        p.reason.contains("ingress to shams/nginx: denied"),
        "{}",
        p.reason
    );
    let v = validate(&loaded("calico-about-network-policy"));
    let pod_policy = step(&v, "pod-policy");
    let dns = pod_policy
        .probes
        .iter()
        .find(|p| p.probe.to.starts_with("dns:"))
        .unwrap();
    assert_eq!(dns.predicted, Expectation::Blocked);
    assert!(
        dns.reason.contains("NetworkPolicy staging/front-end"),
        "{}",
        dns.reason
    );
    // The back-end's Kubernetes policy does not match DNS; the global policy after it allows it.
    let dns = step(&v, "default-deny-except-dns")
        .probes
        .iter()
        .find(|p| p.probe.from == "staging/back-end" && p.probe.to.starts_with("dns:"))
        .unwrap();
    assert_eq!(dns.predicted, Expectation::Allowed);
    assert!(
        dns.reason.contains("default-deny-except-dns"),
        "{}",
        dns.reason
    );
}

#[test]
fn every_step_of_every_scenario_is_planned() {
    for name in SCENARIOS {
        let l = loaded(name);
        let results: Vec<_> = plan::steps(&l).collect();
        assert_eq!(results.len(), l.scenario.steps.len(), "{name}");
        for r in results {
            assert!(r.is_ok(), "{name}: {:?}", r.err());
        }
    }
}

// ---- the loader on broken scenarios ----

const WORKLOADS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: x, labels: {app: client}}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: x, labels: {app: server}}
spec: {containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
"#;

const DENY: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec: {podSelector: {}}
"#;

const HEADER: &str = "name: broken\ntitle: t\nsource: {title: t, url: u}\nrequires: [ingress]\nnamespaces: [x]\nsetup: [workloads.yaml]\n";

/// Writes a scenario folder `broken` with `scenario` (after the header) and the workloads and
/// policy files, and returns the loader's error.
fn broken(scenario: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("broken");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("workloads.yaml"), WORKLOADS).unwrap();
    std::fs::write(folder.join("deny.yaml"), DENY).unwrap();
    std::fs::write(folder.join("scenario.yaml"), format!("{HEADER}{scenario}")).unwrap();
    match load_dir(&folder) {
        Ok(_) => panic!("loads:\n{scenario}"),
        Err(e) => e.to_string(),
    }
}

fn assert_names(err: &str, line: usize, field: &str, message: &str) {
    let at = format!("scenario.yaml:{line}: {field}: ");
    assert!(err.contains(&at), "`{err}` should contain `{at}`");
    assert!(err.contains(message), "`{err}` should contain `{message}`");
}

#[test]
fn a_well_formed_scenario_loads() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("broken");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("workloads.yaml"), WORKLOADS).unwrap();
    std::fs::write(
        folder.join("scenario.yaml"),
        format!("{HEADER}steps:\n- name: s\n  probes:\n  - {{from: x/client, to: x/server, port: 80, kind: tcp, expect: allowed}}\n"),
    )
    .unwrap();
    let l = load_dir(&folder).unwrap();
    assert!(validate(&l).is_ok());
}

#[test]
fn bad_yaml_names_the_line() {
    let err = broken(
        "steps:\n- name: s\n  probes:\n  - {from: x/client, to: x/server, port: 80, kind: tcp, expect: allowed\n",
    );
    assert!(err.contains("scenario.yaml:10: "), "{err}");
    assert!(err.contains("unclosed"), "{err}");
}

#[test]
fn unknown_fields_name_line_and_field() {
    let err = broken(
        "steps:\n- name: s\n  probes:\n  - {from: x/client, to: x/server, port: 80, kind: tcp, expct: allowed}\n",
    );
    assert_names(
        &err,
        10,
        "steps[0].probes[0].expct",
        "unknown field `expct`",
    );
    // A key next to a flattened label target is caught by the round trip.
    let err = broken(
        "steps:\n- name: s\n  actions:\n  - label: {namespace: x, sett: {a: b}}\n  probes:\n  - {from: x/client, to: x/server, port: 80, kind: tcp, expect: allowed}\n",
    );
    assert!(
        err.contains("scenario.yaml:10: steps[0].actions[0].label"),
        "{err}"
    );
    assert!(err.contains("sett"), "{err}");
}

#[test]
fn missing_files_name_the_reference() {
    let err = broken(
        "steps:\n- name: s\n  actions:\n  - apply: [nope.yaml]\n  probes:\n  - {from: x/client, to: x/server, port: 80, kind: tcp, expect: blocked}\n",
    );
    assert_names(&err, 10, "steps[0].actions[0].apply[0]", "nope.yaml");
}

#[test]
fn unknown_endpoints_services_and_namespaces_are_named() {
    let err = broken(
        "steps:\n- name: s\n  actions:\n  - label: {namespace: y, set: {a: b}}\n  probes:\n  - {from: x/client, to: x/nope, port: 80, kind: tcp, expect: allowed}\n  - {from: x/client, to: \"svc:x/nope\", port: 80, kind: tcp, expect: allowed}\n",
    );
    assert_names(
        &err,
        10,
        "steps[0].actions[0].label.namespace",
        "unknown namespace `y`",
    );
    assert_names(
        &err,
        12,
        "steps[0].probes[0].to",
        "unknown endpoint `x/nope`",
    );
    assert_names(
        &err,
        13,
        "steps[0].probes[1].to",
        "unknown service `x/nope`",
    );
}

#[test]
fn duplicate_steps_are_refused() {
    let err = broken(
        "steps:\n- name: s\n  probes:\n  - {from: x/client, to: x/server, port: 80, kind: tcp, expect: allowed}\n- name: s\n",
    );
    assert_names(&err, 11, "steps[1].name", "duplicate step name `s`");
}

#[test]
fn bad_matrix_shapes_are_refused() {
    let err = broken(
        "steps:\n- name: s\n  matrices:\n  - kind: tcp\n    port: 80\n    from: [x/client, x/server]\n    to: [x/server]\n    expect: |\n      .\n      . .\n",
    );
    assert_names(
        &err,
        15,
        "steps[0].matrices[0].expect",
        "row 2 (`. .`, from x/server) has 2 marks for 1 `to` columns",
    );
}

#[test]
fn a_step_with_policies_but_nothing_blocked_is_refused() {
    let err = broken(
        "steps:\n- name: open\n  probes:\n  - {from: x/client, to: x/server, port: 80, kind: tcp, expect: allowed}\n- name: denied\n  actions:\n  - apply: [deny.yaml]\n  probes:\n  - {from: x/client, to: x/server, port: 80, kind: tcp, expect: allowed}\n",
    );
    assert_names(
        &err,
        11,
        "steps[1]",
        "has policies in force (NetworkPolicy deny) but no probe expected blocked",
    );
}

#[test]
fn internet_probes_need_the_internet_capability() {
    let err = broken(
        "steps:\n- name: s\n  probes:\n  - {from: x/client, to: \"ip:1.1.1.1\", kind: icmp, expect: allowed}\n  - {from: x/client, to: dns:google.com, kind: dns, expect: allowed}\n",
    );
    assert_names(&err, 8, "steps[0].requires", "missing `internet`");
}

#[test]
fn disagreements_are_problems_with_the_oracles_explanation() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("broken");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("workloads.yaml"), WORKLOADS).unwrap();
    std::fs::write(folder.join("deny.yaml"), DENY).unwrap();
    std::fs::write(
        folder.join("scenario.yaml"),
        format!("{HEADER}steps:\n- name: s\n  actions:\n  - apply: [deny.yaml]\n  probes:\n  - {{from: x/client, to: x/server, port: 80, kind: tcp, expect: allowed}}\n  - {{from: x/server, to: x/client, kind: icmp, expect: blocked}}\n"),
    )
    .unwrap();
    let v = validate(&load_dir(&folder).unwrap());
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    let p = v.problems[0].to_string();
    assert!(p.contains("scenario.yaml:12: steps[0].probes[0]"), "{p}");
    assert!(
        p.contains("expects allowed, the oracle predicts blocked"),
        "{p}"
    );
    assert!(p.contains("NetworkPolicy x/deny"), "{p}");
}

#[test]
fn unpinned_remote_manifests_are_accepted_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("broken");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("workloads.yaml"), WORKLOADS).unwrap();
    let remote = "remote:\n- {url: \"https://example.com/x.yaml\", sha256: unpinned}\n";
    std::fs::write(
        folder.join("scenario.yaml"),
        format!("{HEADER}{remote}steps:\n- name: s\n  probes:\n  - {{from: x/client, to: x/server, port: 80, kind: tcp, expect: allowed}}\n"),
    )
    .unwrap();
    let v = validate(&load_dir(&folder).unwrap());
    assert!(v.is_ok());
    assert_eq!(v.warnings.len(), 1);
    assert!(
        v.warnings[0]
            .to_string()
            .contains("remote[0].sha256: https://example.com/x.yaml is not pinned")
    );
    std::fs::write(
        folder.join("scenario.yaml"),
        format!("{HEADER}remote:\n- {{url: \"https://example.com/x.yaml\", sha256: \"00\"}}\nsteps:\n- name: s\n"),
    )
    .unwrap();
    let err = load_dir(&folder).unwrap_err().to_string();
    assert!(
        err.contains("remote[0].sha256: expected 64 lowercase hex digits, or `unpinned`"),
        "{err}"
    );
}

// ---- the binary ----

fn harness() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_netpol-harness"));
    c.env("NETPOL_LOG", "error");
    c
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = harness()
        .args(args)
        .args(["--scenarios", root().to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn plan_json_has_the_documented_shape() {
    let (ok, out, err) = run(&["plan", "nginx-busybox-default", "--output", "json"]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let scenarios = json["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 1);
    let s = &scenarios[0];
    for key in ["name", "title", "source", "requires", "errata", "steps"] {
        assert!(s.get(key).is_some(), "missing {key}");
    }
    assert_eq!(s["name"], "nginx-busybox-default");
    assert_eq!(s["requires"], serde_json::json!(["ingress"]));
    assert!(s["errata"][0]["what"].is_string() && s["errata"][0]["why"].is_string());
    let steps = s["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0]["name"], "all-open");
    let probe = &steps[2]["probes"][1];
    for key in [
        "from",
        "to",
        "port",
        "protocol",
        "kind",
        "expected",
        "predicted",
        "agrees",
    ] {
        assert!(probe.get(key).is_some(), "missing {key} in {probe}");
    }
    assert_eq!(probe["from"], "default/busybox1");
    assert_eq!(probe["to"], "default/backend-nginx");
    assert_eq!(probe["port"], serde_json::Value::Null);
    assert_eq!(probe["protocol"], "ICMP");
    assert_eq!(probe["kind"], "icmp");
    assert_eq!(probe["expected"], "blocked");
    assert_eq!(probe["predicted"], "blocked");
    assert_eq!(probe["agrees"], true);
    let http = &steps[0]["probes"][6];
    assert_eq!(http["port"], 80);
    assert_eq!(http["protocol"], "TCP");
}

#[test]
fn plan_json_carries_statuses_and_stops_with_an_error_when_a_step_cannot_be_planned() {
    let (ok, out, _) = run(&["plan", "contour-default-deny", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let s = &json["scenarios"][0];
    assert_eq!(
        s["steps"][0]["probes"][0]["predicted"],
        serde_json::json!({"status": 200})
    );
    assert!(ok);
    assert!(s.get("error").is_none(), "{s}");
    assert_eq!(s["steps"].as_array().unwrap().len(), 6);
}

#[test]
fn plan_tables_mark_each_probe() {
    let (ok, out, err) = run(&["plan", "http-echo-busybox"]);
    assert!(ok, "{err}");
    assert!(out.contains("-- step 2/4: deny-all"), "{out}");
    assert!(
        out.contains(
            "| ns-1/busybox | svc:ns-1/http-echo | 80/TCP | http | blocked  | blocked   | ok |"
        ),
        "{out}"
    );
    let (ok, _, err) = run(&["plan"]);
    assert!(!ok && err.contains("--all"), "{err}");
}

#[test]
fn plan_and_reproduce_dry_run_show_the_derived_cells_a_run_adds() {
    // nginx-busybox-default: four pods; the deny step claims 18 cells, the whole matrix adds
    // 18 (ICMP and the ports nobody claims), 6 of them a pod to itself.
    let full = "  derived cells (--matrix full): 18 beyond the claims (per endpoint pair and port): the oracle expects 0 allowed, 12 blocked; reported, not asserted: 6 to itself, 0 undecided\n";
    let none = "  derived cells: none (--matrix claims: the claims alone)\n";
    let (ok, out, err) = run(&["plan", "nginx-busybox-default"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.matches("  derived cells (--matrix full): ").count(),
        3,
        "{out}"
    );
    assert!(out.contains(full), "{out}");
    let (ok, out, err) = run(&["plan", "nginx-busybox-default", "--matrix", "claims"]);
    assert!(ok, "{err}");
    assert_eq!(out.matches(none).count(), 3, "{out}");
    assert!(!out.contains("(--matrix full)"), "{out}");
    let (ok, out, err) = run(&["reproduce", "nginx-busybox-default", "--dry-run"]);
    assert!(ok, "{err}");
    assert!(out.contains(full), "{out}");
    let (ok, out, err) = run(&[
        "reproduce",
        "nginx-busybox-default",
        "--dry-run",
        "--matrix",
        "claims",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.matches(none).count(), 3, "{out}");
    // In JSON, per step; left out with --matrix claims.
    let (ok, out, err) = run(&["plan", "http-echo-busybox", "--output", "json"]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        json["scenarios"][0]["steps"][2]["derived"],
        serde_json::json!({"cells": 2, "allowed": 0, "blocked": 1, "self_traffic": 1, "undecided": 0})
    );
    let (_, out, _) = run(&[
        "plan",
        "http-echo-busybox",
        "--output",
        "json",
        "--matrix",
        "claims",
    ]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(json["scenarios"][0]["steps"][2].get("derived").is_none());
}

#[test]
fn reproduce_dry_run_walks_the_tutorial() {
    let (ok, out, err) = run(&["reproduce", "http-echo-busybox", "--dry-run"]);
    assert!(ok, "{err}");
    for expected in [
        "# Where this differs from the tutorial:",
        "== Setup",
        "$ kubectl create namespace ns-1",
        "http-echo-busybox/http-echo.yaml",
        "== Step 3/4: allow-rule",
        "Create network policy with a rule",
        "$ kubectl delete -f ",
        "$ kubectl label pods -n ns-1 --selector=run=http-echo app=http-echo --overwrite",
        "$ kubectl label pod -n ns-1 busybox app=busybox --overwrite",
        "$ kubectl exec -n ns-1 busybox -- wget -qO- -T 2 --post-data '' http://http-echo/test",
        "# expect: HTTP 200",
        "Predicted by the oracle:",
        "| ns-1/busybox | svc:ns-1/http-echo | 80/TCP | http | HTTP 200 | allowed   | ok |",
        "== Clean up",
        "$ kubectl delete namespace ns-1",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in:\n{out}");
    }
    let (ok, out, err) = run(&["reproduce", "contour-default-deny", "--dry-run"]);
    assert!(out.contains("$ kubectl apply -f https://raw.githubusercontent.com/projectcontour/contour/v1.33.6/examples/render/contour.yaml"), "{out}");
    assert!(
        out.contains("curl -s -o /dev/null -w '%{http_code}\\n' -m 5 http://localhost/echo"),
        "{out}"
    );
    assert!(
        out.contains("| outside            | ingress:/echo"),
        "{out}"
    );
    assert!(ok, "{err}");
    assert!(out.contains("== Step 6/6"), "{out}");
}

#[test]
fn reproduce_without_dry_run_runs_on_a_cluster_and_says_so_when_there_is_none() {
    let kubeconfig = tempfile::tempdir().unwrap();
    let out = harness()
        .args(["reproduce", "nginx-busybox-default"])
        .args(["--scenarios", root().to_str().unwrap()])
        .env("KUBECONFIG", kubeconfig.path().join("absent"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (ok, out, err) = (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(!ok);
    // Planned (and checked against the oracle) first; without a cluster nothing is walked.
    assert!(!out.contains("== Step 1/3: all-open"), "{out}");
    assert!(
        err.contains("cannot run on a cluster: cannot read kubeconfig"),
        "{err}"
    );
    assert!(
        err.contains("netpol-harness plan nginx-busybox-default"),
        "{err}"
    );
    assert!(
        err.contains("netpol-harness reproduce nginx-busybox-default --dry-run"),
        "{err}"
    );
}

#[test]
fn reproduce_interactive_stops_at_the_end_of_input() {
    let (ok, out, err) = run(&[
        "reproduce",
        "nginx-busybox-default",
        "--dry-run",
        "--interactive",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("-- press Enter for the next step --"), "{out}");
    assert!(
        out.contains("(end of input: stopped after step 1)"),
        "{out}"
    );
    assert!(!out.contains("== Step 2/3"), "{out}");
    let mut child = harness()
        .args([
            "reproduce",
            "nginx-busybox-default",
            "--dry-run",
            "--interactive",
        ])
        .args(["--scenarios", root().to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"\n\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.contains("== Step 3/3: access-policies") && out.contains("== Clean up"),
        "{out}"
    );
}

#[test]
fn scenarios_and_validate_commands() {
    let (ok, out, err) = run(&["scenarios"]);
    assert!(ok, "{err}");
    for name in SCENARIOS {
        assert!(out.contains(name), "{out}");
    }
    assert!(
        out.contains("namespaces-labelled-internet (+internet)"),
        "{out}"
    );
    let (ok, out, err) = run(&["validate", "http-echo-busybox", "nginx-busybox-default"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("ok   http-echo-busybox: 4 steps"), "{out}");
    let (ok, out, _) = run(&["validate", "contour-default-deny"]);
    assert!(ok, "{out}");
    assert!(out.contains("proven errata[8] (removed-api)"), "{out}");
    let (ok, out, _) = run(&["validate", "no-such-scenario"]);
    assert!(
        !ok && out.contains("no scenario `no-such-scenario`"),
        "{out}"
    );
}

#[test]
fn an_address_rule_covering_part_of_the_pod_cidr_is_warned_about() {
    // Which pods 10.244.0.0/30 covers depends on the addresses a cluster gives them; the plan
    // assumes them (client 10.244.0.2 here). A CIDR covering all or none of the pod CIDR does
    // not depend on them, and is not warned about.
    let policy = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-block, namespace: x}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{ipBlock: {cidr: 10.244.0.0/30}}]
    ports: [{port: 80}]
  - from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.244.0.0/16]}}]
"#;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("broken");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("workloads.yaml"), WORKLOADS).unwrap();
    std::fs::write(folder.join("block.yaml"), policy).unwrap();
    std::fs::write(
        folder.join("scenario.yaml"),
        format!("{HEADER}steps:\n- name: s\n  actions:\n  - apply: [block.yaml]\n  probes:\n  - {{from: x/client, to: x/server, port: 80, kind: tcp, expect: allowed}}\n  - {{from: x/client, to: x/server, port: 81, kind: tcp, expect: blocked}}\n"),
    )
    .unwrap();
    let v = validate(&load_dir(&folder).unwrap());
    assert!(v.is_ok(), "{:?}", v.problems);
    assert_eq!(v.warnings.len(), 1, "{:?}", v.warnings);
    let w = v.warnings[0].to_string();
    assert!(
        w.contains("steps[0]: NetworkPolicy x/from-block (")
            && w.contains("10.244.0.0/30 covers part of the pod CIDR 10.244.0.0/16"),
        "{w}"
    );
}
