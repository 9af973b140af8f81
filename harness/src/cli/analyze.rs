//! `netpol-harness analyze`: what do these manifests allow?

use std::collections::HashSet;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use clap::ValueEnum;
use ipnet::IpNet;

use super::CliError;
use crate::analysis::live::{self, LiveError};
use crate::analysis::{self, Analysis, NoMatch, Notes, ProbeTo, UserOptions, View};
use crate::escape::{self, TerminalWriter};
use crate::exit_codes;
use crate::input::{self, InputError};
use crate::manifest::{self, Document, ManifestError};
use crate::oracle::{Oracle, ProbePort};
use crate::policy::{CalicoLine, Semantics};

/// Arguments of `analyze`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories (recursive *.yaml, *.yml, *.json); `-` reads standard
    /// input. Repeatable. With --context, they are laid over what the cluster holds (a file's
    /// object replaces the cluster's object of the same kind, namespace and name).
    #[arg(
        short = 'f',
        long = "filename",
        required_unless_present_any = ["diff", "context"],
        conflicts_with = "diff",
        value_name = "PATH"
    )]
    pub paths: Vec<PathBuf>,
    /// Read a live cluster through this kubeconfig context: namespaces, pods (real addresses),
    /// nodes, service accounts, Services and every policy kind, with list calls only (nothing
    /// is written, so any context is accepted).
    #[arg(long, value_name = "CONTEXT", conflicts_with = "diff")]
    pub context: Option<String>,
    /// Compare: the manifests before (files, directories, or `context:NAME` for a live
    /// cluster), against those after `--against`; prints the cells whose verdict changes, with
    /// both explanations.
    #[arg(long, num_args = 1.., value_name = "OLD", requires = "against")]
    pub diff: Vec<Operand>,
    /// With --diff: the manifests after (files, directories, `context:NAME`).
    #[arg(long, num_args = 1.., value_name = "NEW", requires = "diff")]
    pub against: Vec<Operand>,
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
    /// The namespace of file documents that name none, as with `kubectl apply -n` (a document
    /// naming another namespace is refused, as kubectl refuses it). Objects read from a cluster
    /// keep their own.
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

/// One operand of `--diff` / `--against`: a file or directory, or `context:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// A manifest file or directory (`-`: standard input).
    Path(PathBuf),
    /// A live cluster, by kubeconfig context.
    Context(String),
}

/// `context:` with no name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`context:` needs a kubeconfig context name (context:NAME); write ./context: for a file")]
pub struct EmptyContext;

impl FromStr for Operand {
    type Err = EmptyContext;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("context:") {
            Some("") => Err(EmptyContext),
            Some(name) => Ok(Operand::Context(name.to_string())),
            None => Ok(Operand::Path(PathBuf::from(s))),
        }
    }
}

/// Why `analyze` failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// A manifest cannot be read, or says something the harness refuses.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Standard input cannot be read.
    #[error("reading standard input: {0}")]
    Stdin(#[source] std::io::Error),
    /// Standard input is not text the harness accepts (size, lines, UTF-8).
    #[error(transparent)]
    Input(#[from] InputError),
    /// `-f -` given more than once on one side.
    #[error("-f -: standard input can be read only once")]
    StdinTwice,
    /// More than one cluster on one side.
    #[error("one side reads at most one cluster: {first} and {second} given")]
    TwoContexts {
        /// The first context.
        first: String,
        /// The second one.
        second: String,
    },
    /// A live cluster cannot be read.
    #[error(transparent)]
    Live(#[from] LiveError),
    /// A `--from`/`--to` pattern matches nothing.
    #[error(transparent)]
    NoMatch(#[from] NoMatch),
    /// `--probe-to ip:` without a probe to ask it on.
    #[error("--probe-to ip:ADDRESS is asked on each --probe; pass --probe PORT")]
    IpNeedsProbe,
    /// Standard output cannot be written.
    #[error("writing output: {0}")]
    Output(#[source] std::io::Error),
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
/// and UTF-8 checks as a file), with `-n` applied.
fn file_docs(paths: &[PathBuf], namespace: Option<&str>) -> Result<Vec<Document>, AnalyzeError> {
    let stdin = Path::new("-");
    let files: Vec<PathBuf> = paths.iter().filter(|p| *p != stdin).cloned().collect();
    let mut docs = manifest::load_paths(&files)?;
    match paths.iter().filter(|p| *p == stdin).count() {
        0 => {}
        1 => {
            let name = Path::new("<stdin>");
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(input::MANIFEST.max_bytes + 1)
                .read_to_end(&mut bytes)
                .map_err(AnalyzeError::Stdin)?;
            let text = input::text(name, bytes, input::MANIFEST)?;
            docs.extend(manifest::parse_str(name, &text)?);
        }
        _ => return Err(AnalyzeError::StdinTwice),
    }
    if let Some(ns) = namespace {
        for doc in &mut docs {
            analysis::set_namespace(doc, ns)?;
        }
    }
    Ok(docs)
}

/// Lists a cluster, with a progress line on standard error when it is a terminal, and a note
/// on what the cluster does not serve.
async fn cluster_docs(context: &str, label: &str) -> Result<Vec<Document>, AnalyzeError> {
    let client = live::connect(context).await?;
    let tty = std::io::stderr().is_terminal();
    let mut width = 0;
    let mut progress = |p: live::Progress<'_>| {
        if tty {
            let line = escape::terminal(&format!(
                "{label}reading context {context}: {} objects ({})",
                p.objects,
                p.kind.label()
            ))
            .into_owned();
            eprint!("\r{line:width$}");
            width = width.max(line.chars().count());
        }
    };
    let snapshot = live::read(&client, context, &mut progress).await;
    if tty && width > 0 {
        eprint!("\r{:width$}\r", "");
    }
    let snapshot = snapshot?;
    if let Some(note) = snapshot.note(context) {
        eprintln!("note: {}", escape::terminal(&format!("{label}{note}")));
    }
    Ok(snapshot.documents)
}

/// The documents of one side: files (with `-n`), and at most one cluster under them, where a
/// file's object replaces the cluster's object of the same kind, namespace and name.
async fn load_docs(
    args: &Args,
    operands: &[Operand],
    label: &str,
) -> Result<Vec<Document>, AnalyzeError> {
    let mut paths = Vec::new();
    let mut context: Option<&str> = None;
    for operand in operands {
        match operand {
            Operand::Path(p) => paths.push(p.clone()),
            Operand::Context(c) => match context {
                Some(first) => {
                    return Err(AnalyzeError::TwoContexts {
                        first: first.to_string(),
                        second: c.clone(),
                    });
                }
                None => context = Some(c),
            },
        }
    }
    let files = file_docs(&paths, args.namespace.as_deref())?;
    let Some(context) = context else {
        return Ok(files);
    };
    let replaced: HashSet<_> = files.iter().map(live::identity).collect();
    let mut docs: Vec<Document> = cluster_docs(context, label)
        .await?
        .into_iter()
        .filter(|d| !replaced.contains(&live::identity(d)))
        .collect();
    docs.extend(files);
    Ok(docs)
}

/// Loads one side as `args` say, printing its warnings (prefixed with `label`).
async fn load(
    args: &Args,
    operands: &[Operand],
    label: &str,
) -> Result<(Analysis, Notes), AnalyzeError> {
    let semantics = args
        .calico_version
        .map_or(Semantics::Generic, Semantics::Calico);
    let docs = load_docs(args, operands, label).await?;
    let options = UserOptions {
        pod_cidr: args.pod_cidr,
        ignore_unsupported: args.ignore_unsupported,
        semantics,
    };
    let (analysis, notes) = Analysis::for_user(docs, &options)?;
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
) -> Result<View<'a>, AnalyzeError> {
    let mut view = View::new(analysis, notes, oracle, probes);
    view.from = analysis::select(&analysis.cluster, &args.from, "--from")?;
    view.to = analysis::select(&analysis.cluster, &args.to, "--to")?;
    view.all_ports = args.all_ports;
    view.explain = args.explain;
    view.self_policed = args.self_traffic == SelfTraffic::Policed;
    Ok(view)
}

/// `analyze --diff OLD... --against NEW...`.
async fn run_diff(args: &Args) -> Result<ExitCode, AnalyzeError> {
    let (old, old_notes) = load(args, &args.diff, "before: ").await?;
    let (new, new_notes) = load(args, &args.against, "after: ").await?;
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
        .map_err(AnalyzeError::Output)?;
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
    Ok(analyze(args).await?)
}

/// `analyze` itself.
async fn analyze(args: Args) -> Result<ExitCode, AnalyzeError> {
    if !args.diff.is_empty() {
        return run_diff(&args).await;
    }
    let mut operands: Vec<Operand> = args.paths.iter().cloned().map(Operand::Path).collect();
    operands.extend(args.context.clone().map(Operand::Context));
    let (analysis, notes) = load(&args, &operands, "").await?;
    let probes = if args.probes.is_empty() {
        ProbePort::declared(&analysis.cluster)
    } else {
        args.probes.clone()
    };
    let oracle = analysis.oracle();
    let view = view(&args, &analysis, &notes, &oracle, probes)?;
    if !args.probe_to.is_empty() {
        if view.probes.is_empty() && args.probe_to.iter().any(|t| matches!(t, ProbeTo::Ip(_))) {
            return Err(AnalyzeError::IpNeedsProbe);
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
        .map_err(AnalyzeError::Output);
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
    .map_err(AnalyzeError::Output)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operands_are_paths_or_contexts() {
        assert_eq!(
            "context:prod".parse::<Operand>(),
            Ok(Operand::Context("prod".into()))
        );
        assert_eq!(
            "./context:prod".parse::<Operand>(),
            Ok(Operand::Path("./context:prod".into()))
        );
        assert_eq!("new/".parse::<Operand>(), Ok(Operand::Path("new/".into())));
        assert_eq!("context:".parse::<Operand>(), Err(EmptyContext));
    }
}
