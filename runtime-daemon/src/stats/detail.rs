//! The cAdvisor counters of a container beyond usage (see [`super::cgroup`]):
//! CFS periods and throttling, user and system CPU, memory cache, mapped
//! files, swap, failures, kernel memory, peak usage, OOM kills, the pids
//! limit, block I/O, and the threads, file descriptors and sockets of its
//! processes. Read from cgroup v1 or v2 files and `/proc/<pid>`; a value
//! that cannot be read is left out, never invented.

use std::path::Path;

use cradle_cgroupfs::Limit;
use cradle_cgroupfs::read::{blkio_files, io_stat_file, limit_file};

use super::cgroup_files::CgroupFiles;
use super::process::task_counts;

pub use cradle_cgroupfs::DeviceIo;

/// What the cgroup files and the container's processes tell.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DetailSample {
    /// CFS enforcement periods elapsed.
    pub cfs_periods: Option<u64>,
    /// Periods in which the cgroup was throttled.
    pub cfs_throttled_periods: Option<u64>,
    /// Time throttled, nanoseconds.
    pub cfs_throttled_ns: Option<u64>,
    /// User CPU time, nanoseconds.
    pub user_ns: Option<u64>,
    /// System CPU time, nanoseconds.
    pub system_ns: Option<u64>,
    /// Page cache, bytes.
    pub cache: Option<u64>,
    /// Memory-mapped files, bytes.
    pub mapped_file: Option<u64>,
    /// Swap in use, bytes.
    pub swap: Option<u64>,
    /// Times usage hit the limit.
    pub failcnt: Option<u64>,
    /// Kernel memory, bytes.
    pub kernel: Option<u64>,
    /// Peak memory usage, bytes.
    pub max_usage: Option<u64>,
    /// Processes the OOM killer killed.
    pub oom_kills: Option<u64>,
    /// 0: unlimited, as cAdvisor reports it.
    pub threads_max: Option<u64>,
    /// Threads of the cgroup's processes.
    pub threads: Option<u64>,
    /// Their open file descriptors.
    pub fds: Option<u64>,
    /// Those descriptors that are sockets.
    pub sockets: Option<u64>,
    /// Block I/O per device.
    pub io: Vec<DeviceIo>,
}

/// Reads the cgroup at `cgroup_path` under `root` (v2 when `root` holds
/// `cgroup.controllers`), then its processes under `proc`.
pub fn read(root: &Path, proc: &Path, cgroup_path: &str) -> DetailSample {
    let files = CgroupFiles::at(root, cgroup_path);
    // `pids.max`: a number, or `max` (0, unlimited).
    let threads_max = files
        .path("pids", "pids.max")
        .and_then(|f| limit_file(&f))
        .map(|l| match l {
            Limit::Max => 0,
            Limit::Value(v) => v,
        });
    let mut s = if files.is_v2() {
        let cpu = files.keyed("cpu", "cpu.stat");
        let mem = files.keyed("memory", "memory.stat");
        let events = files.keyed("memory", "memory.events");
        DetailSample {
            cfs_periods: cpu.get("nr_periods").copied(),
            cfs_throttled_periods: cpu.get("nr_throttled").copied(),
            cfs_throttled_ns: cpu.get("throttled_usec").map(|u| u.saturating_mul(1000)),
            user_ns: cpu.get("user_usec").map(|u| u.saturating_mul(1000)),
            system_ns: cpu.get("system_usec").map(|u| u.saturating_mul(1000)),
            cache: mem.get("file").copied(),
            mapped_file: mem.get("file_mapped").copied(),
            swap: files.number("memory", "memory.swap.current"),
            failcnt: events.get("max").copied(),
            kernel: mem.get("kernel").copied(),
            max_usage: files.number("memory", "memory.peak"),
            oom_kills: events.get("oom_kill").copied(),
            threads_max,
            io: files
                .path("io", "io.stat")
                .map(|f| io_stat_file(&f))
                .unwrap_or_default(),
            ..Default::default()
        }
    } else {
        let cpu = files.keyed("cpu", "cpu.stat");
        let acct = files.keyed("cpuacct", "cpuacct.stat");
        let mem = files.keyed("memory", "memory.stat");
        let oom = files.keyed("memory", "memory.oom_control");
        // cpuacct.stat counts USER_HZ ticks (100 per second on Linux).
        let ticks = |t: u64| t.saturating_mul(10_000_000);
        DetailSample {
            cfs_periods: cpu.get("nr_periods").copied(),
            cfs_throttled_periods: cpu.get("nr_throttled").copied(),
            cfs_throttled_ns: cpu.get("throttled_time").copied(),
            user_ns: acct.get("user").copied().map(ticks),
            system_ns: acct.get("system").copied().map(ticks),
            cache: mem.get("total_cache").copied(),
            mapped_file: mem.get("total_mapped_file").copied(),
            swap: mem.get("total_swap").copied(),
            failcnt: files.number("memory", "memory.failcnt"),
            kernel: files.number("memory", "memory.kmem.usage_in_bytes"),
            max_usage: files.number("memory", "memory.max_usage_in_bytes"),
            oom_kills: oom.get("oom_kill").copied(),
            threads_max,
            io: match (
                files.path("blkio", "blkio.throttle.io_service_bytes_recursive"),
                files.path("blkio", "blkio.throttle.io_serviced_recursive"),
            ) {
                (Some(bytes), Some(ops)) => blkio_files(&bytes, &ops),
                _ => Vec::new(),
            },
            ..Default::default()
        }
    };
    if let Some(tasks) = files
        .path("pids", "cgroup.procs")
        .and_then(|f| task_counts(&f, proc))
    {
        (s.threads, s.fds, s.sockets) = (Some(tasks.threads), Some(tasks.fds), Some(tasks.sockets));
    }
    s
}

#[cfg(test)]
#[path = "detail_tests.rs"]
mod tests;
