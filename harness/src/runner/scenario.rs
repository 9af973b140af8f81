//! Orchestrating scenarios: the locks that keep them apart, the steps in order (actions,
//! probing, the verdict), and the cleanup at the end.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::Runner;
use super::actions::CleanupRecord;
use super::events::{Progress, StepEvent};
use super::outcome::{ScenarioOutcome, StepOutcome};
use super::plan::ScenarioPlan;
use super::prober::ProberResult;
use crate::cluster::{ClusterOps, PodRef};
use crate::provision::cni::Applicability;

/// Per-scenario state.
pub(super) struct ScenarioCtx<'a> {
    pub(super) plan: &'a ScenarioPlan,
    pub(super) record: Arc<Mutex<CleanupRecord>>,
    /// How to probe from each source pod: container and tool, found once.
    pub(super) probers: Mutex<HashMap<PodRef, Arc<OnceCell<ProberResult>>>>,
    pub(super) detect_execs: AtomicUsize,
}

impl<C: ClusterOps> Runner<C> {
    /// Runs every plan, several at once where they do not interfere; outcomes in plan order.
    pub async fn run_all(&self, plans: &[ScenarioPlan]) -> Vec<ScenarioOutcome> {
        let mut outcomes: Vec<(usize, ScenarioOutcome)> =
            futures::stream::iter(plans.iter().enumerate())
                .map(|(i, plan)| async move { (i, self.run_scenario(plan, None).await) })
                .buffer_unordered(self.options.max_parallel_scenarios.max(1))
                .collect()
                .await;
        outcomes.sort_by_key(|(i, _)| *i);
        outcomes.into_iter().map(|(_, o)| o).collect()
    }

    /// Runs one scenario and cleans up after it. With `only`, only those steps are probed and
    /// reported (earlier steps' actions still run; later steps do not).
    pub async fn run_scenario(
        &self,
        plan: &ScenarioPlan,
        only: Option<&BTreeSet<String>>,
    ) -> ScenarioOutcome {
        self.run_scenario_with(plan, only, |_| ControlFlow::Continue(()))
            .await
    }

    /// Runs one scenario like [`Runner::run_scenario`], telling `observe` when each step starts
    /// and ends (after it ends, [`ControlFlow::Break`] stops the scenario there: the steps after
    /// it are not run, and it is cleaned up).
    pub async fn run_scenario_with(
        &self,
        plan: &ScenarioPlan,
        only: Option<&BTreeSet<String>>,
        mut observe: impl FnMut(StepEvent<'_>) -> ControlFlow<()>,
    ) -> ScenarioOutcome {
        let exclusive = plan.exclusive();
        let (_write, _read);
        let mut _namespaces = Vec::new();
        if exclusive {
            _write = Some(self.exclusive.write().await);
        } else {
            _read = Some(self.exclusive.read().await);
            let mut names: Vec<&String> = plan.namespaces.iter().collect();
            names.sort();
            names.dedup();
            let locks: Vec<_> = {
                let mut map = self.namespace_locks.lock().expect("lock");
                names
                    .into_iter()
                    .map(|n| map.entry(n.clone()).or_default().clone())
                    .collect()
            };
            for lock in locks {
                _namespaces.push(lock.lock_owned().await);
            }
        }
        (self.progress)(&Progress::ScenarioStarted {
            scenario: plan.name.clone(),
            exclusive,
        });
        let started = Instant::now();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let record = Arc::new(Mutex::new(CleanupRecord::default()));
        self.pending
            .lock()
            .expect("lock")
            .insert(id, record.clone());
        let ctx = ScenarioCtx {
            plan,
            record: record.clone(),
            probers: Mutex::new(HashMap::new()),
            detect_execs: AtomicUsize::new(0),
        };
        let steps = self.run_steps(&ctx, only, &mut observe).await;
        let cleanup_errors = self.cleanup(&record).await;
        self.pending.lock().expect("lock").remove(&id);
        let outcome = ScenarioOutcome {
            name: plan.name.clone(),
            title: plan.title.clone(),
            steps,
            cleanup_errors,
            duration: started.elapsed(),
        };
        (self.progress)(&Progress::ScenarioFinished {
            scenario: plan.name.clone(),
            ok: outcome.ok(),
            cleanup_errors: outcome.cleanup_errors.len(),
        });
        outcome
    }

    async fn run_steps(
        &self,
        ctx: &ScenarioCtx<'_>,
        only: Option<&BTreeSet<String>>,
        observe: &mut impl FnMut(StepEvent<'_>) -> ControlFlow<()>,
    ) -> Vec<StepOutcome> {
        let plan = ctx.plan;
        let selected = |i: usize| only.is_none_or(|o| o.contains(plan.steps[i].name()));
        let applicability: Vec<Applicability> = plan
            .steps
            .iter()
            .map(|s| self.applicability(&plan.name, s))
            .collect();
        let probed = |i: usize| {
            selected(i) && !matches!(applicability[i], Applicability::NotApplicable { .. })
        };
        // What a step that is not run reports: not applicable, or why it could not run.
        let unrun = |i: usize, why: Option<&str>| {
            let name = plan.steps[i].name();
            let mut outcome = match why {
                Some(why) if probed(i) => StepOutcome::error(name, why.to_string()),
                _ => StepOutcome::not_applicable(name, applicability[i].clone()),
            };
            outcome.applicability = applicability[i].clone();
            outcome
        };
        let mut outcomes = Vec::new();
        let report = |outcomes: &mut Vec<StepOutcome>,
                      observe: &mut dyn FnMut(StepEvent<'_>) -> ControlFlow<()>,
                      i: usize,
                      outcome: StepOutcome| {
            let step = &plan.steps[i];
            (self.progress)(&Progress::StepFinished {
                scenario: plan.name.clone(),
                outcome: Box::new(outcome.clone()),
            });
            let flow = observe(StepEvent::Finished(step, &outcome));
            outcomes.push(outcome);
            flow
        };
        // Nothing after the last step that is probed needs to run.
        let last = (0..plan.steps.len()).rev().find(|&i| probed(i));
        let mut from = 0;
        let mut broken: Option<String> = None;
        if let Some(last) = last {
            (self.progress)(&Progress::Setup {
                scenario: plan.name.clone(),
            });
            match self.setup(ctx).await {
                Err(e) => broken = Some(format!("setup failed: {e}")),
                Ok(()) => {
                    for (i, step) in plan.steps[..=last].iter().enumerate() {
                        from = i + 1;
                        (self.progress)(&Progress::StepStarted {
                            scenario: plan.name.clone(),
                            step: step.name().to_string(),
                        });
                        let _ = observe(StepEvent::Starting(step));
                        let started = Instant::now();
                        let outcome = match self.run_actions(ctx, step).await {
                            Err(e) => {
                                broken = Some(format!(
                                    "not run: the actions of step {} failed",
                                    step.name()
                                ));
                                unrun(i, Some(&format!("actions failed: {e}")))
                            }
                            Ok(()) if !selected(i) => continue,
                            Ok(()) if !probed(i) => unrun(i, None),
                            Ok(()) => {
                                let mut outcome = self.probe_step(ctx, step).await;
                                outcome.applicability = applicability[i].clone();
                                outcome
                            }
                        };
                        let outcome = StepOutcome {
                            duration: started.elapsed(),
                            ..outcome
                        };
                        let flow = if selected(i) {
                            report(&mut outcomes, observe, i, outcome)
                        } else {
                            ControlFlow::Continue(())
                        };
                        if flow.is_break() {
                            return outcomes;
                        }
                        if broken.is_some() {
                            break;
                        }
                    }
                }
            }
        }
        for i in (from..plan.steps.len()).filter(|&i| selected(i)) {
            if report(&mut outcomes, observe, i, unrun(i, broken.as_deref())).is_break() {
                break;
            }
        }
        outcomes
    }
}
