//! Identities: endpoints that nothing the oracle reads tells apart (the replicas of a workload,
//! as a rule). Verdicts are computed once per pair of identities and expanded at output
//! ([`super::Matrix`]).
//!
//! Two endpoints share an identity when they agree on everything a verdict reads of them: the
//! policies that apply to them in each direction (in order), whether every compiled rule side
//! (selectors, address blocks, node selectors) matches them, their host-network flag, their
//! address family, and their ports (named ports are resolved on the destination). The one thing
//! left is whether a packet goes from an endpoint to itself (ClusterNetworkPolicy does not apply
//! then), which the matrix keeps per identity.

use std::collections::HashMap;

use super::Oracle;
use crate::model::{ContainerPort, EndpointId};

/// A partition of the endpoints into identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identities {
    /// The identity of each endpoint (indexed by [`EndpointId`]).
    pub of: Vec<usize>,
    /// The endpoints of each identity, in order (never empty).
    pub members: Vec<Vec<EndpointId>>,
}

/// Everything a verdict reads of one endpoint.
#[derive(PartialEq, Eq, Hash)]
struct Signature<'a> {
    host_network: bool,
    ipv4: bool,
    ports: &'a [ContainerPort],
    init_ports: &'a [ContainerPort],
    ingress: &'a [usize],
    egress: &'a [usize],
    rule_sides: &'a [u64],
}

impl Oracle<'_> {
    /// The endpoints grouped into identities.
    pub fn identities(&self) -> Identities {
        let n = self.cluster.endpoints.len();
        let sides = &self.sides;
        let words = sides.len().div_ceil(64).max(1);
        let mut bits = vec![0u64; n * words];
        for (s, members) in sides.iter().enumerate() {
            for (e, _) in members.iter().enumerate().filter(|(_, m)| **m) {
                bits[e * words + s / 64] |= 1 << (s % 64);
            }
        }
        let mut index: HashMap<Signature<'_>, usize> = HashMap::new();
        let mut identities = Identities {
            of: Vec::with_capacity(n),
            members: Vec::new(),
        };
        for id in self.cluster.endpoint_ids() {
            let e = self.cluster.get(id);
            let signature = Signature {
                host_network: e.host_network,
                ipv4: e.ip().is_ipv4(),
                ports: &e.ports,
                init_ports: &e.init_ports,
                ingress: &self.applicable[0][id.0],
                egress: &self.applicable[1][id.0],
                rule_sides: &bits[id.0 * words..(id.0 + 1) * words],
            };
            let next = identities.members.len();
            let class = *index.entry(signature).or_insert(next);
            if class == next {
                identities.members.push(Vec::new());
            }
            identities.members[class].push(id);
            identities.of.push(class);
        }
        identities
    }
}

#[cfg(test)]
mod tests;
