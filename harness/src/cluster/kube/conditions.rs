//! Readiness predicates: when a waited-for object counts as ready, from its status alone. Each is
//! a kube-runtime [`Condition`].
//!
//! The rollout predicates follow `kubectl rollout status` of the Kubernetes release the kind
//! clusters run (`kubernetes/kubectl@v0.36.1:pkg/polymorphichelpers/rollout_status.go`:
//! Deployment #L75-L89, DaemonSet #L107-L113, StatefulSet #L130-L135): the controller has
//! observed the latest generation, then every wanted replica is updated and no old one is left.
//! Where kubectl asks for available replicas, these ask for Ready ones (a probe needs a serving
//! pod; with `minReadySeconds: 0` the two are the same), and the Deployment asks for both.
//! Unlike kubectl, a StatefulSet's partitioned rolling update never counts as rolled out (every
//! replica must be updated); the scenarios use none.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::wait::Condition;

/// A pod is Ready (condition `Ready=True`, not being deleted).
pub fn is_pod_ready(pod: Option<&Pod>) -> bool {
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
pub fn is_deployment_rolled_out(d: Option<&Deployment>) -> bool {
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
pub fn is_statefulset_rolled_out(s: Option<&StatefulSet>) -> bool {
    let Some(set) = s else { return false };
    let Some(st) = &set.status else { return false };
    let want = set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    st.observed_generation >= set.metadata.generation
        && st.ready_replicas.unwrap_or(0) == want
        && st.updated_replicas.unwrap_or(0) == want
        && st.replicas == want
}

/// A DaemonSet has rolled out: every scheduled pod is updated and Ready.
pub fn is_daemonset_rolled_out(d: Option<&DaemonSet>) -> bool {
    let Some(d) = d else { return false };
    let Some(s) = &d.status else { return false };
    s.observed_generation >= d.metadata.generation
        && s.number_ready == s.desired_number_scheduled
        && s.updated_number_scheduled.unwrap_or(0) == s.desired_number_scheduled
}

/// A ReplicaSet has every wanted replica Ready.
pub fn is_replicaset_ready(r: Option<&ReplicaSet>) -> bool {
    let Some(r) = r else { return false };
    let Some(s) = &r.status else { return false };
    let want = r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    s.observed_generation >= r.metadata.generation
        && s.ready_replicas.unwrap_or(0) == want
        && s.replicas == want
}

/// A Job has a Ready pod.
pub fn is_job_ready(j: Option<&Job>) -> bool {
    j.and_then(|j| j.status.as_ref())
        .and_then(|s| s.ready)
        .is_some_and(|r| r > 0)
}

/// The ephemeral container `name` of a pod is running.
pub fn is_ephemeral_running(name: &str) -> impl Condition<Pod> + '_ {
    move |pod: Option<&Pod>| {
        pod.and_then(|p| p.status.as_ref())
            .and_then(|s| s.ephemeral_container_statuses.as_ref())
            .and_then(|s| s.iter().find(|c| c.name == name))
            .and_then(|c| c.state.as_ref())
            .is_some_and(|s| s.running.is_some())
    }
}
