//! Checks `up` makes before it creates anything: the host ports the kind config publishes can be
//! bound, a rootless Docker or Podman may publish them, and the kernel modules the CNI needs are
//! there. Each failure says what to run on the host, so it arrives in seconds rather than after a
//! 15-minute readiness wait.
//!
//! The host's kernel state is read under a root directory (`/` for real, a fake tree in tests):
//! `proc/sys/…`, `sys/module/…` and `lib/modules/RELEASE/modules.{dep,builtin}`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::ProvisionError;
use super::cni::CniProfile;
use super::commands::{Cmd, CommandRunner};
use super::kind_config::KindConfig;

/// What the container engine says about itself (the fields of `docker info --format '{{json .}}'`
/// and `podman info --format json` that matter here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineInfo {
    /// Whether it runs rootless (docker: a `name=rootless` security option; podman:
    /// `host.security.rootless`), as kind v0.32.0 detects it
    /// (kubernetes-sigs/kind@v0.32.0:pkg/cluster/internal/providers/docker/provider.go#L310-L323,
    /// `providers/podman/provider.go#L362-L421`).
    pub rootless: bool,
    /// The kernel release the engine's containers run on, if it said.
    pub kernel: Option<String>,
    /// `docker` or `podman`.
    pub engine: &'static str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerInfo {
    #[serde(default)]
    security_options: Vec<String>,
    #[serde(default)]
    kernel_version: Option<String>,
}

#[derive(Deserialize)]
struct PodmanInfo {
    host: PodmanHost,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodmanHost {
    #[serde(default)]
    security: PodmanSecurity,
    #[serde(default)]
    kernel: Option<String>,
}

#[derive(Deserialize, Default)]
struct PodmanSecurity {
    #[serde(default)]
    rootless: bool,
}

/// Asks the engine kind uses (`podman` when `KIND_EXPERIMENTAL_PROVIDER=podman`, as
/// kind@v0.32.0:pkg/internal/runtime/runtime.go reads it) whether it is rootless and which kernel
/// it runs on. An engine that does not answer in the expected shape counts as rootful with an
/// unknown kernel: the checks that need to know are then skipped, not failed.
pub async fn engine_info(runner: &impl CommandRunner, podman: bool) -> EngineInfo {
    if podman {
        let out = runner
            .run(&Cmd::new("podman").args(["info", "--format", "json"]))
            .await;
        let info = out
            .ok()
            .filter(|o| o.success())
            .and_then(|o| serde_json::from_str::<PodmanInfo>(&o.stdout).ok());
        return EngineInfo {
            rootless: info.as_ref().is_some_and(|i| i.host.security.rootless),
            kernel: info.and_then(|i| i.host.kernel),
            engine: "podman",
        };
    }
    let out = runner
        .run(&Cmd::new("docker").args(["info", "--format", "{{json .}}"]))
        .await;
    let info = out
        .ok()
        .filter(|o| o.success())
        .and_then(|o| serde_json::from_str::<DockerInfo>(&o.stdout).ok());
    EngineInfo {
        rootless: info.as_ref().is_some_and(|i| {
            i.security_options
                .iter()
                .any(|o| o.split(',').any(|f| f.trim() == "name=rootless"))
        }),
        kernel: info.and_then(|i| i.kernel_version),
        engine: "docker",
    }
}

/// Every host address and port the config's nodes publish.
fn published(config: &KindConfig) -> Vec<(IpAddr, u16)> {
    config
        .nodes
        .iter()
        .flat_map(|n| &n.extra_port_mappings)
        .map(|m| {
            let addr = m
                .listen_address
                .as_deref()
                .and_then(|a| a.parse().ok())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            (addr, m.host_port)
        })
        .collect()
}

/// What stops a new cluster from publishing its ports: a port already taken, or a privileged
/// port under a rootless engine that may not bind it. Empty if nothing does.
pub fn port_problems(config: &KindConfig, engine: &EngineInfo, root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let unprivileged_start: u16 =
        std::fs::read_to_string(root.join("proc/sys/net/ipv4/ip_unprivileged_port_start"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1024);
    for (addr, port) in published(config) {
        if engine.rootless && port < unprivileged_start {
            // kind's rootless guide: kubernetes-sigs/kind@v0.32.0:site/content/docs/user/rootless.md#L198-L215
            problems.push(format!(
                "rootless {} cannot publish host port {port}: net.ipv4.ip_unprivileged_port_start is \
                 {unprivileged_start}. Run `sudo sysctl -w net.ipv4.ip_unprivileged_port_start={port}` \
                 (and put it in /etc/sysctl.d/ to keep it), or publish other ports with \
                 `up --ingress-ports 8080,8443`",
                engine.engine
            ));
            continue;
        }
        // Something already listening there answers a connection on loopback. (Binding the
        // port instead would race with the engine, and a rootful engine binds below 1024 as root
        // anyway.) Addresses other than loopback or "any" are left to the engine.
        let target = match addr {
            IpAddr::V4(a) if a.is_unspecified() || a.is_loopback() => {
                SocketAddr::from((Ipv4Addr::LOCALHOST, port))
            }
            IpAddr::V6(a) if a.is_unspecified() || a.is_loopback() => {
                SocketAddr::from((Ipv6Addr::LOCALHOST, port))
            }
            _ => continue,
        };
        if TcpStream::connect_timeout(&target, Duration::from_secs(1)).is_ok() {
            problems.push(format!(
                "host port {addr}:{port} is already in use (another kind cluster's ingress?): free \
                 it, or publish other ports with `up --ingress-ports HTTP,HTTPS`"
            ));
        }
    }
    problems
}

/// Whether kernel module `module` is loaded (`sys/module/NAME`) or at least installed for
/// `release` (listed in `modules.dep` or `modules.builtin`).
fn module_state(root: &Path, release: &str, module: &str) -> (bool, bool) {
    let loaded = root.join("sys/module").join(module).exists();
    let dir = root.join("lib/modules").join(release);
    let listed = |file: &str| {
        std::fs::read_to_string(dir.join(file)).is_ok_and(|text| {
            text.lines().any(|l| {
                let path = l.split(':').next().unwrap_or("");
                let name = path.rsplit('/').next().unwrap_or("");
                name.split(".ko").next() == Some(module) && name.contains(".ko")
            })
        })
    };
    (loaded, listed("modules.dep") || listed("modules.builtin"))
}

/// What `cni` needs from the kernel that this host lacks (problems), and what is worth knowing
/// (notes). Only checked when the engine runs on this host's kernel: a Docker Desktop VM has its
/// own, which only the nodes can see.
pub fn module_check(
    cni: &CniProfile,
    engine: &EngineInfo,
    root: &Path,
) -> (Vec<String>, Vec<String>) {
    let (mut problems, mut notes) = (Vec::new(), Vec::new());
    if cni.kernel_modules.is_empty() {
        return (problems, notes);
    }
    let host = std::fs::read_to_string(root.join("proc/sys/kernel/osrelease"))
        .ok()
        .map(|s| s.trim().to_string());
    let (Some(host), Some(kernel)) = (host, engine.kernel.as_deref()) else {
        notes.push(format!(
            "cannot tell whether the kernel {} runs on has {}: not checked",
            engine.engine,
            cni.kernel_modules.join(" and ")
        ));
        return (problems, notes);
    };
    if host != kernel.trim() {
        notes.push(format!(
            "{} runs on another kernel ({kernel}) than this host ({host}), e.g. in a VM: {} {} not \
             checked before creating the cluster",
            engine.engine,
            cni.kernel_modules.join(" and "),
            if cni.kernel_modules.len() == 1 {
                "is"
            } else {
                "are"
            }
        ));
        return (problems, notes);
    }
    for module in cni.kernel_modules {
        match module_state(root, &host, module) {
            (true, _) => {}
            (false, true) => notes.push(format!(
                "kernel module {module} is not loaded; it is installed, and gets loaded from the \
                 privileged kind nodes (or run `sudo modprobe {module}` first)"
            )),
            (false, false) => problems.push(format!(
                "{} needs the kernel module {module}, which is neither loaded nor installed for \
                 kernel {host}: run `sudo modprobe {module}` on the host (install your \
                 distribution's extra kernel modules package if modprobe cannot find it)",
                cni.name
            )),
        }
    }
    (problems, notes)
}

/// The preflight error, if there are problems.
pub fn fail_on(problems: Vec<String>) -> Result<(), ProvisionError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ProvisionError::Preflight { problems })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::commands::{Reply, ScriptedRunner};
    use std::net::TcpListener;

    fn config(host_port: u16) -> KindConfig {
        KindConfig::parse(&format!(
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n\
             - role: worker\n  extraPortMappings:\n  - containerPort: 80\n    hostPort: {host_port}\n    \
             listenAddress: 127.0.0.1\n"
        ))
        .unwrap()
    }

    fn rootful() -> EngineInfo {
        EngineInfo {
            rootless: false,
            kernel: None,
            engine: "docker",
        }
    }

    #[test]
    fn a_taken_host_port_is_found_before_the_cluster_is_created() {
        let root = tempfile::tempdir().unwrap();
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let problems = port_problems(&config(port), &rootful(), root.path());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains(&format!("127.0.0.1:{port} is already in use"))
                && problems[0].contains("--ingress-ports"),
            "{problems:?}"
        );
        drop(taken);
        assert_eq!(
            port_problems(&config(port), &rootful(), root.path()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn rootless_engines_get_the_sysctl_that_lets_them_publish_port_80() {
        let root = tempfile::tempdir().unwrap();
        let sysctl = root
            .path()
            .join("proc/sys/net/ipv4/ip_unprivileged_port_start");
        std::fs::create_dir_all(sysctl.parent().unwrap()).unwrap();
        std::fs::write(&sysctl, "1024\n").unwrap();
        let rootless = EngineInfo {
            rootless: true,
            ..rootful()
        };
        let problems = port_problems(&config(80), &rootless, root.path());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("sudo sysctl -w net.ipv4.ip_unprivileged_port_start=80"),
            "{problems:?}"
        );
        std::fs::write(&sysctl, "80\n").unwrap();
        let free = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        assert!(port_problems(&config(port), &rootless, root.path()).is_empty());
    }

    #[tokio::test]
    async fn rootless_is_read_as_kind_reads_it() {
        let docker = ScriptedRunner::new().on(
            "docker info --format '{{json .}}'",
            Reply::ok(
                r#"{"SecurityOptions":["name=seccomp,profile=builtin","name=rootless","name=cgroupns"],"KernelVersion":"6.8.0-1017-azure"}"#,
            ),
        );
        let info = engine_info(&docker, false).await;
        assert!(info.rootless);
        assert_eq!(info.kernel.as_deref(), Some("6.8.0-1017-azure"));
        let plain = ScriptedRunner::new().on(
            "docker info",
            Reply::ok(r#"{"SecurityOptions":["name=seccomp,profile=builtin"]}"#),
        );
        assert!(!engine_info(&plain, false).await.rootless);
        let podman = ScriptedRunner::new().on(
            "podman info --format json",
            Reply::ok(r#"{"host":{"kernel":"6.9.1","security":{"rootless":true}}}"#),
        );
        let info = engine_info(&podman, true).await;
        assert_eq!((info.rootless, info.engine), (true, "podman"));
        // Garbage is "don't know", never an error.
        let odd = ScriptedRunner::new().on("docker info", Reply::ok("29.0.1"));
        assert_eq!(engine_info(&odd, false).await, rootful());
    }

    fn kernel_tree(release: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let osrelease = root.path().join("proc/sys/kernel/osrelease");
        std::fs::create_dir_all(osrelease.parent().unwrap()).unwrap();
        std::fs::write(&osrelease, format!("{release}\n")).unwrap();
        std::fs::create_dir_all(root.path().join("lib/modules").join(release)).unwrap();
        std::fs::create_dir_all(root.path().join("sys/module")).unwrap();
        root
    }

    #[test]
    fn a_module_neither_loaded_nor_installed_stops_up_with_the_host_command() {
        let flannel = CniProfile::by_name("flannel").unwrap();
        let root = kernel_tree("6.8.0");
        let engine = EngineInfo {
            kernel: Some("6.8.0".into()),
            ..rootful()
        };
        let (problems, _) = module_check(&flannel, &engine, root.path());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("br_netfilter")
                && problems[0].contains("sudo modprobe br_netfilter"),
            "{problems:?}"
        );

        // Installed but not loaded: the nodes load it.
        std::fs::write(
            root.path().join("lib/modules/6.8.0/modules.dep"),
            "kernel/net/bridge/br_netfilter.ko.zst: kernel/net/bridge/bridge.ko.zst\n",
        )
        .unwrap();
        let (problems, notes) = module_check(&flannel, &engine, root.path());
        assert!(problems.is_empty(), "{problems:?}");
        assert!(notes[0].contains("not loaded"), "{notes:?}");

        // Loaded: nothing to say.
        std::fs::create_dir_all(root.path().join("sys/module/br_netfilter")).unwrap();
        assert_eq!(
            module_check(&flannel, &engine, root.path()),
            (vec![], vec![])
        );

        // Antrea needs openvswitch; kindnet needs nothing.
        let (problems, _) = module_check(
            &CniProfile::by_name("antrea").unwrap(),
            &engine,
            root.path(),
        );
        assert!(problems[0].contains("openvswitch"), "{problems:?}");
        let kindnet = CniProfile::by_name("kindnet").unwrap();
        assert_eq!(
            module_check(&kindnet, &engine, root.path()),
            (vec![], vec![])
        );
    }

    #[test]
    fn an_engine_on_another_kernel_is_not_judged_by_this_hosts_modules() {
        let flannel = CniProfile::by_name("flannel").unwrap();
        let root = kernel_tree("6.8.0");
        let vm = EngineInfo {
            kernel: Some("6.10.14-linuxkit".into()),
            ..rootful()
        };
        let (problems, notes) = module_check(&flannel, &vm, root.path());
        assert!(problems.is_empty());
        assert!(notes[0].contains("6.10.14-linuxkit"), "{notes:?}");
    }
}
