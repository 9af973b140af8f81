//! The parser: a recursive descent over the tokens, with the nesting limit.

use std::collections::BTreeSet;

use super::lex::{Tok, Token, expected_operator, tokenize};
use super::{MAX_NESTING, Selector, SelectorError};

impl Selector {
    /// Parses Calico selector syntax; the empty (or all-whitespace) selector is [`Selector::All`].
    ///
    /// Never panics: any input either parses or yields an error naming the position.
    ///
    /// ```
    /// use netpol_harness::policy::Selector;
    ///
    /// let sel = Selector::parse("app == 'web' && !has(quarantine)").unwrap();
    /// assert_eq!(
    ///     sel,
    ///     Selector::And(vec![
    ///         Selector::Equals("app".into(), "web".into()),
    ///         Selector::Not(Box::new(Selector::Has("quarantine".into()))),
    ///     ])
    /// );
    /// // Printing gives the canonical spelling, which parses back to the same selector.
    /// assert_eq!(sel.to_string(), "app == 'web' && !has(quarantine)");
    /// assert_eq!(Selector::parse("   ").unwrap(), Selector::All);
    ///
    /// // As in Calico, `has(` is one token: `has (a)` is the label `has` followed by `(`.
    /// let err = Selector::parse("has (a)").unwrap_err();
    /// assert_eq!(err.position, 4);
    /// assert!(err.message.contains("after label `has`"), "{err}");
    /// ```
    pub fn parse(src: &str) -> Result<Selector, SelectorError> {
        let chars: Vec<char> = src.chars().collect();
        let mut parser = Parser {
            src,
            tokens: tokenize(&chars),
            idx: 0,
        };
        if parser.peek()?.tok == Tok::End {
            return Ok(Selector::All);
        }
        let sel = parser.parse_or(0)?;
        let next = parser.peek()?;
        if next.tok == Tok::End {
            Ok(sel)
        } else {
            Err(parser.error(
                next.pos,
                format!(
                    "trailing input: expected `&&`, `||` or end of selector, found {}",
                    next.tok
                ),
            ))
        }
    }
}

/// What an operand of `&&`/`||`/`!` may start with, for error messages.
const EXPECTED_OPERAND: &str = "expected a label, `has(…)`, `all()`, `global()`, `!` or `(`";

/// A recursive-descent parser over the tokens of one selector.
struct Parser<'s> {
    src: &'s str,
    /// Never empty: ends with [`Tok::End`] or [`Tok::Invalid`].
    tokens: Vec<Token>,
    /// The current token; never moves past the last one.
    idx: usize,
}

impl Parser<'_> {
    /// An error at character offset `position`.
    fn error(&self, position: usize, message: String) -> SelectorError {
        SelectorError {
            selector: self.src.to_string(),
            position,
            message,
        }
    }

    /// The current token, or the lexical error if tokenizing stopped here.
    fn peek(&self) -> Result<&Token, SelectorError> {
        let token = &self.tokens[self.idx];
        match &token.tok {
            Tok::Invalid(message) => Err(self.error(token.pos, message.clone())),
            _ => Ok(token),
        }
    }

    /// Takes the current token (as [`Parser::peek`]) and moves on.
    fn next(&mut self) -> Result<Token, SelectorError> {
        let token = self.peek()?.clone();
        self.idx = (self.idx + 1).min(self.tokens.len() - 1);
        Ok(token)
    }

    /// `or := and ('||' and)*`
    fn parse_or(&mut self, depth: usize) -> Result<Selector, SelectorError> {
        let first = self.parse_and(depth)?;
        let mut operands = Vec::new();
        while self.peek()?.tok == Tok::Or {
            self.next()?;
            operands.push(self.parse_and(depth)?);
        }
        if operands.is_empty() {
            return Ok(first);
        }
        operands.insert(0, first);
        Ok(Selector::Or(operands))
    }

    /// `and := un ('&&' un)*`
    fn parse_and(&mut self, depth: usize) -> Result<Selector, SelectorError> {
        let first = self.parse_unary(depth)?;
        let mut operands = Vec::new();
        while self.peek()?.tok == Tok::And {
            self.next()?;
            operands.push(self.parse_unary(depth)?);
        }
        if operands.is_empty() {
            return Ok(first);
        }
        operands.insert(0, first);
        Ok(Selector::And(operands))
    }

    /// `un := '!'* atom`, where an even number of `!` cancels out (as in Calico).
    fn parse_unary(&mut self, depth: usize) -> Result<Selector, SelectorError> {
        let mut negated = false;
        while self.peek()?.tok == Tok::Not {
            self.next()?;
            negated = !negated;
        }
        let atom = self.parse_atom(depth)?;
        Ok(if negated {
            Selector::Not(Box::new(atom))
        } else {
            atom
        })
    }

    /// A parenthesised expression, `has()`, `all()`, `global()` or a label comparison.
    fn parse_atom(&mut self, depth: usize) -> Result<Selector, SelectorError> {
        let token = self.next()?;
        match token.tok {
            Tok::Has(label) => Ok(Selector::Has(label)),
            Tok::All => Ok(Selector::All),
            Tok::Global => Ok(Selector::Global),
            Tok::LParen if depth >= MAX_NESTING => Err(self.error(
                token.pos,
                format!("nesting too deep: more than {MAX_NESTING} levels of parentheses"),
            )),
            Tok::LParen => {
                let inner = self.parse_or(depth + 1)?;
                let close = self.next()?;
                if close.tok == Tok::RParen {
                    Ok(inner)
                } else {
                    Err(self.error(
                        close.pos,
                        format!(
                            "expected `)` to close `(` at position {}, found {}",
                            token.pos, close.tok
                        ),
                    ))
                }
            }
            Tok::Label(label) => self.parse_comparison(label),
            other => Err(self.error(token.pos, format!("unexpected {other}, {EXPECTED_OPERAND}"))),
        }
    }

    /// The operator and operand after `label`.
    fn parse_comparison(&mut self, label: String) -> Result<Selector, SelectorError> {
        let op = self.next()?;
        let make: fn(String, String) -> Selector = match op.tok {
            Tok::Eq => Selector::Equals,
            Tok::Ne => Selector::NotEquals,
            Tok::Contains => Selector::Contains,
            Tok::StartsWith => Selector::StartsWith,
            Tok::EndsWith => Selector::EndsWith,
            Tok::In => return Ok(Selector::In(label, self.parse_set(&op.tok)?)),
            Tok::NotIn => return Ok(Selector::NotIn(label, self.parse_set(&op.tok)?)),
            _ => return Err(self.error(op.pos, expected_operator(&label))),
        };
        let value = self.next()?;
        match value.tok {
            Tok::Str(s) => Ok(make(label, s)),
            other => Err(self.error(
                value.pos,
                format!("expected a quoted string after {}, found {other}", op.tok),
            )),
        }
    }

    /// `{ 'a', "b", … }` after `in`/`not in` (a trailing comma is allowed, as in Calico).
    fn parse_set(&mut self, op: &Tok) -> Result<BTreeSet<String>, SelectorError> {
        let open = self.next()?;
        if open.tok != Tok::LBrace {
            return Err(self.error(
                open.pos,
                format!("expected `{{` after {op}, found {}", open.tok),
            ));
        }
        let mut values = BTreeSet::new();
        loop {
            let token = self.next()?;
            match token.tok {
                Tok::RBrace => return Ok(values),
                Tok::Str(s) => {
                    values.insert(s);
                }
                other => {
                    return Err(self.error(
                        token.pos,
                        format!("expected a quoted string or `}}` in set, found {other}"),
                    ));
                }
            }
            let sep = self.next()?;
            match sep.tok {
                Tok::RBrace => return Ok(values),
                Tok::Comma => {}
                other => {
                    return Err(self.error(
                        sep.pos,
                        format!("expected `,` or `}}` in set, found {other}"),
                    ));
                }
            }
        }
    }
}
