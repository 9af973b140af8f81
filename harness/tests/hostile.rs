//! Hostile inputs: what a scenario folder from a pull request, a results file from another job or
//! a name from a cluster can try, and what the harness does about it (issue 13's classes).

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use netpol_harness::scenario::{load, validate};

const SCENARIO: &str = "http-echo-busybox";

fn repo_scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("scenarios")
        .join(SCENARIO)
}

/// A copy of a real scenario under `<tmp>/scenarios/`, with a secret beside the root.
fn scenario_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("scenarios");
    let dir = root.join(SCENARIO);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(repo_scenario()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    std::fs::write(
        tmp.path().join("secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {token: hunter2}\nbroken: [\n",
    )
    .unwrap();
    (tmp, root)
}

fn load_error(root: &Path, name: &str) -> String {
    load(root, name).map(|_| ()).unwrap_err().to_string()
}

#[test]
fn a_manifest_symlinked_out_of_the_scenario_folder_is_refused_unread() {
    let (tmp, root) = scenario_copy();
    let dir = root.join(SCENARIO);
    std::fs::remove_file(dir.join("busybox.yaml")).unwrap();
    symlink(tmp.path().join("secret.yaml"), dir.join("busybox.yaml")).unwrap();
    let err = load_error(&root, SCENARIO);
    assert!(err.contains("busybox.yaml: leaves"), "{err}");
    assert!(!err.contains("hunter2") && !err.contains("broken"), "{err}");
    // A directory symlinked out is refused the same way.
    std::fs::remove_file(dir.join("busybox.yaml")).unwrap();
    std::fs::copy(
        repo_scenario().join("busybox.yaml"),
        tmp.path().join("busybox.yaml"),
    )
    .unwrap();
    let text = std::fs::read_to_string(dir.join("scenario.yaml")).unwrap();
    std::fs::write(
        dir.join("scenario.yaml"),
        text.replace("busybox.yaml]", "out/busybox.yaml]"),
    )
    .unwrap();
    symlink(tmp.path(), dir.join("out")).unwrap();
    let err = load_error(&root, SCENARIO);
    assert!(err.contains("out/busybox.yaml: leaves"), "{err}");
}

#[test]
fn an_errata_proof_file_symlinked_out_is_refused_unread() {
    let (tmp, root) = scenario_copy();
    let dir = root.join(SCENARIO);
    symlink(tmp.path().join("secret.yaml"), dir.join("proof.yaml")).unwrap();
    let text = std::fs::read_to_string(dir.join("scenario.yaml")).unwrap();
    let text = text.replacen(
        "errata:\n",
        "errata:\n- what: a\n  why: b\n  proof: {kind: yaml-does-not-parse, file: proof.yaml}\n",
        1,
    );
    std::fs::write(dir.join("scenario.yaml"), text).unwrap();
    let loaded = load(&root, SCENARIO).unwrap_or_else(|e| panic!("{e}"));
    let v = validate(&loaded);
    let problems: Vec<String> = v.problems.iter().map(|p| p.to_string()).collect();
    let all = problems.join("\n");
    assert!(all.contains("proof.yaml: leaves"), "{all}");
    assert!(!all.contains("hunter2") && !all.contains("broken"), "{all}");
}

#[test]
fn scenario_names_stay_inside_the_scenarios_folder() {
    let (tmp, root) = scenario_copy();
    std::fs::create_dir(tmp.path().join("elsewhere")).unwrap();
    std::fs::copy(
        repo_scenario().join("scenario.yaml"),
        tmp.path().join("elsewhere/scenario.yaml"),
    )
    .unwrap();
    for name in ["../elsewhere", "/etc", "a/b", ".."] {
        let err = load_error(&root, name);
        assert!(err.contains("is not a scenario name"), "{name}: {err}");
    }
    symlink(tmp.path().join("elsewhere"), root.join("elsewhere")).unwrap();
    let err = load_error(&root, "elsewhere");
    assert!(err.contains("leaves"), "{err}");
}

#[test]
fn special_files_in_a_scenario_are_refused_without_blocking() {
    let (_tmp, root) = scenario_copy();
    let dir = root.join(SCENARIO);
    std::fs::remove_file(dir.join("busybox.yaml")).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(dir.join("busybox.yaml"))
            .status()
            .unwrap()
            .success()
    );
    let err = load_error(&root, SCENARIO);
    assert!(
        err.contains("busybox.yaml: is a FIFO, not a regular file"),
        "{err}"
    );
    std::fs::remove_file(dir.join("busybox.yaml")).unwrap();
    symlink("/dev/zero", dir.join("busybox.yaml")).unwrap();
    let err = load_error(&root, SCENARIO);
    assert!(err.contains("busybox.yaml: leaves"), "{err}");
}

#[test]
fn a_scenario_file_that_is_a_directory_says_so() {
    let (_tmp, root) = scenario_copy();
    let dir = root.join(SCENARIO);
    std::fs::remove_file(dir.join("scenario.yaml")).unwrap();
    std::fs::create_dir(dir.join("scenario.yaml")).unwrap();
    let err = load_error(&root, SCENARIO);
    assert!(
        err.contains("scenario.yaml: is a directory, not a regular file"),
        "{err}"
    );
}
