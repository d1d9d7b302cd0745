//! The init's kernel settings for the container: sysctls (in the
//! container's own namespaces, written through its checked /proc) and
//! rlimits.

use std::collections::HashMap;
use std::path::Path;

use crate::oci::error::{OciError, Result};
use crate::oci::log;
use crate::oci::security::hardening;
use crate::spec::{PosixRlimit, PosixRlimitType};

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
