//! The kind config a cluster is created from: the file given, or the CNI profile's built-in one.

use std::path::{Path, PathBuf};

use super::UpOptions;
use crate::provision::ProvisionError;
use crate::provision::kind_config::with_ingress_ports;

/// The kind config to use: the file given, or the profile's built-in one (written to the scratch
/// directory only if a cluster gets created).
pub(super) async fn kind_config(opts: &UpOptions) -> Result<(PathBuf, String), ProvisionError> {
    match &opts.kind_config {
        Some(path) => {
            let text =
                tokio::fs::read_to_string(path)
                    .await
                    .map_err(|source| ProvisionError::Io {
                        path: path.clone(),
                        source,
                    })?;
            Ok((path.clone(), text))
        }
        None => Ok((
            builtin_config_path(&opts.scratch_dir, &opts.cluster_name, opts.cni.name),
            match opts.ingress_ports {
                Some(ports) => with_ingress_ports(opts.cni.kind_config, ports),
                None => opts.cni.kind_config.to_string(),
            },
        )),
    }
}

/// Writes `text` to `path` inside the scratch directory `dir`, creating the directory.
pub(super) async fn write_scratch(
    dir: &Path,
    path: &Path,
    text: &str,
) -> Result<(), ProvisionError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ProvisionError::Io { path, source }
    };
    tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    tokio::fs::write(path, text).await.map_err(io(path))
}

/// Where `up` writes the built-in kind config of `cni` for cluster `cluster`.
pub fn builtin_config_path(scratch_dir: &Path, cluster: &str, cni: &str) -> PathBuf {
    scratch_dir.join(format!("netpol-harness-{cluster}-kind-{cni}.yaml"))
}
