//! `cradle-oci create`: everything up to a container whose init waits on
//! the exec FIFO. This verb checks the bundle and plans what it can before
//! anything exists (console, capabilities, LSM, seccomp, namespaces,
//! id-mapped trees), makes the state directory and the exec FIFO, and
//! hands over to `crate::oci::process::main_process`, which runs the
//! chain. Each side effect is registered in a
//! `Rollback`, so a failure anywhere leaves nothing behind.

use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

use crate::cgroups::Cgroup;
use crate::oci::bundle::load_spec;
use crate::oci::container_cgroup::container_cgroup;
use crate::oci::error::{OciError, Result};
use crate::oci::hooks::{self, Phase};
use crate::oci::process::init_process::InitConfig;
use crate::oci::process::main_process::{self, Started};
use crate::oci::process::namespaces::{self, MountNs};
use crate::oci::process::rollback::Rollback;
use crate::oci::process::terminal;
use crate::oci::rootfs::idmap;
use crate::oci::rootfs::mounts::{CgroupTarget, IdmapTrees};
use crate::oci::security::{capabilities, hardening, keyring, lsm, seccomp};
use crate::oci::state::{self, ContainerState, FIFO_FILE};
use crate::oci::syscall::Kernel;
use crate::oci::verbs::pid_file::write_pid_file;
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
    /// `--systemd-cgroup`: the cgroup is a systemd scope, `cgroupsPath`
    /// is `slice:prefix:name`.
    pub systemd_cgroup: bool,
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
    let planned = plan(opts, &bundle, spec)?;
    // Before anything exists: a driver the host cannot give is refused here.
    let cgroup = container_cgroup(&planned.spec, &opts.id, opts.systemd_cgroup)?;
    let mut rb = Rollback::default();
    let fifo = make_state_dir(opts, &mut rb)?;
    let cfg = InitConfig {
        spec: planned.spec,
        rootfs: planned.rootfs,
        ns: planned.ns,
        cgroup: CgroupTarget {
            hierarchy: cgroup.hierarchy().clone(),
            path: cgroup.path().to_string(),
        },
        no_pivot: opts.no_pivot,
        session_keyring: (!opts.no_new_keyring).then(|| keyring::session_name(&opts.id)),
        fifo,
        console: planned.console,
        seccomp: planned.seccomp,
        lsm_exec: planned.lsm_exec,
        idmapped: planned.idmapped,
        preserve_end,
    };
    let started = main_process::start(&Kernel, &cfg, &opts.id, &bundle, &cgroup, &mut rb)?;
    save_state(opts, &cfg, bundle, &cgroup, started)?;
    rb.disarm();
    Ok(())
}

/// What `create` decides before anything exists.
struct Planned {
    spec: Spec,
    rootfs: PathBuf,
    ns: namespaces::NsPlan,
    console: Option<UnixStream>,
    seccomp: Option<seccomp::Program>,
    lsm_exec: lsm::ExecAttr,
    idmapped: IdmapTrees,
}

/// Everything decided before anything exists: a bad console, capability,
/// LSM setting, seccomp profile, rootfs or namespace list fails here.
fn plan(opts: &CreateOptions, bundle: &Path, mut spec: Spec) -> Result<Planned> {
    let linux = spec.linux.clone().unwrap_or_default();
    let console = connect_console(&spec, opts.console_socket.as_deref())?;
    if let Some(caps) = spec.process.as_ref().and_then(|p| p.capabilities.as_ref()) {
        capabilities::check_grantable(caps)?;
    }
    let lsm_exec = match spec.process.as_ref() {
        Some(p) => lsm::plan(p, &linux, lsm::Host::detect(), Path::new("/proc/self/attr"))?,
        None => lsm::ExecAttr::default(),
    };
    if let Some(label) = linux.mount_label.as_deref().filter(|l| !l.is_empty())
        && let Some(mounts) = spec.mounts.as_mut()
    {
        lsm::label_mounts(mounts, label);
    }
    // Compiled here, so a bad profile fails before anything is created.
    let seccomp = linux.seccomp.as_ref().map(seccomp::compile).transpose()?;
    let rootfs = rootfs_path(&spec, bundle)?;
    let ns = namespaces::plan(linux.namespaces.as_deref().unwrap_or(&[]))?;
    refuse_names_on_host_uts(&spec, &linux)?;
    // Made here, in the host's namespaces; the init attaches them.
    let idmapped = idmap::prepare(
        spec.mounts.as_deref().unwrap_or(&[]),
        &linux,
        ns.new_user || ns.join_user,
    )?;
    Ok(Planned {
        spec,
        rootfs,
        ns,
        console,
        seccomp,
        lsm_exec,
        idmapped,
    })
}

/// Terminal mode needs both `process.terminal` and `--console-socket`;
/// either alone is refused.
fn connect_console(spec: &Spec, socket: Option<&Path>) -> Result<Option<UnixStream>> {
    let terminal = spec
        .process
        .as_ref()
        .and_then(|p| p.terminal)
        .unwrap_or(false);
    match (terminal, socket) {
        (true, Some(path)) => Ok(Some(terminal::connect(path)?)),
        (true, None) => Err(OciError::Unsupported(
            "process.terminal without --console-socket".into(),
        )),
        (false, Some(_)) => Err(OciError::Unsupported(
            "--console-socket without process.terminal".into(),
        )),
        (false, None) => Ok(None),
    }
}

/// `root.path`, relative to the bundle unless absolute, canonicalized.
fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
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
    std::fs::canonicalize(&rootfs_raw).map_err(|e| OciError::io("rootfs", &rootfs_raw, e))
}

/// Makes `<root>/<id>` (registered in `rb`) and the exec FIFO in it;
/// returns an O_PATH descriptor of the FIFO for the init.
fn make_state_dir(opts: &CreateOptions, rb: &mut Rollback) -> Result<OwnedFd> {
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
    open(&fifo_path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| OciError::sys(format!("open {}", fifo_path.display()), e))
}

/// Records the created container (`state.json`) and writes `--pid-file`.
fn save_state(
    opts: &CreateOptions,
    cfg: &InitConfig,
    bundle: PathBuf,
    cgroup: &Cgroup,
    started: Started,
) -> Result<()> {
    let pid = started.pid;
    let spec = &cfg.spec;
    let start = state::read_proc_stat(pid.as_raw())
        .map(|(_, t)| t)
        .ok_or_else(|| OciError::Init("the container process exited during create".into()))?;
    let st = ContainerState {
        id: opts.id.clone(),
        pid: pid.as_raw(),
        init_start_time: start,
        bundle,
        cgroup_path: cgroup.path().to_string(),
        annotations: spec.annotations.clone().unwrap_or_default(),
        device_rules: started.device_rules,
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        no_new_keyring: opts.no_new_keyring,
        poststart: hooks::of(spec, Phase::Poststart),
        poststop: hooks::of(spec, Phase::Poststop),
        host_mounts_under: (cfg.ns.mount_ns() == MountNs::Inherited).then(|| cfg.rootfs.clone()),
        systemd_unit: cgroup.systemd_unit().map(str::to_string),
    };
    st.save(&opts.root)?;
    if let Some(pf) = &opts.pid_file {
        write_pid_file(pf, pid.as_raw())?;
    }
    Ok(())
}

/// Socket activation: `LISTEN_FDS` in our environment (set by systemd or
/// a caller acting like it) names descriptors 3.. to hand on, as runc does.
fn listen_fds() -> u32 {
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
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
