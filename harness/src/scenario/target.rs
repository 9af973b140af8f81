//! The probe address syntax: who probes (`from`) and what is probed (`to`), and which probe kinds
//! and ports go with which targets.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use thiserror::Error;

use super::format::{Expectation, Probe, ScenarioProbeKind};
use crate::model::Protocol;
use crate::names::NameError;
use crate::probe::HttpMethod;

/// Why a `from` or `to` is not one the harness can probe.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TargetError {
    /// Not `NAMESPACE/NAME`.
    #[error("`{}`: expected `NAMESPACE/NAME`", crate::escape::terminal(.0))]
    NotNamespaced(String),
    /// The namespace of `NAMESPACE/NAME` is not a DNS-1123 label.
    #[error("namespace {0}")]
    Namespace(NameError),
    /// The name of `NAMESPACE/NAME` is not a DNS-1123 subdomain.
    #[error("name {0}")]
    Name(NameError),
    /// A `from` that is neither an endpoint nor `outside`.
    #[error("{0}, or `{OUTSIDE}`")]
    NotAClient(Box<TargetError>),
    /// `svc:` not followed by `NAMESPACE/NAME`.
    #[error("`svc:`: {0}")]
    Service(Box<TargetError>),
    /// `dns:` not followed by a DNS name.
    #[error("`{0}`: expected `dns:NAME` with a DNS name (letters, digits, '-', '.')")]
    DnsName(String),
    /// `ip:` not followed by an IP address.
    #[error("`{text}`: `{address}` is not an IP address")]
    Ip {
        /// The whole target.
        text: String,
        /// What follows `ip:`.
        address: String,
    },
    /// `ingress:` not followed by a path starting with `/`.
    #[error("`{0}`: expected `ingress:/PATH` with a path starting with '/'")]
    IngressPath(String),
    /// An `ingress:` path a probe cannot send.
    #[error(transparent)]
    HttpPath(NameError),
    /// None of the target forms.
    #[error("{0}, or one of `svc:NAMESPACE/NAME`, `dns:NAME`, `ip:ADDRESS`, `ingress:/PATH`")]
    NotATarget(Box<TargetError>),
}

/// The client of a probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client {
    /// An endpoint of the model, `namespace/name` (a pod, or one pod of a workload).
    Endpoint(String),
    /// `outside`: the harness itself, outside the cluster, reaching the ingress controller's
    /// host port.
    Outside,
}

/// The keyword for [`Client::Outside`].
pub const OUTSIDE: &str = "outside";

impl FromStr for Client {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == OUTSIDE {
            return Ok(Client::Outside);
        }
        endpoint_key(s)
            .map(Client::Endpoint)
            .map_err(|e| TargetError::NotAClient(Box::new(e)))
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Client::Endpoint(key) => f.write_str(key),
            Client::Outside => f.write_str(OUTSIDE),
        }
    }
}

/// The server of a probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `namespace/name`: an endpoint, probed on its pod address.
    Endpoint(String),
    /// `svc:namespace/name`: a Service, probed on its ClusterIP and service port; policy sees the
    /// backend pod and target port.
    Service {
        /// The Service's namespace.
        namespace: String,
        /// The Service's name.
        name: String,
    },
    /// `dns:NAME`: a lookup of NAME through the cluster DNS (UDP 53 to kube-system/coredns).
    Dns(String),
    /// `ip:ADDRESS`: an address outside the cluster.
    Ip(IpAddr),
    /// `ingress:/PATH`: an HTTP request through the ingress controller's host port.
    Ingress(String),
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s.strip_prefix("svc:") {
            let key = endpoint_key(rest).map_err(|e| TargetError::Service(Box::new(e)))?;
            let (namespace, name) = key.split_once('/').expect("checked by endpoint_key");
            return Ok(Target::Service {
                namespace: namespace.to_string(),
                name: name.to_string(),
            });
        }
        if let Some(name) = s.strip_prefix("dns:") {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                return Err(TargetError::DnsName(s.to_string()));
            }
            return Ok(Target::Dns(name.to_ascii_lowercase()));
        }
        if let Some(address) = s.strip_prefix("ip:") {
            return address
                .parse()
                .map(Target::Ip)
                .map_err(|_| TargetError::Ip {
                    text: s.to_string(),
                    address: address.to_string(),
                });
        }
        if let Some(path) = s.strip_prefix("ingress:") {
            if !path.starts_with('/') || path.contains(char::is_whitespace) {
                return Err(TargetError::IngressPath(s.to_string()));
            }
            crate::names::http_path(path).map_err(TargetError::HttpPath)?;
            return Ok(Target::Ingress(path.to_string()));
        }
        endpoint_key(s)
            .map(Target::Endpoint)
            .map_err(|e| TargetError::NotATarget(Box::new(e)))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Endpoint(key) => f.write_str(key),
            Target::Service { namespace, name } => write!(f, "svc:{namespace}/{name}"),
            Target::Dns(name) => write!(f, "dns:{name}"),
            Target::Ip(ip) => write!(f, "ip:{ip}"),
            Target::Ingress(path) => write!(f, "ingress:{path}"),
        }
    }
}

/// Checks `namespace/name`: a namespace (a DNS-1123 label) and an object name (a DNS-1123
/// subdomain), as Kubernetes accepts them.
fn endpoint_key(s: &str) -> Result<String, TargetError> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
            crate::names::dns1123_label(ns).map_err(TargetError::Namespace)?;
            crate::names::dns1123_subdomain(name).map_err(TargetError::Name)?;
            Ok(s.to_string())
        }
        _ => Err(TargetError::NotNamespaced(s.to_string())),
    }
}

/// The cluster domain of kind clusters.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// Whether a DNS name is answered by the cluster DNS itself rather than forwarded to upstream
/// resolvers (which needs the `internet` capability): a short name (searched in the client's
/// namespace), a name ending in `.svc` or `.cluster.local`, or `NAME.NAMESPACE` when
/// `service_exists(namespace, name)` (otherwise `google.com` would count as a Service `google` in
/// namespace `com`).
pub fn is_cluster_name(name: &str, service_exists: impl Fn(&str, &str) -> bool) -> bool {
    let name = name.trim_end_matches('.');
    if !name.contains('.')
        || name.ends_with(&format!(".{CLUSTER_DOMAIN}"))
        || name.ends_with(".svc")
    {
        return true;
    }
    match name.split_once('.') {
        Some((service, namespace)) if !namespace.contains('.') => {
            service_exists(namespace, service)
        }
        _ => false,
    }
}

/// The Service a qualified cluster name (`NAME.NAMESPACE`, `NAME.NAMESPACE.svc` or
/// `NAME.NAMESPACE.svc.cluster.local`) designates, as `(namespace, name)`.
pub fn service_of_name(name: &str) -> Option<(String, String)> {
    let name = name.trim_end_matches('.');
    let short = name
        .strip_suffix(&format!(".svc.{CLUSTER_DOMAIN}"))
        .or_else(|| name.strip_suffix(".svc"))
        .unwrap_or(name);
    match short.split('.').collect::<Vec<_>>()[..] {
        [service, namespace] => Some((namespace.to_string(), service.to_string())),
        _ => None,
    }
}

/// The protocol a probe kind sends.
pub fn protocol(kind: ScenarioProbeKind) -> Protocol {
    match kind {
        ScenarioProbeKind::Tcp | ScenarioProbeKind::Http => Protocol::Tcp,
        ScenarioProbeKind::Udp | ScenarioProbeKind::Dns => Protocol::Udp,
        ScenarioProbeKind::Sctp => Protocol::Sctp,
        ScenarioProbeKind::Icmp => Protocol::Icmp,
    }
}

/// A probe with its client and target parsed and its shape checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedProbe {
    /// The client.
    pub client: Client,
    /// The target.
    pub target: Target,
}

/// Parses a probe's addresses and checks that kind, target, port, method, path and expectation
/// go together. Errors are `(field, message)`, the field relative to the probe.
pub fn parse_probe(probe: &Probe) -> Result<ParsedProbe, (&'static str, String)> {
    let client: Client = probe
        .from
        .parse()
        .map_err(|e: TargetError| ("from", e.to_string()))?;
    let target: Target = probe
        .to
        .parse()
        .map_err(|e: TargetError| ("to", e.to_string()))?;
    if let Some(secs) = probe.timeout
        && !(secs > 0.0 && secs <= 300.0)
    {
        return Err((
            "timeout",
            format!("{secs} is not a number of seconds in (0, 300]"),
        ));
    }
    let kind = probe.kind;
    let kind_name = kind_name(kind);
    match (&client, &target) {
        (Client::Outside, Target::Ingress(_)) => {}
        (Client::Outside, _) => {
            return Err((
                "to",
                format!("`{OUTSIDE}` can only probe `ingress:/PATH` (the ingress controller)"),
            ));
        }
        (_, Target::Ingress(_)) => {
            return Err((
                "from",
                format!("`ingress:` targets are probed from `{OUTSIDE}`"),
            ));
        }
        _ => {}
    }
    match (&target, kind) {
        (Target::Dns(_), ScenarioProbeKind::Dns)
        | (Target::Ingress(_), ScenarioProbeKind::Http) => {}
        (Target::Dns(_), _) | (_, ScenarioProbeKind::Dns) => {
            return Err((
                "kind",
                "kind `dns` goes with `to: dns:NAME`, and only with it".to_string(),
            ));
        }
        (Target::Ingress(_), _) => {
            return Err(("kind", "`ingress:` targets take kind `http`".to_string()));
        }
        (Target::Service { .. }, ScenarioProbeKind::Icmp) => {
            return Err((
                "kind",
                "a Service's ClusterIP does not answer ping; probe the endpoint instead"
                    .to_string(),
            ));
        }
        _ => {}
    }
    let needs_port = !matches!(kind, ScenarioProbeKind::Icmp | ScenarioProbeKind::Dns)
        && !matches!(target, Target::Ingress(_));
    match (needs_port, probe.port) {
        (true, None) => return Err(("port", format!("a `{kind_name}` probe needs a port"))),
        (false, Some(_)) => {
            let what = if matches!(target, Target::Ingress(_)) {
                "an `ingress:` probe goes to the ingress controller's host port".to_string()
            } else {
                format!("a `{kind_name}` probe has no port")
            };
            return Err(("port", what));
        }
        (true, Some(0)) => return Err(("port", "port 0 is not a port".to_string())),
        _ => {}
    }
    if kind != ScenarioProbeKind::Http {
        if probe.method.is_some() {
            return Err(("method", "only `http` probes have a method".to_string()));
        }
        if probe.path.is_some() {
            return Err(("path", "only `http` probes have a path".to_string()));
        }
    }
    if let Some(method) = &probe.method
        && HttpMethod::parse(method).is_none_or(|m| m.as_str() != method)
    {
        return Err((
            "method",
            format!("`{method}`: expected GET or POST (the methods the probes send)"),
        ));
    }
    if let Some(path) = &probe.path {
        if matches!(target, Target::Ingress(_)) {
            return Err((
                "path",
                "an `ingress:` probe takes its path from `to`".to_string(),
            ));
        }
        if !path.starts_with('/') {
            return Err(("path", format!("`{path}` must start with '/'")));
        }
        crate::names::http_path(path).map_err(|e| ("path", e.to_string()))?;
    }
    match (probe.expect, &target) {
        (Expectation::Status(_), _) if kind != ScenarioProbeKind::Http => {
            return Err((
                "expect",
                "only `http` probes can expect a status".to_string(),
            ));
        }
        (Expectation::Status(s), _) if !(100..=599).contains(&s) => {
            return Err(("expect", format!("{s} is not an HTTP status")));
        }
        (Expectation::Allowed, Target::Ingress(_)) => {
            return Err((
                "expect",
                "an `ingress:` probe must expect a status or `blocked`: `allowed` would also accept the ingress controller's 503".to_string(),
            ));
        }
        _ => {}
    }
    Ok(ParsedProbe { client, target })
}

/// The kind's name as written in scenario files.
pub fn kind_name(kind: ScenarioProbeKind) -> &'static str {
    match kind {
        ScenarioProbeKind::Tcp => "tcp",
        ScenarioProbeKind::Udp => "udp",
        ScenarioProbeKind::Sctp => "sctp",
        ScenarioProbeKind::Http => "http",
        ScenarioProbeKind::Icmp => "icmp",
        ScenarioProbeKind::Dns => "dns",
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn probe(from: &str, to: &str, kind: ScenarioProbeKind, port: Option<u16>) -> Probe {
        Probe {
            from: from.into(),
            to: to.into(),
            port,
            kind,
            method: None,
            path: None,
            expect: Expectation::Blocked,
            timeout: None,
        }
    }

    #[test]
    fn a_probe_timeout_must_be_a_sane_number_of_seconds() {
        let mut p = probe("a/x", "a/y", ScenarioProbeKind::Tcp, Some(80));
        for bad in [0.0, -1.0, 301.0, f64::NAN] {
            p.timeout = Some(bad);
            let (field, message) = parse_probe(&p).unwrap_err();
            assert_eq!(field, "timeout");
            assert!(message.contains("(0, 300]"), "{message}");
        }
        for good in [0.5, 3.0, 300.0] {
            p.timeout = Some(good);
            assert!(parse_probe(&p).is_ok(), "{good}");
        }
    }

    #[test]
    fn parses_every_target_form() {
        assert_eq!(
            "a/b".parse::<Target>().unwrap(),
            Target::Endpoint("a/b".into())
        );
        assert_eq!(
            "svc:a/b".parse::<Target>().unwrap(),
            Target::Service {
                namespace: "a".into(),
                name: "b".into()
            }
        );
        assert_eq!(
            "dns:Google.com".parse::<Target>().unwrap(),
            Target::Dns("google.com".into())
        );
        assert_eq!(
            "ip:1.1.1.1".parse::<Target>().unwrap(),
            Target::Ip("1.1.1.1".parse().unwrap())
        );
        assert_eq!(
            "ingress:/echo".parse::<Target>().unwrap(),
            Target::Ingress("/echo".into())
        );
        for t in ["a/b", "svc:a/b", "dns:x.y", "ip:10.0.0.1", "ingress:/"] {
            assert_eq!(t.parse::<Target>().unwrap().to_string(), t);
        }
        assert!(
            "b".parse::<Target>()
                .unwrap_err()
                .to_string()
                .contains("NAMESPACE/NAME")
        );
        assert!(
            "ip:nope"
                .parse::<Target>()
                .unwrap_err()
                .to_string()
                .contains("not an IP")
        );
        assert!(
            "ingress:echo"
                .parse::<Target>()
                .unwrap_err()
                .to_string()
                .contains("'/'")
        );
        assert!(matches!(
            "ip:nope".parse::<Target>(),
            Err(TargetError::Ip { address, .. }) if address == "nope"
        ));
        assert_eq!("outside".parse::<Client>().unwrap(), Client::Outside);
        assert!("Outside".parse::<Client>().is_err());
    }

    #[test]
    fn classifies_cluster_and_internet_names() {
        let exists = |ns: &str, name: &str| ns == "team-a" && name == "echoserver";
        assert!(is_cluster_name("echoserver", exists));
        assert!(is_cluster_name("echoserver.team-a", exists));
        assert!(is_cluster_name("echoserver.team-a.svc", exists));
        assert!(is_cluster_name(
            "echoserver.team-a.svc.cluster.local",
            exists
        ));
        assert!(!is_cluster_name("google.com", exists));
        assert!(!is_cluster_name("www.google.com", exists));
        assert_eq!(
            service_of_name("echoserver.team-a.svc.cluster.local"),
            Some(("team-a".into(), "echoserver".into()))
        );
        assert_eq!(service_of_name("echoserver"), None);
    }

    #[rstest]
    #[case::outside_to_endpoint(probe("outside", "a/b", ScenarioProbeKind::Http, Some(80)), "to")]
    #[case::ingress_from_pod(probe("a/b", "ingress:/", ScenarioProbeKind::Http, None), "from")]
    #[case::dns_kind_elsewhere(probe("a/b", "a/c", ScenarioProbeKind::Dns, None), "kind")]
    #[case::dns_target_tcp(probe("a/b", "dns:x", ScenarioProbeKind::Tcp, Some(53)), "kind")]
    #[case::ping_a_service(probe("a/b", "svc:a/c", ScenarioProbeKind::Icmp, None), "kind")]
    #[case::tcp_without_port(probe("a/b", "a/c", ScenarioProbeKind::Tcp, None), "port")]
    #[case::icmp_with_port(probe("a/b", "a/c", ScenarioProbeKind::Icmp, Some(1)), "port")]
    #[case::ingress_with_port(
        probe("outside", "ingress:/", ScenarioProbeKind::Http, Some(80)),
        "port"
    )]
    #[case::head_is_not_sent(Probe { method: Some("HEAD".into()), ..probe("a/b", "a/c", ScenarioProbeKind::Http, Some(80)) }, "method")]
    #[case::lower_case_method(Probe { method: Some("post".into()), ..probe("a/b", "a/c", ScenarioProbeKind::Http, Some(80)) }, "method")]
    fn refuses_mismatched_probe_shapes(#[case] p: Probe, #[case] field: &str) {
        assert_eq!(parse_probe(&p).unwrap_err().0, field);
    }

    #[test]
    fn status_expectations_need_http_and_ingress_needs_a_status() {
        let mut p = probe("a/b", "a/c", ScenarioProbeKind::Tcp, Some(80));
        p.expect = Expectation::Status(200);
        assert_eq!(parse_probe(&p).unwrap_err().0, "expect");
        let mut p = probe("outside", "ingress:/", ScenarioProbeKind::Http, None);
        p.expect = Expectation::Allowed;
        assert!(parse_probe(&p).unwrap_err().1.contains("503"));
        p.expect = Expectation::Status(503);
        assert!(parse_probe(&p).is_ok());
    }
}
