//! The scenario file format (`scenarios/<name>/scenario.yaml`), as typed structs.
//!
//! ```yaml
//! name: http-echo-busybox
//! title: kops + Calico — http-echo and busybox in ns-1
//! source: {title: "…", url: "https://…"}
//! requires: [ingress]
//! namespaces: [ns-1]             # namespaces the scenario owns (created, deleted at the end)
//! setup: [workloads.yaml]        # applied before the first step (paths relative to the folder)
//! steps:
//! - name: no-policy
//!   narration: "Without any policy, busybox can POST to http-echo."
//!   probes:
//!   - {from: ns-1/busybox, to: ns-1/http-echo, port: 5678, kind: http, method: POST, expect: {status: 200}}
//! - name: deny-all
//!   actions:
//!   - apply: [deny-all.yaml]
//!   probes:
//!   - {from: ns-1/busybox, to: ns-1/http-echo, port: 5678, kind: http, expect: blocked}
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::capability::Capability;

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scenario {
    /// Short name, the folder's name (`[a-z0-9-]+`).
    pub name: String,
    /// A one-line title.
    pub title: String,
    /// The tutorial it reproduces.
    pub source: SourceRef,
    /// What the cluster must provide for the scenario to mean anything.
    #[serde(default)]
    pub requires: Vec<Capability>,
    /// Namespaces the scenario owns: created before and deleted after. Shared namespaces such as
    /// `default` are never listed; in them only the scenario's own objects are touched.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Third-party manifests (e.g. Contour) fetched by URL only when run on a cluster.
    #[serde(default)]
    pub remote: Vec<RemoteManifest>,
    /// Endpoints the remote manifests provide, declared so the oracle can plan offline.
    #[serde(default)]
    pub provides: Vec<ProvidedEndpoint>,
    /// Manifests applied before the first step (relative to the scenario folder).
    #[serde(default)]
    pub setup: Vec<PathBuf>,
    /// Every place the scenario differs from the tutorial, and why.
    #[serde(default)]
    pub errata: Vec<Erratum>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// The tutorial a scenario reproduces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    /// The tutorial's title.
    pub title: String,
    /// Where it is published.
    pub url: String,
}

/// A manifest fetched from a URL, pinned by its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteManifest {
    /// The URL.
    pub url: String,
    /// Hex SHA-256 of the content; a mismatch refuses the manifest. The literal
    /// [`UNPINNED`] is accepted while a digest cannot be computed yet: `validate` warns about it
    /// and a runner must refuse to apply it until the digest is written down.
    pub sha256: String,
}

/// The `sha256` value of a remote manifest whose digest is not known yet.
pub const UNPINNED: &str = "unpinned";

/// An endpoint that a remote manifest creates (for offline planning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidedEndpoint {
    /// Namespace.
    pub namespace: String,
    /// Workload name.
    pub name: String,
    /// Pod labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Container ports.
    #[serde(default)]
    pub ports: Vec<ProvidedPort>,
}

/// A container port of a provided endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidedPort {
    /// Port name.
    #[serde(default)]
    pub name: Option<String>,
    /// Port number.
    pub port: u16,
    /// Protocol (TCP when omitted).
    #[serde(default = "tcp")]
    pub protocol: crate::model::Protocol,
}

fn tcp() -> crate::model::Protocol {
    crate::model::Protocol::Tcp
}

/// A difference between the scenario and the tutorial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Erratum {
    /// What differs (the tutorial's text or YAML, briefly).
    pub what: String,
    /// Why (removed API, image gone, YAML that does not parse, wrong selector, wrong claim).
    pub why: String,
    /// Evidence the harness checks (`validate` proves it), if it can be checked mechanically.
    #[serde(default)]
    pub proof: Option<Proof>,
}

/// Mechanical evidence for an erratum, checked by `validate` and the tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", tag = "kind")]
pub enum Proof {
    /// This file (the tutorial's YAML, verbatim) does not parse.
    YamlDoesNotParse {
        /// Path relative to the scenario folder.
        file: PathBuf,
    },
    /// This file uses an API version Kubernetes removed.
    RemovedApi {
        /// Path relative to the scenario folder.
        file: PathBuf,
    },
    /// The oracle contradicts a claim: this probe, in this step, is predicted the opposite of
    /// what the tutorial says (`claimed`).
    ClaimContradicted {
        /// The step's name.
        step: String,
        /// The probe, as in a step's probe list.
        probe: Probe,
        /// What the tutorial claims.
        claimed: Expectation,
    },
}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Step {
    /// Short name (`[a-z0-9-]+`), unique in the scenario; trials are named `scenario::step`.
    pub name: String,
    /// The tutorial's own words for this step.
    #[serde(default)]
    pub narration: String,
    /// Capabilities this step needs beyond the scenario's `requires` (e.g. `internet` for the
    /// tutorial's claims about google.com). They gate only the step's probes: its actions are
    /// always carried out, so later steps see the same cluster whatever the CNI provides.
    #[serde(default)]
    pub requires: Vec<Capability>,
    /// Why this step, although policies are in force, expects nothing to be blocked (e.g. "the
    /// GlobalNetworkPolicy has no effect until namespaces are labelled"). Without it such a step
    /// is refused: a step that cannot fail on a CNI that ignores policy proves nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nothing_blocked: Option<String>,
    /// What the step exercises (`egress`, `named-port`, …: generated cases carry their tags),
    /// recorded with its results so that the compatibility matrix can count per tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// What to do to the cluster before probing.
    #[serde(default)]
    pub actions: Vec<Action>,
    /// Single probes with their expectations.
    #[serde(default)]
    pub probes: Vec<Probe>,
    /// Compact matrices of probes.
    #[serde(default)]
    pub matrices: Vec<MatrixProbes>,
}

/// Something done to the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum Action {
    /// Apply these files (relative to the scenario folder).
    Apply(Vec<PathBuf>),
    /// Delete the objects in these files.
    Delete(Vec<PathBuf>),
    /// Set and/or remove labels on a namespace, a pod or a workload's pods.
    Label(LabelAction),
    /// Wait until these workloads (`namespace/name`) have rolled out.
    WaitRollout(Vec<String>),
}

/// A label change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelAction {
    /// What to label.
    #[serde(flatten)]
    pub target: LabelTarget,
    /// Labels to set.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Label keys to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// What a label action changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LabelTarget {
    /// A namespace, by name.
    Namespace(String),
    /// The running pods of an endpoint (`namespace/name`): a bare pod, or a workload's pods
    /// (the template is not changed, as `kubectl label pod` does not change it).
    Pods(String),
}

/// How to probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScenarioProbeKind {
    /// TCP connect.
    Tcp,
    /// UDP datagram answered by the server.
    Udp,
    /// SCTP association.
    Sctp,
    /// HTTP request, with the status observed.
    Http,
    /// ICMP echo (ping).
    Icmp,
    /// DNS lookup of `to: dns:NAME` through the cluster DNS.
    Dns,
}

/// What a probe is expected to observe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expectation {
    /// The connection is made (any HTTP status counts, unless a status is given).
    Allowed,
    /// The connection times out (policy drops it).
    Blocked,
    /// HTTP only: this status code (e.g. 200 through the ingress controller, 503 when the
    /// ingress controller cannot reach the backend).
    Status(u16),
}

impl std::fmt::Display for Expectation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expectation::Allowed => f.write_str("allowed"),
            Expectation::Blocked => f.write_str("blocked"),
            Expectation::Status(s) => write!(f, "HTTP {s}"),
        }
    }
}

/// One probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// The client: an endpoint `namespace/name`, or `outside` (the harness itself, from outside
    /// the cluster, through the ingress controller's host port).
    pub from: String,
    /// The server: `namespace/name` (an endpoint), `svc:namespace/name` (a Service: the backend
    /// pod and target port are what policy sees), `dns:NAME` (a DNS name, for kind `dns`),
    /// `ip:ADDRESS` (an address outside the cluster), or `ingress:/PATH` (the ingress controller).
    pub to: String,
    /// Destination port (a Service port for `svc:`; none for `icmp` and `dns`).
    #[serde(default)]
    pub port: Option<u16>,
    /// How to probe.
    pub kind: ScenarioProbeKind,
    /// HTTP method (GET when omitted; POST for the http-echo tutorial).
    #[serde(default)]
    pub method: Option<String>,
    /// HTTP path (`/` when omitted).
    #[serde(default)]
    pub path: Option<String>,
    /// What the tutorial says happens.
    pub expect: Expectation,
    /// How long this probe waits for an answer, in seconds (more than 0, at most 300); by
    /// default the run's probe timeout, raised for the probe's kind where the path needs more
    /// (see `netpol_harness::runner::probe_timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

/// Many probes at once: every `from` × every `to`, with a table of expectations written like a
/// truth table (rows = from, columns = to; `.` allowed, `X` blocked, `-` not probed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixProbes {
    /// How to probe.
    pub kind: ScenarioProbeKind,
    /// Destination port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Clients (rows).
    pub from: Vec<String>,
    /// Servers (columns), in the `to` syntax of [`Probe`].
    pub to: Vec<String>,
    /// One line per row, one mark per column, separated by spaces.
    pub expect: String,
}
