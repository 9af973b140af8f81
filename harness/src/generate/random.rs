//! Random cases beyond the systematic ones: the same building blocks, drawn from a seeded
//! SplitMix64 generator (a fixed algorithm, written out here so that a seed produces the same
//! cases with any version of any dependency).

use super::Case;
use super::netpol::{self, Rule};
use super::yaml::{expr, labels};

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One element of `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// `per_api` random cases per API, from `seed`.
pub fn cases(seed: u64, per_api: usize) -> Vec<Case> {
    let mut rng = SplitMix64::new(seed);
    (0..per_api).map(|i| netpol_case(&mut rng, i)).collect()
}

/// One to three NetworkPolicies with random targets, directions, peers and ports.
fn netpol_case(rng: &mut SplitMix64, index: usize) -> Case {
    let suite = format!("random-{}", netpol::TAG);
    let peers = netpol::peers();
    let ports = netpol::ports();
    let targets = [
        ("x", "{}".to_string()),
        ("x", labels("pod", "a")),
        ("y", labels("pod", "b")),
        ("z", expr("pod", "In", &["a", "c"])),
        ("y", expr("pod", "NotIn", &["c"])),
    ];
    let count = 1 + rng.below(3);
    let mut case = Case::new(
        &suite,
        format!("random-np-{index:03}"),
        format!("{count} random NetworkPolicies."),
    )
    .tag(&[netpol::TAG, "random"]);
    case.suite = suite;
    for p in 0..count {
        let (namespace, selector) = rng.pick(&targets);
        let directions: &[&str] = match rng.below(3) {
            0 => &["Ingress"],
            1 => &["Egress"],
            _ => &["Ingress", "Egress"],
        };
        let mut rule = || {
            let peer = rng.pick(&peers);
            let port = rng.pick(&ports);
            (
                Rule {
                    peers: Some(peer.yaml.clone()),
                    ports: port
                        .yaml
                        .as_ref()
                        .map(|p| p.iter().map(|s| s.to_string()).collect()),
                },
                peer,
                port,
            )
        };
        let (i, ipeer, iport) = rule();
        let (e, epeer, eport) = rule();
        let ingress = directions.contains(&"Ingress").then(|| vec![i]);
        let egress = directions.contains(&"Egress").then(|| vec![e]);
        let mut used = Vec::new();
        if ingress.is_some() {
            used.push((ipeer, iport));
            case = case.tag(&["ingress"]);
        }
        if egress.is_some() {
            used.push((epeer, eport));
            case = case.tag(&["egress"]);
        }
        for (peer, port) in used {
            case = case
                .tag(peer.tags)
                .tag(port.tags)
                .require(peer.requires)
                .require(port.requires);
        }
        let name = format!("random-np-{index:03}-{p}");
        case = case.policy(netpol::policy(
            &name,
            namespace,
            selector,
            Some(directions),
            ingress.as_deref(),
            egress.as_deref(),
        ));
    }
    if count > 1 {
        case = case.tag(&["combine"]);
    }
    case
}
