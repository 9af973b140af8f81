//! ClusterNetworkPolicy `protocols`: grouped in Calico's conversion shape, ports and ranges
//! checked.

use super::{Ctx, PortDoc, ProtocolDoc, ProtocolGroups};
use crate::manifest::ManifestError;
use crate::model::Protocol;
use crate::policy::PortSpec;

impl Ctx<'_> {
    /// The protocol groups of a rule, in Calico's conversion shape: `[(None, [])]` without
    /// protocols; otherwise one group per protocol, named ports in a group of their own.
    pub(super) fn protocols(
        &self,
        at: &str,
        protocols: Option<&[ProtocolDoc]>,
    ) -> Result<ProtocolGroups, ManifestError> {
        let doc = self.doc;
        let Some(list) = protocols else {
            return Ok(vec![(None, Vec::new())]);
        };
        self.check_count(at, list.len(), 1, "protocols")?;
        let mut groups: ProtocolGroups = Vec::new();
        for (i, p) in list.iter().enumerate() {
            let field = format!("{at}[{i}]");
            let named = p
                .destination_named_port
                .as_deref()
                .filter(|n| !n.is_empty());
            let set = [
                p.tcp.is_some(),
                p.udp.is_some(),
                p.sctp.is_some(),
                named.is_some(),
            ]
            .iter()
            .filter(|&&b| b)
            .count();
            if set != 1 {
                return Err(doc.invalid(
                    field,
                    "exactly one of `tcp`, `udp`, `sctp` and `destinationNamedPort` must be set",
                ));
            }
            let (protocol, spec) = if let Some(name) = named {
                (None, PortSpec::Named(name.to_string()))
            } else {
                let (protocol, key, holder) = match (&p.tcp, &p.udp, &p.sctp) {
                    (Some(h), _, _) => (Protocol::Tcp, "tcp", h),
                    (_, Some(h), _) => (Protocol::Udp, "udp", h),
                    (_, _, Some(h)) => (Protocol::Sctp, "sctp", h),
                    _ => unreachable!("exactly one is set"),
                };
                let f = format!("{field}.{key}");
                let Some(port) = &holder.destination_port else {
                    return Err(doc.invalid(
                        f,
                        "must set destinationPort (MinProperties=1); omit `protocols` to match every port",
                    ));
                };
                (
                    Some(protocol),
                    self.port(&format!("{f}.destinationPort"), port)?,
                )
            };
            match groups.iter_mut().find(|(p, _)| *p == protocol) {
                Some((_, specs)) => {
                    if !specs.contains(&spec) {
                        specs.push(spec);
                    }
                }
                None => groups.push((protocol, vec![spec])),
            }
        }
        Ok(groups)
    }

    pub(super) fn port(&self, at: &str, port: &PortDoc) -> Result<PortSpec, ManifestError> {
        let doc = self.doc;
        let number = |n: i64, f: String| -> Result<u16, ManifestError> {
            u16::try_from(n)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| doc.invalid(f, format!("{n} is not a port number (1-65535)")))
        };
        match (port.number, &port.range) {
            (Some(n), None) => {
                let n = number(n, format!("{at}.number"))?;
                Ok(PortSpec::Range(n, n))
            }
            (None, Some(r)) => {
                let start = r
                    .start
                    .ok_or_else(|| doc.invalid(format!("{at}.range.start"), "missing"))?;
                let end = r
                    .end
                    .ok_or_else(|| doc.invalid(format!("{at}.range.end"), "missing"))?;
                let start = number(start, format!("{at}.range.start"))?;
                let end = number(end, format!("{at}.range.end"))?;
                if start >= end {
                    return Err(doc.invalid(
                        format!("{at}.range"),
                        format!("Start port must be less than End port ({start} is not less than {end}; the CRD's CEL rule)"),
                    ));
                }
                Ok(PortSpec::Range(start, end))
            }
            _ => Err(doc.invalid(at, "exactly one of `number` and `range` must be set")),
        }
    }
}
