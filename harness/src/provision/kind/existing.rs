//! An existing cluster: that it answers, the marker that says which CNI `up` set it up for, and
//! whether its pods reach the internet.

use std::time::Instant;

use super::{
    DEFAULT_IMAGES, INTERNET_POD, INTERNET_SCRIPT, INTERNET_TIMEOUT, MARKER, Phase, UpOptions,
    kubectl, run_ok,
};
use crate::provision::ProvisionError;
use crate::provision::cni::CniProfile;
use crate::provision::commands::{Cmd, CommandRunner};

/// Checks that an existing cluster answers and was set up for the CNI of `opts` (or, with
/// `opts.adopt`, claims an unmarked one for it). Returns a note when its nodes run another
/// Kubernetes than the lane's node image ([`CniProfile::node_image`]): a cluster made before the
/// pin changed, or from a config of the user's own, is used as it is.
pub(super) async fn check_existing(
    runner: &impl CommandRunner,
    opts: &UpOptions,
    context: &str,
) -> Result<Option<String>, ProvisionError> {
    let (cni, name) = (&opts.cni, opts.cluster_name.as_str());
    run_ok(
        runner,
        Cmd::new("kind").args(["export", "kubeconfig", "--name", name]),
    )
    .await?;
    let nodes = runner
        .run(&kubectl(context).args([
            "get",
            "nodes",
            "--no-headers",
            "-o",
            "custom-columns=KUBELET:.status.nodeInfo.kubeletVersion",
        ]))
        .await?;
    if !nodes.success() {
        return Err(ProvisionError::ClusterUnreachable {
            cluster: name.to_string(),
            stderr: nodes.stderr,
        });
    }
    match read_marker(runner, context).await? {
        Some(installed) if installed != cni.name => Err(ProvisionError::WrongCni {
            cluster: name.to_string(),
            installed,
            requested: cni.name.to_string(),
        }),
        Some(_) => Ok(()),
        // A cluster created by hand (or by another tool): only with --adopt.
        None if opts.adopt => mark(runner, cni, context).await,
        None => Err(ProvisionError::Unmarked {
            cluster: name.to_string(),
            requested: cni.name.to_string(),
        }),
    }?;
    Ok(kubernetes_note(cni, name, &nodes.stdout))
}

/// A sentence when the kubelet versions in `versions` (one a line, as `kubectl get nodes` prints
/// them) are not the Kubernetes version of `cni`'s node image; `None` if they are (or none was
/// read).
fn kubernetes_note(cni: &CniProfile, cluster: &str, versions: &str) -> Option<String> {
    let pinned = cni
        .node_image
        .split_once(':')
        .and_then(|(_, tag)| tag.split('@').next())?;
    let mut others: Vec<&str> = Vec::new();
    for version in versions.lines().map(str::trim).filter(|v| !v.is_empty()) {
        if version != pinned && !others.contains(&version) {
            others.push(version);
        }
    }
    (!others.is_empty()).then(|| {
        format!(
            "kind cluster `{cluster}` runs Kubernetes {}, not {pinned}, which the {} lane pins \
             (`{}`): it is used as it is; `netpol-harness down --name {cluster}` and `up` again \
             to get the pin",
            others.join(", "),
            cni.name,
            cni.node_image
        )
    })
}

/// The CNI the cluster's marker names, `None` if it has no marker.
pub(super) async fn read_marker(
    runner: &impl CommandRunner,
    context: &str,
) -> Result<Option<String>, ProvisionError> {
    let marker = runner
        .run(&kubectl(context).args([
            "-n",
            "kube-system",
            "get",
            "configmap",
            MARKER,
            "-o",
            "jsonpath={.data.cni}",
        ]))
        .await?;
    let installed = marker.stdout.trim();
    Ok((marker.success() && !installed.is_empty()).then(|| installed.to_string()))
}

/// Runs a pod that looks up a public name and connects to a public address; whether it
/// succeeded within [`INTERNET_TIMEOUT`]. The pod is removed again either way.
pub(super) async fn reaches_internet(
    opts: &UpOptions,
    runner: &impl CommandRunner,
    context: &str,
    progress: &mut dyn FnMut(&Phase),
) -> Result<bool, ProvisionError> {
    progress(&Phase::CheckInternet);
    let pod = || kubectl(context).args(["-n", "kube-system"]);
    let delete = pod().args([
        "delete",
        "pod",
        INTERNET_POD,
        "--ignore-not-found",
        "--wait=false",
    ]);
    run_ok(runner, delete.clone()).await?;
    run_ok(
        runner,
        pod()
            .args(["run", INTERNET_POD, "--restart=Never"])
            .arg(format!("--image={}", DEFAULT_IMAGES[0]))
            .arg("--labels=app.kubernetes.io/managed-by=netpol-harness")
            .args(["--command", "--", "sh", "-c", INTERNET_SCRIPT]),
    )
    .await?;
    let deadline = Instant::now() + INTERNET_TIMEOUT.min(opts.ready_timeout);
    let phase = loop {
        let out = runner
            .run(&pod().args(["get", "pod", INTERNET_POD, "-o", "jsonpath={.status.phase}"]))
            .await?;
        let phase = out.stdout.trim().to_string();
        if matches!(phase.as_str(), "Succeeded" | "Failed") || Instant::now() >= deadline {
            break phase;
        }
        tokio::time::sleep(opts.poll_interval).await;
    };
    run_ok(runner, delete).await?;
    let reached = phase == "Succeeded";
    if !reached {
        progress(&Phase::Note(format!(
            "pods cannot reach the internet (the check pod ended {}): steps that need `internet` \
             will be not applicable on this cluster",
            if phase.is_empty() { "nowhere" } else { &phase }
        )));
    }
    Ok(reached)
}

/// Records on the cluster which CNI it is set up for.
pub(super) async fn mark(
    runner: &impl CommandRunner,
    cni: &CniProfile,
    context: &str,
) -> Result<(), ProvisionError> {
    run_ok(
        runner,
        kubectl(context)
            .args(["-n", "kube-system", "create", "configmap", MARKER])
            .arg(format!("--from-literal=cni={}", cni.name))
            .arg(format!("--from-literal=version={}", cni.version)),
    )
    .await
    .map(drop)
}
