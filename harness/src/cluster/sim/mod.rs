//! A simulated cluster: [`ClusterOps`](crate::cluster::ClusterOps) whose dataplane is the oracle,
//! with faults injected.
//!
//! What has been applied (plus label changes) is the model, together with what every kind
//! cluster has (CoreDNS behind the `kube-system/kube-dns` Service at [`SIM_DNS_ADDRESS`], the
//! `default/kubernetes` Service: the same built-ins the scenario planner models). A probe from a
//! pod is answered by the oracle's verdict on the packet — each pod, replicas included, with
//! its own address — as a chosen kind of CNI would enforce it:
//! - [`Enforcement`]: fully, not at all, ignoring egress, or ignoring named ports;
//! - a policy propagation delay (virtual time: run under `tokio::time::pause`): probes see the
//!   policies and labels as they were `propagation_delay` ago;
//! - dual stack ([`SimCluster::dual_stack`]): an IPv6 address per pod beside its IPv4 one, and
//!   per Service whose `ipFamilyPolicy` asks for both; a kube-proxy that can drop one family's
//!   Service traffic;
//! - nodes ([`SimNode`], two slot-labelled workers by default) on which pods are scheduled as
//!   their node selector and affinity say, and a dataplane that can drop every cross-node packet;
//! - flaky probes (seeded, deterministic; from every pod, or one flaky pod), failing execs, pods
//!   that never become ready, images without a shell;
//! - sources whose traffic no policy stops (a pod the dataplane does not identify), declared
//!   ports nothing listens on;
//! - a latency model for benchmarks (exec round trip, a blocked probe costing its timeout, a
//!   limit on concurrent execs).
//!
//! Every call is recorded ([`SimCluster::calls`]) so tests can assert what was done, and what is
//! left ([`SimCluster::owned_objects`], [`SimCluster::namespaces`]) after cleanup.
//!
//! # Probe batches
//!
//! The runner hands [`ClusterOps::run_probes`](crate::cluster::ClusterOps::run_probes) the
//! [`ProbeSpec`](crate::probe::ProbeSpec)s of a batch, as it does on a real cluster, where they
//! become [`crate::probe::batch_script`] run with one exec. The simulator does not interpret shell:
//! it checks the batch exactly as the script builder does (an invalid batch, or SCTP without
//! agnhost, is refused the same way), decides each probe with the oracle, and prints what the
//! script would print — one `NPH` result line per probe, in completion order (answered probes
//! before timed-out ones), carrying the output of the tool the script would have run (agnhost's
//! `TIMEOUT`/`REFUSED`, busybox nc's `timed out`, wget's status line, ping's statistics, nslookup's
//! answer or `can't find`), then `NPH-END`. The runner reads that with the real
//! [`crate::probe::parse_output`], so everything but the packets themselves is the production path.
//! The simulated busybox `nc` is Debian's small one (no `-z`).
//!
//! # Layout
//!
//! [`SimCluster`] and its state live here; each job has its own file and `impl SimCluster` block:
//! `faults` (what can be injected, and how enforcement and flakiness change a verdict), `model`
//! (the applied objects as a model, its pods and addresses), `nodes` (scheduling), `dataplane` (the model as of the
//! propagation delay, and what one probe observes), `exec` (simulated execs and their faults),
//! `output` (what the batch script prints for a probe) and `ops` (the `ClusterOps` impl).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::cluster::{ClusterError, PodRef};
use crate::manifest::{Document, ManifestError};
use crate::model::Labels;
use crate::scenario::state::{DNS_NAMESPACE, DNS_SERVICE};

mod dataplane;
mod exec;
mod faults;
mod model;
mod nodes;
mod ops;
mod output;

pub use faults::{Enforcement, Faults, Flaky, Latency};
use model::is_policy;
pub use nodes::SimNode;

/// Why the simulated cluster refused or failed an action (under [`ClusterError::Simulated`],
/// which names the action).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A namespaced object applied into a namespace that does not exist (a real API server
    /// answers 404 NotFound, worded the same way).
    #[error("namespaces \"{0}\" not found")]
    NamespaceNotFound(String),
    /// What has been applied cannot be modelled: the model or the policy set refuses it.
    #[error("the simulator cannot model what has been applied: {0}")]
    Model(#[source] ManifestError),
}

impl SimError {
    /// This error under the action that failed.
    pub(super) fn during(self, action: impl Into<String>) -> ClusterError {
        ClusterError::Simulated {
            action: action.into(),
            source: self,
        }
    }
}

/// The ClusterIP of the `kube-system/kube-dns` Service (kind's), which DNS probes ask.
pub const SIM_DNS_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

/// One call made to the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `create_namespace`.
    CreateNamespace(String),
    /// `delete_namespace`.
    DeleteNamespace(String),
    /// `apply`, with `Kind namespace/name` of each document.
    Apply(Vec<String>),
    /// `delete`, with `Kind namespace/name` of each document.
    Delete(Vec<String>),
    /// `label_namespace`.
    LabelNamespace(String),
    /// `label_pods` of an endpoint.
    LabelPods(String),
    /// `wait_ready` of an endpoint.
    WaitReady(String),
    /// `exec`.
    Exec {
        /// The pod.
        pod: PodRef,
        /// The container.
        container: String,
        /// The number of probes, for a probe batch; `None` for any other command.
        probes: Option<usize>,
    },
    /// `add_probe_container`.
    AddProbeContainer(PodRef),
    /// `sweep`, with what it deleted (or would, in a dry run).
    Sweep(Vec<String>),
}

/// The policy-relevant state at one moment.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    policies: Vec<Document>,
    namespaces: BTreeMap<String, Labels>,
    pod_labels: BTreeMap<String, Labels>,
}

#[derive(Debug, Default)]
struct SimState {
    /// Every namespace, with its labels.
    namespaces: BTreeMap<String, Labels>,
    /// Applied objects by `Kind namespace/name`.
    objects: BTreeMap<String, Document>,
    /// Pod labels changed by `label_pods`, per endpoint (the full label set).
    pod_labels: BTreeMap<String, Labels>,
    /// Policy-relevant states, oldest first.
    history: Vec<(Instant, Snapshot)>,
    /// Pod addresses, by `namespace/pod`.
    pod_ips: BTreeMap<String, IpAddr>,
    /// The node each pod was scheduled on, by `namespace/pod`.
    pod_nodes: BTreeMap<String, String>,
    /// Service addresses, by `namespace/name`.
    service_ips: BTreeMap<String, IpAddr>,
    /// Pods with a running probe container.
    probe_containers: BTreeSet<PodRef>,
    /// Every call.
    calls: Vec<Call>,
    /// Probe execs so far.
    probe_execs: usize,
    /// Probe attempts per (pod, target), for flakiness.
    attempts: HashMap<String, u64>,
}

/// A simulated pod.
#[derive(Debug, Clone)]
struct SimPod {
    pod: PodRef,
    endpoint: String,
    ip: IpAddr,
    /// Its IPv6 address, on a dual-stack cluster.
    ip6: Option<IpAddr>,
    node: String,
    image: String,
    container: String,
    annotations: BTreeMap<String, String>,
}

/// A simulated cluster. See the module documentation.
pub struct SimCluster {
    run_id: Mutex<String>,
    faults: Faults,
    nodes: Vec<SimNode>,
    dual_stack: bool,
    state: Mutex<SimState>,
    exec_slots: Option<Arc<Semaphore>>,
}

impl SimCluster {
    /// An empty cluster (namespaces `default` and `kube-system`, which the harness does not
    /// own) with these faults, on the two workers of the kind configs
    /// ([`SimNode::kind_workers`]; see [`SimCluster::with_nodes`]).
    pub fn new(run_id: &str, faults: Faults) -> SimCluster {
        let mut state = SimState::default();
        for ns in ["default", DNS_NAMESPACE] {
            state.namespaces.insert(ns.to_string(), Labels::new());
        }
        state.service_ips.insert(
            format!("{DNS_NAMESPACE}/{DNS_SERVICE}"),
            IpAddr::V4(SIM_DNS_ADDRESS),
        );
        let exec_slots = faults.latency.map(|l| {
            let slots = l.max_concurrent_execs.clamp(1, Semaphore::MAX_PERMITS);
            Arc::new(Semaphore::new(slots))
        });
        let sim = SimCluster {
            run_id: Mutex::new(run_id.to_string()),
            faults,
            nodes: SimNode::kind_workers(),
            dual_stack: false,
            state: Mutex::new(state),
            exec_slots,
        };
        sim.record_history(&mut sim.state.lock().expect("lock"));
        sim
    }

    /// The same cluster on these nodes instead (pods are placed as they are first listed:
    /// call this before applying any).
    pub fn with_nodes(mut self, nodes: Vec<SimNode>) -> SimCluster {
        self.nodes = nodes;
        self
    }

    /// The same cluster, dual-stack: every pod also gets an IPv6 address (`fd00:10:244::…`,
    /// listed second in its `podIPs` as on kind), every Service whose `ipFamilyPolicy` asks for
    /// two families a second ClusterIP (`fd00:10:96::…`), and IPv6 packets are judged by the
    /// oracle on those addresses.
    pub fn dual_stack(mut self) -> SimCluster {
        self.dual_stack = true;
        self
    }

    /// Starts another run on this cluster: what is applied from now on carries `run_id`, as a
    /// new `netpol-harness run` on a cluster an earlier (killed) run left objects on.
    pub fn begin_run(&self, run_id: &str) {
        *self.run_id.lock().expect("lock") = run_id.to_string();
    }

    fn run_id(&self) -> String {
        self.run_id.lock().expect("lock").clone()
    }

    /// Puts an object on the cluster as something else than the harness made it (no ownership
    /// label added): a CRD an operator installed, another tool's policy in a shared namespace.
    pub fn add_foreign(&self, doc: Document) {
        let mut st = self.state.lock().expect("lock");
        st.objects.insert(model::key_of(&doc), doc);
        self.record_history(&mut st);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().expect("lock").calls.clone()
    }

    /// The objects that exist (`Kind namespace/name`): those the harness applied, and those
    /// [`SimCluster::add_foreign`] put there.
    pub fn owned_objects(&self) -> Vec<String> {
        self.state
            .lock()
            .expect("lock")
            .objects
            .keys()
            .cloned()
            .collect()
    }

    /// The namespaces that exist.
    pub fn namespaces(&self) -> Vec<String> {
        self.state
            .lock()
            .expect("lock")
            .namespaces
            .keys()
            .cloned()
            .collect()
    }

    /// The number of probe-batch execs so far.
    pub fn probe_execs(&self) -> usize {
        self.state.lock().expect("lock").probe_execs
    }

    fn record(&self, call: Call) {
        self.state.lock().expect("lock").calls.push(call);
    }

    fn record_history(&self, st: &mut SimState) {
        let snapshot = Snapshot {
            policies: st
                .objects
                .values()
                .filter(|d| is_policy(d))
                .cloned()
                .collect(),
            namespaces: st.namespaces.clone(),
            pod_labels: st.pod_labels.clone(),
        };
        st.history.push((Instant::now(), snapshot));
    }
}

#[cfg(test)]
mod tests;
