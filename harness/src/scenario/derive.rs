//! The whole matrix of a step: every ordered pair of the scenario's own endpoints, on every
//! port and protocol the destination declares (and ICMP where the scenario uses it), with the
//! oracle's prediction as the expectation of each cell the tutorial does not claim.
//!
//! The scenario's own endpoints are the pods of the workloads its setup and its steps apply, in
//! its namespaces and in shared ones alike; not the endpoints its remote manifests provide
//! (`provides:`, found by labels, perhaps not even probe-able), not the cluster's built-ins in
//! `kube-system`, not host-network pods (policy does not apply to them), not Jobs (their pods
//! finish). A cell the step's claims already probe (same client, the destination endpoint's
//! address, same port and protocol) stays the claim: it is not derived again.

use std::collections::HashSet;

use super::plan::{PlannedProbe, Resolution};
use super::state::DNS_NAMESPACE;
use super::target::Client;
use crate::analysis::Analysis;
use crate::model::{Endpoint, EndpointId, Protocol, WorkloadKind};
use crate::oracle::{Packet, Peer, Uncertainty};
use crate::scenario::format::{Expectation, Scenario, ScenarioProbeKind};

/// What the oracle says of a derived cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    /// Allowed or blocked: asserted on the cluster.
    Expect(Expectation),
    /// The manifests leave it open ("either", "unknown (DNS)"): reported, never asserted.
    Uncertain(Uncertainty),
}

/// One cell of the whole matrix that no claim of the step probes.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedCell {
    /// The client endpoint, `namespace/name`.
    pub from: String,
    /// The destination endpoint, `namespace/name`.
    pub to: String,
    /// The destination port (`None` for ICMP).
    pub port: Option<u16>,
    /// The protocol (TCP, UDP, SCTP or ICMP).
    pub protocol: Protocol,
    /// The oracle's prediction.
    pub derived: Derived,
    /// The oracle's explanation.
    pub reason: String,
}

impl DerivedCell {
    /// Whether client and destination are one endpoint (with one pod each, a pod reaching its
    /// own address: reported, never asserted, since loopback is undefined upstream).
    pub fn same_endpoint(&self) -> bool {
        self.from == self.to
    }
}

/// Whether an endpoint is one of the scenario's own (see the module documentation).
fn own(endpoint: &Endpoint) -> bool {
    endpoint.source.is_some()
        && endpoint.namespace != DNS_NAMESPACE
        && !endpoint.host_network
        && !matches!(
            endpoint.kind,
            WorkloadKind::Declared | WorkloadKind::Job | WorkloadKind::CronJob
        )
}

/// A cell as claims and derived cells are compared: client, destination endpoint, port,
/// protocol.
type CellKey = (String, String, Option<u16>, Protocol);

/// The cells a step's claims probe on an endpoint's own address.
fn claimed(probes: &[PlannedProbe]) -> HashSet<CellKey> {
    probes
        .iter()
        .filter_map(|p| match (&p.client, &p.resolution) {
            (
                Client::Endpoint(from),
                Resolution::Endpoint {
                    endpoint,
                    port,
                    protocol,
                },
            ) => Some((from.clone(), endpoint.clone(), *port, *protocol)),
            _ => None,
        })
        .collect()
}

/// Whether `scenario` pings anywhere (an `icmp` probe or matrix in some step): its whole
/// matrix then has ICMP between every pair too, in every step.
pub fn pings(scenario: &Scenario) -> bool {
    scenario.steps.iter().any(|s| {
        s.probes.iter().any(|p| p.kind == ScenarioProbeKind::Icmp)
            || s.matrices.iter().any(|m| m.kind == ScenarioProbeKind::Icmp)
    })
}

/// The derived cells of a step whose model (after its actions) is `model` and whose claims are
/// `probes`; with `icmp`, ICMP between every pair too. In endpoint order, then port order.
pub fn derive(model: &Analysis, probes: &[PlannedProbe], icmp: bool) -> Vec<DerivedCell> {
    let cluster = &model.cluster;
    let claimed = claimed(probes);
    let ids: Vec<EndpointId> = cluster
        .endpoint_ids()
        .filter(|&id| own(cluster.get(id)))
        .collect();
    let mut wanted: Vec<(EndpointId, EndpointId, Option<u16>, Protocol)> = Vec::new();
    for &from in &ids {
        for &to in &ids {
            let dest = cluster.get(to);
            let mut ports: Vec<(Option<u16>, Protocol)> = dest
                .ports
                .iter()
                .filter(|p| matches!(p.protocol, Protocol::Tcp | Protocol::Udp | Protocol::Sctp))
                .map(|p| (Some(p.port), p.protocol))
                .collect();
            if icmp {
                ports.push((None, Protocol::Icmp));
            }
            ports.sort();
            ports.dedup();
            let (f, t) = (cluster.get(from).key(), dest.key());
            for (port, protocol) in ports {
                if !claimed.contains(&(f.clone(), t.clone(), port, protocol)) {
                    wanted.push((from, to, port, protocol));
                }
            }
        }
    }
    if wanted.is_empty() {
        return Vec::new();
    }
    let oracle = model.oracle();
    wanted
        .into_iter()
        .map(|(from, to, port, protocol)| {
            let packet = Packet {
                from: Peer::Endpoint(from),
                to: Peer::Endpoint(to),
                protocol,
                port,
            };
            let verdict = oracle.verdict(&packet);
            let derived = match verdict.uncertain {
                Some(u) => Derived::Uncertain(u),
                None if verdict.allowed => Derived::Expect(Expectation::Allowed),
                None => Derived::Expect(Expectation::Blocked),
            };
            DerivedCell {
                from: cluster.get(from).key(),
                to: cluster.get(to).key(),
                port,
                protocol,
                derived,
                reason: oracle.explain(&packet, &verdict),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{default_root, load, plan};

    fn key(c: &DerivedCell) -> String {
        let port = c.port.map(|p| format!("{p}/")).unwrap_or_default();
        format!("{} → {} {port}{}", c.from, c.to, c.protocol)
    }

    #[test]
    fn every_pair_on_declared_ports_less_the_claims_with_the_oracles_prediction() {
        let loaded = load(&default_root(), "http-echo-busybox").unwrap();
        let plan = plan(&loaded).unwrap();
        // deny-all claims busybox → http-echo 80/TCP on the pod's address: not derived again;
        // busybox declares no port, so nothing goes to it; http-echo to itself is a cell.
        let deny = &plan.steps[1];
        let cells = derive(&deny.model, &deny.probes, false);
        let keys: Vec<String> = cells.iter().map(key).collect();
        assert_eq!(keys, ["ns-1/http-echo → ns-1/http-echo 80/TCP"]);
        assert!(cells[0].same_endpoint());
        // no-policy claims it only through the Service: the pod's address is a derived cell.
        let first = &plan.steps[0];
        let cells = derive(&first.model, &first.probes, false);
        let busybox = cells
            .iter()
            .find(|c| c.from == "ns-1/busybox")
            .expect("busybox → http-echo derived");
        assert_eq!(busybox.derived, Derived::Expect(Expectation::Allowed));
        // allow-rule: busybox is not labelled yet, the oracle says blocked, and why.
        let allow = &plan.steps[2];
        let cells = derive(&allow.model, &allow.probes, false);
        let busybox = cells.iter().find(|c| c.from == "ns-1/busybox").unwrap();
        assert_eq!(busybox.derived, Derived::Expect(Expectation::Blocked));
        assert!(busybox.reason.contains("ns-1"), "{}", busybox.reason);
        // With ICMP, every ordered pair gets an ICMP cell (busybox included as a destination).
        let with_icmp = derive(&allow.model, &allow.probes, true);
        let icmp = with_icmp
            .iter()
            .filter(|c| c.protocol == Protocol::Icmp)
            .count();
        assert_eq!(icmp, 4);
    }

    #[test]
    fn cells_the_oracle_cannot_decide_are_derived_uncertain() {
        // Two Admin ClusterNetworkPolicies of one priority, Accept and Deny, on b's ingress from
        // a: their order is the implementation's, so a → b is "either"; b → a stays decided.
        let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: y, labels: {app: b}}
spec: {containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: one}
spec:
  tier: Admin
  priority: 7
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: y}}}
  ingress:
  - {name: accept, action: Accept, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: x}}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: two}
spec:
  tier: Admin
  priority: 7
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: y}}}
  ingress:
  - {name: deny, action: Deny, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: x}}}]}
"#;
        let docs = crate::manifest::parse_str(std::path::Path::new("m.yaml"), yaml).unwrap();
        let model = Analysis::from_documents(&docs, "10.244.0.0/16".parse().unwrap()).unwrap();
        let cells = derive(&model, &[], false);
        let verdict = |from: &str, to: &str| {
            cells
                .iter()
                .find(|c| c.from == from && c.to == to)
                .map(|c| c.derived)
                .unwrap()
        };
        assert_eq!(
            verdict("x/a", "y/b"),
            Derived::Uncertain(Uncertainty::Either)
        );
        assert_eq!(verdict("y/b", "x/a"), Derived::Expect(Expectation::Allowed));
    }

    #[test]
    fn provided_endpoints_and_kube_system_are_not_the_scenarios() {
        let loaded = load(&default_root(), "contour-default-deny").unwrap();
        let plan = plan(&loaded).unwrap();
        for step in &plan.steps {
            for c in derive(&step.model, &step.probes, true) {
                for end in [&c.from, &c.to] {
                    assert!(end.starts_with("team-a/"), "{}", key(&c));
                }
            }
        }
    }
}
