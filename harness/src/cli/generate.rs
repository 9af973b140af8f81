//! `netpol-harness generate`: write the generated suites as scenario folders.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::generate::{self, Options, writer};

/// Arguments of `generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder to write the scenarios into (a folder `gen-<suite>` per suite, replaced).
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
pub fn run(args: Args) -> Result<ExitCode, String> {
    let options = Options {
        tags: args.tags,
        max: args.max,
        seed: args.seed,
    };
    let cases = generate::cases(&options).map_err(|e| e.to_string())?;
    let scenarios = generate::render(&cases).map_err(|e| e.to_string())?;
    writer::write(&args.out, &scenarios).map_err(|e| e.to_string())?;
    print!("{}", generate::summary(&scenarios));
    println!(
        "written to {} (check with: netpol-harness validate --scenarios {})",
        args.out.display(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
