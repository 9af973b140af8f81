//! Manifests → model → policies → oracle in one call, and the `analyze` outputs built on it.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Serialize;
use serde_json::Value;

use crate::manifest::{self, Document, ManifestError, Source};
use crate::model::{BuildOptions, Cluster, EndpointId, WorkloadKind};
use crate::oracle::{Oracle, Packet, Peer, ProbePort, Uncertainty, Verdict};
use crate::policy::{Direction, PolicySet, Semantics};
use crate::report::truth_table::Grid;

/// A loaded cluster model with its policies.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Namespaces, endpoints, services.
    pub cluster: Cluster,
    /// Tiers and policies.
    pub policies: PolicySet,
}

impl Analysis {
    /// Loads manifests from files and directories and builds the model and policies.
    pub fn load(paths: &[PathBuf], pod_cidr: IpNet) -> Result<Analysis, ManifestError> {
        Analysis::load_as(paths, pod_cidr, Semantics::Generic)
    }

    /// Like [`Analysis::load`], predicting what `semantics` (e.g. one Calico version) does.
    pub fn load_as(
        paths: &[PathBuf],
        pod_cidr: IpNet,
        semantics: Semantics,
    ) -> Result<Analysis, ManifestError> {
        let docs = manifest::load_paths(paths)?;
        Analysis::from_documents_as(&docs, pod_cidr, semantics)
    }

    /// Builds the model and policies from documents already read.
    pub fn from_documents(
        docs: &[manifest::Document],
        pod_cidr: IpNet,
    ) -> Result<Analysis, ManifestError> {
        Analysis::from_documents_as(docs, pod_cidr, Semantics::Generic)
    }

    /// Like [`Analysis::from_documents`], predicting what `semantics` does.
    pub fn from_documents_as(
        docs: &[manifest::Document],
        pod_cidr: IpNet,
        semantics: Semantics,
    ) -> Result<Analysis, ManifestError> {
        let options = BuildOptions {
            pod_cidr,
            ..BuildOptions::default()
        };
        let cluster = Cluster::from_documents(docs, &options)?;
        let policies = PolicySet::from_documents_as(docs, semantics)?;
        Ok(Analysis { cluster, policies })
    }

    /// The oracle for this model.
    pub fn oracle(&self) -> Oracle<'_> {
        Oracle::new(&self.cluster, &self.policies)
    }

    /// Builds the model from a user's own documents, as `analyze` reads them: `-n` gives
    /// namespace-less documents a namespace, other vendors' policy kinds are refused (or, with
    /// `ignore_unsupported`, left out and listed), and what the answer does not cover is noted.
    pub fn for_user(
        mut docs: Vec<Document>,
        options: &UserOptions,
    ) -> Result<(Analysis, Notes), ManifestError> {
        if let Some(ns) = &options.namespace {
            for doc in &mut docs {
                set_namespace(doc, ns)?;
            }
        }
        let mut notes = Notes::default();
        let mut kept = Vec::with_capacity(docs.len());
        let mut policies = PolicySet::new(options.semantics);
        for doc in docs {
            let what = format!("{} {}", doc.api_version(), doc.kind());
            if foreign_policy(doc.api_version(), doc.kind()) {
                if !options.ignore_unsupported {
                    return Err(doc.unsupported(
                        "kind",
                        format!("{what} is another vendor's policy kind, which the oracle does not evaluate, so the answer would be wrong; remove it, or pass --ignore-unsupported to analyze without it"),
                    ));
                }
                notes
                    .ignored_policies
                    .entry(what)
                    .or_default()
                    .push(doc.source.clone());
                continue;
            }
            if !policies.add_document(&doc)? && !Cluster::models(doc.api_version(), doc.kind()) {
                *notes.unevaluated.entry(what).or_default() += 1;
            }
            kept.push(doc);
        }
        policies.check_tiers(&kept)?;
        let build = BuildOptions {
            pod_cidr: options.pod_cidr,
            ..BuildOptions::default()
        };
        let cluster = Cluster::from_documents(&kept, &build)?;
        let analysis = Analysis { cluster, policies };
        let by_source: HashMap<&Source, &Document> = kept.iter().map(|d| (&d.source, d)).collect();
        notes.assumed = analysis
            .cluster
            .endpoint_ids()
            .filter(|&id| {
                let e = analysis.cluster.get(id);
                let written = e
                    .source
                    .as_ref()
                    .and_then(|s| by_source.get(s))
                    .is_some_and(|d| {
                        d.value.pointer("/status/podIP").is_some()
                            || d.value.pointer("/status/podIPs").is_some()
                    });
                !e.host_network && !written
            })
            .collect();
        notes.pod_cidr = options.pod_cidr;
        if !analysis.cluster.endpoints.is_empty() {
            let labels: Vec<_> = analysis
                .cluster
                .endpoint_ids()
                .filter(|&id| !analysis.cluster.get(id).host_network)
                .map(|id| crate::policy::labels::policy_labels(&analysis.cluster, id))
                .collect();
            notes.selects_nothing = (0..analysis.policies.policies.len())
                .filter(|&p| {
                    let subject = &analysis.policies.policies[p].subject;
                    !labels.iter().any(|l| subject.matches(l))
                })
                .collect();
        }
        Ok((analysis, notes))
    }

    /// Whether a verdict may depend on addresses assumed from `--pod-cidr`: a policy that
    /// applied on either side has an address rule (ipBlock, `nets`) in that direction, and one of
    /// the two endpoints has an assumed address.
    pub fn depends_on_assumed(&self, notes: &Notes, packet: &Packet, verdict: &Verdict) -> bool {
        let assumed = |p: Peer| matches!(p, Peer::Endpoint(id) if notes.assumed.contains(&id));
        if notes.assumed.is_empty() || !(assumed(packet.from) || assumed(packet.to)) {
            return false;
        }
        [
            (Direction::Egress, &verdict.egress),
            (Direction::Ingress, &verdict.ingress),
        ]
        .iter()
        .any(|(d, v)| {
            v.selected_by.iter().any(|&p| {
                self.policies.policies[p]
                    .rules(*d)
                    .unwrap_or_default()
                    .iter()
                    .any(|r| {
                        [&r.source, &r.destination]
                            .iter()
                            .any(|e| !e.nets.is_empty() || !e.not_nets.is_empty())
                    })
            })
        })
    }
}

/// How `analyze` reads a user's manifests.
#[derive(Debug, Clone)]
pub struct UserOptions {
    /// Addresses for endpoints whose manifests carry no `status.podIP`.
    pub pod_cidr: IpNet,
    /// `-n/--namespace`: the namespace of documents that name none (as `kubectl -n` does).
    pub namespace: Option<String>,
    /// Leave other vendors' policy kinds out (listed in [`Notes::ignored_policies`]) instead of
    /// refusing them.
    pub ignore_unsupported: bool,
    /// Whose semantics to predict (the APIs as written, or one Calico version line).
    pub semantics: Semantics,
}

/// What an answer leaves out or takes on trust, for the user to see next to it.
#[derive(Debug, Clone)]
pub struct Notes {
    /// Other vendors' policy documents left out, by `apiVersion Kind`.
    pub ignored_policies: BTreeMap<String, Vec<Source>>,
    /// Documents of kinds the oracle neither models nor evaluates, counted by `apiVersion Kind`.
    pub unevaluated: BTreeMap<String, usize>,
    /// Policies (indices into [`PolicySet::policies`]) that select no endpoint.
    pub selects_nothing: Vec<usize>,
    /// Endpoints whose addresses were assumed from the pod CIDR (no `status.podIP`).
    pub assumed: Vec<EndpointId>,
    /// The pod CIDR the assumed addresses come from.
    pub pod_cidr: IpNet,
}

impl Default for Notes {
    fn default() -> Self {
        Notes {
            ignored_policies: BTreeMap::new(),
            unevaluated: BTreeMap::new(),
            selects_nothing: Vec::new(),
            assumed: Vec::new(),
            pod_cidr: crate::model::DEFAULT_POD_CIDR
                .parse()
                .expect("valid default CIDR"),
        }
    }
}

impl Notes {
    /// Warnings for standard error, one line each.
    pub fn warnings(&self, analysis: &Analysis) -> Vec<String> {
        let mut out = Vec::new();
        for (what, sources) in &self.ignored_policies {
            let at: Vec<String> = sources.iter().map(Source::to_string).collect();
            out.push(format!(
                "ignored {} {what} document(s), which the oracle does not evaluate (--ignore-unsupported): {}",
                sources.len(),
                at.join(", ")
            ));
        }
        for &p in &self.selects_nothing {
            let policy = &analysis.policies.policies[p];
            out.push(format!(
                "{} ({}) selects no endpoint of these manifests, so it changes nothing here{}",
                policy.id,
                policy.source,
                match &policy.id.namespace {
                    Some(ns) => format!(" (it is in namespace `{ns}`; -n/--namespace sets the namespace of documents that name none)"),
                    None => String::new(),
                }
            ));
        }
        out
    }

    /// One line on the documents of kinds that are neither modelled nor policy, if there are any.
    pub fn summary(&self) -> Option<String> {
        if self.unevaluated.is_empty() {
            return None;
        }
        let kinds: Vec<String> = self
            .unevaluated
            .iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        Some(format!(
            "not evaluated (kinds that do not change pod-to-pod policy here): {}",
            kinds.join(", ")
        ))
    }

    /// The line over the output when part of the input was left out, if any was.
    pub fn banner(&self) -> Option<String> {
        if self.ignored_policies.is_empty() {
            return None;
        }
        let kinds: Vec<&str> = self.ignored_policies.keys().map(String::as_str).collect();
        Some(format!(
            "NOTE: this answer IGNORES {} (--ignore-unsupported); a cluster enforcing them may block more",
            kinds.join(", ")
        ))
    }

    /// The line under a table with cells that depend on assumed addresses.
    pub fn assumed_line(&self, cluster: &Cluster) -> String {
        let list: Vec<String> = self
            .assumed
            .iter()
            .map(|&id| {
                let e = cluster.get(id);
                format!("{} {}", e.key(), e.ip())
            })
            .collect();
        format!(
            "* depends on pod addresses assumed from --pod-cidr {} (the manifests carry no status.podIP): {}",
            self.pod_cidr,
            list.join(", ")
        )
    }
}

/// Kinds that are cluster-scoped: `-n` does not give them a namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "Node",
    "GlobalNetworkPolicy",
    "GlobalNetworkSet",
    "Tier",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
    "ClusterNetworkPolicy",
    "CiliumClusterwideNetworkPolicy",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
];

/// `kubectl -n NS` for one document: sets `metadata.namespace` when absent; refuses a different
/// one, as kubectl does.
fn set_namespace(doc: &mut Document, ns: &str) -> Result<(), ManifestError> {
    if CLUSTER_SCOPED.contains(&doc.kind()) {
        return Ok(());
    }
    match doc.namespace() {
        Some(own) if own != ns => Err(doc.invalid(
            "metadata.namespace",
            format!("the document's namespace `{own}` does not match `{ns}` given with -n/--namespace (kubectl refuses this too)"),
        )),
        Some(_) => Ok(()),
        None => {
            if let Value::Object(object) = &mut doc.value {
                let metadata = object
                    .entry("metadata")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Value::Object(m) = metadata {
                    m.insert("namespace".into(), Value::String(ns.to_string()));
                }
            }
            Ok(())
        }
    }
}

/// API groups of other network-policy implementations, whose `…Policy` kinds the oracle does
/// not evaluate.
const FOREIGN_POLICY_GROUPS: &[&str] = &[
    "cilium.io",
    "crd.antrea.io",
    "security.antrea.tanzu.vmware.com",
    "k8s.ovn.org",
    "networking.gke.io",
    "security.istio.io",
];

/// Whether a kind is another implementation's network policy: anything named like a network
/// policy or firewall outside the groups the oracle reads, and any `…Policy` of a known CNI's
/// group.
fn foreign_policy(api_version: &str, kind: &str) -> bool {
    let group = match api_version.split_once('/') {
        Some((g, _)) => g,
        None => "",
    };
    let ours = matches!(
        group,
        "networking.k8s.io"
            | "extensions"
            | "projectcalico.org"
            | "crd.projectcalico.org"
            | "policy.networking.k8s.io"
    );
    !ours
        && (kind.contains("NetworkPolic")
            || kind.contains("Firewall")
            || (FOREIGN_POLICY_GROUPS.contains(&group) && kind.ends_with("Policy")))
}

/// What `analyze` shows: which endpoints on each side, which probes, and how much.
pub struct View<'a> {
    /// The model and policies.
    pub analysis: &'a Analysis,
    /// What the answer leaves out or assumes.
    pub notes: &'a Notes,
    /// The oracle over `analysis`.
    pub oracle: &'a Oracle<'a>,
    /// The probes, one table each.
    pub probes: Vec<ProbePort>,
    /// Clients (rows).
    pub from: Vec<EndpointId>,
    /// Servers (columns).
    pub to: Vec<EndpointId>,
    /// Probe every destination on every probe, not only on the ports it serves.
    pub all_ports: bool,
    /// Explain each cell.
    pub explain: bool,
    /// Show a Pod's traffic to itself as policy judges it (through a Service back to itself, as
    /// the upstream e2e suite probes it) instead of as loopback.
    pub self_policed: bool,
}

/// One cell as `analyze` shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Shown {
    /// The destination serves no such port: nothing to ask (`-`).
    NotServed,
    /// A pod to its own address: loopback inside the pod, where policy does not apply (`lo`).
    Loopback,
    /// The oracle's verdict.
    Verdict {
        /// The prediction (one possible result when `uncertain`).
        allowed: bool,
        /// Why the manifests leave it open, if they do.
        uncertain: Option<Uncertainty>,
        /// It may depend on addresses assumed from `--pod-cidr`.
        assumed: bool,
    },
}

impl Shown {
    /// The table mark: `.`, `X`, `?`, `-`, `lo`, with `*` when it depends on assumed addresses.
    pub fn mark(&self) -> String {
        match self {
            Shown::NotServed => "-".into(),
            Shown::Loopback => "lo".into(),
            Shown::Verdict {
                allowed,
                uncertain,
                assumed,
            } => {
                let m = match (uncertain, allowed) {
                    (Some(_), _) => "?",
                    (None, true) => ".",
                    (None, false) => "X",
                };
                if *assumed {
                    format!("{m}*")
                } else {
                    m.to_string()
                }
            }
        }
    }
}

/// The explanation of a loopback cell.
const LOOPBACK: &str = "a pod's traffic to its own address stays inside the pod (loopback): network policy does not apply";

/// The legend under `analyze` tables.
pub const LEGEND: &str = "legend: rows = from (client), columns = to (server); . allowed, X blocked, ? unknown (see --explain), - not served (the server declares no such port; --all-ports asks anyway), lo a pod to its own address (loopback, policy does not apply), [ ] between replicas of one workload";

impl View<'_> {
    /// Whether `to` serves `probe` (ICMP always; with `all_ports` everything).
    pub fn serves(&self, to: EndpointId, probe: ProbePort) -> bool {
        self.all_ports
            || probe.port.is_none()
            || self
                .analysis
                .cluster
                .get(to)
                .ports
                .iter()
                .any(|p| Some(p.port) == probe.port && p.protocol == probe.protocol)
    }

    /// One cell, with the explanation when `explain` is set (or `with_reason`).
    pub fn cell(
        &self,
        from: EndpointId,
        to: EndpointId,
        probe: ProbePort,
        with_reason: bool,
    ) -> (Shown, Option<String>) {
        if !self.serves(to, probe) {
            return (Shown::NotServed, None);
        }
        if from == to
            && !self.self_policed
            && self.analysis.cluster.get(from).kind == WorkloadKind::Pod
        {
            return (Shown::Loopback, with_reason.then(|| LOOPBACK.to_string()));
        }
        let packet = Oracle::packet(from, to, probe);
        let verdict = self.oracle.verdict(&packet);
        let assumed = self
            .analysis
            .depends_on_assumed(self.notes, &packet, &verdict);
        let reason = with_reason.then(|| {
            let mut r = self.oracle.explain(&packet, &verdict);
            if assumed {
                r.push_str(&format!(
                    "; depends on addresses assumed from --pod-cidr {} ({} {}, {} {})",
                    self.notes.pod_cidr,
                    self.oracle.peer_name(packet.from),
                    self.analysis.cluster.get(from).ip(),
                    self.oracle.peer_name(packet.to),
                    self.analysis.cluster.get(to).ip()
                ));
            }
            r
        });
        (
            Shown::Verdict {
                allowed: verdict.allowed,
                uncertain: verdict.uncertain,
                assumed,
            },
            reason,
        )
    }

    fn key(&self, id: EndpointId) -> String {
        self.analysis.cluster.get(id).key()
    }

    /// The tables (one per probe), legend and notes.
    pub fn write_tables(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if let Some(banner) = self.notes.banner() {
            writeln!(out, "{banner}\n")?;
        }
        if self.analysis.cluster.endpoints.is_empty() {
            return writeln!(
                out,
                "no endpoints: the manifests declare no pods or workloads"
            );
        }
        if self.probes.is_empty() {
            return writeln!(
                out,
                "no probes: no endpoint declares a port; pass --probe PORT/PROTOCOL"
            );
        }
        let rows: Vec<String> = self.from.iter().map(|&id| self.key(id)).collect();
        let columns = column_labels(&self.analysis.cluster, &self.to);
        let mut any_assumed = false;
        for &probe in &self.probes {
            let mut explained = Vec::new();
            let cells = self
                .from
                .iter()
                .map(|&f| {
                    self.to
                        .iter()
                        .map(|&t| {
                            let (shown, reason) = self.cell(f, t, probe, self.explain);
                            any_assumed |= matches!(shown, Shown::Verdict { assumed: true, .. });
                            let mark = shown.mark();
                            if let Some(reason) = reason {
                                explained.push(format!(
                                    "  {mark} {} → {}: {reason}",
                                    self.key(f),
                                    self.key(t)
                                ));
                            }
                            if f == t && shown != Shown::Loopback && shown != Shown::NotServed {
                                format!("[{mark}]")
                            } else {
                                mark
                            }
                        })
                        .collect()
                })
                .collect();
            let grid = Grid {
                title: probe.to_string(),
                rows: &rows,
                columns: &columns,
                cells,
            };
            out.write_all(grid.render().as_bytes())?;
            writeln!(out)?;
            if !explained.is_empty() {
                writeln!(out, "{}\n", explained.join("\n"))?;
            }
        }
        writeln!(out, "{LEGEND}")?;
        if any_assumed {
            writeln!(out, "{}", self.notes.assumed_line(&self.analysis.cluster))?;
        }
        Ok(())
    }

    /// One line per allowed, unknown or blocked connection, grouped by probe, verdict and client.
    pub fn write_list(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if let Some(banner) = self.notes.banner() {
            writeln!(out, "{banner}\n")?;
        }
        let mut any_assumed = false;
        for &probe in &self.probes {
            writeln!(out, "{probe}")?;
            for (title, wanted) in [("allowed", 0), ("unknown", 1), ("blocked", 2)] {
                let mut lines = Vec::new();
                for &f in &self.from {
                    let mut servers = Vec::new();
                    for &t in &self.to {
                        let (shown, reason) = self.cell(f, t, probe, self.explain);
                        let Shown::Verdict {
                            allowed,
                            uncertain,
                            assumed,
                        } = shown
                        else {
                            continue;
                        };
                        let group = match (uncertain, allowed) {
                            (Some(_), _) => 1,
                            (None, true) => 0,
                            (None, false) => 2,
                        };
                        if group != wanted {
                            continue;
                        }
                        any_assumed |= assumed;
                        let star = if assumed { "*" } else { "" };
                        match reason {
                            Some(r) => lines.push(format!(
                                "    {} → {}{star}: {r}",
                                self.key(f),
                                self.key(t)
                            )),
                            None if f == t => {
                                servers.push(format!("{}{star} (between replicas)", self.key(t)))
                            }
                            None => servers.push(format!("{}{star}", self.key(t))),
                        }
                    }
                    if !servers.is_empty() {
                        lines.push(format!("    {} → {}", self.key(f), servers.join(", ")));
                    }
                }
                if !lines.is_empty() {
                    writeln!(out, "  {title}:\n{}", lines.join("\n"))?;
                }
            }
        }
        if any_assumed {
            writeln!(out, "{}", self.notes.assumed_line(&self.analysis.cluster))?;
        }
        Ok(())
    }

    /// The allowed graph in Graphviz `dot`: an edge per client and server, labelled with the
    /// probes it allows (dashed when the manifests leave it open).
    pub fn write_dot(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "digraph allowed {{")?;
        if let Some(banner) = self.notes.banner() {
            writeln!(out, "  // {banner}")?;
        }
        writeln!(out, "  rankdir=LR;\n  node [shape=box];")?;
        let mut nodes: Vec<EndpointId> = self.from.iter().chain(&self.to).copied().collect();
        nodes.sort();
        nodes.dedup();
        for &n in &nodes {
            writeln!(out, "  {};", dot_quote(&self.key(n)))?;
        }
        for &f in &self.from {
            for &t in &self.to {
                if f == t {
                    continue;
                }
                let mut sure = Vec::new();
                let mut open = Vec::new();
                for &probe in &self.probes {
                    if let (
                        Shown::Verdict {
                            allowed, uncertain, ..
                        },
                        _,
                    ) = self.cell(f, t, probe, false)
                    {
                        match (uncertain, allowed) {
                            (Some(_), _) => open.push(probe.to_string()),
                            (None, true) => sure.push(probe.to_string()),
                            (None, false) => {}
                        }
                    }
                }
                for (probes, style) in [(sure, ""), (open, ", style=dashed")] {
                    if !probes.is_empty() {
                        writeln!(
                            out,
                            "  {} -> {} [label={}{style}];",
                            dot_quote(&self.key(f)),
                            dot_quote(&self.key(t)),
                            dot_quote(&probes.join(", "))
                        )?;
                    }
                }
            }
        }
        writeln!(out, "}}")
    }

    /// The cells as one JSON document, written cell by cell (never the whole matrix in memory).
    pub fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let head = serde_json::json!({
            "probes": self.probes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "ignored": self.notes.ignored_policies.keys().collect::<Vec<_>>(),
            "assumed_addresses": self
                .notes
                .assumed
                .iter()
                .map(|&id| (self.key(id), self.analysis.cluster.get(id).ip().to_string()))
                .collect::<BTreeMap<_, _>>(),
        });
        let head = serde_json::to_string(&head)?;
        // `{…,"cells":[` then one cell per line, then `]}`.
        write!(out, "{},\"cells\":[", &head[..head.len() - 1])?;
        let mut first = true;
        for &probe in &self.probes {
            for &f in &self.from {
                for &t in &self.to {
                    let (shown, reason) = self.cell(f, t, probe, self.explain);
                    let (allowed, uncertain, assumed, loopback) = match shown {
                        Shown::NotServed => continue,
                        Shown::Loopback => (true, None, false, true),
                        Shown::Verdict {
                            allowed,
                            uncertain,
                            assumed,
                        } => (allowed, uncertain, assumed, false),
                    };
                    let cell = CellJson {
                        from: self.key(f),
                        to: self.key(t),
                        port: probe.port,
                        protocol: probe.protocol.to_string(),
                        allowed,
                        uncertain: uncertain.map(|u| u.label()),
                        loopback,
                        assumed_address: assumed,
                        reason,
                    };
                    out.write_all(if first { b"\n" } else { b",\n" })?;
                    first = false;
                    serde_json::to_writer(&mut *out, &cell)?;
                }
            }
        }
        writeln!(out, "\n]}}")
    }
}

/// One cell of `analyze --output json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellJson {
    /// `namespace/name` of the client.
    pub from: String,
    /// `namespace/name` of the server.
    pub to: String,
    /// The port (absent for ICMP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The protocol.
    pub protocol: String,
    /// The prediction (one possible result when `uncertain` is set).
    pub allowed: bool,
    /// `unknown (DNS)` or `either` when the manifests leave the result open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncertain: Option<&'static str>,
    /// A pod to its own address: loopback, where policy does not apply.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub loopback: bool,
    /// The verdict may depend on addresses assumed from `--pod-cidr`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub assumed_address: bool,
    /// Why (with `--explain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Column headers: each endpoint's name, or `namespace/name` where names repeat.
fn column_labels(cluster: &Cluster, ids: &[EndpointId]) -> Vec<String> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for &id in ids {
        *count.entry(cluster.get(id).name.as_str()).or_default() += 1;
    }
    ids.iter()
        .map(|&id| {
            let e = cluster.get(id);
            if count[e.name.as_str()] > 1 {
                e.key()
            } else {
                e.name.clone()
            }
        })
        .collect()
}

/// A Graphviz quoted string.
fn dot_quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                q.push('\\');
                q.push(c);
            }
            c if c.is_control() => q.push(' '),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Endpoints whose `namespace/name` matches one of `patterns` (all when there are none): `ns/name`
/// with `*` as a wildcard, or a bare namespace. A pattern that matches nothing is an error.
pub fn select(
    cluster: &Cluster,
    patterns: &[String],
    flag: &str,
) -> Result<Vec<EndpointId>, String> {
    if patterns.is_empty() {
        return Ok(cluster.endpoint_ids().collect());
    }
    let mut chosen = vec![false; cluster.endpoints.len()];
    for pattern in patterns {
        let full = if pattern.contains('/') {
            pattern.clone()
        } else {
            format!("{pattern}/*")
        };
        let mut any = false;
        for id in cluster.endpoint_ids() {
            if glob(&full, &cluster.get(id).key()) {
                chosen[id.0] = true;
                any = true;
            }
        }
        if !any {
            let known: Vec<String> = cluster.endpoints.iter().take(20).map(|e| e.key()).collect();
            return Err(format!(
                "{flag} {pattern}: no endpoint matches (endpoints: {}{})",
                known.join(", "),
                if cluster.endpoints.len() > 20 {
                    ", …"
                } else {
                    ""
                }
            ));
        }
    }
    Ok(cluster.endpoint_ids().filter(|id| chosen[id.0]).collect())
}

/// `*`-wildcard match of the whole of `text`.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("a/*", "a/web"));
        assert!(!glob("a/*", "ab/web"));
        assert!(glob("*/web", "b/web"));
        assert!(glob("a/w*b", "a/web"));
        assert!(!glob("a/w*b", "a/webs"));
        assert!(glob("a/web", "a/web"));
        assert!(!glob("a/we", "a/web"));
    }

    #[test]
    fn other_vendors_policies_are_recognised_and_ours_are_not() {
        assert!(foreign_policy("cilium.io/v2", "CiliumNetworkPolicy"));
        assert!(foreign_policy(
            "cilium.io/v2",
            "CiliumClusterwideNetworkPolicy"
        ));
        assert!(foreign_policy(
            "crd.antrea.io/v1beta1",
            "ClusterNetworkPolicy"
        ));
        assert!(foreign_policy("crd.antrea.io/v1beta1", "NetworkPolicy"));
        assert!(foreign_policy("k8s.ovn.org/v1", "EgressFirewall"));
        assert!(!foreign_policy("networking.k8s.io/v1", "NetworkPolicy"));
        assert!(!foreign_policy(
            "policy.networking.k8s.io/v1alpha2",
            "ClusterNetworkPolicy"
        ));
        assert!(!foreign_policy("v1", "ConfigMap"));
        assert!(!foreign_policy("cilium.io/v2", "CiliumNode"));
    }
}
