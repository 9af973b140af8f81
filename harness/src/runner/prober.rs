//! Finding how to probe from a pod: its container and probe tool (declared, known from its
//! image, or detected), else the ephemeral probe container.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Runner;
use super::scenario::ScenarioCtx;
use crate::cluster::{
    ClusterError, ClusterOps, DEFAULT_CONTAINER_ANNOTATION, PROBE_CONTAINER, PROBE_TOOL_ANNOTATION,
    PodInfo,
};
use crate::probe::{ProbeTool, detect_tool_command, parse_tool, tool_of_image};

/// Time the tool detection exec may take.
const DETECT_TIMEOUT: Duration = Duration::from_secs(20);

/// How to probe from a pod (its container and tool), or why it cannot be done.
pub(super) type ProberResult = Result<(String, ProbeTool), ProberError>;

/// Why a pod cannot be probed from.
#[derive(Debug, Clone, thiserror::Error)]
pub(super) enum ProberError {
    /// The pod lists no container.
    #[error("the pod has no container")]
    NoContainer,
    /// The ephemeral probe container could not be added.
    #[error(transparent)]
    Cluster(Arc<ClusterError>),
}

impl<C: ClusterOps> Runner<C> {
    /// The container to probe from in a pod, and its tool: found once per pod.
    pub(super) async fn prober_for(&self, ctx: &ScenarioCtx<'_>, pod: &PodInfo) -> ProberResult {
        let cell = ctx
            .probers
            .lock()
            .expect("lock")
            .entry(pod.pod.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| self.find_prober(ctx, pod))
            .await
            .clone()
    }

    /// The pod's declared tool, else its image's, else what the detection exec finds; with no
    /// tool (or no shell), the ephemeral probe container.
    async fn find_prober(&self, ctx: &ScenarioCtx<'_>, pod: &PodInfo) -> ProberResult {
        let probe_tool = tool_of_image(&self.options.probe_image).unwrap_or(ProbeTool::Agnhost);
        if pod.running_ephemeral.iter().any(|c| c == PROBE_CONTAINER) {
            return Ok((PROBE_CONTAINER.to_string(), probe_tool));
        }
        let container = pod
            .annotations
            .get(DEFAULT_CONTAINER_ANNOTATION)
            .cloned()
            .or_else(|| pod.containers.first().map(|c| c.name.clone()))
            .ok_or(ProberError::NoContainer)?;
        let image = pod
            .containers
            .iter()
            .find(|c| c.name == container)
            .map(|c| c.image.as_str())
            .unwrap_or("");
        let tool = match pod.annotations.get(PROBE_TOOL_ANNOTATION) {
            Some(word) => parse_tool(word),
            None => match tool_of_image(image) {
                Some(t) => Some(t),
                None => {
                    ctx.detect_execs.fetch_add(1, Ordering::Relaxed);
                    match self
                        .cluster
                        .exec(&pod.pod, &container, &detect_tool_command(), DETECT_TIMEOUT)
                        .await
                    {
                        Ok(out) if out.exit_code == 0 => parse_tool(&out.stdout),
                        _ => None,
                    }
                }
            },
        };
        if let Some(tool) = tool {
            return Ok((container, tool));
        }
        self.cluster
            .add_probe_container(
                &pod.pod,
                &self.options.probe_image,
                self.options.ready_timeout,
            )
            .await
            .map_err(|e| ProberError::Cluster(Arc::new(e)))?;
        Ok((PROBE_CONTAINER.to_string(), probe_tool))
    }
}
