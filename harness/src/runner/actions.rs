//! Carrying out a scenario's setup and its steps' actions on the cluster, and deleting what
//! they created.

use std::collections::HashSet;
use std::sync::Mutex;

use super::Runner;
use super::plan::{PlannedAction, StepPlan};
use super::scenario::ScenarioCtx;
use crate::cluster::{
    ClusterError, ClusterOps, EndpointRef, LabelChange, is_cluster_scoped, is_crd_kind,
    workload_endpoints,
};
use crate::manifest::Document;

/// What a scenario created, to be deleted at its end, on failure, or on Ctrl-C.
#[derive(Debug, Clone, Default)]
pub(super) struct CleanupRecord {
    pub(super) namespaces: Vec<String>,
    docs: Vec<Document>,
}

fn same_object(a: &Document, b: &Document) -> bool {
    a.api_version() == b.api_version()
        && a.kind() == b.kind()
        && a.name() == b.name()
        && a.namespace().unwrap_or("default") == b.namespace().unwrap_or("default")
}

impl<C: ClusterOps> Runner<C> {
    /// Cleans up after scenarios that were interrupted (their futures dropped, e.g. on
    /// Ctrl-C); returns what could not be cleaned up.
    pub(super) async fn cleanup_pending(&self) -> Vec<ClusterError> {
        let records: Vec<_> = std::mem::take(&mut *self.pending.lock().expect("lock"))
            .into_values()
            .collect();
        let mut errors = Vec::new();
        for record in records {
            errors.extend(self.cleanup(&record).await);
        }
        errors
    }

    pub(super) async fn setup(&self, ctx: &ScenarioCtx<'_>) -> Result<(), ClusterError> {
        for ns in &ctx.plan.namespaces {
            // Recorded first, so that an interruption mid-creation leaks nothing; a namespace
            // that turns out not to be the harness's is refused by its deletion too.
            ctx.record.lock().expect("lock").namespaces.push(ns.clone());
            self.cluster.create_namespace(ns).await?;
        }
        self.apply(ctx, &ctx.plan.setup).await
    }

    /// Applies documents (recorded for cleanup first) and waits for their workloads.
    async fn apply(&self, ctx: &ScenarioCtx<'_>, docs: &[Document]) -> Result<(), ClusterError> {
        ctx.record
            .lock()
            .expect("lock")
            .docs
            .extend(docs.iter().cloned());
        self.cluster.apply(docs).await?;
        self.wait_ready(&workload_endpoints(docs)).await
    }

    /// Waits until every one of `endpoints` is ready, all at once.
    async fn wait_ready(&self, endpoints: &[EndpointRef]) -> Result<(), ClusterError> {
        futures::future::try_join_all(
            endpoints
                .iter()
                .map(|e| self.cluster.wait_ready(e, self.options.ready_timeout)),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn run_actions(
        &self,
        ctx: &ScenarioCtx<'_>,
        step: &StepPlan,
    ) -> Result<(), ClusterError> {
        for action in &step.actions {
            match action {
                PlannedAction::Apply(docs) => self.apply(ctx, docs).await?,
                PlannedAction::Delete(docs) => self.cluster.delete(docs).await?,
                PlannedAction::LabelNamespace {
                    namespace,
                    set,
                    remove,
                } => {
                    self.cluster
                        .label_namespace(namespace, LabelChange { set, remove })
                        .await?
                }
                PlannedAction::LabelPods {
                    endpoint,
                    set,
                    remove,
                } => {
                    self.cluster
                        .label_pods(endpoint, LabelChange { set, remove })
                        .await?
                }
                PlannedAction::WaitRollout(endpoints) => self.wait_ready(endpoints).await?,
            }
        }
        Ok(())
    }

    /// Deletes what a scenario created: its objects outside the namespaces being deleted (in
    /// reverse order; never a CustomResourceDefinition), then its namespaces. Objects that turn out not to be the harness's
    /// (an apply that was refused) are left alone.
    ///
    /// The record is emptied only once every deletion was attempted: a cleanup interrupted
    /// part-way (Ctrl-C while it runs) leaves it whole for [`Runner::cleanup_pending`], which
    /// deletes again what is left (deleting what is gone is a no-op).
    pub(super) async fn cleanup(&self, shared: &Mutex<CleanupRecord>) -> Vec<ClusterError> {
        let record = shared.lock().expect("lock").clone();
        let mut going: HashSet<&str> = record.namespaces.iter().map(String::as_str).collect();
        going.extend(
            record
                .docs
                .iter()
                .filter(|d| d.api_version() == "v1" && d.kind() == "Namespace")
                .map(|d| d.name()),
        );
        let mut docs: Vec<&Document> = Vec::new();
        for doc in record.docs.iter().rev() {
            let in_going = if is_cluster_scoped(doc.api_version(), doc.kind()) {
                doc.kind() == "Namespace" && record.namespaces.iter().any(|n| n == doc.name())
            } else {
                going.contains(doc.namespace().unwrap_or("default"))
            };
            // Never a CRD: deleting it deletes every object of its kind, other tools' too.
            let crd = is_crd_kind(doc.api_version(), doc.kind());
            if !in_going && !crd && !docs.iter().any(|d| same_object(d, doc)) {
                docs.push(doc);
            }
        }
        let mut errors = Vec::new();
        for doc in docs {
            match self.cluster.delete(std::slice::from_ref(doc)).await {
                Ok(()) => {}
                Err(ClusterError::UnownedObject { .. } | ClusterError::UnownedNamespace { .. }) => {
                    tracing::debug!("{}: not the harness's, left alone", doc.source);
                }
                Err(e) => errors.push(e),
            }
        }
        for ns in record.namespaces.iter().rev() {
            match self.cluster.delete_namespace(ns).await {
                Ok(()) => self
                    .deleted_namespaces
                    .lock()
                    .expect("lock")
                    .push(ns.clone()),
                Err(ClusterError::UnownedNamespace { .. }) => {
                    tracing::debug!("namespace {ns}: not the harness's, left alone");
                }
                Err(e) => errors.push(e),
            }
        }
        *shared.lock().expect("lock") = CleanupRecord::default();
        errors
    }
}
