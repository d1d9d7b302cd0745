//! The container's init process, from "go" to execve. Every step runs in
//! the new mount namespace; the order follows runc: mounts, /dev, pivot,
//! hardening, kernel settings, then credentials and capabilities last (they
//! take away the power to do the rest).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;

use crate::oci::error::{OciError, Result};
use crate::oci::hooks::{self, Phase};
use crate::oci::log;
use crate::oci::process::channel::Channel;
use crate::oci::process::credentials;
use crate::oci::process::exec_args::{ExecArgs, enter_cwd_and_find_exe};
use crate::oci::process::kernel_settings;
use crate::oci::process::message::Msg;
use crate::oci::process::namespaces::{MountNs, NsPlan};
use crate::oci::process::terminal;
use crate::oci::rootfs::confined::RootDir;
use crate::oci::rootfs::mounts::{self, CgroupTarget, IdmapTrees};
use crate::oci::rootfs::{devices, masked_paths, pivot, prepare};
use crate::oci::security::{hardening, keyring, lsm, seccomp};
use crate::oci::syscall::{Kernel, Syscall};
use crate::spec::{Linux, Spec};

/// Everything the init needs, prepared by `create` before forking.
pub(crate) struct InitConfig {
    /// The parsed bundle config.
    pub spec: Spec,
    /// Absolute host path of the rootfs.
    pub rootfs: PathBuf,
    /// Namespaces decided by `create`.
    pub ns: NsPlan,
    /// The container's cgroup, for `cgroup` mounts.
    pub cgroup: CgroupTarget,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// The session keyring to join (`_ses.<id>`), none with `--no-new-keyring`.
    pub session_keyring: Option<String>,
    /// An O_PATH descriptor of the exec FIFO, opened before pivot_root.
    pub fifo: OwnedFd,
    /// The connected console socket in terminal mode.
    pub console: Option<UnixStream>,
    /// The compiled `linux.seccomp` filter.
    pub seccomp: Option<seccomp::Program>,
    /// The AppArmor profile or SELinux label to exec under.
    pub lsm_exec: lsm::ExecAttr,
    /// Detached id-mapped trees for the spec's id-mapped bind mounts.
    pub idmapped: IdmapTrees,
    /// The first descriptor not passed on (`--preserve-fds`, `LISTEN_FDS`):
    /// 3 up to here stay open across execve.
    pub preserve_end: u32,
}

/// Runs the init; never returns. Exits 1 on a setup failure (after telling
/// `create` why) and 127 when execve itself fails.
pub(crate) fn run(cfg: &InitConfig, chan: &mut Channel) -> ! {
    // The hooks' state JSON comes first when the spec has hooks.
    let mut state = String::new();
    loop {
        match chan.recv() {
            Ok(Msg::Go) => break,
            Ok(Msg::State(s)) => state = s,
            _ => exit(1),
        }
    }
    log::capture();
    let result = setup(&Kernel, cfg, chan, &state);
    for w in log::take_captured() {
        let _ = chan.send(&Msg::Warn(w));
    }
    let exec = match result {
        Ok(exec) => exec,
        Err(e) => {
            let _ = chan.send(&Msg::Error(e.to_string()));
            exit(1);
        }
    };
    if chan.send(&Msg::Ready).is_err() {
        exit(1);
    }
    if let Err(e) = wait_for_start(&cfg.fifo, &cfg.spec, &state) {
        log::error(&e.to_string());
        exit(1);
    }
    let err = exec.exec();
    log::error(&err.to_string());
    exit(127)
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends this forked process without running the parent's
    // atexit handlers or destructors, which belong to the `create` process.
    unsafe { libc::_exit(code) }
}

/// Blocks in open(2) until `start` opens the FIFO for reading, runs the
/// startContainer hooks, then writes the byte that tells `start` we are
/// about to exec (a failing hook makes us exit without it, so `start`
/// fails).
fn wait_for_start(fifo: &OwnedFd, spec: &Spec, creating: &str) -> Result<()> {
    // /proc is the container's by now: make sure it is a real procfs
    // before trusting its magic link to the FIFO.
    hardening::ensure_procfs(std::path::Path::new("/proc/self/fd"))?;
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let fd = open(
        path.as_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| OciError::sys("open exec fifo", e))?;
    let created = creating.replacen("\"creating\"", "\"created\"", 1);
    hooks::run(spec, Phase::StartContainer, &created)?;
    nix::unistd::write(&fd, b"0").map_err(|e| OciError::sys("write exec fifo", e))?;
    Ok(())
}

/// The init's set-up, in runc's order; returns what to exec once `start`
/// comes. Every call that changes the process or the system goes through
/// `sys`, so each phase's calls for a spec are tested without root.
fn setup<S: Syscall>(
    sys: &S,
    cfg: &InitConfig,
    chan: &mut Channel,
    state: &str,
) -> Result<ExecArgs> {
    let spec = &cfg.spec;
    let linux = spec.linux.clone().unwrap_or_default();
    let proc_ = spec
        .process
        .as_ref()
        .ok_or_else(|| OciError::Unsupported("spec without process".into()))?;

    // A session of its own, like runc: no terminal of the caller's, and the
    // right to take the pty as controlling terminal in terminal mode.
    sys.setsid().map_err(|e| OciError::sys("setsid", e))?;
    // And, like runc, a session keyring of its own: not the caller's.
    if let Some(name) = &cfg.session_keyring {
        keyring::join_new_session(sys, name, cfg.ns.new_user || cfg.ns.join_user)?;
    }
    // First, before any path is opened: nothing inherited from the caller
    // may survive execve (CVE-2024-21626 class), but what it passed on.
    sys.mark_fds_cloexec_from(cfg.preserve_end)?;
    if cfg.ns.new_cgroup {
        sys.unshare(CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| OciError::sys("unshare cgroup", e))?;
    }
    prepare_rootfs(sys, cfg, &linux, &proc_.cwd)?;
    if hooks::any_at_create(spec) {
        // prestart and createRuntime run in `create`, while we wait.
        chan.send(&Msg::Hooks)?;
        match chan.recv()? {
            Msg::Go => {}
            other => return Err(OciError::Init(format!("unexpected message {other:?}"))),
        }
        hooks::run(spec, Phase::CreateContainer, state)?;
    }
    switch_root(sys, cfg, &linux)?;
    if let Some(sock) = &cfg.console {
        let size = proc_
            .console_size
            .map(|b| (clamp_u16(b.height), clamp_u16(b.width)));
        terminal::setup(sys, sock, size)?;
    }
    if let Some(sysctls) = &linux.sysctl {
        kernel_settings::apply_sysctls(sys, sysctls)?;
    }
    protect_paths(sys, spec, &linux)?;
    kernel_settings::apply_rlimits(sys, proc_.rlimits.as_deref().unwrap_or(&[]))?;
    let exec = enter_cwd_and_find_exe(sys, proc_)?;
    // /proc is the container's (checked a real procfs by the hardening
    // above); the attribute takes effect at execve.
    lsm::apply(sys, &cfg.lsm_exec)?;
    let caps = proc_.capabilities.clone().unwrap_or_default();
    sys.reset_signals()?;
    credentials::finish_credentials(sys, proc_, &caps, cfg.seccomp.as_ref())?;
    // Again at the end: descriptors opened during set-up (none should
    // lack O_CLOEXEC, but this is the last word before execve).
    sys.mark_fds_cloexec_from(cfg.preserve_end)?;
    sys.keep_preserved_fds(cfg.preserve_end)?;
    Ok(exec)
}

/// Before the hooks and the root switch: the rootfs bind and propagation,
/// the spec's mounts, /dev when it is a fresh tmpfs, the host and domain
/// names in a new UTS namespace, and the working directory (created when
/// missing, as runc does: images often name a WORKDIR their layers never
/// made), confined to the rootfs.
pub(crate) fn prepare_rootfs(
    sys: &impl Syscall,
    cfg: &InitConfig,
    linux: &Linux,
    cwd: &Path,
) -> Result<()> {
    let spec = &cfg.spec;
    if cfg.ns.mount_ns() == MountNs::Inherited {
        prepare::prepare_inherited(sys, &cfg.rootfs)?;
    } else {
        prepare::prepare(sys, &cfg.rootfs, linux.rootfs_propagation.as_deref())?;
    }
    // Opened after the self-bind, so lookups see the rootfs mount.
    let root = RootDir::open(&cfg.rootfs)?;
    let spec_mounts = spec.mounts.clone().unwrap_or_default();
    mounts::mount_all(
        sys,
        &root,
        &spec_mounts,
        &cfg.cgroup,
        cfg.ns.new_user || cfg.ns.join_user,
        &cfg.idmapped,
    )?;
    let dev_is_tmpfs = spec_mounts
        .iter()
        .any(|m| m.destination.as_os_str() == "/dev" && m.typ.as_deref() == Some("tmpfs"));
    if dev_is_tmpfs {
        devices::setup_dev(sys, &cfg.rootfs, linux.devices.as_deref().unwrap_or(&[]))?;
    }
    if cfg.ns.new_uts {
        set_names(sys, spec)?;
    }
    drop(root.mkdir_all(cwd)?);
    Ok(())
}

/// The spec's hostname and (when not empty) domain name.
fn set_names(sys: &impl Syscall, spec: &Spec) -> Result<()> {
    if let Some(h) = &spec.hostname {
        sys.sethostname(h)
            .map_err(|e| OciError::sys(format!("sethostname {h}"), e))?;
    }
    if let Some(d) = spec.domainname.as_deref().filter(|d| !d.is_empty()) {
        sys.setdomainname(d)
            .map_err(|e| OciError::sys(format!("setdomainname {d}"), e))?;
    }
    Ok(())
}

/// The root switch: chroot without a mount namespace of the container's,
/// MS_MOVE with `--no-pivot`, pivot_root otherwise; then the spec's
/// propagation for the new `/`.
pub(crate) fn switch_root(sys: &impl Syscall, cfg: &InitConfig, linux: &Linux) -> Result<()> {
    if cfg.ns.mount_ns() == MountNs::Inherited {
        pivot::chroot_into(sys, &cfg.rootfs)?;
    } else if cfg.no_pivot {
        pivot::move_root(sys, &cfg.rootfs)?;
    } else {
        pivot::pivot(sys, &cfg.rootfs)?;
    }
    pivot::apply_root_propagation(sys, linux.rootfs_propagation.as_deref())
}

/// After the root switch: masked paths, read-only paths, a read-only root.
pub(crate) fn protect_paths(sys: &impl Syscall, spec: &Spec, linux: &Linux) -> Result<()> {
    masked_paths::mask_paths(sys, linux.masked_paths.as_deref().unwrap_or(&[]))?;
    masked_paths::readonly_paths(sys, linux.readonly_paths.as_deref().unwrap_or(&[]))?;
    if spec.root.as_ref().and_then(|r| r.readonly).unwrap_or(false) {
        masked_paths::readonly_root(sys)?;
    }
    Ok(())
}

fn clamp_u16(v: u64) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests;
