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
//!    With [`MatrixScope::Full`] (the default) the step's derived cells follow
//!    ([`plan::StepPlan::derived`]: the rest of the whole matrix, the oracle's prediction as
//!    their expectation), resolved the same way; self-traffic, cells the oracle cannot decide
//!    and SCTP on a CNI without it are reported, never asserted ([`outcome::Unasserted`]).
//! 2. **One exec per source pod per round**: every probe that pod makes goes into one batch
//!    ([`crate::probe::batch_script`] through [`ClusterOps::run_probes`], read back with
//!    [`crate::probe::parse_output`]), run concurrently inside the pod; every source of a round
//!    runs at once (or at most [`RunOptions::max_parallel_execs`], the slowest — those with a
//!    probe expected to time out — first, so that quick batches fill the slots they leave). A
//!    round therefore costs one exec round trip plus its slowest probe, however many sources.
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
//!
//! **Blocked, told honestly.** A cell expected blocked matches a drop (a timeout) anywhere, and a
//! rejection (refused, unreachable) only on a destination port this scenario showed served: by
//! the `baseline` round, which probes each port its steps expect blocked once, before the
//! actions of its first step that applies a policy, or by any probe that connected to it.
//! Otherwise a refusal is "port not served" (a closed port refuses too): never a pass. A derived
//! cell on a port not shown served (or that the baseline found closed) is reported, never
//! asserted: a declared port nothing serves must not fail the CNI. Each step
//! counts the deny styles its blocked cells saw ([`outcome::StepOutcome::deny_styles`]).
//!
//! **Cleanup a killed run cannot defeat.** With [`RunOptions::sweep_for_run`], [`Runner::run`]
//! first sweeps what other runs labelled as theirs ([`ClusterOps::sweep`]), and it ends by
//! watching the namespaces its cleanups deleted until they are gone (bounded by
//! [`RunOptions::namespace_gone_timeout`], each reported as [`RunEvent::NamespaceGone`]).
//!
//! One job per file, each with its own `impl Runner` block: `scenario` (the locks that keep
//! scenarios apart, the steps in order, the sweep and the final wait), `actions` (setup,
//! actions, cleanup), `baseline` (the baseline round), `resolve` (probes into cells), `derived`
//! (the whole matrix's other cells into cells), `exec` (probe rounds), `converge`
//! (convergence), `judge` (the verdict, claims and derived cells apart), `prober` (the container and tool to
//! probe from in a pod), `events` (what the runner tells its caller).
//! The tables and files made from the outcomes are [`crate::report::run`]'s.

mod actions;
mod baseline;
mod converge;
mod derived;
mod events;
mod exec;
mod family;
mod ipv6_cells;
mod judge;
pub mod outcome;
pub mod outside;
pub mod plan;
mod prober;
mod resolve;
mod scenario;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::cluster::{ClusterError, ClusterOps, DEFAULT_PROBE_IMAGE, Leftover};
use crate::exit_codes;
use crate::provision::cni::{Applicability, CniProfile, classify};
use actions::CleanupRecord;
pub use events::RunEvent;
pub use judge::judge;
use outcome::{CellOutcome, ScenarioOutcome};
use outside::OutsideClient;
use plan::StepPlan;
pub use resolve::{ENVOY_CONNECT_TIMEOUT, INGRESS_HTTP_TIMEOUT, POD_HTTP_TIMEOUT, probe_timeout};

/// How probes are grouped into execs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Batching {
    /// One exec per source pod per round, all its probes in one batch (the default).
    #[default]
    PerSource,
    /// One exec per probe, as the upstream e2e suite does (for comparison).
    PerCell,
}

/// Which cells each step probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatrixScope {
    /// The tutorial's claims only (its `probes:` and `matrices:`).
    Claims,
    /// The claims and every other cell of the whole matrix, expected as the oracle predicts
    /// ([`plan::StepPlan::derived`]).
    #[default]
    Full,
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
    /// At most this many execs at once; `None` (the default): every source of a round at once.
    /// The API server does not count execs against its in-flight limits: `pods/exec` is a
    /// long-running request (`kubernetes/kubernetes@008b3652:pkg/controlplane/apiserver/config.go`
    /// `BasicLongRunningRequestCheck(…, "exec", …)`), which neither `--max-requests-inflight`
    /// nor API Priority and Fairness limits (`kubernetes/website@main:content/en/docs/concepts/cluster-administration/flow-control.md`).
    pub max_parallel_execs: Option<usize>,
    /// At most this many scenarios at once (scenarios that touch shared or cluster-scoped
    /// objects always run alone).
    pub max_parallel_scenarios: usize,
    /// How probes are grouped into execs.
    pub batching: Batching,
    /// Which cells each step probes: the claims, or the whole matrix (the default).
    pub matrix: MatrixScope,
    /// Where probes `from: outside` go (the ingress controller's host port on the kind node).
    pub outside_address: SocketAddr,
    /// The CNI under test: each step is classified against its profile. Without one, every
    /// step is applicable.
    pub cni: Option<CniProfile>,
    /// This run's id: at the start of [`Runner::run`], everything carrying the ownership label
    /// of *another* run is swept ([`ClusterOps::sweep`]), so that what a killed run left cannot
    /// change what this one observes. `None`: no sweep.
    pub sweep_for_run: Option<String>,
    /// How long the end of [`Runner::run`] waits for the namespaces its cleanups deleted to
    /// finish terminating (so that the next run can create them again at once).
    pub namespace_gone_timeout: Duration,
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
            max_parallel_execs: None,
            max_parallel_scenarios: 2,
            batching: Batching::PerSource,
            matrix: MatrixScope::Full,
            outside_address: SocketAddr::from(([127, 0, 0, 1], 80)),
            cni: None,
            sweep_for_run: None,
            namespace_gone_timeout: Duration::from_secs(300),
        }
    }
}

/// Runs scenario plans on a cluster.
pub struct Runner<C> {
    cluster: Arc<C>,
    options: RunOptions,
    outside: OutsideClient,
    /// What interrupts a run ([`Runner::run`]), if anything.
    interrupt: Option<InterruptSignal>,
    /// Cleanups of scenarios that have not finished theirs.
    pending: Mutex<BTreeMap<u64, Arc<Mutex<CleanupRecord>>>>,
    next_id: AtomicU64,
    /// Namespaces the cleanups deleted, awaited at the end of [`Runner::run`].
    deleted_namespaces: Mutex<Vec<String>>,
    /// Held for writing by scenarios that must run alone, for reading by the others.
    exclusive: tokio::sync::RwLock<()>,
    /// One lock per namespace name, so that two scenarios never share a namespace.
    namespace_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Makes the future that interrupts a run.
type InterruptSignal = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// How a run ([`Runner::run`]) ended, and what it found.
#[derive(Debug)]
pub struct RunOutcome {
    /// The scenarios that ran to their end, in plan order.
    pub scenarios: Vec<ScenarioOutcome>,
    /// How the run ended.
    pub end: RunEnd,
    /// What the sweep at the start deleted: objects earlier runs left.
    pub swept: Vec<Leftover>,
    /// Namespaces the run deleted that were still terminating when it stopped waiting.
    pub still_terminating: Vec<String>,
    /// The run's wall time: the sweep, every scenario (several at once), the wait for deleted
    /// namespaces.
    pub duration: Duration,
}

/// How a run ended.
#[derive(Debug)]
pub enum RunEnd {
    /// Every scenario ran.
    Completed,
    /// The event callback asked to stop: the steps and scenarios after that point did not run.
    Stopped,
    /// Interrupted (Ctrl-C): the scenarios running were dropped, then what they had created was
    /// deleted.
    Interrupted {
        /// What could not be deleted.
        cleanup_errors: Vec<ClusterError>,
    },
    /// The sweep at the start failed: nothing ran, since what earlier runs left could change
    /// what this one observes.
    SweepFailed(ClusterError),
}

impl RunOutcome {
    /// Every cell probed, scenario by scenario, step by step, in order.
    pub fn cells(&self) -> impl Iterator<Item = &CellOutcome> {
        self.scenarios
            .iter()
            .flat_map(|s| &s.steps)
            .flat_map(|s| &s.cells)
    }

    /// Whether nothing failed: not interrupted, and every scenario that ran is
    /// [`ScenarioOutcome::ok`].
    pub fn ok(&self) -> bool {
        !matches!(
            self.end,
            RunEnd::Interrupted { .. } | RunEnd::SweepFailed(_)
        ) && self.scenarios.iter().all(ScenarioOutcome::ok)
    }

    /// The process's exit code for this run: [`exit_codes::INTERRUPTED`] if interrupted, else
    /// success if [`RunOutcome::ok`], else [`exit_codes::FAILURE`].
    pub fn exit_code(&self) -> ExitCode {
        match self.end {
            RunEnd::Interrupted { .. } => ExitCode::from(exit_codes::INTERRUPTED),
            _ if self.ok() => ExitCode::SUCCESS,
            _ => ExitCode::from(exit_codes::FAILURE),
        }
    }
}

/// A run id for the ownership labels: the time and the process.
pub fn run_id() -> String {
    format!(
        "r{}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        std::process::id()
    )
}

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

impl<C: ClusterOps> Runner<C> {
    /// A runner on `cluster`.
    pub fn new(cluster: Arc<C>, options: RunOptions) -> Runner<C> {
        Runner {
            cluster,
            outside: OutsideClient::new(options.outside_address),
            options,
            interrupt: None,
            pending: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
            deleted_namespaces: Mutex::new(Vec::new()),
            exclusive: tokio::sync::RwLock::new(()),
            namespace_locks: Mutex::new(HashMap::new()),
        }
    }

    /// Lets Ctrl-C interrupt a run ([`Runner::run`]): the scenarios running are dropped and
    /// what they created is deleted. Without this (or [`Runner::interrupt_on`]), Ctrl-C is the
    /// process's business.
    pub fn interrupt_on_ctrl_c(self) -> Runner<C> {
        self.interrupt_on(|| async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!("cannot listen for Ctrl-C ({e}); the run cannot be interrupted");
                std::future::pending::<()>().await;
            }
        })
    }

    /// Lets the future `signal()` makes interrupt a run ([`Runner::run`]), as Ctrl-C does with
    /// [`Runner::interrupt_on_ctrl_c`]; each run makes a new one.
    pub fn interrupt_on<F, S>(mut self, signal: S) -> Runner<C>
    where
        S: Fn() -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        self.interrupt = Some(Arc::new(move || Box::pin(signal())));
        self
    }

    /// How `step` of `scenario` applies to the CNI under test.
    pub fn applicability(&self, scenario: &str, step: &StepPlan) -> Applicability {
        applicability(self.options.cni.as_ref(), scenario, step)
    }
}
