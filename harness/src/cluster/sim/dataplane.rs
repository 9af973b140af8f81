//! The simulated dataplane: the model as of the propagation delay, and what one probe observes
//! (the oracle's verdict on its packet, as the simulated CNI enforces it).

use std::collections::HashMap;
use std::net::IpAddr;

use tokio::time::Instant;

use super::faults::{Enforcement, denied, strip_named_ports};
use super::{SimCluster, SimError, SimPod, SimState};
use crate::cluster::{Family, PodRef, endpoint_per_pod};
use crate::model::{Cluster, EndpointId, PortRef, Protocol};
use crate::oracle::{Oracle, Packet, Peer};
use crate::policy::PolicySet;
use crate::probe::{Outcome, ProbeKind, ProbeSpec};
use crate::scenario::target::service_of_name;

/// The model the dataplane enforces at one moment.
pub(super) struct Dataplane {
    pub(super) cluster: Cluster,
    pub(super) policies: PolicySet,
    /// The model endpoint of each pod: every replica is one of its own, with its own address.
    pub(super) endpoints: HashMap<PodRef, String>,
}

impl Dataplane {
    /// The model endpoint of `pod`.
    fn endpoint_of(&self, pod: &SimPod) -> Option<EndpointId> {
        self.cluster.endpoint(self.endpoints.get(&pod.pod)?)
    }
}

/// Where a probe's packet goes, as the dataplane resolved its address.
struct Destination<'p> {
    /// The peer policy sees (after DNAT, for a ClusterIP).
    peer: Peer,
    /// The pod behind it, if any.
    pod: Option<&'p SimPod>,
    /// The port policy sees.
    port: Option<u16>,
    /// Whether something serves it.
    listening: bool,
    /// Whether the address is a Service's ClusterIP.
    service: bool,
}

/// Whether the cluster DNS answers `name`: a Service name (`NAME.NAMESPACE.svc[.cluster.local]`)
/// only if that Service exists; any other name is forwarded upstream and resolves.
fn resolves(cluster: &Cluster, name: &str) -> bool {
    let name = name.trim_end_matches('.');
    if !(name.ends_with(".svc") || name.ends_with(".svc.cluster.local")) {
        return true;
    }
    service_of_name(name).is_some_and(|(ns, svc)| cluster.service(&ns, &svc).is_some())
}

impl SimCluster {
    /// The dataplane now: current workloads, policies and labels as of `propagation_delay` ago;
    /// with `ipv6`, the pods carry their IPv6 addresses (a dual-stack cluster's IPv6 packets).
    pub(super) fn dataplane(&self, st: &mut SimState, ipv6: bool) -> Result<Dataplane, SimError> {
        let now = Instant::now();
        let visible = now.checked_sub(self.faults.propagation_delay);
        let snapshot = st
            .history
            .iter()
            .rev()
            .find(|(t, _)| visible.is_some_and(|v| *t <= v))
            .or(st.history.first())
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        let (mut cluster, policy_docs) = Self::model(st, &snapshot)?;
        let pods = self.pods(st)?;
        // Each pod with its own address of the family: two replicas of one workload can get
        // different verdicts from an ipBlock covering one of them.
        let endpoints = endpoint_per_pod(
            &mut cluster,
            pods.iter().map(|p| {
                let address = match (ipv6, p.ip6) {
                    (true, Some(ip6)) => ip6,
                    _ => p.ip,
                };
                (p.endpoint.as_str(), &p.pod, address)
            }),
        );
        let mut policies = PolicySet::from_documents(&policy_docs).map_err(SimError::Model)?;
        if self.faults.enforcement == Enforcement::IgnoresNamedPorts {
            strip_named_ports(&mut policies);
        }
        Ok(Dataplane {
            cluster,
            policies,
            endpoints,
        })
    }

    /// What one probe from `source` observes.
    pub(super) fn evaluate(
        &self,
        st: &mut SimState,
        dp: &Dataplane,
        oracle: &Oracle<'_>,
        pods: &[SimPod],
        source: &SimPod,
        spec: &ProbeSpec,
    ) -> Outcome {
        let Some(from) = dp.endpoint_of(source) else {
            return Outcome::Error(format!("{} is not in the model", source.endpoint));
        };
        let protocol = match spec.kind {
            ProbeKind::Tcp | ProbeKind::Http { .. } => Protocol::Tcp,
            ProbeKind::Udp | ProbeKind::Dns { .. } => Protocol::Udp,
            ProbeKind::Sctp => Protocol::Sctp,
            ProbeKind::Icmp => Protocol::Icmp,
        };
        let Ok(ip) = spec.host.parse::<IpAddr>() else {
            return Outcome::Error(format!("`{}` is not an address", spec.host));
        };
        let to = match self.resolve(st, dp, pods, ip, spec.target_port(), protocol) {
            Ok(resolved) => resolved,
            Err(outcome) => return outcome,
        };
        let cross_node = to.pod.is_some_and(|p| p.node != source.node);
        let (port, listening) = (to.port, to.listening);
        let packet = Packet {
            from: Peer::Endpoint(from),
            to: to.peer,
            protocol,
            port,
        };
        let mut allowed = self.faults.unpoliced_sources.contains(&source.endpoint)
            || self.faults.enforcement.allows(oracle, &packet);
        let flaky = self.faults.flaky.or_else(|| {
            self.faults
                .flaky_source
                .as_ref()
                .filter(|(endpoint, _)| *endpoint == source.endpoint)
                .map(|(_, flaky)| *flaky)
        });
        if let Some(flaky) = flaky {
            let attempt_key = format!(
                "{}>{}:{:?}:{:?}",
                source.pod, spec.host, spec.port, spec.kind
            );
            let attempt = st.attempts.entry(attempt_key.clone()).or_insert(0);
            *attempt += 1;
            if flaky.flips(&attempt_key, *attempt) {
                allowed = !allowed;
            }
        }
        if cross_node && self.faults.drops_cross_node {
            return Outcome::Blocked;
        }
        if let (Some(to), Some(p)) = (to.pod, port)
            && self
                .faults
                .dropped_ports
                .contains(&(to.endpoint.clone(), p))
        {
            return Outcome::Blocked;
        }
        if to.service
            && self
                .faults
                .dropped_service_family
                .is_some_and(|f| Family::of(&spec.host) == Some(f))
        {
            return Outcome::Blocked;
        }
        match (&spec.kind, allowed, listening) {
            (kind, false, _) => denied(self.faults.deny_style, kind),
            (_, true, false) => Outcome::Refused,
            (ProbeKind::Http { .. }, true, true) => Outcome::HttpStatus(200),
            (ProbeKind::Dns { name }, true, true) if !resolves(&dp.cluster, name) => {
                Outcome::DnsFailure("NXDOMAIN".to_string())
            }
            (_, true, true) => Outcome::Allowed,
        }
    }

    /// The peer an address reaches (a ClusterIP of either family reaches a backend), the pod
    /// behind it, the port policy sees, and whether something serves it.
    fn resolve<'p>(
        &self,
        st: &mut SimState,
        dp: &Dataplane,
        pods: &'p [SimPod],
        ip: IpAddr,
        port: Option<u16>,
        protocol: Protocol,
    ) -> Result<Destination<'p>, Outcome> {
        let serves = |pod: &SimPod, port: Option<u16>| {
            let Some(id) = dp.endpoint_of(pod) else {
                return false;
            };
            let e = dp.cluster.get(id);
            let closed = port.is_some_and(|p| {
                self.faults
                    .closed_ports
                    .contains(&(pod.endpoint.clone(), p))
            });
            !closed
                && (port.is_none()
                    || e.ports.is_empty()
                    || e.ports
                        .iter()
                        .any(|p| Some(p.port) == port && p.protocol == protocol))
        };
        let to_pod = |pod: &'p SimPod, port: Option<u16>, service: bool| {
            let id = dp
                .endpoint_of(pod)
                .ok_or_else(|| Outcome::Error("pod not in the model".into()))?;
            Ok(Destination {
                peer: Peer::Endpoint(id),
                pod: Some(pod),
                port,
                listening: serves(pod, port),
                service,
            })
        };
        if let Some(pod) = pods.iter().find(|p| p.ip == ip || p.ip6 == Some(ip)) {
            return to_pod(pod, port, false);
        }
        let services: Vec<(String, String)> = dp
            .cluster
            .services
            .iter()
            .map(|s| (s.namespace.clone(), s.name.clone()))
            .collect();
        for (ns, name) in services {
            if !self.service_ips(st, &ns, &name).contains(&ip) {
                continue;
            }
            let service = dp.cluster.service(&ns, &name).expect("listed above");
            let Some(sp) = service
                .ports
                .iter()
                .find(|p| Some(p.port) == port && p.protocol == protocol)
            else {
                return Err(Outcome::Refused);
            };
            // The first pod of the first backend (the simulated kube-proxy always picks it).
            let backend = dp
                .cluster
                .service_backends(service)
                .into_iter()
                .find_map(|id| {
                    let key = dp.cluster.get(id).key();
                    pods.iter().find(|p| p.endpoint == key)
                });
            let Some(backend) = backend else {
                return Err(Outcome::Refused);
            };
            let id = dp.endpoint_of(backend).expect("a pod of the model");
            let target = match &sp.target {
                PortRef::Number(n) => Some(*n),
                PortRef::Name(n) => dp.cluster.get(id).named_port(n, protocol),
            };
            return match target {
                Some(t) => to_pod(backend, Some(t), true),
                None => Err(Outcome::Refused),
            };
        }
        Ok(Destination {
            peer: Peer::External(ip),
            pod: None,
            port,
            listening: true,
            service: false,
        })
    }
}
