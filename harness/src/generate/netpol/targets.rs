//! Single-policy cases: every peer × ports form, and targets × policyTypes × rule forms.

use super::{Rule, TAG, peers, policy, ports};
use crate::generate::Case;
use crate::generate::yaml::{expr, labels};

/// Every peer × every ports form, on x/a's ingress, on its egress, and (for four port forms)
/// both at once.
pub(super) fn peer_port_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let target = labels("pod", "a");
    for (dir, types) in [
        ("ingress", &["Ingress"][..]),
        ("egress", &["Egress"][..]),
        ("both", &["Ingress", "Egress"][..]),
    ] {
        for peer in peers() {
            for ports in ports() {
                if dir == "both"
                    && !matches!(
                        ports.slug,
                        "any-port" | "tcp-80" | "named-serve-81-tcp" | "protocol-udp"
                    )
                {
                    continue;
                }
                let rule = Rule {
                    peers: Some(peer.yaml.clone()),
                    ports: ports
                        .yaml
                        .as_ref()
                        .map(|p| p.iter().map(|s| s.to_string()).collect()),
                };
                let rules = [rule];
                let (ingress, egress) = match dir {
                    "ingress" => (Some(&rules[..]), None),
                    "egress" => (None, Some(&rules[..])),
                    _ => (Some(&rules[..]), Some(&rules[..])),
                };
                let name = format!("{dir}-{}-{}", peer.slug, ports.slug);
                let yaml = policy(&name, "x", &target, Some(types), ingress, egress);
                let mut case = Case::new(
                    TAG,
                    name,
                    format!(
                        "x/a allows {dir} only with peer {} on {}.",
                        peer.slug, ports.slug
                    ),
                )
                .tag(peer.tags)
                .tag(ports.tags)
                .tag(&["target-pod"])
                .require(peer.requires)
                .require(ports.requires)
                .policy(yaml);
                for d in types {
                    case = case.tag(&[&d.to_lowercase()]);
                }
                out.push(case);
            }
        }
    }
    out
}

/// A rule form: slug, policyTypes, ingress rules, egress rules, tags.
type Form = (
    &'static str,
    Option<&'static [&'static str]>,
    Option<Vec<Rule>>,
    Option<Vec<Rule>>,
    &'static [&'static str],
);

/// Targets × policyTypes and the empty/absent rule forms.
pub(super) fn target_form_cases() -> Vec<Case> {
    let targets: [(&str, &str, String, &[&str]); 5] = [
        ("x", "all-of-x", "{}".to_string(), &["empty-selector"]),
        ("x", "x-a", labels("pod", "a"), &[]),
        (
            "y",
            "y-pod-in-a-b",
            expr("pod", "In", &["a", "b"]),
            &["match-expressions"],
        ),
        (
            "z",
            "z-pod-not-in-a",
            expr("pod", "NotIn", &["a"]),
            &["match-expressions"],
        ),
        (
            "y",
            "y-pod-exists",
            expr("pod", "Exists", &[]),
            &["match-expressions"],
        ),
    ];
    let any = || Rule::default();
    let port = |p: &str| Rule {
        peers: None,
        ports: Some(vec![p.to_string()]),
    };
    let forms: Vec<Form> = vec![
        (
            "deny-ingress",
            Some(&["Ingress"]),
            None,
            None,
            &["ingress", "deny-all"],
        ),
        (
            "deny-egress",
            Some(&["Egress"]),
            None,
            None,
            &["egress", "deny-all"],
        ),
        (
            "deny-both",
            Some(&["Ingress", "Egress"]),
            None,
            None,
            &["ingress", "egress", "deny-all"],
        ),
        (
            "absent-types-empty-ingress",
            None,
            Some(vec![]),
            None,
            &["ingress", "absent-policy-types", "empty-rules"],
        ),
        (
            "absent-types-egress-port-80",
            None,
            None,
            Some(vec![port("{port: 80}")]),
            &["ingress", "egress", "absent-policy-types", "port-number"],
        ),
        (
            "allow-all-ingress-deny-egress",
            Some(&["Ingress", "Egress"]),
            Some(vec![any()]),
            None,
            &["ingress", "egress", "allow-all", "empty-rule"],
        ),
        (
            "egress-udp-only",
            Some(&["Egress"]),
            None,
            Some(vec![port("{protocol: UDP}")]),
            &["egress", "protocol-only", "udp"],
        ),
        (
            "ingress-empty-from-port-81",
            Some(&["Ingress"]),
            Some(vec![Rule {
                peers: Some(vec![]),
                ports: Some(vec!["{port: 81}".into()]),
            }]),
            None,
            &["ingress", "empty-peers", "port-number"],
        ),
    ];
    let mut out = Vec::new();
    for (ns_name, tslug, selector, ttags) in &targets {
        for (fslug, types, ingress, egress, ftags) in &forms {
            let name = format!("target-{tslug}-{fslug}");
            let yaml = policy(
                &name,
                ns_name,
                selector,
                *types,
                ingress.as_deref(),
                egress.as_deref(),
            );
            out.push(
                Case::new(
                    TAG,
                    name,
                    format!("{fslug} for the pods {selector} of {ns_name}."),
                )
                .tag(&["target", "policy-types"])
                .tag(ttags)
                .tag(ftags)
                .policy(yaml),
            );
        }
    }
    out
}
