//! Reading a cluster against a mocked API server (tower-test, as kube-rs documents it): the model
//! built, pagination, kinds not served, vendor kinds refused, hostile names, and that only GET
//! requests are ever sent.

use std::collections::BTreeMap;

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock;

use super::*;
use crate::analysis::{Analysis, UserOptions};
use crate::model::EndpointId;
use crate::policy::Semantics;

type Pages = BTreeMap<&'static str, Vec<Vec<Value>>>;

/// Serves `pages` (path → pages of items; page `i` carries the continue token `p{i+1}` when more
/// follow) until the client is dropped, answering 404 for any other path; returns every request
/// as `METHOD path?query`.
async fn serve(
    mut handle: mock::Handle<Request<Body>, Response<Body>>,
    pages: Pages,
    status_for: BTreeMap<&'static str, u16>,
) -> Vec<(Method, String)> {
    let mut seen = Vec::new();
    while let Some((req, send)) = handle.next_request().await {
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        seen.push((req.method().clone(), format!("{path}?{query}")));
        let page: usize = query
            .split('&')
            .find_map(|p| p.strip_prefix("continue=p"))
            .map_or(0, |n| n.parse().unwrap());
        let (status, body) = match (status_for.get(path.as_str()), pages.get(path.as_str())) {
            (Some(&code), _) => (
                code,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": "simulated", "reason": "Forbidden", "code": code}),
            ),
            (None, Some(list)) => {
                let more = page + 1 < list.len();
                (
                    200,
                    json!({"apiVersion": "v1", "kind": "List",
                        "metadata": if more { json!({"continue": format!("p{}", page + 1)}) } else { json!({}) },
                        "items": list[page]}),
                )
            }
            (None, None) => (
                404,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": "the server could not find the requested resource",
                    "reason": "NotFound", "code": 404}),
            ),
        };
        send.send_response(
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&body).unwrap()))
                .unwrap(),
        );
    }
    seen
}

/// Runs [`read`] against `pages`, returning its result, the progress calls and the requests.
async fn read_mocked(
    pages: Pages,
    status_for: BTreeMap<&'static str, u16>,
) -> (
    Result<Snapshot, LiveError>,
    Vec<usize>,
    Vec<(Method, String)>,
) {
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(serve(handle, pages, status_for));
    let client = Client::new(svc, "default");
    let mut progress = Vec::new();
    let result = read(&client, "prod", &mut |p| progress.push(p.objects)).await;
    drop(client);
    let requests = server.await.unwrap();
    (result, progress, requests)
}

fn pod(name: &str, labels: Value, ip: &str, extra: Value) -> Value {
    let mut pod = json!({
        "metadata": {"name": name, "namespace": "shop", "labels": labels, "uid": "u",
            "managedFields": [{"manager": "kubelet"}]},
        "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "nginx",
            "ports": [{"containerPort": 80, "name": "http"}]}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
    });
    merge(&mut pod, extra);
    pod
}

fn merge(into: &mut Value, extra: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, extra) {
        for (k, v) in b {
            match a.get_mut(&k) {
                Some(existing @ Value::Object(_)) if v.is_object() => merge(existing, v),
                _ => {
                    a.insert(k, v);
                }
            }
        }
    }
}

fn cluster_pages() -> Pages {
    Pages::from([
        (
            "/api/v1/namespaces",
            vec![vec![
                json!({"metadata": {"name": "shop", "labels": {"team": "a"}}}),
                json!({"metadata": {"name": "ingress"}}),
            ]],
        ),
        (
            "/api/v1/nodes",
            vec![vec![
                json!({"metadata": {"name": "node-a", "labels": {"zone": "z1"}},
                "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.5"},
                    {"type": "Hostname", "address": "node-a"}]}}),
            ]],
        ),
        ("/api/v1/serviceaccounts", vec![vec![]]),
        (
            "/api/v1/pods",
            // Two pages: the reader must follow the continue token.
            vec![
                vec![
                    pod("web-1", json!({"app": "web"}), "10.1.0.11", json!({})),
                    pod("web-2", json!({"app": "web"}), "10.1.0.12", json!({})),
                ],
                vec![
                    pod(
                        "agent",
                        json!({"app": "agent"}),
                        "172.18.0.5",
                        json!({"spec": {"hostNetwork": true}}),
                    ),
                    pod(
                        "job-done",
                        json!({"app": "job"}),
                        "10.1.0.99",
                        json!({"status": {"phase": "Succeeded"}}),
                    ),
                ],
            ],
        ),
        (
            "/api/v1/services",
            vec![vec![
                json!({"metadata": {"name": "web", "namespace": "shop"},
                "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.10",
                    "ports": [{"port": 8080, "targetPort": "http", "protocol": "TCP"}]}}),
            ]],
        ),
        (
            "/apis/networking.k8s.io/v1/networkpolicies",
            vec![vec![
                json!({"metadata": {"name": "deny", "namespace": "shop",
                "resourceVersion": "7", "generation": 1},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
            ]],
        ),
    ])
}

fn options(ignore_unsupported: bool) -> UserOptions {
    UserOptions {
        pod_cidr: crate::model::DEFAULT_POD_CIDR.parse().unwrap(),
        ignore_unsupported,
        semantics: Semantics::Generic,
    }
}

fn only_gets(requests: &[(Method, String)]) {
    assert!(!requests.is_empty());
    for (method, uri) in requests {
        assert_eq!(method, Method::GET, "{uri}");
    }
}

#[tokio::test]
async fn a_listed_cluster_gives_the_model_with_real_addresses_nodes_and_policies() {
    let (result, progress, requests) = read_mocked(cluster_pages(), BTreeMap::new()).await;
    let snapshot = result.unwrap();
    only_gets(&requests);
    // Every kind listed once from the start with the page size, the pods twice (pagination).
    let pods: Vec<&String> = requests
        .iter()
        .map(|(_, u)| u)
        .filter(|u| u.starts_with("/api/v1/pods?"))
        .collect();
    assert_eq!(pods.len(), 2, "{pods:?}");
    assert!(pods[0].contains("limit=500") && !pods[0].contains("continue"));
    assert!(pods[1].contains("continue=p1"), "{}", pods[1]);
    // Every kind, the second page of pods, the two Calico storage kinds (Calico's API server
    // is not served here), and one object of each kind the oracle does not evaluate.
    assert_eq!(requests.len(), KINDS.len() + 1 + 2 + UNEVALUATED.len());
    // Progress after each page, counting objects.
    assert_eq!(
        progress.len(),
        requests.len() - snapshot.not_served.len() - 2 - UNEVALUATED.len()
    );
    assert_eq!(*progress.last().unwrap(), 9);
    assert_eq!(snapshot.finished_pods, 1);
    assert!(
        snapshot
            .not_served
            .contains(&"projectcalico.org/v3 Tier".to_string())
    );
    assert!(
        snapshot
            .not_served
            .contains(&"cilium.io/v2 CiliumNetworkPolicy".to_string())
    );
    assert_eq!(snapshot.not_served.len(), 10, "{:?}", snapshot.not_served);
    let note = snapshot.note("prod").unwrap();
    assert!(note.contains("1 finished pod(s)"), "{note}");

    let (analysis, notes) = Analysis::for_user(snapshot.documents, &options(false)).unwrap();
    let cluster = &analysis.cluster;
    let keys: Vec<String> = cluster.endpoints.iter().map(|e| e.key()).collect();
    assert_eq!(keys, ["shop/agent", "shop/web-1", "shop/web-2"]);
    let web1 = cluster.get(cluster.endpoint("shop/web-1").unwrap());
    assert_eq!(web1.ip().to_string(), "10.1.0.11");
    assert_eq!(web1.ports[0].name.as_deref(), Some("http"));
    let agent = cluster.get(cluster.endpoint("shop/agent").unwrap());
    assert!(agent.host_network);
    assert_eq!(agent.ip().to_string(), "172.18.0.5");
    assert_eq!(cluster.nodes.len(), 1);
    assert_eq!(cluster.nodes[0].labels["zone"], "z1");
    assert_eq!(
        cluster.nodes[0].addresses,
        ["172.18.0.5".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(cluster.namespaces["shop"].labels["team"], "a");
    assert!(cluster.namespaces.contains_key("ingress"));
    assert_eq!(cluster.services.len(), 1);
    assert_eq!(analysis.policies.policies.len(), 1);
    assert_eq!(
        analysis.policies.policies[0].id.to_string(),
        "NetworkPolicy shop/deny"
    );
    // Real addresses: nothing is assumed.
    assert!(notes.assumed.is_empty());
    // And the oracle answers on it: the deny-all blocks web-1 → web-2.
    let oracle = analysis.oracle();
    let probe = "80/TCP".parse().unwrap();
    let (w1, w2) = (EndpointId(1), EndpointId(2));
    assert!(!oracle.allowed(&crate::oracle::Oracle::packet(w1, w2, probe)));
}

#[tokio::test]
async fn a_cluster_policy_that_selects_nothing_is_named_without_the_files_only_namespace_hint() {
    let mut pages = cluster_pages();
    pages.insert(
        "/apis/networking.k8s.io/v1/networkpolicies",
        vec![vec![
            json!({"metadata": {"name": "stale", "namespace": "shop"},
            "spec": {"podSelector": {"matchLabels": {"app": "gone"}}, "policyTypes": ["Ingress"]}}),
        ]],
    );
    let (result, _, _) = read_mocked(pages, BTreeMap::new()).await;
    let (analysis, notes) = Analysis::for_user(result.unwrap().documents, &options(false)).unwrap();
    let warnings = notes.warnings(&analysis).join("\n");
    // Said, but without suggesting -n: an object read from a cluster always has its namespace,
    // and -n places only file documents that name none.
    assert!(
        warnings.contains("NetworkPolicy shop/stale") && warnings.contains("selects no endpoint"),
        "{warnings}"
    );
    assert!(!warnings.contains("--namespace"), "{warnings}");
    assert!(notes.namespace_unwritten.is_empty());
}

#[tokio::test]
async fn vendor_policy_kinds_on_the_cluster_are_refused_as_in_files() {
    let mut pages = cluster_pages();
    pages.insert(
        "/apis/cilium.io/v2/ciliumnetworkpolicies",
        vec![vec![
            json!({"metadata": {"name": "deny-all", "namespace": "shop"},
            "spec": {"endpointSelector": {}, "ingress": [{}]}}),
        ]],
    );
    let (result, _, requests) = read_mocked(pages, BTreeMap::new()).await;
    only_gets(&requests);
    let snapshot = result.unwrap();
    let err = Analysis::for_user(snapshot.documents.clone(), &options(false)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("cilium.io/v2 CiliumNetworkPolicy")
            && message.contains("--ignore-unsupported")
            && message.contains("context prod, cilium.io/v2 CiliumNetworkPolicy shop/deny-all"),
        "{message}"
    );
    let (_, notes) = Analysis::for_user(snapshot.documents, &options(true)).unwrap();
    assert_eq!(
        notes.ignored_policies.keys().collect::<Vec<_>>(),
        ["cilium.io/v2 CiliumNetworkPolicy"]
    );
    assert!(notes.banner().unwrap().contains("IGNORES"));
}

#[tokio::test]
async fn a_hostile_name_from_the_server_is_refused_and_never_printed_raw() {
    let mut pages = cluster_pages();
    pages.insert(
        "/api/v1/pods",
        vec![vec![pod(
            "web\u{1b}]0;pwned\u{7}\n::error::x",
            json!({"app": "web"}),
            "10.1.0.11",
            json!({}),
        )]],
    );
    let (result, _, requests) = read_mocked(pages, BTreeMap::new()).await;
    only_gets(&requests);
    let err = result.unwrap_err();
    assert!(matches!(err, LiveError::Object(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("metadata.name"), "{message}");
    assert!(
        !message.contains('\u{1b}') && !message.contains('\u{7}') && !message.contains('\n'),
        "{message:?}"
    );
    assert!(message.contains("\\u{1b}"), "{message}");
    // Reading stopped at the refused object: no policy kind was listed after it.
    assert!(!requests.iter().any(|(_, u)| u.contains("networkpolicies")));
}

#[tokio::test]
async fn a_refused_list_names_the_kind_and_a_server_that_never_ends_is_cut_off() {
    let (result, _, requests) = read_mocked(
        cluster_pages(),
        BTreeMap::from([("/apis/networking.k8s.io/v1/networkpolicies", 403)]),
    )
    .await;
    only_gets(&requests);
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("context prod: cannot list networking.k8s.io/v1 NetworkPolicy"),
        "{message}"
    );

    // A server that always has a next page.
    let endless: Vec<Vec<Value>> = vec![vec![]; MAX_PAGES + 5];
    let mut pages = cluster_pages();
    pages.insert("/api/v1/services", endless);
    let (result, _, requests) = read_mocked(pages, BTreeMap::new()).await;
    only_gets(&requests);
    let err = result.unwrap_err();
    assert!(matches!(err, LiveError::TooManyPages { .. }), "{err:?}");
    assert_eq!(requests.len(), MAX_PAGES);
}

#[tokio::test]
async fn calico_policies_without_the_calico_api_server_are_an_error() {
    let mut pages = cluster_pages();
    pages.insert(
        "/apis/crd.projectcalico.org/v1/globalnetworkpolicies",
        vec![vec![json!({"metadata": {"name": "default.deny-all"},
            "spec": {"selector": "all()", "types": ["Ingress"]}})]],
    );
    let (result, _, requests) = read_mocked(pages, BTreeMap::new()).await;
    only_gets(&requests);
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("crd.projectcalico.org/v1 GlobalNetworkPolicy")
            && message.contains("does not serve projectcalico.org/v3"),
        "{message}"
    );
    // Asked for one object, not read in full.
    assert!(requests.iter().any(|(_, u)| {
        u.starts_with("/apis/crd.projectcalico.org/v1/globalnetworkpolicies?")
            && u.contains("limit=1")
    }));
}

#[tokio::test]
async fn kinds_the_oracle_does_not_evaluate_are_said_out_loud() {
    let mut pages = cluster_pages();
    pages.insert(
        "/apis/projectcalico.org/v3/globalnetworksets",
        vec![vec![
            json!({"metadata": {"name": "threat-feed", "labels": {"feed": "bad"}},
            "spec": {"nets": ["198.51.100.0/24"]}}),
        ]],
    );
    pages.insert(
        "/apis/networking.k8s.io/v1/ingresses",
        vec![vec![
            json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": {}}),
        ]],
    );
    pages.insert("/apis/projectcalico.org/v3/hostendpoints", vec![vec![]]);
    let (result, _, requests) = read_mocked(pages, BTreeMap::new()).await;
    only_gets(&requests);
    let snapshot = result.unwrap();
    assert_eq!(
        snapshot.unevaluated,
        [
            "projectcalico.org/v3 GlobalNetworkSet",
            "networking.k8s.io/v1 Ingress"
        ]
    );
    let note = snapshot.note("prod").unwrap();
    assert!(
        note.contains("not evaluated")
            && note.contains("GlobalNetworkSet")
            && note.contains("Ingress")
            && !note.contains("HostEndpoint"),
        "{note}"
    );
    // One object asked for per kind, not read in full.
    assert!(requests.iter().any(|(_, u)| {
        u.starts_with("/apis/projectcalico.org/v3/globalnetworksets?") && u.contains("limit=1")
    }));
}
