//! Calico cases (projectcalico.org/v3, modelled in [`crate::policy::calico`]): order, the
//! Allow/Deny/Pass/Log actions, tiers, `nets`/`notNets`, selector operators, ICMP and named
//! ports, with NetworkPolicy (namespaced) and GlobalNetworkPolicy.

use super::Case;
use crate::capability::Capability;
use crate::model::DEFAULT_POD_CIDR;

/// The tag (and suite) of every Calico case.
pub const TAG: &str = "calico";

/// A Calico rule as YAML lines (without the leading `- `), e.g. `action: Allow`.
pub type CalicoRule = Vec<String>;

/// A projectcalico.org/v3 `kind` (NetworkPolicy in `namespace`, or GlobalNetworkPolicy when
/// `namespace` is `None`) in `tier` (its name is prefixed `<tier>.` outside `default`).
pub fn policy(
    name: &str,
    namespace: Option<&str>,
    tier: &str,
    order: u32,
    selector: &str,
    direction: &str,
    rules: &[CalicoRule],
) -> String {
    let (kind, ns_line) = match namespace {
        Some(ns) => ("NetworkPolicy", format!("  namespace: {ns}\n")),
        None => ("GlobalNetworkPolicy", String::new()),
    };
    let full = if tier == "default" {
        name.to_string()
    } else {
        format!("{tier}.{name}")
    };
    let types = if direction == "ingress" {
        "Ingress"
    } else {
        "Egress"
    };
    let mut out = format!(
        "apiVersion: projectcalico.org/v3\nkind: {kind}\nmetadata:\n  name: {full}\n{ns_line}spec:\n  tier: {tier}\n  order: {order}\n  selector: {}\n  types: [{types}]\n  {direction}:\n",
        quote(selector)
    );
    for rule in rules {
        for (i, line) in rule.iter().enumerate() {
            out.push_str(if i == 0 { "  - " } else { "    " });
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A Tier.
pub fn tier(name: &str, order: u32) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: {name}\nspec:\n  order: {order}\n"
    )
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A rule: action, optional protocol, the peer side (`source` for ingress, `destination` for
/// egress) as YAML flow-mapping fields, and destination ports.
pub fn rule(
    direction: &str,
    action: &str,
    protocol: Option<&str>,
    peer: &[String],
    ports: Option<&str>,
) -> CalicoRule {
    let mut lines = vec![format!("action: {action}")];
    if let Some(p) = protocol {
        lines.push(format!("protocol: {p}"));
        if p == "ICMP" {
            lines.push("icmp: {type: 8}".to_string());
        }
    }
    let (peer_side, port_side) = if direction == "ingress" {
        ("source", "destination")
    } else {
        ("destination", "destination")
    };
    let mut sides: Vec<(&str, Vec<String>)> = Vec::new();
    if !peer.is_empty() {
        sides.push((peer_side, peer.to_vec()));
    }
    if let Some(ports) = ports {
        let port_field = format!("ports: [{ports}]");
        match sides.iter_mut().find(|(s, _)| *s == port_side) {
            Some((_, fields)) => fields.push(port_field),
            None => sides.push((port_side, vec![port_field])),
        }
    }
    for (side, fields) in sides {
        lines.push(format!("{side}: {{{}}}", fields.join(", ")));
    }
    lines
}

/// A peer entity: slug, fields, tags.
struct Entity {
    slug: &'static str,
    fields: Vec<String>,
    tags: &'static [&'static str],
}

fn entities() -> Vec<Entity> {
    let sel = |s: &str| format!("selector: {}", quote(s));
    let nss = |s: &str| format!("namespaceSelector: {}", quote(s));
    vec![
        Entity {
            slug: "pod-eq-b",
            fields: vec![sel("pod == 'b'")],
            tags: &["selector-eq"],
        },
        Entity {
            slug: "pod-ne-b",
            fields: vec![sel("pod != 'b'")],
            tags: &["selector-ne"],
        },
        Entity {
            slug: "pod-in-b-c-any-ns",
            fields: vec![sel("pod in {'b', 'c'}"), nss("all()")],
            tags: &["selector-in", "namespace-selector"],
        },
        Entity {
            slug: "pod-not-in-a-b-ns-y",
            fields: vec![
                sel("pod not in {'a', 'b'}"),
                nss("kubernetes.io/metadata.name == 'y'"),
            ],
            tags: &["selector-not-in", "namespace-selector"],
        },
        Entity {
            slug: "has-pod-ns-z",
            fields: vec![sel("has(pod)"), nss("kubernetes.io/metadata.name == 'z'")],
            tags: &["selector-has", "namespace-selector"],
        },
        Entity {
            slug: "b-or-c-and-not-role",
            fields: vec![sel("(pod == 'b' || pod == 'c') && !has(role)")],
            tags: &["selector-or", "selector-and", "selector-not-has"],
        },
        Entity {
            slug: "nets-pod-cidr",
            fields: vec![format!("nets: [{DEFAULT_POD_CIDR}]")],
            tags: &["nets"],
        },
        Entity {
            slug: "not-nets-pod-cidr",
            fields: vec![format!("notNets: [{DEFAULT_POD_CIDR}]")],
            tags: &["not-nets"],
        },
        Entity {
            slug: "ns-y-starts-with",
            fields: vec![nss("kubernetes.io/metadata.name starts with 'y'")],
            tags: &["selector-starts-with", "namespace-selector"],
        },
    ]
}

/// The systematic Calico cases.
pub fn cases() -> Vec<Case> {
    let mut out = action_cases();
    out.extend(protocol_cases());
    out.extend(order_cases());
    out.extend(tier_cases());
    out
}

/// Each action × peer entity on x/a's ingress and egress. Allow and Pass are followed by a Deny
/// of the rest, Deny and Log by an Allow of the rest, so both outcomes occur.
fn action_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for direction in ["ingress", "egress"] {
        for action in ["Allow", "Deny", "Pass", "Log"] {
            for entity in entities() {
                let name = format!("{direction}-{}-{}", action.to_lowercase(), entity.slug);
                let mut rules = vec![rule(direction, action, None, &entity.fields, None)];
                match action {
                    "Log" => {
                        rules.push(rule(direction, "Deny", None, &entity.fields, None));
                        rules.push(rule(direction, "Allow", None, &[], None));
                    }
                    "Deny" => rules.push(rule(direction, "Allow", None, &[], None)),
                    _ => rules.push(rule(direction, "Deny", None, &[], None)),
                }
                out.push(
                    Case::new(
                        TAG,
                        name.clone(),
                        format!("x/a's {direction}: {action} {} first.", entity.slug),
                    )
                    .tag(&[direction, &action.to_lowercase()])
                    .tag(entity.tags)
                    .require(&[Capability::CalicoCrds])
                    .policy(policy(
                        &name,
                        Some("x"),
                        "default",
                        100,
                        "pod == 'a'",
                        direction,
                        &rules,
                    )),
                );
            }
        }
    }
    out
}

/// A protocol form: slug, protocol, destination ports, tags, requirements.
type ProtocolForm = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [&'static str],
    &'static [Capability],
);

/// Protocols and ports: numbers, names, ranges, SCTP and ICMP, allowed from (or to) namespace y
/// by a GlobalNetworkPolicy on x/a, everything else denied.
fn protocol_cases() -> Vec<Case> {
    let forms: [ProtocolForm; 7] = [
        ("tcp-80", "TCP", Some("80"), &["port-number"], &[]),
        ("udp-81", "UDP", Some("81"), &["port-number", "udp"], &[]),
        (
            "tcp-named-serve-81-tcp",
            "TCP",
            Some("serve-81-tcp"),
            &["named-port"],
            &[Capability::NamedPorts],
        ),
        (
            "udp-named-serve-80-udp",
            "UDP",
            Some("serve-80-udp"),
            &["named-port", "udp"],
            &[Capability::NamedPorts],
        ),
        (
            "udp-range-80-81",
            "UDP",
            Some("\"80:81\""),
            &["port-range", "udp"],
            &[],
        ),
        ("sctp", "SCTP", None, &["protocol-only", "sctp"], &[]),
        ("icmp-echo", "ICMP", None, &["icmp"], &[]),
    ];
    let mut out = Vec::new();
    for direction in ["ingress", "egress"] {
        for (slug, protocol, ports, tags, requires) in forms {
            let name = format!("{direction}-global-{slug}");
            let peer =
                vec!["namespaceSelector: \"kubernetes.io/metadata.name == 'y'\"".to_string()];
            let rules = [
                rule(direction, "Allow", Some(protocol), &peer, ports),
                rule(direction, "Deny", None, &[], None),
            ];
            let mut case = Case::new(
                TAG,
                name.clone(),
                format!("A GlobalNetworkPolicy lets x/a's {direction} through only on {slug} with namespace y."),
            )
            .tag(&[direction, "allow", "global", "protocol"])
            .tag(tags)
            .require(&[Capability::CalicoCrds])
            .require(requires)
            .policy(policy(
                &name,
                None,
                "default",
                100,
                "pod == 'a' && projectcalico.org/namespace == 'x'",
                direction,
                &rules,
            ));
            case.icmp = protocol == "ICMP";
            if case.icmp {
                // A rule matching ICMP only: ping is what it is about.
                case.narration.push_str(" Ping is probed too.");
            }
            out.push(case);
        }
    }
    out
}

/// Two policies in the default tier on x's pods: the lower order decides first.
fn order_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let y = vec!["namespaceSelector: \"kubernetes.io/metadata.name == 'y'\"".to_string()];
    let b = vec![
        "selector: \"pod == 'b'\"".to_string(),
        "namespaceSelector: \"all()\"".to_string(),
    ];
    for direction in ["ingress", "egress"] {
        for (first_slug, first, second) in [("deny", "Deny", "Allow"), ("allow", "Allow", "Deny")] {
            for (peer_slug, peer) in [("y", &y), ("pod-b", &b)] {
                for (o1, o2) in [(10, 20), (20, 10)] {
                    let name = format!("{direction}-order-{first_slug}-{peer_slug}-{o1}-{o2}");
                    let a = policy(
                        &format!("{name}-a"),
                        Some("x"),
                        "default",
                        o1,
                        "pod == 'a'",
                        direction,
                        &[rule(direction, first, None, peer, None)],
                    );
                    let rest = policy(
                        &format!("{name}-b"),
                        Some("x"),
                        "default",
                        o2,
                        "pod == 'a'",
                        direction,
                        &[rule(direction, second, None, &[], None)],
                    );
                    out.push(
                        Case::new(
                            TAG,
                            name,
                            format!("{first} {peer_slug} at order {o1}, {second} everything at order {o2}."),
                        )
                        .tag(&[direction, "order", &first.to_lowercase(), &second.to_lowercase()])
                        .require(&[Capability::CalicoCrds])
                        .policy(a)
                        .policy(rest),
                    );
                }
            }
        }
    }
    out
}

/// A tier `security` (order 100) before `default`: Pass hands over, Deny and Allow are final,
/// and a tier whose policies select the pod but match nothing denies.
fn tier_cases() -> Vec<Case> {
    let y = vec!["namespaceSelector: \"kubernetes.io/metadata.name == 'y'\"".to_string()];
    let c = vec![
        "selector: \"pod == 'c'\"".to_string(),
        "namespaceSelector: \"all()\"".to_string(),
    ];
    let mut out = Vec::new();
    for direction in ["ingress", "egress"] {
        for (slug, action, with_default) in [
            ("pass-y-to-default-allow-c", "Pass", true),
            ("pass-y-end-of-tier", "Pass", false),
            ("deny-y-before-default-allow-c", "Deny", true),
            ("allow-y-before-default-allow-c", "Allow", true),
        ] {
            let name = format!("{direction}-tier-{slug}");
            let mut case = Case::new(
                TAG,
                name.clone(),
                format!("Tier security: {action} namespace y on x/a's {direction}; then the default tier."),
            )
            .tag(&[direction, "tier", &action.to_lowercase()])
            .require(&[Capability::CalicoCrds])
            .policy(tier("security", 100))
            .policy(policy(
                &name,
                None,
                "security",
                10,
                "pod == 'a' && projectcalico.org/namespace == 'x'",
                direction,
                &[rule(direction, action, None, &y, None)],
            ));
            if with_default {
                case = case.policy(policy(
                    &format!("{name}-default"),
                    Some("x"),
                    "default",
                    10,
                    "pod == 'a'",
                    direction,
                    &[rule(direction, "Allow", None, &c, None)],
                ));
            }
            out.push(case);
        }
    }
    out
}
