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
pub mod remote;
mod replicas;
pub mod sim;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::manifest::Document;
use crate::model::{Labels, Protocol, WorkloadKind};
use crate::probe::{ProbeSpec, ProbeTool};

pub use diagnose::{diagnose_pod, diagnose_pods};
pub use error::ClusterError;
pub use locality::{Family, Locality, SLOT_LABEL};
pub use replicas::endpoint_per_pod;

/// The label every object the harness applies carries.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "netpol-harness";
/// The label naming the run that applied an object.
pub const RUN_LABEL: &str = "netpol-harness/run";
/// The server-side-apply field manager.
pub const FIELD_MANAGER: &str = "netpol-harness";
/// The image of the ephemeral probe container added to pods whose image has no shell or tools.
pub const DEFAULT_PROBE_IMAGE: &str = "registry.k8s.io/e2e-test-images/agnhost:2.66.1";
/// The name of the ephemeral probe container.
pub const PROBE_CONTAINER: &str = "netpol-probe";
/// Pod annotation declaring which probe tool the pod's default container has: `agnhost`,
/// `busybox`, or `none` (probe from an ephemeral container). Saves the detection exec.
pub const PROBE_TOOL_ANNOTATION: &str = "netpol-harness/probe-tool";
/// Pod annotation naming the container `kubectl exec` uses by default.
pub const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

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
    /// Its annotations (for [`PROBE_TOOL_ANNOTATION`] and [`DEFAULT_CONTAINER_ANNOTATION`]).
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

/// An object of an earlier run that a sweep deletes ([`ClusterOps::sweep`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Leftover {
    /// `Kind`.
    pub kind: String,
    /// `group/version` (`v1` for the core group).
    pub api_version: String,
    /// Its namespace; `None` for a cluster-scoped object.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// The run that applied it ([`RUN_LABEL`]), if it says.
    pub run: Option<String>,
}

impl Leftover {
    /// Whether it is a Namespace (deleted last, and taking its contents with it).
    pub fn is_namespace(&self) -> bool {
        self.api_version == "v1" && self.kind == "Namespace"
    }
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{} ({})", self.kind, self.name, self.api_version)?,
            None => write!(f, "{} {} ({})", self.kind, self.name, self.api_version)?,
        }
        match &self.run {
            Some(run) => write!(f, ", run {run}"),
            None => Ok(()),
        }
    }
}

/// Which of `found` a sweep deletes, in order: objects in namespaces the sweep deletes anyway
/// are left to their namespace, objects with an owner to the garbage collector (the caller
/// filters those), CRDs never; namespaces last.
pub fn sweep_order(mut found: Vec<Leftover>) -> Vec<Leftover> {
    let going: std::collections::HashSet<String> = found
        .iter()
        .filter(|o| o.is_namespace())
        .map(|o| o.name.clone())
        .collect();
    found.retain(|o| {
        !is_crd_kind(&o.api_version, &o.kind)
            && o.namespace.as_ref().is_none_or(|ns| !going.contains(ns))
    });
    found.sort_by(|a, b| (a.is_namespace(), a).cmp(&(b.is_namespace(), b)));
    found.dedup();
    found
}

/// Whether `apiVersion`/`kind` is a CustomResourceDefinition: never deleted by the harness
/// (deleting one deletes every object of its kind, the cluster's included).
pub fn is_crd_kind(api_version: &str, kind: &str) -> bool {
    kind == "CustomResourceDefinition" && api_version.starts_with("apiextensions.k8s.io/")
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

/// Whether labels carry the harness's ownership label.
pub fn is_owned(labels: Option<&BTreeMap<String, String>>) -> bool {
    labels
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .is_some_and(|v| v == MANAGED_BY_VALUE)
}

/// The ownership labels of a run.
pub fn ownership_labels(run_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
        (RUN_LABEL.to_string(), run_id.to_string()),
    ])
}

/// Adds the ownership labels to an object's `metadata.labels`, and the managed-by label (not the
/// run id) to its pod template's labels (workloads), so that the pods it creates carry it too.
/// The run id stays off templates: a template that changed with every run would roll out new pods
/// on each re-apply, and a Job's template cannot change at all.
pub fn inject_ownership(value: &mut Value, run_id: &str) {
    let pointers: &[&str] = match (
        value.get("apiVersion").and_then(Value::as_str),
        value.get("kind").and_then(Value::as_str),
    ) {
        (Some("apps/v1"), Some("Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet"))
        | (Some("batch/v1"), Some("Job")) => &["/metadata", "/spec/template/metadata"],
        (Some("batch/v1"), Some("CronJob")) => &[
            "/metadata",
            "/spec/jobTemplate/metadata",
            "/spec/jobTemplate/spec/template/metadata",
        ],
        _ => &["/metadata"],
    };
    for pointer in pointers {
        let labels_here = if *pointer == "/metadata" {
            ownership_labels(run_id)
        } else {
            BTreeMap::from([(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string())])
        };
        let Some(meta) = ensure_object(value, pointer) else {
            continue;
        };
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Default::default()));
        if !labels.is_object() {
            *labels = Value::Object(Default::default());
        }
        let labels = labels.as_object_mut().expect("made an object above");
        for (k, v) in labels_here {
            labels.insert(k, Value::String(v));
        }
    }
}

/// The object as it is sent to the API server: fields the server owns (`status`,
/// `metadata.resourceVersion`, `uid`, `managedFields`…, as `kubectl get -o yaml` leaves them)
/// removed, so that a stale copy never conflicts, and the ownership labels added.
pub fn prepare_for_apply(value: &Value, run_id: &str) -> Value {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        object.remove("status");
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in [
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "managedFields",
                "selfLink",
            ] {
                meta.remove(field);
            }
        }
    }
    inject_ownership(&mut value, run_id);
    value
}

/// The object at a JSON pointer made of object keys, creating missing objects on the way
/// (`None` if something on the way is not an object).
fn ensure_object<'a>(
    value: &'a mut Value,
    pointer: &str,
) -> Option<&'a mut serde_json::Map<String, Value>> {
    let mut current = value;
    for key in pointer.split('/').skip(1) {
        let map = current.as_object_mut()?;
        current = map
            .entry(key)
            .or_insert_with(|| Value::Object(Default::default()));
    }
    current.as_object_mut()
}

/// Kinds that are cluster-scoped (the rest are namespaced), for planning without a cluster.
pub fn is_cluster_scoped(api_version: &str, kind: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    matches!(
        (group, kind),
        ("", "Namespace" | "Node" | "PersistentVolume")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | (
                "rbac.authorization.k8s.io",
                "ClusterRole" | "ClusterRoleBinding"
            )
            | ("networking.k8s.io", "IngressClass")
            | ("storage.k8s.io", _)
            | ("scheduling.k8s.io", "PriorityClass")
            | ("admissionregistration.k8s.io", _)
            | ("apiregistration.k8s.io", "APIService")
            | (
                "projectcalico.org" | "crd.projectcalico.org",
                "GlobalNetworkPolicy"
                    | "GlobalNetworkSet"
                    | "StagedGlobalNetworkPolicy"
                    | "Tier"
                    | "HostEndpoint"
                    | "IPPool"
                    | "FelixConfiguration"
                    | "BGPConfiguration"
                    | "ClusterInformation"
            )
            | (
                "policy.networking.k8s.io",
                "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy" | "ClusterNetworkPolicy"
            )
            | (
                "cilium.io",
                "CiliumClusterwideNetworkPolicy" | "CiliumClusterwideEnvoyConfig"
            )
            | (
                "crd.antrea.io",
                "ClusterNetworkPolicy" | "Tier" | "ClusterGroup"
            )
    )
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
    fn ownership_is_injected_on_objects_and_pod_templates() {
        let mut deployment = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "a", "labels": {"app": "a"}},
            "spec": {"template": {"metadata": {"labels": {"pod": "a"}}, "spec": {}}}
        });
        inject_ownership(&mut deployment, "r1");
        assert_eq!(deployment["metadata"]["labels"]["app"], "a");
        assert_eq!(
            deployment["metadata"]["labels"][MANAGED_BY_LABEL],
            MANAGED_BY_VALUE
        );
        assert_eq!(deployment["metadata"]["labels"][RUN_LABEL], "r1");
        assert_eq!(
            deployment["spec"]["template"]["metadata"]["labels"]["pod"],
            "a"
        );
        assert_eq!(
            deployment["spec"]["template"]["metadata"]["labels"][MANAGED_BY_LABEL],
            MANAGED_BY_VALUE
        );
        // Not the run id: re-applying with a new run must not change the template.
        assert!(
            deployment["spec"]["template"]["metadata"]["labels"]
                .get(RUN_LABEL)
                .is_none()
        );

        let mut policy = serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "p"}, "spec": {"podSelector": {}}
        });
        inject_ownership(&mut policy, "r1");
        assert_eq!(
            policy["metadata"]["labels"][MANAGED_BY_LABEL],
            MANAGED_BY_VALUE
        );
        assert!(policy["spec"].get("template").is_none());
    }

    #[test]
    fn objects_are_sent_without_server_owned_fields() {
        let copied = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "a", "resourceVersion": "42", "uid": "u", "managedFields": [],
                "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": "a"}},
            "spec": {"containers": []},
            "status": {"podIP": "10.244.0.5"}
        });
        let sent = prepare_for_apply(&copied, "r1");
        assert_eq!(
            sent,
            serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "a", "labels": {"app": "a",
                    MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_LABEL: "r1"}},
                "spec": {"containers": []}
            })
        );
    }

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

    #[test]
    fn scope_of_kinds() {
        assert!(is_cluster_scoped(
            "projectcalico.org/v3",
            "GlobalNetworkPolicy"
        ));
        assert!(is_cluster_scoped(
            "policy.networking.k8s.io/v1alpha1",
            "AdminNetworkPolicy"
        ));
        // ClusterNetworkPolicy is cluster-scoped (kubernetes-sigs/network-policy-api@v0.2.0:
        // apis/v1alpha2/clusternetworkpolicy_types.go, `+kubebuilder:resource:scope=Cluster`):
        // sent with a namespace, the API server would refuse it.
        assert!(is_cluster_scoped(
            "policy.networking.k8s.io/v1alpha2",
            "ClusterNetworkPolicy"
        ));
        assert!(is_cluster_scoped("v1", "Namespace"));
        assert!(!is_cluster_scoped("networking.k8s.io/v1", "NetworkPolicy"));
        assert!(!is_cluster_scoped("projectcalico.org/v3", "NetworkPolicy"));
    }
}
