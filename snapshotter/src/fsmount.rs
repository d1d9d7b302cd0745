//! Overlay mounts through the new mount API (`fsopen`, `fsconfig`,
//! `fsmount`, `move_mount`), for images with more layers than fit in the
//! one page of options `mount(2)` takes.
//!
//! Each lower dir is passed as its own `lowerdir+` parameter (Linux 6.8+),
//! so the number of layers is limited only by overlayfs's stack depth, not
//! by the length of the option string. On kernels without it the caller
//! gets [`Unsupported`] and falls back or explains. Every descriptor is an
//! `OwnedFd`: a failure at any step closes them, and a superblock or a
//! detached mount that was never attached disappears with its descriptor.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::libc;

// Kernel ABI constants (include/uapi/linux/mount.h).
const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// Why an fsconfig mount failed.
#[derive(Debug)]
pub enum FsMountError {
    /// The kernel lacks the new mount API or overlay's `lowerdir+`.
    Unsupported(Errno),
    /// A step failed: which one, and the errno.
    Failed(&'static str, Errno),
}

/// Shorthand for the caller's match.
pub use FsMountError::Unsupported;

/// Mounts `overlay(lowers (top first), upper, work)` at `target`; without
/// `upper_work`, a read-only overlay of the lower dirs.
pub fn mount_overlay(
    lowers: &[PathBuf],
    upper_work: Option<(&Path, &Path)>,
    volatile: bool,
    target: &Path,
) -> Result<(), FsMountError> {
    let fstype = cstr(b"overlay")?;
    // SAFETY: fsopen takes a NUL-terminated string and flags; the returned
    // descriptor (if any) is owned by us alone.
    let fs_fd = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    if fs_fd < 0 {
        let e = Errno::last();
        return Err(match e {
            Errno::ENOSYS | Errno::ENODEV => Unsupported(e),
            e => FsMountError::Failed("fsopen", e),
        });
    }
    // SAFETY: fs_fd is a fresh descriptor nothing else owns.
    let fs_fd = unsafe { OwnedFd::from_raw_fd(fs_fd as i32) };
    for (i, lower) in lowers.iter().enumerate() {
        match set_string(&fs_fd, "lowerdir+", lower) {
            // The first `lowerdir+` tells whether the kernel knows it.
            Err(Errno::EINVAL) if i == 0 => return Err(Unsupported(Errno::EINVAL)),
            Err(e) => return Err(FsMountError::Failed("fsconfig lowerdir+", e)),
            Ok(()) => {}
        }
    }
    match upper_work {
        Some((upper, work)) => {
            set_string(&fs_fd, "upperdir", upper)
                .map_err(|e| FsMountError::Failed("fsconfig upperdir", e))?;
            set_string(&fs_fd, "workdir", work)
                .map_err(|e| FsMountError::Failed("fsconfig workdir", e))?;
            if volatile {
                set_flag(&fs_fd, "volatile")
                    .map_err(|e| FsMountError::Failed("fsconfig volatile", e))?;
            }
        }
        None => set_flag(&fs_fd, "ro").map_err(|e| FsMountError::Failed("fsconfig ro", e))?,
    }
    // SAFETY: a valid fs context descriptor, no key or value for CMD_CREATE.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs_fd.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if r < 0 {
        return Err(FsMountError::Failed("fsconfig create", Errno::last()));
    }
    // SAFETY: a created fs context; returns a new detached-mount descriptor.
    let mnt_fd = unsafe { libc::syscall(libc::SYS_fsmount, fs_fd.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    if mnt_fd < 0 {
        return Err(FsMountError::Failed("fsmount", Errno::last()));
    }
    // SAFETY: mnt_fd is a fresh descriptor nothing else owns.
    let mnt_fd = unsafe { OwnedFd::from_raw_fd(mnt_fd as i32) };
    let empty = cstr(b"")?;
    let to = cstr(target.as_os_str().as_bytes())?;
    // SAFETY: both paths are NUL-terminated; the from-fd is a detached mount.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt_fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(FsMountError::Failed("move_mount", Errno::last()));
    }
    Ok(())
}

/// `fsconfig(fd, FSCONFIG_SET_STRING, key, value, 0)`.
fn set_string(fs_fd: &OwnedFd, key: &str, value: &Path) -> Result<(), Errno> {
    let key = CString::new(key).map_err(|_| Errno::EINVAL)?;
    let value = CString::new(value.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a valid fs context descriptor and two NUL-terminated strings
    // that outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs_fd.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `fsconfig(fd, FSCONFIG_SET_FLAG, key, NULL, 0)`.
fn set_flag(fs_fd: &OwnedFd, key: &str) -> Result<(), Errno> {
    let key = CString::new(key).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a valid fs context descriptor and a NUL-terminated key that
    // outlives the call; SET_FLAG takes no value.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs_fd.as_raw_fd(),
            FSCONFIG_SET_FLAG,
            key.as_ptr(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

fn cstr(bytes: &[u8]) -> Result<CString, FsMountError> {
    CString::new(bytes).map_err(|_| FsMountError::Failed("path with a NUL byte", Errno::EINVAL))
}
