//! `netpol-harness generate`: write the generated suites as scenario folders.

use std::path::PathBuf;
use std::process::ExitCode;

use super::CliError;
use crate::generate::{self, Options, writer};

/// Arguments of `generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder to write the scenarios into (a folder `gen-<suite>` per suite; one that an
    /// earlier `generate` wrote is replaced, any other folder of that name is left alone).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Only cases carrying one of these tags (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "T,...")]
    pub tags: Vec<String>,
    /// At most this many cases, taken in turn from each suite.
    #[arg(long, value_name = "N")]
    pub max: Option<usize>,
    /// Also write random cases beyond the systematic ones, reproducibly from this seed.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
}

/// Runs `generate`: writes the scenarios and prints the counts per scenario and per tag.
pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let options = Options {
        tags: args.tags,
        max: args.max,
        seed: args.seed,
    };
    let cases = generate::cases(&options)?;
    let scenarios = generate::render(&cases)?;
    writer::write(&args.out, &scenarios)?;
    print!("{}", generate::summary(&scenarios));
    let out = args.out.to_string_lossy();
    println!(
        "written to {} (check with: netpol-harness validate --scenarios {})",
        crate::escape::terminal(&out),
        crate::escape::terminal(&crate::escape::sh(&out))
    );
    Ok(ExitCode::SUCCESS)
}
