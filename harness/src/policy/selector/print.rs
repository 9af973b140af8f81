//! Canonical printing: the Calico spelling of a selector, parenthesised only where needed.

use std::collections::BTreeSet;
use std::fmt;

use super::Selector;

impl Selector {
    /// How this selector prints, for deciding where parentheses are needed.
    fn shape(&self) -> Shape {
        match self {
            Selector::Not(_) => Shape::Not,
            Selector::And(operands) => match operands.as_slice() {
                [] => Shape::Atom,
                [only] => only.shape(),
                _ => Shape::And,
            },
            Selector::Or(operands) => match operands.as_slice() {
                [] => Shape::Not,
                [only] => only.shape(),
                _ => Shape::Or,
            },
            _ => Shape::Atom,
        }
    }

    /// Prints as an operand of `parent`, parenthesised where the parser would otherwise regroup it.
    fn write_in(&self, f: &mut fmt::Formatter<'_>, parent: Shape) -> fmt::Result {
        if self.shape() <= parent {
            f.write_str("(")?;
            self.write_bare(f)?;
            f.write_str(")")
        } else {
            self.write_bare(f)
        }
    }

    /// Prints without surrounding parentheses.
    fn write_bare(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |f: &mut fmt::Formatter<'_>, k: &str, op: &str, values: &BTreeSet<String>| {
            write!(f, "{k} {op} {{")?;
            for (i, v) in values.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                write!(f, "{sep}{}", Quoted(v))?;
            }
            f.write_str("}")
        };
        let join = |f: &mut fmt::Formatter<'_>, operands: &[Selector], op: &str, shape: Shape| {
            for (i, s) in operands.iter().enumerate() {
                if i > 0 {
                    f.write_str(op)?;
                }
                s.write_in(f, shape)?;
            }
            Ok(())
        };
        match self {
            Selector::All => f.write_str("all()"),
            Selector::Global => f.write_str("global()"),
            Selector::Has(k) => write!(f, "has({k})"),
            Selector::Equals(k, v) => write!(f, "{k} == {}", Quoted(v)),
            Selector::NotEquals(k, v) => write!(f, "{k} != {}", Quoted(v)),
            Selector::In(k, values) => set(f, k, "in", values),
            Selector::NotIn(k, values) => set(f, k, "not in", values),
            Selector::Contains(k, v) => write!(f, "{k} contains {}", Quoted(v)),
            Selector::StartsWith(k, v) => write!(f, "{k} starts with {}", Quoted(v)),
            Selector::EndsWith(k, v) => write!(f, "{k} ends with {}", Quoted(v)),
            Selector::Not(inner) => {
                f.write_str("!")?;
                inner.write_in(f, Shape::Not)
            }
            Selector::And(operands) => match operands.as_slice() {
                [] => f.write_str("all()"),
                [only] => only.write_bare(f),
                _ => join(f, operands, " && ", Shape::And),
            },
            Selector::Or(operands) => match operands.as_slice() {
                [] => f.write_str("!all()"),
                [only] => only.write_bare(f),
                _ => join(f, operands, " || ", Shape::Or),
            },
        }
    }
}

/// Canonical Calico syntax, e.g. `app == 'web' && !has(x)`, which parses back to an equal
/// selector.
///
/// Values are single-quoted unless they contain `'`. Parentheses appear only where needed to keep
/// the structure: around an `||` inside `&&`, around a nested `&&` in `&&` or `||` in `||`, and
/// around anything but an atom after `!`. `And(vec![])` prints as `all()`, `Or(vec![])` as
/// `!all()`, and a one-operand `And`/`Or` as its operand. Keys are printed as they are: a selector
/// built by hand with a key outside `[A-Za-z0-9_./-]`, or a value containing both kinds of
/// quote, has no Calico spelling and will not parse back.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_bare(f)
    }
}

/// The syntactic class of a printed selector, from loosest to tightest binding. An operand needs
/// parentheses when it binds no tighter than its parent: `||` inside `||` or `&&`, `&&` inside
/// `&&`, and anything but an atom after `!`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    Or,
    And,
    Not,
    Atom,
}

/// A string literal, quoted with `'` unless the value contains one.
pub(super) struct Quoted<'a>(pub(super) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = if self.0.contains('\'') { '"' } else { '\'' };
        write!(f, "{q}{}{q}", self.0)
    }
}
