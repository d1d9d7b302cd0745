//! One pass over every running container and ready pod: each cgroup read
//! once (with the cgroup hierarchy looked up once for the whole pass, not
//! per file), each pod's usage summed from its pause cgroup and its
//! containers' samples of the same pass, CPU rates derived once per
//! sample. ListContainerStats and ListPodSandboxStats answer from such a
//! [`Snapshot`] kept in a [`super::cache::SingleFlight`], never one file
//! read per container per call.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use cradle_cgroupfs::{CGROUP_ROOT, Hierarchy};

use super::cgroup::{CgroupSample, process_count_in, read_cgroup_in};
use super::cpu::CpuTracker;
use super::network::InterfaceSample;
use super::sample::init_interfaces;
use crate::platform::cgroup_host::cgroup_dir;

/// A running container to sample.
#[derive(Debug, Clone, Default)]
pub struct ContainerTarget {
    /// Its id (the CPU tracker's key).
    pub id: String,
    /// Its cgroup path as recorded (empty: none was kept).
    pub cgroup_path: String,
}

/// A ready pod to sample.
#[derive(Debug, Clone, Default)]
pub struct PodTarget {
    /// Its id (the CPU tracker's key).
    pub id: String,
    /// The pause process's cgroup path.
    pub cgroup_path: String,
    /// The pause shim's directory when the pod has its own network
    /// namespace (its interfaces are read through the pause process).
    pub net_shim_dir: Option<PathBuf>,
    /// Ids of its running containers (among [`Targets::containers`]).
    pub containers: Vec<String>,
}

/// What one pass samples.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// Every running container.
    pub containers: Vec<ContainerTarget>,
    /// Every ready pod.
    pub pods: Vec<PodTarget>,
}

/// One container's sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerUsage {
    /// When it was read, ns since the epoch.
    pub timestamp: i64,
    /// CPU and memory usage.
    pub usage: CgroupSample,
    /// Processes in its cgroup.
    pub processes: Option<u64>,
    /// CPU rate since the previous sample, nano-cores.
    pub nano_cores: Option<u64>,
}

/// One pod's sample: its pause cgroup and its running containers, summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodUsage {
    /// When it was read, ns since the epoch.
    pub timestamp: i64,
    /// CPU and memory usage, summed.
    pub usage: CgroupSample,
    /// Processes, summed (`None` when no cgroup could tell).
    pub processes: Option<u64>,
    /// CPU rate since the previous sample, nano-cores.
    pub nano_cores: Option<u64>,
    /// Its network namespace's interfaces (none for a host-network pod).
    pub interfaces: Vec<InterfaceSample>,
}

/// The samples of one pass, by id.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Running containers.
    pub containers: HashMap<String, ContainerUsage>,
    /// Ready pods.
    pub pods: HashMap<String, PodUsage>,
}

/// Samples `targets` (every running container and ready pod) on this
/// host, feeding `cpu`, which then forgets every container and pod the
/// pass did not see.
pub fn take(targets: &Targets, cpu: &CpuTracker) -> Snapshot {
    take_at(Path::new(CGROUP_ROOT), targets, cpu)
}

/// [`take`] under the cgroup root `root`.
pub fn take_at(root: &Path, targets: &Targets, cpu: &CpuTracker) -> Snapshot {
    let snapshot = sample_at(root, targets, cpu);
    let live: HashSet<&str> = targets
        .containers
        .iter()
        .map(|t| t.id.as_str())
        .chain(targets.pods.iter().map(|p| p.id.as_str()))
        .collect();
    cpu.retain(&|id| live.contains(id));
    snapshot
}

/// Samples only `targets` (one container, one pod), feeding `cpu` but
/// leaving the other containers' records in it alone.
pub fn sample(targets: &Targets, cpu: &CpuTracker) -> Snapshot {
    sample_at(Path::new(CGROUP_ROOT), targets, cpu)
}

fn sample_at(root: &Path, targets: &Targets, cpu: &CpuTracker) -> Snapshot {
    let hierarchy = Hierarchy::by_files(root);
    let containers: HashMap<String, ContainerUsage> = targets
        .containers
        .iter()
        .map(|t| (t.id.clone(), container_usage(&hierarchy, t, cpu)))
        .collect();
    let pods = targets
        .pods
        .iter()
        .map(|p| (p.id.clone(), pod_usage(&hierarchy, p, &containers, cpu)))
        .collect();
    Snapshot { containers, pods }
}

/// A container's cgroup read with `hierarchy`; empty without a cgroup path
/// (records from before they were kept), rather than the root's usage.
fn container_usage(
    hierarchy: &Hierarchy,
    target: &ContainerTarget,
    cpu: &CpuTracker,
) -> ContainerUsage {
    let timestamp = crate::core::time::now_ns();
    if target.cgroup_path.is_empty() {
        return ContainerUsage {
            timestamp,
            ..Default::default()
        };
    }
    let dir = cgroup_dir(&target.cgroup_path);
    let usage = read_cgroup_in(hierarchy, &dir);
    let nano_cores = usage
        .cpu_usage_ns
        .and_then(|u| cpu.rate(&target.id, timestamp, u));
    ContainerUsage {
        timestamp,
        processes: process_count_in(hierarchy, &dir),
        usage,
        nano_cores,
    }
}

fn pod_usage(
    hierarchy: &Hierarchy,
    pod: &PodTarget,
    containers: &HashMap<String, ContainerUsage>,
    cpu: &CpuTracker,
) -> PodUsage {
    let timestamp = crate::core::time::now_ns();
    let (mut usage, mut processes) = (CgroupSample::default(), None);
    if !pod.cgroup_path.is_empty() {
        let dir = cgroup_dir(&pod.cgroup_path);
        usage = read_cgroup_in(hierarchy, &dir);
        processes = process_count_in(hierarchy, &dir);
    }
    for c in pod.containers.iter().filter_map(|id| containers.get(id)) {
        usage = usage.add(&c.usage);
        processes = match (processes, c.processes) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
    }
    let nano_cores = usage
        .cpu_usage_ns
        .and_then(|u| cpu.rate(&pod.id, timestamp, u));
    PodUsage {
        timestamp,
        usage,
        processes,
        nano_cores,
        interfaces: pod
            .net_shim_dir
            .as_deref()
            .map(init_interfaces)
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cgroup(root: &Path, path: &str, memory: u64, cpu_ns: u64, pids: u64) {
        for (controller, file, value) in [
            ("memory", "memory.usage_in_bytes", memory),
            ("cpuacct", "cpuacct.usage", cpu_ns),
            ("pids", "pids.current", pids),
        ] {
            let dir = root.join(controller).join(path.trim_start_matches('/'));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(file), format!("{value}\n")).unwrap();
        }
    }

    fn targets() -> Targets {
        let c = |id: &str| ContainerTarget {
            id: id.into(),
            cgroup_path: format!("/pod/{id}"),
        };
        Targets {
            containers: vec![c("c1"), c("c2")],
            pods: vec![PodTarget {
                id: "p".into(),
                cgroup_path: "/pod/pause".into(),
                net_shim_dir: None,
                containers: vec!["c1".into(), "c2".into(), "gone".into()],
            }],
        }
    }

    #[test]
    fn one_pass_reads_containers_and_sums_pods() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        cgroup(r, "/pod/pause", 100, 10, 1);
        cgroup(r, "/pod/c1", 1000, 20, 2);
        cgroup(r, "/pod/c2", 2000, 30, 3);
        let cpu = CpuTracker::default();
        let snap = take_at(r, &targets(), &cpu);
        let c1 = &snap.containers["c1"];
        assert_eq!(c1.usage.memory_usage, Some(1000));
        assert_eq!((c1.processes, c1.nano_cores), (Some(2), None));
        let pod = &snap.pods["p"];
        assert_eq!(pod.usage.memory_usage, Some(3100));
        assert_eq!(pod.usage.cpu_usage_ns, Some(60));
        assert_eq!(pod.processes, Some(6));
        assert!(pod.interfaces.is_empty());
    }

    #[test]
    fn a_second_pass_has_rates_and_the_tracker_forgets_what_went() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        cgroup(r, "/pod/pause", 100, 0, 1);
        cgroup(r, "/pod/c1", 1000, 0, 1);
        cgroup(r, "/pod/c2", 1000, 0, 1);
        let cpu = CpuTracker::default();
        take_at(r, &targets(), &cpu);
        cgroup(r, "/pod/c1", 1000, 1_000_000_000, 1);
        let snap = take_at(r, &targets(), &cpu);
        assert!(snap.containers["c1"].nano_cores.is_some_and(|n| n > 0));
        assert_eq!(snap.containers["c2"].nano_cores, Some(0));
        assert!(snap.pods["p"].nano_cores.is_some_and(|n| n > 0));
        // c2 and the pod disappear: the tracker keeps only c1.
        let only_c1 = Targets {
            containers: vec![targets().containers[0].clone()],
            pods: vec![],
        };
        let snap = take_at(r, &only_c1, &cpu);
        assert_eq!(snap.containers.len(), 1);
        assert!(snap.pods.is_empty());
        assert_eq!(cpu.rate("c2", i64::MAX, 0), None, "c2 was forgotten");
    }

    #[test]
    fn a_container_without_cgroup_path_is_empty() {
        let root = tempfile::tempdir().unwrap();
        let t = Targets {
            containers: vec![ContainerTarget {
                id: "old".into(),
                cgroup_path: String::new(),
            }],
            pods: vec![],
        };
        let snap = take_at(root.path(), &t, &CpuTracker::default());
        assert_eq!(snap.containers["old"].usage, CgroupSample::default());
    }
}
