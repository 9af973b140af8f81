//! Walking tiers → policies → rules for one direction of one packet.

use std::net::IpAddr;

use super::{Decision, DirectionVerdict, Oracle, Packet, Peer, TrailStep, dir_index};
use crate::model::{Cluster, Protocol};
use crate::policy::{
    CalicoLine, Direction, EntityMatch, PortSpec, Rule, RuleAction, Semantics, TierDefault,
};

/// Whether a rule matches a packet: yes, no, or only if DNS says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RuleMatch {
    /// It does not.
    No,
    /// It does.
    Yes,
    /// Only if the packet's destination is what a `domainNames` entry resolves to.
    Dns,
}

impl Oracle<'_> {
    /// Whether a policy that applies to either side of `packet` (the policies a verdict lists as
    /// selecting it) has an address rule (ipBlock, `nets`, `notNets`) in that direction.
    pub fn address_rules_apply(&self, packet: &Packet) -> bool {
        [Direction::Egress, Direction::Ingress]
            .into_iter()
            .any(|d| {
                self.policed_list(d, packet)
                    .unwrap_or_default()
                    .into_iter()
                    .any(|p| {
                        self.policies.policies[p]
                            .rules(d)
                            .unwrap_or_default()
                            .iter()
                            .any(|r| {
                                [&r.source, &r.destination]
                                    .iter()
                                    .any(|e| !e.nets.is_empty() || !e.not_nets.is_empty())
                            })
                    })
            })
    }

    /// The verdict of one side: tiers → policies → rules at the local endpoint of `direction`.
    pub(super) fn direction(&self, direction: Direction, packet: &Packet) -> DirectionVerdict {
        let mut verdict = DirectionVerdict {
            allowed: true,
            decision: Decision::NotPoliced,
            selected_by: Vec::new(),
            trail: Vec::new(),
            undecided: Vec::new(),
            dns_rules: Vec::new(),
        };
        verdict.allowed = self.walk(direction, packet, Some(&mut verdict));
        verdict
    }

    /// Whether one side lets the packet through, recording nothing (what [`Oracle::allowed`]
    /// and the matrix need): the same walk as [`Oracle::direction`].
    pub(super) fn direction_allowed(&self, direction: Direction, packet: &Packet) -> bool {
        self.walk(direction, packet, None)
    }

    /// Walks tiers → policies → rules at the local endpoint of `direction` and returns whether
    /// the packet passes; with `record`, says why there.
    fn walk(
        &self,
        direction: Direction,
        packet: &Packet,
        mut record: Option<&mut DirectionVerdict>,
    ) -> bool {
        let local = match direction {
            Direction::Egress => packet.from,
            Direction::Ingress => packet.to,
        };
        let id = match local {
            Peer::Endpoint(id) if !self.cluster.get(id).host_network => id,
            // Not a pod under policy (`Decision::NotPoliced`).
            _ => return true,
        };
        let all = &self.applicable[dir_index(direction)][id.0];
        let exempted: Vec<usize>;
        let list = if all.iter().any(|&p| self.exempt(p, packet)) {
            exempted = all
                .iter()
                .copied()
                .filter(|&p| !self.exempt(p, packet))
                .collect();
            &exempted
        } else {
            all
        };
        if let Some(v) = record.as_deref_mut() {
            v.decision = Decision::NoPolicy;
            v.selected_by = list.clone();
        }
        if list.is_empty() {
            return true;
        }
        let mut i = 0;
        while i < list.len() {
            let tier = self.policy_tier[list[i]];
            let end = list[i..]
                .iter()
                .position(|&p| self.policy_tier[p] != tier)
                .map_or(list.len(), |n| i + n);
            let mut passed = false;
            'policies: for &pi in &list[i..end] {
                let rules = self.policies.policies[pi]
                    .rules(direction)
                    .unwrap_or_default();
                for (ri, rule) in rules.iter().enumerate() {
                    match self.rule_match(pi, direction, ri, rule, packet) {
                        RuleMatch::Yes => {}
                        RuleMatch::No => continue,
                        RuleMatch::Dns => {
                            if let Some(v) = record.as_deref_mut() {
                                v.dns_rules.push((pi, ri));
                            }
                            continue;
                        }
                    }
                    match rule.action {
                        RuleAction::Allow | RuleAction::Deny => {
                            if let Some(v) = record.as_deref_mut() {
                                v.decision = Decision::Rule {
                                    policy: pi,
                                    rule: ri,
                                };
                            }
                            return rule.action == RuleAction::Allow;
                        }
                        RuleAction::Pass | RuleAction::Log => {
                            if let Some(v) = record.as_deref_mut() {
                                v.trail.push(TrailStep {
                                    policy: pi,
                                    rule: ri,
                                    action: rule.action,
                                });
                            }
                            if rule.action == RuleAction::Pass {
                                passed = true;
                                break 'policies;
                            }
                        }
                    }
                }
                if let Some(v) = record.as_deref_mut() {
                    v.undecided.push(pi);
                }
            }
            let (name, default) = &self.tiers[tier];
            if !passed && *default == TierDefault::Deny {
                if let Some(v) = record.as_deref_mut() {
                    v.decision = Decision::EndOfTier {
                        tier: name.clone(),
                        policies: list[i..end].to_vec(),
                    };
                }
                return false;
            }
            i = end;
        }
        if let Some(v) = record {
            v.decision = Decision::Passed;
        }
        true
    }

    /// Whether `rule` matches: a `domainNames` destination that the other conditions accept
    /// matches only if DNS says so.
    pub(super) fn rule_match(
        &self,
        policy: usize,
        direction: Direction,
        index: usize,
        rule: &Rule,
        packet: &Packet,
    ) -> RuleMatch {
        if !self.rule_matches(policy, direction, index, rule, packet) {
            return RuleMatch::No;
        }
        if rule.destination.domains.is_empty() {
            return RuleMatch::Yes;
        }
        match packet.to {
            // A pod's address is what a name resolves to only through cluster DNS
            // (`*.cluster.local`-style names); other names never resolve to pods.
            Peer::Endpoint(id) if !self.cluster.get(id).host_network => {
                if rule.destination.domains.iter().any(|d| could_name_a_pod(d)) {
                    RuleMatch::Dns
                } else {
                    RuleMatch::No
                }
            }
            _ => RuleMatch::Dns,
        }
    }

    fn rule_matches(
        &self,
        policy: usize,
        direction: Direction,
        index: usize,
        rule: &Rule,
        packet: &Packet,
    ) -> bool {
        if rule.protocol.is_some_and(|p| !p.matches(packet.protocol))
            || rule
                .not_protocol
                .is_some_and(|p| p.matches(packet.protocol))
        {
            return false;
        }
        let echo_request =
            |m: &crate::policy::IcmpMatch| m.icmp_type == 8 && m.code.is_none_or(|c| c == 0);
        if let Some(m) = &rule.icmp
            && (packet.protocol != Protocol::Icmp || !echo_request(m))
        {
            return false;
        }
        if let Some(m) = &rule.not_icmp
            && packet.protocol == Protocol::Icmp
            && echo_request(m)
        {
            return false;
        }
        let is_v4 = match packet.to {
            Peer::Endpoint(id) => self.cluster.get(id).ip(),
            Peer::External(ip) => ip,
        }
        .is_ipv4();
        if let Some(v) = rule.ip_version
            && (v == 4) != is_v4
        {
            return false;
        }
        // Felix renders a rule once per IP family, and drops it for a family when one of its
        // address lists (nets or notNets, either side) has no CIDR of that family
        // (`FilterRuleToIPVersion`): `notNets: [10.0.0.0/8]` alone never matches IPv6 traffic.
        let lacks_family = |nets: &[ipnet::IpNet]| {
            !nets.is_empty()
                && !nets
                    .iter()
                    .any(|n| matches!(n, ipnet::IpNet::V4(_)) == is_v4)
        };
        if [
            &rule.source.nets,
            &rule.source.not_nets,
            &rule.destination.nets,
            &rule.destination.not_nets,
        ]
        .into_iter()
        .any(|nets| lacks_family(nets))
        {
            return false;
        }
        let compiled = &self.rules[policy][dir_index(direction)][index];
        self.side_matches(
            &rule.source,
            compiled.source_members.map(|s| self.sides[s].as_slice()),
            packet.from,
        ) && self.side_matches(
            &rule.destination,
            compiled
                .destination_members
                .map(|s| self.sides[s].as_slice()),
            packet.to,
        ) && self.ports_match(
            &rule.destination,
            self.named_port_protocol(policy, rule, packet),
            packet,
        )
    }

    /// The protocol a rule's named ports are looked up with. Felix resolves a Calico rule's named
    /// ports with the rule's protocol, and with TCP when the rule has none
    /// (`felix/calc/rule_scanner.go`: `namedPortProto := ipsetmember.ProtocolTCP`): the named-port
    /// IP set holds `(address, tcp, port)` members only, so `ports: [dns]` without a protocol never
    /// matches a UDP port named `dns`. An AdminNetworkPolicy `namedPort` names a container port,
    /// protocol included, so it is looked up with the packet's protocol.
    fn named_port_protocol(&self, policy: usize, rule: &Rule, packet: &Packet) -> Protocol {
        use crate::policy::{PolicyKind, ProtocolMatch};
        // Calico 3.32 looks a protocol-less named port up with any protocol
        // (projectcalico/calico@v3.32.1:felix/calc/rule_scanner.go#L383-L386, `ProtocolAny`,
        // calico#12227), so the container port's own protocol decides.
        if self.policies.semantics == Semantics::Calico(CalicoLine::V3_32) {
            return match rule.protocol {
                Some(ProtocolMatch::Known(p)) => p,
                _ => packet.protocol,
            };
        }
        match (rule.protocol, self.policies.policies[policy].id.kind) {
            (Some(ProtocolMatch::Known(p)), _) => p,
            (None, PolicyKind::CalicoNetworkPolicy | PolicyKind::CalicoGlobalNetworkPolicy) => {
                Protocol::Tcp
            }
            _ => packet.protocol,
        }
    }

    fn side_matches(&self, entity: &EntityMatch, members: Option<&[bool]>, peer: Peer) -> bool {
        match (members, peer) {
            (None, _) => true,
            (Some(m), Peer::Endpoint(id)) => m[id.0],
            (Some(_), Peer::External(ip)) => {
                // Selectors only match known endpoints; an outside address can satisfy only
                // address conditions (nets, node addresses) and a notSelector.
                entity.selector.is_none() && address_matches(self.cluster, entity, ip)
            }
        }
    }

    fn ports_match(&self, entity: &EntityMatch, named_protocol: Protocol, packet: &Packet) -> bool {
        let hit = |spec: &PortSpec| -> bool {
            let Some(port) = packet.port else {
                return false;
            };
            match spec {
                PortSpec::Range(a, b) => (*a..=*b).contains(&port),
                PortSpec::Named(name) => match packet.to {
                    Peer::Endpoint(id) => {
                        packet.protocol == named_protocol
                            && self.cluster.get(id).named_port(name, named_protocol) == Some(port)
                    }
                    Peer::External(_) => false,
                },
            }
        };
        (entity.ports.is_empty() || entity.ports.iter().any(hit))
            && !entity.not_ports.iter().any(hit)
    }
}

/// Whether `ip` satisfies a side's address conditions: its nets, and its node selector (the
/// address must be one of a selected node's).
pub(super) fn address_matches(cluster: &Cluster, entity: &EntityMatch, ip: IpAddr) -> bool {
    nets_match(entity, ip)
        && entity
            .nodes
            .as_ref()
            .is_none_or(|s| cluster.is_node_address(ip, |labels| s.matches(labels)))
}

/// Whether a `domainNames` entry could be a cluster DNS name, and so resolve to a pod's address
/// (names under `.local`, the kind of `cluster.local`); other names resolve outside the cluster.
fn could_name_a_pod(domain: &str) -> bool {
    let d = domain.trim_end_matches('.');
    d == "local" || d.ends_with(".local")
}

fn nets_match(entity: &EntityMatch, ip: IpAddr) -> bool {
    (entity.nets.is_empty() || entity.nets.iter().any(|n| n.contains(&ip)))
        && !entity.not_nets.iter().any(|n| n.contains(&ip))
}
