//! The full matrix: every ordered pair of endpoints for every probed port.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Oracle, Packet, Peer, Uncertainty};
use crate::model::{Cluster, EndpointId, Protocol};

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

impl FromStr for ProbePort {
    type Err = String;

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
        let port: u16 = port
            .parse()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("`{s}`: `{port}` is not a port number (1-65535)"))?;
        let protocol: Protocol = protocol.parse().map_err(|e| format!("`{s}`: {e}"))?;
        if protocol == Protocol::Icmp {
            return Err(format!("`{s}`: ICMP has no port; write ICMP"));
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

/// Predictions for every ordered pair of endpoints (self included) and every probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    /// The probes, one table each.
    pub probes: Vec<ProbePort>,
    /// Number of endpoints (rows and columns).
    pub size: usize,
    allowed: Vec<bool>,
    uncertain: Vec<Option<Uncertainty>>,
}

impl Matrix {
    /// Whether `from → to` is allowed for probe number `probe`.
    pub fn allowed(&self, probe: usize, from: EndpointId, to: EndpointId) -> bool {
        self.allowed[(probe * self.size + from.0) * self.size + to.0]
    }

    /// Why `from → to` for probe number `probe` is not decided by the manifests, if it is not.
    pub fn uncertain(&self, probe: usize, from: EndpointId, to: EndpointId) -> Option<Uncertainty> {
        self.uncertain[(probe * self.size + from.0) * self.size + to.0]
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

    /// Predicts every ordered pair of endpoints for every probe.
    pub fn matrix(&self, probes: &[ProbePort]) -> Matrix {
        let n = self.cluster.endpoints.len();
        let mut allowed = Vec::with_capacity(probes.len() * n * n);
        let mut uncertain = Vec::with_capacity(probes.len() * n * n);
        for &probe in probes {
            for from in self.cluster.endpoint_ids() {
                for to in self.cluster.endpoint_ids() {
                    let packet = Self::packet(from, to, probe);
                    allowed.push(self.allowed(&packet));
                    uncertain.push(self.uncertainty(&packet));
                }
            }
        }
        Matrix {
            probes: probes.to_vec(),
            size: n,
            allowed,
            uncertain,
        }
    }
}
