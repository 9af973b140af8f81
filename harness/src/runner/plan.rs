//! What the runner runs: a scenario loaded ([`crate::scenario::load()`]), planned step by step and
//! checked against the oracle ([`crate::scenario::validate()`]), with its remote manifests fetched
//! and pinned, every manifest read and every action's endpoints resolved ([`ScenarioPlan`]).
//!
//! A scenario whose plan disagrees with the oracle (any `validate` problem) is refused: on a
//! cluster it could only confirm or contradict a claim the harness already knows to be wrong. A
//! remote manifest pinned `sha256: unpinned` is refused too: nothing unreviewed is applied.

use std::collections::BTreeMap;
use std::time::Duration;

use super::applicability;
use crate::analysis::Analysis;
use crate::cluster::remote::{Fetcher, HttpsFetcher, ManifestCache, RemoteError};
use crate::cluster::{EndpointRef, is_cluster_scoped};
use crate::manifest::{self, Document, ManifestError};
use crate::model::{Cluster, WorkloadKind};
use crate::policy::Semantics;
use crate::provision::cni::{Applicability, CniProfile};
use crate::scenario::derive::{DerivedCell, derive, pings};
use crate::scenario::format::{Action, LabelTarget, ProvidedEndpoint, UNPINNED};
use crate::scenario::validate::{validate, validate_as};
use crate::scenario::{LoadedScenario, PlannedStep};

/// A scenario ready to run.
#[derive(Debug, Clone)]
pub struct ScenarioPlan {
    /// Its name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// Namespaces it owns: created first, deleted last.
    pub namespaces: Vec<String>,
    /// Documents applied before the first step: the remote manifests, then the setup files.
    pub setup: Vec<Document>,
    /// Endpoints that remote manifests create (found on the cluster by their labels).
    pub provided: Vec<ProvidedEndpoint>,
    /// The steps.
    pub steps: Vec<StepPlan>,
    /// Where the CNI's own semantics (a Calico line, [`CniProfile::semantics`]) predict
    /// something other than the scenario claims, in the steps that run on that CNI: a failure
    /// there is that CNI deviating from the API, and this says why. Empty for the APIs as
    /// written.
    pub lane_predictions: Vec<String>,
}

/// A step ready to run.
#[derive(Debug, Clone)]
pub struct StepPlan {
    /// The step as the planner planned it: its narration, its requirements (the scenario's and
    /// its own), the model after its actions, and every probe with the scenario's expectation,
    /// the resolution of its target and the oracle's reason.
    pub planned: PlannedStep,
    /// Its actions, with their manifests read and their endpoints resolved.
    pub actions: Vec<PlannedAction>,
    /// What the step exercises (the scenario step's `tags`).
    pub tags: Vec<String>,
    /// The cells of the whole matrix that no claim of the step probes, with the oracle's
    /// prediction ([`fn@derive`]); probed with `--matrix full`.
    pub derived: Vec<DerivedCell>,
    /// The model under the lane's own semantics (a Calico line) the derived cells were
    /// predicted on, when not `planned.model`: their IPv6 twins are predicted on it too.
    pub lane_model: Option<Analysis>,
}

impl StepPlan {
    /// The step's name.
    pub fn name(&self) -> &str {
        &self.planned.name
    }
}

/// An action with its manifests read and its endpoints resolved.
#[derive(Debug, Clone)]
pub enum PlannedAction {
    /// Apply these documents (then wait for the workloads among them).
    Apply(Vec<Document>),
    /// Delete these documents' objects.
    Delete(Vec<Document>),
    /// Change a namespace's labels.
    LabelNamespace {
        /// The namespace.
        namespace: String,
        /// Labels to set.
        set: BTreeMap<String, String>,
        /// Keys to remove.
        remove: Vec<String>,
    },
    /// Change the labels of an endpoint's pods.
    LabelPods {
        /// The endpoint.
        endpoint: EndpointRef,
        /// Labels to set.
        set: BTreeMap<String, String>,
        /// Keys to remove.
        remove: Vec<String>,
    },
    /// Wait for these endpoints to roll out.
    WaitRollout(Vec<EndpointRef>),
}

/// Why a scenario cannot be run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The plan disagrees with the oracle, or cannot be made.
    #[error(
        "scenario {scenario} is not run: its plan does not agree with the oracle:\n{problems}\n(`netpol-harness validate {scenario}` shows why, `netpol-harness plan {scenario}` every prediction)"
    )]
    Invalid {
        /// The scenario.
        scenario: String,
        /// The `validate` problems, one per line.
        problems: String,
    },
    /// A remote manifest is not pinned.
    #[error(
        "scenario {scenario}: the remote manifest {url} is not pinned (`sha256: {UNPINNED}`): it is not applied to a cluster until its SHA-256 is written in the scenario file (`netpol-harness validate {scenario}` warns about it)"
    )]
    Unpinned {
        /// The scenario.
        scenario: String,
        /// The manifest's URL.
        url: String,
    },
    /// A remote manifest could not be had.
    #[error("scenario {scenario}: {source}")]
    Remote {
        /// The scenario.
        scenario: String,
        /// What failed.
        source: RemoteError,
    },
    /// A remote manifest is not a valid manifest.
    #[error("scenario {scenario}: {source}")]
    Manifest {
        /// The scenario.
        scenario: String,
        /// What is wrong.
        source: ManifestError,
    },
    /// Remote manifests are needed and there is no folder to cache them in.
    #[error("no cache folder for remote manifests: set XDG_CACHE_HOME or HOME")]
    NoCache,
    /// The HTTPS client that fetches remote manifests cannot be made.
    #[error(transparent)]
    Fetcher(RemoteError),
}

/// The plans of `loaded`, as [`ScenarioPlan::new`] makes them (the claims checked against the
/// APIs as written), with the [`ScenarioPlan::lane_predictions`] of `cni`'s own semantics. Remote manifests are fetched
/// (once, then from the cache) only for scenarios with a step that applies to `cni`: a scenario
/// none of whose steps applies is reported not applicable without touching anything.
pub async fn plans(
    loaded: &[LoadedScenario],
    cni: Option<&CniProfile>,
) -> Result<Vec<ScenarioPlan>, PlanError> {
    let mut plans = Vec::new();
    let mut fetch: Option<(ManifestCache, HttpsFetcher)> = None;
    for scenario in loaded {
        let mut plan = ScenarioPlan::new(scenario, Vec::new())?;
        plan.lane_predictions = lane_predictions(scenario, &plan, cni);
        derive_as_lane(scenario, &mut plan, cni);
        let applies = plan.steps.iter().any(|s| {
            !matches!(
                applicability(cni, &plan.name, s),
                Applicability::NotApplicable { .. }
            )
        });
        if scenario.scenario.remote.is_empty() || !applies {
            plans.push(plan);
            continue;
        }
        if fetch.is_none() {
            let cache = ManifestCache::new(ManifestCache::default_dir().ok_or(PlanError::NoCache)?);
            let fetcher = HttpsFetcher::new(Duration::from_secs(60)).map_err(PlanError::Fetcher)?;
            fetch = Some((cache, fetcher));
        }
        let (cache, fetcher) = fetch.as_ref().expect("set above");
        let remote = remote_documents(scenario, cache, fetcher).await?;
        let mut plan = ScenarioPlan::new(scenario, remote)?;
        plan.lane_predictions = lane_predictions(scenario, &plan, cni);
        derive_as_lane(scenario, &mut plan, cni);
        plans.push(plan);
    }
    Ok(plans)
}

/// On a lane whose CNI has semantics of its own (a Calico line), the derived cells expect what
/// that line does, not the APIs as written: the claims are the tutorial's words, but derived
/// cells are the oracle's, and on Calico 3.31 the oracle's best prediction is Calico 3.31's.
fn derive_as_lane(scenario: &LoadedScenario, plan: &mut ScenarioPlan, cni: Option<&CniProfile>) {
    let Some(semantics) = cni.map(CniProfile::semantics) else {
        return;
    };
    if semantics == Semantics::Generic {
        return;
    }
    let icmp = pings(&scenario.scenario);
    let lane = validate_as(scenario, semantics);
    for (step, lane_step) in plan.steps.iter_mut().zip(lane.steps) {
        if lane_step.index == step.planned.index {
            step.derived = derive(&lane_step.model, &step.planned.probes, icmp);
            step.lane_model = Some(lane_step.model);
        }
    }
}

/// The claims of `scenario` that `cni`'s own semantics contradict, in the steps that run on it
/// (`steps[1].probes[0]: a → b: claimed blocked, Calico 3.31 predicts allowed: …`).
pub fn lane_predictions(
    scenario: &LoadedScenario,
    plan: &ScenarioPlan,
    cni: Option<&CniProfile>,
) -> Vec<String> {
    let Some(profile) = cni else {
        return Vec::new();
    };
    let semantics = profile.semantics();
    if semantics == Semantics::Generic {
        return Vec::new();
    }
    let runs: Vec<bool> = plan
        .steps
        .iter()
        .map(|s| {
            !matches!(
                applicability(cni, &plan.name, s),
                Applicability::NotApplicable { .. }
            )
        })
        .collect();
    let lane = validate_as(scenario, semantics);
    let line = semantics.calico().map_or("", |l| l.as_str());
    lane.steps
        .iter()
        .zip(&runs)
        .filter(|(_, runs)| **runs)
        .flat_map(|(step, _)| step.probes.iter().filter(|p| !p.agrees))
        .map(|p| {
            format!(
                "{}: {} → {}: claimed {}, Calico {line} predicts {}: {}",
                p.origin, p.client, p.target, p.expected, p.predicted, p.reason
            )
        })
        .collect()
}

/// The endpoint `key` of a step's model, as the cluster finds its pods. Endpoints that remote
/// manifests provide are found by the labels the scenario declares for them.
pub fn endpoint_ref(
    model: &Cluster,
    provided: &[ProvidedEndpoint],
    key: &str,
) -> Option<EndpointRef> {
    let e = model.get(model.endpoint(key)?);
    let labels = match e.kind {
        WorkloadKind::Declared => provided
            .iter()
            .find(|p| p.namespace == e.namespace && p.name == e.name)
            .map_or_else(|| e.labels.clone(), |p| p.labels.clone()),
        _ => e.labels.clone(),
    };
    Some(EndpointRef {
        namespace: e.namespace.clone(),
        name: e.name.clone(),
        kind: e.kind,
        labels,
    })
}

/// The documents of a scenario's remote manifests: fetched once and checked against their pins
/// (or taken from `cache`). An unpinned manifest is refused before anything is fetched.
pub async fn remote_documents(
    loaded: &LoadedScenario,
    cache: &ManifestCache,
    fetcher: &impl Fetcher,
) -> Result<Vec<Document>, PlanError> {
    let scenario = &loaded.scenario.name;
    if let Some(r) = loaded.scenario.remote.iter().find(|r| r.sha256 == UNPINNED) {
        return Err(PlanError::Unpinned {
            scenario: scenario.clone(),
            url: r.url.clone(),
        });
    }
    let mut docs = Vec::new();
    for remote in &loaded.scenario.remote {
        let text = cache
            .get(&remote.url, &remote.sha256, fetcher)
            .await
            .map_err(|source| PlanError::Remote {
                scenario: scenario.clone(),
                source,
            })?;
        docs.extend(
            manifest::parse_str(std::path::Path::new(&remote.url), &text).map_err(|source| {
                PlanError::Manifest {
                    scenario: scenario.clone(),
                    source,
                }
            })?,
        );
    }
    Ok(docs)
}

impl ScenarioPlan {
    /// The plan of a loaded scenario whose remote manifests are `remote` (see
    /// [`remote_documents`]): every step as [`crate::scenario::plan()`] plans it, refused if
    /// [`validate()`] finds any problem.
    pub fn new(loaded: &LoadedScenario, remote: Vec<Document>) -> Result<ScenarioPlan, PlanError> {
        let scenario = &loaded.scenario;
        // Validation plans every step (stopping at the first that cannot be planned) and checks
        // each prediction: its steps are the plan.
        let validation = validate(loaded);
        if !validation.is_ok() {
            return Err(PlanError::Invalid {
                scenario: scenario.name.clone(),
                problems: validation
                    .problems
                    .iter()
                    .map(|p| format!("  {p}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        let mut setup = remote;
        for file in &scenario.setup {
            setup.extend(loaded.documents(file).iter().cloned());
        }
        // ICMP between every pair of endpoints only where the scenario pings at all.
        let icmp = pings(scenario);
        let steps = validation
            .steps
            .into_iter()
            .map(|planned| {
                let actions = planned
                    .actions
                    .iter()
                    .map(|action| resolve_action(loaded, &planned, action))
                    .collect();
                let tags = scenario
                    .steps
                    .get(planned.index)
                    .map(|s| s.tags.clone())
                    .unwrap_or_default();
                let derived = derive(&planned.model, &planned.probes, icmp);
                StepPlan {
                    planned,
                    actions,
                    tags,
                    derived,
                    lane_model: None,
                }
            })
            .collect();
        Ok(ScenarioPlan {
            name: scenario.name.clone(),
            title: scenario.title.clone(),
            namespaces: scenario.namespaces.clone(),
            setup,
            provided: scenario.provides.clone(),
            steps,
            lane_predictions: Vec::new(),
        })
    }

    /// The endpoint `key` as of `step` (after its actions).
    pub fn endpoint(&self, step: &StepPlan, key: &str) -> Option<EndpointRef> {
        endpoint_ref(&step.planned.model.cluster, &self.provided, key)
    }

    /// Whether the scenario must run alone: it touches something outside its own namespaces
    /// (cluster-scoped objects such as GlobalNetworkPolicy or AdminNetworkPolicy, CRDs, or
    /// objects and labels in shared namespaces), which could change what other scenarios see.
    pub fn exclusive(&self) -> bool {
        let owned = |ns: &str| self.namespaces.iter().any(|n| n == ns);
        let outside = |doc: &Document| {
            if doc.api_version() == "v1" && doc.kind() == "Namespace" {
                !owned(doc.name())
            } else if is_cluster_scoped(doc.api_version(), doc.kind()) {
                true
            } else {
                !owned(doc.namespace().unwrap_or("default"))
            }
        };
        self.setup.iter().any(outside)
            || self.steps.iter().flat_map(|s| &s.actions).any(|a| match a {
                PlannedAction::Apply(docs) | PlannedAction::Delete(docs) => {
                    docs.iter().any(outside)
                }
                PlannedAction::LabelNamespace { namespace, .. } => !owned(namespace),
                PlannedAction::LabelPods { endpoint, .. } => !owned(&endpoint.namespace),
                PlannedAction::WaitRollout(_) => false,
            })
    }
}

/// An action of `step` with its manifests read and its endpoints resolved in the step's model
/// (the planner has checked that they exist there).
fn resolve_action(loaded: &LoadedScenario, step: &PlannedStep, action: &Action) -> PlannedAction {
    let read = |files: &[std::path::PathBuf]| {
        files
            .iter()
            .flat_map(|f| loaded.documents(f).iter().cloned())
            .collect()
    };
    let endpoint = |key: &str| {
        endpoint_ref(&step.model.cluster, &loaded.scenario.provides, key)
            .expect("the planner checked that the endpoints of actions exist")
    };
    match action {
        Action::Apply(files) => PlannedAction::Apply(read(files)),
        Action::Delete(files) => PlannedAction::Delete(read(files)),
        Action::Label(label) => match &label.target {
            LabelTarget::Namespace(ns) => PlannedAction::LabelNamespace {
                namespace: ns.clone(),
                set: label.set.clone(),
                remove: label.remove.clone(),
            },
            LabelTarget::Pods(key) => PlannedAction::LabelPods {
                endpoint: endpoint(key),
                set: label.set.clone(),
                remove: label.remove.clone(),
            },
        },
        Action::WaitRollout(keys) => {
            PlannedAction::WaitRollout(keys.iter().map(|k| endpoint(k)).collect())
        }
    }
}
