//! The built-in CNI profiles, one constructor each: install steps at pinned versions, readiness
//! checks, capabilities, known deviations and caveats. Long, but one job: the table of profiles.

use std::collections::BTreeSet;

use super::{
    CNP_CRD, Caveat, CniProfile, DeviationMatch, FLANNEL_NODE_SCRIPT, InstallStep,
    KINDNETD_WITHOUT_POLICY, KnownDeviation, ReadyCheck, is_network_policy_feature,
};
use crate::capability::Capability;
use crate::provision::kind_config::{NODE_IMAGE_V1_33_1, NODE_IMAGE_V1_35_1, NODE_IMAGE_V1_36_1};

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
    /// Every built-in profile, in [`CNI_NAMES`](super::CNI_NAMES) order.
    pub fn all() -> Vec<CniProfile> {
        vec![
            Self::calico(),
            Self::calico_3_31(),
            Self::calico_dual(),
            Self::cilium(),
            Self::cilium_dual(),
            Self::kindnet(),
            Self::antrea(),
            Self::flannel(),
            Self::kube_network_policies(),
        ]
    }

    /// Calico 3.32 through the Tigera operator, with the Calico API server so
    /// `projectcalico.org/v3` objects can be applied with kubectl. 3.32 implements
    /// ClusterNetworkPolicy (standard channel: pods, namespaces, networks, named ports; no `nodes`
    /// or `domainNames`, projectcalico/calico@v3.32.1:libcalico-go/lib/backend/k8s/conversion/clusternetworkpolicy.go#L296-L323)
    /// and no longer AdminNetworkPolicy (projectcalico/calico#11144).
    fn calico() -> CniProfile {
        Self::calico_line(
            "calico",
            "v3.32.1",
            [
                "https://raw.githubusercontent.com/projectcalico/calico/v3.32.1/manifests/operator-crds.yaml",
                "https://raw.githubusercontent.com/projectcalico/calico/v3.32.1/manifests/tigera-operator.yaml",
            ],
            Capability::ClusterNetworkPolicy,
            include_str!("../../../../kind-config/calico.yaml"),
            // Calico v3.32.1's own CI creates its kind clusters with kind v0.31.0 from
            // kindest/node v1.35.1 (projectcalico/calico@v3.32.1:metadata.mk#L23-L24,
            // `lib.Makefile#L1468-L1472`); that image by digest:
            // kubernetes-sigs/kind@ec6b5bd7:pkg/apis/config/defaults/image.go#L21.
            NODE_IMAGE_V1_35_1,
        )
    }

    /// Calico 3.31, the last line with AdminNetworkPolicy v1alpha1 (3.29–3.31), kept as a lane of
    /// its own while clusters still run it.
    fn calico_3_31() -> CniProfile {
        Self::calico_line(
            "calico-3.31",
            "v3.31.7",
            [
                "https://raw.githubusercontent.com/projectcalico/calico/v3.31.7/manifests/operator-crds.yaml",
                "https://raw.githubusercontent.com/projectcalico/calico/v3.31.7/manifests/tigera-operator.yaml",
            ],
            Capability::AdminNetworkPolicy,
            include_str!("../../../../kind-config/calico-3.31.yaml"),
            // Calico v3.31.7's own CI creates its kind clusters with kind v0.29.0 from
            // kindest/node v1.33.1 (projectcalico/calico@v3.31.7:metadata.mk#L26-L27,
            // `lib.Makefile#L1366-L1370`; its Kubernetes libraries are v1.33, `metadata.mk#L8`);
            // that image by digest: kubernetes-sigs/kind@v0.29.0:pkg/apis/config/defaults/image.go#L21.
            NODE_IMAGE_V1_33_1,
        )
    }

    /// Calico 3.32 on a dual-stack cluster (`kind-config/calico-dual.yaml`, `ipFamily: dual`):
    /// the `calico` profile with an IPv6 pool beside the IPv4 one
    /// (`provision/calico-installation-dual.yaml`), so every pod has an address of each family
    /// and both are probed. Same node image as `calico`.
    fn calico_dual() -> CniProfile {
        let mut profile = Self::calico();
        profile.name = "calico-dual";
        profile.kind_config = include_str!("../../../../kind-config/calico-dual.yaml");
        profile.pod_subnet = Some("10.244.0.0/16,fd00:10:244::/56");
        for step in &mut profile.install {
            if let InstallStep::ApplyManifest { what, file, yaml } = step {
                *what = "Installation (IPv4 and IPv6 pools) and APIServer";
                *file = "calico-installation-dual.yaml";
                *yaml = include_str!("../calico-installation-dual.yaml");
            }
        }
        profile
    }

    /// Cilium 1.20 on a dual-stack cluster (`kind-config/cilium-dual.yaml`, `ipFamily: dual`):
    /// the `cilium` profile with the Helm value `ipv6.enabled=true` ("Enable IPv6 support", off by
    /// default: cilium/cilium@v1.20.0:install/kubernetes/cilium/values.yaml, `ipv6.enabled`), which
    /// the released 1.20.0 chart renders as the agent's `enable-ipv6`
    /// (cilium/charts@d5f3d1c:cilium-1.20.0.tgz, `cilium/values.yaml#L2394-L2396`,
    /// `cilium/templates/cilium-configmap.yaml#L339`);
    /// with `ipam.mode=kubernetes` the addresses come from the nodes' dual-stack pod CIDRs kind
    /// sets. Same node image as `cilium`.
    fn cilium_dual() -> CniProfile {
        let mut profile = Self::cilium();
        profile.name = "cilium-dual";
        profile.kind_config = include_str!("../../../../kind-config/cilium-dual.yaml");
        for step in &mut profile.install {
            if let InstallStep::Helm { set, .. } = step {
                set.push("ipv6.enabled=true");
            }
        }
        profile
    }

    /// A Calico line: its operator CRDs and operator manifest, and the admin-policy API it
    /// enforces. The Installation and APIServer are the first two documents of
    /// `manifests/custom-resources.yaml`, the same at v3.31.7 and v3.32.1.
    fn calico_line(
        name: &'static str,
        version: &'static str,
        [crds, operator]: [&'static str; 2],
        admin_api: Capability,
        kind_config: &'static str,
        node_image: &'static str,
    ) -> CniProfile {
        let mut enforces = network_policy_features();
        enforces.extend([Capability::CalicoCrds, admin_api]);
        enforces.extend(environment());
        CniProfile {
            name,
            version,
            kind_config,
            node_image,
            pod_subnet: Some("10.244.0.0/16"),
            default_cni: false,
            kernel_modules: &[],
            install: vec![
                InstallStep::Apply { url: crds },
                InstallStep::Apply { url: operator },
                InstallStep::CrdsEstablished,
                InstallStep::ApplyManifest {
                    what: "Installation and APIServer (custom-resources.yaml without Goldmane and Whisker)",
                    file: "calico-installation.yaml",
                    yaml: include_str!("../calico-installation.yaml"),
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
            // Felix drops what policy denies unless `iptablesFilterDenyAction` (or
            // `nftablesFilterDenyAction`) says Reject: "By default Calico blocks traffic with an
            // iptables DROP action" (projectcalico/calico@v3.31.7:
            // api/pkg/apis/projectcalico/v3/felixconfig.go, `IptablesFilterDenyAction`).
            deny_style: Some(crate::probe::DenyStyle::Drop),
            known_deviations: vec![],
            caveats: vec![Caveat {
                summary: "SCTP policy needs the host kernel's SCTP conntrack support (modprobe sctp)",
                issue_url: None,
            }],
        }
    }

    /// Cilium through Helm, keeping kube-proxy as Cilium's kind guide does, with Kubernetes
    /// ClusterNetworkPolicy on: off by default in 1.20, enabled by the Helm value
    /// `k8sClusterNetworkPolicy.enabled` (agent flag `enable-k8s-cluster-network-policy`;
    /// cilium/cilium#47227, and the preflight of Cilium's own CNP conformance run,
    /// cilium/cilium@afc3c5ec:pkg/policy/k8s/conformance/conformance_test.go), with the v0.2.0
    /// CRD installed by the user. Node peers need `nodeSelectorLabels=true` and CIDR peers match
    /// pod addresses only with `policyCIDRMatchMode=pods` (same preflight); neither is set, so
    /// `cnp-nodes` is not claimed and `networks` peers on pod addresses are the ipBlock deviation.
    fn cilium() -> CniProfile {
        let mut enforces: BTreeSet<Capability> = network_policy_features();
        enforces.remove(&Capability::Sctp);
        enforces.remove(&Capability::IpblockPodIp);
        enforces.insert(Capability::ClusterNetworkPolicy);
        enforces.extend(environment());
        CniProfile {
            name: "cilium",
            version: "1.20.0",
            kind_config: include_str!("../../../../kind-config/cilium.yaml"),
            // kind v0.32.0's default: Cilium 1.20.0 names no kind or Kubernetes version to pin.
            // Its chart only sets a floor, `kubeVersion: '>= 1.21.0-0'`
            // (cilium/charts@d5f3d1c:cilium-1.20.0.tgz, `cilium/Chart.yaml#L94`), and its docs'
            // list of e2e-tested Kubernetes versions
            // (cilium/cilium@v1.20.0:Documentation/network/kubernetes/compatibility.rst) could
            // not be read at the tag; the 1.19.3 list was 1.32–1.35.
            node_image: NODE_IMAGE_V1_36_1,
            pod_subnet: None,
            default_cni: false,
            kernel_modules: &[],
            install: vec![
                InstallStep::Apply { url: CNP_CRD },
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
                        "k8sClusterNetworkPolicy.enabled=true",
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
            // The chart's `policyDenyResponse` defaults to `none` (the other value, `icmp`, only
            // answers pod egress), so what policy denies is dropped
            // (cilium/cilium@v1.20.0:install/kubernetes/cilium/values.yaml, `policyDenyResponse`;
            // the released chart: cilium/charts@d5f3d1c:cilium-1.20.0.tgz,
            // `cilium/values.yaml#L3205-L3209`).
            deny_style: Some(crate::probe::DenyStyle::Drop),
            known_deviations: vec![
                KnownDeviation {
                    matches: DeviationMatch::Capability(Capability::Sctp),
                    summary: "SCTP is off by default (the chart's beta `sctp.enabled`), and SCTP \
                              policy to a Service VIP is unsupported even when on \
                              (cilium/cilium@v1.20.0:Documentation/configuration/sctp.rst)",
                    issue_url: "https://github.com/cilium/cilium/issues/5719",
                },
                KnownDeviation {
                    matches: DeviationMatch::Capability(Capability::IpblockPodIp),
                    summary: "ipBlock never matches pod IPs, only addresses outside the cluster",
                    issue_url: "https://github.com/cilium/cilium/issues/9209",
                },
                KnownDeviation {
                    matches: DeviationMatch::Capability(Capability::AdminNetworkPolicy),
                    summary: "AdminNetworkPolicy is not implemented (the proposal was closed and \
                              moved on to ClusterNetworkPolicy)",
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
            kind_config: include_str!("../../../../kind-config/kindnet.yaml"),
            // kind v0.32.0's own default (kubernetes-sigs/kind@v0.32.0:pkg/apis/config/defaults/image.go#L21).
            // kindnetd ships in the node image: `kind build node-image` bakes in its manifest and
            // image (`pkg/build/nodeimage/const_cni.go#L23`) and `kind create` applies the copy
            // inside the node (`pkg/cluster/internal/create/actions/installcni/cni.go#L59`), so
            // this image is the kindnetd the deny style below is read from.
            node_image: NODE_IMAGE_V1_36_1,
            pod_subnet: None,
            default_cni: true,
            kernel_modules: &[],
            install: vec![],
            ready: vec![ReadyCheck::Rollout {
                namespace: "kube-system",
                target: "ds/kindnet",
            }],
            enforces,
            enforces_policy: true,
            // kindnetd (kubernetes-sigs/kind@v0.32.0:images/kindnetd/go.mod#L13 vendors
            // kube-network-policies f67f0fb35e2b) gives a denied packet the NFQUEUE verdict
            // NF_DROP (kubernetes-sigs/kube-network-policies@f67f0fb35e2b:pkg/dataplane/controller.go#L280-L290).
            deny_style: Some(crate::probe::DenyStyle::Drop),
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

    /// Antrea through Helm, with its `ClusterNetworkPolicy` feature gate on (alpha, off by
    /// default: antrea-io/antrea@v2.7.0:pkg/features/antrea_features.go#L168-L171,L247, rendered
    /// from `featureGates` by build/charts/antrea/conf/antrea-controller.conf#L58-L62). The
    /// AdminNetworkPolicy gate is deprecated in v2.7 (antrea_features.go#L161-L165,L246) and left
    /// off. Every egress peer is implemented, nodes and domain names included
    /// (docs/cluster-network-policy.md, "Rule structure").
    fn antrea() -> CniProfile {
        let mut enforces = network_policy_features();
        enforces.extend([
            Capability::ClusterNetworkPolicy,
            Capability::CnpNodes,
            Capability::CnpDomainNames,
        ]);
        enforces.extend(environment());
        CniProfile {
            name: "antrea",
            version: "v2.7.0",
            kind_config: include_str!("../../../../kind-config/antrea.yaml"),
            // kind v0.32.0's default: Antrea v2.7.0's kind CI installs kind v0.32.0
            // (antrea-io/antrea@v2.7.0:ci/kind/version#L1) and its e2e jobs name no Kubernetes
            // version (`ci/kind/kind-setup.sh#L82`, `#L564-L568`: kind's default without `--k8s-version`);
            // only the ClusterNetworkPolicy conformance job asks for v1.35.0, as a floor ("needs to
            // be 1.31+", `ci/kind/test-netpol-v2-conformance-kind.sh#L113-L115`).
            node_image: NODE_IMAGE_V1_36_1,
            pod_subnet: None,
            default_cni: false,
            kernel_modules: &["openvswitch"],
            install: vec![
                InstallStep::Apply { url: CNP_CRD },
                InstallStep::HelmRepo {
                    name: "antrea",
                    url: "https://charts.antrea.io",
                },
                InstallStep::Helm {
                    release: "antrea",
                    chart: "antrea/antrea",
                    version: "2.7.0",
                    namespace: "kube-system",
                    set: vec!["featureGates.ClusterNetworkPolicy=true"],
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
            // NetworkPolicy isolation ends in Antrea's default drop flow, an OpenFlow `drop`
            // (antrea-io/antrea@v2.7.0:pkg/agent/openflow/pipeline.go#L2065-L2090); only an
            // Antrea-native rule with action Reject rejects.
            deny_style: Some(crate::probe::DenyStyle::Drop),
            known_deviations: vec![],
            caveats: vec![
                Caveat {
                    summary: "Antrea needs the openvswitch kernel module on the host",
                    issue_url: None,
                },
                Caveat {
                    summary: "a ClusterNetworkPolicy Pass rule whose peer Antrea cannot read fails \
                              closed to match nothing, where the API says deny all \
                              (antrea-io/antrea@v2.7.0:pkg/controller/networkpolicy/clusternetworkpolicy.go#L227-L236)",
                    issue_url: None,
                },
                Caveat {
                    summary: "ClusterNetworkPolicy's Baseline tier is evaluated after Antrea's own \
                              baseline tier (antrea-io/antrea@v2.7.0:docs/cluster-network-policy.md)",
                    issue_url: None,
                },
            ],
        }
    }

    /// kube-network-policies, the reference implementation of NetworkPolicy and
    /// ClusterNetworkPolicy, on kind's kindnet with kindnet's own policy engine off. Its
    /// ClusterNetworkPolicy build (`install-cnp.yaml`, image
    /// `kube-network-policies:v1.1.0-npa-v1alpha2` at kubernetes-sigs/kube-network-policies@v1.1.1)
    /// handles every peer (plugins/npa-v1alpha2/clusternetworkpolicy.go), and its CI runs the
    /// v0.2.0 conformance suite with `--all-features` on this setup (.github/workflows/npa.yml#L240-L263).
    fn kube_network_policies() -> CniProfile {
        let mut enforces = network_policy_features();
        enforces.extend([
            Capability::ClusterNetworkPolicy,
            Capability::CnpNodes,
            Capability::CnpDomainNames,
        ]);
        enforces.extend(environment());
        CniProfile {
            name: "kube-network-policies",
            version: "v1.1.1",
            kind_config: include_str!("../../../../kind-config/kube-network-policies.yaml"),
            // Its CI runs kind v0.29.0 with kindest/node v1.33.1
            // (kubernetes-sigs/kube-network-policies@v1.1.1:.github/workflows/npa.yml#L15-L16,
            // #L217-L219); that image by digest:
            // kubernetes-sigs/kind@v0.29.0:pkg/apis/config/defaults/image.go#L21.
            node_image: NODE_IMAGE_V1_33_1,
            pod_subnet: None,
            default_cni: true,
            kernel_modules: &[],
            install: vec![
                InstallStep::Kubectl {
                    what: "turn kindnet's own NetworkPolicy engine off (kindnetd v20230809)",
                    args: &[
                        "-n",
                        "kube-system",
                        "set",
                        "image",
                        "ds/kindnet",
                        KINDNETD_WITHOUT_POLICY,
                    ],
                },
                InstallStep::Apply { url: CNP_CRD },
                InstallStep::Apply {
                    url: "https://raw.githubusercontent.com/kubernetes-sigs/kube-network-policies/v1.1.1/install-cnp.yaml",
                },
            ],
            ready: vec![
                ReadyCheck::Rollout {
                    namespace: "kube-system",
                    target: "ds/kindnet",
                },
                ReadyCheck::Rollout {
                    namespace: "kube-system",
                    target: "ds/kube-network-policies",
                },
            ],
            enforces,
            enforces_policy: true,
            // A denied packet gets the NFQUEUE verdict NF_DROP
            // (kubernetes-sigs/kube-network-policies@v1.1.1:pkg/dataplane/controller.go#L280-L290).
            deny_style: Some(crate::probe::DenyStyle::Drop),
            known_deviations: vec![],
            caveats: vec![Caveat {
                summary: "with ClusterNetworkPolicy on, kube-network-policies sends all traffic \
                          through its userspace nfqueue evaluator \
                          (kubernetes-sigs/kube-network-policies@v1.1.1:site/content/docs/concepts/admin-network-policy.md)",
                issue_url: None,
            }],
        }
    }

    /// flannel, which provides connectivity and enforces no NetworkPolicy at all.
    fn flannel() -> CniProfile {
        CniProfile {
            name: "flannel",
            version: "v0.28.9",
            kind_config: include_str!("../../../../kind-config/flannel.yaml"),
            // flannel's own kind e2e pins this very image, by digest, with kind v0.32.0
            // (flannel-io/flannel@v0.28.9:e2e/kind-config.yaml#L8, #L13;
            // `.github/workflows/kind-e2eTests.yml#L29`).
            node_image: NODE_IMAGE_V1_36_1,
            pod_subnet: Some("10.244.0.0/16"),
            default_cni: false,
            kernel_modules: &["br_netfilter"],
            install: vec![
                InstallStep::NodeScript {
                    what: "load br_netfilter and install the CNI bridge plugin (flannel-io/flannel#1847)",
                    script: FLANNEL_NODE_SCRIPT,
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
            deny_style: None,
            known_deviations: vec![],
            caveats: vec![Caveat {
                summary: "flannel enforces no NetworkPolicy: every policy step is expected to be \"not enforced\"",
                issue_url: None,
            }],
        }
    }
}
