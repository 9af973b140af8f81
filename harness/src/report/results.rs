//! One run's results: what `netpol-harness run --report DIR` writes to `DIR/results.json`, and
//! what `netpol-harness matrix` reads back, one file per CNI.
//!
//! The format is plain JSON with snake_case keys; statuses are kebab-case. Optional fields are
//! left out when empty, and unknown fields are ignored when reading, so newer writers stay
//! readable by older `matrix` builds. Per probed step, `claims` counts the tutorial's claims and
//! `derived` the other cells of the whole matrix (`run --matrix full`), each as `cells` (every
//! cell *reported*, asserted or not), `asserted` (those the verdict counts), `failed` (asserted
//! cells that ended wrong or flapped) and `unasserted` (`cells` − `asserted`, left out when
//! zero); files without them still read. The verdict's reason, JUnit and the CNI matrix count
//! with the same definitions ([`CellCounts`]). The run records its wall time (`duration_ms`,
//! which the matrix shows per lane) and so does each scenario, setup to cleanup (scenarios may
//! run at once, so theirs do not add up to the run's).
//!
//! ```json
//! {
//!   "cni": "cilium",
//!   "cluster": "netpol",
//!   "harness_version": "0.1.0",
//!   "scenarios": [
//!     {
//!       "name": "k8s-network-policy-demo",
//!       "title": "Kubernetes policy, demo",
//!       "steps": [
//!         { "name": "default-deny", "status": "pass", "converged_ms": 1150, "confirmed_ms": 1150 },
//!         {
//!           "name": "allow-sctp",
//!           "status": "known-deviation",
//!           "reason": "SCTP is not matched by NetworkPolicy",
//!           "issue_url": "https://github.com/cilium/cilium/issues/5719"
//!         },
//!         {
//!           "name": "allow-web",
//!           "status": "fail",
//!           "reason": "1 of 16 probes ended wrong (1 expected blocked but allowed) [claims: 0 of 4 asserted failed, 4 reported; derived (oracle): 1 of 12 asserted failed, 16 reported]",
//!           "claims": { "cells": 4, "asserted": 4, "failed": 0 },
//!           "derived": { "cells": 16, "asserted": 12, "failed": 1, "unasserted": 4 }
//!         }
//!       ],
//!       "duration_ms": 48210
//!     }
//!   ],
//!   "duration_ms": 51877
//! }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cells::CellRecord;

/// The file name a run's results are written to, inside its report directory.
pub const RESULTS_FILE: &str = "results.json";

/// Everything one run (one CNI, one cluster) found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunResults {
    /// The CNI the run was on: a profile name such as `calico`. One matrix column per run.
    pub cni: String,
    /// The kind cluster the run used, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The netpol-harness version that ran it.
    pub harness_version: String,
    /// One entry per scenario, in the order they ran.
    pub scenarios: Vec<ScenarioResult>,
    /// The run's wall time in milliseconds: the sweep, the scenarios (several may run at
    /// once, so it is not their sum) and the wait for deleted namespaces; `up` not included.
    /// Left out in files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// The results of one scenario (one tutorial reproduced step by step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// The scenario's id, as in its file name.
    pub name: String,
    /// Its human title.
    pub title: String,
    /// One entry per step, in order.
    pub steps: Vec<StepResult>,
    /// Its wall time on the cluster in milliseconds, from setup to the end of its cleanup (left
    /// out in files written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// The outcome of one scenario step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepResult {
    /// The step's id within its scenario.
    pub name: String,
    /// What happened.
    pub status: StepStatus,
    /// Why, in one line: the mismatches of a failure, the missing capability of a skipped step,
    /// the deviation's summary. Left out when there is nothing to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The upstream issue behind a known deviation or a missing capability, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_url: Option<String>,
    /// How the probes expected to be blocked were stopped: `drop` (they timed out), `reject`
    /// (refused or unreachable, on ports shown served), or `drop+reject`. Left out when none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_style: Option<String>,
    /// Worth knowing, not a failure: denied traffic stopped otherwise than the CNI profile
    /// declares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What the step measured: its enforcement latency, its tags (all left
    /// out when not known, as in files written before they were recorded).
    #[serde(flatten)]
    pub measures: StepMeasures,
}

/// What a probed step measured, beside its status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepMeasures {
    /// What the step exercises (a generated case's tags; empty for tutorial steps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Enforcement latency, in milliseconds: from the step's last action applied to the end of
    /// the first probe round in which every cell matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converged_ms: Option<u64>,
    /// From the step's last action applied to the end of the confirmation pass, in
    /// milliseconds, if every cell matched in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_ms: Option<u64>,
    /// The tutorial's claims probed (a wrong one is an erratum or a CNI failure). Left out
    /// for steps not probed, and in files written before cells were counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<CellCounts>,
    /// The cells of the whole matrix no claim probes, expected as the oracle predicts
    /// (`run --matrix full`). Left out with `--matrix claims`, for steps not probed, and in
    /// files written before the whole matrix was probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived: Option<CellCounts>,
    /// Every probed cell, with its locality (left out when the step probed nothing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<CellRecord>,
}

/// How many cells of one kind (claims, or derived cells) a step reported, and how they ended.
///
/// One definition everywhere (the verdict's reason, the run summary, `results.json`, JUnit,
/// the CNI matrix): *reported* cells ([`CellCounts::cells`]) are every cell of that kind the
/// step shows; *asserted* ones ([`CellCounts::asserted`]) are those its verdict counts (the
/// reported ones less the [`CellCounts::unasserted`]); *failed* ones are asserted cells that
/// ended wrong or flapped. In JSON: `cells` (reported), `asserted`, `failed`, `unasserted`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "CellCountsJson", into = "CellCountsJson")]
pub struct CellCounts {
    /// Cells reported (probed, or not applicable on the CNI), asserted or not.
    pub cells: usize,
    /// Asserted cells that ended wrong or flapped.
    pub failed: usize,
    /// Cells reported but not asserted: self-traffic, cells the oracle cannot decide, ports not
    /// shown served, SCTP on a CNI without it.
    pub unasserted: usize,
}

impl CellCounts {
    /// The cells the verdict counts: the reported ones less those not asserted.
    pub fn asserted(&self) -> usize {
        self.cells.saturating_sub(self.unasserted)
    }
}

/// [`CellCounts`] as `results.json` writes it: `asserted` written out (it is `cells` less
/// `unasserted`, and files written before it was read that way), `unasserted` left out when
/// zero.
#[derive(Serialize, Deserialize)]
struct CellCountsJson {
    cells: usize,
    #[serde(default, skip_deserializing)]
    asserted: usize,
    failed: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    unasserted: usize,
}

impl From<CellCountsJson> for CellCounts {
    fn from(j: CellCountsJson) -> CellCounts {
        CellCounts {
            cells: j.cells,
            failed: j.failed,
            unasserted: j.unasserted,
        }
    }
}

impl From<CellCounts> for CellCountsJson {
    fn from(c: CellCounts) -> CellCountsJson {
        CellCountsJson {
            cells: c.cells,
            asserted: c.asserted(),
            failed: c.failed,
            unasserted: c.unasserted,
        }
    }
}

/// Whether a count is zero (left out of the JSON).
fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl std::ops::AddAssign for CellCounts {
    fn add_assign(&mut self, other: CellCounts) {
        self.cells += other.cells;
        self.failed += other.failed;
        self.unasserted += other.unasserted;
    }
}

impl fmt::Display for CellCounts {
    /// `1 of 12 asserted failed, 14 reported`: both counts named, as everywhere they are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} asserted failed, {} reported",
            self.failed,
            self.asserted(),
            self.cells
        )
    }
}

/// What happened to one step on one CNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// Every probe matched the oracle.
    Pass,
    /// Some probe differed from the oracle, and no known deviation explains it.
    Fail,
    /// Skipped: the CNI lacks a capability the step requires (e.g. Calico CRDs on Cilium).
    NotApplicable,
    /// Differed from the oracle in a way the CNI's profile documents, with an issue link.
    KnownDeviation,
    /// The CNI enforces no NetworkPolicy, so policy steps cannot hold (flannel).
    NotEnforced,
}

impl StepStatus {
    /// Every status, in the order reports list them.
    pub const ALL: [StepStatus; 5] = [
        StepStatus::Pass,
        StepStatus::Fail,
        StepStatus::NotApplicable,
        StepStatus::KnownDeviation,
        StepStatus::NotEnforced,
    ];

    /// The symbol reports show for it.
    pub fn symbol(self) -> &'static str {
        match self {
            StepStatus::Pass => "✅",
            StepStatus::Fail => "❌",
            StepStatus::NotApplicable => "➖",
            StepStatus::KnownDeviation => "⚠️",
            StepStatus::NotEnforced => "🚫",
        }
    }

    /// The name used in JSON (kebab-case).
    pub fn name(self) -> &'static str {
        match self {
            StepStatus::Pass => "pass",
            StepStatus::Fail => "fail",
            StepStatus::NotApplicable => "not-applicable",
            StepStatus::KnownDeviation => "known-deviation",
            StepStatus::NotEnforced => "not-enforced",
        }
    }

    /// A few words for legends.
    pub fn label(self) -> &'static str {
        match self {
            StepStatus::Pass => "pass",
            StepStatus::Fail => "fail",
            StepStatus::NotApplicable => "not applicable",
            StepStatus::KnownDeviation => "known deviation",
            StepStatus::NotEnforced => "not enforced",
        }
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A results file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The file was refused before parsing (not a regular file, too large, not UTF-8).
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// The file is not a results file.
    #[error("{} is not a netpol-harness results file: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why parsing failed.
        #[source]
        source: serde_json::Error,
    },
    /// The file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl RunResults {
    /// Empty results for a run on `cni`, stamped with this build's version.
    pub fn new(cni: impl Into<String>) -> Self {
        RunResults {
            cni: cni.into(),
            cluster: None,
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            scenarios: Vec::new(),
            duration_ms: None,
        }
    }

    /// Reads a results file (a leading byte-order mark is accepted).
    pub fn read(path: &Path) -> Result<RunResults, ResultsError> {
        // Through the input gate: a regular file, size-capped; a byte-order mark is dropped.
        let text = crate::input::read_text(path, None, crate::input::RESULTS)?;
        serde_json::from_str(&text).map_err(|source| ResultsError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the results as pretty JSON, creating the parent directory if needed.
    pub fn write(&self, path: &Path) -> Result<(), ResultsError> {
        let write_err = |source| ResultsError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let mut json =
            serde_json::to_string_pretty(self).map_err(|e| write_err(std::io::Error::other(e)))?;
        json.push('\n');
        std::fs::write(path, json).map_err(write_err)
    }

    /// How many steps ended with `status`.
    pub fn count(&self, status: StepStatus) -> usize {
        self.scenarios
            .iter()
            .flat_map(|s| &s.steps)
            .filter(|s| s.status == status)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_kebab_case_in_json() {
        for status in StepStatus::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.name()));
            assert_eq!(serde_json::from_str::<StepStatus>(&json).unwrap(), status);
        }
        assert!(serde_json::from_str::<StepStatus>("\"not_applicable\"").is_err());
    }

    #[test]
    fn the_documented_example_parses_and_optional_fields_stay_out() {
        let doc = include_str!("results.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```json"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").trim_start_matches(' '))
            .collect::<Vec<_>>()
            .join("\n");
        let results: RunResults = serde_json::from_str(&example).unwrap();
        assert_eq!(results.cni, "cilium");
        assert_eq!(results.count(StepStatus::KnownDeviation), 1);
        assert_eq!(results.count(StepStatus::Pass), 1);

        let json = serde_json::to_value(&results).unwrap();
        let pass = &json["scenarios"][0]["steps"][0];
        assert_eq!(
            pass,
            &serde_json::json!({"name": "default-deny", "status": "pass", "converged_ms": 1150, "confirmed_ms": 1150})
        );
        let deviation = &json["scenarios"][0]["steps"][1];
        assert!(deviation.get("converged_ms").is_none() && deviation.get("tags").is_none());
        assert_eq!(
            results.scenarios[0].steps[0].measures.confirmed_ms,
            Some(1150)
        );
    }

    #[test]
    fn unknown_fields_are_ignored_and_missing_required_ones_are_not() {
        let newer = r#"{"cni":"calico","harness_version":"9.9.9","scenarios":[],"duration_s":12}"#;
        assert_eq!(
            serde_json::from_str::<RunResults>(newer).unwrap().cni,
            "calico"
        );
        let broken = r#"{"cni":"calico","scenarios":[]}"#;
        let err = serde_json::from_str::<RunResults>(broken).unwrap_err();
        assert!(err.to_string().contains("harness_version"), "{err}");
    }

    #[test]
    fn claims_and_derived_counts_round_trip_and_older_files_still_read() {
        let counts = StepMeasures {
            claims: Some(CellCounts {
                cells: 4,
                failed: 1,
                unasserted: 0,
            }),
            derived: Some(CellCounts {
                cells: 12,
                failed: 2,
                unasserted: 3,
            }),
            ..StepMeasures::default()
        };
        let step = StepResult {
            name: "deny".into(),
            status: StepStatus::Fail,
            reason: None,
            issue_url: None,
            deny_style: None,
            note: None,
            measures: counts.clone(),
        };
        let json = serde_json::to_value(&step).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "deny", "status": "fail",
                "claims": {"cells": 4, "asserted": 4, "failed": 1},
                "derived": {"cells": 12, "asserted": 9, "failed": 2, "unasserted": 3}})
        );
        // Asserted is what reported less not asserted means, whatever a file says.
        let odd: StepResult = serde_json::from_str(
            r#"{"name": "d", "status": "fail", "derived": {"cells": 12, "asserted": 1, "failed": 2, "unasserted": 3}}"#,
        )
        .unwrap();
        assert_eq!(odd.measures.derived.unwrap().asserted(), 9);
        assert_eq!(
            odd.measures.derived.unwrap().to_string(),
            "2 of 9 asserted failed, 12 reported"
        );
        assert_eq!(serde_json::from_value::<StepResult>(json).unwrap(), step);
        // A file written before cells were counted has neither: both read as unknown.
        let older: StepResult =
            serde_json::from_str(r#"{"name": "deny", "status": "pass", "converged_ms": 10}"#)
                .unwrap();
        assert_eq!(
            (older.measures.claims, older.measures.derived),
            (None, None)
        );
        assert_eq!(older.measures.converged_ms, Some(10));
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/calico").join(RESULTS_FILE);
        let mut results = RunResults::new("calico");
        results.cluster = Some("netpol".into());
        results.scenarios.push(ScenarioResult {
            name: "s".into(),
            title: "S".into(),
            steps: vec![StepResult {
                name: "a".into(),
                status: StepStatus::Fail,
                reason: Some("x→y allowed, expected denied".into()),
                issue_url: None,
                deny_style: None,
                note: None,
                measures: StepMeasures {
                    tags: vec!["egress".into()],
                    converged_ms: Some(3_150),
                    confirmed_ms: None,
                    claims: None,
                    derived: None,
                    cells: vec![CellRecord {
                        source: "x/a".into(),
                        target: "x/b 10.244.2.3:80".into(),
                        probe: "tcp 80".into(),
                        expected: "allowed".into(),
                        observed: "blocked".into(),
                        matched: false,
                        locality: Some(crate::cluster::Locality::CrossNode),
                        family: Some(crate::cluster::Family::Ipv6),
                        derived: true,
                        unasserted: Some("port not served".into()),
                    }],
                },
            }],
            duration_ms: None,
        });
        results.write(&path).unwrap();
        assert_eq!(RunResults::read(&path).unwrap(), results);
        assert_eq!(results.harness_version, env!("CARGO_PKG_VERSION"));

        let missing = RunResults::read(&dir.path().join("nope.json")).unwrap_err();
        assert!(matches!(
            missing,
            ResultsError::Input(crate::input::InputError::Io { .. })
        ));
        // A byte-order mark (Windows editors write one) is accepted; a FIFO or a device is
        // refused for what it is.
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend(std::fs::read(&path).unwrap());
        std::fs::write(dir.path().join("bom.json"), with_bom).unwrap();
        assert_eq!(
            RunResults::read(&dir.path().join("bom.json")).unwrap(),
            results
        );
        let zero = RunResults::read(Path::new("/dev/zero")).unwrap_err();
        assert!(zero.to_string().contains("is a character device"), "{zero}");
        std::fs::write(dir.path().join("bad.json"), "{").unwrap();
        let bad = RunResults::read(&dir.path().join("bad.json")).unwrap_err();
        assert!(
            bad.to_string()
                .contains("is not a netpol-harness results file"),
            "{bad}"
        );
    }
}
