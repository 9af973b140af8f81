//! `netpol-harness analyze --context` from the outside, against an API server stand-in on
//! loopback (plain HTTP, canned list answers): the table it prints, the diff against files laid
//! over the cluster, an unknown context, and that it only ever sends GET requests.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_netpol-harness");

/// The list answer for `path`, if the stand-in serves it.
fn answer(path: &str) -> Option<Value> {
    let pod = |ns: &str, name: &str, app: &str, ip: &str| {
        json!({"metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x",
                "ports": [{"containerPort": 80}]}]},
            "status": {"phase": "Running", "podIP": ip}})
    };
    let items = match path {
        "/api/v1/namespaces" => json!([
            {"metadata": {"name": "shop"}},
            {"metadata": {"name": "edge", "labels": {"team": "edge"}}}
        ]),
        "/api/v1/nodes" | "/api/v1/serviceaccounts" | "/api/v1/services" => json!([]),
        "/api/v1/pods" => json!([
            pod("edge", "client", "client", "10.1.0.5"),
            pod("shop", "web-1", "web", "10.1.0.11"),
            pod("shop", "web-2", "web", "10.1.0.12")
        ]),
        "/apis/networking.k8s.io/v1/networkpolicies" => json!([
            {"metadata": {"name": "web-from-edge", "namespace": "shop"},
             "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "edge"}}}]}]}}
        ]),
        _ => return None,
    };
    Some(json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}))
}

/// Serves [`answer`] on 127.0.0.1 (one request per connection), recording each request line.
fn serve() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            log.lock().unwrap().push(request.trim().to_string());
            let path = request
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .split('?')
                .next()
                .unwrap_or("")
                .to_string();
            let (status, body) = match answer(&path) {
                Some(v) => ("200 OK", v),
                None => (
                    "404 Not Found",
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "NotFound", "code": 404, "message": "not found"}),
                ),
            };
            let body = serde_json::to_vec(&body).unwrap();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    (port, seen)
}

struct Setup {
    dir: tempfile::TempDir,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Setup {
    fn new() -> Setup {
        let (port, seen) = serve();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("kubeconfig"),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster: {{server: \"http://127.0.0.1:{port}\"}}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: prod\n  context: {{cluster: stand-in, user: u}}\ncurrent-context: prod\n"
            ),
        )
        .unwrap();
        Setup { dir, seen }
    }

    fn analyze(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("analyze")
            .args(args)
            .current_dir(self.dir.path())
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .env("HOME", self.dir.path())
            .output()
            .unwrap()
    }

    fn only_gets(&self) {
        let seen = self.seen.lock().unwrap();
        assert!(!seen.is_empty());
        for request in seen.iter() {
            assert!(request.starts_with("GET /"), "{request}");
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_live_cluster_is_read_with_gets_and_analyzed() {
    let setup = Setup::new();
    let out = setup.analyze(&["--context", "prod", "--probe", "80"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "note: context prod: not served by the cluster, skipped: projectcalico.org/v3 Tier"
        ),
        "{stderr}"
    );
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["80/TCP"], "{stdout}");
    assert_eq!(
        rows[1],
        ["from", "\\", "to", "client", "web-1", "web-2"],
        "{stdout}"
    );
    assert_eq!(rows[2], ["edge/client", "lo", ".", "."], "{stdout}");
    assert_eq!(rows[3], ["shop/web-1", ".", "lo", "X"], "{stdout}");
    // Real addresses: nothing is assumed.
    assert!(!stdout.contains("assumed"), "{stdout}");
    setup.only_gets();
}

#[test]
fn a_diff_lays_files_over_the_cluster() {
    let setup = Setup::new();
    // The same policy, now also open to the web pods themselves.
    std::fs::write(
        setup.dir.path().join("change.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web-from-edge, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: {team: edge}}}, {podSelector: {matchLabels: {app: web}}}]\n",
    )
    .unwrap();
    let out = setup.analyze(&[
        "--diff",
        "context:prod",
        "--against",
        "context:prod",
        "change.yaml",
        "--fail-on-new-allow",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains("  shop/web-1 → shop/web-2: blocked → allowed")
            && stdout.contains("  shop/web-2 → shop/web-1: blocked → allowed")
            && stdout.contains("2 cell(s) changed, 2 newly allowed"),
        "{stdout}"
    );
    setup.only_gets();
}

#[test]
fn an_unknown_context_is_named_with_the_ones_there_are() {
    let setup = Setup::new();
    let out = setup.analyze(&["--context", "staging"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("context `staging` is not in the kubeconfig (contexts: prod)"),
        "{}",
        text(&out.stderr)
    );
    let out = setup.analyze(&["--diff", "context:", "--against", "x.yaml"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("`context:` needs a kubeconfig context name"),
        "{}",
        text(&out.stderr)
    );
}
