//! ClusterNetworkPolicy case by case, from kubernetes-sigs/network-policy-api@v0.2.0:
//! apis/v1alpha2/clusternetworkpolicy_types.go and the CRD's validations.

use std::path::Path;

use proptest::prelude::*;
use rstest::rstest;

use super::super::test_support::{analysis, ask, load, ns, pod, refusal};
use super::{Features, convert};
use crate::manifest::parse_str;
use crate::oracle::{Oracle, ProbePort, Uncertainty};
use crate::policy::{CNP_ADMIN_TIER, CNP_BASELINE_TIER, PolicySet, RuleAction};

/// Houses as in the upstream conformance fixtures, each with one pod serving TCP 80 (`http`),
/// UDP 53 (`dns`) and SCTP 9003.
fn base() -> String {
    let ports = [
        ("http", 80, "TCP"),
        ("dns", 53, "UDP"),
        ("sctp", 9003, "SCTP"),
    ];
    [
        ns("gryffindor", &[("house", "gryffindor")]),
        ns("slytherin", &[("house", "slytherin")]),
        ns("ravenclaw", &[("house", "ravenclaw")]),
        pod("gryffindor", "harry", &[("app", "harry")], &ports),
        pod("slytherin", "draco", &[("app", "draco")], &ports),
        pod("ravenclaw", "luna", &[("app", "luna")], &ports),
    ]
    .concat()
}

/// A ClusterNetworkPolicy named `name` in `tier` with `priority` and the rest of the spec.
fn cnp(name: &str, tier: &str, priority: i64, rest: &str) -> String {
    format!(
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n  tier: {tier}\n  priority: {priority}\n{rest}\n---\n"
    )
}

const TO_GRYFFINDOR: &str = "  subject: {namespaces: {matchLabels: {house: gryffindor}}}";

/// Ingress to gryffindor from slytherin with `action`.
fn from_slytherin(action: &str) -> String {
    format!(
        "{TO_GRYFFINDOR}\n  ingress:\n  - {{name: {action}-slytherin, action: {action}, from: [{{namespaces: {{matchLabels: {{house: slytherin}}}}}}]}}"
    )
}

/// A NetworkPolicy selecting harry that allows ingress from slytherin only.
const NP_HARRY_FROM_SLYTHERIN: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: harry-from-slytherin, namespace: gryffindor}
spec:
  podSelector: {matchLabels: {app: harry}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {house: slytherin}}}]
---
"#;

/// A NetworkPolicy isolating harry for ingress.
const NP_HARRY_ISOLATED: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: harry-isolated, namespace: gryffindor}
spec:
  podSelector: {matchLabels: {app: harry}}
  policyTypes: [Ingress]
---
"#;

/// Admin → NetworkPolicy → Baseline → allow, from slytherin and ravenclaw to harry (TCP 80).
#[rstest]
#[case::nothing("", true, true)]
#[case::admin_deny_beats_np_allow(&[cnp("a", "Admin", 10, &from_slytherin("Deny")), NP_HARRY_FROM_SLYTHERIN.into()].concat(), false, false)]
#[case::admin_accept_beats_np_isolation(&[cnp("a", "Admin", 10, &from_slytherin("Accept")), NP_HARRY_ISOLATED.into()].concat(), true, false)]
#[case::admin_pass_hands_to_np(&[cnp("a", "Admin", 10, &from_slytherin("Pass")), NP_HARRY_ISOLATED.into()].concat(), false, false)]
#[case::admin_pass_then_baseline_deny(&[cnp("a", "Admin", 10, &from_slytherin("Pass")), cnp("b", "Baseline", 10, &from_slytherin("Deny"))].concat(), false, true)]
#[case::admin_pass_skips_rest_of_admin(&[cnp("a", "Admin", 10, &from_slytherin("Pass")), cnp("c", "Admin", 20, &from_slytherin("Deny"))].concat(), true, true)]
#[case::baseline_deny_alone(&cnp("b", "Baseline", 10, &from_slytherin("Deny")), false, true)]
#[case::np_overrides_baseline_deny(&[cnp("b", "Baseline", 10, &from_slytherin("Deny")), NP_HARRY_FROM_SLYTHERIN.into()].concat(), true, false)]
#[case::baseline_accept_after_np_isolation_does_nothing(&[cnp("b", "Baseline", 10, &from_slytherin("Accept")), NP_HARRY_ISOLATED.into()].concat(), false, false)]
#[case::admin_accept_beats_baseline_deny(&[cnp("a", "Admin", 900, &from_slytherin("Accept")), cnp("b", "Baseline", 0, &from_slytherin("Deny"))].concat(), true, true)]
fn tiers_in_order(#[case] policies: &str, #[case] slytherin: bool, #[case] ravenclaw: bool) {
    let a = analysis(&[base(), policies.to_string()].concat());
    let (v, why) = ask(&a, "slytherin/draco", "gryffindor/harry", "80/TCP");
    assert_eq!(v.allowed, slytherin, "slytherin: {why}");
    assert_eq!(v.uncertain, None, "{why}");
    let (v, why) = ask(&a, "ravenclaw/luna", "gryffindor/harry", "80/TCP");
    assert_eq!(v.allowed, ravenclaw, "ravenclaw: {why}");
}

/// Lower priority values win; swapping the priorities swaps the result.
#[rstest]
#[case::accept_first(1, 2, true)]
#[case::deny_first(2, 1, false)]
fn lower_priority_value_wins(#[case] accept: i64, #[case] deny: i64, #[case] allowed: bool) {
    let a = analysis(
        &[
            base(),
            cnp("accept", "Admin", accept, &from_slytherin("Accept")),
            cnp("deny", "Admin", deny, &from_slytherin("Deny")),
        ]
        .concat(),
    );
    let (v, why) = ask(&a, "slytherin/draco", "gryffindor/harry", "80/TCP");
    assert_eq!(v.allowed, allowed, "{why}");
}

/// Rules are evaluated in the order written.
#[test]
fn rules_in_written_order() {
    let rest = format!(
        "{TO_GRYFFINDOR}\n  ingress:\n  - {{name: first, action: Accept, from: [{{pods: {{namespaceSelector: {{}}, podSelector: {{matchLabels: {{app: draco}}}}}}}}]}}\n  - {{name: second, action: Deny, from: [{{namespaces: {{}}}}]}}"
    );
    let a = analysis(&[base(), cnp("order", "Admin", 5, &rest)].concat());
    let (v, why) = ask(&a, "slytherin/draco", "gryffindor/harry", "80/TCP");
    assert!(v.allowed, "{why}");
    assert!(
        why.contains("ClusterNetworkPolicy order (tier Admin, priority 5)"),
        "{why}"
    );
    assert!(
        why.contains("spec.ingress[0]") && why.contains("\"first\""),
        "{why}"
    );
    let (v, why) = ask(&a, "ravenclaw/luna", "gryffindor/harry", "80/TCP");
    assert!(!v.allowed, "{why}");
    assert!(
        why.contains("rule 2 (spec.ingress[1].from[0]: \"second\": deny from"),
        "{why}"
    );
}

/// Equal priorities in one tier: overlapping rules with different actions make the cell
/// "either"; agreeing ones, or ones that do not overlap the connection, stay decided.
#[rstest]
#[case::conflicting("Accept", "Deny", Some(Uncertainty::Either))]
#[case::agreeing("Deny", "Deny", None)]
#[case::pass_and_accept_without_np("Pass", "Accept", None)]
fn equal_priorities(
    #[case] first: &str,
    #[case] second: &str,
    #[case] expected: Option<Uncertainty>,
) {
    let a = analysis(
        &[
            base(),
            cnp("one", "Admin", 7, &from_slytherin(first)),
            cnp("two", "Admin", 7, &from_slytherin(second)),
        ]
        .concat(),
    );
    let (v, why) = ask(&a, "slytherin/draco", "gryffindor/harry", "80/TCP");
    assert_eq!(v.uncertain, expected, "{why}");
    if expected.is_some() {
        assert!(
            why.contains("either:") && why.contains("one") && why.contains("two"),
            "{why}"
        );
    }
    // Ravenclaw matches neither policy: decided.
    assert_eq!(
        ask(&a, "ravenclaw/luna", "gryffindor/harry", "80/TCP")
            .0
            .uncertain,
        None
    );
}

/// Egress `networks` match pod addresses as well as outside ones.
#[test]
fn networks_match_pods_and_outside() {
    let yaml = [
        base(),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: ip, namespace: ravenclaw, labels: {app: ip}}\nspec: {containers: [{name: c, image: x, ports: [{containerPort: 80}]}]}\nstatus: {podIP: 10.9.0.7}\n---\n".to_string(),
        cnp(
            "nets",
            "Admin",
            3,
            "  subject: {namespaces: {matchLabels: {house: slytherin}}}\n  egress:\n  - {name: no-lab, action: Deny, to: [{networks: [10.9.0.0/24, 192.0.2.0/24]}]}",
        ),
    ]
    .concat();
    let a = analysis(&yaml);
    assert!(
        !ask(&a, "slytherin/draco", "ravenclaw/ip", "80/TCP")
            .0
            .allowed
    );
    assert!(!ask(&a, "slytherin/draco", "192.0.2.9", "80/TCP").0.allowed);
    assert!(
        ask(&a, "slytherin/draco", "198.51.100.1", "80/TCP")
            .0
            .allowed
    );
    assert!(
        ask(&a, "slytherin/draco", "ravenclaw/luna", "80/TCP")
            .0
            .allowed
    );
}

const NODES: &str = "apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {role: infra}}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.5}, {type: Hostname, address: n1}]}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n2, labels: {role: worker}}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.6}]}\n---\n";

fn host_pod(name: &str, node: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: ravenclaw, labels: {{app: {name}}}}}\nspec: {{hostNetwork: true, nodeName: {node}, containers: [{{name: c, image: x, ports: [{{containerPort: 80}}]}}]}}\n---\n"
    )
}

/// `nodes` peers select node addresses; a host-network pod has its node's address, and is never
/// a subject or a pod peer.
#[test]
fn nodes_peers_select_node_addresses() {
    let yaml = [
        base(),
        NODES.to_string(),
        host_pod("infra-agent", "n1"),
        host_pod("worker-agent", "n2"),
        cnp(
            "no-infra",
            "Admin",
            3,
            "  subject: {namespaces: {}}\n  egress:\n  - {name: infra, action: Deny, to: [{nodes: {matchLabels: {role: infra}}}]}",
        ),
    ]
    .concat();
    let a = analysis(&yaml);
    let infra = a.cluster.endpoint("ravenclaw/infra-agent").expect("pod");
    assert_eq!(a.cluster.get(infra).ip().to_string(), "172.18.0.5");
    let (v, why) = ask(&a, "slytherin/draco", "ravenclaw/infra-agent", "80/TCP");
    assert!(!v.allowed, "{why}");
    assert!(why.contains("nodes [role == 'infra']"), "{why}");
    assert!(!ask(&a, "slytherin/draco", "172.18.0.5", "80/TCP").0.allowed);
    assert!(
        ask(&a, "slytherin/draco", "ravenclaw/worker-agent", "80/TCP")
            .0
            .allowed
    );
    assert!(
        ask(&a, "slytherin/draco", "ravenclaw/luna", "80/TCP")
            .0
            .allowed
    );
    // The host-network pod is not a subject: its own egress is not policed.
    assert!(
        ask(&a, "ravenclaw/infra-agent", "172.18.0.5", "80/TCP")
            .0
            .allowed
    );
}

/// A host-network pod naming an undeclared node, when nodes are declared, is refused.
#[test]
fn host_network_pod_on_unknown_node_is_refused() {
    let text = refusal(&[NODES.to_string(), host_pod("lost", "n9")].concat());
    assert!(
        text.contains("spec.nodeName") && text.contains("n9"),
        "{text}"
    );
}

/// `domainNames`: outside destinations depend on DNS ("unknown (DNS)"), never guessed; pods are
/// not what an outside name resolves to.
#[test]
fn domain_names_are_unknown_dns() {
    let rest = "  subject: {namespaces: {matchLabels: {house: slytherin}}}\n  egress:\n  - {name: allow-k8s, action: Accept, to: [{domainNames: ['*.kubernetes.io', kubernetes.io]}]}\n  - {name: deny-rest, action: Deny, to: [{networks: [0.0.0.0/0]}]}";
    let a = analysis(&[base(), cnp("dns", "Admin", 1, rest)].concat());
    let (v, why) = ask(&a, "slytherin/draco", "203.0.113.10", "443/TCP");
    assert_eq!(v.uncertain, Some(Uncertainty::Dns), "{why}");
    assert!(
        why.contains("unknown (DNS)") && why.contains("allow-k8s"),
        "{why}"
    );
    let (v, why) = ask(&a, "slytherin/draco", "ravenclaw/luna", "80/TCP");
    assert_eq!((v.allowed, v.uncertain), (false, None), "{why}");
    // A cluster name may resolve to a pod: unknown there too.
    let rest = rest.replace("'*.kubernetes.io', kubernetes.io", "'*.svc.cluster.local'");
    let a = analysis(&[base(), cnp("dns", "Admin", 1, &rest)].concat());
    assert_eq!(
        ask(&a, "slytherin/draco", "ravenclaw/luna", "80/TCP")
            .0
            .uncertain,
        Some(Uncertainty::Dns)
    );
    // The matrix marks the same cells.
    let oracle = a.oracle();
    let probe: ProbePort = "80/TCP".parse().expect("probe");
    let m = oracle.matrix(&[probe]);
    let from = a.cluster.endpoint("slytherin/draco").expect("pod");
    let to = a.cluster.endpoint("ravenclaw/luna").expect("pod");
    assert_eq!(m.uncertain(0, from, to), Some(Uncertainty::Dns));
    assert_eq!(m.uncertain(0, to, from), None);
}

/// `protocols`: numbers and ranges per protocol, named ports resolved protocol-aware.
#[rstest]
#[case::tcp_number("[{tcp: {destinationPort: {number: 80}}}]", &[("80/TCP", false), ("53/UDP", true), ("81/TCP", true)])]
#[case::udp_range("[{udp: {destinationPort: {range: {start: 50, end: 60}}}}]", &[("53/UDP", false), ("53/TCP", true), ("61/UDP", true)])]
#[case::sctp("[{sctp: {destinationPort: {number: 9003}}}]", &[("9003/SCTP", false), ("9003/TCP", true)])]
#[case::named_udp_port("[{destinationNamedPort: dns}]", &[("53/UDP", false), ("53/TCP", true), ("80/TCP", true)])]
#[case::named_tcp_port("[{destinationNamedPort: http}]", &[("80/TCP", false), ("80/UDP", true)])]
#[case::several("[{tcp: {destinationPort: {number: 80}}}, {sctp: {destinationPort: {range: {start: 9000, end: 9010}}}}]", &[("80/TCP", false), ("9003/SCTP", false), ("53/UDP", true)])]
fn protocol_matches(#[case] protocols: &str, #[case] probes: &[(&str, bool)]) {
    let rest = format!(
        "{TO_GRYFFINDOR}\n  ingress:\n  - {{action: Deny, from: [{{namespaces: {{}}}}], protocols: {protocols}}}"
    );
    let a = analysis(&[base(), cnp("p", "Admin", 1, &rest)].concat());
    for (probe, allowed) in probes {
        let (v, why) = ask(&a, "slytherin/draco", "gryffindor/harry", probe);
        assert_eq!(v.allowed, *allowed, "{probe}: {why}");
    }
}

/// A pod reaching its own address is not subject to ClusterNetworkPolicy.
#[test]
fn self_traffic_is_exempt() {
    let rest = format!(
        "{TO_GRYFFINDOR}\n  ingress:\n  - {{action: Deny, from: [{{namespaces: {{}}}}]}}\n  egress:\n  - {{action: Deny, to: [{{namespaces: {{}}}}]}}"
    );
    let a = analysis(&[base(), cnp("all", "Admin", 1, &rest)].concat());
    let (v, why) = ask(&a, "gryffindor/harry", "gryffindor/harry", "80/TCP");
    assert!(v.allowed, "{why}");
    assert!(why.contains("own address"), "{why}");
    assert!(
        !ask(&a, "slytherin/draco", "gryffindor/harry", "80/TCP")
            .0
            .allowed
    );
}

/// Host-network pods are never subjects.
#[test]
fn host_network_pods_are_not_subjects() {
    let rest = "  subject: {namespaces: {matchLabels: {house: ravenclaw}}}\n  ingress:\n  - {action: Deny, from: [{namespaces: {}}]}";
    let a = analysis(&[base(), host_pod("agent", "n1"), cnp("r", "Admin", 1, rest)].concat());
    assert!(
        ask(&a, "slytherin/draco", "ravenclaw/agent", "80/TCP")
            .0
            .allowed
    );
    assert!(
        !ask(&a, "slytherin/draco", "ravenclaw/luna", "80/TCP")
            .0
            .allowed
    );
}

/// Placement: tiers and orders as Calico 3.32 names them.
#[test]
fn placement() {
    let a = analysis(
        &[
            cnp("a", "Admin", 42, &from_slytherin("Deny")),
            cnp("b", "Baseline", 0, &from_slytherin("Deny")),
        ]
        .concat(),
    );
    let p = &a.policies.policies;
    assert_eq!(
        (p[0].tier.as_str(), p[0].order),
        (CNP_ADMIN_TIER, Some(42.0))
    );
    assert_eq!(
        (p[1].tier.as_str(), p[1].order),
        (CNP_BASELINE_TIER, Some(0.0))
    );
    assert!(
        p[0].egress.is_none(),
        "no egress rules: egress not governed"
    );
}

/// What the API server refuses is refused, naming the field.
#[rstest]
#[case::bad_tier(cnp("x", "Platform", 1, TO_GRYFFINDOR), "spec.tier")]
#[case::priority_too_high(cnp("x", "Admin", 1001, TO_GRYFFINDOR), "spec.priority")]
#[case::priority_negative(cnp("x", "Admin", -1, TO_GRYFFINDOR), "spec.priority")]
#[case::no_subject(cnp("x", "Admin", 1, "  ingress: []"), "spec.subject")]
#[case::subject_both(
    cnp(
        "x",
        "Admin",
        1,
        "  subject: {namespaces: {}, pods: {namespaceSelector: {}, podSelector: {}}}"
    ),
    "spec.subject"
)]
#[case::subject_empty(cnp("x", "Admin", 1, "  subject: {}"), "spec.subject")]
#[case::too_many_rules(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  ingress:\n{}", "  - {action: Deny, from: [{namespaces: {}}]}\n".repeat(26))), "spec.ingress")]
#[case::no_peers(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  ingress: [{{action: Deny, from: []}}]")), "spec.ingress[0].from")]
#[case::peer_two_fields(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  egress: [{{action: Deny, to: [{{namespaces: {{}}, networks: [10.0.0.0/8]}}]}}]")), "spec.egress[0].to[0]")]
#[case::ingress_networks(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  ingress: [{{action: Deny, from: [{{networks: [10.0.0.0/8]}}]}}]")), "networks")]
#[case::bad_action(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  ingress: [{{action: Allow, from: [{{namespaces: {{}}}}]}}]")), "spec.ingress[0].action")]
#[case::tcp_without_port(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  ingress: [{{action: Deny, from: [{{namespaces: {{}}}}], protocols: [{{tcp: {{}}}}]}}]")), "spec.ingress[0].protocols[0].tcp")]
#[case::two_protocols_in_one(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  ingress: [{{action: Deny, from: [{{namespaces: {{}}}}], protocols: [{{tcp: {{destinationPort: {{number: 1}}}}, destinationNamedPort: http}}]}}]")), "spec.ingress[0].protocols[0]")]
#[case::range_not_increasing(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  ingress: [{{action: Deny, from: [{{namespaces: {{}}}}], protocols: [{{udp: {{destinationPort: {{range: {{start: 80, end: 80}}}}}}}}]}}]")), "Start port must be less than End port")]
#[case::port_zero(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  ingress: [{{action: Deny, from: [{{namespaces: {{}}}}], protocols: [{{tcp: {{destinationPort: {{number: 0}}}}}}]}}]")), "destinationPort.number")]
#[case::named_port_with_networks(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  egress: [{{action: Deny, to: [{{networks: [10.0.0.0/8]}}], protocols: [{{destinationNamedPort: http}}]}}]")), "cannot be set with namedPorts")]
#[case::named_port_with_nodes(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  egress: [{{action: Accept, to: [{{pods: {{namespaceSelector: {{}}, podSelector: {{}}}}}}, {{nodes: {{}}}}], protocols: [{{destinationNamedPort: http}}]}}]")), "cannot be set with namedPorts")]
#[case::domain_names_deny(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  egress: [{{action: Deny, to: [{{domainNames: [example.com]}}]}}]")), "only supported for Accept")]
#[case::bad_domain(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  egress: [{{action: Accept, to: [{{domainNames: [example]}}]}}]")), "spec.egress[0].to[0].domainNames[0]")]
#[case::not_a_cidr(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  egress: [{{action: Deny, to: [{{networks: [10.0.0.1]}}]}}]")), "spec.egress[0].to[0].networks[0]")]
#[case::duplicate_cidr(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  egress: [{{action: Deny, to: [{{networks: [10.0.0.0/8, 10.0.0.0/8]}}]}}]")), "duplicate")]
#[case::too_many_cidrs(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  egress: [{{action: Deny, to: [{{networks: [{}]}}]}}]", (0..26).map(|i| format!("10.{i}.0.0/16")).collect::<Vec<_>>().join(", "))), "MaxItems=25")]
#[case::long_rule_name(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  ingress: [{{name: {}, action: Deny, from: [{{namespaces: {{}}}}]}}]", "n".repeat(101))), "spec.ingress[0].name")]
#[case::unknown_field(cnp("x", "Admin", 1, &format!("{TO_GRYFFINDOR}\n  ingress: [{{action: Deny, from: [{{namespaces: {{}}}}], ports: []}}]")), "ports")]
#[case::v1alpha1(cnp("x", "Admin", 1, TO_GRYFFINDOR).replace("v1alpha2", "v1alpha1"), "apiVersion")]
fn refused(#[case] yaml: String, #[case] needle: &str) {
    let text = refusal(&yaml);
    assert!(text.contains(needle), "{needle} not in: {text}");
    assert!(text.contains("t.yaml"), "the file is named: {text}");
}

/// The CRD's domain-name pattern, case by case from its doc comment.
#[rstest]
#[case("kubernetes.io", true)]
#[case("*.kubernetes.io", true)]
#[case("blog.kubernetes.io.", true)]
#[case("kubernetes", false)]
#[case("*kubernetes.io", false)]
#[case("www.*.io", false)]
#[case("-a.io", false)]
#[case("a-.io", false)]
#[case("a_b.io", true)]
fn domain_name_pattern(#[case] name: &str, #[case] valid: bool) {
    assert_eq!(super::valid_domain_name(name), valid);
}

/// An implementation that does not support a peer fails the rule closed: Accept matches
/// nothing, Deny and Pass deny everything (types.go#L336-L345).
#[rstest]
#[case::accept_dropped("Accept", None)]
#[case::deny_denies_all("Deny", Some(RuleAction::Deny))]
#[case::pass_denies_all("Pass", Some(RuleAction::Deny))]
fn fail_closed(#[case] action: &str, #[case] rule: Option<RuleAction>) {
    let yaml = cnp(
        "f",
        "Admin",
        1,
        &format!(
            "  subject: {{namespaces: {{matchLabels: {{house: slytherin}}}}}}\n  egress:\n  - {{name: mixed, action: {action}, to: [{{pods: {{namespaceSelector: {{}}, podSelector: {{}}}}}}, {{nodes: {{}}}}], protocols: [{{tcp: {{destinationPort: {{number: 80}}}}}}]}}"
        ),
    );
    let docs = parse_str(Path::new("t.yaml"), &yaml).expect("yaml");
    let no_nodes = Features {
        nodes: false,
        domain_names: true,
    };
    let policy = convert(&docs[0], &no_nodes).expect("converts");
    let rules = policy.egress.clone().unwrap_or_default();
    assert_eq!(rules.first().map(|r| r.action), rule);
    if let Some(r) = rules.first() {
        assert_eq!(rules.len(), 1);
        assert!(
            r.protocol.is_none() && r.destination.is_any(),
            "deny all: {r:?}"
        );
        assert!(r.summary.contains("failed closed"), "{}", r.summary);
    }
    // With every feature the same rule keeps its pods peer.
    let full = convert(&docs[0], &Features::ALL).expect("converts");
    assert_eq!(full.egress.map(|r| r.len()), Some(2));

    // In the oracle: a Deny/Pass rule failed closed denies even UDP to outside.
    let houses = analysis(&base());
    let mut set = PolicySet::default();
    set.policies.push(policy);
    let oracle = Oracle::new(&houses.cluster, &set);
    let p = super::super::test_support::packet(&oracle, "slytherin/draco", "192.0.2.1", "53/UDP");
    assert_eq!(oracle.verdict(&p).allowed, rule.is_none());
}

/// Arbitrary ClusterNetworkPolicy-shaped documents never panic: they are refused with an error or
/// accepted and answered.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("{}".to_string()),
        Just("[]".to_string()),
        Just("Admin".to_string()),
        Just("Baseline".to_string()),
        Just("Accept".to_string()),
        Just("Deny".to_string()),
        Just("Pass".to_string()),
        Just("http".to_string()),
        Just("10.0.0.0/8".to_string()),
        Just("'*.example.com'".to_string()),
        any::<i32>().prop_map(|n| n.to_string()),
        (0i64..70000).prop_map(|n| n.to_string()),
    ];
    let keys = prop_oneof![
        Just("tier"),
        Just("priority"),
        Just("subject"),
        Just("namespaces"),
        Just("pods"),
        Just("namespaceSelector"),
        Just("podSelector"),
        Just("matchLabels"),
        Just("ingress"),
        Just("egress"),
        Just("action"),
        Just("from"),
        Just("to"),
        Just("name"),
        Just("protocols"),
        Just("tcp"),
        Just("udp"),
        Just("sctp"),
        Just("destinationPort"),
        Just("destinationNamedPort"),
        Just("number"),
        Just("range"),
        Just("start"),
        Just("end"),
        Just("networks"),
        Just("nodes"),
        Just("domainNames"),
        Just("house"),
    ];
    leaf.prop_recursive(4, 48, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((keys.clone(), inner), 0..5).prop_map(|v| {
                let body: Vec<String> = v.iter().map(|(k, x)| format!("{k}: {x}")).collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn arbitrary_cnp_never_panics(spec in value(), tier in "(Admin|Baseline|x)", priority in -5i64..1010) {
        let yaml = [
            base(),
            NODES.to_string(),
            cnp("arb", &tier, priority, "  subject: {namespaces: {}}\n  egress: [{action: Accept, to: [{namespaces: {}}]}]"),
            format!("apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: arb2}}\nspec: {spec}\n---\n"),
        ]
        .concat();
        if let Ok(a) = load(&yaml) {
            let oracle = a.oracle();
            let probes: Vec<ProbePort> = ["80/TCP", "53/UDP", "9003/SCTP"].iter().map(|p| p.parse().expect("probe")).collect();
            let m = oracle.matrix(&probes);
            for cell in m.cells() {
                let p = Oracle::packet(cell.from, cell.to, cell.probe);
                let v = oracle.verdict(&p);
                prop_assert_eq!(v.uncertain, cell.uncertain);
                prop_assert!(!oracle.explain(&p, &v).is_empty());
            }
        }
    }
}
