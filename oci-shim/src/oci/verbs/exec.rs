//! `cradle-oci exec`: run another process in a running container. It joins
//! the init's namespaces (those that differ from ours), its cgroup, and
//! takes the container process's user, capabilities and no_new_privs unless
//! a `--process` file says otherwise. Like runc, a non-detached exec is the
//! process's subreaper and exits with its status.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};

use crate::cgroups::Cgroup;
use crate::oci::bundle::load_spec;
use crate::oci::error::{OciError, Result};
use crate::oci::process::exec_process::{self, ChildSetup, own_pidfd};
use crate::oci::process::signals::{forwarded, wait_forwarding};
use crate::oci::process::terminal;
use crate::oci::security::{hardening, keyring, lsm, seccomp};
use crate::oci::state::{ContainerState, Status};
use crate::oci::verbs::pid_file::write_pid_file;
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
    check_running(&st, &opts.root)?;
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
    let joins = open_namespaces(st.pid)?;
    let old_mask = if opts.detach {
        SigSet::empty()
    } else {
        become_reaper()?
    };
    // Non-detached, the process must not outlive us (see `die_with`).
    let exec_parent = if opts.detach { None } else { own_pidfd() };
    let setup = ChildSetup {
        console: console.as_ref(),
        filter: filter.as_ref(),
        preserve_end,
        session_keyring: (!st.no_new_keyring).then(|| keyring::session_name(&st.id)),
        exec_parent: exec_parent.as_ref(),
        lsm_exec: &lsm_exec,
    };
    let pid = exec_process::spawn(&old_mask, &joins, &proc_, &setup, &cgroup)?;
    if let Some(pf) = &opts.pid_file {
        write_pid_file(pf, pid.as_raw())?;
    }
    if opts.detach {
        return Ok(0);
    }
    wait_forwarding(pid)
}

/// Refuses a stopped or paused container.
fn check_running(st: &ContainerState, root: &Path) -> Result<()> {
    let status = st.status(root)?;
    if status == Status::Stopped {
        return Err(OciError::NotRunning(st.id.clone()));
    }
    if status == Status::Paused {
        return Err(OciError::WrongStatus {
            id: st.id.clone(),
            status: status.as_str(),
            what: "cannot exec in a paused container",
        });
    }
    Ok(())
}

/// Opens the init's namespaces before forking, skipping those we share.
fn open_namespaces(init: i32) -> Result<Vec<(CloneFlags, File)>> {
    let theirs = PathBuf::from(format!("/proc/{init}/ns"));
    open_namespaces_in(&theirs, Path::new("/proc/self/ns"))
}

/// The namespace files of `theirs_dir` that are not those of `ours_dir`
/// (same device and inode: shared), opened, in [`NAMESPACES`] order.
fn open_namespaces_in(theirs_dir: &Path, ours_dir: &Path) -> Result<Vec<(CloneFlags, File)>> {
    let mut joins = Vec::new();
    for (name, flag) in NAMESPACES {
        let theirs = theirs_dir.join(name);
        let ours = ours_dir.join(name);
        let (Ok(t), Ok(o)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else {
            continue;
        };
        if t.ino() != o.ino() || t.dev() != o.dev() {
            let f = File::open(&theirs).map_err(|e| OciError::io("open namespace", &theirs, e))?;
            joins.push((flag, f));
        }
    }
    Ok(joins)
}

/// Non-detached, like runc: be the process's reaper and pass on the
/// signals we get (a caller's timeout kills the process, not just us).
/// They are blocked now and read from a signalfd later; the children
/// restore the old mask, returned here.
fn become_reaper() -> Result<SigSet> {
    let mut old_mask = SigSet::empty();
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| OciError::sys("PR_SET_CHILD_SUBREAPER", e))?;
    sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&forwarded()),
        Some(&mut old_mask),
    )
    .map_err(|e| OciError::sys("block signals", e))?;
    Ok(old_mask)
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

#[cfg(test)]
mod tests;
