//! The set of tiers and policies read from manifests: each document decoded by its kind, tiers
//! checked, policies placed.

use super::{CalicoLine, Policy, Semantics, Tier, admin, calico, cluster, k8s};
use crate::manifest::{Document, ManifestError};

/// All tiers and policies read from a set of manifests.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySet {
    /// Tiers: built-in ones plus declared ones.
    pub tiers: Vec<Tier>,
    /// Policies, in the order they were read.
    pub policies: Vec<Policy>,
    /// Whose behaviour is predicted.
    pub semantics: Semantics,
    /// Documents read but not enforced under these semantics (e.g. AdminNetworkPolicy on Calico
    /// 3.32), one line each.
    pub warnings: Vec<String>,
}

impl Default for PolicySet {
    fn default() -> Self {
        PolicySet::new(Semantics::Generic)
    }
}

impl PolicySet {
    /// An empty set with the built-in tiers of `semantics`.
    pub fn new(semantics: Semantics) -> PolicySet {
        PolicySet {
            tiers: Tier::builtin_for(semantics),
            policies: Vec::new(),
            semantics,
            warnings: Vec::new(),
        }
    }

    /// Decodes every policy document; other kinds are skipped. Policy-looking documents the
    /// oracle does not model (other Calico kinds, removed API versions) are refused.
    pub fn from_documents(docs: &[Document]) -> Result<PolicySet, ManifestError> {
        PolicySet::from_documents_as(docs, Semantics::Generic)
    }

    /// Like [`PolicySet::from_documents`], predicting what `semantics` does.
    pub fn from_documents_as(
        docs: &[Document],
        semantics: Semantics,
    ) -> Result<PolicySet, ManifestError> {
        let mut set = PolicySet::new(semantics);
        for doc in docs {
            set.add_document(doc)?;
        }
        set.check_tiers(docs)?;
        Ok(set)
    }

    /// Adds one document if it is a policy or tier; returns whether it was one.
    pub fn add_document(&mut self, doc: &Document) -> Result<bool, ManifestError> {
        let group = doc.api_version().split('/').next().unwrap_or("");
        match (group, doc.kind()) {
            ("networking.k8s.io", "NetworkPolicy") => {
                self.add_policy(doc, k8s::convert(doc)?)?;
            }
            ("extensions", "NetworkPolicy") => {
                return Err(doc.unsupported(
                    "apiVersion",
                    "extensions/v1beta1 NetworkPolicy was removed in Kubernetes 1.16; use networking.k8s.io/v1",
                ));
            }
            ("projectcalico.org", "Tier") => {
                let tier = calico::convert_tier(doc)?;
                if self
                    .tiers
                    .iter()
                    .any(|t| t.name == tier.name && t.source.is_some())
                {
                    return Err(doc.invalid(
                        "metadata.name",
                        format!("tier `{}` is declared twice", tier.name),
                    ));
                }
                self.tiers.retain(|t| t.name != tier.name);
                self.tiers.push(tier);
            }
            ("projectcalico.org", "NetworkPolicy" | "GlobalNetworkPolicy") => {
                self.add_policy(doc, calico::convert(doc)?)?;
            }
            ("projectcalico.org", kind) => {
                return Err(doc.unsupported(
                    "kind",
                    format!("projectcalico.org {kind} is not modelled by the oracle (it models NetworkPolicy, GlobalNetworkPolicy and Tier)"),
                ));
            }
            ("crd.projectcalico.org", kind) => {
                return Err(doc.unsupported(
                    "apiVersion",
                    format!("{} {kind} is Calico's storage form, which must not be written directly; use projectcalico.org/v3", doc.api_version()),
                ));
            }
            ("policy.networking.k8s.io", "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy") => {
                let line = self.semantics.calico();
                let ignored = match line {
                    Some(l) if l.has_cnp() => Some(format!(
                        "Calico {} no longer enforces AdminNetworkPolicy or BaselineAdminNetworkPolicy (calico#11144): replace it with a ClusterNetworkPolicy",
                        l.as_str()
                    )),
                    Some(CalicoLine::V3_29) if doc.kind() == "BaselineAdminNetworkPolicy" => {
                        Some("Calico 3.29 does not enforce BaselineAdminNetworkPolicy (added in 3.30, calico#9464)".to_string())
                    }
                    _ => None,
                };
                let policy = admin::convert(doc, line.is_some())?;
                if let Some(why) = ignored {
                    self.warnings.push(format!(
                        "{}: {} {} ignored: {why}",
                        doc.source,
                        doc.kind(),
                        policy.id.name
                    ));
                    return Ok(true);
                }
                admin::check_priority(doc, &self.policies, &policy)?;
                self.add_policy(doc, policy)?;
            }
            ("policy.networking.k8s.io", "ClusterNetworkPolicy") => {
                let features = match self.semantics.calico() {
                    None => cluster::Features::ALL,
                    Some(line) if line.has_cnp() => cluster::Features::CALICO,
                    Some(line) => {
                        let policy = cluster::convert(doc, &cluster::Features::ALL)?;
                        self.warnings.push(format!(
                            "{}: ClusterNetworkPolicy {} ignored: Calico {} does not implement ClusterNetworkPolicy (3.32 does, calico#10810)",
                            doc.source,
                            policy.id.name,
                            line.as_str()
                        ));
                        return Ok(true);
                    }
                };
                let policy = cluster::convert(doc, &features)?;
                self.add_policy(doc, policy)?;
            }
            ("policy.networking.k8s.io", kind) => {
                return Err(doc.unsupported(
                    "kind",
                    format!("{} {kind} is not modelled (the oracle models ClusterNetworkPolicy v1alpha2, and AdminNetworkPolicy and BaselineAdminNetworkPolicy v1alpha1)", doc.api_version()),
                ));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn add_policy(&mut self, doc: &Document, policy: Policy) -> Result<(), ManifestError> {
        if let Some(existing) = self.policies.iter().find(|p| p.id == policy.id) {
            return Err(doc.invalid(
                "metadata.name",
                format!(
                    "{} is declared twice (first at {})",
                    policy.id, existing.source
                ),
            ));
        }
        self.policies.push(policy);
        Ok(())
    }

    /// Every policy must name a tier that exists (`docs`: the documents the policies came from).
    pub fn check_tiers(&self, docs: &[Document]) -> Result<(), ManifestError> {
        for policy in &self.policies {
            if !self.tiers.iter().any(|t| t.name == policy.tier) {
                let doc = docs
                    .iter()
                    .find(|d| d.source == policy.source)
                    .expect("policies come from documents");
                // The operator's tier was renamed in 3.32 (calico#11842).
                let renamed = match (self.semantics.calico(), policy.tier.as_str()) {
                    (Some(l), "allow-tigera") if l.has_cnp() => Some(
                        "tier `allow-tigera` is called `calico-system` from Calico 3.32 (calico#11842)",
                    ),
                    (Some(l), "calico-system") if !l.has_cnp() => Some(
                        "tier `calico-system` is called `allow-tigera` before Calico 3.32 (calico#11842)",
                    ),
                    _ => None,
                };
                if let Some(why) = renamed {
                    return Err(doc.invalid("spec.tier", why));
                }
                return Err(doc.invalid(
                    "spec.tier",
                    format!(
                        "tier `{}` does not exist: declare a projectcalico.org/v3 Tier",
                        policy.tier
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The tier called `name`.
    pub fn tier(&self, name: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.name == name)
    }

    /// Whether any policy applies in the egress direction (scenarios use it to state requirements).
    pub fn has_egress(&self) -> bool {
        self.policies.iter().any(|p| p.egress.is_some())
    }
}
