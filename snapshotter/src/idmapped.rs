//! Id-mapped lower layers, for the rootfs of a container in a user
//! namespace of its own (a Kubernetes pod with `hostUsers: false`).
//!
//! overlayfs itself cannot be id-mapped (mount_setattr refuses it with
//! EINVAL), but since Linux 5.19 its layers may be id-mapped mounts. Each
//! lower dir becomes a detached copy (`open_tree(OPEN_TREE_CLONE)`) whose
//! ids are mapped through the pod's user namespace
//! (`mount_setattr(MOUNT_ATTR_IDMAP)`), named to overlay by its
//! `/proc/self/fd/<n>` link; overlay keeps its own reference, so the
//! descriptors close right after the mount and nothing is left attached.
//! The image files stay as they are on disk: no chown. The upper and work
//! dirs, new and empty, belong to the namespace's root (see
//! [`crate::rootfs`]), so what the container writes is owned on the host
//! by its mapped ids.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::libc;

use crate::error::Error;

// Kernel ABI (include/uapi/linux/mount.h).
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `struct mount_attr`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A container's user namespace, for its rootfs's id-mapped layers.
#[derive(Debug, Clone, Copy)]
pub struct IdMapping<'a> {
    /// The user namespace whose mappings apply, e.g. `/proc/<pid>/ns/user`
    /// of the pod's pause process.
    pub userns: &'a Path,
    /// The host uid of the namespace's root: the upper dir's owner.
    pub root_uid: u32,
    /// The host gid of the namespace's root.
    pub root_gid: u32,
}

/// The lower dirs as id-mapped detached mounts, and the short paths that
/// name them while the returned descriptors are open.
pub(crate) fn lowers(
    lowers: &[PathBuf],
    mapping: &IdMapping<'_>,
) -> Result<(Vec<OwnedFd>, Vec<PathBuf>), Error> {
    let userns = std::fs::File::open(mapping.userns).map_err(|e| Error::io(mapping.userns, e))?;
    let mut trees = Vec::with_capacity(lowers.len());
    for lower in lowers {
        trees.push(idmapped_tree(lower, userns.as_fd())?);
    }
    let names = trees
        .iter()
        .map(|fd| PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())))
        .collect();
    Ok((trees, names))
}

/// A detached copy of `dir` (`open_tree(OPEN_TREE_CLONE)`), its ids mapped
/// through the user namespace `userns` (`mount_setattr(MOUNT_ATTR_IDMAP)`).
/// Nothing is attached: the tree lives while the returned descriptor is
/// open. Also the daemon's probe of whether the kernel can do this at all.
pub fn idmapped_tree(dir: &Path, userns: BorrowedFd<'_>) -> Result<OwnedFd, Error> {
    let failed = |source| Error::Mount {
        action: "id-map",
        target: dir.to_path_buf(),
        source,
    };
    let path =
        std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(|_| failed(Errno::EINVAL))?;
    // SAFETY: open_tree takes a NUL-terminated path and flags; the returned
    // descriptor (if any) is ours alone.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(failed(Errno::last()));
    }
    // SAFETY: fd is a fresh descriptor nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: a detached mount descriptor, an empty path with
    // AT_EMPTY_PATH, and a mount_attr that outlives the call with its size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(failed(Errno::last()));
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_user_namespace_is_an_error_naming_it() {
        let mapping = IdMapping {
            userns: Path::new("/nonexistent/ns/user"),
            root_uid: 1000,
            root_gid: 1000,
        };
        let err = lowers(&[PathBuf::from("/")], &mapping).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ns/user"), "{err}");
    }
}
