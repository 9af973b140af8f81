//! Finding how to probe from a pod: its container and probe tool (declared, known from its
//! image, or detected), else the ephemeral probe container.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Runner;
use super::scenario::ScenarioCtx;
use crate::cluster::{
    ClusterOps, DEFAULT_CONTAINER_ANNOTATION, PROBE_CONTAINER, PROBE_TOOL_ANNOTATION, PodInfo,
};
use crate::probe::{ProbeTool, detect_tool_command, parse_tool, tool_of_image};

/// Time the tool detection exec may take.
const DETECT_TIMEOUT: Duration = Duration::from_secs(20);

/// How to probe from a pod (its container and tool), or why it cannot be done.
pub(super) type ProberResult = Result<(String, ProbeTool), String>;

impl<C: ClusterOps> Runner<C> {
    /// The container to probe from in a pod, and its tool: found once per pod.
    pub(super) async fn prober_for(
        &self,
        ctx: &ScenarioCtx<'_>,
        pod: &PodInfo,
    ) -> Result<(String, ProbeTool), String> {
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
    async fn find_prober(
        &self,
        ctx: &ScenarioCtx<'_>,
        pod: &PodInfo,
    ) -> Result<(String, ProbeTool), String> {
        let probe_tool = tool_of_image(&self.options.probe_image).unwrap_or(ProbeTool::Agnhost);
        if pod.running_ephemeral.iter().any(|c| c == PROBE_CONTAINER) {
            return Ok((PROBE_CONTAINER.to_string(), probe_tool));
        }
        let container = pod
            .annotations
            .get(DEFAULT_CONTAINER_ANNOTATION)
            .cloned()
            .or_else(|| pod.containers.first().map(|c| c.name.clone()))
            .ok_or("the pod has no container")?;
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
            .map_err(|e| e.to_string())?;
        Ok((PROBE_CONTAINER.to_string(), probe_tool))
    }
}
