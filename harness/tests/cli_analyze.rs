//! `netpol-harness analyze` from the outside, on a user's own manifests: what it refuses, what it
//! warns about, and each output format.

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_netpol-harness");

/// Two Deployments (`web` serving 80, `client` serving nothing) and a bare Pod `db` serving
/// 5432, in `ns-1`, plus a ConfigMap.
const APP: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: ns-1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ns-1}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: ns-1}
spec:
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: ns-1, labels: {app: db}}
spec: {containers: [{name: c, image: postgres, ports: [{containerPort: 5432}]}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: ns-1}
"#;

/// Ingress deny-all, written for `kubectl apply -n ns-1` (no namespace of its own).
const DENY_ALL: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all}
spec:
  podSelector: {}
  policyTypes: [Ingress]
"#;

struct Dir(tempfile::TempDir);

impl Dir {
    fn new(files: &[(&str, &str)]) -> Dir {
        let dir = Dir(tempfile::tempdir().unwrap());
        for (name, text) in files {
            std::fs::write(dir.path(name), text).unwrap();
        }
        dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    /// Runs `analyze` in the directory (so errors name files relatively).
    fn analyze(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("analyze")
            .args(args)
            .current_dir(self.0.path())
            .output()
            .unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn cilium() -> &'static str {
    r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny, namespace: ns-1}
spec:
  endpointSelector: {}
  ingress: [{}]
"#
}

#[test]
fn other_vendors_policies_are_an_error_naming_file_document_and_kind() {
    let antrea = r#"
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: acnp}
spec: {priority: 5}
"#;
    let dir = Dir::new(&[
        ("app.yaml", APP),
        ("cilium.yaml", &format!("{DENY_ALL}---{}", cilium())),
        ("antrea.yaml", antrea),
    ]);
    let out = dir.analyze(&["-f", "app.yaml", "-f", "cilium.yaml"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cilium.yaml: document 2")
            && err.contains("cilium.io/v2 CiliumNetworkPolicy")
            && err.contains("--ignore-unsupported"),
        "{err}"
    );
    let out = dir.analyze(&["-f", "antrea.yaml"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("crd.antrea.io/v1beta1 ClusterNetworkPolicy"),
        "{}",
        stderr(&out)
    );

    // Told to, it answers without them, and says so over the answer and per kind.
    let out = dir.analyze(&["-f", ".", "-n", "ns-1", "--ignore-unsupported"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("NOTE: this answer IGNORES cilium.io/v2 CiliumNetworkPolicy, crd.antrea.io/v1beta1 ClusterNetworkPolicy"),
        "{text}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("warning: ignored 1 cilium.io/v2 CiliumNetworkPolicy")
            && err.contains("warning: ignored 1 crd.antrea.io/v1beta1 ClusterNetworkPolicy"),
        "{err}"
    );
    let out = dir.analyze(&["-f", ".", "--ignore-unsupported", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ignored"].as_array().unwrap().len(), 2, "{json}");
}

#[test]
fn other_kinds_are_summarised_in_one_line() {
    let dir = Dir::new(&[("app.yaml", APP)]);
    let out = dir.analyze(&["-f", "app.yaml"]);
    assert!(out.status.success());
    let err = stderr(&out);
    let notes: Vec<&str> = err.lines().filter(|l| l.starts_with("note:")).collect();
    assert_eq!(
        notes,
        ["note: not evaluated (kinds that do not change pod-to-pod policy here): 1 v1 ConfigMap"],
        "{err}"
    );
}

#[test]
fn namespace_flag_places_namespace_less_documents_as_kubectl_does() {
    let dir = Dir::new(&[("app.yaml", APP), ("deny.yaml", DENY_ALL)]);
    // Without -n the policy lands in `default`, selects nothing, and that is said.
    let out = dir.analyze(&[
        "-f",
        ".",
        "--from",
        "ns-1/client",
        "--to",
        "ns-1/web",
        "--output",
        "list",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: NetworkPolicy default/deny-all (./deny.yaml: document 1")
            && stderr(&out).contains("selects no endpoint"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("allowed:\n    ns-1/client → ns-1/web"),
        "{}",
        stdout(&out)
    );
    // With -n it is in ns-1, and denies.
    let out = dir.analyze(&[
        "-f",
        ".",
        "-n",
        "ns-1",
        "--from",
        "ns-1/client",
        "--to",
        "ns-1/web",
        "--output",
        "list",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("selects no endpoint"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("blocked:\n    ns-1/client → ns-1/web"),
        "{}",
        stdout(&out)
    );
    // A document naming another namespace is refused, as kubectl refuses it.
    let out = dir.analyze(&["-f", ".", "-n", "other"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("app.yaml: document 2")
            && stderr(&out).contains("metadata.namespace")
            && stderr(&out).contains("`ns-1` does not match `other`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verdicts_that_depend_on_assumed_pod_addresses_say_so() {
    let policy = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-block, namespace: ns-1}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 10.9.0.0/30}}]}]
"#;
    let dir = Dir::new(&[("app.yaml", APP), ("p.yaml", policy)]);
    let out = dir.analyze(&["-f", ".", "--pod-cidr", "10.9.0.0/24", "--probe", "80"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // client, db, web take 10.9.0.1.. in sorted order: client and db fall inside the /30.
    assert!(
        text.contains("* depends on pod addresses assumed from --pod-cidr 10.9.0.0/24")
            && text.contains("ns-1/client 10.9.0.")
            && text
                .lines()
                .any(|l| l.starts_with("ns-1/client") && l.ends_with(".*")),
        "{text}"
    );
    let out = dir.analyze(&[
        "-f",
        ".",
        "--pod-cidr",
        "10.9.0.0/24",
        "--probe",
        "80",
        "--output",
        "json",
        "--explain",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cell = json["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["from"] == "ns-1/client" && c["to"] == "ns-1/web")
        .unwrap();
    assert_eq!(cell["assumed_address"], true, "{cell}");
    assert!(
        cell["reason"]
            .as_str()
            .unwrap()
            .contains("assumed from --pod-cidr 10.9.0.0/24"),
        "{cell}"
    );
    // Without address rules nothing depends on them.
    let dir = Dir::new(&[("app.yaml", APP)]);
    let out = dir.analyze(&["-f", "."]);
    assert!(!stdout(&out).contains("assumed"), "{}", stdout(&out));
}

#[test]
fn tables_probe_only_served_ports_name_columns_and_show_loopback() {
    let dir = Dir::new(&[("app.yaml", APP)]);
    let out = dir.analyze(&["-f", "app.yaml", "--probe", "80"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    // `--probe 80` is TCP.
    assert_eq!(lines[0], "80/TCP");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["from", "\\", "to", "client", "db", "web"],
        "{text}"
    );
    // Nobody serves 80 but web: `-`; the Pod db to itself is loopback; web's replicas bracketed.
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["ns-1/client", "-", "-", "."],
        "{text}"
    );
    assert_eq!(
        lines[4].split_whitespace().collect::<Vec<_>>(),
        ["ns-1/web", "-", "-", "[.]"],
        "{text}"
    );
    let out = dir.analyze(&["-f", "app.yaml", "--probe", "5432/TCP"]);
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["ns-1/db", "-", "lo", "-"]),
        "{text}"
    );
    // --all-ports asks anyway.
    let out = dir.analyze(&["-f", "app.yaml", "--probe", "80", "--all-ports"]);
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["ns-1/client", "[.]", ".", "."]),
        "{text}"
    );
}

#[test]
fn filters_list_json_and_dot() {
    let dir = Dir::new(&[("app.yaml", APP), ("deny.yaml", DENY_ALL)]);
    // list: one line per client, grouped by verdict.
    let out = dir.analyze(&[
        "-f", ".", "-n", "ns-1", "--from", "ns-1/cl*", "--output", "list",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "80/TCP\n  blocked:\n    ns-1/client → ns-1/web\n5432/TCP\n  blocked:\n    ns-1/client → ns-1/db\n"
    );
    // A filter that matches nothing is an error naming it.
    let out = dir.analyze(&["-f", ".", "--to", "nope/*"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--to nope/*: no endpoint matches"),
        "{}",
        stderr(&out)
    );

    // JSON: compact, reasons only with --explain, not-served cells left out.
    let out = dir.analyze(&["-f", "app.yaml", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cells = json["cells"].as_array().unwrap();
    // 80 on web from 3 clients, 5432 on db from 3 clients (db to itself as loopback).
    assert_eq!(cells.len(), 6, "{json}");
    assert!(cells.iter().all(|c| c.get("reason").is_none()), "{json}");
    assert!(
        cells
            .iter()
            .any(|c| c["from"] == "ns-1/db" && c["to"] == "ns-1/db" && c["loopback"] == true)
    );
    let out = dir.analyze(&["-f", "app.yaml", "--output", "json", "--explain"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["cells"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["reason"].is_string()),
        "{json}"
    );

    // dot: the allowed graph.
    let out = dir.analyze(&["-f", "app.yaml", "--output", "dot"]);
    let text = stdout(&out);
    assert!(text.starts_with("digraph allowed {"), "{text}");
    assert!(
        text.contains("  \"ns-1/client\" -> \"ns-1/web\" [label=\"80/TCP\"];"),
        "{text}"
    );
    assert!(!text.contains("\"ns-1/db\" -> \"ns-1/db\""), "{text}");
    let out = dir.analyze(&["-f", ".", "-n", "ns-1", "--output", "dot"]);
    assert!(!stdout(&out).contains("->"), "{}", stdout(&out));
}
