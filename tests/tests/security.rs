//! Security contexts end to end, checked from inside real containers and in
//! what the CRI reports back: a user name resolved from the image's
//! /etc/passwd with supplemental groups, seccomp RuntimeDefault (Seccomp: 2
//! and a denied `unshare`) against an unconfined container, a privileged
//! container (all capabilities, /proc unmasked, /sys writable), and an OOM
//! kill reported as OOMKilled with exit code 137, pid namespace TARGET, the
//! termination message in ContainerStatus.message and a missing host path
//! created as a directory. One daemon, one registry,
//! one privileged pod for all of them.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::time::Duration;

use anyhow::{Context, ensure};
use cradle_proto::cri;
use cradle_tests::mounts::SharedMount;
use cradle_tests::steps::{
    container_config, create_and_start, exec, memory_hog_config, pod_config, pull,
    remove_pod_and_check_leaks, run_pod, wait_for_state,
};
use cradle_tests::{CgroupParent, Cri, Daemon, Registry, World, skip_unless_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_contexts_take_effect_inside_the_container() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = scenario(&mut w.cri, &w.daemon, &w.registry, &w.cgroup).await;
    w.finish(result).await;
}

fn security(config: &mut cri::ContainerConfig) -> &mut cri::LinuxContainerSecurityContext {
    config
        .linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default)
}

async fn scenario(
    cri: &mut Cri,
    daemon: &Daemon,
    registry: &Registry,
    cgroup: &CgroupParent,
) -> anyhow::Result<()> {
    let image = registry.image_ref();
    pull(cri, &image).await?;
    let mut pod = pod_config(daemon, cgroup)?;
    pod.linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default)
        .privileged = true;
    let pod_id = run_pod(cri, &pod).await?;
    let sleep = ["sleep", "3600"];
    let mut ids = Vec::new();

    // Privileged: every capability, /proc unmasked, /sys writable. First in
    // the pod: sysfs has one superblock per network namespace, so after a
    // container mounted it read-only every later mount in the pod is too.
    let mut privileged = container_config(&image, "privileged", &sleep);
    security(&mut privileged).privileged = true;
    let privileged = create_and_start(cri, &pod_id, &pod, privileged).await?;
    ids.push(privileged.clone());
    let (_, status) = exec(cri, &privileged, &["cat", "/proc/self/status"]).await?;
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(str::trim)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .context("no CapEff")?;
    ensure!(cap_eff & (1 << 21) != 0, "no CAP_SYS_ADMIN: {cap_eff:x}");
    ensure!(
        seccomp_mode(cri, &privileged).await? == "0",
        "privileged has a filter"
    );
    let (_, mounts) = exec(cri, &privileged, &["cat", "/proc/mounts"]).await?;
    ensure!(
        !mounts.contains(" /proc/keys "),
        "/proc/keys masked: {mounts}"
    );
    ensure!(
        mounts
            .lines()
            .any(|l| l.split(' ').nth(1) == Some("/sys") && l.contains(" rw,")),
        "/sys is not rw: {mounts}"
    );

    // A named user with a supplemental group, under RuntimeDefault.
    let mut restricted = container_config(&image, "restricted", &sleep);
    security(&mut restricted).run_as_username = "nobody".into();
    security(&mut restricted).supplemental_groups = vec![1234];
    security(&mut restricted).seccomp = Some(cri::SecurityProfile::default());
    let restricted = create_and_start(cri, &pod_id, &pod, restricted).await?;
    ids.push(restricted.clone());
    let (_, id_out) = exec(cri, &restricted, &["id"]).await?;
    ensure!(
        id_out.contains("uid=65534(nobody) gid=65534(nobody)") && id_out.contains("1234"),
        "id: {id_out}"
    );
    let status = cradle_tests::steps::container_status(cri, &restricted).await?;
    let user = status
        .user
        .and_then(|u| u.linux)
        .context("no user in ContainerStatus")?;
    ensure!(
        (user.uid, user.gid, user.supplemental_groups.clone()) == (65534, 65534, vec![65534, 1234]),
        "ContainerStatus.user {user:?}"
    );
    let verbose = cri
        .runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: restricted.clone(),
            verbose: true,
        })
        .await?
        .into_inner()
        .info;
    let info: serde_json::Value =
        serde_json::from_str(verbose.get("info").context("no verbose info")?)?;
    ensure!(
        info["pid"].as_u64().is_some_and(|p| p > 0)
            && info["runtimeSpec"]["process"]["user"]["uid"] == 65534,
        "verbose info: pid {} user {}",
        info["pid"],
        info["runtimeSpec"]["process"]["user"]
    );
    ensure!(
        seccomp_mode(cri, &restricted).await? == "2",
        "RuntimeDefault: no filter"
    );
    let (code, out) = exec(cri, &restricted, &["unshare", "-U", "true"]).await?;
    ensure!(code != 0, "unshare succeeded under RuntimeDefault: {out}");

    // No profile asked: unconfined, and the user namespace can be made.
    let plain = container_config(&image, "plain", &sleep);
    let plain = create_and_start(cri, &pod_id, &pod, plain).await?;
    ids.push(plain.clone());
    ensure!(
        seccomp_mode(cri, &plain).await? == "0",
        "unconfined has a filter"
    );
    let (code, out) = exec(cri, &plain, &["unshare", "-U", "true"]).await?;
    ensure!(code == 0, "unshare -U unconfined: {out}");
    let (_, plain_mounts) = exec(cri, &plain, &["cat", "/proc/mounts"]).await?;
    ensure!(
        plain_mounts.contains(" /proc/keys "),
        "/proc/keys is not masked in a plain container: {plain_mounts}"
    );

    // An allocation past the memory limit: OOMKilled, exit code 137.
    let mut hog = memory_hog_config(&image);
    hog.linux.get_or_insert_with(Default::default).resources = Some(cri::LinuxContainerResources {
        memory_limit_in_bytes: 16 << 20,
        ..Default::default()
    });
    let hog = create_and_start(cri, &pod_id, &pod, hog).await?;
    ids.push(hog.clone());
    let exited = wait_for_state(
        cri,
        &hog,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(30),
    )
    .await?;
    ensure!(
        exited.reason == "OOMKilled" && exited.exit_code == 137,
        "OOM: reason {:?} exit {}",
        exited.reason,
        exited.exit_code
    );

    // pid TARGET: the second container sees the first one's processes.
    let target = container_config(&image, "target", &["sleep", "3601"]);
    let target = create_and_start(cri, &pod_id, &pod, target).await?;
    ids.push(target.clone());
    let mut joiner = container_config(&image, "joiner", &sleep);
    let options = security(&mut joiner)
        .namespace_options
        .get_or_insert_with(Default::default);
    options.pid = cri::NamespaceMode::Target as i32;
    options.target_id = target.clone();
    let joiner = create_and_start(cri, &pod_id, &pod, joiner).await?;
    ids.push(joiner.clone());
    let (_, cmdline) = exec(cri, &joiner, &["cat", "/proc/1/cmdline"]).await?;
    ensure!(
        cmdline.contains("3601"),
        "pid 1 of the joiner is not the target's: {cmdline:?}"
    );

    // The termination message file comes back as ContainerStatus.message,
    // and a missing host path is created as a directory.
    let host = daemon.dir().join("term");
    std::fs::create_dir_all(&host)?;
    std::fs::write(host.join("termination-log"), "")?;
    let missing = host.join("made/by/cradle");
    let mut ending = container_config(
        &image,
        "ending",
        &[
            "sh",
            "-c",
            "ls -d /data && echo goodbye > /dev/termination-log; exit 3",
        ],
    );
    ending.mounts = vec![
        cri::Mount {
            container_path: "/dev/termination-log".into(),
            host_path: host.join("termination-log").display().to_string(),
            ..Default::default()
        },
        cri::Mount {
            container_path: "/data".into(),
            host_path: missing.display().to_string(),
            ..Default::default()
        },
    ];
    let ending = create_and_start(cri, &pod_id, &pod, ending).await?;
    ids.push(ending.clone());
    let exited = wait_for_state(
        cri,
        &ending,
        cri::ContainerState::ContainerExited,
        Duration::from_secs(20),
    )
    .await?;
    ensure!(
        (
            exited.exit_code,
            exited.reason.as_str(),
            exited.message.as_str()
        ) == (3, "Error", "goodbye\n"),
        "exit {} reason {:?} message {:?}",
        exited.exit_code,
        exited.reason,
        exited.message
    );
    ensure!(missing.is_dir(), "missing host path was not created");

    // A read-only bind mount with host-to-container propagation: a mount
    // made on the host afterwards shows up inside; writes are refused.
    let shared = daemon.dir().join("volumes");
    std::fs::create_dir_all(shared.join("sub"))?;
    let _shared = SharedMount::new(&shared)?;
    let mut watcher = container_config(&image, "watcher", &sleep);
    watcher.mounts = vec![cri::Mount {
        container_path: "/prop".into(),
        host_path: shared.display().to_string(),
        readonly: true,
        propagation: cri::MountPropagation::PropagationHostToContainer as i32,
        ..Default::default()
    }];
    let watcher = create_and_start(cri, &pod_id, &pod, watcher).await?;
    ids.push(watcher.clone());
    let (code, _) = exec(cri, &watcher, &["touch", "/prop/x"]).await?;
    ensure!(code != 0, "a read-only mount accepted a write");
    run(&["mount", "-t", "tmpfs", "tmpfs"], &shared.join("sub"))?;
    let (_, mounts) = exec(cri, &watcher, &["cat", "/proc/mounts"]).await?;
    run(&["umount"], &shared.join("sub"))?;
    ensure!(
        mounts.contains(" /prop/sub tmpfs "),
        "a host mount did not propagate into the container:\n{mounts}"
    );

    remove_pod_and_check_leaks(cri, daemon, &pod_id, &ids).await
}

/// The `Seccomp:` mode of a process in the container.
async fn seccomp_mode(cri: &mut Cri, id: &str) -> anyhow::Result<String> {
    let (_, status) = exec(cri, id, &["cat", "/proc/self/status"]).await?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .map(|v| v.trim().to_string())
        .context("no Seccomp line")
}

/// Runs a command whose last argument is `path`.
fn run(args: &[&str], path: &std::path::Path) -> anyhow::Result<()> {
    let status = std::process::Command::new(args[0])
        .args(&args[1..])
        .arg(path)
        .status()?;
    ensure!(status.success(), "{args:?} {} failed", path.display());
    Ok(())
}
