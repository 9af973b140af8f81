//! Manifests → model → policies → oracle in one call, and the `analyze` outputs built on it.

use std::path::PathBuf;

use ipnet::IpNet;
use serde::Serialize;

use crate::manifest::{self, ManifestError};
use crate::model::{BuildOptions, Cluster};
use crate::oracle::{Oracle, ProbePort};
use crate::policy::{PolicySet, Semantics};
use crate::report::truth_table::{Mark, TruthTable, legend};

/// A loaded cluster model with its policies.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Namespaces, endpoints, services.
    pub cluster: Cluster,
    /// Tiers and policies.
    pub policies: PolicySet,
}

impl Analysis {
    /// Loads manifests from files and directories and builds the model and policies.
    pub fn load(paths: &[PathBuf], pod_cidr: IpNet) -> Result<Analysis, ManifestError> {
        Analysis::load_as(paths, pod_cidr, Semantics::Generic)
    }

    /// Like [`Analysis::load`], predicting what `semantics` (e.g. one Calico version) does.
    pub fn load_as(
        paths: &[PathBuf],
        pod_cidr: IpNet,
        semantics: Semantics,
    ) -> Result<Analysis, ManifestError> {
        let docs = manifest::load_paths(paths)?;
        Analysis::from_documents_as(&docs, pod_cidr, semantics)
    }

    /// Builds the model and policies from documents already read.
    pub fn from_documents(
        docs: &[manifest::Document],
        pod_cidr: IpNet,
    ) -> Result<Analysis, ManifestError> {
        Analysis::from_documents_as(docs, pod_cidr, Semantics::Generic)
    }

    /// Like [`Analysis::from_documents`], predicting what `semantics` does.
    pub fn from_documents_as(
        docs: &[manifest::Document],
        pod_cidr: IpNet,
        semantics: Semantics,
    ) -> Result<Analysis, ManifestError> {
        let options = BuildOptions {
            pod_cidr,
            ..BuildOptions::default()
        };
        let cluster = Cluster::from_documents(docs, &options)?;
        let policies = PolicySet::from_documents_as(docs, semantics)?;
        Ok(Analysis { cluster, policies })
    }

    /// The oracle for this model.
    pub fn oracle(&self) -> Oracle<'_> {
        Oracle::new(&self.cluster, &self.policies)
    }
}

/// One cell of `analyze --output json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellJson {
    /// `namespace/name` of the client.
    pub from: String,
    /// `namespace/name` of the server.
    pub to: String,
    /// The port (absent for ICMP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The protocol.
    pub protocol: String,
    /// The prediction (one possible result when `uncertain` is set).
    pub allowed: bool,
    /// `unknown (DNS)` or `either` when the manifests leave the result open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncertain: Option<&'static str>,
    /// Why.
    pub reason: String,
}

/// The JSON document of `analyze --output json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellsJson {
    /// Every ordered pair of endpoints (self included) for every probe.
    pub cells: Vec<CellJson>,
}

/// Every cell with its explanation.
pub fn cells_json(oracle: &Oracle<'_>, probes: &[ProbePort]) -> CellsJson {
    let cluster = oracle.cluster();
    let mut cells = Vec::new();
    for &probe in probes {
        for from in cluster.endpoint_ids() {
            for to in cluster.endpoint_ids() {
                let packet = Oracle::packet(from, to, probe);
                let verdict = oracle.verdict(&packet);
                cells.push(CellJson {
                    from: cluster.get(from).key(),
                    to: cluster.get(to).key(),
                    port: probe.port,
                    protocol: probe.protocol.to_string(),
                    allowed: verdict.allowed,
                    uncertain: verdict.uncertain.map(|u| u.label()),
                    reason: oracle.explain(&packet, &verdict),
                });
            }
        }
    }
    CellsJson { cells }
}

/// One truth table per probe, with the legend, and with `explain` every cell explained.
pub fn render_tables(oracle: &Oracle<'_>, probes: &[ProbePort], explain: bool) -> String {
    let cluster = oracle.cluster();
    if cluster.endpoints.is_empty() {
        return "no endpoints: the manifests declare no pods or workloads\n".to_string();
    }
    if probes.is_empty() {
        return "no probes: no endpoint declares a port; pass --probe PORT/PROTOCOL\n".to_string();
    }
    let names: Vec<String> = cluster.endpoints.iter().map(|e| e.key()).collect();
    let matrix = oracle.matrix(probes);
    let mut out = String::new();
    for (p, probe) in probes.iter().enumerate() {
        let marks = cluster
            .endpoint_ids()
            .map(|f| {
                cluster
                    .endpoint_ids()
                    .map(|t| {
                        if matrix.uncertain(p, f, t).is_some() {
                            Mark::Unknown
                        } else if matrix.allowed(p, f, t) {
                            Mark::Allowed
                        } else {
                            Mark::Blocked
                        }
                    })
                    .collect()
            })
            .collect();
        out.push_str(
            &TruthTable {
                title: probe.to_string(),
                names: &names,
                marks,
            }
            .render(),
        );
        out.push('\n');
        if explain {
            for from in cluster.endpoint_ids() {
                for to in cluster.endpoint_ids() {
                    let packet = Oracle::packet(from, to, *probe);
                    let verdict = oracle.verdict(&packet);
                    out.push_str(&format!(
                        "  {} {} → {}: {}\n",
                        match (verdict.uncertain, verdict.allowed) {
                            (Some(_), _) => "?",
                            (None, true) => ".",
                            (None, false) => "X",
                        },
                        names[from.0],
                        names[to.0],
                        oracle.explain(&packet, &verdict)
                    ));
                }
            }
            out.push('\n');
        }
    }
    out.push_str(legend());
    out.push('\n');
    out
}
