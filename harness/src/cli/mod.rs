//! The command line: one module per subcommand, each only parsing arguments and calling the
//! library.

pub mod analyze;
pub mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Run scenarios on a kind cluster and check every probe against its expectation.
    Run(run::Args),
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
        Command::Run(args) => run::run(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
