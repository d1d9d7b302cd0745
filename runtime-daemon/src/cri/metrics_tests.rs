use super::*;
use crate::containers::ContainerState;
use std::collections::HashMap;
use std::path::PathBuf;

pub(crate) fn record(resources: Option<cri::LinuxContainerResources>) -> ContainerRecord {
    ContainerRecord {
        id: "c1".into(),
        sandbox_id: "p1".into(),
        config: cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: "web".into(),
                attempt: 0,
            }),
            linux: Some(cri::LinuxContainerConfig {
                resources,
                ..Default::default()
            }),
            ..Default::default()
        },
        image_name: "busybox:latest".into(),
        image_id: "sha256:00".into(),
        state: ContainerState::Running,
        created_at: 1,
        started_at: 2,
        finished_at: 0,
        exit_code: 0,
        reason: String::new(),
        message: String::new(),
        log_path: None,
        dir: PathBuf::from("/x"),
        shim_dir: PathBuf::from("/y"),
        runtime_handler: "cradle-oci".into(),
        stop_signal: 15,
        cgroup_path: "/cradle/c1".into(),
        user: None,
        start_error: None,
    }
}

/// name → label keys, from the descriptors.
fn described() -> HashMap<String, Vec<String>> {
    descriptors()
        .into_iter()
        .map(|d| (d.name, d.label_keys))
        .collect()
}

/// Each metric is described and has one value per label key (the kubelet
/// builds Prometheus metrics from the pair and drops mismatches).
fn assert_consistent(metrics: &[cri::Metric]) {
    let described = described();
    for m in metrics {
        let keys = described
            .get(&m.name)
            .unwrap_or_else(|| panic!("{} is not described", m.name));
        assert_eq!(keys.len(), m.label_values.len(), "{m:?}");
        assert_eq!(m.timestamp, 0);
    }
}

fn value(metrics: &[cri::Metric], name: &str, extra: &[&str]) -> Option<u64> {
    metrics
        .iter()
        .find(|m| m.name == name && m.label_values[3..] == *extra)
        .and_then(|m| m.value.as_ref())
        .map(|v| v.value)
}

#[test]
fn descriptors_are_unique_and_start_with_the_base_labels() {
    let list = descriptors();
    assert_eq!(described().len(), list.len(), "duplicate names");
    for d in &list {
        assert_eq!(d.label_keys[..3], ["id", "name", "image"], "{}", d.name);
        assert!(!d.help.is_empty());
    }
}

#[test]
fn container_metrics_come_from_the_cgroup_sample_and_the_spec() {
    let sample = CgroupSample {
        cpu_usage_ns: Some(2_500_000_000),
        memory_usage: Some(1000),
        working_set: Some(700),
        rss: Some(600),
        page_faults: Some(7),
        major_page_faults: Some(1),
    };
    let resources = cri::LinuxContainerResources {
        memory_limit_in_bytes: 64 << 20,
        cpu_shares: 512,
        cpu_quota: 50_000,
        cpu_period: 100_000,
        ..Default::default()
    };
    let metrics = container_metrics(&record(Some(resources)), &sample, Some(3));
    assert_consistent(&metrics);
    let first = &metrics[0];
    assert_eq!(first.label_values[..3], ["c1", "web", "busybox:latest"]);
    assert_eq!(first.metric_type, cri::MetricType::Counter as i32);
    assert_eq!(value(&metrics, CPU_USAGE, &["total"]), Some(2));
    assert_eq!(value(&metrics, MEMORY_USAGE, &[]), Some(1000));
    assert_eq!(value(&metrics, MEMORY_WORKING_SET, &[]), Some(700));
    assert_eq!(value(&metrics, MEMORY_RSS, &[]), Some(600));
    let faults = ["pgfault", "hierarchy"];
    assert_eq!(value(&metrics, MEMORY_FAILURES, &faults), Some(7));
    let major = ["pgmajfault", "hierarchy"];
    assert_eq!(value(&metrics, MEMORY_FAILURES, &major), Some(1));
    assert_eq!(value(&metrics, PROCESSES, &[]), Some(3));
    assert_eq!(value(&metrics, SPEC_MEMORY_LIMIT, &[]), Some(64 << 20));
    assert_eq!(value(&metrics, SPEC_CPU_SHARES, &[]), Some(512));
    assert_eq!(value(&metrics, SPEC_CPU_QUOTA, &[]), Some(50_000));
    assert_eq!(value(&metrics, SPEC_CPU_PERIOD, &[]), Some(100_000));
}

#[test]
fn unknown_values_are_left_out_and_no_limit_is_zero() {
    let metrics = container_metrics(&record(None), &CgroupSample::default(), None);
    assert_consistent(&metrics);
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, [SPEC_MEMORY_LIMIT]);
    assert_eq!(value(&metrics, SPEC_MEMORY_LIMIT, &[]), Some(0));
}

#[test]
fn pod_metrics_count_each_interface() {
    let eth0 = InterfaceSample {
        name: "eth0".into(),
        rx_bytes: 5000,
        rx_packets: 40,
        rx_errors: 2,
        rx_dropped: 4,
        tx_bytes: 3000,
        tx_packets: 30,
        tx_errors: 1,
        tx_dropped: 5,
    };
    let net1 = InterfaceSample {
        name: "net1".into(),
        rx_bytes: 9,
        ..Default::default()
    };
    let metrics = pod_metrics(&SandboxId::new("p1"), &[eth0, net1]);
    assert_consistent(&metrics);
    assert_eq!(metrics.len(), 16);
    assert_eq!(metrics[0].label_values, ["p1", "POD", "", "eth0"]);
    assert_eq!(value(&metrics, RX_BYTES, &["eth0"]), Some(5000));
    assert_eq!(value(&metrics, RX_PACKETS, &["eth0"]), Some(40));
    assert_eq!(value(&metrics, RX_DROPPED, &["eth0"]), Some(4));
    assert_eq!(value(&metrics, TX_BYTES, &["eth0"]), Some(3000));
    assert_eq!(value(&metrics, TX_ERRORS, &["eth0"]), Some(1));
    assert_eq!(value(&metrics, TX_DROPPED, &["eth0"]), Some(5));
    assert_eq!(value(&metrics, RX_BYTES, &["net1"]), Some(9));
    assert!(pod_metrics(&SandboxId::new("p1"), &[]).is_empty());
}
