//! RuntimeClass handlers end to end over the CRI socket: Status lists the
//! handlers installed on this host (`cradle-oci`, and `runc` and `crun`
//! where found in PATH) with the features their `features` documents
//! give; a pod's container lifecycle, ExecSync and CRI log run once per
//! handler; the pod's handler is reported and kept across a restart; an
//! unknown handler is refused before anything is made; and the systemd
//! cgroup driver is refused at start where systemd does not run.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    cgroup_driver, container_config, container_status, create, create_and_start, exec,
    has_log_line, leak_scope, list_pods, pod_config, pull, remove_pod_and_check_leaks, run_pod_on,
    runs_here, runtime_handlers, wait_for_state,
};
use cradle_tests::{Daemon, World, leaks, skip_unless_ready};
use tonic::Code;

/// Where `name` is an executable in PATH.
fn in_path(name: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// What `<runtime> features` says of `rro` and of user namespaces with
/// id-mapped mounts; (false, false) without a features command.
fn documented_features(binary: &Path) -> (bool, bool) {
    let Ok(out) = std::process::Command::new(binary).arg("features").output() else {
        return (false, false);
    };
    if !out.status.success() {
        return (false, false);
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let rro = doc["mountOptions"]
        .as_array()
        .is_some_and(|o| o.iter().any(|v| v == "rro"));
    let userns = doc["linux"]["namespaces"]
        .as_array()
        .is_some_and(|n| n.iter().any(|v| v == "user"))
        && doc["linux"]["mountExtensions"]["idmap"]["enabled"].as_bool() == Some(true);
    (rro, userns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_the_installed_handlers_and_an_unknown_one_is_refused() {
    skip_unless_ready!(false);
    let mut w = World::start().await;
    let result = listed_and_refused(&mut w).await;
    w.finish(result).await;
}

async fn listed_and_refused(w: &mut World) -> anyhow::Result<()> {
    let cri = &mut w.cri;
    let status = cri
        .runtime
        .status(cri::StatusRequest { verbose: true })
        .await?
        .into_inner();
    let mut expected = vec!["cradle-oci".to_string()];
    for name in ["crun", "runc"] {
        if in_path(name).is_some() {
            expected.push(name.to_string());
        }
    }
    expected.push(String::new());
    let names: Vec<String> = status
        .runtime_handlers
        .iter()
        .map(|h| h.name.clone())
        .collect();
    ensure!(
        names == expected,
        "Status.runtime_handlers {names:?}, expected {expected:?}"
    );
    for handler in &status.runtime_handlers {
        let Some(binary) = in_path(&handler.name) else {
            continue;
        };
        let features = handler.features.context("a handler without features")?;
        let (rro, userns) = documented_features(&binary);
        ensure!(
            features.recursive_read_only_mounts == rro,
            "{}: rro {} but its features say {rro}",
            handler.name,
            features.recursive_read_only_mounts
        );
        // The kernel may still say no; the runtime's no is final.
        ensure!(
            userns || !features.user_namespaces,
            "{}: user namespaces reported without the runtime's support",
            handler.name
        );
    }

    // The host's cgroups, the driver and systemd, in the verbose info.
    let cgroup: serde_json::Value =
        serde_json::from_str(status.info.get("cgroup").context("no info[\"cgroup\"]")?)?;
    let root = Path::new("/sys/fs/cgroup");
    let v2 = root.join("cgroup.controllers").exists();
    let version = if v2 {
        "v2"
    } else if root.join("unified/cgroup.controllers").exists() {
        "hybrid"
    } else {
        "v1"
    };
    ensure!(
        cgroup["version"] == version,
        "info cgroup {cgroup}, expected {version}"
    );
    ensure!(cgroup["driver"] == "cgroupfs", "info cgroup {cgroup}");
    let systemd = Path::new("/run/systemd/system").is_dir();
    ensure!(cgroup["systemd"] == systemd, "info cgroup {cgroup}");
    ensure!(
        cgroup_driver(cri).await? == Some(cri::CgroupDriver::Cgroupfs as i32),
        "RuntimeConfig is not CGROUPFS"
    );

    // An unknown handler: InvalidArgument naming the configured ones, and nothing made.
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let err = match run_pod_on(cri, &pod, "kata").await {
        Ok(id) => bail!("RunPodSandbox on handler \"kata\" made pod {id}"),
        Err(e) => e.downcast::<tonic::Status>().context("not a gRPC status")?,
    };
    ensure!(err.code() == Code::InvalidArgument, "{err:?}");
    ensure!(
        err.message().contains("\"kata\"") && err.message().contains("\"cradle-oci\""),
        "{}",
        err.message()
    );
    let pods = list_pods(cri).await?;
    ensure!(pods.is_empty(), "pods after a refused run: {pods:?}");
    leaks::assert_none(&leak_scope(&w.daemon, &[]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_exec_and_logs_run_on_every_installed_handler() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = on_every_handler(&mut w).await;
    w.finish_with_log(result).await;
}

async fn on_every_handler(w: &mut World) -> anyhow::Result<()> {
    let image = w.registry.image_ref();
    pull(&mut w.cri, &image).await?;
    for handler in runtime_handlers(&mut w.cri).await? {
        lifecycle_on(w, &image, &handler)
            .await
            .with_context(|| format!("handler {handler:?}"))?;
    }
    Ok(())
}

/// One pod on `handler`: its status names the handler, a container logs
/// to stdout and stderr, answers ExecSync with output and exit codes,
/// runs under the handler's state root, stops and leaves nothing.
async fn lifecycle_on(w: &mut World, image: &str, handler: &str) -> anyhow::Result<()> {
    let cri = &mut w.cri;
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod_on(cri, &pod, handler).await?;
    let status = cri
        .runtime
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod_id.clone(),
            verbose: true,
        })
        .await?
        .into_inner();
    let reported = status.status.context("no status")?.runtime_handler;
    ensure!(
        reported == handler,
        "PodSandboxStatus.runtime_handler {reported:?}"
    );
    let info: serde_json::Value =
        serde_json::from_str(status.info.get("info").context("no verbose info")?)?;
    ensure!(info["runtimeHandler"] == handler, "verbose info {info}");

    let command = [
        "sh",
        "-c",
        "echo hello from $0; echo err >&2; exec sleep 3600",
        handler,
    ];
    let config = container_config(image, "c1", &command);
    if !runs_here(handler) {
        return refused_here(w, &pod, &pod_id, config).await;
    }
    let id = create_and_start(cri, &pod_id, &pod, config).await?;
    wait_for_state(
        cri,
        &id,
        cri::ContainerState::ContainerRunning,
        Duration::from_secs(20),
    )
    .await?;
    let state = w.daemon.state_dir().join("runtime").join(handler).join(&id);
    ensure!(state.exists(), "no runtime state at {}", state.display());

    let (code, out) = exec(cri, &id, &["sh", "-c", "echo exec on $0", handler]).await?;
    ensure!(
        code == 0 && out == format!("exec on {handler}\n"),
        "ExecSync: {code} {out:?}"
    );
    let (code, _) = exec(cri, &id, &["sh", "-c", "exit 3"]).await?;
    ensure!(code == 3, "ExecSync exit code {code}");

    let log = Path::new(&pod.log_directory).join("c1.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !(has_log_line(&log, "stdout", &format!("hello from {handler}"))?
        && has_log_line(&log, "stderr", "err")?)
    {
        ensure!(
            std::time::Instant::now() < deadline,
            "log lines missing: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    remove_pod_and_check_leaks(cri, &w.daemon, &pod_id, &[id]).await
}

/// A runtime that cannot run containers on this host: the container is
/// created, StartContainer answers the runtime's reason and the container
/// ends as ContainerCannotRun; nothing is left.
async fn refused_here(
    w: &mut World,
    pod: &cri::PodSandboxConfig,
    pod_id: &str,
    config: cri::ContainerConfig,
) -> anyhow::Result<()> {
    let cri = &mut w.cri;
    let id = create(cri, pod_id, pod, config).await?;
    let started = cri
        .runtime
        .start_container(cri::StartContainerRequest {
            container_id: id.clone(),
        })
        .await;
    let Err(err) = started else {
        bail!("StartContainer succeeded on a runtime that refuses this host");
    };
    ensure!(err.message().contains("hybrid"), "{}", err.message());
    let status = container_status(cri, &id).await?;
    ensure!(status.reason == "ContainerCannotRun", "{status:?}");
    remove_pod_and_check_leaks(cri, &w.daemon, pod_id, &[id]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pods_handler_is_kept_across_a_restart() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = kept_across_restart(&mut w).await;
    w.finish_with_log(result).await;
}

async fn kept_across_restart(w: &mut World) -> anyhow::Result<()> {
    let image = w.registry.image_ref();
    pull(&mut w.cri, &image).await?;
    // The last handler Status lists (runc or crun where installed): not the default.
    let handlers = runtime_handlers(&mut w.cri).await?;
    let handler = (handlers.iter().rev())
        .find(|h| runs_here(h))
        .context("no handler")?
        .clone();
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod_on(&mut w.cri, &pod, &handler).await?;
    let id = create_and_start(
        &mut w.cri,
        &pod_id,
        &pod,
        container_config(&image, "sleeper", &["sleep", "3600"]),
    )
    .await?;
    w.daemon.restart()?;
    w.cri = w.daemon.connect().await?;
    let cri = &mut w.cri;
    let status = cri
        .runtime
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod_id.clone(),
            verbose: false,
        })
        .await?
        .into_inner()
        .status
        .context("no status")?;
    ensure!(
        status.runtime_handler == handler,
        "after a restart the pod reports handler {:?}, not {handler:?}",
        status.runtime_handler
    );
    // ExecSync runs the pod's runtime on its root: it finds the container.
    let (code, out) = exec(cri, &id, &["echo", "still here"]).await?;
    ensure!(
        code == 0 && out == "still here\n",
        "ExecSync after restart: {code} {out:?}"
    );
    remove_pod_and_check_leaks(cri, &w.daemon, &pod_id, &[id]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_systemd_driver_needs_systemd_on_the_host() {
    skip_unless_ready!(false);
    let config = "cgroup_driver = \"systemd\"\ndefault_cgroup_parent = \"system.slice\"\n";
    let started = Daemon::start_with_config(config);
    if Path::new("/run/systemd/system").is_dir() {
        let daemon = started.expect("cradled with the systemd driver on a systemd host");
        let mut cri = daemon.connect().await.expect("connect");
        assert_eq!(
            cgroup_driver(&mut cri).await.expect("RuntimeConfig"),
            Some(cri::CgroupDriver::Systemd as i32)
        );
        return;
    }
    let Err(err) = started else {
        panic!("cradled started with cgroup_driver = \"systemd\" on a host without systemd");
    };
    let text = format!("{err:#}");
    assert!(
        text.contains("exited early")
            && text.contains("cgroup_driver = \"systemd\"")
            && text.contains("systemd is not running"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_handlers_root_and_flags_reach_every_runtime_call() {
    skip_unless_ready!(true);
    let Some(runc) = in_path("runc") else {
        cradle_tests::skip("runc is not installed (hack/install-deps.sh installs it)");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("runc-root");
    let config = format!(
        "default_runtime_handler = \"traced\"\n\
         [runtime_handlers.traced]\n\
         runtime = {:?}\nroot = {:?}\nextra_args = [\"--debug\"]\n",
        runc.display().to_string(),
        root.display().to_string(),
    );
    let mut w = World::start_with_config(&config).await;
    let result = configured_handler(&mut w, &root).await;
    w.finish_with_log(result).await;
}

async fn configured_handler(w: &mut World, root: &Path) -> anyhow::Result<()> {
    let handlers = runtime_handlers(&mut w.cri).await?;
    ensure!(handlers == ["traced"], "Status lists {handlers:?}");
    let image = w.registry.image_ref();
    pull(&mut w.cri, &image).await?;
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod_on(&mut w.cri, &pod, "").await?;
    let id = create_and_start(
        &mut w.cri,
        &pod_id,
        &pod,
        container_config(&image, "c", &["sleep", "3600"]),
    )
    .await?;
    ensure!(
        root.join(&id).exists(),
        "runc state not under the configured root"
    );
    let (code, _) = exec(&mut w.cri, &id, &["true"]).await?;
    ensure!(code == 0, "ExecSync exit code {code}");
    // `--debug` reached the shim's create and the daemon's exec: runc's
    // debug lines are in the runtime log the shim keeps.
    let shim_log = w
        .daemon
        .state_dir()
        .join("shims")
        .join(&id)
        .join(cradle_proto::shim::RUNTIME_LOG_FILE);
    let text = std::fs::read_to_string(&shim_log).unwrap_or_default();
    ensure!(
        text.contains("level=debug") || text.contains("\"level\":\"debug\""),
        "no debug line in {}: {text:?}",
        shim_log.display()
    );
    remove_pod_and_check_leaks(&mut w.cri, &w.daemon, &pod_id, &[id]).await
}
