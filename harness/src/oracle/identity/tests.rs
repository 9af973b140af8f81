//! Identity compression changes nothing: on generated clusters and policies, the compressed
//! matrix equals every cell evaluated on its own endpoints; and replicas do share identities.

use std::fmt::Write;
use std::path::Path;

use proptest::prelude::*;

use crate::analysis::Analysis;
use crate::manifest;
use crate::oracle::ProbePort;

/// One pod: namespace, app label, address (none: assumed from the pod CIDR), host network,
/// which of the ports it declares.
type PodSpec = (usize, usize, Option<u8>, bool, [bool; 3]);

const APPS: [&str; 3] = ["web", "db", "api"];

fn pod_yaml(i: usize, (ns, app, ip, host, ports): &PodSpec) -> String {
    let mut list = Vec::new();
    if ports[0] {
        list.push("{name: http, containerPort: 80}");
    }
    if ports[1] {
        list.push("{containerPort: 81}");
    }
    if ports[2] {
        list.push("{name: dns, containerPort: 53, protocol: UDP}");
    }
    let status = match ip {
        // Addresses inside and outside the ipBlocks below.
        Some(last) => format!("status: {{podIP: 10.0.0.{last}}}\n"),
        None => String::new(),
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: ns-{ns}, labels: {{app: {}}}}}\nspec:\n  hostNetwork: {host}\n  nodeName: n1\n  containers:\n  - name: c\n    image: x\n    ports: [{}]\n{status}---\n",
        APPS[*app],
        list.join(", ")
    )
}

/// A NetworkPolicy from small choices: namespace, subject, direction, peer, port.
fn policy_yaml(
    i: usize,
    (ns, subject, egress, peer, port): (usize, usize, bool, usize, usize),
) -> String {
    let subject = match subject {
        3 => "{}".to_string(),
        a => format!("{{matchLabels: {{app: {}}}}}", APPS[a]),
    };
    let peer = match peer {
        0 => "[{podSelector: {matchLabels: {app: web}}}]".to_string(),
        1 => "[{namespaceSelector: {matchLabels: {team: a}}}]".to_string(),
        2 => "[{ipBlock: {cidr: 10.0.0.0/29, except: [10.0.0.4/31]}}]".to_string(),
        3 => "[{namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}]".to_string(),
        _ => "[]".to_string(),
    };
    let ports = [
        "[{port: http}]",
        "[{port: 81}]",
        "[{port: dns, protocol: UDP}]",
        "[]",
    ][port];
    let (types, rules) = if egress {
        (
            "[Egress]",
            format!("  egress:\n  - {{to: {peer}, ports: {ports}}}\n"),
        )
    } else {
        (
            "[Ingress]",
            format!("  ingress:\n  - {{from: {peer}, ports: {ports}}}\n"),
        )
    };
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: np{i}, namespace: ns-{ns}}}\nspec:\n  podSelector: {subject}\n  policyTypes: {types}\n{rules}---\n"
    )
}

/// A ClusterNetworkPolicy denying or accepting ingress into namespaces of team `a` from all
/// namespaces (a pod to its own address is exempt from it: the one thing identities leave to
/// the diagonal), at a priority where two of them may tie.
fn cnp_yaml(i: usize, (deny, priority): (bool, u8)) -> String {
    let action = if deny { "Deny" } else { "Accept" };
    format!(
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: cnp{i}}}\nspec:\n  tier: Admin\n  priority: {priority}\n  subject: {{namespaces: {{matchLabels: {{team: a}}}}}}\n  ingress:\n  - {{action: {action}, from: [{{namespaces: {{}}}}]}}\n---\n"
    )
}

fn manifests(
    pods: &[PodSpec],
    policies: &[(usize, usize, bool, usize, usize)],
    cnps: &[(bool, u8)],
) -> String {
    let mut y = String::from(
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: InternalIP, address: 10.0.0.2}]}\n---\n",
    );
    for ns in 0..3 {
        let team = if ns == 1 { "b" } else { "a" };
        let _ = write!(
            y,
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: ns-{ns}, labels: {{team: {team}}}}}\n---\n"
        );
    }
    for (i, p) in pods.iter().enumerate() {
        y.push_str(&pod_yaml(i, p));
    }
    for (i, p) in policies.iter().enumerate() {
        y.push_str(&policy_yaml(i, *p));
    }
    for (i, c) in cnps.iter().enumerate() {
        y.push_str(&cnp_yaml(i, *c));
    }
    y
}

fn probes() -> Vec<ProbePort> {
    ["80/TCP", "81/TCP", "53/UDP", "ICMP"]
        .iter()
        .map(|p| p.parse().expect("probe"))
        .collect()
}

fn pod_spec() -> impl Strategy<Value = PodSpec> {
    (
        0..3usize,
        0..3usize,
        // Distinct addresses come from the index below; `Some` marks "has its own address".
        prop::option::of(3u8..12),
        prop::bool::weighted(0.15),
        prop::array::uniform3(any::<bool>()),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn the_compressed_matrix_equals_every_cell_evaluated_alone(
        pods in prop::collection::vec(pod_spec(), 1..10),
        policies in prop::collection::vec((0..3usize, 0..4usize, any::<bool>(), 0..5usize, 0..4usize), 0..6),
        cnps in prop::collection::vec((any::<bool>(), 1u8..3), 0..3),
    ) {
        // Two pods may not claim one address unless both are on the host network.
        let mut used = std::collections::HashSet::new();
        let pods: Vec<PodSpec> = pods
            .into_iter()
            .map(|(ns, app, ip, host, ports)| {
                let ip = if host { Some(2) } else { ip.filter(|a| used.insert(*a)) };
                (ns, app, ip, host, ports)
            })
            .collect();
        let yaml = manifests(&pods, &policies, &cnps);
        let docs = manifest::parse_str(Path::new("gen.yaml"), &yaml).expect("generated YAML parses");
        let analysis = Analysis::from_documents(&docs, "10.0.0.0/24".parse().expect("CIDR"))
            .expect("generated manifests load");
        let oracle = analysis.oracle();
        let compressed: Vec<_> = oracle.matrix(&probes()).cells().collect();
        prop_assert_eq!(compressed, oracle.cells_one_by_one(&probes()));
    }
}

#[test]
fn replicas_share_an_identity_and_an_address_block_splits_them() {
    // Four pods of app web in ns-0 (two inside the ipBlock 10.0.0.0/29 minus 10.0.0.4/31, two
    // outside), one db.
    let pods: Vec<PodSpec> = vec![
        (0, 0, Some(3), false, [true, false, false]),
        (0, 0, Some(6), false, [true, false, false]),
        (0, 0, Some(9), false, [true, false, false]),
        (0, 0, Some(10), false, [true, false, false]),
        (0, 1, Some(11), false, [true, false, false]),
    ];
    let load = |policies: &[(usize, usize, bool, usize, usize)]| {
        let docs = manifest::parse_str(Path::new("gen.yaml"), &manifests(&pods, policies, &[]))
            .expect("parses");
        Analysis::from_documents(&docs, "10.0.0.0/24".parse().expect("CIDR")).expect("loads")
    };
    // No address rule: the web replicas are one identity, db another.
    let plain = load(&[(0, 3, false, 0, 0)]);
    let ids = plain.oracle().identities();
    assert_eq!(ids.members.len(), 2, "{ids:?}");
    assert_eq!(plain.oracle().matrix(&probes()).identities(), 2);
    // An ipBlock peer (alone: no selector) tells the replicas inside it from those outside, and
    // nothing else tells web from db any more.
    let blocks = load(&[(0, 3, false, 2, 0)]);
    let ids = blocks.oracle().identities();
    let pod = |i: usize| blocks.cluster.endpoint(&format!("ns-0/p{i}")).expect("pod");
    let of: Vec<usize> = (0..5).map(|i| ids.of[pod(i).0]).collect();
    assert_eq!(of, [0, 0, 1, 1, 1], "{ids:?}");
}
