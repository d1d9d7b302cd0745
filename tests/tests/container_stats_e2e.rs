//! Stats and metrics end to end over the CRI socket: the writable layer's
//! bytes and inodes in ContainerStats and ListContainerStats after the
//! container wrote a file, and ListMetricDescriptors/ListPodSandboxMetrics
//! as the kubelet's cAdvisor-less metrics endpoint reads them: every metric
//! described with as many label values as keys, the container's memory,
//! processes and spec, and the pod's per-interface counters after traffic
//! on interfaces the test adds to the pod's network namespace.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, create_and_start, exec, leak_scope, pod_config, pull, run_pod,
    stop_and_remove_container, stop_and_remove_pod,
};
use cradle_tests::{CgroupParent, Cri, Daemon, Registry, World, leaks, skip_unless_ready};

/// What the container writes into its writable layer.
const PAYLOAD_KIB: u64 = 2048;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writable_layer_and_pod_metrics_are_reported() {
    skip_unless_ready!(true);
    let mut w = World::start().await;
    let result = scenario(&mut w.cri, &w.daemon, &w.registry, &w.cgroup).await;
    w.finish(result).await;
}

async fn scenario(
    cri: &mut Cri,
    daemon: &Daemon,
    registry: &Registry,
    cgroup: &CgroupParent,
) -> anyhow::Result<()> {
    let image = registry.image_ref();
    pull(cri, &image).await?;
    let pod = pod_config(daemon, cgroup)?;
    let pod_id = run_pod(cri, &pod).await?;
    let script =
        format!("dd if=/dev/zero of=/payload bs=1024 count={PAYLOAD_KIB}; sleep 3600 & wait");
    let mut config = container_config(&image, "writer", &["sh", "-c", &script]);
    config.linux.get_or_insert_with(Default::default).resources =
        Some(cri::LinuxContainerResources {
            memory_limit_in_bytes: 64 << 20,
            ..Default::default()
        });
    let id = create_and_start(cri, &pod_id, &pod, config).await?;

    // The writable layer: the payload's blocks, and inodes for it and the dir.
    let layer = wait_for_writable_layer(cri, &id).await?;
    let inodes = layer.inodes_used.map(|v| v.value).unwrap_or(0);
    ensure!(inodes >= 2, "inodes_used {inodes}");
    ensure!(
        layer
            .fs_id
            .is_some_and(|f| f.mountpoint == daemon.root().display().to_string()),
        "writable layer fs_id is not the daemon's root"
    );
    let listed = cri
        .runtime
        .list_container_stats(cri::ListContainerStatsRequest::default())
        .await?
        .into_inner()
        .stats;
    let mine = listed
        .iter()
        .find(|s| s.attributes.as_ref().is_some_and(|a| a.id == id))
        .context("container missing from ListContainerStats")?;
    ensure!(
        used_bytes(mine.writable_layer.as_ref()) >= PAYLOAD_KIB * 1024,
        "ListContainerStats writable layer: {:?}",
        mine.writable_layer
    );

    // Traffic on interfaces of the pod's own: a veth pair, both ends in the
    // pod's network namespace; pinging an absent neighbour on one sends ARP
    // requests the other end receives.
    let pid = container_pid(cri, &id).await?;
    let pid = pid.to_string();
    let setup = "ip link add v0 type veth peer name v1 && ip addr add 10.254.77.1/24 dev v0 \
                 && ip link set v0 up && ip link set v1 up";
    let out = std::process::Command::new("nsenter")
        .args(["-t", &pid, "-n", "sh", "-c", setup])
        .output()?;
    ensure!(out.status.success(), "adding v0/v1: {out:?}");
    // No reply can come: only the counters matter.
    exec(cri, &id, &["ping", "-c", "3", "-W", "1", "10.254.77.2"]).await?;

    let descriptors: HashMap<String, usize> = cri
        .runtime
        .list_metric_descriptors(cri::ListMetricDescriptorsRequest::default())
        .await?
        .into_inner()
        .descriptors
        .into_iter()
        .map(|d| (d.name, d.label_keys.len()))
        .collect();
    let all = cri
        .runtime
        .list_pod_sandbox_metrics(cri::ListPodSandboxMetricsRequest::default())
        .await?
        .into_inner()
        .pod_metrics;
    let metrics = all
        .iter()
        .find(|m| m.pod_sandbox_id == pod_id)
        .context("pod missing from ListPodSandboxMetrics")?;
    let containers = &metrics.container_metrics;
    ensure!(
        containers.len() == 1 && containers[0].container_id == id,
        "container metrics: {containers:?}"
    );
    for m in metrics.metrics.iter().chain(&containers[0].metrics) {
        let keys = descriptors
            .get(&m.name)
            .with_context(|| format!("{} is not described", m.name))?;
        ensure!(*keys == m.label_values.len(), "labels of {m:?}");
    }
    let c = &containers[0].metrics;
    ensure!(get(c, "container_memory_working_set_bytes", &[])? > 0);
    ensure!(get(c, "container_memory_usage_bytes", &[])? > 0);
    let processes = get(c, "container_processes", &[])?;
    ensure!(processes >= 2, "sh and sleep, but {processes} processes");
    ensure!(get(c, "container_spec_memory_limit_bytes", &[])? == 64 << 20);
    get(c, "container_cpu_usage_seconds_total", &["total"])?;
    ensure!(c[0].label_values[..3] == [id.clone(), "writer".into(), image.clone()]);
    let p = &metrics.metrics;
    let sent = get(p, "container_network_transmit_packets_total", &["v0"])?;
    ensure!(sent >= 1, "v0 sent {sent} packets");
    ensure!(get(p, "container_network_transmit_bytes_total", &["v0"])? >= 42 * sent);
    ensure!(get(p, "container_network_receive_packets_total", &["v1"])? >= 1);
    ensure!(get(p, "container_network_receive_bytes_total", &["v1"])? >= 42);
    get(p, "container_network_transmit_errors_total", &["v0"])?;

    stop_and_remove_container(cri, &id).await?;
    stop_and_remove_pod(cri, &pod_id).await?;
    leaks::assert_none(&leak_scope(daemon, &[&id, &pod_id]));
    Ok(())
}

fn used_bytes(layer: Option<&cri::FilesystemUsage>) -> u64 {
    layer
        .and_then(|l| l.used_bytes.as_ref())
        .map(|v| v.value)
        .unwrap_or(0)
}

/// Polls ContainerStats (its usage is cached for a moment) until the
/// writable layer holds the payload, for at most 15 s.
async fn wait_for_writable_layer(cri: &mut Cri, id: &str) -> anyhow::Result<cri::FilesystemUsage> {
    let mut last = None;
    for _ in 0..60 {
        let stats = cri
            .runtime
            .container_stats(cri::ContainerStatsRequest {
                container_id: id.into(),
            })
            .await?
            .into_inner()
            .stats
            .context("no stats")?;
        if used_bytes(stats.writable_layer.as_ref()) >= PAYLOAD_KIB * 1024 {
            return stats.writable_layer.context("no writable layer");
        }
        last = stats.writable_layer;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!("the writable layer never held the payload: {last:?}")
}

/// The container's init pid on the host (ContainerStatus verbose info).
async fn container_pid(cri: &mut Cri, id: &str) -> anyhow::Result<u64> {
    let info = cri
        .runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: id.into(),
            verbose: true,
        })
        .await?
        .into_inner()
        .info;
    let info: serde_json::Value = serde_json::from_str(info.get("info").context("no info")?)?;
    info["pid"].as_u64().filter(|p| *p > 0).context("no pid")
}

/// The value of metric `name` whose labels after the base three are `extra`.
fn get(metrics: &[cri::Metric], name: &str, extra: &[&str]) -> anyhow::Result<u64> {
    metrics
        .iter()
        .find(|m| {
            m.name == name
                && m.label_values.len() == 3 + extra.len()
                && m.label_values[3..].iter().zip(extra).all(|(a, b)| a == b)
        })
        .and_then(|m| m.value.as_ref())
        .map(|v| v.value)
        .with_context(|| format!("no {name}{extra:?} in {metrics:?}"))
}
