//! The selector language against libcalico-go's behaviour, and `LabelSelector` conversion.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
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
fn parses_and_matches(#[case] src: &str, #[case] pairs: &[(&str, &str)], #[case] expected: bool) {
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
#[case::unclosed_inner_paren("has(a) && ((has(b)) || has(c)", 29, "to close `(` at position 10")]
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
fn rejects_label_selector(#[case] ls: LabelSelector, #[case] field: &str, #[case] fragment: &str) {
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
