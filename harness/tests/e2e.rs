//! End-to-end trials on a kind cluster: one trial per scenario step, named `scenario::step`
//! and filterable like any cargo test (`cargo test --test e2e -- calico-tutorial::`).
//!
//! The cluster is the context `NETPOL_E2E_CONTEXT` names (a CI lane sets it, so lanes side by
//! side never test each other's cluster); without it, the first kubeconfig context named
//! `kind-*` (the current one first) whose API server answers within a few seconds. With none, every trial is reported ignored and the
//! reason printed once; `NETPOL_E2E=require` turns that into a failure (for CI jobs that
//! create the cluster). Scenarios are read from `scenarios/` at the repository root, or from
//! `NETPOL_E2E_SCENARIOS`, and planned exactly as `netpol-harness run` plans them.
//!
//! `NETPOL_E2E_CNI=NAME` names the CNI's profile, as `run --cni` does: a step it cannot apply is
//! reported ignored (with the missing capability), and so is a known deviation or "not
//! enforced" on a CNI that enforces nothing; only a failure fails.
//!
//! Before the first trial, what earlier (killed) runs left is swept, as `netpol-harness run`
//! sweeps it; a sweep that fails fails every trial.
//!
//! A scenario runs once, on the first of its trials to run, up to its last selected step;
//! every trial of it reports its own step.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::config::Kubeconfig;
use libtest_mimic::{Arguments, Completion, Failed, Trial};

use netpol_harness::cluster::ClusterOps;
use netpol_harness::cluster::kube::{ConnectOptions, KubeCluster};
use netpol_harness::provision::cni::{CNI_NAMES, CniProfile};
use netpol_harness::report::results::StepStatus;
use netpol_harness::report::run::render_step;
use netpol_harness::runner::outcome::ScenarioOutcome;
use netpol_harness::runner::plan::{ScenarioPlan, plans};
use netpol_harness::runner::{RunOptions, Runner};
use netpol_harness::scenario::{LoadedScenario, discover, load};
use tokio::sync::OnceCell;

/// How long the API server may take to answer the detection request.
const DETECT_TIMEOUT: Duration = Duration::from_secs(3);

fn scenarios_dir() -> PathBuf {
    std::env::var_os("NETPOL_E2E_SCENARIOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios"))
}

/// The contexts to try, in order: only `only` when it is given (and must be in the kubeconfig),
/// else every `kind-*` context, the current one first.
fn contexts_to_try(kubeconfig: &Kubeconfig, only: Option<&str>) -> Result<Vec<String>, String> {
    let names = kubeconfig.contexts.iter().map(|c| c.name.clone());
    if let Some(only) = only {
        return match names.into_iter().find(|c| c == only) {
            Some(c) => Ok(vec![c]),
            None => Err(format!(
                "NETPOL_E2E_CONTEXT={only}: no such context in the kubeconfig"
            )),
        };
    }
    let mut contexts: Vec<String> = names.filter(|c| c.starts_with("kind-")).collect();
    let current = kubeconfig.current_context.clone().unwrap_or_default();
    contexts.sort_by_key(|c| *c != current);
    if contexts.is_empty() {
        return Err("no kind-* context in the kubeconfig".into());
    }
    Ok(contexts)
}

/// The context `NETPOL_E2E_CONTEXT` names, or the first `kind-*` context that answers.
async fn find_cluster(run_id: &str) -> Result<KubeCluster, String> {
    let kubeconfig = Kubeconfig::read().map_err(|e| format!("no kubeconfig ({e})"))?;
    let only = std::env::var("NETPOL_E2E_CONTEXT")
        .ok()
        .filter(|c| !c.is_empty());
    let contexts = contexts_to_try(&kubeconfig, only.as_deref())?;
    let mut tried = Vec::new();
    for context in contexts {
        let options = ConnectOptions {
            context: Some(context.clone()),
            allow_non_kind_context: false,
            run_id: run_id.to_string(),
        };
        let cluster = match KubeCluster::connect(&options).await {
            Ok(c) => c,
            Err(e) => {
                tried.push(format!("{context}: {e}"));
                continue;
            }
        };
        match tokio::time::timeout(DETECT_TIMEOUT, cluster.server_version()).await {
            Ok(Ok(version)) => {
                eprintln!("e2e: using context {context} (Kubernetes {version})");
                return Ok(cluster);
            }
            Ok(Err(e)) => tried.push(format!("{context}: {e}")),
            Err(_) => tried.push(format!("{context}: no answer within {DETECT_TIMEOUT:?}")),
        }
    }
    Err(format!("no kind cluster answers ({})", tried.join("; ")))
}

/// Every scenario under `dir`, loaded.
fn load_all(dir: &std::path::Path) -> Result<Vec<LoadedScenario>, String> {
    discover(dir)
        .map_err(|e| e.to_string())?
        .iter()
        .map(|name| load(dir, name).map_err(|e| format!("scenario {name}:\n{e}")))
        .collect()
}

/// What the trials share once a cluster is found.
struct Live {
    runtime: tokio::runtime::Runtime,
    runner: Runner<KubeCluster>,
    plans: BTreeMap<String, Result<ScenarioPlan, String>>,
    /// The steps selected, per scenario.
    selected: BTreeMap<String, BTreeSet<String>>,
    /// Each scenario's outcome, computed by the first trial that needs it.
    outcomes: Mutex<HashMap<String, Arc<OnceCell<ScenarioOutcome>>>>,
}

impl Live {
    fn trial(&self, scenario: &str, step: &str) -> Result<Completion, Failed> {
        let (Some(plan), Some(steps)) = (self.plans.get(scenario), self.selected.get(scenario))
        else {
            return Err(format!("scenario {scenario} was not selected").into());
        };
        let plan = plan
            .as_ref()
            .map_err(|e| Failed::from(format!("scenario {scenario}: {e}")))?;
        let cell = self
            .outcomes
            .lock()
            .expect("lock")
            .entry(scenario.to_string())
            .or_default()
            .clone();
        let outcome = self
            .runtime
            .block_on(cell.get_or_init(|| self.runner.run_scenario(plan, Some(steps))));
        let step_outcome = outcome
            .step(step)
            .ok_or_else(|| Failed::from(format!("step {step} was not run")))?;
        for e in &outcome.cleanup_errors {
            eprintln!("e2e: {scenario}: cleanup error: {e}");
        }
        if let Some(warning) = step_outcome.warning() {
            eprintln!("e2e: {scenario}::{step}: warning: {warning}");
        }
        let result = step_outcome.result();
        let why = || {
            let reason = result.reason.clone().unwrap_or_default();
            match &result.issue_url {
                Some(url) => format!("{}: {reason} ({url})", result.status),
                None => format!("{}: {reason}", result.status),
            }
        };
        match result.status {
            StepStatus::Pass => Ok(Completion::Completed),
            StepStatus::Fail => Err(render_step(scenario, step_outcome).into()),
            StepStatus::NotApplicable | StepStatus::KnownDeviation | StepStatus::NotEnforced => {
                Ok(Completion::ignored_with(why()))
            }
        }
    }
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let dir = scenarios_dir();
    let scenarios = if dir.is_dir() {
        match load_all(&dir) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("e2e: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        eprintln!("e2e: no scenarios folder at {}", dir.display());
        Vec::new()
    };
    let cni = match std::env::var("NETPOL_E2E_CNI")
        .ok()
        .filter(|c| !c.is_empty())
    {
        None => None,
        Some(name) => match CniProfile::by_name(&name) {
            Some(profile) => Some(profile),
            None => {
                eprintln!(
                    "e2e: NETPOL_E2E_CNI={name}: no such profile ({})",
                    CNI_NAMES.join(", ")
                );
                return ExitCode::FAILURE;
            }
        },
    };
    let names: Vec<(String, String)> = scenarios
        .iter()
        .flat_map(|l| {
            let s = &l.scenario;
            s.steps.iter().map(|st| (s.name.clone(), st.name.clone()))
        })
        .collect();
    let trial_name = |(scenario, step): &(String, String)| format!("{scenario}::{step}");
    let mut selected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for n in &names {
        let probe = Trial::test(trial_name(n), || Ok(())).with_kind("e2e");
        if !args.is_filtered_out(&probe) && !args.is_ignored(&probe) {
            selected.entry(n.0.clone()).or_default().insert(n.1.clone());
        }
    }
    let require = std::env::var("NETPOL_E2E").is_ok_and(|v| v == "require");
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let run_id = format!("e2e-{}", std::process::id());
    let cluster = if args.list || selected.is_empty() {
        Err("no trial selected".to_string())
    } else {
        runtime.block_on(find_cluster(&run_id))
    };
    let trials: Vec<Trial> = match cluster {
        Err(reason) => {
            if !args.list && !selected.is_empty() {
                if require {
                    eprintln!("e2e: {reason}; NETPOL_E2E=require: every trial fails");
                } else {
                    eprintln!(
                        "e2e: {reason}; every trial is ignored (NETPOL_E2E=require makes this a failure)"
                    );
                }
            }
            names
                .iter()
                .map(|n| {
                    let reason = reason.clone();
                    if require {
                        Trial::test(trial_name(n), move || {
                            Err(format!("NETPOL_E2E=require: {reason}").into())
                        })
                        .with_kind("e2e")
                    } else {
                        Trial::ignorable_test(trial_name(n), move || {
                            Ok(Completion::ignored_with(reason))
                        })
                        .with_kind("e2e")
                        .with_ignored_flag(true)
                    }
                })
                .collect()
        }
        Ok(cluster) => match runtime.block_on(cluster.sweep(Some(&run_id), false)) {
            // What a killed earlier run left (namespaces, cluster-scoped policies) would
            // change what these trials observe: swept first, as `run` does.
            Err(e) => names
                .iter()
                .map(|n| {
                    let reason = format!("sweeping what earlier runs left: {e}");
                    Trial::test(trial_name(n), move || Err(reason.into())).with_kind("e2e")
                })
                .collect(),
            Ok(swept) => {
                if !swept.is_empty() {
                    eprintln!("e2e: deleted {} object(s) earlier runs left", swept.len());
                }
                // Planned one by one, so that a scenario that cannot be planned fails only its own
                // trials.
                let plans = scenarios
                    .iter()
                    .filter(|l| selected.contains_key(&l.scenario.name))
                    .map(|l| {
                        let plan = runtime
                            .block_on(plans(std::slice::from_ref(l), cni.as_ref()))
                            .map(|mut p| p.remove(0))
                            .map_err(|e| e.to_string());
                        (l.scenario.name.clone(), plan)
                    })
                    .collect();
                let live = Arc::new(Live {
                    runner: Runner::new(
                        Arc::new(cluster),
                        RunOptions {
                            cni,
                            ..RunOptions::default()
                        },
                    ),
                    runtime,
                    plans,
                    selected,
                    outcomes: Mutex::new(HashMap::new()),
                });
                names
                    .iter()
                    .map(|n| {
                        let live = live.clone();
                        let (scenario, step) = n.clone();
                        Trial::ignorable_test(trial_name(n), move || live.trial(&scenario, &step))
                            .with_kind("e2e")
                    })
                    .collect()
            }
        },
    };
    let mut trials = trials;
    trials.push(Trial::test(
        "harness::netpol_e2e_context_picks_that_context_alone",
        context_selection_selftest,
    ));
    libtest_mimic::run(&args, trials).exit_code()
}

/// `NETPOL_E2E_CONTEXT` wins over the current context and every other `kind-*` one.
fn context_selection_selftest() -> Result<(), Failed> {
    let kubeconfig = Kubeconfig::from_yaml(
        "apiVersion: v1\nkind: Config\ncurrent-context: kind-a\nclusters: []\nusers: []\n\
         contexts:\n- {name: kind-b, context: {cluster: b, user: b}}\n\
         - {name: kind-a, context: {cluster: a, user: a}}\n\
         - {name: prod, context: {cluster: p, user: p}}\n",
    )
    .map_err(|e| Failed::from(e.to_string()))?;
    let check = |only: Option<&str>, want: Result<Vec<&str>, &str>| {
        let got = contexts_to_try(&kubeconfig, only);
        let want = want
            .map(|v| v.into_iter().map(String::from).collect::<Vec<_>>())
            .map_err(String::from);
        if got == want {
            Ok(())
        } else {
            Err(Failed::from(format!("{only:?}: {got:?}, not {want:?}")))
        }
    };
    check(None, Ok(vec!["kind-a", "kind-b"]))?;
    check(Some("kind-b"), Ok(vec!["kind-b"]))?;
    check(
        Some("kind-c"),
        Err("NETPOL_E2E_CONTEXT=kind-c: no such context in the kubeconfig"),
    )
}
