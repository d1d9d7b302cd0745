//! Device nodes of a container, read from the node: the CRI `devices`
//! (`host_path` → `container_path` with cgroup `permissions`), or every
//! device of the host's `/dev` for a privileged container, as containerd
//! does. The spec builder turns them into `linux.devices` and device cgroup
//! rules.

use cradle_proto::cri;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceBuilder, LinuxDeviceType};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// A device node to create in the container, and its cgroup access.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// The node as the spec's `linux.devices` entry.
    pub node: LinuxDevice,
    /// `r`, `w`, `m` in any combination.
    pub access: String,
}

/// Why a device could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The host path could not be stat'ed.
    #[error("device {path}: {source}")]
    Stat {
        /// The device's host path.
        path: String,
        /// The stat error.
        source: std::io::Error,
    },
    /// The host path (named here) is neither a character nor a block device.
    #[error("device {0} is not a character or block device")]
    NotADevice(String),
    /// The CRI permissions hold letters other than r, w and m.
    #[error("device {path}: permissions {permissions:?} must be made of r, w and m")]
    Permissions {
        /// The device's host path.
        path: String,
        /// The permissions as the request gave them.
        permissions: String,
    },
    /// The node does not make a valid spec entry.
    #[error("device {path}: {message}")]
    Spec {
        /// The device's path in the container.
        path: String,
        /// The spec builder's error.
        message: String,
    },
}

/// The devices of `config`, or all host devices when `privileged`.
pub fn resolve(
    config: &cri::ContainerConfig,
    privileged: bool,
) -> Result<Vec<Device>, DeviceError> {
    let mut out = Vec::new();
    if privileged {
        host_devices(Path::new("/dev"), &mut out);
    }
    for d in &config.devices {
        let permissions = if d.permissions.is_empty() {
            "rwm"
        } else {
            d.permissions.as_str()
        };
        if !permissions.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(DeviceError::Permissions {
                path: d.host_path.clone(),
                permissions: permissions.to_string(),
            });
        }
        let meta = std::fs::metadata(&d.host_path).map_err(|source| DeviceError::Stat {
            path: d.host_path.clone(),
            source,
        })?;
        let dest = if d.container_path.is_empty() {
            &d.host_path
        } else {
            &d.container_path
        };
        let node =
            node(dest, &meta).ok_or_else(|| DeviceError::NotADevice(d.host_path.clone()))??;
        out.retain(|existing: &Device| existing.node.path() != node.path());
        out.push(Device {
            node,
            access: permissions.to_string(),
        });
    }
    Ok(out)
}

/// Nodes every OCI runtime creates on its own (the spec's default devices,
/// plus the console and ptmx it sets up); listing them again makes
/// cradle-oci fail with EEXIST.
const RUNTIME_DEFAULTS: [&str; 8] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/console",
    "/dev/ptmx",
];

/// Every char and block device under `dir`, skipping what the container
/// gets on its own (`/dev/pts`, `/dev/shm`, `/dev/mqueue`, the runtime's
/// default nodes).
fn host_devices(dir: &Path, out: &mut Vec<Device>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            let name = entry.file_name();
            if !matches!(
                name.to_str(),
                Some("pts" | "shm" | "mqueue" | "fd" | ".lxc" | ".lxd-mounts" | ".udev")
            ) {
                host_devices(&path, out);
            }
            continue;
        }
        if RUNTIME_DEFAULTS.iter().any(|d| path == Path::new(d)) {
            continue;
        }
        if let Some(Ok(node)) = node(&path.to_string_lossy(), &meta) {
            out.push(Device {
                node,
                access: "rwm".to_string(),
            });
        }
    }
}

/// The OCI device for a node at `dest` with the host node's `meta`;
/// `None` when it is no device.
fn node(dest: &str, meta: &std::fs::Metadata) -> Option<Result<LinuxDevice, DeviceError>> {
    let ft = meta.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return None;
    };
    let rdev = meta.rdev();
    Some(
        LinuxDeviceBuilder::default()
            .path(dest)
            .typ(typ)
            .major(i64::from(nix::sys::stat::major(rdev) as u32))
            .minor(i64::from(nix::sys::stat::minor(rdev) as u32))
            .file_mode(meta.mode() & 0o7777)
            .uid(meta.uid())
            .gid(meta.gid())
            .build()
            .map_err(|e| DeviceError::Spec {
                path: dest.to_string(),
                message: e.to_string(),
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(host: &str, dest: &str, permissions: &str) -> cri::ContainerConfig {
        cri::ContainerConfig {
            devices: vec![cri::Device {
                container_path: dest.into(),
                host_path: host.into(),
                permissions: permissions.into(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_cri_device_keeps_its_numbers_and_permissions() {
        let devs = resolve(&device("/dev/null", "/dev/mynull", "rw"), false).unwrap();
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].node.path(), Path::new("/dev/mynull"));
        assert_eq!((devs[0].node.major(), devs[0].node.minor()), (1, 3));
        assert_eq!(devs[0].access, "rw");
    }

    #[test]
    fn non_devices_and_bad_permissions_are_refused() {
        assert!(matches!(
            resolve(&device("/etc/hostname", "/dev/x", ""), false),
            Err(DeviceError::NotADevice(_))
        ));
        assert!(matches!(
            resolve(&device("/dev/null", "/dev/x", "rwx"), false),
            Err(DeviceError::Permissions { .. })
        ));
    }

    #[test]
    fn privileged_gets_the_host_devices_without_pts_and_console() {
        let devs = resolve(&cri::ContainerConfig::default(), true).unwrap();
        assert!(devs.iter().any(|d| d.node.path() == Path::new("/dev/vda")
            || d.node.path().starts_with("/dev/loop")
            || d.node.path() == Path::new("/dev/mem")
            || d.node.path() == Path::new("/dev/kmsg")));
        assert!(!devs.iter().any(|d| d.node.path() == Path::new("/dev/null")));
        assert!(!devs.iter().any(|d| d.node.path().starts_with("/dev/pts")));
        assert!(
            !devs
                .iter()
                .any(|d| d.node.path() == Path::new("/dev/console"))
        );
    }
}
