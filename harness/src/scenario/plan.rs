//! The plan of a scenario: the cluster state after each step's actions, each probe resolved to the
//! connections policy actually sees, and the oracle's prediction for it next to the scenario's
//! expectation. A cluster runner executes a plan; `validate` checks it.
//!
//! How targets resolve (policy sees packets after DNAT, so only pod addresses and target ports
//! matter):
//! - `namespace/name`: the endpoint, on the probe's port.
//! - `svc:namespace/name`: the Service's backends (the endpoints its selector picks at that step),
//!   on the target port of the Service port the probe names (a named target port is looked up on
//!   each backend). A connection through a Service lands on any one backend, so the prediction is
//!   only meaningful if every backend gets the same verdict: when they disagree the probe is
//!   refused (probe the endpoints one by one instead). A Service without backends is refused too
//!   (the connection would be refused, not blocked by policy).
//! - `ip:ADDRESS`: an external peer; no policy applies on its side.
//! - `dns:NAME`: UDP 53 to the built-in `kube-system/coredns` endpoint. Whether CoreDNS can then
//!   reach upstream resolvers is not policy's business; names outside the cluster need the
//!   `internet` capability (checked when loading).
//! - `ingress:/PATH` from `outside`: the client ([`OUTSIDE_ADDRESS`]) to the ingress controller
//!   (the provided endpoint labelled `app: envoy` in namespace `projectcontour`, on its port
//!   named `http`), then the controller to the backends of the Ingress route matching the path
//!   (exact paths first, then the longest prefix, whole path elements; routes for a specific host
//!   never match, the harness sends no Host). Predicted: `blocked` if the client cannot reach the
//!   controller, status 404 when no route matches, 503 when the controller cannot reach the
//!   backends (or there are none), 200 when it can.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::ScenarioError;
use super::format::{Action, Expectation, LabelTarget, Probe};
use super::load::{LoadedScenario, StepProbe};
use super::state::{
    ClusterState, DNS_PORT, INGRESS_CONTROLLER_LABEL, INGRESS_CONTROLLER_NAMESPACE,
    INGRESS_CONTROLLER_PORT, dns_endpoint_key, find_ingress_controller,
};
use super::target::{self, Client, Target, parse_probe};
use crate::analysis::Analysis;
use crate::capability::Capability;
use crate::model::{Cluster, EndpointId, IngressRoute, PortRef, Protocol, Service};
use crate::oracle::{Oracle, Packet, Peer};
use crate::policy::Semantics;

/// The address `outside` probes come from: the gateway of kind's docker network, where requests
/// to a node's host port originate.
pub const OUTSIDE_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(172, 18, 0, 1));

/// A whole scenario planned.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The scenario's name.
    pub name: String,
    /// Its steps, in order.
    pub steps: Vec<PlannedStep>,
}

/// One step planned: what to do, and every probe with its prediction.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    /// Position in the scenario (0-based).
    pub index: usize,
    /// The step's name.
    pub name: String,
    /// The tutorial's words.
    pub narration: String,
    /// The actions, as written.
    pub actions: Vec<Action>,
    /// Everything the step's probes need: the scenario's requirements and the step's own.
    pub requires: Vec<Capability>,
    /// The cluster and policies after the actions.
    pub model: Analysis,
    /// The probes, matrices expanded.
    pub probes: Vec<PlannedProbe>,
}

/// One probe planned.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedProbe {
    /// The probe (a matrix cell as a single probe).
    pub probe: Probe,
    /// Where it was written (`steps[2].probes[0]`, `steps[2].matrices[0] row 1 column 3`).
    pub origin: String,
    /// The client.
    pub client: Client,
    /// The target as written.
    pub target: Target,
    /// Where the packets go.
    pub resolution: Resolution,
    /// What the scenario expects (the tutorial's claim).
    pub expected: Expectation,
    /// What the oracle predicts.
    pub predicted: Expectation,
    /// Whether the two agree ([`agrees`]).
    pub agrees: bool,
    /// The oracle's explanation.
    pub reason: String,
}

/// A backend reached through a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The endpoint, `namespace/name`.
    pub endpoint: String,
    /// The target port on it.
    pub port: u16,
}

/// Where a probe's packets go, as the oracle sees them.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// An endpoint's address.
    Endpoint {
        /// `namespace/name`.
        endpoint: String,
        /// Destination port (none for ICMP).
        port: Option<u16>,
        /// Protocol.
        protocol: Protocol,
    },
    /// A Service's ClusterIP, forwarded to a backend.
    Service {
        /// `namespace/name`.
        service: String,
        /// The Service port.
        port: u16,
        /// Protocol.
        protocol: Protocol,
        /// The backends and their target ports.
        backends: Vec<Backend>,
    },
    /// An address outside the cluster.
    External {
        /// The address.
        ip: IpAddr,
        /// Destination port (none for ICMP).
        port: Option<u16>,
        /// Protocol.
        protocol: Protocol,
    },
    /// A DNS query to the cluster DNS.
    Dns {
        /// The name looked up.
        name: String,
        /// The DNS endpoint, `namespace/name`.
        server: String,
    },
    /// An HTTP request through the ingress controller.
    Ingress {
        /// The path requested.
        path: String,
        /// The controller endpoint, `namespace/name`.
        controller: String,
        /// The controller's HTTP container port.
        controller_port: u16,
        /// The route taken, if one matches.
        route: Option<Route>,
    },
}

/// The Ingress route an `ingress:` probe takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The Ingress, `namespace/name`.
    pub ingress: String,
    /// The path it matched on.
    pub path: String,
    /// The backend Service, `namespace/name`.
    pub service: String,
    /// The Service port.
    pub service_port: u16,
    /// The Service's backends and target ports.
    pub backends: Vec<Backend>,
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = |p: &Option<u16>, protocol: &Protocol| match p {
            Some(p) => format!("{p}/{protocol}"),
            None => protocol.to_string(),
        };
        let backends = |b: &[Backend]| {
            b.iter()
                .map(|b| format!("{}:{}", b.endpoint, b.port))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Resolution::Endpoint {
                endpoint,
                port: p,
                protocol,
            } => write!(f, "{endpoint} {}", port(p, protocol)),
            Resolution::Service {
                service,
                port: p,
                protocol,
                backends: b,
            } => write!(f, "service {service} {p}/{protocol} → {}", backends(b)),
            Resolution::External {
                ip,
                port: p,
                protocol,
            } => write!(f, "external {ip} {}", port(p, protocol)),
            Resolution::Dns { name, server } => {
                write!(f, "lookup of {name} at {server} {DNS_PORT}/UDP")
            }
            Resolution::Ingress {
                path,
                controller,
                controller_port,
                route,
            } => {
                write!(f, "{path} via {controller}:{controller_port}")?;
                match route {
                    Some(r) => write!(
                        f,
                        " → Ingress {} ({}) → service {}:{} → {}",
                        r.ingress,
                        r.path,
                        r.service,
                        r.service_port,
                        backends(&r.backends)
                    ),
                    None => write!(f, " → no route"),
                }
            }
        }
    }
}

/// Whether a prediction bears out an expectation. `allowed` accepts any outcome but `blocked`
/// (any HTTP status means the connection was made); a status expectation accepts the same status,
/// or a plain `allowed` prediction (a direct HTTP probe whose status is the server's business, not
/// the oracle's); `blocked` accepts only `blocked`.
pub fn agrees(expected: Expectation, predicted: Expectation) -> bool {
    match (expected, predicted) {
        (Expectation::Blocked, p) => p == Expectation::Blocked,
        (_, Expectation::Blocked) => false,
        (Expectation::Status(e), Expectation::Status(p)) => e == p,
        _ => true,
    }
}

/// The oracle's prediction for one probe in one cluster state.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The client.
    pub client: Client,
    /// The target.
    pub target: Target,
    /// Where the packets go.
    pub resolution: Resolution,
    /// The predicted outcome.
    pub outcome: Expectation,
    /// Why.
    pub reason: String,
}

/// Predicts `probe` in `model`. Errors say why the probe cannot be predicted (an endpoint absent
/// at this step, a Service without backends or whose backends disagree, …).
pub fn predict(model: &Analysis, probe: &Probe) -> Result<Prediction, String> {
    predict_with(model, &model.oracle(), probe)
}

/// [`predict`] with the oracle already built for `model` (many probes, one compilation).
pub fn predict_with(
    model: &Analysis,
    oracle: &Oracle<'_>,
    probe: &Probe,
) -> Result<Prediction, String> {
    let parsed = parse_probe(probe).map_err(|(field, message)| format!("{field}: {message}"))?;
    let cluster = &model.cluster;
    let endpoint = |key: &str| {
        cluster
            .endpoint(key)
            .ok_or_else(|| format!("endpoint `{key}` does not exist at this step"))
    };
    let from = match &parsed.client {
        Client::Endpoint(key) => Peer::Endpoint(endpoint(key)?),
        Client::Outside => Peer::External(OUTSIDE_ADDRESS),
    };
    let protocol = target::protocol(probe.kind);
    // A cell the manifests leave open (DNS, equal ClusterNetworkPolicy priorities) cannot be
    // asserted: the probe is refused with the reason.
    let uncertain = std::cell::RefCell::new(None::<String>);
    let verdict = |from: Peer, to: Peer, port: Option<u16>| {
        let packet = Packet {
            from,
            to,
            protocol,
            port,
        };
        let v = oracle.verdict(&packet);
        let reason = oracle.explain(&packet, &v);
        if v.uncertain.is_some() {
            uncertain.borrow_mut().get_or_insert_with(|| reason.clone());
        }
        (v.allowed, reason)
    };
    let outcome = |allowed: bool| {
        if allowed {
            Expectation::Allowed
        } else {
            Expectation::Blocked
        }
    };
    let (resolution, predicted, reason) = match &parsed.target {
        Target::Endpoint(key) => {
            let to = endpoint(key)?;
            let (allowed, reason) = verdict(from, Peer::Endpoint(to), probe.port);
            let resolution = Resolution::Endpoint {
                endpoint: key.clone(),
                port: probe.port,
                protocol,
            };
            (resolution, outcome(allowed), reason)
        }
        Target::Ip(ip) => {
            let (allowed, reason) = verdict(from, Peer::External(*ip), probe.port);
            let resolution = Resolution::External {
                ip: *ip,
                port: probe.port,
                protocol,
            };
            (resolution, outcome(allowed), reason)
        }
        Target::Dns(name) => {
            let server = dns_endpoint_key();
            let to = endpoint(&server)?;
            let (allowed, reason) = verdict(from, Peer::Endpoint(to), Some(DNS_PORT));
            let resolution = Resolution::Dns {
                name: name.clone(),
                server,
            };
            (resolution, outcome(allowed), reason)
        }
        Target::Service { namespace, name } => {
            let service = cluster.service(namespace, name).ok_or_else(|| {
                format!("service `{namespace}/{name}` does not exist at this step")
            })?;
            let port = probe.port.expect("checked by parse_probe");
            let target = service
                .ports
                .iter()
                .find(|p| p.port == port && p.protocol == protocol)
                .map(|p| p.target.clone())
                .ok_or_else(|| {
                    format!("service `{namespace}/{name}` has no port {port}/{protocol}")
                })?;
            let backends = backends(cluster, service, &target, protocol)?;
            let (allowed, reason) =
                same_verdict(&backends, |b| verdict(from, Peer::Endpoint(b.0), Some(b.1)))?;
            let resolution = Resolution::Service {
                service: format!("{namespace}/{name}"),
                port,
                protocol,
                backends: backends.iter().map(|b| backend(cluster, b)).collect(),
            };
            (resolution, outcome(allowed), reason)
        }
        Target::Ingress(path) => predict_ingress(cluster, oracle, from, path, &uncertain)?,
    };
    if let Some(reason) = uncertain.into_inner() {
        return Err(format!(
            "the manifests do not decide this probe, so a scenario may not assert it: {reason}"
        ));
    }
    Ok(Prediction {
        client: parsed.client,
        target: parsed.target,
        resolution,
        outcome: predicted,
        reason,
    })
}

/// A backend endpoint and the target port on it.
type BackendPort = (EndpointId, u16);

fn backend(cluster: &Cluster, b: &BackendPort) -> Backend {
    Backend {
        endpoint: cluster.get(b.0).key(),
        port: b.1,
    }
}

/// The Service's backends with the target port resolved on each (backends lacking a named target
/// port get no traffic, as with kube-proxy).
fn backends(
    cluster: &Cluster,
    service: &Service,
    target: &PortRef,
    protocol: Protocol,
) -> Result<Vec<BackendPort>, String> {
    let selected = cluster.service_backends(service);
    let key = format!("{}/{}", service.namespace, service.name);
    if selected.is_empty() {
        return Err(format!(
            "service `{key}` selects no endpoint at this step: a probe would be refused, not blocked by policy"
        ));
    }
    let resolved: Vec<BackendPort> = selected
        .iter()
        .filter_map(|&id| match target {
            PortRef::Number(n) => Some((id, *n)),
            PortRef::Name(name) => cluster.get(id).named_port(name, protocol).map(|p| (id, p)),
        })
        .collect();
    if resolved.is_empty() {
        return Err(format!(
            "no backend of service `{key}` has a {protocol} container port named `{target}`"
        ));
    }
    Ok(resolved)
}

/// The common verdict of every backend, or an error naming the ones that differ.
fn same_verdict(
    backends: &[BackendPort],
    mut verdict: impl FnMut(&BackendPort) -> (bool, String),
) -> Result<(bool, String), String> {
    let verdicts: Vec<(bool, String)> = backends.iter().map(&mut verdict).collect();
    let allowed = verdicts[0].0;
    if verdicts.iter().any(|(a, _)| *a != allowed) {
        let list: Vec<String> = verdicts
            .iter()
            .map(|(a, r)| format!("{} ({r})", if *a { "allowed" } else { "blocked" }))
            .collect();
        return Err(format!(
            "the Service's backends get different verdicts, so the outcome would depend on which one answers: {}; probe the endpoints directly",
            list.join(" / ")
        ));
    }
    let reasons: Vec<String> = verdicts.into_iter().map(|(_, r)| r).collect();
    Ok((allowed, reasons.join(" | ")))
}

fn predict_ingress(
    cluster: &Cluster,
    oracle: &Oracle<'_>,
    from: Peer,
    path: &str,
    uncertain: &std::cell::RefCell<Option<String>>,
) -> Result<(Resolution, Expectation, String), String> {
    let controller = find_ingress_controller(cluster).ok_or_else(|| {
        format!(
            "no ingress controller: declare it under `provides` (namespace {INGRESS_CONTROLLER_NAMESPACE}, label {}={})",
            INGRESS_CONTROLLER_LABEL.0, INGRESS_CONTROLLER_LABEL.1
        )
    })?;
    let controller_key = cluster.get(controller).key();
    let controller_port = cluster
        .get(controller)
        .named_port(INGRESS_CONTROLLER_PORT, Protocol::Tcp)
        .ok_or_else(|| {
            format!(
                "the ingress controller {controller_key} has no TCP port named `{INGRESS_CONTROLLER_PORT}`"
            )
        })?;
    let verdict = |from: Peer, to: EndpointId, port: u16| {
        let packet = Packet {
            from,
            to: Peer::Endpoint(to),
            protocol: Protocol::Tcp,
            port: Some(port),
        };
        let v = oracle.verdict(&packet);
        let reason = oracle.explain(&packet, &v);
        if v.uncertain.is_some() {
            uncertain.borrow_mut().get_or_insert_with(|| reason.clone());
        }
        (v.allowed, reason)
    };
    let (reaches, first) = verdict(from, controller, controller_port);
    let mut resolution = Resolution::Ingress {
        path: path.to_string(),
        controller: controller_key.clone(),
        controller_port,
        route: None,
    };
    let client_leg = format!("client → {controller_key}:{controller_port}: {first}");
    if !reaches {
        return Ok((resolution, Expectation::Blocked, client_leg));
    }
    let Some(route) = match_route(cluster, path)? else {
        return Ok((
            resolution,
            Expectation::Status(404),
            format!("{client_leg}; no Ingress route matches {path}"),
        ));
    };
    let service = cluster
        .service(&route.namespace, &route.service)
        .ok_or_else(|| {
            format!(
                "Ingress {}/{} routes {} to service `{}/{}`, which does not exist at this step",
                route.namespace, route.ingress, route.path, route.namespace, route.service
            )
        })?;
    let service_port = service
        .ports
        .iter()
        .find(|p| match &route.port {
            PortRef::Number(n) => p.port == *n,
            PortRef::Name(name) => p.name.as_deref() == Some(name.as_str()),
        })
        .ok_or_else(|| {
            format!(
                "Ingress {}/{} names port `{}` of service `{}/{}`, which has no such port",
                route.namespace, route.ingress, route.port, route.namespace, route.service
            )
        })?;
    let found = match backends(cluster, service, &service_port.target, Protocol::Tcp) {
        Ok(b) => b,
        Err(why) => {
            let route = Route {
                ingress: format!("{}/{}", route.namespace, route.ingress),
                path: route.path.clone(),
                service: format!("{}/{}", route.namespace, route.service),
                service_port: service_port.port,
                backends: Vec::new(),
            };
            if let Resolution::Ingress { route: r, .. } = &mut resolution {
                *r = Some(route);
            }
            return Ok((
                resolution,
                Expectation::Status(503),
                format!("{client_leg}; {why}"),
            ));
        }
    };
    let (allowed, second) =
        same_verdict(&found, |b| verdict(Peer::Endpoint(controller), b.0, b.1))?;
    if let Resolution::Ingress { route: r, .. } = &mut resolution {
        *r = Some(Route {
            ingress: format!("{}/{}", route.namespace, route.ingress),
            path: route.path.clone(),
            service: format!("{}/{}", route.namespace, route.service),
            service_port: service_port.port,
            backends: found.iter().map(|b| backend(cluster, b)).collect(),
        });
    }
    let status = if allowed { 200 } else { 503 };
    Ok((
        resolution,
        Expectation::Status(status),
        format!("{client_leg}; {controller_key} → backend: {second}"),
    ))
}

/// The route for `path`: an exact route first, else the longest matching prefix (whole path
/// elements: `/echo` matches `/echo` and `/echo/x`, not `/echoes`). Routes for a specific host
/// never match. Two different backends for the best path is an error.
fn match_route<'c>(cluster: &'c Cluster, path: &str) -> Result<Option<&'c IngressRoute>, String> {
    let prefix_matches = |prefix: &str| {
        let prefix = prefix.trim_end_matches('/');
        prefix.is_empty()
            || path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    let candidates: Vec<&IngressRoute> = cluster
        .ingress_routes
        .iter()
        .filter(|r| r.host.is_none())
        .filter(|r| {
            if r.exact {
                r.path == path
            } else {
                prefix_matches(&r.path)
            }
        })
        .collect();
    let best = candidates
        .iter()
        .copied()
        .max_by_key(|r| (r.exact, r.path.trim_end_matches('/').len()));
    let Some(best) = best else {
        return Ok(None);
    };
    let rivals: Vec<&IngressRoute> = candidates
        .into_iter()
        .filter(|r| {
            r.exact == best.exact && r.path.trim_end_matches('/') == best.path.trim_end_matches('/')
        })
        .filter(|r| {
            (&r.namespace, &r.service, &r.port) != (&best.namespace, &best.service, &best.port)
        })
        .collect();
    if let Some(other) = rivals.first() {
        return Err(format!(
            "path {path} is routed by both Ingress {}/{} and Ingress {}/{} to different services",
            best.namespace, best.ingress, other.namespace, other.ingress
        ));
    }
    Ok(Some(best))
}

/// Plans a scenario step by step (an iterator, so a runner can plan each step just before running
/// it, and callers can use the steps planned before a failure). Stops after the first error.
pub struct Planner<'a> {
    scenario: &'a LoadedScenario,
    state: ClusterState,
    next: usize,
    done: bool,
}

/// The steps of a scenario, planned one at a time.
pub fn steps(scenario: &LoadedScenario) -> Planner<'_> {
    steps_as(scenario, Semantics::Generic)
}

/// The steps of a scenario, predicted as `semantics` (a Calico line) behaves.
pub fn steps_as(scenario: &LoadedScenario, semantics: Semantics) -> Planner<'_> {
    let mut state = ClusterState::new(&scenario.scenario).with_semantics(semantics);
    for file in &scenario.scenario.setup {
        state.apply(scenario.documents(file));
    }
    Planner {
        scenario,
        state,
        next: 0,
        done: false,
    }
}

/// Plans every step of a scenario.
pub fn plan(scenario: &LoadedScenario) -> Result<Plan, ScenarioError> {
    Ok(Plan {
        name: scenario.scenario.name.clone(),
        steps: steps(scenario).collect::<Result<_, _>>()?,
    })
}

impl Iterator for Planner<'_> {
    type Item = Result<PlannedStep, ScenarioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.next >= self.scenario.scenario.steps.len() {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let result = self.plan_step(index);
        self.done = result.is_err();
        Some(result)
    }
}

impl Planner<'_> {
    fn plan_step(&mut self, index: usize) -> Result<PlannedStep, ScenarioError> {
        let loaded = self.scenario;
        let scenario = &loaded.scenario;
        let step = &scenario.steps[index];
        for action in &step.actions {
            match action {
                Action::Apply(files) => files
                    .iter()
                    .for_each(|f| self.state.apply(loaded.documents(f))),
                Action::Delete(files) => files
                    .iter()
                    .for_each(|f| self.state.delete(loaded.documents(f))),
                Action::Label(label) => self.state.label(label),
                Action::WaitRollout(_) => {}
            }
        }
        let field = format!("steps[{index}]");
        let model = self.state.analysis().map_err(|e| {
            ScenarioError::one(loaded.problem(&field, format!("step `{}`: {e}", step.name)))
        })?;
        let mut problems = Vec::new();
        for (a, action) in step.actions.iter().enumerate() {
            let missing = match action {
                Action::Label(label) => match &label.target {
                    LabelTarget::Namespace(ns) if !model.cluster.namespaces.contains_key(ns) => {
                        Some(format!("namespace `{ns}`"))
                    }
                    LabelTarget::Pods(key) if model.cluster.endpoint(key).is_none() => {
                        Some(format!("endpoint `{key}`"))
                    }
                    _ => None,
                },
                Action::WaitRollout(keys) => keys
                    .iter()
                    .find(|k| model.cluster.endpoint(k).is_none())
                    .map(|k| format!("endpoint `{k}`")),
                _ => None,
            };
            if let Some(what) = missing {
                problems.push(loaded.problem(
                    format!("{field}.actions[{a}]"),
                    format!("{what} does not exist at this step"),
                ));
            }
        }
        let mut probes = Vec::new();
        for sp in loaded.step_probes(index) {
            match planned_probe(&model, &sp) {
                Ok(p) => probes.push(p),
                Err(message) => problems.push(loaded.problem(&sp.field, message)),
            }
        }
        if !problems.is_empty() {
            return Err(ScenarioError { problems });
        }
        let mut requires = scenario.requires.clone();
        requires.extend(step.requires.iter().copied());
        requires.sort();
        requires.dedup();
        Ok(PlannedStep {
            index,
            name: step.name.clone(),
            narration: step.narration.clone(),
            actions: step.actions.clone(),
            requires,
            model,
            probes,
        })
    }
}

fn planned_probe(model: &Analysis, sp: &StepProbe) -> Result<PlannedProbe, String> {
    let prediction = predict(model, &sp.probe).map_err(|e| {
        if sp.field.contains(".matrices[") {
            format!(
                "{} ({} → {}): {e}",
                sp.origin.trim_start_matches(&sp.field).trim(),
                sp.probe.from,
                sp.probe.to
            )
        } else {
            e
        }
    })?;
    Ok(PlannedProbe {
        probe: sp.probe.clone(),
        origin: sp.origin.clone(),
        client: prediction.client,
        target: prediction.target,
        resolution: prediction.resolution,
        expected: sp.probe.expect,
        predicted: prediction.outcome,
        agrees: agrees(sp.probe.expect, prediction.outcome),
        reason: prediction.reason,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::parse_str;
    use crate::scenario::format::ScenarioProbeKind;

    fn model(yaml: &str) -> Analysis {
        let docs = parse_str(Path::new("m.yaml"), yaml).unwrap();
        let mut state = ClusterState::new(
            &serde_json::from_value(serde_json::json!({
                "name": "s", "title": "t", "source": {"title": "t", "url": "u"}, "steps": [],
                "provides": [{"namespace": "projectcontour", "name": "envoy",
                              "labels": {"app": "envoy"}, "ports": [{"name": "http", "port": 8080}]}]
            }))
            .unwrap(),
        );
        state.apply(&docs);
        state.analysis().unwrap()
    }

    fn probe(from: &str, to: &str, kind: ScenarioProbeKind, port: Option<u16>) -> Probe {
        Probe {
            from: from.into(),
            to: to.into(),
            port,
            kind,
            method: None,
            path: None,
            expect: Expectation::Allowed,
            timeout: None,
        }
    }

    const APPS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: a, labels: {app: client}}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: a}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: x, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: a}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: http}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: a}
spec:
  rules:
  - http:
      paths:
      - {path: /echo, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
"#;

    const DENY_WEB: &str = r#"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: a}
spec: {podSelector: {matchLabels: {app: web}}}
"#;

    #[test]
    fn services_resolve_named_target_ports_on_their_backends() {
        let m = model(APPS);
        let p = predict(
            &m,
            &probe("a/client", "svc:a/web", ScenarioProbeKind::Http, Some(80)),
        )
        .unwrap();
        assert_eq!(p.outcome, Expectation::Allowed);
        assert_eq!(
            p.resolution,
            Resolution::Service {
                service: "a/web".into(),
                port: 80,
                protocol: Protocol::Tcp,
                backends: vec![Backend {
                    endpoint: "a/web".into(),
                    port: 8080
                }],
            }
        );
        let m = model(&format!("{APPS}{DENY_WEB}"));
        let p = predict(
            &m,
            &probe("a/client", "svc:a/web", ScenarioProbeKind::Http, Some(80)),
        )
        .unwrap();
        assert_eq!(p.outcome, Expectation::Blocked);
        assert!(p.reason.contains("NetworkPolicy a/deny"), "{}", p.reason);
    }

    #[test]
    fn ingress_probes_predict_200_503_and_404() {
        let ingress = |path: &str| Probe {
            expect: Expectation::Status(200),
            ..probe(
                "outside",
                &format!("ingress:{path}"),
                ScenarioProbeKind::Http,
                None,
            )
        };
        let echo = ingress("/echo");
        let p = predict(&model(APPS), &echo).unwrap();
        assert_eq!(p.outcome, Expectation::Status(200));
        assert!(
            p.resolution
                .to_string()
                .contains("Ingress a/web (/echo) → service a/web:80 → a/web:8080"),
            "{}",
            p.resolution
        );
        let p = predict(&model(&format!("{APPS}{DENY_WEB}")), &echo).unwrap();
        assert_eq!(p.outcome, Expectation::Status(503));
        let p = predict(&model(APPS), &ingress("/echoes")).unwrap();
        assert_eq!(p.outcome, Expectation::Status(404));
        let p = predict(&model(APPS), &ingress("/echo/x")).unwrap();
        assert_eq!(p.outcome, Expectation::Status(200));
    }

    #[test]
    fn dns_goes_to_coredns_and_external_addresses_are_unpoliced() {
        let m = model(&format!(
            "{APPS}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: no-egress, namespace: a}}\nspec: {{podSelector: {{matchLabels: {{app: client}}}}, policyTypes: [Egress]}}\n"
        ));
        let p = predict(
            &m,
            &probe(
                "a/client",
                "dns:web.a.svc.cluster.local",
                ScenarioProbeKind::Dns,
                None,
            ),
        )
        .unwrap();
        assert_eq!(p.outcome, Expectation::Blocked);
        assert!(
            p.resolution
                .to_string()
                .contains("kube-system/coredns 53/UDP")
        );
        let p = predict(
            &m,
            &probe("a/web", "ip:1.1.1.1", ScenarioProbeKind::Icmp, None),
        )
        .unwrap();
        assert_eq!(p.outcome, Expectation::Allowed);
    }

    #[test]
    fn services_without_backends_or_with_disagreeing_backends_are_refused() {
        let lonely = "apiVersion: v1\nkind: Service\nmetadata: {name: none, namespace: a}\nspec: {selector: {app: nobody}, ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: a}\n";
        let e = predict(
            &model(lonely),
            &probe("a/c", "svc:a/none", ScenarioProbeKind::Tcp, Some(80)),
        )
        .unwrap_err();
        assert!(e.contains("selects no endpoint"), "{e}");
        let two = format!(
            "{APPS}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: web2, namespace: a, labels: {{app: web, extra: y}}}}\nspec: {{containers: [{{name: c, image: x, ports: [{{name: http, containerPort: 8080}}]}}]}}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: d, namespace: a}}\nspec: {{podSelector: {{matchLabels: {{extra: y}}}}}}\n"
        );
        let e = predict(
            &model(&two),
            &probe("a/client", "svc:a/web", ScenarioProbeKind::Tcp, Some(80)),
        )
        .unwrap_err();
        assert!(e.contains("different verdicts"), "{e}");
    }

    #[test]
    fn agreement_rules() {
        use Expectation::*;
        assert!(agrees(Allowed, Status(503)));
        assert!(agrees(Status(200), Allowed));
        assert!(agrees(Status(503), Status(503)));
        assert!(!agrees(Status(200), Status(503)));
        assert!(!agrees(Allowed, Blocked));
        assert!(!agrees(Blocked, Status(503)));
        assert!(!agrees(Status(200), Blocked));
        assert!(agrees(Blocked, Blocked));
    }
}
