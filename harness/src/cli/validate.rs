//! `netpol-harness validate`: check scenarios against the oracle, listing every problem.

use std::io::Write;
use std::process::ExitCode;

use super::{CliError, ScenarioRoot};
use crate::scenario::validate;

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenarios to validate (default: all).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Where the scenarios are.
    #[command(flatten)]
    pub root: ScenarioRoot,
}

/// Runs `validate`: exits non-zero if any scenario has a problem, after listing all of them.
pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let mut failed = false;
    let mut out = String::new();
    for (name, loaded) in args.root.load(&args.names)? {
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                failed = true;
                out.push_str(&format!("FAIL {name}: {} problem(s)\n", e.problems.len()));
                for p in &e.problems {
                    out.push_str(&format!("  {p}\n"));
                }
                continue;
            }
        };
        let v = validate(&loaded);
        let probes: usize = v.steps.iter().map(|s| s.probes.len()).sum();
        let proofs = loaded
            .scenario
            .errata
            .iter()
            .filter(|e| e.proof.is_some())
            .count();
        if v.is_ok() {
            out.push_str(&format!(
                "ok   {name}: {} steps, {probes} probes agree with the oracle; {} errata, {} of {proofs} proofs hold\n",
                v.steps.len(),
                loaded.scenario.errata.len(),
                v.proven.len()
            ));
        } else {
            failed = true;
            out.push_str(&format!("FAIL {name}: {} problem(s)\n", v.problems.len()));
            for p in &v.problems {
                out.push_str(&format!("  {p}\n"));
            }
        }
        for p in &v.proven {
            out.push_str(&format!(
                "  proven errata[{}] ({}): {}\n",
                p.erratum, p.kind, p.evidence
            ));
        }
        for w in &v.warnings {
            out.push_str(&format!("  warning: {w}\n"));
        }
    }
    crate::escape::TerminalWriter::new(std::io::stdout())
        .write_all(out.as_bytes())
        .map_err(CliError::Output)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
