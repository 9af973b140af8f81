//! AdminNetworkPolicy peers: pods and namespaces, and (egress) networks, nodes and domain names.

use super::{Ctx, MAX_NETWORKS, PeerMatch, PeerView, namespaces_peer, pods_peer, subject_selector};
use crate::manifest::ManifestError;
use crate::policy::k8s::parse_cidr;
use crate::policy::{EntityMatch, Selector};

impl Ctx<'_> {
    pub(super) fn peer(&self, at: &str, peer: &PeerView<'_>) -> Result<PeerMatch, ManifestError> {
        let doc = self.doc;
        let selector = |(s, text): (Selector, String)| PeerMatch {
            entity: EntityMatch {
                selector: Some(s),
                ..EntityMatch::default()
            },
            text,
            networks: false,
        };
        match peer {
            PeerView::Subject(s) => Ok(selector(subject_selector(doc, at, s)?)),
            PeerView::Egress(p) => {
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
                if p.nodes.is_some() {
                    return Err(doc.unsupported(
                        format!("{at}.nodes"),
                        "node peers are not modelled (the oracle has no nodes)",
                    ));
                }
                if p.domain_names.is_some() {
                    return Err(doc.unsupported(
                        format!("{at}.domainNames"),
                        "domain-name peers are not modelled (they depend on DNS answers)",
                    ));
                }
                if let Some(ns) = &p.namespaces {
                    return Ok(selector(namespaces_peer(
                        doc,
                        &format!("{at}.namespaces"),
                        ns,
                    )?));
                }
                if let Some(pods) = &p.pods {
                    return Ok(selector(pods_peer(doc, &format!("{at}.pods"), pods)?));
                }
                let list = p.networks.as_deref().unwrap_or_default();
                if list.is_empty() || list.len() > MAX_NETWORKS {
                    return Err(doc.invalid(
                        format!("{at}.networks"),
                        format!("must list 1 to {MAX_NETWORKS} CIDRs"),
                    ));
                }
                let mut nets = Vec::new();
                for (k, text) in list.iter().enumerate() {
                    let field = format!("{at}.networks[{k}]");
                    if !text.contains('/') {
                        return Err(doc.invalid(
                            field,
                            format!("`{text}` is not a CIDR (expected e.g. 10.0.0.0/24)"),
                        ));
                    }
                    let net = parse_cidr(doc, &field, text)?;
                    if !nets.contains(&net) {
                        nets.push(net);
                    }
                }
                let text = nets
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                Ok(PeerMatch {
                    entity: EntityMatch {
                        nets,
                        ..EntityMatch::default()
                    },
                    text: format!("networks {text}"),
                    networks: true,
                })
            }
        }
    }
}
