//! The pod cgroup of the pause process (sandbox mode).
//!
//! A minimal cgroupfs joiner until the crate's `cgroups` module offers one:
//! on a cgroup v1 or hybrid host the pause process joins `<cgroup>` in every
//! v1 hierarchy mounted under `/sys/fs/cgroup`; on a pure v2 host it joins
//! `/sys/fs/cgroup/<cgroup>`. Directories the shim created are removed again
//! (deepest first) when the sandbox goes.

use std::fs;
use std::path::{Component, Path, PathBuf};

use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};
use nix::unistd::Pid;

use super::ShimError;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The pod cgroup, one directory per hierarchy.
#[derive(Debug, Clone, Default)]
pub struct SandboxCgroup {
    /// The cgroup's directory in each hierarchy.
    leaves: Vec<PathBuf>,
    /// Directories this shim created, in creation order.
    created: Vec<PathBuf>,
}

impl SandboxCgroup {
    /// Create `cgroup` (a path relative to each hierarchy root) where missing.
    /// On failure the directories created so far are removed.
    pub fn create(cgroup: &str) -> Result<SandboxCgroup, ShimError> {
        let relative = relative_path(cgroup)?;
        let mut made = SandboxCgroup::default();
        for root in hierarchies()? {
            if let Err(error) = made.create_in(&root, &relative) {
                made.remove();
                return Err(error);
            }
        }
        if made.leaves.is_empty() {
            return Err(ShimError::Invalid(format!(
                "no cgroup hierarchy found under {CGROUP_ROOT}"
            )));
        }
        Ok(made)
    }

    fn create_in(&mut self, root: &Path, relative: &Path) -> Result<(), ShimError> {
        let is_cpuset =
            root.join("cpuset.cpus").exists() && !root.join("cgroup.controllers").exists();
        let mut dir = root.to_path_buf();
        for component in relative.components() {
            let parent = dir.clone();
            dir.push(component);
            if dir.is_dir() {
                continue;
            }
            fs::create_dir(&dir).map_err(ShimError::io(format!("creating {}", dir.display())))?;
            self.created.push(dir.clone());
            if is_cpuset {
                // A new v1 cpuset cgroup has no cpus or mems: nobody can join it
                // until they are copied from the parent.
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    let value = fs::read_to_string(parent.join(file)).map_err(ShimError::io(
                        format!("reading {}", parent.join(file).display()),
                    ))?;
                    fs::write(dir.join(file), value.trim()).map_err(ShimError::io(format!(
                        "writing {}",
                        dir.join(file).display()
                    )))?;
                }
            }
        }
        self.leaves.push(dir);
        Ok(())
    }

    /// Move `pid` into the cgroup in every hierarchy.
    pub fn add(&self, pid: Pid) -> Result<(), ShimError> {
        for leaf in &self.leaves {
            let procs = leaf.join("cgroup.procs");
            fs::write(&procs, pid.to_string())
                .map_err(ShimError::io(format!("writing {}", procs.display())))?;
        }
        Ok(())
    }

    /// Remove the directories this shim created (best effort, deepest first).
    pub fn remove(&self) {
        for dir in self.created.iter().rev() {
            if let Err(error) = fs::remove_dir(dir) {
                crate::diag!("removing cgroup {}: {error}", dir.display());
            }
        }
    }
}

/// `cgroup` as a relative path without `..` (it must stay under the hierarchy root).
fn relative_path(cgroup: &str) -> Result<PathBuf, ShimError> {
    let mut relative = PathBuf::new();
    for component in Path::new(cgroup).components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::RootDir | Component::CurDir => {}
            _ => {
                return Err(ShimError::Invalid(format!(
                    "cgroup path {cgroup:?} leaves the hierarchy"
                )));
            }
        }
    }
    if relative.as_os_str().is_empty() {
        return Err(ShimError::Invalid(format!(
            "cgroup path {cgroup:?} is empty"
        )));
    }
    Ok(relative)
}

/// The hierarchy roots to join: `/sys/fs/cgroup` on a pure v2 host, else every
/// v1 (`cgroup` type) mount under it.
fn hierarchies() -> Result<Vec<PathBuf>, ShimError> {
    let root = statfs(CGROUP_ROOT).map_err(ShimError::sys(format!("statfs {CGROUP_ROOT}")))?;
    if root.filesystem_type() == CGROUP2_SUPER_MAGIC {
        return Ok(vec![PathBuf::from(CGROUP_ROOT)]);
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .map_err(ShimError::io("reading /proc/self/mountinfo"))?;
    Ok(v1_mounts(&mountinfo))
}

/// Mount points of `cgroup` (v1) filesystems under `/sys/fs/cgroup`.
fn v1_mounts(mountinfo: &str) -> Vec<PathBuf> {
    let mut mounts = Vec::new();
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = after.split(' ').next().unwrap_or("");
        let mount_point = before.split(' ').nth(4).unwrap_or("");
        if fstype == "cgroup" && mount_point.starts_with(CGROUP_ROOT) {
            mounts.push(PathBuf::from(mount_point));
        }
    }
    mounts.sort();
    mounts.dedup();
    mounts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_mounts_skip_cgroup2_and_other_filesystems() {
        let mountinfo = "\
30 25 0:26 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
";
        assert_eq!(
            v1_mounts(mountinfo),
            vec![
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"),
                PathBuf::from("/sys/fs/cgroup/memory")
            ]
        );
    }

    #[test]
    fn cgroup_path_may_not_climb_out() {
        assert!(relative_path("/kubepods/../../etc").is_err());
        assert!(relative_path("/").is_err());
        assert_eq!(
            relative_path("/kubepods/pod1").unwrap(),
            PathBuf::from("kubepods/pod1")
        );
    }
}
