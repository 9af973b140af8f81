//! Near misses: for a Kubernetes NetworkPolicy side that denied, the rules that nearly matched
//! and what the other side lacks.

use super::Analysis;
use crate::model::EndpointId;
use crate::oracle::{Packet, Peer, Verdict};
use crate::policy::selector::Selector;
use crate::policy::{Direction, EntityMatch, PolicyKind, PortSpec, ProtocolMatch, Rule};

impl Analysis {
    /// For a Kubernetes NetworkPolicy side that denied because no rule matched: each rule's peer
    /// with the conditions the other side misses (`spec.ingress[0].from[0] needs namespace label
    /// name=ingress (namespace ingress has no such label)`), closest first, at most three.
    pub fn near_misses(&self, packet: &Packet, verdict: &Verdict) -> Vec<String> {
        let mut misses = Vec::new();
        for (direction, v) in [
            (Direction::Egress, &verdict.egress),
            (Direction::Ingress, &verdict.ingress),
        ] {
            let crate::oracle::Decision::EndOfTier { policies, .. } = &v.decision else {
                continue;
            };
            let remote = match direction {
                Direction::Egress => packet.to,
                Direction::Ingress => packet.from,
            };
            for &p in policies {
                let policy = &self.policies.policies[p];
                if policy.id.kind != PolicyKind::KubernetesNetworkPolicy {
                    continue;
                }
                for rule in policy.rules(direction).unwrap_or_default() {
                    let peer = match direction {
                        Direction::Egress => &rule.destination,
                        Direction::Ingress => &rule.source,
                    };
                    let unmet = self.unmet(rule, peer, remote, packet);
                    if !unmet.is_empty() {
                        misses.push((
                            unmet.len(),
                            format!(
                                "{} {} needs {}",
                                policy.id,
                                rule.origin,
                                unmet.join(" and ")
                            ),
                        ));
                    }
                }
            }
        }
        misses.sort_by_key(|(n, _)| *n);
        misses.into_iter().take(3).map(|(_, m)| m).collect()
    }

    /// The conditions of one Kubernetes rule that `remote` and the packet do not meet.
    fn unmet(&self, rule: &Rule, peer: &EntityMatch, remote: Peer, packet: &Packet) -> Vec<String> {
        let mut unmet = Vec::new();
        if let Some(ProtocolMatch::Known(p)) = rule.protocol
            && p != packet.protocol
        {
            unmet.push(format!("protocol {p}"));
        }
        if let (Some(selector), Peer::Endpoint(id)) = (&peer.selector, remote) {
            let labels = crate::policy::labels::policy_labels(&self.cluster, id);
            let mut terms = Vec::new();
            flatten_and(selector, &mut terms);
            for term in terms {
                if !term.matches(&labels) {
                    unmet.push(self.describe_unmet(term, &labels, id));
                }
            }
        }
        if !peer.nets.is_empty() || !peer.not_nets.is_empty() {
            let ip = match remote {
                Peer::Endpoint(id) => self.cluster.get(id).ip(),
                Peer::External(ip) => ip,
            };
            let inside = peer.nets.iter().any(|n| n.contains(&ip));
            let excepted = peer.not_nets.iter().any(|n| n.contains(&ip));
            if !inside || excepted {
                let nets: Vec<String> = peer.nets.iter().map(ToString::to_string).collect();
                unmet.push(format!(
                    "an address in {} ({} is {})",
                    nets.join(", "),
                    ip,
                    if excepted { "excepted" } else { "outside" }
                ));
            }
        }
        let ports = &rule.destination.ports;
        if !ports.is_empty() {
            let hit = ports
                .iter()
                .any(|spec| match (spec, packet.port, packet.to) {
                    (PortSpec::Range(a, b), Some(port), _) => (*a..=*b).contains(&port),
                    (PortSpec::Named(name), Some(port), Peer::Endpoint(to)) => {
                        self.cluster.get(to).named_port(name, packet.protocol) == Some(port)
                    }
                    _ => false,
                });
            if !hit {
                let list: Vec<String> = ports.iter().map(ToString::to_string).collect();
                unmet.push(format!("port {}", list.join(", ")));
            }
        }
        unmet
    }

    fn describe_unmet(
        &self,
        term: &Selector,
        labels: &crate::model::Labels,
        id: EndpointId,
    ) -> String {
        use crate::policy::labels::{NAMESPACE, NAMESPACE_PREFIX};
        let e = self.cluster.get(id);
        let has = |key: &str, shown: &str| match labels.get(key) {
            Some(v) => format!("has {shown}={v}"),
            None => "has no such label".to_string(),
        };
        match term {
            Selector::Equals(k, v) if k == NAMESPACE => {
                format!(
                    "namespace {v} ({} is in namespace {})",
                    e.key(),
                    e.namespace
                )
            }
            Selector::Equals(k, _) | Selector::In(k, _) | Selector::Has(k)
                if k.starts_with(NAMESPACE_PREFIX) =>
            {
                let key = &k[NAMESPACE_PREFIX.len()..];
                let want = match term {
                    Selector::Equals(_, v) => format!("{key}={v}"),
                    _ => format!("`{}`", term.to_string().replace(NAMESPACE_PREFIX, "")),
                };
                format!(
                    "namespace label {want} (namespace {} {})",
                    e.namespace,
                    has(k, key)
                )
            }
            Selector::Equals(k, v) => format!("pod label {k}={v} ({} {})", e.key(), has(k, k)),
            Selector::In(k, _) | Selector::Has(k) => {
                format!("pod labels `{term}` ({} {})", e.key(), has(k, k))
            }
            other => format!(
                "labels `{}` ({} does not match)",
                other.to_string().replace(NAMESPACE_PREFIX, "namespace:"),
                e.key()
            ),
        }
    }
}

/// The operands of nested `&&`s (a selector that is no `&&` is its own one operand).
fn flatten_and<'s>(selector: &'s Selector, out: &mut Vec<&'s Selector>) {
    match selector {
        Selector::And(terms) => terms.iter().for_each(|t| flatten_and(t, out)),
        other => out.push(other),
    }
}
