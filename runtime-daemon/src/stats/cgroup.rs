//! A cgroup's usage: CPU time, memory (usage, working set, RSS, page
//! faults) and process count, the numbers ContainerStats, PodSandboxStats
//! and the basic metrics report. cgroup v1 (one hierarchy per controller
//! under `/sys/fs/cgroup/<controller>`) and v2 (one hierarchy, recognised
//! by `cgroup.controllers` at the root) are both read.

use std::path::Path;

use cradle_cgroupfs::Hierarchy;

use super::cgroup_files::CgroupFiles;

/// One reading of a cgroup; `None` where a file was missing or unreadable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupSample {
    /// Cumulative CPU time, nanoseconds.
    pub cpu_usage_ns: Option<u64>,
    /// Memory in use, bytes (page cache included).
    pub memory_usage: Option<u64>,
    /// Usage minus inactive file cache: what the kubelet evicts on.
    pub working_set: Option<u64>,
    /// Anonymous memory, bytes.
    pub rss: Option<u64>,
    /// Page faults.
    pub page_faults: Option<u64>,
    /// Major page faults.
    pub major_page_faults: Option<u64>,
}

/// Reads the cgroup at `cgroup_path` (e.g. `/kubepods/pod1/<id>`) under `root`.
pub fn read_cgroup(root: &Path, cgroup_path: &str) -> CgroupSample {
    read_files(&CgroupFiles::at(root, cgroup_path))
}

/// [`read_cgroup`] in a hierarchy already looked up.
pub fn read_cgroup_in(hierarchy: &Hierarchy, cgroup_path: &str) -> CgroupSample {
    read_files(&CgroupFiles::in_hierarchy(hierarchy, cgroup_path))
}

fn read_files(files: &CgroupFiles<'_>) -> CgroupSample {
    if files.is_v2() {
        let cpu = files.keyed("cpu", "cpu.stat");
        let mem = files.keyed("memory", "memory.stat");
        let usage = files.number("memory", "memory.current");
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
        let mem = files.keyed("memory", "memory.stat");
        let usage = files.number("memory", "memory.usage_in_bytes");
        CgroupSample {
            cpu_usage_ns: files.number("cpuacct", "cpuacct.usage"),
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
    CgroupFiles::at(root, cgroup_path).number("pids", "pids.current")
}

/// [`process_count`] in a hierarchy already looked up.
pub fn process_count_in(hierarchy: &Hierarchy, cgroup_path: &str) -> Option<u64> {
    CgroupFiles::in_hierarchy(hierarchy, cgroup_path).number("pids", "pids.current")
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
