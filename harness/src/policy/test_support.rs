//! Small builders for policy tests: manifests as YAML text, and questions to the oracle by name.

use std::path::Path;

use crate::analysis::Analysis;
use crate::manifest::{ManifestError, parse_str};

/// A namespace with labels.
pub fn ns(name: &str, labels: &[(&str, &str)]) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels: {}\n---\n",
        map(labels)
    )
}

fn map(labels: &[(&str, &str)]) -> String {
    let body = labels
        .iter()
        .map(|(k, v)| format!("{k:?}: {v:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{{{body}}}")
}

/// Loads `yaml` (file name `t.yaml`) into an analysis.
pub fn load(yaml: &str) -> Result<Analysis, ManifestError> {
    let docs = parse_str(Path::new("t.yaml"), yaml)?;
    Analysis::from_documents(&docs, crate::model::DEFAULT_POD_CIDR.parse().expect("CIDR"))
}

/// The error `yaml` is refused with, as text.
pub fn refusal(yaml: &str) -> String {
    match load(yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}
