//! `netpol-harness analyze`: what do these manifests allow?

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use ipnet::IpNet;

use super::CliError;
use crate::analysis::{self, Analysis, Notes, ProbeTo, UserOptions, View};
use crate::escape::{self, TerminalWriter};
use crate::exit_codes;
use crate::input;
use crate::manifest;
use crate::oracle::{Oracle, ProbePort};
use crate::policy::{CalicoLine, Semantics};

/// Arguments of `analyze`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories (recursive *.yaml, *.yml, *.json); `-` reads standard
    /// input. Repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        required_unless_present = "diff",
        conflicts_with = "diff",
        value_name = "PATH"
    )]
    pub paths: Vec<PathBuf>,
    /// Compare: the manifests before (files or directories), against those after `--against`;
    /// prints the cells whose verdict changes, with both explanations.
    #[arg(long, num_args = 1.., value_name = "OLD", requires = "against")]
    pub diff: Vec<PathBuf>,
    /// With --diff: the manifests after.
    #[arg(long, num_args = 1.., value_name = "NEW", requires = "diff")]
    pub against: Vec<PathBuf>,
    /// With --diff: exit 2 when any cell changes.
    #[arg(long, requires = "diff")]
    pub fail_on_change: bool,
    /// With --diff: exit 2 when a connection is allowed after that was not before.
    #[arg(long, requires = "diff")]
    pub fail_on_new_allow: bool,
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
    /// Instead of the matrix, who can reach this: `svc:NAMESPACE/NAME:PORT[/PROTOCOL]` (a
    /// Service, resolved to its backends and target ports as `plan` does) or `ip:ADDRESS` (an
    /// address outside the cluster, asked on each --probe). Repeatable.
    #[arg(long, value_name = "TARGET")]
    pub probe_to: Vec<ProbeTo>,
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

/// Standard output, buffered; with `guard` through [`TerminalWriter`] (text for a terminal, where
/// names from the manifests must not carry control sequences). JSON and dot quote for themselves.
fn stdout(guard: bool) -> Box<dyn Write> {
    let out = std::io::BufWriter::new(std::io::stdout());
    if guard {
        Box::new(TerminalWriter::new(out))
    } else {
        Box::new(out)
    }
}

/// The documents of `paths`, where `-` is standard input (read once, through the same size, line
/// and UTF-8 checks as a file).
fn load_docs(paths: &[PathBuf]) -> Result<Vec<manifest::Document>, String> {
    let stdin = Path::new("-");
    let files: Vec<PathBuf> = paths.iter().filter(|p| *p != stdin).cloned().collect();
    let mut docs = manifest::load_paths(&files).map_err(|e| e.to_string())?;
    match paths.iter().filter(|p| *p == stdin).count() {
        0 => {}
        1 => {
            let name = Path::new("<stdin>");
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(input::MANIFEST.max_bytes + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("reading standard input: {e}"))?;
            let text = input::text(name, bytes, input::MANIFEST).map_err(|e| e.to_string())?;
            docs.extend(manifest::parse_str(name, &text).map_err(|e| e.to_string())?);
        }
        _ => return Err("-f -: standard input can be read only once".into()),
    }
    Ok(docs)
}

/// Loads one set of manifests as `args` say, printing its warnings (prefixed with `label`).
fn load(args: &Args, paths: &[PathBuf], label: &str) -> Result<(Analysis, Notes), String> {
    let semantics = args
        .calico_version
        .map_or(Semantics::Generic, Semantics::Calico);
    let docs = load_docs(paths)?;
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
        eprintln!(
            "warning: {}",
            escape::terminal(&format!("{label}{warning}"))
        );
    }
    if let Some(summary) = notes.summary() {
        eprintln!("note: {}", escape::terminal(&format!("{label}{summary}")));
    }
    Ok((analysis, notes))
}

/// The view of one loaded set with `probes`.
fn view<'a>(
    args: &Args,
    analysis: &'a Analysis,
    notes: &'a Notes,
    oracle: &'a Oracle<'a>,
    probes: Vec<ProbePort>,
) -> Result<View<'a>, String> {
    Ok(View {
        analysis,
        notes,
        oracle,
        probes,
        from: analysis::select(&analysis.cluster, &args.from, "--from")?,
        to: analysis::select(&analysis.cluster, &args.to, "--to")?,
        all_ports: args.all_ports,
        explain: args.explain,
        self_policed: args.self_traffic == SelfTraffic::Policed,
    })
}

/// `analyze --diff OLD... --against NEW...`.
fn run_diff(args: &Args) -> Result<ExitCode, String> {
    let (old, old_notes) = load(args, &args.diff, "before: ")?;
    let (new, new_notes) = load(args, &args.against, "after: ")?;
    let probes = if args.probes.is_empty() {
        let mut p = ProbePort::declared(&old.cluster);
        p.extend(ProbePort::declared(&new.cluster));
        p.sort();
        p.dedup();
        p
    } else {
        args.probes.clone()
    };
    let (old_oracle, new_oracle) = (old.oracle(), new.oracle());
    let before = view(args, &old, &old_notes, &old_oracle, probes.clone())?;
    let after = view(args, &new, &new_notes, &new_oracle, probes)?;
    let json = args.output == AnalyzeFormat::Json;
    let mut out = stdout(!json);
    let summary = analysis::write_diff(&before, &after, json, &mut out)
        .and_then(|s| out.flush().map(|()| s))
        .map_err(|e| format!("writing output: {e}"))?;
    let fail = (args.fail_on_change && summary.changed > 0)
        || (args.fail_on_new_allow && summary.new_allows > 0);
    Ok(if fail {
        ExitCode::from(exit_codes::CHANGED)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs `analyze`.
pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    analyze(args).map_err(CliError::Usage)
}

/// `analyze` itself (its messages are still strings: they move to typed errors with the
/// analysis module's own error type).
fn analyze(args: Args) -> Result<ExitCode, String> {
    if !args.diff.is_empty() {
        return run_diff(&args);
    }
    let (analysis, notes) = load(&args, &args.paths, "")?;
    let probes = if args.probes.is_empty() {
        ProbePort::declared(&analysis.cluster)
    } else {
        args.probes.clone()
    };
    let oracle = analysis.oracle();
    let view = view(&args, &analysis, &notes, &oracle, probes)?;
    if !args.probe_to.is_empty() {
        if view.probes.is_empty() && args.probe_to.iter().any(|t| matches!(t, ProbeTo::Ip(_))) {
            return Err("--probe-to ip:ADDRESS is asked on each --probe; pass --probe PORT".into());
        }
        let targets = view.reach(&args.probe_to);
        let json = args.output == AnalyzeFormat::Json;
        let mut out = stdout(!json);
        return if json {
            serde_json::to_writer(&mut out, &serde_json::json!({ "targets": targets }))
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        } else {
            view.write_reach(&targets, &mut out)
        }
        .and_then(|()| out.flush())
        .map(|()| ExitCode::SUCCESS)
        .map_err(|e| format!("writing output: {e}"));
    }
    let mut out = stdout(matches!(
        args.output,
        AnalyzeFormat::Table | AnalyzeFormat::List
    ));
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
