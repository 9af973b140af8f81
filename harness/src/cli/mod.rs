//! The `netpol-harness` command line. Each subcommand's module only parses its arguments and
//! calls the library; this module builds the runtime, dispatches, and turns errors into a message
//! on standard error and a non-zero exit status.
//!
//! To add a subcommand: a module with `Args` and `run`, a variant in [`Command`], an arm in
//! [`main`].

pub mod analyze;
pub mod down;
pub mod generate;
pub mod matrix;
pub mod plan;
pub mod reproduce;
pub mod run;
pub mod scenarios;
pub mod up;
pub mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::scenario::{self, LoadedScenario, ScenarioError};

/// End-to-end conformance harness for Kubernetes network policy.
#[derive(Debug, Parser)]
#[command(name = "netpol-harness", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
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
    /// Walk a scenario like its tutorial: narration, kubectl commands, then the results observed
    /// on a cluster (or predicted by the oracle, with --dry-run).
    Reproduce(reproduce::Args),
    /// Create (or reuse) a kind cluster with a CNI installed and ready.
    Up(up::Args),
    /// Delete a kind cluster made by `up`.
    Down(down::Args),
    /// Build the CNI compatibility matrix from results.json files.
    Matrix(matrix::Args),
    /// Write generated suites (NetworkPolicy, ClusterNetworkPolicy, Calico, precedence cases on
    /// the upstream x/y/z × a/b/c topology) as scenario folders.
    Generate(generate::Args),
    /// Run scenarios on a kind cluster and check every probe against its expectation; with
    /// --cni, read each step as that CNI's profile says; with --report, write results.json.
    Run(run::Args),
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

/// A subcommand's outcome: the exit code, or an error to report.
type Outcome = Result<ExitCode, Box<dyn std::error::Error>>;

/// Parses the command line, runs the subcommand, and reports any error on standard error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Fails only if a subscriber is already set, which leaves logging as it was.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let success = |()| ExitCode::SUCCESS;
    let result: Outcome = match cli.command {
        Command::Analyze(args) => analyze::run(args).map_err(Into::into),
        Command::Up(args) => runtime
            .block_on(up::run(args))
            .map(success)
            .map_err(Into::into),
        Command::Down(args) => runtime
            .block_on(down::run(args))
            .map(success)
            .map_err(Into::into),
        Command::Matrix(args) => matrix::run(args).map(success).map_err(Into::into),
        Command::Scenarios(args) => scenarios::run(args).map_err(Into::into),
        Command::Plan(args) => plan::run(args).map_err(Into::into),
        Command::Validate(args) => validate::run(args).map_err(Into::into),
        Command::Reproduce(args) => reproduce::run(args).map_err(Into::into),
        Command::Run(args) => run::run(args).map_err(Into::into),
        Command::Generate(args) => generate::run(args).map_err(Into::into),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
