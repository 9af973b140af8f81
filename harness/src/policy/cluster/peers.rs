//! ClusterNetworkPolicy egress peers: pods, namespaces, networks, nodes and domain names, each
//! converted or reported as one the implementation does not support.

use super::{
    Ctx, EgressPeerDoc, MAX_CIDR_LENGTH, MAX_ITEMS, PeerMatch, PeerOutcome, selector_peer,
};
use crate::manifest::Document;
use crate::manifest::ManifestError;
use crate::policy::EntityMatch;
use crate::policy::admin::{namespaces_peer, pods_peer};
use crate::policy::k8s::{describe, label_selector, parse_cidr};

impl Ctx<'_> {
    pub(super) fn egress_peer(
        &self,
        at: &str,
        p: &EgressPeerDoc,
        action: Option<&str>,
    ) -> Result<PeerOutcome, ManifestError> {
        let doc = self.doc;
        let set = [
            p.namespaces.is_some(),
            p.pods.is_some(),
            p.networks.is_some(),
            p.nodes.is_some(),
            p.domain_names.is_some(),
        ]
        .iter()
        .filter(|&&b| b)
        .count();
        if set != 1 {
            return Err(doc.invalid(
                at,
                "exactly one of `namespaces`, `pods`, `networks`, `nodes` and `domainNames` must be set",
            ));
        }
        if let Some(ns) = &p.namespaces {
            let (s, text) = namespaces_peer(doc, &format!("{at}.namespaces"), ns)?;
            return Ok(PeerOutcome::Match(Box::new(selector_peer(s, text))));
        }
        if let Some(pods) = &p.pods {
            let (s, text) = pods_peer(doc, &format!("{at}.pods"), pods)?;
            return Ok(PeerOutcome::Match(Box::new(selector_peer(s, text))));
        }
        if let Some(list) = &p.networks {
            let field = format!("{at}.networks");
            self.check_count(&field, list.len(), 1, "CIDRs")?;
            let mut nets = Vec::new();
            for (k, text) in list.iter().enumerate() {
                let f = format!("{field}[{k}]");
                if text.len() > MAX_CIDR_LENGTH {
                    return Err(doc.invalid(f, format!("longer than {MAX_CIDR_LENGTH} characters")));
                }
                if !text.contains('/') {
                    return Err(doc.invalid(
                        f,
                        format!("`{text}` is not a CIDR (Invalid CIDR format provided: expected e.g. 10.0.0.0/24)"),
                    ));
                }
                if list[..k].contains(text) {
                    return Err(
                        doc.invalid(f, format!("duplicate value `{text}` (networks is a set)"))
                    );
                }
                let net = parse_cidr(doc, &f, text)?;
                if !nets.contains(&net) {
                    nets.push(net);
                }
            }
            let text = nets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Ok(PeerOutcome::Match(Box::new(PeerMatch {
                entity: EntityMatch {
                    nets,
                    ..EntityMatch::default()
                },
                text: format!("networks {text}"),
            })));
        }
        if let Some(nodes) = &p.nodes {
            let field = format!("{at}.nodes");
            let selector = label_selector(doc, Some(&nodes.to_k8s()), &field)?;
            if !self.features.nodes {
                return Ok(PeerOutcome::Unsupported(format!(
                    "{field}: nodes peers are not supported"
                )));
            }
            return Ok(PeerOutcome::Match(Box::new(PeerMatch {
                text: format!("nodes [{}]", describe(&selector)),
                entity: EntityMatch {
                    nodes: Some(selector),
                    ..EntityMatch::default()
                },
            })));
        }
        let list = p.domain_names.as_deref().unwrap_or_default();
        let field = format!("{at}.domainNames");
        check_domain_names(doc, &field, list)?;
        if action.is_some_and(|a| a != "Accept") {
            return Err(doc.unsupported(
                field,
                "domainNames is only supported for Accept rules (v0.2.0 types.go#L396)",
            ));
        }
        if !self.features.domain_names {
            return Ok(PeerOutcome::Unsupported(format!(
                "{field}: domainNames peers are not supported"
            )));
        }
        Ok(PeerOutcome::Match(Box::new(PeerMatch {
            text: format!("domain names {}", list.join(", ")),
            entity: EntityMatch {
                domains: list.to_vec(),
                ..EntityMatch::default()
            },
        })))
    }
}

/// Checks a `domainNames` list as the CRDs do (ClusterNetworkPolicy v0.2.0 and AdminNetworkPolicy
/// v0.1.7 alike): 1 to 25 names (MinItems=1, MaxItems=25), each matching the DomainName
/// pattern, none twice (`listType=set`).
pub(crate) fn check_domain_names(
    doc: &Document,
    field: &str,
    list: &[String],
) -> Result<(), ManifestError> {
    let n = list.len();
    if n == 0 || n > MAX_ITEMS {
        return Err(doc.invalid(
            field,
            format!("{n} domain names; the CRD allows 1 to {MAX_ITEMS} (MaxItems={MAX_ITEMS})"),
        ));
    }
    for (k, name) in list.iter().enumerate() {
        let f = format!("{field}[{k}]");
        if !valid_domain_name(name) {
            return Err(doc.invalid(
                f,
                format!("`{name}` is not a domain name (an exact name, or `*.` then a name; the CRD's pattern)"),
            ));
        }
        if list[..k].contains(name) {
            return Err(doc.invalid(
                f,
                format!("duplicate value `{name}` (domainNames is a set)"),
            ));
        }
    }
    Ok(())
}

/// The CRD's DomainName pattern,
/// `^(\*\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$`
/// (types.go#L553; `A-z` is the CRD's own, and admits `[\]^_` and a backquote as a label's
/// first character).
pub fn valid_domain_name(name: &str) -> bool {
    let rest = name.strip_prefix("*.").unwrap_or(name);
    let rest = rest.strip_suffix('.').unwrap_or(rest);
    let labels: Vec<&str> = rest.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    labels.iter().all(|label| {
        let b = label.as_bytes();
        let first_ok = |c: u8| (b'A'..=b'z').contains(&c) || c.is_ascii_digit();
        let middle_ok = |c: u8| c == b'-' || c == b'_' || c.is_ascii_alphanumeric();
        match b {
            [] => false,
            [c] => first_ok(*c),
            [first, middle @ .., last] => {
                first_ok(*first)
                    && middle.iter().all(|&c| middle_ok(c))
                    && last.is_ascii_alphanumeric()
            }
        }
    })
}
