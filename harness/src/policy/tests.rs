//! Conversion of Kubernetes NetworkPolicy into the rule model.

use std::path::Path;

use rstest::rstest;

use super::test_support::{ns, refusal};
use super::*;
use crate::manifest::parse_str;

fn convert(spec: &str) -> Result<Policy, String> {
    let yaml = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: x}}\nspec:\n{spec}"
    );
    let docs = parse_str(Path::new("p.yaml"), &yaml).map_err(|e| e.to_string())?;
    let set = PolicySet::from_documents(&docs).map_err(|e| e.to_string())?;
    Ok(set.policies.into_iter().next().expect("one policy"))
}

#[rstest]
#[case::no_types_no_rules("  podSelector: {}\n", true, false)]
#[case::egress_rules_imply_egress("  podSelector: {}\n  egress: [{}]\n", true, true)]
#[case::explicit_egress_only(
    "  podSelector: {}\n  policyTypes: [Egress]\n  ingress: [{}]\n",
    false,
    true
)]
#[case::explicit_both_without_rules(
    "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n",
    true,
    true
)]
fn policy_types_default_like_the_api_server(
    #[case] spec: &str,
    #[case] ingress: bool,
    #[case] egress: bool,
) {
    let p = convert(spec).unwrap();
    assert_eq!(p.ingress.is_some(), ingress);
    assert_eq!(p.egress.is_some(), egress);
    assert_eq!(p.tier, DEFAULT_TIER);
    assert_eq!(p.order, Some(1000.0));
}

#[test]
fn one_allow_rule_per_peer_and_protocol() {
    let p = convert(
        "  podSelector: {}\n  ingress:\n  - from: [{podSelector: {matchLabels: {a: b}}}, {ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]\n    ports: [{port: 80}, {port: 53, protocol: UDP}, {port: 8080, endPort: 8090}]\n",
    )
    .unwrap();
    let rules = p.ingress.unwrap();
    assert_eq!(rules.len(), 4, "2 peers × 2 protocols");
    assert!(rules.iter().all(|r| r.action == RuleAction::Allow));
    assert_eq!(
        rules[0].protocol,
        Some(ProtocolMatch::Known(crate::model::Protocol::Tcp))
    );
    assert_eq!(
        rules[0].destination.ports,
        vec![PortSpec::Range(80, 80), PortSpec::Range(8080, 8090)]
    );
    assert_eq!(
        rules[1].protocol,
        Some(ProtocolMatch::Known(crate::model::Protocol::Udp))
    );
    assert_eq!(rules[2].source.nets[0].to_string(), "10.0.0.0/8");
    assert_eq!(rules[2].source.not_nets[0].to_string(), "10.1.0.0/16");
    assert_eq!(rules[0].origin, "spec.ingress[0].from[0]");
}

#[test]
fn a_protocol_only_entry_opens_every_port_of_that_protocol() {
    let p = convert("  podSelector: {}\n  ingress:\n  - ports: [{port: 80}, {protocol: TCP}]\n")
        .unwrap();
    let rules = p.ingress.unwrap();
    assert_eq!(rules.len(), 1);
    assert!(rules[0].destination.ports.is_empty());
}

#[rstest]
#[case::bad_policy_type(
    "  podSelector: {}\n  policyTypes: [ingress]\n",
    "spec.policyTypes[0]: unknown policy type `ingress`"
)]
#[case::end_port_below_port(
    "  podSelector: {}\n  ingress: [{ports: [{port: 90, endPort: 80}]}]\n",
    "spec.ingress[0].ports[0].endPort: 80 is less than port 90"
)]
#[case::end_port_with_name(
    "  podSelector: {}\n  ingress: [{ports: [{port: http, endPort: 80}]}]\n",
    "endPort cannot be used with a named port"
)]
#[case::bad_cidr(
    "  podSelector: {}\n  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/33}}]}]\n",
    "spec.egress[0].to[0].ipBlock.cidr: `10.0.0.0/33` is not a CIDR"
)]
#[case::except_outside(
    "  podSelector: {}\n  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/16, except: [192.168.0.0/24]}}]}]\n",
    "must be strictly inside"
)]
#[case::empty_peer(
    "  podSelector: {}\n  ingress: [{from: [{}]}]\n",
    "spec.ingress[0].from[0]: a peer needs podSelector"
)]
#[case::bad_operator(
    "  podSelector: {matchExpressions: [{key: a, operator: Equals, values: [b]}]}\n",
    "spec.podSelector.matchExpressions[0].operator"
)]
#[case::unknown_field(
    "  podSelector: {}\n  ingress: [{from: [], prots: []}]\n",
    "spec.ingress[0].prots: unsupported"
)]
fn invalid_policies_name_the_field(#[case] spec: &str, #[case] want: &str) {
    let err = convert(spec).unwrap_err();
    assert!(err.starts_with("p.yaml: document 1"), "{err}");
    assert!(err.contains(want), "{err}\nshould contain {want}");
}

#[test]
fn duplicate_policies_and_unknown_tiers_are_refused() {
    let yaml = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {}}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: default}\nspec: {podSelector: {}}\n";
    let docs = parse_str(Path::new("d.yaml"), yaml).unwrap();
    let err = PolicySet::from_documents(&docs).unwrap_err().to_string();
    assert!(
        err.contains("document 2") && err.contains("declared twice"),
        "{err}"
    );
    let docs = parse_str(
        Path::new("c.yaml"),
        "apiVersion: crd.projectcalico.org/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n",
    )
    .unwrap();
    let err = PolicySet::from_documents(&docs).unwrap_err().to_string();
    assert!(
        err.contains("unsupported") && err.contains("projectcalico.org/v3"),
        "{err}"
    );
}

#[test]
fn kubernetes_label_selector_errors_name_the_field_once() {
    let text = refusal(&format!(
        "{}apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: prod}}\nspec:\n  podSelector: {{matchLabels: {{app: 'bad value'}}}}\n",
        ns("prod", &[])
    ));
    assert_eq!(
        text,
        "t.yaml: document 2 (line 6): spec.podSelector.matchLabels.app: invalid label value `bad value`: must consist of alphanumerics, `-`, `_` or `.`, and start and end with an alphanumeric"
    );
}

/// Calico resolves a named port against every container port of the pod, init containers'
/// included (`appendEndpointPorts` over `Spec.InitContainers`), e.g. a native sidecar's.
#[test]
fn named_ports_of_init_containers_resolve() {
    use super::test_support::{allowed, analysis};
    let a = analysis(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: x}
spec: {containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: x, labels: {app: web}}
spec:
  initContainers:
  - {name: proxy, image: i, restartPolicy: Always, ports: [{name: proxy, containerPort: 15001}]}
  containers: [{name: c, image: i, ports: [{name: http, containerPort: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{ports: [{port: proxy}]}]
"#,
    );
    assert!(allowed(&a, "x/client", "x/web", "15001/TCP"));
    assert!(!allowed(&a, "x/client", "x/web", "80/TCP"));
}

#[test]
fn a_namespaced_subject_requires_its_namespace_and_nothing_else_does() {
    use super::labels::required_namespace;
    let subject = convert("  podSelector: {matchLabels: {app: web}}\n")
        .unwrap()
        .subject;
    assert_eq!(required_namespace(&subject), Some("x"));
    let either = Selector::Or(vec![labels::in_namespace("a"), labels::in_namespace("b")]);
    assert_eq!(required_namespace(&either), None);
    let not = Selector::Not(Box::new(labels::in_namespace("a")));
    assert_eq!(required_namespace(&not), None);
    let other_key = Selector::Equals("app".into(), "x".into());
    assert_eq!(required_namespace(&other_key), None);
}
