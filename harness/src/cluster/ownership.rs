//! What the harness owns on a cluster and how it treats it: the ownership labels every applied
//! object carries, the object as sent to the API server, which kinds are cluster-scoped, and
//! what a sweep of earlier runs deletes (never a CRD, namespaces last).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// The label every object the harness applies carries.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "netpol-harness";
/// The label naming the run that applied an object.
pub const RUN_LABEL: &str = "netpol-harness/run";
/// The server-side-apply field manager.
pub const FIELD_MANAGER: &str = "netpol-harness";
/// An object of an earlier run that a sweep deletes ([`super::ClusterOps::sweep`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Leftover {
    /// `Kind`.
    pub kind: String,
    /// `group/version` (`v1` for the core group).
    pub api_version: String,
    /// Its namespace; `None` for a cluster-scoped object.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// The run that applied it ([`RUN_LABEL`]), if it says.
    pub run: Option<String>,
}

impl Leftover {
    /// Whether it is a Namespace (deleted last, and taking its contents with it).
    pub fn is_namespace(&self) -> bool {
        self.api_version == "v1" && self.kind == "Namespace"
    }
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{} ({})", self.kind, self.name, self.api_version)?,
            None => write!(f, "{} {} ({})", self.kind, self.name, self.api_version)?,
        }
        match &self.run {
            Some(run) => write!(f, ", run {run}"),
            None => Ok(()),
        }
    }
}

/// Which of `found` a sweep deletes, in order: objects in namespaces the sweep deletes anyway
/// are left to their namespace, objects with an owner to the garbage collector (the caller
/// filters those), CRDs never; namespaces last.
pub fn sweep_order(mut found: Vec<Leftover>) -> Vec<Leftover> {
    let going: std::collections::HashSet<String> = found
        .iter()
        .filter(|o| o.is_namespace())
        .map(|o| o.name.clone())
        .collect();
    found.retain(|o| {
        !is_crd_kind(&o.api_version, &o.kind)
            && o.namespace.as_ref().is_none_or(|ns| !going.contains(ns))
    });
    found.sort_by(|a, b| (a.is_namespace(), a).cmp(&(b.is_namespace(), b)));
    found.dedup();
    found
}

/// Whether `apiVersion`/`kind` is a CustomResourceDefinition: never deleted by the harness
/// (deleting one deletes every object of its kind, the cluster's included).
pub fn is_crd_kind(api_version: &str, kind: &str) -> bool {
    kind == "CustomResourceDefinition" && api_version.starts_with("apiextensions.k8s.io/")
}

/// Whether labels carry the harness's ownership label.
pub fn is_owned(labels: Option<&BTreeMap<String, String>>) -> bool {
    labels
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .is_some_and(|v| v == MANAGED_BY_VALUE)
}

/// The ownership labels of a run.
pub fn ownership_labels(run_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
        (RUN_LABEL.to_string(), run_id.to_string()),
    ])
}

/// Adds the ownership labels to an object's `metadata.labels`, and the managed-by label (not the
/// run id) to its pod template's labels (workloads), so that the pods it creates carry it too.
/// The run id stays off templates: a template that changed with every run would roll out new pods
/// on each re-apply, and a Job's template cannot change at all.
pub fn inject_ownership(value: &mut Value, run_id: &str) {
    let pointers: &[&str] = match (
        value.get("apiVersion").and_then(Value::as_str),
        value.get("kind").and_then(Value::as_str),
    ) {
        (Some("apps/v1"), Some("Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet"))
        | (Some("batch/v1"), Some("Job")) => &["/metadata", "/spec/template/metadata"],
        (Some("batch/v1"), Some("CronJob")) => &[
            "/metadata",
            "/spec/jobTemplate/metadata",
            "/spec/jobTemplate/spec/template/metadata",
        ],
        _ => &["/metadata"],
    };
    for pointer in pointers {
        let labels_here = if *pointer == "/metadata" {
            ownership_labels(run_id)
        } else {
            BTreeMap::from([(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string())])
        };
        let Some(meta) = ensure_object(value, pointer) else {
            continue;
        };
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Default::default()));
        if !labels.is_object() {
            *labels = Value::Object(Default::default());
        }
        let labels = labels.as_object_mut().expect("made an object above");
        for (k, v) in labels_here {
            labels.insert(k, Value::String(v));
        }
    }
}

/// The object as it is sent to the API server: fields the server owns (`status`,
/// `metadata.resourceVersion`, `uid`, `managedFields`…, as `kubectl get -o yaml` leaves them)
/// removed, so that a stale copy never conflicts, and the ownership labels added.
pub fn prepare_for_apply(value: &Value, run_id: &str) -> Value {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        object.remove("status");
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in [
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "managedFields",
                "selfLink",
            ] {
                meta.remove(field);
            }
        }
    }
    inject_ownership(&mut value, run_id);
    value
}

/// The object at a JSON pointer made of object keys, creating missing objects on the way
/// (`None` if something on the way is not an object).
fn ensure_object<'a>(
    value: &'a mut Value,
    pointer: &str,
) -> Option<&'a mut serde_json::Map<String, Value>> {
    let mut current = value;
    for key in pointer.split('/').skip(1) {
        let map = current.as_object_mut()?;
        current = map
            .entry(key)
            .or_insert_with(|| Value::Object(Default::default()));
    }
    current.as_object_mut()
}

/// Kinds that are cluster-scoped (the rest are namespaced), for planning without a cluster.
pub fn is_cluster_scoped(api_version: &str, kind: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    matches!(
        (group, kind),
        ("", "Namespace" | "Node" | "PersistentVolume")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | (
                "rbac.authorization.k8s.io",
                "ClusterRole" | "ClusterRoleBinding"
            )
            | ("networking.k8s.io", "IngressClass")
            | ("storage.k8s.io", _)
            | ("scheduling.k8s.io", "PriorityClass")
            | ("admissionregistration.k8s.io", _)
            | ("apiregistration.k8s.io", "APIService")
            | (
                "projectcalico.org" | "crd.projectcalico.org",
                "GlobalNetworkPolicy"
                    | "GlobalNetworkSet"
                    | "StagedGlobalNetworkPolicy"
                    | "Tier"
                    | "HostEndpoint"
                    | "IPPool"
                    | "FelixConfiguration"
                    | "BGPConfiguration"
                    | "ClusterInformation"
            )
            | (
                "policy.networking.k8s.io",
                "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy" | "ClusterNetworkPolicy"
            )
            | (
                "cilium.io",
                "CiliumClusterwideNetworkPolicy" | "CiliumClusterwideEnvoyConfig"
            )
            | (
                "crd.antrea.io",
                "ClusterNetworkPolicy" | "Tier" | "ClusterGroup"
            )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_is_injected_on_objects_and_pod_templates() {
        let mut deployment = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "a", "labels": {"app": "a"}},
            "spec": {"template": {"metadata": {"labels": {"pod": "a"}}, "spec": {}}}
        });
        inject_ownership(&mut deployment, "r1");
        assert_eq!(deployment["metadata"]["labels"]["app"], "a");
        assert_eq!(
            deployment["metadata"]["labels"][MANAGED_BY_LABEL],
            MANAGED_BY_VALUE
        );
        assert_eq!(deployment["metadata"]["labels"][RUN_LABEL], "r1");
        assert_eq!(
            deployment["spec"]["template"]["metadata"]["labels"]["pod"],
            "a"
        );
        assert_eq!(
            deployment["spec"]["template"]["metadata"]["labels"][MANAGED_BY_LABEL],
            MANAGED_BY_VALUE
        );
        // Not the run id: re-applying with a new run must not change the template.
        assert!(
            deployment["spec"]["template"]["metadata"]["labels"]
                .get(RUN_LABEL)
                .is_none()
        );

        let mut policy = serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "p"}, "spec": {"podSelector": {}}
        });
        inject_ownership(&mut policy, "r1");
        assert_eq!(
            policy["metadata"]["labels"][MANAGED_BY_LABEL],
            MANAGED_BY_VALUE
        );
        assert!(policy["spec"].get("template").is_none());
    }

    #[test]
    fn objects_are_sent_without_server_owned_fields() {
        let copied = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "a", "resourceVersion": "42", "uid": "u", "managedFields": [],
                "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": "a"}},
            "spec": {"containers": []},
            "status": {"podIP": "10.244.0.5"}
        });
        let sent = prepare_for_apply(&copied, "r1");
        assert_eq!(
            sent,
            serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "a", "labels": {"app": "a",
                    MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_LABEL: "r1"}},
                "spec": {"containers": []}
            })
        );
    }

    #[test]
    fn scope_of_kinds() {
        assert!(is_cluster_scoped(
            "projectcalico.org/v3",
            "GlobalNetworkPolicy"
        ));
        assert!(is_cluster_scoped(
            "policy.networking.k8s.io/v1alpha1",
            "AdminNetworkPolicy"
        ));
        // ClusterNetworkPolicy is cluster-scoped (kubernetes-sigs/network-policy-api@v0.2.0:
        // apis/v1alpha2/clusternetworkpolicy_types.go, `+kubebuilder:resource:scope=Cluster`):
        // sent with a namespace, the API server would refuse it.
        assert!(is_cluster_scoped(
            "policy.networking.k8s.io/v1alpha2",
            "ClusterNetworkPolicy"
        ));
        assert!(is_cluster_scoped("v1", "Namespace"));
        assert!(!is_cluster_scoped("networking.k8s.io/v1", "NetworkPolicy"));
        assert!(!is_cluster_scoped("projectcalico.org/v3", "NetworkPolicy"));
    }
}
