//! The process `cradle-oci exec` starts in a running container, as a
//! chain like create's: the exec forks an intermediate that joins the
//! container's namespaces and forks the process (so it lands in the pid
//! namespace); the exec puts it in the cgroup and lets it go; the process
//! sets itself up (stdio, keyring, rlimits, cwd, LSM, credentials) and
//! execs. Closing its end of the channel at execve tells the exec it ran.
//! The joins and the set-up go through the [`Syscall`] seam.

use std::fs::File;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork};

use crate::cgroups::Cgroup;
use crate::oci::error::{OciError, Result};
use crate::oci::log;
use crate::oci::process::channel::Channel;
use crate::oci::process::credentials;
use crate::oci::process::exec_args::{ExecArgs, enter_cwd_and_find_exe};
use crate::oci::process::kernel_settings;
use crate::oci::process::message::Msg;
use crate::oci::process::terminal;
use crate::oci::security::{hardening, keyring, lsm, seccomp};
use crate::oci::syscall::{Kernel, Syscall};
use crate::spec::Process;

/// What the exec'd process sets up for itself inside the container.
pub(crate) struct ChildSetup<'a> {
    /// The pty's console socket in terminal mode.
    pub console: Option<&'a UnixStream>,
    /// The container's seccomp filter.
    pub filter: Option<&'a seccomp::Program>,
    /// See `hardening::check_preserved_fds`.
    pub preserve_end: u32,
    /// The container's session keyring to join (none after `create
    /// --no-new-keyring`), as runc's exec does.
    pub session_keyring: Option<String>,
    /// A pidfd of the non-detached `cradle-oci exec` the process dies with.
    pub exec_parent: Option<&'a OwnedFd>,
    /// The AppArmor profile or SELinux label to take at execve.
    pub lsm_exec: &'a lsm::ExecAttr,
}

/// Forks the intermediate, which joins `joins` and forks the process;
/// puts the process in `cgroup` and lets it go; returns its pid once it
/// has exec'd (its end of the channel closed), or its set-up error.
pub(crate) fn spawn(
    old_mask: &SigSet,
    joins: &[(CloneFlags, File)],
    p: &Process,
    setup: &ChildSetup,
    cgroup: &Cgroup,
) -> Result<Pid> {
    let (mut parent, mut child_end) = Channel::pair()?;
    // SAFETY: cradle-oci is single-threaded, so the forked child is a
    // complete copy and may run Rust code until it execs or _exits.
    let intermediate = match unsafe { fork() }.map_err(|e| OciError::sys("fork", e))? {
        ForkResult::Child => exec_intermediate(old_mask, joins, p, setup, &mut child_end),
        ForkResult::Parent { child } => child,
    };
    drop(child_end);
    let first = parent.recv();
    let _ = waitpid(intermediate, None);
    let pid = match first? {
        Msg::Pid(p) => Pid::from_raw(p),
        Msg::Error(e) => return Err(OciError::Init(e)),
        other => return Err(OciError::Init(format!("unexpected message {other:?}"))),
    };
    let placed = cgroup.add_process(pid.as_raw());
    if let Err(e) = placed {
        let _ = kill(pid, Signal::SIGKILL);
        return Err(e.into());
    }
    parent.send(&Msg::Go)?;
    // The process closes its end at execve (close-on-exec): EOF is success.
    loop {
        match parent.recv() {
            Ok(Msg::Warn(w)) => log::warn(&w),
            Ok(Msg::Error(e)) => {
                let _ = waitpid(pid, None);
                return Err(OciError::Init(e));
            }
            Ok(other) => return Err(OciError::Init(format!("unexpected message {other:?}"))),
            Err(_) => break,
        }
    }
    Ok(pid)
}

/// Joins the namespaces, forks the process (so it lands in the pid
/// namespace) and reports its pid.
fn exec_intermediate(
    old_mask: &SigSet,
    joins: &[(CloneFlags, File)],
    p: &Process,
    setup: &ChildSetup,
    chan: &mut Channel,
) -> ! {
    // Before joining the container's pid namespace (CVE-2019-5736 class;
    // see `hardening`).
    if let Err(e) = hardening::make_non_dumpable() {
        let _ = chan.send(&Msg::Error(e.to_string()));
        exit(1);
    }
    if let Err(e) = sigprocmask(SigmaskHow::SIG_SETMASK, Some(old_mask), None) {
        let _ = chan.send(&Msg::Error(format!("restore signal mask: {e}")));
        exit(1);
    }
    if let Err(e) = join_namespaces(&Kernel, joins) {
        let _ = chan.send(&Msg::Error(e));
        exit(1);
    }
    // SAFETY: still single-threaded; see `exec`.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => exec_process(p, setup, chan),
        Ok(ForkResult::Parent { child }) => {
            let ok = chan.send(&Msg::Pid(child.as_raw())).is_ok();
            exit(if ok { 0 } else { 1 })
        }
        Err(e) => {
            let _ = chan.send(&Msg::Error(format!("fork: {e}")));
            exit(1)
        }
    }
}

/// Joins the container's namespaces; the error names the kind. As
/// `create` does ([`crate::oci::process::namespaces::join`]), the others
/// come before the user namespace while the runtime still holds its
/// capabilities (a pod's network namespace belongs to the node's user
/// namespace), one refused with EPERM is joined again after it, and the
/// mount namespace is last.
pub(crate) fn join_namespaces(
    sys: &impl Syscall,
    joins: &[(CloneFlags, File)],
) -> std::result::Result<(), String> {
    let setns = |flag: &CloneFlags, f: &File| {
        sys.setns(f, *flag)
            .map_err(|e| format!("setns {flag:?}: {e}"))
    };
    let late =
        |flag: &CloneFlags| *flag == CloneFlags::CLONE_NEWUSER || *flag == CloneFlags::CLONE_NEWNS;
    let joins_user = joins.iter().any(|(f, _)| *f == CloneFlags::CLONE_NEWUSER);
    let mut deferred = Vec::new();
    for (flag, f) in joins {
        if late(flag) {
            continue;
        }
        match sys.setns(f, *flag) {
            Err(nix::Error::EPERM) if joins_user => deferred.push((flag, f)),
            other => other.map_err(|e| format!("setns {flag:?}: {e}"))?,
        }
    }
    let user = joins
        .iter()
        .filter(|(f, _)| *f == CloneFlags::CLONE_NEWUSER);
    for (flag, f) in user {
        setns(flag, f)?;
    }
    for (flag, f) in deferred {
        setns(flag, f)?;
    }
    let mount = joins.iter().filter(|(f, _)| *f == CloneFlags::CLONE_NEWNS);
    for (flag, f) in mount {
        setns(flag, f)?;
    }
    Ok(())
}

fn exec_process(p: &Process, setup: &ChildSetup, chan: &mut Channel) -> ! {
    match chan.recv() {
        Ok(Msg::Go) => {}
        _ => exit(1),
    }
    // Warnings go to the runtime's log through the parent, never to the
    // process's own stderr (the exec session's output).
    log::capture();
    let prepared = prepare(&Kernel, p, setup);
    for w in log::take_captured() {
        let _ = chan.send(&Msg::Warn(w));
    }
    match prepared {
        Ok(args) => {
            if let Some(parent) = setup.exec_parent {
                die_with(parent);
            }
            let err = args.exec();
            let _ = chan.send(&Msg::Error(err.to_string()));
            exit(127)
        }
        Err(e) => {
            let _ = chan.send(&Msg::Error(e.to_string()));
            exit(1)
        }
    }
}

/// The process's own set-up, in the container, in runc's order: the
/// descriptors, the container's session keyring, a session with the pty
/// as controlling terminal, rlimits, cwd and executable, the LSM
/// attribute, the signals' clean slate and the credentials; returns what
/// to exec.
pub(crate) fn prepare(sys: &impl Syscall, p: &Process, setup: &ChildSetup) -> Result<ExecArgs> {
    sys.mark_fds_cloexec_from(setup.preserve_end)?;
    sys.keep_preserved_fds(setup.preserve_end)?;
    if let Some(name) = &setup.session_keyring {
        keyring::join_existing_session(sys, name)?;
    }
    if let Some(sock) = setup.console {
        sys.setsid().map_err(|e| OciError::sys("setsid", e))?;
        terminal::setup(sys, sock, None)?;
    }
    kernel_settings::apply_rlimits(sys, p.rlimits.as_deref().unwrap_or(&[]))?;
    let exec = enter_cwd_and_find_exe(sys, p)?;
    if setup.lsm_exec.0.is_some() {
        // We joined the container's mount and pid namespaces: make sure
        // its /proc is a real procfs before writing our attribute there.
        hardening::ensure_procfs(Path::new("/proc/self/attr"))?;
    }
    lsm::apply(sys, setup.lsm_exec)?;
    let caps = p.capabilities.clone().unwrap_or_default();
    sys.reset_signals()?;
    credentials::finish_credentials(sys, p, &caps, setup.filter)?;
    Ok(exec)
}

/// Makes the exec'd process die (SIGKILL) with `cradle-oci exec`: a caller
/// that kills the runtime (a timeout) must never leave the process running,
/// re-parented to the host's init. Set last, after the credentials change
/// (which would clear it); the pidfd closes the race with an exit that
/// happened before. Best effort: a seccomp profile may refuse prctl.
fn die_with(parent: &OwnedFd) {
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() {
        return;
    }
    let mut fds = [PollFd::new(parent.as_fd(), PollFlags::POLLIN)];
    if poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0) {
        exit(128 + libc::SIGKILL);
    }
}

/// A pidfd of this process (`None` on kernels before 5.3: no backstop).
pub(crate) fn own_pidfd() -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd (close
    // on exec) or -1; nothing is borrowed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the fd was just returned to us and is owned by nothing else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends a forked child without running destructors that
    // belong to the parent `cradle-oci exec` process.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod tests;
