//! ListMetricDescriptors and ListPodSandboxMetrics: the cAdvisor-named
//! metrics a kubelet without cAdvisor (CRI stats, KEP 2371) serves on its
//! `/metrics/cadvisor` endpoint.
//!
//! Only what Cradle actually measures is described, from the same samples
//! as ContainerStats and PodSandboxStats ([`crate::stats`] reads them):
//! CPU, memory, page faults, processes, the container's resource spec, and
//! the pod's interface counters; the rest of cAdvisor's set (throttling,
//! threads, descriptors, block I/O, the writable layer's filesystem…) is
//! mapped by `super::metrics_detail`. Labels
//! follow CRI-O: `id`, `name`, `image`, then the metric's own (`cpu`,
//! `interface`, …); pod-level metrics carry the sandbox id, `POD` and an
//! empty image. The values are `uint64`, so `*_seconds_total` counts whole
//! seconds (as CRI-O does). Timestamps are 0: every value is read live,
//! which the CRI says a zero timestamp means.

use super::CriService;
use super::metric_builder::{Descriptor, Metrics};
use super::metrics_detail;
use super::sandbox_stats::pod_interfaces;
use crate::containers::{ContainerRecord, ContainerState};
use crate::core::ids::SandboxId;
use crate::pods::{SandboxRecord, SandboxState};
use crate::stats::cgroup::CgroupSample;
use crate::stats::filesystem::writable_layer_fs;
use crate::stats::network::InterfaceSample;
use crate::stats::sample::{ContainerSample, container_sample};
use cradle_proto::cri;

/// Labels every metric starts with.
const BASE_LABELS: [&str; 3] = ["id", "name", "image"];

/// The `name` label of pod-level metrics (cAdvisor's pause container).
const POD_CONTAINER_NAME: &str = "POD";

const CPU_USAGE: &str = "container_cpu_usage_seconds_total";
const MEMORY_USAGE: &str = "container_memory_usage_bytes";
const MEMORY_WORKING_SET: &str = "container_memory_working_set_bytes";
const MEMORY_RSS: &str = "container_memory_rss";
const MEMORY_FAILURES: &str = "container_memory_failures_total";
const PROCESSES: &str = "container_processes";
const SPEC_MEMORY_LIMIT: &str = "container_spec_memory_limit_bytes";
const SPEC_CPU_SHARES: &str = "container_spec_cpu_shares";
const SPEC_CPU_QUOTA: &str = "container_spec_cpu_quota";
const SPEC_CPU_PERIOD: &str = "container_spec_cpu_period";
const RX_BYTES: &str = "container_network_receive_bytes_total";
const RX_PACKETS: &str = "container_network_receive_packets_total";
const RX_ERRORS: &str = "container_network_receive_errors_total";
const RX_DROPPED: &str = "container_network_receive_packets_dropped_total";
const TX_BYTES: &str = "container_network_transmit_bytes_total";
const TX_PACKETS: &str = "container_network_transmit_packets_total";
const TX_ERRORS: &str = "container_network_transmit_errors_total";
const TX_DROPPED: &str = "container_network_transmit_packets_dropped_total";

const DESCRIPTORS: [Descriptor; 18] = [
    Descriptor {
        name: CPU_USAGE,
        help: "Cumulative cpu time consumed in seconds.",
        labels: &["cpu"],
    },
    Descriptor {
        name: MEMORY_USAGE,
        help: "Current memory usage in bytes, including all memory regardless of when it was accessed",
        labels: &[],
    },
    Descriptor {
        name: MEMORY_WORKING_SET,
        help: "Current working set in bytes.",
        labels: &[],
    },
    Descriptor {
        name: MEMORY_RSS,
        help: "Size of RSS in bytes.",
        labels: &[],
    },
    Descriptor {
        name: MEMORY_FAILURES,
        help: "Cumulative count of memory allocation failures.",
        labels: &["failure_type", "scope"],
    },
    Descriptor {
        name: PROCESSES,
        help: "Number of processes running inside the container.",
        labels: &[],
    },
    Descriptor {
        name: SPEC_MEMORY_LIMIT,
        help: "Memory limit for the container.",
        labels: &[],
    },
    Descriptor {
        name: SPEC_CPU_SHARES,
        help: "CPU share of the container.",
        labels: &[],
    },
    Descriptor {
        name: SPEC_CPU_QUOTA,
        help: "CPU quota of the container.",
        labels: &[],
    },
    Descriptor {
        name: SPEC_CPU_PERIOD,
        help: "CPU period of the container.",
        labels: &[],
    },
    Descriptor {
        name: RX_BYTES,
        help: "Cumulative count of bytes received",
        labels: &["interface"],
    },
    Descriptor {
        name: RX_PACKETS,
        help: "Cumulative count of packets received",
        labels: &["interface"],
    },
    Descriptor {
        name: RX_ERRORS,
        help: "Cumulative count of errors encountered while receiving",
        labels: &["interface"],
    },
    Descriptor {
        name: RX_DROPPED,
        help: "Cumulative count of packets dropped while receiving",
        labels: &["interface"],
    },
    Descriptor {
        name: TX_BYTES,
        help: "Cumulative count of bytes transmitted",
        labels: &["interface"],
    },
    Descriptor {
        name: TX_PACKETS,
        help: "Cumulative count of packets transmitted",
        labels: &["interface"],
    },
    Descriptor {
        name: TX_ERRORS,
        help: "Cumulative count of errors encountered while transmitting",
        labels: &["interface"],
    },
    Descriptor {
        name: TX_DROPPED,
        help: "Cumulative count of packets dropped while transmitting",
        labels: &["interface"],
    },
];

/// Every metric ListPodSandboxMetrics can return.
pub fn descriptors() -> Vec<cri::MetricDescriptor> {
    DESCRIPTORS
        .iter()
        .chain(metrics_detail::DESCRIPTORS.iter())
        .map(|d| cri::MetricDescriptor {
            name: d.name.to_string(),
            help: d.help.to_string(),
            label_keys: BASE_LABELS
                .iter()
                .chain(d.labels)
                .map(|l| l.to_string())
                .collect(),
        })
        .collect()
}

/// A container's metrics from one cgroup sample, its process count and the
/// resources it was given (as ContainerStatus reports them).
pub fn container_metrics(
    record: &ContainerRecord,
    sample: &CgroupSample,
    processes: Option<u64>,
) -> Vec<cri::Metric> {
    use cri::MetricType::{Counter, Gauge};
    let mut m = Metrics::new(base_labels(record));
    let seconds = sample.cpu_usage_ns.map(|ns| ns / 1_000_000_000);
    m.push(CPU_USAGE, Counter, &["total"], seconds);
    m.push(MEMORY_USAGE, Gauge, &[], sample.memory_usage);
    m.push(MEMORY_WORKING_SET, Gauge, &[], sample.working_set);
    m.push(MEMORY_RSS, Gauge, &[], sample.rss);
    // The cgroup counters include the container's child cgroups.
    let faults = ["pgfault", "hierarchy"];
    m.push(MEMORY_FAILURES, Counter, &faults, sample.page_faults);
    let major = ["pgmajfault", "hierarchy"];
    m.push(MEMORY_FAILURES, Counter, &major, sample.major_page_faults);
    m.push(PROCESSES, Gauge, &[], processes);
    let resources = record
        .config
        .linux
        .as_ref()
        .and_then(|l| l.resources.as_ref());
    let limit = resources.map_or(0, |r| r.memory_limit_in_bytes.max(0));
    // 0: no limit, as cAdvisor reports an unlimited cgroup.
    m.push(SPEC_MEMORY_LIMIT, Gauge, &[], u64::try_from(limit).ok());
    if let Some(r) = resources {
        let positive = |v: i64| u64::try_from(v).ok().filter(|v| *v > 0);
        m.push(SPEC_CPU_SHARES, Gauge, &[], positive(r.cpu_shares));
        if let Some(quota) = positive(r.cpu_quota) {
            m.push(SPEC_CPU_QUOTA, Gauge, &[], Some(quota));
            m.push(SPEC_CPU_PERIOD, Gauge, &[], positive(r.cpu_period));
        }
    }
    m.out
}

/// A container's `id`, `name` and `image` label values.
pub(super) fn base_labels(record: &ContainerRecord) -> [String; 3] {
    let name = record
        .config
        .metadata
        .as_ref()
        .map(|m| m.name.clone())
        .unwrap_or_default();
    [record.id.clone(), name, record.image_name.clone()]
}

/// The pod-level metrics: its interfaces' counters.
pub fn pod_metrics(sandbox_id: &SandboxId, interfaces: &[InterfaceSample]) -> Vec<cri::Metric> {
    use cri::MetricType::Counter;
    let base = [
        sandbox_id.to_string(),
        POD_CONTAINER_NAME.to_string(),
        String::new(),
    ];
    let mut m = Metrics::new(base);
    for i in interfaces {
        let label = [i.name.as_str()];
        m.push(RX_BYTES, Counter, &label, Some(i.rx_bytes));
        m.push(RX_PACKETS, Counter, &label, Some(i.rx_packets));
        m.push(RX_ERRORS, Counter, &label, Some(i.rx_errors));
        m.push(RX_DROPPED, Counter, &label, Some(i.rx_dropped));
        m.push(TX_BYTES, Counter, &label, Some(i.tx_bytes));
        m.push(TX_PACKETS, Counter, &label, Some(i.tx_packets));
        m.push(TX_ERRORS, Counter, &label, Some(i.tx_errors));
        m.push(TX_DROPPED, Counter, &label, Some(i.tx_dropped));
    }
    m.out
}

impl CriService {
    pub(crate) fn list_metric_descriptors_impl(&self) -> cri::ListMetricDescriptorsResponse {
        cri::ListMetricDescriptorsResponse {
            descriptors: descriptors(),
        }
    }

    /// Every ready pod with its running containers.
    pub(crate) fn list_pod_sandbox_metrics_impl(&self) -> cri::ListPodSandboxMetricsResponse {
        let containers = self.runtime.containers.list();
        let pod_metrics = self
            .runtime
            .pods
            .list()
            .iter()
            .filter(|p| p.state == SandboxState::Ready)
            .map(|pod| self.sandbox_metrics(pod, &containers))
            .collect();
        cri::ListPodSandboxMetricsResponse { pod_metrics }
    }

    fn sandbox_metrics(
        &self,
        pod: &SandboxRecord,
        containers: &[ContainerRecord],
    ) -> cri::PodSandboxMetrics {
        let container_metrics = containers
            .iter()
            .filter(|c| c.sandbox_id == pod.id && c.state == ContainerState::Running)
            .filter(|c| !c.cgroup_path.is_empty())
            .map(|c| {
                let sample = container_sample(&c.cgroup_path);
                let mut metrics = container_metrics(c, &sample.usage, sample.processes);
                metrics.extend(self.detail_metrics(c, &sample));
                cri::ContainerMetrics {
                    container_id: c.id.clone(),
                    metrics,
                }
            })
            .collect();
        cri::PodSandboxMetrics {
            pod_sandbox_id: pod.id.clone(),
            metrics: pod_metrics(&pod.typed_id(), &pod_interfaces(pod)),
            container_metrics,
        }
    }
}

impl CriService {
    /// [`super::metrics_detail`]'s metrics of a running container: its
    /// sample's detail, and the filesystem its writable layer is on with
    /// the usage the image store measured.
    fn detail_metrics(&self, c: &ContainerRecord, sample: &ContainerSample) -> Vec<cri::Metric> {
        let usage = self
            .runtime
            .ctx
            .images()
            .ok()
            .and_then(|images| images.writable_usage(&c.id).ok())
            .map(|u| u.bytes);
        let fs = writable_layer_fs(&self.runtime.ctx.config.root, usage);
        let mut m = Metrics::new(base_labels(c));
        metrics_detail::push(&mut m, c, &sample.detail, &fs, crate::core::time::now_ns());
        m.out
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
pub(super) mod tests;
