//! Probe rounds: grouping cells into execs (one per source pod, or one per cell), running them
//! all at once (or at most so many, slowest first), and reading back what each probe observed.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt;

use super::converge::ProbeCell;
use super::resolve::ProbeOrigin;
use super::scenario::ScenarioCtx;
use super::{Batching, Runner};
use crate::cluster::{ClusterError, ClusterOps, PodRef};
use crate::probe::{Outcome, ProbeKind, ProbeResult, ProbeSpec, parse_output};
use crate::scenario::format::Expectation;

/// Time an exec may take beyond its slowest probe's timeout (connection, process start, busybox
/// rounding timeouts up to whole seconds and its hard cap).
const EXEC_SLACK: Duration = Duration::from_secs(15);

/// The Host header of HTTP probes from outside (what `curl http://localhost/…` sends; the
/// planner predicts that routes for a specific host never match).
const OUTSIDE_HOST: &str = "localhost";

/// A batch to run: the cells one exec (or the outside client) serves.
struct Job {
    source: ProbeOrigin,
    cells: Vec<(usize, ProbeSpec)>,
}

/// What a job observed.
struct JobResult {
    observations: Vec<(usize, Outcome, String)>,
    execs: usize,
}

impl<C: ClusterOps> Runner<C> {
    /// Probes the cells `which`, one exec per source pod (or per cell), and records what each
    /// observed. Returns the number of probe execs.
    pub(super) async fn probe_round(
        &self,
        ctx: &ScenarioCtx<'_>,
        cells: &mut [ProbeCell],
        which: &[usize],
    ) -> usize {
        let mut jobs: Vec<Job> = Vec::new();
        let mut by_pod: BTreeMap<PodRef, usize> = BTreeMap::new();
        for &i in which {
            let cell = &cells[i];
            let entry = (i, cell.spec.clone());
            match &cell.source {
                ProbeOrigin::Pod(pod) if self.options.batching == Batching::PerSource => {
                    match by_pod.get(&pod.pod) {
                        Some(&j) => jobs[j].cells.push(entry),
                        None => {
                            by_pod.insert(pod.pod.clone(), jobs.len());
                            jobs.push(Job {
                                source: cell.source.clone(),
                                cells: vec![entry],
                            });
                        }
                    }
                }
                ProbeOrigin::Pod(_) | ProbeOrigin::Outside => jobs.push(Job {
                    source: cell.source.clone(),
                    cells: vec![entry],
                }),
                ProbeOrigin::Unresolved => {}
            }
        }
        // Slowest first: a batch with a probe expected to time out takes the full timeout, so
        // starting those first lets the quick batches fill the slots they leave, instead of a
        // slow batch waiting for a slot behind quick ones.
        let slow = |job: &Job| {
            job.cells.iter().any(|(i, _)| {
                cells[*i].expected == Expectation::Blocked
                    || cells[*i]
                        .history
                        .last()
                        .is_some_and(|(o, _)| *o == Outcome::Blocked)
            })
        };
        jobs.sort_by_key(|j| !slow(j));
        let at_once = self.options.max_parallel_execs.unwrap_or(jobs.len()).max(1);
        let results: Vec<JobResult> = futures::stream::iter(jobs)
            .map(|job| self.run_job(ctx, job))
            .buffer_unordered(at_once)
            .collect()
            .await;
        let mut execs = 0;
        for result in results {
            execs += result.execs;
            for (i, outcome, detail) in result.observations {
                cells[i].history.push((outcome, detail));
            }
        }
        execs
    }

    async fn run_job(&self, ctx: &ScenarioCtx<'_>, job: Job) -> JobResult {
        let fail_all = |message: String, execs: usize| JobResult {
            observations: job
                .cells
                .iter()
                .map(|(i, _)| (*i, Outcome::Error(message.clone()), String::new()))
                .collect(),
            execs,
        };
        let pod = match &job.source {
            ProbeOrigin::Pod(pod) => pod,
            ProbeOrigin::Outside => {
                let mut observations = Vec::new();
                for (i, spec) in &job.cells {
                    let ProbeKind::Http { method, path } = &spec.kind else {
                        observations.push((
                            *i,
                            Outcome::Error("probes from outside are HTTP only".into()),
                            String::new(),
                        ));
                        continue;
                    };
                    let (outcome, detail) = self
                        .outside
                        .http(method.as_str(), path, OUTSIDE_HOST, spec.timeout)
                        .await;
                    observations.push((*i, outcome, detail));
                }
                return JobResult {
                    observations,
                    execs: 0,
                };
            }
            ProbeOrigin::Unresolved => return fail_all("unresolved".into(), 0),
        };
        let (container, tool) = match self.prober_for(ctx, pod).await {
            Ok(found) => found,
            Err(e) => return fail_all(format!("cannot probe from {}: {e}", pod.pod), 0),
        };
        let specs: Vec<ProbeSpec> = job.cells.iter().map(|(_, s)| s.clone()).collect();
        let timeout = specs.iter().map(|s| s.timeout).max().unwrap_or_default() + EXEC_SLACK;
        let output = match self
            .cluster
            .run_probes(&pod.pod, &container, &specs, tool, timeout)
            .await
        {
            Ok(o) => o,
            Err(ClusterError::Probe(e)) => {
                return fail_all(format!("cannot build the probe batch: {e}"), 0);
            }
            Err(e) => return fail_all(e.to_string(), 1),
        };
        let results = match parse_output(&output.stdout, &specs) {
            Ok(r) => r,
            Err(e) => {
                return fail_all(
                    format!(
                        "cannot read the probe output ({e}); exit code {}, stderr: {}",
                        output.exit_code,
                        output.stderr.trim()
                    ),
                    1,
                );
            }
        };
        let by_id: HashMap<&str, &ProbeResult> =
            results.iter().map(|r| (r.id.as_str(), r)).collect();
        JobResult {
            observations: job
                .cells
                .iter()
                .map(|(i, spec)| match by_id.get(spec.id.as_str()) {
                    Some(r) => (*i, r.outcome.clone(), r.detail.clone()),
                    None => (
                        *i,
                        Outcome::Error("the probe batch reported nothing for this probe".into()),
                        String::new(),
                    ),
                })
                .collect(),
            execs: 1,
        }
    }
}
