//! Where the host's cgroups are: the root every hierarchy is mounted
//! under, which hierarchy the host runs, and where one cgroup's files for
//! one controller live.

use std::path::{Path, PathBuf};

use crate::mount::{is_cgroup1, is_cgroup2};

/// The root every hierarchy is mounted under.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Why the hierarchy could not be detected; each names the path it
/// failed on. (The readers themselves never fail, see [`crate::read`].)
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No cgroup v1 controller and no cgroup2 root were found.
    #[error("no cgroup hierarchy found under {CGROUP_ROOT}")]
    NoHierarchy,
    /// The cgroup root could not be listed.
    #[error("read {path}: {source}")]
    Read {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Which cgroup hierarchy this host runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// One mount per controller (or co-mounted group), e.g. `cpu,cpuacct`.
    V1 {
        /// `(mount directory name, mount path)`, e.g. `("memory", "/sys/fs/cgroup/memory")`.
        mounts: Vec<(String, PathBuf)>,
        /// A hybrid host's cgroup2 mount, when it carries controllers
        /// (which are then in no v1 mount: a controller is in one hierarchy).
        unified: Option<PathBuf>,
    },
    /// The unified hierarchy mounted at `root`.
    V2 {
        /// Usually `/sys/fs/cgroup`.
        root: PathBuf,
    },
}

impl Hierarchy {
    /// Detects the hierarchy under [`CGROUP_ROOT`].
    pub fn detect() -> Result<Self, Error> {
        Self::detect_at(Path::new(CGROUP_ROOT))
    }

    /// Detects the hierarchy under `root` by its mounts (statfs): v2 when
    /// `root` is a cgroup2 mount, else v1 with every cgroup v1 mount below
    /// it, plus the hybrid `unified` mount when it carries controllers.
    pub fn detect_at(root: &Path) -> Result<Self, Error> {
        if is_cgroup2(root) {
            return Ok(Hierarchy::V2 {
                root: root.to_path_buf(),
            });
        }
        let mounts = controller_mounts(root)?;
        if mounts.is_empty() {
            return Err(Error::NoHierarchy);
        }
        let unified = Some(root.join("unified")).filter(|u| {
            is_cgroup2(u)
                && std::fs::read_to_string(u.join("cgroup.controllers"))
                    .is_ok_and(|c| !c.trim().is_empty())
        });
        Ok(Hierarchy::V1 { mounts, unified })
    }

    /// Recognises the hierarchy under `root` by its files alone, so a copy
    /// of the tree in a test directory reads like the host's: v2 when
    /// `root` holds `cgroup.controllers`, else v1 with every directory
    /// below it (symlinks such as `cpu -> cpu,cpuacct` included) as a
    /// mount. The stat readers use this; it never fails, an unreadable
    /// root is a v1 hierarchy without mounts (every read is then `None`).
    pub fn by_files(root: &Path) -> Self {
        if root.join("cgroup.controllers").exists() {
            return Hierarchy::V2 {
                root: root.to_path_buf(),
            };
        }
        let mut mounts: Vec<(String, PathBuf)> = std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.is_dir())
            .filter_map(|path| {
                let name = path.file_name()?.to_string_lossy().into_owned();
                Some((name, path))
            })
            .collect();
        mounts.sort();
        Hierarchy::V1 {
            mounts,
            unified: None,
        }
    }

    /// True for the unified (v2) hierarchy.
    pub fn is_v2(&self) -> bool {
        matches!(self, Hierarchy::V2 { .. })
    }

    /// The directory of the cgroup at `cgroup_path` (`/kubepods/pod1/abc`)
    /// that holds `controller`'s files: in v2 the one directory; in v1 the
    /// one under the mount carrying the controller, or under a hybrid
    /// host's unified mount when it offers it. `None` when no mount has it.
    pub fn controller_dir(&self, controller: &str, cgroup_path: &str) -> Option<PathBuf> {
        let rel = cgroup_path.trim_start_matches('/');
        match self {
            Hierarchy::V2 { root } => Some(root.join(rel)),
            Hierarchy::V1 { mounts, unified } => mounts
                .iter()
                .find(|(name, _)| has_controller(name, controller))
                .map(|(_, mount)| mount.join(rel))
                .or_else(|| {
                    unified
                        .as_ref()
                        .filter(|u| offers_controller(u, controller))
                        .map(|u| u.join(rel))
                }),
        }
    }
}

/// Lists the v1 controller mounts under `root` (skipping symlinks such as
/// `cpu -> cpu,cpuacct` and the cgroup2 `unified` mount), sorted by name.
pub fn controller_mounts(root: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let entries = std::fs::read_dir(root).map_err(|source| Error::Read {
        path: root.to_path_buf(),
        source,
    })?;
    let mut mounts = Vec::new();
    for entry in entries.flatten() {
        let Ok(ft) = entry.file_type() else { continue };
        if !ft.is_dir() {
            continue;
        }
        let path = entry.path();
        if is_cgroup1(&path) {
            mounts.push((entry.file_name().to_string_lossy().into_owned(), path));
        }
    }
    mounts.sort();
    Ok(mounts)
}

/// True when the v1 mount named `mount` (e.g. `cpu,cpuacct`) carries `controller`.
pub fn has_controller(mount: &str, controller: &str) -> bool {
    mount.split(',').any(|c| c == controller)
}

/// True when the cgroup2 directory `dir` offers `controller` (its
/// `cgroup.controllers` lists it); false when that file cannot be read.
pub fn offers_controller(dir: &Path, controller: &str) -> bool {
    std::fs::read_to_string(dir.join("cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|c| c == controller))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comounted_controllers_are_found_by_name() {
        assert!(has_controller("cpu,cpuacct", "cpuacct"));
        assert!(has_controller("memory", "memory"));
        assert!(!has_controller("cpuset", "cpu"));
    }

    #[test]
    fn a_tree_with_cgroup_controllers_is_v2() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "cpu memory\n").unwrap();
        let h = Hierarchy::by_files(root.path());
        assert!(h.is_v2());
        assert_eq!(
            h.controller_dir("memory", "/pods/c1"),
            Some(root.path().join("pods/c1"))
        );
    }

    #[test]
    fn a_v1_tree_finds_each_controller_in_its_mount() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("cpu,cpuacct")).unwrap();
        std::fs::create_dir(root.path().join("memory")).unwrap();
        std::os::unix::fs::symlink("cpu,cpuacct", root.path().join("cpuacct")).unwrap();
        let h = Hierarchy::by_files(root.path());
        assert!(!h.is_v2());
        assert_eq!(
            h.controller_dir("cpuacct", "pods/c1"),
            Some(root.path().join("cpu,cpuacct/pods/c1"))
        );
        assert_eq!(
            h.controller_dir("memory", "/pods/c1"),
            Some(root.path().join("memory/pods/c1"))
        );
        assert_eq!(h.controller_dir("pids", "/pods/c1"), None);
    }

    #[test]
    fn a_hybrid_unified_mount_serves_the_controllers_v1_lacks() {
        let root = tempfile::tempdir().unwrap();
        let unified = root.path().join("unified");
        std::fs::create_dir(&unified).unwrap();
        std::fs::write(unified.join("cgroup.controllers"), "hugetlb\n").unwrap();
        let h = Hierarchy::V1 {
            mounts: vec![("memory".into(), root.path().join("memory"))],
            unified: Some(unified.clone()),
        };
        assert_eq!(h.controller_dir("hugetlb", "/p"), Some(unified.join("p")));
        assert_eq!(h.controller_dir("pids", "/p"), None);
    }

    #[test]
    fn a_plain_directory_is_no_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("memory")).unwrap();
        assert!(matches!(
            Hierarchy::detect_at(root.path()),
            Err(Error::NoHierarchy)
        ));
    }
}
