//! AdminNetworkPolicy `ports`: grouped by protocol in Calico's conversion shape.

use super::{Ctx, MAX_ITEMS, PortDoc, PortGroups};
use crate::manifest::ManifestError;
use crate::model::Protocol;
use crate::policy::PortSpec;
use crate::policy::k8s::port_number;

impl Ctx<'_> {
    /// The protocol groups of a rule's ports, as Calico's conversion builds them: `[(None, [])]`
    /// without ports; otherwise one group per protocol (`None` for named ports, whose protocol is
    /// the container port's), an empty list meaning every port.
    pub(super) fn ports(
        &self,
        at: &str,
        ports: Option<&[PortDoc]>,
    ) -> Result<PortGroups, ManifestError> {
        let doc = self.doc;
        let Some(ports) = ports else {
            return Ok(vec![(None, Vec::new())]);
        };
        if ports.is_empty() || ports.len() > MAX_ITEMS {
            return Err(doc.invalid(at, format!("must list 1 to {MAX_ITEMS} ports")));
        }
        let mut groups: PortGroups = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let field = format!("{at}[{i}]");
            let set = [
                port.port_number.is_some(),
                port.named_port.is_some(),
                port.port_range.is_some(),
            ]
            .iter()
            .filter(|&&b| b)
            .count();
            if set != 1 {
                return Err(doc.invalid(
                    field,
                    "exactly one of `portNumber`, `namedPort` and `portRange` must be set",
                ));
            }
            let protocol = |p: &Option<String>, f: &str| -> Result<Protocol, ManifestError> {
                match p {
                    None => Ok(Protocol::Tcp),
                    Some(p) => Protocol::parse_port_protocol(p)
                        .map_err(|m| doc.invalid(format!("{field}.{f}.protocol"), m)),
                }
            };
            let number = |n: i64, f: &str| -> Result<u16, ManifestError> {
                port_number(
                    doc,
                    &format!("{field}.{f}"),
                    i32::try_from(n).unwrap_or(i32::MAX),
                )
            };
            let (protocol, spec) = if let Some(p) = &port.port_number {
                let n = number(p.port, "portNumber.port")?;
                (
                    Some(protocol(&p.protocol, "portNumber")?),
                    PortSpec::Range(n, n),
                )
            } else if let Some(r) = &port.port_range {
                let start = number(r.start, "portRange.start")?;
                let end = number(r.end, "portRange.end")?;
                if start > end {
                    return Err(doc.invalid(
                        format!("{field}.portRange"),
                        format!("start {start} is greater than end {end}"),
                    ));
                }
                (
                    Some(protocol(&r.protocol, "portRange")?),
                    PortSpec::Range(start, end),
                )
            } else {
                let name = port.named_port.clone().unwrap_or_default();
                match crate::model::build_port_ref(
                    &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(name),
                )
                .map_err(|m| doc.invalid(format!("{field}.namedPort"), m))?
                {
                    crate::model::PortRef::Name(n) => (None, PortSpec::Named(n)),
                    crate::model::PortRef::Number(_) => {
                        unreachable!("a string is never parsed as a port number")
                    }
                }
            };
            if self.calico && matches!(spec, PortSpec::Named(_)) {
                return Ok(vec![(None, Vec::new())]);
            }
            match groups.iter_mut().find(|(p, _)| *p == protocol) {
                Some((_, list)) => {
                    if !list.contains(&spec) {
                        list.push(spec);
                    }
                }
                None => groups.push((protocol, vec![spec])),
            }
        }
        Ok(groups)
    }
}
