//! Finding scenarios and reading them, with every check that needs no oracle: the file parses
//! into the format, every referenced manifest exists and parses, every endpoint, namespace and
//! Service a probe or action names exists, probes and matrices are well formed, requirements
//! cover what the scenario uses, and every step with policies in force can fail.
//!
//! Every problem names the file, the line and the field; all problems are reported at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::format::{Action, Expectation, LabelTarget, MatrixProbes, Probe, Scenario, UNPINNED};
use super::lines::LineIndex;
use super::state::{
    ClusterState, INGRESS_CONTROLLER_LABEL, INGRESS_CONTROLLER_NAMESPACE, find_ingress_controller,
    is_policy,
};
use super::target::{self, Client, Target, parse_probe};
use super::{Problem, ScenarioError};
use crate::capability::Capability;
use crate::manifest::{self, Document};
use crate::model::Cluster;

/// Every container and init-container image the documents run (in pod templates too).
pub fn images_in<'a>(docs: impl IntoIterator<Item = &'a Document>) -> BTreeSet<String> {
    fn walk(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    if matches!(key.as_str(), "containers" | "initContainers")
                        && let Some(list) = v.as_array()
                    {
                        out.extend(
                            list.iter()
                                .filter_map(|c| c.get("image")?.as_str())
                                .map(str::to_string),
                        );
                    }
                    walk(v, out);
                }
            }
            Value::Array(list) => list.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut images = BTreeSet::new();
    for doc in docs {
        walk(&doc.value, &mut images);
    }
    images
}

/// The file every scenario folder holds.
pub const SCENARIO_FILE: &str = "scenario.yaml";
/// The folder holding scenarios, relative to the repository root.
pub const DEFAULT_ROOT: &str = "scenarios";

/// Where scenarios are looked for without `--scenarios`: `scenarios/` in the current directory if
/// there is one, else the repository's `scenarios/` (next to the harness crate).
pub fn default_root() -> PathBuf {
    let here = PathBuf::from(DEFAULT_ROOT);
    if here.is_dir() {
        return here;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.parent().unwrap_or(crate_dir).join(DEFAULT_ROOT)
}

/// The names of the scenarios under `root`: sub-folders holding a `scenario.yaml`, sorted.
pub fn discover(root: &Path) -> Result<Vec<String>, ScenarioError> {
    let entries = std::fs::read_dir(root).map_err(|e| {
        ScenarioError::one(Problem {
            file: root.to_path_buf(),
            line: None,
            field: String::new(),
            message: format!("cannot read the scenarios folder: {e} (pass --scenarios DIR)"),
        })
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join(SCENARIO_FILE).is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

/// A scenario read and checked: its file, its parsed content, and the manifests it applies.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// The scenario's folder (`<root>/<name>`), which relative paths in the file start from.
    pub dir: PathBuf,
    /// The scenario file.
    pub file: PathBuf,
    /// Its content.
    pub scenario: Scenario,
    /// Every manifest the setup and the steps apply or delete, by the path written in the file.
    pub manifests: BTreeMap<PathBuf, Vec<Document>>,
    lines: LineIndex,
}

/// One single probe of a step: written as such, or one cell of a matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct StepProbe {
    /// The probe (a matrix cell becomes a probe with the matrix's kind and port).
    pub probe: Probe,
    /// The field it was written at (`steps[1].probes[0]`, `steps[1].matrices[0]`).
    pub field: String,
    /// Where it was written, for people: the field, and for a matrix the row and column.
    pub origin: String,
}

impl LoadedScenario {
    /// Every container image the scenario's manifests run (pods and workload templates, init
    /// containers included), so that `up` can preload them into the kind nodes.
    pub fn images(&self) -> std::collections::BTreeSet<String> {
        images_in(self.manifests.values().flatten())
    }

    /// A problem about `field` of the scenario file, with its line.
    pub fn problem(&self, field: impl Into<String>, message: impl Into<String>) -> Problem {
        let field = field.into();
        Problem {
            file: self.file.clone(),
            line: self.lines.line(&field),
            field,
            message: message.into(),
        }
    }

    /// The documents of a manifest the scenario applies (as written in the file).
    pub fn documents(&self, file: &Path) -> &[Document] {
        self.manifests.get(file).map_or(&[], Vec::as_slice)
    }

    /// A path written in the scenario, relative to the scenario folder, as a path to open.
    pub fn path(&self, file: &Path) -> PathBuf {
        self.dir.join(file)
    }

    /// The single probes of step `index`: its probes, then its matrices' cells (row by row,
    /// skipping `-`). Malformed matrices contribute nothing (loading reports them).
    pub fn step_probes(&self, index: usize) -> Vec<StepProbe> {
        let step = &self.scenario.steps[index];
        let mut out: Vec<StepProbe> = step
            .probes
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let field = format!("steps[{index}].probes[{i}]");
                StepProbe {
                    probe: p.clone(),
                    origin: field.clone(),
                    field,
                }
            })
            .collect();
        for (m, matrix) in step.matrices.iter().enumerate() {
            let field = format!("steps[{index}].matrices[{m}]");
            for cell in expand_matrix(matrix).unwrap_or_default() {
                out.push(StepProbe {
                    probe: cell.probe,
                    origin: format!("{field} row {} column {}", cell.row + 1, cell.column + 1),
                    field: field.clone(),
                });
            }
        }
        out
    }
}

/// Loads the scenario `name` under `root`.
pub fn load(root: &Path, name: &str) -> Result<LoadedScenario, ScenarioError> {
    let dir = root.join(name);
    // A name is one folder directly under the root, and that folder's real location too.
    if !is_short_name(name) {
        return Err(ScenarioError::one(Problem {
            file: root.to_path_buf(),
            line: None,
            field: String::new(),
            message: format!("`{name}` is not a scenario name ([a-z0-9-]+, a folder of it)"),
        }));
    }
    if let Err(e @ crate::input::InputError::Outside { .. }) =
        crate::input::resolve(&dir, Some(root))
    {
        return Err(ScenarioError::one(Problem {
            file: dir,
            line: None,
            field: String::new(),
            message: e.to_string(),
        }));
    }
    if std::fs::symlink_metadata(dir.join(SCENARIO_FILE)).is_err() {
        let known = discover(root).unwrap_or_default();
        return Err(ScenarioError::one(Problem {
            file: dir.join(SCENARIO_FILE),
            line: None,
            field: String::new(),
            message: format!(
                "no scenario `{name}` under {} (known: {})",
                root.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        }));
    }
    load_dir(&dir)
}

/// Loads the scenario in folder `dir` (which must hold `scenario.yaml`).
pub fn load_dir(dir: &Path) -> Result<LoadedScenario, ScenarioError> {
    let file = dir.join(SCENARIO_FILE);
    let text = crate::input::read_text(&file, Some(dir), crate::input::SCENARIO).map_err(|e| {
        ScenarioError::one(Problem {
            file: file.clone(),
            line: None,
            field: String::new(),
            message: e.to_string(),
        })
    })?;
    let scenario = parse(&file, &text).map_err(ScenarioError::one)?;
    let mut loaded = LoadedScenario {
        dir: dir.to_path_buf(),
        file,
        scenario,
        manifests: BTreeMap::new(),
        lines: LineIndex::new(&text),
    };
    let mut problems = unknown_fields(&loaded, &text);
    problems.extend(check(&mut loaded));
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(ScenarioError { problems })
    }
}

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true }
}

/// Parses the scenario file, naming the line (from the YAML parser) and the field path (from a
/// second decoding through a JSON value, which tracks paths) of the first error.
fn parse(file: &Path, text: &str) -> Result<Scenario, Problem> {
    let error = match serde_saphyr::from_str_with_options::<Scenario>(text, yaml_options()) {
        Ok(scenario) => return Ok(scenario),
        Err(e) => e,
    };
    let line = error
        .location()
        .and_then(|l| usize::try_from(l.line()).ok());
    let fallback = (String::new(), error.without_snippet().to_string());
    let (field, message) = match serde_saphyr::from_str_with_options::<Value>(text, yaml_options())
    {
        Ok(value) => match serde_path_to_error::deserialize::<_, Scenario>(&value) {
            Err(e) => {
                let path = e.path().to_string();
                let field = if path == "." { String::new() } else { path };
                (field, e.inner().to_string())
            }
            Ok(_) => fallback,
        },
        Err(_) => fallback,
    };
    Err(Problem {
        file: file.to_path_buf(),
        line,
        field,
        message,
    })
}

/// Fields the typed decoding accepted but dropped (possible around flattened label targets).
fn unknown_fields(loaded: &LoadedScenario, text: &str) -> Vec<Problem> {
    let Ok(original) = serde_saphyr::from_str_with_options::<Value>(text, yaml_options()) else {
        return Vec::new();
    };
    let Ok(round_trip) = serde_json::to_value(&loaded.scenario) else {
        return Vec::new();
    };
    manifest::unknown_fields(&original, &round_trip)
        .into_iter()
        .map(|field| loaded.problem(field, "unknown field"))
        .collect()
}

/// `[a-z0-9-]+`.
fn is_short_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Every static check; also reads the referenced manifests into `loaded.manifests`.
fn check(loaded: &mut LoadedScenario) -> Vec<Problem> {
    let mut problems = Vec::new();
    check_header(loaded, &mut problems);
    read_manifests(loaded, &mut problems);
    if loaded.scenario.steps.is_empty() {
        problems.push(loaded.problem("steps", "a scenario needs at least one step"));
    }
    let mut seen = BTreeMap::new();
    for (i, step) in loaded.scenario.steps.iter().enumerate() {
        let field = format!("steps[{i}].name");
        if !is_short_name(&step.name) {
            problems.push(loaded.problem(
                &field,
                format!("`{}`: step names are [a-z0-9-]+", step.name),
            ));
        }
        if let Some(first) = seen.insert(step.name.clone(), i) {
            problems.push(loaded.problem(
                &field,
                format!("duplicate step name `{}` (also steps[{first}])", step.name),
            ));
        }
        for (m, matrix) in step.matrices.iter().enumerate() {
            if let Err((sub, message)) = expand_matrix(matrix) {
                problems.push(loaded.problem(format!("steps[{i}].matrices[{m}]{sub}"), message));
            }
        }
    }
    // References are checked against everything the scenario ever applies.
    let mut union = ClusterState::new(&loaded.scenario);
    for docs in loaded.manifests.values() {
        union.apply(docs);
    }
    match union.cluster() {
        Ok(cluster) => {
            check_references(loaded, &cluster, &mut problems);
            check_requirements(loaded, &union, &cluster, &mut problems);
        }
        Err(e) => problems.push(loaded.problem("", e.to_string())),
    }
    check_steps_can_fail(loaded, &mut problems);
    problems
}

fn check_header(loaded: &LoadedScenario, problems: &mut Vec<Problem>) {
    let s = &loaded.scenario;
    let folder = loaded
        .dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if !is_short_name(&s.name) {
        problems.push(loaded.problem("name", format!("`{}`: names are [a-z0-9-]+", s.name)));
    } else if s.name != folder {
        problems.push(loaded.problem(
            "name",
            format!("`{}` must be the folder's name, `{folder}`", s.name),
        ));
    }
    for (field, value) in [
        ("title", &s.title),
        ("source.title", &s.source.title),
        ("source.url", &s.source.url),
    ] {
        if value.trim().is_empty() {
            problems.push(loaded.problem(field, "must not be empty"));
        }
    }
    for (i, ns) in s.namespaces.iter().enumerate() {
        if let Err(e) = crate::names::dns1123_label(ns) {
            problems.push(loaded.problem(format!("namespaces[{i}]"), e));
        } else if ns == "default" || ns.starts_with("kube-") {
            problems.push(loaded.problem(
                format!("namespaces[{i}]"),
                format!("`{ns}` is shared by the whole cluster: a scenario never owns (creates and deletes) it"),
            ));
        }
    }
    for (i, remote) in s.remote.iter().enumerate() {
        if !remote.url.starts_with("https://") {
            problems.push(loaded.problem(
                format!("remote[{i}].url"),
                "remote manifests are fetched over https://",
            ));
        }
        let hex = remote.sha256.len() == 64
            && remote
                .sha256
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        if !hex && remote.sha256 != UNPINNED {
            problems.push(loaded.problem(
                format!("remote[{i}].sha256"),
                format!("expected 64 lowercase hex digits, or `{UNPINNED}`"),
            ));
        }
    }
    for (i, p) in s.provides.iter().enumerate() {
        if !is_short_name(&p.namespace) || !is_short_name(&p.name) {
            problems.push(loaded.problem(
                format!("provides[{i}]"),
                format!("`{}/{}` is not NAMESPACE/NAME", p.namespace, p.name),
            ));
        }
    }
    for (i, e) in s.errata.iter().enumerate() {
        for (field, value) in [("what", &e.what), ("why", &e.why)] {
            if value.trim().is_empty() {
                problems.push(loaded.problem(format!("errata[{i}].{field}"), "must not be empty"));
            }
        }
    }
}

/// Every manifest path the scenario applies or deletes, with its field.
fn manifest_references(scenario: &Scenario) -> Vec<(String, PathBuf)> {
    let mut refs: Vec<(String, PathBuf)> = scenario
        .setup
        .iter()
        .enumerate()
        .map(|(i, f)| (format!("setup[{i}]"), f.clone()))
        .collect();
    for (s, step) in scenario.steps.iter().enumerate() {
        for (a, action) in step.actions.iter().enumerate() {
            let (verb, files) = match action {
                Action::Apply(files) => ("apply", files),
                Action::Delete(files) => ("delete", files),
                _ => continue,
            };
            for (k, f) in files.iter().enumerate() {
                refs.push((format!("steps[{s}].actions[{a}].{verb}[{k}]"), f.clone()));
            }
        }
    }
    refs
}

/// Whether a path written in a scenario stays inside its folder.
pub fn is_inside(path: &Path) -> bool {
    !path.as_os_str().is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn read_manifests(loaded: &mut LoadedScenario, problems: &mut Vec<Problem>) {
    let mut budget = manifest::Budget::default();
    for (field, file) in manifest_references(&loaded.scenario) {
        if loaded.manifests.contains_key(&file) {
            continue;
        }
        if !is_inside(&file) {
            problems.push(loaded.problem(
                &field,
                format!(
                    "`{}`: paths are relative to the scenario folder and stay inside it",
                    file.display()
                ),
            ));
            continue;
        }
        match manifest::load_file_within(&loaded.path(&file), Some(&loaded.dir), &mut budget) {
            Ok(docs) => {
                loaded.manifests.insert(file, docs);
            }
            Err(e) => problems.push(loaded.problem(&field, e.to_string())),
        }
    }
}

fn check_references(loaded: &LoadedScenario, cluster: &Cluster, problems: &mut Vec<Problem>) {
    let endpoint = |key: &str| cluster.endpoint(key).is_some();
    let known = |what: &str| -> String {
        let mut names: Vec<String> = match what {
            "endpoint" => cluster.endpoints.iter().map(|e| e.key()).collect(),
            "service" => cluster
                .services
                .iter()
                .map(|s| format!("{}/{}", s.namespace, s.name))
                .collect(),
            _ => cluster.namespaces.keys().cloned().collect(),
        };
        names.sort();
        names.join(", ")
    };
    for (s, step) in loaded.scenario.steps.iter().enumerate() {
        for (a, action) in step.actions.iter().enumerate() {
            let field = format!("steps[{s}].actions[{a}]");
            match action {
                Action::Label(label) => {
                    for (key, value) in &label.set {
                        let refused = crate::names::label_key(key)
                            .and_then(|()| crate::names::label_value(value));
                        if let Err(e) = refused {
                            problems.push(loaded.problem(format!("{field}.label.set"), e));
                        }
                    }
                    for (k, key) in label.remove.iter().enumerate() {
                        if let Err(e) = crate::names::label_key(key) {
                            problems.push(loaded.problem(format!("{field}.label.remove[{k}]"), e));
                        }
                    }
                    if label.set.is_empty() && label.remove.is_empty() {
                        problems.push(
                            loaded.problem(
                                &field,
                                "a label action sets or removes at least one label",
                            ),
                        );
                    }
                    match &label.target {
                        LabelTarget::Namespace(ns) if !cluster.namespaces.contains_key(ns) => {
                            problems.push(loaded.problem(
                                format!("{field}.label.namespace"),
                                format!("unknown namespace `{ns}` (known: {})", known("namespace")),
                            ));
                        }
                        LabelTarget::Pods(key) if !endpoint(key) => {
                            problems.push(loaded.problem(
                                format!("{field}.label.pods"),
                                format!("unknown endpoint `{key}` (known: {})", known("endpoint")),
                            ));
                        }
                        _ => {}
                    }
                }
                Action::WaitRollout(keys) => {
                    for (k, key) in keys.iter().enumerate() {
                        if !endpoint(key) {
                            problems.push(loaded.problem(
                                format!("{field}.waitRollout[{k}]"),
                                format!("unknown endpoint `{key}` (known: {})", known("endpoint")),
                            ));
                        }
                    }
                }
                Action::Apply(_) | Action::Delete(_) => {}
            }
        }
        for sp in loaded.step_probes(s) {
            let parsed = match parse_probe(&sp.probe) {
                Ok(p) => p,
                Err((sub, message)) => {
                    let field = if sp.field.contains(".matrices[") {
                        sp.field.clone()
                    } else {
                        format!("{}.{sub}", sp.field)
                    };
                    problems.push(loaded.problem(field, in_matrix(&sp, message)));
                    continue;
                }
            };
            let sub = |name: &str| {
                if sp.field.contains(".matrices[") {
                    sp.field.clone()
                } else {
                    format!("{}.{name}", sp.field)
                }
            };
            if let Client::Endpoint(key) = &parsed.client
                && !endpoint(key)
            {
                problems.push(loaded.problem(
                    sub("from"),
                    in_matrix(
                        &sp,
                        format!("unknown endpoint `{key}` (known: {})", known("endpoint")),
                    ),
                ));
            }
            let message = match &parsed.target {
                Target::Endpoint(key) if !endpoint(key) => Some(format!(
                    "unknown endpoint `{key}` (known: {})",
                    known("endpoint")
                )),
                Target::Service { namespace, name } => match cluster.service(namespace, name) {
                    None => Some(format!(
                        "unknown service `{namespace}/{name}` (known: {})",
                        known("service")
                    )),
                    Some(svc) => {
                        let protocol = target::protocol(sp.probe.kind);
                        let port = sp.probe.port.unwrap_or_default();
                        (!svc.ports.iter().any(|p| p.port == port && p.protocol == protocol))
                            .then(|| {
                                let ports: Vec<String> = svc
                                    .ports
                                    .iter()
                                    .map(|p| format!("{}/{}", p.port, p.protocol))
                                    .collect();
                                format!(
                                    "service `{namespace}/{name}` has no port {port}/{protocol} (it has {})",
                                    ports.join(", ")
                                )
                            })
                    }
                },
                Target::Dns(name) => target::service_of_name(name)
                    .filter(|_| name.ends_with(".svc") || name.ends_with(".cluster.local"))
                    .filter(|(ns, svc)| cluster.service(ns, svc).is_none())
                    .map(|(ns, svc)| {
                        format!(
                            "`{name}` names service `{ns}/{svc}`, which the scenario never creates"
                        )
                    }),
                Target::Ingress(_) if find_ingress_controller(cluster).is_none() => Some(format!(
                    "`ingress:` probes go through the ingress controller: declare it under `provides` (namespace {INGRESS_CONTROLLER_NAMESPACE}, label {}={})",
                    INGRESS_CONTROLLER_LABEL.0, INGRESS_CONTROLLER_LABEL.1
                )),
                _ => None,
            };
            if let Some(message) = message {
                problems.push(loaded.problem(sub("to"), in_matrix(&sp, message)));
            }
        }
    }
}

/// Prefixes a message about a matrix cell with the cell.
fn in_matrix(sp: &StepProbe, message: String) -> String {
    if sp.field.contains(".matrices[") {
        format!(
            "{} ({} → {}): {message}",
            sp.origin.trim_start_matches(&sp.field).trim(),
            sp.probe.from,
            sp.probe.to
        )
    } else {
        message
    }
}

/// Which directions a policy document restricts: `(ingress, egress)`.
fn policy_directions(doc: &Document) -> (bool, bool) {
    let spec = doc.value.get("spec");
    let has = |field: &str| {
        spec.and_then(|s| s.get(field))
            .is_some_and(|v| !v.is_null())
    };
    let listed = |field: &str| -> Option<(bool, bool)> {
        let list = spec?.get(field)?.as_array()?;
        let named = |n: &str| list.iter().any(|v| v.as_str() == Some(n));
        Some((named("Ingress"), named("Egress")))
    };
    match doc.api_version().split('/').next().unwrap_or("") {
        "networking.k8s.io" | "extensions" => {
            listed("policyTypes").unwrap_or((true, has("egress")))
        }
        "projectcalico.org" => listed("types").unwrap_or_else(|| {
            let (i, e) = (has("ingress"), has("egress"));
            (i || !e, e)
        }),
        _ => (has("ingress"), has("egress")),
    }
}

fn check_requirements(
    loaded: &LoadedScenario,
    union: &ClusterState,
    cluster: &Cluster,
    problems: &mut Vec<Problem>,
) {
    let scenario = &loaded.scenario;
    let mut needed: BTreeMap<Capability, String> = BTreeMap::new();
    for doc in union.documents() {
        let what = || {
            format!(
                "{} {} ({})",
                doc.kind(),
                doc.name(),
                doc.source.file.display()
            )
        };
        if doc.api_version().starts_with("projectcalico.org/") {
            needed.entry(Capability::CalicoCrds).or_insert_with(what);
        }
        if doc.api_version().starts_with("policy.networking.k8s.io/")
            && doc.kind() == "ClusterNetworkPolicy"
        {
            needed
                .entry(Capability::ClusterNetworkPolicy)
                .or_insert_with(what);
            let peers = |key: &str| {
                doc.value
                    .pointer("/spec/egress")
                    .and_then(|v| v.as_array())
                    .is_some_and(|rules| {
                        rules.iter().any(|r| {
                            r.get("to")
                                .and_then(|v| v.as_array())
                                .is_some_and(|to| to.iter().any(|p| p.get(key).is_some()))
                        })
                    })
            };
            if peers("nodes") {
                needed.entry(Capability::CnpNodes).or_insert_with(what);
            }
            if peers("domainNames") {
                needed
                    .entry(Capability::CnpDomainNames)
                    .or_insert_with(what);
            }
        }
        if is_policy(doc) {
            let (ingress, egress) = policy_directions(doc);
            if ingress {
                needed.entry(Capability::Ingress).or_insert_with(what);
            }
            if egress {
                needed.entry(Capability::Egress).or_insert_with(what);
            }
        }
    }
    for (capability, because) in needed {
        if !scenario.requires.contains(&capability) {
            problems.push(loaded.problem(
                "requires",
                format!("missing `{capability}`: the scenario applies {because}"),
            ));
        }
    }
    let services = |ns: &str, name: &str| cluster.service(ns, name).is_some();
    for (s, step) in scenario.steps.iter().enumerate() {
        let has = |c: Capability| scenario.requires.contains(&c) || step.requires.contains(&c);
        let mut reported = BTreeSet::new();
        for sp in loaded.step_probes(s) {
            let Ok(parsed) = parse_probe(&sp.probe) else {
                continue;
            };
            let need = match &parsed.target {
                Target::Ip(_) => Some((
                    Capability::Internet,
                    "it probes an address outside the cluster",
                )),
                Target::Dns(name) if !target::is_cluster_name(name, services) => Some((
                    Capability::Internet,
                    "it resolves a name outside the cluster (the cluster DNS forwards it upstream)",
                )),
                Target::Ingress(_) => Some((
                    Capability::IngressController,
                    "it probes through the ingress controller",
                )),
                _ => None,
            };
            if let Some((capability, why)) = need
                && !has(capability)
                && reported.insert(capability)
            {
                problems.push(loaded.problem(
                    format!("steps[{s}].requires"),
                    format!(
                        "missing `{capability}` ({}: {why}); put such probes in a step of their own that requires it, so a CNI lane without it skips only them",
                        sp.origin
                    ),
                ));
            }
        }
    }
}

/// A step with policies in force must expect something blocked, unless it says why not.
fn check_steps_can_fail(loaded: &LoadedScenario, problems: &mut Vec<Problem>) {
    let scenario = &loaded.scenario;
    let mut state = ClusterState::new(scenario);
    for file in &scenario.setup {
        state.apply(loaded.documents(file));
    }
    for (s, step) in scenario.steps.iter().enumerate() {
        for action in &step.actions {
            match action {
                Action::Apply(files) => files.iter().for_each(|f| state.apply(loaded.documents(f))),
                Action::Delete(files) => {
                    files.iter().for_each(|f| state.delete(loaded.documents(f)))
                }
                Action::Label(label) => state.label(label),
                Action::WaitRollout(_) => {}
            }
        }
        let policies = state.policy_documents();
        let blocked = loaded.step_probes(s).iter().any(|sp| {
            sp.probe.expect == Expectation::Blocked
                || (sp.probe.expect == Expectation::Status(503)
                    && sp.probe.to.starts_with("ingress:"))
        });
        let field = format!("steps[{s}]");
        match (&step.nothing_blocked, policies.is_empty(), blocked) {
            (None, false, false) => {
                let names: Vec<String> = policies
                    .iter()
                    .map(|d| format!("{} {}", d.kind(), d.name()))
                    .collect();
                problems.push(loaded.problem(
                    field,
                    format!(
                        "step `{}` has policies in force ({}) but no probe expected blocked: a step that cannot fail proves nothing; add a probe the policies block, or say why nothing is blocked in `nothingBlocked`",
                        step.name,
                        names.join(", ")
                    ),
                ));
            }
            (Some(_), _, true) => problems.push(loaded.problem(
                format!("{field}.nothingBlocked"),
                "the step expects something blocked: remove `nothingBlocked`",
            )),
            (Some(_), true, false) => problems.push(loaded.problem(
                format!("{field}.nothingBlocked"),
                "no policy is in force at this step: remove `nothingBlocked`",
            )),
            _ => {}
        }
    }
}

/// One cell of a matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixCell {
    /// Row (index into `from`).
    pub row: usize,
    /// Column (index into `to`).
    pub column: usize,
    /// The probe.
    pub probe: Probe,
}

/// Expands a matrix into single probes, skipping `-` cells. Errors are `(field suffix, message)`.
pub fn expand_matrix(m: &MatrixProbes) -> Result<Vec<MatrixCell>, (String, String)> {
    let rows: Vec<&str> = m
        .expect
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if m.from.is_empty() || m.to.is_empty() {
        return Err((
            String::new(),
            "a matrix needs at least one `from` and one `to`".to_string(),
        ));
    }
    if rows.len() != m.from.len() {
        return Err((
            ".expect".to_string(),
            format!(
                "{} rows of marks for {} `from` entries: write one line per `from`",
                rows.len(),
                m.from.len()
            ),
        ));
    }
    let mut cells = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let marks: Vec<&str> = row.split_whitespace().collect();
        if marks.len() != m.to.len() {
            return Err((
                ".expect".to_string(),
                format!(
                    "row {} (`{row}`, from {}) has {} marks for {} `to` columns",
                    r + 1,
                    m.from[r],
                    marks.len(),
                    m.to.len()
                ),
            ));
        }
        for (c, mark) in marks.iter().enumerate() {
            let expect = match *mark {
                "." => Expectation::Allowed,
                "X" => Expectation::Blocked,
                "-" => continue,
                other => {
                    return Err((
                        ".expect".to_string(),
                        format!(
                            "row {}, column {}: `{other}` is not a mark (`.` allowed, `X` blocked, `-` not probed)",
                            r + 1,
                            c + 1
                        ),
                    ));
                }
            };
            cells.push(MatrixCell {
                row: r,
                column: c,
                probe: Probe {
                    from: m.from[r].clone(),
                    to: m.to[c].clone(),
                    port: m.port,
                    kind: m.kind,
                    method: None,
                    path: None,
                    expect,
                    timeout: None,
                },
            });
        }
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::format::ScenarioProbeKind;

    #[test]
    fn matrices_expand_row_by_row_and_skip_dashes() {
        let m = MatrixProbes {
            kind: ScenarioProbeKind::Icmp,
            port: None,
            from: vec!["a/x".into(), "a/y".into()],
            to: vec!["a/x".into(), "a/y".into()],
            expect: "- X\n. -\n".into(),
        };
        let cells = expand_matrix(&m).unwrap();
        assert_eq!(cells.len(), 2);
        assert_eq!((cells[0].row, cells[0].column), (0, 1));
        assert_eq!(cells[0].probe.expect, Expectation::Blocked);
        assert_eq!(cells[1].probe.from, "a/y");
        assert_eq!(cells[1].probe.expect, Expectation::Allowed);
    }

    #[test]
    fn matrix_shape_errors_say_which_row() {
        let mut m = MatrixProbes {
            kind: ScenarioProbeKind::Icmp,
            port: None,
            from: vec!["a/x".into(), "a/y".into()],
            to: vec!["a/x".into(), "a/y".into()],
            expect: ". .\n".into(),
        };
        assert!(
            expand_matrix(&m)
                .unwrap_err()
                .1
                .contains("1 rows of marks for 2")
        );
        m.expect = ". .\n. . .\n".into();
        assert!(expand_matrix(&m).unwrap_err().1.contains("row 2"));
        m.expect = ". .\n. o\n".into();
        assert!(
            expand_matrix(&m)
                .unwrap_err()
                .1
                .contains("`o` is not a mark")
        );
    }

    #[test]
    fn paths_must_stay_inside_the_scenario_folder() {
        assert!(is_inside(Path::new("a.yaml")));
        assert!(is_inside(Path::new("original/a.yaml")));
        assert!(!is_inside(Path::new("../a.yaml")));
        assert!(!is_inside(Path::new("/etc/a.yaml")));
    }
}
