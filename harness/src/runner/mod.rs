//! The runner: for each scenario, set up, then for each step do its actions, wait, probe,
//! converge, confirm and judge; clean up at the end whatever happened.
//!
//! What it runs is a [`plan::ScenarioPlan`]: the scenario planner's steps (each probe with the
//! scenario's expectation, where the oracle resolves its packets to go, and the oracle's reason),
//! refused if it disagrees with the oracle.
//!
//! Probing a step:
//! 1. Each probe is resolved to cells, following the planner's resolution of its target: one
//!    ready pod per source endpoint (every replica with [`RunOptions::all_replicas`]) × the
//!    target's address (each pod of an endpoint, a Service's ClusterIP, an external address, the
//!    `kube-dns` Service for a lookup, the ingress controller's host port for an `ingress:` path
//!    probed from outside).
//! 2. **One exec per source pod per round**: every probe that pod makes goes into one batch
//!    ([`crate::probe::batch_script`] through [`ClusterOps::run_probes`], read back with
//!    [`crate::probe::parse_output`]), run concurrently inside the pod; sources run in parallel,
//!    at most [`RunOptions::max_parallel_execs`] at once, the slowest (those with a probe
//!    expected to time out) first, so that quick batches fill the slots they leave.
//!    Probes `from: outside` are made by the harness itself ([`outside::OutsideClient`]).
//! 3. **Converge**: while some cells differ from what is expected and the deadline has not
//!    passed, wait [`RunOptions::poll_interval`] and re-probe *only the cells that differ*
//!    (sources whose cells all match make no exec). Re-probing only the differing cells keeps
//!    rounds cheap: a cell that matched is not probed again until the confirmation, and a
//!    matching blocked cell, which costs a full probe timeout, is not paid for every round.
//! 4. **Confirm**: if anything was re-probed, one more full pass over every cell; its
//!    observations are the step's result. This undoes the bias of polling each cell until it
//!    matches: the verdict rests on one pass after convergence, not on each cell's lucky
//!    moment. A cell that changed after it had matched is reported as **flapped** (and fails).
//!    When the first pass matched everything there was no polling, so it is the result.
//! 5. **Judge**: every cell as expected → pass. If the step expects some probe to be blocked
//!    and every such probe was allowed, the verdict is **not enforced**, whatever else matched:
//!    a CNI that enforces nothing must never pass by accident.
//!
//! With a CNI profile ([`RunOptions::cni`]) every step is first classified
//! ([`crate::provision::cni::classify`]): a step that is not applicable still has its actions
//! carried out (later steps build on them) but its probes are skipped; how the other verdicts
//! read on that CNI (a known deviation, "not enforced" on a CNI that enforces nothing) is
//! [`outcome::StepOutcome::result`]. Steps after the last one that is probed are not run at all,
//! so a scenario none of whose steps apply touches nothing.

pub mod outcome;
pub mod outside;
pub mod plan;
pub mod report;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::cluster::{
    ClusterError, ClusterOps, DEFAULT_CONTAINER_ANNOTATION, DEFAULT_PROBE_IMAGE, EndpointRef,
    LabelChange, PROBE_CONTAINER, PROBE_TOOL_ANNOTATION, PodInfo, PodRef, is_cluster_scoped,
    workload_endpoints,
};
use crate::manifest::Document;
use crate::probe::{
    HttpMethod, Outcome, ProbeKind, ProbeResult, ProbeSpec, ProbeTool, detect_tool_command,
    parse_output, parse_tool, tool_of_image,
};
use crate::provision::cni::{Applicability, CniProfile, classify};
use crate::scenario::PlannedProbe;
use crate::scenario::format::{Expectation, ProbeKind as ScenarioProbeKind};
use crate::scenario::plan::Resolution;
use crate::scenario::state::{DNS_NAMESPACE, DNS_SERVICE};
use crate::scenario::target::Client;
use outcome::{CellOutcome, ScenarioOutcome, StepOutcome, StepVerdict, connected, matches};
use outside::OutsideClient;
use plan::{PlannedAction, ScenarioPlan, StepPlan};

/// Time an exec may take beyond its slowest probe's timeout (connection, process start, busybox
/// rounding timeouts up to whole seconds and its hard cap).
const EXEC_SLACK: Duration = Duration::from_secs(15);
/// Time the tool detection exec may take.
const DETECT_TIMEOUT: Duration = Duration::from_secs(20);
/// The Host header of HTTP probes from outside (what `curl http://localhost/…` sends; the
/// planner predicts that routes for a specific host never match).
const OUTSIDE_HOST: &str = "localhost";

/// How probes are grouped into execs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Batching {
    /// One exec per source pod per round, all its probes in one batch (the default).
    #[default]
    PerSource,
    /// One exec per probe, as the upstream e2e suite does (for comparison).
    PerCell,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How long a step may take to converge before its differing cells are final.
    pub deadline: Duration,
    /// How long to wait between probe rounds while cells differ.
    pub poll_interval: Duration,
    /// How long a probe waits for a silent peer (the cost of every blocked probe).
    pub probe_timeout: Duration,
    /// How long workloads, namespaces and probe containers may take to become ready.
    pub ready_timeout: Duration,
    /// Probe from and to every ready replica instead of one pod per workload.
    pub all_replicas: bool,
    /// Image of the ephemeral probe container.
    pub probe_image: String,
    /// At most this many execs at once.
    pub max_parallel_execs: usize,
    /// At most this many scenarios at once (scenarios that touch shared or cluster-scoped
    /// objects always run alone).
    pub max_parallel_scenarios: usize,
    /// How probes are grouped into execs.
    pub batching: Batching,
    /// Where probes `from: outside` go (the ingress controller's host port on the kind node).
    pub outside_address: SocketAddr,
    /// The CNI under test: each step is classified against its profile. Without one, every
    /// step is applicable.
    pub cni: Option<CniProfile>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            deadline: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
            probe_timeout: Duration::from_secs(1),
            ready_timeout: Duration::from_secs(180),
            all_replicas: false,
            probe_image: DEFAULT_PROBE_IMAGE.to_string(),
            max_parallel_execs: 8,
            max_parallel_scenarios: 2,
            batching: Batching::PerSource,
            outside_address: SocketAddr::from(([127, 0, 0, 1], 80)),
            cni: None,
        }
    }
}

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
        /// Whether nothing failed ([`ScenarioOutcome::ok`]).
        ok: bool,
        /// Cleanup failures.
        cleanup_errors: usize,
    },
}

/// Receives progress events.
pub type ProgressSink = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A point between the steps of a scenario, for a caller that follows them one by one
/// ([`Runner::run_scenario_with`]).
#[derive(Debug, Clone, Copy)]
pub enum StepEvent<'a> {
    /// The step's actions are about to run.
    Starting(&'a StepPlan),
    /// The step ended.
    Finished(&'a StepPlan, &'a StepOutcome),
}

/// What a scenario created, to be deleted at its end, on failure, or on Ctrl-C.
#[derive(Debug, Clone, Default)]
struct CleanupRecord {
    namespaces: Vec<String>,
    docs: Vec<Document>,
}

/// Runs scenario plans on a cluster.
pub struct Runner<C> {
    cluster: Arc<C>,
    options: RunOptions,
    outside: OutsideClient,
    progress: ProgressSink,
    /// Cleanups of scenarios that have not finished theirs.
    pending: Mutex<BTreeMap<u64, Arc<Mutex<CleanupRecord>>>>,
    next_id: AtomicU64,
    /// Held for writing by scenarios that must run alone, for reading by the others.
    exclusive: tokio::sync::RwLock<()>,
    /// One lock per namespace name, so that two scenarios never share a namespace.
    namespace_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Where a cell's probe is made from.
#[derive(Debug, Clone)]
enum Source {
    /// Inside this pod.
    Pod(PodInfo),
    /// By the harness, from outside the cluster.
    Outside,
    /// Nowhere: the probe could not be resolved (its error is the cell's only observation).
    Unresolved,
}

/// One probe being converged.
#[derive(Debug, Clone)]
struct Cell {
    from: String,
    to: String,
    source: Source,
    source_name: String,
    target: String,
    spec: ProbeSpec,
    expected: Expectation,
    why: Option<String>,
    history: Vec<(Outcome, String)>,
}

impl Cell {
    fn matches_last(&self) -> bool {
        self.history
            .last()
            .is_some_and(|(o, _)| matches(self.expected, o))
    }

    fn probeable(&self) -> bool {
        !matches!(self.source, Source::Unresolved)
    }

    fn kind_name(&self) -> String {
        match &self.spec.kind {
            ProbeKind::Http { method, path } => format!("http {method} {path}"),
            ProbeKind::Dns { name } => format!("dns {name}"),
            kind => kind.name().to_string(),
        }
    }

    fn outcome(&self) -> CellOutcome {
        let history: Vec<Outcome> = self.history.iter().map(|(o, _)| o.clone()).collect();
        let (observed, detail) = self
            .history
            .last()
            .cloned()
            .unwrap_or((Outcome::Error("never probed".into()), String::new()));
        let first_match = history.iter().position(|o| matches(self.expected, o));
        let flapped =
            first_match.is_some_and(|i| history[i..].iter().any(|o| !matches(self.expected, o)));
        CellOutcome {
            from: self.from.clone(),
            to: self.to.clone(),
            source: self.source_name.clone(),
            target: self.target.clone(),
            kind: self.kind_name(),
            port: self.spec.port,
            expected: self.expected,
            matched: matches(self.expected, &observed),
            observed,
            detail,
            flapped,
            history,
            why: self.why.clone(),
        }
    }
}

/// How to probe from a pod (its container and tool), or why it cannot be done.
type ProberResult = Result<(String, ProbeTool), String>;

/// Per-scenario state.
struct ScenarioCtx<'a> {
    plan: &'a ScenarioPlan,
    record: Arc<Mutex<CleanupRecord>>,
    /// How to probe from each source pod: container and tool, found once.
    probers: Mutex<HashMap<PodRef, Arc<OnceCell<ProberResult>>>>,
    detect_execs: AtomicUsize,
}

fn same_object(a: &Document, b: &Document) -> bool {
    a.api_version() == b.api_version()
        && a.kind() == b.kind()
        && a.name() == b.name()
        && a.namespace().unwrap_or("default") == b.namespace().unwrap_or("default")
}

/// A batch to run: the cells one exec (or the outside client) serves.
struct Job {
    source: Source,
    cells: Vec<(usize, ProbeSpec)>,
}

/// What a job observed.
struct JobResult {
    observations: Vec<(usize, Outcome, String)>,
    execs: usize,
}

/// A resolved probe target.
#[derive(Debug, Clone)]
struct Target {
    host: String,
    port: Option<u16>,
    description: String,
}

/// The ready pods found per endpoint while resolving a step's cells.
type PodCache = HashMap<String, Result<Vec<PodInfo>, String>>;

/// How `step` of `scenario` applies to `cni` ([`classify`] of the step's requirements;
/// applicable without a CNI).
pub fn applicability(cni: Option<&CniProfile>, scenario: &str, step: &StepPlan) -> Applicability {
    match cni {
        Some(profile) => classify(
            profile,
            &format!("{scenario}/{}", step.name()),
            &step.planned.requires,
        ),
        None => Applicability::Applicable,
    }
}

/// The kind of probe the script makes for `planned`: the scenario's kind, with an HTTP probe's
/// method and path (an `ingress:` target's path) and a lookup's name.
fn probe_kind(planned: &PlannedProbe) -> Result<ProbeKind, String> {
    let probe = &planned.probe;
    Ok(match probe.kind {
        ScenarioProbeKind::Tcp => ProbeKind::Tcp,
        ScenarioProbeKind::Udp => ProbeKind::Udp,
        ScenarioProbeKind::Sctp => ProbeKind::Sctp,
        ScenarioProbeKind::Icmp => ProbeKind::Icmp,
        ScenarioProbeKind::Http => {
            let method = match &probe.method {
                None => HttpMethod::Get,
                Some(m) => HttpMethod::parse(m).ok_or_else(|| {
                    format!("the probe script sends GET or POST requests, not {m}")
                })?,
            };
            let path = match &planned.resolution {
                Resolution::Ingress { path, .. } => path.clone(),
                _ => probe.path.clone().unwrap_or_else(|| "/".into()),
            };
            ProbeKind::Http { method, path }
        }
        ScenarioProbeKind::Dns => match &planned.resolution {
            Resolution::Dns { name, .. } => ProbeKind::Dns { name: name.clone() },
            other => return Err(format!("a dns probe resolved to {other}")),
        },
    })
}

impl<C: ClusterOps> Runner<C> {
    /// A runner on `cluster`.
    pub fn new(cluster: Arc<C>, options: RunOptions) -> Runner<C> {
        Runner {
            cluster,
            outside: OutsideClient::new(options.outside_address),
            options,
            progress: Arc::new(|_: &Progress| {}),
            pending: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
            exclusive: tokio::sync::RwLock::new(()),
            namespace_locks: Mutex::new(HashMap::new()),
        }
    }

    /// Sends progress events to `sink`.
    pub fn with_progress(mut self, sink: ProgressSink) -> Runner<C> {
        self.progress = sink;
        self
    }

    /// How `step` of `scenario` applies to the CNI under test.
    pub fn applicability(&self, scenario: &str, step: &StepPlan) -> Applicability {
        applicability(self.options.cni.as_ref(), scenario, step)
    }

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

    /// Cleans up after scenarios that were interrupted (their futures dropped, e.g. on
    /// Ctrl-C); returns what could not be cleaned up.
    pub async fn cleanup_pending(&self) -> Vec<String> {
        let records: Vec<_> = std::mem::take(&mut *self.pending.lock().expect("lock"))
            .into_values()
            .collect();
        let mut errors = Vec::new();
        for record in records {
            errors.extend(self.cleanup(&record).await);
        }
        errors
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
                        let outcome = match self.actions(ctx, step).await {
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

    async fn setup(&self, ctx: &ScenarioCtx<'_>) -> Result<(), ClusterError> {
        for ns in &ctx.plan.namespaces {
            // Recorded first, so that an interruption mid-creation leaks nothing; a namespace
            // that turns out not to be the harness's is refused by its deletion too.
            ctx.record.lock().expect("lock").namespaces.push(ns.clone());
            self.cluster.create_namespace(ns).await?;
        }
        self.apply(ctx, &ctx.plan.setup).await
    }

    /// Applies documents (recorded for cleanup first) and waits for their workloads.
    async fn apply(&self, ctx: &ScenarioCtx<'_>, docs: &[Document]) -> Result<(), ClusterError> {
        ctx.record
            .lock()
            .expect("lock")
            .docs
            .extend(docs.iter().cloned());
        self.cluster.apply(docs).await?;
        self.wait_ready(&workload_endpoints(docs)).await
    }

    /// Waits until every one of `endpoints` is ready, all at once.
    async fn wait_ready(&self, endpoints: &[EndpointRef]) -> Result<(), ClusterError> {
        futures::future::try_join_all(
            endpoints
                .iter()
                .map(|e| self.cluster.wait_ready(e, self.options.ready_timeout)),
        )
        .await?;
        Ok(())
    }

    async fn actions(&self, ctx: &ScenarioCtx<'_>, step: &StepPlan) -> Result<(), ClusterError> {
        for action in &step.actions {
            match action {
                PlannedAction::Apply(docs) => self.apply(ctx, docs).await?,
                PlannedAction::Delete(docs) => self.cluster.delete(docs).await?,
                PlannedAction::LabelNamespace {
                    namespace,
                    set,
                    remove,
                } => {
                    self.cluster
                        .label_namespace(namespace, LabelChange { set, remove })
                        .await?
                }
                PlannedAction::LabelPods {
                    endpoint,
                    set,
                    remove,
                } => {
                    self.cluster
                        .label_pods(endpoint, LabelChange { set, remove })
                        .await?
                }
                PlannedAction::WaitRollout(endpoints) => self.wait_ready(endpoints).await?,
            }
        }
        Ok(())
    }

    /// Deletes what a scenario created: its objects outside the namespaces being deleted (in
    /// reverse order), then its namespaces. Objects that turn out not to be the harness's
    /// (an apply that was refused) are left alone.
    ///
    /// The record is emptied only once every deletion was attempted: a cleanup interrupted
    /// part-way (Ctrl-C while it runs) leaves it whole for [`Runner::cleanup_pending`], which
    /// deletes again what is left (deleting what is gone is a no-op).
    async fn cleanup(&self, shared: &Mutex<CleanupRecord>) -> Vec<String> {
        let record = shared.lock().expect("lock").clone();
        let mut going: HashSet<&str> = record.namespaces.iter().map(String::as_str).collect();
        going.extend(
            record
                .docs
                .iter()
                .filter(|d| d.api_version() == "v1" && d.kind() == "Namespace")
                .map(|d| d.name()),
        );
        let mut docs: Vec<&Document> = Vec::new();
        for doc in record.docs.iter().rev() {
            let in_going = if is_cluster_scoped(doc.api_version(), doc.kind()) {
                doc.kind() == "Namespace" && record.namespaces.iter().any(|n| n == doc.name())
            } else {
                going.contains(doc.namespace().unwrap_or("default"))
            };
            if !in_going && !docs.iter().any(|d| same_object(d, doc)) {
                docs.push(doc);
            }
        }
        let mut errors = Vec::new();
        for doc in docs {
            match self.cluster.delete(std::slice::from_ref(doc)).await {
                Ok(()) => {}
                Err(ClusterError::UnownedObject { .. } | ClusterError::UnownedNamespace { .. }) => {
                    tracing::debug!("{}: not the harness's, left alone", doc.source);
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        for ns in record.namespaces.iter().rev() {
            match self.cluster.delete_namespace(ns).await {
                Ok(()) => {}
                Err(ClusterError::UnownedNamespace { .. }) => {
                    tracing::debug!("namespace {ns}: not the harness's, left alone");
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        *shared.lock().expect("lock") = CleanupRecord::default();
        errors
    }

    /// Probes a step until it converges (or the deadline passes), confirms, and judges.
    async fn probe_step(&self, ctx: &ScenarioCtx<'_>, step: &StepPlan) -> StepOutcome {
        let detect_before = ctx.detect_execs.load(Ordering::Relaxed);
        let mut cells = self.resolve_cells(ctx, step).await;
        let probeable: Vec<usize> = (0..cells.len()).filter(|&i| cells[i].probeable()).collect();
        let started = Instant::now();
        let deadline = started + self.options.deadline;
        let (mut rounds, mut execs) = (0, 0);
        let mut converged_after = None;
        let mut pending = probeable.clone();
        while !pending.is_empty() {
            execs += self.round(ctx, &mut cells, &pending).await;
            rounds += 1;
            let probed = pending.len();
            pending.retain(|&i| !cells[i].matches_last());
            (self.progress)(&Progress::Round {
                scenario: ctx.plan.name.clone(),
                step: step.name().to_string(),
                round: rounds,
                probed,
                differing: pending.len(),
            });
            if pending.is_empty() {
                converged_after = Some(started.elapsed());
                break;
            }
            if Instant::now() + self.options.poll_interval > deadline {
                break;
            }
            tokio::time::sleep(self.options.poll_interval).await;
        }
        let confirmed = converged_after.is_some() && rounds > 1;
        if confirmed {
            execs += self.round(ctx, &mut cells, &probeable).await;
            rounds += 1;
        }
        let outcomes: Vec<CellOutcome> = cells.iter().map(Cell::outcome).collect();
        let (verdict, reason) = judge(&outcomes);
        StepOutcome {
            name: step.name().to_string(),
            applicability: Applicability::Applicable,
            verdict,
            reason,
            cells: outcomes,
            rounds,
            execs,
            detect_execs: ctx.detect_execs.load(Ordering::Relaxed) - detect_before,
            confirmed,
            converged_after,
            duration: started.elapsed(),
        }
    }

    /// Resolves every probe of a step into cells (sources × targets); probes that cannot be
    /// resolved become one cell holding the error.
    async fn resolve_cells(&self, ctx: &ScenarioCtx<'_>, step: &StepPlan) -> Vec<Cell> {
        let mut pods = PodCache::new();
        let mut cells = Vec::new();
        for planned in &step.planned.probes {
            let probe = &planned.probe;
            let sources = match &planned.client {
                Client::Outside => Ok(vec![Source::Outside]),
                Client::Endpoint(key) => self
                    .pods_of(ctx, step, &mut pods, key)
                    .await
                    .map(|p| p.into_iter().map(Source::Pod).collect()),
            };
            let targets = self.targets(ctx, step, &mut pods, planned).await;
            let resolved = probe_kind(planned).and_then(|kind| Ok((kind, sources?, targets?)));
            let (kind, sources, targets) = match resolved {
                Ok(r) => r,
                Err(e) => {
                    cells.push(Cell {
                        from: probe.from.clone(),
                        to: probe.to.clone(),
                        source: Source::Unresolved,
                        source_name: probe.from.clone(),
                        target: probe.to.clone(),
                        spec: ProbeSpec {
                            id: cells.len().to_string(),
                            kind: ProbeKind::Tcp,
                            host: String::new(),
                            port: probe.port,
                            timeout: self.options.probe_timeout,
                        },
                        expected: planned.expected,
                        why: Some(planned.reason.clone()),
                        history: vec![(Outcome::Error(e), String::new())],
                    });
                    continue;
                }
            };
            for source in &sources {
                for target in &targets {
                    let source_name = match source {
                        Source::Pod(p) => p.pod.to_string(),
                        _ => "outside".to_string(),
                    };
                    let id = cells.len().to_string();
                    cells.push(Cell {
                        from: probe.from.clone(),
                        to: probe.to.clone(),
                        source: source.clone(),
                        source_name,
                        target: target.description.clone(),
                        spec: ProbeSpec {
                            id,
                            kind: kind.clone(),
                            host: target.host.clone(),
                            port: target.port,
                            timeout: self.options.probe_timeout,
                        },
                        expected: planned.expected,
                        why: Some(planned.reason.clone()),
                        history: Vec::new(),
                    });
                }
            }
        }
        cells
    }

    /// The ready pods of an endpoint to probe from or to (one, or all with `all_replicas`).
    async fn pods_of(
        &self,
        ctx: &ScenarioCtx<'_>,
        step: &StepPlan,
        cache: &mut PodCache,
        key: &str,
    ) -> Result<Vec<PodInfo>, String> {
        if let Some(found) = cache.get(key) {
            return found.clone();
        }
        let found = async {
            let endpoint = ctx
                .plan
                .endpoint(step, key)
                .ok_or_else(|| format!("endpoint {key} does not exist at step {}", step.name()))?;
            let mut pods = self
                .cluster
                .ready_pods(&endpoint)
                .await
                .map_err(|e| e.to_string())?;
            if pods.is_empty() {
                return Err(format!("{endpoint} has no Ready pod"));
            }
            if !self.options.all_replicas {
                pods.truncate(1);
            }
            Ok(pods)
        }
        .await;
        cache.insert(key.to_string(), found.clone());
        found
    }

    /// The addresses a probe's packets go to, as the planner resolved its target.
    async fn targets(
        &self,
        ctx: &ScenarioCtx<'_>,
        step: &StepPlan,
        cache: &mut PodCache,
        planned: &PlannedProbe,
    ) -> Result<Vec<Target>, String> {
        let with_port = |host: &str, port: Option<u16>| match port {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let service_ip = |namespace: String, name: String| async move {
            let service = self
                .cluster
                .service(&namespace, &name)
                .await
                .map_err(|e| e.to_string())?;
            service
                .cluster_ip
                .map(|ip| (service, ip))
                .ok_or_else(|| format!("Service {namespace}/{name} is headless (no ClusterIP)"))
        };
        let pod_targets = |pods: Vec<PodInfo>, port: Option<u16>, suffix: &str| {
            pods.into_iter()
                .map(|p| {
                    let ip = p
                        .ips
                        .first()
                        .ok_or_else(|| format!("pod {} has no IP", p.pod))?
                        .to_string();
                    Ok(Target {
                        description: format!("{} {}{suffix}", p.pod, with_port(&ip, port)),
                        host: ip,
                        port,
                    })
                })
                .collect::<Result<Vec<_>, String>>()
        };
        match &planned.resolution {
            Resolution::Endpoint { endpoint, port, .. } => {
                let pods = self.pods_of(ctx, step, cache, endpoint).await?;
                pod_targets(pods, *port, "")
            }
            Resolution::Service { service, port, .. } => {
                let (namespace, name) = service
                    .split_once('/')
                    .ok_or_else(|| format!("`{service}` is not namespace/name"))?;
                let (info, ip) = service_ip(namespace.to_string(), name.to_string()).await?;
                if !info.ports.iter().any(|p| p.port == *port) {
                    return Err(format!("Service {service} has no port {port}"));
                }
                let host = ip.to_string();
                Ok(vec![Target {
                    description: format!("svc:{service} {}", with_port(&host, Some(*port))),
                    host,
                    port: Some(*port),
                }])
            }
            Resolution::External { ip, port, .. } => {
                let host = ip.to_string();
                Ok(vec![Target {
                    description: with_port(&host, *port),
                    host,
                    port: *port,
                }])
            }
            Resolution::Dns { name, .. } => {
                let (_, ip) =
                    service_ip(DNS_NAMESPACE.to_string(), DNS_SERVICE.to_string()).await?;
                Ok(vec![Target {
                    description: format!("dns:{name} via {DNS_NAMESPACE}/{DNS_SERVICE} {ip}"),
                    host: ip.to_string(),
                    port: None,
                }])
            }
            Resolution::Ingress {
                path,
                controller,
                controller_port,
                ..
            } => match planned.client {
                Client::Outside => {
                    let address = self.outside.address();
                    Ok(vec![Target {
                        description: format!(
                            "ingress {address}{path} (planned via {controller}:{controller_port})"
                        ),
                        host: address.ip().to_string(),
                        port: Some(address.port()),
                    }])
                }
                Client::Endpoint(_) => Err(format!(
                    "`ingress:{path}` is probed from outside the cluster, not from a pod"
                )),
            },
        }
    }

    /// Probes the cells `which`, one exec per source pod (or per cell), and records what each
    /// observed. Returns the number of probe execs.
    async fn round(&self, ctx: &ScenarioCtx<'_>, cells: &mut [Cell], which: &[usize]) -> usize {
        let mut jobs: Vec<Job> = Vec::new();
        let mut by_pod: BTreeMap<PodRef, usize> = BTreeMap::new();
        for &i in which {
            let cell = &cells[i];
            let entry = (i, cell.spec.clone());
            match &cell.source {
                Source::Pod(pod) if self.options.batching == Batching::PerSource => {
                    match by_pod.get(&pod.pod) {
                        Some(&j) => jobs[j].cells.push(entry),
                        None => {
                            by_pod.insert(pod.pod.clone(), jobs.len());
                            jobs.push(Job {
                                source: cell.source.clone(),
                                cells: vec![entry],
                            });
                        }
                    }
                }
                Source::Pod(_) | Source::Outside => jobs.push(Job {
                    source: cell.source.clone(),
                    cells: vec![entry],
                }),
                Source::Unresolved => {}
            }
        }
        // Slowest first: a batch with a probe expected to time out takes the full timeout, so
        // starting those first lets the quick batches fill the slots they leave, instead of a
        // slow batch waiting for a slot behind quick ones.
        let slow = |job: &Job| {
            job.cells.iter().any(|(i, _)| {
                cells[*i].expected == Expectation::Blocked
                    || cells[*i]
                        .history
                        .last()
                        .is_some_and(|(o, _)| *o == Outcome::Blocked)
            })
        };
        jobs.sort_by_key(|j| !slow(j));
        let results: Vec<JobResult> = futures::stream::iter(jobs)
            .map(|job| self.run_job(ctx, job))
            .buffer_unordered(self.options.max_parallel_execs.max(1))
            .collect()
            .await;
        let mut execs = 0;
        for result in results {
            execs += result.execs;
            for (i, outcome, detail) in result.observations {
                cells[i].history.push((outcome, detail));
            }
        }
        execs
    }

    async fn run_job(&self, ctx: &ScenarioCtx<'_>, job: Job) -> JobResult {
        let fail_all = |message: String, execs: usize| JobResult {
            observations: job
                .cells
                .iter()
                .map(|(i, _)| (*i, Outcome::Error(message.clone()), String::new()))
                .collect(),
            execs,
        };
        let pod = match &job.source {
            Source::Pod(pod) => pod,
            Source::Outside => {
                let mut observations = Vec::new();
                for (i, spec) in &job.cells {
                    let ProbeKind::Http { method, path } = &spec.kind else {
                        observations.push((
                            *i,
                            Outcome::Error("probes from outside are HTTP only".into()),
                            String::new(),
                        ));
                        continue;
                    };
                    let (outcome, detail) = self
                        .outside
                        .http(method.as_str(), path, OUTSIDE_HOST, spec.timeout)
                        .await;
                    observations.push((*i, outcome, detail));
                }
                return JobResult {
                    observations,
                    execs: 0,
                };
            }
            Source::Unresolved => return fail_all("unresolved".into(), 0),
        };
        let (container, tool) = match self.prober(ctx, pod).await {
            Ok(found) => found,
            Err(e) => return fail_all(format!("cannot probe from {}: {e}", pod.pod), 0),
        };
        let specs: Vec<ProbeSpec> = job.cells.iter().map(|(_, s)| s.clone()).collect();
        let timeout = specs.iter().map(|s| s.timeout).max().unwrap_or_default() + EXEC_SLACK;
        let output = match self
            .cluster
            .run_probes(&pod.pod, &container, &specs, tool, timeout)
            .await
        {
            Ok(o) => o,
            Err(ClusterError::Probe(e)) => {
                return fail_all(format!("cannot build the probe batch: {e}"), 0);
            }
            Err(e) => return fail_all(e.to_string(), 1),
        };
        let results = match parse_output(&output.stdout, &specs) {
            Ok(r) => r,
            Err(e) => {
                return fail_all(
                    format!(
                        "cannot read the probe output ({e}); exit code {}, stderr: {}",
                        output.exit_code,
                        output.stderr.trim()
                    ),
                    1,
                );
            }
        };
        let by_id: HashMap<&str, &ProbeResult> =
            results.iter().map(|r| (r.id.as_str(), r)).collect();
        JobResult {
            observations: job
                .cells
                .iter()
                .map(|(i, spec)| match by_id.get(spec.id.as_str()) {
                    Some(r) => (*i, r.outcome.clone(), r.detail.clone()),
                    None => (
                        *i,
                        Outcome::Error("the probe batch reported nothing for this probe".into()),
                        String::new(),
                    ),
                })
                .collect(),
            execs: 1,
        }
    }

    /// The container to probe from in a pod, and its tool: found once per pod.
    async fn prober(
        &self,
        ctx: &ScenarioCtx<'_>,
        pod: &PodInfo,
    ) -> Result<(String, ProbeTool), String> {
        let cell = ctx
            .probers
            .lock()
            .expect("lock")
            .entry(pod.pod.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| self.find_prober(ctx, pod))
            .await
            .clone()
    }

    /// The pod's declared tool, else its image's, else what the detection exec finds; with no
    /// tool (or no shell), the ephemeral probe container.
    async fn find_prober(
        &self,
        ctx: &ScenarioCtx<'_>,
        pod: &PodInfo,
    ) -> Result<(String, ProbeTool), String> {
        let probe_tool = tool_of_image(&self.options.probe_image).unwrap_or(ProbeTool::Agnhost);
        if pod.running_ephemeral.iter().any(|c| c == PROBE_CONTAINER) {
            return Ok((PROBE_CONTAINER.to_string(), probe_tool));
        }
        let container = pod
            .annotations
            .get(DEFAULT_CONTAINER_ANNOTATION)
            .cloned()
            .or_else(|| pod.containers.first().map(|c| c.name.clone()))
            .ok_or("the pod has no container")?;
        let image = pod
            .containers
            .iter()
            .find(|c| c.name == container)
            .map(|c| c.image.as_str())
            .unwrap_or("");
        let tool = match pod.annotations.get(PROBE_TOOL_ANNOTATION) {
            Some(word) => parse_tool(word),
            None => match tool_of_image(image) {
                Some(t) => Some(t),
                None => {
                    ctx.detect_execs.fetch_add(1, Ordering::Relaxed);
                    match self
                        .cluster
                        .exec(&pod.pod, &container, &detect_tool_command(), DETECT_TIMEOUT)
                        .await
                    {
                        Ok(out) if out.exit_code == 0 => parse_tool(&out.stdout),
                        _ => None,
                    }
                }
            },
        };
        if let Some(tool) = tool {
            return Ok((container, tool));
        }
        self.cluster
            .add_probe_container(
                &pod.pod,
                &self.options.probe_image,
                self.options.ready_timeout,
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok((PROBE_CONTAINER.to_string(), probe_tool))
    }
}

/// The verdict on a step's cells, and why.
pub fn judge(cells: &[CellOutcome]) -> (StepVerdict, String) {
    if cells.is_empty() {
        return (StepVerdict::Pass, "no probes in this step".into());
    }
    let total = cells.len();
    let wrong = cells.iter().filter(|c| !c.matched).count();
    let blocked: Vec<&CellOutcome> = cells
        .iter()
        .filter(|c| c.expected == Expectation::Blocked)
        .collect();
    if !blocked.is_empty() && blocked.iter().all(|c| connected(&c.observed)) {
        return (
            StepVerdict::NotEnforced,
            format!(
                "policy not enforced: all {} probes expected to be blocked were allowed ({wrong} of {total} probes wrong)",
                blocked.len()
            ),
        );
    }
    let errors = cells
        .iter()
        .filter(|c| matches!(c.observed, Outcome::Error(_)))
        .count();
    let flapped = cells.iter().filter(|c| c.flapped).count();
    if wrong == 0 && flapped == 0 {
        return (StepVerdict::Pass, format!("all {total} probes as expected"));
    }
    let mut parts = Vec::new();
    let allowed = cells
        .iter()
        .filter(|c| !c.matched && c.expected == Expectation::Blocked && connected(&c.observed))
        .count();
    let dropped = cells
        .iter()
        .filter(|c| {
            !c.matched && c.expected != Expectation::Blocked && c.observed == Outcome::Blocked
        })
        .count();
    if allowed > 0 {
        parts.push(format!("{allowed} expected blocked but allowed"));
    }
    if dropped > 0 {
        parts.push(format!("{dropped} expected allowed but blocked"));
    }
    if errors > 0 {
        parts.push(format!("{errors} could not be probed"));
    }
    let other = wrong - allowed - dropped - errors;
    if other > 0 {
        parts.push(format!("{other} other mismatches"));
    }
    let mut reason = format!("{wrong} of {total} probes wrong");
    if !parts.is_empty() {
        reason.push_str(&format!(" ({})", parts.join(", ")));
    }
    if flapped > 0 {
        reason.push_str(&format!("; {flapped} flapped"));
    }
    (StepVerdict::Fail, reason)
}
