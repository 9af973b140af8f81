//! CNI profiles: how each CNI of the nightly matrix is installed on kind, how to tell it is
//! ready, which [`Capability`]s it gives scenarios, and where it is known to deviate.
//!
//! [`classify`] turns a profile and a scenario step's `requires:` into an [`Applicability`]: the
//! runner skips steps that cannot apply, and reports a mismatch on a known deviation as
//! `known-deviation` (with the issue link) instead of `fail`.

use std::collections::BTreeSet;
use std::fmt;

use crate::capability::Capability;

/// Names of every built-in profile, in the nightly matrix's column order.
pub const CNI_NAMES: [&str; 5] = ["calico", "cilium", "kindnet", "antrea", "flannel"];

/// The AdminNetworkPolicy and BaselineAdminNetworkPolicy CRDs (network-policy-api v0.1.7,
/// experimental channel, which adds named ports). Calico and Antrea implement the API but do not
/// install these CRDs themselves on every version.
const ANP_CRDS: [&str; 2] = [
    "https://raw.githubusercontent.com/kubernetes-sigs/network-policy-api/v0.1.7/config/crd/experimental/policy.networking.k8s.io_adminnetworkpolicies.yaml",
    "https://raw.githubusercontent.com/kubernetes-sigs/network-policy-api/v0.1.7/config/crd/experimental/policy.networking.k8s.io_baselineadminnetworkpolicies.yaml",
];

/// Everything netpol-harness knows about running one CNI on kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniProfile {
    /// Short name used on the command line and in results (`calico`, `cilium`, …).
    pub name: &'static str,
    /// The pinned version that is installed.
    pub version: &'static str,
    /// The kind cluster config for this CNI (`kind-config/<name>.yaml`, embedded at build time).
    pub kind_config: &'static str,
    /// The pod subnet the CNI's manifests assume, if they hard-code one; the kind config must use it.
    pub pod_subnet: Option<&'static str>,
    /// Whether this is kind's own CNI (kindnet), so the kind config must keep the default CNI.
    pub default_cni: bool,
    /// How to install it, in order, once the cluster exists.
    pub install: Vec<InstallStep>,
    /// What must hold before the CNI counts as ready (polled, in order).
    pub ready: Vec<ReadyCheck>,
    /// The capabilities this CNI gives scenarios on the kind configs in `kind-config/`.
    pub enforces: BTreeSet<Capability>,
    /// Whether it enforces NetworkPolicy at all. If not, policy steps are "not enforced".
    pub enforces_policy: bool,
    /// Places where it differs from the NetworkPolicy spec or from the oracle, with issue links.
    pub known_deviations: Vec<KnownDeviation>,
    /// Things worth knowing when reading this CNI's results that no single step shows.
    pub caveats: Vec<Caveat>,
}

/// One step of installing a CNI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallStep {
    /// `kubectl apply --server-side --force-conflicts -f URL`. Server-side apply makes the step
    /// safe to re-run and has no size limit on the last-applied annotation (Calico's CRDs are too
    /// large for client-side apply).
    Apply {
        /// The manifest to apply.
        url: &'static str,
    },
    /// Wait until every CRD is Established, so custom resources of CRDs just applied can be created.
    CrdsEstablished,
    /// `helm repo add NAME URL --force-update`.
    HelmRepo {
        /// Local name of the repository.
        name: &'static str,
        /// Its URL.
        url: &'static str,
    },
    /// `helm upgrade --install RELEASE CHART --version VERSION --namespace NS --set …`.
    Helm {
        /// Release name.
        release: &'static str,
        /// Chart reference (`repo/chart`).
        chart: &'static str,
        /// Chart version.
        version: &'static str,
        /// Namespace of the release.
        namespace: &'static str,
        /// Values, each `key=value` for `--set`.
        set: Vec<&'static str>,
    },
    /// Runs a shell script inside every node container (`docker exec NODE sh -c SCRIPT`).
    NodeScript {
        /// What the script does, for progress output.
        what: &'static str,
        /// The script.
        script: &'static str,
    },
}

impl fmt::Display for InstallStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallStep::Apply { url } => write!(f, "apply {url}"),
            InstallStep::CrdsEstablished => f.write_str("wait for the CRDs to be established"),
            InstallStep::HelmRepo { name, url } => write!(f, "add Helm repository {name} ({url})"),
            InstallStep::Helm { chart, version, .. } => write!(f, "helm install {chart} {version}"),
            InstallStep::NodeScript { what, .. } => write!(f, "{what} on every node"),
        }
    }
}

/// A readiness condition, checked with kubectl until it holds or time runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyCheck {
    /// `kubectl -n NAMESPACE rollout status TARGET`: a DaemonSet or Deployment is fully rolled out.
    Rollout {
        /// Namespace of the workload.
        namespace: &'static str,
        /// `ds/NAME` or `deploy/NAME`.
        target: &'static str,
    },
    /// `kubectl wait --for=condition=CONDITION TARGET…`: objects report a condition.
    Condition {
        /// Objects to wait for, e.g. `["tigerastatus/calico"]` or `["nodes", "--all"]`.
        target: &'static [&'static str],
        /// The condition, e.g. `Available`.
        condition: &'static str,
    },
    /// `kubectl get RESOURCE`: the API server serves a resource type (e.g. an aggregated API).
    Served {
        /// The resource, e.g. `globalnetworkpolicies.projectcalico.org`.
        resource: &'static str,
    },
}

impl fmt::Display for ReadyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadyCheck::Rollout { namespace, target } => {
                write!(f, "{namespace}/{target} rolled out")
            }
            ReadyCheck::Condition { target, condition } => {
                write!(f, "{} {condition}", target.join(" "))
            }
            ReadyCheck::Served { resource } => write!(f, "{resource} served"),
        }
    }
}

/// A known difference between a CNI and what the oracle predicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDeviation {
    /// Which steps it affects.
    pub matches: DeviationMatch,
    /// One line saying what differs.
    pub summary: &'static str,
    /// The upstream issue that tracks it.
    pub issue_url: &'static str,
}

/// Which steps a [`KnownDeviation`] affects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviationMatch {
    /// Every step that requires this capability.
    Capability(Capability),
    /// Steps whose id (`scenario/step`) matches this pattern, where `*` matches any run of
    /// characters (including `/`).
    Step(&'static str),
}

/// A note about a CNI that affects how to read all its results, not particular steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caveat {
    /// What to keep in mind.
    pub summary: &'static str,
    /// Where it is discussed, if anywhere.
    pub issue_url: Option<&'static str>,
}

/// Whether a scenario step can run on a CNI, and how to read its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applicability {
    /// Run it; any mismatch is a failure.
    Applicable,
    /// Skip it: the cluster lacks something the step needs (an API, an ingress controller…).
    NotApplicable {
        /// The capabilities the step needs and the CNI lacks.
        missing: Vec<Capability>,
        /// An upstream issue tracking the missing support, if there is one.
        issue_url: Option<&'static str>,
    },
    /// Run it; a mismatch is expected and reported as a known deviation, not a failure.
    KnownDeviation(KnownDeviation),
    /// The CNI enforces no NetworkPolicy: policies apply but change nothing.
    NotEnforced,
}

impl fmt::Display for Applicability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Applicability::Applicable => f.write_str("applicable"),
            Applicability::NotApplicable { missing, issue_url } => {
                let names: Vec<&str> = missing.iter().map(|c| c.name()).collect();
                write!(f, "not applicable: needs {}", names.join(", "))?;
                if let Some(url) = issue_url {
                    write!(f, " ({url})")?;
                }
                Ok(())
            }
            Applicability::KnownDeviation(d) => {
                write!(f, "known deviation: {} ({})", d.summary, d.issue_url)
            }
            Applicability::NotEnforced => f.write_str("not enforced: the CNI enforces no policy"),
        }
    }
}

/// Capabilities that only need the Kubernetes NetworkPolicy API: on a CNI that enforces no
/// policy they can still be applied, they just have no effect.
fn is_network_policy_feature(c: Capability) -> bool {
    matches!(
        c,
        Capability::Ingress
            | Capability::Egress
            | Capability::NamedPorts
            | Capability::EndPort
            | Capability::Sctp
            | Capability::IpblockPodIp
    )
}

/// Decides how a step (`step_id` is `scenario/step`) that requires `requires` applies to `profile`.
///
/// In order: a missing capability that is not a NetworkPolicy feature (Calico CRDs,
/// AdminNetworkPolicy, ingress controller, internet) makes the step not applicable. A missing
/// NetworkPolicy feature makes it not enforced on a CNI that enforces no policy, a known deviation
/// if the profile lists one for it, and not applicable otherwise. Finally a deviation listed for
/// the step's id makes it a known deviation.
pub fn classify(profile: &CniProfile, step_id: &str, requires: &[Capability]) -> Applicability {
    let missing: BTreeSet<Capability> = requires
        .iter()
        .copied()
        .filter(|c| !profile.enforces.contains(c))
        .collect();
    let deviation_for = |c: Capability| {
        profile
            .known_deviations
            .iter()
            .find(|d| d.matches == DeviationMatch::Capability(c))
    };

    let unavailable: Vec<Capability> = missing
        .iter()
        .copied()
        .filter(|c| !is_network_policy_feature(*c))
        .collect();
    if !unavailable.is_empty() {
        let issue_url = unavailable
            .iter()
            .find_map(|c| deviation_for(*c))
            .map(|d| d.issue_url);
        return Applicability::NotApplicable {
            missing: unavailable,
            issue_url,
        };
    }
    if !missing.is_empty() {
        if !profile.enforces_policy {
            return Applicability::NotEnforced;
        }
        return match missing.iter().find_map(|c| deviation_for(*c)) {
            Some(d) => Applicability::KnownDeviation(d.clone()),
            None => Applicability::NotApplicable {
                missing: missing.into_iter().collect(),
                issue_url: None,
            },
        };
    }
    let by_step = profile.known_deviations.iter().find(|d| match d.matches {
        DeviationMatch::Step(pattern) => glob_match(pattern, step_id),
        DeviationMatch::Capability(_) => false,
    });
    match by_step {
        Some(d) => Applicability::KnownDeviation(d.clone()),
        None => Applicability::Applicable,
    }
}

/// Matches `text` against `pattern`, where `*` stands for any run of characters.
fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Every capability a CNI that fully enforces the NetworkPolicy API provides on our kind configs.
fn network_policy_features() -> BTreeSet<Capability> {
    Capability::ALL
        .into_iter()
        .filter(|c| is_network_policy_feature(*c))
        .collect()
}

/// What every profile gets from the kind configs rather than from the CNI: Contour's Envoy on the
/// worker's host ports 80/443 (hostPort needs the portmap plugin, which every profile has), and
/// egress to the internet through the node's masquerading.
fn environment() -> BTreeSet<Capability> {
    BTreeSet::from([Capability::IngressController, Capability::Internet])
}

impl CniProfile {
    /// Every built-in profile, in [`CNI_NAMES`] order.
    pub fn all() -> Vec<CniProfile> {
        vec![
            Self::calico(),
            Self::cilium(),
            Self::kindnet(),
            Self::antrea(),
            Self::flannel(),
        ]
    }

    /// The built-in profile called `name`, if there is one.
    pub fn by_name(name: &str) -> Option<CniProfile> {
        Self::all().into_iter().find(|p| p.name == name)
    }

    /// Whether installing it needs `helm`.
    pub fn needs_helm(&self) -> bool {
        self.install
            .iter()
            .any(|s| matches!(s, InstallStep::Helm { .. } | InstallStep::HelmRepo { .. }))
    }

    /// Calico through the Tigera operator, with the Calico API server so `projectcalico.org/v3`
    /// objects can be applied with kubectl.
    ///
    /// Pinned to 3.31: AdminNetworkPolicy v1alpha1 is supported from 3.29 to 3.31, and 3.32
    /// replaced it with ClusterNetworkPolicy (projectcalico/calico#11144).
    fn calico() -> CniProfile {
        let mut enforces = network_policy_features();
        enforces.extend([Capability::CalicoCrds, Capability::AdminNetworkPolicy]);
        enforces.extend(environment());
        CniProfile {
            name: "calico",
            version: "v3.31.7",
            kind_config: include_str!("../../../kind-config/calico.yaml"),
            pod_subnet: Some("192.168.0.0/16"),
            default_cni: false,
            install: vec![
                InstallStep::Apply { url: ANP_CRDS[0] },
                InstallStep::Apply { url: ANP_CRDS[1] },
                InstallStep::Apply {
                    url: "https://raw.githubusercontent.com/projectcalico/calico/v3.31.7/manifests/operator-crds.yaml",
                },
                InstallStep::Apply {
                    url: "https://raw.githubusercontent.com/projectcalico/calico/v3.31.7/manifests/tigera-operator.yaml",
                },
                InstallStep::CrdsEstablished,
                InstallStep::Apply {
                    url: "https://raw.githubusercontent.com/projectcalico/calico/v3.31.7/manifests/custom-resources.yaml",
                },
            ],
            ready: vec![
                ReadyCheck::Condition {
                    target: &["tigerastatus/calico"],
                    condition: "Available",
                },
                ReadyCheck::Condition {
                    target: &["tigerastatus/apiserver"],
                    condition: "Available",
                },
                ReadyCheck::Served {
                    resource: "globalnetworkpolicies.projectcalico.org",
                },
            ],
            enforces,
            enforces_policy: true,
            known_deviations: vec![],
            caveats: vec![Caveat {
                summary: "SCTP policy needs the host kernel's SCTP conntrack support (modprobe sctp)",
                issue_url: None,
            }],
        }
    }

    /// Cilium through Helm, keeping kube-proxy as Cilium's kind guide does.
    fn cilium() -> CniProfile {
        let mut enforces: BTreeSet<Capability> = network_policy_features();
        enforces.remove(&Capability::Sctp);
        enforces.remove(&Capability::IpblockPodIp);
        enforces.extend(environment());
        CniProfile {
            name: "cilium",
            version: "1.20.0",
            kind_config: include_str!("../../../kind-config/cilium.yaml"),
            pod_subnet: None,
            default_cni: false,
            install: vec![
                InstallStep::HelmRepo {
                    name: "cilium",
                    url: "https://helm.cilium.io/",
                },
                InstallStep::Helm {
                    release: "cilium",
                    chart: "cilium/cilium",
                    version: "1.20.0",
                    namespace: "kube-system",
                    // portmap chaining: Contour's Envoy publishes itself through hostPort.
                    set: vec![
                        "image.pullPolicy=IfNotPresent",
                        "ipam.mode=kubernetes",
                        "cni.chainingMode=portmap",
                    ],
                },
            ],
            ready: vec![
                ReadyCheck::Rollout {
                    namespace: "kube-system",
                    target: "ds/cilium",
                },
                ReadyCheck::Rollout {
                    namespace: "kube-system",
                    target: "deploy/cilium-operator",
                },
            ],
            enforces,
            enforces_policy: true,
            known_deviations: vec![
                KnownDeviation {
                    matches: DeviationMatch::Capability(Capability::Sctp),
                    summary: "SCTP is not matched by NetworkPolicy (listed as known missing)",
                    issue_url: "https://github.com/cilium/cilium/issues/5719",
                },
                KnownDeviation {
                    matches: DeviationMatch::Capability(Capability::IpblockPodIp),
                    summary: "ipBlock never matches pod IPs, only addresses outside the cluster",
                    issue_url: "https://github.com/cilium/cilium/issues/9209",
                },
                KnownDeviation {
                    matches: DeviationMatch::Capability(Capability::AdminNetworkPolicy),
                    summary: "AdminNetworkPolicy is not implemented",
                    issue_url: "https://github.com/cilium/cilium/issues/23380",
                },
            ],
            caveats: vec![],
        }
    }

    /// kindnet, kind's default CNI, which enforces NetworkPolicy since kind v0.24.0.
    fn kindnet() -> CniProfile {
        let mut enforces = network_policy_features();
        enforces.extend(environment());
        CniProfile {
            name: "kindnet",
            version: "kind v0.32.0",
            kind_config: include_str!("../../../kind-config/kindnet.yaml"),
            pod_subnet: None,
            default_cni: true,
            install: vec![],
            ready: vec![ReadyCheck::Rollout {
                namespace: "kube-system",
                target: "ds/kindnet",
            }],
            enforces,
            enforces_policy: true,
            known_deviations: vec![],
            caveats: vec![
                Caveat {
                    summary: "kindnet fails open: packets pass unchecked if its NFQUEUE overflows",
                    issue_url: Some("https://github.com/kubernetes-sigs/kind/pull/3612"),
                },
                Caveat {
                    summary: "enforcement silently misses on some kernels (WSL2, OrbStack)",
                    issue_url: Some("https://github.com/kubernetes-sigs/kind/issues/3705"),
                },
            ],
        }
    }

    /// Antrea through Helm, with its alpha AdminNetworkPolicy feature gate on.
    fn antrea() -> CniProfile {
        let mut enforces = network_policy_features();
        enforces.insert(Capability::AdminNetworkPolicy);
        enforces.extend(environment());
        CniProfile {
            name: "antrea",
            version: "v2.7.0",
            kind_config: include_str!("../../../kind-config/antrea.yaml"),
            pod_subnet: None,
            default_cni: false,
            install: vec![
                InstallStep::Apply { url: ANP_CRDS[0] },
                InstallStep::Apply { url: ANP_CRDS[1] },
                InstallStep::HelmRepo {
                    name: "antrea",
                    url: "https://charts.antrea.io",
                },
                InstallStep::Helm {
                    release: "antrea",
                    chart: "antrea/antrea",
                    version: "2.7.0",
                    namespace: "kube-system",
                    set: vec!["featureGates.AdminNetworkPolicy=true"],
                },
            ],
            ready: vec![
                ReadyCheck::Rollout {
                    namespace: "kube-system",
                    target: "deploy/antrea-controller",
                },
                ReadyCheck::Rollout {
                    namespace: "kube-system",
                    target: "ds/antrea-agent",
                },
            ],
            enforces,
            enforces_policy: true,
            known_deviations: vec![],
            caveats: vec![Caveat {
                summary: "Antrea needs the openvswitch kernel module on the host",
                issue_url: None,
            }],
        }
    }

    /// flannel, which provides connectivity and enforces no NetworkPolicy at all.
    fn flannel() -> CniProfile {
        CniProfile {
            name: "flannel",
            version: "v0.28.9",
            kind_config: include_str!("../../../kind-config/flannel.yaml"),
            pod_subnet: Some("10.244.0.0/16"),
            default_cni: false,
            install: vec![
                InstallStep::NodeScript {
                    what: "install the CNI bridge plugin (kind nodes lack it, flannel-io/flannel#1847)",
                    script: r#"set -eu
test -x /opt/cni/bin/bridge && exit 0
case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;; esac
curl -fsSL "https://github.com/containernetworking/plugins/releases/download/v1.7.1/cni-plugins-linux-${arch}-v1.7.1.tgz" | tar -xz -C /opt/cni/bin ./bridge"#,
                },
                InstallStep::Apply {
                    url: "https://github.com/flannel-io/flannel/releases/download/v0.28.9/kube-flannel.yml",
                },
            ],
            ready: vec![ReadyCheck::Rollout {
                namespace: "kube-flannel",
                target: "ds/kube-flannel-ds",
            }],
            enforces: environment(),
            enforces_policy: false,
            known_deviations: vec![],
            caveats: vec![Caveat {
                summary: "flannel enforces no NetworkPolicy: every policy step is expected to be \"not enforced\"",
                issue_url: None,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;
    use rstest::rstest;

    fn np(missing: &[Capability]) -> Applicability {
        Applicability::NotApplicable {
            missing: missing.to_vec(),
            issue_url: None,
        }
    }

    fn deviation(cni: &str, c: Capability) -> Applicability {
        let profile = CniProfile::by_name(cni).unwrap();
        let d = profile
            .known_deviations
            .iter()
            .find(|d| d.matches == DeviationMatch::Capability(c))
            .unwrap();
        Applicability::KnownDeviation(d.clone())
    }

    #[test]
    fn all_profiles_are_listed_once_in_matrix_order() {
        let names: Vec<&str> = CniProfile::all().iter().map(|p| p.name).collect();
        assert_eq!(names, CNI_NAMES);
        assert!(CniProfile::by_name("weave").is_none());
        assert_eq!(CniProfile::by_name("calico").unwrap().version, "v3.31.7");
    }

    #[test]
    fn only_cilium_and_antrea_need_helm() {
        let helm: Vec<&str> = CniProfile::all()
            .into_iter()
            .filter(CniProfile::needs_helm)
            .map(|p| p.name)
            .collect();
        assert_eq!(helm, ["cilium", "antrea"]);
    }

    #[test]
    fn profiles_pin_their_versions_in_every_url() {
        for p in CniProfile::all() {
            for step in &p.install {
                if let InstallStep::Apply { url } = step {
                    let pinned =
                        url.contains(p.version) || url.contains("network-policy-api/v0.1.7");
                    assert!(pinned, "{}: {url} is not pinned to {}", p.name, p.version);
                    assert!(!url.contains("/main/") && !url.contains("latest"), "{url}");
                }
            }
        }
    }

    #[test]
    fn every_deviation_and_caveat_links_a_github_thread() {
        for p in CniProfile::all() {
            for d in &p.known_deviations {
                assert!(d.issue_url.starts_with("https://github.com/"), "{d:?}");
                if let DeviationMatch::Capability(c) = d.matches {
                    assert!(
                        !p.enforces.contains(&c),
                        "{}: {c} both enforced and deviating",
                        p.name
                    );
                }
            }
            for c in &p.caveats {
                assert!(
                    c.issue_url
                        .is_none_or(|u| u.starts_with("https://github.com/"))
                );
            }
        }
    }

    #[rstest]
    // Plain NetworkPolicy: every enforcing CNI applies it; flannel does not enforce it.
    #[case("calico", &[Ingress, Egress], Applicability::Applicable)]
    #[case("cilium", &[Ingress, NamedPorts, EndPort], Applicability::Applicable)]
    #[case("kindnet", &[Egress, Sctp, IpblockPodIp], Applicability::Applicable)]
    #[case("antrea", &[Ingress, AdminNetworkPolicy], Applicability::Applicable)]
    #[case("flannel", &[Ingress], Applicability::NotEnforced)]
    #[case("flannel", &[], Applicability::Applicable)]
    #[case("flannel", &[IngressController], Applicability::Applicable)]
    // Cilium's spec deviations run, and are reported with their issue.
    #[case("cilium", &[Ingress, Sctp], deviation("cilium", Sctp))]
    #[case("cilium", &[IpblockPodIp], deviation("cilium", IpblockPodIp))]
    // APIs a CNI does not have cannot even be applied.
    #[case("cilium", &[CalicoCrds], np(&[CalicoCrds]))]
    #[case("kindnet", &[Ingress, AdminNetworkPolicy], np(&[AdminNetworkPolicy]))]
    #[case("antrea", &[CalicoCrds, Egress], np(&[CalicoCrds]))]
    #[case("flannel", &[Ingress, CalicoCrds], np(&[CalicoCrds]))]
    #[case("calico", &[CalicoCrds, AdminNetworkPolicy, Sctp], Applicability::Applicable)]
    // …with the tracking issue when there is one.
    #[case("cilium", &[AdminNetworkPolicy, Sctp], Applicability::NotApplicable {
        missing: vec![AdminNetworkPolicy],
        issue_url: Some("https://github.com/cilium/cilium/issues/23380"),
    })]
    fn classify_table(
        #[case] cni: &str,
        #[case] requires: &[Capability],
        #[case] expected: Applicability,
    ) {
        let profile = CniProfile::by_name(cni).unwrap();
        assert_eq!(classify(&profile, "tutorial/step", requires), expected);
    }

    #[test]
    fn step_patterns_mark_single_steps_and_capabilities_win_first() {
        let mut profile = CniProfile::by_name("kindnet").unwrap();
        let hairpin = KnownDeviation {
            matches: DeviationMatch::Step("*/pod-to-itself-*"),
            summary: "hairpin traffic is not policed",
            issue_url: "https://github.com/kubernetes/kubernetes/issues/95879",
        };
        profile.known_deviations.push(hairpin.clone());
        assert_eq!(
            classify(&profile, "k8s-demo/pod-to-itself-via-service", &[Ingress]),
            Applicability::KnownDeviation(hairpin)
        );
        assert_eq!(
            classify(&profile, "k8s-demo/pod-to-other", &[Ingress]),
            Applicability::Applicable
        );
        // A missing API still makes the step not applicable, whatever its name.
        assert_eq!(
            classify(&profile, "k8s-demo/pod-to-itself-x", &[CalicoCrds]),
            np(&[CalicoCrds])
        );
    }

    #[rstest]
    #[case("*", "anything/at-all", true)]
    #[case("a/*", "a/b", true)]
    #[case("a/*", "b/a", false)]
    #[case("*/deny-*", "tut/deny-all", true)]
    #[case("*/deny-*", "tut/allow-all", false)]
    #[case("x*y*z", "xaaybbz", true)]
    #[case("x*y*z", "xaaz", false)]
    #[case("exact", "exact", true)]
    #[case("exact", "exact-not", false)]
    fn glob(#[case] pattern: &str, #[case] text: &str, #[case] expected: bool) {
        assert_eq!(glob_match(pattern, text), expected);
    }

    #[test]
    fn applicability_explains_itself() {
        let profile = CniProfile::by_name("cilium").unwrap();
        let a = classify(&profile, "t/s", &[AdminNetworkPolicy]);
        assert_eq!(
            a.to_string(),
            "not applicable: needs admin-network-policy (https://github.com/cilium/cilium/issues/23380)"
        );
        let d = classify(&profile, "t/s", &[Sctp]);
        assert!(d.to_string().contains("cilium/issues/5719"), "{d}");
    }
}
