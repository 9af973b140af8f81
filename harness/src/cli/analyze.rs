//! `netpol-harness analyze`: what do these manifests allow?

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use ipnet::IpNet;

use crate::analysis::{self, Analysis};
use crate::oracle::ProbePort;
use crate::policy::{CalicoLine, Semantics};

/// Arguments of `analyze`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories (recursive *.yaml, *.yml, *.json). Repeatable.
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A port/protocol to predict, e.g. 80/TCP, 53/UDP, ICMP. Repeatable. Default: every port
    /// some endpoint declares.
    #[arg(long = "probe", value_name = "PORT/PROTOCOL")]
    pub probes: Vec<ProbePort>,
    /// Addresses for endpoints whose manifests carry no status.podIP.
    #[arg(long, value_name = "CIDR", default_value = crate::model::DEFAULT_POD_CIDR)]
    pub pod_cidr: IpNet,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AnalyzeFormat::Table)]
    pub output: AnalyzeFormat,
    /// With tables: explain every cell (which policies selected each side, which rule decided).
    #[arg(long)]
    pub explain: bool,
    /// Predict what this Calico version line does (3.29, 3.30, 3.31, 3.32) instead of the APIs
    /// as written: its tiers, tie-break, named-port handling, and the kinds it ignores.
    #[arg(long, value_name = "VERSION")]
    pub calico_version: Option<CalicoLine>,
}

/// Output formats of `analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnalyzeFormat {
    /// Truth tables, one per port/protocol.
    Table,
    /// `{"cells": [...]}` with every ordered pair for every probe.
    Json,
}

/// Runs `analyze`.
pub fn run(args: Args) -> Result<ExitCode, String> {
    let semantics = args
        .calico_version
        .map_or(Semantics::Generic, Semantics::Calico);
    let analysis =
        Analysis::load_as(&args.paths, args.pod_cidr, semantics).map_err(|e| e.to_string())?;
    for warning in &analysis.policies.warnings {
        eprintln!("warning: {warning}");
    }
    let probes = if args.probes.is_empty() {
        ProbePort::declared(&analysis.cluster)
    } else {
        args.probes.clone()
    };
    let oracle = analysis.oracle();
    let text = match args.output {
        AnalyzeFormat::Table => analysis::render_tables(&oracle, &probes, args.explain),
        AnalyzeFormat::Json => {
            let json = analysis::cells_json(&oracle, &probes);
            serde_json::to_string_pretty(&json).map_err(|e| e.to_string())? + "\n"
        }
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| format!("writing output: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
