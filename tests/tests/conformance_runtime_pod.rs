//! critest's "Runtime info", "PodSandbox" (basic operations, metrics,
//! sysctls) and "Idempotence" groups, re-expressed over our CRI socket: one
//! daemon for the whole area, one pod per case as critest does, every case
//! run and reported (PASS/FAIL lines on stderr) before the test fails.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

#[path = "../src/conformance.rs"]
mod conformance;

use anyhow::{Context, ensure};
use conformance::World;
use cradle_proto::cri;
use cradle_tests::skip_unless_ready;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critest_runtime_info_pod_sandbox_and_idempotence() {
    skip_unless_ready!(true);
    let mut w = World::new().await;
    let mut failures = Vec::new();
    let f = &mut failures;

    // ---- Runtime info ----
    w.case("runtime should return version info", f, async |w| {
        let v = w
            .cri
            .runtime
            .version(cri::VersionRequest {
                version: "0.1.0".into(),
            })
            .await?
            .into_inner();
        ensure!(
            !v.version.is_empty()
                && !v.runtime_name.is_empty()
                && !v.runtime_version.is_empty()
                && !v.runtime_api_version.is_empty(),
            "empty Version fields: {v:?}"
        );
        Ok(())
    })
    .await;
    w.case("runtime should return runtime conditions", f, async |w| {
        let status = w
            .cri
            .runtime
            .status(cri::StatusRequest { verbose: false })
            .await?
            .into_inner()
            .status
            .context("no status")?;
        let ready = |t: &str| status.conditions.iter().any(|c| c.r#type == t && c.status);
        ensure!(
            ready("RuntimeReady") && ready("NetworkReady"),
            "conditions: {:?}",
            status.conditions
        );
        Ok(())
    })
    .await;

    // ---- PodSandbox: basic operations ----
    w.case("runtime should support running PodSandbox", f, async |w| {
        let (id, _) = w.default_pod().await?;
        let status = pod_status(w, &id).await?;
        ensure!(status.state == cri::PodSandboxState::SandboxReady as i32);
        ensure!(listed(w, &id).await?, "running pod not listed by id");
        w.remove_pod(&id).await
    })
    .await;
    w.case("runtime should support stopping PodSandbox", f, async |w| {
        let (id, _) = w.default_pod().await?;
        stop_pod(w, &id).await?;
        let status = pod_status(w, &id).await?;
        ensure!(
            status.state == cri::PodSandboxState::SandboxNotready as i32,
            "state after stop: {}",
            status.state
        );
        w.remove_pod(&id).await
    })
    .await;
    w.case("runtime should support removing PodSandbox", f, async |w| {
        let (id, _) = w.default_pod().await?;
        w.remove_pod(&id).await?;
        ensure!(!listed(w, &id).await?, "removed pod still listed");
        Ok(())
    })
    .await;
    w.case(
        "runtime should support preserving PodSandbox attributes",
        f,
        async |w| {
            let mut config = w.pod_config("PodSandbox-with-attributes-")?;
            let meta = config.metadata.clone().context("metadata")?;
            config.labels = [
                ("foo", "bar"),
                ("io.kubernetes.pod.name", meta.name.as_str()),
                ("io.kubernetes.pod.namespace", meta.namespace.as_str()),
                ("io.kubernetes.pod.uid", meta.uid.as_str()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            config.annotations = [("abc".to_string(), "def".to_string())].into();
            let id = w.run_pod(&config).await?;
            let status = pod_status(w, &id).await?;
            ensure!(status.metadata.as_ref() == Some(&meta), "{status:?}");
            ensure!(subset(&config.labels, &status.labels), "labels {status:?}");
            ensure!(
                subset(&config.annotations, &status.annotations),
                "annotations {status:?}"
            );
            let pods = list_pods(w, &id).await?;
            ensure!(pods.len() == 1, "listed by id: {pods:?}");
            ensure!(pods[0].metadata.as_ref() == Some(&meta), "{pods:?}");
            ensure!(subset(&config.labels, &pods[0].labels), "list labels");
            ensure!(subset(&config.annotations, &pods[0].annotations));
            w.remove_pod(&id).await
        },
    )
    .await;

    // ---- PodSandbox: metrics ----
    w.case(
        "runtime should support returning metrics descriptors",
        f,
        async |w| {
            let descs = descriptors(w).await?;
            for d in &descs {
                ensure!(
                    !d.help.is_empty() && !d.label_keys.is_empty(),
                    "descriptor without help or labels: {d:?}"
                );
            }
            let missing: Vec<&str> = EXPECTED_METRICS
                .iter()
                .filter(|n| !descs.iter().any(|d| d.name == **n))
                .copied()
                .collect();
            ensure!(missing.is_empty(), "missing descriptors: {missing:?}");
            Ok(())
        },
    )
    .await;
    let name = "runtime should support listing pod sandbox metrics";
    w.case(name, f, async |w| {
        let (pod_id, pod) = w.default_pod().await?;
        let mut config = w.container_config("container-for-metrics-", &[]);
        config.linux = Some(cri::LinuxContainerConfig {
            resources: Some(cri::LinuxContainerResources {
                cpu_period: 100_000,
                cpu_quota: 20_000,
                cpu_shares: 1024,
                memory_limit_in_bytes: 64 << 20,
                memory_swap_limit_in_bytes: 64 << 20,
                ..Default::default()
            }),
            ..Default::default()
        });
        let id = w.run(&pod_id, &pod, config).await?;
        w.exec_ok(
            &id,
            &[
                "/bin/sh",
                "-c",
                "mkdir -p /var/lib/mydisktest && for i in $(seq 1 10); do echo hi >> /var/lib/mydisktest/inode_test_file_$i; done; sync",
            ],
        )
        .await?;
        let descs = descriptors(w).await?;
        let all = w
            .cri
            .runtime
            .list_pod_sandbox_metrics(cri::ListPodSandboxMetricsRequest {})
            .await?
            .into_inner()
            .pod_metrics;
        let ours = all
            .iter()
            .find(|m| m.pod_sandbox_id == pod_id)
            .context("no metrics for the pod")?;
        let mut found: std::collections::HashMap<&str, usize> = Default::default();
        let container_metrics = ours.container_metrics.iter().flat_map(|c| &c.metrics);
        for m in ours.metrics.iter().chain(container_metrics) {
            found.entry(m.name.as_str()).or_insert(m.label_values.len());
        }
        let missing: Vec<&str> = EXPECTED_METRICS
            .iter()
            .filter(|n| !found.contains_key(**n) && !OPTIONAL_VALUES.contains(n))
            .copied()
            .collect();
        ensure!(missing.is_empty(), "metrics without values: {missing:?}");
        for d in &descs {
            if let Some(n) = found.get(d.name.as_str()) {
                ensure!(*n == d.label_keys.len(), "labels of {} differ", d.name);
            } else {
                ensure!(OPTIONAL_VALUES.contains(&d.name.as_str()), "{} absent", d.name);
            }
        }
        w.remove_pod(&pod_id).await
    })
    .await;

    // ---- PodSandbox: sysctls ----
    for (name, key, path, value) in [
        (
            "should support safe sysctls",
            "kernel.shm_rmid_forced",
            "/proc/sys/kernel/shm_rmid_forced",
            "1",
        ),
        (
            "should support unsafe sysctls",
            "fs.mqueue.msg_max",
            "/proc/sys/fs/mqueue/msg_max",
            "100",
        ),
    ] {
        w.case(name, f, async |w| {
            let mut pod = w.pod_config("pod-sandbox-with-sysctls-")?;
            pod.linux.get_or_insert_with(Default::default).sysctls =
                [(key.to_string(), value.to_string())].into();
            let pod_id = w.run_pod(&pod).await?;
            let config = w.container_config("container-sysctl-", &[]);
            let id = w.run(&pod_id, &pod, config).await?;
            let out = w.exec_ok(&id, &["cat", path]).await?;
            ensure!(out.trim() == value, "{path} = {out:?}");
            w.remove_pod(&pod_id).await
        })
        .await;
    }

    // ---- Idempotence ----
    let unknown = "4c3cf8a1-6e1f-4a37-9c55-2ad0b6f2a1e0";
    w.case("StopPodSandbox: no error if not found", f, async |w| {
        stop_pod(w, unknown).await
    })
    .await;
    w.case(
        "StopPodSandbox: no error if already stopped",
        f,
        async |w| {
            let (id, _) = w.default_pod().await?;
            for _ in 0..2 {
                stop_pod(w, &id).await?;
                let state = pod_status(w, &id).await?.state;
                ensure!(state == cri::PodSandboxState::SandboxNotready as i32);
            }
            w.remove_pod(&id).await
        },
    )
    .await;
    w.case("RemovePodSandbox: no error if not found", f, async |w| {
        w.cri
            .runtime
            .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: unknown.into(),
            })
            .await?;
        Ok(())
    })
    .await;
    w.case("StopContainer: no error if not found", f, async |w| {
        stop_container(w, unknown).await
    })
    .await;
    let already_stopped = async |w: &mut World| {
        let (pod_id, pod) = w.default_pod().await?;
        let config = w.container_config("idempotence-container-", &[]);
        let id = w.create(&pod_id, &pod, config).await?;
        w.start(&id).await?;
        w.stop_container(&id).await?;
        for _ in 0..2 {
            remove_container(w, &id).await?;
        }
        w.remove_pod(&pod_id).await
    };
    let name = "StopContainer: no error if already stopped";
    w.case(name, f, already_stopped).await;
    w.case("RemoveContainer: no error if not found", f, async |w| {
        remove_container(w, unknown).await
    })
    .await;
    w.case("RemoveImage: no error if not found", f, async |w| {
        for _ in 0..2 {
            w.remove_image(&"0".repeat(64)).await?;
        }
        Ok(())
    })
    .await;

    w.finish(failures).await;
}

/// cAdvisor's metric names critest expects, less its "unimplemented" list.
const EXPECTED_METRICS: &[&str] = &[
    "container_blkio_device_usage_total",
    "container_cpu_cfs_periods_total",
    "container_cpu_cfs_throttled_periods_total",
    "container_cpu_cfs_throttled_seconds_total",
    "container_cpu_system_seconds_total",
    "container_cpu_usage_seconds_total",
    "container_cpu_user_seconds_total",
    "container_file_descriptors",
    "container_fs_inodes_free",
    "container_fs_inodes_total",
    "container_fs_limit_bytes",
    "container_fs_reads_bytes_total",
    "container_fs_reads_total",
    "container_fs_usage_bytes",
    "container_fs_writes_bytes_total",
    "container_fs_writes_total",
    "container_last_seen",
    "container_memory_cache",
    "container_memory_failcnt",
    "container_memory_failures_total",
    "container_memory_kernel_usage",
    "container_memory_mapped_file",
    "container_memory_max_usage_bytes",
    "container_memory_rss",
    "container_memory_swap",
    "container_memory_usage_bytes",
    "container_memory_working_set_bytes",
    "container_network_receive_bytes_total",
    "container_network_receive_errors_total",
    "container_network_receive_packets_dropped_total",
    "container_network_receive_packets_total",
    "container_network_transmit_bytes_total",
    "container_network_transmit_errors_total",
    "container_network_transmit_packets_dropped_total",
    "container_network_transmit_packets_total",
    "container_oom_events_total",
    "container_processes",
    "container_sockets",
    "container_spec_cpu_period",
    "container_spec_cpu_shares",
    "container_spec_memory_limit_bytes",
    "container_spec_memory_swap_limit_bytes",
    "container_start_time_seconds",
    "container_threads",
    "container_threads_max",
];

/// Metrics whose values critest lets be absent (blkio accounting).
const OPTIONAL_VALUES: &[&str] = &[
    "container_blkio_device_usage_total",
    "container_fs_reads_bytes_total",
    "container_fs_reads_total",
    "container_fs_writes_bytes_total",
    "container_fs_writes_total",
];

fn subset(
    want: &std::collections::HashMap<String, String>,
    got: &std::collections::HashMap<String, String>,
) -> bool {
    want.iter().all(|(k, v)| got.get(k) == Some(v))
}

async fn pod_status(w: &mut World, id: &str) -> anyhow::Result<cri::PodSandboxStatus> {
    w.cri
        .runtime
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose: false,
        })
        .await
        .context("PodSandboxStatus")?
        .into_inner()
        .status
        .context("no status")
}

async fn list_pods(w: &mut World, id: &str) -> anyhow::Result<Vec<cri::PodSandbox>> {
    Ok(w.cri
        .runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest {
            filter: Some(cri::PodSandboxFilter {
                id: id.into(),
                ..Default::default()
            }),
        })
        .await
        .context("ListPodSandbox")?
        .into_inner()
        .items)
}

async fn listed(w: &mut World, id: &str) -> anyhow::Result<bool> {
    Ok(list_pods(w, id).await?.iter().any(|p| p.id == id))
}

async fn stop_pod(w: &mut World, id: &str) -> anyhow::Result<()> {
    w.cri
        .runtime
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: id.into(),
        })
        .await
        .context("StopPodSandbox")?;
    Ok(())
}

async fn stop_container(w: &mut World, id: &str) -> anyhow::Result<()> {
    w.cri
        .runtime
        .stop_container(cri::StopContainerRequest {
            container_id: id.into(),
            timeout: 60,
        })
        .await
        .context("StopContainer")?;
    Ok(())
}

async fn remove_container(w: &mut World, id: &str) -> anyhow::Result<()> {
    w.cri
        .runtime
        .remove_container(cri::RemoveContainerRequest {
            container_id: id.into(),
        })
        .await
        .context("RemoveContainer")?;
    Ok(())
}

async fn descriptors(w: &mut World) -> anyhow::Result<Vec<cri::MetricDescriptor>> {
    Ok(w.cri
        .runtime
        .list_metric_descriptors(cri::ListMetricDescriptorsRequest {})
        .await
        .context("ListMetricDescriptors")?
        .into_inner()
        .descriptors)
}
