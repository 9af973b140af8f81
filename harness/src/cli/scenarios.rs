//! `netpol-harness scenarios`: which scenarios exist, what they need, and their steps.

use std::io::Write;
use std::process::ExitCode;

use comfy_table::{ContentArrangement, Table, presets};

use super::{CliError, ScenarioRoot};

/// Arguments of `scenarios`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the scenarios are.
    #[command(flatten)]
    pub root: ScenarioRoot,
}

/// Runs `scenarios`: a table of every scenario, and the problems of those that do not load.
pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let mut table = Table::new();
    table
        .load_preset(presets::ASCII_MARKDOWN)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec!["name", "title", "requires", "steps"]);
    let mut failed = false;
    for (name, loaded) in args.root.load(&[])? {
        match loaded {
            Ok(loaded) => {
                let s = &loaded.scenario;
                let requires: Vec<String> = s.requires.iter().map(|c| c.to_string()).collect();
                let steps: Vec<String> = s
                    .steps
                    .iter()
                    .map(|step| {
                        if step.requires.is_empty() {
                            step.name.clone()
                        } else {
                            let extra: Vec<String> =
                                step.requires.iter().map(|c| format!("+{c}")).collect();
                            format!("{} ({})", step.name, extra.join(", "))
                        }
                    })
                    .collect();
                table.add_row(vec![
                    s.name.clone(),
                    s.title.clone(),
                    requires.join(", "),
                    steps.join(", "),
                ]);
            }
            Err(e) => {
                failed = true;
                eprintln!(
                    "{}",
                    crate::escape::terminal_text(&format!("{name}: does not load:\n{e}"))
                );
            }
        }
    }
    writeln!(
        crate::escape::TerminalWriter::new(std::io::stdout()),
        "{table}"
    )
    .map_err(CliError::Output)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
