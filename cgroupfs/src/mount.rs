//! Which kind of filesystem a directory is, by statfs: a cgroup v1 mount,
//! the cgroup2 mount, or neither.

use std::path::Path;

use nix::sys::statfs::{CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, statfs};

/// True when `path` is a cgroup2 mount.
pub(crate) fn is_cgroup2(path: &Path) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC)
}

/// True when `path` is a cgroup v1 mount.
pub(crate) fn is_cgroup1(path: &Path) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == CGROUP_SUPER_MAGIC)
}
