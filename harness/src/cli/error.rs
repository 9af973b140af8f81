//! Why a subcommand failed: one type for the whole command line, each variant keeping its
//! cause, and the exit code it means ([`CliError::exit_code`], from [`crate::exit_codes`]).

use std::process::ExitCode;

use super::matrix;
use crate::cluster::ClusterError;
use crate::exit_codes;
use crate::manifest::ManifestError;
use crate::provision::ProvisionError;
use crate::report::ReporterError;
use crate::runner::plan::PlanError;
use crate::scenario::ScenarioError;

/// Why a subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments ask for something that cannot be done (a message saying what to pass).
    #[error("{0}")]
    Usage(String),
    /// The scenarios folder cannot be listed, or a scenario does not load.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// Scenarios asked for do not load.
    #[error("{}", .0.iter().map(|(name, e)| format!("scenario {name}:\n{e}")).collect::<Vec<_>>().join("\n"))]
    NotLoaded(Vec<(String, ScenarioError)>),
    /// A step of a scenario cannot be planned.
    #[error(
        "cannot plan the next step:\n{source}\n(`netpol-harness validate {scenario}` lists every problem)"
    )]
    PlanStep {
        /// The scenario.
        scenario: String,
        /// Why.
        source: ScenarioError,
    },
    /// Manifests cannot be read.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// `analyze` failed (its manifests, a cluster it reads, its arguments or its output).
    #[error(transparent)]
    Analyze(#[from] super::analyze::AnalyzeError),
    /// A scenario cannot be run as planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The cluster cannot be reached or refused something.
    #[error(transparent)]
    Cluster(Box<ClusterError>),
    /// The API server did not answer in time.
    #[error("the API server of context {context} does not answer")]
    NoAnswer {
        /// The kubeconfig context.
        context: String,
    },
    /// The API server answered with an error.
    #[error("context {context}: {source}")]
    ServerVersion {
        /// The kubeconfig context.
        context: String,
        /// What it answered.
        source: Box<ClusterError>,
    },
    /// The cluster's marker says `netpol-harness up` set it up for another CNI than `--cni`.
    #[error(
        "context {context} is a cluster `netpol-harness up` set up for {marker}, not {asked}: run with --cni {marker}, or pick the {asked} cluster's context"
    )]
    OtherCni {
        /// The kubeconfig context.
        context: String,
        /// The CNI its marker names.
        marker: String,
        /// The CNI asked for.
        asked: String,
    },
    /// `reproduce` cannot run on a cluster (the dry run still can).
    #[error(
        "cannot run on a cluster: {source}\n(`netpol-harness reproduce {scenario} --dry-run` walks the tutorial against the oracle, and `netpol-harness plan {scenario}` shows every prediction)"
    )]
    NoCluster {
        /// The scenario.
        scenario: String,
        /// Why.
        source: Box<CliError>,
    },
    /// A kind cluster cannot be provisioned or deleted.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// Generated suites cannot be built or written.
    #[error(transparent)]
    Generate(#[from] crate::generate::GenerateError),
    /// The compatibility matrix cannot be built or written.
    #[error(transparent)]
    Matrix(#[from] matrix::Error),
    /// A run's output or report cannot be written.
    #[error(transparent)]
    Report(#[from] ReporterError),
    /// JSON output cannot be encoded.
    #[error("encoding JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Standard output cannot be written.
    #[error("writing output: {0}")]
    Output(#[source] std::io::Error),
    /// Standard input cannot be read (or a line is too long).
    #[error("reading input: {0}")]
    Input(#[source] crate::input::InputError),
    /// The async runtime cannot be started.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl From<ClusterError> for CliError {
    fn from(e: ClusterError) -> CliError {
        CliError::Cluster(Box::new(e))
    }
}

impl CliError {
    /// The exit code this failure means: [`exit_codes::FAILURE`] (an interrupted run is not a
    /// failure of the command: it exits with [`exit_codes::INTERRUPTED`] through its
    /// [`crate::runner::RunOutcome::exit_code`]).
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(exit_codes::FAILURE)
    }
}
