//! Precedence across the APIs on one pod (x/a): a Calico tier `security`, a ClusterNetworkPolicy
//! in the Admin tier, a Kubernetes NetworkPolicy and a ClusterNetworkPolicy in the Baseline tier,
//! each present or not, each deciding namespace y's traffic its own way.

use super::Case;
use super::calico::{self, rule};
use super::cluster::{self, CnpRule};
use super::netpol::{self, Rule};
use super::yaml::{labels, ns};
use crate::capability::Capability;

/// The tag (and suite) of every precedence case.
pub const TAG: &str = "precedence";

/// The systematic precedence cases: Calico tier action × Admin action × NetworkPolicy ×
/// Baseline, on x/a's ingress and egress.
pub fn cases() -> Vec<Case> {
    let y_calico = vec!["namespaceSelector: \"kubernetes.io/metadata.name == 'y'\"".to_string()];
    let y_cnp = format!("{{namespaces: {}}}", ns("y"));
    let mut out = Vec::new();
    for direction in ["ingress", "egress"] {
        for calico_action in [None, Some("Allow"), Some("Deny"), Some("Pass")] {
            for admin_action in [None, Some("Accept"), Some("Deny"), Some("Pass")] {
                for with_np in [false, true] {
                    for with_baseline in [false, true] {
                        let slug =
                            |a: Option<&str>| a.map_or("none".to_string(), str::to_lowercase);
                        let name = format!(
                            "{direction}-calico-{}-admin-{}-{}-{}",
                            slug(calico_action),
                            slug(admin_action),
                            if with_np { "np" } else { "no-np" },
                            if with_baseline {
                                "baseline-deny"
                            } else {
                                "no-baseline"
                            }
                        );
                        let mut case = Case::new(
                            TAG,
                            name.clone(),
                            format!(
                                "Namespace y and x/a's {direction}: Calico tier security {}, Admin {}, {}, {}.",
                                slug(calico_action),
                                slug(admin_action),
                                if with_np { "a NetworkPolicy allowing pod c" } else { "no NetworkPolicy" },
                                if with_baseline { "Baseline denies everyone" } else { "no Baseline" }
                            ),
                        )
                        .tag(&[direction])
                        .require(&[Capability::CalicoCrds, Capability::ClusterNetworkPolicy]);
                        if let Some(action) = calico_action {
                            case = case
                                .tag(&["calico", "tier", &action.to_lowercase()])
                                .policy(calico::tier("security", 100))
                                .policy(calico::policy(
                                    &name,
                                    None,
                                    "security",
                                    10,
                                    "pod == 'a' && projectcalico.org/namespace == 'x'",
                                    direction,
                                    &[rule(direction, action, None, &y_calico, None)],
                                ));
                        }
                        if let Some(action) = admin_action {
                            case = case
                                .tag(&[
                                    "clusternetworkpolicy",
                                    "tier-admin",
                                    &action.to_lowercase(),
                                ])
                                .policy(cluster::policy(
                                    &format!("{name}-admin"),
                                    "Admin",
                                    10,
                                    &cluster::subject_xa(),
                                    direction,
                                    &[CnpRule {
                                        action,
                                        peers: vec![y_cnp.clone()],
                                        protocols: None,
                                    }],
                                ));
                        }
                        if with_np {
                            let allow_c = Rule {
                                peers: Some(vec![format!(
                                    "{{namespaceSelector: {{}}, podSelector: {}}}",
                                    labels("pod", "c")
                                )]),
                                ports: None,
                            };
                            let rules = [allow_c];
                            let (types, ingress, egress) = if direction == "ingress" {
                                (["Ingress"], Some(&rules[..]), None)
                            } else {
                                (["Egress"], None, Some(&rules[..]))
                            };
                            case = case.tag(&["networkpolicy"]).policy(netpol::policy(
                                &format!("{name}-np"),
                                "x",
                                &labels("pod", "a"),
                                Some(&types),
                                ingress,
                                egress,
                            ));
                        }
                        if with_baseline {
                            case = case
                                .tag(&["clusternetworkpolicy", "tier-baseline", "deny"])
                                .policy(cluster::policy(
                                    &format!("{name}-baseline"),
                                    "Baseline",
                                    10,
                                    &cluster::subject_xa(),
                                    direction,
                                    &[CnpRule {
                                        action: "Deny",
                                        peers: vec![cluster::everyone()],
                                        protocols: None,
                                    }],
                                ));
                        }
                        if case.policies.len() >= 2 {
                            out.push(case);
                        }
                    }
                }
            }
        }
    }
    out
}
