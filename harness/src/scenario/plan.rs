//! The plan of a scenario: the cluster state after each step's actions, each probe resolved to the
//! connections policy actually sees, and the oracle's prediction for it next to the scenario's
//! expectation. A cluster runner executes a plan; `validate` checks it.
//!
//! How each probe's target resolves and is predicted is [`mod@super::predict`]'s job; its items are
//! re-exported here, where the plan's users find them.

pub use super::predict::{
    Backend, OUTSIDE_ADDRESS, PredictError, Prediction, Resolution, Route, agrees, predict,
    predict_with,
};

use super::ScenarioError;
use super::format::{Action, Expectation, LabelTarget, Probe};
use super::load::{LoadedScenario, StepProbe};
use super::state::ClusterState;
use super::target::{Client, Target};
use crate::analysis::Analysis;
use crate::capability::Capability;
use crate::policy::Semantics;

/// A whole scenario planned.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The scenario's name.
    pub name: String,
    /// Its steps, in order.
    pub steps: Vec<PlannedStep>,
}

/// One step planned: what to do, and every probe with its prediction.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    /// Position in the scenario (0-based).
    pub index: usize,
    /// The step's name.
    pub name: String,
    /// The tutorial's words.
    pub narration: String,
    /// The actions, as written.
    pub actions: Vec<Action>,
    /// Everything the step's probes need: the scenario's requirements and the step's own.
    pub requires: Vec<Capability>,
    /// The cluster and policies after the actions.
    pub model: Analysis,
    /// The probes, matrices expanded.
    pub probes: Vec<PlannedProbe>,
}

/// One probe planned.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedProbe {
    /// The probe (a matrix cell as a single probe).
    pub probe: Probe,
    /// Where it was written (`steps[2].probes[0]`, `steps[2].matrices[0] row 1 column 3`).
    pub origin: String,
    /// The client.
    pub client: Client,
    /// The target as written.
    pub target: Target,
    /// Where the packets go.
    pub resolution: Resolution,
    /// What the scenario expects (the tutorial's claim).
    pub expected: Expectation,
    /// What the oracle predicts.
    pub predicted: Expectation,
    /// Whether the two agree ([`agrees`]).
    pub agrees: bool,
    /// The oracle's explanation.
    pub reason: String,
}

/// Plans a scenario step by step (an iterator, so a runner can plan each step just before running
/// it, and callers can use the steps planned before a failure). Stops after the first error.
pub struct Planner<'a> {
    scenario: &'a LoadedScenario,
    state: ClusterState,
    next: usize,
    done: bool,
}

/// The steps of a scenario, planned one at a time.
pub fn steps(scenario: &LoadedScenario) -> Planner<'_> {
    steps_as(scenario, Semantics::Generic)
}

/// The steps of a scenario, predicted as `semantics` (a Calico line) behaves.
pub fn steps_as(scenario: &LoadedScenario, semantics: Semantics) -> Planner<'_> {
    let mut state = ClusterState::new(&scenario.scenario).with_semantics(semantics);
    for file in &scenario.scenario.setup {
        state.apply(scenario.documents(file));
    }
    Planner {
        scenario,
        state,
        next: 0,
        done: false,
    }
}

/// Plans every step of a scenario.
pub fn plan(scenario: &LoadedScenario) -> Result<Plan, ScenarioError> {
    Ok(Plan {
        name: scenario.scenario.name.clone(),
        steps: steps(scenario).collect::<Result<_, _>>()?,
    })
}

impl Iterator for Planner<'_> {
    type Item = Result<PlannedStep, ScenarioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.next >= self.scenario.scenario.steps.len() {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let result = self.plan_step(index);
        self.done = result.is_err();
        Some(result)
    }
}

impl Planner<'_> {
    fn plan_step(&mut self, index: usize) -> Result<PlannedStep, ScenarioError> {
        let loaded = self.scenario;
        let scenario = &loaded.scenario;
        let step = &scenario.steps[index];
        for action in &step.actions {
            match action {
                Action::Apply(files) => files
                    .iter()
                    .for_each(|f| self.state.apply(loaded.documents(f))),
                Action::Delete(files) => files
                    .iter()
                    .for_each(|f| self.state.delete(loaded.documents(f))),
                Action::Label(label) => self.state.label(label),
                Action::WaitRollout(_) => {}
            }
        }
        let field = format!("steps[{index}]");
        let model = self.state.analysis().map_err(|e| {
            ScenarioError::one(loaded.problem(&field, format!("step `{}`: {e}", step.name)))
        })?;
        let mut problems = Vec::new();
        for (a, action) in step.actions.iter().enumerate() {
            let missing = match action {
                Action::Label(label) => match &label.target {
                    LabelTarget::Namespace(ns) if !model.cluster.namespaces.contains_key(ns) => {
                        Some(format!("namespace `{ns}`"))
                    }
                    LabelTarget::Pods(key) if model.cluster.endpoint(key).is_none() => {
                        Some(format!("endpoint `{key}`"))
                    }
                    _ => None,
                },
                Action::WaitRollout(keys) => keys
                    .iter()
                    .find(|k| model.cluster.endpoint(k).is_none())
                    .map(|k| format!("endpoint `{k}`")),
                _ => None,
            };
            if let Some(what) = missing {
                problems.push(loaded.problem(
                    format!("{field}.actions[{a}]"),
                    format!("{what} does not exist at this step"),
                ));
            }
        }
        let mut probes = Vec::new();
        for sp in loaded.step_probes(index) {
            match planned_probe(&model, &sp) {
                Ok(p) => probes.push(p),
                Err(e) => problems.push(loaded.problem(&sp.field, unpredictable(&sp, &e))),
            }
        }
        if !problems.is_empty() {
            return Err(ScenarioError { problems });
        }
        let mut requires = scenario.requires.clone();
        requires.extend(step.requires.iter().copied());
        requires.sort();
        requires.dedup();
        Ok(PlannedStep {
            index,
            name: step.name.clone(),
            narration: step.narration.clone(),
            actions: step.actions.clone(),
            requires,
            model,
            probes,
        })
    }
}

/// The problem a probe that cannot be predicted is reported as; a probe of a matrix names its
/// row and column.
fn unpredictable(sp: &StepProbe, e: &PredictError) -> String {
    if sp.field.contains(".matrices[") {
        format!(
            "{} ({} → {}): {e}",
            sp.origin.trim_start_matches(&sp.field).trim(),
            sp.probe.from,
            sp.probe.to
        )
    } else {
        e.to_string()
    }
}

fn planned_probe(model: &Analysis, sp: &StepProbe) -> Result<PlannedProbe, PredictError> {
    let prediction = predict(model, &sp.probe)?;
    Ok(PlannedProbe {
        probe: sp.probe.clone(),
        origin: sp.origin.clone(),
        client: prediction.client,
        target: prediction.target,
        resolution: prediction.resolution,
        expected: sp.probe.expect,
        predicted: prediction.outcome,
        agrees: agrees(sp.probe.expect, prediction.outcome),
        reason: prediction.reason,
    })
}
