//! [`ClusterOps`] on a real cluster through kube-rs.
//!
//! - Connects from the kubeconfig with a named context, refusing any context not named `kind-*`
//!   unless the user both names it and passes `--allow-non-kind-context` ([`check_context`]).
//! - Applies with server-side apply through [`DynamicObject`] and discovery (field manager
//!   [`FIELD_MANAGER`], forced), CRDs first and waited for, kinds resolved with `pinned_kind`
//!   (retried while discovery lags behind a CRD just applied); falls back to create/replace
//!   when a server refuses apply patches ([`apply_unsupported`]: 415, and the Calico API
//!   server's NotFound and 500 answers).
//! - Retries (with backon) only transient failures: 429, 5xx and transport errors; never 4xx.
//! - Waits with `await_condition` inside a timeout, and on timeout says why from pod status.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Status as ExecStatus};
use kube::api::{
    Api, AttachParams, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{ApiCapabilities, Scope, pinned_kind};
use kube::runtime::wait::{Condition, await_condition, conditions};
use kube::{Client, Config, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::{
    ClusterError, ClusterOps, ContainerInfo, EndpointRef, ExecOutput, FIELD_MANAGER, LabelChange,
    PROBE_CONTAINER, PodInfo, PodRef, RUN_LABEL, ServiceInfo, ServicePortInfo, diagnose_pod,
    diagnose_pods, inject_ownership, is_owned, prepare_for_apply,
};
use crate::manifest::Document;
use crate::model::{Protocol, WorkloadKind};
use crate::probe::{ProbeSpec, ProbeTool, batch_command};

/// How long to wait for a CRD to be established.
const CRD_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the pods of a declared endpoint are listed while waiting for them.
const DECLARED_POLL: Duration = Duration::from_secs(1);
/// How long to wait for a namespace of a previous run to finish terminating.
const NAMESPACE_GONE_TIMEOUT: Duration = Duration::from_secs(180);

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The kubeconfig context (`None`: the current context).
    pub context: Option<String>,
    /// Allow a context not named `kind-*` (only together with an explicit `context`).
    pub allow_non_kind_context: bool,
    /// The run id, put on everything applied ([`super::RUN_LABEL`]).
    pub run_id: String,
}

/// A real cluster.
pub struct KubeCluster {
    client: Client,
    context: String,
    run_id: String,
    /// Kinds resolved through discovery.
    kinds: Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>,
    /// Namespaces known to carry the ownership label.
    owned_namespaces: Mutex<HashSet<String>>,
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

/// Whether a failure is worth retrying: throttling (429), server errors (5xx) and transport
/// errors. Client errors (4xx) never are: retrying them hides bugs.
pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || (500..=599).contains(&s.code),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// The exit code from an exec's final status, or the reason the command did not run.
pub fn exit_code(status: Option<&ExecStatus>) -> Result<i32, String> {
    let Some(s) = status else {
        return Err("the exec stream ended without an exit status".to_string());
    };
    if s.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    let code = s
        .details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|c| c.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
        .and_then(|c| c.message.as_deref()?.parse().ok());
    code.ok_or_else(|| {
        s.message
            .clone()
            .or_else(|| s.reason.clone())
            .unwrap_or_else(|| "the command failed without an exit code".to_string())
    })
}

/// Backoff for transient failures: 200 ms doubling to 5 s, six retries, with jitter.
fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(6)
        .with_jitter()
}

/// Runs `f`, retrying transient failures only.
async fn retry<T, Fut>(f: impl FnMut() -> Fut) -> Result<T, kube::Error>
where
    Fut: Future<Output = Result<T, kube::Error>>,
{
    f.retry(backoff())
        .sleep(tokio::time::sleep)
        .when(is_transient)
        .notify(|e, d| tracing::debug!(error = %e, "transient API error; retrying in {d:?}"))
        .await
}

/// Whether an apply patch failed because the server cannot do server-side apply for this
/// object, so that create/replace is the way to write it:
/// - 415: the resource does not accept apply patches;
/// - 404 for the object itself (not its namespace): server-side apply creates missing objects,
///   but the Calico API server 3.32.0 answers NotFound when it should create a tiered policy
///   (NetworkPolicy, GlobalNetworkPolicy; projectcalico/calico#12841);
/// - 500 "no serializer defined" (an API server without the apply-patch codec) or "key not
///   found" (an apply reaching a store as an update of a missing object): the Calico API server
///   before it supported server-side apply (projectcalico/calico#4959).
pub fn apply_unsupported(e: &kube::Error) -> bool {
    let kube::Error::Api(s) = e else { return false };
    match s.code {
        415 => true,
        404 => s.details.as_ref().is_none_or(|d| d.kind != "namespaces"),
        500 => s.message.contains("no serializer defined") || s.message.contains("key not found"),
        _ => false,
    }
}

fn api_error(action: impl Into<String>, e: kube::Error) -> ClusterError {
    let (code, message) = match &e {
        kube::Error::Api(s) => (Some(s.code), s.message.clone()),
        other => (None, other.to_string()),
    };
    ClusterError::Api {
        action: action.into(),
        code,
        message,
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

fn gvk_of(doc: &Document) -> GroupVersionKind {
    let (group, version) = doc
        .api_version()
        .split_once('/')
        .unwrap_or(("", doc.api_version()));
    GroupVersionKind::gvk(group, version, doc.kind())
}

fn is_crd(doc: &Document) -> bool {
    doc.kind() == "CustomResourceDefinition"
        && doc.api_version().starts_with("apiextensions.k8s.io/")
}

/// `Kind namespace/name` or `Kind name`.
fn describe(kind: &str, namespace: Option<&str>, name: &str) -> (String, String) {
    let full = match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    };
    (format!("{kind} {full}"), full)
}

impl KubeCluster {
    /// Connects with the kubeconfig (`KUBECONFIG` or `~/.kube/config`), after the context
    /// check.
    pub async fn connect(options: &ConnectOptions) -> Result<KubeCluster, ClusterError> {
        let kubeconfig = Kubeconfig::read().map_err(|e| ClusterError::Kubeconfig(e.to_string()))?;
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
        .map_err(|e| ClusterError::Kubeconfig(e.to_string()))?;
        let client =
            Client::try_from(config).map_err(|e| ClusterError::Kubeconfig(e.to_string()))?;
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

    /// Resolves a document's kind through discovery (cached). `lagging`: the kind's CRD was
    /// just applied, so a missing kind is retried for a while before giving up.
    async fn resolve(
        &self,
        doc: &Document,
        lagging: bool,
    ) -> Result<Option<(ApiResource, ApiCapabilities)>, ClusterError> {
        let gvk = gvk_of(doc);
        if let Some(found) = self.kinds.lock().expect("lock").get(&gvk) {
            return Ok(Some(found.clone()));
        }
        let missing = |e: &kube::Error| is_not_found(e) || matches!(e, kube::Error::Discovery(_));
        let lookup = || pinned_kind(&self.client, &gvk);
        let result = if lagging {
            lookup
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(Duration::from_millis(250))
                        .with_max_delay(Duration::from_secs(2))
                        .with_max_times(10),
                )
                .sleep(tokio::time::sleep)
                .when(|e| is_transient(e) || missing(e))
                .await
        } else {
            retry(lookup).await
        };
        match result {
            Ok(found) => {
                self.kinds.lock().expect("lock").insert(gvk, found.clone());
                Ok(Some(found))
            }
            Err(e) if missing(&e) => Ok(None),
            Err(e) => Err(api_error(
                format!("discover {} {}", doc.api_version(), doc.kind()),
                e,
            )),
        }
    }

    fn dynamic_api(
        &self,
        ar: &ApiResource,
        caps: &ApiCapabilities,
        namespace: Option<&str>,
    ) -> Api<DynamicObject> {
        match (&caps.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, ar),
            _ => Api::all_with(self.client.clone(), ar),
        }
    }

    /// Whether a namespace carries the ownership label (cached once seen).
    async fn namespace_owned(&self, name: &str) -> Result<bool, ClusterError> {
        if self.owned_namespaces.lock().expect("lock").contains(name) {
            return Ok(true);
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns = retry(|| api.get_opt(name))
            .await
            .map_err(|e| api_error(format!("read Namespace {name}"), e))?;
        let owned = ns.is_some_and(|ns| is_owned(ns.metadata.labels.as_ref()));
        if owned {
            self.owned_namespaces
                .lock()
                .expect("lock")
                .insert(name.to_string());
        }
        Ok(owned)
    }

    async fn apply_one(&self, doc: &Document, lagging: bool) -> Result<(), ClusterError> {
        let name = doc.name();
        if name.is_empty() {
            return Err(ClusterError::InvalidDocument {
                at: doc.source.to_string(),
                message: "metadata.name is missing (generateName is not supported)".into(),
            });
        }
        let Some((ar, caps)) = self.resolve(doc, lagging).await? else {
            return Err(ClusterError::UnknownKind {
                at: doc.source.to_string(),
                api_version: doc.api_version().to_string(),
                kind: doc.kind().to_string(),
            });
        };
        let namespace = (caps.scope == Scope::Namespaced)
            .then(|| doc.namespace().unwrap_or("default").to_string());
        let (what, full_name) = describe(doc.kind(), namespace.as_deref(), name);
        let mut value = prepare_for_apply(&doc.value, &self.run_id);
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            match &namespace {
                Some(ns) => meta.insert("namespace".into(), Value::String(ns.clone())),
                // A namespace on a cluster-scoped object is an error to the API server.
                None => meta.remove("namespace"),
            };
        }
        let api = self.dynamic_api(&ar, &caps, namespace.as_deref());
        let in_owned_namespace = match &namespace {
            Some(ns) => self.namespace_owned(ns).await?,
            None => false,
        };
        if !in_owned_namespace {
            let existing = retry(|| api.get_opt(name))
                .await
                .map_err(|e| api_error(format!("read {what}"), e))?;
            if let Some(existing) = existing
                && !is_owned(existing.metadata.labels.as_ref())
            {
                if is_crd(doc) {
                    tracing::info!(
                        "{what} is already installed (not by the harness); leaving it as it is"
                    );
                    return Ok(());
                }
                return Err(ClusterError::UnownedObject {
                    kind: doc.kind().to_string(),
                    name: full_name,
                });
            }
        }
        let object: DynamicObject =
            serde_json::from_value(value).map_err(|e| ClusterError::InvalidDocument {
                at: doc.source.to_string(),
                message: e.to_string(),
            })?;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&object);
        // An apply the server cannot do is not retried, even as a 500: create/replace is.
        let applied = (|| api.patch(name, &params, &patch))
            .retry(backoff())
            .sleep(tokio::time::sleep)
            .when(|e| is_transient(e) && !apply_unsupported(e))
            .notify(|e, d| tracing::debug!(error = %e, "transient API error; retrying in {d:?}"))
            .await;
        match applied {
            Ok(_) => {}
            Err(e) if apply_unsupported(&e) => {
                tracing::info!(
                    "{what}: the server refuses server-side apply ({e}); using create/replace"
                );
                self.create_or_replace(&api, name, object)
                    .await
                    .map_err(|e| api_error(format!("create/replace {what}"), e))?;
            }
            Err(e) => return Err(api_error(format!("apply {what}"), e)),
        }
        if doc.api_version() == "v1" && doc.kind() == "Namespace" {
            self.owned_namespaces
                .lock()
                .expect("lock")
                .insert(name.to_string());
        }
        Ok(())
    }

    async fn create_or_replace(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        mut object: DynamicObject,
    ) -> Result<(), kube::Error> {
        let params = PostParams {
            dry_run: false,
            field_manager: Some(FIELD_MANAGER.to_string()),
        };
        match retry(|| api.get_opt(name)).await? {
            None => retry(|| api.create(&params, &object)).await.map(|_| ()),
            Some(existing) => {
                object.metadata.resource_version = existing.metadata.resource_version;
                retry(|| api.replace(name, &params, &object))
                    .await
                    .map(|_| ())
            }
        }
    }

    async fn wait_crd_established(&self, name: &str) -> Result<(), ClusterError> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let waited = tokio::time::timeout(
            CRD_TIMEOUT,
            await_condition(api.clone(), name, conditions::is_crd_established()),
        )
        .await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ClusterError::Api {
                action: format!("watch CustomResourceDefinition {name}"),
                code: None,
                message: e.to_string(),
            }),
            Err(_) => {
                let reasons = match api.get_opt(name).await {
                    Ok(Some(crd)) => crd
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|c| c.status != "True")
                        .map(|c| format!("{}: {}", c.type_, c.message.unwrap_or_default()))
                        .collect(),
                    _ => vec!["it no longer exists".to_string()],
                };
                Err(ClusterError::NotReady {
                    what: format!("CustomResourceDefinition {name}"),
                    waited: CRD_TIMEOUT,
                    reasons,
                })
            }
        }
    }

    /// The label selector of a workload's pods.
    async fn workload_selector<K>(
        &self,
        endpoint: &EndpointRef,
        selector: impl Fn(K) -> Option<LabelSelector>,
    ) -> Result<String, ClusterError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + DeserializeOwned,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &endpoint.namespace);
        let workload = retry(|| api.get_opt(&endpoint.name))
            .await
            .map_err(|e| api_error(format!("read {endpoint}"), e))?
            .ok_or_else(|| ClusterError::NotFound {
                what: endpoint.to_string(),
            })?;
        let label_selector = selector(workload).unwrap_or_default();
        let parsed = kube::core::Selector::try_from(label_selector)
            .map_err(|e| ClusterError::Unsupported(format!("{endpoint}: selector: {e}")))?;
        Ok(parsed.to_string())
    }

    /// The pods of an endpoint that are not being deleted, sorted by name.
    async fn pods_of(&self, endpoint: &EndpointRef) -> Result<Vec<Pod>, ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &endpoint.namespace);
        let selector = match endpoint.kind {
            WorkloadKind::Pod => {
                let pod = retry(|| api.get_opt(&endpoint.name))
                    .await
                    .map_err(|e| api_error(format!("read {endpoint}"), e))?;
                return Ok(pod
                    .into_iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .collect());
            }
            WorkloadKind::Deployment => {
                self.workload_selector(endpoint, |d: Deployment| d.spec.map(|s| s.selector))
                    .await?
            }
            WorkloadKind::ReplicaSet => {
                self.workload_selector(endpoint, |r: ReplicaSet| r.spec.map(|s| s.selector))
                    .await?
            }
            WorkloadKind::StatefulSet => {
                self.workload_selector(endpoint, |s: StatefulSet| s.spec.map(|s| s.selector))
                    .await?
            }
            WorkloadKind::DaemonSet => {
                self.workload_selector(endpoint, |d: DaemonSet| d.spec.map(|s| s.selector))
                    .await?
            }
            WorkloadKind::Job => {
                self.workload_selector(endpoint, |j: Job| j.spec.and_then(|s| s.selector))
                    .await?
            }
            WorkloadKind::CronJob | WorkloadKind::Declared => endpoint
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        };
        let params = ListParams::default().labels(&selector);
        let list = retry(|| api.list(&params))
            .await
            .map_err(|e| api_error(format!("list the pods of {endpoint}"), e))?;
        let mut pods: Vec<Pod> = list
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Ok(pods)
    }

    /// Waits until a declared endpoint (found by its labels) has pods, all of them Ready;
    /// `Ok(false)` when the time ran out.
    async fn wait_declared(
        &self,
        endpoint: &EndpointRef,
        timeout: Duration,
    ) -> Result<bool, ClusterError> {
        if endpoint.labels.is_empty() {
            return Err(ClusterError::Unsupported(format!(
                "cannot wait for {endpoint}: it declares no labels to find its pods by"
            )));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let pods = self.pods_of(endpoint).await?;
            if !pods.is_empty() && pods.iter().all(|p| pod_ready(Some(p))) {
                return Ok(true);
            }
            if tokio::time::Instant::now() + DECLARED_POLL > deadline {
                return Ok(false);
            }
            tokio::time::sleep(DECLARED_POLL).await;
        }
    }

    /// Waits until `ns` (being deleted) is gone; `what` names it in the error.
    async fn wait_namespace_gone(
        &self,
        api: &Api<Namespace>,
        ns: &Namespace,
        what: &str,
    ) -> Result<(), ClusterError> {
        let name = ns.name_any();
        let uid = ns.uid().unwrap_or_default();
        let gone = self
            .wait_for(
                api.clone(),
                &name,
                conditions::is_deleted(&uid),
                NAMESPACE_GONE_TIMEOUT,
            )
            .await?;
        if gone {
            return Ok(());
        }
        Err(ClusterError::NotReady {
            what: format!("deletion of {what} {name}"),
            waited: NAMESPACE_GONE_TIMEOUT,
            reasons: vec!["it is still terminating (a finalizer may be stuck)".to_string()],
        })
    }

    /// Waits for `cond` on one object, within `timeout`; `Ok(false)` when the time ran out.
    async fn wait_for<K>(
        &self,
        api: Api<K>,
        name: &str,
        cond: impl Condition<K>,
        timeout: Duration,
    ) -> Result<bool, ClusterError>
    where
        K: Clone + Debug + Send + DeserializeOwned + Resource + 'static,
    {
        match tokio::time::timeout(timeout, await_condition(api, name, cond)).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(e)) => Err(ClusterError::Api {
                action: format!("watch {name}"),
                code: None,
                message: e.to_string(),
            }),
            Err(_) => Ok(false),
        }
    }
}

/// A pod is Ready (condition `Ready=True`, not being deleted).
pub fn pod_ready(pod: Option<&Pod>) -> bool {
    pod.is_some_and(|p| {
        p.metadata.deletion_timestamp.is_none()
            && p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    })
}

/// A Deployment has rolled out: the controller saw the latest spec, and every wanted replica is
/// updated, Ready and available, with no old ones left.
pub fn deployment_rolled_out(d: Option<&Deployment>) -> bool {
    let Some(d) = d else { return false };
    let Some(s) = &d.status else { return false };
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    s.observed_generation >= d.metadata.generation
        && s.updated_replicas.unwrap_or(0) == want
        && s.ready_replicas.unwrap_or(0) == want
        && s.available_replicas.unwrap_or(0) == want
        && s.replicas.unwrap_or(0) == want
}

/// A StatefulSet has rolled out: every wanted replica is updated and Ready.
pub fn statefulset_rolled_out(s: Option<&StatefulSet>) -> bool {
    let Some(set) = s else { return false };
    let Some(st) = &set.status else { return false };
    let want = set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    st.observed_generation >= set.metadata.generation
        && st.ready_replicas.unwrap_or(0) == want
        && st.updated_replicas.unwrap_or(0) == want
        && st.replicas == want
}

/// A DaemonSet has rolled out: every scheduled pod is updated and Ready.
pub fn daemonset_rolled_out(d: Option<&DaemonSet>) -> bool {
    let Some(d) = d else { return false };
    let Some(s) = &d.status else { return false };
    s.observed_generation >= d.metadata.generation
        && s.number_ready == s.desired_number_scheduled
        && s.updated_number_scheduled.unwrap_or(0) == s.desired_number_scheduled
}

/// A ReplicaSet has every wanted replica Ready.
pub fn replicaset_ready(r: Option<&ReplicaSet>) -> bool {
    let Some(r) = r else { return false };
    let Some(s) = &r.status else { return false };
    let want = r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    s.observed_generation >= r.metadata.generation
        && s.ready_replicas.unwrap_or(0) == want
        && s.replicas == want
}

/// A Job has a Ready pod.
pub fn job_has_ready_pod(j: Option<&Job>) -> bool {
    j.and_then(|j| j.status.as_ref())
        .and_then(|s| s.ready)
        .is_some_and(|r| r > 0)
}

/// The ephemeral container `name` of a pod is running.
fn ephemeral_running(name: &str) -> impl Condition<Pod> + '_ {
    move |pod: Option<&Pod>| {
        pod.and_then(|p| p.status.as_ref())
            .and_then(|s| s.ephemeral_container_statuses.as_ref())
            .and_then(|s| s.iter().find(|c| c.name == name))
            .and_then(|c| c.state.as_ref())
            .is_some_and(|s| s.running.is_some())
    }
}

/// The strategic merge patch adding the probe container: the probe image kept alive doing
/// nothing, so that probes run in it by exec.
pub fn probe_container_patch(image: &str) -> Value {
    let command = if image.contains("agnhost") {
        json!(["/agnhost", "pause"])
    } else {
        json!(["sleep", "2147483647"])
    };
    json!({"spec": {"ephemeralContainers": [{
        "name": PROBE_CONTAINER,
        "image": image,
        "command": command,
        "stdin": false,
        "tty": false,
    }]}})
}

fn pod_info(pod: &Pod) -> PodInfo {
    let status = pod.status.as_ref();
    let mut ips: Vec<std::net::IpAddr> = status
        .and_then(|s| s.pod_ips.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|ip| ip.ip.parse().ok())
        .collect();
    if ips.is_empty()
        && let Some(ip) = status
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse().ok())
    {
        ips.push(ip);
    }
    PodInfo {
        pod: PodRef {
            namespace: pod.namespace().unwrap_or_default(),
            name: pod.name_any(),
        },
        ips,
        containers: pod
            .spec
            .iter()
            .flat_map(|s| &s.containers)
            .map(|c| ContainerInfo {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
            })
            .collect(),
        annotations: pod.annotations().clone(),
        running_ephemeral: status
            .and_then(|s| s.ephemeral_container_statuses.as_ref())
            .into_iter()
            .flatten()
            .filter(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
            .map(|c| c.name.clone())
            .collect(),
    }
}

impl ClusterOps for KubeCluster {
    async fn create_namespace(&self, name: &str) -> Result<(), ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let existing = retry(|| api.get_opt(name))
            .await
            .map_err(|e| api_error(format!("read Namespace {name}"), e))?;
        if let Some(ns) = existing {
            if ns.metadata.deletion_timestamp.is_some() {
                // A previous run's namespace still terminating: wait for it to be gone.
                self.wait_namespace_gone(&api, &ns, "namespace").await?;
            } else if !is_owned(ns.metadata.labels.as_ref()) {
                return Err(ClusterError::UnownedNamespace {
                    namespace: name.to_string(),
                });
            } else if ns.labels().get(RUN_LABEL) != Some(&self.run_id) {
                // Left by an interrupted run: whatever it holds (policies!) would change what
                // this run observes, so it is deleted and created afresh.
                tracing::info!("deleting namespace {name}, left over by an earlier run");
                let params = DeleteParams::background();
                match retry(|| api.delete(name, &params)).await {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => {
                        return Err(api_error(format!("delete leftover Namespace {name}"), e));
                    }
                }
                self.wait_namespace_gone(&api, &ns, "leftover namespace")
                    .await?;
            }
        }
        let mut value =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        inject_ownership(&mut value, &self.run_id);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&value);
        retry(|| api.patch(name, &params, &patch))
            .await
            .map_err(|e| api_error(format!("create Namespace {name}"), e))?;
        self.owned_namespaces
            .lock()
            .expect("lock")
            .insert(name.to_string());
        Ok(())
    }

    async fn delete_namespace(&self, name: &str) -> Result<(), ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let Some(ns) = retry(|| api.get_opt(name))
            .await
            .map_err(|e| api_error(format!("read Namespace {name}"), e))?
        else {
            return Ok(());
        };
        if !is_owned(ns.metadata.labels.as_ref()) {
            return Err(ClusterError::UnownedNamespace {
                namespace: name.to_string(),
            });
        }
        let params = DeleteParams::background();
        match retry(|| api.delete(name, &params)).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(api_error(format!("delete Namespace {name}"), e)),
        }
        self.owned_namespaces.lock().expect("lock").remove(name);
        Ok(())
    }

    async fn apply(&self, docs: &[Document]) -> Result<(), ClusterError> {
        let (crds, rest): (Vec<&Document>, Vec<&Document>) = docs.iter().partition(|d| is_crd(d));
        for doc in &crds {
            self.apply_one(doc, false).await?;
        }
        for doc in &crds {
            self.wait_crd_established(doc.name()).await?;
        }
        // Kinds the CRDs just applied define: discovery may lag behind them.
        let defined: HashSet<(String, String)> = crds
            .iter()
            .filter_map(|d| {
                Some((
                    d.value.pointer("/spec/group")?.as_str()?.to_string(),
                    d.value.pointer("/spec/names/kind")?.as_str()?.to_string(),
                ))
            })
            .collect();
        let (namespaces, others): (Vec<&Document>, Vec<&Document>) = rest
            .into_iter()
            .partition(|d| d.api_version() == "v1" && d.kind() == "Namespace");
        for doc in &namespaces {
            // A namespace of a remote manifest (Contour's projectcontour) deleted by the cleanup
            // of an earlier scenario or run may still be terminating: nothing can be created in
            // it until it is gone (403 "being terminated"), so wait for that first.
            let api: Api<Namespace> = Api::all(self.client.clone());
            let existing = retry(|| api.get_opt(doc.name()))
                .await
                .map_err(|e| api_error(format!("read Namespace {}", doc.name()), e))?;
            if let Some(ns) = existing
                && ns.metadata.deletion_timestamp.is_some()
            {
                self.owned_namespaces
                    .lock()
                    .expect("lock")
                    .remove(doc.name());
                self.wait_namespace_gone(&api, &ns, "namespace").await?;
            }
        }
        for doc in namespaces.iter().chain(&others) {
            let gvk = gvk_of(doc);
            let lagging = defined.contains(&(gvk.group.clone(), gvk.kind.clone()));
            self.apply_one(doc, lagging).await?;
        }
        Ok(())
    }

    async fn delete(&self, docs: &[Document]) -> Result<(), ClusterError> {
        for doc in docs.iter().rev() {
            let Some((ar, caps)) = self.resolve(doc, false).await? else {
                continue; // the kind is gone (its CRD was deleted): so is the object
            };
            let namespace = (caps.scope == Scope::Namespaced)
                .then(|| doc.namespace().unwrap_or("default").to_string());
            let (what, full_name) = describe(doc.kind(), namespace.as_deref(), doc.name());
            let api = self.dynamic_api(&ar, &caps, namespace.as_deref());
            let existing = retry(|| api.get_opt(doc.name()))
                .await
                .map_err(|e| api_error(format!("read {what}"), e))?;
            let Some(existing) = existing else { continue };
            if !is_owned(existing.metadata.labels.as_ref()) {
                return Err(ClusterError::UnownedObject {
                    kind: doc.kind().to_string(),
                    name: full_name,
                });
            }
            let params = DeleteParams::background();
            match retry(|| api.delete(doc.name(), &params)).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(api_error(format!("delete {what}"), e)),
            }
            if doc.api_version() == "v1" && doc.kind() == "Namespace" {
                self.owned_namespaces
                    .lock()
                    .expect("lock")
                    .remove(doc.name());
            }
        }
        Ok(())
    }

    async fn label_namespace(
        &self,
        name: &str,
        change: LabelChange<'_>,
    ) -> Result<(), ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns = retry(|| api.get_opt(name))
            .await
            .map_err(|e| api_error(format!("read Namespace {name}"), e))?
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("Namespace {name}"),
            })?;
        if !is_owned(ns.metadata.labels.as_ref()) {
            return Err(ClusterError::UnownedNamespace {
                namespace: name.to_string(),
            });
        }
        let patch = Patch::Merge(change.merge_patch());
        let params = PatchParams::default();
        retry(|| api.patch(name, &params, &patch))
            .await
            .map_err(|e| api_error(format!("label Namespace {name}"), e))?;
        Ok(())
    }

    async fn label_pods(
        &self,
        endpoint: &EndpointRef,
        change: LabelChange<'_>,
    ) -> Result<(), ClusterError> {
        let pods = self.pods_of(endpoint).await?;
        if pods.is_empty() {
            return Err(ClusterError::NotFound {
                what: format!("pods of {endpoint}"),
            });
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &endpoint.namespace);
        let patch = Patch::Merge(change.merge_patch());
        let params = PatchParams::default();
        for pod in pods {
            let name = pod.name_any();
            if !is_owned(pod.metadata.labels.as_ref()) {
                return Err(ClusterError::UnownedObject {
                    kind: "Pod".into(),
                    name: format!("{}/{name}", endpoint.namespace),
                });
            }
            retry(|| api.patch(&name, &params, &patch))
                .await
                .map_err(|e| api_error(format!("label Pod {}/{name}", endpoint.namespace), e))?;
        }
        Ok(())
    }

    async fn wait_ready(
        &self,
        endpoint: &EndpointRef,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        let (ns, name) = (endpoint.namespace.as_str(), endpoint.name.as_str());
        let c = || self.client.clone();
        let done = match endpoint.kind {
            WorkloadKind::Pod => {
                self.wait_for(Api::<Pod>::namespaced(c(), ns), name, pod_ready, timeout)
                    .await?
            }
            WorkloadKind::Deployment => {
                let api = Api::<Deployment>::namespaced(c(), ns);
                self.wait_for(api, name, deployment_rolled_out, timeout)
                    .await?
            }
            WorkloadKind::ReplicaSet => {
                let api = Api::<ReplicaSet>::namespaced(c(), ns);
                self.wait_for(api, name, replicaset_ready, timeout).await?
            }
            WorkloadKind::StatefulSet => {
                let api = Api::<StatefulSet>::namespaced(c(), ns);
                self.wait_for(api, name, statefulset_rolled_out, timeout)
                    .await?
            }
            WorkloadKind::DaemonSet => {
                let api = Api::<DaemonSet>::namespaced(c(), ns);
                self.wait_for(api, name, daemonset_rolled_out, timeout)
                    .await?
            }
            WorkloadKind::Job => {
                let api = Api::<Job>::namespaced(c(), ns);
                self.wait_for(api, name, job_has_ready_pod, timeout).await?
            }
            // Declared endpoints (created by remote manifests, such as Contour's envoy) are
            // known only by their pods' labels: wait until such pods exist and all are Ready.
            WorkloadKind::Declared => self.wait_declared(endpoint, timeout).await?,
            WorkloadKind::CronJob => {
                return Err(ClusterError::Unsupported(format!(
                    "cannot wait for {endpoint}: wait for the workloads that create its pods instead"
                )));
            }
        };
        if done {
            return Ok(());
        }
        let pods = self.pods_of(endpoint).await.unwrap_or_default();
        let mut reasons = diagnose_pods(&pods);
        if reasons.is_empty() {
            reasons.push(
                if pods.is_empty() && endpoint.kind == WorkloadKind::Declared {
                    format!(
                        "no pod in {ns} is labelled {}",
                        endpoint
                            .labels
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                } else if pods.is_empty() {
                    format!(
                        "it has no pods (see `kubectl -n {ns} describe {} {name}` for its events)",
                        endpoint.kind.to_string().to_lowercase()
                    )
                } else {
                    "its pods are Ready but the rollout has not completed".to_string()
                },
            );
        }
        Err(ClusterError::NotReady {
            what: endpoint.to_string(),
            waited: timeout,
            reasons,
        })
    }

    async fn ready_pods(&self, endpoint: &EndpointRef) -> Result<Vec<PodInfo>, ClusterError> {
        Ok(self
            .pods_of(endpoint)
            .await?
            .iter()
            .filter(|p| pod_ready(Some(p)))
            .map(pod_info)
            .collect())
    }

    async fn service(&self, namespace: &str, name: &str) -> Result<ServiceInfo, ClusterError> {
        let api: Api<Service> = Api::namespaced(self.client.clone(), namespace);
        let svc = retry(|| api.get_opt(name))
            .await
            .map_err(|e| api_error(format!("read Service {namespace}/{name}"), e))?
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("Service {namespace}/{name}"),
            })?;
        let spec = svc.spec.unwrap_or_default();
        Ok(ServiceInfo {
            cluster_ip: spec.cluster_ip.as_deref().and_then(|ip| ip.parse().ok()),
            ports: spec
                .ports
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| {
                    Some(ServicePortInfo {
                        name: p.name,
                        port: u16::try_from(p.port).ok()?,
                        protocol: p
                            .protocol
                            .as_deref()
                            .map_or(Ok(Protocol::Tcp), Protocol::parse_port_protocol)
                            .ok()?,
                    })
                })
                .collect(),
        })
    }

    async fn exec(
        &self,
        pod: &PodRef,
        container: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
        let failed = |message: String| ClusterError::Exec {
            pod: pod.to_string(),
            container: container.to_string(),
            message,
        };
        let run = async {
            let params = AttachParams::default()
                .container(container)
                .stdin(false)
                .stdout(true)
                .stderr(true);
            // Not retried: a probe batch that failed is probed again by the runner's polling,
            // which knows what it expects.
            let mut attached = api
                .exec(&pod.name, command.to_vec(), &params)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let status = attached.take_status();
            let mut stdout = attached
                .stdout()
                .ok_or_else(|| failed("no stdout".into()))?;
            let mut stderr = attached
                .stderr()
                .ok_or_else(|| failed("no stderr".into()))?;
            let (mut out, mut err) = (String::new(), String::new());
            // Both pipes must be drained together: each holds only 1 KiB.
            let (r1, r2) = tokio::join!(
                stdout.read_to_string(&mut out),
                stderr.read_to_string(&mut err)
            );
            r1.map_err(|e| failed(format!("reading stdout: {e}")))?;
            r2.map_err(|e| failed(format!("reading stderr: {e}")))?;
            let status = match status {
                Some(s) => s.await,
                None => None,
            };
            attached.join().await.map_err(|e| failed(e.to_string()))?;
            let exit_code = exit_code(status.as_ref()).map_err(|m| {
                failed(if err.is_empty() {
                    m
                } else {
                    format!("{m}; stderr: {}", err.trim())
                })
            })?;
            Ok(ExecOutput {
                stdout: out,
                stderr: err,
                exit_code,
            })
        };
        tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| ClusterError::ExecTimeout {
                pod: pod.to_string(),
                container: container.to_string(),
                after: timeout,
            })?
    }

    async fn run_probes(
        &self,
        pod: &PodRef,
        container: &str,
        specs: &[ProbeSpec],
        tool: ProbeTool,
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        let command = batch_command(specs, tool)?;
        self.exec(pod, container, &command, timeout).await
    }

    async fn add_probe_container(
        &self,
        pod: &PodRef,
        image: &str,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
        let current = retry(|| api.get_opt(&pod.name))
            .await
            .map_err(|e| api_error(format!("read Pod {pod}"), e))?
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("Pod {pod}"),
            })?;
        if !is_owned(current.metadata.labels.as_ref()) {
            return Err(ClusterError::UnownedObject {
                kind: "Pod".into(),
                name: pod.to_string(),
            });
        }
        let present = current
            .spec
            .as_ref()
            .and_then(|s| s.ephemeral_containers.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.name == PROBE_CONTAINER));
        if !present {
            let patch = Patch::Strategic(probe_container_patch(image));
            let params = PatchParams::default();
            retry(|| api.patch_ephemeral_containers(&pod.name, &params, &patch))
                .await
                .map_err(|e| api_error(format!("add the probe container to Pod {pod}"), e))?;
        }
        if self
            .wait_for(
                api.clone(),
                &pod.name,
                ephemeral_running(PROBE_CONTAINER),
                timeout,
            )
            .await?
        {
            return Ok(());
        }
        let reasons = match api.get_opt(&pod.name).await {
            Ok(Some(p)) => diagnose_pod(&p)
                .into_iter()
                .filter(|r| r.contains(PROBE_CONTAINER))
                .collect(),
            _ => Vec::new(),
        };
        Err(ClusterError::NotReady {
            what: format!("ephemeral container {PROBE_CONTAINER} ({image}) in Pod {pod}"),
            waited: timeout,
            reasons: if reasons.is_empty() {
                vec!["it has not started".to_string()]
            } else {
                reasons
            },
        })
    }
}

#[cfg(test)]
#[path = "kube_tests.rs"]
mod tests;
