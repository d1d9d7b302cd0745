//! The init's last steps before execve, in runc's order: the seccomp
//! filter (first without no_new_privs, last with it), the bounding set,
//! the user (setgroups → setgid → setuid, keeping the permitted
//! capabilities across the change), the other capability sets, and
//! no_new_privs.

use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};

use crate::oci::error::{OciError, Result};
use crate::oci::security::capabilities::{drop_bounding, set_capabilities};
use crate::oci::security::seccomp::Program;
use crate::oci::syscall::Syscall;
use crate::spec::{LinuxCapabilities, Process, User};

/// setgroups, setgid, setuid (keeping the permitted capabilities across the
/// uid change) and umask.
pub(crate) fn switch_user(sys: &impl Syscall, user: &User) -> Result<()> {
    let gids: Vec<Gid> = user
        .additional_gids
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    sys.setgroups(&gids)
        .map_err(|e| OciError::sys("setgroups", e))?;
    sys.set_keepcaps(true)
        .map_err(|e| OciError::sys("PR_SET_KEEPCAPS", e))?;
    let gid = Gid::from_raw(user.gid);
    sys.setresgid(gid)
        .map_err(|e| OciError::sys(format!("setgid {gid}"), e))?;
    let uid = Uid::from_raw(user.uid);
    sys.setresuid(uid)
        .map_err(|e| OciError::sys(format!("setuid {uid}"), e))?;
    sys.set_keepcaps(false)
        .map_err(|e| OciError::sys("PR_SET_KEEPCAPS", e))?;
    if let Some(mask) = user.umask {
        sys.umask(Mode::from_bits_truncate(mask));
    }
    Ok(())
}

/// Bounding set, user, capabilities, no_new_privs and the seccomp filter,
/// in runc's order: with no_new_privs the filter goes in last (only the
/// exec FIFO and execve follow); without it, the filter must go in first,
/// while the process still holds CAP_SYS_ADMIN. The caller has reset the
/// signals ([`crate::oci::process::signals::reset_signals`]) just before,
/// while the filter could not yet deny it.
pub(crate) fn finish_credentials(
    sys: &impl Syscall,
    p: &Process,
    caps: &LinuxCapabilities,
    filter: Option<&Program>,
) -> Result<()> {
    let nnp = p.no_new_privileges.unwrap_or(false);
    if !nnp && let Some(f) = filter {
        sys.install_seccomp(f)?;
    }
    drop_bounding(sys, caps)?;
    switch_user(sys, &p.user)?;
    set_capabilities(sys, caps)?;
    if nnp {
        sys.set_no_new_privs()
            .map_err(|e| OciError::sys("PR_SET_NO_NEW_PRIVS", e))?;
        if let Some(f) = filter {
            sys.install_seccomp(f)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use caps::Capability as Cap;

    use super::*;
    use crate::oci::syscall::{Call, Recorder};

    fn process(json: serde_json::Value) -> Process {
        serde_json::from_value(json).unwrap()
    }

    fn seccomp_filter() -> Program {
        let profile = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]
        }))
        .unwrap();
        crate::oci::security::seccomp::compile(&profile).unwrap()
    }

    /// The calls of `log` that are not capability-set changes.
    fn without_caps(log: &[Call]) -> Vec<Call> {
        log.iter()
            .filter(|c| {
                !matches!(
                    c,
                    Call::CapDrop(..) | Call::CapSet(..) | Call::CapClear(_) | Call::CapRaise(..)
                )
            })
            .cloned()
            .collect()
    }

    #[test]
    fn the_user_switch_is_setgroups_then_setgid_then_setuid_keeping_caps() {
        let sys = Recorder::new(Path::new("/"));
        let user = process(serde_json::json!({
            "user": {"uid": 1000, "gid": 100, "additionalGids": [5, 20], "umask": 18},
            "cwd": "/"
        }))
        .user;
        switch_user(&sys, &user).unwrap();
        assert_eq!(
            sys.log(),
            [
                Call::Setgroups(vec![5, 20]),
                Call::KeepCaps(true),
                Call::Setresgid(100),
                Call::Setresuid(1000),
                Call::KeepCaps(false),
                Call::Umask(0o22),
            ]
        );
    }

    #[test]
    fn without_no_new_privs_the_filter_goes_in_first_while_root() {
        let sys = Recorder::new(Path::new("/"));
        let p = process(serde_json::json!({"user": {"uid": 1, "gid": 1}, "cwd": "/"}));
        let caps = LinuxCapabilities::default();
        finish_credentials(&sys, &p, &caps, Some(&seccomp_filter())).unwrap();
        assert_eq!(
            without_caps(&sys.log()),
            [
                Call::Seccomp,
                Call::Setgroups(vec![]),
                Call::KeepCaps(true),
                Call::Setresgid(1),
                Call::Setresuid(1),
                Call::KeepCaps(false),
            ]
        );
        // The bounding set is dropped before the uid change.
        let log = sys.log();
        let first_drop = log.iter().position(|c| matches!(c, Call::CapDrop(..)));
        let setuid = log.iter().position(|c| matches!(c, Call::Setresuid(_)));
        assert!(first_drop < setuid, "{log:?}");
    }

    #[test]
    fn with_no_new_privs_the_filter_goes_in_last() {
        let sys = Recorder::new(Path::new("/"));
        let p = process(serde_json::json!({
            "user": {"uid": 0, "gid": 0}, "cwd": "/", "noNewPrivileges": true
        }));
        let caps = LinuxCapabilities::default();
        finish_credentials(&sys, &p, &caps, Some(&seccomp_filter())).unwrap();
        let log = sys.log();
        assert_eq!(log[log.len() - 2..], [Call::NoNewPrivs, Call::Seccomp]);
        assert_eq!(log.iter().filter(|c| **c == Call::Seccomp).count(), 1);
    }

    #[test]
    fn capability_sets_are_set_after_the_uid_change_effective_first() {
        let sys = Recorder::new(Path::new("/"));
        let p = process(serde_json::json!({"user": {"uid": 0, "gid": 0}, "cwd": "/"}));
        let caps: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "bounding": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_CHOWN"],
            "permitted": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"]
        }))
        .unwrap();
        finish_credentials(&sys, &p, &caps, None).unwrap();
        let log = sys.log();
        let setuid = log
            .iter()
            .position(|c| matches!(c, Call::Setresuid(_)))
            .unwrap();
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            log[setuid + 2..],
            [
                Call::CapSet("Effective".into(), names(&["CAP_CHOWN"])),
                Call::CapSet(
                    "Permitted".into(),
                    names(&["CAP_CHOWN", "CAP_NET_BIND_SERVICE"])
                ),
                Call::CapSet("Inheritable".into(), names(&["CAP_NET_BIND_SERVICE"])),
                Call::CapClear("Ambient".into()),
                Call::CapRaise("Ambient".into(), Cap::CAP_NET_BIND_SERVICE),
            ]
        );
        // Every capability but the two kept left the bounding set.
        let dropped: Vec<Cap> = log
            .iter()
            .filter_map(|c| match c {
                Call::CapDrop(set, cap) if set == "Bounding" => Some(*cap),
                _ => None,
            })
            .collect();
        assert_eq!(dropped.len(), caps::all().len() - 2);
        assert!(!dropped.contains(&Cap::CAP_CHOWN));
        assert!(!dropped.contains(&Cap::CAP_NET_BIND_SERVICE));
    }

    #[test]
    fn capabilities_the_init_does_not_hold_are_an_error_before_any_set_changes() {
        let sys = Recorder::new(Path::new("/"));
        sys.permitted.borrow_mut().remove(&Cap::CAP_SYS_ADMIN);
        let caps: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "effective": ["CAP_SYS_ADMIN"], "permitted": ["CAP_SYS_ADMIN"]
        }))
        .unwrap();
        let e = set_capabilities(&sys, &caps).unwrap_err().to_string();
        assert!(e.contains("does not hold: CAP_SYS_ADMIN"), "{e}");
        assert!(sys.log().is_empty());
    }
}
