//! Small builders for policy tests: manifests as YAML text, and questions to the oracle by name.

use std::path::Path;

use crate::analysis::Analysis;
use crate::manifest::{ManifestError, parse_str};
use crate::oracle::{Oracle, Packet, Peer, ProbePort, Verdict};

/// A namespace with labels.
pub fn ns(name: &str, labels: &[(&str, &str)]) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels: {}\n---\n",
        map(labels)
    )
}

/// A pod with labels and container ports `(name, port, protocol)` (an empty name for none).
pub fn pod(
    namespace: &str,
    name: &str,
    labels: &[(&str, &str)],
    ports: &[(&str, u16, &str)],
) -> String {
    pod_as(namespace, name, labels, ports, "default")
}

/// A pod running as service account `sa`.
pub fn pod_as(
    namespace: &str,
    name: &str,
    labels: &[(&str, &str)],
    ports: &[(&str, u16, &str)],
    sa: &str,
) -> String {
    let ports = ports
        .iter()
        .map(|(n, p, proto)| {
            if n.is_empty() {
                format!("{{containerPort: {p}, protocol: {proto}}}")
            } else {
                format!("{{name: {n}, containerPort: {p}, protocol: {proto}}}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels: {}\nspec:\n  serviceAccountName: {sa}\n  containers:\n  - name: c\n    image: x\n    ports: [{ports}]\n---\n",
        map(labels)
    )
}

fn map(labels: &[(&str, &str)]) -> String {
    let body = labels
        .iter()
        .map(|(k, v)| format!("{k:?}: {v:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{{{body}}}")
}

/// Loads `yaml` (file name `t.yaml`) into an analysis.
pub fn load(yaml: &str) -> Result<Analysis, ManifestError> {
    let docs = parse_str(Path::new("t.yaml"), yaml)?;
    Analysis::from_documents(&docs, crate::model::DEFAULT_POD_CIDR.parse().expect("CIDR"))
}

/// Like [`load`], panicking with the error.
pub fn analysis(yaml: &str) -> Analysis {
    load(yaml).unwrap_or_else(|e| panic!("{e}"))
}

/// The error `yaml` is refused with, as text.
pub fn refusal(yaml: &str) -> String {
    match load(yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

/// `ns/name` as an endpoint, anything else as an outside address.
pub fn peer(oracle: &Oracle<'_>, name: &str) -> Peer {
    if name.contains('/') {
        Peer::Endpoint(
            oracle
                .cluster()
                .endpoint(name)
                .unwrap_or_else(|| panic!("no endpoint {name}")),
        )
    } else {
        Peer::External(name.parse().expect("an IP address"))
    }
}

/// The packet `from → to` for a probe such as `80/TCP` or `ICMP`.
pub fn packet(oracle: &Oracle<'_>, from: &str, to: &str, probe: &str) -> Packet {
    let probe: ProbePort = probe.parse().expect("a probe");
    Packet {
        from: peer(oracle, from),
        to: peer(oracle, to),
        protocol: probe.protocol,
        port: probe.port,
    }
}

/// The verdict and its explanation for `from → to`.
pub fn ask(a: &Analysis, from: &str, to: &str, probe: &str) -> (Verdict, String) {
    let oracle = a.oracle();
    let p = packet(&oracle, from, to, probe);
    let v = oracle.verdict(&p);
    let text = oracle.explain(&p, &v);
    (v, text)
}

/// Whether `from → to` is allowed.
pub fn allowed(a: &Analysis, from: &str, to: &str, probe: &str) -> bool {
    ask(a, from, to, probe).0.allowed
}
