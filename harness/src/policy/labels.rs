//! The labels policies select on: an endpoint's own labels plus what Calico adds to them.

use crate::model::{Cluster, EndpointId, Labels};

/// Label holding the endpoint's namespace.
pub const NAMESPACE: &str = "projectcalico.org/namespace";
/// Label holding the orchestrator (`k8s`).
pub const ORCHESTRATOR: &str = "projectcalico.org/orchestrator";
/// Label holding the endpoint's service account name.
pub const SERVICE_ACCOUNT: &str = "projectcalico.org/serviceaccount";
/// Prefix of the namespace's labels.
pub const NAMESPACE_PREFIX: &str = "pcns.";
/// Prefix of the service account's labels.
pub const SERVICE_ACCOUNT_PREFIX: &str = "pcsa.";
/// The name label Calico gives namespace and service-account profiles.
pub const PROFILE_NAME: &str = "projectcalico.org/name";

/// The endpoint's policy labels: its labels, `projectcalico.org/namespace`,
/// `projectcalico.org/orchestrator=k8s`, `projectcalico.org/serviceaccount`, the namespace's
/// labels (and `projectcalico.org/name`) prefixed `pcns.`, and the service account's labels
/// (and `projectcalico.org/name`) prefixed `pcsa.`.
pub fn policy_labels(cluster: &Cluster, id: EndpointId) -> Labels {
    let endpoint = cluster.get(id);
    let mut labels = endpoint.labels.clone();
    labels.insert(NAMESPACE.into(), endpoint.namespace.clone());
    labels.insert(ORCHESTRATOR.into(), "k8s".into());
    labels.insert(SERVICE_ACCOUNT.into(), endpoint.service_account.clone());
    for (k, v) in cluster.namespace_labels(id) {
        labels.insert(format!("{NAMESPACE_PREFIX}{k}"), v.clone());
    }
    labels.insert(
        format!("{NAMESPACE_PREFIX}{PROFILE_NAME}"),
        endpoint.namespace.clone(),
    );
    let sa_key = format!("{}/{}", endpoint.namespace, endpoint.service_account);
    for (k, v) in cluster.service_accounts.get(&sa_key).into_iter().flatten() {
        labels.insert(format!("{SERVICE_ACCOUNT_PREFIX}{k}"), v.clone());
    }
    labels.insert(
        format!("{SERVICE_ACCOUNT_PREFIX}{PROFILE_NAME}"),
        endpoint.service_account.clone(),
    );
    labels
}

use super::Selector;

/// Turns a selector over namespace labels into one over policy labels, as Calico does for a
/// `namespaceSelector`: keys get the `pcns.` prefix, `all()` means "any namespaced endpoint" and
/// `global()` means "no namespaced endpoint" (only non-namespaced ones, which the model has none of).
pub fn namespace_scope(selector: &Selector) -> Selector {
    fn rewrite(s: &Selector) -> Selector {
        match s {
            Selector::All => Selector::Has(NAMESPACE.into()),
            Selector::Global => Selector::Not(Box::new(Selector::Has(NAMESPACE.into()))),
            Selector::Not(inner) => Selector::Not(Box::new(rewrite(inner))),
            Selector::And(v) => Selector::And(v.iter().map(rewrite).collect()),
            Selector::Or(v) => Selector::Or(v.iter().map(rewrite).collect()),
            other => other.map_keys(&|k| format!("{NAMESPACE_PREFIX}{k}")),
        }
    }
    rewrite(selector)
}

/// Turns a selector over service-account labels into one over policy labels (`pcsa.` prefix).
pub fn service_account_scope(selector: &Selector) -> Selector {
    selector.map_keys(&|k| format!("{SERVICE_ACCOUNT_PREFIX}{k}"))
}

/// `projectcalico.org/namespace == '<namespace>'`: endpoints in one namespace.
pub fn in_namespace(namespace: &str) -> Selector {
    Selector::Equals(NAMESPACE.into(), namespace.into())
}

/// The namespace a selector requires (`projectcalico.org/namespace == 'ns'`, alone or as an
/// operand of `&&`), if it requires one: no endpoint of another namespace matches it.
pub fn required_namespace(selector: &Selector) -> Option<&str> {
    match selector {
        Selector::Equals(key, value) if key == NAMESPACE => Some(value),
        Selector::And(operands) => operands.iter().find_map(required_namespace),
        _ => None,
    }
}

/// `a && b`, flattening `all()` away.
pub fn and(a: Selector, b: Selector) -> Selector {
    match (a, b) {
        (Selector::All, x) | (x, Selector::All) => x,
        (Selector::And(mut v), Selector::And(w)) => {
            v.extend(w);
            Selector::And(v)
        }
        (Selector::And(mut v), x) => {
            v.push(x);
            Selector::And(v)
        }
        (x, y) => Selector::And(vec![x, y]),
    }
}
