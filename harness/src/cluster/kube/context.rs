//! Which kubeconfig context to use, and connecting with it.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

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

impl KubeCluster {
    /// Connects with the kubeconfig (`KUBECONFIG` or `~/.kube/config`), after the context
    /// check.
    pub async fn connect(options: &ConnectOptions) -> Result<KubeCluster, ClusterError> {
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
        let client = Client::try_from(config)
            .map_err(|e| api_error("build a client from the kubeconfig", e))?;
        Ok(KubeCluster::with_client(client, context, &options.run_id))
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
