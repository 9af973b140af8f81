//! Policies that combine: every pair of small policies applied together.

use super::{Rule, TAG, policy};
use crate::capability::Capability;
use crate::generate::Case;
use crate::generate::yaml::{labels, ns};

/// Small policies that pairs of are applied together.
fn pieces() -> Vec<(
    &'static str,
    String,
    &'static [&'static str],
    &'static [Capability],
)> {
    let pod = |p: &str| labels("pod", p);
    let rule = |peers: Option<Vec<String>>, ports: Option<Vec<&str>>| Rule {
        peers,
        ports: ports.map(|p| p.into_iter().map(String::from).collect()),
    };
    vec![
        (
            "x-deny-ingress",
            policy("x-deny-ingress", "x", "{}", Some(&["Ingress"]), None, None),
            &["ingress", "deny-all"][..],
            &[][..],
        ),
        (
            "xa-from-pod-b-any-ns",
            policy(
                "xa-from-pod-b-any-ns",
                "x",
                &pod("a"),
                Some(&["Ingress"]),
                Some(&[rule(
                    Some(vec![format!(
                        "{{namespaceSelector: {{}}, podSelector: {}}}",
                        pod("b")
                    )]),
                    None,
                )]),
                None,
            ),
            &["ingress", "peer-pods-and-namespaces"],
            &[],
        ),
        (
            "xa-port-81",
            policy(
                "xa-port-81",
                "x",
                &pod("a"),
                Some(&["Ingress"]),
                Some(&[rule(None, Some(vec!["{port: 81}"]))]),
                None,
            ),
            &["ingress", "port-number"],
            &[],
        ),
        (
            "y-deny-egress",
            policy("y-deny-egress", "y", "{}", Some(&["Egress"]), None, None),
            &["egress", "deny-all"],
            &[],
        ),
        (
            "yb-egress-to-x",
            policy(
                "yb-egress-to-x",
                "y",
                &pod("b"),
                Some(&["Egress"]),
                None,
                Some(&[rule(
                    Some(vec![format!("{{namespaceSelector: {}}}", ns("x"))]),
                    None,
                )]),
            ),
            &["egress", "peer-namespaces"],
            &[],
        ),
        (
            "zc-udp-only",
            policy(
                "zc-udp-only",
                "z",
                &pod("c"),
                Some(&["Ingress"]),
                Some(&[rule(None, Some(vec!["{protocol: UDP}"]))]),
                None,
            ),
            &["ingress", "protocol-only", "udp"],
            &[],
        ),
        (
            "xa-egress-to-pod-c",
            policy(
                "xa-egress-to-pod-c",
                "x",
                &pod("a"),
                Some(&["Egress"]),
                None,
                Some(&[rule(
                    Some(vec![format!(
                        "{{namespaceSelector: {{}}, podSelector: {}}}",
                        pod("c")
                    )]),
                    None,
                )]),
            ),
            &["egress", "peer-pods-and-namespaces"],
            &[],
        ),
        (
            "x-from-y-named-80",
            policy(
                "x-from-y-named-80",
                "x",
                "{}",
                Some(&["Ingress"]),
                Some(&[rule(
                    Some(vec![format!("{{namespaceSelector: {}}}", ns("y"))]),
                    Some(vec!["{port: serve-80-tcp}"]),
                )]),
                None,
            ),
            &["ingress", "named-port", "peer-namespaces"],
            &[Capability::NamedPorts],
        ),
    ]
}

/// Every pair of [`pieces`], applied together.
pub(super) fn combine_cases() -> Vec<Case> {
    let pieces = pieces();
    let mut out = Vec::new();
    for (i, a) in pieces.iter().enumerate() {
        for b in &pieces[i + 1..] {
            out.push(
                Case::new(
                    TAG,
                    format!("combine-{}-with-{}", a.0, b.0),
                    format!("{} and {} together.", a.0, b.0),
                )
                .tag(&["combine"])
                .tag(a.2)
                .tag(b.2)
                .require(a.3)
                .require(b.3)
                .policy(a.1.clone())
                .policy(b.1.clone()),
            );
        }
    }
    out
}
