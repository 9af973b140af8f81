//! A simulated cluster: [`ClusterOps`] whose dataplane is the oracle, with faults injected.
//!
//! What has been applied (plus label changes) is the model, together with what every kind
//! cluster has (CoreDNS behind the `kube-system/kube-dns` Service at [`SIM_DNS_ADDRESS`], the
//! `default/kubernetes` Service: the same built-ins the scenario planner models). A probe from a
//! pod is answered by the oracle's verdict on the packet, as a chosen kind of CNI would enforce
//! it:
//! - [`Enforcement`]: fully, not at all, ignoring egress, or ignoring named ports;
//! - a policy propagation delay (virtual time: run under `tokio::time::pause`): probes see the
//!   policies and labels as they were `propagation_delay` ago;
//! - flaky probes (seeded, deterministic), failing execs, pods that never become ready,
//!   images without a shell;
//! - a latency model for benchmarks (exec round trip, a blocked probe costing its timeout, a
//!   limit on concurrent execs).
//!
//! Every call is recorded ([`SimCluster::calls`]) so tests can assert what was done, and what is
//! left ([`SimCluster::owned_objects`], [`SimCluster::namespaces`]) after cleanup.
//!
//! # Probe batches
//!
//! The runner hands [`ClusterOps::run_probes`] the [`ProbeSpec`]s of a batch, as it does on a
//! real cluster, where they become [`crate::probe::batch_script`] run with one exec. The simulator
//! does not interpret shell: it checks the batch exactly as the script builder does (an invalid
//! batch, or SCTP without agnhost, is refused the same way), decides each probe with the oracle,
//! and prints what the script would print — one `NPH` result line per probe, in completion order
//! (answered probes before timed-out ones), carrying the output of the tool the script would
//! have run (agnhost's `TIMEOUT`/`REFUSED`, busybox nc's `timed out`, wget's status line, ping's
//! statistics, nslookup's answer or `can't find`), then `NPH-END`. The runner reads that with
//! the real [`crate::probe::parse_output`], so everything but the packets themselves is the
//! production path. The simulated busybox `nc` is Debian's small one (no `-z`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{
    ClusterError, ClusterOps, ContainerInfo, EndpointRef, ExecOutput, LabelChange, PROBE_CONTAINER,
    PodInfo, PodRef, ServiceInfo, ServicePortInfo, diagnose_pod, inject_ownership,
    is_cluster_scoped, is_owned, ownership_labels,
};
use crate::manifest::{Document, Source};
use crate::model::{
    BuildOptions, Cluster, EndpointId, Labels, NAMESPACE_NAME_LABEL, PortRef, Protocol,
};
use crate::oracle::{Oracle, Packet, Peer};
use crate::policy::{PolicySet, PortSpec, ProtocolMatch};
use crate::probe::{
    Outcome, ProbeKind, ProbeSpec, ProbeTool, batch_script, detect_tool_command, tool_of_image,
};
use crate::scenario::state::{DNS_NAMESPACE, DNS_SERVICE, builtin_services, dns_endpoint};
use crate::scenario::target::service_of_name;

/// The ClusterIP of the `kube-system/kube-dns` Service (kind's), which DNS probes ask.
pub const SIM_DNS_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

/// How the simulated CNI enforces policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforcement {
    /// As the oracle says.
    #[default]
    Full,
    /// Not at all: everything is allowed.
    None,
    /// Ingress rules only; egress policies are ignored.
    IgnoresEgress,
    /// Named ports never match (a rule whose only ports are named matches nothing).
    IgnoresNamedPorts,
}

/// Probes whose result is flipped (allowed ↔ blocked) now and then, deterministically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flaky {
    /// The seed.
    pub seed: u64,
    /// How many probes in a thousand are flipped.
    pub per_mille: u32,
}

/// A latency model, for benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// The cost of one exec (connection, upgrade, process start), whatever it runs.
    pub exec_round_trip: Duration,
    /// At most this many execs run at once (the API server's and kubelet's limits).
    pub max_concurrent_execs: usize,
}

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Policy and label changes reach the dataplane this long after they are made.
    pub propagation_delay: Duration,
    /// How policy is enforced.
    pub enforcement: Enforcement,
    /// Flaky probes.
    pub flaky: Option<Flaky>,
    /// Endpoints (`namespace/name`) in whose pods every exec fails.
    pub failing_execs: BTreeSet<String>,
    /// The first this many probe execs fail (a transient failure).
    pub failing_first_execs: usize,
    /// Endpoints whose pods never become ready (their image cannot be pulled).
    pub never_ready: BTreeSet<String>,
    /// Endpoints whose image has no shell (probes need the ephemeral probe container).
    pub without_shell: BTreeSet<String>,
    /// A latency model (none: everything is instantaneous).
    pub latency: Option<Latency>,
    /// How long each `delete` and `delete_namespace` takes (a slow cleanup).
    pub delete_latency: Duration,
}

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
    image: String,
    container: String,
    annotations: BTreeMap<String, String>,
}

/// A simulated cluster. See the module documentation.
pub struct SimCluster {
    run_id: String,
    faults: Faults,
    state: Mutex<SimState>,
    exec_slots: Option<Arc<Semaphore>>,
}

/// The model the dataplane enforces at one moment.
struct Dataplane {
    cluster: Cluster,
    policies: PolicySet,
}

fn key_of(doc: &Document) -> String {
    let scoped = !is_cluster_scoped(doc.api_version(), doc.kind());
    match (scoped, doc.namespace()) {
        (true, ns) => format!("{} {}/{}", doc.kind(), ns.unwrap_or("default"), doc.name()),
        (false, _) => format!("{} {}", doc.kind(), doc.name()),
    }
}

/// Whether a document is one the dataplane's policy set is built from (policies, and the
/// Calico tiers and network sets they refer to), which changes reach the dataplane late.
fn is_policy(doc: &Document) -> bool {
    let group = doc.api_version().split('/').next().unwrap_or("");
    matches!(
        (group, doc.kind()),
        ("networking.k8s.io", "NetworkPolicy")
            | ("projectcalico.org", _)
            | ("policy.networking.k8s.io", _)
    )
}

fn synthetic(value: serde_json::Value) -> Document {
    Document {
        source: Source {
            file: "(simulated)".into(),
            document: 1,
            line: 1,
        },
        value,
    }
}

/// A rule whose only destination ports are named never matches (as a CNI that ignores named
/// ports behaves).
fn strip_named_ports(policies: &mut PolicySet) {
    for policy in &mut policies.policies {
        for rules in [&mut policy.ingress, &mut policy.egress]
            .into_iter()
            .flatten()
        {
            for rule in rules {
                let ports = &mut rule.destination.ports;
                let had = !ports.is_empty();
                ports.retain(|p| !matches!(p, PortSpec::Named(_)));
                if had && ports.is_empty() {
                    rule.protocol = Some(ProtocolMatch::Other(255));
                }
            }
        }
    }
}

/// Whether the cluster DNS answers `name`: a Service name (`NAME.NAMESPACE.svc[.cluster.local]`)
/// only if that Service exists; any other name is forwarded upstream and resolves.
fn resolves(cluster: &Cluster, name: &str) -> bool {
    let name = name.trim_end_matches('.');
    if !(name.ends_with(".svc") || name.ends_with(".svc.cluster.local")) {
        return true;
    }
    service_of_name(name).is_some_and(|(ns, svc)| cluster.service(&ns, &svc).is_some())
}

fn sim_error(action: String, message: impl Into<String>) -> ClusterError {
    ClusterError::Api {
        action,
        code: Some(404),
        message: message.into(),
    }
}

impl SimCluster {
    /// An empty cluster (namespaces `default` and `kube-system`, which the harness does not
    /// own) with these faults.
    pub fn new(run_id: &str, faults: Faults) -> SimCluster {
        let mut state = SimState::default();
        for ns in ["default", DNS_NAMESPACE] {
            state.namespaces.insert(ns.to_string(), Labels::new());
        }
        state.service_ips.insert(
            format!("{DNS_NAMESPACE}/{DNS_SERVICE}"),
            IpAddr::V4(SIM_DNS_ADDRESS),
        );
        let exec_slots = faults
            .latency
            .map(|l| Arc::new(Semaphore::new(l.max_concurrent_execs.max(1))));
        let sim = SimCluster {
            run_id: run_id.to_string(),
            faults,
            state: Mutex::new(state),
            exec_slots,
        };
        sim.record_history(&mut sim.state.lock().expect("lock"));
        sim
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().expect("lock").calls.clone()
    }

    /// The objects that exist and were applied by the harness (`Kind namespace/name`).
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

    /// The model of what exists now, with the policies and labels of `snapshot`.
    fn model(st: &SimState, snapshot: &Snapshot) -> Result<(Cluster, Vec<Document>), String> {
        let mut docs: Vec<Document> = st
            .objects
            .values()
            .filter(|d| !is_policy(d) && d.kind() != "Namespace")
            .cloned()
            .collect();
        for (name, current) in &st.namespaces {
            let labels = snapshot.namespaces.get(name).unwrap_or(current);
            docs.push(synthetic(json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": labels}})));
        }
        let mut cluster =
            Cluster::from_documents(&docs, &BuildOptions::default()).map_err(|e| e.to_string())?;
        // What every kind cluster runs: CoreDNS behind kube-dns, and the API server's Service.
        let _ = cluster.add_endpoint(dns_endpoint());
        for service in builtin_services() {
            if cluster.service(&service.namespace, &service.name).is_none() {
                cluster.services.push(service);
            }
        }
        for endpoint in &mut cluster.endpoints {
            if let Some(labels) = snapshot.pod_labels.get(&endpoint.key()) {
                endpoint.labels = labels.clone();
            }
        }
        Ok((cluster, snapshot.policies.clone()))
    }

    /// The pods of the current model, with stable addresses.
    fn pods(st: &mut SimState) -> Result<Vec<SimPod>, String> {
        let (cluster, _) = Self::model(st, &Snapshot::default())?;
        let mut pods = Vec::new();
        for endpoint in &cluster.endpoints {
            let key = endpoint.key();
            let doc = st.objects.values().find(|d| {
                d.kind() == endpoint.kind.to_string()
                    && format!("{}/{}", d.namespace().unwrap_or("default"), d.name()) == key
            });
            let template = match endpoint.kind {
                crate::model::WorkloadKind::Pod => "",
                _ => "/spec/template",
            };
            let replicas = doc
                .and_then(|d| d.value.pointer("/spec/replicas"))
                .and_then(|r| r.as_u64())
                .unwrap_or(1);
            let (image, container) = doc
                .and_then(|d| d.value.pointer(&format!("{template}/spec/containers/0")))
                .map(|c| {
                    (
                        c["image"].as_str().unwrap_or("").to_string(),
                        c["name"].as_str().unwrap_or("main").to_string(),
                    )
                })
                .unwrap_or_default();
            let annotations: BTreeMap<String, String> = doc
                .and_then(|d| d.value.pointer(&format!("{template}/metadata/annotations")))
                .and_then(|a| serde_json::from_value(a.clone()).ok())
                .unwrap_or_default();
            let names: Vec<String> = if endpoint.kind == crate::model::WorkloadKind::Pod {
                vec![endpoint.name.clone()]
            } else {
                (0..replicas)
                    .map(|i| format!("{}-{i}", endpoint.name))
                    .collect()
            };
            for name in names {
                let pod_key = format!("{}/{name}", endpoint.namespace);
                let next = st.pod_ips.len() as u32;
                let ip = *st.pod_ips.entry(pod_key).or_insert_with(|| {
                    IpAddr::V4(Ipv4Addr::new(
                        10,
                        244,
                        (next / 250) as u8,
                        (next % 250 + 2) as u8,
                    ))
                });
                pods.push(SimPod {
                    pod: PodRef {
                        namespace: endpoint.namespace.clone(),
                        name,
                    },
                    endpoint: key.clone(),
                    ip,
                    image: image.clone(),
                    container: container.clone(),
                    annotations: annotations.clone(),
                });
            }
        }
        Ok(pods)
    }

    /// Removes a namespace and everything in it.
    fn remove_namespace(st: &mut SimState, name: &str) {
        st.namespaces.remove(name);
        st.objects.retain(|_, d| {
            is_cluster_scoped(d.api_version(), d.kind())
                || d.namespace().unwrap_or("default") != name
        });
        let prefix = format!("{name}/");
        st.pod_labels.retain(|k, _| !k.starts_with(&prefix));
    }

    fn service_ip(st: &mut SimState, key: &str) -> IpAddr {
        let next = st.service_ips.len() as u32;
        *st.service_ips.entry(key.to_string()).or_insert_with(|| {
            IpAddr::V4(Ipv4Addr::new(
                10,
                96,
                (1 + next / 250) as u8,
                (next % 250 + 1) as u8,
            ))
        })
    }

    /// The dataplane now: current workloads, policies and labels as of `propagation_delay` ago.
    fn dataplane(&self, st: &mut SimState) -> Result<Dataplane, String> {
        let now = Instant::now();
        let visible = now.checked_sub(self.faults.propagation_delay);
        let snapshot = st
            .history
            .iter()
            .rev()
            .find(|(t, _)| visible.is_some_and(|v| *t <= v))
            .or(st.history.first())
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        let (mut cluster, policy_docs) = Self::model(st, &snapshot)?;
        let pods = Self::pods(st)?;
        for endpoint in &mut cluster.endpoints {
            if let Some(pod) = pods.iter().find(|p| p.endpoint == endpoint.key()) {
                endpoint.ips = vec![pod.ip];
            }
        }
        let mut policies = PolicySet::from_documents(&policy_docs).map_err(|e| e.to_string())?;
        if self.faults.enforcement == Enforcement::IgnoresNamedPorts {
            strip_named_ports(&mut policies);
        }
        Ok(Dataplane { cluster, policies })
    }

    /// What one probe from `source` observes.
    fn evaluate(
        &self,
        st: &mut SimState,
        dp: &Dataplane,
        oracle: &Oracle<'_>,
        pods: &[SimPod],
        source: &SimPod,
        spec: &ProbeSpec,
    ) -> Outcome {
        let Some(from) = dp.cluster.endpoint(&source.endpoint) else {
            return Outcome::Error(format!("{} is not in the model", source.endpoint));
        };
        let protocol = match spec.kind {
            ProbeKind::Tcp | ProbeKind::Http { .. } => Protocol::Tcp,
            ProbeKind::Udp | ProbeKind::Dns { .. } => Protocol::Udp,
            ProbeKind::Sctp => Protocol::Sctp,
            ProbeKind::Icmp => Protocol::Icmp,
        };
        let Ok(ip) = spec.host.parse::<IpAddr>() else {
            return Outcome::Error(format!("`{}` is not an address", spec.host));
        };
        let (to, port, listening) =
            match self.resolve(st, dp, pods, ip, spec.target_port(), protocol) {
                Ok(resolved) => resolved,
                Err(outcome) => return outcome,
            };
        let packet = Packet {
            from: Peer::Endpoint(from),
            to,
            protocol,
            port,
        };
        let mut allowed = match self.faults.enforcement {
            Enforcement::None => true,
            Enforcement::IgnoresEgress => oracle.verdict(&packet).ingress.allowed,
            Enforcement::Full | Enforcement::IgnoresNamedPorts => oracle.allowed(&packet),
        };
        if let Some(flaky) = self.faults.flaky {
            let attempt_key = format!(
                "{}>{}:{:?}:{:?}",
                source.pod, spec.host, spec.port, spec.kind
            );
            let attempt = st.attempts.entry(attempt_key.clone()).or_insert(0);
            *attempt += 1;
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (flaky.seed, &attempt_key, *attempt).hash(&mut h);
            if h.finish() % 1000 < u64::from(flaky.per_mille) {
                allowed = !allowed;
            }
        }
        match (&spec.kind, allowed, listening) {
            (_, false, _) => Outcome::Blocked,
            (_, true, false) => Outcome::Refused,
            (ProbeKind::Http { .. }, true, true) => Outcome::HttpStatus(200),
            (ProbeKind::Dns { name }, true, true) if !resolves(&dp.cluster, name) => {
                Outcome::DnsFailure("NXDOMAIN".to_string())
            }
            (_, true, true) => Outcome::Allowed,
        }
    }

    /// The peer an address reaches, the port policy sees, and whether something serves it.
    fn resolve(
        &self,
        st: &mut SimState,
        dp: &Dataplane,
        pods: &[SimPod],
        ip: IpAddr,
        port: Option<u16>,
        protocol: Protocol,
    ) -> Result<(Peer, Option<u16>, bool), Outcome> {
        let serves = |id: EndpointId, port: Option<u16>| {
            let e = dp.cluster.get(id);
            port.is_none()
                || e.ports.is_empty()
                || e.ports
                    .iter()
                    .any(|p| Some(p.port) == port && p.protocol == protocol)
        };
        if let Some(pod) = pods.iter().find(|p| p.ip == ip) {
            let id = dp
                .cluster
                .endpoint(&pod.endpoint)
                .ok_or_else(|| Outcome::Error("pod not in the model".into()))?;
            return Ok((Peer::Endpoint(id), port, serves(id, port)));
        }
        let services: Vec<(String, String)> = dp
            .cluster
            .services
            .iter()
            .map(|s| (s.namespace.clone(), s.name.clone()))
            .collect();
        for (ns, name) in services {
            if Self::service_ip(st, &format!("{ns}/{name}")) != ip {
                continue;
            }
            let service = dp.cluster.service(&ns, &name).expect("listed above");
            let Some(sp) = service
                .ports
                .iter()
                .find(|p| Some(p.port) == port && p.protocol == protocol)
            else {
                return Err(Outcome::Refused);
            };
            let Some(&backend) = dp.cluster.service_backends(service).first() else {
                return Err(Outcome::Refused);
            };
            let target = match &sp.target {
                PortRef::Number(n) => Some(*n),
                PortRef::Name(n) => dp.cluster.get(backend).named_port(n, protocol),
            };
            return match target {
                Some(t) => Ok((Peer::Endpoint(backend), Some(t), serves(backend, Some(t)))),
                None => Err(Outcome::Refused),
            };
        }
        Ok((Peer::External(ip), port, true))
    }

    fn pod_info(&self, st: &SimState, pod: &SimPod) -> PodInfo {
        PodInfo {
            pod: pod.pod.clone(),
            ips: vec![pod.ip],
            containers: vec![ContainerInfo {
                name: pod.container.clone(),
                image: pod.image.clone(),
            }],
            annotations: pod.annotations.clone(),
            running_ephemeral: if st.probe_containers.contains(&pod.pod) {
                vec![PROBE_CONTAINER.to_string()]
            } else {
                Vec::new()
            },
        }
    }

    fn find_pod(&self, st: &mut SimState, pod: &PodRef) -> Result<SimPod, ClusterError> {
        Self::pods(st)
            .map_err(ClusterError::Unsupported)?
            .into_iter()
            .find(|p| p.pod == *pod)
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("Pod {pod}"),
            })
    }

    /// Runs `run` in a container, now: the output, and how long the probes in it took.
    fn exec_now(
        &self,
        pod: &PodRef,
        container: &str,
        run: &Run<'_>,
    ) -> Result<(ExecOutput, Duration), ClusterError> {
        let failed = |message: &str| ClusterError::Exec {
            pod: pod.to_string(),
            container: container.to_string(),
            message: message.to_string(),
        };
        let mut st = self.state.lock().expect("lock");
        let st = &mut *st;
        let source = self.find_pod(st, pod)?;
        let is_probe = matches!(run, Run::Probes(..));
        if is_probe {
            st.probe_execs += 1;
        }
        if self.faults.failing_execs.contains(&source.endpoint)
            || (is_probe && st.probe_execs <= self.faults.failing_first_execs)
        {
            return Err(failed(
                "error dialing backend: read tcp 172.18.0.2:41234->172.18.0.3:10250: read: connection reset by peer (simulated)",
            ));
        }
        let probe_container = container == PROBE_CONTAINER;
        if probe_container && !st.probe_containers.contains(pod) {
            return Err(failed("container not found (\"netpol-probe\")"));
        }
        if !probe_container && self.faults.without_shell.contains(&source.endpoint) {
            return Err(failed(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"sh\": executable file not found in $PATH: unknown",
            ));
        }
        let (specs, tool) = match run {
            Run::Probes(specs, tool) => (*specs, *tool),
            Run::Command(command) if *command == detect_tool_command().as_slice() => {
                let tool = tool_of_image(&source.image).unwrap_or(ProbeTool::Agnhost);
                return Ok((
                    ExecOutput {
                        stdout: format!("{tool}\n"),
                        ..Default::default()
                    },
                    Duration::ZERO,
                ));
            }
            Run::Command(_) => return Err(failed("sh: unknown command (simulated)")),
        };
        // Refused exactly as the script builder refuses it.
        batch_script(specs, tool)?;
        let dp = self.dataplane(st).map_err(ClusterError::Unsupported)?;
        let pods = Self::pods(st).map_err(ClusterError::Unsupported)?;
        let oracle = Oracle::new(&dp.cluster, &dp.policies);
        let mut cost = Duration::ZERO;
        let mut answered = Vec::new();
        let mut timed_out = Vec::new();
        for spec in specs {
            let outcome = self.evaluate(st, &dp, &oracle, &pods, &source, spec);
            let line = result_line(spec, tool, &outcome);
            if outcome == Outcome::Blocked {
                cost = cost.max(spec.timeout);
                timed_out.push(line);
            } else {
                answered.push(line);
            }
        }
        let mut stdout: String = answered.into_iter().chain(timed_out).collect();
        stdout.push_str("NPH-END\n");
        Ok((
            ExecOutput {
                stdout,
                ..Default::default()
            },
            cost,
        ))
    }

    /// Runs `run` as an exec: recorded, within the exec slots and latency of the model.
    async fn exec_timed(
        &self,
        pod: &PodRef,
        container: &str,
        run: Run<'_>,
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        self.record(Call::Exec {
            pod: pod.clone(),
            container: container.to_string(),
            probes: match &run {
                Run::Probes(specs, _) => Some(specs.len()),
                Run::Command(_) => None,
            },
        });
        let _permit = match &self.exec_slots {
            Some(slots) => Some(slots.clone().acquire_owned().await.expect("never closed")),
            None => None,
        };
        let round_trip = self
            .faults
            .latency
            .map_or(Duration::ZERO, |l| l.exec_round_trip);
        let started = Instant::now();
        if !round_trip.is_zero() {
            tokio::time::sleep(round_trip).await;
        }
        let (output, cost) = self.exec_now(pod, container, &run)?;
        if self.faults.latency.is_some() && !cost.is_zero() {
            tokio::time::sleep(cost).await;
        }
        if started.elapsed() > timeout {
            return Err(ClusterError::ExecTimeout {
                pod: pod.to_string(),
                container: container.to_string(),
                after: timeout,
            });
        }
        Ok(output)
    }
}

/// What an exec runs.
enum Run<'a> {
    /// A command (only the probe tool detection is understood).
    Command(&'a [String]),
    /// A probe batch.
    Probes(&'a [ProbeSpec], ProbeTool),
}

/// The result line the batch script prints for `spec` when its tool observed `outcome`: the
/// method the script would have run, its exit status, and what it would have printed.
fn result_line(spec: &ProbeSpec, tool: ProbeTool, outcome: &Outcome) -> String {
    let (method, status, output) = tool_output(spec, tool, outcome);
    let hex: String = output.bytes().map(|b| format!("{b:02x}")).collect();
    format!("NPH {} {method} {status} {hex}\n", spec.id)
}

/// The method, exit status and output of the tool the script runs for `spec` with `tool`, for
/// an observation (the texts are those the probe module's parser is tested against).
fn tool_output(
    spec: &ProbeSpec,
    tool: ProbeTool,
    outcome: &Outcome,
) -> (&'static str, i32, String) {
    let host = &spec.host;
    let port = spec.target_port().unwrap_or_default();
    let other = |m: &str| (1, format!("netpol-sim: {m}\n"));
    let nslookup_server = format!("Server:\t\t{host}\nAddress:\t{host}:{port}\n\n");
    let no_servers = ";; connection timed out; no servers could be reached\n".to_string();
    match (&spec.kind, tool) {
        // SCTP always goes through agnhost (batch_script refuses it with busybox).
        (ProbeKind::Tcp | ProbeKind::Udp, ProbeTool::Agnhost) | (ProbeKind::Sctp, _) => {
            let (status, text) = match outcome {
                Outcome::Allowed | Outcome::HttpStatus(_) => (0, String::new()),
                Outcome::Blocked => (1, "TIMEOUT\n".to_string()),
                Outcome::Refused => (1, "REFUSED\n".to_string()),
                Outcome::DnsFailure(m) => (1, format!("DNS: {m}\n")),
                Outcome::Error(m) => (1, format!("OTHER: {m}\n")),
            };
            ("agnhost", status, text)
        }
        (ProbeKind::Tcp, _) => {
            let (status, text) = match outcome {
                Outcome::Allowed | Outcome::HttpStatus(_) => (0, String::new()),
                Outcome::Blocked => (1, "nc: timed out\n".to_string()),
                Outcome::Refused => (
                    1,
                    format!("nc: can't connect to remote host ({host}): Connection refused\n"),
                ),
                Outcome::DnsFailure(_) => (1, format!("nc: bad address '{host}'\n")),
                Outcome::Error(m) => other(m),
            };
            ("nc", status, text)
        }
        (ProbeKind::Udp, _) => {
            let (status, text) = match outcome {
                Outcome::Allowed | Outcome::HttpStatus(_) => (0, nslookup_server),
                Outcome::Blocked => (1, no_servers),
                Outcome::Refused => (
                    1,
                    format!("nslookup: write to '{host}': Connection refused\n"),
                ),
                Outcome::DnsFailure(_) => (1, format!("nslookup: bad address '{host}'\n")),
                Outcome::Error(m) => other(m),
            };
            ("nslookup-udp", status, text)
        }
        (ProbeKind::Http { .. }, _) => {
            let (status, text) = match outcome {
                Outcome::HttpStatus(code) if *code >= 400 => (
                    1,
                    format!(
                        "  HTTP/1.1 {code} Error\nwget: server returned error: HTTP/1.1 {code} Error\n"
                    ),
                ),
                Outcome::HttpStatus(code) => (0, format!("  HTTP/1.1 {code} OK\n  \n")),
                Outcome::Allowed => (0, "  HTTP/1.1 200 OK\n  \n".to_string()),
                Outcome::Blocked => (137, String::new()),
                Outcome::Refused => (
                    1,
                    format!("wget: can't connect to remote host ({host}): Connection refused\n"),
                ),
                Outcome::DnsFailure(_) => (1, format!("wget: bad address '{host}'\n")),
                Outcome::Error(m) => other(m),
            };
            ("wget", status, text)
        }
        (ProbeKind::Icmp, _) => {
            let stats = |received: u32| {
                format!(
                    "PING {host} ({host}): 56 data bytes\n\n--- {host} ping statistics ---\n\
                     1 packets transmitted, {received} packets received, {}% packet loss\n",
                    100 - 100 * received
                )
            };
            let (status, text) = match outcome {
                Outcome::Allowed | Outcome::HttpStatus(_) => (0, stats(1)),
                Outcome::Blocked => (1, stats(0)),
                Outcome::DnsFailure(_) => (1, format!("ping: bad address '{host}'\n")),
                Outcome::Refused => other("ICMP cannot be refused"),
                Outcome::Error(m) => other(m),
            };
            ("ping", status, text)
        }
        (ProbeKind::Dns { name }, _) => {
            let (status, text) = match outcome {
                Outcome::Allowed | Outcome::HttpStatus(_) => (
                    0,
                    format!("{nslookup_server}Name:\t{name}\nAddress: 10.96.0.1\n\n"),
                ),
                Outcome::Blocked => (1, no_servers),
                Outcome::DnsFailure(rcode) => (
                    1,
                    format!("{nslookup_server}** server can't find {name}: {rcode}\n\n"),
                ),
                Outcome::Refused => (1, "nslookup: read: Connection refused\n".to_string()),
                Outcome::Error(m) => other(m),
            };
            ("nslookup", status, text)
        }
    }
}

impl ClusterOps for SimCluster {
    async fn create_namespace(&self, name: &str) -> Result<(), ClusterError> {
        self.record(Call::CreateNamespace(name.to_string()));
        let mut st = self.state.lock().expect("lock");
        if let Some(labels) = st.namespaces.get(name)
            && !is_owned(Some(labels))
        {
            return Err(ClusterError::UnownedNamespace {
                namespace: name.to_string(),
            });
        }
        let mut labels = ownership_labels(&self.run_id);
        labels.insert(NAMESPACE_NAME_LABEL.to_string(), name.to_string());
        st.namespaces.insert(name.to_string(), labels);
        self.record_history(&mut st);
        Ok(())
    }

    async fn delete_namespace(&self, name: &str) -> Result<(), ClusterError> {
        self.record(Call::DeleteNamespace(name.to_string()));
        if !self.faults.delete_latency.is_zero() {
            tokio::time::sleep(self.faults.delete_latency).await;
        }
        let mut st = self.state.lock().expect("lock");
        let Some(labels) = st.namespaces.get(name) else {
            return Ok(());
        };
        if !is_owned(Some(labels)) {
            return Err(ClusterError::UnownedNamespace {
                namespace: name.to_string(),
            });
        }
        Self::remove_namespace(&mut st, name);
        self.record_history(&mut st);
        Ok(())
    }

    async fn apply(&self, docs: &[Document]) -> Result<(), ClusterError> {
        self.record(Call::Apply(docs.iter().map(key_of).collect()));
        let mut st = self.state.lock().expect("lock");
        for doc in docs {
            let key = key_of(doc);
            let mut value = doc.value.clone();
            inject_ownership(&mut value, &self.run_id);
            if doc.api_version() == "v1" && doc.kind() == "Namespace" {
                if let Some(existing) = st.namespaces.get(doc.name())
                    && !is_owned(Some(existing))
                {
                    return Err(ClusterError::UnownedNamespace {
                        namespace: doc.name().to_string(),
                    });
                }
                let mut labels: Labels = value
                    .pointer("/metadata/labels")
                    .and_then(|l| serde_json::from_value(l.clone()).ok())
                    .unwrap_or_default();
                labels.insert(NAMESPACE_NAME_LABEL.to_string(), doc.name().to_string());
                st.namespaces.insert(doc.name().to_string(), labels);
            } else if !is_cluster_scoped(doc.api_version(), doc.kind()) {
                let ns = doc.namespace().unwrap_or("default");
                if !st.namespaces.contains_key(ns) {
                    return Err(sim_error(
                        format!("apply {key}"),
                        format!("namespaces \"{ns}\" not found"),
                    ));
                }
            }
            st.objects.insert(
                key,
                Document {
                    source: doc.source.clone(),
                    value,
                },
            );
        }
        self.record_history(&mut st);
        Ok(())
    }

    async fn delete(&self, docs: &[Document]) -> Result<(), ClusterError> {
        self.record(Call::Delete(docs.iter().map(key_of).collect()));
        if !self.faults.delete_latency.is_zero() {
            tokio::time::sleep(self.faults.delete_latency).await;
        }
        let mut st = self.state.lock().expect("lock");
        for doc in docs.iter().rev() {
            st.objects.remove(&key_of(doc));
            if doc.api_version() == "v1" && doc.kind() == "Namespace" {
                Self::remove_namespace(&mut st, doc.name());
            }
        }
        self.record_history(&mut st);
        Ok(())
    }

    async fn label_namespace(
        &self,
        name: &str,
        change: LabelChange<'_>,
    ) -> Result<(), ClusterError> {
        self.record(Call::LabelNamespace(name.to_string()));
        let mut st = self.state.lock().expect("lock");
        let labels = st
            .namespaces
            .get_mut(name)
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("Namespace {name}"),
            })?;
        if !is_owned(Some(labels)) {
            return Err(ClusterError::UnownedNamespace {
                namespace: name.to_string(),
            });
        }
        change.apply_to(labels);
        self.record_history(&mut st);
        Ok(())
    }

    async fn label_pods(
        &self,
        endpoint: &EndpointRef,
        change: LabelChange<'_>,
    ) -> Result<(), ClusterError> {
        self.record(Call::LabelPods(endpoint.key()));
        let mut st = self.state.lock().expect("lock");
        let (cluster, _) =
            Self::model(&st, &Snapshot::default()).map_err(ClusterError::Unsupported)?;
        let id = cluster
            .endpoint(&endpoint.key())
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("pods of {endpoint}"),
            })?;
        let mut labels = st
            .pod_labels
            .get(&endpoint.key())
            .cloned()
            .unwrap_or_else(|| cluster.get(id).labels.clone());
        change.apply_to(&mut labels);
        st.pod_labels.insert(endpoint.key(), labels);
        self.record_history(&mut st);
        Ok(())
    }

    async fn wait_ready(
        &self,
        endpoint: &EndpointRef,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        self.record(Call::WaitReady(endpoint.key()));
        if !self.faults.never_ready.contains(&endpoint.key()) {
            let mut st = self.state.lock().expect("lock");
            let pods = Self::pods(&mut st).map_err(ClusterError::Unsupported)?;
            return if pods.iter().any(|p| p.endpoint == endpoint.key()) {
                Ok(())
            } else {
                Err(ClusterError::NotFound {
                    what: endpoint.to_string(),
                })
            };
        }
        tokio::time::sleep(timeout).await;
        let pods = {
            let mut st = self.state.lock().expect("lock");
            Self::pods(&mut st).map_err(ClusterError::Unsupported)?
        };
        let reasons = pods
            .iter()
            .filter(|p| p.endpoint == endpoint.key())
            .flat_map(|p| {
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": p.pod.name, "namespace": p.pod.namespace},
                    "spec": {"containers": [{"name": p.container, "image": p.image}]},
                    "status": {"phase": "Pending",
                        "conditions": [{"type": "Ready", "status": "False"}],
                        "containerStatuses": [{"name": p.container, "image": p.image, "imageID": "",
                            "ready": false, "restartCount": 0,
                            "state": {"waiting": {"reason": "ImagePullBackOff",
                                "message": format!("Back-off pulling image \"{}\"", p.image)}}}]}
                }))
                .expect("a valid pod");
                diagnose_pod(&pod)
            })
            .collect();
        Err(ClusterError::NotReady {
            what: endpoint.to_string(),
            waited: timeout,
            reasons,
        })
    }

    async fn ready_pods(&self, endpoint: &EndpointRef) -> Result<Vec<PodInfo>, ClusterError> {
        if self.faults.never_ready.contains(&endpoint.key()) {
            return Ok(Vec::new());
        }
        let mut st = self.state.lock().expect("lock");
        let pods = Self::pods(&mut st).map_err(ClusterError::Unsupported)?;
        Ok(pods
            .iter()
            .filter(|p| p.endpoint == endpoint.key())
            .map(|p| self.pod_info(&st, p))
            .collect())
    }

    async fn service(&self, namespace: &str, name: &str) -> Result<ServiceInfo, ClusterError> {
        let mut st = self.state.lock().expect("lock");
        let (cluster, _) =
            Self::model(&st, &Snapshot::default()).map_err(ClusterError::Unsupported)?;
        let service = cluster
            .service(namespace, name)
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("Service {namespace}/{name}"),
            })?;
        let ports = service
            .ports
            .iter()
            .map(|p| ServicePortInfo {
                name: p.name.clone(),
                port: p.port,
                protocol: p.protocol,
            })
            .collect();
        Ok(ServiceInfo {
            cluster_ip: Some(Self::service_ip(&mut st, &format!("{namespace}/{name}"))),
            ports,
        })
    }

    async fn exec(
        &self,
        pod: &PodRef,
        container: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        self.exec_timed(pod, container, Run::Command(command), timeout)
            .await
    }

    async fn run_probes(
        &self,
        pod: &PodRef,
        container: &str,
        specs: &[ProbeSpec],
        tool: ProbeTool,
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        self.exec_timed(pod, container, Run::Probes(specs, tool), timeout)
            .await
    }

    async fn add_probe_container(
        &self,
        pod: &PodRef,
        _image: &str,
        _timeout: Duration,
    ) -> Result<(), ClusterError> {
        self.record(Call::AddProbeContainer(pod.clone()));
        let mut st = self.state.lock().expect("lock");
        self.find_pod(&mut st, pod)?;
        st.probe_containers.insert(pod.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::parse_str;
    use crate::probe::{HttpMethod, parse_output};

    fn spec(id: &str, kind: ProbeKind, host: &str, port: Option<u16>) -> ProbeSpec {
        ProbeSpec {
            id: id.to_string(),
            kind,
            host: host.to_string(),
            port,
            timeout: Duration::from_secs(1),
        }
    }

    /// What the probe parser makes of the simulated tool output for each kind, tool and
    /// observation: the same observation (a DNS failure's message is the tool's).
    #[test]
    fn simulated_tool_output_reads_back_as_the_observation() {
        let kinds = [
            (ProbeKind::Tcp, Some(80)),
            (ProbeKind::Udp, Some(53)),
            (ProbeKind::Sctp, Some(9999)),
            (
                ProbeKind::Http {
                    method: HttpMethod::Post,
                    path: "/echo".into(),
                },
                Some(8080),
            ),
            (ProbeKind::Icmp, None),
            (
                ProbeKind::Dns {
                    name: "web.ns.svc.cluster.local".into(),
                },
                None,
            ),
        ];
        for tool in [ProbeTool::Agnhost, ProbeTool::Busybox] {
            for (kind, port) in &kinds {
                if *kind == ProbeKind::Sctp && tool == ProbeTool::Busybox {
                    continue;
                }
                let mut outcomes = vec![Outcome::Blocked, Outcome::Error("no route".into())];
                match kind {
                    ProbeKind::Http { .. } => outcomes.extend([
                        Outcome::HttpStatus(200),
                        Outcome::HttpStatus(503),
                        Outcome::Refused,
                    ]),
                    ProbeKind::Icmp => outcomes.push(Outcome::Allowed),
                    _ => outcomes.extend([Outcome::Allowed, Outcome::Refused]),
                }
                if matches!(kind, ProbeKind::Dns { .. }) {
                    outcomes.push(Outcome::DnsFailure("NXDOMAIN".into()));
                }
                for outcome in outcomes {
                    let probe = spec("p-1", kind.clone(), "10.96.0.10", *port);
                    let stdout = result_line(&probe, tool, &outcome) + "NPH-END\n";
                    let read = parse_output(&stdout, std::slice::from_ref(&probe)).unwrap();
                    let context = format!("{kind:?} with {tool}: {outcome:?} → {read:?}");
                    match (&outcome, &read[0].outcome) {
                        (Outcome::Error(_), Outcome::Error(m)) => {
                            assert!(m.contains("no route"), "{context}")
                        }
                        (Outcome::DnsFailure(_), Outcome::DnsFailure(m)) => {
                            assert!(m.ends_with("NXDOMAIN"), "{context}")
                        }
                        (expected, observed) => assert_eq!(expected, observed, "{context}"),
                    }
                }
            }
        }
    }

    #[tokio::test]
    async fn batches_are_answered_in_completion_order_and_checked_like_the_script() {
        let sim = SimCluster::new("t", Faults::default());
        let docs = parse_str(
            Path::new("t.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\n\
             spec: {containers: [{name: c, image: busybox:1.36, ports: [{containerPort: 80}]}]}\n\
             ---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: x}\n\
             spec: {podSelector: {}, policyTypes: [Ingress]}\n",
        )
        .unwrap();
        sim.create_namespace("x").await.unwrap();
        sim.apply(&docs).await.unwrap();
        let pod = PodRef {
            namespace: "x".into(),
            name: "a".into(),
        };
        let ip = sim
            .ready_pods(&EndpointRef {
                namespace: "x".into(),
                name: "a".into(),
                kind: crate::model::WorkloadKind::Pod,
                labels: Labels::new(),
            })
            .await
            .unwrap()[0]
            .ips[0]
            .to_string();
        let dns = |name: &str| {
            spec(
                name,
                ProbeKind::Dns {
                    name: format!("{name}.default.svc.cluster.local"),
                },
                &SIM_DNS_ADDRESS.to_string(),
                None,
            )
        };
        let probes = [
            spec("blocked", ProbeKind::Tcp, &ip, Some(80)),
            dns("kubernetes"),
            dns("nothing"),
        ];
        let out = sim
            .run_probes(
                &pod,
                "c",
                &probes,
                ProbeTool::Busybox,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        let ids: Vec<&str> = out
            .stdout
            .lines()
            .map(|l| l.split(' ').nth(1).unwrap_or(l))
            .collect();
        assert_eq!(ids, ["kubernetes", "nothing", "blocked", "NPH-END"]);
        let read = parse_output(&out.stdout, &probes).unwrap();
        assert_eq!(read[0].outcome, Outcome::Blocked);
        assert_eq!(read[0].detail, "[nc exit 1] nc: timed out");
        assert_eq!(read[1].outcome, Outcome::Allowed);
        assert_eq!(
            read[2].outcome,
            Outcome::DnsFailure("nothing.default.svc.cluster.local: NXDOMAIN".into())
        );
        // SCTP needs agnhost: refused before anything runs, as the script builder refuses it.
        let sctp = [spec("s", ProbeKind::Sctp, &ip, Some(80))];
        let err = sim
            .run_probes(&pod, "c", &sctp, ProbeTool::Busybox, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ClusterError::Probe(crate::probe::ProbeError::Unsupported { .. })
            ),
            "{err}"
        );
        assert_eq!(sim.probe_execs(), 2);
    }
}
