//! Kubernetes NetworkPolicy cases: targets, policyTypes and the empty/absent rule forms,
//! pod/namespace/both peers, matchExpressions, ipBlock with except (on the pod CIDR), ports by
//! number, name and range, protocol-only, policies that combine, and labels changed while the
//! policies are in force.

use super::yaml::{expr, labels, ns};
use super::{Case, LabelChange};
use crate::capability::Capability;
use crate::model::DEFAULT_POD_CIDR;

/// The tag (and suite) of every NetworkPolicy case.
pub const TAG: &str = "networkpolicy";

/// One rule: its peers (`from`/`to`; `None` = absent) and ports (`None` = absent).
#[derive(Debug, Clone, Default)]
pub struct Rule {
    /// Peer entries as YAML flow mappings.
    pub peers: Option<Vec<String>>,
    /// Port entries as YAML flow mappings.
    pub ports: Option<Vec<String>>,
}

/// A NetworkPolicy as YAML. `types` `None` leaves `policyTypes` out; `ingress`/`egress` `None`
/// leave the field out, `Some(vec![])` writes an empty list.
pub fn policy(
    name: &str,
    namespace: &str,
    pod_selector: &str,
    types: Option<&[&str]>,
    ingress: Option<&[Rule]>,
    egress: Option<&[Rule]>,
) -> String {
    let mut out = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  podSelector: {pod_selector}\n"
    );
    if let Some(types) = types {
        out.push_str(&format!("  policyTypes: [{}]\n", types.join(", ")));
    }
    for (field, peer_field, rules) in [("ingress", "from", ingress), ("egress", "to", egress)] {
        let Some(rules) = rules else { continue };
        if rules.is_empty() {
            out.push_str(&format!("  {field}: []\n"));
            continue;
        }
        out.push_str(&format!("  {field}:\n"));
        for rule in rules {
            let mut first = true;
            let mut lead = || {
                if std::mem::take(&mut first) {
                    "  - "
                } else {
                    "    "
                }
            };
            match (&rule.peers, &rule.ports) {
                (None, None) => out.push_str("  - {}\n"),
                (peers, ports) => {
                    for (key, list) in [(peer_field, peers), ("ports", ports)] {
                        let Some(list) = list else { continue };
                        if list.is_empty() {
                            out.push_str(&format!("{}{key}: []\n", lead()));
                        } else {
                            out.push_str(&format!("{}{key}:\n", lead()));
                            for item in list {
                                out.push_str(&format!("    - {item}\n"));
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// A peer form: slug, `from`/`to` entries, tags, requirements.
pub(super) struct Peer {
    pub(super) slug: &'static str,
    pub(super) yaml: Vec<String>,
    pub(super) tags: &'static [&'static str],
    pub(super) requires: &'static [Capability],
}

pub(super) fn peers() -> Vec<Peer> {
    let pod = |p: &str| labels("pod", p);
    let cidr = DEFAULT_POD_CIDR;
    vec![
        Peer {
            slug: "pod-b",
            yaml: vec![format!("{{podSelector: {}}}", pod("b"))],
            tags: &["peer-pods"],
            requires: &[],
        },
        Peer {
            slug: "all-pods-in-ns",
            yaml: vec!["{podSelector: {}}".into()],
            tags: &["peer-pods", "empty-selector"],
            requires: &[],
        },
        Peer {
            slug: "ns-y",
            yaml: vec![format!("{{namespaceSelector: {}}}", ns("y"))],
            tags: &["peer-namespaces"],
            requires: &[],
        },
        Peer {
            slug: "ns-y-and-pod-b",
            yaml: vec![format!(
                "{{namespaceSelector: {}, podSelector: {}}}",
                ns("y"),
                pod("b")
            )],
            tags: &["peer-pods-and-namespaces"],
            requires: &[],
        },
        Peer {
            slug: "pod-b-or-ns-z",
            yaml: vec![
                format!("{{podSelector: {}}}", pod("b")),
                format!("{{namespaceSelector: {}}}", ns("z")),
            ],
            tags: &["peer-pods", "peer-namespaces", "multiple-peers"],
            requires: &[],
        },
        Peer {
            slug: "pod-in-b-c",
            yaml: vec![format!(
                "{{podSelector: {}}}",
                expr("pod", "In", &["b", "c"])
            )],
            tags: &["peer-pods", "match-expressions"],
            requires: &[],
        },
        Peer {
            slug: "ns-not-in-x",
            yaml: vec![format!(
                "{{namespaceSelector: {}}}",
                expr("kubernetes.io/metadata.name", "NotIn", &["x"])
            )],
            tags: &["peer-namespaces", "match-expressions"],
            requires: &[],
        },
        Peer {
            slug: "any-ns-pod-not-in-a",
            yaml: vec![format!(
                "{{namespaceSelector: {{}}, podSelector: {}}}",
                expr("pod", "NotIn", &["a"])
            )],
            tags: &[
                "peer-pods-and-namespaces",
                "match-expressions",
                "empty-selector",
            ],
            requires: &[],
        },
        Peer {
            slug: "ipblock-pod-cidr",
            yaml: vec![format!("{{ipBlock: {{cidr: {cidr}}}}}")],
            tags: &["ipblock"],
            requires: &[Capability::IpblockPodIp],
        },
        Peer {
            slug: "ipblock-except-pod-cidr",
            yaml: vec![format!(
                "{{ipBlock: {{cidr: 0.0.0.0/0, except: [{cidr}]}}}}"
            )],
            tags: &["ipblock", "ipblock-except"],
            requires: &[Capability::IpblockPodIp],
        },
    ]
}

/// A ports form: slug, `ports` entries (absent when `None`), tags, requirements.
pub(super) struct Ports {
    pub(super) slug: &'static str,
    pub(super) yaml: Option<Vec<&'static str>>,
    pub(super) tags: &'static [&'static str],
    pub(super) requires: &'static [Capability],
}

pub(super) fn ports() -> Vec<Ports> {
    vec![
        Ports {
            slug: "any-port",
            yaml: None,
            tags: &["port-any"],
            requires: &[],
        },
        Ports {
            slug: "tcp-80",
            yaml: Some(vec!["{port: 80}"]),
            tags: &["port-number", "default-protocol"],
            requires: &[],
        },
        Ports {
            slug: "udp-81",
            yaml: Some(vec!["{protocol: UDP, port: 81}"]),
            tags: &["port-number", "udp"],
            requires: &[],
        },
        Ports {
            slug: "sctp-80",
            yaml: Some(vec!["{protocol: SCTP, port: 80}"]),
            tags: &["port-number", "sctp"],
            requires: &[],
        },
        Ports {
            slug: "named-serve-81-tcp",
            yaml: Some(vec!["{port: serve-81-tcp}"]),
            tags: &["named-port"],
            requires: &[Capability::NamedPorts],
        },
        Ports {
            slug: "named-serve-80-udp",
            yaml: Some(vec!["{protocol: UDP, port: serve-80-udp}"]),
            tags: &["named-port", "udp"],
            requires: &[Capability::NamedPorts],
        },
        Ports {
            slug: "range-udp-81-90",
            yaml: Some(vec!["{protocol: UDP, port: 81, endPort: 90}"]),
            tags: &["port-range", "udp"],
            requires: &[Capability::EndPort],
        },
        Ports {
            slug: "range-tcp-70-80",
            yaml: Some(vec!["{protocol: TCP, port: 70, endPort: 80}"]),
            tags: &["port-range"],
            requires: &[Capability::EndPort],
        },
        Ports {
            slug: "protocol-udp",
            yaml: Some(vec!["{protocol: UDP}"]),
            tags: &["protocol-only", "udp"],
            requires: &[],
        },
        Ports {
            slug: "protocol-sctp",
            yaml: Some(vec!["{protocol: SCTP}"]),
            tags: &["protocol-only", "sctp"],
            requires: &[],
        },
        Ports {
            slug: "tcp-81-and-udp-80",
            yaml: Some(vec!["{port: 81}", "{protocol: UDP, port: 80}"]),
            tags: &["port-number", "multiple-ports", "udp"],
            requires: &[],
        },
    ]
}

/// The systematic NetworkPolicy cases.
pub fn cases() -> Vec<Case> {
    let mut out = peer_port_cases();
    out.extend(target_form_cases());
    out.extend(combine_cases());
    out.extend(label_cases());
    out
}

/// Every peer × every ports form, on x/a's ingress, on its egress, and (for four port forms)
/// both at once.
fn peer_port_cases() -> Vec<Case> {
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
fn target_form_cases() -> Vec<Case> {
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

/// Small policies that pairs of are applied together.
fn pieces() -> Vec<(
    &'static str,
    String,
    &'static [&'static str],
    &'static [Capability],
)> {
    let pod = |p: &str| labels("pod", p);
    let rule = |peers: Option<Vec<String>>, ports: Option<Vec<&str>>| Rule {
        peers,
        ports: ports.map(|p| p.into_iter().map(String::from).collect()),
    };
    vec![
        (
            "x-deny-ingress",
            policy("x-deny-ingress", "x", "{}", Some(&["Ingress"]), None, None),
            &["ingress", "deny-all"][..],
            &[][..],
        ),
        (
            "xa-from-pod-b-any-ns",
            policy(
                "xa-from-pod-b-any-ns",
                "x",
                &pod("a"),
                Some(&["Ingress"]),
                Some(&[rule(
                    Some(vec![format!(
                        "{{namespaceSelector: {{}}, podSelector: {}}}",
                        pod("b")
                    )]),
                    None,
                )]),
                None,
            ),
            &["ingress", "peer-pods-and-namespaces"],
            &[],
        ),
        (
            "xa-port-81",
            policy(
                "xa-port-81",
                "x",
                &pod("a"),
                Some(&["Ingress"]),
                Some(&[rule(None, Some(vec!["{port: 81}"]))]),
                None,
            ),
            &["ingress", "port-number"],
            &[],
        ),
        (
            "y-deny-egress",
            policy("y-deny-egress", "y", "{}", Some(&["Egress"]), None, None),
            &["egress", "deny-all"],
            &[],
        ),
        (
            "yb-egress-to-x",
            policy(
                "yb-egress-to-x",
                "y",
                &pod("b"),
                Some(&["Egress"]),
                None,
                Some(&[rule(
                    Some(vec![format!("{{namespaceSelector: {}}}", ns("x"))]),
                    None,
                )]),
            ),
            &["egress", "peer-namespaces"],
            &[],
        ),
        (
            "zc-udp-only",
            policy(
                "zc-udp-only",
                "z",
                &pod("c"),
                Some(&["Ingress"]),
                Some(&[rule(None, Some(vec!["{protocol: UDP}"]))]),
                None,
            ),
            &["ingress", "protocol-only", "udp"],
            &[],
        ),
        (
            "xa-egress-to-pod-c",
            policy(
                "xa-egress-to-pod-c",
                "x",
                &pod("a"),
                Some(&["Egress"]),
                None,
                Some(&[rule(
                    Some(vec![format!(
                        "{{namespaceSelector: {{}}, podSelector: {}}}",
                        pod("c")
                    )]),
                    None,
                )]),
            ),
            &["egress", "peer-pods-and-namespaces"],
            &[],
        ),
        (
            "x-from-y-named-80",
            policy(
                "x-from-y-named-80",
                "x",
                "{}",
                Some(&["Ingress"]),
                Some(&[rule(
                    Some(vec![format!("{{namespaceSelector: {}}}", ns("y"))]),
                    Some(vec!["{port: serve-80-tcp}"]),
                )]),
                None,
            ),
            &["ingress", "named-port", "peer-namespaces"],
            &[Capability::NamedPorts],
        ),
    ]
}

/// Every pair of [`pieces`], applied together.
fn combine_cases() -> Vec<Case> {
    let pieces = pieces();
    let mut out = Vec::new();
    for (i, a) in pieces.iter().enumerate() {
        for b in &pieces[i + 1..] {
            out.push(
                Case::new(
                    TAG,
                    format!("combine-{}-with-{}", a.0, b.0),
                    format!("{} and {} together.", a.0, b.0),
                )
                .tag(&["combine"])
                .tag(a.2)
                .tag(b.2)
                .require(a.3)
                .require(b.3)
                .policy(a.1.clone())
                .policy(b.1.clone()),
            );
        }
    }
    out
}

/// Policies whose selection changes when a label is set while they are in force.
fn label_cases() -> Vec<Case> {
    let pod = |p: &str| labels("pod", p);
    let rule = |peers: Vec<String>| Rule {
        peers: Some(peers),
        ports: None,
    };
    let change = |target: &str, key: &str, value: &str| LabelChange {
        target: target.into(),
        key: key.into(),
        value: value.into(),
    };
    let specs: Vec<(&str, String, LabelChange, &[&str])> = vec![
        (
            "pod-label-joins-peer",
            policy(
                "from-role-client",
                "x",
                &pod("a"),
                Some(&["Ingress"]),
                Some(&[rule(vec![format!(
                    "{{namespaceSelector: {{}}, podSelector: {}}}",
                    labels("role", "client")
                )])]),
                None,
            ),
            change("y/b", "role", "client"),
            &["ingress", "pod-label-change"],
        ),
        (
            "ns-label-joins-peer",
            policy(
                "from-team-blue",
                "x",
                &pod("a"),
                Some(&["Ingress"]),
                Some(&[rule(vec![format!(
                    "{{namespaceSelector: {}}}",
                    labels("team", "blue")
                )])]),
                None,
            ),
            change("z", "team", "blue"),
            &["ingress", "namespace-label-change"],
        ),
        (
            "pod-label-becomes-target",
            policy(
                "isolate-locked",
                "x",
                &labels("state", "locked"),
                Some(&["Ingress"]),
                None,
                None,
            ),
            change("x/b", "state", "locked"),
            &["ingress", "pod-label-change", "target"],
        ),
        (
            "pod-label-becomes-egress-target",
            policy(
                "egress-locked",
                "y",
                &labels("state", "locked"),
                Some(&["Egress"]),
                None,
                None,
            ),
            change("y/c", "state", "locked"),
            &["egress", "pod-label-change", "target"],
        ),
        (
            "ns-label-joins-egress-peer",
            policy(
                "to-team-blue",
                "x",
                &pod("a"),
                Some(&["Egress"]),
                None,
                Some(&[rule(vec![format!(
                    "{{namespaceSelector: {}}}",
                    labels("team", "blue")
                )])]),
            ),
            change("y", "team", "blue"),
            &["egress", "namespace-label-change"],
        ),
        (
            "ns-label-leaves-not-in",
            policy(
                "from-not-team-red",
                "z",
                &pod("c"),
                Some(&["Ingress"]),
                Some(&[rule(vec![format!(
                    "{{namespaceSelector: {}}}",
                    expr("team", "NotIn", &["red"])
                )])]),
                None,
            ),
            change("x", "team", "red"),
            &["ingress", "namespace-label-change", "match-expressions"],
        ),
        (
            "pod-label-leaves-does-not-exist",
            policy(
                "from-unlabelled",
                "y",
                &pod("a"),
                Some(&["Ingress"]),
                Some(&[rule(vec![format!(
                    "{{namespaceSelector: {{}}, podSelector: {}}}",
                    expr("role", "DoesNotExist", &[])
                )])]),
                None,
            ),
            change("z/b", "role", "client"),
            &["ingress", "pod-label-change", "match-expressions"],
        ),
        (
            "ns-label-joins-and-peer",
            policy(
                "from-blue-clients",
                "x",
                "{}",
                Some(&["Ingress"]),
                Some(&[rule(vec![format!(
                    "{{namespaceSelector: {}, podSelector: {}}}",
                    labels("team", "blue"),
                    pod("c")
                )])]),
                None,
            ),
            change("y", "team", "blue"),
            &[
                "ingress",
                "namespace-label-change",
                "peer-pods-and-namespaces",
            ],
        ),
    ];
    specs
        .into_iter()
        .map(|(slug, yaml, label, tags)| {
            let mut case = Case::new(
                TAG,
                format!("label-{slug}"),
                format!(
                    "While the policy is in force, {} gets {}={}.",
                    label.target, label.key, label.value
                ),
            )
            .tag(&["label-change"])
            .tag(tags)
            .policy(yaml);
            case.labels.push(label);
            case
        })
        .collect()
}
