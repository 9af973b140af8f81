//! Kubernetes NetworkPolicy semantics where users go wrong, each a tiny manifest with the cells
//! Kubernetes requires; and malformed input through the real binary, which must fail cleanly,
//! naming the file, the document and the field.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use netpol_harness::analysis::Analysis;
use netpol_harness::manifest;
use netpol_harness::oracle::{Oracle, Packet, Peer, ProbePort};
use rstest::rstest;

/// Namespaces x (team=blue), y (team=red), z (no labels); pods a, b, c in x, a and b in y, a in
/// z, labelled `pod: <name>`. Ports differ on purpose: x/a serves `http` on 80 and `dns` on
/// 53/UDP, x/b serves `http` on 8080 and `dns` on 53/UDP, x/c serves 80 without a name; the rest
/// serve `http` on 80.
const BASE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {team: blue}}
---
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {team: red}}
---
apiVersion: v1
kind: Namespace
metadata: {name: z}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}}
spec:
  containers:
  - name: c
    image: agnhost
    ports:
    - {name: http, containerPort: 80}
    - {name: dns, containerPort: 53, protocol: UDP}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {pod: b}}
spec:
  containers:
  - name: c
    image: agnhost
    ports:
    - {name: http, containerPort: 8080}
    - {name: dns, containerPort: 53, protocol: UDP}
status: {podIP: 10.0.1.2}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: x, labels: {pod: c}}
spec:
  containers:
  - {name: c, image: agnhost, ports: [{containerPort: 80}]}
status: {podIP: 10.0.1.3}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: y, labels: {pod: a}}
spec:
  containers:
  - {name: c, image: agnhost, ports: [{name: http, containerPort: 80}]}
status: {podIP: 10.0.2.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: y, labels: {pod: b}}
spec:
  containers:
  - {name: c, image: agnhost, ports: [{name: http, containerPort: 80}]}
status: {podIP: 10.0.2.2}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: z, labels: {pod: a}}
spec:
  containers:
  - {name: c, image: agnhost, ports: [{name: http, containerPort: 80}]}
status: {podIP: 10.0.3.1}
"#;

/// The model plus `policies`.
fn analysis(policies: &str) -> Analysis {
    let text = format!("{BASE}---\n{policies}");
    let docs = manifest::parse_str(Path::new("trap.yaml"), &text).unwrap_or_else(|e| panic!("{e}"));
    Analysis::from_documents(&docs, "10.0.0.0/16".parse().expect("CIDR"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `from → to` on `probe`; `to` may be an address outside the model.
fn verdict(oracle: &Oracle<'_>, from: &str, to: &str, probe: &str) -> (bool, String) {
    let cluster = oracle.cluster();
    let peer = |name: &str| match name.parse::<IpAddr>() {
        Ok(ip) => Peer::External(ip),
        Err(_) => Peer::Endpoint(
            cluster
                .endpoint(name)
                .unwrap_or_else(|| panic!("no endpoint {name}")),
        ),
    };
    let probe: ProbePort = probe.parse().expect("probe");
    let packet = Packet {
        from: peer(from),
        to: peer(to),
        protocol: probe.protocol,
        port: probe.port,
    };
    let v = oracle.verdict(&packet);
    (v.allowed, oracle.explain(&packet, &v))
}

/// One asserted cell: from, to, probe, allowed.
type CellCase = (&'static str, &'static str, &'static str, bool);

#[rstest]
#[case::two_peers_are_or(
    "x/a: from [namespaceSelector team=red] OR [podSelector pod=b] (in x)",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: red}}
    - podSelector: {matchLabels: {pod: b}}
"#,
    &[
        ("y/a", "x/a", "80/TCP", true),
        ("y/b", "x/a", "80/TCP", true),
        ("x/b", "x/a", "80/TCP", true),
        ("x/c", "x/a", "80/TCP", false),
        ("z/a", "x/a", "80/TCP", false),
    ]
)]
#[case::one_peer_with_both_selectors_is_and(
    "x/a: from pods b in namespaces team=red (one peer)",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: red}}
      podSelector: {matchLabels: {pod: b}}
"#,
    &[
        ("y/b", "x/a", "80/TCP", true),
        ("y/a", "x/a", "80/TCP", false),
        ("x/b", "x/a", "80/TCP", false),
        ("x/c", "x/a", "80/TCP", false),
    ]
)]
#[case::empty_peer_pod_selector_is_the_policys_namespace_only(
    "peer podSelector: {} selects every pod of the policy's namespace, no other",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {}
"#,
    &[
        ("x/b", "x/a", "80/TCP", true),
        ("x/c", "x/a", "80/TCP", true),
        ("y/a", "x/a", "80/TCP", false),
        ("z/a", "x/a", "80/TCP", false),
    ]
)]
#[case::peer_namespace_selector_without_pod_selector_is_every_pod_there(
    "peer with only namespaceSelector team=red: every pod in y, none in x",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: red}}
"#,
    &[
        ("y/a", "x/a", "80/TCP", true),
        ("y/b", "x/a", "80/TCP", true),
        ("x/b", "x/a", "80/TCP", false),
    ]
)]
#[case::empty_namespace_selector_is_every_namespace(
    "peer namespaceSelector: {} selects every pod of every namespace",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {}
"#,
    &[
        ("x/b", "x/a", "80/TCP", true),
        ("y/a", "x/a", "80/TCP", true),
        ("z/a", "x/a", "80/TCP", true),
        ("10.9.9.9", "x/a", "80/TCP", false),
    ]
)]
#[case::ingress_empty_list_denies_everything(
    "ingress: [] isolates x/a and allows nothing; egress untouched",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: []
"#,
    &[
        ("x/b", "x/a", "80/TCP", false),
        ("y/a", "x/a", "80/TCP", false),
        ("x/a", "x/a", "80/TCP", false),
        ("x/a", "y/a", "80/TCP", true),
    ]
)]
#[case::ingress_list_of_one_empty_rule_allows_everything(
    "ingress: [{}] allows from anywhere, on any port",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - {}
"#,
    &[
        ("x/b", "x/a", "80/TCP", true),
        ("z/a", "x/a", "9999/UDP", true),
        ("10.9.9.9", "x/a", "80/TCP", true),
    ]
)]
#[case::ingress_absent_without_policy_types_still_denies(
    "no ingress and no policyTypes: policyTypes defaults to [Ingress], so ingress is denied",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
"#,
    &[
        ("y/a", "x/a", "80/TCP", false),
        ("x/a", "y/a", "80/TCP", true),
    ]
)]
#[case::ingress_absent_with_policy_types_egress_leaves_ingress_open(
    "policyTypes: [Egress] and no egress: egress denied, ingress not isolated",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
"#,
    &[
        ("y/a", "x/a", "80/TCP", true),
        ("x/a", "y/a", "80/TCP", false),
        ("x/a", "x/b", "8080/TCP", false),
    ]
)]
#[case::egress_empty_list_without_policy_types_is_not_egress(
    "egress: [] without policyTypes: the API server defaults policyTypes to [Ingress] (Egress only when egress has rules)",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress: []
"#,
    &[
        ("x/a", "y/a", "80/TCP", true),
        ("x/a", "10.9.9.9", "443/TCP", true),
        ("y/a", "x/a", "80/TCP", false),
    ]
)]
#[case::egress_rules_without_policy_types_add_egress(
    "egress rules without policyTypes: [Ingress, Egress]",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to:
    - podSelector: {matchLabels: {pod: b}}
"#,
    &[
        ("x/a", "x/b", "8080/TCP", true),
        ("x/a", "y/a", "80/TCP", false),
        ("y/a", "x/a", "80/TCP", false),
    ]
)]
#[case::policy_types_egress_ignores_ingress_rules(
    "policyTypes: [Egress] with ingress rules: the ingress rules are ignored, x/a is not isolated for ingress",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
  egress:
  - {}
"#,
    &[
        ("x/c", "x/a", "80/TCP", true),
        ("y/a", "x/a", "80/TCP", true),
        ("x/a", "z/a", "80/TCP", true),
    ]
)]
#[case::policy_types_may_repeat_an_entry(
    "policyTypes: [Ingress, Ingress] passes API validation and means [Ingress]",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress, Ingress]
"#,
    &[
        ("y/a", "x/a", "80/TCP", false),
        ("x/a", "y/a", "80/TCP", true),
    ]
)]
#[case::policy_selects_only_pods_of_its_own_namespace(
    "a deny-all in y does not touch x",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: y}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
"#,
    &[
        ("x/b", "x/a", "80/TCP", true),
        ("x/a", "y/a", "80/TCP", false),
        ("y/a", "x/a", "80/TCP", false),
        ("z/a", "x/a", "80/TCP", true),
    ]
)]
#[case::named_port_resolves_on_each_destination(
    "ports [http]: 80 on x/a, 8080 on x/b, nothing on x/c (its port 80 has no name)",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: http
"#,
    &[
        ("y/a", "x/a", "80/TCP", true),
        ("y/a", "x/a", "8080/TCP", false),
        ("y/a", "x/b", "8080/TCP", true),
        ("y/a", "x/b", "80/TCP", false),
        ("y/a", "x/c", "80/TCP", false),
    ]
)]
#[case::named_port_with_the_wrong_protocol_matches_nothing(
    "ports [dns] means dns over TCP (the default protocol), but dns is a UDP port",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports:
    - port: dns
"#,
    &[
        ("y/a", "x/a", "53/UDP", false),
        ("y/a", "x/a", "53/TCP", false),
        ("y/a", "x/a", "80/TCP", false),
    ]
)]
#[case::named_port_with_its_protocol(
    "ports [{port: dns, protocol: UDP}] opens 53/UDP",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports:
    - {port: dns, protocol: UDP}
"#,
    &[
        ("y/a", "x/a", "53/UDP", true),
        ("y/a", "x/a", "53/TCP", false),
    ]
)]
#[case::namespace_selector_on_the_name_label(
    "kubernetes.io/metadata.name: y works although nobody wrote that label; name: y matches nothing",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: by-name-label, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: by-made-up-label, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {name: y}}
"#,
    &[
        ("y/a", "x/a", "80/TCP", true),
        ("z/a", "x/a", "80/TCP", false),
        ("x/b", "x/a", "80/TCP", false),
        ("y/a", "x/b", "8080/TCP", false),
    ]
)]
#[case::not_in_matches_when_the_label_is_absent(
    "namespaceSelector team NotIn [blue]: y (red) and z (no team label) match",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions:
        - {key: team, operator: NotIn, values: [blue]}
"#,
    &[
        ("y/a", "x/a", "80/TCP", true),
        ("z/a", "x/a", "80/TCP", true),
        ("x/b", "x/a", "80/TCP", false),
    ]
)]
#[case::end_port_range_includes_both_edges(
    "port 8000 endPort 8080",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - ports:
    - {port: 8000, endPort: 8080}
"#,
    &[
        ("y/a", "x/b", "7999/TCP", false),
        ("y/a", "x/b", "8000/TCP", true),
        ("y/a", "x/b", "8042/TCP", true),
        ("y/a", "x/b", "8080/TCP", true),
        ("y/a", "x/b", "8081/TCP", false),
        ("y/a", "x/b", "8000/UDP", false),
    ]
)]
#[case::protocol_only_port_entry_opens_every_port_of_that_protocol_only(
    "ports [{protocol: UDP}]",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports:
    - protocol: UDP
"#,
    &[
        ("y/a", "x/a", "53/UDP", true),
        ("y/a", "x/a", "9999/UDP", true),
        ("y/a", "x/a", "80/TCP", false),
        ("y/a", "x/a", "80/SCTP", false),
    ]
)]
#[case::sctp_rule_is_not_a_tcp_rule(
    "upstream 38-40: ports [{port: 80, protocol: SCTP}] allows SCTP only",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports:
    - {port: 80, protocol: SCTP}
"#,
    &[
        ("y/a", "x/a", "80/SCTP", true),
        ("y/a", "x/a", "80/TCP", false),
        ("y/a", "x/a", "80/UDP", false),
        ("y/a", "x/a", "81/SCTP", false),
    ]
)]
#[case::ip_block_except(
    "egress to 10.0.0.0/16 except 10.0.2.0/24 (namespace y's pods)",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 10.0.0.0/16, except: [10.0.2.0/24]}
"#,
    &[
        ("x/a", "x/b", "8080/TCP", true),
        ("x/a", "z/a", "80/TCP", true),
        ("x/a", "y/a", "80/TCP", false),
        ("x/a", "10.0.9.9", "443/TCP", true),
        ("x/a", "10.0.2.200", "443/TCP", false),
        ("x/a", "192.168.1.1", "443/TCP", false),
    ]
)]
#[case::ip_block_host_bits_are_masked(
    "cidr 10.0.2.99/24 means 10.0.2.0/24",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 10.0.2.99/24}
"#,
    &[
        ("x/a", "y/a", "80/TCP", true),
        ("x/a", "y/b", "80/TCP", true),
        ("x/a", "x/b", "8080/TCP", false),
    ]
)]
#[case::egress_deny_at_the_client_wins_over_an_allowing_server(
    "x/a may send nowhere; y/a accepts everyone: x/a → y/a is blocked",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: no-egress, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: y}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {}
"#,
    &[
        ("x/a", "y/a", "80/TCP", false),
        ("x/b", "y/a", "80/TCP", true),
        ("x/a", "x/b", "8080/TCP", false),
    ]
)]
#[case::two_policies_are_additive(
    "one policy allows pod=b, another namespaces team=red: both are allowed",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-red, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: red}}
"#,
    &[
        ("x/b", "x/a", "80/TCP", true),
        ("y/a", "x/a", "80/TCP", true),
        ("x/c", "x/a", "80/TCP", false),
        ("z/a", "x/a", "80/TCP", false),
    ]
)]
#[case::icmp_needs_a_rule_without_ports(
    "a rule with ports never matches ICMP; a rule without ports matches every protocol",
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: port-rule, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
    ports:
    - port: 80
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: portless-rule, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: a}}
"#,
    &[
        ("x/b", "x/a", "ICMP", false),
        ("x/b", "x/a", "80/TCP", true),
        ("x/a", "x/b", "ICMP", true),
        ("x/a", "x/b", "8080/TCP", true),
        ("x/c", "x/b", "ICMP", false),
    ]
)]
fn kubernetes_semantics(#[case] what: &str, #[case] policies: &str, #[case] cells: &[CellCase]) {
    let analysis = analysis(policies);
    let oracle = analysis.oracle();
    let mut wrong = Vec::new();
    for &(from, to, probe, expected) in cells {
        let (allowed, why) = verdict(&oracle, from, to, probe);
        if allowed != expected {
            wrong.push(format!(
                "  {from} → {to} {probe}: expected {}, oracle says {}: {why}",
                if expected { "allowed" } else { "blocked" },
                if allowed { "allowed" } else { "blocked" },
            ));
        }
    }
    assert!(wrong.is_empty(), "{what}\n{}", wrong.join("\n"));
}

/// A valid first document, so that errors in the second must say "document 2".
const NAMESPACE_DOC: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n";

/// A NetworkPolicy in x around `spec` (indented by two spaces).
fn policy(spec: &str) -> String {
    format!(
        "{NAMESPACE_DOC}apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: x}}\nspec:\n{spec}"
    )
}

/// How a malformed file is written.
enum Input {
    /// Text (written as the file's content).
    Text(String),
    /// Raw bytes.
    Bytes(&'static [u8]),
    /// No file at all.
    Missing,
}

#[rstest]
#[case::yaml_syntax_error(
    Input::Text(format!("{NAMESPACE_DOC}apiVersion: v1\nkind: Pod\nmetadata: {{name: a\n")),
    &["document 2"]
)]
#[case::tab_indentation(
    Input::Text(format!("{NAMESPACE_DOC}apiVersion: v1\nkind: Pod\nmetadata:\n\tname: a\n")),
    &["document 2"]
)]
#[case::wrong_type(Input::Text(policy("  podSelector: app=web\n")), &["document 2", "spec.podSelector"])]
#[case::wrong_type_list_for_map(
    Input::Text(policy("  podSelector: {matchLabels: [a, b]}\n")),
    &["document 2", "spec.podSelector.matchLabels"]
)]
#[case::bad_selector_operator(
    Input::Text(policy("  podSelector:\n    matchExpressions:\n    - {key: app, operator: Equals, values: [web]}\n")),
    &["document 2", "spec.podSelector.matchExpressions[0].operator: unknown operator `Equals`"]
)]
#[case::in_without_values(
    Input::Text(policy("  podSelector:\n    matchExpressions:\n    - {key: app, operator: In}\n")),
    // The field is named once, not repeated inside the message.
    &["document 2", "spec.podSelector.matchExpressions[0].values: must be non-empty for In"]
)]
#[case::bad_label_value(
    Input::Text(policy("  podSelector: {matchLabels: {app: \"two words\"}}\n")),
    &["document 2", "spec.podSelector.matchLabels.app"]
)]
#[case::port_zero(
    Input::Text(policy("  podSelector: {}\n  ingress:\n  - ports: [{port: 0}]\n")),
    &["document 2", "spec.ingress[0].ports[0].port"]
)]
#[case::port_too_big(
    Input::Text(policy("  podSelector: {}\n  ingress:\n  - ports: [{port: 70000}]\n")),
    &["document 2", "spec.ingress[0].ports[0].port", "70000"]
)]
#[case::quoted_port_number(
    Input::Text(policy("  podSelector: {}\n  ingress:\n  - ports: [{port: \"80\"}]\n")),
    &["document 2", "spec.ingress[0].ports[0].port", "quoted"]
)]
#[case::bad_port_name(
    Input::Text(policy("  podSelector: {}\n  ingress:\n  - ports: [{port: Http_Port}]\n")),
    &["document 2", "spec.ingress[0].ports[0].port", "Http_Port"]
)]
#[case::end_port_below_port(
    Input::Text(policy("  podSelector: {}\n  ingress:\n  - ports: [{port: 90, endPort: 80}]\n")),
    &["document 2", "spec.ingress[0].ports[0].endPort"]
)]
#[case::bad_cidr(
    Input::Text(policy("  podSelector: {}\n  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.0/33}}]\n")),
    &["document 2", "spec.egress[0].to[0].ipBlock.cidr", "10.0.0.0/33"]
)]
#[case::except_outside_cidr(
    Input::Text(policy("  podSelector: {}\n  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]\n")),
    &["document 2", "spec.egress[0].to[0].ipBlock.except[0]"]
)]
#[case::lowercase_protocol(
    Input::Text(policy("  podSelector: {}\n  ingress:\n  - ports: [{port: 80, protocol: tcp}]\n")),
    &["document 2", "spec.ingress[0].ports[0].protocol", "tcp"]
)]
#[case::unknown_field(
    Input::Text(policy("  podSelector: {}\n  ingres:\n  - {}\n")),
    &["document 2", "spec.ingres"]
)]
#[case::empty_peer(
    Input::Text(policy("  podSelector: {}\n  ingress:\n  - from: [{}]\n")),
    &["document 2", "spec.ingress[0].from[0]"]
)]
#[case::unknown_policy_type(
    Input::Text(policy("  podSelector: {}\n  policyTypes: [ingress]\n")),
    &["document 2", "spec.policyTypes[0]"]
)]
#[case::three_policy_types(
    Input::Text(policy("  podSelector: {}\n  policyTypes: [Ingress, Egress, Ingress]\n")),
    &["document 2", "spec.policyTypes", "more than two"]
)]
#[case::binary_garbage(Input::Bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe\x00\x00"), &["not a text manifest"])]
#[case::missing_file(Input::Missing, &[])]
fn malformed_input_fails_cleanly(#[case] input: Input, #[case] needles: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.yaml");
    match &input {
        Input::Text(text) => std::fs::write(&path, text).expect("write"),
        Input::Bytes(bytes) => std::fs::write(&path, bytes).expect("write"),
        Input::Missing => {}
    }
    let output = Command::new(env!("CARGO_BIN_EXE_netpol-harness"))
        .args(["analyze", "-f"])
        .arg(&path)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "expected failure, got:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(&path.display().to_string()),
        "stderr must name the file:\n{stderr}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr must contain `{needle}`:\n{stderr}"
        );
    }
}
