//! `--from` / `--to`: endpoints by `namespace/name` pattern.

use crate::model::{Cluster, EndpointId};

/// A `--from`/`--to` pattern that matches no endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag} {pattern}: no endpoint matches (endpoints: {known})")]
pub struct NoMatch {
    /// `--from` or `--to`.
    pub flag: String,
    /// The pattern.
    pub pattern: String,
    /// Up to 20 endpoints that exist, `, …` when there are more.
    pub known: String,
}

/// Endpoints whose `namespace/name` matches one of `patterns` (all when there are none): `ns/name`
/// with `*` as a wildcard, or a bare namespace. A pattern that matches nothing is an error.
pub fn select(
    cluster: &Cluster,
    patterns: &[String],
    flag: &str,
) -> Result<Vec<EndpointId>, NoMatch> {
    if patterns.is_empty() {
        return Ok(cluster.endpoint_ids().collect());
    }
    let mut chosen = vec![false; cluster.endpoints.len()];
    for pattern in patterns {
        let full = if pattern.contains('/') {
            pattern.clone()
        } else {
            format!("{pattern}/*")
        };
        let mut any = false;
        for id in cluster.endpoint_ids() {
            if glob(&full, &cluster.get(id).key()) {
                chosen[id.0] = true;
                any = true;
            }
        }
        if !any {
            let known: Vec<String> = cluster.endpoints.iter().take(20).map(|e| e.key()).collect();
            return Err(NoMatch {
                flag: flag.to_string(),
                pattern: pattern.clone(),
                known: format!(
                    "{}{}",
                    known.join(", "),
                    if cluster.endpoints.len() > 20 {
                        ", …"
                    } else {
                        ""
                    }
                ),
            });
        }
    }
    Ok(cluster.endpoint_ids().filter(|id| chosen[id.0]).collect())
}

/// `*`-wildcard match of the whole of `text`.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("a/*", "a/web"));
        assert!(!glob("a/*", "ab/web"));
        assert!(glob("*/web", "b/web"));
        assert!(glob("a/w*b", "a/web"));
        assert!(!glob("a/w*b", "a/webs"));
        assert!(glob("a/web", "a/web"));
        assert!(!glob("a/we", "a/web"));
    }
}
