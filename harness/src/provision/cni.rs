//! CNI profiles: how each CNI of the nightly matrix is installed on kind, how to tell it is
//! ready, which [`Capability`]s it gives scenarios, and where it is known to deviate.
//!
//! [`classify`] turns a profile and a scenario step's `requires:` into an [`Applicability`]: the
//! runner skips steps that cannot apply, and reports a mismatch on a known deviation as
//! `known-deviation` (with the issue link) instead of `fail`.
//!
//! This module holds the profile types and pins; the profiles themselves are in `profiles`, and
//! [`classify`] in `classify`.

mod classify;
mod profiles;

use std::collections::BTreeSet;
use std::fmt;

use crate::capability::Capability;
use crate::policy::{CalicoLine, Semantics};
pub use classify::{Applicability, classify};

/// Names of every built-in profile, in the nightly matrix's column order.
pub const CNI_NAMES: [&str; 9] = [
    "calico",
    "calico-3.31",
    "calico-dual",
    "cilium",
    "cilium-dual",
    "kindnet",
    "antrea",
    "flannel",
    "kube-network-policies",
];

/// The kindnetd image kube-network-policies' own CI swaps into kind's `kindnet` DaemonSet so that
/// kindnet stops enforcing NetworkPolicy ("stop kindnet of applying network policies",
/// kubernetes-sigs/kube-network-policies@v1.1.1:.github/workflows/npa.yml#L240): a kindnetd from
/// before kind v0.24.0, which embeds no policy engine. kind v0.32.0's kindnetd has no switch to
/// turn its engine off (kubernetes-sigs/kind@v0.32.0:images/kindnetd/cmd/kindnetd/main.go#L217-L262).
const KINDNETD_WITHOUT_POLICY: &str = "kindnet-cni=docker.io/kindest/kindnetd:v20230809-80a64d96";

/// The ClusterNetworkPolicy CRD (network-policy-api v0.2.0, experimental channel: adds `nodes`
/// and `domainNames` peers), applied on the Antrea, Cilium and kube-network-policies lanes,
/// which implement the API without installing it
/// (antrea-io/antrea@v2.7.0:docs/cluster-network-policy.md#L58-L62 gives this URL).
///
/// Not on the Calico lanes: Calico v3.32.1's `operator-crds.yaml` ships the CRD itself, at
/// bundle-version v0.2.0, standard channel (projectcalico/calico@v3.32.1:manifests/operator-crds.yaml#L38942-L38950),
/// and its operator runs with `-manage-crds=true` (`manifests/tigera-operator.yaml#L756`) and keeps
/// reconciling its bundled copy, as v3.31.7 did with the v0.1.1 AdminNetworkPolicy CRDs
/// (`v3.31.7:manifests/operator-crds.yaml#L32922`): applying another copy only starts a tug of
/// war the operator wins.
const CNP_CRD: &str = "https://raw.githubusercontent.com/kubernetes-sigs/network-policy-api/v0.2.0/config/crd/experimental/policy.networking.k8s.io_clusternetworkpolicies.yaml";

/// The CNI plugins release the flannel lane installs `bridge` from: the one kind v0.32.0 builds
/// its node image's plugins from (kubernetes-sigs/kind@v0.32.0:images/base/Dockerfile#L173).
pub const CNI_PLUGINS_VERSION: &str = "v1.9.1";

/// SHA-256 of `cni-plugins-linux-{amd64,arm64}-v1.9.1.tgz`, as flannel's own e2e pins them
/// (flannel-io/flannel@v0.28.9:e2e/run-e2e-tests.sh#L24-L31).
pub const CNI_PLUGINS_SHA256: [(&str, &str); 2] = [
    (
        "amd64",
        "b98f74a0f8522f0a83867178729c1aa70f2158f90c45a2ca8fa791db1c76b303",
    ),
    (
        "arm64",
        "56171987d3947707c3563db2f4001bccaf50fd63468611b9f3cbecb1375ee7ec",
    ),
];

/// What the flannel lane runs in every node container before flannel starts.
///
/// 1. `br_netfilter` with `net.bridge.bridge-nf-call-iptables=1`: flanneld v0.28.9 exits when
///    `/proc/sys/net/bridge/bridge-nf-call-iptables` is missing and nftables is off, as it is in
///    `kube-flannel.yml` (flannel-io/flannel@v0.28.9:main.go#L288-L301,
///    `Documentation/kube-flannel.yml#L94`), and same-node Service replies need the sysctl.
///    Nothing loads the module on kind (Docker ≥ 27.3 no longer does; flannel's own kind CI runs
///    `sudo modprobe br_netfilter`: `.github/workflows/kind-e2eTests.yml#L33`). The nodes are
///    privileged, mount the host's `/lib/modules` and have kmod, so `modprobe` works there when
///    the host has the module; otherwise the script stops at once and says what to run on the host.
/// 2. The `bridge` plugin, which kind's node image lacks (kind@v0.32.0:images/base/Dockerfile
///    #L225-L230), from the release tarball checked against [`CNI_PLUGINS_SHA256`] (its entries
///    start with `./`: containernetworking/plugins `.github/workflows/release.yaml`, `tar … .`).
pub const FLANNEL_NODE_SCRIPT: &str = r#"set -eu
bridge_nf=/proc/sys/net/bridge/bridge-nf-call-iptables
cni_bin=/opt/cni/bin
if [ ! -e "$bridge_nf" ]; then
  modprobe br_netfilter 2>/dev/null || true
fi
if [ ! -e "$bridge_nf" ]; then
  echo "the br_netfilter kernel module is missing and cannot be loaded from the kind node: run \`sudo modprobe br_netfilter\` on the host (the Docker VM on Docker Desktop), and add br_netfilter to /etc/modules-load.d/ to keep it" >&2
  exit 3
fi
echo 1 > "$bridge_nf"
test -x "$cni_bin/bridge" && exit 0
case "$(uname -m)" in
  x86_64) arch=amd64 sum=b98f74a0f8522f0a83867178729c1aa70f2158f90c45a2ca8fa791db1c76b303 ;;
  aarch64) arch=arm64 sum=56171987d3947707c3563db2f4001bccaf50fd63468611b9f3cbecb1375ee7ec ;;
  *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
tgz=$(mktemp)
trap 'rm -f "$tgz"' EXIT
curl -fsSL --retry 5 -o "$tgz" "https://github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-${arch}-v1.9.1.tgz"
if ! echo "$sum  $tgz" | sha256sum -c - >/dev/null 2>&1; then
  echo "cni-plugins-linux-${arch}-v1.9.1.tgz does not have SHA-256 $sum: refusing to install it" >&2
  exit 4
fi
tar -xzf "$tgz" -C "$cni_bin" ./bridge"#;

/// Everything netpol-harness knows about running one CNI on kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniProfile {
    /// Short name used on the command line and in results (`calico`, `cilium`, …).
    pub name: &'static str,
    /// The pinned version that is installed.
    pub version: &'static str,
    /// The kind cluster config for this CNI (`kind-config/<name>.yaml`, embedded at build time).
    pub kind_config: &'static str,
    /// The kindest/node image, by digest, that every node of [`CniProfile::kind_config`] runs:
    /// the Kubernetes the CNI's own CI runs on kind, one of
    /// [`NODE_IMAGES`](super::kind_config::NODE_IMAGES) (each profile cites its evidence; a test
    /// keeps the config's `image:` lines equal to it). A `--kind-config` of the user's own keeps
    /// its own images.
    pub node_image: &'static str,
    /// The pod subnet the CNI's manifests assume, if they hard-code one; the kind config must use it.
    pub pod_subnet: Option<&'static str>,
    /// Whether this is kind's own CNI (kindnet), so the kind config must keep the default CNI.
    pub default_cni: bool,
    /// Kernel modules the CNI needs on the host (the nodes share its kernel); `up` checks them
    /// before creating the cluster.
    pub kernel_modules: &'static [&'static str],
    /// How to install it, in order, once the cluster exists.
    pub install: Vec<InstallStep>,
    /// What must hold before the CNI counts as ready (polled, in order).
    pub ready: Vec<ReadyCheck>,
    /// The capabilities this CNI gives scenarios on the kind configs in `kind-config/`.
    pub enforces: BTreeSet<Capability>,
    /// Whether it enforces NetworkPolicy at all. If not, policy steps are "not enforced".
    pub enforces_policy: bool,
    /// How it stops denied traffic by default, where upstream says so (`None`: not declared).
    /// Results show the style each step saw; another style than this one is a note, never a
    /// failure (both block).
    pub deny_style: Option<crate::probe::DenyStyle>,
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
    /// `kubectl apply --server-side --force-conflicts -f FILE` of a manifest embedded in the
    /// binary, written to the scratch directory first.
    ApplyManifest {
        /// What it creates, for progress output.
        what: &'static str,
        /// The file name it is written under.
        file: &'static str,
        /// The manifest.
        yaml: &'static str,
    },
    /// `kubectl ARGS…` against the cluster's context.
    Kubectl {
        /// What it does, for progress output.
        what: &'static str,
        /// The arguments after `kubectl --context CONTEXT`.
        args: &'static [&'static str],
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
            InstallStep::ApplyManifest { what, .. } => write!(f, "apply {what}"),
            InstallStep::NodeScript { what, .. } => write!(f, "{what} on every node"),
            InstallStep::Kubectl { what, .. } => f.write_str(what),
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

/// A known difference between a CNI and what the oracle predicts. It covers the failed claims
/// of the steps it matches, and the failed derived cells it may explain
/// (`runner::StepOutcome::covered_by_deviation`).
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

impl CniProfile {
    /// Whose behaviour the oracle predicts on this CNI: a Calico profile's version line
    /// (`calico` 3.32.1 → 3.32, `calico-3.31` → 3.31), else the APIs as written.
    pub fn semantics(&self) -> Semantics {
        if !self.name.starts_with("calico") {
            return Semantics::Generic;
        }
        self.version
            .parse::<CalicoLine>()
            .map_or(Semantics::Generic, Semantics::Calico)
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
        assert_eq!(CniProfile::by_name("calico").unwrap().version, "v3.32.1");
        assert_eq!(
            CniProfile::by_name("calico-3.31").unwrap().version,
            "v3.31.7"
        );
    }

    #[test]
    fn only_the_cilium_lanes_and_antrea_need_helm() {
        let helm: Vec<&str> = CniProfile::all()
            .into_iter()
            .filter(CniProfile::needs_helm)
            .map(|p| p.name)
            .collect();
        assert_eq!(helm, ["cilium", "cilium-dual", "antrea"]);
    }

    #[test]
    fn calico_leaves_the_policy_api_crds_to_its_operator() {
        let urls = |cni: &str| -> Vec<&'static str> {
            CniProfile::by_name(cni)
                .unwrap()
                .install
                .iter()
                .filter_map(|s| match s {
                    InstallStep::Apply { url } => Some(*url),
                    _ => None,
                })
                .collect()
        };
        for calico in ["calico", "calico-3.31"] {
            assert!(
                !urls(calico)
                    .iter()
                    .any(|u| u.contains("network-policy-api")),
                "{:?}",
                urls(calico)
            );
        }
        assert!(
            !urls("calico")
                .iter()
                .any(|u| u.ends_with("custom-resources.yaml"))
        );
        assert_eq!(urls("antrea"), [CNP_CRD]);
        // Cilium implements ClusterNetworkPolicy behind a Helm value, with the CRD installed
        // first (its watcher starts with the agent).
        assert_eq!(urls("cilium"), [CNP_CRD]);
        let cilium = CniProfile::by_name("cilium").unwrap();
        assert!(cilium.enforces.contains(&Capability::ClusterNetworkPolicy));
        assert!(!cilium.enforces.contains(&Capability::CnpNodes));
        assert!(cilium.install.iter().any(|step| matches!(step,
            InstallStep::Helm { set, .. } if set.contains(&"k8sClusterNetworkPolicy.enabled=true"))));
    }

    /// A sandbox to run [`FLANNEL_NODE_SCRIPT`] in: its two absolute paths moved into a temporary
    /// directory, and `modprobe`, `uname` and `curl` faked.
    struct NodeSandbox {
        dir: tempfile::TempDir,
    }

    impl NodeSandbox {
        fn new(modprobe_works: bool, bridge_present: bool) -> Self {
            use std::os::unix::fs::PermissionsExt;
            let dir = tempfile::tempdir().unwrap();
            let bin = dir.path().join("fakebin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::create_dir_all(dir.path().join("cni")).unwrap();
            std::fs::create_dir_all(dir.path().join("bridge")).unwrap();
            let fake = |name: &str, body: &str| {
                let path = bin.join(name);
                std::fs::write(
                    &path,
                    format!("#!/bin/sh\necho \"{name} $*\" >> \"$SANDBOX/calls\"\n{body}\n"),
                )
                .unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            };
            let module = if modprobe_works {
                "echo 0 > \"$SANDBOX/bridge/nf\""
            } else {
                "echo 'modprobe: FATAL: Module br_netfilter not found' >&2; exit 1"
            };
            fake("modprobe", module);
            fake("uname", "echo x86_64");
            // The download is a tarball whose digest is not the pinned one.
            fake(
                "curl",
                "while [ $# -gt 1 ]; do [ \"$1\" = -o ] && printf 'not the release' > \"$2\"; shift; done",
            );
            if bridge_present {
                let bridge = dir.path().join("cni/bridge");
                std::fs::write(&bridge, "").unwrap();
                std::fs::set_permissions(&bridge, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            NodeSandbox { dir }
        }

        fn run(&self) -> std::process::Output {
            let root = self.dir.path().display().to_string();
            let script = FLANNEL_NODE_SCRIPT
                .replace(
                    "/proc/sys/net/bridge/bridge-nf-call-iptables",
                    &format!("{root}/bridge/nf"),
                )
                .replace("/opt/cni/bin", &format!("{root}/cni"));
            assert_ne!(script, FLANNEL_NODE_SCRIPT);
            std::process::Command::new("sh")
                .args(["-c", &script])
                .env("SANDBOX", &root)
                .env("PATH", format!("{root}/fakebin:/usr/bin:/bin"))
                .output()
                .unwrap()
        }

        fn file(&self, name: &str) -> Option<String> {
            std::fs::read_to_string(self.dir.path().join(name)).ok()
        }
    }

    #[test]
    fn flannel_nodes_load_br_netfilter_and_turn_bridge_iptables_on() {
        let node = NodeSandbox::new(true, true);
        let out = node.run();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(node.file("bridge/nf").as_deref(), Some("1\n"));
        assert_eq!(
            node.file("calls").as_deref(),
            Some("modprobe br_netfilter\n")
        );
    }

    #[test]
    fn flannel_nodes_without_br_netfilter_stop_at_once_saying_what_to_run_on_the_host() {
        let node = NodeSandbox::new(false, true);
        let out = node.run();
        assert_eq!(out.status.code(), Some(3), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("run `sudo modprobe br_netfilter` on the host"),
            "{stderr}"
        );
        assert!(!node.file("calls").unwrap().contains("curl"));
    }

    #[test]
    fn the_cni_plugins_tarball_is_refused_unless_its_sha256_is_the_pinned_one() {
        let node = NodeSandbox::new(true, false);
        let out = node.run();
        assert_eq!(out.status.code(), Some(4), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("does not have SHA-256 b98f74a0"),
            "{stderr}"
        );
        assert!(node.file("cni/bridge").is_none(), "nothing was extracted");
        let calls = node.file("calls").unwrap();
        assert!(
            calls.contains(&format!(
                "plugins/releases/download/{CNI_PLUGINS_VERSION}/cni-plugins-linux-amd64-{CNI_PLUGINS_VERSION}.tgz"
            )),
            "{calls}"
        );
        // The script carries exactly the cited digests.
        for (arch, sum) in CNI_PLUGINS_SHA256 {
            assert!(
                FLANNEL_NODE_SCRIPT.contains(&format!("arch={arch} sum={sum}")),
                "{arch}"
            );
        }
    }

    #[test]
    fn deviation_texts_match_upstream() {
        let cilium = CniProfile::by_name("cilium").unwrap();
        let sctp = &deviation_of(&cilium, Sctp).summary;
        assert!(sctp.contains("sctp.enabled"), "{sctp}");
        let anp = &deviation_of(&cilium, AdminNetworkPolicy).summary;
        assert!(anp.contains("ClusterNetworkPolicy"), "{anp}");
        let antrea = CniProfile::by_name("antrea").unwrap();
        assert!(
            antrea
                .caveats
                .iter()
                .any(|c| c.summary.contains("fails closed to match nothing")),
            "{:?}",
            antrea.caveats
        );
    }

    fn deviation_of(p: &CniProfile, c: Capability) -> KnownDeviation {
        p.known_deviations
            .iter()
            .find(|d| d.matches == DeviationMatch::Capability(c))
            .unwrap()
            .clone()
    }

    #[test]
    fn profiles_pin_their_versions_in_every_url() {
        for p in CniProfile::all() {
            for step in &p.install {
                if let InstallStep::Apply { url } = step {
                    let pinned =
                        url.contains(p.version) || url.contains("network-policy-api/v0.2.0");
                    assert!(pinned, "{}: {url} is not pinned to {}", p.name, p.version);
                    assert!(!url.contains("/main/") && !url.contains("latest"), "{url}");
                }
            }
        }
    }

    #[test]
    fn deny_styles_are_declared_where_upstream_says_so() {
        use crate::probe::DenyStyle;
        let styles: Vec<(&str, Option<DenyStyle>)> = CniProfile::all()
            .iter()
            .map(|p| (p.name, p.deny_style))
            .collect();
        let drop = Some(DenyStyle::Drop);
        assert_eq!(
            styles,
            [
                // Felix's `iptablesFilterDenyAction` defaults to Drop.
                ("calico", drop),
                ("calico-3.31", drop),
                ("calico-dual", drop),
                // The chart's `policyDenyResponse` defaults to `none`.
                ("cilium", drop),
                ("cilium-dual", drop),
                // NFQUEUE verdict NF_DROP (kube-network-policies, vendored by kindnetd).
                ("kindnet", drop),
                // Antrea's default drop flow.
                ("antrea", drop),
                // flannel enforces nothing: no deny style to declare.
                ("flannel", None),
                ("kube-network-policies", drop),
            ]
        );
        // The Cilium lanes leave `policyDenyResponse` at its default.
        for name in ["cilium", "cilium-dual"] {
            let p = CniProfile::by_name(name).unwrap();
            for step in &p.install {
                if let InstallStep::Helm { set, .. } = step {
                    assert!(
                        !set.iter().any(|v| v.starts_with("policyDenyResponse")),
                        "{set:?}"
                    );
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
    #[case("antrea", &[Ingress, ClusterNetworkPolicy, CnpNodes, CnpDomainNames], Applicability::Applicable)]
    #[case("antrea", &[Ingress, AdminNetworkPolicy], np(&[AdminNetworkPolicy]))]
    #[case("calico", &[ClusterNetworkPolicy, NamedPorts], Applicability::Applicable)]
    #[case("calico", &[ClusterNetworkPolicy, CnpNodes], np(&[CnpNodes]))]
    #[case("calico-3.31", &[ClusterNetworkPolicy], np(&[ClusterNetworkPolicy]))]
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
    #[case("calico-3.31", &[CalicoCrds, AdminNetworkPolicy, Sctp], Applicability::Applicable)]
    #[case("calico", &[CalicoCrds, AdminNetworkPolicy], np(&[AdminNetworkPolicy]))]
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
