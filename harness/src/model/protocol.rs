//! IP protocols the harness probes and policies name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A transport protocol (or ICMP, which has no port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// TCP.
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
    /// SCTP.
    #[serde(rename = "SCTP")]
    Sctp,
    /// ICMP (ping); no port.
    #[serde(rename = "ICMP")]
    Icmp,
}

impl Protocol {
    /// The protocol as Kubernetes and Calico spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
            Protocol::Icmp => "ICMP",
        }
    }

    /// Whether the protocol has ports.
    pub fn has_ports(self) -> bool {
        self != Protocol::Icmp
    }

    /// The IANA protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
            Protocol::Icmp => 1,
        }
    }

    /// Parses a Kubernetes container/policy/service port protocol: TCP, UDP or SCTP, exact case
    /// (the API server rejects other spellings).
    pub fn parse_port_protocol(s: &str) -> Result<Protocol, ProtocolError> {
        match s {
            "TCP" => Ok(Protocol::Tcp),
            "UDP" => Ok(Protocol::Udp),
            "SCTP" => Ok(Protocol::Sctp),
            other => Err(ProtocolError::NotAPortProtocol(other.to_string())),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol name the harness does not accept, with what it expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Not a Kubernetes port protocol (TCP, UDP or SCTP, exact case).
    #[error("unknown protocol `{0}` (expected TCP, UDP or SCTP)")]
    NotAPortProtocol(String),
    /// Not a protocol the probes send (TCP, UDP, SCTP or ICMP, any case).
    #[error("unknown protocol `{0}` (expected TCP, UDP, SCTP or ICMP)")]
    Unknown(String),
}

impl FromStr for Protocol {
    type Err = ProtocolError;

    /// Parses TCP, UDP, SCTP or ICMP, case-insensitively (command-line input).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Ok(Protocol::Tcp),
            "UDP" => Ok(Protocol::Udp),
            "SCTP" => Ok(Protocol::Sctp),
            "ICMP" => Ok(Protocol::Icmp),
            _ => Err(ProtocolError::Unknown(s.to_string())),
        }
    }
}
