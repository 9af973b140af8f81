//! What the batch script prints for a probe: the result line, with the output of the tool the
//! script would have run.

use crate::probe::{Outcome, ProbeKind, ProbeSpec, ProbeTool};

/// The result line the batch script prints for `spec` when its tool observed `outcome`: the
/// method the script would have run, its exit status, and what it would have printed.
pub(super) fn result_line(spec: &ProbeSpec, tool: ProbeTool, outcome: &Outcome) -> String {
    let (method, status, output) = tool_output(spec, tool, outcome);
    let hex: String = output.bytes().map(|b| format!("{b:02x}")).collect();
    format!("NPH {} {method} {status} {hex}\n", spec.id)
}

/// The method, exit status and output of the tool the script runs for `spec` with `tool`, for
/// an observation (the texts are those the probe module's parser is tested against).
fn tool_output(
    spec: &ProbeSpec,
    tool: ProbeTool,
    outcome: &Outcome,
) -> (&'static str, i32, String) {
    let host = &spec.host;
    let port = spec.target_port().unwrap_or_default();
    let other = |m: &str| (1, format!("netpol-sim: {m}\n"));
    let nslookup_server = format!("Server:\t\t{host}\nAddress:\t{host}:{port}\n\n");
    let no_servers = ";; connection timed out; no servers could be reached\n".to_string();
    match (&spec.kind, tool) {
        // SCTP always goes through agnhost (batch_script refuses it with busybox).
        (ProbeKind::Tcp | ProbeKind::Udp, ProbeTool::Agnhost) | (ProbeKind::Sctp, _) => {
            let (status, text) = match outcome {
                Outcome::Allowed | Outcome::HttpStatus(_) => (0, String::new()),
                Outcome::Blocked => (1, "TIMEOUT\n".to_string()),
                Outcome::Refused => (1, "REFUSED\n".to_string()),
                Outcome::Unreachable(_) => (
                    1,
                    format!("OTHER: dial tcp {host}:{port}: connect: no route to host\n"),
                ),
                Outcome::DnsFailure(m) => (1, format!("DNS: {m}\n")),
                Outcome::Error(m) => (1, format!("OTHER: {m}\n")),
            };
            ("agnhost", status, text)
        }
        (ProbeKind::Tcp, _) => {
            let (status, text) = match outcome {
                Outcome::Allowed | Outcome::HttpStatus(_) => (0, String::new()),
                Outcome::Blocked => (1, "nc: timed out\n".to_string()),
                Outcome::Refused => (
                    1,
                    format!("nc: can't connect to remote host ({host}): Connection refused\n"),
                ),
                Outcome::Unreachable(_) => (
                    1,
                    format!("nc: can't connect to remote host ({host}): No route to host\n"),
                ),
                Outcome::DnsFailure(_) => (1, format!("nc: bad address '{host}'\n")),
                Outcome::Error(m) => other(m),
            };
            ("nc", status, text)
        }
        (ProbeKind::Udp, _) => {
            let (status, text) = match outcome {
                Outcome::Allowed | Outcome::HttpStatus(_) => (0, nslookup_server),
                Outcome::Blocked => (1, no_servers),
                Outcome::Refused => (
                    1,
                    format!("nslookup: write to '{host}': Connection refused\n"),
                ),
                Outcome::Unreachable(_) => {
                    (1, format!("nslookup: read: No route to host\n{no_servers}"))
                }
                Outcome::DnsFailure(_) => (1, format!("nslookup: bad address '{host}'\n")),
                Outcome::Error(m) => other(m),
            };
            ("nslookup-udp", status, text)
        }
        (ProbeKind::Http { .. }, _) => {
            let (status, text) = match outcome {
                Outcome::HttpStatus(code) if *code >= 400 => (
                    1,
                    format!(
                        "  HTTP/1.1 {code} Error\nwget: server returned error: HTTP/1.1 {code} Error\n"
                    ),
                ),
                Outcome::HttpStatus(code) => (0, format!("  HTTP/1.1 {code} OK\n  \n")),
                Outcome::Allowed => (0, "  HTTP/1.1 200 OK\n  \n".to_string()),
                Outcome::Blocked => (137, String::new()),
                Outcome::Refused => (
                    1,
                    format!("wget: can't connect to remote host ({host}): Connection refused\n"),
                ),
                Outcome::Unreachable(_) => (
                    1,
                    format!("wget: can't connect to remote host ({host}): No route to host\n"),
                ),
                Outcome::DnsFailure(_) => (1, format!("wget: bad address '{host}'\n")),
                Outcome::Error(m) => other(m),
            };
            ("wget", status, text)
        }
        (ProbeKind::Icmp, _) => {
            let stats = |received: u32| {
                format!(
                    "PING {host} ({host}): 56 data bytes\n\n--- {host} ping statistics ---\n\
                     1 packets transmitted, {received} packets received, {}% packet loss\n",
                    100 - 100 * received
                )
            };
            let (status, text) = match outcome {
                Outcome::Allowed | Outcome::HttpStatus(_) => (0, stats(1)),
                Outcome::Blocked => (1, stats(0)),
                Outcome::DnsFailure(_) => (1, format!("ping: bad address '{host}'\n")),
                // busybox ping ignores ICMP errors (they carry no echo id): a rejected ping
                // reads as lost.
                Outcome::Refused | Outcome::Unreachable(_) => (1, stats(0)),
                Outcome::Error(m) => other(m),
            };
            ("ping", status, text)
        }
        (ProbeKind::Dns { name }, _) => {
            let (status, text) = match outcome {
                Outcome::Allowed | Outcome::HttpStatus(_) => (
                    0,
                    format!("{nslookup_server}Name:\t{name}\nAddress: 10.96.0.1\n\n"),
                ),
                Outcome::Blocked => (1, no_servers),
                Outcome::DnsFailure(rcode) => (
                    1,
                    format!("{nslookup_server}** server can't find {name}: {rcode}\n\n"),
                ),
                Outcome::Refused => (1, "nslookup: read: Connection refused\n".to_string()),
                Outcome::Unreachable(_) => {
                    (1, format!("nslookup: read: No route to host\n{no_servers}"))
                }
                Outcome::Error(m) => other(m),
            };
            ("nslookup", status, text)
        }
    }
}
