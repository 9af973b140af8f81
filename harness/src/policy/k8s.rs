//! Kubernetes NetworkPolicy (networking.k8s.io/v1) in the common rule model, as Calico converts
//! it: tier `default`, order 1000, one Allow rule per (peer × protocol).

use ipnet::IpNet;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::labels::{and, in_namespace, namespace_scope};
use super::{
    DEFAULT_TIER, Direction, EntityMatch, Policy, PolicyId, PolicyKind, PortSpec, ProtocolMatch,
    Rule, RuleAction, Selector, describe_ports, rule_sides,
};
use crate::manifest::{Document, ManifestError};
use crate::model::Protocol;

/// The order Calico gives every Kubernetes NetworkPolicy.
pub const KUBERNETES_POLICY_ORDER: f64 = 1000.0;

/// Converts a NetworkPolicy document.
pub fn convert(doc: &Document) -> Result<Policy, ManifestError> {
    if doc.api_version() != "networking.k8s.io/v1" {
        return Err(doc.unsupported(
            "apiVersion",
            format!(
                "{} NetworkPolicy (the oracle models networking.k8s.io/v1)",
                doc.api_version()
            ),
        ));
    }
    let np: NetworkPolicy = doc.typed_strict()?;
    let name = match doc.name() {
        "" => return Err(doc.invalid("metadata.name", "missing")),
        n => n.to_string(),
    };
    let namespace = doc.namespace().unwrap_or("default").to_string();
    let spec = np.spec.unwrap_or_default();

    let pod_selector = label_selector(doc, spec.pod_selector.as_ref(), "spec.podSelector")?;
    let subject = and(in_namespace(&namespace), pod_selector);

    // policyTypes defaulting, as the API server does it (SetDefaults_NetworkPolicy): Ingress
    // always, Egress only when `egress` has at least one rule. `egress: []` alone does not make an
    // egress policy.
    let types: Vec<Direction> = match &spec.policy_types {
        Some(types) if !types.is_empty() => {
            // As ValidateNetworkPolicySpec: at most two entries, each Ingress or Egress. A repeated
            // entry is accepted (the API server does not check) and means the same as one.
            if types.len() > 2 {
                return Err(doc.invalid(
                    "spec.policyTypes",
                    format!(
                        "{} entries: may not specify more than two policyTypes",
                        types.len()
                    ),
                ));
            }
            let mut out = Vec::new();
            for (i, t) in types.iter().enumerate() {
                let d = match t.as_str() {
                    "Ingress" => Direction::Ingress,
                    "Egress" => Direction::Egress,
                    other => {
                        return Err(doc.invalid(
                            format!("spec.policyTypes[{i}]"),
                            format!("unknown policy type `{other}` (expected Ingress or Egress)"),
                        ));
                    }
                };
                if !out.contains(&d) {
                    out.push(d);
                }
            }
            out
        }
        _ => {
            let mut out = vec![Direction::Ingress];
            if spec.egress.as_ref().is_some_and(|rules| !rules.is_empty()) {
                out.push(Direction::Egress);
            }
            out
        }
    };

    let mut ingress = None;
    if types.contains(&Direction::Ingress) {
        let mut rules = Vec::new();
        for (i, rule) in spec.ingress.iter().flatten().enumerate() {
            let at = format!("spec.ingress[{i}]");
            rules.extend(convert_rule(
                doc,
                &namespace,
                Direction::Ingress,
                (&at, i),
                rule.from.as_deref(),
                rule.ports.as_deref(),
                "from",
            )?);
        }
        ingress = Some(rules);
    }
    let mut egress = None;
    if types.contains(&Direction::Egress) {
        let mut rules = Vec::new();
        for (i, rule) in spec.egress.iter().flatten().enumerate() {
            let at = format!("spec.egress[{i}]");
            rules.extend(convert_rule(
                doc,
                &namespace,
                Direction::Egress,
                (&at, i),
                rule.to.as_deref(),
                rule.ports.as_deref(),
                "to",
            )?);
        }
        egress = Some(rules);
    }

    Ok(Policy {
        id: PolicyId {
            kind: PolicyKind::KubernetesNetworkPolicy,
            namespace: Some(namespace),
            name,
        },
        tier: DEFAULT_TIER.into(),
        order: Some(KUBERNETES_POLICY_ORDER),
        subject,
        ingress,
        egress,
        source: doc.source.clone(),
    })
}

/// Converts an optional Kubernetes LabelSelector at `field` (absent = every pod).
pub(super) fn label_selector(
    doc: &Document,
    sel: Option<&LabelSelector>,
    field: &str,
) -> Result<Selector, ManifestError> {
    match sel {
        None => Ok(Selector::All),
        Some(s) => Selector::from_label_selector(s).map_err(|e| {
            // The error's text starts with its field, which the full path already names.
            let text = e.to_string();
            let message = text
                .strip_prefix(&format!("{}: ", e.field()))
                .unwrap_or(&text);
            doc.invalid(format!("{field}.{}", e.field()), message)
        }),
    }
}

/// One peer of a rule, converted to conditions on the remote side, with its text.
struct PeerMatch {
    entity: EntityMatch,
    summary: String,
    origin: String,
}

/// The protocol groups of a rule's ports: (protocol, ports) where empty ports means every port of
/// that protocol; a rule without ports is one group with no protocol at all.
type PortGroups = Vec<(Option<Protocol>, Vec<PortSpec>)>;

fn convert_rule(
    doc: &Document,
    namespace: &str,
    direction: Direction,
    (at, written): (&str, usize),
    peers: Option<&[NetworkPolicyPeer]>,
    ports: Option<&[NetworkPolicyPort]>,
    peers_field: &str,
) -> Result<Vec<Rule>, ManifestError> {
    let peer_matches: Vec<PeerMatch> = match peers {
        None | Some([]) => vec![PeerMatch {
            entity: EntityMatch::default(),
            summary: match direction {
                Direction::Ingress => "from anywhere".into(),
                Direction::Egress => "to anywhere".into(),
            },
            origin: at.to_string(),
        }],
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, p)| {
                convert_peer(
                    doc,
                    namespace,
                    direction,
                    &format!("{at}.{peers_field}[{i}]"),
                    p,
                )
            })
            .collect::<Result<_, _>>()?,
    };
    let groups = port_groups(doc, at, ports)?;
    let mut rules = Vec::new();
    for peer in &peer_matches {
        for (protocol, port_specs) in &groups {
            let (source, destination) = rule_sides(direction, &peer.entity, port_specs);
            let ports_text = describe_ports(*protocol, port_specs);
            rules.push(Rule {
                action: RuleAction::Allow,
                protocol: protocol.map(ProtocolMatch::Known),
                not_protocol: None,
                icmp: None,
                not_icmp: None,
                ip_version: None,
                source,
                destination,
                origin: peer.origin.clone(),
                written,
                summary: format!("allow {}, {ports_text}", peer.summary),
            });
        }
    }
    Ok(rules)
}

fn convert_peer(
    doc: &Document,
    namespace: &str,
    direction: Direction,
    at: &str,
    peer: &NetworkPolicyPeer,
) -> Result<PeerMatch, ManifestError> {
    let word = match direction {
        Direction::Ingress => "from",
        Direction::Egress => "to",
    };
    if let Some(block) = &peer.ip_block {
        if peer.pod_selector.is_some() || peer.namespace_selector.is_some() {
            return Err(doc.invalid(
                at,
                "ipBlock cannot be combined with podSelector or namespaceSelector in one peer",
            ));
        }
        let cidr: IpNet = parse_cidr(doc, &format!("{at}.ipBlock.cidr"), &block.cidr)?;
        let mut not_nets = Vec::new();
        for (i, e) in block.except.iter().flatten().enumerate() {
            let field = format!("{at}.ipBlock.except[{i}]");
            let net = parse_cidr(doc, &field, e)?;
            if !cidr.contains(&net) || net == cidr {
                return Err(doc.invalid(field, format!("{net} must be strictly inside {cidr}")));
            }
            not_nets.push(net);
        }
        let except = if not_nets.is_empty() {
            String::new()
        } else {
            format!(
                " except {}",
                not_nets
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Ok(PeerMatch {
            entity: EntityMatch {
                nets: vec![cidr],
                not_nets,
                ..EntityMatch::default()
            },
            summary: format!("{word} {cidr}{except}"),
            origin: at.to_string(),
        });
    }
    let pods = peer
        .pod_selector
        .as_ref()
        .map(|s| label_selector(doc, Some(s), &format!("{at}.podSelector")))
        .transpose()?;
    let namespaces = peer
        .namespace_selector
        .as_ref()
        .map(|s| label_selector(doc, Some(s), &format!("{at}.namespaceSelector")))
        .transpose()?;
    let (selector, summary) = match (namespaces, pods) {
        (None, None) => {
            return Err(doc.invalid(at, "a peer needs podSelector, namespaceSelector or ipBlock"));
        }
        (None, Some(pods)) => (
            and(in_namespace(namespace), pods.clone()),
            format!("{word} pods [{}] in namespace {namespace}", describe(&pods)),
        ),
        (Some(ns), None) => (
            namespace_scope(&ns),
            format!("{word} all pods in namespaces [{}]", describe(&ns)),
        ),
        (Some(ns), Some(pods)) => (
            and(namespace_scope(&ns), pods.clone()),
            format!(
                "{word} pods [{}] in namespaces [{}]",
                describe(&pods),
                describe(&ns)
            ),
        ),
    };
    Ok(PeerMatch {
        entity: EntityMatch {
            selector: Some(selector),
            ..EntityMatch::default()
        },
        summary,
        origin: at.to_string(),
    })
}

/// A selector for summaries: `all` for [`Selector::All`], else its Calico syntax.
pub(super) fn describe(s: &Selector) -> String {
    match s {
        Selector::All => "all".into(),
        other => other.to_string(),
    }
}

/// Parses a CIDR at `field`, masking host bits off as Calico does.
pub(super) fn parse_cidr(doc: &Document, field: &str, text: &str) -> Result<IpNet, ManifestError> {
    let net: IpNet = text.parse().map_err(|_| {
        doc.invalid(
            field,
            format!("`{text}` is not a CIDR (expected e.g. 10.0.0.0/24)"),
        )
    })?;
    // Host bits are masked off, as Calico does.
    Ok(net.trunc())
}

fn port_groups(
    doc: &Document,
    at: &str,
    ports: Option<&[NetworkPolicyPort]>,
) -> Result<PortGroups, ManifestError> {
    let Some(ports) = ports.filter(|p| !p.is_empty()) else {
        return Ok(vec![(None, Vec::new())]);
    };
    // Per protocol: None = every port of it; Some(list) = these ports.
    let mut by_protocol: Vec<(Protocol, Option<Vec<PortSpec>>)> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let field = format!("{at}.ports[{i}]");
        let protocol = match &port.protocol {
            None => Protocol::Tcp,
            Some(p) => Protocol::parse_port_protocol(p)
                .map_err(|m| doc.invalid(format!("{field}.protocol"), m))?,
        };
        let spec = match (&port.port, port.end_port) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(doc.invalid(format!("{field}.endPort"), "endPort requires port"));
            }
            (Some(IntOrString::Int(n)), end) => {
                let start = port_number(doc, &format!("{field}.port"), *n)?;
                let end = match end {
                    None => start,
                    Some(e) => {
                        let e = port_number(doc, &format!("{field}.endPort"), e)?;
                        if e < start {
                            return Err(doc.invalid(
                                format!("{field}.endPort"),
                                format!("{e} is less than port {start}"),
                            ));
                        }
                        e
                    }
                };
                Some(PortSpec::Range(start, end))
            }
            (Some(named @ IntOrString::String(_)), end) => {
                if end.is_some() {
                    return Err(doc.invalid(
                        format!("{field}.endPort"),
                        "endPort cannot be used with a named port",
                    ));
                }
                match crate::model::build_port_ref(named)
                    .map_err(|m| doc.invalid(format!("{field}.port"), m))?
                {
                    crate::model::PortRef::Name(n) => Some(PortSpec::Named(n)),
                    crate::model::PortRef::Number(n) => Some(PortSpec::Range(n, n)),
                }
            }
        };
        match by_protocol.iter_mut().find(|(p, _)| *p == protocol) {
            None => by_protocol.push((protocol, spec.map(|s| vec![s]))),
            Some((_, existing)) => match (existing.as_mut(), spec) {
                (Some(list), Some(s)) => list.push(s),
                // A protocol-only entry opens every port of that protocol.
                (_, None) => *existing = None,
                (None, Some(_)) => {}
            },
        }
    }
    Ok(by_protocol
        .into_iter()
        .map(|(p, list)| (Some(p), list.unwrap_or_default()))
        .collect())
}

/// Checks a port number (1-65535) at `field`.
pub(super) fn port_number(doc: &Document, field: &str, n: i32) -> Result<u16, ManifestError> {
    u16::try_from(n)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| doc.invalid(field, format!("{n} is not a port number (1-65535)")))
}
