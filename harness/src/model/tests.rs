use std::path::Path;

use super::*;
use crate::manifest::parse_str;

fn cluster(yaml: &str) -> Result<Cluster, String> {
    let docs = parse_str(Path::new("m.yaml"), yaml).map_err(|e| e.to_string())?;
    Cluster::from_documents(&docs, &BuildOptions::default()).map_err(|e| e.to_string())
}

#[test]
fn workloads_become_one_endpoint_each_with_template_labels_and_ports() {
    let c = cluster(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {ignored: "yes"}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: c
        image: nginx
        ports:
        - {containerPort: 80, name: http}
        - {containerPort: 53, name: dns, protocol: UDP}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {job: nightly}}
        spec: {containers: [{name: c, image: busybox}], restartPolicy: Never}
"#,
    )
    .unwrap();
    let web = c.get(c.endpoint("shop/web").unwrap());
    assert_eq!(web.kind, WorkloadKind::Deployment);
    assert_eq!(web.labels, Labels::from([("app".into(), "web".into())]));
    assert_eq!(web.named_port("http", Protocol::Tcp), Some(80));
    assert_eq!(web.named_port("dns", Protocol::Udp), Some(53));
    assert_eq!(web.named_port("dns", Protocol::Tcp), None);
    let nightly = c.get(c.endpoint("default/nightly").unwrap());
    assert_eq!(nightly.kind, WorkloadKind::CronJob);
    assert_eq!(nightly.labels["job"], "nightly");
    // Namespaces implied by objects get the API server's name label.
    assert_eq!(c.namespaces["shop"].labels[NAMESPACE_NAME_LABEL], "shop");
    assert_eq!(
        c.namespaces["default"].labels[NAMESPACE_NAME_LABEL],
        "default"
    );
}

#[test]
fn namespace_objects_keep_their_labels_and_the_api_server_name_label_wins() {
    let c = cluster(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  labels: {team: a, kubernetes.io/metadata.name: wrong}\n",
    )
    .unwrap();
    assert_eq!(c.namespaces["x"].labels["team"], "a");
    assert_eq!(c.namespaces["x"].labels[NAMESPACE_NAME_LABEL], "x");
}

#[test]
fn addresses_come_from_status_or_are_assigned_deterministically() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containers: [{name: c, image: i}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\nstatus: {podIP: 10.244.0.2}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec: {containers: [{name: c, image: i}]}\n";
    let c = cluster(yaml).unwrap();
    let ip = |k: &str| c.get(c.endpoint(k).unwrap()).ip().to_string();
    assert_eq!(ip("default/a"), "10.244.0.2");
    // .1 is skipped (gateway), .2 is taken by a's status.
    assert_eq!(ip("default/b"), "10.244.0.3");
    assert_eq!(ip("default/c"), "10.244.0.4");
}

#[test]
fn another_groups_kind_of_the_same_name_is_not_a_duplicate() {
    // A Knative Service beside the core Service it fronts: two objects, not one declared twice.
    let c = cluster(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n---\napiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: s}\nspec: {}\n",
    )
    .unwrap();
    assert_eq!(c.services.len(), 1);
}

#[rstest::rstest]
#[case::bad_container_port(
    "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: 70000}]}]}\n",
    "spec.containers[0].ports[0].containerPort: 70000 is not a port number"
)]
#[case::bad_protocol(
    "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: 80, protocol: tcp}]}]}\n",
    "spec.containers[0].ports[0].protocol: unknown protocol `tcp`"
)]
#[case::bad_pod_ip(
    "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\nstatus: {podIP: 10.0.0.300}\n",
    "status.podIP: `10.0.0.300` is not an IP address"
)]
#[case::removed_api(
    "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: i}\nspec: {}\n",
    "apiVersion: unsupported: extensions/v1beta1 Ingress: removed in Kubernetes 1.22"
)]
#[case::duplicate_endpoint(
    "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: p}\nspec: {selector: {}, template: {spec: {containers: []}}}\n",
    "document 2 (line 5): metadata.name: endpoint default/p is declared twice"
)]
#[case::duplicate_namespace(
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {team: a}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec: {containers: []}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {team: b}}\n",
    "document 3 (line 9): metadata.name: Namespace x is declared twice (first at m.yaml: document 1 (line 1))"
)]
#[case::duplicate_service(
    "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: default}\nspec: {ports: [{port: 81}]}\n",
    "metadata.name: Service default/s is declared twice"
)]
#[case::wrong_type(
    "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: [a]}\n",
    "metadata.labels"
)]
#[case::missing_name("apiVersion: v1\nkind: Pod\nmetadata: {}\n", "metadata.name: missing")]
#[case::quoted_target_port(
    "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, targetPort: \"8080\"}]}\n",
    "spec.ports[0].targetPort: \"8080\" is a quoted number"
)]
fn bad_workloads_are_refused_with_the_field(#[case] yaml: &str, #[case] want: &str) {
    let err = cluster(yaml).unwrap_err();
    assert!(err.starts_with("m.yaml: document"), "{err}");
    assert!(err.contains(want), "{err}\nshould contain\n{want}");
}

#[test]
fn services_and_ingress_routes_are_modelled() {
    let c = cluster(
        r#"
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: team-a}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: echo, namespace: team-a}
spec:
  rules:
  - http:
      paths:
      - {path: /echo, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-1, namespace: team-a, labels: {app: echo}}
spec: {containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: team-a, labels: {app: other}}
spec: {containers: [{name: c, image: i}]}
"#,
    )
    .unwrap();
    let svc = c.service("team-a", "echo").unwrap();
    assert_eq!(svc.ports[0].target, PortRef::Number(8080));
    let backends: Vec<String> = c
        .service_backends(svc)
        .into_iter()
        .map(|id| c.get(id).key())
        .collect();
    assert_eq!(backends, ["team-a/echo-1"]);
    assert_eq!(c.ingress_routes.len(), 1);
    assert_eq!(c.ingress_routes[0].path, "/echo");
    assert_eq!(c.ingress_routes[0].port, PortRef::Number(80));
}

#[test]
fn deprecated_service_account_field_names_the_service_account() {
    let docs = crate::manifest::parse_str(
        std::path::Path::new("t.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\nspec: {serviceAccount: legacy, containers: [{name: c, image: i}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x}\nspec: {serviceAccountName: '', containers: [{name: c, image: i}]}\n",
    )
    .unwrap();
    let cluster = Cluster::from_documents(&docs, &BuildOptions::default()).unwrap();
    let sa = |k: &str| {
        cluster
            .get(cluster.endpoint(k).unwrap())
            .service_account
            .clone()
    };
    assert_eq!(sa("x/a"), "legacy");
    assert_eq!(sa("x/b"), "default");
}

#[test]
fn host_network_pods_get_the_node_address_not_a_pod_address() {
    let c = cluster(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: kube-system}\nspec: {selector: {}, template: {spec: {hostNetwork: true, containers: []}}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n",
    )
    .unwrap();
    let agent = c.get(c.endpoint("kube-system/agent").unwrap());
    assert!(agent.host_network);
    assert_eq!(agent.ip().to_string(), DEFAULT_NODE_ADDRESS);
    // The pod CIDR's first address is still the first ordinary pod's.
    assert_eq!(
        c.get(c.endpoint("default/p").unwrap()).ip().to_string(),
        "10.244.0.2"
    );
}
