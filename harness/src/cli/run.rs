//! `netpol-harness run`: run scenarios on a kind cluster and check every probe; with `--cni`,
//! read each step as the CNI's profile says (not applicable, known deviation, not enforced);
//! with `--report DIR`, write `results.json` (for `netpol-harness matrix`) and `junit.xml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::ScenarioRoot;
use crate::cluster::DEFAULT_PROBE_IMAGE;
use crate::cluster::kube::{ConnectOptions, KubeCluster};
use crate::provision::cni::{CNI_NAMES, CniProfile};
use crate::report::{ReportTarget, Reporter};
use crate::runner::plan::plans;
use crate::runner::{RunOptions, Runner, run_id};
use crate::scenario::LoadedScenario;

/// Where the cluster is and how to probe it (shared by `run` and `reproduce`).
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// The kubeconfig context (default: the current one). Must be a kind cluster (`kind-*`)
    /// unless --allow-non-kind-context is also given.
    #[arg(long, value_name = "CTX")]
    pub context: Option<String>,
    /// Allow a context that is not a kind cluster; only with --context naming it.
    #[arg(long, requires = "context")]
    pub allow_non_kind_context: bool,
    /// The CNI under test (calico, cilium, kindnet, antrea, flannel): steps needing what it
    /// lacks are not probed (N/A), failures it is known for are known deviations, and on a CNI
    /// that enforces no policy (flannel) steps are expected to be "not enforced". Without it
    /// every step applies.
    #[arg(long, value_name = "NAME")]
    pub cni: Option<String>,
    /// Probe from and to every ready replica, not one pod per workload.
    #[arg(long)]
    pub all_replicas: bool,
    /// Image of the ephemeral probe container added to pods without a shell or tools.
    #[arg(long, value_name = "IMG", default_value = DEFAULT_PROBE_IMAGE)]
    pub probe_image: String,
    /// How long a probe waits for an answer before it counts as blocked (the cost of every
    /// blocked probe; busybox tools round it up to whole seconds).
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_secs)]
    pub probe_timeout: Duration,
    /// How long a step may take to converge before its wrong cells are final (1 to 86400).
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub deadline: u64,
    /// Where probes `from: outside` go: the ingress controller's port mapped on the kind node.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:80")]
    pub outside_address: SocketAddr,
}

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenarios to run, by name (see `netpol-harness scenarios`).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Run every scenario.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Where the scenarios are.
    #[command(flatten)]
    pub root: ScenarioRoot,
    /// The cluster, the CNI, and how to probe.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Write results.json (one column of `netpol-harness matrix`) and junit.xml to this
    /// folder; needs --cni.
    #[arg(long, value_name = "DIR", requires = "cni")]
    pub report: Option<PathBuf>,
    /// Scenarios run at once (those touching shared or cluster-scoped objects run alone; 1 to
    /// 64).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = parse_parallel)]
    pub parallel: usize,
}

/// How many scenarios at once: 1 to 64.
fn parse_parallel(text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=64).contains(n))
        .ok_or_else(|| format!("`{text}` is not a number from 1 to 64"))
}

/// A duration in seconds (`1`, `0.5`), more than zero and at most 300.
fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 300.0) {
        return Err(format!("{text} s is not in (0, 300]"));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl ClusterArgs {
    /// The CNI profile named by `--cni`, if any.
    pub fn profile(&self) -> Result<Option<CniProfile>, String> {
        self.cni
            .as_deref()
            .map(|name| {
                CniProfile::by_name(name).ok_or_else(|| {
                    format!("unknown CNI `{name}` (profiles: {})", CNI_NAMES.join(", "))
                })
            })
            .transpose()
    }

    /// The runner's options these arguments ask for.
    pub fn options(&self) -> Result<RunOptions, String> {
        Ok(RunOptions {
            deadline: Duration::from_secs(self.deadline),
            probe_timeout: self.probe_timeout,
            all_replicas: self.all_replicas,
            probe_image: self.probe_image.clone(),
            outside_address: self.outside_address,
            cni: self.profile()?,
            ..RunOptions::default()
        })
    }

    /// Connects to the cluster (the run's objects are labelled with `run_id`) and checks that
    /// its API server answers; returns the cluster and the server's version.
    pub async fn connect(&self, run_id: &str) -> Result<(KubeCluster, String), String> {
        let cluster = KubeCluster::connect(&ConnectOptions {
            context: self.context.clone(),
            allow_non_kind_context: self.allow_non_kind_context,
            run_id: run_id.to_string(),
        })
        .await
        .map_err(|e| e.to_string())?;
        let version = tokio::time::timeout(Duration::from_secs(10), cluster.server_version())
            .await
            .map_err(|_| {
                format!(
                    "the API server of context {} does not answer",
                    cluster.context()
                )
            })?
            .map_err(|e| format!("context {}: {e}", cluster.context()))?;
        Ok((cluster, version))
    }
}

/// The kind cluster a context names (`kind-NAME` → `NAME`; any other context as it is).
pub fn cluster_name(context: &str) -> String {
    context.strip_prefix("kind-").unwrap_or(context).to_string()
}

/// The scenarios to run: those named, or all of them with `all`.
fn select(root: &ScenarioRoot, names: &[String], all: bool) -> Result<Vec<LoadedScenario>, String> {
    if names.is_empty() && !all {
        return Err("name the scenarios to run, or pass --all".into());
    }
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for (name, result) in root.load(names)? {
        match result {
            Ok(l) => loaded.push(l),
            Err(e) => errors.push(format!("scenario {name}:\n{e}")),
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(errors.join("\n"))
    }
}

/// Runs `run`.
pub fn run(args: Args) -> Result<ExitCode, String> {
    let loaded = select(&args.root, &args.names, args.all)?;
    let options = RunOptions {
        max_parallel_scenarios: args.parallel.max(1),
        ..args.cluster.options()?
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("starting tokio: {e}"))?;
    runtime.block_on(async {
        let plans = plans(&loaded, options.cni.as_ref())
            .await
            .map_err(|e| e.to_string())?;
        let run_id = run_id();
        let (cluster, version) = args.cluster.connect(&run_id).await?;
        eprintln!(
            "context {} (Kubernetes {version}), run {run_id}{}",
            cluster.context(),
            options
                .cni
                .as_ref()
                .map(|p| format!(", CNI {} {}", p.name, p.version))
                .unwrap_or_default()
        );
        let report_to = args.report.as_deref().map(|dir: &Path| ReportTarget {
            dir: dir.to_path_buf(),
            cni: args.cluster.cni.clone().unwrap_or_default(),
            cluster: Some(cluster_name(cluster.context())),
        });
        let runner = Runner::new(Arc::new(cluster), options).interrupt_on_ctrl_c();
        let (mut out, mut progress) = (std::io::stdout(), std::io::stderr());
        let mut reporter = Reporter::new(&mut out, &mut progress, report_to);
        let outcome = runner
            .run(&plans, |event| reporter.report_event(event))
            .await;
        reporter.finish().map_err(|e| e.to_string())?;
        Ok(outcome.exit_code())
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
            "--probe-timeout",
            "2.5",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.names, ["a", "b"]);
        assert_eq!(args.cluster.deadline, 45);
        assert!(args.cluster.all_replicas);
        assert_eq!(args.cluster.probe_timeout, Duration::from_millis(2500));
        let options = args.cluster.options().unwrap();
        assert_eq!(options.cni.unwrap().name, "calico");
        assert_eq!(options.probe_timeout, Duration::from_millis(2500));
        assert!(Cli::try_parse_from(["netpol-harness", "run", "--all", "a"]).is_err());
        assert!(
            Cli::try_parse_from(["netpol-harness", "run", "--all", "--allow-non-kind-context"])
                .is_err()
        );
        // A report is one column of the CNI matrix: it needs the CNI.
        assert!(
            Cli::try_parse_from(["netpol-harness", "run", "--all", "--report", "out"]).is_err()
        );
        // The probe timeout defaults to 1 s and must be in (0, 300].
        let Command::Run(args) = Cli::try_parse_from(["netpol-harness", "run", "--all"])
            .unwrap()
            .command
        else {
            panic!("not run")
        };
        assert_eq!(args.cluster.probe_timeout, Duration::from_secs(1));
        for bad in ["0", "-1", "301", "soon"] {
            assert!(
                Cli::try_parse_from(["netpol-harness", "run", "--all", "--probe-timeout", bad])
                    .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_cnis_are_refused_with_the_profiles() {
        let Command::Run(args) =
            Cli::try_parse_from(["netpol-harness", "run", "--all", "--cni", "weave"])
                .unwrap()
                .command
        else {
            panic!("not run")
        };
        let err = args.cluster.options().unwrap_err();
        assert_eq!(
            err,
            "unknown CNI `weave` (profiles: calico, calico-3.31, cilium, kindnet, antrea, flannel)"
        );
    }

    #[test]
    fn selection_needs_names_or_all_and_knows_every_scenario() {
        let root = ScenarioRoot { dir: None };
        assert!(select(&root, &[], false).unwrap_err().contains("--all"));
        let err = select(&root, &["nope".to_string()], false).unwrap_err();
        assert!(err.contains("no scenario `nope`"), "{err}");
        assert_eq!(select(&root, &[], true).unwrap().len(), 6);
        assert_eq!(cluster_name("kind-netpol"), "netpol");
        assert_eq!(cluster_name("prod"), "prod");
    }
}
