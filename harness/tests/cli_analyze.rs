//! `netpol-harness analyze` from the outside, on a user's own manifests: what it refuses, what it
//! warns about, and each output format.

use std::path::{Path, PathBuf};
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
            && stderr(&out).contains("selects no endpoint")
            && stderr(&out).contains("its document names no namespace")
            && stderr(&out).contains("-n/--namespace"),
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
fn a_host_network_pod_without_a_known_node_address_is_assumed_and_said() {
    // An agent on the host network, scheduled on a node the manifests do not declare: its
    // address is a kind node's (172.18.0.2), an assumption an ipBlock verdict depends on.
    let agent = r#"
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: ns-1, labels: {app: agent}}
spec: {hostNetwork: true, containers: [{name: c, image: busybox}]}
status: {}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-nodes, namespace: ns-1}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 172.18.0.0/16}}]}]
"#;
    let web = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: ns-1, labels: {app: web}}
spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 80}]}]}
status: {podIP: 10.244.0.9}
"#;
    let dir = Dir::new(&[("agent.yaml", agent), ("web.yaml", web)]);
    let out = dir.analyze(&[
        "-f",
        ".",
        "--probe",
        "80",
        "--from",
        "ns-1/agent",
        "--to",
        "ns-1/web",
        "--output",
        "json",
        "--explain",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["assumed_addresses"]["ns-1/agent"], "172.18.0.2",
        "{json}"
    );
    let cell = &json["cells"][0];
    assert_eq!(cell["assumed_address"], true, "{cell}");
    assert!(
        cell["reason"]
            .as_str()
            .unwrap()
            .contains("ns-1/agent 172.18.0.2 from a kind node's address (host network)"),
        "{cell}"
    );
    let out = dir.analyze(&["-f", ".", "--probe", "80"]);
    assert!(
        stdout(&out).contains("host-network pods assumed on a kind node's address")
            && stdout(&out).contains("ns-1/agent 172.18.0.2"),
        "{}",
        stdout(&out)
    );
    // With the node declared (and its address), nothing is assumed.
    let node = "apiVersion: v1\nkind: Node\nmetadata: {name: kind-worker}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.3}]}\n";
    let placed = agent.replace(
        "spec: {hostNetwork: true,",
        "spec: {nodeName: kind-worker, hostNetwork: true,",
    );
    let dir = Dir::new(&[
        ("agent.yaml", &placed),
        ("web.yaml", web),
        ("node.yaml", node),
    ]);
    let out = dir.analyze(&["-f", ".", "--probe", "80"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("assumed"), "{}", stdout(&out));
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
            .contains("depends on assumed addresses (")
            && cell["reason"]
                .as_str()
                .unwrap()
                .contains(" from --pod-cidr 10.9.0.0/24"),
        "{cell}"
    );
    // The allowed graph marks the same edge, and says why under the graph.
    let out = dir.analyze(&[
        "-f",
        ".",
        "--pod-cidr",
        "10.9.0.0/24",
        "--probe",
        "80",
        "--output",
        "dot",
    ]);
    let text = stdout(&out);
    assert!(
        text.contains("  \"ns-1/client\" -> \"ns-1/web\" [label=\"80/TCP*\"];")
            && text.contains(
                "  label=\"* depends on pod addresses assumed from --pod-cidr 10.9.0.0/24"
            ),
        "{text}"
    );
    // Without address rules nothing depends on them.
    let dir = Dir::new(&[("app.yaml", APP)]);
    let out = dir.analyze(&["-f", "."]);
    assert!(!stdout(&out).contains("assumed"), "{}", stdout(&out));
    let out = dir.analyze(&["-f", ".", "--output", "dot"]);
    assert!(
        !stdout(&out).contains('*') && !stdout(&out).contains("assumed"),
        "{}",
        stdout(&out)
    );
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

#[test]
fn kubernetes_only_explanations_use_kubernetes_words_and_name_near_misses() {
    let extra = r#"
apiVersion: v1
kind: Namespace
metadata: {name: ingress, labels: {team: edge}}
---
apiVersion: v1
kind: Pod
metadata: {name: proxy, namespace: ingress, labels: {app: proxy}}
spec: {containers: [{name: c, image: envoy}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-ingress, namespace: ns-1}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {name: ingress}}}]
"#;
    let dir = Dir::new(&[("app.yaml", APP), ("extra.yaml", extra)]);
    let out = dir.analyze(&[
        "-f",
        ".",
        "--from",
        "ingress/proxy",
        "--to",
        "ns-1/web",
        "--output",
        "list",
        "--explain",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("ingress to ns-1/web: denied: selected by NetworkPolicy ns-1/web-from-ingress, and no rule allows it"),
        "{text}"
    );
    assert!(
        text.contains("near miss: NetworkPolicy ns-1/web-from-ingress spec.ingress[0].from[0] needs namespace label name=ingress (namespace ingress has no such label)"),
        "{text}"
    );
    assert!(!text.contains("tier"), "{text}");
}

#[test]
fn version_names_the_commit() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    let line = stdout(&out);
    let line = line.trim_end();
    let rest = line
        .strip_prefix(&format!(
            "netpol-harness {} (commit ",
            env!("CARGO_PKG_VERSION")
        ))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line}"));
    // Built from a git checkout: a commit of this repository; without .git: `unknown`.
    let git = Command::new("git")
        .args(["cat-file", "-e", &format!("{rest}^{{commit}}")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    let in_checkout = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.git")
        .exists();
    if in_checkout {
        assert_eq!(rest.len(), 12, "{line}");
        assert!(
            git.unwrap().status.success(),
            "{line}: not a commit of this repository"
        );
    } else {
        assert_eq!(rest, "unknown", "{line}");
    }
}

#[test]
fn diff_shows_changed_cells_with_both_explanations_and_exits_as_asked() {
    let allow_client = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-client, namespace: ns-1}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]
"#;
    let dir = Dir::new(&[
        ("app.yaml", APP),
        ("deny.yaml", DENY_ALL),
        ("allow.yaml", allow_client),
    ]);
    std::fs::create_dir(dir.path("new")).unwrap();
    std::fs::write(dir.path("new/allow.yaml"), allow_client).unwrap();
    // Before: deny-all. After: deny-all plus client → web.
    let args = [
        "-n",
        "ns-1",
        "--diff",
        "app.yaml",
        "deny.yaml",
        "--against",
        "app.yaml",
        "deny.yaml",
        "new",
    ];
    let out = dir.analyze(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("80/TCP\n  ns-1/client → ns-1/web: blocked → allowed\n"),
        "{text}"
    );
    assert!(
        text.contains("    before: egress from ns-1/client: allowed, no policy selects it; ingress to ns-1/web: denied: selected by NetworkPolicy ns-1/deny-all")
            && text.contains("    after:  egress from ns-1/client: allowed, no policy selects it; ingress to ns-1/web: allowed by NetworkPolicy ns-1/web-from-client"),
        "{text}"
    );
    assert!(
        text.ends_with("1 cell(s) changed, 1 newly allowed\n"),
        "{text}"
    );

    let code = |extra: &[&str]| {
        let mut a = args.to_vec();
        a.extend(extra);
        dir.analyze(&a).status.code()
    };
    assert_eq!(code(&["--fail-on-change"]), Some(2));
    assert_eq!(code(&["--fail-on-new-allow"]), Some(2));
    // The other way round nothing is newly allowed, but a cell changed.
    let back = [
        "-n",
        "ns-1",
        "--diff",
        "app.yaml",
        "deny.yaml",
        "new",
        "--against",
        "app.yaml",
        "deny.yaml",
    ];
    let run = |extra: &[&str]| {
        let mut a = back.to_vec();
        a.extend(extra);
        dir.analyze(&a)
    };
    assert_eq!(run(&["--fail-on-new-allow"]).status.code(), Some(0));
    assert_eq!(run(&["--fail-on-change"]).status.code(), Some(2));
    let json: serde_json::Value =
        serde_json::from_slice(&run(&["--output", "json"]).stdout).unwrap();
    assert_eq!(json["changed"], 1, "{json}");
    assert_eq!(json["new_allows"], 0, "{json}");
    assert_eq!(json["changes"][0]["before"], "allowed", "{json}");
    assert_eq!(json["changes"][0]["after"], "blocked", "{json}");
    // Unchanged: nothing but the count, exit 0 even with the flags.
    let same = dir.analyze(&[
        "-n",
        "ns-1",
        "--diff",
        "app.yaml",
        "--against",
        "app.yaml",
        "--fail-on-change",
    ]);
    assert_eq!(same.status.code(), Some(0));
    assert_eq!(stdout(&same), "0 cell(s) changed, 0 newly allowed\n");
}

#[test]
fn probe_to_services_and_outside_addresses_resolves_as_plan_does() {
    let extra = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns-1}
spec:
  selector: {app: web}
  ports: [{port: 8080, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: nothing, namespace: ns-1}
spec:
  selector: {app: none}
  ports: [{port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-client, namespace: ns-1}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-no-egress, namespace: ns-1}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Egress]
"#;
    let dir = Dir::new(&[("app.yaml", APP), ("extra.yaml", extra)]);
    let out = dir.analyze(&[
        "-f",
        ".",
        "--probe-to",
        "svc:ns-1/web:8080",
        "--probe-to",
        "svc:ns-1/nothing:80",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("svc:ns-1/web:8080/TCP (service ns-1/web 8080/TCP → ns-1/web:80)\n  allowed: ns-1/client\n  blocked: ns-1/db, ns-1/web\n"),
        "{text}"
    );
    assert!(
        text.contains("svc:ns-1/nothing:80/TCP\n  not predicted from ns-1/client: service `ns-1/nothing` selects no endpoint"),
        "{text}"
    );
    let out = dir.analyze(&[
        "-f",
        ".",
        "--probe-to",
        "ip:1.1.1.1",
        "--probe",
        "443",
        "--output",
        "json",
        "--explain",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let target = &json["targets"][0];
    assert_eq!(target["target"], "ip:1.1.1.1:443/TCP", "{json}");
    let outcome = |from: &str| {
        target["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["from"] == from)
            .map(|r| {
                (
                    r["outcome"].as_str().unwrap().to_string(),
                    r["reason"].as_str().unwrap().to_string(),
                )
            })
            .unwrap()
    };
    assert_eq!(outcome("ns-1/client").0, "allowed");
    let (db, why) = outcome("ns-1/db");
    assert_eq!(db, "blocked");
    assert!(why.contains("NetworkPolicy ns-1/db-no-egress"), "{why}");
    // A bad target is refused with the syntax.
    let out = dir.analyze(&["-f", ".", "--probe-to", "svc:ns-1/web"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("expected svc:NAMESPACE/NAME:PORT"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn standard_input_is_read_with_dash() {
    use std::io::Write;
    let dir = Dir::new(&[("deny.yaml", DENY_ALL)]);
    let mut child = Command::new(BIN)
        .args([
            "analyze",
            "-f",
            "-",
            "-f",
            "deny.yaml",
            "-n",
            "ns-1",
            "--output",
            "list",
        ])
        .current_dir(dir.0.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(APP.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("blocked:\n    ns-1/client → ns-1/web"),
        "{}",
        stdout(&out)
    );
    // Errors in it name `<stdin>`.
    let mut child = Command::new(BIN)
        .args(["analyze", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(cilium().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("<stdin>: document 1"),
        "{}",
        stderr(&out)
    );
}
