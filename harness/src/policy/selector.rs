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

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn set(values: &[&str]) -> BTreeSet<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    fn s(v: &str) -> String {
        v.to_string()
    }

    fn not(sel: Selector) -> Selector {
        Selector::Not(Box::new(sel))
    }

    fn eq(k: &str, v: &str) -> Selector {
        Selector::Equals(s(k), s(v))
    }

    fn has(k: &str) -> Selector {
        Selector::Has(s(k))
    }

    #[rstest]
    // ==
    #[case::eq_same("app == 'web'", &[("app", "web")], true)]
    #[case::eq_other("app == 'web'", &[("app", "db")], false)]
    #[case::eq_absent("app == 'web'", &[], false)]
    #[case::eq_empty_value_present("app == ''", &[("app", "")], true)]
    #[case::eq_empty_value_absent("app == ''", &[], false)]
    // !=
    #[case::ne_same("app != 'web'", &[("app", "web")], false)]
    #[case::ne_other("app != 'web'", &[("app", "db")], true)]
    #[case::ne_absent("app != 'web'", &[], true)]
    // in
    #[case::in_member("app in {'web', 'db'}", &[("app", "db")], true)]
    #[case::in_non_member("app in {'web', 'db'}", &[("app", "cache")], false)]
    #[case::in_absent("app in {'web', 'db'}", &[], false)]
    #[case::in_empty_set_present("app in {}", &[("app", "web")], false)]
    #[case::in_empty_set_absent("app in {}", &[], false)]
    #[case::in_trailing_comma("app in {'web',}", &[("app", "web")], true)]
    // not in
    #[case::not_in_member("app not in {'web', 'db'}", &[("app", "web")], false)]
    #[case::not_in_non_member("app not in {'web', 'db'}", &[("app", "cache")], true)]
    #[case::not_in_absent("app not in {'web', 'db'}", &[], true)]
    #[case::not_in_empty_set_present("app not in {}", &[("app", "web")], true)]
    #[case::not_in_empty_set_absent("app not in {}", &[], true)]
    #[case::notin_member("app notin {'web'}", &[("app", "web")], false)]
    #[case::notin_absent("app notin {'web'}", &[], true)]
    // contains / starts with / ends with
    #[case::contains_yes("app contains 'eb'", &[("app", "web")], true)]
    #[case::contains_no("app contains 'db'", &[("app", "web")], false)]
    #[case::contains_absent("app contains 'eb'", &[], false)]
    #[case::contains_empty_present("app contains ''", &[("app", "web")], true)]
    #[case::contains_empty_absent("app contains ''", &[], false)]
    #[case::starts_yes("app starts with 'we'", &[("app", "web-1")], true)]
    #[case::starts_no("app starts with 'eb'", &[("app", "web-1")], false)]
    #[case::starts_absent("app starts with 'we'", &[], false)]
    #[case::startswith_one_word("app startswith 'we'", &[("app", "web")], true)]
    #[case::ends_yes("app ends with '-1'", &[("app", "web-1")], true)]
    #[case::ends_no("app ends with 'web'", &[("app", "web-1")], false)]
    #[case::ends_absent("app ends with '-1'", &[], false)]
    #[case::ends_words_spaced("app ends  \twith '1'", &[("app", "web-1")], true)]
    // has, all, global, empty
    #[case::has_present("has(app)", &[("app", "")], true)]
    #[case::has_absent("has(app)", &[("role", "app")], false)]
    #[case::not_has_absent("!has(app)", &[], true)]
    #[case::not_has_present("!has(app)", &[("app", "web")], false)]
    #[case::double_not_has("!!has(app)", &[("app", "web")], true)]
    #[case::all("all()", &[], true)]
    #[case::global("global()", &[("a", "b")], true)]
    #[case::not_all("!all()", &[], false)]
    #[case::empty("", &[], true)]
    #[case::blank(" \t ", &[("a", "b")], true)]
    // precedence: && binds tighter than ||
    #[case::and_over_or_left("a == 'x' || b == 'y' && c == 'z'", &[("a", "x")], true)]
    #[case::and_over_or_right_half("a == 'x' || b == 'y' && c == 'z'", &[("b", "y")], false)]
    #[case::and_over_or_right("a == 'x' || b == 'y' && c == 'z'", &[("b", "y"), ("c", "z")], true)]
    #[case::parens_regroup("(a == 'x' || b == 'y') && c == 'z'", &[("a", "x")], false)]
    #[case::parens_regroup_ok("(a == 'x' || b == 'y') && c == 'z'", &[("a", "x"), ("c", "z")], true)]
    // precedence: ! binds tighter than && and looser than ==
    #[case::not_before_and_empty("!has(a) && b == 'y'", &[], false)]
    #[case::not_before_and_match("!has(a) && b == 'y'", &[("b", "y")], true)]
    #[case::not_before_and_has_a("!has(a) && b == 'y'", &[("a", "1"), ("b", "y")], false)]
    #[case::not_of_comparison("!a == 'x'", &[], true)]
    #[case::not_of_comparison_match("!a == 'x'", &[("a", "x")], false)]
    #[case::not_of_group_empty("!(a == 'x' || b == 'y')", &[], true)]
    #[case::not_of_group_a("!(a == 'x' || b == 'y')", &[("a", "x")], false)]
    #[case::not_of_group_b("!(a == 'x' || b == 'y')", &[("b", "y")], false)]
    // quoting
    #[case::double_quotes("app == \"web\"", &[("app", "web")], true)]
    #[case::double_quotes_apostrophe("app == \"it's\"", &[("app", "it's")], true)]
    #[case::single_quotes_double("app == 'say \"hi\"'", &[("app", "say \"hi\"")], true)]
    #[case::value_spaces_unicode("app == 'hé llo'", &[("app", "hé llo")], true)]
    #[case::set_mixed_quotes("app in {\"web\", 'db'}", &[("app", "web")], true)]
    // whitespace
    #[case::no_spaces("app=='web'", &[("app", "web")], true)]
    #[case::tabs("\tapp  ==\t'web'  ", &[("app", "web")], true)]
    #[case::tight_set("app in{'web','db'}", &[("app", "db")], true)]
    #[case::tight_notin("app notin{'db'}", &[("app", "web")], true)]
    #[case::has_inner_spaces("has( app )", &[("app", "web")], true)]
    #[case::tight_and("a=='x'&&b=='y'", &[("a", "x"), ("b", "y")], true)]
    #[case::tight_or_parens("(a=='x')||(b=='y')", &[("b", "y")], true)]
    #[case::all_inner_space("all( )", &[], true)]
    // keys
    #[case::key_domain("projectcalico.org/namespace == 'prod'", &[("projectcalico.org/namespace", "prod")], true)]
    #[case::key_dots("kubernetes.io/metadata.name in {'kube-system'}", &[("kubernetes.io/metadata.name", "kube-system")], true)]
    #[case::key_has_domain("has(projectcalico.org/name)", &[("projectcalico.org/name", "x")], true)]
    #[case::key_punctuation("x-y_z.1 == 'v'", &[("x-y_z.1", "v")], true)]
    #[case::key_named_in("in in {'x'}", &[("in", "x")], true)]
    #[case::key_named_has("has == 'x'", &[("has", "x")], true)]
    #[case::key_named_all("all != 'x'", &[("all", "y")], true)]
    #[case::key_named_not("not not in {'x'}", &[("not", "y")], true)]
    fn parses_and_matches(
        #[case] src: &str,
        #[case] pairs: &[(&str, &str)],
        #[case] expected: bool,
    ) {
        let sel = Selector::parse(src).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            sel.matches(&labels(pairs)),
            expected,
            "{src} parsed as {sel:?}"
        );
    }

    #[rstest]
    #[case::empty("", Selector::All)]
    #[case::and_binds_tighter(
        "a == 'x' || b == 'y' && c == 'z'",
        Selector::Or(vec![eq("a", "x"), Selector::And(vec![eq("b", "y"), eq("c", "z")])])
    )]
    #[case::flat_and("has(a) && has(b) && has(c)", Selector::And(vec![has("a"), has("b"), has("c")]))]
    #[case::parens_keep_nesting(
        "has(a) && (has(b) && has(c))",
        Selector::And(vec![has("a"), Selector::And(vec![has("b"), has("c")])])
    )]
    #[case::not_binds_to_atom("!has(a) && has(b)", Selector::And(vec![not(has("a")), has("b")]))]
    #[case::not_of_comparison("!a == 'x'", not(eq("a", "x")))]
    #[case::double_not_cancels("!!has(a)", has("a"))]
    #[case::triple_not("!!!has(a)", not(has("a")))]
    #[case::spaced_nots("! ! has(a)", has("a"))]
    #[case::not_of_parenthesised_not("!(!has(a))", not(not(has("a"))))]
    #[case::redundant_parens("((has(a)))", has("a"))]
    #[case::set_dedup_and_sort("a in {'y', 'x', 'y'}", Selector::In(s("a"), set(&["x", "y"])))]
    #[case::notin("a notin {}", Selector::NotIn(s("a"), set(&[])))]
    #[case::ne_not_negation("a != 'x'", Selector::NotEquals(s("a"), s("x")))]
    #[case::contains_tight("a contains'x'", Selector::Contains(s("a"), s("x")))]
    #[case::global("global()", Selector::Global)]
    fn parses_to(#[case] src: &str, #[case] expected: Selector) {
        assert_eq!(Selector::parse(src), Ok(expected));
    }

    #[rstest]
    #[case::missing_operator(
        "app",
        3,
        "expected `==`, `!=`, `in`, `not in`, `contains`, `starts with` or `ends with` after label `app`"
    )]
    #[case::word_not_operator("app is 'web'", 4, "after label `app`")]
    #[case::operator_without_boundary("a inx {}", 2, "after label `a`")]
    #[case::not_without_in("a not {}", 2, "after label `a`")]
    #[case::bang_after_label("a ! 'x'", 2, "after label `a`")]
    #[case::string_after_label("a 'x'", 2, "after label `a`")]
    #[case::has_with_space("has (a)", 4, "after label `has`")]
    #[case::newline_after_label("a\n== 'x'", 1, "after label `a`")]
    #[case::single_equals("app = 'x'", 4, "expected `==`")]
    #[case::single_ampersand("has(a) & has(b)", 7, "expected `&&`")]
    #[case::single_pipe("has(a) | has(b)", 7, "expected `||`")]
    #[case::unterminated_single("app == 'x", 7, "unterminated string")]
    #[case::unterminated_double("app == \"x'", 7, "unterminated string")]
    #[case::leading_rparen(")", 0, "unexpected `)`, expected a label")]
    #[case::rparen_operand("has(a) && )", 10, "unexpected `)`")]
    #[case::empty_parens("()", 1, "unexpected `)`")]
    #[case::trailing_rparen(
        "has(a) )",
        7,
        "trailing input: expected `&&`, `||` or end of selector, found `)`"
    )]
    #[case::trailing_comparison("a == 'x' b == 'y'", 9, "trailing input")]
    #[case::trailing_string("has(a) 'x'", 7, "trailing input")]
    #[case::unclosed_paren(
        "(a == 'x'",
        9,
        "expected `)` to close `(` at position 0, found end of selector"
    )]
    #[case::unclosed_inner_paren(
        "has(a) && ((has(b)) || has(c)",
        29,
        "to close `(` at position 10"
    )]
    #[case::label_as_value("a == b", 5, "expected a quoted string after `==`, found label `b`")]
    #[case::missing_value(
        "a != ",
        5,
        "expected a quoted string after `!=`, found end of selector"
    )]
    #[case::in_without_set("a in 'x'", 5, "expected `{` after `in`")]
    #[case::notin_without_set("a not in ('x')", 9, "expected `{` after `not in`")]
    #[case::set_missing_comma("a in {'x' 'y'}", 10, "expected `,` or `}` in set, found string 'y'")]
    #[case::set_leading_comma("a in {,}", 6, "expected a quoted string or `}` in set, found `,`")]
    #[case::set_double_comma("a in {'x',,}", 10, "expected a quoted string or `}` in set")]
    #[case::set_unclosed("a in {'x'", 9, "expected `,` or `}` in set, found end of selector")]
    #[case::has_unclosed("has(a", 5, "expected `)` to close `has(`")]
    #[case::has_two_labels("has(a b)", 6, "expected `)` to close `has(`")]
    #[case::has_empty("has()", 4, "expected a label name inside `has(`")]
    #[case::all_with_argument("all(x)", 4, "expected `)` after `all(`")]
    #[case::global_unclosed("global(", 7, "expected `)` after `global(`")]
    #[case::dangling_and("a == 'x' &&", 11, "unexpected end of selector, expected a label")]
    #[case::dangling_or("has(a) ||   ", 12, "unexpected end of selector")]
    #[case::only_bang("!", 1, "unexpected end of selector")]
    #[case::leading_ne("!= 'x'", 0, "unexpected `!=`")]
    #[case::leading_string("'x'", 0, "unexpected string 'x'")]
    #[case::non_ascii_label("é == 'x'", 0, "unexpected character 'é'")]
    #[case::position_counts_chars("a == 'é' && ü", 12, "unexpected character 'ü'")]
    #[case::newline("\nhas(a)", 0, "unexpected character '\\n'")]
    #[case::earlier_syntax_error_wins("has(a) ) 'unterminated", 7, "trailing input")]
    fn rejects(#[case] src: &str, #[case] position: usize, #[case] fragment: &str) {
        let err = Selector::parse(src).expect_err(src);
        assert_eq!(err.position, position, "{err}");
        assert!(err.message.contains(fragment), "{err}");
        assert_eq!(err.selector, src);
        assert!(
            err.to_string().starts_with(&format!(
                "invalid selector `{src}` at position {position}: "
            )),
            "{err}"
        );
    }

    #[test]
    fn label_length_is_limited_to_512() {
        let longest = "k".repeat(MAX_LABEL_LEN);
        let sel = Selector::parse(&format!("{longest} == 'v' && has({longest})"));
        assert_eq!(
            sel,
            Ok(Selector::And(vec![eq(&longest, "v"), has(&longest)]))
        );

        let too_long = "k".repeat(MAX_LABEL_LEN + 1);
        let err = Selector::parse(&format!("has(a) || {too_long} == 'v'")).expect_err("too long");
        assert_eq!(err.position, 10);
        assert!(
            err.message.starts_with("label too long: 513 characters"),
            "{err}"
        );
        let err = Selector::parse(&format!("has( {too_long})")).expect_err("too long");
        assert_eq!(err.position, 5);
        assert!(err.message.starts_with("label too long"), "{err}");
    }

    #[test]
    fn nesting_is_limited_without_overflowing_the_stack() {
        let nested = |n: usize| format!("{}has(a){}", "(".repeat(n), ")".repeat(n));
        assert_eq!(Selector::parse(&nested(MAX_NESTING)), Ok(has("a")));

        let err = Selector::parse(&nested(MAX_NESTING + 1)).expect_err("too deep");
        assert_eq!(err.position, MAX_NESTING);
        assert!(err.message.contains("nesting too deep"), "{err}");

        let err = Selector::parse(&"(".repeat(200_000)).expect_err("too deep");
        assert_eq!(err.position, MAX_NESTING);
        let err = Selector::parse(&"!(".repeat(200_000)).expect_err("too deep");
        assert_eq!(err.position, 2 * MAX_NESTING + 1);

        // Negations do not nest: a long run of `!` collapses to its parity.
        let bangs = "!".repeat(200_001);
        assert_eq!(
            Selector::parse(&format!("{bangs}has(a)")),
            Ok(not(has("a")))
        );
    }

    #[rstest]
    #[case::comparison_and_not_has(Selector::And(vec![eq("app", "web"), not(has("x"))]), "app == 'web' && !has(x)")]
    #[case::all(Selector::All, "all()")]
    #[case::global(Selector::Global, "global()")]
    #[case::every_comparison(
        Selector::Or(vec![
            Selector::NotEquals(s("a"), s("1")),
            Selector::Contains(s("a"), s("2")),
            Selector::StartsWith(s("a"), s("3")),
            Selector::EndsWith(s("a"), s("4")),
        ]),
        "a != '1' || a contains '2' || a starts with '3' || a ends with '4'"
    )]
    #[case::sets(
        Selector::And(vec![Selector::In(s("a"), set(&["y", "x"])), Selector::NotIn(s("b"), set(&[]))]),
        "a in {'x', 'y'} && b not in {}"
    )]
    #[case::apostrophe_uses_double_quotes(eq("a", "it's"), "a == \"it's\"")]
    #[case::double_quote_uses_single_quotes(eq("a", "say \"hi\""), "a == 'say \"hi\"'")]
    #[case::or_inside_and(
        Selector::And(vec![Selector::Or(vec![has("a"), has("b")]), has("c")]),
        "(has(a) || has(b)) && has(c)"
    )]
    #[case::and_inside_or(
        Selector::Or(vec![Selector::And(vec![has("a"), has("b")]), has("c")]),
        "has(a) && has(b) || has(c)"
    )]
    #[case::and_inside_and(
        Selector::And(vec![has("a"), Selector::And(vec![has("b"), has("c")])]),
        "has(a) && (has(b) && has(c))"
    )]
    #[case::or_inside_or(
        Selector::Or(vec![Selector::Or(vec![has("a"), has("b")]), has("c")]),
        "(has(a) || has(b)) || has(c)"
    )]
    #[case::not_of_or(not(Selector::Or(vec![eq("a", "x"), eq("b", "y")])), "!(a == 'x' || b == 'y')")]
    #[case::not_of_comparison(not(eq("a", "x")), "!a == 'x'")]
    #[case::not_of_not(not(not(has("a"))), "!(!has(a))")]
    #[case::empty_and(Selector::And(vec![]), "all()")]
    #[case::empty_or(Selector::Or(vec![]), "!all()")]
    #[case::not_of_empty_or(not(Selector::Or(vec![])), "!(!all())")]
    #[case::single_operand_and_in_and(
        Selector::And(vec![Selector::And(vec![Selector::Or(vec![has("a"), has("b")])]), has("c")]),
        "(has(a) || has(b)) && has(c)"
    )]
    fn displays(#[case] sel: Selector, #[case] expected: &str) {
        assert_eq!(sel.to_string(), expected);
        let reparsed = Selector::parse(expected).unwrap_or_else(|e| panic!("{e}"));
        let samples = [
            labels(&[]),
            labels(&[("a", "x"), ("c", "")]),
            labels(&[("b", "y"), ("c", "z"), ("app", "web")]),
            labels(&[("a", "it's"), ("x", "1")]),
        ];
        for l in &samples {
            assert_eq!(reparsed.matches(l), sel.matches(l), "{expected} on {l:?}");
        }
    }

    #[test]
    fn map_keys_prefixes_every_key_and_keeps_all_and_global() {
        let sel = Selector::parse(
            "(app == 'web' || has(team)) && !role in {'db'} && tier not in {} && all() \
             && global() && x != '1' && x contains '2' && x starts with '3' && x ends with '4'",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let prefixed = sel.map_keys(&|k| format!("pcns.{k}"));
        assert_eq!(
            prefixed.to_string(),
            "(pcns.app == 'web' || has(pcns.team)) && !pcns.role in {'db'} && pcns.tier not in {} \
             && all() && global() && pcns.x != '1' && pcns.x contains '2' \
             && pcns.x starts with '3' && pcns.x ends with '4'"
        );
        let ns = labels(&[("app", "web"), ("x", "324")]);
        let pcns: Labels = ns
            .iter()
            .map(|(k, v)| (format!("pcns.{k}"), v.clone()))
            .collect();
        assert!(sel.matches(&ns));
        assert!(prefixed.matches(&pcns));
        assert!(!prefixed.matches(&ns));
    }

    fn req(key: &str, operator: &str, values: Option<&[&str]>) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: s(key),
            operator: s(operator),
            values: values.map(|vs| vs.iter().map(|v| s(v)).collect()),
        }
    }

    fn label_selector(
        match_labels: &[(&str, &str)],
        exprs: Vec<LabelSelectorRequirement>,
    ) -> LabelSelector {
        LabelSelector {
            match_labels: Some(labels(match_labels)),
            match_expressions: Some(exprs),
        }
    }

    #[rstest]
    #[case::default(LabelSelector::default(), Selector::All)]
    #[case::explicitly_empty(label_selector(&[], vec![]), Selector::All)]
    #[case::one_label(label_selector(&[("app", "web")], vec![]), eq("app", "web"))]
    #[case::labels_in_key_order(
        label_selector(&[("tier", "db"), ("app", "")], vec![]),
        Selector::And(vec![eq("app", ""), eq("tier", "db")])
    )]
    #[case::in_op(
        label_selector(&[], vec![req("app", "In", Some(&["web", "db"]))]),
        Selector::In(s("app"), set(&["db", "web"]))
    )]
    #[case::not_in_op(
        label_selector(&[], vec![req("app", "NotIn", Some(&["web"]))]),
        Selector::NotIn(s("app"), set(&["web"]))
    )]
    #[case::exists(label_selector(&[], vec![req("app", "Exists", None)]), has("app"))]
    #[case::does_not_exist(
        label_selector(&[], vec![req("kubernetes.io/metadata.name", "DoesNotExist", Some(&[]))]),
        not(has("kubernetes.io/metadata.name"))
    )]
    #[case::labels_then_expressions(
        label_selector(&[("app", "web")], vec![req("tier", "Exists", None), req("env", "NotIn", Some(&["prod"]))]),
        Selector::And(vec![eq("app", "web"), has("tier"), Selector::NotIn(s("env"), set(&["prod"]))])
    )]
    fn converts_label_selector(#[case] ls: LabelSelector, #[case] expected: Selector) {
        let sel = Selector::from_label_selector(&ls).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sel, expected);
        assert_eq!(Selector::parse(&sel.to_string()), Ok(sel));
    }

    #[rstest]
    #[case::match_labels_equal(label_selector(&[("app", "web")], vec![]), &[("app", "web")], true)]
    #[case::match_labels_other(label_selector(&[("app", "web")], vec![]), &[("app", "db")], false)]
    #[case::match_labels_absent(label_selector(&[("app", "web")], vec![]), &[], false)]
    #[case::match_labels_all_needed(
        label_selector(&[("app", "web"), ("tier", "fe")], vec![]),
        &[("app", "web")],
        false
    )]
    #[case::in_member(label_selector(&[], vec![req("app", "In", Some(&["web", "db"]))]), &[("app", "db")], true)]
    #[case::in_absent(label_selector(&[], vec![req("app", "In", Some(&["web"]))]), &[], false)]
    #[case::not_in_member(label_selector(&[], vec![req("app", "NotIn", Some(&["web"]))]), &[("app", "web")], false)]
    #[case::not_in_other(label_selector(&[], vec![req("app", "NotIn", Some(&["web"]))]), &[("app", "db")], true)]
    #[case::not_in_absent(label_selector(&[], vec![req("app", "NotIn", Some(&["web"]))]), &[], true)]
    #[case::exists_present(label_selector(&[], vec![req("app", "Exists", None)]), &[("app", "")], true)]
    #[case::exists_absent(label_selector(&[], vec![req("app", "Exists", None)]), &[], false)]
    #[case::does_not_exist_absent(label_selector(&[], vec![req("app", "DoesNotExist", None)]), &[], true)]
    #[case::does_not_exist_present(label_selector(&[], vec![req("app", "DoesNotExist", None)]), &[("app", "x")], false)]
    #[case::empty_matches_anything(LabelSelector::default(), &[("any", "thing")], true)]
    fn label_selector_matches(
        #[case] ls: LabelSelector,
        #[case] pairs: &[(&str, &str)],
        #[case] expected: bool,
    ) {
        let sel = Selector::from_label_selector(&ls).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sel.matches(&labels(pairs)), expected, "{sel}");
    }

    #[rstest]
    #[case::unknown_operator(
        label_selector(&[], vec![req("a", "Exists", None), req("b", "Foo", Some(&["x"]))]),
        "matchExpressions[1].operator",
        "matchExpressions[1].operator: unknown operator `Foo` (expected In, NotIn, Exists, DoesNotExist)"
    )]
    #[case::operator_is_case_sensitive(
        label_selector(&[], vec![req("a", "in", Some(&["x"]))]),
        "matchExpressions[0].operator",
        "unknown operator `in`"
    )]
    #[case::in_without_values(
        label_selector(&[], vec![req("a", "In", None)]),
        "matchExpressions[0].values",
        "matchExpressions[0].values: must be non-empty for In"
    )]
    #[case::not_in_with_empty_values(
        label_selector(&[], vec![req("a", "NotIn", Some(&[]))]),
        "matchExpressions[0].values",
        "matchExpressions[0].values: must be non-empty for NotIn"
    )]
    #[case::exists_with_values(
        label_selector(&[], vec![req("a", "Exists", Some(&["x"]))]),
        "matchExpressions[0].values",
        "matchExpressions[0].values: must be empty for Exists"
    )]
    #[case::does_not_exist_with_values(
        label_selector(&[], vec![req("a", "In", Some(&["x"])), req("b", "DoesNotExist", Some(&[""]))]),
        "matchExpressions[1].values",
        "must be empty for DoesNotExist"
    )]
    #[case::expression_bad_key(
        label_selector(&[], vec![req("-app", "Exists", None)]),
        "matchExpressions[0].key",
        "matchExpressions[0].key: invalid label key `-app`: name part must consist of"
    )]
    #[case::expression_bad_value(
        label_selector(&[], vec![req("app", "In", Some(&["ok", "not ok"]))]),
        "matchExpressions[0].values[1]",
        "matchExpressions[0].values[1]: invalid label value `not ok`"
    )]
    #[case::match_labels_bad_key(
        label_selector(&[("bad key", "x")], vec![]),
        "matchLabels.bad key",
        "matchLabels.bad key: invalid label key `bad key`"
    )]
    #[case::match_labels_bad_value(
        label_selector(&[("app", "web!")], vec![]),
        "matchLabels.app",
        "matchLabels.app: invalid label value `web!`"
    )]
    #[case::value_ends_with_dash(label_selector(&[("app", "web-")], vec![]), "matchLabels.app", "invalid label value")]
    #[case::value_too_long(
        label_selector(&[("app", &"v".repeat(64))], vec![]),
        "matchLabels.app",
        "must be no more than 63 characters"
    )]
    #[case::empty_prefix(label_selector(&[("/app", "x")], vec![]), "matchLabels./app", "prefix part must be non-empty")]
    #[case::uppercase_prefix(
        label_selector(&[("Example.com/app", "x")], vec![]),
        "matchLabels.Example.com/app",
        "prefix part must be a lowercase DNS subdomain"
    )]
    #[case::empty_prefix_label(label_selector(&[("a..b/app", "x")], vec![]), "matchLabels.a..b/app", "DNS subdomain")]
    #[case::two_slashes(label_selector(&[("a/b/c", "x")], vec![]), "matchLabels.a/b/c", "name part must consist of")]
    #[case::empty_name(label_selector(&[("example.com/", "x")], vec![]), "matchLabels.example.com/", "name part must be non-empty")]
    #[case::empty_key(label_selector(&[("", "x")], vec![]), "matchLabels.", "name part must be non-empty")]
    #[case::name_too_long(
        label_selector(&[(&"n".repeat(64), "x")], vec![]),
        &format!("matchLabels.{}", "n".repeat(64)),
        "name part must be no more than 63 characters"
    )]
    fn rejects_label_selector(
        #[case] ls: LabelSelector,
        #[case] field: &str,
        #[case] fragment: &str,
    ) {
        let err = Selector::from_label_selector(&ls).expect_err("invalid");
        assert_eq!(err.field(), field);
        assert!(err.to_string().contains(fragment), "{err}");
    }

    #[rstest]
    #[case::simple("app")]
    #[case::mixed_case_name("A_b.c-D9")]
    #[case::prefixed("kubernetes.io/metadata.name")]
    #[case::calico("projectcalico.org/namespace")]
    #[case::longest_name(&"n".repeat(63))]
    fn accepts_label_keys(#[case] key: &str) {
        let ls = label_selector(&[(key, "v")], vec![req(key, "In", Some(&["", "a.b_c-1"]))]);
        assert!(Selector::from_label_selector(&ls).is_ok(), "{key}");
    }

    // ---- property tests ----

    const KEYS: &[&str] = &[
        "a",
        "b",
        "app",
        "in",
        "not",
        "has",
        "all",
        "starts",
        "contains",
        "x-y_z.1",
        "projectcalico.org/namespace",
    ];
    const VALUES: &[&str] = &["", "x", "y", "web", "it's", "say \"hi\"", "é ü", "{a, b}"];

    fn key() -> impl Strategy<Value = String> {
        prop::sample::select(KEYS).prop_map(s)
    }

    /// Values never hold both kinds of quote (they would have no Calico spelling).
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(VALUES).prop_map(s),
            "[xy'\" é]{0,3}".prop_map(|v| if v.contains('\'') {
                v.replace('"', "")
            } else {
                v
            }),
        ]
    }

    fn leaf() -> impl Strategy<Value = Selector> {
        let values = || prop::collection::btree_set(value(), 0..3);
        prop_oneof![
            Just(Selector::All),
            Just(Selector::Global),
            key().prop_map(Selector::Has),
            (key(), value()).prop_map(|(k, v)| Selector::Equals(k, v)),
            (key(), value()).prop_map(|(k, v)| Selector::NotEquals(k, v)),
            (key(), values()).prop_map(|(k, v)| Selector::In(k, v)),
            (key(), values()).prop_map(|(k, v)| Selector::NotIn(k, v)),
            (key(), value()).prop_map(|(k, v)| Selector::Contains(k, v)),
            (key(), value()).prop_map(|(k, v)| Selector::StartsWith(k, v)),
            (key(), value()).prop_map(|(k, v)| Selector::EndsWith(k, v)),
        ]
    }

    /// Trees whose `And`/`Or` have `operands` operands.
    fn tree(operands: std::ops::Range<usize>) -> impl Strategy<Value = Selector> {
        leaf().prop_recursive(5, 48, 4, move |inner| {
            prop_oneof![
                inner.clone().prop_map(|s| Selector::Not(Box::new(s))),
                prop::collection::vec(inner.clone(), operands.clone()).prop_map(Selector::And),
                prop::collection::vec(inner, operands.clone()).prop_map(Selector::Or),
            ]
        })
    }

    fn label_map() -> impl Strategy<Value = Labels> {
        let v = prop_oneof![prop::sample::select(VALUES).prop_map(s), "[xy'\"]{0,3}"];
        prop::collection::btree_map(key(), v, 0..6)
    }

    fn token_soup() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "(",
            ")",
            "!",
            "&&",
            "||",
            "&",
            "|",
            "==",
            "=",
            "!=",
            "in",
            "not",
            "notin",
            " not in ",
            "{",
            "}",
            ",",
            "'",
            "\"",
            "'x'",
            "\"y\"",
            "has(",
            "has(a)",
            "all()",
            "all(",
            "global()",
            "contains",
            "starts",
            "with",
            " starts with ",
            "ends with",
            "a",
            "app",
            "x/y.z",
            " ",
            "\t",
            "\n",
            "é",
            "💥",
        ]);
        prop::collection::vec(pieces, 0..40).prop_map(|ps| ps.concat())
    }

    /// Whatever parses prints back to an equal selector; whatever fails names a position inside it.
    fn check_parse(src: &str) -> Result<(), TestCaseError> {
        match Selector::parse(src) {
            Ok(sel) => {
                let shown = sel.to_string();
                prop_assert_eq!(
                    Selector::parse(&shown),
                    Ok(sel),
                    "{} printed as {}",
                    src,
                    shown
                );
            }
            Err(e) => prop_assert!(e.position <= src.chars().count(), "{}", e),
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_strings(src in any::<String>()) {
            check_parse(&src)?;
        }

        #[test]
        fn parse_never_panics_on_token_soup(src in token_soup()) {
            check_parse(&src)?;
        }

        #[test]
        fn display_parses_back_to_the_same_tree(sel in tree(2..4)) {
            let shown = sel.to_string();
            prop_assert_eq!(Selector::parse(&shown), Ok(sel), "{}", shown);
        }

        #[test]
        fn display_parses_back_to_an_equivalent_selector(
            sel in tree(0..4),
            samples in prop::collection::vec(label_map(), 8),
        ) {
            let shown = sel.to_string();
            let reparsed = Selector::parse(&shown);
            prop_assert!(reparsed.is_ok(), "{} -> {:?}", shown, reparsed);
            if let Ok(reparsed) = reparsed {
                for l in &samples {
                    prop_assert_eq!(reparsed.matches(l), sel.matches(l), "{} on {:?}", shown, l);
                }
                // One round normalises: printing again is stable.
                prop_assert_eq!(reparsed.to_string(), shown);
            }
        }
    }
}
