//! The cAdvisor container metrics beyond usage (see [`super::metrics`]):
//! CFS periods and throttling, user and system CPU, memory cache, mapped
//! files, swap, failures, kernel memory, peak usage, OOM kills, threads,
//! file descriptors, sockets, block I/O, the writable layer's filesystem,
//! start time and last seen — what critest's metrics cases and the
//! kubelet's `/metrics/cadvisor` expect. Their descriptors and the mapping
//! of a [`DetailSample`] and an [`FsSample`] (read by [`crate::stats`]) to
//! CRI metrics; the `device` label of the filesystem metrics names the
//! daemon root, where the writable layers live.

use super::metric_builder::{Descriptor, Metrics};
use crate::containers::ContainerRecord;
use crate::stats::detail::DetailSample;
use crate::stats::filesystem::FsSample;
use cradle_proto::cri;

/// Every metric this module can add, in the shape of [`super::metrics`]'s.
pub(super) const DESCRIPTORS: [Descriptor; 28] = [
    d(
        "container_cpu_cfs_periods_total",
        "Number of elapsed enforcement period intervals.",
        &[],
    ),
    d(
        "container_cpu_cfs_throttled_periods_total",
        "Number of throttled period intervals.",
        &[],
    ),
    d(
        "container_cpu_cfs_throttled_seconds_total",
        "Total time duration the container has been throttled.",
        &[],
    ),
    d(
        "container_cpu_system_seconds_total",
        "Cumulative system cpu time consumed in seconds.",
        &[],
    ),
    d(
        "container_cpu_user_seconds_total",
        "Cumulative user cpu time consumed in seconds.",
        &[],
    ),
    d(
        "container_file_descriptors",
        "Number of open file descriptors for the container.",
        &[],
    ),
    d(
        "container_sockets",
        "Number of open sockets for the container.",
        &[],
    ),
    d(
        "container_threads",
        "Number of threads running inside the container",
        &[],
    ),
    d(
        "container_threads_max",
        "Maximum number of threads allowed inside the container, infinity if value is zero",
        &[],
    ),
    d(
        "container_fs_inodes_free",
        "Number of available Inodes",
        &["device"],
    ),
    d("container_fs_inodes_total", "Number of Inodes", &["device"]),
    d(
        "container_fs_limit_bytes",
        "Number of bytes that can be consumed by the container on this filesystem.",
        &["device"],
    ),
    d(
        "container_fs_usage_bytes",
        "Number of bytes that are consumed by the container on this filesystem.",
        &["device"],
    ),
    d(
        "container_fs_reads_bytes_total",
        "Cumulative count of bytes read",
        &["device"],
    ),
    d(
        "container_fs_reads_total",
        "Cumulative count of reads completed",
        &["device"],
    ),
    d(
        "container_fs_writes_bytes_total",
        "Cumulative count of bytes written",
        &["device"],
    ),
    d(
        "container_fs_writes_total",
        "Cumulative count of writes completed",
        &["device"],
    ),
    d(
        "container_blkio_device_usage_total",
        "Blkio Device bytes usage",
        &["device", "major", "minor", "operation"],
    ),
    d(
        "container_last_seen",
        "Last time a container was seen by the exporter",
        &[],
    ),
    d(
        "container_memory_cache",
        "Number of bytes of page cache memory.",
        &[],
    ),
    d(
        "container_memory_failcnt",
        "Number of memory usage hits limits",
        &[],
    ),
    d(
        "container_memory_kernel_usage",
        "Size of kernel memory allocated in bytes.",
        &[],
    ),
    d(
        "container_memory_mapped_file",
        "Size of memory mapped files in bytes.",
        &[],
    ),
    d(
        "container_memory_max_usage_bytes",
        "Maximum memory usage recorded in bytes",
        &[],
    ),
    d(
        "container_memory_swap",
        "Container swap usage in bytes.",
        &[],
    ),
    d(
        "container_oom_events_total",
        "Count of out of memory events observed for the container",
        &[],
    ),
    d(
        "container_spec_memory_swap_limit_bytes",
        "Memory swap limit for the container.",
        &[],
    ),
    d(
        "container_start_time_seconds",
        "Start time of the container since unix epoch in seconds.",
        &[],
    ),
];

const fn d(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Descriptor {
    Descriptor { name, help, labels }
}

/// Adds this module's metrics for `record` to `m`.
///
/// Longer than 80 lines on purpose: it is a table, one `m.push` per metric
/// in the order of the descriptors above, each mapping one field of the
/// sample; read side by side with the descriptors it is checked at a
/// glance, which pieces of it would not be.
pub(super) fn push(
    m: &mut Metrics,
    record: &ContainerRecord,
    s: &DetailSample,
    fs: &FsSample,
    now_ns: i64,
) {
    use cri::MetricType::{Counter, Gauge};
    let secs = |ns: Option<u64>| ns.map(|n| n / 1_000_000_000);
    m.push(
        "container_cpu_cfs_periods_total",
        Counter,
        &[],
        s.cfs_periods,
    );
    m.push(
        "container_cpu_cfs_throttled_periods_total",
        Counter,
        &[],
        s.cfs_throttled_periods,
    );
    m.push(
        "container_cpu_cfs_throttled_seconds_total",
        Counter,
        &[],
        secs(s.cfs_throttled_ns),
    );
    m.push(
        "container_cpu_system_seconds_total",
        Counter,
        &[],
        secs(s.system_ns),
    );
    m.push(
        "container_cpu_user_seconds_total",
        Counter,
        &[],
        secs(s.user_ns),
    );
    m.push("container_file_descriptors", Gauge, &[], s.fds);
    m.push("container_sockets", Gauge, &[], s.sockets);
    m.push("container_threads", Gauge, &[], s.threads);
    m.push("container_threads_max", Gauge, &[], s.threads_max);
    let device = [fs.device.as_str()];
    m.push("container_fs_inodes_free", Gauge, &device, fs.inodes_free);
    m.push("container_fs_inodes_total", Gauge, &device, fs.inodes_total);
    m.push("container_fs_limit_bytes", Gauge, &device, fs.limit_bytes);
    m.push("container_fs_usage_bytes", Gauge, &device, fs.usage_bytes);
    for io in &s.io {
        let name = format!("{}:{}", io.major, io.minor);
        let (major, minor) = (io.major.to_string(), io.minor.to_string());
        let label = [name.as_str()];
        m.push(
            "container_fs_reads_bytes_total",
            Counter,
            &label,
            Some(io.read_bytes),
        );
        m.push("container_fs_reads_total", Counter, &label, Some(io.reads));
        m.push(
            "container_fs_writes_bytes_total",
            Counter,
            &label,
            Some(io.write_bytes),
        );
        m.push(
            "container_fs_writes_total",
            Counter,
            &label,
            Some(io.writes),
        );
        for (op, value) in [("Read", io.read_bytes), ("Write", io.write_bytes)] {
            let labels = [name.as_str(), major.as_str(), minor.as_str(), op];
            m.push(
                "container_blkio_device_usage_total",
                Counter,
                &labels,
                Some(value),
            );
        }
    }
    m.push(
        "container_last_seen",
        Gauge,
        &[],
        secs(u64::try_from(now_ns).ok()),
    );
    m.push("container_memory_cache", Gauge, &[], s.cache);
    m.push("container_memory_failcnt", Counter, &[], s.failcnt);
    m.push("container_memory_kernel_usage", Gauge, &[], s.kernel);
    m.push("container_memory_mapped_file", Gauge, &[], s.mapped_file);
    m.push("container_memory_max_usage_bytes", Gauge, &[], s.max_usage);
    m.push("container_memory_swap", Gauge, &[], s.swap);
    m.push("container_oom_events_total", Counter, &[], s.oom_kills);
    let swap_limit = record
        .config
        .linux
        .as_ref()
        .and_then(|l| l.resources.as_ref())
        .map_or(0, |r| r.memory_swap_limit_in_bytes.max(0));
    // 0: no limit, as for the memory limit.
    m.push(
        "container_spec_memory_swap_limit_bytes",
        Gauge,
        &[],
        u64::try_from(swap_limit).ok(),
    );
    let started = u64::try_from(record.started_at).ok().filter(|t| *t > 0);
    m.push("container_start_time_seconds", Gauge, &[], secs(started));
}

#[cfg(test)]
#[path = "metrics_detail_tests.rs"]
mod tests;
