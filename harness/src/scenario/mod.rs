//! Scenarios: a tutorial as runnable steps, each with actions and probes whose expectations are
//! checked first against the oracle, then on a cluster.
//!
//! - [`mod@format`]: the file format (`scenarios/<name>/scenario.yaml`).
//! - [`mod@load`]: finding and reading scenarios, and every check that needs no oracle (references,
//!   probe shapes, matrices, requirements, steps that cannot fail); its private submodules hold the
//!   manifest paths, the field checks and the requirement checks.
//! - [`matrix`]: expanding a probe matrix into single probes.
//! - [`mod@plan`]: the cluster state step by step, each probe planned — what a cluster runner
//!   executes.
//! - [`mod@predict`]: one probe in one cluster state, resolved to packets and predicted by the
//!   oracle (its `ingress` submodule: the two legs of an `ingress:` probe).
//! - [`mod@derive`]: the whole matrix of a step (every pair of the scenario's own endpoints on
//!   every declared port), each cell no claim probes with the oracle's prediction.
//! - [`mod@validate`]: the plan's disagreements with the scenario's expectations, and the errata
//!   proofs.
//! - [`kubectl`]: the commands a reader of the tutorial would type for each action and probe.

pub mod derive;
pub mod format;
pub mod kubectl;
pub mod lines;
pub mod load;
pub mod matrix;
pub mod plan;
pub mod predict;
pub mod state;
pub mod target;
pub mod validate;

use std::fmt;
use std::path::PathBuf;

pub use load::{LoadedScenario, StepProbe, default_root, discover, load, load_dir};
pub use plan::{Plan, PlannedProbe, PlannedStep, plan};
pub use validate::{Validation, validate};

/// One thing wrong with a scenario, with where to look: the file, the line and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (the scenario file, or a file it references).
    pub file: PathBuf,
    /// 1-based line in `file`, when known.
    pub line: Option<usize>,
    /// The field path in the scenario file, e.g. `steps[2].probes[0].to`; empty for the whole
    /// file.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Everything wrong with a scenario (every problem found, not only the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// The problems, in file order as far as possible.
    pub problems: Vec<Problem>,
}

impl ScenarioError {
    /// An error with one problem.
    pub fn one(problem: Problem) -> ScenarioError {
        ScenarioError {
            problems: vec![problem],
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}
