//! Waiting: for a CRD to be established, a workload to be ready, a declared endpoint's pods, a
//! namespace to be gone; each within a timeout, and on timeout saying why.

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use kube::runtime::wait::{Condition, await_condition, conditions};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::KubeCluster;
use super::conditions::{
    is_daemonset_rolled_out, is_deployment_rolled_out, is_job_ready, is_pod_ready,
    is_replicaset_ready, is_statefulset_rolled_out,
};
use crate::cluster::{ClusterError, EndpointRef, diagnose_pods};
use crate::model::WorkloadKind;

/// How long to wait for a CRD to be established.
const CRD_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the pods of a declared endpoint are listed while waiting for them.
const DECLARED_POLL: Duration = Duration::from_secs(1);
/// How long to wait for a namespace of a previous run to finish terminating.
const NAMESPACE_GONE_TIMEOUT: Duration = Duration::from_secs(180);

impl KubeCluster {
    pub(super) async fn wait_crd_established(&self, name: &str) -> Result<(), ClusterError> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let waited = tokio::time::timeout(
            CRD_TIMEOUT,
            await_condition(api.clone(), name, conditions::is_crd_established()),
        )
        .await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(source)) => Err(ClusterError::Watch {
                action: format!("watch CustomResourceDefinition {name}"),
                source,
            }),
            Err(_) => {
                let reasons = match api.get_opt(name).await {
                    Ok(Some(crd)) => crd
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|c| c.status != "True")
                        .map(|c| format!("{}: {}", c.type_, c.message.unwrap_or_default()))
                        .collect(),
                    _ => vec!["it no longer exists".to_string()],
                };
                Err(ClusterError::NotReady {
                    what: format!("CustomResourceDefinition {name}"),
                    waited: CRD_TIMEOUT,
                    reasons,
                })
            }
        }
    }

    /// Waits until a declared endpoint (found by its labels) has pods, all of them Ready;
    /// `Ok(false)` when the time ran out.
    async fn wait_declared(
        &self,
        endpoint: &EndpointRef,
        timeout: Duration,
    ) -> Result<bool, ClusterError> {
        if endpoint.labels.is_empty() {
            return Err(ClusterError::Unsupported(format!(
                "cannot wait for {endpoint}: it declares no labels to find its pods by"
            )));
        }
        let started = tokio::time::Instant::now();
        loop {
            let pods = self.pods_of(endpoint).await?;
            if !pods.is_empty() && pods.iter().all(|p| is_pod_ready(Some(p))) {
                return Ok(true);
            }
            // Durations compared, never added to an Instant: any `timeout` is safe.
            if started.elapsed().saturating_add(DECLARED_POLL) > timeout {
                return Ok(false);
            }
            tokio::time::sleep(DECLARED_POLL).await;
        }
    }

    /// Waits until `ns` (being deleted) is gone; `what` names it in the error.
    pub(super) async fn wait_namespace_gone(
        &self,
        api: &Api<Namespace>,
        ns: &Namespace,
        what: &str,
    ) -> Result<(), ClusterError> {
        let name = ns.name_any();
        let uid = ns.uid().unwrap_or_default();
        let gone = self
            .wait_for(
                api.clone(),
                &name,
                conditions::is_deleted(&uid),
                NAMESPACE_GONE_TIMEOUT,
            )
            .await?;
        if gone {
            return Ok(());
        }
        Err(ClusterError::NotReady {
            what: format!("deletion of {what} {name}"),
            waited: NAMESPACE_GONE_TIMEOUT,
            reasons: vec!["it is still terminating (a finalizer may be stuck)".to_string()],
        })
    }

    /// Waits for `cond` on one object, within `timeout`; `Ok(false)` when the time ran out.
    pub(super) async fn wait_for<K>(
        &self,
        api: Api<K>,
        name: &str,
        cond: impl Condition<K>,
        timeout: Duration,
    ) -> Result<bool, ClusterError>
    where
        K: Clone + Debug + Send + DeserializeOwned + Resource + 'static,
    {
        match tokio::time::timeout(timeout, await_condition(api, name, cond)).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(source)) => Err(ClusterError::Watch {
                action: format!("watch {name}"),
                source,
            }),
            Err(_) => Ok(false),
        }
    }

    /// [`ClusterOps::wait_ready`](crate::cluster::ClusterOps::wait_ready): the workload's own
    /// readiness condition, or on timeout what its pods say.
    pub(super) async fn await_ready(
        &self,
        endpoint: &EndpointRef,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        let (ns, name) = (endpoint.namespace.as_str(), endpoint.name.as_str());
        let c = || self.client.clone();
        let done = match endpoint.kind {
            WorkloadKind::Pod => {
                self.wait_for(Api::<Pod>::namespaced(c(), ns), name, is_pod_ready, timeout)
                    .await?
            }
            WorkloadKind::Deployment => {
                let api = Api::<Deployment>::namespaced(c(), ns);
                self.wait_for(api, name, is_deployment_rolled_out, timeout)
                    .await?
            }
            WorkloadKind::ReplicaSet => {
                let api = Api::<ReplicaSet>::namespaced(c(), ns);
                self.wait_for(api, name, is_replicaset_ready, timeout)
                    .await?
            }
            WorkloadKind::StatefulSet => {
                let api = Api::<StatefulSet>::namespaced(c(), ns);
                self.wait_for(api, name, is_statefulset_rolled_out, timeout)
                    .await?
            }
            WorkloadKind::DaemonSet => {
                let api = Api::<DaemonSet>::namespaced(c(), ns);
                self.wait_for(api, name, is_daemonset_rolled_out, timeout)
                    .await?
            }
            WorkloadKind::Job => {
                let api = Api::<Job>::namespaced(c(), ns);
                self.wait_for(api, name, is_job_ready, timeout).await?
            }
            // Declared endpoints (created by remote manifests, such as Contour's envoy) are
            // known only by their pods' labels: wait until such pods exist and all are Ready.
            WorkloadKind::Declared => self.wait_declared(endpoint, timeout).await?,
            WorkloadKind::CronJob => {
                return Err(ClusterError::Unsupported(format!(
                    "cannot wait for {endpoint}: wait for the workloads that create its pods instead"
                )));
            }
        };
        if done {
            return Ok(());
        }
        let pods = self.pods_of(endpoint).await.unwrap_or_default();
        let mut reasons = diagnose_pods(&pods);
        if reasons.is_empty() {
            reasons.push(
                if pods.is_empty() && endpoint.kind == WorkloadKind::Declared {
                    format!(
                        "no pod in {ns} is labelled {}",
                        endpoint
                            .labels
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                } else if pods.is_empty() {
                    format!(
                        "it has no pods (see `kubectl -n {ns} describe {} {name}` for its events)",
                        endpoint.kind.to_string().to_lowercase()
                    )
                } else {
                    "its pods are Ready but the rollout has not completed".to_string()
                },
            );
        }
        Err(ClusterError::NotReady {
            what: endpoint.to_string(),
            waited: timeout,
            reasons,
        })
    }
}
