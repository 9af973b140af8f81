//! ClusterNetworkPolicy (`policy.networking.k8s.io/v1alpha2`, network-policy-api v0.2.0), read
//! from kubernetes-sigs/network-policy-api@v0.2.0:apis/v1alpha2/clusternetworkpolicy_types.go
//! and its CRD (config/crd/experimental/policy.networking.k8s.io_clusternetworkpolicies.yaml).
//!
//! - `spec.tier: Admin` goes to tier [`CNP_ADMIN_TIER`] (before NetworkPolicy), `Baseline` to
//!   [`CNP_BASELINE_TIER`] (after it); both end in Pass, so when nothing decides the traffic is
//!   allowed (types.go#L62-L91). `spec.priority` (0–1000, lower first) is the order in the tier.
//! - Rules keep their written order; Accept → Allow and Deny are final for the direction, Pass
//!   skips the rest of the tier (types.go#L190-L209). A direction without rules does not apply.
//! - Subjects and peers select pods, never host-network ones (types.go#L162-L165, #L322-L333).
//!   Egress peers may also be `networks` (CIDRs, matching pod addresses too, types.go#L375-L392),
//!   `nodes` (node labels → node addresses, types.go#L363-L373) and `domainNames` (decided by
//!   DNS answers, so the oracle reports such cells "unknown (DNS)").
//! - `protocols`: `tcp`/`udp`/`sctp` with a `destinationPort` number or range, or a
//!   `destinationNamedPort` resolved on the destination pod's container ports, protocol-aware;
//!   absent = every protocol and port (types.go#L428-L525).
//! - A peer the implementation does not support fails closed: an Accept rule matches nothing, a
//!   Deny or Pass rule becomes "deny all" (types.go#L336-L345). Which peers an implementation
//!   supports is [`Features`]; the API's own implementations support all.
//!
//! Strict decoding refuses what the API server refuses: unknown fields, a bad tier, priority
//! outside 0–1000, more than 25 rules/peers/protocols/CIDRs/domain names (MaxItems=25), not
//! exactly one field in a subject, peer, protocol or port (MinProperties/MaxProperties=1), a range
//! whose start is not below its end, CIDRs (`isCIDR`, maxLength 43), domain names (the CRD's
//! pattern), duplicate list entries (`listType=set`), and a `destinationNamedPort` in a rule with
//! `networks`, `nodes` or `domainNames` peers (the egress rule's CEL rule, types.go#L236).
//! `domainNames` in a rule that is not Accept is refused as unsupported: "DomainNames is only
//! supported for Accept rules" (types.go#L396).
//!
//! This module decodes the document and converts the policy and its rules; `peers` converts
//! egress peers and `protocols` a rule's protocols and ports.

mod peers;
mod protocols;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::admin::{LabelSelectorDoc, NamespacedPodDoc, SubjectDoc};
use super::{
    CNP_ADMIN_TIER, CNP_BASELINE_TIER, Direction, EntityMatch, Policy, PolicyId, PolicyKind,
    PortSpec, ProtocolMatch, Rule, RuleAction, Selector, decode, describe_ports, rule_sides,
};
use crate::manifest::{Document, ManifestError};
use crate::model::Protocol;
pub(crate) use peers::check_domain_names;
pub use peers::valid_domain_name;

/// The API version modelled.
pub const API_VERSION: &str = "policy.networking.k8s.io/v1alpha2";

/// Most rules per direction, and most peers, protocols, CIDRs or domain names in one list
/// (`MaxItems=25` everywhere in v0.2.0).
pub const MAX_ITEMS: usize = 25;

/// Highest priority value (`Maximum=1000`, types.go#L106-L108).
pub const MAX_PRIORITY: i64 = 1000;

/// Longest CIDR text (`MaxLength=43`, types.go#L531).
pub const MAX_CIDR_LENGTH: usize = 43;

/// Longest rule name (`MaxLength=100`).
pub const MAX_RULE_NAME: usize = 100;

/// Which egress peers an implementation understands; a rule with a peer it does not understand
/// fails closed (types.go#L336-L345).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// `nodes` peers.
    pub nodes: bool,
    /// `domainNames` peers.
    pub domain_names: bool,
}

impl Features {
    /// Every peer of v0.2.0 (the API as written; kube-network-policies, Antrea, Cilium).
    pub const ALL: Features = Features {
        nodes: true,
        domain_names: true,
    };

    /// Calico 3.32: pods, namespaces and networks only; a `nodes` or `domainNames` peer makes the
    /// rule's conversion fail ("none of supported fields in 'To' is set",
    /// projectcalico/calico@v3.32.1:libcalico-go/lib/backend/k8s/conversion/clusternetworkpolicy.go#L296-L323),
    /// and the failed rule becomes Deny-all for Deny and Pass or is dropped for Accept (#L84-L96,
    /// #L175-L184).
    pub const CALICO: Features = Features {
        nodes: false,
        domain_names: false,
    };
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CnpDoc {
    #[serde(rename = "apiVersion")]
    _api_version: IgnoredAny,
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    #[serde(rename = "metadata")]
    _metadata: ObjectMeta,
    spec: SpecDoc,
    #[serde(rename = "status")]
    _status: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecDoc {
    tier: Option<String>,
    priority: Option<i64>,
    subject: Option<SubjectDoc>,
    ingress: Option<Vec<IngressRuleDoc>>,
    egress: Option<Vec<EgressRuleDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IngressRuleDoc {
    name: Option<String>,
    action: Option<String>,
    from: Option<Vec<SubjectDoc>>,
    protocols: Option<Vec<ProtocolDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EgressRuleDoc {
    name: Option<String>,
    action: Option<String>,
    to: Option<Vec<EgressPeerDoc>>,
    protocols: Option<Vec<ProtocolDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EgressPeerDoc {
    namespaces: Option<LabelSelectorDoc>,
    pods: Option<NamespacedPodDoc>,
    networks: Option<Vec<String>>,
    nodes: Option<LabelSelectorDoc>,
    domain_names: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProtocolDoc {
    tcp: Option<PortHolderDoc>,
    udp: Option<PortHolderDoc>,
    sctp: Option<PortHolderDoc>,
    destination_named_port: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PortHolderDoc {
    destination_port: Option<PortDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PortDoc {
    number: Option<i64>,
    range: Option<RangeDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeDoc {
    start: Option<i64>,
    end: Option<i64>,
}

/// The tier a ClusterNetworkPolicy's `spec.tier` names, as the API spells it.
pub fn tier_label(tier: &str) -> Option<&'static str> {
    match tier {
        CNP_ADMIN_TIER => Some("Admin"),
        CNP_BASELINE_TIER => Some("Baseline"),
        _ => None,
    }
}

/// Converts a ClusterNetworkPolicy, failing closed on peers `features` lacks.
pub fn convert(doc: &Document, features: &Features) -> Result<Policy, ManifestError> {
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
    let parsed: CnpDoc = decode(doc)?;
    let spec = parsed.spec;
    let name = match doc.name() {
        "" => return Err(doc.invalid("metadata.name", "missing")),
        n => n.to_string(),
    };
    let tier = match spec.tier.as_deref() {
        Some("Admin") => CNP_ADMIN_TIER,
        Some("Baseline") => CNP_BASELINE_TIER,
        Some(other) => {
            return Err(doc.invalid(
                "spec.tier",
                format!("`{other}` is not a tier (expected Admin or Baseline)"),
            ));
        }
        None => return Err(doc.invalid("spec.tier", "missing (Admin or Baseline)")),
    };
    let priority = match spec.priority {
        Some(p @ 0..=MAX_PRIORITY) => p,
        Some(p) => {
            return Err(doc.invalid(
                "spec.priority",
                format!("{p} is out of range (0-{MAX_PRIORITY})"),
            ));
        }
        None => return Err(doc.invalid("spec.priority", "missing (0-1000)")),
    };
    let Some(subject) = &spec.subject else {
        return Err(doc.invalid("spec.subject", "missing"));
    };
    let subject = subject_of(doc, "spec.subject", subject)?.0;

    let ctx = Ctx { doc, features };
    let ingress = match &spec.ingress {
        None => None,
        Some(rules) => {
            ctx.check_count("spec.ingress", rules.len(), 0, "rules")?;
            let mut out = Vec::new();
            for (i, r) in rules.iter().enumerate() {
                let at = format!("spec.ingress[{i}]");
                let from = r
                    .from
                    .as_deref()
                    .ok_or_else(|| doc.invalid(format!("{at}.from"), "missing (1 to 25 peers)"))?;
                ctx.check_count(&format!("{at}.from"), from.len(), 1, "peers")?;
                let peers = from
                    .iter()
                    .enumerate()
                    .map(|(j, p)| {
                        let f = format!("{at}.from[{j}]");
                        subject_of(doc, &f, p)
                            .map(|(s, text)| PeerOutcome::Match(Box::new(selector_peer(s, text))))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let view = RuleView {
                    at: &at,
                    written: i,
                    name: r.name.as_deref(),
                    action: r.action.as_deref(),
                    protocols: r.protocols.as_deref(),
                    addresses: false,
                };
                out.extend(ctx.rule(Direction::Ingress, &view, peers)?);
            }
            Some(out)
        }
    }
    .filter(|r| !r.is_empty());
    let egress = match &spec.egress {
        None => None,
        Some(rules) => {
            ctx.check_count("spec.egress", rules.len(), 0, "rules")?;
            let mut out = Vec::new();
            for (i, r) in rules.iter().enumerate() {
                let at = format!("spec.egress[{i}]");
                let to = r
                    .to
                    .as_deref()
                    .ok_or_else(|| doc.invalid(format!("{at}.to"), "missing (1 to 25 peers)"))?;
                ctx.check_count(&format!("{at}.to"), to.len(), 1, "peers")?;
                let action = r.action.as_deref();
                let peers = to
                    .iter()
                    .enumerate()
                    .map(|(j, p)| ctx.egress_peer(&format!("{at}.to[{j}]"), p, action))
                    .collect::<Result<Vec<_>, _>>()?;
                let view = RuleView {
                    at: &at,
                    written: i,
                    name: r.name.as_deref(),
                    action,
                    protocols: r.protocols.as_deref(),
                    addresses: to.iter().any(|p| {
                        p.networks.is_some() || p.nodes.is_some() || p.domain_names.is_some()
                    }),
                };
                out.extend(ctx.rule(Direction::Egress, &view, peers)?);
            }
            Some(out)
        }
    }
    .filter(|r| !r.is_empty());

    Ok(Policy {
        id: PolicyId {
            kind: PolicyKind::ClusterNetworkPolicy,
            namespace: None,
            name,
        },
        tier: tier.to_string(),
        order: Some(priority as f64),
        subject,
        ingress,
        egress,
        source: doc.source.clone(),
    })
}

/// `subject` or an ingress peer: exactly one of `namespaces` and `pods` (MinProperties and
/// MaxProperties 1).
fn subject_of(
    doc: &Document,
    at: &str,
    s: &SubjectDoc,
) -> Result<(Selector, String), ManifestError> {
    super::admin::subject_selector(doc, at, s)
}

fn selector_peer(selector: Selector, text: String) -> PeerMatch {
    PeerMatch {
        entity: EntityMatch {
            selector: Some(selector),
            ..EntityMatch::default()
        },
        text,
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

/// A rule of either direction, seen uniformly.
struct RuleView<'a> {
    at: &'a str,
    written: usize,
    name: Option<&'a str>,
    action: Option<&'a str>,
    protocols: Option<&'a [ProtocolDoc]>,
    /// Whether a peer names addresses (`networks`, `nodes`, `domainNames`).
    addresses: bool,
}

/// A rule's protocols grouped: `(protocol, ports)`, `None` for named ports (whose protocol is
/// the container port's) and for "no protocols" (with an empty list: every port).
type ProtocolGroups = Vec<(Option<Protocol>, Vec<PortSpec>)>;

struct Ctx<'a> {
    doc: &'a Document,
    features: &'a Features,
}

impl Ctx<'_> {
    fn check_count(&self, at: &str, n: usize, min: usize, what: &str) -> Result<(), ManifestError> {
        if n < min || n > MAX_ITEMS {
            return Err(self.doc.invalid(
                at,
                format!("{n} {what}; the CRD allows {min} to {MAX_ITEMS} (MaxItems={MAX_ITEMS})"),
            ));
        }
        Ok(())
    }

    fn rule(
        &self,
        direction: Direction,
        rule: &RuleView<'_>,
        peers: Vec<PeerOutcome>,
    ) -> Result<Vec<Rule>, ManifestError> {
        let doc = self.doc;
        let at = rule.at;
        if let Some(name) = rule.name
            && name.chars().count() > MAX_RULE_NAME
        {
            return Err(doc.invalid(
                format!("{at}.name"),
                format!("at most {MAX_RULE_NAME} characters"),
            ));
        }
        let action = match rule.action {
            Some("Accept") => RuleAction::Allow,
            Some("Deny") => RuleAction::Deny,
            Some("Pass") => RuleAction::Pass,
            Some(other) => {
                return Err(doc.invalid(
                    format!("{at}.action"),
                    format!("unknown action `{other}` (expected Accept, Deny or Pass)"),
                ));
            }
            None => {
                return Err(doc.invalid(format!("{at}.action"), "missing (Accept, Deny or Pass)"));
            }
        };
        let groups = self.protocols(&format!("{at}.protocols"), rule.protocols)?;
        if rule.addresses
            && groups
                .iter()
                .any(|(_, specs)| specs.iter().any(|s| matches!(s, PortSpec::Named(_))))
        {
            return Err(doc.invalid(
                at,
                "networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames (the CRD's CEL rule)",
            ));
        }
        let (peers_field, word) = match direction {
            Direction::Ingress => ("from", "from"),
            Direction::Egress => ("to", "to"),
        };
        let label = rule.name.map(|n| format!("{n:?}: ")).unwrap_or_default();
        let verb = match action {
            RuleAction::Allow => "accept",
            RuleAction::Deny => "deny",
            _ => "pass",
        };
        // One unsupported peer fails the whole rule closed, as the API asks
        // (types.go#L336-L345) and as Calico does (the rule's conversion errors,
        // projectcalico/calico@v3.32.1:libcalico-go/lib/backend/k8s/conversion/clusternetworkpolicy.go#L84-L96).
        if let Some(why) = peers.iter().find_map(|p| match p {
            PeerOutcome::Unsupported(why) => Some(why),
            PeerOutcome::Match(_) => None,
        }) {
            return Ok(super::failed_closed(
                action,
                at,
                rule.written,
                format!("{label}{verb} rule failed closed to deny all ({why})"),
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
                    written: rule.written,
                    summary: format!(
                        "{label}{verb} {word} {}, {}",
                        peer.text,
                        describe_ports(*protocol, specs)
                    ),
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
