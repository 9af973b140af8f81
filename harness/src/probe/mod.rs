//! Probe batches: the shell script that runs every probe of one source pod in one exec, and the
//! parser that turns what the script printed into one [`ProbeResult`] per probe.
//!
//! # Why one script
//!
//! A scenario step probes many (source, destination, port, protocol) cells. Execs into a pod are
//! slow (an API round trip and a process start each), and a blocked probe costs a whole timeout.
//! So [`batch_script`] builds ONE script per source pod and step: every probe starts in the
//! background at once, and the batch takes about one probe timeout however many probes are
//! blocked. [`parse_output`] reads the exec's stdout afterwards.
//!
//! # Script protocol (version 1)
//!
//! The script is POSIX `sh`, written for busybox ash (it also parses with dash). It calls every
//! helper through the `busybox` binary (`busybox nc`, `busybox timeout`, …), so what runs does not
//! depend on `$PATH` or on other packages in the image (the agnhost image, for example, ships
//! bind's `nslookup`). It:
//!
//! 1. creates a private directory with `busybox mktemp -d` (removed by an `EXIT` trap); if that
//!    fails it prints `NPH-FATAL <reason>` and exits 1;
//! 2. opens a FIFO of that directory read-write on fd 3 (nobody ever writes to it), so that
//!    `read -t SECS <&3` waits SECS seconds inside the shell itself;
//! 3. starts every probe in a background subshell, `( … ) &`. Inside it the probe's tool runs
//!    as one simple command in the background (so `$!` is the tool's own PID), its stdin
//!    `/dev/null`, its stdout and stderr to its own file in the private directory; beside it a
//!    watcher subshell made of builtins only (`read -t <cap> <&3; kill -KILL <pid>`) kills the
//!    tool at its hard cap, a little above the probe's own timeout, so a wedged probe cannot
//!    stall the batch. The subshell waits for the tool, then kills and waits for the watcher:
//!    every process the batch starts is reaped by its own parent before the batch ends, and none
//!    outlives its cap, even when the exec that started the batch is gone. (busybox `timeout`,
//!    used before, daemonizes a watcher grandchild, mirror/busybox@1_36_1:coreutils/timeout.c#L116-L139,
//!    which a pod whose PID 1 is `sleep` never reaps: one zombie per probe.);
//! 4. when a probe ends, its subshell prints exactly one line:
//!
//!    ```text
//!    NPH <id> <method> <exit-status> <evidence>
//!    ```
//!
//!    `<method>` names the command that ran (see below), `<exit-status>` is its exit status as the
//!    shell saw it (`137` = killed at the hard cap), and `<evidence>` is the first
//!    1024 bytes of its combined output, hex-encoded with `od` (lower case, no separators; empty
//!    when it printed nothing). Hex keeps the line one line whatever the tool printed. The whole
//!    line is under `PIPE_BUF` and written by a single `printf`, so lines of probes that end at the
//!    same time never mix; they do arrive in completion order, not batch order;
//! 5. waits for all probes and prints `NPH-END`.
//!
//! The script needs busybox ash (or another shell with `read -t`); dash parses it but cannot
//! run the cap.
//!
//! The parser needs every probe to have exactly one result line. A probe with none gets
//! [`Outcome::Error`] (the exec was cut short, or the batch aborted); a probe with several gets
//! [`Outcome::Error`] too. Lines that are not part of the protocol (and result lines for ids not in
//! the batch) are logged as warnings and quoted in the detail of probes that have no result.
//!
//! # Methods, and how their evidence becomes an [`Outcome`]
//!
//! Busybox tools take whole seconds, so a probe's timeout is rounded up to whole seconds (at
//! least 1) for them; the hard cap is that plus one second. Any tool printing `bad address` (the
//! host name did not resolve) gives [`Outcome::DnsFailure`]; `Operation not permitted` on send (a
//! firewall in the source pod's own network namespace rejected the packet) gives
//! [`Outcome::Blocked`]. A *rejection* on the way is told apart from a *drop* (a timeout,
//! [`Outcome::Blocked`]): `Connection refused` (TCP RST, ICMP port unreachable) is
//! [`Outcome::Refused`], and `No route to host` / `Network is unreachable` (ICMP host or network
//! unreachable, administratively prohibited) is [`Outcome::Unreachable`], for every tool that
//! reports them:
//!
//! - busybox `nc` (small): `can't connect to remote host (IP): <strerror>` from `xconnect`
//!   (mirror/busybox@1_36_1:libbb/xconnect.c#L103-L114); its `-w` alarm prints `timed out`
//!   (networking/nc.c, `timeout()`);
//! - busybox `nc` ("nc 1.10"): `HOST (IP:PORT): <strerror>`, its alarm faking `ETIMEDOUT`
//!   ("Connection timed out"; networking/nc_bloaty.c#L287-L300, #L911-L917);
//! - busybox `wget`: `can't connect to remote host (IP): <strerror>` (networking/wget.c#L437-L443
//!   `open_socket` → `xconnect_stream`);
//! - busybox `nslookup` (connected UDP socket): `read: <strerror>` when the ICMP error comes back,
//!   then its own timeout (networking/nslookup.c#L540, #L574);
//! - agnhost `connect`: `REFUSED` for `ECONNREFUSED`, otherwise `OTHER: … no route to host` (TCP)
//!   or `UNKNOWN: … no route to host` (UDP) (kubernetes/kubernetes
//!   test/images/agnhost/connect/connect.go, `connectTCP`, `parseUDPErrorAndExit`);
//! - busybox `ping` cannot tell: its raw socket drops ICMP errors whose id is not its own, and an
//!   unreachable carries none (networking/ping.c#L692-L726), so a rejected ping reads as dropped.
//!
//! | kind | tool | method | command | outcomes |
//! |------|------|--------|---------|----------|
//! | TCP | busybox | `nc` | `nc -w S HOST PORT -e busybox true </dev/null` (the small busybox nc, as in Debian: no `-z`, no `-u`; `-e` runs `true` as soon as it connected) | exit 0 → Allowed; `timed out` → Blocked; `Connection refused` → Refused; `No route to host` → Unreachable; killed at the cap → Error (see caveats) |
//! | TCP | busybox | `nc-z` | `nc -v -v -z -w S HOST PORT` (the "nc 1.10" busybox nc, which has `-z`; chosen at run time by looking for `Zero-I/O` in `nc --help`) | exit 0 → Allowed; `timed out` → Blocked; `Connection refused` → Refused; `No route to host` → Unreachable; killed → Blocked |
//! | UDP | busybox | `nslookup-udp` | `nslookup -type=a -timeout=S -retry=1 -port=PORT udp-probe.netpol-harness.invalid HOST` | `Server:` printed (any datagram came back) → Allowed; `Connection refused` → Refused; `No route to host` → Unreachable; `no servers could be reached` or killed → Blocked |
//! | HTTP | both | `wget` | `wget -q -S -Y off -O /dev/null [--post-data netpol-harness] URL` | last `HTTP/x.y NNN` status line → HttpStatus(NNN); `Connection refused` → Refused; `No route to host` → Unreachable; killed at the cap → Blocked |
//! | ICMP | both | `ping` | `ping -c 1 -W S HOST` | a reply received → Allowed; none → Blocked |
//! | DNS | both | `nslookup` | `nslookup -timeout=S -retry=1 -port=PORT NAME HOST` | a `Name:` answer → Allowed; `** server can't find NAME: RCODE` or a reply without an answer → DnsFailure; `Connection refused` → Refused; `No route to host` → Unreachable; no reply → Blocked |
//! | TCP, UDP, SCTP | agnhost | `agnhost` | `/agnhost connect HOST:PORT --timeout=MSms --protocol=P` | exit 0 → Allowed; `TIMEOUT` → Blocked; `REFUSED` → Refused; `DNS:` → DnsFailure; `no route to host` → Unreachable; other `OTHER:`/`UNKNOWN:` → Error (except a `connection refused` inside them, which is how agnhost reports an SCTP ABORT → Refused) |
//!
//! # Caveats (what busybox can and cannot tell)
//!
//! - **SCTP** needs agnhost: no busybox applet speaks SCTP. [`batch_script`] refuses an SCTP probe
//!   with [`ProbeTool::Busybox`].
//! - **UDP with busybox** is ambiguous by nature: Debian's busybox `nc` has no UDP mode, so the
//!   probe sends a DNS query to `HOST:PORT` with busybox `nslookup`, which prints `Server:` as soon
//!   as *any* datagram comes back (agnhost `serve-hostname` answers with its hostname). A server
//!   that does not answer looks exactly like a drop (Blocked). A closed port is Refused only when
//!   the ICMP port-unreachable makes it back. An allowed UDP probe whose server does not answer
//!   in DNS format costs the whole timeout (nslookup keeps waiting for a DNS answer), but it runs
//!   concurrently with everything else.
//! - **HTTP with busybox**: Debian's busybox `wget` has no `-T` (and crashes when given one), so
//!   the hard cap, a second above the probe's timeout, is wget's timeout: killed → Blocked. A server that
//!   accepts the connection but answers later than the timeout is therefore Blocked as well.
//!   Proxies are off (`-Y off`) so `http_proxy` in the pod's environment cannot reroute the probe.
//! - **TCP with the small nc**: nc's `-w` alarm covers name resolution and connect; once
//!   connected, `-e busybox true` replaces nc with `true`, which exits 0 at once (without `-e`,
//!   nc would half-close and wait for the server to close, so a server holding the connection
//!   open kept it running until the cap). A small nc still running at the cap, a second after its
//!   own alarm, proves nothing: Error, never Allowed.
//! - **DNS**: with an explicit server, busybox `nslookup` ignores `search` domains, so in-cluster
//!   names must be fully qualified (`svc.ns.svc.cluster.local`). It asks for A and AAAA.
//! - **ICMP** needs `ping` to open an ICMP socket (root, `CAP_NET_RAW` or `ping_group_range`);
//!   without it the result is an Error quoting ping's message.
//! - A host *name* whose resolution hangs past the hard cap looks like a drop (Blocked).
//! - Whether a refusal means "policy rejected it" or "nothing listens there" the tools cannot
//!   tell: the runner accepts a rejection for an expected-blocked probe only where the port was
//!   shown served in the same run (see [`crate::runner`]).

mod detect;
mod parse;
mod protocol;
mod script;
mod validate;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use detect::{detect_tool_command, parse_tool, tool_of_image};
pub use parse::parse_output;
pub use script::{batch_command, batch_script};

/// The HTTP request method of an [`ProbeKind::Http`] probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HttpMethod {
    /// `GET`, the default.
    Get,
    /// `POST` with a small fixed body (`netpol-harness`).
    Post,
}

impl HttpMethod {
    /// The method as sent: `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }

    /// The method a scenario names (`GET`, `POST`; any case), if the probe script can send it.
    pub fn parse(method: &str) -> Option<HttpMethod> {
        match method.to_ascii_uppercase().as_str() {
            "GET" => Some(HttpMethod::Get),
            "POST" => Some(HttpMethod::Post),
            _ => None,
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a probe tries to do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeKind {
    /// Open a TCP connection to `host:port`.
    Tcp,
    /// Send a UDP datagram to `host:port` and wait for any reply.
    Udp,
    /// Open an SCTP association to `host:port` (needs [`ProbeTool::Agnhost`]).
    Sctp,
    /// Send an HTTP request to `http://host:port/path` (port 80 when unset).
    Http {
        /// Request method.
        method: HttpMethod,
        /// Absolute path, starting with `/`, optionally with a query string.
        path: String,
    },
    /// Send one ICMP echo request to `host`.
    Icmp,
    /// Ask the DNS server at `host` (port 53 unless set) for the A and AAAA records of `name`.
    Dns {
        /// The name to resolve; fully qualified, since no search domains apply.
        name: String,
    },
}

impl ProbeKind {
    /// A short lower-case name for messages: `tcp`, `udp`, `sctp`, `http`, `icmp`, `dns`.
    pub fn name(&self) -> &'static str {
        match self {
            ProbeKind::Tcp => "tcp",
            ProbeKind::Udp => "udp",
            ProbeKind::Sctp => "sctp",
            ProbeKind::Http { .. } => "http",
            ProbeKind::Icmp => "icmp",
            ProbeKind::Dns { .. } => "dns",
        }
    }
}

/// One probe of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProbeSpec {
    /// Identifies the probe's result line: unique in the batch, 1 to 64 characters of
    /// `[A-Za-z0-9_.-]`.
    pub id: String,
    /// What to probe.
    pub kind: ProbeKind,
    /// Destination: an IPv4 or IPv6 address, or a DNS name (resolved inside the pod). For
    /// [`ProbeKind::Dns`] this is the DNS server to ask.
    pub host: String,
    /// Destination port. Required for TCP, UDP and SCTP; optional for HTTP (80) and DNS (53);
    /// must be `None` for ICMP.
    pub port: Option<u16>,
    /// How long the probe may wait for an answer before it counts as blocked. Busybox tools round
    /// it up to whole seconds. Must be more than zero and at most 300 s.
    pub timeout: Duration,
}

impl ProbeSpec {
    /// The port the probe actually uses: `port`, or the default of its kind (80 for HTTP, 53 for
    /// DNS); `None` for ICMP.
    pub fn target_port(&self) -> Option<u16> {
        match self.kind {
            ProbeKind::Http { .. } => Some(self.port.unwrap_or(80)),
            ProbeKind::Dns { .. } => Some(self.port.unwrap_or(53)),
            _ => self.port,
        }
    }
}

/// Which binaries the probe container has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeTool {
    /// A busybox image: every probe uses busybox applets. No SCTP.
    Busybox,
    /// An agnhost image (Alpine with `/agnhost` and busybox): TCP, UDP and SCTP use
    /// `/agnhost connect`; HTTP, ICMP and DNS use busybox applets as with [`ProbeTool::Busybox`].
    Agnhost,
}

impl fmt::Display for ProbeTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProbeTool::Busybox => "busybox",
            ProbeTool::Agnhost => "agnhost",
        })
    }
}

/// What a probe observed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The connection was made, the datagram was answered, the ping was echoed, or the name
    /// resolved.
    Allowed,
    /// No answer before the timeout (or the packet was rejected by a firewall in the source pod).
    Blocked,
    /// Actively refused: TCP RST, ICMP port unreachable, or an SCTP ABORT (the tools report
    /// `ECONNREFUSED`, "Connection refused"). A closed port answers this way too, so a refusal
    /// is a *rejection* only where the port was shown served (see [`Outcome::deny_style`]).
    Refused,
    /// Rejected on the way with an ICMP error other than port unreachable: host or network
    /// unreachable, or administratively prohibited (the tools report `EHOSTUNREACH` "No route to
    /// host" or `ENETUNREACH` "Network is unreachable"; Linux maps ICMP codes 1, 9, 10 and 13 to
    /// `EHOSTUNREACH`). Holds the tool's message.
    Unreachable(String),
    /// The HTTP server answered with this status code (any code, 200 included).
    HttpStatus(u16),
    /// A name did not resolve: the DNS probe's name (NXDOMAIN, SERVFAIL, no answer, …) or the
    /// destination host name of another probe. Holds the tool's message.
    DnsFailure(String),
    /// The probe could not be judged: unexpected tool output, a missing or duplicated result
    /// line, a missing tool, …. Holds what went wrong.
    Error(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Allowed => f.write_str("allowed"),
            Outcome::Blocked => f.write_str("blocked"),
            Outcome::Refused => f.write_str("refused"),
            Outcome::Unreachable(m) => write!(f, "unreachable ({m})"),
            Outcome::HttpStatus(s) => write!(f, "HTTP {s}"),
            Outcome::DnsFailure(m) => write!(f, "DNS failure ({m})"),
            Outcome::Error(m) => write!(f, "error ({m})"),
        }
    }
}

impl Outcome {
    /// How a probe that did not get through was stopped: [`DenyStyle::Drop`] for a timeout
    /// ([`Outcome::Blocked`]), [`DenyStyle::Reject`] for an answer that refuses
    /// ([`Outcome::Refused`], [`Outcome::Unreachable`]); `None` for anything else.
    pub fn deny_style(&self) -> Option<DenyStyle> {
        match self {
            Outcome::Blocked => Some(DenyStyle::Drop),
            Outcome::Refused | Outcome::Unreachable(_) => Some(DenyStyle::Reject),
            _ => None,
        }
    }
}

/// How a denied packet is stopped: silently dropped (the client times out), or rejected (the
/// client is told: TCP RST, ICMP port/host unreachable or administratively prohibited).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DenyStyle {
    /// Dropped: no answer; the probe times out.
    #[default]
    Drop,
    /// Rejected: the probe is refused or told the destination is unreachable.
    Reject,
}

impl DenyStyle {
    /// `drop` or `reject`.
    pub fn name(self) -> &'static str {
        match self {
            DenyStyle::Drop => "drop",
            DenyStyle::Reject => "reject",
        }
    }
}

impl fmt::Display for DenyStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The result of one probe of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The probe's [`ProbeSpec::id`].
    pub id: String,
    /// What the probe observed.
    pub outcome: Outcome,
    /// Raw evidence, trimmed: `[<method> exit <status>] <what the tool printed>` (for a probe
    /// without a result line: the batch's stray output, if any; for duplicated lines: one such
    /// line per result line).
    pub detail: String,
}

/// Why a batch could not be scripted or its output not be matched to its probes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// A field of a probe is invalid (charset, missing or superfluous port, timeout range, …).
    /// Hosts, names and paths are checked against strict character sets, so nothing reaches the
    /// shell that could be read as shell syntax or as a command-line option.
    #[error("probe {id:?}: {reason}")]
    InvalidSpec {
        /// The offending probe's id (as given, possibly itself invalid).
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// Two probes of the batch share an id.
    #[error("probe id {0:?} appears more than once in the batch")]
    DuplicateId(String),
    /// The probe tool cannot run this kind of probe (SCTP needs agnhost).
    #[error(
        "probe {id:?}: {kind} probes cannot run with the {tool} probe tool (SCTP needs agnhost)"
    )]
    Unsupported {
        /// The offending probe's id.
        id: String,
        /// [`ProbeKind::name`] of the probe.
        kind: &'static str,
        /// The tool the batch was built for.
        tool: ProbeTool,
    },
}
