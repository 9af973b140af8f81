//! Every policy kind decoded into one rule model, the one Calico evaluates: tiers in order,
//! policies in a tier by `order`, rules in a policy in sequence, each rule with an action.
//!
//! - Kubernetes NetworkPolicy ([`k8s`]) becomes Allow rules in tier `default` at order 1000, as
//!   Calico converts it; with only Allow rules and an end-of-tier deny this is exactly the
//!   Kubernetes semantics ("allowed if any selecting policy allows").
//! - Calico NetworkPolicy, GlobalNetworkPolicy and Tier ([`calico`]) map one to one.
//! - AdminNetworkPolicy and BaselineAdminNetworkPolicy ([`admin`]) become tiers before and after
//!   `default`, whose end-of-tier action is Pass.
//! - ClusterNetworkPolicy ([`cluster`]) goes to tier `kube-admin` (Admin) or `kube-baseline`
//!   (Baseline), also ending in Pass, at order = priority.
//!
//! Selectors are [`Selector`]s over an endpoint's *policy labels* ([`labels`]): its own labels,
//! plus the labels Calico adds (`projectcalico.org/namespace`, the namespace's labels prefixed
//! `pcns.`, the service account's prefixed `pcsa.`), so every peer match is one selector.
//!
//! This module holds the rule model; [`PolicySet`] (in `set`) reads documents into it, and
//! [`Semantics`] (in `semantics`) says whose behaviour it follows.

pub mod admin;
pub mod calico;
pub mod cluster;
pub mod k8s;
pub mod labels;
pub mod selector;

mod semantics;
mod set;

use std::fmt;

use ipnet::IpNet;
use serde::de::DeserializeOwned;

use crate::manifest::{Document, ManifestError, Source};
use crate::model::Protocol;
pub use selector::Selector;
pub use semantics::{CalicoLine, CalicoLineError, Semantics};
pub use set::PolicySet;

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleAction {
    /// Allow the packet; evaluation ends.
    Allow,
    /// Drop the packet; evaluation ends.
    Deny,
    /// Skip the rest of this tier; evaluation continues with the next tier.
    Pass,
    /// Log and continue with the next rule.
    Log,
}

impl fmt::Display for RuleAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The direction a policy applies in, seen from the endpoint it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Traffic arriving at the selected endpoint.
    Ingress,
    /// Traffic leaving the selected endpoint.
    Egress,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        })
    }
}

/// What happens to a packet that reaches the end of a tier whose policies applied but decided
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierDefault {
    /// Drop it (Calico's default, and the Kubernetes "isolated pod" behaviour).
    Deny,
    /// Continue with the next tier (AdminNetworkPolicy and baseline tiers).
    Pass,
}

/// A tier: an ordered group of policies.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    /// The tier's name.
    pub name: String,
    /// Lower orders are evaluated first; `None` is last.
    pub order: Option<f64>,
    /// What the end of the tier does.
    pub default_action: TierDefault,
    /// Where it was declared (`None` for built-in tiers).
    pub source: Option<Source>,
}

/// The name of Calico's default tier, where Kubernetes NetworkPolicy lives.
pub const DEFAULT_TIER: &str = "default";
/// The tier of ClusterNetworkPolicies with `tier: Admin` (Calico 3.32's static tier
/// `kube-admin`, projectcalico/calico@v3.32.1:libcalico-go/lib/names/policy.go#L24).
pub const CNP_ADMIN_TIER: &str = "kube-admin";
/// The tier of ClusterNetworkPolicies with `tier: Baseline` (Calico 3.32's `kube-baseline`).
pub const CNP_BASELINE_TIER: &str = "kube-baseline";
/// The tier AdminNetworkPolicy is placed in (Calico 3.29–3.31 name).
pub const ADMIN_TIER: &str = "adminnetworkpolicy";
/// The tier BaselineAdminNetworkPolicy is placed in (Calico 3.30–3.31 name).
pub const BASELINE_TIER: &str = "baselineadminnetworkpolicy";

impl Tier {
    /// The built-in tiers of `semantics`: Calico 3.29 has `adminnetworkpolicy` and `default`;
    /// 3.30–3.31 add `baselineadminnetworkpolicy`; 3.32 has `kube-admin`, `default` and
    /// `kube-baseline` (calico#11144); the generic semantics have all of them.
    pub fn builtin_for(semantics: Semantics) -> Vec<Tier> {
        let keep = |name: &str| match semantics.calico() {
            None => true,
            Some(line) if line.has_cnp() => ![ADMIN_TIER, BASELINE_TIER].contains(&name),
            Some(CalicoLine::V3_29) => {
                ![CNP_ADMIN_TIER, CNP_BASELINE_TIER, BASELINE_TIER].contains(&name)
            }
            Some(_) => ![CNP_ADMIN_TIER, CNP_BASELINE_TIER].contains(&name),
        };
        Tier::builtin()
            .into_iter()
            .filter(|t| keep(&t.name))
            .collect()
    }

    /// Every built-in tier of any semantics: admin (order 1000, Pass), default (1,000,000, Deny)
    /// and baseline (10,000,000, Pass), for AdminNetworkPolicy and for ClusterNetworkPolicy
    /// (Calico 3.32's orders and default actions,
    /// projectcalico/calico@v3.32.1:api/pkg/apis/projectcalico/v3/tier.go#L37-L50).
    pub fn builtin() -> Vec<Tier> {
        vec![
            Tier {
                name: CNP_ADMIN_TIER.into(),
                order: Some(1_000.0),
                default_action: TierDefault::Pass,
                source: None,
            },
            Tier {
                name: CNP_BASELINE_TIER.into(),
                order: Some(10_000_000.0),
                default_action: TierDefault::Pass,
                source: None,
            },
            Tier {
                name: ADMIN_TIER.into(),
                order: Some(1_000.0),
                default_action: TierDefault::Pass,
                source: None,
            },
            Tier {
                name: DEFAULT_TIER.into(),
                order: Some(1_000_000.0),
                default_action: TierDefault::Deny,
                source: None,
            },
            Tier {
                name: BASELINE_TIER.into(),
                order: Some(10_000_000.0),
                default_action: TierDefault::Pass,
                source: None,
            },
        ]
    }
}

/// The kind of object a policy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyKind {
    /// networking.k8s.io/v1 NetworkPolicy.
    KubernetesNetworkPolicy,
    /// projectcalico.org/v3 NetworkPolicy.
    CalicoNetworkPolicy,
    /// projectcalico.org/v3 GlobalNetworkPolicy.
    CalicoGlobalNetworkPolicy,
    /// policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy.
    AdminNetworkPolicy,
    /// policy.networking.k8s.io/v1alpha1 BaselineAdminNetworkPolicy.
    BaselineAdminNetworkPolicy,
    /// policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy.
    ClusterNetworkPolicy,
}

impl PolicyKind {
    /// The kind as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::KubernetesNetworkPolicy | PolicyKind::CalicoNetworkPolicy => {
                "NetworkPolicy"
            }
            PolicyKind::CalicoGlobalNetworkPolicy => "GlobalNetworkPolicy",
            PolicyKind::AdminNetworkPolicy => "AdminNetworkPolicy",
            PolicyKind::BaselineAdminNetworkPolicy => "BaselineAdminNetworkPolicy",
            PolicyKind::ClusterNetworkPolicy => "ClusterNetworkPolicy",
        }
    }

    /// A short label used in explanations (`k8s`, `calico`, `global`, `anp`, `banp`).
    pub fn short(self) -> &'static str {
        match self {
            PolicyKind::KubernetesNetworkPolicy => "NetworkPolicy",
            PolicyKind::CalicoNetworkPolicy => "Calico NetworkPolicy",
            PolicyKind::CalicoGlobalNetworkPolicy => "GlobalNetworkPolicy",
            PolicyKind::AdminNetworkPolicy => "AdminNetworkPolicy",
            PolicyKind::BaselineAdminNetworkPolicy => "BaselineAdminNetworkPolicy",
            PolicyKind::ClusterNetworkPolicy => "ClusterNetworkPolicy",
        }
    }
}

/// A protocol a rule names: one the harness probes, or another by number (which no probe uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolMatch {
    /// TCP, UDP, SCTP or ICMP.
    Known(Protocol),
    /// Any other IP protocol (ICMPv6, UDPLite, or a number); never equal to a probe's protocol.
    Other(u8),
}

impl ProtocolMatch {
    /// Whether a packet of `protocol` matches.
    pub fn matches(self, protocol: Protocol) -> bool {
        match self {
            ProtocolMatch::Known(p) => p == protocol,
            ProtocolMatch::Other(n) => n == protocol.number(),
        }
    }
}

impl fmt::Display for ProtocolMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolMatch::Known(p) => write!(f, "{p}"),
            ProtocolMatch::Other(n) => write!(f, "protocol {n}"),
        }
    }
}

/// A destination port condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortSpec {
    /// An inclusive range (a single port is `Range(p, p)`).
    Range(u16, u16),
    /// A named port, resolved against the destination endpoint's container ports.
    Named(String),
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSpec::Range(a, b) if a == b => write!(f, "{a}"),
            PortSpec::Range(a, b) => write!(f, "{a}-{b}"),
            PortSpec::Named(n) => write!(f, "{n}"),
        }
    }
}

/// An ICMP type/code condition (probes send echo requests: type 8, code 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpMatch {
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code, if constrained.
    pub code: Option<u8>,
}

/// Conditions on one side (source or destination) of a packet. All present conditions must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntityMatch {
    /// The side must be a known endpoint whose policy labels match (external addresses never do).
    pub selector: Option<Selector>,
    /// The side must not be an endpoint matching this (external addresses always satisfy it).
    pub not_selector: Option<Selector>,
    /// The side's address must be in one of these.
    pub nets: Vec<IpNet>,
    /// The side's address must be in none of these.
    pub not_nets: Vec<IpNet>,
    /// The destination port must be one of these (destination side only).
    pub ports: Vec<PortSpec>,
    /// The destination port must be none of these (destination side only).
    pub not_ports: Vec<PortSpec>,
    /// The side's address must be an address of a node these node labels select
    /// (ClusterNetworkPolicy `nodes` peers).
    pub nodes: Option<Selector>,
    /// The side must be what one of these domain names resolves to (ClusterNetworkPolicy
    /// `domainNames` peers): not decidable from manifests, so such a match is "unknown (DNS)".
    pub domains: Vec<String>,
}

impl EntityMatch {
    /// Whether the side has no conditions at all.
    pub fn is_any(&self) -> bool {
        *self == EntityMatch::default()
    }
}

/// The `(source, destination)` conditions of a rule whose peer is `remote` and whose destination
/// ports are `ports`: for ingress the peer is the source, for egress it is the destination.
pub fn rule_sides(
    direction: Direction,
    remote: &EntityMatch,
    ports: &[PortSpec],
) -> (EntityMatch, EntityMatch) {
    match direction {
        Direction::Ingress => (
            remote.clone(),
            EntityMatch {
                ports: ports.to_vec(),
                ..EntityMatch::default()
            },
        ),
        Direction::Egress => (
            EntityMatch::default(),
            EntityMatch {
                ports: ports.to_vec(),
                ..remote.clone()
            },
        ),
    }
}

/// What stands in for a rule with a peer the implementation does not support (network-policy-api
/// "fail closed": an Allow/Accept rule matches nothing, a Deny or Pass rule denies everything in
/// its direction), as Calico converts it for ANP/BANP (projectcalico/calico@v3.31.7:libcalico-go/lib/backend/k8s/conversion/conversion.go#L370-L379,
/// #L502-L510) and ClusterNetworkPolicy (`clusternetworkpolicy.go@v3.32.1#L84-L96`).
pub fn failed_closed(
    action: RuleAction,
    origin: &str,
    written: usize,
    summary: String,
) -> Option<Rule> {
    match action {
        RuleAction::Allow | RuleAction::Log => None,
        RuleAction::Deny | RuleAction::Pass => Some(Rule {
            action: RuleAction::Deny,
            protocol: None,
            not_protocol: None,
            icmp: None,
            not_icmp: None,
            ip_version: None,
            source: EntityMatch::default(),
            destination: EntityMatch::default(),
            origin: origin.to_string(),
            written,
            summary,
        }),
    }
}

/// How rule summaries name ports: `any port`, `any TCP port`, `TCP 80,443`, `port http`.
pub fn describe_ports(protocol: Option<Protocol>, ports: &[PortSpec]) -> String {
    let list = || {
        ports
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    match (protocol, ports.is_empty()) {
        (None, true) => "any port".to_string(),
        (Some(p), true) => format!("any {p} port"),
        (Some(p), false) => format!("{p} {}", list()),
        (None, false) => format!("port {}", list()),
    }
}

/// One rule of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// What a match does.
    pub action: RuleAction,
    /// Only packets of this protocol.
    pub protocol: Option<ProtocolMatch>,
    /// Never packets of this protocol.
    pub not_protocol: Option<ProtocolMatch>,
    /// ICMP type/code (only with protocol ICMP).
    pub icmp: Option<IcmpMatch>,
    /// ICMP type/code the packet must not have.
    pub not_icmp: Option<IcmpMatch>,
    /// IP family (4 or 6), if constrained.
    pub ip_version: Option<u8>,
    /// Conditions on the packet's source.
    pub source: EntityMatch,
    /// Conditions on the packet's destination (and port).
    pub destination: EntityMatch,
    /// Where in the policy the rule was written, e.g. `spec.ingress[0].from[1]`.
    pub origin: String,
    /// The 0-based index of the rule as written in the policy's list for its direction (a
    /// Kubernetes or admin rule with several peers or protocols becomes several rules here).
    pub written: usize,
    /// The rule as a short human text, for explanations.
    pub summary: String,
}

/// Identifies a policy: its kind, namespace (for namespaced kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyId {
    /// The kind.
    pub kind: PolicyKind,
    /// The namespace (namespaced kinds only).
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind.short(), self.name),
            None => write!(f, "{} {}", self.kind.short(), self.name),
        }
    }
}

/// A policy in the common rule model.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Kind, namespace, name.
    pub id: PolicyId,
    /// The tier it belongs to.
    pub tier: String,
    /// Its order in the tier (lower first; `None` last).
    pub order: Option<f64>,
    /// Which endpoints it applies to (over policy labels).
    pub subject: Selector,
    /// Ingress rules; `None` when the policy does not apply to ingress.
    pub ingress: Option<Vec<Rule>>,
    /// Egress rules; `None` when the policy does not apply to egress.
    pub egress: Option<Vec<Rule>>,
    /// Where it was declared.
    pub source: Source,
}

impl Policy {
    /// The rules for `direction`, if the policy applies in that direction.
    pub fn rules(&self, direction: Direction) -> Option<&[Rule]> {
        match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }
}

/// Decodes a policy document into `T`, whose structs deny unknown fields. A field `T` does not
/// know is refused as unsupported, with its full path: the oracle would otherwise ignore it and
/// predict something the cluster does not do.
fn decode<T: DeserializeOwned>(doc: &Document) -> Result<T, ManifestError> {
    doc.typed().map_err(|e| match e {
        ManifestError::Invalid { at, field, message } if message.starts_with("unknown field") => {
            let name = message.split('`').nth(1).unwrap_or_default();
            let field = match (field.is_empty(), field.ends_with(name)) {
                (_, true) => field,
                (true, false) => name.to_string(),
                (false, false) => format!("{field}.{name}"),
            };
            ManifestError::Unsupported {
                at,
                field,
                message: format!("{message}: the oracle would ignore it, so it refuses it"),
            }
        }
        other => other,
    })
}

/// Formats an order for explanations (`1000`, `2000.5`, or `last` when unset).
pub fn format_order(order: Option<f64>) -> String {
    match order {
        None => "last".to_string(),
        Some(o) if o.fract() == 0.0 && o.abs() < 1e15 => format!("{}", o as i64),
        Some(o) => format!("{o}"),
    }
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
