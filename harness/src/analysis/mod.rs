//! Manifests → model → policies → oracle in one call, and the `analyze` outputs built on it.
//!
//! One job per file: this file loads manifests (from files, or from a live cluster read by
//! [`live`]) and says what the answer leaves out ([`Notes`]);
//! `kinds` sorts documents by kind for `analyze` (other vendors' policies, `-n`); `near_miss`
//! names the rules that nearly matched; `view` renders tables, lists, JSON and dot; `select`
//! reads `--from`/`--to`; `reach` answers `--probe-to`; `diff` compares two answers.

mod diff;
mod kinds;
pub mod live;
mod near_miss;
mod reach;
mod select;
mod view;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use ipnet::IpNet;

use crate::manifest::{self, Document, ManifestError, Source};
use crate::model::{BuildOptions, Cluster, EndpointId};
use crate::oracle::{Oracle, Packet, Peer};
use crate::policy::{PolicySet, Semantics};

pub use diff::{ChangeJson, DiffSummary, write_diff};
use kinds::foreign_policy;
pub use kinds::set_namespace;
pub use reach::{ProbeTo, ProbeToError, ReachJson, TargetJson};
pub use select::{NoMatch, select};
pub use view::{CellJson, LEGEND, Shown, View};

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

    /// Builds the model from a user's own documents (files, after [`set_namespace`] for `-n`, or
    /// a cluster read by [`live::read`]), as `analyze` reads them: other vendors' policy kinds are
    /// refused (or, with `ignore_unsupported`, left out and listed), and what the answer does not
    /// cover is noted.
    pub fn for_user(
        docs: Vec<Document>,
        options: &UserOptions,
    ) -> Result<(Analysis, Notes), ManifestError> {
        let mut notes = Notes::default();
        let mut kept = Vec::with_capacity(docs.len());
        let mut policies = PolicySet::new(options.semantics);
        for doc in docs {
            let what = format!("{} {}", doc.api_version(), doc.kind());
            if foreign_policy(doc.api_version(), doc.kind()) {
                if !options.ignore_unsupported {
                    return Err(doc.unsupported(
                        "kind",
                        format!("{what} is another vendor's policy kind, which the oracle does not evaluate, so the answer would be wrong; remove it, or pass --ignore-unsupported to analyze without it"),
                    ));
                }
                notes
                    .ignored_policies
                    .entry(what)
                    .or_default()
                    .push(doc.source.clone());
                continue;
            }
            if !policies.add_document(&doc)? && !Cluster::models(doc.api_version(), doc.kind()) {
                *notes.unevaluated.entry(what).or_default() += 1;
            }
            kept.push(doc);
        }
        policies.check_tiers(&kept)?;
        let build = BuildOptions {
            pod_cidr: options.pod_cidr,
            ..BuildOptions::default()
        };
        let cluster = Cluster::from_documents(&kept, &build)?;
        let analysis = Analysis { cluster, policies };
        let by_source: HashMap<&Source, &Document> = kept.iter().map(|d| (&d.source, d)).collect();
        notes.assumed = analysis
            .cluster
            .endpoint_ids()
            .filter(|&id| {
                let e = analysis.cluster.get(id);
                let doc = e.source.as_ref().and_then(|s| by_source.get(s));
                let written = doc.is_some_and(|d| {
                    d.value.pointer("/status/podIP").is_some()
                        || d.value.pointer("/status/podIPs").is_some()
                });
                // A host-network pod has its node's addresses: known when it names a declared
                // Node that carries some, assumed (a kind node's) otherwise.
                let on_known_node = || {
                    let node = doc.and_then(|d| {
                        d.value
                            .pointer("/spec/nodeName")
                            .or_else(|| d.value.pointer("/spec/template/spec/nodeName"))
                            .and_then(serde_json::Value::as_str)
                    });
                    node.is_some_and(|name| {
                        analysis
                            .cluster
                            .nodes
                            .iter()
                            .any(|n| n.name == name && !n.addresses.is_empty())
                    })
                };
                !(written || (e.host_network && on_known_node()))
            })
            .collect();
        notes.pod_cidr = options.pod_cidr;
        if !analysis.cluster.endpoints.is_empty() {
            // Each distinct label set once (replicas share theirs), by namespace: a subject that
            // requires one namespace is matched against that namespace's label sets only.
            use crate::policy::labels::{NAMESPACE, policy_labels, required_namespace};
            let labels: std::collections::HashSet<_> = analysis
                .cluster
                .endpoint_ids()
                .filter(|&id| !analysis.cluster.get(id).host_network)
                .map(|id| policy_labels(&analysis.cluster, id))
                .collect();
            let mut by_namespace: HashMap<&str, Vec<&crate::model::Labels>> = HashMap::new();
            for l in &labels {
                if let Some(ns) = l.get(NAMESPACE) {
                    by_namespace.entry(ns.as_str()).or_default().push(l);
                }
            }
            notes.selects_nothing = (0..analysis.policies.policies.len())
                .filter(|&p| {
                    let subject = &analysis.policies.policies[p].subject;
                    match required_namespace(subject) {
                        Some(ns) => !by_namespace
                            .get(ns)
                            .is_some_and(|ls| ls.iter().any(|l| subject.matches(l))),
                        None => !labels.iter().any(|l| subject.matches(l)),
                    }
                })
                .collect();
            notes.namespace_unwritten = notes
                .selects_nothing
                .iter()
                .copied()
                .filter(|&p| {
                    let policy = &analysis.policies.policies[p];
                    policy.id.namespace.is_some()
                        && by_source
                            .get(&policy.source)
                            .is_some_and(|d| d.namespace().is_none())
                })
                .collect();
        }
        Ok((analysis, notes))
    }

    /// Whether a verdict may depend on assumed addresses ([`Notes::assumed`]): a policy that
    /// applied on either side has an address rule (ipBlock, `nets`) in that direction
    /// ([`Oracle::address_rules_apply`]), and one of the two endpoints has an assumed address.
    pub fn depends_on_assumed(&self, oracle: &Oracle<'_>, notes: &Notes, packet: &Packet) -> bool {
        let assumed =
            |p: Peer| matches!(p, Peer::Endpoint(id) if notes.assumed.binary_search(&id).is_ok());
        (assumed(packet.from) || assumed(packet.to)) && oracle.address_rules_apply(packet)
    }
}

/// How `analyze` reads a user's manifests.
#[derive(Debug, Clone)]
pub struct UserOptions {
    /// Addresses for endpoints whose manifests carry no `status.podIP`.
    pub pod_cidr: IpNet,
    /// Leave other vendors' policy kinds out (listed in [`Notes::ignored_policies`]) instead of
    /// refusing them.
    pub ignore_unsupported: bool,
    /// Whose semantics to predict (the APIs as written, or one Calico version line).
    pub semantics: Semantics,
}

/// What an answer leaves out or takes on trust, for the user to see next to it.
#[derive(Debug, Clone)]
pub struct Notes {
    /// Other vendors' policy documents left out, by `apiVersion Kind`.
    pub ignored_policies: BTreeMap<String, Vec<Source>>,
    /// Documents of kinds the oracle neither models nor evaluates, counted by `apiVersion Kind`.
    pub unevaluated: BTreeMap<String, usize>,
    /// Policies (indices into [`PolicySet::policies`]) that select no endpoint.
    pub selects_nothing: Vec<usize>,
    /// Those of [`Notes::selects_nothing`] whose document named no namespace (they landed in
    /// `default`, where `-n` would have placed them elsewhere); never an object read from a
    /// cluster, which always has its namespace.
    pub namespace_unwritten: Vec<usize>,
    /// Endpoints whose addresses were assumed, in order: from the pod CIDR (no `status.podIP`), or
    /// for a host-network pod a kind node's address (it names no declared Node with addresses).
    pub assumed: Vec<EndpointId>,
    /// The pod CIDR the assumed addresses come from.
    pub pod_cidr: IpNet,
}

impl Default for Notes {
    fn default() -> Self {
        Notes {
            ignored_policies: BTreeMap::new(),
            unevaluated: BTreeMap::new(),
            selects_nothing: Vec::new(),
            namespace_unwritten: Vec::new(),
            assumed: Vec::new(),
            pod_cidr: crate::model::DEFAULT_POD_CIDR
                .parse()
                .expect("valid default CIDR"),
        }
    }
}

impl Notes {
    /// Warnings for standard error, one line each.
    pub fn warnings(&self, analysis: &Analysis) -> Vec<String> {
        let mut out = Vec::new();
        for (what, sources) in &self.ignored_policies {
            let at: Vec<String> = sources.iter().map(Source::to_string).collect();
            out.push(format!(
                "ignored {} {what} document(s), which the oracle does not evaluate (--ignore-unsupported): {}",
                sources.len(),
                at.join(", ")
            ));
        }
        for &p in &self.selects_nothing {
            let policy = &analysis.policies.policies[p];
            out.push(format!(
                "{} ({}) selects no endpoint of these manifests, so it changes nothing here{}",
                policy.id,
                policy.source,
                match &policy.id.namespace {
                    Some(ns) if self.namespace_unwritten.contains(&p) => format!(" (its document names no namespace, so it is in `{ns}`; -n/--namespace sets the namespace of documents that name none)"),
                    _ => String::new(),
                }
            ));
        }
        out
    }

    /// One line on the documents of kinds that are neither modelled nor policy, if there are any.
    pub fn summary(&self) -> Option<String> {
        if self.unevaluated.is_empty() {
            return None;
        }
        let kinds: Vec<String> = self
            .unevaluated
            .iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        Some(format!(
            "not evaluated (kinds that do not change pod-to-pod policy here): {}",
            kinds.join(", ")
        ))
    }

    /// The line over the output when part of the input was left out, if any was.
    pub fn banner(&self) -> Option<String> {
        if self.ignored_policies.is_empty() {
            return None;
        }
        let kinds: Vec<&str> = self.ignored_policies.keys().map(String::as_str).collect();
        Some(format!(
            "NOTE: this answer IGNORES {} (--ignore-unsupported); a cluster enforcing them may block more",
            kinds.join(", ")
        ))
    }

    /// The line under a table with cells that depend on assumed addresses.
    pub fn assumed_line(&self, cluster: &Cluster) -> String {
        let (hosts, pods): (Vec<EndpointId>, Vec<EndpointId>) = self
            .assumed
            .iter()
            .partition(|&&id| cluster.get(id).host_network);
        let list = |ids: &[EndpointId]| {
            ids.iter()
                .map(|&id| {
                    let e = cluster.get(id);
                    format!("{} {}", e.key(), e.ip())
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if !pods.is_empty() {
            parts.push(format!(
                "pod addresses assumed from --pod-cidr {} (the manifests carry no status.podIP): {}",
                self.pod_cidr,
                list(&pods)
            ));
        }
        if !hosts.is_empty() {
            parts.push(format!(
                "host-network pods assumed on a kind node's address (no status.podIP, and they name no declared Node with addresses): {}",
                list(&hosts)
            ));
        }
        format!("* depends on {}", parts.join("; "))
    }

    /// Where an assumed address comes from, for one endpoint's explanation.
    pub fn assumed_origin(&self, cluster: &Cluster, id: EndpointId) -> String {
        if cluster.get(id).host_network {
            "a kind node's address (host network)".to_string()
        } else {
            format!("--pod-cidr {}", self.pod_cidr)
        }
    }
}
