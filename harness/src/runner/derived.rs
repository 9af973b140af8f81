//! The derived cells of a step (`--matrix full`): every cell of the whole matrix that no claim
//! probes ([`super::plan::StepPlan::derived`]), resolved into probes from one ready pod of the
//! client (every replica with `all_replicas`) to the destination's pods, expected as the oracle
//! predicts. They join their source's batch: still one exec per source pod per round.
//!
//! Reported but never asserted: a pod to its own address (loopback is undefined upstream), a
//! cell the oracle cannot decide, an SCTP cell on a CNI without SCTP (not probed at all), and —
//! decided when observed — a port not shown served ([`super::converge`]).

use super::converge::ProbeCell;
use super::outcome::{Unasserted, Undecided};
use super::plan::StepPlan;
use super::resolve::{PodCache, ProbeOrigin, ResolveError};
use super::scenario::ScenarioCtx;
use super::{MatrixScope, Runner};
use crate::capability::Capability;
use crate::cluster::{ClusterOps, Locality};
use crate::model::Protocol;
use crate::probe::{Outcome, ProbeKind, ProbeSpec};
use crate::scenario::derive::{Derived, DerivedCell};
use crate::scenario::format::Expectation;

/// The probe kind that checks `protocol`.
fn kind(protocol: Protocol) -> ProbeKind {
    match protocol {
        Protocol::Udp => ProbeKind::Udp,
        Protocol::Sctp => ProbeKind::Sctp,
        Protocol::Icmp => ProbeKind::Icmp,
        _ => ProbeKind::Tcp,
    }
}

impl<C: ClusterOps> Runner<C> {
    /// Appends the step's derived cells to `cells` (nothing with `--matrix claims`): one per
    /// address of the destination pod (both families on a dual-stack cluster). Returns the
    /// IPv6 ones (index in `cells`, and the cell derived), whose expectation the caller checks
    /// on the live IPv6 addresses.
    pub(super) async fn derived_cells<'s>(
        &self,
        ctx: &ScenarioCtx<'_>,
        step: &'s StepPlan,
        pods: &mut PodCache,
        cells: &mut Vec<ProbeCell>,
    ) -> Vec<(usize, &'s DerivedCell)> {
        let mut ipv6 = Vec::new();
        if self.options.matrix == MatrixScope::Claims {
            return ipv6;
        }
        // SCTP cells need the capability; a step requiring it is not run at all without it.
        let sctp = self
            .options
            .cni
            .as_ref()
            .is_none_or(|p| p.enforces.contains(&Capability::Sctp));
        for derived in &step.derived {
            let (expected, uncertain) = match derived.derived {
                Derived::Expect(e) => (e, None),
                Derived::Uncertain(u) => (
                    Expectation::Allowed,
                    Some(Unasserted::Uncertain(Undecided::Oracle(u))),
                ),
            };
            let not_applicable = (derived.protocol == Protocol::Sctp && !sctp)
                .then_some(Unasserted::NotApplicable(Capability::Sctp));
            let cell = |source: ProbeOrigin, source_name: String, target: String, host: String| {
                ProbeCell {
                    from: derived.from.clone(),
                    to: derived.to.clone(),
                    source,
                    source_name,
                    target,
                    spec: ProbeSpec {
                        id: String::new(),
                        kind: kind(derived.protocol),
                        host,
                        port: derived.port,
                        timeout: self.options.probe_timeout,
                    },
                    expected,
                    why: Some(derived.reason.clone()),
                    locality: None,
                    history: Vec::new(),
                    derived: true,
                    unasserted: not_applicable.clone().or(uncertain.clone()),
                }
            };
            let sources = self.pods_of(ctx, step, pods, &derived.from).await;
            let targets = self.pods_of(ctx, step, pods, &derived.to).await;
            let (sources, targets) = match (sources, targets) {
                (Ok(s), Ok(t)) => (s, t),
                (Err(e), _) | (_, Err(e)) => {
                    let mut c = cell(
                        ProbeOrigin::Unresolved,
                        derived.from.clone(),
                        derived.to.clone(),
                        String::new(),
                    );
                    c.spec.id = cells.len().to_string();
                    c.history
                        .push((Outcome::Error(e.to_string()), String::new()));
                    cells.push(c);
                    continue;
                }
            };
            for source in &sources {
                for target in &targets {
                    if target.ips.is_empty() {
                        let mut c = cell(
                            ProbeOrigin::Unresolved,
                            source.pod.to_string(),
                            target.pod.to_string(),
                            String::new(),
                        );
                        c.spec.id = cells.len().to_string();
                        let error = ResolveError::NoPodIp(target.pod.clone());
                        c.history
                            .push((Outcome::Error(error.to_string()), String::new()));
                        cells.push(c);
                        continue;
                    }
                    for ip in &target.ips {
                        let description = match derived.port {
                            Some(p) => {
                                format!("{} {}", target.pod, std::net::SocketAddr::new(*ip, p))
                            }
                            None => format!("{} {ip}", target.pod),
                        };
                        let mut c = cell(
                            ProbeOrigin::Pod(source.clone()),
                            source.pod.to_string(),
                            description,
                            ip.to_string(),
                        );
                        c.spec.id = cells.len().to_string();
                        c.locality =
                            Locality::between(source.node.as_deref(), target.node.as_deref());
                        if source.pod == target.pod && c.unasserted.is_none() {
                            c.unasserted = Some(Unasserted::SelfTraffic);
                        }
                        if ip.is_ipv6() && c.unasserted.is_none() {
                            ipv6.push((cells.len(), derived));
                        }
                        cells.push(c);
                    }
                }
            }
        }
        ipv6
    }
}
