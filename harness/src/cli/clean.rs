//! `netpol-harness clean [--context CTX] [--dry-run]`: delete everything earlier runs left on a
//! kind cluster (what a killed run could not delete), as every `run` does when it starts.

use std::process::ExitCode;
use std::time::Duration;

use super::CliError;
use crate::cluster::ClusterOps;
use crate::cluster::kube::{ConnectOptions, KubeCluster};
use crate::escape;

/// Arguments of `clean`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kubeconfig context (default: the current one). Must be a kind cluster (`kind-*`)
    /// unless --allow-non-kind-context is also given.
    #[arg(long, value_name = "CTX")]
    pub context: Option<String>,
    /// Allow a context that is not a kind cluster; only with --context naming it.
    #[arg(long, requires = "context")]
    pub allow_non_kind_context: bool,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// How long `clean` waits for the namespaces it deleted to finish terminating.
const NAMESPACES_GONE: Duration = Duration::from_secs(300);

/// Runs `clean`: finds every object carrying the harness's ownership label
/// (`app.kubernetes.io/managed-by=netpol-harness`) — namespaces, cluster-scoped objects, objects
/// in shared namespaces; never a CRD — prints each, deletes them (unless `--dry-run`), and waits
/// for the namespaces to be gone.
pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let cluster = KubeCluster::connect(&ConnectOptions {
        context: args.context.clone(),
        allow_non_kind_context: args.allow_non_kind_context,
        run_id: "clean".to_string(),
    })
    .await?;
    let found = cluster.sweep(None, args.dry_run).await?;
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for leftover in &found {
        println!("{verb} {}", escape::terminal(&leftover.to_string()));
    }
    println!(
        "{} object(s) left by netpol-harness runs on context {}{}",
        found.len(),
        escape::terminal(cluster.context()),
        if args.dry_run {
            " (dry run: nothing deleted)"
        } else {
            ""
        }
    );
    if args.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    let namespaces: Vec<String> = found
        .iter()
        .filter(|o| o.is_namespace())
        .map(|o| o.name.clone())
        .collect();
    let progress = |name: &str, gone: usize, total: usize| {
        eprintln!(
            "namespace {} is gone ({gone} of {total})",
            escape::terminal(name)
        );
    };
    let left = cluster
        .await_namespaces_gone(&namespaces, NAMESPACES_GONE, &progress)
        .await?;
    if left.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "still terminating after {} s (a finalizer may be stuck): {}",
        NAMESPACES_GONE.as_secs(),
        escape::terminal(&left.join(", "))
    );
    Ok(ExitCode::from(crate::exit_codes::FAILURE))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn flags_parse_and_a_non_kind_context_must_be_named() {
        let Command::Clean(args) = Cli::try_parse_from([
            "netpol-harness",
            "clean",
            "--context",
            "kind-x",
            "--dry-run",
        ])
        .unwrap()
        .command
        else {
            panic!("not clean")
        };
        assert_eq!(args.context.as_deref(), Some("kind-x"));
        assert!(args.dry_run && !args.allow_non_kind_context);
        let Command::Clean(args) = Cli::try_parse_from(["netpol-harness", "clean"])
            .unwrap()
            .command
        else {
            panic!("not clean")
        };
        assert!(!args.dry_run && args.context.is_none());
        assert!(
            Cli::try_parse_from(["netpol-harness", "clean", "--allow-non-kind-context"]).is_err()
        );
    }
}
