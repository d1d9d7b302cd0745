//! Container and pod resource usage, read from cgroup files, and pod
//! network counters from `/proc/<pid>/net/dev`.
//!
//! cgroup v1 (per-controller hierarchies under `/sys/fs/cgroup/<controller>`)
//! and v2 (one hierarchy, recognized by `cgroup.controllers` at the root) are
//! both read. CPU usage in nano-cores needs two samples, so the last sample of
//! every container is kept ([`CpuTracker`]), as containerd does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The cgroup filesystem root.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One reading of a cgroup; `None` where a file was missing or unreadable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupSample {
    /// Cumulative CPU time, nanoseconds.
    pub cpu_usage_ns: Option<u64>,
    pub memory_usage: Option<u64>,
    /// Usage minus inactive file cache: what the kubelet evicts on.
    pub working_set: Option<u64>,
    pub rss: Option<u64>,
    pub page_faults: Option<u64>,
    pub major_page_faults: Option<u64>,
}

fn read_u64(path: PathBuf) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat) as a map.
fn read_keyed(path: PathBuf) -> HashMap<String, u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// Reads the cgroup at `cgroup_path` (e.g. `/kubepods/pod1/<id>`) under `root`.
pub fn read_cgroup(root: &Path, cgroup_path: &str) -> CgroupSample {
    let rel = cgroup_path.trim_start_matches('/');
    if root.join("cgroup.controllers").exists() {
        let dir = root.join(rel);
        let cpu = read_keyed(dir.join("cpu.stat"));
        let mem = read_keyed(dir.join("memory.stat"));
        let usage = read_u64(dir.join("memory.current"));
        CgroupSample {
            cpu_usage_ns: cpu.get("usage_usec").map(|u| u.saturating_mul(1000)),
            memory_usage: usage,
            working_set: usage
                .map(|u| u.saturating_sub(mem.get("inactive_file").copied().unwrap_or(0))),
            rss: mem.get("anon").copied(),
            page_faults: mem.get("pgfault").copied(),
            major_page_faults: mem.get("pgmajfault").copied(),
        }
    } else {
        let mem_dir = root.join("memory").join(rel);
        let mem = read_keyed(mem_dir.join("memory.stat"));
        let usage = read_u64(mem_dir.join("memory.usage_in_bytes"));
        CgroupSample {
            cpu_usage_ns: read_u64(root.join("cpuacct").join(rel).join("cpuacct.usage")),
            memory_usage: usage,
            working_set: usage
                .map(|u| u.saturating_sub(mem.get("total_inactive_file").copied().unwrap_or(0))),
            rss: mem.get("total_rss").copied(),
            page_faults: mem.get("total_pgfault").copied(),
            major_page_faults: mem.get("total_pgmajfault").copied(),
        }
    }
}

impl CgroupSample {
    /// The sum of two samples (a pod's cgroups); `None` only where both are.
    pub fn add(&self, other: &CgroupSample) -> CgroupSample {
        let sum = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
        };
        CgroupSample {
            cpu_usage_ns: sum(self.cpu_usage_ns, other.cpu_usage_ns),
            memory_usage: sum(self.memory_usage, other.memory_usage),
            working_set: sum(self.working_set, other.working_set),
            rss: sum(self.rss, other.rss),
            page_faults: sum(self.page_faults, other.page_faults),
            major_page_faults: sum(self.major_page_faults, other.major_page_faults),
        }
    }
}

/// Processes in the cgroup (`pids.current`, v1 `pids` controller or v2).
pub fn process_count(root: &Path, cgroup_path: &str) -> Option<u64> {
    let rel = cgroup_path.trim_start_matches('/');
    if root.join("cgroup.controllers").exists() {
        read_u64(root.join(rel).join("pids.current"))
    } else {
        read_u64(root.join("pids").join(rel).join("pids.current"))
    }
}

/// Counters of one network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceSample {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// The interfaces of the network namespace process `pid` is in (its
/// `/proc/<pid>/net/dev`, so no namespace switch), loopback left out.
pub fn net_dev(pid: u32) -> Vec<InterfaceSample> {
    std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .map(|text| parse_net_dev(&text))
        .unwrap_or_default()
}

/// Parses `/proc/net/dev` (two header lines, then `name: rx… tx…`).
pub fn parse_net_dev(text: &str) -> Vec<InterfaceSample> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            let name = name.trim();
            let f: Vec<u64> = counters
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            (name != "lo" && f.len() >= 16).then(|| InterfaceSample {
                name: name.to_string(),
                rx_bytes: f[0],
                rx_packets: f[1],
                rx_errors: f[2],
                rx_dropped: f[3],
                tx_bytes: f[8],
                tx_packets: f[9],
                tx_errors: f[10],
                tx_dropped: f[11],
            })
        })
        .collect()
}

/// The previous CPU sample of each container, to turn cumulative usage into a rate.
#[derive(Debug, Default)]
pub struct CpuTracker {
    last: Mutex<HashMap<String, (i64, u64)>>,
}

impl CpuTracker {
    /// Records `(timestamp_ns, usage_ns)` for `id` and returns the rate since the
    /// previous sample in nano-cores (`None` on the first sample).
    pub fn rate(&self, id: &str, timestamp_ns: i64, usage_ns: u64) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let previous = last.insert(id.to_string(), (timestamp_ns, usage_ns));
        let (t0, u0) = previous?;
        let elapsed = u64::try_from(timestamp_ns.checked_sub(t0)?)
            .ok()
            .filter(|e| *e > 0)?;
        let used = usage_ns.checked_sub(u0)?;
        // nano-cores = used CPU ns per wall ns, times 1e9.
        Some(
            u64::try_from(u128::from(used) * 1_000_000_000 / u128::from(elapsed))
                .unwrap_or(u64::MAX),
        )
    }

    /// Forgets containers that no longer exist.
    pub fn retain(&self, live: &dyn Fn(&str) -> bool) {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|id, _| live(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_files_are_read_and_working_set_excludes_inactive_file() {
        let root = tempfile::tempdir().unwrap();
        let mem = root.path().join("memory/pods/c1");
        let cpu = root.path().join("cpuacct/pods/c1");
        std::fs::create_dir_all(&mem).unwrap();
        std::fs::create_dir_all(&cpu).unwrap();
        std::fs::write(mem.join("memory.usage_in_bytes"), "1000\n").unwrap();
        std::fs::write(
            mem.join("memory.stat"),
            "cache 5\ntotal_inactive_file 300\ntotal_rss 600\ntotal_pgfault 7\ntotal_pgmajfault 1\n",
        )
        .unwrap();
        std::fs::write(cpu.join("cpuacct.usage"), "123456\n").unwrap();
        let sample = read_cgroup(root.path(), "/pods/c1");
        assert_eq!(sample.cpu_usage_ns, Some(123456));
        assert_eq!(sample.memory_usage, Some(1000));
        assert_eq!(sample.working_set, Some(700));
        assert_eq!(sample.rss, Some(600));
        assert_eq!(sample.page_faults, Some(7));
        assert_eq!(sample.major_page_faults, Some(1));
    }

    #[test]
    fn v2_files_are_read() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "cpu memory\n").unwrap();
        let dir = root.path().join("pods/c1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cpu.stat"), "usage_usec 50\nuser_usec 40\n").unwrap();
        std::fs::write(dir.join("memory.current"), "2000\n").unwrap();
        std::fs::write(dir.join("memory.stat"), "anon 900\ninactive_file 500\n").unwrap();
        let sample = read_cgroup(root.path(), "/pods/c1");
        assert_eq!(sample.cpu_usage_ns, Some(50_000));
        assert_eq!(sample.working_set, Some(1500));
        assert_eq!(sample.rss, Some(900));
    }

    #[test]
    fn missing_cgroup_gives_empty_sample() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(read_cgroup(root.path(), "/absent"), CgroupSample::default());
    }

    #[test]
    fn cpu_rate_needs_two_samples() {
        let tracker = CpuTracker::default();
        assert_eq!(tracker.rate("c", 1_000_000_000, 0), None);
        // Half a core over one second.
        assert_eq!(
            tracker.rate("c", 2_000_000_000, 500_000_000),
            Some(500_000_000)
        );
        tracker.retain(&|_| false);
        assert_eq!(tracker.rate("c", 3_000_000_000, 600_000_000), None);
    }

    #[test]
    fn net_dev_skips_loopback_and_reads_rx_tx() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    5000      40    2    4    0     0          0         0     3000      30    1    5    0     0       0          0\n";
        let got = parse_net_dev(text);
        assert_eq!(
            got,
            vec![InterfaceSample {
                name: "eth0".into(),
                rx_bytes: 5000,
                rx_packets: 40,
                rx_errors: 2,
                rx_dropped: 4,
                tx_bytes: 3000,
                tx_packets: 30,
                tx_errors: 1,
                tx_dropped: 5,
            }]
        );
    }

    #[test]
    fn samples_add_up_and_pids_are_read() {
        let a = CgroupSample {
            cpu_usage_ns: Some(1),
            memory_usage: Some(10),
            ..Default::default()
        };
        let b = CgroupSample {
            cpu_usage_ns: Some(2),
            ..Default::default()
        };
        let sum = a.add(&b);
        assert_eq!(
            (sum.cpu_usage_ns, sum.memory_usage, sum.rss),
            (Some(3), Some(10), None)
        );
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("pids/pods/p")).unwrap();
        std::fs::write(root.path().join("pids/pods/p/pids.current"), "4\n").unwrap();
        assert_eq!(process_count(root.path(), "/pods/p"), Some(4));
    }
}
