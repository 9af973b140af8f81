//! Kubernetes NetworkPolicy cases: targets, policyTypes and the empty/absent rule forms,
//! pod/namespace/both peers, matchExpressions, ipBlock with except (on the pod CIDR), ports by
//! number, name and range, protocol-only, policies that combine, and labels changed while the
//! policies are in force.
//!
//! This module builds a NetworkPolicy's YAML and gathers the cases; `forms` holds the peer and
//! ports forms, `targets`, `combine` and `relabel` the three families of cases.

mod combine;
mod forms;
mod relabel;
mod targets;

use super::Case;
use combine::combine_cases;
pub(super) use forms::{peers, ports};
use relabel::label_cases;
use targets::{peer_port_cases, target_form_cases};

/// The tag (and suite) of every NetworkPolicy case.
pub const TAG: &str = "networkpolicy";

/// One rule: its peers (`from`/`to`; `None` = absent) and ports (`None` = absent).
#[derive(Debug, Clone, Default)]
pub struct Rule {
    /// Peer entries as YAML flow mappings.
    pub peers: Option<Vec<String>>,
    /// Port entries as YAML flow mappings.
    pub ports: Option<Vec<String>>,
}

/// A NetworkPolicy as YAML. `types` `None` leaves `policyTypes` out; `ingress`/`egress` `None`
/// leave the field out, `Some(vec![])` writes an empty list.
pub fn policy(
    name: &str,
    namespace: &str,
    pod_selector: &str,
    types: Option<&[&str]>,
    ingress: Option<&[Rule]>,
    egress: Option<&[Rule]>,
) -> String {
    let mut out = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  podSelector: {pod_selector}\n"
    );
    if let Some(types) = types {
        out.push_str(&format!("  policyTypes: [{}]\n", types.join(", ")));
    }
    for (field, peer_field, rules) in [("ingress", "from", ingress), ("egress", "to", egress)] {
        let Some(rules) = rules else { continue };
        if rules.is_empty() {
            out.push_str(&format!("  {field}: []\n"));
            continue;
        }
        out.push_str(&format!("  {field}:\n"));
        for rule in rules {
            let mut first = true;
            let mut lead = || {
                if std::mem::take(&mut first) {
                    "  - "
                } else {
                    "    "
                }
            };
            match (&rule.peers, &rule.ports) {
                (None, None) => out.push_str("  - {}\n"),
                (peers, ports) => {
                    for (key, list) in [(peer_field, peers), ("ports", ports)] {
                        let Some(list) = list else { continue };
                        if list.is_empty() {
                            out.push_str(&format!("{}{key}: []\n", lead()));
                        } else {
                            out.push_str(&format!("{}{key}:\n", lead()));
                            for item in list {
                                out.push_str(&format!("    - {item}\n"));
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The systematic NetworkPolicy cases.
pub fn cases() -> Vec<Case> {
    let mut out = peer_port_cases();
    out.extend(target_form_cases());
    out.extend(combine_cases());
    out.extend(label_cases());
    out
}
