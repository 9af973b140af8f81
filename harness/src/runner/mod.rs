//! The runner: for each scenario, set up, then for each step do its actions, wait, probe,
//! converge, confirm and judge; clean up at the end whatever happened.
//!
//! Probing a step:
//! 1. Each probe is resolved to cells: one ready pod per source endpoint (every replica with
//!    [`RunOptions::all_replicas`]) × the target's address (pod IP, Service ClusterIP, …).
//! 2. **One exec per source pod per round**: every probe that pod makes goes into one batch
//!    ([`probe::ProbeBatch`]), run concurrently inside the pod; sources run in parallel, at most
//!    [`RunOptions::max_parallel_execs`] at once, the slowest (expected to time out) first.
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

pub mod outcome;
pub mod outside;
pub mod plan;
pub mod probe;
pub mod report;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
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
use crate::model::{BuildOptions, Cluster, WorkloadKind};
use crate::scenario::format::{Expectation, Probe};
use outcome::{CellOutcome, ScenarioOutcome, StepOutcome, StepVerdict, connected, matches};
use outside::OutsideClient;
use plan::{PlannedAction, ScenarioPlan, StepPlan};
use probe::{
    Outcome, ProbeBatch, ProbeKind, ProbeSpec, ProbeTool, detect_tool_command, parse_tool,
    tool_of_image,
};

/// Time an exec may take beyond its slowest probe's timeout (connection, process start).
const EXEC_SLACK: Duration = Duration::from_secs(15);
/// Time the tool detection exec may take.
const DETECT_TIMEOUT: Duration = Duration::from_secs(20);

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
    /// The ingress controller's Service (`namespace/name`), for `ingress:` targets probed from
    /// pods.
    pub ingress_service: String,
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
            ingress_service: "projectcontour/envoy".to_string(),
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
        /// Whether every step passed.
        passed: bool,
        /// Cleanup failures.
        cleanup_errors: usize,
    },
}

/// Receives progress events.
pub type ProgressSink = Arc<dyn Fn(&Progress) + Send + Sync>;

/// What a scenario created, to be deleted at its end, on failure, or on Ctrl-C.
#[derive(Debug, Clone, Default)]
struct CleanupRecord {
    namespaces: Vec<String>,
    docs: Vec<Document>,
}

/// Runs scenario plans on a cluster.
pub struct Runner<C, P> {
    cluster: Arc<C>,
    probes: Arc<P>,
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
    host_header: String,
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
            ProbeKind::Tcp => "tcp".into(),
            ProbeKind::Udp => "udp".into(),
            ProbeKind::Sctp => "sctp".into(),
            ProbeKind::Icmp => "icmp".into(),
            ProbeKind::Http { method, path } => format!("http {method} {path}"),
            ProbeKind::Dns { name } => format!("dns {name}"),
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
    /// The documents that are applied now (the model of what exists).
    docs: Mutex<Vec<Document>>,
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

impl ScenarioCtx<'_> {
    /// The model of what the scenario has applied.
    fn model(&self) -> Result<Cluster, ClusterError> {
        let docs = self.docs.lock().expect("lock").clone();
        Cluster::from_documents(&docs, &BuildOptions::default()).map_err(|e| {
            ClusterError::InvalidDocument {
                at: "the scenario's manifests".into(),
                message: e.to_string(),
            }
        })
    }

    /// The endpoint `namespace/name`: a pod or workload applied, or one a remote manifest
    /// provides.
    fn endpoint(&self, model: &Cluster, key: &str) -> Result<EndpointRef, ClusterError> {
        if let Some(id) = model.endpoint(key) {
            let e = model.get(id);
            return Ok(EndpointRef {
                namespace: e.namespace.clone(),
                name: e.name.clone(),
                kind: e.kind,
                labels: e.labels.clone(),
            });
        }
        self.plan
            .provided
            .iter()
            .find(|p| format!("{}/{}", p.namespace, p.name) == key)
            .map(|p| EndpointRef {
                namespace: p.namespace.clone(),
                name: p.name.clone(),
                kind: WorkloadKind::Declared,
                labels: p.labels.clone(),
            })
            .ok_or_else(|| ClusterError::NotFound {
                what: format!(
                    "endpoint {key} (no pod or workload of that name in the scenario's manifests)"
                ),
            })
    }
}

/// A batch to run: the cells one exec (or the outside client) serves.
struct Job {
    source: Source,
    cells: Vec<(usize, ProbeSpec, String)>,
}

/// What a job observed.
struct JobResult {
    observations: Vec<(usize, Outcome, String)>,
    execs: usize,
}

impl<C: ClusterOps, P: ProbeBatch> Runner<C, P> {
    /// A runner on `cluster`, probing with `probes`.
    pub fn new(cluster: Arc<C>, probes: Arc<P>, options: RunOptions) -> Runner<C, P> {
        Runner {
            cluster,
            probes,
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
    pub fn with_progress(mut self, sink: ProgressSink) -> Runner<C, P> {
        self.progress = sink;
        self
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
            docs: Mutex::new(Vec::new()),
            probers: Mutex::new(HashMap::new()),
            detect_execs: AtomicUsize::new(0),
        };
        let steps = self.run_steps(&ctx, only).await;
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
            passed: outcome.passed(),
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
    ) -> Vec<StepOutcome> {
        let plan = ctx.plan;
        let selected = |s: &StepPlan| only.is_none_or(|o| o.contains(&s.name));
        let Some(last) = plan.steps.iter().rposition(selected) else {
            return Vec::new();
        };
        (self.progress)(&Progress::Setup {
            scenario: plan.name.clone(),
        });
        if let Err(e) = self.setup(ctx).await {
            return plan
                .steps
                .iter()
                .filter(|s| selected(s))
                .map(|s| StepOutcome::error(&s.name, format!("setup failed: {e}")))
                .collect();
        }
        let mut outcomes = Vec::new();
        let mut broken: Option<String> = None;
        for step in &plan.steps[..=last] {
            if let Some(why) = &broken {
                if selected(step) {
                    outcomes.push(StepOutcome::error(&step.name, format!("not run: {why}")));
                }
                continue;
            }
            (self.progress)(&Progress::StepStarted {
                scenario: plan.name.clone(),
                step: step.name.clone(),
            });
            let started = Instant::now();
            if let Err(e) = self.actions(ctx, step).await {
                broken = Some(format!("the actions of step {} failed", step.name));
                if selected(step) {
                    outcomes.push(StepOutcome::error(
                        &step.name,
                        format!("actions failed: {e}"),
                    ));
                }
                continue;
            }
            if !selected(step) {
                continue;
            }
            let mut outcome = self.probe_step(ctx, step).await;
            outcome.duration = started.elapsed();
            (self.progress)(&Progress::StepFinished {
                scenario: plan.name.clone(),
                outcome: Box::new(outcome.clone()),
            });
            outcomes.push(outcome);
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
        {
            let mut current = ctx.docs.lock().expect("lock");
            for doc in docs {
                current.retain(|d| !same_object(d, doc));
                current.push(doc.clone());
            }
        }
        let endpoints = workload_endpoints(docs);
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
                PlannedAction::Delete(docs) => {
                    self.cluster.delete(docs).await?;
                    ctx.docs
                        .lock()
                        .expect("lock")
                        .retain(|d| !docs.iter().any(|x| same_object(d, x)));
                }
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
                    let endpoint = ctx.endpoint(&ctx.model()?, endpoint)?;
                    self.cluster
                        .label_pods(&endpoint, LabelChange { set, remove })
                        .await?
                }
                PlannedAction::WaitRollout(keys) => {
                    let model = ctx.model()?;
                    let endpoints = keys
                        .iter()
                        .map(|k| ctx.endpoint(&model, k))
                        .collect::<Result<Vec<_>, _>>()?;
                    futures::future::try_join_all(
                        endpoints
                            .iter()
                            .map(|e| self.cluster.wait_ready(e, self.options.ready_timeout)),
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Deletes what a scenario created: its objects outside the namespaces being deleted (in
    /// reverse order), then its namespaces. Objects that turn out not to be the harness's
    /// (an apply that was refused) are left alone.
    async fn cleanup(&self, record: &Mutex<CleanupRecord>) -> Vec<String> {
        let record = std::mem::take(&mut *record.lock().expect("lock"));
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
                step: step.name.clone(),
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
            name: step.name.clone(),
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
        let model = ctx.model();
        let mut pods: HashMap<String, Result<Vec<PodInfo>, String>> = HashMap::new();
        let mut cells = Vec::new();
        for planned in &step.probes {
            let probe = &planned.probe;
            let sources = match probe.from.as_str() {
                "outside" => Ok(vec![Source::Outside]),
                key => self
                    .pods_of(ctx, &model, &mut pods, key)
                    .await
                    .map(|p| p.into_iter().map(Source::Pod).collect()),
            };
            let targets = self.targets(ctx, &model, &mut pods, probe).await;
            let (sources, targets) = match (sources, targets) {
                (Ok(s), Ok(t)) => (s, t),
                (Err(e), _) | (_, Err(e)) => {
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
                        host_header: String::new(),
                        expected: planned.expected,
                        why: planned.why.clone(),
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
                            kind: target.kind.clone(),
                            host: target.host.clone(),
                            port: target.port,
                            timeout: self.options.probe_timeout,
                        },
                        host_header: target.host_header.clone(),
                        expected: planned.expected,
                        why: planned.why.clone(),
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
        model: &Result<Cluster, ClusterError>,
        cache: &mut HashMap<String, Result<Vec<PodInfo>, String>>,
        key: &str,
    ) -> Result<Vec<PodInfo>, String> {
        if let Some(found) = cache.get(key) {
            return found.clone();
        }
        let found = async {
            let model = model.as_ref().map_err(|e| e.to_string())?;
            let endpoint = ctx.endpoint(model, key).map_err(|e| e.to_string())?;
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

    /// The addresses a probe's `to` stands for.
    async fn targets(
        &self,
        ctx: &ScenarioCtx<'_>,
        model: &Result<Cluster, ClusterError>,
        cache: &mut HashMap<String, Result<Vec<PodInfo>, String>>,
        probe: &Probe,
    ) -> Result<Vec<Target>, String> {
        use crate::scenario::format::ProbeKind as K;
        let http = |path: Option<&str>| ProbeKind::Http {
            method: probe.method.clone().unwrap_or_else(|| "GET".into()),
            path: path
                .map(String::from)
                .or_else(|| probe.path.clone())
                .unwrap_or_else(|| "/".into()),
        };
        let kind = match probe.kind {
            K::Tcp => ProbeKind::Tcp,
            K::Udp => ProbeKind::Udp,
            K::Sctp => ProbeKind::Sctp,
            K::Icmp => ProbeKind::Icmp,
            K::Http => http(None),
            K::Dns => {
                let name = probe.to.strip_prefix("dns:").ok_or_else(|| {
                    format!("a dns probe needs `to: dns:NAME`, not `{}`", probe.to)
                })?;
                return Ok(vec![Target {
                    kind: ProbeKind::Dns {
                        name: name.to_string(),
                    },
                    host: String::new(),
                    port: None,
                    description: probe.to.clone(),
                    host_header: String::new(),
                }]);
            }
        };
        let outside = probe.from == "outside";
        if outside && !matches!(kind, ProbeKind::Http { .. }) {
            return Err("probes from outside are HTTP only".into());
        }
        if let Some(path) = probe.to.strip_prefix("ingress:") {
            let kind = http(Some(path));
            let host_header = model
                .as_ref()
                .ok()
                .and_then(|m| {
                    m.ingress_routes
                        .iter()
                        .find(|r| path.starts_with(&r.path))
                        .and_then(|r| r.host.clone())
                })
                .unwrap_or_else(|| "localhost".into());
            if outside {
                let address = self.outside.address();
                return Ok(vec![Target {
                    kind,
                    host: address.ip().to_string(),
                    port: Some(address.port()),
                    description: format!("ingress {address}{path}"),
                    host_header,
                }]);
            }
            let (ns, name) = self
                .options
                .ingress_service
                .split_once('/')
                .ok_or("the ingress controller's Service must be namespace/name")?;
            let service = self
                .cluster
                .service(ns, name)
                .await
                .map_err(|e| e.to_string())?;
            let ip = service
                .cluster_ip
                .ok_or_else(|| format!("Service {ns}/{name} has no ClusterIP"))?;
            let port = probe.port.unwrap_or(80);
            return Ok(vec![Target {
                kind,
                host: ip.to_string(),
                port: Some(port),
                description: format!("ingress svc:{ns}/{name} {ip}:{port}{path}"),
                host_header,
            }]);
        }
        if outside {
            return Err(format!(
                "probes from outside go to `ingress:/PATH`, not `{}`",
                probe.to
            ));
        }
        if probe.port.is_none() && kind != ProbeKind::Icmp {
            return Err(format!(
                "a probe to `{}` needs a port (only icmp and dns probes have none)",
                probe.to
            ));
        }
        let with_port = |host: String| match probe.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        if let Some(svc) = probe.to.strip_prefix("svc:") {
            let (ns, name) = svc
                .split_once('/')
                .ok_or_else(|| format!("`{}`: expected svc:namespace/name", probe.to))?;
            let service = self
                .cluster
                .service(ns, name)
                .await
                .map_err(|e| e.to_string())?;
            let ip = service
                .cluster_ip
                .ok_or_else(|| format!("Service {ns}/{name} is headless (no ClusterIP)"))?;
            if let Some(port) = probe.port
                && !service.ports.iter().any(|p| p.port == port)
            {
                return Err(format!("Service {ns}/{name} has no port {port}"));
            }
            return Ok(vec![Target {
                kind,
                host: ip.to_string(),
                port: probe.port,
                description: format!("{} {}", probe.to, with_port(ip.to_string())),
                host_header: String::new(),
            }]);
        }
        if let Some(address) = probe.to.strip_prefix("ip:") {
            return Ok(vec![Target {
                kind,
                host: address.to_string(),
                port: probe.port,
                description: with_port(address.to_string()),
                host_header: String::new(),
            }]);
        }
        let pods = self.pods_of(ctx, model, cache, &probe.to).await?;
        pods.into_iter()
            .map(|p| {
                let ip = p
                    .ips
                    .first()
                    .ok_or_else(|| format!("pod {} has no IP", p.pod))?;
                Ok(Target {
                    kind: kind.clone(),
                    host: ip.to_string(),
                    port: probe.port,
                    description: format!("{} {}", p.pod, with_port(ip.to_string())),
                    host_header: String::new(),
                })
            })
            .collect()
    }

    /// Probes the cells `which`, one exec per source pod (or per cell), and records what each
    /// observed. Returns the number of probe execs.
    async fn round(&self, ctx: &ScenarioCtx<'_>, cells: &mut [Cell], which: &[usize]) -> usize {
        let mut jobs: Vec<Job> = Vec::new();
        let mut by_pod: BTreeMap<PodRef, usize> = BTreeMap::new();
        for &i in which {
            let cell = &cells[i];
            let entry = (i, cell.spec.clone(), cell.host_header.clone());
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
        // starting those first packs the rounds best within the exec limit.
        let slow = |job: &Job| {
            job.cells.iter().any(|(i, _, _)| {
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
                .map(|(i, _, _)| (*i, Outcome::Error(message.clone()), String::new()))
                .collect(),
            execs,
        };
        let pod = match &job.source {
            Source::Pod(pod) => pod,
            Source::Outside => {
                let mut observations = Vec::new();
                for (i, spec, host) in &job.cells {
                    let ProbeKind::Http { method, path } = &spec.kind else {
                        continue;
                    };
                    let (outcome, detail) =
                        self.outside.http(method, path, host, spec.timeout).await;
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
        let specs: Vec<ProbeSpec> = job.cells.iter().map(|(_, s, _)| s.clone()).collect();
        let command = match self.probes.command(&specs, tool) {
            Ok(c) => c,
            Err(e) => return fail_all(format!("cannot build the probe batch: {e}"), 0),
        };
        let timeout = specs.iter().map(|s| s.timeout).max().unwrap_or_default() + EXEC_SLACK;
        let output = match self
            .cluster
            .exec(&pod.pod, &container, &command, timeout)
            .await
        {
            Ok(o) => o,
            Err(e) => return fail_all(e.to_string(), 1),
        };
        let results = match self.probes.parse(&output.stdout, &specs) {
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
        let by_id: HashMap<&str, &probe::ProbeResult> =
            results.iter().map(|r| (r.id.as_str(), r)).collect();
        JobResult {
            observations: job
                .cells
                .iter()
                .map(|(i, spec, _)| match by_id.get(spec.id.as_str()) {
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

/// A resolved probe target.
#[derive(Debug, Clone)]
struct Target {
    kind: ProbeKind,
    host: String,
    port: Option<u16>,
    description: String,
    host_header: String,
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
