//! The kube layer against a mocked API server (tower-test): the exact requests it sends and the
//! errors users see.

use std::collections::BTreeMap;
use std::path::PathBuf;

use http::{Method, Request, Response};
use http_body_util::BodyExt;
use kube::client::Body;
use tower_test::mock::{self, Handle, SendResponse};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status as ExecStatus;
use kube::config::Kubeconfig;
use serde_json::{Value, json};

use super::conditions::is_deployment_rolled_out;
use super::*;
use crate::cluster::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROBE_CONTAINER, RUN_LABEL};
use crate::manifest::{Document, Source};
use crate::model::WorkloadKind;

type MockHandle = Handle<Request<Body>, Response<Body>>;
type Responder = SendResponse<Response<Body>>;

fn cluster() -> (KubeCluster, MockHandle) {
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, "default");
    (
        KubeCluster::with_client(client, "kind-test", "run-1"),
        handle,
    )
}

/// The next request, which must have this method and path (query not included).
async fn expect(handle: &mut MockHandle, method: Method, path: &str) -> (Request<Body>, Responder) {
    let (req, send) = tokio::time::timeout(Duration::from_secs(3600), handle.next_request())
        .await
        .expect("a request in time")
        .expect("the client is still there");
    assert_eq!(req.method(), method, "method of {}", req.uri());
    assert_eq!(req.uri().path(), path);
    (req, send)
}

fn respond(send: Responder, status: u16, body: Value) {
    send.send_response(
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap(),
    );
}

fn query(req: &Request<Body>) -> BTreeMap<String, String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.replace("%3D", "=").replace("%2C", ","))
        })
        .collect()
}

fn content_type(req: &Request<Body>) -> String {
    req.headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn body_json(req: Request<Body>) -> Value {
    let bytes = req.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": format!("simulated {reason}"), "reason": reason, "code": code})
}

fn networking_resources() -> Value {
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "networking.k8s.io/v1",
        "resources": [{"name": "networkpolicies", "singularName": "networkpolicy", "namespaced": true,
            "kind": "NetworkPolicy", "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}]})
}

fn owned_labels() -> Value {
    json!({MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_LABEL: "run-0"})
}

fn namespace(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "uid": "u1", "labels": labels}})
}

fn policy_doc(namespace: &str) -> Document {
    Document {
        source: Source {
            file: PathBuf::from("deny.yaml"),
            document: 1,
            line: 1,
        },
        value: json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "deny", "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
    }
}

fn policy_object(labels: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "namespace": "default", "labels": labels},
        "spec": {"podSelector": {}}})
}

/// After the client is dropped, the server must have seen no further request.
async fn assert_no_more_requests(mut handle: MockHandle) {
    assert!(
        handle.next_request().await.is_none(),
        "an unexpected extra request"
    );
}

#[tokio::test]
async fn apply_is_a_forced_server_side_apply_with_ownership_labels() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, "/apis/networking.k8s.io/v1").await;
        respond(send, 200, networking_resources());
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x").await;
        respond(send, 200, namespace("x", owned_labels()));
        // In an owned namespace there is no ownership read: straight to the apply patch.
        let (req, send) = expect(
            &mut handle,
            Method::PATCH,
            "/apis/networking.k8s.io/v1/namespaces/x/networkpolicies/deny",
        )
        .await;
        let q = query(&req);
        assert_eq!(
            q.get("fieldManager").map(String::as_str),
            Some("netpol-harness")
        );
        assert_eq!(q.get("force").map(String::as_str), Some("true"));
        assert_eq!(content_type(&req), "application/apply-patch+yaml");
        let body = body_json(req).await;
        assert_eq!(
            body["metadata"]["labels"][MANAGED_BY_LABEL],
            MANAGED_BY_VALUE
        );
        assert_eq!(body["metadata"]["labels"][RUN_LABEL], "run-1");
        assert_eq!(body["metadata"]["namespace"], "x");
        assert_eq!(body["spec"]["policyTypes"], json!(["Ingress"]));
        respond(send, 200, body);
        handle
    });
    cluster.apply(&[policy_doc("x")]).await.unwrap();
    let handle = server.await.unwrap();
    drop(cluster);
    assert_no_more_requests(handle).await;
}

#[tokio::test]
async fn apply_refuses_to_take_over_an_unowned_object_in_a_shared_namespace() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, "/apis/networking.k8s.io/v1").await;
        respond(send, 200, networking_resources());
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/default").await;
        respond(send, 200, namespace("default", json!({})));
        let (_, send) = expect(
            &mut handle,
            Method::GET,
            "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/deny",
        )
        .await;
        respond(send, 200, policy_object(json!({"team": "theirs"})));
        handle
    });
    let err = cluster.apply(&[policy_doc("default")]).await.unwrap_err();
    assert!(
        matches!(&err, ClusterError::UnownedObject { kind, name }
            if kind == "NetworkPolicy" && name == "default/deny"),
        "{err:?}"
    );
    assert!(err.to_string().contains("refusing to change it"), "{err}");
    let handle = server.await.unwrap();
    drop(cluster);
    assert_no_more_requests(handle).await;
}

#[tokio::test]
async fn apply_falls_back_to_create_when_the_server_refuses_apply_patches() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, "/apis/networking.k8s.io/v1").await;
        respond(send, 200, networking_resources());
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x").await;
        respond(send, 200, namespace("x", owned_labels()));
        let path = "/apis/networking.k8s.io/v1/namespaces/x/networkpolicies/deny";
        let (_, send) = expect(&mut handle, Method::PATCH, path).await;
        respond(send, 415, status(415, "UnsupportedMediaType"));
        let (_, send) = expect(&mut handle, Method::GET, path).await;
        respond(send, 404, status(404, "NotFound"));
        let (req, send) = expect(
            &mut handle,
            Method::POST,
            "/apis/networking.k8s.io/v1/namespaces/x/networkpolicies",
        )
        .await;
        assert_eq!(
            query(&req).get("fieldManager").map(String::as_str),
            Some("netpol-harness")
        );
        let body = body_json(req).await;
        assert_eq!(body["metadata"]["labels"][RUN_LABEL], "run-1");
        respond(send, 201, body);
    });
    cluster.apply(&[policy_doc("x")]).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn client_errors_are_not_retried_and_carry_the_server_message() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, "/apis/networking.k8s.io/v1").await;
        respond(send, 200, networking_resources());
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x").await;
        respond(send, 200, namespace("x", owned_labels()));
        let (_, send) = expect(
            &mut handle,
            Method::PATCH,
            "/apis/networking.k8s.io/v1/namespaces/x/networkpolicies/deny",
        )
        .await;
        respond(send, 422, status(422, "Invalid"));
        handle
    });
    let err = cluster.apply(&[policy_doc("x")]).await.unwrap_err();
    assert!(
        matches!(&err, ClusterError::Api { action, source: kube::Error::Api(status) }
            if action == "apply NetworkPolicy x/deny"
                && status.code == 422
                && status.message == "simulated Invalid"),
        "{err:?}"
    );
    // The server's message, not kube-rs's dump of the whole Status.
    assert_eq!(
        err.to_string(),
        "apply NetworkPolicy x/deny: simulated Invalid"
    );
    let handle = server.await.unwrap();
    drop(cluster);
    assert_no_more_requests(handle).await;
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_then_labels_are_merge_patched() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x").await;
        respond(send, 503, status(503, "ServiceUnavailable"));
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x").await;
        respond(send, 429, status(429, "TooManyRequests"));
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x").await;
        respond(send, 200, namespace("x", owned_labels()));
        let (req, send) = expect(&mut handle, Method::PATCH, "/api/v1/namespaces/x").await;
        assert_eq!(content_type(&req), "application/merge-patch+json");
        let body = body_json(req).await;
        assert_eq!(
            body,
            json!({"metadata": {"labels": {"team": "a", "old": null}}})
        );
        respond(send, 200, namespace("x", owned_labels()));
    });
    let set = BTreeMap::from([("team".to_string(), "a".to_string())]);
    let remove = vec!["old".to_string()];
    cluster
        .label_namespace(
            "x",
            LabelChange {
                set: &set,
                remove: &remove,
            },
        )
        .await
        .unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn labelling_a_namespace_the_harness_does_not_own_is_refused() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/default").await;
        respond(
            send,
            200,
            namespace("default", json!({"kubernetes.io/metadata.name": "default"})),
        );
        handle
    });
    let set = BTreeMap::from([("team".to_string(), "a".to_string())]);
    let err = cluster
        .label_namespace(
            "default",
            LabelChange {
                set: &set,
                remove: &[],
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClusterError::UnownedNamespace { .. }),
        "{err:?}"
    );
    let handle = server.await.unwrap();
    drop(cluster);
    assert_no_more_requests(handle).await;
}

#[tokio::test]
async fn delete_removes_only_owned_objects() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, "/apis/networking.k8s.io/v1").await;
        respond(send, 200, networking_resources());
        let path = "/apis/networking.k8s.io/v1/namespaces/x/networkpolicies/deny";
        let (_, send) = expect(&mut handle, Method::GET, path).await;
        respond(send, 200, policy_object(owned_labels()));
        let (req, send) = expect(&mut handle, Method::DELETE, path).await;
        assert_eq!(body_json(req).await["propagationPolicy"], "Background");
        respond(
            send,
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        );
        // Deleting again: the object is gone, nothing is sent but the read.
        let (_, send) = expect(&mut handle, Method::GET, path).await;
        respond(send, 404, status(404, "NotFound"));
    });
    cluster.delete(&[policy_doc("x")]).await.unwrap();
    cluster.delete(&[policy_doc("x")]).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn an_existing_namespace_without_the_ownership_label_is_not_taken_over() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x").await;
        respond(
            send,
            200,
            namespace("x", json!({"kubernetes.io/metadata.name": "x"})),
        );
        handle
    });
    let err = cluster.create_namespace("x").await.unwrap_err();
    assert!(
        matches!(&err, ClusterError::UnownedNamespace { namespace } if namespace == "x"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("was not created by netpol-harness (no label app.kubernetes.io/managed-by=netpol-harness); refusing to take it over"),
        "{err}"
    );
    let handle = server.await.unwrap();
    drop(cluster);
    assert_no_more_requests(handle).await;
}

#[tokio::test]
async fn a_new_namespace_is_created_by_server_side_apply_with_ownership_labels() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x").await;
        respond(send, 404, status(404, "NotFound"));
        let (req, send) = expect(&mut handle, Method::PATCH, "/api/v1/namespaces/x").await;
        assert_eq!(content_type(&req), "application/apply-patch+yaml");
        assert_eq!(query(&req).get("force").map(String::as_str), Some("true"));
        let body = body_json(req).await;
        assert_eq!(
            body["metadata"]["labels"][MANAGED_BY_LABEL],
            MANAGED_BY_VALUE
        );
        assert_eq!(body["metadata"]["labels"][RUN_LABEL], "run-1");
        respond(send, 200, body);
    });
    cluster.create_namespace("x").await.unwrap();
    server.await.unwrap();
}

fn pending_pod() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "a", "namespace": "x", "resourceVersion": "7", "labels": owned_labels()},
        "spec": {"containers": [{"name": "srv", "image": "registry.k8s.io/e2e-test-images/agnhost:9.99"}]},
        "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [{"name": "srv", "image": "registry.k8s.io/e2e-test-images/agnhost:9.99",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff",
                    "message": "Back-off pulling image"}}}]}})
}

#[tokio::test(start_paused = true)]
async fn a_pod_that_never_becomes_ready_reports_the_image_it_cannot_pull() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        // await_condition: a list (fieldSelector on the name), then a watch that never answers.
        let (req, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x/pods").await;
        assert_eq!(
            query(&req).get("fieldSelector").map(String::as_str),
            Some("metadata.name=a")
        );
        respond(
            send,
            200,
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}, "items": [pending_pod()]}),
        );
        let (req, _held) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x/pods").await;
        assert_eq!(query(&req).get("watch").map(String::as_str), Some("true"));
        // After the timeout: the pod is read to say why.
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x/pods/a").await;
        respond(send, 200, pending_pod());
    });
    let endpoint = EndpointRef {
        namespace: "x".into(),
        name: "a".into(),
        kind: WorkloadKind::Pod,
        labels: Default::default(),
    };
    let err = cluster
        .wait_ready(&endpoint, Duration::from_secs(120))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Pod x/a not ready after 120s: pod x/a: container srv: ImagePullBackOff: cannot pull image \"registry.k8s.io/e2e-test-images/agnhost:9.99\": Back-off pulling image"
    );
    server.await.unwrap();
}

fn ready_pod(name: &str, ready: bool, ip: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "x", "labels": {"app": "a"},
            "annotations": {"netpol-harness/probe-tool": "busybox"}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
}

#[tokio::test]
async fn ready_pods_of_a_deployment_are_found_through_its_selector() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (_, send) = expect(
            &mut handle,
            Method::GET,
            "/apis/apps/v1/namespaces/x/deployments/a",
        )
        .await;
        respond(
            send,
            200,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a", "namespace": "x"},
                "spec": {"selector": {"matchLabels": {"app": "a"}},
                    "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": []}}}}),
        );
        let (req, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x/pods").await;
        assert_eq!(
            query(&req).get("labelSelector").map(String::as_str),
            Some("app=a")
        );
        respond(
            send,
            200,
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {},
                "items": [ready_pod("a-2", true, "10.244.0.9"), ready_pod("a-1", false, "10.244.0.8")]}),
        );
    });
    let endpoint = EndpointRef {
        namespace: "x".into(),
        name: "a".into(),
        kind: WorkloadKind::Deployment,
        labels: Default::default(),
    };
    let pods = cluster.ready_pods(&endpoint).await.unwrap();
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].pod.name, "a-2");
    assert_eq!(
        pods[0].ips,
        vec!["10.244.0.9".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(pods[0].containers[0].image, "busybox:1.36");
    assert_eq!(
        pods[0]
            .annotations
            .get(crate::cluster::PROBE_TOOL_ANNOTATION)
            .map(String::as_str),
        Some("busybox")
    );
    server.await.unwrap();
}

#[tokio::test]
async fn the_probe_container_is_added_by_strategic_merge_and_waited_for() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x/pods/a").await;
        let mut pod = ready_pod("a", true, "10.244.0.9");
        pod["metadata"]["labels"] = owned_labels();
        respond(send, 200, pod.clone());
        let (req, send) = expect(
            &mut handle,
            Method::PATCH,
            "/api/v1/namespaces/x/pods/a/ephemeralcontainers",
        )
        .await;
        assert_eq!(content_type(&req), "application/strategic-merge-patch+json");
        let body = body_json(req).await;
        assert_eq!(
            body,
            probe_container_patch(crate::cluster::DEFAULT_PROBE_IMAGE)
        );
        assert_eq!(
            body["spec"]["ephemeralContainers"][0]["name"],
            PROBE_CONTAINER
        );
        respond(send, 200, pod.clone());
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x/pods").await;
        pod["metadata"]["resourceVersion"] = json!("9");
        pod["status"]["ephemeralContainerStatuses"] = json!([{"name": PROBE_CONTAINER,
            "image": "agnhost", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]);
        respond(
            send,
            200,
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}, "items": [pod]}),
        );
    });
    let pod = PodRef {
        namespace: "x".into(),
        name: "a".into(),
    };
    cluster
        .add_probe_container(
            &pod,
            crate::cluster::DEFAULT_PROBE_IMAGE,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    server.await.unwrap();
}

fn kubeconfig(current: &str) -> Kubeconfig {
    Kubeconfig::from_yaml(&format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: {current}\n\
         clusters:\n- name: c\n  cluster: {{server: 'https://127.0.0.1:6443'}}\n\
         users:\n- name: u\n  user: {{token: t}}\n\
         contexts:\n- name: kind-dev\n  context: {{cluster: c, user: u}}\n- name: prod\n  context: {{cluster: c, user: u}}\n"
    ))
    .unwrap()
}

fn options(context: Option<&str>, allow: bool) -> ConnectOptions {
    ConnectOptions {
        context: context.map(String::from),
        allow_non_kind_context: allow,
        run_id: "r".into(),
    }
}

#[tokio::test]
async fn non_kind_contexts_are_refused_unless_named_and_allowed() {
    let refused = KubeCluster::from_kubeconfig(kubeconfig("prod"), &options(None, false))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&refused, ClusterError::NonKindContext { context } if context == "prod"),
        "{refused:?}"
    );
    assert!(
        refused
            .to_string()
            .contains("name it with --context prod and pass --allow-non-kind-context"),
        "{refused}"
    );
    // The flag alone is not enough: the current context could be anything.
    assert!(select_context(&kubeconfig("prod"), &options(None, true)).is_err());
    assert!(select_context(&kubeconfig("kind-dev"), &options(Some("prod"), false)).is_err());
    assert_eq!(
        select_context(&kubeconfig("kind-dev"), &options(Some("prod"), true)).unwrap(),
        "prod"
    );
    assert_eq!(
        select_context(&kubeconfig("prod"), &options(Some("kind-dev"), false)).unwrap(),
        "kind-dev"
    );
    let unknown =
        select_context(&kubeconfig("prod"), &options(Some("kind-gone"), false)).unwrap_err();
    assert!(
        matches!(&unknown, ClusterError::UnknownContext { context, available }
            if context == "kind-gone" && available == "kind-dev, prod"),
        "{unknown:?}"
    );
    let kind = KubeCluster::from_kubeconfig(kubeconfig("kind-dev"), &options(None, false))
        .await
        .unwrap();
    assert_eq!(kind.context(), "kind-dev");
}

#[test]
fn exit_codes_come_from_the_exec_status() {
    let success: ExecStatus = serde_json::from_value(json!({"status": "Success"})).unwrap();
    assert_eq!(exit_code(Some(&success)), Ok(0));
    let failure: ExecStatus = serde_json::from_value(json!({"status": "Failure",
        "reason": "NonZeroExitCode", "message": "command terminated with non-zero exit code",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}))
    .unwrap();
    assert_eq!(exit_code(Some(&failure)), Ok(3));
    let no_shell: ExecStatus =
        serde_json::from_value(json!({"status": "Failure", "reason": "InternalError",
        "message": "OCI runtime exec failed: exec: \"sh\": executable file not found in $PATH"}))
        .unwrap();
    assert!(
        exit_code(Some(&no_shell))
            .unwrap_err()
            .to_string()
            .contains("executable file not found")
    );
    assert_eq!(exit_code(None), Err(ExecStatusError::NoStatus));
}

#[test]
fn only_throttling_server_and_transport_errors_are_transient() {
    let api = |code: u16| {
        kube::Error::Api(Box::new(
            kube::core::Status::failure("m", "r").with_code(code),
        ))
    };
    for code in [429, 500, 502, 503, 504] {
        assert!(is_transient(&api(code)), "{code}");
    }
    for code in [400, 401, 403, 404, 409, 415, 422] {
        assert!(!is_transient(&api(code)), "{code}");
    }
}

#[test]
fn rollout_conditions_need_every_replica_updated_and_ready() {
    let deployment = |status: Value| -> Deployment {
        serde_json::from_value(json!({"metadata": {"name": "a", "generation": 2},
            "spec": {"replicas": 2, "selector": {}, "template": {}}, "status": status}))
        .unwrap()
    };
    let done = deployment(
        json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
        "readyReplicas": 2, "availableReplicas": 2}),
    );
    assert!(is_deployment_rolled_out(Some(&done)));
    let old_pods_left = deployment(json!({"observedGeneration": 2, "replicas": 3,
        "updatedReplicas": 2, "readyReplicas": 3, "availableReplicas": 2}));
    assert!(!is_deployment_rolled_out(Some(&old_pods_left)));
    let stale = deployment(
        json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
        "readyReplicas": 2, "availableReplicas": 2}),
    );
    assert!(!is_deployment_rolled_out(Some(&stale)));
    assert!(!is_deployment_rolled_out(None));
}

#[tokio::test]
async fn a_namespace_left_by_an_earlier_run_is_deleted_and_created_afresh() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x").await;
        respond(send, 200, namespace("x", owned_labels()));
        let (_, send) = expect(&mut handle, Method::DELETE, "/api/v1/namespaces/x").await;
        respond(send, 200, namespace("x", owned_labels()));
        // Waiting for it to be gone: the list no longer has it.
        let (req, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces").await;
        assert_eq!(
            query(&req).get("fieldSelector").map(String::as_str),
            Some("metadata.name=x")
        );
        respond(
            send,
            200,
            json!({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}, "items": []}),
        );
        let (req, send) = expect(&mut handle, Method::PATCH, "/api/v1/namespaces/x").await;
        let body = body_json(req).await;
        assert_eq!(body["metadata"]["labels"][RUN_LABEL], "run-1");
        respond(send, 200, body);
    });
    cluster.create_namespace("x").await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn a_namespace_of_this_run_is_reused() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x").await;
        respond(
            send,
            200,
            namespace(
                "x",
                json!({MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_LABEL: "run-1"}),
            ),
        );
        let (_, send) = expect(&mut handle, Method::PATCH, "/api/v1/namespaces/x").await;
        respond(send, 200, namespace("x", owned_labels()));
    });
    cluster.create_namespace("x").await.unwrap();
    server.await.unwrap();
}

fn declared_envoy() -> EndpointRef {
    EndpointRef {
        namespace: "x".into(),
        name: "envoy".into(),
        kind: WorkloadKind::Declared,
        labels: [("app".to_string(), "envoy".to_string())].into(),
    }
}

fn pod_list(items: Vec<Value>) -> Value {
    json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})
}

/// `waitRollout` of an endpoint a remote manifest provides (Contour's envoy): its pods are found
/// by the declared labels and waited for until every one is Ready.
#[tokio::test(start_paused = true)]
async fn a_declared_endpoint_is_waited_for_through_its_labels() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        for items in [
            vec![],
            vec![
                ready_pod("envoy-1", true, "10.244.0.8"),
                ready_pod("envoy-2", false, "10.244.0.9"),
            ],
            vec![
                ready_pod("envoy-1", true, "10.244.0.8"),
                ready_pod("envoy-2", true, "10.244.0.9"),
            ],
        ] {
            let (req, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces/x/pods").await;
            assert_eq!(
                query(&req).get("labelSelector").map(String::as_str),
                Some("app=envoy")
            );
            respond(send, 200, pod_list(items));
        }
        handle
    });
    cluster
        .wait_ready(&declared_envoy(), Duration::from_secs(60))
        .await
        .unwrap();
    let handle = server.await.unwrap();
    drop(cluster);
    assert_no_more_requests(handle).await;
}

#[tokio::test(start_paused = true)]
async fn a_declared_endpoint_without_pods_times_out_naming_its_labels() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            assert_eq!(req.uri().path(), "/api/v1/namespaces/x/pods");
            respond(send, 200, pod_list(vec![]));
        }
    });
    let err = cluster
        .wait_ready(&declared_envoy(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Declared x/envoy not ready after 5s: no pod in x is labelled app=envoy"
    );
    drop(cluster);
    server.await.unwrap();
}

fn calico_resources() -> Value {
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "projectcalico.org/v3",
        "resources": [{"name": "globalnetworkpolicies", "singularName": "globalnetworkpolicy",
            "namespaced": false, "kind": "GlobalNetworkPolicy",
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}]})
}

fn global_policy_doc() -> Document {
    Document {
        source: Source {
            file: PathBuf::from("default-deny.yaml"),
            document: 1,
            line: 1,
        },
        value: json!({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
            "metadata": {"name": "default-deny"},
            "spec": {"selector": "all()", "types": ["Ingress", "Egress"]}}),
    }
}

/// The Calico API server's answers to an apply patch creating a GlobalNetworkPolicy: NotFound
/// (3.32.0, projectcalico/calico#12841) and a 500 without the apply codec (calico#4959). Both
/// fall back to create at once (no retries of the 500), at the cluster scope.
#[tokio::test]
async fn calico_refusals_of_server_side_apply_fall_back_to_create() {
    for refusal in [
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
            "reason": "NotFound",
            "message": "globalnetworkpolicies.projectcalico.org \"default-deny\" not found",
            "details": {"name": "default-deny", "group": "projectcalico.org", "kind": "globalnetworkpolicies"}}),
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500,
            "reason": "InternalError", "message": "no serializer defined for application/yaml"}),
    ] {
        let (cluster, mut handle) = cluster();
        let server = tokio::spawn(async move {
            let (_, send) = expect(&mut handle, Method::GET, "/apis/projectcalico.org/v3").await;
            respond(send, 200, calico_resources());
            let path = "/apis/projectcalico.org/v3/globalnetworkpolicies/default-deny";
            // Cluster-scoped: the ownership check reads the object first.
            let (_, send) = expect(&mut handle, Method::GET, path).await;
            respond(send, 404, status(404, "NotFound"));
            let (req, send) = expect(&mut handle, Method::PATCH, path).await;
            assert_eq!(content_type(&req), "application/apply-patch+yaml");
            let code = refusal["code"].as_u64().unwrap() as u16;
            respond(send, code, refusal);
            let (_, send) = expect(&mut handle, Method::GET, path).await;
            respond(send, 404, status(404, "NotFound"));
            let (req, send) = expect(
                &mut handle,
                Method::POST,
                "/apis/projectcalico.org/v3/globalnetworkpolicies",
            )
            .await;
            let body = body_json(req).await;
            assert_eq!(body["apiVersion"], "projectcalico.org/v3");
            assert_eq!(body["kind"], "GlobalNetworkPolicy");
            assert!(body["metadata"].get("namespace").is_none(), "{body}");
            assert_eq!(body["metadata"]["labels"][RUN_LABEL], "run-1");
            respond(send, 201, body);
            handle
        });
        cluster.apply(&[global_policy_doc()]).await.unwrap();
        let handle = server.await.unwrap();
        drop(cluster);
        assert_no_more_requests(handle).await;
    }
}

#[test]
fn only_refusals_of_apply_itself_fall_back_to_create() {
    let api = |code: u16, message: &str, details: Option<(&str, &str)>| {
        let mut s = kube::core::Status::failure(message, "x");
        s.code = code;
        s.details = details.map(|(kind, name)| {
            serde_json::from_value(json!({"name": name, "kind": kind})).unwrap()
        });
        kube::Error::Api(Box::new(s))
    };
    assert!(apply_unsupported(&api(415, "unsupported", None)));
    assert!(apply_unsupported(&api(
        404,
        "not found",
        Some(("globalnetworkpolicies", "default-deny"))
    )));
    // Applying into a namespace that does not exist: create would fail the same way.
    assert!(!apply_unsupported(&api(
        404,
        "namespaces \"x\" not found",
        Some(("namespaces", "x"))
    )));
    assert!(apply_unsupported(&api(
        500,
        "no serializer defined for application/yaml",
        None
    )));
    assert!(!apply_unsupported(&api(
        500,
        "etcdserver: leader changed",
        None
    )));
    assert!(!apply_unsupported(&api(422, "invalid", None)));
    assert!(!apply_unsupported(&api(409, "conflict", None)));
}

/// A Namespace document whose namespace is still terminating (deleted by an earlier cleanup) is
/// waited for until it is gone, then created: objects cannot be created in it meanwhile.
#[tokio::test(start_paused = true)]
async fn a_namespace_document_still_terminating_is_waited_for_before_it_is_applied() {
    let (cluster, mut handle) = cluster();
    let doc = Document {
        source: Source {
            file: PathBuf::from("contour.yaml"),
            document: 1,
            line: 1,
        },
        value: json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "projectcontour"}}),
    };
    let server = tokio::spawn(async move {
        let path = "/api/v1/namespaces/projectcontour";
        let mut terminating = namespace("projectcontour", owned_labels());
        terminating["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        terminating["metadata"]["resourceVersion"] = json!("5");
        let (_, send) = expect(&mut handle, Method::GET, path).await;
        respond(send, 200, terminating.clone());
        // await_condition(is_deleted): the list shows it gone.
        let (req, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces").await;
        assert_eq!(
            query(&req).get("fieldSelector").map(String::as_str),
            Some("metadata.name=projectcontour")
        );
        respond(
            send,
            200,
            json!({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {"resourceVersion": "6"}, "items": []}),
        );
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1").await;
        respond(
            send,
            200,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
                "resources": [{"name": "namespaces", "singularName": "namespace", "namespaced": false,
                    "kind": "Namespace", "verbs": ["create", "delete", "get", "list", "patch", "watch"]}]}),
        );
        let (_, send) = expect(&mut handle, Method::GET, path).await;
        respond(send, 404, status(404, "NotFound"));
        let (req, send) = expect(&mut handle, Method::PATCH, path).await;
        let body = body_json(req).await;
        assert_eq!(body["metadata"]["labels"][RUN_LABEL], "run-1");
        respond(send, 200, body);
        handle
    });
    cluster.apply(&[doc]).await.unwrap();
    let handle = server.await.unwrap();
    drop(cluster);
    assert_no_more_requests(handle).await;
}

#[test]
fn only_loopback_api_servers_count_as_local() {
    for (url, local) in [
        ("https://127.0.0.1:40123", true),
        ("https://localhost:6443", true),
        ("https://[::1]:6443", true),
        ("https://10.0.0.5:6443", false),
        ("https://kind-netpol.example.com", false),
        ("https://prod.eks.amazonaws.com", false),
    ] {
        let uri: http::Uri = url.parse().unwrap();
        assert_eq!(is_local_server(&uri), local, "{url}");
    }
}

#[tokio::test]
async fn a_remote_api_server_passes_the_guard_only_with_the_marker() {
    let marker_path = "/api/v1/namespaces/kube-system/configmaps/netpol-harness";
    let remote: http::Uri = "https://10.0.0.5:6443".parse().unwrap();

    // Unmarked: refused, naming the server.
    let (kc, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, marker_path).await;
        respond(
            send,
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
        );
        handle
    });
    let err = kc.check_server(&remote).await.unwrap_err();
    assert!(matches!(err, ClusterError::NotLocalKind { .. }), "{err:?}");
    assert!(
        err.to_string().contains("https://10.0.0.5:6443/")
            && err.to_string().contains("--allow-non-kind-context"),
        "{err}"
    );
    drop(kc);
    assert_no_more_requests(server.await.unwrap()).await;

    // Marked by `up`: accepted, and the marker's data is readable.
    let (kc, mut handle) = cluster();
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            let (_, send) = expect(&mut handle, Method::GET, marker_path).await;
            respond(
                send,
                200,
                json!({"kind": "ConfigMap", "apiVersion": "v1",
                    "metadata": {"name": "netpol-harness", "namespace": "kube-system"},
                    "data": {"cni": "calico", "internet": "no"}}),
            );
        }
        handle
    });
    kc.check_server(&remote).await.unwrap();
    let marker = kc.marker().await.unwrap().unwrap();
    assert_eq!(marker.get("cni").map(String::as_str), Some("calico"));
    assert_eq!(marker.get("internet").map(String::as_str), Some("no"));

    // Local: no request at all.
    let local: http::Uri = "https://127.0.0.1:40123".parse().unwrap();
    kc.check_server(&local).await.unwrap();
    drop(kc);
    assert_no_more_requests(server.await.unwrap()).await;
}

#[tokio::test]
async fn connecting_applies_the_server_guard_unless_the_user_named_and_allowed_the_context() {
    let remote: http::Uri = "https://10.0.0.5:6443".parse().unwrap();
    // Checked against an unmarked remote server: the marker is asked for (404) and the target
    // refused.
    let refused = async |context: Option<&str>, allow: bool| {
        let (kc, mut handle) = cluster();
        let server = tokio::spawn(async move {
            let marker = "/api/v1/namespaces/kube-system/configmaps/netpol-harness";
            let (_, send) = expect(&mut handle, Method::GET, marker).await;
            respond(send, 404, status(404, "NotFound"));
            handle
        });
        let result = kc.check_target(&remote, &options(context, allow)).await;
        drop(server.await.unwrap());
        result.unwrap_err()
    };
    // A kind-* current context on a remote, unmarked server.
    let err = refused(None, false).await;
    assert!(matches!(err, ClusterError::NotLocalKind { .. }), "{err:?}");
    // Named but not allowed: still checked.
    refused(Some("kind-x"), false).await;
    // A kind-* context named with the flag: still checked (the flag is for other names).
    refused(Some("kind-x"), true).await;
    // Another name, named and allowed: taken as it is, no request at all.
    let (kc, handle) = cluster();
    kc.check_target(&remote, &options(Some("prod"), true))
        .await
        .unwrap();
    drop(kc);
    assert_no_more_requests(handle).await;
}

#[test]
fn kubeconfig_paths_are_the_ones_kube_rs_reads() {
    let home = tempfile::tempdir().unwrap();
    // KUBECONFIG lists win, empty entries are skipped.
    assert_eq!(
        kubeconfig_paths(Some("/a::/b".into()), Some(home.path().into())),
        vec![std::path::PathBuf::from("/a"), "/b".into()]
    );
    // No list (or an empty one) and no ~/.kube/config: nothing to check.
    assert!(kubeconfig_paths(Some("".into()), Some(home.path().into())).is_empty());
    std::fs::create_dir(home.path().join(".kube")).unwrap();
    std::fs::write(home.path().join(".kube/config"), "").unwrap();
    assert_eq!(
        kubeconfig_paths(None, Some(home.path().into())),
        vec![home.path().join(".kube/config")]
    );
    let err = check_kubeconfig_files(&["/dev/zero".into()]).unwrap_err();
    assert!(
        matches!(err, ClusterError::KubeconfigFile(_))
            && err.to_string().contains("character device"),
        "{err}"
    );
}

fn resource(name: &str, kind: &str, namespaced: bool, verbs: &[&str]) -> Value {
    json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": verbs})
}

fn resource_list(group_version: &str, resources: Vec<Value>) -> Value {
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
        "resources": resources})
}

fn list_of(api_version: &str, kind: &str, items: Vec<Value>) -> Value {
    json!({"kind": format!("{kind}List"), "apiVersion": api_version,
        "metadata": {"resourceVersion": "1"}, "items": items})
}

fn object(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    labels: Value,
) -> Value {
    let mut metadata = json!({"name": name, "uid": format!("u-{name}"), "labels": labels});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({"apiVersion": api_version, "kind": kind, "metadata": metadata})
}

/// The sweep against a mocked API server: it discovers every group (skipping subresources,
/// events, CRDs, and crd.projectcalico.org beside projectcalico.org), lists each resource with
/// the ownership label and a run other than this one, leaves what has an owner or sits in a
/// namespace being swept, then deletes the rest (namespaces last); an object already gone
/// (404) is no error.
#[tokio::test]
async fn a_sweep_lists_by_label_deletes_leftovers_and_never_a_crd() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let rw = ["list", "delete", "get"];
        let (_, send) = expect(&mut handle, Method::GET, "/api/v1").await;
        respond(
            send,
            200,
            resource_list(
                "v1",
                vec![
                    resource("namespaces", "Namespace", false, &rw),
                    resource("configmaps", "ConfigMap", true, &rw),
                    resource("pods/log", "Pod", true, &["get"]),
                    resource("events", "Event", true, &rw),
                    resource("bindings", "Binding", true, &["create"]),
                ],
            ),
        );
        let (_, send) = expect(&mut handle, Method::GET, "/apis").await;
        let group = |name: &str, version: &str| {
            let gv = format!("{name}/{version}");
            json!({"name": name, "versions": [{"groupVersion": gv, "version": version}],
                "preferredVersion": {"groupVersion": gv, "version": version}})
        };
        respond(
            send,
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                group("apiextensions.k8s.io", "v1"),
                group("projectcalico.org", "v3"),
                group("crd.projectcalico.org", "v1"),
            ]}),
        );
        let (_, send) = expect(&mut handle, Method::GET, "/apis/apiextensions.k8s.io/v1").await;
        respond(
            send,
            200,
            resource_list(
                "apiextensions.k8s.io/v1",
                vec![resource(
                    "customresourcedefinitions",
                    "CustomResourceDefinition",
                    false,
                    &rw,
                )],
            ),
        );
        let (_, send) = expect(&mut handle, Method::GET, "/apis/projectcalico.org/v3").await;
        respond(
            send,
            200,
            resource_list(
                "projectcalico.org/v3",
                vec![resource(
                    "globalnetworkpolicies",
                    "GlobalNetworkPolicy",
                    false,
                    &rw,
                )],
            ),
        );
        let old = json!({MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_LABEL: "run-0"});
        let selector = |req: &Request<Body>| {
            query(req)
                .get("labelSelector")
                .map(|s| s.replace("%21", "!").replace("%2F", "/"))
        };
        let wanted = Some(format!(
            "{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{RUN_LABEL}!=run-1"
        ));
        let (req, send) = expect(&mut handle, Method::GET, "/api/v1/namespaces").await;
        assert_eq!(selector(&req), wanted);
        respond(
            send,
            200,
            list_of(
                "v1",
                "Namespace",
                vec![object("v1", "Namespace", None, "old-ns", old.clone())],
            ),
        );
        let (req, send) = expect(&mut handle, Method::GET, "/api/v1/configmaps").await;
        assert_eq!(selector(&req), wanted);
        let mut owned_by_something =
            object("v1", "ConfigMap", Some("default"), "owned", old.clone());
        owned_by_something["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1",
            "kind": "Pod", "name": "p", "uid": "u-p"}]);
        respond(
            send,
            200,
            list_of(
                "v1",
                "ConfigMap",
                vec![
                    object("v1", "ConfigMap", Some("default"), "left", old.clone()),
                    object("v1", "ConfigMap", Some("old-ns"), "inside", old.clone()),
                    owned_by_something,
                ],
            ),
        );
        let (req, send) = expect(
            &mut handle,
            Method::GET,
            "/apis/projectcalico.org/v3/globalnetworkpolicies",
        )
        .await;
        assert_eq!(selector(&req), wanted);
        respond(
            send,
            200,
            list_of(
                "projectcalico.org/v3",
                "GlobalNetworkPolicy",
                vec![object(
                    "projectcalico.org/v3",
                    "GlobalNetworkPolicy",
                    None,
                    "default-deny",
                    old,
                )],
            ),
        );
        let (_, send) = expect(
            &mut handle,
            Method::DELETE,
            "/api/v1/namespaces/default/configmaps/left",
        )
        .await;
        respond(
            send,
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        );
        // Deleted meanwhile by someone else.
        let (_, send) = expect(
            &mut handle,
            Method::DELETE,
            "/apis/projectcalico.org/v3/globalnetworkpolicies/default-deny",
        )
        .await;
        respond(send, 404, status(404, "NotFound"));
        let (_, send) = expect(&mut handle, Method::DELETE, "/api/v1/namespaces/old-ns").await;
        respond(
            send,
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        );
        handle
    });
    let swept = cluster.sweep(Some("run-1"), false).await.unwrap();
    let handle = server.await.unwrap();
    drop(cluster);
    assert_no_more_requests(handle).await;
    let names: Vec<String> = swept.iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        [
            "ConfigMap default/left (v1), run run-0",
            "GlobalNetworkPolicy default-deny (projectcalico.org/v3), run run-0",
            "Namespace old-ns (v1), run run-0",
        ]
    );
}

fn service_object(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "x"}, "spec": spec})
}

#[tokio::test]
async fn a_services_cluster_ips_are_read_one_per_family_in_order() {
    let (cluster, mut handle) = cluster();
    let server = tokio::spawn(async move {
        let ports = json!([{"port": 80, "protocol": "TCP"}]);
        let replies = [
            // Dual-stack, IPv6 first: both addresses, in `ipFamilies` order.
            service_object(
                "dual",
                json!({"clusterIP": "fd00:10:96::7", "clusterIPs": ["fd00:10:96::7", "10.96.0.7"],
                    "ipFamilies": ["IPv6", "IPv4"], "ports": ports}),
            ),
            // An older object without `clusterIPs`: `clusterIP` alone.
            service_object("single", json!({"clusterIP": "10.96.0.8", "ports": ports})),
            service_object(
                "headless",
                json!({"clusterIP": "None", "clusterIPs": ["None"], "ports": ports}),
            ),
        ];
        for reply in replies {
            let name = reply["metadata"]["name"].as_str().unwrap().to_string();
            let path = format!("/api/v1/namespaces/x/services/{name}");
            let (_, send) = expect(&mut handle, Method::GET, &path).await;
            respond(send, 200, reply);
        }
    });
    let ips =
        |s: &[&str]| -> Vec<std::net::IpAddr> { s.iter().map(|a| a.parse().unwrap()).collect() };
    let dual = cluster.service("x", "dual").await.unwrap();
    assert_eq!(dual.cluster_ips, ips(&["fd00:10:96::7", "10.96.0.7"]));
    assert_eq!(dual.ports[0].port, 80);
    let single = cluster.service("x", "single").await.unwrap();
    assert_eq!(single.cluster_ips, ips(&["10.96.0.8"]));
    let headless = cluster.service("x", "headless").await.unwrap();
    assert!(headless.cluster_ips.is_empty());
    server.await.unwrap();
}
