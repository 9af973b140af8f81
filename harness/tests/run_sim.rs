//! `netpol-harness run --cni NAME --report DIR` on the simulated cluster, lane by lane, then
//! `netpol-harness matrix` (the real binary) over the `results.json` files the lanes wrote: the
//! nightly matrix end to end, without a cluster.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Duration;

use netpol_harness::cluster::sim::{Enforcement, Faults, SimCluster};
use netpol_harness::provision::cni::CniProfile;
use netpol_harness::report::results::{RunResults, StepStatus};
use netpol_harness::report::{ReportTarget, Reporter};
use netpol_harness::runner::plan::plans;
use netpol_harness::runner::{RunOptions, Runner};
use netpol_harness::scenario::{LoadedScenario, default_root, load};

/// The scenarios a lane runs: every one but Contour's, whose remote manifests and outside
/// probes need a real cluster (it is in the cilium lane, where none of its steps applies).
const SCENARIOS: [&str; 4] = [
    "calico-about-network-policy",
    "calico-zero-trust",
    "http-echo-busybox",
    "nginx-busybox-default",
];

fn loaded(names: &[&str]) -> Vec<LoadedScenario> {
    names
        .iter()
        .map(|n| load(&default_root(), n).unwrap())
        .collect()
}

/// One nightly lane on the simulator: plans, runner and reporter as `run` wires them, a CNI
/// that enforces as `enforcement` says, the report in `out/CNI`.
async fn lane(cni: &str, enforcement: Enforcement, names: &[&str], out: &Path) -> ExitCode {
    let profile = CniProfile::by_name(cni).unwrap();
    let plans = plans(&loaded(names), Some(&profile)).await.unwrap();
    let sim = Arc::new(SimCluster::new(
        &format!("lane-{cni}"),
        Faults {
            enforcement,
            ..Faults::default()
        },
    ));
    let runner = Runner::new(
        sim.clone(),
        RunOptions {
            cni: Some(profile),
            deadline: Duration::from_secs(5),
            ..RunOptions::default()
        },
    );
    let target = ReportTarget {
        dir: out.join(cni),
        cni: cni.to_string(),
        cluster: Some("netpol".to_string()),
    };
    let (mut out, mut progress) = (Vec::new(), Vec::new());
    let mut reporter = Reporter::new(&mut out, &mut progress, Some(target));
    let outcome = runner
        .run(&plans, |event| reporter.report_event(event))
        .await;
    reporter.finish().unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("\nsummary:\n"), "{out}");
    let code = outcome.exit_code();
    assert!(sim.owned_objects().is_empty(), "{:?}", sim.owned_objects());
    code
}

fn statuses(results: &RunResults) -> Vec<(String, StepStatus)> {
    results
        .scenarios
        .iter()
        .flat_map(|s| {
            s.steps
                .iter()
                .map(move |st| (format!("{}/{}", s.name, st.name), st.status))
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn lanes_write_results_that_matrix_reads() {
    let out = tempfile::tempdir().unwrap();
    let out = out.path();
    assert_eq!(
        lane("calico", Enforcement::Full, &SCENARIOS, out).await,
        ExitCode::SUCCESS
    );
    let mut with_contour = SCENARIOS.to_vec();
    with_contour.push("contour-default-deny");
    assert_eq!(
        lane("cilium", Enforcement::Full, &with_contour, out).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        lane("flannel", Enforcement::None, &SCENARIOS, out).await,
        ExitCode::SUCCESS
    );

    let read = |cni: &str| RunResults::read(&out.join(cni).join("results.json")).unwrap();
    let calico = read("calico");
    assert_eq!(calico.cni, "calico");
    assert_eq!(calico.cluster.as_deref(), Some("netpol"));
    assert_eq!(calico.harness_version, env!("CARGO_PKG_VERSION"));
    // The run's wall time is recorded (0 ms here: the simulated run is on paused time).
    assert_eq!(calico.duration_ms, Some(0));
    assert!(calico.scenarios.iter().all(|s| s.duration_ms.is_some()));
    assert!(
        statuses(&calico)
            .iter()
            .all(|(_, s)| *s == StepStatus::Pass),
        "{:?}",
        statuses(&calico)
    );
    // Cilium has no Calico API: those scenarios do not apply (nor does Contour's, which needs
    // it too, and whose manifests were therefore never fetched); Kubernetes policy passes.
    let cilium = read("cilium");
    for (step, status) in statuses(&cilium) {
        let expected = if step.starts_with("calico-") || step.starts_with("contour-") {
            StepStatus::NotApplicable
        } else {
            StepStatus::Pass
        };
        assert_eq!(status, expected, "{step}");
    }
    // flannel enforces nothing: every Kubernetes policy step that expects something blocked is
    // "not enforced", steps expecting nothing blocked pass, Calico scenarios do not apply.
    let flannel = read("flannel");
    let flannel_statuses = statuses(&flannel);
    assert!(flannel_statuses.contains(&(
        "http-echo-busybox/deny-all".to_string(),
        StepStatus::NotEnforced
    )));
    assert!(
        flannel_statuses.contains(&("http-echo-busybox/no-policy".to_string(), StepStatus::Pass))
    );
    assert!(flannel_statuses.contains(&(
        "calico-zero-trust/default-deny".to_string(),
        StepStatus::NotApplicable
    )));
    assert!(
        !flannel_statuses.iter().any(|(_, s)| *s == StepStatus::Fail),
        "{flannel_statuses:?}"
    );
    for cni in ["calico", "cilium", "flannel"] {
        assert!(out.join(cni).join("junit.xml").is_file());
    }

    // The sample results shipped in `samples/results/` (so `matrix` can be tried without a
    // cluster) are exactly what these lanes write; NETPOL_UPDATE_SAMPLES=1 rewrites them.
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/results");
    for cni in ["calico", "cilium", "flannel"] {
        let written = read(cni);
        let shipped = samples.join(cni).join("results.json");
        if std::env::var_os("NETPOL_UPDATE_SAMPLES").is_some() {
            written.write(&shipped).unwrap();
        }
        assert_eq!(
            RunResults::read(&shipped).unwrap(),
            written,
            "{} is stale: run this test with NETPOL_UPDATE_SAMPLES=1",
            shipped.display()
        );
    }

    // The real `matrix` reads what the lanes wrote.
    let files: Vec<PathBuf> = ["calico", "cilium", "flannel"]
        .iter()
        .map(|c| out.join(c).join("results.json"))
        .collect();
    let output = Command::new(env!("CARGO_BIN_EXE_netpol-harness"))
        .arg("matrix")
        .args(&files)
        .args(["--output", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let matrix: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        matrix["cnis"],
        serde_json::json!(["calico", "cilium", "flannel"])
    );
    let row = matrix["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scenario"] == "http-echo-busybox" && r["step"] == "deny-all")
        .unwrap();
    let cells: Vec<&str> = row["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(cells, ["pass", "pass", "not-enforced"]);
    let contour = matrix["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scenario"] == "contour-default-deny")
        .unwrap();
    assert!(contour["cells"][0].is_null(), "calico did not run it");
    assert_eq!(contour["cells"][1]["status"], "not-applicable");
    assert_eq!(contour["cells"][1]["reason"], "needs calico-crds");
    let markdown = Command::new(env!("CARGO_BIN_EXE_netpol-harness"))
        .arg("matrix")
        .args(&files)
        .output()
        .unwrap();
    let markdown = String::from_utf8(markdown.stdout).unwrap();
    assert!(
        markdown.contains("calico") && markdown.contains("🚫"),
        "{markdown}"
    );
}
