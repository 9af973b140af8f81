//! Preloading images into the kind nodes: pulled on the host (retried on throttling and server
//! errors), then loaded, with an archive fallback for docker's containerd image store.

use super::{Phase, UpOptions, run_ok};
use crate::provision::ProvisionError;
use crate::provision::commands::{Cmd, CmdError, CommandRunner};

/// Whether a failed pull is worth retrying: throttling (Docker Hub's `toomanyrequests`, 429),
/// a registry's server error (5xx) or a transport failure. Anything else (an unknown image, a
/// denied pull) fails at once.
pub(super) fn pull_is_transient(e: &ProvisionError) -> bool {
    const TRANSIENT: [&str; 16] = [
        "toomanyrequests",
        "429 too many requests",
        "500 internal server error",
        "502 bad gateway",
        "503 service unavailable",
        "504 gateway time",
        "status: 5",
        "status code 5",
        "connection reset",
        "connection refused",
        "i/o timeout",
        "tls handshake timeout",
        "unexpected eof",
        "temporary failure in name resolution",
        "client.timeout exceeded",
        "net/http: request canceled",
    ];
    match e {
        ProvisionError::CommandFailed { stderr, .. } => {
            let stderr = stderr.to_ascii_lowercase();
            TRANSIENT.iter().any(|t| stderr.contains(t))
        }
        ProvisionError::Run(CmdError::TimedOut { .. }) => true,
        _ => false,
    }
}

/// `docker pull image`, retried with exponential backoff while it fails transiently.
pub(super) async fn pull(
    opts: &UpOptions,
    runner: &impl CommandRunner,
    image: &str,
    progress: &mut dyn FnMut(&Phase),
) -> Result<(), ProvisionError> {
    use backon::{ExponentialBuilder, Retryable};
    let attempt = || run_ok(runner, Cmd::new("docker").args(["pull", image]));
    attempt
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(opts.pull_backoff)
                .with_max_delay(opts.pull_backoff * 8)
                .with_max_times(opts.pull_retries),
        )
        .sleep(tokio::time::sleep)
        .when(pull_is_transient)
        .notify(|e, delay| {
            let said = match e {
                ProvisionError::CommandFailed { stderr, .. } => {
                    stderr.trim().lines().last().unwrap_or("").to_string()
                }
                other => other.to_string(),
            };
            progress(&Phase::Note(format!(
                "pulling {image} failed ({said}); retrying in {}s",
                delay.as_secs_f32()
            )));
        })
        .await
        .map(drop)
}

/// Pulls `image` and loads it into the nodes. Returns whether the archive fallback was needed.
///
/// Both `kind load docker-image` and `kind load image-archive` load into every node of the
/// cluster when `--nodes` is not given, the control plane and both workers alike
/// (kubernetes-sigs/kind@v0.32.0:pkg/cmd/kind/load/docker-image/docker-image.go#L119-L120,
/// `pkg/cmd/kind/load/image-archive/image-archive.go#L120`), so a pod finds its image on
/// whichever node it is scheduled.
///
/// With Docker 29's containerd image store, `kind load docker-image` fails (`ctr: content
/// digest … not found`, kind#3795): the fallback saves one platform's image to an archive and
/// loads that instead (kind PR #4247).
pub(super) async fn preload(
    opts: &UpOptions,
    runner: &impl CommandRunner,
    image: &str,
    progress: &mut dyn FnMut(&Phase),
) -> Result<bool, ProvisionError> {
    let name = opts.cluster_name.as_str();
    pull(opts, runner, image, progress).await?;
    let direct = runner
        .run(&Cmd::new("kind").args(["load", "docker-image", image, "--name", name]))
        .await?;
    if direct.success() {
        return Ok(false);
    }
    progress(&Phase::ArchiveFallback {
        image: image.to_string(),
    });
    let archive = opts.scratch_dir.join(format!(
        "netpol-harness-{}.tar",
        image.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    let fallback = async {
        let platform = run_ok(
            runner,
            Cmd::new("docker").args(["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"]),
        )
        .await?;
        run_ok(
            runner,
            Cmd::new("docker")
                .args(["save", "--platform", platform.stdout.trim(), "-o"])
                .arg(archive.to_string_lossy())
                .arg(image),
        )
        .await?;
        run_ok(
            runner,
            Cmd::new("kind")
                .args(["load", "image-archive"])
                .arg(archive.to_string_lossy())
                .args(["--name", name]),
        )
        .await
    }
    .await;
    // The archive is only a vehicle; a failed removal leaves a file in the scratch directory.
    if let Err(e) = tokio::fs::remove_file(&archive).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %archive.display(), error = %e, "could not remove image archive");
    }
    match fallback {
        Ok(_) => Ok(true),
        Err(e) => Err(ProvisionError::ImageLoad {
            image: image.to_string(),
            direct: direct.stderr,
            fallback: Box::new(e),
        }),
    }
}
