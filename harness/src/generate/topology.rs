//! The fixed topology every generated scenario runs on: namespaces x, y, z, each with pods a, b,
//! c, as the upstream Netpol e2e suite builds it (kubernetes/kubernetes
//! test/e2e/network/netpol/kubemanager.go, transcribed in this repository's
//! `harness/tests/fixtures/upstream-e2e/model.yaml`): pods labelled only `pod=<name>`, one agnhost
//! container per port and protocol named `cont-<port>-<proto>`, its one containerPort named
//! `serve-<port>-<proto>`; TCP and UDP served by `serve-hostname`, SCTP by `porter`.

use std::fmt::Write as _;

use crate::cluster::SLOT_LABEL;
use crate::model::Protocol;

/// The namespaces.
pub const NAMESPACES: [&str; 3] = ["x", "y", "z"];

/// The pods in every namespace.
pub const PODS: [&str; 3] = ["a", "b", "c"];

/// The ports every pod serves, on every protocol of [`PROTOCOLS`].
pub const PORTS: [u16; 2] = [80, 81];

/// The protocols every pod serves.
pub const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

/// The agnhost image (the tag the upstream e2e fixtures of this repository use).
pub const IMAGE: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53";

/// The worker slot ([`SLOT_LABEL`]) a pod is placed in: b in slot 2, a and c in slot 1, so
/// that of the 72 ordered pairs of distinct pods, 36 are same-node (a↔c, and pods of one name
/// across namespaces) and 36 cross-node (b with a or c).
pub fn slot(pod: &str) -> &'static str {
    if pod == "b" { "2" } else { "1" }
}

/// The file the topology is written to, in every generated scenario.
pub const FILE: &str = "topology.yaml";

/// Every endpoint, `namespace/pod`, namespace-major (x/a, x/b, …, z/c).
pub fn endpoints() -> Vec<String> {
    NAMESPACES
        .iter()
        .flat_map(|ns| PODS.iter().map(move |p| format!("{ns}/{p}")))
        .collect()
}

/// Lower-case protocol name, as in container and port names.
pub fn proto_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
        Protocol::Icmp => "icmp",
    }
}

/// The containerPort name serving `port` on `protocol` (`serve-80-tcp`).
pub fn port_name(port: u16, protocol: Protocol) -> String {
    format!("serve-{port}-{}", proto_name(protocol))
}

/// The topology's manifests: the nine pods. The namespaces are the scenario's own (`namespaces:`,
/// created first and deleted last), with no labels of their own: policies select the API
/// server's `kubernetes.io/metadata.name`.
///
/// Each pod requires a node in its [`slot`] (the kind configs label their two workers) or, as a
/// second node selector term (terms are ORed: Arnavion/k8s-openapi@v0.29.0:
/// src/v1_36/api/core/v1/node_selector.rs), a node without the slot label at all: on a cluster
/// whose nodes carry no slot label (one worker of the user's own config) the pods schedule
/// anywhere, and the cells record where they landed.
pub fn manifest() -> String {
    let mut out = String::from(
        "# The generated suites' topology, as the upstream Netpol e2e suite builds it\n\
         # (kubernetes/kubernetes test/e2e/network/netpol/kubemanager.go): namespaces x, y, z,\n\
         # pods a, b, c in each, labelled pod=<name>, one agnhost container per port and protocol.\n\
         # a and c run on the worker labelled netpol-harness.io/slot=1, b on slot=2 (when the\n\
         # nodes carry that label), so that the matrix has same-node and cross-node cells.\n",
    );
    for ns in NAMESPACES {
        for pod in PODS {
            let _ = write!(
                out,
                "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\n  namespace: {ns}\n  labels:\n    pod: {pod}\nspec:\n  terminationGracePeriodSeconds: 0\n  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchExpressions: [{{key: {SLOT_LABEL}, operator: In, values: [\"{slot}\"]}}]\n        - matchExpressions: [{{key: {SLOT_LABEL}, operator: DoesNotExist}}]\n  containers:\n",
                slot = slot(pod)
            );
            for protocol in PROTOCOLS {
                for port in PORTS {
                    container(&mut out, port, protocol);
                }
            }
        }
    }
    out
}

fn container(out: &mut String, port: u16, protocol: Protocol) {
    let p = proto_name(protocol);
    let _ = writeln!(out, "  - name: cont-{port}-{p}\n    image: {IMAGE}");
    match protocol {
        Protocol::Sctp => {
            let _ = writeln!(
                out,
                "    args: [porter]\n    env:\n    - {{name: SERVE_SCTP_PORT_{port}, value: foo}}"
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "    command: [/agnhost, serve-hostname, --{p}, --http=false, --port, \"{port}\"]"
            );
        }
    }
    let _ = writeln!(
        out,
        "    ports:\n    - {{name: {}, containerPort: {port}, protocol: {}}}",
        port_name(port, protocol),
        p.to_uppercase()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_the_pairs_of_distinct_pods_cross_nodes_and_every_pod_asks_for_its_slot() {
        let pods = endpoints();
        let slot_of = |e: &str| slot(e.rsplit('/').next().unwrap());
        let (mut same, mut cross) = (0, 0);
        for a in &pods {
            for b in pods.iter().filter(|b| *b != a) {
                if slot_of(a) == slot_of(b) {
                    same += 1;
                } else {
                    cross += 1;
                }
            }
        }
        assert_eq!((same, cross), (36, 36));
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&manifest()).unwrap();
        assert_eq!(docs.len(), 9);
        for doc in &docs {
            let pod = doc["metadata"]["name"].as_str().unwrap();
            let terms = &doc["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"];
            assert_eq!(
                terms,
                &serde_json::json!([
                    {"matchExpressions": [{"key": SLOT_LABEL, "operator": "In", "values": [slot(pod)]}]},
                    {"matchExpressions": [{"key": SLOT_LABEL, "operator": "DoesNotExist"}]}
                ]),
                "{pod}"
            );
        }
    }
}
