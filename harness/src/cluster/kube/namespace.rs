//! The harness's own namespaces (created, replaced when an earlier run left them, deleted) and
//! the label changes of scenario steps.

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::KubeCluster;
use super::retry::{api_error, is_not_found, retry};
use crate::cluster::{
    ClusterError, EndpointRef, FIELD_MANAGER, LabelChange, RUN_LABEL, inject_ownership, is_owned,
};

impl KubeCluster {
    /// [`ClusterOps::create_namespace`](crate::cluster::ClusterOps::create_namespace).
    pub(super) async fn create_owned_namespace(&self, name: &str) -> Result<(), ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let existing = retry(|| api.get_opt(name))
            .await
            .map_err(|e| api_error(format!("read Namespace {name}"), e))?;
        if let Some(ns) = existing {
            if ns.metadata.deletion_timestamp.is_some() {
                // A previous run's namespace still terminating: wait for it to be gone.
                self.wait_namespace_gone(&api, &ns, "namespace").await?;
            } else if !is_owned(ns.metadata.labels.as_ref()) {
                return Err(ClusterError::UnownedNamespace {
                    namespace: name.to_string(),
                });
            } else if ns.labels().get(RUN_LABEL) != Some(&self.run_id) {
                // Left by an interrupted run: whatever it holds (policies!) would change what
                // this run observes, so it is deleted and created afresh.
                tracing::info!("deleting namespace {name}, left over by an earlier run");
                let params = DeleteParams::background();
                match retry(|| api.delete(name, &params)).await {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => {
                        return Err(api_error(format!("delete leftover Namespace {name}"), e));
                    }
                }
                self.wait_namespace_gone(&api, &ns, "leftover namespace")
                    .await?;
            }
        }
        let mut value =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        inject_ownership(&mut value, &self.run_id);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&value);
        retry(|| api.patch(name, &params, &patch))
            .await
            .map_err(|e| api_error(format!("create Namespace {name}"), e))?;
        self.owned_namespaces
            .lock()
            .expect("lock")
            .insert(name.to_string());
        Ok(())
    }

    /// [`ClusterOps::delete_namespace`](crate::cluster::ClusterOps::delete_namespace).
    pub(super) async fn delete_owned_namespace(&self, name: &str) -> Result<(), ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let Some(ns) = retry(|| api.get_opt(name))
            .await
            .map_err(|e| api_error(format!("read Namespace {name}"), e))?
        else {
            return Ok(());
        };
        if !is_owned(ns.metadata.labels.as_ref()) {
            return Err(ClusterError::UnownedNamespace {
                namespace: name.to_string(),
            });
        }
        let params = DeleteParams::background();
        match retry(|| api.delete(name, &params)).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(api_error(format!("delete Namespace {name}"), e)),
        }
        self.owned_namespaces.lock().expect("lock").remove(name);
        Ok(())
    }

    /// [`ClusterOps::label_namespace`](crate::cluster::ClusterOps::label_namespace).
    pub(super) async fn patch_namespace_labels(
        &self,
        name: &str,
        change: LabelChange<'_>,
    ) -> Result<(), ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns = retry(|| api.get_opt(name))
            .await
            .map_err(|e| api_error(format!("read Namespace {name}"), e))?
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("Namespace {name}"),
            })?;
        if !is_owned(ns.metadata.labels.as_ref()) {
            return Err(ClusterError::UnownedNamespace {
                namespace: name.to_string(),
            });
        }
        let patch = Patch::Merge(change.merge_patch());
        let params = PatchParams::default();
        retry(|| api.patch(name, &params, &patch))
            .await
            .map_err(|e| api_error(format!("label Namespace {name}"), e))?;
        Ok(())
    }

    /// [`ClusterOps::label_pods`](crate::cluster::ClusterOps::label_pods).
    pub(super) async fn patch_pod_labels(
        &self,
        endpoint: &EndpointRef,
        change: LabelChange<'_>,
    ) -> Result<(), ClusterError> {
        let pods = self.pods_of(endpoint).await?;
        if pods.is_empty() {
            return Err(ClusterError::NotFound {
                what: format!("pods of {endpoint}"),
            });
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &endpoint.namespace);
        let patch = Patch::Merge(change.merge_patch());
        let params = PatchParams::default();
        for pod in pods {
            let name = pod.name_any();
            if !is_owned(pod.metadata.labels.as_ref()) {
                return Err(ClusterError::UnownedObject {
                    kind: "Pod".into(),
                    name: format!("{}/{name}", endpoint.namespace),
                });
            }
            retry(|| api.patch(&name, &params, &patch))
                .await
                .map_err(|e| api_error(format!("label Pod {}/{name}", endpoint.namespace), e))?;
        }
        Ok(())
    }
}
