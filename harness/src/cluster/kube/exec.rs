//! Running commands in pods: exec (its exit code from the final status), and the ephemeral probe
//! container for images without the probe tools.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status as ExecStatus;
use kube::api::{Api, AttachParams, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::KubeCluster;
use super::conditions::is_ephemeral_running;
use super::retry::{api_error, retry};
use crate::cluster::{ClusterError, ExecOutput, PROBE_CONTAINER, PodRef, diagnose_pod, is_owned};

/// Why an exec has no exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecStatusError {
    /// The stream ended without a final status.
    #[error("the exec stream ended without an exit status")]
    NoStatus,
    /// The status says the command did not run (or failed without an exit code): its message or
    /// reason.
    #[error("{0}")]
    NotRun(String),
}

/// The exit code from an exec's final status, or the reason the command did not run.
pub fn exit_code(status: Option<&ExecStatus>) -> Result<i32, ExecStatusError> {
    let Some(s) = status else {
        return Err(ExecStatusError::NoStatus);
    };
    if s.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    let code = s
        .details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|c| c.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
        .and_then(|c| c.message.as_deref()?.parse().ok());
    code.ok_or_else(|| {
        ExecStatusError::NotRun(
            s.message
                .clone()
                .or_else(|| s.reason.clone())
                .unwrap_or_else(|| "the command failed without an exit code".to_string()),
        )
    })
}

/// The strategic merge patch adding the probe container: the probe image kept alive doing
/// nothing, so that probes run in it by exec.
pub fn probe_container_patch(image: &str) -> Value {
    let command = if image.contains("agnhost") {
        json!(["/agnhost", "pause"])
    } else {
        json!(["sleep", "2147483647"])
    };
    json!({"spec": {"ephemeralContainers": [{
        "name": PROBE_CONTAINER,
        "image": image,
        "command": command,
        "stdin": false,
        "tty": false,
    }]}})
}

impl KubeCluster {
    /// [`ClusterOps::exec`](crate::cluster::ClusterOps::exec): not retried, within `timeout`.
    pub(super) async fn exec_in(
        &self,
        pod: &PodRef,
        container: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
        let failed = |message: String| ClusterError::Exec {
            pod: pod.to_string(),
            container: container.to_string(),
            message,
        };
        let run = async {
            let params = AttachParams::default()
                .container(container)
                .stdin(false)
                .stdout(true)
                .stderr(true);
            // Not retried: a probe batch that failed is probed again by the runner's polling,
            // which knows what it expects.
            let mut attached = api
                .exec(&pod.name, command.to_vec(), &params)
                .await
                .map_err(|e| api_error(format!("exec in {pod} (container {container})"), e))?;
            let status = attached.take_status();
            let mut stdout = attached
                .stdout()
                .ok_or_else(|| failed("no stdout".into()))?;
            let mut stderr = attached
                .stderr()
                .ok_or_else(|| failed("no stderr".into()))?;
            let (mut out, mut err) = (String::new(), String::new());
            // Both pipes must be drained together: each holds only 1 KiB.
            let (r1, r2) = tokio::join!(
                stdout.read_to_string(&mut out),
                stderr.read_to_string(&mut err)
            );
            r1.map_err(|e| failed(format!("reading stdout: {e}")))?;
            r2.map_err(|e| failed(format!("reading stderr: {e}")))?;
            let status = match status {
                Some(s) => s.await,
                None => None,
            };
            attached.join().await.map_err(|e| failed(e.to_string()))?;
            let exit_code = exit_code(status.as_ref()).map_err(|m| {
                failed(if err.is_empty() {
                    m.to_string()
                } else {
                    format!("{m}; stderr: {}", err.trim())
                })
            })?;
            Ok(ExecOutput {
                stdout: out,
                stderr: err,
                exit_code,
            })
        };
        tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| ClusterError::ExecTimeout {
                pod: pod.to_string(),
                container: container.to_string(),
                after: timeout,
            })?
    }

    /// [`ClusterOps::add_probe_container`](crate::cluster::ClusterOps::add_probe_container).
    pub(super) async fn attach_probe_container(
        &self,
        pod: &PodRef,
        image: &str,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
        let current = retry(|| api.get_opt(&pod.name))
            .await
            .map_err(|e| api_error(format!("read Pod {pod}"), e))?
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("Pod {pod}"),
            })?;
        if !is_owned(current.metadata.labels.as_ref()) {
            return Err(ClusterError::UnownedObject {
                kind: "Pod".into(),
                name: pod.to_string(),
            });
        }
        let present = current
            .spec
            .as_ref()
            .and_then(|s| s.ephemeral_containers.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.name == PROBE_CONTAINER));
        if !present {
            let patch = Patch::Strategic(probe_container_patch(image));
            let params = PatchParams::default();
            retry(|| api.patch_ephemeral_containers(&pod.name, &params, &patch))
                .await
                .map_err(|e| api_error(format!("add the probe container to Pod {pod}"), e))?;
        }
        if self
            .wait_for(
                api.clone(),
                &pod.name,
                is_ephemeral_running(PROBE_CONTAINER),
                timeout,
            )
            .await?
        {
            return Ok(());
        }
        let reasons = match api.get_opt(&pod.name).await {
            Ok(Some(p)) => diagnose_pod(&p)
                .into_iter()
                .filter(|r| r.contains(PROBE_CONTAINER))
                .collect(),
            _ => Vec::new(),
        };
        Err(ClusterError::NotReady {
            what: format!("ephemeral container {PROBE_CONTAINER} ({image}) in Pod {pod}"),
            waited: timeout,
            reasons: if reasons.is_empty() {
                vec!["it has not started".to_string()]
            } else {
                reasons
            },
        })
    }
}
