//! The faults a simulated cluster can be given, and how they change what the dataplane enforces.

use std::collections::BTreeSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use crate::cluster::Family;
use crate::oracle::{Oracle, Packet};
use crate::policy::{PolicySet, PortSpec, ProtocolMatch};
use crate::probe::{DenyStyle, Outcome, ProbeKind};

/// How the simulated CNI enforces policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforcement {
    /// As the oracle says.
    #[default]
    Full,
    /// Not at all: everything is allowed.
    None,
    /// Ingress rules only; egress policies are ignored.
    IgnoresEgress,
    /// Named ports never match (a rule whose only ports are named matches nothing).
    IgnoresNamedPorts,
}

impl Enforcement {
    /// Whether a CNI enforcing this way lets `packet` through, given the oracle's verdict.
    pub(super) fn allows(self, oracle: &Oracle<'_>, packet: &Packet) -> bool {
        match self {
            Enforcement::None => true,
            Enforcement::IgnoresEgress => oracle.verdict(packet).ingress.allowed,
            Enforcement::Full | Enforcement::IgnoresNamedPorts => oracle.allowed(packet),
        }
    }
}

/// Probes whose result is flipped (allowed ↔ blocked) now and then, deterministically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flaky {
    /// The seed.
    pub seed: u64,
    /// How many probes in a thousand are flipped.
    pub per_mille: u32,
}

impl Flaky {
    /// Whether the `attempt`-th probe of `key` (source, target, port and kind) is flipped: a hash
    /// of the seed, the key and the attempt, so a run is reproducible.
    pub(super) fn flips(self, key: &str, attempt: u64) -> bool {
        let mut h = DefaultHasher::new();
        (self.seed, key, attempt).hash(&mut h);
        h.finish() % 1000 < u64::from(self.per_mille)
    }
}

/// A latency model, for benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// The cost of one exec (connection, upgrade, process start), whatever it runs.
    pub exec_round_trip: Duration,
    /// At most this many execs run at once (a limit the modeled cluster imposes; `usize::MAX`
    /// for none).
    pub max_concurrent_execs: usize,
}

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Policy and label changes reach the dataplane this long after they are made.
    pub propagation_delay: Duration,
    /// How policy is enforced.
    pub enforcement: Enforcement,
    /// Flaky probes.
    pub flaky: Option<Flaky>,
    /// A flaky pod: probes from this endpoint (`namespace/name`) flip as [`Faults::flaky`]
    /// would make every probe flip.
    pub flaky_source: Option<(String, Flaky)>,
    /// Endpoints (`namespace/name`) in whose pods every exec fails.
    pub failing_execs: BTreeSet<String>,
    /// The first this many probe execs fail (a transient failure).
    pub failing_first_execs: usize,
    /// Endpoints whose traffic no policy stops (as when a pod's identity or address has not
    /// reached the dataplane): packets from their pods pass egress at their side and ingress at
    /// the destination, whatever the policies say.
    pub unpoliced_sources: BTreeSet<String>,
    /// Declared ports nothing listens on (`namespace/name`, port): connections to them are
    /// refused, as a container that declares a port it does not serve refuses.
    pub closed_ports: BTreeSet<(String, u16)>,
    /// Ports whose traffic is dropped whatever the policies say (`namespace/name`, port): a
    /// path broken from the start, before any policy.
    pub dropped_ports: BTreeSet<(String, u16)>,
    /// Endpoints whose pods never become ready (their image cannot be pulled).
    pub never_ready: BTreeSet<String>,
    /// Endpoints whose image has no shell (probes need the ephemeral probe container).
    pub without_shell: BTreeSet<String>,
    /// A latency model (none: everything is instantaneous).
    pub latency: Option<Latency>,
    /// How long each `delete` and `delete_namespace` takes (a slow cleanup).
    pub delete_latency: Duration,
    /// How denied packets are stopped: dropped (the probe times out), or rejected as Antrea's
    /// `Reject` action does (TCP and HTTP refused by a RST, other protocols told the host is
    /// unreachable, administratively prohibited).
    pub deny_style: DenyStyle,
    /// Every packet between pods on two nodes is dropped, whatever policy says (a broken
    /// inter-node path: a tunnel that does not come up, an MTU that eats the packets).
    pub drops_cross_node: bool,
    /// Packets to a Service's ClusterIP of this family are dropped, whatever policy says (a
    /// kube-proxy without that family's Service rules); pod addresses are reached as usual.
    pub dropped_service_family: Option<Family>,
    /// Objects (`Kind namespace/name`, or `Namespace name`) that vanish between a sweep's
    /// listing and its deletions (another process deleted them meanwhile).
    pub vanishing_during_sweep: BTreeSet<String>,
}

/// What a probe of `kind` observes when the simulated CNI denies it in `style`.
pub(super) fn denied(style: DenyStyle, kind: &ProbeKind) -> Outcome {
    match (style, kind) {
        (DenyStyle::Drop, _) => Outcome::Blocked,
        (DenyStyle::Reject, ProbeKind::Tcp | ProbeKind::Http { .. }) => Outcome::Refused,
        (DenyStyle::Reject, _) => {
            Outcome::Unreachable("administratively prohibited (simulated)".into())
        }
    }
}

/// A rule whose only destination ports are named never matches (as a CNI that ignores named
/// ports behaves).
pub(super) fn strip_named_ports(policies: &mut PolicySet) {
    for policy in &mut policies.policies {
        for rules in [&mut policy.ingress, &mut policy.egress]
            .into_iter()
            .flatten()
        {
            for rule in rules {
                let ports = &mut rule.destination.ports;
                let had = !ports.is_empty();
                ports.retain(|p| !matches!(p, PortSpec::Named(_)));
                if had && ports.is_empty() {
                    rule.protocol = Some(ProtocolMatch::Other(255));
                }
            }
        }
    }
}
