//! `netpol-harness reproduce NAME`: walk a scenario the way its tutorial reads — per step the
//! tutorial's words, the kubectl commands a reader would type, then (with `--dry-run`) the
//! oracle's predictions, or (without) the results on a cluster: the steps run through the
//! runner, exactly as `netpol-harness run` runs them, and each step's observed table is shown
//! as soon as it ends. `--interactive` waits for Enter between steps.

use std::io::{BufRead, Write};
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::sync::Arc;

use super::run::ClusterArgs;
use super::{CliError, ScenarioRoot};
use crate::cluster::ClusterOps;
use crate::report::plan::{DerivedPlan, derived_line, step_table};
use crate::report::run::render_step;
use crate::runner::plan::{ScenarioPlan, plans};
use crate::runner::{RunEnd, RunEvent, RunOutcome, Runner, run_id};
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
    /// Wait for Enter between steps (end of input stops the walk; on a cluster, what was
    /// created is then deleted).
    #[arg(long)]
    pub interactive: bool,
    /// Where the scenarios are.
    #[command(flatten)]
    pub root: ScenarioRoot,
    /// The cluster, the CNI, and how to probe (ignored with --dry-run).
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs `reproduce` on stdin and stdout.
pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let loaded = load(&args.root.path(), &args.name)?;
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    // Narration, commands, tables and cluster messages: one guard on the whole stream.
    let mut out = crate::escape::TerminalWriter::new(std::io::stdout());
    if args.dry_run {
        let full = args.cluster.matrix == super::run::Matrix::Full;
        return walk(&loaded, args.interactive, full, &mut input, &mut out);
    }
    let name = &loaded.scenario.name;
    let mut options = args.cluster.options()?;
    let plan = plans(std::slice::from_ref(&loaded), options.cni.as_ref())
        .await?
        .remove(0);
    let (cluster, _) =
        args.cluster
            .connect(&run_id())
            .await
            .map_err(|source| CliError::NoCluster {
                scenario: name.clone(),
                source: Box::new(source),
            })?;
    for note in args.cluster.check_marker(&cluster, &mut options).await? {
        eprintln!("note: {}", crate::escape::terminal(&note));
    }
    let runner = Runner::new(Arc::new(cluster), options).interrupt_on_ctrl_c();
    walk_on_cluster(
        &loaded,
        &plan,
        &runner,
        args.interactive,
        &mut input,
        &mut out,
    )
    .await
}

fn io(e: std::io::Error) -> CliError {
    CliError::Output(e)
}

/// The scenario's title, tutorial, requirements and errata, then the setup commands.
fn header(loaded: &LoadedScenario, out: &mut dyn Write) -> Result<(), CliError> {
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
    Ok(())
}

/// A step's heading, the tutorial's words, and the commands of its actions and probes.
fn step_intro(
    loaded: &LoadedScenario,
    step: &PlannedStep,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let s = &loaded.scenario;
    let extra: Vec<String> = s.steps[step.index]
        .requires
        .iter()
        .map(|c| c.to_string())
        .collect();
    write!(
        out,
        "\n== Step {}/{}: {}",
        step.index + 1,
        s.steps.len(),
        step.name
    )
    .map_err(io)?;
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
            writeln!(out, "$ {}", kubectl::probe_command(step, probe)).map_err(io)?;
            writeln!(out, "  # expect: {}", probe.expected).map_err(io)?;
        }
    }
    Ok(())
}

/// With `interactive`, after step `index` (0-based) of `total`: waits for a line of `input`.
/// `false` when the input ended (the walk stops).
fn pause(
    interactive: bool,
    index: usize,
    total: usize,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<bool, CliError> {
    if !interactive || index + 1 >= total {
        return Ok(true);
    }
    writeln!(out, "\n-- press Enter for the next step --").map_err(io)?;
    out.flush().map_err(io)?;
    // Through the input gate: a line has a length limit (`< /dev/zero` has no newline).
    let line = crate::input::read_line(input, crate::input::STDIN_LINE).map_err(CliError::Input)?;
    if line.is_none() {
        writeln!(out, "(end of input: stopped after step {})", index + 1).map_err(io)?;
        return Ok(false);
    }
    Ok(true)
}

/// The tutorial's clean-up commands.
fn footer(loaded: &LoadedScenario, out: &mut dyn Write) -> Result<(), CliError> {
    writeln!(out, "\n== Clean up").map_err(io)?;
    for command in kubectl::teardown_commands(loaded) {
        writeln!(out, "$ {command}").map_err(io)?;
    }
    Ok(())
}

/// Walks the scenario against the oracle (`--dry-run`), writing to `out`: each step's claims,
/// and with `full` (`--matrix full`) how many derived cells a run adds; with `interactive`,
/// reads a line from `input` between steps and stops at the end of input.
pub fn walk(
    loaded: &LoadedScenario,
    interactive: bool,
    full: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let s = &loaded.scenario;
    header(loaded, out)?;
    let total = s.steps.len();
    for result in plan::steps(loaded) {
        let step = result.map_err(|source| CliError::PlanStep {
            scenario: s.name.clone(),
            source,
        })?;
        step_intro(loaded, &step, out)?;
        writeln!(out, "\nPredicted by the oracle:").map_err(io)?;
        write!(out, "{}", step_table(&step, false)).map_err(io)?;
        let derived = full.then(|| DerivedPlan::of(s, &step));
        write!(out, "{}", derived_line(derived.as_ref())).map_err(io)?;
        if !pause(interactive, step.index, total, input, out)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    footer(loaded, out)?;
    Ok(ExitCode::SUCCESS)
}

/// Walks the scenario on a cluster: `plan` (of `loaded`) runs through `runner`, and each step's
/// heading, narration and commands are written to `out` as it starts, its observed table as it
/// ends; with `interactive`, a line of `input` is awaited between steps (the end of input stops
/// the walk; what was created is deleted either way). Fails (exit 1) if a step failed on the
/// CNI under test or cleanup did.
pub async fn walk_on_cluster<C: ClusterOps>(
    loaded: &LoadedScenario,
    plan: &ScenarioPlan,
    runner: &Runner<C>,
    interactive: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    header(loaded, out)?;
    let total = plan.steps.len();
    let mut introduced = None;
    let mut failure: Option<CliError> = None;
    let mut stopped = false;
    let outcome = runner
        .run(std::slice::from_ref(plan), |event| {
            let mut show = || -> Result<bool, CliError> {
                let step = match event {
                    RunEvent::StepStarted { step, .. } | RunEvent::StepFinished { step, .. } => {
                        step
                    }
                    RunEvent::Interrupted => {
                        eprintln!("interrupted: deleting what the walk created");
                        return Ok(true);
                    }
                    RunEvent::RunFinished {
                        outcome:
                            RunOutcome {
                                end: RunEnd::Interrupted { cleanup_errors },
                                ..
                            },
                    } => {
                        for e in cleanup_errors {
                            eprintln!("cleanup: {e}");
                        }
                        return Ok(true);
                    }
                    _ => return Ok(true),
                };
                if introduced != Some(step.planned.index) {
                    introduced = Some(step.planned.index);
                    step_intro(loaded, &step.planned, out)?;
                    out.flush().map_err(io)?;
                }
                let RunEvent::StepFinished { outcome, .. } = event else {
                    return Ok(true);
                };
                writeln!(out, "\nObserved:").map_err(io)?;
                write!(out, "{}", render_step(&plan.name, outcome)).map_err(io)?;
                if let Some(warning) = outcome.warning() {
                    writeln!(out, "warning: {warning}").map_err(io)?;
                }
                pause(interactive, step.planned.index, total, input, out)
            };
            match show() {
                Ok(true) => ControlFlow::Continue(()),
                Ok(false) => {
                    stopped = true;
                    ControlFlow::Break(())
                }
                Err(e) => {
                    failure = Some(e);
                    ControlFlow::Break(())
                }
            }
        })
        .await;
    if let Some(e) = failure {
        return Err(e);
    }
    if matches!(outcome.end, RunEnd::Interrupted { .. }) {
        return Ok(outcome.exit_code());
    }
    for scenario in &outcome.scenarios {
        for e in &scenario.cleanup_errors {
            writeln!(out, "cleanup failed: {e}").map_err(io)?;
        }
    }
    if !stopped {
        footer(loaded, out)?;
    }
    Ok(outcome.exit_code())
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
    use std::time::Duration;

    use super::*;
    use crate::cluster::sim::{Enforcement, Faults, SimCluster};
    use crate::provision::cni::CniProfile;
    use crate::runner::RunOptions;
    use crate::scenario::default_root;

    /// Walks scenario `name` on a simulated cluster with `faults`, reading `input`; returns the
    /// exit code, the output, and the cluster.
    async fn walk_sim(
        name: &str,
        faults: Faults,
        options: RunOptions,
        interactive: bool,
        input: &str,
    ) -> (ExitCode, String, Arc<SimCluster>) {
        let loaded = load(&default_root(), name).unwrap();
        let plan = ScenarioPlan::new(&loaded, Vec::new()).unwrap();
        let sim = Arc::new(SimCluster::new("reproduce", faults));
        let runner = Runner::new(sim.clone(), options);
        let mut out = Vec::new();
        let code = walk_on_cluster(
            &loaded,
            &plan,
            &runner,
            interactive,
            &mut input.as_bytes(),
            &mut out,
        )
        .await
        .unwrap();
        (code, String::from_utf8(out).unwrap(), sim)
    }

    fn options() -> RunOptions {
        RunOptions {
            deadline: Duration::from_secs(5),
            ..RunOptions::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn walks_the_tutorial_on_a_cluster_with_each_step_observed() {
        let (code, out, sim) =
            walk_sim("http-echo-busybox", Faults::default(), options(), false, "").await;
        assert_eq!(code, ExitCode::SUCCESS, "{out}");
        for expected in [
            "# http-echo-busybox: ",
            "== Setup",
            "$ kubectl create namespace ns-1",
            "== Step 3/4: allow-rule",
            "Create network policy with a rule",
            "$ kubectl label pod -n ns-1 busybox app=busybox --overwrite",
            "# expect: HTTP 200",
            "Observed:",
            "http-echo-busybox::deny-all — PASS: all 2 probes as expected",
            "   expected:",
            "   observed:",
            "   diff:",
            "== Clean up",
        ] {
            assert!(out.contains(expected), "missing `{expected}` in:\n{out}");
        }
        // Each step: its heading and commands, then what was observed.
        let heading = out.find("== Step 2/4: deny-all").unwrap();
        let observed = out.find("http-echo-busybox::deny-all — PASS").unwrap();
        let next = out.find("== Step 3/4").unwrap();
        assert!(heading < observed && observed < next, "{out}");
        assert_eq!(out.matches("\nObserved:\n").count(), 4, "{out}");
        assert!(sim.owned_objects().is_empty());
        assert_eq!(sim.namespaces(), ["default", "kube-system"]);
    }

    #[tokio::test(start_paused = true)]
    async fn interactive_walks_pause_between_steps_and_clean_up_when_input_ends() {
        let (code, out, sim) = walk_sim(
            "http-echo-busybox",
            Faults::default(),
            options(),
            true,
            "\n",
        )
        .await;
        assert_eq!(code, ExitCode::SUCCESS, "{out}");
        assert_eq!(
            out.matches("-- press Enter for the next step --").count(),
            2
        );
        assert!(
            out.contains("(end of input: stopped after step 2)"),
            "{out}"
        );
        assert!(
            !out.contains("== Step 3/4") && !out.contains("== Clean up"),
            "{out}"
        );
        // Stopping deletes what the walk created.
        assert!(sim.owned_objects().is_empty());
        assert_eq!(sim.namespaces(), ["default", "kube-system"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_that_fails_on_the_cluster_fails_the_walk() {
        let (code, out, _) = walk_sim(
            "http-echo-busybox",
            Faults {
                enforcement: Enforcement::None,
                ..Faults::default()
            },
            options(),
            false,
            "",
        )
        .await;
        assert_eq!(code, ExitCode::FAILURE);
        assert!(
            out.contains("http-echo-busybox::deny-all — NOT ENFORCED: policy not enforced"),
            "{out}"
        );
        assert!(out.contains("== Clean up"), "{out}");
    }

    #[tokio::test(start_paused = true)]
    async fn steps_a_cni_cannot_apply_are_shown_not_applicable() {
        let options = RunOptions {
            cni: CniProfile::by_name("cilium"),
            ..options()
        };
        let (code, out, sim) =
            walk_sim("calico-zero-trust", Faults::default(), options, false, "").await;
        assert_eq!(code, ExitCode::SUCCESS, "{out}");
        assert!(
            out.contains(
                "calico-zero-trust::default-deny — N/A: not applicable: needs calico-crds"
            ),
            "{out}"
        );
        assert_eq!(out.matches("\nObserved:\n").count(), 7, "{out}");
        assert!(sim.calls().is_empty());
    }

    #[test]
    fn wraps_at_spaces_and_keeps_paragraphs() {
        assert_eq!(
            wrap("aaa bbb ccc\n\nddd", 7),
            vec!["aaa bbb", "ccc", "", "ddd"]
        );
        assert!(wrap("", 10).is_empty());
    }
}
