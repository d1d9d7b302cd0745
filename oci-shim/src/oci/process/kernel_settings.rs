//! The init's kernel settings for the container: sysctls (in the
//! container's own namespaces, written through its checked /proc) and
//! rlimits (also `exec`'s), both through the [`Syscall`] seam.

use std::collections::HashMap;
use std::path::Path;

use crate::oci::error::{OciError, Result};
use crate::oci::log;
use crate::oci::syscall::Syscall;
use crate::spec::{PosixRlimit, PosixRlimitType};

/// Writes each sysctl under `/proc/sys` (`net.ipv4.ip_forward` → `net/ipv4/ip_forward`).
pub(crate) fn apply_sysctls(sys: &impl Syscall, sysctls: &HashMap<String, String>) -> Result<()> {
    for (key, value) in sysctls {
        if key.contains("..") || key.starts_with('/') || key.is_empty() {
            return Err(OciError::Unsupported(format!("sysctl key {key:?}")));
        }
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        sys.write_proc(&path, value)?;
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
pub(crate) fn apply_rlimits(sys: &impl Syscall, rlimits: &[PosixRlimit]) -> Result<()> {
    for r in rlimits {
        let res = rlimit_resource(r.typ);
        let err = match sys.setrlimit(res, r.soft, r.hard) {
            Ok(()) => continue,
            Err(e) => e,
        };
        if err != nix::Error::EPERM {
            return Err(OciError::sys(format!("setrlimit {:?}", r.typ), err));
        }
        let (_, max) = sys
            .getrlimit(res)
            .map_err(|e| OciError::sys(format!("getrlimit {:?}", r.typ), e))?;
        let (soft, hard) = (r.soft.min(max), r.hard.min(max));
        sys.setrlimit(res, soft, hard)
            .map_err(|e| OciError::sys(format!("setrlimit {:?}", r.typ), e))?;
        log::warn(&format!(
            "rlimit {:?}: cannot raise to {}/{}, clamped to {}/{}",
            r.typ, r.soft, r.hard, soft, hard
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::oci::syscall::{Call, Recorder};

    fn rlimits(json: serde_json::Value) -> Vec<PosixRlimit> {
        serde_json::from_value(json).unwrap()
    }

    fn sysctls(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rlimits_are_set_as_the_spec_lists_them() {
        let sys = Recorder::new(Path::new("/"));
        let spec = rlimits(serde_json::json!([
            {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
            {"type": "RLIMIT_NPROC", "soft": 512, "hard": 512}
        ]));
        apply_rlimits(&sys, &spec).unwrap();
        assert_eq!(
            sys.log(),
            [
                Call::Setrlimit(libc::RLIMIT_NOFILE, 1024, 4096),
                Call::Setrlimit(libc::RLIMIT_CORE, 0, 0),
                Call::Setrlimit(libc::RLIMIT_NPROC, 512, 512),
            ]
        );
    }

    #[test]
    fn a_hard_limit_above_what_may_be_raised_is_clamped_to_the_current_one() {
        let sys = Recorder::new(Path::new("/"));
        sys.rlimit_ceiling.set(Some(2048));
        let spec = rlimits(serde_json::json!([
            {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1048576},
            {"type": "RLIMIT_MEMLOCK", "soft": 65536, "hard": 65536}
        ]));
        apply_rlimits(&sys, &spec).unwrap();
        // The refused first try is not recorded; the clamped one is.
        assert_eq!(
            sys.log(),
            [
                Call::Setrlimit(libc::RLIMIT_NOFILE, 1024, 2048),
                Call::Setrlimit(libc::RLIMIT_MEMLOCK, 2048, 2048),
            ]
        );
    }

    #[test]
    fn an_rlimit_refused_for_another_reason_fails_naming_the_limit() {
        let sys = Recorder::new(Path::new("/"));
        sys.fail("setrlimit", nix::Error::EINVAL);
        let spec = rlimits(serde_json::json!([
            {"type": "RLIMIT_STACK", "soft": 10, "hard": 5}
        ]));
        let e = apply_rlimits(&sys, &spec).unwrap_err().to_string();
        assert!(e.contains("setrlimit RlimitStack"), "{e}");
        assert!(sys.log().is_empty());
    }

    #[test]
    fn sysctls_are_written_to_their_proc_sys_files() {
        let sys = Recorder::new(Path::new("/"));
        let wanted = sysctls(&[
            ("net.ipv4.ip_forward", "1"),
            ("kernel.shm_rmid_forced", "1"),
            ("net.ipv4.conf.eth0.rp_filter", "2"),
        ]);
        apply_sysctls(&sys, &wanted).unwrap();
        let mut written = sys.log();
        written.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(
            written,
            [
                Call::WriteProc("/proc/sys/kernel/shm_rmid_forced".into(), "1".into()),
                Call::WriteProc("/proc/sys/net/ipv4/conf/eth0/rp_filter".into(), "2".into()),
                Call::WriteProc("/proc/sys/net/ipv4/ip_forward".into(), "1".into()),
            ]
        );
    }

    #[test]
    fn sysctl_keys_that_leave_proc_sys_are_refused_before_any_write() {
        for key in ["net..ipv4", "/etc/passwd", "", "../../self/attr/exec"] {
            let sys = Recorder::new(Path::new("/"));
            let e = apply_sysctls(&sys, &sysctls(&[(key, "1")]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("sysctl key"), "{key}: {e}");
            assert!(sys.log().is_empty(), "{key}");
        }
    }

    #[test]
    fn a_sysctl_the_kernel_refuses_fails_the_set_up() {
        // A sysctl of a namespace the container does not own is refused
        // by the kernel (EPERM or EROFS on /proc/sys), not by a list here.
        let sys = Recorder::new(Path::new("/"));
        sys.fail("write_proc", nix::Error::EROFS);
        let e = apply_sysctls(&sys, &sysctls(&[("kernel.hostname", "x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/proc/sys/kernel/hostname"), "{e}");
    }
}
