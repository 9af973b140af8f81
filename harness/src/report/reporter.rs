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
            RunEvent::Swept { leftovers } => {
                writeln!(
                    progress,
                    "swept {} object(s) that earlier runs left:",
                    leftovers.len()
                )
                .map_err(io)?;
                for leftover in leftovers {
                    writeln!(progress, "  deleted {leftover}").map_err(io)?;
                }
            }
            RunEvent::NamespaceGone { name, gone, total } => writeln!(
                progress,
                "namespace {name} is gone ({gone} of {total} deleted namespaces)"
            )
            .map_err(io)?,
            RunEvent::Interrupted => {
                writeln!(progress, "interrupted: deleting what the run created").map_err(io)?
            }
            RunEvent::RunFinished { outcome } => {
                if !outcome.still_terminating.is_empty() {
                    writeln!(
                        progress,
                        "warning: namespaces still terminating when the run stopped waiting (a \
                         finalizer may be stuck; the next run waits for them): {}",
                        outcome.still_terminating.join(", ")
                    )
                    .map_err(io)?;
                }
                match &outcome.end {
                RunEnd::Interrupted { cleanup_errors } => {
                    for e in cleanup_errors {
                        writeln!(progress, "cleanup: {e}").map_err(io)?;
                    }
                }
                RunEnd::Stopped => {}
                RunEnd::SweepFailed(e) => {
                    writeln!(
                        progress,
                        "the sweep of what earlier runs left failed, so nothing ran: {e}"
                    )
                    .map_err(io)?
                }
                RunEnd::Completed => {
                    write!(out, "{}", render_summary(&outcome.scenarios)).map_err(io)?;
                    out.flush().map_err(io)?;
                    if let Some(target) = &self.target {
                        let results = results(
                            &target.cni,
                            target.cluster.clone(),
                            &outcome.scenarios,
                            outcome.duration,
                        );
                        write(&target.dir, &results, &outcome.scenarios)?;
                        writeln!(progress, "report written to {}", target.dir.display())
                            .map_err(io)?;
                    }
                }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::cluster::sim::{Enforcement, Faults, SimCluster};
    use crate::runner::plan::ScenarioPlan;
    use crate::runner::{RunOptions, Runner};
    use crate::scenario::{default_root, load};

    /// `text` is exactly `tests/fixtures/report/NAME` (`NETPOL_BLESS=1` rewrites it).
    fn assert_golden(name: &str, text: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/report")
            .join(name);
        if std::env::var_os("NETPOL_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(&path, text).unwrap();
        }
        let golden = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; NETPOL_BLESS=1 writes it", path.display()));
        assert_eq!(
            text,
            golden,
            "{} differs; rendered:\n{text}",
            path.display()
        );
    }

    /// `run` on a CNI that enforces nothing: one progress line per event, each step's tables as
    /// it ends, the summary last; the report files are written and said so.
    #[tokio::test(start_paused = true)]
    async fn a_run_is_reported_event_by_event_then_summarised() {
        let loaded = load(&default_root(), "http-echo-busybox").unwrap();
        let plans = [ScenarioPlan::new(&loaded, Vec::new()).unwrap()];
        let sim = Arc::new(SimCluster::new(
            "reporter",
            Faults {
                enforcement: Enforcement::None,
                ..Faults::default()
            },
        ));
        let runner = Runner::new(
            sim,
            RunOptions {
                deadline: Duration::from_secs(2),
                ..RunOptions::default()
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let target = ReportTarget {
            dir: dir.path().to_path_buf(),
            cni: "flannel".into(),
            cluster: None,
        };
        let (mut out, mut progress) = (Vec::new(), Vec::new());
        let mut reporter = Reporter::new(&mut out, &mut progress, Some(target));
        let outcome = runner
            .run(&plans, |event| reporter.report_event(event))
            .await;
        reporter.finish().unwrap();
        assert!(!outcome.ok());
        let progress = String::from_utf8(progress)
            .unwrap()
            .replace(&dir.path().display().to_string(), "DIR");
        assert_golden("run-progress.txt", &progress);
        assert_golden("run-output.txt", &String::from_utf8(out).unwrap());
        assert!(dir.path().join("results.json").is_file());
        assert!(dir.path().join("junit.xml").is_file());
    }

    /// Output that cannot be written stops the run (it is cleaned up) and is the error.
    #[tokio::test(start_paused = true)]
    async fn output_that_cannot_be_written_stops_the_run() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let loaded = load(&default_root(), "http-echo-busybox").unwrap();
        let plans = [ScenarioPlan::new(&loaded, Vec::new()).unwrap()];
        let sim = Arc::new(SimCluster::new("reporter", Faults::default()));
        let runner = Runner::new(sim.clone(), RunOptions::default());
        let (mut out, mut progress) = (Closed, Vec::new());
        let mut reporter = Reporter::new(&mut out, &mut progress, None);
        let outcome = runner
            .run(&plans, |event| reporter.report_event(event))
            .await;
        assert!(matches!(outcome.end, RunEnd::Stopped), "{:?}", outcome.end);
        assert_eq!(outcome.scenarios[0].steps.len(), 1);
        let err = reporter.finish().unwrap_err();
        assert!(matches!(err, ReporterError::Output(_)), "{err}");
        assert!(sim.owned_objects().is_empty());
    }
}
