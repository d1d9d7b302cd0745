//! The shim's signals, delivered through a signalfd.
//!
//! SIGCHLD wakes the poll loop to reap; SIGTERM, SIGINT and SIGHUP are blocked
//! and read away, so the shim outlives a daemon that is stopped or a terminal
//! that goes away (it only exits after `Delete`). The OCI runtime gives the
//! container process a clean signal state before its execve (no mask, every
//! action default; runc does the same, and cradle-oci's `reset_signals`), and
//! the pause child unblocks them itself, so no container process inherits
//! the shim's mask.

use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::ShimError;

/// The signals the shim takes through its signalfd.
pub fn shim_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        set.add(signal);
    }
    set
}

/// A non-blocking signalfd for [`shim_signals`], which it blocks.
#[derive(Debug)]
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Block the shim's signals and open a signalfd for them.
    pub fn install() -> Result<Signals, ShimError> {
        let set = shim_signals();
        set.thread_block()
            .map_err(ShimError::sys("blocking the shim's signals"))?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(ShimError::sys("creating the signalfd"))?;
        Ok(Signals { fd })
    }

    /// Read all pending signals; true when SIGCHLD was among them.
    pub fn drain(&self) -> bool {
        let mut child = false;
        while let Ok(Some(info)) = self.fd.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => child = true,
                Ok(other) => crate::diag!("ignoring {other}"),
                Err(_) => {}
            }
        }
        child
    }

    /// The fd to poll.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Undo the shim's signal mask and dispositions, in a forked child that does not exec.
pub fn reset_in_child() {
    let _ = SigSet::all().thread_unblock();
}
