//! One side (source or destination) of a Calico rule converted: selectors in their namespace
//! scope, service accounts, nets and ports.

use std::fmt::Write as _;

use ipnet::IpNet;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::rule::supports_ports;
use super::{EntityDoc, ServiceAccountsDoc, Side, non_empty, parse_selector};
use crate::manifest::{Document, ManifestError, json_type};
use crate::policy::k8s::describe;
use crate::policy::labels::{
    SERVICE_ACCOUNT, and, in_namespace, namespace_scope, service_account_scope,
};
use crate::policy::{EntityMatch, PortSpec, ProtocolMatch, Selector};

/// Converts one side of a rule. `protocol` is `Some(rule protocol)` for the destination (whose
/// ports are modelled) and `None` for the source (whose ports are refused).
pub(super) fn convert_side(
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
pub(super) fn parse_nets(
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
pub(super) fn check_nets(
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
pub(super) fn parse_ports(
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

pub(super) fn join(nets: &[IpNet]) -> String {
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn describe_ports(word: &str, ports: &[PortSpec]) -> String {
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
