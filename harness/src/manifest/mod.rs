//! Reading manifests: files and directories of YAML or JSON, split into documents.
//!
//! Every document keeps its [`Source`] (file and 1-based document number) so that any later error
//! (a bad selector, an unsupported field) can name exactly where the user must look.

mod error;
mod strict;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use error::ManifestError;
pub use strict::unknown_fields;

/// Where a document came from: the file and its 1-based position among the file's documents.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    /// The file the document was read from.
    pub file: PathBuf,
    /// 1-based document number within the file (YAML documents separated by `---`).
    pub document: usize,
    /// 1-based line where the document starts.
    pub line: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: document {} (line {})",
            self.file.display(),
            self.document,
            self.line
        )
    }
}

/// One Kubernetes-style object as read from a manifest, before it is typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Where it was read from.
    pub source: Source,
    /// The object itself (a JSON/YAML mapping with `apiVersion` and `kind`).
    pub value: Value,
}

impl Document {
    /// The object's `apiVersion`, or `""` when absent.
    pub fn api_version(&self) -> &str {
        self.value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The object's `kind`, or `""` when absent.
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    /// The object's `metadata.name`, or `""` when absent.
    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The object's `metadata.namespace`, if set.
    pub fn namespace(&self) -> Option<&str> {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
    }

    /// Deserializes the document into `T`, naming the field path of the first error.
    pub fn typed<T: DeserializeOwned>(&self) -> Result<T, ManifestError> {
        serde_path_to_error::deserialize(&self.value).map_err(|e| {
            let path = e.path().to_string();
            ManifestError::Invalid {
                at: self.source.clone(),
                field: if path == "." { String::new() } else { path },
                message: e.inner().to_string(),
            }
        })
    }

    /// Like [`Document::typed`], and also refuses any field that `T` does not know: a field the
    /// harness would otherwise silently ignore (a typo such as `ingres`, or a newer API field).
    pub fn typed_strict<T: DeserializeOwned + serde::Serialize>(&self) -> Result<T, ManifestError> {
        let typed: T = self.typed()?;
        let round_trip = serde_json::to_value(&typed).map_err(|e| ManifestError::Invalid {
            at: self.source.clone(),
            field: String::new(),
            message: e.to_string(),
        })?;
        if let Some(field) = unknown_fields(&self.value, &round_trip).into_iter().next() {
            return Err(ManifestError::Unsupported {
                at: self.source.clone(),
                field,
                message: format!(
                    "unknown field for {} {}: the harness would ignore it, so it refuses it",
                    self.api_version(),
                    self.kind()
                ),
            });
        }
        Ok(typed)
    }

    /// An error about this document at `field`.
    pub fn invalid(&self, field: impl Into<String>, message: impl Into<String>) -> ManifestError {
        ManifestError::Invalid {
            at: self.source.clone(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// An "unsupported: …" error about this document at `field`.
    pub fn unsupported(
        &self,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ManifestError {
        ManifestError::Unsupported {
            at: self.source.clone(),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Loads every manifest under `paths`: files as given, directories recursively (`*.yaml`,
/// `*.yml`, `*.json`, in sorted order so results are reproducible).
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<Document>, ManifestError> {
    let mut documents = Vec::new();
    for path in paths {
        for file in manifest_files(path)? {
            documents.extend(load_file(&file)?);
        }
    }
    Ok(documents)
}

/// The manifest files under `path` (the file itself, or the matching files of a directory tree).
fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let meta = std::fs::metadata(path).map_err(|e| ManifestError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| ManifestError::Io {
            path: dir.clone(),
            message: e.to_string(),
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| ManifestError::Io {
                path: dir.clone(),
                message: e.to_string(),
            })?;
            let p = entry.path();
            if p.is_dir() {
                pending.push(p);
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Reads one file and splits it into documents.
pub fn load_file(path: &Path) -> Result<Vec<Document>, ManifestError> {
    let bytes = std::fs::read(path).map_err(|e| ManifestError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| ManifestError::NotText {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    parse_str(path, &text)
}

/// Splits `text` (YAML, possibly multi-document, or JSON) into documents. `path` is only used to
/// name the source in errors.
pub fn parse_str(path: &Path, text: &str) -> Result<Vec<Document>, ManifestError> {
    if text.contains('\0') {
        return Err(ManifestError::NotText {
            path: path.to_path_buf(),
            offset: text.find('\0').unwrap_or(0),
        });
    }
    let mut documents = Vec::new();
    for (index, chunk) in split_documents(text).into_iter().enumerate() {
        let source = Source {
            file: path.to_path_buf(),
            document: index + 1,
            line: chunk.first_line,
        };
        if chunk.is_blank() {
            continue;
        }
        // Pad with newlines so the parser's line numbers are the file's line numbers.
        let padded = format!("{}{}", "\n".repeat(chunk.first_line - 1), chunk.text);
        let value: Value =
            serde_saphyr::from_str_with_options(&padded, yaml_options()).map_err(|e| {
                ManifestError::Syntax {
                    at: source.clone(),
                    message: e.without_snippet().to_string(),
                }
            })?;
        expand_document(source, value, &mut documents)?;
    }
    Ok(documents)
}

/// YAML 1.2 scalars (only `true`/`false` are booleans, so a namespace called `y` or `no` stays a
/// string), and budgets large enough for CNI bundles with big CRDs.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        budget: serde_saphyr::budget! { max_nodes: 4_000_000, max_events: 16_000_000 },
    }
}

/// Adds `value` to `out`, expanding `kind: List` (as `kubectl get -o yaml` writes) into its items.
fn expand_document(
    source: Source,
    value: Value,
    out: &mut Vec<Document>,
) -> Result<(), ManifestError> {
    let Value::Object(map) = &value else {
        return Err(ManifestError::Invalid {
            at: source,
            field: String::new(),
            message: format!(
                "expected a Kubernetes object (a mapping with apiVersion and kind), found {}",
                json_type(&value)
            ),
        });
    };
    if map.get("kind").and_then(Value::as_str) == Some("List") {
        let items =
            map.get("items")
                .and_then(Value::as_array)
                .ok_or_else(|| ManifestError::Invalid {
                    at: source.clone(),
                    field: "items".into(),
                    message: "a List needs an `items` array".into(),
                })?;
        for item in items {
            expand_document(source.clone(), item.clone(), out)?;
        }
        return Ok(());
    }
    for field in ["apiVersion", "kind"] {
        match map.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(other) => {
                return Err(ManifestError::Invalid {
                    at: source,
                    field: field.into(),
                    message: format!("expected a non-empty string, found {}", json_type(other)),
                });
            }
            None => {
                return Err(ManifestError::Invalid {
                    at: source,
                    field: field.into(),
                    message: "missing".into(),
                });
            }
        }
    }
    out.push(Document { source, value });
    Ok(())
}

/// The JSON type of a value, for messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// One `---`-separated piece of a YAML stream.
struct Chunk<'a> {
    text: &'a str,
    first_line: usize,
}

impl Chunk<'_> {
    /// Whether the piece holds only whitespace, comments and directives.
    fn is_blank(&self) -> bool {
        self.text.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t.starts_with('%')
        })
    }
}

/// Splits a YAML stream at document markers (`---` or `...` at the start of a line). The marker
/// line itself may carry content after `--- ` (e.g. `--- !tag` or `--- {a: 1}`), which stays with
/// the document it opens.
fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_start = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        let is_end = bare == "..." || bare.starts_with("... ");
        if is_start || is_end {
            chunks.push(Chunk {
                text: &text[start..offset],
                first_line: start_line,
            });
            if is_start {
                // Keep anything after the marker as the new document's first line.
                start = offset + 3;
                start_line = i + 1;
            } else {
                start = offset + line.len();
                start_line = i + 2;
            }
        }
        offset += line.len();
    }
    chunks.push(Chunk {
        text: &text[start..],
        first_line: start_line,
    });
    chunks
}

#[cfg(test)]
mod tests;
