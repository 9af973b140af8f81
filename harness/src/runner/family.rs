//! Per-address expectations on a dual-stack cluster. Each pod's IPv6 address, and a dual-stack
//! Service's IPv6 ClusterIP, is probed beside its IPv4 one; a verdict that rests on addresses (an
//! ipBlock, Calico `nets`/`notNets`, a ClusterNetworkPolicy `networks` peer) can differ per
//! family, since an IPv4 CIDR never matches an IPv6 packet, and per replica, since each pod has
//! its own address. The plan predicted with IPv4 addresses; an IPv6 cell is predicted again by
//! the oracle on the step's model in which every pod probed (and every pod behind a Service
//! probed) is an endpoint of its own carrying its live IPv6 address ([`Ipv6Model`]).
//!
//! An IPv6 cell then expects what the plan expects when both families agree, the IPv6 verdict
//! when they differ ("over IPv6 (…), unlike over IPv4"), and is reported but not asserted when
//! the oracle cannot decide it over IPv6 — its manifests leave it open, or the pods behind a
//! Service get different verdicts — never silently with the IPv4 expectation.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::converge::ProbeCell;
use super::outcome::{Unasserted, Undecided};
use crate::analysis::Analysis;
use crate::cluster::{PodInfo, PodRef, endpoint_per_pod};
use crate::model::Protocol;
use crate::oracle::{Oracle, Packet, Peer};
use crate::scenario::format::Expectation;
use crate::scenario::predict::Backend;

/// The step's model over IPv6: every pod given an endpoint of its own carrying its IPv6
/// address ([`endpoint_per_pod`]).
pub(super) struct Ipv6Model {
    analysis: Analysis,
    /// The model endpoint (`namespace/name`) of each pod.
    of_pod: HashMap<PodRef, String>,
    /// The model endpoint of each IPv6 address.
    of_address: HashMap<IpAddr, String>,
    /// The model endpoints of each endpoint's pods, by the plan's `namespace/name`.
    of_endpoint: BTreeMap<String, Vec<String>>,
}

impl Ipv6Model {
    /// The model for these pods (by their endpoint's `namespace/name`); `None` when none has an
    /// IPv6 address (`status.podIPs`): a single-stack cluster.
    pub(super) fn new(
        model: &Analysis,
        pods: &BTreeMap<String, Vec<PodInfo>>,
    ) -> Option<Ipv6Model> {
        let with_v6: Vec<(&str, &PodRef, IpAddr)> = pods
            .iter()
            .flat_map(|(key, pods)| {
                pods.iter().filter_map(move |p| {
                    let ip = p.ips.iter().find(|ip| ip.is_ipv6())?;
                    Some((key.as_str(), &p.pod, *ip))
                })
            })
            .collect();
        if with_v6.is_empty() {
            return None;
        }
        let mut analysis = model.clone();
        let of_pod = endpoint_per_pod(&mut analysis.cluster, with_v6.iter().copied());
        let mut of_address = HashMap::new();
        let mut of_endpoint: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (endpoint, pod, ip) in with_v6 {
            if let Some(key) = of_pod.get(pod) {
                of_address.insert(ip, key.clone());
                let keys = of_endpoint.entry(endpoint.to_string()).or_default();
                if !keys.contains(key) {
                    keys.push(key.clone());
                }
            }
        }
        Some(Ipv6Model {
            analysis,
            of_pod,
            of_address,
            of_endpoint,
        })
    }
}

/// What the oracle says of an IPv6 cell, beside the plan's (IPv4) expectation.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ipv6Verdict {
    /// As over IPv4: the plan's expectation stands.
    Same,
    /// Otherwise than over IPv4: this, and why.
    Differs(Expectation, String),
    /// Undecidable over IPv6: reported, not asserted, and why.
    Undecided(Undecided, String),
}

impl Ipv6Verdict {
    /// Sets `cell`'s expectation (or marks it not asserted) accordingly.
    pub(super) fn apply(self, cell: &mut ProbeCell) {
        match self {
            Ipv6Verdict::Same => {}
            Ipv6Verdict::Differs(expected, why) => {
                cell.expected = expected;
                cell.why = Some(why);
            }
            Ipv6Verdict::Undecided(undecided, why) => {
                cell.unasserted = Some(Unasserted::Uncertain(undecided));
                cell.why = Some(why);
            }
        }
    }
}

/// The oracle over both families: the plan's model (IPv4) and the [`Ipv6Model`].
pub(super) struct Ipv6Oracle<'m> {
    v4: (&'m Analysis, Oracle<'m>),
    v6: (&'m Ipv6Model, Oracle<'m>),
}

impl<'m> Ipv6Oracle<'m> {
    /// The oracle on both models.
    pub(super) fn new(v4: &'m Analysis, v6: &'m Ipv6Model) -> Ipv6Oracle<'m> {
        Ipv6Oracle {
            v4: (v4, v4.oracle()),
            v6: (v6, v6.analysis.oracle()),
        }
    }

    /// An IPv6 cell from pod `source` of endpoint `from` to the pod at `address` of endpoint
    /// `to` (`namespace/name`).
    pub(super) fn pod_cell(
        &self,
        (from, source): (&str, &PodRef),
        (to, address): (&str, IpAddr),
        port: Option<u16>,
        protocol: Protocol,
    ) -> Ipv6Verdict {
        let v4 = &self.v4.0.cluster;
        let (Some(f4), Some(t4)) = (v4.endpoint(from), v4.endpoint(to)) else {
            return Ipv6Verdict::Same;
        };
        let Some(to6) = self.v6.0.of_address.get(&address) else {
            return Ipv6Verdict::Undecided(
                Undecided::NotModelled,
                format!("over IPv6 the probed address {address} is no pod of the step's model"),
            );
        };
        let over_v4 = self.v4.1.allowed(&Packet {
            from: Peer::Endpoint(f4),
            to: Peer::Endpoint(t4),
            protocol,
            port,
        });
        self.judge(over_v4, &self.packets(source, &[(to6, port)], protocol))
    }

    /// An IPv6 cell from pod `source` of endpoint `from` to a Service's IPv6 ClusterIP: the
    /// connection lands on one pod of one of `backends`, on its target port.
    pub(super) fn service_cell(
        &self,
        (from, source): (&str, &PodRef),
        backends: &[Backend],
        protocol: Protocol,
    ) -> Ipv6Verdict {
        let v4 = &self.v4.0.cluster;
        let first = backends
            .first()
            .and_then(|b| Some((v4.endpoint(&b.endpoint)?, b.port)));
        let (Some(f4), Some((t4, port))) = (v4.endpoint(from), first) else {
            return Ipv6Verdict::Same;
        };
        // The plan refuses a Service whose backends disagree over IPv4: the first speaks for all.
        let over_v4 = self.v4.1.allowed(&Packet {
            from: Peer::Endpoint(f4),
            to: Peer::Endpoint(t4),
            protocol,
            port: Some(port),
        });
        let pods: Vec<(&String, Option<u16>)> = backends
            .iter()
            .flat_map(|b| {
                let keys = self.v6.0.of_endpoint.get(&b.endpoint);
                keys.into_iter().flatten().map(|k| (k, Some(b.port)))
            })
            .collect();
        self.judge(over_v4, &self.packets(source, &pods, protocol))
    }

    /// The IPv6 packets from pod `source` to each of `to` (model endpoint, port).
    fn packets(
        &self,
        source: &PodRef,
        to: &[(&String, Option<u16>)],
        protocol: Protocol,
    ) -> Vec<Packet> {
        let cluster = &self.v6.0.analysis.cluster;
        let Some(from) = self
            .v6
            .0
            .of_pod
            .get(source)
            .and_then(|k| cluster.endpoint(k))
        else {
            return Vec::new();
        };
        to.iter()
            .filter_map(|(key, port)| {
                Some(Packet {
                    from: Peer::Endpoint(from),
                    to: Peer::Endpoint(cluster.endpoint(key)?),
                    protocol,
                    port: *port,
                })
            })
            .collect()
    }

    /// The verdict over IPv6 when a connection is one of `packets` (one pod, or the pods behind
    /// a Service), beside the verdict over IPv4.
    fn judge(&self, over_v4: bool, packets: &[Packet]) -> Ipv6Verdict {
        let (model, oracle) = (&self.v6.0.analysis, &self.v6.1);
        let route = |p: &Packet| {
            let address = |peer| match peer {
                Peer::Endpoint(id) => model.cluster.get(id).ip(),
                Peer::External(ip) => ip,
            };
            format!("{} → {}", address(p.from), address(p.to))
        };
        let verdicts: Vec<_> = packets.iter().map(|p| (p, oracle.verdict(p))).collect();
        let Some((first, verdict)) = verdicts.first() else {
            return Ipv6Verdict::Undecided(
                Undecided::NotModelled,
                "over IPv6 the step's model has no packet to judge: the source pod, or every pod \
                 behind the target, has no IPv6 address in it"
                    .to_string(),
            );
        };
        if let Some((p, v, u)) = verdicts
            .iter()
            .find_map(|(p, v)| Some((p, v, v.uncertain?)))
        {
            return Ipv6Verdict::Undecided(
                Undecided::Oracle(u),
                format!(
                    "over IPv6 ({}) the oracle cannot decide it ({}): {}",
                    route(p),
                    u.label(),
                    oracle.explain(p, v)
                ),
            );
        }
        if let Some((p, _)) = verdicts.iter().find(|(_, v)| v.allowed != verdict.allowed) {
            let word = |allowed| if allowed { "allowed" } else { "blocked" };
            return Ipv6Verdict::Undecided(
                Undecided::BackendsDiffer,
                format!(
                    "over IPv6 the Service's pods differ: {} {}, {} {}",
                    route(first),
                    word(verdict.allowed),
                    route(p),
                    word(!verdict.allowed)
                ),
            );
        }
        if verdict.allowed == over_v4 {
            return Ipv6Verdict::Same;
        }
        let expected = match verdict.allowed {
            true => Expectation::Allowed,
            false => Expectation::Blocked,
        };
        Ipv6Verdict::Differs(
            expected,
            format!(
                "over IPv6 ({}), unlike over IPv4: {}",
                route(first),
                oracle.explain(first, verdict)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ips: &[&str]) -> PodInfo {
        PodInfo {
            pod: PodRef {
                namespace: "x".into(),
                name: name.into(),
            },
            ips: ips.iter().map(|ip| ip.parse().unwrap()).collect(),
            node: None,
            containers: Vec::new(),
            annotations: BTreeMap::new(),
            running_ephemeral: Vec::new(),
        }
    }

    #[test]
    fn an_ipv6_cell_the_model_has_no_pod_for_is_undecided_never_the_ipv4_expectation() {
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\nspec: {containers: [{name: c, image: i}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}\n";
        let docs = crate::manifest::parse_str(std::path::Path::new("m.yaml"), yaml).unwrap();
        let v4 = Analysis::from_documents(&docs, crate::model::DEFAULT_POD_CIDR.parse().unwrap())
            .unwrap();
        let pods = BTreeMap::from([
            (
                "x/a".to_string(),
                vec![pod("a", &["10.244.1.2", "fd00:10:244:1::2"])],
            ),
            ("x/b".to_string(), vec![pod("b", &["10.244.2.3"])]),
        ]);
        let v6 = Ipv6Model::new(&v4, &pods).unwrap();
        let oracle = Ipv6Oracle::new(&v4, &v6);
        let source = PodRef {
            namespace: "x".into(),
            name: "a".into(),
        };
        // b has no IPv6 address in the model: its probed IPv6 address cannot be judged.
        let verdict = oracle.pod_cell(
            ("x/a", &source),
            ("x/b", "fd00:10:244:2::3".parse().unwrap()),
            Some(80),
            Protocol::Tcp,
        );
        assert!(
            matches!(verdict, Ipv6Verdict::Undecided(Undecided::NotModelled, ref why) if why.contains("fd00:10:244:2::3")),
            "{verdict:?}"
        );
        // Nor can a cell whose source pod the model does not know.
        let stranger = PodRef {
            namespace: "x".into(),
            name: "gone".into(),
        };
        let verdict = oracle.pod_cell(
            ("x/a", &stranger),
            ("x/a", "fd00:10:244:1::2".parse().unwrap()),
            Some(80),
            Protocol::Tcp,
        );
        assert!(
            matches!(verdict, Ipv6Verdict::Undecided(Undecided::NotModelled, _)),
            "{verdict:?}"
        );
    }
}
