//! Orchestrating scenarios: the locks that keep them apart, the steps in order (actions,
//! probing, the verdict), the cleanup at the end, and the run of many scenarios that reports
//! through one callback and stops on Ctrl-C.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio::sync::{OnceCell, OwnedMutexGuard, RwLockReadGuard, RwLockWriteGuard};
use tokio::time::Instant;

use super::actions::CleanupRecord;
use super::baseline::applies_policy;
use super::converge::{ProbeCell, Served, ServedKey};
use super::events::{Events, RunEvent};
use super::outcome::{ScenarioOutcome, StepOutcome};
use super::plan::ScenarioPlan;
use super::prober::ProberResult;
use super::{RunEnd, RunOutcome, Runner};
use crate::cluster::{ClusterOps, PodRef};
use crate::provision::cni::Applicability;

/// Per-scenario state.
pub(super) struct ScenarioCtx<'a> {
    pub(super) plan: &'a ScenarioPlan,
    pub(super) record: Arc<Mutex<CleanupRecord>>,
    /// How to probe from each source pod: container and tool, found once.
    pub(super) probers: Mutex<HashMap<PodRef, Arc<OnceCell<ProberResult>>>>,
    pub(super) detect_execs: AtomicUsize,
    /// The destination ports this scenario has shown served (see [`super::baseline`]).
    pub(super) served: Mutex<Served>,
}

impl ScenarioCtx<'_> {
    /// The destination ports shown served so far.
    pub(super) fn served(&self) -> Served {
        self.served.lock().expect("lock").clone()
    }

    /// Records the destination ports that the cells `which` connected to (their last
    /// observation), and returns every port shown served so far.
    pub(super) fn note_served(&self, cells: &[ProbeCell], which: &[usize]) -> Served {
        let mut served = self.served.lock().expect("lock");
        for &i in which {
            if cells[i].showed_served() {
                served.insert(cells[i].served_key());
            }
        }
        served.clone()
    }

    /// Records the destination ports the baseline round found not served.
    pub(super) fn note_closed(&self, keys: impl IntoIterator<Item = ServedKey>) {
        let mut served = self.served.lock().expect("lock");
        for key in keys {
            served.close(key);
        }
    }
}

/// The locks a scenario holds while it runs (held, never read): the run's for writing (it runs
/// alone), or for reading and its namespaces'.
struct ScenarioLocks<'r> {
    _alone: Option<RwLockWriteGuard<'r, ()>>,
    _shared: Option<RwLockReadGuard<'r, ()>>,
    _namespaces: Vec<OwnedMutexGuard<()>>,
}

impl<C: ClusterOps> Runner<C> {
    /// Runs every plan, several at once where they do not interfere, telling `on_event` what
    /// happens ([`RunEvent`]; the last is [`RunEvent::RunFinished`]). When `on_event` returns
    /// [`ControlFlow::Break`], the run stops at the next step boundary: the steps in progress
    /// finish, no other step or scenario starts, and every scenario is cleaned up. With
    /// [`Runner::interrupt_on_ctrl_c`], Ctrl-C drops the scenarios running and deletes what they
    /// created ([`RunEnd::Interrupted`]).
    pub async fn run(
        &self,
        plans: &[ScenarioPlan],
        mut on_event: impl FnMut(RunEvent<'_>) -> ControlFlow<()>,
    ) -> RunOutcome {
        let events = Events::new(&mut on_event);
        let started = Instant::now();
        let swept = match &self.options.sweep_for_run {
            None => Vec::new(),
            Some(run) => match self.cluster.sweep(Some(run), false).await {
                Ok(swept) => swept,
                Err(e) => {
                    let outcome = RunOutcome {
                        scenarios: Vec::new(),
                        end: RunEnd::SweepFailed(e),
                        swept: Vec::new(),
                        still_terminating: Vec::new(),
                        duration: started.elapsed(),
                    };
                    let _ = events.emit(RunEvent::RunFinished { outcome: &outcome });
                    return outcome;
                }
            },
        };
        if !swept.is_empty() {
            let _ = events.emit(RunEvent::Swept { leftovers: &swept });
        }
        let finished = std::cell::RefCell::new(Vec::new());
        let all = futures::stream::iter(plans.iter().enumerate())
            .map(|(i, plan)| {
                let events = &events;
                async move {
                    let _locks = self.lock(plan).await;
                    if events.stopped() {
                        return None;
                    }
                    Some((i, self.run_locked(plan, None, events).await))
                }
            })
            .buffer_unordered(self.options.max_parallel_scenarios.max(1))
            .for_each(|done| {
                finished.borrow_mut().extend(done);
                std::future::ready(())
            });
        let interrupted = match &self.interrupt {
            None => {
                all.await;
                false
            }
            Some(signal) => tokio::select! {
                () = all => false,
                () = signal() => true,
            },
        };
        let end = if interrupted {
            let _ = events.emit(RunEvent::Interrupted);
            RunEnd::Interrupted {
                cleanup_errors: self.cleanup_pending().await,
            }
        } else if events.stopped() {
            RunEnd::Stopped
        } else {
            RunEnd::Completed
        };
        let mut scenarios = finished.into_inner();
        scenarios.sort_by_key(|(i, _)| *i);
        let still_terminating = self.await_deleted_namespaces(&events).await;
        let outcome = RunOutcome {
            scenarios: scenarios.into_iter().map(|(_, o)| o).collect(),
            end,
            swept,
            still_terminating,
            duration: started.elapsed(),
        };
        let _ = events.emit(RunEvent::RunFinished { outcome: &outcome });
        outcome
    }

    /// Waits (at most [`RunOptions::namespace_gone_timeout`](super::RunOptions)) for the
    /// namespaces the cleanups deleted to finish terminating, telling `events` as each goes, by
    /// watching them; returns those still there. A watch that fails is logged, not fatal: the
    /// deletions were made.
    async fn await_deleted_namespaces(&self, events: &Events<'_>) -> Vec<String> {
        let mut names = std::mem::take(&mut *self.deleted_namespaces.lock().expect("lock"));
        names.sort();
        names.dedup();
        if names.is_empty() {
            return names;
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, usize, usize)>();
        let progress = move |name: &str, gone: usize, total: usize| {
            let _ = tx.send((name.to_string(), gone, total));
        };
        let wait = self.cluster.await_namespaces_gone(
            &names,
            self.options.namespace_gone_timeout,
            &progress,
        );
        tokio::pin!(wait);
        let emit = |(name, gone, total): (String, usize, usize)| {
            let _ = events.emit(RunEvent::NamespaceGone {
                name: &name,
                gone,
                total,
            });
        };
        let result = loop {
            tokio::select! {
                result = &mut wait => break result,
                Some(news) = rx.recv() => emit(news),
            }
        };
        while let Ok(news) = rx.try_recv() {
            emit(news);
        }
        match result {
            Ok(left) => left,
            Err(e) => {
                tracing::warn!("cannot watch the deleted namespaces go: {e}");
                names.clone()
            }
        }
    }

    /// Runs one scenario and cleans up after it, telling no one. With `only`, only those steps
    /// are probed and reported (earlier steps' actions still run; later steps do not).
    ///
    /// # Examples
    ///
    /// A tutorial scenario on the simulated cluster, whose dataplane is the oracle: a CNI that
    /// enforces everything passes every step, and nothing of the run is left behind.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use netpol_harness::cluster::sim::{Faults, SimCluster};
    /// use netpol_harness::runner::plan::ScenarioPlan;
    /// use netpol_harness::runner::{RunOptions, Runner};
    /// use netpol_harness::scenario::{default_root, load};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let loaded = load(&default_root(), "http-echo-busybox")?;
    /// let plan = ScenarioPlan::new(&loaded, Vec::new())?;
    /// let cluster = Arc::new(SimCluster::new("doc", Faults::default()));
    /// let runner = Runner::new(cluster.clone(), RunOptions::default());
    ///
    /// let outcome = runner.run_scenario(&plan, None).await;
    ///
    /// let steps: Vec<&str> = outcome.steps.iter().map(|s| s.name.as_str()).collect();
    /// assert_eq!(steps, ["no-policy", "deny-all", "allow-rule", "label-busybox"]);
    /// assert!(outcome.passed());
    /// assert!(cluster.owned_objects().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })
    /// # }
    /// ```
    pub async fn run_scenario(
        &self,
        plan: &ScenarioPlan,
        only: Option<&BTreeSet<String>>,
    ) -> ScenarioOutcome {
        let mut ignore = |_: RunEvent<'_>| ControlFlow::Continue(());
        let events = Events::new(&mut ignore);
        let _locks = self.lock(plan).await;
        self.run_locked(plan, only, &events).await
    }

    /// Waits for the locks `plan` needs: all of them if it must run alone, else a share of the
    /// run and its namespaces (so that two scenarios never share a namespace).
    async fn lock(&self, plan: &ScenarioPlan) -> ScenarioLocks<'_> {
        if plan.exclusive() {
            return ScenarioLocks {
                _alone: Some(self.exclusive.write().await),
                _shared: None,
                _namespaces: Vec::new(),
            };
        }
        let shared = self.exclusive.read().await;
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
        let mut namespaces = Vec::new();
        for lock in locks {
            namespaces.push(lock.lock_owned().await);
        }
        ScenarioLocks {
            _alone: None,
            _shared: Some(shared),
            _namespaces: namespaces,
        }
    }

    /// Runs one scenario whose locks are held, and cleans up after it.
    async fn run_locked(
        &self,
        plan: &ScenarioPlan,
        only: Option<&BTreeSet<String>>,
        events: &Events<'_>,
    ) -> ScenarioOutcome {
        let _ = events.emit(RunEvent::ScenarioStarted {
            plan,
            exclusive: plan.exclusive(),
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
            served: Mutex::new(Served::default()),
        };
        let steps = self.run_steps(&ctx, only, events).await;
        let cleanup_errors = self.cleanup(&record).await;
        self.pending.lock().expect("lock").remove(&id);
        let outcome = ScenarioOutcome {
            name: plan.name.clone(),
            title: plan.title.clone(),
            steps,
            cleanup_errors,
            duration: started.elapsed(),
        };
        let _ = events.emit(RunEvent::ScenarioFinished { outcome: &outcome });
        outcome
    }

    /// Sets the scenario up, then runs its steps up to the last one probed: each step's actions,
    /// then (if it is selected and applies) its probes until they converge. Steps that cannot
    /// run (setup or an earlier step's actions failed) are reported with why; after the
    /// callback asks to stop, no step starts and the rest are not reported.
    async fn run_steps(
        &self,
        ctx: &ScenarioCtx<'_>,
        only: Option<&BTreeSet<String>>,
        events: &Events<'_>,
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
        let report = |outcomes: &mut Vec<StepOutcome>, i: usize, mut outcome: StepOutcome| {
            outcome.tags.clone_from(&plan.steps[i].tags);
            let _ = events.emit(RunEvent::StepFinished {
                plan,
                step: &plan.steps[i],
                outcome: &outcome,
            });
            outcomes.push(outcome);
        };
        // Nothing after the last step that is probed needs to run.
        let last = (0..plan.steps.len()).rev().find(|&i| probed(i));
        let mut from = 0;
        let mut broken: Option<String> = None;
        // A policy applied with the setup leaves no moment to take a baseline in.
        let mut baseline_due = !plan.setup.iter().any(crate::scenario::state::is_policy);
        if let Some(last) = last {
            let _ = events.emit(RunEvent::SetupStarted { plan });
            match self.setup(ctx).await {
                Err(e) => broken = Some(format!("setup failed: {e}")),
                Ok(()) => {
                    for (i, step) in plan.steps[..=last].iter().enumerate() {
                        if events.stopped() {
                            return outcomes;
                        }
                        from = i + 1;
                        if baseline_due && applies_policy(step) {
                            baseline_due = false;
                            self.baseline(ctx, i).await;
                        }
                        let _ = events.emit(RunEvent::StepStarted { plan, step });
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
                                let mut outcome = self.probe_step(ctx, step, events).await;
                                outcome.applicability = applicability[i].clone();
                                outcome.declared_deny_style =
                                    self.options.cni.as_ref().and_then(|p| p.deny_style);
                                outcome
                            }
                        };
                        let outcome = StepOutcome {
                            duration: started.elapsed(),
                            ..outcome
                        };
                        if selected(i) {
                            report(&mut outcomes, i, outcome);
                        }
                        if events.stopped() {
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
            if events.stopped() {
                break;
            }
            report(&mut outcomes, i, unrun(i, broken.as_deref()));
        }
        outcomes
    }
}
