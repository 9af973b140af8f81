//! AdminNetworkPolicy peers: pods and namespaces, and (egress) networks, nodes and domain names.

use super::{
    Ctx, EgressPeerDoc, MAX_NETWORKS, PeerMatch, PeerOutcome, PeerView, namespaces_peer, pods_peer,
    subject_selector,
};
use crate::manifest::ManifestError;
use crate::policy::cluster::check_domain_names;
use crate::policy::k8s::{describe, label_selector, parse_cidr};
use crate::policy::{EntityMatch, RuleAction, Selector};

impl Ctx<'_> {
    /// Converts one peer of a rule whose action is `action`.
    pub(super) fn peer(
        &self,
        at: &str,
        peer: &PeerView<'_>,
        action: RuleAction,
    ) -> Result<PeerOutcome, ManifestError> {
        let doc = self.doc;
        let selector = |(s, text): (Selector, String)| {
            PeerOutcome::Match(Box::new(PeerMatch {
                entity: EntityMatch {
                    selector: Some(s),
                    ..EntityMatch::default()
                },
                text,
            }))
        };
        let p = match peer {
            PeerView::Subject(s) => return Ok(selector(subject_selector(doc, at, s)?)),
            PeerView::Egress(p) => p,
        };
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
            return Ok(selector(namespaces_peer(
                doc,
                &format!("{at}.namespaces"),
                ns,
            )?));
        }
        if let Some(pods) = &p.pods {
            return Ok(selector(pods_peer(doc, &format!("{at}.pods"), pods)?));
        }
        if let Some(nodes) = &p.nodes {
            let field = format!("{at}.nodes");
            let selector = label_selector(doc, Some(&nodes.to_k8s()), &field)?;
            if self.calico {
                return Ok(PeerOutcome::Unsupported(format!(
                    "{field}: Calico 3.29–3.31 does not convert nodes peers"
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
        if let Some(list) = &p.domain_names {
            return self.domain_names(&format!("{at}.domainNames"), list, action);
        }
        self.networks(at, p)
    }

    fn networks(&self, at: &str, p: &EgressPeerDoc) -> Result<PeerOutcome, ManifestError> {
        let doc = self.doc;
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
        Ok(PeerOutcome::Match(Box::new(PeerMatch {
            entity: EntityMatch {
                nets,
                ..EntityMatch::default()
            },
            text: format!("networks {text}"),
        })))
    }

    /// `domainNames` (v0.1.7: an ANP egress peer, "only supported for ALLOW rules",
    /// MinItems=1, MaxItems=25, `listType=set`, the DomainName pattern).
    fn domain_names(
        &self,
        field: &str,
        list: &[String],
        action: RuleAction,
    ) -> Result<PeerOutcome, ManifestError> {
        let doc = self.doc;
        if self.baseline {
            return Err(doc.invalid(
                field,
                "a BaselineAdminNetworkPolicy peer has no domainNames (v0.1.7 baselineadminnetworkpolicy_types.go)",
            ));
        }
        check_domain_names(doc, field, list)?;
        if action != RuleAction::Allow {
            return Err(doc.unsupported(
                field,
                "domainNames is only supported for Allow rules (v0.1.7 adminnetworkpolicy_types.go#L254-L259)",
            ));
        }
        if self.calico {
            return Err(doc.invalid(
                field,
                "Calico 3.29–3.31 installs the AdminNetworkPolicy CRD of network-policy-api v0.1.1, which has no domainNames: the API server refuses the document (projectcalico/calico@v3.31.7:manifests/operator-crds.yaml#L32922)",
            ));
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
