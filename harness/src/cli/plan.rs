//! `netpol-harness plan`: every step's probes, declared against predicted, without a cluster.

use std::io::Write;
use std::process::ExitCode;

use clap::ValueEnum;

use super::run::Matrix;
use super::{CliError, ScenarioRoot};
use crate::report::plan::{DerivedPlan, PlansJson, ScenarioPlanJson, derived_line, step_table};
use crate::scenario::plan;

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenarios to plan (see `netpol-harness scenarios`).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Plan every scenario.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub output: PlanFormat,
    /// With tables: explain every probe, not only the disagreements.
    #[arg(long)]
    pub explain: bool,
    /// Which cells a run would probe: `full` (the default, as `run`) shows per step how many
    /// derived cells of the whole matrix it adds to the claims; `claims` none.
    #[arg(long, value_name = "SCOPE", value_enum, default_value_t = Matrix::Full)]
    pub matrix: Matrix,
    /// Where the scenarios are.
    #[command(flatten)]
    pub root: ScenarioRoot,
}

/// Output formats of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// A table per step.
    Table,
    /// `{"scenarios": [...]}`.
    Json,
}

/// Runs `plan`. Exits non-zero when a scenario cannot be loaded or planned; disagreements are
/// shown but only `validate` fails on them.
pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    if args.names.is_empty() && !args.all {
        return Err(CliError::Usage(
            "name the scenarios to plan, or pass --all (`netpol-harness scenarios` lists them)"
                .to_string(),
        ));
    }
    let full = args.matrix == Matrix::Full;
    let mut failed = false;
    let mut text = String::new();
    let mut json = PlansJson {
        scenarios: Vec::new(),
    };
    for (name, loaded) in args.root.load(&args.names)? {
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                failed = true;
                eprintln!(
                    "{}",
                    crate::escape::terminal_text(&format!("{name}: does not load:\n{e}"))
                );
                continue;
            }
        };
        let mut steps = Vec::new();
        let mut error = None;
        for result in plan::steps(&loaded) {
            match result {
                Ok(step) => steps.push(step),
                Err(e) => error = Some(e.to_string()),
            }
        }
        let s = &loaded.scenario;
        if args.output == PlanFormat::Table {
            text.push_str(&format!("== {}: {}\n", s.name, s.title));
            text.push_str(&format!(
                "   tutorial: {} <{}>\n",
                s.source.title, s.source.url
            ));
            let requires: Vec<String> = s.requires.iter().map(|c| c.to_string()).collect();
            text.push_str(&format!("   requires: {}\n\n", requires.join(", ")));
            for step in &steps {
                text.push_str(&format!(
                    "-- step {}/{}: {}\n",
                    step.index + 1,
                    s.steps.len(),
                    step.name
                ));
                text.push_str(&step_table(step, args.explain));
                let derived = full.then(|| DerivedPlan::of(s, step));
                text.push_str(&derived_line(derived.as_ref()));
                text.push('\n');
            }
        }
        if let Some(e) = &error {
            failed = true;
            eprintln!(
                "{}",
                crate::escape::terminal_text(&format!(
                    "{name}: cannot plan past step {}:\n{e}",
                    steps.len()
                ))
            );
        }
        json.scenarios
            .push(ScenarioPlanJson::new(s, &steps, error, full));
    }
    if args.output == PlanFormat::Json {
        text = serde_json::to_string_pretty(&json)? + "\n";
    }
    crate::escape::TerminalWriter::new(std::io::stdout())
        .write_all(text.as_bytes())
        .map_err(CliError::Output)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
