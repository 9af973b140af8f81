//! `netpol-harness generate`: the generated suites are deterministic, `validate`-clean, meet the
//! per-API minimums and are never vacuous.

use std::collections::BTreeMap;
use std::process::Command;

use netpol_harness::generate::{self, GenerateError, Options, writer};
use netpol_harness::scenario::format::Expectation;
use netpol_harness::scenario::{load, validate};

/// The minimum number of cases per API tag (issue 11).
const MINIMUMS: [(&str, usize); 3] = [
    ("networkpolicy", 250),
    ("clusternetworkpolicy", 100),
    ("calico", 60),
];

#[test]
fn every_generated_scenario_validates_meets_the_minimums_and_can_fail() {
    let cases = generate::cases(&Options::default()).unwrap();
    let scenarios = generate::render(&cases).unwrap();
    let dir = tempfile::tempdir().unwrap();
    writer::write(dir.path(), &scenarios).unwrap();
    let mut per_tag: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &scenarios {
        let loaded = load(dir.path(), &s.name).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        let v = validate(&loaded);
        assert!(
            v.is_ok(),
            "{}: {:?}",
            s.name,
            &v.problems[..v.problems.len().min(5)]
        );
        // Every case's own step (not the `-before` step of a label change) expects at least one
        // cell blocked and one allowed, so no dataplane passes it vacuously.
        for (i, step) in loaded.scenario.steps.iter().enumerate() {
            if step.name.ends_with("-before") {
                continue;
            }
            let probes = loaded.step_probes(i);
            for e in [Expectation::Blocked, Expectation::Allowed] {
                assert!(
                    probes.iter().any(|p| p.probe.expect == e),
                    "{}/{}: nothing {e}",
                    s.name,
                    step.name
                );
            }
        }
        for (_, tags) in &s.cases {
            for t in tags {
                *per_tag.entry(t.as_str()).or_default() += 1;
            }
        }
    }
    for (tag, min) in MINIMUMS {
        let n = per_tag.get(tag).copied().unwrap_or(0);
        assert!(n >= min, "{tag}: {n} cases, at least {min} wanted");
    }
}

#[test]
fn the_output_is_byte_identical_for_a_seed() {
    let options = Options {
        max: Some(40),
        seed: Some(7),
        ..Options::default()
    };
    let render = || generate::render(&generate::cases(&options).unwrap()).unwrap();
    let (a, b) = (render(), render());
    assert_eq!(a, b);
    assert_eq!(
        a.iter()
            .map(|s| s.cases.len() + s.vacuous.len())
            .sum::<usize>(),
        40
    );
    // The seed decides the random cases, and only them.
    let random = |seed| {
        generate::all_cases(Some(seed))
            .into_iter()
            .filter(|c| c.tags.contains("random"))
            .map(|c| c.policies)
            .collect::<Vec<_>>()
    };
    assert_eq!(random(7), random(7));
    assert_ne!(random(7), random(8));
    assert_eq!(random(7).len(), generate::RANDOM_PER_API);
}

#[test]
fn a_budget_takes_cases_from_every_suite_and_tags_filter() {
    let all = generate::cases(&Options::default()).unwrap();
    let suites: std::collections::BTreeSet<&str> = all.iter().map(|c| c.suite.as_str()).collect();
    let budget = generate::cases(&Options {
        max: Some(suites.len() * 2),
        ..Options::default()
    })
    .unwrap();
    for suite in &suites {
        assert_eq!(
            budget.iter().filter(|c| c.suite == *suite).count(),
            2,
            "{suite}"
        );
    }
    let named = generate::cases(&Options {
        tags: vec!["named-port".into()],
        ..Options::default()
    })
    .unwrap();
    assert!(!named.is_empty());
    assert!(named.iter().all(|c| c.tags.contains("named-port")));
    assert!(named.len() < all.len());
    assert!(matches!(
        generate::cases(&Options {
            tags: vec!["no-such-tag".into()],
            ..Options::default()
        }),
        Err(GenerateError::UnknownTag { tag, .. }) if tag == "no-such-tag"
    ));
}

#[test]
fn the_command_writes_folders_that_validate_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_netpol-harness");
    let out = Command::new(bin)
        .args(["generate", "--max", "6", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("cases per tag:"), "{stdout}");
    let validate = Command::new(bin)
        .args(["validate", "--scenarios"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&validate.stdout);
    assert!(validate.status.success(), "{text}");
    assert!(text.contains("ok   gen-networkpolicy"), "{text}");
    let bad = Command::new(bin)
        .args(["generate", "--tags", "bogus", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown tag `bogus`"));
}

#[test]
fn only_folders_the_generator_wrote_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        max: Some(2),
        ..Options::default()
    };
    let scenarios = generate::render(&generate::cases(&options).unwrap()).unwrap();
    writer::write(dir.path(), &scenarios).unwrap();
    // Generating again replaces its own folders.
    writer::write(dir.path(), &scenarios).unwrap();

    // A hand-written scenario that happens to carry a generated name is left alone...
    let mine = dir.path().join(&scenarios[0].name);
    std::fs::write(mine.join("scenario.yaml"), "name: mine\n").unwrap();
    std::fs::write(mine.join("notes.txt"), "keep me").unwrap();
    let err = writer::write(dir.path(), &scenarios).unwrap_err();
    assert!(matches!(err, GenerateError::NotGenerated { .. }), "{err}");
    assert!(err.to_string().contains("refusing to replace"), "{err}");
    assert!(mine.join("notes.txt").exists());

    // ...and so is a symlink to a folder elsewhere, even one the generator wrote.
    let other = tempfile::tempdir().unwrap();
    writer::write(other.path(), &scenarios).unwrap();
    std::fs::remove_dir_all(&mine).unwrap();
    std::os::unix::fs::symlink(other.path().join(&scenarios[0].name), &mine).unwrap();
    let err = writer::write(dir.path(), &scenarios).unwrap_err();
    assert!(matches!(err, GenerateError::NotGenerated { .. }), "{err}");
    assert!(
        other
            .path()
            .join(&scenarios[0].name)
            .join("scenario.yaml")
            .exists()
    );
}
