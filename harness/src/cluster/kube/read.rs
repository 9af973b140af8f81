//! Reading what the runner needs: the pods of an endpoint (through its workload's selector) and
//! what it sees of them, and Services.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::KubeCluster;
use super::conditions::is_pod_ready;
use super::retry::{api_error, retry};
use crate::cluster::{
    ClusterError, ContainerInfo, EndpointRef, PodInfo, PodRef, ServiceInfo, ServicePortInfo,
};
use crate::model::{Protocol, WorkloadKind};

fn pod_info(pod: &Pod) -> PodInfo {
    let status = pod.status.as_ref();
    let mut ips: Vec<std::net::IpAddr> = status
        .and_then(|s| s.pod_ips.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|ip| ip.ip.parse().ok())
        .collect();
    if ips.is_empty()
        && let Some(ip) = status
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse().ok())
    {
        ips.push(ip);
    }
    PodInfo {
        pod: PodRef {
            namespace: pod.namespace().unwrap_or_default(),
            name: pod.name_any(),
        },
        ips,
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        containers: pod
            .spec
            .iter()
            .flat_map(|s| &s.containers)
            .map(|c| ContainerInfo {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
            })
            .collect(),
        annotations: pod.annotations().clone(),
        running_ephemeral: status
            .and_then(|s| s.ephemeral_container_statuses.as_ref())
            .into_iter()
            .flatten()
            .filter(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
            .map(|c| c.name.clone())
            .collect(),
    }
}

impl KubeCluster {
    /// The label selector of a workload's pods.
    async fn workload_selector<K>(
        &self,
        endpoint: &EndpointRef,
        selector: impl Fn(K) -> Option<LabelSelector>,
    ) -> Result<String, ClusterError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + DeserializeOwned,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &endpoint.namespace);
        let workload = retry(|| api.get_opt(&endpoint.name))
            .await
            .map_err(|e| api_error(format!("read {endpoint}"), e))?
            .ok_or_else(|| ClusterError::NotFound {
                what: endpoint.to_string(),
            })?;
        let label_selector = selector(workload).unwrap_or_default();
        let parsed = kube::core::Selector::try_from(label_selector)
            .map_err(|e| ClusterError::Unsupported(format!("{endpoint}: selector: {e}")))?;
        Ok(parsed.to_string())
    }

    /// The pods of an endpoint that are not being deleted, sorted by name.
    pub(super) async fn pods_of(&self, endpoint: &EndpointRef) -> Result<Vec<Pod>, ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &endpoint.namespace);
        let selector = match endpoint.kind {
            WorkloadKind::Pod => {
                let pod = retry(|| api.get_opt(&endpoint.name))
                    .await
                    .map_err(|e| api_error(format!("read {endpoint}"), e))?;
                return Ok(pod
                    .into_iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .collect());
            }
            WorkloadKind::Deployment => {
                self.workload_selector(endpoint, |d: Deployment| d.spec.map(|s| s.selector))
                    .await?
            }
            WorkloadKind::ReplicaSet => {
                self.workload_selector(endpoint, |r: ReplicaSet| r.spec.map(|s| s.selector))
                    .await?
            }
            WorkloadKind::StatefulSet => {
                self.workload_selector(endpoint, |s: StatefulSet| s.spec.map(|s| s.selector))
                    .await?
            }
            WorkloadKind::DaemonSet => {
                self.workload_selector(endpoint, |d: DaemonSet| d.spec.map(|s| s.selector))
                    .await?
            }
            WorkloadKind::Job => {
                self.workload_selector(endpoint, |j: Job| j.spec.and_then(|s| s.selector))
                    .await?
            }
            WorkloadKind::CronJob | WorkloadKind::Declared => endpoint
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        };
        let params = ListParams::default().labels(&selector);
        let list = retry(|| api.list(&params))
            .await
            .map_err(|e| api_error(format!("list the pods of {endpoint}"), e))?;
        let mut pods: Vec<Pod> = list
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Ok(pods)
    }

    /// [`ClusterOps::ready_pods`](crate::cluster::ClusterOps::ready_pods).
    pub(super) async fn list_ready_pods(
        &self,
        endpoint: &EndpointRef,
    ) -> Result<Vec<PodInfo>, ClusterError> {
        Ok(self
            .pods_of(endpoint)
            .await?
            .iter()
            .filter(|p| is_pod_ready(Some(p)))
            .map(pod_info)
            .collect())
    }

    /// [`ClusterOps::service`](crate::cluster::ClusterOps::service).
    pub(super) async fn read_service(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<ServiceInfo, ClusterError> {
        let api: Api<Service> = Api::namespaced(self.client.clone(), namespace);
        let svc = retry(|| api.get_opt(name))
            .await
            .map_err(|e| api_error(format!("read Service {namespace}/{name}"), e))?
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("Service {namespace}/{name}"),
            })?;
        let spec = svc.spec.unwrap_or_default();
        // `clusterIPs` holds one address per family of `ipFamilies` (two on a dual-stack
        // Service), the first being `clusterIP`; an API server that has not filled it in yet
        // still has `clusterIP` (Arnavion/k8s-openapi@v0.29.0:src/v1_33/api/core/v1/service_spec.rs#L9-L15).
        // "None" (headless) and "" parse as no address.
        let addresses = match spec.cluster_ips {
            Some(ips) if !ips.is_empty() => ips,
            _ => spec.cluster_ip.into_iter().collect(),
        };
        Ok(ServiceInfo {
            cluster_ips: addresses.iter().filter_map(|ip| ip.parse().ok()).collect(),
            ports: spec
                .ports
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| {
                    Some(ServicePortInfo {
                        name: p.name,
                        port: u16::try_from(p.port).ok()?,
                        protocol: p
                            .protocol
                            .as_deref()
                            .map_or(Ok(Protocol::Tcp), Protocol::parse_port_protocol)
                            .ok()?,
                    })
                })
                .collect(),
        })
    }
}
