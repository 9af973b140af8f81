//! Calico projectcalico.org/v3 NetworkPolicy, GlobalNetworkPolicy and Tier, converted as Calico
//! v3.29–v3.31 (libcalico-go's update processors) hands them to Felix.
//!
//! - **Ordering:** `spec.tier` (default `default`), `spec.order` (omitted = last). A policy in
//!   tier `t` is named `t.<name>` (v3.29–v3.31 require it outside `default`) or, as v3.32 allows,
//!   plainly; in `default` the `default.` prefix is optional (`default.x` and `x` are one policy).
//! - **Types:** when `spec.types` is empty it defaults from the rules present: egress rules only →
//!   `[Egress]`, both → `[Ingress, Egress]`, otherwise `[Ingress]`.
//! - **Policy selector:** a NetworkPolicy's `selector` is ANDed with
//!   `projectcalico.org/namespace == '<ns>'`; a GlobalNetworkPolicy's is not, and its
//!   `namespaceSelector` is ANDed in over the namespace's labels (`pcns.`, `all()` = any
//!   namespaced endpoint). `serviceAccountSelector` is ANDed in over the service account's labels.
//! - **Rule selectors:** a side's effective selector is `(nsScope) && (saSelector && selector)`,
//!   where `nsScope` is the rule's `namespaceSelector` (rewritten as above, `global()` = no
//!   namespaced endpoint) or, in a NetworkPolicy, the policy's own namespace. The scope is added
//!   only when the side has a `selector`, `serviceAccounts`, `notSelector` or `namespaceSelector`;
//!   `notSelector` itself is never scoped. A GlobalNetworkPolicy side without `namespaceSelector`
//!   is unscoped.
//!
//! What the oracle cannot predict is refused as `unsupported:` with its field: `http` (application
//! layer), `services`, source `ports`/`notPorts`, `doNotTrack`/`preDNAT`/`applyOnForward`,
//! `notICMP` without protocol ICMP, and any field the structs below do not know. What Calico's
//! validation rejects is refused as invalid (selector syntax with its position, port ranges,
//! numeric ports without TCP/UDP/SCTP, CIDRs with host bits or mixed families, `global()` outside
//! a rule's `namespaceSelector`, …).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ipnet::IpNet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::k8s::describe;
use super::labels::{SERVICE_ACCOUNT, and, in_namespace, namespace_scope, service_account_scope};
use super::{
    DEFAULT_TIER, Direction, EntityMatch, IcmpMatch, Policy, PolicyId, PolicyKind, PortSpec,
    ProtocolMatch, Rule, RuleAction, Selector, Tier, TierDefault, decode,
};
use crate::manifest::{Document, ManifestError, json_type};
use crate::model::Protocol;

/// The only API version of Calico's policy resources.
pub const API_VERSION: &str = "projectcalico.org/v3";

/// A NetworkPolicy or GlobalNetworkPolicy as written (the two share one struct; fields only one
/// kind has are checked by [`convert`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicyDoc {
    #[serde(rename = "apiVersion")]
    _api_version: IgnoredAny,
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    #[serde(rename = "metadata")]
    _metadata: ObjectMeta,
    spec: Option<PolicySpecDoc>,
}

/// `spec` of a NetworkPolicy or GlobalNetworkPolicy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicySpecDoc {
    tier: Option<String>,
    order: Option<f64>,
    selector: Option<String>,
    namespace_selector: Option<String>,
    service_account_selector: Option<String>,
    types: Option<Vec<String>>,
    ingress: Option<Vec<RuleDoc>>,
    egress: Option<Vec<RuleDoc>>,
    do_not_track: Option<bool>,
    #[serde(rename = "preDNAT")]
    pre_dnat: Option<bool>,
    apply_on_forward: Option<bool>,
    performance_hints: Option<Vec<String>>,
}

/// One rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuleDoc {
    action: String,
    ip_version: Option<i64>,
    protocol: Option<Value>,
    not_protocol: Option<Value>,
    icmp: Option<IcmpDoc>,
    #[serde(rename = "notICMP")]
    not_icmp: Option<IcmpDoc>,
    source: Option<EntityDoc>,
    destination: Option<EntityDoc>,
    http: Option<Value>,
    #[serde(rename = "metadata")]
    _metadata: Option<RuleMetadataDoc>,
}

/// `icmp` / `notICMP`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IcmpDoc {
    #[serde(rename = "type")]
    icmp_type: Option<i64>,
    code: Option<i64>,
}

/// `metadata` of a rule: annotations only, which do not affect matching.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleMetadataDoc {
    #[serde(rename = "annotations")]
    _annotations: Option<BTreeMap<String, String>>,
}

/// `source` / `destination` of a rule.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EntityDoc {
    nets: Option<Vec<String>>,
    not_nets: Option<Vec<String>>,
    selector: Option<String>,
    not_selector: Option<String>,
    namespace_selector: Option<String>,
    ports: Option<Vec<Value>>,
    not_ports: Option<Vec<Value>>,
    service_accounts: Option<ServiceAccountsDoc>,
    services: Option<Value>,
}

/// `serviceAccounts` of a rule side.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceAccountsDoc {
    names: Option<Vec<String>>,
    selector: Option<String>,
}

/// A Tier as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TierDoc {
    #[serde(rename = "apiVersion")]
    _api_version: IgnoredAny,
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    #[serde(rename = "metadata")]
    _metadata: ObjectMeta,
    spec: Option<TierSpecDoc>,
    #[serde(rename = "status")]
    _status: Option<IgnoredAny>,
}

/// `spec` of a Tier.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TierSpecDoc {
    order: Option<f64>,
    default_action: Option<String>,
}

/// Converts a Calico NetworkPolicy or GlobalNetworkPolicy.
pub fn convert(doc: &Document) -> Result<Policy, ManifestError> {
    check_api_version(doc)?;
    let global = match doc.kind() {
        "NetworkPolicy" => false,
        "GlobalNetworkPolicy" => true,
        other => return Err(doc.unsupported("kind", format!("projectcalico.org {other}"))),
    };
    let parsed: PolicyDoc = decode(doc)?;
    let spec = parsed.spec.unwrap_or_default();
    let namespace = if global {
        None
    } else {
        Some(doc.namespace().unwrap_or("default").to_string())
    };

    let tier = match spec.tier.as_deref() {
        None | Some("") => DEFAULT_TIER.to_string(),
        Some(t) => {
            check_dns_label(doc, "spec.tier", t)?;
            t.to_string()
        }
    };
    let name = policy_name(doc, &tier)?;

    if !global {
        // Fields only a GlobalNetworkPolicy has.
        for (field, set) in [
            ("namespaceSelector", spec.namespace_selector.is_some()),
            ("doNotTrack", spec.do_not_track.is_some()),
            ("preDNAT", spec.pre_dnat.is_some()),
            ("applyOnForward", spec.apply_on_forward.is_some()),
        ] {
            if set {
                return Err(doc.invalid(
                    format!("spec.{field}"),
                    format!(
                        "a namespaced NetworkPolicy has no `{field}` (only GlobalNetworkPolicy)"
                    ),
                ));
            }
        }
    }
    for (field, value) in [
        ("doNotTrack", spec.do_not_track),
        ("preDNAT", spec.pre_dnat),
        ("applyOnForward", spec.apply_on_forward),
    ] {
        if value == Some(true) {
            return Err(doc.unsupported(
                format!("spec.{field}"),
                format!(
                    "`{field}: true` policies are for host endpoints (untracked, pre-DNAT or forwarded traffic), which the oracle does not model"
                ),
            ));
        }
    }
    for (i, hint) in spec.performance_hints.iter().flatten().enumerate() {
        if hint != "AssumeNeededOnEveryNode" {
            return Err(doc.invalid(
                format!("spec.performanceHints[{i}]"),
                format!("unknown performance hint `{hint}` (expected AssumeNeededOnEveryNode)"),
            ));
        }
    }
    let order = match spec.order {
        Some(o) if !o.is_finite() => {
            return Err(doc.invalid("spec.order", "must be a finite number"));
        }
        o => o,
    };

    // The policy selector, as libcalico-go's update processors build it.
    let selector = top_selector(doc, "spec.selector", spec.selector.as_deref())?;
    let mut subject = match &namespace {
        Some(ns) => and(selector, in_namespace(ns)),
        None => selector,
    };
    if let Some(text) = non_empty(spec.namespace_selector.as_deref()) {
        let ns_selector = top_selector(doc, "spec.namespaceSelector", Some(text))?;
        subject = and(subject, namespace_scope(&ns_selector));
    }
    if let Some(text) = non_empty(spec.service_account_selector.as_deref()) {
        let sa_selector = top_selector(doc, "spec.serviceAccountSelector", Some(text))?;
        subject = and(subject, service_account_scope(&sa_selector));
    }

    let types = policy_types(doc, &spec)?;
    let scope = namespace.as_deref();
    let mut ingress = None;
    let mut egress = None;
    for direction in types {
        let (field, rules) = match direction {
            Direction::Ingress => ("ingress", &spec.ingress),
            Direction::Egress => ("egress", &spec.egress),
        };
        let converted = rules
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| convert_rule(doc, scope, (&format!("spec.{field}[{i}]"), i), r))
            .collect::<Result<Vec<_>, _>>()?;
        match direction {
            Direction::Ingress => ingress = Some(converted),
            Direction::Egress => egress = Some(converted),
        }
    }
    // Rules of a direction the policy does not apply in are still validated, as Calico does.
    for (field, rules, applies) in [
        ("ingress", &spec.ingress, ingress.is_some()),
        ("egress", &spec.egress, egress.is_some()),
    ] {
        if !applies {
            for (i, r) in rules.iter().flatten().enumerate() {
                convert_rule(doc, scope, (&format!("spec.{field}[{i}]"), i), r)?;
            }
        }
    }

    Ok(Policy {
        id: PolicyId {
            kind: if global {
                PolicyKind::CalicoGlobalNetworkPolicy
            } else {
                PolicyKind::CalicoNetworkPolicy
            },
            namespace,
            name,
        },
        tier,
        order,
        subject,
        ingress,
        egress,
        source: doc.source.clone(),
    })
}

/// Converts a Calico Tier.
///
/// The built-in tiers (`default`, `adminnetworkpolicy`, `baselineadminnetworkpolicy`) may be
/// declared, but only with their fixed order and default action, as Calico's validation demands.
pub fn convert_tier(doc: &Document) -> Result<Tier, ManifestError> {
    check_api_version(doc)?;
    let spec = decode::<TierDoc>(doc)?.spec.unwrap_or_default();
    let name = match doc.name() {
        "" => return Err(doc.invalid("metadata.name", "missing")),
        n => n.to_string(),
    };
    check_dns_label(doc, "metadata.name", &name)?;
    let default_action = match spec.default_action.as_deref() {
        None | Some("Deny") => TierDefault::Deny,
        Some("Pass") => TierDefault::Pass,
        Some(other) => {
            return Err(doc.invalid(
                "spec.defaultAction",
                format!("unknown default action `{other}` (expected Deny or Pass)"),
            ));
        }
    };
    let order = match spec.order {
        Some(o) if !o.is_finite() => {
            return Err(doc.invalid("spec.order", "must be a finite number"));
        }
        o => o,
    };
    if let Some(builtin) = Tier::builtin().into_iter().find(|t| t.name == name) {
        if order != builtin.order {
            return Err(doc.invalid(
                "spec.order",
                format!(
                    "the built-in tier `{name}` must have order {}",
                    super::format_order(builtin.order)
                ),
            ));
        }
        if default_action != builtin.default_action {
            return Err(doc.invalid(
                "spec.defaultAction",
                format!(
                    "the built-in tier `{name}` must have default action {:?}",
                    builtin.default_action
                ),
            ));
        }
    }
    Ok(Tier {
        name,
        order,
        default_action,
        source: Some(doc.source.clone()),
    })
}

fn check_api_version(doc: &Document) -> Result<(), ManifestError> {
    if doc.api_version() == API_VERSION {
        Ok(())
    } else {
        Err(doc.unsupported(
            "apiVersion",
            format!(
                "{} {} (the oracle models {API_VERSION})",
                doc.api_version(),
                doc.kind()
            ),
        ))
    }
}

/// A lowercase RFC 1123 label, `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, of at most `max` characters.
fn is_dns_label(s: &str, max: usize) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.len() <= max
        && s.starts_with(alnum)
        && s.ends_with(alnum)
        && s.chars().all(|c| alnum(c) || c == '-')
}

/// Tier names are labels of at most 63 characters (they appear in label values).
fn check_dns_label(doc: &Document, field: &str, s: &str) -> Result<(), ManifestError> {
    if is_dns_label(s, 63) {
        Ok(())
    } else {
        Err(doc.invalid(
            field,
            format!(
                "`{s}` is not a lowercase RFC 1123 label (a-z, 0-9 and '-', at most 63 characters)"
            ),
        ))
    }
}

/// The part of a policy name after its tier: Calico's name pattern is a label, with the whole
/// name at most 253 characters.
fn check_policy_name(doc: &Document, name: &str, part: &str) -> Result<(), ManifestError> {
    if is_dns_label(part, 253) && name.len() <= 253 {
        Ok(())
    } else {
        Err(doc.invalid(
            "metadata.name",
            format!(
                "`{name}` is not a valid policy name (a-z, 0-9 and '-' after the optional `<tier>.`, at most 253 characters)"
            ),
        ))
    }
}

/// The policy's name as Calico reports it: `t.<name>` or plain `<name>` in tier `t` (v3.29–v3.31
/// required the prefix outside the default tier, v3.32 no longer does); a prefix naming another
/// tier is refused; in the default tier the `default.` prefix is optional and dropped
/// (`default.x` and `x` are one policy).
fn policy_name(doc: &Document, tier: &str) -> Result<String, ManifestError> {
    let name = doc.name();
    if name.is_empty() {
        return Err(doc.invalid("metadata.name", "missing"));
    }
    let bad = |why: String| Err(doc.invalid("metadata.name", why));
    match name.split_once('.') {
        // v3.29–v3.31 required the prefix outside the default tier; v3.32 dropped that rule
        // (projectcalico/calico#11232).
        None => {
            check_policy_name(doc, name, name)?;
            Ok(name.to_string())
        }
        Some((prefix, rest)) if prefix == tier => {
            check_policy_name(doc, name, rest)?;
            Ok(if tier == DEFAULT_TIER {
                rest.to_string()
            } else {
                name.to_string()
            })
        }
        Some((prefix, _)) => bad(format!(
            "`{name}` names tier `{prefix}` but the policy is in tier `{tier}` (set spec.tier, or name it `{tier}.<name>`)"
        )),
    }
}

/// `Some(text)` unless the field is absent or the empty string (which Calico treats as absent).
fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.is_empty())
}

/// Parses a selector at `field`, naming the position of a syntax error.
fn parse_selector(doc: &Document, field: &str, text: &str) -> Result<Selector, ManifestError> {
    Selector::parse(text).map_err(|e| doc.invalid(field, e.to_string()))
}

/// A policy-level selector (`selector`, `namespaceSelector`, `serviceAccountSelector`), where
/// Calico forbids `global()`. Absent or empty = `all()`.
fn top_selector(
    doc: &Document,
    field: &str,
    text: Option<&str>,
) -> Result<Selector, ManifestError> {
    let text = text.unwrap_or("");
    if text.contains("global(") {
        return Err(doc.invalid(
            field,
            "global() can only be used in a rule's namespaceSelector",
        ));
    }
    parse_selector(doc, field, text)
}

fn policy_types(doc: &Document, spec: &PolicySpecDoc) -> Result<Vec<Direction>, ManifestError> {
    let has_ingress = spec.ingress.as_ref().is_some_and(|r| !r.is_empty());
    let has_egress = spec.egress.as_ref().is_some_and(|r| !r.is_empty());
    match spec.types.as_deref() {
        None | Some([]) => Ok(match (has_ingress, has_egress) {
            (true, true) => vec![Direction::Ingress, Direction::Egress],
            (false, true) => vec![Direction::Egress],
            _ => vec![Direction::Ingress],
        }),
        Some(list) => {
            let mut out = Vec::new();
            for (i, t) in list.iter().enumerate() {
                let field = format!("spec.types[{i}]");
                let d = match t.as_str() {
                    "Ingress" => Direction::Ingress,
                    "Egress" => Direction::Egress,
                    other => {
                        return Err(doc.invalid(
                            field,
                            format!("unknown policy type `{other}` (expected Ingress or Egress)"),
                        ));
                    }
                };
                if out.contains(&d) {
                    return Err(doc.invalid(field, format!("`{t}` is listed twice")));
                }
                out.push(d);
            }
            Ok(out)
        }
    }
}

/// A side of a rule, validated and converted, with its text for the summary.
struct Side {
    entity: EntityMatch,
    text: String,
}

fn convert_rule(
    doc: &Document,
    namespace: Option<&str>,
    (at, written): (&str, usize),
    rule: &RuleDoc,
) -> Result<Rule, ManifestError> {
    let action = match rule.action.as_str() {
        "Allow" => RuleAction::Allow,
        "Deny" => RuleAction::Deny,
        "Pass" => RuleAction::Pass,
        "Log" => RuleAction::Log,
        other => {
            return Err(doc.invalid(
                format!("{at}.action"),
                format!("unknown action `{other}` (expected Allow, Deny, Pass or Log)"),
            ));
        }
    };
    if rule.http.is_some() {
        return Err(doc.unsupported(
            format!("{at}.http"),
            "HTTP match is application-layer policy (it needs Calico's ALP/Envoy), which the oracle does not model",
        ));
    }
    let ip_version = match rule.ip_version {
        None => None,
        Some(v @ (4 | 6)) => Some(v as u8),
        Some(other) => {
            return Err(doc.invalid(
                format!("{at}.ipVersion"),
                format!("{other} is not an IP version (expected 4 or 6)"),
            ));
        }
    };
    let protocol = rule
        .protocol
        .as_ref()
        .map(|p| parse_protocol(doc, &format!("{at}.protocol"), p))
        .transpose()?;
    let not_protocol = rule
        .not_protocol
        .as_ref()
        .map(|p| parse_protocol(doc, &format!("{at}.notProtocol"), p))
        .transpose()?;
    for (field, p) in [("protocol", protocol), ("notProtocol", not_protocol)] {
        let Some(p) = p else { continue };
        let needs = if is_icmp_v4(p) {
            Some(4)
        } else if is_icmp_v6(p) {
            Some(6)
        } else {
            None
        };
        if let (Some(need), Some(v)) = (needs, ip_version)
            && need != v
        {
            return Err(doc.invalid(
                format!("{at}.ipVersion"),
                format!("{field} {p} requires ipVersion {need}"),
            ));
        }
    }
    let icmp_protocol = protocol.is_some_and(|p| is_icmp_v4(p) || is_icmp_v6(p));
    let icmp = rule
        .icmp
        .as_ref()
        .map(|m| parse_icmp(doc, &format!("{at}.icmp"), m))
        .transpose()?
        .flatten();
    if rule.icmp.is_some() && !icmp_protocol {
        return Err(doc.invalid(
            format!("{at}.icmp"),
            "ICMP fields require protocol ICMP or ICMPv6",
        ));
    }
    let not_icmp = rule
        .not_icmp
        .as_ref()
        .map(|m| parse_icmp(doc, &format!("{at}.notICMP"), m))
        .transpose()?
        .flatten();
    if not_icmp.is_some() && !icmp_protocol {
        return Err(doc.unsupported(
            format!("{at}.notICMP"),
            "notICMP without protocol ICMP or ICMPv6 has no defined dataplane behaviour (iptables' icmp match needs -p icmp)",
        ));
    }

    let empty = EntityDoc::default();
    let source = convert_side(
        doc,
        namespace,
        &format!("{at}.source"),
        rule.source.as_ref().unwrap_or(&empty),
        None,
    )?;
    let destination = convert_side(
        doc,
        namespace,
        &format!("{at}.destination"),
        rule.destination.as_ref().unwrap_or(&empty),
        Some(protocol),
    )?;
    check_nets(doc, at, ip_version, &source.entity, &destination.entity)?;

    let mut summary = action.to_string().to_lowercase();
    if let Some(v) = ip_version {
        let _ = write!(summary, " IPv{v}");
    }
    match protocol {
        Some(p) => {
            let _ = write!(summary, " {p}");
        }
        None if not_protocol.is_none() => summary.push_str(" all traffic"),
        None => {}
    }
    if let Some(m) = icmp {
        let _ = write!(summary, " {}", describe_icmp(m));
    }
    if let Some(p) = not_protocol {
        let _ = write!(summary, " except {p}");
    }
    if let Some(m) = not_icmp {
        let _ = write!(summary, " except {}", describe_icmp(m));
    }
    if !destination.text.is_empty() {
        let _ = write!(summary, " to {}", destination.text);
    }
    if !source.text.is_empty() {
        let _ = write!(summary, " from {}", source.text);
    }

    Ok(Rule {
        action,
        protocol,
        not_protocol,
        icmp,
        not_icmp,
        ip_version,
        source: source.entity,
        destination: destination.entity,
        origin: at.to_string(),
        written,
        summary,
    })
}

/// Parses `protocol`/`notProtocol`: TCP, UDP, ICMP, ICMPv6, SCTP or UDPLite (exact case), or a
/// number 1-255 (also as a string of digits, as Calico accepts).
fn parse_protocol(
    doc: &Document,
    field: &str,
    value: &Value,
) -> Result<ProtocolMatch, ManifestError> {
    let number = |n: u64| -> Result<ProtocolMatch, ManifestError> {
        match u8::try_from(n) {
            Ok(n) if n > 0 => Ok(match n {
                1 => ProtocolMatch::Known(Protocol::Icmp),
                6 => ProtocolMatch::Known(Protocol::Tcp),
                17 => ProtocolMatch::Known(Protocol::Udp),
                132 => ProtocolMatch::Known(Protocol::Sctp),
                other => ProtocolMatch::Other(other),
            }),
            _ => Err(doc.invalid(field, format!("{n} is not a protocol number (1-255)"))),
        }
    };
    match value {
        Value::Number(n) => match n.as_u64() {
            Some(n) => number(n),
            None => Err(doc.invalid(field, format!("{n} is not a protocol number (1-255)"))),
        },
        Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => {
            number(s.parse().unwrap_or(u64::MAX))
        }
        Value::String(s) => match s.as_str() {
            "TCP" => Ok(ProtocolMatch::Known(Protocol::Tcp)),
            "UDP" => Ok(ProtocolMatch::Known(Protocol::Udp)),
            "SCTP" => Ok(ProtocolMatch::Known(Protocol::Sctp)),
            "ICMP" => Ok(ProtocolMatch::Known(Protocol::Icmp)),
            "ICMPv6" => Ok(ProtocolMatch::Other(58)),
            "UDPLite" => Ok(ProtocolMatch::Other(136)),
            other => Err(doc.invalid(
                field,
                format!(
                    "unknown protocol `{other}` (expected TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255, exact case)"
                ),
            )),
        },
        other => Err(doc.invalid(
            field,
            format!("expected a protocol name or number, found {}", json_type(other)),
        )),
    }
}

fn is_icmp_v4(p: ProtocolMatch) -> bool {
    p == ProtocolMatch::Known(Protocol::Icmp)
}

fn is_icmp_v6(p: ProtocolMatch) -> bool {
    p == ProtocolMatch::Other(58)
}

/// Whether numeric ports may be used with this protocol (TCP, UDP, SCTP).
fn supports_ports(p: ProtocolMatch) -> bool {
    matches!(
        p,
        ProtocolMatch::Known(Protocol::Tcp | Protocol::Udp | Protocol::Sctp)
    )
}

/// Parses `{type, code}`; `{}` constrains nothing.
fn parse_icmp(doc: &Document, at: &str, m: &IcmpDoc) -> Result<Option<IcmpMatch>, ManifestError> {
    let icmp_type = match m.icmp_type {
        None => None,
        Some(t) => Some(u8::try_from(t).ok().filter(|&t| t <= 254).ok_or_else(|| {
            doc.invalid(
                format!("{at}.type"),
                format!("{t} is not an ICMP type (0-254)"),
            )
        })?),
    };
    let code = match m.code {
        None => None,
        Some(c) => Some(u8::try_from(c).map_err(|_| {
            doc.invalid(
                format!("{at}.code"),
                format!("{c} is not an ICMP code (0-255)"),
            )
        })?),
    };
    match (icmp_type, code) {
        (None, None) => Ok(None),
        (None, Some(_)) => {
            Err(doc.invalid(format!("{at}.code"), "an ICMP code needs an ICMP type"))
        }
        (Some(icmp_type), code) => Ok(Some(IcmpMatch { icmp_type, code })),
    }
}

fn describe_icmp(m: IcmpMatch) -> String {
    match m.code {
        Some(c) => format!("type {} code {c}", m.icmp_type),
        None => format!("type {}", m.icmp_type),
    }
}

/// Converts one side of a rule. `protocol` is `Some(rule protocol)` for the destination (whose
/// ports are modelled) and `None` for the source (whose ports are refused).
fn convert_side(
    doc: &Document,
    namespace: Option<&str>,
    at: &str,
    side: &EntityDoc,
    protocol: Option<Option<ProtocolMatch>>,
) -> Result<Side, ManifestError> {
    if side.services.is_some() {
        return Err(doc.unsupported(
            format!("{at}.services"),
            "matching Kubernetes Services in rules is not modelled",
        ));
    }
    let mut pieces: Vec<String> = Vec::new();

    // Selectors, scoped as libcalico-go's GetEntityRuleSelector does.
    let selector_text = non_empty(side.selector.as_deref());
    let selector = match selector_text {
        None => None,
        Some(text) => {
            let field = format!("{at}.selector");
            if text.contains("global(") {
                return Err(doc.invalid(
                    field,
                    "global() can only be used in a rule's namespaceSelector",
                ));
            }
            Some(parse_selector(doc, &field, text)?)
        }
    };
    let ns_text = non_empty(side.namespace_selector.as_deref());
    let ns_selector = match ns_text {
        None => None,
        Some(text) => {
            let field = format!("{at}.namespaceSelector");
            let parsed = parse_selector(doc, &field, text)?;
            if text.contains("global(")
                && (parsed != Selector::Global || text.matches('(').count() != 1)
            {
                return Err(doc.invalid(field, "global() cannot be combined with other selectors"));
            }
            Some(parsed)
        }
    };
    let not_selector = non_empty(side.not_selector.as_deref())
        .map(|text| parse_selector(doc, &format!("{at}.notSelector"), text))
        .transpose()?;
    let sa = side
        .service_accounts
        .as_ref()
        .map(|sa| service_accounts(doc, &format!("{at}.serviceAccounts"), sa))
        .transpose()?
        .flatten();

    let mut terms: Vec<Selector> = Vec::new();
    if let Some((s, _)) = &sa {
        terms.push(s.clone());
    }
    if let Some(s) = &selector {
        terms.push(s.clone());
    }
    let endpoint_selector = match terms.len() {
        0 => None,
        1 => terms.pop(),
        _ => Some(Selector::And(terms)),
    };
    let scope = match (&ns_selector, namespace) {
        (Some(s), _) => Some(namespace_scope(s)),
        (None, Some(ns)) => Some(in_namespace(ns)),
        (None, None) => None,
    };
    let effective = match scope {
        Some(scope)
            if endpoint_selector.is_some() || not_selector.is_some() || ns_selector.is_some() =>
        {
            Some(match endpoint_selector {
                Some(s) => and(scope, s),
                None => scope,
            })
        }
        _ => endpoint_selector,
    };

    // Text: "endpoints [app == 'x'] with service accounts [a] in namespaces [y]".
    if effective.is_some() {
        let mut text = match &selector {
            Some(s) => format!("endpoints [{}]", describe(s)),
            None if ns_selector.is_some() && sa.is_none() => String::new(),
            None => "endpoints".to_string(),
        };
        if let Some((_, sa_text)) = &sa {
            let _ = write!(text, " with service accounts [{sa_text}]");
        }
        let where_ = match (&ns_selector, namespace) {
            (Some(Selector::Global), _) => "non-namespaced endpoints (global())".to_string(),
            (Some(s), _) => format!("namespaces [{}]", describe(s)),
            (None, Some(ns)) => format!("namespace {ns}"),
            (None, None) => String::new(),
        };
        let text = match (text.trim().is_empty(), where_.is_empty()) {
            (true, _) => where_,
            (false, true) => text.trim().to_string(),
            (false, false) => format!("{} in {where_}", text.trim()),
        };
        pieces.push(text);
    }
    if let Some(s) = &not_selector {
        pieces.push(format!("not endpoints [{}]", describe(s)));
    }

    let nets = parse_nets(doc, &format!("{at}.nets"), side.nets.as_deref(), false)?;
    let not_nets = parse_nets(
        doc,
        &format!("{at}.notNets"),
        side.not_nets.as_deref(),
        true,
    )?;
    if !nets.is_empty() {
        pieces.push(join(&nets));
    }
    if !not_nets.is_empty() {
        pieces.push(format!("not {}", join(&not_nets)));
    }

    let (ports, not_ports) = match protocol {
        None => {
            for (field, list) in [("ports", &side.ports), ("notPorts", &side.not_ports)] {
                if list.as_ref().is_some_and(|l| !l.is_empty()) {
                    return Err(doc.unsupported(
                        format!("{at}.{field}"),
                        "source ports are not modelled (probes use ephemeral source ports)",
                    ));
                }
            }
            (Vec::new(), Vec::new())
        }
        Some(protocol) => (
            parse_ports(doc, &format!("{at}.ports"), side.ports.as_deref(), protocol)?,
            parse_ports(
                doc,
                &format!("{at}.notPorts"),
                side.not_ports.as_deref(),
                protocol,
            )?,
        ),
    };
    if !ports.is_empty() {
        pieces.push(describe_ports("port", &ports));
    }
    if !not_ports.is_empty() {
        pieces.push(format!("not {}", describe_ports("port", &not_ports)));
    }

    Ok(Side {
        entity: EntityMatch {
            selector: effective,
            not_selector,
            nets,
            not_nets,
            ports,
            not_ports,
            ..EntityMatch::default()
        },
        text: pieces.join(" "),
    })
}

/// `serviceAccounts {names, selector}` as a selector over policy labels (names ANDed with the
/// selector, which reads the service account's labels), with its text; `None` when empty.
fn service_accounts(
    doc: &Document,
    at: &str,
    sa: &ServiceAccountsDoc,
) -> Result<Option<(Selector, String)>, ManifestError> {
    let mut terms = Vec::new();
    let names: Vec<String> = sa.names.iter().flatten().cloned().collect();
    let mut text = names.join(", ");
    if let Some(s) = non_empty(sa.selector.as_deref()) {
        let parsed = parse_selector(doc, &format!("{at}.selector"), s)?;
        if !text.is_empty() {
            text.push_str(" with ");
        }
        let _ = write!(text, "labels [{}]", describe(&parsed));
        terms.push(service_account_scope(&parsed));
    }
    if !names.is_empty() {
        terms.push(Selector::In(
            SERVICE_ACCOUNT.into(),
            names.into_iter().collect(),
        ));
    }
    Ok(match terms.len() {
        0 => None,
        1 => terms.pop().map(|t| (t, text)),
        _ => Some((Selector::And(terms), text)),
    })
}

/// Parses `nets`/`notNets`: CIDRs with no host bits set, as Calico's validator requires.
fn parse_nets(
    doc: &Document,
    at: &str,
    list: Option<&[String]>,
    negated: bool,
) -> Result<Vec<IpNet>, ManifestError> {
    let mut out = Vec::new();
    for (i, text) in list.into_iter().flatten().enumerate() {
        let field = format!("{at}[{i}]");
        let net: IpNet = text.parse().map_err(|_| {
            doc.invalid(
                &field,
                format!("`{text}` is not a CIDR (expected e.g. 10.0.0.0/24)"),
            )
        })?;
        if net.trunc() != net {
            return Err(doc.invalid(
                field,
                format!("`{text}` has host bits set (did you mean {}?)", net.trunc()),
            ));
        }
        if negated && net.prefix_len() == 0 {
            return Err(doc.invalid(
                field,
                format!("`{text}` in notNets matches everything, so the rule could never match"),
            ));
        }
        out.push(net);
    }
    Ok(out)
}

/// Calico's CIDR consistency checks over a whole rule: one IP family, agreeing with `ipVersion`.
fn check_nets(
    doc: &Document,
    at: &str,
    ip_version: Option<u8>,
    source: &EntityMatch,
    destination: &EntityMatch,
) -> Result<(), ManifestError> {
    let fields = [
        ("source.nets", &source.nets),
        ("source.notNets", &source.not_nets),
        ("destination.nets", &destination.nets),
        ("destination.notNets", &destination.not_nets),
    ];
    let mut seen: Option<(u8, &str)> = None;
    for (field, nets) in fields {
        for net in nets {
            let family = match net {
                IpNet::V4(_) => 4,
                IpNet::V6(_) => 6,
            };
            if let Some(v) = ip_version
                && v != family
            {
                return Err(doc.invalid(
                    format!("{at}.{field}"),
                    format!("{net} is IPv{family} but the rule has ipVersion {v}"),
                ));
            }
            match seen {
                Some((f, first)) if f != family => {
                    return Err(doc.invalid(
                        format!("{at}.{field}"),
                        format!(
                            "the rule mixes IPv4 and IPv6 CIDRs ({net} here, IPv{f} in {first})"
                        ),
                    ));
                }
                _ => seen = Some((family, field)),
            }
        }
    }
    Ok(())
}

/// Parses destination `ports`/`notPorts`: numbers, `"a:b"` ranges (inclusive) and port names.
/// Numeric ports need protocol TCP, UDP or SCTP; with another protocol no port may be given.
fn parse_ports(
    doc: &Document,
    at: &str,
    list: Option<&[Value]>,
    protocol: Option<ProtocolMatch>,
) -> Result<Vec<PortSpec>, ManifestError> {
    let list = list.unwrap_or_default();
    if list.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(p) = protocol
        && !supports_ports(p)
    {
        return Err(doc.invalid(
            at,
            format!("rules that specify ports must set protocol to TCP, UDP or SCTP (not {p})"),
        ));
    }
    let mut out = Vec::new();
    for (i, value) in list.iter().enumerate() {
        let field = format!("{at}[{i}]");
        let number = |n: u64| -> Result<u16, ManifestError> {
            u16::try_from(n)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| doc.invalid(&field, format!("{n} is not a port number (1-65535)")))
        };
        let spec = match value {
            Value::Number(n) => match n.as_u64() {
                Some(n) => {
                    let p = number(n)?;
                    PortSpec::Range(p, p)
                }
                None => {
                    return Err(doc.invalid(&field, format!("{n} is not a port number (1-65535)")));
                }
            },
            Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => {
                let p = number(s.parse().unwrap_or(u64::MAX))?;
                PortSpec::Range(p, p)
            }
            Value::String(s) if s.contains(':') => {
                let range = s.split_once(':').and_then(|(a, b)| {
                    let digits = |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit());
                    (digits(a) && digits(b)).then(|| {
                        (
                            a.parse::<u64>().unwrap_or(u64::MAX),
                            b.parse::<u64>().unwrap_or(u64::MAX),
                        )
                    })
                });
                let Some((a, b)) = range else {
                    return Err(doc.invalid(
                        &field,
                        format!("`{s}` is not a port, a range `first:last` or a port name"),
                    ));
                };
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(doc.invalid(
                        &field,
                        format!(
                            "`{s}`: the range's first port {a} is greater than its last port {b}"
                        ),
                    ));
                }
                PortSpec::Range(a, b)
            }
            Value::String(s) => {
                match crate::model::build_port_ref(&IntOrString::String(s.clone()))
                    .map_err(|m| doc.invalid(&field, m))?
                {
                    crate::model::PortRef::Name(n) => PortSpec::Named(n),
                    crate::model::PortRef::Number(n) => PortSpec::Range(n, n),
                }
            }
            other => {
                return Err(doc.invalid(
                    &field,
                    format!(
                        "expected a port number, range or name, found {}",
                        json_type(other)
                    ),
                ));
            }
        };
        if protocol.is_none() && matches!(spec, PortSpec::Range(..)) {
            return Err(doc.invalid(
                &field,
                "rules with a numeric port or port range must set protocol to TCP, UDP or SCTP",
            ));
        }
        out.push(spec);
    }
    Ok(out)
}

fn join(nets: &[IpNet]) -> String {
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_ports(word: &str, ports: &[PortSpec]) -> String {
    let list = ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if ports.len() == 1 && !matches!(ports[0], PortSpec::Range(a, b) if a != b) {
        format!("{word} {list}")
    } else {
        format!("{word}s {list}")
    }
}

#[cfg(test)]
mod tests;
