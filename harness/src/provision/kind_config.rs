//! The parts of a kind cluster config (`kind.x-k8s.io/v1alpha4`) that netpol-harness relies on,
//! and a check that a config suits a CNI profile before minutes are spent creating a cluster.

use serde::Deserialize;

use super::cni::CniProfile;

/// Kubernetes 1.36.1, kind v0.32.0's default node image
/// (kubernetes-sigs/kind@v0.32.0:pkg/apis/config/defaults/image.go#L21).
///
/// Every node image a built-in profile pins ([`CniProfile::node_image`]) is one kind's
/// maintainers built and made kind's default at some commit, so its digest can be checked in
/// kind's own source; kind v0.32.0 creates clusters from all of them (it loads images into
/// containerd config versions 2, 3 and 4, `pkg/cluster/nodeutils/util.go#L101-L126`, and writes
/// kubeadm v1beta3 below Kubernetes 1.36, `pkg/cluster/internal/kubeadm/config.go#L673-L679`).
pub const NODE_IMAGE_V1_36_1: &str =
    "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5";

/// Kubernetes 1.35.1, built by kind's maintainers "with latest kind images" and kind's default at
/// kubernetes-sigs/kind@ec6b5bd7:pkg/apis/config/defaults/image.go#L21 (2026-02-13, an ancestor
/// of v0.32.0).
pub const NODE_IMAGE_V1_35_1: &str =
    "kindest/node:v1.35.1@sha256:05d7bcdefbda08b4e038f644c4df690cdac3fba8b06f8289f30e10026720a1ab";

/// Kubernetes 1.33.1, kind v0.29.0's default node image
/// (kubernetes-sigs/kind@v0.29.0:pkg/apis/config/defaults/image.go#L21).
pub const NODE_IMAGE_V1_33_1: &str =
    "kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f";

/// Every node image a built-in profile may pin.
pub const NODE_IMAGES: [&str; 3] = [NODE_IMAGE_V1_36_1, NODE_IMAGE_V1_35_1, NODE_IMAGE_V1_33_1];

/// `text`, a kind config of `kind-config/`, with the host ports of its ingress mappings (container
/// ports 80 and 443) moved to `http` and `https`, so two clusters can run side by side.
pub fn with_ingress_ports(text: &str, (http, https): (u16, u16)) -> String {
    let mut out = String::with_capacity(text.len());
    let mut container = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if let Some(port) = trimmed.strip_prefix("containerPort:") {
            container = port.trim().parse::<u16>().ok();
        }
        match (trimmed.strip_prefix("hostPort:"), container) {
            (Some(_), Some(80 | 443)) => {
                let indent = &line[..line.len() - line.trim_start().len()];
                let port = if container == Some(80) { http } else { https };
                out.push_str(&format!("{indent}hostPort: {port}\n"));
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// kind's pod subnet when a config sets none.
pub const KIND_DEFAULT_POD_SUBNET: &str = "10.244.0.0/16";

/// A kind cluster config, reduced to the fields netpol-harness checks (others are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KindConfig {
    /// Must be `Cluster`.
    pub kind: String,
    /// Must be `kind.x-k8s.io/v1alpha4`.
    pub api_version: String,
    /// Cluster networking.
    #[serde(default)]
    pub networking: Networking,
    /// The nodes (kind creates one control-plane node if the list is empty).
    #[serde(default)]
    pub nodes: Vec<Node>,
}

/// `networking:` of a kind config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Networking {
    /// Whether kind leaves out kindnet, its default CNI.
    #[serde(default, rename = "disableDefaultCNI")]
    pub disable_default_cni: bool,
    /// The pod subnet; kind's default is [`KIND_DEFAULT_POD_SUBNET`].
    pub pod_subnet: Option<String>,
    /// `iptables`, `nftables`, `ipvs` or `none`.
    pub kube_proxy_mode: Option<String>,
    /// `ipv4` (kind's default), `ipv6` or `dual`
    /// (kubernetes-sigs/kind@v0.32.0:pkg/apis/config/v1alpha4/types.go#L168-L169, #L199-L208).
    pub ip_family: Option<String>,
}

/// One node of a kind config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// `control-plane` or `worker`.
    pub role: String,
    /// The node image, if pinned.
    pub image: Option<String>,
    /// Labels kind gives the node (through the kubelet's `node-labels`;
    /// kubernetes-sigs/kind@v0.32.0:pkg/apis/config/v1alpha4/types.go#L110-L111,
    /// `pkg/cluster/internal/kubeadm/config.go`).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Ports of the node container published on the host.
    #[serde(default)]
    pub extra_port_mappings: Vec<PortMapping>,
}

/// One `extraPortMappings` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// Port inside the node container.
    pub container_port: u16,
    /// Port on the host.
    pub host_port: u16,
    /// Host address it binds (kind's default is 0.0.0.0).
    pub listen_address: Option<String>,
}

impl KindConfig {
    /// Parses a kind config from YAML.
    pub fn parse(yaml: &str) -> Result<KindConfig, serde_saphyr::Error> {
        serde_saphyr::from_str(yaml)
    }

    /// The pod subnet the cluster will get.
    pub fn pod_subnet(&self) -> &str {
        self.networking
            .pod_subnet
            .as_deref()
            .unwrap_or(KIND_DEFAULT_POD_SUBNET)
    }

    /// The host ports (HTTP, HTTPS) a worker publishes its container ports 80 and 443 on, which
    /// Contour's Envoy (a DaemonSet that avoids the control plane, binding hostPort 80/443) needs
    /// to be reachable; `None` if no worker publishes both.
    pub fn ingress_host_ports(&self) -> Option<(u16, u16)> {
        self.nodes
            .iter()
            .filter(|n| n.role == "worker")
            .find_map(|n| {
                let host = |port: u16| {
                    n.extra_port_mappings
                        .iter()
                        .find(|m| m.container_port == port)
                        .map(|m| m.host_port)
                };
                Some((host(80)?, host(443)?))
            })
    }

    /// Whether some worker publishes container ports 80 and 443 (see
    /// [`KindConfig::ingress_host_ports`]).
    pub fn has_ingress_ports(&self) -> bool {
        self.ingress_host_ports().is_some()
    }

    /// The node image each node runs: its `image:`, or `None` where kind's own default applies
    /// (kind creates one control-plane node from a config without nodes).
    pub fn node_images(&self) -> Vec<Option<&str>> {
        if self.nodes.is_empty() {
            return vec![None];
        }
        self.nodes.iter().map(|n| n.image.as_deref()).collect()
    }

    /// A sentence saying which of this config's node images differ from `pin` (a profile's
    /// [`CniProfile::node_image`]), or `None` if every node runs `pin`. A config of the user's own
    /// keeps its images; this only says that the cluster is not the Kubernetes the lane pins.
    pub fn node_image_note(&self, pin: &str) -> Option<String> {
        let mut others: Vec<String> = Vec::new();
        for image in self.node_images() {
            let other = match image {
                Some(image) if image == pin => continue,
                Some(image) => format!("`{image}`"),
                None => "kind's own default (a node without `image:`)".to_string(),
            };
            if !others.contains(&other) {
                others.push(other);
            }
        }
        (!others.is_empty()).then(|| {
            format!(
                "the kind config's nodes run {}, not `{pin}`, the image this lane pins: the \
                 cluster runs that Kubernetes, as the config says",
                others.join(" and ")
            )
        })
    }

    /// What makes this config unfit for `profile`, one sentence each; empty if it fits.
    pub fn problems_for(&self, profile: &CniProfile) -> Vec<String> {
        let mut problems = Vec::new();
        if self.kind != "Cluster" || self.api_version != "kind.x-k8s.io/v1alpha4" {
            problems.push(format!(
                "it is `{}` `{}`, not a kind `Cluster` of `kind.x-k8s.io/v1alpha4`",
                self.api_version, self.kind
            ));
        }
        if profile.default_cni && self.networking.disable_default_cni {
            problems.push(format!(
                "{} is kind's default CNI, but the config sets `disableDefaultCNI: true`",
                profile.name
            ));
        }
        if !profile.default_cni && !self.networking.disable_default_cni {
            problems.push(format!(
                "{} replaces kindnet, so the config must set `networking.disableDefaultCNI: true`",
                profile.name
            ));
        }
        if let Some(subnet) = profile.pod_subnet
            && self.pod_subnet() != subnet
        {
            problems.push(format!(
                "{}'s manifests assume pod subnet {subnet}, but the config gives {}",
                profile.name,
                self.pod_subnet()
            ));
        }
        // A dual-stack profile (its own config says `ipFamily: dual`) needs a dual-stack cluster:
        // on a single-stack one, no pod would have the second address its lane is about.
        let wants_dual = KindConfig::parse(profile.kind_config)
            .is_ok_and(|own| own.networking.ip_family.as_deref() == Some("dual"));
        if wants_dual && self.networking.ip_family.as_deref() != Some("dual") {
            problems.push(format!(
                "{} is a dual-stack lane, so the config must set `networking.ipFamily: dual`",
                profile.name
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::Capability;
    use crate::cluster::SLOT_LABEL;
    use crate::provision::cni::InstallStep;
    use std::path::Path;

    fn file(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../kind-config")
            .join(format!("{name}.yaml"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn every_profile_embeds_its_kind_config_file() {
        for p in CniProfile::all() {
            assert_eq!(p.kind_config, file(p.name), "{}", p.name);
        }
    }

    #[test]
    fn every_kind_config_parses_and_fits_its_profile() {
        for p in CniProfile::all() {
            let config =
                KindConfig::parse(p.kind_config).unwrap_or_else(|e| panic!("{}: {e}", p.name));
            assert_eq!(config.problems_for(&p), Vec::<String>::new(), "{}", p.name);
            // disableDefaultCNI exactly when the lane does not run on kindnet.
            assert_eq!(
                p.default_cni,
                ["kindnet", "kube-network-policies"].contains(&p.name),
                "{}",
                p.name
            );
            assert_eq!(
                config.networking.disable_default_cni, !p.default_cni,
                "{}",
                p.name
            );
            if let Some(subnet) = p.pod_subnet {
                assert_eq!(
                    config.networking.pod_subnet.as_deref(),
                    Some(subnet),
                    "{}",
                    p.name
                );
            }
            let roles: Vec<&str> = config.nodes.iter().map(|n| n.role.as_str()).collect();
            assert_eq!(roles, ["control-plane", "worker", "worker"], "{}", p.name);
            // The workers carry the slots the generated topology's pods select.
            let slots: Vec<Option<&str>> = config
                .nodes
                .iter()
                .map(|n| n.labels.get(SLOT_LABEL).map(String::as_str))
                .collect();
            assert_eq!(slots, [None, Some("1"), Some("2")], "{}", p.name);
            for pod in crate::generate::topology::PODS {
                let slot = crate::generate::topology::slot(pod);
                assert!(
                    slots.contains(&Some(slot)),
                    "{}: {pod} in slot {slot}",
                    p.name
                );
            }
            for node in &config.nodes {
                assert_eq!(node.image.as_deref(), Some(p.node_image), "{}", p.name);
            }
            // 80→80 and 443→443 on the worker, on loopback only.
            let worker = &config.nodes[1];
            let ports: Vec<(u16, u16, Option<&str>)> = worker
                .extra_port_mappings
                .iter()
                .map(|m| (m.container_port, m.host_port, m.listen_address.as_deref()))
                .collect();
            assert_eq!(
                ports,
                [(80, 80, Some("127.0.0.1")), (443, 443, Some("127.0.0.1"))],
                "{}",
                p.name
            );
            assert!(config.nodes[0].extra_port_mappings.is_empty());
            assert!(config.nodes[2].extra_port_mappings.is_empty());
            assert!(config.has_ingress_ports());
            assert!(p.enforces.contains(&Capability::IngressController));
            // Cilium keeps kube-proxy, as its kind guide does.
            assert_eq!(config.networking.kube_proxy_mode, None, "{}", p.name);
            // The dual-stack lanes, and only they, ask kind for both families.
            let dual = p.name.ends_with("-dual");
            assert_eq!(
                config.networking.ip_family.as_deref(),
                dual.then_some("dual"),
                "{}",
                p.name
            );
        }
    }

    /// `repo:tag@sha256:<64 lowercase hex>`.
    fn pinned_by_digest(image: &str) -> bool {
        image.split_once("@sha256:").is_some_and(|(name, digest)| {
            name.starts_with("kindest/node:v")
                && digest.len() == 64
                && digest
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        })
    }

    #[test]
    fn every_kind_config_runs_its_profiles_node_image_by_digest() {
        for p in CniProfile::all() {
            assert!(NODE_IMAGES.contains(&p.node_image), "{}", p.name);
            let config = KindConfig::parse(p.kind_config).unwrap();
            let images = config.node_images();
            assert_eq!(images.len(), 3, "{}", p.name);
            assert!(
                images.iter().all(|i| *i == Some(p.node_image)),
                "{}: the kind config's nodes run {images:?}, the profile pins {}",
                p.name,
                p.node_image
            );
            assert_eq!(config.node_image_note(p.node_image), None, "{}", p.name);
        }
        for image in NODE_IMAGES {
            assert!(pinned_by_digest(image), "{image}");
        }
        // Every file of kind-config/ is a profile's, and every `image:` in it (wherever it is)
        // names a digest.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kind-config");
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            files += 1;
            let name = path.file_stem().unwrap().to_str().unwrap();
            let profile = CniProfile::by_name(name)
                .unwrap_or_else(|| panic!("{}: no profile {name}", path.display()));
            let text = std::fs::read_to_string(&path).unwrap();
            let images: Vec<&str> = text
                .lines()
                .filter_map(|l| l.trim_start().strip_prefix("image:"))
                .map(str::trim)
                .collect();
            assert_eq!(images, [profile.node_image; 3], "{}", path.display());
            assert!(images.iter().all(|i| pinned_by_digest(i)), "{images:?}");
        }
        assert_eq!(files, CniProfile::all().len());
    }

    #[test]
    fn each_lane_runs_the_kubernetes_its_cni_runs_upstream() {
        let pins: Vec<(&str, &str)> = CniProfile::all()
            .iter()
            .map(|p| (p.name, p.node_image))
            .collect();
        assert_eq!(
            pins,
            [
                // Calico v3.32.1's CI: kind v0.31.0, kindest/node v1.35.1.
                ("calico", NODE_IMAGE_V1_35_1),
                // Calico v3.31.7's CI: kind v0.29.0, kindest/node v1.33.1.
                ("calico-3.31", NODE_IMAGE_V1_33_1),
                ("calico-dual", NODE_IMAGE_V1_35_1),
                // Cilium 1.20.0 names none: kind v0.32.0's default.
                ("cilium", NODE_IMAGE_V1_36_1),
                ("cilium-dual", NODE_IMAGE_V1_36_1),
                // kind v0.32.0's own kindnetd ships in its default image.
                ("kindnet", NODE_IMAGE_V1_36_1),
                // Antrea v2.7.0's kind e2e: kind v0.32.0's default.
                ("antrea", NODE_IMAGE_V1_36_1),
                // flannel v0.28.9's kind e2e pins this very digest.
                ("flannel", NODE_IMAGE_V1_36_1),
                // kube-network-policies v1.1.1's CI: kind v0.29.0, kindest/node v1.33.1.
                ("kube-network-policies", NODE_IMAGE_V1_33_1),
            ]
        );
        assert!(NODE_IMAGE_V1_36_1.starts_with("kindest/node:v1.36.1@"));
        assert!(NODE_IMAGE_V1_35_1.starts_with("kindest/node:v1.35.1@"));
        assert!(NODE_IMAGE_V1_33_1.starts_with("kindest/node:v1.33.1@"));
    }

    #[test]
    fn a_config_of_ones_own_keeps_its_node_images_and_is_told_so() {
        let calico = CniProfile::by_name("calico").unwrap();
        let other = "kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a";
        let mine =
            KindConfig::parse(&calico.kind_config.replace(calico.node_image, other)).unwrap();
        // Another image is no problem: the config is used as it is.
        assert_eq!(mine.problems_for(&calico), Vec::<String>::new());
        assert_eq!(mine.node_images(), [Some(other); 3]);
        let note = mine.node_image_note(calico.node_image).unwrap();
        assert!(
            note.contains(&format!("run `{other}`, not `{}`", calico.node_image)),
            "{note}"
        );
        // Nodes without `image:` (or no nodes at all) run kind's own default.
        let unpinned = KindConfig::parse(&calico.kind_config.replacen(
            &format!("    image: {}\n", calico.node_image),
            "",
            1,
        ))
        .unwrap();
        assert_eq!(
            unpinned.node_images(),
            [None, Some(calico.node_image), Some(calico.node_image)]
        );
        let note = unpinned.node_image_note(calico.node_image).unwrap();
        assert!(note.contains("kind's own default"), "{note}");
        assert!(!note.contains(" and "), "{note}");
        let bare =
            KindConfig::parse("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n").unwrap();
        assert_eq!(bare.node_images(), [None]);
        assert!(bare.node_image_note(calico.node_image).is_some());
        // Two other images are both named, once each.
        let mixed = KindConfig::parse(&mine_with_default(
            calico.kind_config,
            calico.node_image,
            other,
        ))
        .unwrap();
        let note = mixed.node_image_note(calico.node_image).unwrap();
        assert_eq!(note.matches(other).count(), 1, "{note}");
        assert!(
            note.contains(&format!("`{other}` and kind's own default")),
            "{note}"
        );
    }

    /// `text` with its first node's image replaced by `other` and its second node's removed.
    fn mine_with_default(text: &str, pin: &str, other: &str) -> String {
        text.replacen(pin, other, 1)
            .replacen(&format!("    image: {pin}\n"), "", 1)
    }

    #[test]
    fn ingress_ports_move_in_every_builtin_config() {
        for p in CniProfile::all() {
            let moved = with_ingress_ports(p.kind_config, (8080, 8443));
            let config = KindConfig::parse(&moved).unwrap();
            assert_eq!(
                config.ingress_host_ports(),
                Some((8080, 8443)),
                "{}",
                p.name
            );
            assert_eq!(config.problems_for(&p), Vec::<String>::new());
            // Only the two hostPort lines changed.
            let changed = p
                .kind_config
                .lines()
                .zip(moved.lines())
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(changed, 2, "{}", p.name);
            assert_eq!(
                KindConfig::parse(p.kind_config)
                    .unwrap()
                    .ingress_host_ports(),
                Some((80, 443))
            );
        }
    }

    #[test]
    fn dual_stack_lanes_pin_their_family_subnets_and_install_steps() {
        let calico = CniProfile::by_name("calico-dual").unwrap();
        let config = KindConfig::parse(calico.kind_config).unwrap();
        assert_eq!(config.pod_subnet(), "10.244.0.0/16,fd00:10:244::/56");
        // The Installation it applies has both pools, the IPv6 one on the kind subnet's IPv6
        // half, with an encapsulation IPv6 pools take.
        let yaml = calico
            .install
            .iter()
            .find_map(|s| match s {
                InstallStep::ApplyManifest { file, yaml, .. } => Some((*file, *yaml)),
                _ => None,
            })
            .unwrap();
        assert_eq!(yaml.0, "calico-installation-dual.yaml");
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml.1).unwrap();
        let pools = docs[0]["spec"]["calicoNetwork"]["ipPools"]
            .as_array()
            .unwrap();
        let cidrs: Vec<&str> = pools.iter().map(|p| p["cidr"].as_str().unwrap()).collect();
        assert_eq!(cidrs, ["10.244.0.0/16", "fd00:10:244::/56"]);
        assert_eq!(pools[1]["encapsulation"], "VXLAN");
        assert_eq!(pools[1]["blockSize"], 122);
        assert_eq!(
            docs[0]["spec"]["calicoNetwork"]["nodeAddressAutodetectionV6"]["firstFound"],
            true
        );
        assert_eq!(docs[1]["kind"], "APIServer");
        // Otherwise the calico profile: same version, operator manifests and readiness.
        let single = CniProfile::by_name("calico").unwrap();
        assert_eq!(calico.version, single.version);
        assert_eq!(calico.ready, single.ready);
        assert_eq!(calico.install.len(), single.install.len());

        let cilium = CniProfile::by_name("cilium-dual").unwrap();
        let helm_values = |p: &CniProfile| {
            p.install
                .iter()
                .find_map(|s| match s {
                    InstallStep::Helm { set, .. } => Some(set.clone()),
                    _ => None,
                })
                .unwrap()
        };
        let mut expected = helm_values(&CniProfile::by_name("cilium").unwrap());
        expected.push("ipv6.enabled=true");
        assert_eq!(helm_values(&cilium), expected);
        assert_eq!(
            KindConfig::parse(cilium.kind_config).unwrap().pod_subnet(),
            KIND_DEFAULT_POD_SUBNET
        );

        // A single-stack config does not fit a dual-stack lane, and says why.
        let single_config = KindConfig::parse(single.kind_config).unwrap();
        let problems = single_config.problems_for(&CniProfile::by_name("cilium-dual").unwrap());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("`networking.ipFamily: dual`"),
            "{problems:?}"
        );
    }

    #[test]
    fn mismatched_configs_are_explained() {
        let calico = CniProfile::by_name("calico").unwrap();
        let kindnet = CniProfile::by_name("kindnet").unwrap();
        let kindnet_config = KindConfig::parse(kindnet.kind_config).unwrap();
        let problems = kindnet_config.problems_for(&calico);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("disableDefaultCNI: true"));
        // Calico's pool is where the oracle assumes pods: another pod subnet is refused.
        let other = KindConfig::parse(
            &calico
                .kind_config
                .replace("podSubnet: 10.244.0.0/16", "podSubnet: 192.168.0.0/16"),
        )
        .unwrap();
        let problems = other.problems_for(&calico);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("192.168.0.0/16") && problems[0].contains("10.244.0.0/16"));

        let calico_config = KindConfig::parse(calico.kind_config).unwrap();
        let problems = calico_config.problems_for(&kindnet);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("kind's default CNI"));

        let pod = KindConfig::parse("apiVersion: v1\nkind: Pod\n").unwrap();
        assert!(pod.problems_for(&kindnet)[0].contains("not a kind `Cluster`"));
        assert!(!pod.has_ingress_ports());
    }
}
