//! Whose semantics the oracle predicts: the APIs as written, or one Calico version line.

/// A Calico version line whose behaviour differs from its neighbours'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CalicoLine {
    /// 3.29: AdminNetworkPolicy, no BaselineAdminNetworkPolicy (added in 3.30, calico#9464).
    V3_29,
    /// 3.30: AdminNetworkPolicy and BaselineAdminNetworkPolicy.
    V3_30,
    /// 3.31: as 3.30.
    V3_31,
    /// 3.32 and later: ClusterNetworkPolicy in `kube-admin`/`kube-baseline`; no ANP/BANP.
    V3_32,
}

impl CalicoLine {
    /// Every line, oldest first.
    pub const ALL: [CalicoLine; 4] = [
        CalicoLine::V3_29,
        CalicoLine::V3_30,
        CalicoLine::V3_31,
        CalicoLine::V3_32,
    ];

    /// `3.29` … `3.32`.
    pub fn as_str(self) -> &'static str {
        match self {
            CalicoLine::V3_29 => "3.29",
            CalicoLine::V3_30 => "3.30",
            CalicoLine::V3_31 => "3.31",
            CalicoLine::V3_32 => "3.32",
        }
    }

    /// Whether this line implements ClusterNetworkPolicy (and no longer ANP/BANP).
    pub fn has_cnp(self) -> bool {
        self >= CalicoLine::V3_32
    }
}

/// Why a Calico version is refused; each names the text given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalicoLineError {
    /// Not `3.MINOR[.PATCH]`.
    #[error("`{0}` is not a Calico version (expected 3.29 to 3.32)")]
    NotAVersion(String),
    /// A version before tiers existed.
    #[error(
        "Calico {0} has no tiers in Calico Open Source (tiers arrived in 3.29); expected 3.29 to 3.32"
    )]
    BeforeTiers(String),
}

impl std::str::FromStr for CalicoLine {
    type Err = CalicoLineError;

    /// `3.29`, `3.30`, `3.31`, `3.32`, or a patch version of one (`3.31.7`); later minor
    /// versions behave as 3.32 as far as the sources read go.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let minor = s
            .trim_start_matches('v')
            .strip_prefix("3.")
            .and_then(|r| r.split('.').next())
            .and_then(|m| m.parse::<u32>().ok())
            .ok_or_else(|| CalicoLineError::NotAVersion(s.to_string()))?;
        match minor {
            29 => Ok(CalicoLine::V3_29),
            30 => Ok(CalicoLine::V3_30),
            31 => Ok(CalicoLine::V3_31),
            32.. => Ok(CalicoLine::V3_32),
            _ => Err(CalicoLineError::BeforeTiers(s.to_string())),
        }
    }
}

/// Whose behaviour the oracle predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Semantics {
    /// The APIs as written: ClusterNetworkPolicy per its spec (equal priorities are "either"),
    /// AdminNetworkPolicy per its spec, Calico kinds as Calico 3.29–3.31 evaluates them.
    #[default]
    Generic,
    /// What one Calico version line does, read from its conversion and Felix code.
    Calico(CalicoLine),
}

impl Semantics {
    /// The Calico line, if the semantics are Calico's.
    pub fn calico(self) -> Option<CalicoLine> {
        match self {
            Semantics::Calico(line) => Some(line),
            Semantics::Generic => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calico_versions_parse_to_their_line_and_others_are_refused_by_kind() {
        assert_eq!("v3.31.7".parse(), Ok(CalicoLine::V3_31));
        assert_eq!("3.40".parse(), Ok(CalicoLine::V3_32));
        assert_eq!(
            "latest".parse::<CalicoLine>(),
            Err(CalicoLineError::NotAVersion("latest".into()))
        );
        let old = "3.28.2".parse::<CalicoLine>().unwrap_err();
        assert_eq!(old, CalicoLineError::BeforeTiers("3.28.2".into()));
        assert!(old.to_string().contains("tiers arrived in 3.29"), "{old}");
    }
}
