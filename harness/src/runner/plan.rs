//! What the runner runs: a scenario with its manifests read and every probe's expectation
//! decided ([`ScenarioPlan`]).
//!
//! [`load_scenarios`] and [`plan_scenario`] are the narrow boundary to scenario loading and
//! planning: they read the folder and take each probe's expectation from the scenario file.
//! The scenario planner (which predicts each probe with the oracle) replaces them by building
//! the same [`ScenarioPlan`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cluster::is_cluster_scoped;
use crate::manifest::{self, Document, ManifestError};
use crate::model::{BuildOptions, Cluster};
use crate::oracle::{Oracle, Packet, Peer};
use crate::policy::PolicySet;
use crate::scenario::format::{
    Action, Expectation, LabelTarget, Probe, ProbeKind, ProvidedEndpoint, Scenario,
};

/// A scenario ready to run.
#[derive(Debug, Clone)]
pub struct ScenarioPlan {
    /// Its name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// Namespaces it owns: created first, deleted last.
    pub namespaces: Vec<String>,
    /// Documents applied before the first step (remote manifests first).
    pub setup: Vec<Document>,
    /// Endpoints that remote manifests create.
    pub provided: Vec<ProvidedEndpoint>,
    /// The steps.
    pub steps: Vec<StepPlan>,
}

/// A step ready to run.
#[derive(Debug, Clone)]
pub struct StepPlan {
    /// Its name.
    pub name: String,
    /// The tutorial's words.
    pub narration: String,
    /// What to do before probing.
    pub actions: Vec<PlannedAction>,
    /// The probes with their expectations.
    pub probes: Vec<PlannedProbe>,
}

/// An action with its manifests read.
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
        /// The endpoint, `namespace/name`.
        endpoint: String,
        /// Labels to set.
        set: BTreeMap<String, String>,
        /// Keys to remove.
        remove: Vec<String>,
    },
    /// Wait for these endpoints (`namespace/name`) to roll out.
    WaitRollout(Vec<String>),
}

/// A probe and what a conforming cluster must show.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedProbe {
    /// The probe as written.
    pub probe: Probe,
    /// The expectation the cluster is checked against.
    pub expected: Expectation,
    /// Why (the oracle's explanation), when known.
    pub why: Option<String>,
}

/// Why a scenario could not be planned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The folder or file could not be read.
    #[error("{}: {message}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The scenario file is not valid.
    #[error("{}: {message}", path.display())]
    Scenario {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A manifest is not valid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A probe matrix is malformed.
    #[error("scenario {scenario}, step {step}: matrix {index}: {message}")]
    Matrix {
        /// The scenario.
        scenario: String,
        /// The step.
        step: String,
        /// The matrix's index in the step.
        index: usize,
        /// What is wrong.
        message: String,
    },
}

/// Every `DIR/*/scenario.yaml`, sorted by folder, with its folder.
pub fn load_scenarios(dir: &Path) -> Result<Vec<(PathBuf, Scenario)>, PlanError> {
    let io = |path: &Path, e: std::io::Error| PlanError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("scenario.yaml").is_file())
        .collect();
    folders.sort();
    folders
        .into_iter()
        .map(|folder| {
            let file = folder.join("scenario.yaml");
            let text = std::fs::read_to_string(&file).map_err(|e| io(&file, e))?;
            let scenario: Scenario =
                serde_saphyr::from_str(&text).map_err(|e| PlanError::Scenario {
                    path: file.clone(),
                    message: e.to_string(),
                })?;
            Ok((folder, scenario))
        })
        .collect()
}

/// The probes of a step: its single probes, then its matrices expanded (rows × columns, `.`
/// allowed, `X` blocked, `-` not probed).
pub fn step_probes(
    scenario: &str,
    step: &crate::scenario::format::Step,
) -> Result<Vec<Probe>, PlanError> {
    let mut probes = step.probes.clone();
    for (index, m) in step.matrices.iter().enumerate() {
        let bad = |message: String| PlanError::Matrix {
            scenario: scenario.to_string(),
            step: step.name.clone(),
            index,
            message,
        };
        let rows: Vec<&str> = m.expect.lines().filter(|l| !l.trim().is_empty()).collect();
        if rows.len() != m.from.len() {
            return Err(bad(format!(
                "{} rows of marks for {} clients",
                rows.len(),
                m.from.len()
            )));
        }
        for (from, row) in m.from.iter().zip(rows) {
            let marks: Vec<&str> = row.split_whitespace().collect();
            if marks.len() != m.to.len() {
                return Err(bad(format!(
                    "row `{row}` has {} marks for {} servers",
                    marks.len(),
                    m.to.len()
                )));
            }
            for (to, mark) in m.to.iter().zip(marks) {
                let expect = match mark {
                    "." => Expectation::Allowed,
                    "X" => Expectation::Blocked,
                    "-" => continue,
                    other => {
                        return Err(bad(format!(
                            "`{other}` is not a mark (`.` allowed, `X` blocked, `-` not probed)"
                        )));
                    }
                };
                probes.push(Probe {
                    from: from.clone(),
                    to: to.clone(),
                    port: m.port,
                    kind: m.kind,
                    method: None,
                    path: None,
                    expect,
                });
            }
        }
    }
    Ok(probes)
}

/// Plans a scenario read from `folder`: manifests read, matrices expanded, each probe expected
/// as the scenario says, explained by the oracle where it models the step. `remote` are the
/// scenario's remote manifests, already fetched.
pub fn plan_scenario(
    folder: &Path,
    scenario: &Scenario,
    remote: Vec<Document>,
) -> Result<ScenarioPlan, PlanError> {
    let read = |paths: &[PathBuf]| -> Result<Vec<Document>, PlanError> {
        let mut docs = Vec::new();
        for p in paths {
            docs.extend(manifest::load_file(&folder.join(p))?);
        }
        Ok(docs)
    };
    let mut setup = remote;
    setup.extend(read(&scenario.setup)?);
    let mut state = ModelState::new(&setup);
    let mut steps = Vec::new();
    for step in &scenario.steps {
        let mut actions = Vec::new();
        for action in &step.actions {
            let planned = match action {
                Action::Apply(paths) => PlannedAction::Apply(read(paths)?),
                Action::Delete(paths) => PlannedAction::Delete(read(paths)?),
                Action::Label(l) => match &l.target {
                    LabelTarget::Namespace(ns) => PlannedAction::LabelNamespace {
                        namespace: ns.clone(),
                        set: l.set.clone(),
                        remove: l.remove.clone(),
                    },
                    LabelTarget::Pods(endpoint) => PlannedAction::LabelPods {
                        endpoint: endpoint.clone(),
                        set: l.set.clone(),
                        remove: l.remove.clone(),
                    },
                },
                Action::WaitRollout(keys) => PlannedAction::WaitRollout(keys.clone()),
            };
            state.act(&planned);
            actions.push(planned);
        }
        let explainer = state.explainer();
        let probes = step_probes(&scenario.name, step)?
            .into_iter()
            .map(|probe| PlannedProbe {
                why: explainer.as_ref().and_then(|e| e.explain(&probe)),
                expected: probe.expect,
                probe,
            })
            .collect();
        steps.push(StepPlan {
            name: step.name.clone(),
            narration: step.narration.clone(),
            actions,
            probes,
        });
    }
    Ok(ScenarioPlan {
        name: scenario.name.clone(),
        title: scenario.title.clone(),
        namespaces: scenario.namespaces.clone(),
        setup,
        provided: scenario.provides.clone(),
        steps,
    })
}

impl ScenarioPlan {
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
                PlannedAction::LabelPods { endpoint, .. } => {
                    !owned(endpoint.split_once('/').map_or("default", |(ns, _)| ns))
                }
                PlannedAction::WaitRollout(_) => false,
            })
    }
}

/// The documents and label changes applied so far, to explain expectations with the oracle.
struct ModelState {
    docs: Vec<Document>,
    namespace_labels: Vec<(String, BTreeMap<String, String>, Vec<String>)>,
    pod_labels: Vec<(String, BTreeMap<String, String>, Vec<String>)>,
}

/// A model and its policies at one step.
struct Explainer {
    cluster: Cluster,
    policies: PolicySet,
}

fn same_object(a: &Document, b: &Document) -> bool {
    a.api_version() == b.api_version()
        && a.kind() == b.kind()
        && a.name() == b.name()
        && a.namespace().unwrap_or("default") == b.namespace().unwrap_or("default")
}

impl ModelState {
    fn new(setup: &[Document]) -> ModelState {
        ModelState {
            docs: setup.to_vec(),
            namespace_labels: Vec::new(),
            pod_labels: Vec::new(),
        }
    }

    fn act(&mut self, action: &PlannedAction) {
        match action {
            PlannedAction::Apply(docs) => {
                for doc in docs {
                    self.docs.retain(|d| !same_object(d, doc));
                    self.docs.push(doc.clone());
                }
            }
            PlannedAction::Delete(docs) => {
                self.docs
                    .retain(|d| !docs.iter().any(|x| same_object(d, x)));
            }
            PlannedAction::LabelNamespace {
                namespace,
                set,
                remove,
            } => self
                .namespace_labels
                .push((namespace.clone(), set.clone(), remove.clone())),
            PlannedAction::LabelPods {
                endpoint,
                set,
                remove,
            } => self
                .pod_labels
                .push((endpoint.clone(), set.clone(), remove.clone())),
            PlannedAction::WaitRollout(_) => {}
        }
    }

    /// The model now, if the oracle models everything in it.
    fn explainer(&self) -> Option<Explainer> {
        let mut cluster = Cluster::from_documents(&self.docs, &BuildOptions::default()).ok()?;
        let policies = PolicySet::from_documents(&self.docs).ok()?;
        for (ns, set, remove) in &self.namespace_labels {
            let labels = &mut cluster.ensure_namespace(ns).labels;
            crate::cluster::LabelChange { set, remove }.apply_to(labels);
        }
        for (key, set, remove) in &self.pod_labels {
            let id = cluster.endpoint(key)?;
            crate::cluster::LabelChange { set, remove }
                .apply_to(&mut cluster.endpoints[id.0].labels);
        }
        Some(Explainer { cluster, policies })
    }
}

impl Explainer {
    /// The oracle's explanation of a probe between endpoints (directly or through a service).
    fn explain(&self, probe: &Probe) -> Option<String> {
        let oracle = Oracle::new(&self.cluster, &self.policies);
        let from = self.cluster.endpoint(&probe.from)?;
        let protocol = match probe.kind {
            ProbeKind::Tcp | ProbeKind::Http => crate::model::Protocol::Tcp,
            ProbeKind::Udp => crate::model::Protocol::Udp,
            ProbeKind::Sctp => crate::model::Protocol::Sctp,
            ProbeKind::Icmp => crate::model::Protocol::Icmp,
            ProbeKind::Dns => return None,
        };
        let (to, port) = if let Some(svc) = probe.to.strip_prefix("svc:") {
            let (ns, name) = svc.split_once('/')?;
            let service = self.cluster.service(ns, name)?;
            let sp = service
                .ports
                .iter()
                .find(|p| Some(p.port) == probe.port && p.protocol == protocol)?;
            let backend = *self.cluster.service_backends(service).first()?;
            let port = match &sp.target {
                crate::model::PortRef::Number(n) => *n,
                crate::model::PortRef::Name(n) => {
                    self.cluster.get(backend).named_port(n, protocol)?
                }
            };
            (backend, Some(port))
        } else {
            (self.cluster.endpoint(&probe.to)?, probe.port)
        };
        let packet = Packet {
            from: Peer::Endpoint(from),
            to: Peer::Endpoint(to),
            protocol,
            port,
        };
        let verdict = oracle.verdict(&packet);
        Some(format!(
            "oracle: {}; {}",
            if verdict.allowed {
                "allowed"
            } else {
                "blocked"
            },
            oracle.explain(&packet, &verdict)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::format::{MatrixProbes, Step};

    /// The runner's fixture scenarios.
    pub(crate) fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios")
    }

    #[test]
    fn loads_and_plans_the_fixture_with_the_oracle_explaining_each_probe() {
        let loaded = load_scenarios(&fixtures()).unwrap();
        assert_eq!(loaded.len(), 1);
        let (folder, scenario) = &loaded[0];
        let plan = plan_scenario(folder, scenario, vec![]).unwrap();
        assert_eq!(plan.name, "two-pods");
        assert_eq!(plan.setup.len(), 3);
        assert!(!plan.exclusive());
        let [no_policy, deny] = &plan.steps[..] else {
            panic!("two steps")
        };
        assert_eq!(no_policy.probes.len(), 4);
        assert!(
            no_policy
                .probes
                .iter()
                .all(|p| p.expected == Expectation::Allowed)
        );
        assert!(matches!(&deny.actions[..], [PlannedAction::Apply(d)] if d.len() == 1));
        // Two single probes, then the matrix's one probed cell.
        assert_eq!(deny.probes.len(), 3);
        for p in &deny.probes {
            let why = p.why.as_deref().unwrap();
            assert!(why.starts_with("oracle: blocked"), "{why}");
            assert!(why.contains("default-deny-ingress"), "{why}");
        }
        assert_eq!(deny.probes[2].probe.from, "np-fixture/server");
        assert_eq!(deny.probes[2].probe.to, "np-fixture/client");
    }

    #[test]
    fn malformed_matrices_are_refused_with_the_step_and_matrix() {
        let step = |expect: &str| Step {
            name: "s".into(),
            narration: String::new(),
            requires: vec![],
            nothing_blocked: None,
            actions: vec![],
            probes: vec![],
            matrices: vec![MatrixProbes {
                kind: ProbeKind::Tcp,
                port: Some(80),
                from: vec!["x/a".into(), "x/b".into()],
                to: vec!["x/a".into()],
                expect: expect.into(),
            }],
        };
        assert_eq!(step_probes("sc", &step(".\nX\n")).unwrap().len(), 2);
        assert_eq!(step_probes("sc", &step(".\n-\n")).unwrap().len(), 1);
        let err = step_probes("sc", &step(".\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "scenario sc, step s: matrix 0: 1 rows of marks for 2 clients"
        );
        let err = step_probes("sc", &step(". .\nX\n")).unwrap_err();
        assert!(
            err.to_string().contains("has 2 marks for 1 servers"),
            "{err}"
        );
        let err = step_probes("sc", &step("o\nX\n")).unwrap_err();
        assert!(err.to_string().contains("`o` is not a mark"), "{err}");
    }
}
