//! Reports: one run's results file, and the compatibility matrix across CNIs.
//!
//! - [`results`]: the `results.json` format the runner writes ([`results::RunResults`]).
//! - [`matrix`]: rows scenario/step × columns CNI, as markdown, HTML or JSON.

pub mod matrix;
pub mod results;
