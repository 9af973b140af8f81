//! The tie-break between policies of equal order, per Calico version line.

/// Calico's tie-break between policies of equal order (v3.29–v3.31 `PolKVLess`): the policy's
/// backend name, `namespace/name` for namespaced policies and `name` for cluster-scoped ones,
/// where the backend name carries the tier or kind prefix Calico gives it: `knp.default.<name>`
/// for Kubernetes NetworkPolicy, `<tier>.<name>` for Calico policies, and
/// `kanp.adminnetworkpolicy.<name>` / `kbanp.baselineadminnetworkpolicy.<name>` for the admin
/// kinds. So at equal order a Calico NetworkPolicy in the default tier (`default.…`) comes before
/// a Kubernetes NetworkPolicy of the same namespace (`knp.default.…`).
/// Calico 3.32's tie-break between policies of equal order: the string
/// `"<name>/<namespace>/<kind>"` of the policy key
/// (projectcalico/calico@v3.32.1:felix/calc/policy_sorter.go#L388-L399), where names carry no
/// tier prefix any more (calico#11232) and the kinds are `KubernetesNetworkPolicy`,
/// `NetworkPolicy`, `GlobalNetworkPolicy` and `KubernetesClusterNetworkPolicy`
/// (libcalico-go/lib/backend/model/kubenetworkpolicy.go, kubeclusternetworkpolicy.go). So at equal
/// order a Kubernetes NetworkPolicy `a` now comes before a Calico NetworkPolicy `b` of the same
/// namespace, where 3.31 compared `ns/default.b` with `ns/knp.default.a`.
pub(super) fn sort_name_3_32(p: &crate::policy::Policy) -> String {
    use crate::policy::PolicyKind;
    let kind = match p.id.kind {
        PolicyKind::KubernetesNetworkPolicy => "KubernetesNetworkPolicy",
        PolicyKind::CalicoNetworkPolicy => "NetworkPolicy",
        PolicyKind::CalicoGlobalNetworkPolicy => "GlobalNetworkPolicy",
        PolicyKind::ClusterNetworkPolicy => "KubernetesClusterNetworkPolicy",
        PolicyKind::AdminNetworkPolicy => "AdminNetworkPolicy",
        PolicyKind::BaselineAdminNetworkPolicy => "BaselineAdminNetworkPolicy",
    };
    format!(
        "{}/{}/{kind}",
        p.id.name,
        p.id.namespace.as_deref().unwrap_or_default()
    )
}

pub(super) fn sort_name(p: &crate::policy::Policy) -> String {
    use crate::policy::PolicyKind;
    let name = &p.id.name;
    let backend = match p.id.kind {
        PolicyKind::KubernetesNetworkPolicy => format!("knp.default.{name}"),
        PolicyKind::CalicoNetworkPolicy | PolicyKind::CalicoGlobalNetworkPolicy => {
            if name.starts_with(&format!("{}.", p.tier)) {
                name.clone()
            } else {
                format!("{}.{name}", p.tier)
            }
        }
        PolicyKind::AdminNetworkPolicy => format!("kanp.adminnetworkpolicy.{name}"),
        PolicyKind::BaselineAdminNetworkPolicy => {
            format!("kbanp.baselineadminnetworkpolicy.{name}")
        }
        PolicyKind::ClusterNetworkPolicy => name.clone(),
    };
    match &p.id.namespace {
        Some(ns) => format!("{ns}/{backend}"),
        None => backend,
    }
}
