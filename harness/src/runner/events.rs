//! What the runner tells its caller while it runs.

use std::sync::Arc;

use super::outcome::StepOutcome;
use super::plan::StepPlan;

/// What the runner is doing, for progress display.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A scenario starts (after waiting for the locks it needs).
    ScenarioStarted {
        /// The scenario.
        scenario: String,
        /// Whether it runs alone.
        exclusive: bool,
    },
    /// Namespaces and setup manifests are being created.
    Setup {
        /// The scenario.
        scenario: String,
    },
    /// A step starts.
    StepStarted {
        /// The scenario.
        scenario: String,
        /// The step.
        step: String,
    },
    /// A probe round ended.
    Round {
        /// The scenario.
        scenario: String,
        /// The step.
        step: String,
        /// The round's number (1-based).
        round: usize,
        /// Cells probed in the round.
        probed: usize,
        /// Cells that still differ from what is expected.
        differing: usize,
    },
    /// A step ended.
    StepFinished {
        /// The scenario.
        scenario: String,
        /// What it found.
        outcome: Box<StepOutcome>,
    },
    /// A scenario ended, cleaned up.
    ScenarioFinished {
        /// The scenario.
        scenario: String,
        /// Whether nothing failed ([`ScenarioOutcome::ok`](super::outcome::ScenarioOutcome::ok)).
        ok: bool,
        /// Cleanup failures.
        cleanup_errors: usize,
    },
}

/// Receives progress events.
pub type ProgressSink = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A point between the steps of a scenario, for a caller that follows them one by one
/// ([`Runner::run_scenario_with`](super::Runner::run_scenario_with)).
#[derive(Debug, Clone, Copy)]
pub enum StepEvent<'a> {
    /// The step's actions are about to run.
    Starting(&'a StepPlan),
    /// The step ended.
    Finished(&'a StepPlan, &'a StepOutcome),
}
