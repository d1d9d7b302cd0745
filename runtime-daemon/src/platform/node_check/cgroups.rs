//! The cgroup hierarchy (v1, hybrid or v2, as the daemon detects it) and
//! the controllers Cradle sets limits with.

use std::path::Path;

use cradle_cgroupfs::Hierarchy;

use super::paths::NodePaths;
use super::report::{Check, Status};
use crate::platform::cgroup_host::{CgroupHost, CgroupVersion};

/// Controllers without which the CRI's resource limits cannot be applied.
const REQUIRED: [&str; 3] = ["cpu", "memory", "pids"];
/// Controllers some limits need (cpuset pinning, hugepage limits).
const WANTED: [&str; 2] = ["cpuset", "hugetlb"];

/// The hierarchy under `<sys>/fs/cgroup`: v2 is what Kubernetes moves to;
/// v1 and hybrid still run, with a warning. The systemd driver needs a
/// running systemd.
pub fn version(paths: &NodePaths) -> Check {
    const NAME: &str = "cgroup version";
    let root = paths.sys_root.join("fs/cgroup");
    let host = CgroupHost::detect_at(&root, &paths.systemd_marker);
    let version = match (host.version, hierarchy(&root)) {
        // A copy of a v2 tree (no cgroup2 mount) is read by its files.
        (CgroupVersion::V1, Some(h)) if h.is_v2() => CgroupVersion::V2,
        (version, _) => version,
    };
    let systemd = if host.systemd {
        "systemd runs"
    } else {
        "no systemd"
    };
    if paths.systemd_driver && !host.systemd {
        return Check::new(
            NAME,
            Status::Fail,
            format!(
                "cgroup_driver = \"systemd\" but systemd does not run ({} is missing)",
                paths.systemd_marker.display()
            ),
            "set cgroup_driver = \"cgroupfs\" in cradled's config (and the kubelet's cgroupDriver)",
        );
    }
    match version {
        CgroupVersion::V2 => Check::ok(NAME, format!("v2 (unified), {systemd}")),
        other => Check::new(
            NAME,
            Status::Warn,
            format!(
                "{} ({systemd}): cgroup v1 is deprecated; kubelet 1.35+ refuses it unless \
                 failCgroupV1 is false",
                if other == CgroupVersion::Hybrid {
                    "hybrid (v1 controllers, cgroup2 unified mount)"
                } else {
                    "v1"
                }
            ),
            "boot with systemd.unified_cgroup_hierarchy=1 (cgroup_no_v1=all without systemd) \
             for cgroup v2",
        ),
    }
}

/// The hierarchy under `root` by its mounts, else by its files (a copy of
/// the tree); `None` when neither finds one.
fn hierarchy(root: &Path) -> Option<Hierarchy> {
    match Hierarchy::detect_at(root) {
        Ok(h) => Some(h),
        Err(_) => match Hierarchy::by_files(root) {
            Hierarchy::V1 { mounts, .. } if mounts.is_empty() => None,
            h => Some(h),
        },
    }
}

/// Whether `hierarchy` has `controller` at its root.
fn has(hierarchy: &Hierarchy, controller: &str) -> bool {
    match hierarchy {
        Hierarchy::V2 { root } => cradle_cgroupfs::hierarchy::offers_controller(root, controller),
        v1 => v1.controller_dir(controller, "/").is_some(),
    }
}

/// cpu, memory and pids are available (fail without), cpuset and hugetlb
/// (warn without).
pub fn controllers(sys_root: &Path) -> Check {
    const NAME: &str = "cgroup controllers";
    let root = sys_root.join("fs/cgroup");
    let Some(hierarchy) = hierarchy(&root) else {
        return Check::new(
            NAME,
            Status::Fail,
            format!("no cgroup hierarchy under {}", root.display()),
            "mount cgroup2 at /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup)",
        );
    };
    let missing = |list: &[&str]| -> Vec<String> {
        list.iter()
            .filter(|c| !has(&hierarchy, c))
            .map(|c| c.to_string())
            .collect()
    };
    let (required, wanted) = (missing(&REQUIRED), missing(&WANTED));
    let fix = |names: &[String]| {
        format!(
            "enable {}: boot with cgroup_enable={} if the kernel disables it, and on cgroup v2 \
             add it to the parent's cgroup.subtree_control",
            names.join(", "),
            names.join(",")
        )
    };
    if !required.is_empty() {
        Check::new(
            NAME,
            Status::Fail,
            format!(
                "missing {}: CPU, memory and process limits cannot be set",
                required.join(", ")
            ),
            fix(&required),
        )
    } else if !wanted.is_empty() {
        Check::new(
            NAME,
            Status::Warn,
            format!("cpu, memory, pids present; missing {}", wanted.join(", ")),
            fix(&wanted),
        )
    } else {
        Check::ok(
            NAME,
            format!(
                "{} present",
                [&REQUIRED[..], &WANTED[..]].concat().join(", ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `<sys>` whose `fs/cgroup` is a v2 tree offering `controllers`.
    fn v2_sys(controllers: &str) -> tempfile::TempDir {
        let sys = tempfile::tempdir().unwrap();
        let root = sys.path().join("fs/cgroup");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("cgroup.controllers"), controllers).unwrap();
        sys
    }

    fn paths(sys: &Path) -> NodePaths {
        NodePaths {
            sys_root: sys.to_path_buf(),
            systemd_marker: sys.join("no-systemd"),
            ..NodePaths::default()
        }
    }

    #[test]
    fn a_v2_tree_with_every_controller_passes() {
        let sys = v2_sys("cpuset cpu io memory hugetlb pids\n");
        assert_eq!(controllers(sys.path()).status, Status::Ok);
        let check = version(&paths(sys.path()));
        assert_eq!(check.status, Status::Ok, "{check:?}");
        assert!(check.detail.contains("v2"), "{check:?}");
    }

    #[test]
    fn missing_controllers_fail_or_warn_naming_them() {
        let sys = v2_sys("cpu io\n");
        let check = controllers(sys.path());
        assert_eq!(check.status, Status::Fail);
        assert!(check.detail.contains("memory, pids"), "{check:?}");
        assert!(check.fix.contains("cgroup_enable=memory,pids"), "{check:?}");
        let sys = v2_sys("cpu memory pids\n");
        let check = controllers(sys.path());
        assert_eq!(check.status, Status::Warn);
        assert!(check.detail.contains("cpuset, hugetlb"), "{check:?}");
    }

    #[test]
    fn a_v1_tree_warns_and_its_controllers_are_its_directories() {
        let sys = tempfile::tempdir().unwrap();
        for dir in ["cpu,cpuacct", "memory", "pids", "cpuset", "hugetlb"] {
            std::fs::create_dir_all(sys.path().join("fs/cgroup").join(dir)).unwrap();
        }
        assert_eq!(controllers(sys.path()).status, Status::Ok);
        let check = version(&paths(sys.path()));
        assert_eq!(check.status, Status::Warn, "{check:?}");
        assert!(check.fix.contains("unified_cgroup_hierarchy"), "{check:?}");
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(controllers(empty.path()).status, Status::Fail);
    }

    #[test]
    fn the_systemd_driver_without_systemd_fails() {
        let sys = v2_sys("cpu memory pids\n");
        let mut paths = paths(sys.path());
        paths.systemd_driver = true;
        let check = version(&paths);
        assert_eq!(check.status, Status::Fail);
        assert!(check.fix.contains("cgroupfs"), "{check:?}");
        std::fs::create_dir(&paths.systemd_marker).unwrap();
        assert_ne!(version(&paths).status, Status::Fail);
    }

    #[test]
    fn this_hosts_controllers_are_found() {
        let check = controllers(Path::new("/sys"));
        eprintln!("{check:?}");
        let host = CgroupHost::detect();
        let check = version(&NodePaths::default());
        assert_eq!(
            check.status == Status::Ok,
            host.version == CgroupVersion::V2
        );
    }
}
