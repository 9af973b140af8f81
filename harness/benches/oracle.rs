//! How fast the oracle is on a realistic cluster: 1,000 endpoints in 100 namespaces under 500
//! Kubernetes NetworkPolicies (default-deny, pod and namespace selectors, named and numbered
//! ports, ipBlocks, egress), predicting the full matrix (every ordered pair) for two ports.
//!
//! Measured separately: converting the manifests into the model and rule set (`load`),
//! compiling the oracle (`Oracle::new`: every selector against every endpoint) and evaluating
//! the matrix (`Oracle::matrix`, 2,000,000 verdicts). Run with `cargo bench`.

use std::fmt::Write;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use netpol_harness::analysis::Analysis;
use netpol_harness::manifest::{self, Document};
use netpol_harness::oracle::{Oracle, ProbePort};

const NAMESPACES: usize = 100;
const PODS_PER_NAMESPACE: usize = 10;
const POD_CIDR: &str = "10.244.0.0/16";

/// The manifests: per namespace, one Namespace, ten Pods and five NetworkPolicies.
fn manifests() -> String {
    let mut y = String::new();
    for n in 0..NAMESPACES {
        let ns = format!("ns-{n:02}");
        let team = format!("team-{}", n % 10);
        let env = if n % 2 == 0 { "prod" } else { "dev" };
        let _ = write!(
            y,
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{team: {team}, env: {env}}}}}\n"
        );
        for p in 0..PODS_PER_NAMESPACE {
            let app = format!("app-{}", p % 5);
            let role = ["frontend", "backend", "db"][p % 3];
            let _ = write!(
                y,
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: pod-{p}, namespace: {ns}, labels: {{app: {app}, role: {role}}}}}\n\
                 spec:\n  containers:\n  - name: c\n    image: agnhost\n    ports:\n\
                 \x20   - {{name: http, containerPort: 8080}}\n\
                 \x20   - {{name: metrics, containerPort: 9090}}\n\
                 \x20   - {{name: dns, containerPort: 53, protocol: UDP}}\n"
            );
        }
        let policy = |name: &str, spec: &str| {
            format!(
                "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{spec}"
            )
        };
        // 1. Default deny: ingress everywhere, egress too in every fourth namespace.
        let types = if n % 4 == 0 {
            "[Ingress, Egress]"
        } else {
            "[Ingress]"
        };
        y.push_str(&policy(
            "default-deny",
            &format!("  podSelector: {{}}\n  policyTypes: {types}\n"),
        ));
        // 2. Pods of one app talk to each other on the named http port.
        let app = format!("app-{}", n % 5);
        y.push_str(&policy(
            "same-app",
            &format!(
                "  podSelector: {{matchLabels: {{app: {app}}}}}\n  ingress:\n  - from:\n    - podSelector: {{matchLabels: {{app: {app}}}}}\n    ports:\n    - port: http\n"
            ),
        ));
        // 3. Frontends accept backends of two teams on 8080.
        let (t1, t2) = (format!("team-{}", n % 10), format!("team-{}", (n + 3) % 10));
        y.push_str(&policy(
            "from-teams",
            &format!(
                "  podSelector: {{matchLabels: {{role: frontend}}}}\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchExpressions:\n        - {{key: team, operator: In, values: [{t1}, {t2}]}}\n      podSelector: {{matchLabels: {{role: backend}}}}\n    ports:\n    - {{port: 8080, protocol: TCP}}\n"
            ),
        ));
        // 4. Monitoring (namespace ns-00) scrapes every pod on the metrics port; a NAT range too.
        y.push_str(&policy(
            "monitoring",
            "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ns-00}}\n    - ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/24]}\n    ports:\n    - port: metrics\n",
        ));
        // 5. Backends may call prod namespaces, the outside world on 443, and DNS.
        y.push_str(&policy(
            "backend-egress",
            "  podSelector: {matchLabels: {role: backend}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector: {matchLabels: {env: prod}}\n      podSelector: {matchExpressions: [{key: role, operator: NotIn, values: [db]}]}\n    ports:\n    - {port: 8000, endPort: 9000}\n  - to:\n    - ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}\n    ports:\n    - port: 443\n  - ports:\n    - {port: 53, protocol: UDP}\n",
        ));
    }
    y
}

fn documents() -> Vec<Document> {
    manifest::parse_str(Path::new("bench.yaml"), &manifests()).expect("generated manifests parse")
}

fn load(docs: &[Document]) -> Analysis {
    Analysis::from_documents(docs, POD_CIDR.parse().expect("CIDR")).expect("generated model loads")
}

fn bench(c: &mut Criterion) {
    let docs = documents();
    let analysis = load(&docs);
    assert_eq!(
        analysis.cluster.endpoints.len(),
        NAMESPACES * PODS_PER_NAMESPACE
    );
    assert_eq!(analysis.policies.policies.len(), NAMESPACES * 5);
    let probes: Vec<ProbePort> = ["8080/TCP", "9090/TCP"]
        .iter()
        .map(|p| p.parse().expect("probe"))
        .collect();

    let mut group = c.benchmark_group("oracle 1000 endpoints, 500 policies");
    // Each iteration takes milliseconds to a few hundred: one run per sample is precise enough.
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("load (documents → model and rules)", |b| {
        b.iter(|| load(black_box(&docs)))
    });
    group.bench_function("build (Oracle::new)", |b| {
        b.iter(|| Oracle::new(black_box(&analysis.cluster), black_box(&analysis.policies)))
    });
    let oracle = analysis.oracle();
    let matrix = oracle.matrix(&probes);
    let allowed = matrix.cells().filter(|c| c.allowed).count();
    eprintln!(
        "{} endpoints, {} policies, {} cells, {allowed} allowed",
        analysis.cluster.endpoints.len(),
        analysis.policies.policies.len(),
        matrix.cells().count()
    );
    group.bench_function("matrix (2 ports, 2,000,000 verdicts)", |b| {
        b.iter(|| oracle.matrix(black_box(&probes)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Few samples and short measurements: the whole run stays under two minutes on two cores.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
