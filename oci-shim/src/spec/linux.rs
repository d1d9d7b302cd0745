//! `linux`: namespaces, id mappings, kernel settings.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::devices::LinuxDevice;
use super::resources::LinuxResources;
use super::seccomp::LinuxSeccomp;

/// The `linux` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    /// The new user namespace's uid_map (and the default of id-mapped mounts).
    pub uid_mappings: Option<Vec<LinuxIdMapping>>,
    /// Its gid_map.
    pub gid_mappings: Option<Vec<LinuxIdMapping>>,
    /// Written under `/proc/sys` inside the container.
    pub sysctl: Option<HashMap<String, String>>,
    /// Cgroup limits and device rules.
    pub resources: Option<LinuxResources>,
    /// The cgroup, relative to the hierarchy's root.
    pub cgroups_path: Option<PathBuf>,
    /// Namespaces to create (no `path`) or join.
    pub namespaces: Option<Vec<LinuxNamespace>>,
    /// Device nodes to make in the container's `/dev`.
    pub devices: Option<Vec<LinuxDevice>>,
    /// The seccomp profile.
    pub seccomp: Option<LinuxSeccomp>,
    /// The propagation of the container's root mount.
    pub rootfs_propagation: Option<String>,
    /// Paths hidden from the container.
    pub masked_paths: Option<Vec<String>>,
    /// Paths remounted read-only.
    pub readonly_paths: Option<Vec<String>>,
    /// A new time namespace's clock offsets, by clock name.
    pub time_offsets: Option<HashMap<String, LinuxTimeOffset>>,
    /// The SELinux label of the container's mounts (refused where SELinux is off).
    pub mount_label: Option<String>,
}

/// One line of a uid or gid map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct LinuxIdMapping {
    /// First id inside the namespace.
    #[serde(default, rename = "containerID")]
    pub container_id: u32,
    /// First id outside.
    #[serde(default, rename = "hostID")]
    pub host_id: u32,
    /// How many ids.
    #[serde(default)]
    pub size: u32,
}

/// One entry of `linux.namespaces`.
#[derive(Debug, Clone, Deserialize)]
pub struct LinuxNamespace {
    /// Which kind (required).
    #[serde(rename = "type")]
    pub typ: LinuxNamespaceType,
    /// Join this namespace instead of creating one.
    pub path: Option<PathBuf>,
}

/// A namespace `type`, as the spec spells it (`mount`, `network`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinuxNamespaceType {
    /// The mount namespace.
    Mount,
    /// The cgroup namespace.
    Cgroup,
    /// The UTS namespace.
    Uts,
    /// The IPC namespace.
    Ipc,
    /// The user namespace.
    User,
    /// The pid namespace.
    Pid,
    /// The network namespace.
    Network,
    /// The time namespace.
    Time,
}

/// The kernel's short names (`mnt`, `net`…), as in `/proc/<pid>/ns`.
impl fmt::Display for LinuxNamespaceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mount => "mnt",
            Self::Cgroup => "cgroup",
            Self::Uts => "uts",
            Self::Ipc => "ipc",
            Self::User => "user",
            Self::Pid => "pid",
            Self::Network => "net",
            Self::Time => "time",
        })
    }
}

/// One clock's offset in a new time namespace.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct LinuxTimeOffset {
    /// Whole seconds.
    pub secs: Option<i64>,
    /// Nanoseconds added to them.
    pub nanosecs: Option<u32>,
}
