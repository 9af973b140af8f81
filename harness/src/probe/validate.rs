//! Checks a batch before it is scripted or parsed. The character sets are strict on purpose:
//! the script also single-quotes every value, but nothing that could be shell syntax, or a
//! command-line option (a leading `-`), should get that far.

use std::collections::HashSet;
use std::net::IpAddr;

use super::protocol::MAX_TIMEOUT;
use super::{ProbeError, ProbeKind, ProbeSpec};

/// Longest probe id.
const MAX_ID_LEN: usize = 64;
/// Longest HTTP path (with query).
const MAX_PATH_LEN: usize = 1024;

/// Checks every probe and that ids are unique.
pub(crate) fn validate_batch(probes: &[ProbeSpec]) -> Result<(), ProbeError> {
    let mut seen = HashSet::new();
    for probe in probes {
        validate_probe(probe)?;
        if !seen.insert(probe.id.as_str()) {
            return Err(ProbeError::DuplicateId(probe.id.clone()));
        }
    }
    Ok(())
}

fn validate_probe(probe: &ProbeSpec) -> Result<(), ProbeError> {
    let invalid = |reason: String| ProbeError::InvalidSpec {
        id: probe.id.clone(),
        reason,
    };
    if probe.id.is_empty()
        || probe.id.len() > MAX_ID_LEN
        || !probe
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    {
        return Err(invalid(format!(
            "the id must be 1 to {MAX_ID_LEN} characters of [A-Za-z0-9_.-]"
        )));
    }
    if !is_host(&probe.host) {
        return Err(invalid(format!(
            "host {:?} is neither an IP address nor a DNS name",
            probe.host
        )));
    }
    if probe.timeout.is_zero() || probe.timeout > MAX_TIMEOUT {
        return Err(invalid(format!(
            "timeout {:?} is not in (0, {MAX_TIMEOUT:?}]",
            probe.timeout
        )));
    }
    if probe.port == Some(0) {
        return Err(invalid("port 0 cannot be probed".to_string()));
    }
    match &probe.kind {
        ProbeKind::Tcp | ProbeKind::Udp | ProbeKind::Sctp if probe.port.is_none() => {
            Err(invalid(format!("{} probes need a port", probe.kind.name())))
        }
        ProbeKind::Icmp if probe.port.is_some() => {
            Err(invalid("icmp probes take no port".to_string()))
        }
        ProbeKind::Http { path, .. } if !is_http_path(path) => Err(invalid(format!(
            "http path {path:?} must start with '/' and have at most {MAX_PATH_LEN} characters \
             of [A-Za-z0-9-._~/?=&%+,:@]"
        ))),
        ProbeKind::Dns { name } if !is_host(name) => {
            Err(invalid(format!("dns name {name:?} is not a DNS name")))
        }
        _ => Ok(()),
    }
}

/// An IP address, or a DNS name: dot-separated labels of 1 to 63 characters of
/// `[A-Za-z0-9_-]`, none starting with `-`, at most 253 characters, optionally one trailing dot.
fn is_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// An absolute path with an optional query, from a conservative subset of RFC 3986 characters.
fn is_http_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= MAX_PATH_LEN
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/?=&%+,:@".contains(&b))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rstest::rstest;

    use super::*;
    use crate::probe::HttpMethod;

    fn probe(id: &str, kind: ProbeKind, host: &str, port: Option<u16>) -> ProbeSpec {
        ProbeSpec {
            id: id.to_string(),
            kind,
            host: host.to_string(),
            port,
            timeout: Duration::from_secs(1),
        }
    }

    #[rstest]
    #[case::ipv4("10.0.0.1")]
    #[case::ipv6("fd00::1")]
    #[case::ipv6_loopback("::1")]
    #[case::name("server.ns.svc.cluster.local")]
    #[case::fqdn("server.ns.svc.cluster.local.")]
    #[case::single_label("localhost")]
    #[case::underscore("_sip._udp.example")]
    fn hosts_accepted(#[case] host: &str) {
        assert!(is_host(host), "{host}");
    }

    #[rstest]
    #[case::empty("")]
    #[case::dot(".")]
    #[case::option("-oProxyCommand=x")]
    #[case::label_option("a.-b")]
    #[case::semicolon("a;reboot")]
    #[case::subst("$(id)")]
    #[case::backtick("`id`")]
    #[case::quote("a'b")]
    #[case::space("a b")]
    #[case::newline("a\nb")]
    #[case::empty_label("a..b")]
    #[case::zone("fe80::1%eth0")]
    #[case::url("http://x")]
    #[case::long_label(&"a".repeat(64))]
    #[case::long_name(&["abc"; 64].join("."))]
    fn hosts_refused(#[case] host: &str) {
        assert!(!is_host(host), "{host:?}");
    }

    #[rstest]
    #[case::root("/")]
    #[case::query("/api/v1?a=b&c=d%20e")]
    #[case::misc("/~x/a-b_c.d+e,f:g@h")]
    fn paths_accepted(#[case] path: &str) {
        assert!(is_http_path(path));
    }

    #[rstest]
    #[case::relative("x")]
    #[case::empty("")]
    #[case::quote("/a'b")]
    #[case::dollar("/$(id)")]
    #[case::space("/a b")]
    #[case::semicolon("/a;b")]
    #[case::fragment("/a#b")]
    #[case::backslash("/a\\b")]
    #[case::too_long(&format!("/{}", "a".repeat(MAX_PATH_LEN)))]
    fn paths_refused(#[case] path: &str) {
        assert!(!is_http_path(path), "{path:?}");
    }

    #[rstest]
    #[case::tcp_without_port(probe("a", ProbeKind::Tcp, "10.0.0.1", None), "need a port")]
    #[case::udp_without_port(probe("a", ProbeKind::Udp, "10.0.0.1", None), "need a port")]
    #[case::sctp_without_port(probe("a", ProbeKind::Sctp, "10.0.0.1", None), "need a port")]
    #[case::icmp_with_port(probe("a", ProbeKind::Icmp, "10.0.0.1", Some(1)), "no port")]
    #[case::port_zero(probe("a", ProbeKind::Tcp, "10.0.0.1", Some(0)), "port 0")]
    #[case::bad_id(probe("a b", ProbeKind::Icmp, "10.0.0.1", None), "the id")]
    #[case::empty_id(probe("", ProbeKind::Icmp, "10.0.0.1", None), "the id")]
    #[case::long_id(probe(&"i".repeat(65), ProbeKind::Icmp, "10.0.0.1", None), "the id")]
    #[case::bad_host(probe("a", ProbeKind::Icmp, "x;y", None), "host")]
    #[case::bad_path(
        probe("a", ProbeKind::Http { method: HttpMethod::Get, path: "/'".into() }, "h", None),
        "http path"
    )]
    #[case::bad_dns_name(
        probe("a", ProbeKind::Dns { name: "-type=mx".into() }, "10.0.0.10", None),
        "dns name"
    )]
    fn invalid_specs(#[case] spec: ProbeSpec, #[case] reason: &str) {
        match validate_batch(&[spec]) {
            Err(ProbeError::InvalidSpec { reason: got, .. }) => {
                assert!(got.contains(reason), "{got:?} lacks {reason:?}")
            }
            other => panic!("expected InvalidSpec, got {other:?}"),
        }
    }

    #[rstest]
    #[case::zero(Duration::ZERO)]
    #[case::too_long(MAX_TIMEOUT + Duration::from_millis(1))]
    fn timeouts_out_of_range(#[case] timeout: Duration) {
        let spec = ProbeSpec {
            timeout,
            ..probe("a", ProbeKind::Icmp, "10.0.0.1", None)
        };
        assert!(matches!(
            validate_batch(&[spec]),
            Err(ProbeError::InvalidSpec { .. })
        ));
    }

    #[test]
    fn duplicate_ids_refused() {
        let a = probe("dup", ProbeKind::Icmp, "10.0.0.1", None);
        assert_eq!(
            validate_batch(&[a.clone(), a]),
            Err(ProbeError::DuplicateId("dup".to_string()))
        );
    }

    #[test]
    fn defaults_and_optional_ports_accepted() {
        let batch = [
            probe("icmp", ProbeKind::Icmp, "10.0.0.1", None),
            probe(
                "http",
                ProbeKind::Http {
                    method: HttpMethod::Post,
                    path: "/".into(),
                },
                "web.ns.svc",
                None,
            ),
            probe(
                "dns",
                ProbeKind::Dns {
                    name: "kubernetes.default.svc.cluster.local".into(),
                },
                "10.96.0.10",
                None,
            ),
            probe("tcp", ProbeKind::Tcp, "::1", Some(65535)),
        ];
        assert_eq!(validate_batch(&batch), Ok(()));
        assert_eq!(batch[1].target_port(), Some(80));
        assert_eq!(batch[2].target_port(), Some(53));
        assert_eq!(batch[0].target_port(), None);
        assert_eq!(batch[3].target_port(), Some(65535));
    }
}
