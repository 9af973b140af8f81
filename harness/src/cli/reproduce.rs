//! `netpol-harness reproduce NAME`: walk a scenario the way its tutorial reads — per step the
//! tutorial's words, the kubectl commands a reader would type, then (with `--dry-run`) the
//! oracle's predictions, or (without) the results on a cluster.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use super::ScenarioRoot;
use crate::report::plan::step_table;
use crate::scenario::kubectl;
use crate::scenario::plan::{self, PlannedStep};
use crate::scenario::{LoadedScenario, load};

/// Arguments of `reproduce`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario (see `netpol-harness scenarios`).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Show the oracle's predictions instead of running on a cluster.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait for Enter between steps (end of input stops the walk).
    #[arg(long)]
    pub interactive: bool,
    /// Where the scenarios are.
    #[command(flatten)]
    pub root: ScenarioRoot,
}

/// Runs `reproduce` on stdin and stdout.
pub fn run(args: Args) -> Result<ExitCode, String> {
    let loaded = load(&args.root.path(), &args.name).map_err(|e| e.to_string())?;
    let stdin = std::io::stdin();
    walk(
        &loaded,
        args.dry_run,
        args.interactive,
        &mut stdin.lock(),
        &mut std::io::stdout(),
    )
}

/// Runs one step of a scenario on a cluster and returns the observed results, ready to print.
/// For step 0 it first sets the scenario up (namespaces, remote manifests, setup files).
///
/// This is where the cluster runner plugs in; until it exists, every call fails.
pub fn run_on_cluster(loaded: &LoadedScenario, step: &PlannedStep) -> Result<String, String> {
    Err(format!(
        "no cluster runner yet: cannot run step `{}` of `{}` on a cluster; `netpol-harness reproduce {} --dry-run` walks the tutorial against the oracle, and `netpol-harness plan {}` shows every prediction",
        step.name, loaded.scenario.name, loaded.scenario.name, loaded.scenario.name
    ))
}

/// Walks the scenario, writing to `out`; with `interactive`, reads a line from `input` between
/// steps and stops at the end of input.
pub fn walk(
    loaded: &LoadedScenario,
    dry_run: bool,
    interactive: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<ExitCode, String> {
    let io = |e: std::io::Error| format!("writing output: {e}");
    let s = &loaded.scenario;
    writeln!(out, "# {}: {}", s.name, s.title).map_err(io)?;
    writeln!(out, "# Tutorial: {} <{}>", s.source.title, s.source.url).map_err(io)?;
    let requires: Vec<String> = s.requires.iter().map(|c| c.to_string()).collect();
    writeln!(out, "# Requires: {}", requires.join(", ")).map_err(io)?;
    if !s.errata.is_empty() {
        writeln!(out, "#\n# Where this differs from the tutorial:").map_err(io)?;
        for (i, e) in s.errata.iter().enumerate() {
            for (k, line) in wrap(&e.what, 94).iter().enumerate() {
                if k == 0 {
                    writeln!(out, "#  {:>2}. {line}", i + 1).map_err(io)?;
                } else {
                    writeln!(out, "#      {line}").map_err(io)?;
                }
            }
            for line in wrap(&e.why, 92) {
                writeln!(out, "#        {line}").map_err(io)?;
            }
        }
    }
    writeln!(out, "\n== Setup").map_err(io)?;
    for command in kubectl::setup_commands(loaded) {
        writeln!(out, "$ {command}").map_err(io)?;
    }
    let total = s.steps.len();
    for result in plan::steps(loaded) {
        let step = result.map_err(|e| {
            format!("cannot plan the next step:\n{e}\n(`netpol-harness validate {}` lists every problem)", s.name)
        })?;
        let extra: Vec<String> = s.steps[step.index]
            .requires
            .iter()
            .map(|c| c.to_string())
            .collect();
        write!(out, "\n== Step {}/{total}: {}", step.index + 1, step.name).map_err(io)?;
        if !extra.is_empty() {
            write!(out, "   (also requires {})", extra.join(", ")).map_err(io)?;
        }
        writeln!(out).map_err(io)?;
        for line in wrap(&step.narration, 100) {
            writeln!(out, "{line}").map_err(io)?;
        }
        if !step.actions.is_empty() {
            writeln!(out).map_err(io)?;
            for action in &step.actions {
                for command in kubectl::action_commands(loaded, &step.model.cluster, action) {
                    writeln!(out, "$ {command}").map_err(io)?;
                }
            }
        }
        if !step.probes.is_empty() {
            writeln!(out, "\nProbes:").map_err(io)?;
            for probe in &step.probes {
                writeln!(out, "$ {}", kubectl::probe_command(&step, probe)).map_err(io)?;
                writeln!(out, "  # expect: {}", probe.expected).map_err(io)?;
            }
        }
        if dry_run {
            writeln!(out, "\nPredicted by the oracle:").map_err(io)?;
            write!(out, "{}", step_table(&step, false)).map_err(io)?;
        } else {
            let observed = run_on_cluster(loaded, &step)?;
            writeln!(out, "\nObserved:\n{observed}").map_err(io)?;
        }
        if interactive && step.index + 1 < total {
            writeln!(out, "\n-- press Enter for the next step --").map_err(io)?;
            out.flush().map_err(io)?;
            let mut line = String::new();
            let read = input
                .read_line(&mut line)
                .map_err(|e| format!("reading input: {e}"))?;
            if read == 0 {
                writeln!(out, "(end of input: stopped after step {})", step.index + 1)
                    .map_err(io)?;
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    writeln!(out, "\n== Clean up").map_err(io)?;
    for command in kubectl::teardown_commands(loaded) {
        writeln!(out, "$ {command}").map_err(io)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Splits text into lines of at most `width` characters at spaces (paragraphs kept apart).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split("\n\n") {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces_and_keeps_paragraphs() {
        assert_eq!(
            wrap("aaa bbb ccc\n\nddd", 7),
            vec!["aaa bbb", "ccc", "", "ddd"]
        );
        assert!(wrap("", 10).is_empty());
    }
}
