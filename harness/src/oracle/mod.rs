//! The oracle: which connections a conforming cluster must allow, and why.
//!
//! [`Oracle::new`] compiles the policies against the cluster once: every selector is matched
//! against every endpoint up front, and each endpoint gets its ordered list of applicable
//! policies per direction. [`Oracle::verdict`] then walks tiers → policies → rules for the
//! egress side at the source and the ingress side at the destination; a connection is allowed
//! only when both allow it.

mod evaluate;
mod explain;
mod identity;
mod matrix;
mod order;
mod uncertain;

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::IpAddr;

use crate::model::{Cluster, EndpointId, Labels, Protocol};
use crate::policy::labels::{policy_labels, required_namespace};
use crate::policy::{
    CalicoLine, Direction, EntityMatch, PolicyKind, PolicySet, Rule, RuleAction, Selector,
    Semantics, TierDefault,
};

use evaluate::address_matches;
pub use identity::Identities;
pub use matrix::{Cell, Matrix, ProbePort, ProbePortError};
use order::{sort_name, sort_name_3_32};

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
    /// Index into [`Oracle::sides`] of the source's selector/net conditions (`None`: no
    /// condition on the source).
    source_members: Option<usize>,
    /// The same for the destination.
    destination_members: Option<usize>,
}

/// What decides whether an endpoint satisfies one side of a rule: its selectors, address
/// blocks and node selector. Rules whose sides agree on these (the same peer in many
/// namespaces' policies) share one evaluation.
type SideKey<'p> = (
    Option<&'p Selector>,
    Option<&'p Selector>,
    &'p [ipnet::IpNet],
    &'p [ipnet::IpNet],
    Option<&'p Selector>,
);

/// Policies compiled against a cluster, ready to answer many connection questions quickly.
pub struct Oracle<'a> {
    cluster: &'a Cluster,
    policies: &'a PolicySet,
    /// Compiled rules per policy, per direction (`[ingress, egress]`).
    rules: Vec<[Vec<CompiledRule>; 2]>,
    /// The distinct rule sides: `sides[s][e]`, endpoint `e` satisfies side `s`.
    sides: Vec<Vec<bool>>,
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
        // Endpoints with the same policy labels (the replicas of a workload) are matched against
        // each selector once: `groups` holds one representative's labels per group.
        let policed = |id: EndpointId| !cluster.get(id).host_network;
        let mut group_of = Vec::with_capacity(cluster.endpoints.len());
        let mut groups: Vec<(Labels, bool)> = Vec::new();
        let mut members_of: Vec<Vec<EndpointId>> = Vec::new();
        {
            let mut index: HashMap<(Labels, bool), usize> = HashMap::new();
            for id in cluster.endpoint_ids() {
                let key = (policy_labels(cluster, id), policed(id));
                let g = *index.entry(key.clone()).or_insert_with(|| {
                    groups.push(key);
                    members_of.push(Vec::new());
                    groups.len() - 1
                });
                group_of.push(g);
                members_of[g].push(id);
            }
        }
        // The policed groups of each namespace: a selector that requires one namespace (every
        // namespaced policy's subject, its pod-selector peers) is matched against those only, as
        // the others lack its `projectcalico.org/namespace` value.
        let mut in_namespace: HashMap<&str, Vec<usize>> = HashMap::new();
        for (g, (labels, policed)) in groups.iter().enumerate() {
            if let (true, Some(ns)) = (*policed, labels.get(crate::policy::labels::NAMESPACE)) {
                in_namespace.entry(ns.as_str()).or_default().push(g);
            }
        }
        let all_groups: Vec<usize> = (0..groups.len()).collect();
        // The groups a selector may match: those of the namespace it requires, or all.
        let candidates = |selector: &Selector| -> &[usize] {
            match required_namespace(selector) {
                Some(ns) => in_namespace.get(ns).map_or(&[], Vec::as_slice),
                None => &all_groups,
            }
        };

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

        let mut sides: Vec<Vec<bool>> = Vec::new();
        let mut side_index: HashMap<SideKey<'_>, usize> = HashMap::new();
        let mut members = |entity: &'a EntityMatch| -> Option<usize> {
            if entity.selector.is_none()
                && entity.not_selector.is_none()
                && entity.nets.is_empty()
                && entity.not_nets.is_empty()
                && entity.nodes.is_none()
            {
                return None;
            }
            let key: SideKey<'a> = (
                entity.selector.as_ref(),
                entity.not_selector.as_ref(),
                &entity.nets,
                &entity.not_nets,
                entity.nodes.as_ref(),
            );
            if let Some(&s) = side_index.get(&key) {
                return Some(s);
            }
            // A host-network pod is not a workload endpoint: selectors never match it, and only
            // its address counts.
            let selectors_ok: Vec<bool> = match &entity.selector {
                Some(selector) => {
                    // Groups outside `candidates` (another namespace, or host network) fail the
                    // selector.
                    let mut ok = vec![false; groups.len()];
                    for &g in candidates(selector) {
                        let l = &groups[g].0;
                        ok[g] = groups[g].1
                            && selector.matches(l)
                            && entity.not_selector.as_ref().is_none_or(|s| !s.matches(l));
                    }
                    ok
                }
                None => groups
                    .iter()
                    .map(|(l, policed)| {
                        !*policed || entity.not_selector.as_ref().is_none_or(|s| !s.matches(l))
                    })
                    .collect(),
            };
            sides.push(
                cluster
                    .endpoint_ids()
                    .map(|id| {
                        selectors_ok[group_of[id.0]]
                            && address_matches(cluster, entity, cluster.get(id).ip())
                    })
                    .collect(),
            );
            side_index.insert(key, sides.len() - 1);
            Some(sides.len() - 1)
        };
        let rules: Vec<[Vec<CompiledRule>; 2]> = policies
            .policies
            .iter()
            .map(|p| {
                let mut compile = |rules: Option<&'a [Rule]>| -> Vec<CompiledRule> {
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
            for &g in candidates(&policy.subject) {
                let (labels, policed) = &groups[g];
                if !policed || !policy.subject.matches(labels) {
                    continue;
                }
                for d in [Direction::Ingress, Direction::Egress] {
                    if policy.rules(d).is_some() {
                        for id in &members_of[g] {
                            applicable[dir_index(d)][id.0].push(pi);
                        }
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
            sides,
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

    /// Whether a connection is allowed, without building an explanation.
    pub fn allowed(&self, packet: &Packet) -> bool {
        self.direction_allowed(Direction::Egress, packet)
            && self.direction_allowed(Direction::Ingress, packet)
    }
}

#[cfg(test)]
mod tests;
