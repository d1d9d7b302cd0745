//! The rootfs before the spec's mounts: the propagation of the container's
//! mount tree and the bind of the rootfs onto itself, so it is a mount
//! point pivot_root accepts (or, without a mount namespace of the
//! container's, a private mount that `delete` can detach whole).

use std::path::Path;

use nix::mount::MsFlags;

use crate::oci::error::{OciError, Result};
use crate::oci::rootfs::mountinfo::longest_mount_prefix;
use crate::oci::rootfs::mounts::propagation_flag;
use crate::oci::syscall::Syscall;

fn fail(what: &str, path: &Path, e: nix::Error) -> OciError {
    OciError::sys(format!("{what} {}", path.display()), e)
}

/// Sets the propagation of the whole tree to the spec's `rootfsPropagation`
/// (recursive slave by default, as runc: host mounts still reach the
/// container, nothing flows back), then bind-mounts the rootfs onto itself
/// so it is a mount point pivot_root accepts.
///
/// The configured value replaces the slave default rather than following
/// it: a `rshared` root must keep the host's peer groups, or bidirectional
/// volumes would only propagate inside the container.
pub(crate) fn prepare(sys: &impl Syscall, rootfs: &Path, propagation: Option<&str>) -> Result<()> {
    let prop = match propagation {
        Some(p) => propagation_flag(p)
            .ok_or_else(|| OciError::Unsupported(format!("rootfsPropagation {p:?}")))?,
        None => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    let root = Path::new("/");
    sys.mount(None, root, None, prop | MsFlags::MS_REC, None)
        .map_err(|e| fail("set propagation of", root, e))?;
    // Before the bind, so the new root mount is private too.
    parent_mount_private(sys, rootfs)?;
    sys.mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(|e| fail("bind rootfs", rootfs, e))
}

/// Without a mount namespace of the container's: a private recursive bind
/// of the rootfs onto itself, so the container's mounts stack on a mount
/// of their own that propagates nothing to the host's peers and that
/// `delete` detaches whole. The propagation of `/` is the host's: untouched.
pub(crate) fn prepare_inherited(sys: &impl Syscall, rootfs: &Path) -> Result<()> {
    sys.mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(|e| fail("bind rootfs", rootfs, e))?;
    sys.mount(
        None,
        rootfs,
        None,
        MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        None,
    )
    .map_err(|e| fail("make private", rootfs, e))
}

/// pivot_root refuses a new root whose parent mount is shared (as with a
/// `rshared` rootfs propagation); like runc, make just that mount private.
/// The rootfs is often a mount point itself (the runtime's overlay): then
/// it is the parent of the self-bind made next, so it is the one to change.
fn parent_mount_private(sys: &impl Syscall, rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| OciError::io("read", "/proc/self/mountinfo", e))?;
    let Some(mount_point) = longest_mount_prefix(&info, rootfs) else {
        return Ok(());
    };
    let mount_point = Path::new(&mount_point);
    sys.mount(None, mount_point, None, MsFlags::MS_PRIVATE, None)
        .map_err(|e| fail("make private", mount_point, e))
}
