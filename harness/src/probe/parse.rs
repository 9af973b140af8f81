//! Reads a batch script's stdout back into one result per probe, and judges each probe's evidence
//! (the rules are tabled in the docs of [`crate::probe`]).

use std::collections::HashMap;

use super::protocol::{
    END_LINE, FATAL_TAG, KILLED_STATUS, Method, NOT_FOUND_STATUS, RESULT_TAG, decode_hex,
};
use super::validate::validate_batch;
use super::{Outcome, ProbeError, ProbeKind, ProbeResult, ProbeSpec};

/// How many stray lines the detail of a probe without result quotes.
const STRAY_LINES_QUOTED: usize = 5;

/// One result line, split.
struct ResultLine<'a> {
    id: &'a str,
    method: &'a str,
    status: i32,
    evidence: String,
}

/// Matches the stdout of a [`super::batch_script`] run to `probes` (the same batch): one
/// [`ProbeResult`] per probe, in the order of `probes`.
///
/// Each probe needs exactly one result line. A probe without one gets [`Outcome::Error`] (`no
/// result line: the exec was cut short?`, or why the batch aborted); a probe with several gets
/// [`Outcome::Error`] listing them. Lines outside the protocol and result lines for unknown ids
/// are logged as warnings and quoted in the detail of probes without a result line; they never
/// make the whole parse fail. `Err` means `probes` itself is invalid (see [`ProbeError`]).
pub fn parse_output(stdout: &str, probes: &[ProbeSpec]) -> Result<Vec<ProbeResult>, ProbeError> {
    validate_batch(probes)?;
    let index: HashMap<&str, usize> = probes
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let mut lines_of: Vec<Vec<ResultLine<'_>>> = probes.iter().map(|_| Vec::new()).collect();
    let mut stray = Vec::new();
    let mut ended = false;
    let mut fatal = None;

    for line in stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line == END_LINE {
            ended = true;
        } else if let Some(reason) = line
            .strip_prefix(FATAL_TAG)
            .filter(|r| r.is_empty() || r.starts_with(' '))
        {
            fatal = Some(reason.trim().to_string());
        } else if let Some(result) = split_result_line(line) {
            match index.get(result.id) {
                Some(&i) => lines_of[i].push(result),
                None => stray.push(format!("result for unknown probe id: {line}")),
            }
        } else {
            stray.push(line.to_string());
        }
    }
    for line in &stray {
        tracing::warn!(line = %line, "probe batch printed a line outside the protocol");
    }

    Ok(probes
        .iter()
        .zip(lines_of)
        .map(|(probe, mut lines)| {
            let (outcome, detail) = match lines.len() {
                1 => {
                    let line = lines.remove(0);
                    (judge(probe, &line), evidence_detail(&line))
                }
                0 => missing(ended, fatal.as_deref(), &stray),
                n => (
                    Outcome::Error(format!("{n} result lines for one probe")),
                    lines
                        .iter()
                        .map(evidence_detail)
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
            };
            ProbeResult {
                id: probe.id.clone(),
                outcome,
                detail,
            }
        })
        .collect())
}

/// `NPH <id> <method> <status> [<hex>]`, or `None` for anything else (including a line cut short
/// in the middle of its evidence).
fn split_result_line(line: &str) -> Option<ResultLine<'_>> {
    let mut fields = line.split_ascii_whitespace();
    if fields.next()? != RESULT_TAG {
        return None;
    }
    let id = fields.next()?;
    let method = fields.next()?;
    let status = fields.next()?.parse().ok()?;
    let evidence = decode_hex(fields.next().unwrap_or(""))?;
    if fields.next().is_some() {
        return None;
    }
    Some(ResultLine {
        id,
        method,
        status,
        evidence: String::from_utf8_lossy(&evidence).trim().to_string(),
    })
}

fn evidence_detail(line: &ResultLine<'_>) -> String {
    let head = format!("[{} exit {}]", line.method, line.status);
    if line.evidence.is_empty() {
        format!("{head} no output")
    } else {
        format!("{head} {}", line.evidence)
    }
}

fn missing(ended: bool, fatal: Option<&str>, stray: &[String]) -> (Outcome, String) {
    let reason = match (fatal, ended) {
        (Some(reason), _) => format!("the probe batch aborted: {reason}"),
        (None, true) => "no result line, although the batch finished".to_string(),
        (None, false) => "no result line: the exec was cut short?".to_string(),
    };
    let mut detail: Vec<&str> = stray
        .iter()
        .take(STRAY_LINES_QUOTED)
        .map(String::as_str)
        .collect();
    if stray.len() > STRAY_LINES_QUOTED {
        detail.push("…");
    }
    (Outcome::Error(reason), detail.join("\n"))
}

/// Judges one probe's evidence.
fn judge(probe: &ProbeSpec, line: &ResultLine<'_>) -> Outcome {
    let Some(method) = Method::from_token(line.method) else {
        return Outcome::Error(format!("unknown probe method {:?}", line.method));
    };
    if !method.carries(&probe.kind) {
        return Outcome::Error(format!(
            "method {} cannot have run a probe of kind {}",
            line.method,
            probe.kind.name()
        ));
    }
    let evidence = Evidence {
        status: line.status,
        text: &line.evidence,
    };
    let outcome = match method {
        Method::Nc | Method::NcZero => judge_nc(method, &evidence),
        Method::UdpNslookup => judge_udp_nslookup(&evidence),
        Method::Wget => judge_wget(&evidence),
        Method::Ping => judge_ping(&evidence),
        Method::Nslookup => judge_nslookup(probe, &evidence),
        Method::AgnhostConnect => judge_agnhost(&evidence),
    };
    outcome.unwrap_or_else(|| evidence.unexpected())
}

/// A probe's exit status and output.
struct Evidence<'a> {
    status: i32,
    text: &'a str,
}

impl Evidence<'_> {
    /// The first line containing `needle` (ASCII case-insensitive), trimmed.
    fn line_with(&self, needle: &str) -> Option<&str> {
        let needle = needle.to_ascii_lowercase();
        self.text
            .lines()
            .find(|l| l.to_ascii_lowercase().contains(&needle))
            .map(str::trim)
    }

    fn has(&self, needle: &str) -> bool {
        self.line_with(needle).is_some()
    }

    fn killed(&self) -> bool {
        self.status == KILLED_STATUS
    }

    /// The host name did not resolve (busybox: `bad address 'NAME'`).
    fn bad_address(&self) -> Option<Outcome> {
        self.line_with("bad address")
            .map(|l| Outcome::DnsFailure(l.to_string()))
    }

    /// Active refusal: TCP RST or ICMP port unreachable.
    fn refused(&self) -> Option<Outcome> {
        self.has("connection refused").then_some(Outcome::Refused)
    }

    /// Rejected on the way with an ICMP error other than port unreachable: `EHOSTUNREACH` (host
    /// unreachable, administratively prohibited) or `ENETUNREACH`, as the tools print them
    /// (busybox through `strerror`, agnhost through Go's `syscall.Errno`, lower case).
    fn unreachable(&self) -> Option<Outcome> {
        [
            "no route to host",
            "host is unreachable",
            "network is unreachable",
        ]
        .into_iter()
        .find_map(|needle| self.line_with(needle))
        .map(|line| Outcome::Unreachable(line.to_string()))
    }

    /// A firewall in the source pod's network namespace rejected the send (EPERM).
    fn locally_filtered(&self) -> Option<Outcome> {
        self.has("operation not permitted")
            .then_some(Outcome::Blocked)
    }

    /// Output no rule explains.
    fn unexpected(&self) -> Outcome {
        let first = self.text.lines().map(str::trim).find(|l| !l.is_empty());
        Outcome::Error(match (self.status, first) {
            (NOT_FOUND_STATUS, Some(line)) => format!("probe tool not found: {line}"),
            (status, Some(line)) => format!("unexpected output (exit {status}): {line}"),
            (status, None) => format!("exit {status} without output"),
        })
    }
}

fn judge_nc(method: Method, e: &Evidence<'_>) -> Option<Outcome> {
    if e.status == 0 {
        return Some(Outcome::Allowed);
    }
    e.bad_address()
        .or_else(|| e.refused())
        .or_else(|| e.unreachable())
        .or_else(|| e.has("timed out").then_some(Outcome::Blocked))
        .or_else(|| e.locally_filtered())
        .or_else(|| {
            // The small nc's -w alarm covers resolution and connect, and `-e busybox true`
            // ends it as soon as it connected: still running at the cap, a second after its
            // own alarm, it proved nothing, and a stall is never read as a connection. The
            // "nc 1.10" one resolves before arming its alarm, so a kill there is a resolution
            // that hung (documented as looking like a drop).
            e.killed().then(|| match method {
                Method::Nc => Outcome::Error(
                    "still running a second after its own timeout (killed at the cap): it \
                     neither connected nor timed out"
                        .into(),
                ),
                _ => Outcome::Blocked,
            })
        })
}

fn judge_udp_nslookup(e: &Evidence<'_>) -> Option<Outcome> {
    // nslookup prints "Server:" as soon as any datagram comes back, whatever it holds.
    if e.text
        .lines()
        .any(|l| l.trim_start().starts_with("Server:"))
    {
        return Some(Outcome::Allowed);
    }
    e.bad_address()
        .or_else(|| e.refused())
        .or_else(|| e.unreachable())
        .or_else(|| e.locally_filtered())
        .or_else(|| {
            (e.has("no servers could be reached") || e.killed()).then_some(Outcome::Blocked)
        })
}

fn judge_wget(e: &Evidence<'_>) -> Option<Outcome> {
    if let Some(code) = last_http_status(e.text) {
        return Some(Outcome::HttpStatus(code));
    }
    e.bad_address()
        .or_else(|| e.refused())
        .or_else(|| e.unreachable())
        .or_else(|| e.locally_filtered())
        .or_else(|| (e.has("timed out") || e.killed()).then_some(Outcome::Blocked))
}

/// The code of the last `HTTP/x.y NNN` in `text` (the final response after redirects; found in
/// `-S` header dumps and in `server returned error: HTTP/1.1 503 …`).
fn last_http_status(text: &str) -> Option<u16> {
    text.rmatch_indices("HTTP/").find_map(|(at, _)| {
        let rest = &text[at + "HTTP/".len()..];
        let version_len = rest.find(|c: char| c.is_whitespace())?;
        let version = &rest[..version_len];
        if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return None;
        }
        let code = rest[version_len..].trim_start_matches(' ');
        let digits = code.get(..3)?;
        let after = code[3..].chars().next();
        (digits.bytes().all(|b| b.is_ascii_digit()) && after.is_none_or(|c| !c.is_ascii_digit()))
            .then(|| digits.parse().ok())
            .flatten()
    })
}

fn judge_ping(e: &Evidence<'_>) -> Option<Outcome> {
    let received = e.text.lines().find_map(|l| {
        let (count, _) = l.split_once(" packets received")?;
        count
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()?
            .parse::<u32>()
            .ok()
    });
    if e.status == 0 || received.is_some_and(|n| n > 0) {
        return Some(Outcome::Allowed);
    }
    e.bad_address()
        .or_else(|| e.locally_filtered())
        .or_else(|| (received == Some(0) || e.killed()).then_some(Outcome::Blocked))
}

fn judge_nslookup(probe: &ProbeSpec, e: &Evidence<'_>) -> Option<Outcome> {
    let lines = || e.text.lines().map(str::trim);
    if lines().any(|l| l.starts_with("Name:")) {
        return Some(Outcome::Allowed);
    }
    // "** server can't find NAME: NXDOMAIN" (any rcode); "*** Can't find NAME: Parse error".
    if let Some(line) = e.line_with("can't find") {
        let reason = line.trim_start_matches('*').trim();
        let reason = reason.strip_prefix("server can't find ").unwrap_or(reason);
        return Some(Outcome::DnsFailure(reason.to_string()));
    }
    let replied = lines().any(|l| l.starts_with("Server:"));
    e.bad_address()
        .or_else(|| e.refused())
        .or_else(|| e.unreachable())
        .or_else(|| e.locally_filtered())
        .or_else(|| {
            replied.then(|| {
                let name = match &probe.kind {
                    ProbeKind::Dns { name } => name.as_str(),
                    _ => "the name",
                };
                Outcome::DnsFailure(format!("the server replied without an answer for {name}"))
            })
        })
        .or_else(|| {
            (e.has("no servers could be reached") || e.killed()).then_some(Outcome::Blocked)
        })
}

fn judge_agnhost(e: &Evidence<'_>) -> Option<Outcome> {
    if e.status == 0 {
        return Some(Outcome::Allowed);
    }
    let tagged = |tag: &str| e.text.lines().map(str::trim).find(|l| l.starts_with(tag));
    if tagged("TIMEOUT").is_some() {
        return Some(Outcome::Blocked);
    }
    if tagged("REFUSED").is_some() {
        return Some(Outcome::Refused);
    }
    if let Some(line) = tagged("DNS:") {
        return Some(Outcome::DnsFailure(line["DNS:".len()..].trim().to_string()));
    }
    // An SCTP ABORT comes back as "OTHER: … connection refused"; an ICMP host unreachable or
    // admin-prohibited as "OTHER: … no route to host" (TCP) or "UNKNOWN: … no route to host"
    // (UDP: kubernetes/kubernetes test/images/agnhost/connect/connect.go, connectTCP and
    // parseUDPErrorAndExit).
    e.refused()
        .or_else(|| e.unreachable())
        .or_else(|| e.locally_filtered())
        .or_else(|| e.killed().then_some(Outcome::Blocked))
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::time::Duration;

    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;
    use crate::probe::HttpMethod;

    fn spec(id: &str, kind: ProbeKind) -> ProbeSpec {
        let port = match kind {
            ProbeKind::Icmp => None,
            _ => Some(80),
        };
        ProbeSpec {
            id: id.to_string(),
            kind,
            host: "10.0.0.1".to_string(),
            port,
            timeout: Duration::from_secs(1),
        }
    }

    fn hex(text: &str) -> String {
        text.bytes().fold(String::new(), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
    }

    /// A result line as the script prints it.
    fn line(id: &str, method: &str, status: i32, output: &str) -> String {
        format!("NPH {id} {method} {status} {}\n", hex(output))
    }

    fn tcp() -> ProbeKind {
        ProbeKind::Tcp
    }
    fn udp() -> ProbeKind {
        ProbeKind::Udp
    }
    fn sctp() -> ProbeKind {
        ProbeKind::Sctp
    }
    fn http() -> ProbeKind {
        ProbeKind::Http {
            method: HttpMethod::Get,
            path: "/".into(),
        }
    }
    fn icmp() -> ProbeKind {
        ProbeKind::Icmp
    }
    fn dns() -> ProbeKind {
        ProbeKind::Dns {
            name: "web.ns.svc.cluster.local".into(),
        }
    }
    fn dns_failure(message: &str) -> Outcome {
        Outcome::DnsFailure(message.to_string())
    }

    const NSLOOKUP_TIMED_OUT: &str = ";; connection timed out; no servers could be reached\n";
    const WGET_HEADERS_200: &str =
        "  HTTP/1.1 200 OK\n  Content-Type: text/plain\n  Content-Length: 2\n  \n";
    const WGET_REDIRECT_THEN_404: &str = "  HTTP/1.1 301 Moved Permanently\n  Location: /x\n  \n\
         \x20 HTTP/1.1 404 Not Found\nwget: server returned error: HTTP/1.1 404 Not Found\n";
    const PING_OK: &str = "PING 10.0.0.1 (10.0.0.1): 56 data bytes\n\
         64 bytes from 10.0.0.1: seq=0 ttl=64 time=0.1 ms\n\n--- 10.0.0.1 ping statistics ---\n\
         1 packets transmitted, 1 packets received, 0% packet loss\n";
    const PING_LOST: &str = "PING 10.0.0.1 (10.0.0.1): 56 data bytes\n\n\
         --- 10.0.0.1 ping statistics ---\n1 packets transmitted, 0 packets received, 100% packet loss\n";
    const NSLOOKUP_OK: &str = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n\
         Name:\tweb.ns.svc.cluster.local\nAddress: 10.96.7.7\n\n";
    const NSLOOKUP_NX: &str = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n\
         ** server can't find web.ns.svc.cluster.local: NXDOMAIN\n\n\
         ** server can't find web.ns.svc.cluster.local: NXDOMAIN\n";

    #[rstest]
    // TCP, small busybox nc (Debian).
    #[case::nc_allowed(tcp(), "nc", 0, "", Outcome::Allowed)]
    #[case::nc_allowed_with_banner(tcp(), "nc", 0, "SSH-2.0-x\n", Outcome::Allowed)]
    #[case::nc_refused(
        tcp(),
        "nc",
        1,
        "nc: can't connect to remote host (10.0.0.1): Connection refused\n",
        Outcome::Refused
    )]
    #[case::nc_blocked(tcp(), "nc", 1, "nc: timed out\n", Outcome::Blocked)]
    #[case::nc_stalled_past_its_alarm(tcp(), "nc", 137, "", Outcome::Error(
        "still running a second after its own timeout (killed at the cap): it neither connected nor timed out".into()))]
    #[case::nc_bad_address(
        tcp(),
        "nc",
        1,
        "nc: bad address 'web.ns'\n",
        dns_failure("nc: bad address 'web.ns'")
    )]
    #[case::nc_eperm(
        tcp(),
        "nc",
        1,
        "nc: can't connect to remote host (10.0.0.1): Operation not permitted\n",
        Outcome::Blocked
    )]
    #[case::nc_no_route(tcp(), "nc", 1, "nc: can't connect to remote host (10.0.0.1): No route to host\n",
        Outcome::Unreachable("nc: can't connect to remote host (10.0.0.1): No route to host".into()))]
    #[case::nc_net_unreachable(tcp(), "nc", 1, "nc: can't connect to remote host (10.0.0.1): Network is unreachable\n",
        Outcome::Unreachable("nc: can't connect to remote host (10.0.0.1): Network is unreachable".into()))]
    #[case::nc_missing(tcp(), "nc", 127, "sh: busybox: not found\n", Outcome::Error("probe tool not found: sh: busybox: not found".into()))]
    // TCP, "nc 1.10" busybox nc with -v -v -z.
    #[case::ncz_allowed(
        tcp(),
        "nc-z",
        0,
        "10.0.0.1 (10.0.0.1:80) open\nsent 0, rcvd 0\n",
        Outcome::Allowed
    )]
    #[case::ncz_refused(
        tcp(),
        "nc-z",
        1,
        "nc: 10.0.0.1 (10.0.0.1:80): Connection refused\nsent 0, rcvd 0\n",
        Outcome::Refused
    )]
    #[case::ncz_blocked(
        tcp(),
        "nc-z",
        1,
        "nc: 10.0.0.1 (10.0.0.1:80): Connection timed out\nsent 0, rcvd 0\n",
        Outcome::Blocked
    )]
    #[case::ncz_killed(tcp(), "nc-z", 137, "", Outcome::Blocked)]
    #[case::ncz_no_route(
        tcp(),
        "nc-z",
        1,
        "nc: 10.0.0.1 (10.0.0.1:80): No route to host\nsent 0, rcvd 0\n",
        Outcome::Unreachable("nc: 10.0.0.1 (10.0.0.1:80): No route to host".into())
    )]
    // UDP with busybox nslookup.
    #[case::udp_allowed(
        udp(),
        "nslookup-udp",
        1,
        "Server:\t\t10.0.0.1\nAddress:\t10.0.0.1:80\n\n;; connection timed out; no servers could be reached\n",
        Outcome::Allowed
    )]
    #[case::udp_allowed_dns_reply(
        udp(),
        "nslookup-udp",
        0,
        "Server:\t\t10.0.0.1\nAddress:\t10.0.0.1:80\n\n",
        Outcome::Allowed
    )]
    #[case::udp_refused_read(
        udp(),
        "nslookup-udp",
        1,
        "nslookup: read: Connection refused\n;; connection timed out; no servers could be reached\n",
        Outcome::Refused
    )]
    #[case::udp_refused_write(
        udp(),
        "nslookup-udp",
        1,
        "nslookup: write to '10.0.0.1': Connection refused\n",
        Outcome::Refused
    )]
    #[case::udp_blocked(udp(), "nslookup-udp", 1, NSLOOKUP_TIMED_OUT, Outcome::Blocked)]
    #[case::udp_prohibited(
        udp(),
        "nslookup-udp",
        1,
        "nslookup: read: No route to host\n;; connection timed out; no servers could be reached\n",
        Outcome::Unreachable("nslookup: read: No route to host".into())
    )]
    #[case::udp_killed(udp(), "nslookup-udp", 137, "", Outcome::Blocked)]
    #[case::udp_eperm(
        udp(),
        "nslookup-udp",
        1,
        "nslookup: write to '10.0.0.1': Operation not permitted\n",
        Outcome::Blocked
    )]
    #[case::udp_bad_address(
        udp(),
        "nslookup-udp",
        1,
        "nslookup: bad address 'x.ns'\n",
        dns_failure("nslookup: bad address 'x.ns'")
    )]
    // TCP, UDP and SCTP with agnhost connect.
    #[case::agnhost_allowed(tcp(), "agnhost", 0, "", Outcome::Allowed)]
    #[case::agnhost_timeout(tcp(), "agnhost", 1, "TIMEOUT\n", Outcome::Blocked)]
    #[case::agnhost_refused(tcp(), "agnhost", 1, "REFUSED\n", Outcome::Refused)]
    #[case::agnhost_dns(
        tcp(),
        "agnhost",
        1,
        "DNS: lookup web.ns: no such host\n",
        dns_failure("lookup web.ns: no such host")
    )]
    #[case::agnhost_no_route(tcp(), "agnhost", 1, "OTHER: dial tcp 10.0.0.1:80: connect: no route to host\n",
        Outcome::Unreachable("OTHER: dial tcp 10.0.0.1:80: connect: no route to host".into()))]
    #[case::agnhost_udp_no_route(udp(), "agnhost", 1, "UNKNOWN: read udp 10.0.0.2:4->10.0.0.1:80: read: no route to host\n",
        Outcome::Unreachable("UNKNOWN: read udp 10.0.0.2:4->10.0.0.1:80: read: no route to host".into()))]
    #[case::agnhost_other(tcp(), "agnhost", 1, "OTHER: dial tcp 10.0.0.1:80: connect: cannot assign requested address\n",
        Outcome::Error("unexpected output (exit 1): OTHER: dial tcp 10.0.0.1:80: connect: cannot assign requested address".into()))]
    #[case::agnhost_unknown(tcp(), "agnhost", 1, "UNKNOWN: address 10.0.0.1: missing port in address\n",
        Outcome::Error("unexpected output (exit 1): UNKNOWN: address 10.0.0.1: missing port in address".into()))]
    #[case::agnhost_udp_timeout(
        udp(),
        "agnhost",
        1,
        "TIMEOUT: read udp 10.0.0.2:4->10.0.0.1:80: i/o timeout\n",
        Outcome::Blocked
    )]
    #[case::agnhost_udp_refused(
        udp(),
        "agnhost",
        1,
        "REFUSED: read udp 10.0.0.2:4->10.0.0.1:80: read: connection refused\n",
        Outcome::Refused
    )]
    #[case::agnhost_sctp_allowed(sctp(), "agnhost", 0, "", Outcome::Allowed)]
    #[case::agnhost_sctp_abort(
        sctp(),
        "agnhost",
        1,
        "OTHER: connection refused\n",
        Outcome::Refused
    )]
    #[case::agnhost_sctp_timeout(sctp(), "agnhost", 1, "TIMEOUT\n", Outcome::Blocked)]
    #[case::agnhost_killed(sctp(), "agnhost", 137, "", Outcome::Blocked)]
    #[case::agnhost_missing(tcp(), "agnhost", 127, "sh: /agnhost: not found\n", Outcome::Error("probe tool not found: sh: /agnhost: not found".into()))]
    // HTTP with busybox wget.
    #[case::http_200(http(), "wget", 0, WGET_HEADERS_200, Outcome::HttpStatus(200))]
    #[case::http_503(
        http(),
        "wget",
        1,
        "  HTTP/1.1 503 Service Unavailable\nwget: server returned error: HTTP/1.1 503 Service Unavailable\n",
        Outcome::HttpStatus(503)
    )]
    #[case::http_error_only(
        http(),
        "wget",
        1,
        "wget: server returned error: HTTP/1.0 403 Forbidden\n",
        Outcome::HttpStatus(403)
    )]
    #[case::http_redirect(http(), "wget", 1, WGET_REDIRECT_THEN_404, Outcome::HttpStatus(404))]
    #[case::http_refused(
        http(),
        "wget",
        1,
        "wget: can't connect to remote host (10.0.0.1): Connection refused\n",
        Outcome::Refused
    )]
    #[case::http_killed(http(), "wget", 137, "", Outcome::Blocked)]
    #[case::http_prohibited(
        http(),
        "wget",
        1,
        "wget: can't connect to remote host (10.0.0.1): No route to host\n",
        Outcome::Unreachable("wget: can't connect to remote host (10.0.0.1): No route to host".into())
    )]
    #[case::http_timed_out(http(), "wget", 1, "wget: download timed out\n", Outcome::Blocked)]
    #[case::http_bad_address(
        http(),
        "wget",
        1,
        "wget: bad address 'web.ns'\n",
        dns_failure("wget: bad address 'web.ns'")
    )]
    #[case::http_garbage(http(), "wget", 1, "wget: short read\n", Outcome::Error("unexpected output (exit 1): wget: short read".into()))]
    // ICMP with busybox ping.
    #[case::ping_allowed(icmp(), "ping", 0, PING_OK, Outcome::Allowed)]
    #[case::ping_lost(icmp(), "ping", 1, PING_LOST, Outcome::Blocked)]
    #[case::ping_killed(
        icmp(),
        "ping",
        137,
        "PING 10.0.0.1 (10.0.0.1): 56 data bytes\n",
        Outcome::Blocked
    )]
    #[case::ping_eperm(
        icmp(),
        "ping",
        1,
        "PING 10.0.0.1 (10.0.0.1): 56 data bytes\nping: sendto: Operation not permitted\n",
        Outcome::Blocked
    )]
    #[case::ping_bad_address(
        icmp(),
        "ping",
        1,
        "ping: bad address 'web.ns'\n",
        dns_failure("ping: bad address 'web.ns'")
    )]
    #[case::ping_no_privilege(icmp(), "ping", 1, "ping: permission denied (are you root?)\n",
        Outcome::Error("unexpected output (exit 1): ping: permission denied (are you root?)".into()))]
    // DNS with busybox nslookup.
    #[case::dns_allowed(dns(), "nslookup", 0, NSLOOKUP_OK, Outcome::Allowed)]
    #[case::dns_nxdomain(
        dns(),
        "nslookup",
        1,
        NSLOOKUP_NX,
        dns_failure("web.ns.svc.cluster.local: NXDOMAIN")
    )]
    #[case::dns_rcode_refused(
        dns(),
        "nslookup",
        1,
        "Server:\t\t10.96.0.10\n\n** server can't find web.ns.svc.cluster.local: REFUSED\n",
        dns_failure("web.ns.svc.cluster.local: REFUSED")
    )]
    #[case::dns_parse_error(
        dns(),
        "nslookup",
        1,
        "Server:\t\t10.96.0.10\n\n*** Can't find web.ns.svc.cluster.local: Parse error\n",
        dns_failure("Can't find web.ns.svc.cluster.local: Parse error")
    )]
    #[case::dns_no_answer(
        dns(),
        "nslookup",
        0,
        "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n\n",
        dns_failure("the server replied without an answer for web.ns.svc.cluster.local")
    )]
    #[case::dns_blocked(dns(), "nslookup", 1, NSLOOKUP_TIMED_OUT, Outcome::Blocked)]
    #[case::dns_killed(dns(), "nslookup", 137, "", Outcome::Blocked)]
    #[case::dns_refused(
        dns(),
        "nslookup",
        1,
        "nslookup: read: Connection refused\n;; connection timed out; no servers could be reached\n",
        Outcome::Refused
    )]
    #[case::dns_server_name(
        dns(),
        "nslookup",
        1,
        "nslookup: bad address 'kube-dns'\n",
        dns_failure("nslookup: bad address 'kube-dns'")
    )]
    // Result lines that cannot belong to the probe.
    #[case::method_mismatch(icmp(), "wget", 0, WGET_HEADERS_200, Outcome::Error("method wget cannot have run a probe of kind icmp".into()))]
    #[case::sctp_with_nc(sctp(), "nc", 0, "", Outcome::Error("method nc cannot have run a probe of kind sctp".into()))]
    #[case::unknown_method(tcp(), "curl", 0, "", Outcome::Error("unknown probe method \"curl\"".into()))]
    fn judges_canned_output(
        #[case] kind: ProbeKind,
        #[case] method: &str,
        #[case] status: i32,
        #[case] output: &str,
        #[case] expected: Outcome,
    ) {
        let probe = spec("p", kind);
        let results = parse_output(&line("p", method, status, output), &[probe]).unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].outcome, expected, "{}", results[0].detail);
        assert_eq!(results[0].id, "p");
    }

    #[test]
    fn detail_carries_method_status_and_trimmed_output() {
        let probes = [spec("a", tcp()), spec("b", tcp())];
        let stdout = line("a", "nc", 1, "\n  nc: timed out\n\n") + &line("b", "nc", 0, "");
        let results = parse_output(&stdout, &probes).unwrap();
        assert_eq!(results[0].detail, "[nc exit 1] nc: timed out");
        assert_eq!(results[1].detail, "[nc exit 0] no output");
    }

    #[test]
    fn results_follow_batch_order_whatever_the_line_order() {
        let probes = [spec("a", tcp()), spec("b", icmp()), spec("c", udp())];
        let stdout = String::new()
            + &line("c", "nslookup-udp", 1, NSLOOKUP_TIMED_OUT)
            + &line("a", "nc", 0, "")
            + &line("b", "ping", 0, PING_OK)
            + "NPH-END\n";
        let results = parse_output(&stdout, &probes).unwrap();
        let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(results[0].outcome, Outcome::Allowed);
        assert_eq!(results[1].outcome, Outcome::Allowed);
        assert_eq!(results[2].outcome, Outcome::Blocked);
    }

    #[test]
    fn missing_line_without_end_means_cut_short() {
        let probes = [spec("a", tcp()), spec("b", tcp())];
        let results = parse_output(&line("a", "nc", 0, ""), &probes).unwrap();
        assert_eq!(results[0].outcome, Outcome::Allowed);
        assert_eq!(
            results[1].outcome,
            Outcome::Error("no result line: the exec was cut short?".into())
        );
    }

    #[test]
    fn missing_line_after_end_is_reported_as_such() {
        let probes = [spec("a", tcp())];
        let results = parse_output("NPH-END\n", &probes).unwrap();
        assert_eq!(
            results[0].outcome,
            Outcome::Error("no result line, although the batch finished".into())
        );
    }

    #[test]
    fn fatal_line_explains_every_missing_probe() {
        let probes = [spec("a", tcp()), spec("b", icmp())];
        let stdout = "mktemp: (null): Read-only file system\nNPH-FATAL busybox mktemp -d failed\n";
        let results = parse_output(stdout, &probes).unwrap();
        for result in &results {
            assert_eq!(
                result.outcome,
                Outcome::Error("the probe batch aborted: busybox mktemp -d failed".into())
            );
            assert_eq!(result.detail, "mktemp: (null): Read-only file system");
        }
    }

    #[test]
    fn duplicate_lines_are_an_error_for_that_probe_only() {
        let probes = [spec("a", tcp()), spec("b", tcp())];
        let stdout =
            line("a", "nc", 0, "") + &line("a", "nc", 1, "nc: timed out") + &line("b", "nc", 0, "");
        let results = parse_output(&stdout, &probes).unwrap();
        assert_eq!(
            results[0].outcome,
            Outcome::Error("2 result lines for one probe".into())
        );
        assert_eq!(
            results[0].detail,
            "[nc exit 0] no output\n[nc exit 1] nc: timed out"
        );
        assert_eq!(results[1].outcome, Outcome::Allowed);
    }

    #[test]
    fn garbage_and_unknown_ids_are_reported_not_fatal() {
        let probes = [spec("a", tcp()), spec("b", tcp())];
        let stdout = String::from("sh: syntax error: unexpected \")\"\r\n")
            + &line("zz", "nc", 0, "")
            + "NPH a nc\n" // cut short
            + "NPH a nc 0 xyz\n" // not hex
            + "NPH a nc 0 00 extra\n"
            + &line("b", "nc", 0, "").replace('\n', "\r\n");
        let results = parse_output(&stdout, &probes).unwrap();
        assert_eq!(
            results[0].outcome,
            Outcome::Error("no result line: the exec was cut short?".into())
        );
        assert_eq!(
            results[0].detail,
            "sh: syntax error: unexpected \")\"\nresult for unknown probe id: NPH zz nc 0\n\
             NPH a nc\nNPH a nc 0 xyz\nNPH a nc 0 00 extra"
        );
        assert_eq!(results[1].outcome, Outcome::Allowed);
    }

    #[test]
    fn stray_quote_is_bounded() {
        let probes = [spec("a", tcp())];
        let stdout = "junk\n".repeat(20);
        let results = parse_output(&stdout, &probes).unwrap();
        assert_eq!(results[0].detail.lines().count(), STRAY_LINES_QUOTED + 1);
    }

    #[test]
    fn fatal_prefix_must_be_a_whole_word() {
        let probes = [spec("a", tcp())];
        let results = parse_output("NPH-FATALISM\n", &probes).unwrap();
        assert_eq!(
            results[0].outcome,
            Outcome::Error("no result line: the exec was cut short?".into())
        );
    }

    #[test]
    fn invalid_batches_are_refused() {
        let a = spec("a", tcp());
        assert_eq!(
            parse_output("", &[a.clone(), a]),
            Err(ProbeError::DuplicateId("a".into()))
        );
    }

    #[rstest]
    #[case::headers("  HTTP/1.1 200 OK\n", Some(200))]
    #[case::http2("  HTTP/2 204\n", Some(204))]
    #[case::last_wins("HTTP/1.1 302 Found\nHTTP/1.1 500 Oops\n", Some(500))]
    #[case::four_digits("HTTP/1.1 2000 x\n", None)]
    #[case::two_digits("HTTP/1.1 20 x\n", None)]
    #[case::no_version("HTTP/ 200\n", None)]
    #[case::word("HTTP/x 200\n", None)]
    #[case::none("wget: bad address 'x'\n", None)]
    #[case::at_end("HTTP/1.0 418", Some(418))]
    fn http_status_lines(#[case] text: &str, #[case] code: Option<u16>) {
        assert_eq!(last_http_status(text), code);
    }

    proptest! {
        /// Arbitrary output never panics the parser, and every probe gets exactly one result.
        #[test]
        fn any_output_yields_one_result_per_probe(stdout in "(\\PC|\n){0,400}") {
            let probes = [spec("a", tcp()), spec("b", dns())];
            let results = parse_output(&stdout, &probes).unwrap();
            prop_assert_eq!(results.len(), 2);
        }

        /// Any evidence bytes survive the line format.
        #[test]
        fn evidence_round_trips(output in "\\PC{0,200}") {
            let results = parse_output(&line("a", "nc", 5, &output), &[spec("a", tcp())]).unwrap();
            let expected = if output.trim().is_empty() {
                "[nc exit 5] no output".to_string()
            } else {
                format!("[nc exit 5] {}", output.trim())
            };
            prop_assert_eq!(&results[0].detail, &expected);
        }
    }
}
