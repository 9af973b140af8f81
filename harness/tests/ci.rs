//! The CI plumbing: the workflows parse and agree with the CNI profiles, every script they call
//! exists and passes shellcheck, and the scripts do what they say against fake tools.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use netpol_harness::provision::cni::{CNI_NAMES, CniProfile};
use netpol_harness::provision::kind::KIND_VERSION;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

fn workflow(name: &str) -> Value {
    let path = repo().join(".github/workflows").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn steps<'a>(wf: &'a Value, job: &str) -> &'a Vec<Value> {
    wf["jobs"][job]["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("job {job} has no steps"))
}

/// The step whose `uses` starts with `action`, or whose `run` contains `run`.
fn step<'a>(wf: &'a Value, job: &str, needle: &str) -> &'a Value {
    steps(wf, job)
        .iter()
        .find(|s| {
            s["uses"].as_str().is_some_and(|u| u.starts_with(needle))
                || s["run"].as_str().is_some_and(|r| r.contains(needle))
        })
        .unwrap_or_else(|| panic!("job {job} has no step with {needle}"))
}

/// Every `ci/*.sh` or `.ci/run` path named in a `run:` of the workflow.
fn scripts_run_by(wf: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for job in wf["jobs"].as_object().expect("jobs").values() {
        for s in job["steps"].as_array().into_iter().flatten() {
            let Some(run) = s["run"].as_str() else {
                continue;
            };
            for word in run.split_whitespace() {
                let word = word.trim_matches(|c| c == '"' || c == '\'');
                if (word.starts_with("ci/") && word.ends_with(".sh")) || word == ".ci/run" {
                    found.insert(word.to_string());
                }
            }
        }
    }
    found
}

#[test]
fn workflows_call_only_scripts_that_exist() {
    for (name, expected) in [
        (
            "nightly.yml",
            vec![
                "ci/collect-logs.sh",
                "ci/matrix-summary.sh",
                "ci/nightly-cni.sh",
                "ci/setup-docker-classic.sh",
            ],
        ),
        ("pr.yml", vec![".ci/run"]),
    ] {
        let scripts = scripts_run_by(&workflow(name));
        assert_eq!(scripts.iter().collect::<Vec<_>>(), expected, "{name}");
        for script in scripts {
            assert!(
                repo().join(&script).is_file(),
                "{name} runs {script}, which does not exist"
            );
        }
    }
}

#[test]
fn nightly_runs_every_cni_profile_and_always_reports() {
    let wf = workflow("nightly.yml");
    assert!(
        wf["on"]["schedule"][0]["cron"].is_string(),
        "no nightly cron"
    );
    assert!(
        wf["on"]
            .as_object()
            .unwrap()
            .contains_key("workflow_dispatch")
    );

    let strategy = &wf["jobs"]["cni"]["strategy"];
    assert_eq!(strategy["fail-fast"], Value::Bool(false));
    let cnis: Vec<&str> = strategy["matrix"]["cni"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(cnis, CNI_NAMES);

    let kind = step(&wf, "cni", "helm/kind-action@");
    assert_eq!(kind["with"]["version"], KIND_VERSION);
    // Helm exactly where a profile installs through it.
    let helm_if = step(&wf, "cni", "azure/setup-helm@")["if"]
        .as_str()
        .unwrap()
        .to_string();
    for p in CniProfile::all() {
        assert_eq!(
            helm_if.contains(&format!("'{}'", p.name)),
            p.needs_helm(),
            "{helm_if}"
        );
    }

    let lane = step(&wf, "cni", "ci/nightly-cni.sh");
    assert!(lane["run"].as_str().unwrap().contains("${{ matrix.cni }}"));
    let logs = step(&wf, "cni", "ci/collect-logs.sh");
    assert_eq!(logs["if"], "failure()");
    let upload = steps(&wf, "cni")
        .iter()
        .find(|s| s["with"]["name"].as_str() == Some("results-${{ matrix.cni }}"))
        .expect("results upload");
    assert_eq!(upload["if"], "always()");
    let paths = upload["with"]["path"].as_str().unwrap();
    assert!(
        paths.contains("out/${{ matrix.cni }}/results.json"),
        "{paths}"
    );
    assert!(paths.contains("*.xml"), "{paths}");

    let matrix = &wf["jobs"]["matrix"];
    assert_eq!(matrix["needs"], "cni");
    assert_eq!(matrix["if"], "always()");
    let download = step(&wf, "matrix", "actions/download-artifact@");
    assert_eq!(download["with"]["pattern"], "results-*");
    let summary = step(&wf, "matrix", "ci/matrix-summary.sh")["run"]
        .as_str()
        .unwrap();
    let listed: Vec<&str> = summary.split_whitespace().skip(4).collect();
    assert_eq!(listed, CNI_NAMES, "{summary}");
}

#[test]
fn pr_workflow_runs_the_ci_entry_point_on_prs_and_main() {
    let wf = workflow("pr.yml");
    assert!(wf["on"].as_object().unwrap().contains_key("pull_request"));
    assert_eq!(wf["on"]["push"]["branches"], serde_json::json!(["main"]));
    assert_eq!(step(&wf, "ci", ".ci/run")["run"], "bash .ci/run");
    let packages = step(&wf, "ci", "apt-get install")["run"].as_str().unwrap();
    assert!(packages.contains("shellcheck"), "{packages}");
}

fn ci_scripts() -> Vec<PathBuf> {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(repo().join("ci"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    scripts.sort();
    scripts
}

#[test]
fn every_ci_script_passes_shellcheck() {
    let scripts = ci_scripts();
    assert!(scripts.len() >= 4, "{scripts:?}");
    for script in scripts {
        let text = std::fs::read_to_string(&script).unwrap();
        assert!(
            text.starts_with("#!/usr/bin/env bash\n"),
            "{}",
            script.display()
        );
        assert!(
            text.contains("\nset -euo pipefail\n"),
            "{}",
            script.display()
        );
        let mode = std::fs::metadata(&script).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "{} is not executable", script.display());

        let out = match Command::new("shellcheck").arg("-x").arg(&script).output() {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "shellcheck is not installed, so ci/ cannot be checked: `apt-get install shellcheck` \
                 (.ci/run installs it when run as root)"
            ),
            Err(e) => panic!("cannot run shellcheck: {e}"),
        };
        assert!(
            out.status.success(),
            "shellcheck {}:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// A directory of fake programs that log their command lines to `log`.
struct Fakes {
    dir: tempfile::TempDir,
}

impl Fakes {
    fn new() -> Self {
        Fakes {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("calls.log")
    }

    fn path(&self) -> String {
        format!("{}:/usr/bin:/bin", self.bin().display())
    }

    /// A fake `name` that logs `name ARGS` and then runs `body` (POSIX sh).
    fn add(&self, name: &str, body: &str) -> &Self {
        std::fs::create_dir_all(self.bin()).unwrap();
        let path = self.bin().join(name);
        let script =
            format!("#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> \"$FAKE_LOG\"\n{body}\nexit 0\n");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    fn run(&self, script: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join(script))
            .args(args)
            .env("PATH", self.path())
            .env("FAKE_LOG", self.log())
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("NETPOL_CLUSTER")
            .env_remove("NETPOL_OUT")
            .env_remove("NETPOL_HARNESS")
            .env_remove("NETPOL_KUBECONFIG")
            .env_remove("NETPOL_KIND_CONFIG")
            .env_remove("NETPOL_INGRESS_PORTS")
            .env_remove("KUBECONFIG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn nightly_lane_runs_up_then_every_scenario_once_on_its_own_context() {
    let fakes = Fakes::new();
    fakes.add("cargo", "");
    fakes.add(
        "netpol-harness",
        r#"printf '%s\n' "  KUBECONFIG=${KUBECONFIG:-}" >> "$FAKE_LOG"
case "$*" in run*) [ -n "${FAIL_RUN:-}" ] && exit 7 ;; esac"#,
    );
    let out_root = fakes.dir.path().join("out");
    let home = fakes.dir.path().join("home");
    let harness = fakes.bin().join("netpol-harness");
    let env = [
        ("NETPOL_OUT", out_root.to_str().unwrap()),
        ("NETPOL_HARNESS", harness.to_str().unwrap()),
        ("HOME", home.to_str().unwrap()),
        ("NETPOL_GENERATED_SEED", "7"),
    ];

    let ok = fakes.run("ci/nightly-cni.sh", &["calico"], &env);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let report = out_root.join("calico");
    let kubeconfig = home.join(".kube/netpol-netpol");
    assert_eq!(
        fakes.calls(),
        [
            "cargo build --locked --bin netpol-harness".to_string(),
            "netpol-harness up --cni calico --name netpol".into(),
            format!("  KUBECONFIG={}", kubeconfig.display()),
            format!(
                "netpol-harness run --all --cni calico --context kind-netpol --report {} --generated all --max 60 --seed 7",
                report.display()
            ),
            format!("  KUBECONFIG={}", kubeconfig.display()),
        ]
    );
    assert!(report.is_dir());
    // Once per lane: no second pass through the e2e trials.
    assert!(!fakes.calls().iter().any(|c| c.contains("--test e2e")));

    // A second lane next to the first: its own cluster, kubeconfig, context, kind config and
    // ingress ports.
    std::fs::remove_file(fakes.log()).unwrap();
    let mut env = env.to_vec();
    env.push(("FAIL_RUN", "1"));
    env.push(("NETPOL_CLUSTER", "np-cilium"));
    env.push(("NETPOL_INGRESS_PORTS", "8080,8443"));
    let failed = fakes.run("ci/nightly-cni.sh", &["cilium"], &env);
    assert_eq!(failed.status.code(), Some(7));
    let calls = fakes.calls();
    assert_eq!(
        calls[1],
        "netpol-harness up --cni cilium --name np-cilium --ingress-ports 8080,8443"
    );
    assert_eq!(
        calls[2],
        format!(
            "  KUBECONFIG={}",
            home.join(".kube/netpol-np-cilium").display()
        )
    );
    assert!(
        calls[3].starts_with("netpol-harness run --all --cni cilium --context kind-np-cilium ")
            && calls[3].ends_with(" --outside-address 127.0.0.1:8080"),
        "{calls:?}"
    );
    assert!(text(&failed.stderr).contains("cilium lane failed (exit 7)"));

    // A kind config of one's own replaces the built-in one (and its ports).
    std::fs::remove_file(fakes.log()).unwrap();
    env.push(("NETPOL_KIND_CONFIG", "/tmp/my kind.yaml"));
    env.push(("NETPOL_KUBECONFIG", "/tmp/lane.kubeconfig"));
    fakes.run("ci/nightly-cni.sh", &["cilium"], &env);
    let calls = fakes.calls();
    assert_eq!(
        calls[1],
        "netpol-harness up --cni cilium --name np-cilium --kind-config /tmp/my kind.yaml"
    );
    assert_eq!(calls[2], "  KUBECONFIG=/tmp/lane.kubeconfig");

    let usage = fakes.run("ci/nightly-cni.sh", &[], &[]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn collect_logs_exports_kind_logs_and_never_fails() {
    let fakes = Fakes::new();
    fakes.add("kind", "");
    let dir = fakes.dir.path().join("logs");
    let home = fakes.dir.path().join("home");
    let lane_config = home.join(".kube/netpol-np");
    std::fs::create_dir_all(lane_config.parent().unwrap()).unwrap();
    std::fs::write(&lane_config, "").unwrap();
    fakes.add("kubectl", r#"case "$*" in *tigerastatus*) echo 'error: the server does not have a resource type "tigerastatus"' >&2; exit 1 ;; esac
echo "output of $* with $KUBECONFIG""#);
    let out = fakes.run(
        "ci/collect-logs.sh",
        &["np", dir.to_str().unwrap()],
        &[("HOME", home.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let calls = fakes.calls();
    assert_eq!(
        calls[0],
        format!("kind export logs {}/kind --name np", dir.display())
    );
    assert!(
        calls.contains(&"kubectl --context kind-np get pods -A -o wide".to_string()),
        "{calls:?}"
    );
    let pods = std::fs::read_to_string(dir.join("pods.txt")).unwrap();
    // The lane's own kubeconfig, as ci/nightly-cni.sh wrote it.
    assert_eq!(
        pods,
        format!(
            "output of --context kind-np get pods -A -o wide with {}\n",
            lane_config.display()
        )
    );
    let tigera = std::fs::read_to_string(dir.join("tigerastatus.txt")).unwrap();
    assert!(tigera.contains("does not have a resource type"));
    assert!(text(&out.stderr).contains("warning: kubectl get tigerastatus -o yaml failed"));

    // Even with no kind and a kubectl that always fails.
    fakes.add("kind", "exit 1");
    fakes.add("kubectl", "exit 1");
    let out = fakes.run("ci/collect-logs.sh", &["np", dir.to_str().unwrap()], &[]);
    assert!(out.status.success());
}

#[test]
fn docker_classic_store_switch_is_idempotent() {
    let fakes = Fakes::new();
    let conf = fakes.dir.path().join("etc/docker/daemon.json");
    // Docker reports the containerd store until daemon.json turns it off.
    fakes.add(
        "docker",
        &format!(
            r#"case "$*" in
  "info --format {{{{json .DriverStatus}}}}")
    if grep -q '"containerd-snapshotter": false' "{conf}" 2>/dev/null; then echo '[["Backing Filesystem","extfs"]]'
    else echo '[["driver-type","io.containerd.snapshotter.v1"]]'; fi ;;
esac"#,
            conf = conf.display()
        ),
    );
    fakes.add("systemctl", "");
    let env = [
        ("DOCKER_DAEMON_JSON", conf.to_str().unwrap()),
        ("NO_SUDO", "1"),
    ];

    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(&conf, "{\"log-driver\": \"json-file\"}\n").unwrap();
    let out = fakes.run("ci/setup-docker-classic.sh", &[], &env);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&conf).unwrap()).unwrap();
    assert_eq!(
        written,
        serde_json::json!({"log-driver": "json-file", "features": {"containerd-snapshotter": false}})
    );
    assert!(
        fakes
            .calls()
            .contains(&"systemctl restart docker".to_string())
    );

    // A second run finds nothing to do and restarts nothing.
    std::fs::remove_file(fakes.log()).unwrap();
    let again = fakes.run("ci/setup-docker-classic.sh", &[], &env);
    assert!(again.status.success());
    assert!(text(&again.stdout).contains("nothing to do"));
    assert!(!fakes.calls().iter().any(|c| c.starts_with("systemctl")));
}

#[test]
fn matrix_summary_writes_three_formats_and_the_job_summary() {
    use netpol_harness::report::results::{RunResults, ScenarioResult, StepResult, StepStatus};
    let fakes = Fakes::new();
    let artifacts = fakes.dir.path().join("artifacts");
    let mut calico = RunResults::new("calico");
    calico.scenarios.push(ScenarioResult {
        name: "demo".into(),
        title: "Demo".into(),
        steps: vec![StepResult {
            name: "deny".into(),
            status: StepStatus::Pass,
            reason: None,
            issue_url: None,
            deny_style: None,
            note: None,
            measures: Default::default(),
        }],
        duration_ms: None,
    });
    calico
        .write(&artifacts.join("results-calico/results.json"))
        .unwrap();

    let out_dir = fakes.dir.path().join("matrix");
    let summary = fakes.dir.path().join("summary.md");
    std::fs::write(&summary, "# earlier steps\n").unwrap();
    let out = fakes.run(
        "ci/matrix-summary.sh",
        &[
            artifacts.to_str().unwrap(),
            out_dir.to_str().unwrap(),
            "calico",
            "cilium",
        ],
        &[
            ("NETPOL_HARNESS", env!("CARGO_BIN_EXE_netpol-harness")),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let md = std::fs::read_to_string(out_dir.join("matrix.md")).unwrap();
    assert!(md.contains("| deny | ✅ | — |"), "{md}");
    assert!(md.contains("No results from: cilium"), "{md}");
    assert!(
        std::fs::read_to_string(out_dir.join("matrix.html"))
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("matrix.json")).unwrap())
            .unwrap();
    assert_eq!(json["cnis"], serde_json::json!(["calico", "cilium"]));
    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        format!("# earlier steps\n{md}")
    );

    // No lane wrote anything: still a report, every column missing.
    let empty = fakes.dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = fakes.run(
        "ci/matrix-summary.sh",
        &[
            empty.to_str().unwrap(),
            out_dir.to_str().unwrap(),
            "flannel",
        ],
        &[("NETPOL_HARNESS", env!("CARGO_BIN_EXE_netpol-harness"))],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("No results from: flannel"));
}

#[test]
fn quickstart_checks_docker_first_and_without_it_points_at_what_needs_no_cluster() {
    let fakes = Fakes::new();
    fakes.add("netpol-harness", "");
    // A docker whose daemon is not running.
    fakes.add("docker", "exit 1");
    let harness = fakes.bin().join("netpol-harness");
    // No Docker, a binary given: no build, the pointers, then the dry run.
    let out = fakes.run(
        "ci/quickstart.sh",
        &[],
        &[("NETPOL_HARNESS", harness.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.starts_with("Docker is not available here"), "{err}");
    assert!(
        err.contains("analyze -f YOUR-MANIFESTS/")
            && err.contains("plan --all")
            && err.contains("matrix samples/results/*/results.json"),
        "{err}"
    );
    assert_eq!(fakes.calls(), ["docker info", "netpol-harness plan --all"]);

    // Building: Docker is checked before, and cargo builds in release, showing its progress.
    std::fs::remove_file(fakes.log()).unwrap();
    fakes.add("cargo", "exit 3");
    let out = fakes.run("ci/quickstart.sh", &[], &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    let docker = err.find("Docker is not available").expect("docker message");
    let building = err.find("Building netpol-harness").expect("build message");
    assert!(docker < building, "{err}");
    assert_eq!(
        fakes.calls(),
        [
            "docker info",
            "cargo build --release --locked --bin netpol-harness"
        ]
    );
}
