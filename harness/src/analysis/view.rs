//! How `analyze` shows an answer: truth tables, one line per connection, JSON, and dot.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use serde::Serialize;

use super::{Analysis, Notes};
use crate::model::{Cluster, EndpointId, WorkloadKind};
use crate::oracle::{Matrix, Oracle, ProbePort, Uncertainty};
use crate::report::truth_table::Grid;

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
    /// The verdicts of `probes`, over identities ([`Oracle::matrix`]), computed on first use:
    /// cells without an explanation are read from it.
    matrix: OnceCell<Matrix>,
}

impl<'a> View<'a> {
    /// A view of every endpoint on both sides for `probes`, asking only on served ports, without
    /// explanations, pods to themselves as loopback (set the fields to change that).
    pub fn new(
        analysis: &'a Analysis,
        notes: &'a Notes,
        oracle: &'a Oracle<'a>,
        probes: Vec<ProbePort>,
    ) -> View<'a> {
        View {
            analysis,
            notes,
            oracle,
            probes,
            from: analysis.cluster.endpoint_ids().collect(),
            to: analysis.cluster.endpoint_ids().collect(),
            all_ports: false,
            explain: false,
            self_policed: false,
            matrix: OnceCell::new(),
        }
    }
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
        let assumed = !self.notes.assumed.is_empty()
            && self
                .analysis
                .depends_on_assumed(self.oracle, self.notes, &packet);
        let matrix = self.matrix.get_or_init(|| self.oracle.matrix(&self.probes));
        if !with_reason && let Some(p) = matrix.probes.iter().position(|&p| p == probe) {
            return (
                Shown::Verdict {
                    allowed: matrix.allowed(p, from, to),
                    uncertain: matrix.uncertain(p, from, to),
                    assumed,
                },
                None,
            );
        }
        let verdict = self.oracle.verdict(&packet);
        let reason = with_reason.then(|| {
            let mut r = self.oracle.explain(&packet, &verdict);
            let misses = self.analysis.near_misses(&packet, &verdict);
            if !misses.is_empty() {
                r.push_str(&format!("; near miss: {}", misses.join("; near miss: ")));
            }
            if assumed {
                let cluster = &self.analysis.cluster;
                let which: Vec<String> = [(packet.from, from), (packet.to, to)]
                    .into_iter()
                    .filter(|(_, id)| self.notes.assumed.binary_search(id).is_ok())
                    .map(|(peer, id)| {
                        format!(
                            "{} {} from {}",
                            self.oracle.peer_name(peer),
                            cluster.get(id).ip(),
                            self.notes.assumed_origin(cluster, id)
                        )
                    })
                    .collect();
                r.push_str(&format!(
                    "; depends on assumed addresses ({})",
                    which.join(", ")
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

    /// `namespace/name` of an endpoint.
    pub(super) fn key(&self, id: EndpointId) -> String {
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
            let mut groups = Vec::new();
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
                    groups.push(format!("  {title}:\n{}", lines.join("\n")));
                }
            }
            if !groups.is_empty() {
                writeln!(out, "{probe}\n{}", groups.join("\n"))?;
            }
        }
        if any_assumed {
            writeln!(out, "{}", self.notes.assumed_line(&self.analysis.cluster))?;
        }
        Ok(())
    }

    /// The allowed graph in Graphviz `dot`: an edge per client and server, labelled with the
    /// probes it allows (dashed when the manifests leave it open), a probe marked `*` when the
    /// verdict may rest on addresses assumed from `--pod-cidr` (listed in the graph's label), as
    /// the tables mark them.
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
        let mut any_assumed = false;
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
                            allowed,
                            uncertain,
                            assumed,
                        },
                        _,
                    ) = self.cell(f, t, probe, false)
                    {
                        let shown = if assumed {
                            format!("{probe}*")
                        } else {
                            probe.to_string()
                        };
                        match (uncertain, allowed) {
                            (Some(_), _) => open.push(shown),
                            (None, true) => sure.push(shown),
                            (None, false) => continue,
                        }
                        any_assumed |= assumed;
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
        if any_assumed {
            writeln!(
                out,
                "  labelloc=b;\n  label={};",
                dot_quote(&self.notes.assumed_line(&self.analysis.cluster))
            )?;
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
