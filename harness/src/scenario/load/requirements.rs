//! The checks that need the cluster state: the scenario requires every capability it uses, and
//! every step with policies in force can fail.

use std::collections::{BTreeMap, BTreeSet};

use super::LoadedScenario;
use crate::capability::Capability;
use crate::manifest::Document;
use crate::model::Cluster;
use crate::scenario::Problem;
use crate::scenario::format::{Action, Expectation};
use crate::scenario::state::{ClusterState, is_policy};
use crate::scenario::target::{self, Target, parse_probe};

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

pub(super) fn check_requirements(
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
pub(super) fn check_steps_can_fail(loaded: &LoadedScenario, problems: &mut Vec<Problem>) {
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
