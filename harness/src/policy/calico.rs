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
//!
//! This module decodes the documents and converts policies and tiers; `rule` converts one rule
//! (action, protocol, ICMP) and `side` one side of it (selectors, service accounts, nets, ports).

mod rule;
mod side;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::labels::{and, in_namespace, namespace_scope, service_account_scope};
use super::{
    DEFAULT_TIER, Direction, EntityMatch, Policy, PolicyId, PolicyKind, Selector, Tier,
    TierDefault, decode,
};
use crate::manifest::{Document, ManifestError};
use rule::convert_rule;

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

#[cfg(test)]
mod tests;
