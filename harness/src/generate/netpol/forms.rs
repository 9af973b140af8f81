//! The peer and ports forms NetworkPolicy rules are built from (also drawn on by the random
//! suite).

use crate::capability::Capability;
use crate::generate::yaml::{expr, labels, ns};
use crate::model::DEFAULT_POD_CIDR;

/// A peer form: slug, `from`/`to` entries, tags, requirements.
pub(in crate::generate) struct Peer {
    pub(in crate::generate) slug: &'static str,
    pub(in crate::generate) yaml: Vec<String>,
    pub(in crate::generate) tags: &'static [&'static str],
    pub(in crate::generate) requires: &'static [Capability],
}

pub(in crate::generate) fn peers() -> Vec<Peer> {
    let pod = |p: &str| labels("pod", p);
    let cidr = DEFAULT_POD_CIDR;
    vec![
        Peer {
            slug: "pod-b",
            yaml: vec![format!("{{podSelector: {}}}", pod("b"))],
            tags: &["peer-pods"],
            requires: &[],
        },
        Peer {
            slug: "all-pods-in-ns",
            yaml: vec!["{podSelector: {}}".into()],
            tags: &["peer-pods", "empty-selector"],
            requires: &[],
        },
        Peer {
            slug: "ns-y",
            yaml: vec![format!("{{namespaceSelector: {}}}", ns("y"))],
            tags: &["peer-namespaces"],
            requires: &[],
        },
        Peer {
            slug: "ns-y-and-pod-b",
            yaml: vec![format!(
                "{{namespaceSelector: {}, podSelector: {}}}",
                ns("y"),
                pod("b")
            )],
            tags: &["peer-pods-and-namespaces"],
            requires: &[],
        },
        Peer {
            slug: "pod-b-or-ns-z",
            yaml: vec![
                format!("{{podSelector: {}}}", pod("b")),
                format!("{{namespaceSelector: {}}}", ns("z")),
            ],
            tags: &["peer-pods", "peer-namespaces", "multiple-peers"],
            requires: &[],
        },
        Peer {
            slug: "pod-in-b-c",
            yaml: vec![format!(
                "{{podSelector: {}}}",
                expr("pod", "In", &["b", "c"])
            )],
            tags: &["peer-pods", "match-expressions"],
            requires: &[],
        },
        Peer {
            slug: "ns-not-in-x",
            yaml: vec![format!(
                "{{namespaceSelector: {}}}",
                expr("kubernetes.io/metadata.name", "NotIn", &["x"])
            )],
            tags: &["peer-namespaces", "match-expressions"],
            requires: &[],
        },
        Peer {
            slug: "any-ns-pod-not-in-a",
            yaml: vec![format!(
                "{{namespaceSelector: {{}}, podSelector: {}}}",
                expr("pod", "NotIn", &["a"])
            )],
            tags: &[
                "peer-pods-and-namespaces",
                "match-expressions",
                "empty-selector",
            ],
            requires: &[],
        },
        Peer {
            slug: "ipblock-pod-cidr",
            yaml: vec![format!("{{ipBlock: {{cidr: {cidr}}}}}")],
            tags: &["ipblock"],
            requires: &[Capability::IpblockPodIp],
        },
        Peer {
            slug: "ipblock-except-pod-cidr",
            yaml: vec![format!(
                "{{ipBlock: {{cidr: 0.0.0.0/0, except: [{cidr}]}}}}"
            )],
            tags: &["ipblock", "ipblock-except"],
            requires: &[Capability::IpblockPodIp],
        },
    ]
}

/// A ports form: slug, `ports` entries (absent when `None`), tags, requirements.
pub(in crate::generate) struct Ports {
    pub(in crate::generate) slug: &'static str,
    pub(in crate::generate) yaml: Option<Vec<&'static str>>,
    pub(in crate::generate) tags: &'static [&'static str],
    pub(in crate::generate) requires: &'static [Capability],
}

pub(in crate::generate) fn ports() -> Vec<Ports> {
    vec![
        Ports {
            slug: "any-port",
            yaml: None,
            tags: &["port-any"],
            requires: &[],
        },
        Ports {
            slug: "tcp-80",
            yaml: Some(vec!["{port: 80}"]),
            tags: &["port-number", "default-protocol"],
            requires: &[],
        },
        Ports {
            slug: "udp-81",
            yaml: Some(vec!["{protocol: UDP, port: 81}"]),
            tags: &["port-number", "udp"],
            requires: &[],
        },
        Ports {
            slug: "sctp-80",
            yaml: Some(vec!["{protocol: SCTP, port: 80}"]),
            tags: &["port-number", "sctp"],
            requires: &[],
        },
        Ports {
            slug: "named-serve-81-tcp",
            yaml: Some(vec!["{port: serve-81-tcp}"]),
            tags: &["named-port"],
            requires: &[Capability::NamedPorts],
        },
        Ports {
            slug: "named-serve-80-udp",
            yaml: Some(vec!["{protocol: UDP, port: serve-80-udp}"]),
            tags: &["named-port", "udp"],
            requires: &[Capability::NamedPorts],
        },
        Ports {
            slug: "range-udp-81-90",
            yaml: Some(vec!["{protocol: UDP, port: 81, endPort: 90}"]),
            tags: &["port-range", "udp"],
            requires: &[Capability::EndPort],
        },
        Ports {
            slug: "range-tcp-70-80",
            yaml: Some(vec!["{protocol: TCP, port: 70, endPort: 80}"]),
            tags: &["port-range"],
            requires: &[Capability::EndPort],
        },
        Ports {
            slug: "protocol-udp",
            yaml: Some(vec!["{protocol: UDP}"]),
            tags: &["protocol-only", "udp"],
            requires: &[],
        },
        Ports {
            slug: "protocol-sctp",
            yaml: Some(vec!["{protocol: SCTP}"]),
            tags: &["protocol-only", "sctp"],
            requires: &[],
        },
        Ports {
            slug: "tcp-81-and-udp-80",
            yaml: Some(vec!["{port: 81}", "{protocol: UDP, port: 80}"]),
            tags: &["port-number", "multiple-ports", "udp"],
            requires: &[],
        },
    ]
}
