//! Which kubeconfig context to use, and connecting with it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use super::KubeCluster;
use super::retry::api_error;
use crate::cluster::ClusterError;

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The kubeconfig context (`None`: the current context).
    pub context: Option<String>,
    /// Allow a context not named `kind-*` (only together with an explicit `context`).
    pub allow_non_kind_context: bool,
    /// The run id, put on everything applied ([`RUN_LABEL`](crate::cluster::RUN_LABEL)).
    pub run_id: String,
}

/// The kubeconfig files kube-rs reads (`Kubeconfig::read`,
/// kube-client-5.0.0:src/config/file_config.rs): every non-empty path of `KUBECONFIG`, else
/// `$HOME/.kube/config` (when it exists).
pub fn kubeconfig_paths(
    kubeconfig: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Vec<std::path::PathBuf> {
    let listed: Vec<_> = kubeconfig
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if !listed.is_empty() {
        return listed;
    }
    home.map(|h| std::path::Path::new(&h).join(".kube/config"))
        .filter(|p| p.exists())
        .into_iter()
        .collect()
}

/// Refuses kubeconfig files that are not regular files or are larger than
/// [`input::KUBECONFIG`](crate::input::KUBECONFIG) allows, before kube-rs reads them whole
/// (`KUBECONFIG=/dev/zero` would otherwise be read until memory runs out).
pub fn check_kubeconfig_files(paths: &[std::path::PathBuf]) -> Result<(), ClusterError> {
    for path in paths {
        match crate::input::check_file(path, None, crate::input::KUBECONFIG) {
            // A file that cannot be opened is kube-rs's to report, as it always has.
            Ok(_) | Err(crate::input::InputError::Io { .. }) => {}
            Err(refused) => return Err(ClusterError::KubeconfigFile(refused)),
        }
    }
    Ok(())
}

/// Refuses contexts that are not kind clusters unless the user named the context and allowed
/// it explicitly: the harness creates and deletes objects, and a wrong current context must
/// never point it at a real cluster.
pub fn check_context(
    context: &str,
    named_by_user: bool,
    allow_non_kind: bool,
) -> Result<(), ClusterError> {
    if context.starts_with("kind-") || (named_by_user && allow_non_kind) {
        Ok(())
    } else {
        Err(ClusterError::NonKindContext {
            context: context.to_string(),
        })
    }
}

/// The context to use: the one named, else the kubeconfig's current one; checked with
/// [`check_context`].
pub fn select_context(
    kubeconfig: &Kubeconfig,
    options: &ConnectOptions,
) -> Result<String, ClusterError> {
    let context = match &options.context {
        Some(c) => c.clone(),
        None => kubeconfig
            .current_context
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or(ClusterError::NoContext)?,
    };
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        return Err(ClusterError::UnknownContext {
            context,
            available: kubeconfig
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    check_context(
        &context,
        options.context.is_some(),
        options.allow_non_kind_context,
    )?;
    Ok(context)
}

/// Whether an API server URL is on this machine (loopback or `localhost`), as a kind cluster's
/// is: kind writes `https://127.0.0.1:PORT` (kubernetes-sigs/kind@v0.32.0:pkg/apis/config/v1alpha4/default.go,
/// `apiServerAddress` 127.0.0.1).
pub fn is_local_server(url: &http::Uri) -> bool {
    url.host().is_some_and(|host| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    })
}

impl KubeCluster {
    /// The data of the marker ConfigMap `netpol-harness up` leaves in kube-system
    /// ([`MARKER`](crate::provision::kind::MARKER): `cni`, `version`, `internet`); `None` if the
    /// cluster has none.
    pub async fn marker(&self) -> Result<Option<BTreeMap<String, String>>, ClusterError> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), "kube-system");
        api.get_opt(crate::provision::kind::MARKER)
            .await
            .map(|found| found.map(|cm| cm.data.unwrap_or_default()))
            .map_err(|e| api_error("read the marker ConfigMap kube-system/netpol-harness", e))
    }

    /// The second half of the context guard: a `kind-*` context must also point at an API
    /// server on this machine, or at a cluster `netpol-harness up` marked. A context's name
    /// proves nothing (kubeconfig contexts can be named anything).
    pub async fn check_server(&self, server: &http::Uri) -> Result<(), ClusterError> {
        if is_local_server(server) || self.marker().await?.is_some() {
            Ok(())
        } else {
            Err(ClusterError::NotLocalKind {
                context: self.context.clone(),
                server: server.to_string(),
            })
        }
    }

    /// Connects with the kubeconfig (`KUBECONFIG` or `~/.kube/config`), after the context
    /// check.
    pub async fn connect(options: &ConnectOptions) -> Result<KubeCluster, ClusterError> {
        check_kubeconfig_files(&kubeconfig_paths(
            std::env::var_os("KUBECONFIG"),
            std::env::var_os("HOME"),
        ))?;
        let kubeconfig = Kubeconfig::read().map_err(ClusterError::Kubeconfig)?;
        KubeCluster::from_kubeconfig(kubeconfig, options).await
    }

    /// Connects with a kubeconfig already read, after the context check.
    pub async fn from_kubeconfig(
        kubeconfig: Kubeconfig,
        options: &ConnectOptions,
    ) -> Result<KubeCluster, ClusterError> {
        let context = select_context(&kubeconfig, options)?;
        let config = Config::from_custom_kubeconfig(
            kubeconfig,
            &KubeConfigOptions {
                context: Some(context.clone()),
                ..Default::default()
            },
        )
        .await
        .map_err(ClusterError::Kubeconfig)?;
        let server = config.cluster_url.clone();
        let client = Client::try_from(config)
            .map_err(|e| api_error("build a client from the kubeconfig", e))?;
        let cluster = KubeCluster::with_client(client, context, &options.run_id);
        cluster.check_target(&server, options).await?;
        Ok(cluster)
    }

    /// The whole context guard after the name check: a context not named `kind-*` that the user
    /// named and allowed with `--allow-non-kind-context` is taken as it is; any other (every
    /// `kind-*` context included: the flag is about names, not servers) must pass
    /// [`check_server`](Self::check_server).
    pub async fn check_target(
        &self,
        server: &http::Uri,
        options: &ConnectOptions,
    ) -> Result<(), ClusterError> {
        let named_other = options
            .context
            .as_deref()
            .is_some_and(|c| !c.starts_with("kind-"));
        if named_other && options.allow_non_kind_context {
            Ok(())
        } else {
            self.check_server(server).await
        }
    }

    /// Wraps a client (no context check: the caller made the client).
    pub fn with_client(client: Client, context: impl Into<String>, run_id: &str) -> KubeCluster {
        KubeCluster {
            client,
            context: context.into(),
            run_id: run_id.to_string(),
            kinds: Mutex::new(HashMap::new()),
            owned_namespaces: Mutex::new(HashSet::new()),
        }
    }

    /// The context in use.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// The API server's version (`v1.33.1`), which also proves it answers.
    pub async fn server_version(&self) -> Result<String, ClusterError> {
        self.client
            .apiserver_version()
            .await
            .map(|v| v.git_version)
            .map_err(|e| api_error("ask the API server its version", e))
    }
}
