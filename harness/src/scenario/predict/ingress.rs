//! Predicting an `ingress:` probe: the client to the ingress controller, the route the path
//! takes, then the controller to the route's backends.

use std::cell::RefCell;

use super::{PredictError, Resolution, Route, backend, backends, same_verdict};
use crate::model::{Cluster, EndpointId, IngressRoute, PortRef, Protocol};
use crate::oracle::{Oracle, Packet, Peer};
use crate::scenario::format::Expectation;
use crate::scenario::state::{INGRESS_CONTROLLER_PORT, find_ingress_controller};

pub(super) fn predict_ingress(
    cluster: &Cluster,
    oracle: &Oracle<'_>,
    from: Peer,
    path: &str,
    uncertain: &RefCell<Option<String>>,
) -> Result<(Resolution, Expectation, String), PredictError> {
    let controller = find_ingress_controller(cluster).ok_or(PredictError::NoIngressController)?;
    let controller_key = cluster.get(controller).key();
    let controller_port = cluster
        .get(controller)
        .named_port(INGRESS_CONTROLLER_PORT, Protocol::Tcp)
        .ok_or_else(|| PredictError::NoControllerPort {
            controller: controller_key.clone(),
            port: INGRESS_CONTROLLER_PORT,
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
        .ok_or_else(|| PredictError::RouteWithoutService {
            ingress: format!("{}/{}", route.namespace, route.ingress),
            path: route.path.clone(),
            service: format!("{}/{}", route.namespace, route.service),
        })?;
    let service_port = service
        .ports
        .iter()
        .find(|p| match &route.port {
            PortRef::Number(n) => p.port == *n,
            PortRef::Name(name) => p.name.as_deref() == Some(name.as_str()),
        })
        .ok_or_else(|| PredictError::RouteWithoutPort {
            ingress: format!("{}/{}", route.namespace, route.ingress),
            port: route.port.to_string(),
            service: format!("{}/{}", route.namespace, route.service),
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
fn match_route<'c>(
    cluster: &'c Cluster,
    path: &str,
) -> Result<Option<&'c IngressRoute>, PredictError> {
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
        return Err(PredictError::RivalRoutes {
            path: path.to_string(),
            first: format!("{}/{}", best.namespace, best.ingress),
            second: format!("{}/{}", other.namespace, other.ingress),
        });
    }
    Ok(Some(best))
}
