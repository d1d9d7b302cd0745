//! `cradlectl check`: what this node gives Cradle, one [`Check`] per area,
//! each with what to do about a problem. The probes read the host through
//! the paths of [`NodePaths`] (a fake `/proc` or `/sys` in tests) and reuse
//! the daemon's own detection where it exists: the cgroup hierarchy
//! ([`super::cgroup_host`], `cradle_cgroupfs`), the id-mapped overlay probe
//! ([`super::idmap_probe`]), AppArmor ([`super::apparmor`]) and the CNI
//! configuration loader (`cradle_cni::config`).
//!
//! One file per area: [`kernel`] (version, overlayfs, seccomp),
//! [`userns`] (user namespaces, id-mapped mounts), [`cgroups`], [`lsm`]
//! (AppArmor, SELinux), [`cni`], [`socket`] (the CRI socket) and [`disk`]
//! (the root's free space). Nothing here fails: a probe that cannot look
//! says so in its check.

pub mod cgroups;
pub mod cni;
pub mod disk;
pub mod kernel;
pub mod lsm;
pub mod paths;
pub mod report;
pub mod socket;
pub mod userns;

pub use paths::NodePaths;
pub use report::{Check, Status};

/// Every check, in a fixed order. Blocking (reads files, may run the
/// id-mapped mount probe).
pub fn run(paths: &NodePaths) -> Vec<Check> {
    vec![
        kernel::version(&paths.proc_root),
        kernel::overlayfs(&paths.proc_root),
        kernel::seccomp(&paths.proc_root),
        userns::user_namespaces(&paths.proc_root),
        userns::idmapped_mounts(&paths.root, paths.probe_idmap),
        cgroups::version(paths),
        cgroups::controllers(&paths.sys_root),
        lsm::security_modules(&paths.sys_root),
        cni::config(&paths.cni_conf_dir),
        cni::plugins(&paths.cni_conf_dir, &paths.cni_bin_dirs),
        socket::cri_socket(&paths.socket),
        disk::root_space(&paths.root),
    ]
}

/// The worst status of `checks` (`Ok` when empty).
pub fn worst(checks: &[Check]) -> Status {
    checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_status_decides() {
        let checks = vec![
            Check::ok("a", "fine"),
            Check::new("b", Status::Warn, "meh", "do x"),
        ];
        assert_eq!(worst(&checks), Status::Warn);
        assert_eq!(worst(&[]), Status::Ok);
        let json = serde_json::to_string(&checks[1]).unwrap();
        assert!(json.contains(r#""status":"warn""#), "{json}");
    }
}
