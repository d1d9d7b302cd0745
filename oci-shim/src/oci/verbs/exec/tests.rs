//! Tests of `exec`'s own decisions, root-free: the user flag, which of the
//! init's namespaces it joins and in which order, and the confinement it
//! writes (or refuses) for the host's LSMs, through the Syscall seam.

use super::*;
use crate::oci::process::exec_process::{join_namespaces, prepare};
use crate::oci::syscall::{Call, Recorder};

#[test]
fn user_parses_uid_and_optional_gid() {
    assert_eq!(parse_user("1000").unwrap(), (1000, 0));
    assert_eq!(parse_user("1000:2000").unwrap(), (1000, 2000));
    assert!(parse_user("nobody").is_err());
}

/// An init's `ns` directory (`theirs`) and ours: the kinds in `own` are
/// the container's (different files), the others shared (hard links).
fn ns_dirs(own: &[&str], shared: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (theirs, ours) = (dir.path().join("theirs"), dir.path().join("ours"));
    std::fs::create_dir(&theirs).unwrap();
    std::fs::create_dir(&ours).unwrap();
    for name in own {
        std::fs::write(theirs.join(name), "").unwrap();
        std::fs::write(ours.join(name), "").unwrap();
    }
    for name in shared {
        std::fs::write(theirs.join(name), "").unwrap();
        std::fs::hard_link(theirs.join(name), ours.join(name)).unwrap();
    }
    (dir, theirs, ours)
}

#[test]
fn an_exec_joins_the_containers_namespaces_user_after_the_others_mount_last() {
    let (_dir, theirs, ours) = ns_dirs(&["mnt", "net", "pid", "user"], &["ipc", "uts", "cgroup"]);
    let joins = open_namespaces_in(&theirs, &ours).unwrap();
    let sys = Recorder::new(Path::new("/nonexistent-rootfs"));
    join_namespaces(&sys, &joins).unwrap();
    let file = |name: &str| theirs.join(name).display().to_string();
    assert_eq!(
        sys.log(),
        [
            Call::Setns(CloneFlags::CLONE_NEWNET, file("net")),
            Call::Setns(CloneFlags::CLONE_NEWPID, file("pid")),
            Call::Setns(CloneFlags::CLONE_NEWUSER, file("user")),
            Call::Setns(CloneFlags::CLONE_NEWNS, file("mnt")),
        ]
    );
}

#[test]
fn shared_namespaces_are_not_joined_and_a_refused_join_names_its_kind() {
    let (_dir, theirs, ours) = ns_dirs(&["net"], &["user", "mnt", "pid", "ipc", "uts"]);
    let joins = open_namespaces_in(&theirs, &ours).unwrap();
    assert_eq!(joins.len(), 1);
    let sys = Recorder::new(Path::new("/nonexistent-rootfs"));
    sys.fail("setns", nix::Error::EPERM);
    let e = join_namespaces(&sys, &joins).unwrap_err();
    assert!(e.starts_with("setns CloneFlags(CLONE_NEWNET)"), "{e}");
    assert!(sys.log().is_empty());
}

/// The process an exec of `sh` runs in a container whose process is
/// `container`, with `--apparmor` / `--process-label` as given.
fn exec_process_of(
    container: serde_json::Value,
    apparmor: Option<&str>,
    label: Option<&str>,
) -> Process {
    let mut c = serde_json::json!({
        "user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["sleep", "1"],
        "env": ["PATH=/usr/bin:/bin"]
    });
    c.as_object_mut()
        .unwrap()
        .extend(container.as_object().unwrap().clone());
    let opts = ExecOptions {
        args: vec!["sh".into()],
        apparmor: apparmor.map(str::to_string),
        process_label: label.map(str::to_string),
        ..ExecOptions::default()
    };
    build_process(&opts, Some(serde_json::from_value(c).unwrap())).unwrap()
}

/// The LSM attribute writes of an exec of `p` on `host`, or the refusal.
fn attr_writes(p: &Process, host: lsm::Host, attr_dir: &Path) -> Result<Vec<Call>> {
    let attr = lsm::plan(p, &Linux::default(), host, attr_dir)?;
    let sys = Recorder::new(Path::new("/nonexistent-rootfs"));
    let setup = ChildSetup {
        console: None,
        filter: None,
        preserve_end: 3,
        session_keyring: None,
        exec_parent: None,
        lsm_exec: &attr,
    };
    prepare(&sys, p, &setup)?;
    let log = sys.log();
    // Written before the signals' reset and the credentials change.
    let reset = log.iter().position(|c| *c == Call::ResetSignals).unwrap();
    Ok(log[..reset]
        .iter()
        .filter(|c| matches!(c, Call::WriteAttr(..)))
        .cloned()
        .collect())
}

const APPARMOR: lsm::Host = lsm::Host {
    apparmor: true,
    selinux: false,
};
const SELINUX: lsm::Host = lsm::Host {
    apparmor: false,
    selinux: true,
};
const NO_LSM: lsm::Host = lsm::Host {
    apparmor: false,
    selinux: false,
};

#[test]
fn an_exec_takes_its_containers_apparmor_profile_where_apparmor_is_enabled() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("apparmor")).unwrap();
    std::fs::write(dir.path().join("apparmor/exec"), "").unwrap();
    let p = exec_process_of(serde_json::json!({"apparmorProfile": "ctr"}), None, None);
    let file = dir.path().join("apparmor/exec").display().to_string();
    assert_eq!(
        attr_writes(&p, APPARMOR, dir.path()).unwrap(),
        [Call::WriteAttr(file.clone(), "exec ctr".into())]
    );
    let p = exec_process_of(
        serde_json::json!({"apparmorProfile": "ctr"}),
        Some("own"),
        None,
    );
    assert_eq!(
        attr_writes(&p, APPARMOR, dir.path()).unwrap(),
        [Call::WriteAttr(file, "exec own".into())]
    );
    let e = attr_writes(&p, NO_LSM, dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("process.apparmorProfile") && e.contains("AppArmor"),
        "{e}"
    );
}

#[test]
fn an_execs_selinux_label_is_written_where_selinux_is_enabled_and_refused_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let label = "system_u:system_r:container_t:s0";
    let p = exec_process_of(serde_json::json!({}), None, Some(label));
    assert_eq!(
        attr_writes(&p, SELINUX, dir.path()).unwrap(),
        [Call::WriteAttr(
            dir.path().join("exec").display().to_string(),
            label.into()
        )]
    );
    for host in [APPARMOR, NO_LSM] {
        let e = attr_writes(&p, host, dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("process.selinuxLabel") && e.contains("SELinux"),
            "{e}"
        );
    }
    // Nothing asked, nothing written, on any host.
    let p = exec_process_of(serde_json::json!({}), None, None);
    assert_eq!(attr_writes(&p, NO_LSM, dir.path()).unwrap(), []);
}
