//! The built-in pause process of a pod sandbox.
//!
//! The shim forks it (no image, no exec) into a new pid namespace, where it
//! is pid 1 and the pod's containers can join it (CRI pid mode POD); the
//! shim keeps its host pid. The child joins the pod's pinned network, IPC
//! and UTS namespaces, names itself `pause`, reports readiness through a
//! pipe, then reaps the orphans reparented to it (it is their init) until
//! SIGTERM or SIGINT (exit 0) or SIGKILL.

use std::ffi::CStr;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::prctl;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{self, ForkResult, Pid};

use super::ShimError;

const READY: &[u8] = b"ok";

/// The pinned namespaces the pause process joins.
#[derive(Debug)]
pub struct PodNamespaces {
    pub net: File,
    pub ipc: File,
    pub uts: File,
}

impl PodNamespaces {
    /// Open the pinned namespace files.
    pub fn open(
        net: &std::path::Path,
        ipc: &std::path::Path,
        uts: &std::path::Path,
    ) -> Result<PodNamespaces, ShimError> {
        let open = |path: &std::path::Path| {
            File::open(path).map_err(ShimError::io(format!(
                "opening namespace {}",
                path.display()
            )))
        };
        Ok(PodNamespaces {
            net: open(net)?,
            ipc: open(ipc)?,
            uts: open(uts)?,
        })
    }
}

/// A forked pause process whose readiness is still to be confirmed.
#[derive(Debug)]
pub struct Forked {
    pub pid: Pid,
    verdict: File,
}

impl Forked {
    /// Block until the child has joined its namespaces (or failed to).
    pub fn wait_ready(mut self) -> Result<Pid, ShimError> {
        let mut verdict = Vec::new();
        self.verdict
            .read_to_end(&mut verdict)
            .map_err(ShimError::io("reading the pause process's readiness"))?;
        if verdict == READY {
            Ok(self.pid)
        } else if verdict.is_empty() {
            Err(ShimError::Invalid(
                "the pause process died before it was ready".into(),
            ))
        } else {
            Err(ShimError::Invalid(format!(
                "pause process: {}",
                String::from_utf8_lossy(&verdict)
            )))
        }
    }
}

/// Fork the pause process; it runs [`pause_main`] and never returns here.
pub fn spawn(namespaces: &PodNamespaces) -> Result<Forked, ShimError> {
    let (read_end, write_end) =
        unistd::pipe2(OFlag::O_CLOEXEC).map_err(ShimError::sys("creating the pause pipe"))?;
    match fork_in_new_pid_namespace()? {
        ForkResult::Parent { child } => {
            drop(write_end);
            Ok(Forked {
                pid: child,
                verdict: File::from(read_end),
            })
        }
        ForkResult::Child => {
            drop(read_end);
            let code = pause_main(namespaces, write_end);
            // SAFETY: `_exit` ends the forked child without running the shim's
            // destructors or flushing its buffers a second time.
            unsafe { libc::_exit(code) }
        }
    }
}

/// fork(2) with the child as pid 1 of a new pid namespace. The shim's own
/// namespace for later children is restored before returning, so nothing
/// else it forks lands in the pod's pid namespace.
fn fork_in_new_pid_namespace() -> Result<ForkResult, ShimError> {
    let own = File::open("/proc/self/ns/pid")
        .map_err(ShimError::io("opening the shim's pid namespace"))?;
    unshare(CloneFlags::CLONE_NEWPID).map_err(ShimError::sys("unsharing the pid namespace"))?;
    // SAFETY: the shim is single-threaded, so the child may run ordinary Rust
    // code; it never returns into the shim's code and leaves through `_exit`.
    let forked = unsafe { unistd::fork() };
    if let Ok(ForkResult::Child) = forked {
        return Ok(ForkResult::Child);
    }
    let restored = setns(&own, CloneFlags::CLONE_NEWPID);
    let forked = forked.map_err(ShimError::sys("forking the pause process"))?;
    if let Err(error) = restored {
        if let ForkResult::Parent { child } = forked {
            let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
        }
        return Err(ShimError::sys("restoring the shim's pid namespace")(error));
    }
    Ok(forked)
}

/// The pause process's body: returns its exit status.
fn pause_main(namespaces: &PodNamespaces, verdict: OwnedFd) -> i32 {
    let mut verdict = File::from(verdict);
    // Keep SIGTERM, SIGINT and SIGCHLD blocked to take them with sigwait
    // (blocked, they reach a namespace's init even without a handler);
    // everything else the shim blocked (SIGHUP) goes back to normal.
    let mut wanted = SigSet::empty();
    wanted.add(Signal::SIGTERM);
    wanted.add(Signal::SIGINT);
    wanted.add(Signal::SIGCHLD);
    if let Err(error) = wanted.thread_set_mask() {
        let _ = write!(verdict, "setting the signal mask: {error}");
        return 1;
    }
    close_inherited_fds(&[
        verdict.as_raw_fd(),
        namespaces.net.as_raw_fd(),
        namespaces.ipc.as_raw_fd(),
        namespaces.uts.as_raw_fd(),
    ]);
    let joins = [
        (&namespaces.net, CloneFlags::CLONE_NEWNET, "network"),
        (&namespaces.ipc, CloneFlags::CLONE_NEWIPC, "ipc"),
        (&namespaces.uts, CloneFlags::CLONE_NEWUTS, "uts"),
    ];
    for (file, kind, name) in joins {
        if let Err(error) = setns(file, kind) {
            let _ = write!(verdict, "joining the {name} namespace: {error}");
            return 1;
        }
    }
    let name: &CStr = c"pause";
    if let Err(error) = prctl::set_name(name) {
        let _ = write!(verdict, "naming the process: {error}");
        return 1;
    }
    if verdict.write_all(READY).is_err() {
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

/// Close every fd but stdio and `keep`, so the pause process holds none of
/// the shim's sockets or pipes.
fn close_inherited_fds(keep: &[RawFd]) {
    let Ok(entries) = fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closing an fd number this process no longer uses; the
            // only fds still in use are stdio and `keep`. The read_dir's own fd
            // is already closed, so closing its stale number is harmless.
            unsafe {
                libc::close(fd);
            }
        }
    }
}
