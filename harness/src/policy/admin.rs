//! AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1, API
//! v0.1.x), placed as Calico v3.29–v3.31 place them:
//!
//! - an AdminNetworkPolicy goes to tier [`ADMIN_TIER`] (before `default`) at order = `priority`;
//! - the BaselineAdminNetworkPolicy (a singleton named `default`) goes to tier [`BASELINE_TIER`]
//!   (after `default`) at order 1000.
//!
//! Both tiers end in Pass, so: an ANP Allow or Deny is final; Pass, or no matching rule, goes on
//! to NetworkPolicy (Kubernetes and Calico, tier `default`), and only when no such policy selects
//! the pod in that direction does the BANP decide; when nothing decides the traffic is allowed.
//!
//! A direction without rules does not apply (`None`), and a rule whose peers match nothing does
//! nothing. Each rule becomes one model rule per (peer × protocol group), like Calico's
//! conversion; `namedPort` matches the destination pod's container port of that name (the API
//! semantics; Calico v3.31 itself ignores named ports and matches every port).
//!
//! Egress peers may also be `networks` (CIDRs, matching pod addresses too), `nodes` (node labels
//! → the addresses of declared Node objects) and, in an ANP Allow rule, `domainNames` (decided
//! by DNS answers: such cells are "unknown (DNS)"), as network-policy-api v0.1.7 defines them
//! (kubernetes-sigs/network-policy-api@v0.1.7:apis/v1alpha1/adminnetworkpolicy_types.go#L213-L268).
//! Calico 3.29–3.31 converts only pods, namespaces and networks: a rule with a `nodes` peer
//! fails its conversion and is failed closed — Deny and Pass become "deny all", Allow is
//! dropped; its CRD (network-policy-api v0.1.1) has no `domainNames`, so such a document is
//! refused there (projectcalico/calico@v3.31.7:libcalico-go/lib/backend/k8s/conversion/conversion.go#L287-L316,
//! #L370-L379, #L658-L680).
//!
//! Refused: `domainNames` in a Deny or Pass rule or in a BANP (not in the API), a BANP not named
//! `default`, and two AdminNetworkPolicies with the same priority ([`check_priority`]): the API
//! leaves their relative order undefined, so no prediction would be honest.
//!
//! This module converts policies and rules; `doc` decodes the documents, `peers` converts a
//! rule's peers and `ports` its ports.

mod doc;
mod peers;
mod ports;

use doc::{AdminDoc, EgressPeerDoc, EgressRuleDoc, IngressRuleDoc, PortDoc};
pub(super) use doc::{LabelSelectorDoc, NamespacedPodDoc, SubjectDoc};

use super::k8s::{describe, label_selector};
use super::labels::{and, namespace_scope};
use super::{
    ADMIN_TIER, BASELINE_TIER, Direction, EntityMatch, Policy, PolicyId, PolicyKind, PortSpec,
    ProtocolMatch, Rule, RuleAction, Selector, decode, describe_ports, rule_sides,
};
use crate::manifest::{Document, ManifestError};
use crate::model::Protocol;

/// The API version modelled.
pub const API_VERSION: &str = "policy.networking.k8s.io/v1alpha1";

/// The order Calico gives the BaselineAdminNetworkPolicy in its tier.
pub const BASELINE_ORDER: f64 = 1000.0;

/// The only name a BaselineAdminNetworkPolicy may have.
pub const BASELINE_NAME: &str = "default";

/// Most rules an ANP or BANP may have per direction, and most peers or ports per rule.
pub const MAX_ITEMS: usize = 100;

/// Most CIDRs in one `networks` peer.
pub const MAX_NETWORKS: usize = 25;

/// Converts an AdminNetworkPolicy or BaselineAdminNetworkPolicy. With `calico` (Calico
/// 3.29–3.31), a rule with a `namedPort` matches every port and protocol, as Calico converts it:
/// the named port becomes a nil protocol and port, which "we translate to allowing all"
/// (projectcalico/calico@v3.31.7:libcalico-go/lib/backend/k8s/conversion/conversion.go#L594-L600,
/// #L757 "TODO: Add support for NamedPorts") — a documented deviation from the API — and a rule
/// with a `nodes` peer fails closed (a `domainNames` peer is refused: its CRD has none).
pub fn convert(doc: &Document, calico: bool) -> Result<Policy, ManifestError> {
    if doc.api_version() != API_VERSION {
        return Err(doc.unsupported(
            "apiVersion",
            format!(
                "{} {} (the oracle models {API_VERSION})",
                doc.api_version(),
                doc.kind()
            ),
        ));
    }
    let baseline = match doc.kind() {
        "AdminNetworkPolicy" => false,
        "BaselineAdminNetworkPolicy" => true,
        other => return Err(doc.unsupported("kind", format!("{API_VERSION} {other}"))),
    };
    let parsed: AdminDoc = decode(doc)?;
    let spec = parsed.spec;
    let name = match doc.name() {
        "" => return Err(doc.invalid("metadata.name", "missing")),
        n => n.to_string(),
    };
    let order = if baseline {
        if name != BASELINE_NAME {
            return Err(doc.invalid(
                "metadata.name",
                format!(
                    "a BaselineAdminNetworkPolicy must be named `{BASELINE_NAME}` (it is a singleton), not `{name}`"
                ),
            ));
        }
        if spec.priority.is_some() {
            return Err(doc.invalid(
                "spec.priority",
                "a BaselineAdminNetworkPolicy has no priority",
            ));
        }
        BASELINE_ORDER
    } else {
        match spec.priority {
            None => return Err(doc.invalid("spec.priority", "missing (0-1000)")),
            Some(p @ 0..=1000) => p as f64,
            Some(p) => {
                return Err(doc.invalid("spec.priority", format!("{p} is out of range (0-1000)")));
            }
        }
    };

    let subject = subject_selector(doc, "spec.subject", &spec.subject)?.0;

    let ctx = Ctx {
        doc,
        baseline,
        calico,
    };
    let ingress = spec
        .ingress
        .as_deref()
        .map(|rules| ctx.rules(Direction::Ingress, rules.iter().map(RuleView::from)))
        .transpose()?
        .filter(|r| !r.is_empty());
    let egress = spec
        .egress
        .as_deref()
        .map(|rules| ctx.rules(Direction::Egress, rules.iter().map(RuleView::from)))
        .transpose()?
        .filter(|r| !r.is_empty());

    Ok(Policy {
        id: PolicyId {
            kind: if baseline {
                PolicyKind::BaselineAdminNetworkPolicy
            } else {
                PolicyKind::AdminNetworkPolicy
            },
            namespace: None,
            name,
        },
        tier: if baseline { BASELINE_TIER } else { ADMIN_TIER }.to_string(),
        order: Some(order),
        subject,
        ingress,
        egress,
        source: doc.source.clone(),
    })
}

/// Refuses `policy` if it is an AdminNetworkPolicy with the priority of one already read: the API
/// says that when two such policies match a connection "the implementation can apply any of the
/// matching policies", so the oracle cannot predict the result.
pub fn check_priority(
    doc: &Document,
    existing: &[Policy],
    policy: &Policy,
) -> Result<(), ManifestError> {
    if policy.id.kind != PolicyKind::AdminNetworkPolicy {
        return Ok(());
    }
    match existing
        .iter()
        // A policy declared twice is reported as such by the caller, not as a priority clash.
        .find(|p| {
            p.id.kind == PolicyKind::AdminNetworkPolicy
                && p.id != policy.id
                && p.order == policy.order
        })
    {
        None => Ok(()),
        Some(other) => Err(doc.unsupported(
            "spec.priority",
            format!(
                "two AdminNetworkPolicies share priority {} ({} at {} and {}); their relative order is undefined",
                super::format_order(policy.order),
                other.id.name,
                other.source,
                policy.id.name
            ),
        )),
    }
}

/// A selector over policy labels for a `subject`, an ingress peer, or the pod part of an egress
/// peer, with its text. Exactly one of `namespaces` and `pods` must be set.
pub(super) fn subject_selector(
    doc: &Document,
    at: &str,
    s: &SubjectDoc,
) -> Result<(Selector, String), ManifestError> {
    match (&s.namespaces, &s.pods) {
        (Some(ns), None) => namespaces_peer(doc, &format!("{at}.namespaces"), ns),
        (None, Some(pods)) => pods_peer(doc, &format!("{at}.pods"), pods),
        (None, None) => Err(doc.invalid(at, "exactly one of `namespaces` and `pods` must be set")),
        (Some(_), Some(_)) => Err(doc.invalid(
            at,
            "exactly one of `namespaces` and `pods` must be set, not both",
        )),
    }
}

pub(super) fn namespaces_peer(
    doc: &Document,
    at: &str,
    ns: &LabelSelectorDoc,
) -> Result<(Selector, String), ManifestError> {
    let ns = label_selector(doc, Some(&ns.to_k8s()), at)?;
    let text = format!("all pods in namespaces [{}]", describe(&ns));
    Ok((namespace_scope(&ns), text))
}

pub(super) fn pods_peer(
    doc: &Document,
    at: &str,
    pods: &NamespacedPodDoc,
) -> Result<(Selector, String), ManifestError> {
    let ns = label_selector(
        doc,
        Some(&pods.namespace_selector.to_k8s()),
        &format!("{at}.namespaceSelector"),
    )?;
    let pod = label_selector(
        doc,
        Some(&pods.pod_selector.to_k8s()),
        &format!("{at}.podSelector"),
    )?;
    let text = format!(
        "pods [{}] in namespaces [{}]",
        describe(&pod),
        describe(&ns)
    );
    Ok((and(namespace_scope(&ns), pod), text))
}

/// A rule's ports grouped by protocol: `(protocol, ports)`, where `None` is "any protocol" and an
/// empty list is "any port".
type PortGroups = Vec<(Option<Protocol>, Vec<PortSpec>)>;

/// A rule of either kind and direction, seen uniformly.
struct RuleView<'a> {
    name: Option<&'a str>,
    action: &'a str,
    peers: Vec<PeerView<'a>>,
    ports: Option<&'a [PortDoc]>,
}

/// A peer: pods/namespaces, or (egress) networks, nodes or domain names.
enum PeerView<'a> {
    Subject(&'a SubjectDoc),
    Egress(&'a EgressPeerDoc),
}

impl PeerView<'_> {
    /// Whether the peer names addresses (`networks`, `nodes`, `domainNames`), which have no
    /// named ports.
    fn names_addresses(&self) -> bool {
        match self {
            PeerView::Subject(_) => false,
            PeerView::Egress(p) => {
                p.networks.is_some() || p.nodes.is_some() || p.domain_names.is_some()
            }
        }
    }
}

impl<'a> From<&'a IngressRuleDoc> for RuleView<'a> {
    fn from(r: &'a IngressRuleDoc) -> Self {
        RuleView {
            name: r.name.as_deref(),
            action: &r.action,
            peers: r.from.iter().map(PeerView::Subject).collect(),
            ports: r.ports.as_deref(),
        }
    }
}

impl<'a> From<&'a EgressRuleDoc> for RuleView<'a> {
    fn from(r: &'a EgressRuleDoc) -> Self {
        RuleView {
            name: r.name.as_deref(),
            action: &r.action,
            peers: r.to.iter().map(PeerView::Egress).collect(),
            ports: r.ports.as_deref(),
        }
    }
}

/// A peer converted to conditions on the remote side.
struct PeerMatch {
    entity: EntityMatch,
    text: String,
}

/// A peer the implementation understands, or one it does not (the rule then fails closed).
enum PeerOutcome {
    Match(Box<PeerMatch>),
    Unsupported(String),
}

/// Converting one document's rules.
struct Ctx<'a> {
    doc: &'a Document,
    baseline: bool,
    /// Calico 3.29–3.31: a named port opens every port and protocol, and a `nodes` or
    /// `domainNames` peer fails its rule closed.
    calico: bool,
}

impl Ctx<'_> {
    fn kind(&self) -> &'static str {
        if self.baseline {
            "BaselineAdminNetworkPolicy"
        } else {
            "AdminNetworkPolicy"
        }
    }

    fn rules<'r>(
        &self,
        direction: Direction,
        rules: impl ExactSizeIterator<Item = RuleView<'r>>,
    ) -> Result<Vec<Rule>, ManifestError> {
        let field = match direction {
            Direction::Ingress => "spec.ingress",
            Direction::Egress => "spec.egress",
        };
        if rules.len() > MAX_ITEMS {
            return Err(self.doc.invalid(
                field,
                format!(
                    "{} rules; a {} has at most {MAX_ITEMS} per direction",
                    rules.len(),
                    self.kind()
                ),
            ));
        }
        let mut out = Vec::new();
        for (i, rule) in rules.enumerate() {
            out.extend(self.rule(direction, (&format!("{field}[{i}]"), i), &rule)?);
        }
        Ok(out)
    }

    fn rule(
        &self,
        direction: Direction,
        (at, written): (&str, usize),
        rule: &RuleView<'_>,
    ) -> Result<Vec<Rule>, ManifestError> {
        let doc = self.doc;
        if let Some(name) = rule.name
            && name.chars().count() > 100
        {
            return Err(doc.invalid(format!("{at}.name"), "at most 100 characters"));
        }
        let action = match (rule.action, self.baseline) {
            ("Allow", _) => RuleAction::Allow,
            ("Deny", _) => RuleAction::Deny,
            ("Pass", false) => RuleAction::Pass,
            (other, _) => {
                let expected = if self.baseline {
                    "Allow or Deny"
                } else {
                    "Allow, Deny or Pass"
                };
                return Err(doc.invalid(
                    format!("{at}.action"),
                    format!(
                        "unknown action `{other}` for a {} (expected {expected})",
                        self.kind()
                    ),
                ));
            }
        };
        let (peers_field, word) = match direction {
            Direction::Ingress => ("from", "from"),
            Direction::Egress => ("to", "to"),
        };
        if rule.peers.is_empty() || rule.peers.len() > MAX_ITEMS {
            return Err(doc.invalid(
                format!("{at}.{peers_field}"),
                format!("must list 1 to {MAX_ITEMS} peers"),
            ));
        }
        let peers = rule
            .peers
            .iter()
            .enumerate()
            .map(|(j, p)| self.peer(&format!("{at}.{peers_field}[{j}]"), p, action))
            .collect::<Result<Vec<_>, _>>()?;
        let groups = self.ports(&format!("{at}.ports"), rule.ports)?;
        if let Some(j) = rule.peers.iter().position(PeerView::names_addresses)
            && groups
                .iter()
                .any(|(_, specs)| specs.iter().any(|s| matches!(s, PortSpec::Named(_))))
        {
            return Err(doc.invalid(
                format!("{at}.{peers_field}[{j}]"),
                "networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames (the CRD's CEL rule)",
            ));
        }

        let label = rule.name.map(|n| format!("{n:?}: ")).unwrap_or_default();
        // One unsupported peer fails the whole rule (Calico's conversion errors for the rule,
        // projectcalico/calico@v3.31.7:libcalico-go/lib/backend/k8s/conversion/conversion.go#L658-L680),
        // and the failed rule is replaced as the API asks for "fail closed".
        if let Some(why) = peers.iter().find_map(|p| match p {
            PeerOutcome::Unsupported(why) => Some(why),
            PeerOutcome::Match(_) => None,
        }) {
            return Ok(super::failed_closed(
                action,
                at,
                written,
                format!(
                    "{label}{} rule failed closed to deny all ({why})",
                    action.to_string().to_lowercase()
                ),
            )
            .into_iter()
            .collect());
        }
        let mut out = Vec::new();
        for (j, peer) in peers.iter().enumerate() {
            let PeerOutcome::Match(peer) = peer else {
                continue;
            };
            for (protocol, specs) in &groups {
                let (source, destination) = rule_sides(direction, &peer.entity, specs);
                let ports_text = describe_ports(*protocol, specs);
                out.push(Rule {
                    action,
                    protocol: protocol.map(ProtocolMatch::Known),
                    not_protocol: None,
                    icmp: None,
                    not_icmp: None,
                    ip_version: None,
                    source,
                    destination,
                    origin: format!("{at}.{peers_field}[{j}]"),
                    written,
                    summary: format!(
                        "{label}{} {word} {}, {ports_text}",
                        action.to_string().to_lowercase(),
                        peer.text
                    ),
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
