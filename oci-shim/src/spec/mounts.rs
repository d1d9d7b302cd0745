//! `root` and `mounts`.

use std::path::PathBuf;

use serde::Deserialize;

use super::linux::LinuxIdMapping;

/// `root`: the rootfs path (relative to the bundle unless absolute).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Root {
    /// The rootfs directory.
    #[serde(default)]
    pub path: PathBuf,
    /// Remount the rootfs read-only after set-up.
    pub readonly: Option<bool>,
}

/// One entry of `mounts`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Mount {
    /// Where, inside the container (required).
    pub destination: PathBuf,
    /// The filesystem type (`bind` for a bind mount).
    #[serde(rename = "type")]
    pub typ: Option<String>,
    /// A device, a host path for binds, or a name for pseudo filesystems.
    pub source: Option<PathBuf>,
    /// fstab-style options, mount flags and data alike.
    pub options: Option<Vec<String>>,
    /// An id-mapped bind mount's own user mapping.
    #[serde(rename = "uidMappings")]
    pub uid_mappings: Option<Vec<LinuxIdMapping>>,
    /// An id-mapped bind mount's own group mapping.
    #[serde(rename = "gidMappings")]
    pub gid_mappings: Option<Vec<LinuxIdMapping>>,
}
