//! `netpol-harness matrix RESULTS.json... --output markdown|html|json [--out FILE]`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;

use super::CliError;
use crate::report::matrix::matrix;
use crate::report::results::{RESULTS_FILE, ResultsError, RunResults};

/// Arguments of `matrix`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// results.json files written by `netpol-harness run --report DIR` (or those directories).
    #[arg(value_name = "RESULTS", required_unless_present = "expect")]
    pub results: Vec<PathBuf>,
    /// The output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub output: Format,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// A CNI whose results are expected: shown as "no results" if none came (repeatable).
    #[arg(long, value_name = "CNI")]
    pub expect: Vec<String>,
}

/// Output formats of `matrix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// GitHub-flavoured markdown, for a job summary.
    Markdown,
    /// A standalone HTML page.
    Html,
    /// JSON, for other tools.
    Json,
}

/// Why `matrix` failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A results file could not be read.
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// The matrix could not be turned into JSON.
    #[error("cannot render the matrix as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The output could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// Where it was going (`-` for standard output).
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Runs `matrix`: reads the results, renders the matrix, writes it out.
pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    write_matrix(&args)?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the results, renders the matrix, writes it out.
fn write_matrix(args: &Args) -> Result<(), Error> {
    let runs = args
        .results
        .iter()
        .map(|p| {
            let file = if p.is_dir() {
                p.join(RESULTS_FILE)
            } else {
                p.clone()
            };
            RunResults::read(&file)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let m = matrix(&runs).expect(&args.expect);
    let text = match args.output {
        Format::Markdown => m.to_markdown(),
        Format::Html => m.to_html(),
        Format::Json => m.to_json()?,
    };
    match &args.out {
        Some(path) => std::fs::write(path, text).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        }),
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|source| Error::Write {
                path: Path::new("-").to_path_buf(),
                source,
            }),
    }
}
