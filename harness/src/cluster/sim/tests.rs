//! The simulated cluster: its probes, faults and bookkeeping.

use std::path::Path;

use std::time::Duration;

use super::output::result_line;
use super::*;
use crate::cluster::{ClusterError, ClusterOps, EndpointRef};
use crate::manifest::parse_str;
use crate::probe::{HttpMethod, Outcome, ProbeKind, ProbeSpec, ProbeTool, parse_output};

fn spec(id: &str, kind: ProbeKind, host: &str, port: Option<u16>) -> ProbeSpec {
    ProbeSpec {
        id: id.to_string(),
        kind,
        host: host.to_string(),
        port,
        timeout: Duration::from_secs(1),
    }
}

/// What the probe parser makes of the simulated tool output for each kind, tool and
/// observation: the same observation (a DNS failure's message is the tool's).
#[test]
fn simulated_tool_output_reads_back_as_the_observation() {
    let kinds = [
        (ProbeKind::Tcp, Some(80)),
        (ProbeKind::Udp, Some(53)),
        (ProbeKind::Sctp, Some(9999)),
        (
            ProbeKind::Http {
                method: HttpMethod::Post,
                path: "/echo".into(),
            },
            Some(8080),
        ),
        (ProbeKind::Icmp, None),
        (
            ProbeKind::Dns {
                name: "web.ns.svc.cluster.local".into(),
            },
            None,
        ),
    ];
    for tool in [ProbeTool::Agnhost, ProbeTool::Busybox] {
        for (kind, port) in &kinds {
            if *kind == ProbeKind::Sctp && tool == ProbeTool::Busybox {
                continue;
            }
            let mut outcomes = vec![Outcome::Blocked, Outcome::Error("no route".into())];
            match kind {
                ProbeKind::Http { .. } => outcomes.extend([
                    Outcome::HttpStatus(200),
                    Outcome::HttpStatus(503),
                    Outcome::Refused,
                ]),
                ProbeKind::Icmp => outcomes.push(Outcome::Allowed),
                _ => outcomes.extend([Outcome::Allowed, Outcome::Refused]),
            }
            if matches!(kind, ProbeKind::Dns { .. }) {
                outcomes.push(Outcome::DnsFailure("NXDOMAIN".into()));
            }
            if *kind != ProbeKind::Icmp {
                outcomes.push(Outcome::Unreachable("prohibited".into()));
            }
            for outcome in outcomes {
                let probe = spec("p-1", kind.clone(), "10.96.0.10", *port);
                let stdout = result_line(&probe, tool, &outcome) + "NPH-END\n";
                let read = parse_output(&stdout, std::slice::from_ref(&probe)).unwrap();
                let context = format!("{kind:?} with {tool}: {outcome:?} → {read:?}");
                match (&outcome, &read[0].outcome) {
                    (Outcome::Error(_), Outcome::Error(m)) => {
                        assert!(m.contains("no route"), "{context}")
                    }
                    (Outcome::DnsFailure(_), Outcome::DnsFailure(m)) => {
                        assert!(m.ends_with("NXDOMAIN"), "{context}")
                    }
                    (Outcome::Unreachable(_), Outcome::Unreachable(m)) => {
                        assert!(m.to_lowercase().contains("no route to host"), "{context}")
                    }
                    (expected, observed) => assert_eq!(expected, observed, "{context}"),
                }
            }
        }
    }
}

#[tokio::test]
async fn batches_are_answered_in_completion_order_and_checked_like_the_script() {
    let sim = SimCluster::new("t", Faults::default());
    let docs = parse_str(
        Path::new("t.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\n\
         spec: {containers: [{name: c, image: busybox:1.36, ports: [{containerPort: 80}]}]}\n\
         ---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: x}\n\
         spec: {podSelector: {}, policyTypes: [Ingress]}\n",
    )
    .unwrap();
    sim.create_namespace("x").await.unwrap();
    sim.apply(&docs).await.unwrap();
    let pod = PodRef {
        namespace: "x".into(),
        name: "a".into(),
    };
    let ip = sim
        .ready_pods(&EndpointRef {
            namespace: "x".into(),
            name: "a".into(),
            kind: crate::model::WorkloadKind::Pod,
            labels: Labels::new(),
        })
        .await
        .unwrap()[0]
        .ips[0]
        .to_string();
    let dns = |name: &str| {
        spec(
            name,
            ProbeKind::Dns {
                name: format!("{name}.default.svc.cluster.local"),
            },
            &SIM_DNS_ADDRESS.to_string(),
            None,
        )
    };
    let probes = [
        spec("blocked", ProbeKind::Tcp, &ip, Some(80)),
        dns("kubernetes"),
        dns("nothing"),
    ];
    let out = sim
        .run_probes(
            &pod,
            "c",
            &probes,
            ProbeTool::Busybox,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let ids: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap_or(l))
        .collect();
    assert_eq!(ids, ["kubernetes", "nothing", "blocked", "NPH-END"]);
    let read = parse_output(&out.stdout, &probes).unwrap();
    assert_eq!(read[0].outcome, Outcome::Blocked);
    assert_eq!(read[0].detail, "[nc exit 1] nc: timed out");
    assert_eq!(read[1].outcome, Outcome::Allowed);
    assert_eq!(
        read[2].outcome,
        Outcome::DnsFailure("nothing.default.svc.cluster.local: NXDOMAIN".into())
    );
    // SCTP needs agnhost: refused before anything runs, as the script builder refuses it.
    let sctp = [spec("s", ProbeKind::Sctp, &ip, Some(80))];
    let err = sim
        .run_probes(&pod, "c", &sctp, ProbeTool::Busybox, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClusterError::Probe(crate::probe::ProbeError::Unsupported { .. })
        ),
        "{err}"
    );
    assert_eq!(sim.probe_execs(), 2);
}

/// The simulator's own refusals and failures are `ClusterError::Simulated`, naming the action
/// and keeping the cause: never a borrowed HTTP status or `Unsupported`.
#[tokio::test]
async fn simulator_failures_name_the_action_and_keep_the_cause() {
    let sim = SimCluster::new("t", Faults::default());
    let elsewhere = parse_str(
        Path::new("t.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: nowhere}\n\
         spec: {containers: [{name: c, image: busybox:1.36}]}\n",
    )
    .unwrap();
    let err = sim.apply(&elsewhere).await.unwrap_err();
    assert!(
        matches!(&err, ClusterError::Simulated { action, source: SimError::NamespaceNotFound(ns) }
            if action == "apply Pod nowhere/b" && ns == "nowhere"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "apply Pod nowhere/b: namespaces \"nowhere\" not found"
    );

    let docs = parse_str(
        Path::new("t.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\n\
         spec: {containers: [{name: c, image: busybox:1.36}]}\n\
         ---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad, namespace: x}\n\
         spec: {podSelector: {matchExpressions: [{key: app, operator: Bogus}]}}\n",
    )
    .unwrap();
    sim.create_namespace("x").await.unwrap();
    sim.apply(&docs).await.unwrap();
    let pod = PodRef {
        namespace: "x".into(),
        name: "a".into(),
    };
    let probe = [spec("p", ProbeKind::Tcp, "10.244.0.2", Some(80))];
    let err = sim
        .run_probes(
            &pod,
            "c",
            &probe,
            ProbeTool::Busybox,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClusterError::Simulated { action, source: SimError::Model(_) }
            if action == "run probes in x/a (container c)"),
        "{err:?}"
    );
    let cause = std::error::Error::source(&err).expect("the cause is kept");
    assert!(
        err.to_string().ends_with(&cause.to_string()) && cause.to_string().contains("Bogus"),
        "{err} / {cause}"
    );
}

fn docs(text: &str) -> Vec<crate::manifest::Document> {
    parse_str(Path::new("t.yaml"), text).unwrap()
}

/// A sweep deletes exactly what earlier runs labelled as theirs: a namespace (and with it what
/// it holds), a cluster-scoped policy, a policy in a shared namespace. Never a CRD (not even one
/// the harness applied), nothing another tool made, nothing of the current run; an object that
/// vanishes between listing and deleting is no error. A dry run lists the same and deletes
/// nothing.
#[tokio::test]
async fn a_sweep_deletes_exactly_the_labelled_objects_of_other_runs() {
    let gnp = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: default-deny}\n\
               spec: {selector: all(), types: [Ingress]}\n";
    let vanishing = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: gone-meanwhile}\n\
               spec: {selector: all(), types: [Ingress]}\n";
    let crd = |name: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: {name}}}\n\
             spec: {{group: example.com, names: {{kind: Thing, plural: things}}, scope: Namespaced, versions: []}}\n"
        )
    };
    let np = |ns: &str, name: &str| {
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\n\
             spec: {{podSelector: {{}}, policyTypes: [Ingress]}}\n"
        )
    };
    let sim = SimCluster::new(
        "r1",
        Faults {
            vanishing_during_sweep: ["GlobalNetworkPolicy gone-meanwhile".to_string()].into(),
            ..Faults::default()
        },
    );
    // Run r1, killed before its cleanup.
    sim.create_namespace("x").await.unwrap();
    sim.apply(&docs(&format!(
        "{}---\n{}---\n{gnp}---\n{vanishing}---\n{}",
        np("x", "inside"),
        np("default", "deny-ingress"),
        crd("things.example.com")
    )))
    .await
    .unwrap();
    // Another tool's objects.
    for doc in docs(&format!(
        "{}---\n{}",
        np("default", "theirs"),
        crd("others.example.com")
    )) {
        sim.add_foreign(doc);
    }
    // The current run's.
    sim.begin_run("r2");
    sim.create_namespace("y").await.unwrap();
    sim.apply(&docs(&np("default", "mine"))).await.unwrap();
    let before = sim.owned_objects();

    let listed = sim.sweep(Some("r2"), true).await.unwrap();
    let names: Vec<String> = listed.iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        [
            "GlobalNetworkPolicy default-deny (projectcalico.org/v3), run r1",
            "GlobalNetworkPolicy gone-meanwhile (projectcalico.org/v3), run r1",
            "NetworkPolicy default/deny-ingress (networking.k8s.io/v1), run r1",
            "Namespace x (v1), run r1",
        ]
    );
    assert_eq!(sim.owned_objects(), before, "a dry run deletes nothing");
    assert!(sim.namespaces().contains(&"x".to_string()));

    let swept = sim.sweep(Some("r2"), false).await.unwrap();
    assert_eq!(swept, listed);
    assert_eq!(
        sim.owned_objects(),
        [
            "CustomResourceDefinition others.example.com",
            "CustomResourceDefinition things.example.com",
            "NetworkPolicy default/mine",
            "NetworkPolicy default/theirs",
        ]
    );
    assert_eq!(sim.namespaces(), ["default", "kube-system", "y"]);
    // Without a run to keep (`netpol-harness clean`), the current run's go too; CRDs stay.
    let all = sim.sweep(None, false).await.unwrap();
    let names: Vec<String> = all.iter().map(|o| o.name.clone()).collect();
    assert_eq!(names, ["mine", "y"]);
    assert_eq!(
        sim.owned_objects(),
        [
            "CustomResourceDefinition others.example.com",
            "CustomResourceDefinition things.example.com",
            "NetworkPolicy default/theirs",
        ]
    );
}
