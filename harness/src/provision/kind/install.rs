//! Installing the CNI step by step, then polling its readiness checks and the ones every cluster
//! needs.

use std::time::{Duration, Instant};

use super::config::write_scratch;
use super::{POLL_SLICE, Phase, UpOptions, kubectl, run_ok};
use crate::provision::ProvisionError;
use crate::provision::cni::{CniProfile, InstallStep, ReadyCheck};
use crate::provision::commands::{Cmd, CommandRunner};

pub(super) async fn install_step(
    runner: &impl CommandRunner,
    step: &InstallStep,
    opts: &UpOptions,
    context: &str,
    nodes: &mut Option<Vec<String>>,
) -> Result<(), ProvisionError> {
    let name = opts.cluster_name.as_str();
    let cmd = match step {
        InstallStep::ApplyManifest { file, yaml, .. } => {
            let path = opts
                .scratch_dir
                .join(format!("netpol-harness-{name}-{file}"));
            write_scratch(&opts.scratch_dir, &path, yaml).await?;
            kubectl(context)
                .args(["apply", "--server-side", "--force-conflicts", "-f"])
                .arg(path.to_string_lossy())
        }
        InstallStep::Apply { url } => {
            kubectl(context).args(["apply", "--server-side", "--force-conflicts", "-f", url])
        }
        InstallStep::CrdsEstablished => kubectl(context).args([
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=120s",
        ]),
        InstallStep::HelmRepo { name, url } => {
            Cmd::new("helm").args(["repo", "add", name, url, "--force-update"])
        }
        InstallStep::Helm {
            release,
            chart,
            version,
            namespace,
            set,
        } => {
            let mut cmd = Cmd::new("helm").args([
                "upgrade",
                "--install",
                release,
                chart,
                "--version",
                version,
                "--namespace",
                namespace,
                "--kube-context",
                context,
            ]);
            for value in set {
                cmd = cmd.args(["--set", value]);
            }
            cmd
        }
        InstallStep::Kubectl { args, .. } => kubectl(context).args(args.iter().copied()),
        InstallStep::NodeScript { script, .. } => {
            if nodes.is_none() {
                let out = run_ok(
                    runner,
                    Cmd::new("kind").args(["get", "nodes", "--name", name]),
                )
                .await?;
                *nodes = Some(out.stdout.split_whitespace().map(String::from).collect());
            }
            for node in nodes.iter().flatten() {
                run_ok(
                    runner,
                    Cmd::new("docker").args(["exec", node, "sh", "-c", script]),
                )
                .await?;
            }
            return Ok(());
        }
    };
    run_ok(runner, cmd).await.map(drop)
}

/// The profile's readiness checks, then the ones every cluster needs: every node Ready
/// (`kubectl wait nodes --all`: the control plane and both workers) and DNS. The profiles' own
/// checks wait on DaemonSet rollouts, which cover every node too.
fn ready_checks(cni: &CniProfile) -> Vec<ReadyCheck> {
    let mut checks = cni.ready.clone();
    checks.push(ReadyCheck::Condition {
        target: &["nodes", "--all"],
        condition: "Ready",
    });
    checks.push(ReadyCheck::Rollout {
        namespace: "kube-system",
        target: "deploy/coredns",
    });
    checks
}

fn ready_command(check: &ReadyCheck, context: &str, slice: Duration) -> Cmd {
    let timeout = format!("--timeout={}s", slice.as_secs().max(1));
    match check {
        ReadyCheck::Rollout { namespace, target } => kubectl(context)
            .args(["-n", namespace, "rollout", "status", target])
            .arg(timeout),
        ReadyCheck::Condition { target, condition } => kubectl(context)
            .arg("wait")
            .arg(format!("--for=condition={condition}"))
            .args(target.iter().copied())
            .arg(timeout),
        ReadyCheck::Served { resource } => kubectl(context).args(["get", resource]),
    }
}

/// Polls every readiness check in turn until it holds, all within `opts.ready_timeout`.
pub(super) async fn wait_ready(
    opts: &UpOptions,
    runner: &impl CommandRunner,
    context: &str,
    progress: &mut dyn FnMut(&Phase),
) -> Result<(), ProvisionError> {
    let start = Instant::now();
    // Bounded as `up --ready-timeout` is (one day), so no Duration can overflow the Instant.
    let deadline = start + opts.ready_timeout.min(Duration::from_secs(86_400));
    for check in ready_checks(&opts.cni) {
        progress(&Phase::WaitReady {
            check: check.to_string(),
        });
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let cmd = ready_command(&check, context, remaining.min(POLL_SLICE));
            let out = runner.run(&cmd).await?;
            if out.success() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(ProvisionError::NotReady {
                    cni: opts.cni.name.to_string(),
                    command: cmd.to_string(),
                    waited: start.elapsed(),
                    last_output: format!("{}{}", out.stdout, out.stderr),
                    context: context.to_string(),
                });
            }
            tokio::time::sleep(opts.poll_interval.min(remaining)).await;
        }
    }
    Ok(())
}
