//! The manifests a scenario applies: which paths it names, that they stay inside its folder, and
//! reading them (with the images they run, for preloading).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::LoadedScenario;
use crate::manifest::{self, Document};
use crate::scenario::Problem;
use crate::scenario::format::{Action, Scenario};

/// Every container and init-container image the documents run (in pod templates too).
pub fn images_in<'a>(docs: impl IntoIterator<Item = &'a Document>) -> BTreeSet<String> {
    fn walk(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    if matches!(key.as_str(), "containers" | "initContainers")
                        && let Some(list) = v.as_array()
                    {
                        out.extend(
                            list.iter()
                                .filter_map(|c| c.get("image")?.as_str())
                                .map(str::to_string),
                        );
                    }
                    walk(v, out);
                }
            }
            Value::Array(list) => list.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut images = BTreeSet::new();
    for doc in docs {
        walk(&doc.value, &mut images);
    }
    images
}

/// Every manifest path the scenario applies or deletes, with its field.
fn manifest_references(scenario: &Scenario) -> Vec<(String, PathBuf)> {
    let mut refs: Vec<(String, PathBuf)> = scenario
        .setup
        .iter()
        .enumerate()
        .map(|(i, f)| (format!("setup[{i}]"), f.clone()))
        .collect();
    for (s, step) in scenario.steps.iter().enumerate() {
        for (a, action) in step.actions.iter().enumerate() {
            let (verb, files) = match action {
                Action::Apply(files) => ("apply", files),
                Action::Delete(files) => ("delete", files),
                _ => continue,
            };
            for (k, f) in files.iter().enumerate() {
                refs.push((format!("steps[{s}].actions[{a}].{verb}[{k}]"), f.clone()));
            }
        }
    }
    refs
}

/// Whether a path written in a scenario stays inside its folder.
pub fn is_inside(path: &Path) -> bool {
    !path.as_os_str().is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

pub(super) fn read_manifests(loaded: &mut LoadedScenario, problems: &mut Vec<Problem>) {
    let mut budget = manifest::Budget::default();
    for (field, file) in manifest_references(&loaded.scenario) {
        if loaded.manifests.contains_key(&file) {
            continue;
        }
        if !is_inside(&file) {
            problems.push(loaded.problem(
                &field,
                format!(
                    "`{}`: paths are relative to the scenario folder and stay inside it",
                    file.display()
                ),
            ));
            continue;
        }
        match manifest::load_file_within(&loaded.path(&file), Some(&loaded.dir), &mut budget) {
            Ok(docs) => {
                loaded.manifests.insert(file, docs);
            }
            Err(e) => problems.push(loaded.problem(&field, e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_inside_the_scenario_folder() {
        assert!(is_inside(Path::new("a.yaml")));
        assert!(is_inside(Path::new("original/a.yaml")));
        assert!(!is_inside(Path::new("../a.yaml")));
        assert!(!is_inside(Path::new("/etc/a.yaml")));
    }
}
