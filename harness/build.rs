//! Names the commit in `netpol-harness --version`: `NETPOL_HARNESS_COMMIT` when set at build time
//! (packagers, source tarballs), else the checkout's `git rev-parse --short=12 HEAD`, else
//! `unknown` (a clean checkout without `.git` still builds).

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=NETPOL_HARNESS_COMMIT");
    let commit = std::env::var("NETPOL_HARNESS_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=NETPOL_HARNESS_COMMIT={}", commit.trim());
}

/// `git` in this crate's folder, its output when it succeeds.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}

/// The commit of this checkout, and cargo told to look again when HEAD moves. `None` outside a
/// git checkout, or when the enclosing repository is not this project's (a tarball unpacked
/// inside some other repository).
fn git_commit() -> Option<String> {
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    if Path::new(&top).canonicalize().ok()? != ours.canonicalize().ok()? {
        return None;
    }
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for path in watched {
        if let Some(p) = git(&["rev-parse", "--git-path", &path]) {
            let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(p);
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    git(&["rev-parse", "--short=12", "HEAD"])
}
