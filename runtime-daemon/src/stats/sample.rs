//! One function per container and per pod that reads everything the CRI
//! reports about it from the host ([`CGROUP_ROOT`], `/proc`) into a plain
//! struct: the unit a background sampler could cache and the CRI layer
//! maps to its messages.

use crate::platform::cgroup_host::cgroup_dir;
use std::path::Path;

use cradle_cgroupfs::CGROUP_ROOT;

use super::cgroup::{CgroupSample, process_count, read_cgroup};
use super::detail::{self, DetailSample};
use super::network::{InterfaceSample, net_dev};
use super::process::init_pid;

/// Where the kernel shows processes.
const PROC_ROOT: &str = "/proc";

/// Everything the metrics say about one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSample {
    /// CPU and memory usage.
    pub usage: CgroupSample,
    /// Processes in the cgroup.
    pub processes: Option<u64>,
    /// The counters beyond usage.
    pub detail: DetailSample,
}

/// What a pod's cgroups use together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSample {
    /// CPU and memory usage, summed over the pod's cgroups.
    pub usage: CgroupSample,
    /// Processes, summed (`None` when no cgroup could tell).
    pub processes: Option<u64>,
}

/// A container's CPU and memory usage (ContainerStats); empty for a
/// container without a cgroup path (records from before they were kept),
/// rather than the root cgroup's usage.
pub fn container_usage(cgroup_path: &str) -> CgroupSample {
    if cgroup_path.is_empty() {
        return CgroupSample::default();
    }
    read_cgroup(Path::new(CGROUP_ROOT), &cgroup_dir(cgroup_path))
}

/// Everything about the container whose cgroup is `cgroup_path` on this host.
pub fn container_sample(cgroup_path: &str) -> ContainerSample {
    container_sample_at(Path::new(CGROUP_ROOT), Path::new(PROC_ROOT), cgroup_path)
}

/// [`container_sample`] with the cgroup root and `/proc` given.
pub fn container_sample_at(root: &Path, proc: &Path, cgroup_path: &str) -> ContainerSample {
    let cgroup_path = &cgroup_dir(cgroup_path);
    ContainerSample {
        usage: read_cgroup(root, cgroup_path),
        processes: process_count(root, cgroup_path),
        detail: detail::read(root, proc, cgroup_path),
    }
}

/// A pod's usage over its cgroups (the pause process's and each running
/// container's, summed, since a pod may share its cgroup parent with
/// others); empty paths are skipped.
pub fn pod_sample(cgroup_paths: &[String]) -> PodSample {
    pod_sample_at(Path::new(CGROUP_ROOT), cgroup_paths)
}

/// [`pod_sample`] with the cgroup root given.
pub fn pod_sample_at(root: &Path, cgroup_paths: &[String]) -> PodSample {
    let cgroups = cgroup_paths
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| cgroup_dir(c));
    PodSample {
        usage: cgroups
            .clone()
            .map(|c| read_cgroup(root, &c))
            .fold(CgroupSample::default(), |acc, s| acc.add(&s)),
        processes: cgroups
            .filter_map(|c| process_count(root, &c))
            .reduce(|a, b| a + b),
    }
}

/// The interfaces of the network namespace of the init process started by
/// the shim at `shim_dir` (a pod's pause process); none before it runs.
pub fn init_interfaces(shim_dir: &Path) -> Vec<InterfaceSample> {
    init_pid(shim_dir).map(net_dev).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_sums_its_cgroups_and_skips_empty_paths() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for (c, usage, pids) in [("pod", "100", "1"), ("pod/c1", "50", "2")] {
            std::fs::create_dir_all(r.join("memory").join(c)).unwrap();
            std::fs::create_dir_all(r.join("pids").join(c)).unwrap();
            std::fs::write(
                r.join("memory").join(c).join("memory.usage_in_bytes"),
                usage,
            )
            .unwrap();
            std::fs::write(r.join("pids").join(c).join("pids.current"), pids).unwrap();
        }
        let paths = ["/pod".to_string(), "/pod/c1".to_string(), String::new()];
        let sample = pod_sample_at(r, &paths);
        assert_eq!(sample.usage.memory_usage, Some(150));
        assert_eq!(sample.processes, Some(3));
        assert_eq!(pod_sample_at(r, &[]), PodSample::default());
    }

    #[test]
    fn a_container_sample_holds_usage_processes_and_detail() {
        let root = tempfile::tempdir().unwrap();
        let proc = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::write(r.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        std::fs::create_dir_all(r.join("pod/c1")).unwrap();
        std::fs::write(r.join("pod/c1/memory.current"), "2000\n").unwrap();
        std::fs::write(r.join("pod/c1/pids.current"), "2\n").unwrap();
        std::fs::write(r.join("pod/c1/pids.max"), "max\n").unwrap();
        let sample = container_sample_at(r, proc.path(), "/pod/c1");
        assert_eq!(sample.usage.memory_usage, Some(2000));
        assert_eq!(sample.processes, Some(2));
        assert_eq!(sample.detail.threads_max, Some(0));
        assert_eq!(container_usage(""), CgroupSample::default());
    }

    #[test]
    fn no_init_pid_means_no_interfaces() {
        let shim = tempfile::tempdir().unwrap();
        assert!(init_interfaces(shim.path()).is_empty());
    }
}
