//! The cgroup parent of a run's pods: one of this run's own, removed
//! (empty) at the end.

use std::path::PathBuf;

/// `--cgroup-parent` or `/cradle-bench-<pid>`.
pub fn choose(given: Option<String>) -> String {
    given.unwrap_or_else(|| format!("/cradle-bench-{}", std::process::id()))
}

/// Removes the pods' (now empty) cgroup parent in every hierarchy; best effort.
pub fn remove(parent: &str) {
    let rel = parent.trim_start_matches('/');
    let Ok(mounts) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for m in mounts.flatten() {
        let _ = std::fs::remove_dir(m.path().join(rel));
    }
    let _ = std::fs::remove_dir(PathBuf::from("/sys/fs/cgroup").join(rel));
}
