//! Calico projectcalico.org/v3 NetworkPolicy, GlobalNetworkPolicy and Tier.

use super::{Policy, Tier};
use crate::manifest::{Document, ManifestError};

/// Converts a Calico NetworkPolicy or GlobalNetworkPolicy.
pub fn convert(doc: &Document) -> Result<Policy, ManifestError> {
    Err(doc.unsupported("kind", "Calico policies are not modelled yet"))
}

/// Converts a Calico Tier.
pub fn convert_tier(doc: &Document) -> Result<Tier, ManifestError> {
    Err(doc.unsupported("kind", "Calico tiers are not modelled yet"))
}
