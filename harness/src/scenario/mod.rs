//! Scenarios: a tutorial as runnable steps, each with actions and probes whose expectations are
//! checked first against the oracle, then on a cluster.

pub mod format;
