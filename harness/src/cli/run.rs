//! `netpol-harness run`: run scenarios on a kind cluster and check every probe; with `--cni`,
//! read each step as the CNI's profile says (not applicable, known deviation, not enforced);
//! with `--report DIR`, write `results.json` (for `netpol-harness matrix`) and `junit.xml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::{CliError, ScenarioRoot};
use crate::cluster::DEFAULT_PROBE_IMAGE;
use crate::cluster::kube::{ConnectOptions, KubeCluster};
use crate::provision::cni::{CNI_NAMES, CniProfile};
use crate::report::{ReportTarget, Reporter};
use crate::runner::plan::plans;
use crate::runner::{MatrixScope, RunOptions, Runner, run_id};
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
    /// Treat the cluster as having no internet access: steps that need `internet` are not
    /// applicable (as they are when `up` found that pods cannot reach it).
    #[arg(long, requires = "cni")]
    pub no_internet: bool,
    /// Where probes `from: outside` go: the ingress controller's port mapped on the kind node.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:80")]
    pub outside_address: SocketAddr,
    /// At most this many probe execs at once (1 to 4096; default: every source pod of a probe
    /// round at once, which the API server allows: execs are long-running requests, outside
    /// its in-flight limits).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_parallel_execs: Option<u64>,
    /// Which cells each step probes: `full` (the default) every ordered pair of the scenario's
    /// own pods on every port they declare (plus ICMP where the scenario pings), each cell the
    /// tutorial does not claim expected as the oracle predicts; `claims` only the tutorial's
    /// probes and matrices.
    #[arg(long, value_name = "SCOPE", value_enum, default_value_t = Matrix::Full)]
    pub matrix: Matrix,
}

/// `--matrix`: which cells each step probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Matrix {
    /// The tutorial's claims only.
    Claims,
    /// The claims and the rest of the whole matrix, expected as the oracle predicts.
    Full,
}

impl From<Matrix> for MatrixScope {
    fn from(m: Matrix) -> MatrixScope {
        match m {
            Matrix::Claims => MatrixScope::Claims,
            Matrix::Full => MatrixScope::Full,
        }
    }
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
    /// Also run generated cases (as `netpol-harness generate` makes them, written nowhere but
    /// a private temporary folder deleted after the run) carrying one of these tags
    /// (comma-separated; `all` for every case); alone, or after the scenarios named (--all).
    #[arg(long, value_delimiter = ',', value_name = "TAGS", num_args = 1..)]
    pub generated: Option<Vec<String>>,
    /// With --generated: at most this many cases, taken in turn from each suite.
    #[arg(long, value_name = "N")]
    pub max: Option<usize>,
    /// With --generated: also random cases beyond the systematic ones, from this seed.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Scenarios run at once (those touching shared or cluster-scoped objects run alone; 1 to
    /// 64).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = parse_parallel)]
    pub parallel: usize,
}

/// How many scenarios at once: 1 to 64.
fn parse_parallel(text: &str) -> Result<usize, CliError> {
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=64).contains(n))
        .ok_or_else(|| CliError::Usage(format!("`{text}` is not a number from 1 to 64")))
}

/// A duration in seconds (`1`, `0.5`), more than zero and at most 300.
fn parse_secs(text: &str) -> Result<Duration, CliError> {
    let secs: f64 = text
        .parse()
        .map_err(|_| CliError::Usage(format!("`{text}` is not a number of seconds")))?;
    if !(secs > 0.0 && secs <= 300.0) {
        return Err(CliError::Usage(format!("{text} s is not in (0, 300]")));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl ClusterArgs {
    /// The CNI profile named by `--cni`, if any.
    pub fn profile(&self) -> Result<Option<CniProfile>, CliError> {
        self.cni
            .as_deref()
            .map(|name| {
                CniProfile::by_name(name).ok_or_else(|| {
                    CliError::Usage(format!(
                        "unknown CNI `{name}` (profiles: {})",
                        CNI_NAMES.join(", ")
                    ))
                })
            })
            .transpose()
    }

    /// The runner's options these arguments ask for.
    pub fn options(&self) -> Result<RunOptions, CliError> {
        Ok(RunOptions {
            deadline: Duration::from_secs(self.deadline),
            probe_timeout: self.probe_timeout,
            all_replicas: self.all_replicas,
            probe_image: self.probe_image.clone(),
            outside_address: self.outside_address,
            cni: self.profile()?,
            max_parallel_execs: self
                .max_parallel_execs
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            matrix: self.matrix.into(),
            ..RunOptions::default()
        })
    }

    /// Reads the cluster's marker (left by `netpol-harness up`) into `options`: a cluster set up
    /// for another CNI than `--cni` is refused, and one recorded without internet access (or
    /// `--no-internet`) makes `internet` steps not applicable. Returns notes worth printing.
    pub async fn check_marker(
        &self,
        cluster: &KubeCluster,
        options: &mut RunOptions,
    ) -> Result<Vec<String>, CliError> {
        let Some(profile) = options.cni.as_mut() else {
            return Ok(Vec::new());
        };
        let marker = cluster.marker().await?;
        apply_marker(
            profile,
            marker.as_ref(),
            cluster.context(),
            self.no_internet,
        )
    }

    /// Connects to the cluster (the run's objects are labelled with `run_id`) and checks that
    /// its API server answers; returns the cluster and the server's version.
    pub async fn connect(&self, run_id: &str) -> Result<(KubeCluster, String), CliError> {
        let cluster = KubeCluster::connect(&ConnectOptions {
            context: self.context.clone(),
            allow_non_kind_context: self.allow_non_kind_context,
            run_id: run_id.to_string(),
        })
        .await?;
        let context = || cluster.context().to_string();
        let version = tokio::time::timeout(Duration::from_secs(10), cluster.server_version())
            .await
            .map_err(|_| CliError::NoAnswer { context: context() })?
            .map_err(|source| CliError::ServerVersion {
                context: context(),
                source: Box::new(source),
            })?;
        Ok((cluster, version))
    }
}

/// Reads a cluster's marker `data` (`None`: no marker) into `profile`, as
/// [`ClusterArgs::check_marker`] says.
pub fn apply_marker(
    profile: &mut CniProfile,
    marker: Option<&std::collections::BTreeMap<String, String>>,
    context: &str,
    no_internet: bool,
) -> Result<Vec<String>, CliError> {
    let mut notes = Vec::new();
    match marker.and_then(|m| m.get("cni")) {
        Some(cni) if cni != profile.name => {
            return Err(CliError::OtherCni {
                context: context.to_string(),
                marker: cni.clone(),
                asked: profile.name.to_string(),
            });
        }
        Some(_) => {}
        None => notes.push(format!(
            "context {context} has no netpol-harness marker (kube-system/netpol-harness): nothing \
             confirms that {} is its CNI",
            profile.name
        )),
    }
    let recorded_offline = marker
        .and_then(|m| m.get("internet"))
        .is_some_and(|v| v == "no");
    if no_internet || recorded_offline {
        profile
            .enforces
            .remove(&crate::capability::Capability::Internet);
        notes.push(format!(
            "no internet access ({}): steps that need `internet` are not applicable",
            if no_internet {
                "--no-internet"
            } else {
                "recorded by `up`"
            }
        ));
    }
    Ok(notes)
}

/// The kind cluster a context names (`kind-NAME` → `NAME`; any other context as it is).
pub fn cluster_name(context: &str) -> String {
    context.strip_prefix("kind-").unwrap_or(context).to_string()
}

/// A private temporary folder, deleted when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The generated cases `--generated TAGS --max N --seed S` select, written to a private
/// temporary folder (deleted when the returned guard is dropped) and loaded like any scenario.
fn generated(
    tags: &[String],
    max: Option<usize>,
    seed: Option<u64>,
) -> Result<(TempDir, Vec<LoadedScenario>), CliError> {
    use crate::generate::{self, GenerateError, Options};
    let all = tags.iter().any(|t| t == "all");
    let cases = generate::cases(&Options {
        tags: if all { Vec::new() } else { tags.to_vec() },
        max,
        seed,
    })?;
    let scenarios = generate::render(&cases)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let path = std::env::temp_dir().join(format!(
        "netpol-harness-generated-{}-{nanos}",
        std::process::id()
    ));
    // `create_dir`, not `create_dir_all`: a folder that already exists is not ours.
    std::fs::create_dir(&path).map_err(|e| GenerateError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let dir = TempDir(path);
    generate::writer::write(&dir.0, &scenarios)?;
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for s in &scenarios {
        match crate::scenario::load(&dir.0, &s.name) {
            Ok(l) => loaded.push(l),
            Err(e) => errors.push((s.name.clone(), e)),
        }
    }
    if errors.is_empty() {
        Ok((dir, loaded))
    } else {
        Err(CliError::NotLoaded(errors))
    }
}

/// The scenarios to run: those named, or all of them with `all`.
fn select(
    root: &ScenarioRoot,
    names: &[String],
    all: bool,
) -> Result<Vec<LoadedScenario>, CliError> {
    if names.is_empty() && !all {
        return Err(CliError::Usage(
            "name the scenarios to run, or pass --all".into(),
        ));
    }
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for (name, result) in root.load(names)? {
        match result {
            Ok(l) => loaded.push(l),
            Err(e) => errors.push((name, e)),
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(CliError::NotLoaded(errors))
    }
}

/// Runs `run`: plans the scenarios, connects, runs them with the reporter
/// ([`crate::report::Reporter`]) consuming the runner's events; Ctrl-C stops the run and
/// deletes what it created.
pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let (_generated, loaded) = match &args.generated {
        None if args.max.is_some() || args.seed.is_some() => {
            return Err(CliError::Usage(
                "--max and --seed choose generated cases: they need --generated TAGS".into(),
            ));
        }
        Some(tags) => {
            let mut loaded = if args.all || !args.names.is_empty() {
                select(&args.root, &args.names, args.all)?
            } else {
                Vec::new()
            };
            let (dir, cases) = generated(tags, args.max, args.seed)?;
            loaded.extend(cases);
            (Some(dir), loaded)
        }
        None => (None, select(&args.root, &args.names, args.all)?),
    };
    let mut options = RunOptions {
        max_parallel_scenarios: args.parallel.max(1),
        ..args.cluster.options()?
    };
    let plans = plans(&loaded, options.cni.as_ref()).await?;
    for plan in &plans {
        for note in &plan.lane_predictions {
            eprintln!(
                "note: {}: {}",
                crate::escape::terminal(&plan.name),
                crate::escape::terminal(note)
            );
        }
    }
    let run_id = run_id();
    // What earlier runs left (a killed run's namespaces and global policies) is swept first.
    options.sweep_for_run = Some(run_id.clone());
    let (cluster, version) = args.cluster.connect(&run_id).await?;
    for note in args.cluster.check_marker(&cluster, &mut options).await? {
        eprintln!("note: {}", crate::escape::terminal(&note));
    }
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
    let (mut out, mut progress) = (
        crate::escape::TerminalWriter::new(std::io::stdout()),
        crate::escape::TerminalWriter::new(std::io::stderr()),
    );
    let mut reporter = Reporter::new(&mut out, &mut progress, report_to);
    let outcome = runner
        .run(&plans, |event| reporter.report_event(event))
        .await;
    reporter.finish()?;
    Ok(outcome.exit_code())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::provision::cni::{Applicability, classify};

    #[test]
    fn generated_cases_load_from_a_private_folder_that_is_removed_after() {
        let cli = Cli::try_parse_from([
            "netpol-harness",
            "run",
            "--generated",
            "named-port,egress",
            "--max",
            "4",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let tags = args.generated.unwrap();
        assert_eq!(tags, ["named-port", "egress"]);
        let (dir, loaded) = generated(&tags, args.max, args.seed).unwrap();
        let folder = dir.0.clone();
        assert!(folder.starts_with(std::env::temp_dir()) && folder.is_dir());
        let steps: Vec<&crate::scenario::format::Step> =
            loaded.iter().flat_map(|l| &l.scenario.steps).collect();
        assert!(!steps.is_empty() && steps.len() <= 8, "{}", steps.len());
        // Every step carries its case's tags, one of those asked for among them.
        assert!(
            steps
                .iter()
                .all(|s| s.tags.iter().any(|t| t == "named-port" || t == "egress"))
        );
        drop(dir);
        assert!(!folder.exists(), "{}", folder.display());
        // An unknown tag is refused with the known ones; --max needs --generated.
        let err = generated(&["nope".to_string()], None, None).unwrap_err();
        assert!(err.to_string().contains("unknown tag `nope`"), "{err}");
        let Command::Run(args) =
            Cli::try_parse_from(["netpol-harness", "run", "--all", "--max", "3"])
                .unwrap()
                .command
        else {
            panic!("not run")
        };
        let err = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(run(args))
            .unwrap_err();
        assert!(err.to_string().contains("need --generated"), "{err}");
    }

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
        // Every source of a round at once unless capped; a cap is 1 to 4096.
        assert_eq!(options.max_parallel_execs, None);
        // The whole matrix unless `--matrix claims`; nothing else is a scope.
        assert_eq!(options.matrix, MatrixScope::Full);
        let scope = |s: &str| {
            Cli::try_parse_from(["netpol-harness", "run", "--all", "--matrix", s]).map(|cli| {
                match cli.command {
                    Command::Run(args) => args.cluster.options().unwrap().matrix,
                    _ => panic!("not run"),
                }
            })
        };
        assert_eq!(scope("claims").unwrap(), MatrixScope::Claims);
        assert_eq!(scope("full").unwrap(), MatrixScope::Full);
        assert!(scope("some").is_err());
        let Command::Reproduce(args) = Cli::try_parse_from([
            "netpol-harness",
            "reproduce",
            "http-echo-busybox",
            "--matrix",
            "claims",
        ])
        .unwrap()
        .command
        else {
            panic!("not reproduce")
        };
        assert_eq!(args.cluster.options().unwrap().matrix, MatrixScope::Claims);
        let capped = |n: &str| {
            Cli::try_parse_from(["netpol-harness", "run", "--all", "--max-parallel-execs", n]).map(
                |cli| match cli.command {
                    Command::Run(args) => args.cluster.options().unwrap().max_parallel_execs,
                    _ => panic!("not run"),
                },
            )
        };
        assert_eq!(capped("16").unwrap(), Some(16));
        assert!(capped("0").is_err() && capped("5000").is_err());
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
    fn the_markers_cni_must_be_the_one_asked_for_and_its_internet_is_honoured() {
        use crate::capability::Capability::Internet;
        let marker = |cni: &str, internet: &str| {
            std::collections::BTreeMap::from([
                ("cni".to_string(), cni.to_string()),
                ("internet".to_string(), internet.to_string()),
            ])
        };
        let calico = || CniProfile::by_name("calico").unwrap();

        let mut p = calico();
        let err = apply_marker(&mut p, Some(&marker("cilium", "yes")), "kind-np", false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("set up for cilium, not calico") && err.contains("--cni cilium"),
            "{err}"
        );

        let mut p = calico();
        assert_eq!(
            apply_marker(&mut p, Some(&marker("calico", "yes")), "kind-np", false).unwrap(),
            Vec::<String>::new()
        );
        assert!(p.enforces.contains(&Internet));

        let mut p = calico();
        let notes = apply_marker(&mut p, Some(&marker("calico", "no")), "kind-np", false).unwrap();
        assert!(!p.enforces.contains(&Internet));
        assert!(notes[0].contains("recorded by `up`"), "{notes:?}");
        assert!(matches!(
            classify(&p, "s/t", &[Internet]),
            Applicability::NotApplicable { .. }
        ));

        let mut p = calico();
        let notes = apply_marker(&mut p, None, "kind-np", true).unwrap();
        assert!(!p.enforces.contains(&Internet));
        assert!(notes[0].contains("no netpol-harness marker"), "{notes:?}");
        assert!(notes[1].contains("--no-internet"), "{notes:?}");
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
        let err = args.cluster.options().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown CNI `weave` (profiles: calico, calico-3.31, calico-dual, cilium, cilium-dual, kindnet, antrea, flannel, kube-network-policies)"
        );
    }

    #[test]
    fn selection_needs_names_or_all_and_knows_every_scenario() {
        let root = ScenarioRoot { dir: None };
        assert!(
            select(&root, &[], false)
                .unwrap_err()
                .to_string()
                .contains("--all")
        );
        let err = select(&root, &["nope".to_string()], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no scenario `nope`"), "{err}");
        assert_eq!(select(&root, &[], true).unwrap().len(), 6);
        assert_eq!(cluster_name("kind-netpol"), "netpol");
        assert_eq!(cluster_name("prod"), "prod");
    }
}
