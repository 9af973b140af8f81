//! `up` and `down`: create (or reuse) a kind cluster, install a CNI at its pinned version, wait
//! until it is ready and preload images; delete the cluster again.
//!
//! This module holds the lifecycle (`up`, `down`, their options, reports and phases); `tools`
//! checks the host tools, `config` picks the kind config, `existing` checks a cluster already
//! there and its marker, `install` installs the CNI and waits for readiness, `images` preloads
//! images.

mod config;
mod existing;
mod images;
mod install;
mod tools;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::cni::CniProfile;
use super::commands::{Cmd, CmdError, CmdOutput, CommandRunner};
use super::kind_config::KindConfig;
use super::{ProvisionError, preflight};
pub use config::builtin_config_path;
use config::{kind_config, write_scratch};
use existing::{check_existing, mark, reaches_internet};
use images::preload;
use install::{install_step, wait_ready};
use tools::{check_tools, missing};

/// The kind release the configs and the nightly workflow are pinned to.
pub const KIND_VERSION: &str = "v0.32.0";

/// The cluster name used when none is given.
pub const DEFAULT_CLUSTER: &str = "netpol";

/// Images preloaded into the nodes by default: the probe image (agnhost serves and connects).
pub const DEFAULT_IMAGES: [&str; 1] = ["registry.k8s.io/e2e-test-images/agnhost:2.66.1"];

/// The ConfigMap in kube-system that records which CNI a cluster was set up for (`cni`,
/// `version`) and whether its pods reach the internet (`internet`: `yes` or `no`).
pub const MARKER: &str = "netpol-harness";

/// The pod `up` checks internet access from (in kube-system, which scenarios never deny).
const INTERNET_POD: &str = "netpol-harness-internet";

/// What that pod runs: the two things the scenarios' `internet` steps need, a public name
/// resolved through the cluster DNS and a TCP connection to 1.1.1.1:80 (busybox `nslookup` and
/// `agnhost connect` in the probe image).
const INTERNET_SCRIPT: &str =
    "nslookup -timeout=5 google.com >/dev/null && /agnhost connect 1.1.1.1:80 --timeout=5s";

/// How long the internet check may take in all.
const INTERNET_TIMEOUT: Duration = Duration::from_secs(120);

/// Longest a single readiness command may block before `up` polls again.
const POLL_SLICE: Duration = Duration::from_secs(60);

/// The kube context kind creates for cluster `cluster`.
pub fn context_name(cluster: &str) -> String {
    format!("kind-{cluster}")
}

/// What `up` should do.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The CNI to install.
    pub cni: CniProfile,
    /// The kind cluster name.
    pub cluster_name: String,
    /// A kind config file to use instead of the profile's built-in one.
    pub kind_config: Option<PathBuf>,
    /// Host ports (HTTP, HTTPS) for the ingress controller instead of the built-in config's
    /// 80 and 443; ignored with [`UpOptions::kind_config`].
    pub ingress_ports: Option<(u16, u16)>,
    /// Images to pull and load into the nodes.
    pub images: Vec<String>,
    /// Where temporary files go (the built-in kind config, image archives).
    pub scratch_dir: PathBuf,
    /// How long to wait in all for the CNI and the nodes to be ready.
    pub ready_timeout: Duration,
    /// Pause between two readiness polls.
    pub poll_interval: Duration,
    /// Install into an existing kind cluster that netpol-harness did not set up.
    pub adopt: bool,
    /// Whether to check, from a pod, that the cluster reaches the internet (`false`: record
    /// that it does not, as `up --no-internet` asks).
    pub check_internet: bool,
    /// Whether kind runs on Podman (`KIND_EXPERIMENTAL_PROVIDER=podman`).
    pub podman: bool,
    /// Where the host's `/proc`, `/sys` and `/lib/modules` are (`/`; a fake tree in tests).
    pub host_root: PathBuf,
    /// The first pause before an image pull that failed transiently (throttled, a server
    /// error, a dropped connection) is tried again; it doubles each time.
    pub pull_backoff: Duration,
    /// How many times such a pull is retried.
    pub pull_retries: usize,
}

impl UpOptions {
    /// Defaults for `cni`: cluster [`DEFAULT_CLUSTER`], the built-in kind config,
    /// [`DEFAULT_IMAGES`], the system temporary directory, 15 minutes to get ready.
    pub fn new(cni: CniProfile) -> Self {
        UpOptions {
            cni,
            cluster_name: DEFAULT_CLUSTER.to_string(),
            kind_config: None,
            ingress_ports: None,
            images: DEFAULT_IMAGES.iter().map(|s| s.to_string()).collect(),
            scratch_dir: std::env::temp_dir(),
            ready_timeout: Duration::from_secs(15 * 60),
            poll_interval: Duration::from_secs(5),
            adopt: false,
            check_internet: true,
            podman: false,
            host_root: PathBuf::from("/"),
            pull_backoff: Duration::from_secs(5),
            pull_retries: 5,
        }
    }
}

/// What `up` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpReport {
    /// The cluster name.
    pub cluster: String,
    /// Its kube context.
    pub context: String,
    /// The CNI installed.
    pub cni: &'static str,
    /// Its version.
    pub cni_version: &'static str,
    /// Whether the cluster was created now (false: it existed and was reused).
    pub created: bool,
    /// What `kind version` printed.
    pub kind_version: String,
    /// Images loaded into the nodes.
    pub images: Vec<String>,
    /// Those among them that needed the `docker save` + `kind load image-archive` fallback.
    pub images_via_archive: Vec<String>,
    /// The host ports (HTTP, HTTPS) the kind config publishes the ingress controller on.
    pub ingress_ports: Option<(u16, u16)>,
    /// Whether a pod reached the internet (name lookup and a connection), as recorded on the
    /// cluster's marker.
    pub internet: bool,
}

/// What `down` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownReport {
    /// The cluster name.
    pub cluster: String,
    /// Whether a cluster was deleted (false: there was none by that name).
    pub deleted: bool,
}

/// One phase of `up`, reported to the caller's progress callback as it starts. Its text is raw
/// (image names, notes quoting `kind` and `kubectl`): escape it for the output it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Checking that docker, kind, kubectl (and helm) work.
    CheckTools {
        /// Whether helm is checked too.
        helm: bool,
    },
    /// Something worth knowing that does not stop `up`.
    Note(String),
    /// Creating the cluster.
    CreateCluster {
        /// Cluster name.
        name: String,
        /// The kind config used.
        config: PathBuf,
    },
    /// The cluster exists; it is checked and reused.
    ReuseCluster {
        /// Cluster name.
        name: String,
    },
    /// One CNI install step.
    Install {
        /// The CNI.
        cni: &'static str,
        /// Its version.
        version: &'static str,
        /// The step, as a sentence.
        step: String,
    },
    /// Waiting for one readiness condition.
    WaitReady {
        /// The condition, as a sentence.
        check: String,
    },
    /// Pulling an image and loading it into the nodes.
    PreloadImage {
        /// The image.
        image: String,
    },
    /// Pulling a node image on the host before `kind create cluster` (retried as preloads are).
    PullNodeImage {
        /// The image.
        image: String,
    },
    /// Checking from a pod whether the cluster reaches the internet.
    CheckInternet,
    /// `kind load docker-image` failed; loading through an archive instead.
    ArchiveFallback {
        /// The image.
        image: String,
    },
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::CheckTools { helm: false } => f.write_str("checking docker, kind and kubectl"),
            Phase::CheckTools { helm: true } => {
                f.write_str("checking docker, kind, kubectl and helm")
            }
            Phase::Note(note) => write!(f, "note: {note}"),
            Phase::CreateCluster { name, config } => write!(
                f,
                "creating kind cluster `{name}` from {} (nodes stay NotReady until the CNI runs)",
                config.display()
            ),
            Phase::ReuseCluster { name } => {
                write!(
                    f,
                    "kind cluster `{name}` exists: checking it and carrying on"
                )
            }
            Phase::Install { cni, version, step } => write!(f, "{cni} {version}: {step}"),
            Phase::WaitReady { check } => write!(f, "waiting until {check}"),
            Phase::PreloadImage { image } => write!(f, "preloading {image}"),
            Phase::PullNodeImage { image } => write!(f, "pulling node image {image}"),
            Phase::CheckInternet => f.write_str(
                "checking from a pod that the cluster reaches the internet (DNS and 1.1.1.1:80)",
            ),
            Phase::ArchiveFallback { image } => write!(
                f,
                "`kind load docker-image` failed for {image} (Docker's containerd image store?): \
                 retrying with `docker save` + `kind load image-archive`"
            ),
        }
    }
}

/// Runs `cmd` and turns a non-zero exit into [`ProvisionError::CommandFailed`].
async fn run_ok(runner: &impl CommandRunner, cmd: Cmd) -> Result<CmdOutput, ProvisionError> {
    let out = runner.run(&cmd).await?;
    if out.success() {
        Ok(out)
    } else {
        Err(ProvisionError::CommandFailed {
            command: cmd.to_string(),
            code: out.code,
            stderr: out.stderr,
        })
    }
}

fn kubectl(context: &str) -> Cmd {
    Cmd::new("kubectl").args(["--context", context])
}

/// Creates (or reuses) the kind cluster of `opts`, installs its CNI, waits until everything is
/// ready and preloads images. Safe to re-run: an existing cluster set up for the same CNI is
/// checked and completed, not recreated. `progress` hears of each phase as it starts.
///
/// # Errors
///
/// [`ProvisionError::MissingTools`] before anything is changed if docker (or its daemon), kind,
/// kubectl or a needed helm is unusable; [`ProvisionError::KindConfig`] if the config does not
/// suit the CNI; [`ProvisionError::WrongCni`] or [`ProvisionError::ClusterUnreachable`] for an
/// existing cluster that cannot be reused; [`ProvisionError::CommandFailed`] (with the command
/// and its stderr) when a step fails; [`ProvisionError::NotReady`] when readiness times out.
pub async fn up(
    opts: &UpOptions,
    runner: &impl CommandRunner,
    progress: &mut dyn FnMut(&Phase),
) -> Result<UpReport, ProvisionError> {
    let cni = &opts.cni;
    let name = opts.cluster_name.as_str();
    let context = context_name(name);

    progress(&Phase::CheckTools {
        helm: cni.needs_helm(),
    });
    let kind_version = check_tools(runner, cni).await?;
    if !kind_version.contains(KIND_VERSION) {
        progress(&Phase::Note(format!(
            "this is {}; netpol-harness pins kind {KIND_VERSION} and a node image per lane",
            kind_version.trim()
        )));
    }

    let (config_path, config_text) = kind_config(opts).await?;
    let config = KindConfig::parse(&config_text).map_err(|e| ProvisionError::KindConfig {
        path: config_path.clone(),
        problems: vec![e.to_string()],
    })?;
    let problems = config.problems_for(cni);
    if !problems.is_empty() {
        return Err(ProvisionError::KindConfig {
            path: config_path,
            problems,
        });
    }
    // A config of the user's own keeps its node images; say when they are not the lane's pin.
    if opts.kind_config.is_some()
        && let Some(note) = config.node_image_note(cni.node_image)
    {
        progress(&Phase::Note(format!("{}: {note}", config_path.display())));
    }
    if !config.has_ingress_ports() {
        progress(&Phase::Note(
            "no worker publishes container ports 80 and 443: ingress-controller steps cannot reach Envoy"
                .to_string(),
        ));
    }

    let engine = preflight::engine_info(runner, opts.podman).await;
    let (problems, notes) = preflight::module_check(cni, &engine, &opts.host_root);
    for note in notes {
        progress(&Phase::Note(note));
    }
    preflight::fail_on(problems)?;

    let clusters = run_ok(runner, Cmd::new("kind").args(["get", "clusters"])).await?;
    let exists = clusters.stdout.lines().any(|l| l.trim() == name);
    if exists {
        progress(&Phase::ReuseCluster {
            name: name.to_string(),
        });
        if let Some(note) = check_existing(runner, opts, &context).await? {
            progress(&Phase::Note(note));
        }
    } else {
        preflight::fail_on(preflight::port_problems(&config, &engine, &opts.host_root))?;
        if opts.kind_config.is_none() {
            write_scratch(&opts.scratch_dir, &config_path, &config_text).await?;
        }
        // kind pulls a missing node image itself, retrying 4 times within 10 s
        // (kubernetes-sigs/kind@v0.32.0:pkg/cluster/internal/providers/docker/images.go#L52-L82),
        // too short for a registry's throttling: pull it first with the preload's backoff, and
        // kind finds it present (`docker inspect --type=image`, #L56). A node without `image:`
        // runs kind's own default, which kind pulls.
        let mut node_images: Vec<&str> = config.node_images().into_iter().flatten().collect();
        node_images.sort_unstable();
        node_images.dedup();
        for image in node_images {
            // Present already (pinned by digest, so it is this image): no registry request,
            // which an offline machine could not make and Docker Hub would count.
            let inspect =
                Cmd::new("docker").args(["image", "inspect", "--format", "{{.Id}}", image]);
            if runner.run(&inspect).await.is_ok_and(|o| o.success()) {
                continue;
            }
            progress(&Phase::PullNodeImage {
                image: image.to_string(),
            });
            images::pull(opts, runner, image, progress).await?;
        }
        progress(&Phase::CreateCluster {
            name: name.to_string(),
            config: config_path.clone(),
        });
        let create = Cmd::new("kind")
            .args(["create", "cluster", "--name", name, "--config"])
            .arg(config_path.to_string_lossy())
            .args(["--wait", "0s"]);
        run_ok(runner, create).await?;
        mark(runner, cni, &context).await?;
    }

    let mut nodes: Option<Vec<String>> = None;
    for step in &cni.install {
        progress(&Phase::Install {
            cni: cni.name,
            version: cni.version,
            step: step.to_string(),
        });
        install_step(runner, step, opts, &context, &mut nodes).await?;
    }

    wait_ready(opts, runner, &context, progress).await?;

    let mut images_via_archive = Vec::new();
    for image in &opts.images {
        progress(&Phase::PreloadImage {
            image: image.clone(),
        });
        if preload(opts, runner, image, progress).await? {
            images_via_archive.push(image.clone());
        }
    }

    let internet =
        opts.check_internet && reaches_internet(opts, runner, &context, progress).await?;
    run_ok(
        runner,
        kubectl(&context)
            .args([
                "-n",
                "kube-system",
                "patch",
                "configmap",
                MARKER,
                "--type",
                "merge",
                "-p",
            ])
            .arg(format!(
                r#"{{"data":{{"internet":"{}"}}}}"#,
                if internet { "yes" } else { "no" }
            )),
    )
    .await?;

    Ok(UpReport {
        cluster: name.to_string(),
        context,
        cni: cni.name,
        cni_version: cni.version,
        created: !exists,
        kind_version: kind_version.trim().to_string(),
        images: opts.images.clone(),
        images_via_archive,
        ingress_ports: config.ingress_host_ports(),
        internet,
    })
}

/// Deletes kind cluster `name` if it exists and carries netpol-harness's marker (any cluster by
/// that name with `force`); does nothing if there is none.
///
/// # Errors
///
/// [`ProvisionError::MissingTools`] without kind; [`ProvisionError::NotOurs`] for a cluster
/// without the marker (or whose API server does not answer) unless `force`;
/// [`ProvisionError::CommandFailed`] if kind cannot list or delete clusters (e.g. Docker is not
/// running).
pub async fn down(
    name: &str,
    force: bool,
    runner: &impl CommandRunner,
) -> Result<DownReport, ProvisionError> {
    let clusters = match runner
        .run(&Cmd::new("kind").args(["get", "clusters"]))
        .await
    {
        Err(CmdError::NotFound { .. }) => {
            return Err(ProvisionError::MissingTools {
                missing: vec![missing("kind", "not found on PATH".into())],
            });
        }
        other => other?,
    };
    if !clusters.success() {
        return Err(ProvisionError::CommandFailed {
            command: "kind get clusters".to_string(),
            code: clusters.code,
            stderr: clusters.stderr,
        });
    }
    let exists = clusters.stdout.lines().any(|l| l.trim() == name);
    if exists && !force {
        let context = context_name(name);
        let marker = match runner
            .run(&kubectl(&context).args([
                "-n",
                "kube-system",
                "get",
                "configmap",
                MARKER,
                "-o",
                "jsonpath={.data.cni}",
            ]))
            .await
        {
            Err(CmdError::NotFound { .. }) => CmdOutput {
                code: None,
                stdout: String::new(),
                stderr: "kubectl is not on PATH".into(),
            },
            other => other?,
        };
        let why = if marker.success() && marker.stdout.trim().is_empty() {
            Some("has a kube-system/netpol-harness ConfigMap that names no CNI".to_string())
        } else if marker.success() {
            None
        } else if marker.stderr.contains("NotFound") {
            Some("has no kube-system/netpol-harness ConfigMap".to_string())
        } else {
            Some(format!(
                "cannot be checked for netpol-harness's marker through context {context} ({})",
                marker.stderr.trim().lines().last().unwrap_or("no output")
            ))
        };
        if let Some(why) = why {
            return Err(ProvisionError::NotOurs {
                cluster: name.to_string(),
                why,
            });
        }
    }
    if exists {
        run_ok(
            runner,
            Cmd::new("kind").args(["delete", "cluster", "--name", name]),
        )
        .await?;
    }
    Ok(DownReport {
        cluster: name.to_string(),
        deleted: exists,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::provision::commands::{Reply, ScriptedRunner};

    const KIND_V: &str = "kind v0.32.0 go1.24.6 linux/amd64";

    fn options(cni: &str, scratch: &Path) -> UpOptions {
        let mut opts = UpOptions::new(CniProfile::by_name(cni).unwrap());
        opts.scratch_dir = scratch.to_path_buf();
        opts.ready_timeout = Duration::from_secs(5);
        opts.poll_interval = Duration::from_millis(1);
        // An empty host tree: nothing about the host's kernel is known.
        opts.host_root = scratch.join("no-host");
        opts.pull_backoff = Duration::from_millis(1);
        opts
    }

    const INTERNET_PHASE: &str =
        "kubectl --context kind-netpol -n kube-system get pod netpol-harness-internet";

    fn healthy() -> ScriptedRunner {
        ScriptedRunner::new()
            .on("docker info", Reply::ok("29.0.1\n"))
            .on("kind version", Reply::ok(KIND_V))
            .on(
                "kubectl --context kind-netpol -n kube-system get configmap netpol-harness",
                Reply::fail(
                    "Error from server (NotFound): configmaps \"netpol-harness\" not found",
                ),
            )
            .on(INTERNET_PHASE, Reply::ok("Succeeded"))
            // A fresh machine: no node image yet.
            .on(
                "docker image inspect",
                Reply::fail("Error response from daemon: No such image"),
            )
    }

    async fn run_up(
        opts: &UpOptions,
        runner: &ScriptedRunner,
    ) -> (Result<UpReport, ProvisionError>, Vec<Phase>) {
        let mut phases = Vec::new();
        let result = up(opts, runner, &mut |p| phases.push(p.clone())).await;
        (result, phases)
    }

    /// The notes saying a config's node images are not the lane's pin.
    fn pin_notes(phases: &[Phase]) -> Vec<&String> {
        phases
            .iter()
            .filter_map(|p| match p {
                Phase::Note(n) if n.contains("image this lane pins") => Some(n),
                _ => None,
            })
            .collect()
    }

    fn agnhost() -> &'static str {
        DEFAULT_IMAGES[0]
    }

    #[tokio::test]
    async fn calico_on_a_fresh_cluster_runs_exactly_these_commands() {
        let scratch = tempfile::tempdir().unwrap();
        let opts = options("calico", scratch.path());
        let runner = healthy();
        let (result, phases) = run_up(&opts, &runner).await;
        let report = result.unwrap();

        let config = builtin_config_path(scratch.path(), "netpol", "calico");
        let installation = scratch
            .path()
            .join("netpol-harness-netpol-calico-installation.yaml");
        let c = "kubectl --context kind-netpol";
        let calico = "https://raw.githubusercontent.com/projectcalico/calico/v3.32.1/manifests";
        let expected = vec![
            "docker info --format {{.ServerVersion}}".to_string(),
            "kind version".into(),
            "kubectl version --client".into(),
            "docker info --format '{{json .}}'".into(),
            "kind get clusters".into(),
            // The lane's node image, not present yet: pulled with retries before kind would.
            format!(
                "docker image inspect --format {{{{.Id}}}} {}",
                CniProfile::by_name("calico").unwrap().node_image
            ),
            format!(
                "docker pull {}",
                CniProfile::by_name("calico").unwrap().node_image
            ),
            format!(
                "kind create cluster --name netpol --config {} --wait 0s",
                config.display()
            ),
            format!(
                "{c} -n kube-system create configmap netpol-harness --from-literal=cni=calico --from-literal=version=v3.32.1"
            ),
            // No network-policy-api CRDs: the operator owns its own (v0.2.0) copy.
            format!("{c} apply --server-side --force-conflicts -f {calico}/operator-crds.yaml"),
            format!("{c} apply --server-side --force-conflicts -f {calico}/tigera-operator.yaml"),
            format!("{c} wait --for=condition=Established crd --all --timeout=120s"),
            format!(
                "{c} apply --server-side --force-conflicts -f {}",
                installation.display()
            ),
            format!("{c} wait --for=condition=Available tigerastatus/calico --timeout=5s"),
            format!("{c} wait --for=condition=Available tigerastatus/apiserver --timeout=5s"),
            format!("{c} get globalnetworkpolicies.projectcalico.org"),
            format!("{c} wait --for=condition=Ready nodes --all --timeout=5s"),
            format!("{c} -n kube-system rollout status deploy/coredns --timeout=5s"),
            format!("docker pull {}", agnhost()),
            format!("kind load docker-image {} --name netpol", agnhost()),
            format!(
                "{c} -n kube-system delete pod netpol-harness-internet --ignore-not-found --wait=false"
            ),
            format!(
                "{c} -n kube-system run netpol-harness-internet --restart=Never --image={} \
                 --labels=app.kubernetes.io/managed-by=netpol-harness --command -- sh -c \
                 'nslookup -timeout=5 google.com >/dev/null && /agnhost connect 1.1.1.1:80 --timeout=5s'",
                agnhost()
            ),
            format!(
                "{c} -n kube-system get pod netpol-harness-internet -o jsonpath={{.status.phase}}"
            ),
            format!(
                "{c} -n kube-system delete pod netpol-harness-internet --ignore-not-found --wait=false"
            ),
            format!(
                r#"{c} -n kube-system patch configmap netpol-harness --type merge -p '{{"data":{{"internet":"yes"}}}}'"#
            ),
        ];
        // The per-attempt timeout shrinks with the time left; compare it loosely.
        let calls: Vec<String> = runner
            .calls()
            .into_iter()
            .map(|c| c.replace("--timeout=4s", "--timeout=5s"))
            .collect();
        assert_eq!(calls, expected);

        // The built-in config was written where `kind create` was told to look.
        let written = std::fs::read_to_string(&config).unwrap();
        assert_eq!(written, opts.cni.kind_config);
        // Installation and APIServer only: no Goldmane, no Whisker.
        let installation = std::fs::read_to_string(&installation).unwrap();
        let kinds: Vec<&str> = installation
            .lines()
            .filter_map(|l| l.strip_prefix("kind: "))
            .collect();
        assert_eq!(kinds, ["Installation", "APIServer"]);
        assert!(installation.contains("cidr: 10.244.0.0/16"));

        assert!(report.created);
        assert!(report.internet);
        assert_eq!(report.context, "kind-netpol");
        assert_eq!(report.images_via_archive, Vec::<String>::new());
        assert_eq!(phases[0], Phase::CheckTools { helm: false });
        assert_eq!(
            phases[1],
            Phase::PullNodeImage {
                image: CniProfile::by_name("calico").unwrap().node_image.into()
            }
        );
        assert!(matches!(phases[2], Phase::CreateCluster { .. }));
        assert_eq!(
            phases
                .iter()
                .filter(|p| matches!(p, Phase::Install { .. }))
                .count(),
            4
        );
        assert!(
            !phases.iter().any(|p| matches!(p, Phase::Note(_))),
            "{phases:?}"
        );
    }

    #[tokio::test]
    async fn an_existing_cluster_is_checked_and_completed_not_recreated() {
        let scratch = tempfile::tempdir().unwrap();
        let mut opts = options("cilium", scratch.path());
        opts.images = vec![];
        let runner = ScriptedRunner::new()
            .on("docker info", Reply::ok("29.0.1"))
            .on("kind version", Reply::ok(KIND_V))
            .on("kind get clusters", Reply::ok("other\nnetpol\n"))
            .on(
                "kubectl --context kind-netpol -n kube-system get configmap netpol-harness",
                Reply::ok("cilium"),
            )
            .on(INTERNET_PHASE, Reply::ok("Succeeded"));
        let (result, phases) = run_up(&opts, &runner).await;
        let report = result.unwrap();
        assert!(!report.created);

        let calls = runner.calls();
        let c = "kubectl --context kind-netpol";
        assert_eq!(
            calls[..10],
            [
                "docker info --format {{.ServerVersion}}".to_string(),
                "kind version".into(),
                "kubectl version --client".into(),
                "helm version --short".into(),
                "docker info --format '{{json .}}'".into(),
                "kind get clusters".into(),
                "kind export kubeconfig --name netpol".into(),
                format!(
                    "{c} get nodes --no-headers -o custom-columns=KUBELET:.status.nodeInfo.kubeletVersion"
                ),
                format!(
                    "{c} -n kube-system get configmap netpol-harness -o jsonpath={{.data.cni}}"
                ),
                format!(
                    "{c} apply --server-side --force-conflicts -f https://raw.githubusercontent.com/kubernetes-sigs/network-policy-api/v0.2.0/config/crd/experimental/policy.networking.k8s.io_clusternetworkpolicies.yaml"
                ),
            ]
        );
        assert_eq!(
            calls[10],
            "helm repo add cilium https://helm.cilium.io/ --force-update"
        );
        assert_eq!(
            calls[11],
            "helm upgrade --install cilium cilium/cilium --version 1.20.0 --namespace kube-system \
             --kube-context kind-netpol --set image.pullPolicy=IfNotPresent --set ipam.mode=kubernetes \
             --set cni.chainingMode=portmap --set k8sClusterNetworkPolicy.enabled=true"
        );
        assert!(
            !calls.iter().any(|c| c.starts_with("kind create")),
            "{calls:#?}"
        );
        assert!(
            !calls.iter().any(|c| c.contains("create configmap")),
            "{calls:#?}"
        );
        assert_eq!(
            phases[1],
            Phase::ReuseCluster {
                name: "netpol".into()
            }
        );
        // Nothing was written: the existing cluster's config is whatever it was created with.
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn an_existing_cluster_on_another_kubernetes_is_reused_with_a_note() {
        let scratch = tempfile::tempdir().unwrap();
        let calico = CniProfile::by_name("calico").unwrap();
        assert!(calico.node_image.starts_with("kindest/node:v1.35.1@"));
        let existing = |kubelets: &str| {
            healthy()
                .on("kind get clusters", Reply::ok("netpol\n"))
                .on(
                    "kubectl --context kind-netpol -n kube-system get configmap netpol-harness",
                    Reply::ok("calico"),
                )
                .on(
                    "kubectl --context kind-netpol get nodes --no-headers",
                    Reply::ok(kubelets),
                )
        };
        let notes = |phases: &[Phase]| -> Vec<String> {
            phases
                .iter()
                .filter_map(|p| match p {
                    Phase::Note(n) if n.contains("Kubernetes") => Some(n.clone()),
                    _ => None,
                })
                .collect()
        };
        // Made before the calico lane moved to 1.35.1: reused, and told.
        let (result, phases) = run_up(
            &options("calico", scratch.path()),
            &existing("v1.36.1\nv1.36.1\nv1.36.1\n"),
        )
        .await;
        assert!(!result.unwrap().created);
        let notes_seen = notes(&phases);
        assert_eq!(notes_seen.len(), 1, "{phases:?}");
        assert!(
            notes_seen[0]
                .contains("runs Kubernetes v1.36.1, not v1.35.1, which the calico lane pins"),
            "{notes_seen:?}"
        );
        assert!(notes_seen[0].contains(calico.node_image), "{notes_seen:?}");
        assert!(
            notes_seen[0].contains("netpol-harness down --name netpol"),
            "{notes_seen:?}"
        );
        // On the pin: nothing to say.
        let (result, phases) = run_up(
            &options("calico", scratch.path()),
            &existing("v1.35.1\nv1.35.1\nv1.35.1\n"),
        )
        .await;
        result.unwrap();
        assert_eq!(notes(&phases), Vec::<String>::new(), "{phases:?}");
    }

    #[tokio::test]
    async fn an_existing_cluster_of_another_cni_is_refused() {
        let scratch = tempfile::tempdir().unwrap();
        let runner = healthy().on("kind get clusters", Reply::ok("netpol\n")).on(
            "kubectl --context kind-netpol -n kube-system get configmap netpol-harness",
            Reply::ok("calico"),
        );
        let (result, _) = run_up(&options("kindnet", scratch.path()), &runner).await;
        let err = result.unwrap_err();
        assert!(
            matches!(err, ProvisionError::WrongCni { ref installed, .. } if installed == "calico")
        );
        assert!(
            err.to_string()
                .contains("netpol-harness down --name netpol"),
            "{err}"
        );
        assert!(!runner.calls().iter().any(|c| c.contains("rollout")));
    }

    #[tokio::test]
    async fn an_unreachable_existing_cluster_says_what_to_do() {
        let scratch = tempfile::tempdir().unwrap();
        let runner = healthy().on("kind get clusters", Reply::ok("netpol\n")).on(
            "kubectl --context kind-netpol get nodes",
            Reply::fail("The connection to the server 127.0.0.1:40000 was refused"),
        );
        let (result, _) = run_up(&options("kindnet", scratch.path()), &runner).await;
        let err = result.unwrap_err();
        assert!(
            matches!(err, ProvisionError::ClusterUnreachable { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("was refused") && msg.contains("docker start netpol-control-plane"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn missing_docker_is_a_clear_error_that_points_to_plan() {
        let scratch = tempfile::tempdir().unwrap();
        let runner = healthy().on("docker info", Reply::NotFound);
        let (result, _) = run_up(&options("calico", scratch.path()), &runner).await;
        let err = result.unwrap_err();
        let ProvisionError::MissingTools { missing } = &err else {
            panic!("{err:?}");
        };
        let tools: Vec<&str> = missing.iter().map(|t| t.tool).collect();
        assert_eq!(tools, ["docker"]);
        let msg = err.to_string();
        assert!(msg.contains("docker: not found on PATH"), "{msg}");
        assert!(msg.contains("docs.docker.com"), "{msg}");
        assert!(msg.contains("`netpol-harness plan`"), "{msg}");
        // Nothing was attempted past the checks.
        assert!(!runner.calls().iter().any(|c| c.starts_with("kind get")));
    }

    #[tokio::test]
    async fn every_missing_tool_is_listed_with_how_to_get_it() {
        let scratch = tempfile::tempdir().unwrap();
        let runner = healthy()
            .on(
                "docker info",
                Reply::fail("Cannot connect to the Docker daemon at unix:///var/run/docker.sock"),
            )
            .on("kind version", Reply::NotFound)
            .on("helm", Reply::NotFound);
        let (result, _) = run_up(&options("antrea", scratch.path()), &runner).await;
        let msg = result.unwrap_err().to_string();
        assert!(
            msg.contains("docker: the Docker daemon does not answer `docker info` (Cannot connect"),
            "{msg}"
        );
        assert!(
            msg.contains("Start it (`sudo systemctl start docker`"),
            "{msg}"
        );
        assert!(
            msg.contains("kind: not found on PATH. Install kind v0.32.0"),
            "{msg}"
        );
        assert!(
            msg.contains("helm: not found on PATH. Install Helm 3"),
            "{msg}"
        );
        assert!(!msg.contains("kubectl:"), "{msg}");
        assert!(msg.contains("netpol-harness plan"), "{msg}");
    }

    #[tokio::test]
    async fn a_failing_cni_install_carries_the_command_and_its_stderr() {
        let scratch = tempfile::tempdir().unwrap();
        let runner = healthy().on(
            "kubectl --context kind-netpol apply --server-side --force-conflicts -f https://github.com/flannel-io",
            Reply::Fail {
                code: 1,
                stderr: "error: unable to read URL: 503 Service Unavailable".into(),
            },
        ).on("kind get nodes --name netpol", Reply::ok("netpol-control-plane\nnetpol-worker\n"));
        let (result, _) = run_up(&options("flannel", scratch.path()), &runner).await;
        let err = result.unwrap_err();
        let ProvisionError::CommandFailed {
            command,
            code,
            stderr,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert!(command.ends_with("/v0.28.9/kube-flannel.yml"), "{command}");
        assert_eq!(*code, Some(1));
        assert!(stderr.contains("503 Service Unavailable"));
        assert!(err.to_string().contains("503 Service Unavailable"));
        // The bridge plugin went onto both nodes first; no readiness wait after the failure.
        let calls = runner.calls();
        let execs: Vec<&String> = calls
            .iter()
            .filter(|c| c.starts_with("docker exec"))
            .collect();
        assert_eq!(execs.len(), 2);
        assert!(execs[0].starts_with("docker exec netpol-control-plane sh -c "));
        assert!(execs[1].starts_with("docker exec netpol-worker sh -c "));
        assert!(!calls.iter().any(|c| c.contains("rollout status")));
    }

    #[tokio::test]
    async fn docker_29_image_store_falls_back_to_an_archive() {
        let scratch = tempfile::tempdir().unwrap();
        let opts = options("kindnet", scratch.path());
        let runner = healthy()
            .on(
                "kind load docker-image",
                Reply::fail("ERROR: failed to load image: command \"docker exec --privileged -i netpol-control-plane ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=overlayfs -\" failed with error: exit status 1\nctr: content digest sha256:abc: not found"),
            )
            .on("docker version --format", Reply::ok("linux/amd64\n"));
        let (result, phases) = run_up(&opts, &runner).await;
        let report = result.unwrap();
        assert_eq!(report.images_via_archive, [agnhost()]);
        let archive = scratch
            .path()
            .join("netpol-harness-registry_k8s_io_e2e_test_images_agnhost_2_66_1.tar");
        let calls = runner.calls();
        let pull = calls
            .iter()
            .position(|c| *c == format!("docker pull {}", agnhost()))
            .unwrap();
        let tail = &calls[pull..pull + 5];
        assert_eq!(
            tail,
            [
                format!("docker pull {}", agnhost()),
                format!("kind load docker-image {} --name netpol", agnhost()),
                "docker version --format {{.Server.Os}}/{{.Server.Arch}}".to_string(),
                format!(
                    "docker save --platform linux/amd64 -o {} {}",
                    archive.display(),
                    agnhost()
                ),
                format!(
                    "kind load image-archive {} --name netpol",
                    archive.display()
                ),
            ]
        );
        assert!(phases.contains(&Phase::ArchiveFallback {
            image: agnhost().into()
        }));
    }

    #[tokio::test]
    async fn a_throttled_node_image_pull_is_retried_before_kind_creates_the_cluster() {
        let scratch = tempfile::tempdir().unwrap();
        let pull = format!(
            "docker pull {}",
            CniProfile::by_name("kindnet").unwrap().node_image
        );
        let runner = healthy().on_seq(
            pull.clone(),
            [
                Reply::fail("Error response from daemon: toomanyrequests: You have reached your pull rate limit."),
                Reply::ok("Status: Downloaded newer image"),
            ],
        );
        let (result, phases) = run_up(&options("kindnet", scratch.path()), &runner).await;
        result.unwrap();
        let calls = runner.calls();
        let pulls: Vec<usize> = (0..calls.len()).filter(|&i| calls[i] == pull).collect();
        let create = calls
            .iter()
            .position(|c| c.starts_with("kind create cluster"))
            .unwrap();
        assert_eq!(pulls.len(), 2, "{calls:?}");
        assert!(pulls.iter().all(|&i| i < create), "{calls:?}");
        assert!(phases.iter().any(
            |p| matches!(p, Phase::Note(n) if n.contains("kindest/node") && n.contains("retrying in"))
        ));
        // Throttled for good: kind is never asked to create the cluster.
        let runner = healthy().on(pull.clone(), Reply::fail("toomanyrequests"));
        let mut opts = options("kindnet", scratch.path());
        opts.pull_retries = 1;
        let (result, _) = run_up(&opts, &runner).await;
        assert!(result.is_err());
        assert!(!runner.calls().iter().any(|c| c.starts_with("kind create")));
    }

    #[tokio::test]
    async fn a_node_image_already_present_is_not_pulled_again() {
        let scratch = tempfile::tempdir().unwrap();
        let image = CniProfile::by_name("kindnet").unwrap().node_image;
        let runner = healthy().on(
            format!("docker image inspect --format {{{{.Id}}}} {image}"),
            Reply::ok("sha256:3489c767\n"),
        );
        let (result, phases) = run_up(&options("kindnet", scratch.path()), &runner).await;
        result.unwrap();
        assert!(
            !runner
                .calls()
                .iter()
                .any(|c| *c == format!("docker pull {image}")),
            "{:?}",
            runner.calls()
        );
        assert!(
            !phases
                .iter()
                .any(|p| matches!(p, Phase::PullNodeImage { .. }))
        );
        assert!(
            runner
                .calls()
                .iter()
                .any(|c| c.starts_with("kind create cluster"))
        );
    }

    #[tokio::test]
    async fn pulls_are_retried_on_throttling_and_server_errors_only() {
        let scratch = tempfile::tempdir().unwrap();
        let pull = format!("docker pull {}", agnhost());
        let runner = healthy().on_seq(
            pull.clone(),
            [
                Reply::fail("Error response from daemon: toomanyrequests: You have reached your pull rate limit."),
                Reply::fail("Error response from daemon: received unexpected HTTP status: 503 Service Unavailable"),
                Reply::fail("Error response from daemon: Get \"https://registry-1.docker.io/v2/\": net/http: TLS handshake timeout"),
                Reply::ok("Status: Downloaded newer image"),
            ],
        );
        let (result, phases) = run_up(&options("kindnet", scratch.path()), &runner).await;
        result.unwrap();
        assert_eq!(runner.calls().iter().filter(|c| **c == pull).count(), 4);
        let retries = phases
            .iter()
            .filter(|p| matches!(p, Phase::Note(n) if n.contains("retrying in")))
            .count();
        assert_eq!(retries, 3, "{phases:?}");

        // An image that does not exist is not retried.
        let runner = healthy().on(
            pull.clone(),
            Reply::fail("Error response from daemon: manifest for registry.k8s.io/e2e-test-images/agnhost:2.66.1 not found: manifest unknown"),
        );
        let (result, _) = run_up(&options("kindnet", scratch.path()), &runner).await;
        assert!(result.unwrap_err().to_string().contains("manifest unknown"));
        assert_eq!(runner.calls().iter().filter(|c| **c == pull).count(), 1);

        // Throttled for good: given up after the configured retries.
        let runner = healthy().on(pull.clone(), Reply::fail("toomanyrequests"));
        let mut opts = options("kindnet", scratch.path());
        opts.pull_retries = 2;
        let (result, _) = run_up(&opts, &runner).await;
        assert!(result.is_err());
        assert_eq!(runner.calls().iter().filter(|c| **c == pull).count(), 3);
    }

    #[tokio::test]
    async fn a_failed_fallback_reports_both_attempts() {
        let scratch = tempfile::tempdir().unwrap();
        let runner = healthy()
            .on(
                "kind load docker-image",
                Reply::fail("ctr: content digest sha256:abc: not found"),
            )
            .on("docker save", Reply::fail("no space left on device"));
        let (result, _) = run_up(&options("kindnet", scratch.path()), &runner).await;
        let msg = result.unwrap_err().to_string();
        assert!(
            msg.contains("content digest sha256:abc: not found"),
            "{msg}"
        );
        assert!(msg.contains("no space left on device"), "{msg}");
    }

    #[tokio::test]
    async fn readiness_is_polled_until_it_holds() {
        let scratch = tempfile::tempdir().unwrap();
        let runner = healthy().on_seq(
            "kubectl --context kind-netpol -n kube-system rollout status ds/kindnet",
            [
                Reply::fail("Waiting for daemon set \"kindnet\" rollout to finish: 0 of 2 updated pods are available..."),
                Reply::fail("still waiting"),
                Reply::ok("daemon set \"kindnet\" successfully rolled out"),
            ],
        );
        let (result, _) = run_up(&options("kindnet", scratch.path()), &runner).await;
        result.unwrap();
        let polls = runner
            .calls()
            .iter()
            .filter(|c| c.contains("rollout status ds/kindnet"))
            .count();
        assert_eq!(polls, 3);
    }

    #[tokio::test]
    async fn readiness_gives_up_with_the_last_output() {
        let scratch = tempfile::tempdir().unwrap();
        let mut opts = options("calico", scratch.path());
        opts.ready_timeout = Duration::from_millis(30);
        let runner = healthy().on(
            "kubectl --context kind-netpol wait --for=condition=Available tigerastatus/calico",
            Reply::fail("error: timed out waiting for the condition on tigerastatuses/calico"),
        );
        let (result, _) = run_up(&opts, &runner).await;
        let err = result.unwrap_err();
        let ProvisionError::NotReady { cni, command, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(cni, "calico");
        assert!(command.contains("tigerastatus/calico"), "{command}");
        let msg = err.to_string();
        assert!(msg.contains("timed out waiting for the condition"), "{msg}");
        assert!(
            msg.contains("kubectl --context kind-netpol get pods -A"),
            "{msg}"
        );
        // No image is preloaded into a cluster that never became ready.
        assert!(!runner.calls().iter().any(|c| c.contains("kind load")));
    }

    #[tokio::test]
    async fn a_kind_config_that_does_not_fit_stops_before_creating() {
        let scratch = tempfile::tempdir().unwrap();
        let path = scratch.path().join("mine.yaml");
        std::fs::write(&path, CniProfile::by_name("kindnet").unwrap().kind_config).unwrap();
        let mut opts = options("calico", scratch.path());
        opts.kind_config = Some(path.clone());
        let runner = healthy();
        let (result, _) = run_up(&opts, &runner).await;
        let err = result.unwrap_err();
        assert!(matches!(err, ProvisionError::KindConfig { .. }), "{err:?}");
        assert!(err.to_string().contains("disableDefaultCNI: true"), "{err}");
        assert!(
            !runner
                .calls()
                .iter()
                .any(|c| c.starts_with("kind get clusters"))
        );

        opts.kind_config = Some(scratch.path().join("absent.yaml"));
        let (result, _) = run_up(&opts, &runner).await;
        assert!(matches!(result.unwrap_err(), ProvisionError::Io { .. }));
    }

    #[tokio::test]
    async fn a_user_kind_config_is_used_in_place() {
        let scratch = tempfile::tempdir().unwrap();
        let path = scratch.path().join("my calico.yaml");
        let text = CniProfile::by_name("calico").unwrap().kind_config.replace(
            "extraPortMappings",
            "extraMounts: []\n    ignoredPortMappings",
        );
        std::fs::write(&path, text).unwrap();
        let mut opts = options("calico", scratch.path());
        opts.kind_config = Some(path.clone());
        let runner = healthy();
        let (result, phases) = run_up(&opts, &runner).await;
        result.unwrap();
        assert!(runner.calls().contains(&format!(
            "kind create cluster --name netpol --config '{}' --wait 0s",
            path.display()
        )));
        assert!(
            phases
                .iter()
                .any(|p| matches!(p, Phase::Note(n) if n.contains("ports 80 and 443")))
        );
        // It runs the lane's own node image: nothing to say about that.
        assert!(pin_notes(&phases).is_empty(), "{phases:?}");
    }

    #[tokio::test]
    async fn a_user_kind_config_keeps_its_own_node_image_and_up_says_so() {
        let scratch = tempfile::tempdir().unwrap();
        let path = scratch.path().join("mine.yaml");
        let calico = CniProfile::by_name("calico").unwrap();
        let mine = "kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a";
        let text = calico.kind_config.replace(calico.node_image, mine);
        std::fs::write(&path, &text).unwrap();
        let mut opts = options("calico", scratch.path());
        opts.kind_config = Some(path.clone());
        let runner = healthy();
        let (result, phases) = run_up(&opts, &runner).await;
        result.unwrap();
        // kind is given the user's file, untouched.
        assert!(runner.calls().contains(&format!(
            "kind create cluster --name netpol --config {} --wait 0s",
            path.display()
        )));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        let notes = pin_notes(&phases);
        assert_eq!(notes.len(), 1, "{phases:?}");
        assert!(
            notes[0].starts_with(&format!("{}: ", path.display())),
            "{notes:?}"
        );
        assert!(notes[0].contains(mine), "{notes:?}");
        assert!(notes[0].contains(calico.node_image), "{notes:?}");

        // The built-in config runs the pin, and says nothing about it.
        opts.kind_config = None;
        let (result, phases) = run_up(&opts, &healthy()).await;
        result.unwrap();
        let written =
            std::fs::read_to_string(builtin_config_path(scratch.path(), "netpol", "calico"))
                .unwrap();
        assert_eq!(written.matches(calico.node_image).count(), 3);
        assert!(pin_notes(&phases).is_empty(), "{phases:?}");
    }

    #[tokio::test]
    async fn ingress_ports_can_move_so_two_clusters_fit_side_by_side() {
        let scratch = tempfile::tempdir().unwrap();
        let mut opts = options("kindnet", scratch.path());
        opts.ingress_ports = Some((8080, 8443));
        let (result, _) = run_up(&opts, &healthy()).await;
        assert_eq!(result.unwrap().ingress_ports, Some((8080, 8443)));
        let written =
            std::fs::read_to_string(builtin_config_path(scratch.path(), "netpol", "kindnet"))
                .unwrap();
        let config = KindConfig::parse(&written).unwrap();
        assert_eq!(config.ingress_host_ports(), Some((8080, 8443)));
        assert!(!written.contains("hostPort: 80\n"), "{written}");
    }

    #[tokio::test]
    async fn kindnet_needs_a_kind_that_enforces_policy() {
        let scratch = tempfile::tempdir().unwrap();
        let runner = healthy().on(
            "kind version",
            Reply::ok("kind v0.23.0 go1.22.2 linux/amd64"),
        );
        let (result, _) = run_up(&options("kindnet", scratch.path()), &runner).await;
        assert!(matches!(
            result.unwrap_err(),
            ProvisionError::KindTooOld { .. }
        ));
        // Other CNIs only get a note.
        let (result, phases) = run_up(&options("antrea", scratch.path()), &runner).await;
        result.unwrap();
        assert!(
            phases
                .iter()
                .any(|p| matches!(p, Phase::Note(n) if n.contains("kind v0.23.0")))
        );
    }

    #[tokio::test]
    async fn down_deletes_only_a_cluster_that_exists_and_is_ours() {
        let runner = ScriptedRunner::new().on("kind get clusters", Reply::ok("other\n"));
        let report = down("netpol", false, &runner).await.unwrap();
        assert!(!report.deleted);
        assert_eq!(runner.calls(), ["kind get clusters"]);

        let marker = "kubectl --context kind-netpol -n kube-system get configmap netpol-harness";
        let runner = ScriptedRunner::new()
            .on("kind get clusters", Reply::ok("netpol\nother\n"))
            .on(marker, Reply::ok("calico"));
        let report = down("netpol", false, &runner).await.unwrap();
        assert!(report.deleted);
        assert_eq!(
            runner.calls(),
            [
                "kind get clusters".to_string(),
                format!("{marker} -o jsonpath={{.data.cni}}"),
                "kind delete cluster --name netpol".into(),
            ]
        );
    }

    #[tokio::test]
    async fn down_refuses_a_cluster_it_did_not_set_up_unless_forced() {
        let marker = "kubectl --context kind-netpol -n kube-system get configmap netpol-harness";
        for (reply, why) in [
            (
                Reply::fail(
                    "Error from server (NotFound): configmaps \"netpol-harness\" not found",
                ),
                "has no kube-system/netpol-harness ConfigMap",
            ),
            (
                Reply::fail("The connection to the server 127.0.0.1:40000 was refused"),
                "cannot be checked for netpol-harness's marker through context kind-netpol (The connection",
            ),
        ] {
            let runner = ScriptedRunner::new()
                .on("kind get clusters", Reply::ok("netpol\n"))
                .on(marker, reply);
            let err = down("netpol", false, &runner).await.unwrap_err();
            assert!(matches!(err, ProvisionError::NotOurs { .. }), "{err:?}");
            let msg = err.to_string();
            assert!(msg.contains(why) && msg.contains("--force"), "{msg}");
            assert!(!runner.calls().iter().any(|c| c.starts_with("kind delete")));

            let report = down("netpol", true, &runner).await.unwrap();
            assert!(report.deleted);
            assert_eq!(
                runner.calls().last().unwrap(),
                "kind delete cluster --name netpol"
            );
        }
    }

    #[tokio::test]
    async fn an_unmarked_cluster_is_adopted_only_when_asked() {
        let scratch = tempfile::tempdir().unwrap();
        let mut opts = options("kindnet", scratch.path());
        let runner = healthy().on("kind get clusters", Reply::ok("netpol\n"));
        let (result, _) = run_up(&opts, &runner).await;
        let err = result.unwrap_err();
        assert!(matches!(err, ProvisionError::Unmarked { .. }), "{err:?}");
        assert!(err.to_string().contains("--adopt"), "{err}");
        assert!(
            !runner
                .calls()
                .iter()
                .any(|c| c.contains("create configmap"))
        );
        assert!(!runner.calls().iter().any(|c| c.contains("rollout")));

        opts.adopt = true;
        let (result, _) = run_up(&opts, &runner).await;
        result.unwrap();
        assert!(
            runner
                .calls()
                .iter()
                .any(|c| c.contains("create configmap netpol-harness --from-literal=cni=kindnet"))
        );
    }

    #[tokio::test]
    async fn internet_access_is_checked_from_a_pod_and_recorded_on_the_marker() {
        let scratch = tempfile::tempdir().unwrap();
        let patch = |v: &str| {
            format!(
                r#"kubectl --context kind-netpol -n kube-system patch configmap netpol-harness --type merge -p '{{"data":{{"internet":"{v}"}}}}'"#
            )
        };
        // The pod fails (no route out): recorded as no, with a note.
        let runner = healthy().on_seq(
            INTERNET_PHASE,
            [
                Reply::ok("Pending"),
                Reply::ok("Running"),
                Reply::ok("Failed"),
            ],
        );
        let (result, phases) = run_up(&options("kindnet", scratch.path()), &runner).await;
        assert!(!result.unwrap().internet);
        assert_eq!(runner.calls().last().unwrap(), &patch("no"));
        assert!(
            phases
                .iter()
                .any(|p| matches!(p, Phase::Note(n) if n.contains("ended Failed"))),
            "{phases:?}"
        );
        // --no-internet: no pod at all, recorded as no.
        let runner = healthy();
        let mut opts = options("kindnet", scratch.path());
        opts.check_internet = false;
        let (result, _) = run_up(&opts, &runner).await;
        assert!(!result.unwrap().internet);
        assert!(
            !runner
                .calls()
                .iter()
                .any(|c| c.contains("netpol-harness-internet"))
        );
        assert_eq!(runner.calls().last().unwrap(), &patch("no"));
    }

    #[tokio::test]
    async fn preflight_problems_stop_up_before_any_cluster_exists() {
        let scratch = tempfile::tempdir().unwrap();
        let mut opts = options("flannel", scratch.path());
        let root = scratch.path().join("host");
        std::fs::create_dir_all(root.join("proc/sys/kernel")).unwrap();
        std::fs::write(root.join("proc/sys/kernel/osrelease"), "6.8.0\n").unwrap();
        opts.host_root = root;
        let runner = healthy().on(
            "docker info --format '{{json .}}'",
            Reply::ok(r#"{"KernelVersion":"6.8.0","SecurityOptions":[]}"#),
        );
        let (result, _) = run_up(&opts, &runner).await;
        let err = result.unwrap_err();
        assert!(matches!(err, ProvisionError::Preflight { .. }), "{err:?}");
        assert!(
            err.to_string().contains("sudo modprobe br_netfilter"),
            "{err}"
        );
        assert!(
            !runner
                .calls()
                .iter()
                .any(|c| c.starts_with("kind get clusters"))
        );

        // A port already taken on the host, with a fresh cluster to create.
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let mut opts = options("kindnet", scratch.path());
        opts.ingress_ports = Some((port, port.wrapping_add(1).max(1)));
        let runner = healthy();
        let (result, _) = run_up(&opts, &runner).await;
        let msg = result.unwrap_err().to_string();
        assert!(
            msg.contains(&format!("127.0.0.1:{port} is already in use")),
            "{msg}"
        );
        assert!(!runner.calls().iter().any(|c| c.starts_with("kind create")));
    }

    #[tokio::test]
    async fn down_without_kind_says_how_to_get_it() {
        let runner = ScriptedRunner::new().on("kind", Reply::NotFound);
        let msg = down("netpol", false, &runner)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("kind: not found on PATH. Install kind v0.32.0"),
            "{msg}"
        );
    }
}
