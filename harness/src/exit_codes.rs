//! The exit codes of `netpol-harness`, in one place.

/// Everything ran and nothing failed.
pub const SUCCESS: u8 = 0;
/// Something failed: a step on the CNI under test, a cleanup, or the command itself (bad input,
/// no cluster, a file that cannot be written).
pub const FAILURE: u8 = 1;
/// `analyze --diff` with `--fail-on-change` / `--fail-on-new-allow`: a cell changed, or a
/// connection is newly allowed.
pub const CHANGED: u8 = 2;
/// Interrupted by Ctrl-C (128 + SIGINT, as shells report it), after deleting what the run
/// created.
pub const INTERRUPTED: u8 = 130;
