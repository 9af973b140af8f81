//! The checks of a scenario's own fields: the header (name, titles, namespaces, remote manifests,
//! provided endpoints, errata) and every reference its actions and probes make to endpoints,
//! namespaces and Services.

use super::LoadedScenario;
use super::is_short_name;
use crate::model::Cluster;
use crate::scenario::format::{Action, LabelTarget, UNPINNED};
use crate::scenario::state::{
    INGRESS_CONTROLLER_LABEL, INGRESS_CONTROLLER_NAMESPACE, find_ingress_controller,
};
use crate::scenario::target::{self, Client, Target, parse_probe};
use crate::scenario::{Problem, StepProbe};

pub(super) fn check_header(loaded: &LoadedScenario, problems: &mut Vec<Problem>) {
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

pub(super) fn check_references(
    loaded: &LoadedScenario,
    cluster: &Cluster,
    problems: &mut Vec<Problem>,
) {
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
