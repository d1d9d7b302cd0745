//! The Prometheus endpoint end to end (issue 16): cradled started with
//! `metrics_address` on a free loopback port serves `GET /metrics`; after
//! a pod lifecycle with a container (on a CNI network of one fake plugin,
//! so a CNI ADD and DEL run without touching the host's network) the
//! counters moved: calls by method and code, the image pull, CNI ADD/DEL,
//! pods and containers by state while they ran. An error answered to the
//! client is counted by its code and logged exactly once.

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use anyhow::{Context, ensure};
use cradle_proto::cri;
use cradle_tests::steps::{
    container_config, create_and_start, pod_config, pull, remove_pod_and_check_leaks, run_pod,
    wait_for_state,
};
use cradle_tests::{World, skip_unless_ready};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CNI plugin that attaches nothing: ADD answers an empty result, every
/// other command succeeds silently.
const FAKE_PLUGIN: &str = "#!/bin/sh\n\
    cat >/dev/null\n\
    if [ \"$CNI_COMMAND\" = ADD ]; then\n\
    echo '{\"cniVersion\":\"1.0.0\",\"interfaces\":[],\"ips\":[]}'\n\
    fi\n\
    if [ \"$CNI_COMMAND\" = VERSION ]; then\n\
    echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"1.0.0\"]}'\n\
    fi\n";

/// One scrape: each sample (`name{labels}` as exposed) and its value.
type Samples = BTreeMap<String, f64>;

/// `GET /metrics` over plain HTTP/1.1; the samples of its body.
async fn scrape(addr: SocketAddr) -> anyhow::Result<Samples> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to the metrics endpoint {addr}"))?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: cradle\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("an HTTP response without a body")?;
    ensure!(head.starts_with("HTTP/1.1 200"), "scrape answered {head}");
    ensure!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "not the text exposition format: {head}"
    );
    let mut samples = Samples::new();
    for line in body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (key, value) = line
            .rsplit_once(' ')
            .with_context(|| format!("a sample line without a value: {line:?}"))?;
        let value = value
            .parse()
            .with_context(|| format!("a sample that is no number: {line:?}"))?;
        samples.insert(key.to_string(), value);
    }
    Ok(samples)
}

/// A sample's value, 0 when absent (a labelled series appears when it first moves).
fn value(samples: &Samples, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

/// How much `key` grew between two scrapes.
fn grew(before: &Samples, after: &Samples, key: &str) -> f64 {
    value(after, key) - value(before, key)
}

fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_with_a_pod_lifecycle() {
    skip_unless_ready!(true);
    let plugins = tempfile::Builder::new()
        .prefix("cni-fake-")
        .tempdir()
        .unwrap();
    let plugin = plugins.path().join("metrics-fake");
    std::fs::write(&plugin, FAKE_PLUGIN).unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_loopback_port().unwrap())
        .parse()
        .unwrap();
    let config = format!(
        "metrics_address = \"{addr}\"\ncni_bin_dirs = [{:?}]\n",
        plugins.path().display().to_string()
    );
    let mut w = World::start_with_config(&config).await;
    let conflist = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "metrics-fake",
        "plugins": [{"type": "metrics-fake"}],
    });
    std::fs::write(
        w.daemon.cni_conf_dir().join("10-metrics.conflist"),
        conflist.to_string(),
    )
    .unwrap();
    let result = scenario(&mut w, addr).await;
    w.finish_with_log(result).await;
}

async fn scenario(w: &mut World, addr: SocketAddr) -> anyhow::Result<()> {
    let before = scrape(addr).await?;
    for key in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        ensure!(
            value(&before, key) > 0.0,
            "{key} is not above 0: {before:?}"
        );
    }
    ensure!(
        before.contains_key("process_cpu_seconds_total"),
        "no process_cpu_seconds_total: {before:?}"
    );

    let image = w.registry.image_ref();
    pull(&mut w.cri, &image).await?;
    let pod_config = pod_config(&w.daemon, &w.cgroup)?;
    let pod_id = run_pod(&mut w.cri, &pod_config).await?;
    let config = container_config(&image, "counted", &["sleep", "600"]);
    let container_id = create_and_start(&mut w.cri, &pod_id, &pod_config, config).await?;
    wait_for_state(
        &mut w.cri,
        &container_id,
        cri::ContainerState::ContainerRunning,
        Duration::from_secs(30),
    )
    .await?;
    let running = scrape(addr).await?;
    ensure!(
        grew(&before, &running, r#"cradle_pods{state="ready"}"#) == 1.0,
        "cradle_pods ready did not grow by one: {running:?}"
    );
    ensure!(
        grew(&before, &running, r#"cradle_containers{state="running"}"#) == 1.0,
        "cradle_containers running did not grow by one: {running:?}"
    );
    ensure!(
        grew(&before, &running, "cradle_shims_running") == 2.0,
        "cradle_shims_running did not grow by two (pause and container): {running:?}"
    );

    // A request the daemon refuses: counted by its code, logged once.
    let missing = "0badc0de".repeat(8);
    let refused = w
        .cri
        .runtime
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: missing.clone(),
            verbose: false,
        })
        .await
        .err()
        .context("PodSandboxStatus of an unknown pod succeeded")?;
    ensure!(refused.code() == tonic::Code::NotFound, "{refused:?}");

    remove_pod_and_check_leaks(
        &mut w.cri,
        &w.daemon,
        &pod_id,
        std::slice::from_ref(&container_id),
    )
    .await?;
    let after = scrape(addr).await?;
    for (key, by) in [
        (
            r#"cradle_grpc_requests_total{method="RunPodSandbox",code="OK"}"#,
            1.0,
        ),
        (
            r#"cradle_grpc_requests_total{method="CreateContainer",code="OK"}"#,
            1.0,
        ),
        (
            r#"cradle_grpc_requests_total{method="PullImage",code="OK"}"#,
            1.0,
        ),
        (
            r#"cradle_grpc_requests_total{method="PodSandboxStatus",code="NotFound"}"#,
            1.0,
        ),
        (
            r#"cradle_grpc_request_duration_seconds_count{method="RunPodSandbox"}"#,
            1.0,
        ),
        (r#"cradle_image_pulls_total{result="success"}"#, 1.0),
        ("cradle_image_pull_duration_seconds_count", 1.0),
        (
            r#"cradle_cni_operation_duration_seconds_count{op="add"}"#,
            1.0,
        ),
    ] {
        ensure!(
            grew(&before, &after, key) == by,
            "{key} grew by {} instead of {by}: {after:?}",
            grew(&before, &after, key)
        );
    }
    ensure!(
        grew(&before, &after, "cradle_image_pull_bytes_total") > 0.0,
        "no pulled bytes counted: {after:?}"
    );
    ensure!(
        grew(
            &before,
            &after,
            r#"cradle_cni_operation_duration_seconds_count{op="del"}"#
        ) >= 1.0,
        "no CNI DEL counted: {after:?}"
    );
    ensure!(
        value(&after, r#"cradle_cni_operation_failures_total{op="add"}"#) == 0.0,
        "a CNI ADD failed: {after:?}"
    );
    ensure!(
        value(&after, r#"cradle_pods{state="ready"}"#)
            == value(&before, r#"cradle_pods{state="ready"}"#),
        "the removed pod is still counted: {after:?}"
    );

    let log = w.daemon.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&missing)).collect();
    ensure!(
        lines.len() == 1 && lines[0].contains("WARN") && lines[0].contains("PodSandboxStatus"),
        "the refused request was not logged once at warn with its rpc: {lines:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_address_in_use_stops_cradled_naming_the_key() {
    skip_unless_ready!(false);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let started =
        cradle_tests::Daemon::start_with_config(&format!("metrics_address = \"{addr}\"\n"));
    let error = match started {
        Ok(_) => panic!("cradled started although {addr} is taken"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains(&format!("binding metrics_address {addr}")),
        "the failure does not name metrics_address: {error}"
    );
}
