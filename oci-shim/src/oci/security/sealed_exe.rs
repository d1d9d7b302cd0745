//! CVE-2019-5736: the runtime binary must not be writable from inside a
//! container. Being non-dumpable (`crate::oci::security::hardening`) hides it while the
//! runtime's own processes run there, but not from the last execve: a
//! container whose program is a script starting `#!/proc/self/exe` (or
//! that is `/proc/self/exe` itself) makes the kernel run *the runtime's
//! binary* inside the container, dumpable, as the container's user, who
//! can keep a descriptor of it and write through it once it exits.
//!
//! So, as runc does, `create`, `run` and `exec` first re-execute
//! themselves from a sealed view of the binary: whatever the container
//! reaches through `/proc/<pid>/exe` is that view, which no one can
//! modify. The view is the binary opened through a private read-only
//! overlayfs (no copy; costs about one extra execve), or where overlayfs
//! is refused, a sealed memfd copy (write, grow and shrink seals, then the
//! seal seal; a sendfile copy of the whole binary, a few milliseconds).
//! A binary installed on a read-only mount (a `ro` bind mount of the file
//! will do) is already safe and is run as is, without the extra execve.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

use crate::oci::error::{OciError, Result};

const MFD_CLOEXEC: libc::c_uint = 0x0001;
const MFD_ALLOW_SEALING: libc::c_uint = 0x0002;
/// Needed where `vm.memfd_noexec` makes memfds non-executable by default
/// (Linux 6.3+); older kernels refuse the flag with EINVAL.
const MFD_EXEC: libc::c_uint = 0x0010;
/// The seals that make the copy immutable, the seal seal last.
const SEALS: libc::c_int =
    libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;

/// True when `fd` is a memfd carrying all of [`SEALS`].
fn is_sealed(fd: &OwnedFd) -> bool {
    // SAFETY: F_GET_SEALS only reads the seals of a descriptor we own.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & SEALS == SEALS
}

fn memfd() -> Result<OwnedFd> {
    let create = |flags: libc::c_uint| {
        // SAFETY: a NUL-terminated name and plain flags.
        let fd = unsafe { libc::syscall(libc::SYS_memfd_create, c"cradle-oci".as_ptr(), flags) };
        Errno::result(fd).map(|fd| {
            // SAFETY: memfd_create returned a new descriptor nobody owns.
            unsafe { OwnedFd::from_raw_fd(fd as i32) }
        })
    };
    let base = MFD_CLOEXEC | MFD_ALLOW_SEALING;
    match create(base | MFD_EXEC) {
        Err(Errno::EINVAL) => create(base),
        other => other,
    }
    .map_err(|e| OciError::sys("memfd_create for the sealed runtime copy", e))
}

/// Copies all of `from` into `to` inside the kernel (sendfile: the
/// binary's filesystem and the memfd's tmpfs differ, which
/// copy_file_range refuses).
fn copy_all(from: &OwnedFd, to: &OwnedFd) -> Result<()> {
    loop {
        // SAFETY: a null offset means "use and advance the file offset" of
        // `from`; both descriptors are ours.
        let n = unsafe {
            libc::sendfile(
                to.as_raw_fd(),
                from.as_raw_fd(),
                std::ptr::null_mut(),
                1 << 30,
            )
        };
        match Errno::result(n) {
            Ok(0) => return Ok(()),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(OciError::sys("copy the runtime binary into a memfd", e)),
        }
    }
}

/// A sealed memfd copy of `exe`.
fn sealed_copy(exe: &OwnedFd) -> Result<OwnedFd> {
    let copy = memfd()?;
    copy_all(exe, &copy)?;
    // SAFETY: F_ADD_SEALS on a memfd we own, made with MFD_ALLOW_SEALING.
    let rc = unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, SEALS) };
    Errno::result(rc).map_err(|e| OciError::sys("seal the runtime copy", e))?;
    Ok(copy)
}

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 2;
const MOUNT_ATTR_NODEV: libc::c_uint = 4;

fn owned_fd(rc: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel returned a new descriptor nobody else owns.
    unsafe { OwnedFd::from_raw_fd(rc as i32) }
}

/// A detached mount of filesystem `fstype` with `options` (key, value),
/// read-only: fsopen + fsconfig + fsmount, no mount namespace touched.
fn detached_mount(fstype: &std::ffi::CStr, options: &[(&str, &str)]) -> nix::Result<OwnedFd> {
    // SAFETY: a NUL-terminated filesystem name and a flag.
    let ctx =
        Errno::result(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })
            .map(owned_fd)?;
    for (k, v) in options {
        let (k, v) = (
            CString::new(*k).map_err(|_| Errno::EINVAL)?,
            CString::new(*v).map_err(|_| Errno::EINVAL)?,
        );
        // SAFETY: NUL-terminated key and value, valid for the call.
        Errno::result(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                FSCONFIG_SET_STRING,
                k.as_ptr(),
                v.as_ptr(),
                0,
            )
        })?;
    }
    // SAFETY: a command without arguments on our context descriptor.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    // SAFETY: plain flags on our context descriptor.
    Errno::result(unsafe {
        libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs)
    })
    .map(owned_fd)
}

/// The binary opened through a private, detached, read-only overlayfs
/// whose lower layers are the binary's directory and an empty tmpfs (a
/// read-only overlay needs two): nothing is copied, and every write
/// through it fails with EROFS, since there is no upper layer to copy
/// up into. runc's preferred seal, for the same reason: it is cheap.
fn overlay_view(exe_path: &std::path::Path) -> nix::Result<OwnedFd> {
    let (Some(dir), Some(name)) = (exe_path.parent(), exe_path.file_name()) else {
        return Err(Errno::EINVAL);
    };
    let empty = detached_mount(c"tmpfs", &[])?;
    let lower = format!(
        "{}:/proc/self/fd/{}",
        dir.to_str().ok_or(Errno::EINVAL)?,
        empty.as_raw_fd()
    );
    if lower.contains(',') || dir.to_string_lossy().contains(':') {
        return Err(Errno::EINVAL);
    }
    let overlay = detached_mount(c"overlay", &[("lowerdir", &lower)])?;
    nix::fcntl::openat(
        &overlay,
        name,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// True when `fd` is on a read-only mount: our overlay view, or a binary
/// the host installed on a read-only mount (a `ro` bind of its file is
/// enough), where every write through `/proc/<pid>/exe` already fails
/// with EROFS and the re-exec can be skipped.
fn is_read_only_mount(fd: &OwnedFd) -> bool {
    nix::sys::statvfs::fstatvfs(fd)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// Re-executes the current command from a sealed view of the binary
/// (a read-only overlayfs view, or else a sealed memfd copy), unless it
/// already runs from one. Returns only when it already does.
pub fn ensure_sealed() -> Result<()> {
    let exe = open(
        "/proc/self/exe",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| OciError::sys("open /proc/self/exe", e))?;
    if is_sealed(&exe) || is_read_only_mount(&exe) {
        return Ok(());
    }
    let path = std::fs::read_link("/proc/self/exe").unwrap_or_default();
    let copy = match overlay_view(&path) {
        Ok(view) => view,
        Err(_) => sealed_copy(&exe)?,
    };
    drop(exe);
    let cstr = |b: &[u8]| {
        CString::new(b).map_err(|_| OciError::Unsupported("NUL byte in an argument".into()))
    };
    let argv: Vec<CString> = std::env::args_os()
        .map(|a| cstr(a.as_bytes()))
        .collect::<Result<_>>()?;
    let envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            cstr(&kv)
        })
        .collect::<Result<_>>()?;
    let Err(e) = nix::unistd::fexecve(copy.as_fd(), &argv, &envp);
    Err(OciError::sys("re-execute from the sealed runtime copy", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overlay_view_is_the_binary_and_refuses_writes() {
        let path = std::fs::read_link("/proc/self/exe").unwrap();
        let view = overlay_view(&path).unwrap();
        assert!(is_read_only_mount(&view));
        let fd_path = format!("/proc/self/fd/{}", view.as_raw_fd());
        assert_eq!(
            std::fs::read(&fd_path).unwrap(),
            std::fs::read(&path).unwrap()
        );
        let e = std::fs::OpenOptions::new()
            .write(true)
            .open(&fd_path)
            .map(|mut f| std::io::Write::write_all(&mut f, b"x"))
            .unwrap_err_or_write_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    }

    #[test]
    fn a_sealed_copy_is_identical_and_refuses_writes() {
        let exe = open(
            "/proc/self/exe",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        assert!(!is_sealed(&exe), "the test binary is a plain file");
        let copy = sealed_copy(&exe).unwrap();
        assert!(is_sealed(&copy));
        let original = std::fs::read("/proc/self/exe").unwrap();
        let path = format!("/proc/self/fd/{}", copy.as_raw_fd());
        assert_eq!(std::fs::read(&path).unwrap(), original);
        // Reopened for writing through the magic link, as an attacker would.
        let e = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map(|mut f| std::io::Write::write_all(&mut f, b"x"))
            .unwrap_err_or_write_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
    }

    trait WriteErr {
        fn unwrap_err_or_write_err(self) -> std::io::Error;
    }

    impl WriteErr for std::io::Result<std::io::Result<()>> {
        fn unwrap_err_or_write_err(self) -> std::io::Error {
            match self {
                Err(e) | Ok(Err(e)) => e,
                Ok(Ok(())) => panic!("the sealed copy was written"),
            }
        }
    }
}
