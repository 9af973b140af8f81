//! The command line: one module per subcommand, each only parsing arguments and calling the
//! library.

pub mod analyze;
pub mod plan;
pub mod reproduce;
pub mod scenarios;
pub mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::scenario::{self, LoadedScenario, ScenarioError};

/// End-to-end conformance harness for Kubernetes network policy.
#[derive(Debug, Parser)]
#[command(name = "netpol-harness", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Predict which connections the given manifests allow (the oracle alone, no cluster).
    Analyze(analyze::Args),
    /// List the scenarios: name, title, requirements, steps.
    Scenarios(scenarios::Args),
    /// Show each step's probes with the declared and the predicted outcome (no cluster).
    Plan(plan::Args),
    /// Check scenarios against the oracle: references, expectations, errata proofs (no cluster).
    Validate(validate::Args),
    /// Walk a scenario like its tutorial: narration, kubectl commands, predicted results.
    Reproduce(reproduce::Args),
}

/// A scenario's name with the scenario, or why it does not load.
pub type Named = (String, Result<LoadedScenario, ScenarioError>);

/// Where scenarios live (shared by the scenario subcommands).
#[derive(Debug, Clone, clap::Args)]
pub struct ScenarioRoot {
    /// The scenarios folder (default: `scenarios/` in the current directory, else the
    /// repository's).
    #[arg(long = "scenarios", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl ScenarioRoot {
    /// The folder to read.
    pub fn path(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(scenario::default_root)
    }

    /// The scenarios called `names`, or all of them when `names` is empty, each loaded or with
    /// its problems.
    pub fn load(&self, names: &[String]) -> Result<Vec<Named>, String> {
        let root = self.path();
        let names = if names.is_empty() {
            scenario::discover(&root).map_err(|e| e.to_string())?
        } else {
            names.to_vec()
        };
        Ok(names
            .into_iter()
            .map(|name| {
                let loaded = scenario::load(&root, &name);
                (name, loaded)
            })
            .collect())
    }
}

/// Parses the command line, runs the subcommand and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NETPOL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Scenarios(args) => scenarios::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Reproduce(args) => reproduce::run(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
