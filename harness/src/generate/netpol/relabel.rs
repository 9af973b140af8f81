//! Labels changed while policies are in force: selection follows the labels.

use super::{Rule, TAG, policy};
use crate::generate::yaml::{expr, labels};
use crate::generate::{Case, LabelChange};

/// Policies whose selection changes when a label is set while they are in force.
pub(super) fn label_cases() -> Vec<Case> {
    let pod = |p: &str| labels("pod", p);
    let rule = |peers: Vec<String>| Rule {
        peers: Some(peers),
        ports: None,
    };
    let change = |target: &str, key: &str, value: &str| LabelChange {
        target: target.into(),
        key: key.into(),
        value: value.into(),
    };
    let specs: Vec<(&str, String, LabelChange, &[&str])> = vec![
        (
            "pod-label-joins-peer",
            policy(
                "from-role-client",
                "x",
                &pod("a"),
                Some(&["Ingress"]),
                Some(&[rule(vec![format!(
                    "{{namespaceSelector: {{}}, podSelector: {}}}",
                    labels("role", "client")
                )])]),
                None,
            ),
            change("y/b", "role", "client"),
            &["ingress", "pod-label-change"],
        ),
        (
            "ns-label-joins-peer",
            policy(
                "from-team-blue",
                "x",
                &pod("a"),
                Some(&["Ingress"]),
                Some(&[rule(vec![format!(
                    "{{namespaceSelector: {}}}",
                    labels("team", "blue")
                )])]),
                None,
            ),
            change("z", "team", "blue"),
            &["ingress", "namespace-label-change"],
        ),
        (
            "pod-label-becomes-target",
            policy(
                "isolate-locked",
                "x",
                &labels("state", "locked"),
                Some(&["Ingress"]),
                None,
                None,
            ),
            change("x/b", "state", "locked"),
            &["ingress", "pod-label-change", "target"],
        ),
        (
            "pod-label-becomes-egress-target",
            policy(
                "egress-locked",
                "y",
                &labels("state", "locked"),
                Some(&["Egress"]),
                None,
                None,
            ),
            change("y/c", "state", "locked"),
            &["egress", "pod-label-change", "target"],
        ),
        (
            "ns-label-joins-egress-peer",
            policy(
                "to-team-blue",
                "x",
                &pod("a"),
                Some(&["Egress"]),
                None,
                Some(&[rule(vec![format!(
                    "{{namespaceSelector: {}}}",
                    labels("team", "blue")
                )])]),
            ),
            change("y", "team", "blue"),
            &["egress", "namespace-label-change"],
        ),
        (
            "ns-label-leaves-not-in",
            policy(
                "from-not-team-red",
                "z",
                &pod("c"),
                Some(&["Ingress"]),
                Some(&[rule(vec![format!(
                    "{{namespaceSelector: {}}}",
                    expr("team", "NotIn", &["red"])
                )])]),
                None,
            ),
            change("x", "team", "red"),
            &["ingress", "namespace-label-change", "match-expressions"],
        ),
        (
            "pod-label-leaves-does-not-exist",
            policy(
                "from-unlabelled",
                "y",
                &pod("a"),
                Some(&["Ingress"]),
                Some(&[rule(vec![format!(
                    "{{namespaceSelector: {{}}, podSelector: {}}}",
                    expr("role", "DoesNotExist", &[])
                )])]),
                None,
            ),
            change("z/b", "role", "client"),
            &["ingress", "pod-label-change", "match-expressions"],
        ),
        (
            "ns-label-joins-and-peer",
            policy(
                "from-blue-clients",
                "x",
                "{}",
                Some(&["Ingress"]),
                Some(&[rule(vec![format!(
                    "{{namespaceSelector: {}, podSelector: {}}}",
                    labels("team", "blue"),
                    pod("c")
                )])]),
                None,
            ),
            change("y", "team", "blue"),
            &[
                "ingress",
                "namespace-label-change",
                "peer-pods-and-namespaces",
            ],
        ),
    ];
    specs
        .into_iter()
        .map(|(slug, yaml, label, tags)| {
            let mut case = Case::new(
                TAG,
                format!("label-{slug}"),
                format!(
                    "While the policy is in force, {} gets {}={}.",
                    label.target, label.key, label.value
                ),
            )
            .tag(&["label-change"])
            .tag(tags)
            .policy(yaml);
            case.labels.push(label);
            case
        })
        .collect()
}
