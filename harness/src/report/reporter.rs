//! The reporter of `netpol-harness run`: it consumes the runner's events
//! ([`crate::runner::RunEvent`]) and writes one line per event to the progress stream, each
//! finished step's tables ([`render_step`]) and the summary ([`render_summary`]) to the output,
//! and, with a [`ReportTarget`], `results.json` and `junit.xml` when the run completes.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use super::run::{ReportError, render_step, render_summary, results, write};
use crate::runner::{RunEnd, RunEvent};

/// Where a run's report files go.
#[derive(Debug, Clone)]
pub struct ReportTarget {
    /// The folder (`results.json` and `junit.xml` go in it).
    pub dir: PathBuf,
    /// The CNI, as `results.json` names it.
    pub cni: String,
    /// The kind cluster's name.
    pub cluster: Option<String>,
}

/// Why the reporter failed.
#[derive(Debug, thiserror::Error)]
pub enum ReporterError {
    /// The output or the progress stream could not be written (the run was stopped there).
    #[error("writing the run's output: {0}")]
    Output(#[source] std::io::Error),
    /// The report files could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// Writes a run's progress, tables, summary and report files as its events arrive.
pub struct Reporter<'w> {
    out: &'w mut dyn Write,
    progress: &'w mut dyn Write,
    target: Option<ReportTarget>,
    failure: Option<ReporterError>,
}

impl<'w> Reporter<'w> {
    /// A reporter writing tables and the summary to `out`, progress lines to `progress`, and
    /// the report files to `target`, if any.
    pub fn new(
        out: &'w mut dyn Write,
        progress: &'w mut dyn Write,
        target: Option<ReportTarget>,
    ) -> Reporter<'w> {
        Reporter {
            out,
            progress,
            target,
            failure: None,
        }
    }

    /// Reports `event`. Breaks (the run stops and cleans up) once something cannot be written.
    pub fn report_event(&mut self, event: RunEvent<'_>) -> ControlFlow<()> {
        if self.failure.is_some() {
            return ControlFlow::Break(());
        }
        match self.write_event(event) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.failure = Some(e);
                ControlFlow::Break(())
            }
        }
    }

    /// The first thing that could not be written, if any.
    pub fn finish(self) -> Result<(), ReporterError> {
        self.failure.map_or(Ok(()), Err)
    }

    fn write_event(&mut self, event: RunEvent<'_>) -> Result<(), ReporterError> {
        let progress = &mut *self.progress;
        let out = &mut *self.out;
        let io = ReporterError::Output;
        match event {
            RunEvent::ScenarioStarted { plan, exclusive } => writeln!(
                progress,
                "▶ {}{}",
                plan.name,
                if exclusive {
                    " (runs alone: it touches shared or cluster-scoped objects)"
                } else {
                    ""
                }
            )
            .map_err(io)?,
            RunEvent::SetupStarted { plan } => writeln!(
                progress,
                "  {}: creating namespaces, applying setup, waiting for rollout",
                plan.name
            )
            .map_err(io)?,
            RunEvent::StepStarted { plan, step } => {
                writeln!(progress, "  {}::{}: actions", plan.name, step.name()).map_err(io)?
            }
            RunEvent::RoundFinished {
                plan,
                step,
                round,
                probed,
                differing,
            } => writeln!(
                progress,
                "  {}::{}: round {round}: {probed} probes, {differing} differ from what is expected",
                plan.name,
                step.name()
            )
            .map_err(io)?,
            RunEvent::StepFinished { plan, outcome, .. } => {
                let result = outcome.result();
                writeln!(
                    progress,
                    "  {}::{}: {} — {}",
                    plan.name, outcome.name, result.status, outcome.reason
                )
                .map_err(io)?;
                if let Some(warning) = outcome.warning() {
                    writeln!(progress, "  warning: {}::{}: {warning}", plan.name, outcome.name)
                        .map_err(io)?;
                }
                writeln!(out, "{}", render_step(&plan.name, outcome)).map_err(io)?;
            }
            RunEvent::ScenarioFinished { outcome } => writeln!(
                progress,
                "■ {}: {}{}",
                outcome.name,
                if outcome.ok() { "ok" } else { "failed" },
                if outcome.cleanup_errors.is_empty() {
                    String::new()
                } else {
                    format!(", {} cleanup errors", outcome.cleanup_errors.len())
                }
            )
            .map_err(io)?,
            RunEvent::Interrupted => {
                writeln!(progress, "interrupted: deleting what the run created").map_err(io)?
            }
            RunEvent::RunFinished { outcome } => match &outcome.end {
                RunEnd::Interrupted { cleanup_errors } => {
                    for e in cleanup_errors {
                        writeln!(progress, "cleanup: {e}").map_err(io)?;
                    }
                }
                RunEnd::Stopped => {}
                RunEnd::Completed => {
                    write!(out, "{}", render_summary(&outcome.scenarios)).map_err(io)?;
                    out.flush().map_err(io)?;
                    if let Some(target) = &self.target {
                        let results =
                            results(&target.cni, target.cluster.clone(), &outcome.scenarios);
                        write(&target.dir, &results, &outcome.scenarios)?;
                        writeln!(progress, "report written to {}", target.dir.display())
                            .map_err(io)?;
                    }
                }
            },
        }
        Ok(())
    }
}
