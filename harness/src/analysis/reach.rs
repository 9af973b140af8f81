//! `--probe-to`: who can reach a Service port or an address outside the cluster, resolved and
//! predicted as `plan` does.

use std::io::Write;

use serde::Serialize;

use super::View;
use crate::model::Protocol;
use crate::oracle::{ProbePort, ProbePortError};

/// `--probe-to`: a Service port (`svc:NAMESPACE/NAME:PORT[/PROTOCOL]`) or an address outside the
/// cluster (`ip:ADDRESS`, asked on each `--probe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeTo {
    /// A Service, on one of its ports.
    Service {
        /// `namespace/name`.
        key: String,
        /// The Service port and protocol.
        probe: ProbePort,
    },
    /// An address outside the cluster.
    Ip(std::net::IpAddr),
}

/// Why a `--probe-to` value is refused; each names the text given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeToError {
    /// `svc:` without `:PORT`.
    #[error("`{0}`: expected svc:NAMESPACE/NAME:PORT (e.g. svc:shop/web:80)")]
    ServiceWithoutPort(String),
    /// `ip:` followed by something other than an address.
    #[error("`{0}`: expected ip:ADDRESS")]
    NotAnAddress(String),
    /// Neither `svc:` nor `ip:`.
    #[error("`{0}`: expected svc:NAMESPACE/NAME:PORT or ip:ADDRESS")]
    Syntax(String),
    /// The target is refused as a scenario's `to:` would be.
    #[error(transparent)]
    Target(#[from] crate::scenario::target::TargetError),
    /// The Service port is refused.
    #[error(transparent)]
    Port(#[from] ProbePortError),
}

impl std::str::FromStr for ProbeTo {
    type Err = ProbeToError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use crate::scenario::target::Target;
        // Refused as a scenario's `to:` is (its message names the text).
        let target = |t: &str| Target::from_str(t).map_err(ProbeToError::Target);
        if let Some(rest) = s.strip_prefix("svc:") {
            let (key, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| ProbeToError::ServiceWithoutPort(s.to_string()))?;
            // The same `svc:` syntax scenarios use.
            target(&format!("svc:{key}"))?;
            return Ok(ProbeTo::Service {
                key: key.to_string(),
                probe: port.parse()?,
            });
        }
        if s.starts_with("ip:") {
            return match target(s)? {
                Target::Ip(ip) => Ok(ProbeTo::Ip(ip)),
                _ => Err(ProbeToError::NotAnAddress(s.to_string())),
            };
        }
        Err(ProbeToError::Syntax(s.to_string()))
    }
}

/// One client's answer for a `--probe-to` target, as `plan` resolves and predicts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReachJson {
    /// The client, `namespace/name`.
    pub from: String,
    /// `allowed` or `blocked`; absent when the probe cannot be predicted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Where the packets go (Service backends and target ports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// Why it cannot be predicted (no backends, backends that disagree, DNS, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why (with `--explain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// All clients' answers for one `--probe-to` target and probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetJson {
    /// `svc:NAMESPACE/NAME:PORT/PROTOCOL` or `ip:ADDRESS:PORT/PROTOCOL`.
    pub target: String,
    /// One entry per client.
    pub results: Vec<ReachJson>,
}

impl View<'_> {
    /// Every client's answer for `targets`, resolved and predicted as `plan` does
    /// ([`crate::scenario::plan::predict_with`]). An `ip:` target is asked on each probe.
    pub fn reach(&self, targets: &[ProbeTo]) -> Vec<TargetJson> {
        use crate::scenario::format::{Expectation, Probe, ScenarioProbeKind};
        let kind = |p: Protocol| match p {
            Protocol::Tcp => ScenarioProbeKind::Tcp,
            Protocol::Udp => ScenarioProbeKind::Udp,
            Protocol::Sctp => ScenarioProbeKind::Sctp,
            Protocol::Icmp => ScenarioProbeKind::Icmp,
        };
        let mut asked: Vec<(String, String, ProbePort)> = Vec::new();
        for t in targets {
            match t {
                ProbeTo::Service { key, probe } => {
                    asked.push((format!("svc:{key}:{probe}"), format!("svc:{key}"), *probe))
                }
                ProbeTo::Ip(ip) => {
                    for &probe in &self.probes {
                        asked.push((format!("ip:{ip}:{probe}"), format!("ip:{ip}"), probe));
                    }
                }
            }
        }
        asked
            .into_iter()
            .map(|(label, to, probe)| TargetJson {
                target: label,
                results: self
                    .from
                    .iter()
                    .map(|&f| {
                        let asked = Probe {
                            from: self.key(f),
                            to: to.clone(),
                            port: probe.port,
                            kind: kind(probe.protocol),
                            method: None,
                            path: None,
                            timeout: None,
                            expect: Expectation::Allowed,
                        };
                        match crate::scenario::plan::predict_with(
                            self.analysis,
                            self.oracle,
                            &asked,
                        ) {
                            Ok(p) => ReachJson {
                                from: self.key(f),
                                outcome: Some(p.outcome.to_string()),
                                resolution: Some(p.resolution.to_string()),
                                error: None,
                                reason: self.explain.then_some(p.reason),
                            },
                            Err(e) => ReachJson {
                                from: self.key(f),
                                outcome: None,
                                resolution: None,
                                error: Some(e.to_string()),
                                reason: None,
                            },
                        }
                    })
                    .collect(),
            })
            .collect()
    }

    /// The `--probe-to` answers as text: per target, the clients allowed, blocked, and those
    /// whose probe cannot be predicted (with why); with `explain`, one line per client.
    pub fn write_reach(&self, targets: &[TargetJson], out: &mut dyn Write) -> std::io::Result<()> {
        if let Some(banner) = self.notes.banner() {
            writeln!(out, "{banner}\n")?;
        }
        for t in targets {
            let resolution = t.results.iter().find_map(|r| r.resolution.as_deref());
            match resolution {
                Some(r) => writeln!(out, "{} ({r})", t.target)?,
                None => writeln!(out, "{}", t.target)?,
            }
            for outcome in ["allowed", "blocked"] {
                let clients: Vec<&ReachJson> = t
                    .results
                    .iter()
                    .filter(|r| r.outcome.as_deref() == Some(outcome))
                    .collect();
                if clients.is_empty() {
                    continue;
                }
                if self.explain {
                    writeln!(out, "  {outcome}:")?;
                    for c in clients {
                        writeln!(out, "    {}: {}", c.from, c.reason.as_deref().unwrap_or(""))?;
                    }
                } else {
                    let names: Vec<&str> = clients.iter().map(|c| c.from.as_str()).collect();
                    writeln!(out, "  {outcome}: {}", names.join(", "))?;
                }
            }
            for r in t.results.iter().filter(|r| r.error.is_some()) {
                writeln!(
                    out,
                    "  not predicted from {}: {}",
                    r.from,
                    r.error.as_deref().unwrap_or("")
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_to_targets_parse_and_each_refusal_says_what_was_expected() {
        assert_eq!(
            "svc:shop/web:80".parse(),
            Ok(ProbeTo::Service {
                key: "shop/web".into(),
                probe: "80/TCP".parse().unwrap()
            })
        );
        assert_eq!(
            "ip:192.0.2.1".parse(),
            Ok(ProbeTo::Ip("192.0.2.1".parse().unwrap()))
        );
        assert_eq!(
            "svc:shop/web".parse::<ProbeTo>(),
            Err(ProbeToError::ServiceWithoutPort("svc:shop/web".into()))
        );
        assert_eq!(
            "web:80".parse::<ProbeTo>(),
            Err(ProbeToError::Syntax("web:80".into()))
        );
        assert!(matches!(
            "svc:shop/web:http".parse::<ProbeTo>(),
            Err(ProbeToError::Port(ProbePortError::NotAPort { .. }))
        ));
        let bad_ip = "ip:not-an-address".parse::<ProbeTo>().unwrap_err();
        assert!(matches!(bad_ip, ProbeToError::Target(_)), "{bad_ip:?}");
        assert!(bad_ip.to_string().contains("not-an-address"), "{bad_ip}");
    }
}
