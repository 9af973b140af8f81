//! Errors about manifests, always naming the file, the document and (where known) the field.

use std::path::PathBuf;

use super::Source;

/// Something wrong with a manifest the user gave.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    /// The file or directory could not be read.
    #[error("{}: {message}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The file was refused by the input gate (outside its folder, not a regular file, over a
    /// size limit).
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// The file is not UTF-8 text (binary garbage, or another encoding).
    #[error("{}: not a text manifest (invalid UTF-8 or a NUL byte at byte {offset})", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The document is not valid YAML/JSON.
    #[error("{at}: {message}")]
    Syntax {
        /// Where.
        at: Source,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The document is well-formed but a field is wrong (a wrong type, a bad value).
    #[error("{at}: {}{message}", field_prefix(field))]
    Invalid {
        /// Where.
        at: Source,
        /// The field path, e.g. `spec.ingress[0].ports[1].port`; empty for the whole document.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The document uses something the oracle does not model; ignoring it would give a silently
    /// wrong prediction, so it is refused.
    #[error("{at}: {}unsupported: {message}", field_prefix(field))]
    Unsupported {
        /// Where.
        at: Source,
        /// The field path.
        field: String,
        /// What is not modelled, and why.
        message: String,
    },
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}
