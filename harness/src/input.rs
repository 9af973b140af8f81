//! The one gate every file the harness reads goes through: manifests, scenario files, errata
//! proof files, `results.json`, kubeconfigs, standard input lines.
//!
//! A scenario folder arrives in a pull request, so nothing in it is trusted. [`read_text`]:
//! - resolves the path (symlinks included) and, when given a root folder, refuses a path whose
//!   real location is outside it;
//! - reads regular files only: a directory, FIFO, socket or device (`/dev/zero`) is refused from
//!   its metadata, before it is opened, and the file is opened non-blocking and checked again
//!   (`fstat`) in case it was swapped in between;
//! - caps the size of the file and of each of its lines, naming the limit that was hit;
//! - accepts UTF-8 only (a leading byte-order mark is dropped: editors on Windows write one).
//!
//! [`walk`] lists a directory tree with a visited set of real paths, so a symlink loop
//! (`a -> .`) ends with an error instead of never. Error messages name the path and the limit,
//! never the content of a file outside the root.

use std::collections::HashSet;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// The size limits of one kind of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// What is read, for messages (`a manifest`, `a results file`).
    pub what: &'static str,
    /// The largest file, in bytes.
    pub max_bytes: u64,
    /// The longest line, in bytes.
    pub max_line: usize,
}

/// Manifests: 32 MiB (an operator bundle with its CRDs is a few MiB), lines of 2 MiB (the API
/// server refuses objects over about 1.5 MiB anyway).
pub const MANIFEST: Limits = Limits {
    what: "a manifest",
    max_bytes: 32 << 20,
    max_line: 2 << 20,
};

/// A `scenario.yaml`: 1 MiB, lines of 64 KiB.
pub const SCENARIO: Limits = Limits {
    what: "a scenario file",
    max_bytes: 1 << 20,
    max_line: 64 << 10,
};

/// A `results.json`: 256 MiB (one run of every scenario is well under 1 MiB), lines of 1 MiB.
pub const RESULTS: Limits = Limits {
    what: "a results file",
    max_bytes: 256 << 20,
    max_line: 1 << 20,
};

/// A kubeconfig: 16 MiB, lines of 1 MiB (inline certificates are a few KiB).
pub const KUBECONFIG: Limits = Limits {
    what: "a kubeconfig",
    max_bytes: 16 << 20,
    max_line: 1 << 20,
};

/// One line typed on standard input (`reproduce --interactive`): 4 KiB.
pub const STDIN_LINE: Limits = Limits {
    what: "an input line",
    max_bytes: 4 << 10,
    max_line: 4 << 10,
};

/// Why an input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The operating system refused (missing file, permissions).
    #[error("cannot read {}: {message}", path.display())]
    Io {
        /// The path as given.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The path's real location (symlinks resolved) is outside the folder it must stay in.
    #[error("{}: leaves {} (through a symlink or `..`); files are read only from inside it", path.display(), root.display())]
    Outside {
        /// The path as given.
        path: PathBuf,
        /// The folder it must stay in.
        root: PathBuf,
    },
    /// Not a regular file.
    #[error("{}: is a {kind}, not a regular file", path.display())]
    NotRegular {
        /// The path as given.
        path: PathBuf,
        /// What it is (`directory`, `FIFO`, `character device`...).
        kind: &'static str,
    },
    /// Over the size limit.
    #[error("{}: larger than the {limit}-byte limit for {what}", path.display())]
    TooLarge {
        /// The path as given.
        path: PathBuf,
        /// What it was read as.
        what: &'static str,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A line over the line limit.
    #[error("{}:{line}: line longer than the {limit}-byte limit for {what}", path.display())]
    LineTooLong {
        /// The path as given.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What it was read as.
        what: &'static str,
        /// The limit, in bytes.
        limit: usize,
    },
    /// Not UTF-8.
    #[error("{}: not UTF-8 text (invalid byte at offset {offset})", path.display())]
    NotText {
        /// The path as given.
        path: PathBuf,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// A directory tree that leads back into itself.
    #[error("{}: symlink loop at {} (it leads to a folder already read)", root.display(), path.display())]
    Loop {
        /// The walk's starting folder.
        root: PathBuf,
        /// The symlink (or folder) that leads back.
        path: PathBuf,
    },
}

/// What kind of file `meta` describes, for messages.
fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "directory";
    }
    if t.is_symlink() {
        return "symlink";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_socket() {
            return "socket";
        }
        if t.is_char_device() {
            return "character device";
        }
        if t.is_block_device() {
            return "block device";
        }
    }
    if t.is_file() { "file" } else { "special file" }
}

fn io_error(path: &Path, e: &std::io::Error) -> InputError {
    InputError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The real (canonical) location of `path`, checked to be inside `root` when one is given.
pub fn resolve(path: &Path, root: Option<&Path>) -> Result<PathBuf, InputError> {
    let real = std::fs::canonicalize(path).map_err(|e| io_error(path, &e))?;
    if let Some(root) = root {
        let real_root = std::fs::canonicalize(root).map_err(|e| io_error(root, &e))?;
        if !real.starts_with(&real_root) {
            return Err(InputError::Outside {
                path: path.to_path_buf(),
                root: root.to_path_buf(),
            });
        }
    }
    Ok(real)
}

/// Opens `real` (already resolved) for reading without blocking on a FIFO swapped in since
/// its metadata was checked.
fn open_nonblocking(real: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(real)
}

/// The real location of `path` once it is known to be a regular file within `limits`' size
/// (and inside `root`, when given), without reading it: for files another library reads
/// (a kubeconfig, read by kube-rs).
pub fn check_file(path: &Path, root: Option<&Path>, limits: Limits) -> Result<PathBuf, InputError> {
    let real = resolve(path, root)?;
    let meta = std::fs::metadata(&real).map_err(|e| io_error(path, &e))?;
    if !meta.is_file() {
        return Err(InputError::NotRegular {
            path: path.to_path_buf(),
            kind: kind(&meta),
        });
    }
    if meta.len() > limits.max_bytes {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            what: limits.what,
            limit: limits.max_bytes,
        });
    }
    Ok(real)
}

/// Reads the regular file `path` as UTF-8 text within `limits`, refusing it if its real
/// location is outside `root` (when given). See the module documentation.
pub fn read_text(path: &Path, root: Option<&Path>, limits: Limits) -> Result<String, InputError> {
    let real = check_file(path, root, limits)?;
    let too_large = || InputError::TooLarge {
        path: path.to_path_buf(),
        what: limits.what,
        limit: limits.max_bytes,
    };
    let file = open_nonblocking(&real).map_err(|e| io_error(path, &e))?;
    let opened = file.metadata().map_err(|e| io_error(path, &e))?;
    if !opened.is_file() {
        return Err(InputError::NotRegular {
            path: path.to_path_buf(),
            kind: kind(&opened),
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(opened.len()).unwrap_or(0));
    file.take(limits.max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, &e))?;
    if bytes.len() as u64 > limits.max_bytes {
        return Err(too_large());
    }
    text(path, bytes, limits)
}

/// Checks `bytes` read from `path` against `limits` and turns them into text (a leading
/// byte-order mark dropped).
pub fn text(path: &Path, mut bytes: Vec<u8>, limits: Limits) -> Result<String, InputError> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    if bytes.len() as u64 > limits.max_bytes {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            what: limits.what,
            limit: limits.max_bytes,
        });
    }
    if let Some((index, _)) = bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .find(|(_, line)| line.len() > limits.max_line)
    {
        return Err(InputError::LineTooLong {
            path: path.to_path_buf(),
            line: index + 1,
            what: limits.what,
            limit: limits.max_line,
        });
    }
    String::from_utf8(bytes).map_err(|e| InputError::NotText {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Reads one line from `reader` (standard input) within `limits.max_line`, without the line
/// end; `None` at end of input. A longer line is refused, not buffered.
pub fn read_line<R: BufRead + ?Sized>(
    reader: &mut R,
    limits: Limits,
) -> Result<Option<String>, InputError> {
    let path = PathBuf::from("<stdin>");
    let mut bytes = Vec::new();
    let limit = u64::try_from(limits.max_line).unwrap_or(u64::MAX);
    let read = reader
        .take(limit.saturating_add(1))
        .read_until(b'\n', &mut bytes)
        .map_err(|e| io_error(&path, &e))?;
    if read == 0 {
        return Ok(None);
    }
    if bytes.ends_with(b"\n") {
        bytes.pop();
    } else if bytes.len() > limits.max_line {
        return Err(InputError::LineTooLong {
            path,
            line: 1,
            what: limits.what,
            limit: limits.max_line,
        });
    }
    if bytes.ends_with(b"\r") {
        bytes.pop();
    }
    text(&path, bytes, limits).map(Some)
}

/// The files under `dir` (recursively, symlinks followed) whose name `keep` accepts, sorted.
/// Every folder is entered once: a symlink leading to a folder already read is a loop. With
/// `root`, everything must stay inside it.
pub fn walk(
    dir: &Path,
    root: Option<&Path>,
    keep: impl Fn(&Path) -> bool,
) -> Result<Vec<PathBuf>, InputError> {
    let mut visited: HashSet<PathBuf> = HashSet::new();
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let real = resolve(&current, root)?;
        if !visited.insert(real) {
            return Err(InputError::Loop {
                root: dir.to_path_buf(),
                path: current,
            });
        }
        let entries = std::fs::read_dir(&current).map_err(|e| io_error(&current, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&current, &e))?;
            let path = entry.path();
            // `metadata` follows symlinks without opening anything.
            let meta = std::fs::metadata(&path).map_err(|e| io_error(&path, &e))?;
            if meta.is_dir() {
                pending.push(path);
            } else if keep(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests;
