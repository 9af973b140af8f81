//! The cluster as the oracle sees it: namespaces, endpoints (pods and workload templates), their
//! ports and addresses, services and ingress routes — including what the API server adds that
//! users never write (the `kubernetes.io/metadata.name` namespace label, protocol TCP, namespace
//! `default`).

mod build;
mod protocol;
mod removed;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::manifest::Source;

pub use build::{
    BuildOptions, DEFAULT_NODE_ADDRESS, DEFAULT_POD_CIDR, PortRefError, port_ref as build_port_ref,
};
pub use protocol::{Protocol, ProtocolError};
pub use removed::removed_api;

/// Label maps, sorted so output is stable.
pub type Labels = BTreeMap<String, String>;

/// The label the API server puts on every namespace, holding its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A namespace and its labels (always including [`NAMESPACE_NAME_LABEL`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// The namespace's name.
    pub name: String,
    /// Its labels, with the API server's `kubernetes.io/metadata.name`.
    pub labels: Labels,
}

/// Index of an endpoint in [`Cluster::endpoints`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointId(pub usize);

/// What an endpoint was declared as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkloadKind {
    /// A bare Pod.
    Pod,
    /// A Deployment's pod template.
    Deployment,
    /// A ReplicaSet's pod template.
    ReplicaSet,
    /// A StatefulSet's pod template.
    StatefulSet,
    /// A DaemonSet's pod template.
    DaemonSet,
    /// A Job's pod template.
    Job,
    /// A CronJob's job template's pod template.
    CronJob,
    /// Declared by a scenario for software installed from elsewhere (e.g. Contour's Envoy).
    Declared,
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A container port an endpoint serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerPort {
    /// The port's name, if any (what named ports in policies refer to).
    pub name: Option<String>,
    /// The port number.
    pub port: u16,
    /// Its protocol (TCP when the manifest omits it).
    pub protocol: Protocol,
}

/// One pod, or the pods of one workload (all replicas share labels and ports, so policy treats
/// them alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Namespace.
    pub namespace: String,
    /// Pod or workload name.
    pub name: String,
    /// What declared it.
    pub kind: WorkloadKind,
    /// Pod labels (the template's labels for a workload).
    pub labels: Labels,
    /// Container ports, named ones included.
    pub ports: Vec<ContainerPort>,
    /// Ports of init containers. Nothing is assumed to serve them, but Calico resolves named
    /// ports against them as well (`appendEndpointPorts` over `InitContainers`).
    pub init_ports: Vec<ContainerPort>,
    /// Addresses: `status.podIPs` when the manifest has them, else assigned from the pod CIDR.
    pub ips: Vec<IpAddr>,
    /// The pod's service account (`default` when not set).
    pub service_account: String,
    /// Whether the pod uses the node's network namespace (network policy does not apply to it).
    pub host_network: bool,
    /// Where it was declared.
    pub source: Option<Source>,
}

impl Endpoint {
    /// `namespace/name`, how endpoints are named everywhere.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The first address (every endpoint has at least one).
    pub fn ip(&self) -> IpAddr {
        self.ips[0]
    }

    /// The container port named `name` with `protocol`, if the endpoint has one (init
    /// containers' ports included, as Calico's workload endpoints include them).
    pub fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.ports
            .iter()
            .chain(&self.init_ports)
            .find(|p| p.name.as_deref() == Some(name) && p.protocol == protocol)
            .map(|p| p.port)
    }
}

/// A port of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// The port's name.
    pub name: Option<String>,
    /// The service port.
    pub port: u16,
    /// The backend port: a number, or a container port name.
    pub target: PortRef,
    /// Protocol (TCP when omitted).
    pub protocol: Protocol,
}

/// A port given by number or by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortRef {
    /// A port number.
    Number(u16),
    /// A container port name.
    Name(String),
}

impl fmt::Display for PortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortRef::Number(n) => write!(f, "{n}"),
            PortRef::Name(n) => f.write_str(n),
        }
    }
}

/// A Service: how a name and port reach a set of endpoints. Policy is enforced on the backend
/// pod's address and target port (after DNAT), so probes to a service are predicted that way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The pod selector (`None`: a service without selector, whose endpoints are managed by hand).
    pub selector: Option<Labels>,
    /// Ports.
    pub ports: Vec<ServicePort>,
}

/// One HTTP path of an Ingress, routed to a service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressRoute {
    /// The Ingress's namespace (where the backend service lives).
    pub namespace: String,
    /// The Ingress's name.
    pub ingress: String,
    /// Host the rule matches (`None`: any host).
    pub host: Option<String>,
    /// The path (prefix match for `Prefix` and `ImplementationSpecific`, exact for `Exact`).
    pub path: String,
    /// Whether the path must match exactly.
    pub exact: bool,
    /// The backend service's name.
    pub service: String,
    /// The backend service's port.
    pub port: PortRef,
}

/// A node: its labels and addresses, which ClusterNetworkPolicy `nodes` peers select
/// (`status.addresses`, as kubernetes-sigs/network-policy-api@v0.2.0:apis/v1alpha2/clusternetworkpolicy_types.go#L363-L373
/// says). Host-network pods scheduled on it (`spec.nodeName`) take its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The node's name.
    pub name: String,
    /// Its labels.
    pub labels: Labels,
    /// Its IP addresses (`InternalIP` and `ExternalIP` entries of `status.addresses`).
    pub addresses: Vec<IpAddr>,
    /// Where it was declared.
    pub source: Option<Source>,
}

/// Everything the oracle knows about the cluster.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// Namespaces by name.
    pub namespaces: BTreeMap<String, Namespace>,
    /// Endpoints, sorted by `namespace/name`; [`EndpointId`] indexes this.
    pub endpoints: Vec<Endpoint>,
    /// Services.
    pub services: Vec<Service>,
    /// Ingress routes (networking.k8s.io/v1 Ingress paths).
    pub ingress_routes: Vec<IngressRoute>,
    /// Labels of service accounts that were declared (`namespace/name` → labels).
    pub service_accounts: BTreeMap<String, Labels>,
    /// Nodes that were declared (`v1` Node documents), in file order.
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// The endpoint `namespace/name`.
    pub fn endpoint(&self, key: &str) -> Option<EndpointId> {
        self.endpoints
            .binary_search_by(|e| cmp_key(e, key))
            .ok()
            .map(EndpointId)
    }

    /// The endpoint with this id.
    pub fn get(&self, id: EndpointId) -> &Endpoint {
        &self.endpoints[id.0]
    }

    /// Ids of all endpoints, in order.
    pub fn endpoint_ids(&self) -> impl Iterator<Item = EndpointId> + '_ {
        (0..self.endpoints.len()).map(EndpointId)
    }

    /// The labels of the endpoint's namespace.
    pub fn namespace_labels(&self, id: EndpointId) -> &Labels {
        &self.namespaces[&self.get(id).namespace].labels
    }

    /// The endpoint owning `ip`, if any.
    pub fn endpoint_by_ip(&self, ip: IpAddr) -> Option<EndpointId> {
        self.endpoints
            .iter()
            .position(|e| e.ips.contains(&ip))
            .map(EndpointId)
    }

    /// Whether `ip` is an address of a node whose labels `matches` accepts.
    pub fn is_node_address(&self, ip: IpAddr, matches: impl Fn(&Labels) -> bool) -> bool {
        self.nodes
            .iter()
            .any(|n| n.addresses.contains(&ip) && matches(&n.labels))
    }

    /// The service `namespace/name`.
    pub fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
    }

    /// The endpoints a service selects (in its namespace, all selector labels present).
    pub fn service_backends(&self, service: &Service) -> Vec<EndpointId> {
        let Some(selector) = &service.selector else {
            return Vec::new();
        };
        self.endpoint_ids()
            .filter(|&id| {
                let e = self.get(id);
                e.namespace == service.namespace
                    && selector.iter().all(|(k, v)| e.labels.get(k) == Some(v))
            })
            .collect()
    }

    /// Adds an endpoint (keeping the list sorted) and its namespace if new. Fails, returning the
    /// existing endpoint's id, if one with the same `namespace/name` exists.
    pub fn add_endpoint(&mut self, endpoint: Endpoint) -> Result<EndpointId, EndpointId> {
        let key = endpoint.key();
        match self.endpoints.binary_search_by(|e| cmp_key(e, &key)) {
            Ok(existing) => Err(EndpointId(existing)),
            Err(pos) => {
                self.ensure_namespace(&endpoint.namespace);
                self.endpoints.insert(pos, endpoint);
                Ok(EndpointId(pos))
            }
        }
    }

    /// Makes sure `name` exists as a namespace (with the API server's name label).
    pub fn ensure_namespace(&mut self, name: &str) -> &mut Namespace {
        self.namespaces
            .entry(name.to_string())
            .or_insert_with(|| Namespace {
                name: name.to_string(),
                labels: Labels::from([(NAMESPACE_NAME_LABEL.to_string(), name.to_string())]),
            })
    }
}

fn cmp_key(e: &Endpoint, key: &str) -> std::cmp::Ordering {
    let (ns, name) = key.split_once('/').unwrap_or(("", key));
    (e.namespace.as_str(), e.name.as_str()).cmp(&(ns, name))
}

#[cfg(test)]
mod tests;
