//! Root-free tests of the init's set-up phases through the Syscall seam:
//! which calls a config.json leads to, in which order.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::SFlag;

use super::*;
use crate::cgroups::Hierarchy;
use crate::oci::process::namespaces;
use crate::oci::syscall::{Call, MountCall, Recorder};

/// A config for `spec` (JSON) over a rootfs at `rootfs`.
fn config(spec: serde_json::Value, rootfs: &Path) -> InitConfig {
    let spec: Spec = serde_json::from_value(spec).unwrap();
    let linux = spec.linux.clone().unwrap_or_default();
    let ns = namespaces::plan(linux.namespaces.as_deref().unwrap_or(&[])).unwrap();
    let fifo: OwnedFd = std::fs::File::open(rootfs).unwrap().into();
    InitConfig {
        spec,
        rootfs: rootfs.to_path_buf(),
        ns,
        cgroup: CgroupTarget {
            hierarchy: Hierarchy::V2 {
                root: "/sys/fs/cgroup".into(),
            },
            path: "/cradle-oci/c1".into(),
        },
        no_pivot: false,
        session_keyring: None,
        fifo,
        console: None,
        seccomp: None,
        lsm_exec: lsm::ExecAttr::default(),
        idmapped: IdmapTrees::new(),
        preserve_end: 3,
    }
}

fn rootfs() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    (dir, root)
}

/// The mount(2) calls of a log, as (target, fstype, flags).
fn mounts_of(log: &[Call]) -> Vec<(String, Option<String>, MsFlags)> {
    log.iter()
        .filter_map(|c| match c {
            Call::Mount(m) => Some((m.target.clone(), m.fstype.clone(), m.flags)),
            _ => None,
        })
        .collect()
}

/// runc's default spec, reduced to what the rootfs phase reads.
fn runc_like(namespaces: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/work"},
        "root": {"path": "rootfs"},
        "hostname": "box",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {"namespaces": namespaces}
    })
}

#[test]
fn a_runc_like_spec_mounts_in_spec_order_after_the_rootfs_bind() {
    let (_dir, root) = rootfs();
    let cfg = config(
        runc_like(serde_json::json!([{"type": "mount"}, {"type": "uts"}, {"type": "pid"}])),
        &root,
    );
    let sys = Recorder::new(&root);
    let linux = cfg.spec.linux.clone().unwrap();
    prepare_rootfs(&sys, &cfg, &linux, Path::new("/work")).unwrap();
    let mounts = mounts_of(&sys.log());
    // Propagation of the whole tree (rslave by default), the parent mount
    // made private, the rootfs bound onto itself.
    assert_eq!(
        mounts[0],
        ("/".into(), None, MsFlags::MS_SLAVE | MsFlags::MS_REC)
    );
    assert_eq!(mounts[1].2, MsFlags::MS_PRIVATE);
    assert_eq!(
        mounts[2],
        ("/".into(), None, MsFlags::MS_BIND | MsFlags::MS_REC)
    );
    let spec_targets: Vec<&str> = mounts[3..].iter().map(|m| m.0.as_str()).collect();
    assert_eq!(
        spec_targets,
        ["/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"]
    );
    assert_eq!(mounts[3].1.as_deref(), Some("proc"));
    assert_eq!(
        mounts[7].2,
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV | MsFlags::MS_RDONLY
    );
    // The cwd is made inside the rootfs.
    assert!(root.join("work").is_dir());
}

#[test]
fn a_tmpfs_dev_gets_the_default_nodes_then_the_hostname_is_set_last() {
    let (_dir, root) = rootfs();
    let cfg = config(
        runc_like(serde_json::json!([{"type": "mount"}, {"type": "uts"}])),
        &root,
    );
    let sys = Recorder::new(&root);
    let linux = cfg.spec.linux.clone().unwrap();
    prepare_rootfs(&sys, &cfg, &linux, Path::new("/")).unwrap();
    let log = sys.log();
    let nodes: Vec<String> = log
        .iter()
        .filter_map(|c| match c {
            Call::Mknod(path, kind, 0o666, _) if *kind == SFlag::S_IFCHR => Some(path.clone()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = ["null", "zero", "full", "random", "urandom", "tty"]
        .iter()
        .filter(|n| Path::new("/dev").join(n).exists())
        .map(|n| format!("/dev/{n}"))
        .collect();
    assert_eq!(nodes, expected);
    assert_eq!(log.last(), Some(&Call::Sethostname("box".into())));
    assert_eq!(
        std::fs::read_link(root.join("dev/ptmx")).unwrap(),
        Path::new("pts/ptmx")
    );
}

#[test]
fn without_a_new_uts_namespace_no_name_is_set() {
    let (_dir, root) = rootfs();
    let mut spec = runc_like(serde_json::json!([{"type": "mount"}]));
    spec["mounts"] = serde_json::json!([]);
    spec["domainname"] = serde_json::json!("example.org");
    let cfg = config(spec, &root);
    let sys = Recorder::new(&root);
    let linux = cfg.spec.linux.clone().unwrap();
    prepare_rootfs(&sys, &cfg, &linux, Path::new("/")).unwrap();
    assert!(
        sys.log()
            .iter()
            .all(|c| !matches!(c, Call::Sethostname(_) | Call::Setdomainname(_)))
    );
}

#[test]
fn a_new_uts_namespace_gets_hostname_then_domainname() {
    let (_dir, root) = rootfs();
    let mut spec = runc_like(serde_json::json!([{"type": "mount"}, {"type": "uts"}]));
    spec["mounts"] = serde_json::json!([]);
    spec["domainname"] = serde_json::json!("example.org");
    let cfg = config(spec, &root);
    let sys = Recorder::new(&root);
    let linux = cfg.spec.linux.clone().unwrap();
    prepare_rootfs(&sys, &cfg, &linux, Path::new("/")).unwrap();
    let log = sys.log();
    assert_eq!(
        log[log.len() - 2..],
        [
            Call::Sethostname("box".into()),
            Call::Setdomainname("example.org".into())
        ]
    );
}

#[test]
fn a_configured_rootfs_propagation_replaces_the_slave_default() {
    let (_dir, root) = rootfs();
    let mut spec = runc_like(serde_json::json!([{"type": "mount"}]));
    spec["mounts"] = serde_json::json!([]);
    spec["linux"]["rootfsPropagation"] = serde_json::json!("rshared");
    let cfg = config(spec, &root);
    let sys = Recorder::new(&root);
    let linux = cfg.spec.linux.clone().unwrap();
    prepare_rootfs(&sys, &cfg, &linux, Path::new("/")).unwrap();
    assert_eq!(
        mounts_of(&sys.log())[0],
        ("/".into(), None, MsFlags::MS_SHARED | MsFlags::MS_REC)
    );
    // After the pivot, the new `/` gets it too.
    let sys = Recorder::new(&root);
    switch_root(&sys, &cfg, &linux).unwrap();
    assert_eq!(
        sys.log().last(),
        Some(&Call::Mount(MountCall {
            source: None,
            target: "/".into(),
            fstype: None,
            flags: MsFlags::MS_SHARED | MsFlags::MS_REC,
            data: None,
        }))
    );
}

#[test]
fn without_a_mount_namespace_the_rootfs_is_bound_privately_and_the_hosts_root_untouched() {
    let (_dir, root) = rootfs();
    let mut spec = runc_like(serde_json::json!([{"type": "pid"}]));
    spec["mounts"] = serde_json::json!([]);
    let cfg = config(spec, &root);
    let sys = Recorder::new(&root);
    let linux = cfg.spec.linux.clone().unwrap();
    prepare_rootfs(&sys, &cfg, &linux, Path::new("/")).unwrap();
    assert_eq!(
        mounts_of(&sys.log()),
        [
            ("/".into(), None, MsFlags::MS_BIND | MsFlags::MS_REC),
            ("/".into(), None, MsFlags::MS_PRIVATE | MsFlags::MS_REC),
        ]
    );
    // And the root switch is a chroot, never a pivot.
    let sys = Recorder::new(&root);
    switch_root(&sys, &cfg, &linux).unwrap();
    assert_eq!(
        sys.log(),
        [
            Call::Chdir("<rootfs>".into()),
            Call::Chroot(".".into()),
            Call::Chdir("/".into()),
        ]
    );
}

#[test]
fn pivot_root_detaches_the_old_root_through_a_slave_mount() {
    let (_dir, root) = rootfs();
    let cfg = config(runc_like(serde_json::json!([{"type": "mount"}])), &root);
    let sys = Recorder::new(&root);
    let linux = cfg.spec.linux.clone().unwrap();
    switch_root(&sys, &cfg, &linux).unwrap();
    assert_eq!(
        sys.log(),
        [
            Call::Chdir("<rootfs>".into()),
            Call::PivotRoot(".".into(), ".".into()),
            Call::Fchdir("/".into()),
            Call::Mount(MountCall {
                source: None,
                target: ".".into(),
                fstype: None,
                flags: MsFlags::MS_SLAVE | MsFlags::MS_REC,
                data: None,
            }),
            Call::Umount(".".into(), MntFlags::MNT_DETACH),
            Call::Chdir("/".into()),
        ]
    );
}

#[test]
fn no_pivot_moves_the_rootfs_over_root_and_chroots() {
    let (_dir, root) = rootfs();
    let mut cfg = config(runc_like(serde_json::json!([{"type": "mount"}])), &root);
    cfg.no_pivot = true;
    let sys = Recorder::new(&root);
    let linux = cfg.spec.linux.clone().unwrap();
    switch_root(&sys, &cfg, &linux).unwrap();
    let log = sys.log();
    assert_eq!(log[0], Call::Chdir("<rootfs>".into()));
    assert!(
        matches!(&log[1], Call::Mount(m) if m.flags == MsFlags::MS_MOVE && m.target == "/"),
        "{log:?}"
    );
    assert_eq!(
        log[2..],
        [Call::Chroot(".".into()), Call::Chdir("/".into())]
    );
    assert!(!log.iter().any(|c| matches!(c, Call::PivotRoot(..))));
}

#[test]
fn masked_and_readonly_paths_and_a_readonly_root_after_the_switch() {
    let (dir, root) = rootfs();
    // After the pivot these are the container's paths; here, the test's.
    let masked_dir = dir.path().join("acpi");
    let masked_file = dir.path().join("kcore");
    let ro = dir.path().join("sys-fs");
    std::fs::create_dir(&masked_dir).unwrap();
    std::fs::write(&masked_file, "").unwrap();
    std::fs::create_dir(&ro).unwrap();
    let mut spec = runc_like(serde_json::json!([{"type": "mount"}]));
    spec["root"]["readonly"] = serde_json::json!(true);
    spec["linux"]["maskedPaths"] =
        serde_json::json!([masked_dir, masked_file, dir.path().join("missing")]);
    spec["linux"]["readonlyPaths"] = serde_json::json!([ro]);
    let cfg = config(spec, &root);
    let sys = Recorder::new(&root);
    let linux = cfg.spec.linux.clone().unwrap();
    protect_paths(&sys, &cfg.spec, &linux).unwrap();
    let calls = sys.calls.borrow();
    let show = |p: &Path| p.display().to_string();
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert_eq!(
        (
            calls[0].target.clone(),
            calls[0].fstype.as_deref(),
            calls[0].flags
        ),
        (show(&masked_dir), Some("tmpfs"), MsFlags::MS_RDONLY)
    );
    assert_eq!(calls[1].source.as_deref(), Some("/dev/null"));
    assert_eq!(calls[1].flags, MsFlags::MS_BIND);
    assert_eq!(calls[2].flags, MsFlags::MS_BIND | MsFlags::MS_REC);
    assert!(
        calls[3].flags.contains(
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC
        )
    );
    assert_eq!(calls[3].target, show(&ro));
    assert_eq!(calls[4].target, "/");
    assert!(
        calls[4]
            .flags
            .contains(MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY)
    );
}

#[test]
fn the_working_directory_is_entered_and_the_executable_found_on_path() {
    let (_dir, root) = rootfs();
    let mut spec = runc_like(serde_json::json!([{"type": "mount"}]));
    spec["process"]["env"] = serde_json::json!(["PATH=/nonexistent:/bin"]);
    let cfg = config(spec, &root);
    let sys = Recorder::new(&root);
    let proc_ = cfg.spec.process.as_ref().unwrap();
    enter_cwd_and_find_exe(&sys, proc_).unwrap();
    assert_eq!(sys.log(), [Call::Chdir("/work".into())]);
}

/// The calls of the init's own steps (not the rootfs's or the
/// capability sets'), in order.
fn own_steps(log: &[Call]) -> Vec<Call> {
    log.iter()
        .filter(|c| {
            matches!(
                c,
                Call::Setsid
                    | Call::JoinSessionKeyring(_)
                    | Call::SetKeyPermissions(..)
                    | Call::MarkFdsCloexecFrom(_)
                    | Call::KeepPreservedFds(_)
                    | Call::WriteProc(..)
                    | Call::Setrlimit(..)
                    | Call::Chdir(_)
                    | Call::WriteAttr(..)
                    | Call::ResetSignals
                    | Call::Setresuid(_)
                    | Call::NoNewPrivs
            )
        })
        .cloned()
        .collect()
}

#[test]
fn the_init_takes_a_session_and_keyring_first_and_its_kernel_settings_before_credentials() {
    let (dir, root) = rootfs();
    let mut spec = runc_like(serde_json::json!([
        {"type": "mount"}, {"type": "uts"}, {"type": "pid"}, {"type": "network"}
    ]));
    spec["process"]["rlimits"] =
        serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}]);
    spec["process"]["noNewPrivileges"] = serde_json::json!(true);
    spec["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
    let mut cfg = config(spec, &root);
    cfg.session_keyring = Some("_ses.c1".into());
    let attr = dir.path().join("attr-exec");
    cfg.lsm_exec = lsm::ExecAttr(Some((attr.clone(), "exec cradle-default".into())));
    let (mut chan, _create) = Channel::pair().unwrap();
    let sys = Recorder::new(&root);
    setup(&sys, &cfg, &mut chan, "").unwrap();
    assert_eq!(
        own_steps(&sys.log()),
        [
            Call::Setsid,
            Call::JoinSessionKeyring("_ses.c1".into()),
            Call::SetKeyPermissions(
                crate::oci::syscall::KEYRING_SERIAL,
                0x3f01_0000 | 0x0008_0000
            ),
            Call::MarkFdsCloexecFrom(3),
            // The root switch.
            Call::Chdir("<rootfs>".into()),
            Call::Chdir("/".into()),
            Call::WriteProc("/proc/sys/net/ipv4/ip_forward".into(), "1".into()),
            Call::Setrlimit(libc::RLIMIT_NOFILE, 1024, 1024),
            Call::Chdir("/work".into()),
            Call::WriteAttr(attr.display().to_string(), "exec cradle-default".into()),
            Call::ResetSignals,
            Call::Setresuid(0),
            Call::NoNewPrivs,
            Call::MarkFdsCloexecFrom(3),
            Call::KeepPreservedFds(3),
        ]
    );
}

#[test]
fn without_a_keyring_or_settings_the_init_only_takes_its_session() {
    let (_dir, root) = rootfs();
    let cfg = config(runc_like(serde_json::json!([{"type": "mount"}])), &root);
    let (mut chan, _create) = Channel::pair().unwrap();
    let sys = Recorder::new(&root);
    setup(&sys, &cfg, &mut chan, "").unwrap();
    let steps = own_steps(&sys.log());
    assert_eq!(steps[..2], [Call::Setsid, Call::MarkFdsCloexecFrom(3)]);
    assert!(
        !steps.iter().any(|c| matches!(
            c,
            Call::JoinSessionKeyring(_)
                | Call::WriteProc(..)
                | Call::Setrlimit(..)
                | Call::WriteAttr(..)
        )),
        "{steps:?}"
    );
}
