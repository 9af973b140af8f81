//! The IPv6 cells of a step, predicted again once every pod is known: the pods resolved for
//! its cells, and every ready pod behind the Services it probes (any can take a connection), on
//! their live IPv6 addresses ([`super::family`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use super::Runner;
use super::converge::ProbeCell;
use super::family::{Ipv6Model, Ipv6Oracle, Ipv6Verdict};
use super::plan::StepPlan;
use super::resolve::{PodCache, ProbeOrigin, ResolveError};
use super::scenario::ScenarioCtx;
use crate::cluster::{ClusterOps, PodInfo};
use crate::probe::Outcome;
use crate::scenario::PlannedProbe;
use crate::scenario::derive::DerivedCell;
use crate::scenario::plan::Resolution;
use crate::scenario::target::Client;

/// An IPv6 cell whose expectation is predicted again on the live IPv6 addresses.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ipv6Probe<'s> {
    /// A cell of a claim.
    Claim(&'s PlannedProbe),
    /// A derived cell.
    Derived(&'s DerivedCell),
}

impl<C: ClusterOps> Runner<C> {
    /// Predicts the IPv6 cells among `cells` (`ipv6`: index and probe) again on the live IPv6
    /// addresses of the pods resolved (`pods`) and of the pods behind the Services probed (all
    /// ready ones: any can take the connection).
    pub(super) async fn predict_ipv6(
        &self,
        ctx: &ScenarioCtx<'_>,
        step: &StepPlan,
        pods: PodCache,
        cells: &mut [ProbeCell],
        ipv6: Vec<(usize, Ipv6Probe<'_>)>,
    ) {
        if ipv6.is_empty() {
            return;
        }
        let mut live: BTreeMap<String, Vec<PodInfo>> = pods
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.ok()?)))
            .collect();
        let mut unreadable: HashMap<String, ResolveError> = HashMap::new();
        let mut fetched: HashSet<&str> = HashSet::new();
        for (_, probe) in &ipv6 {
            let Ipv6Probe::Claim(PlannedProbe {
                resolution: Resolution::Service { backends, .. },
                ..
            }) = probe
            else {
                continue;
            };
            for backend in backends {
                if !fetched.insert(&backend.endpoint) {
                    continue;
                }
                if let Err(e) = self.all_pods(ctx, step, &mut live, &backend.endpoint).await {
                    unreadable.insert(backend.endpoint.clone(), e);
                }
            }
        }
        let Some(v6) = Ipv6Model::new(&step.planned.model, &live) else {
            return;
        };
        let oracle = Ipv6Oracle::new(&step.planned.model, &v6);
        // Derived cells on a lane with semantics of its own were predicted on the lane's model:
        // so are their IPv6 twins.
        let lane_v6 = step
            .lane_model
            .as_ref()
            .and_then(|m| Some((m, Ipv6Model::new(m, &live)?)));
        let lane = lane_v6.as_ref().map(|(m, v6)| Ipv6Oracle::new(m, v6));
        let derived_oracle = lane.as_ref().unwrap_or(&oracle);
        for (index, probe) in ipv6 {
            let cell = &mut cells[index];
            let (ProbeOrigin::Pod(source), Ok(address)) =
                (&cell.source, cell.spec.host.parse::<IpAddr>())
            else {
                continue;
            };
            let source = &source.pod;
            let verdict = match probe {
                Ipv6Probe::Derived(d) => {
                    derived_oracle.pod_cell((&d.from, source), (&d.to, address), d.port, d.protocol)
                }
                Ipv6Probe::Claim(planned) => match (&planned.client, &planned.resolution) {
                    (
                        Client::Endpoint(from),
                        Resolution::Endpoint {
                            endpoint,
                            port,
                            protocol,
                        },
                    ) => oracle.pod_cell((from, source), (endpoint, address), *port, *protocol),
                    (
                        Client::Endpoint(from),
                        Resolution::Service {
                            backends, protocol, ..
                        },
                    ) => {
                        if let Some(e) = backends.iter().find_map(|b| unreadable.get(&b.endpoint)) {
                            cell.source = ProbeOrigin::Unresolved;
                            cell.history
                                .push((Outcome::Error(e.to_string()), String::new()));
                            continue;
                        }
                        oracle.service_cell((from, source), backends, *protocol)
                    }
                    _ => Ipv6Verdict::Same,
                },
            };
            verdict.apply(cell);
        }
    }

    /// Adds every ready pod of endpoint `key` to `live` (beside those already there).
    async fn all_pods(
        &self,
        ctx: &ScenarioCtx<'_>,
        step: &StepPlan,
        live: &mut BTreeMap<String, Vec<PodInfo>>,
        key: &str,
    ) -> Result<(), ResolveError> {
        let endpoint = ctx
            .plan
            .endpoint(step, key)
            .ok_or_else(|| ResolveError::NoEndpoint {
                endpoint: key.to_string(),
                step: step.name().to_string(),
            })?;
        let found = self.cluster.ready_pods(&endpoint).await?;
        let known = live.entry(key.to_string()).or_default();
        for pod in found {
            if !known.iter().any(|p| p.pod == pod.pod) {
                known.push(pod);
            }
        }
        Ok(())
    }
}
