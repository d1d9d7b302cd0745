//! Containers as the kubelet runs them, end to end over the CRI socket:
//! pid namespace modes (POD shares the pause's namespace, where the pause
//! is pid 1; CONTAINER is private; TARGET joins another container's), the
//! image's STOPSIGNAL on StopContainer, a command missing from the image
//! ending as `ContainerCannotRun` (exit 128) under both runtime handlers,
//! and the pod's IPC sysctls seen inside its containers. Each test has its
//! own daemon, registry and cgroup parent, and ends with the leak check.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, container_status, create_and_start, exec, has_log_line, leak_scope,
    pod_config, pull, remove_pod_and_check_leaks, run_pod, run_pod_on, stop_and_remove_container,
    stop_and_remove_pod,
};
use cradle_tests::{Cri, World, leaks, skip_unless_ready};

fn namespace_options(config: &mut cri::ContainerConfig) -> &mut cri::NamespaceOption {
    config
        .linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default)
        .namespace_options
        .get_or_insert_with(Default::default)
}

/// Every process the container sees: `<pid>: <cmdline>` lines.
async fn processes(cri: &mut Cri, id: &str) -> anyhow::Result<String> {
    let script = r#"for p in /proc/[0-9]*; do printf '%s: ' "${p#/proc/}"; tr '\0' ' ' < $p/cmdline; echo; done"#;
    let (code, out) = exec(cri, id, &["sh", "-c", script]).await?;
    ensure!(code == 0, "listing processes: {out}");
    Ok(out)
}

async fn pid_ns(cri: &mut Cri, id: &str) -> anyhow::Result<String> {
    let (_, out) = exec(cri, id, &["readlink", "/proc/self/ns/pid"]).await?;
    Ok(out.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pid_namespace_modes_pod_container_and_target() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = pid_modes(&mut w).await;
    w.finish(result).await;
}

async fn pid_modes(w: &mut World) -> anyhow::Result<()> {
    let cri = &mut w.cri;
    let image = w.registry.image_ref();
    pull(cri, &image).await?;
    let mut pod = pod_config(&w.daemon, &w.cgroup)?;
    pod.linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default)
        .namespace_options
        .get_or_insert_with(Default::default)
        .pid = cri::NamespaceMode::Pod as i32;
    let pod_id = run_pod(cri, &pod).await?;
    let mut ids = Vec::new();
    let start =
        async |cri: &mut Cri, name: &str, seconds: &str, mode: cri::NamespaceMode, target: &str| {
            let mut config = container_config(&image, name, &["sleep", seconds]);
            let options = namespace_options(&mut config);
            options.pid = mode as i32;
            options.target_id = target.to_string();
            create_and_start(cri, &pod_id, &pod, config).await
        };

    // POD: both containers and the pause share one namespace, pause is pid 1.
    let first = start(cri, "first", "3601", cri::NamespaceMode::Pod, "").await?;
    ids.push(first.clone());
    let second = start(cri, "second", "3602", cri::NamespaceMode::Pod, "").await?;
    ids.push(second.clone());
    for id in [&first, &second] {
        let (_, comm) = exec(cri, id, &["cat", "/proc/1/comm"]).await?;
        ensure!(comm == "pause\n", "pid 1 of a POD container is {comm:?}");
        let seen = processes(cri, id).await?;
        ensure!(
            seen.contains("sleep 3601") && seen.contains("sleep 3602"),
            "a POD container does not see both containers:\n{seen}"
        );
    }
    ensure!(pid_ns(cri, &first).await? == pid_ns(cri, &second).await?);

    // CONTAINER: a namespace of its own, where its process is pid 1.
    let alone = start(cri, "alone", "3603", cri::NamespaceMode::Container, "").await?;
    ids.push(alone.clone());
    let seen = processes(cri, &alone).await?;
    ensure!(
        seen.contains("1: sleep 3603") && !seen.contains("3601") && !seen.contains("3602"),
        "a CONTAINER container sees more than itself:\n{seen}"
    );
    ensure!(pid_ns(cri, &alone).await? != pid_ns(cri, &first).await?);

    // TARGET: joins the target container's namespace, and only that one.
    let joiner = start(cri, "joiner", "3604", cri::NamespaceMode::Target, &alone).await?;
    ids.push(joiner.clone());
    let seen = processes(cri, &joiner).await?;
    ensure!(
        seen.contains("1: sleep 3603") && seen.contains("sleep 3604") && !seen.contains("3601"),
        "a TARGET container does not share its target's namespace:\n{seen}"
    );
    ensure!(pid_ns(cri, &joiner).await? == pid_ns(cri, &alone).await?);

    remove_pod_and_check_leaks(cri, &w.daemon, &pod_id, &ids).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_sends_the_configs_else_the_images_stop_signal() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = stop_signal(&mut w).await;
    w.finish(result).await;
}

async fn stop_signal(w: &mut World) -> anyhow::Result<()> {
    // The test image with STOPSIGNAL SIGUSR1.
    let layout = cradle_tests::image_variant::variant_layout(|config| {
        config.insert("StopSignal".into(), "SIGUSR1".into());
    })?;
    let image = w.registry.push_layout(layout.path(), "stopsignal:latest")?;
    let cri = &mut w.cri;
    pull(cri, &image).await?;
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod(cri, &pod).await?;
    // As pid 1, sh ignores every signal it has no trap for: SIGTERM would
    // leave it running until the SIGKILL after the timeout (exit 137).
    let script =
        "trap 'echo got-usr1; exit 42' USR1; echo ready; while :; do sleep 1 & wait $!; done";
    let config = container_config(&image, "trapper", &["sh", "-c", script]);
    let id = create_and_start(cri, &pod_id, &pod, config).await?;
    let log = Path::new(&pod.log_directory).join("trapper.log");
    wait_for_log(&log, "ready").await?;
    let reported = container_status(cri, &id).await?.stop_signal;
    ensure!(
        reported == cri::Signal::Sigusr1 as i32,
        "ContainerStatus.stop_signal {reported}, not the image's SIGUSR1"
    );

    let began = Instant::now();
    cri.runtime
        .stop_container(cri::StopContainerRequest {
            container_id: id.clone(),
            timeout: 30,
        })
        .await
        .context("StopContainer")?;
    let took = began.elapsed();
    let status = container_status(cri, &id).await?;
    ensure!(
        status.state == cri::ContainerState::ContainerExited as i32 && status.exit_code == 42,
        "not ended by the trap: state {} exit {} reason {:?}",
        status.state,
        status.exit_code,
        status.reason
    );
    ensure!(
        took < Duration::from_secs(20),
        "stop took {took:?}: the signal was not the image's"
    );
    wait_for_log(&log, "got-usr1").await?;
    stop_and_remove_container(cri, &id).await?;

    // The config's stop_signal (the pod's lifecycle.stopSignal) wins over
    // the image's: SIGUSR1 would end this one with 42, SIGUSR2 with 43.
    let script = "trap 'exit 42' USR1; trap 'echo got-usr2; exit 43' USR2; echo ready; \
                  while :; do sleep 1 & wait $!; done";
    let mut config = container_config(&image, "overrider", &["sh", "-c", script]);
    config.stop_signal = cri::Signal::Sigusr2 as i32;
    let overrider = create_and_start(cri, &pod_id, &pod, config).await?;
    let log = Path::new(&pod.log_directory).join("overrider.log");
    wait_for_log(&log, "ready").await?;
    let reported = container_status(cri, &overrider).await?.stop_signal;
    ensure!(
        reported == cri::Signal::Sigusr2 as i32,
        "ContainerStatus.stop_signal {reported}, not the config's SIGUSR2"
    );
    cri.runtime
        .stop_container(cri::StopContainerRequest {
            container_id: overrider.clone(),
            timeout: 30,
        })
        .await
        .context("StopContainer")?;
    let status = container_status(cri, &overrider).await?;
    ensure!(
        status.exit_code == 43,
        "not ended by the config's signal: exit {} reason {:?}",
        status.exit_code,
        status.reason
    );
    wait_for_log(&log, "got-usr2").await?;

    stop_and_remove_container(cri, &overrider).await?;
    stop_and_remove_pod(cri, &pod_id).await?;
    leaks::assert_none(&leak_scope(&w.daemon, &[&id, &overrider, &pod_id]));
    Ok(())
}

/// Waits up to 10 s for the stdout line `text` in the CRI log at `path`.
async fn wait_for_log(path: &Path, text: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        if path.exists() && has_log_line(path, "stdout", text)? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("no stdout line {text:?} in {}", path.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_command_ends_as_container_cannot_run() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = cannot_run(&mut w).await;
    w.finish(result).await;
}

async fn cannot_run(w: &mut World) -> anyhow::Result<()> {
    let cri = &mut w.cri;
    let image = w.registry.image_ref();
    pull(cri, &image).await?;
    let mut ids = Vec::new();
    for handler in ["", "runc"] {
        let pod = pod_config(&w.daemon, &w.cgroup)?;
        let pod_id = run_pod_on(cri, &pod, handler).await?;
        ids.push(pod_id.clone());
        let config = container_config(&image, "missing", &["/no/such/binary", "x"]);
        let id = cri
            .runtime
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: pod_id.clone(),
                config: Some(config),
                sandbox_config: Some(pod.clone()),
            })
            .await
            .with_context(|| format!("CreateContainer (handler {handler:?})"))?
            .into_inner()
            .container_id;
        ids.push(id.clone());
        let created = container_status(cri, &id).await?;
        ensure!(created.state == cri::ContainerState::ContainerCreated as i32);
        let start = cri
            .runtime
            .start_container(cri::StartContainerRequest {
                container_id: id.clone(),
            })
            .await;
        let Err(err) = start else {
            bail!("StartContainer of a missing command succeeded (handler {handler:?})");
        };
        ensure!(err.message().contains("/no/such/binary"), "{err:?}");
        let status = container_status(cri, &id).await?;
        ensure!(
            (
                status.state,
                status.exit_code,
                status.reason.as_str(),
                status.started_at
            ) == (
                cri::ContainerState::ContainerExited as i32,
                128,
                "ContainerCannotRun",
                0
            ) && status.finished_at > 0,
            "handler {handler:?}: {status:?}"
        );
        ensure!(
            status.message.contains("/no/such/binary"),
            "handler {handler:?}: message {:?}",
            status.message
        );
        // Stop and remove work as for any exited container.
        stop_and_remove_container(cri, &id).await?;
        stop_and_remove_pod(cri, &pod_id).await?;
    }
    let all: Vec<&str> = ids.iter().map(String::as_str).collect();
    leaks::assert_none(&leak_scope(&w.daemon, &all));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_ipc_sysctls_reach_its_containers() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = sysctls(&mut w).await;
    w.finish(result).await;
}

async fn sysctls(w: &mut World) -> anyhow::Result<()> {
    let cri = &mut w.cri;
    let image = w.registry.image_ref();
    pull(cri, &image).await?;
    let host_before = std::fs::read_to_string("/proc/sys/kernel/shmmax")?;
    let mut pod = pod_config(&w.daemon, &w.cgroup)?;
    let linux = pod.linux.get_or_insert_with(Default::default);
    linux
        .sysctls
        .insert("kernel.shmmax".into(), "123456789".into());
    linux.sysctls.insert("kernel/msgmax".into(), "12345".into());
    let pod_id = run_pod(cri, &pod).await?;
    let mut ids = Vec::new();
    for name in ["reader", "second"] {
        let config = container_config(&image, name, &["sleep", "3600"]);
        let id = create_and_start(cri, &pod_id, &pod, config).await?;
        ids.push(id.clone());
        let (code, out) = exec(
            cri,
            &id,
            &["cat", "/proc/sys/kernel/shmmax", "/proc/sys/kernel/msgmax"],
        )
        .await?;
        ensure!(code == 0 && out == "123456789\n12345\n", "{name}: {out:?}");
    }
    let host_after = std::fs::read_to_string("/proc/sys/kernel/shmmax")?;
    ensure!(
        host_before == host_after,
        "the node's shmmax changed: {host_before:?} -> {host_after:?}"
    );

    // Refused at RunPodSandbox: a node-wide key, and an IPC key on the node's IPC.
    let mut node_wide = pod_config(&w.daemon, &w.cgroup)?;
    node_wide
        .linux
        .get_or_insert_with(Default::default)
        .sysctls
        .insert("kernel.pid_max".into(), "100000".into());
    let mut host_ipc = pod_config(&w.daemon, &w.cgroup)?;
    let linux = host_ipc.linux.get_or_insert_with(Default::default);
    linux.sysctls.insert("kernel.shmmax".into(), "1".into());
    if let Some(options) = linux
        .security_context
        .as_mut()
        .and_then(|s| s.namespace_options.as_mut())
    {
        options.ipc = cri::NamespaceMode::Node as i32;
    }
    for (config, key) in [(node_wide, "kernel.pid_max"), (host_ipc, "kernel.shmmax")] {
        let err = run_pod(cri, &config)
            .await
            .err()
            .with_context(|| format!("a pod with {key} was accepted"))?;
        let status = err
            .downcast_ref::<tonic::Status>()
            .context("not a gRPC status")?;
        ensure!(
            status.code() == tonic::Code::InvalidArgument && status.message().contains(key),
            "{key}: {status:?}"
        );
    }

    remove_pod_and_check_leaks(cri, &w.daemon, &pod_id, &ids).await
}
