//! What a scenario step needs from a cluster, and what a CNI provides.
//!
//! Scenarios list the capabilities they require (`requires:` in a scenario file); CNI profiles list
//! the ones they enforce. A step whose requirements the CNI lacks is reported as not applicable.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One thing a scenario may need from the cluster it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Kubernetes NetworkPolicy ingress rules are enforced.
    Ingress,
    /// Kubernetes NetworkPolicy egress rules are enforced.
    Egress,
    /// Named ports in NetworkPolicy rules are resolved against the destination's container ports.
    NamedPorts,
    /// `endPort` port ranges are enforced.
    EndPort,
    /// SCTP traffic can be carried and matched by policy.
    Sctp,
    /// `ipBlock` peers also match pod IPs (not only addresses outside the cluster).
    IpblockPodIp,
    /// The projectcalico.org/v3 API (NetworkPolicy, GlobalNetworkPolicy, Tier) can be applied.
    CalicoCrds,
    /// AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1).
    AdminNetworkPolicy,
    /// ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2, network-policy-api v0.2.0): the
    /// standard channel plus `networks` peers and named ports.
    ClusterNetworkPolicy,
    /// ClusterNetworkPolicy `nodes` egress peers (experimental channel).
    CnpNodes,
    /// ClusterNetworkPolicy `domainNames` egress peers (experimental channel).
    CnpDomainNames,
    /// An ingress controller reachable from outside the cluster (Contour/Envoy on host port 80).
    IngressController,
    /// Pods can reach the internet (only for claims about external targets).
    Internet,
}

impl Capability {
    /// Every capability, in a stable order.
    pub const ALL: [Capability; 13] = [
        Capability::Ingress,
        Capability::Egress,
        Capability::NamedPorts,
        Capability::EndPort,
        Capability::Sctp,
        Capability::IpblockPodIp,
        Capability::CalicoCrds,
        Capability::AdminNetworkPolicy,
        Capability::ClusterNetworkPolicy,
        Capability::CnpNodes,
        Capability::CnpDomainNames,
        Capability::IngressController,
        Capability::Internet,
    ];

    /// The name used in scenario files and CNI profiles (kebab-case).
    pub fn name(self) -> &'static str {
        match self {
            Capability::Ingress => "ingress",
            Capability::Egress => "egress",
            Capability::NamedPorts => "named-ports",
            Capability::EndPort => "end-port",
            Capability::Sctp => "sctp",
            Capability::IpblockPodIp => "ipblock-pod-ip",
            Capability::CalicoCrds => "calico-crds",
            Capability::AdminNetworkPolicy => "admin-network-policy",
            Capability::ClusterNetworkPolicy => "cluster-network-policy",
            Capability::CnpNodes => "cnp-nodes",
            Capability::CnpDomainNames => "cnp-domain-names",
            Capability::IngressController => "ingress-controller",
            Capability::Internet => "internet",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A capability name the harness does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability `{name}` (known: {})", known_names())]
pub struct UnknownCapability {
    /// The name given.
    pub name: String,
}

/// Every capability's name, comma-separated.
fn known_names() -> String {
    let known: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
    known.join(", ")
}

impl FromStr for Capability {
    type Err = UnknownCapability;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownCapability {
                name: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_and_serde() {
        for c in Capability::ALL {
            assert_eq!(c.name().parse::<Capability>().unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.name()));
        }
        assert!(
            "ipv6"
                .parse::<Capability>()
                .unwrap_err()
                .to_string()
                .contains("known: ingress")
        );
    }
}
