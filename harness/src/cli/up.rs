//! `netpol-harness up --cni NAME [--name CLUSTER] [--kind-config PATH]`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::builder::{PossibleValuesParser, TypedValueParser};

use crate::provision::cni::{CNI_NAMES, CniProfile};
use crate::provision::commands::TokioRunner;
use crate::provision::kind::{DEFAULT_CLUSTER, DEFAULT_IMAGES};
use crate::provision::{ProvisionError, UpOptions, up};

/// Arguments of `up`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The CNI to install.
    #[arg(long, value_name = "CNI", value_parser = cni_parser())]
    pub cni: CniProfile,
    /// The kind cluster name (its kube context is `kind-NAME`).
    #[arg(long, default_value = DEFAULT_CLUSTER)]
    pub name: String,
    /// A kind config to use instead of the built-in `kind-config/<cni>.yaml`.
    #[arg(long, value_name = "PATH")]
    pub kind_config: Option<PathBuf>,
    /// An image to pull and load into the nodes (repeatable; replaces the default).
    #[arg(long, value_name = "IMAGE", default_values_t = DEFAULT_IMAGES.map(String::from))]
    pub preload: Vec<String>,
    /// Preload no image at all.
    #[arg(long, conflicts_with = "preload")]
    pub no_preload: bool,
    /// How long to wait for the CNI, the nodes and DNS to be ready.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub ready_timeout: u64,
}

/// Accepts the names of the built-in profiles (listed in `--help`) and yields the profile.
fn cni_parser() -> impl TypedValueParser<Value = CniProfile> {
    PossibleValuesParser::new(CNI_NAMES).try_map(|name| {
        CniProfile::by_name(&name).ok_or_else(|| format!("no CNI profile named `{name}`"))
    })
}

/// Runs `up` with the real process runner, printing one line per phase on standard error.
pub async fn run(args: Args) -> Result<(), ProvisionError> {
    let mut opts = UpOptions::new(args.cni);
    opts.cluster_name = args.name;
    opts.kind_config = args.kind_config;
    opts.images = if args.no_preload {
        Vec::new()
    } else {
        args.preload
    };
    opts.ready_timeout = Duration::from_secs(args.ready_timeout);

    let start = Instant::now();
    let mut progress = |phase: &crate::provision::Phase| {
        eprintln!("[{:>4}s] {phase}", start.elapsed().as_secs());
    };
    let report = up(&opts, &TokioRunner::default(), &mut progress).await?;

    let how = if report.created { "created" } else { "reused" };
    println!(
        "kind cluster `{}` is ready ({how} in {}s): {} {}, kube context {}",
        report.cluster,
        start.elapsed().as_secs(),
        report.cni,
        report.cni_version,
        report.context
    );
    for caveat in &opts.cni.caveats {
        match caveat.issue_url {
            Some(url) => println!("note: {} ({url})", caveat.summary),
            None => println!("note: {}", caveat.summary),
        }
    }
    println!(
        "next: netpol-harness run --all --cni {} --report out/{}",
        report.cni, report.cni
    );
    Ok(())
}
