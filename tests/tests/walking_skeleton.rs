//! The walking skeleton, end to end over the CRI socket: a real daemon, a
//! real registry on 127.0.0.1, real namespaces, overlay rootfs and shims.
//! Root only; skipped with a message elsewhere.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    cgroup_driver, container_config, create_and_start, has_log_line, leak_scope, list_containers,
    list_images, list_pods, pod_config, pull, remove_everything, run_pod, run_pod_on,
    runnable_handlers, stop_and_remove_container, stop_and_remove_pod, wait_for_state,
};
use cradle_tests::{CgroupParent, Cri, Daemon, Registry, World, leaks, skip_unless_ready};
use tonic::Code;

// ---- the tests ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_runs_a_container_logs_its_output_and_leaves_nothing_behind() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = walking_skeleton(&mut w.cri, &w.daemon, &w.registry, &w.cgroup).await;
    w.finish(result).await;
}

async fn walking_skeleton(
    cri: &mut Cri,
    daemon: &Daemon,
    registry: &Registry,
    cgroup: &CgroupParent,
) -> anyhow::Result<()> {
    // Version, Status, RuntimeConfig.
    let version = cri
        .runtime
        .version(cri::VersionRequest::default())
        .await?
        .into_inner();
    ensure!(
        version.version == "0.1.0",
        "Version.version {:?}",
        version.version
    );
    ensure!(
        version.runtime_name == "cradle",
        "runtime_name {:?}",
        version.runtime_name
    );
    ensure!(
        version.runtime_api_version == "v1",
        "runtime_api_version {:?}",
        version.runtime_api_version
    );
    let status = cri
        .runtime
        .status(cri::StatusRequest::default())
        .await?
        .into_inner();
    let conditions = status.status.context("Status without status")?.conditions;
    let condition = |t: &str| conditions.iter().find(|c| c.r#type == t).cloned();
    ensure!(
        condition("RuntimeReady").is_some_and(|c| c.status),
        "RuntimeReady: {conditions:?}"
    );
    let network = condition("NetworkReady").context("no NetworkReady condition")?;
    ensure!(
        !network.status && network.reason == "NetworkPluginNotReady",
        "NetworkReady with an empty CNI dir: {network:?}"
    );
    ensure!(
        cgroup_driver(cri).await? == Some(cri::CgroupDriver::Cgroupfs as i32),
        "RuntimeConfig cgroup driver is not CGROUPFS"
    );

    // Images: pull, list, status of an absent one.
    let image = registry.image_ref();
    let image_ref = pull(cri, &image).await?;
    ensure!(
        image_ref.starts_with("sha256:") && image_ref.len() == 71,
        "image_ref {image_ref:?}"
    );
    let images = list_images(cri).await?;
    let listed = images
        .iter()
        .find(|i| i.id == image_ref)
        .context("pulled image not listed")?;
    ensure!(
        listed.repo_tags.contains(&image),
        "repo_tags {:?} lack {image}",
        listed.repo_tags
    );
    let absent = cri
        .image
        .image_status(cri::ImageStatusRequest {
            image: Some(cri::ImageSpec {
                image: format!("{}/absent:latest", registry.host()),
                ..Default::default()
            }),
            verbose: false,
        })
        .await
        .context("ImageStatus of an absent image must be OK")?
        .into_inner();
    ensure!(
        absent.image.is_none(),
        "ImageStatus of an absent image: {:?}",
        absent.image
    );

    // A pod and a container that prints to stdout and stderr, then exits
    // 0, once per runtime handler that can run containers on this host.
    let mut ids = Vec::new();
    for handler in runnable_handlers(cri).await? {
        let (pod_id, id) = container_on(cri, daemon, cgroup, &image, &image_ref, &handler)
            .await
            .with_context(|| format!("handler {handler:?}"))?;
        ids.extend([pod_id, id]);
    }
    cri.image
        .remove_image(cri::RemoveImageRequest {
            image: Some(cri::ImageSpec {
                image: image_ref.clone(),
                ..Default::default()
            }),
        })
        .await
        .context("RemoveImage")?;
    let images = list_images(cri).await?;
    ensure!(
        images.iter().all(|i| i.id != image_ref),
        "image still listed after RemoveImage"
    );
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let found = leaks::find(&leak_scope(daemon, &ids));
    ensure!(found.is_empty(), "leaks:\n  {}", found.join("\n  "));
    Ok(())
}

/// One pod on `handler` with a container that prints to stdout and
/// stderr, then exits 0: its status, timestamps and log lines, then the
/// teardown, each step twice. Returns the pod's and the container's ids.
async fn container_on(
    cri: &mut Cri,
    daemon: &Daemon,
    cgroup: &CgroupParent,
    image: &str,
    image_ref: &str,
    handler: &str,
) -> anyhow::Result<(String, String)> {
    let pod = pod_config(daemon, cgroup)?;
    let pod_id = run_pod_on(cri, &pod, handler).await?;
    ensure!(pod_id.len() == 64, "pod id {pod_id:?}");
    let command = [
        "sh",
        "-c",
        "echo hello from cradle; echo err >&2; hostname; grep CapEff /proc/self/status",
    ];
    let started = Instant::now();
    let id = create_and_start(cri, &pod_id, &pod, container_config(image, "c1", &command)).await?;
    eprintln!("create + start took {:?}", started.elapsed());
    let status = wait_for_state(
        cri,
        &id,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(30),
    )
    .await?;
    ensure!(status.exit_code == 0, "exit code {}", status.exit_code);
    ensure!(status.reason == "Completed", "reason {:?}", status.reason);
    // All set, and none before the creation. TODO: also assert
    // finished_at >= started_at once the daemon takes started_at from the
    // shim: today a container that exits during StartContainer is recorded
    // as started after it finished.
    ensure!(
        status.created_at > 0
            && status.started_at >= status.created_at
            && status.finished_at >= status.created_at,
        "timestamps: created {} started {} finished {}",
        status.created_at,
        status.started_at,
        status.finished_at
    );
    ensure!(
        status.image_ref == image_ref,
        "status image_ref {:?}",
        status.image_ref
    );
    let log = Path::new(&pod.log_directory).join("c1.log");
    ensure!(
        status.log_path == log.display().to_string(),
        "log_path {:?}",
        status.log_path
    );
    ensure!(
        has_log_line(&log, "stdout", "hello from cradle")?,
        "no stdout line in {}",
        std::fs::read_to_string(&log)?
    );
    // The sandbox's UTS namespace and containerd's 14 default capabilities.
    ensure!(
        has_log_line(&log, "stdout", "e2e-pod")?,
        "no hostname line in {}",
        std::fs::read_to_string(&log)?
    );
    ensure!(
        has_log_line(&log, "stdout", "CapEff:\t00000000a80425fb")?,
        "no default CapEff line in {}",
        std::fs::read_to_string(&log)?
    );
    ensure!(
        has_log_line(&log, "stderr", "err")?,
        "no stderr line in {}",
        std::fs::read_to_string(&log)?
    );

    // Teardown, each step twice (idempotent), then nothing may be left.
    stop_and_remove_container(cri, &id).await?;
    stop_and_remove_pod(cri, &pod_id).await?;
    Ok((pod_id, id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_container_survives_a_daemon_restart() {
    skip_unless_ready!(true);
    let cgroup = CgroupParent::new();
    let registry = Registry::start().expect("registry");
    let mut daemon = Daemon::start().expect("cradled");
    let mut cri = daemon.connect().await.expect("connect");
    let result = survives_restart(&mut cri, &mut daemon, &registry, &cgroup).await;
    if let Err(e) = result {
        if let Ok(mut cri) = daemon.connect().await {
            remove_everything(&mut cri).await;
        }
        panic!("{e:#}");
    }
}

async fn survives_restart(
    cri: &mut Cri,
    daemon: &mut Daemon,
    registry: &Registry,
    cgroup: &CgroupParent,
) -> anyhow::Result<()> {
    let image = registry.image_ref();
    let image_ref = pull(cri, &image).await?;
    let pod = pod_config(daemon, cgroup)?;
    let pod_id = run_pod(cri, &pod).await?;
    let id = create_and_start(
        cri,
        &pod_id,
        &pod,
        container_config(&image, "sleeper", &["sleep", "3600"]),
    )
    .await?;
    wait_for_state(
        cri,
        &id,
        cri::ContainerState::ContainerRunning,
        Duration::from_secs(10),
    )
    .await?;

    daemon.restart()?;
    let mut cri = daemon.connect().await?;
    let pods = list_pods(&mut cri).await?;
    let listed = pods
        .iter()
        .find(|p| p.id == pod_id)
        .context("pod not listed after restart")?;
    ensure!(
        listed.state == cri::PodSandboxState::SandboxReady as i32,
        "pod state after restart: {listed:?}"
    );
    let containers = list_containers(&mut cri).await?;
    let listed = containers
        .iter()
        .find(|c| c.id == id)
        .context("container not listed after restart")?;
    ensure!(
        listed.state == cri::ContainerState::ContainerRunning as i32,
        "container after restart: {listed:?}"
    );

    // sleep as pid 1 ignores SIGTERM: the stop must escalate to SIGKILL.
    cri.runtime
        .stop_container(cri::StopContainerRequest {
            container_id: id.clone(),
            timeout: 2,
        })
        .await
        .context("StopContainer")?;
    let status = wait_for_state(
        &mut cri,
        &id,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(10),
    )
    .await?;
    ensure!(
        matches!(status.exit_code, 137 | 143),
        "exit code after stop: {}",
        status.exit_code
    );
    stop_and_remove_container(&mut cri, &id).await?;
    stop_and_remove_pod(&mut cri, &pod_id).await?;
    cri.image
        .remove_image(cri::RemoveImageRequest {
            image: Some(cri::ImageSpec {
                image: image_ref,
                ..Default::default()
            }),
        })
        .await
        .context("RemoveImage")?;
    let found = leaks::find(&leak_scope(daemon, &[&pod_id, &id]));
    ensure!(found.is_empty(), "leaks:\n  {}", found.join("\n  "));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_errors_carry_the_status_codes_the_kubelet_expects() {
    skip_unless_ready!(false);
    let cgroup = CgroupParent::new();
    let daemon = Daemon::start().expect("cradled");
    let mut cri = daemon.connect().await.expect("connect");
    if let Err(e) = error_codes(&mut cri, &daemon, &cgroup).await {
        remove_everything(&mut cri).await;
        panic!("{e:#}");
    }
}

fn expect_code<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, tonic::Status>,
    code: Code,
) -> anyhow::Result<()> {
    match result {
        Err(status) if status.code() == code => Ok(()),
        Err(status) => bail!(
            "{what}: expected {code:?}, got {:?}: {}",
            status.code(),
            status.message()
        ),
        Ok(v) => bail!("{what}: expected {code:?}, got OK: {v:?}"),
    }
}

async fn error_codes(cri: &mut Cri, daemon: &Daemon, cgroup: &CgroupParent) -> anyhow::Result<()> {
    let unknown = "0".repeat(64);
    let r = cri
        .runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: unknown.clone(),
            verbose: false,
        })
        .await;
    expect_code("ContainerStatus of an unknown id", r, Code::NotFound)?;
    let r = cri
        .runtime
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: unknown.clone(),
            verbose: false,
        })
        .await;
    expect_code("PodSandboxStatus of an unknown id", r, Code::NotFound)?;
    let r = cri
        .runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(cri::PodSandboxConfig::default()),
            runtime_handler: String::new(),
        })
        .await;
    expect_code("RunPodSandbox without metadata", r, Code::InvalidArgument)?;
    // An RPC no walking-skeleton milestone builds: checkpointing.
    let r = cri
        .runtime
        .checkpoint_container(cri::CheckpointContainerRequest {
            container_id: unknown.clone(),
            location: "/tmp/never-written.tar".into(),
            timeout: 1,
        })
        .await;
    expect_code("CheckpointContainer (not built)", r, Code::Unimplemented)?;

    // Stop/Remove of unknown objects succeed (idempotence).
    cri.runtime
        .stop_container(cri::StopContainerRequest {
            container_id: unknown.clone(),
            timeout: 0,
        })
        .await?;
    cri.runtime
        .remove_container(cri::RemoveContainerRequest {
            container_id: unknown.clone(),
        })
        .await?;
    cri.runtime
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: unknown.clone(),
        })
        .await?;
    cri.runtime
        .remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: unknown,
        })
        .await?;

    // The same pod twice.
    let pod = pod_config(daemon, cgroup)?;
    let pod_id = run_pod(cri, &pod).await?;
    let again = cri
        .runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(pod.clone()),
            runtime_handler: String::new(),
        })
        .await;
    let duplicate = expect_code(
        "RunPodSandbox of the same pod twice",
        again,
        Code::AlreadyExists,
    );
    stop_and_remove_pod(cri, &pod_id).await?;
    duplicate?;
    let found = leaks::find(&leak_scope(daemon, &[&pod_id]));
    ensure!(found.is_empty(), "leaks:\n  {}", found.join("\n  "));
    Ok(())
}
