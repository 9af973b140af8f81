//! The host tools `up` and `down` need (docker, kind, kubectl, helm when a profile uses it), each
//! missing one listed with how to get it.

use crate::provision::cni::CniProfile;
use crate::provision::commands::{Cmd, CmdError, CommandRunner};
use crate::provision::{MissingTool, ProvisionError};

pub(super) fn missing(tool: &'static str, problem: String) -> MissingTool {
    let hint = match tool {
        "docker" => {
            "Install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, and start it"
        }
        "kind" => {
            "Install kind v0.32.0: `go install sigs.k8s.io/kind@v0.32.0`, or a release binary (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
        }
        "kubectl" => "Install kubectl (https://kubernetes.io/docs/tasks/tools/)",
        _ => {
            "Install Helm 3 (https://helm.sh/docs/intro/install/); the cilium and antrea profiles install through it"
        }
    };
    MissingTool {
        tool,
        problem,
        hint,
    }
}

/// Checks every tool `up` needs and returns what `kind version` printed.
pub(super) async fn check_tools(
    runner: &impl CommandRunner,
    cni: &CniProfile,
) -> Result<String, ProvisionError> {
    let mut problems = Vec::new();
    let mut kind_version = String::new();

    let mut checks = vec![
        (
            "docker",
            Cmd::new("docker").args(["info", "--format", "{{.ServerVersion}}"]),
        ),
        ("kind", Cmd::new("kind").arg("version")),
        ("kubectl", Cmd::new("kubectl").args(["version", "--client"])),
    ];
    if cni.needs_helm() {
        checks.push(("helm", Cmd::new("helm").args(["version", "--short"])));
    }
    for (tool, cmd) in checks {
        match runner.run(&cmd).await {
            Err(CmdError::NotFound { .. }) => {
                problems.push(missing(tool, "not found on PATH".into()));
            }
            Err(e) => return Err(e.into()),
            Ok(out) if !out.success() => {
                let said = out
                    .stderr
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or("no output")
                    .to_string();
                if tool == "docker" {
                    problems.push(MissingTool {
                        tool,
                        problem: format!(
                            "the Docker daemon does not answer `docker info` ({said})"
                        ),
                        hint: "Start it (`sudo systemctl start docker`, or open Docker Desktop)",
                    });
                } else {
                    problems.push(missing(tool, format!("`{cmd}` failed ({said})")));
                }
            }
            Ok(out) => {
                if tool == "kind" {
                    kind_version = out.stdout;
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(ProvisionError::MissingTools { missing: problems });
    }
    if cni.default_cni && parse_version(&kind_version).is_some_and(|v| v < (0, 24, 0)) {
        return Err(ProvisionError::KindTooOld {
            found: kind_version.trim().to_string(),
            cni: cni.name.to_string(),
        });
    }
    Ok(kind_version)
}

/// The first `vX.Y.Z` in `kind version`'s output.
pub(super) fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    text.split_whitespace().find_map(|word| {
        let mut parts = word.strip_prefix('v')?.splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch: String = parts
            .next()?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Some((major, minor, patch.parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND_V: &str = "kind v0.32.0 go1.24.6 linux/amd64";

    #[test]
    fn kind_versions_parse() {
        assert_eq!(parse_version(KIND_V), Some((0, 32, 0)));
        assert_eq!(
            parse_version("kind v0.24.0-alpha+abc go1.22"),
            Some((0, 24, 0))
        );
        assert_eq!(parse_version("kind version unknown"), None);
    }
}
