//! The spec's `mounts`, performed in order inside the container's mount
//! namespace before pivot_root: option parsing (pure, unit-tested),
//! destination resolution confined to the rootfs, and the mount calls.
//!
//! Recursive attributes (`rro`, `rnosuid`…) go on after the mount with
//! mount_setattr(AT_RECURSIVE), as runc does: a plain `ro` bind leaves
//! the submounts of an `rbind` writable. Id-mapped binds (`idmap`,
//! `ridmap`, or a mount with uid/gid mappings) arrive as detached trees
//! that `create` prepared in the host's namespaces ([`crate::oci::rootfs::idmap`]) and
//! are attached here with move_mount.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use crate::cgroups::Hierarchy;
use crate::oci::error::{OciError, Result};
use crate::oci::log;
use crate::oci::rootfs::confined::{RootDir, fd_path};
// Checked by mounts/tests.rs, beside the mounts that rely on it.
#[cfg(test)]
use crate::oci::rootfs::confined::resolve_in_root;
use crate::oci::rootfs::copyup;
use crate::oci::rootfs::mountapi::{self, Attrs};
use crate::oci::syscall::MountCalls;
use crate::spec::Mount;

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
    /// Recursive attributes (`rro`, `rnosuid`…) for mount_setattr.
    pub rec: Attrs,
    /// `idmap` or `ridmap`.
    pub idmap: Option<Idmap>,
    /// `tmpcopyup`: a tmpfs starts with a copy of the directory it covers.
    pub tmpcopyup: bool,
}

/// How far an id mapping reaches in a bind mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idmap {
    /// `idmap`: only the top mount.
    Top,
    /// `ridmap`: the top mount and every submount of an `rbind`.
    Recursive,
}

/// Detached trees of bind sources made by `create` in the host's
/// namespaces (id-mapped ones, and in a user namespace every absolute
/// bind source), by index of the spec mount.
pub(crate) type IdmapTrees = HashMap<usize, OwnedFd>;

/// runc's table of recursive attributes: `(clear, MOUNT_ATTR_*)`.
fn recursive_attr(name: &str) -> Option<(bool, u64)> {
    Some(match name {
        "rro" => (false, mountapi::ATTR_RDONLY),
        "rrw" => (true, mountapi::ATTR_RDONLY),
        "rnosuid" => (false, mountapi::ATTR_NOSUID),
        "rsuid" => (true, mountapi::ATTR_NOSUID),
        "rnodev" => (false, mountapi::ATTR_NODEV),
        "rdev" => (true, mountapi::ATTR_NODEV),
        "rnoexec" => (false, mountapi::ATTR_NOEXEC),
        "rexec" => (true, mountapi::ATTR_NOEXEC),
        "rnodiratime" => (false, mountapi::ATTR_NODIRATIME),
        "rdiratime" => (true, mountapi::ATTR_NODIRATIME),
        "rrelatime" => (false, mountapi::ATTR_RELATIME),
        "rnorelatime" => (true, mountapi::ATTR_RELATIME),
        "rnoatime" => (false, mountapi::ATTR_NOATIME),
        "ratime" => (true, mountapi::ATTR_NOATIME),
        "rstrictatime" => (false, mountapi::ATTR_STRICTATIME),
        "rnostrictatime" => (true, mountapi::ATTR_STRICTATIME),
        "rnosymfollow" => (false, mountapi::ATTR_NOSYMFOLLOW),
        "rsymfollow" => (true, mountapi::ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// Adds one recursive option to `rec`; a later option overrides an
/// earlier one. The atime mode is one value inside a mask, which the
/// kernel wants cleared whole whenever it changes (mount_setattr(2)); so
/// `ratime`/`rnostrictatime` go back to relatime and `rnorelatime` means
/// strictatime, instead of a partial clear the kernel refuses.
fn add_recursive(mut rec: Attrs, clear: bool, flag: u64) -> Attrs {
    let is_atime = flag & mountapi::ATTR_ATIME_MASK == flag;
    if is_atime {
        let mode = match (clear, flag) {
            (false, f) => f,
            (true, mountapi::ATTR_RELATIME) => mountapi::ATTR_STRICTATIME,
            (true, _) => mountapi::ATTR_RELATIME,
        };
        rec.set = (rec.set & !mountapi::ATTR_ATIME_MASK) | mode;
        rec.clr |= mountapi::ATTR_ATIME_MASK;
    } else if clear {
        rec.clr |= flag;
        rec.set &= !flag;
    } else {
        rec.set |= flag;
        rec.clr &= !flag;
    }
    rec
}

/// The recursive option names, for `features`.
pub(crate) const RECURSIVE_OPTIONS: [&str; 18] = [
    "ratime",
    "rdev",
    "rdiratime",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "rrelatime",
    "rro",
    "rrw",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
];

/// Splits OCI mount options the way runc does.
pub(crate) fn parse_options(options: &[String]) -> MountOptions {
    let mut o = MountOptions {
        flags: MsFlags::empty(),
        propagation: MsFlags::empty(),
        data: Vec::new(),
        bind: false,
        recursive: false,
        rec: Attrs::default(),
        idmap: None,
        tmpcopyup: false,
    };
    for opt in options {
        if let Some((clear, flag)) = recursive_attr(opt) {
            o.rec = add_recursive(o.rec, clear, flag);
            continue;
        }
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
            "idmap" => {
                o.idmap = Some(Idmap::Top);
                continue;
            }
            "ridmap" => {
                o.idmap = Some(Idmap::Recursive);
                continue;
            }
            "tmpcopyup" => {
                o.tmpcopyup = true;
                continue;
            }
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

/// Performs every spec mount in order under the rootfs.
/// In a user namespace (`userns`), bind remounts keep the flags the
/// kernel locked on the source mount, and sysfs falls back to a bind of
/// the host's `/sys` when the network namespace is not ours, as runc does.
pub(crate) fn mount_all(
    sys: &impl MountCalls,
    root: &RootDir,
    mounts: &[Mount],
    cgroup: &CgroupTarget,
    userns: bool,
    idmapped: &IdmapTrees,
) -> Result<()> {
    for (i, m) in mounts.iter().enumerate() {
        mount_one(sys, root, m, cgroup, userns, idmapped.get(&i))?;
    }
    Ok(())
}

/// The flags of the mount `path` is on that a user namespace may not
/// clear in a bind remount (nosuid, nodev, noexec, atime, read-only).
pub(crate) fn locked_flags(path: &Path) -> MsFlags {
    locked_flags_of(nix::sys::statvfs::statvfs(path))
}

/// [`locked_flags`] from a `statvfs` answer (none when it failed).
fn locked_flags_of(st: nix::Result<nix::sys::statvfs::Statvfs>) -> MsFlags {
    use nix::sys::statvfs::FsFlags;
    let Ok(st) = st else {
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

/// One spec mount: its options checked, the mount itself (a bind, a
/// cgroup, or any other filesystem), then its propagation and recursive
/// attributes.
fn mount_one(
    sys: &impl MountCalls,
    root: &RootDir,
    m: &Mount,
    cgroup: &CgroupTarget,
    userns: bool,
    idmapped: Option<&OwnedFd>,
) -> Result<()> {
    let dest = &m.destination;
    let opts = parse_options(m.options.as_deref().unwrap_or(&[]));
    let typ = m.typ.as_deref().unwrap_or("");
    let is_bind = opts.bind || typ == "bind";
    check_options(m, &opts, typ, is_bind)?;
    if is_bind {
        mount_bind(sys, root, m, &opts, userns, idmapped)?;
    } else if typ == "cgroup" {
        let target = create_target(root, dest, true)?;
        mount_cgroup(sys, root, dest, &target, opts.flags, cgroup, userns)?;
    } else {
        mount_filesystem(sys, root, m, &opts, typ, userns)?;
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
    if !opts.rec.is_empty() {
        sys.mount_setattr(&reopen(root, dest)?, true, opts.rec)
            .map_err(|e| match e {
                nix::Error::ENOSYS => OciError::Unsupported(format!(
                    "recursive mount options on {} need mount_setattr (Linux 5.12)",
                    dest.display()
                )),
                e => err("set recursive mount attributes of", dest, e),
            })?;
    }
    Ok(())
}

/// Refuses the option combinations no mount can honour: `tmpcopyup` on
/// anything but a tmpfs, an unknown bare word on a bind mount, an id
/// mapping on anything but a bind mount.
fn check_options(m: &Mount, opts: &MountOptions, typ: &str, is_bind: bool) -> Result<()> {
    let dest = &m.destination;
    if opts.tmpcopyup && typ != "tmpfs" {
        return Err(OciError::Unsupported(format!(
            "mount option tmpcopyup on a {typ} mount ({}): only tmpfs",
            dest.display()
        )));
    }
    if is_bind && !opts.data.is_empty() {
        // mount(2) ignores the data of a bind mount. Filesystem data
        // (`key=value`: `mode=755,size=1k`) is ignored as the kernel, runc
        // and crun do (runtime-tools' `mounts` expects it to work), with a
        // warning since it then does nothing. A bare word we do not know is
        // more likely a misspelt flag (`rrro`, `nosiud`) than data:
        // ignoring it would silently drop what it meant, so it is refused.
        if let Some(word) = opts.data.iter().find(|d| !d.contains('=')) {
            return Err(OciError::Unsupported(format!(
                "mount option {word:?} on bind mount {}",
                dest.display()
            )));
        }
        log::warn(&format!(
            "mount options {:?} on bind mount {} ignored: a bind mount has no filesystem data",
            opts.data,
            dest.display()
        ));
    }
    if wants_idmap(m, opts) && !is_bind {
        return Err(OciError::Unsupported(format!(
            "id-mapped {typ} mount {} (only bind mounts can be id-mapped)",
            dest.display()
        )));
    }
    Ok(())
}

fn wants_idmap(m: &Mount, opts: &MountOptions) -> bool {
    opts.idmap.is_some() || has_mappings(m)
}

/// A bind mount (attached from its prepared id-mapped tree when it has
/// one), then a remount for its flags, keeping in a user namespace the
/// flags the kernel locked on the source.
fn mount_bind(
    sys: &impl MountCalls,
    root: &RootDir,
    m: &Mount,
    opts: &MountOptions,
    userns: bool,
    idmapped: Option<&OwnedFd>,
) -> Result<()> {
    let dest = &m.destination;
    let source = m.source.as_ref().ok_or_else(|| {
        OciError::Unsupported(format!(
            "bind mount to {} without source",
            m.destination.display()
        ))
    })?;
    // A prepared tree is asked, not the path: in a user namespace the
    // path may be out of the container root's reach.
    let src_is_dir = match idmapped {
        Some(tree) => nix::sys::stat::fstat(tree)
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .map_err(|e| err("fstat the prepared tree of", dest, e))?,
        None => std::fs::metadata(source)
            .map_err(|e| OciError::io("bind source", source, e))?
            .is_dir(),
    };
    let target = create_target(root, dest, src_is_dir)?;
    if let Some(tree) = idmapped {
        sys.move_mount(tree, &target)
            .map_err(|e| err("attach the prepared tree onto", dest, e))?;
    } else if wants_idmap(m, opts) {
        return Err(OciError::Init(format!(
            "id-mapped mount {} was not prepared",
            dest.display()
        )));
    } else {
        let mut flags = MsFlags::MS_BIND;
        if opts.recursive {
            flags |= MsFlags::MS_REC;
        }
        sys.mount(Some(source), &fd_path(&target), None, flags, None)
            .map_err(|e| err("bind mount onto", dest, e))?;
    }
    let remount = opts.flags & !MsFlags::MS_REMOUNT;
    if !remount.is_empty() {
        let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | remount;
        if userns {
            let locked = match idmapped {
                Some(tree) => locked_flags_of(nix::sys::statvfs::fstatvfs(tree)),
                None => locked_flags(source),
            };
            flags |= locked & !MsFlags::MS_RDONLY;
        }
        sys.mount(None, &fd_path(&reopen(root, dest)?), None, flags, None)
            .map_err(|e| err("remount bind", dest, e))?;
    }
    Ok(())
}

/// Any other filesystem (proc, tmpfs, sysfs, mqueue…), with `tmpcopyup`'s
/// copy of what a tmpfs covers.
fn mount_filesystem(
    sys: &impl MountCalls,
    root: &RootDir,
    m: &Mount,
    opts: &MountOptions,
    typ: &str,
    userns: bool,
) -> Result<()> {
    let dest = &m.destination;
    let data = (!opts.data.is_empty()).then(|| opts.data.join(","));
    let target = create_target(root, dest, true)?;
    let source = m.source.clone().unwrap_or_else(|| PathBuf::from(typ));
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
        // mqueue belongs to the IPC namespace's owner: in a user namespace
        // with a joined IPC namespace of the node's (a pod's pin) it cannot
        // be mounted. Binding the node's /dev/mqueue (as runc does) would
        // show the node's queues, not the pod's: leave the directory empty.
        Err(nix::Error::EPERM) if userns && typ == "mqueue" => {
            log::warn(&format!(
                "{}: mqueue left unmounted: the IPC namespace belongs to another user namespace",
                dest.display()
            ));
        }
        other => other.map_err(|e| err(&format!("mount {typ}"), dest, e))?,
    }
    if opts.tmpcopyup {
        // `target` still names the directory the tmpfs now covers.
        copyup::copy_tree(&target, &reopen(root, dest)?)?;
    }
    Ok(())
}

/// True when the spec gives the mount its own uid or gid mappings.
pub(crate) fn has_mappings(m: &Mount) -> bool {
    m.uid_mappings.as_ref().is_some_and(|v| !v.is_empty())
        || m.gid_mappings.as_ref().is_some_and(|v| !v.is_empty())
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
    sys: &impl MountCalls,
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
        Hierarchy::V1 { mounts, .. } => {
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
mod tests;
