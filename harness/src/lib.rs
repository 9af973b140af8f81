//! netpol-harness: an end-to-end conformance harness for Kubernetes network policy.
//!
//! Data flows one way through the modules:
//! manifests → model → policy → oracle → scenario → runner (cluster, probe) → report.

pub mod capability;
pub mod probe;
