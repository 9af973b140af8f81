//! Provisioning: a kind cluster with one CNI, ready for the runner.
//!
//! - [`cni`]: the CNI profiles (install, readiness, capabilities, known deviations) and
//!   [`cni::classify`].
//! - [`kind_config`]: the kind cluster configs in `kind-config/`, parsed and checked.
//! - [`commands`]: the process boundary every external program goes through.
//! - [`kind`]: [`up`] and [`down`].
//!
//! Nothing here talks to the Kubernetes API directly: the cluster is driven with docker, kind,
//! kubectl and helm, exactly as a person following the tutorials would.

pub mod cni;
pub mod commands;
pub mod kind;
pub mod kind_config;
pub mod preflight;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use kind::{DownReport, Phase, UpOptions, UpReport, down, up};

use commands::CmdError;

/// A tool that `up` or `down` needs and cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingTool {
    /// The program: `docker`, `kind`, `kubectl` or `helm`.
    pub tool: &'static str,
    /// What is wrong with it.
    pub problem: String,
    /// How to get it working.
    pub hint: &'static str,
}

/// Why provisioning failed. Each variant carries enough context to act on without rerunning.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Required programs are missing, or the Docker daemon does not answer.
    #[error("{}", missing_tools_message(.missing))]
    MissingTools {
        /// Each missing or unusable tool.
        missing: Vec<MissingTool>,
    },
    /// The installed kind is older than the profile needs.
    #[error(
        "kind {found} is too old for {cni}: kindnet enforces NetworkPolicy only since kind v0.24.0; install kind {}",
        kind::KIND_VERSION
    )]
    KindTooOld {
        /// The version `kind version` printed.
        found: String,
        /// The CNI asked for.
        cni: String,
    },
    /// The kind config cannot be read or does not suit the CNI.
    #[error("kind config {}: {}", path.display(), problems.join("; "))]
    KindConfig {
        /// The config file.
        path: PathBuf,
        /// What is wrong, one sentence each.
        problems: Vec<String>,
    },
    /// The cluster exists but its API server does not answer.
    #[error(
        "kind cluster `{cluster}` exists but its API server does not answer: {}\nStart its node containers (`docker start {cluster}-control-plane {cluster}-worker`) or delete it with `netpol-harness down --name {cluster}`",
        tail(stderr)
    )]
    ClusterUnreachable {
        /// The cluster.
        cluster: String,
        /// What kubectl said.
        stderr: String,
    },
    /// Something on the host stops the cluster from working; nothing was created.
    #[error("cannot create the kind cluster; fix this on the host first:{}", bullets(.problems))]
    Preflight {
        /// What is wrong, each with what to run.
        problems: Vec<String>,
    },
    /// The cluster exists but netpol-harness did not set it up, so `up` will not install into it.
    #[error(
        "kind cluster `{cluster}` exists but was not set up by netpol-harness (no kube-system/netpol-harness ConfigMap): its CNI and pod subnet are unknown. Pick another --name, or pass --adopt to install {requested} into it anyway"
    )]
    Unmarked {
        /// The cluster.
        cluster: String,
        /// The CNI asked for.
        requested: String,
    },
    /// `down` found a cluster it cannot tell is netpol-harness's.
    #[error(
        "kind cluster `{cluster}` {why}, so it may not be netpol-harness's: not deleting it. Pass --force to delete it anyway"
    )]
    NotOurs {
        /// The cluster.
        cluster: String,
        /// What was found instead of the marker.
        why: String,
    },
    /// The cluster exists and was set up for another CNI.
    #[error(
        "kind cluster `{cluster}` was set up for {installed}, not {requested}: pick another --name, or delete it with `netpol-harness down --name {cluster}`"
    )]
    WrongCni {
        /// The cluster.
        cluster: String,
        /// The CNI recorded on it.
        installed: String,
        /// The CNI asked for.
        requested: String,
    },
    /// A command exited with a failure.
    #[error("`{command}` failed ({}):\n{}", exit(*code), tail(stderr))]
    CommandFailed {
        /// The command line.
        command: String,
        /// Its exit code (`None` if a signal ended it).
        code: Option<i32>,
        /// What it printed on standard error.
        stderr: String,
    },
    /// The CNI did not become ready in time.
    #[error(
        "{cni} is not ready after {}s: `{command}` still fails:\n{}\nLook at `kubectl --context {context} get pods -A`, or collect logs with `ci/collect-logs.sh`",
        waited.as_secs(),
        tail(last_output)
    )]
    NotReady {
        /// The CNI being installed.
        cni: String,
        /// The readiness command that kept failing.
        command: String,
        /// How long `up` waited in all.
        waited: Duration,
        /// What that command said last.
        last_output: String,
        /// The kube context of the cluster.
        context: String,
    },
    /// An image could not be loaded into the nodes, directly or through an archive.
    #[error(
        "could not load image {image} into the cluster: `kind load docker-image` said:\n{}\nand the `docker save` + `kind load image-archive` fallback failed too: {fallback}",
        tail(direct)
    )]
    ImageLoad {
        /// The image.
        image: String,
        /// What `kind load docker-image` said.
        direct: String,
        /// Why the fallback failed.
        fallback: Box<ProvisionError>,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A command could not be run at all.
    #[error(transparent)]
    Run(#[from] CmdError),
}

fn bullets(items: &[String]) -> String {
    items.iter().map(|i| format!("\n  - {i}")).collect()
}

fn missing_tools_message(missing: &[MissingTool]) -> String {
    let mut out = String::from("cannot provision a kind cluster:");
    for t in missing {
        out.push_str(&format!("\n  - {}: {}. {}", t.tool, t.problem, t.hint));
    }
    if missing.iter().any(|t| t.tool == "docker") {
        out.push_str(
            "\nWithout Docker you can still run `netpol-harness plan`, which needs no cluster.",
        );
    }
    out
}

fn exit(code: Option<i32>) -> impl fmt::Display {
    match code {
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".to_string(),
    }
}

/// The last lines of a command's output: enough to see the error, short enough for a terminal.
fn tail(text: &str) -> String {
    const LINES: usize = 30;
    let lines: Vec<&str> = text.trim().lines().collect();
    let start = lines.len().saturating_sub(LINES);
    let mut out = String::new();
    if start > 0 {
        out.push_str(&format!("[… {start} earlier lines]\n"));
    }
    out.push_str(&lines[start..].join("\n"));
    if out.is_empty() {
        out.push_str("(no output)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_stderr_is_cut_to_its_tail() {
        let stderr: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        let e = ProvisionError::CommandFailed {
            command: "kubectl apply".into(),
            code: Some(1),
            stderr,
        };
        let msg = e.to_string();
        assert!(msg.starts_with(
            "`kubectl apply` failed (exit status 1):\n[… 70 earlier lines]\nline 71\n"
        ));
        assert!(msg.ends_with("line 100"));
        let quiet = ProvisionError::CommandFailed {
            command: "x".into(),
            code: None,
            stderr: " \n".into(),
        };
        assert_eq!(
            quiet.to_string(),
            "`x` failed (killed by a signal):\n(no output)"
        );
    }
}
