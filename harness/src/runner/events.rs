//! What the runner tells its caller while it runs: one stream of [`RunEvent`]s through one
//! callback, which may stop the run ([`ControlFlow::Break`]).

use std::cell::RefCell;
use std::ops::ControlFlow;

use super::RunOutcome;
use super::outcome::{ScenarioOutcome, StepOutcome};
use super::plan::{ScenarioPlan, StepPlan};
use crate::cluster::Leftover;

/// Something that happened during a run, in the order it happened (events of scenarios that run
/// at once interleave).
#[derive(Debug, Clone, Copy)]
pub enum RunEvent<'a> {
    /// A scenario starts (after waiting for the locks it needs).
    ScenarioStarted {
        /// The scenario.
        plan: &'a ScenarioPlan,
        /// Whether it runs alone (it touches shared or cluster-scoped objects).
        exclusive: bool,
    },
    /// A scenario's namespaces and setup manifests are being created.
    SetupStarted {
        /// The scenario.
        plan: &'a ScenarioPlan,
    },
    /// A step's actions are about to run.
    StepStarted {
        /// The scenario.
        plan: &'a ScenarioPlan,
        /// The step.
        step: &'a StepPlan,
    },
    /// A probe round ended.
    RoundFinished {
        /// The scenario.
        plan: &'a ScenarioPlan,
        /// The step.
        step: &'a StepPlan,
        /// The round's number (1-based).
        round: usize,
        /// Cells probed in the round.
        probed: usize,
        /// Cells that still differ from what is expected.
        differing: usize,
    },
    /// A step ended (one that is not selected is neither run nor reported).
    StepFinished {
        /// The scenario.
        plan: &'a ScenarioPlan,
        /// The step.
        step: &'a StepPlan,
        /// What it found.
        outcome: &'a StepOutcome,
    },
    /// A scenario ended, cleaned up.
    ScenarioFinished {
        /// What it found.
        outcome: &'a ScenarioOutcome,
    },
    /// The sweep at the start of the run deleted what earlier runs left (sent only when it
    /// found something).
    Swept {
        /// What it deleted.
        leftovers: &'a [Leftover],
    },
    /// A namespace the run deleted has finished terminating (at the end of the run).
    NamespaceGone {
        /// Its name.
        name: &'a str,
        /// How many of those awaited are gone so far.
        gone: usize,
        /// How many are awaited.
        total: usize,
    },
    /// The run was interrupted (Ctrl-C, with [`super::Runner::interrupt_on_ctrl_c`]): the
    /// scenarios running were dropped, and what they created is being deleted.
    Interrupted,
    /// The run ended: the last event.
    RunFinished {
        /// How it ended, and what it found.
        outcome: &'a RunOutcome,
    },
}

/// The callback a run reports to.
type Sink<'f> = &'f mut dyn FnMut(RunEvent<'_>) -> ControlFlow<()>;

/// The callback a run reports to, and whether it asked to stop.
pub(super) struct Events<'f> {
    sink: RefCell<Sink<'f>>,
    stopped: std::cell::Cell<bool>,
}

impl<'f> Events<'f> {
    /// Events sent to `sink`.
    pub(super) fn new(sink: Sink<'f>) -> Events<'f> {
        Events {
            sink: RefCell::new(sink),
            stopped: std::cell::Cell::new(false),
        }
    }

    /// Sends `event`; a [`ControlFlow::Break`] is remembered (see [`Events::stopped`]).
    pub(super) fn emit(&self, event: RunEvent<'_>) -> ControlFlow<()> {
        let flow = (self.sink.borrow_mut())(event);
        if flow.is_break() {
            self.stopped.set(true);
        }
        flow
    }

    /// Whether the callback asked to stop: no step or scenario starts after that.
    pub(super) fn stopped(&self) -> bool {
        self.stopped.get()
    }
}
