//! Mount propagation and recursive read-only mounts end to end over the CRI
//! socket. Bidirectional (under cradle-oci and runc): a mount made inside a privileged container under the volume shows on the
//! host, and a host mount made afterwards shows inside (the host dir is a
//! shared mount, as the kubelet's are).
//! Recursive read-only: Status advertises it per handler, and under both
//! cradle-oci and runc a submount of the volume is read-only too, where a
//! plain read-only bind leaves it writable; invalid combinations are
//! refused at CreateContainer.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::path::Path;

use anyhow::{Context, ensure};
use cradle_proto::cri;
use cradle_tests::mounts::{SharedMount, Unmount, ensure_mounted};
use cradle_tests::steps::{
    container_config, create_and_start, exec, leak_scope, pod_config, pull, run_pod_on,
    stop_and_remove_container, stop_and_remove_pod,
};
use cradle_tests::{CgroupParent, Cri, Daemon, World, leaks, skip_unless_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidirectional_and_recursive_read_only_mounts() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = async {
        let image = w.registry.image_ref();
        pull(&mut w.cri, &image).await?;
        for handler in BIDIRECTIONAL_HANDLERS {
            bidirectional(&mut w.cri, &w.daemon, &w.cgroup, &image, handler).await?;
        }
        recursive_read_only(&mut w.cri, &w.daemon, &w.cgroup, &image).await
    }
    .await;
    w.finish(result).await;
}

/// The handlers the bidirectional case runs under: cradle-oci (the default
/// handler) and runc. An `rshared` rootfs propagation needs the launcher to
/// make the rootfs' own mount private before pivot_root.
const BIDIRECTIONAL_HANDLERS: [&str; 2] = ["", "runc"];

async fn bidirectional(
    cri: &mut Cri,
    daemon: &Daemon,
    cgroup: &CgroupParent,
    image: &str,
    handler: &str,
) -> anyhow::Result<()> {
    let host = daemon
        .dir()
        .join(format!("bidi-{}", handler_label(handler)));
    std::fs::create_dir_all(host.join("outer"))?;
    let shared = SharedMount::new(&host)?;
    // Whatever the container mounts there, the host unmounts at the end.
    let inner = Unmount(host.join("inner"));

    let mut pod = pod_config(daemon, cgroup)?;
    privileged_pod(&mut pod);
    let pod_id = run_pod_on(cri, &pod, handler).await?;
    let mut config = container_config(image, "bidi", &["sleep", "3600"]);
    privileged(&mut config);
    config.mounts = vec![cri::Mount {
        container_path: "/bidi".into(),
        host_path: host.display().to_string(),
        propagation: cri::MountPropagation::PropagationBidirectional as i32,
        ..Default::default()
    }];
    let id = create_and_start(cri, &pod_id, &pod, config).await?;

    // Container → host.
    let script = "mkdir -p /bidi/inner && mount -t tmpfs from-container /bidi/inner";
    let (code, out) = exec(cri, &id, &["sh", "-c", script]).await?;
    ensure!(code == 0, "mount inside the container: {out}");
    if let Err(e) = ensure_mounted(&host.join("inner"), "tmpfs") {
        let (_, mountinfo) = exec(cri, &id, &["cat", "/proc/self/mountinfo"]).await?;
        return Err(e.context(format!(
            "a container mount did not propagate to the host; the container's mountinfo:\n{mountinfo}"
        )));
    }
    // Host → container.
    let outer = Unmount::tmpfs(&host.join("outer"))?;
    let (_, mounts) = exec(cri, &id, &["cat", "/proc/mounts"]).await?;
    ensure!(
        mounts.contains(" /bidi/outer tmpfs "),
        "a host mount did not propagate into the container:\n{mounts}"
    );

    stop_and_remove_container(cri, &id).await?;
    stop_and_remove_pod(cri, &pod_id).await?;
    drop((outer, inner, shared));
    ensure!(
        !mounted_below(&host)?,
        "mounts left under {}",
        host.display()
    );
    leaks::assert_none(&leak_scope(daemon, &[&id, &pod_id]));
    Ok(())
}

async fn recursive_read_only(
    cri: &mut Cri,
    daemon: &Daemon,
    cgroup: &CgroupParent,
    image: &str,
) -> anyhow::Result<()> {
    let status = cri
        .runtime
        .status(cri::StatusRequest { verbose: false })
        .await?
        .into_inner();
    // The handlers used below (crun 1.8, also a handler where installed,
    // has no `features` and so no rro: runtime_handlers_e2e checks it).
    let used = status
        .runtime_handlers
        .iter()
        .filter(|h| ["", "cradle-oci", "runc"].contains(&h.name.as_str()));
    for handler in used {
        let rro = handler
            .features
            .as_ref()
            .is_some_and(|f| f.recursive_read_only_mounts);
        ensure!(rro, "handler {:?} does not advertise rro", handler.name);
    }

    // A volume with a submount: the case where rro and ro differ.
    let host = daemon.dir().join("rro");
    std::fs::create_dir_all(host.join("sub"))?;
    let sub = Unmount::tmpfs(&host.join("sub"))?;
    let mut ids = Vec::new();
    for handler in ["", "runc"] {
        let pod = pod_config(daemon, cgroup)?;
        let pod_id = run_pod_on(cri, &pod, handler).await?;
        ids.push(pod_id.clone());
        let volume = |dest: &str, recursive: bool| cri::Mount {
            container_path: dest.into(),
            host_path: host.display().to_string(),
            readonly: true,
            recursive_read_only: recursive,
            ..Default::default()
        };
        let mut config = container_config(image, "rro", &["sleep", "3600"]);
        config.mounts = vec![volume("/rro", true), volume("/ro", false)];
        let id = create_and_start(cri, &pod_id, &pod, config).await?;
        ids.push(id.clone());
        let (code, out) = exec(cri, &id, &["touch", "/rro/sub/x"]).await?;
        ensure!(
            code != 0 && out.contains("Read-only"),
            "handler {handler:?}: a submount of an rro volume took a write: {out}"
        );
        let (code, out) = exec(cri, &id, &["touch", "/ro/sub/y"]).await?;
        ensure!(
            code == 0,
            "handler {handler:?}: plain ro made the submount read-only too: {out}"
        );

        // Refused: rro without readonly, and with non-private propagation.
        let mut writable = volume("/w", true);
        writable.readonly = false;
        let mut slave = volume("/s", true);
        slave.propagation = cri::MountPropagation::PropagationHostToContainer as i32;
        for (mount, why) in [(writable, "needs readonly"), (slave, "needs private")] {
            let mut config = container_config(image, "refused", &["true"]);
            config.mounts = vec![mount];
            let err = cri
                .runtime
                .create_container(cri::CreateContainerRequest {
                    pod_sandbox_id: pod_id.clone(),
                    config: Some(config),
                    sandbox_config: Some(pod.clone()),
                })
                .await
                .err()
                .with_context(|| format!("an rro mount that {why} was accepted"))?;
            ensure!(err.message().contains(why), "{err:?}");
        }
        stop_and_remove_container(cri, &id).await?;
        stop_and_remove_pod(cri, &pod_id).await?;
    }
    ensure!(std::fs::read_dir(host.join("sub"))?.count() == 1, "only y");
    drop(sub);
    let all: Vec<&str> = ids.iter().map(String::as_str).collect();
    leaks::assert_none(&leak_scope(daemon, &all));
    Ok(())
}

fn handler_label(handler: &str) -> &str {
    if handler.is_empty() {
        "default"
    } else {
        handler
    }
}

fn privileged_pod(pod: &mut cri::PodSandboxConfig) {
    pod.linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default)
        .privileged = true;
}

fn privileged(config: &mut cri::ContainerConfig) {
    config
        .linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default)
        .privileged = true;
}

/// Whether anything is mounted at or below `dir` (host mount namespace).
fn mounted_below(dir: &Path) -> anyhow::Result<bool> {
    let prefix = dir.display().to_string();
    Ok(std::fs::read_to_string("/proc/self/mountinfo")?
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|p| p == prefix || p.starts_with(&format!("{prefix}/"))))
}
