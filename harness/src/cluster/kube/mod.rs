//! [`ClusterOps`] on a real cluster through kube-rs.
//!
//! - Connects from the kubeconfig with a named context, refusing any context not named `kind-*`
//!   unless the user both names it and passes `--allow-non-kind-context` ([`check_context`]).
//! - Applies with server-side apply through [`DynamicObject`](kube::api::DynamicObject) and
//!   discovery (field manager [`FIELD_MANAGER`](super::FIELD_MANAGER), forced), CRDs first and
//!   waited for, kinds resolved with `pinned_kind` (retried while discovery lags behind a CRD just
//!   applied); falls back to create/replace when a server refuses apply patches
//!   ([`apply_unsupported`]: 415, and the Calico API server's NotFound and 500 answers).
//! - Retries (with backon) only transient failures: 429, 5xx and transport errors; never 4xx.
//! - Waits with `await_condition` inside a timeout, and on timeout says why from pod status.
//!
//! [`KubeCluster`] has one `impl` block per job, each in its own file: `context` (choosing the
//! kubeconfig context, connecting), `retry` (which failures are retried, which mean
//! create/replace), `apply` (discovery, apply, delete), `namespace` (the harness's namespaces,
//! label changes), `read` (pods of an endpoint, Services), `wait` (readiness within a timeout),
//! `exec` (commands and the probe container); the readiness predicates are [`conditions`]. The
//! [`ClusterOps`] impl below only routes each method to its file.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use kube::Client;
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::ApiCapabilities;

use super::{
    ClusterError, ClusterOps, EndpointRef, ExecOutput, LabelChange, Leftover, PodInfo, PodRef,
    ServiceInfo,
};
use crate::manifest::Document;
use crate::probe::{ProbeSpec, ProbeTool, batch_command};

mod apply;
pub mod conditions;
mod context;
mod exec;
mod namespace;
mod read;
mod retry;
mod sweep;
mod wait;

pub use context::{
    ConnectOptions, check_context, check_kubeconfig_files, is_local_server, kubeconfig_paths,
    select_context,
};
pub use exec::{ExecStatusError, exit_code, probe_container_patch};
pub use retry::{apply_unsupported, is_transient};
pub use sweep::sweep_selector;

/// A real cluster.
pub struct KubeCluster {
    client: Client,
    context: String,
    run_id: String,
    /// Kinds resolved through discovery.
    kinds: Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>,
    /// Namespaces known to carry the ownership label.
    owned_namespaces: Mutex<HashSet<String>>,
}

impl ClusterOps for KubeCluster {
    async fn create_namespace(&self, name: &str) -> Result<(), ClusterError> {
        self.create_owned_namespace(name).await
    }

    async fn delete_namespace(&self, name: &str) -> Result<(), ClusterError> {
        self.delete_owned_namespace(name).await
    }

    async fn apply(&self, docs: &[Document]) -> Result<(), ClusterError> {
        self.apply_documents(docs).await
    }

    async fn delete(&self, docs: &[Document]) -> Result<(), ClusterError> {
        self.delete_documents(docs).await
    }

    async fn label_namespace(
        &self,
        name: &str,
        change: LabelChange<'_>,
    ) -> Result<(), ClusterError> {
        self.patch_namespace_labels(name, change).await
    }

    async fn label_pods(
        &self,
        endpoint: &EndpointRef,
        change: LabelChange<'_>,
    ) -> Result<(), ClusterError> {
        self.patch_pod_labels(endpoint, change).await
    }

    async fn wait_ready(
        &self,
        endpoint: &EndpointRef,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        self.await_ready(endpoint, timeout).await
    }

    async fn ready_pods(&self, endpoint: &EndpointRef) -> Result<Vec<PodInfo>, ClusterError> {
        self.list_ready_pods(endpoint).await
    }

    async fn service(&self, namespace: &str, name: &str) -> Result<ServiceInfo, ClusterError> {
        self.read_service(namespace, name).await
    }

    async fn exec(
        &self,
        pod: &PodRef,
        container: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        self.exec_in(pod, container, command, timeout).await
    }

    async fn run_probes(
        &self,
        pod: &PodRef,
        container: &str,
        specs: &[ProbeSpec],
        tool: ProbeTool,
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        let command = batch_command(specs, tool)?;
        self.exec_in(pod, container, &command, timeout).await
    }

    async fn add_probe_container(
        &self,
        pod: &PodRef,
        image: &str,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        self.attach_probe_container(pod, image, timeout).await
    }

    async fn sweep(
        &self,
        keep_run: Option<&str>,
        dry_run: bool,
    ) -> Result<Vec<Leftover>, ClusterError> {
        self.sweep_leftovers(keep_run, dry_run).await
    }

    async fn await_namespaces_gone(
        &self,
        names: &[String],
        timeout: Duration,
        progress: &(dyn Fn(&str, usize, usize) + Send + Sync),
    ) -> Result<Vec<String>, ClusterError> {
        self.await_gone(names, timeout, progress).await
    }
}

#[cfg(test)]
mod tests;
