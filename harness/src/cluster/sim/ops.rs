//! [`ClusterOps`] on the simulated cluster.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use crate::cluster::{
    ClusterError, ClusterOps, ContainerInfo, EndpointRef, ExecOutput, LabelChange, Leftover,
    PROBE_CONTAINER, PodInfo, PodRef, RUN_LABEL, ServiceInfo, ServicePortInfo, diagnose_pod,
    inject_ownership, is_cluster_scoped, is_owned, ownership_labels, sweep_order,
};
use crate::manifest::Document;
use crate::model::{Labels, NAMESPACE_NAME_LABEL};
use crate::probe::{ProbeSpec, ProbeTool};

use super::exec::Run;
use super::model::key_of;
use super::{Call, SimCluster, SimError, SimPod, SimState, Snapshot};

impl SimCluster {
    /// What the runner sees of a simulated pod.
    fn pod_info(&self, st: &SimState, pod: &SimPod) -> PodInfo {
        PodInfo {
            pod: pod.pod.clone(),
            ips: std::iter::once(pod.ip).chain(pod.ip6).collect(),
            node: Some(pod.node.clone()),
            containers: vec![ContainerInfo {
                name: pod.container.clone(),
                image: pod.image.clone(),
            }],
            annotations: pod.annotations.clone(),
            running_ephemeral: if st.probe_containers.contains(&pod.pod) {
                vec![PROBE_CONTAINER.to_string()]
            } else {
                Vec::new()
            },
        }
    }
}

impl ClusterOps for SimCluster {
    async fn create_namespace(&self, name: &str) -> Result<(), ClusterError> {
        self.record(Call::CreateNamespace(name.to_string()));
        let mut st = self.state.lock().expect("lock");
        if let Some(labels) = st.namespaces.get(name)
            && !is_owned(Some(labels))
        {
            return Err(ClusterError::UnownedNamespace {
                namespace: name.to_string(),
            });
        }
        let mut labels = ownership_labels(&self.run_id());
        labels.insert(NAMESPACE_NAME_LABEL.to_string(), name.to_string());
        st.namespaces.insert(name.to_string(), labels);
        self.record_history(&mut st);
        Ok(())
    }

    async fn delete_namespace(&self, name: &str) -> Result<(), ClusterError> {
        self.record(Call::DeleteNamespace(name.to_string()));
        if !self.faults.delete_latency.is_zero() {
            tokio::time::sleep(self.faults.delete_latency).await;
        }
        let mut st = self.state.lock().expect("lock");
        let Some(labels) = st.namespaces.get(name) else {
            return Ok(());
        };
        if !is_owned(Some(labels)) {
            return Err(ClusterError::UnownedNamespace {
                namespace: name.to_string(),
            });
        }
        Self::remove_namespace(&mut st, name);
        self.record_history(&mut st);
        Ok(())
    }

    async fn apply(&self, docs: &[Document]) -> Result<(), ClusterError> {
        self.record(Call::Apply(docs.iter().map(key_of).collect()));
        let mut st = self.state.lock().expect("lock");
        for doc in docs {
            let key = key_of(doc);
            let mut value = doc.value.clone();
            inject_ownership(&mut value, &self.run_id());
            if doc.api_version() == "v1" && doc.kind() == "Namespace" {
                if let Some(existing) = st.namespaces.get(doc.name())
                    && !is_owned(Some(existing))
                {
                    return Err(ClusterError::UnownedNamespace {
                        namespace: doc.name().to_string(),
                    });
                }
                let mut labels: Labels = value
                    .pointer("/metadata/labels")
                    .and_then(|l| serde_json::from_value(l.clone()).ok())
                    .unwrap_or_default();
                labels.insert(NAMESPACE_NAME_LABEL.to_string(), doc.name().to_string());
                st.namespaces.insert(doc.name().to_string(), labels);
            } else if !is_cluster_scoped(doc.api_version(), doc.kind()) {
                let ns = doc.namespace().unwrap_or("default");
                if !st.namespaces.contains_key(ns) {
                    return Err(
                        SimError::NamespaceNotFound(ns.to_string()).during(format!("apply {key}"))
                    );
                }
            }
            st.objects.insert(
                key,
                Document {
                    source: doc.source.clone(),
                    value,
                },
            );
        }
        self.record_history(&mut st);
        Ok(())
    }

    async fn delete(&self, docs: &[Document]) -> Result<(), ClusterError> {
        self.record(Call::Delete(docs.iter().map(key_of).collect()));
        if !self.faults.delete_latency.is_zero() {
            tokio::time::sleep(self.faults.delete_latency).await;
        }
        let mut st = self.state.lock().expect("lock");
        for doc in docs.iter().rev() {
            st.objects.remove(&key_of(doc));
            if doc.api_version() == "v1" && doc.kind() == "Namespace" {
                Self::remove_namespace(&mut st, doc.name());
            }
        }
        self.record_history(&mut st);
        Ok(())
    }

    async fn label_namespace(
        &self,
        name: &str,
        change: LabelChange<'_>,
    ) -> Result<(), ClusterError> {
        self.record(Call::LabelNamespace(name.to_string()));
        let mut st = self.state.lock().expect("lock");
        let labels = st
            .namespaces
            .get_mut(name)
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("Namespace {name}"),
            })?;
        if !is_owned(Some(labels)) {
            return Err(ClusterError::UnownedNamespace {
                namespace: name.to_string(),
            });
        }
        change.apply_to(labels);
        self.record_history(&mut st);
        Ok(())
    }

    async fn label_pods(
        &self,
        endpoint: &EndpointRef,
        change: LabelChange<'_>,
    ) -> Result<(), ClusterError> {
        self.record(Call::LabelPods(endpoint.key()));
        let mut st = self.state.lock().expect("lock");
        let (cluster, _) = Self::model(&st, &Snapshot::default())
            .map_err(|e| e.during(format!("label the pods of {endpoint}")))?;
        let id = cluster
            .endpoint(&endpoint.key())
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("pods of {endpoint}"),
            })?;
        let mut labels = st
            .pod_labels
            .get(&endpoint.key())
            .cloned()
            .unwrap_or_else(|| cluster.get(id).labels.clone());
        change.apply_to(&mut labels);
        st.pod_labels.insert(endpoint.key(), labels);
        self.record_history(&mut st);
        Ok(())
    }

    async fn wait_ready(
        &self,
        endpoint: &EndpointRef,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        self.record(Call::WaitReady(endpoint.key()));
        if !self.faults.never_ready.contains(&endpoint.key()) {
            let mut st = self.state.lock().expect("lock");
            let pods = self
                .pods(&mut st)
                .map_err(|e| e.during(format!("wait for {endpoint}")))?;
            return if pods.iter().any(|p| p.endpoint == endpoint.key()) {
                Ok(())
            } else {
                Err(ClusterError::NotFound {
                    what: endpoint.to_string(),
                })
            };
        }
        tokio::time::sleep(timeout).await;
        let pods = {
            let mut st = self.state.lock().expect("lock");
            self.pods(&mut st)
                .map_err(|e| e.during(format!("wait for {endpoint}")))?
        };
        let reasons = pods
            .iter()
            .filter(|p| p.endpoint == endpoint.key())
            .flat_map(|p| {
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": p.pod.name, "namespace": p.pod.namespace},
                    "spec": {"containers": [{"name": p.container, "image": p.image}]},
                    "status": {"phase": "Pending",
                        "conditions": [{"type": "Ready", "status": "False"}],
                        "containerStatuses": [{"name": p.container, "image": p.image, "imageID": "",
                            "ready": false, "restartCount": 0,
                            "state": {"waiting": {"reason": "ImagePullBackOff",
                                "message": format!("Back-off pulling image \"{}\"", p.image)}}}]}
                }))
                .expect("a valid pod");
                diagnose_pod(&pod)
            })
            .collect();
        Err(ClusterError::NotReady {
            what: endpoint.to_string(),
            waited: timeout,
            reasons,
        })
    }

    async fn ready_pods(&self, endpoint: &EndpointRef) -> Result<Vec<PodInfo>, ClusterError> {
        if self.faults.never_ready.contains(&endpoint.key()) {
            return Ok(Vec::new());
        }
        let mut st = self.state.lock().expect("lock");
        let pods = self
            .pods(&mut st)
            .map_err(|e| e.during(format!("list the pods of {endpoint}")))?;
        Ok(pods
            .iter()
            .filter(|p| p.endpoint == endpoint.key())
            .map(|p| self.pod_info(&st, p))
            .collect())
    }

    async fn service(&self, namespace: &str, name: &str) -> Result<ServiceInfo, ClusterError> {
        let mut st = self.state.lock().expect("lock");
        let (cluster, _) = Self::model(&st, &Snapshot::default())
            .map_err(|e| e.during(format!("read Service {namespace}/{name}")))?;
        let service = cluster
            .service(namespace, name)
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("Service {namespace}/{name}"),
            })?;
        let ports = service
            .ports
            .iter()
            .map(|p| ServicePortInfo {
                name: p.name.clone(),
                port: p.port,
                protocol: p.protocol,
            })
            .collect();
        Ok(ServiceInfo {
            cluster_ips: self.service_ips(&mut st, namespace, name),
            ports,
        })
    }

    async fn exec(
        &self,
        pod: &PodRef,
        container: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        self.exec_timed(pod, container, Run::Command(command), timeout)
            .await
    }

    async fn run_probes(
        &self,
        pod: &PodRef,
        container: &str,
        specs: &[ProbeSpec],
        tool: ProbeTool,
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        self.exec_timed(pod, container, Run::Probes(specs, tool), timeout)
            .await
    }

    async fn add_probe_container(
        &self,
        pod: &PodRef,
        _image: &str,
        _timeout: Duration,
    ) -> Result<(), ClusterError> {
        self.record(Call::AddProbeContainer(pod.clone()));
        let mut st = self.state.lock().expect("lock");
        self.find_pod(&mut st, pod)?;
        st.probe_containers.insert(pod.clone());
        Ok(())
    }

    async fn sweep(
        &self,
        keep_run: Option<&str>,
        dry_run: bool,
    ) -> Result<Vec<Leftover>, ClusterError> {
        let mut st = self.state.lock().expect("lock");
        let earlier = |labels: &Labels| {
            is_owned(Some(labels))
                && keep_run.is_none_or(|run| labels.get(RUN_LABEL).map(String::as_str) != Some(run))
        };
        let mut found = Vec::new();
        for (name, labels) in &st.namespaces {
            if earlier(labels) {
                found.push(Leftover {
                    kind: "Namespace".into(),
                    api_version: "v1".into(),
                    namespace: None,
                    name: name.clone(),
                    run: labels.get(RUN_LABEL).cloned(),
                });
            }
        }
        for doc in st.objects.values() {
            let labels: Labels = doc
                .value
                .pointer("/metadata/labels")
                .and_then(|l| serde_json::from_value(l.clone()).ok())
                .unwrap_or_default();
            if earlier(&labels) && !(doc.api_version() == "v1" && doc.kind() == "Namespace") {
                found.push(Leftover {
                    kind: doc.kind().to_string(),
                    api_version: doc.api_version().to_string(),
                    namespace: (!is_cluster_scoped(doc.api_version(), doc.kind()))
                        .then(|| doc.namespace().unwrap_or("default").to_string()),
                    name: doc.name().to_string(),
                    run: labels.get(RUN_LABEL).cloned(),
                });
            }
        }
        let found = sweep_order(found);
        let key = |o: &Leftover| match &o.namespace {
            Some(ns) => format!("{} {ns}/{}", o.kind, o.name),
            None => format!("{} {}", o.kind, o.name),
        };
        st.calls.push(Call::Sweep(found.iter().map(key).collect()));
        if dry_run {
            return Ok(found);
        }
        for gone in &self.faults.vanishing_during_sweep {
            match gone.strip_prefix("Namespace ") {
                Some(ns) => Self::remove_namespace(&mut st, ns),
                None => {
                    st.objects.remove(gone);
                }
            }
        }
        for leftover in &found {
            if leftover.is_namespace() {
                Self::remove_namespace(&mut st, &leftover.name);
            } else if st.objects.remove(&key(leftover)).is_none() {
                tracing::info!("{leftover} was already gone");
            }
        }
        self.record_history(&mut st);
        Ok(found)
    }

    async fn await_namespaces_gone(
        &self,
        names: &[String],
        _timeout: Duration,
        progress: &(dyn Fn(&str, usize, usize) + Send + Sync),
    ) -> Result<Vec<String>, ClusterError> {
        // Simulated deletions are immediate: whatever is listed is gone or still there.
        let st = self.state.lock().expect("lock");
        let left: Vec<String> = names
            .iter()
            .filter(|n| st.namespaces.contains_key(*n))
            .cloned()
            .collect();
        for (i, name) in names.iter().filter(|n| !left.contains(n)).enumerate() {
            progress(name, i + 1, names.len());
        }
        Ok(left)
    }
}
