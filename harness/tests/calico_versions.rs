//! The Calico version lines differ exactly where Calico's code differs, pinned on one set of
//! manifests (`tests/fixtures/calico-versions/manifests.yaml`); the README's table lists the same
//! differences with their sources.

use std::path::PathBuf;
use std::process::Command;

use netpol_harness::analysis::Analysis;
use netpol_harness::oracle::{Oracle, Packet, Peer, ProbePort, Uncertainty};
use netpol_harness::policy::{CalicoLine, Semantics};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/calico-versions/manifests.yaml")
}

fn load(semantics: Semantics) -> Analysis {
    Analysis::load_as(
        &[fixture()],
        netpol_harness::model::DEFAULT_POD_CIDR
            .parse()
            .expect("CIDR"),
        semantics,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// `.` allowed, `X` blocked, `?` either/unknown.
fn mark(a: &Analysis, from: &str, to: &str, probe: &str) -> (char, String) {
    let oracle = Oracle::new(&a.cluster, &a.policies);
    let probe: ProbePort = probe.parse().expect("probe");
    let endpoint = |k: &str| Peer::Endpoint(a.cluster.endpoint(k).expect("endpoint"));
    let packet = Packet {
        from: endpoint(from),
        to: endpoint(to),
        protocol: probe.protocol,
        port: probe.port,
    };
    let v = oracle.verdict(&packet);
    let m = match (v.uncertain, v.allowed) {
        (Some(Uncertainty::Either | Uncertainty::Dns), _) => '?',
        (None, true) => '.',
        (None, false) => 'X',
    };
    (m, oracle.explain(&packet, &v))
}

/// `(difference, from, to, probe, [generic, 3.29, 3.30, 3.31, 3.32])`.
const CASES: &[(&str, &str, &str, &str, [char; 5])] = &[
    (
        "A ANP ignored by 3.32",
        "slytherin/draco",
        "gryffindor/harry",
        "80/TCP",
        ['X', 'X', 'X', 'X', '.'],
    ),
    (
        "B BANP from 3.30 to 3.31",
        "ravenclaw/luna",
        "gryffindor/harry",
        "80/TCP",
        ['X', '.', 'X', 'X', '.'],
    ),
    (
        "C CNP from 3.32",
        "hufflepuff/cedric",
        "gryffindor/harry",
        "80/TCP",
        ['X', '.', '.', '.', 'X'],
    ),
    (
        "D ANP namedPort, other port",
        "slytherin/draco",
        "ravenclaw/luna",
        "53/UDP",
        ['.', 'X', 'X', 'X', '.'],
    ),
    (
        "D ANP namedPort, its port",
        "slytherin/draco",
        "ravenclaw/luna",
        "80/TCP",
        ['X', 'X', 'X', 'X', '.'],
    ),
    (
        "E Calico named port, UDP",
        "slytherin/draco",
        "hufflepuff/cedric",
        "53/UDP",
        ['X', 'X', 'X', 'X', '.'],
    ),
    (
        "E Calico named port, TCP",
        "slytherin/draco",
        "hufflepuff/cedric",
        "80/TCP",
        ['X', 'X', 'X', 'X', 'X'],
    ),
    (
        "F equal-order tie-break",
        "gryffindor/harry",
        "tie/server",
        "80/TCP",
        ['X', 'X', 'X', 'X', '.'],
    ),
    (
        "G nodes peer fails closed",
        "hufflepuff/cedric",
        "slytherin/draco",
        "80/TCP",
        ['.', '.', '.', '.', 'X'],
    ),
    (
        "H equal CNP priorities",
        "ravenclaw/luna",
        "slytherin/draco",
        "80/TCP",
        ['?', '.', '.', '.', 'X'],
    ),
];

#[test]
fn versions_differ_exactly_where_calico_does() {
    let modes = [
        Semantics::Generic,
        Semantics::Calico(CalicoLine::V3_29),
        Semantics::Calico(CalicoLine::V3_30),
        Semantics::Calico(CalicoLine::V3_31),
        Semantics::Calico(CalicoLine::V3_32),
    ];
    let analyses: Vec<Analysis> = modes.iter().map(|&m| load(m)).collect();
    for (what, from, to, probe, expected) in CASES {
        for (i, a) in analyses.iter().enumerate() {
            let (got, why) = mark(a, from, to, probe);
            assert_eq!(got, expected[i], "{what} under {:?}: {why}", modes[i]);
        }
    }
}

#[test]
fn explanations_name_calico_tiers_and_the_fail_closed_rule() {
    let a = load(Semantics::Calico(CalicoLine::V3_32));
    let (_, why) = mark(&a, "hufflepuff/cedric", "slytherin/draco", "80/TCP");
    assert!(why.contains("tier kube-admin, order 30"), "{why}");
    assert!(why.contains("failed closed to deny all"), "{why}");
    let (_, why) = mark(&a, "ravenclaw/luna", "slytherin/draco", "80/TCP");
    assert!(why.contains("ClusterNetworkPolicy a-deny"), "{why}");
    let a = load(Semantics::Generic);
    let (_, why) = mark(&a, "ravenclaw/luna", "slytherin/draco", "80/TCP");
    assert!(
        why.contains("either:") && why.contains("tier Admin, priority 50"),
        "{why}"
    );
}

#[test]
fn ignored_kinds_are_warned_about() {
    let warnings = |m| load(m).policies.warnings;
    let w = warnings(Semantics::Calico(CalicoLine::V3_32));
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(
        w.iter()
            .all(|w| w.contains("no longer enforces AdminNetworkPolicy")),
        "{w:?}"
    );
    let w = warnings(Semantics::Calico(CalicoLine::V3_31));
    assert_eq!(
        w.len(),
        4,
        "the four ClusterNetworkPolicies and nothing else: {w:?}"
    );
    assert!(
        w.iter()
            .all(|w| w.contains("does not implement ClusterNetworkPolicy")),
        "{w:?}"
    );
    let w = warnings(Semantics::Calico(CalicoLine::V3_29));
    assert!(
        w.iter()
            .any(|w| w.contains("Calico 3.29 does not enforce BaselineAdminNetworkPolicy")),
        "{w:?}"
    );
    assert!(warnings(Semantics::Generic).is_empty());
}

#[test]
fn analyze_takes_the_calico_version() {
    let run = |version: &str| {
        Command::new(env!("CARGO_BIN_EXE_netpol-harness"))
            .args(["analyze", "-f"])
            .arg(fixture())
            .args([
                "--probe",
                "80/TCP",
                "--output",
                "json",
                "--calico-version",
                version,
            ])
            .output()
            .expect("runs")
    };
    let out = run("3.32");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains("anp-deny-slytherin"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let cell = json["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| c["from"] == "slytherin/draco" && c["to"] == "gryffindor/harry")
        .expect("cell");
    assert_eq!(cell["allowed"], true);
    let out = run("3.28");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("3.29"));
}
