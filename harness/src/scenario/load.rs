//! Finding scenarios and reading them, with every check that needs no oracle: the file parses
//! into the format, every referenced manifest exists and parses, every endpoint, namespace and
//! Service a probe or action names exists, probes and matrices are well formed, requirements
//! cover what the scenario uses, and every step with policies in force can fail.
//!
//! Every problem names the file, the line and the field; all problems are reported at once.
//!
//! This module reads and orchestrates; the checks live in `manifests` (paths and reading the
//! manifests), `fields` (the header and every reference) and `requirements` (capabilities, and
//! steps that cannot fail).

mod fields;
mod manifests;
mod requirements;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::format::{Probe, Scenario};
use super::lines::LineIndex;
use super::matrix::expand_matrix;
use super::state::ClusterState;
use super::{Problem, ScenarioError};
use crate::manifest::{self, Document};

pub use manifests::{images_in, is_inside};

/// The file every scenario folder holds.
pub const SCENARIO_FILE: &str = "scenario.yaml";
/// The folder holding scenarios, relative to the repository root.
pub const DEFAULT_ROOT: &str = "scenarios";

/// Where scenarios are looked for without `--scenarios`: `scenarios/` in the current directory if
/// there is one, else the repository's `scenarios/` (next to the harness crate).
pub fn default_root() -> PathBuf {
    let here = PathBuf::from(DEFAULT_ROOT);
    if here.is_dir() {
        return here;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.parent().unwrap_or(crate_dir).join(DEFAULT_ROOT)
}

/// The names of the scenarios under `root`: sub-folders holding a `scenario.yaml`, sorted.
pub fn discover(root: &Path) -> Result<Vec<String>, ScenarioError> {
    let entries = std::fs::read_dir(root).map_err(|e| {
        ScenarioError::one(Problem {
            file: root.to_path_buf(),
            line: None,
            field: String::new(),
            message: format!("cannot read the scenarios folder: {e} (pass --scenarios DIR)"),
        })
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join(SCENARIO_FILE).is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

/// A scenario read and checked: its file, its parsed content, and the manifests it applies.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// The scenario's folder (`<root>/<name>`), which relative paths in the file start from.
    pub dir: PathBuf,
    /// The scenario file.
    pub file: PathBuf,
    /// Its content.
    pub scenario: Scenario,
    /// Every manifest the setup and the steps apply or delete, by the path written in the file.
    pub manifests: BTreeMap<PathBuf, Vec<Document>>,
    lines: LineIndex,
}

/// One single probe of a step: written as such, or one cell of a matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct StepProbe {
    /// The probe (a matrix cell becomes a probe with the matrix's kind and port).
    pub probe: Probe,
    /// The field it was written at (`steps[1].probes[0]`, `steps[1].matrices[0]`).
    pub field: String,
    /// Where it was written, for people: the field, and for a matrix the row and column.
    pub origin: String,
}

impl LoadedScenario {
    /// Every container image the scenario's manifests run (pods and workload templates, init
    /// containers included), so that `up` can preload them into the kind nodes.
    pub fn images(&self) -> std::collections::BTreeSet<String> {
        images_in(self.manifests.values().flatten())
    }

    /// A problem about `field` of the scenario file, with its line.
    pub fn problem(&self, field: impl Into<String>, message: impl Into<String>) -> Problem {
        let field = field.into();
        Problem {
            file: self.file.clone(),
            line: self.lines.line(&field),
            field,
            message: message.into(),
        }
    }

    /// The documents of a manifest the scenario applies (as written in the file).
    pub fn documents(&self, file: &Path) -> &[Document] {
        self.manifests.get(file).map_or(&[], Vec::as_slice)
    }

    /// A path written in the scenario, relative to the scenario folder, as a path to open.
    pub fn path(&self, file: &Path) -> PathBuf {
        self.dir.join(file)
    }

    /// The single probes of step `index`: its probes, then its matrices' cells (row by row,
    /// skipping `-`). Malformed matrices contribute nothing (loading reports them).
    pub fn step_probes(&self, index: usize) -> Vec<StepProbe> {
        let step = &self.scenario.steps[index];
        let mut out: Vec<StepProbe> = step
            .probes
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let field = format!("steps[{index}].probes[{i}]");
                StepProbe {
                    probe: p.clone(),
                    origin: field.clone(),
                    field,
                }
            })
            .collect();
        for (m, matrix) in step.matrices.iter().enumerate() {
            let field = format!("steps[{index}].matrices[{m}]");
            for cell in expand_matrix(matrix).unwrap_or_default() {
                out.push(StepProbe {
                    probe: cell.probe,
                    origin: format!("{field} row {} column {}", cell.row + 1, cell.column + 1),
                    field: field.clone(),
                });
            }
        }
        out
    }
}

/// Loads the scenario `name` under `root`.
pub fn load(root: &Path, name: &str) -> Result<LoadedScenario, ScenarioError> {
    let dir = root.join(name);
    // A name is one folder directly under the root, and that folder's real location too.
    if !is_short_name(name) {
        return Err(ScenarioError::one(Problem {
            file: root.to_path_buf(),
            line: None,
            field: String::new(),
            message: format!("`{name}` is not a scenario name ([a-z0-9-]+, a folder of it)"),
        }));
    }
    if let Err(e @ crate::input::InputError::Outside { .. }) =
        crate::input::resolve(&dir, Some(root))
    {
        return Err(ScenarioError::one(Problem {
            file: dir,
            line: None,
            field: String::new(),
            message: e.to_string(),
        }));
    }
    if std::fs::symlink_metadata(dir.join(SCENARIO_FILE)).is_err() {
        let known = discover(root).unwrap_or_default();
        return Err(ScenarioError::one(Problem {
            file: dir.join(SCENARIO_FILE),
            line: None,
            field: String::new(),
            message: format!(
                "no scenario `{name}` under {} (known: {})",
                root.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        }));
    }
    load_dir(&dir)
}

/// Loads the scenario in folder `dir` (which must hold `scenario.yaml`).
pub fn load_dir(dir: &Path) -> Result<LoadedScenario, ScenarioError> {
    let file = dir.join(SCENARIO_FILE);
    let text = crate::input::read_text(&file, Some(dir), crate::input::SCENARIO).map_err(|e| {
        ScenarioError::one(Problem {
            file: file.clone(),
            line: None,
            field: String::new(),
            message: e.to_string(),
        })
    })?;
    let scenario = parse(&file, &text).map_err(ScenarioError::one)?;
    let mut loaded = LoadedScenario {
        dir: dir.to_path_buf(),
        file,
        scenario,
        manifests: BTreeMap::new(),
        lines: LineIndex::new(&text),
    };
    let mut problems = unknown_fields(&loaded, &text);
    problems.extend(check(&mut loaded));
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(ScenarioError { problems })
    }
}

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true }
}

/// Parses the scenario file, naming the line (from the YAML parser) and the field path (from a
/// second decoding through a JSON value, which tracks paths) of the first error.
fn parse(file: &Path, text: &str) -> Result<Scenario, Problem> {
    let error = match serde_saphyr::from_str_with_options::<Scenario>(text, yaml_options()) {
        Ok(scenario) => return Ok(scenario),
        Err(e) => e,
    };
    let line = error
        .location()
        .and_then(|l| usize::try_from(l.line()).ok());
    let fallback = (String::new(), error.without_snippet().to_string());
    let (field, message) = match serde_saphyr::from_str_with_options::<Value>(text, yaml_options())
    {
        Ok(value) => match serde_path_to_error::deserialize::<_, Scenario>(&value) {
            Err(e) => {
                let path = e.path().to_string();
                let field = if path == "." { String::new() } else { path };
                (field, e.inner().to_string())
            }
            Ok(_) => fallback,
        },
        Err(_) => fallback,
    };
    Err(Problem {
        file: file.to_path_buf(),
        line,
        field,
        message,
    })
}

/// Fields the typed decoding accepted but dropped (possible around flattened label targets).
fn unknown_fields(loaded: &LoadedScenario, text: &str) -> Vec<Problem> {
    let Ok(original) = serde_saphyr::from_str_with_options::<Value>(text, yaml_options()) else {
        return Vec::new();
    };
    let Ok(round_trip) = serde_json::to_value(&loaded.scenario) else {
        return Vec::new();
    };
    manifest::unknown_fields(&original, &round_trip)
        .into_iter()
        .map(|field| loaded.problem(field, "unknown field"))
        .collect()
}

/// `[a-z0-9-]+`.
fn is_short_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Every static check; also reads the referenced manifests into `loaded.manifests`.
fn check(loaded: &mut LoadedScenario) -> Vec<Problem> {
    let mut problems = Vec::new();
    fields::check_header(loaded, &mut problems);
    manifests::read_manifests(loaded, &mut problems);
    if loaded.scenario.steps.is_empty() {
        problems.push(loaded.problem("steps", "a scenario needs at least one step"));
    }
    let mut seen = BTreeMap::new();
    for (i, step) in loaded.scenario.steps.iter().enumerate() {
        let field = format!("steps[{i}].name");
        if !is_short_name(&step.name) {
            problems.push(loaded.problem(
                &field,
                format!("`{}`: step names are [a-z0-9-]+", step.name),
            ));
        }
        if let Some(first) = seen.insert(step.name.clone(), i) {
            problems.push(loaded.problem(
                &field,
                format!("duplicate step name `{}` (also steps[{first}])", step.name),
            ));
        }
        for (m, matrix) in step.matrices.iter().enumerate() {
            if let Err((sub, message)) = expand_matrix(matrix) {
                problems.push(loaded.problem(format!("steps[{i}].matrices[{m}]{sub}"), message));
            }
        }
    }
    // References are checked against everything the scenario ever applies.
    let mut union = ClusterState::new(&loaded.scenario);
    for docs in loaded.manifests.values() {
        union.apply(docs);
    }
    match union.cluster() {
        Ok(cluster) => {
            fields::check_references(loaded, &cluster, &mut problems);
            requirements::check_requirements(loaded, &union, &cluster, &mut problems);
        }
        Err(e) => problems.push(loaded.problem("", e.to_string())),
    }
    requirements::check_steps_can_fail(loaded, &mut problems);
    problems
}
