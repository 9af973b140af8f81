//! The Contour / echoserver / lorem-ipsum walkthrough
//! (`shared/tutorials/contour-echoserver-lorem-ipsum-calico-default-deny.txt`), step by step,
//! through the oracle: every claim the tutorial makes about what is allowed or blocked, and the
//! places where its text is wrong (errata), asserted against Calico's semantics.
//!
//! Objects are transcribed from the tutorial with spaces instead of its tabs. Left out: the
//! Contour CRD, RBAC and the `extensions/v1beta1` Ingresses (no bearing on policy; that API was
//! removed in Kubernetes 1.22). kube-dns, which the tutorial's cluster has but never shows, is a
//! `k8s-app: kube-dns` Deployment in `kube-system` serving UDP and TCP 53.

use std::path::Path;

use netpol_harness::analysis::Analysis;
use netpol_harness::manifest::parse_str;
use netpol_harness::model::{DEFAULT_POD_CIDR, PortRef};
use netpol_harness::oracle::{Decision, Packet, Peer, ProbePort, Verdict};
use netpol_harness::policy::PolicyKind;

/// `ingress` and `team-a` before step "Enforce Network Policy" labels them.
const NAMESPACES_UNLABELLED: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: ingress}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
";

/// After `kubectl label ns ingress netpol_deny_all=disabled name=ingress` and
/// `kubectl label ns team-a netpol_deny_all=enabled name=team-a`.
const NAMESPACES_LABELLED: &str = "
apiVersion: v1
kind: Namespace
metadata:
  name: ingress
  labels: {name: ingress, netpol_deny_all: disabled}
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels: {name: team-a, netpol_deny_all: enabled}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
";

/// contour.yaml (the DaemonSet, whose pod runs Contour and Envoy), echoserver.yaml,
/// lorem-ipsum.yaml, and the cluster's kube-dns.
const WORKLOADS: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: contour
  namespace: ingress
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  labels:
    app: contour
  name: contour
  namespace: ingress
spec:
  selector:
    matchLabels:
      app: contour
  template:
    metadata:
      labels:
        app: contour
    spec:
      containers:
      - image: gcr.io/heptio-images/contour:master
        name: contour
        command: ["contour"]
      - image: docker.io/envoyproxy/envoy-alpine:v1.9.0
        name: envoy
        ports:
        - containerPort: 8080
          name: http
          hostPort: 8080
        - containerPort: 8443
          name: https
          hostPort: 8443
      serviceAccountName: contour
---
apiVersion: v1
kind: Service
metadata:
  name: echoserver
  namespace: team-a
spec:
  ports:
    - port: 80
      targetPort: 8080
      protocol: TCP
      name: http
  selector:
    app: echoserver
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: echoserver
  namespace: team-a
spec:
  replicas: 2
  selector:
    matchLabels:
      app: echoserver
  template:
    metadata:
      labels:
        app: echoserver
    spec:
      containers:
        - name: echoserver
          image: gcr.io/kubernetes-e2e-test-images/echoserver:2.1
          ports:
            - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: lorem-ipsum
  namespace: team-a
spec:
  ports:
    - port: 80
      targetPort: 80
      protocol: TCP
      name: http
  selector:
    app: lorem-ipsum
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: lorem-ipsum
  namespace: team-a
spec:
  replicas: 2
  selector:
    matchLabels:
      app: lorem-ipsum
  template:
    metadata:
      labels:
        app: lorem-ipsum
    spec:
      containers:
        - name: lorem-ipsum
          image: ksdn117/lorem-ipsum:latest
          ports:
            - containerPort: 80
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
spec:
  selector:
    matchLabels: {k8s-app: kube-dns}
  template:
    metadata:
      labels: {k8s-app: kube-dns}
    spec:
      containers:
      - name: coredns
        image: registry.k8s.io/coredns/coredns:v1.11.1
        ports:
        - {containerPort: 53, name: dns, protocol: UDP}
        - {containerPort: 53, name: dns-tcp, protocol: TCP}
"#;

/// deny-all.yaml, step 3 of "Environment Setup": the scenario's own file (the tutorial's policy
/// with spaces for its tabs), so the walkthrough checks exactly what the scenario applies.
const GLOBAL_DENY_ALL: &str = include_str!("../../scenarios/contour-default-deny/deny-all.yaml");

/// lorem-netpol.yaml ("Allow Restricted Access", step 1).
const LOREM_NETPOL: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: lorem-ipsum-netpol
  namespace: team-a
spec:
  policyTypes:
    - Ingress
    - Egress
  podSelector:
    matchLabels:
      app: lorem-ipsum
  ingress:
    - from:
        - namespaceSelector:
            matchLabels:
              name: ingress
        - podSelector:
            matchLabels:
              app: contour
      ports:
        - protocol: TCP
          port: 80
  egress:
    - to:
        - namespaceSelector:
            matchLabels:
              name: team-a
        - podSelector:
            matchLabels:
              app: echoserver
      ports:
        - port: 8080
          protocol: TCP
"#;

/// echo-netpol.yaml (step 3), with spaces for the tutorial's tabs.
const ECHO_NETPOL: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: echoserver-netpol
  namespace: team-a
spec:
  policyTypes:
    - Ingress
  podSelector:
    matchLabels:
      app: echoserver
  ingress:
    - from:
      - namespaceSelector:
          matchLabels:
            namespace: echoserver
      - podSelector: {}
"#;

const ENVOY: &str = "ingress/contour";
const ECHO: &str = "team-a/echoserver";
const LOREM: &str = "team-a/lorem-ipsum";
const DNS: &str = "kube-system/coredns";
/// google.com in the tutorial's ping.
const GOOGLE: &str = "216.58.193.78";
/// The curl client on the internet (the tutorial's `x-forwarded-for`).
const CLIENT: &str = "174.16.148.64";

fn cluster(parts: &[&str]) -> Analysis {
    let text = parts.join("\n---\n");
    let docs = parse_str(Path::new("contour.yaml"), &text).unwrap_or_else(|e| panic!("{e}"));
    Analysis::from_documents(&docs, DEFAULT_POD_CIDR.parse().expect("CIDR"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// An endpoint `ns/name`, or an outside address.
fn peer(a: &Analysis, name: &str) -> Peer {
    match a.cluster.endpoint(name) {
        Some(id) => Peer::Endpoint(id),
        None => Peer::External(
            name.parse()
                .unwrap_or_else(|_| panic!("no endpoint {name}")),
        ),
    }
}

/// The verdict for `from → to` on `probe` (`8080/TCP`, `53/UDP`, `ICMP`), with its explanation.
fn check(a: &Analysis, from: &str, to: &str, probe: &str) -> (Verdict, String) {
    let probe: ProbePort = probe.parse().expect("probe");
    let packet = Packet {
        from: peer(a, from),
        to: peer(a, to),
        protocol: probe.protocol,
        port: probe.port,
    };
    let oracle = a.oracle();
    let verdict = oracle.verdict(&packet);
    let text = oracle.explain(&packet, &verdict);
    (verdict, text)
}

/// The verdict for `from → service:port` (`curl echoserver`): policy sees the backend pod and
/// the target port, after DNAT.
fn via_service(a: &Analysis, from: &str, service: &str, port: u16) -> (Verdict, String) {
    let (namespace, name) = service.split_once('/').expect("ns/name");
    let svc = a.cluster.service(namespace, name).expect("service");
    let sp = svc
        .ports
        .iter()
        .find(|p| p.port == port)
        .expect("service port");
    let PortRef::Number(target) = sp.target else {
        panic!("named targetPort")
    };
    let backends = a.cluster.service_backends(svc);
    assert_eq!(backends.len(), 1, "{service} selects one workload");
    let to = a.cluster.get(backends[0]).key();
    check(a, from, &to, &format!("{target}/{}", sp.protocol))
}

fn assert_allowed(a: &Analysis, from: &str, to: &str, probe: &str, because: &[&str]) {
    let (v, text) = check(a, from, to, probe);
    assert!(v.allowed, "{from} → {to} {probe} should be allowed: {text}");
    for b in because {
        assert!(
            text.contains(b),
            "{from} → {to} {probe}:\n  got  {text}\n  want …{b}…"
        );
    }
}

fn assert_blocked(a: &Analysis, from: &str, to: &str, probe: &str, because: &[&str]) {
    let (v, text) = check(a, from, to, probe);
    assert!(
        !v.allowed,
        "{from} → {to} {probe} should be blocked: {text}"
    );
    for b in because {
        assert!(
            text.contains(b),
            "{from} → {to} {probe}:\n  got  {text}\n  want …{b}…"
        );
    }
}

/// Environment Setup: the global policy is applied but no namespace is labelled, so its
/// `!has(netpol_deny_all)` rules allow everything, both ways ("For now, all traffic will be
/// allowed"; "It will have no impact initially as namespaces are not properly labeled").
#[test]
fn before_labels_everything_is_open() {
    let a = cluster(&[NAMESPACES_UNLABELLED, WORKLOADS, GLOBAL_DENY_ALL]);
    let oracle = a.oracle();
    let mut probes = ProbePort::declared(&a.cluster);
    probes.push("ICMP".parse().expect("probe"));
    let matrix = oracle.matrix(&probes);
    assert!(matrix.cells().all(|c| c.allowed), "every pair, every port");

    // Not because no policy applies: the global policy selects every pod and allows.
    assert_allowed(
        &a,
        ENVOY,
        ECHO,
        "8080/TCP",
        &[
            "egress from ingress/contour: allowed by GlobalNetworkPolicy global-deny-all (tier default, order 2000) rule 1",
            "ingress to team-a/echoserver: allowed by GlobalNetworkPolicy global-deny-all (tier default, order 2000) rule 1",
        ],
    );
    // Steps 12-13: curl <node>:8080/echo and / reach echoserver and lorem-ipsum through Envoy.
    assert_allowed(&a, CLIENT, ENVOY, "8080/TCP", &[]);
    assert_allowed(&a, ENVOY, LOREM, "80/TCP", &[]);
    // Step 16: `curl echoserver` from lorem-ipsum.
    let (v, text) = via_service(&a, LOREM, "team-a/echoserver", 80);
    assert!(v.allowed, "{text}");
    assert_allowed(&a, ECHO, GOOGLE, "ICMP", &[]);
}

/// Enforce Network Policy: with `ingress` labelled `disabled` and `team-a` `enabled`.
#[test]
fn after_labels_team_a_is_closed_except_dns() {
    let a = cluster(&[NAMESPACES_LABELLED, WORKLOADS, GLOBAL_DENY_ALL]);

    // Step 4: `curl <node>:8080/echo` gets Envoy's 503: the client reaches Envoy
    // (ingress is `disabled`)…
    assert_allowed(&a, CLIENT, ENVOY, "8080/TCP", &["rule 2 (spec.ingress[1]"]);
    // …but Envoy cannot reach echoserver: its egress is allowed, echoserver's ingress is not.
    let (v, text) = check(&a, ENVOY, ECHO, "8080/TCP");
    assert!(!v.allowed, "{text}");
    assert!(v.egress.allowed, "{text}");
    assert_eq!(
        v.ingress.decision,
        Decision::EndOfTier {
            tier: "default".into(),
            policies: vec![0]
        }
    );
    assert!(
        text.contains("ingress to team-a/echoserver: denied, selected by GlobalNetworkPolicy global-deny-all (tier default, order 2000) but no rule matched (end of tier default)"),
        "{text}"
    );
    // Same for lorem-ipsum (path /).
    assert_blocked(
        &a,
        ENVOY,
        LOREM,
        "80/TCP",
        &["ingress to team-a/lorem-ipsum: denied"],
    );

    // Step 6: `ping google.com` from echoserver: 100% packet loss.
    assert_blocked(
        &a,
        ECHO,
        GOOGLE,
        "ICMP",
        &[
            "egress from team-a/echoserver: denied, selected by GlobalNetworkPolicy global-deny-all (tier default, order 2000) but no rule matched (end of tier default)",
        ],
    );
    // "You can do the same to lorem-ipsum to demonstrate that a pod in the cluster is not
    // reachable."
    assert_blocked(
        &a,
        ECHO,
        LOREM,
        "80/TCP",
        &["egress from team-a/echoserver: denied"],
    );
    let (v, text) = via_service(&a, LOREM, "team-a/echoserver", 80);
    assert!(!v.allowed, "{text}");

    // Step 7: `nslookup google.com` resolves: UDP 53 to kube-dns leaves team-a by the third
    // egress rule and enters the unlabelled kube-system by the first ingress rule.
    assert_allowed(
        &a,
        ECHO,
        DNS,
        "53/UDP",
        &[
            "egress from team-a/echoserver: allowed by GlobalNetworkPolicy global-deny-all (tier default, order 2000) rule 3 (spec.egress[2]: allow UDP to 0.0.0.0/0 port 53 from namespaces [netpol_deny_all == 'enabled'])",
            "ingress to kube-system/coredns: allowed by GlobalNetworkPolicy global-deny-all (tier default, order 2000) rule 1",
        ],
    );
    assert_allowed(&a, LOREM, "8.8.8.8", "53/UDP", &["rule 3"]);
    // "DNS (UDP:53) is allowed in all namespaces": from `ingress` too (everything is, there).
    assert_allowed(&a, ENVOY, DNS, "53/UDP", &["rule 2 (spec.egress[1]"]);
    // The policy's own comment: "This assumes DNS traffic will be over UDP and never TCP".
    // DNS over TCP (truncated answers) is blocked from team-a.
    assert_blocked(&a, ECHO, DNS, "53/TCP", &["end of tier default"]);
}

/// Allow Restricted Access, steps 1-2 and "Validation" 1-2: the lorem-ipsum policy.
#[test]
fn lorem_ipsum_policy_opens_lorem_ipsum_only() {
    let a = cluster(&[
        NAMESPACES_LABELLED,
        WORKLOADS,
        GLOBAL_DENY_ALL,
        LOREM_NETPOL,
    ]);

    // Erratum (the tutorial's prose): "Calico sets Kubernetes policy to an order of 100". It is
    // 1000, as the GlobalNetworkPolicy's own comment says; either way before 2000.
    let knp = a
        .policies
        .policies
        .iter()
        .find(|p| p.id.kind == PolicyKind::KubernetesNetworkPolicy)
        .expect("the KNP");
    assert_eq!((knp.tier.as_str(), knp.order), ("default", Some(1000.0)));

    // "Verify ingress is allowed to lorem-ipsum through Contour."
    assert_allowed(
        &a,
        ENVOY,
        LOREM,
        "80/TCP",
        &[
            "ingress to team-a/lorem-ipsum: allowed by NetworkPolicy team-a/lorem-ipsum-netpol (tier default, order 1000) rule 1 (spec.ingress[0].from[0]: allow from all pods in namespaces [name == 'ingress'], TCP 80)",
        ],
    );
    // "Verify ingress is denied to echoserver through Contour."
    assert_blocked(
        &a,
        ENVOY,
        ECHO,
        "8080/TCP",
        &["ingress to team-a/echoserver: denied"],
    );

    // "when the lorem-ipsum pod attempts to connect to [echoserver], echoserver will not allow
    // the traffic in": lorem-ipsum's egress now allows it, echoserver's ingress does not.
    let (v, text) = via_service(&a, LOREM, "team-a/echoserver", 80);
    assert!(!v.allowed, "{text}");
    assert!(
        text.contains("egress from team-a/lorem-ipsum: allowed by NetworkPolicy team-a/lorem-ipsum-netpol (tier default, order 1000) rule 1 (spec.egress[0].to[0]"),
        "{text}"
    );
    assert!(
        text.contains("ingress to team-a/echoserver: denied"),
        "{text}"
    );

    // Calico's ordering at work (not stated by the tutorial): the KNP allows only TCP 8080 out
    // of lorem-ipsum, yet its DNS still works: UDP 53 matches none of the KNP's rules, so
    // evaluation goes on to the GlobalNetworkPolicy at order 2000, which allows it. Other egress
    // matches neither and ends the tier: denied.
    assert_allowed(
        &a,
        LOREM,
        DNS,
        "53/UDP",
        &[
            "egress from team-a/lorem-ipsum: allowed by GlobalNetworkPolicy global-deny-all (tier default, order 2000) rule 3",
        ],
    );
    assert_blocked(
        &a,
        LOREM,
        GOOGLE,
        "ICMP",
        &[
            "selected by NetworkPolicy team-a/lorem-ipsum-netpol (tier default, order 1000), GlobalNetworkPolicy global-deny-all (tier default, order 2000) but no rule matched",
        ],
    );

    // Not an erratum but broader than its comments ("from the contour/envoy pod", "to the
    // echoserver pod"): each list item is a separate peer, so lorem-ipsum may send TCP 8080 to
    // any pod of team-a (the `name: team-a` peer), and the `podSelector: app: contour` peer looks
    // for contour pods in team-a, where there are none: it is Envoy's namespace that lets it in.
    let (v, _) = check(&a, LOREM, LOREM, "8080/TCP");
    assert!(v.egress.allowed);
}

/// Steps 3-8: the echoserver policy.
#[test]
fn echoserver_policy_opens_team_a_to_echoserver() {
    let a = cluster(&[
        NAMESPACES_LABELLED,
        WORKLOADS,
        GLOBAL_DENY_ALL,
        LOREM_NETPOL,
        ECHO_NETPOL,
    ]);

    // Step 6: "Verify egress is allowed to the echoserver pod" (`curl echoserver`).
    let (v, text) = via_service(&a, LOREM, "team-a/echoserver", 80);
    assert!(v.allowed, "{text}");
    assert!(
        text.contains("ingress to team-a/echoserver: allowed by NetworkPolicy team-a/echoserver-netpol (tier default, order 1000) rule 1 (spec.ingress[0].from[1]: allow from pods [all] in namespace team-a, any port)"),
        "{text}"
    );

    // Step 8: "Verify egress is denied from echoserver to lorem-ipsum" (wget times out):
    // echoserver-netpol has no Egress type, so the global policy still ends echoserver's
    // egress, and lorem-ipsum's ingress admits only the `ingress` namespace anyway.
    let (v, text) = via_service(&a, ECHO, "team-a/lorem-ipsum", 80);
    assert!(!v.allowed, "{text}");
    assert!(!v.egress.allowed && !v.ingress.allowed, "{text}");

    // Erratum: echo-netpol's comment says "allow ingress traffic from the contour/envoy pod",
    // but its `namespaceSelector: {matchLabels: {namespace: echoserver}}` matches no namespace
    // (none has a `namespace` label) and `podSelector: {}` only selects pods of team-a. Envoy
    // still cannot reach echoserver: /echo keeps answering 503. (The prose, "allows all ingress
    // traffic originating from pods that belong to the team-a namespace", is right.)
    assert_blocked(
        &a,
        ENVOY,
        ECHO,
        "8080/TCP",
        &[
            "ingress to team-a/echoserver: denied, selected by NetworkPolicy team-a/echoserver-netpol (tier default, order 1000), GlobalNetworkPolicy global-deny-all (tier default, order 2000) but no rule matched (end of tier default)",
        ],
    );

    // Unchanged: Envoy → lorem-ipsum, DNS, no internet.
    assert_allowed(&a, ENVOY, LOREM, "80/TCP", &["lorem-ipsum-netpol"]);
    assert_allowed(&a, ECHO, DNS, "53/UDP", &["rule 3"]);
    assert_blocked(&a, ECHO, GOOGLE, "ICMP", &["end of tier default"]);
}

/// Erratum: the tutorial's YAML is indented with tabs, which YAML forbids; it does not load as
/// printed.
#[test]
fn the_tab_indented_policy_does_not_parse() {
    let as_printed = GLOBAL_DENY_ALL.replace(
        "    destination: {}\n    source:",
        "\tdestination: {}\n\tsource:",
    );
    let err = parse_str(Path::new("deny-all.yaml"), &as_printed).expect_err("tabs");
    assert!(
        err.to_string().starts_with("deny-all.yaml: document 1"),
        "{err}"
    );
}
