//! Sweeping what earlier runs left (a run killed before its cleanup, a CI timeout): every object
//! carrying the ownership label whatever its kind, found through discovery; and waiting for
//! namespaces to finish terminating.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::wait::conditions;

use super::KubeCluster;
use super::retry::{api_error, is_not_found, retry};
use crate::cluster::{
    ClusterError, Leftover, MANAGED_BY_LABEL, MANAGED_BY_VALUE, RUN_LABEL, is_crd_kind, is_owned,
    sweep_order,
};

/// The label selector of a sweep: the ownership label, and a run other than `keep_run`.
pub fn sweep_selector(keep_run: Option<&str>) -> String {
    match keep_run {
        Some(run) => format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{RUN_LABEL}!={run}"),
        None => format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"),
    }
}

/// The resources of one discovery answer a sweep lists: listable and deletable, not a
/// subresource, not a CRD, not an event.
fn sweepable(group_version: &str, list: &APIResourceList) -> Vec<(ApiResource, bool)> {
    let (group, version) = group_version.split_once('/').unwrap_or(("", group_version));
    list.resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .filter(|r| {
            ["list", "delete"]
                .iter()
                .all(|v| r.verbs.iter().any(|x| x == v))
        })
        .filter(|r| !is_crd_kind(group_version, &r.kind) && r.kind != "Event")
        .map(|r| {
            let gvk = GroupVersionKind::gvk(group, version, &r.kind);
            (
                ApiResource::from_gvk_with_plural(&gvk, &r.name),
                r.namespaced,
            )
        })
        .collect()
}

impl KubeCluster {
    /// Every resource a sweep lists: the core group's and each group's preferred version's. A
    /// group whose discovery fails (an aggregated API server that is down) is skipped with a
    /// warning: its objects cannot be listed, so neither can they be swept.
    async fn sweep_resources(&self) -> Result<Vec<(ApiResource, bool)>, ClusterError> {
        let core = retry(|| self.client.list_core_api_resources("v1"))
            .await
            .map_err(|e| api_error("discover the core API", e))?;
        let mut resources = sweepable("v1", &core);
        let groups = retry(|| self.client.list_api_groups())
            .await
            .map_err(|e| api_error("discover the API groups", e))?;
        let served: Vec<&str> = groups.groups.iter().map(|g| g.name.as_str()).collect();
        for group in &groups.groups {
            // Calico's v3 API stores its objects as crd.projectcalico.org resources: listing both
            // would find each object twice.
            if group.name == "crd.projectcalico.org" && served.contains(&"projectcalico.org") {
                continue;
            }
            let Some(version) = group
                .preferred_version
                .as_ref()
                .or_else(|| group.versions.first())
            else {
                continue;
            };
            match retry(|| self.client.list_api_group_resources(&version.group_version)).await {
                Ok(list) => resources.extend(sweepable(&version.group_version, &list)),
                Err(e) => tracing::warn!(
                    "cannot discover {} ({e}): objects of that group are not swept",
                    version.group_version
                ),
            }
        }
        Ok(resources)
    }

    /// [`ClusterOps::sweep`](crate::cluster::ClusterOps::sweep).
    pub(super) async fn sweep_leftovers(
        &self,
        keep_run: Option<&str>,
        dry_run: bool,
    ) -> Result<Vec<Leftover>, ClusterError> {
        let params = ListParams::default().labels(&sweep_selector(keep_run));
        let mut found = Vec::new();
        let resources = self.sweep_resources().await?;
        for (ar, namespaced) in &resources {
            let (ar, namespaced) = (ar.clone(), *namespaced);
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            let list = match retry(|| api.list(&params)).await {
                Ok(list) => list,
                // Gone since discovery (a CRD deleted), or not ours to list.
                Err(e)
                    if is_not_found(&e)
                        || matches!(&e, kube::Error::Api(s) if s.code == 403 || s.code == 405) =>
                {
                    tracing::debug!("cannot list {} ({e}); not swept", ar.plural);
                    continue;
                }
                Err(e) => return Err(api_error(format!("list {} to sweep", ar.plural), e)),
            };
            for object in list.items {
                if !object.owner_references().is_empty()
                    || !is_owned(object.metadata.labels.as_ref())
                {
                    continue;
                }
                found.push(Leftover {
                    kind: ar.kind.clone(),
                    api_version: ar.api_version.clone(),
                    namespace: namespaced.then(|| object.namespace()).flatten(),
                    run: object.labels().get(RUN_LABEL).cloned(),
                    name: object.name_any(),
                });
            }
        }
        let found = sweep_order(found);
        if dry_run {
            return Ok(found);
        }
        for leftover in &found {
            let Some((ar, _)) = resources
                .iter()
                .find(|(ar, _)| ar.api_version == leftover.api_version && ar.kind == leftover.kind)
            else {
                continue; // listed from that very resource, so always there
            };
            let api: Api<DynamicObject> = match &leftover.namespace {
                Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
                None => Api::all_with(self.client.clone(), ar),
            };
            tracing::info!("sweeping {leftover}");
            let params = DeleteParams::background();
            match retry(|| api.delete(&leftover.name, &params)).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {
                    tracing::info!("{leftover} was already gone");
                }
                Err(e) => return Err(api_error(format!("sweep {leftover}"), e)),
            }
        }
        Ok(found)
    }

    /// [`ClusterOps::await_namespaces_gone`](crate::cluster::ClusterOps::await_namespaces_gone):
    /// one watch per namespace, all at once, within `timeout`.
    pub(super) async fn await_gone(
        &self,
        names: &[String],
        timeout: Duration,
        progress: &(dyn Fn(&str, usize, usize) + Send + Sync),
    ) -> Result<Vec<String>, ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let mut watches = FuturesUnordered::new();
        for name in names {
            let api = api.clone();
            watches.push(async move {
                let Some(ns) = retry(|| api.get_opt(name))
                    .await
                    .map_err(|e| api_error(format!("read Namespace {name}"), e))?
                else {
                    return Ok(name.clone());
                };
                let uid = ns.uid().unwrap_or_default();
                kube::runtime::wait::await_condition(api, name, conditions::is_deleted(&uid))
                    .await
                    .map_err(|source| ClusterError::Watch {
                        action: format!("watch Namespace {name} until it is gone"),
                        source,
                    })?;
                Ok::<String, ClusterError>(name.clone())
            });
        }
        let mut left: Vec<String> = names.to_vec();
        let waited = tokio::time::timeout(timeout, async {
            while let Some(done) = watches.next().await {
                let name = done?;
                left.retain(|n| *n != name);
                progress(&name, names.len() - left.len(), names.len());
            }
            Ok::<(), ClusterError>(())
        })
        .await;
        match waited {
            Ok(result) => result.map(|()| left),
            Err(_) => Ok(left),
        }
    }
}
