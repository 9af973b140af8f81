//! Truth tables: rows are clients (from), columns are servers (to), one table per probe.
//!
//! Columns are numbered and rows carry the number and the full name, so a table stays readable
//! with many endpoints; wide tables are split into blocks of [`COLUMNS_PER_BLOCK`] columns.

use std::fmt::Write;

/// Columns per block before a table wraps.
pub const COLUMNS_PER_BLOCK: usize = 30;

/// What one cell shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// `.`: allowed.
    Allowed,
    /// `X`: blocked.
    Blocked,
    /// `?`: unknown (not probed, or the probe failed).
    Unknown,
    /// `!`: a mismatch (in a diff table).
    Wrong,
}

impl Mark {
    /// The mark's character.
    pub fn symbol(self) -> char {
        match self {
            Mark::Allowed => '.',
            Mark::Blocked => 'X',
            Mark::Unknown => '?',
            Mark::Wrong => '!',
        }
    }
}

/// A square table over `names`, with `mark(from, to)` giving each cell.
pub struct TruthTable<'a> {
    /// Title line (e.g. `80/TCP`).
    pub title: String,
    /// Endpoint names, rows and columns alike.
    pub names: &'a [String],
    /// The marks, `marks[from][to]`.
    pub marks: Vec<Vec<Mark>>,
}

impl TruthTable<'_> {
    /// Renders the table; self cells (the diagonal) are bracketed.
    pub fn render(&self) -> String {
        let n = self.names.len();
        let num_width = n.to_string().len().max(2);
        let cell_width = num_width.max(3);
        let name_width = self
            .names
            .iter()
            .map(|s| s.len())
            .max()
            .unwrap_or(0)
            .min(40);
        let mut out = String::new();
        let _ = writeln!(out, "{}", crate::escape::terminal(&self.title));
        let blocks = n.div_ceil(COLUMNS_PER_BLOCK).max(1);
        for block in 0..blocks {
            let cols = block * COLUMNS_PER_BLOCK..((block + 1) * COLUMNS_PER_BLOCK).min(n);
            if blocks > 1 {
                let _ = writeln!(out, "  columns {}-{} of {n}", cols.start + 1, cols.end);
            }
            let _ = write!(
                out,
                "{:>w$} {:<nw$} ",
                "",
                "from \\ to",
                w = num_width,
                nw = name_width
            );
            for c in cols.clone() {
                let _ = write!(out, "{:>w$} ", c + 1, w = cell_width);
            }
            out.push('\n');
            for (r, name) in self.names.iter().enumerate() {
                let _ = write!(
                    out,
                    "{:>w$} {:<nw$} ",
                    r + 1,
                    abbreviate(&crate::escape::terminal(name), name_width),
                    w = num_width,
                    nw = name_width
                );
                for c in cols.clone() {
                    let symbol = self.marks[r][c].symbol();
                    let cell = if r == c {
                        format!("[{symbol}]")
                    } else {
                        symbol.to_string()
                    };
                    let _ = write!(out, "{:>w$} ", cell, w = cell_width);
                }
                out.push('\n');
            }
        }
        out
    }
}

/// The legend printed under tables.
pub fn legend() -> &'static str {
    "legend: rows = from (client), columns = to (server, numbered as the rows); . allowed, X blocked, ? unknown, ! wrong; [ ] marks self-traffic (a pod to itself)"
}

/// Shortens `name` to `width` characters, keeping its start and end.
pub fn abbreviate(name: &str, width: usize) -> String {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= width || width < 5 {
        return name.to_string();
    }
    let keep = width - 1;
    let head = keep / 2;
    let tail = keep - head;
    let mut s: String = chars[..head].iter().collect();
    s.push('…');
    s.extend(&chars[chars.len() - tail..]);
    s
}

/// Widest a table gets before it wraps into blocks of columns.
pub const GRID_WIDTH: usize = 120;

/// Widest a column header gets (longer names are abbreviated in the middle).
pub const HEADER_WIDTH: usize = 16;

/// A table with named rows and named columns and any short text per cell (what `analyze` shows).
pub struct Grid<'a> {
    /// Title line (e.g. `80/TCP`).
    pub title: String,
    /// Row names (clients).
    pub rows: &'a [String],
    /// Column names (servers).
    pub columns: &'a [String],
    /// The cells, `cells[row][column]`.
    pub cells: Vec<Vec<String>>,
}

impl Grid<'_> {
    /// Renders the table, wrapped into blocks of columns no wider than [`GRID_WIDTH`].
    pub fn render(&self) -> String {
        let name_width = self
            .rows
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
            .clamp("from \\ to".len(), 40);
        let headers: Vec<String> = self
            .columns
            .iter()
            .map(|c| abbreviate(c, HEADER_WIDTH))
            .collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|c| {
                self.cells
                    .iter()
                    .map(|row| row[c].chars().count())
                    .chain([headers[c].chars().count()])
                    .max()
                    .unwrap_or(1)
            })
            .collect();
        let mut blocks = Vec::new();
        let mut start = 0;
        while start < self.columns.len() {
            let mut end = start;
            let mut width = name_width;
            while end < self.columns.len() && (end == start || width + widths[end] < GRID_WIDTH) {
                width += widths[end] + 1;
                end += 1;
            }
            blocks.push(start..end);
            start = end;
        }
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.title);
        for block in &blocks {
            if blocks.len() > 1 {
                let _ = writeln!(
                    out,
                    "  columns {}-{} of {}",
                    block.start + 1,
                    block.end,
                    self.columns.len()
                );
            }
            let _ = write!(out, "{:<nw$}", "from \\ to", nw = name_width);
            for c in block.clone() {
                let _ = write!(out, " {:>w$}", headers[c], w = widths[c]);
            }
            out.push('\n');
            for (r, name) in self.rows.iter().enumerate() {
                let _ = write!(
                    out,
                    "{:<nw$}",
                    abbreviate(name, name_width),
                    nw = name_width
                );
                for c in block.clone() {
                    let _ = write!(out, " {:>w$}", self.cells[r][c], w = widths[c]);
                }
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rows_numbered_columns_and_bracketed_self_cells() {
        let names = vec!["x/a".to_string(), "x/b".to_string()];
        let table = TruthTable {
            title: "80/TCP".into(),
            names: &names,
            marks: vec![
                vec![Mark::Allowed, Mark::Blocked],
                vec![Mark::Allowed, Mark::Allowed],
            ],
        };
        let text = table.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "80/TCP");
        assert!(lines[1].contains("from \\ to"));
        assert!(
            lines[2].contains("x/a")
                && lines[2].contains("[.]")
                && lines[2].trim_end().ends_with('X'),
            "{text}"
        );
        assert!(
            lines[3].contains("x/b") && lines[3].trim_end().ends_with("[.]"),
            "{text}"
        );
    }

    #[test]
    fn wide_tables_wrap_into_blocks_and_long_names_are_abbreviated() {
        let names: Vec<String> = (0..45)
            .map(|i| format!("namespace-{i:02}/a-rather-long-workload-name-{i:02}-xyz"))
            .collect();
        let marks = vec![vec![Mark::Allowed; 45]; 45];
        let text = TruthTable {
            title: "t".into(),
            names: &names,
            marks,
        }
        .render();
        assert!(text.contains("columns 1-30 of 45"));
        assert!(text.contains("columns 31-45 of 45"));
        assert!(text.contains('…'));
        assert_eq!(abbreviate("abcdefghij", 7), "abc…hij");
    }

    #[test]
    fn grids_name_their_columns_and_wrap_by_width() {
        let rows = vec!["x/client".to_string(), "x/web".to_string()];
        let columns = vec!["client".to_string(), "web".to_string()];
        let text = Grid {
            title: "80/TCP".into(),
            rows: &rows,
            columns: &columns,
            cells: vec![vec!["-".into(), ".".into()], vec!["-".into(), "lo".into()]],
        }
        .render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "from \\ to client web", "{text}");
        assert_eq!(lines[2], "x/client       -   .", "{text}");
        assert_eq!(lines[3], "x/web          -  lo", "{text}");

        let columns: Vec<String> = (0..40).map(|i| format!("workload-{i:02}")).collect();
        let rows = columns.clone();
        let text = Grid {
            title: "t".into(),
            rows: &rows,
            columns: &columns,
            cells: vec![vec![".".to_string(); 40]; 40],
        }
        .render();
        assert!(text.contains("columns 1-9 of 40"), "{text}");
        assert!(
            text.lines().all(|l| l.chars().count() <= GRID_WIDTH),
            "{text}"
        );
    }
}
