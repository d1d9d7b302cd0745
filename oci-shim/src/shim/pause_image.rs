//! The pause process after its exec (see [`super::pause`]): `cradle-shim`
//! run with argv `["pause"]` and nothing else.
//!
//! It arrives in a private mount namespace whose current directory is an
//! empty tmpfs holding only its own binary, bound read-only. It makes that
//! tmpfs its root (pivot_root, the old root detached), read-only, makes
//! itself non-dumpable (its `/proc` files then need CAP_SYS_PTRACE, which
//! containers do not get by default), reports readiness on fd
//! [`VERDICT_FD`] and closes it, then reaps the orphans reparented to it
//! (it is the pod's init) until SIGTERM or SIGINT (exit 0) or SIGKILL.
//! What a container of the pod can read of it: the command line `pause`,
//! an empty environment, `/pause` as its binary and `/` as its root and
//! working directory, none of them the host's.

use std::io::Write;
use std::os::fd::FromRawFd;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::prctl;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd;

/// The pause's `argv[0]` and the name of its binary in its root.
pub const NAME: &str = "pause";
/// The readiness pipe's fd across the exec.
pub const VERDICT_FD: i32 = 3;
/// What the pipe carries when the pause is ready.
pub const READY: &[u8] = b"ok";

/// The signals the pause waits for; blocked before the exec and after.
pub fn signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.add(Signal::SIGCHLD);
    set
}

/// Whether this process was executed as the pause: argv is exactly
/// `["pause"]` (the shim's own command lines always carry a mode) and it
/// is pid 1 of its pid namespace, so that running it by hand on the host
/// never pivots the host's root.
pub fn is_pause_invocation() -> bool {
    let mut args = std::env::args_os();
    args.next().is_some_and(|a| a == NAME)
        && args.next().is_none()
        && unistd::getpid().as_raw() == 1
}

/// The pause's whole life; returns its exit status.
pub fn run() -> i32 {
    // SAFETY: F_GETFD only asks whether the fd is open.
    let open = unsafe { libc::fcntl(VERDICT_FD, libc::F_GETFD) } >= 0;
    // SAFETY: fd 3 is open and is the readiness pipe the pre-exec half
    // passed (see the module doc); nothing else in this process owns it.
    let mut verdict = open.then(|| unsafe { std::fs::File::from_raw_fd(VERDICT_FD) });
    let mut say = |what: &[u8]| verdict.as_mut().is_some_and(|v| v.write_all(what).is_ok());
    if let Err(error) = enter_root() {
        say(error.as_bytes());
        return 1;
    }
    let wanted = signals();
    if let Err(error) = wanted.thread_set_mask() {
        say(format!("setting the signal mask: {error}").as_bytes());
        return 1;
    }
    if !say(READY) {
        return 1;
    }
    drop(verdict);
    loop {
        match wanted.wait() {
            Ok(Signal::SIGTERM | Signal::SIGINT) => return 0,
            Ok(Signal::SIGCHLD) => reap_orphans(),
            Ok(_) | Err(_) => continue,
        }
    }
}

/// The current directory (the empty tmpfs) becomes the root, read-only;
/// the old root is detached; the process becomes non-dumpable.
fn enter_root() -> Result<(), String> {
    unistd::pivot_root(".", ".").map_err(|e| format!("pivot_root into the pause's root: {e}"))?;
    // The old root is stacked under the new one at "/": detach it.
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("detaching the host's root: {e}"))?;
    unistd::chdir("/").map_err(|e| format!("chdir /: {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|e| format!("making the pause's root read-only: {e}"))?;
    prctl::set_dumpable(false).map_err(|e| format!("making the pause non-dumpable: {e}"))?;
    Ok(())
}

/// As the pod's init, collect every exited process reparented to the pause
/// process, so none stays a zombie. Ends when none is left to collect.
fn reap_orphans() {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}
