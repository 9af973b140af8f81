//! Ask the oracle what a set of manifests allows, and why — the library behind
//! `netpol-harness analyze`.
//!
//! ```sh
//! cargo run --example analyze_manifests
//! ```
//!
//! The manifests are the Calico trap this project was built around: a Kubernetes NetworkPolicy
//! (order 1000) allows lorem-ipsum only TCP 8080 out, yet DNS still works on Calico, because no
//! rule of it matches UDP 53 and evaluation falls through to a GlobalNetworkPolicy at order 2000.

use std::path::Path;

use netpol_harness::analysis::Analysis;
use netpol_harness::manifest::parse_str;
use netpol_harness::model::DEFAULT_POD_CIDR;
use netpol_harness::oracle::{Oracle, ProbePort};

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {netpol_deny_all: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: lorem-ipsum, namespace: team-a}
spec:
  selector: {matchLabels: {app: lorem-ipsum}}
  template:
    metadata: {labels: {app: lorem-ipsum}}
    spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec: {containers: [{name: dns, image: coredns, ports: [{containerPort: 53, protocol: UDP}]}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: global-deny-all}
spec:
  order: 2000
  types: [Ingress, Egress]
  egress:
  - {action: Allow, source: {namespaceSelector: "!has(netpol_deny_all)"}}
  - action: Allow
    protocol: UDP
    source: {namespaceSelector: "netpol_deny_all == 'enabled'"}
    destination: {nets: [0.0.0.0/0], ports: [53]}
  ingress:
  - {action: Allow, destination: {namespaceSelector: "!has(netpol_deny_all)"}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lorem-ipsum, namespace: team-a}
spec:
  podSelector: {matchLabels: {app: lorem-ipsum}}
  policyTypes: [Ingress, Egress]
  egress: [{ports: [{port: 8080}]}]
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Manifests → documents (each remembers its file, document number and line) → the model
    // and the policies. A bad field fails here, naming file, document and field.
    let docs = parse_str(Path::new("example.yaml"), MANIFESTS)?;
    let analysis = Analysis::from_documents(&docs, DEFAULT_POD_CIDR.parse()?)?;

    // The oracle matches every selector against every endpoint once, here.
    let oracle = analysis.oracle();
    let lorem = analysis
        .cluster
        .endpoint("team-a/lorem-ipsum")
        .ok_or("no lorem-ipsum")?;
    let dns = analysis
        .cluster
        .endpoint("kube-system/coredns")
        .ok_or("no coredns")?;

    for probe in ["53/UDP", "53/TCP"] {
        let packet = Oracle::packet(lorem, dns, probe.parse::<ProbePort>()?);
        let verdict = oracle.verdict(&packet);
        println!(
            "{probe}: {}\n  {}\n",
            if verdict.allowed {
                "allowed"
            } else {
                "blocked"
            },
            oracle.explain(&packet, &verdict)
        );
    }
    Ok(())
}
