//! CVE-2019-5736: the runtime binary must not be writable from inside a
//! container. Being non-dumpable ([`super::hardening`]) hides it while the
//! runtime's own processes run there, but not from the last execve: a
//! container whose program is a script starting `#!/proc/self/exe` (or
//! that is `/proc/self/exe` itself) makes the kernel run *the runtime's
//! binary* inside the container, dumpable, as the container's user, who
//! can keep a descriptor of it and write through it once it exits.
//!
//! So, as runc does, `create`, `run` and `exec` first re-execute
//! themselves from a sealed memfd copy of the binary (write, grow and
//! shrink seals, then the seal seal): whatever the container reaches
//! through `/proc/<pid>/exe` is that copy, which no one can modify, and
//! the host file is never mapped by a process the container can see.
//! The copy is made with sendfile (in the kernel, no user-space buffer)
//! and costs about one extra execve.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

use super::error::{OciError, Result};

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

/// Re-executes the current command from a sealed copy of the binary,
/// unless it already runs from one. Returns only when it already does.
pub fn ensure_sealed() -> Result<()> {
    let exe = open(
        "/proc/self/exe",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| OciError::sys("open /proc/self/exe", e))?;
    if is_sealed(&exe) {
        return Ok(());
    }
    let copy = sealed_copy(&exe)?;
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
