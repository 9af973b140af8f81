//! `analyze --context CTX`: a live cluster read into the same documents a file gives, with list
//! calls only (never a write, and no kind guard: nothing is changed).
//!
//! What is listed: Namespaces, Pods (their real addresses, node, host-network flag and container
//! ports), Nodes (labels and addresses, which ClusterNetworkPolicy `nodes` peers match),
//! ServiceAccounts (Calico's `serviceAccountSelector` reads their labels), Services, every policy
//! kind the oracle evaluates, and other vendors' policy kinds, which [`super::Analysis::for_user`]
//! then refuses or leaves out exactly as it does for files. A kind the server does not serve
//! (404) is skipped and noted. Lists are paginated ([`PAGE`] objects a request) and bounded
//! ([`MAX_OBJECTS`] objects, [`MAX_PAGES`] requests).
//!
//! Every object is cut down to the fields the model and the policy decoders read, and goes
//! through [`Document::from_value`]: a name the API server would never have accepted (a hostile or
//! broken server) is refused like a bad name in a file.

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use serde_json::{Map, Value};

use crate::cluster::kube::is_transient;
use crate::manifest::{Document, ManifestError, Source};

/// Objects asked for in one list request (`limit`).
pub const PAGE: u32 = 500;
/// The most objects one read accepts in total (the document budget of a file load).
pub const MAX_OBJECTS: usize = crate::manifest::RUN_MAX_DOCUMENTS;
/// The most list requests one read makes (a server that keeps answering with a `continue`
/// token and few objects cannot keep it reading forever).
pub const MAX_PAGES: usize = 1_000;

/// One kind to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedKind {
    /// `group/version`, or `v1` for the core group.
    pub api_version: &'static str,
    /// The kind.
    pub kind: &'static str,
    /// The resource name in URLs.
    pub plural: &'static str,
}

impl ListedKind {
    const fn new(api_version: &'static str, kind: &'static str, plural: &'static str) -> Self {
        ListedKind {
            api_version,
            kind,
            plural,
        }
    }

    /// `apiVersion Kind`.
    pub fn label(&self) -> String {
        format!("{} {}", self.api_version, self.kind)
    }

    fn resource(&self) -> ApiResource {
        let (group, version) = self.api_version.split_once('/').unwrap_or(("", "v1"));
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, self.kind),
            self.plural,
        )
    }
}

/// What `analyze --context` lists, in this order (namespaces and nodes before the pods that
/// refer to them). Resource names: the core kinds' from the Kubernetes API
/// (kubernetes/kubernetes@v1.33.0:pkg/registry/core/rest/storage_core.go); Calico's API server
/// kinds (projectcalico/calico@v3.32.1:api/pkg/apis/projectcalico/v3/register.go); the
/// AdminNetworkPolicy API's CRDs (kubernetes-sigs/network-policy-api@v0.1.7:config/crd/standard/,
/// and @v0.2.0:config/crd/standard/policy.networking.k8s.io_clusternetworkpolicies.yaml for
/// v1alpha2); Cilium's (cilium/cilium@v1.20.0:pkg/k8s/apis/cilium.io/client/crds/v2/) and
/// Antrea's (antrea-io/antrea@v2.7.0:build/charts/antrea/crds/networkpolicy.yaml,
/// clusternetworkpolicy.yaml).
pub const KINDS: &[ListedKind] = &[
    ListedKind::new("v1", "Namespace", "namespaces"),
    ListedKind::new("v1", "Node", "nodes"),
    ListedKind::new("v1", "ServiceAccount", "serviceaccounts"),
    ListedKind::new("v1", "Pod", "pods"),
    ListedKind::new("v1", "Service", "services"),
    ListedKind::new("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    ListedKind::new("projectcalico.org/v3", "Tier", "tiers"),
    ListedKind::new("projectcalico.org/v3", "NetworkPolicy", "networkpolicies"),
    ListedKind::new(
        "projectcalico.org/v3",
        "GlobalNetworkPolicy",
        "globalnetworkpolicies",
    ),
    ListedKind::new(
        "policy.networking.k8s.io/v1alpha1",
        "AdminNetworkPolicy",
        "adminnetworkpolicies",
    ),
    ListedKind::new(
        "policy.networking.k8s.io/v1alpha1",
        "BaselineAdminNetworkPolicy",
        "baselineadminnetworkpolicies",
    ),
    ListedKind::new(
        "policy.networking.k8s.io/v1alpha2",
        "ClusterNetworkPolicy",
        "clusternetworkpolicies",
    ),
    ListedKind::new(
        "cilium.io/v2",
        "CiliumNetworkPolicy",
        "ciliumnetworkpolicies",
    ),
    ListedKind::new(
        "cilium.io/v2",
        "CiliumClusterwideNetworkPolicy",
        "ciliumclusterwidenetworkpolicies",
    ),
    ListedKind::new("crd.antrea.io/v1beta1", "NetworkPolicy", "networkpolicies"),
    ListedKind::new(
        "crd.antrea.io/v1beta1",
        "ClusterNetworkPolicy",
        "clusternetworkpolicies",
    ),
];

/// Why a cluster cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// No kubeconfig could be read, or the context could not be loaded from it.
    #[error("cannot read kubeconfig: {0}")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
    /// The context is not in the kubeconfig.
    #[error("context `{context}` is not in the kubeconfig (contexts: {available})")]
    UnknownContext {
        /// The context asked for.
        context: String,
        /// The contexts the kubeconfig has.
        available: String,
    },
    /// No client could be built from the context.
    #[error("context {context}: cannot build a client: {source}")]
    Client {
        /// The context.
        context: String,
        /// Why.
        source: kube::Error,
    },
    /// A list request failed (after retrying throttling, server errors and transport errors).
    #[error("context {context}: cannot list {kind}: {source}")]
    List {
        /// The context.
        context: String,
        /// `apiVersion Kind`.
        kind: String,
        /// What the API answered.
        source: kube::Error,
    },
    /// The cluster holds more objects than one read accepts.
    #[error(
        "context {context}: more than {MAX_OBJECTS} objects (at {kind}); analyze reads at most {MAX_OBJECTS}"
    )]
    TooMany {
        /// The context.
        context: String,
        /// `apiVersion Kind` being listed.
        kind: String,
    },
    /// The server kept answering with `continue` tokens.
    #[error(
        "context {context}: more than {MAX_PAGES} list requests (at {kind}); the server keeps answering with a continue token"
    )]
    TooManyPages {
        /// The context.
        context: String,
        /// `apiVersion Kind` being listed.
        kind: String,
    },
    /// An object cannot be encoded back to JSON.
    #[error("context {context}: {kind}: {source}")]
    Encode {
        /// The context.
        context: String,
        /// `apiVersion Kind`.
        kind: String,
        /// Why.
        source: serde_json::Error,
    },
    /// Calico policies are stored on the cluster but its API server, through which the oracle
    /// reads them (`projectcalico.org/v3`), is not installed: without them the answer would be
    /// wrong.
    #[error(
        "context {context}: the cluster holds Calico policies ({kind}) but does not serve projectcalico.org/v3 (the Calico API server is not installed); analyze reads Calico policies only through it, and without them its answer would be wrong"
    )]
    CalicoWithoutApiServer {
        /// The context.
        context: String,
        /// `apiVersion Kind` found in Calico's storage form.
        kind: String,
    },
    /// An object the harness refuses (a name Kubernetes would not accept, a missing field).
    #[error(transparent)]
    Object(#[from] ManifestError),
}

/// Where listing stands, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    /// The kind being listed.
    pub kind: &'a ListedKind,
    /// Objects read so far, all kinds together.
    pub objects: usize,
}

/// What a read found.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The objects, as documents (in [`KINDS`] order).
    pub documents: Vec<Document>,
    /// Kinds the server does not serve (404), as `apiVersion Kind`.
    pub not_served: Vec<String>,
    /// Pods left out because they have finished (phase Succeeded or Failed: no address, no
    /// traffic).
    pub finished_pods: usize,
    /// Kinds of [`UNEVALUATED`] the cluster holds objects of, as `apiVersion Kind`: the answer
    /// ignores them, and says so.
    pub unevaluated: Vec<String>,
}

impl Snapshot {
    /// One line on what the snapshot skipped, if anything.
    pub fn note(&self, context: &str) -> Option<String> {
        let mut parts = Vec::new();
        if !self.not_served.is_empty() {
            parts.push(format!(
                "not served by the cluster, skipped: {}",
                self.not_served.join(", ")
            ));
        }
        if !self.unevaluated.is_empty() {
            parts.push(format!(
                "present on the cluster and not evaluated (the answer ignores them): {}",
                self.unevaluated.join(", ")
            ));
        }
        if self.finished_pods > 0 {
            parts.push(format!(
                "{} finished pod(s) (Succeeded or Failed) left out",
                self.finished_pods
            ));
        }
        (!parts.is_empty()).then(|| format!("context {context}: {}", parts.join("; ")))
    }
}

/// A client for `context` of the kubeconfig (`KUBECONFIG` or `~/.kube/config`). No kind guard:
/// `analyze` only lists.
pub async fn connect(context: &str) -> Result<Client, LiveError> {
    let kubeconfig = Kubeconfig::read().map_err(LiveError::Kubeconfig)?;
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        return Err(LiveError::UnknownContext {
            context: context.to_string(),
            available: kubeconfig
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let mut config = Config::from_custom_kubeconfig(
        kubeconfig,
        &KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        },
    )
    .await
    .map_err(LiveError::Kubeconfig)?;
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    Client::try_from(config).map_err(|source| LiveError::Client {
        context: context.to_string(),
        source,
    })
}

/// Lists every kind of [`KINDS`] through `client` (GET requests only), calling `progress` after
/// each page.
pub async fn read(
    client: &Client,
    context: &str,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Snapshot, LiveError> {
    let mut snapshot = Snapshot::default();
    let mut objects = 0;
    let mut pages = 0;
    for kind in KINDS {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &kind.resource());
        let mut token: Option<String> = None;
        let mut index = 0;
        loop {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(LiveError::TooManyPages {
                    context: context.to_string(),
                    kind: kind.label(),
                });
            }
            let mut params = ListParams::default().limit(PAGE);
            if let Some(t) = &token {
                params = params.continue_token(t);
            }
            let list = match list_page(&api, &params).await {
                Ok(list) => list,
                Err(kube::Error::Api(s)) if s.code == 404 && token.is_none() => {
                    snapshot.not_served.push(kind.label());
                    break;
                }
                Err(source) => {
                    return Err(LiveError::List {
                        context: context.to_string(),
                        kind: kind.label(),
                        source,
                    });
                }
            };
            objects += list.items.len();
            if objects > MAX_OBJECTS {
                return Err(LiveError::TooMany {
                    context: context.to_string(),
                    kind: kind.label(),
                });
            }
            for item in list.items {
                index += 1;
                let value = serde_json::to_value(&item).map_err(|source| LiveError::Encode {
                    context: context.to_string(),
                    kind: kind.label(),
                    source,
                })?;
                if kind.kind == "Pod" && finished(&value) {
                    snapshot.finished_pods += 1;
                    continue;
                }
                let source = Source {
                    file: PathBuf::from(format!(
                        "context {}, {} {}",
                        short(context),
                        kind.label(),
                        short(&object_name(&value))
                    )),
                    document: index,
                    line: 0,
                };
                snapshot
                    .documents
                    .push(Document::from_value(source, trimmed(kind, value))?);
            }
            progress(Progress { kind, objects });
            match list.metadata.continue_ {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
    }
    if snapshot
        .not_served
        .iter()
        .any(|k| k.starts_with("projectcalico.org/"))
    {
        refuse_unread_calico(client, context).await?;
    }
    snapshot.unevaluated = present(client, context, UNEVALUATED).await?;
    Ok(snapshot)
}

/// Kinds that can change what a cluster's policies do but that the oracle does not evaluate:
/// Calico's network sets (addresses a selector can pick), host endpoints, staged policies (not
/// enforced, yet a reader may expect them), and networking.k8s.io Ingresses (routes through an
/// ingress controller). Resource names:
/// projectcalico/calico@v3.32.1:api/config/crd/projectcalico.org_{globalnetworksets,networksets,hostendpoints,stagednetworkpolicies,stagedglobalnetworkpolicies,stagedkubernetesnetworkpolicies}.yaml
/// (`plural`), and the Kubernetes API's `ingresses`.
pub const UNEVALUATED: &[ListedKind] = &[
    ListedKind::new(
        "projectcalico.org/v3",
        "GlobalNetworkSet",
        "globalnetworksets",
    ),
    ListedKind::new("projectcalico.org/v3", "NetworkSet", "networksets"),
    ListedKind::new("projectcalico.org/v3", "HostEndpoint", "hostendpoints"),
    ListedKind::new(
        "projectcalico.org/v3",
        "StagedNetworkPolicy",
        "stagednetworkpolicies",
    ),
    ListedKind::new(
        "projectcalico.org/v3",
        "StagedGlobalNetworkPolicy",
        "stagedglobalnetworkpolicies",
    ),
    ListedKind::new(
        "projectcalico.org/v3",
        "StagedKubernetesNetworkPolicy",
        "stagedkubernetesnetworkpolicies",
    ),
    ListedKind::new("networking.k8s.io/v1", "Ingress", "ingresses"),
];

/// The kinds of `kinds` the cluster holds at least one object of (one object asked for per
/// kind; a kind not served holds none).
async fn present(
    client: &Client,
    context: &str,
    kinds: &[ListedKind],
) -> Result<Vec<String>, LiveError> {
    let mut found = Vec::new();
    for kind in kinds {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &kind.resource());
        match list_page(&api, &ListParams::default().limit(1)).await {
            Ok(list) if !list.items.is_empty() => found.push(kind.label()),
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(source) => {
                return Err(LiveError::List {
                    context: context.to_string(),
                    kind: kind.label(),
                    source,
                });
            }
        }
    }
    Ok(found)
}

/// Calico's storage form of its policies (`crd.projectcalico.org/v1`, which Calico's API server
/// serves as `projectcalico.org/v3`: projectcalico/calico@v3.32.1:libcalico-go/config/crd/).
const CALICO_STORAGE: &[ListedKind] = &[
    ListedKind::new(
        "crd.projectcalico.org/v1",
        "NetworkPolicy",
        "networkpolicies",
    ),
    ListedKind::new(
        "crd.projectcalico.org/v1",
        "GlobalNetworkPolicy",
        "globalnetworkpolicies",
    ),
];

/// When `projectcalico.org/v3` is not served: an error if Calico policies are stored anyway
/// (one object asked for per kind; a kind not served means no Calico there).
async fn refuse_unread_calico(client: &Client, context: &str) -> Result<(), LiveError> {
    match present(client, context, CALICO_STORAGE)
        .await?
        .into_iter()
        .next()
    {
        Some(kind) => Err(LiveError::CalicoWithoutApiServer {
            context: context.to_string(),
            kind,
        }),
        None => Ok(()),
    }
}

/// One list request, retrying only transient failures (throttling, 5xx, transport), as the
/// runner's requests do ([`crate::cluster::kube::is_transient`]).
async fn list_page(
    api: &Api<DynamicObject>,
    params: &ListParams,
) -> Result<kube::core::ObjectList<DynamicObject>, kube::Error> {
    (|| api.list(params))
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(5))
                .with_max_times(6)
                .with_jitter(),
        )
        .sleep(tokio::time::sleep)
        .when(is_transient)
        .await
}

/// Whether a Pod has finished (its address is released and it sends nothing).
fn finished(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

/// `namespace/name` (or `name`) of an object, as far as it has them.
fn object_name(value: &Value) -> String {
    let get = |field: &str| {
        value
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    match get("namespace") {
        "" => get("name").to_string(),
        ns => format!("{ns}/{}", get("name")),
    }
}

/// A name from the server for a [`Source`]: escaped for a terminal and cut to 80 characters
/// (the names themselves are checked later; the source must be printable before that).
fn short(text: &str) -> String {
    let escaped = crate::escape::terminal(text);
    match escaped.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &escaped[..cut]),
        None => escaped.into_owned(),
    }
}

/// The object as a user would write it: `apiVersion` and `kind` (list items may lack them),
/// `metadata.name`, `namespace` and `labels`, and the fields the model or the policy decoders
/// read. Server-set fields (managedFields, uid, status of policies…) are dropped, so that the
/// strict policy decoders judge what the user wrote.
fn trimmed(kind: &ListedKind, value: Value) -> Value {
    let Value::Object(mut object) = value else {
        return value;
    };
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::from(kind.api_version));
    out.insert("kind".into(), Value::from(kind.kind));
    let status = object.remove("status").unwrap_or_default();
    let mut metadata = Map::new();
    if let Some(Value::Object(m)) = object.remove("metadata") {
        for field in ["name", "namespace", "labels"] {
            if let Some(v) = m.get(field) {
                metadata.insert(field.into(), v.clone());
            }
        }
    }
    out.insert("metadata".into(), Value::Object(metadata));
    match (kind.api_version, kind.kind) {
        ("v1", "Namespace" | "ServiceAccount") => {}
        ("v1", "Node") => {
            if let Some(addresses) = status.get("addresses") {
                out.insert(
                    "status".into(),
                    serde_json::json!({ "addresses": addresses }),
                );
            }
        }
        ("v1", "Pod") => {
            let spec = object.remove("spec").unwrap_or_default();
            let mut kept = Map::new();
            for field in ["hostNetwork", "nodeName", "serviceAccountName"] {
                if let Some(v) = spec.get(field) {
                    kept.insert(field.into(), v.clone());
                }
            }
            for list in ["containers", "initContainers"] {
                if let Some(Value::Array(containers)) = spec.get(list) {
                    let cut: Vec<Value> = containers
                        .iter()
                        .map(|c| {
                            let mut k = Map::new();
                            for field in ["name", "ports"] {
                                if let Some(v) = c.get(field) {
                                    k.insert(field.into(), v.clone());
                                }
                            }
                            Value::Object(k)
                        })
                        .collect();
                    kept.insert(list.into(), Value::Array(cut));
                }
            }
            out.insert("spec".into(), Value::Object(kept));
            let mut kept_status = Map::new();
            for field in ["podIP", "podIPs"] {
                if let Some(v) = status.get(field) {
                    kept_status.insert(field.into(), v.clone());
                }
            }
            out.insert("status".into(), Value::Object(kept_status));
        }
        ("v1", "Service") => {
            let spec = object.remove("spec").unwrap_or_default();
            let mut kept = Map::new();
            for field in ["selector", "ports"] {
                if let Some(v) = spec.get(field) {
                    kept.insert(field.into(), v.clone());
                }
            }
            out.insert("spec".into(), Value::Object(kept));
        }
        _ => {
            if let Some(spec) = object.remove("spec") {
                out.insert("spec".into(), spec);
            }
        }
    }
    Value::Object(out)
}

/// A key for "the same object": `group kind namespace/name`, so that a file can stand in for a
/// listed object (as `kubectl apply` would replace it).
pub fn identity(doc: &Document) -> (String, String, String, String) {
    let group = doc
        .api_version()
        .split_once('/')
        .map_or("", |(g, _)| g)
        .to_string();
    (
        group,
        doc.kind().to_string(),
        doc.namespace().unwrap_or_default().to_string(),
        doc.name().to_string(),
    )
}
