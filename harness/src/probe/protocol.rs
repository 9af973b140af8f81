//! The wire format shared by the script generator and the parser (see the module docs of
//! [`crate::probe`]).

use std::time::Duration;

use super::ProbeKind;

/// First word of a result line.
pub(crate) const RESULT_TAG: &str = "NPH";
/// The line the script prints after every probe ended.
pub(crate) const END_LINE: &str = "NPH-END";
/// First word of the line the script prints when it cannot run at all.
pub(crate) const FATAL_TAG: &str = "NPH-FATAL";
/// How many bytes of a probe's output its result line carries.
pub(crate) const EVIDENCE_BYTES: usize = 1024;
/// The exit status the shell reports for a probe killed at the hard cap (128 + SIGKILL).
pub(crate) const KILLED_STATUS: i32 = 137;
/// The exit status the shell reports when the probe command does not exist.
pub(crate) const NOT_FOUND_STATUS: i32 = 127;
/// The most a probe may wait.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// The command a probe ran, as named in its result line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// The small busybox `nc` (no `-z`), stdin at EOF.
    Nc,
    /// The "nc 1.10" busybox `nc` with `-v -v -z`.
    NcZero,
    /// busybox `nslookup` used as a UDP datagram sender.
    UdpNslookup,
    /// busybox `wget`.
    Wget,
    /// busybox `ping`.
    Ping,
    /// busybox `nslookup` as a DNS probe.
    Nslookup,
    /// `/agnhost connect`.
    AgnhostConnect,
}

impl Method {
    const ALL: [Method; 7] = [
        Method::Nc,
        Method::NcZero,
        Method::UdpNslookup,
        Method::Wget,
        Method::Ping,
        Method::Nslookup,
        Method::AgnhostConnect,
    ];

    /// The word in the result line.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Method::Nc => "nc",
            Method::NcZero => "nc-z",
            Method::UdpNslookup => "nslookup-udp",
            Method::Wget => "wget",
            Method::Ping => "ping",
            Method::Nslookup => "nslookup",
            Method::AgnhostConnect => "agnhost",
        }
    }

    /// The method a result line names, if it is one.
    pub(crate) fn from_token(token: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.token() == token)
    }

    /// Whether this method can have run a probe of `kind` (a mismatch means the output does not
    /// belong to this batch).
    pub(crate) fn carries(self, kind: &ProbeKind) -> bool {
        match self {
            Method::Nc | Method::NcZero => matches!(kind, ProbeKind::Tcp),
            Method::UdpNslookup => matches!(kind, ProbeKind::Udp),
            Method::Wget => matches!(kind, ProbeKind::Http { .. }),
            Method::Ping => matches!(kind, ProbeKind::Icmp),
            Method::Nslookup => matches!(kind, ProbeKind::Dns { .. }),
            Method::AgnhostConnect => {
                matches!(kind, ProbeKind::Tcp | ProbeKind::Udp | ProbeKind::Sctp)
            }
        }
    }
}

/// A timeout in the whole seconds busybox tools take: rounded up, at least 1.
pub(crate) fn whole_seconds(timeout: Duration) -> u64 {
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    secs.max(1)
}

/// Decodes the evidence field: an even number of hex digits, either case.
pub(crate) fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            u8::try_from(high * 16 + low).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::sub_second(Duration::from_millis(1), 1)]
    #[case::one(Duration::from_secs(1), 1)]
    #[case::rounds_up(Duration::from_millis(1500), 2)]
    #[case::just_over(Duration::from_millis(2001), 3)]
    #[case::exact(Duration::from_secs(5), 5)]
    fn whole_seconds_rounds_up(#[case] timeout: Duration, #[case] secs: u64) {
        assert_eq!(whole_seconds(timeout), secs);
    }

    #[rstest]
    #[case::empty("", Some(vec![]))]
    #[case::lower("6e630a", Some(b"nc\n".to_vec()))]
    #[case::upper("6E630A", Some(b"nc\n".to_vec()))]
    #[case::odd("6e6", None)]
    #[case::not_hex("zz", None)]
    #[case::sign("+1", None)]
    fn decode_hex_cases(#[case] hex: &str, #[case] bytes: Option<Vec<u8>>) {
        assert_eq!(decode_hex(hex), bytes);
    }

    #[test]
    fn tokens_round_trip_and_are_distinct() {
        for method in Method::ALL {
            assert_eq!(Method::from_token(method.token()), Some(method));
        }
        assert_eq!(Method::from_token("curl"), None);
    }
}
