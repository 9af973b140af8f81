//! `netpol-harness down [--name CLUSTER] [--force]`.

use crate::provision::commands::TokioRunner;
use crate::provision::kind::DEFAULT_CLUSTER;
use std::process::ExitCode;

use super::CliError;
use crate::provision::down;

/// Arguments of `down`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kind cluster to delete.
    #[arg(long, default_value = DEFAULT_CLUSTER)]
    pub name: String,
    /// Delete it even if netpol-harness did not set it up (no kube-system/netpol-harness
    /// ConfigMap) or its API server does not answer.
    #[arg(long)]
    pub force: bool,
}

/// Deletes the cluster if it exists, and says which way it went.
pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let report = down(&args.name, args.force, &TokioRunner::default()).await?;
    if report.deleted {
        println!("deleted kind cluster `{}`", report.cluster);
    } else {
        println!(
            "no kind cluster named `{}`: nothing to delete",
            report.cluster
        );
    }
    Ok(ExitCode::SUCCESS)
}
