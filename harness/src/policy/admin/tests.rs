use std::path::Path;

use rstest::rstest;

use super::super::test_support::{allowed, analysis, ask, ns, pod, refusal};
use crate::manifest::parse_str;
use crate::oracle::Uncertainty;
use crate::policy::{ADMIN_TIER, BASELINE_TIER, PortSpec, RuleAction};

fn base() -> String {
    [
        ns("prod", &[("env", "prod")]),
        ns("dev", &[("env", "dev")]),
        ns("other", &[("env", "other")]),
        pod(
            "prod",
            "web",
            &[("app", "web")],
            &[("http", 80, "TCP"), ("", 8080, "TCP")],
        ),
        pod("prod", "db", &[("app", "db")], &[("pg", 5432, "TCP")]),
        pod("dev", "client", &[("app", "client")], &[]),
        pod("other", "client", &[("app", "client")], &[]),
    ]
    .concat()
}

/// An AdminNetworkPolicy named `name` with this priority and the rest of the spec.
fn anp(name: &str, priority: i64, rest: &str) -> String {
    format!(
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n  priority: {priority}\n{rest}\n---\n"
    )
}

/// The BaselineAdminNetworkPolicy with this spec.
fn banp(rest: &str) -> String {
    format!(
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\nmetadata: {{name: default}}\nspec:\n{rest}\n---\n"
    )
}

const PROD_SUBJECT: &str = "  subject: {namespaces: {matchLabels: {env: prod}}}";

fn from_dev(action: &str) -> String {
    format!(
        "{PROD_SUBJECT}\n  ingress:\n  - {{name: {action}-dev, action: {action}, from: [{{namespaces: {{matchLabels: {{env: dev}}}}}}]}}"
    )
}

const KNP_WEB_FROM_DEV: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-dev, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {env: dev}}}]
---
"#;

const KNP_WEB_ISOLATED: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-isolated, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
---
"#;

type Expect = (&'static str, &'static str, &'static str, bool, &'static str);

#[rstest]
#[case::lower_priority_value_first(
    anp("deny-later", 20, &from_dev("Deny")) + &anp("allow-first", 10, &from_dev("Allow")),
    &[("dev/client", "prod/web", "80/TCP", true,
       "ingress to prod/web: allowed by AdminNetworkPolicy allow-first (tier adminnetworkpolicy, order 10) rule 1 (spec.ingress[0].from[0]: \"Allow-dev\": allow from all pods in namespaces [env == 'dev'], any port)")],
)]
#[case::lower_priority_value_first_swapped(
    anp("deny-first", 5, &from_dev("Deny")) + &anp("allow-later", 10, &from_dev("Allow")),
    &[("dev/client", "prod/web", "80/TCP", false, "denied by AdminNetworkPolicy deny-first (tier adminnetworkpolicy, order 5) rule 1")],
)]
#[case::anp_allow_overrides_kubernetes_isolation(
    anp("allow", 10, &from_dev("Allow")) + KNP_WEB_ISOLATED,
    &[
        ("dev/client", "prod/web", "80/TCP", true, "allowed by AdminNetworkPolicy allow"),
        ("other/client", "prod/web", "80/TCP", false, "end of tier default"),
    ],
)]
#[case::pass_goes_to_kubernetes_policy(
    anp("pass", 10, &from_dev("Pass")) + KNP_WEB_ISOLATED + &banp(&from_dev("Allow")),
    &[
        // The KNP selects web: it decides (no rule matches: end of tier), the BANP is not reached.
        ("dev/client", "prod/web", "80/TCP", false,
         "ingress to prod/web: passed to the next tier by AdminNetworkPolicy pass (tier adminnetworkpolicy, order 10) rule 1 (spec.ingress[0].from[0]: \"Pass-dev\": pass from all pods in namespaces [env == 'dev'], any port), then denied, selected by NetworkPolicy prod/web-isolated (tier default, order 1000) but no rule matched (end of tier default)"),
        // No KNP selects db: the BANP decides.
        ("dev/client", "prod/db", "5432/TCP", true,
         "allowed by BaselineAdminNetworkPolicy default (tier baselineadminnetworkpolicy, order 1000) rule 1"),
    ],
)]
#[case::pass_then_kubernetes_allow(
    anp("pass", 10, &from_dev("Pass")) + KNP_WEB_FROM_DEV,
    &[("dev/client", "prod/web", "80/TCP", true, "allowed by NetworkPolicy prod/web-from-dev (tier default, order 1000) rule 1")],
)]
#[case::baseline_only_when_no_kubernetes_policy_selects_the_pod(
    banp(&from_dev("Deny")) + KNP_WEB_FROM_DEV,
    &[
        ("dev/client", "prod/web", "80/TCP", true, "allowed by NetworkPolicy prod/web-from-dev"),
        ("dev/client", "prod/db", "5432/TCP", false,
         "denied by BaselineAdminNetworkPolicy default (tier baselineadminnetworkpolicy, order 1000) rule 1"),
    ],
)]
#[case::baseline_without_matching_rule_allows(
    banp(&format!("{PROD_SUBJECT}\n  ingress:\n  - {{action: Deny, from: [{{namespaces: {{matchLabels: {{env: nowhere}}}}}}]}}")),
    &[("dev/client", "prod/web", "80/TCP", true, "ingress to prod/web: allowed, every applicable tier passed it on")],
)]
#[case::ingress_only_policy_does_not_apply_to_egress(
    anp("deny-in", 10, &from_dev("Deny")),
    &[
        ("prod/web", "dev/client", "80/TCP", true, "egress from prod/web: allowed, no policy selects it"),
        ("dev/client", "prod/web", "80/TCP", false, "denied by AdminNetworkPolicy deny-in"),
    ],
)]
#[case::pods_peer_and_ports(
    anp(
        "db-only-from-web",
        10,
        "  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}}\n  ingress:\n  - action: Allow\n    from: [{pods: {namespaceSelector: {matchLabels: {env: prod}}, podSelector: {matchLabels: {app: web}}}}]\n    ports: [{portNumber: {port: 5432}}, {portRange: {protocol: UDP, start: 5000, end: 5999}}]\n  - action: Deny\n    from: [{namespaces: {}}]",
    ),
    &[
        ("prod/web", "prod/db", "5432/TCP", true, "rule 1 (spec.ingress[0].from[0]: allow from pods [app == 'web'] in namespaces [env == 'prod'], TCP 5432)"),
        ("prod/web", "prod/db", "5500/UDP", true, "rule 1 (spec.ingress[0].from[0]: allow from pods [app == 'web'] in namespaces [env == 'prod'], UDP 5000-5999)"),
        ("prod/web", "prod/db", "5433/TCP", false, "rule 2 (spec.ingress[1].from[0]: deny from all pods in namespaces [all], any port)"),
        ("dev/client", "prod/db", "5432/TCP", false, "AdminNetworkPolicy db-only-from-web"),
        // `namespaces: {}` selects pods only: an outside address matches no rule.
        ("203.0.113.7", "prod/db", "5432/TCP", true, "every applicable tier passed it on"),
    ],
)]
#[case::named_port(
    anp("deny-http", 10, &format!("{PROD_SUBJECT}\n  ingress:\n  - {{action: Deny, from: [{{namespaces: {{}}}}], ports: [{{namedPort: http}}]}}")),
    &[
        ("dev/client", "prod/web", "80/TCP", false, "rule 1 (spec.ingress[0].from[0]: deny from all pods in namespaces [all], port http)"),
        ("dev/client", "prod/web", "8080/TCP", true, "every applicable tier passed it on"),
    ],
)]
#[case::networks_also_match_pods(
    anp("egress", 10, &format!("{PROD_SUBJECT}\n  egress:\n  - {{action: Deny, to: [{{networks: [8.8.8.0/24, 10.244.0.0/16]}}]}}")),
    &[
        ("prod/web", "8.8.8.8", "53/UDP", false, "rule 1 (spec.egress[0].to[0]: deny to networks 8.8.8.0/24, 10.244.0.0/16, any port)"),
        ("prod/web", "1.1.1.1", "53/UDP", true, "every applicable tier passed it on"),
        ("prod/web", "dev/client", "80/TCP", false, "AdminNetworkPolicy egress"),
    ],
)]
#[case::egress_namespaces_peer(
    anp("egress", 10, &format!("{PROD_SUBJECT}\n  egress:\n  - {{action: Deny, to: [{{namespaces: {{matchLabels: {{env: dev}}}}}}], ports: [{{portNumber: {{protocol: TCP, port: 80}}}}]}}")),
    &[
        ("prod/web", "dev/client", "80/TCP", false, "deny to all pods in namespaces [env == 'dev'], TCP 80"),
        ("prod/web", "dev/client", "81/TCP", true, "every applicable tier passed it on"),
        ("prod/web", "other/client", "80/TCP", true, "every applicable tier passed it on"),
    ],
)]
fn evaluates_admin_policies(#[case] policies: String, #[case] expect: &[Expect]) {
    let a = analysis(&format!("{}{policies}", base()));
    for &(from, to, probe, want, because) in expect {
        let (verdict, text) = ask(&a, from, to, probe);
        assert_eq!(verdict.allowed, want, "{from} → {to} {probe}: {text}");
        assert!(
            text.contains(because),
            "{from} → {to} {probe}:\n  got  {text}\n  want …{because}…"
        );
    }
}

#[test]
fn placement_and_directions() {
    let a = analysis(&format!(
        "{}{}{}",
        base(),
        anp("a", 42, &from_dev("Allow")),
        banp(&format!(
            "{PROD_SUBJECT}\n  egress:\n  - {{action: Deny, to: [{{networks: [0.0.0.0/0]}}]}}"
        ))
    ));
    let p = &a.policies.policies;
    assert_eq!((p[0].tier.as_str(), p[0].order), (ADMIN_TIER, Some(42.0)));
    assert!(p[0].ingress.is_some() && p[0].egress.is_none());
    assert_eq!(p[0].subject.to_string(), "pcns.env == 'prod'");
    assert_eq!(
        (p[1].tier.as_str(), p[1].order),
        (BASELINE_TIER, Some(1000.0))
    );
    assert!(p[1].ingress.is_none() && p[1].egress.is_some());
}

#[test]
fn one_rule_per_peer_and_protocol() {
    let a = analysis(&format!(
        "{}{}",
        base(),
        anp(
            "x",
            1,
            &format!(
                "{PROD_SUBJECT}\n  ingress:\n  - action: Deny\n    from: [{{namespaces: {{matchLabels: {{env: dev}}}}}}, {{namespaces: {{matchLabels: {{env: other}}}}}}]\n    ports: [{{portNumber: {{port: 80}}}}, {{portNumber: {{protocol: UDP, port: 53}}}}, {{portNumber: {{port: 443}}}}, {{namedPort: http}}]"
            )
        )
    ));
    let rules = a.policies.policies[0].ingress.clone().expect("ingress");
    let shape: Vec<(String, Option<String>, Vec<PortSpec>)> = rules
        .iter()
        .map(|r| {
            (
                r.origin.clone(),
                r.protocol.map(|p| p.to_string()),
                r.destination.ports.clone(),
            )
        })
        .collect();
    let tcp = vec![PortSpec::Range(80, 80), PortSpec::Range(443, 443)];
    let udp = vec![PortSpec::Range(53, 53)];
    let named = vec![PortSpec::Named("http".into())];
    let at = |j: usize| format!("spec.ingress[0].from[{j}]");
    assert_eq!(
        shape,
        [
            (at(0), Some("TCP".to_string()), tcp.clone()),
            (at(0), Some("UDP".to_string()), udp.clone()),
            (at(0), None, named.clone()),
            (at(1), Some("TCP".to_string()), tcp),
            (at(1), Some("UDP".to_string()), udp),
            (at(1), None, named),
        ]
    );
}

#[rstest]
#[case::shared_priority(
    anp("first", 7, &from_dev("Allow")) + &anp("second", 7, &from_dev("Deny")),
    "spec.priority: unsupported: two AdminNetworkPolicies share priority 7 (first at t.yaml: document"
)]
#[case::same_policy_twice(
    anp("first", 7, &from_dev("Allow")) + &anp("first", 7, &from_dev("Allow")),
    "metadata.name: AdminNetworkPolicy first is declared twice"
)]
#[case::baseline_twice(
    banp(&from_dev("Deny")) + &banp(&from_dev("Deny")),
    "metadata.name: BaselineAdminNetworkPolicy default is declared twice"
)]
#[case::baseline_other_name(
    banp(&from_dev("Deny")).replace("name: default", "name: mine"),
    "metadata.name: a BaselineAdminNetworkPolicy must be named `default`"
)]
#[case::baseline_pass(banp(&from_dev("Pass")), "spec.ingress[0].action: unknown action `Pass` for a BaselineAdminNetworkPolicy (expected Allow or Deny)")]
#[case::baseline_priority(banp(&format!("  priority: 3\n{}", from_dev("Deny"))), "spec.priority: a BaselineAdminNetworkPolicy has no priority")]
#[case::priority_out_of_range(anp("x", 1001, &from_dev("Deny")), "spec.priority: 1001 is out of range (0-1000)")]
#[case::missing_priority(
    anp("x", 1, &from_dev("Deny")).replace("  priority: 1\n", ""),
    "spec.priority: missing (0-1000)"
)]
#[case::subject_both(
    anp(
        "x",
        1,
        "  subject: {namespaces: {}, pods: {namespaceSelector: {}, podSelector: {}}}"
    ),
    "spec.subject: exactly one of `namespaces` and `pods` must be set, not both"
)]
#[case::subject_neither(
    anp("x", 1, "  subject: {}"),
    "spec.subject: exactly one of `namespaces` and `pods` must be set"
)]
#[case::empty_peer(
    anp("x", 1, &format!("{PROD_SUBJECT}\n  egress: [{{action: Deny, to: [{{}}]}}]")),
    "spec.egress[0].to[0]: exactly one of `namespaces`, `pods`, `networks`, `nodes` and `domainNames` must be set"
)]
#[case::no_peers(anp("x", 1, &format!("{PROD_SUBJECT}\n  ingress: [{{action: Deny, from: []}}]")), "spec.ingress[0].from: must list 1 to 100 peers")]
#[case::domain_names_in_deny(
    anp("x", 1, &format!("{PROD_SUBJECT}\n  egress: [{{action: Deny, to: [{{domainNames: [example.com]}}]}}]")),
    "spec.egress[0].to[0].domainNames: unsupported: domainNames is only supported for Allow rules"
)]
#[case::domain_names_in_baseline(
    banp(&format!("{PROD_SUBJECT}\n  egress: [{{action: Allow, to: [{{domainNames: [example.com]}}]}}]")),
    "spec.egress[0].to[0].domainNames: a BaselineAdminNetworkPolicy peer has no domainNames"
)]
#[case::bad_domain_name(
    anp("x", 1, &format!("{PROD_SUBJECT}\n  egress: [{{action: Allow, to: [{{domainNames: ['-x.io']}}]}}]")),
    "spec.egress[0].to[0].domainNames[0]: `-x.io` is not a domain name"
)]
#[case::named_port_with_nodes(
    anp("x", 1, &format!("{PROD_SUBJECT}\n  egress: [{{action: Deny, to: [{{nodes: {{}}}}], ports: [{{namedPort: http}}]}}]")),
    "spec.egress[0].to[0]: networks/nodes/domainNames peer cannot be set with namedPorts"
)]
#[case::networks_in_ingress(
    anp("x", 1, &format!("{PROD_SUBJECT}\n  ingress: [{{action: Deny, from: [{{networks: [10.0.0.0/8]}}]}}]")),
    "spec.ingress[0].from[0].networks: unsupported: unknown field `networks`"
)]
#[case::bad_network(
    anp("x", 1, &format!("{PROD_SUBJECT}\n  egress: [{{action: Deny, to: [{{networks: [10.0.0.1]}}]}}]")),
    "spec.egress[0].to[0].networks[0]: `10.0.0.1` is not a CIDR"
)]
#[case::named_port_with_networks(
    anp("x", 1, &format!("{PROD_SUBJECT}\n  egress: [{{action: Deny, to: [{{networks: [10.0.0.0/8]}}], ports: [{{namedPort: http}}]}}]")),
    "spec.egress[0].to[0]: networks/nodes/domainNames peer cannot be set with namedPorts"
)]
#[case::reversed_range(
    anp("x", 1, &format!("{PROD_SUBJECT}\n  ingress: [{{action: Deny, from: [{{namespaces: {{}}}}], ports: [{{portRange: {{start: 90, end: 80}}}}]}}]")),
    "spec.ingress[0].ports[0].portRange: start 90 is greater than end 80"
)]
#[case::two_port_kinds(
    anp("x", 1, &format!("{PROD_SUBJECT}\n  ingress: [{{action: Deny, from: [{{namespaces: {{}}}}], ports: [{{namedPort: http, portNumber: {{port: 80}}}}]}}]")),
    "spec.ingress[0].ports[0]: exactly one of `portNumber`, `namedPort` and `portRange` must be set"
)]
#[case::bad_protocol(
    anp("x", 1, &format!("{PROD_SUBJECT}\n  ingress: [{{action: Deny, from: [{{namespaces: {{}}}}], ports: [{{portNumber: {{protocol: ICMP, port: 80}}}}]}}]")),
    "spec.ingress[0].ports[0].portNumber.protocol: unknown protocol `ICMP`"
)]
#[case::bad_label_selector(
    anp(
        "x",
        1,
        "  subject: {namespaces: {matchExpressions: [{key: env, operator: Equals, values: [a]}]}}"
    ),
    "spec.subject.namespaces.matchExpressions[0].operator: unknown operator `Equals` (expected"
)]
#[case::unknown_selector_field(
    anp("x", 1, "  subject: {namespaces: {matchLabel: {env: prod}}}"),
    "spec.subject.namespaces.matchLabel: unsupported: unknown field `matchLabel`"
)]
#[case::same_labels(
    anp("x", 1, &format!("{PROD_SUBJECT}\n  ingress: [{{action: Deny, from: [{{namespaces: {{sameLabels: [env]}}}}]}}]")),
    "spec.ingress[0].from[0].namespaces.sameLabels: unsupported: unknown field `sameLabels`"
)]
#[case::too_many_rules(
    anp("x", 1, &format!("{PROD_SUBJECT}\n  ingress:\n{}", "  - {action: Deny, from: [{namespaces: {}}]}\n".repeat(101))),
    "spec.ingress: 101 rules; a AdminNetworkPolicy has at most 100 per direction"
)]
#[case::other_version(
    "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: ClusterNetworkPolicy\nmetadata: {name: x}\nspec: {}\n".to_string(),
    "apiVersion: unsupported: policy.networking.k8s.io/v1alpha1 ClusterNetworkPolicy (the oracle models policy.networking.k8s.io/v1alpha2)"
)]
#[case::other_kind(
    "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: NetworkPolicyTier\nmetadata: {name: x}\nspec: {}\n".to_string(),
    "kind: unsupported: policy.networking.k8s.io/v1alpha2 NetworkPolicyTier is not modelled"
)]
fn refusals(#[case] yaml: String, #[case] expected: &str) {
    let yaml = format!("{}{yaml}", ns("prod", &[]));
    let text = refusal(&yaml);
    let last = parse_str(Path::new("t.yaml"), &yaml)
        .expect("YAML")
        .last()
        .expect("documents")
        .source
        .clone();
    assert!(
        text.starts_with(&format!("{last}: ")),
        "{text}\nshould start with {last}"
    );
    assert!(text.contains(expected), "got  {text}\nwant …{expected}…");
}

const NODES: &str = "apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {role: infra}}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.5}]}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n2, labels: {role: worker}}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.6}]}\n---\n";

/// As the API defines them (v0.1.7): `nodes` select the addresses of declared Nodes, and an
/// Allow rule's `domainNames` make outside destinations "unknown (DNS)".
#[test]
fn nodes_and_domain_names_peers_as_the_api_defines_them() {
    let rest = format!(
        "{PROD_SUBJECT}\n  egress:\n  - {{name: no-infra, action: Deny, to: [{{nodes: {{matchLabels: {{role: infra}}}}}}]}}\n  - {{name: docs, action: Allow, to: [{{domainNames: ['*.kubernetes.io']}}]}}\n  - {{name: no-outside, action: Deny, to: [{{networks: [0.0.0.0/0]}}]}}"
    );
    let a = analysis(&[base(), NODES.to_string(), anp("egress", 5, &rest)].concat());
    let (v, why) = ask(&a, "prod/web", "172.18.0.5", "443/TCP");
    assert!(!v.allowed && v.uncertain.is_none(), "{why}");
    assert!(why.contains("nodes [role == 'infra']"), "{why}");
    let (v, why) = ask(&a, "prod/web", "203.0.113.10", "443/TCP");
    assert_eq!(v.uncertain, Some(Uncertainty::Dns), "{why}");
    // The Allow rule decides what the Deny after it would block, so the cell depends on
    // what the name resolves to.
    assert!(
        why.contains("unknown (DNS)") && why.contains("docs"),
        "{why}"
    );
    // Traffic from a namespace the policy does not select is not affected.
    assert!(allowed(&a, "dev/client", "172.18.0.5", "443/TCP"));
}

/// Calico 3.29–3.31 converts only pods, namespaces and networks: a rule with a `nodes` peer
/// (even beside a pods peer) fails closed — Deny and Pass deny all, Allow is dropped
/// (conversion.go@v3.31.7#L370-L379, #L658-L680). Its CRD has no `domainNames` at all, so a
/// document with one is refused there.
#[rstest]
#[case::deny_nodes("Deny", "{nodes: {}}", Some(RuleAction::Deny))]
#[case::pass_nodes(
    "Pass",
    "{nodes: {matchLabels: {role: infra}}}",
    Some(RuleAction::Deny)
)]
#[case::allow_nodes("Allow", "{nodes: {}}", None)]
fn calico_fails_rules_with_nodes_or_domain_names_closed(
    #[case] action: &str,
    #[case] unsupported: &str,
    #[case] expected: Option<RuleAction>,
) {
    let yaml = anp(
        "f",
        3,
        &format!(
            "{PROD_SUBJECT}\n  egress:\n  - {{name: mixed, action: {action}, to: [{{pods: {{namespaceSelector: {{}}, podSelector: {{}}}}}}, {unsupported}], ports: [{{portNumber: {{port: 80}}}}]}}"
        ),
    );
    let docs = parse_str(Path::new("t.yaml"), &yaml).expect("yaml");
    let calico = super::convert(&docs[0], true).expect("converts");
    let rules = calico.egress.clone().unwrap_or_default();
    assert_eq!(rules.first().map(|r| r.action), expected, "{rules:?}");
    if let Some(r) = rules.first() {
        assert_eq!(rules.len(), 1);
        assert!(r.protocol.is_none() && r.destination.is_any(), "{r:?}");
        assert!(
            r.summary.contains("failed closed") && r.summary.contains("Calico 3.29–3.31"),
            "{}",
            r.summary
        );
    }
    // As the API defines them, the rule keeps both peers.
    let api = super::convert(&docs[0], false).expect("converts");
    assert_eq!(api.egress.map(|r| r.len()), Some(2));

    // In the oracle: a rule failed closed to deny all denies even UDP to anywhere.
    let a = analysis(&base());
    let mut set = crate::policy::PolicySet::default();
    set.policies.push(calico);
    let oracle = crate::oracle::Oracle::new(&a.cluster, &set);
    let p = super::super::test_support::packet(&oracle, "prod/web", "192.0.2.1", "53/UDP");
    assert_eq!(oracle.verdict(&p).allowed, expected.is_none());
}

#[test]
fn calico_refuses_domain_names_its_crd_does_not_have() {
    let yaml = anp(
        "f",
        3,
        &format!(
            "{PROD_SUBJECT}\n  egress:\n  - {{name: docs, action: Allow, to: [{{domainNames: [example.com]}}]}}"
        ),
    );
    let docs = parse_str(Path::new("t.yaml"), &yaml).expect("yaml");
    let err = super::convert(&docs[0], true).unwrap_err().to_string();
    assert!(
        err.contains("spec.egress[0].to[0].domainNames") && err.contains("v0.1.1"),
        "{err}"
    );
    assert!(super::convert(&docs[0], false).is_ok());
}
