//! One escaping function per output kind. Names, titles, narration, reasons and URLs come from
//! scenario files, results files and clusters the harness does not own; every such string goes
//! through the function for where it is written:
//!
//! | output | function | what it neutralises |
//! |---|---|---|
//! | terminal, CI log (one line) | [`terminal`] | control characters (ESC, BEL, NUL, newlines…), bidirectional overrides, a leading `::` (a GitHub Actions workflow command) |
//! | terminal, CI log (a paragraph) | [`terminal_text`] | the same, keeping line breaks, with `::` neutralised at the start of every line |
//! | Markdown (inline text, table cells) | [`markdown`] | `\|` and the other inline syntax, HTML, line breaks, control characters |
//! | Markdown / HTML link target | [`url`] | anything but `http(s)://` made of a small safe set of characters is refused |
//! | HTML (text and quoted attributes) | [`html`] | `& < > " '`, control characters, noncharacters |
//! | XML (through a writer that escapes markup) | [`xml`] | characters XML 1.0 does not allow (NUL, U+FFFE, U+FFFF…) and C1 controls |
//! | POSIX shell, one command word | [`sh`] | every shell metacharacter (single quotes); control characters as `$'…'` |
//!
//! [`TerminalWriter`] applies [`terminal_text`] to a whole output stream.
//!
//! A character that cannot be shown as it is becomes visible as `\u{…}` (`\n`, `\t` and `\r`
//! as themselves), so a reader sees that something odd was there.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must never reach an output as it is: control characters (C0, DEL, C1), the line
/// and paragraph separators, bidirectional controls, zero-width joiners' kin that hide text,
/// and Unicode noncharacters.
fn is_hazard(c: char) -> bool {
    let u = u32::from(c);
    c.is_control()
        || matches!(u, 0x2028 | 0x2029)
        || matches!(u, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2069 | 0xFEFF)
        || matches!(u, 0xFDD0..=0xFDEF)
        || (u & 0xFFFE) == 0xFFFE
}

/// The visible form of a hazardous character.
fn visible(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        _ => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

/// `text` with every character `keep` refuses made visible; borrowed when nothing changes.
fn replace_hazards(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if text.chars().all(|c| !is_hazard(c) || keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hazard(c) && !keep(c) {
            visible(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Prefixes a line that GitHub Actions would read as a workflow command (`::error …`, leading
/// whitespace allowed) with a backslash.
fn defuse_workflow_command(line: &str, out: &mut String) {
    if line.trim_start().starts_with("::") {
        out.push('\\');
    }
    out.push_str(line);
}

/// For a terminal or a CI log, on one line: every control character (newlines included) and
/// bidirectional control made visible, and a leading `::` defused.
pub fn terminal(text: &str) -> Cow<'_, str> {
    let replaced = replace_hazards(text, |_| false);
    if replaced.trim_start().starts_with("::") {
        let mut out = String::with_capacity(replaced.len() + 1);
        defuse_workflow_command(&replaced, &mut out);
        return Cow::Owned(out);
    }
    replaced
}

/// For a terminal or a CI log, a paragraph: like [`terminal`] but line breaks (`\n`) and tabs
/// stay, and every line starting with `::` is defused.
pub fn terminal_text(text: &str) -> Cow<'_, str> {
    let replaced = replace_hazards(text, |c| c == '\n' || c == '\t');
    if !replaced
        .split('\n')
        .any(|l| l.trim_start().starts_with("::"))
    {
        return replaced;
    }
    let mut out = String::with_capacity(replaced.len() + 4);
    for (i, line) in replaced.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        defuse_workflow_command(line, &mut out);
    }
    Cow::Owned(out)
}

/// For Markdown inline text and table cells: the table separator `|`, inline syntax
/// (backslash, `*`, `_`, backtick, `[`, `]`, `~`), HTML (`< > &`) escaped, line breaks and other control characters made
/// visible, so a string stays in its cell and renders as the text it is.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if is_hazard(c) => visible(c, &mut out),
            c => out.push(c),
        }
    }
    out
}

/// A link target for Markdown or HTML, as it is, or `None`: `http://` or `https://` only, made
/// of letters, digits and ``- . _ ~ : / ? # @ ! $ & + , ; = %`` only (no `|`, quote,
/// bracket, parenthesis, space, angle bracket, backslash, control or non-ASCII character: a
/// link with one is not rendered, rather than rendered as something else).
pub fn url(text: &str) -> Option<&str> {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    let scheme = lower.starts_with("https://") || lower.starts_with("http://");
    let chars = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#@!$&+,;=%".contains(&b));
    (scheme && chars).then_some(text)
}

/// For HTML text and double- or single-quoted attribute values: `& < > " '` as entities,
/// control characters (but line breaks and tabs) and noncharacters made visible.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if is_hazard(c) => visible(c, &mut out),
            c => out.push(c),
        }
    }
    out
}

/// For XML written through a writer that escapes markup itself (`quick-junit`): every
/// character XML 1.0 does not allow (`#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
/// [#x10000-#x10FFFF]`), and every other hazard but line breaks and tabs, made visible.
pub fn xml(text: &str) -> Cow<'_, str> {
    replace_hazards(text, |c| c == '\n' || c == '\t')
}

/// One word of a POSIX shell command, quoted so that a reader can paste it: as it is when it
/// is made only of characters no shell treats specially, else in single quotes (`'` written
/// as `'\''`). A word with control characters is written as `$'…'` (POSIX.1-2024; bash, zsh,
/// ksh) with them escaped, so that none reaches the terminal.
pub fn sh(word: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) && !word.starts_with('=') {
        return Cow::Borrowed(word);
    }
    if word.chars().any(is_hazard) {
        let mut out = String::from("$'");
        for c in word.chars() {
            match c {
                '\'' => out.push_str("\\'"),
                '\\' => out.push_str("\\\\"),
                c if is_hazard(c) && u32::from(c) < 0x80 => {
                    let _ = write!(out, "\\{:03o}", u32::from(c));
                }
                c if is_hazard(c) => {
                    // Outside ASCII: its UTF-8 bytes, in octal.
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\{b:03o}");
                    }
                }
                c => out.push(c),
            }
        }
        out.push('\'');
        return Cow::Owned(out);
    }
    Cow::Owned(format!("'{}'", word.replace('\'', "'\\''")))
}

/// A command line: every word through [`sh`], joined by spaces.
pub fn sh_command<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| sh(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A writer for a terminal or a CI log that passes everything written through
/// [`terminal_text`], line by line: the one guard on an output stream made of many pieces
/// (`reproduce` prints narration, commands and tables). Bytes that are not UTF-8 become
/// U+FFFD. A partial line is written on [`std::io::Write::flush`].
pub struct TerminalWriter<W: std::io::Write> {
    inner: W,
    line: Vec<u8>,
}

impl<W: std::io::Write> TerminalWriter<W> {
    /// Guards `inner`.
    pub fn new(inner: W) -> Self {
        TerminalWriter {
            inner,
            line: Vec::new(),
        }
    }

    fn emit(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(bytes);
        self.inner.write_all(terminal_text(&text).as_bytes())
    }
}

impl<W: std::io::Write> std::io::Write for TerminalWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        if let Some(end) = self.line.iter().rposition(|b| *b == b'\n') {
            let complete: Vec<u8> = self.line.drain(..=end).collect();
            self.emit(&complete)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.line.is_empty() {
            let partial = std::mem::take(&mut self.line);
            self.emit(&partial)?;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests;
