//! Per-address expectations on a dual-stack cluster. Each pod's IPv6 address is probed beside
//! its IPv4 one; a verdict that rests on addresses (an ipBlock, Calico `nets`/`notNets`, a
//! ClusterNetworkPolicy `networks` peer) can differ per family, since an IPv4 CIDR never matches
//! an IPv6 packet. The plan predicted with IPv4 addresses; an IPv6 cell is predicted again by the
//! oracle on the step's model whose endpoints carry their live IPv6 addresses.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::analysis::Analysis;
use crate::cluster::PodInfo;
use crate::model::Protocol;
use crate::oracle::{Oracle, Packet, Peer};
use crate::scenario::PlannedProbe;
use crate::scenario::format::Expectation;
use crate::scenario::plan::Resolution;
use crate::scenario::target::Client;

/// The step's model with every endpoint whose pod has an IPv6 address (`status.podIPs`) carrying
/// that address alone; `None` when no pod has one (a single-stack cluster).
pub(super) fn ipv6_model(
    model: &Analysis,
    pods: &HashMap<String, Vec<PodInfo>>,
) -> Option<Analysis> {
    let mut v6 = model.clone();
    let mut any = false;
    for endpoint in &mut v6.cluster.endpoints {
        let address = pods
            .get(&endpoint.key())
            .and_then(|p| p.first())
            .and_then(|p| p.ips.iter().find(|ip| ip.is_ipv6()));
        if let Some(ip) = address {
            endpoint.ips = vec![*ip];
            any = true;
        }
    }
    any.then_some(v6)
}

/// What an IPv6 cell of `planned` (a pod probing a pod) should observe, with why, when the
/// oracle says otherwise over IPv6 than over IPv4; `None` when both families agree (the plan's
/// expectation stands) or the probe is not pod to pod.
pub(super) fn ipv6_expectation(
    v4: (&Analysis, &Oracle<'_>),
    v6: (&Analysis, &Oracle<'_>),
    planned: &PlannedProbe,
) -> Option<(Expectation, String)> {
    let (
        Client::Endpoint(from),
        Resolution::Endpoint {
            endpoint,
            port,
            protocol,
        },
    ) = (&planned.client, &planned.resolution)
    else {
        return None;
    };
    ipv6_cell_expectation(v4, v6, (from, endpoint), *port, *protocol)
}

/// What an IPv6 cell from endpoint `from` to endpoint `to` (`namespace/name`) should observe,
/// with why, when the oracle says otherwise over IPv6 than over IPv4; `None` when both families
/// agree or the IPv6 answer is undecided.
pub(super) fn ipv6_cell_expectation(
    v4: (&Analysis, &Oracle<'_>),
    v6: (&Analysis, &Oracle<'_>),
    (from, endpoint): (&str, &str),
    port: Option<u16>,
    protocol: Protocol,
) -> Option<(Expectation, String)> {
    let packet = |model: &Analysis| -> Option<Packet> {
        Some(Packet {
            from: Peer::Endpoint(model.cluster.endpoint(from)?),
            to: Peer::Endpoint(model.cluster.endpoint(endpoint)?),
            protocol,
            port,
        })
    };
    let (p4, p6) = (packet(v4.0)?, packet(v6.0)?);
    let over_v6 = v6.1.verdict(&p6);
    if over_v6.uncertain.is_some() || v4.1.allowed(&p4) == over_v6.allowed {
        return None;
    }
    let expected = if over_v6.allowed {
        Expectation::Allowed
    } else {
        Expectation::Blocked
    };
    let address = |model: &Analysis, id| -> IpAddr { model.cluster.get(id).ip() };
    let (Peer::Endpoint(a), Peer::Endpoint(b)) = (p6.from, p6.to) else {
        return None;
    };
    Some((
        expected,
        format!(
            "over IPv6 ({} → {}), unlike over IPv4: {}",
            address(v6.0, a),
            address(v6.0, b),
            v6.1.explain(&p6, &over_v6)
        ),
    ))
}
