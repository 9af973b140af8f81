//! The Calico selector language: parsing, evaluation, canonical printing, and conversion from
//! Kubernetes `LabelSelector`s.
//!
//! Calico policies pick endpoints with expressions such as
//! `app == 'web' && !has(quarantine) || role in {'db', 'cache'}`. This module follows
//! libcalico-go's tokenizer and parser (`lib/selector`) closely, including its quirks, so that the
//! oracle accepts and rejects the same selectors Calico does:
//!
//! - only space and tab count as whitespace (a newline is an error);
//! - `has(`, `all(` and `global(` are single tokens, so no whitespace may come before the `(`
//!   (`has (a)` reads as the label `has` followed by `(`, an error);
//! - the two-word operators may also be written as one word: `notin`, `startswith`, `endswith`;
//! - an operator word must end at a word boundary (`a inx {}` is an error);
//! - a run of `!` collapses to its parity (`!!has(a)` is `has(a)`);
//! - a set literal may end with a comma (`a in {'x',}`);
//! - strings have no escapes: `'…'` may contain `"` and `"…"` may contain `'`;
//! - labels are at most [`MAX_LABEL_LEN`] characters of `[A-Za-z0-9_./-]`.
//!
//! Unlike Calico, parentheses may nest at most [`MAX_NESTING`] deep, so that hostile input returns
//! an error instead of exhausting the stack.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// The labels of an endpoint (or, prefixed by the caller, of its namespace).
pub type Labels = BTreeMap<String, String>;

/// The longest label name a selector may mention, in characters (as in Calico).
pub const MAX_LABEL_LEN: usize = 512;

/// How deeply parentheses may nest in a selector before parsing fails.
pub const MAX_NESTING: usize = 100;

/// A parsed Calico selector.
///
/// With the label absent, the negative operators (`!=`, `not in`) are true and the positive ones
/// (`==`, `in`, `contains`, `starts with`, `ends with`) are false, as in Calico.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// `all()`, also the meaning of the empty selector: matches every label set.
    ///
    /// Where the selector is a `namespaceSelector`, what "all" ranges over is up to the caller.
    All,
    /// `global()`: matches every label set.
    ///
    /// In Calico it is meant for a rule's `namespaceSelector`, where it selects non-namespaced
    /// resources (host endpoints, global network sets); callers give it that meaning.
    Global,
    /// `has(key)`: the label is present, whatever its value.
    Has(String),
    /// `key == 'value'`: the label is present with exactly this value.
    Equals(String, String),
    /// `key != 'value'`: the label is absent or has another value.
    NotEquals(String, String),
    /// `key in {'a', 'b'}`: the label is present with one of these values (never, for `{}`).
    In(String, BTreeSet<String>),
    /// `key not in {'a', 'b'}`: the label is absent or has none of these values.
    NotIn(String, BTreeSet<String>),
    /// `key contains 'sub'`: the label is present and its value contains the substring.
    Contains(String, String),
    /// `key starts with 'pre'`: the label is present and its value starts with the prefix.
    StartsWith(String, String),
    /// `key ends with 'suf'`: the label is present and its value ends with the suffix.
    EndsWith(String, String),
    /// `!sel`: the inner selector does not match.
    Not(Box<Selector>),
    /// `a && b && …`: every operand matches (true when there are none).
    And(Vec<Selector>),
    /// `a || b || …`: some operand matches (false when there are none).
    Or(Vec<Selector>),
}

/// Why a string is not a valid selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid selector `{selector}` at position {position}: {message}")]
pub struct SelectorError {
    /// The selector as given.
    pub selector: String,
    /// Where the problem is: a 0-based offset in characters (not bytes).
    pub position: usize,
    /// What was wrong, and usually what was expected instead.
    pub message: String,
}

/// Why a Kubernetes `LabelSelector` is invalid; each variant names the offending field, such as
/// `matchExpressions[1].operator` or `matchLabels.app`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelSelectorError {
    /// A label key is not a Kubernetes qualified name (`[prefix/]name`).
    #[error("{field}: invalid label key `{key}`: {reason}")]
    InvalidKey {
        /// The field holding the key.
        field: String,
        /// The key as given.
        key: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A label value is not a valid Kubernetes label value.
    #[error("{field}: invalid label value `{value}`: {reason}")]
    InvalidValue {
        /// The field holding the value.
        field: String,
        /// The value as given.
        value: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A `matchExpressions` operator other than In, NotIn, Exists and DoesNotExist.
    #[error("{field}: unknown operator `{operator}` (expected In, NotIn, Exists, DoesNotExist)")]
    UnknownOperator {
        /// The operator field.
        field: String,
        /// The operator as given.
        operator: String,
    },
    /// `In` or `NotIn` without values.
    #[error("{field}: must be non-empty for {operator}")]
    MissingValues {
        /// The values field.
        field: String,
        /// The operator that needs values.
        operator: String,
    },
    /// `Exists` or `DoesNotExist` with values.
    #[error("{field}: must be empty for {operator}")]
    UnexpectedValues {
        /// The values field.
        field: String,
        /// The operator that takes no values.
        operator: String,
    },
}

impl LabelSelectorError {
    /// The path of the offending field, relative to the `LabelSelector`.
    pub fn field(&self) -> &str {
        match self {
            LabelSelectorError::InvalidKey { field, .. }
            | LabelSelectorError::InvalidValue { field, .. }
            | LabelSelectorError::UnknownOperator { field, .. }
            | LabelSelectorError::MissingValues { field, .. }
            | LabelSelectorError::UnexpectedValues { field, .. } => field,
        }
    }
}

impl Selector {
    /// Parses Calico selector syntax; the empty (or all-whitespace) selector is [`Selector::All`].
    ///
    /// Never panics: any input either parses or yields an error naming the position.
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

    /// Whether the selector matches an endpoint with these labels.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = |key: &String| labels.get(key).map(String::as_str);
        match self {
            Selector::All | Selector::Global => true,
            Selector::Has(k) => labels.contains_key(k),
            Selector::Equals(k, v) => value(k) == Some(v.as_str()),
            Selector::NotEquals(k, v) => value(k) != Some(v.as_str()),
            Selector::In(k, set) => value(k).is_some_and(|have| set.contains(have)),
            Selector::NotIn(k, set) => !value(k).is_some_and(|have| set.contains(have)),
            Selector::Contains(k, v) => value(k).is_some_and(|have| have.contains(v.as_str())),
            Selector::StartsWith(k, v) => value(k).is_some_and(|have| have.starts_with(v.as_str())),
            Selector::EndsWith(k, v) => value(k).is_some_and(|have| have.ends_with(v.as_str())),
            Selector::Not(inner) => !inner.matches(labels),
            Selector::And(operands) => operands.iter().all(|s| s.matches(labels)),
            Selector::Or(operands) => operands.iter().any(|s| s.matches(labels)),
        }
    }

    /// Converts a Kubernetes LabelSelector (matchLabels + matchExpressions In/NotIn/Exists/DoesNotExist) into the equivalent selector; `{}` (or all-empty) means All.
    ///
    /// The terms are ANDed, matchLabels (in key order) first: `k: v` becomes `k == 'v'`, `In`
    /// becomes `k in {…}`, `NotIn` becomes `k not in {…}` (true when the key is absent, as in
    /// Kubernetes), `Exists` becomes `has(k)` and `DoesNotExist` becomes `!has(k)`. A single term
    /// is returned bare, not wrapped in [`Selector::And`]. Keys and values are validated as
    /// Kubernetes validates them; the first problem found is returned.
    pub fn from_label_selector(sel: &LabelSelector) -> Result<Selector, LabelSelectorError> {
        let mut terms = Vec::new();
        for (key, value) in sel.match_labels.iter().flatten() {
            let field = format!("matchLabels.{key}");
            check_key(&field, key)?;
            check_value(&field, value)?;
            terms.push(Selector::Equals(key.clone(), value.clone()));
        }
        for (i, req) in sel.match_expressions.iter().flatten().enumerate() {
            let field = format!("matchExpressions[{i}]");
            let values = req.values.as_deref().unwrap_or_default();
            let values_field = || format!("{field}.values");
            type Build = fn(String, BTreeSet<String>) -> Selector;
            let (takes_values, build): (bool, Build) = match req.operator.as_str() {
                "In" => (true, Selector::In),
                "NotIn" => (true, Selector::NotIn),
                "Exists" => (false, |key, _| Selector::Has(key)),
                "DoesNotExist" => (false, |key, _| Selector::Not(Box::new(Selector::Has(key)))),
                other => {
                    return Err(LabelSelectorError::UnknownOperator {
                        field: format!("{field}.operator"),
                        operator: other.to_string(),
                    });
                }
            };
            if takes_values && values.is_empty() {
                return Err(LabelSelectorError::MissingValues {
                    field: values_field(),
                    operator: req.operator.clone(),
                });
            }
            if !takes_values && !values.is_empty() {
                return Err(LabelSelectorError::UnexpectedValues {
                    field: values_field(),
                    operator: req.operator.clone(),
                });
            }
            check_key(&format!("{field}.key"), &req.key)?;
            for (j, value) in values.iter().enumerate() {
                check_value(&format!("{field}.values[{j}]"), value)?;
            }
            terms.push(build(req.key.clone(), values.iter().cloned().collect()));
        }
        Ok(if terms.len() > 1 {
            Selector::And(terms)
        } else {
            terms.pop().unwrap_or(Selector::All)
        })
    }

    /// Rewrites every label key through `f` (used to prefix namespace labels as Calico does with `pcns.`). All/Global unchanged.
    pub fn map_keys(&self, f: &dyn Fn(&str) -> String) -> Selector {
        match self {
            Selector::All => Selector::All,
            Selector::Global => Selector::Global,
            Selector::Has(k) => Selector::Has(f(k)),
            Selector::Equals(k, v) => Selector::Equals(f(k), v.clone()),
            Selector::NotEquals(k, v) => Selector::NotEquals(f(k), v.clone()),
            Selector::In(k, set) => Selector::In(f(k), set.clone()),
            Selector::NotIn(k, set) => Selector::NotIn(f(k), set.clone()),
            Selector::Contains(k, v) => Selector::Contains(f(k), v.clone()),
            Selector::StartsWith(k, v) => Selector::StartsWith(f(k), v.clone()),
            Selector::EndsWith(k, v) => Selector::EndsWith(f(k), v.clone()),
            Selector::Not(inner) => Selector::Not(Box::new(inner.map_keys(f))),
            Selector::And(operands) => {
                Selector::And(operands.iter().map(|s| s.map_keys(f)).collect())
            }
            Selector::Or(operands) => {
                Selector::Or(operands.iter().map(|s| s.map_keys(f)).collect())
            }
        }
    }

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
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = if self.0.contains('\'') { '"' } else { '\'' };
        write!(f, "{q}{}{q}", self.0)
    }
}

/// A token of selector syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Label(String),
    Str(String),
    LBrace,
    RBrace,
    Comma,
    Eq,
    Ne,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
    Not,
    Has(String),
    All,
    Global,
    LParen,
    RParen,
    And,
    Or,
    /// End of input; always the last token unless tokenizing failed.
    End,
    /// Tokenizing failed here, for this reason; always the last token.
    Invalid(String),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Label(l) => write!(f, "label `{l}`"),
            Tok::Str(s) => write!(f, "string {}", Quoted(s)),
            Tok::LBrace => f.write_str("`{`"),
            Tok::RBrace => f.write_str("`}`"),
            Tok::Comma => f.write_str("`,`"),
            Tok::Eq => f.write_str("`==`"),
            Tok::Ne => f.write_str("`!=`"),
            Tok::In => f.write_str("`in`"),
            Tok::NotIn => f.write_str("`not in`"),
            Tok::Contains => f.write_str("`contains`"),
            Tok::StartsWith => f.write_str("`starts with`"),
            Tok::EndsWith => f.write_str("`ends with`"),
            Tok::Not => f.write_str("`!`"),
            Tok::Has(l) => write!(f, "`has({l})`"),
            Tok::All => f.write_str("`all()`"),
            Tok::Global => f.write_str("`global()`"),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::And => f.write_str("`&&`"),
            Tok::Or => f.write_str("`||`"),
            Tok::End => f.write_str("end of selector"),
            Tok::Invalid(message) => f.write_str(message),
        }
    }
}

/// A token and the character offset where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    tok: Tok,
    pos: usize,
}

/// Splits the input into tokens, ending with [`Tok::End`] or, at the first lexical error,
/// [`Tok::Invalid`]. Reporting the error through a token lets an earlier syntax error win.
fn tokenize(chars: &[char]) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::new();
    let mut i = 0;
    loop {
        i = skip_ws(chars, i);
        let Some(&c) = chars.get(i) else {
            tokens.push(Token {
                tok: Tok::End,
                pos: i,
            });
            return tokens;
        };
        let after_label = match tokens.last() {
            Some(Token {
                tok: Tok::Label(l), ..
            }) => Some(l.clone()),
            _ => None,
        };
        let twin = |tok: Tok, what: &str| {
            if chars.get(i + 1) == Some(&c) {
                Ok((tok, i + 2))
            } else {
                Err((i, format!("expected `{what}`")))
            }
        };
        let step = match c {
            '(' => Ok((Tok::LParen, i + 1)),
            ')' => Ok((Tok::RParen, i + 1)),
            '{' => Ok((Tok::LBrace, i + 1)),
            '}' => Ok((Tok::RBrace, i + 1)),
            ',' => Ok((Tok::Comma, i + 1)),
            '\'' | '"' => match chars[i + 1..].iter().position(|&q| q == c) {
                Some(len) => Ok((
                    Tok::Str(chars[i + 1..i + 1 + len].iter().collect()),
                    i + len + 2,
                )),
                None => Err((i, "unterminated string".to_string())),
            },
            '=' => twin(Tok::Eq, "=="),
            '&' => twin(Tok::And, "&&"),
            '|' => twin(Tok::Or, "||"),
            '!' if chars.get(i + 1) == Some(&'=') => Ok((Tok::Ne, i + 2)),
            '!' => Ok((Tok::Not, i + 1)),
            _ => match after_label {
                Some(label) => lex_operator(chars, i).ok_or((i, expected_operator(&label))),
                None => lex_term(chars, i),
            },
        };
        match step {
            Ok((tok, next)) => {
                tokens.push(Token { tok, pos: i });
                i = next;
            }
            Err((pos, message)) => {
                tokens.push(Token {
                    tok: Tok::Invalid(message),
                    pos,
                });
                return tokens;
            }
        }
    }
}

/// The error for a label not followed by an operator.
fn expected_operator(label: &str) -> String {
    format!(
        "expected `==`, `!=`, `in`, `not in`, `contains`, `starts with` or `ends with` after label `{label}`"
    )
}

/// Skips spaces and tabs (the only whitespace Calico knows) from `i`.
fn skip_ws(chars: &[char], mut i: usize) -> usize {
    while matches!(chars.get(i), Some(' ' | '\t')) {
        i += 1;
    }
    i
}

/// A character that may appear in a label name.
fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

/// If `lit` appears at `i`, the index just past it.
fn match_lit(chars: &[char], i: usize, lit: &str) -> Option<usize> {
    let mut j = i;
    for want in lit.chars() {
        if chars.get(j) != Some(&want) {
            return None;
        }
        j += 1;
    }
    Some(j)
}

/// Reads a word operator after a label: `contains`, `starts with`, `ends with`, `not in`, `in`
/// (the words of a two-word operator may be separated by whitespace or not at all).
fn lex_operator(chars: &[char], i: usize) -> Option<(Tok, usize)> {
    let operators: [(&[&str], Tok); 5] = [
        (&["contains"], Tok::Contains),
        (&["starts", "with"], Tok::StartsWith),
        (&["ends", "with"], Tok::EndsWith),
        (&["not", "in"], Tok::NotIn),
        (&["in"], Tok::In),
    ];
    operators.into_iter().find_map(|(words, tok)| {
        let mut j = i;
        for (n, word) in words.iter().enumerate() {
            if n > 0 {
                j = skip_ws(chars, j);
            }
            j = match_lit(chars, j, word)?;
        }
        let at_boundary = !chars.get(j).is_some_and(|&c| is_label_char(c));
        at_boundary.then_some((tok, j))
    })
}

/// Reads `has(label)`, `all()`, `global()` or a label at `i`.
fn lex_term(chars: &[char], i: usize) -> Result<(Tok, usize), (usize, String)> {
    if let Some(j) = match_lit(chars, i, "has(") {
        let j = skip_ws(chars, j);
        let Some((label, j)) = lex_label(chars, j)? else {
            return Err((j, "expected a label name inside `has(`".to_string()));
        };
        let j = skip_ws(chars, j);
        return match chars.get(j) {
            Some(')') => Ok((Tok::Has(label), j + 1)),
            _ => Err((j, "expected `)` to close `has(`".to_string())),
        };
    }
    for (word, tok) in [("all(", Tok::All), ("global(", Tok::Global)] {
        if let Some(j) = match_lit(chars, i, word) {
            let j = skip_ws(chars, j);
            return match chars.get(j) {
                Some(')') => Ok((tok, j + 1)),
                _ => Err((j, format!("expected `)` after `{word}`"))),
            };
        }
    }
    match lex_label(chars, i)? {
        Some((label, j)) => Ok((Tok::Label(label), j)),
        None => {
            let found = chars.get(i).map_or(String::new(), |c| format!(" {c:?}"));
            Err((i, format!("unexpected character{found}")))
        }
    }
}

/// Reads a label name at `i`, if there is one.
fn lex_label(chars: &[char], i: usize) -> Result<Option<(String, usize)>, (usize, String)> {
    let len = chars[i..].iter().take_while(|&&c| is_label_char(c)).count();
    if len > MAX_LABEL_LEN {
        return Err((
            i,
            format!("label too long: {len} characters (at most {MAX_LABEL_LEN})"),
        ));
    }
    Ok((len > 0).then(|| (chars[i..i + len].iter().collect(), i + len)))
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

/// Checks a label key as Kubernetes does (a qualified name: optional DNS-subdomain prefix and
/// `/`, then a name of at most 63 characters).
fn check_key(field: &str, key: &str) -> Result<(), LabelSelectorError> {
    let problem = |reason: &str| LabelSelectorError::InvalidKey {
        field: field.to_string(),
        key: key.to_string(),
        reason: reason.to_string(),
    };
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty() {
                return Err(problem("prefix part must be non-empty"));
            }
            if prefix.len() > 253 {
                return Err(problem("prefix part must be no more than 253 characters"));
            }
            if !is_dns_subdomain(prefix) {
                return Err(problem(
                    "prefix part must be a lowercase DNS subdomain (e.g. `example.com`)",
                ));
            }
            name
        }
        None => key,
    };
    if name.is_empty() {
        return Err(problem("name part must be non-empty"));
    }
    if name.len() > 63 {
        return Err(problem("name part must be no more than 63 characters"));
    }
    if !is_label_name(name) {
        return Err(problem(
            "name part must consist of alphanumerics, `-`, `_` or `.`, and start and end with an alphanumeric",
        ));
    }
    Ok(())
}

/// Checks a label value as Kubernetes does (empty, or at most 63 characters of alphanumerics,
/// `-`, `_` and `.`, starting and ending with an alphanumeric).
fn check_value(field: &str, value: &str) -> Result<(), LabelSelectorError> {
    let reason = if value.len() > 63 {
        "must be no more than 63 characters"
    } else if !value.is_empty() && !is_label_name(value) {
        "must consist of alphanumerics, `-`, `_` or `.`, and start and end with an alphanumeric"
    } else {
        return Ok(());
    };
    Err(LabelSelectorError::InvalidValue {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    })
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_label_name(s: &str) -> bool {
    let alnum_ends = s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric());
    alnum_ends
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A lowercase RFC 1123 subdomain: dot-separated labels of `[a-z0-9-]`, each starting and ending
/// with an alphanumeric.
fn is_dns_subdomain(s: &str) -> bool {
    let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.split('.').all(|part| {
        part.starts_with(lower_alnum)
            && part.ends_with(lower_alnum)
            && part.chars().all(|c| lower_alnum(c) || c == '-')
    })
}
