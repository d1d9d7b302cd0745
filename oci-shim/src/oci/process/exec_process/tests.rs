//! Root-free tests of `exec`'s process set-up through the Syscall seam:
//! the calls an exec into a container makes, in which order.

use std::path::Path;

use super::*;
use crate::oci::syscall::{Call, Recorder};

fn process(json: serde_json::Value) -> Process {
    let mut v = serde_json::json!({
        "user": {"uid": 1000, "gid": 1000},
        "args": ["sh", "-c", "true"],
        "env": ["PATH=/usr/bin:/bin"],
        "cwd": "/tmp",
    });
    v.as_object_mut()
        .unwrap()
        .extend(json.as_object().unwrap().clone());
    serde_json::from_value(v).unwrap()
}

fn filter() -> seccomp::Program {
    let profile = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]
    }))
    .unwrap();
    seccomp::compile(&profile).unwrap()
}

fn setup<'a>(filter: Option<&'a seccomp::Program>, lsm_exec: &'a lsm::ExecAttr) -> ChildSetup<'a> {
    ChildSetup {
        console: None,
        filter,
        preserve_end: 3,
        session_keyring: Some("_ses.c1".into()),
        exec_parent: None,
        lsm_exec,
    }
}

/// The recorder, over a root no path is under (paths show as they are).
fn recorder() -> Recorder {
    Recorder::new(Path::new("/nonexistent-rootfs"))
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
fn an_exec_joins_the_keyring_sets_rlimits_and_cwd_then_drops_to_its_user() {
    let sys = recorder();
    let p = process(serde_json::json!({
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}],
        "noNewPrivileges": true
    }));
    let none = lsm::ExecAttr::default();
    let f = filter();
    prepare(&sys, &p, &setup(Some(&f), &none)).unwrap();
    assert_eq!(
        without_caps(&sys.log()),
        [
            Call::MarkFdsCloexecFrom(3),
            Call::KeepPreservedFds(3),
            Call::JoinSessionKeyring("_ses.c1".into()),
            Call::Setrlimit(libc::RLIMIT_NOFILE, 1024, 1024),
            Call::Chdir("/tmp".into()),
            Call::ResetSignals,
            Call::Setgroups(vec![]),
            Call::KeepCaps(true),
            Call::Setresgid(1000),
            Call::Setresuid(1000),
            Call::KeepCaps(false),
            // no_new_privs before the filter, which goes in last.
            Call::NoNewPrivs,
            Call::Seccomp,
        ]
    );
}

#[test]
fn without_no_new_privs_an_execs_filter_goes_in_first_after_the_signal_reset() {
    let sys = recorder();
    let p = process(serde_json::json!({}));
    let none = lsm::ExecAttr::default();
    let f = filter();
    prepare(&sys, &p, &setup(Some(&f), &none)).unwrap();
    let log = sys.log();
    let reset = log.iter().position(|c| *c == Call::ResetSignals).unwrap();
    assert_eq!(log[reset + 1], Call::Seccomp);
    assert!(!log.contains(&Call::NoNewPrivs));
    let setuid = log.iter().position(|c| matches!(c, Call::Setresuid(_)));
    assert!(Some(reset + 1) < setuid, "{log:?}");
}

#[test]
fn an_execs_capabilities_are_the_ones_its_process_lists() {
    let sys = recorder();
    let p = process(serde_json::json!({
        "capabilities": {
            "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
            "permitted": ["CAP_KILL"], "inheritable": [], "ambient": []
        }
    }));
    let none = lsm::ExecAttr::default();
    prepare(&sys, &p, &setup(None, &none)).unwrap();
    let log = sys.log();
    let dropped = log
        .iter()
        .filter(|c| matches!(c, Call::CapDrop(set, _) if set == "Bounding"))
        .count();
    assert_eq!(dropped, caps::all().len() - 1);
    assert!(log.contains(&Call::CapSet("Effective".into(), vec!["CAP_KILL".into()])));
    assert!(log.contains(&Call::CapSet("Permitted".into(), vec!["CAP_KILL".into()])));
    assert!(!log.contains(&Call::Seccomp));
}

#[test]
fn an_exec_in_a_container_made_with_no_new_keyring_joins_no_keyring() {
    let sys = recorder();
    let p = process(serde_json::json!({}));
    let none = lsm::ExecAttr::default();
    let mut s = setup(None, &none);
    s.session_keyring = None;
    prepare(&sys, &p, &s).unwrap();
    let log = sys.log();
    assert!(
        !log.iter().any(|c| matches!(c, Call::JoinSessionKeyring(_))),
        "{log:?}"
    );
    assert_eq!(log[2], Call::Chdir("/tmp".into()));
}

#[test]
fn a_terminal_exec_takes_a_session_and_the_pty_before_its_rlimits() {
    let sys = recorder();
    let (_ours, theirs) = UnixStream::pair().unwrap();
    let p = process(serde_json::json!({
        "rlimits": [{"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
    }));
    let none = lsm::ExecAttr::default();
    let mut s = setup(None, &none);
    s.console = Some(&theirs);
    let host_has_ptys = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/ptmx")
        .is_ok();
    let result = prepare(&sys, &p, &s);
    let log = sys.log();
    let setsid = log.iter().position(|c| *c == Call::Setsid).unwrap();
    assert_eq!(log[setsid - 1], Call::JoinSessionKeyring("_ses.c1".into()));
    if !host_has_ptys {
        // No /dev/ptmx here: refused right after the setsid.
        assert!(result.err().unwrap().to_string().contains("/dev/ptmx"));
        assert_eq!(log.len(), setsid + 1);
        return;
    }
    result.unwrap();
    assert_eq!(
        log[setsid..setsid + 6],
        [
            Call::Setsid,
            Call::Dup2(0),
            Call::Dup2(1),
            Call::Dup2(2),
            Call::SetControllingTerminal(0),
            Call::Setrlimit(libc::RLIMIT_CORE, 0, 0),
        ]
    );
}

#[test]
fn a_failed_step_stops_the_exec_before_its_credentials_change() {
    let sys = recorder();
    sys.fail("setrlimit", nix::Error::EINVAL);
    let p = process(serde_json::json!({
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}]
    }));
    let none = lsm::ExecAttr::default();
    let e = prepare(&sys, &p, &setup(None, &none))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("setrlimit RlimitNofile"), "{e}");
    let log = sys.log();
    assert!(
        !log.iter()
            .any(|c| matches!(c, Call::Chdir(_) | Call::ResetSignals | Call::Setresuid(_))),
        "{log:?}"
    );
}
