//! The commands a reader of the tutorial would type: `kubectl apply`, `kubectl label`,
//! `kubectl rollout status`, and `kubectl exec … -- wget/nc/ping/nslookup` for each probe (the
//! tools of busybox, which the scenarios' client images carry).

use std::path::Path;

use super::format::{Action, LabelAction, LabelTarget, ScenarioProbeKind};
use super::load::LoadedScenario;
use super::plan::{PlannedProbe, PlannedStep};
use super::target::{Client, Target};
use crate::escape::sh as q;
use crate::model::{Cluster, WorkloadKind};

/// Seconds a probe command waits before giving up.
pub const PROBE_TIMEOUT_SECONDS: u32 = 2;

/// The commands that prepare the cluster: the scenario's namespaces, its remote manifests, its
/// setup files.
pub fn setup_commands(loaded: &LoadedScenario) -> Vec<String> {
    let s = &loaded.scenario;
    let mut out: Vec<String> = s
        .namespaces
        .iter()
        .map(|ns| format!("kubectl create namespace {}", q(ns)))
        .collect();
    for remote in &s.remote {
        out.push(format!(
            "kubectl apply -f {}   # sha256 {}",
            q(&remote.url),
            q(&remote.sha256)
        ));
    }
    out.extend(
        s.setup
            .iter()
            .map(|f| format!("kubectl apply -f {}", display(loaded, f))),
    );
    out
}

/// The commands for one action of a step. `cluster` is the model after the step, used to find
/// the kind and pods of the endpoints named.
pub fn action_commands(loaded: &LoadedScenario, cluster: &Cluster, action: &Action) -> Vec<String> {
    match action {
        Action::Apply(files) => files
            .iter()
            .map(|f| format!("kubectl apply -f {}", display(loaded, f)))
            .collect(),
        Action::Delete(files) => files
            .iter()
            .map(|f| format!("kubectl delete -f {}", display(loaded, f)))
            .collect(),
        Action::Label(label) => vec![label_command(loaded, cluster, label)],
        Action::WaitRollout(keys) => keys.iter().map(|key| wait_command(cluster, key)).collect(),
    }
}

/// The commands that undo the scenario: manifests deleted in reverse order, labels removed from
/// shared namespaces, owned namespaces deleted.
pub fn teardown_commands(loaded: &LoadedScenario) -> Vec<String> {
    let s = &loaded.scenario;
    let mut files: Vec<&Path> = s.setup.iter().map(|f| f.as_path()).collect();
    let mut shared_labels: Vec<(&str, Vec<&str>)> = Vec::new();
    for step in &s.steps {
        for action in &step.actions {
            match action {
                Action::Apply(fs) => files.extend(fs.iter().map(|f| f.as_path())),
                Action::Label(LabelAction {
                    target: LabelTarget::Namespace(ns),
                    set,
                    ..
                }) if !s.namespaces.contains(ns) => {
                    shared_labels.push((ns, set.keys().map(String::as_str).collect()));
                }
                _ => {}
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out: Vec<String> = files
        .into_iter()
        .rev()
        .filter(|f| seen.insert(*f))
        .map(|f| {
            format!(
                "kubectl delete --ignore-not-found -f {}",
                display(loaded, f)
            )
        })
        .collect();
    for (ns, keys) in shared_labels {
        let removals: Vec<String> = keys
            .iter()
            .map(|k| q(&format!("{k}-")).into_owned())
            .collect();
        out.push(format!(
            "kubectl label namespace {} {}",
            q(ns),
            removals.join(" ")
        ));
    }
    out.extend(
        s.namespaces
            .iter()
            .map(|ns| format!("kubectl delete namespace {}", q(ns))),
    );
    out
}

/// The command that runs one probe, as a reader would type it.
pub fn probe_command(step: &PlannedStep, probe: &PlannedProbe) -> String {
    let cluster = &step.model.cluster;
    let client_ns = match &probe.client {
        Client::Endpoint(key) => key.split_once('/').map_or("", |(ns, _)| ns),
        Client::Outside => "",
    };
    let port = probe.probe.port;
    let host = match &probe.target {
        Target::Endpoint(key) => pod_ip(cluster, key),
        Target::Service { namespace, name } if namespace == client_ns => q(name).into_owned(),
        Target::Service { namespace, name } => {
            q(&format!("{name}.{namespace}.svc.cluster.local")).into_owned()
        }
        Target::Ip(ip) => ip.to_string(),
        Target::Dns(name) => q(name).into_owned(),
        Target::Ingress(_) => "localhost".to_string(),
    };
    let t = PROBE_TIMEOUT_SECONDS;
    let tool = match probe.probe.kind {
        ScenarioProbeKind::Http => {
            let path = match &probe.target {
                Target::Ingress(path) => path.clone(),
                _ => probe.probe.path.clone().unwrap_or_else(|| "/".to_string()),
            };
            // The host may be a command substitution (a pod's address); the rest is quoted.
            let rest = match port {
                Some(p) if p != 80 => format!(":{p}{path}"),
                _ => path,
            };
            let url = format!("http://{host}{}", q(&rest));
            match (&probe.client, probe.probe.method.as_deref()) {
                (Client::Outside, _) => {
                    format!("curl -s -o /dev/null -w '%{{http_code}}\\n' -m 5 {url}")
                }
                (_, None | Some("GET")) => format!("wget -qO- -T {t} {url}"),
                (_, Some("POST")) => format!("wget -qO- -T {t} --post-data '' {url}"),
                (_, Some(method)) => {
                    format!("curl -s -o /dev/null -w '%{{http_code}}\\n' -m {t} -X {method} {url}")
                }
            }
        }
        ScenarioProbeKind::Tcp => format!("nc -z -w {t} {host} {}", port.unwrap_or_default()),
        ScenarioProbeKind::Udp => format!(
            "sh -c 'echo hostname | nc -u -w {t} {host} {}'",
            port.unwrap_or_default()
        ),
        ScenarioProbeKind::Sctp => format!(
            "/agnhost connect {host}:{} --protocol=sctp --timeout={t}s",
            port.unwrap_or_default()
        ),
        ScenarioProbeKind::Icmp => format!("ping -c 1 -W {t} {host}"),
        ScenarioProbeKind::Dns => format!("nslookup {host}"),
    };
    match &probe.client {
        Client::Outside => tool,
        Client::Endpoint(key) => format!("kubectl exec {} -- {tool}", exec_target(cluster, key)),
    }
}

/// A path written in the scenario as the reader finds it (under the scenario folder).
fn display(loaded: &LoadedScenario, file: &Path) -> String {
    q(&loaded.path(file).display().to_string()).into_owned()
}

/// `-n NS deploy/NAME`, `-n NS NAME` for a bare pod, or a pod found by its labels.
fn exec_target(cluster: &Cluster, key: &str) -> String {
    let (ns, name) = key.split_once('/').unwrap_or(("default", key));
    let (ns, name) = (q(ns), q(name));
    let Some(e) = cluster.endpoint(key).map(|id| cluster.get(id)) else {
        return format!("-n {ns} {name}");
    };
    let resource = match e.kind {
        WorkloadKind::Pod => return format!("-n {ns} {name}"),
        WorkloadKind::Deployment => "deploy",
        WorkloadKind::DaemonSet => "ds",
        WorkloadKind::StatefulSet => "sts",
        WorkloadKind::ReplicaSet => "rs",
        WorkloadKind::Job => "job",
        WorkloadKind::CronJob | WorkloadKind::Declared => {
            return format!(
                "-n {ns} $(kubectl get pod -n {ns} -l {} -o name | head -n 1)",
                selector(&e.labels)
            );
        }
    };
    format!("-n {ns} {resource}/{name}")
}

/// A shell substitution giving the pod address of an endpoint.
fn pod_ip(cluster: &Cluster, key: &str) -> String {
    let (ns, name) = key.split_once('/').unwrap_or(("default", key));
    let (ns, name) = (q(ns), q(name));
    match cluster.endpoint(key).map(|id| cluster.get(id)) {
        Some(e) if e.kind != WorkloadKind::Pod => format!(
            "$(kubectl get pod -n {ns} -l {} -o jsonpath='{{.items[0].status.podIP}}')",
            selector(&e.labels)
        ),
        _ => format!("$(kubectl get pod -n {ns} {name} -o jsonpath='{{.status.podIP}}')"),
    }
}

/// `k=v,k=v` as one shell word.
fn selector(labels: &crate::model::Labels) -> String {
    q(&labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(","))
    .into_owned()
}

fn label_command(loaded: &LoadedScenario, cluster: &Cluster, label: &LabelAction) -> String {
    let mut changes: Vec<String> = label
        .set
        .iter()
        .map(|(k, v)| q(&format!("{k}={v}")).into_owned())
        .collect();
    changes.extend(
        label
            .remove
            .iter()
            .map(|k| q(&format!("{k}-")).into_owned()),
    );
    let changes = changes.join(" ");
    match &label.target {
        LabelTarget::Namespace(ns) => {
            format!("kubectl label namespace {} {changes} --overwrite", q(ns))
        }
        LabelTarget::Pods(key) => {
            let (ns, name) = key.split_once('/').unwrap_or(("default", key));
            let (ns, name) = (q(ns), q(name));
            let kind = cluster.endpoint(key).map(|id| cluster.get(id).kind);
            if kind == Some(WorkloadKind::Pod) {
                return format!("kubectl label pod -n {ns} {name} {changes} --overwrite");
            }
            let (raw_ns, raw_name) = key.split_once('/').unwrap_or(("default", key));
            let sel = workload_selector(loaded, raw_ns, raw_name).unwrap_or_else(|| {
                // The pods' labels before this change.
                let mut labels = cluster
                    .endpoint(key)
                    .map(|id| cluster.get(id).labels.clone())
                    .unwrap_or_default();
                labels.retain(|k, _| !label.set.contains_key(k));
                selector(&labels)
            });
            format!("kubectl label pods -n {ns} --selector={sel} {changes} --overwrite")
        }
    }
}

/// The `matchLabels` of the workload `namespace/name`, from the manifests the scenario applies.
fn workload_selector(loaded: &LoadedScenario, ns: &str, name: &str) -> Option<String> {
    loaded.manifests.values().flatten().find_map(|doc| {
        if doc.name() != name || doc.namespace().unwrap_or("default") != ns {
            return None;
        }
        let labels = doc
            .value
            .pointer("/spec/selector/matchLabels")?
            .as_object()?;
        Some(
            q(&labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(","))
            .into_owned(),
        )
    })
}

fn wait_command(cluster: &Cluster, key: &str) -> String {
    let (ns, name) = key.split_once('/').unwrap_or(("default", key));
    let (ns, name) = (q(ns), q(name));
    let timeout = "--timeout=180s";
    match cluster.endpoint(key).map(|id| cluster.get(id)) {
        Some(e) => match e.kind {
            WorkloadKind::Deployment => {
                format!("kubectl rollout status -n {ns} deployment/{name} {timeout}")
            }
            WorkloadKind::DaemonSet => {
                format!("kubectl rollout status -n {ns} daemonset/{name} {timeout}")
            }
            WorkloadKind::StatefulSet => {
                format!("kubectl rollout status -n {ns} statefulset/{name} {timeout}")
            }
            WorkloadKind::Pod => {
                format!("kubectl wait -n {ns} --for=condition=Ready pod/{name} {timeout}")
            }
            _ => format!(
                "kubectl wait -n {ns} --for=condition=Ready pod -l {} {timeout}",
                selector(&e.labels)
            ),
        },
        None => format!("kubectl rollout status -n {ns} deployment/{name} {timeout}"),
    }
}
