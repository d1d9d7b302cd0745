//! The last steps of the init, in the order runc takes them: hostname,
//! sysctls, rlimits, working directory, executable lookup, credentials,
//! capabilities, no_new_privs, and finally execve.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use caps::{CapSet, Capability as Cap};
use nix::unistd::{Gid, Uid};

use crate::oci::error::{OciError, Result};
use crate::oci::log;
use crate::oci::security::hardening;
use crate::oci::security::seccomp;
use crate::spec::{LinuxCapabilities, PosixRlimit, PosixRlimitType, Process, User};

/// Writes each sysctl under `/proc/sys` (`net.ipv4.ip_forward` → `net/ipv4/ip_forward`).
pub(crate) fn apply_sysctls(sysctls: &HashMap<String, String>) -> Result<()> {
    for (key, value) in sysctls {
        if key.contains("..") || key.starts_with('/') || key.is_empty() {
            return Err(OciError::Unsupported(format!("sysctl key {key:?}")));
        }
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        hardening::write_proc_file(&path, value)?;
    }
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Sets each rlimit; a hard limit above what this process may raise to
/// (no CAP_SYS_RESOURCE) is clamped to the current hard limit, with a warning.
pub(crate) fn apply_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for r in rlimits {
        let res = rlimit_resource(r.typ);
        let want = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        // SAFETY: `want` is a valid rlimit struct that outlives the call.
        if unsafe { libc::setrlimit(res, &want) } == 0 {
            continue;
        }
        let err = nix::Error::last();
        if err != nix::Error::EPERM {
            return Err(OciError::sys(format!("setrlimit {:?}", r.typ), err));
        }
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `cur` is a valid, writable rlimit struct.
        if unsafe { libc::getrlimit(res, &mut cur) } != 0 {
            return Err(OciError::sys(
                format!("getrlimit {:?}", r.typ),
                nix::Error::last(),
            ));
        }
        let clamped = libc::rlimit {
            rlim_cur: r.soft.min(cur.rlim_max),
            rlim_max: r.hard.min(cur.rlim_max),
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(res, &clamped) } != 0 {
            return Err(OciError::sys(
                format!("setrlimit {:?}", r.typ),
                nix::Error::last(),
            ));
        }
        log::warn(&format!(
            "rlimit {:?}: cannot raise to {}/{}, clamped to {}/{}",
            r.typ, r.soft, r.hard, clamped.rlim_cur, clamped.rlim_max
        ));
    }
    Ok(())
}

/// The value of `PATH` in the spec's environment (runc's default otherwise).
pub(crate) fn env_path(env: &[String]) -> String {
    env.iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .to_string()
}

/// Resolves `arg0` like execvp: a name with `/` is taken as is (relative
/// to the cwd), otherwise the first executable regular file on `path`.
pub(crate) fn find_executable(arg0: &str, path: &str) -> Result<PathBuf> {
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return if is_exec(&p) {
            Ok(p)
        } else {
            Err(OciError::Setup(format!(
                "exec: {arg0:?}: no such executable file"
            )))
        };
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(arg0))
        .find(|p| is_exec(p))
        .ok_or_else(|| {
            OciError::Setup(format!(
                "exec: {arg0:?}: executable file not found in $PATH"
            ))
        })
}

/// A spec set as a set (empty when absent). [`check_grantable`] has
/// refused, at create, any capability the kernel or the runtime lacks.
pub(crate) fn to_caps(set: Option<&HashSet<Cap>>) -> Result<HashSet<Cap>> {
    Ok(set.cloned().unwrap_or_default())
}

/// Refuses, naming them, the capabilities of any set that cannot be
/// granted: unknown to this kernel (above `/proc/sys/kernel/cap_last_cap`)
/// or outside the runtime's own bounding set (a host whose root lacks
/// CAP_SYS_RESOURCE, say). As runc and crun: a container that asked for
/// a capability must not run without it, silently or with a warning.
pub(crate) fn check_grantable(caps: &LinuxCapabilities) -> Result<()> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .map_err(|e| OciError::io("read", "/proc/sys/kernel/cap_last_cap", e))?;
    let last: u8 = last.trim().parse().map_err(|_| {
        OciError::Setup(format!("/proc/sys/kernel/cap_last_cap: {:?}", last.trim()))
    })?;
    let bounding = caps::read(None, CapSet::Bounding)
        .map_err(|e| OciError::Setup(format!("read bounding capabilities: {e}")))?;
    ungrantable(caps, last, &bounding)
}

/// [`check_grantable`]'s decision, given the kernel's last capability and
/// the runtime's bounding set.
pub(crate) fn ungrantable(
    caps: &LinuxCapabilities,
    last: u8,
    bounding: &HashSet<Cap>,
) -> Result<()> {
    let sets = [
        ("bounding", &caps.bounding),
        ("effective", &caps.effective),
        ("inheritable", &caps.inheritable),
        ("permitted", &caps.permitted),
        ("ambient", &caps.ambient),
    ];
    let mut refused = Vec::new();
    for (name, set) in sets {
        let mut bad: Vec<String> = set
            .iter()
            .flatten()
            .filter_map(|c| {
                if c.index() > last {
                    Some(format!(
                        "{c} (unknown to this kernel, whose last is {last})"
                    ))
                } else if !bounding.contains(c) {
                    Some(format!("{c} (not in the runtime's bounding set)"))
                } else {
                    None
                }
            })
            .collect();
        bad.sort();
        if !bad.is_empty() {
            refused.push(format!("process.capabilities.{name}: {}", bad.join(", ")));
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(OciError::Unsupported(format!(
            "capabilities this host cannot grant: {}",
            refused.join("; ")
        )))
    }
}

/// Drops from the bounding set every capability the spec does not keep
/// (needs CAP_SETPCAP, so it runs before the uid change).
pub(crate) fn drop_bounding(caps: &LinuxCapabilities) -> Result<()> {
    let keep = to_caps(caps.bounding.as_ref())?;
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| OciError::Setup(format!("drop {cap} from bounding set: {e}")))?;
        }
    }
    Ok(())
}

/// setgroups, setgid, setuid (keeping the permitted capabilities across the
/// uid change) and umask.
pub(crate) fn switch_user(user: &User) -> Result<()> {
    let gids: Vec<Gid> = user
        .additional_gids
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&gids).map_err(|e| OciError::sys("setgroups", e))?;
    nix::sys::prctl::set_keepcaps(true).map_err(|e| OciError::sys("PR_SET_KEEPCAPS", e))?;
    let gid = Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| OciError::sys(format!("setgid {gid}"), e))?;
    let uid = Uid::from_raw(user.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| OciError::sys(format!("setuid {uid}"), e))?;
    nix::sys::prctl::set_keepcaps(false).map_err(|e| OciError::sys("PR_SET_KEEPCAPS", e))?;
    if let Some(mask) = user.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    Ok(())
}

/// Sets effective, permitted, inheritable and ambient sets after the uid
/// change (effective first, so it never exceeds permitted).
pub(crate) fn set_capabilities(caps: &LinuxCapabilities) -> Result<()> {
    // create has refused what the runtime cannot grant; a set still
    // beyond what this process holds is an error, never a quiet drop.
    let held = caps::read(None, CapSet::Permitted)
        .map_err(|e| OciError::Setup(format!("read permitted capabilities: {e}")))?;
    let effective = to_caps(caps.effective.as_ref())?;
    let permitted = to_caps(caps.permitted.as_ref())?;
    let inheritable = to_caps(caps.inheritable.as_ref())?;
    let ambient = to_caps(caps.ambient.as_ref())?;
    let mut missing: Vec<String> = [&effective, &permitted, &inheritable, &ambient]
        .into_iter()
        .flatten()
        .filter(|c| !held.contains(c))
        .map(|c| c.to_string())
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        return Err(OciError::Setup(format!(
            "capabilities the container's init does not hold: {}",
            missing.join(", ")
        )));
    }
    let set = |which: CapSet, v: &HashSet<Cap>| {
        caps::set(None, which, v)
            .map_err(|e| OciError::Setup(format!("set {which:?} capabilities: {e}")))
    };
    set(CapSet::Effective, &effective)?;
    set(CapSet::Permitted, &permitted)?;
    set(CapSet::Inheritable, &inheritable)?;
    caps::clear(None, CapSet::Ambient)
        .map_err(|e| OciError::Setup(format!("clear ambient: {e}")))?;
    // Like runc, an ambient capability that cannot be raised (it must be
    // permitted and inheritable) is a warning, not a failure.
    for cap in ambient {
        if let Err(e) = caps::raise(None, CapSet::Ambient, cap) {
            log::warn(&format!("cannot raise ambient capability {cap}: {e}"));
        }
    }
    Ok(())
}

/// Bounding set, user, capabilities, no_new_privs and the seccomp filter,
/// in runc's order: with no_new_privs the filter goes in last (only the
/// exec FIFO and execve follow); without it, the filter must go in first,
/// while the process still holds CAP_SYS_ADMIN.
pub(crate) fn finish_credentials(
    p: &Process,
    caps: &LinuxCapabilities,
    filter: Option<&seccomp::Program>,
) -> Result<()> {
    reset_signals()?;
    let nnp = p.no_new_privileges.unwrap_or(false);
    if !nnp && let Some(f) = filter {
        seccomp::install(f)?;
    }
    drop_bounding(caps)?;
    switch_user(&p.user)?;
    set_capabilities(caps)?;
    if nnp {
        nix::sys::prctl::set_no_new_privs().map_err(|e| OciError::sys("PR_SET_NO_NEW_PRIVS", e))?;
        if let Some(f) = filter {
            seccomp::install(f)?;
        }
    }
    Ok(())
}

/// The container process starts with no signal blocked and every signal at
/// its default action, as under runc. A raw execve keeps the caller's mask
/// and ignored signals: the shim blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD
/// for its signalfd, and the Rust runtime ignores SIGPIPE, so without this
/// a container would never see StopContainer's SIGTERM. Done before the
/// seccomp filter, which may deny rt_sigaction.
pub(crate) fn reset_signals() -> Result<()> {
    use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
    /// The kernel's `struct sigaction` (not libc's, whose mask is larger).
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // Every signal the kernel has, realtime ones included (glibc's wrapper
    // refuses 32 and 33, which it keeps for itself; the container's libc
    // sets up its own).
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction with a valid kernel sigaction (SIG_DFL, no
        // handler code) and no old-action pointer; the size is the kernel's
        // sigset_t (8 bytes).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                std::mem::size_of::<u64>(),
            )
        };
        if rc != 0 {
            return Err(OciError::sys(
                format!("reset signal {sig}"),
                nix::Error::last(),
            ));
        }
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| OciError::sys("clear the signal mask", e))
}

/// Prepared argv/envp, built before the point of no return so exec itself
/// cannot fail on a NUL byte.
pub(crate) struct ExecArgs {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl ExecArgs {
    /// Builds the C strings.
    pub(crate) fn new(path: &Path, args: &[String], env: &[String]) -> Result<Self> {
        let c = |s: &str| {
            CString::new(s).map_err(|_| OciError::Unsupported(format!("NUL byte in {s:?}")))
        };
        Ok(ExecArgs {
            path: c(&path.to_string_lossy())?,
            argv: args.iter().map(|a| c(a)).collect::<Result<_>>()?,
            envp: env.iter().map(|e| c(e)).collect::<Result<_>>()?,
        })
    }

    /// Replaces the process image; returns only on failure.
    pub(crate) fn exec(&self) -> OciError {
        match nix::unistd::execve(&self.path, &self.argv, &self.envp) {
            Err(e) => OciError::sys(format!("exec {:?}", self.path), e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_capability_names_convert() {
        let spec: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "bounding": ["CAP_CHOWN", "NET_BIND_SERVICE", "cap_sys_admin"]
        }))
        .unwrap();
        let caps = to_caps(spec.bounding.as_ref()).unwrap();
        assert!(caps.contains(&Cap::CAP_CHOWN));
        assert!(caps.contains(&Cap::CAP_NET_BIND_SERVICE));
        assert!(caps.contains(&Cap::CAP_SYS_ADMIN));
    }

    #[test]
    fn capabilities_the_host_cannot_grant_are_refused_by_name() {
        let spec: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE"],
            "effective": ["CAP_CHOWN", "CAP_CHECKPOINT_RESTORE"]
        }))
        .unwrap();
        let bounding: HashSet<Cap> = [Cap::CAP_CHOWN, Cap::CAP_CHECKPOINT_RESTORE].into();
        let e = ungrantable(&spec, 39, &bounding).unwrap_err().to_string();
        assert!(
            e.contains("process.capabilities.bounding: CAP_SYS_RESOURCE (not in the runtime's bounding set)"),
            "{e}"
        );
        assert!(
            e.contains("process.capabilities.effective: CAP_CHECKPOINT_RESTORE (unknown to this kernel, whose last is 39)"),
            "{e}"
        );
        let all: HashSet<Cap> = caps::all();
        assert!(ungrantable(&spec, 40, &all).is_ok());
    }

    #[test]
    fn executable_lookup_uses_path_and_reports_missing() {
        assert_eq!(
            find_executable("sh", "/nonexistent:/bin").unwrap(),
            PathBuf::from("/bin/sh")
        );
        let err = find_executable("no-such-binary-xyz", "/bin").unwrap_err();
        assert!(err.to_string().contains("executable file not found"));
    }

    #[test]
    fn path_comes_from_env_or_default() {
        assert_eq!(env_path(&["A=1".into(), "PATH=/x".into()]), "/x");
        assert!(env_path(&[]).contains("/usr/bin"));
    }
}
