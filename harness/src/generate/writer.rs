//! The cases as scenario folders: `scenario.yaml`, `topology.yaml` and one manifest per case
//! under `cases/`, every matrix cell's expectation predicted by the oracle as `validate` and the
//! runner will plan it (the same cluster state, the same prediction).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::topology::{self, NAMESPACES, PORTS, PROTOCOLS};
use super::{Case, GenerateError, LabelChange};
use crate::capability::Capability;
use crate::manifest::{Document, parse_str};
use crate::model::Protocol;
use crate::scenario::format::{
    Expectation, LabelAction, LabelTarget, Probe, Scenario, ScenarioProbeKind, SourceRef,
};
use crate::scenario::plan::predict;
use crate::scenario::state::ClusterState;

/// Where the generated suites say they come from.
const SOURCE_URL: &str =
    "https://github.com/kubernetes/kubernetes/tree/master/test/e2e/network/netpol";

/// One generated scenario: its folder's files and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedScenario {
    /// The scenario's (and folder's) name, `gen-<suite>`.
    pub name: String,
    /// Path (relative to the folder) → content.
    pub files: BTreeMap<PathBuf, String>,
    /// The cases written, with their tags, in step order.
    pub cases: Vec<(String, BTreeSet<String>)>,
    /// Cases left out because the oracle expects nothing blocked or nothing allowed.
    pub vacuous: Vec<String>,
    /// Probes written (matrix cells that are asserted).
    pub probes: usize,
}

/// One matrix: kind, port, and the marks row by row.
struct Matrix {
    kind: ScenarioProbeKind,
    port: Option<u16>,
    rows: Vec<Vec<char>>,
}

/// The scenarios for `cases`, one per suite in the order suites first appear.
pub fn render(cases: &[Case]) -> Result<Vec<GeneratedScenario>, GenerateError> {
    let mut suites: Vec<&str> = Vec::new();
    for c in cases {
        if !suites.contains(&c.suite.as_str()) {
            suites.push(&c.suite);
        }
    }
    suites
        .into_iter()
        .map(|suite| {
            let cases: Vec<&Case> = cases.iter().filter(|c| c.suite == suite).collect();
            render_suite(suite, &cases)
        })
        .collect()
}

/// Writes every scenario under `dir` (a folder per scenario, created or overwritten).
pub fn write(dir: &Path, scenarios: &[GeneratedScenario]) -> Result<(), GenerateError> {
    let err = |path: &Path, e: std::io::Error| GenerateError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    for s in scenarios {
        let folder = dir.join(&s.name);
        if folder.exists() {
            std::fs::remove_dir_all(&folder).map_err(|e| err(&folder, e))?;
        }
        for (file, content) in &s.files {
            let path = folder.join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| err(parent, e))?;
            }
            std::fs::write(&path, content).map_err(|e| err(&path, e))?;
        }
    }
    Ok(())
}

fn render_suite(suite: &str, cases: &[&Case]) -> Result<GeneratedScenario, GenerateError> {
    let name = format!("gen-{suite}");
    let invalid = |case: &str, message: String| GenerateError::Invalid {
        case: format!("{name}/{case}"),
        message,
    };
    let scenario = Scenario {
        name: name.clone(),
        title: String::new(),
        source: SourceRef {
            title: String::new(),
            url: String::new(),
        },
        requires: Vec::new(),
        namespaces: NAMESPACES.iter().map(|s| s.to_string()).collect(),
        remote: Vec::new(),
        provides: Vec::new(),
        setup: Vec::new(),
        errata: Vec::new(),
        steps: Vec::new(),
    };
    let topology_text = topology::manifest();
    let topology_docs = parse_str(Path::new(topology::FILE), &topology_text)
        .map_err(|e| invalid("topology", e.to_string()))?;
    let mut state = ClusterState::new(&scenario);
    state.apply(&topology_docs);

    let mut out = GeneratedScenario {
        name: name.clone(),
        files: BTreeMap::new(),
        cases: Vec::new(),
        vacuous: Vec::new(),
        probes: 0,
    };
    out.files
        .insert(PathBuf::from(topology::FILE), topology_text);
    let mut steps = String::new();
    let mut requires: BTreeSet<Capability> =
        BTreeSet::from([Capability::Ingress, Capability::Egress, Capability::Sctp]);
    // What the previous case left: its file and documents, and the labels it set.
    let mut previous: Option<(String, Vec<Document>, Vec<LabelChange>)> = None;
    for case in cases {
        let file = format!("cases/{}.yaml", case.name);
        let text = case.policies.join("---\n");
        let docs =
            parse_str(Path::new(&file), &text).map_err(|e| invalid(&case.name, e.to_string()))?;
        let mut next = state.clone();
        let mut cleanup = String::new();
        if let Some((prev_file, prev_docs, prev_labels)) = &previous {
            next.delete(prev_docs);
            let _ = writeln!(cleanup, "  - delete: [{prev_file}]");
            for l in prev_labels {
                let action = label_action(l, false);
                next.label(&action);
                let _ = writeln!(cleanup, "  - {}", label_yaml(l, false));
            }
        }
        next.apply(&docs);
        let before = if case.labels.is_empty() {
            None
        } else {
            Some(matrices(&next, case.icmp).map_err(|e| invalid(&case.name, e))?)
        };
        for l in &case.labels {
            next.label(&label_action(l, true));
        }
        let after = matrices(&next, case.icmp).map_err(|e| invalid(&case.name, e))?;
        let marks = |m: &[Matrix], c: char| {
            m.iter()
                .flat_map(|m| m.rows.iter().flatten())
                .any(|x| *x == c)
        };
        if !marks(&after, 'X') || !marks(&after, '.') {
            out.vacuous.push(case.name.clone());
            continue;
        }
        // The case is written: commit its state.
        state = next;
        for doc in &docs {
            if doc.api_version().starts_with("projectcalico.org/") {
                requires.insert(Capability::CalicoCrds);
            }
            if doc.kind() == "ClusterNetworkPolicy" {
                requires.insert(Capability::ClusterNetworkPolicy);
            }
        }
        out.files.insert(PathBuf::from(&file), text);
        let tags: Vec<&str> = case.tags.iter().map(String::as_str).collect();
        let narration = case.narration.clone();
        let step_requires: Vec<&str> = case.requires.iter().map(|c| c.name()).collect();
        let apply = format!("  - apply: [{file}]\n");
        match before {
            Some(before) => {
                let blocked = marks(&before, 'X');
                step(
                    &mut steps,
                    &format!("{}-before", case.name),
                    &format!("The policies first, before the label changes. {narration}"),
                    &tags,
                    &step_requires,
                    (!blocked).then_some(
                        "The policies select nothing until the label is set in the next step.",
                    ),
                    &format!("{cleanup}{apply}"),
                    &before,
                    &mut out.probes,
                );
                let mut labels = String::new();
                for l in &case.labels {
                    let _ = writeln!(labels, "  - {}", label_yaml(l, true));
                }
                step(
                    &mut steps,
                    &case.name,
                    &narration,
                    &tags,
                    &step_requires,
                    None,
                    &labels,
                    &after,
                    &mut out.probes,
                );
            }
            None => step(
                &mut steps,
                &case.name,
                &narration,
                &tags,
                &step_requires,
                None,
                &format!("{cleanup}{apply}"),
                &after,
                &mut out.probes,
            ),
        }
        out.cases.push((case.name.clone(), case.tags.clone()));
        previous = Some((file, docs, case.labels.clone()));
    }
    let requires: Vec<&str> = requires.iter().map(|c| c.name()).collect();
    let mut head = String::new();
    let _ = write!(
        head,
        "# Generated by `netpol-harness generate`: do not edit, generate again.\n\
         name: {name}\n\
         title: {}\n\
         source:\n  title: The upstream Netpol e2e topology (namespaces x, y, z; pods a, b, c)\n  url: {SOURCE_URL}\n\
         requires: [{}]\n\
         namespaces: [{}]\n\
         setup: [{}]\n\
         steps:\n",
        quote(&format!("Generated {suite} cases ({})", out.cases.len())),
        requires.join(", "),
        NAMESPACES.join(", "),
        topology::FILE,
    );
    head.push_str(&steps);
    out.files.insert(PathBuf::from("scenario.yaml"), head);
    Ok(out)
}

/// One step, appended to `out`.
#[allow(clippy::too_many_arguments)]
fn step(
    out: &mut String,
    name: &str,
    narration: &str,
    tags: &[&str],
    requires: &[&str],
    nothing_blocked: Option<&str>,
    actions: &str,
    matrices: &[Matrix],
    probes: &mut usize,
) {
    let _ = writeln!(out, "- name: {name}\n  narration: {}", quote(narration));
    if !tags.is_empty() {
        let _ = writeln!(out, "  tags: [{}]", tags.join(", "));
    }
    if !requires.is_empty() {
        let _ = writeln!(out, "  requires: [{}]", requires.join(", "));
    }
    if let Some(why) = nothing_blocked {
        let _ = writeln!(out, "  nothingBlocked: {}", quote(why));
    }
    if !actions.is_empty() {
        out.push_str("  actions:\n");
        out.push_str(actions);
    }
    let endpoints = topology::endpoints().join(", ");
    out.push_str("  matrices:\n");
    for m in matrices {
        let kind = serde_json::to_value(m.kind)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let _ = writeln!(out, "  - kind: {kind}");
        if let Some(port) = m.port {
            let _ = writeln!(out, "    port: {port}");
        }
        let _ = writeln!(
            out,
            "    from: [{endpoints}]\n    to: [{endpoints}]\n    expect: |"
        );
        for row in &m.rows {
            let line: Vec<String> = row.iter().map(char::to_string).collect();
            let _ = writeln!(out, "      {}", line.join(" "));
            *probes += row.iter().filter(|c| **c != '-').count();
        }
    }
}

/// A YAML double-quoted scalar (JSON's string syntax is YAML's).
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn label_target(l: &LabelChange) -> LabelTarget {
    if l.target.contains('/') {
        LabelTarget::Pods(l.target.clone())
    } else {
        LabelTarget::Namespace(l.target.clone())
    }
}

/// The label action setting (`set`) or removing the change.
fn label_action(l: &LabelChange, set: bool) -> LabelAction {
    LabelAction {
        target: label_target(l),
        set: if set {
            BTreeMap::from([(l.key.clone(), l.value.clone())])
        } else {
            BTreeMap::new()
        },
        remove: if set { Vec::new() } else { vec![l.key.clone()] },
    }
}

fn label_yaml(l: &LabelChange, set: bool) -> String {
    let what = if l.target.contains('/') {
        "pods"
    } else {
        "namespace"
    };
    if set {
        format!(
            "label: {{{what}: {}, set: {{{}: {}}}}}",
            l.target, l.key, l.value
        )
    } else {
        format!("label: {{{what}: {}, remove: [{}]}}", l.target, l.key)
    }
}

/// The whole matrix in `state`: every served port and protocol (and ICMP when asked), every
/// ordered pair; the diagonal and uncertain cells are `-` (not asserted).
fn matrices(state: &ClusterState, icmp: bool) -> Result<Vec<Matrix>, String> {
    let analysis = state.analysis().map_err(|e| e.to_string())?;
    let endpoints = topology::endpoints();
    let mut kinds: Vec<(ScenarioProbeKind, Option<u16>)> = Vec::new();
    for protocol in PROTOCOLS {
        for port in PORTS {
            let kind = match protocol {
                Protocol::Udp => ScenarioProbeKind::Udp,
                Protocol::Sctp => ScenarioProbeKind::Sctp,
                _ => ScenarioProbeKind::Tcp,
            };
            kinds.push((kind, Some(port)));
        }
    }
    if icmp {
        kinds.push((ScenarioProbeKind::Icmp, None));
    }
    let mut out = Vec::new();
    for (kind, port) in kinds {
        let mut rows = Vec::new();
        for from in &endpoints {
            let mut row = Vec::new();
            for to in &endpoints {
                if from == to {
                    row.push('-');
                    continue;
                }
                let probe = Probe {
                    from: from.clone(),
                    to: to.clone(),
                    port,
                    kind,
                    method: None,
                    path: None,
                    timeout: None,
                    expect: Expectation::Allowed,
                };
                row.push(match predict(&analysis, &probe) {
                    Ok(p) if p.outcome == Expectation::Blocked => 'X',
                    Ok(_) => '.',
                    Err(_) => '-',
                });
            }
            rows.push(row);
        }
        out.push(Matrix { kind, port, rows });
    }
    Ok(out)
}
