use proptest::prelude::*;

use super::*;

/// What `shell -c 'printf %s WORD'` prints: the word as the shell reads it.
fn through_shell(shell: &str, quoted: &str) -> Vec<u8> {
    let out = std::process::Command::new(shell)
        .arg("-c")
        .arg(format!("printf %s {quoted}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{shell}: {quoted}");
    out.stdout
}

#[test]
fn terminal_output_has_no_control_characters_and_no_workflow_commands() {
    assert_eq!(terminal("ns-1/busybox"), "ns-1/busybox");
    assert!(matches!(terminal("plain"), Cow::Borrowed(_)));
    assert_eq!(
        terminal("a\u{1b}]0;pwned\u{7}b\0c"),
        "a\\u{1b}]0;pwned\\u{7}b\\u{0}c"
    );
    assert_eq!(terminal("x\n::error ::pwned"), "x\\n::error ::pwned");
    assert_eq!(terminal("  ::error::x"), "\\  ::error::x");
    assert_eq!(terminal("\u{202e}txt.exe"), "\\u{202e}txt.exe");
    assert_eq!(terminal("\u{9b}31m"), "\\u{9b}31m");
    assert_eq!(
        terminal_text("one\ntwo\n ::warning::x\r\n\u{1b}[2J"),
        "one\ntwo\n\\ ::warning::x\\r\n\\u{1b}[2J"
    );
}

#[test]
fn markdown_keeps_a_string_in_its_cell() {
    assert_eq!(
        markdown("a|b\n<i>*x*</i> [l](u) \\"),
        "a\\|b\\n&lt;i&gt;\\*x\\*&lt;/i&gt; \\[l\\](u) \\\\"
    );
}

#[test]
fn urls_are_http_with_safe_characters_only() {
    assert_eq!(url("javascript:alert(1)"), None);
    assert_eq!(url("ftp://x/"), None);
    assert_eq!(
        url("https://github.com/o/r/issues/1?q=a%20b#c"),
        Some("https://github.com/o/r/issues/1?q=a%20b#c")
    );
    for bad in [
        "https://x/a|b",
        "https://x/a b",
        "https://x/\"",
        "https://x/(",
        "https://x/<",
        "https://x/é",
        "https://x/\n",
    ] {
        assert_eq!(url(bad), None, "{bad}");
    }
    assert_eq!(url("HTTPS://X/"), Some("HTTPS://X/"));
}

#[test]
fn html_and_xml() {
    assert_eq!(
        html("<a href=\"x\" onclick='y'>&\u{0}\u{fffe}"),
        "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;\\u{0}\\u{fffe}"
    );
    assert_eq!(
        xml("a\u{fffe}b\u{ffff}\u{1}\u{1fffe}<&"),
        "a\\u{fffe}b\\u{ffff}\\u{1}\\u{1fffe}<&"
    );
    assert_eq!(xml("tab\tline\n"), "tab\tline\n");
}

#[test]
fn shell_words_are_quoted_and_read_back_as_they_were() {
    assert_eq!(sh("ns-1/busybox"), "ns-1/busybox");
    assert_eq!(sh("app=x; touch pwned"), "'app=x; touch pwned'");
    assert_eq!(sh("it's"), "'it'\\''s'");
    assert_eq!(sh(""), "''");
    assert_eq!(sh("a\u{1b}b"), "$'a\\033b'");
    assert_eq!(
        sh_command(&["kubectl", "label", "pod", "x", "app=$(id)"]),
        "kubectl label pod x 'app=$(id)'"
    );
    for word in [
        "a b",
        "$(touch pwned)",
        "`id`",
        "a'b\"c",
        "*",
        "~root",
        "x;y|z&",
        "=x",
    ] {
        assert_eq!(through_shell("sh", &sh(word)), word.as_bytes(), "{word}");
    }
    assert_eq!(
        through_shell("bash", &sh("a\nb\u{7}'\u{202e}")),
        "a\nb\u{7}'\u{202e}".as_bytes()
    );
}

#[test]
fn a_terminal_writer_guards_a_whole_stream() {
    use std::io::Write;
    let mut out = TerminalWriter::new(Vec::new());
    write!(out, "step \u{1b}[2J one\n::err").unwrap();
    write!(out, "or ::x\nprompt \u{7}").unwrap();
    out.flush().unwrap();
    out.write_all(b"\xff\n").unwrap();
    assert_eq!(
        String::from_utf8(out.inner).unwrap(),
        "step \\u{1b}[2J one\n\\::error ::x\nprompt \\u{7}\u{fffd}\n"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_escaped_output_carries_a_hazard(s in any::<String>()) {
        for out in [terminal(&s).into_owned(), markdown(&s), html(&s)] {
            prop_assert!(!out.chars().any(is_hazard), "{out:?}");
        }
        prop_assert!(!terminal(&s).trim_start().starts_with("::"));
        prop_assert!(!xml(&s).chars().any(|c| is_hazard(c) && c != '\n' && c != '\t'));
        prop_assert!(!markdown(&s).replace("\\|", "").contains('|'));
        if let Some(u) = url(&format!("https://h/{s}")) {
            let u = u.to_string();
            prop_assert!(u.chars().all(|c| c.is_ascii_graphic() && !"|\"'<>()[]`\\ ".contains(c)), "{u}");
        }
    }

    #[test]
    fn shell_quoting_round_trips(s in "[ -~]{0,24}") {
        prop_assert_eq!(through_shell("sh", &sh(&s)), s.as_bytes());
    }
}
