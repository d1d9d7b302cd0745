//! The pause process of a pod sandbox, up to its exec.
//!
//! The shim forks it into a new pid namespace, where it is pid 1 and the
//! pod's containers can join it (CRI pid mode POD); the shim keeps its host
//! pid. The child joins the pod's pinned network, IPC and UTS namespaces,
//! then becomes a process that shows the containers nothing of the host:
//! in a mount namespace of its own it mounts an empty tmpfs holding only a
//! read-only bind of the shim's binary as `pause`, and executes it there
//! with argv `["pause"]`, an empty environment and no fd but stdio on
//! `/dev/null` and the readiness pipe. [`super::pause_image`] is what runs
//! after that exec: it makes the tmpfs its root and waits. Without the
//! exec the pause would be a fork of the shim, whose command line (readable
//! by every process of the pod's pid namespace) names the state dir, the
//! namespace pins and the pod cgroup, and whose root is the host's.
//!
//! A pod with a user namespace of its own (CRI `userns_options` mode POD)
//! gets it from the pause: the shim clones it into a new user namespace
//! and a new pid namespace owned by it (so the pod's containers, root of
//! that user namespace, may mount `/proc` for the shared pid namespace),
//! writes the id maps, and only then lets it go on. The pinned network,
//! IPC and UTS namespaces belong to the node's user namespace, which the
//! child has left: the shim joins them for the clone and returns to its
//! own right after, so the child is born in them. It mounts its empty
//! root over `/tmp` rather than the state dir (see [`USERNS_SCRATCH`]).

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::{self, ForkResult, Pid};

use super::ShimError;
use super::args::IdMap;
use super::pause_image::{self, READY, VERDICT_FD};

/// The pinned namespaces the pause process joins.
#[derive(Debug)]
pub struct PodNamespaces {
    /// The pod's network namespace.
    pub net: File,
    /// The pod's IPC namespace.
    pub ipc: File,
    /// The pod's UTS namespace.
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
    /// The pause process's pid.
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

/// Where a pause in the pod's own user namespace mounts its empty root,
/// in its own mount namespace. Not the shim's state dir: the pause, root
/// of the pod's ids only, may not walk a path whose directories are
/// closed to others (a state dir under a 0700 temp dir); `/tmp` and `/`
/// are open to all.
const USERNS_SCRATCH: &str = "/tmp";

/// The pod's own user namespace: its uid and gid maps.
#[derive(Debug, Clone, Copy)]
pub struct UserNs<'a> {
    /// `uid_map` lines.
    pub uids: &'a [IdMap],
    /// `gid_map` lines.
    pub gids: &'a [IdMap],
}

/// Fork the pause process; it runs `pause_main` and never returns here.
/// `scratch` is any existing directory: the child mounts its empty root
/// there, in its own mount namespace (the host never sees that mount).
/// With `userns`, the child is born in a new user namespace with those
/// maps (see the module doc).
pub fn spawn(
    namespaces: &PodNamespaces,
    scratch: &Path,
    userns: Option<UserNs<'_>>,
) -> Result<Forked, ShimError> {
    let (read_end, write_end) =
        unistd::pipe2(OFlag::O_CLOEXEC).map_err(ShimError::sys("creating the pause pipe"))?;
    let (go_read, go_write) =
        unistd::pipe2(OFlag::O_CLOEXEC).map_err(ShimError::sys("creating the maps pipe"))?;
    let forked = match userns {
        Some(_) => clone_in_new_user_namespace(namespaces)?,
        None => fork_in_new_pid_namespace()?,
    };
    match forked {
        ForkResult::Parent { child } => {
            drop(write_end);
            drop(go_read);
            if let Some(userns) = userns
                && let Err(error) = write_maps(child, userns)
            {
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                let _ = waitpid(child, None);
                return Err(error);
            }
            // Closing the pipe is the go: the maps are in place.
            drop(go_write);
            Ok(Forked {
                pid: child,
                verdict: File::from(read_end),
            })
        }
        ForkResult::Child => {
            drop(read_end);
            drop(go_write);
            let code = match userns {
                Some(_) => match become_userns_root(go_read) {
                    Ok(()) => pause_main(None, Path::new(USERNS_SCRATCH), write_end),
                    Err(error) => {
                        let _ = write!(File::from(write_end), "{error}");
                        1
                    }
                },
                None => pause_main(Some(namespaces), scratch, write_end),
            };
            // SAFETY: `_exit` ends the forked child without running the shim's
            // destructors or flushing its buffers a second time.
            unsafe { libc::_exit(code) }
        }
    }
}

/// The shim's side: the child's `uid_map` and `gid_map` (the shim is
/// root of the node, so `setgroups` stays allowed in the pod).
fn write_maps(child: Pid, userns: UserNs<'_>) -> Result<(), ShimError> {
    let lines = |maps: &[IdMap]| maps.iter().map(IdMap::line).collect::<String>();
    for (file, maps) in [("uid_map", userns.uids), ("gid_map", userns.gids)] {
        let path = format!("/proc/{child}/{file}");
        fs::write(&path, lines(maps)).map_err(ShimError::io(format!("writing {path}")))?;
    }
    Ok(())
}

/// The child's side: wait until the maps are written (the shim closes
/// `go`), then become root of the pod's user namespace with no
/// supplementary group of the node's.
fn become_userns_root(go: OwnedFd) -> Result<(), ShimError> {
    let mut go = File::from(go);
    let mut rest = Vec::new();
    go.read_to_end(&mut rest)
        .map_err(ShimError::io("waiting for the user namespace's maps"))?;
    let root_gid = unistd::Gid::from_raw(0);
    let root_uid = unistd::Uid::from_raw(0);
    unistd::setresgid(root_gid, root_gid, root_gid)
        .map_err(ShimError::sys("setresgid 0 in the pod's user namespace"))?;
    unistd::setgroups(&[]).map_err(ShimError::sys("dropping supplementary groups"))?;
    unistd::setresuid(root_uid, root_uid, root_uid)
        .map_err(ShimError::sys("setresuid 0 in the pod's user namespace"))
}

/// clone(2) with the child in a new user namespace and a new pid namespace
/// it owns, born in the pod's network, IPC and UTS namespaces, which the
/// shim joins for the clone and leaves right after.
fn clone_in_new_user_namespace(namespaces: &PodNamespaces) -> Result<ForkResult, ShimError> {
    let kinds = [
        (&namespaces.net, CloneFlags::CLONE_NEWNET, "net"),
        (&namespaces.ipc, CloneFlags::CLONE_NEWIPC, "ipc"),
        (&namespaces.uts, CloneFlags::CLONE_NEWUTS, "uts"),
    ];
    let mut own = Vec::new();
    for (_, kind, name) in kinds {
        let file = File::open(format!("/proc/self/ns/{name}")).map_err(ShimError::io(format!(
            "opening the shim's {name} namespace"
        )))?;
        own.push((file, kind, name));
    }
    let restore = |own: &[(File, CloneFlags, &str)]| -> Result<(), ShimError> {
        for (file, kind, name) in own {
            setns(file, *kind).map_err(ShimError::sys(format!(
                "returning to the shim's {name} namespace"
            )))?;
        }
        Ok(())
    };
    for (file, kind, name) in kinds {
        if let Err(error) = setns(file, kind) {
            restore(&own)?;
            return Err(ShimError::sys(format!(
                "joining the pod's {name} namespace"
            ))(error));
        }
    }
    let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWPID | libc::SIGCHLD;
    // SAFETY: clone without CLONE_VM and a null stack is fork(2) with
    // namespace flags: the child gets a copy of this single-threaded
    // process and leaves through `_exit`, never returning into the shim.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid == 0 {
        return Ok(ForkResult::Child);
    }
    let cloned = if pid < 0 {
        Err(ShimError::sys("cloning the pause process")(
            nix::errno::Errno::last(),
        ))
    } else {
        Ok(Pid::from_raw(pid as libc::pid_t))
    };
    if let Err(error) = restore(&own) {
        if let Ok(child) = cloned {
            let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
        }
        return Err(error);
    }
    cloned.map(|child| ForkResult::Parent { child })
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

/// The pause process's body up to its exec: returns an exit status only
/// when something failed, after writing why to the readiness pipe. With
/// `namespaces` it joins them first (a child cloned into a user namespace
/// was born in them).
fn pause_main(namespaces: Option<&PodNamespaces>, scratch: &Path, verdict: OwnedFd) -> i32 {
    let mut verdict = File::from(verdict);
    // Keep SIGTERM, SIGINT and SIGCHLD blocked (the mask survives the exec)
    // for the pause to take them with sigwait (blocked, they reach a
    // namespace's init even without a handler); everything else the shim
    // blocked (SIGHUP) goes back to normal.
    if let Err(error) = pause_image::signals().thread_set_mask() {
        let _ = write!(verdict, "setting the signal mask: {error}");
        return 1;
    }
    let joins = namespaces.map(|namespaces| {
        [
            (&namespaces.net, CloneFlags::CLONE_NEWNET, "network"),
            (&namespaces.ipc, CloneFlags::CLONE_NEWIPC, "ipc"),
            (&namespaces.uts, CloneFlags::CLONE_NEWUTS, "uts"),
        ]
    });
    for (file, kind, name) in joins.into_iter().flatten() {
        if let Err(error) = setns(file, kind) {
            let _ = write!(verdict, "joining the {name} namespace: {error}");
            return 1;
        }
    }
    let error = match exec_pause(scratch, &verdict) {
        Ok(never) => match never {},
        Err(error) => error,
    };
    let _ = write!(verdict, "{error}");
    1
}

/// Stdio on `/dev/null`, a private mount namespace with an empty tmpfs on
/// `scratch` holding only `pause` (the shim's binary, bound read-only),
/// every fd closed but stdio and the readiness pipe (as fd
/// [`VERDICT_FD`]), and exec `./pause` from there. Returns only on failure.
fn exec_pause(scratch: &Path, verdict: &File) -> Result<std::convert::Infallible, ShimError> {
    stdio_to_dev_null()?;
    // By path: `/proc/self/exe` is a file of the mount namespace left
    // behind, which a bind in the new one refuses (EINVAL).
    let own_binary =
        fs::read_link("/proc/self/exe").map_err(ShimError::io("reading the shim's binary path"))?;
    mount_scratch_root(scratch, &own_binary)?;
    // The tmpfs is mounted over `scratch`: entering it after the mount is
    // entering the tmpfs, which the pause makes its root.
    unistd::chdir(scratch).map_err(ShimError::sys("entering the pause's root"))?;
    close_inherited_fds(&[verdict.as_raw_fd()]);
    // dup2 leaves the copy without FD_CLOEXEC: it survives the exec.
    if verdict.as_raw_fd() == VERDICT_FD {
        // SAFETY: clearing the flags of an fd this process owns.
        unsafe { libc::fcntl(VERDICT_FD, libc::F_SETFD, 0) };
    } else {
        // SAFETY: VERDICT_FD was closed above; dup2 makes it the pipe.
        let done = unsafe { libc::dup2(verdict.as_raw_fd(), VERDICT_FD) };
        if done < 0 {
            return Err(ShimError::Io {
                what: "passing the readiness pipe".into(),
                source: std::io::Error::last_os_error(),
            });
        }
    }
    let path = CString::new(format!("./{}", pause_image::NAME))
        .map_err(|_| ShimError::Invalid("pause binary name".into()))?;
    let argv = [CString::new(pause_image::NAME.as_bytes())
        .map_err(|_| ShimError::Invalid("pause argv".into()))?];
    let env: [CString; 0] = [];
    unistd::execve(&path, &argv, &env).map_err(ShimError::sys("executing pause"))
}

/// Stdio on `/dev/null`.
fn stdio_to_dev_null() -> Result<(), ShimError> {
    let null = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(ShimError::io("opening /dev/null"))?;
    for fd in 0..=2 {
        // SAFETY: dup2 onto a stdio number; `null` stays open until dropped.
        let done = unsafe { libc::dup2(null.as_raw_fd(), fd) };
        if done < 0 {
            return Err(ShimError::Io {
                what: format!("redirecting fd {fd} to /dev/null"),
                source: std::io::Error::last_os_error(),
            });
        }
    }
    drop(null);
    Ok(())
}

/// A private mount namespace with an empty tmpfs on
/// `scratch` holding only `pause`: `own_binary`, bound read-only.
fn mount_scratch_root(scratch: &Path, own_binary: &Path) -> Result<(), ShimError> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(ShimError::sys("unsharing the mount namespace"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(ShimError::sys("making the pause's mounts private"))?;
    mount(
        Some("tmpfs"),
        scratch,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("size=16k,mode=0555"),
    )
    .map_err(ShimError::sys("mounting the pause's empty root"))?;
    let binary = scratch.join(pause_image::NAME);
    File::create(&binary).map_err(ShimError::io("creating the pause's binary mount point"))?;
    let bind_ro = MsFlags::MS_BIND | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(
        Some(own_binary),
        &binary,
        None::<&str>,
        bind_ro,
        None::<&str>,
    )
    .map_err(ShimError::sys("binding the shim's binary as pause"))?;
    mount(
        None::<&str>,
        &binary,
        None::<&str>,
        bind_ro | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(ShimError::sys("making the pause's binary read-only"))?;
    Ok(())
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
