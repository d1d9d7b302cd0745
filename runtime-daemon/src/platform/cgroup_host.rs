//! What this host's cgroups are: v1, hybrid (v1 controllers plus the
//! cgroup2 `unified` mount) or v2, and whether systemd runs (it manages
//! the cgroup tree, which the systemd cgroup driver needs). Detected once
//! at start; the daemon refuses a configuration the host cannot give and
//! reports what it found in `Status` verbose info. Under the systemd
//! driver a cgroup is named `slice:prefix:name`; [`cgroup_dir`] says
//! where that is in the tree, for the readers of its files.

use std::path::Path;

use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};
use serde::Serialize;

/// Which cgroup hierarchy the host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupVersion {
    /// Only cgroup v1 controller mounts.
    V1,
    /// v1 controller mounts and the cgroup2 `unified` mount beside them.
    Hybrid,
    /// The unified hierarchy alone.
    V2,
}

/// What the host's cgroups are and who manages them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CgroupHost {
    /// The hierarchy the host runs.
    pub version: CgroupVersion,
    /// systemd is the init and runs (`/run/systemd/system` exists, as
    /// `sd_booted(3)` checks).
    pub systemd: bool,
}

impl CgroupHost {
    /// Detects this host's cgroups under `/sys/fs/cgroup` and systemd.
    pub fn detect() -> CgroupHost {
        CgroupHost::detect_at(
            Path::new(cradle_cgroupfs::CGROUP_ROOT),
            Path::new("/run/systemd/system"),
        )
    }

    /// Detects the cgroups mounted under `root` and systemd by its marker
    /// directory `systemd_marker`. A host without a recognisable hierarchy
    /// counts as v1 (every cgroup write then fails with its own reason).
    pub fn detect_at(root: &Path, systemd_marker: &Path) -> CgroupHost {
        let version = match cradle_cgroupfs::Hierarchy::detect_at(root) {
            Ok(h) if h.is_v2() => CgroupVersion::V2,
            Ok(cradle_cgroupfs::Hierarchy::V1 {
                unified: Some(_), ..
            }) => CgroupVersion::Hybrid,
            _ if is_cgroup2(&root.join("unified")) => CgroupVersion::Hybrid,
            _ => CgroupVersion::V1,
        };
        CgroupHost {
            version,
            systemd: systemd_marker.is_dir(),
        }
    }
}

/// Where the cgroup of `cgroups_path` lives in the hierarchy: the path
/// itself under cgroupfs; under systemd the expanded slice
/// (`a-b.slice` → `/a.slice/a-b.slice`) and the scope
/// `cri-cradle-<id>.scope`, as systemd and runc place it.
pub fn cgroup_dir(cgroups_path: &str) -> String {
    let mut parts = cgroups_path.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(slice), Some(prefix), Some(name)) => {
            let slice = if slice.is_empty() {
                "system.slice"
            } else {
                slice
            };
            format!("{}/{prefix}-{name}.scope", expand_slice(slice))
        }
        _ => cgroups_path.to_string(),
    }
}

/// `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice` (`-.slice`: the root).
pub fn expand_slice(slice: &str) -> String {
    let Some(stem) = slice.strip_suffix(".slice") else {
        return format!("/{slice}");
    };
    if stem == "-" || stem.is_empty() {
        return String::new();
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push('/');
        path.push_str(&prefix);
        path.push_str(".slice");
    }
    path
}

fn is_cgroup2(path: &Path) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_is_detected_by_its_marker_directory() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("run/systemd/system");
        let host = CgroupHost::detect_at(dir.path(), &marker);
        assert!(!host.systemd);
        std::fs::create_dir_all(&marker).unwrap();
        assert!(CgroupHost::detect_at(dir.path(), &marker).systemd);
    }

    #[test]
    fn slices_expand_as_systemd_does() {
        assert_eq!(
            expand_slice("kubepods-burstable-pod1.slice"),
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice"
        );
        assert_eq!(expand_slice("system.slice"), "/system.slice");
        assert_eq!(expand_slice("-.slice"), "");
        assert_eq!(
            cgroup_dir("kubepods-besteffort-podab.slice:cri-cradle:c1"),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podab.slice/cri-cradle-c1.scope"
        );
        assert_eq!(
            cgroup_dir(":cri-cradle:c1"),
            "/system.slice/cri-cradle-c1.scope"
        );
        assert_eq!(cgroup_dir("/cradle/c1"), "/cradle/c1");
    }

    #[test]
    fn this_hosts_hierarchy_matches_its_mounts() {
        let host = CgroupHost::detect();
        let root = Path::new(cradle_cgroupfs::CGROUP_ROOT);
        let expected = if is_cgroup2(root) {
            CgroupVersion::V2
        } else if is_cgroup2(&root.join("unified")) {
            CgroupVersion::Hybrid
        } else {
            CgroupVersion::V1
        };
        assert_eq!(host.version, expected);
        assert_eq!(host.systemd, Path::new("/run/systemd/system").is_dir());
    }
}
