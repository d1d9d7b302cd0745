//! A cgroup parent a test asks for (the kubelet's `cgroup_parent`), removed
//! on drop in every hierarchy where it was created.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// `/cradle-e2e-<random>`: unique per test.
pub struct CgroupParent {
    name: String,
}

impl CgroupParent {
    /// A fresh name; nothing is created until the daemon puts a pod there.
    pub fn new() -> Self {
        CgroupParent {
            name: format!("/cradle-e2e-{}", crate::names::random_suffix()),
        }
    }

    /// The cgroup path to put in `LinuxPodSandboxConfig.cgroup_parent`.
    pub fn path(&self) -> &str {
        &self.name
    }

    /// Every directory this parent has under /sys/fs/cgroup (v1 controllers,
    /// the v2 unified mount, or the v2 root).
    pub fn dirs(&self) -> Vec<PathBuf> {
        let rel = self.name.trim_start_matches('/');
        hierarchies()
            .into_iter()
            .map(|h| h.join(rel))
            .filter(|d| d.is_dir())
            .collect()
    }

    /// Removes the parent's dirs, deepest first (children the runtime left
    /// behind are leaks, but are removed too so the machine stays clean).
    pub fn remove(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for dir in self.dirs() {
            if let Err(e) = remove_tree(&dir) {
                errors.push(format!("{}: {e}", dir.display()));
            }
        }
        errors
    }
}

impl Default for CgroupParent {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for CgroupParent {
    fn drop(&mut self) {
        for e in self.remove() {
            eprintln!("cgroup cleanup: {e}");
        }
    }
}

/// The mount points of all cgroup hierarchies (v1 controllers and v2),
/// without the v1 symlinks (`cpu` → `cpu,cpuacct`).
pub(crate) fn hierarchies() -> Vec<PathBuf> {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fstype = right.split_whitespace().next()?;
            let mount_point = left.split_whitespace().nth(4)?;
            matches!(fstype, "cgroup" | "cgroup2").then(|| PathBuf::from(mount_point))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn remove_tree(dir: &Path) -> std::io::Result<()> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(&entry.path())?;
            }
        }
    }
    // Whatever still runs in it is a leak already reported: end it.
    if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    // rmdir of a cgroup fails with EBUSY for a moment after its last task exits.
    let mut last = Ok(());
    for _ in 0..50 {
        last = std::fs::remove_dir(dir);
        match &last {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    last
}
