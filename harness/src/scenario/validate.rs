//! Validating a scenario against the oracle: every step planned, every probe's expectation borne
//! out by the prediction, every allowed probe aimed at a port something listens on, and every
//! erratum's proof holding.

use std::path::{Path, PathBuf};

use super::Problem;
use super::format::{Expectation, Proof, ScenarioProbeKind, UNPINNED};
use super::load::{LoadedScenario, is_inside};
use super::plan::{self, PlannedProbe, PlannedStep, PredictError, Resolution, agrees, predict};
use crate::manifest::{self, ManifestError};
use crate::model::{Cluster, removed_api};
use crate::policy::Semantics;

/// An erratum proof that holds, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proven {
    /// Index into the scenario's `errata`.
    pub erratum: usize,
    /// The proof's kind (`yaml-does-not-parse`, `removed-api`, `claim-contradicted`).
    pub kind: &'static str,
    /// What the harness observed (the parser's message, the removed API, the prediction).
    pub evidence: String,
}

/// The outcome of validating one scenario.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The steps planned (all of them, unless planning failed on one).
    pub steps: Vec<PlannedStep>,
    /// Everything wrong; the scenario is valid when this is empty.
    pub problems: Vec<Problem>,
    /// Things to fix that do not make the scenario wrong (e.g. an unpinned remote manifest).
    pub warnings: Vec<Problem>,
    /// The errata proofs that hold.
    pub proven: Vec<Proven>,
}

impl Validation {
    /// Whether the scenario is valid.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Validates a loaded scenario (loading already ran every check that needs no oracle).
pub fn validate(loaded: &LoadedScenario) -> Validation {
    validate_as(loaded, Semantics::Generic)
}

/// Like [`validate`], with the oracle predicting what `semantics` (a Calico line) does: what a
/// run on that CNI is checked against.
pub fn validate_as(loaded: &LoadedScenario, semantics: Semantics) -> Validation {
    let mut v = Validation {
        steps: Vec::new(),
        problems: Vec::new(),
        warnings: Vec::new(),
        proven: Vec::new(),
    };
    for (i, remote) in loaded.scenario.remote.iter().enumerate() {
        if remote.sha256 == UNPINNED {
            v.warnings.push(loaded.problem(
                format!("remote[{i}].sha256"),
                format!(
                    "{} is not pinned: a runner refuses it until its SHA-256 is written here",
                    remote.url
                ),
            ));
        }
    }
    for result in plan::steps_as(loaded, semantics) {
        match result {
            Ok(step) => v.steps.push(step),
            Err(e) => {
                v.problems.extend(e.problems);
                break;
            }
        }
    }
    for step in &v.steps {
        for probe in &step.probes {
            let field = field_of(&probe.origin);
            if !probe.agrees {
                v.problems.push(loaded.problem(
                    &field,
                    format!(
                        "{}: {} → {}: the scenario expects {}, the oracle predicts {}: {}",
                        probe.origin,
                        probe.probe.from,
                        probe.probe.to,
                        probe.expected,
                        probe.predicted,
                        probe.reason
                    ),
                ));
            }
            if let Some(message) = refused(&step.model.cluster, probe) {
                v.problems
                    .push(loaded.problem(&field, format!("{}: {message}", probe.origin)));
            }
        }
    }
    for (i, policy, net) in address_dependent(&v.steps) {
        v.warnings.push(loaded.problem(
            format!("steps[{i}]"),
            format!(
                "{policy}: {net} covers part of the pod CIDR {}: which pods it covers depends on \
                 the addresses the cluster gives them, which the plan assumes (in order from the \
                 pod CIDR), so its predictions may not hold on a cluster; a CIDR covering the \
                 whole pod CIDR or none of it does not depend on them",
                crate::model::DEFAULT_POD_CIDR
            ),
        ));
    }
    check_proofs(loaded, &mut v);
    v
}

/// The address rules (ipBlock, `nets`/`notNets`, `networks`) of the steps' policies whose CIDR
/// covers part of the pod CIDR, each once (the first step it is in): `(step index, policy, CIDR)`.
fn address_dependent(steps: &[PlannedStep]) -> Vec<(usize, String, ipnet::IpNet)> {
    let pods: ipnet::IpNet = crate::model::DEFAULT_POD_CIDR
        .parse()
        .expect("valid default CIDR");
    let partial = |net: &ipnet::IpNet| {
        (net.contains(&pods.network()) || pods.contains(&net.network())) && !net.contains(&pods)
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for step in steps {
        for policy in &step.model.policies.policies {
            let rules = policy.ingress.iter().chain(&policy.egress).flatten();
            for side in rules.flat_map(|r| [&r.source, &r.destination]) {
                for net in side
                    .nets
                    .iter()
                    .chain(&side.not_nets)
                    .filter(|n| partial(n))
                {
                    let name = format!("{} ({})", policy.id, policy.source);
                    if seen.insert((name.clone(), *net)) {
                        out.push((step.index, name, *net));
                    }
                }
            }
        }
    }
    out
}

/// The field part of a probe's origin (`steps[1].matrices[0] row 2 column 1` → `steps[1].matrices[0]`).
fn field_of(origin: &str) -> String {
    origin.split(' ').next().unwrap_or(origin).to_string()
}

/// Why a probe expected to connect would be refused instead: nothing declares the port.
fn refused(cluster: &Cluster, probe: &PlannedProbe) -> Option<String> {
    if probe.expected == Expectation::Blocked
        || matches!(
            probe.probe.kind,
            ScenarioProbeKind::Icmp | ScenarioProbeKind::Dns
        )
    {
        return None;
    }
    let protocol = super::target::protocol(probe.probe.kind);
    let declared = |key: &str, port: u16| {
        cluster
            .endpoint(key)
            .map(|id| cluster.get(id))
            .is_none_or(|e| {
                e.ports
                    .iter()
                    .any(|p| p.port == port && p.protocol == protocol)
            })
    };
    let targets: Vec<(String, u16)> = match &probe.resolution {
        Resolution::Endpoint {
            endpoint,
            port: Some(port),
            ..
        } => vec![(endpoint.clone(), *port)],
        Resolution::Service { backends, .. } => backends
            .iter()
            .map(|b| (b.endpoint.clone(), b.port))
            .collect(),
        Resolution::Ingress {
            route: Some(route), ..
        } => route
            .backends
            .iter()
            .map(|b| (b.endpoint.clone(), b.port))
            .collect(),
        _ => Vec::new(),
    };
    targets
        .into_iter()
        .find(|(key, port)| !declared(key, *port))
        .map(|(key, port)| {
            format!(
                "no container of {key} declares port {port}/{protocol}: the probe expects a connection, but nothing would listen (declare the containerPort)"
            )
        })
}

fn check_proofs(loaded: &LoadedScenario, v: &mut Validation) {
    for (i, erratum) in loaded.scenario.errata.iter().enumerate() {
        let Some(proof) = &erratum.proof else {
            continue;
        };
        let field = format!("errata[{i}].proof");
        let outcome = match proof {
            Proof::YamlDoesNotParse { file } => {
                proof_file(loaded, file).and_then(|path| match load_proof(loaded, &path) {
                    Err(e @ ManifestError::Syntax { .. }) => {
                        Ok(("yaml-does-not-parse", e.to_string()))
                    }
                    Err(source) => Err(ProofError::NotYaml {
                        file: file.clone(),
                        source,
                    }),
                    Ok(_) => Err(ProofError::Parses { file: file.clone() }),
                })
            }
            Proof::RemovedApi { file } => {
                proof_file(loaded, file).and_then(|path| match load_proof(loaded, &path) {
                    Err(source) => Err(ProofError::DoesNotParse {
                        file: file.clone(),
                        source,
                    }),
                    Ok(docs) => docs
                        .iter()
                        .find_map(|d| {
                            removed_api(d.api_version(), d.kind()).map(|why| {
                                format!("{}: {} {}: {why}", d.source, d.api_version(), d.kind())
                            })
                        })
                        .map(|evidence| ("removed-api", evidence))
                        .ok_or_else(|| ProofError::NoRemovedApi { file: file.clone() }),
                })
            }
            Proof::ClaimContradicted {
                step,
                probe,
                claimed,
            } => claim_contradicted(loaded, &v.steps, step, probe, *claimed),
        };
        match outcome {
            Ok((kind, evidence)) => v.proven.push(Proven {
                erratum: i,
                kind,
                evidence,
            }),
            Err(e) => v.problems.push(loaded.problem(field, e.to_string())),
        }
    }
}

/// Why an erratum's proof does not hold (or cannot be checked).
#[derive(Debug, thiserror::Error)]
enum ProofError {
    /// The proof file is outside the scenario folder.
    #[error("`{}`: paths are relative to the scenario folder and stay inside it", file.display())]
    Outside { file: PathBuf },
    /// A `yaml-does-not-parse` file fails to load for another reason.
    #[error("{} fails to load, but not as YAML: {source}", file.display())]
    NotYaml {
        file: PathBuf,
        #[source]
        source: ManifestError,
    },
    /// A `yaml-does-not-parse` file parses.
    #[error("{} parses: the erratum says it does not", file.display())]
    Parses { file: PathBuf },
    /// A `removed-api` file does not parse.
    #[error(
        "{} does not parse ({source}); a removed-api proof needs a file that parses",
        file.display()
    )]
    DoesNotParse {
        file: PathBuf,
        #[source]
        source: ManifestError,
    },
    /// A `removed-api` file uses no removed API.
    #[error("{} uses no removed API", file.display())]
    NoRemovedApi { file: PathBuf },
    /// A `claim-contradicted` proof names no step of the scenario.
    #[error("unknown step `{step}` (steps: {steps})")]
    UnknownStep { step: String, steps: String },
    /// The step could not be planned.
    #[error("cannot check: step `{step}` could not be planned (see the problem above)")]
    NotPlanned { step: String },
    /// The proof's probe is not one of the step's.
    #[error(
        "step `{step}` has no such probe: add it to the step, so that the cluster checks the correction too"
    )]
    NoSuchProbe { step: String },
    /// The oracle cannot predict the probe (its reason).
    #[error("{0}")]
    Unpredictable(PredictError),
    /// The oracle agrees with the tutorial's claim.
    #[error(
        "the oracle predicts {predicted}, which agrees with the tutorial's claim ({claimed}): the erratum is wrong ({reason})"
    )]
    ClaimAgrees {
        predicted: Expectation,
        claimed: Expectation,
        reason: String,
    },
    /// The oracle disagrees with the probe's corrected expectation.
    #[error("the probe expects {expected} but the oracle predicts {predicted} ({reason})")]
    ProbeDisagrees {
        expected: Expectation,
        predicted: Expectation,
        reason: String,
    },
}

fn proof_file(loaded: &LoadedScenario, file: &Path) -> Result<PathBuf, ProofError> {
    if !is_inside(file) {
        return Err(ProofError::Outside {
            file: file.to_path_buf(),
        });
    }
    Ok(loaded.path(file))
}

/// Reads a proof file through the input gate: inside the scenario folder, a regular file.
fn load_proof(
    loaded: &LoadedScenario,
    path: &Path,
) -> Result<Vec<manifest::Document>, ManifestError> {
    manifest::load_file_within(path, Some(&loaded.dir), &mut manifest::Budget::default())
}

fn claim_contradicted(
    loaded: &LoadedScenario,
    planned: &[PlannedStep],
    step: &str,
    probe: &super::format::Probe,
    claimed: Expectation,
) -> Result<(&'static str, String), ProofError> {
    let Some(index) = loaded.scenario.steps.iter().position(|s| s.name == step) else {
        let names: Vec<&str> = loaded
            .scenario
            .steps
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        return Err(ProofError::UnknownStep {
            step: step.to_string(),
            steps: names.join(", "),
        });
    };
    let Some(planned_step) = planned.get(index) else {
        return Err(ProofError::NotPlanned {
            step: step.to_string(),
        });
    };
    if !loaded
        .step_probes(index)
        .iter()
        .any(|sp| sp.probe == *probe)
    {
        return Err(ProofError::NoSuchProbe {
            step: step.to_string(),
        });
    }
    let prediction = predict(&planned_step.model, probe).map_err(ProofError::Unpredictable)?;
    if agrees(claimed, prediction.outcome) {
        return Err(ProofError::ClaimAgrees {
            predicted: prediction.outcome,
            claimed,
            reason: prediction.reason,
        });
    }
    if !agrees(probe.expect, prediction.outcome) {
        return Err(ProofError::ProbeDisagrees {
            expected: probe.expect,
            predicted: prediction.outcome,
            reason: prediction.reason,
        });
    }
    Ok((
        "claim-contradicted",
        format!(
            "in step `{step}`, {} → {}: the tutorial claims {claimed}, the oracle predicts {}: {}",
            probe.from, probe.to, prediction.outcome, prediction.reason
        ),
    ))
}
