//! The `netpol-harness` command line. Each subcommand's module only parses its arguments and
//! calls the library; this module builds the one async runtime, dispatches, and turns a
//! [`CliError`] into a message on standard error and its exit code ([`CliError::exit_code`]).
//!
//! To add a subcommand: a module with `Args` and `async fn run(args: Args) -> Result<ExitCode,
//! CliError>`, a variant in [`Command`], an arm in [`dispatch`].

pub mod analyze;
pub mod clean;
pub mod down;
mod error;
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

pub use error::CliError;

/// `--version`: the package version and the commit it was built from (see `harness/build.rs`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("NETPOL_HARNESS_COMMIT"),
    ")"
);

/// End-to-end conformance harness for Kubernetes network policy.
#[derive(Debug, Parser)]
#[command(name = "netpol-harness", version = VERSION, about, long_about = None)]
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
    /// Delete what earlier runs left on a kind cluster (every object labelled
    /// app.kubernetes.io/managed-by=netpol-harness; never a CRD), as each `run` does first;
    /// --dry-run lists it.
    Clean(clean::Args),
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
    pub fn load(&self, names: &[String]) -> Result<Vec<Named>, ScenarioError> {
        let root = self.path();
        let names = if names.is_empty() {
            scenario::discover(&root)?
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

/// Runs a subcommand.
pub async fn dispatch(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Analyze(args) => analyze::run(args).await,
        Command::Up(args) => up::run(args).await,
        Command::Down(args) => down::run(args).await,
        Command::Clean(args) => clean::run(args).await,
        Command::Matrix(args) => matrix::run(args).await,
        Command::Scenarios(args) => scenarios::run(args).await,
        Command::Plan(args) => plan::run(args).await,
        Command::Validate(args) => validate::run(args).await,
        Command::Reproduce(args) => reproduce::run(args).await,
        Command::Run(args) => run::run(args).await,
        Command::Generate(args) => generate::run(args).await,
    }
}

/// Parses the command line, runs the subcommand on one async runtime, and reports any error on
/// standard error.
pub fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Fails only if a subscriber is already set, which leaves logging as it was.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();

    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
        .and_then(|runtime| runtime.block_on(dispatch(cli.command)));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", crate::escape::terminal_text(&e.to_string()));
            e.exit_code()
        }
    }
}

/// Rust ignores SIGPIPE, so `netpol-harness … | head` made `println!` panic once `head` closed
/// the pipe. Restored to the default, the process ends quietly like any Unix tool. (The harness
/// writes to no other pipe; sockets are written with `MSG_NOSIGNAL`.)
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any thread exists; `signal` with SIG_DFL
    // only changes this process's disposition of SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
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
