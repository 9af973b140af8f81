//! Resolving a step's probes into cells: the pods a probe is made from, and the addresses its
//! packets go to, as the planner resolved its target.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::Runner;
use super::converge::ProbeCell;
use super::ipv6_cells::Ipv6Probe;
use super::plan::StepPlan;
use super::scenario::ScenarioCtx;
use crate::cluster::{ClusterError, ClusterOps, EndpointRef, Family, Locality, PodInfo, PodRef};
use crate::probe::{HttpMethod, Outcome, ProbeKind, ProbeSpec};
use crate::scenario::PlannedProbe;
use crate::scenario::format::ScenarioProbeKind;
use crate::scenario::plan::Resolution;
use crate::scenario::state::{DNS_NAMESPACE, DNS_SERVICE};
use crate::scenario::target::Client;

/// Contour's default upstream connect timeout: Envoy answers 503 for an unreachable backend only
/// after it (projectcontour/contour@v1.33.6:internal/envoy/v3/cluster.go#L39; the quickstart's
/// ConfigMap documents `connect-timeout: 2s`, `examples/render/contour.yaml#L142`).
pub const ENVOY_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The least an HTTP probe through the ingress controller waits: Envoy's connect timeout and a
/// second for the 503 to come back, so that "Envoy cannot reach the backend" reads as a 503,
/// not as a blocked probe.
pub const INGRESS_HTTP_TIMEOUT: Duration = Duration::from_secs(3);

/// The least an HTTP probe from a pod waits: a server answering within a second (a cold
/// nginx, eight probes sharing a busy node's CPU) must not read as blocked.
pub const POD_HTTP_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one probe waits: its own `timeout:` when the scenario gives one, else the run's
/// `base` timeout, raised for HTTP to what the path needs ([`INGRESS_HTTP_TIMEOUT`] through the
/// ingress controller, [`POD_HTTP_TIMEOUT`] from a pod). Other kinds keep `base`: their cost
/// is the cost of every blocked probe.
pub fn probe_timeout(
    base: Duration,
    kind: ScenarioProbeKind,
    outside: bool,
    explicit: Option<f64>,
) -> Duration {
    if let Some(secs) = explicit {
        return Duration::from_secs_f64(secs);
    }
    match (kind, outside) {
        (ScenarioProbeKind::Http, true) => base.max(INGRESS_HTTP_TIMEOUT),
        (ScenarioProbeKind::Http, false) => base.max(POD_HTTP_TIMEOUT),
        _ => base,
    }
}

/// Where a cell's probe is made from.
#[derive(Debug, Clone)]
pub(super) enum ProbeOrigin {
    /// Inside this pod.
    Pod(PodInfo),
    /// By the harness, from outside the cluster.
    Outside,
    /// Nowhere: the probe could not be resolved (its error is the cell's only observation).
    Unresolved,
}

/// A resolved probe target.
#[derive(Debug, Clone)]
struct Target {
    host: String,
    port: Option<u16>,
    description: String,
    /// The node of the destination pod, when the target is one pod's address.
    node: Option<String>,
}

/// The ready pods found per endpoint while resolving a step's cells.
pub(super) type PodCache = HashMap<String, Result<Vec<PodInfo>, ResolveError>>;

/// Why a probe cannot be resolved into cells (the error is its cell's only observation).
#[derive(Debug, Clone, thiserror::Error)]
pub(super) enum ResolveError {
    /// An HTTP method the probe script does not send.
    #[error("the probe script sends GET or POST requests, not {0}")]
    Method(String),
    /// A DNS probe whose target the planner resolved to something else than a lookup.
    #[error("a dns probe resolved to {0}")]
    NotALookup(Box<Resolution>),
    /// The endpoint is not in the step's model.
    #[error("endpoint {endpoint} does not exist at step {step}")]
    NoEndpoint {
        /// The endpoint.
        endpoint: String,
        /// The step.
        step: String,
    },
    /// The endpoint has no Ready pod.
    #[error("{0} has no Ready pod")]
    NoReadyPod(EndpointRef),
    /// A pod has no IP address.
    #[error("pod {0} has no IP")]
    NoPodIp(PodRef),
    /// A Service target is not `namespace/name`.
    #[error("`{0}` is not namespace/name")]
    ServiceName(String),
    /// A Service target has no ClusterIP.
    #[error("Service {namespace}/{name} is headless (no ClusterIP)")]
    Headless {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A Service target does not serve the probe's port.
    #[error("Service {service} has no port {port}")]
    NoServicePort {
        /// The Service (`namespace/name`).
        service: String,
        /// The port.
        port: u16,
    },
    /// An `ingress:` target probed from a pod.
    #[error("`ingress:{0}` is probed from outside the cluster, not from a pod")]
    IngressFromPod(String),
    /// The cluster failed to say (the pods of an endpoint, a Service).
    #[error(transparent)]
    Cluster(Arc<ClusterError>),
}

impl From<ClusterError> for ResolveError {
    fn from(e: ClusterError) -> ResolveError {
        ResolveError::Cluster(Arc::new(e))
    }
}

/// The kind of probe the script makes for `planned`: the scenario's kind, with an HTTP probe's
/// method and path (an `ingress:` target's path) and a lookup's name.
fn probe_kind(planned: &PlannedProbe) -> Result<ProbeKind, ResolveError> {
    let probe = &planned.probe;
    Ok(match probe.kind {
        ScenarioProbeKind::Tcp => ProbeKind::Tcp,
        ScenarioProbeKind::Udp => ProbeKind::Udp,
        ScenarioProbeKind::Sctp => ProbeKind::Sctp,
        ScenarioProbeKind::Icmp => ProbeKind::Icmp,
        ScenarioProbeKind::Http => {
            let method = match &probe.method {
                None => HttpMethod::Get,
                Some(m) => HttpMethod::parse(m).ok_or_else(|| ResolveError::Method(m.clone()))?,
            };
            let path = match &planned.resolution {
                Resolution::Ingress { path, .. } => path.clone(),
                _ => probe.path.clone().unwrap_or_else(|| "/".into()),
            };
            ProbeKind::Http { method, path }
        }
        ScenarioProbeKind::Dns => match &planned.resolution {
            Resolution::Dns { name, .. } => ProbeKind::Dns { name: name.clone() },
            other => return Err(ResolveError::NotALookup(Box::new(other.clone()))),
        },
    })
}

impl<C: ClusterOps> Runner<C> {
    /// Resolves every probe of a step into cells (sources × targets), then its derived cells
    /// (with `--matrix full`); probes that cannot be resolved become one cell holding the error.
    pub(super) async fn resolve_cells(
        &self,
        ctx: &ScenarioCtx<'_>,
        step: &StepPlan,
    ) -> Vec<ProbeCell> {
        let mut pods = PodCache::new();
        let mut cells = Vec::new();
        // IPv6 cells, predicted again once every pod is known.
        let mut ipv6_cells: Vec<(usize, Ipv6Probe<'_>)> = Vec::new();
        for planned in &step.planned.probes {
            let probe = &planned.probe;
            let timeout = probe_timeout(
                self.options.probe_timeout,
                probe.kind,
                matches!(planned.client, Client::Outside),
                probe.timeout,
            );
            let sources = match &planned.client {
                Client::Outside => Ok(vec![ProbeOrigin::Outside]),
                Client::Endpoint(key) => self
                    .pods_of(ctx, step, &mut pods, key)
                    .await
                    .map(|p| p.into_iter().map(ProbeOrigin::Pod).collect()),
            };
            let targets = self.resolve_targets(ctx, step, &mut pods, planned).await;
            let resolved = probe_kind(planned).and_then(|kind| Ok((kind, sources?, targets?)));
            let (kind, sources, targets) = match resolved {
                Ok(r) => r,
                Err(e) => {
                    cells.push(ProbeCell {
                        from: probe.from.clone(),
                        to: probe.to.clone(),
                        source: ProbeOrigin::Unresolved,
                        source_name: probe.from.clone(),
                        target: probe.to.clone(),
                        spec: ProbeSpec {
                            id: cells.len().to_string(),
                            kind: ProbeKind::Tcp,
                            host: String::new(),
                            port: probe.port,
                            timeout,
                        },
                        expected: planned.expected,
                        why: Some(planned.reason.clone()),
                        locality: None,
                        history: vec![(Outcome::Error(e.to_string()), String::new())],
                        derived: false,
                        unasserted: None,
                    });
                    continue;
                }
            };
            for source in &sources {
                for target in &targets {
                    let (source_name, source_node) = match source {
                        ProbeOrigin::Pod(p) => (p.pod.to_string(), p.node.as_deref()),
                        _ => ("outside".to_string(), None),
                    };
                    let id = cells.len().to_string();
                    if Family::of(&target.host) == Some(Family::Ipv6) {
                        ipv6_cells.push((cells.len(), Ipv6Probe::Claim(planned)));
                    }
                    cells.push(ProbeCell {
                        from: probe.from.clone(),
                        to: probe.to.clone(),
                        source: source.clone(),
                        source_name,
                        target: target.description.clone(),
                        spec: ProbeSpec {
                            id,
                            kind: kind.clone(),
                            host: target.host.clone(),
                            port: target.port,
                            timeout,
                        },
                        expected: planned.expected,
                        why: Some(planned.reason.clone()),
                        locality: Locality::between(source_node, target.node.as_deref()),
                        history: Vec::new(),
                        derived: false,
                        unasserted: None,
                    });
                }
            }
        }
        let derived = self.derived_cells(ctx, step, &mut pods, &mut cells).await;
        ipv6_cells.extend(derived.into_iter().map(|(i, d)| (i, Ipv6Probe::Derived(d))));
        self.predict_ipv6(ctx, step, pods, &mut cells, ipv6_cells)
            .await;
        cells
    }

    /// The ready pods of an endpoint to probe from or to (one, or all with `all_replicas`).
    pub(super) async fn pods_of(
        &self,
        ctx: &ScenarioCtx<'_>,
        step: &StepPlan,
        cache: &mut PodCache,
        key: &str,
    ) -> Result<Vec<PodInfo>, ResolveError> {
        if let Some(found) = cache.get(key) {
            return found.clone();
        }
        let found = async {
            let endpoint =
                ctx.plan
                    .endpoint(step, key)
                    .ok_or_else(|| ResolveError::NoEndpoint {
                        endpoint: key.to_string(),
                        step: step.name().to_string(),
                    })?;
            let mut pods = self.cluster.ready_pods(&endpoint).await?;
            if pods.is_empty() {
                return Err(ResolveError::NoReadyPod(endpoint));
            }
            if !self.options.all_replicas {
                pods.truncate(1);
            }
            Ok(pods)
        }
        .await;
        cache.insert(key.to_string(), found.clone());
        found
    }

    /// The addresses a probe's packets go to, as the planner resolved its target.
    async fn resolve_targets(
        &self,
        ctx: &ScenarioCtx<'_>,
        step: &StepPlan,
        cache: &mut PodCache,
        planned: &PlannedProbe,
    ) -> Result<Vec<Target>, ResolveError> {
        // An IPv6 address is bracketed before its port, as in a URL (`[fd00::5]:80`).
        let with_port = |host: &str, port: Option<u16>| match port {
            Some(p) if host.contains(':') => format!("[{host}]:{p}"),
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        // Every ClusterIP of the Service: both families of a dual-stack one.
        let service_ips = |namespace: String, name: String| async move {
            let service = self.cluster.service(&namespace, &name).await?;
            match service.cluster_ips.is_empty() {
                true => Err(ResolveError::Headless { namespace, name }),
                false => Ok(service),
            }
        };
        // Every address of the pod: both families on a dual-stack cluster.
        let pod_targets = |pods: Vec<PodInfo>, port: Option<u16>, suffix: &str| {
            let mut targets = Vec::new();
            for p in pods {
                if p.ips.is_empty() {
                    return Err(ResolveError::NoPodIp(p.pod.clone()));
                }
                for ip in &p.ips {
                    let ip = ip.to_string();
                    targets.push(Target {
                        description: format!("{} {}{suffix}", p.pod, with_port(&ip, port)),
                        host: ip,
                        port,
                        node: p.node.clone(),
                    });
                }
            }
            Ok(targets)
        };
        match &planned.resolution {
            Resolution::Endpoint { endpoint, port, .. } => {
                let pods = self.pods_of(ctx, step, cache, endpoint).await?;
                pod_targets(pods, *port, "")
            }
            Resolution::Service { service, port, .. } => {
                let (namespace, name) = service
                    .split_once('/')
                    .ok_or_else(|| ResolveError::ServiceName(service.clone()))?;
                let info = service_ips(namespace.to_string(), name.to_string()).await?;
                if !info.ports.iter().any(|p| p.port == *port) {
                    return Err(ResolveError::NoServicePort {
                        service: service.clone(),
                        port: *port,
                    });
                }
                Ok(info
                    .cluster_ips
                    .iter()
                    .map(|ip| {
                        let host = ip.to_string();
                        Target {
                            description: format!("svc:{service} {}", with_port(&host, Some(*port))),
                            host,
                            port: Some(*port),
                            node: None,
                        }
                    })
                    .collect())
            }
            Resolution::External { ip, port, .. } => {
                let host = ip.to_string();
                Ok(vec![Target {
                    description: with_port(&host, *port),
                    host,
                    port: *port,
                    node: None,
                }])
            }
            // The cluster DNS on its first ClusterIP: kubeadm's kube-dns Service sets no
            // `ipFamilyPolicy`, so it is single-stack (kubernetes/kubernetes@008b3652:cmd/kubeadm/app/phases/addons/dns/manifests.go,
            // `CoreDNSService`; re-check at the node image's tag).
            Resolution::Dns { name, .. } => {
                let info = service_ips(DNS_NAMESPACE.to_string(), DNS_SERVICE.to_string()).await?;
                let ip = info.cluster_ips[0];
                Ok(vec![Target {
                    description: format!("dns:{name} via {DNS_NAMESPACE}/{DNS_SERVICE} {ip}"),
                    host: ip.to_string(),
                    port: None,
                    node: None,
                }])
            }
            Resolution::Ingress {
                path,
                controller,
                controller_port,
                ..
            } => match planned.client {
                Client::Outside => {
                    let address = self.outside.address();
                    Ok(vec![Target {
                        description: format!(
                            "ingress {address}{path} (planned via {controller}:{controller_port})"
                        ),
                        host: address.ip().to_string(),
                        port: Some(address.port()),
                        node: None,
                    }])
                }
                Client::Endpoint(_) => Err(ResolveError::IngressFromPod(path.clone())),
            },
        }
    }
}
