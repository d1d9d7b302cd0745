//! Root-free tests of the mount logic through the Syscall seam.

use super::*;

fn opts(list: &[&str]) -> MountOptions {
    parse_options(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

#[test]
fn flags_data_and_propagation_are_split() {
    let o = opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
    assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
    assert_eq!(o.data, vec!["mode=755", "size=65536k"]);
    let o = opts(&["rbind", "ro", "rprivate"]);
    assert!(o.bind && o.recursive);
    assert_eq!(o.flags, MsFlags::MS_RDONLY);
    assert_eq!(o.propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
}

#[test]
fn recursive_options_become_mount_setattr_attributes() {
    use crate::oci::rootfs::mountapi::*;
    let o = opts(&["rbind", "rro", "rnosuid", "rnoexec"]);
    assert_eq!(o.flags, MsFlags::empty(), "no mount(2) flag for r* options");
    assert_eq!(o.rec.set, ATTR_RDONLY | ATTR_NOSUID | ATTR_NOEXEC);
    assert_eq!(o.rec.clr, 0);
    let o = opts(&["rro", "rrw", "rdev"]);
    assert_eq!((o.rec.set, o.rec.clr), (0, ATTR_RDONLY | ATTR_NODEV));
    // An atime mode clears the whole atime mask.
    let o = opts(&["rnoatime"]);
    assert_eq!((o.rec.set, o.rec.clr), (ATTR_NOATIME, ATTR_ATIME_MASK));
    let o = opts(&["rnoatime", "rrelatime"]);
    assert_eq!((o.rec.set, o.rec.clr), (ATTR_RELATIME, ATTR_ATIME_MASK));
    let o = opts(&["rnorelatime"]);
    assert_eq!((o.rec.set, o.rec.clr), (ATTR_STRICTATIME, ATTR_ATIME_MASK));
    let o = opts(&["rnosymfollow", "rnodiratime"]);
    assert_eq!(o.rec.set, ATTR_NOSYMFOLLOW | ATTR_NODIRATIME);
    assert_eq!(opts(&["bind", "ridmap"]).idmap, Some(Idmap::Recursive));
    assert_eq!(opts(&["idmap"]).idmap, Some(Idmap::Top));
}

/// A temp dir with an empty `rootfs` in it, and a v2 cgroup target.
fn fake_rootfs() -> (tempfile::TempDir, PathBuf, CgroupTarget) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    let cgroup = CgroupTarget {
        hierarchy: Hierarchy::V2 { root: "/x".into() },
        path: "/c".into(),
    };
    (dir, root, cgroup)
}

#[test]
fn unknown_bind_options_tmpcopyup_and_idmapped_non_binds_are_refused() {
    use crate::oci::syscall::Recorder;
    let (_dir, root, cgroup) = fake_rootfs();
    let cases = [
        (
            serde_json::json!({"destination": "/a", "type": "bind", "source": "/tmp", "options": ["rbind", "rrro"]}),
            "rrro",
        ),
        (
            serde_json::json!({"destination": "/b", "type": "proc", "source": "proc", "options": ["tmpcopyup"]}),
            "only tmpfs",
        ),
        (
            serde_json::json!({"destination": "/c", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}),
            "only bind mounts",
        ),
        (
            serde_json::json!({"destination": "/d", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]}),
            "not prepared",
        ),
    ];
    for (m, want) in cases {
        let mounts: Vec<Mount> = serde_json::from_value(serde_json::json!([m])).unwrap();
        let rec = Recorder::new(&root);
        let e = mount_all(
            &rec,
            &RootDir::open(&root).unwrap(),
            &mounts,
            &cgroup,
            false,
            &IdmapTrees::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
        assert!(rec.calls.borrow().is_empty(), "nothing mounted for {m}");
    }
}

#[test]
fn recursive_attributes_and_idmapped_trees_reach_the_kernel_calls() {
    use crate::oci::rootfs::mountapi::*;
    use crate::oci::syscall::Recorder;
    let (dir, root, cgroup) = fake_rootfs();
    let mounts: Vec<Mount> = serde_json::from_value(serde_json::json!([
        {"destination": "/ro", "type": "bind", "source": dir.path(), "options": ["rbind", "rro", "rprivate"]},
        {"destination": "/mapped", "type": "bind", "source": dir.path(), "options": ["bind", "idmap", "ro"]}
    ]))
    .unwrap();
    let mut trees = IdmapTrees::new();
    trees.insert(1, std::fs::File::open(dir.path()).unwrap().into());
    let rec = Recorder::new(&root);
    mount_all(
        &rec,
        &RootDir::open(&root).unwrap(),
        &mounts,
        &cgroup,
        false,
        &trees,
    )
    .unwrap();
    assert_eq!(
        *rec.attrs.borrow(),
        vec![(
            "/ro".to_string(),
            true,
            Attrs {
                set: ATTR_RDONLY,
                clr: 0
            }
        )]
    );
    assert_eq!(*rec.moves.borrow(), vec!["/mapped".to_string()]);
    let calls = rec.calls.borrow();
    // rbind + rprivate for /ro; only the read-only remount for /mapped.
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[2].target, "/mapped");
    assert!(
        calls[2]
            .flags
            .contains(MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY)
    );
}

/// In a user namespace `create` hands the init a detached tree of every
/// bind source (the pod's root may not reach the path): the init attaches
/// it, never binds the path, and still applies the mount's flags.
#[test]
fn a_prepared_tree_of_a_plain_bind_is_attached_not_bound_by_path() {
    use crate::oci::syscall::Recorder;
    let (dir, root, cgroup) = fake_rootfs();
    // The path no longer exists: only the prepared tree can serve it.
    let mounts: Vec<Mount> = serde_json::from_value(serde_json::json!([
        {"destination": "/vol", "type": "bind", "source": "/nonexistent/pods/vol", "options": ["rbind", "ro"]}
    ]))
    .unwrap();
    let mut trees = IdmapTrees::new();
    trees.insert(0, std::fs::File::open(dir.path()).unwrap().into());
    let rec = Recorder::new(&root);
    mount_all(
        &rec,
        &RootDir::open(&root).unwrap(),
        &mounts,
        &cgroup,
        true,
        &trees,
    )
    .unwrap();
    assert_eq!(*rec.moves.borrow(), vec!["/vol".to_string()]);
    let calls = rec.calls.borrow();
    assert_eq!(calls.len(), 1, "only the read-only remount: {calls:?}");
    assert!(
        calls[0]
            .flags
            .contains(MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY)
    );
    assert!(
        root.join("vol").is_dir(),
        "a directory target, as the tree is one"
    );
}

#[test]
fn later_options_override_earlier_ones() {
    assert_eq!(opts(&["ro", "rw"]).flags, MsFlags::empty());
    assert_eq!(opts(&["rw", "ro"]).flags, MsFlags::MS_RDONLY);
}

#[test]
fn propagation_names_map_with_and_without_rec() {
    assert_eq!(propagation_flag("slave"), Some(MsFlags::MS_SLAVE));
    assert_eq!(
        propagation_flag("rshared"),
        Some(MsFlags::MS_SHARED | MsFlags::MS_REC)
    );
    assert_eq!(propagation_flag("ro"), None);
}

#[test]
fn symlinks_cannot_escape_the_rootfs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("run")).unwrap();
    std::os::unix::fs::symlink("../../../../run", root.join("varrun")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("abs")).unwrap();
    assert_eq!(
        resolve_in_root(root, Path::new("/varrun/x")).unwrap(),
        root.join("run/x")
    );
    assert_eq!(
        resolve_in_root(root, Path::new("/abs")).unwrap(),
        root.join("etc/passwd")
    );
    assert_eq!(
        resolve_in_root(root, Path::new("/../../proc")).unwrap(),
        root.join("proc")
    );
}

/// A fake kernel that, at the moment of the mount, swaps the resolved
/// directory for a symlink to the host (the attacker winning the race).
struct Swapper {
    root: PathBuf,
    host: PathBuf,
    rec: crate::oci::syscall::Recorder,
}

impl MountCalls for Swapper {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        if !self.root.join("data-old").exists() {
            std::fs::rename(self.root.join("data"), self.root.join("data-old")).unwrap();
            std::os::unix::fs::symlink(&self.host, self.root.join("data")).unwrap();
        }
        self.rec.mount(source, target, fstype, flags, data)
    }

    fn mount_setattr(&self, target: &OwnedFd, recursive: bool, attrs: Attrs) -> nix::Result<()> {
        self.rec.mount_setattr(target, recursive, attrs)
    }

    fn move_mount(&self, tree: &OwnedFd, target: &OwnedFd) -> nix::Result<()> {
        self.rec.move_mount(tree, target)
    }
}

#[test]
fn a_target_swapped_for_a_host_symlink_after_resolution_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    let host = dir.path().join("host");
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::create_dir_all(&host).unwrap();
    let mounts: Vec<Mount> = serde_json::from_value(serde_json::json!([
        {"destination": "/data/x", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "rprivate"]}
    ]))
    .unwrap();
    let cgroup = CgroupTarget {
        hierarchy: Hierarchy::V2 { root: "/x".into() },
        path: "/c".into(),
    };
    let sys = Swapper {
        root: root.clone(),
        host: host.clone(),
        rec: crate::oci::syscall::Recorder::new(&root),
    };
    let result = mount_all(
        &sys,
        &RootDir::open(&root).unwrap(),
        &mounts,
        &cgroup,
        false,
        &IdmapTrees::new(),
    );
    assert!(result.is_err(), "the reopen must not find /data/x");
    let calls = sys.rec.calls.borrow();
    assert_eq!(calls.len(), 1);
    // The mount lands on the inode that was opened (now /data-old/x);
    // the reopen for propagation resolves /data inside the rootfs and,
    // finding no /data/x there, fails instead of reaching the host.
    assert_eq!(calls[0].target, "/data-old/x");
    assert!(
        calls
            .iter()
            .all(|c| !c.target.starts_with(host.to_str().unwrap()))
    );
    assert!(!host.join("x").exists());
}

#[test]
fn spec_mounts_become_the_expected_mount_calls() {
    use crate::oci::syscall::{MountCall, Recorder};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    let host_file = dir.path().join("hosts");
    std::fs::write(&host_file, "").unwrap();
    let mounts: Vec<Mount> = serde_json::from_value(serde_json::json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755"]},
        {"destination": "/etc/hosts", "type": "bind", "source": host_file, "options": ["rbind", "rprivate", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "ro"]}
    ]))
    .unwrap();
    let cgroup = CgroupTarget {
        hierarchy: Hierarchy::V1 {
            mounts: vec![("memory".into(), PathBuf::from("/sys/fs/cgroup/memory"))],
            unified: None,
        },
        path: "/pod/c".into(),
    };
    let rec = Recorder::new(&root);
    mount_all(
        &rec,
        &RootDir::open(&root).unwrap(),
        &mounts,
        &cgroup,
        false,
        &IdmapTrees::new(),
    )
    .unwrap();
    let call = |source: Option<&str>,
                target: &str,
                fstype: Option<&str>,
                flags: MsFlags,
                data: Option<&str>| MountCall {
        source: source.map(str::to_string),
        target: target.to_string(),
        fstype: fstype.map(str::to_string),
        flags,
        data: data.map(str::to_string),
    };
    let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let hosts = host_file.display().to_string();
    assert_eq!(
        *rec.calls.borrow(),
        vec![
            call(Some("proc"), "/proc", Some("proc"), MsFlags::empty(), None),
            call(
                Some("tmpfs"),
                "/dev",
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
                Some("mode=755")
            ),
            call(
                Some(&hosts),
                "/etc/hosts",
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None
            ),
            call(
                None,
                "/etc/hosts",
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None
            ),
            call(
                None,
                "/etc/hosts",
                None,
                MsFlags::MS_PRIVATE | MsFlags::MS_REC,
                None
            ),
            call(
                Some("tmpfs"),
                "/sys/fs/cgroup",
                Some("tmpfs"),
                base,
                Some("mode=755")
            ),
            call(
                Some("/sys/fs/cgroup/memory/pod/c"),
                "/sys/fs/cgroup/memory",
                None,
                MsFlags::MS_BIND,
                None
            ),
            call(
                None,
                "/sys/fs/cgroup/memory",
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | base | MsFlags::MS_RDONLY,
                None
            ),
            call(
                None,
                "/sys/fs/cgroup",
                None,
                MsFlags::MS_REMOUNT | base | MsFlags::MS_RDONLY,
                Some("mode=755")
            ),
        ]
    );
    assert!(
        root.join("etc/hosts").is_file(),
        "file bind target is a file"
    );
    assert!(root.join("sys/fs/cgroup/memory").is_dir());
}

#[test]
fn filesystem_data_on_a_bind_mount_is_ignored_as_the_kernel_does() {
    use crate::oci::syscall::Recorder;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mounts: Vec<Mount> = serde_json::from_value(serde_json::json!([
        {"destination": "/data", "type": "bind", "source": src, "options": ["bind", "mode=755", "size=1k"]}
    ]))
    .unwrap();
    let cgroup = CgroupTarget {
        hierarchy: Hierarchy::V2 { root: "/x".into() },
        path: "/c".into(),
    };
    let rec = Recorder::new(&root);
    mount_all(
        &rec,
        &RootDir::open(&root).unwrap(),
        &mounts,
        &cgroup,
        false,
        &IdmapTrees::new(),
    )
    .unwrap();
    let calls = rec.calls.borrow();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].flags, MsFlags::MS_BIND);
    assert_eq!(calls[0].data, None, "a bind mount passes no data");
}
