//! `netpol-harness analyze`: what do these manifests allow?

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use ipnet::IpNet;

use crate::analysis::{self, Analysis, UserOptions, View};
use crate::manifest;
use crate::oracle::ProbePort;
use crate::policy::{CalicoLine, Semantics};

/// Arguments of `analyze`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories (recursive *.yaml, *.yml, *.json). Repeatable.
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A port/protocol to predict, e.g. 80/TCP, 53/UDP, ICMP (a bare port is TCP). Repeatable.
    /// Default: every port some endpoint declares.
    #[arg(long = "probe", value_name = "PORT/PROTOCOL")]
    pub probes: Vec<ProbePort>,
    /// Addresses for endpoints whose manifests carry no status.podIP.
    #[arg(long, value_name = "CIDR", default_value = crate::model::DEFAULT_POD_CIDR)]
    pub pod_cidr: IpNet,
    /// The namespace of documents that name none, as with `kubectl apply -n` (a document naming
    /// another namespace is refused, as kubectl refuses it).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Analyze without other vendors' policy kinds (CiliumNetworkPolicy, Antrea policies, …)
    /// instead of refusing them; the output then says what it ignored.
    #[arg(long)]
    pub ignore_unsupported: bool,
    /// Only these clients: `namespace/name`, `*` as a wildcard, or a namespace. Repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub from: Vec<String>,
    /// Only these servers: `namespace/name`, `*` as a wildcard, or a namespace. Repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub to: Vec<String>,
    /// Ask about every probe on every server, not only on the ports it declares.
    #[arg(long)]
    pub all_ports: bool,
    /// How a Pod's traffic to itself is shown: `loopback` (to its own address it never leaves
    /// the pod, so policy does not apply) or `policed` (through a Service back to itself, as the
    /// upstream e2e suite probes it: policy applies).
    #[arg(long, value_enum, default_value_t = SelfTraffic::Loopback)]
    pub self_traffic: SelfTraffic,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AnalyzeFormat::Table)]
    pub output: AnalyzeFormat,
    /// Explain every cell (which policies selected each side, which rule decided).
    #[arg(long)]
    pub explain: bool,
    /// Predict what this Calico version line does (3.29, 3.30, 3.31, 3.32) instead of the APIs
    /// as written: its tiers, tie-break, named-port handling, and the kinds it ignores.
    #[arg(long, value_name = "VERSION")]
    pub calico_version: Option<CalicoLine>,
}

/// How `analyze` shows a Pod's traffic to itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SelfTraffic {
    /// `lo`: to its own address, inside the pod.
    Loopback,
    /// The verdict policy gives (through a Service back to itself).
    Policed,
}

/// Output formats of `analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnalyzeFormat {
    /// Truth tables, one per port/protocol.
    Table,
    /// One line per connection, grouped by probe, verdict and client.
    List,
    /// `{"probes": [...], "cells": [...]}`, one cell per line; reasons with --explain.
    Json,
    /// The allowed graph for Graphviz (`dot -Tsvg`).
    Dot,
}

/// Runs `analyze`.
pub fn run(args: Args) -> Result<ExitCode, String> {
    let semantics = args
        .calico_version
        .map_or(Semantics::Generic, Semantics::Calico);
    let docs = manifest::load_paths(&args.paths).map_err(|e| e.to_string())?;
    let options = UserOptions {
        pod_cidr: args.pod_cidr,
        namespace: args.namespace.clone(),
        ignore_unsupported: args.ignore_unsupported,
        semantics,
    };
    let (analysis, notes) = Analysis::for_user(docs, &options).map_err(|e| e.to_string())?;
    for warning in analysis
        .policies
        .warnings
        .iter()
        .cloned()
        .chain(notes.warnings(&analysis))
    {
        eprintln!("warning: {warning}");
    }
    if let Some(summary) = notes.summary() {
        eprintln!("note: {summary}");
    }
    let probes = if args.probes.is_empty() {
        ProbePort::declared(&analysis.cluster)
    } else {
        args.probes.clone()
    };
    let oracle = analysis.oracle();
    let view = View {
        analysis: &analysis,
        notes: &notes,
        oracle: &oracle,
        probes,
        from: analysis::select(&analysis.cluster, &args.from, "--from")?,
        to: analysis::select(&analysis.cluster, &args.to, "--to")?,
        all_ports: args.all_ports,
        explain: args.explain,
        self_policed: args.self_traffic == SelfTraffic::Policed,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.output {
        AnalyzeFormat::Table => view.write_tables(&mut out),
        AnalyzeFormat::List => view.write_list(&mut out),
        AnalyzeFormat::Json => view.write_json(&mut out),
        AnalyzeFormat::Dot => view.write_dot(&mut out),
    }
    .and_then(|()| out.flush())
    .map_err(|e| format!("writing output: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
