use std::path::Path;

use rstest::rstest;

use super::*;

fn parse(text: &str) -> Result<Vec<Document>, ManifestError> {
    parse_str(Path::new("t.yaml"), text)
}

#[test]
fn splits_multi_document_yaml_and_skips_empty_documents() {
    let docs = parse(
        "# comment\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
    )
    .unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].kind(), "Namespace");
    assert_eq!(docs[0].source.document, 2);
    assert_eq!(docs[0].source.line, 2);
    assert_eq!(docs[1].kind(), "Pod");
    assert_eq!(docs[1].source.document, 5);
    assert_eq!(docs[1].source.line, 9);
}

#[test]
fn expands_kind_list() {
    let docs = parse_str(
        Path::new("l.json"),
        r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"b"}}]}"#,
    )
    .unwrap();
    assert_eq!(
        docs.iter().map(|d| d.name()).collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[rstest]
#[case::tab_indentation(
    "apiVersion: v1\nkind: Pod\nmetadata:\n\tname: x\n",
    "document 1",
    "line 4"
)]
#[case::unclosed_bracket("apiVersion: v1\nkind: Pod\nspec: [1, 2\n", "document 1", "unclosed")]
#[case::second_document_line_numbers(
    "apiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: Pod\nmetadata:\n\tname: x\n",
    "document 2",
    "line 7"
)]
#[case::duplicate_key(
    "apiVersion: v1\nkind: Pod\nkind: Service\n",
    "document 1",
    "duplicate"
)]
#[case::scalar_document("just a string\n", "document 1", "expected a Kubernetes object")]
#[case::missing_kind("apiVersion: v1\nmetadata: {name: x}\n", "kind: missing", "document 1")]
#[case::kind_not_a_string(
    "apiVersion: v1\nkind: [Pod]\n",
    "kind: expected a non-empty string",
    "found a list"
)]
fn syntax_and_shape_errors_name_file_document_and_place(
    #[case] text: &str,
    #[case] want1: &str,
    #[case] want2: &str,
) {
    let err = parse(text).unwrap_err().to_string();
    assert!(err.starts_with("t.yaml: "), "{err}");
    assert!(err.contains(want1), "{err} should contain {want1}");
    assert!(err.contains(want2), "{err} should contain {want2}");
}

#[test]
fn binary_garbage_is_refused_as_not_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.yaml");
    std::fs::write(&path, [0x89u8, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe]).unwrap();
    let err = load_paths(&[path]).unwrap_err().to_string();
    assert!(err.contains("garbage.yaml: not a text manifest"), "{err}");
    let err = parse("apiVersion: v1\0\n").unwrap_err().to_string();
    assert!(err.contains("NUL byte"), "{err}");
}

#[test]
fn directories_are_read_recursively_in_sorted_order_and_other_files_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("sub/b.yml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("c.json"),
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"c"}}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a manifest").unwrap();
    let docs = load_paths(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(
        docs.iter().map(|d| d.name()).collect::<Vec<_>>(),
        ["a", "c", "b"]
    );
}

#[test]
fn missing_path_is_an_io_error_naming_it() {
    let err = load_paths(&["/nonexistent/netpol.yaml".into()])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("/nonexistent/netpol.yaml: "), "{err}");
}

#[test]
fn typed_names_the_field_path_of_a_wrong_type() {
    let docs = parse(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\nspec:\n  ingress:\n  - ports:\n    - port: 80\n      endPort: eighty\n",
    )
    .unwrap();
    let err = docs[0]
        .typed::<k8s_openapi::api::networking::v1::NetworkPolicy>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("spec.ingress[0].ports[0].endPort"), "{err}");
}

#[test]
fn typed_strict_refuses_unknown_fields_with_their_path() {
    let docs = parse(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\nspec:\n  podSelector: {}\n  ingres: []\n  ingress:\n  - form: []\n",
    )
    .unwrap();
    let err = docs[0]
        .typed_strict::<k8s_openapi::api::networking::v1::NetworkPolicy>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("spec.ingres: unsupported"), "{err}");
    let fields = unknown_fields(
        &docs[0].value,
        &serde_json::to_value(
            docs[0]
                .typed::<k8s_openapi::api::networking::v1::NetworkPolicy>()
                .unwrap(),
        )
        .unwrap(),
    );
    assert_eq!(fields, ["spec.ingres", "spec.ingress[0].form"]);
}

#[test]
fn yaml_1_1_booleans_stay_strings_so_namespace_y_works() {
    let docs = parse("apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: y}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: no, labels: {on: yes}}\n").unwrap();
    assert_eq!(docs[0].namespace(), Some("y"));
    assert_eq!(docs[1].name(), "no");
    assert_eq!(
        docs[1].value.pointer("/metadata/labels/on"),
        Some(&serde_json::json!("yes"))
    );
}

/// A document whose aliases expand to about 330,000 nodes: under the per-file node budget
/// alone, far over it when sixteen of them share one file.
fn alias_bomb() -> String {
    let mut doc = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for (level, name) in ["b", "c", "d", "e"].iter().enumerate() {
        let previous = ["a", "b", "c", "d"][level];
        let _ = std::fmt::Write::write_fmt(
            &mut doc,
            format_args!(
                "  {name}: &{name} [{}]\n",
                vec![format!("*{previous}"); 10].join(", ")
            ),
        );
    }
    doc.push_str(&format!("  f: [{}]\n", ["*e"; 3].join(", ")));
    doc
}

#[test]
fn the_yaml_budget_is_per_file_not_per_document() {
    let one = alias_bomb();
    let docs = parse(&one);
    assert!(docs.is_ok(), "one bomb is under the file budget: {docs:?}");
    let sixteen = vec![one; 16].join("---\n");
    let err = parse(&sixteen).unwrap_err().to_string();
    // Refused a few documents in, where the file's budget runs out.
    assert!(
        err.starts_with("t.yaml: document 3 (line 22): budget breached: Nodes"),
        "{err}"
    );
    assert!(
        err.ends_with("(the YAML budget of one file: 1000000 nodes, 10000 documents)"),
        "{err}"
    );
}

#[test]
fn many_small_documents_parse_in_linear_time_and_are_capped_per_file() {
    let doc = |i: usize| format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: n{i}}}\n");
    let at_limit: String = (0..FILE_MAX_DOCUMENTS)
        .map(|i| format!("---\n{}", doc(i)))
        .collect();
    let started = std::time::Instant::now();
    let docs = parse(&at_limit).unwrap();
    assert_eq!(docs.len(), FILE_MAX_DOCUMENTS);
    assert_eq!(docs[9_999].source.document, 10_001);
    assert_eq!(docs[9_999].source.line, 9_999 * 4 + 1);
    // Quadratic splitting took minutes for 40,000; linear takes well under a second (the
    // bound is generous for a loaded debug build).
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let over: String = (0..40_000).map(|i| format!("---\n{}", doc(i))).collect();
    let err = parse(&over).unwrap_err().to_string();
    assert!(err.contains("document"), "{err}");
}

#[test]
fn one_load_has_a_budget_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let doc = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
        .repeat(FILE_MAX_DOCUMENTS - 1);
    for i in 0..6 {
        std::fs::write(dir.path().join(format!("m{i}.yaml")), &doc).unwrap();
    }
    let err = load_paths(&[dir.path().to_path_buf()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("m5.yaml: over the 50000-document limit on manifests read in one load"),
        "{err}"
    );
}

#[test]
fn directory_symlink_loops_end_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(".", dir.path().join("a")).unwrap();
    std::os::unix::fs::symlink(".", dir.path().join("b")).unwrap();
    let err = load_paths(&[dir.path().to_path_buf()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("symlink loop at"), "{err}");
}
