//! `analyze --diff`: the cells whose verdict changes between two answers.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::view::{Shown, View};
use crate::model::EndpointId;
use crate::oracle::ProbePort;

/// How one cell compares across two answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    NotServed,
    Loopback,
    Allowed,
    Unknown,
    Blocked,
}

impl Class {
    fn of(shown: &Shown) -> Class {
        match shown {
            Shown::NotServed => Class::NotServed,
            Shown::Loopback => Class::Loopback,
            Shown::Verdict {
                uncertain: Some(_), ..
            } => Class::Unknown,
            Shown::Verdict { allowed: true, .. } => Class::Allowed,
            Shown::Verdict { allowed: false, .. } => Class::Blocked,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Class::NotServed => "not served",
            Class::Loopback => "loopback",
            Class::Allowed => "allowed",
            Class::Unknown => "unknown",
            Class::Blocked => "blocked",
        }
    }
}

/// What `analyze --diff` found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffSummary {
    /// Cells whose verdict changed.
    pub changed: usize,
    /// Of those, cells allowed now that were not before.
    pub new_allows: usize,
}

/// One changed cell of `analyze --diff --output json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeJson {
    /// `namespace/name` of the client.
    pub from: String,
    /// `namespace/name` of the server.
    pub to: String,
    /// The probe, e.g. `80/TCP`.
    pub probe: String,
    /// The verdict before: `allowed`, `blocked`, `unknown`, `not served`, `loopback`.
    pub before: &'static str,
    /// The verdict after.
    pub after: &'static str,
    /// Why, before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_reason: Option<String>,
    /// Why, after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_reason: Option<String>,
}

/// Compares two answers cell by cell over the endpoints both have (by `namespace/name`) and the
/// probes of either, writing the cells whose verdict changes with both explanations (as text, or
/// as JSON with `json`).
pub fn write_diff(
    old: &View<'_>,
    new: &View<'_>,
    json: bool,
    out: &mut dyn Write,
) -> std::io::Result<DiffSummary> {
    let mut probes: Vec<ProbePort> = old.probes.iter().chain(&new.probes).copied().collect();
    probes.sort();
    probes.dedup();
    let old_keys: BTreeMap<String, EndpointId> = old
        .analysis
        .cluster
        .endpoint_ids()
        .map(|id| (old.key(id), id))
        .collect();
    let new_keys: BTreeMap<String, EndpointId> = new
        .analysis
        .cluster
        .endpoint_ids()
        .map(|id| (new.key(id), id))
        .collect();
    let both = |ids_old: &[EndpointId]| -> Vec<(EndpointId, EndpointId)> {
        ids_old
            .iter()
            .filter_map(|&o| new_keys.get(&old.key(o)).map(|&n| (o, n)))
            .collect()
    };
    let from: Vec<(EndpointId, EndpointId)> = both(&old.from)
        .into_iter()
        .filter(|(_, n)| new.from.contains(n))
        .collect();
    let to: Vec<(EndpointId, EndpointId)> = both(&old.to)
        .into_iter()
        .filter(|(_, n)| new.to.contains(n))
        .collect();
    let removed: Vec<&String> = old_keys
        .keys()
        .filter(|k| !new_keys.contains_key(*k))
        .collect();
    let added: Vec<&String> = new_keys
        .keys()
        .filter(|k| !old_keys.contains_key(*k))
        .collect();
    let mut summary = DiffSummary::default();
    let mut changes = Vec::new();
    for &probe in &probes {
        for &(fo, fname) in &from {
            for &(to_old, to_new) in &to {
                let (a, _) = old.cell(fo, to_old, probe, false);
                let (b, _) = new.cell(fname, to_new, probe, false);
                let (ca, cb) = (Class::of(&a), Class::of(&b));
                if ca == cb {
                    continue;
                }
                summary.changed += 1;
                if cb == Class::Allowed {
                    summary.new_allows += 1;
                }
                let not_served =
                    |v: &View<'_>, t: EndpointId| format!("{} declares no port {probe}", v.key(t));
                let (_, ra) = old.cell(fo, to_old, probe, true);
                let (_, rb) = new.cell(fname, to_new, probe, true);
                let ra = ra.or_else(|| Some(not_served(old, to_old)));
                let rb = rb.or_else(|| Some(not_served(new, to_new)));
                changes.push(ChangeJson {
                    from: old.key(fo),
                    to: old.key(to_old),
                    probe: probe.to_string(),
                    before: ca.word(),
                    after: cb.word(),
                    before_reason: ra,
                    after_reason: rb,
                });
            }
        }
    }
    if json {
        let doc = serde_json::json!({
            "changed": summary.changed,
            "new_allows": summary.new_allows,
            "added_endpoints": added,
            "removed_endpoints": removed,
            "changes": changes,
        });
        serde_json::to_writer(&mut *out, &doc)?;
        writeln!(out)?;
        return Ok(summary);
    }
    for banner in [old.notes.banner(), new.notes.banner()]
        .into_iter()
        .flatten()
    {
        writeln!(out, "{banner}")?;
    }
    if !removed.is_empty() {
        let list: Vec<&str> = removed.iter().map(|s| s.as_str()).collect();
        writeln!(
            out,
            "endpoints only before (not compared): {}",
            list.join(", ")
        )?;
    }
    if !added.is_empty() {
        let list: Vec<&str> = added.iter().map(|s| s.as_str()).collect();
        writeln!(
            out,
            "endpoints only after (not compared): {}",
            list.join(", ")
        )?;
    }
    let mut last_probe = String::new();
    for c in &changes {
        if c.probe != last_probe {
            writeln!(out, "{}", c.probe)?;
            last_probe.clone_from(&c.probe);
        }
        writeln!(out, "  {} → {}: {} → {}", c.from, c.to, c.before, c.after)?;
        if let Some(r) = &c.before_reason {
            writeln!(out, "    before: {r}")?;
        }
        if let Some(r) = &c.after_reason {
            writeln!(out, "    after:  {r}")?;
        }
    }
    writeln!(
        out,
        "{} cell(s) changed, {} newly allowed",
        summary.changed, summary.new_allows
    )?;
    Ok(summary)
}
