//! The root filesystem switch: propagation, the rootfs bind, pivot_root
//! (or MS_MOVE + chroot with `--no-pivot`), then the post-pivot hardening:
//! a read-only root, masked paths and read-only paths.

use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::{chdir, chroot, pivot_root};

use super::error::{OciError, Result};
use super::mounts::propagation_flag;

fn sys(what: &str, path: &Path, e: nix::Error) -> OciError {
    OciError::sys(format!("{what} {}", path.display()), e)
}

/// Makes `/` private (or the spec's `rootfsPropagation`) so nothing leaks
/// back to the host, then bind-mounts the rootfs onto itself so it is a
/// mount point pivot_root accepts.
pub(crate) fn prepare(rootfs: &Path, propagation: Option<&str>) -> Result<()> {
    let prop = match propagation {
        Some(p) => propagation_flag(p)
            .ok_or_else(|| OciError::Unsupported(format!("rootfsPropagation {p:?}")))?,
        None => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
    };
    // Always make the whole tree at least slave first: a shared host root
    // would otherwise propagate our mounts back.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| sys("make slave", Path::new("/"), e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        prop | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| sys("set propagation of", Path::new("/"), e))?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| sys("bind rootfs", rootfs, e))
}

/// pivot_root into `rootfs` with the `pivot_root(".", ".")` idiom: the old
/// root ends up stacked on the new one and is detached right away.
pub(crate) fn pivot(rootfs: &Path) -> Result<()> {
    chdir(rootfs).map_err(|e| sys("chdir", rootfs, e))?;
    pivot_root(".", ".").map_err(|e| sys("pivot_root", rootfs, e))?;
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

/// Remounts `/` read-only (after pivot).
pub(crate) fn readonly_root() -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
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
/// remount. Missing paths are skipped.
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
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC;
        mount(Some(path), path, None::<&str>, flags, None::<&str>)
            .map_err(|e| sys("remount read-only", path, e))?;
    }
    Ok(())
}
