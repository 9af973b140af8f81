//! The simulator's model: what has been applied (plus label changes) as a [`Cluster`], its pods
//! with stable addresses, and Service addresses.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::json;

use super::{SimCluster, SimError, SimPod, SimState, Snapshot, nodes};
use crate::cluster::{ClusterError, PodRef, is_cluster_scoped};
use crate::manifest::{Document, Source};
use crate::model::{BuildOptions, Cluster};
use crate::scenario::state::{builtin_services, dns_endpoint};

pub(super) fn key_of(doc: &Document) -> String {
    let scoped = !is_cluster_scoped(doc.api_version(), doc.kind());
    match (scoped, doc.namespace()) {
        (true, ns) => format!("{} {}/{}", doc.kind(), ns.unwrap_or("default"), doc.name()),
        (false, _) => format!("{} {}", doc.kind(), doc.name()),
    }
}

/// Whether a document is one the dataplane's policy set is built from (policies, and the
/// Calico tiers and network sets they refer to), which changes reach the dataplane late.
pub(super) fn is_policy(doc: &Document) -> bool {
    let group = doc.api_version().split('/').next().unwrap_or("");
    matches!(
        (group, doc.kind()),
        ("networking.k8s.io", "NetworkPolicy")
            | ("projectcalico.org", _)
            | ("policy.networking.k8s.io", _)
    )
}

pub(super) fn synthetic(value: serde_json::Value) -> Document {
    Document {
        source: Source {
            file: "(simulated)".into(),
            document: 1,
            line: 1,
        },
        value,
    }
}

/// The IPv6 twin of a Service's IPv4 ClusterIP (`10.96.c.d`), in kind's dual-stack Service
/// subnet `fd00:10:96::/112` (kubernetes-sigs/kind@v0.32.0:pkg/apis/config/v1alpha4/default.go#L51-L73).
pub(super) fn service_ip6(v4: IpAddr) -> IpAddr {
    let [_, _, c, d] = match v4 {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(_) => return v4,
    };
    IpAddr::V6(Ipv6Addr::new(
        0xfd00,
        0x10,
        0x96,
        0,
        0,
        0,
        0,
        u16::from_be_bytes([c, d]),
    ))
}

impl SimCluster {
    /// The model of what exists now, with the policies and labels of `snapshot`.
    pub(super) fn model(
        st: &SimState,
        snapshot: &Snapshot,
    ) -> Result<(Cluster, Vec<Document>), SimError> {
        let mut docs: Vec<Document> = st
            .objects
            .values()
            .filter(|d| !is_policy(d) && d.kind() != "Namespace")
            .cloned()
            .collect();
        for (name, current) in &st.namespaces {
            let labels = snapshot.namespaces.get(name).unwrap_or(current);
            docs.push(synthetic(json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": labels}})));
        }
        let mut cluster =
            Cluster::from_documents(&docs, &BuildOptions::default()).map_err(SimError::Model)?;
        // What every kind cluster runs: CoreDNS behind kube-dns, and the API server's Service.
        let _ = cluster.add_endpoint(dns_endpoint());
        for service in builtin_services() {
            if cluster.service(&service.namespace, &service.name).is_none() {
                cluster.services.push(service);
            }
        }
        for endpoint in &mut cluster.endpoints {
            if let Some(labels) = snapshot.pod_labels.get(&endpoint.key()) {
                endpoint.labels = labels.clone();
            }
        }
        Ok((cluster, snapshot.policies.clone()))
    }

    /// The pods of the current model, with stable addresses.
    pub(super) fn pods(&self, st: &mut SimState) -> Result<Vec<SimPod>, SimError> {
        let (cluster, _) = Self::model(st, &Snapshot::default())?;
        let mut pods = Vec::new();
        for endpoint in &cluster.endpoints {
            let key = endpoint.key();
            let doc = st.objects.values().find(|d| {
                d.kind() == endpoint.kind.to_string()
                    && format!("{}/{}", d.namespace().unwrap_or("default"), d.name()) == key
            });
            let template = match endpoint.kind {
                crate::model::WorkloadKind::Pod => "",
                _ => "/spec/template",
            };
            let replicas = doc
                .and_then(|d| d.value.pointer("/spec/replicas"))
                .and_then(|r| r.as_u64())
                .unwrap_or(1);
            let (image, container) = doc
                .and_then(|d| d.value.pointer(&format!("{template}/spec/containers/0")))
                .map(|c| {
                    (
                        c["image"].as_str().unwrap_or("").to_string(),
                        c["name"].as_str().unwrap_or("main").to_string(),
                    )
                })
                .unwrap_or_default();
            let annotations: BTreeMap<String, String> = doc
                .and_then(|d| d.value.pointer(&format!("{template}/metadata/annotations")))
                .and_then(|a| serde_json::from_value(a.clone()).ok())
                .unwrap_or_default();
            let spec = doc
                .and_then(|d| d.value.pointer(&format!("{template}/spec")))
                .cloned()
                .unwrap_or_default();
            let names: Vec<String> = if endpoint.kind == crate::model::WorkloadKind::Pod {
                vec![endpoint.name.clone()]
            } else {
                (0..replicas)
                    .map(|i| format!("{}-{i}", endpoint.name))
                    .collect()
            };
            for name in names {
                let pod_key = format!("{}/{name}", endpoint.namespace);
                let node = match st.pod_nodes.get(&pod_key) {
                    Some(node) => node.clone(),
                    None => match nodes::place(&self.nodes, &spec, &st.pod_nodes) {
                        Some(node) => {
                            st.pod_nodes.insert(pod_key.clone(), node.clone());
                            node
                        }
                        // No node admits it: Pending, never listed.
                        None => continue,
                    },
                };
                let next = st.pod_ips.len() as u32;
                let ip = *st.pod_ips.entry(pod_key).or_insert_with(|| {
                    IpAddr::V4(Ipv4Addr::new(
                        10,
                        244,
                        (next / 250) as u8,
                        (next % 250 + 2) as u8,
                    ))
                });
                // The IPv6 twin of the IPv4 address, in kind's dual-stack pod subnet.
                let ip6 = match (self.dual_stack, ip) {
                    (true, IpAddr::V4(v4)) => {
                        let [_, _, c, d] = v4.octets();
                        Some(IpAddr::V6(Ipv6Addr::new(
                            0xfd00,
                            0x10,
                            0x244,
                            0,
                            0,
                            0,
                            u16::from(c),
                            u16::from(d),
                        )))
                    }
                    _ => None,
                };
                pods.push(SimPod {
                    pod: PodRef {
                        namespace: endpoint.namespace.clone(),
                        name,
                    },
                    endpoint: key.clone(),
                    ip,
                    ip6,
                    node,
                    image: image.clone(),
                    container: container.clone(),
                    annotations: annotations.clone(),
                });
            }
        }
        Ok(pods)
    }

    /// Removes a namespace and everything in it.
    pub(super) fn remove_namespace(st: &mut SimState, name: &str) {
        st.namespaces.remove(name);
        st.objects.retain(|_, d| {
            is_cluster_scoped(d.api_version(), d.kind())
                || d.namespace().unwrap_or("default") != name
        });
        let prefix = format!("{name}/");
        st.pod_labels.retain(|k, _| !k.starts_with(&prefix));
        st.pod_nodes.retain(|k, _| !k.starts_with(&prefix));
    }

    pub(super) fn service_ip(st: &mut SimState, key: &str) -> IpAddr {
        let next = st.service_ips.len() as u32;
        *st.service_ips.entry(key.to_string()).or_insert_with(|| {
            IpAddr::V4(Ipv4Addr::new(
                10,
                96,
                (1 + next / 250) as u8,
                (next % 250 + 1) as u8,
            ))
        })
    }

    /// A Service's ClusterIPs, as the API server allocates them on kind: none for a headless one
    /// (`clusterIP: None`), else IPv4 alone unless the
    /// cluster is dual-stack and `spec.ipFamilyPolicy` asks for both (`PreferDualStack`,
    /// `RequireDualStack`; unset is `SingleStack`), then both in `spec.ipFamilies` order
    /// (IPv4 first when it does not say), per Arnavion/k8s-openapi@v0.29.0:src/v1_33/api/core/v1/service_spec.rs#L32-L38.
    pub(super) fn service_ips(
        &self,
        st: &mut SimState,
        namespace: &str,
        name: &str,
    ) -> Vec<IpAddr> {
        let v4 = Self::service_ip(st, &format!("{namespace}/{name}"));
        let spec = st
            .objects
            .values()
            .find(|d| {
                d.kind() == "Service"
                    && d.namespace().unwrap_or("default") == namespace
                    && d.name() == name
            })
            .and_then(|d| d.value.get("spec"));
        if spec.and_then(|s| s["clusterIP"].as_str()) == Some("None") {
            return Vec::new();
        }
        let policy = spec.and_then(|s| s["ipFamilyPolicy"].as_str());
        let dual =
            self.dual_stack && matches!(policy, Some("PreferDualStack" | "RequireDualStack"));
        if !dual {
            return vec![v4];
        }
        let v6_first = spec.and_then(|s| s["ipFamilies"][0].as_str()) == Some("IPv6");
        match v6_first {
            true => vec![service_ip6(v4), v4],
            false => vec![v4, service_ip6(v4)],
        }
    }

    pub(super) fn find_pod(&self, st: &mut SimState, pod: &PodRef) -> Result<SimPod, ClusterError> {
        self.pods(st)
            .map_err(|e| e.during(format!("find Pod {pod}")))?
            .into_iter()
            .find(|p| p.pod == *pod)
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("Pod {pod}"),
            })
    }
}
