//! The cluster as a scenario changes it: the documents applied so far (a later apply of the same
//! object replaces it, a delete removes it), the labels set with `kubectl label`, the endpoints the
//! scenario's remote manifests provide, and what every cluster has: the CoreDNS endpoint and the
//! `kube-dns` and `kubernetes` Services; and how the ingress controller a scenario provides is
//! recognised (loading checks it exists, planning sends `ingress:` probes through it).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::format::{LabelAction, LabelTarget, ProvidedEndpoint, Scenario};
use crate::analysis::Analysis;
use crate::manifest::{Document, ManifestError};
use crate::model::{
    BuildOptions, Cluster, ContainerPort, Endpoint, EndpointId, Labels, NAMESPACE_NAME_LABEL,
    PortRef, Protocol, Service, ServicePort, WorkloadKind,
};
use crate::policy::{PolicySet, Semantics};

/// Namespace of the built-in cluster DNS endpoint.
pub const DNS_NAMESPACE: &str = "kube-system";
/// Name of the built-in cluster DNS endpoint (kind's CoreDNS Deployment).
pub const DNS_NAME: &str = "coredns";
/// The label CoreDNS pods carry (what DNS exceptions in policies select).
pub const DNS_LABEL: (&str, &str) = ("k8s-app", "kube-dns");
/// The DNS port.
pub const DNS_PORT: u16 = 53;
/// Name of the built-in Service in front of the cluster DNS (in [`DNS_NAMESPACE`]), the server
/// DNS probes ask.
pub const DNS_SERVICE: &str = "kube-dns";

/// `kube-system/coredns`, the endpoint `dns:` probes query.
pub fn dns_endpoint_key() -> String {
    format!("{DNS_NAMESPACE}/{DNS_NAME}")
}

/// Namespace of the ingress controller's data plane (Contour's quickstart).
pub const INGRESS_CONTROLLER_NAMESPACE: &str = "projectcontour";
/// The label of the ingress controller's data-plane pods (Envoy).
pub const INGRESS_CONTROLLER_LABEL: (&str, &str) = ("app", "envoy");
/// The name of the ingress controller's HTTP container port.
pub const INGRESS_CONTROLLER_PORT: &str = "http";

/// The ingress controller endpoint, if the cluster has one.
pub fn find_ingress_controller(cluster: &Cluster) -> Option<EndpointId> {
    cluster.endpoint_ids().find(|&id| {
        let e = cluster.get(id);
        e.namespace == INGRESS_CONTROLLER_NAMESPACE
            && e.labels.get(INGRESS_CONTROLLER_LABEL.0).map(String::as_str)
                == Some(INGRESS_CONTROLLER_LABEL.1)
    })
}

/// Identifies an object: API group, kind, namespace as written (empty when not written), name.
type ObjectKey = (String, String, String, String);

fn object_key(doc: &Document) -> ObjectKey {
    let group = doc
        .api_version()
        .split_once('/')
        .map_or("", |(g, _)| g)
        .to_string();
    (
        group,
        doc.kind().to_string(),
        doc.namespace().unwrap_or("").to_string(),
        doc.name().to_string(),
    )
}

/// Label changes accumulated on one namespace or endpoint.
#[derive(Debug, Clone, Default)]
struct LabelChange {
    set: Labels,
    removed: BTreeSet<String>,
}

impl LabelChange {
    fn record(&mut self, action: &LabelAction) {
        for (k, v) in &action.set {
            self.removed.remove(k);
            self.set.insert(k.clone(), v.clone());
        }
        for k in &action.remove {
            self.set.remove(k);
            self.removed.insert(k.clone());
        }
    }

    fn apply_to(&self, labels: &mut Labels) {
        labels.extend(self.set.clone());
        for k in &self.removed {
            labels.remove(k);
        }
    }
}

/// The state of the cluster at one point of a scenario.
#[derive(Debug, Clone)]
pub struct ClusterState {
    documents: Vec<(ObjectKey, Document)>,
    namespace_labels: BTreeMap<String, LabelChange>,
    pod_labels: BTreeMap<String, LabelChange>,
    owned_namespaces: Vec<String>,
    provides: Vec<ProvidedEndpoint>,
    semantics: Semantics,
}

impl ClusterState {
    /// The state predicting what `semantics` does (a Calico line), instead of the APIs as
    /// written.
    pub fn with_semantics(mut self, semantics: Semantics) -> ClusterState {
        self.semantics = semantics;
        self
    }

    /// The state before setup: the scenario's own namespaces exist, its remote manifests' endpoints
    /// run (they are applied first), and nothing else.
    pub fn new(scenario: &Scenario) -> ClusterState {
        ClusterState {
            documents: Vec::new(),
            namespace_labels: BTreeMap::new(),
            pod_labels: BTreeMap::new(),
            owned_namespaces: scenario.namespaces.clone(),
            provides: scenario.provides.clone(),
            semantics: Semantics::Generic,
        }
    }

    /// `kubectl apply`: each document replaces the object with the same group, kind, namespace and
    /// name, or is added.
    pub fn apply(&mut self, docs: &[Document]) {
        for doc in docs {
            let key = object_key(doc);
            match self.documents.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = doc.clone(),
                None => self.documents.push((key, doc.clone())),
            }
        }
    }

    /// `kubectl delete -f`: removes the objects. Labels set on the pods of a deleted workload go
    /// with them (a workload created again gets fresh pods).
    pub fn delete(&mut self, docs: &[Document]) {
        for doc in docs {
            let key = object_key(doc);
            self.documents.retain(|(k, _)| *k != key);
            let owns_pods = matches!(
                doc.kind(),
                "Pod"
                    | "Deployment"
                    | "ReplicaSet"
                    | "StatefulSet"
                    | "DaemonSet"
                    | "Job"
                    | "CronJob"
            );
            if owns_pods {
                let namespace = doc.namespace().unwrap_or("default");
                self.pod_labels
                    .remove(&format!("{namespace}/{}", doc.name()));
            }
        }
    }

    /// `kubectl label`: records the change, applied on top of every model built from now on.
    pub fn label(&mut self, action: &LabelAction) {
        let (map, key) = match &action.target {
            LabelTarget::Namespace(ns) => (&mut self.namespace_labels, ns.clone()),
            LabelTarget::Pods(key) => (&mut self.pod_labels, key.clone()),
        };
        map.entry(key).or_default().record(action);
    }

    /// The documents in force, in the order they were first applied.
    pub fn documents(&self) -> impl Iterator<Item = &Document> {
        self.documents.iter().map(|(_, d)| d)
    }

    /// The policy documents in force (any kind the oracle treats as policy).
    pub fn policy_documents(&self) -> Vec<&Document> {
        self.documents().filter(|d| is_policy(d)).collect()
    }

    /// The cluster model: endpoints and services of the documents, the label changes, the
    /// scenario's namespaces, the provided endpoints and the cluster DNS.
    pub fn cluster(&self) -> Result<Cluster, ManifestError> {
        let docs: Vec<Document> = self.documents().cloned().collect();
        let mut cluster = Cluster::from_documents(&docs, &BuildOptions::default())?;
        for ns in self
            .owned_namespaces
            .iter()
            .map(String::as_str)
            .chain(["default", DNS_NAMESPACE])
        {
            cluster.ensure_namespace(ns);
        }
        for provided in &self.provides {
            add_with_address(&mut cluster, provided_endpoint(provided));
        }
        add_with_address(&mut cluster, dns_endpoint());
        for service in builtin_services() {
            if cluster.service(&service.namespace, &service.name).is_none() {
                cluster.services.push(service);
            }
        }
        for (ns, change) in &self.namespace_labels {
            if let Some(namespace) = cluster.namespaces.get_mut(ns) {
                change.apply_to(&mut namespace.labels);
                // The API server keeps this label equal to the name whatever is written.
                namespace
                    .labels
                    .insert(NAMESPACE_NAME_LABEL.to_string(), ns.clone());
            }
        }
        for (key, change) in &self.pod_labels {
            if let Some(id) = cluster.endpoint(key) {
                change.apply_to(&mut cluster.endpoints[id.0].labels);
            }
        }
        Ok(cluster)
    }

    /// The cluster model and the policies in force.
    pub fn analysis(&self) -> Result<Analysis, ManifestError> {
        let cluster = self.cluster()?;
        let docs: Vec<Document> = self.documents().cloned().collect();
        let policies = PolicySet::from_documents_as(&docs, self.semantics)?;
        Ok(Analysis { cluster, policies })
    }
}

/// Whether a document is a network policy of any kind the oracle reads.
pub fn is_policy(doc: &Document) -> bool {
    let group = doc.api_version().split('/').next().unwrap_or("");
    matches!(
        (group, doc.kind()),
        ("networking.k8s.io" | "extensions", "NetworkPolicy")
            | (
                "projectcalico.org",
                "NetworkPolicy" | "GlobalNetworkPolicy" | "StagedNetworkPolicy"
            )
            | ("policy.networking.k8s.io", _)
    )
}

/// The built-in `kube-system/coredns` endpoint: labels `k8s-app: kube-dns`, ports `dns` 53/UDP and
/// `dns-tcp` 53/TCP, as kind's CoreDNS Deployment.
pub fn dns_endpoint() -> Endpoint {
    Endpoint {
        namespace: DNS_NAMESPACE.to_string(),
        name: DNS_NAME.to_string(),
        kind: WorkloadKind::Deployment,
        labels: Labels::from([(DNS_LABEL.0.to_string(), DNS_LABEL.1.to_string())]),
        ports: vec![
            ContainerPort {
                name: Some("dns".into()),
                port: DNS_PORT,
                protocol: Protocol::Udp,
            },
            ContainerPort {
                name: Some("dns-tcp".into()),
                port: DNS_PORT,
                protocol: Protocol::Tcp,
            },
        ],
        init_ports: Vec::new(),
        ips: Vec::new(),
        service_account: "coredns".to_string(),
        host_network: false,
        source: None,
    }
}

/// The Services every cluster has: `kube-system/kube-dns` (in front of CoreDNS) and
/// `default/kubernetes` (the API server, which has no pod behind it).
pub fn builtin_services() -> [Service; 2] {
    let dns_port = |name: &str, protocol| ServicePort {
        name: Some(name.to_string()),
        port: DNS_PORT,
        target: PortRef::Number(DNS_PORT),
        protocol,
    };
    [
        Service {
            namespace: DNS_NAMESPACE.to_string(),
            name: DNS_SERVICE.to_string(),
            selector: Some(Labels::from([(
                DNS_LABEL.0.to_string(),
                DNS_LABEL.1.to_string(),
            )])),
            ports: vec![
                dns_port("dns", Protocol::Udp),
                dns_port("dns-tcp", Protocol::Tcp),
            ],
        },
        Service {
            namespace: "default".to_string(),
            name: "kubernetes".to_string(),
            selector: None,
            ports: vec![ServicePort {
                name: Some("https".to_string()),
                port: 443,
                target: PortRef::Number(6443),
                protocol: Protocol::Tcp,
            }],
        },
    ]
}

fn provided_endpoint(p: &ProvidedEndpoint) -> Endpoint {
    Endpoint {
        namespace: p.namespace.clone(),
        name: p.name.clone(),
        kind: WorkloadKind::Declared,
        labels: p.labels.clone(),
        ports: p
            .ports
            .iter()
            .map(|port| ContainerPort {
                name: port.name.clone(),
                port: port.port,
                protocol: port.protocol,
            })
            .collect(),
        init_ports: Vec::new(),
        ips: Vec::new(),
        service_account: "default".to_string(),
        host_network: false,
        source: None,
    }
}

/// Adds an endpoint with the next free address of kind's pod CIDR, unless the documents already
/// declare one with that name (then the declared one stays).
fn add_with_address(cluster: &mut Cluster, mut endpoint: Endpoint) {
    if cluster.endpoint(&endpoint.key()).is_some() {
        return;
    }
    let taken: BTreeSet<IpAddr> = cluster
        .endpoints
        .iter()
        .flat_map(|e| e.ips.iter().copied())
        .collect();
    let cidr = BuildOptions::default().pod_cidr;
    let ip = cidr
        .hosts()
        .skip(1)
        .find(|ip| !taken.contains(ip))
        .expect("kind's /16 pod CIDR has room for a scenario's endpoints");
    endpoint.ips.push(ip);
    let _ = cluster.add_endpoint(endpoint);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::parse_str;

    fn scenario() -> Scenario {
        serde_json::from_value(serde_json::json!({
            "name": "s", "title": "t", "source": {"title": "t", "url": "u"},
            "namespaces": ["team-a"],
            "provides": [{"namespace": "projectcontour", "name": "envoy", "labels": {"app": "envoy"},
                          "ports": [{"name": "http", "port": 8080}]}],
            "steps": []
        }))
        .unwrap()
    }

    fn docs(text: &str) -> Vec<Document> {
        parse_str(Path::new("m.yaml"), text).unwrap()
    }

    const POD: &str =
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: team-a, labels: {run: p}}\n";
    const POLICY: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: team-a}\nspec: {podSelector: {}}\n";

    #[test]
    fn builds_documents_labels_provided_endpoints_and_cluster_dns() {
        let mut state = ClusterState::new(&scenario());
        state.apply(&docs(POD));
        state.label(&LabelAction {
            target: LabelTarget::Pods("team-a/p".into()),
            set: Labels::from([("app".into(), "busybox".into())]),
            remove: vec!["run".into()],
        });
        state.label(&LabelAction {
            target: LabelTarget::Namespace("team-a".into()),
            set: Labels::from([("netpol_deny_all".into(), "enabled".into())]),
            remove: vec![],
        });
        let cluster = state.cluster().unwrap();
        let p = cluster.get(cluster.endpoint("team-a/p").unwrap());
        assert_eq!(p.labels, Labels::from([("app".into(), "busybox".into())]));
        assert_eq!(
            cluster.namespaces["team-a"].labels["netpol_deny_all"],
            "enabled"
        );
        let dns = cluster.get(cluster.endpoint("kube-system/coredns").unwrap());
        assert_eq!(dns.labels["k8s-app"], "kube-dns");
        let kube_dns = cluster.service("kube-system", "kube-dns").unwrap();
        assert_eq!(cluster.service_backends(kube_dns).len(), 1);
        assert!(cluster.service("default", "kubernetes").is_some());
        assert_eq!(dns.named_port("dns", Protocol::Udp), Some(53));
        let envoy = cluster.get(cluster.endpoint("projectcontour/envoy").unwrap());
        assert_eq!(envoy.kind, WorkloadKind::Declared);
        // Every endpoint has its own address.
        let ips: BTreeSet<IpAddr> = cluster.endpoints.iter().map(|e| e.ip()).collect();
        assert_eq!(ips.len(), cluster.endpoints.len());
    }

    #[test]
    fn apply_replaces_and_delete_removes_objects_and_their_pod_labels() {
        let mut state = ClusterState::new(&scenario());
        state.apply(&docs(POLICY));
        state.apply(&docs(POLICY));
        assert_eq!(state.policy_documents().len(), 1);
        state.apply(&docs(POD));
        state.label(&LabelAction {
            target: LabelTarget::Pods("team-a/p".into()),
            set: Labels::from([("app".into(), "x".into())]),
            remove: vec![],
        });
        state.delete(&docs(POD));
        state.delete(&docs(POLICY));
        assert!(state.policy_documents().is_empty());
        state.apply(&docs(POD));
        let cluster = state.cluster().unwrap();
        let p = cluster.get(cluster.endpoint("team-a/p").unwrap());
        assert!(
            !p.labels.contains_key("app"),
            "fresh pods lose kubectl labels"
        );
    }
}
