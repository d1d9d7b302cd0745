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
pub mod socket;
pub mod userns;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing to do.
    Ok,
    /// Cradle runs, but something is missing or degraded.
    Warn,
    /// Cradle (or pods on it) will fail: fix it.
    Fail,
}

impl Status {
    /// `ok`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// What was checked, e.g. `overlayfs`.
    pub name: String,
    /// How it came out.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about it; empty when nothing.
    pub fix: String,
}

impl Check {
    /// A passed check.
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Ok, detail, "")
    }

    /// A check with `status`, what was found and what to do.
    pub fn new(
        name: &str,
        status: Status,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.to_string(),
            status,
            detail: detail.into(),
            fix: fix.into(),
        }
    }
}

/// Where the checks look: the host's pseudo-filesystems and the daemon's
/// configured paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePaths {
    /// procfs (`/proc`).
    pub proc_root: PathBuf,
    /// sysfs (`/sys`); the cgroups are under `fs/cgroup`.
    pub sys_root: PathBuf,
    /// systemd's marker directory (`/run/systemd/system`).
    pub systemd_marker: PathBuf,
    /// The daemon's root (images, snapshots, the store).
    pub root: PathBuf,
    /// The CRI socket.
    pub socket: PathBuf,
    /// The CNI configuration directory.
    pub cni_conf_dir: PathBuf,
    /// The CNI plugin directories.
    pub cni_bin_dirs: Vec<PathBuf>,
    /// The daemon runs the systemd cgroup driver.
    pub systemd_driver: bool,
    /// Run the id-mapped overlay probe (mounts under the root; needs root).
    pub probe_idmap: bool,
}

impl Default for NodePaths {
    /// The host's paths and cradled's defaults.
    fn default() -> Self {
        NodePaths {
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            systemd_marker: PathBuf::from("/run/systemd/system"),
            root: PathBuf::from("/var/lib/cradle"),
            socket: PathBuf::from("/run/cradle/cradle.sock"),
            cni_conf_dir: PathBuf::from("/etc/cni/net.d"),
            cni_bin_dirs: vec![PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")],
            systemd_driver: false,
            probe_idmap: true,
        }
    }
}

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
