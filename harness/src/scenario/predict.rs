//! The oracle's prediction for one probe in one cluster state: the probe's target resolved to the
//! connections policy actually sees, and the verdict and explanation for them.
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

mod error;
mod ingress;

pub use error::PredictError;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::format::{Expectation, Probe};
use super::state::{DNS_PORT, dns_endpoint_key};
use super::target::{self, Client, Target, parse_probe};
use crate::analysis::Analysis;
use crate::model::{Cluster, EndpointId, PortRef, Protocol, Service};
use crate::oracle::{Oracle, Packet, Peer};

/// The address `outside` probes come from: the gateway of kind's docker network, where requests
/// to a node's host port originate.
pub const OUTSIDE_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(172, 18, 0, 1));

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
pub fn predict(model: &Analysis, probe: &Probe) -> Result<Prediction, PredictError> {
    predict_with(model, &model.oracle(), probe)
}

/// [`predict`] with the oracle already built for `model` (many probes, one compilation).
pub fn predict_with(
    model: &Analysis,
    oracle: &Oracle<'_>,
    probe: &Probe,
) -> Result<Prediction, PredictError> {
    let parsed =
        parse_probe(probe).map_err(|(field, message)| PredictError::Shape { field, message })?;
    let cluster = &model.cluster;
    let endpoint = |key: &str| {
        cluster
            .endpoint(key)
            .ok_or_else(|| PredictError::NoEndpoint(key.to_string()))
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
            let service = cluster
                .service(namespace, name)
                .ok_or_else(|| PredictError::NoService(format!("{namespace}/{name}")))?;
            let port = probe.port.expect("checked by parse_probe");
            let target = service
                .ports
                .iter()
                .find(|p| p.port == port && p.protocol == protocol)
                .map(|p| p.target.clone())
                .ok_or_else(|| PredictError::NoServicePort {
                    service: format!("{namespace}/{name}"),
                    port,
                    protocol,
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
        Target::Ingress(path) => ingress::predict_ingress(cluster, oracle, from, path, &uncertain)?,
    };
    if let Some(reason) = uncertain.into_inner() {
        return Err(PredictError::Undecided(reason));
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
) -> Result<Vec<BackendPort>, PredictError> {
    let selected = cluster.service_backends(service);
    let key = format!("{}/{}", service.namespace, service.name);
    if selected.is_empty() {
        return Err(PredictError::NoBackends(key));
    }
    let resolved: Vec<BackendPort> = selected
        .iter()
        .filter_map(|&id| match target {
            PortRef::Number(n) => Some((id, *n)),
            PortRef::Name(name) => cluster.get(id).named_port(name, protocol).map(|p| (id, p)),
        })
        .collect();
    if resolved.is_empty() {
        return Err(PredictError::NoNamedTargetPort {
            service: key,
            protocol,
            target: target.to_string(),
        });
    }
    Ok(resolved)
}

/// The common verdict of every backend, or an error naming the ones that differ.
fn same_verdict(
    backends: &[BackendPort],
    mut verdict: impl FnMut(&BackendPort) -> (bool, String),
) -> Result<(bool, String), PredictError> {
    let verdicts: Vec<(bool, String)> = backends.iter().map(&mut verdict).collect();
    let allowed = verdicts[0].0;
    if verdicts.iter().any(|(a, _)| *a != allowed) {
        let list: Vec<String> = verdicts
            .iter()
            .map(|(a, r)| format!("{} ({r})", if *a { "allowed" } else { "blocked" }))
            .collect();
        return Err(PredictError::BackendsDisagree(list.join(" / ")));
    }
    let reasons: Vec<String> = verdicts.into_iter().map(|(_, r)| r).collect();
    Ok((allowed, reasons.join(" | ")))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::parse_str;
    use crate::scenario::format::ScenarioProbeKind;
    use crate::scenario::state::ClusterState;

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
        assert_eq!(e, PredictError::NoBackends("a/none".into()));
        assert!(e.to_string().contains("selects no endpoint"), "{e}");
        let two = format!(
            "{APPS}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: web2, namespace: a, labels: {{app: web, extra: y}}}}\nspec: {{containers: [{{name: c, image: x, ports: [{{name: http, containerPort: 8080}}]}}]}}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: d, namespace: a}}\nspec: {{podSelector: {{matchLabels: {{extra: y}}}}}}\n"
        );
        let e = predict(
            &model(&two),
            &probe("a/client", "svc:a/web", ScenarioProbeKind::Tcp, Some(80)),
        )
        .unwrap_err();
        assert!(matches!(e, PredictError::BackendsDisagree(_)), "{e:?}");
        assert!(e.to_string().contains("different verdicts"), "{e}");
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
