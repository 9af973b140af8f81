use std::path::Path;

use rstest::rstest;

use super::super::test_support::{allowed, analysis, ask, ns, pod, pod_as, refusal};
use crate::manifest::parse_str;
use crate::oracle::Decision;
use crate::policy::{Direction, Policy, TierDefault};

/// Namespaces, pods and service accounts most cases run against. Pod addresses come from
/// 10.244.0.0/16, so every pod is inside 10.0.0.0/8.
fn base() -> String {
    [
        ns("prod", &[("env", "prod"), ("netpol_deny_all", "enabled")]),
        ns("dev", &[("env", "dev")]),
        ns("kube-system", &[]),
        pod("prod", "web", &[("app", "web")], &[("http", 80, "TCP")]),
        pod("prod", "db", &[("app", "db")], &[("pg", 5432, "TCP")]),
        pod("prod", "api", &[("app", "api"), ("team", "a")], &[("", 8080, "TCP")]),
        pod_as("prod", "front", &[("app", "front")], &[], "frontend"),
        pod("dev", "client", &[("app", "client")], &[]),
        pod("dev", "admin", &[("app", "admin"), ("role", "admin")], &[]),
        pod_as("dev", "front", &[("app", "front")], &[], "frontend"),
        pod(
            "kube-system",
            "dns",
            &[("k8s-app", "kube-dns")],
            &[("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")],
        ),
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: frontend, namespace: prod, labels: {trust: high}}\n---\n".to_string(),
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: frontend, namespace: dev, labels: {trust: low}}\n---\n".to_string(),
    ]
    .concat()
}

fn policy(a: &crate::analysis::Analysis, name: &str) -> Policy {
    a.policies
        .policies
        .iter()
        .find(|p| p.id.name == name)
        .unwrap_or_else(|| panic!("no policy {name}"))
        .clone()
}

/// One expected connection: from, to, probe, allowed, and a fragment of the explanation.
type Expect = (&'static str, &'static str, &'static str, bool, &'static str);

#[rstest]
#[case::calico_deny_at_lower_order_beats_kubernetes_allow(
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all-to-web, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: deny-dev, namespace: prod}
spec:
  order: 500
  selector: app == 'web'
  ingress:
  - action: Deny
    source: {namespaceSelector: env == 'dev'}
"#,
    &[
        ("dev/client", "prod/web", "80/TCP", false,
         "ingress to prod/web: denied by Calico NetworkPolicy prod/deny-dev (tier default, order 500) rule 1 (spec.ingress[0]: deny all traffic from namespaces [env == 'dev'])"),
        ("prod/db", "prod/web", "80/TCP", true,
         "ingress to prod/web: allowed by NetworkPolicy prod/allow-all-to-web (tier default, order 1000) rule 1"),
        ("203.0.113.7", "prod/web", "80/TCP", true, "allowed by NetworkPolicy prod/allow-all-to-web"),
    ],
)]
#[case::dns_allowed_by_global_policy_after_kubernetes_policy_does_not_match(
    // Calico docs §6b: the KNP (order 1000) only allows TCP 8080 out; UDP 53 matches none of its
    // rules, so evaluation goes on to the GNP (order 2000), whose third egress rule allows it.
    // The GNP is the tutorial's `global-deny-all`, exactly as the Contour scenario applies it.
    concat!(
        include_str!("../../../../scenarios/contour-default-deny/deny-all.yaml"),
        r#"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-8080, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]
  egress:
  - ports: [{protocol: TCP, port: 8080}]
"#
    ),
    &[
        ("prod/web", "kube-system/dns", "53/UDP", true,
         "egress from prod/web: allowed by GlobalNetworkPolicy global-deny-all (tier default, order 2000) rule 3 (spec.egress[2]: allow UDP to 0.0.0.0/0 port 53 from namespaces [netpol_deny_all == 'enabled'])"),
        ("prod/web", "8.8.8.8", "53/UDP", true, "global-deny-all (tier default, order 2000) rule 3"),
        ("prod/web", "8.8.8.8", "8080/TCP", true,
         "egress from prod/web: allowed by NetworkPolicy prod/web-8080 (tier default, order 1000) rule 1"),
        ("prod/web", "8.8.8.8", "443/TCP", false,
         "egress from prod/web: denied, selected by NetworkPolicy prod/web-8080 (tier default, order 1000), GlobalNetworkPolicy global-deny-all (tier default, order 2000) but no rule matched (end of tier default)"),
        ("prod/db", "8.8.8.8", "53/UDP", true, "global-deny-all (tier default, order 2000) rule 3"),
        ("prod/db", "8.8.8.8", "8080/TCP", false, "end of tier default"),
        ("dev/client", "prod/db", "5432/TCP", false, "ingress to prod/db: denied"),
        ("dev/client", "kube-system/dns", "53/UDP", true, "ingress to kube-system/dns: allowed by GlobalNetworkPolicy global-deny-all (tier default, order 2000) rule 1"),
    ],
)]
#[case::pass_skips_the_rest_of_the_tier(
    r#"
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.pass-prod}
spec:
  tier: security
  order: 1
  namespaceSelector: env == 'prod'
  ingress:
  - action: Pass
    source: {namespaceSelector: env == 'prod'}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.deny-rest}
spec:
  tier: security
  order: 2
  namespaceSelector: env == 'prod'
  ingress:
  - action: Deny
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web, namespace: prod}
spec:
  order: 10
  selector: app == 'web'
  ingress:
  - action: Deny
    source: {selector: app == 'db'}
  - action: Allow
"#,
    &[
        ("prod/api", "prod/web", "80/TCP", true,
         "ingress to prod/web: passed to the next tier by GlobalNetworkPolicy security.pass-prod (tier security, order 1) rule 1 (spec.ingress[0]: pass all traffic from namespaces [env == 'prod']), then allowed by Calico NetworkPolicy prod/web (tier default, order 10) rule 2 (spec.ingress[1]: allow all traffic)"),
        ("prod/db", "prod/web", "80/TCP", false,
         "denied by Calico NetworkPolicy prod/web (tier default, order 10) rule 1 (spec.ingress[0]: deny all traffic from endpoints [app == 'db'] in namespace prod)"),
        ("dev/client", "prod/web", "80/TCP", false,
         "denied by GlobalNetworkPolicy security.deny-rest (tier security, order 2) rule 1"),
        ("prod/api", "prod/db", "5432/TCP", true,
         "ingress to prod/db: passed to the next tier by GlobalNetworkPolicy security.pass-prod (tier security, order 1) rule 1 (spec.ingress[0]: pass all traffic from namespaces [env == 'prod']), then allowed, every applicable tier passed it on"),
    ],
)]
#[case::end_of_tier_deny_when_the_only_rule_does_not_match(
    r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: only-nobody, namespace: prod}
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    source: {selector: app == 'nobody'}
"#,
    &[
        ("dev/client", "prod/web", "80/TCP", false,
         "ingress to prod/web: denied, selected by Calico NetworkPolicy prod/only-nobody (tier default, order last) but no rule matched (end of tier default)"),
        ("dev/client", "prod/db", "5432/TCP", true, "ingress to prod/db: allowed, no policy selects it"),
    ],
)]
#[case::tier_with_default_action_pass(
    r#"
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: lenient}
spec: {order: 100, defaultAction: Pass}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: lenient.only-nobody}
spec:
  tier: lenient
  selector: app in {'web', 'db'}
  ingress:
  - action: Allow
    source: {selector: app == 'nobody'}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: isolate-db, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
"#,
    &[
        ("dev/client", "prod/web", "80/TCP", true,
         "ingress to prod/web: allowed, every applicable tier passed it on"),
        ("dev/client", "prod/db", "5432/TCP", false,
         "ingress to prod/db: denied, selected by NetworkPolicy prod/isolate-db (tier default, order 1000) but no rule matched (end of tier default)"),
    ],
)]
#[case::tier_without_applicable_policy_is_skipped(
    r#"
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: strict}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: strict.dev-only}
spec:
  tier: strict
  namespaceSelector: env == 'dev'
  types: [Ingress]
"#,
    &[
        ("prod/web", "dev/client", "80/TCP", false,
         "ingress to dev/client: denied, selected by GlobalNetworkPolicy strict.dev-only (tier strict, order last) but no rule matched (end of tier strict)"),
        ("dev/client", "prod/web", "80/TCP", true, "ingress to prod/web: allowed, no policy selects it"),
    ],
)]
#[case::absent_labels_satisfy_not_equal_and_not_in(
    r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: unteamed}
spec:
  selector: team not in {'a', 'b'}
  ingress:
  - action: Deny
    source: {selector: role != 'admin'}
  - action: Allow
"#,
    &[
        // prod/web has no `team` label, so `team not in {…}` selects it; dev/client has no
        // `role` label, so `role != 'admin'` matches it.
        ("dev/client", "prod/web", "80/TCP", false, "denied by GlobalNetworkPolicy unteamed (tier default, order last) rule 1"),
        ("dev/admin", "prod/web", "80/TCP", true, "allowed by GlobalNetworkPolicy unteamed (tier default, order last) rule 2"),
        // An outside address never matches a selector, even a negative one.
        ("203.0.113.7", "prod/web", "80/TCP", true, "rule 2"),
        // prod/api has team a: not selected.
        ("dev/client", "prod/api", "8080/TCP", true, "no policy selects it"),
    ],
)]
#[case::not_nets(
    r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: internet-only}
spec:
  selector: app == 'web'
  egress:
  - action: Allow
    protocol: TCP
    destination:
      nets: [0.0.0.0/0]
      notNets: [10.0.0.0/8]
"#,
    &[
        ("prod/web", "8.8.8.8", "443/TCP", true, "rule 1 (spec.egress[0]: allow TCP to 0.0.0.0/0 not 10.0.0.0/8)"),
        ("prod/web", "10.1.2.3", "443/TCP", false, "end of tier default"),
        ("prod/web", "prod/db", "5432/TCP", false, "end of tier default"),
        ("prod/web", "8.8.8.8", "53/UDP", false, "end of tier default"),
    ],
)]
#[case::global_not_selector_matches_outside_addresses(
    r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: not-db}
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
  - action: Allow
    destination: {notSelector: app == 'db'}
"#,
    &[
        ("prod/web", "8.8.8.8", "443/TCP", true, "rule 1 (spec.egress[0]: allow all traffic to not endpoints [app == 'db'])"),
        ("prod/web", "kube-system/dns", "53/UDP", true, "rule 1"),
        ("prod/web", "prod/db", "5432/TCP", false, "end of tier default"),
    ],
)]
#[case::namespaced_not_selector_stays_in_its_namespace(
    r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: not-db, namespace: prod}
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
  - action: Allow
    destination: {notSelector: app == 'db'}
"#,
    &[
        ("prod/web", "prod/api", "8080/TCP", true,
         "rule 1 (spec.egress[0]: allow all traffic to endpoints in namespace prod not endpoints [app == 'db'])"),
        ("prod/web", "prod/db", "5432/TCP", false, "end of tier default"),
        ("prod/web", "kube-system/dns", "53/UDP", false, "end of tier default"),
        ("prod/web", "8.8.8.8", "443/TCP", false, "end of tier default"),
    ],
)]
#[case::named_ports(
    r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web-http, namespace: prod}
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: [http]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: dns-by-name}
spec:
  selector: k8s-app == 'kube-dns'
  ingress:
  - action: Allow
    destination: {ports: [dns]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: dns-tcp-by-name}
spec:
  selector: k8s-app == 'kube-dns'
  ingress:
  - action: Allow
    destination: {ports: [dns-tcp]}
"#,
    &[
        ("dev/client", "prod/web", "80/TCP", true, "rule 1 (spec.ingress[0]: allow TCP to port http)"),
        ("dev/client", "prod/web", "8080/TCP", false, "end of tier default"),
        ("dev/client", "prod/web", "80/UDP", false, "end of tier default"),
        // Without a protocol Felix looks the name up as a TCP port (`namedPortProto` defaults to
        // TCP in felix/calc/rule_scanner.go): `dns` is a UDP port, so nothing matches it, …
        ("dev/client", "kube-system/dns", "53/UDP", false, "end of tier default"),
        // … while the TCP port `dns-tcp` matches, for TCP only.
        ("dev/client", "kube-system/dns", "53/TCP", true, "dns-tcp-by-name"),
    ],
)]
#[case::namespace_selector_global_matches_no_pod_and_no_outside_address(
    r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: only-global}
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    source: {namespaceSelector: global()}
"#,
    &[
        ("dev/client", "prod/web", "80/TCP", false, "end of tier default"),
        ("prod/db", "prod/web", "80/TCP", false, "end of tier default"),
        ("203.0.113.7", "prod/web", "80/TCP", false, "end of tier default"),
    ],
)]
#[case::global_policy_with_namespace_selector(
    r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-into-prod}
spec:
  namespaceSelector: env == 'prod'
  ingress:
  - action: Deny
"#,
    &[
        ("dev/client", "prod/web", "80/TCP", false, "denied by GlobalNetworkPolicy deny-into-prod"),
        ("dev/client", "prod/db", "5432/TCP", false, "denied by GlobalNetworkPolicy deny-into-prod"),
        ("prod/web", "dev/client", "80/TCP", true, "ingress to dev/client: allowed, no policy selects it"),
    ],
)]
#[case::service_accounts(
    r#"
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: from-frontend, namespace: prod}
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    source:
      serviceAccounts: {names: [frontend]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: from-trusted}
spec:
  selector: app == 'db'
  ingress:
  - action: Allow
    source:
      serviceAccounts: {selector: trust == 'high'}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: any-frontend}
spec:
  selector: app == 'api'
  ingress:
  - action: Allow
    source:
      serviceAccounts: {names: [frontend]}
"#,
    &[
        ("prod/front", "prod/web", "80/TCP", true,
         "rule 1 (spec.ingress[0]: allow all traffic from endpoints with service accounts [frontend] in namespace prod)"),
        // The namespaced policy's service-account match is scoped to its own namespace.
        ("dev/front", "prod/web", "80/TCP", false, "end of tier default"),
        ("prod/api", "prod/web", "80/TCP", false, "end of tier default"),
        ("prod/front", "prod/db", "5432/TCP", true, "from-trusted"),
        ("dev/front", "prod/db", "5432/TCP", false, "end of tier default"),
        // A global policy's is not.
        ("dev/front", "prod/api", "8080/TCP", true, "any-frontend"),
    ],
)]
#[case::icmp_type_8(
    r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: ping}
spec:
  selector: app == 'web'
  egress:
  - action: Allow
    protocol: ICMP
    icmp: {type: 8, code: 0}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: pong}
spec:
  selector: app == 'db'
  egress:
  - action: Allow
    protocol: ICMP
    icmp: {type: 0}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: no-ping}
spec:
  selector: app == 'api'
  egress:
  - action: Allow
    protocol: ICMP
    notICMP: {type: 8}
"#,
    &[
        ("prod/web", "8.8.8.8", "ICMP", true, "rule 1 (spec.egress[0]: allow ICMP type 8 code 0)"),
        ("prod/web", "8.8.8.8", "443/TCP", false, "end of tier default"),
        ("prod/db", "8.8.8.8", "ICMP", false, "end of tier default"),
        ("prod/api", "8.8.8.8", "ICMP", false, "end of tier default"),
    ],
)]
#[case::order_omitted_is_last(
    r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: a-allow}
spec:
  selector: app == 'web'
  ingress: [{action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: z-deny}
spec:
  order: 5000
  selector: app == 'web'
  ingress: [{action: Deny}]
"#,
    &[("dev/client", "prod/web", "80/TCP", false, "denied by GlobalNetworkPolicy z-deny (tier default, order 5000) rule 1")],
)]
#[case::equal_order_goes_by_name(
    r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: a-allow}
spec:
  selector: app == 'web'
  ingress: [{action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: z-deny}
spec:
  selector: app == 'web'
  ingress: [{action: Deny}]
"#,
    &[("dev/client", "prod/web", "80/TCP", true, "allowed by GlobalNetworkPolicy a-allow (tier default, order last) rule 1")],
)]
#[case::log_continues_with_the_next_rule(
    r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: logged}
spec:
  selector: app == 'web'
  ingress:
  - action: Log
  - action: Allow
    source: {namespaceSelector: env == 'dev'}
"#,
    &[
        ("dev/client", "prod/web", "80/TCP", true,
         "ingress to prod/web: logged by GlobalNetworkPolicy logged (tier default, order last) rule 1 (spec.ingress[0]: log all traffic), then allowed by GlobalNetworkPolicy logged (tier default, order last) rule 2 (spec.ingress[1]: allow all traffic from namespaces [env == 'dev'])"),
        ("prod/db", "prod/web", "80/TCP", false, "end of tier default"),
    ],
)]
#[case::equal_order_calico_policy_before_kubernetes_policy(
    // Calico v3.31 breaks the tie on backend names: `prod/default.zzz` < `prod/knp.default.aaa`.
    r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: aaa, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: zzz, namespace: prod}
spec:
  order: 1000
  selector: app == 'web'
  ingress: [{action: Deny}]
"#,
    &[("dev/client", "prod/web", "80/TCP", false, "denied by Calico NetworkPolicy prod/zzz (tier default, order 1000) rule 1")],
)]
#[case::ipv4_not_nets_drop_the_rule_for_ipv6(
    // Felix renders the rule only for IPv4 (its only CIDR is IPv4), so it matches no IPv6 packet.
    r#"
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: not-private}
spec:
  selector: app == 'web'
  egress:
  - action: Allow
    destination: {notNets: [10.0.0.0/8]}
"#,
    &[
        ("prod/web", "8.8.8.8", "443/TCP", true, "rule 1"),
        ("prod/web", "2001:db8::1", "443/TCP", false, "end of tier default"),
    ],
)]
fn evaluates_as_calico(#[case] policies: &str, #[case] expect: &[Expect]) {
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

/// A GlobalNetworkPolicy (`global`) or a NetworkPolicy in namespace `prod` with this spec.
fn calico(global: bool, spec: &str) -> String {
    let head = if global {
        "kind: GlobalNetworkPolicy\nmetadata: {name: p}"
    } else {
        "kind: NetworkPolicy\nmetadata: {name: p, namespace: prod}"
    };
    format!("apiVersion: projectcalico.org/v3\n{head}\nspec:\n{spec}\n---\n")
}

#[rstest]
#[case::nothing("", Some(Direction::Ingress), None)]
#[case::ingress_rules_only("  ingress: [{action: Allow}]", Some(Direction::Ingress), None)]
#[case::egress_rules_only("  egress: [{action: Allow}]", None, Some(Direction::Egress))]
#[case::both(
    "  ingress: [{action: Allow}]\n  egress: [{action: Allow}]",
    Some(Direction::Ingress),
    Some(Direction::Egress)
)]
#[case::empty_types_default_too(
    "  types: []\n  egress: [{action: Deny}]",
    None,
    Some(Direction::Egress)
)]
#[case::explicit_egress_without_rules("  types: [Egress]", None, Some(Direction::Egress))]
#[case::explicit_types_drop_rules_of_other_direction(
    "  types: [Ingress]\n  egress: [{action: Deny}]",
    Some(Direction::Ingress),
    None
)]
fn types_default_from_the_rules_present(
    #[case] spec: &str,
    #[case] ingress: Option<Direction>,
    #[case] egress: Option<Direction>,
) {
    for global in [false, true] {
        let a = analysis(&format!("{}{}", base(), calico(global, spec)));
        let p = policy(&a, "p");
        assert_eq!(p.ingress.is_some(), ingress.is_some(), "{spec}");
        assert_eq!(p.egress.is_some(), egress.is_some(), "{spec}");
    }
}

#[rstest]
#[case::namespaced_empty(false, "", "projectcalico.org/namespace == 'prod'")]
#[case::namespaced(
    false,
    "  selector: app == 'web'",
    "app == 'web' && projectcalico.org/namespace == 'prod'"
)]
#[case::namespaced_service_account(
    false,
    "  serviceAccountSelector: trust == 'high'",
    "projectcalico.org/namespace == 'prod' && pcsa.trust == 'high'"
)]
#[case::global_empty_is_all(true, "", "all()")]
#[case::global_unscoped(true, "  selector: app == 'web'", "app == 'web'")]
#[case::global_namespace_selector(
    true,
    "  selector: app == 'web'\n  namespaceSelector: env == 'prod'",
    "app == 'web' && pcns.env == 'prod'"
)]
#[case::global_namespace_selector_all(
    true,
    "  namespaceSelector: all()",
    "has(projectcalico.org/namespace)"
)]
fn policy_selectors(#[case] global: bool, #[case] spec: &str, #[case] subject: &str) {
    let a = analysis(&format!("{}{}", base(), calico(global, spec)));
    assert_eq!(policy(&a, "p").subject.to_string(), subject);
}

/// A side of an ingress rule: its effective selector and notSelector, as Calico builds them.
#[rstest]
#[case::namespaced_selector(
    false,
    "{selector: app == 'a'}",
    Some("projectcalico.org/namespace == 'prod' && app == 'a'"),
    None
)]
#[case::namespaced_all_stays_in_namespace(
    false,
    "{selector: all()}",
    Some("projectcalico.org/namespace == 'prod'"),
    None
)]
#[case::namespaced_not_selector_is_scoped_but_not_rewritten(
    false,
    "{notSelector: app == 'a'}",
    Some("projectcalico.org/namespace == 'prod'"),
    Some("app == 'a'")
)]
#[case::namespaced_namespace_selector(
    false,
    "{namespaceSelector: team == 'x'}",
    Some("pcns.team == 'x'"),
    None
)]
#[case::namespaced_namespace_selector_all(
    false,
    "{namespaceSelector: all(), selector: app == 'a'}",
    Some("has(projectcalico.org/namespace) && app == 'a'"),
    None
)]
#[case::namespaced_global(
    false,
    "{namespaceSelector: global()}",
    Some("!has(projectcalico.org/namespace)"),
    None
)]
#[case::namespaced_nets_only_is_unscoped(false, "{nets: [10.0.0.0/8]}", None, None)]
#[case::namespaced_service_account_names(
    false,
    "{serviceAccounts: {names: [sa1, sa2]}}",
    Some(
        "projectcalico.org/namespace == 'prod' && projectcalico.org/serviceaccount in {'sa1', 'sa2'}"
    ),
    None
)]
#[case::namespaced_service_account_selector_and_selector(
    false,
    "{selector: app == 'a', serviceAccounts: {selector: trust == 'high', names: [sa1]}}",
    Some(
        "projectcalico.org/namespace == 'prod' && ((pcsa.trust == 'high' && projectcalico.org/serviceaccount in {'sa1'}) && app == 'a')"
    ),
    None
)]
#[case::empty_service_accounts_are_nothing(false, "{serviceAccounts: {}}", None, None)]
#[case::global_selector(true, "{selector: app == 'a'}", Some("app == 'a'"), None)]
#[case::global_all_matches_only_endpoints(true, "{selector: all()}", Some("all()"), None)]
#[case::global_not_selector(true, "{notSelector: app == 'a'}", None, Some("app == 'a'"))]
#[case::global_namespace_selector_with_negation(
    true,
    "{namespaceSelector: '!has(x)'}",
    Some("!has(pcns.x)"),
    None
)]
fn rule_side_selectors(
    #[case] global: bool,
    #[case] source: &str,
    #[case] selector: Option<&str>,
    #[case] not_selector: Option<&str>,
) {
    let spec = format!("  ingress:\n  - action: Allow\n    source: {source}");
    let a = analysis(&format!("{}{}", base(), calico(global, &spec)));
    let rule = &policy(&a, "p").ingress.expect("ingress")[0];
    assert_eq!(
        rule.source
            .selector
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        selector
    );
    assert_eq!(
        rule.source
            .not_selector
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        not_selector
    );
}

#[rstest]
#[case::dns(
    "{action: Allow, protocol: UDP, source: {namespaceSelector: netpol_deny_all == 'enabled'}, destination: {nets: [0.0.0.0/0], ports: [53]}}",
    "allow UDP to 0.0.0.0/0 port 53 from namespaces [netpol_deny_all == 'enabled']"
)]
#[case::everything("{action: Deny}", "deny all traffic")]
#[case::null_sides_are_empty("{action: Deny, source: null, destination: null}", "deny all traffic")]
#[case::ports_and_not_ports(
    "{action: Allow, protocol: TCP, destination: {selector: app == 'db', ports: [5432, '6000:6010'], notPorts: [6005]}}",
    "allow TCP to endpoints [app == 'db'] in namespace prod ports 5432, 6000-6010 not port 6005"
)]
#[case::negations(
    "{action: Pass, ipVersion: 4, notProtocol: UDP, source: {notSelector: role == 'x', notNets: [10.0.0.0/8]}}",
    "pass IPv4 except UDP from endpoints in namespace prod not endpoints [role == 'x'] not 10.0.0.0/8"
)]
#[case::icmp(
    "{action: Log, protocol: ICMP, notICMP: {type: 0}}",
    "log ICMP except type 0"
)]
#[case::protocol_number(
    "{action: Allow, protocol: 6, destination: {ports: ['8080']}}",
    "allow TCP to port 8080"
)]
#[case::other_protocol("{action: Allow, protocol: UDPLite}", "allow protocol 136")]
fn rule_summaries(#[case] rule: &str, #[case] summary: &str) {
    let a = analysis(&format!(
        "{}{}",
        base(),
        calico(false, &format!("  ingress: [{rule}]"))
    ));
    assert_eq!(
        policy(&a, "p").ingress.expect("ingress")[0].summary,
        summary
    );
}

#[test]
fn ports_parse_as_calico_does() {
    use crate::policy::PortSpec;
    let spec = "  ingress:\n  - action: Allow\n    protocol: TCP\n    destination: {ports: [80, '443', '8000:8080', http], notPorts: ['9000:9000']}";
    let a = analysis(&format!("{}{}", base(), calico(false, spec)));
    let rule = &policy(&a, "p").ingress.expect("ingress")[0];
    assert_eq!(
        rule.destination.ports,
        [
            PortSpec::Range(80, 80),
            PortSpec::Range(443, 443),
            PortSpec::Range(8000, 8080),
            PortSpec::Named("http".into())
        ]
    );
    assert_eq!(rule.destination.not_ports, [PortSpec::Range(9000, 9000)]);
}

#[rstest]
#[case::order_and_pass(
    "{order: 100, defaultAction: Pass}",
    "t",
    Some(100.0),
    TierDefault::Pass
)]
#[case::defaults_deny_and_last("{}", "t", None, TierDefault::Deny)]
#[case::builtin_default_may_be_declared_as_it_is(
    "{order: 1000000, defaultAction: Deny}",
    "default",
    Some(1_000_000.0),
    TierDefault::Deny
)]
fn tiers(
    #[case] spec: &str,
    #[case] name: &str,
    #[case] order: Option<f64>,
    #[case] default: TierDefault,
) {
    let a = analysis(&format!(
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {{name: {name}}}\nspec: {spec}\n"
    ));
    let tier = a.policies.tier(name).expect("tier");
    assert_eq!((tier.order, tier.default_action), (order, default));
    assert!(tier.source.is_some());
}

#[test]
fn default_tier_prefix_is_dropped_and_custom_tier_keeps_it() {
    let a = analysis(&format!(
        "{}{}{}",
        base(),
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: default.plain}\nspec: {}\n---\n",
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: sec}\nspec: {order: 1}\n---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: sec.np, namespace: prod}\nspec: {tier: sec}\n",
    ));
    assert_eq!(policy(&a, "plain").tier, "default");
    // Policy names may be longer than a label's 63 characters.
    let long = "x".repeat(100);
    let long_named = analysis(&calico(true, "").replace("name: p", &format!("name: {long}")));
    assert_eq!(policy(&long_named, &long).tier, "default");
    let np = policy(&a, "sec.np");
    assert_eq!(
        (np.tier.as_str(), np.id.namespace.as_deref()),
        ("sec", Some("prod"))
    );
    // `default.plain` and `plain` are one policy.
    let twice = refusal(&format!(
        "{}apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: plain}}\nspec: {{}}\n",
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: default.plain}\nspec: {}\n---\n"
    ));
    assert!(
        twice.contains("document 2") && twice.contains("declared twice"),
        "{twice}"
    );
}

/// Each malformed or unmodelled input is refused naming the file, the document and the field.
#[rstest]
#[case::bad_policy_selector(
    calico(false, "  selector: app == 'web' &&"),
    "spec.selector: invalid selector `app == 'web' &&` at position 15"
)]
#[case::bad_rule_selector(
    calico(true, "  ingress: [{action: Allow, source: {selector: app = 'a'}}]"),
    "spec.ingress[0].source.selector: invalid selector `app = 'a'` at position 4"
)]
#[case::bad_namespace_selector(
    calico(
        true,
        "  egress: [{action: Allow, destination: {namespaceSelector: 'has(x'}}]"
    ),
    "spec.egress[0].destination.namespaceSelector: invalid selector `has(x` at position 5"
)]
#[case::reversed_port_range(
    calico(
        false,
        "  ingress: [{action: Allow, protocol: TCP, destination: {ports: ['80:70']}}]"
    ),
    "spec.ingress[0].destination.ports[0]: `80:70`: the range's first port 80 is greater than its last port 70"
)]
#[case::numeric_port_without_protocol(
    calico(false, "  ingress: [{action: Allow, destination: {ports: [80]}}]"),
    "spec.ingress[0].destination.ports[0]: rules with a numeric port or port range must set protocol to TCP, UDP or SCTP"
)]
#[case::ports_with_icmp(
    calico(
        false,
        "  ingress: [{action: Allow, protocol: ICMP, destination: {ports: [http]}}]"
    ),
    "spec.ingress[0].destination.ports: rules that specify ports must set protocol to TCP, UDP or SCTP (not ICMP)"
)]
#[case::port_zero(
    calico(
        false,
        "  ingress: [{action: Allow, protocol: TCP, destination: {ports: [0]}}]"
    ),
    "spec.ingress[0].destination.ports[0]: 0 is not a port number"
)]
#[case::port_too_big(
    calico(
        false,
        "  ingress: [{action: Allow, protocol: TCP, destination: {notPorts: ['1:70000']}}]"
    ),
    "spec.ingress[0].destination.notPorts[0]: 70000 is not a port number"
)]
#[case::bad_port_name(
    calico(
        false,
        "  ingress: [{action: Allow, destination: {ports: [Web_Port]}}]"
    ),
    "spec.ingress[0].destination.ports[0]: `Web_Port` is not a valid port name"
)]
#[case::unknown_field(
    calico(false, "  ingress: [{action: Allow, source: {podSelector: {}}}]"),
    "spec.ingress[0].source.podSelector: unsupported: unknown field `podSelector`"
)]
#[case::unknown_spec_field(
    calico(true, "  priority: 3"),
    "spec.priority: unsupported: unknown field `priority`"
)]
#[case::http(
    calico(false, "  ingress: [{action: Allow, http: {methods: [GET]}}]"),
    "spec.ingress[0].http: unsupported: HTTP match is application-layer policy"
)]
#[case::services(
    calico(
        false,
        "  egress: [{action: Allow, destination: {services: {name: kube-dns, namespace: kube-system}}}]"
    ),
    "spec.egress[0].destination.services: unsupported"
)]
#[case::source_ports(
    calico(
        false,
        "  ingress: [{action: Allow, protocol: TCP, source: {ports: [1234]}}]"
    ),
    "spec.ingress[0].source.ports: unsupported: source ports are not modelled"
)]
#[case::do_not_track(
    calico(true, "  doNotTrack: true\n  applyOnForward: true"),
    "spec.doNotTrack: unsupported"
)]
#[case::pre_dnat(
    calico(true, "  preDNAT: true\n  applyOnForward: true"),
    "spec.preDNAT: unsupported"
)]
#[case::apply_on_forward(
    calico(true, "  applyOnForward: true"),
    "spec.applyOnForward: unsupported"
)]
#[case::namespace_selector_on_namespaced_policy(
    calico(false, "  namespaceSelector: all()"),
    "spec.namespaceSelector: a namespaced NetworkPolicy has no `namespaceSelector`"
)]
#[case::icmp_code_without_type(
    calico(true, "  egress: [{action: Allow, protocol: ICMP, icmp: {code: 0}}]"),
    "spec.egress[0].icmp.code: an ICMP code needs an ICMP type"
)]
#[case::icmp_type_out_of_range(
    calico(true, "  egress: [{action: Allow, protocol: ICMP, icmp: {type: 255}}]"),
    "spec.egress[0].icmp.type: 255 is not an ICMP type (0-254)"
)]
#[case::icmp_without_icmp_protocol(
    calico(true, "  egress: [{action: Allow, protocol: TCP, icmp: {type: 8}}]"),
    "spec.egress[0].icmp: ICMP fields require protocol ICMP or ICMPv6"
)]
#[case::not_icmp_without_protocol(
    calico(true, "  egress: [{action: Allow, notICMP: {type: 8}}]"),
    "spec.egress[0].notICMP: unsupported"
)]
#[case::icmp_with_ipv6(
    calico(true, "  egress: [{action: Allow, protocol: ICMP, ipVersion: 6}]"),
    "spec.egress[0].ipVersion: protocol ICMP requires ipVersion 4"
)]
#[case::bad_ip_version(
    calico(true, "  egress: [{action: Allow, ipVersion: 5}]"),
    "spec.egress[0].ipVersion: 5 is not an IP version"
)]
#[case::catch_all_not_nets(
    calico(
        true,
        "  egress: [{action: Allow, destination: {notNets: [0.0.0.0/0]}}]"
    ),
    "spec.egress[0].destination.notNets[0]: `0.0.0.0/0` in notNets matches everything"
)]
#[case::host_bits(
    calico(true, "  egress: [{action: Allow, destination: {nets: [10.0.0.1/8]}}]"),
    "spec.egress[0].destination.nets[0]: `10.0.0.1/8` has host bits set (did you mean 10.0.0.0/8?)"
)]
#[case::not_a_cidr(
    calico(
        true,
        "  egress: [{action: Allow, destination: {nets: [example.com]}}]"
    ),
    "spec.egress[0].destination.nets[0]: `example.com` is not a CIDR"
)]
#[case::mixed_families(
    calico(
        true,
        "  egress: [{action: Allow, source: {nets: [10.0.0.0/8]}, destination: {nets: ['fd00::/8']}}]"
    ),
    "spec.egress[0].destination.nets: the rule mixes IPv4 and IPv6 CIDRs"
)]
#[case::family_against_ip_version(
    calico(
        true,
        "  egress: [{action: Allow, ipVersion: 6, destination: {nets: [10.0.0.0/8]}}]"
    ),
    "spec.egress[0].destination.nets: 10.0.0.0/8 is IPv4 but the rule has ipVersion 6"
)]
#[case::lowercase_protocol(
    calico(true, "  egress: [{action: Allow, protocol: tcp}]"),
    "spec.egress[0].protocol: unknown protocol `tcp`"
)]
#[case::protocol_zero(
    calico(true, "  egress: [{action: Allow, notProtocol: 0}]"),
    "spec.egress[0].notProtocol: 0 is not a protocol number"
)]
#[case::lowercase_action(
    calico(true, "  egress: [{action: allow}]"),
    "spec.egress[0].action: unknown action `allow`"
)]
#[case::duplicate_type(
    calico(true, "  types: [Ingress, Ingress]"),
    "spec.types[1]: `Ingress` is listed twice"
)]
#[case::unknown_type(
    calico(true, "  types: [Forward]"),
    "spec.types[0]: unknown policy type `Forward`"
)]
#[case::global_in_policy_selector(
    calico(true, "  selector: global()"),
    "spec.selector: global() can only be used in a rule's namespaceSelector"
)]
#[case::global_in_rule_selector(
    calico(true, "  ingress: [{action: Allow, source: {selector: global()}}]"),
    "spec.ingress[0].source.selector: global() can only be used in a rule's namespaceSelector"
)]
#[case::global_combined(
    calico(
        true,
        "  ingress: [{action: Allow, source: {namespaceSelector: global() && a == 'b'}}]"
    ),
    "spec.ingress[0].source.namespaceSelector: global() cannot be combined with other selectors"
)]
#[case::unknown_tier(
    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: nope.p}\nspec: {tier: nope}\n".to_string(),
    "spec.tier: tier `nope` does not exist: declare a projectcalico.org/v3 Tier"
)]
#[case::unsupported_calico_kind(
    "apiVersion: projectcalico.org/v3\nkind: StagedNetworkPolicy\nmetadata: {name: s, namespace: prod}\nspec: {}\n".to_string(),
    "kind: unsupported: projectcalico.org StagedNetworkPolicy is not modelled"
)]
#[case::old_api_version(
    "apiVersion: projectcalico.org/v2\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\nspec: {}\n".to_string(),
    "apiVersion: unsupported: projectcalico.org/v2 GlobalNetworkPolicy"
)]
#[case::tier_default_action(
    "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {defaultAction: Allow}\n".to_string(),
    "spec.defaultAction: unknown default action `Allow`"
)]
#[case::builtin_tier_order(
    "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: default}\nspec: {order: 5}\n".to_string(),
    "spec.order: the built-in tier `default` must have order 1000000"
)]
#[case::policy_name(calico(true, "").replace("name: p", "name: My_Policy"), "metadata.name: `My_Policy` is not a valid policy name")]
#[case::tier_name("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: My.Tier}\nspec: {}\n".to_string(), "metadata.name: `My.Tier` is not a lowercase RFC 1123 label")]
fn refusals(#[case] yaml: String, #[case] expected: &str) {
    let yaml = format!("{}{yaml}", ns("prod", &[]));
    let text = refusal(&yaml);
    // The culprit is always the last document.
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

#[test]
fn explanations_name_tier_policy_order_and_rule() {
    let a = analysis(&format!(
        "{}{}",
        base(),
        calico(
            false,
            "  order: 7\n  selector: app == 'web'\n  ingress:\n  - action: Allow\n    source: {selector: app == 'db'}\n  - action: Deny\n    protocol: TCP\n    destination: {ports: [http]}"
        )
    ));
    let (verdict, text) = ask(&a, "prod/api", "prod/web", "80/TCP");
    assert!(!verdict.allowed);
    assert_eq!(
        text,
        "egress from prod/api: allowed, no policy selects it; ingress to prod/web: denied by Calico NetworkPolicy prod/p (tier default, order 7) rule 2 (spec.ingress[1]: deny TCP to port http)"
    );
    let Decision::Rule { policy, rule } = verdict.ingress.decision else {
        panic!("{:?}", verdict.ingress.decision)
    };
    assert_eq!(
        (a.policies.policies[policy].id.name.as_str(), rule),
        ("p", 1)
    );
    assert!(allowed(&a, "prod/db", "prod/web", "80/TCP"));
}

/// Calico v3.29–v3.31 required `<tier>.<name>` in non-default tiers; v3.32 dropped the rule
/// (projectcalico/calico#11232), so an unprefixed name is accepted and placed by `spec.tier`.
#[test]
fn names_without_the_tier_prefix_are_accepted_in_their_tier() {
    let yaml = "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: sec}\nspec: {order: 10}\n---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: plain}\nspec: {tier: sec, selector: all(), types: [Ingress]}\n---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: sec.prefixed}\nspec: {tier: sec, selector: all(), types: [Ingress]}\n";
    let docs = crate::manifest::parse_str(std::path::Path::new("t.yaml"), yaml).unwrap();
    let set = crate::policy::PolicySet::from_documents(&docs).unwrap();
    let names: Vec<(&str, &str)> = set
        .policies
        .iter()
        .map(|p| (p.id.name.as_str(), p.tier.as_str()))
        .collect();
    assert_eq!(names, [("plain", "sec"), ("sec.prefixed", "sec")]);
}
