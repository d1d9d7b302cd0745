//! The CRI steps the end-to-end tests are made of: configs as the kubelet
//! sends them, and small calls with their checks (pull, run, create + start,
//! wait for a state, stop + remove twice for idempotence, log line parsing).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cradle_proto::cri;

use crate::cgroup::CgroupParent;
use crate::client::Cri;
use crate::daemon::Daemon;
use crate::leaks;
use crate::names::random_suffix;

// ---- configs, as the kubelet would send them --------------------------------

/// A pod with its own net/ipc/uts namespaces, a log directory under the
/// daemon's temp dir and `cgroup` as its cgroup parent.
pub fn pod_config(daemon: &Daemon, cgroup: &CgroupParent) -> anyhow::Result<cri::PodSandboxConfig> {
    let name = format!("e2e-{}", random_suffix());
    let log_directory = daemon.logs_dir().join(&name);
    std::fs::create_dir_all(&log_directory)?;
    Ok(cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name,
            uid: random_suffix(),
            namespace: "cradle-e2e".into(),
            attempt: 0,
        }),
        hostname: "e2e-pod".into(),
        log_directory: log_directory.display().to_string(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: cgroup.path().to_string(),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: cri::NamespaceMode::Pod as i32,
                    pid: cri::NamespaceMode::Container as i32,
                    ipc: cri::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The pod's Linux security context, made empty where the config has none,
/// for a test to change.
pub fn pod_security(pod: &mut cri::PodSandboxConfig) -> &mut cri::LinuxSandboxSecurityContext {
    pod.linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default)
}

/// The container's Linux security context, made empty where the config has
/// none, for a test to change.
pub fn container_security(
    config: &mut cri::ContainerConfig,
) -> &mut cri::LinuxContainerSecurityContext {
    config
        .linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default)
}

/// A container named `hog` that holds 256 MiB in a shell variable and
/// prints its length: past a smaller memory limit the kernel kills it.
pub fn memory_hog_config(image: &str) -> cri::ContainerConfig {
    container_config(
        image,
        "hog",
        &[
            "sh",
            "-c",
            "x=$(head -c 268435456 /dev/zero | tr '\\000' a); echo ${#x}",
        ],
    )
}

/// A container running `command`, logging to `<name>.log` in the pod's log dir.
pub fn container_config(image: &str, name: &str, command: &[&str]) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        command: command.iter().map(|s| s.to_string()).collect(),
        log_path: format!("{name}.log"),
        linux: Some(cri::LinuxContainerConfig {
            security_context: Some(cri::LinuxContainerSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: cri::NamespaceMode::Pod as i32,
                    pid: cri::NamespaceMode::Container as i32,
                    ipc: cri::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

// ---- small steps ------------------------------------------------------------

/// PullImage; returns the image_ref.
pub async fn pull(cri: &mut Cri, image: &str) -> anyhow::Result<String> {
    let resp = cri
        .image
        .pull_image(cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .with_context(|| format!("PullImage {image}"))?
        .into_inner();
    Ok(resp.image_ref)
}

/// RunPodSandbox with the default handler; returns the pod id.
pub async fn run_pod(cri: &mut Cri, config: &cri::PodSandboxConfig) -> anyhow::Result<String> {
    run_pod_on(cri, config, "").await
}

/// RunPodSandbox with runtime handler `handler` (`""`, `cradle-oci`, `runc`).
pub async fn run_pod_on(
    cri: &mut Cri,
    config: &cri::PodSandboxConfig,
    handler: &str,
) -> anyhow::Result<String> {
    let resp = cri
        .runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: handler.into(),
        })
        .await
        .with_context(|| format!("RunPodSandbox (handler {handler:?})"))?;
    Ok(resp.into_inner().pod_sandbox_id)
}

/// The runtime handlers Status lists (without `""`, the default's alias),
/// each one a pod can be run with: the suite runs its lifecycle, exec and
/// log scenarios once per handler installed on this host.
pub async fn runtime_handlers(cri: &mut Cri) -> anyhow::Result<Vec<String>> {
    let status = cri
        .runtime
        .status(cri::StatusRequest::default())
        .await
        .context("Status")?
        .into_inner();
    Ok(status
        .runtime_handlers
        .into_iter()
        .map(|h| h.name)
        .filter(|name| !name.is_empty())
        .collect())
}

/// Whether the OCI runtime of `handler` can run a container on this host.
/// crun (1.8 and later) refuses every container on a hybrid host whose
/// cgroup2 `unified` mount holds controllers ("cgroups in hybrid mode not
/// supported"): such a host is detected from its mounts, not assumed.
pub fn runs_here(handler: &str) -> bool {
    let root = Path::new("/sys/fs/cgroup");
    let unified = std::fs::read_to_string(root.join("unified/cgroup.controllers"));
    let hybrid_with_controllers =
        !root.join("cgroup.controllers").exists() && unified.is_ok_and(|c| !c.trim().is_empty());
    !(handler == "crun" && hybrid_with_controllers)
}

/// The handlers of [`runtime_handlers`] that can run containers here
/// ([`runs_here`]); `cradle-oci` always.
pub async fn runnable_handlers(cri: &mut Cri) -> anyhow::Result<Vec<String>> {
    let mut handlers = runtime_handlers(cri).await?;
    handlers.retain(|h| runs_here(h));
    Ok(handlers)
}

/// CreateContainer alone; the gRPC status on failure, for a test that
/// expects a refusal.
pub async fn try_create(
    cri: &mut Cri,
    pod_id: &str,
    pod: &cri::PodSandboxConfig,
    config: cri::ContainerConfig,
) -> Result<String, tonic::Status> {
    cri.runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod_id.into(),
            config: Some(config),
            sandbox_config: Some(pod.clone()),
        })
        .await
        .map(|r| r.into_inner().container_id)
}

/// CreateContainer; returns the container id.
pub async fn create(
    cri: &mut Cri,
    pod_id: &str,
    pod: &cri::PodSandboxConfig,
    config: cri::ContainerConfig,
) -> anyhow::Result<String> {
    try_create(cri, pod_id, pod, config)
        .await
        .context("CreateContainer")
}

/// RemoveImage of `image`; the gRPC status on failure, for a test that
/// expects a refusal.
pub async fn remove_image(cri: &mut Cri, image: &str) -> Result<(), tonic::Status> {
    cri.image
        .remove_image(cri::RemoveImageRequest {
            image: Some(cri::ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
        })
        .await
        .map(|_| ())
}

/// ListImages, unfiltered.
pub async fn list_images(cri: &mut Cri) -> anyhow::Result<Vec<cri::Image>> {
    Ok(cri
        .image
        .list_images(cri::ListImagesRequest::default())
        .await
        .context("ListImages")?
        .into_inner()
        .images)
}

/// ListPodSandbox, unfiltered.
pub async fn list_pods(cri: &mut Cri) -> anyhow::Result<Vec<cri::PodSandbox>> {
    Ok(cri
        .runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await
        .context("ListPodSandbox")?
        .into_inner()
        .items)
}

/// ListContainers, unfiltered.
pub async fn list_containers(cri: &mut Cri) -> anyhow::Result<Vec<cri::Container>> {
    Ok(cri
        .runtime
        .list_containers(cri::ListContainersRequest::default())
        .await
        .context("ListContainers")?
        .into_inner()
        .containers)
}

/// The cgroup driver RuntimeConfig reports (a `cri::CgroupDriver`), if it
/// reports one.
pub async fn cgroup_driver(cri: &mut Cri) -> anyhow::Result<Option<i32>> {
    Ok(cri
        .runtime
        .runtime_config(cri::RuntimeConfigRequest::default())
        .await
        .context("RuntimeConfig")?
        .into_inner()
        .linux
        .map(|l| l.cgroup_driver))
}

/// UpdateContainerResources of `id` to `linux`.
pub async fn update_resources(
    cri: &mut Cri,
    id: &str,
    linux: cri::LinuxContainerResources,
) -> anyhow::Result<()> {
    cri.runtime
        .update_container_resources(cri::UpdateContainerResourcesRequest {
            container_id: id.into(),
            linux: Some(linux),
            ..Default::default()
        })
        .await
        .context("UpdateContainerResources")?;
    Ok(())
}

/// CreateContainer then StartContainer; returns the container id.
pub async fn create_and_start(
    cri: &mut Cri,
    pod_id: &str,
    pod: &cri::PodSandboxConfig,
    config: cri::ContainerConfig,
) -> anyhow::Result<String> {
    let id = create(cri, pod_id, pod, config).await?;
    cri.runtime
        .start_container(cri::StartContainerRequest {
            container_id: id.clone(),
        })
        .await
        .context("StartContainer")?;
    Ok(id)
}

/// ContainerStatus of `id`.
pub async fn container_status(cri: &mut Cri, id: &str) -> anyhow::Result<cri::ContainerStatus> {
    cri.runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        })
        .await
        .context("ContainerStatus")?
        .into_inner()
        .status
        .context("ContainerStatus without status")
}

/// ExecSync with a 10 s timeout: (exit code, stdout then stderr).
pub async fn exec(cri: &mut Cri, id: &str, cmd: &[&str]) -> anyhow::Result<(i32, String)> {
    let resp = cri
        .runtime
        .exec_sync(cri::ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout: 10,
        })
        .await
        .with_context(|| format!("ExecSync {cmd:?}"))?
        .into_inner();
    Ok((
        resp.exit_code,
        format!(
            "{}{}",
            String::from_utf8_lossy(&resp.stdout),
            String::from_utf8_lossy(&resp.stderr)
        ),
    ))
}

/// Polls ContainerStatus until `state`, for at most `timeout`.
pub async fn wait_for_state(
    cri: &mut Cri,
    id: &str,
    state: cri::ContainerState,
    timeout: Duration,
) -> anyhow::Result<cri::ContainerStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = container_status(cri, id).await?;
        if status.state == state as i32 {
            return Ok(status);
        }
        if Instant::now() > deadline {
            bail!("container {id} not {state:?} after {timeout:?}: {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// StopContainer + RemoveContainer, twice: the second round must succeed too.
pub async fn stop_and_remove_container(cri: &mut Cri, id: &str) -> anyhow::Result<()> {
    for _ in 0..2 {
        // The second round checks idempotence.
        cri.runtime
            .stop_container(cri::StopContainerRequest {
                container_id: id.into(),
                timeout: 0,
            })
            .await
            .context("StopContainer")?;
        cri.runtime
            .remove_container(cri::RemoveContainerRequest {
                container_id: id.into(),
            })
            .await
            .context("RemoveContainer")?;
    }
    Ok(())
}

/// StopPodSandbox + RemovePodSandbox, twice: the second round must succeed too.
pub async fn stop_and_remove_pod(cri: &mut Cri, id: &str) -> anyhow::Result<()> {
    for _ in 0..2 {
        cri.runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await
            .context("StopPodSandbox")?;
        cri.runtime
            .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await
            .context("RemovePodSandbox")?;
    }
    Ok(())
}

/// Best effort after a failure, so the leak report shows what removal
/// could not clean, not what the failed test never got to remove.
pub async fn remove_everything(cri: &mut Cri) {
    if let Ok(pods) = cri
        .runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await
    {
        for pod in pods.into_inner().items {
            let _ = stop_and_remove_pod(cri, &pod.id).await;
        }
    }
}

/// Finds the CRI log line `<timestamp> <stream> F <text>` in `path`.
pub fn has_log_line(path: &Path, stream: &str, text: &str) -> anyhow::Result<bool> {
    let content =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(content.lines().any(|line| {
        let mut fields = line.splitn(4, ' ');
        let (Some(ts), Some(s), Some(tag), Some(rest)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        // RFC 3339 with nanoseconds, e.g. 2026-01-02T15:04:05.000000000Z.
        let ts_ok = ts.len() >= 20 && ts.as_bytes()[4] == b'-' && ts.as_bytes()[10] == b'T';
        ts_ok && s == stream && tag == "F" && rest == text
    }))
}

/// The leak check's scope for a test: the daemon's dirs and the test's ids,
/// the running daemon excepted.
pub fn leak_scope(daemon: &Daemon, ids: &[&str]) -> leaks::Scope {
    leaks::Scope {
        dirs: vec![daemon.root(), daemon.state_dir()],
        ids: ids.iter().map(|s| s.to_string()).collect(),
        exclude_pids: daemon.pid().into_iter().collect(),
    }
}

/// The usual end of a scenario: `containers` stopped and removed (twice,
/// see [`stop_and_remove_container`]), then the pod, then the leak check
/// over all of them.
pub async fn remove_pod_and_check_leaks(
    cri: &mut Cri,
    daemon: &Daemon,
    pod_id: &str,
    containers: &[String],
) -> anyhow::Result<()> {
    for id in containers {
        stop_and_remove_container(cri, id).await?;
    }
    stop_and_remove_pod(cri, pod_id).await?;
    let mut all: Vec<&str> = containers.iter().map(String::as_str).collect();
    all.push(pod_id);
    leaks::assert_none(&leak_scope(daemon, &all));
    Ok(())
}
