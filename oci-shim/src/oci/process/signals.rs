//! Signals around the container's process: the clean slate it starts
//! from, and the forwarding a non-detached `run` or `exec` does while it
//! waits for it.

use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::oci::error::{OciError, Result};

/// The container process starts with no signal blocked and every signal at
/// its default action, as under runc. A raw execve keeps the caller's mask
/// and ignored signals: the shim blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD
/// for its signalfd, and the Rust runtime ignores SIGPIPE, so without this
/// a container would never see StopContainer's SIGTERM. Done before the
/// seccomp filter, which may deny rt_sigaction.
pub(crate) fn reset_signals() -> Result<()> {
    /// The kernel's `struct sigaction` (not libc's, whose mask is larger).
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // Every signal the kernel has, realtime ones included (glibc's wrapper
    // refuses 32 and 33, which it keeps for itself; the container's libc
    // sets up its own).
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction with a valid kernel sigaction (SIG_DFL, no
        // handler code) and no old-action pointer; the size is the kernel's
        // sigset_t (8 bytes).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                std::mem::size_of::<u64>(),
            )
        };
        if rc != 0 {
            return Err(OciError::sys(
                format!("reset signal {sig}"),
                nix::Error::last(),
            ));
        }
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| OciError::sys("clear the signal mask", e))
}

/// The signals a non-detached exec passes on, plus SIGCHLD to notice the exit.
pub(crate) fn forwarded() -> SigSet {
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
        Signal::SIGCONT,
        Signal::SIGCHLD,
    ] {
        set.add(sig);
    }
    set
}

/// Waits for `pid`, forwarding every blocked signal but SIGCHLD to it;
/// returns its exit code (128 + signal when killed).
pub(crate) fn wait_forwarding(pid: Pid) -> Result<i32> {
    let sfd = SignalFd::with_flags(&forwarded(), SfdFlags::SFD_CLOEXEC)
        .map_err(|e| OciError::sys("signalfd", e))?;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(OciError::sys(format!("wait for {pid}"), e)),
        }
        match sfd.read_signal() {
            Ok(Some(info)) => {
                let signo = info.ssi_signo as i32;
                if signo != libc::SIGCHLD
                    && let Ok(sig) = Signal::try_from(signo)
                {
                    let _ = kill(pid, sig);
                }
            }
            Ok(None) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(OciError::sys("read signalfd", e)),
        }
    }
}
