//! The simulated cluster's nodes, and where its pods are scheduled: a pod's `spec.nodeName` if
//! set, else the nodes its `spec.nodeSelector` and required node affinity admit (node selector
//! terms ORed, the expressions of a term ANDed: `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`,
//! `Lt`; Arnavion/k8s-openapi@v0.29.0:src/v1_36/api/core/v1/node_selector.rs,
//! `node_selector_requirement.rs`), of which the one with the fewest pods (the first on a tie),
//! as the scheduler spreads pods. A pod no node admits stays Pending: it is never listed.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::cluster::SLOT_LABEL;
use crate::model::Labels;

/// A node of the simulated cluster (the control plane is left out: kind taints it, and no test
/// pod tolerates that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimNode {
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: Labels,
}

impl SimNode {
    /// A node called `name` with `labels`.
    pub fn new(name: &str, labels: &[(&str, &str)]) -> SimNode {
        SimNode {
            name: name.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The workers of the kind configs in `kind-config/` (cluster `netpol`): `netpol-worker`
    /// in slot 1 and `netpol-worker2` in slot 2 (see [`SLOT_LABEL`]).
    pub fn kind_workers() -> Vec<SimNode> {
        vec![
            SimNode::new("netpol-worker", &[(SLOT_LABEL, "1")]),
            SimNode::new("netpol-worker2", &[(SLOT_LABEL, "2")]),
        ]
    }
}

/// Whether one `matchExpressions` entry holds on `labels`.
fn requirement_holds(labels: &Labels, req: &Value) -> bool {
    let key = req["key"].as_str().unwrap_or_default();
    let values: Vec<&str> = req["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let value = labels.get(key);
    let number = |v: &str| v.parse::<i64>().ok();
    match req["operator"].as_str().unwrap_or_default() {
        "In" => value.is_some_and(|v| values.contains(&v.as_str())),
        "NotIn" => value.is_none_or(|v| !values.contains(&v.as_str())),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        op @ ("Gt" | "Lt") => {
            let (Some(have), Some(bound)) = (value.and_then(|v| number(v)), values.first()) else {
                return false;
            };
            let Some(bound) = number(bound) else {
                return false;
            };
            if op == "Gt" {
                have > bound
            } else {
                have < bound
            }
        }
        _ => false,
    }
}

/// Whether `node` admits a pod with this `spec`.
pub(super) fn admits(node: &SimNode, spec: &Value) -> bool {
    if let Some(name) = spec["nodeName"].as_str() {
        return name == node.name;
    }
    let selector_holds = spec["nodeSelector"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| node.labels.get(k).map(String::as_str) == v.as_str());
    let terms = spec.pointer(
        "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
    );
    let affinity_holds = match terms.and_then(Value::as_array) {
        None => true,
        Some(terms) => terms.iter().any(|term| {
            let exprs = term["matchExpressions"].as_array();
            // An empty term matches no node.
            exprs.is_some_and(|e| !e.is_empty())
                && exprs
                    .into_iter()
                    .flatten()
                    .all(|r| requirement_holds(&node.labels, r))
        }),
    };
    selector_holds && affinity_holds
}

/// The node a new pod with this `spec` is placed on, given where pods are already (`placed`:
/// pod → node), or `None` if no node admits it.
pub(super) fn place(
    nodes: &[SimNode],
    spec: &Value,
    placed: &BTreeMap<String, String>,
) -> Option<String> {
    nodes
        .iter()
        .filter(|n| admits(n, spec))
        .min_by_key(|n| placed.values().filter(|p| **p == n.name).count())
        .map(|n| n.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn slot_affinity(slot: &str) -> Value {
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": SLOT_LABEL, "operator": "In", "values": [slot]}]},
            {"matchExpressions": [{"key": SLOT_LABEL, "operator": "DoesNotExist"}]}
        ]}}}})
    }

    #[test]
    fn affinity_terms_are_ored_and_their_expressions_anded() {
        let nodes = SimNode::kind_workers();
        let none = BTreeMap::new();
        assert_eq!(
            place(&nodes, &slot_affinity("2"), &none).as_deref(),
            Some("netpol-worker2")
        );
        assert_eq!(
            place(&nodes, &slot_affinity("1"), &none).as_deref(),
            Some("netpol-worker")
        );
        // Unlabelled nodes (a one-worker cluster of the user's own) satisfy the second term.
        let plain = vec![SimNode::new("w", &[])];
        assert_eq!(
            place(&plain, &slot_affinity("2"), &none).as_deref(),
            Some("w")
        );
        // A slot no node has, and no unlabelled node: Pending.
        assert_eq!(place(&nodes, &slot_affinity("3"), &none), None);
        let both = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": SLOT_LABEL, "operator": "Exists"},
                {"key": SLOT_LABEL, "operator": "NotIn", "values": ["1"]},
                {"key": SLOT_LABEL, "operator": "Gt", "values": ["1"]},
                {"key": SLOT_LABEL, "operator": "Lt", "values": ["3"]}
            ]}, {"matchExpressions": []}]}}}});
        assert_eq!(
            place(&nodes, &both, &none).as_deref(),
            Some("netpol-worker2")
        );
    }

    #[test]
    fn node_name_and_selector_pin_and_the_rest_spread() {
        let nodes = SimNode::kind_workers();
        let mut placed = BTreeMap::new();
        let pinned = json!({"nodeName": "netpol-worker2"});
        assert_eq!(
            place(&nodes, &pinned, &placed).as_deref(),
            Some("netpol-worker2")
        );
        let selected = json!({"nodeSelector": {SLOT_LABEL: "1"}});
        assert_eq!(
            place(&nodes, &selected, &placed).as_deref(),
            Some("netpol-worker")
        );
        // Free pods go to the emptier node, the first on a tie.
        let free = json!({});
        assert_eq!(
            place(&nodes, &free, &placed).as_deref(),
            Some("netpol-worker")
        );
        placed.insert("x/a".to_string(), "netpol-worker".to_string());
        assert_eq!(
            place(&nodes, &free, &placed).as_deref(),
            Some("netpol-worker2")
        );
    }
}
