//! A container's processes as the host shows them: its init's pid (the
//! file its shim writes), and the threads, file descriptors and sockets of
//! the processes in its cgroup, from `/proc/<pid>`.

use std::path::Path;

use cradle_cgroupfs::parse::colon_value;

/// The host pid of the init process the shim at `shim_dir` started (the
/// container's, or a pod's pause process); `None` before it started.
pub fn init_pid(shim_dir: &Path) -> Option<u32> {
    std::fs::read_to_string(shim_dir.join(cradle_proto::shim::INIT_PID_FILE))
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
}

/// Threads, file descriptors and sockets of a cgroup's processes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TaskCounts {
    /// Threads of every process.
    pub threads: u64,
    /// Open file descriptors of every process.
    pub fds: u64,
    /// Those descriptors that are sockets.
    pub sockets: u64,
}

/// Counts the tasks of the processes listed in `procs_file` (a cgroup's
/// `cgroup.procs`) under `proc` (`/proc`); `None` when the list cannot be
/// read. A process that exits meanwhile counts as nothing.
pub fn task_counts(procs_file: &Path, proc: &Path) -> Option<TaskCounts> {
    let list = std::fs::read_to_string(procs_file).ok()?;
    let mut counts = TaskCounts::default();
    for pid in list.split_whitespace() {
        let dir = proc.join(pid);
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        counts.threads += colon_value(&status, "Threads").unwrap_or(0);
        for fd in std::fs::read_dir(dir.join("fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            counts.fds += 1;
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            if target.to_string_lossy().starts_with("socket:") {
                counts.sockets += 1;
            }
        }
    }
    Some(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_pid_is_read_from_the_shim_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(init_pid(dir.path()), None);
        std::fs::write(dir.path().join(cradle_proto::shim::INIT_PID_FILE), "1234\n").unwrap();
        assert_eq!(init_pid(dir.path()), Some(1234));
    }

    #[test]
    fn tasks_are_counted_per_process() {
        let cg = tempfile::tempdir().unwrap();
        let proc = tempfile::tempdir().unwrap();
        let procs = cg.path().join("cgroup.procs");
        assert_eq!(task_counts(&procs, proc.path()), None);
        std::fs::write(&procs, "42\n43\n").unwrap();
        std::fs::create_dir_all(proc.path().join("42/fd")).unwrap();
        std::fs::write(proc.path().join("42/status"), "Name:\tsh\nThreads:\t3\n").unwrap();
        std::os::unix::fs::symlink("socket:[1]", proc.path().join("42/fd/3")).unwrap();
        assert_eq!(
            task_counts(&procs, proc.path()),
            Some(TaskCounts {
                threads: 3,
                fds: 1,
                sockets: 1
            })
        );
    }
}
