//! RemoveContainer has nothing slow left to do (issue 11, item 9: it took
//! 3-4x containerd's time). Profiled, its time went to the shim running
//! `<runtime> delete` (a process, cgroup rmdirs) and to unmounting the
//! rootfs overlay, which synced the whole filesystem under the upper dir.
//! So, as behaviour, not timing:
//!
//! - once a container has exited, its shim has the runtime delete it (state
//!   dir and cgroup gone) without waiting for RemoveContainer, as
//!   containerd deletes a task at its exit; the shim still answers, and the
//!   container is still listed, EXITED, with its exit code;
//! - a container's writable rootfs overlay is `volatile` (never synced),
//!   where the kernel knows the option (Linux 5.10+, detected here by
//!   mounting one).
//!
//! - the rootfs of a container that exited is unmounted at its exit (as
//!   containerd unmounts at task exit), its writable layer kept for
//!   ContainerStats until RemoveContainer;
//! - RemoveContainer moves the writable layer and the bundle into a trash
//!   (one rename each) and deletes them after answering: the trash empties
//!   on its own, and a daemon that died before emptying it empties it at
//!   its next start.
//!
//! Then RemoveContainer and the pod's removal leave nothing.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, create_and_start, list_containers, pod_config, pull,
    remove_pod_and_check_leaks, run_pod, wait_for_state,
};
use cradle_tests::{World, skip_unless_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exited_container_is_deleted_from_the_runtime_before_remove_container() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = exited_then_removed(&mut w).await;
    w.finish_with_log(result).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_rootfs_is_a_volatile_overlay_where_the_kernel_has_it() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = rootfs_is_volatile(&mut w).await;
    w.finish_with_log(result).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exited_container_is_unmounted_at_its_exit_and_its_files_trashed_at_removal() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = unmounted_at_exit_then_trashed(&mut w).await;
    w.finish_with_log(result).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_crash_left_in_the_trash_is_deleted_at_the_next_start() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = trash_emptied_at_start(&mut w).await;
    w.finish_with_log(result).await;
}

/// The daemon's trash dirs: container bundles, writable layers.
fn trash_dirs(w: &World) -> [std::path::PathBuf; 2] {
    let root = w.daemon.root();
    [root.join("trash"), root.join("snapshots/trash")]
}

/// Entries left in `dirs` (absent dirs hold none).
fn trash_entries(dirs: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|entries| entries.filter_map(Result::ok).map(|e| e.path()))
        .collect()
}

fn is_mounted(target: &Path) -> anyhow::Result<bool> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let target = target.to_string_lossy();
    Ok(mountinfo
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(&*target)))
}

async fn unmounted_at_exit_then_trashed(w: &mut World) -> anyhow::Result<()> {
    let image = w.registry.image_ref();
    pull(&mut w.cri, &image).await?;
    let pod_config = pod_config(&w.daemon, &w.cgroup)?;
    let pod = run_pod(&mut w.cri, &pod_config).await?;
    let config = container_config(&image, "writer", &["sh", "-c", "echo hi > /written"]);
    let id = create_and_start(&mut w.cri, &pod, &pod_config, config).await?;
    let root = w.daemon.root();
    let rootfs = root.join("containers").join(&id).join("bundle/rootfs");
    let layer = root.join("snapshots/containers").join(&id);
    wait_for_state(
        &mut w.cri,
        &id,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(30),
    )
    .await?;
    // The monitor unmounts right after recording the exit: poll, never time.
    let deadline = Instant::now() + Duration::from_secs(20);
    while is_mounted(&rootfs)? {
        if Instant::now() > deadline {
            bail!("{} still mounted after the exit", rootfs.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The writable layer stays, and ContainerStats still measures it.
    ensure!(
        layer.join("upper/written").exists(),
        "the writable layer went with the unmount"
    );
    let stats = w
        .cri
        .runtime
        .container_stats(cri::ContainerStatsRequest {
            container_id: id.clone(),
        })
        .await?
        .into_inner()
        .stats
        .context("no stats")?;
    let used = stats
        .writable_layer
        .and_then(|l| l.used_bytes)
        .map(|b| b.value);
    ensure!(
        used.is_some_and(|b| b > 0),
        "writable layer of the exited container: {used:?} bytes"
    );

    w.cri
        .runtime
        .remove_container(cri::RemoveContainerRequest {
            container_id: id.clone(),
        })
        .await?;
    ensure!(
        !layer.exists() && !root.join("containers").join(&id).exists(),
        "RemoveContainer answered with the container's files in place"
    );
    // Deleted after the answer: the trash empties on its own.
    let trash = trash_dirs(w);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = trash_entries(&trash);
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!("the trash never emptied: {left:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    remove_pod_and_check_leaks(&mut w.cri, &w.daemon, &pod, &[id]).await
}

async fn trash_emptied_at_start(w: &mut World) -> anyhow::Result<()> {
    w.daemon.stop()?;
    let trash = trash_dirs(w);
    for dir in &trash {
        let entry = dir.join("1-0");
        std::fs::create_dir_all(entry.join("upper/deep"))?;
        std::fs::write(entry.join("upper/deep/file"), "left by a crash")?;
    }
    w.daemon.restart()?;
    w.cri = w.daemon.connect().await?;
    // The sweep runs before the daemon serves.
    w.cri
        .runtime
        .version(cri::VersionRequest::default())
        .await?;
    let left = trash_entries(&trash);
    ensure!(left.is_empty(), "left in the trash after a start: {left:?}");
    Ok(())
}

async fn exited_then_removed(w: &mut World) -> anyhow::Result<()> {
    let image = w.registry.image_ref();
    pull(&mut w.cri, &image).await?;
    let pod_config = pod_config(&w.daemon, &w.cgroup)?;
    let pod = run_pod(&mut w.cri, &pod_config).await?;
    let config = container_config(&image, "quick", &["sh", "-c", "exit 3"]);
    let id = create_and_start(&mut w.cri, &pod, &pod_config, config).await?;
    let runtime_state = w.daemon.state_dir().join("runtime/cradle-oci").join(&id);
    let cgroups: Vec<_> = w
        .cgroup
        .dirs()
        .into_iter()
        .map(|parent| parent.join(&id))
        .collect();
    let status = wait_for_state(
        &mut w.cri,
        &id,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(30),
    )
    .await?;
    ensure!(status.exit_code == 3, "exit code {}", status.exit_code);
    // The shim deletes right after answering the exit: poll, never time.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: Vec<&Path> = std::iter::once(runtime_state.as_path())
            .chain(cgroups.iter().map(|c| c.as_path()))
            .filter(|p| p.exists())
            .collect();
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!("after the exit, before RemoveContainer, still there: {left:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Still an exited container with its exit, as the kubelet expects.
    let listed = list_containers(&mut w.cri).await?;
    ensure!(
        listed
            .iter()
            .any(|c| c.id == id && c.state == cri::ContainerState::ContainerExited as i32),
        "the exited container is not listed as EXITED: {listed:?}"
    );
    let again = wait_for_state(
        &mut w.cri,
        &id,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(1),
    )
    .await?;
    ensure!(again.exit_code == 3, "exit code later {}", again.exit_code);
    remove_pod_and_check_leaks(&mut w.cri, &w.daemon, &pod, &[id]).await
}

async fn rootfs_is_volatile(w: &mut World) -> anyhow::Result<()> {
    let supported = kernel_has_volatile_overlays()?;
    let image = w.registry.image_ref();
    pull(&mut w.cri, &image).await?;
    let pod_config = pod_config(&w.daemon, &w.cgroup)?;
    let pod = run_pod(&mut w.cri, &pod_config).await?;
    let config = container_config(&image, "sleeper", &["sleep", "3600"]);
    let id = create_and_start(&mut w.cri, &pod, &pod_config, config).await?;
    let rootfs = w
        .daemon
        .root()
        .join("containers")
        .join(&id)
        .join("bundle/rootfs");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let line = mountinfo
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some(rootfs.to_str().unwrap_or_default()))
        .with_context(|| format!("no mount at {}", rootfs.display()))?;
    let options = line.split(" - ").nth(1).unwrap_or_default();
    ensure!(
        options.contains("volatile") == supported,
        "rootfs overlay options {options:?} (volatile overlays supported here: {supported})"
    );
    remove_pod_and_check_leaks(&mut w.cri, &w.daemon, &pod, &[id]).await
}

/// Whether this kernel mounts a `volatile` overlay: one is tried in a temp dir.
fn kernel_has_volatile_overlays() -> anyhow::Result<bool> {
    let dir = tempfile::tempdir()?;
    for sub in ["l", "u", "w", "m"] {
        std::fs::create_dir(dir.path().join(sub))?;
    }
    let p = |s: &str| dir.path().join(s).display().to_string();
    let data = format!(
        "lowerdir={},upperdir={},workdir={},volatile",
        p("l"),
        p("u"),
        p("w")
    );
    let target = dir.path().join("m");
    let mounted = nix::mount::mount(
        Some("overlay"),
        &target,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data.as_str()),
    );
    match mounted {
        Ok(()) => {
            nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH)?;
            Ok(true)
        }
        Err(nix::errno::Errno::EINVAL) => Ok(false),
        Err(e) => Err(e).context("mounting a test overlay"),
    }
}
