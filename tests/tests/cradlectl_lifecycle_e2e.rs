//! A pod's whole life through `cradlectl` alone, against a running cradled:
//! `pull`, `runp`, `create`, `start`, `exec`, `update`, `stop`, `rm`,
//! `stopp`, `rmp` and `rmi`, each checked through the CRI, then the leak
//! check. (Listing, inspecting, logs, stats and events are
//! cradlectl_e2e's; check and gc have files of their own.) Root and
//! docker-registry only; skipped with a message elsewhere.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::time::Duration;

use anyhow::{Context, ensure};
use cradle_proto::cri;
use cradle_tests::cradlectl::{describe, run};
use cradle_tests::steps::{
    container_status, list_images, remove_pod_and_check_leaks, wait_for_state,
};
use cradle_tests::{Daemon, World, random_suffix, skip_unless_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cradlectl_runs_a_pod_from_pull_to_rmi() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = scenario(&mut w).await;
    w.finish_with_log(result).await;
}

/// Runs cradlectl, which must succeed; its stdout, trimmed.
async fn ok(daemon: &Daemon, args: &[&str]) -> anyhow::Result<String> {
    let out = run(daemon, args).await?;
    ensure!(
        out.status.success(),
        "cradlectl {args:?}: {}",
        describe(&out)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

async fn scenario(w: &mut World) -> anyhow::Result<()> {
    let image = w.registry.image_ref();
    let image_id = ok(&w.daemon, &["pull", &image]).await?;
    ensure!(image_id.starts_with("sha256:"), "pull printed {image_id:?}");

    let name = format!("cli-{}", random_suffix());
    let log_dir = w.daemon.logs_dir().join(&name);
    std::fs::create_dir_all(&log_dir)?;
    let log_dir = log_dir.display().to_string();
    let pod_id = ok(
        &w.daemon,
        &[
            "runp",
            "--name",
            &name,
            "--namespace",
            "cradle-e2e",
            "--log-dir",
            &log_dir,
            "--cgroup-parent",
            w.cgroup.path(),
        ],
    )
    .await?;
    let pod = w
        .cri
        .runtime
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod_id.clone(),
            verbose: false,
        })
        .await?
        .into_inner()
        .status
        .context("no pod status")?;
    ensure!(
        pod.state == cri::PodSandboxState::SandboxReady as i32
            && pod.metadata.as_ref().is_some_and(|m| m.name == name),
        "runp made {pod:?}"
    );

    let ctr = ok(
        &w.daemon,
        &[
            "create",
            &pod_id,
            "--name",
            "sleeper",
            "--image",
            &image,
            "--log-path",
            "sleeper.log",
            "--",
            "sleep",
            "3600",
        ],
    )
    .await?;
    ensure!(
        container_status(&mut w.cri, &ctr).await?.state
            == cri::ContainerState::ContainerCreated as i32,
        "create did not leave {ctr} created"
    );
    ok(&w.daemon, &["start", &ctr]).await?;
    wait_for_state(
        &mut w.cri,
        &ctr,
        cri::ContainerState::ContainerRunning,
        Duration::from_secs(30),
    )
    .await?;

    let out = ok(&w.daemon, &["exec", &ctr, "--", "echo", "hello-from-exec"]).await?;
    ensure!(
        out.contains("hello-from-exec") && out.ends_with("exit code: 0"),
        "exec printed {out:?}"
    );

    let limit = 64 * 1024 * 1024;
    ok(&w.daemon, &["update", &ctr, "--memory", &limit.to_string()]).await?;
    let status = container_status(&mut w.cri, &ctr).await?;
    let memory = status
        .resources
        .as_ref()
        .and_then(|r| r.linux.as_ref())
        .map(|l| l.memory_limit_in_bytes);
    ensure!(memory == Some(limit), "update left memory at {memory:?}");

    ok(&w.daemon, &["stop", &ctr, "--timeout", "1"]).await?;
    ensure!(
        container_status(&mut w.cri, &ctr).await?.state
            == cri::ContainerState::ContainerExited as i32,
        "stop did not leave {ctr} exited"
    );
    ok(&w.daemon, &["rm", &ctr]).await?;
    let gone = run(&w.daemon, &["inspect", &ctr]).await?;
    ensure!(
        !gone.status.success(),
        "inspect of a removed container: {}",
        describe(&gone)
    );

    ok(&w.daemon, &["stopp", &pod_id]).await?;
    ok(&w.daemon, &["rmp", &pod_id]).await?;
    let pods = ok(&w.daemon, &["pods", "-o", "json"]).await?;
    ensure!(!pods.contains(&pod_id), "rmp left {pod_id} listed: {pods}");
    remove_pod_and_check_leaks(&mut w.cri, &w.daemon, &pod_id, &[ctr]).await?;

    ok(&w.daemon, &["rmi", &image]).await?;
    let left = list_images(&mut w.cri).await?;
    ensure!(
        left.iter().all(|i| i.id != image_id),
        "rmi left {image_id} listed"
    );
    Ok(())
}
