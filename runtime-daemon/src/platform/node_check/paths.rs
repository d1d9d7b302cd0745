//! Where the checks look: the host's pseudo-filesystems and the daemon's
//! configured paths.

use std::path::PathBuf;

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
