//! Building the [`Cluster`] from manifest documents.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Service as K8sService;
use k8s_openapi::api::core::v1::{
    Container, Namespace as K8sNamespace, Node as K8sNode, Pod, ServiceAccount,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    Cluster, ContainerPort, Endpoint, IngressRoute, Labels, NAMESPACE_NAME_LABEL, Node, PortRef,
    Protocol, Service, ServicePort, WorkloadKind, removed_api,
};
use crate::manifest::{Document, ManifestError};

/// kind's default pod CIDR, from which endpoints without `status.podIP` get addresses.
pub const DEFAULT_POD_CIDR: &str = "10.244.0.0/16";

/// The address host-network pods get when their manifest carries none: a kind node's address on
/// kind's docker network. A host-network pod has its node's address, never a pod-CIDR one.
pub const DEFAULT_NODE_ADDRESS: &str = "172.18.0.2";

/// How to build the cluster model.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Addresses for endpoints whose manifests carry none are taken from here, in order.
    pub pod_cidr: IpNet,
    /// The node address given to host-network pods whose manifests carry none.
    pub node_address: IpAddr,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            pod_cidr: DEFAULT_POD_CIDR.parse().expect("valid default CIDR"),
            node_address: DEFAULT_NODE_ADDRESS.parse().expect("valid default address"),
        }
    }
}

/// The `(apiVersion, kind)` pairs [`Cluster::from_documents`] reads.
const MODELLED: &[(&str, &str)] = &[
    ("v1", "Namespace"),
    ("v1", "Node"),
    ("v1", "ServiceAccount"),
    ("v1", "Service"),
    ("networking.k8s.io/v1", "Ingress"),
    ("v1", "Pod"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
];

impl Cluster {
    /// Whether the model reads documents of this `apiVersion` and `kind`.
    pub fn models(api_version: &str, kind: &str) -> bool {
        MODELLED.contains(&(api_version, kind))
    }

    /// Builds the model from documents. Kinds the model does not use (ConfigMaps, policies, CRDs…)
    /// are left for other modules; kinds at a removed API version are refused.
    pub fn from_documents(
        docs: &[Document],
        options: &BuildOptions,
    ) -> Result<Cluster, ManifestError> {
        let mut cluster = Cluster::default();
        let mut unaddressed = Vec::new();
        // Host-network pods without addresses, with the node they are scheduled on.
        let mut on_nodes: Vec<(String, Option<String>, &Document)> = Vec::new();
        // Objects other than endpoints, by kind and `namespace/name`: a second document for one
        // object is refused (which would win is the order of `kubectl apply`, not the model's).
        let mut declared: HashMap<(&str, String), &Document> = HashMap::new();
        for doc in docs {
            if let Some(why) = removed_api(doc.api_version(), doc.kind()) {
                return Err(doc.unsupported(
                    "apiVersion",
                    format!("{} {}: {why}", doc.api_version(), doc.kind()),
                ));
            }
            if !Cluster::models(doc.api_version(), doc.kind()) {
                continue;
            }
            let namespace = doc.namespace().unwrap_or("default").to_string();
            if matches!(
                (doc.api_version(), doc.kind()),
                ("v1", "Namespace" | "Node" | "ServiceAccount" | "Service")
                    | ("networking.k8s.io/v1", "Ingress")
            ) {
                let name = required_name(doc)?;
                let key = match doc.kind() {
                    "Namespace" | "Node" => name,
                    _ => format!("{namespace}/{name}"),
                };
                if let Some(first) = declared.insert((doc.kind(), key.clone()), doc) {
                    return Err(doc.invalid(
                        "metadata.name",
                        format!(
                            "{} {key} is declared twice (first at {})",
                            doc.kind(),
                            first.source
                        ),
                    ));
                }
            }
            let template = match (doc.api_version(), doc.kind()) {
                ("v1", "Namespace") => {
                    let ns: K8sNamespace = doc.typed()?;
                    let name = required_name(doc)?;
                    let entry = cluster.ensure_namespace(&name);
                    entry.labels.extend(ns.metadata.labels.unwrap_or_default());
                    // The API server always sets this label to the name, whatever was written.
                    entry
                        .labels
                        .insert(NAMESPACE_NAME_LABEL.to_string(), name.clone());
                    None
                }
                ("v1", "Node") => {
                    let node: K8sNode = doc.typed()?;
                    cluster.nodes.push(node_of(doc, node)?);
                    None
                }
                ("v1", "ServiceAccount") => {
                    let sa: ServiceAccount = doc.typed()?;
                    let name = required_name(doc)?;
                    cluster.ensure_namespace(&namespace);
                    cluster.service_accounts.insert(
                        format!("{namespace}/{name}"),
                        sa.metadata.labels.unwrap_or_default(),
                    );
                    None
                }
                ("v1", "Service") => {
                    cluster.ensure_namespace(&namespace);
                    let service = service(doc, &namespace)?;
                    cluster.services.push(service);
                    None
                }
                ("networking.k8s.io/v1", "Ingress") => {
                    cluster.ensure_namespace(&namespace);
                    cluster
                        .ingress_routes
                        .extend(ingress_routes(doc, &namespace)?);
                    None
                }
                ("v1", "Pod") => {
                    let pod: Pod = doc.typed()?;
                    let ips = pod_ips(doc, &pod)?;
                    Some((
                        WorkloadKind::Pod,
                        pod.metadata.labels.unwrap_or_default(),
                        pod.spec,
                        "spec",
                        ips,
                    ))
                }
                ("apps/v1", "Deployment") => {
                    let w: Deployment = doc.typed()?;
                    let t = w.spec.map(|s| s.template).unwrap_or_default();
                    Some((
                        WorkloadKind::Deployment,
                        labels_of(&t.metadata),
                        t.spec,
                        "spec.template.spec",
                        vec![],
                    ))
                }
                ("apps/v1", "ReplicaSet") => {
                    let w: ReplicaSet = doc.typed()?;
                    let t = w.spec.and_then(|s| s.template).unwrap_or_default();
                    Some((
                        WorkloadKind::ReplicaSet,
                        labels_of(&t.metadata),
                        t.spec,
                        "spec.template.spec",
                        vec![],
                    ))
                }
                ("apps/v1", "StatefulSet") => {
                    let w: StatefulSet = doc.typed()?;
                    let t = w.spec.map(|s| s.template).unwrap_or_default();
                    Some((
                        WorkloadKind::StatefulSet,
                        labels_of(&t.metadata),
                        t.spec,
                        "spec.template.spec",
                        vec![],
                    ))
                }
                ("apps/v1", "DaemonSet") => {
                    let w: DaemonSet = doc.typed()?;
                    let t = w.spec.map(|s| s.template).unwrap_or_default();
                    Some((
                        WorkloadKind::DaemonSet,
                        labels_of(&t.metadata),
                        t.spec,
                        "spec.template.spec",
                        vec![],
                    ))
                }
                ("batch/v1", "Job") => {
                    let w: Job = doc.typed()?;
                    let t = w.spec.map(|s| s.template).unwrap_or_default();
                    Some((
                        WorkloadKind::Job,
                        labels_of(&t.metadata),
                        t.spec,
                        "spec.template.spec",
                        vec![],
                    ))
                }
                ("batch/v1", "CronJob") => {
                    let w: CronJob = doc.typed()?;
                    let t = w
                        .spec
                        .and_then(|s| s.job_template.spec)
                        .map(|s| s.template)
                        .unwrap_or_default();
                    Some((
                        WorkloadKind::CronJob,
                        labels_of(&t.metadata),
                        t.spec,
                        "spec.jobTemplate.spec.template.spec",
                        vec![],
                    ))
                }
                _ => None,
            };
            let Some((kind, labels, spec, spec_field, ips)) = template else {
                continue;
            };
            let node_name = spec.as_ref().and_then(|s| s.node_name.clone());
            let name = required_name(doc)?;
            let spec = spec.unwrap_or_default();
            let endpoint = Endpoint {
                namespace: namespace.clone(),
                name,
                kind,
                labels,
                ports: container_ports(doc, &spec.containers, &format!("{spec_field}.containers"))?,
                init_ports: container_ports(
                    doc,
                    spec.init_containers.as_deref().unwrap_or_default(),
                    &format!("{spec_field}.initContainers"),
                )?,
                ips,
                // The API server fills serviceAccountName from the deprecated serviceAccount
                // when only that is set (Convert_v1_PodSpec_To_core_PodSpec).
                service_account: [&spec.service_account_name, &spec.service_account]
                    .into_iter()
                    .flatten()
                    .find(|s| !s.is_empty())
                    .cloned()
                    .unwrap_or_else(|| "default".to_string()),
                host_network: spec.host_network.unwrap_or(false),
                source: Some(doc.source.clone()),
            };
            let key = endpoint.key();
            let needs_address = endpoint.ips.is_empty();
            let host_network = endpoint.host_network;
            if cluster.add_endpoint(endpoint).is_err() {
                return Err(doc.invalid(
                    "metadata.name",
                    format!("endpoint {key} is declared twice (a pod and a workload, or two workloads, with one name)"),
                ));
            }
            if needs_address && host_network {
                on_nodes.push((key, node_name, doc));
            } else if needs_address {
                unaddressed.push(key);
            }
        }
        for (key, node_name, doc) in on_nodes {
            let ips = match node_name {
                // A host-network pod has its node's addresses.
                Some(name) => match cluster.nodes.iter().find(|n| n.name == name) {
                    Some(node) if !node.addresses.is_empty() => node.addresses.clone(),
                    Some(_) => vec![options.node_address],
                    None if cluster.nodes.is_empty() => vec![options.node_address],
                    None => {
                        return Err(doc.invalid(
                            "spec.nodeName",
                            format!("node `{name}` is not declared (the manifests declare Nodes, so a host-network pod must name one of them)"),
                        ));
                    }
                },
                None => vec![options.node_address],
            };
            let id = cluster.endpoint(&key).expect("endpoint was added");
            cluster.endpoints[id.0].ips = ips;
        }
        cluster.assign_addresses(&unaddressed, options.pod_cidr, docs)?;
        Ok(cluster)
    }

    /// Gives each endpoint in `keys` the next free address of `cidr`, in sorted key order so that
    /// the result does not depend on file order.
    fn assign_addresses(
        &mut self,
        keys: &[String],
        cidr: IpNet,
        docs: &[Document],
    ) -> Result<(), ManifestError> {
        let mut keys = keys.to_vec();
        keys.sort();
        let taken: std::collections::HashSet<IpAddr> =
            self.endpoints.iter().flat_map(|e| e.ips.clone()).collect();
        // Skip the network address and the first host (a gateway on most CNIs).
        let mut free = cidr.hosts().skip(1).filter(|ip| !taken.contains(ip));
        for key in keys {
            let id = self.endpoint(&key).expect("endpoint was just added");
            match free.next() {
                Some(ip) => self.endpoints[id.0].ips.push(ip),
                None => {
                    let at = docs
                        .first()
                        .map(|d| d.source.file.display().to_string())
                        .unwrap_or_default();
                    return Err(ManifestError::Io {
                        path: at.into(),
                        message: format!(
                            "--pod-cidr {cidr} has too few addresses for {} endpoints",
                            self.endpoints.len()
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

fn required_name(doc: &Document) -> Result<String, ManifestError> {
    match doc.name() {
        "" => Err(doc.invalid("metadata.name", "missing")),
        name => Ok(name.to_string()),
    }
}

fn labels_of(meta: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>) -> Labels {
    meta.as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

fn pod_ips(doc: &Document, pod: &Pod) -> Result<Vec<IpAddr>, ManifestError> {
    let Some(status) = &pod.status else {
        return Ok(Vec::new());
    };
    let mut ips = Vec::new();
    for (i, ip) in status.pod_ips.iter().flatten().enumerate() {
        let parsed = ip.ip.parse().map_err(|_| {
            doc.invalid(
                format!("status.podIPs[{i}].ip"),
                format!("`{}` is not an IP address", ip.ip),
            )
        })?;
        if !ips.contains(&parsed) {
            ips.push(parsed);
        }
    }
    if let Some(ip) = &status.pod_ip {
        let parsed = ip
            .parse()
            .map_err(|_| doc.invalid("status.podIP", format!("`{ip}` is not an IP address")))?;
        if !ips.contains(&parsed) {
            ips.insert(0, parsed);
        }
    }
    Ok(ips)
}

fn container_ports(
    doc: &Document,
    containers: &[Container],
    field: &str,
) -> Result<Vec<ContainerPort>, ManifestError> {
    let mut ports = Vec::new();
    for (c, container) in containers.iter().enumerate() {
        for (p, port) in container.ports.iter().flatten().enumerate() {
            let at = format!("{field}[{c}].ports[{p}]");
            let number = u16::try_from(port.container_port)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| {
                    doc.invalid(
                        format!("{at}.containerPort"),
                        format!("{} is not a port number (1-65535)", port.container_port),
                    )
                })?;
            let protocol = match &port.protocol {
                None => Protocol::Tcp,
                Some(p) => Protocol::parse_port_protocol(p)
                    .map_err(|m| doc.invalid(format!("{at}.protocol"), m))?,
            };
            ports.push(ContainerPort {
                name: port.name.clone(),
                port: number,
                protocol,
            });
        }
    }
    Ok(ports)
}

fn service(doc: &Document, namespace: &str) -> Result<Service, ManifestError> {
    let svc: K8sService = doc.typed()?;
    let spec = svc.spec.unwrap_or_default();
    let mut ports = Vec::new();
    for (i, p) in spec.ports.iter().flatten().enumerate() {
        let at = format!("spec.ports[{i}]");
        let port = u16::try_from(p.port)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                doc.invalid(
                    format!("{at}.port"),
                    format!("{} is not a port number", p.port),
                )
            })?;
        let target = match &p.target_port {
            None => PortRef::Number(port),
            Some(t) => port_ref(t).map_err(|m| doc.invalid(format!("{at}.targetPort"), m))?,
        };
        let protocol = match &p.protocol {
            None => Protocol::Tcp,
            Some(s) => Protocol::parse_port_protocol(s)
                .map_err(|m| doc.invalid(format!("{at}.protocol"), m))?,
        };
        ports.push(ServicePort {
            name: p.name.clone(),
            port,
            target,
            protocol,
        });
    }
    Ok(Service {
        namespace: namespace.to_string(),
        name: required_name(doc)?,
        selector: spec.selector,
        ports,
    })
}

/// A port written as a number or a name that Kubernetes would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortRefError {
    /// A number outside 1-65535.
    #[error("{0} is not a port number (1-65535)")]
    NotAPortNumber(i32),
    /// A number written as a string.
    #[error("\"{0}\" is a quoted number; write the port without quotes")]
    QuotedNumber(i64),
    /// A name that is not an IANA service name.
    #[error(
        "`{0}` is not a valid port name (IANA_SVC_NAME: at most 15 lowercase letters, digits and '-', at least one letter)"
    )]
    NotAPortName(String),
}

/// Converts an int-or-string port into a [`PortRef`], validating the range and the name syntax.
pub fn port_ref(value: &IntOrString) -> Result<PortRef, PortRefError> {
    match value {
        IntOrString::Int(n) => u16::try_from(*n)
            .ok()
            .filter(|&n| n > 0)
            .map(PortRef::Number)
            .ok_or(PortRefError::NotAPortNumber(*n)),
        IntOrString::String(s) => {
            if let Ok(n) = s.parse::<i64>() {
                return Err(PortRefError::QuotedNumber(n));
            }
            if s.is_empty()
                || s.len() > 15
                || !s
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                || !s.chars().any(|c| c.is_ascii_lowercase())
                || s.starts_with('-')
                || s.ends_with('-')
            {
                return Err(PortRefError::NotAPortName(s.clone()));
            }
            Ok(PortRef::Name(s.clone()))
        }
    }
}

fn ingress_routes(doc: &Document, namespace: &str) -> Result<Vec<IngressRoute>, ManifestError> {
    let ing: Ingress = doc.typed()?;
    let name = required_name(doc)?;
    let mut routes = Vec::new();
    for (r, rule) in ing
        .spec
        .iter()
        .flat_map(|s| s.rules.iter().flatten())
        .enumerate()
    {
        for (p, path) in rule.http.iter().flat_map(|h| h.paths.iter()).enumerate() {
            let at = format!("spec.rules[{r}].http.paths[{p}]");
            let Some(backend) = &path.backend.service else {
                return Err(doc.unsupported(
                    format!("{at}.backend.resource"),
                    "resource backends are not routed by the harness",
                ));
            };
            let port = match &backend.port {
                Some(p) => match (&p.number, &p.name) {
                    (Some(n), _) => PortRef::Number(u16::try_from(*n).map_err(|_| {
                        doc.invalid(
                            format!("{at}.backend.service.port.number"),
                            format!("{n} is not a port number"),
                        )
                    })?),
                    (None, Some(n)) => PortRef::Name(n.clone()),
                    (None, None) => {
                        return Err(doc.invalid(
                            format!("{at}.backend.service.port"),
                            "needs number or name",
                        ));
                    }
                },
                None => return Err(doc.invalid(format!("{at}.backend.service.port"), "missing")),
            };
            routes.push(IngressRoute {
                namespace: namespace.to_string(),
                ingress: name.clone(),
                host: rule.host.clone(),
                path: path.path.clone().unwrap_or_else(|| "/".to_string()),
                exact: path.path_type == "Exact",
                service: backend.name.clone(),
                port,
            });
        }
    }
    Ok(routes)
}

/// A Node's labels and addresses. Addresses of type `InternalIP` and `ExternalIP` count (what
/// implementations match `nodes` peers against); `Hostname` and others are not addresses.
fn node_of(doc: &Document, node: K8sNode) -> Result<Node, ManifestError> {
    let name = required_name(doc)?;
    let mut addresses = Vec::new();
    let list = node.status.and_then(|s| s.addresses).unwrap_or_default();
    for (i, a) in list.iter().enumerate() {
        if a.type_ != "InternalIP" && a.type_ != "ExternalIP" {
            continue;
        }
        let ip: IpAddr = a.address.parse().map_err(|_| {
            doc.invalid(
                format!("status.addresses[{i}].address"),
                format!("`{}` is not an IP address", a.address),
            )
        })?;
        if !addresses.contains(&ip) {
            addresses.push(ip);
        }
    }
    Ok(Node {
        name,
        labels: node.metadata.labels.unwrap_or_default(),
        addresses,
        source: Some(doc.source.clone()),
    })
}
