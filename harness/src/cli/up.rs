//! `netpol-harness up --cni NAME [--name CLUSTER] [--kind-config PATH | --ingress-ports H,S]
//! [--adopt] [--no-internet]`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::builder::{PossibleValuesParser, TypedValueParser};

use super::CliError;
use crate::cluster::remote::{Fetcher, HttpsFetcher, ManifestCache};
use crate::provision::cni::{CNI_NAMES, CniProfile};
use crate::provision::commands::TokioRunner;
use crate::provision::kind::{DEFAULT_CLUSTER, DEFAULT_IMAGES};
use crate::provision::{UpOptions, up};
use crate::runner::plan::remote_documents;
use crate::scenario::load::images_in;

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
    /// Host ports for the ingress controller, `HTTP,HTTPS` (default 80,443 on 127.0.0.1), so a
    /// second cluster can run next to the first; `run --outside-address 127.0.0.1:HTTP` then
    /// reaches it.
    #[arg(long, value_name = "HTTP,HTTPS", value_parser = parse_ports, conflicts_with = "kind_config")]
    pub ingress_ports: Option<(u16, u16)>,
    /// An image to pull and load into the nodes (repeatable; replaces the default: the probe
    /// image and every image the scenarios' manifests run).
    #[arg(long, value_name = "IMAGE")]
    pub preload: Vec<String>,
    /// Preload no image at all.
    #[arg(long, conflicts_with = "preload")]
    pub no_preload: bool,
    /// Where the scenarios whose images are preloaded live.
    #[command(flatten)]
    pub scenarios: super::ScenarioRoot,
    /// Install into an existing kind cluster of that name that netpol-harness did not set up
    /// (its CNI and pod subnet are then whatever they are).
    #[arg(long)]
    pub adopt: bool,
    /// Do not check whether pods reach the internet: record that they do not, so steps that
    /// need `internet` are not applicable on this cluster.
    #[arg(long)]
    pub no_internet: bool,
    /// How long to wait for the CNI, the nodes and DNS to be ready.
    #[arg(long, value_name = "SECONDS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub ready_timeout: u64,
}

/// `HTTP,HTTPS`: two different non-zero ports.
fn parse_ports(text: &str) -> Result<(u16, u16), CliError> {
    let bad = || {
        CliError::Usage(format!(
            "`{text}` is not HTTP,HTTPS (two different ports, e.g. 8080,8443)"
        ))
    };
    let (http, https) = text.split_once(',').ok_or_else(bad)?;
    let port = |p: &str| p.trim().parse::<u16>().ok().filter(|p| *p != 0);
    match (port(http), port(https)) {
        (Some(h), Some(s)) if h != s => Ok((h, s)),
        _ => Err(bad()),
    }
}

/// Accepts the names of the built-in profiles (listed in `--help`) and yields the profile.
fn cni_parser() -> impl TypedValueParser<Value = CniProfile> {
    PossibleValuesParser::new(CNI_NAMES).try_map(|name| {
        CniProfile::by_name(&name)
            .ok_or_else(|| CliError::Usage(format!("no CNI profile named `{name}`")))
    })
}

/// The images preloaded by default: the probe image, every image a scenario's manifests run,
/// and those of its pinned remote manifests (Contour and Envoy for the Contour scenario), read
/// through the manifest cache so that the nodes need not pull them mid-run. Scenarios that do not
/// load are skipped here (`validate` reports them); a remote manifest that cannot be fetched only
/// costs its images a preload, with a note.
pub async fn default_images(
    scenarios: &super::ScenarioRoot,
    remote: Option<(&ManifestCache, &impl Fetcher)>,
) -> Vec<String> {
    let mut images: std::collections::BTreeSet<String> =
        DEFAULT_IMAGES.iter().map(|s| s.to_string()).collect();
    match scenarios.load(&[]) {
        Ok(all) => {
            for (_, loaded) in all {
                let Ok(loaded) = loaded else { continue };
                images.extend(loaded.images());
                if loaded.scenario.remote.is_empty() {
                    continue;
                }
                let Some((cache, fetcher)) = remote else {
                    continue;
                };
                match remote_documents(&loaded, cache, fetcher).await {
                    Ok(docs) => images.extend(images_in(&docs)),
                    Err(e) => eprintln!("note: not preloading the images of remote manifests: {e}"),
                }
            }
        }
        Err(e) => eprintln!("note: not preloading scenario images: {e}"),
    }
    images.into_iter().collect()
}

/// Runs `up` with the real process runner, printing one line per phase on standard error.
pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let mut opts = UpOptions::new(args.cni);
    opts.cluster_name = args.name;
    opts.kind_config = args.kind_config;
    opts.ingress_ports = args.ingress_ports;
    opts.adopt = args.adopt;
    opts.check_internet = !args.no_internet;
    // kind itself switches to Podman on this variable (kind@v0.32.0:pkg/internal/runtime/runtime.go).
    opts.podman = std::env::var("KIND_EXPERIMENTAL_PROVIDER").is_ok_and(|p| p == "podman");
    opts.images = if args.no_preload {
        Vec::new()
    } else if args.preload.is_empty() {
        let cache = ManifestCache::default_dir().map(ManifestCache::new);
        let fetcher = HttpsFetcher::new(Duration::from_secs(60)).ok();
        let remote = cache.as_ref().zip(fetcher.as_ref());
        default_images(&args.scenarios, remote).await
    } else {
        args.preload
    };
    opts.ready_timeout = Duration::from_secs(args.ready_timeout);

    let start = Instant::now();
    let mut progress = |phase: &crate::provision::Phase| {
        eprintln!("{}", progress_line(start.elapsed(), phase));
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
    if !report.internet {
        println!(
            "note: pods do not reach the internet{}: steps that need `internet` are not applicable here",
            if args.no_internet {
                " (--no-internet)"
            } else {
                ""
            }
        );
    }
    for caveat in &opts.cni.caveats {
        match caveat.issue_url {
            Some(url) => println!("note: {} ({url})", caveat.summary),
            None => println!("note: {}", caveat.summary),
        }
    }
    let outside = match report.ingress_ports {
        Some((80, _)) | None => String::new(),
        Some((http, _)) => format!(" --outside-address 127.0.0.1:{http}"),
    };
    println!(
        "next: netpol-harness run --all --cni {} --context {}{outside} --report out/{}",
        report.cni, report.context, report.cni
    );
    Ok(ExitCode::SUCCESS)
}

/// One progress line of `up` for the terminal: what a phase carries (image names, notes quoting
/// `kind` or `kubectl`) is escaped, so a tool's output cannot drive the terminal or the CI log.
fn progress_line(elapsed: Duration, phase: &crate::provision::Phase) -> String {
    format!(
        "[{:>4}s] {}",
        elapsed.as_secs(),
        crate::escape::terminal(&phase.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_escape_what_tools_print() {
        let note = crate::provision::Phase::Note("kind v0.32.0\x1b[2J\n::error::x".to_string());
        let line = progress_line(Duration::from_secs(3), &note);
        assert!(line.starts_with("[   3s] note: kind v0.32.0"), "{line}");
        assert!(!line.contains('\x1b') && !line.contains('\n'), "{line}");
    }

    #[test]
    fn ingress_ports_parse_as_two_different_ports() {
        assert_eq!(parse_ports("8080,8443").unwrap(), (8080, 8443));
        for bad in ["8080", "80,80", "0,443", "80,x", "70000,443"] {
            let err = parse_ports(bad).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("HTTP,HTTPS"), "{err}");
        }
    }

    /// Serves nothing: every manifest must come from the cache.
    struct Offline;

    impl Fetcher for Offline {
        async fn fetch(&self, url: &str) -> Result<Vec<u8>, crate::cluster::remote::FetchError> {
            Err(crate::cluster::remote::FetchError::Transport(format!(
                "{url}: offline"
            )))
        }
    }

    #[tokio::test]
    async fn default_preload_is_the_probe_image_and_every_scenario_image() {
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = ManifestCache::new(cache_dir.path());
        let root = super::super::ScenarioRoot { dir: None };
        let images = default_images(&root, Some((&cache, &Offline))).await;
        for want in [
            DEFAULT_IMAGES[0],
            "docker.io/library/nginx:1.27",
            "registry.k8s.io/e2e-test-images/busybox:1.36.1-1",
        ] {
            assert!(
                images.iter().any(|i| i == want),
                "{want} missing from {images:?}"
            );
        }
        let none = default_images(
            &super::super::ScenarioRoot {
                dir: Some("/nonexistent-scenarios".into()),
            },
            Some((&cache, &Offline)),
        )
        .await;
        assert_eq!(none, [DEFAULT_IMAGES[0]]);
    }

    #[tokio::test]
    async fn the_images_of_pinned_remote_manifests_are_preloaded_too() {
        let dir = tempfile::tempdir().unwrap();
        let remote = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: envoy, namespace: projectcontour}\n\
                      spec:\n  selector: {matchLabels: {app: envoy}}\n  template:\n    metadata: {labels: {app: envoy}}\n    \
                      spec:\n      initContainers: [{name: init, image: ghcr.io/projectcontour/contour:v1.33.6}]\n      \
                      containers: [{name: envoy, image: docker.io/envoyproxy/envoy:distroless-v1.38.3}]\n";
        let pin = crate::cluster::remote::sha256_hex(remote.as_bytes());
        std::fs::write(dir.path().join(format!("{pin}.yaml")), remote).unwrap();
        let cache = ManifestCache::new(dir.path());
        let scenarios = dir.path().join("scenarios/remote");
        std::fs::create_dir_all(&scenarios).unwrap();
        std::fs::write(
            scenarios.join("scenario.yaml"),
            format!(
                "name: remote\ntitle: t\nsource: {{title: t, url: \"https://example.com\"}}\n\
                 remote:\n- {{url: \"https://example.com/contour.yaml\", sha256: {pin}}}\n\
                 steps:\n- name: s\n"
            ),
        )
        .unwrap();
        let root = super::super::ScenarioRoot {
            dir: Some(dir.path().join("scenarios")),
        };
        let images = default_images(&root, Some((&cache, &Offline))).await;
        assert_eq!(
            images,
            [
                "docker.io/envoyproxy/envoy:distroless-v1.38.3",
                "ghcr.io/projectcontour/contour:v1.33.6",
                DEFAULT_IMAGES[0],
            ]
        );
        // Not in the cache and not fetchable: a note, and the other images still.
        std::fs::remove_file(dir.path().join(format!("{pin}.yaml"))).unwrap();
        let images = default_images(&root, Some((&cache, &Offline))).await;
        assert_eq!(images, [DEFAULT_IMAGES[0]]);
    }
}
