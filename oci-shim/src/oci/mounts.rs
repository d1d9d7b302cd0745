//! The spec's `mounts`, performed in order inside the container's mount
//! namespace before pivot_root: option parsing (pure, unit-tested),
//! destination resolution confined to the rootfs, and the mount calls.

use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::Mount;

use super::confined::{RootDir, fd_path};
use super::error::{OciError, Result};
use super::syscall::Syscall;
use crate::cgroups::Hierarchy;

/// A mount's options split into flags, propagation and filesystem data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountOptions {
    /// Flags for mount(2) (MS_RDONLY, MS_NOSUID…), without bind/propagation.
    pub flags: MsFlags,
    /// Propagation flags, applied by a separate mount(2) call.
    pub propagation: MsFlags,
    /// Everything else, passed as the data string (`mode=755,size=…`).
    pub data: Vec<String>,
    /// `bind` or `rbind` was given.
    pub bind: bool,
    /// `rbind`.
    pub recursive: bool,
}

/// Splits OCI mount options the way runc does.
pub(crate) fn parse_options(options: &[String]) -> MountOptions {
    let mut o = MountOptions {
        flags: MsFlags::empty(),
        propagation: MsFlags::empty(),
        data: Vec::new(),
        bind: false,
        recursive: false,
    };
    for opt in options {
        let (set, clear) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "bind" => {
                o.bind = true;
                continue;
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                continue;
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                o.propagation |= propagation_flag(opt).unwrap_or(MsFlags::empty());
                continue;
            }
            // Options runc knows but that have no mount(2) meaning here.
            "tmpcopyup" | "idmap" | "ridmap" => continue,
            _ => {
                o.data.push(opt.clone());
                continue;
            }
        };
        o.flags = (o.flags | set) & !clear;
    }
    o
}

/// `rprivate` → MS_PRIVATE|MS_REC, etc.; `None` for anything else.
pub(crate) fn propagation_flag(name: &str) -> Option<MsFlags> {
    let (rec, base) = match name.strip_prefix('r') {
        Some(b) => (true, b),
        None => (false, name),
    };
    let f = match base {
        "private" => MsFlags::MS_PRIVATE,
        "shared" => MsFlags::MS_SHARED,
        "slave" => MsFlags::MS_SLAVE,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        _ => return None,
    };
    Some(if rec { f | MsFlags::MS_REC } else { f })
}

/// Resolves `dest` (an absolute container path) inside `rootfs`, following
/// symlinks as if `rootfs` were `/`, so no link can point outside it.
pub(crate) fn resolve_in_root(rootfs: &Path, dest: &Path) -> Result<PathBuf> {
    let mut pending: Vec<PathBuf> = vec![dest.to_path_buf()];
    let mut out = rootfs.to_path_buf();
    let mut links = 0;
    while let Some(p) = pending.pop() {
        let mut comps: Vec<Component> = p.components().collect();
        comps.reverse();
        while let Some(c) = comps.pop() {
            match c {
                Component::RootDir => out = rootfs.to_path_buf(),
                Component::CurDir | Component::Prefix(_) => {}
                Component::ParentDir => {
                    if out != rootfs {
                        out.pop();
                    }
                }
                Component::Normal(name) => {
                    let next = out.join(name);
                    match std::fs::symlink_metadata(&next) {
                        Ok(m) if m.file_type().is_symlink() => {
                            links += 1;
                            if links > 40 {
                                return Err(OciError::Unsupported(format!(
                                    "too many symlinks resolving {}",
                                    dest.display()
                                )));
                            }
                            let target = std::fs::read_link(&next)
                                .map_err(|e| OciError::io("readlink", &next, e))?;
                            let rest: PathBuf = comps.iter().rev().collect();
                            comps.clear();
                            pending.push(rest);
                            pending.push(target);
                        }
                        _ => out = next,
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Performs every spec mount in order under the rootfs.
/// In a user namespace (`userns`), bind remounts keep the flags the
/// kernel locked on the source mount, and sysfs falls back to a bind of
/// the host's `/sys` when the network namespace is not ours, as runc does.
pub(crate) fn mount_all(
    sys: &dyn Syscall,
    root: &RootDir,
    mounts: &[Mount],
    cgroup: &CgroupTarget,
    userns: bool,
) -> Result<()> {
    for m in mounts {
        mount_one(sys, root, m, cgroup, userns)?;
    }
    Ok(())
}

/// The flags of the mount `path` is on that a user namespace may not
/// clear in a bind remount (nosuid, nodev, noexec, atime, read-only).
pub(crate) fn locked_flags(path: &Path) -> MsFlags {
    use nix::sys::statvfs::{FsFlags, statvfs};
    let Ok(st) = statvfs(path) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let pairs = [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    pairs
        .iter()
        .filter(|(st, _)| f.contains(*st))
        .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms)
}

/// What a `cgroup` mount shows: the container's own cgroup directories.
pub(crate) struct CgroupTarget {
    /// The host's hierarchy.
    pub hierarchy: Hierarchy,
    /// The container's cgroup path.
    pub path: String,
}

fn err(what: &str, dest: &Path, e: nix::Error) -> OciError {
    OciError::sys(format!("{what} {}", dest.display()), e)
}

/// Reopens `dest` after a mount onto it: the old descriptor still names
/// the covered inode, while remounts and propagation changes must reach
/// the new mount on top.
fn reopen(root: &RootDir, dest: &Path) -> Result<OwnedFd> {
    root.open_path(dest)
        .map_err(|e| err("reopen mount target", dest, e))
}

fn mount_one(
    sys: &dyn Syscall,
    root: &RootDir,
    m: &Mount,
    cgroup: &CgroupTarget,
    userns: bool,
) -> Result<()> {
    let dest = m.destination();
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("");
    let data = (!opts.data.is_empty()).then(|| opts.data.join(","));

    if opts.bind || typ == "bind" {
        let source = m.source().as_ref().ok_or_else(|| {
            OciError::Unsupported(format!(
                "bind mount to {} without source",
                m.destination().display()
            ))
        })?;
        let src_is_dir = std::fs::metadata(source)
            .map_err(|e| OciError::io("bind source", source, e))?
            .is_dir();
        let target = create_target(root, dest, src_is_dir)?;
        let mut flags = MsFlags::MS_BIND;
        if opts.recursive {
            flags |= MsFlags::MS_REC;
        }
        sys.mount(Some(source), &fd_path(&target), None, flags, None)
            .map_err(|e| err("bind mount onto", dest, e))?;
        let remount = opts.flags & !MsFlags::MS_REMOUNT;
        if !remount.is_empty() {
            let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | remount;
            if userns {
                flags |= locked_flags(source) & !MsFlags::MS_RDONLY;
            }
            sys.mount(None, &fd_path(&reopen(root, dest)?), None, flags, None)
                .map_err(|e| err("remount bind", dest, e))?;
        }
    } else if typ == "cgroup" {
        let target = create_target(root, dest, true)?;
        mount_cgroup(sys, root, dest, &target, opts.flags, cgroup, userns)?;
    } else {
        let target = create_target(root, dest, true)?;
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        let mounted = sys.mount(
            Some(&source),
            &fd_path(&target),
            Some(typ),
            opts.flags,
            data.as_deref(),
        );
        match mounted {
            // sysfs belongs to the network namespace's owner: in a user
            // namespace with a joined network namespace, bind the host's.
            Err(nix::Error::EPERM) if userns && typ == "sysfs" => {
                let host = Path::new("/sys");
                sys.mount(
                    Some(host),
                    &fd_path(&target),
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )
                .map_err(|e| err("bind /sys onto", dest, e))?;
                let flags = MsFlags::MS_BIND
                    | MsFlags::MS_REMOUNT
                    | opts.flags
                    | (locked_flags(host) & !MsFlags::MS_RDONLY);
                sys.mount(None, &fd_path(&reopen(root, dest)?), None, flags, None)
                    .map_err(|e| err("remount /sys bind", dest, e))?;
            }
            other => other.map_err(|e| err(&format!("mount {typ}"), dest, e))?,
        }
    }
    if !opts.propagation.is_empty() {
        sys.mount(
            None,
            &fd_path(&reopen(root, dest)?),
            None,
            opts.propagation,
            None,
        )
        .map_err(|e| err("set propagation of", dest, e))?;
    }
    Ok(())
}

/// A directory (or, for file bind mounts, an empty file) at `dest`,
/// created and opened inside the rootfs.
fn create_target(root: &RootDir, dest: &Path, dir: bool) -> Result<OwnedFd> {
    if dir {
        root.mkdir_all(dest)
    } else {
        root.create_file(dest)
    }
}

/// v2: a cgroup2 mount. v1: a tmpfs with one bind mount per controller of
/// the container's own cgroup directory, read-only when asked.
fn mount_cgroup(
    sys: &dyn Syscall,
    root: &RootDir,
    dest: &Path,
    target: &OwnedFd,
    flags: MsFlags,
    cgroup: &CgroupTarget,
    userns: bool,
) -> Result<()> {
    match &cgroup.hierarchy {
        Hierarchy::V2 { .. } => sys
            .mount(
                Some(Path::new("cgroup")),
                &fd_path(target),
                Some("cgroup2"),
                flags,
                None,
            )
            .map_err(|e| err("mount cgroup2", dest, e)),
        Hierarchy::V1 { mounts } => {
            let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            sys.mount(
                Some(Path::new("tmpfs")),
                &fd_path(target),
                Some("tmpfs"),
                base,
                Some("mode=755"),
            )
            .map_err(|e| err("mount cgroup tmpfs", dest, e))?;
            let rel = cgroup.path.trim_start_matches('/');
            for (name, host) in mounts {
                let sub = dest.join(name);
                let target = create_target(root, &sub, true)?;
                let src = host.join(rel);
                sys.mount(Some(&src), &fd_path(&target), None, MsFlags::MS_BIND, None)
                    .map_err(|e| err("bind cgroup", &sub, e))?;
                let mut remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | base | flags;
                if userns {
                    remount |= locked_flags(&src) & !MsFlags::MS_RDONLY;
                }
                sys.mount(None, &fd_path(&reopen(root, &sub)?), None, remount, None)
                    .map_err(|e| err("remount cgroup", &sub, e))?;
            }
            if flags.contains(MsFlags::MS_RDONLY) {
                let remount = MsFlags::MS_REMOUNT | base | MsFlags::MS_RDONLY;
                sys.mount(
                    None,
                    &fd_path(&reopen(root, dest)?),
                    None,
                    remount,
                    Some("mode=755"),
                )
                .map_err(|e| err("remount cgroup tmpfs", dest, e))?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
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

    impl Syscall for Swapper {
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
}
