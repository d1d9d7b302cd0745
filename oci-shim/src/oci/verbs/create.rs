//! `cradle-oci create`: everything up to a container whose init waits on
//! the exec FIFO. Each side effect (state directory, cgroup, init process)
//! is registered in a [`Rollback`] as it happens, so a failure anywhere
//! leaves nothing behind.

use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork};

use crate::cgroups::Cgroup;
use crate::oci::error::{OciError, Result};
use crate::oci::hooks::{self, Phase};
use crate::oci::log;
use crate::oci::process::channel::{Channel, Msg};
use crate::oci::process::init_process::{self as init, InitConfig};
use crate::oci::process::namespaces;
use crate::oci::process::terminal;
use crate::oci::process::userns;
use crate::oci::rootfs::devices;
use crate::oci::rootfs::idmap;
use crate::oci::rootfs::mounts::CgroupTarget;
use crate::oci::security::hardening;
use crate::oci::security::keyring;
use crate::oci::security::seccomp;
use crate::oci::state::{self, ContainerState, FIFO_FILE};
use crate::spec::{Linux, LinuxNamespaceType, Spec};

/// The arguments of `create`.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// `--root`.
    pub root: PathBuf,
    /// The container id.
    pub id: String,
    /// `--bundle` (holds config.json).
    pub bundle: PathBuf,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket` (terminal mode; not implemented yet).
    pub console_socket: Option<PathBuf>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`: keep the caller's session keyring instead of
    /// joining a new one named after the container (runc's default).
    pub no_new_keyring: bool,
    /// `--preserve-fds N`: descriptors 3..3+N pass to the container's
    /// process (after those of socket activation, `LISTEN_FDS`).
    pub preserve_fds: u32,
}

/// Undo list for a create in progress; disarmed on success.
#[derive(Default)]
struct Rollback {
    dir: Option<PathBuf>,
    cgroup: Option<Cgroup>,
    pid: Option<Pid>,
    /// The rootfs whose mounts an init without a mount namespace of its
    /// own made in ours.
    host_mounts: Option<PathBuf>,
}

impl Rollback {
    /// Forgets every undo (assigning a fresh value would run Drop).
    fn disarm(&mut self) {
        self.dir = None;
        self.cgroup = None;
        self.pid = None;
        self.host_mounts = None;
    }
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = kill(pid, Signal::SIGKILL);
        }
        if let Some(rootfs) = self.host_mounts.take()
            && let Err(e) = crate::oci::rootfs::pivot::detach_mounts_under(&rootfs)
        {
            log::warn(&format!("rollback: {e}"));
        }
        if let Some(cg) = self.cgroup.take() {
            for pid in cg.processes().unwrap_or_default() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            match cg.remove() {
                Ok(()) => remove_default_parent(cg.path()),
                Err(e) => log::warn(&format!("rollback: {e}")),
            }
        }
        if let Some(dir) = self.dir.take()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            log::warn(&format!("rollback: remove {}: {e}", dir.display()));
        }
    }
}

/// Loads and checks `<bundle>/config.json`.
pub fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = std::fs::read(&path).map_err(|e| OciError::Spec {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let spec: Spec = serde_json::from_slice(&data).map_err(|e| OciError::Spec {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let bad = |reason: &str| OciError::Spec {
        path: path.clone(),
        reason: reason.to_string(),
    };
    let process = spec.process.as_ref().ok_or_else(|| bad("no process"))?;
    if process.args.as_ref().is_none_or(|a| a.is_empty()) {
        return Err(bad("process.args is empty"));
    }
    if spec.root.is_none() {
        return Err(bad("no root"));
    }
    Ok(spec)
}

/// The parent of the cgroups of containers whose spec names none: made
/// by the launcher, so removed by it once its last container is deleted.
pub const DEFAULT_CGROUP_PARENT: &str = "/cradle-oci";

/// After the container's cgroup is gone: removes [`DEFAULT_CGROUP_PARENT`]
/// in every hierarchy where it is empty (no other container's cgroup in
/// it). A parent the spec named is someone else's, never touched.
pub(crate) fn remove_default_parent(cgroup_path: &str) {
    let parent = std::path::Path::new(cgroup_path).parent();
    if parent == Some(std::path::Path::new(DEFAULT_CGROUP_PARENT))
        && let Ok(cg) = Cgroup::new(DEFAULT_CGROUP_PARENT)
    {
        cg.remove_if_empty();
    }
}

/// The cgroup path for the container: the spec's, made absolute, or `/cradle-oci/<id>`.
pub fn cgroup_path(spec: &Spec, id: &str) -> String {
    match spec.linux.as_ref().and_then(|l| l.cgroups_path.as_ref()) {
        Some(p) if !p.as_os_str().is_empty() => {
            let s = p.to_string_lossy();
            if s.starts_with('/') {
                s.into_owned()
            } else {
                format!("/{s}")
            }
        }
        _ => format!("{DEFAULT_CGROUP_PARENT}/{id}"),
    }
}

/// Runs `create`; on success the init waits on the exec FIFO.
pub fn create(opts: &CreateOptions) -> Result<()> {
    state::validate_id(&opts.id)?;
    // Checked before the runtime opens anything that could fill a gap.
    let listen = listen_fds();
    let preserve_end = hardening::check_preserved_fds(
        opts.preserve_fds
            .checked_add(listen)
            .ok_or_else(|| OciError::Unsupported("LISTEN_FDS + --preserve-fds".into()))?,
    )?;
    let bundle =
        std::fs::canonicalize(&opts.bundle).map_err(|e| OciError::io("bundle", &opts.bundle, e))?;
    let mut spec = load_spec(&bundle)?;
    if listen > 0
        && let Some(p) = spec.process.as_mut()
    {
        // As runc: the container's process is the activated service.
        let env = p.env.get_or_insert_with(Vec::new);
        env.push(format!("LISTEN_FDS={listen}"));
        env.push("LISTEN_PID=1".into());
    }
    let linux = spec.linux.clone().unwrap_or_default();
    let terminal = spec
        .process
        .as_ref()
        .and_then(|p| p.terminal)
        .unwrap_or(false);
    let console = match (terminal, &opts.console_socket) {
        (true, Some(path)) => Some(terminal::connect(path)?),
        (true, None) => {
            return Err(OciError::Unsupported(
                "process.terminal without --console-socket".into(),
            ));
        }
        (false, Some(_)) => {
            return Err(OciError::Unsupported(
                "--console-socket without process.terminal".into(),
            ));
        }
        (false, None) => None,
    };
    if let Some(caps) = spec.process.as_ref().and_then(|p| p.capabilities.as_ref()) {
        crate::oci::process::credentials::check_grantable(caps)?;
    }
    let lsm_exec = match spec.process.as_ref() {
        Some(p) => crate::oci::security::lsm::plan(
            p,
            &linux,
            crate::oci::security::lsm::Host::detect(),
            Path::new("/proc/self/attr"),
        )?,
        None => crate::oci::security::lsm::ExecAttr::default(),
    };
    if let Some(label) = linux.mount_label.as_deref().filter(|l| !l.is_empty())
        && let Some(mounts) = spec.mounts.as_mut()
    {
        crate::oci::security::lsm::label_mounts(mounts, label);
    }
    // Compiled here, so a bad profile fails before anything is created.
    let seccomp = linux.seccomp.as_ref().map(seccomp::compile).transpose()?;

    let root_path = spec
        .root
        .as_ref()
        .map(|r| r.path.clone())
        .unwrap_or_default();
    let rootfs_raw = if root_path.is_absolute() {
        root_path
    } else {
        bundle.join(root_path)
    };
    let rootfs =
        std::fs::canonicalize(&rootfs_raw).map_err(|e| OciError::io("rootfs", &rootfs_raw, e))?;
    let ns = namespaces::plan(linux.namespaces.as_deref().unwrap_or(&[]))?;
    refuse_names_on_host_uts(&spec, &linux)?;
    // Made here, in the host's namespaces; the init attaches them.
    let idmapped = idmap::prepare(
        spec.mounts.as_deref().unwrap_or(&[]),
        &linux,
        ns.new_user || ns.join_user,
    )?;
    let cgroup = Cgroup::new(&cgroup_path(&spec, &opts.id))?;

    let mut rb = Rollback::default();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(&opts.root)
        .map_err(|e| OciError::io("mkdir", &opts.root, e))?;
    let dir = state::container_dir(&opts.root, &opts.id)?;
    match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
        Ok(()) => rb.dir = Some(dir.clone()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(OciError::AlreadyExists(opts.id.clone()));
        }
        Err(e) => return Err(OciError::io("mkdir", &dir, e)),
    }
    let fifo_path = dir.join(FIFO_FILE);
    nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o622))
        .map_err(|e| OciError::sys(format!("mkfifo {}", fifo_path.display()), e))?;
    // mkfifo is subject to the umask; the init may run as any user.
    std::fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .map_err(|e| OciError::io("chmod", &fifo_path, e))?;
    let fifo: OwnedFd = open(&fifo_path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| OciError::sys(format!("open {}", fifo_path.display()), e))?;

    let cfg = InitConfig {
        spec: spec.clone(),
        rootfs,
        ns,
        cgroup: CgroupTarget {
            hierarchy: cgroup.hierarchy().clone(),
            path: cgroup.path().to_string(),
        },
        no_pivot: opts.no_pivot,
        session_keyring: (!opts.no_new_keyring).then(|| keyring::session_name(&opts.id)),
        fifo,
        console,
        seccomp,
        lsm_exec,
        idmapped,
        preserve_end,
    };
    let (mut parent_end, child_end) = Channel::pair()?;
    let pid = spawn(&cfg, &mut parent_end, child_end)?;
    rb.pid = Some(pid);
    if cfg.ns.mount_ns() == namespaces::MountNs::Inherited {
        rb.host_mounts = Some(cfg.rootfs.clone());
    }

    // Registered first: a create that fails half-way (one controller of
    // several) must still be undone.
    rb.cgroup = Some(cgroup.clone());
    cgroup.create()?;
    // Like runc, the standard devices (and the spec's own device nodes)
    // are always allowed, whatever the spec's device rules say. One
    // apply with all the rules: on v2 they become one eBPF program.
    let mut res = linux.resources.clone().unwrap_or_default();
    let mut rules = res.devices.take().unwrap_or_default();
    rules.extend(
        devices::always_allowed(linux.devices.as_deref().unwrap_or(&[]))
            .devices
            .unwrap_or_default(),
    );
    res.devices = Some(rules);
    for warning in cgroup.apply(&res)? {
        log::warn(&format!("container {}: {warning}", opts.id));
    }
    let device_rules = res.devices.take().unwrap_or_default();
    cgroup.add_process(pid.as_raw())?;
    if let Some(adj) = spec.process.as_ref().and_then(|p| p.oom_score_adj) {
        write_oom_score_adj(pid, adj)?;
    }
    let annotations = spec.annotations.clone().unwrap_or_default();
    let creating = hooks::state_json(&opts.id, "creating", pid.as_raw(), &bundle, &annotations);
    if hooks::any_at_create(&spec) || !hooks::of(&spec, Phase::StartContainer).is_empty() {
        parent_end.send(&Msg::State(creating.clone()))?;
    }
    parent_end.send(&Msg::Go)?;
    let reply = loop {
        match parent_end.recv().map_err(|e| oom_at_start(&cgroup, e))? {
            Msg::Warn(w) => log::warn(&w),
            Msg::Hooks => {
                // The init has mounted everything and waits before pivot_root.
                // A failing hook destroys the container; the spec then
                // continues with the poststop hooks.
                // The status each hook reads (runc and crun differ): the
                // deprecated prestart hooks get `created`, as crun gives them
                // and as the spec's own conformance suite (runtime-tools'
                // hooks_stdin) checks: they date from when they ran at start,
                // on a created container, and hooks written then expect
                // that. createRuntime, the lifecycle's hook of this moment,
                // gets `creating`, what `state` would say now (runc, and the
                // runtime-spec's definition of the status).
                let created = creating.replacen("\"creating\"", "\"created\"", 1);
                let ran = hooks::run(&spec, Phase::Prestart, &created)
                    .and_then(|()| hooks::run(&spec, Phase::CreateRuntime, &creating));
                if let Err(e) = ran {
                    let stopped = creating.replacen("\"creating\"", "\"stopped\"", 1);
                    hooks::run_warn(&spec, Phase::Poststop, &stopped);
                    return Err(e);
                }
                parent_end.send(&Msg::Go)?;
            }
            other => break other,
        }
    };
    match reply {
        Msg::Ready => {}
        Msg::Error(e) => return Err(OciError::Init(e)),
        other => return Err(OciError::Init(format!("unexpected message {other:?}"))),
    }

    let start = state::read_proc_stat(pid.as_raw())
        .map(|(_, t)| t)
        .ok_or_else(|| OciError::Init("the container process exited during create".into()))?;
    let st = ContainerState {
        id: opts.id.clone(),
        pid: pid.as_raw(),
        init_start_time: start,
        bundle,
        cgroup_path: cgroup.path().to_string(),
        annotations,
        device_rules,
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        no_new_keyring: opts.no_new_keyring,
        poststart: hooks::of(&spec, Phase::Poststart),
        poststop: hooks::of(&spec, Phase::Poststop),
        host_mounts_under: (cfg.ns.mount_ns() == namespaces::MountNs::Inherited)
            .then(|| cfg.rootfs.clone()),
    };
    st.save(&opts.root)?;
    if let Some(pf) = &opts.pid_file {
        write_pid_file(pf, pid.as_raw())?;
    }
    rb.disarm();
    Ok(())
}

/// An init that died before reporting may have been killed by the OOM
/// killer under the container's memory limit (its own set-up pages count):
/// say so, rather than only that it died.
fn oom_at_start(cgroup: &Cgroup, error: OciError) -> OciError {
    match cgroup.oom_kill_count() {
        Ok(kills) if kills > 0 => OciError::Init(format!(
            "OOM-killed at start: the container's memory limit is too small for its process to start ({error})"
        )),
        _ => error,
    }
}

/// Forks the intermediate process, which enters the namespaces and forks
/// the init; returns the init's host pid.
fn spawn(cfg: &InitConfig, parent: &mut Channel, child_end: Channel) -> Result<Pid> {
    let mut child_end = child_end;
    // SAFETY: cradle-oci is single-threaded (no async runtime, no threads
    // spawned), so the child is a complete copy and may run Rust code.
    match unsafe { fork() }.map_err(|e| OciError::sys("fork intermediate", e))? {
        ForkResult::Child => intermediate(cfg, &mut child_end),
        ForkResult::Parent { child } => {
            // Our copy must go, so EOF means the children died.
            drop(child_end);
            let mut msg = parent.recv();
            if let Ok(Msg::Maps) = msg {
                let linux = cfg.spec.linux.clone().unwrap_or_default();
                msg = match userns::write_for(
                    child.as_raw(),
                    &linux,
                    cfg.ns.new_user,
                    cfg.ns.new_time,
                ) {
                    Ok(()) => parent.send(&Msg::Go).and_then(|()| parent.recv()),
                    Err(e) => {
                        let _ = kill(child, Signal::SIGKILL);
                        Err(e)
                    }
                };
            }
            // The intermediate's only job is to report; reap it now.
            let _ = waitpid(child, None);
            match msg? {
                Msg::Pid(p) => Ok(Pid::from_raw(p)),
                Msg::Error(e) => Err(OciError::Init(e)),
                other => Err(OciError::Init(format!("unexpected message {other:?}"))),
            }
        }
    }
}

fn intermediate(cfg: &InitConfig, chan: &mut Channel) -> ! {
    let exit = |code| -> ! {
        // SAFETY: _exit ends the forked intermediate without running
        // destructors that belong to the `create` process (its rollback).
        unsafe { libc::_exit(code) }
    };
    // Before joining anything: the host binary behind our /proc/<pid>/exe
    // must not be reachable from the container (CVE-2019-5736 class).
    if let Err(e) = hardening::make_non_dumpable() {
        let _ = chan.send(&Msg::Error(e.to_string()));
        exit(1);
    }
    let entered = namespaces::join(&cfg.ns)
        .and_then(|()| namespaces::unshare(&cfg.ns))
        .and_then(|()| {
            if cfg.ns.new_user || cfg.ns.new_time {
                userns::request_maps(chan)
            } else {
                Ok(())
            }
        })
        .and_then(|()| {
            if cfg.ns.new_user || cfg.ns.join_user {
                userns::become_root()
            } else {
                Ok(())
            }
        });
    if let Err(e) = entered {
        let _ = chan.send(&Msg::Error(e.to_string()));
        exit(1);
    }
    // SAFETY: still single-threaded; see `spawn`.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => init::run(cfg, chan),
        Ok(ForkResult::Parent { child }) => {
            let code = if chan.send(&Msg::Pid(child.as_raw())).is_ok() {
                0
            } else {
                1
            };
            exit(code)
        }
        Err(e) => {
            let _ = chan.send(&Msg::Error(format!("fork init: {e}")));
            exit(1)
        }
    }
}

/// Socket activation: `LISTEN_FDS` in our environment (set by systemd or
/// a caller acting like it) names descriptors 3.. to hand on, as runc does.
fn listen_fds() -> u32 {
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Writes oom_score_adj; lowering it needs CAP_SYS_RESOURCE, so a refused
/// lower value keeps the current one with a warning instead of failing.
fn write_oom_score_adj(pid: Pid, adj: i32) -> Result<()> {
    let path = format!("/proc/{pid}/oom_score_adj");
    match std::fs::write(&path, adj.to_string()) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) => {
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            log::warn(&format!(
                "oom_score_adj {adj} refused ({e}); keeping {}",
                current.trim()
            ));
            Ok(())
        }
        Err(e) => Err(OciError::io("write", path, e)),
    }
}

/// Writes the pid file atomically, as runc does (callers poll for it).
fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("tmp-cradle-oci");
    std::fs::write(&tmp, pid.to_string()).map_err(|e| OciError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| OciError::io("rename", path, e))
}

/// As runc: a hostname or domain name needs a UTS namespace of the
/// container's (new or joined); setting it in the host's would rename the
/// node.
fn refuse_names_on_host_uts(spec: &Spec, linux: &Linux) -> Result<()> {
    let has_uts = linux
        .namespaces
        .iter()
        .flatten()
        .any(|ns| ns.typ == LinuxNamespaceType::Uts);
    for (field, value) in [
        ("hostname", &spec.hostname),
        ("domainname", &spec.domainname),
    ] {
        if !has_uts && value.as_deref().is_some_and(|v| !v.is_empty()) {
            return Err(OciError::Unsupported(format!(
                "{field}: setting it needs a UTS namespace of the container's \
                 (linux.namespaces has no uts entry)"
            )));
        }
    }
    Ok(())
}
