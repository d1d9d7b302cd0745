//! The container's mounts: containerd's defaults plus the CRI's bind mounts.

use std::path::{Component, Path};

use cradle_proto::cri;
use oci_spec::runtime::{Mount, MountBuilder};

use crate::core::error::SpecError;

/// One default mount: destination, type, source, options.
type DefaultMount = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// containerd's default mounts for a CRI container (no `/run`), plus the
/// read-only cgroup filesystem and a 64 MiB `/dev/shm`.
const DEFAULT_MOUNTS: [DefaultMount; 7] = [
    ("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
    (
        "/dev",
        "tmpfs",
        "tmpfs",
        &["nosuid", "strictatime", "mode=755", "size=65536k"],
    ),
    (
        "/dev/pts",
        "devpts",
        "devpts",
        &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ],
    ),
    (
        "/dev/mqueue",
        "mqueue",
        "mqueue",
        &["nosuid", "noexec", "nodev"],
    ),
    (
        "/sys",
        "sysfs",
        "sysfs",
        &["nosuid", "noexec", "nodev", "ro"],
    ),
    (
        "/sys/fs/cgroup",
        "cgroup",
        "cgroup",
        &["nosuid", "noexec", "nodev", "relatime", "ro"],
    ),
    (
        "/dev/shm",
        "tmpfs",
        "shm",
        &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    ),
];

/// The mounts and the rootfs propagation the CRI mounts need (`rshared` for a
/// bidirectional mount, `rslave` for host-to-container, else none).
/// A privileged container gets `/sys` and its cgroup mount read-write.
/// `rro_supported`: the runtime handler and kernel can make recursive
/// read-only mounts.
pub(super) fn build_mounts(
    cri_mounts: &[cri::Mount],
    privileged: bool,
    rro_supported: bool,
) -> Result<(Vec<Mount>, Option<String>), SpecError> {
    let mut extra = Vec::with_capacity(cri_mounts.len());
    let mut propagation: Option<&str> = None;
    for m in cri_mounts {
        let (mount, needs) = bind_mount(m, rro_supported)?;
        match (needs, propagation) {
            (Some("rshared"), _) => propagation = Some("rshared"),
            (Some("rslave"), None) => propagation = Some("rslave"),
            _ => {}
        }
        extra.push(mount);
    }
    // Parents before children, as containerd does, so that a mount under
    // another one is not hidden by it.
    extra.sort_by_key(|m| depth(m.destination()));

    let mut mounts = Vec::with_capacity(DEFAULT_MOUNTS.len() + extra.len());
    for (dest, typ, source, options) in DEFAULT_MOUNTS {
        // A CRI mount on the same destination replaces the default one.
        if extra.iter().any(|m| m.destination() == Path::new(dest)) {
            continue;
        }
        let writable = privileged && dest.starts_with("/sys");
        mounts.push(
            MountBuilder::default()
                .destination(dest)
                .typ(typ)
                .source(source)
                .options(
                    options
                        .iter()
                        .filter(|o| !(writable && **o == "ro"))
                        .map(|o| o.to_string())
                        .collect::<Vec<_>>(),
                )
                .build()
                .map_err(|e| SpecError::oci(format!("default mount {dest}"), e))?,
        );
    }
    mounts.extend(extra);
    Ok((mounts, propagation.map(str::to_string)))
}

/// One CRI mount as an `rbind` mount, and the rootfs propagation it needs.
fn bind_mount(
    m: &cri::Mount,
    rro_supported: bool,
) -> Result<(Mount, Option<&'static str>), SpecError> {
    let dest = &m.container_path;
    if dest.is_empty() || !Path::new(dest).is_absolute() {
        return Err(SpecError::build(format!(
            "mount container_path {dest:?} must be an absolute path"
        )));
    }
    if m.host_path.is_empty() && m.image.is_none() {
        return Err(SpecError::build(format!(
            "mount {dest}: host_path is empty"
        )));
    }
    if m.image.is_some() {
        // The daemon mounts image volumes and hands them in as host paths.
        return Err(SpecError::build(format!(
            "mount {dest}: image volume was not mounted by the daemon"
        )));
    }
    if m.uid_mappings.is_empty() != m.gid_mappings.is_empty() {
        return Err(SpecError::build(format!(
            "mount {dest}: an id-mapped mount needs both uidMappings and gidMappings"
        )));
    }
    if m.recursive_read_only {
        check_recursive_read_only(m, rro_supported)?;
    }
    let (prop, needs) = match cri::MountPropagation::try_from(m.propagation) {
        Ok(cri::MountPropagation::PropagationPrivate) => ("rprivate", None),
        Ok(cri::MountPropagation::PropagationHostToContainer) => ("rslave", Some("rslave")),
        Ok(cri::MountPropagation::PropagationBidirectional) => ("rshared", Some("rshared")),
        Err(_) => {
            return Err(SpecError::build(format!(
                "mount {dest}: unknown propagation {}",
                m.propagation
            )));
        }
    };
    let mut options = vec![
        "rbind".to_string(),
        prop.to_string(),
        if m.readonly { "ro" } else { "rw" }.to_string(),
    ];
    if m.recursive_read_only {
        // Read-only all the way down: the submounts too (mount_setattr).
        options.push("rro".to_string());
    }
    let mut mount = MountBuilder::default()
        .destination(dest.as_str())
        .typ("bind")
        .source(m.host_path.as_str())
        .options(options)
        .build()
        .map_err(|e| SpecError::oci(format!("mount {dest}"), e))?;
    if !m.uid_mappings.is_empty() {
        // runtime-spec 1.2: an id-mapped bind mount.
        mount.set_uid_mappings(Some(super::userns::oci_mappings(&m.uid_mappings)?));
        mount.set_gid_mappings(Some(super::userns::oci_mappings(&m.gid_mappings)?));
    }
    Ok((mount, needs))
}

/// containerd's rules for `recursive_read_only`: the mount must be
/// read-only with private propagation (a read-only tree cannot take new
/// mounts from the host), and the runtime and kernel must support it.
fn check_recursive_read_only(m: &cri::Mount, rro_supported: bool) -> Result<(), SpecError> {
    let dest = &m.container_path;
    if !m.readonly {
        return Err(SpecError::build(format!(
            "mount {dest}: recursive_read_only needs readonly to be set too"
        )));
    }
    if m.propagation != cri::MountPropagation::PropagationPrivate as i32 {
        return Err(SpecError::build(format!(
            "mount {dest}: recursive_read_only needs private propagation"
        )));
    }
    if !rro_supported {
        return Err(SpecError::build(format!(
            "mount {dest}: recursive_read_only is not supported by this runtime handler or kernel \
             (see Status runtime_handlers features)"
        )));
    }
    Ok(())
}

fn depth(path: &Path) -> usize {
    path.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}
