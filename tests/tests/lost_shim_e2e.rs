//! A container whose shim is killed is killed with it. The shim is the only
//! thing that watches a container: once it is gone, a container left running
//! would hold its ports and memory while the CRI reports it exited, and
//! StopContainer could not reach it. So before a container is reported
//! exited for a lost shim, every process of its cgroup is killed and gone:
//! while the daemon runs (its exit monitor notices) and when the shim died
//! while the daemon was down (recovery notices).

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, create_and_start, pod_config, pull, remove_pod_and_check_leaks, run_pod,
    wait_for_state,
};
use cradle_tests::{World, skip_unless_ready};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long the daemon may take to notice a lost shim and end its container.
const NOTICE_WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_shim_takes_its_container_with_it() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = killed_while_the_daemon_runs(&mut w).await;
    w.finish_with_log(result).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shim_killed_while_the_daemon_is_down_takes_its_container_with_it() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = killed_while_the_daemon_is_down(&mut w).await;
    w.finish_with_log(result).await;
}

async fn killed_while_the_daemon_runs(w: &mut World) -> anyhow::Result<()> {
    let (pod_id, id) = start_sleeper(w).await?;
    let procs = container_processes(w, &id)?;
    kill_shim(w, &id)?;
    let status = wait_for_state(
        &mut w.cri,
        &id,
        cri::ContainerState::ContainerExited,
        NOTICE_WAIT,
    )
    .await?;
    check_gone(w, &id, &procs, &status)?;
    remove_pod_and_check_leaks(&mut w.cri, &w.daemon, &pod_id, &[id]).await
}

async fn killed_while_the_daemon_is_down(w: &mut World) -> anyhow::Result<()> {
    let (pod_id, id) = start_sleeper(w).await?;
    let procs = container_processes(w, &id)?;
    w.daemon.stop()?;
    kill_shim(w, &id)?;
    w.daemon.restart()?;
    w.cri = w.daemon.connect().await?;
    let status = wait_for_state(
        &mut w.cri,
        &id,
        cri::ContainerState::ContainerExited,
        NOTICE_WAIT,
    )
    .await?;
    check_gone(w, &id, &procs, &status)?;
    remove_pod_and_check_leaks(&mut w.cri, &w.daemon, &pod_id, &[id]).await
}

/// A pod and a running container with two processes (the init and a child
/// of it), so that "every process" means more than the init.
async fn start_sleeper(w: &mut World) -> anyhow::Result<(String, String)> {
    let image = w.registry.image_ref();
    pull(&mut w.cri, &image).await?;
    let pod = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod(&mut w.cri, &pod).await?;
    let config = container_config(
        &image,
        "sleeper",
        &["sh", "-c", "sleep 3600 & exec sleep 3601"],
    );
    let id = create_and_start(&mut w.cri, &pod_id, &pod, config).await?;
    // The background sleep may take a moment to be forked.
    let deadline = tokio::time::Instant::now() + NOTICE_WAIT;
    while container_processes(w, &id)?.len() < 2 {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the container never had its two processes: {:?}",
            container_processes(w, &id)?
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((pod_id, id))
}

/// The container's cgroup directories, in every hierarchy that has one.
fn cgroup_dirs(w: &World, id: &str) -> Vec<PathBuf> {
    w.cgroup
        .dirs()
        .into_iter()
        .map(|parent| parent.join(id))
        .filter(|dir| dir.is_dir())
        .collect()
}

/// Every pid in the container's cgroups (host pids).
fn container_processes(w: &World, id: &str) -> anyhow::Result<Vec<i32>> {
    let mut pids = Vec::new();
    for dir in cgroup_dirs(w, id) {
        let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
            continue; // removed meanwhile
        };
        pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// SIGKILLs the container's shim, by the pid file in its state dir.
fn kill_shim(w: &World, id: &str) -> anyhow::Result<()> {
    let pid_file = w.daemon.state_dir().join("shims").join(id).join("shim.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .with_context(|| format!("reading {}", pid_file.display()))?
        .trim()
        .parse()
        .with_context(|| format!("parsing {}", pid_file.display()))?;
    kill(Pid::from_raw(pid), Signal::SIGKILL).with_context(|| format!("killing shim {pid}"))?;
    // Gone, or a zombie of a parent that does not reap (the host's init).
    let deadline = std::time::Instant::now() + NOTICE_WAIT;
    while is_running(pid) {
        ensure!(
            std::time::Instant::now() < deadline,
            "shim {pid} survives SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Whether `pid` runs (exists and is not a zombie). A pid reused by some
/// other process would count as running: the check errs on the side of a
/// failure, never of a pass.
fn is_running(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X"))
}

/// The container is reported exited for a lost shim, none of its processes
/// runs, and its cgroups hold nothing.
fn check_gone(
    w: &World,
    id: &str,
    procs: &[i32],
    status: &cri::ContainerStatus,
) -> anyhow::Result<()> {
    let running: Vec<i32> = procs.iter().copied().filter(|p| is_running(*p)).collect();
    ensure!(
        running.is_empty(),
        "container {id} is reported exited ({status:?}) while its processes {running:?} run"
    );
    let left = container_processes(w, id)?;
    ensure!(
        left.is_empty(),
        "container {id} is reported exited while its cgroup holds {left:?}"
    );
    ensure!(
        status.exit_code != 0,
        "a container killed with its shim did not exit 0: {status:?}"
    );
    Ok(())
}
