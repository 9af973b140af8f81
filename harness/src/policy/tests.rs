use super::test_support::{ns, refusal};

#[test]
fn kubernetes_label_selector_errors_name_the_field_once() {
    let text = refusal(&format!(
        "{}apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: prod}}\nspec:\n  podSelector: {{matchLabels: {{app: 'bad value'}}}}\n",
        ns("prod", &[])
    ));
    assert_eq!(
        text,
        "t.yaml: document 2 (line 6): spec.podSelector.matchLabels.app: invalid label value `bad value`: must consist of alphanumerics, `-`, `_` or `.`, and start and end with an alphanumeric"
    );
}
