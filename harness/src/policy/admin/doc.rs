//! The AdminNetworkPolicy and BaselineAdminNetworkPolicy documents as written (v0.1.x), decoded
//! strictly: an unknown field is an error naming its path, never silently ignored.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use serde::Deserialize;
use serde::de::IgnoredAny;

/// An AdminNetworkPolicy or BaselineAdminNetworkPolicy as written (one struct; what differs
/// between the kinds is checked by [`super::convert`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdminDoc {
    #[serde(rename = "apiVersion")]
    _api_version: IgnoredAny,
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    #[serde(rename = "metadata")]
    _metadata: ObjectMeta,
    pub(super) spec: SpecDoc,
    #[serde(rename = "status")]
    _status: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SpecDoc {
    pub(super) priority: Option<i64>,
    pub(super) subject: SubjectDoc,
    pub(super) ingress: Option<Vec<IngressRuleDoc>>,
    pub(super) egress: Option<Vec<EgressRuleDoc>>,
}

/// `subject` (exactly one field) and ingress peers (exactly one field) have the same shape.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::policy) struct SubjectDoc {
    pub(super) namespaces: Option<LabelSelectorDoc>,
    pub(super) pods: Option<NamespacedPodDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(in crate::policy) struct NamespacedPodDoc {
    pub(super) namespace_selector: LabelSelectorDoc,
    pub(super) pod_selector: LabelSelectorDoc,
}

/// A Kubernetes LabelSelector that refuses unknown fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(in crate::policy) struct LabelSelectorDoc {
    pub(super) match_labels: Option<BTreeMap<String, String>>,
    pub(super) match_expressions: Option<Vec<RequirementDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RequirementDoc {
    pub(super) key: String,
    pub(super) operator: String,
    pub(super) values: Option<Vec<String>>,
}

impl LabelSelectorDoc {
    pub(in crate::policy) fn to_k8s(&self) -> LabelSelector {
        LabelSelector {
            match_labels: self.match_labels.clone(),
            match_expressions: self.match_expressions.as_ref().map(|list| {
                list.iter()
                    .map(|r| LabelSelectorRequirement {
                        key: r.key.clone(),
                        operator: r.operator.clone(),
                        values: r.values.clone(),
                    })
                    .collect()
            }),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IngressRuleDoc {
    pub(super) name: Option<String>,
    pub(super) action: String,
    pub(super) from: Vec<SubjectDoc>,
    pub(super) ports: Option<Vec<PortDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EgressRuleDoc {
    pub(super) name: Option<String>,
    pub(super) action: String,
    pub(super) to: Vec<EgressPeerDoc>,
    pub(super) ports: Option<Vec<PortDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct EgressPeerDoc {
    pub(super) namespaces: Option<LabelSelectorDoc>,
    pub(super) pods: Option<NamespacedPodDoc>,
    pub(super) networks: Option<Vec<String>>,
    pub(super) nodes: Option<LabelSelectorDoc>,
    pub(super) domain_names: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct PortDoc {
    pub(super) port_number: Option<PortNumberDoc>,
    pub(super) named_port: Option<String>,
    pub(super) port_range: Option<PortRangeDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PortNumberDoc {
    pub(super) protocol: Option<String>,
    pub(super) port: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PortRangeDoc {
    pub(super) protocol: Option<String>,
    pub(super) start: i64,
    pub(super) end: i64,
}
