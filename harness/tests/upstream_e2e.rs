//! The upstream Kubernetes "Netpol" e2e suite (kubernetes/kubernetes
//! `test/e2e/network/netpol/network_policy.go`), translated into fixtures and checked against the
//! oracle cell by cell.
//!
//! `tests/fixtures/upstream-e2e/model.yaml` is the upstream model (namespaces x, y, z; pods a, b, c
//! in each). Every folder under `cases/` is one upstream test, or one state of a test that changes
//! the cluster mid-way, with:
//!
//! - `case.yaml`: the policies the test creates, plus any object it changes (a relabelled pod or
//!   namespace), which replaces the model's object of the same kind, namespace and name, as
//!   `kubectl apply` would;
//! - `expect.txt`: per probed port, the upstream reachability calls (`call ...`, copied from the
//!   test) and the truth table they produce, in upstream `PrettyPrint` layout.
//!
//! Each case checks that its tables are exactly what the transcribed calls give (so a typo in either
//! is caught), then compares every cell with the oracle. Self cells (a pod to itself) are compared
//! too: upstream counts them as "ignored" when deciding pass/fail (issue #95879), but its expected
//! values for them follow the same calls as every other cell, and the oracle must agree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use netpol_harness::analysis::Analysis;
use netpol_harness::manifest::{self, Document};
use netpol_harness::oracle::{Oracle, ProbePort};
use netpol_harness::report::truth_table::{Mark, TruthTable};
use serde_json::Value;

/// The model's pods carry addresses in this range; nothing is assigned from it.
const POD_CIDR: &str = "10.244.0.0/16";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream-e2e")
}

fn case_dir(case: &str) -> PathBuf {
    fixtures().join("cases").join(case)
}

/// One probed port of a case: the upstream calls and the table they give.
struct Section {
    probe: ProbePort,
    calls: Vec<String>,
    /// Pod names in header order (`x/a`, `x/b`, ...).
    names: Vec<String>,
    /// `expected[from][to]`, in `names` order.
    expected: Vec<Vec<bool>>,
}

fn parse_expect(path: &Path) -> Vec<Section> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut sections: Vec<Section> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), n + 1);
        let line = line.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(probe) = line.strip_prefix("probe ") {
            sections.push(Section {
                probe: probe
                    .trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("{}: {e}", at())),
                calls: Vec::new(),
                names: Vec::new(),
                expected: Vec::new(),
            });
            continue;
        }
        let section = sections
            .last_mut()
            .unwrap_or_else(|| panic!("{}: a `probe` line must come first", at()));
        if let Some(call) = line.strip_prefix("call ") {
            section.calls.push(call.trim().to_string());
            continue;
        }
        let mut fields = line.split_whitespace();
        let first = fields.next().expect("non-blank line");
        if first == "-" {
            section.names = fields.map(str::to_string).collect();
            continue;
        }
        assert_eq!(
            section
                .names
                .get(section.expected.len())
                .map(String::as_str),
            Some(first),
            "{}: rows must follow the header's order",
            at()
        );
        let row: Vec<bool> = fields
            .map(|mark| match mark {
                "." => true,
                "X" => false,
                other => panic!("{}: unknown mark `{other}` (expected . or X)", at()),
            })
            .collect();
        assert_eq!(row.len(), section.names.len(), "{}: row width", at());
        section.expected.push(row);
    }
    assert!(
        !sections.is_empty(),
        "{}: no `probe` section",
        path.display()
    );
    for s in &sections {
        assert_eq!(
            s.expected.len(),
            s.names.len(),
            "{}: probe {}: the table must be square",
            path.display(),
            s.probe
        );
    }
    sections
}

/// A pod pattern of an upstream call: namespace and pod, `None` matching anything.
type Pattern = (Option<String>, Option<String>);

fn split_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in args.chars() {
        match c {
            '(' | '{' => depth += 1,
            ')' | '}' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            out.push(current.trim().to_string());
            current.clear();
        } else {
            current.push(c);
        }
    }
    out.push(current.trim().to_string());
    out
}

/// `nsX` → `x`.
fn namespace_var(v: &str) -> String {
    v.strip_prefix("ns")
        .filter(|n| n.len() == 1)
        .unwrap_or_else(|| panic!("`{v}` is not nsX, nsY or nsZ"))
        .to_lowercase()
}

fn pattern(arg: &str) -> Pattern {
    if let Some(inner) = arg
        .strip_prefix("NewPodString(")
        .and_then(|a| a.strip_suffix(')'))
    {
        let parts = split_args(inner);
        return (
            Some(namespace_var(&parts[0])),
            Some(parts[1].trim_matches('"').to_string()),
        );
    }
    let inner = arg
        .strip_prefix("&Peer{")
        .and_then(|a| a.strip_suffix('}'))
        .unwrap_or_else(|| panic!("`{arg}` is neither NewPodString(...) nor &Peer{{...}}"));
    let (mut ns, mut pod) = (None, None);
    for field in split_args(inner).iter().filter(|f| !f.is_empty()) {
        let (key, value) = field.split_once(':').unwrap_or_else(|| panic!("`{field}`"));
        match key.trim() {
            "Namespace" => ns = Some(namespace_var(value.trim())),
            "Pod" => pod = Some(value.trim().trim_matches('"').to_string()),
            other => panic!("unknown Peer field `{other}`"),
        }
    }
    (ns, pod)
}

fn pattern_matches(p: &Pattern, name: &str) -> bool {
    let (ns, pod) = name.split_once('/').expect("namespace/pod");
    p.0.as_deref().is_none_or(|n| n == ns) && p.1.as_deref().is_none_or(|q| q == pod)
}

/// Upstream's `NewReachability(pods, true)` followed by `calls`, in order (the last call wins).
fn replay(names: &[String], calls: &[String]) -> Vec<Vec<bool>> {
    let mut table = vec![vec![true; names.len()]; names.len()];
    for call in calls {
        let (function, rest) = call.split_once('(').unwrap_or_else(|| panic!("`{call}`"));
        let args = split_args(rest.strip_suffix(')').unwrap_or_else(|| panic!("`{call}`")));
        let value = match args.last().map(String::as_str) {
            Some("true") => true,
            Some("false") => false,
            _ => panic!("`{call}`: the last argument must be true or false"),
        };
        let any: Pattern = (None, None);
        let (from, to) = match function {
            "Expect" | "ExpectPeer" => (pattern(&args[0]), pattern(&args[1])),
            "ExpectAllIngress" => (any, pattern(&args[0])),
            "ExpectAllEgress" => (pattern(&args[0]), any),
            other => panic!("unknown reachability call `{other}`"),
        };
        for (f, from_name) in names.iter().enumerate() {
            for (t, to_name) in names.iter().enumerate() {
                if pattern_matches(&from, from_name) && pattern_matches(&to, to_name) {
                    table[f][t] = value;
                }
            }
        }
    }
    table
}

/// Identity of an object for "apply replaces": kind, namespace and name.
fn identity(doc: &Document) -> (String, String, String) {
    (
        doc.kind().to_string(),
        doc.namespace().unwrap_or_default().to_string(),
        doc.name().to_string(),
    )
}

/// The model with the case applied on top of it.
fn load_case(case: &str) -> Analysis {
    let mut docs = manifest::load_file(&fixtures().join("model.yaml")).expect("model.yaml loads");
    let case_docs =
        manifest::load_file(&case_dir(case).join("case.yaml")).expect("case.yaml loads");
    for doc in case_docs {
        match docs.iter_mut().find(|d| identity(d) == identity(&doc)) {
            Some(existing) => *existing = doc,
            None => docs.push(doc),
        }
    }
    Analysis::from_documents(&docs, POD_CIDR.parse().expect("valid CIDR"))
        .unwrap_or_else(|e| panic!("{case}: {e}"))
}

fn marks(table: &[Vec<bool>]) -> Vec<Vec<Mark>> {
    table
        .iter()
        .map(|row| {
            row.iter()
                .map(|&a| if a { Mark::Allowed } else { Mark::Blocked })
                .collect()
        })
        .collect()
}

fn check_case(case: &str) {
    let analysis = load_case(case);
    let oracle = analysis.oracle();
    let cluster = oracle.cluster();
    let mut failures = String::new();
    for section in parse_expect(&case_dir(case).join("expect.txt")) {
        let replayed = replay(&section.names, &section.calls);
        assert_eq!(
            section.expected, replayed,
            "{case}: probe {}: the table in expect.txt is not what its upstream calls give",
            section.probe
        );
        let ids: Vec<_> = section
            .names
            .iter()
            .map(|n| {
                cluster
                    .endpoint(n)
                    .unwrap_or_else(|| panic!("{case}: no endpoint {n}"))
            })
            .collect();
        let all: BTreeSet<String> = cluster.endpoints.iter().map(|e| e.key()).collect();
        let listed: BTreeSet<String> = section.names.iter().cloned().collect();
        assert_eq!(all, listed, "{case}: the table must cover every endpoint");

        let matrix = oracle.matrix(&[section.probe]);
        let observed: Vec<Vec<bool>> = ids
            .iter()
            .map(|&f| ids.iter().map(|&t| matrix.allowed(0, f, t)).collect())
            .collect();
        if observed == section.expected {
            continue;
        }
        let diff: Vec<Vec<Mark>> = observed
            .iter()
            .zip(&section.expected)
            .map(|(o, e)| {
                o.iter()
                    .zip(e)
                    .map(|(a, b)| if a == b { Mark::Allowed } else { Mark::Wrong })
                    .collect()
            })
            .collect();
        let table = |title: String, marks: Vec<Vec<Mark>>| {
            TruthTable {
                title,
                names: &section.names,
                marks,
            }
            .render()
        };
        failures.push_str(&table(
            format!("expected {} (upstream)", section.probe),
            marks(&section.expected),
        ));
        failures.push_str(&table(
            format!("observed {} (oracle)", section.probe),
            marks(&observed),
        ));
        failures.push_str(&table(format!("diff {} (! = wrong)", section.probe), diff));
        for (f, &from) in ids.iter().enumerate() {
            for (t, &to) in ids.iter().enumerate() {
                if observed[f][t] != section.expected[f][t] {
                    let packet = Oracle::packet(from, to, section.probe);
                    let verdict = oracle.verdict(&packet);
                    failures.push_str(&format!(
                        "  {} → {} {}: expected {}, oracle says {}: {}\n",
                        section.names[f],
                        section.names[t],
                        section.probe,
                        if section.expected[f][t] {
                            "allowed"
                        } else {
                            "blocked"
                        },
                        if verdict.allowed {
                            "allowed"
                        } else {
                            "blocked"
                        },
                        oracle.explain(&packet, &verdict)
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{case}: the oracle disagrees with upstream\n{failures}"
    );
}

macro_rules! upstream_cases {
    ($($test:ident => $dir:literal,)*) => {
        /// Every case folder, in order; `every_case_folder_has_a_test` keeps it complete.
        const CASES: &[&str] = &[$($dir),*];
        $(
            #[test]
            fn $test() {
                check_case($dir);
            }
        )*
    };
}

upstream_cases! {
    t01_default_deny_ingress => "01-default-deny-ingress",
    t02_default_deny_all => "02-default-deny-all",
    t03_podselector_within_namespace => "03-podselector-within-namespace",
    t04_ingress_for_a_target => "04-ingress-for-a-target",
    t05_ingress_from_all_namespaces => "05-ingress-from-all-namespaces",
    t06_namespaceselector => "06-namespaceselector",
    t07_podselector_matchexpressions => "07-podselector-matchexpressions",
    t08_namespaceselector_matchexpressions => "08-namespaceselector-matchexpressions",
    t09_podselector_or_namespaceselector => "09-podselector-or-namespaceselector",
    t10_podselector_and_namespaceselector => "10-podselector-and-namespaceselector",
    t11_multiple_podselectors_and_namespaceselectors => "11-multiple-podselectors-and-namespaceselectors",
    t12_any_podselectors => "12-any-podselectors",
    t13_pod_in_different_namespace => "13-pod-in-different-namespace",
    t14_ports => "14-ports",
    t15a_stacked_policies_port_81_only => "15a-stacked-policies-port-81-only",
    t15b_stacked_policies_port_80_added => "15b-stacked-policies-port-80-added",
    t16_allow_all => "16-allow-all",
    t17_named_port_ingress => "17-named-port-ingress",
    t18_named_port_from_namespace => "18-named-port-from-namespace",
    t19_named_port_egress => "19-named-port-egress",
    t20a_updated_policy_allow_all => "20a-updated-policy-allow-all",
    t20b_updated_policy_deny_all => "20b-updated-policy-deny-all",
    t21a_updated_namespace_before => "21a-updated-namespace-before",
    t21b_updated_namespace_after => "21b-updated-namespace-after",
    t22a_updated_pod_before => "22a-updated-pod-before",
    t22b_updated_pod_after => "22b-updated-pod-after",
    t23_deny_ingress_from_other_namespaces => "23-deny-ingress-from-other-namespaces",
    t24a_updated_pod_isolated_before => "24a-updated-pod-isolated-before",
    t24b_updated_pod_isolated_after => "24b-updated-pod-isolated-after",
    t25_deny_egress_podselector => "25-deny-egress-podselector",
    t26_deny_egress_namespace => "26-deny-egress-namespace",
    t27_ingress_and_egress_together => "27-ingress-and-egress-together",
    t28_egress_denied_on_client_side => "28-egress-denied-on-client-side",
    t29_egress_podselector_and_namespaceselector => "29-egress-podselector-and-namespaceselector",
    t30_ingress_any_port_one_protocol => "30-ingress-any-port-one-protocol",
    t31a_ingress_allow_all_precedence_before => "31a-ingress-allow-all-precedence-before",
    t31b_ingress_allow_all_precedence_after => "31b-ingress-allow-all-precedence-after",
    t32a_egress_allow_all_precedence_before => "32a-egress-allow-all-precedence-before",
    t32b_egress_allow_all_precedence_after => "32b-egress-allow-all-precedence-after",
    t33a_policies_deleted_before => "33a-policies-deleted-before",
    t33b_policies_deleted_after => "33b-policies-deleted-after",
    t34_egress_to_cidr => "34-egress-to-cidr",
    t35_egress_cidr_except => "35-egress-cidr-except",
    t36a_cidr_and_except_overlap_before => "36a-cidr-and-except-overlap-before",
    t36b_cidr_and_except_overlap_after => "36b-cidr-and-except-overlap-after",
    t37a_independent_ingress_egress_before => "37a-independent-ingress-egress-before",
    t37b_independent_ingress_egress_after => "37b-independent-ingress-egress-after",
    t38_sctp_is_not_tcp => "38-sctp-is-not-tcp",
    t39_sctp_policy_isolates => "39-sctp-policy-isolates",
    t40_udp_is_not_tcp => "40-udp-is-not-tcp",
    t41_default_namespace_label_matchlabels => "41-default-namespace-label-matchlabels",
    t42_default_namespace_label_matchexpressions => "42-default-namespace-label-matchexpressions",
    t43_udp_default_deny_ingress => "43-udp-default-deny-ingress",
    t44_udp_ports => "44-udp-ports",
    t45_udp_pod_in_different_namespace => "45-udp-pod-in-different-namespace",
    t46_sctp_default_deny_ingress => "46-sctp-default-deny-ingress",
    t47_sctp_ports => "47-sctp-ports",
    t48_sctp_pod_in_different_namespace => "48-sctp-pod-in-different-namespace",
}

#[test]
fn every_case_folder_has_a_test() {
    let mut folders: Vec<String> = std::fs::read_dir(fixtures().join("cases"))
        .expect("cases/ exists")
        .map(|e| {
            e.expect("readable")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    folders.sort();
    assert_eq!(
        folders, CASES,
        "add a line to upstream_cases! for each case folder"
    );
    for case in CASES {
        for file in ["case.yaml", "expect.txt"] {
            assert!(
                case_dir(case).join(file).is_file(),
                "{case}/{file} is missing"
            );
        }
    }
}

#[test]
fn replay_follows_upstream_semantics() {
    let names: Vec<String> = ["x/a", "x/b", "y/a"].map(String::from).to_vec();
    let calls = [
        "ExpectAllIngress(NewPodString(nsX, \"a\"), false)",
        "Expect(NewPodString(nsX, \"b\"), NewPodString(nsX, \"a\"), true)",
        "ExpectPeer(&Peer{Namespace: nsY}, &Peer{}, false)",
    ]
    .map(String::from);
    assert_eq!(
        replay(&names, &calls),
        vec![
            vec![false, true, true],
            vec![true, true, true],
            vec![false, false, false],
        ]
    );
}

/// The case the command-line tests run.
const CLI_CASE: &str = "28-egress-denied-on-client-side";

fn run_analyze(extra: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_netpol-harness"))
        .arg("analyze")
        .arg("-f")
        .arg(fixtures().join("model.yaml"))
        .arg("-f")
        .arg(case_dir(CLI_CASE).join("case.yaml"))
        .args(extra)
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "analyze failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn cli_json_has_every_ordered_pair_for_every_declared_probe() {
    // Upstream probes a pod's own cell through its Service (policy applies), and every pod serves
    // every port of the model; reasons come with --explain.
    let output = run_analyze(&["--output", "json", "--explain", "--self-traffic", "policed"]);
    let json: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    let top = json.as_object().expect("a JSON object");
    assert_eq!(
        top.keys().collect::<Vec<_>>(),
        ["assumed_addresses", "cells", "ignored", "probes"]
    );
    let cells = top["cells"].as_array().expect("cells is a list");

    let pods: Vec<String> = ["x", "y", "z"]
        .iter()
        .flat_map(|ns| ["a", "b", "c"].map(|p| format!("{ns}/{p}")))
        .collect();
    // Every port the model declares is probed: 80 and 81 over TCP, UDP and SCTP.
    let probes = ["TCP", "UDP", "SCTP"]
        .iter()
        .flat_map(|proto| [80u64, 81].map(|port| (port, proto.to_string())))
        .collect::<BTreeSet<_>>();
    assert_eq!(cells.len(), probes.len() * pods.len() * pods.len());

    let fields: BTreeSet<&str> = ["from", "to", "port", "protocol", "allowed", "reason"].into();
    let mut seen = BTreeSet::new();
    for cell in cells {
        let cell = cell.as_object().expect("a cell is an object");
        assert_eq!(
            cell.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            fields
        );
        let from = cell["from"].as_str().expect("from is a string").to_string();
        let to = cell["to"].as_str().expect("to is a string").to_string();
        let port = cell["port"].as_u64().expect("port is a number");
        let protocol = cell["protocol"].as_str().expect("protocol is a string");
        assert!(cell["allowed"].is_boolean());
        assert!(
            !cell["reason"]
                .as_str()
                .expect("reason is a string")
                .is_empty()
        );
        assert!(pods.contains(&from) && pods.contains(&to), "{from} → {to}");
        assert!(
            probes.contains(&(port, protocol.to_string())),
            "{port}/{protocol}"
        );
        assert!(
            seen.insert((port, protocol.to_string(), from, to)),
            "duplicate cell"
        );
    }

    // The cells agree with the upstream table of the case.
    let section = &parse_expect(&case_dir(CLI_CASE).join("expect.txt"))[0];
    for cell in cells {
        let port = cell["port"].as_u64().expect("port");
        let protocol = cell["protocol"].as_str().expect("protocol");
        if Some(port as u16) != section.probe.port || protocol != section.probe.protocol.as_str() {
            continue;
        }
        let f = section
            .names
            .iter()
            .position(|n| n == &cell["from"])
            .expect("from");
        let t = section
            .names
            .iter()
            .position(|n| n == &cell["to"])
            .expect("to");
        assert_eq!(
            cell["allowed"].as_bool(),
            Some(section.expected[f][t]),
            "{cell}"
        );
    }
}

#[test]
fn cli_table_shows_the_upstream_table() {
    let section = &parse_expect(&case_dir(CLI_CASE).join("expect.txt"))[0];
    let output = run_analyze(&[
        "--output",
        "table",
        "--probe",
        &section.probe.to_string(),
        "--self-traffic",
        "policed",
    ]);
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(section.probe.to_string().as_str()));
    assert!(lines.next().expect("header").contains("from \\ to"));
    for (r, name) in section.names.iter().enumerate() {
        let line = lines.next().expect("a row per pod");
        let mut fields = line.split_whitespace();
        assert_eq!(fields.next(), Some(name.as_str()), "{line}");
        let row: Vec<bool> = fields
            .map(|m| match m.trim_matches(['[', ']']) {
                "." => true,
                "X" => false,
                other => panic!("unexpected mark `{other}` in {line}"),
            })
            .collect();
        assert_eq!(row, section.expected[r], "{line}");
        assert!(line.contains(&format!(
            "[{}]",
            if section.expected[r][r] { '.' } else { 'X' }
        )));
    }
    assert!(text.contains("legend:"), "{text}");
}
