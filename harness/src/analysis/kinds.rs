//! Sorting a user's documents by kind: other vendors' policy kinds, and what `-n` applies to.

use serde_json::Value;

use crate::manifest::{Document, ManifestError};

/// Kinds that are cluster-scoped: `-n` does not give them a namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "Node",
    "GlobalNetworkPolicy",
    "GlobalNetworkSet",
    "Tier",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
    "ClusterNetworkPolicy",
    "CiliumClusterwideNetworkPolicy",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
];

/// `kubectl -n NS` for one document: sets `metadata.namespace` when absent; refuses a different
/// one, as kubectl does.
pub fn set_namespace(doc: &mut Document, ns: &str) -> Result<(), ManifestError> {
    if CLUSTER_SCOPED.contains(&doc.kind()) {
        return Ok(());
    }
    match doc.namespace() {
        Some(own) if own != ns => Err(doc.invalid(
            "metadata.namespace",
            format!("the document's namespace `{own}` does not match `{ns}` given with -n/--namespace (kubectl refuses this too)"),
        )),
        Some(_) => Ok(()),
        None => {
            if let Value::Object(object) = &mut doc.value {
                let metadata = object
                    .entry("metadata")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Value::Object(m) = metadata {
                    m.insert("namespace".into(), Value::String(ns.to_string()));
                }
            }
            Ok(())
        }
    }
}

/// API groups of other network-policy implementations, whose `…Policy` kinds the oracle does
/// not evaluate.
const FOREIGN_POLICY_GROUPS: &[&str] = &[
    "cilium.io",
    "crd.antrea.io",
    "security.antrea.tanzu.vmware.com",
    "k8s.ovn.org",
    "networking.gke.io",
    "security.istio.io",
];

/// Whether a kind is another implementation's network policy: anything named like a network
/// policy or firewall outside the groups the oracle reads, and any `…Policy` of a known CNI's
/// group.
pub(super) fn foreign_policy(api_version: &str, kind: &str) -> bool {
    let group = match api_version.split_once('/') {
        Some((g, _)) => g,
        None => "",
    };
    let ours = matches!(
        group,
        "networking.k8s.io"
            | "extensions"
            | "projectcalico.org"
            | "crd.projectcalico.org"
            | "policy.networking.k8s.io"
    );
    !ours
        && (kind.contains("NetworkPolic")
            || kind.contains("Firewall")
            || (FOREIGN_POLICY_GROUPS.contains(&group) && kind.ends_with("Policy")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_vendors_policies_are_recognised_and_ours_are_not() {
        assert!(foreign_policy("cilium.io/v2", "CiliumNetworkPolicy"));
        assert!(foreign_policy(
            "cilium.io/v2",
            "CiliumClusterwideNetworkPolicy"
        ));
        assert!(foreign_policy(
            "crd.antrea.io/v1beta1",
            "ClusterNetworkPolicy"
        ));
        assert!(foreign_policy("crd.antrea.io/v1beta1", "NetworkPolicy"));
        assert!(foreign_policy("k8s.ovn.org/v1", "EgressFirewall"));
        assert!(!foreign_policy("networking.k8s.io/v1", "NetworkPolicy"));
        assert!(!foreign_policy(
            "policy.networking.k8s.io/v1alpha2",
            "ClusterNetworkPolicy"
        ));
        assert!(!foreign_policy("v1", "ConfigMap"));
        assert!(!foreign_policy("cilium.io/v2", "CiliumNode"));
    }
}
