//! Scenario plans for people (a table per step: declared vs predicted, disagreements explained)
//! and for machines (`plan --output json`).

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

use crate::capability::Capability;
use crate::escape;
use crate::scenario::derive::{Derived, derive, pings};
use crate::scenario::format::{Expectation, Scenario, ScenarioProbeKind, SourceRef};
use crate::scenario::plan::{PlannedProbe, PlannedStep};
use crate::scenario::target;

/// The table of one step's probes: client, target, port/protocol, kind, what the scenario
/// expects, what the oracle predicts, and whether they agree. Disagreeing rows (and with
/// `explain` every row) are followed by the oracle's explanation.
pub fn step_table(step: &PlannedStep, explain: bool) -> String {
    if step.probes.is_empty() {
        return "  (no probes in this step)\n".to_string();
    }
    let mut table = Table::new();
    table
        .load_preset(presets::ASCII_MARKDOWN)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec![
            "#",
            "from",
            "to",
            "port",
            "kind",
            "expected",
            "predicted",
            "",
        ]);
    for (i, p) in step.probes.iter().enumerate() {
        table.add_row(vec![
            (i + 1).to_string(),
            escape::terminal(&p.probe.from).into_owned(),
            escape::terminal(&p.probe.to).into_owned(),
            port_text(p),
            target::kind_name(p.probe.kind).to_string(),
            p.expected.to_string(),
            p.predicted.to_string(),
            if p.agrees { "ok" } else { "DISAGREES" }.to_string(),
        ]);
    }
    let mut out = String::new();
    for line in table.to_string().lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    for (i, p) in step.probes.iter().enumerate() {
        if explain || !p.agrees {
            let mark = if p.agrees { " " } else { "!" };
            out.push_str(&format!(
                "  {mark} {}: {} ({}): {}\n",
                i + 1,
                escape::terminal(&p.resolution.to_string()),
                escape::terminal(&p.origin),
                escape::terminal(&p.reason)
            ));
        }
    }
    out
}

/// What a step's whole matrix adds beyond its claims (`--matrix full`, the default of `run`
/// and `reproduce`): the derived cells, per ordered pair of the scenario's own endpoints and
/// port (on a cluster, each pod's every address is probed: more with replicas or dual-stack).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DerivedPlan {
    /// Derived cells: pairs × ports (and ICMP) that no claim of the step probes.
    pub cells: usize,
    /// Of those, the oracle expects allowed (asserted).
    pub allowed: usize,
    /// The oracle expects blocked (asserted).
    pub blocked: usize,
    /// An endpoint to itself. A pod probing its own address is reported, never asserted; with
    /// `--all-replicas` one replica probing another is asserted, so this is an upper bound.
    pub self_traffic: usize,
    /// The oracle cannot decide: reported, never asserted.
    pub undecided: usize,
}

impl DerivedPlan {
    /// The derived cells of `step` of `scenario`, counted (as the runner derives them on a
    /// cluster whose CNI has no semantics of its own).
    pub fn of(scenario: &Scenario, step: &PlannedStep) -> DerivedPlan {
        let mut plan = DerivedPlan::default();
        for cell in derive(&step.model, &step.probes, pings(scenario)) {
            plan.cells += 1;
            match cell.derived {
                _ if cell.same_endpoint() => plan.self_traffic += 1,
                Derived::Uncertain(_) => plan.undecided += 1,
                Derived::Expect(Expectation::Blocked) => plan.blocked += 1,
                Derived::Expect(_) => plan.allowed += 1,
            }
        }
        plan
    }
}

/// The line under a step's table: how many derived cells a run will probe beside the claims
/// (`None`: `--matrix claims`, none).
pub fn derived_line(derived: Option<&DerivedPlan>) -> String {
    let Some(d) = derived else {
        return "  derived cells: none (--matrix claims: the claims alone)\n".to_string();
    };
    let mut line = format!(
        "  derived cells (--matrix full): {} beyond the claims (per endpoint pair and port): the oracle expects {} allowed, {} blocked",
        d.cells, d.allowed, d.blocked
    );
    if d.self_traffic + d.undecided > 0 {
        line.push_str(&format!(
            "; reported, not asserted: {} to itself, {} undecided",
            d.self_traffic, d.undecided
        ));
    }
    line.push('\n');
    line
}

/// `80/TCP`, `ICMP`, `53/UDP` (DNS), or `80/TCP` for an ingress request.
fn port_text(p: &PlannedProbe) -> String {
    let protocol = target::protocol(p.probe.kind);
    match (p.probe.kind, p.probe.port) {
        (ScenarioProbeKind::Dns, _) => format!("53/{protocol}"),
        (_, Some(port)) => format!("{port}/{protocol}"),
        (ScenarioProbeKind::Icmp, None) => protocol.to_string(),
        (_, None) => format!("80/{protocol}"),
    }
}

/// `plan --output json`: `{"scenarios": [...]}`.
#[derive(Debug, Clone, Serialize)]
pub struct PlansJson {
    /// One entry per scenario.
    pub scenarios: Vec<ScenarioPlanJson>,
}

/// One scenario's plan.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioPlanJson {
    /// The scenario's name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// The tutorial it reproduces.
    pub source: SourceRef,
    /// What the cluster must provide.
    pub requires: Vec<Capability>,
    /// Where it differs from the tutorial.
    pub errata: Vec<ErratumJson>,
    /// The steps planned (all, unless `error` says why planning stopped).
    pub steps: Vec<StepPlanJson>,
    /// Why planning stopped early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An erratum, briefly.
#[derive(Debug, Clone, Serialize)]
pub struct ErratumJson {
    /// What differs.
    pub what: String,
    /// Why.
    pub why: String,
}

/// One step's plan.
#[derive(Debug, Clone, Serialize)]
pub struct StepPlanJson {
    /// The step's name.
    pub name: String,
    /// The step's requirements (the scenario's and its own).
    pub requires: Vec<Capability>,
    /// Its probes.
    pub probes: Vec<ProbePlanJson>,
    /// The derived cells a run probes beside them (left out with `--matrix claims`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derived: Option<DerivedPlan>,
}

/// One probe's plan.
#[derive(Debug, Clone, Serialize)]
pub struct ProbePlanJson {
    /// The client, as written.
    pub from: String,
    /// The target, as written.
    pub to: String,
    /// The port, as written (none for ICMP, DNS and ingress probes).
    pub port: Option<u16>,
    /// The protocol sent (`TCP`, `UDP`, `SCTP`, `ICMP`).
    pub protocol: String,
    /// The probe kind.
    pub kind: ScenarioProbeKind,
    /// What the scenario expects.
    pub expected: Expectation,
    /// What the oracle predicts.
    pub predicted: Expectation,
    /// Whether they agree.
    pub agrees: bool,
    /// Where the packets go.
    pub target: String,
    /// The oracle's explanation.
    pub reason: String,
}

impl ScenarioPlanJson {
    /// The JSON of a scenario from its steps planned so far, and the error that stopped
    /// planning; with `full`, each step's derived cells counted.
    pub fn new(
        scenario: &Scenario,
        steps: &[PlannedStep],
        error: Option<String>,
        full: bool,
    ) -> Self {
        ScenarioPlanJson {
            name: scenario.name.clone(),
            title: scenario.title.clone(),
            source: scenario.source.clone(),
            requires: scenario.requires.clone(),
            errata: scenario
                .errata
                .iter()
                .map(|e| ErratumJson {
                    what: e.what.clone(),
                    why: e.why.clone(),
                })
                .collect(),
            steps: steps
                .iter()
                .map(|s| StepPlanJson {
                    name: s.name.clone(),
                    requires: s.requires.clone(),
                    probes: s
                        .probes
                        .iter()
                        .map(|p| ProbePlanJson {
                            from: p.probe.from.clone(),
                            to: p.probe.to.clone(),
                            port: p.probe.port,
                            protocol: target::protocol(p.probe.kind).to_string(),
                            kind: p.probe.kind,
                            expected: p.expected,
                            predicted: p.predicted,
                            agrees: p.agrees,
                            target: p.resolution.to_string(),
                            reason: p.reason.clone(),
                        })
                        .collect(),
                    derived: full.then(|| DerivedPlan::of(scenario, s)),
                })
                .collect(),
            error,
        }
    }
}
