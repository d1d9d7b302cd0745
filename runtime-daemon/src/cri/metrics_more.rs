//! The cAdvisor container metrics beyond usage (see [`super::metrics`]):
//! CFS periods and throttling, user and system CPU, memory cache, mapped
//! files, swap, failures, kernel memory, peak usage, OOM kills, threads,
//! file descriptors, sockets, block I/O, the writable layer's filesystem,
//! start time and last seen — what critest's metrics cases and the kubelet's
//! `/metrics/cadvisor` expect. Read from cgroup v1 or v2 files, the
//! container's processes (`/proc/<pid>`), its writable layer and a statvfs of
//! the daemon root, where the writable layers live (the `device` label names
//! that directory). A value that cannot be read is left out, never invented.

use super::metrics::{Descriptor, Metrics};
use crate::containers::ContainerRecord;
use cradle_proto::cri;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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

/// One block device's I/O counters.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct DeviceIo {
    pub major: u64,
    pub minor: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub reads: u64,
    pub writes: u64,
}

/// What the cgroup files and the container's processes tell.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Sample {
    pub cfs_periods: Option<u64>,
    pub cfs_throttled_periods: Option<u64>,
    pub cfs_throttled_ns: Option<u64>,
    pub user_ns: Option<u64>,
    pub system_ns: Option<u64>,
    pub cache: Option<u64>,
    pub mapped_file: Option<u64>,
    pub swap: Option<u64>,
    pub failcnt: Option<u64>,
    pub kernel: Option<u64>,
    pub max_usage: Option<u64>,
    pub oom_kills: Option<u64>,
    /// 0: unlimited, as cAdvisor reports it.
    pub threads_max: Option<u64>,
    pub threads: Option<u64>,
    pub fds: Option<u64>,
    pub sockets: Option<u64>,
    pub io: Vec<DeviceIo>,
}

fn read_u64(path: PathBuf) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `key value` lines as a map.
fn keyed(path: PathBuf) -> HashMap<String, u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Reads the cgroup at `cgroup_path` under `root` (v2 when `root` holds
/// `cgroup.controllers`), then its processes under `proc`.
pub(super) fn read(root: &Path, proc: &Path, cgroup_path: &str) -> Sample {
    let rel = cgroup_path.trim_start_matches('/');
    let v2 = root.join("cgroup.controllers").exists();
    let mut s = if v2 {
        let dir = root.join(rel);
        let cpu = keyed(dir.join("cpu.stat"));
        let mem = keyed(dir.join("memory.stat"));
        let events = keyed(dir.join("memory.events"));
        Sample {
            cfs_periods: cpu.get("nr_periods").copied(),
            cfs_throttled_periods: cpu.get("nr_throttled").copied(),
            cfs_throttled_ns: cpu.get("throttled_usec").map(|u| u.saturating_mul(1000)),
            user_ns: cpu.get("user_usec").map(|u| u.saturating_mul(1000)),
            system_ns: cpu.get("system_usec").map(|u| u.saturating_mul(1000)),
            cache: mem.get("file").copied(),
            mapped_file: mem.get("file_mapped").copied(),
            swap: read_u64(dir.join("memory.swap.current")),
            failcnt: events.get("max").copied(),
            kernel: mem.get("kernel").copied(),
            max_usage: read_u64(dir.join("memory.peak")),
            oom_kills: events.get("oom_kill").copied(),
            threads_max: limit(dir.join("pids.max")),
            io: io_v2(&dir.join("io.stat")),
            ..Default::default()
        }
    } else {
        let cpu = keyed(root.join("cpu").join(rel).join("cpu.stat"));
        let acct = keyed(root.join("cpuacct").join(rel).join("cpuacct.stat"));
        let mem_dir = root.join("memory").join(rel);
        let mem = keyed(mem_dir.join("memory.stat"));
        let oom = keyed(mem_dir.join("memory.oom_control"));
        // cpuacct.stat counts USER_HZ ticks (100 per second on Linux).
        let ticks = |t: u64| t.saturating_mul(10_000_000);
        let blkio = root.join("blkio").join(rel);
        Sample {
            cfs_periods: cpu.get("nr_periods").copied(),
            cfs_throttled_periods: cpu.get("nr_throttled").copied(),
            cfs_throttled_ns: cpu.get("throttled_time").copied(),
            user_ns: acct.get("user").copied().map(ticks),
            system_ns: acct.get("system").copied().map(ticks),
            cache: mem.get("total_cache").copied(),
            mapped_file: mem.get("total_mapped_file").copied(),
            swap: mem.get("total_swap").copied(),
            failcnt: read_u64(mem_dir.join("memory.failcnt")),
            kernel: read_u64(mem_dir.join("memory.kmem.usage_in_bytes")),
            max_usage: read_u64(mem_dir.join("memory.max_usage_in_bytes")),
            oom_kills: oom.get("oom_kill").copied(),
            threads_max: limit(root.join("pids").join(rel).join("pids.max")),
            io: io_v1(
                &blkio.join("blkio.throttle.io_service_bytes_recursive"),
                &blkio.join("blkio.throttle.io_serviced_recursive"),
            ),
            ..Default::default()
        }
    };
    let procs = if v2 {
        root.join(rel).join("cgroup.procs")
    } else {
        root.join("pids").join(rel).join("cgroup.procs")
    };
    if let Ok(list) = std::fs::read_to_string(procs) {
        let pids: Vec<&str> = list.split_whitespace().collect();
        let (mut threads, mut fds, mut sockets) = (0u64, 0u64, 0u64);
        for pid in pids {
            let dir = proc.join(pid);
            threads += keyed_colon(&dir.join("status"), "Threads").unwrap_or(0);
            for fd in std::fs::read_dir(dir.join("fd"))
                .into_iter()
                .flatten()
                .flatten()
            {
                fds += 1;
                let target = std::fs::read_link(fd.path()).unwrap_or_default();
                if target.to_string_lossy().starts_with("socket:") {
                    sockets += 1;
                }
            }
        }
        (s.threads, s.fds, s.sockets) = (Some(threads), Some(fds), Some(sockets));
    }
    s
}

/// `pids.max`: a number, or `max` (0, unlimited).
fn limit(path: PathBuf) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    match text.trim() {
        "max" => Some(0),
        n => n.parse().ok(),
    }
}

/// `Key:\tvalue` from a /proc status file.
fn keyed_colon(path: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// v2 `io.stat`: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..` lines.
pub(super) fn io_v2(path: &Path) -> Vec<DeviceIo> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (major, minor) = dev(fields.next()?)?;
            let mut io = DeviceIo {
                major,
                minor,
                ..Default::default()
            };
            for kv in fields {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let v = v.parse().unwrap_or(0);
                match k {
                    "rbytes" => io.read_bytes = v,
                    "wbytes" => io.write_bytes = v,
                    "rios" => io.reads = v,
                    "wios" => io.writes = v,
                    _ => {}
                }
            }
            Some(io)
        })
        .collect()
}

/// v1 blkio: `MAJ:MIN Read|Write|… N` lines of bytes and of operations.
pub(super) fn io_v1(bytes: &Path, ops: &Path) -> Vec<DeviceIo> {
    let mut by_dev: Vec<DeviceIo> = Vec::new();
    for (path, is_bytes) in [(bytes, true), (ops, false)] {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [d, op, n] = fields[..] else { continue };
            let (Some((major, minor)), Ok(n)) = (dev(d), n.parse::<u64>()) else {
                continue;
            };
            let pos = match by_dev
                .iter()
                .position(|x| (x.major, x.minor) == (major, minor))
            {
                Some(p) => p,
                None => {
                    by_dev.push(DeviceIo {
                        major,
                        minor,
                        ..Default::default()
                    });
                    by_dev.len() - 1
                }
            };
            let io = &mut by_dev[pos];
            match (op, is_bytes) {
                ("Read", true) => io.read_bytes = n,
                ("Write", true) => io.write_bytes = n,
                ("Read", false) => io.reads = n,
                ("Write", false) => io.writes = n,
                _ => {}
            }
        }
    }
    by_dev
}

fn dev(text: &str) -> Option<(u64, u64)> {
    let (a, b) = text.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The writable layer and the filesystem it lives on.
#[derive(Debug, Default, Clone)]
pub(super) struct Fs {
    /// The `device` label: the daemon root holding the writable layers.
    pub device: String,
    pub usage_bytes: Option<u64>,
    pub limit_bytes: Option<u64>,
    pub inodes_total: Option<u64>,
    pub inodes_free: Option<u64>,
}

/// statvfs of `root` with the writable layer's `usage_bytes`.
pub(super) fn fs(root: &Path, usage_bytes: Option<u64>) -> Fs {
    let stat = nix::sys::statvfs::statvfs(root).ok();
    Fs {
        device: root.to_string_lossy().into_owned(),
        usage_bytes,
        limit_bytes: stat
            .as_ref()
            .map(|s| s.blocks().saturating_mul(s.fragment_size())),
        inodes_total: stat.as_ref().map(|s| s.files()),
        inodes_free: stat.as_ref().map(|s| s.files_free()),
    }
}

/// Adds this module's metrics for `record` to `m`.
pub(super) fn push(m: &mut Metrics, record: &ContainerRecord, s: &Sample, fs: &Fs, now_ns: i64) {
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
#[path = "metrics_more_tests.rs"]
mod tests;
