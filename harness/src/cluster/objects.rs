//! The objects the runner reads and changes, as [`super::ClusterOps`] takes and returns them:
//! pods, endpoints (workloads) and Services with what probing needs of them, exec output, label
//! changes.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use crate::manifest::Document;
use crate::model::{Labels, Protocol, WorkloadKind};

/// A pod, by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PodRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// An endpoint of the model (a bare pod or a workload) as the cluster finds its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRef {
    /// Namespace.
    pub namespace: String,
    /// Pod or workload name.
    pub name: String,
    /// What declared it: a bare pod is found by name, a workload through its selector, a
    /// declared endpoint (installed from elsewhere) through `labels`.
    pub kind: WorkloadKind,
    /// Pod labels (the template's), used to find the pods of declared endpoints.
    pub labels: Labels,
}

impl EndpointRef {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl fmt::Display for EndpointRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// A container of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The container's name.
    pub name: String,
    /// Its image.
    pub image: String,
}

/// A ready pod of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    /// The pod.
    pub pod: PodRef,
    /// Its addresses (`status.podIPs`).
    pub ips: Vec<IpAddr>,
    /// The node it runs on (`spec.nodeName`), if scheduled.
    pub node: Option<String>,
    /// Its containers, in spec order.
    pub containers: Vec<ContainerInfo>,
    /// Its annotations (for [`super::PROBE_TOOL_ANNOTATION`] and [`super::DEFAULT_CONTAINER_ANNOTATION`]).
    pub annotations: BTreeMap<String, String>,
    /// Names of its ephemeral containers that are running.
    pub running_ephemeral: Vec<String>,
}

/// A port of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePortInfo {
    /// The port's name.
    pub name: Option<String>,
    /// The service port.
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
}

/// A Service's addresses and ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Its ClusterIPs (`spec.clusterIPs`, one per family of `spec.ipFamilies`, in that order;
    /// the first is `spec.clusterIP`); empty for a headless Service.
    pub cluster_ips: Vec<IpAddr>,
    /// Its ports.
    pub ports: Vec<ServicePortInfo>,
}

/// What a command run in a container printed, and how it exited.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutput {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit code (0 on success).
    pub exit_code: i32,
}

/// Labels to set and remove in one change.
#[derive(Debug, Clone, Copy)]
pub struct LabelChange<'a> {
    /// Labels to set.
    pub set: &'a BTreeMap<String, String>,
    /// Label keys to remove.
    pub remove: &'a [String],
}

impl LabelChange<'_> {
    /// The JSON merge patch making this change (`null` removes a key).
    pub fn merge_patch(&self) -> Value {
        let mut labels = serde_json::Map::new();
        for key in self.remove {
            labels.insert(key.clone(), Value::Null);
        }
        for (k, v) in self.set {
            labels.insert(k.clone(), Value::String(v.clone()));
        }
        serde_json::json!({ "metadata": { "labels": labels } })
    }

    /// Applies the change to a label map.
    pub fn apply_to(&self, labels: &mut Labels) {
        for key in self.remove {
            labels.remove(key);
        }
        labels.extend(self.set.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// The endpoints workloads in these documents declare (what to wait for after applying them).
pub fn workload_endpoints(docs: &[Document]) -> Vec<EndpointRef> {
    let mut out = Vec::new();
    for doc in docs {
        let kind = match (doc.api_version(), doc.kind()) {
            ("v1", "Pod") => WorkloadKind::Pod,
            ("apps/v1", "Deployment") => WorkloadKind::Deployment,
            ("apps/v1", "ReplicaSet") => WorkloadKind::ReplicaSet,
            ("apps/v1", "StatefulSet") => WorkloadKind::StatefulSet,
            ("apps/v1", "DaemonSet") => WorkloadKind::DaemonSet,
            _ => continue,
        };
        let template = if kind == WorkloadKind::Pod {
            "/metadata/labels"
        } else {
            "/spec/template/metadata/labels"
        };
        let labels = doc
            .value
            .pointer(template)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        out.push(EndpointRef {
            namespace: doc.namespace().unwrap_or("default").to_string(),
            name: doc.name().to_string(),
            kind,
            labels,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_change_is_a_merge_patch_with_null_for_removed_keys() {
        let set = BTreeMap::from([("team".to_string(), "a".to_string())]);
        let remove = vec!["old".to_string()];
        let change = LabelChange {
            set: &set,
            remove: &remove,
        };
        assert_eq!(
            change.merge_patch(),
            serde_json::json!({"metadata": {"labels": {"team": "a", "old": null}}})
        );
        let mut labels = Labels::from([("old".into(), "1".into()), ("x".into(), "y".into())]);
        change.apply_to(&mut labels);
        assert_eq!(
            labels,
            Labels::from([("team".into(), "a".into()), ("x".into(), "y".into())])
        );
    }
}
