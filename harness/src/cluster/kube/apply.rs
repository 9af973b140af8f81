//! Writing documents: discovery of their kinds, server-side apply (with the create/replace
//! fallback), deletion, and the ownership checks before either.

use std::collections::HashSet;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{ApiCapabilities, Scope, pinned_kind};
use serde_json::Value;

use super::KubeCluster;
use super::retry::{api_error, apply_unsupported, backoff, is_not_found, is_transient, retry};
use crate::cluster::{ClusterError, FIELD_MANAGER, is_owned, prepare_for_apply};
use crate::manifest::Document;

fn gvk_of(doc: &Document) -> GroupVersionKind {
    let (group, version) = doc
        .api_version()
        .split_once('/')
        .unwrap_or(("", doc.api_version()));
    GroupVersionKind::gvk(group, version, doc.kind())
}

fn is_crd(doc: &Document) -> bool {
    doc.kind() == "CustomResourceDefinition"
        && doc.api_version().starts_with("apiextensions.k8s.io/")
}

/// `Kind namespace/name` or `Kind name`.
fn describe(kind: &str, namespace: Option<&str>, name: &str) -> (String, String) {
    let full = match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    };
    (format!("{kind} {full}"), full)
}

impl KubeCluster {
    /// Resolves a document's kind through discovery (cached). `lagging`: the kind's CRD was
    /// just applied, so a missing kind is retried for a while before giving up.
    async fn resolve(
        &self,
        doc: &Document,
        lagging: bool,
    ) -> Result<Option<(ApiResource, ApiCapabilities)>, ClusterError> {
        let gvk = gvk_of(doc);
        if let Some(found) = self.kinds.lock().expect("lock").get(&gvk) {
            return Ok(Some(found.clone()));
        }
        let missing = |e: &kube::Error| is_not_found(e) || matches!(e, kube::Error::Discovery(_));
        let lookup = || pinned_kind(&self.client, &gvk);
        let result = if lagging {
            lookup
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(Duration::from_millis(250))
                        .with_max_delay(Duration::from_secs(2))
                        .with_max_times(10),
                )
                .sleep(tokio::time::sleep)
                .when(|e| is_transient(e) || missing(e))
                .await
        } else {
            retry(lookup).await
        };
        match result {
            Ok(found) => {
                self.kinds.lock().expect("lock").insert(gvk, found.clone());
                Ok(Some(found))
            }
            Err(e) if missing(&e) => Ok(None),
            Err(e) => Err(api_error(
                format!("discover {} {}", doc.api_version(), doc.kind()),
                e,
            )),
        }
    }

    fn dynamic_api(
        &self,
        ar: &ApiResource,
        caps: &ApiCapabilities,
        namespace: Option<&str>,
    ) -> Api<DynamicObject> {
        match (&caps.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, ar),
            _ => Api::all_with(self.client.clone(), ar),
        }
    }

    /// Whether a namespace carries the ownership label (cached once seen).
    async fn namespace_owned(&self, name: &str) -> Result<bool, ClusterError> {
        if self.owned_namespaces.lock().expect("lock").contains(name) {
            return Ok(true);
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns = retry(|| api.get_opt(name))
            .await
            .map_err(|e| api_error(format!("read Namespace {name}"), e))?;
        let owned = ns.is_some_and(|ns| is_owned(ns.metadata.labels.as_ref()));
        if owned {
            self.owned_namespaces
                .lock()
                .expect("lock")
                .insert(name.to_string());
        }
        Ok(owned)
    }

    async fn apply_one(&self, doc: &Document, lagging: bool) -> Result<(), ClusterError> {
        let name = doc.name();
        if name.is_empty() {
            return Err(ClusterError::InvalidDocument {
                at: doc.source.to_string(),
                message: "metadata.name is missing (generateName is not supported)".into(),
            });
        }
        let Some((ar, caps)) = self.resolve(doc, lagging).await? else {
            return Err(ClusterError::UnknownKind {
                at: doc.source.to_string(),
                api_version: doc.api_version().to_string(),
                kind: doc.kind().to_string(),
            });
        };
        let namespace = (caps.scope == Scope::Namespaced)
            .then(|| doc.namespace().unwrap_or("default").to_string());
        let (what, full_name) = describe(doc.kind(), namespace.as_deref(), name);
        let mut value = prepare_for_apply(&doc.value, &self.run_id);
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            match &namespace {
                Some(ns) => meta.insert("namespace".into(), Value::String(ns.clone())),
                // A namespace on a cluster-scoped object is an error to the API server.
                None => meta.remove("namespace"),
            };
        }
        let api = self.dynamic_api(&ar, &caps, namespace.as_deref());
        let in_owned_namespace = match &namespace {
            Some(ns) => self.namespace_owned(ns).await?,
            None => false,
        };
        if !in_owned_namespace {
            let existing = retry(|| api.get_opt(name))
                .await
                .map_err(|e| api_error(format!("read {what}"), e))?;
            if let Some(existing) = existing
                && !is_owned(existing.metadata.labels.as_ref())
            {
                if is_crd(doc) {
                    tracing::info!(
                        "{what} is already installed (not by the harness); leaving it as it is"
                    );
                    return Ok(());
                }
                return Err(ClusterError::UnownedObject {
                    kind: doc.kind().to_string(),
                    name: full_name,
                });
            }
        }
        let object: DynamicObject =
            serde_json::from_value(value).map_err(|e| ClusterError::InvalidDocument {
                at: doc.source.to_string(),
                message: e.to_string(),
            })?;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&object);
        // An apply the server cannot do is not retried, even as a 500: create/replace is.
        let applied = (|| api.patch(name, &params, &patch))
            .retry(backoff())
            .sleep(tokio::time::sleep)
            .when(|e| is_transient(e) && !apply_unsupported(e))
            .notify(|e, d| tracing::debug!(error = %e, "transient API error; retrying in {d:?}"))
            .await;
        match applied {
            Ok(_) => {}
            Err(e) if apply_unsupported(&e) => {
                tracing::info!(
                    "{what}: the server refuses server-side apply ({e}); using create/replace"
                );
                self.create_or_replace(&api, name, object)
                    .await
                    .map_err(|e| api_error(format!("create/replace {what}"), e))?;
            }
            Err(e) => return Err(api_error(format!("apply {what}"), e)),
        }
        if doc.api_version() == "v1" && doc.kind() == "Namespace" {
            self.owned_namespaces
                .lock()
                .expect("lock")
                .insert(name.to_string());
        }
        Ok(())
    }

    async fn create_or_replace(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        mut object: DynamicObject,
    ) -> Result<(), kube::Error> {
        let params = PostParams {
            dry_run: false,
            field_manager: Some(FIELD_MANAGER.to_string()),
        };
        match retry(|| api.get_opt(name)).await? {
            None => retry(|| api.create(&params, &object)).await.map(|_| ()),
            Some(existing) => {
                object.metadata.resource_version = existing.metadata.resource_version;
                retry(|| api.replace(name, &params, &object))
                    .await
                    .map(|_| ())
            }
        }
    }

    /// [`ClusterOps::apply`](crate::cluster::ClusterOps::apply): CRDs first (and waited for), then
    /// namespaces (once any earlier one of that name is gone), then the rest.
    pub(super) async fn apply_documents(&self, docs: &[Document]) -> Result<(), ClusterError> {
        let (crds, rest): (Vec<&Document>, Vec<&Document>) = docs.iter().partition(|d| is_crd(d));
        for doc in &crds {
            self.apply_one(doc, false).await?;
        }
        for doc in &crds {
            self.wait_crd_established(doc.name()).await?;
        }
        // Kinds the CRDs just applied define: discovery may lag behind them.
        let defined: HashSet<(String, String)> = crds
            .iter()
            .filter_map(|d| {
                Some((
                    d.value.pointer("/spec/group")?.as_str()?.to_string(),
                    d.value.pointer("/spec/names/kind")?.as_str()?.to_string(),
                ))
            })
            .collect();
        let (namespaces, others): (Vec<&Document>, Vec<&Document>) = rest
            .into_iter()
            .partition(|d| d.api_version() == "v1" && d.kind() == "Namespace");
        for doc in &namespaces {
            // A namespace of a remote manifest (Contour's projectcontour) deleted by the cleanup
            // of an earlier scenario or run may still be terminating: nothing can be created in
            // it until it is gone (403 "being terminated"), so wait for that first.
            let api: Api<Namespace> = Api::all(self.client.clone());
            let existing = retry(|| api.get_opt(doc.name()))
                .await
                .map_err(|e| api_error(format!("read Namespace {}", doc.name()), e))?;
            if let Some(ns) = existing
                && ns.metadata.deletion_timestamp.is_some()
            {
                self.owned_namespaces
                    .lock()
                    .expect("lock")
                    .remove(doc.name());
                self.wait_namespace_gone(&api, &ns, "namespace").await?;
            }
        }
        for doc in namespaces.iter().chain(&others) {
            let gvk = gvk_of(doc);
            let lagging = defined.contains(&(gvk.group.clone(), gvk.kind.clone()));
            self.apply_one(doc, lagging).await?;
        }
        Ok(())
    }

    /// [`ClusterOps::delete`](crate::cluster::ClusterOps::delete): owned objects only, in reverse order.
    pub(super) async fn delete_documents(&self, docs: &[Document]) -> Result<(), ClusterError> {
        for doc in docs.iter().rev() {
            let Some((ar, caps)) = self.resolve(doc, false).await? else {
                continue; // the kind is gone (its CRD was deleted): so is the object
            };
            let namespace = (caps.scope == Scope::Namespaced)
                .then(|| doc.namespace().unwrap_or("default").to_string());
            let (what, full_name) = describe(doc.kind(), namespace.as_deref(), doc.name());
            let api = self.dynamic_api(&ar, &caps, namespace.as_deref());
            let existing = retry(|| api.get_opt(doc.name()))
                .await
                .map_err(|e| api_error(format!("read {what}"), e))?;
            let Some(existing) = existing else { continue };
            if !is_owned(existing.metadata.labels.as_ref()) {
                return Err(ClusterError::UnownedObject {
                    kind: doc.kind().to_string(),
                    name: full_name,
                });
            }
            let params = DeleteParams::background();
            match retry(|| api.delete(doc.name(), &params)).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(api_error(format!("delete {what}"), e)),
            }
            if doc.api_version() == "v1" && doc.kind() == "Namespace" {
                self.owned_namespaces
                    .lock()
                    .expect("lock")
                    .remove(doc.name());
            }
        }
        Ok(())
    }
}
