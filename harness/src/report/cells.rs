//! One probed cell as `results.json` records it: who probed what, the expectation, the
//! observation, where the two pods ran, and over which address family.

use serde::{Deserialize, Serialize};

use crate::cluster::{Family, Locality};
use crate::runner::outcome::CellOutcome;

/// One probed cell of a step, in `results.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellRecord {
    /// The source pod actually used (`ns/pod`), or `outside`.
    pub source: String,
    /// The target actually probed (`ns/pod 10.244.1.5:80`, `svc:ns/s 10.96.3.4:80`, …).
    pub target: String,
    /// The probe kind and port (`tcp 80`, `http GET / 80`, `icmp`).
    pub probe: String,
    /// What was expected (`allowed`, `blocked`, `HTTP 503`).
    pub expected: String,
    /// What was finally observed.
    pub observed: String,
    /// Whether the observation is the expected one (and did not flap).
    pub matched: bool,
    /// `same-node` or `cross-node` when both ends are pods; left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<Locality>,
    /// `ipv4` or `ipv6`: the family of the address probed (left out for a name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    /// Whether the cell is derived (the oracle's expectation, not the tutorial's claim); left
    /// out for claims.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub derived: bool,
    /// Why the cell is reported but not asserted (self-traffic, undecided, port not served, a
    /// capability the CNI lacks); left out for asserted cells, whose `matched` is the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unasserted: Option<String>,
}

impl From<&CellOutcome> for CellRecord {
    fn from(c: &CellOutcome) -> CellRecord {
        CellRecord {
            source: c.source.clone(),
            target: c.target.clone(),
            probe: match c.port {
                Some(p) => format!("{} {p}", c.kind),
                None => c.kind.clone(),
            },
            expected: c.expected.to_string(),
            observed: c.observed.to_string(),
            matched: c.matched && !c.flapped,
            locality: c.locality,
            family: c.family,
            derived: c.derived,
            unasserted: c.unasserted.as_ref().map(ToString::to_string),
        }
    }
}
