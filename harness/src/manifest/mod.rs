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

use crate::{input, names};
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
    /// `FILE: document N (line L)`; an object read from a cluster (line 0, see
    /// [`Document::from_value`]) is `WHERE: object N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: object {}", self.file.display(), self.document);
        }
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

    /// A document from a value read elsewhere than a file (an object listed from a cluster),
    /// through the same checks as a file's documents: `apiVersion` and `kind` present, and every
    /// name Kubernetes would refuse ([`crate::names`]) refused, so that names from a server are
    /// as safe to print as names from a checked file.
    pub fn from_value(source: Source, value: Value) -> Result<Document, ManifestError> {
        let mut out = Vec::with_capacity(1);
        expand_document(source.clone(), value, &mut out)?;
        match <[Document; 1]>::try_from(out) {
            Ok([doc]) => Ok(doc),
            Err(_) => Err(ManifestError::Invalid {
                at: source,
                field: "kind".into(),
                message: "expected one object, not a List".into(),
            }),
        }
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

/// What one load (the files of one `analyze`, the manifests of one scenario) may parse in
/// total, on top of each file's own limits ([`input::MANIFEST`] and the YAML budget): so that
/// many files each just under their limits cannot add up without bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    bytes_left: usize,
    documents_left: usize,
}

/// The bytes of manifest text one load may parse.
pub const RUN_MAX_BYTES: usize = 128 << 20;
/// The documents one load may parse.
pub const RUN_MAX_DOCUMENTS: usize = 50_000;
/// The documents one file may hold.
pub const FILE_MAX_DOCUMENTS: usize = 10_000;
/// The YAML nodes (mappings, sequences, scalars; aliases count again each time they are used)
/// one file may hold.
pub const FILE_MAX_NODES: usize = 1_000_000;

impl Default for Budget {
    fn default() -> Self {
        Budget {
            bytes_left: RUN_MAX_BYTES,
            documents_left: RUN_MAX_DOCUMENTS,
        }
    }
}

impl Budget {
    /// Charges `bytes` of text read from `path`.
    fn charge_bytes(&mut self, path: &Path, bytes: usize) -> Result<(), ManifestError> {
        self.bytes_left = self
            .bytes_left
            .checked_sub(bytes)
            .ok_or_else(|| ManifestError::Io {
                path: path.to_path_buf(),
                message: format!(
                    "over the {RUN_MAX_BYTES}-byte limit on manifest text read in one load"
                ),
            })?;
        Ok(())
    }

    /// Charges the documents of `path`.
    fn charge_documents(&mut self, path: &Path, documents: usize) -> Result<(), ManifestError> {
        self.documents_left =
            self.documents_left
                .checked_sub(documents)
                .ok_or_else(|| ManifestError::Io {
                    path: path.to_path_buf(),
                    message: format!(
                        "over the {RUN_MAX_DOCUMENTS}-document limit on manifests read in one load"
                    ),
                })?;
        Ok(())
    }
}

/// Loads every manifest under `paths`: files as given, directories recursively (`*.yaml`,
/// `*.yml`, `*.json`, in sorted order so results are reproducible), all within one [`Budget`].
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<Document>, ManifestError> {
    let mut budget = Budget::default();
    let mut documents = Vec::new();
    for path in paths {
        for file in manifest_files(path)? {
            documents.extend(load_file_within(&file, None, &mut budget)?);
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
    Ok(input::walk(path, None, |p| {
        matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        )
    })?)
}

/// Reads one file (through the [`input`] gate) and splits it into documents.
pub fn load_file(path: &Path) -> Result<Vec<Document>, ManifestError> {
    load_file_within(path, None, &mut Budget::default())
}

/// Like [`load_file`], refusing a file whose real location is outside `root` (when given), and
/// charging what it reads to `budget`.
pub fn load_file_within(
    path: &Path,
    root: Option<&Path>,
    budget: &mut Budget,
) -> Result<Vec<Document>, ManifestError> {
    let text = input::read_text(path, root, input::MANIFEST).map_err(|e| match e {
        input::InputError::NotText { path, offset } => ManifestError::NotText { path, offset },
        other => ManifestError::Input(other),
    })?;
    budget.charge_bytes(path, text.len())?;
    let documents = parse_str(path, &text)?;
    budget.charge_documents(path, documents.len())?;
    Ok(documents)
}

/// Splits `text` (YAML, possibly multi-document, or JSON) into documents. `path` is only used to
/// name the source in errors.
///
/// The whole stream is parsed once, in linear time, under one budget for the file
/// ([`FILE_MAX_DOCUMENTS`], [`FILE_MAX_NODES`]), not one per document.
pub fn parse_str(path: &Path, text: &str) -> Result<Vec<Document>, ManifestError> {
    if text.contains('\0') {
        return Err(ManifestError::NotText {
            path: path.to_path_buf(),
            offset: text.find('\0').unwrap_or(0),
        });
    }
    // The first line of every `---`-separated piece, to number documents as people count them
    // (blank pieces included) from a line the parser reports.
    let starts = document_starts(text);
    let source_at = |line: usize| {
        let index = starts.partition_point(|&s| s <= line).max(1);
        Source {
            file: path.to_path_buf(),
            document: index,
            line: starts[index - 1],
        }
    };
    let values: Vec<serde_saphyr::Spanned<Value>> =
        serde_saphyr::from_multiple_with_options(text, yaml_options()).map_err(|e| {
            let line = e
                .location()
                .and_then(|l| usize::try_from(l.line()).ok())
                .unwrap_or(1);
            let mut message = e.without_snippet().to_string();
            if message.contains("budget") || message.contains("limit") {
                message.push_str(&format!(
                    " (the YAML budget of one file: {FILE_MAX_NODES} nodes, {FILE_MAX_DOCUMENTS} documents)"
                ));
            }
            ManifestError::Syntax {
                at: source_at(line),
                message,
            }
        })?;
    let mut documents = Vec::new();
    for spanned in values {
        let line = usize::try_from(spanned.referenced.line()).unwrap_or(1);
        expand_document(source_at(line), spanned.value, &mut documents)?;
    }
    Ok(documents)
}

/// YAML 1.2 scalars (only `true`/`false` are booleans, so a namespace called `y` or `no` stays a
/// string), and one budget for the whole file, large enough for CNI bundles with big CRDs.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        budget: serde_saphyr::budget! {
            max_nodes: FILE_MAX_NODES,
            max_events: 4 * FILE_MAX_NODES,
            max_documents: FILE_MAX_DOCUMENTS,
        },
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
    if let Some((field, message)) = refused_name(&value) {
        return Err(ManifestError::Invalid {
            at: source,
            field,
            message,
        });
    }
    out.push(Document { source, value });
    Ok(())
}

/// The first name in `object` that Kubernetes would refuse ([`crate::names`]), with its field:
/// `metadata.name` (of Kubernetes' own kinds) and `metadata.namespace`, the keys and values of
/// every `metadata.labels` (pod templates' included), container and Service port names.
fn refused_name(object: &Value) -> Option<(String, String)> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    // Names of policy kinds (Calico's, AdminNetworkPolicy) are checked with their policy, by
    // the rules of their own API.
    let core = matches!(
        api_version.split('/').next().unwrap_or(""),
        "v1" | "apps" | "batch" | "networking.k8s.io"
    ) && !kind.ends_with("NetworkPolicy");
    if let Some(name) = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|_| core)
    {
        let check = if matches!(kind, "Namespace" | "Service") {
            names::dns1123_label
        } else {
            names::dns1123_subdomain
        };
        if let Err(e) = check(name) {
            return Some(("metadata.name".into(), e));
        }
    }
    if let Some(ns) = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        && let Err(e) = names::dns1123_label(ns)
    {
        return Some(("metadata.namespace".into(), e));
    }
    let mut found = None;
    walk_names(object, kind, String::new(), &mut found);
    found
}

fn labels_refused(labels: &serde_json::Map<String, Value>, path: &str) -> Option<(String, String)> {
    labels.iter().find_map(|(key, value)| {
        let field = format!("{path}.{key}");
        if let Err(e) = names::label_key(key) {
            return Some((field, e));
        }
        let value = value.as_str()?;
        names::label_value(value).err().map(|e| (field, e))
    })
}

fn walk_names(value: &Value, kind: &str, path: String, found: &mut Option<(String, String)>) {
    if found.is_some() {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                // Selectors' `matchLabels` are checked with the policy that holds them.
                let labels = key == "labels" && (path.is_empty() || path.ends_with("metadata"));
                if labels && let Some(map) = child.as_object() {
                    *found = labels_refused(map, &child_path);
                } else if matches!(key.as_str(), "containers" | "initContainers")
                    && let Some(list) = child.as_array()
                {
                    *found = ports_refused(list, &child_path, names::port_name);
                } else if kind == "Service"
                    && child_path == "spec.ports"
                    && let Some(list) = child.as_array()
                {
                    *found = named_refused(list, &child_path, names::dns1123_label);
                }
                if found.is_some() {
                    return;
                }
                walk_names(child, kind, child_path, found);
            }
        }
        Value::Array(list) => {
            for (i, child) in list.iter().enumerate() {
                walk_names(child, kind, format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// The first `ports[].name` of the containers in `list` that `check` refuses.
fn ports_refused(
    list: &[Value],
    path: &str,
    check: fn(&str) -> Result<(), String>,
) -> Option<(String, String)> {
    list.iter().enumerate().find_map(|(i, container)| {
        let ports = container.get("ports")?.as_array()?;
        named_refused(ports, &format!("{path}[{i}].ports"), check)
    })
}

/// The first `name` of the items in `list` that `check` refuses.
fn named_refused(
    list: &[Value],
    path: &str,
    check: fn(&str) -> Result<(), String>,
) -> Option<(String, String)> {
    list.iter().enumerate().find_map(|(i, item)| {
        let name = item.get("name")?.as_str()?;
        check(name).err().map(|e| (format!("{path}[{i}].name"), e))
    })
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

/// The first line of every piece of a YAML stream split at document markers (`---` or `...`
/// at the start of a line), blank pieces included. A `---` line opens the piece it starts (it
/// may carry content: `--- {a: 1}`); a `...` line closes the piece before it.
fn document_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![1];
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t") {
            starts.push(i + 1);
        } else if bare == "..." || bare.starts_with("... ") {
            starts.push(i + 2);
        }
    }
    starts
}

#[cfg(test)]
mod tests;
