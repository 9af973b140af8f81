//! The boundary to the in-pod probe script: the runner hands a [`ProbeBatch`] every probe one
//! source pod makes in a round, runs the command it returns with one exec, and hands the output
//! back to be parsed.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How to probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum ProbeKind {
    /// TCP connect.
    Tcp,
    /// UDP datagram answered by the server.
    Udp,
    /// SCTP association.
    Sctp,
    /// HTTP request; the status is observed.
    Http {
        /// The method.
        method: String,
        /// The path.
        path: String,
    },
    /// ICMP echo.
    Icmp,
    /// DNS lookup of `name`.
    Dns {
        /// The name.
        name: String,
    },
}

/// One probe of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeSpec {
    /// Identifies the probe in the batch (unique within it).
    pub id: String,
    /// How.
    pub kind: ProbeKind,
    /// The address (or, for DNS, the resolver's address or empty for the pod's own).
    pub host: String,
    /// The port (none for ICMP and DNS).
    pub port: Option<u16>,
    /// How long a silent peer is waited for before the probe counts as blocked.
    pub timeout: Duration,
}

/// Which tools the container running a batch has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeTool {
    /// busybox `nc`, `wget`, `ping`, `nslookup`.
    Busybox,
    /// `agnhost connect` and friends (the upstream e2e test image).
    Agnhost,
}

/// What a probe observed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome", content = "detail")]
pub enum Outcome {
    /// Connected (or, for UDP, answered; for ICMP, echoed; for DNS, resolved).
    Allowed,
    /// Timed out: dropped.
    Blocked,
    /// Refused (a reset, or ICMP port unreachable): the packet reached a host that does not
    /// serve the port.
    Refused,
    /// An HTTP response with this status.
    HttpStatus(u16),
    /// The DNS lookup failed other than by timing out (NXDOMAIN, SERVFAIL…).
    DnsFailure(String),
    /// The probe could not be made or read (exec failure, missing tool, garbage output).
    Error(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Allowed => f.write_str("allowed"),
            Outcome::Blocked => f.write_str("blocked"),
            Outcome::Refused => f.write_str("refused"),
            Outcome::HttpStatus(s) => write!(f, "HTTP {s}"),
            Outcome::DnsFailure(m) => write!(f, "DNS failure ({m})"),
            Outcome::Error(m) => write!(f, "error ({m})"),
        }
    }
}

/// The result of one probe of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The probe's [`ProbeSpec::id`].
    pub id: String,
    /// What it observed.
    pub outcome: Outcome,
    /// Details (the tool's message, the time it took).
    pub detail: String,
}

/// Builds the command running a batch of probes concurrently inside a container, and parses its
/// output. Implemented by the probe module's script (on a cluster) and by the simulator.
pub trait ProbeBatch: Send + Sync {
    /// The command (argv) running every probe of `specs` concurrently with `tool`.
    fn command(&self, specs: &[ProbeSpec], tool: ProbeTool) -> Result<Vec<String>, String>;

    /// One result per spec, from the command's standard output.
    fn parse(&self, stdout: &str, specs: &[ProbeSpec]) -> Result<Vec<ProbeResult>, String>;
}

/// The command asking a container which probe tool it has; it prints `agnhost`, `busybox` or
/// `none`. A container without a shell fails to run it, which also means `none`.
pub fn detect_tool_command() -> Vec<String> {
    vec![
        "sh".to_string(),
        "-c".to_string(),
        "if command -v agnhost >/dev/null 2>&1 || [ -x /agnhost ]; then echo agnhost; \
         elif command -v nc >/dev/null 2>&1 && command -v wget >/dev/null 2>&1; then echo busybox; \
         else echo none; fi"
            .to_string(),
    ]
}

/// The tool named by [`detect_tool_command`]'s output or a pod's
/// [`crate::cluster::PROBE_TOOL_ANNOTATION`]; `None` for `none` or anything else.
pub fn parse_tool(word: &str) -> Option<ProbeTool> {
    match word.trim() {
        "agnhost" => Some(ProbeTool::Agnhost),
        "busybox" => Some(ProbeTool::Busybox),
        _ => None,
    }
}

/// The tool an image is known to carry, from its name (saves the detection exec).
pub fn tool_of_image(image: &str) -> Option<ProbeTool> {
    let name = image.rsplit('/').next().unwrap_or(image);
    if name.starts_with("agnhost") {
        Some(ProbeTool::Agnhost)
    } else if name.starts_with("busybox") {
        Some(ProbeTool::Busybox)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_from_image_names_and_words() {
        assert_eq!(
            tool_of_image("registry.k8s.io/e2e-test-images/agnhost:2.66.1"),
            Some(ProbeTool::Agnhost)
        );
        assert_eq!(tool_of_image("busybox:1.36"), Some(ProbeTool::Busybox));
        assert_eq!(tool_of_image("hashicorp/http-echo:1.0"), None);
        assert_eq!(parse_tool("busybox\n"), Some(ProbeTool::Busybox));
        assert_eq!(parse_tool("none"), None);
    }
}
