//! netpol-harness: an end-to-end conformance harness for Kubernetes network policy.
//!
//! Data flows one way through the modules:
//! [`manifest`] (files → documents) → [`model`] (namespaces, endpoints) → [`policy`] (every kind
//! in one rule model) → [`oracle`] (verdicts and explanations) → [`scenario`] steps → [`cluster`]
//! actions and [`probe`]s by the [`runner`] → observed matrix → [`report`]. [`provision`] (kind +
//! CNI) stands beside; [`generate`] writes scenarios from case tables, and [`analysis`] answers
//! `analyze` from the same model, policies and oracle.
//!
//! Each file holds one job (and at most about 600 lines besides its tests); a module whose jobs
//! grew has them in submodules beside it (`scenario/load/`, `policy/calico/`, `provision/kind/`).

#![warn(missing_docs)]

pub mod analysis;
pub mod capability;
pub mod cli;
pub mod cluster;
pub mod escape;
pub mod exit_codes;
pub mod generate;
pub mod input;
pub mod manifest;
pub mod model;
pub mod names;
pub mod oracle;
pub mod policy;
pub mod probe;
pub mod provision;
pub mod report;
pub mod runner;
pub mod scenario;
