//! Where a probe goes: between pods on one node or on two, and over which address family.
//! Traffic between pods of one node stays on that node's bridge or veth pairs; traffic across
//! nodes takes the CNI's inter-node path (a tunnel, routes, an eBPF redirect), which a dataplane
//! can get wrong on its own. On a dual-stack cluster each pod has an address of each family
//! (`status.podIPs`), and each is probed: IPv6 has its own rules in every dataplane.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The label the kind configs of `kind-config/` put on their workers (`"1"`, `"2"`), and the
/// generated topology's pods select with a node affinity.
pub const SLOT_LABEL: &str = "netpol-harness.io/slot";

/// Whether a probe's source and destination pods ran on the same node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Locality {
    /// Both pods on one node.
    SameNode,
    /// The pods on two nodes.
    CrossNode,
}

impl Locality {
    /// Both, in the order reports list them.
    pub const ALL: [Locality; 2] = [Locality::SameNode, Locality::CrossNode];

    /// The locality of a probe between pods on nodes `from` and `to` (`spec.nodeName`); `None`
    /// when either is not known (a probe from outside, to a Service address, to the internet,
    /// or a pod not scheduled).
    pub fn between(from: Option<&str>, to: Option<&str>) -> Option<Locality> {
        match (from?, to?) {
            (a, b) if a == b => Some(Locality::SameNode),
            _ => Some(Locality::CrossNode),
        }
    }

    /// Its name in JSON and reports: `same-node` or `cross-node`.
    pub fn name(self) -> &'static str {
        match self {
            Locality::SameNode => "same-node",
            Locality::CrossNode => "cross-node",
        }
    }
}

impl fmt::Display for Locality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The address family a probe went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl Family {
    /// The family of `host` if it is an address (`None` for a name).
    pub fn of(host: &str) -> Option<Family> {
        match host.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(_) => Some(Family::Ipv4),
            std::net::IpAddr::V6(_) => Some(Family::Ipv6),
        }
    }

    /// Its name in JSON and reports: `ipv4` or `ipv6`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locality_needs_both_nodes_and_compares_them() {
        assert_eq!(
            Locality::between(Some("w1"), Some("w1")),
            Some(Locality::SameNode)
        );
        assert_eq!(
            Locality::between(Some("w1"), Some("w2")),
            Some(Locality::CrossNode)
        );
        assert_eq!(Locality::between(None, Some("w1")), None);
        assert_eq!(Locality::between(Some("w1"), None), None);
        assert_eq!(
            serde_json::to_string(&Locality::CrossNode).unwrap(),
            "\"cross-node\""
        );
        assert_eq!(Locality::SameNode.to_string(), "same-node");
    }

    #[test]
    fn family_of_an_address_and_none_for_a_name() {
        assert_eq!(Family::of("10.244.1.2"), Some(Family::Ipv4));
        assert_eq!(Family::of("fd00:10:244::5"), Some(Family::Ipv6));
        assert_eq!(Family::of("nginx.default.svc"), None);
        assert_eq!(serde_json::to_string(&Family::Ipv6).unwrap(), "\"ipv6\"");
        assert_eq!(Family::Ipv4.to_string(), "ipv4");
    }
}
