//! Builds the batch script (protocol in the docs of [`crate::probe`]).

use std::fmt::Write as _;
use std::net::IpAddr;

use super::protocol::{END_LINE, EVIDENCE_BYTES, FATAL_TAG, Method, RESULT_TAG, whole_seconds};
use super::validate::validate_batch;
use super::{HttpMethod, ProbeError, ProbeKind, ProbeSpec, ProbeTool};

/// The body of a POST probe.
const POST_BODY: &str = "netpol-harness";
/// The name a UDP probe's DNS query asks for; only ever sent to the probed `host:port` itself.
const UDP_PROBE_NAME: &str = "udp-probe.netpol-harness.invalid";
/// Seconds the hard cap allows beyond a tool's own timeout.
const CAP_MARGIN_SECS: u64 = 1;

/// The POSIX sh script that runs all `probes` concurrently inside one exec of a pod whose probe
/// container is `tool`, printing one result line per probe for [`super::parse_output`].
///
/// Every probe is validated first (see [`ProbeError::InvalidSpec`]); SCTP probes need
/// [`ProbeTool::Agnhost`] ([`ProbeError::Unsupported`] otherwise). Run the script with
/// `sh -c SCRIPT` (busybox ash) in the probe container; it needs `busybox` on `$PATH` and a
/// writable `$TMPDIR` (default `/tmp`).
pub fn batch_script(probes: &[ProbeSpec], tool: ProbeTool) -> Result<String, ProbeError> {
    validate_batch(probes)?;
    let mut script = format!(
        "# netpol-harness probe batch, protocol v1: one line per probe, in completion order,\n\
         # `{RESULT_TAG} <id> <method> <exit-status> <output as hex>`, then `{END_LINE}`.\n\
         nph_d=$(busybox mktemp -d \"${{TMPDIR:-/tmp}}/nph.XXXXXX\") || {{ echo '{FATAL_TAG} \
         busybox mktemp -d failed: no busybox, or no writable temporary directory'; exit 1; }}\n\
         trap 'busybox rm -rf \"$nph_d\"' EXIT\n\
         busybox mkfifo \"$nph_d/cap\" && exec 3<>\"$nph_d/cap\" || {{ echo '{FATAL_TAG} \
         busybox mkfifo failed'; exit 1; }}\n\
         nph_emit() {{\n  printf '{RESULT_TAG} %s %s %s %s\\n' \"$1\" \"$2\" \"$3\" \
         \"$(busybox head -c {EVIDENCE_BYTES} \"$nph_d/$4\" | busybox od -An -v -tx1 | busybox tr -d ' \\n')\"\n}}\n\
         nph_cap() {{ read -t \"$1\" <&3; kill -KILL \"$2\" 2>/dev/null; }}\n"
    );
    if tool == ProbeTool::Busybox && probes.iter().any(|p| p.kind == ProbeKind::Tcp) {
        // The "nc 1.10" busybox nc has -z and -v and lists "Zero-I/O" in its help; the small one
        // (Debian's) has neither, but runs `-e PROG` right after connecting (nc.c, NC_EXTRA).
        // The words go into variables so that each probe stays one simple command, which the
        // shell execs in the child it forks: `$!` is then the tool itself, and the cap kills it.
        script.push_str(&format!(
            "if busybox nc --help 2>&1 | busybox grep -q 'Zero-I/O'; then nph_nc={}; \
             nph_ncz='-v -v -z'; nph_nce=''; else nph_nc={}; nph_ncz=''; nph_nce='-e busybox true'; fi\n",
            Method::NcZero.token(),
            Method::Nc.token()
        ));
    }
    for (index, probe) in probes.iter().enumerate() {
        let (command, cap, method) = probe_command(probe, tool)?;
        // Writing to a String cannot fail.
        let _ = writeln!(
            script,
            "( {command} </dev/null >\"$nph_d/{index}\" 2>&1 & nph_p=$!; nph_cap {cap} $nph_p & \
             nph_w=$!; wait $nph_p; nph_s=$?; kill $nph_w 2>/dev/null; wait $nph_w; \
             nph_emit {id} {method} $nph_s {index} ) 2>/dev/null &",
            id = quote(&probe.id),
        );
    }
    script.push_str("wait\n");
    script.push_str(&format!("echo {END_LINE}\n"));
    Ok(script)
}

/// The argv that runs a batch in a container: `sh -c SCRIPT` with [`batch_script`]'s script
/// (what a real cluster execs; see [`crate::cluster::ClusterOps::run_probes`]).
pub fn batch_command(probes: &[ProbeSpec], tool: ProbeTool) -> Result<Vec<String>, ProbeError> {
    Ok(vec![
        "sh".to_string(),
        "-c".to_string(),
        batch_script(probes, tool)?,
    ])
}

/// The shell command of one probe (one simple command, so that the shell execs it in the child
/// it forks), its hard cap in seconds, and the method word its result line carries (a shell
/// word: either a literal token or the `$nph_nc` variable).
fn probe_command(probe: &ProbeSpec, tool: ProbeTool) -> Result<(String, u64, String), ProbeError> {
    let secs = whole_seconds(probe.timeout);
    let cap = secs + CAP_MARGIN_SECS;
    let host = quote(&probe.host);
    // Validation guarantees a port for every kind but ICMP, which does not use it.
    let port = probe.target_port().unwrap_or_default();
    match (&probe.kind, tool) {
        (ProbeKind::Tcp | ProbeKind::Udp | ProbeKind::Sctp, ProbeTool::Agnhost) => {
            let target = match probe.host.parse::<IpAddr>() {
                Ok(IpAddr::V6(_)) => format!("[{}]:{port}", probe.host),
                _ => format!("{}:{port}", probe.host),
            };
            let command = format!(
                "/agnhost connect {} --timeout={}ms --protocol={}",
                quote(&target),
                probe.timeout.as_millis().max(1),
                probe.kind.name()
            );
            Ok((command, cap, Method::AgnhostConnect.token().into()))
        }
        (ProbeKind::Tcp, ProbeTool::Busybox) => {
            // `$nph_ncz` / `$nph_nce` are left unquoted on purpose: they split into the words of
            // the nc flavour found at run time (`-v -v -z`, or `-e busybox true`), or vanish.
            let command = format!("busybox nc $nph_ncz -w {secs} {host} {port} $nph_nce");
            Ok((command, cap, "\"$nph_nc\"".into()))
        }
        (ProbeKind::Udp, ProbeTool::Busybox) => {
            let command = format!(
                "busybox nslookup -type=a -timeout={secs} -retry=1 -port={port} {UDP_PROBE_NAME} {host}"
            );
            Ok((command, cap, Method::UdpNslookup.token().into()))
        }
        (ProbeKind::Sctp, ProbeTool::Busybox) => Err(ProbeError::Unsupported {
            id: probe.id.clone(),
            kind: probe.kind.name(),
            tool,
        }),
        (ProbeKind::Http { method, path }, _) => {
            let authority = match probe.host.parse::<IpAddr>() {
                Ok(IpAddr::V6(_)) => format!("[{}]:{port}", probe.host),
                _ => format!("{}:{port}", probe.host),
            };
            let post = match method {
                HttpMethod::Get => String::new(),
                HttpMethod::Post => format!("--post-data {POST_BODY} "),
            };
            // No -T: Debian's busybox wget lacks it (and crashes on it), so the cap is wget's only
            // limit. Like every other probe's it sits a margin above the probe timeout: capping
            // at the timeout itself killed answers that took just under it (the cap counts
            // whole seconds).
            let command = format!(
                "busybox wget -q -S -Y off -O /dev/null {post}{}",
                quote(&format!("http://{authority}{path}"))
            );
            Ok((command, cap, Method::Wget.token().into()))
        }
        (ProbeKind::Icmp, _) => {
            let command = format!("busybox ping -c 1 -W {secs} {host}");
            Ok((command, cap, Method::Ping.token().into()))
        }
        (ProbeKind::Dns { name }, _) => {
            let command = format!(
                "busybox nslookup -timeout={secs} -retry=1 -port={port} {} {host}",
                quote(name)
            );
            Ok((command, cap, Method::Nslookup.token().into()))
        }
    }
}

/// `value` as one single-quoted shell word.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;

    fn spec(id: &str, kind: ProbeKind, host: &str, port: Option<u16>) -> ProbeSpec {
        ProbeSpec {
            id: id.to_string(),
            kind,
            host: host.to_string(),
            port,
            timeout: Duration::from_secs(1),
        }
    }

    fn http(method: HttpMethod, path: &str) -> ProbeKind {
        ProbeKind::Http {
            method,
            path: path.to_string(),
        }
    }

    /// The line of the script that runs probe `id`.
    fn probe_line(script: &str, id: &str) -> String {
        let tag = format!("nph_emit '{id}' ");
        let lines: Vec<&str> = script.lines().filter(|l| l.contains(&tag)).collect();
        assert_eq!(lines.len(), 1, "one line for {id} in\n{script}");
        lines[0].to_string()
    }

    #[rstest]
    #[case::tcp_busybox(
        spec("t", ProbeKind::Tcp, "10.0.0.1", Some(80)),
        ProbeTool::Busybox,
        &[
            "( busybox nc $nph_ncz -w 1 '10.0.0.1' 80 $nph_nce </dev/null",
            "nph_cap 2 $nph_p &",
            "nph_emit 't' \"$nph_nc\" $nph_s 0 ) 2>/dev/null &",
        ]
    )]
    #[case::udp_busybox(
        spec("u", ProbeKind::Udp, "10.0.0.1", Some(53)),
        ProbeTool::Busybox,
        &[
            "( busybox nslookup -type=a -timeout=1 -retry=1 -port=53 \
             udp-probe.netpol-harness.invalid '10.0.0.1' </dev/null",
            "nph_cap 2 $nph_p &",
            "nph_emit 'u' nslookup-udp $nph_s 0",
        ]
    )]
    #[case::http_get(
        spec("h", http(HttpMethod::Get, "/healthz?x=1"), "web.ns.svc", None),
        ProbeTool::Busybox,
        &[
            "( busybox wget -q -S -Y off -O /dev/null 'http://web.ns.svc:80/healthz?x=1' </dev/null",
            "nph_cap 2 $nph_p &",
            "nph_emit 'h' wget $nph_s 0",
        ]
    )]
    #[case::http_post_ipv6(
        spec("p", http(HttpMethod::Post, "/"), "fd00::5", Some(8080)),
        ProbeTool::Agnhost,
        &["busybox wget -q -S -Y off -O /dev/null --post-data netpol-harness 'http://[fd00::5]:8080/'"]
    )]
    #[case::icmp(
        spec("i", ProbeKind::Icmp, "10.0.0.1", None),
        ProbeTool::Busybox,
        &["( busybox ping -c 1 -W 1 '10.0.0.1' </dev/null", "nph_cap 2 $nph_p &", "nph_emit 'i' ping $nph_s 0"]
    )]
    #[case::dns(
        spec("d", ProbeKind::Dns { name: "kubernetes.default.svc.cluster.local".into() }, "10.96.0.10", None),
        ProbeTool::Agnhost,
        &[
            "( busybox nslookup -timeout=1 -retry=1 -port=53 \
             'kubernetes.default.svc.cluster.local' '10.96.0.10' </dev/null",
            "nph_cap 2 $nph_p &",
            "nph_emit 'd' nslookup $nph_s 0",
        ]
    )]
    #[case::tcp_agnhost(
        spec("t", ProbeKind::Tcp, "10.0.0.1", Some(80)),
        ProbeTool::Agnhost,
        &["( /agnhost connect '10.0.0.1:80' --timeout=1000ms --protocol=tcp </dev/null", "nph_cap 2 $nph_p &", "nph_emit 't' agnhost $nph_s 0"]
    )]
    #[case::udp_agnhost_ipv6(
        spec("u", ProbeKind::Udp, "fd00::1", Some(9376)),
        ProbeTool::Agnhost,
        &["/agnhost connect '[fd00::1]:9376' --timeout=1000ms --protocol=udp"]
    )]
    #[case::sctp_agnhost(
        spec("s", ProbeKind::Sctp, "svc.ns", Some(9999)),
        ProbeTool::Agnhost,
        &["/agnhost connect 'svc.ns:9999' --timeout=1000ms --protocol=sctp"]
    )]
    fn every_kind_and_tool(
        #[case] probe: ProbeSpec,
        #[case] tool: ProbeTool,
        #[case] fragments: &[&str],
    ) {
        let script = batch_script(std::slice::from_ref(&probe), tool).unwrap();
        let line = probe_line(&script, &probe.id);
        assert!(line.starts_with("( "), "{line}");
        assert!(line.contains(">\"$nph_d/0\" 2>&1 & nph_p=$!;"), "{line}");
        for fragment in fragments {
            assert!(line.contains(fragment), "{line}\nlacks\n{fragment}");
        }
    }

    #[test]
    fn frame_runs_everything_in_background_then_waits() {
        let probes = [
            spec("a", ProbeKind::Tcp, "10.0.0.1", Some(80)),
            spec("b", ProbeKind::Icmp, "10.0.0.2", None),
            spec("c", ProbeKind::Udp, "10.0.0.3", Some(53)),
        ];
        let script = batch_script(&probes, ProbeTool::Busybox).unwrap();
        let lines: Vec<&str> = script.lines().collect();
        assert!(lines[2].starts_with("nph_d=$(busybox mktemp -d"));
        assert!(lines[2].contains("echo 'NPH-FATAL "));
        assert_eq!(lines[3], "trap 'busybox rm -rf \"$nph_d\"' EXIT");
        assert!(lines[4].starts_with("busybox mkfifo \"$nph_d/cap\" && exec 3<>"));
        assert!(lines[4].contains("echo 'NPH-FATAL "));
        // The cap is kept by shell builtins alone (no child process to outlive the batch).
        assert!(
            script.contains("nph_cap() { read -t \"$1\" <&3; kill -KILL \"$2\" 2>/dev/null; }")
        );
        assert!(!script.contains("busybox timeout"));
        let probe_lines: Vec<&&str> = lines.iter().filter(|l| l.starts_with("( ")).collect();
        assert_eq!(probe_lines.len(), 3);
        assert!(probe_lines.iter().all(|l| l.ends_with(" ) 2>/dev/null &")));
        for (index, line) in probe_lines.iter().enumerate() {
            // The tool is the background job the cap kills, and both are reaped before the
            // result line is printed.
            assert!(
                line.contains(&format!(">\"$nph_d/{index}\" 2>&1 & nph_p=$!;")),
                "{line}"
            );
            assert!(
                line.contains("wait $nph_p; nph_s=$?; kill $nph_w 2>/dev/null; wait $nph_w;"),
                "{line}"
            );
            assert!(
                line.contains(&format!("$nph_s {index} ) 2>/dev/null &")),
                "{line}"
            );
        }
        assert_eq!(&lines[lines.len() - 2..], ["wait", "echo NPH-END"]);
        assert!(script.contains("busybox head -c 1024"));
    }

    #[rstest]
    #[case::busybox_tcp(ProbeTool::Busybox, ProbeKind::Tcp, true)]
    #[case::busybox_udp(ProbeTool::Busybox, ProbeKind::Udp, false)]
    #[case::agnhost_tcp(ProbeTool::Agnhost, ProbeKind::Tcp, false)]
    fn nc_flavour_detected_only_when_needed(
        #[case] tool: ProbeTool,
        #[case] kind: ProbeKind,
        #[case] detected: bool,
    ) {
        let script = batch_script(&[spec("a", kind, "10.0.0.1", Some(5))], tool).unwrap();
        assert_eq!(script.contains("grep -q 'Zero-I/O'"), detected);
    }

    #[test]
    fn the_command_runs_the_script_with_sh() {
        let probes = [spec("a", ProbeKind::Tcp, "10.0.0.1", Some(80))];
        let command = batch_command(&probes, ProbeTool::Agnhost).unwrap();
        assert_eq!(command[..2], ["sh", "-c"]);
        assert_eq!(
            command[2],
            batch_script(&probes, ProbeTool::Agnhost).unwrap()
        );
        assert_eq!(command.len(), 3);
    }

    #[test]
    fn methods_parse_and_print_as_sent() {
        assert_eq!(HttpMethod::parse("post"), Some(HttpMethod::Post));
        assert_eq!(HttpMethod::parse("GET"), Some(HttpMethod::Get));
        assert_eq!(HttpMethod::parse("HEAD"), None);
        assert_eq!(HttpMethod::Post.to_string(), "POST");
    }

    #[test]
    fn empty_batch_just_ends() {
        let script = batch_script(&[], ProbeTool::Busybox).unwrap();
        assert!(script.ends_with("wait\necho NPH-END\n"));
        assert!(!script.contains("( "));
    }

    #[rstest]
    #[case::ms_rounded_up_for_busybox(
        Duration::from_millis(1500),
        "nc $nph_ncz -w 2 ",
        "nph_cap 3 "
    )]
    #[case::long(Duration::from_secs(10), "nc $nph_ncz -w 10 ", "nph_cap 11 ")]
    fn timeouts_and_caps(#[case] timeout: Duration, #[case] tool_arg: &str, #[case] cap: &str) {
        let probe = ProbeSpec {
            timeout,
            ..spec("a", ProbeKind::Tcp, "10.0.0.1", Some(1))
        };
        let script = batch_script(std::slice::from_ref(&probe), ProbeTool::Busybox).unwrap();
        assert!(
            script.contains(tool_arg) && script.contains(cap),
            "{script}"
        );
        let script = batch_script(&[probe], ProbeTool::Agnhost).unwrap();
        assert!(script.contains(&format!("--timeout={}ms", timeout.as_millis())));
        assert!(script.contains(cap));
    }

    #[test]
    fn sctp_needs_agnhost() {
        let probes = [
            spec("ok", ProbeKind::Tcp, "10.0.0.1", Some(80)),
            spec("s", ProbeKind::Sctp, "10.0.0.1", Some(80)),
        ];
        assert_eq!(
            batch_script(&probes, ProbeTool::Busybox),
            Err(ProbeError::Unsupported {
                id: "s".into(),
                kind: "sctp",
                tool: ProbeTool::Busybox
            })
        );
        assert!(batch_script(&probes, ProbeTool::Agnhost).is_ok());
    }

    #[rstest]
    #[case::host_semicolon(spec("a", ProbeKind::Tcp, "10.0.0.1;reboot", Some(80)))]
    #[case::host_subst(spec("a", ProbeKind::Icmp, "$(reboot)", None))]
    #[case::host_quote(spec("a", ProbeKind::Icmp, "x'; reboot; '", None))]
    #[case::host_option(spec("a", ProbeKind::Icmp, "-f", None))]
    #[case::path_quote(spec("a", http(HttpMethod::Get, "/'; reboot; '"), "h", None))]
    #[case::path_space(spec("a", http(HttpMethod::Get, "/ -O /etc/passwd"), "h", None))]
    #[case::dns_option(spec("a", ProbeKind::Dns { name: "-debug".into() }, "10.0.0.10", None))]
    #[case::dns_subst(spec("a", ProbeKind::Dns { name: "`reboot`".into() }, "10.0.0.10", None))]
    #[case::id_quote(spec("a'b", ProbeKind::Icmp, "10.0.0.1", None))]
    #[case::id_newline(spec("a\nNPH b", ProbeKind::Icmp, "10.0.0.1", None))]
    fn injection_refused(#[case] probe: ProbeSpec) {
        for tool in [ProbeTool::Busybox, ProbeTool::Agnhost] {
            assert!(
                matches!(
                    batch_script(std::slice::from_ref(&probe), tool),
                    Err(ProbeError::InvalidSpec { .. })
                ),
                "{probe:?}"
            );
        }
    }

    #[test]
    fn quote_escapes_single_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
        assert_eq!(quote("$(x) `y`"), "'$(x) `y`'");
    }

    proptest! {
        /// Whatever the host, the script either refuses it or carries it only inside single
        /// quotes, with none inside.
        #[test]
        fn hosts_are_refused_or_safely_quoted(host in "\\PC{0,40}") {
            let probe = spec("p", ProbeKind::Icmp, &host, None);
            if let Ok(script) = batch_script(&[probe], ProbeTool::Busybox) {
                prop_assert!(!host.contains('\''));
                prop_assert!(!host.starts_with('-'));
                let line = probe_line(&script, "p");
                let quoted = format!(" '{host}' ");
                prop_assert!(line.contains(&quoted), "{}", line);
            }
        }
    }
}
