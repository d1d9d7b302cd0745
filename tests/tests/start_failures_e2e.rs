//! A container that cannot start says why. A memory limit too small for
//! the process to start reports the OOM kill (not "the container process
//! exited before reporting"), and an environment too big for execve
//! reports E2BIG's "argument list too long" (not an exit 127 with an empty
//! message), in the StartContainer error or the container's status.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::time::Duration;

use anyhow::ensure;
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, container_status, create, pod_config, pull, remove_pod_and_check_leaks,
    run_pod, wait_for_state,
};
use cradle_tests::{World, skip_unless_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_failures_carry_their_cause() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = scenario(&mut w).await;
    w.finish_with_log(result).await;
}

/// Creates and starts `config`; returns the StartContainer error (if any)
/// and the container's status once exited, both as text.
async fn run_to_exit(
    w: &mut World,
    pod_id: &str,
    pod: &cri::PodSandboxConfig,
    config: cri::ContainerConfig,
) -> anyhow::Result<(String, String, cri::ContainerStatus)> {
    let id = create(&mut w.cri, pod_id, pod, config).await?;
    let started = w
        .cri
        .runtime
        .start_container(cri::StartContainerRequest {
            container_id: id.clone(),
        })
        .await;
    let error = started
        .err()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    let status = wait_for_state(
        &mut w.cri,
        &id,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(30),
    )
    .await?;
    Ok((id, error, status))
}

async fn scenario(w: &mut World) -> anyhow::Result<()> {
    let image = w.registry.image_ref();
    pull(&mut w.cri, &image).await?;
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod(&mut w.cri, &pod).await?;
    let mut ids = Vec::new();

    // A limit the process cannot even start under.
    let mut tiny = container_config(&image, "tiny", &["sleep", "3600"]);
    tiny.linux.get_or_insert_with(Default::default).resources =
        Some(cri::LinuxContainerResources {
            memory_limit_in_bytes: 16 << 10,
            ..Default::default()
        });
    let (id, error, status) = run_to_exit(w, &pod_id, &pod, tiny).await?;
    ids.push(id);
    let said = format!("{error} | {} | {}", status.reason, status.message);
    ensure!(
        status.reason == "OOMKilled" || said.contains("memory limit"),
        "a process killed by its memory limit at start is reported as: {said}"
    );
    ensure!(status.exit_code != 0, "exit code {status:?}");

    // An environment over what execve takes (E2BIG).
    let mut big = container_config(&image, "bigenv", &["true"]);
    big.envs = (0..3)
        .map(|i| cri::KeyValue {
            key: format!("BIG{i}"),
            value: "x".repeat(1 << 20).into(),
        })
        .collect();
    let (id, error, status) = run_to_exit(w, &pod_id, &pod, big).await?;
    ids.push(id.clone());
    let said = format!("{error} | {} | {}", status.reason, status.message);
    ensure!(
        said.to_lowercase().contains("argument list too long"),
        "an execve refused with E2BIG is reported as: {said}"
    );
    ensure!(status.exit_code != 0, "exit code {status:?}");
    let _ = container_status(&mut w.cri, &id).await?;

    remove_pod_and_check_leaks(&mut w.cri, &w.daemon, &pod_id, &ids).await
}
