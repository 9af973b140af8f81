//! Reports: truth tables for people, one run's results file, and the compatibility matrix.
//!
//! - [`truth_table`]: rows = from, columns = to, one table per probe.
//! - [`plan`]: a scenario step's declared vs predicted probes.
//! - [`run`]: a run's outcomes for people (each step's expected, observed and diff tables, the
//!   summary) and for machines (`results.json`, JUnit XML).
//! - [`Reporter`]: what `netpol-harness run` shows and writes as the runner's events arrive.
//! - [`results`]: the `results.json` format the runner writes ([`results::RunResults`]).
//! - [`matrix`]: rows scenario/step × columns CNI, as markdown, HTML or JSON.
//! - [`latency`]: enforcement latency over steps (median, p95).
//! - [`cell_totals`]: the matrix's claims and derived cells per CNI.
//! - [`cells`]: one probed cell in `results.json`; [`locality`]: cells summed up by same-node /
//!   cross-node.

pub mod cell_totals;
pub mod cells;
pub mod latency;
pub mod locality;
pub mod matrix;
pub mod plan;
mod reporter;
pub mod results;
pub mod run;
pub mod truth_table;

pub use reporter::{ReportTarget, Reporter, ReporterError};
