//! `cradle-oci exec`: run another process in a running container. It joins
//! the init's namespaces (those that differ from ours), its cgroup, and
//! takes the container process's user, capabilities and no_new_privs unless
//! a `--process` file says otherwise. Like runc, a non-detached exec is the
//! process's subreaper and exits with its status.

use std::fs::File;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use crate::cgroups::Cgroup;
use crate::oci::error::{OciError, Result};
use crate::oci::log;
use crate::oci::process::channel::{Channel, Msg};
use crate::oci::process::credentials::{self as process, ExecArgs};
use crate::oci::process::terminal;
use crate::oci::security::hardening;
use crate::oci::security::keyring;
use crate::oci::security::lsm;
use crate::oci::security::seccomp;
use crate::oci::state::{ContainerState, Status};
use crate::oci::verbs::create::load_spec;
use crate::spec::{Linux, Process};

/// The arguments of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// `--root`.
    pub root: PathBuf,
    /// The container id.
    pub id: String,
    /// `--process FILE`: a full OCI process JSON (overrides the rest).
    pub process: Option<PathBuf>,
    /// The command (when no `--process`).
    pub args: Vec<String>,
    /// `--env K=V`, appended to the container's environment.
    pub env: Vec<String>,
    /// `--cwd`.
    pub cwd: Option<PathBuf>,
    /// `--user UID[:GID]`.
    pub user: Option<String>,
    /// `--tty`: run on a new pty (needs `console_socket`).
    pub tty: bool,
    /// `--console-socket`: where the pty master is sent in terminal mode.
    pub console_socket: Option<PathBuf>,
    /// `--detach`: return once the process runs.
    pub detach: bool,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--preserve-fds N`: descriptors 3..3+N pass to the process.
    pub preserve_fds: u32,
    /// `--apparmor PROFILE` (see `lsm::inherit`).
    pub apparmor: Option<String>,
    /// `--process-label LABEL` (see `lsm::inherit`).
    pub process_label: Option<String>,
}

/// Namespace kinds in join order: user first (it grants the rights to
/// join the others it owns), mount last (it changes our root).
const NAMESPACES: [(&str, CloneFlags); 8] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("time", CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Runs the exec; returns the process's exit code (0 when detached).
pub fn exec(opts: &ExecOptions) -> Result<i32> {
    // Before the runtime opens anything that could fill a gap.
    let preserve_end = hardening::check_preserved_fds(opts.preserve_fds)?;
    let st = ContainerState::load(&opts.root, &opts.id)?;
    let status = st.status(&opts.root)?;
    if status == Status::Stopped {
        return Err(OciError::NotRunning(opts.id.clone()));
    }
    if status == Status::Paused {
        return Err(OciError::WrongStatus {
            id: opts.id.clone(),
            status: status.as_str(),
            what: "cannot exec in a paused container",
        });
    }
    // The container's spec: its seccomp profile and its AppArmor profile or
    // SELinux label apply to exec'd processes too.
    let spec = load_spec(&st.bundle)?;
    let proc_ = build_process(opts, spec.process.clone())?;
    // Refused here, before anything runs, when the LSM is not enabled.
    let lsm_exec = lsm::plan(
        &proc_,
        &Linux::default(),
        lsm::Host::detect(),
        Path::new("/proc/self/attr"),
    )?;
    let console = match (
        opts.tty || proc_.terminal.unwrap_or(false),
        &opts.console_socket,
    ) {
        (true, Some(path)) => Some(terminal::connect(path)?),
        (true, None) => {
            return Err(OciError::Unsupported(
                "exec --tty without --console-socket".into(),
            ));
        }
        (false, _) => None,
    };
    let cgroup = Cgroup::new(&st.cgroup_path)?;
    let filter = spec
        .linux
        .as_ref()
        .and_then(|l| l.seccomp.as_ref())
        .map(seccomp::compile)
        .transpose()?;

    // Open the init's namespaces before forking; skip those we share.
    let mut joins = Vec::new();
    for (name, flag) in NAMESPACES {
        let theirs = PathBuf::from(format!("/proc/{}/ns/{name}", st.pid));
        let ours = PathBuf::from(format!("/proc/self/ns/{name}"));
        let (Ok(t), Ok(o)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else {
            continue;
        };
        if t.ino() != o.ino() || t.dev() != o.dev() {
            let f = File::open(&theirs).map_err(|e| OciError::io("open namespace", &theirs, e))?;
            joins.push((flag, f));
        }
    }
    // Non-detached, like runc: be the process's reaper and pass on the
    // signals we get (a caller's timeout kills the process, not just us).
    // They are blocked now and read from a signalfd later; the children
    // restore the old mask.
    let mut old_mask = SigSet::empty();
    if !opts.detach {
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| OciError::sys("PR_SET_CHILD_SUBREAPER", e))?;
        sigprocmask(
            SigmaskHow::SIG_BLOCK,
            Some(&forwarded()),
            Some(&mut old_mask),
        )
        .map_err(|e| OciError::sys("block signals", e))?;
    }

    // Non-detached, the process must not outlive us (see `die_with`).
    let exec_parent = if opts.detach { None } else { own_pidfd() };
    let (mut parent, mut child_end) = Channel::pair()?;
    // SAFETY: cradle-oci is single-threaded, so the forked child is a
    // complete copy and may run Rust code until it execs or _exits.
    let intermediate = match unsafe { fork() }.map_err(|e| OciError::sys("fork", e))? {
        ForkResult::Child => exec_intermediate(
            &old_mask,
            &joins,
            &proc_,
            &ChildSetup {
                console: console.as_ref(),
                filter: filter.as_ref(),
                preserve_end,
                session_keyring: (!st.no_new_keyring).then(|| keyring::session_name(&st.id)),
                exec_parent: exec_parent.as_ref(),
                lsm_exec: &lsm_exec,
            },
            &mut child_end,
        ),
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
    if let Some(pf) = &opts.pid_file {
        let tmp = pf.with_extension("tmp-cradle-oci");
        std::fs::write(&tmp, pid.to_string()).map_err(|e| OciError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, pf).map_err(|e| OciError::io("rename", pf, e))?;
    }
    if opts.detach {
        return Ok(0);
    }
    wait_forwarding(pid)
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

/// The process to run: `--process` as given, or the container's process
/// with args, env, cwd and user overridden from the command line; either
/// way confined as `lsm::inherit` says.
fn build_process(opts: &ExecOptions, container: Option<Process>) -> Result<Process> {
    let mut p = base_process(opts, container.clone())?;
    lsm::inherit(
        &mut p,
        container.as_ref(),
        opts.apparmor.as_deref(),
        opts.process_label.as_deref(),
    );
    Ok(p)
}

fn base_process(opts: &ExecOptions, container: Option<Process>) -> Result<Process> {
    if let Some(path) = &opts.process {
        let data = std::fs::read(path).map_err(|e| OciError::io("read", path, e))?;
        return serde_json::from_slice(&data).map_err(|e| OciError::Spec {
            path: path.clone(),
            reason: e.to_string(),
        });
    }
    if opts.args.is_empty() {
        return Err(OciError::Unsupported("exec without a command".into()));
    }
    let mut p = container.unwrap_or_default();
    p.args = Some(opts.args.clone());
    // A terminal only with --tty, as runc: the container's own `terminal`
    // (a tty container) must not make every exec in it a tty exec.
    p.terminal = Some(opts.tty);
    p.env
        .get_or_insert_with(Vec::new)
        .extend(opts.env.iter().cloned());
    if let Some(cwd) = &opts.cwd {
        p.cwd = cwd.clone();
    }
    if let Some(u) = &opts.user {
        (p.user.uid, p.user.gid) = parse_user(u)?;
    }
    Ok(p)
}

/// `UID` or `UID:GID` (names are not resolved).
pub fn parse_user(s: &str) -> Result<(u32, u32)> {
    let bad = || OciError::Unsupported(format!("--user {s:?} (numeric UID[:GID] only)"));
    let (u, g) = s.split_once(':').unwrap_or((s, "0"));
    Ok((u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?))
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends a forked child without running destructors that
    // belong to the parent `cradle-oci exec` process.
    unsafe { libc::_exit(code) }
}

/// What the exec'd process sets up for itself inside the container.
struct ChildSetup<'a> {
    /// The pty's console socket in terminal mode.
    console: Option<&'a UnixStream>,
    /// The container's seccomp filter.
    filter: Option<&'a seccomp::Program>,
    /// See `hardening::check_preserved_fds`.
    preserve_end: u32,
    /// The container's session keyring to join (none after `create
    /// --no-new-keyring`), as runc's exec does.
    session_keyring: Option<String>,
    /// A pidfd of the non-detached `cradle-oci exec` the process dies with.
    exec_parent: Option<&'a OwnedFd>,
    /// The AppArmor profile or SELinux label to take at execve.
    lsm_exec: &'a lsm::ExecAttr,
}

/// A pidfd of this process (`None` on kernels before 5.3: no backstop).
fn own_pidfd() -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd (close
    // on exec) or -1; nothing is borrowed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the fd was just returned to us and is owned by nothing else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
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
    for (flag, f) in joins {
        if let Err(e) = nix::sched::setns(f, *flag) {
            let _ = chan.send(&Msg::Error(format!("setns {flag:?}: {e}")));
            exit(1);
        }
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

fn exec_process(p: &Process, setup: &ChildSetup, chan: &mut Channel) -> ! {
    match chan.recv() {
        Ok(Msg::Go) => {}
        _ => exit(1),
    }
    // Warnings go to the runtime's log through the parent, never to the
    // process's own stderr (the exec session's output).
    log::capture();
    let prepared = prepare(p, setup);
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

fn prepare(p: &Process, setup: &ChildSetup) -> Result<ExecArgs> {
    hardening::mark_fds_cloexec_from(setup.preserve_end)?;
    hardening::keep_preserved_fds(setup.preserve_end)?;
    if let Some(name) = &setup.session_keyring {
        keyring::join_existing_session(name)?;
    }
    if let Some(sock) = setup.console {
        nix::unistd::setsid().map_err(|e| OciError::sys("setsid", e))?;
        terminal::setup(sock, None)?;
    }
    process::apply_rlimits(p.rlimits.as_deref().unwrap_or(&[]))?;
    let cwd: &Path = &p.cwd;
    nix::unistd::chdir(cwd)
        .map_err(|e| OciError::sys(format!("chdir to cwd {}", cwd.display()), e))?;
    hardening::check_cwd_in_root()?;
    let args = p.args.clone().unwrap_or_default();
    let arg0 = args
        .first()
        .ok_or_else(|| OciError::Unsupported("process.args is empty".into()))?;
    let env = p.env.clone().unwrap_or_default();
    let exe = process::find_executable(arg0, &process::env_path(&env))?;
    let exec = ExecArgs::new(&exe, &args, &env)?;
    if setup.lsm_exec.0.is_some() {
        // We joined the container's mount and pid namespaces: make sure
        // its /proc is a real procfs before writing our attribute there.
        hardening::ensure_procfs(Path::new("/proc/self/attr"))?;
    }
    lsm::apply(setup.lsm_exec)?;
    let caps = p.capabilities.clone().unwrap_or_default();
    process::finish_credentials(p, &caps, setup.filter)?;
    Ok(exec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_parses_uid_and_optional_gid() {
        assert_eq!(parse_user("1000").unwrap(), (1000, 0));
        assert_eq!(parse_user("1000:2000").unwrap(), (1000, 2000));
        assert!(parse_user("nobody").is_err());
    }
}
