//! The cluster as the runner drives it: everything the runner needs, nothing more.
//!
//! [`ClusterOps`] is implemented by [`kube::KubeCluster`] (a real cluster through kube-rs) and by
//! [`sim::SimCluster`] (a simulated cluster whose dataplane is the oracle, with injected faults),
//! so that every piece of runner logic is proven without a cluster.
//!
//! Failures are [`ClusterError`]s naming what the harness was doing; the cause stays attached as
//! the error's source (kube-rs's [`::kube::Error`] for [`ClusterError::Api`], the simulator's
//! [`sim::SimError`] for [`ClusterError::Simulated`]). Each [`ClusterOps`] method lists the
//! variants it returns under `# Errors`.
//!
//! Safety rules shared by both:
//! - everything the harness applies carries [`MANAGED_BY_LABEL`]`=`[`MANAGED_BY_VALUE`] and
//!   [`RUN_LABEL`]`=<run id>` (pod templates get the first only, so that pods carry it without a
//!   new rollout per run);
//! - a namespace that exists without the ownership label is never taken over;
//! - in shared namespaces (such as `default`) only objects carrying the label are changed or
//!   deleted.

mod diagnose;
mod error;
pub mod kube;
mod locality;
mod objects;
mod ownership;
pub mod remote;
mod replicas;
pub mod sim;

use std::future::Future;
use std::time::Duration;

use crate::manifest::Document;
use crate::probe::{ProbeSpec, ProbeTool};

pub use diagnose::{diagnose_pod, diagnose_pods};
pub use error::ClusterError;
pub use locality::{Family, Locality, SLOT_LABEL};
pub use objects::{
    ContainerInfo, EndpointRef, ExecOutput, LabelChange, PodInfo, PodRef, ServiceInfo,
    ServicePortInfo, workload_endpoints,
};
pub use ownership::{
    FIELD_MANAGER, Leftover, MANAGED_BY_LABEL, MANAGED_BY_VALUE, RUN_LABEL, inject_ownership,
    is_cluster_scoped, is_crd_kind, is_owned, ownership_labels, prepare_for_apply, sweep_order,
};
pub use replicas::endpoint_per_pod;

/// The image of the ephemeral probe container added to pods whose image has no shell or tools.
pub const DEFAULT_PROBE_IMAGE: &str = "registry.k8s.io/e2e-test-images/agnhost:2.66.1";
/// The name of the ephemeral probe container.
pub const PROBE_CONTAINER: &str = "netpol-probe";
/// Pod annotation declaring which probe tool the pod's default container has: `agnhost`,
/// `busybox`, or `none` (probe from an ephemeral container). Saves the detection exec.
pub const PROBE_TOOL_ANNOTATION: &str = "netpol-harness/probe-tool";
/// Pod annotation naming the container `kubectl exec` uses by default.
pub const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// What the runner does to a cluster. Implementations are cheap to share (`Send + Sync`) and
/// every method is safe to call concurrently.
pub trait ClusterOps: Send + Sync {
    /// Creates a namespace the run owns (labelled as the harness's). Waits for a namespace of
    /// the same name that is still terminating to be gone; refuses one that exists without the
    /// ownership label.
    ///
    /// # Errors
    ///
    /// - [`UnownedNamespace`](ClusterError::UnownedNamespace): the namespace exists without the
    ///   ownership label;
    /// - [`NotReady`](ClusterError::NotReady): a namespace of that name is still terminating after
    ///   three minutes;
    /// - [`Api`](ClusterError::Api), [`Watch`](ClusterError::Watch): the API server refused or
    ///   failed a request, or the watch broke.
    fn create_namespace(&self, name: &str)
    -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Deletes a namespace the harness owns (does nothing if it is gone; refuses an unowned
    /// one).
    ///
    /// # Errors
    ///
    /// - [`UnownedNamespace`](ClusterError::UnownedNamespace): the namespace exists without the
    ///   ownership label;
    /// - [`Api`](ClusterError::Api): the API server refused or failed a request.
    fn delete_namespace(&self, name: &str)
    -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Applies documents with server-side apply, ownership labels added (CRDs first, then
    /// namespaces, then the rest in order).
    ///
    /// # Errors
    ///
    /// - [`InvalidDocument`](ClusterError::InvalidDocument): a document has no `metadata.name` or
    ///   cannot be sent as written;
    /// - [`UnknownKind`](ClusterError::UnknownKind): the cluster does not serve a document's kind;
    /// - [`UnownedObject`](ClusterError::UnownedObject),
    ///   [`UnownedNamespace`](ClusterError::UnownedNamespace): the object (or the namespace) exists
    ///   without the ownership label;
    /// - [`NotReady`](ClusterError::NotReady): a CRD not established, or a namespace still
    ///   terminating, in time;
    /// - [`Api`](ClusterError::Api), [`Watch`](ClusterError::Watch): the API server refused or
    ///   failed a request, or the watch broke;
    /// - [`Simulated`](ClusterError::Simulated): the simulator refused the document (its namespace
    ///   does not exist).
    fn apply(&self, docs: &[Document]) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Deletes the objects of these documents that exist, in reverse order; refuses objects
    /// without the ownership label.
    ///
    /// # Errors
    ///
    /// - [`UnownedObject`](ClusterError::UnownedObject): an object exists without the ownership
    ///   label;
    /// - [`Api`](ClusterError::Api): the API server refused or failed a request.
    fn delete(&self, docs: &[Document]) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Sets and removes labels on an owned namespace.
    ///
    /// # Errors
    ///
    /// - [`NotFound`](ClusterError::NotFound): the namespace does not exist;
    /// - [`UnownedNamespace`](ClusterError::UnownedNamespace): it exists without the ownership
    ///   label;
    /// - [`Api`](ClusterError::Api): the API server refused or failed a request.
    fn label_namespace(
        &self,
        name: &str,
        change: LabelChange<'_>,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Sets and removes labels on the current pods of an endpoint (not its template, as
    /// `kubectl label pod` does).
    ///
    /// # Errors
    ///
    /// - [`NotFound`](ClusterError::NotFound): the endpoint's workload does not exist, or it has no
    ///   pods;
    /// - [`UnownedObject`](ClusterError::UnownedObject): a pod lacks the ownership label;
    /// - [`Unsupported`](ClusterError::Unsupported): the workload's selector cannot be used to list
    ///   its pods;
    /// - [`Api`](ClusterError::Api): the API server refused or failed a request;
    /// - [`Simulated`](ClusterError::Simulated): the simulator cannot model what has been applied.
    fn label_pods(
        &self,
        endpoint: &EndpointRef,
        change: LabelChange<'_>,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Waits until an endpoint has rolled out (a pod Ready; a workload's replicas updated and
    /// Ready). On timeout the error says why, from the pods' status.
    ///
    /// # Errors
    ///
    /// - [`NotReady`](ClusterError::NotReady): not ready within `timeout`, with the reasons read
    ///   from its pods;
    /// - [`Unsupported`](ClusterError::Unsupported): a CronJob, or a declared endpoint without
    ///   labels to find its pods by;
    /// - [`NotFound`](ClusterError::NotFound): the endpoint's workload does not exist (or,
    ///   simulated, has no pods);
    /// - [`Api`](ClusterError::Api), [`Watch`](ClusterError::Watch): the API server refused or
    ///   failed a request, or the watch broke;
    /// - [`Simulated`](ClusterError::Simulated): the simulator cannot model what has been applied.
    fn wait_ready(
        &self,
        endpoint: &EndpointRef,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// The Ready pods of an endpoint, sorted by name.
    ///
    /// # Errors
    ///
    /// - [`NotFound`](ClusterError::NotFound): the endpoint's workload does not exist;
    /// - [`Unsupported`](ClusterError::Unsupported): its selector cannot be used to list its pods;
    /// - [`Api`](ClusterError::Api): the API server refused or failed a request;
    /// - [`Simulated`](ClusterError::Simulated): the simulator cannot model what has been applied.
    fn ready_pods(
        &self,
        endpoint: &EndpointRef,
    ) -> impl Future<Output = Result<Vec<PodInfo>, ClusterError>> + Send;

    /// A Service's ClusterIPs and ports.
    ///
    /// # Errors
    ///
    /// - [`NotFound`](ClusterError::NotFound): the Service does not exist;
    /// - [`Api`](ClusterError::Api): the API server refused or failed a request;
    /// - [`Simulated`](ClusterError::Simulated): the simulator cannot model what has been applied.
    fn service(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<ServiceInfo, ClusterError>> + Send;

    /// Runs a command in a container, capturing stdout, stderr and the exit code, within
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// - [`Exec`](ClusterError::Exec): the command could not be run (no such container, no shell,
    ///   the stream broke, no exit status);
    /// - [`ExecTimeout`](ClusterError::ExecTimeout): it did not finish within `timeout`;
    /// - [`Api`](ClusterError::Api): the API server refused the exec request;
    /// - [`NotFound`](ClusterError::NotFound), [`Simulated`](ClusterError::Simulated): (simulated)
    ///   no such pod, or no model to find it in.
    fn exec(
        &self,
        pod: &PodRef,
        container: &str,
        command: &[String],
        timeout: Duration,
    ) -> impl Future<Output = Result<ExecOutput, ClusterError>> + Send;

    /// Runs a batch of probes with `tool` inside a container with one exec, within `timeout`,
    /// and returns what the batch printed, for [`crate::probe::parse_output`]. A cluster runs
    /// [`crate::probe::batch_command`] (`sh -c` with the batch script) through
    /// [`ClusterOps::exec`]; the simulator answers each probe itself, in the script's output
    /// protocol. A batch the script refuses is [`ClusterError::Probe`].
    ///
    /// # Errors
    ///
    /// - [`Probe`](ClusterError::Probe): the batch script refuses the batch;
    /// - what [`ClusterOps::exec`] returns.
    fn run_probes(
        &self,
        pod: &PodRef,
        container: &str,
        specs: &[ProbeSpec],
        tool: ProbeTool,
        timeout: Duration,
    ) -> impl Future<Output = Result<ExecOutput, ClusterError>> + Send;

    /// Adds the ephemeral container [`PROBE_CONTAINER`] running `image` to a pod (unless it has
    /// it) and waits until it runs.
    ///
    /// # Errors
    ///
    /// - [`NotFound`](ClusterError::NotFound): the pod does not exist;
    /// - [`UnownedObject`](ClusterError::UnownedObject): it lacks the ownership label;
    /// - [`NotReady`](ClusterError::NotReady): the container is not running within `timeout` (with
    ///   its waiting reason);
    /// - [`Api`](ClusterError::Api), [`Watch`](ClusterError::Watch): the API server refused or
    ///   failed a request, or the watch broke;
    /// - [`Simulated`](ClusterError::Simulated): the simulator cannot model what has been applied.
    fn add_probe_container(
        &self,
        pod: &PodRef,
        image: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Finds every object carrying the ownership label whose [`RUN_LABEL`] is not `keep_run`
    /// (every one, without `keep_run`) — namespaces, cluster-scoped objects, objects in shared
    /// namespaces — and, unless `dry_run`, deletes them in [`sweep_order`] (never a CRD; objects
    /// with an owner are left to the garbage collector). An object gone between listing and
    /// deleting is no error. Returns what it deleted (or would).
    ///
    /// # Errors
    ///
    /// - [`Api`](ClusterError::Api): the API server refused or failed a list or a delete.
    fn sweep(
        &self,
        keep_run: Option<&str>,
        dry_run: bool,
    ) -> impl Future<Output = Result<Vec<Leftover>, ClusterError>> + Send;

    /// Waits until none of these namespaces exists (those being deleted finish terminating),
    /// at most `timeout`, calling `progress(gone, names)` each time one goes. Returns those
    /// still there when the time ran out.
    ///
    /// # Errors
    ///
    /// - [`Api`](ClusterError::Api), [`Watch`](ClusterError::Watch): the API server refused or
    ///   failed a request, or the watch broke.
    fn await_namespaces_gone(
        &self,
        names: &[String],
        timeout: Duration,
        progress: &(dyn Fn(&str, usize, usize) + Send + Sync),
    ) -> impl Future<Output = Result<Vec<String>, ClusterError>> + Send;
}
