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
    (
        "I ANP nodes peer fails closed",
        "durmstrang/viktor",
        "gryffindor/harry",
        "80/TCP",
        ['.', 'X', 'X', 'X', '.'],
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
    let a = load(Semantics::Calico(CalicoLine::V3_31));
    let (_, why) = mark(&a, "durmstrang/viktor", "gryffindor/harry", "80/TCP");
    assert!(
        why.contains("AdminNetworkPolicy anp-nodes")
            && why.contains("failed closed to deny all")
            && why.contains("does not convert nodes peers"),
        "{why}"
    );
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
    assert_eq!(w.len(), 4, "three ANPs and the BANP: {w:?}");
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

/// A Calico lane's runs are read with its own Calico line: `--cni calico` is 3.32, `--cni
/// calico-3.31` is 3.31, every other CNI the APIs as written; where the line contradicts a claim
/// in a step that runs on the lane, the plan says so (a failure there is Calico deviating).
#[test]
fn calico_lanes_read_claims_with_their_own_line() {
    use netpol_harness::provision::cni::CniProfile;
    use netpol_harness::runner::plan::{ScenarioPlan, lane_predictions};
    use netpol_harness::scenario::load::{default_root, discover, load};

    let line = |cni: &str| CniProfile::by_name(cni).unwrap().semantics();
    assert_eq!(line("calico"), Semantics::Calico(CalicoLine::V3_32));
    assert_eq!(line("calico-3.31"), Semantics::Calico(CalicoLine::V3_31));
    assert_eq!(line("cilium"), Semantics::Generic);
    assert_eq!(line("kube-network-policies"), Semantics::Generic);

    let root = default_root();
    let names = discover(&root).unwrap();
    assert!(names.len() >= 6, "{names:?}");
    // The shipped scenarios hold on every lane's line.
    for cni in ["calico", "calico-3.31", "cilium"] {
        let profile = CniProfile::by_name(cni).unwrap();
        for name in &names {
            let loaded = load(&root, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            let plan = ScenarioPlan::new(&loaded, Vec::new()).unwrap();
            let notes = lane_predictions(&loaded, &plan, Some(&profile));
            assert!(notes.is_empty(), "{name} on {cni}: {notes:#?}");
        }
    }

    // An ANP `namedPort` rule: the API denies the named port only; Calico 3.31 matches every
    // port. On the calico-3.31 lane the plan says so; on calico (3.32) the step needs
    // AdminNetworkPolicy, which the lane lacks, so nothing is said.
    let dir = tempfile::tempdir().unwrap();
    anp_named_port(
        dir.path(),
        "  - {from: slytherin/draco, to: gryffindor/harry, port: 53, kind: udp, expect: blocked}\n  \
         - {from: slytherin/draco, to: gryffindor/harry, port: 80, kind: tcp, expect: allowed}\n",
    );
    let loaded = load(dir.path(), "anp-named-port").unwrap_or_else(|e| panic!("{e}"));
    let plan = ScenarioPlan::new(&loaded, Vec::new()).unwrap();
    let on = |cni: &str| lane_predictions(&loaded, &plan, Some(&CniProfile::by_name(cni).unwrap()));
    let notes = on("calico-3.31");
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].contains("steps[0].probes[1]")
            && notes[0].contains("claimed allowed, Calico 3.31 predicts blocked"),
        "{notes:#?}"
    );
    assert!(on("calico").is_empty());
    assert!(on("antrea").is_empty());
}

/// On a Calico lane the derived cells (the matrix no claim probes) expect what that Calico line
/// does: with an ANP `namedPort` rule and only the named port claimed, draco → harry on 80/TCP
/// is derived allowed by the API and blocked on calico-3.31 (which matches every port).
#[tokio::test]
async fn derived_cells_on_a_calico_lane_expect_its_line() {
    use netpol_harness::provision::cni::CniProfile;
    use netpol_harness::runner::plan::plans;
    use netpol_harness::scenario::derive::Derived;
    use netpol_harness::scenario::format::Expectation;
    use netpol_harness::scenario::load::load;

    let dir = tempfile::tempdir().unwrap();
    anp_named_port(
        dir.path(),
        "  - {from: slytherin/draco, to: gryffindor/harry, port: 53, kind: udp, expect: blocked}\n",
    );
    let loaded = vec![load(dir.path(), "anp-named-port").unwrap_or_else(|e| panic!("{e}"))];
    let derived_80 = |plan: &netpol_harness::runner::plan::ScenarioPlan| {
        plan.steps[0]
            .derived
            .iter()
            .find(|d| {
                d.from == "slytherin/draco" && d.to == "gryffindor/harry" && d.port == Some(80)
            })
            .map(|d| d.derived)
            .expect("a derived cell draco → harry 80")
    };
    let generic = plans(&loaded, None).await.unwrap();
    assert_eq!(
        derived_80(&generic[0]),
        Derived::Expect(Expectation::Allowed)
    );
    let lane = plans(&loaded, Some(&CniProfile::by_name("calico-3.31").unwrap()))
        .await
        .unwrap();
    assert_eq!(derived_80(&lane[0]), Derived::Expect(Expectation::Blocked));
}

/// Writes the scenario `anp-named-port` under `dir`: harry and draco from the fixture, an ANP
/// denying slytherin → gryffindor on the named port `dns`, applied in its one step, which
/// makes `probes` (YAML list items).
fn anp_named_port(dir: &std::path::Path, probes: &str) {
    let folder = dir.join("anp-named-port");
    std::fs::create_dir(&folder).unwrap();
    let manifests = std::fs::read_to_string(fixture()).unwrap();
    let pods: Vec<&str> = manifests
        .split("\n---\n")
        .filter(|d| d.contains("name: harry") || d.contains("name: draco"))
        .collect();
    std::fs::write(folder.join("pods.yaml"), pods.join("\n---\n")).unwrap();
    std::fs::write(
        folder.join("anp.yaml"),
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\n\
         metadata: {name: deny-dns-from-slytherin}\nspec:\n  priority: 10\n  \
         subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: gryffindor}}}\n  \
         ingress:\n  - {name: dns, action: Deny, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: slytherin}}}], ports: [{namedPort: dns}]}\n",
    )
    .unwrap();
    std::fs::write(
        folder.join("scenario.yaml"),
        format!(
            "name: anp-named-port\ntitle: t\nsource: {{title: t, url: https://example.invalid/}}\n\
             requires: [ingress, admin-network-policy, named-ports]\nnamespaces: [gryffindor, slytherin]\nsetup: [pods.yaml]\nsteps:\n\
             - name: deny-dns\n  narration: n\n  actions:\n  - apply: [anp.yaml]\n  probes:\n{probes}"
        ),
    )
    .unwrap();
}
