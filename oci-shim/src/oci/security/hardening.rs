//! Defences of the runtime's own processes against the container, each
//! named after the attack class it closes.
//!
//! - CVE-2019-5736 (overwriting the runtime binary through
//!   `/proc/<pid>/exe`): the intermediate, the init and exec'd processes
//!   are forks of `cradle-oci`, so until their execve their `exe` link is
//!   the host binary, and they can sit in a pid namespace the container
//!   sees (a joined pid namespace, or `exec`). [`make_non_dumpable`] runs
//!   in each of them right after fork: the kernel then refuses
//!   `/proc/<pid>/exe`, `/proc/<pid>/fd` and `/proc/<pid>/mem` to every
//!   process without CAP_SYS_PTRACE in the host user namespace. execve of
//!   the user's binary makes the process dumpable again, and from then on
//!   its `exe` is that binary, never the runtime. The runtime keeps no
//!   descriptor of its own binary. When that last execve runs the runtime
//!   itself (`/proc/self/exe`, `#!/proc/self/exe`), the container gets a
//!   sealed memfd copy, never the host file ([`crate::oci::security::sealed_exe`]). A container holding CAP_SYS_PTRACE over
//!   the host user namespace (privileged) is not protected by this; such a
//!   container can reach the host by many other ways already.
//! - CVE-2024-21626 (a leaked host descriptor used as cwd or opened from
//!   inside): [`mark_fds_cloexec_from`] marks every descriptor above stderr
//!   (but those passed on with `--preserve-fds`)
//!   close-on-exec as soon as the init starts, and [`check_cwd_in_root`]
//!   refuses a working directory that is not reachable from the new root.
//! - Writes to `/proc`: [`write_proc_file`] opens without following a
//!   final symlink and checks with fstatfs that the file really is on a
//!   procfs before writing (a spec or image could put something else on
//!   `/proc`).

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl, open};
use nix::sys::stat::Mode;
use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs, statfs};

use crate::oci::error::{OciError, Result};

/// Marks the calling process non-dumpable (see the module doc).
pub(crate) fn make_non_dumpable() -> Result<()> {
    nix::sys::prctl::set_dumpable(false).map_err(|e| OciError::sys("PR_SET_DUMPABLE 0", e))
}

/// Marks every descriptor from `first` up close-on-exec: `close_range(first,
/// ~0, CLOSE_RANGE_CLOEXEC)`, or a walk of `/proc/self/fd` on kernels
/// older than 5.11. `first` is 3 unless the caller passed descriptors on
/// (`--preserve-fds`: 3 up to `first`). Descriptors the runtime still
/// needs (sync socket, FIFO, console) keep working until execve.
pub(crate) fn mark_fds_cloexec_from(first: u32) -> Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on
    // descriptors of this process; it closes nothing and takes no pointers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| OciError::io("read", "/proc/self/fd", e))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| u32::try_from(*fd).is_ok_and(|fd| fd >= first))
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD only changes the close-on-exec flag of a
        // descriptor number; one that is already closed (the directory
        // handle above) makes fcntl fail with EBADF, which we ignore.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let _ = fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
    Ok(())
}

/// `--preserve-fds N`: descriptors 3 to 3+N-1 of the caller, which must
/// all be open (a gap would be filled by one of the runtime's own
/// descriptors and leak it into the container). Returns the first
/// descriptor not preserved.
pub(crate) fn check_preserved_fds(count: u32) -> Result<u32> {
    let end = 3u32
        .checked_add(count)
        .filter(|e| *e < 1 << 20)
        .ok_or_else(|| OciError::Unsupported(format!("--preserve-fds {count}")))?;
    for fd in 3..end {
        // SAFETY: F_GETFD only reads the flags of a descriptor number; a
        // closed one makes it fail with EBADF.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd as i32) };
        if fcntl(borrowed, FcntlArg::F_GETFD).is_err() {
            return Err(OciError::Unsupported(format!(
                "--preserve-fds {count}: descriptor {fd} is not open"
            )));
        }
    }
    Ok(end)
}

/// Clears close-on-exec on the preserved descriptors 3..`end`, so they
/// reach the container's process whatever flag the caller left on them.
pub(crate) fn keep_preserved_fds(end: u32) -> Result<()> {
    for fd in 3..end {
        // SAFETY: F_SETFD only changes the flag of a descriptor checked
        // open by `check_preserved_fds`, which the runtime never closes.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd as i32) };
        fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::empty()))
            .map_err(|e| OciError::sys(format!("keep preserved descriptor {fd}"), e))?;
    }
    Ok(())
}

/// After the chdir to the process's cwd: the kernel reports a directory
/// outside the current root as `(unreachable)/…`, which getcwd(3) turns
/// into an error. Either that or a relative answer means the cwd was
/// reached through something that leads out of the container.
pub(crate) fn check_cwd_in_root() -> Result<()> {
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        Ok(p) => Err(OciError::Setup(format!(
            "working directory {} is outside the container's root",
            p.display()
        ))),
        Err(e) => Err(OciError::Setup(format!(
            "working directory is outside the container's root ({e})"
        ))),
    }
}

/// Fails unless `path` is on a procfs.
pub(crate) fn ensure_procfs(path: &Path) -> Result<()> {
    let st = statfs(path).map_err(|e| OciError::sys(format!("statfs {}", path.display()), e))?;
    if st.filesystem_type() != PROC_SUPER_MAGIC {
        return Err(OciError::Setup(format!(
            "{} is not on a procfs; refusing to use it",
            path.display()
        )));
    }
    Ok(())
}

/// Writes `value` to a file that must be on a procfs (sysctls,
/// `/proc/<pid>/…`), without following a final symlink.
pub(crate) fn write_proc_file(path: &Path, value: &str) -> Result<()> {
    let fd = open(
        path,
        OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| OciError::sys(format!("open {}", path.display()), e))?;
    let st =
        fstatfs(fd.as_fd()).map_err(|e| OciError::sys(format!("fstatfs {}", path.display()), e))?;
    if st.filesystem_type() != PROC_SUPER_MAGIC {
        return Err(OciError::Setup(format!(
            "{} is not on a procfs; refusing to write it",
            path.display()
        )));
    }
    let n = nix::unistd::write(&fd, value.as_bytes())
        .map_err(|e| OciError::sys(format!("write {}", path.display()), e))?;
    if n != value.len() {
        return Err(OciError::Setup(format!(
            "short write to {} (fd {})",
            path.display(),
            fd.as_raw_fd()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_written_and_other_files_refused() {
        write_proc_file(Path::new("/proc/self/comm"), "hardening-test").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("comm");
        std::fs::write(&fake, "x").unwrap();
        let e = write_proc_file(&fake, "y").unwrap_err();
        assert!(e.to_string().contains("not on a procfs"), "{e}");
        assert_eq!(std::fs::read_to_string(&fake).unwrap(), "x");
        std::os::unix::fs::symlink("/proc/self/comm", dir.path().join("link")).unwrap();
        assert!(write_proc_file(&dir.path().join("link"), "z").is_err());
        assert!(ensure_procfs(Path::new("/proc/self")).is_ok());
        assert!(ensure_procfs(dir.path()).is_err());
    }

    #[test]
    fn descriptors_above_stderr_become_close_on_exec() {
        let f = std::fs::File::open("/").unwrap();
        let fd = f.as_raw_fd();
        // SAFETY: clearing FD_CLOEXEC on a descriptor we own.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::empty())).unwrap();
        mark_fds_cloexec_from(3).unwrap();
        let flags = fcntl(borrowed, FcntlArg::F_GETFD).unwrap();
        assert!(FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC));
    }
}
