//! Expanding a probe matrix (rows of `from`, columns of `to`, one mark per cell) into single
//! probes.

use super::format::{Expectation, MatrixProbes, Probe};

/// One cell of a matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixCell {
    /// Row (index into `from`).
    pub row: usize,
    /// Column (index into `to`).
    pub column: usize,
    /// The probe.
    pub probe: Probe,
}

/// Expands a matrix into single probes, skipping `-` cells. Errors are `(field suffix, message)`.
pub fn expand_matrix(m: &MatrixProbes) -> Result<Vec<MatrixCell>, (String, String)> {
    let rows: Vec<&str> = m
        .expect
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if m.from.is_empty() || m.to.is_empty() {
        return Err((
            String::new(),
            "a matrix needs at least one `from` and one `to`".to_string(),
        ));
    }
    if rows.len() != m.from.len() {
        return Err((
            ".expect".to_string(),
            format!(
                "{} rows of marks for {} `from` entries: write one line per `from`",
                rows.len(),
                m.from.len()
            ),
        ));
    }
    let mut cells = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let marks: Vec<&str> = row.split_whitespace().collect();
        if marks.len() != m.to.len() {
            return Err((
                ".expect".to_string(),
                format!(
                    "row {} (`{row}`, from {}) has {} marks for {} `to` columns",
                    r + 1,
                    m.from[r],
                    marks.len(),
                    m.to.len()
                ),
            ));
        }
        for (c, mark) in marks.iter().enumerate() {
            let expect = match *mark {
                "." => Expectation::Allowed,
                "X" => Expectation::Blocked,
                "-" => continue,
                other => {
                    return Err((
                        ".expect".to_string(),
                        format!(
                            "row {}, column {}: `{other}` is not a mark (`.` allowed, `X` blocked, `-` not probed)",
                            r + 1,
                            c + 1
                        ),
                    ));
                }
            };
            cells.push(MatrixCell {
                row: r,
                column: c,
                probe: Probe {
                    from: m.from[r].clone(),
                    to: m.to[c].clone(),
                    port: m.port,
                    kind: m.kind,
                    method: None,
                    path: None,
                    expect,
                    timeout: None,
                },
            });
        }
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::format::ScenarioProbeKind;

    #[test]
    fn matrices_expand_row_by_row_and_skip_dashes() {
        let m = MatrixProbes {
            kind: ScenarioProbeKind::Icmp,
            port: None,
            from: vec!["a/x".into(), "a/y".into()],
            to: vec!["a/x".into(), "a/y".into()],
            expect: "- X\n. -\n".into(),
        };
        let cells = expand_matrix(&m).unwrap();
        assert_eq!(cells.len(), 2);
        assert_eq!((cells[0].row, cells[0].column), (0, 1));
        assert_eq!(cells[0].probe.expect, Expectation::Blocked);
        assert_eq!(cells[1].probe.from, "a/y");
        assert_eq!(cells[1].probe.expect, Expectation::Allowed);
    }

    #[test]
    fn matrix_shape_errors_say_which_row() {
        let mut m = MatrixProbes {
            kind: ScenarioProbeKind::Icmp,
            port: None,
            from: vec!["a/x".into(), "a/y".into()],
            to: vec!["a/x".into(), "a/y".into()],
            expect: ". .\n".into(),
        };
        assert!(
            expand_matrix(&m)
                .unwrap_err()
                .1
                .contains("1 rows of marks for 2")
        );
        m.expect = ". .\n. . .\n".into();
        assert!(expand_matrix(&m).unwrap_err().1.contains("row 2"));
        m.expect = ". .\n. o\n".into();
        assert!(
            expand_matrix(&m)
                .unwrap_err()
                .1
                .contains("`o` is not a mark")
        );
    }
}
