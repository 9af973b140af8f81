//! The `netpol-harness` binary, with docker, kind and kubectl faked at the process boundary:
//! shell scripts on `PATH` that log their command lines.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use netpol_harness::report::matrix::CompatMatrix;
use netpol_harness::report::results::{RunResults, ScenarioResult, StepResult, StepStatus};

const BIN: &str = env!("CARGO_BIN_EXE_netpol-harness");

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let sandbox = Sandbox {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(sandbox.bin()).unwrap();
        std::fs::create_dir_all(sandbox.tmp()).unwrap();
        sandbox
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("calls.log")
    }

    /// A fake `name`: logs `name ARGS`, runs `body` (POSIX sh, builtins only), exits 0.
    fn fake(&self, name: &str, body: &str) -> &Self {
        let path = self.bin().join(name);
        let script =
            format!("#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> \"$FAKE_LOG\"\n{body}\nexit 0\n");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    /// docker, kind and kubectl that work, on a machine with no cluster yet.
    fn healthy(&self) -> &Self {
        self.fake(
            "docker",
            // A fresh machine: `docker image inspect` finds no node image.
            r#"case "$1" in info) echo 29.0.1 ;; image) echo 'Error: No such image' >&2; exit 1 ;; esac"#,
        )
        .fake(
            "kind",
            r#"case "$*" in "version") echo "kind v0.32.0 go1.24.6 linux/amd64" ;; esac"#,
        )
        .fake(
            "kubectl",
            r#"case "$*" in *"get configmap netpol-harness"*) echo 'Error from server (NotFound)' >&2; exit 1 ;;
  *"get pod netpol-harness-internet"*) echo Succeeded ;; esac"#,
        )
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// Runs the binary with only the fakes on `PATH`.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("PATH", self.bin())
            .env("TMPDIR", self.tmp())
            .env("FAKE_LOG", self.log())
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn up_drives_the_real_tools_and_says_what_is_next() {
    let sandbox = Sandbox::new();
    sandbox.healthy();
    let out = sandbox.run(&["up", "--cni", "kindnet", "--name", "np"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");

    let config = sandbox.tmp().join("netpol-harness-np-kind-kindnet.yaml");
    let agnhost = "registry.k8s.io/e2e-test-images/agnhost:2.66.1";
    let node_image = netpol_harness::provision::cni::CniProfile::by_name("kindnet")
        .unwrap()
        .node_image;
    let calls = sandbox.calls();
    let expected_start = [
        "docker info --format {{.ServerVersion}}".to_string(),
        "kind version".into(),
        "kubectl version --client".into(),
        "docker info --format {{json .}}".into(),
        "kind get clusters".into(),
        // The lane's node image, not present: pulled (with retries) before kind would pull it.
        format!("docker image inspect --format {{{{.Id}}}} {node_image}"),
        format!("docker pull {node_image}"),
        format!("kind create cluster --name np --config {} --wait 0s", config.display()),
        "kubectl --context kind-np -n kube-system create configmap netpol-harness --from-literal=cni=kindnet --from-literal=version=kind v0.32.0".into(),
    ];
    assert_eq!(calls[..9], expected_start, "{calls:#?}");
    assert!(calls[9].starts_with(
        "kubectl --context kind-np -n kube-system rollout status ds/kindnet --timeout="
    ));
    // The probe image and every image the scenarios run are pulled and loaded, each once.
    for image in [
        agnhost,
        "docker.io/library/nginx:1.27",
        "registry.k8s.io/e2e-test-images/busybox:1.36.1-1",
    ] {
        for call in [
            format!("docker pull {image}"),
            format!("kind load docker-image {image} --name np"),
        ] {
            assert_eq!(
                calls.iter().filter(|c| **c == call).count(),
                1,
                "{call} in {calls:#?}"
            );
        }
    }
    // Preloading ends, then a pod checks internet access and the marker records it.
    let last_load = calls
        .iter()
        .rposition(|c| c.starts_with("kind load docker-image "))
        .unwrap();
    assert!(
        calls[last_load + 1..]
            .iter()
            .any(|c| c.contains("run netpol-harness-internet")),
        "{calls:#?}"
    );
    assert!(
        calls
            .last()
            .unwrap()
            .ends_with(r#"-p {"data":{"internet":"yes"}}"#),
        "{calls:#?}"
    );
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("disableDefaultCNI: false")
    );

    assert!(
        stderr.contains("checking docker, kind and kubectl"),
        "{stderr}"
    );
    assert!(stderr.contains("creating kind cluster `np`"), "{stderr}");
    assert!(
        stdout.contains("kind cluster `np` is ready (created in"),
        "{stdout}"
    );
    assert!(
        stdout.contains("kindnet kind v0.32.0, kube context kind-np"),
        "{stdout}"
    );
    assert!(stdout.contains("note: kindnet fails open"), "{stdout}");
    assert!(
        stdout.contains(
            "next: netpol-harness run --all --cni kindnet --context kind-np --report out/kindnet"
        ),
        "{stdout}"
    );
}

#[test]
fn up_without_docker_fails_cleanly_and_points_to_plan() {
    let sandbox = Sandbox::new();
    sandbox.healthy();
    std::fs::remove_file(sandbox.bin().join("docker")).unwrap();
    let out = sandbox.run(&["up", "--cni", "calico", "--no-preload"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: cannot provision a kind cluster:"),
        "{stderr}"
    );
    assert!(stderr.contains("docker: not found on PATH"), "{stderr}");
    assert!(stderr.contains("`netpol-harness plan`"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!sandbox.calls().iter().any(|c| c.starts_with("kind create")));
}

#[test]
fn up_reports_a_failing_install_with_its_stderr() {
    let sandbox = Sandbox::new();
    sandbox.healthy().fake(
        "kubectl",
        r#"case "$*" in
  *"get configmap netpol-harness"*) exit 1 ;;
  *"apply --server-side"*) echo 'error: unable to recognize "kube-flannel.yml": no matches for kind "DaemonSet"' >&2; exit 1 ;;
esac"#,
    );
    sandbox.fake(
        "kind",
        r#"case "$*" in "version") echo "kind v0.32.0" ;; "get nodes --name netpol") echo netpol-control-plane ;; esac"#,
    );
    let out = sandbox.run(&["up", "--cni", "flannel", "--no-preload"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("v0.28.9/kube-flannel.yml` failed (exit status 1)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no matches for kind \"DaemonSet\""),
        "{stderr}"
    );
}

#[test]
fn up_rejects_an_unknown_cni_with_the_known_ones() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(&["up", "--cni", "weave"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(
            "calico, calico-3.31, calico-dual, cilium, cilium-dual, kindnet, antrea, flannel, kube-network-policies"
        )
    );
    assert!(sandbox.calls().is_empty());
}

#[test]
fn down_deletes_only_an_existing_cluster() {
    let sandbox = Sandbox::new();
    sandbox.fake("kind", r#"case "$*" in "get clusters") echo other ;; esac"#);
    let out = sandbox.run(&["down"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("no kind cluster named `netpol`: nothing to delete"));
    assert_eq!(sandbox.calls(), ["kind get clusters"]);

    sandbox.fake(
        "kind",
        r#"case "$*" in "get clusters") echo other; echo np ;; esac"#,
    );
    // No kubectl answers for it: not provably ours, so not deleted without --force.
    let out = sandbox.run(&["down", "--name", "np"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("Pass --force"),
        "{}",
        text(&out.stderr)
    );
    assert!(!sandbox.calls().iter().any(|c| c.starts_with("kind delete")));

    sandbox.fake(
        "kubectl",
        r#"case "$*" in *"get configmap netpol-harness"*) echo kindnet ;; esac"#,
    );
    let out = sandbox.run(&["down", "--name", "np"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("deleted kind cluster `np`"));
    assert_eq!(
        sandbox.calls()[sandbox.calls().len() - 3..],
        [
            "kind get clusters",
            "kubectl --context kind-np -n kube-system get configmap netpol-harness -o jsonpath={.data.cni}",
            "kind delete cluster --name np"
        ]
    );

    std::fs::remove_file(sandbox.bin().join("kubectl")).unwrap();
    let out = sandbox.run(&["down", "--name", "np", "--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        sandbox.calls().last().unwrap(),
        "kind delete cluster --name np"
    );
}

fn write_results(dir: &Path, cni: &str, status: StepStatus) -> PathBuf {
    let mut results = RunResults::new(cni);
    results.scenarios.push(ScenarioResult {
        name: "demo".into(),
        title: "Demo".into(),
        steps: vec![StepResult {
            name: "deny-all".into(),
            status,
            reason: None,
            issue_url: None,
            deny_style: None,
            note: None,
            measures: Default::default(),
        }],
        duration_ms: None,
    });
    let path = dir.join(cni).join("results.json");
    results.write(&path).unwrap();
    path
}

#[test]
fn matrix_reads_files_and_directories_in_every_format() {
    let sandbox = Sandbox::new();
    let calico = write_results(sandbox.dir.path(), "calico", StepStatus::Pass);
    write_results(sandbox.dir.path(), "flannel", StepStatus::NotEnforced);
    let flannel_dir = sandbox.dir.path().join("flannel");
    let (calico, flannel_dir) = (calico.to_str().unwrap(), flannel_dir.to_str().unwrap());

    let md = sandbox.run(&["matrix", calico, flannel_dir]);
    assert!(md.status.success(), "{}", text(&md.stderr));
    let md = text(&md.stdout);
    assert!(
        md.contains("| **Demo** (demo) | deny-all | ✅ | 🚫 |"),
        "{md}"
    );
    assert!(md.contains("Legend: ✅ pass"), "{md}");

    let json = sandbox.run(&[
        "matrix",
        calico,
        flannel_dir,
        "--output",
        "json",
        "--expect",
        "cilium",
    ]);
    let m: CompatMatrix = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(m.cnis, ["calico", "flannel", "cilium"]);
    assert_eq!(m.missing, ["cilium"]);

    let page = sandbox.dir.path().join("matrix.html");
    let html = sandbox.run(&[
        "matrix",
        calico,
        "--output",
        "html",
        "--out",
        page.to_str().unwrap(),
    ]);
    assert!(html.status.success());
    assert!(html.stdout.is_empty());
    assert!(
        std::fs::read_to_string(&page)
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
}

#[test]
fn matrix_errors_are_messages_not_panics() {
    let sandbox = Sandbox::new();
    let bad = sandbox.dir.path().join("results.json");
    std::fs::write(&bad, "{\"cni\": 3}").unwrap();
    let out = sandbox.run(&["matrix", bad.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains("is not a netpol-harness results file"),
        "{stderr}"
    );

    let out = sandbox.run(&["matrix", "/nonexistent/results.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/results.json"));

    let out = sandbox.run(&["matrix"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "no results and nothing expected is a usage error"
    );
    let out = sandbox.run(&["matrix", "--output", "pdf", "x"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_lists_the_subcommands() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = text(&out.stdout);
    for sub in ["up", "down", "matrix"] {
        assert!(help.contains(&format!("  {sub} ")), "{help}");
    }
}
