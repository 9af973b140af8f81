//! The tokenizer: selector text to tokens, with libcalico-go's quirks (see the module docs).

use std::fmt;

use super::MAX_LABEL_LEN;
use super::print::Quoted;

/// A token of selector syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
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
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) pos: usize,
}

/// Splits the input into tokens, ending with [`Tok::End`] or, at the first lexical error,
/// [`Tok::Invalid`]. Reporting the error through a token lets an earlier syntax error win.
pub(super) fn tokenize(chars: &[char]) -> Vec<Token> {
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
pub(super) fn expected_operator(label: &str) -> String {
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
