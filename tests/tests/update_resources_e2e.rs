//! UpdateContainerResources end to end over the CRI socket, under both
//! runtime handlers (the daemon hands the new limits to `<runtime> update`):
//! a running container's memory, memory+swap and CPU quota change, read back
//! from its own cgroup files and from ContainerStatus; raising the memory
//! limit above the old memory+swap total works (the runtime orders the two
//! writes). Under cradle-oci a limit the node cannot apply is refused with
//! the runtime's reason and leaves the container running with its old
//! limits (runc skips limits of controllers that are not mounted).

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use anyhow::{Context, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, container_status, create_and_start, exec, leak_scope, pod_config, pull,
    run_pod_on, stop_and_remove_container, stop_and_remove_pod, update_resources,
};
use cradle_tests::{CgroupParent, Cri, Daemon, World, leaks, skip_unless_ready};

const MIB: i64 = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_container_resources_changes_a_running_container() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = async {
        let image = w.registry.image_ref();
        pull(&mut w.cri, &image).await?;
        for handler in ["", "runc"] {
            update_under(&mut w.cri, &w.daemon, &w.cgroup, &image, handler)
                .await
                .with_context(|| format!("handler {handler:?}"))?;
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    w.finish(result).await;
}

async fn update_under(
    cri: &mut Cri,
    daemon: &Daemon,
    cgroup: &CgroupParent,
    image: &str,
    handler: &str,
) -> anyhow::Result<()> {
    let pod = pod_config(daemon, cgroup)?;
    let pod_id = run_pod_on(cri, &pod, handler).await?;
    let mut config = container_config(image, "update", &["sleep", "3600"]);
    config.linux.get_or_insert_with(Default::default).resources = Some(limits(128, 256, 50_000));
    let id = create_and_start(cri, &pod_id, &pod, config).await?;
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    ensure!(read_limits(cri, &id, v2).await? == expected(128, 256, 50_000, v2));

    // Up: the new memory limit is above the old memory+swap total.
    update_resources(cri, &id, limits(384, 512, 20_000)).await?;
    ensure!(
        read_limits(cri, &id, v2).await? == expected(384, 512, 20_000, v2),
        "raised limits not applied"
    );
    // Down again.
    update_resources(cri, &id, limits(64, 96, 10_000)).await?;
    let now = read_limits(cri, &id, v2).await?;
    ensure!(
        now == expected(64, 96, 10_000, v2),
        "lowered limits not applied: {now:?}"
    );
    let reported = container_status(cri, &id)
        .await?
        .resources
        .and_then(|r| r.linux)
        .context("ContainerStatus has no linux resources")?;
    ensure!(reported.memory_limit_in_bytes == 64 * MIB, "{reported:?}");
    ensure!(reported.cpu_quota == 10_000, "{reported:?}");

    if handler.is_empty() {
        refused_update_changes_nothing(cri, &id, v2, &now).await?;
    }

    stop_and_remove_container(cri, &id).await?;
    stop_and_remove_pod(cri, &pod_id).await?;
    leaks::assert_none(&leak_scope(daemon, &[&id, &pod_id]));
    Ok(())
}

/// A limit the node cannot apply: the reason comes back, nothing changes.
async fn refused_update_changes_nothing(
    cri: &mut Cri,
    id: &str,
    v2: bool,
    now: &[String],
) -> anyhow::Result<()> {
    let mut impossible = limits(64, 96, 10_000);
    impossible.hugepage_limits = vec![cri::HugepageLimit {
        page_size: "3MB".into(),
        limit: 6 * MIB as u64,
    }];
    let refused = cri
        .runtime
        .update_container_resources(cri::UpdateContainerResourcesRequest {
            container_id: id.into(),
            linux: Some(impossible),
            ..Default::default()
        })
        .await
        .err()
        .context("an impossible hugepage limit was accepted")?;
    ensure!(
        refused.message().contains("huge"),
        "the refusal does not say why: {refused:?}"
    );
    ensure!(
        read_limits(cri, id, v2).await? == now,
        "a refused update changed limits"
    );
    ensure!(
        container_status(cri, id).await?.state == cri::ContainerState::ContainerRunning as i32,
        "the container stopped"
    );
    Ok(())
}

fn limits(
    memory_mib: i64,
    memory_and_swap_mib: i64,
    cpu_quota: i64,
) -> cri::LinuxContainerResources {
    cri::LinuxContainerResources {
        cpu_period: 100_000,
        cpu_quota,
        memory_limit_in_bytes: memory_mib * MIB,
        memory_swap_limit_in_bytes: memory_and_swap_mib * MIB,
        ..Default::default()
    }
}

/// The cgroup files as the kernel shows them: memory, swap, CPU quota.
fn expected(memory_mib: i64, memory_and_swap_mib: i64, cpu_quota: i64, v2: bool) -> Vec<String> {
    if v2 {
        vec![
            (memory_mib * MIB).to_string(),
            ((memory_and_swap_mib - memory_mib) * MIB).to_string(),
            format!("{cpu_quota} 100000"),
        ]
    } else {
        vec![
            (memory_mib * MIB).to_string(),
            (memory_and_swap_mib * MIB).to_string(),
            cpu_quota.to_string(),
        ]
    }
}

/// Reads the container's own cgroup files from inside it.
async fn read_limits(cri: &mut Cri, id: &str, v2: bool) -> anyhow::Result<Vec<String>> {
    let files: &[&str] = if v2 {
        &[
            "/sys/fs/cgroup/memory.max",
            "/sys/fs/cgroup/memory.swap.max",
            "/sys/fs/cgroup/cpu.max",
        ]
    } else {
        &[
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes",
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        ]
    };
    let mut values = Vec::new();
    for file in files {
        let (code, out) = exec(cri, id, &["cat", file]).await?;
        ensure!(code == 0, "reading {file}: {out}");
        values.push(out.trim().to_string());
    }
    Ok(values)
}
