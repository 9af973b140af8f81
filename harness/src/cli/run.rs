//! `netpol-harness run`: run scenarios on a kind cluster and check every probe.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::DEFAULT_PROBE_IMAGE;
use crate::cluster::kube::{ConnectOptions, KubeCluster};
use crate::cluster::remote::{HttpsFetcher, ManifestCache, RemoteError};
use crate::manifest::{self, ManifestError};
use crate::runner::outcome::StepVerdict;
use crate::runner::plan::{self, ScenarioPlan};
use crate::runner::probe::{ProbeBatch, ProbeResult, ProbeSpec, ProbeTool};
use crate::runner::report::{self, RunReport};
use crate::runner::{Progress, RunOptions, Runner};
use crate::scenario::format::Scenario;

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenarios to run, by name (their folders under --scenarios).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Run every scenario.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// The folder holding the scenarios.
    #[arg(long, value_name = "DIR", default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// The kubeconfig context (default: the current one). Must be a kind cluster (`kind-*`)
    /// unless --allow-non-kind-context is also given.
    #[arg(long, value_name = "CTX")]
    pub context: Option<String>,
    /// Allow a context that is not a kind cluster; only with --context naming it.
    #[arg(long, requires = "context")]
    pub allow_non_kind_context: bool,
    /// Write results.json and junit.xml to this folder.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// The CNI under test, recorded in the report.
    #[arg(long, value_name = "NAME")]
    pub cni: Option<String>,
    /// Probe from and to every ready replica, not one pod per workload.
    #[arg(long)]
    pub all_replicas: bool,
    /// Image of the ephemeral probe container added to pods without a shell or tools.
    #[arg(long, value_name = "IMG", default_value = DEFAULT_PROBE_IMAGE)]
    pub probe_image: String,
    /// How long a step may take to converge before its wrong cells are final.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub deadline: u64,
    /// Scenarios run at once (those touching shared or cluster-scoped objects run alone).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub parallel: usize,
    /// Where probes `from: outside` go: the ingress controller's port mapped on the kind node.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:80")]
    pub outside_address: SocketAddr,
}

/// The in-pod probe script. The probe module provides it; until it is part of the build every
/// batch is refused with this explanation, so runs show probe errors, never passes.
pub struct ProbeScript;

impl ProbeBatch for ProbeScript {
    fn command(&self, _specs: &[ProbeSpec], _tool: ProbeTool) -> Result<Vec<String>, String> {
        Err("the in-pod probe script (harness/src/probe) is not part of this build".into())
    }

    fn parse(&self, _stdout: &str, _specs: &[ProbeSpec]) -> Result<Vec<ProbeResult>, String> {
        Err("the in-pod probe script (harness/src/probe) is not part of this build".into())
    }
}

/// The scenarios to run: those named (all of them with `all`).
pub fn select(
    available: Vec<(PathBuf, Scenario)>,
    names: &[String],
    all: bool,
) -> Result<Vec<(PathBuf, Scenario)>, String> {
    if all {
        return Ok(available);
    }
    if names.is_empty() {
        return Err("name the scenarios to run, or pass --all".into());
    }
    let mut by_name: BTreeMap<String, (PathBuf, Scenario)> = available
        .into_iter()
        .map(|(dir, s)| (s.name.clone(), (dir, s)))
        .collect();
    let known = by_name.keys().cloned().collect::<Vec<_>>().join(", ");
    names
        .iter()
        .map(|n| {
            by_name
                .remove(n)
                .ok_or_else(|| format!("no scenario `{n}` (scenarios: {known})"))
        })
        .collect()
}

/// Why a remote manifest cannot be used.
#[derive(Debug, thiserror::Error)]
enum RemoteManifestError {
    /// It could not be had.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// It is not a valid manifest.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// Fetches (or takes from the cache) a scenario's remote manifests.
async fn remote_documents(
    scenario: &Scenario,
    cache: &ManifestCache,
    fetcher: &HttpsFetcher,
) -> Result<Vec<manifest::Document>, RemoteManifestError> {
    let mut docs = Vec::new();
    for remote in &scenario.remote {
        let text = cache.get(&remote.url, &remote.sha256, fetcher).await?;
        docs.extend(manifest::parse_str(Path::new(&remote.url), &text)?);
    }
    Ok(docs)
}

/// One line per event, to stderr; each finished step's tables to stdout.
fn print_progress(event: &Progress) {
    match event {
        Progress::ScenarioStarted {
            scenario,
            exclusive,
        } => eprintln!(
            "▶ {scenario}{}",
            if *exclusive {
                " (runs alone: it touches shared or cluster-scoped objects)"
            } else {
                ""
            }
        ),
        Progress::Setup { scenario } => {
            eprintln!("  {scenario}: creating namespaces, applying setup, waiting for rollout")
        }
        Progress::StepStarted { scenario, step } => eprintln!("  {scenario}::{step}: actions"),
        Progress::Round {
            scenario,
            step,
            round,
            probed,
            differing,
        } => eprintln!(
            "  {scenario}::{step}: round {round}: {probed} probes, {differing} differ from what is expected"
        ),
        Progress::StepFinished { scenario, outcome } => {
            eprintln!(
                "  {scenario}::{}: {:?} — {}",
                outcome.name, outcome.verdict, outcome.reason
            );
            println!("{}", report::render_step(scenario, outcome));
        }
        Progress::ScenarioFinished {
            scenario,
            passed,
            cleanup_errors,
        } => eprintln!(
            "■ {scenario}: {}{}",
            if *passed { "passed" } else { "failed" },
            if *cleanup_errors > 0 {
                format!(", {cleanup_errors} cleanup errors")
            } else {
                String::new()
            }
        ),
    }
}

/// Runs `run`.
pub fn run(args: Args) -> Result<ExitCode, String> {
    let available = plan::load_scenarios(&args.scenarios).map_err(|e| e.to_string())?;
    let selected = select(available, &args.names, args.all)?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("starting tokio: {e}"))?;
    runtime.block_on(run_selected(args, selected, ProbeScript))
}

/// Connects, plans, runs with `probes`, reports. Ctrl-C stops the run and cleans up.
pub async fn run_selected(
    args: Args,
    selected: Vec<(PathBuf, Scenario)>,
    probes: impl ProbeBatch,
) -> Result<ExitCode, String> {
    let run_id = format!(
        "r{}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        std::process::id()
    );
    let cluster = KubeCluster::connect(&ConnectOptions {
        context: args.context.clone(),
        allow_non_kind_context: args.allow_non_kind_context,
        run_id: run_id.clone(),
    })
    .await
    .map_err(|e| e.to_string())?;
    let server_version = tokio::time::timeout(Duration::from_secs(10), cluster.server_version())
        .await
        .map_err(|_| {
            format!(
                "the API server of context {} does not answer",
                cluster.context()
            )
        })?
        .map_err(|e| format!("context {}: {e}", cluster.context()))?;
    eprintln!(
        "context {} (Kubernetes {server_version}), run {run_id}",
        cluster.context()
    );
    let mut plans: Vec<ScenarioPlan> = Vec::new();
    let cache = ManifestCache::new(
        ManifestCache::default_dir().ok_or("no cache folder: set XDG_CACHE_HOME or HOME")?,
    );
    let fetcher = HttpsFetcher::new(Duration::from_secs(60)).map_err(|e| e.to_string())?;
    for (folder, scenario) in &selected {
        let remote = remote_documents(scenario, &cache, &fetcher)
            .await
            .map_err(|e| format!("scenario {}: {e}", scenario.name))?;
        plans.push(plan::plan_scenario(folder, scenario, remote).map_err(|e| e.to_string())?);
    }
    let context = cluster.context().to_string();
    let options = RunOptions {
        deadline: Duration::from_secs(args.deadline),
        all_replicas: args.all_replicas,
        probe_image: args.probe_image.clone(),
        max_parallel_scenarios: args.parallel.max(1),
        outside_address: args.outside_address,
        ..RunOptions::default()
    };
    let runner = Runner::new(Arc::new(cluster), Arc::new(probes), options)
        .with_progress(Arc::new(print_progress));
    let finished = {
        let run = runner.run_all(&plans);
        tokio::pin!(run);
        tokio::select! {
            outcomes = &mut run => Some(outcomes),
            _ = tokio::signal::ctrl_c() => None,
        }
    };
    let Some(outcomes) = finished else {
        eprintln!("interrupted: deleting what the run created");
        for e in runner.cleanup_pending().await {
            eprintln!("cleanup: {e}");
        }
        return Ok(ExitCode::from(130));
    };
    print!("{}", report::render_summary(&outcomes));
    if let Some(dir) = &args.report {
        report::write(
            dir,
            &RunReport {
                harness_version: env!("CARGO_PKG_VERSION"),
                run_id,
                cni: args.cni.clone(),
                context,
                server_version: Some(server_version),
                scenarios: &outcomes,
            },
        )
        .map_err(|e| e.to_string())?;
        eprintln!("report written to {}", dir.display());
    }
    let all_passed = outcomes.iter().all(|o| o.passed())
        && outcomes
            .iter()
            .flat_map(|o| &o.steps)
            .all(|s| s.verdict == StepVerdict::Pass);
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn flags_parse_and_non_kind_contexts_need_a_named_context() {
        let cli = Cli::try_parse_from([
            "netpol-harness",
            "run",
            "a",
            "b",
            "--context",
            "kind-x",
            "--report",
            "out",
            "--cni",
            "calico",
            "--all-replicas",
            "--probe-image",
            "busybox:1.36",
            "--deadline",
            "45",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.names, ["a", "b"]);
        assert_eq!(args.deadline, 45);
        assert!(args.all_replicas);
        assert!(Cli::try_parse_from(["netpol-harness", "run", "--all", "a"]).is_err());
        assert!(
            Cli::try_parse_from(["netpol-harness", "run", "--all", "--allow-non-kind-context"])
                .is_err()
        );
    }

    #[test]
    fn selection_needs_names_or_all_and_knows_every_scenario() {
        assert!(select(vec![], &[], false).unwrap_err().contains("--all"));
        let err = select(vec![], &["nope".to_string()], false).unwrap_err();
        assert!(err.starts_with("no scenario `nope`"), "{err}");
    }
}
