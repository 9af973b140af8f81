//! Cells the manifests leave open: a result that some DNS answer, or some order of
//! equal-priority ClusterNetworkPolicies, changes.

use super::evaluate::RuleMatch;
use super::{Oracle, Packet, Peer, Uncertainty, dir_index};
use crate::policy::{Direction, PolicyKind, RuleAction, TierDefault};

/// The results one direction can have over every DNS answer (and, where asked, every order of
/// equal-priority ClusterNetworkPolicies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Outcomes {
    allow: bool,
    deny: bool,
}

impl Oracle<'_> {
    /// Whether the manifests leave a connection's result open: `Dns` when some DNS answer
    /// changes it, else `Either` when some order of equal-priority ClusterNetworkPolicies does.
    pub fn uncertainty(&self, packet: &Packet) -> Option<Uncertainty> {
        if !self.may_be_uncertain {
            return None;
        }
        let both = |reorder: bool| {
            let e = self.outcomes_of(Direction::Egress, packet, reorder);
            let i = self.outcomes_of(Direction::Ingress, packet, reorder);
            // Allowed needs both sides to allow; denied needs one side to deny.
            (e.allow && i.allow) && (e.deny || i.deny)
        };
        if both(false) {
            Some(Uncertainty::Dns)
        } else if !self.ties_defined && both(true) {
            Some(Uncertainty::Either)
        } else {
            None
        }
    }

    /// The groups of ClusterNetworkPolicies sharing a tier and priority that apply to the local
    /// side of `direction` (what makes a cell "either").
    pub fn tied_policies(&self, direction: Direction, packet: &Packet) -> Vec<Vec<usize>> {
        let Some(list) = self.policed_list(direction, packet) else {
            return Vec::new();
        };
        let mut groups = Vec::new();
        let mut i = 0;
        while i < list.len() {
            let end = self.group_end(&list, i, true);
            if end - i > 1 {
                groups.push(list[i..end].to_vec());
            }
            i = end;
        }
        groups
    }

    /// The applicable policies of the local side of `direction`, if it is a policed pod, without
    /// ClusterNetworkPolicies for a pod's traffic to itself.
    pub(super) fn policed_list(&self, direction: Direction, packet: &Packet) -> Option<Vec<usize>> {
        let local = match direction {
            Direction::Egress => packet.from,
            Direction::Ingress => packet.to,
        };
        match local {
            Peer::Endpoint(id) if !self.cluster.get(id).host_network => Some(
                self.applicable[dir_index(direction)][id.0]
                    .iter()
                    .copied()
                    .filter(|&p| !self.exempt(p, packet))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// A pod reaching its own address is not subject to ClusterNetworkPolicy (the API's hairpin
    /// clarification, kubernetes-sigs/network-policy-api#390, site-src/api-overview.md).
    pub(super) fn exempt(&self, policy: usize, packet: &Packet) -> bool {
        packet.from == packet.to
            && matches!(packet.from, Peer::Endpoint(_))
            && self.policies.policies[policy].id.kind == PolicyKind::ClusterNetworkPolicy
    }

    /// Where the group starting at `list[start]` ends: with `reorder`, equal-priority
    /// ClusterNetworkPolicies of one tier form one group; otherwise every policy is its own.
    fn group_end(&self, list: &[usize], start: usize, reorder: bool) -> usize {
        let first = &self.policies.policies[list[start]];
        if !reorder || first.id.kind != PolicyKind::ClusterNetworkPolicy {
            return start + 1;
        }
        let mut end = start + 1;
        while end < list.len() {
            let p = &self.policies.policies[list[end]];
            if p.id.kind != PolicyKind::ClusterNetworkPolicy
                || self.policy_tier[list[end]] != self.policy_tier[list[start]]
                || p.order != first.order
            {
                break;
            }
            end += 1;
        }
        end
    }

    fn outcomes_of(&self, direction: Direction, packet: &Packet, reorder: bool) -> Outcomes {
        match self.policed_list(direction, packet) {
            None => Outcomes {
                allow: true,
                deny: false,
            },
            Some(list) => self.outcomes(direction, packet, &list, 0, reorder),
        }
    }

    /// Every result evaluation of `list[start..]` can reach, over every DNS answer and (with
    /// `reorder`) every order of tied ClusterNetworkPolicies.
    fn outcomes(
        &self,
        direction: Direction,
        packet: &Packet,
        list: &[usize],
        start: usize,
        reorder: bool,
    ) -> Outcomes {
        let mut acc = Outcomes::default();
        let mut i = start;
        while i < list.len() {
            let tier = self.policy_tier[list[i]];
            let end = list[i..]
                .iter()
                .position(|&p| self.policy_tier[p] != tier)
                .map_or(list.len(), |n| i + n);
            let mut j = i;
            let mut falls_through = true;
            while j < end && falls_through {
                let group_end = self.group_end(list, j, reorder).min(end);
                let mut all_can_miss = true;
                for &pi in &list[j..group_end] {
                    let (actions, can_miss) = self.policy_results(pi, direction, packet);
                    for action in actions {
                        match action {
                            RuleAction::Allow => acc.allow = true,
                            RuleAction::Deny => acc.deny = true,
                            RuleAction::Pass => {
                                let next = self.outcomes(direction, packet, list, end, reorder);
                                acc.allow |= next.allow;
                                acc.deny |= next.deny;
                            }
                            RuleAction::Log => {}
                        }
                    }
                    all_can_miss &= can_miss;
                }
                falls_through = all_can_miss;
                j = group_end;
            }
            if !falls_through {
                return acc;
            }
            if self.tiers[tier].1 == TierDefault::Deny {
                acc.deny = true;
                return acc;
            }
            i = end;
        }
        acc.allow = true;
        acc
    }

    /// The decisive actions a policy's rules can take on `packet` (Allow, Deny, Pass), and
    /// whether it can also decide nothing.
    pub(super) fn policy_results(
        &self,
        policy: usize,
        direction: Direction,
        packet: &Packet,
    ) -> (Vec<RuleAction>, bool) {
        let rules = self.policies.policies[policy]
            .rules(direction)
            .unwrap_or_default();
        let mut actions = Vec::new();
        for (ri, rule) in rules.iter().enumerate() {
            if rule.action == RuleAction::Log {
                continue;
            }
            match self.rule_match(policy, direction, ri, rule, packet) {
                RuleMatch::No => {}
                RuleMatch::Yes => {
                    actions.push(rule.action);
                    return (actions, false);
                }
                RuleMatch::Dns => actions.push(rule.action),
            }
        }
        (actions, true)
    }
}
