//! Why a probe cannot be predicted.

use thiserror::Error;

use crate::model::Protocol;
use crate::scenario::state::{INGRESS_CONTROLLER_LABEL, INGRESS_CONTROLLER_NAMESPACE};

/// Why the oracle cannot predict a probe at a step. Each message says what is missing or
/// ambiguous; none is a failure of the oracle.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PredictError {
    /// The probe's fields do not go together (the field, relative to the probe, and why).
    #[error("{field}: {message}")]
    Shape {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// An endpoint the probe names is not in the model at this step.
    #[error("endpoint `{0}` does not exist at this step")]
    NoEndpoint(String),
    /// A Service the probe names is not in the model at this step.
    #[error("service `{0}` does not exist at this step")]
    NoService(String),
    /// The Service has no such port.
    #[error("service `{service}` has no port {port}/{protocol}")]
    NoServicePort {
        /// `namespace/name`.
        service: String,
        /// The port asked.
        port: u16,
        /// Its protocol.
        protocol: Protocol,
    },
    /// The Service selects no endpoint: a connection would be refused, not blocked by policy.
    #[error(
        "service `{0}` selects no endpoint at this step: a probe would be refused, not blocked by policy"
    )]
    NoBackends(String),
    /// No backend has the named target port.
    #[error("no backend of service `{service}` has a {protocol} container port named `{target}`")]
    NoNamedTargetPort {
        /// `namespace/name`.
        service: String,
        /// The protocol.
        protocol: Protocol,
        /// The target port's name.
        target: String,
    },
    /// The backends get different verdicts (each listed with its reason).
    #[error(
        "the Service's backends get different verdicts, so the outcome would depend on which one answers: {0}; probe the endpoints directly"
    )]
    BackendsDisagree(String),
    /// The manifests leave the cell open (DNS, equal ClusterNetworkPolicy priorities).
    #[error("the manifests do not decide this probe, so a scenario may not assert it: {0}")]
    Undecided(String),
    /// An `ingress:` probe without an ingress controller in the model.
    #[error(
        "no ingress controller: declare it under `provides` (namespace {INGRESS_CONTROLLER_NAMESPACE}, label {}={})",
        INGRESS_CONTROLLER_LABEL.0,
        INGRESS_CONTROLLER_LABEL.1
    )]
    NoIngressController,
    /// The ingress controller has no TCP port of the expected name.
    #[error("the ingress controller {controller} has no TCP port named `{port}`")]
    NoControllerPort {
        /// `namespace/name`.
        controller: String,
        /// The port name looked for.
        port: &'static str,
    },
    /// An Ingress route names a Service that does not exist.
    #[error(
        "Ingress {ingress} routes {path} to service `{service}`, which does not exist at this step"
    )]
    RouteWithoutService {
        /// `namespace/name` of the Ingress.
        ingress: String,
        /// The route's path.
        path: String,
        /// `namespace/name` of the Service.
        service: String,
    },
    /// An Ingress route names a port the Service does not have.
    #[error("Ingress {ingress} names port `{port}` of service `{service}`, which has no such port")]
    RouteWithoutPort {
        /// `namespace/name` of the Ingress.
        ingress: String,
        /// The port as the route names it.
        port: String,
        /// `namespace/name` of the Service.
        service: String,
    },
    /// Two Ingresses route the same best path to different Services.
    #[error(
        "path {path} is routed by both Ingress {first} and Ingress {second} to different services"
    )]
    RivalRoutes {
        /// The path.
        path: String,
        /// `namespace/name` of one Ingress.
        first: String,
        /// `namespace/name` of the other.
        second: String,
    },
}
