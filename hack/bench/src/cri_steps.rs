//! One benchmark iteration over the CRI, as the kubelet drives a short pod:
//! RunPodSandbox → CreateContainer → StartContainer → poll until EXITED →
//! Stop/RemoveContainer → Stop/RemovePodSandbox, each phase timed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cradle_proto::cri;

use crate::client::Cri;

/// What every pod and container of a run shares.
#[derive(Debug, Clone)]
pub struct PodTemplate {
    pub image: String,
    pub command: Vec<String>,
    pub host_network: bool,
    pub handler: String,
    /// Parent of the per-pod log directories (exists).
    pub log_root: std::path::PathBuf,
    /// `cgroup_parent` of every pod, e.g. `/cradle-bench-<pid>`.
    pub cgroup_parent: String,
    /// ContainerStatus polling interval while waiting for EXITED.
    pub poll: Duration,
    pub exit_timeout: Duration,
    /// Labels of every pod and container (what a cleanup sweep selects).
    pub labels: HashMap<String, String>,
}

/// The timed phases of one iteration.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub run_pod: Duration,
    pub create: Duration,
    pub start: Duration,
    /// From StartContainer's return until ContainerStatus says EXITED.
    pub wait_exited: Duration,
    pub teardown: Duration,
    /// The four calls of the teardown, each on its own.
    pub calls: TeardownCalls,
}

/// How long each call of a teardown took (zero when not made).
#[derive(Debug, Clone, Copy, Default)]
pub struct TeardownCalls {
    pub stop_container: Duration,
    pub remove_container: Duration,
    pub stop_pod: Duration,
    pub remove_pod: Duration,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A name unique to this process and call: `bench-<pid>-<n>`.
pub fn unique_name() -> String {
    format!(
        "bench-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

fn namespaces(t: &PodTemplate) -> cri::NamespaceOption {
    cri::NamespaceOption {
        network: if t.host_network {
            cri::NamespaceMode::Node
        } else {
            cri::NamespaceMode::Pod
        } as i32,
        pid: cri::NamespaceMode::Container as i32,
        ipc: cri::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

/// A pod config as the kubelet would send it, with a fresh name and log dir.
pub fn pod_config(t: &PodTemplate) -> anyhow::Result<cri::PodSandboxConfig> {
    let name = unique_name();
    let log_directory = t.log_root.join(&name);
    std::fs::create_dir_all(&log_directory)
        .with_context(|| format!("{}", log_directory.display()))?;
    Ok(cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.clone(),
            uid: name,
            namespace: "cradle-bench".into(),
            attempt: 0,
        }),
        hostname: "bench".into(),
        labels: t.labels.clone(),
        log_directory: log_directory.display().to_string(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: t.cgroup_parent.clone(),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces(t)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn container_config(t: &PodTemplate, command: &[String]) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: "c".into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: t.image.clone(),
            ..Default::default()
        }),
        command: command.to_vec(),
        log_path: "c.log".into(),
        labels: t.labels.clone(),
        linux: Some(cri::LinuxContainerConfig {
            security_context: Some(cri::LinuxContainerSecurityContext {
                namespace_options: Some(namespaces(t)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// RunPodSandbox; returns the pod id.
pub async fn run_pod(
    cri: &mut Cri,
    t: &PodTemplate,
    config: &cri::PodSandboxConfig,
) -> anyhow::Result<String> {
    Ok(cri
        .runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: t.handler.clone(),
        })
        .await
        .context("RunPodSandbox")?
        .into_inner()
        .pod_sandbox_id)
}

/// CreateContainer; returns the container id.
pub async fn create(
    cri: &mut Cri,
    t: &PodTemplate,
    pod_id: &str,
    pod: &cri::PodSandboxConfig,
    command: &[String],
) -> anyhow::Result<String> {
    Ok(cri
        .runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod_id.into(),
            config: Some(container_config(t, command)),
            sandbox_config: Some(pod.clone()),
        })
        .await
        .context("CreateContainer")?
        .into_inner()
        .container_id)
}

pub async fn start(cri: &mut Cri, id: &str) -> anyhow::Result<()> {
    cri.runtime
        .start_container(cri::StartContainerRequest {
            container_id: id.into(),
        })
        .await
        .context("StartContainer")?;
    Ok(())
}

/// Polls ContainerStatus every `poll` until `state`, for at most `timeout`.
pub async fn wait_state(
    cri: &mut Cri,
    id: &str,
    state: cri::ContainerState,
    poll: Duration,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = cri
            .runtime
            .container_status(cri::ContainerStatusRequest {
                container_id: id.into(),
                verbose: false,
            })
            .await
            .context("ContainerStatus")?
            .into_inner()
            .status
            .context("ContainerStatus without status")?;
        if status.state == state as i32 {
            if state == cri::ContainerState::ContainerExited && status.exit_code != 0 {
                bail!(
                    "container exited with {} ({}): {}",
                    status.exit_code,
                    status.reason,
                    status.message
                );
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "container {id} not {state:?} after {timeout:?} (state {})",
                status.state
            );
        }
        tokio::time::sleep(poll).await;
    }
}

/// Stop + remove the container (if any), then stop + remove the pod; how
/// long each call took.
pub async fn teardown(
    cri: &mut Cri,
    pod_id: &str,
    container_id: Option<&str>,
) -> anyhow::Result<TeardownCalls> {
    let mut calls = TeardownCalls::default();
    if let Some(id) = container_id {
        let t = Instant::now();
        cri.runtime
            .stop_container(cri::StopContainerRequest {
                container_id: id.into(),
                timeout: 0,
            })
            .await
            .context("StopContainer")?;
        calls.stop_container = t.elapsed();
        let t = Instant::now();
        cri.runtime
            .remove_container(cri::RemoveContainerRequest {
                container_id: id.into(),
            })
            .await
            .context("RemoveContainer")?;
        calls.remove_container = t.elapsed();
    }
    let t = Instant::now();
    cri.runtime
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod_id.into(),
        })
        .await
        .context("StopPodSandbox")?;
    calls.stop_pod = t.elapsed();
    let t = Instant::now();
    cri.runtime
        .remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod_id.into(),
        })
        .await
        .context("RemovePodSandbox")?;
    calls.remove_pod = t.elapsed();
    Ok(calls)
}

/// One timed pod lifecycle. On failure the pod is removed (untimed, best
/// effort) so a failed iteration leaves nothing behind.
pub async fn iteration(cri: &mut Cri, t: &PodTemplate) -> anyhow::Result<Timings> {
    let pod = pod_config(t)?;
    let t0 = Instant::now();
    let pod_id = run_pod(cri, t, &pod).await?;
    let run_pod_d = t0.elapsed();
    let mut container = None;
    let result = async {
        let t1 = Instant::now();
        let id = create(cri, t, &pod_id, &pod, &t.command).await?;
        container = Some(id.clone());
        let create_d = t1.elapsed();
        let t2 = Instant::now();
        start(cri, &id).await?;
        let start_d = t2.elapsed();
        let t3 = Instant::now();
        wait_state(
            cri,
            &id,
            cri::ContainerState::ContainerExited,
            t.poll,
            t.exit_timeout,
        )
        .await?;
        Ok::<_, anyhow::Error>((create_d, start_d, t3.elapsed()))
    }
    .await;
    let t4 = Instant::now();
    let torn = teardown(cri, &pod_id, container.as_deref()).await;
    let teardown_d = t4.elapsed();
    let (create_d, start_d, wait_d) = result?;
    let calls = torn?;
    remove_log_dir(t, &pod);
    Ok(Timings {
        run_pod: run_pod_d,
        create: create_d,
        start: start_d,
        wait_exited: wait_d,
        teardown: teardown_d,
        calls,
    })
}

/// The pod's log directory, once the pod is gone (best effort).
pub fn remove_log_dir(t: &PodTemplate, pod: &cri::PodSandboxConfig) {
    if let Some(m) = &pod.metadata {
        let dir: &Path = &t.log_root.join(&m.name);
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_within_a_run() {
        let a = unique_name();
        let b = unique_name();
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("bench-{}-", std::process::id())));
    }
}
