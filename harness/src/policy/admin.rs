//! AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1).

use super::Policy;
use crate::manifest::{Document, ManifestError};

/// Converts an AdminNetworkPolicy or BaselineAdminNetworkPolicy.
pub fn convert(doc: &Document) -> Result<Policy, ManifestError> {
    Err(doc.unsupported("kind", "AdminNetworkPolicy is not modelled yet"))
}
