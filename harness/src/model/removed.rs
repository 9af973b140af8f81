//! API versions that Kubernetes removed: manifests using them no longer apply, so the harness
//! refuses them with the replacement (kubernetes/website deprecation-guide.md).

/// If `kind` at `api_version` was removed from Kubernetes, the release that removed it and what
/// to use instead.
pub fn removed_api(api_version: &str, kind: &str) -> Option<&'static str> {
    Some(match (api_version, kind) {
        ("extensions/v1beta1", "NetworkPolicy") => {
            "removed in Kubernetes 1.16; use networking.k8s.io/v1"
        }
        (
            "extensions/v1beta1" | "apps/v1beta1" | "apps/v1beta2",
            "Deployment" | "DaemonSet" | "ReplicaSet" | "StatefulSet",
        ) => "removed in Kubernetes 1.16; use apps/v1",
        ("extensions/v1beta1" | "networking.k8s.io/v1beta1", "Ingress") => {
            "removed in Kubernetes 1.22; use networking.k8s.io/v1 (backend.service.name/port, pathType required)"
        }
        ("networking.k8s.io/v1beta1", "IngressClass") => {
            "removed in Kubernetes 1.22; use networking.k8s.io/v1"
        }
        ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition") => {
            "removed in Kubernetes 1.22; use apiextensions.k8s.io/v1 (structural schema required)"
        }
        ("rbac.authorization.k8s.io/v1beta1", _) => {
            "removed in Kubernetes 1.22; use rbac.authorization.k8s.io/v1"
        }
        ("batch/v1beta1", "CronJob") => "removed in Kubernetes 1.25; use batch/v1",
        ("policy/v1beta1", "PodSecurityPolicy") => "removed in Kubernetes 1.25 without replacement",
        _ => return None,
    })
}
