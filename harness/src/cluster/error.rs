//! [`ClusterError`]: what went wrong talking to a cluster, under what the harness was doing.

use std::time::Duration;

use super::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, remote, sim};
use crate::probe::ProbeError;

/// Everything that can go wrong talking to a cluster, with what the harness was doing.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No kubeconfig could be read, or its context could not be loaded.
    #[error("cannot read kubeconfig: {0}")]
    Kubeconfig(#[source] ::kube::config::KubeconfigError),
    /// A kubeconfig file is refused before it is read (not a regular file, too large).
    #[error("refusing kubeconfig: {0}")]
    KubeconfigFile(#[source] crate::input::InputError),
    /// The kubeconfig names no context to use.
    #[error("the kubeconfig has no current context; pass --context kind-NAME")]
    NoContext,
    /// The named context is not in the kubeconfig.
    #[error("context `{context}` is not in the kubeconfig (contexts: {available})")]
    UnknownContext {
        /// The context asked for.
        context: String,
        /// The contexts the kubeconfig has.
        available: String,
    },
    /// The context is not a kind cluster and the user did not explicitly allow it.
    #[error(
        "refusing context `{context}`: it is not a kind cluster (kind contexts are named `kind-*`). The harness creates and deletes objects; to use this cluster anyway, name it with --context {context} and pass --allow-non-kind-context"
    )]
    NonKindContext {
        /// The context.
        context: String,
    },
    /// A `kind-*` context whose API server is not on this machine and carries no netpol-harness
    /// marker: its name is the only sign that it is a kind cluster.
    #[error(
        "refusing context `{context}`: its API server {server} is not on this machine and the cluster has no kube-system/netpol-harness marker, so it may not be a kind cluster. Create it with `netpol-harness up`, or name it with --context {context} and pass --allow-non-kind-context"
    )]
    NotLocalKind {
        /// The context.
        context: String,
        /// Its API server URL.
        server: String,
    },
    /// The API server refused or failed a request. The message is the server's own (its
    /// `Status` answer, whose code the source keeps), else the transport's.
    #[error("{action}: {}", api_message(.source))]
    Api {
        /// What the harness was doing (`apply NetworkPolicy x/deny-all`).
        action: String,
        /// What kube-rs returned.
        #[source]
        source: ::kube::Error,
    },
    /// Watching an object for a condition failed (not a timeout: the watch itself broke).
    #[error("{action}: {source}")]
    Watch {
        /// What was watched (`watch CustomResourceDefinition tiers.projectcalico.org`).
        action: String,
        /// What kube-runtime returned.
        #[source]
        source: ::kube::runtime::wait::Error,
    },
    /// The simulated cluster refused or failed an action ([`sim::SimError`]).
    #[error("{action}: {source}")]
    Simulated {
        /// What the harness was doing (`apply NetworkPolicy x/deny-all`).
        action: String,
        /// Why the simulator refused or failed.
        #[source]
        source: sim::SimError,
    },
    /// A namespace exists that the harness did not create.
    #[error(
        "namespace `{namespace}` exists and was not created by netpol-harness (no label {MANAGED_BY_LABEL}={MANAGED_BY_VALUE}); refusing to take it over. Delete it or pick another cluster"
    )]
    UnownedNamespace {
        /// The namespace.
        namespace: String,
    },
    /// An object exists that the harness did not create.
    #[error(
        "{kind} {name} exists and was not created by netpol-harness (no label {MANAGED_BY_LABEL}={MANAGED_BY_VALUE}); refusing to change it"
    )]
    UnownedObject {
        /// Its kind.
        kind: String,
        /// `namespace/name`, or the name of a cluster-scoped object.
        name: String,
    },
    /// The API server does not serve a kind a manifest uses.
    #[error("{at}: the cluster does not serve {api_version} {kind} (is the CRD or CNI installed?)")]
    UnknownKind {
        /// The document's source.
        at: String,
        /// Its apiVersion.
        api_version: String,
        /// Its kind.
        kind: String,
    },
    /// A manifest cannot be sent as it is.
    #[error("{at}: {message}")]
    InvalidDocument {
        /// The document's source.
        at: String,
        /// What is wrong.
        message: String,
    },
    /// Something did not become ready in time.
    #[error("{what} not ready after {}s: {}", waited.as_secs(), reasons.join("; "))]
    NotReady {
        /// What was waited for (`Deployment x/a`).
        what: String,
        /// How long.
        waited: Duration,
        /// Why, from pod status (image pull errors with the image, the scheduler's message,
        /// the last termination of a crash-looping container).
        reasons: Vec<String>,
    },
    /// An object the runner needs does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What (`Service x/s-a`).
        what: String,
    },
    /// The harness cannot do this for this kind of object.
    #[error("{0}")]
    Unsupported(String),
    /// A command could not be run in a container.
    #[error("exec in {pod} (container {container}): {message}")]
    Exec {
        /// The pod.
        pod: String,
        /// The container.
        container: String,
        /// What failed.
        message: String,
    },
    /// A command did not finish in time.
    #[error("exec in {pod} (container {container}) did not finish within {}s", after.as_secs())]
    ExecTimeout {
        /// The pod.
        pod: String,
        /// The container.
        container: String,
        /// The limit.
        after: Duration,
    },
    /// A remote manifest could not be had.
    #[error(transparent)]
    Remote(#[from] remote::RemoteError),
    /// A probe batch cannot be run as given (an invalid probe, SCTP without agnhost).
    #[error("cannot run the probe batch: {0}")]
    Probe(#[from] ProbeError),
}

/// The message of a kube-rs error as users should read it: the API server's `Status` message
/// when it answered (kube-rs's own display adds the whole `Status` debug dump), else the error.
fn api_message(e: &::kube::Error) -> String {
    match e {
        ::kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}
