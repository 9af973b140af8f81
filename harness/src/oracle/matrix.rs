//! The full matrix: every ordered pair of endpoints for every probed port.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Oracle, Packet, Peer, Uncertainty};
use crate::model::{Cluster, EndpointId, Protocol, ProtocolError};

/// A port and protocol to probe (`80/TCP`, `53/UDP`, or `ICMP` without a port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProbePort {
    /// The destination port (`None` for ICMP).
    pub port: Option<u16>,
    /// The protocol.
    pub protocol: Protocol,
}

impl fmt::Display for ProbePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{p}/{}", self.protocol),
            None => write!(f, "{}", self.protocol),
        }
    }
}

/// Why a probe (`--probe`, `PORT/PROTOCOL`) is refused; each names the text given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbePortError {
    /// The port is not a number from 1 to 65535.
    #[error("`{input}`: `{port}` is not a port number (1-65535)")]
    NotAPort {
        /// The probe as written.
        input: String,
        /// The part that should be a port.
        port: String,
    },
    /// The protocol is not one the harness knows.
    #[error("`{input}`: {source}")]
    Protocol {
        /// The probe as written.
        input: String,
        /// What is wrong with the protocol.
        #[source]
        source: ProtocolError,
    },
    /// ICMP was given a port.
    #[error("`{input}`: ICMP has no port; write ICMP")]
    IcmpWithPort {
        /// The probe as written.
        input: String,
    },
}

impl FromStr for ProbePort {
    type Err = ProbePortError;

    /// Parses `PORT/PROTOCOL` (`80/TCP`, `53/udp`, `9003/SCTP`), `PORT` (TCP) or `ICMP`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("icmp") {
            return Ok(ProbePort {
                port: None,
                protocol: Protocol::Icmp,
            });
        }
        // A bare port is TCP, as in Kubernetes' `ports[].protocol` default.
        let (port, protocol) = s.split_once('/').unwrap_or((s, "TCP"));
        let port: u16 =
            port.parse()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| ProbePortError::NotAPort {
                    input: s.to_string(),
                    port: port.to_string(),
                })?;
        let protocol: Protocol = protocol
            .parse()
            .map_err(|source| ProbePortError::Protocol {
                input: s.to_string(),
                source,
            })?;
        if protocol == Protocol::Icmp {
            return Err(ProbePortError::IcmpWithPort {
                input: s.to_string(),
            });
        }
        Ok(ProbePort {
            port: Some(port),
            protocol,
        })
    }
}

impl ProbePort {
    /// Every port some endpoint declares, sorted (what `analyze` probes without `--probe`).
    pub fn declared(cluster: &Cluster) -> Vec<ProbePort> {
        let mut ports: Vec<ProbePort> = cluster
            .endpoints
            .iter()
            .flat_map(|e| &e.ports)
            .map(|p| ProbePort {
                port: Some(p.port),
                protocol: p.protocol,
            })
            .collect();
        ports.sort();
        ports.dedup();
        ports
    }
}

/// One cell of a matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// The client.
    pub from: EndpointId,
    /// The server.
    pub to: EndpointId,
    /// The probe.
    pub probe: ProbePort,
    /// The oracle's prediction (one possible result when `uncertain`).
    pub allowed: bool,
    /// Set when the manifests leave the result open.
    pub uncertain: Option<Uncertainty>,
}

/// Predictions for every ordered pair of endpoints (self included) and every probe, held per
/// pair of identities ([`super::Identities`]) and per identity for an endpoint to itself: the
/// memory is that of the identities, not of the endpoints squared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    /// The probes, one table each.
    pub probes: Vec<ProbePort>,
    /// Number of endpoints (rows and columns).
    pub size: usize,
    /// The identity of each endpoint.
    identity: Vec<usize>,
    /// Number of identities.
    identities: usize,
    /// Per probe, per pair of identities: between two distinct endpoints.
    pairs: Vec<Prediction>,
    /// Per probe, per identity: an endpoint to itself.
    selves: Vec<Prediction>,
}

/// One prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Prediction {
    allowed: bool,
    uncertain: Option<Uncertainty>,
}

impl Matrix {
    fn at(&self, probe: usize, from: EndpointId, to: EndpointId) -> Prediction {
        let (f, t) = (self.identity[from.0], self.identity[to.0]);
        if from == to {
            self.selves[probe * self.identities + f]
        } else {
            self.pairs[(probe * self.identities + f) * self.identities + t]
        }
    }

    /// Whether `from → to` is allowed for probe number `probe`.
    pub fn allowed(&self, probe: usize, from: EndpointId, to: EndpointId) -> bool {
        self.at(probe, from, to).allowed
    }

    /// Why `from → to` for probe number `probe` is not decided by the manifests, if it is not.
    pub fn uncertain(&self, probe: usize, from: EndpointId, to: EndpointId) -> Option<Uncertainty> {
        self.at(probe, from, to).uncertain
    }

    /// Number of identities the endpoints fall into.
    pub fn identities(&self) -> usize {
        self.identities
    }

    /// Every cell, probe by probe, row by row.
    pub fn cells(&self) -> impl Iterator<Item = Cell> + '_ {
        self.probes.iter().enumerate().flat_map(move |(p, &probe)| {
            (0..self.size).flat_map(move |f| {
                (0..self.size).map(move |t| Cell {
                    from: EndpointId(f),
                    to: EndpointId(t),
                    probe,
                    allowed: self.allowed(p, EndpointId(f), EndpointId(t)),
                    uncertain: self.uncertain(p, EndpointId(f), EndpointId(t)),
                })
            })
        })
    }
}

impl Oracle<'_> {
    /// The packet for a probe between two endpoints.
    pub fn packet(from: EndpointId, to: EndpointId, probe: ProbePort) -> Packet {
        Packet {
            from: Peer::Endpoint(from),
            to: Peer::Endpoint(to),
            protocol: probe.protocol,
            port: probe.port,
        }
    }

    fn predict(&self, from: EndpointId, to: EndpointId, probe: ProbePort) -> Prediction {
        let packet = Self::packet(from, to, probe);
        Prediction {
            allowed: self.allowed(&packet),
            uncertain: self.uncertainty(&packet),
        }
    }

    /// Predicts every ordered pair of endpoints for every probe, evaluating one pair of
    /// representatives per pair of identities (and each identity to itself).
    pub fn matrix(&self, probes: &[ProbePort]) -> Matrix {
        let ids = self.identities();
        let k = ids.members.len();
        let mut pairs = Vec::with_capacity(probes.len() * k * k);
        let mut selves = Vec::with_capacity(probes.len() * k);
        for &probe in probes {
            for f in &ids.members {
                for t in &ids.members {
                    // Two distinct endpoints; an identity of one endpoint has no such pair with
                    // itself, and that slot is never read.
                    let to = if std::ptr::eq(f, t) {
                        t.get(1)
                    } else {
                        t.first()
                    };
                    pairs.push(match to {
                        Some(&to) => self.predict(f[0], to, probe),
                        None => Prediction {
                            allowed: false,
                            uncertain: None,
                        },
                    });
                }
            }
            for m in &ids.members {
                selves.push(self.predict(m[0], m[0], probe));
            }
        }
        Matrix {
            probes: probes.to_vec(),
            size: self.cluster.endpoints.len(),
            identity: ids.of,
            identities: k,
            pairs,
            selves,
        }
    }

    /// Every cell evaluated on its own endpoints, without identities (what [`Oracle::matrix`]
    /// must equal).
    #[cfg(test)]
    pub(crate) fn cells_one_by_one(&self, probes: &[ProbePort]) -> Vec<Cell> {
        let mut cells = Vec::new();
        for &probe in probes {
            for from in self.cluster.endpoint_ids() {
                for to in self.cluster.endpoint_ids() {
                    let p = self.predict(from, to, probe);
                    cells.push(Cell {
                        from,
                        to,
                        probe,
                        allowed: p.allowed,
                        uncertain: p.uncertain,
                    });
                }
            }
        }
        cells
    }
}
