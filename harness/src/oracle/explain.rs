//! Verdicts in words: which policies selected each side, and which rule (or tier end) decided.

use super::{Decision, DirectionVerdict, Oracle, Packet, Peer, Uncertainty, Verdict};
use crate::policy::cluster::tier_label;
use crate::policy::{Direction, PolicyKind, RuleAction, format_order};

impl Oracle<'_> {
    /// A one-line explanation of a verdict, egress side then ingress side, then what leaves it
    /// open (DNS, equal priorities) and what does not apply (ClusterNetworkPolicy to a pod's own
    /// address).
    pub fn explain(&self, packet: &Packet, verdict: &Verdict) -> String {
        let mut text = format!(
            "{}; {}",
            self.explain_direction(Direction::Egress, packet.from, &verdict.egress),
            self.explain_direction(Direction::Ingress, packet.to, &verdict.ingress)
        );
        if let Peer::Endpoint(id) = packet.from
            && packet.from == packet.to
            && [Direction::Ingress, Direction::Egress].iter().any(|&d| {
                self.applicable[super::dir_index(d)][id.0]
                    .iter()
                    .any(|&p| self.policies.policies[p].id.kind == PolicyKind::ClusterNetworkPolicy)
            })
        {
            text.push_str(
                "; ClusterNetworkPolicy does not apply to a pod's traffic to its own address",
            );
        }
        match verdict.uncertain {
            None => {}
            Some(Uncertainty::Dns) => {
                let rules: Vec<String> = [&verdict.egress, &verdict.ingress]
                    .iter()
                    .flat_map(|v| &v.dns_rules)
                    .map(|&(p, r)| {
                        let rule = &self.policies.policies[p]
                            .rules(Direction::Egress)
                            .unwrap_or_default()[r];
                        format!(
                            "{} rule {} ({})",
                            self.policy_name(p),
                            rule.written + 1,
                            rule.summary
                        )
                    })
                    .collect();
                text.push_str(&format!(
                    "; unknown (DNS): the result depends on what the domain names of {} resolve to, which the manifests do not say",
                    if rules.is_empty() { "a domainNames rule".to_string() } else { rules.join(", ") }
                ));
            }
            Some(Uncertainty::Either) => {
                let groups: Vec<String> = [Direction::Egress, Direction::Ingress]
                    .iter()
                    .flat_map(|&d| self.tied_policies(d, packet))
                    .map(|g| {
                        g.iter()
                            .map(|&p| self.policy_name(p))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    })
                    .collect();
                text.push_str(&format!(
                    "; either: {} share a priority, and the API leaves their order to the implementation, so a scenario may not assert this cell",
                    groups.join("; ")
                ));
            }
        }
        text
    }

    /// The name of a peer: `namespace/name`, or the address.
    pub fn peer_name(&self, peer: Peer) -> String {
        match peer {
            Peer::Endpoint(id) => self.cluster.get(id).key(),
            Peer::External(ip) => ip.to_string(),
        }
    }

    /// `Kind ns/name (tier T, order N)`; `ClusterNetworkPolicy name (tier Admin, priority N)`;
    /// `NetworkPolicy ns/name` when every policy is a Kubernetes NetworkPolicy.
    pub fn policy_name(&self, index: usize) -> String {
        let p = &self.policies.policies[index];
        if self.kubernetes_only() {
            return p.id.to_string();
        }
        if p.id.kind == PolicyKind::ClusterNetworkPolicy
            && self.policies.semantics.calico().is_none()
            && let Some(tier) = tier_label(&p.tier)
        {
            return format!("{} (tier {tier}, priority {})", p.id, format_order(p.order));
        }
        format!(
            "{} (tier {}, order {})",
            p.id,
            p.tier,
            format_order(p.order)
        )
    }

    /// Whether every policy is a Kubernetes NetworkPolicy, so explanations use Kubernetes words
    /// only (no tiers, no orders).
    pub fn kubernetes_only(&self) -> bool {
        self.policies
            .policies
            .iter()
            .all(|p| p.id.kind == PolicyKind::KubernetesNetworkPolicy)
    }

    /// The explanation of one direction's verdict.
    pub fn explain_direction(
        &self,
        direction: Direction,
        local: Peer,
        v: &DirectionVerdict,
    ) -> String {
        let side = match direction {
            Direction::Egress => format!("egress from {}", self.peer_name(local)),
            Direction::Ingress => format!("ingress to {}", self.peer_name(local)),
        };
        // Pass and Log rules met on the way come first, in evaluation order.
        let mut steps = String::new();
        for step in &v.trail {
            let r = &self.policies.policies[step.policy]
                .rules(direction)
                .expect("trail rules belong to this direction")[step.rule];
            let what = match step.action {
                RuleAction::Pass => "passed to the next tier",
                _ => "logged",
            };
            steps.push_str(&format!(
                "{what} by {} rule {} ({}: {}), then ",
                self.policy_name(step.policy),
                r.written + 1,
                r.origin,
                r.summary
            ));
        }
        // Policies that selected the endpoint but decided nothing on the way (an end-of-tier
        // decision names its own tier's policies itself).
        let named_by_decision: &[usize] = match &v.decision {
            Decision::EndOfTier { policies, .. } => policies,
            _ => &[],
        };
        let names: Vec<String> = v
            .undecided
            .iter()
            .filter(|p| !named_by_decision.contains(p))
            .map(|&p| self.policy_name(p))
            .collect();
        let undecided = if names.is_empty() {
            String::new()
        } else {
            format!(" [also selected, no rule matched: {}]", names.join(", "))
        };
        let decision = match &v.decision {
            Decision::NotPoliced => match local {
                Peer::External(_) => "outside the cluster, no policy applies".to_string(),
                Peer::Endpoint(_) => "host-network pod, pod policy does not apply".to_string(),
            },
            Decision::NoPolicy => "allowed, no policy selects it".to_string(),
            Decision::Rule { policy, rule } => {
                let r = &self.policies.policies[*policy]
                    .rules(direction)
                    .expect("decided by a rule of this direction")[*rule];
                let verb = if v.allowed { "allowed" } else { "denied" };
                format!(
                    "{verb} by {} rule {} ({}: {})",
                    self.policy_name(*policy),
                    r.written + 1,
                    r.origin,
                    r.summary
                )
            }
            Decision::EndOfTier { policies, .. } if self.kubernetes_only() => {
                let names: Vec<String> = policies.iter().map(|&p| self.policy_name(p)).collect();
                format!(
                    "denied: selected by {}, and no rule allows it",
                    names.join(", ")
                )
            }
            Decision::EndOfTier { tier, policies } => {
                let names: Vec<String> = policies.iter().map(|&p| self.policy_name(p)).collect();
                format!(
                    "denied, selected by {} but no rule matched (end of tier {tier})",
                    names.join(", ")
                )
            }
            Decision::Passed => {
                "allowed, every applicable tier passed it on (namespace profile allows)".to_string()
            }
        };
        format!("{side}: {steps}{decision}{undecided}")
    }
}
