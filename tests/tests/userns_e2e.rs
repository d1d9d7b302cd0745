//! Pod user namespaces end to end over the CRI socket (issue 15, item 3):
//! a pod with `userns_options` mode POD, as the kubelet sends it for
//! `hostUsers: false`, runs its container as root of the pod's user
//! namespace: `id -u` is 0, `/proc/self/uid_map` shows the mapping, a file
//! created in the rootfs and in a hostPath volume is owned on the host by
//! the mapped id, a host-owned file outside the mapping cannot be written,
//! and the container can neither load a kernel module nor mount the
//! host's block device. Bad mappings and modes are refused. As critest's
//! UserNamespaces specs ask: with every namespace option left at its
//! default (pid, network and IPC POD) the container, in the pod's shared
//! pid namespace, prints the pod's mapping; with mode NODE, the node's.
//! Every handler `Status` says supports user namespaces runs such a pod;
//! every other one refuses it at RunPodSandbox (FailedPrecondition).

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::PermissionsExt;

use anyhow::ensure;
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, container_security, create_and_start, exec, pod_config, pod_security, pull,
    remove_pod_and_check_leaks, run_pod,
};
use cradle_tests::{World, skip_unless_ready};

/// The kubelet's choice for the k-th pod: k × 65536, 65536 ids.
const HOST_ID: u32 = 7 * 65536;

fn userns(options: &mut Option<cri::NamespaceOption>) {
    let map = vec![cri::IdMapping {
        host_id: HOST_ID,
        container_id: 0,
        length: 65536,
    }];
    let options = options.get_or_insert_with(Default::default);
    options.pid = cri::NamespaceMode::Container as i32;
    options.userns_options = Some(cri::UserNamespace {
        mode: cri::NamespaceMode::Pod as i32,
        uids: map.clone(),
        gids: map,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_user_namespace_maps_root_and_confines_it() {
    skip_unless_ready!(true);
    if !user_namespaces_or_skip() {
        return;
    }
    let mut w = World::start().await;
    let result = scenario(&mut w).await;
    w.finish_with_log(result).await;
}

async fn scenario(w: &mut World) -> anyhow::Result<()> {
    let cri = &mut w.cri;
    let image = w.registry.image_ref();
    pull(cri, &image).await?;

    // Refused at the door, before anything is created.
    let mut bad = pod_config(&w.daemon, &w.cgroup)?;
    let security = pod_security(&mut bad);
    security.namespace_options = Some(cri::NamespaceOption {
        userns_options: Some(cri::UserNamespace {
            mode: cri::NamespaceMode::Container as i32,
            ..Default::default()
        }),
        ..Default::default()
    });
    let refused = run_pod(cri, &bad).await;
    ensure!(refused.is_err(), "mode CONTAINER was accepted");

    let mut pod = pod_config(&w.daemon, &w.cgroup)?;
    userns(&mut pod_security(&mut pod).namespace_options);
    let pod_id = run_pod(cri, &pod).await?;

    // Below a directory the pod's root cannot search, as the kubelet's
    // `pods/<uid>/` (0750 root): the runtime reaches the source, not it.
    let kubelet_pods = w.daemon.dir().join("kubelet-pods");
    std::fs::create_dir_all(&kubelet_pods)?;
    std::fs::set_permissions(&kubelet_pods, std::fs::Permissions::from_mode(0o750))?;
    let volume = kubelet_pods.join("userns-volume");
    std::fs::create_dir_all(&volume)?;
    std::os::unix::fs::chown(&volume, Some(HOST_ID), Some(HOST_ID))?;
    let host_owned = volume.join("host-owned");
    std::fs::write(&host_owned, "node's")?;
    let mut config = container_config(&image, "userns", &["sleep", "3600"]);
    userns(&mut container_security(&mut config).namespace_options);
    config.mounts = vec![cri::Mount {
        container_path: "/vol".into(),
        host_path: volume.display().to_string(),
        ..Default::default()
    }];
    // The node's root filesystem device, handed in as a node: root of the
    // pod's user namespace still may not mount it.
    let disk = root_block_device();
    if let Some(disk) = &disk {
        config.mounts.push(cri::Mount {
            container_path: "/dev/hostdisk".into(),
            host_path: disk.clone(),
            readonly: true,
            ..Default::default()
        });
    }
    let id = create_and_start(cri, &pod_id, &pod, config).await?;

    let (code, out) = exec(cri, &id, &["id", "-u"]).await?;
    ensure!(code == 0 && out.trim() == "0", "id -u: {code} {out}");
    let (_, map) = exec(cri, &id, &["cat", "/proc/self/uid_map"]).await?;
    let fields: Vec<&str> = map.split_whitespace().collect();
    ensure!(
        fields == ["0", &HOST_ID.to_string(), "65536"],
        "uid_map: {map}"
    );

    // Writes land as the mapped id on the host.
    let (code, out) = exec(
        cri,
        &id,
        &["sh", "-c", "echo r > /in-rootfs && echo v > /vol/in-volume"],
    )
    .await?;
    ensure!(code == 0, "writing as the namespace's root: {out}");
    let upper = w
        .daemon
        .root()
        .join("snapshots/containers")
        .join(&id)
        .join("upper");
    let in_rootfs = std::fs::metadata(upper.join("in-rootfs"))?;
    ensure!(
        (in_rootfs.uid(), in_rootfs.gid()) == (HOST_ID, HOST_ID),
        "rootfs file owned by {}:{}",
        in_rootfs.uid(),
        in_rootfs.gid()
    );
    let in_volume = std::fs::metadata(volume.join("in-volume"))?;
    ensure!(
        in_volume.uid() == HOST_ID,
        "volume file owned by {}",
        in_volume.uid()
    );
    // The image's own files show as the namespace's root (id-mapped lower
    // layers), and the node's root's file outside the mapping stays out of
    // reach.
    let (_, owner) = exec(cri, &id, &["stat", "-c", "%u", "/bin"]).await?;
    ensure!(owner.trim() == "0", "/bin owned by {owner} inside");
    let (code, out) = exec(cri, &id, &["sh", "-c", "echo x >> /vol/host-owned"]).await?;
    ensure!(code != 0, "wrote a file of the node's root: {out}");
    ensure!(std::fs::read_to_string(&host_owned)? == "node's");

    // Capabilities are the namespace's: the container's user namespace is
    // not the node's, so no capability of the node's is held; where the
    // kernel loads modules, loading one is refused (CAP_SYS_MODULE of the
    // node is asked for before the file is read).
    let (_, inside) = exec(cri, &id, &["readlink", "/proc/self/ns/user"]).await?;
    let node = std::fs::read_link("/proc/self/ns/user")?;
    ensure!(
        inside.trim() != node.to_string_lossy(),
        "the container is in the node's user namespace {inside}"
    );
    if std::path::Path::new("/proc/modules").exists() {
        let script = "head -c 4096 /dev/zero > /tmp/zero.ko && insmod /tmp/zero.ko";
        let (code, out) = exec(cri, &id, &["sh", "-c", script]).await?;
        ensure!(
            code != 0 && out.contains("not permitted"),
            "insmod: {code} {out}"
        );
    }
    if let Some(disk) = &disk {
        let script = "mkdir -p /mnt/disk && mount -o ro /dev/hostdisk /mnt/disk";
        let (code, out) = exec(cri, &id, &["sh", "-c", script]).await?;
        ensure!(
            code != 0 && (out.contains("not permitted") || out.contains("denied")),
            "mounting the node's {disk}: {code} {out}"
        );
    }
    let (_, status) = exec(cri, &id, &["cat", "/proc/self/status"]).await?;
    ensure!(status.contains("CapEff"), "{status}");

    remove_pod_and_check_leaks(cri, &w.daemon, &pod_id, &[id]).await?;
    Ok(())
}

/// critest's shape: only `userns_options` set, so pid, network and IPC are
/// the pod's (mode POD, 0); the container, in the pause's pid namespace,
/// must still mount its /proc.
fn critest_options(mode: cri::NamespaceMode, host_id: u32) -> Option<cri::NamespaceOption> {
    let map = vec![cri::IdMapping {
        host_id,
        container_id: 0,
        length: 100_000,
    }];
    let node = mode == cri::NamespaceMode::Node;
    Some(cri::NamespaceOption {
        userns_options: Some(cri::UserNamespace {
            mode: mode as i32,
            uids: if node { vec![] } else { map.clone() },
            gids: if node { vec![] } else { map },
        }),
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critests_user_namespace_pods_show_their_mapping() {
    skip_unless_ready!(true);
    if !user_namespaces_or_skip() {
        return;
    }
    let mut w = World::start().await;
    let result = critest_shapes(&mut w).await;
    w.finish_with_log(result).await;
}

async fn critest_shapes(w: &mut World) -> anyhow::Result<()> {
    let cri = &mut w.cri;
    let image = w.registry.image_ref();
    pull(cri, &image).await?;
    let host_map = std::fs::read_to_string("/proc/self/uid_map")?;
    for (mode, want) in [
        (cri::NamespaceMode::Pod, "0 1000 100000".to_string()),
        (
            cri::NamespaceMode::Node,
            host_map.split_whitespace().collect::<Vec<_>>().join(" "),
        ),
    ] {
        let options = critest_options(mode, 1000);
        let mut pod = pod_config(&w.daemon, &w.cgroup)?;
        pod_security(&mut pod).namespace_options = options.clone();
        let pod_id = run_pod(cri, &pod).await?;
        let mut config = container_config(&image, "uidmap", &["sleep", "3600"]);
        container_security(&mut config).namespace_options = options;
        let id = create_and_start(cri, &pod_id, &pod, config).await?;
        let (code, map) = exec(cri, &id, &["cat", "/proc/self/uid_map"]).await?;
        let seen = map.split_whitespace().collect::<Vec<_>>().join(" ");
        ensure!(
            code == 0 && seen == want,
            "{mode:?}: uid_map {map:?}, want {want}"
        );
        remove_pod_and_check_leaks(cri, &w.daemon, &pod_id, &[id]).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_handler_runs_a_user_namespace_pod_or_refuses_it_as_status_says() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = per_handler(&mut w).await;
    w.finish_with_log(result).await;
}

async fn per_handler(w: &mut World) -> anyhow::Result<()> {
    let cri = &mut w.cri;
    let image = w.registry.image_ref();
    pull(cri, &image).await?;
    let status = cri
        .runtime
        .status(cri::StatusRequest { verbose: false })
        .await?
        .into_inner();
    for handler in &status.runtime_handlers {
        let supported = handler.features.as_ref().is_some_and(|f| f.user_namespaces);
        let options = critest_options(cri::NamespaceMode::Pod, 1000);
        let mut pod = pod_config(&w.daemon, &w.cgroup)?;
        pod_security(&mut pod).namespace_options = options.clone();
        let ran = cri
            .runtime
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(pod.clone()),
                runtime_handler: handler.name.clone(),
            })
            .await;
        if !supported {
            let refused = ran.err();
            ensure!(
                refused
                    .as_ref()
                    .is_some_and(|s| s.code() == tonic::Code::FailedPrecondition
                        && s.message().contains("userns_options")),
                "handler {:?} does not advertise user namespaces but RunPodSandbox gave {refused:?}",
                handler.name
            );
            continue;
        }
        let pod_id = ran?.into_inner().pod_sandbox_id;
        let mut config = container_config(&image, "uidmap", &["sleep", "3600"]);
        container_security(&mut config).namespace_options = options;
        let id = create_and_start(cri, &pod_id, &pod, config).await?;
        let (_, map) = exec(cri, &id, &["cat", "/proc/self/uid_map"]).await?;
        let seen = map.split_whitespace().collect::<Vec<_>>().join(" ");
        ensure!(
            seen == "0 1000 100000",
            "handler {:?}: uid_map {map:?}",
            handler.name
        );
        remove_pod_and_check_leaks(cri, &w.daemon, &pod_id, &[id]).await?;
    }
    Ok(())
}

/// Whether the kernel has user namespaces; skips the test where it has none.
fn user_namespaces_or_skip() -> bool {
    let there = std::path::Path::new("/proc/self/ns/user").exists();
    if !there {
        cradle_testkit::skip("the kernel has no user namespaces");
    }
    there
}

/// The block device of the node's root filesystem, from mountinfo.
fn root_block_device() -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let line = info.lines().find(|l| l.split(' ').nth(4) == Some("/"))?;
    let source = line.split(" - ").nth(1)?.split(' ').nth(1)?;
    let is_block = std::fs::metadata(source).is_ok_and(|m| m.file_type().is_block_device());
    is_block.then(|| source.to_string())
}
