//! The kernel's new mount API (Linux 5.12+), which mount(2) cannot
//! replace: `mount_setattr` for recursive attributes (`rro`, `rnosuid`…)
//! and id-mapped mounts, `open_tree(OPEN_TREE_CLONE)` for a detached copy
//! of a host tree, and `move_mount` to attach it in the container.
//!
//! libc has the syscall numbers but not the constants or the struct, so
//! they are spelled out here from `include/uapi/linux/mount.h`.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::NixPath;
use nix::errno::Errno;

/// `MOUNT_ATTR_RDONLY`.
pub(crate) const ATTR_RDONLY: u64 = 0x0000_0001;
/// `MOUNT_ATTR_NOSUID`.
pub(crate) const ATTR_NOSUID: u64 = 0x0000_0002;
/// `MOUNT_ATTR_NODEV`.
pub(crate) const ATTR_NODEV: u64 = 0x0000_0004;
/// `MOUNT_ATTR_NOEXEC`.
pub(crate) const ATTR_NOEXEC: u64 = 0x0000_0008;
/// `MOUNT_ATTR__ATIME`: the mask of the three atime modes below.
pub(crate) const ATTR_ATIME_MASK: u64 = 0x0000_0070;
/// `MOUNT_ATTR_RELATIME` (the atime mode whose value is zero).
pub(crate) const ATTR_RELATIME: u64 = 0x0000_0000;
/// `MOUNT_ATTR_NOATIME`.
pub(crate) const ATTR_NOATIME: u64 = 0x0000_0010;
/// `MOUNT_ATTR_STRICTATIME`.
pub(crate) const ATTR_STRICTATIME: u64 = 0x0000_0020;
/// `MOUNT_ATTR_NODIRATIME`.
pub(crate) const ATTR_NODIRATIME: u64 = 0x0000_0080;
/// `MOUNT_ATTR_IDMAP`.
pub(crate) const ATTR_IDMAP: u64 = 0x0010_0000;
/// `MOUNT_ATTR_NOSYMFOLLOW`.
pub(crate) const ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// `struct mount_attr` (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Attributes to set and to clear on a mount (and, with `recursive`, on
/// every mount below it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attrs {
    /// `attr_set`.
    pub set: u64,
    /// `attr_clr`.
    pub clr: u64,
}

impl Attrs {
    /// True when nothing is to change.
    pub(crate) fn is_empty(&self) -> bool {
        self.set == 0 && self.clr == 0
    }
}

/// mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attrs), with an
/// optional user namespace for `MOUNT_ATTR_IDMAP`.
pub(crate) fn setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    attrs: Attrs,
    userns: Option<BorrowedFd<'_>>,
) -> nix::Result<()> {
    let attr = MountAttr {
        attr_set: attrs.set,
        attr_clr: attrs.clr,
        propagation: 0,
        userns_fd: userns.map_or(0, |u| u.as_raw_fd() as u64),
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: the path is a NUL-terminated empty string, `attr` is a
    // valid mount_attr that outlives the call and its size is passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(rc).map(drop)
}

/// A detached copy of the mount at `source` (and, with `recursive`, the
/// mounts below it): `open_tree(OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)`.
pub(crate) fn clone_tree(source: &Path, recursive: bool) -> nix::Result<OwnedFd> {
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let fd = source.with_nix_path(|p| {
        // SAFETY: `p` is a NUL-terminated path valid for the call.
        unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, p.as_ptr(), flags) }
    })?;
    let fd = Errno::result(fd)?;
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Attaches the detached tree `tree` onto the inode `target` names:
/// `move_mount(tree, "", target, "", F_EMPTY_PATH | T_EMPTY_PATH)`.
pub(crate) fn move_tree(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: both paths are NUL-terminated empty strings; the
    // descriptors are borrowed for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(rc).map(drop)
}

/// True when the kernel has mount_setattr (Linux 5.12): a call with a bad
/// descriptor fails with EBADF (or EINVAL) there, ENOSYS elsewhere.
pub(crate) fn supported() -> bool {
    // SAFETY: all-invalid arguments; the kernel only validates them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            std::ptr::null::<libc::c_char>(),
            0,
            std::ptr::null::<MountAttr>(),
            0usize,
        )
    };
    rc == 0 || Errno::last() != Errno::ENOSYS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernel_has_the_new_mount_api() {
        // The test machines run Linux >= 5.12; a failure here means the
        // probe misreads the kernel's answer.
        assert!(supported());
    }

    #[test]
    fn struct_has_the_kernel_size() {
        assert_eq!(std::mem::size_of::<MountAttr>(), 32);
    }
}
