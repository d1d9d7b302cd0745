//! The root filesystem switch: propagation, the rootfs bind, pivot_root
//! (or MS_MOVE + chroot with `--no-pivot`), then the post-pivot hardening:
//! a read-only root, masked paths and read-only paths.

use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use crate::oci::error::{OciError, Result};
use crate::oci::rootfs::mounts::propagation_flag;

fn sys(what: &str, path: &Path, e: nix::Error) -> OciError {
    OciError::sys(format!("{what} {}", path.display()), e)
}

/// Sets the propagation of the whole tree to the spec's `rootfsPropagation`
/// (recursive slave by default, as runc: host mounts still reach the
/// container, nothing flows back), then bind-mounts the rootfs onto itself
/// so it is a mount point pivot_root accepts.
///
/// The configured value replaces the slave default rather than following
/// it: a `rshared` root must keep the host's peer groups, or bidirectional
/// volumes would only propagate inside the container.
pub(crate) fn prepare(rootfs: &Path, propagation: Option<&str>) -> Result<()> {
    let prop = match propagation {
        Some(p) => propagation_flag(p)
            .ok_or_else(|| OciError::Unsupported(format!("rootfsPropagation {p:?}")))?,
        None => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        prop | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| sys("set propagation of", Path::new("/"), e))?;
    // Before the bind, so the new root mount is private too.
    parent_mount_private(rootfs)?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| sys("bind rootfs", rootfs, e))
}

/// Without a mount namespace of the container's: a private recursive bind
/// of the rootfs onto itself, so the container's mounts stack on a mount
/// of their own that propagates nothing to the host's peers and that
/// `delete` detaches whole. The propagation of `/` is the host's: untouched.
pub(crate) fn prepare_inherited(rootfs: &Path) -> Result<()> {
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| sys("bind rootfs", rootfs, e))?;
    mount(
        None::<&str>,
        rootfs,
        None::<&str>,
        MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| sys("make private", rootfs, e))
}

/// Without a mount namespace of the container's, the root switch is a
/// chroot, as runc's: pivot_root (or `--no-pivot`'s MS_MOVE over `/`)
/// would change the host's root.
pub(crate) fn chroot_into(rootfs: &Path) -> Result<()> {
    chdir(rootfs).map_err(|e| sys("chdir", rootfs, e))?;
    chroot(".").map_err(|e| sys("chroot", rootfs, e))?;
    chdir("/").map_err(|e| sys("chdir", Path::new("/"), e))
}

/// Detaches every mount at or under `rootfs` in this mount namespace,
/// deepest first: what an init without a mount namespace of its own left
/// in the host's (`delete`).
pub(crate) fn detach_mounts_under(rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| OciError::io("read", "/proc/self/mountinfo", e))?;
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|mp| Path::new(mp).starts_with(rootfs))
        .collect();
    points.sort_by_key(|mp| std::cmp::Reverse(mp.len()));
    points.dedup();
    for mp in points {
        match umount2(
            mp.as_str(),
            MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW,
        ) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(e) => return Err(sys("detach", Path::new(&mp), e)),
        }
    }
    Ok(())
}

/// After pivot: apply a shared or slave `rootfsPropagation` to the new `/`
/// (the rootfs mount itself had to stay private for pivot_root).
pub(crate) fn apply_root_propagation(propagation: Option<&str>) -> Result<()> {
    let Some(p) = propagation else { return Ok(()) };
    let flags = propagation_flag(p)
        .ok_or_else(|| OciError::Unsupported(format!("rootfsPropagation {p:?}")))?;
    if flags.contains(MsFlags::MS_PRIVATE) {
        return Ok(());
    }
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .map_err(|e| sys("set propagation of", Path::new("/"), e))
}

/// pivot_root refuses a new root whose parent mount is shared (as with a
/// `rshared` rootfs propagation); like runc, make just that mount private.
/// The rootfs is often a mount point itself (the runtime's overlay): then
/// it is the parent of the self-bind made next, so it is the one to change.
fn parent_mount_private(rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| OciError::io("read", "/proc/self/mountinfo", e))?;
    let Some(mount_point) = longest_mount_prefix(&info, rootfs) else {
        return Ok(());
    };
    mount(
        None::<&str>,
        mount_point.as_str(),
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| sys("make private", Path::new(&mount_point), e))
}

/// The mount point (field 5 of mountinfo) that is the longest prefix of `path`.
pub(crate) fn longest_mount_prefix(mountinfo: &str, path: &Path) -> Option<String> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.len())
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` (octal).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// pivot_root into `rootfs` with the `pivot_root(".", ".")` idiom: the old
/// root ends up stacked on the new one and is detached right away.
///
/// As runc does, the old root is reached through a descriptor opened before
/// the pivot: after it, "." still names the new root's own mount, and making
/// *that* slave would cut the container's shared (bidirectional) mounts off
/// from the host.
pub(crate) fn pivot(rootfs: &Path) -> Result<()> {
    let old_root = open_dir(Path::new("/"))?;
    chdir(rootfs).map_err(|e| sys("chdir", rootfs, e))?;
    pivot_root(".", ".").map_err(|e| sys("pivot_root", rootfs, e))?;
    fchdir(&old_root).map_err(|e| sys("fchdir to the old root", rootfs, e))?;
    drop(old_root);
    // Keep the unmount of the old root from propagating to the host.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| sys("make old root slave", rootfs, e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| sys("detach old root", rootfs, e))?;
    chdir("/").map_err(|e| sys("chdir", Path::new("/"), e))
}

fn open_dir(path: &Path) -> Result<std::os::fd::OwnedFd> {
    open(
        path,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| sys("open", path, e))
}

/// `--no-pivot`: move the rootfs over `/` and chroot (for ramdisk roots).
pub(crate) fn move_root(rootfs: &Path) -> Result<()> {
    chdir(rootfs).map_err(|e| sys("chdir", rootfs, e))?;
    mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(|e| sys("move rootfs", rootfs, e))?;
    chroot(".").map_err(|e| sys("chroot", rootfs, e))?;
    chdir("/").map_err(|e| sys("chdir", Path::new("/"), e))
}

/// Remounts `/` read-only (after pivot), keeping its other flags (which
/// a user namespace could not clear anyway).
pub(crate) fn readonly_root() -> Result<()> {
    let keep = crate::oci::rootfs::mounts::locked_flags(Path::new("/"));
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
        None::<&str>,
    )
    .map_err(|e| sys("remount read-only", Path::new("/"), e))
}

/// Hides each path: a directory gets a read-only empty tmpfs, anything
/// else `/dev/null` bound over it. Missing paths are skipped.
pub(crate) fn mask_paths(paths: &[String]) -> Result<()> {
    for p in paths {
        let path = Path::new(p);
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        if meta.is_dir() {
            mount(
                Some("tmpfs"),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(|e| sys("mask", path, e))?;
        } else {
            mount(
                Some("/dev/null"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| sys("mask", path, e))?;
        }
    }
    Ok(())
}

/// Makes each path read-only with a recursive self-bind and a read-only
/// remount that keeps the mount's other flags (as runc does). Missing
/// paths are skipped.
pub(crate) fn readonly_paths(paths: &[String]) -> Result<()> {
    for p in paths {
        let path = Path::new(p);
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        mount(
            Some(path),
            path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| sys("bind read-only path", path, e))?;
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_REC
            | crate::oci::rootfs::mounts::locked_flags(path);
        mount(Some(path), path, None::<&str>, flags, None::<&str>)
            .map_err(|e| sys("remount read-only", path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_mount_is_the_longest_prefix() {
        let info = "22 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n\
                    30 22 0:5 / /var/lib rw shared:2 - tmpfs tmpfs rw\n\
                    31 22 0:6 / /var/lib\\040x rw - tmpfs tmpfs rw\n";
        assert_eq!(
            longest_mount_prefix(info, Path::new("/var/lib/cradle/b")).as_deref(),
            Some("/var/lib")
        );
        assert_eq!(
            longest_mount_prefix(info, Path::new("/var/lib x/b")).as_deref(),
            Some("/var/lib x")
        );
        assert_eq!(
            longest_mount_prefix(info, Path::new("/tmp")).as_deref(),
            Some("/")
        );
    }
}
