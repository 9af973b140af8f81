//! The oracle: which connections a conforming cluster must allow, and why.
//!
//! [`Oracle::new`] compiles the policies against the cluster once: every selector is matched
//! against every endpoint up front, and each endpoint gets its ordered list of applicable
//! policies per direction. [`Oracle::verdict`] then walks tiers → policies → rules for the
//! egress side at the source and the ingress side at the destination; a connection is allowed
//! only when both allow it.

mod explain;
mod matrix;

use std::cmp::Ordering;
use std::net::IpAddr;

use crate::model::{Cluster, EndpointId, Protocol};
use crate::policy::labels::policy_labels;
use crate::policy::{
    CalicoLine, Direction, EntityMatch, PolicyKind, PolicySet, PortSpec, Rule, RuleAction,
    Semantics, TierDefault,
};

pub use matrix::{Cell, Matrix, ProbePort};

/// One side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Peer {
    /// An endpoint of the model.
    Endpoint(EndpointId),
    /// An address outside the model (the internet, a node, a client outside the cluster).
    External(IpAddr),
}

/// A connection attempt: from, to, protocol and destination port (`None` for ICMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Packet {
    /// The client.
    pub from: Peer,
    /// The server.
    pub to: Peer,
    /// The protocol.
    pub protocol: Protocol,
    /// The destination port.
    pub port: Option<u16>,
}

/// Why one direction (egress at the source, or ingress at the destination) decided as it did.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The side is not a pod under policy (an external address, or a host-network pod).
    NotPoliced,
    /// No policy selects the endpoint in this direction: allowed.
    NoPolicy,
    /// A rule decided (Allow or Deny).
    Rule {
        /// Index into [`PolicySet::policies`].
        policy: usize,
        /// Index of the rule in the policy's rules for this direction.
        rule: usize,
    },
    /// Policies of a tier applied, none decided, and the tier's end denies.
    EndOfTier {
        /// The tier's name.
        tier: String,
        /// Indices of the tier's policies that applied.
        policies: Vec<usize>,
    },
    /// Every tier that applied passed the packet on: the namespace profile allows it.
    Passed,
}

/// A step on the way to a decision that did not end evaluation: a Pass or Log rule.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailStep {
    /// The policy.
    pub policy: usize,
    /// The rule.
    pub rule: usize,
    /// Pass or Log.
    pub action: RuleAction,
}

/// Why the oracle cannot predict a cell: it reports it as such, never guessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Uncertainty {
    /// "unknown (DNS)": the result depends on what a ClusterNetworkPolicy `domainNames` peer
    /// resolves to, which manifests do not say.
    Dns,
    /// "either": ClusterNetworkPolicies of one tier share a priority, and the API leaves their
    /// order to the implementation
    /// (kubernetes-sigs/network-policy-api@v0.2.0:apis/v1alpha2/clusternetworkpolicy_types.go#L98-L104).
    Either,
}

impl Uncertainty {
    /// How cells are labelled: `unknown (DNS)` or `either`.
    pub fn label(self) -> &'static str {
        match self {
            Uncertainty::Dns => "unknown (DNS)",
            Uncertainty::Either => "either",
        }
    }
}

/// Whether a rule matches a packet: yes, no, or only if DNS says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleMatch {
    No,
    Yes,
    Dns,
}

/// The results one direction can have over every DNS answer (and, where asked, every order of
/// equal-priority ClusterNetworkPolicies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Outcomes {
    allow: bool,
    deny: bool,
}

/// The verdict of one direction.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectionVerdict {
    /// Whether this side lets the packet through.
    pub allowed: bool,
    /// What decided.
    pub decision: Decision,
    /// Policies that selected the endpoint in this direction, in evaluation order.
    pub selected_by: Vec<usize>,
    /// Pass and Log rules met on the way.
    pub trail: Vec<TrailStep>,
    /// Policies evaluated on the way that decided nothing (no Allow, Deny or Pass rule matched),
    /// in evaluation order.
    pub undecided: Vec<usize>,
    /// `(policy, rule)` of rules met on the way whose match depends on DNS (taken as not
    /// matching here; [`Verdict::uncertain`] says whether that changes the result).
    pub dns_rules: Vec<(usize, usize)>,
}

/// The verdict for a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Allowed only if both sides allow.
    pub allowed: bool,
    /// Egress at the source.
    pub egress: DirectionVerdict,
    /// Ingress at the destination.
    pub ingress: DirectionVerdict,
    /// Set when the result is not decided by the manifests: `allowed` is then one possible
    /// result, and the cell must be reported as unknown or either, never asserted.
    pub uncertain: Option<Uncertainty>,
}

/// A rule with its endpoint conditions evaluated against every endpoint.
struct CompiledRule {
    /// `source_members[e]`: endpoint `e` satisfies the source's selector/net conditions.
    source_members: Option<Vec<bool>>,
    destination_members: Option<Vec<bool>>,
}

/// Policies compiled against a cluster, ready to answer many connection questions quickly.
pub struct Oracle<'a> {
    cluster: &'a Cluster,
    policies: &'a PolicySet,
    /// Compiled rules per policy, per direction (`[ingress, egress]`).
    rules: Vec<[Vec<CompiledRule>; 2]>,
    /// Per direction, per endpoint: indices of applicable policies in evaluation order.
    applicable: [Vec<Vec<usize>>; 2],
    /// Tier of each policy, as an index into the sorted tier list.
    policy_tier: Vec<usize>,
    /// Tiers' default actions and names, in evaluation order.
    tiers: Vec<(String, TierDefault)>,
    /// Whether some cell may be uncertain (a `domainNames` rule, or ClusterNetworkPolicies of one
    /// tier sharing a priority whose order is undefined), so verdicts look for it.
    may_be_uncertain: bool,
    /// Whether equal-priority ClusterNetworkPolicies have an order (an implementation's
    /// tie-break) rather than an undefined one.
    ties_defined: bool,
}

pub(crate) fn dir_index(d: Direction) -> usize {
    match d {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

fn cmp_order(a: Option<f64>, b: Option<f64>) -> Ordering {
    let a = a.unwrap_or(f64::INFINITY);
    let b = b.unwrap_or(f64::INFINITY);
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

impl<'a> Oracle<'a> {
    /// Compiles `policies` against `cluster`. Every selector is evaluated once per endpoint here,
    /// so that verdicts cost only the rules of the policies that apply.
    pub fn new(cluster: &'a Cluster, policies: &'a PolicySet) -> Oracle<'a> {
        let labels: Vec<_> = cluster
            .endpoint_ids()
            .map(|id| policy_labels(cluster, id))
            .collect();

        let mut tier_order: Vec<usize> = (0..policies.tiers.len()).collect();
        tier_order.sort_by(|&a, &b| {
            let (ta, tb) = (&policies.tiers[a], &policies.tiers[b]);
            cmp_order(ta.order, tb.order).then_with(|| ta.name.cmp(&tb.name))
        });
        let tiers: Vec<(String, TierDefault)> = tier_order
            .iter()
            .map(|&i| {
                (
                    policies.tiers[i].name.clone(),
                    policies.tiers[i].default_action,
                )
            })
            .collect();
        let policy_tier: Vec<usize> = policies
            .policies
            .iter()
            .map(|p| {
                tiers
                    .iter()
                    .position(|(name, _)| *name == p.tier)
                    .expect("PolicySet checks that tiers exist")
            })
            .collect();

        // Global evaluation order: tier, then order, then Calico's name tie-break.
        let mut order: Vec<usize> = (0..policies.policies.len()).collect();
        order.sort_by(|&a, &b| {
            let (pa, pb) = (&policies.policies[a], &policies.policies[b]);
            policy_tier[a]
                .cmp(&policy_tier[b])
                .then_with(|| cmp_order(pa.order, pb.order))
                .then_with(|| {
                    if policies.semantics == Semantics::Calico(CalicoLine::V3_32) {
                        sort_name_3_32(pa).cmp(&sort_name_3_32(pb))
                    } else {
                        sort_name(pa).cmp(&sort_name(pb))
                    }
                })
        });

        let policed = |id: EndpointId| !cluster.get(id).host_network;
        let members = |entity: &EntityMatch| -> Option<Vec<bool>> {
            if entity.selector.is_none()
                && entity.not_selector.is_none()
                && entity.nets.is_empty()
                && entity.not_nets.is_empty()
                && entity.nodes.is_none()
            {
                return None;
            }
            Some(
                cluster
                    .endpoint_ids()
                    .map(|id| {
                        // A host-network pod is not a workload endpoint: selectors never match
                        // it, and only its address counts.
                        let selectors_ok = if policed(id) {
                            let l = &labels[id.0];
                            entity.selector.as_ref().is_none_or(|s| s.matches(l))
                                && entity.not_selector.as_ref().is_none_or(|s| !s.matches(l))
                        } else {
                            entity.selector.is_none()
                        };
                        selectors_ok && address_matches(cluster, entity, cluster.get(id).ip())
                    })
                    .collect(),
            )
        };
        let rules: Vec<[Vec<CompiledRule>; 2]> = policies
            .policies
            .iter()
            .map(|p| {
                let compile = |rules: Option<&[Rule]>| -> Vec<CompiledRule> {
                    rules
                        .unwrap_or_default()
                        .iter()
                        .map(|r| CompiledRule {
                            source_members: members(&r.source),
                            destination_members: members(&r.destination),
                        })
                        .collect()
                };
                [
                    compile(p.rules(Direction::Ingress)),
                    compile(p.rules(Direction::Egress)),
                ]
            })
            .collect();

        let mut applicable = [
            vec![Vec::new(); cluster.endpoints.len()],
            vec![Vec::new(); cluster.endpoints.len()],
        ];
        for &pi in &order {
            let policy = &policies.policies[pi];
            for id in cluster.endpoint_ids() {
                if !policed(id) || !policy.subject.matches(&labels[id.0]) {
                    continue;
                }
                for d in [Direction::Ingress, Direction::Egress] {
                    if policy.rules(d).is_some() {
                        applicable[dir_index(d)][id.0].push(pi);
                    }
                }
            }
        }
        // Calico breaks ties by name (felix/calc/policy_sorter.go `PolKVLess`).
        let ties_defined = policies.semantics.calico().is_some();
        let is_cnp = |p: &crate::policy::Policy| p.id.kind == PolicyKind::ClusterNetworkPolicy;
        let has_dns = policies.policies.iter().any(|p| {
            [Direction::Ingress, Direction::Egress].iter().any(|&d| {
                p.rules(d)
                    .unwrap_or_default()
                    .iter()
                    .any(|r| !r.destination.domains.is_empty())
            })
        });
        let has_ties = !ties_defined
            && policies.policies.iter().enumerate().any(|(i, a)| {
                policies.policies[i + 1..]
                    .iter()
                    .any(|b| is_cnp(a) && is_cnp(b) && a.tier == b.tier && a.order == b.order)
            });
        Oracle {
            cluster,
            policies,
            rules,
            applicable,
            policy_tier,
            tiers,
            may_be_uncertain: has_dns || has_ties,
            ties_defined,
        }
    }

    /// The cluster the oracle was built for.
    pub fn cluster(&self) -> &Cluster {
        self.cluster
    }

    /// The policies the oracle was built from.
    pub fn policies(&self) -> &PolicySet {
        self.policies
    }

    /// The verdict for one connection.
    pub fn verdict(&self, packet: &Packet) -> Verdict {
        let egress = self.direction(Direction::Egress, packet);
        let ingress = self.direction(Direction::Ingress, packet);
        Verdict {
            allowed: egress.allowed && ingress.allowed,
            egress,
            ingress,
            uncertain: self.uncertainty(packet),
        }
    }

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
    fn policed_list(&self, direction: Direction, packet: &Packet) -> Option<Vec<usize>> {
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
    fn exempt(&self, policy: usize, packet: &Packet) -> bool {
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
    fn policy_results(
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

    /// Whether a connection is allowed, without building an explanation.
    pub fn allowed(&self, packet: &Packet) -> bool {
        self.direction(Direction::Egress, packet).allowed
            && self.direction(Direction::Ingress, packet).allowed
    }

    fn direction(&self, direction: Direction, packet: &Packet) -> DirectionVerdict {
        let local = match direction {
            Direction::Egress => packet.from,
            Direction::Ingress => packet.to,
        };
        let id = match local {
            Peer::Endpoint(id) if !self.cluster.get(id).host_network => id,
            _ => {
                return DirectionVerdict {
                    allowed: true,
                    decision: Decision::NotPoliced,
                    selected_by: Vec::new(),
                    trail: Vec::new(),
                    undecided: Vec::new(),
                    dns_rules: Vec::new(),
                };
            }
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
        let mut verdict = DirectionVerdict {
            allowed: true,
            decision: Decision::NoPolicy,
            selected_by: list.clone(),
            trail: Vec::new(),
            undecided: Vec::new(),
            dns_rules: Vec::new(),
        };
        if list.is_empty() {
            return verdict;
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
                            verdict.dns_rules.push((pi, ri));
                            continue;
                        }
                    }
                    match rule.action {
                        RuleAction::Allow | RuleAction::Deny => {
                            verdict.allowed = rule.action == RuleAction::Allow;
                            verdict.decision = Decision::Rule {
                                policy: pi,
                                rule: ri,
                            };
                            return verdict;
                        }
                        RuleAction::Pass => {
                            verdict.trail.push(TrailStep {
                                policy: pi,
                                rule: ri,
                                action: RuleAction::Pass,
                            });
                            passed = true;
                            break 'policies;
                        }
                        RuleAction::Log => verdict.trail.push(TrailStep {
                            policy: pi,
                            rule: ri,
                            action: RuleAction::Log,
                        }),
                    }
                }
                verdict.undecided.push(pi);
            }
            let (name, default) = &self.tiers[tier];
            if !passed && *default == TierDefault::Deny {
                verdict.allowed = false;
                verdict.decision = Decision::EndOfTier {
                    tier: name.clone(),
                    policies: list[i..end].to_vec(),
                };
                return verdict;
            }
            i = end;
        }
        verdict.decision = Decision::Passed;
        verdict
    }

    /// Whether `rule` matches: a `domainNames` destination that the other conditions accept
    /// matches only if DNS says so.
    fn rule_match(
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
            compiled.source_members.as_deref(),
            packet.from,
        ) && self.side_matches(
            &rule.destination,
            compiled.destination_members.as_deref(),
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
fn address_matches(cluster: &Cluster, entity: &EntityMatch, ip: IpAddr) -> bool {
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

/// Calico's tie-break between policies of equal order (v3.29–v3.31 `PolKVLess`): the policy's
/// backend name, `namespace/name` for namespaced policies and `name` for cluster-scoped ones,
/// where the backend name carries the tier or kind prefix Calico gives it: `knp.default.<name>`
/// for Kubernetes NetworkPolicy, `<tier>.<name>` for Calico policies, and
/// `kanp.adminnetworkpolicy.<name>` / `kbanp.baselineadminnetworkpolicy.<name>` for the admin
/// kinds. So at equal order a Calico NetworkPolicy in the default tier (`default.…`) comes before
/// a Kubernetes NetworkPolicy of the same namespace (`knp.default.…`).
/// Calico 3.32's tie-break between policies of equal order: the string
/// `"<name>/<namespace>/<kind>"` of the policy key
/// (projectcalico/calico@v3.32.1:felix/calc/policy_sorter.go#L388-L399), where names carry no
/// tier prefix any more (calico#11232) and the kinds are `KubernetesNetworkPolicy`,
/// `NetworkPolicy`, `GlobalNetworkPolicy` and `KubernetesClusterNetworkPolicy`
/// (libcalico-go/lib/backend/model/kubenetworkpolicy.go, kubeclusternetworkpolicy.go). So at equal
/// order a Kubernetes NetworkPolicy `a` now comes before a Calico NetworkPolicy `b` of the same
/// namespace, where 3.31 compared `ns/default.b` with `ns/knp.default.a`.
fn sort_name_3_32(p: &crate::policy::Policy) -> String {
    use crate::policy::PolicyKind;
    let kind = match p.id.kind {
        PolicyKind::KubernetesNetworkPolicy => "KubernetesNetworkPolicy",
        PolicyKind::CalicoNetworkPolicy => "NetworkPolicy",
        PolicyKind::CalicoGlobalNetworkPolicy => "GlobalNetworkPolicy",
        PolicyKind::ClusterNetworkPolicy => "KubernetesClusterNetworkPolicy",
        PolicyKind::AdminNetworkPolicy => "AdminNetworkPolicy",
        PolicyKind::BaselineAdminNetworkPolicy => "BaselineAdminNetworkPolicy",
    };
    format!(
        "{}/{}/{kind}",
        p.id.name,
        p.id.namespace.as_deref().unwrap_or_default()
    )
}

fn sort_name(p: &crate::policy::Policy) -> String {
    use crate::policy::PolicyKind;
    let name = &p.id.name;
    let backend = match p.id.kind {
        PolicyKind::KubernetesNetworkPolicy => format!("knp.default.{name}"),
        PolicyKind::CalicoNetworkPolicy | PolicyKind::CalicoGlobalNetworkPolicy => {
            if name.starts_with(&format!("{}.", p.tier)) {
                name.clone()
            } else {
                format!("{}.{name}", p.tier)
            }
        }
        PolicyKind::AdminNetworkPolicy => format!("kanp.adminnetworkpolicy.{name}"),
        PolicyKind::BaselineAdminNetworkPolicy => {
            format!("kbanp.baselineadminnetworkpolicy.{name}")
        }
        PolicyKind::ClusterNetworkPolicy => name.clone(),
    };
    match &p.id.namespace {
        Some(ns) => format!("{ns}/{backend}"),
        None => backend,
    }
}

#[cfg(test)]
mod tests;
