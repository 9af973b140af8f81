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

mod report_writers {
    use netpol_harness::report::matrix::matrix;
    use netpol_harness::report::results::{RunResults, ScenarioResult, StepResult, StepStatus};
    use proptest::prelude::*;

    /// One failing lane whose strings try to break out of their cells.
    fn runs(hostile: &str, url: &str) -> Vec<RunResults> {
        let mut failing = RunResults::new(hostile);
        failing.scenarios.push(ScenarioResult {
            name: hostile.into(),
            title: hostile.into(),
            steps: vec![StepResult {
                name: hostile.into(),
                status: StepStatus::Fail,
                reason: Some(hostile.into()),
                issue_url: Some(url.into()),
                deny_style: None,
                note: None,
                measures: Default::default(),
            }],
            duration_ms: None,
        });
        let mut deviating = RunResults::new("calico");
        deviating.scenarios.push(ScenarioResult {
            name: hostile.into(),
            title: hostile.into(),
            steps: vec![StepResult {
                name: hostile.into(),
                status: StepStatus::KnownDeviation,
                reason: Some(hostile.into()),
                issue_url: Some(url.into()),
                deny_style: None,
                note: None,
                measures: Default::default(),
            }],
            duration_ms: None,
        });
        vec![failing, deviating]
    }

    /// The body rows of the Markdown table whose header starts with `Scenario`, cell texts.
    fn markdown_rows(md: &str) -> Vec<Vec<String>> {
        use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
        let mut tables: Vec<Vec<Vec<String>>> = Vec::new();
        let mut row: Option<Vec<String>> = None;
        let mut cell: Option<String> = None;
        for event in Parser::new_ext(md, Options::ENABLE_TABLES) {
            match event {
                Event::Start(Tag::Table(_)) => tables.push(Vec::new()),
                Event::Start(Tag::TableRow | Tag::TableHead) => row = Some(Vec::new()),
                Event::Start(Tag::TableCell) => cell = Some(String::new()),
                Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                    if let Some(c) = cell.as_mut() {
                        c.push_str(&t);
                    }
                }
                Event::End(TagEnd::TableCell) => {
                    if let (Some(r), Some(c)) = (row.as_mut(), cell.take()) {
                        r.push(c);
                    }
                }
                Event::End(TagEnd::TableRow | TagEnd::TableHead) => {
                    if let (Some(t), Some(r)) = (tables.last_mut(), row.take()) {
                        t.push(r);
                    }
                }
                _ => {}
            }
        }
        tables
            .into_iter()
            .find(|t| {
                t.first()
                    .is_some_and(|h| h.first().is_some_and(|c| c == "Scenario"))
            })
            .expect("the matrix table")
    }

    fn check(hostile: &str, url: &str) -> Result<(), TestCaseError> {
        let m = matrix(&runs(hostile, url));
        let md = m.to_markdown();
        let rows = markdown_rows(&md);
        prop_assert_eq!(rows.len(), 2, "header and one row:\n{}", md);
        prop_assert_eq!(rows[1].len(), 4, "cells of {:?} in\n{}", rows[1], md);
        prop_assert_eq!(
            rows[1][2].as_str(),
            "❌",
            "the failing lane still fails:\n{}",
            md
        );
        prop_assert!(!md.contains('\u{1b}') && !md.contains('\0'), "{}", md);

        let html = m.to_html();
        let page = scraper::Html::parse_document(&html);
        let row = scraper::Selector::parse("table.matrix tbody tr").unwrap();
        let cell = scraper::Selector::parse("td").unwrap();
        let any = scraper::Selector::parse("script, img, iframe, [onclick], [onerror]").unwrap();
        let body_rows: Vec<_> = page.select(&row).collect();
        prop_assert_eq!(body_rows.len(), 1, "{}", html);
        prop_assert_eq!(body_rows[0].select(&cell).count(), 4, "{}", html);
        prop_assert!(page.select(&any).next().is_none(), "{}", html);
        let fail = scraper::Selector::parse("td.fail").unwrap();
        prop_assert_eq!(page.select(&fail).count(), 1, "{}", html);
        Ok(())
    }

    #[test]
    fn a_pipe_or_markup_in_any_string_cannot_change_the_matrix() {
        for hostile in [
            "a | ✅ | ✅",
            "<script>alert(1)</script>",
            "x\n| --- |\n| fake | row |",
            "\u{1b}]8;;https://evil\u{7}link",
            "`code | with pipe`",
            "<img src=x onerror=alert(1)>",
        ] {
            for url in [
                "https://github.com/o/r/issues/1|✅|✅",
                "https://x/\"onclick=\"alert(1)",
                "javascript:alert(1)",
                "https://github.com/o/r/issues/2",
            ] {
                check(hostile, url).unwrap();
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn report_writers_hold_for_any_string(hostile in "\\PC{0,40}|[|<>&\"'`*_\\[\\]\\\\\n\r\u{1b}\u{fffe}]{0,20}", url in "https://[a-z]{1,5}/[ -~]{0,20}") {
            check(&hostile, &url)?;
        }
    }
}

#[test]
fn names_kubernetes_would_refuse_are_refused_at_load_with_their_field() {
    let (_tmp, root) = scenario_copy();
    let dir = root.join(SCENARIO);
    let text = std::fs::read_to_string(dir.join("scenario.yaml")).unwrap();
    let long_ns = "n".repeat(64);
    let hostile = text
        .replacen(
            "namespaces: [ns-1]",
            &format!("namespaces: [ns-1, {long_ns}]"),
            1,
        )
        .replacen(
            "set: {app: http-echo}",
            "set: {app: \"x; touch pwned\", \"bad key\": v}",
            1,
        )
        .replacen("path: /test", "path: \"/test;$(id)\"", 1)
        .replacen("path: /test", &format!("path: /{}", "a".repeat(2_000)), 1);
    std::fs::write(dir.join("scenario.yaml"), hostile).unwrap();
    let pod = std::fs::read_to_string(dir.join("busybox.yaml")).unwrap();
    std::fs::write(
        dir.join("busybox.yaml"),
        pod.replacen("labels:\n", "labels:\n    evil: \"a\\nb\"\n", 1),
    )
    .unwrap();
    let err = load_error(&root, SCENARIO);
    for want in [
        "namespaces[1]: `nnnnnnnn",
        "must be 1 to 63 characters",
        "steps[0].actions[1].label.set: `x; touch pwned` is not a label value",
        "steps[0].actions[1].label.set: `bad key` is not a label key",
        "steps[0].probes[0].path: `/test;$(id)`: a path starts with '/'",
        "steps[1].probes[0].path: the path is 2001 characters long; at most 256",
        "metadata.labels.evil: `a\\nb` is not a label value",
    ] {
        assert!(err.contains(want), "want {want:?} in:\n{err}");
    }
}

/// Property tests of every entry point that reads untrusted input: whatever the input, an
/// answer (a value or an error), never a panic or a hang. Case counts stay modest so that
/// `cargo test` runs them in seconds.
mod entry_points {
    use std::path::Path;

    use netpol_harness::manifest;
    use netpol_harness::report::results::{RunResults, ScenarioResult, StepResult, StepStatus};
    use netpol_harness::scenario::load;
    use proptest::prelude::*;

    use super::{SCENARIO, repo_scenario, scenario_copy};

    /// YAML-flavoured text: markers, anchors, aliases, flow collections, tags and garbage.
    fn yamlish() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            Just("---\n".to_string()),
            Just("...\n".to_string()),
            Just("apiVersion: v1\nkind: Pod\n".to_string()),
            Just("metadata: {name: a, namespace: b, labels: {app: x}}\n".to_string()),
            Just("a: &x [1, 2, *x]\n".to_string()),
            Just("b: *x\n".to_string()),
            Just("kind: List\nitems: [{apiVersion: v1, kind: Namespace}]\n".to_string()),
            Just("- !tag {\n".to_string()),
            Just("\t\"\\u0000\"\n".to_string()),
            "\\PC{0,20}\n",
        ];
        proptest::collection::vec(token, 0..24).prop_map(|t| t.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        #[test]
        fn the_manifest_loader_answers_anything(text in yamlish(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = manifest::parse_str(Path::new("p.yaml"), &text);
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("b.yaml");
            std::fs::write(&file, &bytes).unwrap();
            if let Err(e) = manifest::load_file(&file) {
                prop_assert!(e.to_string().starts_with(&file.display().to_string()), "{e}");
            }
        }

        #[test]
        fn the_results_reader_answers_anything(bytes in proptest::collection::vec(any::<u8>(), 0..256), name in "\\PC{0,12}", reason in proptest::option::of("\\PC{0,30}")) {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("results.json");
            std::fs::write(&file, &bytes).unwrap();
            let _ = RunResults::read(&file);
            // And whatever the strings, what is written reads back the same.
            let mut results = RunResults::new(name.clone());
            results.scenarios.push(ScenarioResult {
                name: name.clone(),
                title: name.clone(),
                steps: vec![StepResult { name, status: StepStatus::Fail, reason, issue_url: None, deny_style: None, note: None, measures: Default::default() }],
                duration_ms: None,
            });
            results.write(&file).unwrap();
            prop_assert_eq!(RunResults::read(&file).unwrap(), results);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn the_scenario_loader_answers_any_mutation(at in 0usize..100_000, with in "\\PC{0,8}", text in yamlish()) {
            let (_tmp, root) = scenario_copy();
            let file = root.join(SCENARIO).join("scenario.yaml");
            let original = std::fs::read_to_string(repo_scenario().join("scenario.yaml")).unwrap();
            let mut cut = at % original.len();
            while !original.is_char_boundary(cut) {
                cut -= 1;
            }
            std::fs::write(&file, format!("{}{with}{}", &original[..cut], &original[cut..])).unwrap();
            let _ = load(&root, SCENARIO);
            std::fs::write(&file, &text).unwrap();
            prop_assert!(load(&root, SCENARIO).is_err());
        }
    }
}

#[test]
fn printed_commands_quote_every_word_for_a_posix_shell() {
    let (tmp, root) = scenario_copy();
    let dir = root.join(SCENARIO);
    let hostile = "my file;$(touch pwned)`id`'.yaml";
    std::fs::rename(dir.join("busybox.yaml"), dir.join(hostile)).unwrap();
    let text = std::fs::read_to_string(dir.join("scenario.yaml")).unwrap();
    std::fs::write(
        dir.join("scenario.yaml"),
        text.replacen("busybox.yaml]", "\"my file;$(touch pwned)`id`'.yaml\"]", 1),
    )
    .unwrap();
    let loaded = load(&root, SCENARIO).unwrap_or_else(|e| panic!("{e}"));
    let commands = netpol_harness::scenario::kubectl::setup_commands(&loaded);
    let apply = commands
        .iter()
        .find(|c| c.contains("my file"))
        .expect("the renamed file is applied");
    let word = apply.strip_prefix("kubectl apply -f ").unwrap();
    // The shell reads the word back as the path, and runs nothing.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s {word}"))
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        dir.join(hostile).display().to_string()
    );
    assert!(!tmp.path().join("pwned").exists());
}

mod command_line {
    use std::process::{Command, Stdio};

    fn harness() -> Command {
        Command::new(env!("CARGO_BIN_EXE_netpol-harness"))
    }

    fn scenarios() -> String {
        super::repo_scenario()
            .parent()
            .unwrap()
            .display()
            .to_string()
    }

    #[test]
    fn numeric_options_are_bounded_instead_of_overflowing() {
        for (option, value) in [
            ("--deadline", "18446744073709551615"),
            ("--deadline", "0"),
            ("--parallel", "0"),
            ("--probe-timeout", "inf"),
        ] {
            let out = harness()
                .args(["run", "http-echo-busybox", option, value])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{option} {value}: {stderr}");
            assert!(stderr.contains(option), "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }

    #[test]
    fn a_closed_pipe_ends_the_output_without_a_panic() {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "'{}' plan --all --scenarios '{}' | head -c 1 >/dev/null",
                env!("CARGO_BIN_EXE_netpol-harness"),
                scenarios()
            ))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("Broken pipe"), "{stderr}");
    }

    #[test]
    fn error_output_has_no_colours_when_not_a_terminal() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("kubeconfig");
        // A kind context whose API server is a closed loopback port: logs, then fails.
        std::fs::write(
            &config,
            "apiVersion: v1\nkind: Config\ncurrent-context: kind-x\ncontexts: [{name: kind-x, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\nusers: [{name: u, user: {}}]\n",
        )
        .unwrap();
        let out = harness()
            .args(["run", "http-echo-busybox", "--scenarios", &scenarios()])
            .env("KUBECONFIG", &config)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("DEBUG"), "logs were written: {stderr}");
        assert!(!stderr.contains('\u{1b}'), "{stderr}");
    }

    #[test]
    fn a_kubeconfig_that_is_a_device_or_too_large_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let large = dir.path().join("large");
        // Sparse: 17 MiB on paper, nothing on disk; over the 16 MiB kubeconfig limit.
        std::fs::File::create(&large)
            .unwrap()
            .set_len(17 << 20)
            .unwrap();
        let fifo = dir.path().join("fifo");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let ok = dir.path().join("ok");
        std::fs::write(&ok, "apiVersion: v1\nkind: Config\n").unwrap();
        for (config, says) in [
            ("/dev/zero".into(), "character device"),
            (fifo.display().to_string(), "FIFO"),
            (large.display().to_string(), "limit for a kubeconfig"),
            // Every path KUBECONFIG lists is read, not only the first.
            (format!("{}:/dev/zero", ok.display()), "/dev/zero"),
        ] {
            let out = harness()
                .args(["run", "http-echo-busybox", "--scenarios", &scenarios()])
                .env("KUBECONFIG", &config)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{config}: {stderr}");
            assert!(stderr.contains("refusing kubeconfig"), "{config}: {stderr}");
            assert!(stderr.contains(says), "{config}: {stderr}");
        }
    }

    #[test]
    fn interactive_input_lines_are_bounded() {
        let out = harness()
            .args([
                "reproduce",
                "http-echo-busybox",
                "--dry-run",
                "--interactive",
                "--scenarios",
                &scenarios(),
            ])
            .stdin(std::fs::File::open("/dev/zero").unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("4096-byte limit for an input line"),
            "{stderr}"
        );
    }
}
