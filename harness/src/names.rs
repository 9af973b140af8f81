//! The names Kubernetes accepts, checked when files are loaded so that a name the API server
//! would refuse (or that could only be printed unsafely) is refused at load with its field,
//! instead of failing at run time and taking valid probes down with it.
//!
//! The rules are the API machinery's validation functions, as of the Kubernetes version the
//! harness builds against (`k8s-openapi` feature `v1_33`):
//! kubernetes/kubernetes@v1.33.0:staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go
//! (`IsDNS1123Label`, `IsDNS1123Subdomain`, `IsQualifiedName`, `IsValidLabelValue`,
//! `IsValidPortName`). Container port names are IANA service names ([`port_name`]); Service
//! port names are DNS-1123 labels.

/// A name Kubernetes would refuse, with the rule it breaks. Each variant holds the name as
/// shown in messages (escaped for a terminal, cut to 80 characters) or, for a path too long, its
/// length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not 1 to 63 characters.
    #[error("`{0}` must be 1 to 63 characters (a DNS-1123 label)")]
    LabelLength(String),
    /// Not a DNS-1123 label.
    #[error(
        "`{0}` is not a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit)"
    )]
    Label(String),
    /// Not 1 to 253 characters.
    #[error("`{0}` must be 1 to 253 characters (a DNS-1123 subdomain)")]
    SubdomainLength(String),
    /// Not a DNS-1123 subdomain.
    #[error("`{0}` is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')")]
    Subdomain(String),
    /// Not a label key.
    #[error(
        "`{0}` is not a label key ([PREFIX/]NAME: NAME at most 63 letters, digits, '-', '_', '.', starting and ending with a letter or digit; PREFIX a DNS-1123 subdomain)"
    )]
    LabelKey(String),
    /// Not a label value.
    #[error(
        "`{0}` is not a label value (at most 63 letters, digits, '-', '_', '.', starting and ending with a letter or digit)"
    )]
    LabelValue(String),
    /// Not a port name.
    #[error(
        "`{0}` is not a port name (at most 15 lower-case letters, digits and '-', with a letter, no '-' at an end or twice in a row)"
    )]
    PortName(String),
    /// An HTTP path longer than [`MAX_HTTP_PATH`] (its length).
    #[error("the path is {0} characters long; at most {MAX_HTTP_PATH}")]
    HttpPathLength(usize),
    /// An HTTP path with a character outside the allowed set.
    #[error(
        "`{0}`: a path starts with '/' and holds only letters, digits and - . _ ~ / % : @ = + , ?"
    )]
    HttpPath(String),
}

/// A DNS-1123 label (namespaces, Service names, label-key names' prefix parts): at most 63
/// characters, lower-case letters, digits and `-`, starting and ending with a letter or digit.
pub fn dns1123_label(name: &str) -> Result<(), NameError> {
    if name.is_empty() || name.len() > 63 {
        return Err(NameError::LabelLength(shown(name)));
    }
    let inner = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !name.chars().all(inner) || !edge(name.chars().next()) || !edge(name.chars().last()) {
        return Err(NameError::Label(shown(name)));
    }
    Ok(())
}

/// A DNS-1123 subdomain (most object names): at most 253 characters, DNS-1123 labels joined by
/// `.`.
pub fn dns1123_subdomain(name: &str) -> Result<(), NameError> {
    if name.is_empty() || name.len() > 253 {
        return Err(NameError::SubdomainLength(shown(name)));
    }
    if name.split('.').any(|part| dns1123_label(part).is_err()) {
        return Err(NameError::Subdomain(shown(name)));
    }
    Ok(())
}

/// The name part of a qualified name (label keys, annotation keys): at most 63 characters,
/// letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit.
fn qualified_name_part(name: &str) -> bool {
    let inner = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(inner)
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A label key: an optional DNS-1123 subdomain prefix and `/`, then a name of at most 63
/// characters.
pub fn label_key(key: &str) -> Result<(), NameError> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| dns1123_subdomain(p).is_ok());
    if !prefix_ok || !qualified_name_part(name) {
        return Err(NameError::LabelKey(shown(key)));
    }
    Ok(())
}

/// A label value: empty, or at most 63 letters, digits, `-`, `_`, `.`, starting and ending with
/// a letter or digit.
pub fn label_value(value: &str) -> Result<(), NameError> {
    if !value.is_empty() && !qualified_name_part(value) {
        return Err(NameError::LabelValue(shown(value)));
    }
    Ok(())
}

/// A port name (IANA service name): at most 15 lower-case letters, digits and `-`, at least
/// one letter, no `-` at either end or twice in a row.
pub fn port_name(name: &str) -> Result<(), NameError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.chars().any(|c| c.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !ok {
        return Err(NameError::PortName(shown(name)));
    }
    Ok(())
}

/// The longest HTTP path a probe sends.
pub const MAX_HTTP_PATH: usize = 256;

/// An HTTP path a probe sends (and `reproduce` prints in a command): `/` then letters, digits
/// and `- . _ ~ / % : @ = + , ?` only (no space, quote, `$`, `;`, `&`, `|`, backtick or other
/// shell syntax), at most [`MAX_HTTP_PATH`] characters.
pub fn http_path(path: &str) -> Result<(), NameError> {
    if path.len() > MAX_HTTP_PATH {
        return Err(NameError::HttpPathLength(path.len()));
    }
    let ok = path.starts_with('/')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~/%:@=+,?".contains(c));
    if !ok {
        return Err(NameError::HttpPath(shown(path)));
    }
    Ok(())
}

/// A name for an error message: through [`crate::escape::terminal`], and cut to 80 characters
/// (the limit broken may be the length).
fn shown(name: &str) -> String {
    let escaped = crate::escape::terminal(name);
    match escaped.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &escaped[..cut]),
        None => escaped.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        assert!(dns1123_label("ns-1").is_ok());
        assert!(dns1123_label(&"a".repeat(63)).is_ok());
        for bad in ["", "-a", "a-", "A", "a.b", "a_b", "a\nb", &"a".repeat(64)] {
            assert!(dns1123_label(bad).is_err(), "{bad}");
        }
        assert!(dns1123_subdomain("allow.default").is_ok());
        assert!(dns1123_subdomain("a..b").is_err());
        assert!(dns1123_subdomain(&"a.".repeat(127)).is_err());
        let long = dns1123_label(&"x".repeat(500)).unwrap_err().to_string();
        assert!(long.len() < 200, "{long}");
    }

    #[test]
    fn label_keys_values_and_port_names() {
        for ok in [
            "app",
            "app.kubernetes.io/name",
            "projectcalico.org/tier",
            "a_b.c",
        ] {
            assert!(label_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/a", "a/", "-a", "A/b", "a b", "a/b/c", &"k".repeat(64)] {
            assert!(label_key(bad).is_err(), "{bad}");
        }
        assert!(label_value("").is_ok());
        assert!(label_value("v1.2_x-Y").is_ok());
        for bad in ["x; touch pwned", "-a", "a\u{1b}", &"v".repeat(64)] {
            assert!(label_value(bad).is_err(), "{bad}");
        }
        assert!(port_name("http").is_ok());
        assert!(port_name("dns-tcp").is_ok());
        for bad in ["", "80", "a--b", "-a", "HTTP", "a-very-long-port-name"] {
            assert!(port_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_paths_have_no_shell_syntax_and_a_bounded_length() {
        assert!(http_path("/").is_ok());
        assert!(http_path("/test?a=1,b=%20").is_ok());
        for bad in [
            "test", "/a b", "/$(id)", "/a;b", "/a&b", "/a|b", "/`x`", "/'", "/\"", "/a\nb",
        ] {
            assert!(http_path(bad).is_err(), "{bad:?}");
        }
        let err = http_path(&format!("/{}", "a".repeat(2_000)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 256"), "{err}");
    }
}
