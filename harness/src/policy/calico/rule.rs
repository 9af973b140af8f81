//! One Calico rule converted: its action, protocol and ICMP match, with both sides.

use std::fmt::Write as _;

use serde_json::Value;

use super::side::{check_nets, convert_side};
use super::{EntityDoc, IcmpDoc, RuleDoc};
use crate::manifest::{Document, ManifestError, json_type};
use crate::model::Protocol;
use crate::policy::{IcmpMatch, ProtocolMatch, Rule, RuleAction};

pub(super) fn convert_rule(
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
pub(super) fn supports_ports(p: ProtocolMatch) -> bool {
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
