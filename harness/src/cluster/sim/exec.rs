//! Simulated execs: the faults that make them fail, the probe tool detection, and probe batches
//! answered from the dataplane, within the latency model.

use std::time::Duration;

use tokio::time::Instant;

use super::output::result_line;
use super::{Call, SimCluster};
use crate::cluster::{ClusterError, ExecOutput, Family, PROBE_CONTAINER, PodRef};
use crate::oracle::Oracle;
use crate::probe::{
    Outcome, ProbeSpec, ProbeTool, batch_script, detect_tool_command, tool_of_image,
};

/// What an exec runs.
pub(super) enum Run<'a> {
    /// A command (only the probe tool detection is understood).
    Command(&'a [String]),
    /// A probe batch.
    Probes(&'a [ProbeSpec], ProbeTool),
}

impl SimCluster {
    /// Runs `run` in a container, now: the output, and how long the probes in it took.
    fn exec_now(
        &self,
        pod: &PodRef,
        container: &str,
        run: &Run<'_>,
    ) -> Result<(ExecOutput, Duration), ClusterError> {
        let failed = |message: &str| ClusterError::Exec {
            pod: pod.to_string(),
            container: container.to_string(),
            message: message.to_string(),
        };
        let mut st = self.state.lock().expect("lock");
        let st = &mut *st;
        let source = self.find_pod(st, pod)?;
        let is_probe = matches!(run, Run::Probes(..));
        if is_probe {
            st.probe_execs += 1;
        }
        if self.faults.failing_execs.contains(&source.endpoint)
            || (is_probe && st.probe_execs <= self.faults.failing_first_execs)
        {
            return Err(failed(
                "error dialing backend: read tcp 172.18.0.2:41234->172.18.0.3:10250: read: connection reset by peer (simulated)",
            ));
        }
        let probe_container = container == PROBE_CONTAINER;
        if probe_container && !st.probe_containers.contains(pod) {
            return Err(failed("container not found (\"netpol-probe\")"));
        }
        if !probe_container && self.faults.without_shell.contains(&source.endpoint) {
            return Err(failed(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"sh\": executable file not found in $PATH: unknown",
            ));
        }
        let (specs, tool) = match run {
            Run::Probes(specs, tool) => (*specs, *tool),
            Run::Command(command) if *command == detect_tool_command().as_slice() => {
                let tool = tool_of_image(&source.image).unwrap_or(ProbeTool::Agnhost);
                return Ok((
                    ExecOutput {
                        stdout: format!("{tool}\n"),
                        ..Default::default()
                    },
                    Duration::ZERO,
                ));
            }
            Run::Command(_) => return Err(failed("sh: unknown command (simulated)")),
        };
        // Refused exactly as the script builder refuses it.
        batch_script(specs, tool)?;
        let action = || format!("run probes in {pod} (container {container})");
        let dp = self.dataplane(st, false).map_err(|e| e.during(action()))?;
        let pods = self.pods(st).map_err(|e| e.during(action()))?;
        let oracle = Oracle::new(&dp.cluster, &dp.policies);
        // A dual-stack cluster's IPv6 packets carry the pods' IPv6 addresses.
        let dp6 = match self.dual_stack {
            true => Some(self.dataplane(st, true).map_err(|e| e.during(action()))?),
            false => None,
        };
        let oracle6 = dp6.as_ref().map(|d| Oracle::new(&d.cluster, &d.policies));
        let mut cost = Duration::ZERO;
        let mut answered = Vec::new();
        let mut timed_out = Vec::new();
        for spec in specs {
            let v6 = Family::of(&spec.host) == Some(Family::Ipv6);
            let outcome = match (&dp6, &oracle6) {
                (Some(dp6), Some(oracle6)) if v6 => {
                    self.evaluate(st, dp6, oracle6, &pods, &source, spec)
                }
                _ => self.evaluate(st, &dp, &oracle, &pods, &source, spec),
            };
            let line = result_line(spec, tool, &outcome);
            if outcome == Outcome::Blocked {
                cost = cost.max(spec.timeout);
                timed_out.push(line);
            } else {
                answered.push(line);
            }
        }
        let mut stdout: String = answered.into_iter().chain(timed_out).collect();
        stdout.push_str("NPH-END\n");
        Ok((
            ExecOutput {
                stdout,
                ..Default::default()
            },
            cost,
        ))
    }

    /// Runs `run` as an exec: recorded, within the exec slots and latency of the model.
    pub(super) async fn exec_timed(
        &self,
        pod: &PodRef,
        container: &str,
        run: Run<'_>,
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        self.record(Call::Exec {
            pod: pod.clone(),
            container: container.to_string(),
            probes: match &run {
                Run::Probes(specs, _) => Some(specs.len()),
                Run::Command(_) => None,
            },
        });
        let _permit = match &self.exec_slots {
            Some(slots) => Some(slots.clone().acquire_owned().await.expect("never closed")),
            None => None,
        };
        let round_trip = self
            .faults
            .latency
            .map_or(Duration::ZERO, |l| l.exec_round_trip);
        let started = Instant::now();
        if !round_trip.is_zero() {
            tokio::time::sleep(round_trip).await;
        }
        let (output, cost) = self.exec_now(pod, container, &run)?;
        if self.faults.latency.is_some() && !cost.is_zero() {
            tokio::time::sleep(cost).await;
        }
        if started.elapsed() > timeout {
            return Err(ClusterError::ExecTimeout {
                pod: pod.to_string(),
                container: container.to_string(),
                after: timeout,
            });
        }
        Ok(output)
    }
}
