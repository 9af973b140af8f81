//! ClusterNetworkPolicy cases (policy.networking.k8s.io/v1alpha2, modelled in
//! [`crate::policy::cluster`]): tiers, priorities, Accept/Deny/Pass through to NetworkPolicy and
//! Baseline, `networks` peers, named ports, port ranges, protocols. Priorities of policies that
//! overlap always differ: equal priorities are implementation-defined.

use super::Case;
use super::netpol::{self, Rule};
use super::yaml::{labels, ns};
use crate::capability::Capability;
use crate::model::DEFAULT_POD_CIDR;

/// The tag (and suite) of every ClusterNetworkPolicy case.
pub const TAG: &str = "clusternetworkpolicy";

/// A rule: action, peers (YAML flow mappings), protocols (`None` = all).
pub struct CnpRule {
    /// `Accept`, `Deny` or `Pass`.
    pub action: &'static str,
    /// `from`/`to` entries.
    pub peers: Vec<String>,
    /// `protocols` entries.
    pub protocols: Option<Vec<String>>,
}

/// A ClusterNetworkPolicy as YAML; `subject` is a flow mapping, the rules go to `direction`
/// (`ingress` or `egress`).
pub fn policy(
    name: &str,
    tier: &str,
    priority: u32,
    subject: &str,
    direction: &str,
    rules: &[CnpRule],
) -> String {
    let mut out = format!(
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata:\n  name: {name}\nspec:\n  tier: {tier}\n  priority: {priority}\n  subject: {subject}\n  {direction}:\n"
    );
    let peer_field = if direction == "ingress" { "from" } else { "to" };
    for (i, r) in rules.iter().enumerate() {
        out.push_str(&format!(
            "  - name: {}-{i}\n    action: {}\n    {peer_field}:\n",
            r.action.to_lowercase(),
            r.action
        ));
        for p in &r.peers {
            out.push_str(&format!("    - {p}\n"));
        }
        if let Some(protocols) = &r.protocols {
            out.push_str("    protocols:\n");
            for p in protocols {
                out.push_str(&format!("    - {p}\n"));
            }
        }
    }
    out
}

/// The subject x/a.
pub fn subject_xa() -> String {
    format!(
        "{{pods: {{namespaceSelector: {}, podSelector: {}}}}}",
        ns("x"),
        labels("pod", "a")
    )
}

/// Every pod of every namespace, as a peer.
pub fn everyone() -> String {
    "{namespaces: {}}".to_string()
}

struct Peer {
    slug: &'static str,
    yaml: String,
    tags: &'static [&'static str],
    egress_only: bool,
}

fn peers() -> Vec<Peer> {
    vec![
        Peer {
            slug: "ns-y",
            yaml: format!("{{namespaces: {}}}", ns("y")),
            tags: &["peer-namespaces"],
            egress_only: false,
        },
        Peer {
            slug: "pod-b-anywhere",
            yaml: format!(
                "{{pods: {{namespaceSelector: {{}}, podSelector: {}}}}}",
                labels("pod", "b")
            ),
            tags: &["peer-pods"],
            egress_only: false,
        },
        Peer {
            slug: "x-b",
            yaml: format!(
                "{{pods: {{namespaceSelector: {}, podSelector: {}}}}}",
                ns("x"),
                labels("pod", "b")
            ),
            tags: &["peer-pods-and-namespaces"],
            egress_only: false,
        },
        Peer {
            slug: "networks-pod-cidr",
            yaml: format!("{{networks: [{DEFAULT_POD_CIDR}]}}"),
            tags: &["networks"],
            egress_only: true,
        },
    ]
}

struct Protocols {
    slug: &'static str,
    yaml: Option<Vec<&'static str>>,
    tags: &'static [&'static str],
    requires: &'static [Capability],
}

fn protocols() -> Vec<Protocols> {
    vec![
        Protocols {
            slug: "all",
            yaml: None,
            tags: &["port-any"],
            requires: &[],
        },
        Protocols {
            slug: "tcp-80",
            yaml: Some(vec!["{tcp: {destinationPort: {number: 80}}}"]),
            tags: &["port-number"],
            requires: &[],
        },
        Protocols {
            slug: "udp-range-81-90",
            yaml: Some(vec![
                "{udp: {destinationPort: {range: {start: 81, end: 90}}}}",
            ]),
            tags: &["port-range", "udp"],
            requires: &[],
        },
        Protocols {
            slug: "named-serve-81-tcp",
            yaml: Some(vec!["{destinationNamedPort: serve-81-tcp}"]),
            tags: &["named-port"],
            requires: &[Capability::NamedPorts],
        },
        Protocols {
            slug: "sctp-and-udp-80",
            yaml: Some(vec![
                "{sctp: {destinationPort: {number: 81}}}",
                "{udp: {destinationPort: {number: 80}}}",
            ]),
            tags: &["protocols", "sctp", "udp"],
            requires: &[],
        },
    ]
}

/// The systematic ClusterNetworkPolicy cases.
pub fn cases() -> Vec<Case> {
    let mut out = rule_cases();
    out.extend(priority_cases());
    out.extend(netpol_cases());
    out
}

/// Tier × action × peer × protocols, on x/a's ingress and egress. An Accept or Pass rule is
/// followed by a Deny of everyone, so something is blocked.
fn rule_cases() -> Vec<Case> {
    let forms: [(&str, &str, bool); 5] = [
        ("Admin", "Accept", true),
        ("Admin", "Pass", true),
        ("Admin", "Deny", false),
        ("Baseline", "Accept", true),
        ("Baseline", "Deny", false),
    ];
    let mut out = Vec::new();
    for direction in ["ingress", "egress"] {
        for (tier, action, deny_rest) in forms {
            for peer in peers() {
                if peer.egress_only && direction == "ingress" {
                    continue;
                }
                for protos in protocols() {
                    if peer.egress_only && protos.slug.starts_with("named") {
                        // Refused by the API: named ports with `networks` peers.
                        continue;
                    }
                    let name = format!(
                        "{direction}-{}-{}-{}-{}",
                        tier.to_lowercase(),
                        action.to_lowercase(),
                        peer.slug,
                        protos.slug
                    );
                    let mut rules = vec![CnpRule {
                        action,
                        peers: vec![peer.yaml.clone()],
                        protocols: protos
                            .yaml
                            .as_ref()
                            .map(|p| p.iter().map(|s| s.to_string()).collect()),
                    }];
                    if deny_rest {
                        rules.push(CnpRule {
                            action: "Deny",
                            peers: vec![everyone()],
                            protocols: None,
                        });
                    }
                    let yaml = policy(&name, tier, 10, &subject_xa(), direction, &rules);
                    out.push(
                        Case::new(
                            TAG,
                            name,
                            format!(
                                "{tier} tier: x/a's {direction} {action}s {} on {}{}.",
                                peer.slug,
                                protos.slug,
                                if deny_rest {
                                    ", then denies everyone"
                                } else {
                                    ""
                                }
                            ),
                        )
                        .tag(&[
                            direction,
                            &format!("tier-{}", tier.to_lowercase()),
                            &action.to_lowercase(),
                        ])
                        .tag(peer.tags)
                        .tag(protos.tags)
                        .require(&[Capability::ClusterNetworkPolicy])
                        .require(protos.requires)
                        .policy(yaml),
                    );
                }
            }
        }
    }
    out
}

/// Two policies on x/a in one tier (or one in each tier) whose priorities decide.
fn priority_cases() -> Vec<Case> {
    let y = || format!("{{namespaces: {}}}", ns("y"));
    let b = || {
        format!(
            "{{pods: {{namespaceSelector: {{}}, podSelector: {}}}}}",
            labels("pod", "b")
        )
    };
    let combos: [(&str, &str, &str, &str); 4] = [
        ("accept-deny-all", "Accept", "Deny", "Admin"),
        ("pass-deny-all", "Pass", "Deny", "Admin"),
        ("deny-accept-all", "Deny", "Accept", "Admin"),
        ("deny-baseline-accept-all", "Deny", "Accept", "Baseline"),
    ];
    let mut out = Vec::new();
    for direction in ["ingress", "egress"] {
        for (slug, first, second, second_tier) in combos {
            for (peer_slug, peer) in [("y", y()), ("pod-b", b())] {
                for (p1, p2) in [(10, 20), (20, 10)] {
                    let name = format!("{direction}-priority-{slug}-{peer_slug}-{p1}-{p2}");
                    let a = policy(
                        &format!("{name}-a"),
                        "Admin",
                        p1,
                        &subject_xa(),
                        direction,
                        &[CnpRule {
                            action: first,
                            peers: vec![peer.clone()],
                            protocols: None,
                        }],
                    );
                    let b = policy(
                        &format!("{name}-b"),
                        second_tier,
                        p2,
                        &subject_xa(),
                        direction,
                        &[CnpRule {
                            action: second,
                            peers: vec![everyone()],
                            protocols: None,
                        }],
                    );
                    out.push(
                        Case::new(
                            TAG,
                            name,
                            format!(
                                "Admin {first} {peer_slug} at priority {p1}, {second_tier} {second} everyone at {p2}."
                            ),
                        )
                        .tag(&[direction, "priority", "tier-admin", &first.to_lowercase()])
                        .tag(&[&format!("tier-{}", second_tier.to_lowercase())])
                        .require(&[Capability::ClusterNetworkPolicy])
                        .policy(a)
                        .policy(b),
                    );
                }
            }
        }
    }
    out
}

/// Pass and Baseline against NetworkPolicy: Admin Pass hands the decision to NetworkPolicy, and
/// Baseline decides only for pods no NetworkPolicy selects.
fn netpol_cases() -> Vec<Case> {
    let from_c = netpol::policy(
        "xa-only-from-pod-c",
        "x",
        &labels("pod", "a"),
        Some(&["Ingress"]),
        Some(&[Rule {
            peers: Some(vec![format!(
                "{{namespaceSelector: {{}}, podSelector: {}}}",
                labels("pod", "c")
            )]),
            ports: None,
        }]),
        None,
    );
    let isolate_xb = netpol::policy(
        "xb-isolated",
        "x",
        &labels("pod", "b"),
        Some(&["Ingress"]),
        None,
        None,
    );
    let cnps: [(&str, &str, &str, Vec<String>); 4] = [
        (
            "admin-pass-y",
            "Admin",
            "Pass",
            vec![format!("{{namespaces: {}}}", ns("y"))],
        ),
        ("admin-pass-all", "Admin", "Pass", vec![everyone()]),
        ("baseline-deny-all", "Baseline", "Deny", vec![everyone()]),
        (
            "baseline-accept-y",
            "Baseline",
            "Accept",
            vec![format!("{{namespaces: {}}}", ns("y"))],
        ),
    ];
    let nps: [(&str, Option<&String>); 3] = [
        ("no-np", None),
        ("np-xa-from-c", Some(&from_c)),
        ("np-isolates-xb", Some(&isolate_xb)),
    ];
    let mut out = Vec::new();
    for (slug, tier, action, peers) in &cnps {
        for subject in ["x-a", "ns-x"] {
            for (np_slug, np) in nps {
                let name = format!("{slug}-{subject}-{np_slug}");
                let subject_yaml = if subject == "x-a" {
                    subject_xa()
                } else {
                    format!("{{namespaces: {}}}", ns("x"))
                };
                let mut rules = vec![CnpRule {
                    action,
                    peers: peers.clone(),
                    protocols: None,
                }];
                if *action == "Pass" && *slug == "admin-pass-y" {
                    rules.push(CnpRule {
                        action: "Deny",
                        peers: vec![everyone()],
                        protocols: None,
                    });
                }
                let mut case = Case::new(
                    TAG,
                    name.clone(),
                    format!("{tier} {action} on {subject}'s ingress, with {np_slug}."),
                )
                .tag(&[
                    "ingress",
                    &format!("tier-{}", tier.to_lowercase()),
                    &action.to_lowercase(),
                    "with-networkpolicy",
                ])
                .require(&[Capability::ClusterNetworkPolicy])
                .policy(policy(&name, tier, 10, &subject_yaml, "ingress", &rules));
                if subject == "ns-x" {
                    case = case.tag(&["subject-namespaces"]);
                }
                if let Some(np) = np {
                    case = case.policy(np.clone());
                }
                out.push(case);
            }
        }
    }
    out
}
