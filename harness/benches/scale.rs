//! `analyze` at cluster scale: 5,000 pods in 200 namespaces (Deployments of 3 to 10 replicas
//! whose pods share their labels, with real addresses as a cluster reports them) on 20 nodes,
//! under 1,000 Kubernetes NetworkPolicies of the common shapes (default deny, same-app, from
//! other teams' backends, monitoring with an ipBlock, backend egress to prod, the internet and
//! DNS). Measured: loading the manifests as `analyze` does (parse, model, rules, notes) plus the
//! full matrix for two ports (50,000,000 cells, computed over identities), against a 1 s target.
//! Run with `cargo bench --bench scale`; it also prints the same work phase by phase (parse,
//! model, oracle compilation, matrix), timed within each run so the phases add up.

use std::fmt::Write;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use netpol_harness::analysis::{Analysis, UserOptions};
use netpol_harness::manifest;
use netpol_harness::oracle::{Matrix, ProbePort};
use netpol_harness::policy::Semantics;

const NAMESPACES: usize = 200;
const PODS_PER_NAMESPACE: usize = 25;
const NODES: usize = 20;
/// Replica counts, cycled: 3 to 10, as Deployments have.
const REPLICAS: [usize; 8] = [3, 5, 4, 10, 6, 3, 8, 7];
/// The target for loading plus the matrix.
const TARGET: Duration = Duration::from_secs(1);

/// The manifests, in the order a cluster lists objects (by namespace, then name).
fn manifests() -> String {
    let mut y = String::new();
    for n in 0..NODES {
        let _ = write!(
            y,
            "---\napiVersion: v1\nkind: Node\nmetadata: {{name: node-{n:02}, labels: {{zone: z{}}}}}\nstatus: {{addresses: [{{type: InternalIP, address: 172.18.0.{}}}]}}\n",
            n % 3,
            n + 2
        );
    }
    let mut replica = 0;
    let mut address = 0u32;
    for n in 0..NAMESPACES {
        let ns = format!("ns-{n:03}");
        let team = format!("team-{}", n % 10);
        let env = if n % 2 == 0 { "prod" } else { "dev" };
        let _ = write!(
            y,
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{team: {team}, env: {env}}}}}\n"
        );
        let mut pods = 0;
        let mut deployment = 0;
        while pods < PODS_PER_NAMESPACE {
            let count = REPLICAS[replica % REPLICAS.len()].min(PODS_PER_NAMESPACE - pods);
            replica += 1;
            let app = format!("app-{}", deployment % 5);
            let role = ["frontend", "backend", "db"][deployment % 3];
            for r in 0..count {
                address += 1;
                let ip = format!(
                    "10.{}.{}.{}",
                    address >> 16,
                    (address >> 8) & 255,
                    address & 255
                );
                let _ = write!(
                    y,
                    "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: d{deployment}-7f9c{deployment}-{r:02}, namespace: {ns}, labels: {{app: {app}, role: {role}, pod-template-hash: 7f9c{deployment}}}}}\n\
                     spec:\n  nodeName: node-{:02}\n  containers:\n  - name: c\n    image: agnhost\n    ports:\n\
                     \x20   - {{name: http, containerPort: 8080}}\n\
                     \x20   - {{name: metrics, containerPort: 9090}}\n\
                     status: {{phase: Running, podIP: {ip}, podIPs: [{{ip: {ip}}}]}}\n",
                    address as usize % NODES
                );
            }
            pods += count;
            deployment += 1;
        }
        let policy = |name: &str, spec: &str| {
            format!(
                "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{spec}"
            )
        };
        let types = if n % 4 == 0 {
            "[Ingress, Egress]"
        } else {
            "[Ingress]"
        };
        y.push_str(&policy(
            "default-deny",
            &format!("  podSelector: {{}}\n  policyTypes: {types}\n"),
        ));
        let app = format!("app-{}", n % 5);
        y.push_str(&policy(
            "same-app",
            &format!(
                "  podSelector: {{matchLabels: {{app: {app}}}}}\n  ingress:\n  - from:\n    - podSelector: {{matchLabels: {{app: {app}}}}}\n    ports:\n    - port: http\n"
            ),
        ));
        let (t1, t2) = (format!("team-{}", n % 10), format!("team-{}", (n + 3) % 10));
        y.push_str(&policy(
            "from-teams",
            &format!(
                "  podSelector: {{matchLabels: {{role: frontend}}}}\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchExpressions:\n        - {{key: team, operator: In, values: [{t1}, {t2}]}}\n      podSelector: {{matchLabels: {{role: backend}}}}\n    ports:\n    - {{port: 8080, protocol: TCP}}\n"
            ),
        ));
        y.push_str(&policy(
            "monitoring",
            "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ns-000}}\n    - ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/24]}\n    ports:\n    - port: metrics\n",
        ));
        y.push_str(&policy(
            "backend-egress",
            "  podSelector: {matchLabels: {role: backend}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector: {matchLabels: {env: prod}}\n      podSelector: {matchExpressions: [{key: role, operator: NotIn, values: [db]}]}\n    ports:\n    - {port: 8000, endPort: 9000}\n  - to:\n    - ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}\n    ports:\n    - port: 443\n  - ports:\n    - {port: 53, protocol: UDP}\n",
        ));
    }
    y
}

fn options() -> UserOptions {
    UserOptions {
        pod_cidr: "10.0.0.0/8".parse().expect("CIDR"),
        ignore_unsupported: false,
        semantics: Semantics::Generic,
    }
}

/// What `analyze` does before it writes: parse, build the model and rules (with its notes),
/// compile the oracle and compute the matrix.
fn load_and_matrix(text: &str, probes: &[ProbePort]) -> (usize, Matrix) {
    let docs =
        manifest::parse_str(Path::new("scale.yaml"), text).expect("generated manifests parse");
    let (analysis, _) = Analysis::for_user(docs, &options()).expect("generated model loads");
    let matrix = analysis.oracle().matrix(probes);
    (analysis.policies.policies.len(), matrix)
}

fn bench(c: &mut Criterion) {
    let text = manifests();
    let probes: Vec<ProbePort> = ["8080/TCP", "9090/TCP"]
        .iter()
        .map(|p| p.parse().expect("probe"))
        .collect();
    let start = Instant::now();
    let (policies, matrix) = load_and_matrix(&text, &probes);
    let once = start.elapsed();
    assert_eq!(matrix.size, NAMESPACES * PODS_PER_NAMESPACE);
    assert_eq!(policies, NAMESPACES * 5);
    let allowed = (0..probes.len())
        .map(|p| {
            (0..matrix.size)
                .step_by(97)
                .flat_map(|f| (0..matrix.size).map(move |t| (f, t)))
                .filter(|&(f, t)| {
                    matrix.allowed(
                        p,
                        netpol_harness::model::EndpointId(f),
                        netpol_harness::model::EndpointId(t),
                    )
                })
                .count()
        })
        .sum::<usize>();
    eprintln!(
        "{} pods, {policies} policies, {} identities, {} cells ({allowed} allowed among every 97th row); \
         load + matrix once: {:.0} ms (target: under {} ms)",
        matrix.size,
        matrix.identities(),
        matrix.size * matrix.size * probes.len(),
        once.as_secs_f64() * 1000.0,
        TARGET.as_millis()
    );

    let mut group = c.benchmark_group("analyze 5,000 pods, 1,000 policies");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("load + matrix (2 ports, 50,000,000 cells)", |b| {
        b.iter(|| load_and_matrix(black_box(&text), black_box(&probes)))
    });
    group.finish();

    // The same work, phase by phase, timed within each run so the phases add up to that run's
    // total: where the time goes. Medians of RUNS runs.
    const RUNS: usize = 10;
    let mut runs: Vec<[Duration; 4]> = (0..RUNS).map(|_| phases(&text, &probes)).collect();
    let median = |i: usize, runs: &mut Vec<[Duration; 4]>| {
        runs.sort_by_key(|r| r[i]);
        runs[RUNS / 2][i]
    };
    let names = [
        "parse",
        "model, rules and notes",
        "compile the oracle",
        "matrix (identities included)",
    ];
    let medians: Vec<Duration> = (0..names.len()).map(|i| median(i, &mut runs)).collect();
    let mut totals: Vec<Duration> = runs.iter().map(|r| r.iter().sum()).collect();
    totals.sort();
    for (name, d) in names.iter().zip(&medians) {
        eprintln!("phase {name}: {:.0} ms", d.as_secs_f64() * 1000.0);
    }
    eprintln!(
        "phases, medians of {RUNS} runs: their sum {:.0} ms; one run's phases summed, median {:.0} ms \
         (comparable to load + matrix above, which also frees the model)",
        medians.iter().sum::<Duration>().as_secs_f64() * 1000.0,
        totals[RUNS / 2].as_secs_f64() * 1000.0
    );
}

/// One run of [`load_and_matrix`], each phase timed: parse, model (with rules and notes),
/// compiling the oracle, the matrix (identities included).
fn phases(text: &str, probes: &[ProbePort]) -> [Duration; 4] {
    let t = Instant::now();
    let docs = manifest::parse_str(Path::new("scale.yaml"), black_box(text)).expect("parse");
    let parse = t.elapsed();
    let t = Instant::now();
    let (analysis, notes) = Analysis::for_user(docs, &options()).expect("model");
    let model = t.elapsed();
    let t = Instant::now();
    let oracle = analysis.oracle();
    let compile = t.elapsed();
    let t = Instant::now();
    black_box(oracle.matrix(black_box(probes)));
    let matrix = t.elapsed();
    drop((oracle, notes));
    [parse, model, compile, matrix]
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    targets = bench
}
criterion_main!(benches);
