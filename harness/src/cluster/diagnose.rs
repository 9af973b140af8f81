//! Why a pod is not ready, in the words a user needs: the image that cannot be pulled, the
//! scheduler's message, the last termination of a crash-looping container.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// Why the pods of something are not ready (one line per problem; empty when every pod is
/// Ready or there are none).
pub fn diagnose_pods(pods: &[Pod]) -> Vec<String> {
    pods.iter().flat_map(diagnose_pod).collect()
}

/// Why one pod is not ready; for a Ready pod, only ephemeral containers that do not start.
pub fn diagnose_pod(pod: &Pod) -> Vec<String> {
    let name = format!(
        "pod {}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or("?")
    );
    let Some(status) = &pod.status else {
        return vec![format!("{name}: no status yet (not scheduled)")];
    };
    let conditions = status.conditions.as_deref().unwrap_or_default();
    let condition = |t: &str| conditions.iter().find(|c| c.type_ == t);
    // A Ready pod can still have an ephemeral container that does not start.
    let ready = condition("Ready").is_some_and(|c| c.status == "True");
    let phase = status.phase.as_deref().unwrap_or("Unknown");
    let mut reasons = Vec::new();
    if let Some(c) = condition("PodScheduled")
        && !ready
        && c.status == "False"
    {
        reasons.push(format!(
            "{name}: Pending, not scheduled: {}",
            c.message
                .as_deref()
                .or(c.reason.as_deref())
                .unwrap_or("no reason given")
        ));
    }
    let images: Vec<(String, String)> = pod
        .spec
        .iter()
        .flat_map(|s| {
            s.init_containers
                .iter()
                .flatten()
                .chain(&s.containers)
                .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                .chain(
                    s.ephemeral_containers
                        .iter()
                        .flatten()
                        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default())),
                )
        })
        .collect();
    let statuses = status
        .init_container_statuses
        .iter()
        .flatten()
        .map(|s| ("init container", s))
        .chain(
            status
                .container_statuses
                .iter()
                .flatten()
                .map(|s| ("container", s)),
        )
        .chain(
            status
                .ephemeral_container_statuses
                .iter()
                .flatten()
                .map(|s| ("ephemeral container", s)),
        );
    for (what, s) in statuses {
        let ephemeral = what == "ephemeral container";
        if (ready && !ephemeral)
            || (ephemeral && s.state.as_ref().is_some_and(|st| st.running.is_some()))
        {
            continue;
        }
        if let Some(reason) = container_problem(s, &images) {
            reasons.push(format!("{name}: {what} {}: {reason}", s.name));
        }
    }
    if ready {
        return reasons;
    }
    if matches!(phase, "Failed" | "Succeeded") {
        reasons.push(format!(
            "{name}: phase {phase}{}",
            status
                .message
                .as_deref()
                .or(status.reason.as_deref())
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
    }
    if reasons.is_empty() {
        reasons.push(match condition("Ready") {
            Some(c) => format!(
                "{name}: phase {phase}, not Ready{}",
                c.message
                    .as_deref()
                    .or(c.reason.as_deref())
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ),
            None => format!("{name}: phase {phase}, not Ready"),
        });
    }
    reasons
}

/// What is wrong with one container, if anything.
fn container_problem(s: &ContainerStatus, images: &[(String, String)]) -> Option<String> {
    let state = s.state.as_ref()?;
    let image = images
        .iter()
        .find(|(n, _)| *n == s.name)
        .map(|(_, i)| i.as_str())
        .unwrap_or(s.image.as_str());
    if let Some(w) = &state.waiting {
        let reason = w.reason.as_deref().unwrap_or("Waiting");
        let message = w.message.as_deref().unwrap_or("");
        return Some(match reason {
            "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" | "ErrImageNeverPull" => {
                format!("{reason}: cannot pull image \"{image}\"{}", suffix(message))
            }
            "CrashLoopBackOff" => {
                let last = s
                    .last_state
                    .as_ref()
                    .and_then(|l| l.terminated.as_ref())
                    .map(|t| {
                        format!(
                            "; last termination: {} (exit code {}){}",
                            t.reason.as_deref().unwrap_or("terminated"),
                            t.exit_code,
                            suffix(t.message.as_deref().unwrap_or(""))
                        )
                    })
                    .unwrap_or_default();
                format!(
                    "CrashLoopBackOff, restarted {} times{last}",
                    s.restart_count
                )
            }
            "ContainerCreating" | "PodInitializing" if message.is_empty() => return None,
            other => format!("waiting: {other}{}", suffix(message)),
        });
    }
    if let Some(t) = &state.terminated
        && t.exit_code != 0
    {
        return Some(format!(
            "terminated: {} (exit code {}){}",
            t.reason.as_deref().unwrap_or("Error"),
            t.exit_code,
            suffix(t.message.as_deref().unwrap_or(""))
        ));
    }
    if state.running.is_some() && !s.ready {
        return Some("running but not Ready (its readiness probe fails)".to_string());
    }
    None
}

fn suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn image_pull_back_off_names_the_image() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "a-0", "namespace": "x"},
            "spec": {"containers": [{"name": "c", "image": "agnhost:typo"}]},
            "status": {"phase": "Pending",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": "c", "image": "agnhost:typo", "imageID": "",
                    "ready": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "ImagePullBackOff",
                        "message": "Back-off pulling image \"agnhost:typo\""}}}]}
        }));
        assert_eq!(
            diagnose_pod(&p),
            vec![
                "pod x/a-0: container c: ImagePullBackOff: cannot pull image \"agnhost:typo\": Back-off pulling image \"agnhost:typo\""
            ]
        );
    }

    #[test]
    fn pending_pods_carry_the_scheduler_message() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "a", "namespace": "x"},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient cpu."}]}
        }));
        assert_eq!(
            diagnose_pod(&p),
            vec!["pod x/a: Pending, not scheduled: 0/1 nodes are available: 1 Insufficient cpu."]
        );
    }

    #[test]
    fn crash_loops_show_the_last_termination() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "a", "namespace": "x"},
            "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": false,
                    "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                        "message": "bind: address already in use"}}}]}
        }));
        assert_eq!(
            diagnose_pod(&p),
            vec![
                "pod x/a: container c: CrashLoopBackOff, restarted 4 times; last termination: Error (exit code 1): bind: address already in use"
            ]
        );
    }

    #[test]
    fn ready_pods_have_nothing_to_say_and_unready_ones_always_say_something() {
        let ready = pod(serde_json::json!({
            "metadata": {"name": "a"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        }));
        assert!(diagnose_pod(&ready).is_empty());
        let starting = pod(serde_json::json!({
            "metadata": {"name": "a", "namespace": "x"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False",
                "reason": "ContainersNotReady"}],
                "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": false,
                    "restartCount": 0, "state": {"running": {}}}]}
        }));
        assert_eq!(
            diagnose_pod(&starting),
            vec!["pod x/a: container c: running but not Ready (its readiness probe fails)"]
        );
    }
}
